//! Fixed-count loops of single scenarios, for counting instructions with callgrind: on a shared
//! machine whose timings move by 20% between runs, an instruction count is the figure that
//! holds still (it does not see stalls or cache misses, so the timed benches stay the
//! reference).
//!
//! ```text
//! cargo bench -p apifuture-benches --bench cycles                    # every scenario, timed, ns per cycle
//! cargo bench -p apifuture-benches --bench cycles -- shared 16 ready # one scenario
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/cycles-<hash> shared 1 pending 20000
//! ```
//!
//! Instructions per cycle are the difference of two runs (say 10,000 and 20,000 cycles)
//! divided by the difference in cycles, which takes out the start-up.
//!
//! Scenarios (the same cycles as `benches/compose.rs` and `benches/ready.rs`):
//! - `shared N ready|pending`, `futures_shared N ..`, `futures_over_apifuture N ..`: one
//!   future shared by N async waiters joined with `futures::future::join_all`, completed
//!   before the first poll (`ready`) or after it (`pending`); `apifuture_over_futures N ..` is
//!   `SharedFuture` over a `futures` oneshot;
//! - `await`, `futures_await` (the waiter count is ignored): one future made, polled once
//!   while pending (`pending`) or not (`ready`), completed, awaited;
//! - `blocking`: the same with `try_result` for the poll and a blocking `result(None)` for the
//!   await, on the calling thread (no executor).
//! - `join_all N ..`, `wait_all N ..`, `as_completed N ..`: N promises waited on together with
//!   `join_all_async`, `wait_async(.., AllCompleted)` or the `as_completed_async` stream,
//!   completed before the first poll (`ready`) or after it (`pending`); instructions per cycle
//!   of N futures (N = 1000 in the CHANGELOG's figures).

use std::future::Future;
use std::hint::black_box;
use std::iter;
use std::pin::pin;
use std::time::Instant;

mod futures_oneshot;

use apifuture::{ApiFutureExt, AwaitableConcurrentFuture, Promise, ReturnWhen};
use futures::channel::oneshot;
use futures::future::join_all;
use futures_lite::StreamExt;
use futures_lite::future::{block_on, poll_once};
use futures_oneshot::FuturesOneshot;

/// The scenarios, in the order the default run prints them.
const SCENARIOS: [&str; 10] = [
    "blocking",
    "shared",
    "futures_shared",
    "futures_over_apifuture",
    "apifuture_over_futures",
    "await",
    "futures_await",
    "join_all",
    "wait_all",
    "as_completed",
];

/// Cycles per scenario when run without a count.
const DEFAULT_CYCLES: u64 = 200_000;

async fn shared(waiters: usize, value: u64, pending: bool) -> u64 {
    let (promise, future) = apifuture::promise::<u64, ()>();
    let handles = iter::repeat_n(future.into_shared(), waiters);
    let mut all = pin!(join_all(handles));
    if pending {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    promise.set_result(value);
    all.await.into_iter().map(Result::unwrap).sum()
}

async fn futures_shared(waiters: usize, value: u64, pending: bool) -> u64 {
    let (sender, receiver) = oneshot::channel::<u64>();
    let mut all = pin!(join_all(iter::repeat_n(
        futures::FutureExt::shared(receiver),
        waiters
    )));
    if pending {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    sender.send(value).unwrap();
    all.await.into_iter().map(Result::unwrap).sum()
}

async fn futures_over_apifuture(waiters: usize, value: u64, pending: bool) -> u64 {
    let (promise, future) = apifuture::promise::<u64, ()>();
    let shared = futures::FutureExt::shared(future);
    let mut all = pin!(join_all(iter::repeat_n(shared, waiters)));
    if pending {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    promise.set_result(value);
    all.await.into_iter().map(Result::unwrap).sum()
}

async fn apifuture_over_futures(waiters: usize, value: u64, pending: bool) -> u64 {
    let (sender, receiver) = oneshot::channel::<u64>();
    let handles = iter::repeat_n(FuturesOneshot::new(receiver).into_shared(), waiters);
    let mut all = pin!(join_all(handles));
    if pending {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    sender.send(value).unwrap();
    all.await.into_iter().map(Result::unwrap).sum()
}

async fn await_one(value: u64, pending: bool) -> u64 {
    let (promise, future) = apifuture::promise::<u64, ()>();
    let mut waiting = pin!(future);
    if pending {
        assert!(poll_once(waiting.as_mut()).await.is_none());
    }
    promise.set_result(value);
    waiting.await.unwrap()
}

fn blocking_one(value: u64, pending: bool) -> u64 {
    use apifuture::ApiFuture;
    let (promise, mut future) = apifuture::promise::<u64, ()>();
    if pending {
        assert!(future.try_result().is_none());
    }
    promise.set_result(value);
    future.result(None).unwrap()
}

async fn futures_await(value: u64, pending: bool) -> u64 {
    let (sender, receiver) = oneshot::channel::<u64>();
    let mut waiting = pin!(receiver);
    if pending {
        assert!(poll_once(waiting.as_mut()).await.is_none());
    }
    sender.send(value).unwrap();
    waiting.await.unwrap()
}

/// `n` promises, and their futures.
type Promised = (
    Vec<Promise<u64, ()>>,
    Vec<AwaitableConcurrentFuture<u64, ()>>,
);

fn promises(n: usize) -> Promised {
    (0..n).map(|_| apifuture::promise::<u64, ()>()).unzip()
}

async fn join_all_n(n: usize, value: u64, pending: bool) -> u64 {
    let (promises, futures) = promises(n);
    let mut all = pin!(apifuture::join_all_async(futures));
    if pending {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    promises
        .into_iter()
        .for_each(|promise| promise.set_result(value));
    all.await.into_iter().map(Result::unwrap).sum()
}

async fn wait_all_n(n: usize, value: u64, pending: bool) -> u64 {
    let (promises, mut futures) = promises(n);
    let mut all = pin!(apifuture::wait_async(
        &mut futures,
        None,
        ReturnWhen::AllCompleted
    ));
    if pending {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    promises
        .into_iter()
        .for_each(|promise| promise.set_result(value));
    let (done, _) = all.await;
    done.len() as u64
}

async fn as_completed_n(n: usize, value: u64, pending: bool) -> u64 {
    let (promises, futures) = promises(n);
    let mut outcomes = apifuture::as_completed_async(futures, None);
    if pending {
        assert!(poll_once(outcomes.next()).await.is_none());
    }
    promises
        .into_iter()
        .for_each(|promise| promise.set_result(value));
    let mut total = 0;
    while let Some((_, outcome)) = outcomes.next().await {
        total += outcome.unwrap();
    }
    total
}

/// Runs `cycles` cycles of `scenario`; the nanoseconds per cycle, or `None` for an unknown
/// scenario.
fn run(scenario: &str, waiters: usize, pending: bool, cycles: u64) -> Option<f64> {
    Some(match scenario {
        "shared" => timed(cycles, |value| shared(waiters, value, pending)),
        "futures_shared" => timed(cycles, |value| futures_shared(waiters, value, pending)),
        "futures_over_apifuture" => timed(cycles, |value| {
            futures_over_apifuture(waiters, value, pending)
        }),
        "blocking" => timed_blocking(cycles, |value| blocking_one(value, pending)),
        "apifuture_over_futures" => timed(cycles, |value| {
            apifuture_over_futures(waiters, value, pending)
        }),
        "await" => timed(cycles, |value| await_one(value, pending)),
        "futures_await" => timed(cycles, |value| futures_await(value, pending)),
        "join_all" => timed(cycles, |value| join_all_n(waiters, value, pending)),
        "wait_all" => timed(cycles, |value| wait_all_n(waiters, value, pending)),
        "as_completed" => timed(cycles, |value| as_completed_n(waiters, value, pending)),
        _ => return None,
    })
}

/// Awaits `cycles` futures made by `cycle`, one after the other in one `block_on`; the
/// nanoseconds per cycle.
fn timed<F: Future<Output = u64>>(cycles: u64, mut cycle: impl FnMut(u64) -> F) -> f64 {
    let start = Instant::now();
    let total = block_on(async {
        let mut total = 0u64;
        for value in 0..cycles {
            total = total.wrapping_add(cycle(black_box(value)).await);
        }
        total
    });
    black_box(total);
    start.elapsed().as_nanos() as f64 / cycles as f64
}

/// Runs `cycles` cycles of a blocking `cycle` on this thread; the nanoseconds per cycle.
fn timed_blocking(cycles: u64, mut cycle: impl FnMut(u64) -> u64) -> f64 {
    let start = Instant::now();
    let mut total = 0u64;
    for value in 0..cycles {
        total = total.wrapping_add(cycle(black_box(value)));
    }
    black_box(total);
    start.elapsed().as_nanos() as f64 / cycles as f64
}

fn main() {
    // `cargo bench` passes `--bench`; a filter or criterion's options are not for this file.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|arg| !arg.starts_with("--"))
        .collect();
    if let [scenario, waiters, mode, rest @ ..] = args.as_slice() {
        let waiters = waiters.parse().unwrap_or(1);
        let cycles = rest
            .first()
            .and_then(|n| n.parse().ok())
            .unwrap_or(DEFAULT_CYCLES);
        match run(scenario, waiters, mode == "pending", cycles) {
            Some(ns) => println!("{scenario} {waiters} {mode}: {ns:.1} ns per cycle"),
            None => eprintln!("unknown scenario {scenario}; one of {SCENARIOS:?}"),
        }
        return;
    }
    for scenario in SCENARIOS {
        for waiters in [1, 16] {
            if waiters == 16 && (scenario.ends_with("await") || scenario == "blocking") {
                continue;
            }
            for mode in ["ready", "pending"] {
                let ns = run(scenario, waiters, mode == "pending", DEFAULT_CYCLES);
                println!(
                    "{scenario} {waiters} {mode}: {:.1} ns per cycle",
                    ns.unwrap_or(0.0)
                );
            }
        }
    }
}
