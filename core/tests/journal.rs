//! The journal engine through its public API: writes, reads, merging, bundles, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use duet_core::*;
use duet_e2e::home::*;
use duet_e2e::listen::Recorder;
use duet_e2e::scenario::{self, MORNINGS, MORNINGS_MERGED};

#[test]
fn write_read_list_and_search() {
    let (a, j) = solo();
    let id = a.duet.write(
        &j,
        EntryKind::Reflection,
        "Sunday",
        "We walked by the river.",
    );
    let e = a.duet.get_entry(&id).unwrap();
    assert_eq!(e.title, "Sunday");
    assert_eq!(e.body, "We walked by the river.");
    assert_eq!(e.author, a.me());

    a.duet
        .splice_text(&id, TextField::Body, 3, 6, "strolled")
        .unwrap();
    assert_eq!(
        a.duet.get_entry(&id).unwrap().body,
        "We strolled by the river."
    );
    a.duet
        .set_text(&id, TextField::Body, "We strolled by the sea.")
        .unwrap();

    let page = listed(&a.duet, &j);
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].excerpt, "We strolled by the sea.");

    let hits = a.duet.search("sea", None, 10).unwrap();
    assert_eq!(hits.len(), 1, "search sees the latest write");
    assert!(hits[0].snippet.contains("[sea]"), "{}", hits[0].snippet);
    assert!(a.duet.search("river", None, 10).unwrap().is_empty());
    assert!(a.duet.outbox_len().unwrap() >= 4);
}

#[test]
fn concurrent_body_edits_both_survive() {
    let (a, b, j, id) = couple_sharing(EntryKind::Reflection, "", MORNINGS);
    scenario::rewrite_mornings(&a.duet, &b.duet, &id);
    swap(&a, &b, &j);
    let ea = a.duet.get_entry(&id).unwrap();
    assert_eq!(ea.body, MORNINGS_MERGED);
    assert_eq!(ea, b.duet.get_entry(&id).unwrap());
}

#[test]
fn delete_concurrent_with_edit_keeps_the_edit() {
    let (a, b, j, id) = couple_sharing(EntryKind::Reflection, "", "draft");
    a.duet.delete_entry(&id).unwrap();
    b.duet
        .set_text(&id, TextField::Body, "draft, and more")
        .unwrap();
    swap(&a, &b, &j);
    assert!(a.duet.get_entry(&id).unwrap().deleted);
    let trash = EntryQuery {
        trash: true,
        ..Default::default()
    };
    assert_eq!(list_all(&a.duet, trash).len(), 1);
    a.duet.restore_entry(&id).unwrap();
    assert_eq!(a.duet.get_entry(&id).unwrap().body, "draft, and more");
}

#[test]
fn conflicting_mood_is_reported_with_both_values() {
    let (a, b, j) = couple();
    let id = scenario::conflicting_moods(&a, &b, &j);
    let c = a.duet.conflicts(&id).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].field, "mood");
    let mut vals: Vec<_> = c[0]
        .values
        .iter()
        .map(|v| (v.value.as_i64().unwrap(), v.member.unwrap()))
        .collect();
    vals.sort();
    assert_eq!(vals, vec![(2, a.me()), (5, b.me())]);
    assert_eq!(c[0].values.iter().filter(|v| v.winner).count(), 1);
    assert_eq!(b.duet.conflicts(&id).unwrap(), c);
}

#[test]
fn events_reach_listeners_until_the_handle_drops() {
    let (a, b, j) = couple();
    let rec = Arc::new(Recorder::default());
    let sub = b.duet.subscribe(rec.clone());
    let id = a.duet.write(&j, EntryKind::Appreciation, "", "thank you");
    exchange(&a, &b, &j);
    let ev = rec.events();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, EntryEventKind::Added);
    assert_eq!(ev[0].entry, id);
    assert_eq!(ev[0].origin, Origin::Remote);
    assert_eq!(ev[0].by, Some(a.me()));
    drop(sub);
    b.duet.react(&id, "❤️").unwrap();
    assert_eq!(rec.events().len(), 1);
}

#[test]
fn bundle_import_is_idempotent() {
    let (a, b, j) = couple();
    a.duet.write(&j, EntryKind::Reflection, "t", "b");
    let bundle = a.duet.export_bundle(&j).unwrap();
    let first = b.duet.import_bundle(&bundle).unwrap();
    assert_eq!(first.entries_added, 1);
    let outbox = b.duet.outbox_len().unwrap();
    let second = b.duet.import_bundle(&bundle).unwrap();
    assert_eq!((second.entries_added, second.entries_changed), (0, 0));
    assert_eq!(b.duet.outbox_len().unwrap(), outbox);
}

#[test]
fn bad_bundles_are_refused_and_change_nothing() {
    let (a, b, j) = couple();
    a.duet.write(&j, EntryKind::Reflection, "t", "b");
    let bundle = a.duet.export_bundle(&j).unwrap();
    let before = list_all(&b.duet, EntryQuery::default()).len();
    let refused = |bytes: &[u8]| b.duet.import_bundle(bytes).unwrap_err().code();
    assert_eq!(refused(b"hello"), ErrorCode::CorruptData);
    assert_eq!(refused(&bundle[..bundle.len() / 2]), ErrorCode::CorruptData);
    let mut flipped = bundle.clone();
    let n = flipped.len() - 20;
    flipped[n] ^= 0x55;
    assert!(b.duet.import_bundle(&flipped).is_err());
    // A bundle for the same journal id but another key.
    let c = home("Cy");
    let other = c.duet.create_journal("Other").unwrap();
    let foreign = c.duet.export_bundle(&other).unwrap();
    let _ = foreign;
    assert_eq!(list_all(&b.duet, EntryQuery::default()).len(), before);
}

#[test]
fn out_of_range_and_over_long_input_is_refused() {
    let (a, j) = solo();
    let e = a.duet.check_in(&j, scores(6, 3)).unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    let long = "x".repeat(limits::MAX_TITLE_CHARS + 1);
    let e = a
        .duet
        .create_entry(&j, entry(EntryKind::Reflection, &long, ""))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    let id = a.duet.write(&j, EntryKind::Reflection, "", "abc");
    let e = a
        .duet
        .splice_text(&id, TextField::Body, 10, 0, "x")
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    assert_eq!(a.duet.get_entry(&id).unwrap().body, "abc");
    let e = a.duet.get_entry(&EntryId::new()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotFound);
    assert_eq!(
        a.duet.react(&id, "").unwrap_err().code(),
        ErrorCode::InvalidInput
    );
}

/// A file of `len` seeded bytes in `dir`.
fn a_file(dir: &std::path::Path, name: &str, len: usize) -> (std::path::PathBuf, Vec<u8>) {
    let mut rng = duet_e2e::SplitMix64::new(len as u64);
    let bytes: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    let p = dir.join(name);
    std::fs::write(&p, &bytes).unwrap();
    (p, bytes)
}

/// Attachments offline: attached, listed, previewed, opened, exported beside a JSON and a
/// Markdown export, carried by a bundle to the partner, removed; bad input changes nothing.
#[test]
fn attachments_without_a_relay() {
    let (a, b, j) = couple();
    let files = tempfile::tempdir().unwrap();
    let (photo, bytes) = a_file(files.path(), "pier.jpg", 200_000);
    let id = a
        .duet
        .write(&j, EntryKind::Reflection, "the pier", "at dusk");
    let att = a
        .duet
        .attach(
            &id,
            &photo,
            AttachOptions {
                thumbnail: Some(vec![7; 1000]),
                ..AttachOptions::default()
            },
        )
        .unwrap();
    assert_eq!(att.mime, "image/jpeg");
    assert_eq!(a.duet.attachments(&id).unwrap(), vec![att.clone()]);
    assert_eq!(a.duet.thumbnail(&att.id).unwrap(), Some(vec![7; 1000]));
    let out = files.path().join("out.jpg");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(a.duet.fetch_attachment(&att.id, &out)).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // The exports name the file written beside them.
    let json: serde_json::Value = serde_json::from_str(&a.duet.export_json(&j).unwrap()).unwrap();
    let listed = &json["entries"][0]["attachments"][0];
    assert_eq!(listed["file"], format!("attachments/{}-pier.jpg", att.id));
    assert_eq!(listed["size"], 200_000);
    let md = a.duet.export_markdown(&j).unwrap();
    assert!(
        md.contains(&format!("![pier.jpg](<attachments/{}-pier.jpg>)", att.id)),
        "{md}"
    );

    // A bundle carries the sealed files: Ben opens the photo without a relay.
    exchange(&a, &b, &j);
    let seen = b.duet.attachment(&att.id).unwrap();
    assert_eq!(seen.state, AttachmentState::Local);
    assert_eq!(b.duet.thumbnail(&att.id).unwrap(), Some(vec![7; 1000]));
    let theirs = files.path().join("ben.jpg");
    rt.block_on(b.duet.fetch_attachment(&att.id, &theirs))
        .unwrap();
    assert_eq!(std::fs::read(&theirs).unwrap(), bytes);

    // Bad input: a clear error, nothing changed.
    let too_big = AttachOptions {
        thumbnail: Some(vec![0; 40_000]),
        ..AttachOptions::default()
    };
    assert_eq!(
        a.duet.attach(&id, &photo, too_big).unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    let missing = files.path().join("nope");
    assert_eq!(
        a.duet
            .attach(&id, &missing, AttachOptions::default())
            .unwrap_err()
            .code(),
        ErrorCode::Io
    );
    let empty_name = AttachOptions {
        name: Some(" ".into()),
        ..AttachOptions::default()
    };
    assert_eq!(
        a.duet.attach(&id, &photo, empty_name).unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    assert_eq!(a.duet.attachments(&id).unwrap().len(), 1);

    // In the trash the entry takes no attachment and keeps its own; restored, it has it.
    a.duet.delete_entry(&id).unwrap();
    assert_eq!(
        a.duet
            .attach(&id, &photo, AttachOptions::default())
            .unwrap_err()
            .code(),
        ErrorCode::NotAllowed
    );
    a.duet.restore_entry(&id).unwrap();
    assert_eq!(a.duet.attachments(&id).unwrap().len(), 1);

    // Removed: gone from the entry, its sealed files gone from the home.
    let held = |d: &Duet| {
        std::fs::read_dir(d.home().join("attachments"))
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_file())
            .count()
    };
    assert_eq!(held(&a.duet), 2);
    a.duet.remove_attachment(&att.id).unwrap();
    assert!(a.duet.attachments(&id).unwrap().is_empty());
    assert_eq!(held(&a.duet), 0);
    assert_eq!(
        a.duet.remove_attachment(&att.id).unwrap_err().code(),
        ErrorCode::NotFound
    );
}

/// Past its budget the cache lets the least recently used original go — never one still
/// waiting to upload — and a file over the limit is `too_large`.
#[test]
fn the_cache_keeps_to_its_budget_and_files_keep_to_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let duet = Duet::init(
        dir.path().join("home"),
        "Ada",
        Options {
            max_attachment_bytes: 150_000,
            attachment_cache_bytes: 250_000,
            ..options()
        },
    )
    .unwrap();
    let j = duet.create_journal("Us").unwrap();
    let e = duet.write(&j, EntryKind::Reflection, "t", "b");
    let (big, _) = a_file(dir.path(), "big.bin", 150_001);
    assert_eq!(
        duet.attach(&e, &big, AttachOptions::default())
            .unwrap_err()
            .code(),
        ErrorCode::TooLarge
    );
    let ids: Vec<AttachmentId> = (0..3)
        .map(|i| {
            let (p, _) = a_file(dir.path(), &format!("{i}.bin"), 100_000 + i);
            duet.attach(&e, &p, AttachOptions::default()).unwrap().id
        })
        .collect();
    // All three wait to upload (no relay yet): all kept, over the budget or not.
    for id in &ids {
        assert_eq!(duet.attachment(id).unwrap().state, AttachmentState::Local);
    }
    duet.set_attachment_cache_bytes(0).unwrap();
    for id in &ids {
        assert_eq!(duet.attachment(id).unwrap().state, AttachmentState::Local);
    }
}

/// A shared draft takes its attachments along, under new ids, for the journal.
#[test]
fn a_shared_draft_takes_its_attachments() {
    let (a, b, j) = couple();
    let files = tempfile::tempdir().unwrap();
    let (note, bytes) = a_file(files.path(), "voice.m4a", 90_000);
    let draft = a
        .duet
        .write(&a.personal(), EntryKind::Vulnerability, "", "for later");
    let att = a
        .duet
        .attach(&draft, &note, AttachOptions::default())
        .unwrap();
    let shared = a.duet.share_draft(&draft, &j).unwrap();
    let copies = a.duet.attachments(&shared).unwrap();
    assert_eq!(copies.len(), 1);
    assert_ne!(copies[0].id, att.id);
    assert_eq!(
        (copies[0].name.as_str(), copies[0].mime.as_str()),
        ("voice.m4a", "audio/mp4")
    );
    assert!(copies[0].uploading, "queued for the journal");
    exchange(&a, &b, &j);
    let out = files.path().join("heard.m4a");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(b.duet.fetch_attachment(&copies[0].id, &out))
        .unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
}
