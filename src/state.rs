//! What the producing and the consuming end share besides the value: one atomic word that says
//! who listens, and the wakers of those who do.
//!
//! The value travels through a [`oneshot`] channel, whose `try_recv` and thread-parking
//! `recv_timeout` serve blocking waits. Async waits do not use oneshot's own `AsyncReceiver`
//! (faern/oneshot#87: a use-after-free when a polled receiver is dropped while the sender
//! sends, which is what every timeout, `select!` and cancelled task does). Instead an async
//! waiter leaves a clone of its waker in an [`AtomicWaker`] that the producer wakes after
//! sending: the producer only ever touches that owned waker, never the future, so the future
//! can be dropped at any moment. A future has one waiter at a time (waits take `&mut self`),
//! which is all `atomic-waker` holds; `event-listener`'s list of many is more than that needs.
//!
//! Each side announces itself with one read-modify-write on the word, so the two
//! announcements have one total order:
//!
//! - the waiter registers its waker, sets [`ASYNC_WAITER`], then looks at the channel;
//! - the producer sends (or drops its sender), sets [`COMPLETE`], and wakes only if the
//!   previous word had [`ASYNC_WAITER`].
//!
//! Whichever comes second sees the first, so no wake-up is lost, and completing a future that
//! nobody awaits costs one read-modify-write and nothing else. The same handshake runs the other
//! way for a producer waiting to hear that nobody wants its outcome ([`PRODUCER_WAITER`] and
//! [`CLOSED`]).
//!
//! The consumer's waker slot is inline; the producer's is allocated by the first producer that
//! waits (few do). The slot comes last (`repr(C)`) and the state is built with
//! `Arc::default`, so that it is written straight into its allocation: an empty waker leaves a
//! word undefined, and with that word mid-struct the compiler built the state on the stack and
//! copied it. Done callbacks need no bit: registering one puts the callback relay's waker in
//! the consumer's slot (see `callbacks.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use once_cell::race::OnceBox;

use crate::error::Error;

/// The outcome a producer delivers: the value, or why there is none.
pub(crate) type Outcome<T, E> = Result<T, Error<E>>;

/// The producer has finished: it sent its outcome or dropped its sender.
pub(crate) const COMPLETE: usize = 1;
/// An async waiter has (at some point) registered its waker in [`Link::waker`].
pub(crate) const ASYNC_WAITER: usize = 1 << 1;
/// The consumer was cancelled or dropped before the outcome came: nobody wants it.
pub(crate) const CLOSED: usize = 1 << 2;
/// The producer waits for [`CLOSED`] with its waker in [`Link::producer`].
pub(crate) const PRODUCER_WAITER: usize = 1 << 3;

/// The part of a future's state that is not the value: who listens, and how to wake them.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Link {
    word: AtomicUsize,
    /// A producer waiting for the consumer to be cancelled or dropped, allocated by the first
    /// such wait.
    producer: OnceBox<AtomicWaker>,
    /// The consumer's async waiter (or its done-callback relay).
    waker: AtomicWaker,
}

/// `Arc::<Link>::default()` builds the state in its allocation (see the module docs).
impl Default for Link {
    #[inline]
    fn default() -> Self {
        Link::new()
    }
}

impl Link {
    /// Nobody listening, nothing finished.
    #[inline]
    pub(crate) const fn new() -> Self {
        Link {
            word: AtomicUsize::new(0),
            waker: AtomicWaker::new(),
            producer: OnceBox::new(),
        }
    }

    /// Called by the producer after it sent its outcome or dropped its sender: one
    /// read-modify-write, plus a wake-up only if an async waiter registered.
    #[inline]
    pub(crate) fn finish(&self) {
        if self.word.fetch_or(COMPLETE, Ordering::AcqRel) & ASYNC_WAITER != 0 {
            // The waker was registered before the bit was set (see `poll_finished`), and this
            // read-modify-write acquired the bit.
            self.waker.wake();
        }
    }

    /// Registers `cx`'s waker until the producer finishes; ready if it already has.
    ///
    /// `finished` looks at the channel; it is called after registering, so that a producer
    /// finishing in between is never missed.
    pub(crate) fn poll_finished(
        &self,
        cx: &mut Context<'_>,
        finished: impl Fn() -> bool,
    ) -> Poll<()> {
        self.waker.register(cx.waker());
        let previous = self.word.fetch_or(ASYNC_WAITER, Ordering::AcqRel);
        if previous & COMPLETE != 0 || finished() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Called by the consumer when it is cancelled or dropped while the outcome is still to
    /// come, after it dropped its receiver: wakes a producer waiting for that.
    pub(crate) fn close(&self) {
        if self.word.fetch_or(CLOSED, Ordering::AcqRel) & PRODUCER_WAITER != 0 {
            // The box was set before the bit (see `poll_closed`), and this read-modify-write
            // acquired the bit.
            if let Some(producer) = self.producer.get() {
                producer.wake();
            }
        }
    }

    /// Registers a producer's waker until the consumer closes; ready if it already has.
    /// `closed` looks at the channel, after registering.
    pub(crate) fn poll_closed(&self, cx: &mut Context<'_>, closed: impl Fn() -> bool) -> Poll<()> {
        self.producer
            .get_or_init(|| Box::new(AtomicWaker::new()))
            .register(cx.waker());
        let previous = self.word.fetch_or(PRODUCER_WAITER, Ordering::AcqRel);
        if previous & CLOSED != 0 || closed() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}
