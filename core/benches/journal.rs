#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Duet's benchmarks: the figures in BENCHMARKS.md, each next to a reference measured in the
//! same run.
//!
//! ```text
//! cargo bench -p duet-core --bench journal                 # everything
//! cargo bench -p duet-core --bench journal -- keystroke    # sections whose name contains a filter
//! ```
//! Sections: `keystroke`, `paper`, `settext`, `journal` (open, list, search, bytes on disk).
//!
//! Knobs (environment): `DUET_BENCH_KEYSTROKES` (3000), `DUET_BENCH_SETTEXT_CALLS` (run only
//! the first N calls of the full-text path; all 25,978 by default), `DUET_BENCH_ENTRIES` (10000),
//! `DUET_BENCH_REPEATS` (open/list and search repetitions, 200), `DUET_BENCH_MODES` (`full`,
//! `normal`; both by default), `DUET_BENCH_TRACE` (path of paper-edits.json.gz),
//! `DUET_BENCH_TMP` (where the temporary stores go).
//!
//! The paper trace is the editing history of the LaTeX source of "A Conflict-Free Replicated
//! JSON Datatype" by Martin Kleppmann and Alastair R. Beresford (automerge-perf,
//! edit-history/paper.json.gz), licensed CC-BY 4.0.
//!
//! Percentiles are nearest-rank over individually timed calls (`Instant`, sorted samples).

use std::hint::black_box;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, LoadOptions, ObjType, ROOT, ReadDoc, TextEncoding};
use duet_core::*;
use duet_e2e::SplitMix64 as Rng;
use duet_e2e::bench::{env_usize, loadavg, tmp_root};
use duet_e2e::stats::percentile;

/// 2026-01-05, noon UTC: the 10k journal starts here and runs forward.
const T0: i64 = 1_767_614_400_000;
const HOUR: i64 = 3_600_000;

fn main() {
    let filters = duet_e2e::bench::filters();
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));

    print_machine();
    let mut report = Report::default();
    let started = Instant::now();

    let mut paper_calls: CallTimes = Vec::new();
    if wanted("keystroke") {
        keystroke(&mut report, env_usize("DUET_BENCH_KEYSTROKES", 3000));
    }
    if wanted("paper") || wanted("settext") {
        let trace = Trace::load();
        if wanted("paper") {
            paper_calls = paper(&mut report, &trace);
        }
        if wanted("settext") {
            let calls = env_usize("DUET_BENCH_SETTEXT_CALLS", usize::MAX);
            settext(&mut report, &trace, calls, &paper_calls);
        }
    }
    if wanted("journal") {
        journal(
            &mut report,
            env_usize("DUET_BENCH_ENTRIES", 10_000),
            env_usize("DUET_BENCH_REPEATS", 200),
        );
    }

    println!();
    println!(
        "## Results ({:.0} s, load average after: {})",
        started.elapsed().as_secs_f64(),
        loadavg()
    );
    println!();
    report.print();
}

// ---------------------------------------------------------------------------------------
// Figure 1: one keystroke, durable.

fn keystroke(report: &mut Report, n: usize) {
    section("keystroke: one splice_text of one character into a 5 KB body");
    let mut rng = Rng::new(0x5eed_0001);
    let body = prose(&mut rng, 5_000);
    assert_eq!(body.chars().count(), 5_000);
    let warmup = 100;
    let typed: Vec<String> = "we walked along the river and talked about the summer. "
        .chars()
        .map(String::from)
        .collect();

    // Reference: the CRDT work alone, in memory.
    let mut raw = AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint);
    let text = raw.put_object(ROOT, "body", ObjType::Text).unwrap();
    raw.splice_text(&text, 0, 0, &body).unwrap();
    raw.commit();
    let mut raw_samples = Vec::with_capacity(n);
    let mut raw_inc_samples = Vec::with_capacity(n);
    for i in 0..warmup + 2 * n {
        let ch = &typed[i % typed.len()];
        let cursor = 2_500 + i;
        // Every other keystroke also encodes its change as Duet does to store it
        // (`save_after` the heads it started from).
        let with_save = i % 2 == 1;
        let t = Instant::now();
        let heads = if with_save {
            raw.get_heads()
        } else {
            Vec::new()
        };
        raw.splice_text(&text, cursor, 0, ch).unwrap();
        raw.commit();
        if with_save {
            black_box(raw.save_after(&heads));
        }
        let el = t.elapsed();
        if i >= warmup {
            if with_save {
                raw_inc_samples.push(el);
            } else {
                raw_samples.push(el);
            }
        }
    }
    let t = Instant::now();
    let saved = raw.save();
    println!(
        "  raw automerge save() of that document ({} changes, as a compaction does): {} B in {}",
        warmup + 2 * n + 1,
        saved.len(),
        ms(t.elapsed())
    );
    let raw_s = Stats::of(raw_samples);
    let raw_inc = Stats::of(raw_inc_samples);
    println!("  raw automerge splice+commit:            {}", raw_s.line());
    println!(
        "  raw automerge splice+commit+save_after: {}",
        raw_inc.line()
    );

    for dur in modes() {
        let tmp = tempdir();
        // Reference: a bare SQLite commit on the same disk, interleaved keystroke by
        // keystroke with Duet's so both see the same disk and the same neighbours.
        let mut floor = bare_sqlite(&tmp.path().join("floor.sqlite3"), dur);
        let blob = vec![0x5au8; 300];
        let (duet, id) = home_with_entry(&tmp.path().join("home"), dur, "Typing", &body);
        let mut samples = Vec::with_capacity(n);
        let mut floor_samples = Vec::with_capacity(n);
        for i in 0..warmup + n {
            let ch = &typed[i % typed.len()];
            let cursor = 2_500 + i;
            let t = Instant::now();
            duet.splice_text(&id, TextField::Body, cursor, 0, ch)
                .unwrap();
            let el = t.elapsed();
            let f = bare_commit(&mut floor, &blob);
            if i >= warmup {
                samples.push(el);
                floor_samples.push(f);
            }
        }
        let e = duet.get_entry(&id).unwrap();
        assert_eq!(e.body.chars().count(), 5_000 + warmup + n);
        dump(&format!("keystroke-{dur:?}"), &samples);
        dump(&format!("sqlite-commit-{dur:?}"), &floor_samples);
        let s = Stats::of(samples);
        let floor = Stats::of(floor_samples);
        println!(
            "  bare SQLite commit (1 row of 300 B), {dur:?}: {}",
            floor.line()
        );
        println!(
            "  Duet::splice_text, {dur:?}:                   {}",
            s.line()
        );
        report.row(
            "1",
            format!("keystroke, Durability::{dur:?} (p50 / p99 / max of {n})"),
            s.pmm(),
            format!(
                "bare SQLite commit, interleaved: {}; automerge splice+commit in memory: {}",
                floor.pmm(),
                raw_s.pmm()
            ),
            "p99 ≤ 1 ms",
            s.p99 <= Duration::from_millis(1),
        );
    }
}

/// A WAL database with one table `t (seq, data)`, synchronous as `dur` sets it.
fn bare_sqlite(path: &Path, dur: Durability) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    let sync = match dur {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync).unwrap();
    conn.execute_batch("CREATE TABLE t (seq INTEGER PRIMARY KEY, data BLOB NOT NULL)")
        .unwrap();
    conn
}

/// One write transaction inserting one row, committed: the price of a durable commit on
/// this disk, without Duet.
fn bare_commit(conn: &mut rusqlite::Connection, data: &[u8]) -> Duration {
    let t = Instant::now();
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tx.prepare_cached("INSERT INTO t (data) VALUES (?1)")
        .unwrap()
        .execute([data])
        .unwrap();
    tx.commit().unwrap();
    t.elapsed()
}

// ---------------------------------------------------------------------------------------
// Figure 2: the paper trace.

struct Trace {
    /// (pos, delete, insert), in characters.
    edits: Vec<(usize, usize, String)>,
    final_text: String,
}

/// Edits per call (one durable write / one automerge commit).
const BATCH: usize = 10;
/// Calls per block: Duet and its references run in alternating blocks, so a busy moment on
/// this shared machine lands on all of them alike.
const BLOCK: usize = 500;

type Batch<'a> = Vec<(usize, usize, &'a str)>;

impl Trace {
    fn load() -> Trace {
        let path = std::env::var("DUET_BENCH_TRACE")
            .map(PathBuf::from)
            .unwrap_or_else(|_| {
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../shared/bench-data/paper-edits.json.gz")
            });
        let file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (set DUET_BENCH_TRACE)", path.display()));
        let mut json = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut json)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let edits = v["edits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let pos = e[0].as_u64().unwrap() as usize;
                match e[1].as_u64().unwrap() {
                    0 => (pos, 0, e[2].as_str().unwrap().to_string()),
                    1 => (pos, 1, String::new()),
                    other => panic!("unknown edit type {other}"),
                }
            })
            .collect();
        let final_text = v["finalText"].as_str().unwrap().to_string();
        println!(
            "  trace: {} ({})",
            path.display(),
            v["source"].as_str().unwrap_or("")
        );
        Trace { edits, final_text }
    }

    fn batches(&self) -> Vec<Batch<'_>> {
        self.edits
            .chunks(BATCH)
            .map(|c| c.iter().map(|(p, d, s)| (*p, *d, s.as_str())).collect())
            .collect()
    }
}

/// Raw automerge: the same splices into one Text object, one commit per call.
struct Raw {
    doc: AutoCommit,
    text: automerge::ObjId,
}

impl Raw {
    fn new() -> Raw {
        let mut doc = AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint);
        let text = doc.put_object(ROOT, "text", ObjType::Text).unwrap();
        doc.commit();
        Raw { doc, text }
    }

    fn call(&mut self, b: &Batch<'_>) {
        for (pos, del, ins) in b {
            self.doc
                .splice_text(&self.text, *pos, *del as isize, ins)
                .unwrap();
        }
        self.doc.commit();
    }

    fn text(&self) -> String {
        self.doc.text(&self.text).unwrap()
    }
}

/// The least any design that makes every call durable in SQLite pays: raw automerge, plus
/// each call's change encoded (`save_after`) and stored as one row in its own transaction.
struct Floor {
    _tmp: tempfile::TempDir,
    conn: rusqlite::Connection,
    raw: Raw,
}

impl Floor {
    fn new(dur: Durability) -> Floor {
        let tmp = tempdir();
        let conn = bare_sqlite(&tmp.path().join("floor.sqlite3"), dur);
        Floor {
            _tmp: tmp,
            conn,
            raw: Raw::new(),
        }
    }

    fn call(&mut self, b: &Batch<'_>) {
        let heads = self.raw.doc.get_heads();
        self.raw.call(b);
        let chunk = self.raw.doc.save_after(&heads);
        bare_commit(&mut self.conn, &chunk);
    }
}

/// A home at `home` with one journal and in it one entry with this title and body.
fn home_with_entry(home: &Path, dur: Durability, title: &str, body: &str) -> (Duet, EntryId) {
    let opts = Options {
        durability: dur,
        ..Options::default()
    };
    let duet = Duet::init(home, "Ada", opts).unwrap();
    let j = duet.create_journal("Us").unwrap();
    let new = NewEntry {
        title: title.into(),
        body: body.into(),
        ..NewEntry::default()
    };
    let id = duet.create_entry(&j, new).unwrap();
    (duet, id)
}

/// A fresh home with one journal and one (empty) entry to edit.
fn entry_home(dur: Durability, title: &str) -> (tempfile::TempDir, PathBuf, Duet, EntryId) {
    let tmp = tempdir();
    let home = tmp.path().join("home");
    let (duet, id) = home_with_entry(&home, dur, title, "");
    (tmp, home, duet, id)
}

const PAPER_TITLE: &str = "A Conflict-Free Replicated JSON Datatype";

/// Per durability mode, Duet's per-call times (for the full-text section's comparison).
type CallTimes = Vec<(Durability, Vec<Duration>)>;

fn paper(report: &mut Report, trace: &Trace) -> CallTimes {
    section("paper: the paper trace, 10 edits per call");
    let batches = trace.batches();
    println!(
        "  {} edits in {} calls; final text {} characters; blocks of {BLOCK} calls alternate raw / floor / Duet",
        trace.edits.len(),
        batches.len(),
        trace.final_text.chars().count()
    );
    let mut out = Vec::new();
    let mut raw_doc_bytes: Option<(Vec<u8>, Duration)> = None;
    for dur in modes() {
        let mut raw = Raw::new();
        let mut floor = Floor::new(dur);
        let (_tmp, home, duet, id) = entry_home(dur, PAPER_TITLE);
        let outbox_before = duet.outbox_len().unwrap();
        let (mut raw_t, mut floor_t) = (Duration::ZERO, Duration::ZERO);
        let mut samples = Vec::with_capacity(batches.len());
        for block in batches.chunks(BLOCK) {
            let t = Instant::now();
            for b in block {
                raw.call(b);
            }
            raw_t += t.elapsed();
            let t = Instant::now();
            for b in block {
                floor.call(b);
            }
            floor_t += t.elapsed();
            for b in block {
                let t = Instant::now();
                duet.splice_many(&id, TextField::Body, b).unwrap();
                samples.push(t.elapsed());
            }
        }
        let total: Duration = samples.iter().sum();
        dump(&format!("paper-{dur:?}"), &samples);
        assert_eq!(raw.text(), trace.final_text);
        assert_eq!(floor.raw.text(), trace.final_text);
        let body = duet.get_entry(&id).unwrap().body;
        let ok = body == trace.final_text;
        assert!(ok, "Duet's body differs from finalText");
        let outbox = duet.outbox_len().unwrap() - outbox_before;
        drop(duet);
        drop(floor);
        let disk = DiskUse::measure(&home.join(STORE_FILE), Some(&id));

        // The raw document's size and load time (once).
        let (saved, raw_save) = raw_doc_bytes
            .get_or_insert_with(|| {
                let t = Instant::now();
                let saved = raw.doc.save();
                (saved, t.elapsed())
            })
            .clone();
        drop(raw);
        // Loads, alternating: raw load() (+ text()), and Duet from a fresh open (loads the
        // entry's snapshot and chunks, then reads title and body).
        let (mut raw_loads, mut loads) = (Vec::new(), Vec::new());
        for _ in 0..5 {
            let t = Instant::now();
            let d = AutoCommit::load_with_options(
                &saved,
                LoadOptions::new().text_encoding(TextEncoding::UnicodeCodePoint),
            )
            .unwrap();
            let loaded_text = d
                .get(ROOT, "text")
                .unwrap()
                .map(|(_, t)| d.text(&t).unwrap())
                .unwrap();
            raw_loads.push(t.elapsed());
            assert_eq!(loaded_text.len(), trace.final_text.len());
            let t = Instant::now();
            let d = Duet::open(&home, Options::default()).unwrap();
            let e = d.get_entry(&id).unwrap();
            loads.push(t.elapsed());
            assert_eq!(e.body.len(), trace.final_text.len());
        }
        let (raw_load, load) = (Stats::of(raw_loads), Stats::of(loads));
        let calls = Stats::of(samples.clone());
        let ratio = total.as_secs_f64() / raw_t.as_secs_f64();
        let floor_ratio = floor_t.as_secs_f64() / raw_t.as_secs_f64();
        println!("  {dur:?}:");
        println!(
            "    raw automerge:                                        {}",
            secs(raw_t)
        );
        println!(
            "    durable floor (raw + save_after + 1-row SQLite commit): {} ({floor_ratio:.2}× raw)",
            secs(floor_t)
        );
        println!(
            "    Duet::splice_many:                                    {} ({ratio:.2}× raw); per call {}; body == finalText: {ok}",
            secs(total),
            calls.line()
        );
        println!(
            "    document on disk: snapshot {} B + {} chunks {} B = {} B; store file {} B (outbox {outbox} changes, {} B)",
            disk.doc_snapshot,
            disk.doc_chunks_n,
            disk.doc_chunks,
            disk.doc_snapshot + disk.doc_chunks,
            disk.file,
            disk.outbox,
        );
        println!(
            "    raw save(): {} B in {}; raw load()+text() p50 {}; Duet open+get_entry p50 {}",
            saved.len(),
            ms(raw_save),
            ms(raw_load.p50),
            ms(load.p50)
        );
        report.row(
            "2",
            format!(
                "paper trace via splice_many, {} calls of 10, Durability::{dur:?} (body == finalText: {ok})",
                batches.len()
            ),
            format!(
                "{} (**{ratio:.2}× raw**); per call p50 {} p99 {} max {}",
                secs(total),
                ms(calls.p50),
                ms(calls.p99),
                ms(calls.max)
            ),
            format!(
                "raw automerge 0.12: {}; durable floor (raw + save_after + 1-row SQLite commit per call): {} ({floor_ratio:.2}× raw)",
                secs(raw_t),
                secs(floor_t),
            ),
            "≤ 1.5× raw",
            ratio <= 1.5,
        );
        report.row(
            "2",
            format!("paper document on disk, Durability::{dur:?}"),
            format!(
                "{} B (snapshot {} B + {} chunks {} B); whole store file {} B, of which outbox {} B ({outbox} queued changes)",
                disk.doc_snapshot + disk.doc_chunks,
                disk.doc_snapshot,
                disk.doc_chunks_n,
                disk.doc_chunks,
                disk.file,
                disk.outbox
            ),
            format!("raw save(): {} B in {}", saved.len(), ms(raw_save)),
            "(reported)",
            true,
        );
        report.row(
            "2",
            format!(
                "paper document load, Durability::{dur:?} (fresh Duet::open + get_entry, p50 of 5)"
            ),
            ms(load.p50),
            format!("raw load() + text(): {}", ms(raw_load.p50)),
            "(reported)",
            true,
        );
        out.push((dur, samples));
    }
    out
}

// ---------------------------------------------------------------------------------------
// Figure 2b: the full-text edit path.

/// A plain string the trace is replayed into, to hand `set_text` the whole new text.
struct TextBuf {
    s: String,
    ascii: bool,
}

impl TextBuf {
    fn byte(&self, pos: usize) -> usize {
        if self.ascii {
            pos
        } else {
            self.s
                .char_indices()
                .nth(pos)
                .map(|(i, _)| i)
                .unwrap_or(self.s.len())
        }
    }
    fn apply(&mut self, (pos, del, ins): (usize, usize, &str)) {
        let at = self.byte(pos);
        if del > 0 {
            let end = self.byte(pos + del);
            self.s.replace_range(at..end, "");
        }
        self.ascii &= ins.is_ascii();
        self.s.insert_str(at, ins);
    }
}

fn settext(report: &mut Report, trace: &Trace, calls: usize, splice_calls: &CallTimes) {
    let batches = trace.batches();
    let calls = calls.min(batches.len());
    let prefix = &batches[..calls];
    section(&format!(
        "settext: Duet::set_text with the whole text after every 10 edits, {calls} of {} calls",
        batches.len()
    ));
    for dur in modes() {
        let mut raw = Raw::new();
        let (_tmp, _home, duet, id) = entry_home(dur, PAPER_TITLE);
        let mut buf = TextBuf {
            s: String::new(),
            ascii: true,
        };
        let mut raw_t = Duration::ZERO;
        let mut samples = Vec::with_capacity(calls);
        for block in prefix.chunks(BLOCK) {
            let t = Instant::now();
            for b in block {
                raw.call(b);
            }
            raw_t += t.elapsed();
            for b in block {
                for e in b {
                    buf.apply(*e);
                }
                let t = Instant::now();
                duet.set_text(&id, TextField::Body, &buf.s).unwrap();
                samples.push(t.elapsed());
            }
        }
        let total: Duration = samples.iter().sum();
        let expected = raw.text();
        let body = duet.get_entry(&id).unwrap().body;
        let ok = body == expected && buf.s == expected;
        assert!(ok, "set_text path diverged from the trace");
        dump(&format!("settext-{dur:?}"), &samples);
        let s = Stats::of(samples);
        let ratio = total.as_secs_f64() / raw_t.as_secs_f64();
        let splice_note = splice_calls
            .iter()
            .find(|(d, s)| *d == dur && s.len() >= calls)
            .map(|(_, s)| {
                let sp: Duration = s[..calls].iter().sum();
                format!(
                    "; Duet::splice_many on the same calls (figure 2): {}",
                    secs(sp)
                )
            })
            .unwrap_or_default();
        println!(
            "  {dur:?}: raw automerge {}; Duet::set_text {} ({ratio:.2}× raw); per call {}",
            secs(raw_t),
            secs(total),
            s.line()
        );
        report.row(
            "2b",
            format!(
                "full-text path (set_text after every 10 edits), {calls} calls, Durability::{dur:?} (body correct: {ok})"
            ),
            format!(
                "{} ({ratio:.2}× raw); per call p50 {} p99 {} max {}",
                secs(total),
                ms(s.p50),
                ms(s.p99),
                ms(s.max)
            ),
            format!("raw automerge, same calls: {}{splice_note}", secs(raw_t)),
            "(reported)",
            true,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Figures 3 and 4: a 10,000-entry journal.

#[rustfmt::skip]
const VOCAB: &[&str] = &[
    "the", "and", "we", "to", "a", "i", "of", "it", "was", "you", "in", "that", "my", "for",
    "with", "on", "today", "me", "felt", "our", "about", "but", "so", "us", "when", "at",
    "really", "time", "just", "feel", "like", "think", "after", "together", "home", "talked",
    "little", "day", "love", "evening", "morning", "long", "again", "more", "still", "tired",
    "happy", "work", "walk", "dinner", "night", "weekend", "week", "kitchen", "laughed",
    "quiet", "listened", "want", "need", "thank", "grateful", "coffee", "tea", "because",
    "before", "later", "sunday", "saturday", "friday", "monday", "house", "garden", "rain",
    "sun", "park", "friends", "family", "mother", "father", "sister", "brother", "phone",
    "message", "hug", "kiss", "hand", "smile", "worried", "calm", "patient", "honest", "sorry",
    "forgive", "promise", "trust", "close", "distance", "busy", "slow", "bread", "soup",
    "cooked", "washed", "dishes", "laundry", "plans", "holiday", "train", "bus", "car", "drive",
    "bike", "river", "lake", "sea", "beach", "mountain", "forest", "trail", "dog", "cat",
    "neighbour", "music", "song", "film", "book", "read", "wrote", "letter", "photo", "memory",
    "remember", "birthday", "anniversary", "gift", "flowers", "candles", "wine", "breakfast",
    "lunch", "picnic", "market", "shopping", "money", "budget", "rent", "move", "city",
    "village", "travel", "airport", "hotel", "tent", "stars", "moon", "snow", "winter",
    "spring", "summer", "autumn", "cold", "warm", "blanket", "sofa", "bed", "sleep", "dream",
    "woke", "early", "late", "meeting", "office", "boss", "project", "deadline", "stress",
    "anxious", "relieved", "proud", "jealous", "angry", "frustrated", "hurt", "misunderstood",
    "argument", "disagreed", "apologised", "listening", "space", "boundaries", "needs",
    "feelings", "kind", "gentle", "playful", "silly", "joke", "game", "cards", "puzzle",
    "podcast", "news", "doctor", "health", "run", "swim", "yoga", "gym", "stretch", "breath",
    "headache", "medicine", "appointment", "therapist", "counsellor", "conversation",
    "question", "answer", "future", "children", "wedding", "ring", "vows", "promises", "goals",
    "dreams", "fears", "hopes", "plans", "balcony", "window", "candlelight", "lantern",
    "harbour", "ferry", "island", "cliff", "lighthouse", "orchard", "vineyard", "meadow",
    "glacier", "canyon", "desert", "oasis", "violin", "saxophone", "pottery", "origami",
    "calligraphy", "astronomy", "telescope",
];

#[rustfmt::skip]
const TAGS: &[&str] = &[
    "gratitude", "us", "family", "work", "travel", "home", "health", "money", "friends",
    "weekend", "date-night", "hard-talk", "milestone", "food", "outdoors", "music",
];

/// A vocabulary word, Zipf-like (weight 1/rank): common words often, rare words now and then.
fn word(rng: &mut Rng) -> &'static str {
    // Inverse of the continuous 1/x distribution over [1, n + 1).
    let n = VOCAB.len() as f64;
    let idx = ((n + 1.0).powf(rng.unit()) - 1.0) as usize;
    VOCAB[idx.min(VOCAB.len() - 1)]
}

/// A number in `lo..hi` (the benchmark's sizes and scores).
fn range(rng: &mut Rng, lo: usize, hi: usize) -> usize {
    rng.range(lo as u64, hi as u64) as usize
}

/// Sentences of vocabulary words, exactly `chars` characters long.
fn prose(rng: &mut Rng, chars: usize) -> String {
    let mut out = String::with_capacity(chars + 16);
    let mut sentence_start = true;
    let mut in_sentence = 0;
    while out.len() < chars {
        let w = word(rng);
        if sentence_start {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                out.extend(f.to_uppercase());
                out.push_str(c.as_str());
            }
            sentence_start = false;
        } else {
            out.push_str(w);
        }
        in_sentence += 1;
        if in_sentence >= 6 && rng.below(6) == 0 {
            out.push('.');
            sentence_start = true;
            in_sentence = 0;
        } else if rng.below(12) == 0 {
            out.push(',');
        }
        out.push(' ');
    }
    out.truncate(chars);
    out
}

fn title(rng: &mut Rng) -> String {
    let n = range(rng, 2, 7);
    let words: Vec<&str> = (0..n).map(|_| word(rng)).collect();
    let t = words.join(" ");
    let mut c = t.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => t,
    }
}

/// The same query string Duet builds: quoted words, the last one a prefix.
fn fts_match(q: &str) -> String {
    let quoted: Vec<String> = q.split_whitespace().map(|w| format!("\"{w}\"")).collect();
    format!("{}*", quoted.join(" "))
}

fn journal(report: &mut Report, n: usize, repeats: usize) {
    section(&format!("journal: a {n}-entry journal"));
    let tmp = tempdir();
    let home = tmp.path().join("home");
    let clock = ManualClock::new(T0);
    let duet = Duet::init(
        &home,
        "Ada",
        Options {
            durability: Durability::Normal,
            clock: Arc::new(clock.clone()),
            ..Options::default()
        },
    )
    .unwrap();
    let j = duet.create_journal("Us").unwrap();
    let mut rng = Rng::new(0x5eed_0003);
    let prompts = duet_core::prompts::library();
    let kinds = [
        EntryKind::Reflection,
        EntryKind::Reflection,
        EntryKind::Reflection,
        EntryKind::Appreciation,
        EntryKind::Appreciation,
        EntryKind::Vulnerability,
        EntryKind::PromptAnswer,
    ];
    let mut raw_bytes = 0usize;
    let mut body_chars = 0usize;
    let mut check_ins = 0usize;
    let t0 = Instant::now();
    for i in 0..n {
        clock.advance(range(&mut rng, 2, 12) as i64 * HOUR);
        let mut tags: Vec<String> = Vec::new();
        for _ in 0..rng.below(4) {
            let t = TAGS[rng.below(TAGS.len())].to_string();
            if !tags.contains(&t) {
                tags.push(t);
            }
        }
        let new = if i % 8 == 7 {
            check_ins += 1;
            let (nl, gl) = (range(&mut rng, 20, 120), range(&mut rng, 20, 120));
            let needs = prose(&mut rng, nl);
            let gratitude = prose(&mut rng, gl);
            NewEntry {
                kind: Some(EntryKind::CheckIn),
                title: String::new(),
                body: String::new(),
                tags,
                check_in: Some(CheckIn {
                    mood: range(&mut rng, 1, 6) as u8,
                    closeness: range(&mut rng, 1, 6) as u8,
                    needs,
                    gratitude,
                }),
                ..NewEntry::default()
            }
        } else {
            let kind = kinds[rng.below(kinds.len())];
            let len = range(&mut rng, 350, 650);
            NewEntry {
                kind: Some(kind),
                title: title(&mut rng),
                body: prose(&mut rng, len),
                tags,
                prompt_id: (kind == EntryKind::PromptAnswer)
                    .then(|| prompts[rng.below(prompts.len())].id.to_string()),
                ..NewEntry::default()
            }
        };
        raw_bytes +=
            new.title.len() + new.body.len() + new.tags.iter().map(String::len).sum::<usize>();
        if let Some(ci) = &new.check_in {
            raw_bytes += ci.needs.len() + ci.gratitude.len();
        }
        body_chars += new.body.chars().count();
        duet.create_entry(&j, new).unwrap();
        if (i + 1) % 2000 == 0 {
            println!("  built {} entries in {}", i + 1, secs(t0.elapsed()));
        }
    }
    let build = t0.elapsed();
    let outbox_blobs = duet.outbox_len().unwrap();
    drop(duet);
    println!(
        "  built {n} entries ({check_ins} check-ins, {} body characters on average) in {} (Durability::Normal)",
        body_chars / n.max(1),
        secs(build)
    );

    // Figure 4: bytes on disk.
    let path = home.join(STORE_FILE);
    let disk = DiskUse::measure(&path, None);
    println!(
        "  store file {} B after checkpoint (WAL {} B): docs {} B (snapshots {} B + chunks {} B), outbox {} blobs {} B; raw text {} B",
        disk.file,
        disk.wal,
        disk.doc_snapshot + disk.doc_chunks,
        disk.doc_snapshot,
        disk.doc_chunks,
        outbox_blobs,
        disk.outbox,
        raw_bytes
    );
    for (name, bytes) in &disk.tables {
        println!("    {name:<28} {bytes:>12} B");
    }

    // Figure 3a: a fresh open, then the first page.
    let query = EntryQuery {
        journal: Some(j),
        limit: Some(50),
        ..EntryQuery::default()
    };
    let (mut opens, mut lists, mut totals, mut all_lists) = (vec![], vec![], vec![], vec![]);
    let mut raw_opens = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let d = Duet::open(&home, Options::default()).unwrap();
        let opened = t.elapsed();
        let page = d.list_entries(&query).unwrap();
        let total = t.elapsed();
        assert_eq!(page.items.len(), 50);
        assert!(page.next.is_some());
        black_box(page);
        let t2 = Instant::now();
        let all = d.list_entries(&EntryQuery::default()).unwrap();
        all_lists.push(t2.elapsed());
        assert_eq!(all.items.len(), 50);
        opens.push(opened);
        lists.push(total - opened);
        totals.push(total);
        drop(d);

        // Reference, interleaved: SQLite alone, opening the same file and reading the same
        // page.
        let t = Instant::now();
        let conn = rusqlite::Connection::open(&path).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT id, title, excerpt, created_at FROM entries
                 WHERE space_id = ?1 AND deleted_at IS NULL
                 ORDER BY created_at DESC, id DESC LIMIT 50",
            )
            .unwrap();
        let rows: Vec<(String, String, String, i64)> = stmt
            .query_map([j.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        raw_opens.push(t.elapsed());
        assert_eq!(rows.len(), 50);
    }
    let (open, list, total, all, raw_open) = (
        Stats::of(opens),
        Stats::of(lists),
        Stats::of(totals),
        Stats::of(all_lists),
        Stats::of(raw_opens),
    );
    println!("  Duet::open:                         {}", open.line());
    println!("  first list_entries (50, journal):   {}", list.line());
    println!("  open + list:                        {}", total.line());
    println!("  list_entries (50, all journals):    {}", all.line());
    println!("  raw SQLite open + same page:        {}", raw_open.line());
    let target = Duration::from_millis(20);
    report.row(
        "3",
        format!("fresh Duet::open + list_entries first 50 of {n} (p50 / p99 / max of {repeats})"),
        total.pmm(),
        format!(
            "raw SQLite open + same SELECT: {}; (Duet::open alone {}, list alone {})",
            raw_open.pmm(),
            ms(open.p50),
            ms(list.p50)
        ),
        "≤ 20 ms",
        total.p99 <= target,
    );

    // Figure 3b: search, index warm.
    let d = Duet::open(&home, Options::default()).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let queries = [
        "lighthouse",
        "grateful",
        "walk",
        "sunday morning",
        "tog",
        "felt",
    ];
    for q in queries {
        black_box(d.search(q, None, 50).unwrap());
    }
    let target = Duration::from_millis(10);
    for q in queries {
        let m = fts_match(q);
        let matches: i64 = conn
            .query_row(
                "SELECT count(*) FROM entries_fts WHERE entries_fts MATCH ?1",
                [&m],
                |r| r.get(0),
            )
            .unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT rowid FROM entries_fts WHERE entries_fts MATCH ?1 ORDER BY rank LIMIT 50",
            )
            .unwrap();
        let (mut samples, mut raw_samples) = (Vec::new(), Vec::new());
        let mut hits = 0;
        for _ in 0..repeats {
            let t = Instant::now();
            let h = d.search(q, None, 50).unwrap();
            samples.push(t.elapsed());
            hits = h.len();
            black_box(h);
            // Reference, interleaved: the FTS5 query alone (ids only, no snippets).
            let t = Instant::now();
            let rows: Vec<i64> = stmt
                .query_map([&m], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            raw_samples.push(t.elapsed());
            black_box(rows);
        }
        let (s, raw) = (Stats::of(samples), Stats::of(raw_samples));
        println!(
            "  search {q:?}: {matches} matching entries, {hits} returned: {}; raw FTS5 rank query {}",
            s.line(),
            raw.line()
        );
        report.row(
            "3",
            format!("search {q:?} ({matches} of {n} entries match; 50 returned with snippets; p50 / p99 / max of {repeats})"),
            s.pmm(),
            format!("raw FTS5 `MATCH … ORDER BY rank LIMIT 50`: {}", raw.pmm()),
            "≤ 10 ms",
            s.p99 <= target,
        );
    }
    drop(conn);
    drop(d);

    report.row(
        "4",
        format!("bytes on disk per entry ({n} entries, after checkpoint)"),
        format!(
            "{:.0} B/entry (store file {} B, WAL {} B)",
            disk.file as f64 / n as f64,
            disk.file,
            disk.wal
        ),
        format!(
            "raw text {:.0} B/entry (title + body + tags + check-in notes, {} B)",
            raw_bytes as f64 / n as f64,
            raw_bytes
        ),
        "(reported)",
        true,
    );
    report.row(
        "4",
        "of which: Automerge documents / outbox / rest (index, FTS, tables)".to_string(),
        format!(
            "docs {:.0} B/entry; outbox {:.0} B/entry ({outbox_blobs} blobs, {} B); rest {:.0} B/entry",
            (disk.doc_snapshot + disk.doc_chunks) as f64 / n as f64,
            disk.outbox as f64 / n as f64,
            disk.outbox,
            (disk.file as f64
                - (disk.doc_snapshot + disk.doc_chunks + disk.outbox) as f64)
                / n as f64
        ),
        "(payload bytes; page overhead is in the rest)".to_string(),
        "(reported)",
        true,
    );
}

// ---------------------------------------------------------------------------------------
// Bytes on disk.

#[derive(Debug, Default)]
struct DiskUse {
    file: u64,
    wal: u64,
    outbox: u64,
    doc_snapshot: u64,
    doc_chunks: u64,
    doc_chunks_n: u64,
    /// Bytes per table and index (dbstat), largest first.
    tables: Vec<(String, u64)>,
}

impl DiskUse {
    /// Checkpoint the WAL into the database (TRUNCATE), then measure. With `doc`, the
    /// document figures are that entry's; otherwise they are totals over all documents.
    fn measure(path: &Path, doc: Option<&EntryId>) -> DiskUse {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let q = |sql: &str| -> u64 {
            match doc {
                Some(id) => conn.query_row(sql, [id.to_string()], |r| r.get::<_, i64>(0)),
                None => conn.query_row(sql, [], |r| r.get::<_, i64>(0)),
            }
            .unwrap() as u64
        };
        let (doc_snapshot, doc_chunks, doc_chunks_n) = match doc {
            Some(_) => (
                q("SELECT coalesce(sum(length(snapshot)), 0) FROM docs WHERE doc_id = ?1"),
                q(
                    "SELECT coalesce(sum(length(c.data)), 0) FROM chunks c JOIN docs d ON d.rowid = c.doc WHERE d.doc_id = ?1",
                ),
                q(
                    "SELECT count(*) FROM chunks c JOIN docs d ON d.rowid = c.doc WHERE d.doc_id = ?1",
                ),
            ),
            None => (
                q("SELECT coalesce(sum(length(snapshot)), 0) FROM docs"),
                q("SELECT coalesce(sum(length(data)), 0) FROM chunks"),
                q("SELECT count(*) FROM chunks"),
            ),
        };
        let outbox: i64 = conn
            .query_row(
                // Queued changes are kept in the clear until pushed (sealed then).
                "SELECT coalesce(sum(coalesce(length(sealed), length(data) + length(doc) + length(kind))), 0) FROM outbox",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let tables = conn
            .prepare("SELECT name, sum(pgsize) AS b FROM dbstat GROUP BY name ORDER BY b DESC")
            .and_then(|mut s| {
                s.query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .unwrap_or_default();
        drop(conn);
        DiskUse {
            file: size(path),
            wal: size(Path::new(&wal)),
            outbox: outbox as u64,
            doc_snapshot,
            doc_chunks,
            doc_chunks_n,
            tables,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Timing, reporting, the machine.

struct Stats {
    n: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
    mean: Duration,
}

impl Stats {
    fn of(mut v: Vec<Duration>) -> Stats {
        assert!(!v.is_empty());
        v.sort();
        let n = v.len();
        let pct = |p: f64| percentile(&v, p).unwrap_or_default();
        Stats {
            n,
            p50: pct(0.50),
            p99: pct(0.99),
            max: v[n - 1],
            mean: v.iter().sum::<Duration>() / n as u32,
        }
    }
    fn line(&self) -> String {
        format!(
            "n={} p50 {} p99 {} max {} mean {}",
            self.n,
            ms(self.p50),
            ms(self.p99),
            ms(self.max),
            ms(self.mean)
        )
    }
    fn pmm(&self) -> String {
        format!("{} / {} / {}", ms(self.p50), ms(self.p99), ms(self.max))
    }
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1e3;
    if m < 1.0 {
        format!("{m:.3} ms")
    } else if m < 100.0 {
        format!("{m:.2} ms")
    } else {
        format!("{m:.0} ms")
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

struct Row {
    figure: &'static str,
    what: String,
    value: String,
    reference: String,
    target: String,
    met: bool,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn row(
        &mut self,
        figure: &'static str,
        what: String,
        value: String,
        reference: String,
        target: &str,
        met: bool,
    ) {
        self.rows.push(Row {
            figure,
            what,
            value,
            reference,
            target: target.to_string(),
            met,
        });
    }

    fn print(&self) {
        println!("| # | measurement | Duet | reference (same run) | target | met |");
        println!("|---|---|---|---|---|---|");
        for r in &self.rows {
            let met = if r.target.starts_with('(') {
                "—"
            } else if r.met {
                "yes"
            } else {
                "**no**"
            };
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.figure, r.what, r.value, r.reference, r.target, met
            );
        }
    }
}

fn section(name: &str) {
    println!();
    println!("### {name}   [load average {}]", loadavg());
}

fn print_machine() {
    let m = duet_e2e::bench::machine();
    println!(
        "# Duet benchmarks (duet-core {})",
        env!("CARGO_PKG_VERSION")
    );
    println!(
        "machine: nproc {}; CPU {} ({} MHz); memory {} kB; Linux {}; profile {}",
        m.nproc,
        m.cpu,
        m.mhz,
        m.memory_kib,
        m.kernel,
        if cfg!(debug_assertions) {
            "debug (numbers are meaningless)"
        } else {
            "release"
        }
    );
    println!(
        "temp dir: {}; load average at start {}",
        tmp_root().display(),
        loadavg()
    );
}

fn tempdir() -> tempfile::TempDir {
    duet_e2e::bench::tempdir("journal")
}

/// The durability modes to measure: `DUET_BENCH_MODES` = `full`, `normal` or both (default).
fn modes() -> Vec<Durability> {
    let m = std::env::var("DUET_BENCH_MODES").unwrap_or_default();
    let mut out = Vec::new();
    if m.is_empty() || m.contains("full") {
        out.push(Durability::Full);
    }
    if m.is_empty() || m.contains("normal") {
        out.push(Durability::Normal);
    }
    out
}

/// With `DUET_BENCH_SAMPLES=dir`, write a series of samples (µs, in call order) to
/// `dir/name.txt` for a closer look at the tail.
fn dump(name: &str, samples: &[Duration]) {
    if let Ok(dir) = std::env::var("DUET_BENCH_SAMPLES") {
        let text: String = samples
            .iter()
            .map(|d| format!("{:.1}\n", d.as_secs_f64() * 1e6))
            .collect();
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(format!("{name}.txt")), text);
    }
}
