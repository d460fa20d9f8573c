//! An SDK-shaped client whose methods return futures at once, used first from a plain thread
//! (blocking, with timeouts) and then from async code under smol.
//!
//! Run it with `cargo run --example quickstart`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, ApiFutureExt, BoxError, Error, RetryPolicy, promise, retry, spawn};

/// An error of the SDK's own, for the calls that have one.
#[derive(Debug)]
enum StepError {
    LearningRateTooHigh(f32),
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StepError::LearningRateTooHigh(rate) => write!(f, "learning rate {rate} is too high"),
        }
    }
}

impl std::error::Error for StepError {}

/// A stand-in for a training-API client: each call starts work and returns its future.
#[derive(Default)]
struct TrainingClient {
    /// How many times the flaky endpoint was called.
    calls: Arc<AtomicU32>,
}

impl TrainingClient {
    /// Work done on the crate's thread pool: the common case for a blocking HTTP client.
    ///
    /// `+ use<>` says the future does not borrow the client, so that callers can spawn it,
    /// box it or detach it (edition 2024 would otherwise tie it to `&self`).
    fn forward_backward(
        &self,
        batch: Vec<f32>,
    ) -> impl ApiFuture<Value = f32, Failure = BoxError> + use<> {
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
    fn optim_step(
        &self,
        learning_rate: f32,
    ) -> impl ApiFuture<Value = u64, Failure = StepError> + use<> {
        let (promise, future) = promise();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(80));
            if promise.is_cancelled() {
                return; // nobody waits any more: skip the work
            }
            if learning_rate > 1.0 {
                return promise.set_error(StepError::LearningRateTooHigh(learning_rate));
            }
            promise.set_result((learning_rate * 1e4) as u64);
        });
        future
    }

    /// A request that fails twice (an overloaded server), retried in the background from the
    /// moment it is made.
    fn save_weights(&self) -> impl ApiFuture<Value = String, Failure = BoxError> + use<> {
        let calls = Arc::clone(&self.calls);
        let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(10));
        retry(policy, move |attempt| {
            calls.fetch_add(1, Ordering::SeqCst);
            spawn(move || match attempt {
                1 | 2 => Err("503 overloaded".into()),
                _ => Ok(format!("saved after {attempt} attempts")),
            })
        })
        .background()
    }
}

/// Any call's future, with how long the wait took: generic code needs only `F: ApiFuture`.
async fn timed<F: ApiFuture>(future: F) -> (F::Output, Duration) {
    let started = Instant::now();
    let outcome = future.await;
    (outcome, started.elapsed())
}

/// `Error` is `Error<BoxError>`: the calls' own errors are boxed into it, whatever their type.
fn blocking(client: &TrainingClient) -> Result<(), Error> {
    println!("-- blocking, from a plain thread");
    let started = Instant::now();
    // Pipelined: both calls are in flight before we wait on either.
    let mut loss = client.forward_backward(vec![0.5, -1.0, 2.0]);
    let mut step = client.optim_step(1e-3);

    println!("loss = {}", loss.result(Duration::from_secs(30))?);

    // A short timeout is no loss: the step is still pending and we can wait again. The step's
    // own error type is the SDK's `StepError`: one call boxes it for `?`.
    let step = match step.result(Duration::from_millis(1)) {
        Err(Error::Timeout) => {
            println!("step not finished after 1 ms; waiting on");
            step.result(Duration::from_secs(30))
                .map_err(Error::into_boxed_failure)?
        }
        outcome => outcome.map_err(Error::into_boxed_failure)?,
    };
    println!("step = {step}");

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
    let step = match step.result_async(Duration::from_millis(1)).await {
        Err(Error::Timeout) => {
            println!("step not finished after 1 ms; awaiting on");
            step.await.map_err(Error::into_boxed_failure)?
        }
        outcome => outcome.map_err(Error::into_boxed_failure)?,
    };
    println!("step = {step}");

    // An SDK error that comes out of `?` can still be told apart.
    let too_high = client
        .optim_step(10.0)
        .await
        .map_err(Error::into_boxed_failure);
    if let Err(error) = too_high {
        let is_step_error = error.failure_source().is_some_and(|e| e.is::<StepError>());
        println!("{error} (an SDK StepError: {is_step_error})");
    }

    // A retried call runs in the background: by the time we look, it has made progress.
    let saved = client.save_weights();
    smol::Timer::after(Duration::from_millis(60)).await;
    let attempts = client.calls.load(Ordering::SeqCst);
    println!("save_weights made {attempts} attempts with nobody waiting");
    let (saved, took) = timed(saved).await;
    println!("{} (the wait took {took:?})", saved?);

    // Dropping a pending future cancels it: the producer sees it and skips the work. To let it
    // finish unobserved, detach it instead.
    drop(client.optim_step(3e-3));
    client.optim_step(4e-3).detach();
    println!("async part took {:?}", started.elapsed());
    Ok(())
}

fn main() -> Result<(), Error> {
    let client = TrainingClient::default();
    blocking(&client)?;
    smol::block_on(asynchronous(&client))?;
    // Every future of the SDK is printable, and says whether it is done without waiting.
    let mut last = client.forward_backward(vec![1.0]);
    println!("{last:?}: done = {}", last.done());
    Ok(())
}
