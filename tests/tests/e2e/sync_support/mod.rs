//! Helpers shared by the sync tests against a real relay (`tests/sync_*.rs`): devices in
//! temporary homes, a journal two partners share, a person's second device, the relay
//! credentials a device keeps, and raw reads of the relay's log.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use duet_core::*;
use duet_e2e::relay;
use reqwest::Method;
use uuid::Uuid;

/// One device: a Duet home in its own temporary directory.
pub struct Device {
    pub dir: tempfile::TempDir,
    pub duet: Arc<Duet>,
}

impl Device {
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn store_path(&self) -> std::path::PathBuf {
        self.dir.path().join(STORE_FILE)
    }
}

pub fn opts() -> Options {
    Options {
        durability: Durability::Normal,
        ..Options::default()
    }
}

/// A new home named `name`, pointed at `relay_url`.
pub fn device(name: &str, relay_url: &str) -> Device {
    let dir = tempfile::tempdir().unwrap();
    let duet = Duet::init(dir.path(), name, opts()).unwrap();
    duet.set_relay(relay_url).unwrap();
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
    let j = a.duet.create_journal(title).unwrap();
    let invite = a.duet.create_invite(&j, None).await.unwrap();
    assert_eq!(b.duet.join(&invite.code).await.unwrap(), j);
    a.duet.sync_now().await.unwrap();
    (a, b, j)
}

/// A second device of the person `of` belongs to, linked with a device-link code.
pub async fn second_device(of: &Device) -> Device {
    let link = of.duet.link_device(None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let duet = Duet::join_device(dir.path(), &link.uri, None, opts())
        .await
        .unwrap();
    Device {
        dir,
        duet: Arc::new(duet),
    }
}

pub fn entry(kind: EntryKind, title: &str, body: &str) -> NewEntry {
    NewEntry {
        kind: Some(kind),
        title: title.into(),
        body: body.into(),
        ..NewEntry::default()
    }
}

/// The relay device id and bearer token a home keeps (the device store's `relay` table).
pub fn relay_credentials(store: &Path) -> (Uuid, String) {
    let db = rusqlite::Connection::open(store).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let (dev, token): (String, String) = db
        .query_row("SELECT device_id, token FROM relay WHERE id = 1", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    (dev.parse().unwrap(), token)
}

/// Every blob of `space` on the relay at `base`, read with `token`: (seq, id, data).
pub async fn relay_log(base: &str, token: &str, space: Uuid) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let http = relay::http_client();
    let mut out: Vec<(u64, Vec<u8>, Vec<u8>)> = Vec::new();
    loop {
        let after = out.last().map(|b| b.0).unwrap_or(0);
        let page: duet_proto::Pulled = relay::send(
            &http,
            base,
            Method::GET,
            &format!("/v1/spaces/{space}/blobs?after={after}&limit=1000"),
            Some(token),
            None,
        )
        .await
        .unwrap()
        .ok()
        .unwrap()
        .cbor()
        .unwrap();
        let done = !page.more || page.blobs.is_empty();
        out.extend(page.blobs.into_iter().map(|b| (b.seq, b.id, b.data)));
        if done {
            return out;
        }
    }
}

/// The blob ids of `space` on the relay.
pub async fn relay_blob_ids(base: &str, token: &str, space: Uuid) -> HashSet<Vec<u8>> {
    relay_log(base, token, space)
        .await
        .into_iter()
        .map(|(_, id, _)| id)
        .collect()
}

/// Whether `needle` occurs in `hay`.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
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
        let outboxes: Vec<u64> = devices.iter().map(|d| d.outbox_len().unwrap()).collect();
        let first = devices[0].all_entries(journal).unwrap();
        let same = devices
            .iter()
            .all(|d| d.all_entries(journal).unwrap() == first);
        if same && outboxes.iter().all(|n| *n == 0) {
            return;
        }
        last = format!("outboxes {outboxes:?}, same entries: {same}, sync errors: {errors:?}");
    }
    panic!("devices did not converge after {rounds} rounds: {last}");
}

/// Every key (epoch, key) a device store holds for `space`: what a former partner keeps.
pub fn space_keys(store: &Path, space: &SpaceId) -> Vec<(u32, SpaceKey)> {
    let db = rusqlite::Connection::open(store).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut stmt = db
        .prepare("SELECT epoch, key FROM space_keys WHERE space_id = ?1 ORDER BY epoch")
        .unwrap();
    stmt.query_map([space.to_string()], |r| {
        Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))
    })
    .unwrap()
    .map(|r| {
        let (e, k) = r.unwrap();
        (e, SpaceKey::from_bytes(&k).unwrap())
    })
    .collect()
}

/// The raw relay client of a home: its own device id and token, as an adversary holding
/// the phone would use them.
pub fn raw_client(base: &str, store: &Path) -> relay::Client {
    let (device_id, token) = relay_credentials(store);
    relay::Client::from_credentials(base, device_id, token)
}
