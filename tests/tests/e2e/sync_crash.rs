//! The relay is killed with SIGKILL in the middle of a burst of pushes from both partners'
//! devices (each writes entries and edits in one task and calls `sync_now` in a loop in
//! another) and restarted on the same address and data directory, several times. Nothing a
//! device pushed (took out of its outbox) is lost, and afterwards every device — and a new
//! one that has only the relay to learn from — shows the same journal, with nothing left
//! to push.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::Author;
use duet_e2e::wait::eventually;
use duet_e2e::{SplitMix64, WORDS, store};

const KILLS: usize = 4;

/// What one device wrote: its own entries' final title, body and trash state, and what it
/// typed into the shared entry and replied there.
#[derive(Default)]
struct Expected {
    mine: BTreeMap<EntryId, (String, String, bool)>,
    typed: Vec<String>,
    replies: Vec<String>,
}

/// Record every blob that leaves a device's outbox (a push the relay acknowledged), with a
/// trigger in the device's own store: the test's view of "pushed successfully".
fn log_pushes(db: &std::path::Path) {
    store::open(db).execute_batch(
        "CREATE TABLE test_pushed (blob_id BLOB NOT NULL, space_id TEXT NOT NULL);
         CREATE TRIGGER test_pushed_log AFTER DELETE ON outbox
         BEGIN INSERT INTO test_pushed (blob_id, space_id) VALUES (old.blob_id, old.space_id); END;",
    )
    .unwrap();
}

/// (space, blob id) of every blob the device has taken out of its outbox so far.
fn pushed(db: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let sql = "SELECT space_id, blob_id FROM test_pushed";
    store::rows(db, sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
}

/// Every blob any device has pushed is in the relay's log (read with that device's token).
async fn assert_nothing_pushed_is_lost(relay: &str, devices: &[&Device]) -> usize {
    let mut checked = 0;
    for d in devices {
        let client = d.raw_client(relay);
        let pushed = pushed(&d.store_path());
        let spaces: HashSet<&String> = pushed.iter().map(|(s, _)| s).collect();
        for space in spaces {
            let log = client.pull_all(space.parse().unwrap()).await.unwrap();
            let on_relay: HashSet<Vec<u8>> = log.into_iter().map(|b| b.id).collect();
            for (s, id) in pushed.iter().filter(|(s, _)| s == space) {
                assert!(
                    on_relay.contains(id),
                    "a blob that {} pushed to space {s} is not on the relay any more",
                    d.duet.identity().name
                );
                checked += 1;
            }
        }
    }
    checked
}

#[derive(Default)]
struct Stats {
    writes: AtomicU64,
    syncs_ok: AtomicU64,
    syncs_offline: AtomicU64,
    unexpected: Mutex<Vec<String>>,
}

/// Write entries, edits, replies, check-ins, deletes and restores until `stop`.
async fn writer(
    duet: Arc<Duet>,
    journal: SpaceId,
    shared: EntryId,
    tag: &'static str,
    seed: u64,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
) -> Expected {
    let me = tag;
    let mut rng = SplitMix64::new(seed);
    let mut out = Expected::default();
    let mine = &mut out.mine;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let ids: Vec<EntryId> = mine.keys().copied().collect();
        match rng.below(10) {
            0..=2 => {
                let title = format!("{me} #{n}");
                let body = format!("{} {}", rng.pick(WORDS), n);
                let id = duet.write(&journal, EntryKind::Reflection, &title, &body);
                mine.insert(id, (title, body, false));
            }
            3..=4 if !ids.is_empty() => {
                let id = *rng.pick(&ids);
                let e = mine.get_mut(&id).unwrap();
                if !e.2 {
                    e.1 = format!("{} {}", e.1, rng.pick(WORDS));
                    duet.set_text(&id, TextField::Body, &e.1).unwrap();
                }
            }
            5 if !ids.is_empty() => {
                let id = *rng.pick(&ids);
                let e = mine.get_mut(&id).unwrap();
                if !e.2 {
                    e.0 = format!("{} (edited {n})", e.0);
                    duet.set_text(&id, TextField::Title, &e.0).unwrap();
                }
            }
            6 => {
                // Everyone types into the shared entry at once. At its start: a position read
                // before a sync applies a partner's words in the middle would be stale.
                let word = format!("[{me}-{n}]");
                duet.splice_text(&shared, TextField::Body, 0, 0, &word)
                    .unwrap();
                out.typed.push(word);
            }
            7 => {
                let text = format!("{me} replies {n}");
                duet.reply(&shared, &text).unwrap();
                out.replies.push(text);
            }
            8 if !ids.is_empty() => {
                let id = *rng.pick(&ids);
                let e = mine.get_mut(&id).unwrap();
                if e.2 {
                    duet.restore_entry(&id).unwrap();
                } else {
                    duet.delete_entry(&id).unwrap();
                }
                e.2 = !e.2;
            }
            _ => {
                duet.check_in(
                    &journal,
                    CheckIn {
                        mood: 1 + rng.below(5) as u8,
                        closeness: 1 + rng.below(5) as u8,
                        needs: format!("{me} needs {n}"),
                        gratitude: String::new(),
                    },
                )
                .unwrap();
            }
        }
        stats.writes.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(rng.range(5, 25))).await;
    }
    out
}

/// Call `sync_now` over and over until `stop`; the relay going away may only ever show as
/// `offline`.
async fn syncer(duet: Arc<Duet>, stop: Arc<AtomicBool>, stats: Arc<Stats>) {
    while !stop.load(Ordering::Relaxed) {
        match duet.sync_now().await {
            Ok(_) => {
                stats.syncs_ok.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) if e.code() == ErrorCode::Offline => {
                stats.syncs_offline.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            Err(e) => {
                stats.unexpected.lock().unwrap().push(format!(
                    "{}: {} ({e})",
                    duet.identity().name,
                    e.code()
                ));
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn relay_killed_during_a_burst_of_pushes_loses_nothing() {
    let seed = SplitMix64::seed_from_time();
    eprintln!("seed {seed}");
    let mut rng = SplitMix64::new(seed);
    // Four devices push in a tight loop: lift the per-device rate limit out of the way.
    let lifted = ["--pushes-per-minute", "1000000"];
    let Partners { mut relay, a, b, j } = Partners::start_with(&lifted).await;
    let url = relay.url();
    let a2 = second_device(&a).await;
    let b2 = second_device(&b).await;
    let shared = a.duet.write(&j, EntryKind::Reflection, "ours", "We");
    let devices = [&a, &a2, &b, &b2];
    let duets: Vec<&Duet> = devices.iter().map(|d| &*d.duet).collect();
    sync_until_converged(&duets, &j, 5).await;
    for d in devices {
        log_pushes(&d.store_path());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(Stats::default());
    let mut writers = Vec::new();
    let mut syncers = Vec::new();
    for (d, tag) in devices.iter().zip(["A1", "A2", "B1", "B2"]) {
        writers.push(tokio::spawn(writer(
            d.duet.clone(),
            j,
            shared,
            tag,
            rng.next_u64(),
            stop.clone(),
            stats.clone(),
        )));
        syncers.push(tokio::spawn(syncer(
            d.duet.clone(),
            stop.clone(),
            stats.clone(),
        )));
    }

    let mut checked = 0;
    for kill in 0..KILLS {
        // Let the devices get some syncs through between kills, then kill at a random
        // moment of the burst.
        let mark = stats.syncs_ok.load(Ordering::Relaxed);
        let what = format!("two syncs succeeding before kill {kill}");
        eventually(&what, Duration::from_secs(30), || {
            stats.syncs_ok.load(Ordering::Relaxed) >= mark + 2
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.range(100, 600))).await;
        let offline_before = stats.syncs_offline.load(Ordering::Relaxed);
        relay.kill_9();
        // Let the burst run into the dead relay for a moment: a random 100–400 ms, and at
        // least until one sync has (on a loaded machine a sync can outlast the window).
        tokio::time::sleep(Duration::from_millis(rng.range(100, 400))).await;
        let what = format!("a sync running into the relay killed for the {kill}. time");
        eventually(&what, Duration::from_secs(30), || {
            stats.syncs_offline.load(Ordering::Relaxed) > offline_before
        })
        .await;
        tokio::task::block_in_place(|| relay.restart_same_port());
        assert_eq!(relay.url(), url, "the relay came back on another address");
        let n = assert_nothing_pushed_is_lost(&url, &devices).await;
        assert!(n >= checked, "the push log shrank");
        checked = n;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut expected = Vec::new();
    for w in writers {
        expected.push(w.await.unwrap());
    }
    for s in syncers {
        s.await.unwrap();
    }
    let unexpected = stats.unexpected.lock().unwrap().clone();
    assert!(
        unexpected.is_empty(),
        "unexpected sync errors: {unexpected:?}"
    );
    let writes = stats.writes.load(Ordering::Relaxed);
    let offline = stats.syncs_offline.load(Ordering::Relaxed);
    eprintln!(
        "{writes} writes, {} syncs ok, {offline} offline, {checked} pushes checked during the kills",
        stats.syncs_ok.load(Ordering::Relaxed)
    );
    assert!(writes >= 100, "the burst was too small: {writes} writes");
    assert!(offline > 0, "no sync ever ran into the killed relay");
    assert!(checked >= 40, "too few pushes before the kills: {checked}");

    // Everything converges once the relay stays up; nothing is left to push.
    sync_until_converged(&duets, &j, 10).await;
    let checked = assert_nothing_pushed_is_lost(&url, &devices).await;
    let all = a.duet.all_entries(&j).unwrap();
    for d in &duets {
        assert_eq!(d.outbox_len().unwrap(), 0);
        assert!(d.quarantined().unwrap().is_empty(), "{:?}", d.quarantined());
        d.integrity_check().unwrap();
    }
    // A device that has only the relay to learn from sees the same journal: every blob of
    // every device reached the relay and stayed there.
    let fresh = second_device(&b).await;
    fresh.duet.sync_now().await.unwrap();
    assert_eq!(fresh.duet.all_entries(&j).unwrap(), all);
    // Each device's own entries read exactly as it last wrote them.
    let mut own = 0;
    let shared = all.iter().find(|e| e.id == shared).unwrap();
    for exp in &expected {
        for (id, (title, body, deleted)) in &exp.mine {
            let e = all.iter().find(|e| e.id == *id).expect("an entry was lost");
            assert_eq!((&e.title, &e.body, e.deleted), (title, body, *deleted));
            own += 1;
        }
        // Every word typed into the shared entry and every reply survived.
        for w in &exp.typed {
            assert!(
                shared.body.contains(w.as_str()),
                "lost {w:?} from the shared entry"
            );
        }
        for r in &exp.replies {
            assert!(
                shared.replies.iter().any(|x| x.body == *r),
                "lost the reply {r:?}"
            );
        }
    }
    eprintln!(
        "{} entries ({own} tracked exactly), {checked} pushes found on the relay",
        all.len()
    );
}
