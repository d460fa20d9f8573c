//! The race matrix: every producer action against every consumer action, on two threads that
//! start together and then spin for a varying while, so that each side's step lands before,
//! during and after the other's. Every value is dropped exactly once, nobody hangs, and the
//! waiter never panics and always sees an outcome consistent with what the producer did.
//!
//! Runs under Miri too (with fewer iterations), which checks the unsafe code of our
//! dependencies as we use it, including the shape of faern/oneshot#87: an async wait polled
//! once, then dropped, then the future dropped, while the producer completes.

use crate::common;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;

use apifuture::{ApiFuture, AwaitableConcurrentFuture, Error, Promise, promise, spawn};
use common::{DropCounter, StartLine, Tracked, iterations, relax};

#[derive(Debug, Clone, Copy)]
enum Producer {
    Complete,
    Fail,
    Drop,
    /// A `spawn` closure that panics; the pool thread is the producer.
    PanicInSpawn,
}

#[derive(Debug, Clone, Copy)]
enum Consumer {
    BlockingWait,
    BlockingWaitTimeout,
    Await,
    /// Poll `result_async` once (registering its waker), drop that wait, then drop the future.
    AwaitTimeoutThenDrop,
    /// Poll `.await`'s future once, then drop it with the future inside.
    AwaitOnceThenDrop,
    Cancel,
    TryResult,
    Drop,
}

const CONSUMERS: [Consumer; 8] = [
    Consumer::BlockingWait,
    Consumer::BlockingWaitTimeout,
    Consumer::Await,
    Consumer::AwaitTimeoutThenDrop,
    Consumer::AwaitOnceThenDrop,
    Consumer::Cancel,
    Consumer::TryResult,
    Consumer::Drop,
];

type TestFuture = AwaitableConcurrentFuture<Tracked, Tracked>;

/// What the consumer may legitimately see for a producer action.
fn check_outcome(producer: Producer, expected: u64, outcome: Result<Tracked, Error<Tracked>>) {
    match (producer, outcome) {
        (Producer::Complete, Ok(value)) => assert_eq!(value.value, expected),
        (Producer::Fail, Err(Error::Failed(error))) => assert_eq!(error.value, expected),
        (Producer::Drop, Err(Error::Abandoned)) => {}
        (Producer::PanicInSpawn, Err(Error::Panicked(message))) => assert_eq!(message, "boom"),
        (producer, outcome) => panic!("{producer:?} gave the waiter {outcome:?}"),
    }
}

fn consume(consumer: Consumer, producer: Producer, expected: u64, mut future: TestFuture) {
    let short = Duration::from_micros(20);
    match consumer {
        Consumer::BlockingWait => check_outcome(producer, expected, future.result(None)),
        Consumer::BlockingWaitTimeout => match future.result(short) {
            Err(Error::Timeout) => check_outcome(producer, expected, future.result(None)),
            outcome => check_outcome(producer, expected, outcome),
        },
        Consumer::Await => {
            check_outcome(producer, expected, futures_lite::future::block_on(future))
        }
        Consumer::AwaitTimeoutThenDrop => {
            {
                // A timer needs async-io's reactor (epoll), which Miri cannot run; the waker
                // is what the #87 shape is about, and it is the same without a time limit.
                let limit = if cfg!(miri) { None } else { Some(short) };
                let mut wait = pin!(future.result_async(limit));
                let polled = wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
                if let std::task::Poll::Ready(outcome) = polled {
                    if !matches!(outcome, Err(Error::Timeout)) {
                        check_outcome(producer, expected, outcome);
                    }
                }
            }
            drop(future);
        }
        Consumer::AwaitOnceThenDrop => {
            let mut wait = pin!(future);
            if let std::task::Poll::Ready(outcome) =
                wait.as_mut().poll(&mut Context::from_waker(Waker::noop()))
            {
                check_outcome(producer, expected, outcome);
            }
        }
        Consumer::Cancel => {
            if future.future().cancel() {
                assert!(matches!(future.result(None), Err(Error::Cancelled)));
                assert!(matches!(future.try_result(), Some(Err(Error::Cancelled))));
            } else {
                check_outcome(producer, expected, future.result(None));
                assert!(matches!(
                    future.try_result(),
                    Some(Err(Error::Consumed | Error::Abandoned))
                ));
            }
        }
        Consumer::TryResult => loop {
            if let Some(outcome) = future.try_result() {
                check_outcome(producer, expected, outcome);
                break;
            }
            relax();
        },
        Consumer::Drop => drop(future),
    }
}

fn produce(
    producer: Producer,
    counter: &Arc<DropCounter>,
    value: u64,
    promise: Promise<Tracked, Tracked>,
) {
    match producer {
        Producer::Complete => promise.set_result(counter.track(value)),
        Producer::Fail => promise.set_error(counter.track(value)),
        Producer::Drop => drop(promise),
        Producer::PanicInSpawn => unreachable!("spawned futures have no promise"),
    }
}

fn run_cell(producer: Producer, consumer: Consumer, rounds: usize) {
    let counter = DropCounter::new();
    for round in 0..rounds {
        let value = round as u64;
        if let Producer::PanicInSpawn = producer {
            // The pool's thread is the producer: a start line across it and this thread.
            let start = Arc::new(StartLine::new());
            let (pool_start, delay) = (Arc::clone(&start), round % 64);
            let future: TestFuture = spawn(move || {
                pool_start.meet_and_delay(delay);
                panic!("boom")
            });
            // The job has reached the start line before the consumer acts, so the consumer's
            // action always races a running closure (a skipped job is tested in tests/pool.rs).
            start.meet_and_delay(63 - delay);
            consume(consumer, producer, value, future);
            continue;
        }
        let (promise, future) = promise::<Tracked, Tracked>();
        common::race(
            round,
            64,
            || produce(producer, &counter, value, promise),
            || consume(consumer, producer, value, future),
        );
    }
    counter.assert_all_dropped();
}

fn run_producer(producer: Producer) {
    for consumer in CONSUMERS {
        run_cell(producer, consumer, iterations(200, 12));
    }
}

#[test]
fn complete_against_every_consumer() {
    run_producer(Producer::Complete);
}

#[test]
fn fail_against_every_consumer() {
    run_producer(Producer::Fail);
}

#[test]
fn drop_against_every_consumer() {
    run_producer(Producer::Drop);
}

#[test]
fn panic_in_spawn_against_every_consumer() {
    run_producer(Producer::PanicInSpawn);
    common::retire_pool_threads();
}

/// The exact shape of faern/oneshot#87, spun hard: an async wait registers its waker, is
/// dropped, and the future is dropped while the producer completes on the other thread.
#[test]
fn dropping_a_polled_wait_while_the_producer_completes() {
    let counter = DropCounter::new();
    for round in 0..iterations(5_000, 150) {
        let (promise, mut future) = promise::<Tracked, Tracked>();
        let start = StartLine::new();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                start.meet_and_delay(round % 16);
                promise.set_result(counter.track(round as u64));
            });
            {
                let mut wait = pin!(future.result_async(None));
                let _ = wait.as_mut().poll(&mut Context::from_waker(Waker::noop()));
            }
            start.meet_and_delay(15 - round % 16);
            drop(future);
        });
    }
    counter.assert_all_dropped();
}
