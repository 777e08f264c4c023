//! Listeners. Subscribing returns a handle that unsubscribes when dropped, so a screen that
//! goes away can't leak a callback.

use std::sync::{Arc, Mutex, Weak};

use crate::model::EntryEvent;

/// Receives entry events. Called after the change is committed, on the thread that made it
/// (a local write) or the thread that applied it (sync or bundle import); never with the
/// store locked, so a listener may call back into Duet.
pub trait EntryListener: Send + Sync {
    fn on_event(&self, event: &EntryEvent);
}

/// The next id and the subscribed listeners with their ids.
type Slots<L> = Mutex<(u64, Vec<(u64, Arc<L>)>)>;

/// A registry of listeners of one kind.
pub(crate) struct Listeners<L: ?Sized> {
    slots: Slots<L>,
}

impl<L: ?Sized> Default for Listeners<L> {
    fn default() -> Self {
        Self {
            slots: Mutex::new((0, Vec::new())),
        }
    }
}

impl<L: ?Sized> std::fmt::Debug for Listeners<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Listeners")
    }
}

/// Lets a `Subscription` remove itself without knowing the listener type.
trait Unsubscribe: Send + Sync {
    fn remove(&self, id: u64);
}

impl<L: ?Sized + Send + Sync + 'static> Unsubscribe for Listeners<L> {
    fn remove(&self, id: u64) {
        let mut g = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        g.1.retain(|(i, _)| *i != id);
    }
}

impl<L: ?Sized + Send + Sync + 'static> Listeners<L> {
    pub(crate) fn add(self: &Arc<Self>, l: Arc<L>) -> Subscription {
        let mut g = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        g.0 += 1;
        let id = g.0;
        g.1.push((id, l));
        let weak: Weak<dyn Unsubscribe> = Arc::downgrade(self) as Weak<dyn Unsubscribe>;
        Subscription {
            id,
            listeners: weak,
        }
    }

    pub(crate) fn emit(&self, call: impl Fn(&L)) {
        // Snapshot the list so a listener may subscribe or unsubscribe from its callback.
        let current: Vec<Arc<L>> = {
            let g = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            g.1.iter().map(|(_, l)| l.clone()).collect()
        };
        for l in current {
            call(&l);
        }
    }
}

/// Keeps a listener subscribed; dropping it (or calling [`Subscription::cancel`]) unsubscribes.
#[must_use = "dropping a Subscription unsubscribes its listener"]
pub struct Subscription {
    id: u64,
    listeners: Weak<dyn Unsubscribe>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .finish()
    }
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
