//! Partners' devices syncing through a real `duet-relay` process: offline writes, merged
//! concurrent edits, invites, device links, live delivery, member removal.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use duet_core::*;
use duet_e2e::relay::RelayProcess;

use crate::sync_support::device;

fn new_entry(d: &Duet, j: &SpaceId, title: &str, body: &str) -> EntryId {
    d.create_entry(
        j,
        NewEntry {
            kind: Some(EntryKind::Reflection),
            title: title.into(),
            body: body.into(),
            ..NewEntry::default()
        },
    )
    .unwrap()
}

fn titles(d: &Duet, j: &SpaceId) -> Vec<String> {
    let mut t: Vec<String> = d
        .list_entries(&EntryQuery {
            journal: Some(*j),
            ..Default::default()
        })
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.title)
        .collect();
    t.sort();
    t
}

/// A and B write offline, sync, and both see everything; concurrent edits of one body merge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_write_offline_then_converge() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let a = device("Ada", &relay.url());
    let b = device("Ben", &relay.url());
    let j = a.duet.create_journal("Us").unwrap();
    let invite = a.duet.create_invite(&j, None).await.unwrap();
    assert!(invite.code.starts_with("DUET-"));
    assert_eq!(b.duet.join(&invite.code).await.unwrap(), j);
    // Offline: both write.
    let shared = new_entry(&a.duet, &j, "shared", "I love our mornings.");
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    new_entry(&a.duet, &j, "from ada", "a");
    new_entry(&b.duet, &j, "from ben", "b");
    a.duet
        .set_text(&shared, TextField::Body, "I really love our mornings.")
        .unwrap();
    b.duet
        .set_text(&shared, TextField::Body, "I love our slow mornings.")
        .unwrap();
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    a.duet.sync_now().await.unwrap();
    assert_eq!(titles(&a.duet, &j), vec!["from ada", "from ben", "shared"]);
    assert_eq!(titles(&a.duet, &j), titles(&b.duet, &j));
    let ea = a.duet.get_entry(&shared).unwrap();
    assert_eq!(ea.body, "I really love our slow mornings.");
    assert_eq!(ea, b.duet.get_entry(&shared).unwrap());
    assert_eq!(a.duet.journal(&j).unwrap().members.len(), 2);
    assert_eq!(a.duet.outbox_len().unwrap(), 0);
    // The invite is single use.
    let c = device("Cy", &relay.url());
    let e = c.duet.join(&invite.code).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::InviteRejected);
}

#[derive(Default)]
struct Events(Mutex<Vec<EntryEvent>>);

impl EntryListener for Events {
    fn on_event(&self, e: &EntryEvent) {
        self.0.lock().unwrap().push(e.clone());
    }
}

/// An entry A writes reaches B's listener without a manual sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_delivery_reaches_the_partners_listener() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let a = device("Ada", &relay.url());
    let b = device("Ben", &relay.url());
    let j = a.duet.create_journal("Us").unwrap();
    let invite = a.duet.create_invite(&j, None).await.unwrap();
    b.duet.join(&invite.code).await.unwrap();
    let events = Arc::new(Events::default());
    let _sub = b.duet.subscribe(events.clone());
    let _la = a.duet.start_live().unwrap();
    let _lb = b.duet.start_live().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = new_entry(&a.duet, &j, "live", "hello from the bus");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if events
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.entry == id && e.origin == Origin::Remote)
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "live event never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(b.duet.get_entry(&id).unwrap().body, "hello from the bus");
}

/// B links a second device, which receives the whole journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_device_receives_everything() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let a = device("Ada", &relay.url());
    let b = device("Ben", &relay.url());
    let j = a.duet.create_journal("Us").unwrap();
    b.duet
        .join(&a.duet.create_invite(&j, None).await.unwrap().code)
        .await
        .unwrap();
    for i in 0..5 {
        new_entry(&a.duet, &j, &format!("a{i}"), "x");
    }
    new_entry(&b.duet, &j, "b0", "y");
    let draft = new_entry(
        &b.duet,
        &b.duet.identity().personal_space,
        "draft",
        "private",
    );
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    let link = b.duet.link_device(None).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let b2 = Duet::join_device(dir.path(), &link.uri, None, Options::default())
        .await
        .unwrap();
    assert_eq!(b2.identity().member, b.duet.identity().member);
    assert_ne!(b2.identity().device, b.duet.identity().device);
    assert_eq!(titles(&b2, &j), titles(&b.duet, &j));
    assert_eq!(titles(&b2, &j).len(), 6);
    assert_eq!(b2.get_entry(&draft).unwrap().body, "private");
    // And it keeps syncing both ways.
    new_entry(&b2, &j, "from b2", "z");
    b2.sync_now().await.unwrap();
    a.duet.sync_now().await.unwrap();
    assert!(titles(&a.duet, &j).contains(&"from b2".to_string()));
    // Once everything is in place, a sync on any device has nothing of its own to push
    // (it only names itself where it isn't named yet).
    for d in [&b2, &*a.duet, &*b.duet, &b2] {
        d.sync_now().await.unwrap();
        assert_eq!(d.sync_now().await.unwrap().pushed, 0);
    }
}

/// A removed member can't read what is written after the removal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_reads_nothing_new() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let a = device("Ada", &relay.url());
    let b = device("Ben", &relay.url());
    let j = a.duet.create_journal("Us").unwrap();
    b.duet
        .join(&a.duet.create_invite(&j, None).await.unwrap().code)
        .await
        .unwrap();
    new_entry(&a.duet, &j, "before", "both can read this");
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(titles(&b.duet, &j), vec!["before"]);
    a.duet
        .remove_member(&j, &b.duet.identity().member)
        .await
        .unwrap();
    new_entry(&a.duet, &j, "after", "only ada can read this");
    a.duet.sync_now().await.unwrap();
    // The relay refuses B now. What B writes in the journal meanwhile stays on B's phone,
    // parked: it doesn't block B's other syncing (B's own new journal still syncs).
    let kept = new_entry(&b.duet, &j, "unsent", "written after the removal");
    let own = b.duet.create_journal("Ben's").unwrap();
    new_entry(&b.duet, &own, "mine", "still syncs");
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
    {
        let db = rusqlite::Connection::open(relay.db_path()).unwrap();
        db.busy_timeout(Duration::from_secs(5)).unwrap();
        db.execute(
            "INSERT INTO members (space, device, added_at) VALUES (?1, ?2, 0)",
            rusqlite::params![j.0.as_bytes().as_slice(), b_dev.as_bytes().as_slice()],
        )
        .unwrap();
    }
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
