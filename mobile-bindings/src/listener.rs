//! Listeners implemented in Kotlin/Swift/Python, and the handle that keeps them subscribed.

use std::sync::{Arc, Mutex};

use duet_core::{EntryEvent, SyncState, TransferProgress};

/// Implement this in the app to hear about entries and sync. Callbacks arrive on a Duet
/// thread (the writer's thread for local writes, a runtime thread for sync): hop to the main
/// thread before touching UI. A callback may call back into `DuetClient`. An exception
/// thrown by a callback is swallowed; it never reaches Duet's threads.
#[uniffi::export(foreign)]
pub trait DuetListener: Send + Sync {
    /// An entry was added, changed, deleted or restored (here or by a partner).
    fn on_entry_event(&self, event: EntryEvent);
    /// Sync state changed (offline, syncing, synced, live, error).
    fn on_sync_state(&self, state: SyncState);
}

/// Implement this to show attachment uploads and downloads as they go. Same threading
/// rules as [`DuetListener`].
#[uniffi::export(foreign)]
pub trait TransferListener: Send + Sync {
    /// Bytes moved so far of one attachment's transfer.
    fn on_progress(&self, progress: TransferProgress);
}

/// Bridges a foreign transfer listener to the core's.
pub(crate) struct TransferBridge(pub(crate) Arc<dyn TransferListener>);

impl duet_core::TransferListener for TransferBridge {
    fn on_progress(&self, progress: &TransferProgress) {
        let p = *progress;
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.on_progress(p)));
    }
}

/// Bridges a foreign listener to the core's listener traits. A failure inside the foreign
/// callback is contained here.
pub(crate) struct Bridge(pub(crate) Arc<dyn DuetListener>);

impl duet_core::EntryListener for Bridge {
    fn on_event(&self, event: &EntryEvent) {
        let e = event.clone();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.on_entry_event(e)));
    }
}

impl duet_core::SyncListener for Bridge {
    fn on_sync_state(&self, state: &SyncState) {
        let s = state.clone();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.0.on_sync_state(s)));
    }
}

/// Keeps a listener subscribed. `cancel()` unsubscribes; so does releasing the object
/// (Kotlin: `close()` / `use {}`; Swift: the last reference going away; Python: `del`).
#[derive(uniffi::Object)]
pub struct Subscription {
    handles: Mutex<Option<Vec<duet_core::Subscription>>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("active", &self.is_active())
            .finish()
    }
}

impl Subscription {
    pub(crate) fn new(handles: Vec<duet_core::Subscription>) -> Self {
        Subscription {
            handles: Mutex::new(Some(handles)),
        }
    }
}

#[uniffi::export]
impl Subscription {
    /// Unsubscribe now. Calling it again does nothing.
    pub fn cancel(&self) {
        let taken = self
            .handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(taken);
    }

    /// Whether the listener is still subscribed.
    pub fn is_active(&self) -> bool {
        self.handles
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }
}
