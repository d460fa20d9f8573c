//! Panics whose payload panics again when it is dropped: in a done callback, a `spawn`ed
//! closure, a `spawn_async` task, a `from_future` future, a combinator's closure, a retry's
//! classifier and a background future; and a retry's attempts and errors whose drop panics. None
//! strands a waiter or changes the outcome: the waiter
//! gets the value (a callback's panic is not the producer's) or `Panicked(..)`, later callbacks
//! still run, and the value of a completed future is dropped once. Last, a waker that panics
//! when woken (a broken executor) does not keep the other waiters of a shared future or of
//! `Promise::cancelled` asleep, nor unwinds into another handle's wait; nor does a shared value
//! whose `Clone` panics.

use crate::common;

use std::panic::panic_any;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, Error, RetryPolicy, failed, from_future,
    promise, ready, retry, spawn, spawn_async,
};
use common::{DropCounter, TestError};

/// A panic payload whose drop panics too, `depth` times over (each drop panics with the next
/// one).
struct Bomb {
    depth: u32,
}

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.depth > 0 {
            panic_any(Bomb {
                depth: self.depth - 1,
            });
        }
    }
}

/// Panics with a payload that panics on drop once, or (`endless`) more often than anyone
/// would catch.
fn explode(endless: bool) -> ! {
    panic_any(Bomb {
        depth: if endless { 1_000 } else { 1 },
    })
}

/// The async form of [`explode`].
async fn exploding(endless: bool) -> Result<u32, TestError> {
    explode(endless)
}

/// Runs `check` on its own thread and fails if it has not finished within 30 s: a stranded
/// waiter fails the test instead of hanging it.
fn within_30s(check: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        check();
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(30)) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("a waiter was stranded"),
    }
    common::retire_pool_threads();
}

/// Payloads that panic on drop once, and (natively: under Miri its leak check would report
/// the payload given up on) endlessly.
fn hostility() -> &'static [bool] {
    if cfg!(miri) { &[false] } else { &[false, true] }
}

fn is_panicked<T: std::fmt::Debug>(outcome: &Result<T, Error<TestError>>) -> bool {
    matches!(outcome, Err(Error::Panicked(message)) if !message.is_empty())
}

const LONG: Duration = Duration::from_secs(30);

#[test]
fn a_callback_panicking_with_a_hostile_payload_leaves_the_outcome_and_the_later_callbacks() {
    for &endless in hostility() {
        within_30s(move || {
            let counter = DropCounter::new();
            let ran = Arc::new(AtomicUsize::new(0));
            let (producer, mut future) = promise::<_, TestError>();
            future.add_done_callback(move |_| explode(endless));
            let later = Arc::clone(&ran);
            future.add_done_callback(move |outcome| {
                assert!(outcome.is_ok());
                later.fetch_add(1, Ordering::SeqCst);
            });
            producer.set_result(counter.track(7));
            assert_eq!(future.result(None).unwrap().value, 7);
            // A callback added after the outcome runs at once, after a hostile one too.
            future.add_done_callback(move |_| explode(endless));
            let last = Arc::clone(&ran);
            future.add_done_callback(move |_| {
                last.fetch_add(1, Ordering::SeqCst);
            });
            assert_eq!(ran.load(Ordering::SeqCst), 2);
            drop(future);
            counter.assert_all_dropped();
        });
    }
}

#[test]
fn a_blocked_waiter_wakes_when_a_hostile_callback_runs_on_the_producer_thread() {
    within_30s(|| {
        let (producer, mut future) = promise::<u32, TestError>();
        future.add_done_callback(|_| explode(false));
        let completer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            producer.set_result(3);
        });
        assert_eq!(future.result(None), Ok(3));
        completer.join().unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn spawned_closures_and_tasks_with_hostile_payloads_give_panicked() {
    for &endless in hostility() {
        within_30s(move || {
            let mut job = spawn(move || -> Result<u32, TestError> { explode(endless) });
            assert!(is_panicked(&job.result(LONG)));
            let mut task = spawn_async(exploding(endless));
            let outcome = task.result(LONG);
            assert!(is_panicked(&outcome), "spawn_async gave {outcome:?}");
            // The pool and the executor still work afterwards.
            assert_eq!(spawn(|| Ok::<_, TestError>(1)).result(LONG), Ok(1));
            assert_eq!(
                spawn_async(async { Ok::<_, TestError>(2) }).result(LONG),
                Ok(2)
            );
        });
    }
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn lazy_futures_and_closures_with_hostile_payloads_give_panicked() {
    for &endless in hostility() {
        within_30s(move || {
            let mut lazy = from_future(exploding(endless));
            assert!(is_panicked(&lazy.result(LONG)));
            let mut mapped =
                ready::<u32, TestError>(1).map_value(move |_| -> u32 { explode(endless) });
            assert!(is_panicked(&mapped.result(LONG)));
            let mut chained = ready::<u32, TestError>(1).then_call(
                move |_| -> AwaitableConcurrentFuture<u32, TestError> { explode(endless) },
            );
            assert!(is_panicked(&chained.result(LONG)));
            let mut classified = retry(RetryPolicy::new(), |_| failed::<u32, TestError>("busy"))
                .when(move |_| explode(endless));
            assert!(is_panicked(&classified.result(LONG)));
            let mut background = from_future(exploding(endless)).background();
            let outcome = background.result(LONG);
            assert!(is_panicked(&outcome), "background gave {outcome:?}");
            let awaited = futures_lite::future::block_on(from_future(exploding(endless)));
            assert!(is_panicked(&awaited));
        });
    }
}

#[test]
fn a_hostile_payload_message_is_a_placeholder() {
    let mut job = spawn(|| -> Result<u32, TestError> { explode(false) });
    match job.result(LONG) {
        Err(Error::Panicked(message)) => assert!(message.contains("non-string"), "{message}"),
        other => panic!("expected Panicked, got {other:?}"),
    }
    // A string payload keeps its message.
    let mut plain = spawn(|| -> Result<u32, TestError> { panic!("plain") });
    assert_eq!(plain.result(LONG), Err(Error::Panicked("plain".to_owned())));
    common::retire_pool_threads();
}

/// A future that is done at once with `value`, and panics when dropped.
struct PanicsOnDrop(u32);

impl std::future::Future for PanicsOnDrop {
    type Output = Result<u32, TestError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(self.0))
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the future's drop panics");
    }
}

#[test]
fn a_future_whose_drop_panics_leaves_its_outcome_to_the_waiter() {
    within_30s(|| {
        assert_eq!(from_future(PanicsOnDrop(3)).result(LONG), Ok(3));
        let awaited = futures_lite::future::block_on(from_future(PanicsOnDrop(4)));
        assert_eq!(awaited, Ok(4));
    });
}

/// Guards an attempt that never finishes; dropping it (cancelling the attempt) panics.
struct DropBomb;

impl Drop for DropBomb {
    fn drop(&mut self) {
        panic!("the attempt's drop panics");
    }
}

/// Whether an [`ArmedError`]'s drop panics.
static ARMED: AtomicBool = AtomicBool::new(true);

/// An error whose drop panics while [`ARMED`].
#[derive(Debug, PartialEq)]
struct ArmedError(u32);

impl Drop for ArmedError {
    fn drop(&mut self) {
        if ARMED.load(Ordering::SeqCst) {
            panic!("the error's drop panics");
        }
    }
}

/// An attempt that never finishes, and panics when dropped (cancelled).
fn stuck(_: u32) -> impl ApiFuture<Value = u32, Failure = TestError> {
    from_future(async {
        let _bomb = DropBomb;
        std::future::pending::<()>().await;
        Ok(0)
    })
}

/// Both attempts time out, and are dropped: the retry ends as it would with any others.
fn two_timed_out_attempts() -> RetryPolicy {
    RetryPolicy::new()
        .with_max_attempts(2)
        .with_initial_delay(Duration::from_millis(1))
        .with_attempt_timeout(Duration::from_millis(5))
}

#[test]
fn a_retry_drops_attempts_and_errors_whose_drop_panics_without_unwinding_into_the_waiter() {
    within_30s(|| {
        let blocking = retry(two_timed_out_attempts(), stuck).result(LONG);
        assert_eq!(blocking, Err(Error::DeadlineExceeded));
        // A cancel drops the attempt in flight.
        let mut cancelled = retry(RetryPolicy::new(), stuck);
        assert_eq!(
            cancelled.result(Duration::from_millis(5)),
            Err(Error::Timeout)
        );
        assert!(cancelled.cancel());
        assert_eq!(cancelled.result(LONG), Err(Error::Cancelled));
    });
    // Each failure replaces the one before as the error to end with.
    let mut failing = retry(
        RetryPolicy::new()
            .with_max_attempts(3)
            .with_initial_delay(Duration::from_millis(1)),
        |attempt| failed::<u32, _>(ArmedError(attempt)),
    );
    let outcome = failing.result(LONG);
    ARMED.store(false, Ordering::SeqCst);
    assert_eq!(outcome, Err(Error::Failed(ArmedError(3))));
}

#[test]
fn a_chain_drops_what_its_first_future_leaves_without_unwinding_into_the_waiter() {
    within_30s(|| {
        // The closure does not run (the first future failed); what it captured panics when dropped.
        let bomb = DropBomb;
        let mut unused = failed::<u32, TestError>("down").then_call(move |value| {
            let _held = &bomb;
            ready::<u32, TestError>(value)
        });
        assert_eq!(unused.result(LONG), Err(Error::Failed("down")));
        // A retry that recovered: the error it no longer needs panics when dropped.
        #[derive(Debug, PartialEq)]
        struct Bomb(u32);
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("the error's drop panics");
            }
        }
        let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
        let mut recovered = retry(policy, |attempt| {
            if attempt == 1 {
                failed::<u32, _>(Bomb(attempt))
            } else {
                ready(attempt)
            }
        })
        .then_call(|value| ready::<u32, Bomb>(value * 10));
        assert!(matches!(recovered.result(LONG), Ok(20)));
    });
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn awaited_and_background_retries_drop_attempts_whose_drop_panics_likewise() {
    within_30s(|| {
        let awaited = futures_lite::future::block_on(retry(two_timed_out_attempts(), stuck));
        assert_eq!(awaited, Err(Error::DeadlineExceeded));
        let background = retry(two_timed_out_attempts(), stuck)
            .background()
            .result(LONG);
        assert_eq!(background, Err(Error::DeadlineExceeded));
    });
}

/// A waker whose executor is broken: waking it panics.
struct PanickingWaker;

impl std::task::Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("the executor is gone");
    }
}

fn panicking_waker() -> std::task::Waker {
    std::task::Waker::from(Arc::new(PanickingWaker))
}

#[test]
fn a_panicking_waker_does_not_keep_the_other_waiters_asleep() {
    within_30s(|| {
        let (producer, future) = promise::<u32, TestError>();
        let mut broken = future.into_shared();
        let mut other = broken.clone();
        let waker = panicking_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(broken.poll_ready(&mut cx).is_pending());
        let waiter = thread::spawn(move || other.result(None));
        // Give the waiter time to block (if it has not, it finds the value at once: also fine).
        thread::sleep(Duration::from_millis(20));
        // The broken waker's panic reaches the producer, as before, but only after the others.
        let set = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| producer.set_result(1)));
        assert!(set.is_err());
        assert_eq!(waiter.join().unwrap(), Ok(1));
        assert_eq!(broken.result(None), Ok(1));

        let (producer, future) = promise::<u32, TestError>();
        let producer = Arc::new(producer);
        let mut broken = producer.cancelled();
        assert!(std::pin::Pin::new(&mut broken).poll(&mut cx).is_pending());
        let watching = Arc::clone(&producer);
        let waiter = thread::spawn(move || watching.wait_cancelled(None));
        thread::sleep(Duration::from_millis(20));
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(future)));
        assert!(dropped.is_err());
        assert!(waiter.join().unwrap());
    });
}

/// A value whose `Clone` panics.
#[derive(Debug)]
struct CloneBomb;

impl Clone for CloneBomb {
    fn clone(&self) -> Self {
        panic!("this value cannot be cloned")
    }
}

#[test]
fn a_shared_value_whose_clone_panics_gives_that_handle_panicked() {
    let (producer, future) = promise::<CloneBomb, TestError>();
    let mut blocking = future.into_shared();
    let mut awaiting = blocking.clone();
    producer.set_result(CloneBomb);
    let blocked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| blocking.result(LONG)));
    assert!(
        matches!(blocked, Ok(Err(Error::Panicked(ref message))) if message.contains("cannot be cloned")),
        "{blocked:?}"
    );
    assert!(matches!(blocking.result(LONG), Err(Error::Consumed)));
    let awaited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        futures_lite::future::block_on(&mut awaiting)
    }));
    assert!(
        matches!(awaited, Ok(Err(Error::Panicked(_)))),
        "{awaited:?}"
    );
}

#[test]
fn another_handles_panicking_waker_does_not_unwind_into_the_handle_that_completes_the_group() {
    within_30s(|| {
        let (producer, future) = promise::<u32, TestError>();
        let (polling, inside) = mpsc::channel();
        let (go, wait_for_go) = mpsc::channel::<()>();
        let wait_for_go = std::sync::Mutex::new(wait_for_go);
        // The map's closure holds the first waiter in its poll of the source while the second
        // handle registers its broken waker.
        let shared = future
            .map_value(move |value| {
                polling.send(()).unwrap();
                wait_for_go.lock().unwrap().recv().unwrap();
                value
            })
            .into_shared();
        producer.set_result(7);
        let mut first = shared.clone();
        let waiter = thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| first.result(LONG)))
        });
        inside.recv().unwrap();
        let mut broken = shared.clone();
        let waker = panicking_waker();
        assert!(
            broken
                .poll_ready(&mut std::task::Context::from_waker(&waker))
                .is_pending()
        );
        go.send(()).unwrap();
        let outcome = waiter.join().unwrap();
        assert!(matches!(outcome, Ok(Ok(7))), "{outcome:?}");
        assert_eq!(broken.result(LONG), Ok(7));
    });
}
