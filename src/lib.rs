//! API futures usable both ways: `.await` them on any executor, or block on them from a plain
//! thread, with timeouts that lose nothing, cancellation that reaches the producer, and no
//! runtime required.
//!
//! An SDK method returns an [`AwaitableConcurrentFuture`]; its caller picks the mode:
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{spawn, ApiFuture, AwaitableConcurrentFuture, BoxError};
//!
//! /// An SDK call: returns at once, the work goes on elsewhere.
//! fn forward_backward(batch: Vec<f32>) -> AwaitableConcurrentFuture<f32, BoxError> {
//!     spawn(move || Ok(batch.iter().sum()))
//! }
//!
//! // In a plain thread: block, with a timeout.
//! let loss = forward_backward(vec![0.5, 0.25]).result(Duration::from_secs(30)).unwrap();
//! assert_eq!(loss, 0.75);
//!
//! // In async code, on any executor: await.
//! # futures_lite::future::block_on(async {
//! let loss = forward_backward(vec![1.0, 2.0]).await.unwrap();
//! assert_eq!(loss, 3.0);
//! # });
//! ```
//!
//! # Overview
//!
//! This crate is the Rust shape of the futures of a training-API client SDK, whose Python
//! original wraps `concurrent.futures.Future` so that it can also be awaited:
//!
//! | Python                                  | here                                         |
//! |-----------------------------------------|----------------------------------------------|
//! | `APIFuture` (abstract)                  | the [`ApiFuture`] trait                      |
//! | `AwaitableConcurrentFuture(future)`     | [`AwaitableConcurrentFuture`]                |
//! | `concurrent.futures.Future`             | [`ConcurrentFuture`], via [`future()`](AwaitableConcurrentFuture::future) |
//! | `future.result(timeout=30)`             | [`result(Duration::from_secs(30))`](ApiFuture::result) |
//! | `await future.result_async(timeout=30)` | [`result_async(..).await`](ApiFuture::result_async) |
//! | `await future`                          | `future.await`                               |
//! | `future.done()`, `cancel()`, `cancelled()` | [`done`](ConcurrentFuture::done), [`cancel`](ConcurrentFuture::cancel), [`cancelled`](ConcurrentFuture::cancelled) |
//! | `executor.submit(fn)`                   | [`spawn(fn)`](spawn)                         |
//! | `Future()` + `set_result` / `set_exception` | [`promise()`] + [`Promise::set_result`] / [`Promise::set_error`] |
//! | `TimeoutError`                          | [`Error::Timeout`]                           |
//!
//! The pieces:
//!
//! - [`promise()`] makes a pending future and the [`Promise`] that completes it, from any
//!   thread; [`ready`] and [`failed`] make complete ones.
//! - [`spawn`] runs a closure on a growing thread pool (see [`pool`]) and returns its future.
//! - Waits return `Result<T, Error<E>>`: `E` is the operation's own error (a boxed error,
//!   [`BoxError`], unless you choose one), [`Error`] adds why a wait ended without a value.
//!
//! Under the hood each future is the receiving end of a [`oneshot`] channel. Blocking waits
//! park in oneshot's own `recv_timeout`; async waits are woken through an `atomic-waker` slot
//! and timed with `async-io` timers, so no executor is needed and any will do.
//!
//! # Guarantees
//!
//! - **Happens-before.** Everything the producer did before completing the future
//!   happens-before the waiter sees the outcome, in both modes.
//! - **Same outcome in both modes.** `result(t)`, `result_async(t)` and `.await` return the same
//!   outcome for the same completion.
//! - **Timeouts lose nothing.** [`Error::Timeout`] leaves the future pending; the next wait can
//!   still get the outcome. Dropping a timed-out (or unfinished) `result_async` future only stops
//!   that wait; the producer is not told anything.
//! - **Timers are never early**, and may be late by the scheduler's delay. `Duration::ZERO`
//!   means "only if already complete"; a timeout too large for [`Instant`](std::time::Instant)
//!   (`Duration::MAX`) waits indefinitely.
//! - **Nothing hangs, nothing panics in the waiter.** A dropped [`Promise`] gives
//!   [`Error::Abandoned`]; a panicking [`spawn`] closure gives [`Error::Panicked`].
//! - **Each value is dropped exactly once**, whether it was taken, never taken, or sent to a
//!   future that was gone.
//! - **Cheap when ready.** A wait on a future that is already complete reads no clock, creates no
//!   timer, makes no syscall and takes no lock. A producer whose future has no async waiter
//!   completes it with one atomic read-modify-write besides the channel's own, and notifies
//!   nobody.
//!
//! # Timeouts
//!
//! Every wait takes `impl Into<Option<Duration>>`: pass a `Duration`, or `None` to wait
//! indefinitely. Blocking waits also come with a deadline form,
//! [`result_deadline`](ApiFuture::result_deadline). An async wait reads the clock and arms an
//! [`async_io::Timer`] only when it finds the future pending; the first timer used in a process
//! starts async-io's reactor thread.
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{promise, ApiFuture, Error};
//!
//! let (promise, mut future) = promise::<u32, std::io::Error>();
//! assert!(matches!(future.result(Duration::from_millis(1)), Err(Error::Timeout)));
//! promise.set_result(1);
//! assert_eq!(future.result(Duration::ZERO).unwrap(), 1); // nothing was lost
//! ```
//!
//! # Cancellation
//!
//! [`ConcurrentFuture::cancel`] (reach it with [`future()`](AwaitableConcurrentFuture::future))
//! and dropping the future both tell the producer: [`Promise::is_cancelled`] turns true, so work
//! nobody waits for can stop, and a job of [`spawn`] that has not started yet is skipped. A value
//! completed into a cancelled future is dropped at once. `cancel` on a future that has already
//! completed returns `false` and changes nothing. A timeout is not a cancellation.
//!
//! ```
//! use apifuture::{promise, ApiFuture, Error};
//!
//! let (promise, mut future) = promise::<u32, std::io::Error>();
//! assert!(future.future().cancel());
//! assert!(promise.is_cancelled());
//! assert!(matches!(future.result(None), Err(Error::Cancelled)));
//! ```
//!
//! # Outcomes that are handed out once, and states
//!
//! A value, [`Error::Failed`] and [`Error::Panicked`] are handed out by the first wait that sees
//! them; later waits get [`Error::Consumed`]. [`Error::Cancelled`] and [`Error::Abandoned`] are
//! states: every later wait returns them again.
//!
//! # Retries and polling
//!
//! The seed SDK retries failed requests (rate limits, overload, dropped connections) and polls
//! long-running server-side operations until they finish. [`retry`] and [`poll_until_ready`] do
//! both, and what they return ([`Retry`], [`Polling`]) is again an [`ApiFuture`]: blocked on or
//! awaited, with timeouts that lose nothing.
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{poll_until_ready, retry, spawn, ApiFuture, Progress, RetryDecision, RetryPolicy};
//!
//! let policy = RetryPolicy::new() // 11 attempts, 0.5 s doubling to 10 s, jitter that shortens
//!     .with_initial_delay(Duration::from_millis(1))
//!     .with_deadline(Duration::from_secs(60));
//!
//! // Submit: attempt 1 is refused with "429, retry after 2 ms", attempt 2 goes through.
//! let mut submit = retry(policy.clone(), |attempt| {
//!     spawn(move || if attempt == 1 { Err(429_u16) } else { Ok("req-1") })
//! })
//! .when(|status| match status {
//!     429 => RetryDecision::RetryAfter(Duration::from_millis(2)),
//!     400..=499 => RetryDecision::Stop,
//!     _ => RetryDecision::Retry,
//! });
//! let request_id = submit.result(Duration::from_secs(30)).unwrap();
//!
//! // Poll the request id until the server has the result.
//! let mut result = poll_until_ready(policy, move |probe| {
//!     let id = request_id.to_owned();
//!     spawn(move || Ok::<_, u16>(if probe < 3 { Progress::Pending } else { Progress::Ready(id) }))
//! });
//! # futures_lite::future::block_on(async {
//! assert_eq!(result.result_async(Duration::from_secs(30)).await.unwrap(), "req-1");
//! # });
//! ```
//!
//! The rules, in short (each is documented on [`retry`] and [`poll_until_ready`]):
//!
//! - One state machine drives both modes: a blocking wait sleeps the backoff on its own thread,
//!   an async wait on an `async-io` timer. The first attempt starts when the retry is made;
//!   later ones as a waiter drives the schedule. Hand the wait to [`spawn`] to run it in the
//!   background.
//! - [`RetryPolicy::with_deadline`] counts the attempts' own time, not just the sleeps; no
//!   sleep crosses it. Jitter only shortens a sleep, so none exceeds
//!   [`with_max_delay`](RetryPolicy::with_max_delay).
//! - [`RetryDecision::RetryAfter`] honours a server's hint in both modes.
//! - An attempt that runs past [`with_attempt_timeout`](RetryPolicy::with_attempt_timeout) is
//!   cancelled (dropped) and retried; dropping or cancelling the retry cancels the attempt in
//!   flight and starts no new one.
//! - Bad input is clamped, never a panic or an endless loop: zero attempts make one, a
//!   multiplier below 1 (or NaN) keeps the delay constant.
//!
//! # Composing futures
//!
//! Python's `concurrent.futures` gives the seed's users more than one future at a time; so
//! does this crate, in both modes, with timeouts that take nothing away.
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{as_completed, spawn, wait, ApiFuture, ApiFutureExt, BoxApiFuture, ReturnWhen};
//!
//! // An SDK returns one type from every method, whatever each future is made of.
//! let mut calls: Vec<BoxApiFuture<u32, String>> = vec![
//!     spawn(|| Ok(20)).map(|v: u32| v + 1).boxed(),
//!     spawn(|| Ok(1)).and_then(|v| spawn(move || Ok(v * 2))).boxed(),
//! ];
//! let (done, pending) = wait(&mut calls, Duration::from_secs(30), ReturnWhen::AllCompleted);
//! assert_eq!((done, pending), (vec![0, 1], vec![]));
//! let mut results: Vec<(usize, u32)> = as_completed(calls, Duration::from_secs(30))
//!     .map(|(index, outcome)| (index, outcome.unwrap()))
//!     .collect();
//! results.sort();
//! assert_eq!(results, [(0, 21), (1, 2)]);
//!
//! // One outcome for many waiters, each with its own timeout.
//! let mut config = spawn(|| Ok::<_, String>("lr=0.1")).shared();
//! let mut other = config.clone();
//! assert_eq!(config.result(Duration::from_secs(30)).unwrap(), "lr=0.1");
//! # futures_lite::future::block_on(async {
//! assert_eq!(other.result_async(Duration::from_secs(30)).await.unwrap(), "lr=0.1");
//! # });
//! ```
//!
//! | Python `concurrent.futures` / `asyncio` | apifuture, blocking | apifuture, async |
//! |---|---|---|
//! | `executor.submit(fn)` | [`spawn`]`(fn)` | [`spawn_async`]`(future)` |
//! | `Future()`, `set_result`, `set_exception` | [`promise`], [`Promise::set_result`], [`Promise::set_error`] | the same |
//! | `f.result(timeout)` | [`result`](ApiFuture::result)`(timeout)` | `.await`, [`result_async`](ApiFuture::result_async)`(timeout)` |
//! | `f.done()`, `f.cancel()`, `f.cancelled()` | [`ConcurrentFuture::done`], [`cancel`](ConcurrentFuture::cancel), [`cancelled`](ConcurrentFuture::cancelled) | the same |
//! | `f.exception()` without waiting | [`peek_failed`](ApiFuture::peek_failed), then [`try_result`](ApiFuture::try_result) | the same |
//! | `f.add_done_callback(fn)` | [`add_done_callback`](AwaitableConcurrentFuture::add_done_callback) (runs before waiters wake) | the same |
//! | `set_running_or_notify_cancel()` | [`Promise::is_cancelled`], [`Promise::wait_cancelled`] | [`Promise::cancelled`] |
//! | `wait(fs, timeout, FIRST_COMPLETED)` | [`wait`]`(&mut fs, timeout, `[`ReturnWhen::FirstCompleted`]`)` | [`wait_async`] |
//! | `as_completed(fs, timeout)` | [`as_completed`] (an iterator) | [`as_completed_async`] (a stream) |
//! | `[f.result() for f in fs]`, `asyncio.gather` | [`join_all`] | [`join_all_async`] |
//! | several waiters on one future | [`shared`](ApiFutureExt::shared) | the same |
//! | `asyncio.wrap_future(f)` | — | `.await` on any [`ApiFuture`] |
//! | `asyncio.run_coroutine_threadsafe(coro, loop)` | [`spawn_async`], then `result` | [`spawn_async`] |
//!
//! Differences worth knowing:
//!
//! - Done callbacks run before waiters are woken (Python wakes first), so a waiter that
//!   returns knows its callbacks have run.
//! - Outcomes are handed out once per future (then [`Error::Consumed`]); `wait` and
//!   `peek_failed` only look. A [`SharedFuture`] hands a clone to each handle.
//! - [`wait`] and [`as_completed`] accept any [`ApiFuture`]: a `Vec` of [`BoxApiFuture`]s mixes
//!   retries, polls, maps and spawned jobs. Their blocking forms park the thread until a future
//!   wakes it and then look only at that future, so waiting for all of N futures is O(N).
//! - [`spawn_async`] runs async code on one background thread, for SDKs written async that
//!   serve blocking callers too. Futures that need a tokio runtime go through the bridge
//!   recipe instead: a [`promise`], `tokio::spawn` racing the request against
//!   [`Promise::cancelled`], and the promise's future returned to the caller
//!   (`tests/tokio_bridge.rs` shows and tests it).
//! - [`from_future`] makes any future an [`ApiFuture`] polled by whoever waits, with no thread:
//!   a smol app can [`retry`] its async requests that way.
//!
//! # Executors
//!
//! Async waits work under smol, async-std, `futures_lite::future::block_on`,
//! `async_io::block_on`, pollster, the `futures` executors and tokio (current-thread and
//! multi-thread), none of which this crate depends on. `fut.await` goes through
//! [`IntoFuture`] with the named future [`Await`], which does not
//! allocate and is `Send + 'static` when the value and error are, so it can be spawned.
//!
//! A blocking wait called inside an async task works, but it blocks that executor thread until
//! it returns: other tasks on the thread stall, and if the producer is one of them, it
//! deadlocks. Use `.await` in async code.
//!
//! # Futures are `Send`, not `Sync`
//!
//! Waits take `&mut self`, so one future has one waiter at a time. Move it where it is waited
//! on; it cannot be shared by reference between threads:
//!
//! ```compile_fail
//! fn sync<T: Sync>() {}
//! sync::<apifuture::AwaitableConcurrentFuture<u32>>();
//! ```
//!
//! # FAQ
//!
//! **Why not just `tokio::sync::oneshot`?** Its blocking receive refuses to run inside a tokio
//! runtime and has no timeout, its async timeout needs a tokio runtime, and a library that
//! returns it pulls tokio into every user's build. Here the same future blocks with a timeout
//! anywhere and awaits with a timeout on any executor.
//!
//! **Why not `oneshot`'s own async receiver?** faern/oneshot#87: dropping an async receiver that
//! was polled while the sender sends is an open use-after-free. We use oneshot for the value and
//! its blocking waits only, and a waker slot (`atomic-waker`) to wake async waiters: the
//! producer only ever touches a clone of the waiter's `Waker`, so dropping a waiting future at
//! any moment is safe.
//!
//! **Does a timeout cancel the work?** No. Cancel with
//! [`cancel`](ConcurrentFuture::cancel) or by dropping the future.
//!
//! **"implementation of `ApiFuture` is not general enough"?** A rustc limitation: an `async fn`
//! that is generic over an `ApiFuture` (or over the `Await` of `fut.into_future()`), awaited in
//! a task that must be `Send`, can fail to prove `Send` when the error type carries a lifetime
//! (`&'static str`, or `BoxError`'s `dyn Error + 'static`). Await the future directly
//! (`fut.await`), use `fut.result_async(t)`, or write the generic helper as a named future; the
//! crate's own multi-future helpers ([`join_all_async`]) are named futures for this reason.
//!
//! **What does a wait on a ready future cost?** The same atomic operations as `oneshot`'s
//! `try_recv`; see the benchmarks in the README.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85 (edition 2024). Raising it is a minor-version change.
//!
//! # Related crates
//!
//! [`oneshot`] (the channel underneath), `atomic-waker` and `async-io` (the async wake-up and
//! timers), `flume` and `futures::channel::oneshot` (channels with blocking or async receive),
//! `tokio::sync::oneshot` (async-first, tokio-bound).

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod api_future;
mod awaitable;
mod callbacks;
mod compose;
mod concurrent;
mod error;
pub mod pool;
mod promise;
mod retry;
mod state;
mod timeout;

pub use api_future::{ApiFuture, ResultAsync};
pub use awaitable::{AwaitableConcurrentFuture, failed, ready};
pub use compose::{
    AndThen, ApiFutureExt, AsCompleted, AsCompletedStream, BoxApiFuture, FromFuture, JoinAll, Map,
    MapErr, ReturnWhen, SharedError, SharedFuture, WaitAsync, as_completed, as_completed_async,
    from_future, join_all, join_all_async, spawn_async, wait, wait_async,
};
pub use concurrent::ConcurrentFuture;
pub use error::{BoxError, Error};
pub use pool::spawn;
pub use promise::{Cancelled, Promise, promise};
#[doc(hidden)]
pub use retry::{AttemptFn, Reading};
pub use retry::{
    Jitter, Polling, Progress, Retry, RetryDecision, RetryPolicy, poll_until_ready, retry,
};
