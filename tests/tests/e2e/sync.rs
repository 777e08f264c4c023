//! Partners' devices syncing through a real `duet-relay` process: offline writes, merged
//! concurrent edits, invites, device links, live delivery, member removal.

use std::sync::Arc;
use std::time::Duration;

use duet_core::EntryKind::Reflection;
use duet_core::*;
use duet_e2e::device::{Partners, device, second_device};
use duet_e2e::home::{Author, listed};
use duet_e2e::listen::Recorder;
use duet_e2e::relay::RelayProcess;
use duet_e2e::scenario::{self, MORNINGS, MORNINGS_MERGED};
use duet_e2e::store;

fn titles(d: &Duet, j: &SpaceId) -> Vec<String> {
    let mut t: Vec<String> = listed(d, j).into_iter().map(|e| e.title).collect();
    t.sort();
    t
}

/// A and B write offline, sync, and both see everything; concurrent edits of one body merge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_write_offline_then_converge() {
    let relay = RelayProcess::temp();
    let a = device("Ada", &relay.url());
    let b = device("Ben", &relay.url());
    let j = a.duet.create_journal("Us").unwrap();
    let invite = a.duet.create_invite(&j, None).await.unwrap();
    assert!(invite.code.starts_with("DUET-"));
    assert_eq!(b.duet.join(&invite.code).await.unwrap(), j);
    // Offline: both write.
    let shared = a.duet.write(&j, Reflection, "shared", MORNINGS);
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    a.duet.write(&j, Reflection, "from ada", "a");
    b.duet.write(&j, Reflection, "from ben", "b");
    scenario::rewrite_mornings(&a.duet, &b.duet, &shared);
    for d in [&a, &b, &a] {
        d.duet.sync_now().await.unwrap();
    }
    assert_eq!(titles(&a.duet, &j), vec!["from ada", "from ben", "shared"]);
    assert_eq!(titles(&a.duet, &j), titles(&b.duet, &j));
    let ea = a.duet.get_entry(&shared).unwrap();
    assert_eq!(ea.body, MORNINGS_MERGED);
    assert_eq!(ea, b.duet.get_entry(&shared).unwrap());
    assert_eq!(a.duet.journal(&j).unwrap().members.len(), 2);
    assert_eq!(a.duet.outbox_len().unwrap(), 0);
    // The invite is single use.
    let c = device("Cy", &relay.url());
    let e = c.duet.join(&invite.code).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected);
}

/// An entry A writes reaches B's listener without a manual sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_delivery_reaches_the_partners_listener() {
    let (_relay, a, b, j) = Partners::start().await.into_parts();
    let events = Arc::new(Recorder::default());
    let _sub = b.duet.subscribe(events.clone());
    let _la = a.duet.start_live().unwrap();
    let _lb = b.duet.start_live().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = a.duet.write(&j, Reflection, "live", "hello from the bus");
    events.until_remote(id, Duration::from_secs(10)).await;
    assert_eq!(b.duet.get_entry(&id).unwrap().body, "hello from the bus");
}

/// B links a second device, which receives the whole journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_device_receives_everything() {
    let (_relay, a, b, j) = Partners::start().await.into_parts();
    for i in 0..5 {
        a.duet.write(&j, Reflection, &format!("a{i}"), "x");
    }
    b.duet.write(&j, Reflection, "b0", "y");
    let personal = b.duet.identity().personal_space;
    let draft = b.duet.write(&personal, Reflection, "draft", "private");
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    let b2 = second_device(&b).await;
    assert_eq!(b2.duet.identity().member, b.duet.identity().member);
    assert_ne!(b2.duet.identity().device, b.duet.identity().device);
    assert_eq!(titles(&b2.duet, &j), titles(&b.duet, &j));
    assert_eq!(titles(&b2.duet, &j).len(), 6);
    assert_eq!(b2.duet.get_entry(&draft).unwrap().body, "private");
    // And it keeps syncing both ways.
    b2.duet.write(&j, Reflection, "from b2", "z");
    b2.duet.sync_now().await.unwrap();
    a.duet.sync_now().await.unwrap();
    assert!(titles(&a.duet, &j).contains(&"from b2".to_string()));
    // Once everything is in place, a sync on any device has nothing of its own to push
    // (it only names itself where it isn't named yet).
    for d in [&b2, &a, &b, &b2] {
        d.duet.sync_now().await.unwrap();
        assert_eq!(d.duet.sync_now().await.unwrap().pushed, 0);
    }
}

/// A removed member can't read what is written after the removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_reads_nothing_new() {
    let Partners { relay, a, b, j } = Partners::start().await;
    a.duet.write(&j, Reflection, "before", "both can read this");
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(titles(&b.duet, &j), vec!["before"]);
    a.duet
        .remove_member(&j, &b.duet.identity().member)
        .await
        .unwrap();
    a.duet
        .write(&j, Reflection, "after", "only ada can read this");
    a.duet.sync_now().await.unwrap();
    // The relay refuses B now. What B writes in the journal meanwhile stays on B's phone,
    // parked: it doesn't block B's other syncing (B's own new journal still syncs).
    let kept = b
        .duet
        .write(&j, Reflection, "unsent", "written after the removal");
    let own = b.duet.create_journal("Ben's").unwrap();
    b.duet.write(&own, Reflection, "mine", "still syncs");
    b.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(b.duet.outbox_len().unwrap(), 0, "nothing left to push");
    assert_eq!(
        b.duet.get_entry(&kept).unwrap().body,
        "written after the removal"
    );
    assert_eq!(titles(&b.duet, &j), vec!["before", "unsent"]);
    assert_eq!(titles(&a.duet, &j), vec!["after", "before"]);
    assert!(
        a.duet
            .journal(&j)
            .unwrap()
            .removed_members
            .contains(&b.duet.identity().member)
    );
    // Even a relay that let B back in gives B nothing readable: what A wrote after the
    // removal is sealed with a key B never had.
    let b_dev = b.duet.relay_info().unwrap().unwrap().device_id.unwrap();
    store::open(&relay.db_path())
        .execute(
            "INSERT INTO members (space, device, added_at) VALUES (?1, ?2, 0)",
            rusqlite::params![j.0.as_bytes().as_slice(), b_dev.as_bytes().as_slice()],
        )
        .unwrap();
    // And what B wrote with the old key is refused by the relay (the rotation was
    // announced): it stays on B's phone, never in the journal.
    let e = b.duet.sync_now().await.unwrap_err();
    assert!(matches!(e, duet_core::Error::StaleEpoch { .. }), "{e}");
    assert!(
        b.duet.outbox_len().unwrap() >= 1,
        "the unsent entry is kept"
    );
    assert_eq!(titles(&b.duet, &j), vec!["before", "unsent"]);
    let q = b.duet.quarantined().unwrap();
    assert!(q.len() >= 2, "{q:?}");
    assert!(q.iter().all(|q| q.error.contains("no key")), "{q:?}");
}
