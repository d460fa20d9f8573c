//! `wait`, `wait_async`, `as_completed` and `as_completed_async`: many futures at once.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, BoxApiFuture, Error, Progress, Promise,
    RetryDecision, RetryPolicy, ReturnWhen, as_completed, as_completed_async, failed,
    poll_until_ready, promise, ready, retry, wait, wait_async,
};
use common::{TestError, on_two_executors};
use futures_lite::StreamExt;

const LONG: Duration = Duration::from_secs(30);
type Future = AwaitableConcurrentFuture<u32, TestError>;

fn pending(n: usize) -> (Vec<Promise<u32, TestError>>, Vec<Future>) {
    (0..n).map(|_| promise::<u32, TestError>()).unzip()
}

#[test]
fn empty_input_returns_at_once() {
    let mut none: Vec<Future> = Vec::new();
    for when in [
        ReturnWhen::FirstCompleted,
        ReturnWhen::AllCompleted,
        ReturnWhen::FirstFailed,
    ] {
        assert_eq!(wait(&mut none, None, when), (vec![], vec![]));
        let outcome = futures_lite::future::block_on(wait_async(&mut none, None, when));
        assert_eq!(outcome, (vec![], vec![]));
    }
    assert!(as_completed(Vec::<Future>::new(), None).next().is_none());
}

#[test]
fn first_completed_all_completed_and_nothing_taken() {
    let (mut producers, mut futures) = pending(3);
    let (done, left) = wait(&mut futures, Duration::ZERO, ReturnWhen::FirstCompleted);
    assert_eq!(
        (done, left),
        (vec![], vec![0, 1, 2]),
        "zero timeout only looks"
    );

    producers.remove(1).set_result(10);
    let (done, left) = wait(&mut futures, LONG, ReturnWhen::FirstCompleted);
    assert_eq!((done, left), (vec![1], vec![0, 2]));

    let late = thread::spawn(move || {
        for (i, producer) in producers.into_iter().enumerate() {
            thread::sleep(Duration::from_millis(2));
            producer.set_result(i as u32);
        }
    });
    let (done, left) = wait(&mut futures, None, ReturnWhen::AllCompleted);
    assert_eq!((done, left), (vec![0, 1, 2], vec![]));
    late.join().unwrap();
    let values: Vec<u32> = futures
        .iter_mut()
        .map(|f| f.result(None).unwrap())
        .collect();
    assert_eq!(values, [0, 10, 1]);
}

#[test]
fn first_failed_counts_errors_but_not_consumed() {
    let mut consumed = ready::<u32, TestError>(1);
    consumed.result(None).unwrap();
    let (_keep, pending_one) = promise::<u32, TestError>();
    let mut futures = vec![consumed, ready(2), pending_one];
    // A consumed future is done but not failed, so this waits for the pending one: time out.
    let (done, left) = wait(
        &mut futures,
        Duration::from_millis(20),
        ReturnWhen::FirstFailed,
    );
    assert_eq!((done, left), (vec![0, 1], vec![2]));

    let (producer, pending_two) = promise::<u32, TestError>();
    let mut futures = vec![pending_two, failed("bad"), ready(3)];
    let (done, left) = wait(&mut futures, LONG, ReturnWhen::FirstFailed);
    assert_eq!((done, left), (vec![1, 2], vec![0]));
    // The failure was looked at, not taken.
    assert_eq!(futures[1].result(None), Err(Error::Failed("bad")));
    drop(producer);
    // Abandoned is a failure too.
    let (done, _) = wait(&mut futures[..1], LONG, ReturnWhen::FirstFailed);
    assert_eq!(done, vec![0]);
}

#[test]
fn first_failed_sees_a_map_whose_closure_panics_on_a_value() {
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let (_keep, pending) = promise::<u32, TestError>();
    let mut futures: Vec<BoxApiFuture<u32, TestError>> = vec![
        pending.into_boxed(),
        ready::<u32, TestError>(1)
            .map_value(move |_| -> u32 {
                counted.fetch_add(1, Ordering::SeqCst);
                panic!("bad payload")
            })
            .into_boxed(),
        ready::<u32, TestError>(2)
            .map_value(|v| v * 10)
            .into_boxed(),
    ];
    // With no timeout, it returns only because the panic counts as a failure (the first future
    // is pending for ever); on its own thread, so that a regression fails instead of hanging.
    let (sent, returned) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let waited = wait(&mut futures, None, ReturnWhen::FirstFailed);
        let _ = sent.send((waited, futures));
    });
    let ((done, pending), mut futures) = returned.recv_timeout(LONG).expect("wait did not return");
    assert_eq!(done, [1, 2]);
    assert_eq!(pending, [0]);
    // The closure ran once, to find that out, and its outcome waits for the first wait.
    assert!(matches!(futures[1].result(None), Err(Error::Panicked(_))));
    assert_eq!(futures[1].result(None), Err(Error::Consumed));
    assert_eq!(futures[2].result(None), Ok(20));
    assert_eq!(runs.load(Ordering::SeqCst), 1);
}

#[test]
#[cfg_attr(miri, ignore = "async-io timers need the reactor")]
fn a_timeout_leaves_every_future_waitable() {
    let (producers, mut futures) = pending(2);
    let (done, left) = wait(
        &mut futures,
        Duration::from_millis(5),
        ReturnWhen::AllCompleted,
    );
    assert_eq!((done, left), (vec![], vec![0, 1]));
    on_two_executors(|| async {
        let (mut producers, mut futures) = pending(2);
        let outcome = wait_async(
            &mut futures,
            Duration::from_millis(5),
            ReturnWhen::AllCompleted,
        )
        .await;
        assert_eq!(outcome, (vec![], vec![0, 1]));
        producers.pop().unwrap().set_result(1);
        let outcome = wait_async(&mut futures, LONG, ReturnWhen::FirstCompleted).await;
        assert_eq!(outcome, (vec![1], vec![0]));
    });
    for (producer, value) in producers.into_iter().zip([5, 6]) {
        producer.set_result(value);
    }
    assert_eq!(futures[0].result(None), Ok(5));
    assert_eq!(futures[1].result(None), Ok(6));
}

#[test]
#[cfg_attr(miri, ignore = "async-io timers need the reactor")]
fn wait_async_wakes_on_completion_from_other_threads() {
    on_two_executors(|| async {
        let (producers, mut futures) = pending(8);
        let late = thread::spawn(move || {
            for producer in producers.into_iter().rev() {
                producer.set_result(1);
            }
        });
        let (done, left) = wait_async(&mut futures, LONG, ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), left.len()), (8, 0));
        late.join().unwrap();
    });
}

/// An `ApiFuture` that counts how often it is polled.
#[derive(Debug)]
struct Counted {
    inner: Future,
    polls: Arc<AtomicUsize>,
    terminated: bool,
}

impl apifuture::FusedFuture for Counted {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl ApiFuture for Counted {
    type Value = u32;
    type Failure = TestError;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.polls.fetch_add(1, Ordering::SeqCst);
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<u32, Error<TestError>>> {
        self.inner.try_result()
    }
}

impl std::future::Future for Counted {
    type Output = Result<u32, Error<TestError>>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.poll_outcome(cx);
        this.terminated |= polled.is_ready();
        polled
    }
}

#[test]
fn all_completed_polls_each_future_once_per_wake_up() {
    let n = common::iterations(200, 10);
    let polls = Arc::new(AtomicUsize::new(0));
    let (producers, futures) = pending(n);
    let mut futures: Vec<Counted> = futures
        .into_iter()
        .map(|inner| Counted {
            inner,
            polls: Arc::clone(&polls),
            terminated: false,
        })
        .collect();
    let late = thread::spawn(move || {
        for producer in producers {
            producer.set_result(0);
        }
    });
    let (done, _) = wait(&mut futures, LONG, ReturnWhen::AllCompleted);
    late.join().unwrap();
    assert_eq!(done.len(), n);
    // At first one look at each future (and a second, with its own waker, if it is pending),
    // then one per wake-up: never a re-poll of them all.
    assert!(
        polls.load(Ordering::SeqCst) <= 3 * n,
        "{} polls for {n} futures",
        polls.load(Ordering::SeqCst)
    );
}

#[test]
#[cfg_attr(miri, ignore = "a retry polled by wait sleeps on async-io timers")]
fn mixed_origins_through_boxed_and_shared() {
    let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
    let mut attempts = 0;
    let flaky = retry(policy, move |_| {
        attempts += 1;
        if attempts < 3 {
            failed("busy")
        } else {
            ready(7)
        }
    });
    let shared = ready::<u32, TestError>(9).into_shared();
    let mut futures: Vec<BoxApiFuture<u32, TestError>> = vec![
        flaky.into_boxed(),
        ready::<u32, TestError>(1).map_value(|v| v + 1).into_boxed(),
        shared.clone().map_failure(|error| *error).into_boxed(),
        // The same outcome waited through two handles.
        shared.map_failure(|error| *error).into_boxed(),
    ];
    let (done, left) = wait(&mut futures, LONG, ReturnWhen::AllCompleted);
    assert_eq!((done, left), (vec![0, 1, 2, 3], vec![]));
    let mut seen: Vec<(usize, u32)> = as_completed(futures, LONG)
        .map(|(index, outcome)| (index, outcome.unwrap()))
        .collect();
    seen.sort();
    assert_eq!(seen, [(0, 7), (1, 2), (2, 9), (3, 9)]);
}

#[test]
fn as_completed_yields_in_completion_order() {
    let (producers, futures) = pending(4);
    let mut outcomes = as_completed(futures, LONG);
    let order = [2usize, 0, 3, 1];
    let mut producers: Vec<Option<Promise<u32, TestError>>> =
        producers.into_iter().map(Some).collect();
    for &index in &order {
        producers[index]
            .take()
            .unwrap()
            .set_result(index as u32 * 10);
        let (yielded, outcome) = outcomes.next().unwrap();
        assert_eq!((yielded, outcome), (index, Ok(index as u32 * 10)));
    }
    assert!(outcomes.next().is_none());
    assert!(!outcomes.timed_out());
}

#[test]
fn as_completed_timeout_gives_the_rest_back() {
    let (mut producers, futures) = pending(3);
    producers.remove(1).set_result(1);
    let mut outcomes = as_completed(futures, Duration::from_millis(10));
    assert_eq!(outcomes.next(), Some((1, Ok(1))));
    assert_eq!(outcomes.next(), None);
    assert!(outcomes.timed_out());
    assert_eq!(outcomes.next(), None, "stays over");
    let mut left = outcomes.into_pending();
    assert_eq!(left.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [0, 2]);
    for (producer, value) in producers.into_iter().zip([0, 2]) {
        producer.set_result(value);
    }
    assert_eq!(left[0].1.result(None), Ok(0));
    assert_eq!(left[1].1.result(None), Ok(2));
}

#[test]
#[cfg_attr(miri, ignore = "async-io timers need the reactor")]
fn as_completed_async_in_both_modes_of_completion() {
    on_two_executors(|| async {
        let (producers, futures) = pending(5);
        let late = thread::spawn(move || {
            for (i, producer) in producers.into_iter().enumerate() {
                producer.set_result(i as u32);
            }
        });
        let mut stream = as_completed_async(futures, LONG);
        let mut seen = Vec::new();
        while let Some((index, outcome)) = stream.next().await {
            assert_eq!(outcome, Ok(index as u32));
            seen.push(index);
        }
        late.join().unwrap();
        seen.sort();
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert!(!stream.timed_out());
    });
}

#[test]
#[cfg_attr(miri, ignore = "async-io timers need the reactor")]
fn as_completed_async_timeout_gives_the_rest_back() {
    on_two_executors(|| async {
        let (producers, futures) = pending(2);
        let mut stream = as_completed_async(futures, Duration::from_millis(10));
        assert!(stream.next().await.is_none());
        assert!(stream.timed_out());
        let mut left = stream.into_pending();
        assert_eq!(left.len(), 2);
        for producer in producers {
            producer.set_result(4);
        }
        assert_eq!(left[0].1.result_async(LONG).await, Ok(4));
    });
}

#[test]
fn zero_timeouts_only_look() {
    let (_producers, futures) = pending(2);
    let mut outcomes = as_completed(futures, Duration::ZERO);
    assert!(outcomes.next().is_none());
    assert!(outcomes.timed_out());
    let (_producers, mut futures) = pending(2);
    let outcome = futures_lite::future::block_on(wait_async(
        &mut futures,
        Duration::ZERO,
        ReturnWhen::AllCompleted,
    ));
    assert_eq!(outcome, (vec![], vec![0, 1]));
}

#[test]
fn all_completed_in_any_completion_order() {
    let n = common::iterations(300, 12);
    // In order, in reverse, and interleaved from both ends.
    let orders: [Box<dyn Fn(usize) -> Vec<usize>>; 3] = [
        Box::new(|n| (0..n).collect()),
        Box::new(|n| (0..n).rev().collect()),
        Box::new(|n| (0..n / 2).flat_map(|i| [i, n - 1 - i]).collect()),
    ];
    for order in orders {
        let (producers, mut futures) = pending(n);
        let mut producers: Vec<Option<Promise<u32, TestError>>> =
            producers.into_iter().map(Some).collect();
        let order = order(n);
        let late = thread::spawn(move || {
            for index in order {
                producers[index].take().unwrap().set_result(index as u32);
            }
        });
        let (done, left) = wait(&mut futures, LONG, ReturnWhen::AllCompleted);
        late.join().unwrap();
        assert_eq!((done.len(), left), (n, vec![]));
        for (index, future) in futures.iter_mut().enumerate() {
            assert_eq!(future.result(Duration::ZERO), Ok(index as u32));
        }
    }
}

#[test]
fn all_completed_timeout_reports_what_is_done() {
    let (mut producers, mut futures) = pending(5);
    // Done: the first, the middle and the last; pending: 1 and 3.
    producers.remove(4).set_result(4);
    producers.remove(2).set_result(2);
    producers.remove(0).set_result(0);
    let (done, left) = wait(
        &mut futures,
        Duration::from_millis(10),
        ReturnWhen::AllCompleted,
    );
    assert_eq!((done, left), (vec![0, 2, 4], vec![1, 3]));
    let (done, left) = wait(&mut futures, Duration::ZERO, ReturnWhen::AllCompleted);
    assert_eq!((done, left), (vec![0, 2, 4], vec![1, 3]));
    drop(producers);
}

#[test]
#[cfg_attr(miri, ignore = "waits out a real timeout")]
fn all_completed_timeout_reports_what_was_done_during_the_wait() {
    // Future 1, between two that stay pending, completes while the wait is under way; the
    // split after the timeout must see it, in both modes.
    for asynchronous in [false, true] {
        let (mut producers, mut futures) = pending(3);
        let middle = producers.remove(1);
        let late = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            middle.set_result(1);
        });
        let limit = Duration::from_millis(300);
        let split = if asynchronous {
            futures_lite::future::block_on(wait_async(
                &mut futures,
                limit,
                ReturnWhen::AllCompleted,
            ))
        } else {
            wait(&mut futures, limit, ReturnWhen::AllCompleted)
        };
        late.join().unwrap();
        assert_eq!(split, (vec![1], vec![0, 2]), "async: {asynchronous}");
        drop(producers);
    }
}

/// Three lazy futures (driven only by whoever waits) that each sleep on a timer, and the log of
/// when each started and finished: every multi-wait must drive them side by side.
fn lazy_sleepers(
    log: &Arc<std::sync::Mutex<Vec<&'static str>>>,
) -> Vec<BoxApiFuture<u32, TestError>> {
    (0..3)
        .map(|i| {
            let log = Arc::clone(log);
            apifuture::from_future(async move {
                log.lock().unwrap().push("start");
                async_io::Timer::after(Duration::from_millis(100)).await;
                log.lock().unwrap().push("end");
                Ok::<u32, TestError>(i)
            })
            .into_boxed()
        })
        .collect()
}

/// Runs `f` on its own thread; a wait that hangs fails the test instead of hanging it.
fn within_watchdog<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, result) = std::sync::mpsc::channel();
    thread::spawn(move || done.send(f()).unwrap());
    result
        .recv_timeout(Duration::from_secs(10))
        .expect("the wait hung: a pending future was not driven")
}

/// Every future started before any finished: they were driven concurrently, not one by one.
fn ran_side_by_side(log: &std::sync::Mutex<Vec<&'static str>>) {
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 6, "{log:?}");
    assert_eq!(&log[..3], ["start"; 3], "{log:?}");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "async-io timers need the reactor, which Miri cannot run"
)]
fn lazy_futures_are_driven_side_by_side_by_every_multi_wait() {
    type Log = Arc<std::sync::Mutex<Vec<&'static str>>>;
    let fresh = || -> Log { Arc::default() };

    let log = fresh();
    let mut futures = lazy_sleepers(&log);
    assert_eq!(
        wait(&mut futures, LONG, ReturnWhen::AllCompleted).1,
        Vec::<usize>::new()
    );
    ran_side_by_side(&log);

    let log = fresh();
    let mut futures = lazy_sleepers(&log);
    let (_, pending) =
        futures_lite::future::block_on(wait_async(&mut futures, LONG, ReturnWhen::AllCompleted));
    assert!(pending.is_empty());
    ran_side_by_side(&log);

    let log = fresh();
    let mut indices: Vec<usize> = as_completed(lazy_sleepers(&log), LONG)
        .map(|(i, _)| i)
        .collect();
    indices.sort();
    assert_eq!(indices, [0, 1, 2]);
    ran_side_by_side(&log);

    let log = fresh();
    let stream = as_completed_async(lazy_sleepers(&log), LONG);
    let outcomes: Vec<_> = futures_lite::future::block_on(stream.collect());
    assert_eq!(outcomes.len(), 3);
    ran_side_by_side(&log);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "async-io timers need the reactor, which Miri cannot run"
)]
fn a_lazy_future_waiting_on_a_later_one_does_not_hang_any_multi_wait() {
    // Future 0 waits for what future 1 sends; both are lazy, so a wait that drives only the
    // first pending future would never get future 1 going.
    fn pair() -> Vec<BoxApiFuture<u32, TestError>> {
        let (sender, receiver) = apifuture::promise::<u32, TestError>();
        let waiting = apifuture::from_future(async move { receiver.await.map_err(|_| "gone") });
        let sending = apifuture::from_future(async move {
            async_io::Timer::after(Duration::from_millis(5)).await;
            sender.set_result(7);
            Ok::<u32, TestError>(1)
        });
        vec![waiting.into_boxed(), sending.into_boxed()]
    }
    within_watchdog(|| {
        let mut futures = pair();
        assert_eq!(wait(&mut futures, LONG, ReturnWhen::AllCompleted).0, [0, 1]);
        let mut futures = pair();
        // The sender finishes first; the receiver it wakes as it does is found done with it.
        assert_eq!(
            wait(&mut futures, LONG, ReturnWhen::FirstCompleted).0,
            [0, 1]
        );
        assert_eq!(as_completed(pair(), LONG).count(), 2);
        let streamed = futures_lite::future::block_on(as_completed_async(pair(), LONG).count());
        assert_eq!(streamed, 2);
        let mut futures = pair();
        let (done, _) = futures_lite::future::block_on(wait_async(
            &mut futures,
            LONG,
            ReturnWhen::AllCompleted,
        ));
        assert_eq!(done, [0, 1]);
    });
}

#[test]
#[cfg_attr(
    miri,
    ignore = "async-io timers need the reactor, which Miri cannot run"
)]
fn all_completed_mixes_producer_driven_and_lazy_futures_in_any_order() {
    // Promises (completed by their producer, unpolled) between lazy futures (completed only by
    // being polled), the promises completed from another thread in reverse order.
    type Mixed = (
        Vec<Promise<u32, TestError>>,
        Vec<BoxApiFuture<u32, TestError>>,
    );
    fn mixed() -> Mixed {
        let mut producers = Vec::new();
        let mut futures = Vec::new();
        for i in 0..6u32 {
            if i % 2 == 0 {
                let (producer, future) = promise::<u32, TestError>();
                producers.push(producer);
                futures.push(future.map_value(|v| v).into_boxed());
            } else {
                futures.push(
                    apifuture::from_future(async move {
                        async_io::Timer::after(Duration::from_millis(2)).await;
                        Ok::<u32, TestError>(i)
                    })
                    .into_boxed(),
                );
            }
        }
        (producers, futures)
    }
    fn complete_in_reverse(producers: Vec<Promise<u32, TestError>>) -> thread::JoinHandle<()> {
        thread::spawn(move || {
            for (i, producer) in producers.into_iter().enumerate().rev() {
                producer.set_result(2 * i as u32);
            }
        })
    }
    within_watchdog(|| {
        let (producers, mut futures) = mixed();
        let late = complete_in_reverse(producers);
        assert_eq!(
            wait(&mut futures, LONG, ReturnWhen::AllCompleted),
            ((0..6).collect::<Vec<_>>(), vec![])
        );
        late.join().unwrap();
        let values: Vec<u32> = futures
            .iter_mut()
            .map(|f| f.result(None).unwrap())
            .collect();
        assert_eq!(values, [0, 1, 2, 3, 4, 5]);

        let (producers, futures) = mixed();
        let late = complete_in_reverse(producers);
        let outcomes = apifuture::join_all(futures);
        late.join().unwrap();
        assert_eq!(outcomes, (0..6).map(Ok).collect::<Vec<_>>());

        let (producers, futures) = mixed();
        let late = complete_in_reverse(producers);
        let outcomes = futures_lite::future::block_on(apifuture::join_all_async(futures));
        late.join().unwrap();
        assert_eq!(outcomes, (0..6).map(Ok).collect::<Vec<_>>());
    });
}

/// A legal future that wakes its waker on every poll, the one that says ready included.
#[derive(Debug)]
struct WakesOnEveryPoll {
    polls: usize,
    taken: bool,
    terminated: bool,
}

impl apifuture::FusedFuture for WakesOnEveryPoll {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

impl ApiFuture for WakesOnEveryPoll {
    type Value = u32;
    type Failure = TestError;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.polls += 1;
        cx.waker().wake_by_ref();
        if self.polls >= 2 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    fn try_result(&mut self) -> Option<Result<u32, Error<TestError>>> {
        if self.polls < 2 {
            return None;
        }
        Some(match std::mem::replace(&mut self.taken, true) {
            false => Ok(7),
            true => Err(Error::Consumed),
        })
    }
}

impl std::future::Future for WakesOnEveryPoll {
    type Output = Result<u32, Error<TestError>>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let polled = this.poll_outcome(cx);
        this.terminated |= polled.is_ready();
        polled
    }
}

#[test]
fn a_wake_from_a_future_found_ready_is_harmless() {
    let fresh = || WakesOnEveryPoll {
        polls: 0,
        taken: false,
        terminated: false,
    };
    assert_eq!(apifuture::join_all(vec![fresh(), fresh()]), [Ok(7), Ok(7)]);
    let mut futures = vec![fresh(), fresh()];
    assert_eq!(wait(&mut futures, LONG, ReturnWhen::AllCompleted).0, [0, 1]);
    let joined = futures_lite::future::block_on(apifuture::join_all_async(vec![fresh()]));
    assert_eq!(joined, [Ok(7)]);
}

/// A poll whose server always answers "again at once", and a retry told to retry at once: each
/// wakes itself when polled, to yield between the attempts it makes without a wait.
fn never_waiting() -> Vec<BoxApiFuture<u32, TestError>> {
    let poll = poll_until_ready(RetryPolicy::new(), |_| {
        ready::<_, TestError>(Progress::<u32>::PendingFor(Duration::ZERO))
    });
    let retry = retry(RetryPolicy::new().with_max_attempts(u32::MAX), |_| {
        failed::<u32, TestError>("busy")
    })
    .when(|_| RetryDecision::RetryAfter(Duration::ZERO));
    vec![poll.into_boxed(), retry.into_boxed()]
}

#[test]
#[cfg_attr(miri, ignore = "a retry polled by wait sleeps on async-io timers")]
fn many_waits_see_their_timeout_over_futures_that_never_wait() {
    // On its own thread, so that a regression (a set that polls a self-waking future for ever)
    // fails here instead of hanging the test binary.
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let short = Duration::from_millis(50);
        let mut futures = never_waiting();
        let (ready, _) = wait(&mut futures, short, ReturnWhen::FirstCompleted);
        assert!(ready.is_empty());
        let (ready, _) = smol::block_on(wait_async(&mut futures, short, ReturnWhen::AllCompleted));
        assert!(ready.is_empty());
        let mut completed = as_completed(never_waiting(), short);
        assert!(completed.next().is_none());
        // Raced against a timer on one executor thread: the join gives the thread back.
        let timer = async {
            async_io::Timer::after(short).await;
            "timer"
        };
        let joined = async {
            apifuture::join_all_async(never_waiting()).await;
            "join"
        };
        assert_eq!(
            smol::block_on(futures_lite::future::or(joined, timer)),
            "timer"
        );
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(LONG).is_ok(),
        "a wait over many futures did not return at its timeout"
    );
}

/// Future 0 yields twice (past the set's first look and first poll), then completes future 1's
/// promise and its own: when the wait for the first one returns, both are done and both are
/// listed so.
fn one_completes_the_other() -> Vec<BoxApiFuture<u32, TestError>> {
    let (producer, second) = promise::<u32, TestError>();
    let first = apifuture::from_future(async move {
        futures_lite::future::yield_now().await;
        futures_lite::future::yield_now().await;
        producer.set_result(1);
        Ok::<u32, TestError>(0)
    });
    vec![first.into_boxed(), second.into_boxed()]
}

#[test]
fn a_wait_for_the_first_lists_a_future_completed_by_its_poll_as_done() {
    for when in [ReturnWhen::FirstCompleted, ReturnWhen::FirstFailed] {
        let mut futures = one_completes_the_other();
        assert_eq!(
            wait(&mut futures, LONG, when),
            (vec![0, 1], vec![]),
            "{when:?}"
        );
        let mut futures = one_completes_the_other();
        let waited = futures_lite::future::block_on(wait_async(&mut futures, LONG, when));
        assert_eq!(waited, (vec![0, 1], vec![]), "{when:?}");
        assert_eq!(futures[1].result(LONG), Ok(1));
    }
}
