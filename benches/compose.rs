//! Composition: a combinator over one future, one outcome shared by many waiters, and many
//! futures joined or waited on at once. Each group sets apifuture beside its peer from the
//! `futures` crate, measured in the same run and on the same executor
//! (`futures_lite::future::block_on`).
//!
//! - `combinators/ready_blocking` and `combinators/ready_async`: what a combinator adds to a
//!   future that is already complete, per future: made, blocked on with `result(None)` or
//!   `.await`ed, dropped. `ready` is `ready(v)` alone. `map` is `ready(v).map_value(f)` with
//!   `f` capturing a `u64`: `MapValue` stores its closure boxed (DESIGN.md section 4,
//!   `src/compose/map.rs`), so the difference between `map` and `ready` in the async group is
//!   that box's allocation and free plus the call through it (inside `catch_unwind`).
//!   `map_no_capture` is the same with a closure that captures nothing, for which `Box`
//!   allocates nothing: the call alone. `map_err` is `ready(v).map_failure(g)`, `g` capturing a
//!   `u64`; the value is `Ok`, so `g` is boxed and dropped but never called. `and_then` is
//!   `ready(v).then_call(|v| ready(v + k))`: a second ready future besides the box and the call,
//!   so set it against twice `ready`. In the blocking group `ready` and the combinators take
//!   `AwaitableConcurrentFuture`'s own `result`, which looks at the channel and returns;
//!   `ready_provided_result` is `ready(v)` behind a pass-through `ApiFuture` that keeps the
//!   trait's provided `result` (which clones the thread's waker before its first poll), so
//!   against `ready` it is the provided wait's own cost. `ready` skips the channel and the
//!   shared word that a producer's future has: `completed` and `completed_map` are `ready` and
//!   `map` over a promise's future completed before the wait, the rows to set against the
//!   peers, which pay a channel too. Peers: `futures_oneshot` is a `futures::channel::oneshot`
//!   receiver sent to before the wait, and `futures_oneshot_map` the same through
//!   `futures::FutureExt::map`, which stores its closure inline (no allocation); blocked on,
//!   each pays a fresh `futures::executor::block_on`, as in `benches/ready.rs`.
//! - `shared/async_N`: a fresh pending future shared by N async waiters, all polled once while
//!   pending, then completed from the same thread, which wakes every waiter. The whole cycle is
//!   timed: create, share, N handles, first poll, complete, wake, N outcomes. apifuture's
//!   `promise().into_shared()` against `futures::channel::oneshot` + `FutureExt::shared`, both
//!   joined by `futures::future::join_all` (under 30 futures, it polls them in place).
//!   `futures_over_apifuture` is `futures::future::Shared` over the apifuture promise, and
//!   `apifuture_over_futures` is `SharedFuture` over the futures oneshot (through a
//!   small `ApiFuture` adapter in `benches/futures_oneshot`): the two sharing layers on one
//!   source.
//! - `shared/ready_N`: the same with the future completed before anyone polls it.
//! - `join_all_async/*_10k`: joining 10,000 futures, already complete (`ready_10k`) or completed
//!   by another thread once the join has started (`cross_thread_10k`). `apifuture` is
//!   `join_all_async`; `futures_join_all_apifuture` is `futures::future::join_all` over the same
//!   apifuture futures, so the two joins differ and the futures do not; `futures_join_all_oneshot`
//!   is the natural peer, `futures::future::join_all` over `futures::channel::oneshot` receivers.
//! - `wait_all/*_10k`: blocking until 10,000 futures are done, with
//!   `wait(.., ReturnWhen::AllCompleted)` or by waiting on each in turn (`result(None)`), the
//!   futures completed before (`ready_10k`) or by another thread (`blocking_10k`). `wait` only
//!   looks; the sequential row also takes each outcome, which is what it is compared against in
//!   practice (a caller who waits for all of them this way).
//!
//! In the 10k groups making the futures (and, for the blocking rows, dropping what is left of
//! them) happens outside the clock, and each reported time is for the whole batch of 10,000. In
//! the cross-thread rows the clock starts just before the batch of completing ends is handed to
//! a producer thread that lives for the whole group, and stops when the consumer has every
//! outcome (or `wait` returns); the producer's finishing its batch is awaited outside the clock.
//!
//! Run with `cargo bench -p apifuture-benches --bench compose`; one group with e.g.
//! `cargo bench -p apifuture-benches --bench compose -- wait_all/blocking_10k`, the combinator groups with
//! `cargo bench -p apifuture-benches --bench compose -- combinators`. The cross-thread groups need two
//! cores to mean much, and are noisy on a shared machine.

// Each bench uses the shared loops it needs.
#[allow(dead_code)]
mod common;
mod futures_oneshot;

use std::future::Future;
use std::hint::black_box;
use std::iter;
use std::pin::{Pin, pin};
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, BoxError, Error, Promise, ReturnWhen,
};
use common::{async_loop, blocking_loop};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::channel::oneshot;
use futures::future::join_all;
use futures_lite::future::{block_on, poll_once};
use futures_oneshot::FuturesOneshot;

/// A future that passes everything through to the one it holds but keeps `ApiFuture`'s
/// provided `result`: the blocking wait that `MapValue`, `MapFailure` and `ThenCall` take.
#[derive(Debug)]
struct ProvidedWait<A> {
    inner: A,
    terminated: bool,
}

impl<A> ProvidedWait<A> {
    fn new(inner: A) -> Self {
        ProvidedWait {
            inner,
            terminated: false,
        }
    }
}

impl<A: ApiFuture> apifuture::FusedFuture for ProvidedWait<A> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl<A: ApiFuture> ApiFuture for ProvidedWait<A> {
    type Value = A::Value;
    type Failure = A::Failure;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<A::Value, Error<A::Failure>>> {
        self.inner.try_result()
    }
}

impl<A: ApiFuture> Future for ProvidedWait<A> {
    type Output = Result<A::Value, Error<A::Failure>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.poll_outcome(cx);
        this.terminated |= polled.is_ready();
        polled
    }
}

/// A ready future of the combinator groups.
fn ready(value: u64) -> AwaitableConcurrentFuture<u64, BoxError> {
    apifuture::ready(value)
}

/// A promise's future, already completed with `value`: a channel and the shared word, as a
/// producer's future has (`ready` skips both).
fn completed(value: u64) -> AwaitableConcurrentFuture<u64, BoxError> {
    let (promise, future) = apifuture::promise();
    promise.set_result(value);
    future
}

/// `futures`' oneshot receiver, already sent `value`.
fn sent(value: u64) -> oneshot::Receiver<u64> {
    let (sender, receiver) = oneshot::channel();
    sender.send(value).unwrap();
    receiver
}

fn combinators_blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("combinators/ready_blocking");
    group.bench_function("ready", |b| {
        b.iter_custom(|iters| blocking_loop(iters, |i| ready(i).result(None).unwrap()))
    });
    group.bench_function("ready_provided_result", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| ProvidedWait::new(ready(i)).result(None).unwrap())
        })
    });
    group.bench_function("map", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                ready(i).map_value(move |v| v + i).result(None).unwrap()
            })
        })
    });
    group.bench_function("map_no_capture", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                ready(i).map_value(|v| v + 1).result(None).unwrap()
            })
        })
    });
    group.bench_function("map_err", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                ready(i)
                    .map_failure(move |error| format!("call {i}: {error}"))
                    .result(None)
                    .unwrap()
            })
        })
    });
    group.bench_function("and_then", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                ready(i)
                    .then_call(move |v| ready(v + i))
                    .result(None)
                    .unwrap()
            })
        })
    });
    group.bench_function("completed", |b| {
        b.iter_custom(|iters| blocking_loop(iters, |i| completed(i).result(None).unwrap()))
    });
    group.bench_function("completed_map", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                completed(i).map_value(move |v| v + i).result(None).unwrap()
            })
        })
    });
    group.bench_function("futures_oneshot", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| futures::executor::block_on(sent(i)).unwrap())
        })
    });
    group.bench_function("futures_oneshot_map", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let mapped =
                    futures::FutureExt::map(sent(i), move |received| received.map(|v| v + i));
                futures::executor::block_on(mapped).unwrap()
            })
        })
    });
    group.finish();
}

fn combinators_async(c: &mut Criterion) {
    let mut group = c.benchmark_group("combinators/ready_async");
    group.bench_function("ready", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let future = ready(i);
                async move { future.await.unwrap() }
            })
        })
    });
    group.bench_function("map", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let future = ready(i).map_value(move |v| v + i);
                async move { future.await.unwrap() }
            })
        })
    });
    group.bench_function("map_no_capture", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let future = ready(i).map_value(|v| v + 1);
                async move { future.await.unwrap() }
            })
        })
    });
    group.bench_function("map_err", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let future = ready(i).map_failure(move |error| format!("call {i}: {error}"));
                async move { future.await.unwrap() }
            })
        })
    });
    group.bench_function("and_then", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let future = ready(i).then_call(move |v| ready(v + i));
                async move { future.await.unwrap() }
            })
        })
    });
    group.bench_function("completed", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let future = completed(i);
                async move { future.await.unwrap() }
            })
        })
    });
    group.bench_function("completed_map", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let future = completed(i).map_value(move |v| v + i);
                async move { future.await.unwrap() }
            })
        })
    });
    group.bench_function("futures_oneshot", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let receiver = sent(i);
                async move { receiver.await.unwrap() }
            })
        })
    });
    group.bench_function("futures_oneshot_map", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let mapped =
                    futures::FutureExt::map(sent(i), move |received| received.map(|v| v + i));
                async move { mapped.await.unwrap() }
            })
        })
    });
    group.finish();
}

/// How many futures the join and wait groups handle per timed batch.
const BATCH: u64 = 10_000;

/// Every future here fails with nothing: `SharedFuture` needs a `Clone` error.
type Future10k = AwaitableConcurrentFuture<u64, ()>;

/// Times `iters` batches, each run by `body` on a fresh input from `setup`. Making the input,
/// dropping what `body` leaves of it, and `finish` (waiting for a producer thread to be done)
/// are not timed.
fn blocking_batches<S>(
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut body: impl FnMut(&mut S) -> u64,
    mut finish: impl FnMut(),
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let mut input = setup();
        let start = Instant::now();
        black_box(body(&mut input));
        total += start.elapsed();
        finish();
        drop(input);
    }
    total
}

/// [`blocking_batches`] for an async `body`, all batches inside one `block_on`. `body` owns its
/// input, as the joins do: dropping the joined futures is part of joining them.
fn async_batches<S, F>(
    iters: u64,
    mut setup: impl FnMut() -> S,
    mut body: impl FnMut(S) -> F,
    mut finish: impl FnMut(),
) -> Duration
where
    F: Future<Output = u64>,
{
    block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            let input = setup();
            let start = Instant::now();
            black_box(body(input).await);
            total += start.elapsed();
            finish();
        }
        total
    })
}

/// A thread that runs the batches of completions it is handed, one at a time.
///
/// It lives for a whole group, so spawning it is never timed, and it stops when dropped:
/// closing its job channel ends its loop, then it is joined.
struct Producer {
    jobs: Option<mpsc::Sender<Box<dyn FnOnce() + Send>>>,
    done: mpsc::Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Producer {
    fn start() -> Self {
        let (jobs, inbox) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let (done_tx, done) = mpsc::channel();
        let thread = thread::Builder::new()
            .name("producer".into())
            .spawn(move || {
                for job in inbox {
                    job();
                    if done_tx.send(()).is_err() {
                        break;
                    }
                }
            })
            .unwrap();
        Producer {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        }
    }

    fn hand(&self, job: impl FnOnce() + Send + 'static) {
        self.jobs
            .as_ref()
            .expect("the job channel lives until drop")
            .send(Box::new(job))
            .expect("the producer thread outlives its handle");
    }

    /// Blocks until the last job handed over has run to its end.
    fn wait_done(&self) {
        self.done.recv().expect("producer thread panicked");
    }

    /// Hands over a batch of promises, completed in order with their index.
    fn complete_promises(&self, promises: Vec<Promise<u64, ()>>) {
        self.hand(move || {
            for (value, promise) in (0..).zip(promises) {
                promise.set_result(value);
            }
        });
    }

    /// Hands over a batch of `futures` oneshot senders, sent to in order with their index.
    fn complete_senders(&self, senders: Vec<oneshot::Sender<u64>>) {
        self.hand(move || {
            for (value, sender) in (0..).zip(senders) {
                sender.send(value).expect("the receiver waits for it");
            }
        });
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            thread.join().expect("producer thread panicked");
        }
    }
}

fn ready_futures() -> Vec<Future10k> {
    (0..BATCH).map(apifuture::ready).collect()
}

fn sent_receivers() -> Vec<oneshot::Receiver<u64>> {
    (0..BATCH)
        .map(|value| {
            let (sender, receiver) = oneshot::channel();
            sender.send(value).unwrap();
            receiver
        })
        .collect()
}

fn promises() -> (Vec<Promise<u64, ()>>, Vec<Future10k>) {
    (0..BATCH).map(|_| apifuture::promise()).unzip()
}

fn channels() -> (Vec<oneshot::Sender<u64>>, Vec<oneshot::Receiver<u64>>) {
    (0..BATCH).map(|_| oneshot::channel()).unzip()
}

fn sum<E: std::fmt::Debug>(outcomes: Vec<Result<u64, E>>) -> u64 {
    outcomes.into_iter().map(Result::unwrap).sum()
}

/// One shared cycle of apifuture with `waiters` async waiters; `complete_first` completes the
/// future before the first poll instead of after it.
async fn apifuture_shared(waiters: usize, value: u64, complete_first: bool) -> u64 {
    let (promise, future) = apifuture::promise::<u64, ()>();
    let shared = ApiFutureExt::into_shared(future);
    let handles = iter::repeat_n(shared, waiters);
    let mut all = pin!(join_all(handles));
    if !complete_first {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    promise.set_result(value);
    sum(all.await)
}

/// [`apifuture_shared`] with `futures`' oneshot channel and `Shared`.
async fn futures_shared(waiters: usize, value: u64, complete_first: bool) -> u64 {
    let (sender, receiver) = oneshot::channel::<u64>();
    let shared = futures::FutureExt::shared(receiver);
    let mut all = pin!(join_all(iter::repeat_n(shared, waiters)));
    if !complete_first {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    sender.send(value).unwrap();
    sum(all.await)
}

/// `futures::future::Shared` over the same apifuture promise that [`apifuture_shared`] shares:
/// the two sharing layers compared on one source.
async fn futures_shared_over_apifuture(waiters: usize, value: u64, complete_first: bool) -> u64 {
    let (promise, future) = apifuture::promise::<u64, ()>();
    let shared = futures::FutureExt::shared(future);
    let mut all = pin!(join_all(iter::repeat_n(shared, waiters)));
    if !complete_first {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    promise.set_result(value);
    sum(all.await)
}

/// [`apifuture_shared`] over `futures`' oneshot channel, the source of [`futures_shared`]: the
/// two sharing layers compared on the futures crate's own channel.
async fn apifuture_shared_over_futures(waiters: usize, value: u64, complete_first: bool) -> u64 {
    let (sender, receiver) = oneshot::channel::<u64>();
    let shared = ApiFutureExt::into_shared(FuturesOneshot::new(receiver));
    let handles = iter::repeat_n(shared, waiters);
    let mut all = pin!(join_all(handles));
    if !complete_first {
        assert!(poll_once(all.as_mut()).await.is_none());
    }
    sender.send(value).unwrap();
    sum(all.await)
}

fn shared(c: &mut Criterion) {
    for (waiters, complete_first, name) in [
        (1, false, "shared/async_1"),
        (16, false, "shared/async_16"),
        (1, true, "shared/ready_1"),
        (16, true, "shared/ready_16"),
    ] {
        let mut group = c.benchmark_group(name);
        group.bench_function("apifuture", |b| {
            b.iter_custom(|iters| {
                async_loop(iters, |i| apifuture_shared(waiters, i, complete_first))
            })
        });
        group.bench_function("futures", |b| {
            b.iter_custom(|iters| async_loop(iters, |i| futures_shared(waiters, i, complete_first)))
        });
        group.bench_function("futures_over_apifuture", |b| {
            b.iter_custom(|iters| {
                async_loop(iters, |i| {
                    futures_shared_over_apifuture(waiters, i, complete_first)
                })
            })
        });
        group.bench_function("apifuture_over_futures", |b| {
            b.iter_custom(|iters| {
                async_loop(iters, |i| {
                    apifuture_shared_over_futures(waiters, i, complete_first)
                })
            })
        });
        group.finish();
    }
}

fn join_ready(c: &mut Criterion) {
    let mut group = c.benchmark_group("join_all_async/ready_10k");
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            async_batches(
                iters,
                ready_futures,
                |futures| async { sum(apifuture::join_all_async(futures).await) },
                || {},
            )
        })
    });
    group.bench_function("futures_join_all_apifuture", |b| {
        b.iter_custom(|iters| {
            async_batches(
                iters,
                ready_futures,
                |futures| async { sum(join_all(futures).await) },
                || {},
            )
        })
    });
    group.bench_function("futures_join_all_oneshot", |b| {
        b.iter_custom(|iters| {
            async_batches(
                iters,
                sent_receivers,
                |receivers| async { sum(join_all(receivers).await) },
                || {},
            )
        })
    });
    group.finish();
}

fn join_cross_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("join_all_async/cross_thread_10k");
    let producer = Producer::start();
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            async_batches(
                iters,
                promises,
                |(promises, futures)| {
                    producer.complete_promises(promises);
                    async { sum(apifuture::join_all_async(futures).await) }
                },
                || producer.wait_done(),
            )
        })
    });
    group.bench_function("futures_join_all_apifuture", |b| {
        b.iter_custom(|iters| {
            async_batches(
                iters,
                promises,
                |(promises, futures)| {
                    producer.complete_promises(promises);
                    async { sum(join_all(futures).await) }
                },
                || producer.wait_done(),
            )
        })
    });
    group.bench_function("futures_join_all_oneshot", |b| {
        b.iter_custom(|iters| {
            async_batches(
                iters,
                channels,
                |(senders, receivers)| {
                    producer.complete_senders(senders);
                    async { sum(join_all(receivers).await) }
                },
                || producer.wait_done(),
            )
        })
    });
    drop(producer);
    group.finish();
}

/// `wait(.., AllCompleted)` on every future: the number found done.
fn wait_all(futures: &mut [Future10k]) -> u64 {
    let (done, pending) = apifuture::wait(futures, None, ReturnWhen::AllCompleted);
    assert!(pending.is_empty());
    done.len() as u64
}

/// Waits on each future in turn, taking its outcome.
fn wait_each(futures: &mut [Future10k]) -> u64 {
    futures
        .iter_mut()
        .map(|future| future.result(None).unwrap())
        .sum()
}

fn wait_ready(c: &mut Criterion) {
    let mut group = c.benchmark_group("wait_all/ready_10k");
    group.bench_function("apifuture_wait", |b| {
        b.iter_custom(|iters| blocking_batches(iters, ready_futures, |f| wait_all(f), || {}))
    });
    group.bench_function("sequential_result", |b| {
        b.iter_custom(|iters| blocking_batches(iters, ready_futures, |f| wait_each(f), || {}))
    });
    group.finish();
}

fn wait_cross_thread(c: &mut Criterion) {
    let mut group = c.benchmark_group("wait_all/blocking_10k");
    let producer = Producer::start();
    for (name, body) in [
        ("apifuture_wait", wait_all as fn(&mut [Future10k]) -> u64),
        ("sequential_result", wait_each),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                blocking_batches(
                    iters,
                    promises,
                    |(promises, futures)| {
                        producer.complete_promises(std::mem::take(promises));
                        body(futures)
                    },
                    || producer.wait_done(),
                )
            })
        });
    }
    drop(producer);
    group.finish();
}

criterion_group! {
    name = shared_futures;
    // One shared cycle costs a microsecond or two: two seconds still cover a million of them.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    targets = shared
}
criterion_group! {
    name = many_futures;
    // A batch of 10,000 takes a millisecond or so; ten samples of two seconds each keep the
    // file within a few minutes on a small shared machine (setup, untimed, runs on top).
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10);
    targets = join_ready, join_cross_thread, wait_ready, wait_cross_thread
}
criterion_group! {
    name = combinators;
    // A ready future costs tens of nanoseconds, so three seconds cover millions of them (the
    // settings of benches/ready.rs).
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = combinators_blocking, combinators_async
}
criterion_main!(combinators, shared_futures, many_futures);
