//! The sealed files this device holds: `HOME/attachments/<hash hex>`, each written to
//! `HOME/attachments/tmp/` first and renamed into place once complete and synced, so a
//! crash never leaves a half file under a hash. The store's `attachment_files` table says
//! which are held; a file there without a row is a leftover of a crash and is swept.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const DIR: &str = "attachments";
const TMP: &str = "tmp";

/// The folder of sealed files.
pub(crate) fn dir(home: &Path) -> PathBuf {
    home.join(DIR)
}

/// Where the sealed file with this hash lives.
pub(crate) fn path(home: &Path, hash: &[u8; 32]) -> PathBuf {
    dir(home).join(duet_proto::attachments::to_hex(hash))
}

/// A new temporary file, in the folder files are renamed from (same file system).
pub(crate) fn temp(home: &Path) -> Result<(File, PathBuf)> {
    let d = dir(home).join(TMP);
    fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    let name = format!("{:016x}", rand::RngCore::next_u64(&mut rand::rngs::OsRng));
    let p = d.join(name);
    let f = File::options()
        .write(true)
        .read(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| Error::io(&p, e))?;
    Ok((f, p))
}

/// A temporary file for a download under way (kept across runs, so a download resumes).
pub(crate) fn partial(home: &Path, hash: &[u8; 32]) -> Result<PathBuf> {
    let d = dir(home).join(TMP);
    fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
    Ok(d.join(format!("{}.part", duet_proto::attachments::to_hex(hash))))
}

/// Make a complete temporary file the sealed file of `hash`: synced, then renamed.
pub(crate) fn install(home: &Path, mut file: File, tmp: &Path, hash: &[u8; 32]) -> Result<()> {
    file.flush().map_err(|e| Error::io(tmp, e))?;
    file.sync_all().map_err(|e| Error::io(tmp, e))?;
    drop(file);
    let dest = path(home, hash);
    fs::rename(tmp, &dest).map_err(|e| Error::io(&dest, e))?;
    sync_dir(&dir(home));
    Ok(())
}

/// Write `bytes` as the sealed file of `hash` (a thumbnail: small).
pub(crate) fn write(home: &Path, hash: &[u8; 32], bytes: &[u8]) -> Result<()> {
    let (mut f, tmp) = temp(home)?;
    f.write_all(bytes).map_err(|e| Error::io(&tmp, e))?;
    install(home, f, &tmp, hash)
}

/// Delete a sealed file (gone already is fine).
pub(crate) fn remove(home: &Path, hash: &[u8; 32]) {
    let p = path(home, hash);
    if let Err(e) = fs::remove_file(&p)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, "could not delete a sealed attachment file");
    }
}

/// Whether the sealed file is on disk.
pub(crate) fn exists(home: &Path, hash: &[u8; 32]) -> bool {
    path(home, hash).is_file()
}

/// Delete temporary files left by a crash (not downloads under way: those resume).
pub(crate) fn sweep_temp(home: &Path) {
    let Ok(entries) = fs::read_dir(dir(home).join(TMP)) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().is_none() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A rename is durable once its folder is synced (on platforms where a folder opens).
fn sync_dir(d: &Path) {
    if let Ok(f) = File::open(d) {
        let _ = f.sync_all();
    }
}
