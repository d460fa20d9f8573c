//! Blocking waits: `result`, `result_deadline` and `try_result`, from plain threads.

use crate::common;

use std::thread;
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, Error, promise, ready, spawn};
use common::{DropCounter, TestError};

#[test]
fn result_waits_for_a_value_from_another_thread() {
    let (promise, mut future) = promise::<u32, TestError>();
    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(20));
        promise.set_result(7);
    });
    assert_eq!(future.result(None), Ok(7));
    producer.join().unwrap();
}

#[test]
fn result_with_timeout_gets_a_value_that_arrives_in_time() {
    let (promise, mut future) = promise::<u32, TestError>();
    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        promise.set_result(8);
    });
    assert_eq!(future.result(Duration::from_secs(30)), Ok(8));
    producer.join().unwrap();
}

#[test]
fn a_timeout_loses_nothing() {
    let (promise, mut future) = promise::<u32, TestError>();
    assert_eq!(future.result(Duration::from_millis(5)), Err(Error::Timeout));
    assert_eq!(future.result(Duration::ZERO), Err(Error::Timeout));
    assert!(!future.done());
    promise.set_result(1);
    assert_eq!(future.result(Duration::from_millis(5)), Ok(1));
}

#[test]
fn a_deadline_timeout_loses_nothing_either() {
    let (promise, mut future) = promise::<u32, TestError>();
    let deadline = Instant::now() + Duration::from_millis(5);
    assert_eq!(future.result_deadline(deadline), Err(Error::Timeout));
    assert!(Instant::now() >= deadline, "woke before the deadline");
    promise.set_result(2);
    assert_eq!(
        future.result_deadline(deadline),
        Ok(2),
        "a past deadline still takes a ready value"
    );
}

#[test]
fn timeouts_never_end_a_wait_early() {
    let (_promise, mut future) = promise::<u32, TestError>();
    for millis in [1, 5, 20] {
        let timeout = Duration::from_millis(millis);
        let started = Instant::now();
        assert_eq!(future.result(timeout), Err(Error::Timeout));
        assert!(
            started.elapsed() >= timeout,
            "{millis} ms timeout ended early"
        );
    }
}

#[test]
fn zero_timeout_only_takes_what_is_there() {
    let (promise, mut future) = promise::<u32, TestError>();
    assert_eq!(future.result(Duration::ZERO), Err(Error::Timeout));
    promise.set_result(3);
    assert_eq!(future.result(Duration::ZERO), Ok(3));
}

#[test]
fn duration_max_waits_indefinitely_without_panicking() {
    let (promise, mut future) = promise::<u32, TestError>();
    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        promise.set_result(4);
    });
    assert_eq!(future.result(Duration::MAX), Ok(4));
    producer.join().unwrap();
}

#[test]
fn the_outcome_is_handed_out_once_then_consumed() {
    let mut future = ready::<u32, TestError>(5);
    assert_eq!(future.result(None), Ok(5));
    assert_eq!(future.result(None), Err(Error::Consumed));
    assert_eq!(
        future.result(Duration::from_millis(1)),
        Err(Error::Consumed)
    );
    assert_eq!(future.try_result(), Some(Err(Error::Consumed)));
    assert!(future.done());
}

#[test]
fn a_failure_is_handed_out_once_then_consumed() {
    let mut future = apifuture::failed::<u32, TestError>("bad");
    assert_eq!(future.result(None), Err(Error::Failed("bad")));
    assert_eq!(future.result(None), Err(Error::Consumed));
}

#[test]
fn a_producer_dropped_while_the_waiter_blocks_gives_abandoned() {
    for timeout in [None, Some(Duration::from_secs(30))] {
        let (promise, mut future) = promise::<u32, TestError>();
        let producer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(10));
            drop(promise);
        });
        assert_eq!(future.result(timeout), Err(Error::Abandoned));
        assert_eq!(
            future.result(timeout),
            Err(Error::Abandoned),
            "abandoned is a state"
        );
        producer.join().unwrap();
    }
}

#[test]
fn try_result_never_blocks() {
    let (promise, mut future) = promise::<u32, TestError>();
    assert_eq!(future.try_result(), None);
    assert_eq!(future.future().try_result(), None);
    promise.set_result(6);
    assert_eq!(future.try_result(), Some(Ok(6)));
}

#[test]
fn the_concurrent_future_waits_like_the_awaitable_one() {
    let (promise, mut future) = promise::<u32, TestError>();
    let concurrent = future.future();
    assert_eq!(
        concurrent.result(Duration::from_millis(2)),
        Err(Error::Timeout)
    );
    promise.set_result(9);
    assert!(concurrent.done());
    assert_eq!(concurrent.result(None), Ok(9));
    assert_eq!(future.result(None), Err(Error::Consumed));
}

#[test]
fn values_are_dropped_once_whether_taken_or_not() {
    let counter = DropCounter::new();
    {
        let (promise, mut future) = promise::<common::Tracked, TestError>();
        promise.set_result(counter.track(1));
        assert_eq!(future.result(None).unwrap().value, 1);
    }
    {
        let (promise, future) = promise::<common::Tracked, TestError>();
        promise.set_result(counter.track(2));
        drop(future); // never taken
    }
    {
        let (promise, future) = promise::<common::Tracked, TestError>();
        drop(future);
        promise.set_result(counter.track(3)); // nobody to receive it
    }
    assert_eq!(counter.created(), 3);
    counter.assert_all_dropped();
}

#[test]
fn a_blocking_wait_inside_an_async_task_works() {
    // Documented as stalling the executor thread, but it must return the value.
    let outcome = futures_lite::future::block_on(async {
        let mut future = spawn(|| {
            thread::sleep(Duration::from_millis(5));
            Ok::<_, TestError>(10)
        });
        future.result(Duration::from_secs(30))
    });
    assert_eq!(outcome, Ok(10));
    common::retire_pool_threads();
}

/// The provided `result` of the trait (the path every non-channel future uses): it parks the
/// thread and is woken by `poll_ready`'s waker.
#[test]
fn the_provided_blocking_wait_parks_until_woken() {
    let (promise, future) = promise::<u32, TestError>();
    let mut wrapped = common::ViaTrait::new(future);
    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        promise.set_result(11);
    });
    assert_eq!(
        wrapped.result(Duration::from_millis(1)),
        Err(Error::Timeout)
    );
    assert_eq!(wrapped.result(None), Ok(11));
    assert_eq!(wrapped.result(Duration::ZERO), Err(Error::Consumed));
    producer.join().unwrap();

    let (second, future) = apifuture::promise::<u32, TestError>();
    let mut wrapped = common::ViaTrait::new(future);
    let deadline = Instant::now() + Duration::from_millis(5);
    assert_eq!(wrapped.result_deadline(deadline), Err(Error::Timeout));
    assert!(Instant::now() >= deadline);
    drop(second);
    assert_eq!(wrapped.result(Duration::MAX), Err(Error::Abandoned));
}
