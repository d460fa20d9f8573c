//! A training-API client built on apifuture, as an SDK author would write it: every call
//! returns a future at once; the caller blocks on it or awaits it.
//!
//! A call is two phases. The submission (`POST /forward_backward`, `POST /optim_step`) is
//! retried under a [`RetryPolicy`] with one idempotency key per logical submission, so a retry
//! after a lost answer never runs the job twice. The server answers with a request id, which is
//! then polled (`POST /retrieve_future`) with [`poll_until_ready`] until the result is there.
//! HTTP goes through `ureq`, a small blocking client, so each request runs on apifuture's
//! [`spawn`] pool; nothing here needs an async runtime, yet the calls can be awaited anywhere.
#![allow(dead_code)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, ApiFutureExt, BoxApiFuture, Error, Progress, RetryDecision, RetryPolicy,
    poll_until_ready, retry, spawn,
};
use serde_json::{Value, json};

/// Why a request failed, as the SDK reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ApiError {
    /// The server answered with an error status; `retry_after` is its hint, if it gave one.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: the connection failed, was closed, or timed out.
    Transport(String),
    /// An answer that is not what the API promises.
    Protocol(String),
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Status { code, .. } => write!(f, "HTTP {code}"),
            ApiError::Transport(why) => write!(f, "transport error: {why}"),
            ApiError::Protocol(why) => write!(f, "unexpected answer: {why}"),
        }
    }
}

impl std::error::Error for ApiError {}

/// Hints longer than this are not honoured: the call fails instead of sleeping for minutes.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// How the SDK classifies a failed request: rate limits and overload are retried (after the
/// server's hint if it gave one), client errors are not.
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
            code: 408 | 409 | 429 | 500..=599,
            ..
        } => RetryDecision::Retry,
        ApiError::Status { .. } | ApiError::Protocol(_) => RetryDecision::Stop,
        ApiError::Transport(_) => RetryDecision::Retry,
    }
}

/// Reads `retry-after-ms` (milliseconds) or `Retry-After` (whole seconds).
fn retry_after(response: &ureq::Response) -> Option<Duration> {
    if let Some(ms) = response
        .header("retry-after-ms")
        .and_then(|v| v.trim().parse().ok())
    {
        return Some(Duration::from_millis(ms));
    }
    let secs: u64 = response.header("retry-after")?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// One POST with a JSON body; 2xx gives the JSON answer.
fn post(
    agent: &ureq::Agent,
    url: &str,
    key: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), ApiError> {
    let mut request = agent.post(url).set("Content-Type", "application/json");
    if let Some(key) = key {
        request = request.set("Idempotency-Key", key);
    }
    match request.send_string(&body.to_string()) {
        Ok(response) => {
            let status = response.status();
            let text = response
                .into_string()
                .map_err(|e| ApiError::Transport(e.to_string()))?;
            let json =
                serde_json::from_str(&text).map_err(|e| ApiError::Protocol(e.to_string()))?;
            Ok((status, json))
        }
        Err(ureq::Error::Status(code, response)) => {
            let retry_after = retry_after(&response);
            if code == 408 {
                // "not finished yet" on the long-poll endpoint: the caller reads it as pending.
                return Ok((408, json!({"type": "try_again"})));
            }
            Err(ApiError::Status { code, retry_after })
        }
        Err(ureq::Error::Transport(transport)) => Err(ApiError::Transport(transport.to_string())),
    }
}

/// The client: cheap to clone, shares one connection pool.
#[derive(Clone)]
pub struct TrainingClient {
    base: Arc<str>,
    agent: ureq::Agent,
    policy: RetryPolicy,
}

impl fmt::Debug for TrainingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrainingClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

static NEXT_KEY: AtomicU64 = AtomicU64::new(1);

impl TrainingClient {
    /// A client for the API at `base` (`http://host:port`), retrying under `policy`. Each HTTP
    /// request gives up after `request_timeout` (the attempt timeout of a slow answer).
    pub fn new(base: &str, policy: RetryPolicy, request_timeout: Duration) -> Self {
        let agent = ureq::AgentBuilder::new().timeout(request_timeout).build();
        TrainingClient {
            base: base.into(),
            agent,
            policy,
        }
    }

    /// Submits a forward-backward pass over `batch`; the future gives the server's result.
    pub fn forward_backward(&self, batch: &[f64]) -> Call {
        self.call("/forward_backward", json!({ "batch": batch }))
    }

    /// Submits an optimizer step; the future gives the server's result.
    pub fn optim_step(&self, learning_rate: f64) -> Call {
        self.call("/optim_step", json!({ "learning_rate": learning_rate }))
    }

    fn call(&self, path: &str, body: Value) -> Call {
        let key = format!(
            "key-{}-{}",
            std::process::id(),
            NEXT_KEY.fetch_add(1, Ordering::Relaxed)
        );
        let url = format!("{}{path}", self.base);
        let agent = self.agent.clone();
        let counts = Arc::new(Counts::default());
        let seen = Arc::clone(&counts);
        let submit = retry(self.policy.clone(), move |attempt| {
            seen.submit_attempts.store(attempt, Ordering::Relaxed);
            let (agent, url, key, body) = (agent.clone(), url.clone(), key.clone(), body.clone());
            spawn(move || {
                let (_, answer) = post(&agent, &url, Some(&key), &body)?;
                answer["request_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| ApiError::Protocol(format!("no request_id in {answer}")))
            })
        })
        .when(classify);
        let client = self.clone();
        let seen = Arc::clone(&counts);
        let inner = submit
            .and_then(move |request_id| {
                let _ = seen.request_id.set(request_id.clone());
                client.retrieve(request_id, seen)
            })
            .boxed();
        Call {
            inner,
            counts,
            started: Instant::now(),
        }
    }

    fn retrieve(
        &self,
        request_id: String,
        counts: Arc<Counts>,
    ) -> impl ApiFuture<Value = Value, Failure = ApiError> + use<> {
        let url = format!("{}/retrieve_future", self.base);
        let agent = self.agent.clone();
        let body = json!({ "request_id": request_id });
        poll_until_ready(self.policy.clone(), move |probe| {
            counts.polls.store(probe, Ordering::Relaxed);
            let (agent, url, body) = (agent.clone(), url.clone(), body.clone());
            spawn(move || {
                let (status, answer) = post(&agent, &url, None, &body)?;
                if status == 408 || answer["type"] == "try_again" {
                    // The server already held the request for its long-poll time: ask again now.
                    Ok(Progress::PendingFor(Duration::ZERO))
                } else {
                    Ok(Progress::Ready(answer))
                }
            })
        })
        .when(classify)
    }
}

/// What a call reports of its progress, written by its attempts.
#[derive(Debug, Default)]
struct Counts {
    submit_attempts: AtomicU32,
    polls: AtomicU32,
    request_id: OnceLock<String>,
}

/// One API call in flight: the submission's retry, then the polling of its result. An
/// [`ApiFuture`] of its own, driven by whoever waits on it; dropping it cancels the request in
/// flight and starts no further submission or poll.
#[must_use = "a call makes progress only while something waits on it"]
pub struct Call {
    inner: BoxApiFuture<Value, ApiError>,
    counts: Arc<Counts>,
    started: Instant,
}

impl Call {
    /// Submission attempts so far (1 if the first was accepted).
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

    /// Time since the call was made.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl ApiFuture for Call {
    type Value = Value;
    type Failure = ApiError;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<Value, Error<ApiError>>> {
        self.inner.try_result()
    }

    fn peek_failed(&mut self) -> Option<bool> {
        self.inner.peek_failed()
    }
}

impl Future for Call {
    type Output = Result<Value, Error<ApiError>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().poll_outcome(cx)
    }
}

impl fmt::Debug for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("submit_attempts", &self.submit_attempts())
            .field("request_id", &self.request_id())
            .field("polls", &self.polls())
            .finish_non_exhaustive()
    }
}
