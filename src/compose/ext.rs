//! [`ApiFutureExt`]: the combinators every [`ApiFuture`] gets.

use std::future::Future;
use std::pin::Pin;

use super::boxed::BoxApiFuture;
use super::map::{MapFailure, MapValue, ThenCall};
use super::shared::SharedFuture;
use crate::api_future::ApiFuture;
use crate::core::awaitable::AwaitableConcurrentFuture;
use crate::run::executor;

/// Combinators for every [`ApiFuture`]. Each result is again an `ApiFuture`: blocked on, awaited,
/// timed out without loss (a `Timeout` leaves the inner future's value for the next wait). A
/// closure that panics gives `Error::Panicked`. Closures are `Send + 'static`: each combinator
/// stores its closure boxed (one allocation), so that the result stays usable in generic `Send`
/// code whatever lifetimes the value and error types carry.
pub trait ApiFutureExt: ApiFuture {
    /// The value passed through `f`; errors unchanged.
    ///
    /// ```
    /// use apifuture::{ready, ApiFuture, ApiFutureExt, BoxError};
    /// let mut len = ready::<&str, BoxError>("four").map_value(str::len);
    /// assert_eq!(len.result(None).unwrap(), 4);
    /// ```
    fn map_value<U, F>(self, f: F) -> MapValue<Self, U>
    where
        Self: Sized,
        F: FnOnce(Self::Value) -> U + Send + 'static,
        U: Send,
    {
        MapValue::new(self, Box::new(f))
    }

    /// The future `f` makes from the value: a second call that needs the first's answer.
    ///
    /// `f` returns an [`ApiFuture`], not any future: wrap an `async` block in
    /// [`from_future`](crate::from_future) (`then_call(|v| from_future(async move { .. }))`),
    /// whose output is a `Result` with the same failure type.
    ///
    /// ```
    /// use apifuture::{ready, spawn, ApiFutureExt, BoxError};
    /// # futures_lite::future::block_on(async {
    /// let id = ready::<u32, BoxError>(7);
    /// let name = id.then_call(|id| spawn(move || Ok(format!("run-{id}")))).await;
    /// assert_eq!(name.unwrap(), "run-7");
    /// # });
    /// ```
    fn then_call<B, F>(self, f: F) -> ThenCall<Self, B>
    where
        Self: Sized,
        B: ApiFuture<Failure = Self::Failure>,
        F: FnOnce(Self::Value) -> B + Send + 'static,
    {
        ThenCall::new(self, Box::new(f), |error| error)
    }

    /// The operation's own error (`Error::Failed`) passed through `f`; other outcomes unchanged.
    ///
    /// ```
    /// use apifuture::{failed, ApiFuture, ApiFutureExt, Error};
    /// let mut call = failed::<u32, u16>(503).map_failure(|code| format!("HTTP {code}"));
    /// assert_eq!(call.result(None), Err(Error::Failed("HTTP 503".to_string())));
    /// ```
    fn map_failure<E2, F>(self, f: F) -> MapFailure<Self, E2>
    where
        Self: Sized,
        F: FnOnce(Self::Failure) -> E2 + Send + 'static,
        E2: Send,
    {
        MapFailure::new(self, Box::new(f))
    }

    /// Shares the outcome among any number of waiters: see [`SharedFuture`]. The value must be
    /// `Clone + Sync`, the failure type `Send + Sync` (`BoxError` will do): the handles' failure
    /// type is `Arc<Self::Failure>`, which displays as the original
    /// ([`Error::from_shared`](crate::Error::from_shared) boxes a shared `BoxError` again, to
    /// gather it with other calls' errors).
    ///
    /// ```
    /// use apifuture::{failed, ready, ApiFuture, ApiFutureExt, BoxError};
    /// let mut a = ready::<u8, BoxError>(5).into_shared();
    /// let mut b = a.clone();
    /// assert_eq!((a.result(None).unwrap(), b.result(None).unwrap()), (5, 5));
    /// let mut failing = failed::<u8, BoxError>("no".into()).into_shared();
    /// assert_eq!(failing.result(None).unwrap_err().to_string(), "operation failed: no");
    /// ```
    fn into_shared(self) -> SharedFuture<Self::Value, Self::Failure>
    where
        Self: Sized + 'static,
        Self::Value: Clone + Sync + 'static,
        Self::Failure: Sync + 'static,
    {
        SharedFuture::new(self)
    }

    /// Erases the future's type: see [`BoxApiFuture`]. One allocation.
    ///
    /// ```
    /// use apifuture::{ready, ApiFutureExt, BoxApiFuture, BoxError};
    /// let calls: Vec<BoxApiFuture<u32>> =
    ///     vec![ready::<u32, BoxError>(1).into_boxed(), ready::<u32, BoxError>(1).map_value(|v| v + 1).into_boxed()];
    /// assert_eq!(calls.len(), 2);
    /// ```
    fn into_boxed(self) -> BoxApiFuture<Self::Value, Self::Failure>
    where
        Self: Sized + 'static,
    {
        BoxApiFuture::new(self)
    }

    /// Runs the future on the crate's background executor now, so that it progresses with
    /// nobody waiting, and returns an [`AwaitableConcurrentFuture`] of its outcome.
    ///
    /// A [`Retry`](crate::Retry), a [`Polling`](crate::Polling), a
    /// [`FromFuture`](crate::FromFuture) and combinators over them only progress while something
    /// waits on them; an SDK method that returns `.background()` of one behaves like a call
    /// submitted at once (the seed SDK's calls do). A future its producer already drives (an
    /// `AwaitableConcurrentFuture`) comes back as it is, at no cost.
    ///
    /// - Dropping or cancelling the returned future drops `self` on the executor, which cancels
    ///   what it had in flight (a retry's attempt, a spawned job).
    /// - A panic while driving `self` gives `Error::Panicked`; an outcome already taken,
    ///   `Error::Consumed`.
    /// - The executor is one thread (see [`spawn_async`](crate::spawn_async)): awaiting inside a
    ///   background task is fine; a blocking wait there that would have to wait gives up at once
    ///   (see there).
    /// - Futures that need a runtime of their own (tokio's timers or sockets: reqwest, hyper,
    ///   tonic) panic here with "there is no reactor running": use
    ///   [`background_with`](ApiFutureExt::background_with) on that runtime instead.
    ///
    /// ```
    /// use std::time::Duration;
    /// use apifuture::{poll_until_ready, ready, ApiFuture, ApiFutureExt, BoxError, Progress, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
    /// let mut job = poll_until_ready(policy, |probe| {
    ///     ready::<_, BoxError>(if probe < 3 { Progress::Pending } else { Progress::Ready(probe) })
    /// })
    /// .background(); // polling goes on from here, with nobody waiting
    /// std::thread::sleep(Duration::from_millis(50));
    /// assert_eq!(job.result(Duration::from_secs(30)).unwrap(), 3);
    /// ```
    fn background(self) -> AwaitableConcurrentFuture<Self::Value, Self::Failure>
    where
        Self: Sized + 'static,
        Self::Value: 'static,
        Self::Failure: 'static,
    {
        executor::background(self)
    }

    /// Like [`background`](ApiFutureExt::background), on a runtime the caller picks: `spawn`
    /// gets the task that drives `self` and hands it to the runtime, and the returned future
    /// gets its outcome. This is how an SDK whose transport needs tokio (reqwest, hyper-on-tokio,
    /// tonic) makes its calls eager: `.background_with(move |task| { handle.spawn(task); })`,
    /// with the crate still free of tokio. The task holds no borrow and no thread: any
    /// executor's `spawn` takes it.
    ///
    /// - Dropping or cancelling the returned future cancels the task (it drops `self` when next
    ///   woken, as with `background()`).
    /// - A spawner that drops the task without running it (a runtime shutting down), or that
    ///   panics, gives `Err(Error::Abandoned)`, never a hang.
    /// - A future that is already eager (an `AwaitableConcurrentFuture`) comes back as it is;
    ///   `spawn` is not called.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use std::time::Duration;
    /// use apifuture::{from_future, ApiFuture, ApiFutureExt, BoxError};
    ///
    /// // A stand-in for a runtime: a thread that runs the tasks it is handed.
    /// let (runtime, tasks) = mpsc::channel::<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>>();
    /// std::thread::spawn(move || {
    ///     for task in tasks {
    ///         futures_lite::future::block_on(task);
    ///     }
    /// });
    /// let mut call = from_future(async { Ok::<_, BoxError>(7) })
    ///     .background_with(move |task| runtime.send(task).unwrap());
    /// assert_eq!(call.result(Duration::from_secs(30)).unwrap(), 7);
    /// ```
    fn background_with<S>(self, spawn: S) -> AwaitableConcurrentFuture<Self::Value, Self::Failure>
    where
        Self: Sized + 'static,
        Self::Value: 'static,
        Self::Failure: 'static,
        S: FnOnce(Pin<Box<dyn Future<Output = ()> + Send + 'static>>),
    {
        executor::background_with(self, spawn)
    }

    /// Lets the work finish with nobody waiting for it; its outcome is dropped when it comes.
    ///
    /// Unlike dropping the future, this tells the producer nothing:
    /// [`Promise::is_cancelled`](crate::Promise::is_cancelled) stays false, a
    /// [`spawn`](crate::spawn) job that has not started still runs, and done callbacks still
    /// run. A future that only progresses while driven (a retry, a poll,
    /// [`from_future`](crate::from_future)) is driven to its end on the background executor.
    /// Detaching a future that is already complete, cancelled or consumed just drops it.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use apifuture::{spawn, ApiFutureExt, BoxError};
    ///
    /// let (sent, received) = mpsc::channel();
    /// spawn(move || {
    ///     sent.send("ran").unwrap();
    ///     Ok::<_, BoxError>(())
    /// })
    /// .detach(); // the job runs although nobody keeps its future
    /// assert_eq!(received.recv().unwrap(), "ran");
    /// ```
    fn detach(self)
    where
        Self: Sized + 'static,
        Self::Value: 'static,
        Self::Failure: 'static,
    {
        executor::detach(self);
    }
}

impl<A: ApiFuture + ?Sized> ApiFutureExt for A {}
