//! Sync benchmarks: duet-core devices against a real `duet-relay` process (built
//! `--release` by the harness, since `cargo bench` runs an optimised build) on loopback.
//!
//! - `pull`: a new device joins a 10,000-entry journal (entries of ~500 characters, written
//!   on device A with `Durability::Normal` and pushed first): wall time of `join` plus the
//!   full pull, and the bytes on the wire — counted by a TCP proxy in front of the relay,
//!   both ways — against the sealed bytes the relay stores for the journal (target ≤ 1.15×);
//! - `live`: `create_entry` on A → B's `EntryListener` fires, both running `start_live`,
//!   with 1,000 other idle devices connected to the live channel (targets p50 ≤ 20 ms,
//!   p99 ≤ 100 ms).
//!
//! `cargo bench -p duet-e2e --bench sync [pull|live]`. Sizes can be changed with
//! `DUET_BENCH_ENTRIES`, `DUET_BENCH_IDLE` and `DUET_BENCH_WRITES`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use duet_core::*;
use duet_e2e::bench::{self, env_usize, ms};
use duet_e2e::device::{Device, device};
use duet_e2e::home::options;
use duet_e2e::proxy::TcpProxy;
use duet_e2e::relay::{LiveEvent, RelayProcess};
use duet_e2e::stats::percentile;
use duet_e2e::{SplitMix64, ok};
use futures_util::StreamExt;

fn main() {
    let filter = bench::filters().into_iter().next();
    let wanted = |name: &str| filter.as_deref().is_none_or(|f| name.contains(f));
    // A thousand sockets on each side of loopback (the relay, started afterwards, inherits
    // the limit).
    bench::raise_open_files_limit();
    let rt = bench::runtime();
    machine_info();
    if wanted("pull") {
        // 10,000 entries, then 1,000 (the size most couples' journals have), unless a size
        // is given.
        let sizes = match std::env::var("DUET_BENCH_ENTRIES") {
            Ok(_) => vec![env_usize("DUET_BENCH_ENTRIES", 10_000)],
            Err(_) => vec![10_000, 1_000],
        };
        for n in sizes {
            rt.block_on(pull(n));
        }
    }
    if wanted("live") {
        rt.block_on(live(
            env_usize("DUET_BENCH_IDLE", 1_000),
            env_usize("DUET_BENCH_WRITES", 500),
        ));
    }
}

fn machine_info() {
    let m = bench::machine();
    println!("== machine");
    println!("cpu: {}; nproc: {}", m.cpu, m.nproc);
    println!(
        "build: {}",
        if duet_e2e::relay::is_release() {
            "release (bench and relay)"
        } else {
            "DEBUG — numbers are not representative"
        }
    );
}

const VOCAB: &[&str] = &[
    "we",
    "talked",
    "about",
    "the",
    "weekend",
    "and",
    "how",
    "tired",
    "I",
    "felt",
    "after",
    "work",
    "you",
    "made",
    "coffee",
    "before",
    "I",
    "woke",
    "up",
    "which",
    "meant",
    "a",
    "lot",
    "to",
    "me",
    "our",
    "walk",
    "by",
    "the",
    "river",
    "was",
    "quiet",
    "gentle",
    "honest",
    "sometimes",
    "it",
    "is",
    "hard",
    "to",
    "say",
    "what",
    "I",
    "need",
    "thank",
    "you",
    "for",
    "listening",
    "tonight",
    "tomorrow",
    "let's",
    "plan",
    "dinner",
    "with",
    "your",
    "sister",
    "remember",
    "laughing",
    "kitchen",
    "rain",
    "garden",
    "morning",
    "café",
    "naïve",
    "brave",
];

/// ~500 characters of plausible journal prose.
fn prose(rng: &mut SplitMix64, chars: usize) -> String {
    let mut s = String::with_capacity(chars + 16);
    let mut sentence = 0;
    while s.chars().count() < chars {
        let w = *rng.pick(VOCAB);
        if sentence == 0 {
            let mut c = w.chars();
            if let Some(f) = c.next() {
                s.extend(f.to_uppercase());
                s.push_str(c.as_str());
            }
        } else {
            s.push_str(w);
        }
        sentence += 1;
        if sentence > 6 && rng.below(6) == 0 {
            s.push_str(". ");
            sentence = 0;
        } else {
            s.push(' ');
        }
    }
    s.trim_end().to_string() + "."
}

/// The sealed blobs the relay stores for a space: (count, bytes).
fn sealed_bytes(relay: &RelayProcess, space: &SpaceId) -> (u64, u64) {
    let db = ok(rusqlite::Connection::open(relay.db_path()), "open relay db");
    ok(db.busy_timeout(Duration::from_secs(10)), "busy timeout");
    ok(
        db.query_row(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM blobs WHERE space = ?1",
            [space.0.as_bytes().as_slice()],
            |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
        ),
        "sealed bytes",
    )
}

/// The padding's share of the sealed bytes of `space` on the relay: (sealed bytes, what
/// they would be unpadded). Each blob is opened with the key in `store` (a member's device
/// store) and measured up to the end of its one CBOR item, where the padding starts.
fn unpadded_bytes(relay: &RelayProcess, store: &Path, space: &SpaceId) -> (u64, u64) {
    let home = ok(rusqlite::Connection::open(store), "open device store");
    let keys: Vec<(u32, Vec<u8>)> = ok(
        home.prepare("SELECT epoch, key FROM space_keys WHERE space_id = ?1")
            .and_then(|mut st| {
                st.query_map([space.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            }),
        "space keys",
    );
    let db = ok(rusqlite::Connection::open(relay.db_path()), "open relay db");
    let blobs: Vec<(Vec<u8>, Vec<u8>)> = ok(
        db.prepare("SELECT blob_id, data FROM blobs WHERE space = ?1")
            .and_then(|mut st| {
                st.query_map([space.0.as_bytes().as_slice()], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()
            }),
        "blobs",
    );
    let (mut sealed, mut unpadded) = (0u64, 0u64);
    for (id, data) in blobs {
        let id: [u8; 16] = ok(id.as_slice().try_into(), "blob id");
        let epoch = ok(duet_core::crypto::epoch_of(&data), "epoch");
        let (_, key) = ok(
            keys.iter().find(|(e, _)| *e == epoch).ok_or("no key"),
            "key of the blob's epoch",
        );
        let key = ok(duet_core::SpaceKey::from_bytes(key), "key");
        let plain = ok(duet_core::crypto::open(&key, space, &id, &data), "open");
        let mut rest = plain.as_slice();
        let _: ciborium::Value = ok(ciborium::from_reader(&mut rest), "payload");
        sealed += data.len() as u64;
        unpadded += (data.len() - rest.len()) as u64;
    }
    (sealed, unpadded)
}

async fn pull(entries: usize) {
    println!("\n== pull: a new device joins a {entries}-entry journal");
    let dir = bench::tempdir("sync-pull");
    let relay = bench::relay(dir.path());
    // No snapshot until the bootstrap section asks for one: the first join pulls the log.
    let ada = device_with("Ada", &relay.url(), 0);
    let a = &ada.duet;
    let j = ok(a.create_journal("Us"), "journal");
    let mut rng = SplitMix64::new(42);
    let t = Instant::now();
    let mut chars = 0;
    for i in 0..entries {
        let body = prose(&mut rng, 470);
        let title = prose(&mut rng, 24);
        chars += body.chars().count() + title.chars().count();
        let kind = *rng.pick(&[
            EntryKind::Reflection,
            EntryKind::Appreciation,
            EntryKind::Vulnerability,
        ]);
        ok(
            a.create_entry(
                &j,
                NewEntry {
                    kind: Some(kind),
                    title,
                    body,
                    tags: if i % 3 == 0 {
                        vec![rng.pick(&["us", "work", "family", "weekend"]).to_string()]
                    } else {
                        Vec::new()
                    },
                    ..NewEntry::default()
                },
            ),
            "create entry",
        );
    }
    let written = t.elapsed();
    let t = Instant::now();
    let pushed = ok(a.sync_now().await, "push");
    println!(
        "A wrote {entries} entries ({:.0} chars each on average) in {:.1} s, pushed {} blobs in {:.1} s",
        chars as f64 / entries as f64,
        written.as_secs_f64(),
        pushed.pushed,
        t.elapsed().as_secs_f64()
    );
    let invite = ok(a.create_invite(&j, None).await, "invite");

    // B talks to the relay only through the counting proxy.
    let proxy = TcpProxy::start(relay.addr(), false).await;
    let ben = device_with("Ben", &proxy.url(), 0);
    let b = &ben.duet;
    let t = Instant::now();
    ok(b.join(&invite.code).await, "join");
    let joined = t.elapsed();
    let report = ok(b.sync_now().await, "sync");
    let total = t.elapsed();
    let (up, down) = proxy.bytes();
    // Everything in the journal's log once B is done (B's own few joining changes too).
    let (blobs, sealed) = sealed_bytes(&relay, &j);
    let have = ok(b.all_entries(&j), "all entries").len();
    assert_eq!(have, entries, "B has every entry");
    assert_eq!(report.quarantined, 0);
    let wire = up + down;
    let ratio = wire as f64 / sealed as f64;
    println!(
        "join + full pull: {:.2} s (join incl. pull {:.2} s; follow-up sync pulled {} more), \
         {:.0} entries/s",
        total.as_secs_f64(),
        joined.as_secs_f64(),
        report.pulled,
        entries as f64 / total.as_secs_f64()
    );
    println!(
        "wire bytes: {wire} ({up} up, {down} down); sealed bytes of the journal on the relay: \
         {sealed} in {blobs} blobs ({:.0} B per blob); wire / sealed = {ratio:.3}",
        sealed as f64 / blobs.max(1) as f64
    );
    println!(
        "pull wire-overhead target ≤ 1.15×: {}",
        if ratio <= 1.15 { "MET" } else { "NOT MET" }
    );
    let (padded, unpadded) = unpadded_bytes(&relay, &ada.store_path(), &j);
    println!(
        "padding (Padmé): {padded} sealed bytes, {unpadded} without the padding: +{:.1}%; \
         wire / unpadded sealed = {:.3}",
        (padded as f64 / unpadded as f64 - 1.0) * 100.0,
        wire as f64 / unpadded as f64
    );
    let full_target = if entries >= 10_000 { 4.0 } else { 0.5 };
    println!(
        "full pull without a snapshot: {:.3} ms per entry; target ≤ {full_target} s at this \
         size: {}",
        total.as_secs_f64() * 1000.0 / entries as f64,
        met(total.as_secs_f64() <= full_target)
    );
    let (one, two) = automerge_alone(&ben.store_path());
    println!(
        "reference (same run): Automerge alone loading B's {entries} entry documents as stored: \
         {:.3} s on one core, {:.3} s on two ({:.3} ms per entry)",
        one.as_secs_f64(),
        two.as_secs_f64(),
        two.as_secs_f64() * 1000.0 / entries as f64
    );
    bootstrap(&relay, a, &ben, &j, entries).await;
}

/// The floor under a full pull: every entry document in a device's store loaded with plain
/// Automerge (no opening, indexing or SQLite), on one core and split over two.
fn automerge_alone(store: &Path) -> (Duration, Duration) {
    let home = ok(rusqlite::Connection::open(store), "open device store");
    let rows: Vec<(i64, Vec<u8>)> = ok(
        home.prepare(
            "SELECT c.doc, c.data FROM chunks c JOIN docs d ON d.rowid = c.doc
              WHERE d.kind = 'entry' ORDER BY c.doc, c.seq",
        )
        .and_then(|mut st| {
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()
        }),
        "entry documents",
    );
    let mut docs: Vec<Vec<u8>> = Vec::new();
    let mut last = None;
    for (doc, data) in rows {
        match docs.last_mut() {
            Some(d) if last == Some(doc) => d.extend_from_slice(&data),
            _ => docs.push(data),
        }
        last = Some(doc);
    }
    let load = |part: &[Vec<u8>]| {
        for d in part {
            std::hint::black_box(ok(automerge::AutoCommit::load(d), "load a document"));
        }
    };
    let t = Instant::now();
    load(&docs);
    let one = t.elapsed();
    let t = Instant::now();
    let (a, b) = docs.split_at(docs.len() / 2);
    std::thread::scope(|s| {
        s.spawn(|| load(a));
        load(b);
    });
    (one, t.elapsed())
}

/// A device whose syncs upload a journal snapshot every `every` blobs (0: never).
fn device_with(name: &str, relay_url: &str, every: u64) -> Device {
    let opts = Options {
        snapshot_every_blobs: every,
        ..options()
    };
    duet_e2e::device::device_with(name, relay_url, opts)
}

fn met(yes: bool) -> &'static str {
    if yes { "MET" } else { "NOT MET" }
}

/// Ada uploads a snapshot of the journal; Ben links a new phone, which installs it: time
/// from the start of the link's join to the newest 50 entries listed with their bodies, to
/// a search answering, and to every document loaded (the phone's first sync).
async fn bootstrap(relay: &RelayProcess, a: &Duet, ben: &Device, j: &SpaceId, entries: usize) {
    let t = Instant::now();
    let seq = ok(a.upload_snapshot(j).await, "upload a snapshot");
    let uploaded = t.elapsed();
    let db = ok(rusqlite::Connection::open(relay.db_path()), "open relay db");
    ok(db.busy_timeout(Duration::from_secs(10)), "busy timeout");
    let bytes: i64 = ok(
        db.query_row(
            "SELECT length(data) FROM snapshots WHERE space = ?1",
            [j.0.as_bytes().as_slice()],
            |r| r.get(0),
        ),
        "the snapshot's size",
    );
    println!(
        "snapshot: covers {seq} blobs, {bytes} sealed bytes ({:.0} B per entry), uploaded by A \
         in {:.2} s (sync included)",
        bytes as f64 / entries as f64,
        uploaded.as_secs_f64()
    );
    let link = ok(ben.duet.link_device(None).await, "a device-link code");
    let dir = bench::tempdir("sync-phone");
    let t = Instant::now();
    let phone = ok(
        Duet::join_device(dir.path(), &link.uri, None, options()).await,
        "link a new phone",
    );
    let joined = t.elapsed();
    let page = ok(
        phone.list_entries(&EntryQuery {
            journal: Some(*j),
            limit: Some(50),
            ..EntryQuery::default()
        }),
        "list the newest 50",
    );
    let mut chars = 0;
    for s in &page.items {
        chars += ok(phone.get_entry(&s.id), "an entry in full").body.len();
    }
    let newest = t.elapsed();
    assert_eq!(page.items.len(), 50);
    assert!(chars > 0);
    let hits = ok(phone.search("garden", Some(j), 20), "search");
    let searchable = t.elapsed();
    assert!(!hits.is_empty());
    let to_load = ok(phone.documents_to_load(), "documents to load");
    ok(phone.sync_now().await, "the phone's first sync");
    let loaded = t.elapsed();
    assert_eq!(ok(phone.documents_to_load(), "documents to load"), 0);
    assert_eq!(ok(phone.all_entries(j), "all entries").len(), entries);
    let (newest_target, search_target) = if entries >= 10_000 {
        (1.0, 3.0)
    } else {
        (0.3, 0.5)
    };
    println!(
        "new phone from the snapshot: joined in {:.3} s; newest 50 listed with their bodies at \
         {:.3} s (target ≤ {newest_target} s: {}); searchable at {:.3} s (target ≤ \
         {search_target} s: {}); every document loaded at {:.3} s ({to_load} loaded after the \
         join)",
        joined.as_secs_f64(),
        newest.as_secs_f64(),
        met(newest.as_secs_f64() <= newest_target),
        searchable.as_secs_f64(),
        met(searchable.as_secs_f64() <= search_target),
        loaded.as_secs_f64(),
    );
}

struct Arrivals(tokio::sync::mpsc::UnboundedSender<(EntryId, Instant)>);

impl EntryListener for Arrivals {
    fn on_event(&self, e: &EntryEvent) {
        if e.origin == Origin::Remote && e.kind == EntryEventKind::Added {
            let _ = self.0.send((e.entry, Instant::now()));
        }
    }
}

/// `n` idle devices (couples sharing a space, as real ones would), each holding its live
/// WebSocket open and answering pings; returns the tasks and how many connections ended.
async fn idle_devices(
    base: &str,
    n: usize,
) -> (
    Vec<tokio::task::JoinHandle<()>>,
    Arc<std::sync::atomic::AtomicUsize>,
) {
    let clients = bench::register_many(base, n, 32).await;
    for pair in clients.chunks(2) {
        let space = ok(pair[0].new_space().await, "space");
        if let Some(other) = pair.get(1) {
            ok(pair[0].invite_into(space, other).await, "member");
        }
    }
    let ended = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let conns: Vec<_> = futures_util::stream::iter(clients)
        .map(|c| async move { ok(c.live().await, "idle live connection") })
        .buffer_unordered(32)
        .collect()
        .await;
    let tasks = conns
        .into_iter()
        .map(|mut conn| {
            let ended = ended.clone();
            tokio::spawn(async move {
                loop {
                    match conn.recv(Duration::from_secs(3600)).await {
                        LiveEvent::Frame(_) | LiveEvent::Timeout => {}
                        LiveEvent::Closed => {
                            ended.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    (tasks, ended)
}

async fn live(idle: usize, writes: usize) {
    const WARMUP: usize = 30;
    println!(
        "\n== live: create_entry on A → B's EntryListener, both live, {idle} other devices connected"
    );
    let dir = bench::tempdir("sync-live");
    let relay = bench::relay(dir.path());
    let base = relay.url();
    let t = Instant::now();
    let (idle_tasks, ended) = idle_devices(&base, idle).await;
    println!(
        "{idle} idle devices registered and connected in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (ada, ben) = (device("Ada", &base), device("Ben", &base));
    let (a, b) = (&ada.duet, &ben.duet);
    let j = ok(a.create_journal("Us"), "journal");
    let invite = ok(a.create_invite(&j, None).await, "invite");
    ok(b.join(&invite.code).await, "join");
    ok(a.sync_now().await, "sync");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let _sub = b.subscribe(Arc::new(Arrivals(tx)));
    let la = ok(a.start_live(), "live A");
    let lb = ok(b.start_live(), "live B");
    // Wait until both live channels are up: an entry goes through.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut rng = SplitMix64::new(7);
    let mut lat = Vec::with_capacity(writes);
    for i in 0..writes + WARMUP {
        let body = prose(&mut rng, 470);
        let t0 = Instant::now();
        let id = ok(
            a.create_entry(
                &j,
                NewEntry {
                    kind: Some(EntryKind::Reflection),
                    title: format!("live {i}"),
                    body,
                    ..NewEntry::default()
                },
            ),
            "create entry",
        );
        let at = loop {
            let (got, at) = ok(
                tokio::time::timeout(Duration::from_secs(30), rx.recv()).await,
                "B heard within 30 s",
            )
            .expect("listener channel open");
            if got == id {
                break at;
            }
        };
        if i >= WARMUP {
            lat.push(at.duration_since(t0));
        }
        // A person writes, then pauses: don't measure a queue.
        tokio::time::sleep(Duration::from_millis(5 + rng.below(15) as u64)).await;
    }
    la.stop().await;
    lb.stop().await;
    let closed = ended.load(std::sync::atomic::Ordering::Relaxed);
    lat.sort();
    let pct = |p: f64| percentile(&lat, p).unwrap_or_default();
    let (p50, p90, p99) = (pct(0.5), pct(0.9), pct(0.99));
    println!(
        "latency: {} writes (after {WARMUP} warm-up); p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, \
         max {:.2} ms; idle connections dropped meanwhile: {closed}",
        lat.len(),
        ms(p50),
        ms(p90),
        ms(p99),
        ms(lat.last().copied().unwrap_or_default()),
    );
    println!(
        "live latency targets p50 ≤ 20 ms, p99 ≤ 100 ms: {}",
        if p50 <= Duration::from_millis(20) && p99 <= Duration::from_millis(100) {
            "MET"
        } else {
            "NOT MET"
        }
    );
    for t in idle_tasks {
        t.abort();
    }
}
