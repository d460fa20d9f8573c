//! [`SharedFuture`]: one outcome, any number of waiters.
//!
//! The handles share one allocation: the source future (its type erased), the waiters' wakers
//! and, once it is there, the outcome. Whichever waiter polls drives the source, under a lock;
//! when the source completes, every waiter that registered is woken, async tasks and parked
//! threads alike, and the next waiter to look moves the outcome out of the source.
//!
//! Who the source wakes depends on who was waiting when it was last polled:
//! - **One waiter** (the common case): the source is polled with that waiter's own waker and
//!   wakes it directly. Nothing else is made or gone through.
//! - **Several:** the source is polled with the group's waker, which wakes the whole list. A
//!   waiter that joins a source armed for a single other waiter polls it again, with the
//!   group's waker, so nobody relies on a waker that is not theirs.
//!
//! The group's waker holds the group weakly, so a pending source (which keeps the waker) does
//! not keep the group alive: the handles are the group's only owners, and the last one's drop
//! drops the source, which cancels it. That waker is made the first time the source is
//! polled for anyone but a lone waiter: a second waiter, or `done()`.

use std::fmt;
use std::mem;
use std::sync::{Arc, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};

use crate::api_future::{ApiFuture, future_by_poll_outcome};
use crate::error::{BoxError, Error, is_failure};
use crate::sync::{AtomicUsize, Mutex, MutexGuard, OnceLock, Ordering};

/// An error type that [`SharedFuture`] can clone: [`BoxError`] is not `Clone`, so share a
/// future of `BoxError` as `.map_failure(SharedError::from).into_shared()`.
///
/// ```
/// use apifuture::{spawn, ApiFuture, ApiFutureExt, BoxError, SharedError};
///
/// let mut a = spawn(|| Err::<u8, BoxError>("overloaded".into()))
///     .map_failure(SharedError::from)
///     .into_shared();
/// let mut b = a.clone();
/// assert_eq!(a.result(None).unwrap_err().to_string(), "operation failed: overloaded");
/// assert_eq!(b.result(None).unwrap_err().to_string(), "operation failed: overloaded");
/// ```
pub type SharedError = Arc<dyn std::error::Error + Send + Sync>;

/// A future with any number of waiters: clone the handle, and every clone can be blocked on
/// or awaited, each with its own non-destructive timeout, and gets a clone of the one outcome.
/// Made by [`ApiFutureExt::into_shared`](crate::ApiFutureExt::into_shared).
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
/// let mut config = spawn(|| Ok::<_, String>(String::from("lr=0.1"))).into_shared();
/// let mut for_thread = config.clone();
/// let thread = std::thread::spawn(move || for_thread.result(Duration::from_secs(30)).unwrap());
/// # futures_lite::future::block_on(async {
/// assert_eq!(config.clone().await.unwrap(), "lr=0.1");
/// # });
/// assert_eq!(thread.join().unwrap(), "lr=0.1");
/// assert_eq!(config.result(None).unwrap(), "lr=0.1");
/// ```
#[must_use = "dropping the last handle cancels the shared work; .await it, wait on it, or detach() it"]
pub struct SharedFuture<T, E = BoxError> {
    group: Handle<T, E>,
    /// This handle's key among the registered waiters, given at its first registration (0:
    /// none yet), or [`TAKEN`] once the handle handed out the outcome. One word and no flag
    /// beside it: a handle has no padding for the futures that hold it to copy around.
    key: usize,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

/// The key after `last`. With 64-bit keys, counting up from 1 never reaches [`TAKEN`] (2^64 - 2
/// registrations in one group, centuries at a nanosecond each), so the count needs no check.
#[cfg(target_pointer_width = "64")]
#[inline]
fn next_key(last: usize) -> usize {
    last + 1
}

/// The key after `last`. A narrower count could reach [`TAKEN`]: it starts over at 1 before
/// that, so only a handle registered 2^32 - 2 registrations ago and still waiting could share
/// a key.
#[cfg(not(target_pointer_width = "64"))]
#[inline]
fn next_key(last: usize) -> usize {
    if last == TAKEN - 1 { 1 } else { last + 1 }
}

/// The key of a handle that handed out the outcome. Keys are given counting up from 1 and
/// never reach this one (see [`next_key`]), so no registration ever gets it.
const TAKEN: usize = usize::MAX;

/// What the handles share: `S` is the source, a [`SourceCell`] whose future type is erased in the
/// handles, while the group's waker is made from the group before the erasure.
///
/// The group, its hub and its source cell lay out their fields in the order written
/// (`repr(C)`): fields that start with undefined bytes (an empty cell, an empty waker) come
/// after the ones with values, so that the compiler stores the group straight into its
/// allocation instead of building stretches of it on the stack and copying them over.
#[repr(C)]
struct Group<T, E, S: ?Sized> {
    hub: Hub<T, E>,
    source: Mutex<S>,
}

/// The source, until its outcome is moved into the hub.
#[repr(C)]
struct SourceCell<A> {
    /// The group's waker, once the source was found pending.
    waker: Option<Waker>,
    future: Option<A>,
}

/// The handles' group is the group's only owner: its waker holds it weakly.
type Handle<T, E> = Arc<Group<T, E, dyn Source<T, E>>>;

/// Wakes a group's waiters, if the group is still there.
struct GroupWaker<T, E>(Weak<Group<T, E, dyn Source<T, E>>>);

impl<T, E> Wake for GroupWaker<T, E>
where
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(group) = self.0.upgrade() {
            group.hub.wake_all();
        }
    }
}

/// Everything but the source.
#[repr(C)]
struct Hub<T, E> {
    /// Whose waker the source was last polled with: [`IDLE`], [`GROUP`] or [`direct`].
    watch: AtomicUsize,
    /// How many wakers `waiters` holds; written under its lock.
    registered: AtomicUsize,
    waiters: Mutex<Waiters>,
    /// The outcome, once there: read without a lock by every handle.
    outcome: OnceLock<Result<T, Error<E>>>,
}

/// The source was not polled since the last wake-up: the next waiter polls it.
const IDLE: usize = 0;
/// The source was polled with the group's waker and has not woken it since: every registered
/// waiter will hear of its completion, and a waiter that comes now only needs to register.
const GROUP: usize = 1;

/// The source was polled with the waker of the handle registered under `key`, the only
/// waiter then: its completion wakes that waiter directly, with no group waker to make and no
/// list to go through (the common case of one waiter). Any other waiter polls the source
/// again, which turns it to [`GROUP`].
fn direct(key: usize) -> usize {
    key << 1
}

/// The most waiter slots reserved ahead of need (24 B each).
const MAX_RESERVED: usize = 64;

/// The registered waiters' wakers, by handle key. The first is kept inline: one waiter is
/// common, and needs no list.
#[derive(Default)]
struct Waiters {
    last_key: usize,
    first: Option<(usize, Waker)>,
    rest: Vec<(usize, Waker)>,
}

impl Waiters {
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    fn find(&mut self, key: usize) -> Option<&mut Waker> {
        match &mut self.first {
            Some((known, waker)) if *known == key => Some(waker),
            _ => self
                .rest
                .iter_mut()
                .find(|(known, _)| *known == key)
                .map(|(_, waker)| waker),
        }
    }

    /// Adds `key`'s waker; `handles` (how many handles the group has) sizes the list whenever
    /// it has no room yet (at first, and after each wake-up takes it), so that handles
    /// registering one after the other do not grow it step by step.
    fn push(&mut self, key: usize, waker: Waker, handles: usize) {
        match self.first {
            None => self.first = Some((key, waker)),
            Some(_) => {
                if self.rest.capacity() == 0 {
                    // Every other handle may register; a group with many idle handles gets
                    // a bounded head start and grows as usual beyond it.
                    self.rest
                        .reserve_exact(handles.saturating_sub(1).clamp(1, MAX_RESERVED));
                }
                self.rest.push((key, waker));
            }
        }
    }

    fn remove(&mut self, key: usize) {
        if matches!(&self.first, Some((known, _)) if *known == key) {
            self.first = self.rest.pop();
        } else if let Some(at) = self.rest.iter().position(|(known, _)| *known == key) {
            self.rest.swap_remove(at);
        }
    }
}

/// The source behind `dyn`.
trait Source<T, E>: Send {
    /// Polls the source for `waiter` (a handle's key and waker, already registered), or for
    /// the group's waiters if `None`; moves its outcome into the hub once ready.
    fn poll(&mut self, group: &Handle<T, E>, waiter: Option<(usize, &Waker)>) -> Poll<()>;
    /// Moves the outcome into `hub` if the source has one, without polling it; true if the
    /// outcome is there now.
    fn collect(&mut self, hub: &Hub<T, E>) -> bool;
    /// [`ApiFuture::done_unpolled`] of the source, collecting an outcome it finds.
    fn done_unpolled(&mut self, hub: &Hub<T, E>) -> Option<bool>;
}

impl<T, E> Hub<T, E> {
    fn lock_waiters(&self) -> MutexGuard<'_, Waiters> {
        self.waiters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `waker` under `key` (given now if the handle has none yet); `handles` is how
    /// many handles the group has.
    fn register(&self, key: &mut usize, waker: &Waker, handles: usize) {
        let mut waiters = self.lock_waiters();
        if *key == 0 {
            // A new key cannot be in the list yet.
            waiters.last_key = next_key(waiters.last_key);
            *key = waiters.last_key;
            waiters.push(*key, waker.clone(), handles);
        } else {
            match waiters.find(*key) {
                Some(known) if known.will_wake(waker) => return,
                Some(known) => known.clone_from(waker),
                None => waiters.push(*key, waker.clone(), handles),
            }
        }
        self.registered.store(waiters.len(), Ordering::Relaxed);
    }

    /// Takes `key`'s waker out of the list.
    fn unregister(&self, key: usize) {
        let mut waiters = self.lock_waiters();
        waiters.remove(key);
        self.registered.store(waiters.len(), Ordering::Relaxed);
    }

    fn wake_all(&self) {
        // Disarm before taking the list: a waiter registering after this sees it disarmed
        // (the list's lock orders the two) and polls the source itself.
        self.watch.store(IDLE, Ordering::Release);
        let mut waiters = self.lock_waiters();
        self.registered.store(0, Ordering::Relaxed);
        let first = waiters.first.take();
        // One waiter (or none) is the common case: it needs no list.
        let rest = if waiters.rest.is_empty() {
            Vec::new()
        } else {
            mem::take(&mut waiters.rest)
        };
        drop(waiters);
        if let Some((_, waker)) = first {
            waker.wake();
        }
        if !rest.is_empty() {
            wake_each(rest);
        }
    }
}

/// Wakes the waiters after the first, out of line: most groups have one.
#[inline(never)]
fn wake_each(waiters: Vec<(usize, Waker)>) {
    for (_, waker) in waiters {
        waker.wake();
    }
}

impl<A, T, E> Source<T, E> for SourceCell<A>
where
    A: ApiFuture<Value = T, Failure = E>,
    T: Send + Sync + 'static,
    E: Send + Sync + 'static,
{
    fn poll(&mut self, group: &Handle<T, E>, waiter: Option<(usize, &Waker)>) -> Poll<()> {
        let hub = &group.hub;
        let SourceCell {
            future,
            waker: group_waker,
        } = self;
        let Some(future) = future else {
            return Poll::Ready(());
        };
        // Armed for the group by a waiter that polled while this one waited for the lock:
        // it covers this one, which is registered.
        if waiter.is_some() && hub.watch.load(Ordering::Acquire) == GROUP {
            return Poll::Pending;
        }
        // Nobody but the polling waiter is registered: the source can wake it directly. The
        // count is read under the source's lock, after any waiter that armed the source for
        // itself registered, so a waiter relying on its own arming is always counted here.
        let (watch, waker) = match waiter {
            Some((key, waker)) if hub.registered.load(Ordering::Relaxed) == 1 => {
                (direct(key), waker)
            }
            _ => {
                let waker = group_waker.get_or_insert_with(|| {
                    Waker::from(Arc::new(GroupWaker(Arc::downgrade(group))))
                });
                (GROUP, &*waker)
            }
        };
        // Armed before polling: a wake-up of the group during the poll disarms it again.
        hub.watch.store(watch, Ordering::Release);
        if future
            .poll_ready(&mut Context::from_waker(waker))
            .is_pending()
        {
            return Poll::Pending;
        }
        self.collect(hub);
        // Still armed for the group: the source completed inside this poll without waking its
        // waker (a future driven by polling), so the waiters that saw it armed must hear of it
        // here; otherwise the source's wake-up reaches them. Armed directly, nobody else
        // relied on it.
        if watch == GROUP && hub.watch.load(Ordering::Acquire) == GROUP {
            hub.wake_all();
        }
        Poll::Ready(())
    }

    fn done_unpolled(&mut self, hub: &Hub<T, E>) -> Option<bool> {
        let Some(future) = &mut self.future else {
            return Some(true);
        };
        Some(future.done_unpolled()? && self.collect(hub))
    }

    fn collect(&mut self, hub: &Hub<T, E>) -> bool {
        let Some(future) = &mut self.future else {
            return hub.outcome.get().is_some();
        };
        let Some(outcome) = future.try_result() else {
            return false;
        };
        // Only ever set here, under the source's lock, with the source still there.
        let _ = hub.outcome.set(outcome);
        self.future = None;
        self.waker = None;
        // No wake-up from here: a waiter only sleeps on a source armed with its own waker or
        // the group's, which the source wakes when it completes, and `poll` wakes them for a
        // source that completed inside its own poll.
        true
    }
}

impl<T, E, S: ?Sized> Group<T, E, S> {
    fn lock_source(&self) -> MutexGuard<'_, S> {
        // A panic while the lock is held can only come from the source's own poll, which the
        // crate's futures catch; keep going with what is there.
        self.source.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T, E> SharedFuture<T, E> {
    pub(crate) fn new<A>(source: A) -> Self
    where
        A: ApiFuture<Value = T, Failure = E> + 'static,
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        // `new_cyclic` allocates first and builds the group in place; `Arc::new` built it on
        // the stack and copied it over.
        let group = Arc::new_cyclic(|_| Group {
            hub: Hub {
                outcome: OnceLock::new(),
                watch: AtomicUsize::new(IDLE),
                registered: AtomicUsize::new(0),
                waiters: Mutex::new(Waiters::default()),
            },
            source: Mutex::new(SourceCell {
                future: Some(source),
                waker: None,
            }),
        });
        SharedFuture {
            group,
            key: 0,
            terminated: false,
        }
    }

    /// Whether the shared outcome is there. Never blocks on the source.
    ///
    /// ```
    /// use apifuture::{promise, ApiFutureExt};
    /// let (promise, future) = promise::<u8, String>();
    /// let shared = future.into_shared();
    /// assert!(!shared.done());
    /// promise.set_result(1);
    /// assert!(shared.done());
    /// ```
    pub fn done(&self) -> bool {
        let hub = &self.group.hub;
        if hub.outcome.get().is_some() {
            return true;
        }
        let mut source = self.group.lock_source();
        source.collect(hub) || source.poll(&self.group, None).is_ready()
    }
}

impl<T, E> SharedFuture<T, E> {
    /// [`poll_ready`](ApiFuture::poll_ready) when the outcome is not there yet.
    #[inline(never)]
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let hub = &self.group.hub;
        // Register before looking, so a completion in between still wakes this waiter.
        hub.register(&mut self.key, cx.waker(), Arc::strong_count(&self.group));
        if hub.watch.load(Ordering::Acquire) == GROUP {
            return Poll::Pending;
        }
        // Idle, or armed for a single waiter (maybe this one, whose wake-up may be why it
        // polls): poll the source again.
        self.group
            .lock_source()
            .poll(&self.group, Some((self.key, cx.waker())))
    }

    /// Moves a ready source's outcome into the group; a clone of it, or `None` while pending.
    #[inline(never)]
    fn collect(&self) -> Option<Result<T, Error<E>>>
    where
        T: Clone,
        E: Clone,
    {
        let hub = &self.group.hub;
        // A source armed for the group that has not woken it has no outcome yet: no need to
        // take its lock to find that out. Armed for one waiter, it woke that waiter directly,
        // with nothing to tell the others.
        if hub.watch.load(Ordering::Acquire) != GROUP {
            self.group.lock_source().collect(hub);
        }
        hub.outcome.get().cloned()
    }
}

impl<T, E> Clone for SharedFuture<T, E> {
    /// Another handle on the same outcome; it has not handed it out yet.
    fn clone(&self) -> Self {
        SharedFuture {
            group: Arc::clone(&self.group),
            key: 0,
            terminated: false,
        }
    }
}

impl<T, E> Drop for SharedFuture<T, E> {
    fn drop(&mut self) {
        let hub = &self.group.hub;
        // Once the outcome is there nobody registers or wakes any more: the list can stay.
        if self.key != 0 && self.key != TAKEN && hub.outcome.get().is_none() {
            hub.unregister(self.key);
        }
        // The last handle's `Arc` drops the group, and with it the source (which cancels it).
    }
}

impl<T, E> ApiFuture for SharedFuture<T, E>
where
    T: Clone + Send + Sync,
    E: Clone + Send + Sync,
{
    type Value = T;
    type Failure = E;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.key == TAKEN || self.group.hub.outcome.get().is_some() {
            return Poll::Ready(());
        }
        self.poll_pending(cx)
    }

    #[inline]
    fn try_result(&mut self) -> Option<Result<T, Error<E>>> {
        if self.key == TAKEN {
            return Some(Err(Error::Consumed));
        }
        let outcome = match self.group.hub.outcome.get() {
            Some(outcome) => clone_outcome(outcome),
            None => self.collect()?,
        };
        // The outcome is there now, so nobody registers or wakes any more: the key is free. A
        // state stays to be returned again by the next wait (it reads the outcome once more).
        if !matches!(
            outcome,
            Err(Error::Cancelled | Error::Abandoned | Error::DeadlineExceeded)
        ) {
            self.key = TAKEN;
        }
        Some(outcome)
    }

    fn done(&mut self) -> bool {
        SharedFuture::done(self)
    }

    fn peek_failed(&mut self) -> Option<bool> {
        if self.key == TAKEN {
            return Some(false);
        }
        let hub = &self.group.hub;
        if hub.outcome.get().is_none() {
            self.group.lock_source().collect(hub);
        }
        hub.outcome.get().map(is_failure)
    }

    /// As the source's: a handle is done unpolled when its source is.
    fn done_unpolled(&mut self) -> Option<bool> {
        let hub = &self.group.hub;
        if self.key == TAKEN || hub.outcome.get().is_some() {
            return Some(true);
        }
        self.group.lock_source().done_unpolled(hub)
    }
}

/// A clone of a shared outcome, with the error's clone kept out of line.
#[inline]
fn clone_outcome<T: Clone, E: Clone>(outcome: &Result<T, Error<E>>) -> Result<T, Error<E>> {
    match outcome {
        Ok(value) => Ok(value.clone()),
        Err(error) => Err(clone_error(error)),
    }
}

#[cold]
#[inline(never)]
fn clone_error<E: Clone>(error: &Error<E>) -> Error<E> {
    error.clone()
}

future_by_poll_outcome!([T, E] SharedFuture<T, E>, [T: Clone + Send + Sync, E: Clone + Send + Sync]);

impl<T, E> fmt::Debug for SharedFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedFuture")
            .field("done", &self.group.hub.outcome.get().is_some())
            .field("taken", &(self.key == TAKEN))
            .field("handles", &Arc::strong_count(&self.group))
            .finish()
    }
}

/// Loom models of waiter registration against completion, over a real promise as the source.
/// Each waiter is a loom thread in `block_on`: a wake-up lost on the way (the promise's waker
/// slot, a direct or the group's waker, the waiter list) is a deadlock loom reports.
#[cfg(all(test, apifuture_loom))]
mod loom_models {
    use loom::thread;

    use super::*;
    use crate::promise::promise;
    use crate::sync::model::{Copies, Tracked, check};

    fn value(outcome: Result<Tracked, Error<()>>) -> u32 {
        outcome.expect("the shared value").id
    }

    /// One handle waits, the promise completes, a second handle registers (and so rearms the
    /// source for the group) meanwhile: both are woken and get a clone of the one value.
    #[test]
    fn two_waiters_vs_completion() {
        check("shared: two waiters vs completion", Some(2), || {
            let copies = Arc::new(Copies::default());
            let (promise, future) = promise::<Tracked, ()>();
            let mut first = SharedFuture::new(future);
            let mut second = first.clone();
            let waiter = thread::spawn(move || value(loom::future::block_on(&mut first)));
            let producer = thread::spawn({
                let copies = Arc::clone(&copies);
                move || promise.set_result(Tracked::new(1, &copies))
            });
            assert_eq!(value(loom::future::block_on(&mut second)), 1);
            assert_eq!(waiter.join().unwrap(), 1);
            producer.join().unwrap();
            drop(second);
            copies.assert_all_dropped();
        });
    }

    /// A handle polled once and dropped mid-wait (taking its waker out of the list, and maybe
    /// having armed the source for itself alone) while the promise completes: the other
    /// handle's waiter is still woken, and the value is dropped once.
    #[test]
    fn waiter_leaves_vs_completion() {
        check("shared: a waiter leaves vs completion", Some(2), || {
            let copies = Arc::new(Copies::default());
            let (promise, future) = promise::<Tracked, ()>();
            let mut leaving = SharedFuture::new(future);
            let mut staying = leaving.clone();
            let leaver = thread::spawn(move || {
                loom::future::block_on(std::future::poll_fn(|cx| {
                    let _ = leaving.poll_ready(cx);
                    Poll::Ready(())
                }));
            });
            let producer = thread::spawn({
                let copies = Arc::clone(&copies);
                move || promise.set_result(Tracked::new(1, &copies))
            });
            assert_eq!(value(loom::future::block_on(&mut staying)), 1);
            leaver.join().unwrap();
            producer.join().unwrap();
            drop(staying);
            copies.assert_all_dropped();
        });
    }
}
