//! What the producing and the consuming end share, apart from the value itself.
//!
//! The value travels through a [`oneshot`] channel: its [`Receiver`](oneshot::Receiver) gives
//! the consumer a lock-free `try_recv` and thread-parking `recv_timeout`/`recv_deadline`, which
//! is all a blocking wait needs. Async waits do not use oneshot's own `Future`
//! (`AsyncReceiver`, behind its `async` feature): faern/oneshot#87 is an open use-after-free in
//! it when a receiver that was polled is dropped while the sender sends, and dropping a pending
//! awaited future is what every timeout, `select!` and cancelled task does. Instead an async
//! waiter leaves a clone of its [`Waker`](std::task::Waker) in an [`AtomicWaker`] that the
//! producer wakes after sending. The producer only ever touches that owned waker, never the
//! waiting future, so the future can be dropped at any moment, also in the middle of a wake-up,
//! and none of this needs unsafe code of ours.
//!
//! Why `atomic-waker` and not `event-listener`: a future has at most one waiter (waits take
//! `&mut self`), and `event-listener`'s list of many waiters costs more than that needs. Its
//! `notify` wakes the task while holding its list's lock, and the woken waiter, dropping its
//! listener, blocks on that same lock: measured here, an async cross-thread handoff took
//! 13.1 µs with it and 7.8 µs with tokio's oneshot. Its event and listener are also two heap
//! allocations (72 B and 56 B) per awaited future, which a million pending futures feel.
//!
//! The producer only wakes when a waiter said it listens. Both sides announce themselves in one
//! atomic word with a read-modify-write operation, which puts the two announcements in one
//! total order:
//!
//! - the waiter registers its waker, sets [`ASYNC_WAITER`], then looks at the channel;
//! - the producer sends (or drops its sender), sets [`COMPLETE`], then wakes if the previous
//!   word had [`ASYNC_WAITER`].
//!
//! If the waiter's update comes first, the producer sees the bit and wakes a waker that is
//! already registered. If the producer's comes first, the waiter's update reads it (acquire) and
//! so also sees the channel's new state. Either way no wake-up is lost, and a future nobody
//! awaits costs the producer one read-modify-write and nothing else.
//!
//! The same handshake runs the other way for a producer that waits to hear that nobody wants
//! its outcome any more ([`Promise::cancelled`](crate::Promise::cancelled)): it registers in
//! [`Shared::producer`] and sets [`PRODUCER_WAITER`]; a consumer that is cancelled or dropped
//! while still pending closes the channel, sets [`CLOSED`], and wakes the producer only if the
//! bit was there. A consumer that already took its outcome (the common case) does neither.
//!
//! The consumer's waker slot is inline and the producer's is allocated on first use (few
//! producers wait for cancellation), so the state is five words (56 B with the `Arc`'s
//! counts). How it is built matters on the ready path, where this is one of the two
//! allocations a future makes:
//! - An empty `AtomicWaker` leaves one word undefined (the data pointer of a `None` waker).
//!   With that word in the middle, LLVM built the state on the stack and copied it into the
//!   heap, and the copy's 16-byte loads over 8-byte stores stalled: a future made and
//!   completed on one thread took 43.3 ns against 38.8 ns (fastest of 15 runs). `#[repr(C)]`
//!   puts the slot last, and `Arc::default` writes the fields straight into the allocation
//!   (no stack copy, checked in the disassembly).
//! - Before, the consumer's slot was allocated by the first pending async wait as well. That
//!   made a pending `.await` cost a third allocation: 919 instructions per made, polled,
//!   completed and awaited future against 734 now (`benches/cycles.rs`, `await 1 pending`),
//!   with the ready paths unchanged.
//!
//! Done callbacks need no bit of their own: registering them turns the consumer into a relay
//! (see `callbacks.rs`) whose waker sits in the async-waiter slot, so completing a future that
//! has callbacks costs the producer the same one read-modify-write plus the wake-up that runs
//! them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use once_cell::race::OnceBox;

use crate::error::Error;

/// The outcome a producer delivers: the value, or why there is none.
pub(crate) type Outcome<T, E> = Result<T, Error<E>>;

/// The producer has finished: it sent its outcome or dropped its sender.
pub(crate) const COMPLETE: usize = 1;
/// An async waiter has (at some point) registered its waker in [`Shared::waker`].
pub(crate) const ASYNC_WAITER: usize = 1 << 1;
/// The consumer was cancelled or dropped before the outcome came: nobody wants it.
pub(crate) const CLOSED: usize = 1 << 2;
/// The producer waits for [`CLOSED`] with its waker in [`Shared::producer`].
pub(crate) const PRODUCER_WAITER: usize = 1 << 3;

/// The part of a future's state that is not the value: who listens, and how to wake them.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Shared {
    word: AtomicUsize,
    /// A producer waiting for the consumer to be cancelled or dropped, allocated by the first
    /// such wait.
    producer: OnceBox<AtomicWaker>,
    /// The consumer's async waiter (or its done-callback relay).
    waker: AtomicWaker,
}

/// `Arc::<Shared>::default()` builds the state in its allocation (see the module docs).
impl Default for Shared {
    #[inline]
    fn default() -> Self {
        Shared::new()
    }
}

impl Shared {
    /// Nobody listening, nothing finished.
    #[inline]
    pub(crate) const fn new() -> Self {
        Shared {
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
