//! [`SharedFuture`]: one outcome, any number of waiters.
//!
//! The handles share the source future and, once it is there, its outcome. Whichever waiter
//! polls drives the source, under a lock, with one waker of the group's own: when the source
//! completes, that waker wakes every waiter that registered, async tasks and parked threads
//! alike. The group's waker does not own the source, so the last handle's drop really drops
//! (and so cancels) the source instead of keeping it alive through its own waker.

use std::fmt;
use std::future::IntoFuture;
use std::mem;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use crate::api_future::ApiFuture;
use crate::callbacks::is_failure;
use crate::compose::BoxApiFuture;
use crate::error::{BoxError, Error};
use crate::timeout::Await;

/// An error type that [`SharedFuture`] can clone: [`BoxError`] is not `Clone`, so share a
/// future of `BoxError` as `.map_err(SharedError::from).shared()`.
///
/// ```
/// use apifuture::{spawn, ApiFuture, ApiFutureExt, BoxError, SharedError};
///
/// let mut a = spawn(|| Err::<u8, BoxError>("overloaded".into()))
///     .map_err(SharedError::from)
///     .shared();
/// let mut b = a.clone();
/// assert_eq!(a.result(None).unwrap_err().to_string(), "operation failed: overloaded");
/// assert_eq!(b.result(None).unwrap_err().to_string(), "operation failed: overloaded");
/// ```
pub type SharedError = Arc<dyn std::error::Error + Send + Sync>;

/// A future with any number of waiters: clone the handle, and every clone can be blocked on
/// or awaited, each with its own non-destructive timeout, and gets a clone of the one outcome.
/// Made by [`ApiFutureExt::shared`](crate::ApiFutureExt::shared).
///
/// - Each handle hands out the outcome once (later waits on that handle give
///   [`Error::Consumed`]); a fresh clone of any handle gets it again.
/// - Dropping a handle leaves the others as they are, also in the middle of a wait. Dropping
///   the last one drops the source future, which cancels it.
/// - Sharing a future whose outcome was already taken shares `Err(Error::Consumed)`.
/// - Values and errors must be `Clone` (each waiter gets a clone) and `Sync` (the finished
///   outcome is read by every handle without a lock); see [`SharedError`] for `BoxError`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{spawn, ApiFuture, ApiFutureExt};
///
/// let mut config = spawn(|| Ok::<_, String>(String::from("lr=0.1"))).shared();
/// let mut for_thread = config.clone();
/// let thread = std::thread::spawn(move || for_thread.result(Duration::from_secs(30)).unwrap());
/// # futures_lite::future::block_on(async {
/// assert_eq!(config.clone().await.unwrap(), "lr=0.1");
/// # });
/// assert_eq!(thread.join().unwrap(), "lr=0.1");
/// assert_eq!(config.result(None).unwrap(), "lr=0.1");
/// ```
#[must_use = "futures do nothing unless you wait on them"]
pub struct SharedFuture<T, E = BoxError> {
    group: Arc<Group<T, E>>,
    /// This handle's key among the waiters.
    id: usize,
    /// Whether this handle already handed out the outcome.
    taken: bool,
}

struct Group<T, E> {
    /// The outcome, once there: read without a lock by every handle.
    outcome: OnceLock<Result<T, Error<E>>>,
    /// The source, until its outcome is moved into `outcome` (then it is dropped).
    source: Mutex<Option<BoxApiFuture<T, E>>>,
    waiters: Arc<Waiters>,
    /// The group's waker, given to the source: wakes every registered waiter.
    waker: Waker,
    next_id: AtomicUsize,
}

/// The registered async (and parked blocking) waiters. Owns no part of the source.
#[derive(Default)]
struct Waiters {
    list: Mutex<Vec<(usize, Waker)>>,
    /// The source was polled with the group's waker and has not woken it since: a waiter
    /// that comes now only needs to register, not to poll the source again.
    armed: AtomicBool,
}

impl Waiters {
    fn lock(&self) -> MutexGuard<'_, Vec<(usize, Waker)>> {
        self.list.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn register(&self, id: usize, waker: &Waker) {
        let mut list = self.lock();
        match list.iter_mut().find(|(key, _)| *key == id) {
            Some((_, known)) if known.will_wake(waker) => {}
            Some((_, known)) => known.clone_from(waker),
            None => list.push((id, waker.clone())),
        }
    }

    fn remove(&self, id: usize) {
        let mut list = self.lock();
        if let Some(at) = list.iter().position(|(key, _)| *key == id) {
            list.swap_remove(at);
        }
    }

    fn wake_all(&self) {
        // Disarm before taking the list: a waiter registering after this sees it disarmed
        // (the list's lock orders the two) and polls the source itself.
        self.armed.store(false, Ordering::Release);
        let list = mem::take(&mut *self.lock());
        for (_, waker) in list {
            waker.wake();
        }
    }
}

impl Wake for Waiters {
    fn wake(self: Arc<Self>) {
        self.wake_all();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wake_all();
    }
}

impl<T, E> SharedFuture<T, E> {
    pub(crate) fn new(source: BoxApiFuture<T, E>) -> Self {
        let waiters = Arc::new(Waiters::default());
        let group = Group {
            outcome: OnceLock::new(),
            source: Mutex::new(Some(source)),
            waker: Waker::from(Arc::clone(&waiters)),
            waiters,
            next_id: AtomicUsize::new(1),
        };
        SharedFuture {
            group: Arc::new(group),
            id: 0,
            taken: false,
        }
    }

    fn source(&self) -> MutexGuard<'_, Option<BoxApiFuture<T, E>>> {
        // A panic while the lock is held can only come from the source's own poll, which the
        // crate's futures catch; keep going with what is there.
        self.group
            .source
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the shared outcome is there. Never blocks on the source.
    ///
    /// ```
    /// use apifuture::{promise, ApiFutureExt};
    /// let (promise, future) = promise::<u8, String>();
    /// let shared = future.shared();
    /// assert!(!shared.done());
    /// promise.set_result(1);
    /// assert!(shared.done());
    /// ```
    pub fn done(&self) -> bool
    where
        T: Send,
        E: Send,
    {
        if self.group.outcome.get().is_some() {
            return true;
        }
        let mut source = self.source();
        if let Some(inner) = &mut *source {
            if inner
                .poll_ready(&mut Context::from_waker(&self.group.waker))
                .is_ready()
            {
                self.settle(&mut source);
            }
        }
        self.group.outcome.get().is_some()
    }

    /// Moves a ready source's outcome into the group, drops the source, and wakes everyone.
    fn settle(&self, source: &mut Option<BoxApiFuture<T, E>>)
    where
        T: Send,
        E: Send,
    {
        let Some(inner) = source else {
            return;
        };
        if let Some(outcome) = inner.try_result() {
            // Only ever set here, under the source's lock, with the source still there.
            let _ = self.group.outcome.set(outcome);
            *source = None;
            // The source may have completed inside our poll without waking its waker (a
            // future driven by polling): the others must hear of it too.
            self.group.waiters.wake_all();
        }
    }
}

impl<T, E> Clone for SharedFuture<T, E> {
    /// Another handle on the same outcome; it has not handed it out yet.
    fn clone(&self) -> Self {
        SharedFuture {
            group: Arc::clone(&self.group),
            id: self.group.next_id.fetch_add(1, Ordering::Relaxed),
            taken: false,
        }
    }
}

impl<T, E> Drop for SharedFuture<T, E> {
    fn drop(&mut self) {
        // Once the outcome is there the list was emptied, and nobody registers any more.
        if self.group.outcome.get().is_none() {
            self.group.waiters.remove(self.id);
        }
    }
}

impl<T, E> ApiFuture<T, E> for SharedFuture<T, E>
where
    T: Clone + Send + Sync,
    E: Clone + Send + Sync,
{
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.taken || self.group.outcome.get().is_some() {
            return Poll::Ready(());
        }
        // Register before looking, so a completion in between still wakes this waiter.
        self.group.waiters.register(self.id, cx.waker());
        if self.group.waiters.armed.load(Ordering::Acquire) {
            return Poll::Pending;
        }
        let mut source = self.source();
        let Some(inner) = &mut *source else {
            return Poll::Ready(());
        };
        // Armed before polling: a wake-up during the poll disarms it again.
        self.group.waiters.armed.store(true, Ordering::Release);
        if inner
            .poll_ready(&mut Context::from_waker(&self.group.waker))
            .is_pending()
        {
            return Poll::Pending;
        }
        self.settle(&mut source);
        Poll::Ready(())
    }

    fn try_result(&mut self) -> Option<Result<T, Error<E>>> {
        if self.taken {
            return Some(Err(Error::Consumed));
        }
        let outcome = match self.group.outcome.get() {
            Some(outcome) => outcome,
            None => {
                let mut source = self.source();
                self.settle(&mut source);
                drop(source);
                self.group.outcome.get()?
            }
        };
        let outcome = outcome.clone();
        self.taken = true;
        Some(outcome)
    }

    fn peek_failed(&mut self) -> Option<bool> {
        if self.taken {
            return Some(false);
        }
        if self.group.outcome.get().is_none() {
            let mut source = self.source();
            self.settle(&mut source);
        }
        self.group.outcome.get().map(is_failure)
    }
}

impl<T, E> IntoFuture for SharedFuture<T, E>
where
    T: Clone + Send + Sync,
    E: Clone + Send + Sync,
{
    type Output = Result<T, Error<E>>;
    type IntoFuture = Await<Self, T, E>;

    fn into_future(self) -> Self::IntoFuture {
        Await::new(self)
    }
}

impl<T, E> fmt::Debug for SharedFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFuture")
            .field("done", &self.group.outcome.get().is_some())
            .field("taken", &self.taken)
            .field("handles", &Arc::strong_count(&self.group))
            .finish()
    }
}
