//! A call that fails after the server may have accepted it says its outcome is unknown, with
//! what identifies the job, and `recover` fetches the job's result instead of running it again:
//! by the idempotency key when the submission's answer was lost, by the request id when the
//! polling failed.
#![cfg(not(miri))] // real sockets

use std::time::Duration;

use apifuture::{ApiFuture, Error, RetryPolicy};
use training_api::client::ApiError;
use training_api::server::{FORWARD_BACKWARD, Fault, RETRIEVE_FUTURE, TrainingServer};

use super::flavors::FLAVORS;

const LONG: Duration = Duration::from_secs(30);

fn policy() -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(20))
        .with_max_attempts(2)
}

#[test]
fn a_submission_whose_answers_were_lost_is_recovered_by_its_key() {
    for flavor in FLAVORS {
        let server = TrainingServer::start();
        // Both attempts are accepted (the second through the key) and both answers lost.
        server.inject(FORWARD_BACKWARD, Fault::CloseAfterAccept);
        server.inject(FORWARD_BACKWARD, Fault::CloseAfterAccept);
        let client = flavor.client(&server.base_url(), policy(), Duration::from_secs(5));
        let mut call = client.forward_backward(&[3.0]);
        let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = call.result(LONG) else {
            panic!("{flavor:?}: expected an unknown outcome");
        };
        assert_eq!(unknown.request_id, None, "{flavor:?}");
        assert!(
            unknown.idempotency_key.starts_with(client.session()),
            "{flavor:?}: {}",
            unknown.idempotency_key
        );
        assert_eq!(unknown.seq, 1);
        assert!(
            matches!(unknown.cause, ApiError::Transport(_)),
            "{flavor:?}: {:?}",
            unknown.cause
        );
        assert_eq!(
            server.jobs_run("forward_backward"),
            1,
            "{flavor:?}: the job ran once"
        );

        let mut recovered = client.recover(&unknown);
        assert_eq!(recovered.result(LONG).unwrap()["loss"], 9.0, "{flavor:?}");
        assert_eq!(
            server.jobs_run("forward_backward"),
            1,
            "{flavor:?}: recovering ran it again"
        );
        assert!(recovered.request_id().is_some(), "{flavor:?}");
    }
}

#[test]
fn an_accepted_call_whose_polling_failed_is_recovered_by_its_request_id() {
    for flavor in FLAVORS {
        let server = TrainingServer::start();
        server.inject(RETRIEVE_FUTURE, Fault::Status(500));
        server.inject(RETRIEVE_FUTURE, Fault::Status(500));
        let client = flavor.client(&server.base_url(), policy(), Duration::from_secs(5));
        let mut call = client.forward_backward(&[1.0, 2.0]);
        let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = call.result(LONG) else {
            panic!("{flavor:?}: expected an unknown outcome");
        };
        assert_eq!(
            unknown.request_id.as_deref(),
            call.request_id(),
            "{flavor:?}"
        );
        assert!(unknown.request_id.is_some(), "{flavor:?}");
        assert!(
            matches!(unknown.cause, ApiError::Status { code: 500, .. }),
            "{flavor:?}: {:?}",
            unknown.cause
        );
        let shown = ApiError::OutcomeUnknown(unknown.clone()).to_string();
        assert!(shown.contains("recover"), "{flavor:?}: {shown}");

        let mut recovered = client.recover(&unknown);
        assert_eq!(recovered.result(LONG).unwrap()["loss"], 2.5, "{flavor:?}");
        assert_eq!(server.jobs_run("forward_backward"), 1, "{flavor:?}");
        assert_eq!(
            server.accepted().len(),
            1,
            "{flavor:?}: a second submission went out"
        );
    }
}

#[test]
fn a_submission_the_server_refused_is_not_unknown() {
    for flavor in FLAVORS {
        let server = TrainingServer::start();
        server.inject(FORWARD_BACKWARD, Fault::Status(400));
        let client = flavor.client(&server.base_url(), policy(), Duration::from_secs(5));
        let outcome = client.forward_backward(&[1.0]).result(LONG);
        assert!(
            matches!(
                outcome,
                Err(Error::Failed(ApiError::Status { code: 400, .. }))
            ),
            "{flavor:?}: {outcome:?}"
        );
    }
}

#[test]
fn recovering_by_key_a_submission_never_taken_after_later_ones_were_says_so() {
    let server = TrainingServer::start();
    // The first submission is lost before the server takes it; the second call goes through.
    server.inject(FORWARD_BACKWARD, Fault::CloseBeforeAccept);
    server.inject(FORWARD_BACKWARD, Fault::CloseBeforeAccept);
    let client =
        super::flavors::Flavor::Async.client(&server.base_url(), policy(), Duration::from_secs(5));
    let mut first = client.forward_backward(&[1.0]);
    let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = first.result(LONG) else {
        panic!("expected an unknown outcome");
    };
    assert!(client.forward_backward(&[2.0]).result(LONG).is_ok());
    // Never taken, and out of sequence now: the server refuses it, and nothing ran twice.
    let recovered = client.recover(&unknown).result(LONG);
    assert!(
        matches!(
            recovered,
            Err(Error::Failed(ApiError::Status { code: 409, .. }))
        ),
        "{recovered:?}"
    );
    assert_eq!(server.jobs_run("forward_backward"), 1);
}
