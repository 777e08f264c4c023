//! Fixtures shared by the unit tests of several modules (engine and sync alike).

#![allow(clippy::unwrap_used)]

use crate::engine::Duet;
use crate::{Durability, Options};

/// A fresh home for `name` in a temporary directory (kept alive by the returned guard).
pub(crate) fn home(name: &str) -> (tempfile::TempDir, Duet) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        durability: Durability::Normal,
        ..Options::default()
    };
    let duet = Duet::init(dir.path(), name, opts).unwrap();
    (dir, duet)
}
