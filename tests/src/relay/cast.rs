//! The cast of the raw-protocol tests: two partners sharing a space on a relay of their
//! own, more devices of the first one's person, and a stranger on the same relay.

use uuid::Uuid;

use super::{Client, RelayProcess};
use crate::ok;

/// Partners `a` and `b` sharing `space` (a made it and invited b), `a_devices` more
/// devices of a's person admitted to it, and a `stranger` with no space.
#[derive(Debug)]
pub struct RawCouple {
    /// Killed when dropped: bind it (left in a pattern's `..` it is dropped at once).
    pub relay: RelayProcess,
    pub a: Client,
    pub a_devices: Vec<Client>,
    pub b: Client,
    pub stranger: Client,
    pub space: Uuid,
}

impl RawCouple {
    /// A fresh relay and the cast on it, with `more` devices of a's.
    pub async fn start(more: usize) -> RawCouple {
        let relay = RelayProcess::temp();
        let url = relay.url();
        let (a, b, space) = ok(Client::partners(&url).await, "partners");
        let mut a_devices = Vec::new();
        for _ in 0..more {
            let d = ok(Client::register(&url).await, "register a device");
            ok(a.admit_own_device(space, &d).await, "admit a device");
            a_devices.push(d);
        }
        let stranger = ok(Client::register(&url).await, "register a stranger");
        RawCouple {
            relay,
            a,
            a_devices,
            b,
            stranger,
            space,
        }
    }
}
