//! [`spawn`] and the thread pool behind it: the seed's `executor.submit`.
//!
//! The pool starts with no thread. A job goes to an idle worker if there is one and otherwise
//! gets a new thread, up to [`max_threads`] (512 unless [`set_max_threads`] says otherwise);
//! past that, jobs queue. A worker idle for [`keep_alive`] (10 s by default) exits. Workers are
//! named `apifuture-pool` and survive a panicking job.
//!
//! The cap counts the workers that are running a job or idle. A worker parked in a blocking wait of
//! this crate (`result`, `wait`, `join_all`... on any of its futures) does not count, and if jobs
//! are queued when it parks, another thread starts for them. So jobs that wait on jobs they
//! spawned cannot deadlock at the cap, at any depth: a chain of 50 nested waits under a cap of
//! one runs on 51 threads, 50 of them parked. The pool then holds more threads than the cap, at
//! most one more per parked wait; they exit once the waits are over and the queue is empty. A
//! job that blocks some other way (a `std` channel, a mutex, a socket) still counts.
//!
//! The pool is hand-written on `std` (a mutex, a condition variable and a queue): `blocking`
//! keeps idle threads forever in its current release, `threadpool` is unmaintained and does not
//! grow, and `rayon` aborts on a panicking job and is built for CPU work, not for threads that
//! block on I/O.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::core::awaitable::AwaitableConcurrentFuture;
use crate::core::promise::promise;
use crate::error::Error;
use crate::panic::{caught, guarded};
use crate::sync::unpoisoned;
use crate::timeout;

/// How many workers may run jobs at once unless [`set_max_threads`] changes it.
pub const DEFAULT_MAX_THREADS: usize = 512;

/// How long an idle worker waits for a job before it exits unless [`set_keep_alive`] changes it.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    ledger: Mutex<Ledger>,
    work: Condvar,
}

/// The pool's books: its queue of jobs and its counts of workers.
struct Ledger {
    queue: VecDeque<Job>,
    /// Workers alive.
    threads: usize,
    /// Workers waiting for a job (they still count as waiting until they hold the lock again).
    idle: usize,
    /// Workers parked in a blocking wait of this crate: not counted against `max_threads`.
    parked: usize,
    max_threads: usize,
    keep_alive: Duration,
}

impl Ledger {
    /// Workers running a job or idle: the ones the cap counts.
    fn running(&self) -> usize {
        debug_assert!(
            self.parked <= self.threads,
            "more parked workers than workers"
        );
        self.threads.saturating_sub(self.parked)
    }
}

static POOL: Pool = Pool {
    ledger: Mutex::new(Ledger {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
        parked: 0,
        max_threads: DEFAULT_MAX_THREADS,
        keep_alive: DEFAULT_KEEP_ALIVE,
    }),
    work: Condvar::new(),
};

/// Runs `f` on the crate's thread pool and returns its future. Outcomes of the future:
/// - `Ok(value)` or `Err(Error::Failed(e))`: what `f` returned;
/// - `Err(Error::Panicked(message))`: `f` panicked (the worker thread survives);
/// - `Err(Error::Cancelled)`: the future was cancelled; if that happened before a worker picked
///   the job up, `f` never runs. Dropping the future before the job starts skips it as well.
///
/// `f` may block, also on other spawned futures: the pool grows (up to [`max_threads`] running
/// jobs, plus one thread for each worker parked in a wait of this crate) rather than queue a
/// job behind a blocked one.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{spawn, ApiFuture, Error};
///
/// let mut sum = spawn(|| Ok::<_, &str>((1..=10).sum::<u32>()));
/// assert_eq!(sum.result(Duration::from_secs(30)).unwrap(), 55);
///
/// let mut boom = spawn(|| -> Result<u32, &str> { panic!("boom") });
/// assert_eq!(boom.result(None), Err(Error::Panicked("boom".to_string())));
/// ```
pub fn spawn<T, E, F>(f: F) -> AwaitableConcurrentFuture<T, E>
where
    F: FnOnce() -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (promise, future) = promise();
    POOL.execute(Box::new(move || {
        if promise.is_cancelled() {
            return;
        }
        promise.send(guarded(f).and_then(|outcome| outcome.map_err(Error::Failed)));
    }));
    future
}

/// Sets how many workers may run jobs at once (at least 1; 0 is taken as 1). Jobs queued
/// behind a lower bound start at once under a raised one; threads above a lowered bound finish
/// the job they run, then exit. This bounds running jobs, not threads: a
/// worker parked in a blocking wait of this crate is not counted (see the [module docs](self)),
/// so 10,000 jobs that each wait on an outside promise hold 10,000 threads whatever the cap.
/// Jobs that wait on each other cannot deadlock at the cap; the price is a thread per waiting
/// job.
///
/// ```
/// apifuture::pool::set_max_threads(64);
/// assert_eq!(apifuture::pool::max_threads(), 64);
/// # apifuture::pool::set_max_threads(apifuture::pool::DEFAULT_MAX_THREADS);
/// ```
pub fn set_max_threads(max: usize) {
    let mut ledger = unpoisoned(POOL.ledger.lock());
    ledger.max_threads = max.max(1);
    // Jobs queued behind a lower bound, more than the idle workers will take, get workers up to
    // the new one; idle workers re-check it.
    let free = ledger.max_threads.saturating_sub(ledger.running());
    let wanted = ledger.queue.len().saturating_sub(ledger.idle).min(free);
    drop(ledger);
    POOL.work.notify_all();
    for _ in 0..wanted {
        POOL.start_worker(unpoisoned(POOL.ledger.lock()));
    }
}

/// How many workers may run jobs at once (parked ones aside).
///
/// ```
/// assert!(apifuture::pool::max_threads() >= 1);
/// ```
pub fn max_threads() -> usize {
    unpoisoned(POOL.ledger.lock()).max_threads
}

/// Sets how long an idle worker waits for a job before it exits. Idle workers start their
/// wait over with the new value.
///
/// ```
/// use std::time::Duration;
/// apifuture::pool::set_keep_alive(Duration::from_secs(30));
/// assert_eq!(apifuture::pool::keep_alive(), Duration::from_secs(30));
/// # apifuture::pool::set_keep_alive(apifuture::pool::DEFAULT_KEEP_ALIVE);
/// ```
pub fn set_keep_alive(keep_alive: Duration) {
    unpoisoned(POOL.ledger.lock()).keep_alive = keep_alive;
    POOL.work.notify_all();
}

/// How long an idle worker waits for a job before it exits.
///
/// ```
/// assert!(apifuture::pool::keep_alive() > std::time::Duration::ZERO);
/// ```
pub fn keep_alive() -> Duration {
    unpoisoned(POOL.ledger.lock()).keep_alive
}

/// How many worker threads are alive now (busy or idle).
///
/// ```
/// use apifuture::{spawn, ApiFuture};
/// spawn(|| Ok::<_, std::io::Error>(())).result(None).unwrap();
/// assert!(apifuture::pool::thread_count() >= 1);
/// ```
pub fn thread_count() -> usize {
    unpoisoned(POOL.ledger.lock()).threads
}

impl Pool {
    fn execute(&'static self, job: Job) {
        let mut ledger = unpoisoned(self.ledger.lock());
        ledger.queue.push_back(job);
        if ledger.queue.len() <= ledger.idle || ledger.running() >= ledger.max_threads {
            // An idle worker takes it, or it waits for one to be free.
            self.work.notify_one();
            return;
        }
        self.start_worker(ledger);
    }

    /// Starts one more worker, counted in `ledger` before the lock is let go.
    fn start_worker(&'static self, mut ledger: MutexGuard<'_, Ledger>) {
        ledger.threads += 1;
        drop(ledger);
        let spawned = thread::Builder::new()
            .name("apifuture-pool".to_owned())
            .spawn(move || {
                timeout::on_park(Some(Pool::worker_parks));
                self.work_loop();
                // No longer counted in `threads`: a wait in a thread-local destructor after
                // this must not count as a parked worker.
                timeout::on_park(None);
            });
        if spawned.is_err() {
            // The system is out of threads. The jobs wait for a worker that exists; with none
            // at all, they run here rather than never.
            let mut ledger = unpoisoned(self.ledger.lock());
            ledger.threads -= 1;
            if ledger.threads == 0 {
                let jobs: Vec<Job> = ledger.queue.drain(..).collect();
                drop(ledger);
                jobs.into_iter().for_each(execute);
            }
        }
    }

    /// A worker's blocking wait parks (`true`) or resumes (`false`).
    fn worker_parks(parks: bool) {
        let mut ledger = unpoisoned(POOL.ledger.lock());
        if !parks {
            ledger.parked = ledger.parked.saturating_sub(1);
            return;
        }
        ledger.parked += 1;
        // The wait may be for a queued job: that job must not wait for this worker.
        if ledger.queue.len() > ledger.idle && ledger.running() < ledger.max_threads {
            POOL.start_worker(ledger);
        }
    }

    fn work_loop(&'static self) {
        let mut ledger = unpoisoned(self.ledger.lock());
        loop {
            // Workers whose waits are over may put the pool past its cap: the first to find
            // itself in excess between jobs leaves.
            if ledger.running() > ledger.max_threads {
                break;
            }
            if let Some(job) = ledger.queue.pop_front() {
                drop(ledger);
                execute(job);
                ledger = unpoisoned(self.ledger.lock());
                continue;
            }
            ledger.idle += 1;
            let keep_alive = ledger.keep_alive;
            let (guard, waited) = unpoisoned(self.work.wait_timeout(ledger, keep_alive));
            ledger = guard;
            ledger.idle -= 1;
            if waited.timed_out() && ledger.queue.is_empty() {
                break;
            }
        }
        ledger.threads -= 1;
        // Leaving in excess, this worker may have been woken for a queued job: another takes it.
        if !ledger.queue.is_empty() {
            self.work.notify_one();
        }
    }
}

/// Runs one job; a panic escaping it (a value whose `Drop` panics, say) must not kill the worker.
fn execute(job: Job) {
    let _ = caught(job);
}
