//! The SDK of `examples/training_client.rs` against its loopback server: real HTTP, injected
//! faults, and what the retry and polling rules promise, blocking and async.
#![cfg(not(miri))] // real sockets

#[path = "../examples/training_api/client.rs"]
mod client;
#[path = "../examples/training_api/server.rs"]
mod server;

use std::time::{Duration, Instant};

use apifuture::{ApiFuture, Error, RetryPolicy};
use client::{ApiError, TrainingClient};
use server::{FORWARD_BACKWARD, Fault, OPTIM_STEP, RETRIEVE_FUTURE, TrainingServer};

const LONG: Duration = Duration::from_secs(30);

fn policy() -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(50))
}

fn setup(policy: RetryPolicy) -> (TrainingServer, TrainingClient) {
    let server = TrainingServer::start();
    let client = TrainingClient::new(&server.base_url(), policy, Duration::from_secs(5));
    (server, client)
}

#[test]
fn a_call_succeeds_blocking_and_async_with_the_same_result() {
    let (server, client) = setup(policy());
    let blocking = client.forward_backward(&[1.0, 3.0]).result(LONG).unwrap();
    let awaited = smol::block_on(async { client.forward_backward(&[1.0, 3.0]).await }).unwrap();
    assert_eq!(blocking, awaited);
    assert_eq!(blocking["loss"], 5.0);
    assert_eq!(server.jobs_run("forward_backward"), 2);
}

#[test]
fn retry_after_in_milliseconds_is_waited_out() {
    let (server, client) = setup(policy());
    let hint = Duration::from_millis(150);
    server.inject(
        FORWARD_BACKWARD,
        Fault::TooManyRequests {
            retry_after_secs: None,
            retry_after_ms: Some(150),
        },
    );
    let started = Instant::now();
    let mut call = client.forward_backward(&[1.0]);
    call.result(LONG).unwrap();
    assert!(
        started.elapsed() >= hint,
        "retried after {:?}",
        started.elapsed()
    );
    assert_eq!(call.submit_attempts(), 2);
}

#[test]
fn retry_after_in_seconds_is_waited_out_when_awaited() {
    let (server, client) = setup(policy());
    server.inject(
        OPTIM_STEP,
        Fault::TooManyRequests {
            retry_after_secs: Some(1),
            retry_after_ms: None,
        },
    );
    let started = Instant::now();
    smol::block_on(async { client.optim_step(0.1).await }).unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.requests(OPTIM_STEP), 2);
}

#[test]
fn server_errors_are_retried_up_to_the_policy_attempts() {
    let (server, client) = setup(policy().with_max_attempts(3));
    for _ in 0..3 {
        server.inject(FORWARD_BACKWARD, Fault::Status(503));
    }
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    assert_eq!(
        outcome,
        Err(Error::Failed(ApiError::Status {
            code: 503,
            retry_after: None
        }))
    );
    assert_eq!(server.requests(FORWARD_BACKWARD), 3);
    assert_eq!(server.total_jobs_run(), 0);

    // Two failures of three allowed: the third attempt goes through.
    server.inject(FORWARD_BACKWARD, Fault::Status(500));
    server.inject(FORWARD_BACKWARD, Fault::CloseAfterAccept);
    let mut call = client.forward_backward(&[1.0]);
    assert!(call.result(LONG).is_ok());
    assert_eq!(call.submit_attempts(), 3);
}

#[test]
fn a_connection_dropped_after_acceptance_does_not_run_the_job_twice() {
    let (server, client) = setup(policy());
    server.inject(OPTIM_STEP, Fault::CloseAfterAccept);
    let mut call = client.optim_step(0.1);
    let result = call.result(LONG).unwrap();
    assert_eq!(call.submit_attempts(), 2);
    assert_eq!(server.requests(OPTIM_STEP), 2);
    assert_eq!(
        server.jobs_run("optim_step"),
        1,
        "the idempotency key was not honoured"
    );
    assert_eq!(result["step"], 1);
}

#[test]
fn a_response_slower_than_the_attempt_timeout_is_retried() {
    let (server, client) = setup(policy().with_attempt_timeout(Duration::from_millis(200)));
    server.inject(FORWARD_BACKWARD, Fault::Slow(Duration::from_secs(1)));
    let mut call = client.forward_backward(&[2.0]);
    call.result(LONG).unwrap();
    assert_eq!(call.submit_attempts(), 2);
    std::thread::sleep(Duration::from_millis(1_000)); // let the slow one land
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

#[test]
fn a_bad_request_is_not_retried() {
    let (server, client) = setup(policy());
    server.inject(FORWARD_BACKWARD, Fault::Status(400));
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    assert_eq!(
        outcome,
        Err(Error::Failed(ApiError::Status {
            code: 400,
            retry_after: None
        }))
    );
    assert_eq!(server.requests(FORWARD_BACKWARD), 1);
}

#[test]
fn a_job_that_outlasts_the_deadline_gives_deadline_exceeded() {
    let (server, client) = setup(policy().with_deadline(Duration::from_millis(300)));
    server.set_work_time(Duration::from_secs(5));
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    assert_eq!(outcome, Err(Error::DeadlineExceeded));
    let awaited = smol::block_on(async { client.optim_step(0.1).await });
    assert_eq!(awaited, Err(Error::DeadlineExceeded));
}

#[test]
fn a_dropped_call_stops_polling() {
    let (server, client) = setup(policy());
    server.set_work_time(Duration::from_secs(3));
    server.set_long_poll(Duration::from_millis(20));
    let mut call = client.forward_backward(&[1.0]);
    assert_eq!(call.result(Duration::from_millis(300)), Err(Error::Timeout));
    let id = call.request_id().expect("submitted and polling").to_owned();
    assert!(server.retrieve_calls(&id) >= 1);
    drop(call);
    // A probe already on the wire may still land; none may start after it.
    std::thread::sleep(Duration::from_millis(100));
    let after_drop = server.retrieve_calls(&id);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(server.retrieve_calls(&id), after_drop);
    assert!(server.requests(RETRIEVE_FUTURE) >= after_drop);
}
