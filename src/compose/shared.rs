//! [`SharedFuture`]: one outcome, any number of waiters.
//!
//! Shaped like `futures::future::Shared`: the handles share the type-erased source, a keyed list
//! of their wakers and one atomic word. A waiter registers its waker, then tries to take
//! `POLLING`: the winner polls the source with the group's waker, which wakes every registered
//! waiter; the others return `Pending` at once, never waiting for the poller, whose step may be
//! slow (a `map_value` closure, a retry attempt). A wake-up during a poll is not lost: it sets
//! `NOTIFIED`, and the poller wakes everyone when its poll ends. On completion the poller moves
//! the outcome into the group, stores `COMPLETE` and wakes everyone; from then on every handle
//! reads the outcome without a lock. A source found pending stays `ARMED` until it wakes the
//! group's waker; until then waiters only register, so N waiters cost one poll, not N.
//!
//! Only the poller locks the source, so the lock is never contended and no handle waits on
//! another: timed waits keep their limits, `done()` answers at once, and a source that looks at
//! its own shared future while polled finds it `POLLING` ("not ready") instead of deadlocking.
//!
//! The group's waker holds the group weakly and is made at the first poll that needs it: a
//! source that keeps its waker does not keep the group alive, and the last handle's drop drops
//! the source, which cancels it.

use std::fmt;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Wake, Waker};

use crate::api_future::{ApiFuture, fused_future};
use crate::error::{BoxError, Error, Outcome, is_failure};
use crate::panic::{caught, drop_caught, guarded};
use crate::sync::{AtomicUsize, Mutex, OnceLock, Ordering, WakerList, unpoisoned};

/// A future with any number of waiters: every clone of the handle can be blocked on or awaited,
/// each with its own non-destructive timeout, and gets a clone of the one outcome. Made by
/// [`ApiFutureExt::into_shared`](crate::ApiFutureExt::into_shared). Values must be
/// `Clone + Sync` and errors `Send + Sync`: each handle gets a clone of the value, or of the
/// [`Arc`] the operation's error is shared behind (the failure type is `Arc<E>`, which derefs to
/// the original and displays as it does), so `BoxError` and other errors that are not `Clone`
/// can be shared too; every handle reads the finished outcome without a lock.
///
/// - Each handle hands out the outcome once (later waits on that handle give
///   [`Error::Consumed`]); a fresh clone of any handle gets it again.
/// - Whichever handle waits drives the source and the others never wait for it: while one is in
///   a slow step of the source, the others' timed waits return at their limits, `done()`
///   answers at once, and async waits return `Pending` until woken.
/// - Dropping a handle leaves the others as they are, even mid-wait; dropping the last one
///   drops the source future, which cancels it.
/// - A source that panics while polled gives every handle `Err(Error::Panicked(..))`; a value
///   whose `Clone` panics gives it to the handle whose clone panicked (a look that takes
///   nothing, [`peek_failed`](ApiFuture::peek_failed) or `wait(.., FirstFailed)`, still sees a
///   value). Another handle's waker that panics when woken (a broken executor) never unwinds
///   into this handle's wait.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use apifuture::{spawn, ApiFuture, ApiFutureExt, BoxError};
///
/// let mut config = spawn(|| Ok::<_, BoxError>(String::from("lr=0.1"))).into_shared();
/// let mut for_thread = config.clone();
/// let thread = std::thread::spawn(move || for_thread.result(Duration::from_secs(30)).unwrap());
/// # futures_lite::future::block_on(async {
/// assert_eq!(config.clone().await.unwrap(), "lr=0.1");
/// # });
/// assert_eq!(thread.join().unwrap(), "lr=0.1");
/// assert_eq!(config.result(None).unwrap(), "lr=0.1");
///
/// // Errors are shared too, whatever their type: each handle gets the same error.
/// let mut a = spawn(|| Err::<u8, BoxError>("overloaded".into())).into_shared();
/// let mut b = a.clone();
/// assert_eq!(a.result(None).unwrap_err().to_string(), "operation failed: overloaded");
/// assert_eq!(b.result(None).unwrap_err().to_string(), "operation failed: overloaded");
/// ```
///
/// A failure type that is not `Sync` cannot be shared between threads:
///
/// ```compile_fail
/// use apifuture::{ready, ApiFutureExt};
/// let shared = ready::<u8, std::cell::Cell<u8>>(1).into_shared(); // `Cell<u8>` is not Sync
/// ```
#[must_use = "dropping the last handle cancels the shared work; .await it, wait on it, or detach() it"]
pub struct SharedFuture<T, E = BoxError> {
    group: Arc<Group<T, E, dyn Source<T, E>>>,
    /// This handle's slot in the group's waker list; 0 until it first registers.
    key: usize,
    /// This handle handed out the outcome: later waits give `Consumed`.
    taken: bool,
    /// A poll returned `Ready` (`FusedFuture`).
    terminated: bool,
}

/// What the handles share: the word, the waiters, the outcome once there, and the source.
struct Group<T, E, S: ?Sized> {
    word: AtomicUsize,
    waiters: WakerList,
    outcome: OnceLock<Outcome<T, Arc<E>>>,
    source: S,
}

/// The source future and the group's waker it is polled with (made by the first poll).
struct SourceCell<A> {
    future: Option<A>,
    waker: Option<Waker>,
}

/// A handle polls the source; the others return `Pending` without waiting for it.
const POLLING: usize = 1;
/// The source woke its waker while being polled: the poller wakes every waiter when it is done.
const NOTIFIED: usize = 2;
/// The outcome is in the group; the source is gone.
const COMPLETE: usize = 4;
/// Polled with the group's waker, pending, and not woken since: a waiter only needs to register.
const ARMED: usize = 8;
/// A waiter slept on a `POLLING` source: a poller that only looked (armed nothing) then wakes all.
const WAITING: usize = 16;

/// The group's waker: wakes the waiters of the group, if it is still there.
struct GroupWaker<T, E>(Weak<Group<T, E, dyn Source<T, E>>>);

impl<T: Send + Sync + 'static, E: Send + Sync + 'static> Wake for GroupWaker<T, E> {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if let Some(group) = self.0.upgrade() {
            group.notify();
        }
    }
}

/// The source behind `dyn`, its future in a lock only the poller takes. Its methods make the
/// group's waker, which needs `'static` types: those bounds sit on its impl, chosen when the
/// group is made, not on the handles' `ApiFuture` impl, where they would break generic `Send`
/// code over borrowed types (rust-lang/rust#110338).
trait Source<T, E>: Send + Sync {
    /// Polls the source with the group's waker (`poll`) or only looks at it; its outcome once
    /// it has one, a panic in it included. Called by the poller only.
    fn step(
        &self,
        group: &Arc<Group<T, E, dyn Source<T, E>>>,
        poll: bool,
    ) -> Option<Outcome<T, Arc<E>>>;
    /// Drops the future, once its outcome has been moved out.
    fn clear(&self);
}

impl<A> Source<A::Value, A::Failure> for Mutex<SourceCell<A>>
where
    A: ApiFuture,
    A::Value: Sync + 'static,
    A::Failure: Sync + 'static,
{
    fn step(
        &self,
        group: &Arc<Group<A::Value, A::Failure, dyn Source<A::Value, A::Failure>>>,
        poll: bool,
    ) -> Option<Outcome<A::Value, Arc<A::Failure>>> {
        let mut source = unpoisoned(self.lock());
        let SourceCell { future, waker } = &mut *source;
        let future = future.as_mut()?;
        let stepped = caught(|| {
            if poll {
                let waker = waker.get_or_insert_with(|| {
                    Waker::from(Arc::new(GroupWaker(Arc::downgrade(group))))
                });
                if future
                    .poll_ready(&mut Context::from_waker(waker))
                    .is_pending()
                {
                    return None;
                }
            }
            future.try_result()
        });
        match stepped {
            Ok(outcome) => {
                outcome.map(|outcome| outcome.map_err(|error| error.map_failed(Arc::new)))
            }
            Err(message) => Some(Err(Error::Panicked(message))),
        }
    }

    fn clear(&self) {
        let mut source = unpoisoned(self.lock());
        let future = source.future.take();
        source.waker = None;
        drop_caught(future);
    }
}

impl<T, E, S: ?Sized> Group<T, E, S> {
    /// The group's waker was woken: disarm, and wake every waiter, or leave that to the
    /// poller if someone is polling (the waiters could only find the source busy).
    fn notify(&self) {
        let mut word = self.word.load(Ordering::Acquire);
        loop {
            let next = if word & POLLING != 0 {
                word | NOTIFIED
            } else {
                word & !ARMED
            };
            if next == word {
                break;
            }
            match self
                .word
                .compare_exchange_weak(word, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
        if word & POLLING == 0 {
            self.waiters.wake_all();
        }
    }

    /// Wakes every waiter from a waiter's own poll: another handle's broken waker (one that
    /// panics) must not unwind into this waiter, whose outcome is there.
    fn wake_from_waiter(&self) {
        let _ = caught(|| self.waiters.wake_all());
    }
}

/// What a handle does to the source when it gets to drive it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Take an outcome it already has; no waker is involved.
    Look,
    /// Poll it with the group's waker (`done()`).
    Poll,
    /// Poll it for a registered waiter, making sure a busy poller knows (see [`WAITING`]).
    Wait,
}

impl<T, E> SharedFuture<T, E> {
    pub(crate) fn new<A>(source: A) -> Self
    where
        A: ApiFuture<Value = T, Failure = E> + 'static,
        T: Send + Sync + 'static,
        E: Send + Sync + 'static,
    {
        SharedFuture {
            group: Arc::new(Group {
                word: AtomicUsize::new(0),
                waiters: WakerList::default(),
                outcome: OnceLock::new(),
                source: Mutex::new(SourceCell {
                    future: Some(source),
                    waker: None,
                }),
            }),
            key: 0,
            taken: false,
            terminated: false,
        }
    }

    /// Whether the shared outcome is there. Never waits for another handle: while one polls
    /// the source, this answers `false` at once; otherwise it looks at the source (a lazy one
    /// is driven one step, its wake-ups going to the registered waiters).
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
        self.taken || self.group.outcome.get().is_some() || self.drive(Step::Poll)
    }

    /// Becomes the poller if nobody is and the source may have news, and steps it as `step`
    /// says. True once the outcome is in the group.
    #[inline]
    fn drive(&self, step: Step) -> bool {
        let word = self.group.word.load(Ordering::Acquire);
        // Complete, or armed: the source has nothing new to say until it wakes the group.
        // Busy: only a registered waiter has to make sure the poller knows it came.
        if word & (ARMED | COMPLETE) != 0 || word & POLLING != 0 && step != Step::Wait {
            return word & COMPLETE != 0;
        }
        self.drive_idle(step, word)
    }

    /// [`drive`](Self::drive) past its first look at the word.
    #[inline(never)]
    fn drive_idle(&self, step: Step, mut word: usize) -> bool {
        let group = &*self.group;
        loop {
            if word & COMPLETE != 0 {
                return true;
            }
            if word & ARMED != 0 {
                return false;
            }
            if word & POLLING != 0 {
                if step != Step::Wait {
                    return false;
                }
                // A registered waiter: the poller must know it came, in case it only looks.
                let previous = group.word.fetch_or(WAITING, Ordering::AcqRel);
                if previous & POLLING != 0 {
                    return false;
                }
                // The poller left meanwhile: try again.
                word = previous | WAITING;
                continue;
            }
            match group.word.compare_exchange_weak(
                word,
                POLLING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => word = actual,
            }
        }
        match group.source.step(&self.group, step != Step::Look) {
            Some(outcome) => {
                // Only the poller sets it, once: the source is gone with it.
                let _ = group.outcome.set(outcome);
                group.source.clear();
                group.word.store(COMPLETE, Ordering::Release);
                group.wake_from_waiter();
                true
            }
            None => {
                // Polled with the group's waker, the source is armed: whoever came meanwhile
                // hears of its next wake-up. If it woke during the poll, or was only looked at
                // while waiters came, wake them to poll again now. One CAS leaves `POLLING`, so
                // that no waiter ever sees a source armed that is not.
                let (idle, missed) = match step {
                    Step::Look => (0, NOTIFIED | WAITING),
                    Step::Poll | Step::Wait => (ARMED, NOTIFIED),
                };
                let mut word = group.word.load(Ordering::Acquire);
                loop {
                    let missed = word & missed != 0;
                    let next = if missed { 0 } else { idle };
                    match group.word.compare_exchange_weak(
                        word,
                        next,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    ) {
                        Ok(_) if missed => break group.wake_from_waiter(),
                        Ok(_) => break,
                        Err(actual) => word = actual,
                    }
                }
                false
            }
        }
    }

    /// The outcome, if it is in the group or the source has it now (looked at, not polled).
    #[inline]
    fn look(&self) -> Option<&Outcome<T, Arc<E>>> {
        let outcome = &self.group.outcome;
        if outcome.get().is_none() {
            self.drive(Step::Look);
        }
        outcome.get()
    }
}

impl<T, E> Clone for SharedFuture<T, E> {
    /// Another handle on the same outcome; it has not handed it out yet.
    fn clone(&self) -> Self {
        SharedFuture {
            group: Arc::clone(&self.group),
            key: 0,
            taken: false,
            terminated: false,
        }
    }
}

impl<T, E> Drop for SharedFuture<T, E> {
    fn drop(&mut self) {
        // Once the outcome is there nobody registers or wakes any more: the slot can stay.
        if self.key != 0 && self.group.outcome.get().is_none() {
            self.group.waiters.unregister(self.key);
        }
    }
}

impl<T, E> ApiFuture for SharedFuture<T, E>
where
    T: Clone + Send + Sync,
    E: Send + Sync,
{
    type Value = T;
    type Failure = Arc<E>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if self.taken || self.group.outcome.get().is_some() {
            return Poll::Ready(());
        }
        // Registered before trying: a completion or wake-up from here on reaches this waiter.
        let handles = Arc::strong_count(&self.group);
        self.group
            .waiters
            .register(&mut self.key, cx.waker(), handles);
        if self.drive(Step::Wait) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    #[inline]
    fn try_result(&mut self) -> Option<Result<T, Error<Arc<E>>>> {
        if self.taken {
            return Some(Err(Error::Consumed));
        }
        let outcome = match self.look()? {
            // The value's `Clone` is user code: a panic in it is this handle's `Panicked`.
            Ok(value) => guarded(|| value.clone()),
            Err(error) => Err(error.clone()),
        };
        // A word stays, to be returned again by the next wait (the rule of `Held`).
        self.taken = !outcome.as_ref().is_err_and(Error::is_state);
        Some(outcome)
    }

    fn peek_failed(&mut self) -> Option<bool> {
        if self.taken {
            return Some(false);
        }
        self.look().map(is_failure)
    }

    fn done(&mut self) -> bool {
        SharedFuture::done(self)
    }
}

fused_future!([T, E] SharedFuture<T, E>, [T: Clone + Send + Sync, E: Send + Sync]);

impl<T, E> fmt::Debug for SharedFuture<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = if self.taken {
            "taken"
        } else if let Some(outcome) = self.group.outcome.get() {
            outcome
                .as_ref()
                .err()
                .and_then(Error::state_name)
                .unwrap_or("ready")
        } else if self.group.word.load(Ordering::Acquire) & POLLING != 0 {
            "pending (being polled)"
        } else {
            "pending"
        };
        f.debug_struct("SharedFuture")
            .field("word", &word)
            .field("handles", &Arc::strong_count(&self.group))
            .finish_non_exhaustive()
    }
}
