//! `spawn` and its thread pool. The pool is global to the process and some tests change its
//! settings, so the tests here take turns.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, AwaitableConcurrentFuture, Error, pool, spawn};
use common::TestError;

static TURN: Mutex<()> = Mutex::new(());

/// Takes this test's turn and restores the default settings when it ends.
struct Turn(#[allow(dead_code)] MutexGuard<'static, ()>);

fn turn() -> Turn {
    let guard = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Turn(guard)
}

impl Drop for Turn {
    fn drop(&mut self) {
        // Under Miri, no thread may outlive the tests.
        common::retire_pool_threads();
        pool::set_max_threads(pool::DEFAULT_MAX_THREADS);
        pool::set_keep_alive(pool::DEFAULT_KEEP_ALIVE);
    }
}

const LONG: Duration = Duration::from_secs(30);

#[test]
fn spawn_runs_the_closure_on_a_named_pool_thread() {
    let _turn = turn();
    let mut name = spawn(|| Ok::<_, TestError>(thread::current().name().map(str::to_owned)));
    assert_eq!(name.result(LONG), Ok(Some("apifuture-pool".to_owned())));
    let mut failed = spawn(|| Err::<u32, _>("nope"));
    assert_eq!(failed.result(LONG), Err(Error::Failed("nope")));
}

#[test]
fn a_panicking_closure_gives_panicked_and_the_thread_survives() {
    let _turn = turn();
    pool::set_max_threads(1);
    let mut first = spawn(|| -> Result<thread::ThreadId, TestError> { panic!("first {}", 1) });
    assert_eq!(
        first.result(LONG),
        Err(Error::Panicked("first 1".to_owned()))
    );
    let mut payload = spawn(|| -> Result<u32, TestError> { std::panic::panic_any(17_u8) });
    assert!(matches!(payload.result(LONG), Err(Error::Panicked(_))));
    let mut id1 = spawn(|| Ok::<_, TestError>(thread::current().id()));
    let mut id2 = spawn(|| Ok::<_, TestError>(thread::current().id()));
    let (id1, id2) = (id1.result(LONG).unwrap(), id2.result(LONG).unwrap());
    assert_eq!(
        id1, id2,
        "with one thread allowed, the thread that saw panics runs the rest"
    );
    assert_eq!(pool::thread_count(), 1);
}

#[test]
fn jobs_that_block_on_other_spawned_jobs_do_not_deadlock() {
    let _turn = turn();
    // A chain: each job spawns the next and blocks on it. A fixed-size pool smaller than the
    // chain would deadlock; this one grows.
    fn chain(depth: u32) -> AwaitableConcurrentFuture<u32, TestError> {
        spawn(move || {
            if depth == 0 {
                return Ok(0);
            }
            chain(depth - 1)
                .result(None)
                .map(|below| below + 1)
                .map_err(|_| "lost")
        })
    }
    assert_eq!(chain(64).result(LONG), Ok(64));
}

#[test]
fn the_pool_never_runs_more_threads_than_allowed() {
    let _turn = turn();
    pool::set_max_threads(2);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let mut jobs: Vec<_> = (0..8)
        .map(|i| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            spawn(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<_, TestError>(i)
            })
        })
        .collect();
    for (i, job) in jobs.iter_mut().enumerate() {
        assert_eq!(job.result(LONG), Ok(i));
    }
    assert!(most.load(Ordering::SeqCst) <= 2);
    assert!(pool::thread_count() <= 2);
}

#[test]
fn zero_max_threads_means_one() {
    let _turn = turn();
    pool::set_max_threads(0);
    assert_eq!(pool::max_threads(), 1);
    assert_eq!(spawn(|| Ok::<_, TestError>(5)).result(LONG), Ok(5));
}

#[test]
fn idle_threads_retire() {
    let _turn = turn();
    pool::set_keep_alive(Duration::from_millis(20));
    let (go, wait_for_go) = std::sync::mpsc::channel::<()>();
    let wait_for_go = Arc::new(Mutex::new(wait_for_go));
    let mut jobs: Vec<_> = (0..4)
        .map(|_| {
            let wait_for_go = Arc::clone(&wait_for_go);
            spawn(move || {
                let _ = wait_for_go.lock().unwrap().recv();
                Ok::<_, TestError>(())
            })
        })
        .collect();
    // While the jobs run, their threads are alive, however slow the machine.
    assert!(pool::thread_count() >= 1);
    for _ in 0..4 {
        go.send(()).unwrap();
    }
    for job in &mut jobs {
        job.result(LONG).unwrap();
    }
    let started = Instant::now();
    while pool::thread_count() > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "idle threads never retired"
        );
        thread::sleep(Duration::from_millis(10));
    }
    // And the pool starts threads again afterwards.
    assert_eq!(spawn(|| Ok::<_, TestError>(1)).result(LONG), Ok(1));
}

#[test]
fn a_spawned_job_cancelled_or_dropped_before_it_starts_is_skipped() {
    let _turn = turn();
    // Hold the only thread with a job that waits for a signal, so the next jobs queue.
    pool::set_max_threads(1);
    let release = Arc::new(AtomicBool::new(false));
    let mut blocker = {
        let release = Arc::clone(&release);
        spawn(move || {
            while !release.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok::<_, TestError>(())
        })
    };
    let ran = Arc::new(AtomicUsize::new(0));
    let job = || {
        let ran = Arc::clone(&ran);
        spawn(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            Ok::<_, TestError>(())
        })
    };
    let mut cancelled = job();
    let dropped = job();
    assert!(cancelled.future().cancel());
    drop(dropped);
    release.store(true, Ordering::SeqCst);
    assert_eq!(blocker.result(LONG), Ok(()));
    // Runs on the same single thread, after the skipped jobs left the queue.
    assert_eq!(job().result(LONG), Ok(()));
    assert_eq!(
        ran.load(Ordering::SeqCst),
        1,
        "only the last job may have run"
    );
    assert_eq!(cancelled.result(None), Err(Error::Cancelled));
}

#[test]
fn raising_the_cap_starts_the_jobs_queued_behind_it() {
    let _turn = turn();
    pool::set_max_threads(1);
    // The one worker runs a job that waits outside the crate (so it is not a parked worker):
    // the next job queues behind it.
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let mut holding = spawn(move || {
        gate.recv().unwrap();
        Ok::<_, TestError>(1)
    });
    let mut queued = spawn(|| Ok::<_, TestError>(2));
    assert_eq!(
        queued.result(Duration::from_millis(20)),
        Err(Error::Timeout)
    );
    pool::set_max_threads(2);
    assert_eq!(queued.result(LONG), Ok(2));
    release.send(()).unwrap();
    assert_eq!(holding.result(LONG), Ok(1));
}

/// Polls `condition` for up to 30 s.
fn eventually(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < LONG, "never: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn a_job_for_an_idle_worker_runs_while_a_resumed_wait_puts_the_pool_over_its_cap() {
    let _turn = turn();
    pool::set_keep_alive(Duration::from_millis(1));
    eventually("the earlier tests' workers retire", || {
        pool::thread_count() == 0
    });
    pool::set_keep_alive(Duration::from_secs(120));
    pool::set_max_threads(2);
    // A parks in a wait of this crate, so two more workers start for B and C.
    let (producer, mut awaited) = apifuture::promise::<u32, TestError>();
    let (resumed, has_resumed) = std::sync::mpsc::channel::<()>();
    let (release_a, gate_a) = std::sync::mpsc::channel::<()>();
    let mut a = spawn(move || {
        let value = awaited.result(None);
        resumed.send(()).unwrap();
        gate_a.recv().unwrap();
        value
    });
    let (release_b, gate_b) = std::sync::mpsc::channel::<u32>();
    let (release_c, gate_c) = std::sync::mpsc::channel::<u32>();
    let mut b = spawn(move || Ok::<_, TestError>(gate_b.recv().unwrap()));
    let mut c = spawn(move || Ok::<_, TestError>(gate_c.recv().unwrap()));
    eventually("A parks and B and C run", || pool::thread_count() == 3);
    release_b.send(2).unwrap();
    release_c.send(3).unwrap();
    assert_eq!((b.result(LONG), c.result(LONG)), (Ok(2), Ok(3)));
    // B's and C's workers go idle; A resumes and runs on: three workers under a cap of two.
    thread::sleep(Duration::from_millis(50));
    producer.set_result(1);
    has_resumed.recv_timeout(LONG).unwrap();
    // The idle worker woken for D leaves, the pool being over its cap: the other must run D.
    let mut d = spawn(|| Ok::<_, TestError>(4));
    assert_eq!(d.result(LONG), Ok(4));
    release_a.send(()).unwrap();
    assert_eq!(a.result(LONG), Ok(1));
}
