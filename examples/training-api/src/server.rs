//! The shared fake training API: a loopback HTTP server that behaves like the remote training
//! service an SDK built on `apifuture` talks to.
//!
//! The `training_client` example and the HTTP tests (`tests/http/`) both run against it, so the
//! example shows the client against the same server whose behaviour the tests pin down.
//!
//! # The protocol
//!
//! * `POST /forward_backward` and `POST /optim_step` take a JSON body and answer 200
//!   `{"request_id": "<id>"}` at once. A body with `"seq_id": <n>` (and optionally
//!   `"session_id": "<s>"`) is a training submission in sequence: the server accepts it only if
//!   `n` is above the last number it accepted for that session, answers 409 otherwise, and
//!   records the order in which it accepted them ([`TrainingServer::accepted`]). The job they start finishes after the work time
//!   ([`TrainingServer::set_work_time`], 30 ms by default). Its result is
//!   `{"type":"forward_backward","loss":<mean of the squares of the body's "batch" numbers,
//!   0 without any>}` or `{"type":"optim_step","step":<1 for the first optim_step job run, 2
//!   for the next…>}`.
//! * A submission carrying an `Idempotency-Key` header the server has already seen gets the
//!   request id issued the first time, and its job is not run again.
//! * `POST /retrieve_future` with `{"request_id": "<id>"}` long-polls for up to the long-poll
//!   time ([`TrainingServer::set_long_poll`], 50 ms by default), answering 200 with the result as
//!   soon as the job is done, or 408 `{"type":"try_again","queue_state":"<state>"}` if it is
//!   still running at the end of the long poll. While the queue state
//!   ([`TrainingServer::set_queue_state`]) is not `active`, no job finishes. An unknown (or [expired](TrainingServer::expire)) id gets 410
//!   `{"error":"unknown or expired request id"}`.
//!
//! Failures are injected on demand with [`TrainingServer::inject`], and counters
//! ([`TrainingServer::requests`], [`TrainingServer::jobs_run`],
//! [`TrainingServer::retrieve_calls`]) let a test prove what reached the server.
//!
//! # Why there is a relay in front of `tiny_http`
//!
//! `tiny_http` cannot drop a connection without answering: a `Request` dropped unanswered
//! sends `500 Internal Server Error`, and `Request::upgrade` writes a status line (with
//! `Connection: upgrade`) before it hands over the stream. Neither gives the client the
//! transport error that [`Fault::CloseAfterAccept`] must produce, and `tiny_http` never exposes
//! the socket itself. So clients connect to a small TCP relay that forwards bytes to `tiny_http`
//! and keeps a handle on each client socket; to close a connection the handler shuts that socket
//! down, and the `500` `tiny_http` writes afterwards goes nowhere.

// The example and the test each use a subset of this module.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tiny_http::{Header, Request, Response, Server};

/// Path of the forward-backward submission endpoint.
pub const FORWARD_BACKWARD: &str = "/forward_backward";
/// Path of the optimizer-step submission endpoint.
pub const OPTIM_STEP: &str = "/optim_step";
/// Path of the long-polling result endpoint.
pub const RETRIEVE_FUTURE: &str = "/retrieve_future";

/// Work time of a job unless [`TrainingServer::set_work_time`] changes it.
pub const DEFAULT_WORK_TIME: Duration = Duration::from_millis(30);
/// Long-poll time of `/retrieve_future` unless [`TrainingServer::set_long_poll`] changes it.
pub const DEFAULT_LONG_POLL: Duration = Duration::from_millis(50);
/// The service time the pipelining measurement of `examples/training_client.rs` uses.
pub const PIPELINE_WORK_TIME: Duration = Duration::from_millis(20);

/// A one-shot failure, queued with [`TrainingServer::inject`] and consumed by the next request
/// on its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and a small JSON error body
    /// (`{"error":"injected fault","status":<code>}`) without creating a job.
    Status(u16),
    /// Answer 429 `{"error":"rate limited"}` without creating a job, with the `Retry-After:
    /// <secs>` and/or `retry-after-ms: <ms>` headers that are `Some`.
    TooManyRequests {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: Option<u64>,
        /// Value of the `retry-after-ms` header, in milliseconds.
        retry_after_ms: Option<u64>,
    },
    /// Accept the request — read its body and, for a submission, create the job and register
    /// its idempotency key, so that a retry with the same key gets the same id — then close the
    /// connection without answering: the client sees EOF, a transport error, never a status.
    CloseAfterAccept,
    /// Sleep this long, then handle the request normally (so a submission's job is created only
    /// after the sleep).
    Slow(Duration),
    /// Read the body, then close the connection without creating a job: a request lost before
    /// the server accepted it.
    CloseBeforeAccept,
    /// Handle the request normally: a placeholder that lets a queue of faults skip requests.
    Pass,
    /// Answer with this status, raw body and extra headers, without creating a job.
    Answer {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Accept the request like [`Fault::CloseAfterAccept`], then write these raw bytes to the
    /// client instead of an HTTP response and close: a truncated body, a wrong `Content-Length`,
    /// a body past any limit.
    RawAfterAccept(Vec<u8>),
}

/// The fake training API, listening on `127.0.0.1` on a free port until it is dropped.
///
/// Every method takes `&self`: the server can be shared (e.g. in an `Arc`) with the threads of
/// a test while it runs.
pub struct TrainingServer {
    shared: Arc<Shared>,
    http: Arc<Server>,
    /// The address clients connect to: the relay's, not `tiny_http`'s.
    addr: SocketAddr,
    /// Takes requests from `tiny_http` and hands each to its own handler thread.
    dispatcher: Option<JoinHandle<()>>,
    /// Accepts client connections for the relay.
    acceptor: Option<JoinHandle<()>>,
}

impl TrainingServer {
    /// Starts the server on `127.0.0.1` on a free port; see [`base_url`](Self::base_url).
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound (this is test tooling: failing loudly is the point).
    pub fn start() -> TrainingServer {
        let http = Arc::new(Server::http("127.0.0.1:0").expect("bind the tiny_http server"));
        let upstream = http
            .server_addr()
            .to_ip()
            .expect("tiny_http listens on an IP address");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let shared = Arc::new(Shared::new());

        let dispatcher = {
            let (http, shared) = (Arc::clone(&http), Arc::clone(&shared));
            thread::Builder::new()
                .name("training-api-dispatch".into())
                .spawn(move || dispatch(&http, &shared))
                .expect("spawn the dispatcher")
        };
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("training-api-accept".into())
                .spawn(move || accept(&listener, upstream, &shared))
                .expect("spawn the acceptor")
        };

        TrainingServer {
            shared,
            http,
            addr,
            dispatcher: Some(dispatcher),
            acceptor: Some(acceptor),
        }
    }

    /// The URL to prefix the paths with, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets how long jobs submitted from now on take to finish (30 ms by default).
    pub fn set_work_time(&self, work_time: Duration) {
        self.shared.lock().work_time = work_time;
    }

    /// Sets how long `/retrieve_future` waits for a running job before answering 408
    /// (50 ms by default). Applies to the retrieve requests that arrive from now on.
    pub fn set_long_poll(&self, long_poll: Duration) {
        self.shared.lock().long_poll = long_poll;
    }

    /// Queues `fault` for the next request on `path` (e.g. `"/forward_backward"`; the leading
    /// slash is optional) that has not been given a fault yet. Faults on one path are consumed
    /// in the order they were injected, one per request.
    pub fn inject(&self, path: &str, fault: Fault) {
        self.shared
            .lock()
            .faults
            .entry(normalize_path(path))
            .or_default()
            .push_back(fault);
    }

    /// How many requests arrived on `path` (the leading slash is optional), whatever their
    /// method and outcome, faulted ones included.
    pub fn requests(&self, path: &str) -> usize {
        let state = self.shared.lock();
        state
            .requests
            .get(&normalize_path(path))
            .copied()
            .unwrap_or(0)
    }

    /// How many jobs of `kind` have run: `"forward_backward"` or `"optim_step"` (a leading slash
    /// is accepted too). A submission answered with an existing id through its idempotency key
    /// does not count.
    pub fn jobs_run(&self, kind: &str) -> usize {
        let kind = kind.trim_start_matches('/');
        self.shared.lock().jobs_run.get(kind).copied().unwrap_or(0)
    }

    /// How many jobs have run, of any kind.
    pub fn total_jobs_run(&self) -> usize {
        self.shared.lock().jobs_run.values().sum()
    }

    /// Plays a server restart: every open connection is cut at once (a held poll included, its
    /// client sees the connection reset), and for `down_for` every new connection is closed as
    /// soon as it is accepted. The jobs survive, as they would in a server whose queue outlives
    /// its processes.
    pub fn restart(&self, down_for: Duration) {
        self.shared.lock().down_until = Some(Instant::now() + down_for);
        let cut: Vec<Connection> = lock(&self.shared.connections)
            .drain()
            .map(|(_, c)| c)
            .collect();
        for connection in cut {
            connection.close();
        }
    }

    /// How many client connections are open now (the client has not closed its side).
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// The most client connections open at once so far, not counting overlaps shorter than
    /// `slack`: the relay hears of a client's close a moment after it happened, and may accept
    /// the client's next connection in between (a few milliseconds on a busy machine). An
    /// attempt that kept its connection while the next one ran would overlap it for as long
    /// as that attempt.
    pub fn max_open_connections(&self, slack: Duration) -> usize {
        let lifetimes = lock(&self.shared.lifetimes).clone();
        let now = Instant::now();
        let mut events: Vec<(Instant, i32)> = Vec::new();
        for (opened, closed) in lifetimes {
            let closed = closed.unwrap_or(now);
            let Some(last) = closed.checked_sub(slack) else {
                continue;
            };
            if last > opened {
                events.push((opened, 1));
                events.push((last, -1));
            }
        }
        // Closes before opens at the same instant.
        events.sort_by_key(|&(at, change)| (at, change));
        let (mut open, mut most) = (0, 0);
        for (_, change) in events {
            open += change;
            most = most.max(open);
        }
        most as usize
    }

    /// How many times a client closed its connection while the server was holding its poll:
    /// the client gave up on that poll (an attempt timeout) and the server heard of it.
    pub fn hangups_while_held(&self) -> usize {
        self.shared.lock().hangups_while_held
    }

    /// How many `/retrieve_future` requests named `request_id`, faulted ones included.
    pub fn retrieve_calls(&self, request_id: &str) -> usize {
        let state = self.shared.lock();
        state.retrieve_calls.get(request_id).copied().unwrap_or(0)
    }

    /// Sets the queue state that "try again" answers carry (`active` at first). While it is not
    /// `active`, no job finishes: a paused server.
    pub fn set_queue_state(&self, state: &str) {
        self.shared.lock().queue_state = state.to_owned();
        self.shared.changed.notify_all();
    }

    /// Finishes every job now (results become available at once).
    pub fn finish_all(&self) {
        let now = Instant::now();
        for job in self.shared.lock().jobs.values_mut() {
            job.done_at = job.done_at.min(now);
        }
        self.shared.changed.notify_all();
    }

    /// The training submissions the server accepted with a sequence number, as
    /// `(kind, seq_id)`, in the order it accepted them.
    pub fn accepted(&self) -> Vec<(String, u64)> {
        self.shared.lock().accepted.clone()
    }

    /// Forgets the job `request_id`, as a server does when a result expires: retrieving it
    /// answers 410 from now on. Returns whether the job was known.
    pub fn expire(&self, request_id: &str) -> bool {
        let known = self.shared.lock().jobs.remove(request_id).is_some();
        // A long poll waiting on this job must answer 410 now, not at the end of its wait.
        self.shared.changed.notify_all();
        known
    }
}

impl Drop for TrainingServer {
    fn drop(&mut self) {
        // Wake the long polls and `Slow` sleeps, so the handlers finish promptly.
        self.shared.lock().shutting_down = true;
        self.shared.changed.notify_all();

        // `unblock` makes the dispatcher's `recv` fail, which ends its loop; after that no
        // handler thread starts.
        self.http.unblock();
        join(self.dispatcher.take());
        // `accept` blocks; a connection of our own wakes it, and it sees `shutting_down`.
        // After that no relay thread starts.
        let _ = TcpStream::connect(self.addr);
        join(self.acceptor.take());

        // The relay threads block reading sockets that clients may keep open (connection
        // pools do), and a handler may be blocked reading a body a client never finishes:
        // shutting every socket down ends them all.
        for connection in lock(&self.shared.connections).values() {
            connection.close();
        }
        for thread in take_all(&self.shared.handlers) {
            join(Some(thread));
        }
        for thread in take_all(&self.shared.relays) {
            join(Some(thread));
        }
        // Dropping `self.http` now stops `tiny_http`'s own threads: its connections have all
        // seen EOF, and its `Drop` wakes its accept thread.
    }
}

/// State shared by the server handle, the dispatcher, the handlers and the relay.
struct Shared {
    state: Mutex<State>,
    /// Notified on shutdown and on expiry. Job completion needs no notification: a job is done
    /// at a known instant, and waiters wait until then at the latest.
    changed: Condvar,
    /// Handler threads, joined on drop.
    handlers: Mutex<Vec<JoinHandle<()>>>,
    /// Relay threads, joined on drop.
    relays: Mutex<Vec<JoinHandle<()>>>,
    /// Live relayed connections, keyed by the address `tiny_http` sees as the client's (the
    /// relay's end of the upstream connection), which is `Request::remote_addr`.
    connections: Mutex<HashMap<SocketAddr, Connection>>,
    /// Client connections whose client has not closed its side yet.
    open: AtomicUsize,
    /// When each client connection was accepted and when its client closed its side.
    lifetimes: Mutex<Vec<(Instant, Option<Instant>)>>,
}

/// What the server knows; one lock, so that each request sees and updates it atomically.
struct State {
    work_time: Duration,
    long_poll: Duration,
    queue_state: String,
    shutting_down: bool,
    /// The last sequence number accepted for each session.
    last_seq: HashMap<String, u64>,
    accepted: Vec<(String, u64)>,
    next_id: u64,
    /// The last step an `optim_step` job produced.
    optim_steps: u64,
    jobs: HashMap<String, Job>,
    /// Idempotency key → the request id issued for it.
    idempotency: HashMap<String, String>,
    faults: HashMap<String, VecDeque<Fault>>,
    requests: HashMap<String, usize>,
    retrieve_calls: HashMap<String, usize>,
    jobs_run: HashMap<&'static str, usize>,
    /// Connections (as `tiny_http` sees them) whose `/retrieve_future` is being held.
    holding: HashSet<SocketAddr>,
    /// Clients that closed their connection while its poll was being held.
    hangups_while_held: usize,
    /// Until then, the relay closes every connection it accepts: a restarting server.
    down_until: Option<Instant>,
}

/// A submitted job. Its result is computed at submission (so `jobs_run` and the optim step
/// counter move exactly once per run) and revealed once `done_at` has passed.
struct Job {
    done_at: Instant,
    result: Value,
}

/// Both sockets of one relayed connection.
struct Connection {
    client: TcpStream,
    upstream: TcpStream,
}

impl Connection {
    fn close(&self) {
        // Errors only mean the socket is already closed.
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

impl Shared {
    fn new() -> Shared {
        Shared {
            state: Mutex::new(State {
                work_time: DEFAULT_WORK_TIME,
                long_poll: DEFAULT_LONG_POLL,
                queue_state: "active".to_owned(),
                shutting_down: false,
                last_seq: HashMap::new(),
                accepted: Vec::new(),
                next_id: 0,
                optim_steps: 0,
                jobs: HashMap::new(),
                idempotency: HashMap::new(),
                faults: HashMap::new(),
                requests: HashMap::new(),
                retrieve_calls: HashMap::new(),
                jobs_run: HashMap::new(),
                holding: HashSet::new(),
                hangups_while_held: 0,
                down_until: None,
            }),
            changed: Condvar::new(),
            handlers: Mutex::new(Vec::new()),
            relays: Mutex::new(Vec::new()),
            connections: Mutex::new(HashMap::new()),
            open: AtomicUsize::new(0),
            lifetimes: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Waits on `changed` until `deadline` at the latest.
    fn wait_until<'a>(
        &self,
        state: MutexGuard<'a, State>,
        deadline: Instant,
    ) -> MutexGuard<'a, State> {
        let timeout = deadline.saturating_duration_since(Instant::now());
        self.changed
            .wait_timeout(state, timeout)
            .unwrap_or_else(PoisonError::into_inner)
            .0
    }

    /// Sleeps for `duration`, or less if the server shuts down meanwhile.
    fn sleep(&self, duration: Duration) {
        let deadline = Instant::now() + duration;
        let mut state = self.lock();
        while !state.shutting_down && Instant::now() < deadline {
            state = self.wait_until(state, deadline);
        }
    }

    /// Handles a submission to `kind`'s endpoint.
    fn submit(&self, kind: &'static str, body: &[u8], key: Option<String>) -> (u16, Value) {
        let Some(body) = parse_body(body) else {
            return (400, json!({ "error": "the body is not JSON" }));
        };
        let mut state = self.lock();
        // Looked up and registered under the same lock, so concurrent retries of one
        // submission cannot both run the job.
        if let Some(id) = key.as_ref().and_then(|key| state.idempotency.get(key)) {
            return (200, json!({ "request_id": id }));
        }
        if let Some(seq) = body.get("seq_id").and_then(Value::as_u64) {
            let session = body
                .get("session_id")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let last = state.last_seq.get(&session).copied().unwrap_or(0);
            if seq <= last {
                let error = format!("out of order: seq_id {seq} after {last}");
                return (409, json!({ "error": error }));
            }
            state.last_seq.insert(session, seq);
            state.accepted.push((kind.to_owned(), seq));
        }
        state.next_id += 1;
        let id = format!("req-{}", state.next_id);
        let result = if kind == "optim_step" {
            state.optim_steps += 1;
            json!({ "type": "optim_step", "step": state.optim_steps })
        } else {
            json!({ "type": "forward_backward", "loss": loss(&body) })
        };
        *state.jobs_run.entry(kind).or_default() += 1;
        let done_at = Instant::now() + state.work_time;
        state.jobs.insert(id.clone(), Job { done_at, result });
        if let Some(key) = key {
            state.idempotency.insert(key, id.clone());
        }
        (200, json!({ "request_id": id }))
    }

    /// Handles `/retrieve_future`, waiting up to the long-poll time if `long_poll`; while it
    /// waits, `peer`'s connection counts as held.
    fn retrieve(&self, body: &[u8], long_poll: bool, peer: Option<SocketAddr>) -> (u16, Value) {
        let Some(id) = request_id(body) else {
            return (
                400,
                json!({ "error": "the body must be {\"request_id\": \"<id>\"}" }),
            );
        };
        let mut state = self.lock();
        let wait = if long_poll {
            state.long_poll
        } else {
            Duration::ZERO
        };
        let deadline = Instant::now() + wait;
        if let Some(peer) = peer {
            state.holding.insert(peer);
        }
        let answer = loop {
            let Some(job) = state.jobs.get(&id) else {
                break (410, json!({ "error": "unknown or expired request id" }));
            };
            let now = Instant::now();
            let active = state.queue_state == "active";
            if active && now >= job.done_at {
                break (200, job.result.clone());
            }
            if now >= deadline || state.shutting_down {
                let queue_state = state.queue_state.clone();
                break (
                    408,
                    json!({ "type": "try_again", "queue_state": queue_state }),
                );
            }
            // Wake when the job is done, if that comes before the end of the long poll: the
            // answer goes out as soon as the result exists, as with a real long poll.
            let until = if active {
                deadline.min(job.done_at)
            } else {
                deadline
            };
            state = self.wait_until(state, until);
        };
        if let Some(peer) = peer {
            state.holding.remove(&peer);
        }
        answer
    }

    /// Answers a request that no fault stands in for. `long_poll` is false when the answer
    /// will not be sent (`CloseAfterAccept`), so there is no point in waiting.
    fn route(
        &self,
        request: &Request,
        path: &str,
        body: &[u8],
        key: Option<String>,
        long_poll: bool,
    ) -> (u16, Value) {
        let method = request.method();
        let endpoint = match path {
            FORWARD_BACKWARD | OPTIM_STEP | RETRIEVE_FUTURE => path,
            _ => return (404, json!({ "error": format!("no endpoint {path}") })),
        };
        if *method != tiny_http::Method::Post {
            return (405, json!({ "error": format!("{endpoint} takes POST") }));
        }
        match endpoint {
            FORWARD_BACKWARD => self.submit("forward_backward", body, key),
            OPTIM_STEP => self.submit("optim_step", body, key),
            _ => self.retrieve(body, long_poll, request.remote_addr().copied()),
        }
    }

    /// Writes `last_words` (raw bytes, not HTTP framed by `tiny_http`) to the client's socket of
    /// the relayed connection `tiny_http` saw as `peer`, then shuts that socket down.
    fn close_connection(&self, peer: Option<&SocketAddr>, last_words: &[u8]) {
        if let Some(connection) = peer.and_then(|peer| lock(&self.connections).remove(peer)) {
            // An error means the client has gone already, which is what closing achieves.
            let _ = (&connection.client).write_all(last_words);
            connection.close();
        }
    }
}

/// The dispatcher: a thread per request, so that long polls and `Slow` faults on some
/// connections never hold up the others.
fn dispatch(http: &Server, shared: &Arc<Shared>) {
    // `recv` fails once `unblock` is called on drop (or if accepting fails for good).
    while let Ok(request) = http.recv() {
        let handler_shared = Arc::clone(shared);
        let handler = thread::Builder::new()
            .name("training-api-handler".into())
            .spawn(move || handle(&handler_shared, request));
        // If no thread can be spawned, the request was dropped with the closure, which answers
        // 500: a fair answer from an overloaded server.
        if let Ok(handler) = handler {
            push_thread(&shared.handlers, handler);
        }
    }
}

/// Handles one request: counts it, applies the next fault for its path, or answers normally.
fn handle(shared: &Shared, mut request: Request) {
    let path = request.url().split('?').next().unwrap_or("").to_owned();
    // The body is read in full first, whatever happens next: `CloseAfterAccept` must have
    // accepted it, and an unread body would be left for `tiny_http` to skip.
    let mut body = Vec::new();
    if request.as_reader().read_to_end(&mut body).is_err() {
        // The client went away mid-body; there is nobody to answer.
        return;
    }
    let key = request
        .headers()
        .iter()
        .find(|header| header.field.equiv("Idempotency-Key"))
        .map(|header| header.value.as_str().to_owned());

    let fault = {
        let mut state = shared.lock();
        *state.requests.entry(path.clone()).or_default() += 1;
        if path == RETRIEVE_FUTURE
            && let Some(id) = request_id(&body)
        {
            *state.retrieve_calls.entry(id).or_default() += 1;
        }
        state.faults.get_mut(&path).and_then(VecDeque::pop_front)
    };

    match fault {
        None => {
            let (status, answer) = shared.route(&request, &path, &body, key, true);
            respond(request, status, &answer, &[]);
        }
        Some(Fault::Status(status)) => {
            let answer = json!({ "error": "injected fault", "status": status });
            respond(request, status, &answer, &[]);
        }
        Some(Fault::TooManyRequests {
            retry_after_secs,
            retry_after_ms,
        }) => {
            let mut headers = Vec::new();
            if let Some(secs) = retry_after_secs {
                headers.push(("Retry-After", secs.to_string()));
            }
            if let Some(ms) = retry_after_ms {
                headers.push(("retry-after-ms", ms.to_string()));
            }
            respond(request, 429, &json!({ "error": "rate limited" }), &headers);
        }
        Some(Fault::CloseAfterAccept) => {
            // Do the request's work (job, idempotency key), then cut the client's socket. The
            // `500` that `tiny_http` sends when `request` is dropped unanswered goes to a relay
            // that can no longer deliver it.
            let _ = shared.route(&request, &path, &body, key, false);
            shared.close_connection(request.remote_addr(), &[]);
            drop(request);
        }
        Some(Fault::RawAfterAccept(bytes)) => {
            let _ = shared.route(&request, &path, &body, key, false);
            shared.close_connection(request.remote_addr(), &bytes);
            drop(request);
        }
        Some(Fault::CloseBeforeAccept) => {
            shared.close_connection(request.remote_addr(), &[]);
            drop(request);
        }
        Some(Fault::Pass) => {
            let (status, answer) = shared.route(&request, &path, &body, key, true);
            respond(request, status, &answer, &[]);
        }
        Some(Fault::Answer {
            status,
            body,
            headers,
        }) => {
            let mut response = Response::from_string(body).with_status_code(status);
            for (name, value) in &headers {
                response.add_header(header(name, value));
            }
            let _ = request.respond(response);
        }
        Some(Fault::Slow(delay)) => {
            shared.sleep(delay);
            let (status, answer) = shared.route(&request, &path, &body, key, true);
            respond(request, status, &answer, &[]);
        }
    }
}

/// Sends `answer` as JSON with `status` and the extra `headers`.
fn respond(request: Request, status: u16, answer: &Value, headers: &[(&str, String)]) {
    let mut response = Response::from_string(answer.to_string())
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"));
    for (name, value) in headers {
        response.add_header(header(name, value));
    }
    // An error means the client has gone; there is nobody left to tell.
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

/// The relay's accept loop: each client connection gets its own connection to `tiny_http`.
fn accept(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.lock().shutting_down {
            // Woken by `Drop`'s own connection, or a client connecting too late.
            return;
        }
        let Ok(client) = client else { continue };
        let down = shared
            .lock()
            .down_until
            .is_some_and(|until| Instant::now() < until);
        if down {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        if let Err(error) = relay(client, upstream, shared) {
            // The client's socket has been dropped, which closes the connection: the client
            // sees a transport error, as it would from an overloaded server.
            eprintln!("training API relay: {error}");
        }
    }
}

/// Connects `client` to `tiny_http` and starts the threads copying the bytes both ways.
fn relay(client: TcpStream, upstream: SocketAddr, shared: &Arc<Shared>) -> io::Result<()> {
    let upstream = TcpStream::connect(upstream)?;
    // Requests and responses are small and latency matters (tests time long polls).
    client.set_nodelay(true)?;
    upstream.set_nodelay(true)?;
    let peer = upstream.local_addr()?;
    let connection = Connection {
        client: client.try_clone()?,
        upstream: upstream.try_clone()?,
    };
    // Registered before any byte is forwarded, so the handler of the first request finds it.
    lock(&shared.connections).insert(peer, connection);
    shared.open.fetch_add(1, Ordering::SeqCst);
    let lifetime = {
        let mut lifetimes = lock(&shared.lifetimes);
        lifetimes.push((Instant::now(), None));
        lifetimes.len() - 1
    };

    let (back_client, back_upstream) = (client.try_clone()?, upstream.try_clone()?);
    let relay_shared = Arc::clone(shared);
    let forward = thread::Builder::new()
        .name("training-api-relay".into())
        .spawn(move || {
            let back = thread::Builder::new()
                .name("training-api-relay".into())
                .spawn(move || {
                    let _ = io::copy(&mut &back_upstream, &mut &back_client);
                    // `tiny_http` closed the connection (or it was cut): nothing more can be
                    // answered on it, so the client's side closes entirely.
                    let _ = back_client.shutdown(Shutdown::Both);
                });
            let _ = io::copy(&mut &client, &mut &upstream);
            // The client closed its side (or the connection was cut).
            relay_shared.open.fetch_sub(1, Ordering::SeqCst);
            lock(&relay_shared.lifetimes)[lifetime].1 = Some(Instant::now());
            {
                let mut state = relay_shared.lock();
                if state.holding.contains(&peer) {
                    state.hangups_while_held += 1;
                }
            }
            // The client finished sending; responses may still be on their way back, so
            // only the upstream's write side closes.
            let _ = upstream.shutdown(Shutdown::Write);
            if let Ok(back) = back {
                let _ = back.join();
            }
            lock(&relay_shared.connections).remove(&peer);
        });
    match forward {
        Ok(forward) => {
            push_thread(&shared.relays, forward);
            Ok(())
        }
        Err(error) => {
            lock(&shared.connections).remove(&peer);
            shared.open.fetch_sub(1, Ordering::SeqCst);
            lock(&shared.lifetimes)[lifetime].1 = Some(Instant::now());
            Err(error)
        }
    }
}

/// The body as JSON; an empty body counts as `{}`.
fn parse_body(body: &[u8]) -> Option<Value> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Some(json!({}));
    }
    serde_json::from_slice(body).ok()
}

/// The `request_id` string of a `/retrieve_future` body.
fn request_id(body: &[u8]) -> Option<String> {
    let body: Value = serde_json::from_slice(body).ok()?;
    body.get("request_id")?.as_str().map(str::to_owned)
}

/// The mean of the squares of the numbers in the body's `batch` array; 0 without any.
fn loss(body: &Value) -> f64 {
    let numbers: Vec<f64> = body
        .get("batch")
        .and_then(Value::as_array)
        .map(|batch| batch.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    if numbers.is_empty() {
        return 0.0;
    }
    numbers.iter().map(|x| x * x).sum::<f64>() / numbers.len() as f64
}

fn normalize_path(path: &str) -> String {
    format!("/{}", path.trim_start_matches('/'))
}

/// Locks `mutex`, ignoring poisoning: a test thread that panicked while holding a lock must
/// not turn every later request into a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Records a thread to join on drop, forgetting those already finished (their results are
/// `()`, so nothing is lost) so that the list does not grow with every request.
fn push_thread(threads: &Mutex<Vec<JoinHandle<()>>>, thread: JoinHandle<()>) {
    let mut threads = lock(threads);
    threads.retain(|thread| !thread.is_finished());
    threads.push(thread);
}

fn take_all(threads: &Mutex<Vec<JoinHandle<()>>>) -> Vec<JoinHandle<()>> {
    std::mem::take(&mut *lock(threads))
}

fn join(thread: Option<JoinHandle<()>>) {
    if let Some(thread) = thread {
        // A panic in one of the server's threads has already been reported on stderr; the
        // server is going away, so there is nothing more to do with it.
        let _ = thread.join();
    }
}
