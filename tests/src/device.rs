//! Homes on a relay: devices in temporary homes, partners sharing a journal, a person's
//! second device, and syncing until everyone agrees.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use duet_core::{Duet, Options, STORE_FILE, SpaceId};

use crate::home::options;
use crate::ok;
use crate::relay::{self, RelayProcess};
use crate::store::relay_credentials;

/// One device: a Duet home in its own temporary directory.
#[derive(Debug)]
pub struct Device {
    pub dir: tempfile::TempDir,
    pub duet: Arc<Duet>,
}

impl Device {
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join(STORE_FILE)
    }

    /// The raw relay client of this device: its own device id and token, as an adversary
    /// holding the phone would use them.
    pub fn raw_client(&self, base: &str) -> relay::Client {
        let (device_id, token) = relay_credentials(&self.store_path());
        relay::Client::from_credentials(base, device_id, token)
    }
}

/// A new home named `name`, pointed at `relay_url`.
pub fn device(name: &str, relay_url: &str) -> Device {
    device_with(name, relay_url, options())
}

/// A new home named `name` opened with `opts`, pointed at `relay_url`.
pub fn device_with(name: &str, relay_url: &str, opts: Options) -> Device {
    let dir = ok(tempfile::tempdir(), "a temporary home");
    let duet = ok(Duet::init(dir.path(), name, opts), "init a device");
    ok(duet.set_relay(relay_url), "set the relay");
    Device {
        dir,
        duet: Arc::new(duet),
    }
}

/// Ada and Ben on `relay_url`, sharing a journal titled `title` (Ada made it, Ben joined).
pub async fn partners(
    relay_url: &str,
    ada: &str,
    ben: &str,
    title: &str,
) -> (Device, Device, SpaceId) {
    let a = device(ada, relay_url);
    let b = device(ben, relay_url);
    let j = ok(a.duet.create_journal(title), "create a journal");
    let invite = ok(a.duet.create_invite(&j, None).await, "create an invite");
    assert_eq!(ok(b.duet.join(&invite.code).await, "join"), j);
    ok(a.duet.sync_now().await, "sync");
    (a, b, j)
}

/// A relay of its own (in a temporary directory) with Ada and Ben on it sharing "Us".
#[derive(Debug)]
pub struct Partners {
    pub relay: RelayProcess,
    pub a: Device,
    pub b: Device,
    pub j: SpaceId,
}

impl Partners {
    /// A relay with default limits, and the partners on it.
    pub async fn start() -> Partners {
        Self::start_with(&[]).await
    }

    /// (relay, Ada's device, Ben's device, their journal).
    pub fn into_parts(self) -> (RelayProcess, Device, Device, SpaceId) {
        (self.relay, self.a, self.b, self.j)
    }

    /// A relay started with extra flags, and the partners on it.
    pub async fn start_with(relay_args: &[&str]) -> Partners {
        let relay = RelayProcess::temp_with(relay_args);
        let (a, b, j) = partners(&relay.url(), "Ada", "Ben", "Us").await;
        Partners { relay, a, b, j }
    }
}

/// A second device of the person `of` belongs to, linked with a device-link code.
pub async fn second_device(of: &Device) -> Device {
    let link = ok(of.duet.link_device(None).await, "a device-link code");
    let dir = ok(tempfile::tempdir(), "a temporary home");
    let joined = Duet::join_device(dir.path(), &link.uri, None, options()).await;
    Device {
        dir,
        duet: Arc::new(ok(joined, "join as a second device")),
    }
}

/// Sync every device, round after round, until all outboxes are empty and every device
/// shows the same entries of `journal`; panics with the last difference after `rounds`.
pub async fn sync_until_converged(devices: &[&Duet], journal: &SpaceId, rounds: usize) {
    let mut last = String::new();
    for _ in 0..rounds {
        let mut errors = Vec::new();
        for d in devices {
            if let Err(e) = d.sync_now().await {
                errors.push(e.to_string());
            }
        }
        let outboxes: Vec<u64> = devices
            .iter()
            .map(|d| ok(d.outbox_len(), "outbox length"))
            .collect();
        let entries = |d: &Duet| ok(d.all_entries(journal), "all entries");
        let first = entries(devices[0]);
        let same = devices.iter().all(|d| entries(d) == first);
        if same && outboxes.iter().all(|n| *n == 0) {
            return;
        }
        last = format!("outboxes {outboxes:?}, same entries: {same}, sync errors: {errors:?}");
    }
    panic!("devices did not converge after {rounds} rounds: {last}");
}
