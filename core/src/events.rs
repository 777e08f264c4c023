//! Listeners for entry events. Subscribing returns a handle that unsubscribes when dropped,
//! so a screen that goes away can't leak a callback.

use std::sync::{Arc, Mutex, Weak};

use crate::model::EntryEvent;

/// Receives entry events. Called after the change is committed, on the thread that made it
/// (a local write) or the thread that applied it (sync or bundle import); never with the
/// store locked, so a listener may call back into Duet.
pub trait EntryListener: Send + Sync {
    fn on_event(&self, event: &EntryEvent);
}

type Slot = (u64, Arc<dyn EntryListener>);

#[derive(Default)]
pub(crate) struct Listeners {
    slots: Mutex<(u64, Vec<Slot>)>,
}

impl std::fmt::Debug for Listeners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listeners")
    }
}

impl Listeners {
    pub(crate) fn add(self: &Arc<Self>, l: Arc<dyn EntryListener>) -> Subscription {
        let mut g = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let id = g.0;
        g.1.push((id, l));
        Subscription {
            id,
            listeners: Arc::downgrade(self),
        }
    }

    pub(crate) fn emit(&self, events: &[EntryEvent]) {
        if events.is_empty() {
            return;
        }
        // Snapshot the list so a listener may subscribe or unsubscribe from its callback.
        let current: Vec<Arc<dyn EntryListener>> = {
            let g = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            g.1.iter().map(|(_, l)| l.clone()).collect()
        };
        for l in current {
            for e in events {
                l.on_event(e);
            }
        }
    }

    fn remove(&self, id: u64) {
        let mut g = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        g.1.retain(|(i, _)| *i != id);
    }
}

/// Keeps a listener subscribed; dropping it (or calling [`Subscription::cancel`]) unsubscribes.
#[derive(Debug)]
#[must_use = "dropping a Subscription unsubscribes its listener"]
pub struct Subscription {
    id: u64,
    listeners: Weak<Listeners>,
}

impl Subscription {
    pub fn cancel(self) {}
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(l) = self.listeners.upgrade() {
            l.remove(self.id);
        }
    }
}
