//! `SharedFuture`: many waiters, blocking and async, one outcome.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, BoxError, Error, SharedFuture, failed, from_future, promise, ready,
};
use common::{
    CountingWaker, DropCounter, StartLine, TestError, Tracked, iterations, on_two_executors,
    poll_pending_with_two_wakers,
};

const LONG: Duration = Duration::from_secs(30);

#[test]
fn every_handle_gets_the_value_once_and_a_fresh_clone_gets_it_again() {
    let mut a = ready::<String, TestError>("v".into()).into_shared();
    let mut b = a.clone();
    assert_eq!(a.result(None).unwrap(), "v");
    assert_eq!(a.result(None), Err(Error::Consumed));
    let mut c = a.clone();
    assert_eq!(b.try_result(), Some(Ok("v".to_string())));
    assert_eq!(c.result(Duration::ZERO).unwrap(), "v");
}

#[test]
fn errors_are_shared_too() {
    let mut a = failed::<u8, TestError>("503").into_shared();
    let mut b = a.clone();
    assert_eq!(a.result(None), Err(Error::Failed(Arc::new("503"))));
    assert_eq!(b.result(None), Err(Error::Failed(Arc::new("503"))));

    // Not `Clone`, and shared all the same: every handle gets the one error, displayed as the
    // original.
    let mut boxed = failed::<u8, BoxError>("boom".into()).into_shared();
    let mut other = boxed.clone();
    let first = boxed.result(None).unwrap_err();
    let second = other.result(None).unwrap_err();
    let (Error::Failed(first), Error::Failed(second)) = (first, second) else {
        panic!("both should be Failed");
    };
    assert!(Arc::ptr_eq(&first, &second), "one error, shared");
    assert_eq!(first.to_string(), "boom");
}

#[test]
#[cfg_attr(miri, ignore = "async-io timers need the reactor")]
fn timeouts_are_per_waiter_and_lose_nothing() {
    let (producer, future) = promise::<u32, TestError>();
    let mut a = future.into_shared();
    let mut b = a.clone();
    assert!(a.result(Duration::from_millis(5)).unwrap_err().is_timeout());
    assert!(b.result(Duration::ZERO).unwrap_err().is_timeout());
    let mut c = a.clone();
    let template = a.clone();
    on_two_executors(move || {
        let mut c = template.clone();
        async move {
            assert!(
                c.result_async(Duration::from_millis(5))
                    .await
                    .unwrap_err()
                    .is_timeout()
            );
        }
    });
    producer.set_result(3);
    assert_eq!(a.result(None), Ok(3));
    assert_eq!(b.result(LONG), Ok(3));
    assert_eq!(futures_lite::future::block_on(c.result_async(LONG)), Ok(3));
}

#[test]
fn dropping_some_handles_leaves_the_others_and_dropping_all_cancels() {
    let (producer, future) = promise::<u32, TestError>();
    let a = future.into_shared();
    let mut b = a.clone();
    let c = a.clone();
    drop(a);
    // A handle dropped in the middle of an async wait.
    let mut polled = c.clone();
    let mut waiting = Box::pin(async move { polled.result_async(None).await });
    assert!(
        futures_lite::future::block_on(futures_lite::future::poll_once(&mut waiting)).is_none()
    );
    drop(waiting);
    assert!(!producer.is_cancelled());
    producer.set_result(8);
    assert_eq!(b.result(LONG), Ok(8));

    let (producer, future) = promise::<u32, TestError>();
    let a = future.into_shared();
    let b = a.clone();
    drop(a);
    assert!(!producer.is_cancelled());
    drop(b);
    assert!(producer.is_cancelled(), "the last handle's drop cancels");
    assert!(producer.wait_cancelled(Duration::ZERO));
}

#[test]
fn sharing_a_consumed_future_shares_consumed() {
    let mut future = ready::<u8, TestError>(1);
    assert_eq!(future.result(None), Ok(1));
    let mut shared = future.into_shared();
    let mut other = shared.clone();
    assert_eq!(shared.result(None), Err(Error::Consumed));
    assert_eq!(other.result(None), Err(Error::Consumed));
}

#[test]
fn a_polled_source_completing_inside_one_waiter_wakes_the_others() {
    // from_future is driven by whoever polls: the completion happens inside a waiter's poll,
    // not on a producer's thread, and the other waiters must still hear of it.
    let (producer, gate) = promise::<u32, TestError>();
    let mut a = from_future(async move { gate.await.map_err(|_| "gate") }).into_shared();
    let mut b = a.clone();
    let waiter = thread::spawn(move || b.result(LONG));
    producer.set_result(4);
    assert_eq!(a.result(LONG), Ok(4));
    assert_eq!(waiter.join().unwrap(), Ok(4));
}

/// Polls `handle` once through `.await` with a fresh counting waker; it must be pending.
fn poll_pending_once(
    handle: &mut std::pin::Pin<&mut impl std::future::Future>,
) -> Arc<CountingWaker> {
    let counting = Arc::new(CountingWaker::default());
    let waker = std::task::Waker::from(Arc::clone(&counting));
    let polled = handle
        .as_mut()
        .poll(&mut std::task::Context::from_waker(&waker));
    assert!(polled.is_pending());
    counting
}

#[test]
fn a_lone_waiter_and_one_that_joins_it_are_both_woken() {
    // The first waiter is the only one when it polls, so the source holds its own waker; the
    // second must not rely on that.
    let (producer, future) = promise::<u8, TestError>();
    let shared = future.into_shared();
    let mut a = std::pin::pin!(shared.clone());
    let mut b = std::pin::pin!(shared);
    let woken_a = poll_pending_once(&mut a);
    let woken_b = poll_pending_once(&mut b);
    producer.set_result(6);
    assert!(
        woken_a.0.load(Ordering::SeqCst) >= 1,
        "the lone waiter was not woken"
    );
    assert!(
        woken_b.0.load(Ordering::SeqCst) >= 1,
        "the joining waiter was not woken"
    );
    assert_eq!(futures_lite::future::block_on(a), Ok(6));
    assert_eq!(futures_lite::future::block_on(b), Ok(6));
}

#[test]
fn a_lone_waiter_polled_with_a_new_waker_is_woken_on_the_new_one() {
    let (producer, future) = promise::<u8, TestError>();
    let mut waiting = std::pin::pin!(future.into_shared());
    let (_, current) = poll_pending_with_two_wakers(waiting.as_mut());
    producer.set_result(2);
    assert!(
        current.0.load(Ordering::SeqCst) >= 1,
        "the new waker was not woken"
    );
    assert_eq!(futures_lite::future::block_on(waiting), Ok(2));
}

/// One waiter armed alone, a second joining from another thread while the producer completes:
/// whichever comes first, both hear of the outcome.
#[test]
fn a_waiter_joining_a_lone_one_races_the_producer() {
    let rounds = iterations(400, 12);
    for round in 0..rounds {
        let (producer, future) = promise::<u16, TestError>();
        let shared = future.into_shared();
        let mut second = shared.clone();
        let mut first = std::pin::pin!(shared);
        let woken = poll_pending_once(&mut first);
        let start = Arc::new(StartLine::new());
        let joining = {
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.meet_and_delay(round % 8);
                second.result(LONG)
            })
        };
        start.meet_and_delay((round / 8) % 8);
        producer.set_result(5);
        assert_eq!(joining.join().unwrap(), Ok(5));
        // Woken once or twice (by the producer and by the joining waiter that saw the outcome
        // first), never not at all.
        let wake_ups = woken.0.load(Ordering::SeqCst);
        assert!(
            wake_ups >= 1,
            "round {round}: the lone waiter was not woken"
        );
        assert_eq!(futures_lite::future::block_on(first), Ok(5));
    }
}

/// A handle that registered while pending and then took the outcome keeps answering
/// `Consumed` on every later wait, peek or poll, and dropping it disturbs nobody; many idle
/// handles (which size the waiter list) and a second waiter are not disturbed either.
#[test]
fn a_handle_that_waited_and_took_the_outcome_stays_consumed() {
    let (producer, future) = promise::<u8, TestError>();
    let mut a = future.into_shared();
    let idle: Vec<SharedFuture<u8, TestError>> = (0..200).map(|_| a.clone()).collect();
    let mut b = a.clone();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(a.poll_ready(&mut cx).is_pending());
    assert!(b.poll_ready(&mut cx).is_pending());
    producer.set_result(8);
    assert!(a.poll_ready(&mut cx).is_ready());
    assert_eq!(a.try_result(), Some(Ok(8)));
    assert!(a.poll_ready(&mut cx).is_ready());
    assert_eq!(a.peek_failed(), Some(false));
    assert_eq!(a.try_result(), Some(Err(Error::Consumed)));
    assert_eq!(a.result(None), Err(Error::Consumed));
    assert!(a.done());
    assert_eq!(futures_lite::future::block_on(a), Err(Error::Consumed));
    assert_eq!(futures_lite::future::block_on(b), Ok(8));
    for mut handle in idle {
        assert_eq!(handle.result(None), Ok(8));
    }
}

#[test]
fn peek_and_done_do_not_consume() {
    let (producer, future) = promise::<u8, TestError>();
    let mut shared = future.into_shared();
    assert!(!shared.done());
    assert_eq!(shared.peek_failed(), None);
    producer.set_error("bad");
    assert!(shared.done());
    assert_eq!(shared.peek_failed(), Some(true));
    assert_eq!(shared.result(None), Err(Error::Failed(Arc::new("bad"))));
}

/// 64 waiters, half blocking in their own threads and half awaiting (several tasks per
/// thread), each with its own timeout; some handles dropped before and during the wait. Every
/// waiter that waits gets the one value, and the value is dropped once, after the last handle.
#[test]
fn sixty_four_mixed_waiters_see_one_outcome() {
    let waiters = if cfg!(miri) { 16 } else { 64 };
    for _ in 0..iterations(20, 2) {
        let counter = DropCounter::new();
        let (producer, future) = promise::<Arc<Tracked>, TestError>();
        let shared = future.into_shared();
        let finished = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        // Blocking waiters: one thread each, alternating a timeout with none.
        for i in 0..waiters / 2 {
            let mut handle = shared.clone();
            let finished = Arc::clone(&finished);
            threads.push(thread::spawn(move || {
                let value = if i % 2 == 0 {
                    handle.result(LONG)
                } else {
                    handle.result(None)
                };
                finished.fetch_add(1, Ordering::SeqCst);
                value.map(|v| v.value)
            }));
        }
        // Async waiters: four per thread, on futures-lite's executor.
        let mut async_threads = Vec::new();
        for _ in 0..waiters / 8 {
            let handles: Vec<SharedFuture<Arc<Tracked>, TestError>> =
                (0..4).map(|_| shared.clone()).collect();
            let finished = Arc::clone(&finished);
            async_threads.push(thread::spawn(move || {
                futures_lite::future::block_on(async move {
                    let mut values = Vec::new();
                    let waits = handles
                        .into_iter()
                        .enumerate()
                        .map(|(i, mut handle)| async move {
                            // async-io timers need a reactor Miri cannot run.
                            if i % 2 == 0 && !cfg!(miri) {
                                handle.result_async(LONG).await
                            } else {
                                handle.await
                            }
                        });
                    for wait in waits {
                        values.push(wait.await.map(|v| v.value));
                    }
                    finished.fetch_add(values.len(), Ordering::SeqCst);
                    values
                })
            }));
        }
        // Handles dropped without waiting do not disturb anyone.
        let dropped: Vec<_> = (0..4).map(|_| shared.clone()).collect();
        drop(dropped);
        producer.set_result(Arc::new(counter.track(77)));
        for thread in threads {
            assert_eq!(thread.join().unwrap(), Ok(77));
        }
        for thread in async_threads {
            assert_eq!(thread.join().unwrap(), vec![Ok(77); 4]);
        }
        assert_eq!(finished.load(Ordering::SeqCst), waiters);
        assert_eq!(
            counter.dropped(),
            0,
            "the source handle still holds the value"
        );
        drop(shared);
        counter.assert_all_dropped();
    }
}

#[test]
fn waiters_racing_a_dropped_producer_all_see_abandoned() {
    for _ in 0..iterations(50, 3) {
        let (producer, future) = promise::<u8, TestError>();
        let shared = future.into_shared();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let mut handle = shared.clone();
                thread::spawn(move || handle.result(LONG))
            })
            .collect();
        drop(producer);
        for thread in threads {
            assert_eq!(thread.join().unwrap(), Err(Error::Abandoned));
        }
    }
}

#[test]
fn shared_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let shared = ready::<u8, TestError>(1).into_shared();
    send(&shared);
}

#[test]
fn states_are_returned_again_by_every_handle() {
    let (producer, future) = promise::<u32, String>();
    drop(producer);
    let mut a = future.into_shared();
    let mut b = a.clone();
    for _ in 0..2 {
        assert_eq!(a.result(None), Err(Error::Abandoned));
        assert_eq!(b.try_result(), Some(Err(Error::Abandoned)));
    }
    assert_eq!(a.peek_failed(), Some(true));
    assert_eq!(
        futures_lite::future::block_on(&mut b),
        Err(Error::Abandoned)
    );

    let mut value = ready::<u32, String>(1).into_shared();
    assert_eq!(value.result(None), Ok(1));
    assert_eq!(value.result(None), Err(Error::Consumed));
    assert_eq!(value.peek_failed(), Some(false));
}

// ===== one handle's slow step never holds up the others =====

/// What failure looks like here: far longer than anything should take.
const GENEROUS: Duration = Duration::from_secs(10);

/// A shared future whose source's step blocks inside a `map_value` closure until `release` is
/// sent: `started` says the step is under way (on the thread of the handle that drives it).
fn slow_step() -> (
    SharedFuture<u32, TestError>,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (started, started_seen) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let shared = ready::<u32, TestError>(5)
        .map_value(move |v| {
            started.send(()).unwrap();
            // Bounded, so that a handle wrongly waiting for this step fails the test's time
            // bound instead of hanging it.
            let _ = released.recv_timeout(GENEROUS);
            v
        })
        .into_shared();
    (shared, started_seen, release)
}

#[test]
#[cfg_attr(miri, ignore = "blocks a thread in a closure for the whole window")]
fn a_slow_step_of_the_source_never_holds_up_other_handles() {
    let (shared, started, release) = slow_step();
    let (mut driver, mut blocking, mut looking) = (shared.clone(), shared.clone(), shared);
    let driving = thread::spawn(move || driver.result(GENEROUS));
    started.recv_timeout(GENEROUS).unwrap();

    let began = std::time::Instant::now();
    assert!(!looking.done(), "done() while the source is busy");
    assert_eq!(
        blocking.result(Duration::from_millis(10)),
        Err(Error::Timeout)
    );
    assert_eq!(blocking.result(Duration::ZERO), Err(Error::Timeout));
    assert_eq!(
        futures_lite::future::block_on(blocking.result_async(Duration::from_millis(10))),
        Err(Error::Timeout)
    );
    assert!(
        began.elapsed() < GENEROUS / 2,
        "the other handles waited for the busy one ({:?})",
        began.elapsed()
    );

    // The driver keeps driving; when it is done, every handle gets the value.
    release.send(()).unwrap();
    assert_eq!(driving.join().unwrap(), Ok(5));
    assert_eq!(blocking.result(GENEROUS), Ok(5));
    assert!(looking.done());
    assert_eq!(looking.result(Duration::ZERO), Ok(5));
}

#[test]
#[cfg_attr(miri, ignore = "smol's executor needs epoll")]
fn an_async_wait_on_a_busy_source_leaves_its_executor_thread_free() {
    let (shared, started, release) = slow_step();
    let mut driver = shared.clone();
    let driving = thread::spawn(move || driver.result(GENEROUS));
    started.recv_timeout(GENEROUS).unwrap();

    let executor = smol::LocalExecutor::new();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let ticker = executor.spawn({
        let ticks = std::rc::Rc::clone(&ticks);
        async move {
            loop {
                smol::Timer::after(Duration::from_millis(1)).await;
                ticks.set(ticks.get() + 1);
            }
        }
    });
    let mut waiter = shared;
    let waited = smol::block_on(executor.run(async {
        let timed_out = waiter.result_async(Duration::from_millis(50)).await;
        let ticked = ticks.get();
        // Registered while the source was busy: woken when the driver finishes.
        release.send(()).unwrap();
        (timed_out, ticked, waiter.result_async(GENEROUS).await)
    }));
    drop(ticker);
    let (timed_out, ticked, value) = waited;
    assert_eq!(timed_out, Err(Error::Timeout));
    assert!(
        ticked > 0,
        "the executor's other task never ran while the wait was pending"
    );
    assert_eq!(value, Ok(5));
    assert_eq!(driving.join().unwrap(), Ok(5));
}

#[test]
#[cfg_attr(miri, ignore = "blocks a thread in a closure for the whole window")]
fn a_waiter_that_arrived_while_the_source_was_busy_is_woken() {
    for round in 0..iterations(20, 2) {
        let (shared, started, release) = slow_step();
        let (mut driver, mut arriving) = (shared.clone(), shared);
        let driving = thread::spawn(move || driver.result(GENEROUS));
        started.recv_timeout(GENEROUS).unwrap();
        let (pending, pending_seen) = std::sync::mpsc::channel();
        let waiting = thread::spawn(move || {
            let waiting = common::SignalOnPending::new(&mut arriving, pending);
            common::block_on_within(waiting, GENEROUS)
        });
        pending_seen.recv_timeout(GENEROUS).unwrap();
        release.send(()).unwrap();
        assert_eq!(driving.join().unwrap(), Ok(5), "round {round}");
        assert_eq!(
            waiting.join().unwrap(),
            Some(Ok(5)),
            "round {round}: the waiter that arrived while busy was never woken"
        );
    }
}

// ===== a source that looks at its own shared future =====

/// Runs `body` on a thread of its own and gives its result, or fails if it does not finish
/// in time (a deadlock fails instead of hanging the suite).
fn within_watchdog<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, outcome) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(body());
    });
    outcome
        .recv_timeout(GENEROUS)
        .expect("deadlocked: the source looked at its own shared future")
}

#[test]
fn a_source_that_polls_a_clone_of_itself_completes() {
    let value = within_watchdog(|| {
        let (send_self, receive_self) = std::sync::mpsc::channel::<SharedFuture<u32, TestError>>();
        let source = from_future(async move {
            let mut me = receive_self.recv().expect("a clone of the shared future");
            // Polled while its own source is being polled: "not ready", not a deadlock.
            let polled = futures_lite::future::poll_once(&mut me).await;
            Ok::<u32, TestError>(if polled.is_none() { 7 } else { 0 })
        });
        let mut shared = source.into_shared();
        send_self.send(shared.clone()).unwrap();
        shared.result(GENEROUS)
    });
    assert_eq!(value, Ok(7));
}

#[test]
fn a_source_that_asks_its_own_handle_whether_it_is_done_completes() {
    let value = within_watchdog(|| {
        let (send_self, receive_self) = std::sync::mpsc::channel::<SharedFuture<u32, TestError>>();
        let source = from_future(async move {
            let mut me = receive_self.recv().expect("a clone of the shared future");
            let done = me.done();
            let looked = me.try_result();
            Ok::<u32, TestError>(if !done && looked.is_none() { 8 } else { 0 })
        });
        let shared = source.into_shared();
        send_self.send(shared.clone()).unwrap();
        // Awaited this time: the source is driven from a task.
        futures_lite::future::block_on(shared)
    });
    assert_eq!(value, Ok(8));
}
