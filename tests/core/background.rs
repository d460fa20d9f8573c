//! `background()` and `detach()`: work that goes on with nobody waiting, and what dropping,
//! panicking and taken outcomes do to it.
#![cfg(not(miri))] // the background executor runs on async-io's reactor (epoll)

use crate::common;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, Error, Progress, RetryPolicy, failed, from_future, poll_until_ready,
    promise, ready, retry, spawn, spawn_async,
};
use common::{DropCounter, TestError, Tracked};

const LONG: Duration = Duration::from_secs(30);
/// How long a test waits for something that should happen at once before calling it lost.
const WATCHDOG: Duration = Duration::from_secs(10);

fn fast() -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(2))
}

#[test]
fn a_backgrounded_retry_progresses_with_nobody_waiting() {
    let (started, attempts) = mpsc::channel();
    let mut call = retry(fast(), move |attempt| {
        started.send(attempt).unwrap();
        if attempt < 3 {
            failed::<u32, TestError>("busy")
        } else {
            ready(attempt)
        }
    })
    .background();
    // Nobody waits on `call`, and still every attempt runs.
    for expected in 1..=3 {
        assert_eq!(attempts.recv_timeout(WATCHDOG), Ok(expected));
    }
    assert_eq!(call.result(LONG), Ok(3));
    assert_eq!(call.result(LONG), Err(Error::Consumed));
}

#[test]
fn a_backgrounded_poll_is_awaited_like_any_future() {
    let job = poll_until_ready(fast(), |probe| {
        ready::<_, TestError>(if probe < 4 {
            Progress::Pending
        } else {
            Progress::Ready(probe * 10)
        })
    })
    .background();
    assert_eq!(futures_lite::future::block_on(job), Ok(40));
}

#[test]
fn dropping_the_background_future_cancels_the_attempt_in_flight() {
    let (promises, attempts) = mpsc::channel();
    let made = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&made);
    let call = retry(fast(), move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        let (producer, attempt) = promise::<u32, TestError>();
        promises.send(producer).unwrap();
        attempt
    })
    .background();
    let producer = attempts.recv_timeout(WATCHDOG).unwrap();
    drop(call);
    // The executor drops the retry, which drops (cancels) its attempt.
    assert!(producer.wait_cancelled(WATCHDOG));
    assert!(attempts.recv_timeout(Duration::from_millis(50)).is_err());
    assert_eq!(made.load(Ordering::SeqCst), 1);
}

#[test]
fn an_eager_future_comes_back_as_it_is() {
    let (producer, future) = promise::<u32, TestError>();
    let future = future.background();
    // No task stands in between: dropping reaches the producer at once, on this thread.
    drop(future);
    assert!(producer.is_cancelled());

    let mut job = spawn(|| Ok::<_, TestError>(5)).background();
    assert_eq!(job.result(LONG), Ok(5));
}

#[test]
fn a_panic_while_driving_gives_panicked() {
    let mut boom = from_future(async {
        if true {
            panic!("boom in the background");
        }
        Ok::<u32, TestError>(0)
    })
    .background();
    assert_eq!(
        boom.result(LONG),
        Err(Error::Panicked("boom in the background".to_owned()))
    );

    let mut map = ready::<u32, TestError>(1)
        .map_value(|_| -> u32 { panic!("boom in map") })
        .background();
    assert_eq!(
        map.result(LONG),
        Err(Error::Panicked("boom in map".to_owned()))
    );
}

#[test]
fn a_future_whose_outcome_was_taken_gives_consumed() {
    let mut lazy = ready::<u32, TestError>(1).map_value(|v| v + 1);
    assert_eq!(lazy.try_result(), Some(Ok(2)));
    assert_eq!(lazy.background().result(LONG), Err(Error::Consumed));

    let mut eager = ready::<u32, TestError>(1);
    assert_eq!(eager.try_result(), Some(Ok(1)));
    assert_eq!(eager.background().result(LONG), Err(Error::Consumed));
}

#[test]
fn a_state_the_task_ends_with_is_given_to_every_wait() {
    // A retry whose deadline ran out, and a future cancelled before it was backgrounded: the
    // states are the outcome, and every later wait gets them again, as without `background()`.
    let policy = fast().with_deadline(Duration::from_millis(20));
    let mut exceeded = poll_until_ready(policy, |_| {
        ready::<Progress<u32>, TestError>(Progress::Pending)
    })
    .background();
    assert_eq!(exceeded.result(LONG), Err(Error::DeadlineExceeded));
    assert_eq!(exceeded.result(LONG), Err(Error::DeadlineExceeded));
    assert!(format!("{exceeded:?}").contains("deadline exceeded"));
    // Not this handle's cancel: it has nothing left to cancel.
    assert!(!exceeded.future().cancel());

    let (_producer, mut cancelled) = promise::<u32, TestError>();
    assert!(cancelled.future().cancel());
    let mut cancelled = cancelled.map_value(|value| value + 1).background();
    assert_eq!(cancelled.result(LONG), Err(Error::Cancelled));
    let again = futures_lite::future::block_on(cancelled.result_async(LONG));
    assert_eq!(again, Err(Error::Cancelled));
    assert!(!cancelled.future().cancelled());
    let (seen, heard) = mpsc::channel();
    cancelled.add_done_callback(move |outcome| seen.send(format!("{outcome:?}")).unwrap());
    assert_eq!(heard.recv_timeout(WATCHDOG).unwrap(), "Err(Cancelled)");
}

#[test]
fn background_from_inside_a_background_task() {
    let inner_then_outer = from_future(async {
        let inner = from_future(async {
            async_io::Timer::after(Duration::from_millis(1)).await;
            Ok::<u32, TestError>(20)
        })
        .background();
        let nested = spawn_async(async { Ok::<u32, TestError>(1) }).background();
        Ok::<u32, TestError>(inner.await.unwrap() + nested.await.unwrap())
    })
    .background();
    assert_eq!(futures_lite::future::block_on(inner_then_outer), Ok(21));
}

#[test]
fn every_value_is_dropped_once_when_the_background_future_is_dropped() {
    let counter = DropCounter::new();
    for drop_early in [true, false] {
        let (producer, attempt) = promise::<Tracked, TestError>();
        let mut attempt = Some(attempt);
        let call = retry(fast(), move |_| attempt.take().expect("one attempt"))
            .map_value(|tracked| tracked.value)
            .background();
        if drop_early {
            drop(call);
            producer.wait_cancelled(WATCHDOG);
            producer.set_result(counter.track(1));
        } else {
            producer.set_result(counter.track(2));
            assert_eq!(futures_lite::future::block_on(call), Ok(2));
        }
    }
    counter.assert_all_dropped();
    assert_eq!(counter.created(), 2);
}

#[test]
fn detach_tells_the_producer_nothing_and_drops_the_value_once() {
    let counter = DropCounter::new();
    let (producer, future) = promise::<Tracked, TestError>();
    future.detach();
    assert!(!producer.is_cancelled());
    assert!(!producer.wait_cancelled(Duration::from_millis(20)));
    producer.set_result(counter.track(7));
    counter.assert_all_dropped();
}

#[test]
fn a_detached_job_still_runs() {
    let (ran, seen) = mpsc::channel();
    for i in 0..20 {
        let ran = ran.clone();
        spawn(move || {
            ran.send(i).unwrap();
            Ok::<_, TestError>(())
        })
        .detach();
    }
    let mut all: Vec<i32> = (0..20)
        .map(|_| seen.recv_timeout(WATCHDOG).unwrap())
        .collect();
    all.sort();
    assert_eq!(all, (0..20).collect::<Vec<_>>());
}

#[test]
fn a_detached_retry_is_driven_to_its_end() {
    let (started, attempts) = mpsc::channel();
    retry(fast(), move |attempt| {
        started.send(attempt).unwrap();
        if attempt < 3 {
            failed::<u32, TestError>("busy")
        } else {
            ready(attempt)
        }
    })
    .detach();
    for expected in 1..=3 {
        assert_eq!(attempts.recv_timeout(WATCHDOG), Ok(expected));
    }
}

#[test]
fn detach_of_a_complete_cancelled_or_consumed_future_just_drops_it() {
    let counter = DropCounter::new();
    ready::<Tracked, TestError>(counter.track(1)).detach();
    counter.assert_all_dropped();

    let (producer, mut cancelled) = promise::<Tracked, TestError>();
    assert!(cancelled.future().cancel());
    cancelled.detach();
    producer.set_result(counter.track(2));
    counter.assert_all_dropped();

    let mut consumed = ready::<Tracked, TestError>(counter.track(3));
    drop(consumed.try_result());
    consumed.detach();
    ready::<u8, TestError>(1).map_value(|v| v + 1).detach();
    counter.assert_all_dropped();
    assert_eq!(counter.created(), 3);
}

#[test]
fn detach_keeps_done_callbacks() {
    let (called, seen) = mpsc::channel();
    let (producer, mut future) = promise::<u32, TestError>();
    future.add_done_callback(move |outcome| called.send(outcome.clone()).unwrap());
    future.detach();
    assert!(!producer.is_cancelled());
    producer.set_result(4);
    assert_eq!(seen.recv_timeout(WATCHDOG), Ok(Ok(4)));
}

/// Polls `future` to its outcome, then twice more: never a panic, `Consumed` after the first.
fn poll_past_the_end<F: ApiFuture>(mut future: F) -> Vec<bool>
where
    F::Failure: std::fmt::Debug,
{
    let outcome = futures_lite::future::block_on(&mut future);
    let mut cx = Context::from_waker(Waker::noop());
    let mut seen = vec![outcome.is_ok()];
    for _ in 0..2 {
        match Pin::new(&mut future).poll(&mut cx) {
            Poll::Ready(Err(Error::Consumed)) => seen.push(false),
            other => panic!("expected Consumed, got {:?}", other.map(|o| o.err())),
        }
    }
    seen
}

#[test]
fn polling_after_the_outcome_was_taken_gives_consumed_for_every_type() {
    let expected = vec![true, false, false];
    assert_eq!(poll_past_the_end(ready::<u8, TestError>(1)), expected);
    assert_eq!(
        poll_past_the_end(ready::<u8, TestError>(1).into_boxed()),
        expected
    );
    assert_eq!(
        poll_past_the_end(ready::<u8, TestError>(1).into_shared()),
        expected
    );
    assert_eq!(
        poll_past_the_end(ready::<u8, TestError>(1).map_value(|v| v)),
        expected
    );
    assert_eq!(
        poll_past_the_end(ready::<u8, TestError>(1).map_failure(|e| e)),
        expected
    );
    assert_eq!(
        poll_past_the_end(ready::<u8, TestError>(1).then_call(ready::<u8, TestError>)),
        expected
    );
    assert_eq!(
        poll_past_the_end(retry(fast(), |_| ready::<u8, TestError>(1))),
        expected
    );
    assert_eq!(
        poll_past_the_end(poll_until_ready(fast(), |_| {
            ready::<_, TestError>(Progress::Ready(1u8))
        })),
        expected
    );
    assert_eq!(
        poll_past_the_end(from_future(async { Ok::<u8, TestError>(1) })),
        expected
    );
    assert_eq!(
        poll_past_the_end(spawn_async(async { Ok::<u8, TestError>(1) })),
        expected
    );
}

#[test]
fn a_background_future_over_a_taken_outcome_says_taken() {
    let mut taken = ready::<u32, TestError>(1);
    assert_eq!(taken.result(None), Ok(1));
    let mut background = taken.map_value(|v| v + 1).background();
    // Delivered (the relay holds the `Consumed` the next wait gets) once a look finds it.
    let started = std::time::Instant::now();
    while background.peek_failed().is_none() {
        assert!(started.elapsed() < WATCHDOG, "never delivered");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        format!("{background:?}").contains("taken"),
        "{background:?}"
    );
    assert_eq!(background.result(LONG), Err(Error::Consumed));
}
