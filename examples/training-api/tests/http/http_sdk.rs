//! The SDK of `examples/training_client.rs` against its loopback server: real HTTP, injected
//! faults, and what the retry and polling rules promise, blocking and async.
#![cfg(not(miri))] // real sockets

use training_api::{client, server};

use std::sync::{Arc, Mutex};
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
    let flavor = super::flavors::Flavor::of_module(module_path!());
    let client = flavor.client(&server.base_url(), policy, Duration::from_secs(5));
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
    // A 503 does not say the server never took the call: its outcome is unknown.
    let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        unknown.cause,
        ApiError::Status {
            code: 503,
            retry_after: None
        }
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
fn a_refusal_after_an_attempt_the_server_may_have_taken_leaves_the_outcome_unknown() {
    let policy = policy()
        .with_max_attempts(3)
        .with_attempt_timeout(Duration::from_millis(200));
    let (server, client) = setup(policy);
    let rate_limited = || Fault::TooManyRequests {
        retry_after_secs: None,
        retry_after_ms: Some(5),
    };
    // Refused three times: the server said no each time, so nothing was taken.
    for _ in 0..3 {
        server.inject(OPTIM_STEP, rate_limited());
    }
    let outcome = client.optim_step(0.1).result(LONG);
    assert!(
        matches!(
            outcome,
            Err(Error::Failed(ApiError::Status { code: 429, .. }))
        ),
        "{outcome:?}"
    );
    // The first attempt outlasts its timeout (the server takes it all the same), the next two
    // are refused: the last word is a 429, but the job was taken.
    server.inject(OPTIM_STEP, Fault::Slow(Duration::from_millis(400)));
    server.inject(OPTIM_STEP, rate_limited());
    server.inject(OPTIM_STEP, rate_limited());
    let outcome = client.optim_step(0.1).result(LONG);
    let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = outcome else {
        panic!("reported as refused: {outcome:?}");
    };
    assert_eq!(unknown.cause.to_string(), "HTTP 429 (retry after 5ms)");
    assert!(
        eventually(|| server.jobs_run("optim_step") == 1),
        "the slow attempt never ran its job"
    );
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
    server.inject(FORWARD_BACKWARD, Fault::Slow(Duration::from_millis(500)));
    let mut call = client.forward_backward(&[2.0]);
    call.result(LONG).unwrap();
    assert_eq!(call.submit_attempts(), 2);
    std::thread::sleep(Duration::from_millis(500)); // let the slow one land
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
fn a_job_that_outlasts_the_deadline_is_an_unknown_outcome_to_recover() {
    let (server, client) = setup(policy().with_deadline(Duration::from_millis(300)));
    server.set_work_time(Duration::from_secs(5));
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = outcome else {
        panic!("{outcome:?}")
    };
    assert!(unknown.request_id.is_some(), "{unknown:?}");
    let awaited = smol::block_on(async { client.optim_step(0.1).await });
    assert!(
        matches!(awaited, Err(Error::Failed(ApiError::OutcomeUnknown(_)))),
        "{awaited:?}"
    );
    server.finish_all();
    let flavor = super::flavors::Flavor::of_module(module_path!());
    let patient = flavor.client(&server.base_url(), policy(), Duration::from_secs(5));
    assert_eq!(patient.recover(&unknown).result(LONG).unwrap()["loss"], 1.0);
    assert_eq!(
        server.jobs_run("forward_backward"),
        1,
        "recovered, not run again"
    );
}

#[test]
fn a_submission_nobody_answers_is_an_unknown_outcome() {
    let policy = policy()
        .with_max_attempts(2)
        .with_attempt_timeout(Duration::from_millis(100));
    let (server, client) = setup(policy);
    for _ in 0..2 {
        server.inject(
            FORWARD_BACKWARD,
            server::Fault::Slow(Duration::from_secs(1)),
        );
    }
    let mut call = client.forward_backward(&[1.0]);
    let outcome = call.result(LONG);
    let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = outcome else {
        panic!("{outcome:?}")
    };
    assert_eq!(unknown.request_id, None);
    // A `Failed` like any other: handed out once.
    assert_eq!(call.peek_failed(), Some(false));
    assert_eq!(call.result(LONG), Err(Error::Consumed));
    assert!(format!("{call:?}").contains("taken"), "{call:?}");
}

#[test]
fn a_queue_report_that_panics_fails_no_call() {
    let reports = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = Arc::clone(&reports);
    let (server, client) = setup(policy());
    // One report per call: each panic prints its message (the panic hook's), once.
    let client = client.on_queue_state(Duration::from_secs(3600), move |_| {
        seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        panic!("a bug in the report")
    });
    server.set_long_poll(Duration::from_millis(20));
    for round in 1..=2 {
        server.set_queue_state("paused_capacity");
        let mut call = client.forward_backward(&[2.0]);
        assert!(eventually(|| reports
            .load(std::sync::atomic::Ordering::SeqCst)
            >= round));
        server.set_queue_state("active");
        assert_eq!(call.result(LONG).unwrap()["loss"], 4.0);
    }
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

/// Waits (up to 30 s) until `done()` holds; false if it never did.
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < LONG {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

fn accepted(kinds: &[(&str, u64)]) -> Vec<(String, u64)> {
    kinds.iter().map(|(k, s)| ((*k).to_owned(), *s)).collect()
}

#[test]
fn calls_start_at_once_and_poll_with_nobody_waiting() {
    let (server, client) = setup(policy());
    server.set_work_time(Duration::from_secs(60));
    server.set_long_poll(Duration::from_millis(20));
    let mut call = client.forward_backward(&[1.0]);
    // Nobody waits: the submission goes out and polling goes on regardless.
    assert!(
        eventually(|| call.request_id().is_some()),
        "never submitted"
    );
    let id = call.request_id().unwrap().to_owned();
    assert!(
        eventually(|| server.retrieve_calls(&id) >= 3),
        "never polled"
    );
    server.finish_all();
    assert_eq!(call.result(LONG).unwrap()["loss"], 1.0);
}

#[test]
fn order_is_kept_when_the_first_submission_fails_before_it_is_accepted() {
    for awaited in [false, true] {
        let (server, client) = setup(policy());
        server.inject(FORWARD_BACKWARD, Fault::Status(503));
        server.inject(FORWARD_BACKWARD, Fault::CloseBeforeAccept);
        // Made back to back: the optim_step's submission must wait for the forward_backward's,
        // which needs three attempts.
        let mut forward = client.forward_backward(&[2.0]);
        let mut step = client.optim_step(0.1);
        let (forward_result, step_result) = if awaited {
            smol::block_on(async { (forward.result_async(LONG).await, (&mut step).await) })
        } else {
            (forward.result(LONG), step.result(LONG))
        };
        assert_eq!(forward_result.unwrap()["loss"], 4.0);
        assert_eq!(step_result.unwrap()["step"], 1);
        assert_eq!(forward.submit_attempts(), 3);
        assert_eq!(
            server.accepted(),
            accepted(&[("forward_backward", 1), ("optim_step", 2)]),
            "the server accepted them out of call order"
        );
        assert_eq!(server.requests(OPTIM_STEP), 1, "optim_step went out early");
        assert_eq!(server.jobs_run("forward_backward"), 1);
        assert_eq!(server.jobs_run("optim_step"), 1);
    }
}

#[test]
fn a_retried_submission_keeps_its_sequence_number_and_key() {
    let (server, client) = setup(policy());
    server.inject(OPTIM_STEP, Fault::CloseAfterAccept);
    server.inject(OPTIM_STEP, Fault::Status(502));
    let mut forward = client.forward_backward(&[1.0]);
    let mut step = client.optim_step(0.1);
    let mut again = client.forward_backward(&[1.0]);
    for call in [&mut forward, &mut step, &mut again] {
        call.result(LONG).unwrap();
    }
    assert_eq!(step.submit_attempts(), 3);
    assert_eq!(server.requests(OPTIM_STEP), 3);
    // Accepted once, by its first attempt; the retries were answered from the idempotency key.
    assert_eq!(
        server.accepted(),
        accepted(&[
            ("forward_backward", 1),
            ("optim_step", 2),
            ("forward_backward", 3)
        ])
    );
    assert_eq!(server.total_jobs_run(), 3);
}

#[test]
fn the_server_refuses_a_submission_out_of_order_and_the_client_does_not_retry_it() {
    let (server, client) = setup(policy());
    client.forward_backward(&[1.0]).result(LONG).unwrap();
    client.forward_backward(&[1.0]).result(LONG).unwrap();
    // Another sender using the first one's session with an old number, as a bug would.
    let late = ureq::post(format!("{}{FORWARD_BACKWARD}", server.base_url()))
        .send(serde_json::json!({ "session_id": client.session(), "seq_id": 1 }).to_string());
    match late {
        Err(ureq::Error::StatusCode(409)) => {}
        other => panic!("expected 409, got {other:?}"),
    }
    assert_eq!(server.accepted().len(), 2);
    // A 409 reaching the client ends the call at once: retrying cannot fix the order.
    server.inject(OPTIM_STEP, Fault::Status(409));
    let outcome = client.optim_step(0.1).result(LONG);
    assert_eq!(
        outcome,
        Err(Error::Failed(ApiError::Status {
            code: 409,
            retry_after: None
        }))
    );
    assert_eq!(server.requests(OPTIM_STEP), 1);
}

#[test]
fn a_call_dropped_before_its_turn_is_never_submitted_and_does_not_block_the_next() {
    let (server, client) = setup(policy());
    server.inject(FORWARD_BACKWARD, Fault::Slow(Duration::from_millis(300)));
    let mut forward = client.forward_backward(&[1.0]);
    let dropped = client.optim_step(0.1);
    let mut after = client.optim_step(0.2);
    drop(dropped);
    forward.result(LONG).unwrap();
    assert_eq!(after.result(LONG).unwrap()["step"], 1);
    assert_eq!(
        server.requests(OPTIM_STEP),
        1,
        "the dropped call was submitted"
    );
    assert_eq!(
        server.accepted(),
        accepted(&[("forward_backward", 1), ("optim_step", 3)])
    );
}

#[test]
fn a_call_dropped_while_its_submission_is_retried_lets_the_next_one_go() {
    let (server, client) = setup(policy().with_initial_delay(Duration::from_millis(200)));
    server.inject(FORWARD_BACKWARD, Fault::Status(503));
    let dropped = client.forward_backward(&[1.0]);
    let mut next = client.optim_step(0.1);
    // Its first attempt got the 503; it is sleeping 200 ms before the second.
    assert!(eventually(|| server.requests(FORWARD_BACKWARD) == 1));
    drop(dropped);
    assert_eq!(next.result(LONG).unwrap()["step"], 1);
    assert_eq!(
        server.requests(FORWARD_BACKWARD),
        1,
        "the dropped call retried"
    );
    assert_eq!(server.accepted(), accepted(&[("optim_step", 2)]));
}

#[test]
fn a_run_of_dropped_calls_passes_the_turn_along_in_order() {
    let (server, client) = setup(policy());
    server.inject(FORWARD_BACKWARD, Fault::Slow(Duration::from_millis(300)));
    let mut first = client.forward_backward(&[1.0]);
    let dropped: Vec<_> = (0..5).map(|_| client.optim_step(0.1)).collect();
    let mut last = client.optim_step(0.2);
    drop(dropped);
    // The last call still waits for the first, through five dropped ones.
    first.result(LONG).unwrap();
    assert_eq!(last.result(LONG).unwrap()["step"], 1);
    assert_eq!(
        server.accepted(),
        accepted(&[("forward_backward", 1), ("optim_step", 7)])
    );
    assert_eq!(server.requests(OPTIM_STEP), 1);
}

#[test]
fn two_clients_have_their_own_sessions_and_sequences() {
    let server = TrainingServer::start();
    let a = TrainingClient::new(&server.base_url(), policy(), Duration::from_secs(5));
    let b = TrainingClient::new(&server.base_url(), policy(), Duration::from_secs(5));
    assert_ne!(a.session(), b.session());
    assert_eq!(a.session().len(), 32);
    let (mut x, mut y) = (a.forward_backward(&[1.0]), b.forward_backward(&[1.0]));
    x.result(LONG).unwrap();
    y.result(LONG).unwrap();
    // Both are seq 1 of their session: neither is refused, and the keys did not collide.
    assert_eq!(server.jobs_run("forward_backward"), 2);
    assert_ne!(x.request_id(), y.request_id());
}

#[test]
fn a_poll_held_past_the_attempt_timeout_is_sent_again_without_backoff() {
    // The server holds each poll 2 s; the client gives a probe 200 ms; the job takes 1 s.
    // A 10 s first backoff makes any sleep after a held probe visible.
    let slow_backoff = RetryPolicy::new()
        .with_initial_delay(Duration::from_secs(10))
        .with_max_attempts(2)
        .with_attempt_timeout(Duration::from_millis(200));
    let (server, client) = setup(slow_backoff);
    server.set_long_poll(Duration::from_secs(2));
    let work = Duration::from_millis(1000);
    server.set_work_time(work);
    // A blocking wait and an await, at the same time (the jobs run side by side).
    std::thread::scope(|scope| {
        for awaited in [false, true] {
            let client = &client;
            scope.spawn(move || {
                let started = Instant::now();
                let mut call = client.forward_backward(&[3.0]);
                let outcome = if awaited {
                    smol::block_on(call.result_async(LONG))
                } else {
                    call.result(LONG)
                };
                assert_eq!(outcome.unwrap()["loss"], 9.0);
                let elapsed = started.elapsed();
                assert!(elapsed >= work);
                assert!(
                    elapsed < work + Duration::from_secs(5),
                    "awaited: {awaited}: a backoff was slept: {elapsed:?}"
                );
                assert!(
                    call.polls() >= 4,
                    "awaited: {awaited}: {} polls: the probes were not re-sent",
                    call.polls()
                );
            });
        }
    });
}

#[test]
fn a_poll_held_past_the_request_timeout_is_not_a_failure() {
    // No attempt timeout this time: ureq's own 300 ms request timeout cuts each 2 s hold.
    // Counted as failures, two of them would end the call; backed off, they would add 10 s.
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_secs(10))
        .with_max_attempts(2);
    let server = TrainingServer::start();
    let client = TrainingClient::new(&server.base_url(), policy, Duration::from_millis(300))
        .with_long_poll_floor(Duration::from_millis(100));
    server.set_long_poll(Duration::from_secs(2));
    let work = Duration::from_millis(1000);
    server.set_work_time(work);
    let started = Instant::now();
    let mut call = client.optim_step(0.1);
    assert_eq!(call.result(LONG).unwrap()["step"], 1);
    assert!(
        started.elapsed() < work + Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(call.polls() >= 3, "{} polls", call.polls());
}

#[test]
fn a_poll_with_a_5xx_after_every_second_answer_runs_200_probes_and_succeeds() {
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(2))
        .with_max_attempts(2);
    let (server, client) = setup(policy);
    server.set_work_time(Duration::from_secs(3600));
    server.set_long_poll(Duration::from_millis(1));
    for _ in 0..100 {
        server.inject(RETRIEVE_FUTURE, Fault::Pass);
        server.inject(RETRIEVE_FUTURE, Fault::Pass);
        server.inject(RETRIEVE_FUTURE, Fault::Status(503));
    }
    let mut call = client.forward_backward(&[1.0]);
    assert!(
        eventually(|| server.requests(RETRIEVE_FUTURE) >= 200),
        "the poll ended after {} probes",
        server.requests(RETRIEVE_FUTURE)
    );
    server.finish_all();
    assert_eq!(call.result(LONG).unwrap()["loss"], 1.0);
    assert!(call.polls() >= 200);
}

#[test]
fn queue_state_is_reported_at_most_once_per_interval() {
    let reports: Arc<Mutex<Vec<(Instant, String, u64)>>> = Arc::default();
    let seen = Arc::clone(&reports);
    let every = Duration::from_millis(100);
    let (server, client) = setup(policy());
    let client = client.on_queue_state(every, move |update| {
        let state = update.queue_state.to_owned();
        seen.lock()
            .unwrap()
            .push((Instant::now(), state, update.seq));
    });
    server.set_long_poll(Duration::from_millis(20));
    server.set_queue_state("paused_rate_limit");
    let mut call = client.forward_backward(&[1.0]);
    assert!(
        eventually(|| reports.lock().unwrap().len() >= 3),
        "no progress shown"
    );
    assert_eq!(call.queue_state().as_deref(), Some("paused_rate_limit"));
    server.set_queue_state("active");
    call.result(LONG).unwrap();
    let reports = reports.lock().unwrap();
    assert!(
        reports
            .iter()
            .all(|(_, state, seq)| state == "paused_rate_limit" && *seq == 1)
    );
    // Stamped in the callback, a little after the client's own check: allow for a late one.
    for pair in reports.windows(2) {
        let apart = pair[1].0 - pair[0].0;
        assert!(apart >= every / 2, "two reports {apart:?} apart");
    }
    assert!(
        call.polls() as usize > reports.len(),
        "every poll was reported"
    );
}

#[test]
fn an_immediate_408_on_a_poll_is_backed_off_not_repeated_at_once() {
    let (server, client) = setup(policy());
    server.set_long_poll(Duration::ZERO);
    server.set_work_time(Duration::from_millis(500));
    let mut call = client.forward_backward(&[1.0]);
    call.result(LONG).unwrap();
    let id = call.request_id().unwrap();
    // The policy's backoff (10 ms doubling to 50 ms) allows about a dozen polls in 500 ms;
    // re-polling at once made thousands.
    assert!(
        server.retrieve_calls(id) < 100,
        "{} polls",
        server.retrieve_calls(id)
    );
}

#[test]
fn debug_shows_where_a_call_stands_and_no_body() {
    let (server, client) = setup(policy().with_max_attempts(1));
    server.inject(FORWARD_BACKWARD, server::Fault::Status(503));
    let mut call = client.forward_backward(&vec![0.5; 100_000]);
    let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = call.result(LONG) else {
        panic!("a 503 leaves the outcome unknown")
    };
    let shown = format!("{unknown:?}");
    assert!(shown.len() < 1_000, "{} bytes", shown.len());
    assert!(shown.contains("body_bytes"), "{shown}");
    let shown = format!("{call:?}");
    assert!(shown.contains("taken"), "{shown}");
    let pending = client.forward_backward(&[1.0]);
    server.set_work_time(Duration::from_secs(3600));
    assert!(format!("{pending:?}").contains("pending"), "{pending:?}");
}
