//! The synchronisation primitives of the handshakes (`core/link.rs`, `core/relay.rs`,
//! `compose/shared.rs`): std's and the crates' normally, loom's under `cfg(apifuture_loom)`, so
//! that the loom models check the code that ships. Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg apifuture_loom" cargo test --release --lib --target-dir target/loom loom_models
//! ```
//!
//! The cfg is ours, not `loom`: under `--cfg loom` concurrent-queue and parking, beneath
//! async-io, switch to loom too and async-io no longer builds. `Arc` stays std's (loom's has no
//! `Wake`), and so does the `oneshot` channel underneath: loom runs their atomics but explores
//! only the orders of its own types.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{LockResult, PoisonError};
use std::task::Waker;

use crate::panic::dispose;

#[cfg(not(apifuture_loom))]
pub(crate) use atomic_waker::AtomicWaker;
#[cfg(not(apifuture_loom))]
pub(crate) use once_cell::race::OnceBox;
#[cfg(not(apifuture_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(apifuture_loom))]
pub(crate) use std::sync::{Mutex, OnceLock};

#[cfg(apifuture_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(apifuture_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(apifuture_loom)]
pub(crate) use stand_ins::{AtomicWaker, OnceBox, OnceLock};

#[cfg(apifuture_loom)]
mod stand_ins {
    use loom::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering;
    use std::task::Waker;

    /// `atomic_waker::AtomicWaker`'s interface over loom's, a lock: loom checks our use of the
    /// slot, not atomic-waker's algorithm.
    #[derive(Debug, Default)]
    pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

    impl AtomicWaker {
        pub(crate) fn register(&self, waker: &Waker) {
            self.0.register_by_ref(waker);
        }

        pub(crate) fn wake(&self) {
            self.0.wake();
        }

        pub(crate) fn take(&self) -> Option<Waker> {
            self.0.take_waker()
        }
    }

    /// `once_cell::race::OnceBox` with the value built up front, published by a loom flag: its
    /// release and acquire are modelled, once_cell's lazy allocation and install race are not.
    #[derive(Debug, Default)]
    pub(crate) struct OnceBox<T> {
        set: AtomicBool,
        value: T,
    }

    impl<T> OnceBox<T> {
        pub(crate) fn get(&self) -> Option<&T> {
            self.set.load(Ordering::Acquire).then_some(&self.value)
        }

        pub(crate) fn get_or_init(&self, _init: impl FnOnce() -> Box<T>) -> &T {
            self.set.fetch_or(true, Ordering::AcqRel);
            &self.value
        }
    }

    /// `std::sync::OnceLock` published by a loom flag, so a lock-free `get` is a loom switch point
    /// that may see the cell empty. Only `set` under a loom lock is modelled, not racing `set`s.
    pub(crate) struct OnceLock<T> {
        set: AtomicBool,
        cell: std::sync::OnceLock<T>,
    }

    impl<T> OnceLock<T> {
        pub(crate) fn new() -> Self {
            OnceLock {
                set: AtomicBool::new(false),
                cell: std::sync::OnceLock::new(),
            }
        }

        pub(crate) fn get(&self) -> Option<&T> {
            if self.set.load(Ordering::Acquire) {
                self.cell.get()
            } else {
                None
            }
        }

        pub(crate) fn set(&self, value: T) -> Result<(), T> {
            self.cell.set(value)?;
            self.set.store(true, Ordering::Release);
            Ok(())
        }
    }
}

/// A lock's guard, poisoned or not: every lock of the crate is taken through this. User code
/// runs outside the crate's locks (or caught, inside the shared future's), so only an allocation
/// failure or a waker's drop can poison one, and neither leaves what it guards half-changed.
pub(crate) fn unpoisoned<G>(locked: LockResult<G>) -> G {
    locked.unwrap_or_else(PoisonError::into_inner)
}

/// One waiter's waker, kept across polls (one that wakes the same task is neither cloned nor
/// dropped) and emptied on wake. Under its owner's lock; what `take` gives is woken after unlock.
#[derive(Debug, Default)]
pub(crate) struct WakerSlot(Option<Waker>);

impl WakerSlot {
    /// Keeps `waker` unless the one there wakes the same task.
    #[inline]
    pub(crate) fn register(&mut self, waker: &Waker) {
        match &mut self.0 {
            Some(known) if known.will_wake(waker) => {}
            slot => *slot = Some(waker.clone()),
        }
    }

    /// Takes the waker to wake (outside the lock); the slot is empty until the next register.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<Waker> {
        self.0.take()
    }

    #[cfg(all(test, apifuture_loom))]
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

/// The wakers of any number of waiters on one event, a slot each, so a waiter polled again
/// replaces (or keeps) its own waker and one that leaves gives its slot back. Waking empties the
/// slots but keeps them: a waiter keeps its key while it waits. One lock, wakers woken outside
/// it; the first slot is inline, so one waiter (the common case) allocates nothing.
#[derive(Debug)]
pub(crate) struct WakerList {
    slots: Mutex<Slots>,
}

/// Key 1 is `first`, key `k > 1` is `rest[k - 2]`; 0 means "no slot yet".
#[derive(Debug, Default)]
struct Slots {
    first: WakerSlot,
    /// Whether key 1 belongs to a waiter.
    first_taken: bool,
    rest: Vec<WakerSlot>,
    /// Keys above 1 given back, for reuse.
    free: Vec<usize>,
    /// Buffer for `rest`'s wakers, woken outside the lock (kept for its capacity).
    spare: Vec<Waker>,
}

impl Slots {
    fn slot(&mut self, key: usize) -> Option<&mut WakerSlot> {
        match key {
            0 => None,
            1 => Some(&mut self.first),
            _ => self.rest.get_mut(key - 2),
        }
    }
}

impl Default for WakerList {
    fn default() -> Self {
        WakerList {
            slots: Mutex::new(Slots::default()),
        }
    }
}

impl WakerList {
    /// Registers `waker` under `*key`, first giving a waiter without a slot (`0`) one. `expected`
    /// is how many waiters there may be: the first slot past the inline one reserves room for them
    /// (up to 64), so waiters arriving one by one do not grow the list step by step.
    pub(crate) fn register(&self, key: &mut usize, waker: &Waker, expected: usize) {
        let mut slots = unpoisoned(self.slots.lock());
        if *key == 0 {
            *key = if !slots.first_taken {
                slots.first_taken = true;
                1
            } else if let Some(free) = slots.free.pop() {
                free
            } else {
                if slots.rest.capacity() == 0 {
                    slots
                        .rest
                        .reserve_exact(expected.saturating_sub(1).clamp(1, 64));
                }
                slots.rest.push(WakerSlot::default());
                slots.rest.len() + 1
            };
        }
        if let Some(slot) = slots.slot(*key) {
            slot.register(waker);
        }
    }

    /// Gives `key`'s slot back (a waiter leaving), with the waker it may still hold.
    pub(crate) fn unregister(&self, key: usize) {
        let mut slots = unpoisoned(self.slots.lock());
        let Some(slot) = slots.slot(key) else {
            return;
        };
        slot.take();
        if key == 1 {
            slots.first_taken = false;
        } else {
            slots.free.push(key);
        }
    }

    /// Wakes every registered waiter once, emptying its slot (it re-registers under the same key).
    pub(crate) fn wake_all(&self) {
        let (first, mut rest) = {
            let mut slots = unpoisoned(self.slots.lock());
            let first = slots.first.take();
            let Slots { rest, spare, .. } = &mut *slots;
            spare.extend(rest.iter_mut().filter_map(WakerSlot::take));
            let rest = if spare.is_empty() {
                Vec::new()
            } else {
                std::mem::take(spare)
            };
            (first, rest)
        };
        // Outside the lock: a waker may register again, or wake this very list.
        if rest.is_empty() {
            if let Some(first) = first {
                first.wake();
            }
            return;
        }
        let mut left = WakeLeft(rest.drain(..));
        if let Some(first) = first {
            first.wake();
        }
        for waker in &mut left.0 {
            waker.wake();
        }
        drop(left);
        let mut slots = unpoisoned(self.slots.lock());
        if slots.spare.capacity() < rest.capacity() {
            slots.spare = rest;
        }
    }

    /// How many waiters have a waker registered.
    #[cfg(all(test, apifuture_loom))]
    pub(crate) fn len(&self) -> usize {
        let slots = unpoisoned(self.slots.lock());
        let rest = slots.rest.iter().filter(|slot| slot.is_set()).count();
        usize::from(slots.first.is_set()) + rest
    }
}

/// The wakers a wake-up loop has not reached yet. Dropped while a waker's panic (a broken
/// executor) unwinds past the loop, it wakes them, each caught, so that one executor's bug keeps
/// no other waiter asleep; the first panic then goes on. A lone waker needs no such guard.
struct WakeLeft<'a>(std::vec::Drain<'a, Waker>);

impl Drop for WakeLeft<'_> {
    fn drop(&mut self) {
        for waker in &mut self.0 {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                dispose(payload);
            }
        }
    }
}

/// What the loom models share: a runner reporting what it explored, a value counting its copies.
#[cfg(all(test, apifuture_loom))]
pub(crate) mod model {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Explores `model`'s interleavings, at most `preemptions` forced switches each (`None`: all)
    /// unless `LOOM_MAX_PREEMPTIONS` is set; prints how many and how long (`--nocapture` shows).
    pub(crate) fn check(
        name: &str,
        preemptions: Option<usize>,
        model: impl Fn() + Sync + Send + 'static,
    ) {
        let mut builder = loom::model::Builder::new();
        builder.preemption_bound = builder.preemption_bound.or(preemptions);
        let runs = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&runs);
        let start = Instant::now();
        builder.check(move || {
            counted.fetch_add(1, Ordering::Relaxed);
            model();
        });
        println!(
            "loom {name}: {} interleavings (preemption bound {:?}) in {:.2?}",
            runs.load(Ordering::Relaxed),
            builder.preemption_bound,
            start.elapsed(),
        );
    }

    /// Counts of a value's copies, made and dropped. Plain std atomics: loom does not need to
    /// schedule around them, and they are read after the threads are joined.
    #[derive(Debug, Default)]
    pub(crate) struct Copies {
        made: AtomicUsize,
        dropped: AtomicUsize,
    }

    impl Copies {
        /// Every copy made was dropped, once.
        pub(crate) fn assert_all_dropped(&self) {
            let made = self.made.load(Ordering::Relaxed);
            assert!(made > 0);
            assert_eq!(self.dropped.load(Ordering::Relaxed), made);
        }
    }

    /// A value that counts its copies in [`Copies`].
    #[derive(Debug)]
    pub(crate) struct Tracked {
        pub(crate) id: u32,
        copies: Arc<Copies>,
    }

    impl Tracked {
        pub(crate) fn new(id: u32, copies: &Arc<Copies>) -> Self {
            copies.made.fetch_add(1, Ordering::Relaxed);
            Tracked {
                id,
                copies: Arc::clone(copies),
            }
        }
    }

    impl Clone for Tracked {
        fn clone(&self) -> Self {
            Tracked::new(self.id, &self.copies)
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.copies.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}
