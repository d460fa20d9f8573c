//! API futures usable both ways: `.await` them on any executor, or block on them from a plain
//! thread, with timeouts that lose nothing, cancellation that reaches the producer, retries,
//! and no runtime required. An SDK method returns a future at once; its caller picks the mode:
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{spawn, ApiFuture, BoxError};
//!
//! /// An SDK call: returns at once, the work goes on elsewhere.
//! fn forward_backward(batch: Vec<f32>) -> impl ApiFuture<Value = f32, Failure = BoxError> {
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
//! | Python | apifuture, blocking | apifuture, async |
//! |---|---|---|
//! | `APIFuture` (abstract) | the [`ApiFuture`] trait | the same |
//! | `AwaitableConcurrentFuture(future)` | [`AwaitableConcurrentFuture`] | the same |
//! | `concurrent.futures.Future` | [`ConcurrentFuture`], via [`future()`](AwaitableConcurrentFuture::future) | — |
//! | `executor.submit(fn)` | [`spawn`]`(fn)` | [`spawn_async`]`(future)` |
//! | `Future()`, `set_result`, `set_exception` | [`promise`], [`Promise::set_result`], [`Promise::set_error`] | the same |
//! | `f.result(timeout=30)`, `await f.result_async(timeout=30)`, `await f` | [`result`](ApiFuture::result)`(Duration::from_secs(30))` | [`result_async`](ApiFuture::result_async)`(..).await`, `f.await` |
//! | `TimeoutError` | [`Error::Timeout`] | the same |
//! | `f.done()`, `f.cancel()`, `f.cancelled()` | [`ApiFuture::done`] (or [`ConcurrentFuture::done`], which only looks), [`cancel`](ConcurrentFuture::cancel), [`cancelled`](ConcurrentFuture::cancelled) | the same |
//! | `f.exception()` without waiting | [`peek_failed`](ApiFuture::peek_failed), then [`try_result`](ApiFuture::try_result) | the same |
//! | `f.add_done_callback(fn)` | [`add_done_callback`](AwaitableConcurrentFuture::add_done_callback) (runs before waiters wake) | the same |
//! | `set_running_or_notify_cancel()` | [`Promise::is_cancelled`], [`Promise::wait_cancelled`] | [`Promise::cancelled`] |
//! | `wait(fs, timeout, FIRST_COMPLETED)` | [`wait`]`(&mut fs, timeout, `[`ReturnWhen::FirstCompleted`]`)` | [`wait_async`] |
//! | `as_completed(fs, timeout)` | [`as_completed`] (an iterator) | [`as_completed_async`] (a stream) |
//! | `[f.result() for f in fs]`, `asyncio.gather` | [`join_all`] | [`join_all_async`] |
//! | several waiters on one future | [`into_shared`](ApiFutureExt::into_shared) | the same |
//! | `asyncio.wrap_future(f)` | — | `.await` on any [`ApiFuture`] |
//! | `asyncio.run_coroutine_threadsafe(coro, loop)` | [`spawn_async`], then `result` | [`spawn_async`] |
//!
//! The pieces:
//!
//! - [`ApiFuture`] is a [`Future`] whose output is `Result<Value, Error<Failure>>`, plus
//!   blocking and timed waits; every future of the crate implements it. `Failure` is the
//!   operation's own error (a boxed error, [`BoxError`], unless you choose one); [`Error`] adds
//!   why a wait ended without a value.
//! - [`promise()`] makes a pending future and the [`Promise`] that completes it, from any
//!   thread; [`ready`] and [`failed`] make complete ones.
//! - [`spawn`] runs a closure on a growing thread pool (see [`pool`]) and returns its future;
//!   [`spawn_async`] runs async code on a background executor thread.
//! - [`retry`] and [`poll_until_ready`] retry a request and poll a server-side operation.
//! - [`ApiFutureExt`] composes: `map_value`, `map_failure`, `then_call`, `into_boxed`,
//!   `into_shared`, `background`, `detach`.
//!
//! Under the hood each future is the receiving end of a [`oneshot`] channel. Blocking waits
//! park in oneshot's own `recv_timeout`; async waits are woken through an `atomic-waker` slot
//! and timed with `async-io` timers, so no executor is needed and any will do.
//!
//! # Guarantees
//!
//! - **Happens-before, same outcome in both modes.** Everything the producer did before
//!   completing the future happens-before the waiter sees the outcome; `result(t)`,
//!   `result_async(t)` and `.await` return the same outcome for the same completion.
//! - **Timeouts lose nothing.** [`Error::Timeout`] leaves the future pending for the next wait.
//!   Dropping a timed-out (or unfinished) `result_async` future, or losing a `select!` on
//!   `&mut future`, only stops that wait; the producer is not told.
//! - **Timers are never early**, and may be late by the scheduler's delay. `Duration::ZERO`
//!   means "only if already complete"; a timeout too large for [`Instant`](std::time::Instant)
//!   (`Duration::MAX`) waits indefinitely. They run on the real clock: tokio's paused test
//!   time (`start_paused`) does not move them.
//! - **Nothing hangs, nothing panics in the waiter.** A dropped [`Promise`] gives
//!   [`Error::Abandoned`], a panicking [`spawn`] closure [`Error::Panicked`], and polling a
//!   future whose outcome was taken [`Error::Consumed`].
//! - **Each value is dropped exactly once**, whether taken, never taken, or sent to a future
//!   that was gone.
//! - **Cheap when ready.** A wait on one complete future reads no clock, creates no timer, makes
//!   no syscall and takes no lock (a wait on many reads the clock once, for its timeout): the
//!   same atomic operations as `oneshot`'s `try_recv` (see `benches/README.md` in the
//!   repository). A producer whose future has no async waiter completes it with one atomic
//!   read-modify-write besides the channel's own, and notifies nobody.
//!
//! # Timeouts
//!
//! Every wait takes `impl Into<Option<Duration>>`: a `Duration`, or `None` to wait indefinitely
//! ([`join_all`] and [`join_all_async`] wait for all, without a limit: [`wait`] with
//! [`ReturnWhen::AllCompleted`] is the join with one). Blocking waits also have a deadline form, [`result_deadline`](ApiFuture::result_deadline). An
//! async wait reads the clock and arms an [`async_io::Timer`] only when it finds the future
//! pending; the first timer used in a process starts async-io's reactor thread. Runtime timeouts
//! lose nothing either: `tokio::time::timeout(d, &mut future)` leaves `future` waitable.
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
//! # Cancellation and detaching
//!
//! Dropping a pending future cancels its work, as Rust futures do (every future type is
//! `#[must_use]` and says so): [`Promise::is_cancelled`] turns true, a job of [`spawn`] that has
//! not started is skipped, a retry drops its attempt in flight. [`ConcurrentFuture::cancel`]
//! (reach it with [`future()`](AwaitableConcurrentFuture::future)) does the same. A value
//! completed into a cancelled future is dropped at once. A timeout is not a cancellation.
//!
//! To let the work finish with nobody waiting, [`detach`](ApiFutureExt::detach) the future
//! instead: the producer hears nothing, and a future that needs driving (a retry, a poll) is
//! driven to its end in the background. `let _ = spawn(..);` is a drop, not a detach: the
//! future is dropped at once and the job cancelled (the compiler's unused-result warning names
//! `detach()` for this reason). `let _ = future;` on a variable does nothing: the future lives
//! to the end of its scope, then cancels as it drops.
//!
//! ```compile_fail
//! #![deny(unused_must_use)]
//! // Unused, the future would be dropped at once and the job cancelled: rustc says so.
//! apifuture::spawn(|| Ok::<u8, apifuture::BoxError>(1));
//! ```
//!
//! A job of [`spawn`] that has already started runs to its end: a closure cannot be stopped
//! from outside. Work that should stop midway completes a [`promise`] and checks
//! [`Promise::is_cancelled`] (or waits on [`Promise::cancelled`]) as it goes.
//!
//! ```
//! use apifuture::{promise, ApiFuture, ApiFutureExt, Error};
//!
//! let (promise, mut future) = promise::<u32, std::io::Error>();
//! assert!(future.future().cancel());
//! assert!(promise.is_cancelled());
//! assert!(matches!(future.result(None), Err(Error::Cancelled)));
//!
//! let (promise, future) = apifuture::promise::<u32, std::io::Error>();
//! future.detach();
//! assert!(!promise.is_cancelled()); // the work goes on
//! promise.set_result(2); // and its outcome is dropped
//! ```
//!
//! # Outcomes that are handed out once, and states
//!
//! A value, [`Error::Failed`] and [`Error::Panicked`] go to the first wait that sees them; later
//! waits (and polls) get [`Error::Consumed`]. [`Error::Cancelled`], [`Error::Abandoned`] and
//! [`Error::DeadlineExceeded`] are states, returned again by every later wait.
//!
//! # Writing an SDK
//!
//! **What should a method return?** `impl ApiFuture<Value = T, Failure = E>`, or a concrete
//! future type of this crate. Both block, await, spawn and compose the same way; the caller
//! needs no other import than [`ApiFuture`].
//!
//! - **Eager work** ([`spawn`], [`spawn_async`], a [`promise`] completed by your transport):
//!   return it as it is. The request is in flight as soon as the method returns.
//! - **Lazy futures** ([`retry`], [`poll_until_ready`], [`from_future`], and
//!   [`map_value`](ApiFutureExt::map_value)/[`then_call`](ApiFutureExt::then_call) over them) only
//!   progress while someone waits: returned as they are, a retry a caller holds without waiting
//!   never sends its second attempt, nor a poll its next probe. Return
//!   [`.background()`](ApiFutureExt::background) of them (an [`AwaitableConcurrentFuture`]): the
//!   call is submitted at once and retried or polled with nobody waiting, as the seed SDK's are. A
//!   transport that needs tokio (reqwest, hyper, tonic) goes to your runtime instead:
//!   [`.background_with(move |task| { handle.spawn(task); })`](ApiFutureExt::background_with).
//! - **One type for many origins**: [`.into_boxed()`](ApiFutureExt::into_boxed) gives a
//!   [`BoxApiFuture`], for a struct field, a `Vec` of mixed calls, or a method of a `dyn`
//!   trait (which cannot return `impl Trait`). It costs one allocation. Behind an opaque type
//!   a caller cancels by dropping; return the concrete [`AwaitableConcurrentFuture`] (what
//!   `.background()` gives) where callers should reach `future().cancel()` and
//!   `add_done_callback`.
//! - **Say that the future does not borrow the client.** In edition 2024 a method's
//!   `-> impl ApiFuture<..>` captures `&self`, and a future tied to a borrow cannot be spawned,
//!   boxed, backgrounded or detached (`'static` is required; rustc says "borrowed data escapes
//!   outside of method" or "`client` does not live long enough"). Write
//!   `-> impl ApiFuture<..> + use<>` (in a trait method, `+ 'static`) and move what the work
//!   needs (clone an `Arc`) into it, as below.
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{
//!     retry, spawn, ApiFuture, ApiFutureExt, BoxApiFuture, RetryPolicy,
//! };
//!
//! #[derive(Debug)]
//! struct SdkError(u16);
//!
//! struct Client;
//!
//! impl Client {
//!     /// One request, retried on failure, running in the background from the start.
//!     fn get_run(&self, id: u32) -> impl ApiFuture<Value = String, Failure = SdkError> + use<> {
//!         let policy = RetryPolicy::new().with_initial_delay(Duration::from_millis(1));
//!         retry(policy, move |attempt| {
//!             spawn(move || if attempt < 2 { Err(SdkError(503)) } else { Ok(format!("run {id}")) })
//!         })
//!         .background()
//!     }
//! }
//!
//! /// A trait object needs one concrete type: box.
//! trait Runs {
//!     fn get_run(&self, id: u32) -> BoxApiFuture<String, SdkError>;
//! }
//!
//! impl Runs for Client {
//!     fn get_run(&self, id: u32) -> BoxApiFuture<String, SdkError> {
//!         Client::get_run(self, id).into_boxed()
//!     }
//! }
//!
//! let client = Client;
//! assert_eq!(client.get_run(1).result(Duration::from_secs(30)).unwrap(), "run 1");
//! let runs: &dyn Runs = &client;
//! # futures_lite::future::block_on(async {
//! assert_eq!(runs.get_run(2).await.unwrap(), "run 2");
//! # });
//! ```
//!
//! Calls must reach the server in the order they were made, while running concurrently (the
//! seed SDK's sequence ids)? Take a [`Turn`] of a [`Sequence`] when the call is made, wait for
//! it before submitting, and release it when the submission has ended.
//!
//! # Writing generic code
//!
//! Bound on [`ApiFuture`] alone, and name the value and error through its associated types
//! only where you need them. `F::Output` is `Result<F::Value, Error<F::Failure>>`. Helpers like
//! these compile inside `tokio::spawn`, `smol::spawn` and `async_std::task::spawn`, whatever
//! lifetimes the value and error types carry (`BoxError`, `&'static str`):
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{join_all_async, ready, ApiFuture, BoxError, Error};
//!
//! /// Any future, awaited.
//! async fn logged<F: ApiFuture>(future: F) -> F::Output {
//!     future.await
//! }
//!
//! /// A timed wait that loses nothing: on timeout, the future comes back.
//! async fn within<F: ApiFuture>(mut future: F, limit: Duration) -> Result<F::Output, F> {
//!     match future.result_async(limit).await {
//!         Err(Error::Timeout) => Err(future),
//!         outcome => Ok(outcome),
//!     }
//! }
//!
//! /// A bound that names the types.
//! async fn total<F: ApiFuture<Value = u32>>(futures: Vec<F>) -> u32 {
//!     join_all_async(futures).await.into_iter().filter_map(Result::ok).sum()
//! }
//!
//! # futures_lite::future::block_on(async {
//! assert_eq!(logged(ready::<u8, BoxError>(1)).await.unwrap(), 1);
//! assert_eq!(within(ready::<u8, &str>(2), Duration::from_secs(1)).await.ok(), Some(Ok(2)));
//! assert_eq!(total(vec![ready::<u32, BoxError>(3), ready(4)]).await, 7);
//! # });
//! ```
//!
//! Every `ApiFuture` is [`Unpin`], so `&mut future` is a future (and an `ApiFuture`) too. A
//! runtime's timeout on it that gives up loses nothing, but one that succeeds holds the value:
//! `let _ = timeout(d, &mut f).await` throws it away (a later wait gets `Consumed`), so match on
//! it instead. Every future type is a [`FusedFuture`] (terminated once a poll returned its
//! outcome, whatever it was), so the `futures` crate's `select!` takes `&mut future` as it is,
//! and a `select!` loop with a `complete` arm ends. Only a poll terminates it: after a blocking
//! wait took the outcome, `select!` still polls the future once more and gets `Consumed`. A
//! wrapper of your own that is only a `Future` polls the inner one with
//! `Pin::new(&mut self.inner)` (every future here is `Unpin`); one that is an [`ApiFuture`] too
//! forwards `poll_ready`, `try_result` and `peek_failed`, as the trait's example does.
//!
//! Your own methods may share names with the `futures` and `futures-lite` preludes; ours do not.
//! With `use futures::prelude::*` in scope, `.map(..)`, `.boxed()`, `.map_err(..)`,
//! `.and_then(..)`, `.shared()` and `.fuse()` are futures' (plain futures over the whole `Result`),
//! and [`map_value`](ApiFutureExt::map_value), [`into_boxed`](ApiFutureExt::into_boxed),
//! [`map_failure`](ApiFutureExt::map_failure), [`then_call`](ApiFutureExt::then_call) and
//! [`into_shared`](ApiFutureExt::into_shared) are ours (`ApiFuture`s again, with blocking waits).
//!
//! Errors leave through `?` as usual: `Error<E>` is a `std::error::Error` (so `?` into
//! `anyhow::Error` or `Box<dyn Error + Send + Sync>` works) whenever `E` is
//! `Debug + Display + Send + Sync + 'static`, which is the bound a generic helper writes:
//!
//! ```
//! use apifuture::ApiFuture;
//!
//! fn fetch<F: ApiFuture>(mut call: F) -> Result<F::Value, Box<dyn std::error::Error + Send + Sync>>
//! where
//!     F::Failure: std::fmt::Debug + std::fmt::Display + Send + Sync + 'static,
//! {
//!     Ok(call.result(None)?)
//! }
//! assert_eq!(fetch(apifuture::ready::<u8, &str>(1)).unwrap(), 1);
//! ```
//!
//! To collect calls of different failure types into one `Result<_, Error>`,
//! [`Error::into_boxed_failure`] boxes the operation's error in one call, and
//! [`Error::from_shared`] does it for a shared future's `Arc<BoxError>`.
//!
//! # Retries and polling
//!
//! The seed SDK retries failed requests (rate limits, overload, dropped connections) and polls
//! long-running server-side operations until they finish. [`retry`] and [`poll_until_ready`] do
//! both, and what they return ([`Retry`], [`Polling`]) is again an [`ApiFuture`].
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
//!   an async wait on an `async-io` timer (as does a blocking wait on many futures, or on a
//!   shared one: they drive the retry through wakers). The first attempt starts when the retry
//!   is made; later ones as a waiter drives the schedule, or at once and with nobody waiting
//!   after [`background`](ApiFutureExt::background). [`RetryDecision::RetryAfter`] honours a
//!   server's hint in both modes.
//! - [`RetryPolicy::with_deadline`] counts the attempts' own time, not just the sleeps; no
//!   sleep crosses it. Jitter only shortens a sleep, so no backoff exceeds
//!   [`with_max_delay`](RetryPolicy::with_max_delay) (a server's hint may).
//! - An attempt that runs past [`with_attempt_timeout`](RetryPolicy::with_attempt_timeout) is
//!   cancelled (dropped) and retried; dropping or cancelling the retry cancels the attempt in
//!   flight and starts no new one.
//! - Polls run for hours, as the seed SDK's do: `max_attempts` bounds failed probes *in a row*
//!   (an answer, `Pending` or `PendingFor`, resets the count and the backoff), a probe past the
//!   attempt timeout is such an answer and is sent again at once, and `Pending` backs off from
//!   the first delay.
//! - Bad input is clamped, never a panic or an endless loop: zero attempts make one, a
//!   multiplier below 1 (or NaN) keeps the delay constant, and attempts that are done at once
//!   under a zero delay still let a wait see its timeout and an executor run its other tasks.
//!
//! # Composing futures
//!
//! Python's `concurrent.futures` gives the seed's users more than one future at a time; so does
//! this crate, in both modes (see the [overview](#overview) table).
//!
//! ```
//! use std::time::Duration;
//! use apifuture::{as_completed, spawn, wait, ApiFuture, ApiFutureExt, BoxApiFuture, ReturnWhen};
//!
//! // An SDK returns one type from every method, whatever each future is made of.
//! let mut calls: Vec<BoxApiFuture<u32, String>> = vec![
//!     spawn(|| Ok(20)).map_value(|v: u32| v + 1).into_boxed(),
//!     spawn(|| Ok(1)).then_call(|v| spawn(move || Ok(v * 2))).into_boxed(),
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
//! let mut config = spawn(|| Ok::<_, String>("lr=0.1")).into_shared();
//! let mut other = config.clone();
//! assert_eq!(config.result(Duration::from_secs(30)).unwrap(), "lr=0.1");
//! # futures_lite::future::block_on(async {
//! assert_eq!(other.result_async(Duration::from_secs(30)).await.unwrap(), "lr=0.1");
//! # });
//! ```
//!
//! Differences worth knowing:
//!
//! - Done callbacks run before waiters are woken (Python wakes first), so a waiter that
//!   returns knows its callbacks have run.
//! - Outcomes are handed out once per future; `wait` and `peek_failed` only look, and a
//!   [`SharedFuture`] hands a clone to each handle.
//! - [`wait`], [`as_completed`] and [`join_all`] accept any [`ApiFuture`] and drive every pending
//!   one whenever it is woken, so lazy futures run side by side. Their blocking forms park the
//!   thread until a future wakes it and then look only at that future: O(N) work for N futures.
//! - [`from_future`] makes any future an [`ApiFuture`] polled by whoever waits, with no thread:
//!   a smol app can [`retry`] its async requests that way.
//!
//! # Executors
//!
//! Async waits work under smol, async-std, `futures_lite::future::block_on`, `async_io::block_on`,
//! pollster, the `futures` executors and tokio (current-thread and multi-thread), none of which
//! this crate depends on. `.await` polls the future itself: no wrapper, no allocation.
//!
//! A blocking wait inside an async task works, but blocks that executor thread until it returns:
//! other tasks on the thread stall, and if the producer is one of them, it deadlocks. Use `.await`
//! in async code. On the crate's own background executor thread ([`spawn_async`],
//! [`background`](ApiFutureExt::background)) a blocking wait that would have to wait gives up at
//! once instead: `result` returns [`Error::WouldBlockExecutor`] (as the seed raises on its event
//! loop's thread), and the waits with no error to give ([`wait`], [`as_completed`]) return as if
//! their timeout had passed. Waits on complete futures and `Duration::ZERO` waits work there too.
//!
//! # Futures are `Send`, and most are not `Sync`
//!
//! Waits take `&mut self`, so one future has one waiter at a time. Move it where it is waited on;
//! a promise's future cannot be shared by reference between threads (use
//! [`into_shared`](ApiFutureExt::into_shared) for several waiters, whose handles are `Sync`, as
//! is a [`Turn`] and a [`from_future`] of a `Sync` future whose value and error are `Sync`):
//!
//! ```compile_fail
//! fn sync<T: Sync>() {}
//! sync::<apifuture::AwaitableConcurrentFuture<u32>>();
//! ```
//!
//! # FAQ
//!
//! **Why not just `tokio::sync::oneshot`?** Its blocking receive refuses to run inside a tokio
//! runtime and has no timeout, its async timeout needs a tokio runtime, and a library that returns
//! it pulls tokio into every user's build.
//!
//! **Why not `oneshot`'s own async receiver?** faern/oneshot#87: dropping an async receiver that
//! was polled while the sender sends is an open use-after-free. With the `atomic-waker` slot that
//! wakes async waiters instead, the producer only ever touches a clone of the waiter's `Waker`, so
//! dropping a waiting future at any moment is safe.
//!
//! **How do I get my own error back after `?`?** `Error<E>` displays `E`, but its `source()` is
//! `None`: it is an error for every displayable `E`, `BoxError` included, so it cannot require
//! `E: Error`, and reaching into `E` where it is one would need specialization. Convert before
//! `?`, with a `From<Error<MyError>>` for your application's error or [`Error::into_failed`];
//! after `?` into a `Box<dyn Error>` or `anyhow::Error`, use `downcast_ref::<Error<MyError>>()`
//! and [`Error::as_failed`]; for a boxed failure, [`Error::failure_source`] gives the
//! operation's error as a `std::error::Error`.
//!
//! **Why are combinator closures `'static`?** Each combinator stores its closure boxed, one
//! allocation, so that generic `Send` code that awaits it compiles whatever lifetimes the value
//! and error carry. Capture owned data (clone an `Arc`) instead of references.
//!
//! # Minimum supported Rust version
//!
//! Rust 1.85 (edition 2024). Raising it is a minor-version change.
//!
//! # Related crates
//!
//! [`oneshot`] (the channel underneath), `atomic-waker` and `async-io` (the async wake-up and
//! timers), `flume` and `futures::channel::oneshot` (channels with blocking or async receive),
//! `tokio::sync::oneshot` (async-first, tokio-bound), `backon` (retries).

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod api_future;
mod compose;
mod core;
mod error;
mod many;
mod panic;
mod retry;
mod run;
mod sync;
mod timeout;

pub use crate::core::awaitable::{AwaitableConcurrentFuture, failed, ready};
pub use crate::core::concurrent::ConcurrentFuture;
pub use crate::core::promise::{Promise, WhenCancelled, promise};
pub use api_future::{ApiFuture, FusedFuture, ResultAsync};
pub use compose::{
    ApiFutureExt, BoxApiFuture, FromFuture, MapFailure, MapValue, SharedFuture, ThenCall,
    from_future,
};
pub use error::{BoxError, Error};
pub use many::{
    AsCompleted, AsCompletedStream, JoinAll, ReturnWhen, WaitAsync, as_completed,
    as_completed_async, join_all, join_all_async, wait, wait_async,
};
pub use retry::{
    AttemptFn, Jitter, Polling, ProbeFn, Progress, Retry, RetryDecision, RetryPolicy,
    poll_until_ready, retry,
};
pub use run::executor::spawn_async;
pub use run::pool::{self, spawn};
pub use run::sequence::{Sequence, Turn};
