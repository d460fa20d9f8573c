//! Done callbacks: `add_done_callback` on `AwaitableConcurrentFuture` and `ConcurrentFuture`.
//!
//! The rules under test (DESIGN.md sections 2 and 4, and the method's docs): a callback runs
//! once, with the outcome by reference, on the completing thread and before any waiter sees the
//! outcome, or at once on the calling thread if the future has already completed; the value
//! stays for the waiter; callbacks run in the order added; after the outcome was taken they get
//! `Consumed`, on a cancelled future `Cancelled`, on an abandoned one `Abandoned`; `cancel()`
//! and dropping a pending future run the pending ones with `Cancelled`; a panicking callback is
//! caught; a cancel racing the producer has one winner that callbacks and waiter both see.

use crate::common;

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};
use std::thread::{self, ThreadId};
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, AwaitableConcurrentFuture, Error, Promise, failed, promise, ready, spawn,
};
use common::{
    DropCounter, SignalOnPending, StartLine, TestError, Tracked, ViaTrait, iterations,
    on_two_executors,
};

/// What failure looks like in this file: far longer than anything here should take.
/// Far above any run (a panic's backtrace alone took 12 s under ThreadSanitizer).
const GENEROUS: Duration = Duration::from_secs(120);

/// One entry of the shared log: who wrote it, what outcome they saw, on which thread.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    who: &'static str,
    saw: String,
    thread: ThreadId,
}

/// A log that callbacks and waiters append to, in the order things happened.
#[derive(Debug, Clone, Default)]
struct Log(Arc<Mutex<Vec<Entry>>>);

impl Log {
    fn record(&self, who: &'static str, saw: String) {
        self.0.lock().unwrap().push(Entry {
            who,
            saw,
            thread: thread::current().id(),
        });
    }

    fn entries(&self) -> Vec<Entry> {
        self.0.lock().unwrap().clone()
    }

    /// The `(who, saw)` pairs, in order.
    fn seen(&self) -> Vec<(&'static str, String)> {
        self.entries()
            .into_iter()
            .map(|entry| (entry.who, entry.saw))
            .collect()
    }

    /// A callback that records what it was given under `who`.
    fn callback<T: std::fmt::Debug, E: std::fmt::Debug>(
        &self,
        who: &'static str,
    ) -> impl FnOnce(&Result<T, Error<E>>) + Send + 'static {
        let log = self.clone();
        move |outcome| log.record(who, show(outcome))
    }
}

/// An outcome as the log keeps it: `Ok(7)`, `Err(Cancelled)`, `Err(Failed("no"))`.
fn show<T: std::fmt::Debug, E: std::fmt::Debug>(outcome: &Result<T, Error<E>>) -> String {
    format!("{outcome:?}")
}

fn pairs(expected: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    expected
        .iter()
        .map(|(who, saw)| (*who, (*saw).to_owned()))
        .collect()
}

/// Completes `promise` with `value` on a new thread once `go` fires (or at once when `go` is
/// dropped), and returns that thread's handle; its result is the producer's thread id.
fn produce_on_signal<T: Send + 'static>(
    promise: Promise<T, TestError>,
    value: T,
    go: mpsc::Receiver<()>,
    settle: Duration,
) -> thread::JoinHandle<ThreadId> {
    thread::spawn(move || {
        let _ = go.recv_timeout(GENEROUS);
        thread::sleep(settle);
        promise.set_result(value);
        thread::current().id()
    })
}

#[test]
fn a_callback_runs_once_on_the_producer_thread_and_the_value_stays() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("callback"));
    assert!(log.entries().is_empty(), "nothing ran while pending");

    // Nobody looks at the future while the producer completes it, so the producer's wake-up
    // is what delivers: the callback must run on its thread.
    let producer = thread::spawn(move || {
        promise.set_result(7);
        thread::current().id()
    });
    let producer_thread = producer.join().unwrap();
    let entries = log.entries();
    assert_eq!(entries.len(), 1, "ran exactly once: {entries:?}");
    assert_eq!(entries[0].saw, "Ok(7)");
    assert_eq!(entries[0].thread, producer_thread, "ran on the producer");

    assert!(future.done());
    assert_eq!(future.result(Duration::ZERO), Ok(7), "the value stays");
    assert_eq!(future.result(None), Err(Error::Consumed));
    assert_eq!(log.entries().len(), 1, "waiting runs nothing again");
}

#[test]
fn the_concurrent_future_has_the_same_callbacks() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    let concurrent = future.future();
    concurrent.add_done_callback(log.callback("first"));
    concurrent.add_done_callback(log.callback("second"));
    promise.set_error("no");
    assert_eq!(
        log.seen(),
        pairs(&[
            ("first", r#"Err(Failed("no"))"#),
            ("second", r#"Err(Failed("no"))"#)
        ])
    );
    assert_eq!(concurrent.result(None), Err(Error::Failed("no")));
    concurrent.add_done_callback(log.callback("late"));
    assert_eq!(log.seen()[2], ("late", "Err(Consumed)".to_owned()));

    let mut concurrent = ready::<u32, TestError>(3).into_inner();
    concurrent.add_done_callback(log.callback("on ready"));
    assert_eq!(log.seen()[3], ("on ready", "Ok(3)".to_owned()));
    assert_eq!(concurrent.result(None), Ok(3));
}

/// How a blocking waiter waits in `callbacks_run_before_a_blocking_waiter_wakes`.
#[derive(Debug, Clone, Copy)]
enum BlockingWait {
    /// `result(None)`: the inherent fast path.
    Result,
    /// `result(30 s)`: the timed fast path.
    ResultTimeout,
    /// `result_deadline`.
    Deadline,
    /// The trait's provided `result`, which parks on `poll_ready`.
    ViaTrait,
}

#[test]
fn callbacks_run_before_a_blocking_waiter_wakes() {
    for how in [
        BlockingWait::Result,
        BlockingWait::ResultTimeout,
        BlockingWait::Deadline,
        BlockingWait::ViaTrait,
    ] {
        let log = Log::default();
        let (promise, mut future) = promise::<u32, TestError>();
        future.add_done_callback(log.callback("first"));
        future.add_done_callback(log.callback("second"));
        let (go, went) = mpsc::channel();
        // The producer waits for the waiter to be about to block, then gives it time to park.
        let producer = produce_on_signal(promise, 5, went, Duration::from_millis(20));
        go.send(()).unwrap();
        let outcome = match how {
            BlockingWait::Result => future.result(None),
            BlockingWait::ResultTimeout => future.result(Duration::from_secs(30)),
            BlockingWait::Deadline => future.result_deadline(Instant::now() + GENEROUS),
            BlockingWait::ViaTrait => ViaTrait::new(future).result(None),
        };
        log.record("waiter", show(&outcome));
        let producer_thread = producer.join().unwrap();

        assert_eq!(
            log.seen(),
            pairs(&[("first", "Ok(5)"), ("second", "Ok(5)"), ("waiter", "Ok(5)")]),
            "{how:?}: callbacks first, in order, once each"
        );
        let entries = log.entries();
        // The producer delivers, never the waiter (even one that looks between the producer's
        // send and its wake-up).
        assert_eq!(entries[0].thread, producer_thread, "{how:?}");
        assert_eq!(entries[1].thread, producer_thread, "{how:?}");
    }
}

#[test]
fn callbacks_run_on_the_producer_before_an_async_waiter_wakes() {
    for use_result_async in [false, true] {
        on_two_executors(move || async move {
            let log = Log::default();
            let (promise, mut future) = promise::<u32, TestError>();
            future.add_done_callback(log.callback("first"));
            future.add_done_callback(log.callback("second"));
            let (registered, went) = mpsc::channel();
            let producer = produce_on_signal(promise, 6, went, Duration::ZERO);
            // The producer completes only once the wait returned Pending with its waker
            // registered: the waiter does not look again until woken, so the producer's
            // thread is the one that runs the callbacks.
            let outcome = if use_result_async {
                SignalOnPending::new(future.result_async(None), registered).await
            } else {
                SignalOnPending::new(future, registered).await
            };
            log.record("waiter", show(&outcome));
            let producer_thread = producer.join().unwrap();

            assert_eq!(
                log.seen(),
                pairs(&[("first", "Ok(6)"), ("second", "Ok(6)"), ("waiter", "Ok(6)")])
            );
            let entries = log.entries();
            assert_eq!(entries[0].thread, producer_thread);
            assert_eq!(entries[1].thread, producer_thread);
            assert_ne!(entries[2].thread, producer_thread);
        });
    }
}

#[test]
fn a_callback_on_a_completed_future_runs_at_once_on_this_thread() {
    let log = Log::default();
    let mut future = ready::<u32, TestError>(1);
    future.add_done_callback(log.callback("value"));
    let entries = log.entries();
    assert_eq!(entries.len(), 1, "ran during add_done_callback");
    assert_eq!(entries[0].saw, "Ok(1)");
    assert_eq!(entries[0].thread, thread::current().id());
    assert_eq!(future.result(Duration::ZERO), Ok(1), "the value stays");

    let mut future = failed::<u32, TestError>("bad");
    future.add_done_callback(log.callback("error"));
    assert_eq!(log.seen()[1], ("error", r#"Err(Failed("bad"))"#.to_owned()));
    assert_eq!(future.try_result(), Some(Err(Error::Failed("bad"))));

    // Completed by another thread that has finished, never looked at.
    let (promise, mut future) = promise::<u32, TestError>();
    thread::spawn(move || promise.set_result(2)).join().unwrap();
    future.add_done_callback(log.callback("later"));
    let entries = log.entries();
    assert_eq!(entries[2].saw, "Ok(2)");
    assert_eq!(entries[2].thread, thread::current().id());
    assert_eq!(future.result(None), Ok(2));
}

#[test]
fn a_callback_on_a_future_whose_outcome_was_looked_at_but_not_taken() {
    // `peek_failed` (what `wait(.., FirstFailed)` uses) takes the outcome out of the channel
    // without handing it out: a callback added then still sees it, and so does the waiter.
    let log = Log::default();
    let mut future = failed::<u32, TestError>("peeked");
    assert_eq!(future.peek_failed(), Some(true));
    future.add_done_callback(log.callback("after peek"));
    assert_eq!(
        log.seen(),
        pairs(&[("after peek", r#"Err(Failed("peeked"))"#)])
    );
    assert_eq!(future.result(None), Err(Error::Failed("peeked")));

    // And the other way round: callbacks first, then a peek, then the waiter.
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("before peek"));
    assert_eq!(future.peek_failed(), None);
    promise.set_result(4);
    assert_eq!(future.peek_failed(), Some(false));
    assert_eq!(log.seen()[1], ("before peek", "Ok(4)".to_owned()));
    assert_eq!(future.result(None), Ok(4));
    assert_eq!(log.entries().len(), 2);
}

#[test]
fn several_callbacks_run_in_the_order_added_across_completion() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("1"));
    future.add_done_callback(log.callback("2"));
    future.add_done_callback(log.callback("3"));
    promise.set_result(9);
    future.add_done_callback(log.callback("4"));
    future.add_done_callback(log.callback("5"));
    assert_eq!(
        log.seen(),
        pairs(&[
            ("1", "Ok(9)"),
            ("2", "Ok(9)"),
            ("3", "Ok(9)"),
            ("4", "Ok(9)"),
            ("5", "Ok(9)"),
        ])
    );
    assert_eq!(future.result(None), Ok(9));
    future.add_done_callback(log.callback("6"));
    assert_eq!(log.seen()[5], ("6", "Err(Consumed)".to_owned()));
    assert_eq!(log.entries().len(), 6);
}

#[test]
fn a_callback_added_after_the_outcome_was_taken_gets_consumed() {
    let log = Log::default();
    // A future that never had callbacks before its value was taken.
    let mut future = ready::<u32, TestError>(1);
    assert_eq!(future.result(None), Ok(1));
    future.add_done_callback(log.callback("after value"));
    // One that had, taken by an async wait.
    let (promise, mut future2) = promise::<u32, TestError>();
    future2.add_done_callback(log.callback("before error"));
    promise.set_error("e");
    assert_eq!(
        futures_lite::future::block_on(future2.result_async(None)),
        Err(Error::Failed("e"))
    );
    future2.add_done_callback(log.callback("after error"));
    // Taken with try_result.
    let mut future3 = ready::<u32, TestError>(3);
    assert_eq!(future3.try_result(), Some(Ok(3)));
    future3.add_done_callback(log.callback("after try_result"));
    assert_eq!(
        log.seen(),
        pairs(&[
            ("after value", "Err(Consumed)"),
            ("before error", r#"Err(Failed("e"))"#),
            ("after error", "Err(Consumed)"),
            ("after try_result", "Err(Consumed)"),
        ])
    );
    assert_eq!(future.result(None), Err(Error::Consumed));
    assert_eq!(future2.result(None), Err(Error::Consumed));
}

#[test]
fn a_callback_on_a_cancelled_future_gets_cancelled() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    assert!(future.future().cancel());
    future.add_done_callback(log.callback("plain"));
    // One cancelled after it had callbacks, then given another.
    let (promise2, mut future2) = apifuture::promise::<u32, TestError>();
    future2.add_done_callback(log.callback("pending"));
    assert!(future2.future().cancel());
    future2.add_done_callback(log.callback("added after cancel"));
    assert_eq!(
        log.seen(),
        pairs(&[
            ("plain", "Err(Cancelled)"),
            ("pending", "Err(Cancelled)"),
            ("added after cancel", "Err(Cancelled)"),
        ])
    );
    for (promise, future) in [(promise, &mut future), (promise2, &mut future2)] {
        promise.set_result(1); // dropped
        assert_eq!(future.result(None), Err(Error::Cancelled));
        assert!(future.future().cancelled());
    }
    assert_eq!(log.entries().len(), 3, "completing afterwards runs nothing");
}

#[test]
fn a_callback_on_an_abandoned_future_gets_abandoned() {
    let log = Log::default();
    // Abandoned, nobody looked yet.
    let (promise, mut future) = promise::<u32, TestError>();
    drop(promise);
    future.add_done_callback(log.callback("unseen"));
    // Its `Debug` says so as a future without callbacks would.
    assert!(format!("{future:?}").contains("abandoned"), "{future:?}");
    assert_eq!(future.result(None), Err(Error::Abandoned));
    // Abandoned and already seen by a waiter: a state, so again Abandoned, never Consumed.
    future.add_done_callback(log.callback("seen"));
    assert_eq!(future.result(None), Err(Error::Abandoned));
    let (promise, mut future) = apifuture::promise::<u32, TestError>();
    drop(promise);
    assert_eq!(future.try_result(), Some(Err(Error::Abandoned)));
    future.add_done_callback(log.callback("plain, seen"));
    assert_eq!(
        log.seen(),
        pairs(&[
            ("unseen", "Err(Abandoned)"),
            ("seen", "Err(Abandoned)"),
            ("plain, seen", "Err(Abandoned)"),
        ])
    );
}

#[test]
fn dropping_the_producer_runs_pending_callbacks_with_abandoned() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("first"));
    future.add_done_callback(log.callback("second"));
    let producer = thread::spawn(move || {
        drop(promise);
        thread::current().id()
    });
    let producer_thread = producer.join().unwrap();
    assert_eq!(
        log.seen(),
        pairs(&[("first", "Err(Abandoned)"), ("second", "Err(Abandoned)")])
    );
    assert!(log.entries().iter().all(|e| e.thread == producer_thread));
    assert!(!future.future().cancel(), "an abandoned future is complete");
    assert_eq!(future.result(None), Err(Error::Abandoned));
    assert_eq!(future.result(None), Err(Error::Abandoned));
    assert_eq!(log.entries().len(), 2);
}

#[test]
fn a_blocked_waiter_sees_abandoned_after_the_callbacks() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("callback"));
    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        drop(promise);
    });
    let outcome = future.result(GENEROUS);
    log.record("waiter", show(&outcome));
    producer.join().unwrap();
    assert_eq!(
        log.seen(),
        pairs(&[("callback", "Err(Abandoned)"), ("waiter", "Err(Abandoned)")])
    );
}

#[test]
fn cancel_runs_pending_callbacks_with_cancelled() {
    let counter = DropCounter::new();
    let log = Log::default();
    let (promise, mut future) = promise::<Tracked, TestError>();
    future.add_done_callback(log.callback("first"));
    future.add_done_callback(log.callback("second"));
    assert!(!promise.is_cancelled());
    assert!(future.future().cancel());
    assert_eq!(
        log.seen(),
        pairs(&[("first", "Err(Cancelled)"), ("second", "Err(Cancelled)")])
    );
    assert!(
        log.entries()
            .iter()
            .all(|e| e.thread == thread::current().id()),
        "cancel runs them on the cancelling thread"
    );
    assert!(promise.is_cancelled());
    assert!(promise.wait_cancelled(Duration::ZERO));
    assert!(future.future().cancelled());
    assert!(future.future().cancel(), "still cancelled");
    assert_eq!(log.entries().len(), 2, "a second cancel runs nothing");
    promise.set_result(counter.track(1));
    counter.assert_all_dropped();
    assert!(matches!(future.result(None), Err(Error::Cancelled)));
    assert!(matches!(future.try_result(), Some(Err(Error::Cancelled))));
    assert_eq!(log.entries().len(), 2);
}

#[test]
fn cancel_after_completion_is_refused_and_callbacks_keep_the_value() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("callback"));
    thread::spawn(move || promise.set_result(8)).join().unwrap();
    assert!(!future.future().cancel());
    assert!(!future.future().cancelled());
    assert_eq!(future.result(None), Ok(8));
    assert!(!future.future().cancel(), "taken");
    assert_eq!(log.seen(), pairs(&[("callback", "Ok(8)")]));
}

#[test]
fn dropping_a_pending_future_runs_its_callbacks_with_cancelled() {
    let log = Log::default();

    // Dropped on this thread.
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("dropped here"));
    drop(future);
    assert!(promise.is_cancelled());
    drop(promise);

    // Dropped on another thread.
    let (promise, mut future) = apifuture::promise::<u32, TestError>();
    future.add_done_callback(log.callback("dropped there"));
    let consumer = thread::spawn(move || {
        drop(future);
        thread::current().id()
    });
    let consumer_thread = consumer.join().unwrap();
    assert!(promise.is_cancelled());
    assert_eq!(log.entries()[1].thread, consumer_thread);
    drop(promise);

    // Dropped inside `.await`'s future after one poll (a task that was cancelled).
    let (promise, mut future) = apifuture::promise::<u32, TestError>();
    future.add_done_callback(log.callback("dropped awaiting"));
    {
        let mut waiting = pin!(future);
        assert!(
            waiting
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
    }
    assert!(promise.is_cancelled());
    promise.set_result(1);

    // Dropped after a timed-out wait.
    let (promise, mut future) = apifuture::promise::<u32, TestError>();
    future.add_done_callback(log.callback("dropped after timeout"));
    assert_eq!(future.result(Duration::from_millis(1)), Err(Error::Timeout));
    assert!(!promise.is_cancelled());
    drop(future);
    assert!(promise.is_cancelled());

    assert_eq!(
        log.seen(),
        pairs(&[
            ("dropped here", "Err(Cancelled)"),
            ("dropped there", "Err(Cancelled)"),
            ("dropped awaiting", "Err(Cancelled)"),
            ("dropped after timeout", "Err(Cancelled)"),
        ])
    );
}

#[test]
fn dropping_a_completed_future_with_callbacks_drops_the_value_once() {
    let counter = DropCounter::new();
    let calls = Arc::new(AtomicUsize::new(0));
    for take in [false, true] {
        let (promise, mut future) = promise::<Tracked, TestError>();
        let seen = Arc::clone(&calls);
        future.add_done_callback(move |outcome| {
            assert_eq!(outcome.as_ref().unwrap().value, 3);
            seen.fetch_add(1, Ordering::SeqCst);
        });
        promise.set_result(counter.track(3));
        if take {
            assert_eq!(future.result(None).unwrap().value, 3);
        }
        drop(future);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    counter.assert_all_dropped();
    assert_eq!(counter.created(), 2);
}

/// A callback that panics with a message naming where it ran.
fn panicking(label: &'static str) -> impl FnOnce(&Result<u32, Error<TestError>>) + Send {
    move |_| panic!("test callback panics on purpose ({label})")
}

#[test]
fn a_panicking_callback_is_caught_on_the_producer_thread() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("before"));
    future.add_done_callback(panicking("producer"));
    future.add_done_callback(log.callback("after"));
    let producer = thread::spawn(move || promise.set_result(11));
    assert!(
        producer.join().is_ok(),
        "the panic must not reach the producer"
    );
    assert_eq!(future.result(GENEROUS), Ok(11), "the waiter gets the value");
    assert_eq!(
        log.seen(),
        pairs(&[("before", "Ok(11)"), ("after", "Ok(11)")])
    );
}

#[test]
fn a_panicking_callback_does_not_hang_a_blocked_waiter() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(panicking("blocked waiter"));
    future.add_done_callback(log.callback("after"));
    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(10));
        promise.set_result(12);
    });
    let outcome = future.result(GENEROUS);
    log.record("waiter", show(&outcome));
    producer.join().unwrap();
    assert_eq!(
        log.seen(),
        pairs(&[("after", "Ok(12)"), ("waiter", "Ok(12)")])
    );
}

#[test]
fn a_panicking_callback_does_not_hang_an_async_waiter() {
    on_two_executors(|| async {
        let log = Log::default();
        let (promise, mut future) = promise::<u32, TestError>();
        future.add_done_callback(panicking("async waiter"));
        future.add_done_callback(log.callback("after"));
        let (registered, went) = mpsc::channel();
        let producer = produce_on_signal(promise, 13, went, Duration::ZERO);
        let outcome = SignalOnPending::new(future, registered).await;
        log.record("waiter", show(&outcome));
        producer.join().unwrap();
        assert_eq!(
            log.seen(),
            pairs(&[("after", "Ok(13)"), ("waiter", "Ok(13)")])
        );
    });
}

#[test]
fn a_panicking_callback_is_caught_when_run_at_once_on_cancel_and_on_drop() {
    let log = Log::default();
    // At once, on a ready future.
    let mut future = ready::<u32, TestError>(14);
    future.add_done_callback(panicking("at once"));
    future.add_done_callback(log.callback("at once, after"));
    assert_eq!(future.result(None), Ok(14));
    // By cancel().
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(panicking("cancel"));
    future.add_done_callback(log.callback("cancel, after"));
    assert!(future.future().cancel());
    assert!(promise.is_cancelled());
    assert_eq!(future.result(None), Err(Error::Cancelled));
    // By dropping the future.
    let (promise, mut future) = apifuture::promise::<u32, TestError>();
    future.add_done_callback(panicking("drop"));
    future.add_done_callback(log.callback("drop, after"));
    drop(future);
    assert!(promise.is_cancelled());
    // After the outcome was taken.
    let mut future = ready::<u32, TestError>(15);
    assert_eq!(future.result(None), Ok(15));
    future.add_done_callback(panicking("consumed"));
    future.add_done_callback(log.callback("consumed, after"));
    assert_eq!(
        log.seen(),
        pairs(&[
            ("at once, after", "Ok(14)"),
            ("cancel, after", "Err(Cancelled)"),
            ("drop, after", "Err(Cancelled)"),
            ("consumed, after", "Err(Consumed)"),
        ])
    );
}

#[test]
fn a_blocking_timeout_with_callbacks_pending_loses_nothing() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("callback"));
    assert_eq!(future.result(Duration::from_millis(5)), Err(Error::Timeout));
    assert_eq!(future.result(Duration::ZERO), Err(Error::Timeout));
    assert_eq!(
        future.result_deadline(Instant::now() + Duration::from_millis(1)),
        Err(Error::Timeout)
    );
    assert_eq!(future.try_result(), None);
    assert!(!future.done());
    assert!(log.entries().is_empty(), "a timeout runs no callback");
    assert!(!promise.is_cancelled(), "a timeout does not cancel");

    let producer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(5));
        promise.set_result(21);
    });
    assert_eq!(future.result(GENEROUS), Ok(21));
    producer.join().unwrap();
    assert_eq!(log.seen(), pairs(&[("callback", "Ok(21)")]));
}

#[test]
#[cfg_attr(miri, ignore = "needs async-io's timers (epoll)")]
fn an_async_timeout_with_callbacks_pending_loses_nothing() {
    on_two_executors(|| async {
        let log = Log::default();
        let (promise, mut future) = promise::<u32, TestError>();
        future.add_done_callback(log.callback("callback"));
        assert_eq!(
            future.result_async(Duration::from_millis(5)).await,
            Err(Error::Timeout)
        );
        assert_eq!(
            future.result_async(Duration::from_millis(5)).await,
            Err(Error::Timeout)
        );
        assert!(log.entries().is_empty(), "a timeout runs no callback");
        assert!(!promise.is_cancelled(), "a timeout does not cancel");
        let producer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            promise.set_result(22);
        });
        assert_eq!(future.result_async(GENEROUS).await, Ok(22));
        producer.join().unwrap();
        assert_eq!(log.seen(), pairs(&[("callback", "Ok(22)")]));
        assert_eq!(future.result_async(GENEROUS).await, Err(Error::Consumed));
    });
}

#[test]
fn an_abandoned_async_wait_with_callbacks_pending_loses_nothing() {
    // The Miri-friendly half of the async timeout: a zero timeout (no timer), and a wait
    // polled once and dropped, as a timeout or a select would.
    on_two_executors(|| async {
        let log = Log::default();
        let (promise, mut future) = promise::<u32, TestError>();
        future.add_done_callback(log.callback("callback"));
        common::give_up_two_async_waits(&mut future).await;
        assert!(log.entries().is_empty());
        assert!(!promise.is_cancelled());
        let (registered, went) = mpsc::channel();
        let producer = produce_on_signal(promise, 23, went, Duration::ZERO);
        let outcome = SignalOnPending::new(future.result_async(None), registered).await;
        assert_eq!(outcome, Ok(23));
        producer.join().unwrap();
        assert_eq!(log.seen(), pairs(&[("callback", "Ok(23)")]));
    });
}

/// What a callback or a waiter saw in the race tests: the value's number or the error's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Value(u64),
    Failed(u64),
    Cancelled,
    Abandoned,
    Other,
}

fn seen(outcome: &Result<Tracked, Error<Tracked>>) -> Seen {
    match outcome {
        Ok(value) => Seen::Value(value.value),
        Err(Error::Failed(error)) => Seen::Failed(error.value),
        Err(Error::Cancelled) => Seen::Cancelled,
        Err(Error::Abandoned) => Seen::Abandoned,
        Err(_) => Seen::Other,
    }
}

#[derive(Debug, Clone, Copy)]
enum RaceProducer {
    Complete,
    Fail,
    Drop,
}

#[derive(Debug, Clone, Copy)]
enum RaceConsumer {
    /// `cancel()`, then a blocking wait.
    Cancel,
    /// `cancel()`, then an async wait.
    CancelThenAwait,
    /// Drop the future (nobody waits).
    Drop,
}

/// The producer acts on one thread while the consumer cancels or drops on another, starting
/// together and each delayed by a varying spin. Callbacks run exactly once; they and the
/// waiter see the same winner; every value is dropped exactly once.
fn race_cell(producer: RaceProducer, consumer: RaceConsumer, rounds: usize) {
    let counter = DropCounter::new();
    for round in 0..rounds {
        let value = round as u64;
        let (promise, mut future) = promise::<Tracked, Tracked>();
        let calls: Arc<Mutex<Vec<Seen>>> = Arc::default();
        for _ in 0..2 {
            let calls = Arc::clone(&calls);
            future.add_done_callback(move |outcome| calls.lock().unwrap().push(seen(outcome)));
        }
        let produce = || match producer {
            RaceProducer::Complete => promise.set_result(counter.track(value)),
            RaceProducer::Fail => promise.set_error(counter.track(value)),
            RaceProducer::Drop => drop(promise),
        };
        let ((), waiter_saw) = common::race(round, 32, produce, || match consumer {
            RaceConsumer::Cancel | RaceConsumer::CancelThenAwait => {
                let cancelled = future.future().cancel();
                let outcome = if let RaceConsumer::Cancel = consumer {
                    future.result(GENEROUS)
                } else {
                    common::block_on_within(future.result_async(None), GENEROUS)
                        .expect("the async wait hung")
                };
                let saw = seen(&outcome);
                assert_eq!(
                    cancelled,
                    saw == Seen::Cancelled,
                    "{producer:?}/{consumer:?}: cancel() said {cancelled}, the waiter saw {saw:?}"
                );
                drop(outcome);
                Some(saw)
            }
            RaceConsumer::Drop => {
                drop(future);
                None
            }
        });
        // The producer's thread has finished: every callback has run by now.
        let calls = calls.lock().unwrap().clone();
        assert_eq!(
            calls.len(),
            2,
            "{producer:?}/{consumer:?}: each callback once"
        );
        assert_eq!(calls[0], calls[1], "{producer:?}/{consumer:?}");
        let expected = match producer {
            RaceProducer::Complete => Seen::Value(value),
            RaceProducer::Fail => Seen::Failed(value),
            RaceProducer::Drop => Seen::Abandoned,
        };
        assert!(
            calls[0] == expected || calls[0] == Seen::Cancelled,
            "{producer:?}/{consumer:?}: a callback saw {:?}",
            calls[0]
        );
        if let Some(saw) = waiter_saw {
            assert_eq!(
                saw, calls[0],
                "{producer:?}/{consumer:?}: the waiter and the callbacks disagree"
            );
        }
    }
    counter.assert_all_dropped();
}

fn race_producer(producer: RaceProducer) {
    for consumer in [
        RaceConsumer::Cancel,
        RaceConsumer::CancelThenAwait,
        RaceConsumer::Drop,
    ] {
        race_cell(producer, consumer, iterations(400, 12));
    }
}

#[test]
fn cancel_racing_set_result_has_one_winner_that_everyone_sees() {
    race_producer(RaceProducer::Complete);
}

#[test]
fn cancel_racing_set_error_has_one_winner_that_everyone_sees() {
    race_producer(RaceProducer::Fail);
}

#[test]
fn cancel_racing_a_dropped_producer_has_one_winner_that_everyone_sees() {
    race_producer(RaceProducer::Drop);
}

#[test]
fn cancel_racing_set_result_many_times() {
    // The brief's core race, spun harder: one callback, cancel() against set_result.
    let counter = DropCounter::new();
    let mut outcomes = [0usize; 2];
    for round in 0..iterations(3_000, 40) {
        let (promise, mut future) = promise::<Tracked, Tracked>();
        let calls: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let record = Arc::clone(&calls);
        future.add_done_callback(move |outcome| record.lock().unwrap().push(seen(outcome)));
        let produce = || promise.set_result(counter.track(round as u64));
        let ((), waiter_saw) = common::race(round, 16, produce, || {
            let cancelled = future.future().cancel();
            let saw = seen(&future.result(GENEROUS));
            assert_eq!(cancelled, saw == Seen::Cancelled);
            saw
        });
        let calls = calls.lock().unwrap().clone();
        assert_eq!(calls, [waiter_saw], "round {round}");
        outcomes[usize::from(waiter_saw == Seen::Cancelled)] += 1;
    }
    counter.assert_all_dropped();
    // Not an assertion on timing: just make both winners visible when run with --nocapture.
    println!("value won {} times, cancel {}", outcomes[0], outcomes[1]);
}

#[test]
fn callbacks_added_while_earlier_ones_run_all_run_once_in_order() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    let (running, is_running) = mpsc::channel();
    let (go, may_go) = mpsc::channel::<()>();
    let slow_log = log.clone();
    future.add_done_callback(move |outcome: &Result<u32, Error<TestError>>| {
        slow_log.record("slow", show(outcome));
        running.send(()).unwrap();
        // Holds the producer's thread until the consumer has added more.
        may_go.recv_timeout(GENEROUS).unwrap();
    });
    let producer = thread::spawn(move || {
        promise.set_result(31);
        thread::current().id()
    });
    is_running.recv_timeout(GENEROUS).unwrap();

    // The slow callback is running on the producer: nobody may see the outcome yet.
    assert_eq!(
        future.try_result(),
        None,
        "the outcome before its callbacks"
    );
    assert_eq!(future.result(Duration::ZERO), Err(Error::Timeout));
    assert!(
        !future.future().cancel(),
        "the outcome is on its way: cancel loses"
    );
    future.add_done_callback(log.callback("added while running 1"));
    future.add_done_callback(log.callback("added while running 2"));
    go.send(()).unwrap();

    assert_eq!(future.result(GENEROUS), Ok(31));
    let producer_thread = producer.join().unwrap();
    future.add_done_callback(log.callback("after"));
    assert_eq!(
        log.seen(),
        pairs(&[
            ("slow", "Ok(31)"),
            ("added while running 1", "Ok(31)"),
            ("added while running 2", "Ok(31)"),
            ("after", "Err(Consumed)"),
        ])
    );
    let entries = log.entries();
    assert!(
        entries[..3].iter().all(|e| e.thread == producer_thread),
        "callbacks queued while the producer ran earlier ones run there too: {entries:?}"
    );
}

#[test]
fn callbacks_added_while_the_producer_completes_all_run_once_in_order() {
    const CALLBACKS: usize = 12;
    for round in 0..iterations(300, 8) {
        let order: Arc<Mutex<Vec<(usize, u32)>>> = Arc::default();
        let (promise, mut future) = promise::<u32, TestError>();
        let start = StartLine::new();
        thread::scope(|scope| {
            scope.spawn(|| {
                start.meet_and_delay(round % 24);
                promise.set_result(41);
            });
            start.meet_and_delay(0);
            for index in 0..CALLBACKS {
                let order = Arc::clone(&order);
                future.add_done_callback(move |outcome: &Result<u32, Error<TestError>>| {
                    order
                        .lock()
                        .unwrap()
                        .push((index, *outcome.as_ref().unwrap()));
                });
            }
            assert_eq!(future.result(GENEROUS), Ok(41));
        });
        let order = order.lock().unwrap().clone();
        let expected: Vec<(usize, u32)> = (0..CALLBACKS).map(|index| (index, 41)).collect();
        assert_eq!(order, expected, "round {round}");
    }
}

#[test]
fn callbacks_on_a_spawned_future() {
    let log = Log::default();
    let (release, hold) = mpsc::channel::<()>();
    let mut future: AwaitableConcurrentFuture<u32, TestError> = spawn(move || {
        hold.recv_timeout(GENEROUS).unwrap();
        Ok(51)
    });
    future.add_done_callback(log.callback("job"));
    release.send(()).unwrap();
    let outcome = future.result(GENEROUS);
    log.record("waiter", show(&outcome));
    assert_eq!(
        log.seen(),
        pairs(&[("job", "Ok(51)"), ("waiter", "Ok(51)")])
    );
    drop(future);
    common::retire_pool_threads();
}

#[test]
fn dropping_the_future_while_the_producer_runs_callbacks_changes_nothing() {
    // The consumer gives up while a slow callback runs on the producer: too late to cancel,
    // so every callback still sees the value, once, and the value is dropped once.
    let counter = DropCounter::new();
    let (promise, mut future) = promise::<Tracked, TestError>();
    let (running, is_running) = mpsc::channel();
    let (go, may_go) = mpsc::channel::<()>();
    let seen_values: Arc<Mutex<Vec<u64>>> = Arc::default();
    let record = Arc::clone(&seen_values);
    future.add_done_callback(move |outcome: &Result<Tracked, Error<TestError>>| {
        record.lock().unwrap().push(outcome.as_ref().unwrap().value);
        running.send(()).unwrap();
        may_go.recv_timeout(GENEROUS).unwrap();
    });
    let record = Arc::clone(&seen_values);
    future.add_done_callback(move |outcome: &Result<Tracked, Error<TestError>>| {
        record
            .lock()
            .unwrap()
            .push(outcome.as_ref().unwrap().value + 100);
    });
    let value = counter.track(61);
    let producer = thread::spawn(move || promise.set_result(value));
    is_running.recv_timeout(GENEROUS).unwrap();
    drop(future);
    assert_eq!(counter.dropped(), 0, "the callbacks still hold the value");
    go.send(()).unwrap();
    producer.join().unwrap();
    assert_eq!(*seen_values.lock().unwrap(), [61, 161]);
    counter.assert_all_dropped();
}

#[test]
fn an_async_waiter_moved_to_another_task_is_woken_after_the_callbacks() {
    let log = Log::default();
    let (promise, mut future) = promise::<u32, TestError>();
    future.add_done_callback(log.callback("callback"));
    let mut waiting = pin!(future.result_async(None));
    let (_first, second) = common::poll_pending_with_two_wakers(waiting.as_mut());
    thread::spawn(move || promise.set_result(71))
        .join()
        .unwrap();
    assert_eq!(log.seen(), pairs(&[("callback", "Ok(71)")]));
    assert_eq!(
        second.0.load(Ordering::SeqCst),
        1,
        "the latest waker is woken"
    );
    assert_eq!(
        waiting
            .as_mut()
            .poll(&mut Context::from_waker(&Waker::from(Arc::clone(&second)))),
        std::task::Poll::Ready(Ok(71))
    );
}

/// A future whose done callback blocks on the producer's thread until `release` is sent: the
/// outcome is sent but not delivered while the test looks.
fn held_in_its_callback() -> (
    apifuture::AwaitableConcurrentFuture<u32, TestError>,
    mpsc::Sender<()>,
    thread::JoinHandle<()>,
) {
    let (producer, mut future) = promise::<u32, TestError>();
    let (started, running) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    future.add_done_callback(move |_| {
        started.send(()).unwrap();
        released.recv().unwrap();
    });
    let completing = thread::spawn(move || producer.set_result(1));
    running.recv().unwrap();
    (future, release, completing)
}

#[test]
#[cfg_attr(
    miri,
    ignore = "blocks threads on channels for the whole window; the race matrix covers the relay under Miri"
)]
fn waits_that_look_while_the_callbacks_run_get_the_value_after_them() {
    // A blocking wait parks until the callbacks have run, then takes the value.
    let (mut future, release, completing) = held_in_its_callback();
    assert!(
        !future.done(),
        "sent, but not there until the callbacks ran"
    );
    let waiting = thread::spawn(move || future.result(Duration::from_secs(30)));
    thread::sleep(Duration::from_millis(20));
    release.send(()).unwrap();
    assert_eq!(waiting.join().unwrap(), Ok(1));
    completing.join().unwrap();

    // A multi-wait does not take the future for ready (and hand out Consumed) too early.
    let (future, release, completing) = held_in_its_callback();
    let joining = thread::spawn(move || apifuture::join_all(vec![future]));
    thread::sleep(Duration::from_millis(20));
    release.send(()).unwrap();
    assert_eq!(joining.join().unwrap(), [Ok(1)]);
    completing.join().unwrap();

    let (future, release, completing) = held_in_its_callback();
    let yielding = thread::spawn(move || {
        apifuture::as_completed(vec![future], Duration::from_secs(30)).collect::<Vec<_>>()
    });
    thread::sleep(Duration::from_millis(20));
    release.send(()).unwrap();
    assert_eq!(yielding.join().unwrap(), [(0, Ok(1))]);
    completing.join().unwrap();
}

// ===== waiters never run callbacks, and never wait past their own limit for them =====

#[test]
#[cfg_attr(
    miri,
    ignore = "blocks threads on channels for the whole window; the race below covers the relay under Miri"
)]
fn a_timed_wait_returns_at_its_limit_while_callbacks_run() {
    let (mut future, release, completing) = held_in_its_callback();
    // The callback holds the producer's thread until released: a waiter's limit is its own.
    assert_eq!(future.result(Duration::from_millis(1)), Err(Error::Timeout));
    assert_eq!(
        future.result_deadline(Instant::now() + Duration::from_millis(1)),
        Err(Error::Timeout)
    );
    let limit = Duration::from_millis(1);
    assert_eq!(
        futures_lite::future::block_on(future.result_async(limit)),
        Err(Error::Timeout)
    );
    assert_eq!(
        smol::block_on(future.result_async(limit)),
        Err(Error::Timeout)
    );
    assert_eq!(
        ViaTrait::new(future).result(Duration::from_millis(1)),
        Err(Error::Timeout)
    );
    release.send(()).unwrap();
    completing.join().unwrap();

    // `done()` and a zero wait agree while the callbacks run: not yet.
    let (mut future, release, completing) = held_in_its_callback();
    assert!(!future.done(), "done() while the callbacks still run");
    assert!(!future.future().done());
    assert_eq!(future.result(Duration::ZERO), Err(Error::Timeout));
    assert_eq!(future.try_result(), None);
    assert!(
        !future.future().cancel(),
        "the outcome is on its way: too late to cancel"
    );
    release.send(()).unwrap();
    completing.join().unwrap();
    assert!(future.done());
    assert_eq!(future.result(Duration::ZERO), Ok(1), "nothing was lost");
}

/// How the racing waiter looks at the future in `waiters_never_run_the_callbacks`.
#[derive(Debug, Clone, Copy)]
enum Look {
    ZeroWait,
    ShortWait,
    TryResult,
    Done,
    ZeroAsync,
}

#[test]
fn waiters_never_run_the_callbacks() {
    let looks = [
        Look::ZeroWait,
        Look::ShortWait,
        Look::TryResult,
        Look::Done,
        Look::ZeroAsync,
    ];
    for round in 0..iterations(600, 20) {
        let how = looks[round % looks.len()];
        let (promise, mut future) = promise::<u32, TestError>();
        let ran_on = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&ran_on);
        future.add_done_callback(move |_| seen.lock().unwrap().push(thread::current().id()));
        let produce = || {
            promise.set_result(3);
            thread::current().id()
        };
        let (producer_thread, value) = common::race(round, 16, produce, || {
            // Look again and again while the producer sends and delivers.
            loop {
                let looked = match how {
                    Look::ZeroWait => future.result(Duration::ZERO),
                    Look::ShortWait => future.result(Duration::from_micros(20)),
                    Look::TryResult => future.try_result().unwrap_or(Err(Error::Timeout)),
                    Look::Done if future.done() => future.result(Duration::ZERO),
                    Look::Done => Err(Error::Timeout),
                    Look::ZeroAsync => {
                        futures_lite::future::block_on(future.result_async(Duration::ZERO))
                    }
                };
                match looked {
                    Err(Error::Timeout) => thread::yield_now(),
                    outcome => break outcome,
                }
            }
        });
        assert_eq!(value, Ok(3), "{how:?}, round {round}");
        assert_eq!(
            *ran_on.lock().unwrap(),
            [producer_thread],
            "{how:?}, round {round}: the callback ran on the waiter's thread"
        );
    }
}

#[test]
fn a_callback_added_after_completion_leaves_nothing_behind_in_the_promises_state() {
    let drops = DropCounter::new();
    // The value holds its own promise's `WhenCancelled`, which holds the state both ends share.
    let (producer, mut future) = promise::<(Tracked, apifuture::WhenCancelled), TestError>();
    let watch = producer.cancelled();
    producer.set_result((drops.track(1), watch));
    future.add_done_callback(|_| {});
    drop(future);
    assert_eq!(drops.dropped(), 1, "the value outlived its future");
    // And with the `WhenCancelled` held elsewhere.
    let (producer, mut future) = promise::<Tracked, TestError>();
    let watch = producer.cancelled();
    producer.set_result(drops.track(2));
    future.add_done_callback(|_| {});
    drop(future);
    assert_eq!(drops.dropped(), 2, "the value outlived its future");
    drop(watch);
}

/// Counts its wake-ups.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `future` once as a task would, with a waker that counts its wake-ups, which it
/// returns; the future is pending and keeps the waker.
fn polled_pending(future: &mut AwaitableConcurrentFuture<u32, TestError>) -> Arc<CountingWaker> {
    let woken = Arc::new(CountingWaker::default());
    let waker = Waker::from(Arc::clone(&woken));
    assert!(
        std::pin::Pin::new(future)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    woken
}

#[test]
fn a_callback_added_after_an_async_poll_keeps_that_poll_s_wake_up() {
    let (producer, mut future) = promise::<u32, TestError>();
    let woken = polled_pending(&mut future);
    let log = Log::default();
    future.add_done_callback(log.callback("callback"));
    producer.set_result(7);
    assert_eq!(log.seen(), pairs(&[("callback", "Ok(7)")]));
    assert_eq!(
        woken.0.load(Ordering::SeqCst),
        1,
        "the polling task was woken"
    );
    assert_eq!(future.result(Duration::ZERO), Ok(7));
}

/// Awaits a future and adds a done callback to it the first time it is pending, as a wrapper
/// that logs or counts completions might.
struct CallbackOnPending {
    inner: AwaitableConcurrentFuture<u32, TestError>,
    hooked: bool,
}

impl Future for CallbackOnPending {
    type Output = Result<u32, Error<TestError>>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let polled = std::pin::Pin::new(&mut self.inner).poll(cx);
        if polled.is_pending() && !self.hooked {
            self.hooked = true;
            self.inner.add_done_callback(|_| {});
        }
        polled
    }
}

#[test]
fn a_task_that_adds_a_callback_while_it_awaits_is_woken() {
    let (producer, future) = promise::<u32, TestError>();
    let (pending, is_pending) = mpsc::channel();
    let task = SignalOnPending::new(
        CallbackOnPending {
            inner: future,
            hooked: false,
        },
        pending,
    );
    let (done, finished) = mpsc::channel();
    thread::spawn(move || done.send(futures_lite::future::block_on(task)));
    is_pending.recv_timeout(GENEROUS).unwrap();
    producer.set_result(5);
    assert_eq!(
        finished.recv_timeout(GENEROUS),
        Ok(Ok(5)),
        "the task was never woken"
    );
}

#[test]
fn a_future_detached_after_an_async_poll_lets_that_poll_s_waker_go() {
    let (producer, mut future) = promise::<u32, TestError>();
    let woken = polled_pending(&mut future);
    assert_eq!(
        Arc::strong_count(&woken),
        2,
        "the future keeps the task's waker"
    );
    apifuture::ApiFutureExt::detach(future);
    assert_eq!(Arc::strong_count(&woken), 1, "nobody waits: the waker goes");
    producer.set_result(7);
    assert_eq!(woken.0.load(Ordering::SeqCst), 0);
}

#[test]
fn a_future_with_callbacks_detached_after_a_poll_lets_that_poll_s_waker_go() {
    // The callback first, then the poll (whose waker the relay keeps), or the other way round.
    for callback_first in [true, false] {
        let (producer, mut future) = promise::<u32, TestError>();
        let log = Log::default();
        if callback_first {
            future.add_done_callback(log.callback("callback"));
        }
        let woken = polled_pending(&mut future);
        if !callback_first {
            future.add_done_callback(log.callback("callback"));
        }
        assert_eq!(Arc::strong_count(&woken), 2);
        apifuture::ApiFutureExt::detach(future);
        assert_eq!(Arc::strong_count(&woken), 1, "nobody waits: the waker goes");
        producer.set_result(7);
        assert_eq!(woken.0.load(Ordering::SeqCst), 0);
        assert_eq!(
            log.seen(),
            pairs(&[("callback", "Ok(7)")]),
            "callbacks still run"
        );
    }
}
