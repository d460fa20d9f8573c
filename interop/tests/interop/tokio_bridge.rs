//! The tokio bridge from `spawn_async`'s docs: a future that needs a tokio runtime runs on the
//! caller's runtime, raced against `Promise::cancelled`, and its outcome goes through a promise.
//! The returned future is then waited on like any other: blocking, or awaited off tokio.
#![cfg(not(miri))] // a real tokio runtime

use crate::common;

use std::sync::mpsc;
use std::time::Duration;

use apifuture::{ApiFuture, AwaitableConcurrentFuture, Error, promise, spawn_async};
use common::{TestError, on_two_executors};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

/// How long a test waits for something that should happen at once.
const GENEROUS: Duration = Duration::from_secs(30);

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// A request that only works inside a tokio runtime (tokio's timers need its reactor). It
/// answers once the test opens its gate: 0 is rejected.
async fn request(gate: oneshot::Receiver<u32>) -> Result<u32, TestError> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    match gate.await {
        Ok(0) => Err("rejected"),
        Ok(value) => Ok(value),
        Err(_) => Err("gate dropped"),
    }
}

/// Sends on its channel when dropped: tells the test that the tokio task has ended.
struct SignalOnDrop(mpsc::Sender<()>);

impl Drop for SignalOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(()); // the test may have stopped listening
    }
}

/// An SDK call bridged to tokio: the recipe, plus a guard in the task that signals its end.
/// Returns the future and the receiver of that signal.
fn call(
    runtime: &Handle,
    gate: oneshot::Receiver<u32>,
) -> (
    AwaitableConcurrentFuture<u32, TestError>,
    mpsc::Receiver<()>,
) {
    let (ended_tx, ended) = mpsc::channel();
    let guard = SignalOnDrop(ended_tx);

    let (p, f) = promise();
    runtime.spawn(async move {
        let _guard = guard;
        tokio::select! {
            _ = p.cancelled() => {}
            r = request(gate) => p.complete(r),
        }
    });
    (f, ended)
}

#[test]
fn spawn_async_alone_cannot_run_a_request_that_needs_tokio() {
    let (_open, gate) = oneshot::channel();
    let outcome = spawn_async(request(gate)).result(GENEROUS);
    let Err(Error::Panicked(message)) = outcome else {
        panic!("expected a panic outside tokio, got {outcome:?}");
    };
    assert!(message.contains("Tokio"), "{message}");
}

#[test]
fn the_value_arrives_blocking() {
    let runtime = runtime();
    let (open, gate) = oneshot::channel();
    let (mut future, ended) = call(runtime.handle(), gate);
    open.send(7).unwrap();
    assert_eq!(future.result(GENEROUS), Ok(7));
    ended.recv_timeout(GENEROUS).unwrap();

    let (open, gate) = oneshot::channel();
    let (mut future, _ended) = call(runtime.handle(), gate);
    open.send(0).unwrap();
    assert_eq!(future.result(GENEROUS), Err(Error::Failed("rejected")));
}

#[test]
fn the_value_arrives_awaited_off_tokio() {
    let runtime = runtime();
    on_two_executors(|| {
        let handle = runtime.handle().clone();
        async move {
            let (open, gate) = oneshot::channel();
            let (future, _ended) = call(&handle, gate);
            open.send(8).unwrap();
            assert_eq!(future.await, Ok(8));
        }
    });
}

#[test]
fn dropping_the_future_ends_the_tokio_task() {
    let runtime = runtime();
    // The gate stays shut: only a cancellation can end this request.
    let (_open, gate) = oneshot::channel();
    let (future, ended) = call(runtime.handle(), gate);
    drop(future);
    ended
        .recv_timeout(GENEROUS)
        .expect("dropping the future ends the tokio task");

    let (_open, gate) = oneshot::channel();
    let (mut future, ended) = call(runtime.handle(), gate);
    assert!(future.future().cancel());
    ended
        .recv_timeout(GENEROUS)
        .expect("cancelling the future ends the tokio task");
    assert_eq!(future.result(None), Err(Error::Cancelled));
}

#[test]
fn a_timed_out_wait_does_not_cancel_the_request() {
    let runtime = runtime();
    let (open, gate) = oneshot::channel();
    let (mut future, ended) = call(runtime.handle(), gate);
    assert_eq!(
        future.result(Duration::from_millis(10)),
        Err(Error::Timeout)
    );
    assert!(
        ended.try_recv().is_err(),
        "the request is still in flight after the timeout"
    );
    open.send(9).unwrap();
    assert_eq!(future.result(GENEROUS), Ok(9));

    on_two_executors(|| {
        let handle = runtime.handle().clone();
        async move {
            let (open, gate) = oneshot::channel();
            let (mut future, _ended) = call(&handle, gate);
            assert_eq!(
                future.result_async(Duration::from_millis(10)).await,
                Err(Error::Timeout)
            );
            open.send(10).unwrap();
            assert_eq!(future.await, Ok(10));
        }
    });
}

// ===== background_with: the SDK hands its lazy future to the caller's runtime =====

/// A retried SDK call whose attempts need tokio (its timers); counts the attempts made. The
/// first `failures` attempts fail.
fn tokio_only_retry(
    failures: u32,
    attempts: std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> impl apifuture::ApiFuture<Value = u32, Failure = TestError> + use<> {
    use std::sync::atomic::Ordering;
    let policy = apifuture::RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
    apifuture::retry(policy, move |attempt| {
        attempts.fetch_add(1, Ordering::SeqCst);
        apifuture::from_future(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            if attempt <= failures {
                Err("busy")
            } else {
                Ok(attempt)
            }
        })
    })
}

#[test]
fn background_alone_cannot_run_tokio_only_attempts() {
    use apifuture::ApiFutureExt;
    let attempts = std::sync::Arc::default();
    let outcome = tokio_only_retry(0, attempts).background().result(GENEROUS);
    let Err(Error::Panicked(message)) = outcome else {
        panic!("expected a panic outside tokio, got {outcome:?}");
    };
    assert!(message.contains("reactor"), "{message}");
}

#[test]
fn background_with_runs_tokio_only_futures_for_a_plain_thread_and_for_smol() {
    use apifuture::ApiFutureExt;
    let runtime = runtime();
    let attempts = std::sync::Arc::default();
    let handle = runtime.handle().clone();
    let mut call =
        tokio_only_retry(2, std::sync::Arc::clone(&attempts)).background_with(move |task| {
            handle.spawn(task);
        });
    assert_eq!(call.result(GENEROUS), Ok(3));
    assert_eq!(attempts.load(std::sync::atomic::Ordering::SeqCst), 3);

    on_two_executors(|| {
        let handle = runtime.handle().clone();
        async move {
            let attempts = std::sync::Arc::default();
            let call = tokio_only_retry(1, attempts).background_with(move |task| {
                handle.spawn(task);
            });
            assert_eq!(call.await, Ok(2));
        }
    });
}

#[test]
fn dropping_a_future_run_with_background_with_stops_the_attempts() {
    use apifuture::ApiFutureExt;
    use std::sync::atomic::Ordering;
    let runtime = runtime();
    let attempts = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let handle = runtime.handle().clone();
    // Fails for ever: only a drop can end it.
    let call =
        tokio_only_retry(u32::MAX, std::sync::Arc::clone(&attempts)).background_with(move |task| {
            handle.spawn(task);
        });
    let started = std::time::Instant::now();
    while attempts.load(Ordering::SeqCst) < 3 {
        assert!(
            started.elapsed() < GENEROUS,
            "the retry never ran in the background"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(call);
    // The task sees the cancellation at its next wake-up (a sleep of at most the policy's
    // backoff) and stops: the count settles.
    let mut last = attempts.load(Ordering::SeqCst);
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let now = attempts.load(Ordering::SeqCst);
        if now == last {
            break;
        }
        assert!(
            started.elapsed() < GENEROUS,
            "attempts went on after the drop"
        );
        last = now;
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        attempts.load(Ordering::SeqCst),
        last,
        "an attempt started after the drop"
    );
}

#[test]
fn a_spawner_that_drops_the_task_gives_abandoned() {
    use apifuture::ApiFutureExt;
    let attempts = std::sync::Arc::default();
    let mut dropped = tokio_only_retry(0, attempts).background_with(drop);
    assert_eq!(dropped.result(GENEROUS), Err(Error::Abandoned));

    let attempts = std::sync::Arc::default();
    let mut panicked =
        tokio_only_retry(0, attempts).background_with(|_| panic!("the runtime is gone"));
    assert_eq!(panicked.result(GENEROUS), Err(Error::Abandoned));

    // Eager futures need no task: the spawner is not called.
    let mut eager = apifuture::ready::<u32, TestError>(4)
        .background_with(|_| panic!("an eager future needs no task"));
    assert_eq!(eager.result(GENEROUS), Ok(4));
}

/// The recipe written out by hand: a tokio task racing `Promise::cancelled` against the
/// request stops once nobody waits.
#[test]
fn the_tokio_bridge_recipe_stops_work_nobody_waits_for() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    let (promise, future) = promise::<u32, apifuture::BoxError>();
    let (stopped, heard) = mpsc::channel();
    runtime.spawn(async move {
        tokio::select! {
            () = promise.cancelled() => stopped.send("stopped").unwrap(),
            () = tokio::time::sleep(Duration::from_secs(3600)) => promise.set_result(1),
        }
    });
    std::thread::sleep(Duration::from_millis(10));
    drop(future);
    assert_eq!(heard.recv_timeout(GENEROUS), Ok("stopped"));
    runtime.shutdown_timeout(GENEROUS);
}

/// As the crate docs say: timers run on the real clock, so tokio's paused test time, which
/// lets a tokio sleep of an hour end at once, does not shorten an apifuture timeout.
#[tokio::test(start_paused = true)]
async fn paused_tokio_time_does_not_move_apifuture_timers() {
    let (_promise, mut call) = promise::<u32, TestError>();
    let real = std::time::Instant::now();
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert!(real.elapsed() < GENEROUS, "tokio's time is not paused");
    let limit = Duration::from_millis(50);
    let real = std::time::Instant::now();
    assert_eq!(call.result_async(limit).await, Err(Error::Timeout));
    assert!(real.elapsed() >= limit, "the timeout ended early");
}
