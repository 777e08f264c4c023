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

/// How the CLI opens a home: full durability (every write is on disk before we report it),
/// with the relay operator's registration token when one was given.
pub fn options(registration_token: Option<String>) -> Options {
    Options {
        registration_token: registration_token.filter(|t| !t.is_empty()),
        ..Options::default()
    }
}

/// Open an initialized home.
pub fn open(home: &Path, opts: Options) -> Result<Duet> {
    Duet::open(home, opts)
}

/// Create a home.
pub fn init(home: &Path, name: &str, opts: Options) -> Result<Duet> {
    Duet::init(home, name, opts)
}
