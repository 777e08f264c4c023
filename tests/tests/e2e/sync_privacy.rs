//! The relay never sees content. Sentinel phrases written everywhere a couple can write —
//! entry titles, bodies, tags, replies, check-in notes, a conflict's perspective and
//! agreement, a private draft, the journal's title, the partners' names — appear in the
//! devices' own exports, but nowhere in the relay's data directory (every file, raw bytes,
//! before and after a WAL checkpoint), nowhere in the live frames a device of the journal
//! receives, and nowhere in any byte the devices and the relay exchanged.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::Author;
use duet_e2e::proxy::TcpProxy;
use duet_e2e::relay::{self, RelayProcess};
use duet_e2e::store::{self, files, relay_credentials};
use duet_e2e::text::contains_bytes;
use duet_e2e::wait::eventually;
use duet_proto::live::{ClientFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

const NAME_A: &str = "Ada Sentinel-NAME-ADA-4f9c2e";
const NAME_B: &str = "Ben Sentinel-NAME-BEN-8d1a7b";
const JOURNAL: &str = "Sentinel-JOURNAL-TITLE-19be33";
const JOURNAL_RENAMED: &str = "Sentinel-JOURNAL-RENAMED-62d0aa";
const TITLE: &str = "Sentinel-ENTRY-TITLE-7c44d1";
const BODY: &str = "Sentinel-ENTRY-BODY-e3a905";
const TAG: &str = "sentinel-tag-0b5f6e";
const REPLY: &str = "Sentinel-REPLY-a8c271";
const NEEDS: &str = "Sentinel-CHECKIN-NEEDS-5e19fd";
const GRATITUDE: &str = "Sentinel-CHECKIN-GRATITUDE-c62b08";
const PERSPECTIVE: &str = "Sentinel-CONFLICT-PERSPECTIVE-91f3c4";
const AGREEMENT: &str = "Sentinel-CONFLICT-AGREEMENT-d07e5a";
const DRAFT: &str = "Sentinel-PRIVATE-DRAFT-3b8e60";
const EDIT: &str = "Sentinel-LIVE-EDIT-f27c19";

const ALL: &[&str] = &[
    NAME_A,
    NAME_B,
    JOURNAL,
    JOURNAL_RENAMED,
    TITLE,
    BODY,
    TAG,
    REPLY,
    NEEDS,
    GRATITUDE,
    PERSPECTIVE,
    AGREEMENT,
    DRAFT,
    EDIT,
];

/// The sentinels found in `hay`.
fn found(hay: &[u8]) -> Vec<&'static str> {
    ALL.iter()
        .copied()
        .filter(|s| contains_bytes(hay, s.as_bytes()))
        .collect()
}

/// The bytes of every file under `dir`, one after the other.
fn all_bytes(dir: &Path) -> Vec<u8> {
    files(dir).into_iter().flat_map(|(_, b)| b).collect()
}

fn assert_no_sentinel_in_files(dir: &Path, when: &str) -> usize {
    let all = files(dir);
    assert!(
        all.iter().any(|(p, _)| p.ends_with("relay.sqlite3")),
        "no relay database in {}",
        dir.display()
    );
    let mut bytes = 0;
    for (p, b) in &all {
        assert_eq!(
            found(b),
            Vec::<&str>::new(),
            "plaintext in the relay's {} ({when})",
            p.display()
        );
        bytes += b.len();
    }
    bytes
}

/// A raw live connection authenticated as a device: every binary frame it receives, as
/// received.
async fn tap_live(
    base: &str,
    token: &str,
) -> (tokio::task::JoinHandle<()>, Arc<Mutex<Vec<Vec<u8>>>>) {
    let (ws, _) = tokio_tungstenite::connect_async(relay::live_url(base))
        .await
        .unwrap();
    let (mut tx, mut rx) = ws.split();
    let auth = duet_proto::to_cbor(&ClientFrame::Auth {
        token: token.to_string(),
    });
    tx.send(Message::binary(auth)).await.unwrap();
    match rx.next().await {
        Some(Ok(Message::Binary(b))) => {
            assert!(matches!(
                duet_proto::from_cbor::<ServerFrame>(&b).unwrap(),
                ServerFrame::Ready { .. }
            ));
        }
        other => panic!("expected ready, got {other:?}"),
    }
    let frames = Arc::new(Mutex::new(Vec::new()));
    let f = frames.clone();
    let task = tokio::spawn(async move {
        let _tx = tx; // keep the connection open
        while let Some(Ok(m)) = rx.next().await {
            if let Message::Binary(b) = m {
                f.lock().unwrap().push(b.to_vec());
            }
        }
    });
    (task, frames)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_reaches_the_relay_its_files_or_the_wire() {
    let relay = RelayProcess::temp();
    // The devices talk to the relay only through a proxy that keeps every byte.
    let proxy = TcpProxy::start(relay.addr(), true).await;
    let (a, b, j) = partners(&proxy.url(), NAME_A, NAME_B, JOURNAL).await;
    b.duet.sync_now().await.unwrap();
    assert!(a.duet.export_json(&j).unwrap().contains(JOURNAL));

    // Listen on the live channel as Ada's device while Ben writes.
    let (_, token) = relay_credentials(&a.store_path());
    let (tap, frames) = tap_live(&relay.url(), &token).await;
    let _la = a.duet.start_live().unwrap();
    let _lb = b.duet.start_live().unwrap();

    let entry_id = b
        .duet
        .create_entry(
            &j,
            NewEntry {
                kind: Some(EntryKind::Vulnerability),
                title: TITLE.into(),
                body: format!("{} {BODY} {}", "words ".repeat(40), "more ".repeat(40)),
                tags: vec![TAG.into()],
                ..NewEntry::default()
            },
        )
        .unwrap();
    b.duet
        .check_in(
            &j,
            CheckIn {
                mood: 4,
                closeness: 5,
                needs: NEEDS.into(),
                gratitude: GRATITUDE.into(),
            },
        )
        .unwrap();
    let conflict = b
        .duet
        .create_entry(
            &j,
            NewEntry {
                kind: Some(EntryKind::Conflict),
                title: "the dishes".into(),
                perspective: Some(PERSPECTIVE.into()),
                ..NewEntry::default()
            },
        )
        .unwrap();
    b.duet
        .set_text(&conflict, TextField::Agreement, AGREEMENT)
        .unwrap();
    b.duet.rename_journal(&j, JOURNAL_RENAMED).unwrap();
    let personal = a.duet.identity().personal_space;
    let draft = a
        .duet
        .write(&personal, EntryKind::Reflection, "not yet", DRAFT);
    b.duet.sync_now().await.unwrap();
    // Ada answers once Ben's entry is there, and shares her draft.
    eventually("Ben's entry", Duration::from_secs(20), || {
        a.duet.get_entry(&entry_id).is_ok()
    })
    .await;
    a.duet.reply(&entry_id, REPLY).unwrap();
    a.duet.share_draft(&draft, &j).unwrap();
    b.duet
        .set_text(&entry_id, TextField::Body, &format!("{BODY} {EDIT}"))
        .unwrap();
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    // Ben's second device joins and pulls it all (the link invite carries his name).
    let b2 = second_device(&b).await;
    a.duet.sync_now().await.unwrap();
    sync_until_converged(&[&a.duet, &b.duet, &b2.duet], &j, 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    tap.abort();

    // The devices see everything (so the test can see the sentinels where they belong).
    for d in [&a, &b, &b2] {
        let export = d.duet.export_json(&j).unwrap();
        for s in ALL.iter().filter(|s| **s != JOURNAL) {
            assert!(export.contains(s), "{s} missing from an export");
        }
    }
    assert!(a.duet.export_json(&personal).unwrap().contains(DRAFT));
    // And the byte scan finds plaintext in SQLite files when it is there: the device's
    // index holds titles in the clear.
    assert!(
        found(&all_bytes(a.home())).contains(&TITLE),
        "the scan can't see a device's own index"
    );

    // The live frames Ada's device received: announcements with sealed blobs inline.
    let frames = frames.lock().unwrap().clone();
    let mut inline = Vec::new();
    for f in &frames {
        assert_eq!(found(f), Vec::<&str>::new(), "plaintext in a live frame");
        if let ServerFrame::New {
            space_id,
            blob: Some(blob),
            ..
        } = duet_proto::from_cbor::<ServerFrame>(f).unwrap()
            && space_id == j.0
        {
            inline.push(blob.data);
        }
    }
    assert!(
        inline.len() >= 6,
        "only {} inline blobs of the journal were announced ({} frames)",
        inline.len(),
        frames.len()
    );

    // Every byte between the devices and the relay (HTTP and WebSocket, both ways).
    let (up, down) = proxy.captured();
    assert!(
        up.len() > 10_000 && down.len() > 10_000,
        "{} / {}",
        up.len(),
        down.len()
    );
    assert!(
        contains_bytes(&up, b"/v1/spaces/"),
        "the capture is not the traffic"
    );
    assert_eq!(
        found(&up),
        Vec::<&str>::new(),
        "plaintext sent to the relay"
    );
    assert_eq!(
        found(&down),
        Vec::<&str>::new(),
        "plaintext sent by the relay"
    );

    // The relay's files, as they are and after a checkpoint folds the WAL into the database.
    assert_no_sentinel_in_files(relay.data_dir(), "live");
    let checkpoint = "PRAGMA wal_checkpoint(TRUNCATE)";
    let busy: i64 = store::row(&relay.db_path(), checkpoint, [], |r| r.get(0));
    assert_eq!(busy, 0, "the checkpoint could not complete");
    let bytes = assert_no_sentinel_in_files(relay.data_dir(), "after a checkpoint");
    // The files do hold the sealed blobs the scan looked through.
    let relay_bytes = all_bytes(relay.data_dir());
    for blob in &inline {
        assert!(
            contains_bytes(&relay_bytes, &blob[..32]),
            "a blob is not in the files"
        );
    }
    eprintln!(
        "{} live frames, {} bytes up, {} bytes down, {bytes} bytes of relay files: no sentinel",
        frames.len(),
        up.len(),
        down.len()
    );
}
