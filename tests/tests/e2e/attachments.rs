//! Attachments through a real relay (issue 11): a 5 MB file attached offline arrives on the
//! partner's phone byte-identical; the partner's copy of the same file is one object at the
//! relay; a flipped byte at the relay is `corrupt_data` on fetch with nothing left at the
//! destination; an upload killed half way (SIGKILL of the `duet` process) resumes from the
//! relay's offset; removal frees the relay's bytes; the relay's files never hold a word of
//! what is inside an attachment.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use duet_core::EntryKind::Reflection;
use duet_core::*;
use duet_e2e::SplitMix64;
use duet_e2e::cli::Home as CliHome;
use duet_e2e::device::*;
use duet_e2e::home::Author;
use duet_e2e::proxy::{Faults, FaultyProxy};
use duet_e2e::relay::RelayProcess;
use duet_e2e::store::files_holding;

const SENTINEL: &[u8] = b"Sentinel-INSIDE-AN-ATTACHMENT-7d3a";

/// `len` bytes of seeded noise with the sentinel in the middle.
fn file_of(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let mut rng = SplitMix64::new(seed);
    let mut bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    let mid = len / 2;
    bytes[mid..mid + SENTINEL.len()].copy_from_slice(SENTINEL);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

/// Bytes of the relay's stored attachment objects (partial uploads aside).
fn relay_object_bytes(relay: &RelayProcess) -> u64 {
    objects(relay).iter().map(|(_, n)| n).sum()
}

/// The relay's stored attachment object files and their sizes.
fn objects(relay: &RelayProcess) -> Vec<(PathBuf, u64)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if let Ok(m) = p.metadata() {
                out.push((p, m.len()));
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &relay.data_dir().join("attachments").join("objects"),
        &mut out,
    );
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_attached_offline_arrives_whole_and_is_stored_once() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let files = tempfile::tempdir().unwrap();
    let (path, bytes) = file_of(files.path(), "beach.jpg", 5 * 1024 * 1024, 1);

    // Offline: the relay isn't asked until the sync.
    let e = a.duet.write(&j, Reflection, "the beach", "you, laughing");
    let att = a
        .duet
        .attach(
            &e,
            &path,
            AttachOptions {
                thumbnail: Some(b"a small preview".to_vec()),
                width: Some(4032),
                height: Some(3024),
                ..AttachOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        (att.name.as_str(), att.mime.as_str()),
        ("beach.jpg", "image/jpeg")
    );
    assert_eq!(att.size, bytes.len() as u64);
    assert_eq!(att.state, AttachmentState::Local);
    assert!(att.uploading);
    // The app's file may go: the attachment is sealed into the home already.
    std::fs::remove_file(&path).unwrap();

    let sent = a.duet.sync_now().await.unwrap();
    assert_eq!(sent.attachments_sent, 2, "original and thumbnail");
    let stored = relay_object_bytes(&relay);
    assert!(stored >= bytes.len() as u64);
    // Padding and tags: at most 13% over the file.
    assert!(
        sent.attachment_bytes_sent as f64 / (bytes.len() as f64) <= 1.13,
        "{} sent for {}",
        sent.attachment_bytes_sent,
        bytes.len()
    );
    assert!(!a.duet.attachment(&att.id).unwrap().uploading);

    b.duet.sync_now().await.unwrap();
    let seen = b.duet.attachments(&e).unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].state, AttachmentState::RemoteOnly);
    assert_eq!((seen[0].width, seen[0].height), (Some(4032), Some(3024)));
    assert_eq!(
        b.duet.thumbnail(&att.id).unwrap().as_deref(),
        Some(&b"a small preview"[..])
    );
    let out = files.path().join("fetched.jpg");
    b.duet.fetch_attachment(&att.id, &out).await.unwrap();
    assert!(std::fs::read(&out).unwrap() == bytes, "byte-identical");
    assert_eq!(
        b.duet.attachment(&att.id).unwrap().state,
        AttachmentState::Local
    );

    // Ben adds the same photo to his own entry: one object at the relay, no byte sent.
    let (again, _) = file_of(files.path(), "same-beach.jpg", 5 * 1024 * 1024, 1);
    let e2 = b.duet.write(&j, Reflection, "me too", "the same picture");
    b.duet
        .attach(&e2, &again, AttachOptions::default())
        .unwrap();
    let dedup = b.duet.sync_now().await.unwrap();
    assert_eq!(dedup.attachments_sent, 1);
    assert_eq!(dedup.attachment_bytes_sent, 0, "the relay had it already");
    assert_eq!(relay_object_bytes(&relay), stored);

    // Nothing the relay keeps holds a word of what is inside.
    assert_eq!(
        files_holding(relay.data_dir(), SENTINEL),
        Vec::<String>::new()
    );

    // Ada removes hers: Ben's still holds the object. Ben removes his: the bytes go.
    a.duet.remove_attachment(&att.id).unwrap();
    a.duet.sync_now().await.unwrap();
    // Her thumbnail goes; the original stays for Ben's entry.
    let left = relay_object_bytes(&relay);
    assert!(
        left < stored && left >= bytes.len() as u64,
        "{left} of {stored}"
    );
    b.duet.sync_now().await.unwrap();
    let bens = b.duet.attachments(&e2).unwrap();
    b.duet.remove_attachment(&bens[0].id).unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(relay_object_bytes(&relay), 0, "the relay keeps no orphan");
    assert!(b.duet.attachments(&e).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_at_the_relay_is_corrupt_data_and_leaves_nothing() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let files = tempfile::tempdir().unwrap();
    let (path, _) = file_of(files.path(), "note.m4a", 300 * 1024, 2);
    let e = a.duet.write(&j, Reflection, "a voice note", "listen later");
    let att = a.duet.attach(&e, &path, AttachOptions::default()).unwrap();
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();

    let objs = objects(&relay);
    assert_eq!(objs.len(), 1);
    let (obj, len) = &objs[0];
    let mut stored = std::fs::read(obj).unwrap();
    stored[(*len / 3) as usize] ^= 0x20;
    std::fs::write(obj, &stored).unwrap();

    let out = files.path().join("out").join("note.m4a");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let err = b.duet.fetch_attachment(&att.id, &out).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::CorruptData, "{err}");
    assert_eq!(
        std::fs::read_dir(out.parent().unwrap()).unwrap().count(),
        0,
        "no partial file at the destination"
    );
    assert_eq!(
        b.duet.attachment(&att.id).unwrap().state,
        AttachmentState::RemoteOnly
    );
}

/// The `duet` process uploading a file through a slow link is killed half way; started
/// again, it sends only what the relay didn't keep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_killed_half_way_resumes_where_the_relay_stopped() {
    let relay = RelayProcess::temp();
    // About 4 MB/s: a few seconds for the file, so the kill lands half way.
    let slow = FaultyProxy::start(
        relay.addr(),
        Faults {
            delay_ms: (1, 1),
            ..Faults::none()
        },
    )
    .await;
    let (ada, _ben, journal) = CliHome::partners_at(&relay.url());
    ada.ok(&["relay", "set", &slow.url()]);
    let files = tempfile::tempdir().unwrap();
    let (path, _) = file_of(files.path(), "video.mp4", 8 * 1024 * 1024, 3);
    let entry = ada.ok(&["entry", "new", "-j", &journal, "--title", "the trip"]);
    let entry = entry["id"].as_str().unwrap().to_string();
    let att = ada.ok(&["attach", &entry, path.to_str().unwrap()]);
    let id: AttachmentId = att["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(att["name"], "video.mp4");
    assert_eq!(att["mime"], "video/mp4");
    assert_eq!(att["size"], 8 * 1024 * 1024);

    // The sealed file in Ada's home (the only one: no thumbnail for a video) gives the
    // upload's size; the relay's partial file, how much of it arrived.
    let sealed: Vec<_> = std::fs::read_dir(ada.path.join("attachments"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .collect();
    assert_eq!(sealed.len(), 1);
    let size = sealed[0].metadata().unwrap().len();
    let partial = || -> Option<u64> {
        std::fs::read_dir(relay.data_dir().join("attachments").join("partial"))
            .ok()?
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
    };
    let mut child = ada.cmd(&["sync", "--json"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let at_kill = loop {
        assert!(Instant::now() < deadline, "the upload never got half way");
        if let Some(received) = partial()
            && received >= size / 2
        {
            break received;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    child.kill().unwrap();
    let _ = child.wait();
    assert!(at_kill < size, "killed before the end");
    // What was in flight lands (or not); then the relay's count stands still.
    let mut kept = at_kill;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = partial().unwrap();
        if now == kept {
            break;
        }
        kept = now;
    }

    let resumed = ada.ok(&["sync"]);
    let sent = resumed["attachment_bytes_sent"].as_u64().unwrap();
    println!(
        "sealed {size} B; killed at {at_kill} B, the relay kept {kept} B; resumed sent {sent} B"
    );
    assert!(
        sent <= size - kept + 65_552,
        "resumed sent {sent} bytes; {} were left",
        size - kept
    );
    assert!(sent > 0);
    let shown = ada.ok(&["attachments", &entry]);
    assert_eq!(shown[0]["uploading"], false);
    assert_eq!(shown[0]["id"], id.to_string());
}
