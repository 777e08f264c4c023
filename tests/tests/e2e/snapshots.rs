//! Journal snapshots through a real relay (issue 14, ADR 16): a new phone installs the
//! journal's snapshot, lists and searches it before loading a document, and ends with the
//! same journal as a phone that pulled every blob — whether the snapshot is fresh, stale,
//! absent, doesn't open, or carries a document that doesn't load; an edit made to an
//! entry before its document loaded survives.

use std::io::{Read, Write};

use ciborium::Value;
use duet_core::EntryKind::{Appreciation, Reflection};
use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::{Author, options, summaries};
use duet_e2e::relay::RelayProcess;
use duet_e2e::store::space_keys;

/// A device whose syncs upload a snapshot every `every` blobs (0: never).
fn device_snapshotting(name: &str, relay: &RelayProcess, every: u64) -> Device {
    let opts = Options {
        snapshot_every_blobs: every,
        ..options()
    };
    device_with(name, &relay.url(), opts)
}

/// Ada (uploading snapshots every `every` blobs) and Ben, who joined while the journal was
/// new and so pulls its log blob by blob; then Ada writes `n` entries of several shapes.
async fn journal_of(relay: &RelayProcess, every: u64, n: usize) -> (Device, Device, SpaceId) {
    let a = device_snapshotting("Ada", relay, every);
    let b = device("Ben", &relay.url());
    let j = a.duet.create_journal("Us").unwrap();
    let invite = a.duet.create_invite(&j, None).await.unwrap();
    b.duet.join(&invite.code).await.unwrap();
    write_entries(&a.duet, &j, 0..n);
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    (a, b, j)
}

fn write_entries(d: &Duet, j: &SpaceId, range: std::ops::Range<usize>) {
    for i in range {
        let kind = if i % 2 == 0 { Reflection } else { Appreciation };
        let e = d.write(
            j,
            kind,
            &format!("day {i}"),
            &format!("we walked to the lighthouse-{i} and talked about the garden"),
        );
        if i % 5 == 0 {
            d.set_tags(&e, &["walks".into(), format!("week{}", i / 7)])
                .unwrap();
        }
        if i % 17 == 3 {
            d.delete_entry(&e).unwrap();
        }
    }
}

/// Everything a phone shows of a journal: the index's summaries (live and trashed), every
/// entry in full, and a search.
fn shown(d: &Duet, j: &SpaceId) -> (Vec<EntrySummary>, Vec<Entry>, Vec<EntryId>) {
    let mut hits: Vec<EntryId> = d
        .search("lighthouse", Some(j), 1000)
        .unwrap()
        .into_iter()
        .map(|h| h.entry.id)
        .collect();
    hits.sort();
    (summaries(d, j), d.all_entries(j).unwrap(), hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_phone_installs_a_stale_snapshot_and_ends_with_the_whole_log() {
    let relay = RelayProcess::temp();
    let (a, b, j) = journal_of(&relay, 50, 150).await;
    let snap = b.raw_client(&relay.url()).snapshot(j.0).await.unwrap();
    assert!(
        snap.seq >= 150,
        "Ada's sync uploaded a snapshot: {}",
        snap.seq
    );
    // The log moves on past it: new entries, an edit of an old one.
    write_entries(&a.duet, &j, 150..160);
    let old = a.duet.list_entries(&EntryQuery::default()).unwrap().items[20].id;
    a.duet
        .set_text(&old, TextField::Body, "rewritten after the snapshot")
        .unwrap();
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(
        b.raw_client(&relay.url()).snapshot(j.0).await.unwrap().seq,
        snap.seq,
        "not due again yet: the snapshot is stale"
    );

    // Ben's new phone: the journal is listed and searchable before a document is loaded.
    let phone = second_device(&b).await;
    let p = &phone.duet;
    assert!(
        p.documents_to_load().unwrap() >= 100,
        "installed from the snapshot"
    );
    let listed = summaries(p, &j);
    assert_eq!(listed, summaries(&b.duet, &j));
    assert_eq!(p.search("lighthouse", Some(&j), 1000).unwrap().len(), {
        b.duet.search("lighthouse", Some(&j), 1000).unwrap().len()
    });
    assert_eq!(
        p.get_entry(&old).unwrap().body,
        "rewritten after the snapshot"
    );

    // An edit to an entry whose document hasn't loaded yet survives the load and the sync.
    let unloaded = listed.iter().rev().find(|s| !s.deleted).unwrap().id;
    p.set_text(&unloaded, TextField::Title, "edited before it loaded")
        .unwrap();
    p.sync_now().await.unwrap();
    assert_eq!(
        p.documents_to_load().unwrap(),
        0,
        "the sync loaded the rest"
    );
    sync_until_converged(&[&a.duet, &b.duet, p], &j, 4).await;
    assert_eq!(
        a.duet.get_entry(&unloaded).unwrap().title,
        "edited before it loaded"
    );
    assert_eq!(shown(p, &j), shown(&b.duet, &j));
    assert_eq!(shown(p, &j), shown(&a.duet, &j));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_snapshot_or_with_one_that_does_not_open_the_log_is_pulled() {
    let relay = RelayProcess::temp();
    let (a, b, j) = journal_of(&relay, 0, 120).await;
    let raw = b.raw_client(&relay.url());
    assert!(raw.snapshot(j.0).await.is_err(), "no snapshot");
    let absent = second_device(&b).await;
    assert_eq!(
        absent.duet.documents_to_load().unwrap(),
        0,
        "pulled blob by blob"
    );
    assert_eq!(shown(&absent.duet, &j), shown(&b.duet, &j));

    // A snapshot whose sealed bytes were tampered with: it doesn't open, nothing of it
    // stays, and the log is pulled.
    a.duet.upload_snapshot(&j).await.unwrap();
    let mut snap = raw.snapshot(j.0).await.unwrap();
    let at = snap.data.len() / 2;
    snap.data[at] ^= 0x40;
    write_entries(&a.duet, &j, 120..121);
    a.duet.sync_now().await.unwrap();
    snap.seq += 1;
    raw.put_snapshot(j.0, &snap).await.unwrap();
    let damaged = second_device(&b).await;
    assert_eq!(damaged.duet.documents_to_load().unwrap(), 0);
    b.duet.sync_now().await.unwrap();
    assert_eq!(shown(&damaged.duet, &j), shown(&b.duet, &j));
    assert!(damaged.duet.quarantined().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_in_a_snapshot_that_does_not_load_is_pulled_again_from_the_log() {
    let relay = RelayProcess::temp();
    let (a, b, j) = journal_of(&relay, 0, 110).await;
    let seq = a.duet.upload_snapshot(&j).await.unwrap();
    // A member's forgery (or a bug): a snapshot that opens, whose first entry's document
    // bytes are garbage while its index rows look fine.
    let raw = b.raw_client(&relay.url());
    let snap = raw.snapshot(j.0).await.unwrap();
    // (A snapshot replaces one only if it covers more of the log.)
    write_entries(&a.duet, &j, 110..111);
    a.duet.sync_now().await.unwrap();
    let (epoch, key) = space_keys(&a.store_path(), &j).pop().unwrap();
    let forged = reseal(&snap.data, &j, epoch, &key, |docs| {
        let doc = docs
            .iter_mut()
            .find(|d| {
                d.as_map()
                    .is_some_and(|m| m.iter().any(|(k, _)| k.as_text() == Some("index")))
            })
            .unwrap();
        *field(doc, "data").unwrap() = Value::Bytes(b"not an automerge document".to_vec());
    });
    raw.put_snapshot(
        j.0,
        &duet_proto::Snapshot {
            seq: seq + 1,
            data: forged,
        },
    )
    .await
    .unwrap();
    let phone = second_device(&b).await;
    let p = &phone.duet;
    assert!(p.documents_to_load().unwrap() > 0);
    // The sync loads it, drops the one that doesn't load; the next pulls the log again.
    p.sync_now().await.unwrap();
    p.sync_now().await.unwrap();
    assert_eq!(p.documents_to_load().unwrap(), 0);
    assert_eq!(shown(p, &j), shown(&b.duet, &j));
}

/// A map's field by its text key.
fn field<'a>(v: &'a mut Value, name: &str) -> Option<&'a mut Value> {
    v.as_map_mut()?
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
}

/// Open a sealed snapshot, change its documents, seal it again.
fn reseal(
    data: &[u8],
    j: &SpaceId,
    epoch: u32,
    key: &SpaceKey,
    change: impl FnOnce(&mut Vec<Value>),
) -> Vec<u8> {
    let mut sealed: Value = ciborium::from_reader(data).unwrap();
    let id: [u8; 16] = field(&mut sealed, "id")
        .unwrap()
        .as_bytes()
        .unwrap()
        .as_slice()
        .try_into()
        .unwrap();
    let bytes = field(&mut sealed, "sealed")
        .unwrap()
        .as_bytes()
        .unwrap()
        .clone();
    let plain = duet_core::crypto::open(key, j, &id, &bytes).unwrap();
    assert_eq!(&plain[..4], b"DSN2");
    let mut cbor = Vec::new();
    flate2::read::DeflateDecoder::new(&plain[4..])
        .read_to_end(&mut cbor)
        .unwrap();
    let mut docs: Vec<Value> = ciborium::from_reader(cbor.as_slice()).unwrap();
    change(&mut docs);
    let mut z = flate2::write::DeflateEncoder::new(b"DSN2".to_vec(), flate2::Compression::fast());
    ciborium::into_writer(&docs, &mut z).unwrap();
    z.flush().unwrap();
    let plain = z.finish().unwrap();
    let id = duet_core::crypto::new_blob_id();
    let sealed = duet_core::crypto::seal(key, epoch, j, &id, &plain).unwrap();
    let mut out = Vec::new();
    ciborium::into_writer(
        &Value::Map(vec![
            (Value::Text("id".into()), Value::Bytes(id.to_vec())),
            (Value::Text("sealed".into()), Value::Bytes(sealed)),
        ]),
        &mut out,
    )
    .unwrap();
    out
}
