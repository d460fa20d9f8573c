//! A training-API client built on apifuture, as an SDK author would write it, behaving as the
//! seed's SDK does: every call starts its work when it is made and returns a future at once;
//! the caller blocks on it or awaits it, now or later.
//!
//! A call is two phases. The submission (`POST /forward_backward`, `POST /optim_step`) is
//! retried under a [`RetryPolicy`]; the server answers with a request id, which is then polled
//! (`POST /retrieve_future`) with [`poll_until_ready`] until the result is there. Both run in
//! the background ([`ApiFutureExt::background`]), so a user can submit a step's two calls back to
//! back and wait for them afterwards: both are in flight meanwhile.
//!
//! Training calls are ordered. Each takes a sequence number when it is made, and its submission
//! goes out only once every earlier training submission has ended (been accepted, or given up),
//! so an `optim_step` reaches the server after the `forward_backward` made before it even when
//! that one is being retried. Every retry of a submission carries the same sequence number and
//! idempotency key, so a retry after a lost answer never runs the job twice.
//!
//! HTTP goes one of two ways ([`crate::transport`]): async, hyper over async-io on apifuture's
//! background executor (the seed's own architecture, and [`TrainingClient::new`]'s), where an
//! attempt owns its connection and dropping the attempt closes it; or blocking, ureq on
//! apifuture's [`spawn`](apifuture::spawn) pool ([`TrainingClient::new_blocking`]). Nothing
//! here needs a tokio runtime, and the calls can be blocked on or awaited anywhere.
//!
//! An error that comes after the server may have accepted a call is
//! [`ApiError::OutcomeUnknown`]: it carries what identifies the job (the request id, or the
//! call's idempotency key when the submission's answer was lost), and
//! [`TrainingClient::recover`] fetches that job's result instead of running it twice.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, Error, Progress, RetryDecision,
    RetryPolicy, Sequence, poll_until_ready, retry,
};
use serde_json::{Value, json};

use crate::transport::{Post, Reply, Transport};

/// Why a request failed, as the SDK reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server answered with an error status; `retry_after` is its hint, if it gave one.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: the connection failed or was closed, or the answer was cut short.
    Transport(String),
    /// No answer within the client's request timeout.
    TimedOut(String),
    /// An answer that is not what the API promises: not JSON, a field missing, too large.
    Protocol(String),
    /// The server may have accepted the call, and run its job, but the answer that would tell
    /// was lost: the submission failed in a way that does not rule acceptance out (no answer,
    /// a 5xx, a garbled answer, or a refusal after an attempt that got one of these), the
    /// polling of an accepted call failed, or the call ran out of time once its submission
    /// went out (the policy's deadline, or every attempt cut off by its attempt timeout). Submitting again could run the job twice:
    /// [`TrainingClient::recover`] fetches its result instead.
    OutcomeUnknown(Box<Unknown>),
}

/// What identifies a call whose outcome is unknown: see [`ApiError::OutcomeUnknown`]. Its
/// `Debug` shows the body's size, not the body (a batch can be megabytes).
#[derive(Clone, PartialEq)]
pub struct Unknown {
    /// `"forward_backward"` or `"optim_step"`.
    pub kind: &'static str,
    /// The call's sequence number.
    pub seq: u64,
    /// The key every submission attempt of the call carried: the server answers a submission
    /// with a known key with the job it already has.
    pub idempotency_key: String,
    /// The server's id for the job, if an answer said it was accepted.
    pub request_id: Option<String>,
    /// The submission's body, to present the key again with.
    pub body: Value,
    /// The last error.
    pub cause: ApiError,
}

impl fmt::Debug for Unknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Unknown")
            .field("kind", &self.kind)
            .field("seq", &self.seq)
            .field("idempotency_key", &self.idempotency_key)
            .field("request_id", &self.request_id)
            .field("body_bytes", &json_len(&self.body))
            .field("cause", &self.cause)
            .finish()
    }
}

/// How many bytes `value` takes as JSON, counted without building the text.
fn json_len(value: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status {
                code,
                retry_after: Some(hint),
            } => write!(f, "HTTP {code} (retry after {hint:?})"),
            ApiError::Status { code, .. } => write!(f, "HTTP {code}"),
            ApiError::Transport(why) => write!(f, "transport error: {why}"),
            ApiError::TimedOut(why) => write!(f, "no answer in time: {why}"),
            ApiError::Protocol(why) => write!(f, "unexpected answer: {why}"),
            ApiError::OutcomeUnknown(unknown) => match &unknown.request_id {
                Some(id) => write!(
                    f,
                    "{} #{} was accepted as {id}, its result is unknown ({}): recover it",
                    unknown.kind, unknown.seq, unknown.cause
                ),
                None => write!(
                    f,
                    "{} #{} may have been accepted (key {}), the answer was lost ({}): recover it",
                    unknown.kind, unknown.seq, unknown.idempotency_key, unknown.cause
                ),
            },
        }
    }
}

impl std::error::Error for ApiError {}

/// Hints longer than this are not honoured: the call fails instead of sleeping for minutes.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

pub use crate::transport::MAX_BODY;

/// How the SDK classifies a failed request: timeouts, rate limits and overload are retried
/// (after the server's hint if it gave one), client errors and malformed answers are not. A 409
/// is the server refusing a submission out of sequence order: retrying cannot fix that.
pub fn classify(error: &ApiError) -> RetryDecision {
    match error {
        ApiError::Status {
            retry_after: Some(hint),
            ..
        } if *hint <= MAX_RETRY_AFTER => RetryDecision::RetryAfter(*hint),
        ApiError::Status {
            retry_after: Some(_),
            ..
        } => RetryDecision::Stop,
        ApiError::Status {
            code: 408 | 429 | 500..=599,
            ..
        } => RetryDecision::Retry,
        ApiError::Status { .. } | ApiError::Protocol(_) | ApiError::OutcomeUnknown(_) => {
            RetryDecision::Stop
        }
        ApiError::Transport(_) | ApiError::TimedOut(_) => RetryDecision::Retry,
    }
}

/// Whether a submission that failed with `error` was certainly not accepted: the server said
/// no (a 4xx: a bad request, out of sequence, rate limited, too slow to arrive). A 5xx, no
/// answer or a garbled one may come after the server took it.
fn refused(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Status {
            code: 400..=499,
            ..
        }
    )
}

/// What the user sees of a call waiting in the server's queue; see
/// [`TrainingClient::on_queue_state`].
#[derive(Debug, Clone, Copy)]
pub struct QueueUpdate<'a> {
    /// `"forward_backward"` or `"optim_step"`.
    pub kind: &'a str,
    /// The call's sequence number.
    pub seq: u64,
    pub request_id: &'a str,
    /// What the server says of its queue: `active`, `paused_rate_limit`, `paused_capacity`...
    pub queue_state: &'a str,
    /// Polls of the result so far.
    pub polls: u32,
    /// Time since the call was made.
    pub elapsed: Duration,
}

type OnQueue = Arc<dyn Fn(&QueueUpdate<'_>) + Send + Sync>;

/// The client: cheap to clone; clones share one connection pool and one sequence.
#[derive(Clone)]
pub struct TrainingClient {
    inner: Arc<Inner>,
}

struct Inner {
    base: String,
    transport: Transport,
    policy: RetryPolicy,
    /// Makes idempotency keys unique across processes and machines; see [`session_id`].
    session: String,
    /// Hands each call its turn (and sequence number) when it is made: its submission waits
    /// for it, and releases it when the submission has ended.
    sequence: Sequence,
    on_queue: Option<(Duration, OnQueue)>,
    /// A 408 that came back faster than this was not a held long poll: back off before the next.
    long_poll_floor: Duration,
}

impl fmt::Debug for TrainingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrainingClient")
            .field("base", &self.inner.base)
            .field("session", &self.inner.session)
            .finish_non_exhaustive()
    }
}

/// 128 bits from the operating system's random source (std's `RandomState` keys come from it),
/// in hex. Two processes with the same pid, in two containers, still get different sessions.
fn session_id() -> String {
    let (a, b) = (RandomState::new(), RandomState::new());
    format!("{:016x}{:016x}", a.hash_one(1u8), b.hash_one(2u8))
}

impl TrainingClient {
    /// A client for the API at `base` (`http://host:port`) with the async transport (hyper over
    /// async-io, on apifuture's background executor), retrying under `policy`. Each request is
    /// an attempt that gives up after `request_timeout`, or the policy's attempt timeout if it
    /// is shorter, closing its connection.
    ///
    /// A poll held past that timeout is the server's "not yet" (a long poll), as in the seed's
    /// SDK, so a server that accepted a call and then holds every poll keeps it polling until
    /// the policy's deadline: give the policy one ([`RetryPolicy::with_deadline`]).
    ///
    /// # Panics
    ///
    /// If `base` is not an `http://host:port` URL that resolves (this is an example).
    pub fn new(base: &str, policy: RetryPolicy, request_timeout: Duration) -> Self {
        let transport = Transport::hyper(base).expect("an http://host:port base URL");
        TrainingClient::with_transport(base, transport, policy, request_timeout)
    }

    /// The same client with the blocking transport (ureq on apifuture's pool), each request
    /// given up after `request_timeout` or the policy's attempt timeout, whichever is shorter:
    /// no request outlives the attempt it belongs to.
    pub fn new_blocking(base: &str, policy: RetryPolicy, request_timeout: Duration) -> Self {
        let transport = Transport::ureq(base, attempt_timeout(&policy, request_timeout));
        TrainingClient::with_transport(base, transport, policy, request_timeout)
    }

    fn with_transport(
        base: &str,
        transport: Transport,
        policy: RetryPolicy,
        request_timeout: Duration,
    ) -> Self {
        TrainingClient {
            inner: Arc::new(Inner {
                base: base.to_owned(),
                transport,
                policy: policy
                    .clone()
                    .with_attempt_timeout(attempt_timeout(&policy, request_timeout)),
                session: session_id(),
                sequence: Sequence::starting_at(1),
                on_queue: None,
                long_poll_floor: Duration::from_secs(1),
            }),
        }
    }

    /// Calls `report` with the server's queue state while a call waits for its result, at most
    /// once per `every` for each call (the first time at its first "try again" answer), in
    /// order and before the call's outcome is there.
    ///
    /// It runs where the poll's answer is read: with the async transport, on apifuture's one
    /// background executor thread, which every call of every client in the process shares;
    /// with the blocking one, on a pool thread. Keep it short and never block in it: a slow
    /// report holds up every other call. Hand slow work to a channel or a thread.
    pub fn on_queue_state(
        self,
        every: Duration,
        report: impl Fn(&QueueUpdate<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.reconfigure(|inner| inner.on_queue = Some((every, Arc::new(report))))
    }

    /// A "try again" answer that came back faster than `floor` means the server did not hold
    /// the poll: the next poll waits the policy's backoff instead of going out at once. 1 s by
    /// default, above any network's round trip (a real long poll holds for tens of seconds).
    pub fn with_long_poll_floor(self, floor: Duration) -> Self {
        self.reconfigure(|inner| inner.long_poll_floor = floor)
    }

    /// Setters run before the client is shared; a clone made earlier keeps the old settings.
    fn reconfigure(self, change: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|shared| Inner {
            base: shared.base.clone(),
            transport: shared.transport.clone(),
            policy: shared.policy.clone(),
            session: session_id(),
            sequence: Sequence::starting_at(1),
            on_queue: shared.on_queue.clone(),
            long_poll_floor: shared.long_poll_floor,
        });
        change(&mut inner);
        TrainingClient {
            inner: Arc::new(inner),
        }
    }

    /// The session id that prefixes this client's idempotency keys.
    pub fn session(&self) -> &str {
        &self.inner.session
    }

    /// Submits a forward-backward pass over `batch` now; the future gives the server's result.
    pub fn forward_backward(&self, batch: &[f64]) -> Call {
        self.call("forward_backward", json!({ "batch": batch }))
    }

    /// Submits an optimizer step now (after every earlier call's submission); the future gives
    /// the server's result.
    pub fn optim_step(&self, learning_rate: f64) -> Call {
        self.call("optim_step", json!({ "learning_rate": learning_rate }))
    }

    fn call(&self, kind: &'static str, mut body: Value) -> Call {
        let started = Instant::now();
        // The call's place in line, taken now: its submission waits for every earlier one.
        let turn = self.inner.sequence.take_turn();
        let seq = turn.number();
        body["session_id"] = json!(self.inner.session);
        body["seq_id"] = json!(seq);
        let counts = Arc::new(Counts {
            kind,
            seq,
            started,
            ..Counts::default()
        });
        let key = format!("{}-{seq}", self.inner.session);
        let unknown = Unknown {
            kind,
            seq,
            idempotency_key: key,
            request_id: None,
            body,
            cause: ApiError::Transport(String::new()),
        };
        let identity = Box::new(unknown.clone());
        let (client, seen) = (self.clone(), Arc::clone(&counts));
        // A turn never fails; the submission fails with the SDK's own error.
        let turn = turn.map_failure(|never| match never {});
        let submission = turn.then_call(move |turn| {
            // Held until the submission's retry ends, whatever its outcome (the chain drops
            // the retry as it moves on to polling): then the next call's turn opens. A call
            // dropped before its turn came passes it on once it would have.
            client.submit(unknown, seen, Some(turn))
        });
        let (client, seen) = (self.clone(), Arc::clone(&counts));
        let inner = submission
            .then_call(move |(unknown, request_id)| client.retrieve(unknown, request_id, seen))
            .background();
        Call {
            inner,
            counts,
            identity,
            unknown_taken: false,
            terminated: false,
        }
    }

    /// Fetches the result of a call whose outcome was unknown, without running its job again:
    /// polls its request id if the server gave one; otherwise presents its idempotency key
    /// again (the server answers a key it knows with the job it already has, and refuses a
    /// submission it never took that is now out of sequence with a 409), then polls. Runs in
    /// the background, like a call.
    ///
    /// ```no_run
    /// # use training_api::client::{ApiError, TrainingClient};
    /// # fn recovered(client: &TrainingClient, mut call: training_api::client::Call) {
    /// use apifuture::{ApiFuture, Error};
    /// use std::time::Duration;
    /// if let Err(Error::Failed(ApiError::OutcomeUnknown(unknown))) = call.result(None) {
    ///     let result = client.recover(&unknown).result(Duration::from_secs(60));
    /// }
    /// # }
    /// ```
    pub fn recover(&self, unknown: &Unknown) -> Call {
        let identity = Box::new(unknown.clone());
        let counts = Arc::new(Counts {
            kind: unknown.kind,
            seq: unknown.seq,
            ..Counts::default()
        });
        let (client, seen) = (self.clone(), Arc::clone(&counts));
        let inner = match &unknown.request_id {
            Some(request_id) => {
                let _ = counts.request_id.set(request_id.clone());
                self.retrieve(unknown.clone(), request_id.clone(), seen)
                    .into_boxed()
            }
            None => self
                .submit(unknown.clone(), Arc::clone(&seen), None::<()>)
                .then_call(move |(unknown, request_id)| client.retrieve(unknown, request_id, seen))
                .into_boxed(),
        }
        .background();
        Call {
            inner,
            counts,
            identity,
            unknown_taken: false,
            terminated: false,
        }
    }

    /// The submission of `unknown`'s call, retried under the policy with the same body and
    /// key each time; `turn` is held until it ends. Gives the call back with its request id.
    /// A failure that does not rule out acceptance is [`ApiError::OutcomeUnknown`].
    fn submit<H: Send + 'static>(
        &self,
        unknown: Unknown,
        counts: Arc<Counts>,
        turn: Option<H>,
    ) -> impl ApiFuture<Value = (Unknown, String), Failure = ApiError> + use<H> {
        let transport = self.inner.transport.clone();
        let post = Post {
            path: format!("/{}", unknown.kind),
            idempotency_key: Some(unknown.idempotency_key.clone()),
            body: unknown.body.clone(),
        };
        let if_unknown = unknown.clone();
        // A refusal proves nothing about the attempts before it: after one that may have been
        // taken (no answer, a 5xx, cut off by the attempt timeout), a last 429 still leaves
        // the outcome unknown.
        let taken_maybe = Arc::new(AtomicBool::new(false));
        let last_refused = Arc::new(AtomicBool::new(true));
        let maybe = Arc::clone(&taken_maybe);
        retry(self.inner.policy.clone(), move |attempt| {
            let _held = &turn;
            counts.submit_attempts.store(attempt, Ordering::Relaxed);
            if !last_refused.swap(false, Ordering::Relaxed) {
                taken_maybe.store(true, Ordering::Relaxed);
            }
            let refusal = Arc::clone(&last_refused);
            transport
                .attempt(post.clone(), read_request_id)
                .map_failure(move |error| {
                    refusal.store(refused(&error), Ordering::Relaxed);
                    error
                })
        })
        .when(classify)
        .map_failure(move |cause| {
            if refused(&cause) && !maybe.load(Ordering::Relaxed) {
                return cause;
            }
            ApiError::OutcomeUnknown(Box::new(Unknown {
                cause,
                ..if_unknown
            }))
        })
        .map_value(move |request_id| (unknown, request_id))
    }

    /// Polls an accepted call's result; a failure is [`ApiError::OutcomeUnknown`] with its
    /// request id.
    fn retrieve(
        &self,
        unknown: Unknown,
        request_id: String,
        counts: Arc<Counts>,
    ) -> impl ApiFuture<Value = Value, Failure = ApiError> + use<> {
        let _ = counts.request_id.set(request_id.clone());
        let inner = Arc::clone(&self.inner);
        let post = Post {
            path: "/retrieve_future".to_owned(),
            idempotency_key: None,
            body: json!({ "request_id": request_id }),
        };
        let unknown = Unknown {
            request_id: Some(request_id),
            ..unknown
        };
        poll_until_ready(inner.policy.clone(), move |probe| {
            counts.polls.store(probe, Ordering::Relaxed);
            let (inner_for_reply, counts) = (Arc::clone(&inner), Arc::clone(&counts));
            let sent = Instant::now();
            inner.transport.attempt(post.clone(), move |reply| {
                // Asking again at once is right only if the server held this poll; an
                // immediate 408 waits the backoff instead, so polls never flood the server.
                let not_yet = || {
                    if sent.elapsed() >= inner_for_reply.long_poll_floor {
                        Progress::PendingFor(Duration::ZERO)
                    } else {
                        Progress::Pending
                    }
                };
                match reply {
                    Ok(reply) if reply.status == 408 => {
                        counts.queue_state_seen(&inner_for_reply, &reply.body);
                        Ok(not_yet())
                    }
                    Ok(reply) => check_result(counts.kind, reply.body).map(Progress::Ready),
                    // A poll held past the request timeout is "no answer yet" too, not a
                    // failure that would use up the attempts of a healthy job; and it was held
                    // (the whole timeout went by), so it is asked again at once even when the
                    // timeout is shorter than the floor.
                    Err(ApiError::TimedOut(_)) => Ok(Progress::PendingFor(Duration::ZERO)),
                    Err(error) => Err(error),
                }
            })
        })
        .when(classify)
        .map_failure(move |cause| ApiError::OutcomeUnknown(Box::new(Unknown { cause, ..unknown })))
    }
}

/// How long one request may take: `request_timeout`, or the policy's attempt timeout if that
/// is shorter.
fn attempt_timeout(policy: &RetryPolicy, request_timeout: Duration) -> Duration {
    policy
        .attempt_timeout()
        .map_or(request_timeout, |limit| limit.min(request_timeout))
}

/// What one submission attempt's reply says: the request id the server gave.
fn read_request_id(reply: Result<Reply, ApiError>) -> Result<String, ApiError> {
    let reply = reply?;
    if reply.status == 408 {
        return Err(ApiError::Status {
            code: 408,
            retry_after: None,
        });
    }
    match reply.body.get("request_id").and_then(Value::as_str) {
        Some(id) if !id.is_empty() => Ok(id.to_owned()),
        _ => Err(ApiError::Protocol(format!(
            "no request_id in {}",
            reply.body
        ))),
    }
}

/// A result must be an object of the call's kind with its field: `200 {}` or `null` is not one.
fn check_result(kind: &str, result: Value) -> Result<Value, ApiError> {
    let field = if kind == "optim_step" { "step" } else { "loss" };
    let fits = result.get("type").and_then(Value::as_str) == Some(kind)
        && result.get(field).is_some_and(Value::is_number);
    if fits {
        Ok(result)
    } else {
        Err(ApiError::Protocol(format!(
            "not a {kind} result (no \"type\": \"{kind}\" with a numeric \"{field}\"): {result}"
        )))
    }
}

/// What a call reports of its progress, written by its attempts.
#[derive(Debug)]
struct Counts {
    kind: &'static str,
    seq: u64,
    started: Instant,
    submit_attempts: AtomicU32,
    polls: AtomicU32,
    request_id: OnceLock<String>,
    /// The last queue state the server gave, and when it was last reported.
    queue: Mutex<(Option<String>, Option<Instant>)>,
}

impl Default for Counts {
    fn default() -> Self {
        Counts {
            kind: "",
            seq: 0,
            started: Instant::now(),
            submit_attempts: AtomicU32::new(0),
            polls: AtomicU32::new(0),
            request_id: OnceLock::new(),
            queue: Mutex::new((None, None)),
        }
    }
}

impl Counts {
    /// Records the queue state of a "try again" answer and reports it if the interval allows.
    fn queue_state_seen(&self, inner: &Inner, answer: &Value) {
        let Some(state) = answer.get("queue_state").and_then(Value::as_str) else {
            return;
        };
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        queue.0 = Some(state.to_owned());
        let Some((every, report)) = &inner.on_queue else {
            return;
        };
        if queue.1.is_some_and(|last| last.elapsed() < *every) {
            return;
        }
        queue.1 = Some(Instant::now());
        drop(queue);
        let update = QueueUpdate {
            kind: self.kind,
            seq: self.seq,
            request_id: self.request_id.get().map_or("", String::as_str),
            queue_state: state,
            polls: self.polls.load(Ordering::Relaxed),
            elapsed: self.started.elapsed(),
        };
        // A report that panics is the user's bug, not the call's: the panic hook has shown it,
        // and the poll goes on.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| report(&update)));
    }
}

/// One API call in flight: its submission (after every earlier call's), then the polling of its
/// result, running in the background from the moment the call was made. An [`ApiFuture`]: block
/// on it or await it. Dropping it starts no further submission or poll; a request already on
/// the wire cannot be called back, so a submission sent may still be accepted (and its job
/// run). [`detach`](ApiFutureExt::detach) lets the call run to the end unobserved.
#[must_use = "dropping a call cancels it; wait on it, .await it, or detach() it"]
pub struct Call {
    inner: AwaitableConcurrentFuture<Value, ApiError>,
    counts: Arc<Counts>,
    /// What identifies the call, for an outcome left unknown by a retry with no error to show.
    identity: Box<Unknown>,
    /// That unknown outcome went out: later waits get `Consumed`, as after any `Failed`.
    unknown_taken: bool,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl Call {
    /// `"forward_backward"` or `"optim_step"`.
    pub fn kind(&self) -> &'static str {
        self.counts.kind
    }

    /// The sequence number the call took when it was made.
    pub fn seq(&self) -> u64 {
        self.counts.seq
    }

    /// Submission attempts so far (1 if the first was accepted; 0 while an earlier call's
    /// submission is still going on).
    pub fn submit_attempts(&self) -> u32 {
        self.counts.submit_attempts.load(Ordering::Relaxed)
    }

    /// The server's request id, once the submission was accepted.
    pub fn request_id(&self) -> Option<&str> {
        self.counts.request_id.get().map(String::as_str)
    }

    /// Polls of the result so far.
    pub fn polls(&self) -> u32 {
        self.counts.polls.load(Ordering::Relaxed)
    }

    /// The queue state of the server's last "try again" answer, if there was one.
    pub fn queue_state(&self) -> Option<String> {
        let queue = self
            .counts
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        queue.0.clone()
    }

    /// Time since the call was made.
    pub fn elapsed(&self) -> Duration {
        self.counts.started.elapsed()
    }

    /// The call's outcome as the SDK reports it. A retry or poll that ran out with no error to
    /// show (every attempt cut off by the attempt timeout, or the policy's deadline reached)
    /// ends with `DeadlineExceeded`; once a submission went out, the server may have accepted
    /// it, so that is an unknown outcome too, which [`TrainingClient::recover`] can fetch. A
    /// `Failed` like any other: the first wait gets it, later ones `Consumed`.
    fn reported(
        &mut self,
        outcome: Result<Value, Error<ApiError>>,
    ) -> Result<Value, Error<ApiError>> {
        let sent = self.submit_attempts() > 0 || self.request_id().is_some();
        match outcome {
            Err(Error::DeadlineExceeded) if sent && self.unknown_taken => Err(Error::Consumed),
            Err(Error::DeadlineExceeded) if sent => {
                self.unknown_taken = true;
                Err(Error::Failed(ApiError::OutcomeUnknown(Box::new(Unknown {
                    request_id: self.request_id().map(str::to_owned),
                    cause: ApiError::TimedOut(
                        "no answer within the attempt timeout, or the deadline passed".to_owned(),
                    ),
                    ..(*self.identity).clone()
                }))))
            }
            outcome => outcome,
        }
    }
}

impl ApiFuture for Call {
    type Value = Value;
    type Failure = ApiError;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<Value, Error<ApiError>>> {
        let outcome = self.inner.try_result()?;
        Some(self.reported(outcome))
    }

    fn peek_failed(&mut self) -> Option<bool> {
        if self.unknown_taken {
            return Some(false);
        }
        self.inner.peek_failed()
    }

    // The work runs in the background: a blocking wait only parks, as on any concurrent future.
    fn result(&mut self, timeout: impl Into<Option<Duration>>) -> Result<Value, Error<ApiError>> {
        let outcome = self.inner.result(timeout);
        self.reported(outcome)
    }

    fn result_deadline(&mut self, deadline: Instant) -> Result<Value, Error<ApiError>> {
        let outcome = self.inner.result_deadline(deadline);
        self.reported(outcome)
    }
}

impl Future for Call {
    type Output = Result<Value, Error<ApiError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.poll_outcome(cx);
        this.terminated |= polled.is_ready();
        polled
    }
}

impl apifuture::FusedFuture for Call {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Call");
        debug
            .field("kind", &self.counts.kind)
            .field("seq", &self.seq())
            .field("submit_attempts", &self.submit_attempts())
            .field("request_id", &self.request_id())
            .field("polls", &self.polls());
        // The future still holds the `DeadlineExceeded` the unknown outcome stood for.
        if self.unknown_taken {
            debug.field("state", &"taken");
        } else {
            debug.field("future", &self.inner);
        }
        debug.finish_non_exhaustive()
    }
}
