//! Sync failures as the client meets them: blobs that don't open or don't apply are
//! quarantined (kept, reported, never applied, never blocking what comes after); invites
//! that expired, were used, or met too many wrong codes are rejected; a relay that is down
//! means `offline` with the outbox intact.

use std::sync::Arc;
use std::time::Duration;

use duet_core::EntryKind::{Appreciation, Reflection};
use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::Author;
use duet_e2e::listen::Recorder;
use duet_e2e::relay::{self, RelayProcess};
use duet_e2e::store;
use duet_e2e::wait::eventually;
use duet_proto::PushBlob;
use serde::{Serialize, Serializer};

/// A CBOR byte string.
struct Bytes<'a>(&'a [u8]);

impl Serialize for Bytes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// The plaintext of a sealed blob as the core writes it: `{doc, kind, data}`.
#[derive(Serialize)]
struct Payload<'a> {
    doc: Bytes<'a>,
    kind: &'static str,
    data: Bytes<'a>,
}

fn payload(doc: &uuid::Uuid, data: &[u8]) -> Vec<u8> {
    duet_proto::to_cbor(&Payload {
        doc: Bytes(doc.as_bytes()),
        kind: "entry",
        data: Bytes(data),
    })
}

/// The key of epoch 1 of `space`, from a member's device store.
fn space_key(db: &std::path::Path, space: &SpaceId) -> SpaceKey {
    let (epoch, key) = store::space_keys(db, space).remove(0);
    assert_eq!(epoch, 1);
    key
}

/// What a device's quarantine table keeps: (seq, sealed bytes).
fn quarantine_rows(db: &std::path::Path) -> Vec<(u64, Vec<u8>)> {
    let sql = "SELECT seq, sealed FROM quarantine ORDER BY seq";
    store::rows(db, sql, [], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
}

/// Blobs of every way to be broken, each a different failure: garbage, the wrong key, an
/// epoch nobody has, a blob id that is not the one it was sealed under, a payload that is
/// not CBOR, changes that are not Automerge — for a new document and for an existing one.
fn broken_blobs(
    key: &SpaceKey,
    space: &SpaceId,
    existing: &EntryId,
) -> Vec<(PushBlob, &'static str)> {
    let seal = |key: &SpaceKey, epoch: u32, plain: &[u8]| {
        let id = crypto::new_blob_id();
        PushBlob {
            id: id.to_vec(),
            data: crypto::seal(key, epoch, space, &id, plain).unwrap(),
        }
    };
    let fresh_doc = uuid::Uuid::now_v7();
    let garbage_change = b"this is not an automerge change".to_vec();
    // A real Automerge change (it would add a key to the entry's root), then garbage: all
    // of it must be refused, not the first half applied.
    let half_good = {
        use automerge::transaction::Transactable;
        let mut d = automerge::AutoCommit::new();
        d.put(automerge::ROOT, "smuggled", "in").unwrap();
        let mut bytes = d.save_after(&[]);
        bytes.extend_from_slice(b"\x85\x6f\x4a\x83 and then garbage");
        bytes
    };
    let relabelled = {
        let mut b = seal(key, 1, &payload(&fresh_doc, b"x"));
        b.id = crypto::new_blob_id().to_vec();
        b
    };
    vec![
        (relay::random_blob(300), "random bytes"),
        (
            seal(&SpaceKey::generate(), 1, &payload(&fresh_doc, b"x")),
            "another key",
        ),
        (seal(key, 9, &payload(&fresh_doc, b"x")), "epoch 9"),
        (relabelled, "another blob id"),
        (seal(key, 1, b"\xff\xff not cbor"), "not a payload"),
        (
            seal(key, 1, &payload(&fresh_doc, &garbage_change)),
            "garbage changes, new document",
        ),
        (
            seal(key, 1, &payload(&existing.0, &garbage_change)),
            "garbage changes, existing entry",
        ),
        (
            seal(key, 1, &payload(&existing.0, &half_good)),
            "a change then garbage, existing entry",
        ),
        (
            seal(key, 1, &payload(&fresh_doc, &half_good)),
            "a change then garbage, new document",
        ),
    ]
}

/// Garbage in a journal's log (pushed with a member's own token) is quarantined by the
/// partner: kept byte for byte, reported, never applied, and the real entries written after
/// it arrive — through `sync_now` and through the live channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_that_do_not_open_or_apply_are_quarantined_and_never_block() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let url = relay.url();
    let before = a.duet.write(&j, Reflection, "before", "first words");
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(b.duet.get_entry(&before).unwrap().body, "first words");

    // Ada's device pushes garbage straight into the journal's log...
    let ada = a.raw_client(&url);
    let key = space_key(&a.store_path(), &j);
    let broken = broken_blobs(&key, &j, &before);
    let what: Vec<&str> = broken.iter().map(|(_, w)| *w).collect();
    let blobs: Vec<PushBlob> = broken.into_iter().map(|(b, _)| b).collect();
    let seqs = ada.push(j.0, &blobs).await.unwrap().seqs;
    assert_eq!(seqs.len(), blobs.len());
    // ...then writes for real.
    let after = a.duet.write(&j, Appreciation, "after", "still here");
    a.duet
        .set_text(&before, TextField::Body, "first words, edited")
        .unwrap();
    a.duet.sync_now().await.unwrap();

    let events = Arc::new(Recorder::default());
    let _sub = b.duet.subscribe(events.clone());
    let report = b.duet.sync_now().await.unwrap();
    assert_eq!(report.quarantined as usize, blobs.len(), "{report:?}");
    assert!(report.applied >= 2, "{report:?}");
    // The real writes after the garbage arrived.
    assert_eq!(b.duet.get_entry(&after).unwrap().body, "still here");
    assert_eq!(
        b.duet.get_entry(&before).unwrap().body,
        "first words, edited"
    );
    // Nothing of the garbage was applied: Ben shows exactly what Ada wrote.
    assert_eq!(
        b.duet.all_entries(&j).unwrap(),
        a.duet.all_entries(&j).unwrap()
    );
    assert_eq!(
        b.duet
            .list_entries(&EntryQuery {
                journal: Some(j),
                ..EntryQuery::default()
            })
            .unwrap()
            .items
            .len(),
        2
    );
    let heard: Vec<EntryId> = events.events().iter().map(|e| e.entry).collect();
    assert!(
        heard.iter().all(|e| *e == before || *e == after),
        "events for garbage: {heard:?}"
    );
    // Reported, with the reason, in log order.
    let q = b.duet.quarantined().unwrap();
    assert_eq!(q.iter().map(|q| q.seq).collect::<Vec<_>>(), seqs);
    for (q, what) in q.iter().zip(&what) {
        assert_eq!(q.space, j.to_string());
        assert!(!q.error.is_empty(), "{what}: no reason given");
    }
    // The payload of the last two decoded (it was the Automerge changes that failed), so
    // the crafted payloads are what the core writes.
    for q in &q[5..] {
        assert!(!q.error.contains("blob payload"), "{}", q.error);
    }
    // Kept byte for byte.
    let kept = quarantine_rows(&b.store_path());
    assert_eq!(
        kept,
        seqs.iter()
            .zip(&blobs)
            .map(|(s, b)| (*s, b.data.clone()))
            .collect::<Vec<_>>()
    );
    // Not retried, not re-reported; the store is sound and the index rebuilds the same.
    let again = b.duet.sync_now().await.unwrap();
    assert_eq!((again.pulled, again.quarantined), (0, 0), "{again:?}");
    assert_eq!(b.duet.quarantined().unwrap().len(), blobs.len());
    b.duet.integrity_check().unwrap();
    b.duet.rebuild_index().unwrap();
    assert_eq!(
        b.duet.all_entries(&j).unwrap(),
        a.duet.all_entries(&j).unwrap()
    );

    // The live channel: garbage announced inline, then a real entry.
    let _live = b.duet.start_live().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let more = ada.push(j.0, &[relay::random_blob(64)]).await.unwrap().seqs;
    let live = a.duet.write(&j, Reflection, "live", "through the garbage");
    a.duet.sync_now().await.unwrap();
    eventually(
        "the entry after live garbage",
        Duration::from_secs(15),
        || events.heard(|e| e.entry == live),
    )
    .await;
    assert_eq!(b.duet.get_entry(&live).unwrap().body, "through the garbage");
    let q = b.duet.quarantined().unwrap();
    assert_eq!(q.len(), blobs.len() + 1);
    assert_eq!(q.last().unwrap().seq, more[0]);
}

/// Replace one character of the secret half of an invite code: same invite, wrong token.
fn wrong_code(code: &str) -> String {
    let b32: Vec<char> = code
        .trim_start_matches("DUET")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    assert_eq!(b32.len(), 52, "a code is 32 bytes of base32");
    let mut wrong = b32.clone();
    // Characters 27.. encode only the secret (the invite id is the first 128 bits).
    wrong[40] = if b32[40] == 'A' { 'B' } else { 'A' };
    format!("DUET-{}", wrong.into_iter().collect::<String>())
}

fn holds(d: &Device, j: &SpaceId) -> bool {
    d.duet.journals().unwrap().iter().any(|x| x.id == *j)
}

/// Invites are refused once expired, once used, and once five wrong codes were tried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invites_expire_are_single_use_and_burn_after_five_wrong_codes() {
    let relay = RelayProcess::temp();
    let url = relay.url();
    let a = device("Ada", &url);
    let j = a.duet.create_journal("Us").unwrap();

    // Expired.
    let short = a.duet.create_invite(&j, Some(1)).await.unwrap();
    let b = device("Ben", &url);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let e = b.duet.join(&short.code).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected, "{e}");
    assert!(!holds(&b, &j));

    // Used.
    let once = a.duet.create_invite(&j, None).await.unwrap();
    assert_eq!(b.duet.join(&once.code).await.unwrap(), j);
    let c = device("Cy", &url);
    let e = c.duet.join(&once.code).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected, "{e}");
    let e = c.duet.join(&once.uri).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected, "{e}");
    assert!(!holds(&c, &j));

    // Five wrong codes burn it: then even the right one is refused.
    let fresh = a.duet.create_invite(&j, None).await.unwrap();
    let wrong = wrong_code(&fresh.code);
    assert_ne!(wrong, fresh.code);
    for attempt in 1..=5 {
        let e = c.duet.join(&wrong).await.unwrap_err();
        assert_eq!(
            e.code(),
            ErrorCode::InviteRejected,
            "attempt {attempt}: {e}"
        );
    }
    let e = c.duet.join(&fresh.code).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected, "{e}");
    let d = device("Dee", &url);
    let e = d.duet.join(&fresh.code).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected, "{e}");
    assert!(!holds(&c, &j) && !holds(&d, &j));
    // A right code into a journal that has its two people (Ada and Ben) admits nobody
    // else, and stays unspent.
    let full = a.duet.create_invite(&j, None).await.unwrap();
    let e = d.duet.join(&full.code).await.unwrap_err();
    assert!(e.to_string().contains("two people"), "{e}");
    assert!(!holds(&d, &j));
    // Four wrong codes don't burn an invite: the right one still works (a journal of
    // Ada's with room for Dee).
    let k = a.duet.create_journal("Ada and Dee").unwrap();
    let another = a.duet.create_invite(&k, None).await.unwrap();
    let wrong = wrong_code(&another.code);
    for _ in 1..=4 {
        let e = d.duet.join(&wrong).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::InviteRejected, "{e}");
    }
    assert_eq!(d.duet.join(&another.code).await.unwrap(), k);
    // Malformed codes are refused without asking anyone.
    let e = c.duet.join("DUET-1234").await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected, "{e}");
}

/// With the relay down, syncing says `offline`, writes keep working and stay queued; once
/// the relay is back (same address), they all go out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_with_the_relay_down_is_offline_and_keeps_the_outbox() {
    let Partners { mut relay, a, b, j } = Partners::start().await;
    for i in 0..3 {
        a.duet.write(&j, Reflection, &format!("e{i}"), "words");
    }
    let queued = a.duet.outbox_len().unwrap();
    assert!(queued >= 3);
    let states = Arc::new(Recorder::default());
    let _sub = a.duet.subscribe_sync(states.clone());

    relay.kill_9();
    let e = a.duet.sync_now().await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Offline, "{e}");
    assert_eq!(a.duet.outbox_len().unwrap(), queued);
    let seen = states.states();
    assert!(
        seen.iter().any(|s| matches!(s, SyncState::Offline { .. })),
        "{seen:?}"
    );
    // Writing offline works and queues.
    a.duet.write(&j, Reflection, "offline", "on the bus");
    assert_eq!(a.duet.outbox_len().unwrap(), queued + 1);
    let e = a.duet.create_invite(&j, None).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Offline, "{e}");
    let e = b.duet.sync_now().await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::Offline, "{e}");
    assert_eq!(a.duet.outbox_len().unwrap(), queued + 1);

    tokio::task::block_in_place(|| relay.restart_same_port());
    let report = a.duet.sync_now().await.unwrap();
    assert_eq!(u64::from(report.pushed), queued + 1, "{report:?}");
    assert_eq!(a.duet.outbox_len().unwrap(), 0);
    assert!(matches!(
        states.states().last(),
        Some(SyncState::Synced { .. })
    ));
    b.duet.sync_now().await.unwrap();
    assert_eq!(
        b.duet.all_entries(&j).unwrap(),
        a.duet.all_entries(&j).unwrap()
    );
    assert_eq!(b.duet.all_entries(&j).unwrap().len(), 4);
}
