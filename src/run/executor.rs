//! The background executor: one thread, started by the first call that needs it and kept for
//! the process, running [`spawn_async`] tasks and the futures that
//! [`background`](crate::ApiFutureExt::background) and [`detach`](crate::ApiFutureExt::detach)
//! hand it. It is `async-executor`'s, driven by `async_io::block_on`, so when idle the thread
//! runs async-io's reactor and timers.

use std::any::Any;
use std::future::{self, Future};
use std::pin::Pin;
use std::sync::{Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread;

use async_executor::Executor;

use crate::api_future::ApiFuture;
use crate::core::awaitable::AwaitableConcurrentFuture;
use crate::core::promise::{Promise, WhenCancelled, promise};
use crate::error::Error;
use crate::error::Outcome;
use crate::panic::{caught, drop_caught};
use crate::sync::unpoisoned;
use crate::timeout;

/// Runs `fut` on a background executor thread that the crate starts lazily, and returns its
/// future: an SDK call written once in async code then serves blocking callers and async callers
/// alike (the Python SDK's background event loop). Outcomes of the future:
/// - `Ok(value)` or `Err(Error::Failed(e))`: what `fut` resolved to;
/// - `Err(Error::Panicked(message))`: polling `fut` panicked (the executor thread survives);
/// - `Err(Error::Cancelled)`: the future was [cancelled](crate::ConcurrentFuture::cancel);
/// - `Err(Error::Abandoned)`: the executor thread could not be started (the system refused a
///   new thread); the next call tries again.
///
/// # Cancellation
///
/// Dropping or cancelling the returned future cancels the task: the cancellation wakes it, and
/// it drops `fut` without polling it again. A task cancelled before it first ran never polls
/// `fut`. A wait that times out cancels nothing: the task runs on and a later wait gets its
/// outcome.
///
/// # One thread
///
/// Every task runs on one thread, named `apifuture-async`. It suits tasks that spend their time
/// awaiting I/O and timers (async-io, async-net, async channels, other `ApiFuture`s with
/// `.await`). A task that blocks instead (`std::thread::sleep`, blocking I/O, a long
/// computation, another crate's `block_on`) stalls every other task until it returns, and
/// deadlocks if what it waits for is another task on this thread. This crate's own blocking
/// waits know the thread: one that would have to wait gives up at once instead of stalling
/// every task. [`result`](crate::ApiFuture::result) and [`join_all`](crate::join_all) give
/// [`Error::WouldBlockExecutor`] for what is not done; [`wait`](crate::wait),
/// [`as_completed`](crate::as_completed) and
/// [`Promise::wait_cancelled`](crate::Promise::wait_cancelled), which have no error to give,
/// return as if their timeout had passed. In a task, `.await`; hand blocking work to
/// [`spawn`](crate::spawn), whose pool grows.
///
/// # Futures that need tokio
///
/// The futures of tokio-based clients (reqwest, hyper, tonic) panic when polled outside a tokio
/// runtime, and this thread is not one. Hand them to your runtime instead: wrap the request in
/// [`from_future`](crate::from_future) (and [`retry`](crate::retry) it, if it should be), then
/// [`.background_with(move |task| { handle.spawn(task); })`](crate::ApiFutureExt::background_with)
/// with a `tokio::runtime::Handle`. Create the tokio futures inside the `async` block: a `retry`
/// makes its first attempt at once on the caller's thread, which may be outside tokio, where
/// `tokio::time::sleep(..)` panics; inside `async move { .. }` it only runs on the runtime. The
/// handle is the SDK's choice: one the user gives the client, or a runtime the SDK starts on a
/// thread of its own and keeps for the process (a client that owns a `Runtime` and is dropped
/// inside async code makes tokio panic: "Cannot drop a runtime in a context where blocking is
/// not allowed"). The returned future is waited on like any other, from a plain thread or any
/// executor; dropping or cancelling it ends the tokio task (and so the request) at once, a
/// timed-out wait does not. The crate itself needs no tokio for this; the repository's
/// `interop/tests/interop/tokio_bridge.rs` runs it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{spawn_async, ApiFuture, AwaitableConcurrentFuture};
///
/// /// An SDK call, written once in async code.
/// fn double_later(x: u32) -> AwaitableConcurrentFuture<u32, std::io::Error> {
///     spawn_async(async move {
///         async_io::Timer::after(Duration::from_millis(5)).await;
///         Ok(x * 2)
///     })
/// }
///
/// // A plain thread blocks on it.
/// assert_eq!(double_later(2).result(Duration::from_secs(30)).unwrap(), 4);
///
/// // Async code awaits it, on any executor.
/// # futures_lite::future::block_on(async {
/// assert_eq!(double_later(3).await.unwrap(), 6);
/// # });
/// ```
pub fn spawn_async<T, E, Fut>(fut: Fut) -> AwaitableConcurrentFuture<T, E>
where
    Fut: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let (promise, future) = promise();
    submit(
        Box::pin(async move { fut.await.map_err(Error::Failed) }),
        Some(promise),
    );
    future
}

/// [`ApiFutureExt::background`](crate::ApiFutureExt::background): a future that is already
/// driven by its producer comes back as it is; any other runs on the executor.
pub(crate) fn background<F>(future: F) -> AwaitableConcurrentFuture<F::Value, F::Failure>
where
    F: ApiFuture<Value: 'static, Failure: 'static> + 'static,
{
    match eager(future) {
        Ok(future) => future,
        Err(lazy) => {
            let (promise, future) = promise();
            submit(lazy, Some(promise));
            future
        }
    }
}

/// [`ApiFutureExt::background_with`](crate::ApiFutureExt::background_with): as
/// [`background`], on the runtime `spawn` hands the task to. A task the spawner drops (or a
/// spawner that panics) drops the promise with it: the waiter gets `Abandoned`.
pub(crate) fn background_with<F, S>(
    future: F,
    spawn: S,
) -> AwaitableConcurrentFuture<F::Value, F::Failure>
where
    F: ApiFuture<Value: 'static, Failure: 'static> + 'static,
    S: FnOnce(Pin<Box<dyn Future<Output = ()> + Send + 'static>>),
{
    match eager(future) {
        Ok(future) => future,
        Err(lazy) => {
            let (promise, future) = promise();
            let task = Box::pin(Task::new(lazy, Some(promise)));
            // A panicking spawner has dropped the task, and with it the promise.
            let _ = caught(move || spawn(task));
            future
        }
    }
}

/// [`ApiFutureExt::detach`](crate::ApiFutureExt::detach): a future that is already driven by
/// its producer is let go of without telling it; any other runs to its end on the executor.
pub(crate) fn detach<F>(future: F)
where
    F: ApiFuture<Value: 'static, Failure: 'static> + 'static,
{
    match eager(future) {
        Ok(future) => future.into_inner().detach(),
        Err(lazy) => submit(lazy, None),
    }
}

/// `future` itself if it is an [`AwaitableConcurrentFuture`], which its producer drives: no
/// task. (A trait method the type overrides would make `api_future.rs` and this file import
/// each other.)
fn eager<F>(future: F) -> Result<AwaitableConcurrentFuture<F::Value, F::Failure>, F>
where
    F: ApiFuture<Value: 'static, Failure: 'static> + 'static,
{
    let mut slot = Some(future);
    let eager = (&mut slot as &mut dyn Any)
        .downcast_mut::<Option<AwaitableConcurrentFuture<F::Value, F::Failure>>>()
        .and_then(Option::take);
    eager.ok_or_else(|| slot.expect("a future not taken as eager stays in its slot"))
}

/// Spawns `fut` on the executor, its outcome for `promise`, if any. Without a thread the
/// promise is dropped here: the waiter gets `Abandoned`, not a hang.
fn submit<Fut, T, E>(fut: Fut, promise: Option<Promise<T, E>>)
where
    Fut: Future<Output = Outcome<T, E>> + Unpin + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    if let Some(executor) = executor() {
        executor.spawn(Task::new(fut, promise)).detach();
    }
}

/// The executor, with its thread started; `None` if the thread could not be started.
fn executor() -> Option<&'static Executor<'static>> {
    static EXECUTOR: OnceLock<&'static Executor<'static>> = OnceLock::new();
    // `OnceLock` cannot fail its initialisation on stable Rust; this lock makes the first
    // callers start one thread between them, and lets a later call retry after a failure.
    static STARTING: Mutex<()> = Mutex::new(());

    if let Some(&executor) = EXECUTOR.get() {
        return Some(executor);
    }
    let _starting = unpoisoned(STARTING.lock());
    if let Some(&executor) = EXECUTOR.get() {
        return Some(executor);
    }
    // Leaked on purpose: the thread runs it until the process exits. (If the thread cannot
    // start, an empty executor leaks; that needs a system out of threads.)
    let executor: &'static Executor<'static> = Box::leak(Box::new(Executor::new()));
    thread::Builder::new()
        .name("apifuture-async".to_owned())
        .spawn(move || executor_thread(executor))
        .ok()?;
    Some(EXECUTOR.get_or_init(|| executor))
}

/// Runs tasks forever; a task's blocking wait that would park returns `WouldBlockExecutor`.
fn executor_thread(executor: &'static Executor<'static>) {
    timeout::never_park();
    loop {
        // `Task::poll` catches user code's panics. Should anything unwind out of the executor
        // all the same, it is still usable: going back to it keeps the other tasks running.
        let _ = caught(|| {
            async_io::block_on(executor.run(future::pending::<()>()));
        });
    }
}

/// One task on the executor: a future raced against its consumer's cancellation. Hand-written,
/// not an async block racing it against `promise.cancelled()`: it must send the outcome
/// through the promise after the race, and not poll the future again once the consumer is gone.
struct Task<Fut, T, E> {
    /// The future and its promise (`None` when detached); `None` once the task has finished.
    running: Option<(Fut, Option<Promise<T, E>>)>,
    /// Ready once the consumer is gone (`None` when detached).
    cancelled: Option<WhenCancelled>,
}

impl<Fut, T, E> Task<Fut, T, E> {
    fn new(fut: Fut, promise: Option<Promise<T, E>>) -> Self {
        Task {
            cancelled: promise.as_ref().map(Promise::cancelled),
            running: Some((fut, promise)),
        }
    }
}

impl<Fut, T, E> Future for Task<Fut, T, E>
where
    Fut: Future<Output = Outcome<T, E>> + Unpin,
{
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let Some((fut, _)) = &mut this.running else {
            return Poll::Ready(());
        };
        // Cancellation first: once nobody waits, the future is not polled again.
        let cancelled = this
            .cancelled
            .as_mut()
            .is_some_and(|cancelled| Pin::new(cancelled).poll(cx).is_ready());
        let outcome = if cancelled {
            None
        } else {
            match caught(|| Pin::new(&mut *fut).poll(cx)) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(outcome)) => Some(outcome),
                Err(message) => Some(Err(Error::Panicked(message))),
            }
        };
        let Some((fut, promise)) = self.running.take() else {
            return Poll::Ready(());
        };
        // Drop the future first, so what it owned is released by the time a waiter wakes. Its
        // drop, and that of a value nobody waits for, may panic with nobody to report it to:
        // caught (the panic hook still prints it), they stay out of the executor.
        drop_caught(fut);
        // Sent, or (detached, or nobody waits) dropped: either way under the catch.
        let _ = caught(move || {
            if let (Some(promise), Some(outcome)) = (promise, outcome) {
                promise.send(outcome);
            }
        });
        Poll::Ready(())
    }
}
