//! Offline homes: a Duet home in a temporary directory with its own manual clock, bundles
//! passed between homes, and whole listings of what a home shows.

use std::path::PathBuf;
use std::sync::Arc;

use duet_core::*;

use crate::ok;

/// 2026-01-05 (a Monday), noon UTC.
pub const T0: i64 = 1_767_614_400_000;

/// The options of every test home: `Durability::Normal` (a test needs no fsync per write;
/// the crash tests choose `Full` themselves).
pub fn options() -> Options {
    Options {
        durability: Durability::Normal,
        ..Options::default()
    }
}

/// One device: a Duet home in its own temporary directory, with its own clock.
#[derive(Debug)]
pub struct Home {
    pub dir: tempfile::TempDir,
    pub duet: Duet,
    pub clock: ManualClock,
}

impl Home {
    /// A new identity named `name` whose clock starts at `start_ms`.
    pub fn new(name: &str, start_ms: i64) -> Home {
        let dir = ok(tempfile::tempdir(), "a temporary home");
        let clock = ManualClock::new(start_ms);
        let opts = Options {
            clock: Arc::new(clock.clone()),
            ..options()
        };
        let duet = ok(Duet::init(dir.path(), name, opts), "init a home");
        Home { dir, duet, clock }
    }

    pub fn me(&self) -> MemberId {
        self.duet.identity().member
    }

    pub fn personal(&self) -> SpaceId {
        self.duet.identity().personal_space
    }

    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join(STORE_FILE)
    }
}

/// A home named `name` whose clock starts at [`T0`].
pub fn home(name: &str) -> Home {
    Home::new(name, T0)
}

/// Ada and Ben sharing one journal, "Us": Ada made it, Ben received it in a bundle (as a
/// new journal) and sent his own back, so each knows the other.
pub fn couple() -> (Home, Home, SpaceId) {
    let (a, b) = (home("Ada"), home("Ben"));
    let j = ok(a.duet.create_journal("Us"), "create a journal");
    assert!(exchange(&a, &b, &j).new_journal);
    exchange(&b, &a, &j);
    (a, b, j)
}

/// [`couple`], and an entry of Ada's with this kind, title and body that both homes hold.
pub fn couple_sharing(kind: EntryKind, title: &str, body: &str) -> (Home, Home, SpaceId, EntryId) {
    let (a, b, j) = couple();
    let id = a.duet.write(&j, kind, title, body);
    exchange(&a, &b, &j);
    (a, b, j, id)
}

/// Export `journal` from `from` and import it into `to`.
pub fn exchange(from: &Home, to: &Home, journal: &SpaceId) -> ImportReport {
    let bundle = ok(from.duet.export_bundle(journal), "export a bundle");
    ok(to.duet.import_bundle(&bundle), "import a bundle")
}

/// Bundles both ways, so each home has everything the other had.
pub fn swap(a: &Home, b: &Home, journal: &SpaceId) {
    exchange(a, b, journal);
    exchange(b, a, journal);
}

/// Ada alone, with a journal of her own ("Us").
pub fn solo() -> (Home, SpaceId) {
    let a = home("Ada");
    let j = ok(a.duet.create_journal("Us"), "create a journal");
    (a, j)
}

/// What tests write, in one call that panics with the reason when Duet refuses.
pub trait Author {
    /// A new entry of `kind` in `journal` with this title and body; its id.
    fn write(&self, journal: &SpaceId, kind: EntryKind, title: &str, body: &str) -> EntryId;
}

impl Author for Duet {
    fn write(&self, journal: &SpaceId, kind: EntryKind, title: &str, body: &str) -> EntryId {
        ok(
            self.create_entry(journal, entry(kind, title, body)),
            "create an entry",
        )
    }
}

/// A check-in with these scores and nothing written.
pub fn scores(mood: u8, closeness: u8) -> CheckIn {
    CheckIn {
        mood,
        closeness,
        ..CheckIn::default()
    }
}

/// What a new entry of `kind` with this title and body needs.
pub fn entry(kind: EntryKind, title: &str, body: &str) -> NewEntry {
    NewEntry {
        kind: Some(kind),
        title: title.into(),
        body: body.into(),
        ..NewEntry::default()
    }
}

/// Every summary the index lists for a query (all pages).
pub fn list_all(duet: &Duet, mut query: EntryQuery) -> Vec<EntrySummary> {
    query.limit = Some(limits::MAX_PAGE);
    query.cursor = None;
    let mut out = Vec::new();
    loop {
        let page = ok(duet.list_entries(&query), "list entries");
        out.extend(page.items);
        match page.next {
            Some(next) => query.cursor = Some(next),
            None => return out,
        }
    }
}

/// Every summary of a journal's live entries (all pages), newest first.
pub fn listed(duet: &Duet, journal: &SpaceId) -> Vec<EntrySummary> {
    let query = EntryQuery {
        journal: Some(*journal),
        ..EntryQuery::default()
    };
    list_all(duet, query)
}

/// Live and trashed summaries of a journal, sorted by id.
pub fn summaries(duet: &Duet, journal: &SpaceId) -> Vec<EntrySummary> {
    let mut out = listed(duet, journal);
    let trash = EntryQuery {
        journal: Some(*journal),
        trash: true,
        ..EntryQuery::default()
    };
    out.extend(list_all(duet, trash));
    out.sort_by_key(|s| s.id);
    out
}
