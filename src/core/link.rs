//! What the two ends share besides the value: an atomic word saying who listens, and their wakers.
//!
//! The value travels through a [`oneshot`] channel, whose `try_recv` and thread-parking
//! `recv_timeout` serve blocking waits. Async waits avoid oneshot's `AsyncReceiver`
//! (faern/oneshot#87: a use-after-free when a polled receiver is dropped while the sender
//! sends, as every timeout, `select!` and cancelled task does). Instead an async waiter leaves
//! a clone of its waker in an [`AtomicWaker`] that the producer wakes after sending: the
//! producer only touches that owned waker, never the future, which can be dropped at any
//! moment. A future has one waiter at a time (waits take `&mut self`), all `atomic-waker`
//! holds; `event-listener`'s list of many is more than that needs.
//!
//! Each side announces itself with one read-modify-write on the word, so the announcements are
//! totally ordered:
//!
//! - the waiter registers its waker, sets [`ASYNC_WAITER`], then looks at the channel;
//! - the producer sends (or drops its sender), sets [`COMPLETE`], and wakes only if the
//!   previous word had [`ASYNC_WAITER`].
//!
//! Whichever comes second sees the first, so no wake-up is lost, and completing a future nobody
//! awaits costs one read-modify-write. The same handshake runs the other way for a producer
//! waiting to hear that nobody wants its outcome ([`PRODUCER_WAITER`], [`CLOSED`]); a producer
//! may wait in several places at once (tasks racing their parts of the work against
//! cancellation, threads sharing the promise), so its side keeps a keyed list of wakers and
//! wakes them all.
//!
//! The consumer's waker slot is inline; the producer's list is allocated by the first producer
//! that waits (few do). An empty waker leaves a word undefined, so the slot comes last
//! (`repr(C)`) and the link is built with `Arc::default`: it is then written straight into its
//! allocation, not built on the stack and copied. Done callbacks need no bit: registering one
//! puts the relay's waker in the consumer's slot (see `relay.rs`).

use std::task::{Context, Poll, Waker};

use crate::sync::{AtomicUsize, AtomicWaker, OnceBox, Ordering, WakerList};

/// The producer has finished: it sent its outcome or dropped its sender.
pub(crate) const COMPLETE: usize = 1;
/// An async waiter has (at some point) registered its waker in [`Link::waker`].
pub(crate) const ASYNC_WAITER: usize = 1 << 1;
/// The consumer was cancelled or dropped before the outcome came: nobody wants it.
pub(crate) const CLOSED: usize = 1 << 2;
/// The producer waits for [`CLOSED`] with its wakers in [`Link::producer`].
pub(crate) const PRODUCER_WAITER: usize = 1 << 3;

/// The part of a future's state that is not the value: who listens, and how to wake them. Its
/// `Default` is nobody listening, nothing finished; `Arc::<Link>::default()` builds it in its
/// allocation (see the module docs).
#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct Link {
    word: AtomicUsize,
    /// Producer waiters for the consumer to close, allocated by the first such wait.
    producer: OnceBox<WakerList>,
    /// The consumer's async waiter (or its done-callback relay).
    waker: AtomicWaker,
}

impl Link {
    /// Called by the producer after it sent its outcome or dropped its sender: wakes the async
    /// waiter, if one registered.
    #[inline]
    pub(crate) fn finish(&self) {
        if self.word.fetch_or(COMPLETE, Ordering::AcqRel) & ASYNC_WAITER != 0 {
            // The waker was registered before the bit was set (see `poll_finished`), and this
            // read-modify-write acquired the bit.
            self.waker.wake();
        }
    }

    /// Registers `cx`'s waker until the producer finishes; ready if it already has. `finished`
    /// looks at the channel, after registering, so a producer finishing in between is not missed.
    #[inline]
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

    /// Called by the consumer to take back the waker it left: to drop it when it needs no more
    /// wake-ups (it was cancelled, or found the producer finished and delivered at once), as no
    /// producer might take it and it would otherwise live as long as the link (a
    /// `WhenCancelled` holds it); or to hand it to the relay that takes its place.
    pub(crate) fn take_waker(&self) -> Option<Waker> {
        self.waker.take()
    }

    /// Called by the consumer when it is cancelled or dropped while the outcome is still to
    /// come, after it dropped its receiver: wakes every producer waiter.
    pub(crate) fn close(&self) {
        if self.word.fetch_or(CLOSED, Ordering::AcqRel) & PRODUCER_WAITER != 0 {
            // The list was set before the bit (see `poll_closed`), and this read-modify-write
            // acquired the bit. A waiter that registers after this sees `CLOSED` itself.
            if let Some(producer) = self.producer.get() {
                producer.wake_all();
            }
        }
    }

    /// Registers a producer waiter's waker under `key` (0: the waiter has none yet) until the
    /// consumer closes; ready if it already has. Once closed, nothing is registered.
    pub(crate) fn poll_closed(&self, key: &mut usize, cx: &mut Context<'_>) -> Poll<()> {
        if self.word.load(Ordering::Acquire) & CLOSED != 0 {
            return Poll::Ready(());
        }
        self.producer
            .get_or_init(Box::default)
            .register(key, cx.waker(), 1);
        if self.word.fetch_or(PRODUCER_WAITER, Ordering::AcqRel) & CLOSED != 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Whether the consumer has closed (for `Debug`).
    pub(crate) fn closed(&self) -> bool {
        self.word.load(Ordering::Acquire) & CLOSED != 0
    }

    /// A producer waiter registered under `key` leaves: its waker goes.
    pub(crate) fn leave_closed(&self, key: usize) {
        if let Some(producer) = self.producer.get() {
            producer.unregister(key);
        }
    }
}

/// Loom models of the word's handshakes. `sent` and `dropped` stand in for the oneshot channel
/// (a message sent, a receiver dropped), written before the announcement as the channel is.
#[cfg(all(test, apifuture_loom))]
mod loom_models {
    use std::future::poll_fn;
    use std::sync::Arc;
    use std::task::Waker;

    use loom::sync::atomic::AtomicBool;
    use loom::thread::{self, JoinHandle};

    use super::*;
    use crate::sync::model::check;

    /// The link, and what stands in for the channel, shared by a model's threads.
    struct Ends {
        link: Link,
        sent: AtomicBool,
        dropped: AtomicBool,
    }

    fn ends() -> Arc<Ends> {
        Arc::new(Ends {
            link: Link::default(),
            sent: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
        })
    }

    fn spawn(ends: &Arc<Ends>, run: fn(&Ends)) -> JoinHandle<()> {
        let ends = Arc::clone(ends);
        thread::spawn(move || run(&ends))
    }

    /// The consumer waits for `finish`; once woken it sees what the producer did before.
    fn await_finished(ends: &Ends) {
        loom::future::block_on(poll_fn(|cx| {
            ends.link
                .poll_finished(cx, || ends.sent.load(Ordering::Acquire))
        }));
        assert!(ends.sent.load(Ordering::Relaxed), "woken, send unseen");
    }

    /// A producer waiter waits for `close`; once woken it sees the receiver dropped, and
    /// leaves nothing registered.
    fn await_closed(ends: &Ends) {
        let mut key = 0;
        loom::future::block_on(poll_fn(|cx| ends.link.poll_closed(&mut key, cx)));
        ends.link.leave_closed(key);
        assert!(ends.dropped.load(Ordering::Acquire), "woken, drop unseen");
    }

    fn finish(ends: &Ends) {
        ends.sent.store(true, Ordering::Release);
        ends.link.finish();
    }

    fn close(ends: &Ends) {
        ends.dropped.store(true, Ordering::Release);
        ends.link.close();
    }

    /// One side announces, the other waits for it: a lost wake-up leaves `block_on` waiting
    /// forever, which loom reports as a deadlock.
    fn handshake(name: &str, announce: fn(&Ends), wait: fn(&Ends), bits: usize) {
        check(name, None, move || {
            let ends = ends();
            let other = spawn(&ends, announce);
            wait(&ends);
            other.join().unwrap();
            assert_eq!(ends.link.word.load(Ordering::Relaxed) & bits, bits);
        });
    }

    #[test]
    fn finish_vs_poll_finished() {
        let bits = COMPLETE | ASYNC_WAITER;
        handshake(
            "link: finish vs poll_finished",
            finish,
            await_finished,
            bits,
        );
    }

    /// (A waiter that comes after the close registers nothing.)
    #[test]
    fn close_vs_poll_closed() {
        handshake("link: close vs poll_closed", close, await_closed, CLOSED);
    }

    /// Two producer waiters against `close`, one having registered and left once before: both
    /// are woken, and nothing stays registered.
    #[test]
    fn every_producer_waiter_vs_close() {
        check("link: every producer waiter vs close", Some(2), || {
            let ends = ends();
            let threads = [spawn(&ends, await_closed), spawn(&ends, close)];
            // A waiter that looks once and leaves (a timed-out wait, a dropped future)...
            let mut key = 0;
            let noop = &mut Context::from_waker(Waker::noop());
            let _ = ends.link.poll_closed(&mut key, noop);
            ends.link.leave_closed(key);
            // ...then waits for real.
            await_closed(&ends);
            threads
                .into_iter()
                .for_each(|thread| thread.join().unwrap());
            let left = ends.link.producer.get().map_or(0, WakerList::len);
            assert_eq!(left, 0, "a waker stayed registered");
        });
    }

    /// Both handshakes on one word at once: neither disturbs the other.
    #[test]
    fn all_four_on_one_word() {
        check("link: all four on one word", Some(2), || {
            let ends = ends();
            let threads = [
                spawn(&ends, finish),
                spawn(&ends, close),
                spawn(&ends, await_closed),
            ];
            await_finished(&ends);
            threads
                .into_iter()
                .for_each(|thread| thread.join().unwrap());
            let all = COMPLETE | ASYNC_WAITER | CLOSED;
            assert_eq!(ends.link.word.load(Ordering::Relaxed) & all, all);
        });
    }
}
