//! Which of many futures to look at next.
//!
//! A [`Tracker`] gives each pending future a waker of its own that records its index, so a
//! multi-future wait polls again exactly the futures that were woken: every pending future is
//! driven whenever it asks to be (a lazy future's timer fires, its attempt completes), all of
//! them concurrently, and the blocking waits park until a waker fires rather than poll in a
//! loop.
//!
//! Waiting for all of them, [`AllDone`] spares the futures that complete unpolled
//! ([`ApiFuture::done_unpolled`]: a promise, a spawned job) a waker each: it only looks at
//! them, registering nothing (so their producers wake nobody), and parks on the last one still
//! pending. Futures usually complete in about the order
//! they were made, so the waiter wakes about once for all of them, where a waker each would
//! wake it for every completion, in lockstep with the producer. Two ends close in on the
//! pending ones and never move back, so the work is O(N) overall in any completion order.

use std::fmt;
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::api_future::ApiFuture;

/// The indices woken since the last look, and who to wake when one comes.
struct ReadyQueue {
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

/// The wakers of a set of `len` futures and the queue they fill. Nothing is allocated until a
/// future is found pending: a batch that is already done needs no waker, and making 10,000 of
/// them (an allocation each) costs more than looking at the futures.
pub(crate) struct Tracker {
    len: usize,
    queue: Option<Arc<ReadyQueue>>,
    wakers: Vec<Option<Waker>>,
    /// Whether every index was handed out once by [`batch`](Tracker::batch).
    scanned: bool,
}

impl Tracker {
    pub(crate) fn new(len: usize) -> Self {
        Tracker {
            len,
            queue: None,
            wakers: Vec::new(),
            scanned: false,
        }
    }

    fn queue(&mut self) -> &Arc<ReadyQueue> {
        let len = self.len;
        self.queue.get_or_insert_with(|| {
            Arc::new(ReadyQueue {
                queued: (0..len).map(|_| AtomicBool::new(false)).collect(),
                state: Mutex::new(Woken {
                    ready: Vec::new(),
                    waiter: None,
                }),
            })
        })
    }

    /// Polls future `index` for readiness with its own waker, made on first need.
    pub(crate) fn poll_ready<F: ApiFuture>(&mut self, index: usize, future: &mut F) -> Poll<()> {
        if let Some(Some(waker)) = self.wakers.get(index) {
            return future.poll_ready(&mut Context::from_waker(waker));
        }
        if look(future).is_ready() {
            return Poll::Ready(());
        }
        // Pending: poll again with a waker that reports this index. The waker of the last
        // poll is the one a future keeps, so the no-op one is forgotten.
        let queue = Arc::clone(self.queue());
        let waker = Waker::from(Arc::new(IndexWaker { index, queue }));
        let polled = future.poll_ready(&mut Context::from_waker(&waker));
        if self.wakers.is_empty() {
            self.wakers.resize(self.len, None);
        }
        self.wakers[index] = Some(waker);
        polled
    }

    /// The indices to poll: every one the first time, then those woken since the last call.
    pub(crate) fn batch(&mut self) -> Vec<usize> {
        if self.scanned {
            return self.take_ready();
        }
        self.scanned = true;
        (0..self.len).collect()
    }

    /// Takes the indices woken since the last call, in the order they were woken. Each can be
    /// queued again from now on.
    pub(crate) fn take_ready(&self) -> Vec<usize> {
        let Some(queue) = &self.queue else {
            return Vec::new();
        };
        let ready = mem::take(&mut queue.lock().ready);
        for &index in &ready {
            queue.queued[index].store(false, Ordering::Release);
        }
        ready
    }

    /// Registers `waiter` to be woken by the next index that is queued; false (and nothing
    /// registered) if some are queued already, so the caller must not sleep.
    pub(crate) fn sleep_on(&mut self, waiter: &Waker) -> bool {
        let mut state = self.queue().lock();
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

/// Polls `future` for readiness with a no-op waker: a look that registers nobody.
fn look<F: ApiFuture>(future: &mut F) -> Poll<()> {
    future.poll_ready(&mut Context::from_waker(Waker::noop()))
}

impl fmt::Debug for Tracker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracker")
            .field("futures", &self.len)
            .field("wakers", &self.wakers.iter().flatten().count())
            .finish_non_exhaustive()
    }
}
