//! Helper for `tests/crash.rs`: opens a home with `Durability::Full` and writes into a
//! journal until it is killed, announcing each write on stdout.
//!
//! ```text
//! crash_writer HOME JOURNAL_ID SEED
//! ```
//!
//! Before each call it prints `begin ...` (what it is about to write), and after the call
//! returns `ack ...` (the write is acknowledged, so it must survive a crash from then on).
//! Fields are separated by tabs; the texts it writes never contain tabs or newlines.
//!
//! ```text
//! begin <TAB> create <TAB> TITLE <TAB> BODY
//! ack <TAB> create <TAB> ENTRY_ID <TAB> TITLE <TAB> BODY
//! begin <TAB> edit <TAB> ENTRY_ID <TAB> title|body <TAB> NEW_TEXT
//! ack <TAB> edit <TAB> ENTRY_ID <TAB> title|body <TAB> NEW_TEXT
//! ```

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use duet_core::{Duet, Durability, EntryId, EntryQuery, NewEntry, Options, SpaceId, TextField};
use duet_e2e::text::splice_chars;
use duet_e2e::{SplitMix64, WORDS};

/// Entries (of the newest) this run edits besides its own.
const RECENT: u32 = 8;
/// Bodies are kept around this size so lines stay short.
const MAX_BODY_CHARS: usize = 240;
/// A writer that is never killed stops by itself.
const MAX_RUN: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (home, journal, seed) = match parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("crash_writer: {e}");
            eprintln!("usage: crash_writer HOME JOURNAL_ID SEED");
            return ExitCode::from(2);
        }
    };
    match run(&home, &journal, seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash_writer: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: &[String]) -> Result<(std::path::PathBuf, SpaceId, u64), String> {
    let [_, home, journal, seed] = args else {
        return Err(format!(
            "expected 3 arguments, got {}",
            args.len().saturating_sub(1)
        ));
    };
    let journal: SpaceId = journal
        .parse()
        .map_err(|_| format!("{journal:?} is not a journal id"))?;
    let seed: u64 = seed
        .parse()
        .map_err(|_| format!("{seed:?} is not a number"))?;
    Ok((home.into(), journal, seed))
}

/// The text a write leaves, as the writer believes it.
struct Known {
    id: EntryId,
    title: String,
    body: String,
}

fn words(rng: &mut SplitMix64, lo: u64, hi: u64) -> String {
    let n = rng.range(lo, hi);
    (0..n)
        .map(|_| *rng.pick(WORDS))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A random splice of `text`, deleting more when the text grows long.
fn random_splice(rng: &mut SplitMix64, text: &str) -> (usize, usize, String) {
    let len = text.chars().count();
    let pos = rng.below(len + 1);
    let max_del = if len > MAX_BODY_CHARS { 60 } else { 6 };
    let del = rng.below(max_del + 1).min(len - pos);
    let ins = match rng.below(3) {
        0 => String::new(),
        1 => format!(" {}", rng.pick(WORDS)),
        _ => format!("{} ", words(rng, 1, 4)),
    };
    (pos, del, ins)
}

fn run(home: &std::path::Path, journal: &SpaceId, seed: u64) -> Result<(), String> {
    let opts = Options {
        durability: Durability::Full,
        ..Options::default()
    };
    let duet = Duet::open(home, opts).map_err(|e| format!("opening {}: {e}", home.display()))?;
    let mut rng = SplitMix64::new(seed);
    let err = |e: duet_core::Error| e.to_string();

    // A few of the newest entries from earlier runs, as the store has them now.
    let mut known: Vec<Known> = Vec::new();
    let recent = duet
        .list_entries(&EntryQuery {
            journal: Some(*journal),
            limit: Some(RECENT),
            ..EntryQuery::default()
        })
        .map_err(err)?;
    for s in recent.items {
        let e = duet.get_entry(&s.id).map_err(err)?;
        known.push(Known {
            id: e.id,
            title: e.title,
            body: e.body,
        });
    }

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    // A closed pipe means the test is gone: stop quietly.
    let mut say =
        |line: String| -> bool { writeln!(out, "{line}").and_then(|()| out.flush()).is_ok() };
    let started = Instant::now();
    while started.elapsed() < MAX_RUN {
        let op = if known.is_empty() { 0 } else { rng.below(10) };
        match op {
            0..=2 => {
                let title = words(&mut rng, 0, 4);
                let body = words(&mut rng, 0, 12);
                if !say(format!("begin\tcreate\t{title}\t{body}")) {
                    return Ok(());
                }
                let id = duet
                    .create_entry(
                        journal,
                        NewEntry {
                            title: title.clone(),
                            body: body.clone(),
                            ..NewEntry::default()
                        },
                    )
                    .map_err(err)?;
                if !say(format!("ack\tcreate\t{id}\t{title}\t{body}")) {
                    return Ok(());
                }
                known.push(Known { id, title, body });
            }
            _ => {
                let k = rng.below(known.len());
                let entry = &mut known[k];
                let (field, name, new) = match op {
                    // Keystrokes: one splice of the body.
                    3..=6 => {
                        let (pos, del, ins) = random_splice(&mut rng, &entry.body);
                        let new = splice_chars(&entry.body, pos, del, &ins);
                        if !say(format!("begin\tedit\t{}\tbody\t{new}", entry.id)) {
                            return Ok(());
                        }
                        duet.splice_text(&entry.id, TextField::Body, pos, del, &ins)
                            .map_err(err)?;
                        (TextField::Body, "body", new)
                    }
                    // A burst of typing: several splices as one write.
                    7 | 8 => {
                        let mut new = entry.body.clone();
                        let mut splices = Vec::new();
                        for _ in 0..rng.range(2, 5) {
                            let (pos, del, ins) = random_splice(&mut rng, &new);
                            new = splice_chars(&new, pos, del, &ins);
                            splices.push((pos, del, ins));
                        }
                        if !say(format!("begin\tedit\t{}\tbody\t{new}", entry.id)) {
                            return Ok(());
                        }
                        let refs: Vec<(usize, usize, &str)> = splices
                            .iter()
                            .map(|(p, d, i)| (*p, *d, i.as_str()))
                            .collect();
                        duet.splice_many(&entry.id, TextField::Body, &refs)
                            .map_err(err)?;
                        (TextField::Body, "body", new)
                    }
                    // The UI path: a new title, diffed into splices.
                    _ => {
                        let new = words(&mut rng, 1, 4);
                        if !say(format!("begin\tedit\t{}\ttitle\t{new}", entry.id)) {
                            return Ok(());
                        }
                        duet.set_text(&entry.id, TextField::Title, &new)
                            .map_err(err)?;
                        (TextField::Title, "title", new)
                    }
                };
                if !say(format!("ack\tedit\t{}\t{name}\t{new}", entry.id)) {
                    return Ok(());
                }
                match field {
                    TextField::Title => entry.title = new,
                    _ => entry.body = new,
                }
            }
        }
    }
    Ok(())
}
