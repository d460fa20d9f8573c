//! What DESIGN.md section 5's shapes are made of, shared by the two test binaries that run
//! them (`interop`, with `T = &'static str`, and `owned_values`, with `T = Run`: compiled side
//! by side on a fresh clone's two cores): the executors, a user's generic helpers and types,
//! every future type for a `(T, E)` (`src!`), and the cases (`helpers_case!`, `toolbox_case!`,
//! `multi_case!`) that `matrix!` writes out for each `(T, E)` it is given. Each shape is written
//! with concrete types where the task is spawned (where rustc proves `Send`, the proof that
//! lifetimes in `T` or `E` used to break) and run, asserting the outcomes. One module per
//! `(T, E)`:
//! - `helpers`: generic `async fn`s bounded on `ApiFuture` (`.await`, `result_async`), `Future`
//!   and `IntoFuture`, in `smol::spawn`, `tokio::spawn` (multi-thread) and
//!   `async_std::task::spawn`, for every future type; `ResultAsync` as a plain `Future`;
//! - `toolbox`: `block_on`s, `tokio::spawn(f)`, `join!`, `join_all`, `select`,
//!   `FuturesUnordered`, `or`, `tokio::select!` and timeouts on `&mut f`;
//! - `multi`: `join_all_async`, `wait_async` and `as_completed_async` in generic helpers.
//!
//! The names the cases use are `pub(crate)` here, the crates' items included, so that a module
//! that writes `use crate::shapes::*;` can invoke `matrix!`.
#![cfg(not(miri))] // real executors need epoll and real threads
#![allow(dead_code, unused_imports)] // each binary uses a different subset

pub(crate) use std::fmt::{self, Display};
pub(crate) use std::future::{Future, IntoFuture};
pub(crate) use std::pin::Pin;
pub(crate) use std::sync::{Arc, LazyLock, Mutex, mpsc};
pub(crate) use std::task::{Context, Poll, Waker};
pub(crate) use std::thread;
pub(crate) use std::time::{Duration, Instant};

pub(crate) use crate::common::SignalOnPending;
pub(crate) use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, BoxApiFuture, BoxError, Error, FromFuture,
    Progress, RetryPolicy, ReturnWhen, SharedFuture, as_completed, as_completed_async, failed,
    from_future, join_all, join_all_async, poll_until_ready, promise, ready, retry, spawn, wait,
    wait_async,
};
pub(crate) use futures::StreamExt;
pub(crate) use futures::future::Either;
pub(crate) use futures::stream::FuturesUnordered;

pub(crate) const LONG: Duration = Duration::from_secs(10);

pub(crate) fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A quick schedule for the retry and polling cases.
pub(crate) fn fast() -> RetryPolicy {
    RetryPolicy::new().with_initial_delay(ms(1))
}

// ---- Executors: each runs a `Send` task spawned on it and returns its output -----------------

pub(crate) static TOKIO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_time().build().unwrap()
});

/// A task as the executors receive it: boxed, so that their spawn and `block_on` machinery is
/// compiled once per output type, not once per shape. `Fut: Send + 'static` is still proven
/// on each concrete future, where it is boxed.
pub(crate) type Task<R> = Pin<Box<dyn Future<Output = R> + Send>>;

pub(crate) fn on_smol<Fut: Future<Output: Send> + Send + 'static>(task: Fut) -> Fut::Output {
    fn run<R: Send + 'static>(task: Task<R>) -> R {
        smol::block_on(smol::spawn(task))
    }
    run(Box::pin(task))
}

/// A panic in the task is resumed here.
pub(crate) fn on_tokio<Fut: Future<Output: Send> + Send + 'static>(task: Fut) -> Fut::Output {
    fn run<R: Send + 'static>(task: Task<R>) -> R {
        let joined = TOKIO.block_on(async { tokio::spawn(task).await });
        joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
    run(Box::pin(task))
}

pub(crate) fn on_async_std<Fut: Future<Output: Send> + Send + 'static>(task: Fut) -> Fut::Output {
    fn run<R: Send + 'static>(task: Task<R>) -> R {
        async_std::task::block_on(async_std::task::spawn(task))
    }
    run(Box::pin(task))
}

/// Runs `task()` on each executor; outputs with the executor's name.
pub(crate) fn everywhere<Fut, R>(task: impl Fn() -> Fut) -> [(&'static str, R); 3]
where
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let smol = ("smol", on_smol(task()));
    let tokio = ("tokio", on_tokio(task()));
    [smol, tokio, ("async-std", on_async_std(task()))]
}

// ---- Completing pending futures from another thread ------------------------------------------

/// What completes a pending future (a promise's `complete`, a channel's `send`).
pub(crate) type Trigger = Option<Box<dyn FnOnce() + Send>>;

pub(crate) fn fire<R>(complete: impl FnOnce() -> R + Send + 'static) -> Trigger {
    Some(Box::new(move || drop(complete())))
}

pub(crate) fn pull(trigger: Trigger) {
    trigger.into_iter().for_each(|complete| complete());
}

/// The signal of a [`SignalOnPending`]: once the wrapped wait is pending (its waker registered),
/// another thread pulls `triggers`, in order.
pub(crate) fn on_pending(triggers: impl IntoIterator<Item = Trigger>) -> mpsc::Sender<()> {
    let triggers: Vec<_> = triggers.into_iter().flatten().collect();
    let (signal, pending) = mpsc::channel();
    if !triggers.is_empty() {
        thread::spawn(move || {
            if pending.recv().is_ok() {
                triggers.into_iter().for_each(|complete| complete());
            }
        });
    }
    signal
}

/// A promise's future, and the trigger that completes it with `outcome`.
pub(crate) fn pending<V: Send + 'static, X: Send + 'static>(
    outcome: Result<V, X>,
) -> (AwaitableConcurrentFuture<V, X>, Trigger) {
    let (producer, future) = promise();
    (future, fire(move || producer.complete(outcome)))
}

/// `(future, trigger)` with the future wrapped.
pub(crate) fn with<F, G>(
    (future, trigger): (F, Trigger),
    wrap: impl FnOnce(F) -> G,
) -> (G, Trigger) {
    (wrap(future), trigger)
}

/// Runs `f` on a thread and waits at most `LONG` for it: a hang fails instead of hanging.
pub(crate) fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || sender.send(f()));
    match receiver.recv_timeout(LONG) {
        Ok(output) => output,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("still waiting after {LONG:?}: a hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the waiting thread panicked"),
    }
}

// ---- A user's generic helpers ----------------------------------------------------------------

pub(crate) async fn by_await<F: ApiFuture>(f: F) -> F::Output {
    f.await
}

pub(crate) async fn by_result_async<F: ApiFuture>(mut f: F) -> F::Output {
    f.result_async(LONG).await
}

pub(crate) async fn by_future<F: Future>(f: F) -> F::Output {
    f.await
}

pub(crate) async fn by_into_future<F: IntoFuture>(f: F) -> F::Output {
    f.await
}

pub(crate) async fn gather<F: ApiFuture>(futures: Vec<F>) -> Vec<F::Output> {
    join_all_async(futures).await
}

pub(crate) async fn split<F: ApiFuture>(
    futures: &mut [F],
    when: ReturnWhen,
) -> (Vec<usize>, Vec<usize>) {
    wait_async(futures, LONG, when).await
}

pub(crate) async fn in_completion_order<F: ApiFuture>(futures: Vec<F>) -> Vec<(usize, F::Output)> {
    as_completed_async(futures, LONG).collect().await
}

/// An outcome with its error as text, so that every `E` compares (`BoxError` has no `PartialEq`).
pub(crate) fn norm<T, E: Display>(outcome: Result<T, Error<E>>) -> Result<T, String> {
    outcome.map_err(|error| error.to_string())
}

// ---- A user's own types; the values and errors of the matrix ---------------------------------

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Run {
    pub(crate) id: u32,
    pub(crate) name: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SdkError {
    Status(u16),
    Network(String),
}

impl Display for SdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SdkError::Status(code) => write!(f, "HTTP {code}"),
            SdkError::Network(why) => write!(f, "network: {why}"),
        }
    }
}

pub(crate) const NAMES: [&str; 8] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven",
];

pub(crate) fn name(n: u32) -> &'static str {
    NAMES[n as usize]
}

pub(crate) fn run(n: u32) -> Run {
    let name = format!("run-{n}");
    Run { id: n, name }
}

pub(crate) fn box_err(code: u32) -> BoxError {
    format!("E{code}").into()
}

pub(crate) fn str_err(code: u32) -> &'static str {
    ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"][code as usize]
}

pub(crate) fn string_err(code: u32) -> String {
    format!("E{code}")
}

pub(crate) fn sdk_err(code: u32) -> SdkError {
    match code {
        0 => SdkError::Network("reset".into()),
        _ => SdkError::Status(500 + code as u16),
    }
}

// ---- Every future type, for a module's `T` and `E` -------------------------------------------

/// `src!(kind, n)`: a future of type `kind` that gives `val(n)` (`err(n)` for the failing
/// kinds), and its trigger (`None` if it completes by itself: ready, on the pool, or by timer).
/// The crate's functions are spelled in full: the tests are named after the kinds.
#[rustfmt::skip]
macro_rules! src {
    (ready, $n:expr) => { (::apifuture::ready::<T, E>(val($n)), Trigger::None) };
    (spawn, $n:expr) => {{
        let n = $n;
        (::apifuture::spawn(move || Ok::<T, E>(val(n))), Trigger::None)
    }};
    (promise, $n:expr) => { pending::<T, E>(Ok(val($n))) };
    (failed, $n:expr) => { pending::<T, E>(Err(err($n))) };
    (boxed, $n:expr) => { with(pending::<T, E>(Ok(val($n))), |f| f.into_boxed()) };
    (shared, $n:expr) => { with(pending::<T, E>(Ok(val($n))), share) };
    (map, $n:expr) => { with(pending::<u32, E>(Ok($n)), |f| f.map_value(val)) };
    (map_err, $n:expr) => { with(pending::<T, u32>(Ok(val($n))), |f| f.map_failure(err)) };
    (map_err_failed, $n:expr) => { with(pending::<T, u32>(Err($n)), |f| f.map_failure(err)) };
    (and_then, $n:expr) => {
        with(pending::<u32, E>(Ok($n)), |f| f.then_call(|n| ::apifuture::spawn(move || Ok(val(n)))))
    };
    (retry, $n:expr) => {
        with(pending::<T, E>(Ok(val($n))), |f| {
            let mut once = Some(f);
            ::apifuture::retry(fast(), move |_| once.take().expect("one attempt"))
        })
    };
    (retry_backoff, $n:expr) => {{
        let n = $n;
        let attempt = move |attempt| match attempt {
            1 | 2 => ::apifuture::failed::<T, E>(err(7)),
            _ => ::apifuture::ready(val(n)),
        };
        (::apifuture::retry(fast(), attempt), Trigger::None)
    }};
    (polling, $n:expr) => {
        with(pending::<_, E>(Ok(Progress::Ready(val($n)))), |f| {
            let mut once = Some(f);
            ::apifuture::poll_until_ready(fast(), move |_| once.take().expect("one probe"))
        })
    };
    (polling_backoff, $n:expr) => {{
        let n = $n;
        let probe = move |probe| match probe {
            1 | 2 => ::apifuture::ready::<_, E>(Progress::Pending),
            _ => ::apifuture::ready(Progress::Ready(val(n))),
        };
        (::apifuture::poll_until_ready(fast(), probe), Trigger::None)
    }};
    (from_future, $n:expr) => {{
        let (n, (sender, receiver)) = ($n, futures::channel::oneshot::channel::<T>());
        let future = ::apifuture::from_future(async move { receiver.await.map_err(|_| err(0)) });
        (future, fire(move || sender.send(val(n))))
    }};
    (from_future_timer, $n:expr) => {{
        let n = $n;
        let timer = async move { async_io::Timer::after(ms(2)).await; Ok::<T, E>(val(n)) };
        (::apifuture::from_future(timer), Trigger::None)
    }};
}

/// Four futures of each kind through the four generic helpers, on each executor; a pending one
/// is completed from another thread once its helper waits. `$want(n)`: the expected outcome.
macro_rules! helpers_case {
    ($want:ident: $($kind:ident),*) => {$(
        #[test]
        fn $kind() {
            let outcomes = everywhere(|| {
                let [(a, ta), (b, tb), (c, tc), (d, td)] = [1, 2, 3, 4].map(|n| src!($kind, n));
                let [sa, sb, sc, sd] = [ta, tb, tc, td].map(|t| on_pending([t]));
                async move {
                    [
                        SignalOnPending::new(by_await(a), sa).await,
                        SignalOnPending::new(by_result_async(b), sb).await,
                        SignalOnPending::new(by_future(c), sc).await,
                        SignalOnPending::new(by_into_future(d), sd).await,
                    ]
                }
            });
            for (executor, outcomes) in outcomes {
                for (n, outcome) in (1..).zip(outcomes) {
                    assert_eq!(norm(outcome), $want(n), "{executor}, helper {n}");
                }
            }
        }
    )*};
}

/// The futures and tokio toolboxes on futures of each kind (kinds with a trigger), in a tokio
/// task; after each wait that gives up, the future completes and still gives its value.
macro_rules! toolbox_case {
    ($($kind:ident),*) => {$(
        #[test]
        fn $kind() {
            let make = |n: u32| src!($kind, n);
            let ((a, ta), (b, tb)) = (make(1), make(2));
            let producer = thread::spawn(move || [ta, tb].map(pull));
            assert_eq!(norm(smol::block_on(a)), ok(1));
            assert_eq!(norm(futures::executor::block_on(b)), ok(2));
            producer.join().unwrap();

            on_tokio(async move {
                let (a, ta) = make(3);
                let task = tokio::spawn(a);
                pull(ta);
                assert_eq!(norm(task.await.unwrap()), ok(3));

                let ((a, ta), (b, tb)) = (make(1), make(2));
                let joined = async move { futures::join!(a, b) };
                let (a, b) = SignalOnPending::new(joined, on_pending([tb, ta])).await;
                assert_eq!((norm(a), norm(b)), (ok(1), ok(2)));

                let (futures, triggers): (Vec<_>, Vec<_>) = (1..=3).map(make).unzip();
                let all = futures::future::join_all(futures);
                let outcomes = SignalOnPending::new(all, on_pending(triggers.into_iter().rev()));
                let outcomes: Vec<_> = outcomes.await.into_iter().map(norm).collect();
                assert_eq!(outcomes, [ok(1), ok(2), ok(3)]);

                let ((a, ta), (b, tb)) = (make(1), make(2));
                match SignalOnPending::new(futures::future::select(a, b), on_pending([tb])).await {
                    Either::Right((b, a)) => {
                        assert_eq!(norm(b), ok(2));
                        pull(ta);
                        assert_eq!(norm(a.await), ok(1));
                    }
                    Either::Left((a, _)) => panic!("won with nothing sent: {:?}", norm(a)),
                }

                let (futures, triggers): (Vec<_>, Vec<_>) = (1..=3).map(make).unzip();
                let unordered: FuturesUnordered<_> = futures.into_iter().collect();
                let all = unordered.map(norm).collect::<Vec<_>>();
                let outcomes = SignalOnPending::new(all, on_pending(triggers.into_iter().rev()));
                let outcomes = outcomes.await;
                assert_eq!(outcomes.len(), 3);
                assert!((1..=3).all(|n| outcomes.contains(&ok(n))), "{outcomes:?}");

                // On `&mut`: the loser keeps its value; the winner hands its out once.
                let ((mut a, ta), (mut b, tb)) = (make(1), make(2));
                let first = futures_lite::future::or(&mut a, &mut b);
                let first = SignalOnPending::new(first, on_pending([tb])).await;
                assert_eq!(norm(first), ok(2));
                pull(ta);
                assert_eq!(norm(a.await), ok(1));
                assert!(b.await.unwrap_err().is_consumed());

                let (mut a, ta) = make(5);
                tokio::select! {
                    outcome = &mut a => panic!("nothing was sent: {:?}", norm(outcome)),
                    () = tokio::time::sleep(ms(5)) => {}
                }
                pull(ta);
                assert_eq!(norm(a.await), ok(5));

                let ((mut a, ta), (mut b, tb)) = (make(6), make(7));
                assert!(tokio::time::timeout(ms(5), &mut a).await.is_err());
                pull(ta);
                assert_eq!(norm(a.await), ok(6));
                let in_time = tokio::time::timeout(LONG, &mut b);
                let outcome = SignalOnPending::new(in_time, on_pending([tb])).await;
                assert_eq!(norm(outcome.expect("completed in time")), ok(7));

                let (mut a, ta) = make(4);
                assert!(async_std::future::timeout(ms(5), &mut a).await.is_err());
                pull(ta);
                assert_eq!(norm(a.await), ok(4));
            });
        }
    )*};
}

/// `join_all_async`, `wait_async` and `as_completed_async` through generic helpers, on futures
/// of each kind (kinds with a trigger), in a smol task and a tokio task.
macro_rules! multi_case {
    ($($kind:ident),*) => {$(
        #[test]
        fn $kind() {
            let make = |n: u32| src!($kind, n);
            let task = move || async move {
                let (futures, triggers): (Vec<_>, Vec<_>) = (1..=3).map(make).unzip();
                let outcomes = SignalOnPending::new(gather(futures), on_pending(triggers));
                let outcomes: Vec<_> = outcomes.await.into_iter().map(norm).collect();
                assert_eq!(outcomes, [ok(1), ok(2), ok(3)]);

                let (mut futures, mut triggers): (Vec<_>, Vec<_>) = (1..=3).map(make).unzip();
                let second = triggers.remove(1);
                let first = split(&mut futures, ReturnWhen::FirstCompleted);
                let first = SignalOnPending::new(first, on_pending([second]));
                assert_eq!(first.await, (vec![1], vec![0, 2]));
                let all = split(&mut futures, ReturnWhen::AllCompleted);
                let all = SignalOnPending::new(all, on_pending(triggers));
                assert_eq!(all.await, (vec![0, 1, 2], vec![]));
                for (n, future) in (1..).zip(futures) {
                    assert_eq!(norm(by_await(future).await), ok(n)); // the waits took nothing
                }

                let (futures, triggers): (Vec<_>, Vec<_>) = (1..=3).map(make).unzip();
                let all = in_completion_order(futures);
                let outcomes = SignalOnPending::new(all, on_pending(triggers.into_iter().rev()));
                let mut outcomes = outcomes.await;
                outcomes.sort_by_key(|(index, _)| *index);
                let outcomes: Vec<_> = outcomes.into_iter().map(|(i, o)| (i, norm(o))).collect();
                assert_eq!(outcomes, [(0, ok(1)), (1, ok(2)), (2, ok(3))]);
            };
            on_smol(task());
            on_tokio(task());
        }
    )*};
}

/// One module per `(T, E)`: `val` makes a `T`, `err` an `E`. Every failure type is shared as it
/// is, `BoxError` included (the handles' failure type is `Arc<E>`).
macro_rules! matrix {
    ($($module:ident: T = $t:ty, E = $e:ty, val = $val:ident, err = $err:ident;)*) => {$(
        mod $module {
            use super::*;
            use super::{$err as err, $val as val};

            type T = $t;
            type E = $e;

            fn share<A: ApiFuture<Value = T, Failure = E> + 'static>(f: A) -> SharedFuture<T, E> {
                f.into_shared()
            }

            fn ok(n: u32) -> Result<T, String> {
                Ok(val(n))
            }

            fn failure(code: u32) -> Result<T, String> {
                Err(Error::Failed(err(code)).to_string())
            }

            mod helpers {
                use super::*;

                helpers_case!(ok: ready, spawn, promise, boxed, shared, map, map_err, and_then, retry,
                    retry_backoff, polling, polling_backoff, from_future, from_future_timer);
                helpers_case!(failure: failed, map_err_failed);

                /// `ResultAsync` as a plain `Future`, through the `Future` and `IntoFuture` helpers.
                #[test]
                fn result_async() {
                    let outcomes = everywhere(|| {
                        let ((mut a, ta), (mut b, tb)) = (src!(promise, 1), src!(failed, 2));
                        let signal = on_pending([ta]);
                        async move {
                            let timed_out = by_future(a.result_async(ms(2))).await;
                            let got = SignalOnPending::new(by_future(a.result_async(LONG)), signal);
                            let got = got.await;
                            pull(tb);
                            (timed_out, got, by_into_future(b.result_async(LONG)).await)
                        }
                    });
                    for (executor, (timed_out, got, failed)) in outcomes {
                        assert!(timed_out.unwrap_err().is_timeout(), "{executor}");
                        assert_eq!(norm(got), ok(1), "{executor}");
                        assert_eq!(norm(failed), failure(2), "{executor}");
                    }
                }
            }

            mod toolbox {
                use super::*;

                toolbox_case!(promise, boxed, shared, map, map_err, and_then, retry, polling,
                    from_future);
            }

            mod multi {
                use super::*;

                multi_case!(promise, boxed, shared, map, map_err, and_then, retry, polling, from_future);
            }
        }
    )*};
}
