//! Crashes (design principles 1 and 2): a writer process is killed with SIGKILL at random
//! moments while it creates and edits entries with `Durability::Full`. After every kill the
//! home reopens, every write the writer had acknowledged is there with the acknowledged
//! content, and the store passes both Duet's and `SQLite`'s integrity checks.
//!
//! `CRASH_SEED` replays a run; `CRASH_ITERATIONS` changes the number of kills (60).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use duet_core::*;
use duet_e2e::home::listed;
use duet_e2e::{SplitMix64, store};

const ITERATIONS: usize = 60;

fn full() -> Options {
    Options {
        durability: Durability::Full,
        ..Options::default()
    }
}

/// One line the writer printed.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    BeginCreate {
        title: String,
        body: String,
    },
    AckCreate {
        id: EntryId,
        title: String,
        body: String,
    },
    BeginEdit {
        id: EntryId,
        title: bool,
        text: String,
    },
    AckEdit {
        id: EntryId,
        title: bool,
        text: String,
    },
}

fn parse(line: &str) -> Line {
    let f: Vec<&str> = line.split('\t').collect();
    let id = |s: &str| -> EntryId { s.parse().unwrap_or_else(|_| panic!("bad id in {line:?}")) };
    let field = |s: &str| match s {
        "title" => true,
        "body" => false,
        _ => panic!("bad field in {line:?}"),
    };
    match f.as_slice() {
        ["begin", "create", title, body] => Line::BeginCreate {
            title: title.to_string(),
            body: body.to_string(),
        },
        ["ack", "create", i, title, body] => Line::AckCreate {
            id: id(i),
            title: title.to_string(),
            body: body.to_string(),
        },
        ["begin", "edit", i, fl, text] => Line::BeginEdit {
            id: id(i),
            title: field(fl),
            text: text.to_string(),
        },
        ["ack", "edit", i, fl, text] => Line::AckEdit {
            id: id(i),
            title: field(fl),
            text: text.to_string(),
        },
        _ => panic!("the writer printed an unexpected line {line:?}"),
    }
}

/// What one run of the writer printed, complete lines only (the last one may have been cut
/// by the kill), until `kill_after` past its first acknowledgement.
struct Run {
    lines: Vec<Line>,
    killed: bool,
}

fn run_writer(home: &Path, journal: &SpaceId, seed: u64, kill_after: Duration) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(home)
        .arg(journal.to_string())
        .arg(seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start crash_writer");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = String::new();
        loop {
            buf.clear();
            match r.read_line(&mut buf) {
                Ok(0) | Err(_) => break,
                // A line without its newline was cut short by the kill: never acknowledged.
                Ok(_) if !buf.ends_with('\n') => break,
                Ok(_) => {
                    if tx.send(buf.trim_end_matches('\n').to_string()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut lines = Vec::new();
    // Wait (blocking, not sleeping) for the first acknowledgement.
    loop {
        match rx.recv() {
            Ok(l) => {
                let line = parse(&l);
                let ack = matches!(line, Line::AckCreate { .. } | Line::AckEdit { .. });
                lines.push(line);
                if ack {
                    break;
                }
            }
            Err(_) => {
                let status = child.wait().unwrap();
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("crash_writer exited ({status}) before acknowledging a write: {err}");
            }
        }
    }
    // The deliberate kill timing: let it run a little, then SIGKILL.
    std::thread::sleep(kill_after);
    child.kill().expect("SIGKILL the writer");
    let status = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter().map(|l| parse(&l)));
    Run {
        lines,
        killed: status.signal() == Some(9),
    }
}

/// What the home must hold: every entry with its last acknowledged title and body.
#[derive(Default)]
struct Model {
    entries: HashMap<EntryId, (String, String)>,
}

/// A write that had begun but was not acknowledged when the writer died: it may or may not
/// have committed.
enum InFlight {
    None,
    Create {
        title: String,
        body: String,
    },
    Edit {
        id: EntryId,
        title: bool,
        text: String,
    },
}

impl Model {
    /// Apply a run's acknowledgements; returns the write in flight at the kill.
    fn apply(&mut self, lines: &[Line]) -> InFlight {
        let mut pending = InFlight::None;
        for l in lines {
            match l {
                Line::BeginCreate { title, body } => {
                    pending = InFlight::Create {
                        title: title.clone(),
                        body: body.clone(),
                    }
                }
                Line::BeginEdit { id, title, text } => {
                    assert!(
                        self.entries.contains_key(id),
                        "edit of an unknown entry {id}"
                    );
                    pending = InFlight::Edit {
                        id: *id,
                        title: *title,
                        text: text.clone(),
                    }
                }
                Line::AckCreate { id, title, body } => {
                    assert!(
                        matches!(&pending, InFlight::Create { title: t, body: b } if t == title && b == body),
                        "an ack without its begin"
                    );
                    let old = self.entries.insert(*id, (title.clone(), body.clone()));
                    assert!(old.is_none(), "entry id {id} acknowledged twice");
                    pending = InFlight::None;
                }
                Line::AckEdit { id, title, text } => {
                    assert!(
                        matches!(&pending, InFlight::Edit { id: i, title: t, text: x } if i == id && t == title && x == text),
                        "an ack without its begin"
                    );
                    let e = self.entries.get_mut(id).expect("edit of a known entry");
                    if *title {
                        e.0 = text.clone();
                    } else {
                        e.1 = text.clone();
                    }
                    pending = InFlight::None;
                }
            }
        }
        pending
    }
}

/// Reopen the home after a kill and check it against the model. A write in flight may
/// have committed: then the model takes it (it is durable now), otherwise it must have
/// left no trace. Returns whether it had committed.
fn verify(home: &Path, journal: &SpaceId, model: &mut Model, pending: InFlight, ctx: &str) -> bool {
    // SQLite's own check of the file, before Duet touches it.
    let db = home.join(STORE_FILE);
    let res: Vec<String> = store::rows(&db, "PRAGMA integrity_check", [], |r| r.get(0));
    assert_eq!(res, vec!["ok".to_string()], "{ctx}: PRAGMA integrity_check");
    let fks = "SELECT count(*) FROM pragma_foreign_key_check";
    let fk: i64 = store::row(&db, fks, [], |r| r.get(0));
    assert_eq!(fk, 0, "{ctx}: foreign keys");
    let duet = Duet::open(home, full()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    duet.integrity_check()
        .unwrap_or_else(|e| panic!("{ctx}: integrity_check: {e}"));

    let entries = duet.all_entries(journal).unwrap();
    let mut committed_in_flight = false;
    let mut seen = 0;
    for e in &entries {
        let got = (e.title.clone(), e.body.clone());
        match model.entries.get_mut(&e.id) {
            Some(want) if *want == got => seen += 1,
            Some(want) => {
                // Only the write in flight may differ from the acknowledged state.
                let ok = match &pending {
                    InFlight::Edit { id, title, text } if *id == e.id => {
                        if *title {
                            got == (text.clone(), want.1.clone())
                        } else {
                            got == (want.0.clone(), text.clone())
                        }
                    }
                    _ => false,
                };
                assert!(
                    ok,
                    "{ctx}: entry {} lost its acknowledged content\n  want {want:?}\n  got  {got:?}",
                    e.id
                );
                *want = got;
                committed_in_flight = true;
                seen += 1;
            }
            None => {
                let ok = matches!(&pending, InFlight::Create { title, body } if (title.clone(), body.clone()) == got);
                assert!(ok, "{ctx}: an entry nobody wrote: {e:?}");
                assert!(
                    !committed_in_flight,
                    "{ctx}: two unacknowledged writes committed"
                );
                model.entries.insert(e.id, got);
                committed_in_flight = true;
                seen += 1;
            }
        }
    }
    assert_eq!(
        seen,
        model.entries.len(),
        "{ctx}: acknowledged entries are missing"
    );

    // The index agrees with the documents.
    let listed = listed(&duet, journal);
    assert_eq!(listed.len(), model.entries.len(), "{ctx}: index rows");
    for s in &listed {
        assert_eq!(
            s.title, model.entries[&s.id].0,
            "{ctx}: indexed title of {}",
            s.id
        );
    }
    committed_in_flight
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let seed = SplitMix64::seed_from_env_or_time("CRASH_SEED");
    let iterations = std::env::var("CRASH_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(ITERATIONS);
    eprintln!("crash test seed: CRASH_SEED={seed}");
    let mut rng = SplitMix64::new(seed);

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let journal = {
        let duet = Duet::init(home, "Ada", full()).unwrap();
        duet.create_journal("Us").unwrap()
    };

    let started = Instant::now();
    let mut model = Model::default();
    let (mut kills, mut acks, mut in_flight_committed, mut in_flight) = (0, 0, 0, 0);
    for i in 0..iterations {
        let ctx = format!("CRASH_SEED={seed} iteration {i}");
        let kill_after = Duration::from_millis(rng.range(5, 81));
        let run = run_writer(home, &journal, rng.next_u64(), kill_after);
        assert!(
            run.killed,
            "{ctx}: the writer was still running when killed"
        );
        kills += 1;
        acks += run
            .lines
            .iter()
            .filter(|l| matches!(l, Line::AckCreate { .. } | Line::AckEdit { .. }))
            .count();
        let pending = model.apply(&run.lines);
        if !matches!(pending, InFlight::None) {
            in_flight += 1;
        }
        if verify(home, &journal, &mut model, pending, &ctx) {
            in_flight_committed += 1;
        }
    }
    eprintln!(
        "{kills} kills, {acks} acknowledged writes, {} entries; {in_flight} kills with a write \
         in flight, {in_flight_committed} of which had committed; {:.1?}",
        model.entries.len(),
        started.elapsed()
    );
    assert!(kills >= 50.min(iterations));
    assert!(acks >= kills, "every run acknowledged at least one write");
}

#[test]
fn the_writer_refuses_bad_arguments_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec![],
        vec!["only-a-home"],
        vec!["home", "not-a-journal-id", "1"],
        vec!["home", "01a21471-5bd0-77c5-a4cf-69806865ccca", "not-a-seed"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("usage: crash_writer"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A home that was never initialized: an error, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_crash_writer"))
        .arg(dir.path())
        .arg(SpaceId::new().to_string())
        .arg("1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not initialized"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
