//! Bad answers from the training API: each one must give the caller a clear `Protocol` or
//! `Transport` error, or a bounded retry that ends well, never a panic or a hang, and no job may
//! run twice because of it. Every case is tried on a submission endpoint and, where it makes
//! sense, on `/retrieve_future`.
//!
//! Timings are only ever bounded generously (the tests run on small, noisy machines): what is
//! asserted is the outcome, the order of events and what reached the server.
#![cfg(not(miri))] // real sockets

use training_api::{client, server};

use std::time::{Duration, Instant};

use apifuture::{ApiFuture, Error, RetryPolicy};
use client::{ApiError, MAX_BODY, MAX_RETRY_AFTER, TrainingClient};
use serde_json::Value;
use server::{FORWARD_BACKWARD, Fault, OPTIM_STEP, RETRIEVE_FUTURE, TrainingServer};

/// How long any call may take before the test calls it a hang.
const LONG: Duration = Duration::from_secs(30);

/// Far below `LONG` and far above any backoff of [`policy`]: a call that must end "at once"
/// (without honouring a long hint) ends well within it even on a loaded machine.
const PROMPTLY: Duration = Duration::from_secs(10);

type Outcome = Result<Value, Error<ApiError>>;

/// Short delays, so that retries cost milliseconds; the default 11 attempts.
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

/// A complete, well-framed HTTP answer (`tiny_http` adds the framing) with any body.
fn answer(status: u16, body: impl Into<String>) -> Fault {
    answer_with(status, body, &[])
}

fn answer_with(status: u16, body: impl Into<String>, headers: &[(&str, &str)]) -> Fault {
    Fault::Answer {
        status,
        body: body.into(),
        headers: headers
            .iter()
            .map(|&(name, value)| (name.to_owned(), value.to_owned()))
            .collect(),
    }
}

/// Raw bytes written in place of the server's answer (after it accepted the request), then
/// the connection closes: `head` is the header lines, without the blank line that ends them.
fn raw(head: &str, body: &[u8]) -> Fault {
    let mut bytes = format!("HTTP/1.1 200 OK\r\n{head}\r\n\r\n").into_bytes();
    bytes.extend_from_slice(body);
    Fault::RawAfterAccept(bytes)
}

/// A JSON object `{<fields>, "padding": "xxx…"}` of about `size` bytes: valid, so that only the
/// size limit can be the reason it is refused.
fn padded(fields: &str, size: usize) -> String {
    format!(r#"{{{fields},"padding":"{}"}}"#, "x".repeat(size))
}

/// The message of a `Protocol` failure; panics (with a bounded description, as a wrongly
/// accepted answer may be megabytes long) on any other outcome.
fn protocol_error(outcome: &Outcome) -> &str {
    match cause(outcome) {
        Some(ApiError::Protocol(why)) => why,
        _ => panic!("expected a Protocol error, got {}", short(outcome)),
    }
}

/// The failure, inside an unknown outcome if it came after the server may have taken the call.
fn cause(outcome: &Outcome) -> Option<&ApiError> {
    match outcome {
        Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) => Some(&unknown.cause),
        Err(Error::Failed(error)) => Some(error),
        _ => None,
    }
}

fn short(outcome: &Outcome) -> String {
    let text = format!("{outcome:?}");
    text.chars().take(300).collect()
}

/// The request id a call's submission got: the call reached its retrieve phase.
fn request_id(call: &client::Call) -> String {
    call.request_id()
        .expect("the submission was accepted")
        .to_owned()
}

// 1. Invalid JSON.

#[test]
fn invalid_json_from_a_submission_is_a_protocol_error_and_not_retried() {
    let (server, client) = setup(policy());
    server.inject(FORWARD_BACKWARD, answer(200, "<html>maintenance</html>"));
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    assert!(protocol_error(&outcome).contains("not JSON"), "{outcome:?}");
    // Retrying cannot make a malformed answer well-formed: one request, and the fault created
    // no job.
    assert_eq!(server.requests(FORWARD_BACKWARD), 1);
    assert_eq!(server.total_jobs_run(), 0);
}

#[test]
fn invalid_json_from_retrieve_is_a_protocol_error_and_not_retried() {
    let (server, client) = setup(policy());
    // Cut inside the JSON, but the HTTP message itself is complete.
    server.inject(
        RETRIEVE_FUTURE,
        answer(200, r#"{"type": "optim_step", "step": "#),
    );
    let mut call = client.optim_step(0.1);
    let outcome = call.result(LONG);
    protocol_error(&outcome);
    let id = request_id(&call);
    assert_eq!(
        server.retrieve_calls(&id),
        1,
        "a malformed result was polled again"
    );
    assert_eq!(server.jobs_run("optim_step"), 1);
}

// 2. Missing fields.

#[test]
fn a_submission_answer_without_a_request_id_is_a_protocol_error() {
    let (server, client) = setup(policy());
    let bodies = [
        "{}",
        "null",
        "[]",
        r#"{"request_id": ""}"#,
        r#"{"request_id": 42}"#,
    ];
    for (n, body) in bodies.into_iter().enumerate() {
        server.inject(OPTIM_STEP, answer(200, body));
        let outcome = client.optim_step(0.1).result(LONG);
        assert!(
            protocol_error(&outcome).contains("request_id"),
            "{body}: {outcome:?}"
        );
        // Each bad answer cost exactly one request: none was retried.
        assert_eq!(server.requests(OPTIM_STEP), n + 1, "after {body}");
    }
    assert_eq!(server.total_jobs_run(), 0);
    // The failed calls gave up their turn: the next call in sequence still goes through.
    let step = client.optim_step(0.1).result(LONG).unwrap();
    assert_eq!(step["step"], 1);
    assert_eq!(server.jobs_run("optim_step"), 1);
}

#[test]
fn a_retrieve_answer_that_is_not_a_result_of_the_call_is_a_protocol_error() {
    let (server, client) = setup(policy());
    let bodies = [
        "{}",
        "null",
        // A result of the other kind.
        r#"{"type": "optim_step", "step": 1}"#,
        // The right kind without its field, or with a field of the wrong type.
        r#"{"type": "forward_backward"}"#,
        r#"{"type": "forward_backward", "loss": "0.5"}"#,
        // A "try again" body under a 200: not a result either.
        r#"{"type": "try_again", "queue_state": "active"}"#,
    ];
    for (n, body) in bodies.into_iter().enumerate() {
        server.inject(RETRIEVE_FUTURE, answer(200, body));
        let mut call = client.forward_backward(&[1.0]);
        let outcome = call.result(LONG);
        assert!(
            protocol_error(&outcome).contains("not a forward_backward result"),
            "{body}: {outcome:?}"
        );
        assert_eq!(server.retrieve_calls(&request_id(&call)), 1, "after {body}");
        assert_eq!(server.jobs_run("forward_backward"), n + 1);
    }
    // The server's own result passes the same check.
    let result = client.forward_backward(&[2.0]).result(LONG).unwrap();
    assert_eq!(result["loss"], 4.0);
}

// 3. Answers past the size limit.

#[test]
fn an_oversized_submission_answer_is_refused_after_one_request() {
    let (server, client) = setup(policy());
    // 20 MiB of valid JSON with a request id: only the size can be why it is refused.
    // (tiny_http sends a body this large chunked, without a Content-Length, so this is the
    // read cut at the limit; the declared-length refusal is pinned by the raw tests below.)
    let huge = padded(r#""request_id":"req-1""#, 20 * MAX_BODY as usize);
    server.inject(FORWARD_BACKWARD, answer(200, huge));
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    assert!(
        protocol_error(&outcome).contains("limit"),
        "{}",
        short(&outcome)
    );
    // Refused once, not downloaded again by retries.
    assert_eq!(server.requests(FORWARD_BACKWARD), 1);
    assert_eq!(server.total_jobs_run(), 0);
}

#[test]
fn an_oversized_retrieve_answer_is_refused_after_one_request() {
    let (server, client) = setup(policy());
    let huge = padded(
        r#""type":"forward_backward","loss":1.0"#,
        20 * MAX_BODY as usize,
    );
    server.inject(RETRIEVE_FUTURE, answer(200, huge));
    let mut call = client.forward_backward(&[1.0]);
    let outcome = call.result(LONG);
    assert!(
        protocol_error(&outcome).contains("limit"),
        "{}",
        short(&outcome)
    );
    assert_eq!(server.requests(RETRIEVE_FUTURE), 1);
    assert_eq!(server.retrieve_calls(&request_id(&call)), 1);
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

#[test]
fn a_declared_length_over_the_limit_is_refused_before_reading() {
    let (server, client) = setup(policy());
    // The header promises 20 MiB but only a short, valid body follows. Reading it would end
    // in a truncated body (a `Transport` error, retried); refusing it by its `Content-Length`
    // gives `Protocol` at once, from the header alone.
    let head = format!(
        "Content-Type: application/json\r\nContent-Length: {}",
        20 * MAX_BODY
    );
    // The refusal names the declared size, which only the header could have told.
    let declared = format!("{} bytes", 20 * MAX_BODY);
    server.inject(OPTIM_STEP, raw(&head, br#"{"request_id":"req-1"}"#));
    let outcome = client.optim_step(0.1).result(LONG);
    assert!(protocol_error(&outcome).contains(&declared), "{outcome:?}");
    assert_eq!(server.requests(OPTIM_STEP), 1);
    // `RawAfterAccept` accepted the submission before answering badly: its job ran, once.
    assert_eq!(server.jobs_run("optim_step"), 1);

    server.inject(
        RETRIEVE_FUTURE,
        raw(&head, br#"{"type":"optim_step","step":2}"#),
    );
    let mut call = client.optim_step(0.1);
    let outcome = call.result(LONG);
    assert!(protocol_error(&outcome).contains(&declared), "{outcome:?}");
    assert_eq!(server.retrieve_calls(&request_id(&call)), 1);
    assert_eq!(server.jobs_run("optim_step"), 2);
}

#[test]
fn a_close_delimited_answer_past_the_limit_is_cut_off_at_the_limit() {
    let (server, client) = setup(policy());
    // No Content-Length: the body runs until the connection closes, 2 MiB later. The client
    // must stop reading at the limit rather than buffer whatever the server sends.
    let head = "Content-Type: application/json\r\nConnection: close";
    let body = padded(r#""request_id":"req-1""#, 2 * MAX_BODY as usize);
    server.inject(FORWARD_BACKWARD, raw(head, body.as_bytes()));
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    assert!(
        protocol_error(&outcome).contains("limit"),
        "{}",
        short(&outcome)
    );
    assert_eq!(server.requests(FORWARD_BACKWARD), 1);
    assert_eq!(server.jobs_run("forward_backward"), 1);

    let body = padded(
        r#""type":"forward_backward","loss":1.0"#,
        2 * MAX_BODY as usize,
    );
    server.inject(RETRIEVE_FUTURE, raw(head, body.as_bytes()));
    let mut call = client.forward_backward(&[1.0]);
    let outcome = call.result(LONG);
    assert!(
        protocol_error(&outcome).contains("limit"),
        "{}",
        short(&outcome)
    );
    assert_eq!(server.retrieve_calls(&request_id(&call)), 1);
    assert_eq!(server.jobs_run("forward_backward"), 2);
}

// 4. Truncated bodies.

/// 500 bytes promised, 15 sent: the connection closes mid-body.
fn truncated() -> Fault {
    raw(
        "Content-Type: application/json\r\nContent-Length: 500",
        br#"{"request_id":"#,
    )
}

#[test]
fn a_truncated_submission_answer_is_retried_with_the_same_idempotency_key() {
    let (server, client) = setup(policy());
    server.inject(OPTIM_STEP, truncated());
    let mut call = client.optim_step(0.1);
    let result = call.result(LONG).unwrap();
    // The first attempt was accepted (its answer was lost), the retry carried the same key
    // and got the same request id: one job, one step.
    assert_eq!(call.submit_attempts(), 2);
    assert_eq!(server.requests(OPTIM_STEP), 2);
    assert_eq!(server.jobs_run("optim_step"), 1);
    assert_eq!(result["step"], 1);
    assert_eq!(server.accepted(), [("optim_step".to_owned(), 1)]);
}

#[test]
fn truncated_submission_answers_are_retried_only_up_to_the_policy() {
    let (server, client) = setup(policy().with_max_attempts(3));
    for _ in 0..3 {
        server.inject(FORWARD_BACKWARD, truncated());
    }
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    assert!(
        matches!(cause(&outcome), Some(ApiError::Transport(_))),
        "{outcome:?}"
    );
    assert_eq!(server.requests(FORWARD_BACKWARD), 3);
    // Three deliveries of one submission under one key: the job still ran once.
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

#[test]
fn a_truncated_retrieve_answer_is_polled_again_when_awaited() {
    let (server, client) = setup(policy());
    server.inject(RETRIEVE_FUTURE, truncated());
    let mut call = client.forward_backward(&[3.0]);
    let result = smol::block_on(&mut call).unwrap();
    assert_eq!(result["loss"], 9.0);
    // The cut answer was a transport error, so the poll asked again.
    assert!(server.retrieve_calls(&request_id(&call)) >= 2);
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

#[test]
fn an_answer_that_is_not_http_is_a_transport_error_and_is_retried() {
    let (server, client) = setup(policy());
    server.inject(
        FORWARD_BACKWARD,
        Fault::RawAfterAccept(b"SSH-2.0-OpenSSH_9.6\r\n".to_vec()),
    );
    let mut call = client.forward_backward(&[1.0]);
    call.result(LONG).unwrap();
    assert_eq!(call.submit_attempts(), 2);
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

// 5. A Content-Length shorter than the body.

#[test]
fn a_content_length_shorter_than_the_body_gives_a_protocol_error() {
    let (server, client) = setup(policy());
    // Ten bytes declared: the client reads `{"request_` and must reject it, not guess.
    let head = "Content-Type: application/json\r\nContent-Length: 10";
    server.inject(FORWARD_BACKWARD, raw(head, br#"{"request_id":"req-1"}"#));
    let outcome = client.forward_backward(&[1.0]).result(LONG);
    protocol_error(&outcome);
    assert_eq!(server.requests(FORWARD_BACKWARD), 1);
    // Accepted by the server before the bad answer, and not submitted again.
    assert_eq!(server.jobs_run("forward_backward"), 1);

    server.inject(
        RETRIEVE_FUTURE,
        raw(head, br#"{"type":"forward_backward","loss":1.0}"#),
    );
    let mut call = client.forward_backward(&[1.0]);
    let outcome = call.result(LONG);
    protocol_error(&outcome);
    assert_eq!(server.retrieve_calls(&request_id(&call)), 1);
    assert_eq!(server.jobs_run("forward_backward"), 2);
}

#[test]
fn a_content_length_covering_a_whole_answer_succeeds_despite_trailing_bytes() {
    let (server, client) = setup(policy());
    // The declared length covers exactly a valid answer (the id a fresh server issues first);
    // the bytes after it are junk left on a connection that then closes. The client may keep
    // that connection for its next request: whatever happens to that one must stay bounded.
    let answer = br#"{"request_id":"req-1"}"#;
    let head = format!(
        "Content-Type: application/json\r\nContent-Length: {}",
        answer.len()
    );
    let mut body = answer.to_vec();
    // Not a status line: if the next request read it as its answer, that would be a transport
    // error (retried). Junk shaped like `HTTP/1.1 4xx` would instead be a status the client
    // does not retry, and the outcome would depend on a race this test is not about.
    body.extend_from_slice(b"junk that is not HTTP\r\n\r\n");
    server.inject(FORWARD_BACKWARD, raw(&head, &body));
    let mut call = client.forward_backward(&[2.0]);
    let result = call.result(LONG).unwrap();
    assert_eq!(call.request_id(), Some("req-1"));
    assert_eq!(call.submit_attempts(), 1);
    assert_eq!(result["loss"], 4.0);
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

// 6. Retry-After values the client cannot or must not honour.

/// A 429 on the submission and a 503 on the retrieve, both with `header: value`: each must be
/// retried after the policy's backoff, and the call succeed promptly.
fn hint_is_ignored(header: &str, value: &str) {
    let (server, client) = setup(policy());
    let started = Instant::now();
    server.inject(
        FORWARD_BACKWARD,
        answer_with(429, r#"{"error":"slow down"}"#, &[(header, value)]),
    );
    server.inject(
        RETRIEVE_FUTURE,
        answer_with(503, r#"{"error":"busy"}"#, &[(header, value)]),
    );
    let mut call = client.forward_backward(&[1.0]);
    let result = call.result(LONG);
    assert!(result.is_ok(), "{header}: {value}: {result:?}");
    assert!(
        started.elapsed() < PROMPTLY,
        "{header}: {value} was waited out: {:?}",
        started.elapsed()
    );
    assert_eq!(call.submit_attempts(), 2, "{header}: {value}");
    assert!(server.retrieve_calls(&request_id(&call)) >= 2);
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

#[test]
fn a_retry_after_that_is_not_a_number_falls_back_to_the_backoff() {
    for value in ["soon", "-1", "1.5", ""] {
        hint_is_ignored("Retry-After", value);
    }
    hint_is_ignored("retry-after-ms", "soon");
}

#[test]
fn a_retry_after_too_large_for_u64_falls_back_to_the_backoff() {
    hint_is_ignored("Retry-After", "99999999999999999999999");
    hint_is_ignored("retry-after-ms", "99999999999999999999999");
}

#[test]
fn a_huge_retry_after_fails_the_call_at_once() {
    let (server, client) = setup(policy());
    // A day: far past MAX_RETRY_AFTER, so the call fails now instead of sleeping through it.
    let day = Duration::from_secs(86_400);
    assert!(day > MAX_RETRY_AFTER);
    server.inject(
        OPTIM_STEP,
        answer_with(429, r#"{"error":"slow down"}"#, &[("Retry-After", "86400")]),
    );
    let started = Instant::now();
    let outcome = client.optim_step(0.1).result(LONG);
    assert_eq!(
        outcome,
        Err(Error::Failed(ApiError::Status {
            code: 429,
            retry_after: Some(day)
        }))
    );
    assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
    assert_eq!(server.requests(OPTIM_STEP), 1);
    assert_eq!(server.total_jobs_run(), 0);

    // The largest millisecond hint there is: no overflow, the same prompt failure, this time
    // while polling an accepted job.
    let max_ms = u64::MAX.to_string();
    server.inject(
        RETRIEVE_FUTURE,
        answer_with(503, r#"{"error":"busy"}"#, &[("retry-after-ms", &max_ms)]),
    );
    let started = Instant::now();
    let mut call = client.optim_step(0.1);
    let outcome = call.result(LONG);
    // The call was accepted: its outcome is unknown, and says why.
    assert_eq!(
        cause(&outcome),
        Some(&ApiError::Status {
            code: 503,
            retry_after: Some(Duration::from_millis(u64::MAX))
        })
    );
    assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
    assert_eq!(server.retrieve_calls(&request_id(&call)), 1);
    assert_eq!(server.jobs_run("optim_step"), 1);
}

// 7. and 8. The 408 "try again" answer.

#[test]
fn a_408_on_a_submission_is_retried() {
    let (server, client) = setup(policy());
    // With the server's JSON error body, and with a body that is not JSON at all: either way
    // it is a timeout to retry, not an answer lacking its request id.
    server.inject(FORWARD_BACKWARD, Fault::Status(408));
    server.inject(OPTIM_STEP, answer(408, "Request Timeout"));
    let mut forward = client.forward_backward(&[1.0]);
    let mut step = client.optim_step(0.1);
    assert_eq!(forward.result(LONG).unwrap()["loss"], 1.0);
    assert_eq!(step.result(LONG).unwrap()["step"], 1);
    assert_eq!(forward.submit_attempts(), 2);
    assert_eq!(step.submit_attempts(), 2);
    assert_eq!(server.jobs_run("forward_backward"), 1);
    assert_eq!(server.jobs_run("optim_step"), 1);
    // Retried in place, the calls still reached the server in the order they were made.
    assert_eq!(
        server.accepted(),
        [
            ("forward_backward".to_owned(), 1),
            ("optim_step".to_owned(), 2)
        ]
    );
}

#[test]
fn a_408_on_retrieve_with_a_body_that_is_not_json_means_try_again() {
    let (server, client) = setup(policy());
    server.inject(RETRIEVE_FUTURE, answer(408, "<html>timeout</html>"));
    server.inject(RETRIEVE_FUTURE, answer(408, ""));
    let mut call = client.forward_backward(&[1.0]);
    call.result(LONG).unwrap();
    assert!(server.retrieve_calls(&request_id(&call)) >= 3);
    assert_eq!(server.jobs_run("forward_backward"), 1);
}

#[test]
fn immediate_408s_on_retrieve_do_not_flood_the_server() {
    let (server, client) = setup(policy());
    // No long poll: every retrieve before the job is done answers 408 at once. Asking again
    // at once would make thousands of requests in the job's 300 ms; the backoff makes a few.
    server.set_long_poll(Duration::ZERO);
    server.set_work_time(Duration::from_millis(300));
    let mut call = client.forward_backward(&[1.0]);
    let result = smol::block_on(&mut call).unwrap();
    assert_eq!(result["loss"], 1.0);
    let polls = server.retrieve_calls(&request_id(&call));
    // At least one "try again" came and was read as such (it carried the queue state).
    assert!(polls >= 2, "{polls} polls");
    assert_eq!(call.queue_state().as_deref(), Some("active"));
    assert!(polls < 200, "{polls} polls for a 300 ms job");
    assert_eq!(server.jobs_run("forward_backward"), 1);
}
