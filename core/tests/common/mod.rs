//! Helpers shared by the core's integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use duet_core::*;

#[derive(Debug)]
pub struct Home {
    pub dir: tempfile::TempDir,
    pub duet: Duet,
    pub clock: ManualClock,
}

/// 2026-01-05 (a Monday), noon UTC.
pub const T0: i64 = 1_767_614_400_000;

pub fn home(name: &str) -> Home {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0);
    let duet = Duet::init(
        dir.path(),
        name,
        Options {
            clock: Arc::new(clock.clone()),
            durability: Durability::Normal,
            ..Options::default()
        },
    )
    .unwrap();
    Home { dir, duet, clock }
}

/// Two partners sharing one journal, made by `a` and opened by `b` from a bundle.
pub fn couple() -> (Home, Home, SpaceId) {
    let a = home("Ada");
    let b = home("Ben");
    let j = a.duet.create_journal("Us").unwrap();
    exchange(&a, &b, &j);
    (a, b, j)
}

/// Bundle from `from` into `to`.
pub fn exchange(from: &Home, to: &Home, j: &SpaceId) -> ImportReport {
    let bundle = from.duet.export_bundle(j).unwrap();
    to.duet.import_bundle(&bundle).unwrap()
}

pub fn text(kind: EntryKind, title: &str, body: &str) -> NewEntry {
    NewEntry {
        kind: Some(kind),
        title: title.into(),
        body: body.into(),
        ..NewEntry::default()
    }
}

#[derive(Debug, Default)]
pub struct Recorder(pub Mutex<Vec<EntryEvent>>);

impl EntryListener for Recorder {
    fn on_event(&self, e: &EntryEvent) {
        self.0.lock().unwrap().push(e.clone());
    }
}
