//! The cross-thread path: the consumer creates a future, hands its completing end to a
//! long-lived producer thread and waits; the producer completes it. One round trip per
//! iteration, so every wait really sleeps and is really woken.
//!
//! This is the SDK's normal case (a worker answers a request) and where the waking machinery
//! shows: parking and unparking a thread, registering and notifying an async waker. All peers
//! travel over the same `std::sync::mpsc` channel to the same kind of producer thread, so the
//! transport cost is identical and the differences are the oneshot channels' own.
//!
//! Run with `cargo bench -p apifuture-benches --bench handoff`. Expect noise: two threads ping-pong, and every
//! round trip goes through the OS scheduler.

mod common;

use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use apifuture::{ApiFuture, BoxError};
use common::{async_loop, blocking_loop};
use criterion::{Criterion, criterion_group, criterion_main};

/// Long enough never to fire: the timed rows measure arming a limit on a wait that sleeps.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A thread that completes whatever completing ends it is handed, with the value sent along.
///
/// It lives for a whole bench function (all its warm-up and samples), so spawning it is never
/// timed, and it stops when dropped: closing its job channel ends its loop, then it is joined, so
/// no thread from one row competes with the next.
struct Producer<S: Send + 'static> {
    jobs: Option<mpsc::Sender<(S, u64)>>,
    thread: Option<JoinHandle<()>>,
}

impl<S: Send + 'static> Producer<S> {
    fn start(mut complete: impl FnMut(S, u64) + Send + 'static) -> Self {
        let (jobs, inbox) = mpsc::channel::<(S, u64)>();
        let thread = thread::Builder::new()
            .name("producer".into())
            .spawn(move || {
                for (end, value) in inbox {
                    complete(end, value);
                }
            })
            .unwrap();
        Producer {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    fn hand(&self, end: S, value: u64) {
        self.jobs
            .as_ref()
            .expect("the job channel lives until drop")
            .send((end, value))
            .expect("the producer thread outlives its handle");
    }
}

impl<S: Send + 'static> Drop for Producer<S> {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take() {
            // A panic on the producer would have failed a send already; surface it anyway.
            thread.join().expect("producer thread panicked");
        }
    }
}

fn apifuture_producer() -> Producer<apifuture::Promise<u64, BoxError>> {
    Producer::start(|promise: apifuture::Promise<u64, BoxError>, value| promise.set_result(value))
}

fn tokio_producer() -> Producer<tokio::sync::oneshot::Sender<u64>> {
    Producer::start(|tx: tokio::sync::oneshot::Sender<u64>, value| tx.send(value).unwrap())
}

fn futures_producer() -> Producer<futures::channel::oneshot::Sender<u64>> {
    Producer::start(|tx: futures::channel::oneshot::Sender<u64>, value| tx.send(value).unwrap())
}

fn flume_producer() -> Producer<flume::Sender<u64>> {
    Producer::start(|tx: flume::Sender<u64>, value| tx.send(value).unwrap())
}

fn blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("handoff/blocking");

    let producer = apifuture_producer();
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                producer.hand(promise, i);
                future.result(None).unwrap()
            })
        })
    });
    // An SDK call usually carries a limit: this is the same wait through the timed path.
    group.bench_function("apifuture_timeout_30s", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                producer.hand(promise, i);
                future.result(TIMEOUT).unwrap()
            })
        })
    });
    drop(producer);

    let producer = Producer::start(|tx: oneshot::Sender<u64>, value| tx.send(value).unwrap());
    group.bench_function("oneshot", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = oneshot::channel();
                producer.hand(tx, i);
                rx.recv().unwrap()
            })
        })
    });
    drop(producer);

    let producer = tokio_producer();
    // Criterion's thread is outside any runtime, where `blocking_recv` is allowed.
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                producer.hand(tx, i);
                rx.blocking_recv().unwrap()
            })
        })
    });
    drop(producer);

    let producer = futures_producer();
    group.bench_function("futures", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = futures::channel::oneshot::channel();
                producer.hand(tx, i);
                futures::executor::block_on(rx).unwrap()
            })
        })
    });
    drop(producer);

    let producer = flume_producer();
    group.bench_function("flume", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let (tx, rx) = flume::bounded(1);
                producer.hand(tx, i);
                rx.recv().unwrap()
            })
        })
    });
    drop(producer);

    group.finish();
}

// Raw `oneshot` has no row here: awaiting its receiver needs its `async` feature, which this
// crate keeps off (faern/oneshot#87), and spinning on `try_recv` would measure a busy loop, not
// a wait that sleeps and is woken.
fn asynchronous(c: &mut Criterion) {
    let mut group = c.benchmark_group("handoff/async");

    let producer = apifuture_producer();
    group.bench_function("apifuture", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (promise, future) = apifuture::promise::<u64, BoxError>();
                producer.hand(promise, i);
                async move { future.await.unwrap() }
            })
        })
    });
    // A pending timed wait arms an async-io timer, which lives in async-io's reactor thread:
    // this row shows what that costs on top of the plain await.
    group.bench_function("apifuture_timeout_30s", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                producer.hand(promise, i);
                async move { future.result_async(TIMEOUT).await.unwrap() }
            })
        })
    });
    drop(producer);

    let producer = tokio_producer();
    group.bench_function("tokio", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = tokio::sync::oneshot::channel();
                producer.hand(tx, i);
                async move { rx.await.unwrap() }
            })
        })
    });
    drop(producer);

    let producer = futures_producer();
    group.bench_function("futures", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = futures::channel::oneshot::channel();
                producer.hand(tx, i);
                async move { rx.await.unwrap() }
            })
        })
    });
    drop(producer);

    let producer = flume_producer();
    group.bench_function("flume", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let (tx, rx) = flume::bounded(1);
                producer.hand(tx, i);
                async move { rx.recv_async().await.unwrap() }
            })
        })
    });
    drop(producer);

    group.finish();
}

criterion_group! {
    name = handoff;
    // A round trip costs microseconds; three seconds still give hundreds of thousands per row,
    // and the whole file stays within a couple of minutes on a small shared machine.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = blocking, asynchronous
}
criterion_main!(handoff);
