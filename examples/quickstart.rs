//! An SDK-shaped client whose methods return `AwaitableConcurrentFuture`s at once, used first
//! from a plain thread (blocking, with timeouts) and then from async code under smol.
//!
//! Run it with `cargo run --example quickstart`.

use std::thread;
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, AwaitableConcurrentFuture, BoxError, Error, promise, spawn};

/// A stand-in for a training-API client: each call starts work and returns its future.
struct TrainingClient;

impl TrainingClient {
    /// Work done on the crate's thread pool: the common case for a blocking HTTP client.
    fn forward_backward(&self, batch: Vec<f32>) -> AwaitableConcurrentFuture<f32, BoxError> {
        spawn(move || {
            thread::sleep(Duration::from_millis(30)); // the request's latency
            if batch.is_empty() {
                return Err("empty batch".into());
            }
            Ok(batch.iter().map(|x| x * x).sum::<f32>() / batch.len() as f32)
        })
    }

    /// Work completed by some other thread through a promise: the shape of a callback-based
    /// transport, or of a server pushing a result later.
    fn optim_step(&self, learning_rate: f32) -> AwaitableConcurrentFuture<u64, BoxError> {
        let (promise, future) = promise();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(80));
            if promise.is_cancelled() {
                return; // nobody waits any more: skip the work
            }
            promise.set_result((learning_rate * 1e4) as u64);
        });
        future
    }
}

fn blocking(client: &TrainingClient) -> Result<(), Error> {
    println!("-- blocking, from a plain thread");
    let started = Instant::now();
    // Pipelined: both calls are in flight before we wait on either.
    let mut loss = client.forward_backward(vec![0.5, -1.0, 2.0]);
    let mut step = client.optim_step(1e-3);

    println!("loss = {}", loss.result(Duration::from_secs(30))?);

    // A short timeout is no loss: the step is still pending and we can wait again.
    match step.result(Duration::from_millis(1)) {
        Err(Error::Timeout) => println!("step not finished after 1 ms; waiting on"),
        other => println!("step already there: {other:?}"),
    }
    println!("step = {}", step.result(Duration::from_secs(30))?);

    let mut bad = client.forward_backward(vec![]);
    match bad.result(None) {
        Err(Error::Failed(e)) => println!("an empty batch fails with the SDK's error: {e}"),
        other => println!("unexpected: {other:?}"),
    }
    println!("blocking part took {:?}", started.elapsed());
    Ok(())
}

async fn asynchronous(client: &TrainingClient) -> Result<(), Error> {
    println!("-- async, with .await under smol");
    let started = Instant::now();
    let loss = client.forward_backward(vec![1.0, 2.0]);
    let mut step = client.optim_step(2e-3);

    println!("loss = {}", loss.await?);
    match step.result_async(Duration::from_millis(1)).await {
        Err(Error::Timeout) => println!("step not finished after 1 ms; awaiting on"),
        other => println!("step already there: {other:?}"),
    }
    println!("step = {}", step.await?);

    // Dropping a future cancels it: the producer sees it and skips the work.
    let mut abandoned = client.optim_step(3e-3);
    println!("cancelled a step: {}", abandoned.future().cancel());
    println!("async part took {:?}", started.elapsed());
    Ok(())
}

fn main() -> Result<(), Error> {
    let client = TrainingClient;
    blocking(&client)?;
    smol::block_on(asynchronous(&client))?;
    Ok(())
}
