//! A train's network: a link that cuts every connection after a few kilobytes. Sync moves
//! in pages and batches bounded by bytes (smaller after a cut, larger after a success), each
//! acknowledged one is kept, so repeated `sync` calls get a whole journal through with
//! nothing lost.

use duet_core::*;
use duet_e2e::proxy::CuttingProxy;
use duet_e2e::relay::RelayProcess;

use crate::sync_support::*;

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
    let proxy = CuttingProxy::start(relay.addr(), (2 * 1024, 64 * 1024)).await;
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
