//! [`ConcurrentFuture`]: the receiving end of a oneshot channel, waited on by blocking.

use std::fmt;
use std::mem;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use oneshot::{RecvTimeoutError, TryRecvError};

use crate::core::link::Link;
use crate::core::relay::{Callback, Relay, channel_finished, run_callback};
use crate::error::{BoxError, Error, Outcome, is_failure};
use crate::timeout::{self, Deadline, Wait};

/// The receiving end of a future, with blocking waits: the seed's `concurrent.futures.Future`.
///
/// You usually hold it inside an [`AwaitableConcurrentFuture`](crate::AwaitableConcurrentFuture)
/// and reach it through [`future()`](crate::AwaitableConcurrentFuture::future). It offers what
/// Python's future does: [`done`](Self::done), [`result`](Self::result) with a timeout,
/// [`cancel`](Self::cancel) and [`cancelled`](Self::cancelled), plus the non-blocking
/// [`try_result`](Self::try_result). It is `Send` but not `Sync`: waits take `&mut self`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::promise;
///
/// let (promise, mut api_future) = promise::<u32, std::io::Error>();
/// let concurrent = api_future.future();
/// assert!(!concurrent.done());
/// promise.set_result(5);
/// assert!(concurrent.done());
/// assert_eq!(concurrent.result(Duration::from_secs(30)).unwrap(), 5);
/// ```
#[must_use = "dropping a pending future cancels its work; wait on it, or detach() its awaitable"]
pub struct ConcurrentFuture<T, E = BoxError> {
    inbox: Inbox<T, E>,
    /// Shared with the producer; `None` for a future made complete, which has no producer.
    link: Option<Arc<Link>>,
}

/// Where the consumer stands. Only `Channel` holds the channel; all but the first two are final.
enum Inbox<T, E> {
    Channel(oneshot::Receiver<Outcome<T, E>>),
    /// Done callbacks are registered, or the outcome was taken out of the channel to be looked
    /// at (by `wait(.., FirstFailed)`): the outcome comes through the relay.
    Relayed(Arc<Relay<T, E>>),
    /// The outcome was handed out.
    Taken,
    /// [`cancel`](ConcurrentFuture::cancel) succeeded.
    Cancelled,
    /// The last three hold a state, which every wait gets again: the producer went away, or
    /// sent one as its outcome (a background task's future was cancelled, or ran out of its
    /// budget).
    Abandoned,
    SentCancelled,
    SentDeadlineExceeded,
}

/// What is left once `outcome` was handed out: the state again if it is one, else `Consumed`.
#[inline]
fn after<T, E>(outcome: &Outcome<T, E>) -> Inbox<T, E> {
    match outcome {
        Err(Error::Abandoned) => Inbox::Abandoned,
        Err(Error::Cancelled) => Inbox::SentCancelled,
        Err(Error::DeadlineExceeded) => Inbox::SentDeadlineExceeded,
        _ => Inbox::Taken,
    }
}

impl<T, E> ConcurrentFuture<T, E> {
    #[inline]
    pub(crate) fn new(receiver: oneshot::Receiver<Outcome<T, E>>, link: Arc<Link>) -> Self {
        ConcurrentFuture {
            inbox: Inbox::Channel(receiver),
            link: Some(link),
        }
    }

    /// A future that already has its outcome: nobody will ever complete, cancel or wait for it
    /// asynchronously, so it needs no shared state (one allocation less than a promise's).
    #[inline(always)]
    pub(crate) fn completed(outcome: Outcome<T, E>) -> Self {
        let (sender, receiver) = oneshot::channel();
        // The receiver is right here, so the send cannot fail.
        drop(sender.send(outcome));
        ConcurrentFuture {
            inbox: Inbox::Channel(receiver),
            link: None,
        }
    }

    /// Tells a producer waiting for it that nobody wants the outcome any more.
    fn close(&self) {
        if let Some(link) = &self.link {
            link.close();
            // Nobody waits any more: the producer must not keep a waker (a task's) until it
            // finishes, nor wake it then.
            drop(link.take_waker());
        }
    }

    /// Whether the future has completed: an outcome is there (value or error), it was cancelled
    /// or abandoned, or its outcome was taken. Never blocks; one or two atomic loads (a lock,
    /// once done callbacks are registered). While done callbacks run on the completing thread,
    /// `done()` is false, as a zero-timeout wait finds nothing yet.
    ///
    /// ```
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// assert!(!future.done());
    /// drop(promise);
    /// assert!(future.done()); // abandoned counts as done
    /// ```
    #[inline]
    pub fn done(&self) -> bool {
        match &self.inbox {
            Inbox::Channel(receiver) => channel_finished(receiver),
            Inbox::Relayed(relay) => relay.delivered(),
            // Every other state is final.
            _ => true,
        }
    }

    /// Takes the outcome if there is one. Never blocks. Returns:
    /// - `None` if the producer has not completed the future yet;
    /// - `Some(Ok(value))` or `Some(Err(Error::Failed(e)))` (or `Panicked`) the first time after
    ///   completion, and `Some(Err(Error::Consumed))` after that;
    /// - `Some(Err(Error::Cancelled))` or `Some(Err(Error::Abandoned))`, every time, once the
    ///   future is in that state.
    ///
    /// Cost: one atomic load while pending; when ready, `oneshot`'s `try_recv` (a load, a store
    /// and a fence) and freeing the channel.
    ///
    /// ```
    /// use apifuture::Error;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let concurrent = future.future();
    /// assert!(concurrent.try_result().is_none());
    /// promise.set_result(1);
    /// assert_eq!(concurrent.try_result().unwrap().unwrap(), 1);
    /// assert!(matches!(concurrent.try_result(), Some(Err(Error::Consumed))));
    /// ```
    #[inline(always)]
    pub fn try_result(&mut self) -> Option<Outcome<T, E>> {
        let Inbox::Channel(receiver) = &self.inbox else {
            return self.try_result_elsewhere();
        };
        let outcome = match receiver.try_recv() {
            Ok(outcome) => outcome,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => Err(Error::Abandoned),
        };
        let next = after(&outcome);
        // Only a receiver to drop here: keep the other states' drop code off this path.
        if let Inbox::Channel(receiver) = mem::replace(&mut self.inbox, next) {
            drop(receiver);
        }
        Some(outcome)
    }

    /// [`try_result`](Self::try_result) for every state but a plain channel.
    #[inline(never)]
    fn try_result_elsewhere(&mut self) -> Option<Outcome<T, E>> {
        let outcome = match &self.inbox {
            Inbox::Channel(_) => return self.try_result(),
            Inbox::Relayed(relay) => relay.try_take()?,
            Inbox::Taken => Err(Error::Consumed),
            Inbox::Cancelled => Err(Error::Cancelled),
            Inbox::Abandoned => Err(Error::Abandoned),
            Inbox::SentCancelled => Err(Error::Cancelled),
            Inbox::SentDeadlineExceeded => Err(Error::DeadlineExceeded),
        };
        self.record(&outcome);
        Some(outcome)
    }

    /// Blocks the calling thread until the outcome is there or `timeout` has passed. `timeout`
    /// is a `Duration` or an `Option<Duration>`; `None` waits indefinitely. Returns:
    /// - `Ok(value)` once the producer set a value;
    /// - `Err(Error::Failed(e))` (or `Panicked`) once the producer failed;
    /// - `Err(Error::Timeout)` if `timeout` passed first: the future stays pending and nothing is
    ///   lost, wait again to get the outcome. `Duration::ZERO` only takes an outcome that is
    ///   already there;
    /// - `Err(Error::Abandoned)` if the producer went away without completing it;
    /// - `Err(Error::Cancelled)` if it was cancelled, `Err(Error::Consumed)` if the outcome was
    ///   already taken;
    /// - `Err(Error::WouldBlockExecutor)` on the crate's background executor thread (in a
    ///   [`spawn_async`](crate::spawn_async) task), where it may not park: `.await` there.
    ///
    /// A future already complete is answered without reading the clock or making a syscall. A
    /// timeout too large for [`Instant`] (like `Duration::MAX`) waits indefinitely. Waking is
    /// never early; it may be late by the operating system's scheduling delay.
    ///
    /// Inside another executor's async task this blocks its thread until it returns: other
    /// tasks on that thread stall, and a task that would complete this future may deadlock.
    /// Prefer `.await` there.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let concurrent = future.future();
    /// assert!(concurrent.result(Duration::from_millis(1)).unwrap_err().is_timeout());
    /// promise.set_result(9);
    /// assert_eq!(concurrent.result(None).unwrap(), 9);
    /// ```
    #[inline]
    pub fn result(&mut self, timeout: impl Into<Option<Duration>>) -> Outcome<T, E> {
        self.wait(Deadline::from_timeout(timeout.into()))
    }

    /// Like [`result`](Self::result), with a point in time instead of a duration. A deadline in
    /// the past only takes an outcome that is already there.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// promise.set_result(2);
    /// let deadline = Instant::now() + Duration::from_secs(1);
    /// assert_eq!(future.future().result_deadline(deadline).unwrap(), 2);
    /// ```
    #[inline]
    pub fn result_deadline(&mut self, deadline: Instant) -> Outcome<T, E> {
        self.wait(Deadline::At(deadline))
    }

    /// The blocking wait: in oneshot's own receive (parking without wakers) while the outcome
    /// comes through the channel, through the relay otherwise.
    #[inline]
    pub(crate) fn wait(&mut self, deadline: Deadline) -> Outcome<T, E> {
        match self.try_result() {
            Some(outcome) => outcome,
            None => self.wait_pending(deadline),
        }
    }

    /// [`wait`](Self::wait) for a future found pending, out of line so that the ready path
    /// stays small where it is inlined.
    #[inline(never)]
    fn wait_pending(&mut self, deadline: Deadline) -> Outcome<T, E> {
        let Inbox::Channel(receiver) = &self.inbox else {
            return timeout::block_on(deadline, |cx| {
                if self.poll_ready(cx).is_pending() {
                    return Wait::Until(None);
                }
                self.try_result().map_or(Wait::Until(None), Wait::Ready)
            })
            .outcome(|| self.try_result());
        };
        if deadline.looks_only() {
            return Err(Error::Timeout);
        }
        let received = timeout::parked(|| match deadline {
            Deadline::Never => receiver
                .recv_ref()
                .map_err(|_| RecvTimeoutError::Disconnected),
            Deadline::After(timeout) => receiver.recv_timeout(timeout),
            Deadline::At(at) => receiver.recv_deadline(at),
        });
        let outcome = match received {
            Some(Ok(outcome)) => outcome,
            Some(Err(RecvTimeoutError::Disconnected)) => Err(Error::Abandoned),
            Some(Err(RecvTimeoutError::Timeout)) => return Err(Error::Timeout),
            // On the executor's thread: a deadline already past is a timeout, as anywhere.
            None if matches!(deadline, Deadline::At(at) if at <= Instant::now()) => {
                return Err(Error::Timeout);
            }
            None => return Err(Error::WouldBlockExecutor),
        };
        self.record(&outcome);
        outcome
    }

    /// Cancels the future if it has not completed, telling the producer that nobody waits any
    /// more ([`Promise::is_cancelled`](crate::Promise::is_cancelled) turns true). Returns:
    /// - `true` if the future is now cancelled (also when it already was): every later wait
    ///   returns `Err(Error::Cancelled)`, and a value the producer sets is dropped;
    /// - `false` if it had already completed (a value, an error, or its producer went away) or
    ///   its outcome was taken: nothing changes (an outcome not taken yet stays for the next
    ///   wait).
    ///
    /// ```
    /// use apifuture::Error;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let concurrent = future.future();
    /// assert!(concurrent.cancel());
    /// assert!(concurrent.cancel()); // still cancelled
    /// assert!(promise.is_cancelled());
    /// promise.set_result(1); // dropped, no panic
    /// assert!(matches!(concurrent.result(None), Err(Error::Cancelled)));
    /// ```
    // Out of line: dropping a pending future calls it, and a taken one's drop stays small.
    #[inline(never)]
    pub fn cancel(&mut self) -> bool {
        let cancelled = match &self.inbox {
            // Dropping the receiver (below) closes the channel, which the producer sees.
            Inbox::Channel(receiver) => !channel_finished(receiver),
            // The relay decides under its lock, so the producer's delivery and this cancel have
            // one winner, and the callbacks see that one.
            Inbox::Relayed(relay) => relay.cancel(),
            Inbox::Cancelled => return true,
            _ => return false,
        };
        if cancelled {
            self.inbox = Inbox::Cancelled;
            self.close();
        }
        cancelled
    }

    /// Runs `callback` with the outcome once the future completes, before any waiter is woken;
    /// the outcome stays for the waiter. See the awaitable future's
    /// [`add_done_callback`](crate::AwaitableConcurrentFuture::add_done_callback).
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// let (seen, log) = mpsc::channel();
    /// future.future().add_done_callback(move |outcome| seen.send(outcome.is_ok()).unwrap());
    /// promise.set_result(4);
    /// assert_eq!(log.recv().unwrap(), true);
    /// assert_eq!(future.future().result(None).unwrap(), 4);
    /// ```
    pub fn add_done_callback(
        &mut self,
        callback: impl FnOnce(&Result<T, Error<E>>) + Send + 'static,
    ) where
        T: Send + 'static,
        E: Send + 'static,
    {
        let callback: Callback<T, E> = Box::new(callback);
        match &self.inbox {
            Inbox::Channel(_) => self.relay(Some(callback)),
            Inbox::Relayed(relay) => relay.add(callback),
            Inbox::Taken => run_callback(callback, &Err(Error::Consumed)),
            Inbox::Cancelled => run_callback(callback, &Err(Error::Cancelled)),
            Inbox::Abandoned => run_callback(callback, &Err(Error::Abandoned)),
            Inbox::SentCancelled => run_callback(callback, &Err(Error::Cancelled)),
            Inbox::SentDeadlineExceeded => run_callback(callback, &Err(Error::DeadlineExceeded)),
        }
    }

    /// Moves the channel into a [`Relay`] (`first` its first callback) whose waker takes the
    /// producer's wake-up from now on; the consumer and the producer's waker slot both hold it.
    fn relay(&mut self, first: Option<Callback<T, E>>)
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let Inbox::Channel(receiver) = mem::replace(&mut self.inbox, Inbox::Taken) else {
            return;
        };
        // Only a future that stays awaitable has a waiter to keep; a detached one lets it go.
        let keeps_waiter = first.is_some();
        let relay = Arc::new(Relay::new(receiver, first));
        self.inbox = Inbox::Relayed(Arc::clone(&relay));
        // A future made complete has no producer: deliver at once.
        let Some(link) = &self.link else {
            return relay.deliver();
        };
        // The task that last polled the future keeps its wake-up: the relay wakes it once the
        // callbacks ran.
        match link.take_waker() {
            Some(waiter) if keeps_waiter => {
                let _ = relay.poll_delivered(&mut Context::from_waker(&waiter));
            }
            left => drop(left),
        }
        let waker = Waker::from(Arc::clone(&relay));
        if link
            .poll_finished(&mut Context::from_waker(&waker), || relay.finished())
            .is_ready()
        {
            // The relay, and the outcome it delivers, must not stay in the link's slot.
            drop(link.take_waker());
            relay.deliver();
        }
    }

    /// Lets go of the future without telling the producer: it completes as if someone were
    /// still waiting (a `spawn` job runs, [`Promise::is_cancelled`](crate::Promise::is_cancelled)
    /// stays false), and the outcome is dropped when it comes (callbacks still run).
    pub(crate) fn detach(mut self)
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        match &self.inbox {
            Inbox::Channel(receiver) if !channel_finished(receiver) => {
                // Dropping the receiver would read as a cancellation to the producer: a relay
                // without callbacks keeps the channel open until the outcome comes.
                self.relay(None);
            }
            // Nobody waits any more: the relay must not keep, nor wake, the last waiter's waker.
            Inbox::Relayed(relay) => relay.forget_waiter(),
            _ => {}
        }
        // The relay (if any) stays with the producer's waker slot; nothing is cancelled.
        self.inbox = Inbox::Taken;
    }

    /// Whether the outcome is a failure (any error but `Consumed`), looked at without handing
    /// it out; `None` while pending.
    pub(crate) fn peek_failed(&mut self) -> Option<bool> {
        match &self.inbox {
            Inbox::Channel(receiver) => match receiver.try_recv() {
                Ok(outcome) => {
                    let failed = is_failure(&outcome);
                    self.inbox = Inbox::Relayed(Arc::new(Relay::holding(outcome)));
                    Some(failed)
                }
                Err(TryRecvError::Empty) => None,
                Err(TryRecvError::Disconnected) => {
                    self.inbox = Inbox::Abandoned;
                    Some(true)
                }
            },
            Inbox::Relayed(relay) => relay.peek_failed(),
            Inbox::Taken => Some(false),
            // A state: a failure every time.
            _ => Some(true),
        }
    }

    /// Whether [`cancel`](Self::cancel) succeeded on this future.
    ///
    /// ```
    /// let (_promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// assert!(!future.future().cancelled());
    /// future.future().cancel();
    /// assert!(future.future().cancelled());
    /// ```
    pub fn cancelled(&self) -> bool {
        matches!(self.inbox, Inbox::Cancelled)
    }

    /// Registers `cx` to be woken when the producer finishes; ready once
    /// [`try_result`](Self::try_result) would return `Some`.
    #[inline]
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        match (&self.inbox, &self.link) {
            // Done is not enough here: the callbacks may still be running on the producer's
            // thread, and until they have run there is nothing to take.
            (Inbox::Relayed(relay), _) => relay.poll_delivered(cx),
            _ if self.done() => Poll::Ready(()),
            (_, Some(link)) => link.poll_finished(cx, || self.done()),
            // Made complete: `done` cannot have been false.
            (_, None) => Poll::Ready(()),
        }
    }

    /// Moves to the final state that follows handing out `outcome`.
    #[inline]
    fn record(&mut self, outcome: &Outcome<T, E>) {
        if matches!(self.inbox, Inbox::Channel(_) | Inbox::Relayed(_)) {
            self.inbox = after(outcome);
        }
    }

    /// Where the future stands, in a word, for `Debug`: `pending`, `ready` (an outcome to
    /// take), `taken`, `cancelled`, `abandoned` or `deadline exceeded`. Never waits for a lock
    /// another thread holds.
    pub(crate) fn describe(&self) -> &'static str {
        match &self.inbox {
            Inbox::Channel(receiver) if receiver.has_message() => "ready",
            Inbox::Channel(receiver) if receiver.is_closed() => "abandoned",
            Inbox::Channel(_) => "pending",
            Inbox::Relayed(relay) => relay.describe(),
            Inbox::Taken => "taken",
            Inbox::Cancelled | Inbox::SentCancelled => "cancelled",
            Inbox::Abandoned => "abandoned",
            Inbox::SentDeadlineExceeded => "deadline exceeded",
        }
    }
}

impl<T, E> fmt::Debug for ConcurrentFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConcurrentFuture")
            .field("state", &self.describe())
            .finish_non_exhaustive()
    }
}

impl<T, E> Drop for ConcurrentFuture<T, E> {
    /// Dropping a future that is still pending cancels it: the producer hears of it (see
    /// [`Promise::cancelled`](crate::Promise::cancelled)) and pending done callbacks run with
    /// `Cancelled`. A future whose outcome was taken costs nothing here.
    #[inline(always)]
    fn drop(&mut self) {
        if matches!(self.inbox, Inbox::Channel(_) | Inbox::Relayed(_)) {
            self.cancel();
        }
    }
}
