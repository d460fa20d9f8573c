//! Which of many futures to look at next: each future gets a waker of its own that records its
//! index, so a multi-future wait polls again exactly the futures that were woken. Every
//! pending future is thus driven whenever it asks to be (a lazy future's timer fires, its
//! attempt completes), all of them concurrently, and `wait(.., AllCompleted)` stays O(N)
//! overall instead of re-polling all N on every wake-up. The blocking waits park until a
//! waker fires rather than poll in a loop.

use std::fmt;
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::api_future::ApiFuture;

/// The indices woken since the last look, and who to wake when one comes.
pub(crate) struct ReadyQueue {
    /// Whether each index is already queued, so that a future woken many times is queued once.
    queued: Box<[AtomicBool]>,
    state: Mutex<Woken>,
}

struct Woken {
    ready: Vec<usize>,
    /// The task or thread waiting on the whole set.
    waiter: Option<Waker>,
}

/// The waker one future of the set is polled with.
struct IndexWaker {
    index: usize,
    queue: Arc<ReadyQueue>,
}

impl Wake for IndexWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queue.queued[self.index].swap(true, Ordering::AcqRel) {
            return;
        }
        let waiter = {
            let mut state = self.queue.lock();
            state.ready.push(self.index);
            state.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}

impl ReadyQueue {
    fn lock(&self) -> MutexGuard<'_, Woken> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The wakers of a set of `len` futures and the queue they fill.
///
/// A future's waker is made the first time the future is found pending: most futures of a
/// batch that is already done never need one, and making 10,000 of them (an allocation each)
/// costs more than looking at the futures.
pub(crate) struct Tracker {
    queue: Arc<ReadyQueue>,
    wakers: Vec<Option<Waker>>,
    /// Whether every index was handed out once by [`batch`](Tracker::batch).
    scanned: bool,
}

impl Tracker {
    pub(crate) fn new(len: usize) -> Self {
        let queue = Arc::new(ReadyQueue {
            queued: (0..len).map(|_| AtomicBool::new(false)).collect(),
            state: Mutex::new(Woken {
                ready: Vec::new(),
                waiter: None,
            }),
        });
        Tracker {
            queue,
            wakers: vec![None; len],
            scanned: false,
        }
    }

    /// Polls future `index` for readiness with its own waker, made on first need.
    pub(crate) fn poll_ready<F: ApiFuture>(&mut self, index: usize, future: &mut F) -> Poll<()> {
        if let Some(waker) = &self.wakers[index] {
            return future.poll_ready(&mut Context::from_waker(waker));
        }
        if future
            .poll_ready(&mut Context::from_waker(Waker::noop()))
            .is_ready()
        {
            return Poll::Ready(());
        }
        // Pending: poll again with a waker that reports this index. The waker of the last
        // poll is the one a future keeps, so the no-op one is forgotten.
        let waker = Waker::from(Arc::new(IndexWaker {
            index,
            queue: Arc::clone(&self.queue),
        }));
        let polled = future.poll_ready(&mut Context::from_waker(&waker));
        self.wakers[index] = Some(waker);
        polled
    }

    /// The indices to poll: every one the first time, then those woken since the last call.
    pub(crate) fn batch(&mut self) -> Vec<usize> {
        if self.scanned {
            return self.take_ready();
        }
        self.scanned = true;
        (0..self.wakers.len()).collect()
    }

    /// Takes the indices woken since the last call, in the order they were woken. Each can be
    /// queued again from now on.
    fn take_ready(&self) -> Vec<usize> {
        let ready = mem::take(&mut self.queue.lock().ready);
        for &index in &ready {
            self.queue.queued[index].store(false, Ordering::Release);
        }
        ready
    }

    /// Registers `waiter` to be woken by the next index that is queued; false (and nothing
    /// registered) if some are queued already, so the caller must not sleep.
    pub(crate) fn sleep_on(&self, waiter: &Waker) -> bool {
        let mut state = self.queue.lock();
        if !state.ready.is_empty() {
            return false;
        }
        match &mut state.waiter {
            Some(known) if known.will_wake(waiter) => {}
            slot => *slot = Some(waiter.clone()),
        }
        true
    }
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("futures", &self.wakers.len())
            .field("woken", &self.queue.lock().ready.len())
            .finish()
    }
}
