//! Producer-side cancellation: `Promise::cancelled()` (async) and `Promise::wait_cancelled(t)`
//! (blocking) wake once the future is cancelled or dropped while pending, and never because a
//! waiter merely timed out.

use crate::common;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, AwaitableConcurrentFuture, BoxError, Error, Promise, promise};
use common::{
    SignalOnPending, StartLine, TestError, block_on_within, iterations, on_two_executors,
};

/// What failure looks like in this file: far longer than anything here should take.
const GENEROUS: Duration = Duration::from_secs(10);

/// How the consumer gives up on its future.
#[derive(Debug, Clone, Copy)]
enum GiveUp {
    Cancel,
    Drop,
    /// Drop a future that has a done callback (the relay path).
    DropWithCallback,
    /// Cancel a future that has a done callback.
    CancelWithCallback,
    /// Drop `.await`'s future after polling it once (a task that was cancelled).
    DropAwaiting,
    /// Drop the future after a blocking wait timed out.
    DropAfterTimeout,
}

const GIVE_UPS: [GiveUp; 6] = [
    GiveUp::Cancel,
    GiveUp::Drop,
    GiveUp::DropWithCallback,
    GiveUp::CancelWithCallback,
    GiveUp::DropAwaiting,
    GiveUp::DropAfterTimeout,
];

/// What a done callback reports: the outcome it was given, as text.
type Reports = mpsc::Receiver<String>;

/// Adds a done callback that reports what it is given (asserting inside a callback would
/// prove nothing: its panic is caught).
fn report(future: &mut AwaitableConcurrentFuture<u32, TestError>) -> Reports {
    let (reporter, reports) = mpsc::channel();
    future.add_done_callback(move |outcome| reporter.send(format!("{outcome:?}")).unwrap());
    reports
}

/// Prepares a future for `how` (a callback, a timed-out wait) before the race starts; returns
/// the callback's reports if it has one.
fn prepare(how: GiveUp, future: &mut AwaitableConcurrentFuture<u32, TestError>) -> Option<Reports> {
    match how {
        GiveUp::DropWithCallback | GiveUp::CancelWithCallback => Some(report(future)),
        GiveUp::DropAfterTimeout => {
            assert_eq!(future.result(Duration::from_millis(1)), Err(Error::Timeout));
            None
        }
        GiveUp::Cancel | GiveUp::Drop | GiveUp::DropAwaiting => None,
    }
}

/// Checks that a prepared callback ran once, with `Cancelled`.
fn check_reports(how: GiveUp, reports: Option<Reports>) {
    if let Some(reports) = reports {
        assert_eq!(
            reports.recv_timeout(GENEROUS).as_deref(),
            Ok("Err(Cancelled)"),
            "{how:?}"
        );
        assert!(
            reports.try_recv().is_err(),
            "{how:?}: the callback ran twice"
        );
    }
}

/// Gives up on the future as `how` says.
fn give_up(how: GiveUp, mut future: AwaitableConcurrentFuture<u32, TestError>) {
    match how {
        GiveUp::Cancel | GiveUp::CancelWithCallback => {
            assert!(future.future().cancel());
            // Keep the cancelled future alive a little: cancel alone must be enough.
            assert_eq!(future.result(Duration::ZERO), Err(Error::Cancelled));
        }
        GiveUp::Drop | GiveUp::DropWithCallback | GiveUp::DropAfterTimeout => drop(future),
        GiveUp::DropAwaiting => {
            let mut waiting = pin!(future);
            assert!(
                waiting
                    .as_mut()
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_pending()
            );
        }
    }
}

#[test]
fn wait_cancelled_wakes_when_the_future_is_given_up_on_another_thread() {
    for how in GIVE_UPS {
        let (promise, mut future) = promise::<u32, TestError>();
        let reports = prepare(how, &mut future);
        assert!(!promise.is_cancelled(), "{how:?}");
        let consumer = thread::spawn(move || {
            // Give the producer time to block first (not required for correctness).
            thread::sleep(Duration::from_millis(10));
            give_up(how, future);
        });
        assert!(promise.wait_cancelled(GENEROUS), "{how:?}");
        assert!(promise.is_cancelled(), "{how:?}");
        consumer.join().unwrap();
        check_reports(how, reports);
        assert!(promise.wait_cancelled(Duration::ZERO), "{how:?}: it stays");
        promise.set_result(1); // dropped on our side, no panic
    }
}

#[test]
fn wait_cancelled_on_a_future_already_given_up() {
    for how in GIVE_UPS {
        let (promise, mut future) = promise::<u32, TestError>();
        let reports = prepare(how, &mut future);
        give_up(how, future);
        check_reports(how, reports);
        assert!(promise.is_cancelled(), "{how:?}");
        assert!(promise.wait_cancelled(Duration::ZERO), "{how:?}");
        assert!(promise.wait_cancelled(None), "{how:?}");
        assert!(promise.wait_cancelled(Duration::MAX), "{how:?}");
        assert!(
            block_on_within(promise.cancelled(), GENEROUS).is_some(),
            "{how:?}"
        );
    }
}

#[test]
fn cancelled_wakes_when_the_future_is_given_up_on_another_thread() {
    for how in GIVE_UPS {
        on_two_executors(move || async move {
            let (promise, mut future) = promise::<u32, TestError>();
            let reports = prepare(how, &mut future);
            let (registered, went) = mpsc::channel();
            // The consumer gives up only once the producer's wait is registered and pending.
            let consumer = thread::spawn(move || {
                let _ = went.recv_timeout(GENEROUS);
                give_up(how, future);
            });
            SignalOnPending::new(promise.cancelled(), registered).await;
            assert!(promise.is_cancelled(), "{how:?}");
            consumer.join().unwrap();
            check_reports(how, reports);
            // Ready again at once.
            promise.cancelled().await;
        });
    }
}

#[test]
fn wait_cancelled_zero_only_looks() {
    let (promise, mut future) = promise::<u32, TestError>();
    assert!(!promise.wait_cancelled(Duration::ZERO));
    assert!(!promise.wait_cancelled(Some(Duration::ZERO)));
    assert!(future.future().cancel());
    assert!(promise.wait_cancelled(Duration::ZERO));
    assert!(promise.wait_cancelled(Some(Duration::ZERO)));
}

#[test]
fn wait_cancelled_without_a_limit_waits_until_cancelled() {
    for limit in [None, Some(Duration::MAX)] {
        let (promise, mut future) = promise::<u32, TestError>();
        let (answer, answered) = mpsc::channel();
        let producer = thread::spawn(move || {
            let cancelled = promise.wait_cancelled(limit);
            answer.send(cancelled).unwrap();
            promise
        });
        // It has not given up on its own (it cannot, whatever the timing).
        thread::sleep(Duration::from_millis(20));
        assert_eq!(
            answered.try_recv(),
            Err(mpsc::TryRecvError::Empty),
            "{limit:?}: returned before anything was cancelled"
        );
        assert!(future.future().cancel());
        assert_eq!(
            answered.recv_timeout(GENEROUS),
            Ok(true),
            "{limit:?}: the producer did not wake"
        );
        let promise = producer.join().unwrap();
        assert!(promise.is_cancelled());
    }
}

#[test]
fn a_limited_wait_cancelled_returns_false_when_nobody_cancels() {
    let (promise, mut future) = promise::<u32, TestError>();
    let started = Instant::now();
    assert!(!promise.wait_cancelled(Duration::from_millis(20)));
    assert!(
        started.elapsed() >= Duration::from_millis(20),
        "returned before its time"
    );
    assert!(!promise.is_cancelled());
    promise.set_result(3);
    assert_eq!(future.result(None), Ok(3));
}

/// After a consumer timeout, the producer hears nothing and its value still arrives.
fn assert_not_cancelled_and_deliver(
    promise: Promise<u32, TestError>,
    future: &mut AwaitableConcurrentFuture<u32, TestError>,
    value: u32,
    reports: Option<Reports>,
) {
    assert!(!promise.is_cancelled());
    assert!(!promise.wait_cancelled(Duration::ZERO));
    assert!(
        !promise.wait_cancelled(Duration::from_millis(50)),
        "a timeout is not a cancellation"
    );
    assert!(
        block_on_within(promise.cancelled(), Duration::from_millis(20)).is_none(),
        "cancelled() fired after a timeout"
    );
    if let Some(reports) = &reports {
        assert!(reports.try_recv().is_err(), "a timeout ran the callback");
    }
    promise.set_result(value);
    assert_eq!(future.result(GENEROUS), Ok(value), "the value was lost");
    if let Some(reports) = reports {
        assert_eq!(reports.try_recv(), Ok(format!("Ok({value})")));
        assert!(reports.try_recv().is_err(), "the callback ran twice");
    }
}

#[test]
fn a_blocking_consumer_timeout_is_not_a_cancellation() {
    for with_callback in [false, true] {
        let (promise, mut future) = promise::<u32, TestError>();
        let reports = with_callback.then(|| report(&mut future));
        assert_eq!(future.result(Duration::from_millis(5)), Err(Error::Timeout));
        assert_eq!(future.result(Duration::ZERO), Err(Error::Timeout));
        assert_eq!(
            future.result_deadline(Instant::now() + Duration::from_millis(1)),
            Err(Error::Timeout)
        );
        assert_eq!(future.try_result(), None);
        assert_not_cancelled_and_deliver(promise, &mut future, 4, reports);
    }
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn an_async_consumer_timeout_is_not_a_cancellation() {
    for with_callback in [false, true] {
        on_two_executors(move || async move {
            let (promise, mut future) = promise::<u32, TestError>();
            let reports = with_callback.then(|| report(&mut future));
            assert_eq!(
                future.result_async(Duration::from_millis(5)).await,
                Err(Error::Timeout)
            );
            // The producer, meanwhile waiting async, is not woken either.
            let stopped = futures_lite::future::or(
                async {
                    promise.cancelled().await;
                    true
                },
                async {
                    async_io::Timer::after(Duration::from_millis(20)).await;
                    false
                },
            )
            .await;
            assert!(!stopped, "cancelled() fired after an async timeout");
            assert_not_cancelled_and_deliver(promise, &mut future, 5, reports);
        });
    }
}

#[test]
fn an_abandoned_async_wait_is_not_a_cancellation() {
    // The Miri-friendly async timeouts: zero (no timer), and a wait polled once and dropped.
    for with_callback in [false, true] {
        on_two_executors(move || async move {
            let (promise, mut future) = promise::<u32, TestError>();
            let reports = with_callback.then(|| report(&mut future));
            common::give_up_two_async_waits(&mut future).await;
            assert_not_cancelled_and_deliver(promise, &mut future, 6, reports);
        });
    }
}

#[test]
fn a_timeout_while_the_producer_waits_does_not_wake_it() {
    // The producer is already blocked in wait_cancelled when the consumer times out; it must
    // keep waiting, and wake only when the consumer then gives up for real.
    let (promise, mut future) = promise::<u32, TestError>();
    let (answer, answered) = mpsc::channel();
    let producer = thread::spawn(move || {
        answer.send(promise.wait_cancelled(GENEROUS)).unwrap();
    });
    assert_eq!(
        future.result(Duration::from_millis(20)),
        Err(Error::Timeout)
    );
    assert_eq!(
        answered.try_recv(),
        Err(mpsc::TryRecvError::Empty),
        "the producer woke on a timeout"
    );
    drop(future);
    assert_eq!(answered.recv_timeout(GENEROUS), Ok(true));
    producer.join().unwrap();
}

#[test]
fn cancelled_wakes_the_waker_of_its_latest_poll() {
    let (promise, mut future) = promise::<u32, TestError>();
    let mut waiting = pin!(promise.cancelled());
    // Moved to another task: polled with another waker.
    let (_first, second) = common::poll_pending_with_two_wakers(waiting.as_mut());
    // A consumer timeout wakes nobody.
    assert_eq!(future.result(Duration::from_millis(1)), Err(Error::Timeout));
    assert_eq!(second.0.load(Ordering::SeqCst), 0);
    assert!(future.future().cancel());
    assert_eq!(second.0.load(Ordering::SeqCst), 1, "the latest waker");
    assert_eq!(
        waiting
            .as_mut()
            .poll(&mut Context::from_waker(&Waker::from(Arc::clone(&second)))),
        Poll::Ready(())
    );
    drop(future);
    assert_eq!(second.0.load(Ordering::SeqCst), 1, "woken once");
}

#[test]
fn the_cancelled_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (promise, _future) = promise::<u32, TestError>();
    assert_send(&promise.cancelled());
    let (promise, _future) = apifuture::promise::<String, BoxError>();
    assert_send(&promise.cancelled());
    // The documented tokio bridge shape: a task that owns the promise and awaits cancelled()
    // across an await point must itself be Send.
    let (promise, _future) = apifuture::promise::<Vec<u8>, BoxError>();
    let task = async move {
        promise.cancelled().await;
        drop(promise);
    };
    assert_send(&task);
}

/// Tells at run time whether a concrete type is `Send`: the inherent method exists only when it
/// is, else method resolution falls back to the trait's.
struct SendProbe<T>(PhantomData<T>);

trait NotSend {
    fn is_send(&self) -> bool {
        false
    }
}

impl<T> NotSend for SendProbe<T> {}

impl<T: Send> SendProbe<T> {
    fn is_send(&self) -> bool {
        true
    }
}

fn probe<T>(_: &T) -> SendProbe<T> {
    SendProbe(PhantomData)
}

#[test]
fn the_send_probe_tells_send_from_not_send() {
    assert!(probe(&1u32).is_send());
    assert!(!probe(&std::rc::Rc::new(1u32)).is_send());
}

#[test]
fn the_cancelled_future_is_send_for_a_value_that_is_not_sync() {
    // `Cell<u32>` is Send but not Sync: the promise is Send, and so must be the future of
    // `cancelled()`, so that the documented bridge (a task that owns the promise and selects
    // on `cancelled()`) can be spawned for such outcomes too.
    let (promise, _future) = promise::<std::cell::Cell<u32>, TestError>();
    assert!(probe(&promise).is_send(), "the promise itself is Send");
    assert!(
        probe(&promise.cancelled()).is_send(),
        "Promise<Cell<u32>, _>::cancelled() is not Send"
    );
}

/// The consumer gives up while the producer starts waiting, both starting together and each
/// delayed by a varying spin: the producer always wakes (a hang would show as the generous
/// limit running out).
fn race_give_up_against_waiting(asynchronously: bool) {
    for how in GIVE_UPS {
        let rounds = match how {
            // These sleep a millisecond each round in `prepare`.
            GiveUp::DropAfterTimeout => iterations(100, 4),
            _ => iterations(400, 12),
        };
        for round in 0..rounds {
            let (promise, mut future) = promise::<u32, TestError>();
            let reports = prepare(how, &mut future);
            let start = StartLine::new();
            thread::scope(|scope| {
                scope.spawn(|| {
                    start.meet_and_delay(round % 16);
                    give_up(how, future);
                });
                start.meet_and_delay(15 - round % 16);
                let woke = if asynchronously {
                    block_on_within(promise.cancelled(), GENEROUS).is_some()
                } else {
                    promise.wait_cancelled(GENEROUS)
                };
                assert!(woke, "{how:?}, round {round}: the producer was not woken");
            });
            assert!(promise.is_cancelled());
            check_reports(how, reports);
        }
    }
}

#[test]
fn giving_up_racing_a_blocked_producer_never_hangs() {
    race_give_up_against_waiting(false);
}

#[test]
fn giving_up_racing_an_async_producer_never_hangs() {
    race_give_up_against_waiting(true);
}

#[test]
fn a_timeout_racing_a_waiting_producer_never_wakes_it() {
    // The consumer times out (blocking, zero or a dropped async wait) while the producer
    // waits a little: the producer never reports a cancellation, and the value arrives.
    for round in 0..iterations(200, 8) {
        let (promise, mut future) = promise::<u32, TestError>();
        let start = StartLine::new();
        let woke = thread::scope(|scope| {
            scope.spawn(|| {
                start.meet_and_delay(round % 8);
                match round % 3 {
                    0 => assert_eq!(
                        future.result(Duration::from_micros(50)),
                        Err(Error::Timeout)
                    ),
                    1 => assert_eq!(future.result(Duration::ZERO), Err(Error::Timeout)),
                    _ => {
                        let mut waiting = pin!(future.result_async(None));
                        let _ = waiting
                            .as_mut()
                            .poll(&mut Context::from_waker(Waker::noop()));
                    }
                }
            });
            start.meet_and_delay(7 - round % 8);
            promise.wait_cancelled(Duration::from_millis(2))
        });
        assert!(!woke, "round {round}: a timeout woke the producer");
        promise.set_result(round as u32);
        assert_eq!(future.result(GENEROUS), Ok(round as u32));
    }
}

// ===== several waiters on one promise =====

/// Polls a fresh `cancelled()` future once with its own counting waker: pending.
fn waiting_with_own_waker(
    promise: &Promise<u32, TestError>,
) -> (
    std::pin::Pin<Box<impl Future<Output = ()> + use<>>>,
    Arc<common::CountingWaker>,
) {
    let mut waiting = Box::pin(promise.cancelled());
    let counting = Arc::new(common::CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counting));
    assert!(
        waiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    (waiting, counting)
}

#[test]
fn every_cancelled_future_is_woken_not_only_the_last() {
    let (promise, future) = promise::<u32, TestError>();
    let waiting: Vec<_> = (0..3).map(|_| waiting_with_own_waker(&promise)).collect();
    drop(future);
    for (index, (mut waiting, counting)) in waiting.into_iter().enumerate() {
        assert_eq!(
            counting.0.load(Ordering::SeqCst),
            1,
            "waiter {index} was not woken"
        );
        let waker = Waker::from(counting);
        assert_eq!(
            waiting.as_mut().poll(&mut Context::from_waker(&waker)),
            Poll::Ready(())
        );
    }
}

#[test]
fn two_tasks_racing_their_parts_against_cancellation_both_stop() {
    let (promise, future) = promise::<u32, TestError>();
    let (started, start_seen) = mpsc::channel();
    // Two tasks of one producer, each on a thread of its own (so with a waker of its own), each
    // racing its part of the work against the cancellation.
    let tasks: Vec<_> = (0..2)
        .map(|_| {
            let waiting = SignalOnPending::new(promise.cancelled(), started.clone());
            thread::spawn(move || {
                let work = futures_lite::future::pending::<&str>();
                let raced = futures_lite::future::or(work, async {
                    waiting.await;
                    "stopped"
                });
                let began = Instant::now();
                let stopped = block_on_within(raced, GENEROUS);
                // Polled once more when its own limit ran out, a waiter that was never woken
                // would still see the cancellation then: the time tells.
                (stopped, began.elapsed() < GENEROUS / 2)
            })
        })
        .collect();
    for _ in 0..2 {
        start_seen.recv_timeout(GENEROUS).unwrap();
    }
    drop(future);
    for (index, task) in tasks.into_iter().enumerate() {
        assert_eq!(
            task.join().unwrap(),
            (Some("stopped"), true),
            "task {index} was never woken"
        );
    }
}

/// Starts `count` threads blocked in `wait_cancelled(GENEROUS)` on one promise; each reports
/// whether it saw the cancellation and how long it waited.
fn blocking_waiters(
    promise: &Arc<Promise<u32, TestError>>,
    count: usize,
) -> Vec<thread::JoinHandle<(bool, Duration)>> {
    let (started, start_seen) = mpsc::channel();
    let threads: Vec<_> = (0..count)
        .map(|_| {
            let (promise, started) = (Arc::clone(promise), started.clone());
            thread::spawn(move || {
                started.send(()).unwrap();
                let began = Instant::now();
                (promise.wait_cancelled(GENEROUS), began.elapsed())
            })
        })
        .collect();
    for _ in 0..count {
        start_seen.recv_timeout(GENEROUS).unwrap();
    }
    // The threads are about to park; give them time to (a shorter wait only weakens the test:
    // a thread that comes late sees the cancellation at once).
    thread::sleep(Duration::from_millis(if cfg!(miri) { 1 } else { 50 }));
    threads
}

#[test]
fn every_blocking_wait_cancelled_is_woken() {
    // `Promise` is `Sync` when its outcome types are: several threads can wait on one.
    let (promise, future) = promise::<u32, TestError>();
    let promise = Arc::new(promise);
    let threads = blocking_waiters(&promise, 3);
    drop(future);
    for (index, thread) in threads.into_iter().enumerate() {
        let (woke, waited) = thread.join().unwrap();
        assert!(woke, "waiter {index} did not see the cancellation");
        assert!(
            waited < GENEROUS / 2,
            "waiter {index} only returned when its own limit ran out ({waited:?})"
        );
    }
}

#[test]
fn blocking_and_async_waiters_mixed_all_see_the_cancellation() {
    let (promise, mut future) = promise::<u32, TestError>();
    let promise = Arc::new(promise);
    let asynchronous: Vec<_> = (0..2).map(|_| waiting_with_own_waker(&promise)).collect();
    let threads = blocking_waiters(&promise, 2);
    assert!(future.future().cancel());
    for (index, thread) in threads.into_iter().enumerate() {
        let (woke, waited) = thread.join().unwrap();
        assert!(
            woke && waited < GENEROUS / 2,
            "blocking waiter {index}: {waited:?}"
        );
    }
    for (index, (_, counting)) in asynchronous.iter().enumerate() {
        assert_eq!(counting.0.load(Ordering::SeqCst), 1, "async waiter {index}");
    }
    // A waiter that comes after the cancellation sees it at once, and registers nothing.
    assert!(promise.wait_cancelled(Duration::ZERO));
}

#[test]
fn waiters_that_leave_leak_nothing() {
    let (promise, future) = promise::<u32, TestError>();
    let counting = Arc::new(common::CountingWaker::default());
    let waker = Waker::from(Arc::clone(&counting));
    for _ in 0..iterations(100, 10) {
        let mut waiting = pin!(promise.cancelled());
        assert!(
            waiting
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        // Dropped pending: its clone of the waker goes with it.
    }
    for _ in 0..iterations(20, 4) {
        assert!(!promise.wait_cancelled(Duration::from_micros(10)));
    }
    assert_eq!(
        Arc::strong_count(&counting),
        2,
        "a waiter that left kept its waker"
    );
    drop(future);
    assert_eq!(
        counting.0.load(Ordering::SeqCst),
        0,
        "a waiter that left was woken"
    );
    assert!(promise.wait_cancelled(Duration::ZERO));
}
