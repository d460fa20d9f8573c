//! What the producing and the consuming end share, apart from the value itself.
//!
//! The value travels through a [`oneshot`] channel: its [`Receiver`](oneshot::Receiver) gives
//! the consumer a lock-free `try_recv` and thread-parking `recv_timeout`/`recv_deadline`, which
//! is all a blocking wait needs. Async waits do not use oneshot's own `Future`
//! (`AsyncReceiver`, behind its `async` feature): faern/oneshot#87 is an open use-after-free in
//! it when a receiver that was polled is dropped while the sender sends, and dropping a pending
//! awaited future is what every timeout, `select!` and cancelled task does. Instead an async
//! waiter registers an [`event_listener::EventListener`] on the [`Shared::event`] of its future
//! and the producer notifies that event after sending. Listeners may be dropped at any moment,
//! also in the middle of a notification, without unsafe code of ours.
//!
//! `event-listener` takes a lock on every `notify`, even with no listener, so the producer only
//! notifies when a waiter said it listens. Both sides announce themselves in one atomic word with
//! a read-modify-write operation, which puts the two announcements in one total order:
//!
//! - the waiter creates its listener, sets [`ASYNC_WAITER`], then looks at the channel;
//! - the producer sends (or drops its sender), sets [`COMPLETE`], then notifies if the previous
//!   word had [`ASYNC_WAITER`].
//!
//! If the waiter's update comes first, the producer sees the bit and notifies a listener that
//! already exists. If the producer's comes first, the waiter's update reads it (acquire) and so
//! also sees the channel's new state. Either way no wake-up is lost, and a future nobody awaits
//! costs the producer one read-modify-write and no notification.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use event_listener::{Event, EventListener};
use futures_lite::FutureExt;

use crate::error::Error;

/// The outcome a producer delivers: the value, or why there is none.
pub(crate) type Outcome<T, E> = Result<T, Error<E>>;

/// The producer has finished: it sent its outcome or dropped its sender.
pub(crate) const COMPLETE: usize = 1;
/// An async waiter has (at some point) registered a listener on [`Shared::event`].
pub(crate) const ASYNC_WAITER: usize = 1 << 1;

/// The part of a future's state that is not the value: who listens, and how to wake them.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    word: AtomicUsize,
    event: Event,
}

impl Shared {
    /// Called by the producer after it sent its outcome or dropped its sender: one
    /// read-modify-write, plus a notification only if an async waiter registered.
    pub(crate) fn finish(&self) {
        if self.word.fetch_or(COMPLETE, Ordering::AcqRel) & ASYNC_WAITER != 0 {
            self.event.notify(usize::MAX);
        }
    }

    /// Registers `cx`'s waker until the producer finishes.
    ///
    /// `finished` looks at the channel; it is called after registering, so that a producer
    /// finishing in between is never missed. `listener` is kept by the caller between polls: it
    /// survives a timed-out wait and is dropped once the future is ready.
    pub(crate) fn poll_finished(
        &self,
        listener: &mut Option<EventListener>,
        cx: &mut Context<'_>,
        finished: impl Fn() -> bool,
    ) -> Poll<()> {
        loop {
            match listener {
                Some(registered) => {
                    if registered.poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    *listener = None;
                    if finished() {
                        return Poll::Ready(());
                    }
                }
                None => {
                    *listener = Some(self.event.listen());
                    let previous = self.word.fetch_or(ASYNC_WAITER, Ordering::AcqRel);
                    if previous & COMPLETE != 0 || finished() {
                        *listener = None;
                        return Poll::Ready(());
                    }
                }
            }
        }
    }
}
