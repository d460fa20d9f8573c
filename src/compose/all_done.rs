//! [`AllDone`]: waiting for every future of a set, as cheaply as their kinds allow.
//!
//! A future that needs polling to progress (a retry, a poll, [`from_future`](crate::from_future))
//! gets a waker of its own from the [`Tracker`] and is polled whenever it wakes. A future that
//! its producer completes unpolled ([`ApiFuture::done_unpolled`]: a promise, a spawned job, a
//! map over one) is only looked at, registering nothing, so its producer wakes nobody; the
//! waiter parks on the last one still pending. Futures usually complete in about the order they
//! were made, so the waiter wakes about once for all of them, where a waker each would wake it
//! for every completion, in lockstep with the producer. Two ends close in on the pending ones
//! and never move back, so the work is O(N) overall in any completion order.

use std::collections::VecDeque;
use std::fmt;
use std::task::{Context, Poll};

use super::ready_queue::Tracker;
use crate::api_future::ApiFuture;

/// Where one future of an [`AllDone`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Standing {
    /// Polled through its own waker whenever it is woken.
    Driven,
    /// Completes unpolled: only looked at, from the two ends of the queue of such futures.
    Watched,
    Done,
}

/// Waits for every future of a set to be done, driving those that need it (see the module
/// docs).
pub(crate) struct AllDone {
    tracker: Tracker,
    /// Each future's standing, made when the first one is found pending (a set that is done
    /// already needs none).
    standing: Vec<Standing>,
    /// The watched futures not yet seen done, in input order.
    watched: VecDeque<usize>,
    /// Driven futures not yet done.
    driven: usize,
    scanned: bool,
}

impl AllDone {
    pub(crate) fn new(len: usize) -> Self {
        AllDone {
            tracker: Tracker::new(len),
            standing: Vec::new(),
            watched: VecDeque::new(),
            driven: 0,
            scanned: false,
        }
    }

    /// Ready once every future is done; otherwise `cx` is registered to be woken when one that
    /// matters wakes. `found(index, future)` is called once for each future, when it is first
    /// seen done.
    pub(crate) fn poll<F: ApiFuture>(
        &mut self,
        futures: &mut [F],
        cx: &mut Context<'_>,
        mut found: impl FnMut(usize, &mut F),
    ) -> Poll<()> {
        if !self.scanned {
            self.scan(futures, &mut found);
        }
        loop {
            for index in self.tracker.take_ready() {
                // A future found done may still wake its waker (a wake on the poll that said
                // ready, or a producer racing that poll): only driven ones are polled again.
                if self.standing.get(index) == Some(&Standing::Driven)
                    && self
                        .tracker
                        .poll_ready(index, &mut futures[index])
                        .is_ready()
                {
                    self.standing[index] = Standing::Done;
                    self.driven -= 1;
                    found(index, &mut futures[index]);
                }
            }
            // Completed in order, the watched futures are done from the front...
            while let Some(&index) = self.watched.front() {
                if futures[index].done_unpolled() == Some(false) {
                    break;
                }
                self.watched.pop_front();
                self.standing[index] = Standing::Done;
                found(index, &mut futures[index]);
            }
            // ...and the last one pending is the one worth a waker.
            while let Some(&index) = self.watched.back() {
                let future = &mut futures[index];
                if future.done_unpolled() == Some(false)
                    && self.tracker.poll_ready(index, future).is_pending()
                {
                    break;
                }
                self.watched.pop_back();
                self.standing[index] = Standing::Done;
                found(index, &mut futures[index]);
            }
            if self.driven == 0 && self.watched.is_empty() {
                return Poll::Ready(());
            }
            if self.tracker.sleep_on(cx.waker()) {
                return Poll::Pending;
            }
        }
    }

    /// One more look at the watched futures between the two ends, which a wait that gives up
    /// has not seen since its first look: `found` is called for those done now.
    pub(crate) fn sweep<F: ApiFuture>(
        &mut self,
        futures: &mut [F],
        mut found: impl FnMut(usize, &mut F),
    ) {
        let standing = &mut self.standing;
        self.watched.retain(|&index| {
            let future = &mut futures[index];
            if future.done_unpolled() == Some(false) {
                return true;
            }
            standing[index] = Standing::Done;
            found(index, future);
            false
        });
    }

    /// The first look at every future: those done already are found, the others sorted into
    /// driven (polled now with their own waker) and watched.
    fn scan<F: ApiFuture>(&mut self, futures: &mut [F], found: &mut impl FnMut(usize, &mut F)) {
        self.scanned = true;
        let len = futures.len();
        for (index, future) in futures.iter_mut().enumerate() {
            let standing = match future.done_unpolled() {
                Some(true) => Standing::Done,
                Some(false) => {
                    self.watched.push_back(index);
                    Standing::Watched
                }
                None if self.tracker.poll_ready(index, future).is_ready() => Standing::Done,
                None => {
                    self.driven += 1;
                    Standing::Driven
                }
            };
            if standing == Standing::Done {
                found(index, future);
            } else {
                if self.standing.is_empty() {
                    self.standing = vec![Standing::Done; len];
                }
                self.standing[index] = standing;
            }
        }
    }
}

impl fmt::Debug for AllDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllDone")
            .field("driven", &self.driven)
            .field("watched", &self.watched.len())
            .finish_non_exhaustive()
    }
}
