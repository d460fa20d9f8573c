//! The example SDK under a loopback fault proxy (the test server's relay, which can cut and
//! refuse connections) and injected faults: a server restart in the middle of held polls, an
//! answer reset mid-body, answers slower than the attempt timeout, bursts of 5xx and 429. Every
//! call ends in time with its value or a clear error, no job runs twice, call order is kept;
//! with each transport.
#![cfg(not(miri))] // real sockets

use std::time::{Duration, Instant};

use apifuture::{Error, RetryPolicy, join_all};
use training_api::client::ApiError;
use training_api::server::{FORWARD_BACKWARD, Fault, OPTIM_STEP, RETRIEVE_FUTURE, TrainingServer};

use super::flavors::{each_flavor, eventually};

/// Each call's budget: its value or an error by then.
const DEADLINE: Duration = Duration::from_secs(20);

/// A response cut off in the middle of its body.
fn reset_mid_body() -> Fault {
    Fault::RawAfterAccept(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n{\"type\":\"forward_backw"
            .to_vec(),
    )
}

#[test]
fn calls_end_in_time_run_once_and_keep_their_order_under_faults() {
    each_flavor(|flavor| {
        let server = TrainingServer::start();
        server.set_work_time(Duration::from_millis(300));
        server.set_long_poll(Duration::from_millis(400));
        // Bursts: 503 x3 and 429 x2 on submissions, 502 x2 on polls.
        for _ in 0..3 {
            server.inject(FORWARD_BACKWARD, Fault::Status(503));
        }
        for _ in 0..2 {
            server.inject(
                OPTIM_STEP,
                Fault::TooManyRequests {
                    retry_after_secs: None,
                    retry_after_ms: Some(20),
                },
            );
        }
        server.inject(RETRIEVE_FUTURE, Fault::Status(502));
        server.inject(RETRIEVE_FUTURE, Fault::Status(502));
        // An answer slower than the attempt timeout, and one reset mid-body.
        server.inject(OPTIM_STEP, Fault::Slow(Duration::from_millis(600)));
        server.inject(RETRIEVE_FUTURE, reset_mid_body());
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::from_millis(10))
            .with_max_delay(Duration::from_millis(100))
            .with_max_attempts(8)
            .with_deadline(DEADLINE);
        let client = flavor.client(&server.base_url(), policy, Duration::from_millis(250));
        let started = Instant::now();
        let mut calls = Vec::new();
        for step in 0..4 {
            calls.push(client.forward_backward(&[f64::from(step)]));
            calls.push(client.optim_step(1e-3));
        }
        // Restart the server while polls are held: every open connection cut, new ones refused
        // for 300 ms.
        assert!(
            eventually(|| server.requests(RETRIEVE_FUTURE) >= 3),
            "{flavor:?}: no polls"
        );
        server.restart(Duration::from_millis(300));
        let outcomes = join_all(&mut calls);
        let took = started.elapsed();
        assert!(
            took < DEADLINE + Duration::from_secs(5),
            "{flavor:?}: took {took:?}"
        );
        for (index, outcome) in outcomes.iter().enumerate() {
            match outcome {
                Ok(_) => {}
                // A clear error says what became of the job.
                Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) => {
                    assert_eq!(unknown.seq, index as u64 + 1, "{flavor:?}");
                }
                Err(other) => panic!("{flavor:?}: call {index} ended with {other:?}"),
            }
        }
        let accepted = server.accepted();
        let seqs: Vec<u64> = accepted.iter().map(|(_, seq)| *seq).collect();
        let mut in_order = seqs.clone();
        in_order.sort_unstable();
        in_order.dedup();
        assert_eq!(seqs, in_order, "{flavor:?}: accepted out of order or twice");
        assert_eq!(
            server.total_jobs_run(),
            accepted.len(),
            "{flavor:?}: a job ran twice"
        );
        let succeeded = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
        assert!(
            succeeded >= 6,
            "{flavor:?}: only {succeeded} of 8 calls got their value"
        );
    });
}
