//! Helpers shared by the test files: a value that counts its drops, and the executors every
//! async test runs under.
#![allow(dead_code)] // each test file uses a different subset

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts live values: every `Tracked` created must be dropped exactly once.
#[derive(Debug, Default)]
pub struct DropCounter {
    created: AtomicUsize,
    dropped: AtomicUsize,
}

impl DropCounter {
    pub fn new() -> Arc<Self> {
        Arc::new(DropCounter::default())
    }

    pub fn track(self: &Arc<Self>, value: u64) -> Tracked {
        self.created.fetch_add(1, Ordering::SeqCst);
        Tracked {
            value,
            counter: Arc::clone(self),
        }
    }

    pub fn created(&self) -> usize {
        self.created.load(Ordering::SeqCst)
    }

    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Panics unless every value created so far was dropped exactly once.
    pub fn assert_all_dropped(&self) {
        assert_eq!(
            self.created(),
            self.dropped(),
            "created {} values, dropped {}",
            self.created(),
            self.dropped()
        );
    }
}

/// A value whose drop is counted by its [`DropCounter`].
#[derive(Debug)]
pub struct Tracked {
    pub value: u64,
    counter: Arc<DropCounter>,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let before = self.counter.dropped.fetch_add(1, Ordering::SeqCst);
        assert!(
            before < self.counter.created.load(Ordering::SeqCst),
            "a value was dropped twice"
        );
    }
}

/// The error type most tests use.
pub type TestError = &'static str;

/// Runs `make()` to completion under smol's executor and then under futures-lite's `block_on`:
/// the two executors every async behaviour is tested with. Under Miri, futures-lite's
/// `block_on` only (smol's executor needs epoll).
pub fn on_two_executors<F, Fut>(mut make: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    #[cfg(not(miri))]
    {
        let executor = smol::LocalExecutor::new();
        smol::block_on(executor.run(make()));
    }
    futures_lite::future::block_on(make());
}

/// Waits until the pool's threads have exited. Miri reports threads still running when `main`
/// returns, so tests that `spawn` call this at their end when run under Miri.
pub fn retire_pool_threads() {
    if cfg!(miri) {
        let keep_alive = apifuture::pool::keep_alive();
        apifuture::pool::set_keep_alive(std::time::Duration::from_millis(1));
        let mut rounds = 0;
        while apifuture::pool::thread_count() > 0 {
            rounds += 1;
            assert!(rounds < 100_000, "pool threads never retired");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        apifuture::pool::set_keep_alive(keep_alive);
    }
}

/// How many times stress loops run: fewer under Miri, which is ~1000x slower.
pub const fn iterations(native: usize, miri: usize) -> usize {
    if cfg!(miri) { miri } else { native }
}

/// An `ApiFuture` that keeps every provided method of the trait (no fast path), wrapping an
/// awaitable future: tests the trait's own blocking and async waits.
pub struct ViaTrait<T, E> {
    pub inner: apifuture::AwaitableConcurrentFuture<T, E>,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

impl<T, E> ViaTrait<T, E> {
    pub fn new(inner: apifuture::AwaitableConcurrentFuture<T, E>) -> Self {
        ViaTrait {
            inner,
            terminated: false,
        }
    }
}

impl<T: Send, E: Send> apifuture::FusedFuture for ViaTrait<T, E> {
    fn is_terminated(&self) -> bool {
        self.terminated
    }
}

// By hand: a derive would require `T: Debug` and `E: Debug`.
impl<T, E> std::fmt::Debug for ViaTrait<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ViaTrait").field(&self.inner).finish()
    }
}

impl<T: Send, E: Send> apifuture::ApiFuture for ViaTrait<T, E> {
    type Value = T;
    type Failure = E;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        self.inner.poll_ready(cx)
    }

    fn try_result(&mut self) -> Option<Result<T, apifuture::Error<E>>> {
        self.inner.try_result()
    }
}

impl<T: Send, E: Send> Future for ViaTrait<T, E> {
    type Output = Result<T, apifuture::Error<E>>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.get_mut();
        let polled = apifuture::ApiFuture::poll_outcome(this, cx);
        this.terminated |= polled.is_ready();
        polled
    }
}

/// Two threads meet here, then each spins for its own number of rounds before acting, so that
/// over many rounds each side's step lands before, during and after the other's.
#[derive(Debug, Default)]
pub struct StartLine {
    arrived: AtomicUsize,
}

impl StartLine {
    pub fn new() -> Self {
        StartLine::default()
    }

    /// Waits for the other thread, then spins `rounds` times (yields under Miri, whose
    /// scheduler only switches threads at yields and blocking points often enough there).
    pub fn meet_and_delay(&self, rounds: usize) {
        self.arrived.fetch_add(1, Ordering::SeqCst);
        let mut spins = 0u32;
        while self.arrived.load(Ordering::SeqCst) < 2 {
            spins += 1;
            if spins < 1_000 && !cfg!(miri) {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        for _ in 0..rounds {
            relax();
        }
    }
}

/// One round of a race: `produce` on a thread of its own and `consume` on this one, released
/// together from a [`StartLine`]. Over `spread` rounds the producer's spin grows while the
/// consumer's shrinks, sweeping their relative timing. Returns what `consume` returned.
pub fn race<P: Send, R>(
    round: usize,
    spread: usize,
    produce: impl FnOnce() -> P + Send,
    consume: impl FnOnce() -> R,
) -> (P, R) {
    let start = StartLine::new();
    let delay = round % spread;
    std::thread::scope(|scope| {
        let producer = scope.spawn(|| {
            start.meet_and_delay(delay);
            produce()
        });
        start.meet_and_delay(spread - 1 - delay);
        let consumed = consume();
        (producer.join().unwrap(), consumed)
    })
}

/// A pause in a spin loop: a spin, or a yield under Miri, whose scheduler switches threads at
/// yields.
pub fn relax() {
    if cfg!(miri) {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Wraps a future and sends one message on `signal` the first time it returns `Pending`: by
/// then its waker is registered, so another thread can act knowing the wait is under way. The
/// sender is dropped when the future finishes, so a receiver never waits for a signal that
/// cannot come.
pub struct SignalOnPending<F: Future> {
    inner: std::pin::Pin<Box<F>>,
    signal: Option<std::sync::mpsc::Sender<()>>,
}

impl<F: Future> SignalOnPending<F> {
    pub fn new(inner: F, signal: std::sync::mpsc::Sender<()>) -> Self {
        SignalOnPending {
            inner: Box::pin(inner),
            signal: Some(signal),
        }
    }
}

impl<F: Future> Future for SignalOnPending<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        let polled = self.inner.as_mut().poll(cx);
        match polled {
            std::task::Poll::Pending => {
                if let Some(signal) = self.signal.take() {
                    let _ = signal.send(());
                }
            }
            std::task::Poll::Ready(_) => self.signal = None,
        }
        polled
    }
}

/// Runs `future` on this thread (parking between polls, woken by its waker) for at most
/// `limit`; `None` if it was still pending then. Needs no timer of async-io, so it works under
/// Miri: use it with a generous limit where a hang is the failure to detect.
pub fn block_on_within<F: Future>(future: F, limit: std::time::Duration) -> Option<F::Output> {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// Gives up on two async waits on a pending `future` the ways a caller does, without timers
/// (so it runs under Miri): a zero timeout, and a wait polled once and dropped (what a longer
/// timeout or a `select` does).
pub async fn give_up_two_async_waits<T: Send, E: Send>(
    future: &mut apifuture::AwaitableConcurrentFuture<T, E>,
) {
    use apifuture::ApiFuture;
    use std::task::{Context, Waker};
    assert!(matches!(
        future.result_async(std::time::Duration::ZERO).await,
        Err(apifuture::Error::Timeout)
    ));
    let mut waiting = std::pin::pin!(future.result_async(None));
    assert!(
        waiting
            .as_mut()
            .poll(&mut Context::from_waker(Waker::noop()))
            .is_pending()
    );
}

/// A waker that counts its wake-ups.
#[derive(Debug, Default)]
pub struct CountingWaker(pub AtomicUsize);

impl std::task::Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Polls `future` twice, pending both times, with two different counting wakers (a future
/// moved to another task); returns the wakers, the second being the one that should count.
pub fn poll_pending_with_two_wakers<F: Future>(
    mut future: std::pin::Pin<&mut F>,
) -> (Arc<CountingWaker>, Arc<CountingWaker>) {
    use std::task::{Context, Waker};
    let wakers = (
        Arc::new(CountingWaker::default()),
        Arc::new(CountingWaker::default()),
    );
    for counting in [&wakers.0, &wakers.1] {
        let waker = Waker::from(Arc::clone(counting));
        assert!(
            future
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
    }
    wakers
}
