//! Helpers shared by the end-to-end tests: homes in temporary directories, bundle exchange
//! and full snapshots of what a home shows.
#![allow(dead_code)]

use std::sync::Arc;

use duet_core::*;

/// 2026-01-05 (a Monday), noon UTC.
pub const T0: i64 = 1_767_614_400_000;

/// One device: a Duet home in its own temporary directory, with its own clock.
pub struct Home {
    pub dir: tempfile::TempDir,
    pub duet: Duet,
    pub clock: ManualClock,
}

impl Home {
    pub fn new(name: &str, start_ms: i64) -> Home {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(start_ms);
        let duet = Duet::init(
            dir.path(),
            name,
            Options {
                clock: Arc::new(clock.clone()),
                durability: Durability::Normal,
                ..Options::default()
            },
        )
        .expect("init a home");
        Home { dir, duet, clock }
    }

    pub fn me(&self) -> MemberId {
        self.duet.identity().member
    }

    pub fn personal(&self) -> SpaceId {
        self.duet.identity().personal_space
    }

    pub fn store_path(&self) -> std::path::PathBuf {
        self.dir.path().join(STORE_FILE)
    }
}

/// Export `journal` from `from` and import it into `to`.
pub fn exchange(from: &Home, to: &Home, journal: &SpaceId) -> ImportReport {
    let bundle = from.duet.export_bundle(journal).expect("export a bundle");
    to.duet.import_bundle(&bundle).expect("import a bundle")
}

/// Every summary the index lists for a query (all pages).
pub fn list_all(duet: &Duet, mut query: EntryQuery) -> Vec<EntrySummary> {
    query.limit = Some(limits::MAX_PAGE);
    query.cursor = None;
    let mut out = Vec::new();
    loop {
        let page = duet.list_entries(&query).expect("list entries");
        out.extend(page.items);
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return out,
        }
    }
}

/// Live and trashed summaries of a journal, sorted by id.
pub fn summaries(duet: &Duet, journal: &SpaceId) -> Vec<EntrySummary> {
    let mut out = list_all(
        duet,
        EntryQuery {
            journal: Some(*journal),
            ..EntryQuery::default()
        },
    );
    out.extend(list_all(
        duet,
        EntryQuery {
            journal: Some(*journal),
            trash: true,
            ..EntryQuery::default()
        },
    ));
    out.sort_by_key(|s| s.id);
    out
}

pub fn text_entry(kind: EntryKind, title: &str, body: &str) -> NewEntry {
    NewEntry {
        kind: Some(kind),
        title: title.into(),
        body: body.into(),
        ..NewEntry::default()
    }
}

/// Every `SQLite` file of a store (the database and, in WAL mode, its log), as bytes.
pub fn store_file_bytes(home: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for suffix in ["", "-wal"] {
        let p = home.join(format!("{STORE_FILE}{suffix}"));
        if let Ok(b) = std::fs::read(&p) {
            out.extend(b);
        }
    }
    out
}

/// Whether `needle` occurs in `hay`.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}
