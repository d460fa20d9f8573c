//! `spawn_async`: async code on the crate's background executor thread, waited on blocking and
//! async; cancellation reaching the task; panics; many tasks on the one thread.
#![cfg(not(miri))] // the executor thread runs on async-io's reactor (epoll)

mod common;

use std::future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

use apifuture::{ApiFuture, AwaitableConcurrentFuture, Error, join_all, promise, spawn_async};
use async_io::Timer;
use common::{TestError, on_two_executors};

/// How long a test waits for something that should happen at once: only a broken crate (or a
/// badly overloaded machine) reaches it.
const GENEROUS: Duration = Duration::from_secs(30);

/// Sends on its channel when dropped: tells the test that the task's future was dropped.
struct SignalOnDrop(mpsc::Sender<()>);

impl Drop for SignalOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(()); // the test may have stopped listening
    }
}

/// An SDK call written once in async code: key 0 is unknown.
fn lookup(key: u32) -> AwaitableConcurrentFuture<String, TestError> {
    spawn_async(async move {
        Timer::after(Duration::from_millis(2)).await;
        if key == 0 {
            return Err("unknown key");
        }
        Ok(format!("value-{key}"))
    })
}

/// A task that signals once it runs, then waits forever holding a guard that signals its drop.
/// Returns the future, the "started" receiver and the "dropped" receiver.
fn forever() -> (
    AwaitableConcurrentFuture<u32, TestError>,
    mpsc::Receiver<()>,
    mpsc::Receiver<()>,
) {
    let (started_tx, started) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel();
    let future = spawn_async(async move {
        let _guard = SignalOnDrop(dropped_tx);
        started_tx.send(()).unwrap();
        future::pending::<()>().await;
        Ok(1)
    });
    (future, started, dropped)
}

#[test]
fn value_and_error_arrive_then_consumed() {
    assert_eq!(lookup(1).result(GENEROUS), Ok("value-1".to_owned()));

    let mut unknown = lookup(0);
    assert_eq!(unknown.result(GENEROUS), Err(Error::Failed("unknown key")));
    assert_eq!(unknown.result(GENEROUS), Err(Error::Consumed));
}

#[test]
fn the_same_async_function_serves_blocking_and_async_callers() {
    let blocking = thread::spawn(|| (lookup(7).result(GENEROUS), lookup(0).result(GENEROUS)));
    assert_eq!(
        blocking.join().unwrap(),
        (Ok("value-7".to_owned()), Err(Error::Failed("unknown key")))
    );

    on_two_executors(|| async {
        assert_eq!(lookup(8).await, Ok("value-8".to_owned()));
        assert_eq!(
            lookup(9).result_async(GENEROUS).await,
            Ok("value-9".to_owned())
        );
        assert_eq!(lookup(0).await, Err(Error::Failed("unknown key")));
    });
}

/// Panics with `message`: the body of a task that fails that way.
fn explode(message: &str) -> Result<u32, TestError> {
    panic!("{message}")
}

#[test]
fn a_panic_gives_panicked_and_the_thread_survives() {
    let mut boom = spawn_async(async {
        Timer::after(Duration::from_millis(1)).await;
        explode("boom after an await")
    });
    assert_eq!(
        boom.result(GENEROUS),
        Err(Error::Panicked("boom after an await".to_owned()))
    );
    assert_eq!(boom.result(GENEROUS), Err(Error::Consumed));

    let mut boom = spawn_async(async { explode("boom in the first poll") });
    on_two_executors(|| async { assert_eq!(lookup(4).await, Ok("value-4".to_owned())) });
    assert_eq!(
        boom.result(GENEROUS),
        Err(Error::Panicked("boom in the first poll".to_owned()))
    );
}

/// Panics when dropped: a cancelled task's future with a broken destructor.
struct PanicOnDrop(mpsc::Sender<()>);

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(()); // the test may have stopped listening
        panic!("panic in a cancelled task's drop");
    }
}

#[test]
fn a_panic_in_the_drop_of_a_cancelled_task_does_not_stop_the_thread() {
    let (started_tx, started) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel();
    let future = spawn_async(async move {
        let _guard = PanicOnDrop(dropped_tx);
        started_tx.send(()).unwrap();
        future::pending::<()>().await;
        Ok::<u32, TestError>(1)
    });
    started.recv_timeout(GENEROUS).unwrap();
    drop(future);
    dropped.recv_timeout(GENEROUS).unwrap();

    assert_eq!(lookup(5).result(GENEROUS), Ok("value-5".to_owned()));
}

#[test]
fn dropping_the_future_drops_the_running_task() {
    let (future, started, dropped) = forever();
    started.recv_timeout(GENEROUS).unwrap();
    assert!(
        dropped.try_recv().is_err(),
        "the task holds its guard while its future is alive"
    );
    drop(future);
    dropped
        .recv_timeout(GENEROUS)
        .expect("dropping the future drops the task's future");
}

#[test]
fn dropping_the_future_at_once_drops_the_task_too() {
    // Whether the task has started or not when the future goes, its future is dropped (the
    // guard is made outside, so that it exists either way).
    let (dropped_tx, dropped) = mpsc::channel();
    let guard = SignalOnDrop(dropped_tx);
    let future = spawn_async(async move {
        let _guard = guard;
        future::pending::<()>().await;
        Ok::<u32, TestError>(1)
    });
    drop(future);
    dropped.recv_timeout(GENEROUS).unwrap();
}

#[test]
fn cancel_drops_the_running_task_and_sticks() {
    let (mut future, started, dropped) = forever();
    started.recv_timeout(GENEROUS).unwrap();
    assert!(future.future().cancel());
    dropped
        .recv_timeout(GENEROUS)
        .expect("cancel drops the task's future");
    assert_eq!(future.result(GENEROUS), Err(Error::Cancelled));
    assert_eq!(future.result(None), Err(Error::Cancelled));
}

#[test]
fn a_task_cancelled_before_it_runs_is_never_polled() {
    // Hold the executor thread in a blocking wait (what the docs warn against) so that the
    // second task cannot start before its future is dropped. Other tests' tasks wait too, for
    // the moment this takes.
    let (release, held) = mpsc::channel::<()>();
    let (holding_tx, holding) = mpsc::channel();
    let mut blocker = spawn_async(async move {
        holding_tx.send(()).unwrap();
        held.recv_timeout(GENEROUS).map_err(|_| "never released")
    });
    holding.recv_timeout(GENEROUS).unwrap();

    let polled = Arc::new(AtomicBool::new(false));
    let (dropped_tx, dropped) = mpsc::channel();
    let guard = SignalOnDrop(dropped_tx);
    let task = spawn_async({
        let polled = Arc::clone(&polled);
        async move {
            let _guard = guard;
            polled.store(true, Ordering::SeqCst);
            Ok::<u32, TestError>(1)
        }
    });
    drop(task);
    release.send(()).unwrap();

    dropped.recv_timeout(GENEROUS).unwrap();
    assert!(!polled.load(Ordering::SeqCst));
    assert_eq!(blocker.result(GENEROUS), Ok(()));
}

#[test]
fn a_timed_out_wait_cancels_nothing() {
    let (gate, opened) = promise::<u32, TestError>();
    let mut future = spawn_async(async move {
        let n = opened.await.map_err(|_| "gate broken")?;
        Ok::<_, TestError>(n * 10)
    });
    assert_eq!(
        future.result(Duration::from_millis(10)),
        Err(Error::Timeout)
    );
    gate.set_result(4);
    assert_eq!(future.result(GENEROUS), Ok(40));

    on_two_executors(|| async {
        let (gate, opened) = promise::<u32, TestError>();
        let mut future = spawn_async(async move {
            let n = opened.await.map_err(|_| "gate broken")?;
            Ok::<_, TestError>(n + 1)
        });
        assert_eq!(
            future.result_async(Duration::from_millis(10)).await,
            Err(Error::Timeout)
        );
        gate.set_result(1);
        assert_eq!(future.await, Ok(2));
    });
}

#[test]
fn many_tasks_wait_at_once_on_the_one_thread() {
    const TASKS: usize = 300;
    let started = Arc::new(AtomicUsize::new(0));
    let (all_started, mut everyone_waits) = promise::<(), TestError>();
    let all_started = Arc::new(Mutex::new(Some(all_started)));
    let mut gates = Vec::new();
    let mut futures = Vec::new();
    for _ in 0..TASKS {
        let (gate, opened) = promise::<usize, TestError>();
        gates.push(gate);
        let started = Arc::clone(&started);
        let all_started = Arc::clone(&all_started);
        futures.push(spawn_async(async move {
            if started.fetch_add(1, Ordering::SeqCst) + 1 == TASKS {
                if let Some(all_started) = all_started.lock().unwrap().take() {
                    all_started.set_result(());
                }
            }
            let n = opened.await.map_err(|_| "gate broken")?;
            let thread = thread::current().name().map(str::to_owned);
            Ok::<_, TestError>((n, thread))
        }));
    }
    // No gate is open yet: once every task has started, all of them wait at the same time.
    assert_eq!(everyone_waits.result(GENEROUS), Ok(()));
    assert_eq!(started.load(Ordering::SeqCst), TASKS);

    for (i, gate) in gates.into_iter().enumerate().rev() {
        gate.set_result(i * 2);
    }
    let outcomes = join_all(futures);
    assert_eq!(outcomes.len(), TASKS);
    for (i, outcome) in outcomes.into_iter().enumerate() {
        let (n, thread) = outcome.unwrap();
        assert_eq!(n, i * 2);
        assert_eq!(thread.as_deref(), Some("apifuture-async"));
    }
}

#[test]
fn blocking_waits_from_plain_threads_while_other_tasks_wait() {
    // Tasks parked on gates keep the executor busy with pending work...
    let mut gates = Vec::new();
    let mut parked = Vec::new();
    for i in 0..20_u32 {
        let (gate, opened) = promise::<(), TestError>();
        gates.push(gate);
        parked.push(spawn_async(async move {
            opened.await.map_err(|_| "gate broken")?;
            Ok::<_, TestError>(i)
        }));
    }
    // ...while plain threads block on new tasks, which complete all the same.
    let waiters: Vec<_> = (1..=4)
        .map(|key| thread::spawn(move || lookup(key).result(GENEROUS)))
        .collect();
    for (key, waiter) in (1..=4).zip(waiters) {
        assert_eq!(waiter.join().unwrap(), Ok(format!("value-{key}")));
    }
    assert!(
        parked.iter().all(|future| !future.done()),
        "the parked tasks still wait on their gates"
    );

    gates.into_iter().for_each(|gate| gate.set_result(()));
    let values: Vec<u32> = join_all(parked).into_iter().map(Result::unwrap).collect();
    assert_eq!(values, (0..20).collect::<Vec<_>>());
}

// ===== a blocking wait on the executor's thread fails at once =====

#[test]
fn a_task_blocking_on_another_tasks_future_gets_would_block_not_a_deadlock() {
    let (open, opened) = promise::<u32, TestError>();
    let mut opened = Some(opened);
    let (result_sent, result_seen) = mpsc::channel();
    // Task 1 blocks (wrongly) on a future that task 2, on the same thread, completes.
    let blocked = spawn_async(async move {
        let mut opened = opened.take().unwrap();
        let waited = opened.result(GENEROUS);
        let _ = result_sent.send(format!("{waited:?}"));
        // Nothing was lost: awaited, the same future gives the value.
        opened.await
    });
    let opener = spawn_async(async move {
        open.set_result(5);
        Ok::<_, TestError>(())
    });
    assert_eq!(
        result_seen.recv_timeout(GENEROUS).unwrap(),
        "Err(WouldBlockExecutor)"
    );
    assert_eq!(join_all(vec![opener]), [Ok(())]);
    let mut blocked = blocked;
    assert_eq!(blocked.result(GENEROUS), Ok(5));
}

#[test]
fn every_blocking_wait_on_the_executor_thread_returns_at_once() {
    let checked = spawn_async(async {
        let (_producer, mut pending) = promise::<u32, TestError>();
        let mut seen = Vec::new();
        seen.push(format!("{:?}", pending.result(None)));
        seen.push(format!("{:?}", pending.result(GENEROUS)));
        seen.push(format!(
            "{:?}",
            pending.result_deadline(std::time::Instant::now() + GENEROUS)
        ));
        let (_kept, another) = promise::<u32, TestError>();
        let mut via_trait = common::ViaTrait::new(another);
        seen.push(format!(
            "{:?}",
            apifuture::ApiFuture::result(&mut via_trait, None)
        ));
        let (_kept_too, third) = promise::<u32, TestError>();
        let mut some = vec![third, apifuture::ready(1)];
        seen.push(format!(
            "{:?}",
            apifuture::wait(&mut some, None, apifuture::ReturnWhen::AllCompleted)
        ));
        seen.push(format!("{:?}", join_all(&mut some)));
        let (_kept_as_well, fourth) = promise::<u32, TestError>();
        let mut completed = apifuture::as_completed(vec![fourth], None);
        seen.push(format!("{:?} {}", completed.next(), completed.timed_out()));
        let (cancelled_producer, _future) = promise::<u32, TestError>();
        seen.push(format!("{}", cancelled_producer.wait_cancelled(None)));
        let policy = apifuture::RetryPolicy::new();
        let (_kept_for_the_retry, fifth) = promise::<u32, TestError>();
        let mut fifth = Some(fifth);
        let mut retried = apifuture::retry(policy, move |_| fifth.take().unwrap());
        seen.push(format!("{:?}", retried.result(None)));
        // A ZERO wait, and a wait on a complete future, work as anywhere.
        seen.push(format!("{:?}", pending.result(Duration::ZERO)));
        seen.push(format!(
            "{:?}",
            apifuture::ready::<u32, TestError>(3).result(None)
        ));
        Ok::<_, TestError>(seen)
    });
    let mut checked = checked;
    let seen = checked.result(GENEROUS).unwrap();
    assert_eq!(
        seen,
        [
            "Err(WouldBlockExecutor)",
            "Err(WouldBlockExecutor)",
            "Err(WouldBlockExecutor)",
            "Err(WouldBlockExecutor)",
            "([1], [0])",
            "[Err(WouldBlockExecutor), Ok(1)]",
            "None true",
            "false",
            "Err(WouldBlockExecutor)",
            "Err(Timeout)",
            "Ok(3)",
        ]
    );
}

#[test]
fn join_all_on_the_executor_thread_keeps_an_outcome_that_came_while_it_looked() {
    use apifuture::{ApiFutureExt, BoxApiFuture, from_future};
    let mut task = spawn_async(async {
        let (first_producer, first) = promise::<u32, TestError>();
        let (middle_producer, middle) = promise::<u32, TestError>();
        let (last_producer, last) = promise::<u32, TestError>();
        let mut middle_producer = Some(middle_producer);
        // Completes `middle` when first polled, after the join looked at it, then never ends.
        let completer = from_future(async move {
            if let Some(producer) = middle_producer.take() {
                producer.set_result(7);
            }
            future::pending::<Result<u32, TestError>>().await
        });
        let futures: Vec<BoxApiFuture<u32, TestError>> = vec![
            first.into_boxed(),
            middle.into_boxed(),
            completer.into_boxed(),
            last.into_boxed(),
        ];
        // It may not park here: the futures still pending get `WouldBlockExecutor`.
        let outcomes = join_all(futures);
        drop((first_producer, last_producer));
        Ok::<_, TestError>(outcomes)
    });
    let outcomes = task.result(GENEROUS).unwrap();
    assert_eq!(
        outcomes,
        [
            Err(Error::WouldBlockExecutor),
            Ok(7),
            Err(Error::WouldBlockExecutor),
            Err(Error::WouldBlockExecutor)
        ]
    );
}
