//! Done callbacks: the relay a future becomes once a callback is registered on it.
//!
//! The first [`add_done_callback`](crate::AwaitableConcurrentFuture::add_done_callback) moves
//! the channel's receiver into a [`Relay`] and leaves the relay's waker in the async-waiter slot
//! of [`Link`](crate::core::link::Link), moving the waker it replaces (a task that polled the
//! future) into the relay's. The producer's usual wake-up then lands in the relay,
//! on the producer's thread: it takes the outcome out of the channel, runs the callbacks with it
//! by reference, stores it, and only then wakes the waiter (a task or a parked thread). Futures
//! without callbacks pay nothing: no bit, no branch on the producer's side, no memory.
//!
//! Only the producer's wake-up delivers (or, for a future complete before its first callback,
//! the thread registering it). A waiter never does: it looks, registers, and waits within its
//! own limit, so a slow callback never stretches a timed wait, and every look (`done`,
//! `try_result`, a zero wait) finds nothing until the callbacks ran.

use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll, Wake};

use oneshot::TryRecvError;

use crate::error::{Error, Outcome, is_failure};
use crate::panic::caught;
use crate::sync::{Mutex, WakerSlot, unpoisoned};

/// A done callback, as registered.
pub(crate) type Callback<T, E> = Box<dyn FnOnce(&Outcome<T, E>) + Send>;

/// Whether the producer is finished with `receiver`'s channel: it sent, or dropped its end.
#[inline]
pub(crate) fn channel_finished<T>(receiver: &oneshot::Receiver<T>) -> bool {
    receiver.has_message() || receiver.is_closed()
}

/// Runs `callback` with `outcome`, catching a panic: the panic hook has already reported it
/// (to stderr, by default), and the future and the other callbacks go on as if it returned.
pub(crate) fn run_callback<T, E>(callback: Callback<T, E>, outcome: &Outcome<T, E>) {
    // A panicking callback can leave only its own captures half-updated: the outcome is shared
    // by reference and nothing of ours is borrowed mutably across the call.
    let _ = caught(move || callback(outcome));
}

/// Where a relayed future's outcome stands.
enum Delivery<T, E> {
    /// Not delivered yet: the outcome is still in (or still to come into) the channel.
    Waiting(oneshot::Receiver<Outcome<T, E>>),
    /// Taken out of the channel; a thread is running the callbacks with it.
    Running,
    /// Callbacks done: the outcome waits for the consumer.
    Done(Outcome<T, E>),
    /// The consumer is done with it: cancelled or dropped before an outcome came, or took it.
    Closed,
}

/// What the relay's lock guards.
struct Inner<T, E> {
    delivery: Delivery<T, E>,
    callbacks: Vec<Callback<T, E>>,
    /// The consumer's waiter (a task or a parked thread), woken after the callbacks ran.
    waiter: WakerSlot,
}

/// A future's outcome on its way from the channel to the waiter, with the callbacks to run on
/// the way. Shared by the consumer and (as a waker) the producer's side.
pub(crate) struct Relay<T, E> {
    inner: Mutex<Inner<T, E>>,
}

impl<T, E> Relay<T, E> {
    /// A relay waiting for the outcome in `receiver`, with `first` as its first callback.
    pub(crate) fn new(
        receiver: oneshot::Receiver<Outcome<T, E>>,
        first: Option<Callback<T, E>>,
    ) -> Self {
        Relay::with(Delivery::Waiting(receiver), first)
    }

    /// A relay already delivered: the outcome was taken out of the channel to be looked at.
    pub(crate) fn holding(outcome: Outcome<T, E>) -> Self {
        Relay::with(Delivery::Done(outcome), None)
    }

    fn with(delivery: Delivery<T, E>, first: Option<Callback<T, E>>) -> Self {
        Relay {
            inner: Mutex::new(Inner {
                delivery,
                callbacks: first.into_iter().collect(),
                waiter: WakerSlot::default(),
            }),
        }
    }

    /// Delivers a sent outcome (or the producer's absence) if nobody has yet: takes it out of
    /// the channel, runs the callbacks on this thread, then wakes the waiter.
    pub(crate) fn deliver(&self) {
        let mut inner = unpoisoned(self.inner.lock());
        let outcome = match &inner.delivery {
            Delivery::Waiting(receiver) => match receiver.try_recv() {
                Ok(outcome) => outcome,
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => Err(Error::Abandoned),
            },
            Delivery::Running | Delivery::Done(_) | Delivery::Closed => return,
        };
        inner.delivery = Delivery::Running;
        // Callbacks added while these run (the consumer may add more) run in the next round.
        loop {
            let callbacks = mem::take(&mut inner.callbacks);
            if callbacks.is_empty() {
                break;
            }
            drop(inner);
            for callback in callbacks {
                run_callback(callback, &outcome);
            }
            inner = unpoisoned(self.inner.lock());
        }
        inner.delivery = Delivery::Done(outcome);
        let waiter = inner.waiter.take();
        drop(inner);
        if let Some(waiter) = waiter {
            waiter.wake();
        }
    }

    /// Whether the producer has finished: an outcome is in the channel, on its way through
    /// the callbacks, or delivered.
    pub(crate) fn finished(&self) -> bool {
        match &unpoisoned(self.inner.lock()).delivery {
            Delivery::Waiting(receiver) => channel_finished(receiver),
            Delivery::Running | Delivery::Done(_) => true,
            Delivery::Closed => false,
        }
    }

    /// Whether the outcome is delivered (callbacks run) and can be taken: the consumer's `done`.
    pub(crate) fn delivered(&self) -> bool {
        matches!(
            unpoisoned(self.inner.lock()).delivery,
            Delivery::Done(_) | Delivery::Closed
        )
    }

    /// Takes the delivered outcome (callbacks have run); `None` until the producer's wake-up
    /// delivered it.
    pub(crate) fn try_take(&self) -> Option<Outcome<T, E>> {
        let mut inner = unpoisoned(self.inner.lock());
        match mem::replace(&mut inner.delivery, Delivery::Closed) {
            Delivery::Done(outcome) => Some(outcome),
            other => {
                inner.delivery = other;
                None
            }
        }
    }

    /// Whether the delivered outcome is a failure, without taking it; `None` while pending.
    pub(crate) fn peek_failed(&self) -> Option<bool> {
        match &unpoisoned(self.inner.lock()).delivery {
            Delivery::Done(outcome) => Some(is_failure(outcome)),
            _ => None,
        }
    }

    /// Registers the waiter (a task, or a parked thread); ready once the outcome can be taken.
    pub(crate) fn poll_delivered(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = unpoisoned(self.inner.lock());
        match &inner.delivery {
            Delivery::Done(_) | Delivery::Closed => Poll::Ready(()),
            Delivery::Waiting(_) | Delivery::Running => {
                inner.waiter.register(cx.waker());
                Poll::Pending
            }
        }
    }

    /// Adds a callback: queued while the outcome is to come, else run at once on this thread
    /// with the outcome (which stays for the waiter).
    pub(crate) fn add(&self, callback: Callback<T, E>) {
        let mut inner = unpoisoned(self.inner.lock());
        match &mut inner.delivery {
            Delivery::Waiting(_) | Delivery::Running => inner.callbacks.push(callback),
            Delivery::Done(_) => {
                // Only the consumer (who is calling) takes a delivered outcome: run it outside
                // the lock and put it back.
                let Delivery::Done(outcome) = mem::replace(&mut inner.delivery, Delivery::Running)
                else {
                    unreachable!()
                };
                drop(inner);
                run_callback(callback, &outcome);
                unpoisoned(self.inner.lock()).delivery = Delivery::Done(outcome);
            }
            Delivery::Closed => {
                drop(inner);
                run_callback(callback, &Err(Error::Cancelled));
            }
        }
    }

    /// Closes the relay if no outcome came: drops the receiver (the producer sees it as
    /// cancelled) and runs the queued callbacks with `Cancelled`. False if an outcome is there
    /// or on its way; then nothing changes.
    pub(crate) fn cancel(&self) -> bool {
        let mut inner = unpoisoned(self.inner.lock());
        match &inner.delivery {
            Delivery::Waiting(receiver) if !channel_finished(receiver) => {}
            Delivery::Closed => return true,
            _ => return false,
        }
        inner.delivery = Delivery::Closed;
        let callbacks = mem::take(&mut inner.callbacks);
        drop(inner);
        let cancelled = Err(Error::Cancelled);
        for callback in callbacks {
            run_callback(callback, &cancelled);
        }
        true
    }

    /// Where the relay stands, for `Debug`: `pending` (also while the callbacks run, or when
    /// another thread holds the lock for an instant: `Debug` never waits for it), `ready`, a
    /// delivered state by its name (`abandoned`, as the consumer says of a channel whose
    /// producer went away; `taken` for a `Consumed` the next wait gets), `taken` (or cancelled:
    /// the consumer tells those apart).
    pub(crate) fn describe(&self) -> &'static str {
        let Ok(inner) = self.inner.try_lock() else {
            return "pending";
        };
        match &inner.delivery {
            Delivery::Waiting(_) | Delivery::Running => "pending",
            Delivery::Done(Err(error)) => error.state_name().unwrap_or("ready"),
            Delivery::Done(Ok(_)) => "ready",
            Delivery::Closed => "taken",
        }
    }

    /// The consumer lets go without waiting any more (a detach): the waker of its last wait goes.
    pub(crate) fn forget_waiter(&self) {
        let waiter = unpoisoned(self.inner.lock()).waiter.take();
        drop(waiter);
    }
}

impl<T: Send + 'static, E: Send + 'static> Wake for Relay<T, E> {
    fn wake(self: Arc<Self>) {
        self.deliver();
    }
}
