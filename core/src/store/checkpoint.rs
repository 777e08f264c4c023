//! WAL checkpoints off the writing path.
//!
//! SQLite's auto-checkpoint runs inside the `COMMIT` that takes the WAL past 1,000 pages: that
//! write pays for copying the WAL into the database and, with `synchronous=NORMAL`, for the
//! fsyncs that were deferred until then (10–15 ms on a busy disk). Here the store's writing
//! connection has no auto-checkpoint. Instead a WAL hook notes the WAL's size after every
//! commit; past [`CHECKPOINT_FRAMES`] the engine wakes a background thread that runs a
//! `PASSIVE` checkpoint on its own connection while writes go on. When the checkpoint has
//! caught up with the WAL, the next write starts the WAL over from its beginning (SQLite does
//! that itself), so the WAL stays around [`CHECKPOINT_FRAMES`] pages while writes leave gaps.
//! Writes with no gap at all never let a checkpoint catch up, so past
//! [`INLINE_CHECKPOINT_FRAMES`] the writing connection checkpoints inline, as SQLite would
//! (most pages are already copied by then): the WAL stays bounded.
//!
//! Durability is SQLite's: a checkpoint, whoever runs it, fsyncs the WAL before copying it
//! and the database before the WAL can be reused, with the same `synchronous` setting as the
//! writer. Closing the last connection checkpoints and removes the WAL, as before.

use std::cell::Cell;
use std::ffi::c_int;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use rusqlite::hooks::{CheckpointMode, Wal};

use super::Durability;

/// WAL size (pages) past which a write asks for a background checkpoint: SQLite's
/// auto-checkpoint default (about 4 MB with 4 KiB pages).
pub(crate) const CHECKPOINT_FRAMES: i32 = 1000;

/// WAL size (pages) past which the writing connection checkpoints inline, because writes came
/// without a pause long enough for the background checkpoints to let the WAL restart.
pub(crate) const INLINE_CHECKPOINT_FRAMES: i32 = 4 * CHECKPOINT_FRAMES;

/// Least time between the end of one background checkpoint and the start of the next. A
/// stream of writes that never pauses keeps asking (the WAL stays past
/// [`CHECKPOINT_FRAMES`] until it restarts); without a gap the thread would checkpoint a few
/// pages at a time, two fsyncs each, contending with the writer for SQLite's locks.
const ROUND_GAP: Duration = Duration::from_millis(50);

thread_local! {
    /// Pages in the WAL after the last commit on this thread (0: none since last taken).
    static WAL_FRAMES: Cell<i32> = const { Cell::new(0) };
}

/// The writing connection's WAL hook, in place of SQLite's auto-checkpoint.
fn wal_hook(wal: &Wal, frames: c_int) -> rusqlite::Result<()> {
    WAL_FRAMES.set(frames);
    if frames >= INLINE_CHECKPOINT_FRAMES {
        // The transaction has committed already; a checkpoint that can't run now (another
        // one is running) is retried after the next commit.
        if let Err(e) = wal.checkpoint_v2(CheckpointMode::PASSIVE) {
            tracing::debug!(error = %e, frames, "inline WAL checkpoint did not run");
        }
    }
    Ok(())
}

/// Replace SQLite's auto-checkpoint on a writing connection with [`wal_hook`].
pub(crate) fn install(conn: &Connection) {
    conn.wal_hook(Some(wal_hook));
}

/// Forget what the last commit on this thread reported (before a commit).
pub(crate) fn reset_wal_frames() {
    WAL_FRAMES.set(0);
}

/// Pages in the WAL after the last commit on this thread since [`reset_wal_frames`] (0 if it
/// wrote nothing).
pub(crate) fn take_wal_frames() -> i32 {
    WAL_FRAMES.replace(0)
}

#[derive(Debug, Default)]
struct State {
    requested: bool,
    running: bool,
    stop: bool,
    /// Checkpoints run (for tests).
    runs: u64,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The background checkpointing thread of one engine, started on first need.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    path: PathBuf,
    durability: Durability,
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Checkpointer {
    pub(crate) fn new(path: &Path, durability: Durability) -> Checkpointer {
        Checkpointer {
            path: path.to_path_buf(),
            durability,
            shared: Arc::new(Shared::default()),
            thread: Mutex::new(None),
        }
    }

    /// Called after a commit with the WAL's size then: wakes the thread when it is time.
    pub(crate) fn after_commit(&self, wal_frames: i32) {
        if wal_frames >= CHECKPOINT_FRAMES {
            self.request();
        }
    }

    /// Ask for a checkpoint; returns at once. Requests made while one runs fold into one more.
    pub(crate) fn request(&self) {
        {
            let mut s = self.shared.lock();
            if s.requested {
                return;
            }
            s.requested = true;
        }
        // All: in tests `wait_idle` waits on the same condition variable.
        self.shared.wake.notify_all();
        let mut thread = self.thread.lock().unwrap_or_else(|p| p.into_inner());
        if thread.is_none() {
            let (path, durability, shared) =
                (self.path.clone(), self.durability, self.shared.clone());
            match std::thread::Builder::new()
                .name("duet-checkpoint".into())
                .spawn(move || run(&path, durability, &shared))
            {
                Ok(h) => *thread = Some(h),
                // The writer's inline checkpoint still bounds the WAL.
                Err(e) => tracing::warn!(error = %e, "could not start the checkpoint thread"),
            }
        }
    }

    /// Checkpoints the background thread has run.
    #[cfg(test)]
    pub(crate) fn runs(&self) -> u64 {
        self.shared.lock().runs
    }

    /// Wait (for tests) until no checkpoint is requested or running.
    #[cfg(test)]
    pub(crate) fn wait_idle(&self) {
        let mut s = self.shared.lock();
        while s.requested || s.running {
            s = self
                .shared
                .wake
                .wait_timeout(s, Duration::from_millis(10))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_all();
        let thread = self.thread.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = thread.take()
            && h.join().is_err()
        {
            tracing::warn!("the checkpoint thread panicked");
        }
    }
}

fn open_conn(path: &Path, durability: Durability) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // A checkpoint syncs as its connection's `synchronous` says: the writer's setting.
    conn.pragma_update(None, "synchronous", super::synchronous(durability))?;
    Ok(conn)
}

fn run(path: &Path, durability: Durability, shared: &Shared) {
    let conn = match open_conn(path, durability) {
        Ok(c) => c,
        Err(e) => {
            // The writer's inline checkpoint still bounds the WAL.
            tracing::warn!(error = %e, "the checkpoint thread could not open the store");
            return;
        }
    };
    let mut last_end: Option<Instant> = None;
    let mut s = shared.lock();
    loop {
        while !s.requested && !s.stop {
            s = shared.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
        if s.stop {
            break;
        }
        if let Some(due) = last_end.map(|t| t + ROUND_GAP) {
            let now = Instant::now();
            if now < due {
                s = shared
                    .wake
                    .wait_timeout(s, due - now)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                continue;
            }
        }
        // Taken now: a request made while this checkpoint runs asks for another one.
        s.requested = false;
        s.running = true;
        drop(s);
        let res = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match res {
            Ok((busy, log, done)) => tracing::trace!(busy, log, done, "WAL checkpoint"),
            Err(e) => tracing::debug!(error = %e, "WAL checkpoint did not run"),
        }
        last_end = Some(Instant::now());
        s = shared.lock();
        s.running = false;
        s.runs += 1;
        shared.wake.notify_all();
    }
    drop(s);
    // Closing the connection: if it is the store's last, SQLite checkpoints the WAL into the
    // database and removes it.
    drop(conn);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::store;

    /// A store with a scratch table to write big rows into.
    fn store_with_table(dir: &Path) -> (PathBuf, Connection) {
        let path = dir.join("store.sqlite3");
        let conn = store::open(&path, Durability::Normal).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        (path, conn)
    }

    /// `n` commits of 40 KB (11 pages) each; the WAL's size after each.
    fn big_writes(conn: &Connection, n: usize) -> Vec<i32> {
        let blob = vec![7u8; 40_000];
        (0..n)
            .map(|_| {
                reset_wal_frames();
                conn.execute("INSERT INTO t (x) VALUES (?1)", [&blob])
                    .unwrap();
                take_wal_frames()
            })
            .collect()
    }

    #[test]
    fn a_background_checkpoint_lets_the_next_write_restart_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = store_with_table(dir.path());
        let ck = Checkpointer::new(&path, Durability::Normal);
        let version = store::data_version(&conn).unwrap();
        let frames = *big_writes(&conn, 120).last().unwrap();
        // No auto-checkpoint ran inside those commits.
        assert!(
            (CHECKPOINT_FRAMES..INLINE_CHECKPOINT_FRAMES).contains(&frames),
            "{frames}"
        );
        ck.after_commit(frames);
        ck.wait_idle();
        assert_eq!(ck.runs(), 1);
        // A checkpoint is not a commit: the writer's cached documents stay valid.
        assert_eq!(store::data_version(&conn).unwrap(), version);
        // The WAL was copied whole, so the next write starts it over.
        let after = big_writes(&conn, 1)[0];
        assert!(after < 20, "{after}");
        drop(ck);
        drop(conn);
        let reopened = Connection::open(&path).unwrap();
        let n: i64 = reopened
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 121);
    }

    #[test]
    fn writes_that_never_pause_still_keep_the_wal_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let (_path, conn) = store_with_table(dir.path());
        // No background thread at all: the writer's own checkpoint bounds the WAL.
        let frames = big_writes(&conn, 1_000);
        let largest = frames.iter().copied().max().unwrap();
        assert!(largest < INLINE_CHECKPOINT_FRAMES + 20, "{largest}");
        assert!(
            frames.iter().filter(|f| **f < 20).count() >= 2,
            "the WAL never restarted"
        );
    }

    #[test]
    fn dropping_stops_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let (path, conn) = store_with_table(dir.path());
        let ck = Checkpointer::new(&path, Durability::Full);
        ck.request();
        ck.wait_idle();
        ck.request();
        drop(ck);
        big_writes(&conn, 1);
    }
}
