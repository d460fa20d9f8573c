//! The ready path: a future is created, completed and waited on in the same thread.
//!
//! This is what an SDK pays on every call whose answer is already there (a cache hit, a mock, a
//! fast server), so it is the path where a wrapper around a oneshot channel must cost next to
//! nothing over the channel itself. Each group puts `apifuture` beside the raw channels it could
//! have been built on, waiting the same way (blocking or async, with or without a time limit).
//!
//! Rows named `*_try_recv` / `*_try_result` never wait: they are the price of the channel
//! alone. A peer that cannot wait in some mode without machinery this crate forbids (oneshot's
//! `async` feature, a tokio runtime on a plain thread) only has that row there.
//!
//! # The design's floor
//!
//! The `floor_oneshot_arc*` rows, in every group, are the floor of this design (DESIGN.md
//! section 6): oneshot's channel plus one `Arc`'d atomic state word shared with the producer.
//! With oneshot's own async receiver off limits (faern/oneshot#87, see `src/core/link.rs`), the
//! producer cannot reach an async waiter through the channel, so producer and consumer share a
//! second allocation that holds the waiter's wake-up; without unsafe code, state that either
//! end may drop last is an `Arc`, and a producer that must not miss a waiter announces its
//! completion with a read-modify-write whose result tells it whether to wake. Any no-unsafe
//! design on oneshot pays that much on every future, waiter or not. One round of the floor:
//!
//! - the channel, then the `Arc` and its clone for the producer;
//! - the producer sends, sets its bit with one `fetch_or`, and drops its `Arc`;
//! - the consumer takes the value (see below for how it waits), looks at the word once, and
//!   drops its `Arc` (the last reference: the free).
//!
//! In `floor_oneshot_arc` the consumer's look is a read-modify-write as well, one each side as
//! DESIGN.md counts it; in `floor_oneshot_arc_load` it is a load, closer to what apifuture's
//! consumer does on this path (it takes the value from the channel and never touches the
//! word), so that row is the stricter floor. The floors' channel carries a `u64` as the raw
//! rows' does; apifuture's carries `Result<u64, Error<BoxError>>` (24 bytes), its own cost. The
//! untimed groups' `floor_oneshot_arc_load_outcome` row is that floor carrying apifuture's
//! outcome type, to show how much of apifuture's distance from the floor is that payload. The
//! async group's two `_held` rows carry it too, their consumer moved whole into the awaited
//! block and used there through a reference, as a polled future is; they differ only in the
//! consumer's size: two pointers (16 bytes, passed in registers) or apifuture's future's 32.
//!
//! The blocking floors wait the way apifuture does: they look with `try_recv` first and block
//! in `recv()` or `recv_timeout(30 s)` only if nothing is there. Raw oneshot's `recv_timeout`
//! reads the clock before it looks (the `oneshot` row of the timed group pays that), which a
//! wait on a complete future must not do (DESIGN.md section 2), so the floor does not either.
//! In the async groups raw oneshot cannot `.await` without its `async` feature, which this
//! crate forbids, so the floors take the value with `try_recv` inside the awaited block, as
//! `oneshot_try_recv` does: next to apifuture's `.await` they lack the poll of one more future,
//! not a wait (a ready future's wait is a look at the channel in both). Raw oneshot's own speed
//! differs up to 3x between machines, so read apifuture against the floor of the same run
//! rather than against raw oneshot.
//!
//! Run with `cargo bench -p apifuture-benches --bench ready`; filter a group with e.g.
//! `cargo bench -p apifuture-benches --bench ready -- ready/async_timeout`.

mod common;

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, BoxError};
use async_io::Timer;
use common::{async_loop, blocking_loop};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use futures_lite::future;

/// Long enough never to fire: the timed groups measure what arming a limit costs, not a timeout.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Gives up on `wait` after [`TIMEOUT`], the way a runtime-free caller bounds a channel that has
/// no timed async receive. The timer future is created but never polled when `wait` is ready on
/// its first poll, so on this path it costs close to nothing.
async fn or_timer<T>(wait: impl Future<Output = Option<T>>) -> Option<T> {
    future::or(wait, async {
        Timer::after(TIMEOUT).await;
        None
    })
    .await
}

/// What apifuture's channel carries in these benches: the `_outcome` floor rows carry it too.
type Outcome = Result<u64, apifuture::Error<BoxError>>;

/// The bit the floor's producer sets when it has sent: `src/core/link.rs`'s `COMPLETE`.
const COMPLETE: usize = 1;
/// The bit the floor's consumer sets in `floor_oneshot_arc`, standing for the announcements of
/// apifuture's consumer (`ASYNC_WAITER`, `CLOSED`).
const CONSUMER: usize = 1 << 1;

/// The producing half of one floor round (see the module docs): the channel, the shared word
/// and the producer's clone of it; then the producer sends `value`, announces it with one
/// read-modify-write and drops its end. Returns what the consumer holds.
#[inline(always)]
fn floor_sent<T: std::fmt::Debug>(value: T) -> (oneshot::Receiver<T>, Arc<AtomicUsize>) {
    let (sender, receiver) = oneshot::channel();
    let word = Arc::new(AtomicUsize::new(0));
    let producer = Arc::clone(&word);
    sender.send(value).unwrap();
    producer.fetch_or(COMPLETE, Ordering::AcqRel);
    drop(producer);
    (receiver, word)
}

/// The consumer's last step of a floor round, once it has its value: one look at the word
/// (`look`), then its `Arc` dropped, which frees the word.
#[inline(always)]
fn floor_taken(word: Arc<AtomicUsize>, look: impl FnOnce(&AtomicUsize) -> usize) {
    let seen = look(&word);
    assert!(seen & COMPLETE != 0, "the producer announced its value");
    drop(word);
}

/// The consumer's look in `floor_oneshot_arc`: a read-modify-write.
#[inline(always)]
fn announce(word: &AtomicUsize) -> usize {
    word.fetch_or(CONSUMER, Ordering::AcqRel)
}

/// The consumer's look in `floor_oneshot_arc_load`: a load.
#[inline(always)]
fn load(word: &AtomicUsize) -> usize {
    word.load(Ordering::Acquire)
}

/// The design's floor rows of a blocking group: `wait` takes the value out of the channel,
/// looking first and blocking in the group's receive only if nothing is there.
fn blocking_floors(
    group: &mut BenchmarkGroup<'_, WallTime>,
    wait: impl Fn(oneshot::Receiver<u64>) -> u64 + Copy,
) {
    group.bench_function("floor_oneshot_arc", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (receiver, word) = floor_sent(i);
                let value = wait(receiver);
                floor_taken(word, announce);
                value
            })
        })
    });
    group.bench_function("floor_oneshot_arc_load", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (receiver, word) = floor_sent(i);
                let value = wait(receiver);
                floor_taken(word, load);
                value
            })
        })
    });
}

/// The design's floor rows of an async group: raw oneshot cannot `.await` here (its `async`
/// feature is forbidden), so the awaited block takes the value with `try_recv`.
fn async_floors(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("floor_oneshot_arc", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (receiver, word) = floor_sent(i);
                async move {
                    let value = receiver.try_recv().unwrap();
                    floor_taken(word, announce);
                    value
                }
            })
        })
    });
    group.bench_function("floor_oneshot_arc_load", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (receiver, word) = floor_sent(i);
                async move {
                    let value = receiver.try_recv().unwrap();
                    floor_taken(word, load);
                    value
                }
            })
        })
    });
}

/// The consumer of the `_held` floors: the floor's two pointers and `PAD` more words. With
/// `PAD = 2` it is as large as apifuture's future (32 bytes: its channel, its link, its state and
/// its `FusedFuture` flag); with `PAD = 0` it is two pointers, which Rust passes in registers;
/// `PAD = 1` is the size the future would have with its flag folded into its state.
struct HeldConsumer<const PAD: usize> {
    receiver: oneshot::Receiver<Outcome>,
    word: Arc<AtomicUsize>,
    pad: [usize; PAD],
}

/// A `_outcome` floor whose consumer is moved whole into the awaited block and used there through
/// a reference, as a polled future is: the two rows differ only in the consumer's size.
fn held_floor<const PAD: usize>(group: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (receiver, word) = floor_sent::<Outcome>(Ok(i));
                let consumer = HeldConsumer {
                    receiver,
                    word,
                    pad: [0; PAD],
                };
                async move {
                    let mut consumer = consumer;
                    let held = black_box(&mut consumer);
                    let outcome = held.receiver.try_recv().unwrap();
                    assert!(load(&held.word) & COMPLETE != 0);
                    black_box(&held.pad);
                    outcome.unwrap()
                }
            })
        })
    });
}

/// The non-waiting rows every group carries: the channels' non-waiting receives, which are the
/// price of a channel alone. Each group repeats them so that one report shows them side by side.
fn blocking_try_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("apifuture_try_result", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                promise.set_result(i);
                future.try_result().unwrap().unwrap()
            })
        })
    });
    group.bench_function("oneshot_try_recv", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = oneshot::channel();
                tx.send(i).unwrap();
                rx.try_recv().unwrap()
            })
        })
    });
    group.bench_function("tokio_try_recv", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, mut rx) = tokio::sync::oneshot::channel();
                tx.send(i).unwrap();
                rx.try_recv().unwrap()
            })
        })
    });
}

/// [`blocking_try_rows`] inside an async block: awaiting oneshot's receiver needs its `async`
/// feature, which this crate keeps off (faern/oneshot#87), so its non-waiting receive is the
/// best raw oneshot can do in the async groups.
fn async_try_rows(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.bench_function("apifuture_try_result", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                promise.set_result(i);
                async move { future.try_result().unwrap().unwrap() }
            })
        })
    });
    group.bench_function("oneshot_try_recv", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = oneshot::channel();
                tx.send(i).unwrap();
                async move { rx.try_recv().unwrap() }
            })
        })
    });
    group.bench_function("tokio_try_recv", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, mut rx) = tokio::sync::oneshot::channel();
                tx.send(i).unwrap();
                async move { rx.try_recv().unwrap() }
            })
        })
    });
}

fn blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("ready/blocking");
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                promise.set_result(i);
                future.result(None).unwrap()
            })
        })
    });
    group.bench_function("oneshot", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = oneshot::channel();
                tx.send(i).unwrap();
                rx.recv().unwrap()
            })
        })
    });
    blocking_floors(&mut group, |rx| match rx.try_recv() {
        Ok(value) => value,
        Err(_) => rx.recv().unwrap(),
    });
    group.bench_function("floor_oneshot_arc_load_outcome", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (receiver, word) = floor_sent::<Outcome>(Ok(i));
                let outcome = match receiver.try_recv() {
                    Ok(outcome) => outcome,
                    Err(_) => receiver.recv().unwrap(),
                };
                floor_taken(word, load);
                outcome.unwrap()
            })
        })
    });
    // `blocking_recv` panics inside a runtime; criterion's thread is a plain one, as an SDK
    // caller's would be.
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tx.send(i).unwrap();
                rx.blocking_recv().unwrap()
            })
        })
    });
    // The receiver is only a `Future`: blocking on it needs an executor, and a fresh
    // `block_on` per wait is what a blocking caller of this channel pays.
    group.bench_function("futures", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = futures::channel::oneshot::channel();
                tx.send(i).unwrap();
                futures::executor::block_on(rx).unwrap()
            })
        })
    });
    group.bench_function("flume", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = flume::bounded(1);
                tx.send(i).unwrap();
                rx.recv().unwrap()
            })
        })
    });
    blocking_try_rows(&mut group);
    group.finish();
}

fn blocking_timeout(c: &mut Criterion) {
    let mut group = c.benchmark_group("ready/blocking_timeout_30s");
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                promise.set_result(i);
                future.result(TIMEOUT).unwrap()
            })
        })
    });
    group.bench_function("oneshot", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = oneshot::channel();
                tx.send(i).unwrap();
                rx.recv_timeout(TIMEOUT).unwrap()
            })
        })
    });
    blocking_floors(&mut group, |rx| match rx.try_recv() {
        Ok(value) => value,
        Err(_) => rx.recv_timeout(TIMEOUT).unwrap(),
    });
    group.bench_function("futures_or_timer", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = futures::channel::oneshot::channel();
                tx.send(i).unwrap();
                futures::executor::block_on(or_timer(async { rx.await.ok() })).unwrap()
            })
        })
    });
    group.bench_function("flume", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = flume::bounded(1);
                tx.send(i).unwrap();
                rx.recv_timeout(TIMEOUT).unwrap()
            })
        })
    });
    blocking_try_rows(&mut group);
    group.finish();
}

fn asynchronous(c: &mut Criterion) {
    let mut group = c.benchmark_group("ready/async");
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (promise, future) = apifuture::promise::<u64, BoxError>();
                promise.set_result(i);
                async move { future.await.unwrap() }
            })
        })
    });
    async_floors(&mut group);
    group.bench_function("floor_oneshot_arc_load_outcome", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (receiver, word) = floor_sent::<Outcome>(Ok(i));
                async move {
                    let outcome = receiver.try_recv().unwrap();
                    floor_taken(word, load);
                    outcome.unwrap()
                }
            })
        })
    });
    // The 32-byte row stands for apifuture's future: the two stay the same size.
    assert_eq!(
        size_of::<HeldConsumer<2>>(),
        size_of::<apifuture::AwaitableConcurrentFuture<u64, BoxError>>()
    );
    held_floor::<0>(&mut group, "floor_oneshot_arc_load_outcome_held_16_bytes");
    held_floor::<1>(&mut group, "floor_oneshot_arc_load_outcome_held_24_bytes");
    held_floor::<2>(&mut group, "floor_oneshot_arc_load_outcome_held_32_bytes");
    // tokio's channel polls fine outside a tokio runtime; only its timers need one.
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                tx.send(i).unwrap();
                async move { rx.await.unwrap() }
            })
        })
    });
    group.bench_function("futures", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = futures::channel::oneshot::channel();
                tx.send(i).unwrap();
                async move { rx.await.unwrap() }
            })
        })
    });
    group.bench_function("flume", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = flume::bounded(1);
                tx.send(i).unwrap();
                async move { rx.recv_async().await.unwrap() }
            })
        })
    });
    async_try_rows(&mut group);
    group.finish();
}

fn asynchronous_timeout(c: &mut Criterion) {
    let mut group = c.benchmark_group("ready/async_timeout_30s");
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                promise.set_result(i);
                async move { future.result_async(TIMEOUT).await.unwrap() }
            })
        })
    });
    async_floors(&mut group);
    // `tokio::time::timeout` panics without a tokio runtime with timers, so this row alone runs
    // under tokio's own current-thread `block_on` (built once per sample, outside the clock).
    // The executor differs from the other rows; the channel and the timeout are tokio's.
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                let start = Instant::now();
                for i in 0..iters {
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    tx.send(black_box(i)).unwrap();
                    let value = tokio::time::timeout(TIMEOUT, rx).await.unwrap().unwrap();
                    black_box(value);
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("futures_or_timer", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = futures::channel::oneshot::channel();
                tx.send(i).unwrap();
                async move { or_timer(async { rx.await.ok() }).await.unwrap() }
            })
        })
    });
    group.bench_function("flume_or_timer", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = flume::bounded(1);
                tx.send(i).unwrap();
                async move {
                    or_timer(async { rx.recv_async().await.ok() })
                        .await
                        .unwrap()
                }
            })
        })
    });
    async_try_rows(&mut group);
    group.finish();
}

criterion_group! {
    name = ready;
    // Short runs: a ready wait takes tens of nanoseconds, so three seconds still cover millions
    // of waits per row, and both bench files finish in minutes on a small shared machine.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = blocking, blocking_timeout, asynchronous, asynchronous_timeout
}
criterion_main!(ready);
