//! Jobs that wait on jobs they spawned, at any thread cap: chains and trees of nested blocking
//! waits, with `background()` and async waiters mixed in, never deadlock, and every value is
//! dropped once. The pool is global to the process and these tests change its cap, so they take
//! turns; each runs under a watchdog, so a deadlock fails the test instead of hanging it.

mod common;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, RetryPolicy, failed, from_future, join_all,
    pool, promise, ready, retry, spawn,
};
use common::{DropCounter, TestError, Tracked, iterations};

type Job = AwaitableConcurrentFuture<Tracked, TestError>;

static TURN: Mutex<()> = Mutex::new(());

/// Runs `test` with the pool capped at `cap` threads, failing if it takes longer than a
/// deadlock-free run ever could, and restores the default cap.
fn with_cap(cap: usize, test: impl FnOnce() + Send + 'static) {
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    pool::set_max_threads(cap);
    let (done, finished) = mpsc::channel();
    let runner = thread::spawn(move || {
        test();
        let _ = done.send(());
    });
    let outcome = finished.recv_timeout(Duration::from_secs(120));
    pool::set_max_threads(pool::DEFAULT_MAX_THREADS);
    match outcome {
        Ok(()) => runner.join().unwrap(),
        // The test panicked: show its message.
        Err(mpsc::RecvTimeoutError::Disconnected) => runner.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("deadlock at a cap of {cap}"),
    }
    common::retire_pool_threads();
}

/// A job that spawns the next link and blocks on it, `depth` links deep; the last one makes
/// the value.
fn chain(counter: Arc<DropCounter>, depth: u64) -> Job {
    spawn(move || {
        if depth == 0 {
            return Ok(counter.track(0));
        }
        let mut next = chain(Arc::clone(&counter), depth - 1);
        let inner = next.result(None).map_err(|_| "a link failed")?;
        Ok(counter.track(inner.value + 1))
    })
}

/// A job that spawns `fan_out` children, blocks until all are done, and sums their values.
fn tree(counter: Arc<DropCounter>, depth: u32, fan_out: u32) -> Job {
    spawn(move || {
        if depth == 0 {
            return Ok(counter.track(1));
        }
        let children: Vec<Job> = (0..fan_out)
            .map(|_| tree(Arc::clone(&counter), depth - 1, fan_out))
            .collect();
        let mut sum = 0;
        for value in join_all(children) {
            sum += value.map_err(|_| "a child failed")?.value;
        }
        Ok(counter.track(sum))
    })
}

#[test]
fn two_parents_each_waiting_on_a_child_at_a_cap_of_two() {
    // The audit's hang: both threads of the pool wait on children queued behind them.
    with_cap(2, || {
        let counter = DropCounter::new();
        let parents: Vec<Job> = (0..2).map(|_| chain(Arc::clone(&counter), 1)).collect();
        for mut parent in parents {
            assert_eq!(parent.result(None).unwrap().value, 1);
        }
        counter.assert_all_dropped();
    });
}

#[test]
fn a_chain_of_nested_waits_at_caps_of_one_and_two() {
    let depth = iterations(50, 4) as u64;
    for cap in [1, 2] {
        with_cap(cap, move || {
            let counter = DropCounter::new();
            assert_eq!(
                chain(Arc::clone(&counter), depth)
                    .result(None)
                    .unwrap()
                    .value,
                depth
            );
            counter.assert_all_dropped();
            assert_eq!(counter.created(), depth as usize + 1);
        });
    }
}

#[test]
fn a_tree_of_nested_waits_at_caps_of_one_and_two() {
    // Fan-out 4: 4^depth leaves, each internal job waiting on its four children at once.
    let depth = iterations(4, 2) as u32;
    for cap in [1, 2] {
        with_cap(cap, move || {
            let counter = DropCounter::new();
            let leaves = 4u64.pow(depth);
            assert_eq!(
                tree(Arc::clone(&counter), depth, 4)
                    .result(None)
                    .unwrap()
                    .value,
                leaves
            );
            counter.assert_all_dropped();
        });
    }
}

#[test]
fn a_chain_deeper_than_the_default_cap() {
    // 520 nested waits hung with 512 threads alive before; the cap now counts running threads.
    if cfg!(miri) {
        return; // 520 threads are too many for Miri; the chains above cover the logic.
    }
    with_cap(pool::DEFAULT_MAX_THREADS, || {
        let counter = DropCounter::new();
        assert_eq!(
            chain(Arc::clone(&counter), 520).result(None).unwrap().value,
            520
        );
        counter.assert_all_dropped();
    });
}

#[test]
#[cfg_attr(miri, ignore = "async-io's reactor needs timerfd, which Miri lacks")]
fn nested_waits_through_background_and_async_waiters() {
    let depth = iterations(10, 2) as u64;
    with_cap(1, move || {
        let counter = DropCounter::new();
        // A pool job blocks on a background future whose async body awaits a spawned chain:
        // the chain's jobs queue behind the blocked one.
        let outer = {
            let counter = Arc::clone(&counter);
            spawn(move || {
                let inner = from_future(async move {
                    let tracked = chain(Arc::clone(&counter), depth).await;
                    tracked.map_err(|_| "the chain failed")
                });
                let mut background = inner.background();
                let value = background.result(None).map_err(|_| "background failed")?;
                Ok::<_, TestError>(value)
            })
        };
        // And an async waiter on the test thread awaits a second chain meanwhile.
        let second = chain(Arc::clone(&counter), depth);
        let (first, second) = futures_lite::future::block_on(async move {
            futures_lite::future::zip(outer, second).await
        });
        assert_eq!(first.unwrap().value, depth);
        assert_eq!(second.unwrap().value, depth);
        counter.assert_all_dropped();
    });
}

#[test]
fn the_pool_goes_back_under_its_cap_when_the_waits_are_over() {
    if cfg!(miri) {
        return; // Waits for the keep-alive with real time.
    }
    with_cap(1, || {
        pool::set_keep_alive(Duration::from_millis(50));
        let counter = DropCounter::new();
        assert_eq!(
            chain(Arc::clone(&counter), 20).result(None).unwrap().value,
            20
        );
        // The extra workers leave between jobs or when idle past the keep-alive.
        let mut waited = Duration::ZERO;
        while pool::thread_count() > 1 && waited < Duration::from_secs(30) {
            thread::sleep(Duration::from_millis(10));
            waited += Duration::from_millis(10);
        }
        assert!(
            pool::thread_count() <= 1,
            "{} threads",
            pool::thread_count()
        );
        pool::set_keep_alive(pool::DEFAULT_KEEP_ALIVE);
        counter.assert_all_dropped();
    });
}

#[test]
fn a_wait_nested_in_the_polls_of_another_counts_its_worker_once() {
    // A worker blocks on a retry whose second attempt is made by that wait's own polls (after
    // the first fails and the backoff is slept), and the attempt closure blocks again on a
    // spawned chain: two waits nested on one worker. It must be counted as parked once, or the
    // pool's counts break (a debug assertion) and later jobs find no thread at a cap of one.
    let depth = iterations(5, 2) as u64;
    with_cap(1, move || {
        // Miscounted, the chain's jobs queue with no worker until an idle one's keep-alive
        // ends: a long keep-alive turns that stall into the watchdog's failure.
        pool::set_keep_alive(Duration::from_secs(600));
        let counter = DropCounter::new();
        let seen = Arc::clone(&counter);
        let mut outer = spawn(move || {
            let inner = Arc::clone(&seen);
            let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
            let mut retried = retry(policy, move |attempt| {
                if attempt == 1 {
                    return failed("try again");
                }
                // First a wait on an outside producer (nothing else in the pool), then on a
                // spawned chain.
                let (producer, outside) = promise::<u64, TestError>();
                let feeder = thread::spawn(move || producer.set_result(1));
                let mut outside = outside;
                let one = outside.result(None).unwrap_or(0);
                let _ = feeder.join();
                match chain(Arc::clone(&inner), depth).result(None) {
                    Ok(tracked) => ready(tracked.value + one),
                    Err(_) => failed("a link failed"),
                }
            });
            let value = retried.result(None).map_err(|_| "the retry failed")?;
            Ok::<_, TestError>(seen.track(value + 1))
        });
        assert_eq!(outer.result(None).unwrap().value, depth + 2);
        // The counts are whole: a fresh job runs.
        assert_eq!(
            chain(Arc::clone(&counter), 1).result(None).unwrap().value,
            1
        );
        pool::set_keep_alive(pool::DEFAULT_KEEP_ALIVE);
        counter.assert_all_dropped();
    });
}
