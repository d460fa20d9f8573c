//! A training-API SDK over real HTTP on loopback: a fake training server (tiny_http), and a
//! client whose calls retry their submission and poll for the result, used first blocking from
//! a plain thread and then with `.await` under smol. Faults are injected on the way (a 429 with
//! a Retry-After hint, a 503, a connection closed after the server accepted the request) and
//! the calls still succeed, each job running once.
//!
//! Run it with `cargo run --example training_client`.

#[path = "training_api/client.rs"]
mod client;
#[path = "training_api/server.rs"]
mod server;

use std::time::Duration;

use apifuture::{ApiFuture, RetryPolicy};
use client::{ApiError, Call, TrainingClient};
use server::{Fault, TrainingServer};

fn report(
    name: &str,
    call: &Call,
    outcome: &Result<serde_json::Value, apifuture::Error<ApiError>>,
) {
    println!(
        "{name:<17} {:>2} submit attempt(s), {:>2} poll(s), {:>6.1} ms: {}",
        call.submit_attempts(),
        call.polls(),
        call.elapsed().as_secs_f64() * 1e3,
        match outcome {
            Ok(value) => value.to_string(),
            Err(error) => format!("error: {error}"),
        }
    );
}

fn inject_faults(server: &TrainingServer) {
    server.inject(
        server::FORWARD_BACKWARD,
        Fault::TooManyRequests {
            retry_after_secs: None,
            retry_after_ms: Some(100),
        },
    );
    server.inject(server::FORWARD_BACKWARD, Fault::Status(503));
    server.inject(server::OPTIM_STEP, Fault::CloseAfterAccept);
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = TrainingServer::start();
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(200))
        .with_deadline(Duration::from_secs(20));
    let client = TrainingClient::new(&server.base_url(), policy, Duration::from_secs(2));

    println!("-- blocking, from a plain thread");
    inject_faults(&server);
    // Pipelined as the seed's users do: both submitted before either is waited on.
    let mut forward = client.forward_backward(&[0.5, -1.0, 2.0]);
    let mut step = client.optim_step(1e-3);
    let outcome = forward.result(Duration::from_secs(30));
    report("forward_backward", &forward, &outcome);
    outcome?;
    let outcome = step.result(Duration::from_secs(30));
    report("optim_step", &step, &outcome);
    outcome?;

    println!("-- async, .await under smol");
    inject_faults(&server);
    smol::block_on(async {
        let mut forward = client.forward_backward(&[1.0, 2.0]);
        let mut step = client.optim_step(2e-3);
        let outcome = forward.result_async(Duration::from_secs(30)).await;
        report("forward_backward", &forward, &outcome);
        outcome?;
        let outcome = step.result_async(Duration::from_secs(30)).await;
        report("optim_step", &step, &outcome);
        outcome?;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;

    println!(
        "jobs run: forward_backward {}, optim_step {} (one each per logical call, despite the retries)",
        server.jobs_run("forward_backward"),
        server.jobs_run("optim_step")
    );
    assert_eq!(server.total_jobs_run(), 4, "a retried submission ran twice");
    Ok(())
}
