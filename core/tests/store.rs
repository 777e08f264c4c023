//! The device store: schema versions, two handles on one home, the key-store seam, the
//! derived index, paging, trends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use duet_core::*;
use duet_e2e::home::*;

#[test]
fn a_store_from_a_newer_schema_is_refused_untouched() {
    let a = home("Ada");
    let path = a.dir.path().join(STORE_FILE);
    drop(a.duet);
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let e = Duet::open(a.dir.path(), Options::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::StoreTooNew);
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_foreign_file_is_a_storage_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(STORE_FILE),
        b"this is not a database, just words",
    )
    .unwrap();
    let e = Duet::open(dir.path(), Options::default()).unwrap_err();
    assert_eq!(e.code(), ErrorCode::Storage);
}

#[test]
fn uninitialized_and_double_init_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(
        Duet::open(dir.path(), Options::default())
            .unwrap_err()
            .code(),
        ErrorCode::NotInitialized
    );
    let _a = Duet::init(dir.path(), "Ada", Options::default()).unwrap();
    assert_eq!(
        Duet::init(dir.path(), "Ada", Options::default())
            .unwrap_err()
            .code(),
        ErrorCode::AlreadyInitialized
    );
    assert_eq!(
        Duet::init(
            tempfile::tempdir().unwrap().path(),
            "  ",
            Options::default()
        )
        .unwrap_err()
        .code(),
        ErrorCode::InvalidInput
    );
}

/// Two engines on one home (two processes, say) editing the same entry in turn: the
/// second must see the first's changes and never reuse its Automerge sequence numbers.
#[test]
fn two_handles_on_one_home_interleave_safely() {
    let (a, j) = solo();
    let id = a.duet.write(&j, EntryKind::Reflection, "", "");
    let second = Duet::open(a.dir.path(), Options::default()).unwrap();
    let mut expected = String::new();
    for i in 0..20 {
        let h = if i % 2 == 0 { &a.duet } else { &second };
        let pos = expected.chars().count();
        h.splice_text(&id, TextField::Body, pos, 0, &i.to_string())
            .unwrap();
        expected.push_str(&i.to_string());
    }
    assert_eq!(a.duet.get_entry(&id).unwrap().body, expected);
    drop(second);
    drop(a.duet);
    let reopened = Duet::open(a.dir.path(), Options::default()).unwrap();
    assert_eq!(reopened.get_entry(&id).unwrap().body, expected);
    reopened.integrity_check().unwrap();
}

#[derive(Debug, Default)]
struct MemoryKeychain(Mutex<HashMap<(SpaceId, u32), SpaceKey>>);

impl KeyStore for MemoryKeychain {
    fn put(&self, space: &SpaceId, epoch: u32, key: &SpaceKey) -> Result<()> {
        self.0.lock().unwrap().insert((*space, epoch), key.clone());
        Ok(())
    }
    fn get(&self, space: &SpaceId, epoch: u32) -> Result<Option<SpaceKey>> {
        Ok(self.0.lock().unwrap().get(&(*space, epoch)).cloned())
    }
}

#[test]
fn keys_can_live_outside_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let chain = Arc::new(MemoryKeychain::default());
    let opts = Options {
        key_store: Some(chain.clone()),
        ..Options::default()
    };
    let d = Duet::init(dir.path(), "Ada", opts.clone()).unwrap();
    let j = d.create_journal("Us").unwrap();
    d.write(&j, EntryKind::Reflection, "t", "b");
    assert_eq!(chain.0.lock().unwrap().len(), 2, "personal space + journal");
    let c = rusqlite::Connection::open(dir.path().join(STORE_FILE)).unwrap();
    let n: i64 = c
        .query_row("SELECT count(*) FROM space_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0, "no key in the database");
    assert!(!d.export_bundle(&j).unwrap().is_empty());
}

#[test]
fn the_index_rebuilds_from_the_documents() {
    let (a, j) = solo();
    let id = a
        .duet
        .write(&j, EntryKind::Reflection, "River", "We walked.");
    a.duet.reply(&id, "lovely evening").unwrap();
    a.duet.set_tags(&id, &["walks".into()]).unwrap();
    let q = EntryQuery {
        journal: Some(j),
        ..Default::default()
    };
    let before = a.duet.list_entries(&q).unwrap().items;
    assert_eq!(a.duet.rebuild_index().unwrap(), 1);
    assert_eq!(a.duet.list_entries(&q).unwrap().items, before);
    assert_eq!(a.duet.search("evening", None, 5).unwrap().len(), 1);
    let tagged = EntryQuery {
        tag: Some("walks".into()),
        ..Default::default()
    };
    assert_eq!(a.duet.list_entries(&tagged).unwrap().items.len(), 1);
}

#[test]
fn pages_walk_every_entry_once_with_filters() {
    let (a, j) = solo();
    let mut ids = Vec::new();
    for i in 0..23 {
        a.clock.advance(1000);
        let kind = if i % 3 == 0 {
            EntryKind::Appreciation
        } else {
            EntryKind::Reflection
        };
        ids.push(a.duet.write(&j, kind, &format!("e{i}"), ""));
    }
    let mut seen = Vec::new();
    let mut q = EntryQuery {
        journal: Some(j),
        limit: Some(5),
        ..Default::default()
    };
    loop {
        let page = a.duet.list_entries(&q).unwrap();
        seen.extend(page.items.iter().map(|e| e.id));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");
    let appreciation = EntryQuery {
        kind: Some(EntryKind::Appreciation),
        ..Default::default()
    };
    assert_eq!(a.duet.list_entries(&appreciation).unwrap().items.len(), 8);
    let range = EntryQuery {
        from: Some(T0 + 5_000),
        to: Some(T0 + 8_000),
        ..Default::default()
    };
    assert_eq!(a.duet.list_entries(&range).unwrap().items.len(), 3);
    let bad = EntryQuery {
        cursor: Some("nonsense".into()),
        ..Default::default()
    };
    assert_eq!(
        a.duet.list_entries(&bad).unwrap_err().code(),
        ErrorCode::InvalidInput
    );
    let zero = EntryQuery {
        limit: Some(0),
        ..Default::default()
    };
    assert_eq!(
        a.duet.list_entries(&zero).unwrap_err().code(),
        ErrorCode::InvalidInput
    );
}

#[test]
fn trends_are_weekly_per_partner() {
    let (a, b, j) = couple();
    const WEEK: i64 = 7 * 24 * 3600 * 1000;
    for w in 0..6 {
        a.clock.set(T0 + w * WEEK);
        b.clock.set(T0 + w * WEEK + 3_600_000);
        a.duet.check_in(&j, scores(2 + (w as u8 % 2), 3)).unwrap();
        b.duet.check_in(&j, scores(3, 2 + (w as u8 / 2))).unwrap();
    }
    // Two in one week average.
    a.duet.check_in(&j, scores(5, 5)).unwrap();
    exchange(&b, &a, &j);
    let t = a.duet.trends(&j).unwrap();
    assert_eq!(t.members.len(), 2);
    let ada = t.members.iter().find(|m| m.name == "Ada").unwrap();
    assert_eq!(ada.weeks.len(), 6);
    assert_eq!(ada.weeks[0].week, "2026-01-05");
    assert_eq!(ada.weeks[5].check_ins, 2);
    assert_eq!(ada.weeks[5].mood, 4.0);
    let ben = t.members.iter().find(|m| m.name == "Ben").unwrap();
    // Last three weeks (3, 4, 4) against the three before (2, 2, 3).
    assert_eq!(ben.closeness_change, Some(1.33));
}

#[test]
fn history_groups_sessions_by_person() {
    let (a, b, j) = couple();
    let id = a.duet.write(&j, EntryKind::Reflection, "", "");
    for c in "hello".chars() {
        a.clock.advance(1000);
        let n = a.duet.get_entry(&id).unwrap().body.chars().count();
        a.duet
            .splice_text(&id, TextField::Body, n, 0, &c.to_string())
            .unwrap();
    }
    exchange(&a, &b, &j);
    b.clock.set(T0 + 3_600_000);
    b.duet.splice_text(&id, TextField::Body, 5, 0, "!").unwrap();
    let h = b.duet.history(&id).unwrap();
    assert_eq!(h.len(), 2, "{h:?}");
    assert_eq!(h[0].member, Some(a.duet.identity().member));
    assert_eq!(h[0].changes, 6);
    assert_eq!(h[1].member, Some(b.duet.identity().member));
}

#[test]
fn prompt_of_the_day_is_shared_and_markdown_export_reads_well() {
    let (a, b, j) = couple();
    assert_eq!(
        a.duet.prompt_of_the_day(&j).unwrap().id,
        b.duet.prompt_of_the_day(&j).unwrap().id
    );
    let p = a.duet.prompt_of_the_day(&j).unwrap();
    let id = a
        .duet
        .create_entry(
            &j,
            NewEntry {
                kind: Some(EntryKind::PromptAnswer),
                title: "Answer".into(),
                body: "Our first trip.".into(),
                prompt_id: Some(p.id.to_string()),
                ..NewEntry::default()
            },
        )
        .unwrap();
    a.duet.react(&id, "🥰").unwrap();
    let md = a.duet.export_markdown(&j).unwrap();
    assert!(md.starts_with("# Us"), "{md}");
    assert!(
        md.contains("## Answer") && md.contains("Our first trip.") && md.contains("🥰"),
        "{md}"
    );
    let json: serde_json::Value = serde_json::from_str(&a.duet.export_json(&j).unwrap()).unwrap();
    assert_eq!(json["entries"][0]["prompt_id"], p.id);
}
