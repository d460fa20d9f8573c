//! DESIGN.md section 5, "Using it from generic and async code": each shape is written with
//! concrete types where the task is spawned (where rustc proves `Send`, the proof that lifetimes
//! in `T` or `E` used to break) and run, asserting the outcomes. One module per `(T, E)`:
//! - `helpers`: generic `async fn`s bounded on `ApiFuture` (`.await`, `result_async`), `Future`
//!   and `IntoFuture`, in `smol::spawn`, `tokio::spawn` (multi-thread) and
//!   `async_std::task::spawn`, for every future type; `ResultAsync` as a plain `Future`;
//! - `toolbox`: `block_on`s, `tokio::spawn(f)`, `join!`, `join_all`, `select`,
//!   `FuturesUnordered`, `or`, `tokio::select!` and timeouts on `&mut f`;
//! - `multi`: `join_all_async`, `wait_async` and `as_completed_async` in generic helpers.
//!
//! Then an SDK client (`impl ApiFuture` returns, a trait, a `dyn` trait), a user's own wrapper
//! future, and lazy futures progressing side by side in the multi-future waits.
#![cfg(not(miri))] // real executors need epoll and real threads

use crate::common;

use std::fmt::{self, Display};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex, mpsc};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use apifuture::{
    ApiFuture, ApiFutureExt, AwaitableConcurrentFuture, BoxApiFuture, BoxError, Error, FromFuture,
    Progress, RetryPolicy, ReturnWhen, SharedFuture, as_completed, as_completed_async, failed,
    from_future, join_all, join_all_async, poll_until_ready, promise, ready, retry, spawn, wait,
    wait_async,
};
use common::SignalOnPending;
use futures::StreamExt;
use futures::future::Either;
use futures::stream::FuturesUnordered;

const LONG: Duration = Duration::from_secs(10);

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// A quick schedule for the retry and polling cases.
fn fast() -> RetryPolicy {
    RetryPolicy::new().with_initial_delay(ms(1))
}

// ---- Executors: each runs a `Send` task spawned on it and returns its output -----------------

static TOKIO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(2).enable_time().build().unwrap()
});

/// A task as the executors receive it: boxed, so that their spawn and `block_on` machinery is
/// compiled once per output type, not once per shape. `Fut: Send + 'static` is still proven
/// on each concrete future, where it is boxed.
type Task<R> = Pin<Box<dyn Future<Output = R> + Send>>;

fn on_smol<Fut: Future<Output: Send> + Send + 'static>(task: Fut) -> Fut::Output {
    fn run<R: Send + 'static>(task: Task<R>) -> R {
        smol::block_on(smol::spawn(task))
    }
    run(Box::pin(task))
}

/// A panic in the task is resumed here.
fn on_tokio<Fut: Future<Output: Send> + Send + 'static>(task: Fut) -> Fut::Output {
    fn run<R: Send + 'static>(task: Task<R>) -> R {
        let joined = TOKIO.block_on(async { tokio::spawn(task).await });
        joined.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
    run(Box::pin(task))
}

fn on_async_std<Fut: Future<Output: Send> + Send + 'static>(task: Fut) -> Fut::Output {
    fn run<R: Send + 'static>(task: Task<R>) -> R {
        async_std::task::block_on(async_std::task::spawn(task))
    }
    run(Box::pin(task))
}

/// Runs `task()` on each executor; outputs with the executor's name.
fn everywhere<Fut, R>(task: impl Fn() -> Fut) -> [(&'static str, R); 3]
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
type Trigger = Option<Box<dyn FnOnce() + Send>>;

fn fire<R>(complete: impl FnOnce() -> R + Send + 'static) -> Trigger {
    Some(Box::new(move || drop(complete())))
}

fn pull(trigger: Trigger) {
    trigger.into_iter().for_each(|complete| complete());
}

/// The signal of a [`SignalOnPending`]: once the wrapped wait is pending (its waker registered),
/// another thread pulls `triggers`, in order.
fn on_pending(triggers: impl IntoIterator<Item = Trigger>) -> mpsc::Sender<()> {
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
fn pending<V: Send + 'static, X: Send + 'static>(
    outcome: Result<V, X>,
) -> (AwaitableConcurrentFuture<V, X>, Trigger) {
    let (producer, future) = promise();
    (future, fire(move || producer.complete(outcome)))
}

/// `(future, trigger)` with the future wrapped.
fn with<F, G>((future, trigger): (F, Trigger), wrap: impl FnOnce(F) -> G) -> (G, Trigger) {
    (wrap(future), trigger)
}

/// Runs `f` on a thread and waits at most `LONG` for it: a hang fails instead of hanging.
fn within<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    let (sender, receiver) = mpsc::channel();
    thread::spawn(move || sender.send(f()));
    match receiver.recv_timeout(LONG) {
        Ok(output) => output,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("still waiting after {LONG:?}: a hang"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("the waiting thread panicked"),
    }
}

// ---- A user's generic helpers ----------------------------------------------------------------

async fn by_await<F: ApiFuture>(f: F) -> F::Output {
    f.await
}

async fn by_result_async<F: ApiFuture>(mut f: F) -> F::Output {
    f.result_async(LONG).await
}

async fn by_future<F: Future>(f: F) -> F::Output {
    f.await
}

async fn by_into_future<F: IntoFuture>(f: F) -> F::Output {
    f.await
}

async fn gather<F: ApiFuture>(futures: Vec<F>) -> Vec<F::Output> {
    join_all_async(futures).await
}

async fn split<F: ApiFuture>(futures: &mut [F], when: ReturnWhen) -> (Vec<usize>, Vec<usize>) {
    wait_async(futures, LONG, when).await
}

async fn in_completion_order<F: ApiFuture>(futures: Vec<F>) -> Vec<(usize, F::Output)> {
    as_completed_async(futures, LONG).collect().await
}

/// An outcome with its error as text, so that every `E` compares (`BoxError` has no `PartialEq`).
fn norm<T, E: Display>(outcome: Result<T, Error<E>>) -> Result<T, String> {
    outcome.map_err(|error| error.to_string())
}

// ---- A user's own types; the values and errors of the matrix ---------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Run {
    id: u32,
    name: String,
}

#[derive(Debug, Clone, PartialEq)]
enum SdkError {
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

const NAMES: [&str; 8] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven",
];

fn name(n: u32) -> &'static str {
    NAMES[n as usize]
}

fn run(n: u32) -> Run {
    let name = format!("run-{n}");
    Run { id: n, name }
}

fn box_err(code: u32) -> BoxError {
    format!("E{code}").into()
}

fn str_err(code: u32) -> &'static str {
    ["e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"][code as usize]
}

fn string_err(code: u32) -> String {
    format!("E{code}")
}

fn sdk_err(code: u32) -> SdkError {
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

matrix! {
    str_box: T = &'static str, E = BoxError, val = name, err = box_err;
    str_str: T = &'static str, E = &'static str, val = name, err = str_err;
    str_string: T = &'static str, E = String, val = name, err = string_err;
    str_sdk: T = &'static str, E = SdkError, val = name, err = sdk_err;
    run_box: T = Run, E = BoxError, val = run, err = box_err;
    run_str: T = Run, E = &'static str, val = run, err = str_err;
    run_string: T = Run, E = String, val = run, err = string_err;
    run_sdk: T = Run, E = SdkError, val = run, err = sdk_err;
}

// ---- An SDK client: `impl ApiFuture` returns, a trait, a `dyn` trait -------------------------

struct Client;

impl Client {
    /// A call that the server refuses once (503) before answering, retried. `use<>`: without it
    /// (edition 2024) the future would borrow `self`, and `tokio::spawn` would reject it.
    fn get(&self, id: u32) -> impl ApiFuture<Value = Run, Failure = SdkError> + use<> {
        retry(fast(), move |attempt| {
            spawn(move || match attempt {
                1 => Err(SdkError::Status(503)),
                _ => Ok(run(id)),
            })
        })
    }
}

/// In a trait, `+ 'static` does what `use<>` does above, back to Rust 1.85.
trait RunsApi {
    fn get(&self, id: u32) -> impl ApiFuture<Value = Run, Failure = SdkError> + 'static;
}

impl RunsApi for Client {
    fn get(&self, id: u32) -> impl ApiFuture<Value = Run, Failure = SdkError> + 'static {
        Client::get(self, id)
    }
}

/// A test double that has the runs already.
struct Cached;

impl RunsApi for Cached {
    fn get(&self, id: u32) -> impl ApiFuture<Value = Run, Failure = SdkError> + 'static {
        ready(run(id))
    }
}

type RunTask = tokio::task::JoinHandle<Result<Run, Error<SdkError>>>;

/// Generic over the client: the call goes to tokio as a task of its own.
fn spawn_get<C: RunsApi>(client: &C, id: u32) -> RunTask {
    tokio::spawn(client.get(id))
}

async fn fetch<C: RunsApi>(client: &C, id: u32) -> Result<Run, Error<SdkError>> {
    client.get(id).await
}

#[test]
fn client_methods_returning_impl_api_future_spawn_on_tokio() {
    let outcomes = on_tokio(async {
        let (inherent, via_trait) = (
            tokio::spawn(Client.get(1)),
            tokio::spawn(RunsApi::get(&Client, 2)),
        );
        let tasks = [
            inherent,
            via_trait,
            spawn_get(&Client, 3),
            spawn_get(&Cached, 4),
        ];
        futures::future::try_join_all(tasks).await.unwrap()
    });
    assert_eq!(outcomes, (1..=4).map(|id| Ok(run(id))).collect::<Vec<_>>());
    for (executor, outcome) in everywhere(|| async { fetch(&Client, 5).await }) {
        assert_eq!(outcome, Ok(run(5)), "{executor}");
    }
}

trait DynRunsApi: Send + Sync {
    fn get(&self, id: u32) -> BoxApiFuture<Run, SdkError>;
}

impl DynRunsApi for Client {
    fn get(&self, id: u32) -> BoxApiFuture<Run, SdkError> {
        Client::get(self, id).into_boxed()
    }
}

/// A server that reports the run pending twice before it is there.
struct Polled;

impl DynRunsApi for Polled {
    fn get(&self, id: u32) -> BoxApiFuture<Run, SdkError> {
        let probe = move |probe| match probe {
            1 | 2 => ready::<_, SdkError>(Progress::Pending),
            _ => ready(Progress::Ready(run(id))),
        };
        poll_until_ready(fast(), probe).into_boxed()
    }
}

/// A server that cannot be reached.
struct Down;

impl DynRunsApi for Down {
    fn get(&self, _id: u32) -> BoxApiFuture<Run, SdkError> {
        failed(SdkError::Network("unreachable".into())).into_boxed()
    }
}

async fn fetch_dyn(client: &dyn DynRunsApi, id: u32) -> Result<Run, Error<SdkError>> {
    client.get(id).await
}

#[test]
fn dyn_client_returns_box_api_future() {
    let clients: Vec<Box<dyn DynRunsApi>> =
        vec![Box::new(Client), Box::new(Polled), Box::new(Down)];
    let outcomes = on_tokio(async move {
        let tasks = (1..).zip(&clients).map(|(id, c)| tokio::spawn(c.get(id)));
        futures::future::try_join_all(tasks).await.unwrap()
    });
    let down = Err(Error::Failed(SdkError::Network("unreachable".into())));
    assert_eq!(outcomes, [Ok(run(1)), Ok(run(2)), down]);
    let client: Arc<dyn DynRunsApi> = Arc::new(Polled);
    let outcomes = everywhere(|| {
        let client = Arc::clone(&client);
        async move { fetch_dyn(&*client, 7).await }
    });
    for (executor, outcome) in outcomes {
        assert_eq!(outcome, Ok(run(7)), "{executor}");
    }
}

// ---- A user's own wrapper future -------------------------------------------------------------

/// The outcome of any `ApiFuture`, and how long it took from the first poll.
struct Timed<F> {
    inner: F,
    started: Option<Instant>,
}

impl<F> Timed<F> {
    fn new(inner: F) -> Self {
        let started = None;
        Timed { inner, started }
    }
}

impl<F: ApiFuture> Future for Timed<F> {
    type Output = (F::Output, Duration);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let started = *this.started.get_or_insert_with(Instant::now);
        let polled = Pin::new(&mut this.inner).poll(cx);
        polled.map(|outcome| (outcome, started.elapsed()))
    }
}

async fn timed<F: ApiFuture>(f: F) -> (F::Output, Duration) {
    Timed::new(f).await
}

#[test]
fn timed_wrapper_in_spawned_tasks() {
    let slow = from_future(async {
        async_io::Timer::after(ms(20)).await;
        Ok::<_, SdkError>(run(1))
    });
    let (outcome, took) = on_tokio(async { tokio::spawn(Timed::new(slow)).await.unwrap() });
    assert_eq!((outcome, took >= ms(20)), (Ok(run(1)), true));

    // Lifetimes in `T` and `E`, a combinator, completed from another thread while it waits.
    let (future, trigger) = pending::<u32, &'static str>(Ok(2));
    let timed_map = SignalOnPending::new(Timed::new(future.map_value(name)), on_pending([trigger]));
    let (outcome, _) = on_tokio(async { tokio::spawn(timed_map).await.unwrap() });
    assert_eq!(outcome, Ok("two"));

    let outcomes = everywhere(|| {
        let retried = retry(fast(), |attempt| match attempt {
            1 => failed::<&'static str, BoxError>("busy".into()),
            _ => ready("three"),
        });
        async move { timed(retried).await.0.unwrap() }
    });
    assert_eq!(outcomes.map(|(_, value)| value), ["three"; 3]);
}

/// Whether the producer of a promise sees the cancellation when `wrap` of its future, in a
/// `Timed` polled once (the inner wait is then registered), is dropped mid-wait.
fn cancels<V: Send + 'static, X: Send + 'static, F: ApiFuture>(
    wrap: impl FnOnce(AwaitableConcurrentFuture<V, X>) -> F,
) -> bool {
    let (producer, future) = promise::<V, X>();
    let mut timed = Timed::new(wrap(future));
    let polled = Pin::new(&mut timed).poll(&mut Context::from_waker(Waker::noop()));
    assert!(polled.is_pending() && timed.started.is_some());
    drop(timed);
    producer.is_cancelled()
}

#[test]
fn timed_wrapper_dropped_mid_wait_cancels_the_producer() {
    assert!(cancels::<Run, SdkError, _>(|f| f));
    assert!(cancels::<u32, BoxError, _>(|f| f
        .map_value(run)
        .into_boxed()));
    assert!(cancels::<&str, u16, _>(|f| f.map_failure(SdkError::Status)));
    assert!(cancels::<u32, String, _>(|f| f.then_call(|n| ready(run(n)))));
    assert!(cancels::<Run, String, _>(|f| f.into_shared())); // the only handle
    assert!(cancels::<Run, &str, _>(|f| {
        let mut once = Some(f);
        retry(fast(), move |_| once.take().expect("one attempt"))
    }));
    assert!(cancels::<Progress<Run>, BoxError, _>(|f| {
        let mut once = Some(f);
        poll_until_ready(fast(), move |_| once.take().expect("one probe"))
    }));
    assert!(cancels::<Run, SdkError, _>(from_future));

    // Dropped by an executor: a tokio timeout gives up on it; completing it then is harmless.
    let (producer, future) = promise::<Run, SdkError>();
    let gave_up = on_tokio(async { tokio::time::timeout(ms(5), Timed::new(future)).await });
    assert!(gave_up.is_err() && producer.is_cancelled());
    producer.set_result(run(1));
}

// ---- Lazy futures progress side by side in the multi-future waits ----------------------------

/// When each sleeper started, and when each finished.
type Log = Arc<Mutex<(Vec<Instant>, Vec<Instant>)>>;
type Sleeper = FromFuture<futures::future::BoxFuture<'static, Result<usize, &'static str>>>;
type Sleeps = Vec<Result<usize, Error<&'static str>>>;

/// Three lazy futures (only their waiter drives them) that each sleep 200 ms on a timer, waited
/// for by `wait_all`: all three start before any finishes, and all take well under 3 x 200 ms.
fn assert_side_by_side(wait_all: impl FnOnce(Vec<Sleeper>) -> Sleeps + Send + 'static) {
    let log = Log::default();
    let sleeper = |index, log: Log| -> Sleeper {
        from_future(Box::pin(async move {
            log.lock().unwrap().0.push(Instant::now());
            async_io::Timer::after(ms(200)).await;
            log.lock().unwrap().1.push(Instant::now());
            Ok(index)
        }))
    };
    let sleepers = (0..3)
        .map(|index| sleeper(index, Arc::clone(&log)))
        .collect();
    let start = Instant::now();
    let outcomes = within(move || wait_all(sleepers));
    let took = start.elapsed();
    assert_eq!(outcomes, [Ok(0), Ok(1), Ok(2)]);
    let (starts, ends) = &*log.lock().unwrap();
    assert_eq!((starts.len(), ends.len()), (3, 3));
    assert!(
        starts.iter().max() <= ends.iter().min(),
        "a sleeper started after one finished"
    );
    assert!(took < ms(550), "three 200 ms sleeps took {took:?}");
}

#[test]
fn join_all_drives_lazy_futures_side_by_side() {
    assert_side_by_side(join_all);
}

#[test]
fn join_all_async_drives_lazy_futures_side_by_side() {
    assert_side_by_side(|sleepers| on_tokio(join_all_async(sleepers)));
}

#[test]
fn wait_all_completed_drives_lazy_futures_side_by_side() {
    assert_side_by_side(|mut sleepers| {
        let split = wait(&mut sleepers, LONG, ReturnWhen::AllCompleted);
        assert_eq!(split, (vec![0, 1, 2], vec![]));
        sleepers
            .iter_mut()
            .map(|f| f.result(Duration::ZERO))
            .collect()
    });
}

/// B (first) waits for what A sends after a timer; both lazy, in one wait.
fn dependent_pair() -> Vec<BoxApiFuture<u32, &'static str>> {
    let (sender, receiver) = futures::channel::oneshot::channel();
    let b = from_future(async move { receiver.await.map_err(|_| "A went away") });
    let a = from_future(async move {
        async_io::Timer::after(ms(20)).await;
        sender.send(7).map_err(|_| "B went away")?;
        Ok(1)
    });
    vec![b.into_boxed(), a.into_boxed()]
}

#[test]
fn a_lazy_future_waiting_for_another_in_the_same_wait_does_not_hang() {
    let want = vec![Ok(7), Ok(1)];
    assert_eq!(within(|| join_all(dependent_pair())), want);
    assert_eq!(within(|| on_tokio(join_all_async(dependent_pair()))), want);
    let waited = within(|| {
        let mut pair = dependent_pair();
        let split = wait(&mut pair, LONG, ReturnWhen::AllCompleted);
        (
            split,
            pair.iter_mut().map(|f| f.result(Duration::ZERO)).collect(),
        )
    });
    assert_eq!(waited, ((vec![0, 1], vec![]), want));
    let mut completed: Vec<_> = within(|| as_completed(dependent_pair(), LONG).collect());
    completed.sort_by_key(|(index, _)| *index);
    assert_eq!(completed, [(0, Ok(7)), (1, Ok(1))]);
}
