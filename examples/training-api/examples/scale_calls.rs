//! Thousands of training calls in flight at once, per transport: the async one (hyper over
//! async-io, every call on apifuture's one background executor thread) beside the blocking one
//! (ureq on apifuture's pool). Reports wall time, the most threads the client process had, and
//! its peak resident memory.
//!
//! ```text
//! cargo run --release -p training-api --example scale_calls [-- CALLS]   # 10000 by default
//! ```
//!
//! The server (`training_api::async_server`, the same protocol served async) runs in a process
//! of its own, and each transport's client in another: the descriptors of 10,000 connections
//! on each side then fit under the usual per-process limit (20,000 on this project's machine;
//! the run prints the limit and stops early if it is too low), and each client's peak memory is
//! its own. Every call is ordered (a sequence number each) and held by the server for a while:
//! all of them are in flight at once.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use apifuture::{RetryPolicy, join_all};
use training_api::async_server::AsyncServer;
use training_api::client::TrainingClient;

/// How long each job takes, and how long the server holds a poll: every call is still in
/// flight when the last one is made.
const WORK_TIME: Duration = Duration::from_secs(3);
const LONG_POLL: Duration = Duration::from_secs(1);
const TAG: &str = "SCALE-CALLS";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [flag] if flag == "--serve" => serve(),
        [flag, transport, calls, base] if flag == "--client" => {
            client(transport, calls.parse().expect("a count"), base);
        }
        [] => parent(10_000),
        [calls] => parent(calls.parse().expect("a count of calls")),
        _ => {
            eprintln!("usage: scale_calls [CALLS]");
            std::process::exit(2);
        }
    }
}

fn parent(calls: usize) {
    let limit = descriptor_limit();
    println!(
        "{calls} ordered calls per transport, each job {WORK_TIME:?}, polls held up to {LONG_POLL:?}; descriptor limit {limit:?}"
    );
    if limit.is_some_and(|limit| limit < calls as u64 + 100) {
        println!(
            "the descriptor limit is below {calls} connections: raise it (ulimit -n) or ask for fewer calls"
        );
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut server = Command::new(&exe)
        .arg("--serve")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let base = lines
        .next()
        .and_then(Result::ok)
        .expect("the server's address");
    println!(
        "{:<9} {:>8} {:>10} {:>14} {:>12} {:>8}",
        "transport", "calls", "wall", "peak threads", "peak RSS", "failed"
    );
    for transport in ["async", "blocking"] {
        let output = Command::new(&exe)
            .args(["--client", transport, &calls.to_string(), &base])
            .output()
            .expect("run a client process");
        let stdout = String::from_utf8_lossy(&output.stdout);
        match stdout.lines().find_map(|line| line.strip_prefix(TAG)) {
            Some(result) => println!("{transport:<9}{result}"),
            None => println!(
                "{transport:<9} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
    // Closing its stdin stops the server.
    drop(server.stdin.take());
    let _ = server.wait();
}

fn serve() {
    let server = AsyncServer::start(WORK_TIME, LONG_POLL, 2);
    println!("{}", server.base_url());
    std::io::stdout().flush().expect("flush");
    // Until the parent closes our stdin.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    drop(server);
}

fn client(transport: &str, calls: usize, base: &str) {
    // Room for the server's hold and for many polls in a row: only the jobs' time counts.
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_millis(500))
        .with_deadline(Duration::from_secs(600));
    let request_timeout = LONG_POLL * 3;
    let client = match transport {
        "async" => TrainingClient::new(base, policy, request_timeout),
        _ => TrainingClient::new_blocking(base, policy, request_timeout),
    };
    let sampler = Sampler::start();
    let started = Instant::now();
    let mut made: Vec<_> = (0..calls)
        .map(|i| client.forward_backward(&[i as f64]))
        .collect();
    let outcomes = join_all(&mut made);
    let wall = started.elapsed();
    let failed = outcomes.iter().filter(|outcome| outcome.is_err()).count();
    if let Some(Err(error)) = outcomes.iter().find(|outcome| outcome.is_err()) {
        eprintln!("first failure: {error}");
    }
    let peak_threads = sampler.stop();
    println!(
        "{TAG} {calls:>8} {:>9.2}s {peak_threads:>14} {:>9.1} MiB {failed:>8}",
        wall.as_secs_f64(),
        peak_rss_kib() as f64 / 1024.0,
    );
}

/// Samples the process's thread count every 10 ms.
struct Sampler {
    stop: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<usize>,
}

impl Sampler {
    fn start() -> Sampler {
        let (stop, stopped) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let mut peak = 0;
            loop {
                peak = peak.max(threads());
                if stopped.recv_timeout(Duration::from_millis(10)).is_ok() {
                    return peak;
                }
            }
        });
        Sampler { stop, thread }
    }

    fn stop(self) -> usize {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or(0)
    }
}

/// The threads of this process (Linux: `/proc/self/task`).
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, Iterator::count)
}

/// The peak resident set of this process, in KiB (Linux: `VmHWM` in `/proc/self/status`).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The soft limit on open descriptors (Linux: `/proc/self/limits`).
fn descriptor_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits
        .lines()
        .find(|line| line.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}
