//! A lost phone, played against a real relay: Ada revokes it from her laptop. Every key it
//! held is replaced — her private drafts' and each journal's — and the new keys reach Ben
//! and Ada's tablet as key drops, so they read on; the phone's token is refused, and
//! nothing written afterwards opens with any key it held.

use duet_core::EntryKind::{Reflection, Vulnerability};
use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::Author;
use duet_e2e::store::{relay_credentials, space_keys};

/// Sync `d`, then check it reads each entry with its body.
async fn syncs_and_reads(d: &Device, entries: &[(EntryId, &str)]) {
    d.duet.sync_now().await.unwrap();
    for (id, body) in entries {
        assert_eq!(d.duet.get_entry(id).unwrap().body, *body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_lost_phone_rotates_every_key_it_held() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let phone = second_device(&a).await;
    let tablet = second_device(&a).await;
    let all = [&a.duet, &phone.duet, &tablet.duet, &b.duet];
    sync_until_converged(&all.map(|d| &**d), &j, 6).await;
    let personal = a.duet.identity().personal_space;

    // What a thief holding the phone has: every key of both spaces.
    let stolen: Vec<SpaceKey> = [j, personal]
        .iter()
        .flat_map(|s| space_keys(&phone.store_path(), s))
        .map(|(_, k)| k)
        .collect();
    assert_eq!(stolen.len(), 2);
    let (phone_id, _) = relay_credentials(&phone.store_path());

    a.duet.revoke_device(phone_id).await.unwrap();
    assert_eq!(a.duet.journal(&j).unwrap().key_epoch, 2);

    let entry = (
        a.duet.write(&j, Reflection, "after", "after the loss"),
        "after the loss",
    );
    let draft = (
        a.duet.write(&personal, Vulnerability, "draft", "a draft"),
        "a draft",
    );
    a.duet.sync_now().await.unwrap();
    // Ben and the tablet take their drops and read on, without a word from Ada.
    syncs_and_reads(&b, std::slice::from_ref(&entry)).await;
    assert_eq!(b.duet.journal(&j).unwrap().key_epoch, 2);
    syncs_and_reads(&tablet, &[entry, draft]).await;
    // Ben writes under the new key; Ada's devices read it.
    let reply = (
        b.duet.write(&j, Reflection, "ben", "I read it"),
        "I read it",
    );
    b.duet.sync_now().await.unwrap();
    for d in [&a, &tablet] {
        syncs_and_reads(d, std::slice::from_ref(&reply)).await;
    }
    for d in [&a, &b, &tablet] {
        assert!(d.duet.quarantined().unwrap().is_empty());
    }

    // The phone: refused by the relay...
    let e = phone.duet.sync_now().await.unwrap_err();
    assert!(
        matches!(&e, Error::RelayRefused { code, .. } if code == "device_revoked"),
        "{e}"
    );
    // ...and what was written after its revocation opens with none of its keys.
    let ada = a.raw_client(&relay.url());
    let mut fresh = 0;
    for space in [j, personal] {
        for blob in ada.pull_all(space.0).await.unwrap() {
            if crypto::epoch_of(&blob.data).unwrap() < 2 {
                continue;
            }
            fresh += 1;
            let id: [u8; 16] = blob.id.as_slice().try_into().unwrap();
            for key in &stolen {
                assert!(crypto::open(key, &space, &id, &blob.data).is_err());
            }
        }
    }
    assert!(fresh >= 4, "only {fresh} blobs under the new keys");
}

/// A thief who gets to the phone before Ada revokes it announces the next key epoch,
/// leaves Ben a key of his own choosing and pushes a blob under it. The revocation takes
/// his drop away with the phone, and Ada's rotation goes above the epoch he announced, so
/// Ben ends up on a key only Ada's devices and his hold; the thief's blob is quarantined
/// and blocks nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_racing_the_revocation_plants_no_key() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let phone = second_device(&a).await;
    let all = [&a.duet, &phone.duet, &b.duet];
    sync_until_converged(&all.map(|d| &**d), &j, 6).await;
    let thief = phone.raw_client(&relay.url());
    let (ben_device, _) = relay_credentials(&b.store_path());
    thief.announce_epoch(j.0, 2).await.unwrap();
    let planted = duet_proto::KeyDrop {
        device: ben_device,
        sealed: vec![7; 104],
    };
    thief.put_key_drops(j.0, 2, &[planted]).await.unwrap();
    let id = crypto::new_blob_id();
    let sealed = crypto::seal(&SpaceKey::generate(), 2, &j, &id, b"the thief's").unwrap();
    let blob = duet_proto::PushBlob {
        id: id.to_vec(),
        data: sealed,
    };
    thief.push(j.0, &[blob]).await.unwrap();
    let (phone_id, _) = relay_credentials(&phone.store_path());

    a.duet.revoke_device(phone_id).await.unwrap();
    assert_eq!(a.duet.journal(&j).unwrap().key_epoch, 3);
    let ben = b.raw_client(&relay.url());
    let held = ben.key_drops(j.0).await.unwrap().drops;
    assert!(held.iter().all(|d| d.sender != phone_id), "{held:?}");
    assert!(held.iter().any(|d| d.epoch == 3), "{held:?}");

    let entry = (
        a.duet.write(&j, Reflection, "after", "after the race"),
        "after the race",
    );
    a.duet.sync_now().await.unwrap();
    syncs_and_reads(&b, &[entry]).await;
    assert_eq!(b.duet.journal(&j).unwrap().key_epoch, 3);
    assert_eq!(b.duet.quarantined().unwrap().len(), 1, "the thief's blob");
}
