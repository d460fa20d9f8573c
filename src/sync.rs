//! The synchronisation primitives of the handshakes (`core/link.rs`, `core/relay.rs`,
//! `compose/shared.rs`): std's and the crates' normally, loom's under `cfg(apifuture_loom)`, so
//! that the loom models in those files check the code that ships. Run them with
//!
//! ```text
//! RUSTFLAGS="--cfg apifuture_loom" cargo test --release --lib --target-dir target/loom loom_models
//! ```
//!
//! (`-- --nocapture` shows what each explored). The three largest models (all four
//! announcements on one word, and the shared future's two) are bounded at two preemptions: CI
//! runs all seven in a debug build in about 20 s. `LOOM_MAX_PREEMPTIONS=3` explores 419,506,
//! 150,401 and 53,666 interleavings of those three (about 40 s in release). The cfg is ours, not `loom`: under `--cfg loom`
//! concurrent-queue and parking, beneath async-io, switch to loom too and async-io no longer
//! builds.
//!
//! `Arc` stays std's everywhere (loom's has no `Wake`), and so does the `oneshot` channel
//! underneath: loom runs their atomics but explores only the orders of its own types.

use std::task::Waker;

#[cfg(not(apifuture_loom))]
pub(crate) use atomic_waker::AtomicWaker;
#[cfg(not(apifuture_loom))]
pub(crate) use once_cell::race::OnceBox;
#[cfg(not(apifuture_loom))]
pub(crate) use std::sync::atomic::{AtomicUsize, Ordering};
#[cfg(not(apifuture_loom))]
pub(crate) use std::sync::{Mutex, MutexGuard, OnceLock};

#[cfg(apifuture_loom)]
pub(crate) use loom::sync::atomic::{AtomicUsize, Ordering};
#[cfg(apifuture_loom)]
pub(crate) use loom::sync::{Mutex, MutexGuard};
#[cfg(apifuture_loom)]
pub(crate) use stand_ins::{AtomicWaker, OnceBox, OnceLock};

#[cfg(apifuture_loom)]
mod stand_ins {
    use loom::sync::atomic::AtomicBool;
    use std::sync::atomic::Ordering;
    use std::task::Waker;

    /// `atomic_waker::AtomicWaker`'s interface over loom's, which models it as a lock (loom
    /// checks our use of the slot, not atomic-waker's own algorithm).
    #[derive(Debug, Default)]
    pub(crate) struct AtomicWaker(loom::future::AtomicWaker);

    impl AtomicWaker {
        pub(crate) fn new() -> Self {
            AtomicWaker(loom::future::AtomicWaker::new())
        }

        pub(crate) fn register(&self, waker: &Waker) {
            self.0.register_by_ref(waker);
        }

        pub(crate) fn wake(&self) {
            self.0.wake();
        }
    }

    /// `once_cell::race::OnceBox` with the value built up front and its publication as a loom
    /// flag: the flag's release and acquire are modelled, once_cell's lazy allocation and its
    /// race to install the box are not.
    #[derive(Debug)]
    pub(crate) struct OnceBox<T> {
        set: AtomicBool,
        value: T,
    }

    impl<T: Default> OnceBox<T> {
        pub(crate) fn new() -> Self {
            OnceBox {
                set: AtomicBool::new(false),
                value: T::default(),
            }
        }
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

    /// `std::sync::OnceLock` whose publication is a loom flag, so that a lock-free `get` is a
    /// point where loom switches threads and may see the cell still empty. Only `set` under a
    /// loom lock is modelled: racing `set`s are std's business and not checked.
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

/// One waiter's waker, kept across its polls: registering a waker that wakes the same task
/// changes nothing (no clone, no drop), and the slot is emptied when the waiter is woken. It
/// lives under its owner's lock; the waker taken out is woken after the lock is let go.
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

    /// Whether a waker is registered.
    #[cfg(all(test, apifuture_loom))]
    pub(crate) fn is_set(&self) -> bool {
        self.0.is_some()
    }
}

/// The wakers of any number of waiters on one event, each in a slot of its own, so that a
/// waiter polled again replaces its own waker (or keeps it, if it wakes the same task) and a
/// waiter that leaves takes its slot back. Waking empties the slots but keeps them: a waiter
/// keeps its key for as long as it waits. One lock; wakers are woken outside it. The first
/// slot is inline: one waiter, the common case, costs no allocation.
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
    /// Keys above 1 given back, to be given out again.
    free: Vec<usize>,
    /// Where the wakers of `rest` are taken to be woken outside the lock (kept for its
    /// capacity).
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
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // Nothing panics under this lock but an allocation failure: what is there is sound.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers `waker` under `*key`, giving the waiter a slot first if it has none (`0`). A
    /// waiter whose slot holds a waker that wakes the same task changes nothing. `expected`
    /// is how many waiters there may be: the first slot past the inline one reserves room for
    /// them (up to 64), so that waiters arriving one after the other do not grow the list step
    /// by step.
    pub(crate) fn register(&self, key: &mut usize, waker: &Waker, expected: usize) {
        let mut slots = self.lock();
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
        let mut slots = self.lock();
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

    /// Wakes every registered waiter, once: their slots are empty afterwards (a waiter that
    /// polls again registers again, under the same key).
    pub(crate) fn wake_all(&self) {
        let (first, mut rest) = {
            let mut slots = self.lock();
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
        if let Some(first) = first {
            first.wake();
        }
        if rest.is_empty() {
            return;
        }
        for waker in rest.drain(..) {
            waker.wake();
        }
        let mut slots = self.lock();
        if slots.spare.capacity() < rest.capacity() {
            slots.spare = rest;
        }
    }

    /// How many waiters have a waker registered.
    #[cfg(all(test, apifuture_loom))]
    pub(crate) fn len(&self) -> usize {
        let slots = self.lock();
        let rest = slots.rest.iter().filter(|slot| slot.is_set()).count();
        usize::from(slots.first.is_set()) + rest
    }
}

/// What the loom models share: a runner that reports what it explored, and a value that counts
/// its copies.
#[cfg(all(test, apifuture_loom))]
pub(crate) mod model {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Instant;

    /// Explores `model`'s interleavings, with at most `preemptions` forced thread switches each
    /// unless `LOOM_MAX_PREEMPTIONS` says otherwise (`None`: every interleaving), and prints
    /// how many it ran and for how long (`--nocapture` shows it).
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
