//! The provider's mutable state and the two locks around it: one `RwLock` over the data, and one
//! `Mutex` that serialises the changes which may load from a source. Their order is checked on
//! every acquisition in debug builds, so the tests find a violation rather than a rare deadlock.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::certificate::Certificate;
use super::credential::{Credential, Purpose, Selection};
use super::observer::Observer;
use super::watch::Fingerprint;

/// Everything about the provider that changes after construction, behind one `RwLock`.
///
/// Lock order: [`Guarded::begin_change`] first, then the state ([`Guarded::read`] or
/// [`Guarded::write`]); never the other way round, and neither twice on one thread.
/// - The change lock serialises every write of a `loaded` credential and of the selections
///   (selection, rotation, swaps), which may load from a source and so be slow. The fast path
///   (`select` when a selection exists) never takes it, so a slow load delays no one's call.
/// - The state lock is a leaf: held only for short sections that do no I/O, take no other lock
///   and run no callback. Observers and the log sink run with neither lock held.
pub(super) struct State {
    pub(super) entries: Vec<EntryState>,
    /// One selection per [`Purpose`], by [`Purpose::slot`].
    selected: [Option<Selection>; 2],
    pub(super) observers: Vec<Observer>,
    /// The day (Unix days) each certificate, by thumbprint, was last warned about.
    pub(super) expiry_warned: HashMap<String, i64>,
    /// Certificates replaced by a proactive reload or a push, for the client to retire their
    /// connection pools and bound tokens.
    pub(super) retired: Vec<Arc<Certificate>>,
}

/// What changes about one `ClientCredentials` entry.
#[derive(Default)]
pub(super) struct EntryState {
    /// Successful loads are cached until a rejection forgets them; failures are retried.
    /// Written only under the change lock, so that a load finishing late cannot undo a swap.
    pub(super) loaded: Option<Credential>,
    /// What the source looked like when it was loaded (files and store directories only).
    pub(super) fingerprint: Option<Fingerprint>,
    /// A change that could not be used, warned about once.
    pub(super) refused_change: Option<Fingerprint>,
    /// A credential the host pushed (`set_credential`): it replaces the entry's source from then
    /// on.
    pub(super) pushed: Option<Credential>,
}

impl State {
    pub(super) fn selected(&self, purpose: Purpose) -> Option<&Selection> {
        self.selected[purpose.slot()].as_ref()
    }

    /// Every purpose's selection that exists now.
    pub(super) fn in_use(&self) -> Vec<Selection> {
        self.selected.iter().flatten().cloned().collect()
    }

    /// Makes `selection` the one for `purpose`; says whether it is news (a credential already
    /// selected for the other purpose is one selection, announced once).
    pub(super) fn install(&mut self, purpose: Purpose, selection: &Selection) -> bool {
        self.selected[purpose.slot()] = Some(selection.clone());
        let holding = self.selected.iter().flatten();
        holding.filter(|other| other.same_as(selection)).count() == 1
    }

    /// Forgets the loaded credential of `rejected`'s entry if it is still that one; says whether
    /// it was (only the first report of a rejection deselects).
    pub(super) fn forget_loaded(&mut self, rejected: &Selection) -> bool {
        let loaded = &mut self.entries[rejected.index].loaded;
        let holds = loaded
            .as_ref()
            .is_some_and(|c| c.same_as(&rejected.credential));
        if holds {
            *loaded = None;
        }
        holds
    }

    /// Empties every purpose's slot that holds `rejected`, to be selected afresh on next use.
    pub(super) fn deselect(&mut self, rejected: &Selection) {
        for slot in &mut self.selected {
            if slot.as_ref().is_some_and(|s| s.same_as(rejected)) {
                *slot = None;
            }
        }
    }

    /// Puts `replacement` in every slot that held its entry; says whether there was one. A slot
    /// holding a later entry (in use because this one failed) is emptied when the replacement
    /// suits it: selection in order picks this entry at the next use.
    pub(super) fn replace_selections(&mut self, replacement: &Selection) -> bool {
        let mut replaced = false;
        for purpose in [Purpose::Mtls, Purpose::Token] {
            let slot = &mut self.selected[purpose.slot()];
            let held = slot.as_ref().map(|s| s.index);
            if held == Some(replacement.index) {
                *slot = Some(replacement.clone());
                replaced = true;
            } else if held.is_some_and(|i| i > replacement.index)
                && purpose.accepts(&replacement.credential)
            {
                *slot = None;
            }
        }
        replaced
    }
}

/// The state and its two locks; the only way to reach either, so that the order is checked.
pub(super) struct Guarded {
    changing: Mutex<()>,
    state: RwLock<State>,
}

/// Proof that this thread holds the change lock, asked for by what writes `loaded` or a slot.
pub(super) type Changing<'a> = Ranked<MutexGuard<'a, ()>>;

impl Guarded {
    pub(super) fn new(entries: usize) -> Guarded {
        Guarded {
            changing: Mutex::new(()),
            state: RwLock::new(State {
                entries: (0..entries).map(|_| EntryState::default()).collect(),
                selected: [None, None],
                observers: Vec::new(),
                expiry_warned: HashMap::new(),
                retired: Vec::new(),
            }),
        }
    }

    /// The change lock: taken first, and only with no lock of ours held.
    pub(super) fn begin_change(&self) -> Changing<'_> {
        let held = rank::Held::acquire(rank::CHANGING);
        Ranked {
            guard: self.changing.lock(),
            _held: held,
        }
    }

    pub(super) fn read(&self) -> Ranked<RwLockReadGuard<'_, State>> {
        let held = rank::Held::acquire(rank::STATE);
        Ranked {
            guard: self.state.read(),
            _held: held,
        }
    }

    pub(super) fn write(&self) -> Ranked<RwLockWriteGuard<'_, State>> {
        let held = rank::Held::acquire(rank::STATE);
        Ranked {
            guard: self.state.write(),
            _held: held,
        }
    }
}

/// A lock guard and its place in the order. The guard is declared first so that it is released
/// before the thread's record of it is cleared.
pub(super) struct Ranked<G> {
    guard: G,
    _held: rank::Held,
}

impl<G: Deref> Deref for Ranked<G> {
    type Target = G::Target;
    fn deref(&self) -> &G::Target {
        &self.guard
    }
}

impl<G: DerefMut> DerefMut for Ranked<G> {
    fn deref_mut(&mut self) -> &mut G::Target {
        &mut self.guard
    }
}

/// Which of the provider's locks this thread holds, as bits ranked in lock order, to check the
/// order in debug builds; release builds keep nothing and check nothing.
pub(super) mod rank {
    pub(in super::super) const CHANGING: u8 = 1;
    pub(in super::super) const STATE: u8 = 2;

    #[cfg(debug_assertions)]
    thread_local! {
        static HELD: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
    }

    /// This thread's record of holding one lock, until dropped.
    pub(in super::super) struct Held {
        #[cfg(debug_assertions)]
        lock: u8,
    }

    impl Held {
        /// Records `lock` as held, before it is taken: taking it while holding itself or a lock
        /// ranked after it panics here, in debug builds, instead of deadlocking.
        #[inline]
        pub(in super::super) fn acquire(lock: u8) -> Held {
            #[cfg(debug_assertions)]
            HELD.with(|held| {
                assert!(
                    held.get() < lock,
                    "lock order: lock {lock} taken while holding {:#b}",
                    held.get()
                );
                held.set(held.get() | lock);
            });
            #[cfg(not(debug_assertions))]
            let _ = lock;
            Held {
                #[cfg(debug_assertions)]
                lock,
            }
        }
    }

    #[cfg(debug_assertions)]
    impl Drop for Held {
        fn drop(&mut self) {
            HELD.with(|held| held.set(held.get() & !self.lock));
        }
    }

    /// Before running an observer or the log sink, which may call back into the library: in
    /// debug builds, panics when this thread holds a lock of ours.
    #[inline]
    pub(in super::super) fn assert_none_held() {
        #[cfg(debug_assertions)]
        HELD.with(|held| assert_eq!(held.get(), 0, "lock order: a callback with a lock held"));
    }
}

#[cfg(all(test, debug_assertions))]
mod tests {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use super::*;

    #[test]
    fn the_order_and_leaf_rule_are_checked() {
        let guarded = Guarded::new(1);
        {
            let _change = guarded.begin_change();
            let _state = guarded.write();
        }
        // Released in any order, the record follows.
        let change = guarded.begin_change();
        let state = guarded.read();
        drop(change);
        drop(state);
        rank::assert_none_held();

        let backwards = catch_unwind(AssertUnwindSafe(|| {
            let _state = guarded.read();
            let _change = guarded.begin_change();
        }));
        assert!(backwards.is_err(), "the change lock after the state lock");
        let twice = catch_unwind(AssertUnwindSafe(|| {
            let _state = guarded.read();
            let _again = guarded.read();
        }));
        assert!(
            twice.is_err(),
            "the state lock twice (a recursive read can deadlock)"
        );
        let callback = catch_unwind(AssertUnwindSafe(|| {
            let _state = guarded.read();
            rank::assert_none_held();
        }));
        assert!(callback.is_err(), "a callback under a lock");
        // Each panic released what it held.
        rank::assert_none_held();
        drop(guarded.write());
    }
}
