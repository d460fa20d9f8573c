//! [`Set`]: the driver of many futures behind [`wait`](fn@super::wait),
//! [`join_all`](super::join_all) and [`as_completed`](fn@super::as_completed).
//!
//! A future found pending gets its own waker, which queues its index: the set polls again
//! exactly the futures woken (a lazy future's timer fires, its attempt completes), all of them
//! concurrently, and a blocking wait parks until a waker fires rather than poll in a loop.
//!
//! A set that waits for all its futures gives no waker to those that complete unpolled
//! ([`ApiFuture::done_unpolled`]: a promise, a spawned job, a map over one): it only looks at
//! them (so their producers wake nobody) and parks on the last one still pending. Futures
//! usually complete in about the order they were made, so the waiter wakes about once for all
//! of them, not once per completion in lockstep with the producer. Two ends close in on those
//! futures and never move back: O(N) work in any completion order. Any other set counts such a
//! future done without polling it, and one pending gets its waker at once (a poll would not
//! move it on).

use std::fmt;
use std::mem;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use crate::api_future::ApiFuture;
use crate::sync::{WakerSlot, unpoisoned};

/// Where a set finds its futures: a slice, or the slots of an iteration that drops each future
/// once its outcome is out.
pub(crate) trait Members {
    type Future: ApiFuture;
    /// Future `index`, `None` once it was taken out.
    fn member(&mut self, index: usize) -> Option<&mut Self::Future>;
}

impl<F: ApiFuture> Members for [F] {
    type Future = F;

    #[inline]
    fn member(&mut self, index: usize) -> Option<&mut F> {
        self.get_mut(index)
    }
}

impl<F: ApiFuture> Members for [Option<F>] {
    type Future = F;

    #[inline]
    fn member(&mut self, index: usize) -> Option<&mut F> {
        self.get_mut(index)?.as_mut()
    }
}

/// Where one future of a set stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Polled through its own waker whenever it is woken.
    Driven,
    /// Completes unpolled: only looked at, from the two ends of the `watched` range.
    Watched,
    Done,
}

/// Drives many futures and finds each one done, once (see the module docs).
pub(crate) struct Set {
    len: usize,
    /// Whether futures that complete unpolled are only watched: when the set waits for all of
    /// them. A wait for the first one gives each its own waker, to see it at once.
    watch: bool,
    /// Made when the first future is found pending: a set that is done at once needs none.
    queue: Option<Arc<ReadyQueue>>,
    wakers: Vec<Option<Waker>>,
    /// Each future's standing, made with the first one found pending (until then, every
    /// future looked at is done).
    standing: Vec<Standing>,
    /// The indices between the watched futures not yet seen done: from the first to past the
    /// last, the ends moving inwards (what lies between may be driven or done too).
    watched: Range<usize>,
    /// Futures not found done yet.
    pending: usize,
    /// Whether the first round of looks was made.
    scanned: bool,
}

impl Set {
    pub(crate) fn new(len: usize, watch: bool) -> Self {
        Set {
            len,
            watch,
            queue: None,
            wakers: Vec::new(),
            standing: Vec::new(),
            watched: 0..0,
            pending: len,
            scanned: false,
        }
    }

    /// Finds the futures done since the last call, calling `found` once for each (its outcome
    /// is there to take). Ready once every future was found, or once `found` said one was
    /// enough and the wake-ups queued meanwhile were read (within the poll's rounds); otherwise
    /// `Pending`, with `cx` registered to be woken when a future that matters wakes (or woken
    /// already, to yield). The first round looks at every future, in input order; the later
    /// ones at those that woke, in the order they did.
    pub(crate) fn poll<M: Members + ?Sized>(
        &mut self,
        members: &mut M,
        cx: &mut Context<'_>,
        mut found: impl FnMut(usize, &mut M::Future) -> bool,
    ) -> Poll<()> {
        let mut enough = false;
        if !self.scanned {
            self.scanned = true;
            for index in 0..self.len {
                if let Some(future) = members.member(index) {
                    if self.first_look(index, future) {
                        enough |= self.found(index, future, &mut found);
                    }
                }
            }
        }
        for _ in 0..ROUNDS_PER_POLL {
            for index in self.take_woken() {
                // A future found done may still wake its waker (a wake on the poll that said
                // ready, or a producer racing that poll): only driven ones are polled again.
                if self.standing.get(index) != Some(&Standing::Driven) {
                    continue;
                }
                if let Some(future) = members.member(index) {
                    if self.poll_member(index, future, true).is_ready() {
                        enough |= self.found(index, future, &mut found);
                    }
                }
            }
            // Completed in order, the watched futures are done from the front...
            while !self.watched.is_empty() {
                let index = self.watched.start;
                if let Some(future) = self.watched_member(members, index) {
                    if is_pending_unpolled(future) {
                        break;
                    }
                    enough |= self.found(index, future, &mut found);
                }
                self.watched.start += 1;
            }
            // ...and the last one pending is the one worth a waker.
            while !self.watched.is_empty() {
                let index = self.watched.end - 1;
                if let Some(future) = self.watched_member(members, index) {
                    if is_pending_unpolled(future)
                        && self.poll_member(index, future, false).is_pending()
                    {
                        break;
                    }
                    enough |= self.found(index, future, &mut found);
                }
                self.watched.end -= 1;
            }
            // Enough, once the futures woken meanwhile (one completed by another's poll) are
            // found too: a wait lists every future it saw done.
            if self.pending == 0 || enough && !self.any_woken() {
                return Poll::Ready(());
            }
            if !enough && self.sleep_on(cx.waker()) {
                return Poll::Pending;
            }
        }
        if enough {
            return Poll::Ready(());
        }
        // Still woken: a member that wakes itself when polled (a retry that yields between
        // attempts done at once) would keep this poll going for ever. Give the thread back, as
        // it does: a blocking wait looks at its deadline, an executor runs its other tasks.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// One more look at the watched futures between the two ends, which a wait that gives up
    /// has not seen since its first look: those done now are found.
    pub(crate) fn sweep<M: Members + ?Sized>(&mut self, members: &mut M) {
        for index in self.watched.clone() {
            if let Some(future) = self.watched_member(members, index) {
                if !is_pending_unpolled(future) {
                    self.found(index, future, &mut |_, _| false);
                }
            }
        }
    }

    pub(crate) fn is_done(&self, index: usize) -> bool {
        self.scanned
            && self
                .standing
                .get(index)
                .is_none_or(|s| *s == Standing::Done)
    }

    pub(crate) fn pending(&self) -> usize {
        self.pending
    }

    /// Future `index` if it is watched (not yet seen done).
    #[inline]
    fn watched_member<'m, M: Members + ?Sized>(
        &self,
        members: &'m mut M,
        index: usize,
    ) -> Option<&'m mut M::Future> {
        (self.standing[index] == Standing::Watched).then(|| members.member(index))?
    }

    /// The first look at future `index`: true if it is done; otherwise it is driven (polled
    /// now with its own waker) or watched.
    #[inline(always)]
    fn first_look<F: ApiFuture>(&mut self, index: usize, future: &mut F) -> bool {
        let unpolled = future.done_unpolled();
        let standing = match unpolled {
            Some(true) => return true,
            Some(false) if self.watch => Standing::Watched,
            // A look first, unless its producer completes it and it is pending.
            _ => match self.poll_member(index, future, unpolled.is_none()) {
                Poll::Ready(()) => return true,
                Poll::Pending => Standing::Driven,
            },
        };
        if self.standing.is_empty() {
            self.standing = vec![Standing::Done; self.len];
        }
        self.standing[index] = standing;
        if standing == Standing::Watched {
            // The first look goes in input order: the range grows at its end.
            if self.watched.is_empty() {
                self.watched.start = index;
            }
            self.watched.end = index + 1;
        }
        false
    }

    /// Future `index` is done: counts it and tells `found`, whose answer it returns.
    #[inline]
    fn found<F>(
        &mut self,
        index: usize,
        future: &mut F,
        found: &mut impl FnMut(usize, &mut F) -> bool,
    ) -> bool {
        if let Some(standing) = self.standing.get_mut(index) {
            *standing = Standing::Done;
        }
        self.pending -= 1;
        found(index, future)
    }

    /// Polls future `index` for readiness with its own waker, made on first need. With `look`,
    /// a poll with a waker that wakes nobody comes first, so a future that is done costs no
    /// waker; without it (a future its producer completes, found pending without a poll, which
    /// a poll would not move on) the waker is made at once.
    fn poll_member<F: ApiFuture>(&mut self, index: usize, future: &mut F, look: bool) -> Poll<()> {
        if let Some(Some(waker)) = self.wakers.get(index) {
            return future.poll_ready(&mut Context::from_waker(waker));
        }
        if look
            && future
                .poll_ready(&mut Context::from_waker(Waker::noop()))
                .is_ready()
        {
            return Poll::Ready(());
        }
        // Pending: poll again with a waker that reports this index. The waker of the last poll
        // is the one a future keeps, so the no-op one is forgotten.
        let queue = Arc::clone(self.queue());
        let waker = Waker::from(Arc::new(IndexWaker { index, queue }));
        let polled = future.poll_ready(&mut Context::from_waker(&waker));
        if self.wakers.is_empty() {
            self.wakers.resize(self.len, None);
        }
        self.wakers[index] = Some(waker);
        polled
    }

    fn queue(&mut self) -> &Arc<ReadyQueue> {
        let len = self.len;
        self.queue.get_or_insert_with(|| {
            Arc::new(ReadyQueue {
                queued: (0..len).map(|_| AtomicBool::new(false)).collect(),
                woken: Mutex::new(Woken::default()),
            })
        })
    }

    /// Takes the indices woken since the last call, in wake order; each can be queued again.
    fn take_woken(&self) -> Vec<usize> {
        let Some(queue) = &self.queue else {
            return Vec::new();
        };
        let woken = mem::take(&mut unpoisoned(queue.woken.lock()).ready);
        for &index in &woken {
            queue.queued[index].store(false, Ordering::Release);
        }
        woken
    }

    /// Whether some index was queued since the last [`take_woken`](Self::take_woken).
    fn any_woken(&self) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|queue| !unpoisoned(queue.woken.lock()).ready.is_empty())
    }

    /// Registers `waiter` to be woken by the next index that is queued; false (and nothing
    /// registered) if some are queued already, so the caller must not sleep.
    fn sleep_on(&mut self, waiter: &Waker) -> bool {
        let mut woken = unpoisoned(self.queue().woken.lock());
        if !woken.ready.is_empty() {
            return false;
        }
        woken.waiter.register(waiter);
        true
    }
}

/// Whether a future that completes unpolled is still pending; false for one that must be
/// polled to complete (the caller polls it).
/// How many rounds of woken futures one poll of a set handles before it yields.
const ROUNDS_PER_POLL: u32 = 4;

#[inline]
fn is_pending_unpolled<F: ApiFuture>(future: &mut F) -> bool {
    future.done_unpolled() == Some(false)
}

impl fmt::Debug for Set {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Set")
            .field("futures", &self.len)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// The indices woken since the last look, and who to wake when one comes.
struct ReadyQueue {
    /// Whether each index is already queued, so that a future woken many times is queued once.
    queued: Box<[AtomicBool]>,
    woken: Mutex<Woken>,
}

#[derive(Default)]
struct Woken {
    ready: Vec<usize>,
    /// The task or thread waiting on the whole set.
    waiter: WakerSlot,
}

/// The waker one future of a set is polled with.
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
            let mut woken = unpoisoned(self.queue.woken.lock());
            woken.ready.push(self.index);
            woken.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }
}
