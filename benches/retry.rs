//! What `retry` costs when the first attempt succeeds, which is what nearly every call of an SDK
//! that wraps all its requests in a retry pays.
//!
//! Each group sets the wrapper beside the attempt it wraps, so the overhead is a difference of
//! two rows measured the same way: `apifuture_retry` against `bare` (an already-complete
//! [`apifuture::ready`] future, blocked on or awaited), and `backon` against `backon_bare`
//! (backon retries closures that return a `Result` or a plain future, so its bare attempt is
//! just calling the closure). Both retries follow the same schedule shape, 10 retries with
//! exponential backoff and jitter, though no row ever gets to sleep.
//!
//! backon's defaults make tokio its async sleeper; the `backon` dev-dependency turns them off
//! and its async row is handed `async_io::Timer`, the timer apifuture's own retry sleeps on. So
//! every row here runs without a tokio runtime, the async ones on `futures_lite::future::block_on`.
//!
//! Run with `cargo bench -p apifuture-benches --bench retry`; one group with e.g.
//! `cargo bench -p apifuture-benches --bench retry -- retry/async`.

mod common;

use std::time::Duration;

use apifuture::{ApiFuture, BoxError, Jitter, RetryPolicy, ready, retry};
use async_io::Timer;
use backon::{BlockingRetryable, ExponentialBuilder, Retryable};
use common::{async_loop, blocking_loop};
use criterion::{Criterion, criterion_group, criterion_main};

/// apifuture's schedule, spelled out although these are `RetryPolicy::new()`'s values, so that
/// the match with [`backon_policy`] can be checked by eye.
fn apifuture_policy() -> RetryPolicy {
    RetryPolicy::new()
        .with_max_attempts(11)
        .with_initial_delay(Duration::from_millis(500))
        .with_multiplier(2.0)
        .with_max_delay(Duration::from_secs(10))
        .with_jitter(Jitter::Shorten(0.25))
}

/// The same shape in backon's terms: `max_times` counts retries, not attempts. backon's jitter
/// lengthens where apifuture's shortens; only building it matters here, since nothing sleeps.
fn backon_policy() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_max_times(10)
        .with_min_delay(Duration::from_millis(500))
        .with_factor(2.0)
        .with_max_delay(Duration::from_secs(10))
        .with_jitter()
}

fn blocking(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry/blocking");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| ready::<u64, BoxError>(i).result(None).unwrap())
        })
    });
    // A caller keeps one policy and clones it per call, as `retry` takes it by value: the
    // clone is part of what a call costs.
    let policy = apifuture_policy();
    group.bench_function("apifuture_retry", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                retry(policy.clone(), move |_| ready::<u64, BoxError>(i))
                    .result(None)
                    .unwrap()
            })
        })
    });
    let backoff = backon_policy();
    // No `.sleep(..)`: the `std-blocking-sleep` feature's `thread::sleep` is backon's own
    // blocking default, and it is never reached here.
    group.bench_function("backon", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                (move || Ok::<u64, BoxError>(i))
                    .retry(backoff)
                    .call()
                    .unwrap()
            })
        })
    });
    group.bench_function("backon_bare", |b| {
        b.iter_custom(|iters| {
            blocking_loop(iters, |i| {
                let attempt = move || Ok::<u64, BoxError>(i);
                attempt().unwrap()
            })
        })
    });
    group.finish();
}

fn asynchronous(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry/async");
    group.bench_function("bare", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| async move {
                ready::<u64, BoxError>(i).await.unwrap()
            })
        })
    });
    let policy = apifuture_policy();
    group.bench_function("apifuture_retry", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let call = retry(policy.clone(), move |_| ready::<u64, BoxError>(i));
                async move { call.await.unwrap() }
            })
        })
    });
    let backoff = backon_policy();
    group.bench_function("backon", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let call = (move || async move { Ok::<u64, BoxError>(i) })
                    .retry(backoff)
                    .sleep(Timer::after);
                async move { call.await.unwrap() }
            })
        })
    });
    group.bench_function("backon_bare", |b| {
        b.iter_custom(|iters| {
            async_loop(iters, |i| {
                let attempt = move || async move { Ok::<u64, BoxError>(i) };
                async move { attempt().await.unwrap() }
            })
        })
    });
    group.finish();
}

criterion_group! {
    name = retry_overhead;
    // A ready retry takes well under a microsecond, so three seconds still cover millions of
    // calls per row, and the file finishes in about a minute.
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = blocking, asynchronous
}
criterion_main!(retry_overhead);
