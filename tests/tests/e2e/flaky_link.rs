//! A train's network: a link that cuts every connection after a few kilobytes, delays,
//! resets and refuses, or goes down altogether. Sync moves in pages and batches bounded by
//! bytes (smaller after a cut, larger after a success), each acknowledged one is kept, so
//! repeated `sync` calls get a whole journal through with nothing lost; the live channel
//! comes back by itself and resumes from its cursor.

use std::sync::Arc;
use std::time::Duration;

use duet_core::*;
use duet_e2e::listen::Recorder;
use duet_e2e::proxy::{Faults, FaultyProxy};
use duet_e2e::relay::RelayProcess;
use duet_e2e::wait::eventually;

use duet_e2e::device::*;
use duet_e2e::home::entry;

/// Ben's device syncs a 300-entry journal (and pushes 40 entries of his own) through a link
/// that cuts every connection after a random 2–64 KB; both devices end up agreeing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_syncs_to_completion_through_a_link_that_keeps_dropping() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let url = relay.url();
    let (a, b, j) = partners(&url, "Ada", "Ben", "Us").await;
    b.duet.sync_now().await.unwrap();

    // Ada, on a good link, writes 300 entries of a few hundred bytes.
    for i in 0..300 {
        let body = format!(
            "entry {i}: {}",
            "we walked by the river and talked. ".repeat(12)
        );
        a.duet
            .create_entry(&j, entry(EntryKind::Reflection, &format!("day {i}"), &body))
            .unwrap();
    }
    a.duet.sync_now().await.unwrap();

    // Ben is on the train: the same relay, through a link that keeps dropping.
    let proxy = FaultyProxy::start(relay.addr(), Faults::cuts((2 * 1024, 64 * 1024))).await;
    b.duet.set_relay(&proxy.url()).unwrap();
    for i in 0..40 {
        b.duet
            .create_entry(
                &j,
                entry(
                    EntryKind::Appreciation,
                    &format!("thanks {i}"),
                    "for the tea",
                ),
            )
            .unwrap();
    }
    let mut calls = 0;
    let mut failed = 0;
    loop {
        calls += 1;
        assert!(
            calls <= 300,
            "no convergence after {calls} syncs ({failed} failed)"
        );
        match b.duet.sync_now().await {
            Ok(_)
                if b.duet.outbox_len().unwrap() == 0
                    && b.duet.all_entries(&j).unwrap().len() >= 340 =>
            {
                break;
            }
            Ok(_) => {}
            Err(e) => {
                assert_eq!(e.code(), ErrorCode::Offline, "{e}");
                failed += 1;
            }
        }
    }
    eprintln!(
        "through the cutting link: {calls} sync calls ({failed} ended offline), {} connections cut",
        proxy.cuts()
    );
    assert!(proxy.cuts() > 0, "the link never cut anything");
    a.duet.sync_now().await.unwrap();
    assert_eq!(
        a.duet.all_entries(&j).unwrap(),
        b.duet.all_entries(&j).unwrap(),
        "both devices show the same journal"
    );
    assert_eq!(a.duet.all_entries(&j).unwrap().len(), 340);
    assert!(b.duet.quarantined().unwrap().is_empty());
}

/// Both partners on bad links at once (cuts after 2–64 KB, half of them resets, 0–15 ms
/// delays per chunk, one connection in ten refused), writing new entries and editing the
/// same one concurrently: repeated syncs converge, with every entry and both edits kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_partners_on_bad_links_converge_with_nothing_lost() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let (a, b, j) = partners(&relay.url(), "Ada", "Ben", "Us").await;
    let shared = a
        .duet
        .create_entry(
            &j,
            entry(EntryKind::Reflection, "the trip", "We took the train."),
        )
        .unwrap();
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();

    let faults = |seed| Faults {
        cut_after: Some((2 * 1024, 64 * 1024)),
        delay_ms: (0, 15),
        reset_share: 0.5,
        refuse_share: 0.1,
        seed,
    };
    let seed: u64 = rand::random();
    eprintln!("faults seeded with {seed} (ada) and {} (ben)", seed ^ 1);
    let pa = FaultyProxy::start(relay.addr(), faults(seed)).await;
    let pb = FaultyProxy::start(relay.addr(), faults(seed ^ 1)).await;
    a.duet.set_relay(&pa.url()).unwrap();
    b.duet.set_relay(&pb.url()).unwrap();

    let body = "we talked about where to go next summer. ".repeat(8);
    for i in 0..60 {
        a.duet
            .create_entry(&j, entry(EntryKind::Reflection, &format!("ada {i}"), &body))
            .unwrap();
        b.duet
            .create_entry(
                &j,
                entry(EntryKind::Appreciation, &format!("ben {i}"), &body),
            )
            .unwrap();
    }
    // The same sentence edited on both sides, offline from each other.
    a.duet
        .splice_text(&shared, TextField::Body, 0, 0, "On Sunday, ")
        .unwrap();
    b.duet
        .splice_text(&shared, TextField::Body, 17, 0, " to the sea")
        .unwrap();

    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls <= 400, "no convergence after {calls} rounds");
        for d in [&a, &b] {
            if let Err(e) = d.duet.sync_now().await {
                assert_eq!(e.code(), ErrorCode::Offline, "{e}");
            }
        }
        let (ea, eb) = (
            a.duet.all_entries(&j).unwrap(),
            b.duet.all_entries(&j).unwrap(),
        );
        if a.duet.outbox_len().unwrap() == 0
            && b.duet.outbox_len().unwrap() == 0
            && ea == eb
            && ea.len() == 121
        {
            break;
        }
    }
    eprintln!(
        "both on bad links: {calls} rounds, {} + {} connections cut",
        pa.cuts(),
        pb.cuts()
    );
    assert!(
        pa.cuts() > 0 && pb.cuts() > 0,
        "the links never cut anything"
    );
    let merged = a.duet.get_entry(&shared).unwrap().body;
    assert_eq!(merged, "On Sunday, We took the train to the sea.");
    assert_eq!(b.duet.get_entry(&shared).unwrap().body, merged);
    assert!(a.duet.quarantined().unwrap().is_empty() && b.duet.quarantined().unwrap().is_empty());
}

/// Ben is live through a link that goes down for a few seconds while Ada writes. The live
/// channel reports the outage, comes back by itself, and resumes from its cursor: the sync
/// on reconnection pulls only what is new (not the 60 entries Ben already had), and every
/// entry arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_sync_resumes_from_its_cursor_after_the_link_drops() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let (a, b, j) = partners(&relay.url(), "Ada", "Ben", "Us").await;
    for i in 0..60 {
        a.duet
            .create_entry(
                &j,
                entry(EntryKind::Reflection, &format!("before {i}"), "earlier"),
            )
            .unwrap();
    }
    a.duet.sync_now().await.unwrap();
    let proxy = FaultyProxy::start(relay.addr(), Faults::none()).await;
    b.duet.set_relay(&proxy.url()).unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(b.duet.all_entries(&j).unwrap().len(), 60);

    let states = Arc::new(Recorder::default());
    let _sub = b.duet.subscribe_sync(states.clone());
    let live = b.duet.start_live().unwrap();
    let within = Duration::from_secs(30);
    eventually("Ben's live channel", within, || {
        states.states().contains(&SyncState::Live)
    })
    .await;

    // The link goes down; Ada writes meanwhile.
    proxy.set_down(true);
    eventually("Ben's device to notice the outage", within, || {
        states
            .states()
            .iter()
            .any(|s| matches!(s, SyncState::Offline { .. }))
    })
    .await;
    let mark = states.states().len();
    for i in 0..5 {
        a.duet
            .create_entry(
                &j,
                entry(
                    EntryKind::Appreciation,
                    &format!("while away {i}"),
                    "thanks",
                ),
            )
            .unwrap();
    }
    a.duet.sync_now().await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    proxy.set_down(false);

    eventually("the five entries written during the outage", within, || {
        b.duet.all_entries(&j).unwrap().len() == 65
    })
    .await;
    // The channel reports live once its first sync is done and the socket is up again.
    eventually("live again", within, || {
        states.states()[mark..].contains(&SyncState::Live)
    })
    .await;
    let after = states.states()[mark..].to_vec();
    let pulled: Vec<u32> = after
        .iter()
        .filter_map(|s| match s {
            SyncState::Synced { report } => Some(report.pulled),
            _ => None,
        })
        .collect();
    assert!(
        !pulled.is_empty() && pulled.iter().all(|n| *n <= 10),
        "the reconnection pulled from its cursor, not from the start: {pulled:?}"
    );
    assert_eq!(
        a.duet.all_entries(&j).unwrap(),
        b.duet.all_entries(&j).unwrap()
    );
    live.stop().await;
}
