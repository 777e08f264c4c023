//! A listener that records what a home hears: entry events and sync states.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use duet_core::{EntryEvent, EntryId, EntryListener, Origin, SyncListener, SyncState};

use crate::wait::eventually;

/// Every entry event and sync state a home reported, in order. Subscribe it with
/// `duet.subscribe(recorder.clone())` and/or `duet.subscribe_sync(recorder.clone())`.
#[derive(Debug, Default)]
pub struct Recorder {
    events: Mutex<Vec<EntryEvent>>,
    states: Mutex<Vec<SyncState>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorder {
    /// The entry events so far.
    pub fn events(&self) -> Vec<EntryEvent> {
        lock(&self.events).clone()
    }

    /// Whether an entry event so far matches `f`.
    pub fn heard(&self, f: impl Fn(&EntryEvent) -> bool) -> bool {
        lock(&self.events).iter().any(f)
    }

    /// Wait until the entry `id` has arrived from elsewhere (a sync, the live channel);
    /// panics after `within`.
    pub async fn until_remote(&self, id: EntryId, within: Duration) {
        let arrived = |e: &EntryEvent| e.entry == id && e.origin == Origin::Remote;
        let what = format!("entry {id} arriving from elsewhere");
        eventually(&what, within, || self.heard(arrived)).await;
    }

    /// The sync states so far.
    pub fn states(&self) -> Vec<SyncState> {
        lock(&self.states).clone()
    }
}

impl EntryListener for Recorder {
    fn on_event(&self, e: &EntryEvent) {
        lock(&self.events).push(e.clone());
    }
}

impl SyncListener for Recorder {
    fn on_sync_state(&self, s: &SyncState) {
        lock(&self.states).push(s.clone());
    }
}
