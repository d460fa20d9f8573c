//! `retry` and `poll_until_ready`: every outcome rule of the schedule, in both modes.

use crate::common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, AwaitableConcurrentFuture, Error, Progress, Promise, RetryDecision, RetryPolicy,
    failed, poll_until_ready, promise, ready, retry,
};
use common::TestError;

type Attempt = AwaitableConcurrentFuture<u32, TestError>;

fn fast() -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(1))
        .with_max_delay(Duration::from_millis(4))
}

/// Fails with "busy" `failures` times, then answers with the attempt number.
fn flaky(failures: u32) -> impl FnMut(u32) -> Attempt + Send + 'static {
    move |attempt| {
        if attempt <= failures {
            failed("busy")
        } else {
            ready(attempt)
        }
    }
}

/// How a check waits: blocking, or under one of two executors.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Blocking,
    FuturesLite,
    Smol,
}

impl Mode {
    fn wait<F: ApiFuture>(self, call: &mut F) -> F::Output {
        match self {
            Mode::Blocking => call.result(Duration::from_secs(30)),
            Mode::FuturesLite => {
                futures_lite::future::block_on(call.result_async(Duration::from_secs(30)))
            }
            Mode::Smol => smol::block_on(call.result_async(None)),
        }
    }
}

/// Runs the same check blocking and under two executors.
fn both_modes(mut check: impl FnMut(Mode)) {
    // Under Miri the blocking mode only: the async ones sleep on async-io's reactor, which
    // needs timerfd.
    let modes: &[Mode] = if cfg!(miri) {
        &[Mode::Blocking]
    } else {
        &[Mode::Blocking, Mode::FuturesLite, Mode::Smol]
    };
    for &mode in modes {
        check(mode);
    }
}

#[test]
fn succeeds_after_failures_in_every_mode() {
    both_modes(|mode| {
        let mut call = retry(fast(), flaky(2));
        assert_eq!(mode.wait(&mut call), Ok(3));
        assert_eq!(call.attempts(), 3);
        assert_eq!(mode.wait(&mut call), Err(Error::Consumed));
    });
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn awaiting_the_retry_directly() {
    let call = retry(fast(), flaky(1));
    assert_eq!(smol::block_on(call), Ok(2));
}

#[test]
fn stop_ends_with_the_error_at_once() {
    both_modes(|mode| {
        let mut call =
            retry(fast(), |_| failed::<u32, TestError>("bad request")).when(|e: &TestError| {
                if *e == "bad request" {
                    RetryDecision::Stop
                } else {
                    RetryDecision::Retry
                }
            });
        assert_eq!(mode.wait(&mut call), Err(Error::Failed("bad request")));
        assert_eq!(call.attempts(), 1);
    });
}

#[test]
fn exhausted_attempts_give_the_last_error() {
    both_modes(|mode| {
        let mut call = retry(fast().with_max_attempts(4), |attempt| {
            failed::<u32, TestError>(["a", "b", "c", "d", "e"][attempt as usize - 1])
        });
        assert_eq!(mode.wait(&mut call), Err(Error::Failed("d")));
        assert_eq!(call.attempts(), 4);
    });
}

#[test]
fn zero_attempts_still_makes_one() {
    let mut call = retry(fast().with_max_attempts(0), flaky(5));
    assert_eq!(call.result(None), Err(Error::Failed("busy")));
    assert_eq!(call.attempts(), 1);
}

#[test]
fn retry_after_is_waited_out_in_both_modes() {
    let hint = Duration::from_millis(30);
    both_modes(|mode| {
        let mut call = retry(fast(), flaky(1)).when(move |_| RetryDecision::RetryAfter(hint));
        let started = Instant::now();
        assert_eq!(mode.wait(&mut call), Ok(2));
        assert!(started.elapsed() >= hint, "slept {:?}", started.elapsed());
    });
}

#[test]
fn a_retry_after_takes_no_step_of_the_backoff() {
    both_modes(|mode| {
        let ms = Duration::from_millis;
        let delays: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let seen = Arc::clone(&delays);
        let mut answers = [
            RetryDecision::Retry,
            RetryDecision::RetryAfter(ms(1)),
            RetryDecision::Retry,
        ]
        .into_iter();
        let policy = RetryPolicy::new()
            .with_initial_delay(ms(1))
            .with_multiplier(10.0)
            .with_jitter(apifuture::Jitter::None);
        let mut call = retry(policy, flaky(3))
            .when(move |_| answers.next().unwrap())
            .notify(move |_, delay| seen.lock().unwrap().push(delay));
        assert_eq!(mode.wait(&mut call), Ok(4));
        // Backoffs 0 and 1 (1 ms, 10 ms) around the hint, not backoff 2 (100 ms).
        assert_eq!(*delays.lock().unwrap(), [ms(1), ms(1), ms(10)], "{mode:?}");
    });
}

#[test]
fn retry_after_past_the_deadline_ends_at_once_with_the_error() {
    let mut call = retry(fast().with_deadline(Duration::from_millis(50)), flaky(1))
        .when(|_| RetryDecision::RetryAfter(Duration::from_secs(60)));
    let started = Instant::now();
    assert_eq!(call.result(None), Err(Error::Failed("busy")));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(call.attempts(), 1);
}

#[test]
fn attempts_that_never_finish_time_out_and_the_deadline_ends_it() {
    let producers: Arc<Mutex<Vec<Promise<u32, TestError>>>> = Arc::default();
    let keep = Arc::clone(&producers);
    let policy = fast()
        .with_attempt_timeout(Duration::from_millis(10))
        .with_deadline(Duration::from_millis(200));
    let mut call = retry(policy, move |_| {
        let (producer, attempt) = promise::<u32, TestError>();
        keep.lock().unwrap().push(producer);
        attempt
    });
    assert_eq!(call.result(None), Err(Error::DeadlineExceeded));
    assert_eq!(call.result(None), Err(Error::DeadlineExceeded), "a state");
    let producers = producers.lock().unwrap();
    assert!(producers.len() >= 2, "attempt timeouts are retried");
    assert!(
        producers.iter().all(Promise::is_cancelled),
        "timed-out attempts are cancelled"
    );
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn the_deadline_ends_it_in_async_mode_too() {
    let policy = fast()
        .with_attempt_timeout(Duration::from_millis(5))
        .with_deadline(Duration::from_millis(60));
    let keep: Arc<Mutex<Vec<Promise<u32, TestError>>>> = Arc::default();
    let mut call = retry(policy, move |_| {
        let (producer, attempt) = promise::<u32, TestError>();
        keep.lock().unwrap().push(producer);
        attempt
    });
    let outcome = smol::block_on(call.result_async(None));
    assert_eq!(outcome, Err(Error::DeadlineExceeded));
}

#[test]
fn abandoned_attempts_are_retried_and_not_notified() {
    let notified = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&notified);
    let mut call = retry(fast(), |attempt| {
        let (producer, attempt_future) = promise::<u32, TestError>();
        if attempt < 3 {
            drop(producer)
        } else {
            producer.set_result(attempt)
        }
        attempt_future
    })
    .notify(move |_, _| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    assert_eq!(call.result(None), Ok(3));
    assert_eq!(notified.load(Ordering::SeqCst), 0);
}

#[test]
fn a_finished_retry_drops_its_closures_though_its_future_is_kept() {
    let (attempts_alive, attempts_gone) = std::sync::mpsc::channel::<()>();
    let (classify_alive, classify_gone) = std::sync::mpsc::channel::<()>();
    let (notify_alive, notify_gone) = std::sync::mpsc::channel::<()>();
    let mut failures = flaky(2);
    let mut call = retry(fast(), move |attempt| {
        let _alive = &attempts_alive;
        failures(attempt)
    })
    .when(move |_| {
        let _alive = &classify_alive;
        RetryDecision::Retry
    })
    .notify(move |_, _| {
        let _alive = &notify_alive;
    });
    assert_eq!(call.result(None), Ok(3));
    // Each sender went with its closure: the receivers hear that at once.
    let gone = Duration::from_secs(5);
    for receiver in [attempts_gone, classify_gone, notify_gone] {
        assert_eq!(
            receiver.recv_timeout(gone),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
        );
    }
    assert_eq!(call.result(None), Err(Error::Consumed));
}

#[test]
fn closures_set_on_a_retry_its_first_attempt_ended_are_dropped_at_once() {
    let (alive, gone) = std::sync::mpsc::channel::<()>();
    let mut call =
        retry(RetryPolicy::new(), |_| -> Attempt { panic!("no attempt") }).notify(move |_, _| {
            let _alive = &alive;
        });
    assert_eq!(
        gone.recv_timeout(Duration::from_secs(5)),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected)
    );
    assert!(matches!(call.result(None), Err(Error::Panicked(_))));
}

#[test]
fn notify_sees_each_error_and_delay_before_its_sleep() {
    let log: Arc<Mutex<Vec<(TestError, Duration)>>> = Arc::default();
    let seen = Arc::clone(&log);
    let policy = fast().with_jitter(apifuture::Jitter::None);
    let mut call = retry(policy, flaky(3)).notify(move |e, d| seen.lock().unwrap().push((*e, d)));
    assert_eq!(call.result(None), Ok(4));
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 3);
    assert!(
        log.iter()
            .all(|(e, d)| *e == "busy" && *d <= Duration::from_millis(4))
    );
    assert_eq!(log[0].1, Duration::from_millis(1));
}

#[test]
fn panics_end_the_retry_with_panicked() {
    let mut call = retry(fast(), |_| -> Attempt { panic!("closure") });
    assert!(matches!(call.result(None), Err(Error::Panicked(m)) if m == "closure"));
    let mut call = retry(fast(), |attempt| -> Attempt {
        if attempt == 1 {
            failed("busy")
        } else {
            panic!("second")
        }
    });
    assert!(matches!(call.result(None), Err(Error::Panicked(m)) if m == "second"));
    let mut call = retry(fast(), |_| {
        apifuture::spawn(|| -> Result<u32, TestError> { panic!("job") })
    });
    assert!(matches!(call.result(None), Err(Error::Panicked(m)) if m == "job"));
    common::retire_pool_threads();
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_panicking_classifier_or_notifier_gives_panicked_in_every_mode() {
    let panicked = |m: &str| Err(Error::Panicked(m.to_owned()));
    both_modes(|mode| {
        let mut call = retry(fast(), flaky(2)).when(|_| panic!("classifier"));
        assert_eq!(mode.wait(&mut call), panicked("classifier"));
        assert_eq!(mode.wait(&mut call), Err(Error::Consumed));
        let mut call = retry(fast(), flaky(2)).notify(|_, _| panic!("notifier"));
        assert_eq!(mode.wait(&mut call), panicked("notifier"));
    });
    // The same outcome when a background task drives it, and inside a multi-wait the panic
    // stays with its own future.
    use apifuture::ApiFutureExt;
    let background = retry(fast(), flaky(2)).when(|_| panic!("in the background"));
    assert_eq!(
        background.background().result(None),
        panicked("in the background")
    );
    let outcomes = apifuture::join_all(vec![
        ready::<u32, TestError>(1).into_boxed(),
        retry(fast(), flaky(2))
            .when(|_| panic!("joined"))
            .into_boxed(),
    ]);
    assert_eq!(outcomes, [Ok(1), panicked("joined")]);
}

#[test]
fn a_cancelled_attempt_ends_the_retry() {
    let mut call = retry(fast(), |_| {
        let (_producer, mut attempt) = promise::<u32, TestError>();
        attempt.future().cancel();
        attempt
    });
    assert_eq!(call.result(None), Err(Error::Cancelled));
    assert_eq!(call.result(None), Err(Error::Cancelled));
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_wait_timeout_keeps_the_schedule_in_both_modes() {
    let policy = fast()
        .with_initial_delay(Duration::from_millis(40))
        .with_max_delay(Duration::from_millis(40));
    let mut call = retry(policy.clone(), flaky(1));
    assert_eq!(call.result(Duration::from_millis(1)), Err(Error::Timeout));
    assert_eq!(
        call.attempts(),
        1,
        "still sleeping before the second attempt"
    );
    assert_eq!(call.result(Duration::from_secs(30)), Ok(2));

    let mut call = retry(policy, flaky(1));
    smol::block_on(async {
        assert_eq!(
            call.result_async(Duration::from_millis(1)).await,
            Err(Error::Timeout)
        );
        assert_eq!(call.result_async(Duration::from_secs(30)).await, Ok(2));
    });
}

#[test]
fn zero_timeout_starts_an_attempt_that_is_due_without_sleeping() {
    let policy = fast().with_jitter(apifuture::Jitter::None);
    let mut call = retry(policy, flaky(1));
    std::thread::sleep(Duration::from_millis(5)); // the 1 ms backoff is over
    // The first wait sees the failure and schedules; a later zero wait starts the due attempt.
    // Where the clock moves while a wait runs (Miri's counts instructions), the backoff may
    // already be over within the first wait, which then starts the attempt itself.
    let first = call.result(Duration::ZERO);
    if first != Ok(2) {
        assert_eq!(first, Err(Error::Timeout));
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(call.result(Duration::ZERO), Ok(2));
    }
    assert_eq!(call.attempts(), 2);
}

#[test]
fn dropping_or_cancelling_stops_the_attempt_in_flight() {
    let (producer, attempt) = promise::<u32, TestError>();
    let mut attempt = Some(attempt);
    let started = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&started);
    let call = retry(fast(), move |_| {
        count.fetch_add(1, Ordering::SeqCst);
        attempt.take().unwrap_or_else(|| failed("again"))
    });
    drop(call);
    assert!(producer.is_cancelled());
    assert_eq!(started.load(Ordering::SeqCst), 1);
}

/// What a retry's notifier heard: the delay of each sleep it was told of.
type Told = Arc<Mutex<Vec<Duration>>>;

/// A retry whose one attempt is a promise the test completes, with the notifications it gets.
fn one_promised_attempt(
    classify: RetryDecision,
) -> (
    Promise<u32, TestError>,
    apifuture::Retry<impl FnMut(u32) -> Attempt + Send>,
    Told,
) {
    let (producer, attempt) = promise::<u32, TestError>();
    let mut attempt = Some(attempt);
    let told = Told::default();
    let heard = Arc::clone(&told);
    let call = retry(fast(), move |_| {
        attempt.take().unwrap_or_else(|| failed("again"))
    })
    .when(move |_| classify)
    .notify(move |_, delay| heard.lock().unwrap().push(delay));
    (producer, call, told)
}

#[test]
fn cancel_keeps_an_outcome_that_has_already_arrived() {
    // Whether `done()` was asked first or not, as with a plain future.
    for ask_first in [false, true] {
        let (producer, mut call, _) = one_promised_attempt(RetryDecision::Retry);
        producer.set_result(7);
        if ask_first {
            assert!(call.done());
        }
        assert!(!call.cancel(), "ask_first: {ask_first}");
        assert_eq!(call.result(None), Ok(7));
    }
    // A failure the classifier stops on finishes the retry too.
    let (producer, mut call, told) = one_promised_attempt(RetryDecision::Stop);
    producer.set_error("bad request");
    assert!(!call.cancel());
    assert_eq!(call.result(None), Err(Error::Failed("bad request")));
    assert!(told.lock().unwrap().is_empty());
    // One that would be retried does not: the cancel wins, and nobody hears of the sleep.
    let (producer, mut call, told) = one_promised_attempt(RetryDecision::Retry);
    producer.set_error("busy");
    assert!(call.cancel());
    assert_eq!(call.result(None), Err(Error::Cancelled));
    assert_eq!(call.attempts(), 1);
    assert!(told.lock().unwrap().is_empty());
}

#[test]
fn polling_pending_does_not_use_up_attempts() {
    let policy = fast().with_max_attempts(2);
    let mut job = poll_until_ready(policy, |probe| {
        ready::<_, TestError>(if probe < 8 {
            Progress::Pending
        } else {
            Progress::Ready(probe)
        })
    });
    assert_eq!(job.result(Duration::from_secs(30)), Ok(8));
    assert_eq!(job.attempts(), 8);
}

#[test]
fn polling_errors_do_use_up_attempts() {
    let policy = fast().with_max_attempts(3);
    let mut job = poll_until_ready(policy, |_| failed::<Progress<u32>, TestError>("503"));
    assert_eq!(job.result(None), Err(Error::Failed("503")));
    assert_eq!(job.attempts(), 3);
}

#[test]
fn polling_pending_for_zero_probes_again_at_once() {
    let mut job = poll_until_ready(RetryPolicy::new(), |probe| {
        ready::<_, TestError>(if probe < 5 {
            Progress::PendingFor(Duration::ZERO)
        } else {
            Progress::Ready(probe)
        })
    });
    // With the default 0.5 s backoff, only PendingFor(ZERO) can get five probes in at once.
    assert_eq!(job.result(Duration::ZERO), Ok(5));
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn polling_that_stays_pending_hits_the_deadline() {
    let policy = fast().with_deadline(Duration::from_millis(30));
    let mut job = poll_until_ready(policy, |_| {
        ready::<Progress<u32>, TestError>(Progress::Pending)
    });
    assert_eq!(job.result(None), Err(Error::DeadlineExceeded));
    let mut job = poll_until_ready(fast().with_deadline(Duration::from_millis(30)), |_| {
        ready::<Progress<u32>, TestError>(Progress::Pending)
    });
    assert_eq!(
        smol::block_on(job.result_async(None)),
        Err(Error::DeadlineExceeded)
    );
}

#[test]
fn dropping_a_polling_stops_probing() {
    let probes = Arc::new(AtomicU32::new(0));
    let count = Arc::clone(&probes);
    let mut job = poll_until_ready(fast(), move |_| {
        count.fetch_add(1, Ordering::SeqCst);
        ready::<Progress<u32>, TestError>(Progress::Pending)
    });
    assert_eq!(job.result(Duration::from_millis(20)), Err(Error::Timeout));
    drop(job);
    let after_drop = probes.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(30));
    assert_eq!(probes.load(Ordering::SeqCst), after_drop);
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn blocking_and_async_see_the_same_outcomes() {
    for failures in [0, 2, 20] {
        let blocking = retry(fast().with_max_attempts(5), flaky(failures)).result(None);
        let awaited =
            smol::block_on(retry(fast().with_max_attempts(5), flaky(failures)).result_async(None));
        assert_eq!(blocking, awaited);
    }
}

#[test]
fn a_zero_deadline_lets_a_ready_first_attempt_win_and_nothing_else() {
    let mut call = retry(fast().with_deadline(Duration::ZERO), flaky(0));
    assert_eq!(
        call.result(None),
        Ok(1),
        "an outcome already there wins over the deadline"
    );
    let mut call = retry(fast().with_deadline(Duration::ZERO), flaky(3));
    assert_eq!(call.result(None), Err(Error::Failed("busy")));
    assert_eq!(call.attempts(), 1);
    let (_producer, pending) = promise::<u32, TestError>();
    let mut pending = Some(pending);
    let mut call = retry(fast().with_deadline(Duration::ZERO), move |_| {
        pending.take().unwrap()
    });
    assert_eq!(call.result(None), Err(Error::DeadlineExceeded));
}

#[test]
fn a_deadline_too_large_for_instant_means_none() {
    let mut call = retry(fast().with_deadline(Duration::MAX), flaky(2));
    assert_eq!(call.result(None), Ok(3));
}

#[test]
fn a_nan_multiplier_never_loops_forever() {
    let mut call = retry(
        fast().with_multiplier(f64::NAN).with_max_attempts(5),
        flaky(100),
    );
    assert_eq!(
        call.result(Duration::from_secs(30)),
        Err(Error::Failed("busy"))
    );
    assert_eq!(call.attempts(), 5);
}

#[test]
fn the_deadline_counts_a_first_attempt_that_works_inside_the_closure() {
    // The closure does its work before returning an already-failed future: that time is part
    // of the deadline, so no retry follows.
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(1))
        .with_deadline(Duration::from_millis(40));
    let calls = Arc::new(AtomicU32::new(0));
    let seen = Arc::clone(&calls);
    let mut call = retry(policy, move |_| -> Attempt {
        seen.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(60));
        failed("busy")
    });
    assert_eq!(call.result(None), Err(Error::Failed("busy")));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_first_attempt_done_at_once_is_handed_out_once_in_both_modes() {
    let mut call = retry(fast(), |_| ready::<u32, TestError>(7));
    assert_eq!(call.attempts(), 1);
    assert!(!call.cancel(), "a finished retry cannot be cancelled");
    assert_eq!(call.result(Duration::ZERO), Ok(7));
    assert_eq!(call.result(None), Err(Error::Consumed));
    let mut call = retry(fast(), |_| ready::<u32, TestError>(8));
    assert_eq!(
        futures_lite::future::block_on(call.result_async(None)),
        Ok(8)
    );
    assert_eq!(call.try_result(), Some(Err(Error::Consumed)));
}

// ===== notify announces only the sleeps that are taken =====

/// A log of `notify`'s calls: the error and the delay announced.
type Announced = Arc<Mutex<Vec<(TestError, Duration)>>>;

fn announcing() -> (Announced, impl FnMut(&TestError, Duration) + Send + 'static) {
    let log = Announced::default();
    let seen = Arc::clone(&log);
    (log, move |error: &TestError, delay| {
        seen.lock().unwrap().push((*error, delay))
    })
}

#[test]
fn a_retry_after_the_deadline_refuses_is_never_announced() {
    both_modes(|mode| {
        let (log, notify) = announcing();
        let policy = fast().with_deadline(Duration::from_secs(60));
        let mut call = retry(policy, flaky(u32::MAX))
            .when(|_| RetryDecision::RetryAfter(Duration::from_secs(3600)))
            .notify(notify);
        assert_eq!(mode.wait(&mut call), Err(Error::Failed("busy")), "{mode:?}");
        assert_eq!(call.attempts(), 1, "{mode:?}");
        assert!(
            log.lock().unwrap().is_empty(),
            "{mode:?}: announced {:?}",
            log.lock().unwrap()
        );
    });
}

#[test]
fn a_backoff_the_deadline_cuts_is_never_announced() {
    both_modes(|mode| {
        let (log, notify) = announcing();
        // Backoffs of 1 ms, then 1000 s, which a 60 s deadline refuses.
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::from_millis(1))
            .with_multiplier(1e6)
            .with_max_delay(Duration::from_secs(3600))
            .with_jitter(apifuture::Jitter::None)
            .with_deadline(Duration::from_secs(60));
        let mut call = retry(policy, flaky(u32::MAX)).notify(notify);
        assert_eq!(mode.wait(&mut call), Err(Error::Failed("busy")), "{mode:?}");
        assert_eq!(call.attempts(), 2, "{mode:?}");
        assert_eq!(
            *log.lock().unwrap(),
            [("busy", Duration::from_millis(1))],
            "{mode:?}: one announcement per sleep taken"
        );
    });
}

#[test]
fn exactly_one_announcement_per_sleep_taken_zero_delays_included() {
    both_modes(|mode| {
        let (log, notify) = announcing();
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::ZERO)
            .with_max_attempts(4);
        // Three failures then a value: three sleeps of zero.
        let mut call = retry(policy.clone(), flaky(3)).notify(notify);
        assert_eq!(mode.wait(&mut call), Ok(4), "{mode:?}");
        assert_eq!(log.lock().unwrap().len(), 3, "{mode:?}");
        // Four failures under four attempts: three sleeps, the fourth failure ends it.
        let (log, notify) = announcing();
        let mut call = retry(policy, flaky(u32::MAX)).notify(notify);
        assert_eq!(mode.wait(&mut call), Err(Error::Failed("busy")), "{mode:?}");
        assert_eq!(log.lock().unwrap().len(), 3, "{mode:?}");
    });
}

#[test]
fn a_poll_announces_only_the_sleeps_after_failures_it_takes() {
    both_modes(|mode| {
        let (log, notify) = announcing();
        let policy = fast().with_deadline(Duration::from_secs(60));
        // Probe 1 fails (a retry after 1 ms: announced), probe 2 answers Pending (a sleep,
        // but no error to show), probe 3 fails with a hint the deadline refuses.
        let probe = |n: u32| -> AwaitableConcurrentFuture<Progress<u32>, TestError> {
            match n {
                2 => ready(Progress::Pending),
                _ => failed("busy"),
            }
        };
        let mut polls = 0;
        let mut job = poll_until_ready(policy, probe)
            .when(move |_| {
                polls += 1;
                if polls == 1 {
                    RetryDecision::RetryAfter(Duration::from_millis(1))
                } else {
                    RetryDecision::RetryAfter(Duration::from_secs(3600))
                }
            })
            .notify(notify);
        assert_eq!(mode.wait(&mut job), Err(Error::Failed("busy")), "{mode:?}");
        assert_eq!(job.attempts(), 3, "{mode:?}");
        assert_eq!(
            *log.lock().unwrap(),
            [("busy", Duration::from_millis(1))],
            "{mode:?}"
        );
    });
}

#[test]
fn a_sleep_resumed_after_a_wait_timeout_is_not_announced_again() {
    let (log, notify) = announcing();
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::from_millis(200))
        .with_jitter(apifuture::Jitter::None);
    let mut call = retry(policy, flaky(1)).notify(notify);
    assert_eq!(call.result(Duration::ZERO), Err(Error::Timeout));
    assert_eq!(call.result(Duration::from_millis(1)), Err(Error::Timeout));
    assert_eq!(call.result(Duration::from_secs(30)), Ok(2));
    assert_eq!(log.lock().unwrap().len(), 1);
}

/// Waits on `job` once without waiting (it steps into its first sleep), lets `pause` pass with
/// nobody waiting, then waits for the outcome.
fn resumed_after<F: ApiFuture>(mut job: F, pause: Duration) -> Result<F::Value, Error<F::Failure>> {
    match job.result(Duration::ZERO) {
        Err(Error::Timeout) => {
            std::thread::sleep(pause);
            job.result(None)
        }
        // A very slow machine: the deadline had already come at the first look.
        done => done,
    }
}

#[test]
#[cfg_attr(miri, ignore = "lets a real deadline pass")]
fn a_retry_waited_on_only_after_its_deadline_starts_no_attempt() {
    let policy = fast().with_deadline(Duration::from_millis(100));
    let started = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&started);
    let job = retry(policy.clone(), move |attempt| {
        counted.store(attempt, Ordering::SeqCst);
        flaky(1)(attempt)
    });
    let pause = Duration::from_millis(300);
    assert_eq!(resumed_after(job, pause), Err(Error::Failed("busy")));
    assert_eq!(started.load(Ordering::SeqCst), 1);

    // A poll ends as it would have at the deadline: nothing failed, so `DeadlineExceeded`.
    let counted = Arc::clone(&started);
    let job = poll_until_ready(policy, move |probe| {
        counted.store(probe, Ordering::SeqCst);
        ready::<_, TestError>(if probe == 1 {
            Progress::Pending
        } else {
            Progress::Ready(probe)
        })
    });
    assert_eq!(resumed_after(job, pause), Err(Error::DeadlineExceeded));
    assert_eq!(started.load(Ordering::SeqCst), 1);
}
