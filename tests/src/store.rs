//! Raw reads of SQLite files — a home's store or a relay's database — as a checker (or an
//! adversary holding the phone) makes them: any query, the relay credentials and space keys
//! a device keeps, every byte on disk.

use std::path::Path;
use std::time::Duration;

use duet_core::{SpaceId, SpaceKey};
use rusqlite::{Connection, Params, Row};
use uuid::Uuid;

use crate::ok;

/// Open a database beside whoever else has it open (waits up to 10 s for a lock).
pub fn open(db: &Path) -> Connection {
    let conn = ok(Connection::open(db), &format!("opening {}", db.display()));
    ok(conn.busy_timeout(Duration::from_secs(10)), "busy timeout");
    conn
}

/// Every row `sql` selects, each turned into a `T` by `row`.
pub fn rows<T>(
    db: &Path,
    sql: &str,
    params: impl Params,
    row: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let conn = open(db);
    let mut stmt = ok(conn.prepare(sql), sql);
    let found = ok(stmt.query_map(params, row), sql);
    ok(found.collect::<rusqlite::Result<Vec<T>>>(), sql)
}

/// The one row `sql` selects, turned into a `T` by `row`.
pub fn row<T>(
    db: &Path,
    sql: &str,
    params: impl Params,
    row: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> T {
    ok(open(db).query_row(sql, params, row), sql)
}

/// The relay device id and bearer token a home keeps (the device store's `relay` table).
pub fn relay_credentials(store: &Path) -> (Uuid, String) {
    let sql = "SELECT device_id, token FROM relay WHERE id = 1";
    let (device, token): (String, String) = row(store, sql, [], |r| Ok((r.get(0)?, r.get(1)?)));
    (ok(device.parse(), "a relay device id"), token)
}

/// Every key (epoch, key) a device store holds for `space`, oldest epoch first: what a
/// former partner keeps.
pub fn space_keys(store: &Path, space: &SpaceId) -> Vec<(u32, SpaceKey)> {
    let sql = "SELECT epoch, key FROM space_keys WHERE space_id = ?1 ORDER BY epoch";
    rows(store, sql, [space.to_string()], |r| {
        Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))
    })
    .into_iter()
    .map(|(epoch, key)| (epoch, ok(SpaceKey::from_bytes(&key), "a stored space key")))
    .collect()
}

/// Every byte SQLite holds for the database at `db`: the file and, in WAL mode, its log.
pub fn sqlite_bytes(db: &Path) -> Vec<u8> {
    let mut wal = db.as_os_str().to_owned();
    wal.push("-wal");
    let mut out = Vec::new();
    for file in [db.as_os_str(), wal.as_os_str()] {
        if let Ok(bytes) = std::fs::read(file) {
            out.extend(bytes);
        }
    }
    out
}

/// Every file under `dir` (recursively) with its bytes.
pub fn files(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let entries = ok(
        std::fs::read_dir(dir),
        &format!("reading {}", dir.display()),
    );
    for e in entries {
        let p = ok(e, "a directory entry").path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
    out
}

/// The files under `dir` (a store, its WAL and shared memory, anything else) that hold
/// `needle`, raw bytes.
pub fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    files(dir)
        .into_iter()
        .filter(|(_, b)| crate::text::contains_bytes(b, needle))
        .map(|(p, _)| p.display().to_string())
        .collect()
}
