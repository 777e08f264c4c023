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
