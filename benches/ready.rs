//! The ready path: a future is created, completed and waited on in the same thread.
//!
//! This is what an SDK pays on every call whose answer is already there (a cache hit, a mock, a
//! fast server), so it is the path where a wrapper around a oneshot channel must cost next to
//! nothing over the channel itself. Each group puts `apifuture` beside the raw channels it could
//! have been built on, waiting the same way (blocking or async, with or without a time limit).
//!
//! Rows named `*_try_recv` / `*_try_result` never wait: they are the floor, the price of the
//! channel alone. A peer that cannot wait in some mode without machinery this crate forbids
//! (oneshot's `async` feature, a tokio runtime on a plain thread) only has its floor there.
//!
//! Run with `cargo bench --bench ready`; filter a group with e.g.
//! `cargo bench --bench ready -- ready/async_timeout`.

mod common;

use std::hint::black_box;
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

/// The floor rows every group carries: the channels' non-waiting receives, which are the
/// price of a channel alone. Each group repeats them so that one report shows them side by side.
fn blocking_floors(group: &mut BenchmarkGroup<'_, WallTime>) {
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

/// [`blocking_floors`] inside an async block: awaiting oneshot's receiver needs its `async`
/// feature, which this crate keeps off (faern/oneshot#87), so its non-waiting receive is the
/// best raw oneshot can do in the async groups.
fn async_floors(group: &mut BenchmarkGroup<'_, WallTime>) {
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
    blocking_floors(&mut group);
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
    blocking_floors(&mut group);
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
    async_floors(&mut group);
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
    async_floors(&mut group);
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
