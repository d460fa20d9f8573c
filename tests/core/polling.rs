//! `poll_until_ready` as the seed's SDK polls: failures are counted in a row, an answer resets
//! them and their backoff, a probe past the attempt timeout is such an answer and is sent again
//! at once, `Pending` backs off from the first delay, and no schedule can keep a wait from its
//! own timeout.
//! Every rule in both modes (a blocking wait and `.await` under two executors).

use crate::common;

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, AwaitableConcurrentFuture, Error, Jitter, Progress, Promise, RetryDecision,
    RetryPolicy, failed, poll_until_ready, promise, ready, retry,
};
use common::TestError;

type Probe = AwaitableConcurrentFuture<Progress<u32>, TestError>;
/// Producers of probes the server holds, kept so that the probes stay pending.
type Held = Arc<Mutex<Vec<Promise<Progress<u32>, TestError>>>>;

const LONG: Duration = Duration::from_secs(60);

/// A probe the server holds: pending, its producer kept in `producers`.
fn held_probe(producers: &Held) -> Probe {
    let (producer, probe) = promise();
    producers.lock().unwrap().push(producer);
    probe
}

/// Short, exact delays: `initial` doubling, no jitter.
fn exact(initial: Duration) -> RetryPolicy {
    RetryPolicy::new()
        .with_initial_delay(initial)
        .with_multiplier(2.0)
        .with_max_delay(Duration::from_secs(10))
        .with_jitter(Jitter::None)
}

#[derive(Debug, Clone, Copy)]
enum Mode {
    Blocking,
    Smol,
    FuturesLite,
}

/// Under Miri the blocking mode only: the async ones sleep on async-io's reactor, which needs
/// timerfd.
const MODES: &[Mode] = if cfg!(miri) {
    &[Mode::Blocking]
} else {
    &[Mode::Blocking, Mode::Smol, Mode::FuturesLite]
};

impl Mode {
    fn wait<F: ApiFuture>(self, call: &mut F, timeout: Duration) -> F::Output {
        match self {
            Mode::Blocking => call.result(timeout),
            Mode::Smol => smol::block_on(call.result_async(timeout)),
            Mode::FuturesLite => futures_lite::future::block_on(call.result_async(timeout)),
        }
    }
}

/// What a scripted server says to probe `n` (from 1).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Say {
    Pending,
    PendingFor(Duration),
    Fail,
    Ready,
}

/// A probe closure that answers from `script` (probe `n` gets `script(n)`), and records when
/// each probe started.
fn scripted(
    script: impl Fn(u32) -> Say + Send + 'static,
) -> (
    impl FnMut(u32) -> Probe + Send + 'static,
    Arc<Mutex<Vec<Instant>>>,
) {
    let starts: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let seen = Arc::clone(&starts);
    let probe = move |n| {
        seen.lock().unwrap().push(Instant::now());
        match script(n) {
            Say::Pending => ready(Progress::Pending),
            Say::PendingFor(d) => ready(Progress::PendingFor(d)),
            Say::Fail => failed("503"),
            Say::Ready => ready(Progress::Ready(n)),
        }
    };
    (probe, starts)
}

#[test]
fn failures_are_counted_in_a_row_so_a_5xx_after_every_second_answer_never_ends_it() {
    for &mode in MODES {
        // Answer, answer, 503, answer, answer, 503, ... and the value at probe 300. Under 0.1's
        // rule (every failure counts for the whole poll) `max_attempts(2)` ended it at probe 6.
        let (probe, _) = scripted(|n| match n {
            300 => Say::Ready,
            n if n % 3 == 0 => Say::Fail,
            _ => Say::PendingFor(Duration::ZERO),
        });
        let policy = exact(Duration::from_micros(100)).with_max_attempts(2);
        let mut job = poll_until_ready(policy, probe);
        assert_eq!(mode.wait(&mut job, LONG), Ok(300), "{mode:?}");
        assert_eq!(job.attempts(), 300);
    }
}

#[test]
fn failures_in_a_row_still_use_up_the_attempts() {
    for &mode in MODES {
        let (probe, _) = scripted(|n| if n < 4 { Say::Pending } else { Say::Fail });
        let mut job = poll_until_ready(
            exact(Duration::from_micros(100)).with_max_attempts(3),
            probe,
        );
        assert_eq!(
            mode.wait(&mut job, LONG),
            Err(Error::Failed("503")),
            "{mode:?}"
        );
        // Three answers, then three failures in a row.
        assert_eq!(job.attempts(), 6);
    }
}

#[test]
fn an_answer_resets_the_failure_backoff() {
    for &mode in MODES {
        let delays: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let seen = Arc::clone(&delays);
        let (probe, _) = scripted(|n| match n {
            1 | 2 | 3 | 5 | 6 => Say::Fail,
            4 => Say::PendingFor(Duration::ZERO),
            _ => Say::Ready,
        });
        let mut job = poll_until_ready(exact(Duration::from_millis(1)), probe)
            .notify(move |_, delay| seen.lock().unwrap().push(delay));
        assert_eq!(mode.wait(&mut job, LONG), Ok(7));
        let ms = Duration::from_millis;
        assert_eq!(
            *delays.lock().unwrap(),
            [ms(1), ms(2), ms(4), ms(1), ms(2)],
            "{mode:?}: the answer at probe 4 starts the failure backoff again"
        );
    }
}

#[test]
fn an_answer_forgets_the_earlier_error_so_the_deadline_says_deadline_exceeded() {
    for &mode in MODES {
        // A 503, an answer, then a probe the server holds until the deadline: the poll ends
        // because time ran out, not because of the 503 two probes back.
        let held: Held = Arc::default();
        let keep = Arc::clone(&held);
        let policy = exact(Duration::from_millis(1)).with_deadline(Duration::from_millis(300));
        let mut job = poll_until_ready(policy, move |n| match n {
            1 => failed("503"),
            2 => ready(Progress::Pending),
            _ => held_probe(&keep),
        });
        assert_eq!(
            mode.wait(&mut job, LONG),
            Err(Error::DeadlineExceeded),
            "{mode:?}"
        );
        assert_eq!(job.attempts(), 3);
    }
}

#[test]
fn pending_backs_off_from_the_first_delay_whatever_the_failures_before() {
    for &mode in MODES {
        // Failures grow the failure backoff to 1 ms, 30 ms, 900 ms: a `Pending` that continued
        // that schedule would sleep 27 s next. It starts from the first delay instead: 1 ms,
        // then 30 ms for the `Pending` after it.
        let (probe, starts) = scripted(|n| match n {
            1..=3 => Say::Fail,
            4 | 5 => Say::Pending,
            _ => Say::Ready,
        });
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::from_millis(1))
            .with_multiplier(30.0)
            .with_max_delay(Duration::from_secs(60))
            .with_jitter(Jitter::None);
        let mut job = poll_until_ready(policy, probe);
        assert_eq!(mode.wait(&mut job, LONG), Ok(6), "{mode:?}");
        let starts = starts.lock().unwrap();
        let gap = |n: usize| starts[n] - starts[n - 1];
        // Lower bounds are exact (a sleep is never shorter); the upper one is generous.
        assert!(gap(4) >= Duration::from_millis(1), "{mode:?}: {:?}", gap(4));
        assert!(gap(4) < Duration::from_secs(10), "{mode:?}: {:?}", gap(4));
        assert!(
            gap(5) >= Duration::from_millis(30),
            "{mode:?}: {:?}",
            gap(5)
        );
        assert!(gap(5) < Duration::from_secs(10), "{mode:?}: {:?}", gap(5));
    }
}

#[test]
fn a_probe_past_the_attempt_timeout_is_sent_again_at_once_without_using_an_attempt() {
    for &mode in MODES {
        let producers: Held = Arc::default();
        let keep = Arc::clone(&producers);
        // Probes 1 to 5 are long polls the server holds past the attempt timeout; the sixth
        // answers. `max_attempts(1)` and a 30 s backoff: a timeout that counted as a failure
        // would end the poll, one that backed off would take 30 s.
        let policy = exact(Duration::from_secs(30))
            .with_max_attempts(1)
            .with_attempt_timeout(Duration::from_millis(10));
        let mut job = poll_until_ready(policy, move |n| {
            if n == 6 {
                return ready(Progress::Ready(n));
            }
            held_probe(&keep)
        });
        let started = Instant::now();
        assert_eq!(mode.wait(&mut job, LONG), Ok(6), "{mode:?}");
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{mode:?}: a backoff was slept"
        );
        let producers = producers.lock().unwrap();
        assert_eq!(producers.len(), 5);
        assert!(
            producers.iter().all(Promise::is_cancelled),
            "held probes are cancelled"
        );
    }
}

#[test]
fn a_probe_held_past_the_attempt_timeout_is_an_answer_that_resets_the_failures_in_a_row() {
    for &mode in MODES {
        let producers: Held = Arc::default();
        let keep = Arc::clone(&producers);
        // A 503, a probe the server holds past the attempt timeout, a 503, the value: with
        // `max_attempts(2)` only an answer between the two failures lets the poll reach it.
        let policy = exact(Duration::from_millis(1))
            .with_max_attempts(2)
            .with_attempt_timeout(Duration::from_millis(10));
        let mut job = poll_until_ready(policy, move |n| -> Probe {
            match n {
                1 | 3 => failed("503"),
                2 => held_probe(&keep),
                _ => ready(Progress::Ready(n)),
            }
        });
        assert_eq!(mode.wait(&mut job, LONG), Ok(4), "{mode:?}");
        assert!(producers.lock().unwrap()[0].is_cancelled());
    }
}

#[test]
fn after_held_probes_the_deadline_says_deadline_exceeded_not_an_earlier_error() {
    for &mode in MODES {
        let producers: Held = Arc::default();
        let keep = Arc::clone(&producers);
        // A 503, then probes the server holds past the attempt timeout until the deadline:
        // time ran out while the server was answering "not yet".
        let policy = exact(Duration::from_millis(1))
            .with_attempt_timeout(Duration::from_millis(10))
            .with_deadline(Duration::from_millis(200));
        let mut job = poll_until_ready(policy, move |n| -> Probe {
            if n == 1 {
                return failed("503");
            }
            held_probe(&keep)
        });
        assert_eq!(
            mode.wait(&mut job, LONG),
            Err(Error::DeadlineExceeded),
            "{mode:?}"
        );
        assert!(job.attempts() >= 3, "{mode:?}: held probes are sent again");
    }
}

#[test]
fn a_retry_still_counts_an_attempt_timeout_as_a_failure() {
    let keep: Arc<Mutex<Vec<Promise<u32, TestError>>>> = Arc::default();
    let producers = Arc::clone(&keep);
    let policy = exact(Duration::from_millis(1))
        .with_max_attempts(3)
        .with_attempt_timeout(Duration::from_millis(5));
    let mut call = retry(policy, move |_| {
        let (producer, attempt) = promise();
        keep.lock().unwrap().push(producer);
        attempt
    });
    assert_eq!(call.result(LONG), Err(Error::DeadlineExceeded));
    assert_eq!(producers.lock().unwrap().len(), 3);
}

#[test]
fn an_hour_long_poll_with_failures_sprinkled_in_ends_with_the_value() {
    for &mode in MODES {
        // 720 probes (an hour at one every 5 s, here one every 100 µs), a failure every 7th
        // and a short burst of three in a row, under the default attempt count of 11.
        let failures = Arc::new(AtomicU32::new(0));
        let count = Arc::clone(&failures);
        let (probe, _) = scripted(move |n| match n {
            720 => Say::Ready,
            400..=402 => Say::Fail,
            n if n % 7 == 0 => Say::Fail,
            n if n % 2 == 0 => Say::Pending,
            _ => Say::PendingFor(Duration::from_micros(100)),
        });
        let policy = RetryPolicy::new()
            .with_initial_delay(Duration::from_micros(100))
            .with_max_delay(Duration::from_micros(200));
        let mut job = poll_until_ready(policy, probe).notify(move |_, _| {
            count.fetch_add(1, Ordering::SeqCst);
        });
        assert_eq!(mode.wait(&mut job, LONG), Ok(720), "{mode:?}");
        assert_eq!(job.attempts(), 720);
        assert!(
            failures.load(Ordering::SeqCst) > 100,
            "11 attempts would not have lasted"
        );
    }
}

fn spin_forever_pending() -> impl FnMut(u32) -> Probe + Send + 'static {
    |_| ready(Progress::Pending)
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_zero_delay_poll_that_is_never_ready_honours_the_wait_timeout_and_stays_waitable() {
    for &mode in MODES {
        let policy = RetryPolicy::new().with_initial_delay(Duration::ZERO);
        let mut job = poll_until_ready(policy, spin_forever_pending());
        let started = Instant::now();
        assert_eq!(
            mode.wait(&mut job, Duration::from_millis(200)),
            Err(Error::Timeout),
            "{mode:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(10), "{mode:?}");
        let before = job.attempts();
        assert!(before > 32, "{mode:?}: it did probe");
        assert_eq!(
            mode.wait(&mut job, Duration::from_millis(20)),
            Err(Error::Timeout)
        );
        assert!(
            job.attempts() > before,
            "{mode:?}: the next wait goes on probing"
        );
    }
    // The same with the server's own hint, and a retry that fails at once with a zero delay.
    let mut job = poll_until_ready(RetryPolicy::new(), |_| {
        ready::<_, TestError>(Progress::<u32>::PendingFor(Duration::ZERO))
    });
    assert_eq!(job.result(Duration::from_millis(100)), Err(Error::Timeout));
    let policy = RetryPolicy::new()
        .with_initial_delay(Duration::ZERO)
        .with_max_attempts(u32::MAX);
    let mut call = retry(policy, |_| failed::<u32, TestError>("busy"));
    assert_eq!(call.result(Duration::from_millis(100)), Err(Error::Timeout));
    let mut call = retry(RetryPolicy::new().with_max_attempts(u32::MAX), |_| {
        failed::<u32, TestError>("busy")
    })
    .when(|_| RetryDecision::RetryAfter(Duration::ZERO));
    let awaited = smol::block_on(call.result_async(Duration::from_millis(100)));
    assert_eq!(awaited, Err(Error::Timeout));
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn a_zero_delay_poll_yields_to_other_tasks_on_its_executor() {
    // On its own thread, so that a regression (a poll that never gives the thread back) fails
    // here instead of hanging the test binary.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        yields_to_other_tasks();
        let _ = done.send(());
    });
    assert!(
        finished.recv_timeout(LONG).is_ok(),
        "the poll held its executor thread"
    );
}

fn yields_to_other_tasks() {
    // One executor thread: the poll and a task counting its own turns. If the poll held the
    // thread, the counter would not move until the poll's timeout.
    let executor = smol::LocalExecutor::new();
    let turns = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&turns);
    let counter = executor.spawn(async move {
        loop {
            counted.fetch_add(1, Ordering::SeqCst);
            futures_lite::future::yield_now().await;
        }
    });
    let seen_while_polling = smol::block_on(executor.run(async {
        let mut job = poll_until_ready(
            RetryPolicy::new().with_initial_delay(Duration::ZERO),
            spin_forever_pending(),
        );
        let outcome = job.result_async(Duration::from_millis(200)).await;
        assert_eq!(outcome, Err(Error::Timeout));
        turns.load(Ordering::SeqCst)
    }));
    drop(counter);
    assert!(
        seen_while_polling > 10,
        "the other task ran {seen_while_polling} times"
    );
}

#[test]
fn a_zero_attempt_timeout_counts_as_a_failure_in_a_poll_too() {
    let held: Held = Arc::default();
    let keep = Arc::clone(&held);
    let policy = exact(Duration::from_micros(100))
        .with_max_attempts(3)
        .with_attempt_timeout(Duration::ZERO);
    let mut job = poll_until_ready(policy, move |_| held_probe(&keep));
    // Re-sent at once, these would be a hot loop that only a deadline ends.
    assert_eq!(job.result(LONG), Err(Error::DeadlineExceeded));
    assert_eq!(job.attempts(), 3);
}

#[test]
fn pending_backoff_starts_again_after_a_failure_or_a_hint() {
    for &mode in MODES {
        // 20 ms doubling: Pending, Pending sleep 20 then 40 ms; after a failure (20 ms, the
        // failure backoff) the next Pending sleeps 20 ms again, and after a hint too.
        let (probe, starts) = scripted(|n| match n {
            1 | 2 => Say::Pending,
            3 => Say::Fail,
            4 => Say::Pending,
            5 => Say::PendingFor(Duration::from_millis(1)),
            6 => Say::Pending,
            _ => Say::Ready,
        });
        let policy = exact(Duration::from_millis(20)).with_multiplier(8.0);
        let mut job = poll_until_ready(policy, probe);
        assert_eq!(mode.wait(&mut job, LONG), Ok(7), "{mode:?}");
        let starts = starts.lock().unwrap();
        // The sleep after probe `n` (counted from 1).
        let gap = |n: usize| starts[n] - starts[n - 1];
        let ms = Duration::from_millis;
        // Growing: the second Pending in a row sleeps 160 ms.
        assert!(gap(2) >= ms(160), "{mode:?}: {:?}", gap(2));
        // Reset: each Pending after a failure or a hint sleeps the first delay, not 1.28 s.
        for n in [4, 6] {
            assert!(gap(n) >= ms(20), "{mode:?}: probe {n} after {:?}", gap(n));
            assert!(gap(n) < ms(1200), "{mode:?}: probe {n} after {:?}", gap(n));
        }
    }
}
