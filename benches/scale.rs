//! How much memory and time a million pending timed async waits cost, ours against the
//! hand-rolled alternative.
//!
//! ```text
//! cargo bench -p apifuture-benches --bench scale [-- COUNT]   # COUNT defaults to 1_000_000
//! ```
//!
//! Each future gets its own smol task that waits for it with a 30 s timeout. Once every wait is
//! really pending (its timer registered), it reads the process's resident memory, then
//! a producer thread completes all the futures and it times how long until every task has its
//! value. It does this for COUNT / 10 and COUNT futures and for two contenders:
//!
//! - `ours`: `apifuture::promise()`, waited on with `result_async(30 s)`;
//! - `hand-rolled`: `futures::channel::oneshot` raced against an `async_io::Timer`, which is
//!   what one writes without this crate.
//!
//! The bytes per future are the growth of the resident set divided by the count, so they hold
//! everything the process keeps for one waiting future: the task, the executor's entry for it,
//! the reactor's timer entry, the channel and its waker registration, and the producing end in
//! the producer's `Vec` (a producer has to keep it somewhere). The harness itself keeps nothing
//! per task.
//!
//! Linux only for the memory figure (it reads `VmRSS` from `/proc/self/status`); elsewhere the
//! bytes per future print as 0.

use std::env;
use std::process::{self, Command};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use apifuture::{ApiFuture, BoxError};
use async_io::Timer;
use smol::Executor;

const TIMEOUT: Duration = Duration::from_secs(30);
const TARGET_BYTES: f64 = 450.0;
/// How much slower per future the large run may be than the small one and still count as
/// linear: generous, because the machine may be busy and a larger heap costs more cache misses.
const LINEAR_SLACK: f64 = 2.0;
/// Below this, a phase of the small run is mostly thread wake-ups and scheduling noise, and
/// comparing its time per future with the large run's says nothing about linearity.
const MIN_TIMED: Duration = Duration::from_millis(20);
/// The child's output line that the parent parses; everything else the child prints is noise.
const RESULT_TAG: &str = "SCALE-RESULT";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contender {
    Ours,
    HandRolled,
}

impl Contender {
    // The hand-rolled one runs first at each size so that, read top to bottom, the table shows
    // the baseline before what is compared with it.
    const ALL: [Contender; 2] = [Contender::HandRolled, Contender::Ours];

    fn name(self) -> &'static str {
        match self {
            Contender::Ours => "ours",
            Contender::HandRolled => "hand-rolled",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Contender::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// One (contender, count) run, as the child reports it.
#[derive(Clone, Copy, Debug)]
struct Measurement {
    contender: Contender,
    count: usize,
    bytes_per_future: f64,
    setup: Duration,
    complete: Duration,
}

impl Measurement {
    fn setup_ns_per_future(&self) -> f64 {
        self.setup.as_nanos() as f64 / self.count as f64
    }

    fn complete_ns_per_future(&self) -> f64 {
        self.complete.as_nanos() as f64 / self.count as f64
    }
}

fn main() {
    // `cargo bench` passes `--bench`; it means nothing here.
    let args: Vec<String> = env::args().skip(1).filter(|arg| arg != "--bench").collect();
    match args.as_slice() {
        [flag, contender, count] if flag == "--child" => {
            let contender = Contender::from_name(contender).unwrap_or_else(|| usage());
            child(contender, parse_count(count));
        }
        [] => parent(1_000_000),
        [count] => parent(parse_count(count)),
        _ => usage(),
    }
}

fn parse_count(text: &str) -> usize {
    match text.replace('_', "").parse::<usize>() {
        Ok(count) if count > 0 => count,
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: scale [COUNT]   (COUNT > 0, default 1_000_000; runs COUNT/10 and COUNT)");
    process::exit(2);
}

/// Runs every (contender, size) in a fresh process of this same binary, prints the table and
/// the targets.
///
/// A fresh process per measurement because freed heap memory mostly stays resident: a second
/// measurement in the same process would reuse what the first freed and look cheaper than it
/// is, and the order of the contenders would decide the winner.
fn parent(count: usize) {
    let exe = env::current_exe().unwrap_or_else(|e| fail(&format!("current_exe: {e}")));
    let sizes = [(count / 10).max(1), count];
    println!(
        "{} and {} pending {}s-timeout async waits, each in its own smol task; \
         B/future = VmRSS growth / count",
        sizes[0],
        sizes[1],
        TIMEOUT.as_secs()
    );
    println!(
        "{:<12} {:>9} {:>9} {:>10} {:>10} {:>12} {:>10}",
        "contender", "count", "B/future", "setup ms", "setup ns/f", "complete ms", "compl ns/f"
    );
    let mut results = Vec::new();
    for size in sizes {
        for contender in Contender::ALL {
            let m = run_child(&exe, contender, size);
            println!(
                "{:<12} {:>9} {:>9.1} {:>10.1} {:>10.0} {:>12.1} {:>10.0}",
                contender.name(),
                size,
                m.bytes_per_future,
                m.setup.as_secs_f64() * 1e3,
                m.setup_ns_per_future(),
                m.complete.as_secs_f64() * 1e3,
                m.complete_ns_per_future(),
            );
            results.push(m);
        }
    }
    println!();
    report_targets(&results, sizes);
}

fn run_child(exe: &std::path::Path, contender: Contender, count: usize) -> Measurement {
    let output = Command::new(exe)
        .args(["--child", contender.name(), &count.to_string()])
        .output()
        .unwrap_or_else(|e| fail(&format!("cannot run {}: {e}", exe.display())));
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        eprint!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
        fail(&format!(
            "{} with {count} futures failed: {}",
            contender.name(),
            output.status
        ));
    }
    let fields: Vec<&str> = stdout
        .lines()
        .find_map(|line| line.strip_prefix(RESULT_TAG))
        .unwrap_or_else(|| fail(&format!("no result from the child: {stdout}")))
        .split_whitespace()
        .collect();
    let number = |i: usize| -> f64 {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .unwrap_or_else(|| fail(&format!("malformed child result: {stdout}")))
    };
    Measurement {
        contender,
        count,
        bytes_per_future: number(0),
        setup: Duration::from_nanos(number(1) as u64),
        complete: Duration::from_nanos(number(2) as u64),
    }
}

/// The issue's targets, as PASS/MISS lines. Informational: a miss does not fail the run (timing
/// on a shared machine is too noisy for that); only a task without its value does.
fn report_targets(results: &[Measurement], [small, large]: [usize; 2]) {
    let find = |contender, count| {
        results
            .iter()
            .find(|m| m.contender == contender && m.count == count)
            .copied()
            .unwrap_or_else(|| fail("missing measurement"))
    };
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let ours = find(Contender::Ours, large);
    let theirs = find(Contender::HandRolled, large);

    println!(
        "{} ours <= {TARGET_BYTES} B per future at {large}: {:.1} B",
        verdict(ours.bytes_per_future <= TARGET_BYTES),
        ours.bytes_per_future
    );
    println!(
        "{} ours <= hand-rolled in B per future at {large}: {:.1} B vs {:.1} B",
        verdict(ours.bytes_per_future <= theirs.bytes_per_future),
        ours.bytes_per_future,
        theirs.bytes_per_future
    );
    for contender in Contender::ALL {
        let (s, l) = (find(contender, small), find(contender, large));
        for (phase, small_time, at_small, at_large) in [
            (
                "setup",
                s.setup,
                s.setup_ns_per_future(),
                l.setup_ns_per_future(),
            ),
            (
                "complete",
                s.complete,
                s.complete_ns_per_future(),
                l.complete_ns_per_future(),
            ),
        ] {
            let too_short = small_time < MIN_TIMED;
            let verdict = if too_short {
                "SKIP"
            } else {
                verdict(at_large <= LINEAR_SLACK * at_small)
            };
            println!(
                "{verdict} {} {phase} linear (ns/future at {large} <= {LINEAR_SLACK}x at {small}): \
                 {at_large:.0} vs {at_small:.0}{}",
                contender.name(),
                if too_short {
                    format!(" (at {small} it took {small_time:.1?}, too short to time)")
                } else {
                    String::new()
                },
            );
        }
    }
}

fn fail(message: &str) -> ! {
    eprintln!("scale: {message}");
    process::exit(1);
}

/// What the tasks report to the measuring thread.
///
/// A static rather than an `Arc` handed to each task, and a sum of the values rather than each
/// task's expected value: anything a task holds for the harness would be counted as the
/// future's own memory.
struct Tally {
    count: AtomicUsize,
    /// Tasks that have started, that is, are in their first poll or past it.
    started: AtomicUsize,
    /// Tasks that have finished, with or without their value.
    finished: AtomicUsize,
    /// Tasks that finished with a value, and the sum of those values: with values
    /// `0..count`, both match only if every task got a value and none came twice.
    received: AtomicUsize,
    sum: AtomicU64,
    lock: Mutex<()>,
    changed: Condvar,
}

static TALLY: Tally = Tally {
    count: AtomicUsize::new(0),
    started: AtomicUsize::new(0),
    finished: AtomicUsize::new(0),
    received: AtomicUsize::new(0),
    sum: AtomicU64::new(0),
    lock: Mutex::new(()),
    changed: Condvar::new(),
};

impl Tally {
    /// Starts a round of `count` tasks; none of the previous round's may still be running.
    fn reset(&self, count: usize) {
        self.count.store(count, Ordering::Release);
        for counter in [&self.started, &self.finished, &self.received] {
            counter.store(0, Ordering::Release);
        }
        self.sum.store(0, Ordering::Release);
    }

    fn started(&self) {
        self.bump(&self.started);
    }

    fn finished(&self, value: Option<u64>) {
        if let Some(value) = value {
            self.sum.fetch_add(value, Ordering::AcqRel);
            self.received.fetch_add(1, Ordering::AcqRel);
        }
        self.bump(&self.finished);
    }

    /// Counts one task, and wakes the measuring thread when it was the last.
    fn bump(&self, counter: &AtomicUsize) {
        if counter.fetch_add(1, Ordering::AcqRel) + 1 == self.count.load(Ordering::Acquire) {
            // Taking the lock orders this notification after the waiter's check of the counter.
            let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
            self.changed.notify_all();
        }
    }

    /// Blocks until every task of the round has passed `counter`.
    fn wait_all(&self, counter: &AtomicUsize, what: &str) {
        let count = self.count.load(Ordering::Acquire);
        let guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        // Far past TIMEOUT: by then every task would have timed out and reported.
        let (_guard, waited) = self
            .changed
            .wait_timeout_while(guard, TIMEOUT * 4, |_| {
                counter.load(Ordering::Acquire) < count
            })
            .unwrap_or_else(|e| e.into_inner());
        if waited.timed_out() {
            fail(&format!(
                "only {} of {count} tasks {what}",
                counter.load(Ordering::Acquire)
            ));
        }
    }

    /// Whether every task of the round got its value.
    fn all_received(&self) -> bool {
        let count = self.count.load(Ordering::Acquire) as u64;
        self.received.load(Ordering::Acquire) as u64 == count
            && self.sum.load(Ordering::Acquire) == count * count.saturating_sub(1) / 2
    }
}

/// Either contender's producing end, kept by the producer thread until it completes them.
enum Producers {
    Ours(Vec<apifuture::Promise<u64, BoxError>>),
    HandRolled(Vec<futures::channel::oneshot::Sender<u64>>),
}

impl Producers {
    fn complete_all(self) {
        match self {
            Producers::Ours(promises) => {
                for (value, promise) in (0u64..).zip(promises) {
                    promise.set_result(value);
                }
            }
            Producers::HandRolled(senders) => {
                for (value, sender) in (0u64..).zip(senders) {
                    // An error would mean the task is gone; the tally then misses a value.
                    let _ = sender.send(value);
                }
            }
        }
    }
}

/// Creates `count` futures of `contender` and a waiting task for each, from inside the executor.
///
/// Spawning from a task that yields every few futures keeps the executor's run queue short:
/// spawning all of them from another thread first would grow the queue to `count` entries, and
/// the memory it freed afterwards would stay resident and be counted as the futures' own.
async fn set_up(executor: Arc<Executor<'static>>, contender: Contender, count: usize) -> Producers {
    const BATCH: usize = 256;
    let mut producers = match contender {
        Contender::Ours => Producers::Ours(Vec::with_capacity(count)),
        Contender::HandRolled => Producers::HandRolled(Vec::with_capacity(count)),
    };
    for i in 1..=count {
        match &mut producers {
            Producers::Ours(promises) => {
                let (promise, mut future) = apifuture::promise::<u64, BoxError>();
                promises.push(promise);
                executor
                    .spawn(async move {
                        TALLY.started();
                        let outcome = future.result_async(TIMEOUT).await;
                        TALLY.finished(outcome.ok());
                    })
                    .detach();
            }
            Producers::HandRolled(senders) => {
                let (sender, receiver) = futures::channel::oneshot::channel::<u64>();
                senders.push(sender);
                executor
                    .spawn(async move {
                        let wait = futures_lite::future::or(async { receiver.await.ok() }, async {
                            Timer::after(TIMEOUT).await;
                            None
                        });
                        TALLY.started();
                        TALLY.finished(wait.await);
                    })
                    .detach();
            }
        }
        if i % BATCH == 0 {
            futures_lite::future::yield_now().await;
        }
    }
    producers
}

/// Sets up, then completes, `count` futures on `executor`; returns the setup and completion
/// times and whether every task got its value. `before_complete` runs while all are pending.
fn round(
    executor: &Arc<Executor<'static>>,
    contender: Contender,
    count: usize,
    before_complete: impl FnOnce(),
) -> (Duration, Duration, bool) {
    TALLY.reset(count);

    let start = Instant::now();
    let spawner = executor.spawn(set_up(Arc::clone(executor), contender, count));
    let producers = futures_lite::future::block_on(spawner);
    TALLY.wait_all(&TALLY.started, "started");
    // Each task counts itself at the start of its first poll, before the wait registers its
    // waker and timer, so the last one may still be inside that poll. Counting after the
    // first poll instead would need a wrapper future whose state every task would carry (and
    // that would be counted as the futures' memory). With a single executor thread, a task
    // spawned now runs only once that poll has returned: then every wait is really pending.
    futures_lite::future::block_on(executor.spawn(async {}));
    let setup = start.elapsed();

    before_complete();

    let start = Instant::now();
    let producer = thread::spawn(move || producers.complete_all());
    TALLY.wait_all(&TALLY.finished, "finished");
    let complete = start.elapsed();
    producer
        .join()
        .unwrap_or_else(|_| fail("producer panicked"));
    (setup, complete, TALLY.all_received())
}

/// One measurement in a fresh process; prints the result line the parent parses.
fn child(contender: Contender, count: usize) {
    // One executor thread: with the producer thread that makes the two threads of the target
    // two-core machine, and a fixed thread layout keeps the memory figure repeatable (glibc's
    // malloc gives each allocating thread its own arena, so how work-stealing threads happen to
    // share the tasks would change the resident size). The per-future structures measured do
    // not depend on the number of executor threads. `round` also relies on there being one.
    let executor = Arc::new(Executor::new());
    let runner = Arc::clone(&executor);
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let executor_thread = thread::Builder::new()
        .name("executor".into())
        .spawn(move || futures_lite::future::block_on(runner.run(stopped.recv())))
        .unwrap_or_else(|e| fail(&format!("cannot start the executor thread: {e}")));

    // A few futures first so that one-time costs (the async-io reactor thread and its epoll,
    // lazily created executor state, the channels' first allocations) are not charged to the
    // measured ones. Few, because whatever they free is reused by the measured round.
    let (_, _, warm_ok) = round(&executor, contender, 16, || {});

    let rss_before = resident_bytes();
    let mut rss_pending = 0;
    let (setup, complete, ok) = round(&executor, contender, count, || {
        rss_pending = resident_bytes();
    });
    let bytes_per_future = rss_pending.saturating_sub(rss_before) as f64 / count as f64;

    let _ = stop.send_blocking(());
    let _ = executor_thread.join();
    if !(warm_ok && ok) {
        fail(&format!(
            "{}: some of the {count} tasks did not get their value",
            contender.name()
        ));
    }
    println!(
        "{RESULT_TAG} {bytes_per_future} {} {}",
        setup.as_nanos(),
        complete.as_nanos()
    );
}

/// The process's resident set size, from `VmRSS` in `/proc/self/status` (kB); 0 where there is
/// no procfs.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:"))
                .and_then(|kb| kb.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
