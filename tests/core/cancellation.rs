//! Cancellation: `cancel()`, dropping the future, and what the producer sees of both.

use crate::common;

use std::time::Duration;

use apifuture::{ApiFuture, Error, promise, ready, spawn};
use common::{DropCounter, TestError, on_two_executors};

#[test]
fn cancel_reaches_the_producer_and_sticks() {
    let (promise, mut future) = promise::<u32, TestError>();
    assert!(!future.future().cancelled());
    assert!(future.future().cancel());
    assert!(future.future().cancelled());
    assert!(
        future.future().cancel(),
        "a second cancel reports the same state"
    );
    assert!(promise.is_cancelled());
    assert!(future.done(), "cancelled counts as done");
    assert_eq!(future.result(None), Err(Error::Cancelled));
    assert_eq!(
        future.result(Duration::from_millis(1)),
        Err(Error::Cancelled)
    );
    assert_eq!(
        future.try_result(),
        Some(Err(Error::Cancelled)),
        "cancelled is a state"
    );
}

#[test]
fn completing_a_cancelled_future_drops_the_value_without_panicking() {
    let counter = DropCounter::new();
    let (promise, mut future) = promise::<common::Tracked, TestError>();
    assert!(future.future().cancel());
    promise.set_result(counter.track(1));
    counter.assert_all_dropped();
    assert!(matches!(future.result(None), Err(Error::Cancelled)));

    let (promise, mut future) = apifuture::promise::<u32, TestError>();
    assert!(future.future().cancel());
    promise.set_error("late");
    assert_eq!(future.result(None), Err(Error::Cancelled));
}

#[test]
fn cancel_after_completion_changes_nothing() {
    let mut future = ready::<u32, TestError>(1);
    assert!(!future.future().cancel());
    assert!(!future.future().cancelled());
    assert_eq!(future.result(None), Ok(1));
    assert!(!future.future().cancel(), "the outcome was taken");
    assert_eq!(future.result(None), Err(Error::Consumed));

    let (promise, mut future) = promise::<u32, TestError>();
    drop(promise);
    assert!(
        !future.future().cancel(),
        "an abandoned future has completed"
    );
    assert_eq!(future.result(None), Err(Error::Abandoned));
}

#[test]
fn a_wait_after_cancel_returns_cancelled_in_every_mode() {
    let (_promise, mut future) = promise::<u32, TestError>();
    future.future().cancel();
    assert_eq!(future.result(Duration::ZERO), Err(Error::Cancelled));
    on_two_executors(|| async {
        let (_promise, mut future) = promise::<u32, TestError>();
        future.future().cancel();
        assert_eq!(
            future.result_async(Duration::from_secs(30)).await,
            Err(Error::Cancelled)
        );
        assert_eq!(future.await, Err(Error::Cancelled));
    });
}

#[test]
fn dropping_the_future_tells_the_producer() {
    let (promise, future) = promise::<u32, TestError>();
    assert!(!promise.is_cancelled());
    drop(future);
    assert!(promise.is_cancelled());
    promise.set_result(1); // no panic, nobody receives it
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_timed_out_wait_is_not_a_cancellation() {
    let (promise, mut future) = promise::<u32, TestError>();
    assert_eq!(future.result(Duration::from_millis(1)), Err(Error::Timeout));
    assert!(!promise.is_cancelled());
    on_two_executors(|| async {
        let (producer, mut future) = apifuture::promise::<u32, TestError>();
        assert_eq!(
            future.result_async(Duration::from_millis(1)).await,
            Err(Error::Timeout)
        );
        assert!(!producer.is_cancelled());
    });
    drop(future);
    assert!(promise.is_cancelled());
}

#[test]
fn cancelling_a_running_spawn_lets_it_see_nothing_but_the_flag() {
    let (started_promise, mut started) = promise::<(), TestError>();
    let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    let mut job = spawn(move || {
        started_promise.set_result(());
        // Runs until the test has cancelled, however slow the machine.
        let _ = wait_for_go.recv();
        Ok::<_, TestError>(1)
    });
    started.result(Duration::from_secs(30)).unwrap();
    assert!(job.future().cancel());
    go.send(()).unwrap();
    assert_eq!(job.result(None), Err(Error::Cancelled));
    common::retire_pool_threads();
}

#[test]
fn the_cancelled_future_is_send_for_outcomes_that_are_not_sync() {
    fn send<F: std::future::Future + Send>(future: F) -> F {
        future
    }
    // `Cell` is `Send` but not `Sync`: the producer can still await its cancellation on
    // another thread's executor.
    let (producer, mut future) = apifuture::promise::<std::cell::Cell<u8>, &'static str>();
    let waiter = std::thread::spawn(move || {
        futures_lite::future::block_on(send(async move {
            // An owned future: no borrow of the promise is held across the await.
            let cancellation = producer.cancelled();
            let cancelled = futures_lite::future::or(
                async {
                    cancellation.await;
                    true
                },
                async {
                    futures_lite::future::pending::<()>().await;
                    false
                },
            )
            .await;
            // The promise is still ours to complete (or, here, drop).
            drop(producer);
            cancelled
        }))
    });
    assert!(future.future().cancel());
    assert!(waiter.join().unwrap());
}

#[test]
fn a_dropped_future_lets_go_of_its_waiters_waker() {
    use std::future::Future;
    use std::sync::Arc;
    use std::task::{Context, Waker};
    let counting = Arc::new(common::CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counting));
    let (promise, mut future) = promise::<u32, TestError>();
    let polled = std::pin::Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
    assert!(polled.is_pending());
    drop(waker);
    drop(future);
    assert!(promise.is_cancelled());
    assert_eq!(
        Arc::strong_count(&counting),
        1,
        "the producer's side kept the waker"
    );
    promise.set_result(1);
    assert_eq!(counting.0.load(std::sync::atomic::Ordering::SeqCst), 0);
}
