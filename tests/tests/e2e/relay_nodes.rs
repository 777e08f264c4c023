//! Scale-out: two `duet-relay` nodes on one PostgreSQL database, each client behind a
//! failover balancer that prefers "its" node — partner A on node 1, partner B on node 2.
//! Offline writes and concurrent edits converge across nodes, a live event crosses nodes,
//! and a node killed with SIGKILL in the middle of a burst loses nothing it acknowledged
//! while the clients carry on through the other node.
//!
//! Needs PostgreSQL: `scripts/test` starts a throwaway server and sets
//! `DUET_TEST_DATABASE_URL` (see `duet_e2e::pg`).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet_core::EntryKind::Reflection;
use duet_core::*;
use duet_e2e::balancer::Balancer;
use duet_e2e::device::device;
use duet_e2e::home::Author;
use duet_e2e::listen::Recorder;
use duet_e2e::pg;
use duet_e2e::relay::{Client, LiveEvent, RelayProcess, random_blob};
use duet_e2e::scenario::{self, MORNINGS, MORNINGS_MERGED};
use duet_e2e::wait::eventually;
use duet_proto::live::ServerFrame;

/// Every entry of a journal: id → (title, body).
fn journal(d: &Duet, j: &SpaceId) -> BTreeMap<EntryId, (String, String)> {
    let mut out = BTreeMap::new();
    let mut q = EntryQuery {
        journal: Some(*j),
        limit: Some(200),
        ..Default::default()
    };
    loop {
        let page = d.list_entries(&q).unwrap();
        for e in page.items {
            let full = d.get_entry(&e.id).unwrap();
            out.insert(e.id, (full.title, full.body));
        }
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => return out,
        }
    }
}

/// Sync until it succeeds (a node may be down for a moment; the balancer moves on).
async fn sync_ok(d: &Duet) -> SyncReport {
    let mut last = None;
    for _ in 0..50 {
        match d.sync_now().await {
            Ok(r) => return r,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("sync kept failing: {last:?}");
}

/// Two nodes on a fresh database; balancers preferring node 1 (for A) and node 2 (for B).
async fn two_nodes(
    dirs: &tempfile::TempDir,
) -> Option<(RelayProcess, RelayProcess, Balancer, Balancer)> {
    two_nodes_on(dirs)
        .await
        .map(|(n1, n2, b1, b2, _)| (n1, n2, b1, b2))
}

async fn two_nodes_on(
    dirs: &tempfile::TempDir,
) -> Option<(RelayProcess, RelayProcess, Balancer, Balancer, String)> {
    let server = pg::server_url()?;
    let url = pg::fresh_database(&server).await;
    let args = ["--database-url", url.as_str()];
    let n1 = RelayProcess::start_with(&dirs.path().join("node1"), &args);
    let n2 = RelayProcess::start_with(&dirs.path().join("node2"), &args);
    let to_1 = Balancer::start(vec![n1.addr(), n2.addr()]).await;
    let to_2 = Balancer::start(vec![n2.addr(), n1.addr()]).await;
    Some((n1, n2, to_1, to_2, url))
}

/// The next `new` frame's (space, seq, inline?).
async fn next_new(live: &mut duet_e2e::relay::LiveConn) -> (uuid::Uuid, u64, bool) {
    let (space, seq, blob) = live.next_new(Duration::from_secs(10)).await;
    (space, seq, blob.is_some())
}

/// Protocol level, across nodes: joining (through node 1) makes a device's live connection
/// on node 2 hear the space; small blobs arrive inline, big ones by number; removal and
/// revocation (through node 1) silence and close it on node 2. When a node's LISTEN
/// connection is cut, its live clients are sent away to reconnect and pull — and then hear
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memberships_and_announcements_cross_nodes() {
    let dirs = tempfile::tempdir().unwrap();
    let Some((_n1, _n2, to_1, to_2, url)) = two_nodes_on(&dirs).await else {
        return;
    };
    let a = Client::register(&to_1.url()).await.unwrap();
    let b = Client::register(&to_2.url()).await.unwrap();
    let space = a.new_space().await.unwrap();
    // B's live connection (node 2) opens before B is a member of anything.
    let mut live = b.live().await.unwrap();
    let secret = a.invite(space, None).await.unwrap();
    // B joins through node 1 (its own balancer would pick node 2).
    let b_via_1 = b.with_base(&to_1.url());
    b_via_1.join(secret.invite_id, &secret.token).await.unwrap();
    a.push(space, &[random_blob(100)]).await.unwrap();
    assert_eq!(next_new(&mut live).await, (space, 1, true));
    // Three small and one too big to travel in a notification: the small ones inline,
    // then the last number, which is enough for a client to pull up to.
    let mut batch: Vec<_> = (0..3).map(|_| random_blob(200)).collect();
    batch.push(random_blob(7_000));
    a.push(space, &batch).await.unwrap();
    for seq in 2..=4 {
        assert_eq!(next_new(&mut live).await, (space, seq, true));
    }
    assert_eq!(next_new(&mut live).await, (space, 5, false));

    // The LISTEN connections are cut: node 2 sends its live clients away...
    assert!(pg::cut_listeners(&url).await >= 2);
    assert!(matches!(
        live.recv(Duration::from_secs(10)).await,
        LiveEvent::Closed | LiveEvent::Frame(ServerFrame::Error { .. })
    ));
    // ... and once they are back, they hear again (the node listens again).
    let mut live = b.live().await.unwrap();
    let mut heard = false;
    for _ in 0..50 {
        let pushed = a.push(space, &[random_blob(10)]).await.unwrap();
        if let LiveEvent::Frame(ServerFrame::New { seq, .. }) =
            live.recv(Duration::from_millis(200)).await
        {
            assert!(seq <= pushed.head);
            heard = true;
            break;
        }
    }
    assert!(
        heard,
        "node 2 never heard node 1 again after its listener was cut"
    );

    // Removal through node 1 silences B's connection on node 2.
    a.remove_member(space, b.device_id).await.unwrap();
    a.push(space, &[random_blob(10)]).await.unwrap();
    assert!(matches!(
        live.recv(Duration::from_millis(500)).await,
        LiveEvent::Timeout
    ));
    // Revocation through node 1 closes it.
    let c = Client::register(&to_2.url()).await.unwrap();
    let mut c_live = c.live().await.unwrap();
    c.with_base(&to_1.url()).revoke(c.device_id).await.unwrap();
    assert!(matches!(
        c_live.recv(Duration::from_secs(10)).await,
        LiveEvent::Closed | LiveEvent::Frame(ServerFrame::Error { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_on_two_nodes_converge_and_hear_each_other_live() {
    let dirs = tempfile::tempdir().unwrap();
    let Some((_n1, _n2, to_1, to_2)) = two_nodes(&dirs).await else {
        return;
    };
    let a = device("Ada", &to_1.url());
    let b = device("Ben", &to_2.url());
    let j = a.duet.create_journal("Us").unwrap();
    let invite = a.duet.create_invite(&j, None).await.unwrap();
    assert_eq!(b.duet.join(&invite.code).await.unwrap(), j);
    let shared = a.duet.write(&j, Reflection, "mornings", MORNINGS);
    sync_ok(&a.duet).await;
    sync_ok(&b.duet).await;
    assert_eq!(b.duet.get_entry(&shared).unwrap().body, MORNINGS);

    // Offline: both write, and both edit the same body.
    let from_a = a.duet.write(&j, Reflection, "bus", "written on the bus");
    let from_b = b.duet.write(&j, Reflection, "lunch", "written at lunch");
    scenario::rewrite_mornings(&a.duet, &b.duet, &shared);
    for d in [&a, &b, &a, &b] {
        sync_ok(&d.duet).await;
    }
    let on_a = journal(&a.duet, &j);
    assert_eq!(on_a, journal(&b.duet, &j));
    assert!(on_a.contains_key(&from_a) && on_a.contains_key(&from_b));
    assert_eq!(on_a[&shared].1, MORNINGS_MERGED);
    // Each really went through its own node.
    assert_eq!(to_1.forwarded()[1], 0, "A only ever reached node 1");
    assert_eq!(to_2.forwarded()[1], 0, "B only ever reached node 2");

    // Live across nodes: B listens on node 2; A writes through node 1.
    let heard = Arc::new(Recorder::default());
    let _e = b.duet.subscribe(heard.clone());
    let _s = b.duet.subscribe_sync(heard.clone());
    let _lb = b.duet.start_live().unwrap();
    eventually("B's live channel", Duration::from_secs(20), || {
        heard.states().contains(&SyncState::Live)
    })
    .await;
    let live = a.duet.write(&j, Reflection, "live", "hello across nodes");
    sync_ok(&a.duet).await;
    heard.until_remote(live, Duration::from_secs(10)).await;
    assert_eq!(b.duet.get_entry(&live).unwrap().body, "hello across nodes");
}

/// Protocol level: a burst of pushes through node 1, which is killed with SIGKILL in the
/// middle. Every blob node 1 acknowledged is in the log (read through node 2), numbers
/// stay gap-free, and the pushers finish through node 2. Then the apps: A (on node 1)
/// carries on through node 2 and B receives everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_burst_loses_nothing_acknowledged() {
    let dirs = tempfile::tempdir().unwrap();
    let Some((mut n1, _n2, to_1, to_2)) = two_nodes(&dirs).await else {
        return;
    };

    // Apps first, so they share the journal before the burst.
    let a = device("Ada", &to_1.url());
    let b = device("Ben", &to_2.url());
    let j = a.duet.create_journal("Us").unwrap();
    let invite = a.duet.create_invite(&j, None).await.unwrap();
    b.duet.join(&invite.code).await.unwrap();
    sync_ok(&a.duet).await;

    // Raw pushers through node 1's balancer (each its own HTTP connections).
    let owner = Client::register(&to_1.url()).await.unwrap();
    let space = owner.new_space().await.unwrap();
    let mut pushers = Vec::new();
    for _ in 0..3 {
        let c = Client::register(&to_1.url()).await.unwrap();
        owner.admit_own_device(space, &c).await.unwrap();
        pushers.push(c);
    }
    // Long enough that node 1 dies well inside it even when the machine is busy and the
    // apps' writes below are slow: it is killed once a tenth of it is acknowledged.
    const BATCHES: usize = 200;
    let acked = Arc::new(Mutex::new(Vec::<(u64, Vec<u8>)>::new()));
    let mut tasks = Vec::new();
    for c in pushers {
        let acked = acked.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = 0;
            let mut pushed = 0;
            while pushed < BATCHES {
                let blobs: Vec<_> = (0..5).map(|_| random_blob(120)).collect();
                match c.push(space, &blobs).await {
                    Ok(p) => {
                        let mut a = acked.lock().unwrap();
                        a.extend(p.seqs.iter().copied().zip(blobs.into_iter().map(|b| b.id)));
                        pushed += 1;
                    }
                    // Node 1 died under us: not acknowledged, so nothing is owed; retry
                    // (the balancer now sends new connections to node 2).
                    Err(_) => {
                        failures += 1;
                        assert!(failures < 200, "pushes never resumed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            failures
        }));
    }
    // The apps write during the burst too; node 1 is killed as soon as a tenth of the
    // burst is acknowledged, between two of their writes (or after them, on a fast day).
    let tenth = || acked.lock().unwrap().len() >= 3 * BATCHES * 5 / 10;
    let mut at_kill = None;
    let mut written = Vec::new();
    for i in 0..10 {
        let title = format!("burst {i}");
        written.push(a.duet.write(&j, Reflection, &title, "during the burst"));
        let _ = a.duet.sync_now().await;
        if at_kill.is_none() && tenth() {
            n1.kill_9();
            at_kill = Some(acked.lock().unwrap().len());
        }
    }
    let at_kill = match at_kill {
        Some(n) => n,
        None => {
            eventually("a tenth of the burst", Duration::from_secs(30), tenth).await;
            n1.kill_9();
            acked.lock().unwrap().len()
        }
    };
    assert!(
        at_kill < 3 * BATCHES * 5,
        "node 1 died mid-burst ({at_kill} acknowledged)"
    );
    let mut failures = 0;
    for t in tasks {
        failures += t.await.unwrap();
    }
    eprintln!("pushes refused or cut while node 1 died: {failures}");

    // Everything acknowledged is there, read through node 2, numbered without gaps.
    let reader = Client::register(&to_2.url()).await.unwrap();
    owner.invite_into(space, &reader).await.unwrap();
    let log = reader.pull_all(space).await.unwrap();
    let seqs: Vec<u64> = log.iter().map(|b| b.seq).collect();
    assert_eq!(seqs, (1..=log.len() as u64).collect::<Vec<_>>(), "gap-free");
    let in_log: HashSet<(u64, Vec<u8>)> = log.into_iter().map(|b| (b.seq, b.id)).collect();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), 3 * BATCHES * 5);
    for x in acked.iter() {
        assert!(in_log.contains(x), "acknowledged blob {} lost", x.0);
    }

    // The apps carry on through node 2: A's queued writes go out, B gets all of them.
    written.push(a.duet.write(&j, Reflection, "after", "after node 1 died"));
    sync_ok(&a.duet).await;
    assert_eq!(a.duet.outbox_len().unwrap(), 0);
    sync_ok(&b.duet).await;
    let on_b = journal(&b.duet, &j);
    for id in &written {
        assert!(on_b.contains_key(id), "{id} never reached B");
    }
    assert_eq!(journal(&a.duet, &j), on_b);
    assert!(to_1.forwarded()[1] > 0, "A's traffic moved to node 2");
}
