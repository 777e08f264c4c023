//! Partner-assisted restore, against a real relay: Ada lost every device; Ben makes her a
//! one-use restore code; her new home joins with it as the same member. Her old devices
//! are out of the journal at once and its key rotates, so whoever holds one of them reads
//! nothing written afterwards.

use duet_core::EntryKind::Reflection;
use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::Author;
use duet_e2e::relay::refused;
use duet_e2e::store::space_keys;
use duet_proto::ErrorCode as RelayCode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_brings_back_one_who_lost_every_device() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let ada = a.duet.identity().member;
    let before: Vec<EntryId> = (0..3)
        .map(|i| {
            a.duet
                .write(&j, Reflection, "before", &format!("entry {i}"))
        })
        .collect();
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    let old_keys = space_keys(&a.store_path(), &j);

    // Refused for the wrong people: myself, someone not in the journal.
    let e = b
        .duet
        .restore_member(&j, &b.duet.identity().member, None)
        .await;
    assert_eq!(e.unwrap_err().code(), ErrorCode::NotAllowed);
    let e = b.duet.restore_member(&j, &MemberId::new(), None).await;
    assert_eq!(e.unwrap_err().code(), ErrorCode::NotFound);

    let code = b.duet.restore_member(&j, &ada, None).await.unwrap();
    assert_eq!(b.duet.journal(&j).unwrap().key_epoch, 2);
    // The old phone, in whoever's hands: out of the journal at the relay.
    let old = a.raw_client(&relay.url());
    assert_eq!(refused(old.pull(j.0, 0, None).await), RelayCode::NotFound);

    // A home that already holds something can't become Ada.
    let busy = device("Ada", &relay.url());
    busy.duet.write(
        &busy.duet.identity().personal_space,
        Reflection,
        "mine",
        "x",
    );
    let e = busy.duet.join(&code.code).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotAllowed, "{e}");
    assert_ne!(busy.duet.identity().member, ada);

    // The code was spent there; Ben makes another, and her new home rejoins.
    let code = b.duet.restore_member(&j, &ada, None).await.unwrap();
    let again = device("Ada", &relay.url());
    assert_eq!(again.duet.join(&code.code).await.unwrap(), j);
    assert_eq!(again.duet.identity().member, ada);
    for id in &before {
        assert_eq!(again.duet.get_entry(id).unwrap().author, ada);
    }
    assert!(again.duet.join(&code.code).await.is_err(), "one use");

    let back = again.duet.write(&j, Reflection, "back", "I'm back");
    again.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    assert_eq!(b.duet.get_entry(&back).unwrap().author, ada);
    assert_eq!(b.duet.get_entry(&back).unwrap().body, "I'm back");
    let reply = b.duet.write(&j, Reflection, "welcome", "welcome back");
    b.duet.sync_now().await.unwrap();
    again.duet.sync_now().await.unwrap();
    assert_eq!(again.duet.get_entry(&reply).unwrap().body, "welcome back");

    // Nothing written since the restore opens with the old phone's keys.
    let ben = b.raw_client(&relay.url());
    let mut fresh = 0;
    for blob in ben.pull_all(j.0).await.unwrap() {
        if crypto::epoch_of(&blob.data).unwrap() < 2 {
            continue;
        }
        fresh += 1;
        let id: [u8; 16] = blob.id.as_slice().try_into().unwrap();
        for (_, key) in &old_keys {
            assert!(crypto::open(key, &j, &id, &blob.data).is_err());
        }
    }
    assert!(fresh >= 2, "{fresh}");
}
