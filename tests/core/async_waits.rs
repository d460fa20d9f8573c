//! Async waits: `.await` and `result_async`, each under smol and futures-lite's `block_on`.

use crate::common;

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, Error, promise, ready, spawn};
use common::{DropCounter, TestError, ViaTrait, on_two_executors};

/// Completes the future from another thread a little later. Join the handle once the value
/// arrived (Miri wants every thread finished when the test ends).
fn complete_later<T: Send + 'static>(
    promise: apifuture::Promise<T, TestError>,
    value: T,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        promise.set_result(value);
    })
}

#[test]
fn await_gets_a_value_set_from_another_thread() {
    on_two_executors(|| async {
        let (promise, future) = promise::<u32, TestError>();
        let producer = complete_later(promise, 1);
        assert_eq!(future.await, Ok(1));
        producer.join().unwrap();
    });
}

#[test]
fn await_on_a_ready_future() {
    on_two_executors(|| async {
        assert_eq!(ready::<u32, TestError>(2).await, Ok(2));
        assert_eq!(
            apifuture::failed::<u32, TestError>("no").await,
            Err(Error::Failed("no"))
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn result_async_gets_a_value_that_arrives_in_time() {
    on_two_executors(|| async {
        let (promise, mut future) = promise::<u32, TestError>();
        let producer = complete_later(promise, 3);
        assert_eq!(future.result_async(Duration::from_secs(30)).await, Ok(3));
        producer.join().unwrap();
        assert_eq!(future.result_async(None).await, Err(Error::Consumed));
    });
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn an_async_timeout_loses_nothing_and_does_not_cancel() {
    on_two_executors(|| async {
        let (promise, mut future) = promise::<u32, TestError>();
        let started = Instant::now();
        assert_eq!(
            future.result_async(Duration::from_millis(5)).await,
            Err(Error::Timeout)
        );
        assert!(
            started.elapsed() >= Duration::from_millis(5),
            "the timer fired early"
        );
        assert!(
            !promise.is_cancelled(),
            "a timed-out wait must not cancel the work"
        );
        let producer = complete_later(promise, 4);
        assert_eq!(future.result_async(Duration::from_secs(30)).await, Ok(4));
        producer.join().unwrap();
    });
}

#[test]
fn dropping_a_pending_async_wait_leaves_the_future_waitable() {
    on_two_executors(|| async {
        let (promise, mut future) = promise::<u32, TestError>();
        {
            let mut wait = pin!(future.result_async(None));
            assert!(
                wait.as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
        }
        assert!(!promise.is_cancelled());
        let producer = complete_later(promise, 5);
        assert_eq!(future.await, Ok(5));
        producer.join().unwrap();
    });
}

#[test]
fn zero_and_max_timeouts() {
    on_two_executors(|| async {
        let (promise, mut future) = promise::<u32, TestError>();
        assert_eq!(
            future.result_async(Duration::ZERO).await,
            Err(Error::Timeout)
        );
        let producer = complete_later(promise, 6);
        assert_eq!(future.result_async(Duration::MAX).await, Ok(6));
        producer.join().unwrap();
        let mut done = ready::<u32, TestError>(7);
        assert_eq!(done.result_async(Duration::ZERO).await, Ok(7));
    });
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn a_dropped_producer_wakes_the_async_waiter_with_abandoned() {
    on_two_executors(|| async {
        let (promise, mut future) = promise::<u32, TestError>();
        let producer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            drop(promise);
        });
        assert_eq!(
            future.result_async(Duration::from_secs(30)).await,
            Err(Error::Abandoned)
        );
        producer.join().unwrap();
        assert_eq!(future.await, Err(Error::Abandoned));
    });
}

#[test]
fn a_dropped_producer_wakes_an_untimed_await() {
    on_two_executors(|| async {
        let (promise, future) = promise::<u32, TestError>();
        let producer = thread::spawn(move || drop(promise));
        assert_eq!(future.await, Err(Error::Abandoned));
        producer.join().unwrap();
    });
}

#[test]
fn a_panicking_spawn_closure_gives_panicked_to_the_async_waiter() {
    on_two_executors(|| async {
        let future = spawn(|| -> Result<u32, TestError> { panic!("kaboom") });
        assert_eq!(future.await, Err(Error::Panicked("kaboom".to_owned())));
    });
    common::retire_pool_threads();
}

#[test]
fn blocking_and_async_give_the_same_outcome() {
    for outcome in [Ok(1), Err("e")] {
        let (promise, mut blocking) = promise::<u32, TestError>();
        promise.complete(outcome);
        let blocking = blocking.result(None);
        let (promise, future) = apifuture::promise::<u32, TestError>();
        promise.complete(outcome);
        let awaited = futures_lite::future::block_on(future);
        let (promise, mut future) = apifuture::promise::<u32, TestError>();
        promise.complete(outcome);
        let timed = futures_lite::future::block_on(future.result_async(Duration::from_secs(1)));
        assert_eq!(blocking, awaited);
        assert_eq!(blocking, timed);
    }
}

#[test]
fn the_await_future_is_send_and_static() {
    fn spawnable<F: Future + Send + 'static>(_: &F) {}
    let (_promise, future) = promise::<String, apifuture::BoxError>();
    spawnable(&future);
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn an_awaited_future_can_be_spawned_as_a_task() {
    let (promise, future) = promise::<u32, TestError>();
    let task = smol::spawn(future);
    let producer = complete_later(promise, 8);
    assert_eq!(smol::block_on(task), Ok(8));
    producer.join().unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn a_value_awaited_or_not_is_dropped_once() {
    let counter = DropCounter::new();
    on_two_executors(|| {
        let counter = counter.clone();
        async move {
            let (promise, future) = promise::<common::Tracked, TestError>();
            let producer = complete_later(promise, counter.track(1));
            assert_eq!(future.await.unwrap().value, 1);
            producer.join().unwrap();
            let (promise, mut future) = apifuture::promise::<common::Tracked, TestError>();
            let _ = future.result_async(Duration::from_millis(1)).await;
            promise.set_result(counter.track(2));
            drop(future);
        }
    });
    counter.assert_all_dropped();
    assert_eq!(counter.created(), 4);
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn the_provided_async_waits_of_the_trait() {
    on_two_executors(|| async {
        let (promise, future) = promise::<u32, TestError>();
        let mut wrapped = ViaTrait::new(future);
        assert_eq!(
            wrapped.result_async(Duration::from_millis(2)).await,
            Err(Error::Timeout)
        );
        let producer = complete_later(promise, 9);
        assert_eq!(wrapped.await, Ok(9));
        producer.join().unwrap();
    });
}

#[test]
fn poll_ready_does_not_take_the_outcome() {
    let (promise, mut future) = promise::<u32, TestError>();
    let mut cx = Context::from_waker(Waker::noop());
    assert_eq!(future.poll_ready(&mut cx), Poll::Pending);
    assert_eq!(future.poll_ready(&mut cx), Poll::Pending);
    promise.set_result(10);
    assert_eq!(future.poll_ready(&mut cx), Poll::Ready(()));
    assert_eq!(future.poll_ready(&mut cx), Poll::Ready(()));
    assert_eq!(future.try_result(), Some(Ok(10)));
}

/// A million pending timed waits are a million of these (`benches/scale.rs`): a timed wait holds
/// its future's borrow and one timer, which carries the deadline once armed; no second copy of
/// the instant or the timeout beside it.
#[test]
fn a_timed_wait_is_a_borrow_and_one_timer() {
    let (_promise, mut future) = promise::<u64, TestError>();
    let wait = future.result_async(Duration::from_secs(30));
    let borrow_and_timer = size_of::<&mut u8>() + size_of::<smol::Timer>();
    // The `FusedFuture` flag fits in the padding after them.
    assert!(
        size_of_val(&wait) <= borrow_and_timer + size_of::<usize>(),
        "a timed wait is {} bytes, a borrow and a timer {borrow_and_timer}",
        size_of_val(&wait),
    );
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn a_timed_wait_polled_again_after_its_timeout_times_out_again_at_once() {
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let (producer, mut future) = promise::<u32, TestError>();
        let mut wait = future.result_async(Duration::from_millis(1));
        let first = futures_lite::future::block_on(&mut wait);
        // Polled again (a `select!` arm that lost, a hand-written loop): no second timer fires.
        let second = futures_lite::future::block_on(&mut wait);
        drop(wait);
        producer.set_result(1);
        let _ = done.send((first, second, future.result(Duration::ZERO)));
    });
    let waited = finished.recv_timeout(Duration::from_secs(30));
    assert_eq!(
        waited,
        Ok((Err(Error::Timeout), Err(Error::Timeout), Ok(1))),
        "the second poll never returned"
    );
}
