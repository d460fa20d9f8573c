//! The producing end of a future: [`Promise`] and the [`promise`] constructor.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::api_future::fused_future;
use crate::core::awaitable::AwaitableConcurrentFuture;
use crate::core::concurrent::ConcurrentFuture;
use crate::core::link::Link;
use crate::error::{BoxError, Error, Outcome};
use crate::timeout::{self, Deadline};

/// The producing end of an [`AwaitableConcurrentFuture`]: completes it once, with a value or
/// an error, which consumes the promise. Dropping it without completing gives the waiter
/// [`Error::Abandoned`], never a hang. A promise is `Send`, so the work can move to any thread.
///
/// # Examples
///
/// ```
/// use apifuture::{promise, ApiFuture};
///
/// let (promise, mut future) = promise::<String, std::io::Error>();
/// std::thread::spawn(move || promise.set_result("done".to_string()));
/// assert_eq!(future.result(None).unwrap(), "done");
/// ```
#[must_use = "dropping a promise without completing it abandons its future"]
pub struct Promise<T, E = BoxError> {
    // Dropped in this order: the sender (sent or not), then the announcement.
    sender: oneshot::Sender<Outcome<T, E>>,
    link: Finishing,
}

/// Creates a pending future and the promise that completes it.
///
/// # Examples
///
/// ```
/// use apifuture::promise;
///
/// let (promise, future) = promise::<u32, std::io::Error>();
/// promise.set_result(1);
/// # futures_lite::future::block_on(async {
/// assert_eq!(future.await.unwrap(), 1);
/// # });
/// ```
#[inline(always)]
pub fn promise<T, E>() -> (Promise<T, E>, AwaitableConcurrentFuture<T, E>) {
    let (sender, receiver) = oneshot::channel();
    // Built in place, not on the stack first: see `link.rs`.
    let link = Arc::<Link>::default();
    let promise = Promise {
        sender,
        link: Finishing(Arc::clone(&link)),
    };
    let future = ConcurrentFuture::new(receiver, link);
    (promise, AwaitableConcurrentFuture::new(future))
}

impl<T, E> Promise<T, E> {
    /// Completes the future with a value, or drops the value here if the future was cancelled
    /// or dropped. Never waits for the consumer, but runs the future's done callbacks, if any,
    /// here first; never panics, unless the dropped value's own `Drop` does.
    ///
    /// ```
    /// use apifuture::ApiFuture;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// promise.set_result(3);
    /// assert_eq!(future.try_result().unwrap().unwrap(), 3);
    /// ```
    #[inline]
    pub fn set_result(self, value: T) {
        self.send(Ok(value));
    }

    /// Completes the future with the operation's error: the waiter gets
    /// [`Error::Failed`]`(error)`.
    ///
    /// ```
    /// use apifuture::{ApiFuture, Error};
    /// let (promise, mut future) = apifuture::promise::<u8, &str>();
    /// promise.set_error("nope");
    /// assert_eq!(future.try_result(), Some(Err(Error::Failed("nope"))));
    /// ```
    #[inline]
    pub fn set_error(self, error: E) {
        self.send(Err(Error::Failed(error)));
    }

    /// Completes the future with `Ok(value)` or `Err(error)`, as
    /// [`set_result`](Promise::set_result) or [`set_error`](Promise::set_error) would.
    ///
    /// ```
    /// use apifuture::ApiFuture;
    /// let (promise, mut future) = apifuture::promise::<u16, std::num::ParseIntError>();
    /// promise.complete("42".parse::<u16>());
    /// assert_eq!(future.try_result().unwrap().unwrap(), 42);
    /// ```
    #[inline]
    pub fn complete(self, outcome: Result<T, E>) {
        self.send(outcome.map_err(Error::Failed));
    }

    /// Whether nobody waits any more: the future was cancelled or dropped. Long-running work
    /// should check it and stop early. One atomic load.
    ///
    /// ```
    /// let (promise, future) = apifuture::promise::<u8, std::io::Error>();
    /// assert!(!promise.is_cancelled());
    /// drop(future);
    /// assert!(promise.is_cancelled());
    /// ```
    #[inline]
    pub fn is_cancelled(&self) -> bool {
        // The consumer drops its receiver when it is cancelled or dropped, and only then (taking
        // the outcome needs a sent one, which needs this promise to be consumed).
        self.sender.is_closed()
    }

    /// Waits until nobody wants the outcome any more: the future was cancelled or dropped. A
    /// timed-out wait on the future does not count (the waiter may wait again), nor does taking
    /// the outcome, which needs this promise to have completed it. Use it to stop work early,
    /// for instance racing the request against it:
    ///
    /// ```
    /// use futures_lite::future;
    ///
    /// let (promise, future) = apifuture::promise::<u8, std::io::Error>();
    /// future::block_on(async {
    ///     let work = async { future::pending::<u8>().await }; // a request that takes forever
    ///     drop(future); // the caller gives up
    ///     let stopped = future::or(async { Some(work.await) }, async {
    ///         promise.cancelled().await;
    ///         None
    ///     })
    ///     .await;
    ///     assert_eq!(stopped, None);
    /// });
    /// ```
    pub fn cancelled(&self) -> WhenCancelled {
        WhenCancelled {
            link: Arc::clone(&self.link.0),
            key: 0,
            terminated: false,
        }
    }

    /// Blocks until the future is cancelled or dropped (true), or `timeout` passes (false).
    /// `timeout` is a `Duration` or an `Option<Duration>`; `None` waits indefinitely and
    /// `Duration::ZERO` only looks. As with [`cancelled`](Self::cancelled), a waiter's timeout
    /// does not count. Any number of threads sharing the promise (it is `Sync` when `T` and `E`
    /// are) may wait at once: each is woken. On the crate's background executor thread, where no
    /// blocking wait may park, it only looks, as `Duration::ZERO` does.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (promise, mut future) = apifuture::promise::<u8, std::io::Error>();
    /// assert!(!promise.wait_cancelled(Duration::from_millis(1)));
    /// std::thread::spawn(move || future.future().cancel());
    /// assert!(promise.wait_cancelled(Duration::from_secs(30)));
    /// ```
    pub fn wait_cancelled(&self, timeout: impl Into<Option<Duration>>) -> bool {
        if self.is_cancelled() {
            return true;
        }
        let deadline = Deadline::from_timeout(timeout.into());
        let mut cancelled = self.cancelled();
        timeout::block_on(deadline, |cx| Pin::new(&mut cancelled).poll(cx).into()).is_ready()
    }

    /// Sends any outcome, including the ones only the crate makes (`Panicked`).
    #[inline(always)]
    pub(crate) fn send(self, outcome: Outcome<T, E>) {
        let Promise { sender, link } = self;
        // An error here means the future is gone; dropping the outcome is all there is to do.
        drop(sender.send(outcome));
        drop(link);
    }
}

/// The producer's share of the link: dropping it, after the sender, announces that the producer
/// has finished (sent, or dropped its sender).
struct Finishing(Arc<Link>);

impl Drop for Finishing {
    #[inline]
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// The future of [`Promise::cancelled`]: ready once the promise's future is cancelled or
/// dropped while pending. It holds only the state the two ends share, not the promise: it is
/// `Send` and `'static` whatever the promise's `T` and `E` are, and an async block can race it
/// against the work and still complete (move) the promise in the other branch. Any number of
/// them may wait at once (one per task racing its part of the work), and each is woken; one
/// dropped before that takes its waker with it. Once the promise is complete nothing cancels
/// it, even the future's drop: one still waiting then waits for ever, so race it against the
/// work it is there to stop, which ends too.
#[must_use = "futures do nothing unless polled"]
pub struct WhenCancelled {
    link: Arc<Link>,
    /// This waiter's key in the producer's waker list; 0 until it first registers.
    key: usize,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl WhenCancelled {
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Every way a pending consumer goes away (cancel, drop, through the callback relay or
        // not) sets the word's CLOSED bit.
        self.link.poll_closed(&mut self.key, cx)
    }
}

fused_future!([] WhenCancelled => (), Self::poll_closed, []);

impl Drop for WhenCancelled {
    fn drop(&mut self) {
        if self.key != 0 {
            self.link.leave_closed(self.key);
        }
    }
}

impl fmt::Debug for WhenCancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WhenCancelled")
            .field("cancelled", &self.link.closed())
            .finish_non_exhaustive()
    }
}

impl<T, E> fmt::Debug for Promise<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// Loom models of the callback relay (`relay.rs`) over a real promise: the producer sends and
/// (through its wake-up) delivers while the consumer adds callbacks, cancels and waits, one
/// call after another on one thread as in real use (they take `&mut` of its future). The
/// oneshot channel's atomics are std's: loom runs them but does not explore their orders.
#[cfg(all(test, apifuture_loom))]
pub(crate) mod loom_models {
    use std::sync::{Arc, Mutex as StdMutex};

    use loom::thread::{self, JoinHandle};

    use super::promise;
    use crate::core::awaitable::AwaitableConcurrentFuture;
    use crate::error::{Error, Outcome};
    use crate::sync::model::{Copies, Tracked, check};

    /// What a callback or the waiter got.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Seen {
        Value(u32),
        Cancelled,
        Other,
    }

    fn seen(outcome: &Outcome<Tracked, ()>) -> Seen {
        match outcome {
            Ok(value) => Seen::Value(value.id),
            Err(Error::Cancelled) => Seen::Cancelled,
            Err(_) => Seen::Other,
        }
    }

    /// Which callback saw what. A std lock: nothing under it is a loom operation, so it is
    /// never contended. (An assert inside a callback would be caught by `run_callback`.)
    type Log = Arc<StdMutex<Vec<(u8, Seen)>>>;

    fn logging(log: &Log, name: u8) -> impl FnOnce(&Outcome<Tracked, ()>) + Send + 'static {
        let log = Arc::clone(log);
        move |outcome| log.lock().unwrap().push((name, seen(outcome)))
    }

    /// A future whose producer sends a value from its own thread.
    pub(crate) fn sent(
        copies: &Arc<Copies>,
    ) -> (AwaitableConcurrentFuture<Tracked, ()>, JoinHandle<()>) {
        let (promise, future) = promise::<Tracked, ()>();
        let copies = Arc::clone(copies);
        let producer = thread::spawn(move || promise.set_result(Tracked::new(1, &copies)));
        (future, producer)
    }

    fn sorted(log: &Log) -> Vec<(u8, Seen)> {
        let mut log = log.lock().unwrap().clone();
        log.sort();
        log
    }

    /// A producer sends a value while `consume` (adding callbacks, cancelling) runs, then the
    /// consumer waits. The callbacks (each once) and the waiter see the outcome `consume`
    /// expects; the value is dropped once, by the consumer or, refused, by the producer.
    fn relay_model(
        name: &str,
        consume: fn(&mut AwaitableConcurrentFuture<Tracked, ()>, &Log) -> Seen,
    ) {
        check(name, None, move || {
            let copies = Arc::new(Copies::default());
            let log = Log::default();
            let (mut future, producer) = sent(&copies);
            let expected = consume(&mut future, &log);
            let outcome = loom::future::block_on(&mut future);
            assert_eq!(seen(&outcome), expected);
            assert_eq!(sorted(&log), [(1, expected), (2, expected)]);
            drop((outcome, future));
            producer.join().unwrap();
            copies.assert_all_dropped();
        });
    }

    /// Delivery races the first callback's relay set-up, a second callback and the waiter's
    /// own deliveries; the waiter is woken.
    #[test]
    fn deliver_vs_add_vs_wait() {
        relay_model("relay: deliver vs add vs wait", |future, log| {
            future.add_done_callback(logging(log, 1));
            future.add_done_callback(logging(log, 2));
            Seen::Value(1)
        });
    }

    /// Delivery races a callback added by the task awaiting the future, after a poll that
    /// found it pending: the task's wake-up moves into the relay, and it is woken.
    #[test]
    fn deliver_vs_a_callback_added_after_a_poll() {
        check(
            "relay: deliver vs a callback after a poll",
            None,
            move || {
                let copies = Arc::new(Copies::default());
                let log = Log::default();
                let (mut future, producer) = sent(&copies);
                let mut hooked = false;
                let outcome = loom::future::block_on(std::future::poll_fn(|cx| {
                    let polled = std::pin::Pin::new(&mut future).poll(cx);
                    if polled.is_pending() && !hooked {
                        hooked = true;
                        future.add_done_callback(logging(&log, 1));
                    }
                    polled
                }));
                assert_eq!(seen(&outcome), Seen::Value(1));
                let expected: &[(u8, Seen)] = if hooked { &[(1, Seen::Value(1))] } else { &[] };
                assert_eq!(sorted(&log), expected);
                drop((outcome, future));
                producer.join().unwrap();
                copies.assert_all_dropped();
            },
        );
    }

    /// Delivery races a cancel: one of them wins, and the callbacks (queued before the cancel
    /// or added after it) and the waiter all see the winner's outcome.
    #[test]
    fn deliver_vs_cancel() {
        relay_model("relay: deliver vs cancel", |future, log| {
            future.add_done_callback(logging(log, 1));
            let cancelled = future.future().cancel();
            future.add_done_callback(logging(log, 2));
            [Seen::Value(1), Seen::Cancelled][usize::from(cancelled)]
        });
    }
}
