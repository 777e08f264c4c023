//! Where the journal lives on this computer, and opening it.

use std::path::{Path, PathBuf};

use duet_core::{Duet, Error, Options, Result};

/// `--home` / `DUET_HOME` when given, else the per-user data directory
/// (`~/.local/share/duet` on Linux, `~/Library/Application Support/Duet` on macOS,
/// `%APPDATA%\Duet\data` on Windows).
pub fn resolve(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(home) = explicit.filter(|h| !h.as_os_str().is_empty()) {
        return Ok(home);
    }
    directories::ProjectDirs::from("", "", "Duet")
        .map(|dirs| dirs.data_dir().to_path_buf())
        .ok_or_else(|| Error::InvalidInput {
            field: "home",
            reason: "there is no per-user data directory here; pass --home DIR or set DUET_HOME"
                .into(),
        })
}

/// Open an initialized home. Full durability: every write is on disk before we report it.
pub fn open(home: &Path) -> Result<Duet> {
    Duet::open(home, Options::default())
}

/// Create a home.
pub fn init(home: &Path, name: &str) -> Result<Duet> {
    Duet::init(home, name, Options::default())
}
