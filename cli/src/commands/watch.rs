//! `watch`: live sync in the foreground. Partners' changes go to stdout as they arrive (a
//! line of text each, or a JSON object per line with `--json`); sync state changes go to
//! stderr. Ends on SIGINT/SIGTERM, after `--exit-after N` events or `--timeout SECS`.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use duet_core::clock::rfc3339;
use duet_core::{
    Duet, EntryEvent, EntryEventKind, EntryListener, Error, Origin, Result, SyncListener,
    SyncReport, SyncState,
};
use serde_json::json;
use tokio::runtime::Runtime;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};

use crate::args::WatchArgs;
use crate::output::{Report, label, to_json};
use crate::resolve::Names;

/// Hands engine events to the printing loop (listeners must not block the engine).
struct Forward<T>(UnboundedSender<T>);

impl EntryListener for Forward<EntryEvent> {
    fn on_event(&self, event: &EntryEvent) {
        if event.origin == Origin::Remote {
            let _ = self.0.send(event.clone());
        }
    }
}

impl SyncListener for Forward<SyncState> {
    fn on_sync_state(&self, state: &SyncState) {
        let _ = self.0.send(state.clone());
    }
}

/// Why the watch ended.
enum End {
    Signal,
    Timeout,
    Count,
    /// Whoever read stdout went away.
    Closed,
}

pub fn watch(rt: &Runtime, duet: Duet, a: WatchArgs, json_out: bool) -> Result<Report> {
    let duet = Arc::new(duet);
    let (etx, mut events) = unbounded_channel::<EntryEvent>();
    let (stx, mut states) = unbounded_channel::<SyncState>();
    let _entries = duet.subscribe(Arc::new(Forward(etx)));
    let _sync = duet.subscribe_sync(Arc::new(Forward(stx)));
    let (end, printed) = rt.block_on(async {
        // Signal handlers go in before anything starts, so a SIGTERM never finds the
        // default action (dying mid-write) in place.
        let mut stop = Stop::install()?;
        let live = duet.start_live()?;
        if !json_out {
            print_stderr("Watching for your partner's changes (Ctrl-C to stop)…");
        }
        let deadline = a
            .timeout
            .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
        let mut printed: u64 = 0;
        // The engine may report one state twice in a row (a failed sync, then the live
        // session it ended); print it once.
        let mut last_state = None;
        let end = loop {
            if a.exit_after.is_some_and(|n| printed >= n) {
                break End::Count;
            }
            tokio::select! {
                Some(ev) = events.recv() => {
                    if !print_stdout(&event_line(&duet, &ev, json_out)) {
                        break End::Closed;
                    }
                    printed += 1;
                }
                Some(state) = states.recv() => {
                    if last_state.as_ref() != Some(&state) {
                        print_state(&state, json_out);
                        last_state = Some(state);
                    }
                }
                () = until(deadline) => break End::Timeout,
                () = stop.wait() => break End::Signal,
            }
        };
        live.stop().await;
        Ok::<_, Error>((end, printed))
    })?;
    if !json_out {
        let why = match end {
            End::Signal => "stopped",
            End::Timeout => "timed out",
            End::Count => "done",
            End::Closed => "output closed",
        };
        print_stderr(&format!("Watch {why} after {printed} change(s)."));
    }
    Ok(Report::empty())
}

/// Sleep until `deadline`, or forever without one.
async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One line for one partner event.
fn event_line(duet: &Duet, ev: &EntryEvent, json_out: bool) -> String {
    // Names are read per event: a journal or partner may have arrived since the start.
    let names = Names::load(duet).unwrap_or_default();
    let entry = duet.get_entry(&ev.entry).ok();
    let by = ev.by.map(|m| names.member(&m));
    let journal = names.journal(&ev.journal);
    if json_out {
        // The event's own fields (kind, entry, journal, by, origin), plus names and what the
        // entry now is.
        let mut v = to_json(ev).unwrap_or_default();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("journal_title".into(), json!(journal));
            obj.insert("by_name".into(), json!(by));
            if let Some(e) = &entry {
                obj.insert("entry_kind".into(), json!(e.kind));
                obj.insert("title".into(), json!(e.title));
                obj.insert("updated_at".into(), json!(e.updated_at));
                obj.insert("updated_at_rfc3339".into(), json!(rfc3339(e.updated_at)));
            }
        }
        return v.to_string();
    }
    let what = entry
        .as_ref()
        .map(|e| label(&e.title, e.kind))
        .unwrap_or_else(|| "an entry".into());
    let verb = match ev.kind {
        EntryEventKind::Added => format!("wrote {what}"),
        EntryEventKind::Changed => format!("changed {what}"),
        EntryEventKind::Deleted => format!("moved {what} to the trash"),
        EntryEventKind::Restored => format!("restored {what}"),
    };
    let when = entry
        .as_ref()
        .map(|e| rfc3339(e.updated_at))
        .unwrap_or_default();
    let who = by.unwrap_or_else(|| "Someone".into());
    format!("{when}  {who} {verb} in {journal}  ({})", ev.entry)
}

/// A sync state on stderr: `sync: live`, or its JSON with `--json`.
pub(super) fn print_state(state: &SyncState, json_out: bool) {
    let line = if json_out {
        json!({ "sync": state }).to_string()
    } else {
        match state {
            SyncState::Offline { reason } => format!("sync: offline ({reason}); retrying"),
            SyncState::Syncing { progress: p } if *p == SyncReport::default() => {
                "sync: syncing".into()
            }
            SyncState::Syncing { progress: p } => format!(
                "sync: syncing (pushed {}, pulled {} so far)",
                p.pushed, p.pulled
            ),
            SyncState::Synced { report } => format!(
                "sync: synced (pushed {}, pulled {})",
                report.pushed, report.pulled
            ),
            SyncState::Live => "sync: live".into(),
            SyncState::Error { code, message } => format!("sync: error {message} ({code})"),
        }
    };
    print_stderr(&line);
}

/// A line on stderr; a closed stderr is no reason to stop (or panic, as `eprintln!` would).
fn print_stderr(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Print a line and flush it at once (a reader of a pipe sees each event as it comes);
/// `false` when stdout is gone.
fn print_stdout(line: &str) -> bool {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").and_then(|()| out.flush()).is_ok()
}

/// SIGINT or SIGTERM (Ctrl-C elsewhere).
struct Stop {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Stop {
    #[cfg(unix)]
    fn install() -> Result<Stop> {
        use tokio::signal::unix::{SignalKind, signal};
        let io = |source| Error::Io {
            path: "signal handler".into(),
            source,
        };
        Ok(Stop {
            term: signal(SignalKind::terminate()).map_err(io)?,
            int: signal(SignalKind::interrupt()).map_err(io)?,
        })
    }

    #[cfg(unix)]
    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }

    #[cfg(not(unix))]
    fn install() -> Result<Stop> {
        Ok(Stop {})
    }

    #[cfg(not(unix))]
    async fn wait(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
