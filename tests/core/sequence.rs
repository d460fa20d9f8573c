//! `Sequence` and `Turn`: submissions in call order while calls run concurrently, in both
//! modes; drops before and after a turn opens, panics, timeouts, and many threads.

use crate::common;

use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, Error, RetryPolicy, Sequence, Turn, failed, ready, retry, spawn,
};
use common::{iterations, on_two_executors};

/// What failure looks like here: far longer than anything should take.
const GENEROUS: Duration = Duration::from_secs(30);

/// The order in which turns submitted.
type Log = Arc<Mutex<Vec<u64>>>;

/// Waits for `turn` (blocking), "submits" by logging its number, and releases it.
fn submit_blocking(mut turn: Turn, log: &Log) {
    let open = turn.result(GENEROUS).expect("the turn opens");
    log.lock().unwrap().push(open.number());
    open.release();
}

#[test]
fn turns_open_in_the_order_they_were_taken_whatever_order_the_waiters_come_in() {
    let sequence = Sequence::starting_at(1);
    let turns: Vec<Turn> = (0..8).map(|_| sequence.take_turn()).collect();
    let log = Log::default();
    // The calls wait from threads started in reverse order.
    let threads: Vec<_> = turns
        .into_iter()
        .rev()
        .map(|turn| {
            let log = Arc::clone(&log);
            thread::spawn(move || submit_blocking(turn, &log))
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(*log.lock().unwrap(), (1..=8).collect::<Vec<u64>>());
}

#[test]
fn awaited_turns_open_in_order_too() {
    on_two_executors(|| async {
        let sequence = Sequence::new();
        let turns: Vec<Turn> = (0..6).map(|_| sequence.take_turn()).collect();
        let log = Log::default();
        let waits = turns.into_iter().rev().map(|turn| {
            let log = Arc::clone(&log);
            apifuture::from_future(async move {
                let open = turn.await.expect("the turn opens");
                log.lock().unwrap().push(open.number());
                Ok::<(), std::convert::Infallible>(())
            })
        });
        apifuture::join_all_async(waits).await;
        assert_eq!(*log.lock().unwrap(), (0..6).collect::<Vec<u64>>());
    });
}

#[test]
#[cfg_attr(miri, ignore = "retries sleep on the pool and async-io's timers")]
fn submissions_keep_call_order_under_retries() {
    // Each call's submission fails (a 503) on its first two attempts: the next call's turn
    // opens only when the retry has ended.
    let sequence = Sequence::new();
    let log = Log::default();
    let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let (log, policy) = (Arc::clone(&log), policy.clone());
            sequence
                .take_turn()
                .map_failure(|never| match never {})
                .then_call(move |turn| {
                    retry(policy, move |attempt| {
                        let (log, number) = (Arc::clone(&log), turn.number());
                        spawn(move || {
                            log.lock().unwrap().push(number);
                            if attempt < 3 { Err("503") } else { Ok(number) }
                        })
                    })
                })
                .background()
        })
        .collect();
    // Waited in reverse, half blocking, half awaited.
    let outcomes: Vec<_> = calls
        .into_iter()
        .rev()
        .enumerate()
        .map(|(index, mut call)| {
            if index % 2 == 0 {
                call.result(GENEROUS)
            } else {
                futures_lite::future::block_on(call.result_async(GENEROUS))
            }
        })
        .collect();
    assert_eq!(outcomes, (0..6).rev().map(Ok).collect::<Vec<_>>());
    // Three attempts each, never interleaved with another call's.
    let expected: Vec<u64> = (0..6).flat_map(|n| [n, n, n]).collect();
    assert_eq!(*log.lock().unwrap(), expected);
}

#[test]
fn a_turn_dropped_before_it_opened_passes_on_only_when_it_would_have_opened() {
    let sequence = Sequence::new();
    let (first, second, mut third) = (
        sequence.take_turn(),
        sequence.take_turn(),
        sequence.take_turn(),
    );
    drop(second); // the second call was dropped before its turn came
    assert!(!third.is_open(), "the third overtook the first");
    assert_eq!(
        third.result(Duration::from_millis(5)).unwrap_err(),
        Error::Timeout
    );
    first.release();
    assert!(third.is_open());
    assert!(third.result(Duration::ZERO).is_ok());
}

#[test]
fn a_turn_dropped_after_it_opened_passes_on_at_once() {
    let sequence = Sequence::new();
    let (mut first, mut second) = (sequence.take_turn(), sequence.take_turn());
    let open = first.result(Duration::ZERO).unwrap();
    assert!(!second.is_open());
    drop(open);
    assert!(second.is_open());
    assert!(second.result(Duration::ZERO).is_ok());
    // The turn that was moved out of is an empty shell: its waits say so.
    assert_eq!(first.result(Duration::ZERO).unwrap_err(), Error::Consumed);
    // Nobody held: the next turn taken is open at once.
    assert!(sequence.take_turn().is_open());
}

#[test]
fn a_panic_while_holding_the_turn_passes_it_on() {
    let sequence = Sequence::new();
    let (first, mut second) = (sequence.take_turn(), sequence.take_turn());
    let holder = thread::spawn(move || {
        let _open = first;
        panic!("the submission panicked");
    });
    assert!(holder.join().is_err());
    assert!(
        second.result(GENEROUS).is_ok(),
        "the next turn never opened"
    );
}

#[test]
fn a_timed_out_wait_keeps_the_turn_in_both_modes() {
    let sequence = Sequence::new();
    let (first, mut second) = (sequence.take_turn(), sequence.take_turn());
    assert_eq!(
        second.result(Duration::from_millis(2)).unwrap_err(),
        Error::Timeout
    );
    let third = sequence.take_turn();
    #[cfg(not(miri))]
    assert_eq!(
        futures_lite::future::block_on(second.result_async(Duration::from_millis(2))).unwrap_err(),
        Error::Timeout
    );
    assert!(!third.is_open());
    drop(first);
    let open = second.result(GENEROUS).unwrap();
    assert_eq!(open.number(), 1);
    assert!(!third.is_open(), "the second still holds its turn");
    drop(open);
    assert!(third.is_open());
}

#[test]
fn a_thousand_calls_from_several_threads_submit_in_call_order() {
    let calls = iterations(1000, 40);
    let threads = 4;
    let sequence = Sequence::new();
    let log = Log::default();
    let taken = Arc::new(Mutex::new(Vec::new()));
    thread::scope(|scope| {
        for _ in 0..threads {
            let (sequence, log, taken) = (sequence.clone(), Arc::clone(&log), Arc::clone(&taken));
            scope.spawn(move || {
                // Each thread makes its calls: takes a turn per call (interleaved with the other
                // threads'), and submits them from helper threads in whatever order.
                let mine: Vec<Turn> = (0..calls / threads)
                    .map(|_| {
                        let turn = sequence.take_turn();
                        taken.lock().unwrap().push(turn.number());
                        turn
                    })
                    .collect();
                let waiters: Vec<_> = mine
                    .into_iter()
                    .map(|turn| {
                        let log = Arc::clone(&log);
                        thread::spawn(move || submit_blocking(turn, &log))
                    })
                    .collect();
                for waiter in waiters {
                    waiter.join().unwrap();
                }
            });
        }
    });
    let log = log.lock().unwrap();
    assert_eq!(log.len(), calls);
    assert_eq!(
        *log,
        (0..calls as u64).collect::<Vec<_>>(),
        "a submission overtook another"
    );
    let mut taken = taken.lock().unwrap().clone();
    taken.sort_unstable();
    assert_eq!(
        taken,
        (0..calls as u64).collect::<Vec<_>>(),
        "a number was handed out twice"
    );
}

#[test]
fn a_retry_holding_the_open_turn_releases_it_when_it_ends_though_the_call_is_kept() {
    let sequence = Sequence::new();
    let first = sequence.take_turn();
    let mut second = sequence.take_turn();
    let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
    let mut call = first
        .map_failure(|never| match never {})
        .then_call(move |open| {
            retry(policy, move |attempt| {
                let _held = &open;
                if attempt < 2 {
                    failed(attempt)
                } else {
                    ready(attempt)
                }
            })
        });
    assert_eq!(call.result(GENEROUS), Ok(2));
    // `call` is still here; its retry has ended, and its closure went with that.
    assert_eq!(
        second
            .result(Duration::from_secs(5))
            .map(|open| open.number()),
        Ok(1)
    );
    drop(call);
}

#[test]
fn a_map_holding_the_open_turn_over_an_abandoned_submission_releases_it() {
    let sequence = Sequence::new();
    let mut first = sequence.take_turn();
    let mut second = sequence.take_turn();
    let open = first.result(GENEROUS).unwrap();
    let (transport, submission) = apifuture::promise::<u32, &str>();
    let mut call = submission.map_value(move |v| {
        open.release();
        v
    });
    drop(transport);
    assert_eq!(call.result(GENEROUS), Err(Error::Abandoned));
    // `call` is still here; the closure, which will never run, went with the outcome.
    assert!(second.result(Duration::from_secs(5)).is_ok());
    drop(call);
}

#[test]
fn a_turn_never_fails() {
    let sequence = Sequence::new();
    let first = sequence.take_turn();
    let mut second = sequence.take_turn();
    assert_eq!(second.peek_failed(), None);
    drop(first);
    assert_eq!(second.peek_failed(), Some(false));
    let open = second.result(GENEROUS).unwrap();
    assert_eq!(second.peek_failed(), Some(false)); // moved out: `Consumed` is no failure
    drop(open);
}

#[test]
fn a_turn_is_printable_and_says_whether_it_is_open() {
    let sequence = Sequence::new();
    let (mut first, mut second) = (sequence.take_turn(), sequence.take_turn());
    assert!(format!("{second:?}").contains("pending"));
    assert!(first.done() && !second.done());
    let open = first.result(Duration::ZERO).unwrap();
    assert!(format!("{first:?}").contains("taken"));
    drop(open);
    assert!(second.done());
    assert!(format!("{sequence:?}").contains("open: 1"));
}
