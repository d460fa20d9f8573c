//! DESIGN.md section 5, "Using it from generic and async code", with `T = &'static str` (the
//! owned `T` is the `owned_values` binary): the matrix of `crate::shapes` for each failure
//! type. Then an SDK client (`impl ApiFuture` returns, a trait, a `dyn` trait), a user's own
//! wrapper future, and lazy futures progressing side by side in the multi-future waits.
#![cfg(not(miri))] // real executors need epoll and real threads

use crate::shapes::*;

matrix! {
    str_box: T = &'static str, E = BoxError, val = name, err = box_err;
    str_str: T = &'static str, E = &'static str, val = name, err = str_err;
    str_string: T = &'static str, E = String, val = name, err = string_err;
    str_sdk: T = &'static str, E = SdkError, val = name, err = sdk_err;
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
