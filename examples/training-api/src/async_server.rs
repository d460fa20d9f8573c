//! The same training API served async (hyper's HTTP/1 server over async-io, on a few smol
//! executor threads), for runs with thousands of calls in flight: a held long poll costs a task,
//! not a thread. Jobs, sequence numbers and idempotency keys as in [`crate::server`]; no fault
//! injection, no relay.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use async_io::{Async, Timer};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use serde_json::{Value, json};
use smol_hyper::rt::FuturesIo;

/// The server: listening on `127.0.0.1` on a free port until it is dropped.
pub struct AsyncServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<smol::channel::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

struct State {
    work_time: Duration,
    long_poll: Duration,
    next_id: u64,
    jobs: HashMap<String, (Instant, Value)>,
    idempotency: HashMap<String, String>,
    last_seq: HashMap<String, u64>,
    accepted: Vec<(String, u64)>,
    jobs_run: usize,
    connections: usize,
}

impl AsyncServer {
    /// Starts the server with `threads` executor threads; a job is done `work_time` after its
    /// submission, and a poll is held up to `long_poll`.
    ///
    /// # Panics
    ///
    /// If no loopback port can be bound or no thread started (this is test tooling).
    pub fn start(work_time: Duration, long_poll: Duration, threads: usize) -> AsyncServer {
        let listener = Async::<TcpListener>::bind(([127, 0, 0, 1], 0)).expect("bind");
        let addr = listener.get_ref().local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State {
            work_time,
            long_poll,
            next_id: 0,
            jobs: HashMap::new(),
            idempotency: HashMap::new(),
            last_seq: HashMap::new(),
            accepted: Vec::new(),
            jobs_run: 0,
            connections: 0,
        }));
        let executor = Arc::new(smol::Executor::new());
        let (stop, stopped) = smol::channel::bounded::<()>(1);
        executor
            .spawn(accept(listener, Arc::clone(&executor), Arc::clone(&state)))
            .detach();
        let threads = (0..threads.max(1))
            .map(|_| {
                let (executor, stopped) = (Arc::clone(&executor), stopped.clone());
                thread::Builder::new()
                    .name("training-api-async-server".into())
                    .spawn(move || {
                        let _ = async_io::block_on(executor.run(stopped.recv()));
                    })
                    .expect("start a server thread")
            })
            .collect();
        AsyncServer {
            addr,
            state,
            stop: Some(stop),
            threads,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Jobs run so far (a submission answered through its idempotency key runs none).
    pub fn jobs_run(&self) -> usize {
        lock(&self.state).jobs_run
    }

    /// The accepted submissions, `(kind, seq_id)`, in the order they were accepted.
    pub fn accepted(&self) -> Vec<(String, u64)> {
        lock(&self.state).accepted.clone()
    }

    /// Connections served so far.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }
}

impl Drop for AsyncServer {
    fn drop(&mut self) {
        // Dropping the sender ends every thread's `recv`.
        self.stop = None;
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn accept(
    listener: Async<TcpListener>,
    executor: Arc<smol::Executor<'static>>,
    state: Arc<Mutex<State>>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of descriptors, say: try again shortly rather than spin.
            Timer::after(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.get_ref().set_nodelay(true);
        lock(&state).connections += 1;
        let state = Arc::clone(&state);
        executor
            .spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let state = Arc::clone(&state);
                    async move { Ok::<_, Infallible>(handle(request, &state).await) }
                });
                // A client that goes away mid-request ends the connection: nothing to do.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(FuturesIo::new(stream), service)
                    .await;
            })
            .detach();
    }
}

async fn handle(request: Request<Incoming>, state: &Mutex<State>) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    let key = request
        .headers()
        .get("Idempotency-Key")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return answer(400, &json!({ "error": "unreadable body" })),
    };
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (status, value) = match path.as_str() {
        "/forward_backward" => submit(state, "forward_backward", &body, key),
        "/optim_step" => submit(state, "optim_step", &body, key),
        "/retrieve_future" => retrieve(state, &body).await,
        _ => (404, json!({ "error": format!("no endpoint {path}") })),
    };
    answer(status, &value)
}

fn answer(status: u16, value: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("a valid response")
}

fn submit(
    state: &Mutex<State>,
    kind: &'static str,
    body: &Value,
    key: Option<String>,
) -> (u16, Value) {
    let mut state = lock(state);
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
            return (
                409,
                json!({ "error": format!("out of order: {seq} after {last}") }),
            );
        }
        state.last_seq.insert(session, seq);
        state.accepted.push((kind.to_owned(), seq));
    }
    state.next_id += 1;
    let id = format!("req-{}", state.next_id);
    let result = match kind {
        "optim_step" => json!({ "type": kind, "step": state.next_id }),
        _ => json!({ "type": kind, "loss": 0.5 }),
    };
    let done_at = Instant::now() + state.work_time;
    state.jobs.insert(id.clone(), (done_at, result));
    state.jobs_run += 1;
    if let Some(key) = key {
        state.idempotency.insert(key, id.clone());
    }
    (200, json!({ "request_id": id }))
}

async fn retrieve(state: &Mutex<State>, body: &Value) -> (u16, Value) {
    let Some(id) = body.get("request_id").and_then(Value::as_str) else {
        return (400, json!({ "error": "no request_id" }));
    };
    let (done_at, long_poll) = {
        let state = lock(state);
        let Some((done_at, _)) = state.jobs.get(id) else {
            return (410, json!({ "error": "unknown request id" }));
        };
        (*done_at, state.long_poll)
    };
    let deadline = Instant::now() + long_poll;
    if done_at > Instant::now() {
        Timer::at(done_at.min(deadline)).await;
    }
    if Instant::now() < done_at {
        return (408, json!({ "type": "try_again", "queue_state": "active" }));
    }
    let state = lock(state);
    (
        200,
        state
            .jobs
            .get(id)
            .map_or(Value::Null, |(_, result)| result.clone()),
    )
}
