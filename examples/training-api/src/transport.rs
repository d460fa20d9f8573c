//! How the client speaks HTTP, two ways.
//!
//! - [`Transport::Async`], the seed SDK's own architecture (it runs httpx on a background event
//!   loop): hyper 1.x over async-io, on apifuture's background executor thread. Each attempt
//!   opens its own connection and drives it itself: hyper's connection future is part of the
//!   attempt, so dropping the attempt (a retry giving up on it, an attempt timeout, a dropped
//!   call) closes the socket at once, and the server sees the client go. No tokio runtime
//!   anywhere (hyper itself links tokio's `sync` channels, not its runtime).
//! - [`Transport::Blocking`]: ureq, a small blocking client, on apifuture's `spawn` pool. A
//!   request on a pool thread cannot be stopped from outside: its own timeout, set to the
//!   attempt timeout, is what ends it.

use std::future::Future;
use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use apifuture::{ApiFutureExt, BoxApiFuture, from_future, spawn};
use async_io::Async;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use serde_json::Value;
use smol_hyper::rt::FuturesIo;

use crate::client::ApiError;

/// Answers larger than this are refused unread (by `Content-Length`) or cut off at the limit.
pub const MAX_BODY: u64 = 1 << 20;

/// What a POST got back that the caller reads further: a 2xx, or the long poll's 408.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
}

/// A request as the attempt sends it.
#[derive(Debug, Clone)]
pub struct Post {
    /// `/forward_backward`, `/retrieve_future`...
    pub path: String,
    pub idempotency_key: Option<String>,
    pub body: Value,
}

/// The client's HTTP: see the module docs.
#[derive(Clone, Debug)]
pub enum Transport {
    Async(AsyncHttp),
    Blocking { base: String, agent: ureq::Agent },
}

/// Where the async transport connects, and what it tells the server it is talking to.
#[derive(Clone, Debug)]
pub struct AsyncHttp {
    addr: SocketAddr,
    host: String,
}

impl Transport {
    /// hyper over async-io to `base` (`http://host:port`, plain HTTP).
    pub fn hyper(base: &str) -> Result<Transport, ApiError> {
        let host = base
            .strip_prefix("http://")
            .ok_or_else(|| ApiError::Protocol(format!("not an http:// URL: {base}")))?
            .trim_end_matches('/')
            .to_owned();
        let addr = host
            .to_socket_addrs()
            .map_err(|e| ApiError::Transport(format!("resolving {host}: {e}")))?
            .next()
            .ok_or_else(|| ApiError::Transport(format!("no address for {host}")))?;
        Ok(Transport::Async(AsyncHttp { addr, host }))
    }

    /// ureq to `base`, each request given up after `timeout`.
    pub fn ureq(base: &str, timeout: Duration) -> Transport {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // Every status is an answer to read (a 408's body carries the queue state).
            .http_status_as_error(false)
            .build();
        let agent = ureq::Agent::new_with_config(config);
        Transport::Blocking {
            base: base.trim_end_matches('/').to_owned(),
            agent,
        }
    }

    /// One attempt: sends `post`, and gives what `read` makes of the reply (or of the error).
    /// Blocking, it runs on the crate's pool; async, it is a lazy future that the call's
    /// background task drives.
    pub fn attempt<T, F>(&self, post: Post, read: F) -> BoxApiFuture<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(Result<Reply, ApiError>) -> Result<T, ApiError> + Send + 'static,
    {
        match self {
            Transport::Async(http) => {
                let http = http.clone();
                from_future(async move { read(http.post(&post).await) }).into_boxed()
            }
            Transport::Blocking { base, agent } => {
                let (url, agent) = (format!("{base}{}", post.path), agent.clone());
                spawn(move || read(post_blocking(&agent, &url, &post))).into_boxed()
            }
        }
    }
}

impl AsyncHttp {
    /// A fresh connection, one request on it, and the whole answer read: the connection lives
    /// exactly as long as this future.
    async fn post(&self, post: &Post) -> Result<Reply, ApiError> {
        let stream = Async::<TcpStream>::connect(self.addr)
            .await
            .map_err(|e| ApiError::Transport(format!("connecting to {}: {e}", self.host)))?;
        stream
            .get_ref()
            .set_nodelay(true)
            .map_err(|e| ApiError::Transport(format!("setting TCP_NODELAY: {e}")))?;
        // The API's answers are small: a 4 KiB read buffer (hyper's adaptive one starts at 8 KiB
        // and grows), so that ten thousand calls in flight hold 40 MiB of buffers, not 200.
        let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
            .read_buf_exact_size(Some(4096))
            .handshake(FuturesIo::new(stream))
            .await
            .map_err(|e| ApiError::Transport(format!("HTTP handshake: {e}")))?;
        let mut request = hyper::Request::post(post.path.as_str())
            .header(hyper::header::HOST, self.host.as_str())
            .header(hyper::header::CONTENT_TYPE, "application/json");
        if let Some(key) = &post.idempotency_key {
            request = request.header("Idempotency-Key", key.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(post.body.to_string())))
            .map_err(|e| ApiError::Protocol(format!("building the request: {e}")))?;
        let exchange = async move {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| ApiError::Transport(format!("sending the request: {e}")))?;
            let status = response.status().as_u16();
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .map(str::to_owned)
            };
            let retry_after = retry_after(header("retry-after-ms"), header("retry-after"));
            let declared = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
            if declared.is_some_and(|length| length > MAX_BODY) {
                return Err(too_large(declared));
            }
            let body = Limited::new(response.into_body(), MAX_BODY as usize)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        too_large(None)
                    } else {
                        ApiError::Transport(format!("reading the answer: {e}"))
                    }
                })?
                .to_bytes();
            let text = String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::Protocol("an answer that is not UTF-8".into()))?;
            reply(status, &text, retry_after)
        };
        drive_with(exchange, connection).await
    }
}

/// Runs `exchange` while driving `connection` on the same task: the connection is part of the
/// attempt, and goes (closing its socket) when the attempt does.
async fn drive_with<T>(
    exchange: impl Future<Output = Result<T, ApiError>>,
    connection: impl Future<Output = Result<(), hyper::Error>>,
) -> Result<T, ApiError> {
    let (mut exchange, mut connection) = (pin!(exchange), pin!(connection));
    let mut connection_open = true;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(outcome) = exchange.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        if !connection_open {
            return Poll::Pending;
        }
        let ended = match connection.as_mut().poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(ended) => ended,
        };
        connection_open = false;
        // The connection ended (the server closed it, or sent bytes past the answer): the
        // answer may be complete all the same, and then it wins.
        match (exchange.as_mut().poll(cx), ended) {
            (Poll::Ready(outcome), _) => Poll::Ready(outcome),
            (Poll::Pending, Err(e)) => {
                Poll::Ready(Err(ApiError::Transport(format!("connection: {e}"))))
            }
            (Poll::Pending, Ok(())) => Poll::Pending,
        }
    })
    .await
}

/// The answer, by status: a 2xx must be JSON; a 408's body is read if it is JSON (it carries
/// the queue state) and ignored otherwise; other statuses are errors.
fn reply(status: u16, text: &str, retry_after: Option<Duration>) -> Result<Reply, ApiError> {
    match status {
        200..=299 => {
            let body = serde_json::from_str(text).map_err(|e| {
                ApiError::Protocol(format!("HTTP {status} with a body that is not JSON ({e})"))
            })?;
            Ok(Reply { status, body })
        }
        408 => Ok(Reply {
            status,
            body: serde_json::from_str(text).unwrap_or(Value::Null),
        }),
        code => Err(ApiError::Status { code, retry_after }),
    }
}

fn too_large(declared: Option<u64>) -> ApiError {
    match declared {
        Some(length) => ApiError::Protocol(format!(
            "an answer of {length} bytes, over the {MAX_BODY}-byte limit"
        )),
        None => ApiError::Protocol(format!("an answer over the {MAX_BODY}-byte limit")),
    }
}

/// Reads `retry-after-ms` (milliseconds) or `Retry-After` (whole seconds). A value that is not
/// a number is ignored (the policy's backoff applies); one too large for `u64` too.
fn retry_after(ms: Option<String>, secs: Option<String>) -> Option<Duration> {
    if let Some(ms) = ms.and_then(|v| v.trim().parse().ok()) {
        return Some(Duration::from_millis(ms));
    }
    let secs: u64 = secs?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

// ===== the blocking flavour =====

/// One POST with ureq.
fn post_blocking(agent: &ureq::Agent, url: &str, post: &Post) -> Result<Reply, ApiError> {
    let mut request = agent.post(url).header("Content-Type", "application/json");
    if let Some(key) = &post.idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let mut response = match request.send(post.body.to_string()) {
        Ok(response) => response,
        Err(error) if timed_out(&error) => return Err(ApiError::TimedOut(error.to_string())),
        Err(error) => return Err(ApiError::Transport(error.to_string())),
    };
    let status = response.status().as_u16();
    let header = |name: &str| {
        let value = response.headers().get(name)?;
        value.to_str().ok().map(str::to_owned)
    };
    match status {
        200..=299 => {
            let declared = header("content-length").and_then(|v| v.trim().parse().ok());
            let text = read_body(response.body_mut(), declared)?;
            reply(status, &text, None)
        }
        408 => {
            let declared = header("content-length").and_then(|v| v.trim().parse().ok());
            let text = read_body(response.body_mut(), declared).unwrap_or_default();
            reply(408, &text, None)
        }
        code => Err(ApiError::Status {
            code,
            retry_after: retry_after(header("retry-after-ms"), header("retry-after")),
        }),
    }
}

/// Reads a body of at most [`MAX_BODY`] bytes: a larger one is refused without downloading it
/// (and, being a `Protocol` error, is not retried either). `declared`: its `Content-Length`.
fn read_body(body: &mut ureq::Body, declared: Option<u64>) -> Result<String, ApiError> {
    if declared.is_some_and(|length| length > MAX_BODY) {
        return Err(too_large(declared));
    }
    let mut bytes = Vec::new();
    body.as_reader()
        .take(MAX_BODY + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ApiError::Transport(format!("reading the answer: {e}")))?;
    if bytes.len() as u64 > MAX_BODY {
        return Err(too_large(None));
    }
    String::from_utf8(bytes).map_err(|_| ApiError::Protocol("an answer that is not UTF-8".into()))
}

/// Whether ureq gave up waiting: its own timeout, or a socket's.
fn timed_out(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::Timeout(_) => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ),
        _ => false,
    }
}
