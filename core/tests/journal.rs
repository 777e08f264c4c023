//! The journal engine through its public API: writes, reads, merging, bundles, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::*;
use duet_core::*;

#[test]
fn write_read_list_and_search() {
    let a = home("Ada");
    let j = a.duet.create_journal("Us").unwrap();
    let id = a
        .duet
        .create_entry(
            &j,
            text(EntryKind::Reflection, "Sunday", "We walked by the river."),
        )
        .unwrap();
    let e = a.duet.get_entry(&id).unwrap();
    assert_eq!(e.title, "Sunday");
    assert_eq!(e.body, "We walked by the river.");
    assert_eq!(e.author, a.duet.identity().member);

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

    let page = a
        .duet
        .list_entries(&EntryQuery {
            journal: Some(j),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].excerpt, "We strolled by the sea.");

    let hits = a.duet.search("sea", None, 10).unwrap();
    assert_eq!(hits.len(), 1, "search sees the latest write");
    assert!(hits[0].snippet.contains("[sea]"), "{}", hits[0].snippet);
    assert!(a.duet.search("river", None, 10).unwrap().is_empty());
    assert!(a.duet.outbox_len().unwrap() >= 4);
}

#[test]
fn concurrent_body_edits_both_survive() {
    let (a, b, j) = couple();
    let id = a
        .duet
        .create_entry(&j, text(EntryKind::Reflection, "", "I love our mornings."))
        .unwrap();
    exchange(&a, &b, &j);
    a.duet
        .set_text(&id, TextField::Body, "I really love our mornings.")
        .unwrap();
    b.duet
        .set_text(&id, TextField::Body, "I love our slow mornings.")
        .unwrap();
    exchange(&a, &b, &j);
    exchange(&b, &a, &j);
    let ea = a.duet.get_entry(&id).unwrap();
    let eb = b.duet.get_entry(&id).unwrap();
    assert_eq!(ea.body, "I really love our slow mornings.");
    assert_eq!(ea, eb);
}

#[test]
fn delete_concurrent_with_edit_keeps_the_edit() {
    let (a, b, j) = couple();
    let id = a
        .duet
        .create_entry(&j, text(EntryKind::Reflection, "", "draft"))
        .unwrap();
    exchange(&a, &b, &j);
    a.duet.delete_entry(&id).unwrap();
    b.duet
        .set_text(&id, TextField::Body, "draft, and more")
        .unwrap();
    exchange(&a, &b, &j);
    exchange(&b, &a, &j);
    let e = a.duet.get_entry(&id).unwrap();
    assert!(e.deleted);
    assert_eq!(
        a.duet
            .list_entries(&EntryQuery {
                trash: true,
                ..Default::default()
            })
            .unwrap()
            .items
            .len(),
        1
    );
    a.duet.restore_entry(&id).unwrap();
    assert_eq!(a.duet.get_entry(&id).unwrap().body, "draft, and more");
}

#[test]
fn conflicting_mood_is_reported_with_both_values() {
    let (a, b, j) = couple();
    let id = a
        .duet
        .check_in(
            &j,
            CheckIn {
                mood: 3,
                closeness: 4,
                ..Default::default()
            },
        )
        .unwrap();
    exchange(&a, &b, &j);
    a.duet.set_check_in_scores(&id, Some(2), None).unwrap();
    b.duet.set_check_in_scores(&id, Some(5), None).unwrap();
    exchange(&a, &b, &j);
    exchange(&b, &a, &j);
    let c = a.duet.conflicts(&id).unwrap();
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0].field, "mood");
    let mut vals: Vec<_> = c[0]
        .values
        .iter()
        .map(|v| (v.value.as_i64().unwrap(), v.member.unwrap()))
        .collect();
    vals.sort();
    assert_eq!(
        vals,
        vec![(2, a.duet.identity().member), (5, b.duet.identity().member)]
    );
    assert_eq!(c[0].values.iter().filter(|v| v.winner).count(), 1);
    assert_eq!(b.duet.conflicts(&id).unwrap(), c);
}

#[test]
fn events_reach_listeners_until_the_handle_drops() {
    let (a, b, j) = couple();
    let rec = Arc::new(Recorder::default());
    let sub = b.duet.subscribe(rec.clone());
    let id = a
        .duet
        .create_entry(&j, text(EntryKind::Appreciation, "", "thank you"))
        .unwrap();
    exchange(&a, &b, &j);
    {
        let ev = rec.0.lock().unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, EntryEventKind::Added);
        assert_eq!(ev[0].entry, id);
        assert_eq!(ev[0].origin, Origin::Remote);
        assert_eq!(ev[0].by, Some(a.duet.identity().member));
    }
    drop(sub);
    b.duet.react(&id, "❤️").unwrap();
    assert_eq!(rec.0.lock().unwrap().len(), 1);
}

#[test]
fn bundle_import_is_idempotent() {
    let (a, b, j) = couple();
    a.duet
        .create_entry(&j, text(EntryKind::Reflection, "t", "b"))
        .unwrap();
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
    a.duet
        .create_entry(&j, text(EntryKind::Reflection, "t", "b"))
        .unwrap();
    let bundle = a.duet.export_bundle(&j).unwrap();
    let before = b
        .duet
        .list_entries(&EntryQuery::default())
        .unwrap()
        .items
        .len();
    assert_eq!(
        b.duet.import_bundle(b"hello").unwrap_err().code(),
        ErrorCode::CorruptData
    );
    let mut cut = bundle.clone();
    cut.truncate(bundle.len() / 2);
    assert_eq!(
        b.duet.import_bundle(&cut).unwrap_err().code(),
        ErrorCode::CorruptData
    );
    let mut flipped = bundle.clone();
    let n = flipped.len() - 20;
    flipped[n] ^= 0x55;
    assert!(b.duet.import_bundle(&flipped).is_err());
    // A bundle for the same journal id but another key.
    let c = home("Cy");
    let other = c.duet.create_journal("Other").unwrap();
    let foreign = c.duet.export_bundle(&other).unwrap();
    let _ = foreign;
    assert_eq!(
        b.duet
            .list_entries(&EntryQuery::default())
            .unwrap()
            .items
            .len(),
        before
    );
}

#[test]
fn out_of_range_and_over_long_input_is_refused() {
    let a = home("Ada");
    let j = a.duet.create_journal("Us").unwrap();
    let e = a
        .duet
        .check_in(
            &j,
            CheckIn {
                mood: 6,
                closeness: 3,
                ..Default::default()
            },
        )
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    let long = "x".repeat(limits::MAX_TITLE_CHARS + 1);
    let e = a
        .duet
        .create_entry(&j, text(EntryKind::Reflection, &long, ""))
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::InvalidInput);
    let id = a
        .duet
        .create_entry(&j, text(EntryKind::Reflection, "", "abc"))
        .unwrap();
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
