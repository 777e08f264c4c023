//! Membership that holds when a relationship changes, played by the adversaries of the
//! threat model against a real relay: a former partner holding his own phone, its stored
//! token, his old keys and the codes he made; a partner who would lock the other out; a
//! device of the same person that was offline during a rotation; a home pointed at its
//! relay under another name.

use duet_core::EntryKind::{Reflection, Vulnerability};
use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::{Author, options};
use duet_e2e::relay::{Client, InviteSecret, RelayProcess, refusal, refused};
use duet_e2e::store::{relay_credentials, space_keys};
use duet_proto::{ErrorCode, InviteKind};

fn member_of(d: &Device) -> MemberId {
    d.duet.identity().member
}

/// The relay's own error code behind a core error.
fn relay_code(e: &Error) -> Option<&str> {
    match e {
        Error::RelayRefused { code, .. } => Some(code),
        _ => None,
    }
}

/// An invite Ben made before Ada removed him admits nobody afterwards: not a new phone of
/// his, not anyone he gives it to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_partners_old_invite_admits_nobody() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let url = relay.url();
    b.duet.sync_now().await.unwrap();
    let kept = b.duet.create_invite(&j, None).await.unwrap();
    let link = b.duet.link_device(None).await.unwrap();

    a.duet.remove_member(&j, &member_of(&b)).await.unwrap();

    // A fresh phone of Ben's, with the journal invite he kept.
    let phone = device("Ben", &url);
    let e = phone.duet.join(&kept.code).await.unwrap_err();
    assert_eq!(relay_code(&e), Some("not_found"), "{e}");
    // His device-link code still makes a device of his (his own space is his), but it
    // brings no journal back.
    let dir = tempfile::tempdir().unwrap();
    let linked = Duet::join_device(dir.path(), &link.uri, None, options())
        .await
        .unwrap();
    assert!(
        linked.journals().unwrap().iter().all(|x| x.id != j),
        "the removed journal came back through a link code"
    );
    // What Ada writes now reaches nobody of Ben's.
    let after = a.duet.write(&j, Reflection, "after", "only mine now");
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    linked.sync_now().await.unwrap();
    assert!(b.duet.get_entry(&after).is_err());
    assert!(linked.get_entry(&after).is_err());
    let raw = b.raw_client(&url);
    assert_eq!(refused(raw.pull(j.0, 0, None).await), ErrorCode::NotFound);
}

/// A device Ben registered and brought in through the raw API is his, whatever the
/// journal's meta document says: as a third person it is refused; linked as his device it
/// leaves with him.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_brought_in_through_the_raw_api_leaves_with_its_person() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let url = relay.url();
    b.duet.sync_now().await.unwrap();
    let ben = b.raw_client(&url);

    // As a new person: the journal has its two people.
    let stranger = Client::register(&url).await.unwrap();
    let secret = ben.invite(j.0, None).await.unwrap();
    let e = refusal(stranger.join(secret.invite_id, &secret.token).await);
    assert_eq!(e, (403, ErrorCode::NotAllowed));

    // As Ben's device: a device invite into his personal space, then into the journal.
    let hidden = Client::register(&url).await.unwrap();
    let personal = b.duet.identity().personal_space;
    let link = InviteSecret::random();
    ben.create_invite(
        personal.0,
        &link.create_body_of(InviteKind::Device, b"x", None),
    )
    .await
    .unwrap();
    hidden.join(link.invite_id, &link.token).await.unwrap();
    let into = InviteSecret::random();
    ben.create_invite(j.0, &into.create_body_of(InviteKind::Device, b"x", None))
        .await
        .unwrap();
    hidden.join(into.invite_id, &into.token).await.unwrap();
    assert_eq!(
        hidden.whoami().await.unwrap().person,
        ben.whoami().await.unwrap().person
    );
    assert!(!hidden.pull_all(j.0).await.unwrap().is_empty());

    a.duet.remove_member(&j, &member_of(&b)).await.unwrap();
    for d in [&ben, &hidden] {
        assert_eq!(
            refused(d.pull(j.0, 0, None).await),
            ErrorCode::NotFound,
            "a device of the removed person still reads the journal"
        );
    }
    // The pending invite Ben made as a partner went with him too.
    let late = Client::register(&url).await.unwrap();
    assert_eq!(
        refused(late.join(secret.invite_id, &secret.token).await),
        ErrorCode::NotFound
    );
}

/// Nobody locks a partner out: a partner (or a former one, with his stored token) can
/// revoke none of the other's devices, and removing her from a journal leaves her own
/// space, drafts and other devices alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_can_revoke_nobody_and_never_touches_the_others_space() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let a2 = second_device(&a).await;
    b.duet.sync_now().await.unwrap();
    let ben = b.raw_client(&relay.url());
    let (ada1, _) = relay_credentials(&a.store_path());
    let (ada2, _) = relay_credentials(&a2.store_path());

    for target in [ada1, ada2] {
        assert_eq!(refused(ben.revoke(target).await), ErrorCode::NotFound);
        let e = b.duet.revoke_device(target).await.unwrap_err();
        assert_eq!(relay_code(&e), Some("not_found"), "{e}");
    }
    // Ben removes Ada (his one power over her)...
    b.duet.remove_member(&j, &member_of(&a)).await.unwrap();
    // ...and, as a former partner with his token, still revokes nothing of hers.
    assert_eq!(refused(ben.revoke(ada1).await), ErrorCode::NotFound);
    // Ada's drafts still travel between her devices.
    let personal = a.duet.identity().personal_space;
    let draft = a
        .duet
        .write(&personal, Vulnerability, "draft", "for me alone");
    a.duet.sync_now().await.unwrap();
    a2.duet.sync_now().await.unwrap();
    assert_eq!(a2.duet.get_entry(&draft).unwrap().body, "for me alone");
    // And she can still revoke her own lost phone.
    a.duet.revoke_device(ada2).await.unwrap();
    let e = a2.duet.sync_now().await.unwrap_err();
    assert_eq!(relay_code(&e), Some("device_revoked"), "{e}");
}

/// A device of Ada's that was offline while she removed Ben writes, then syncs: what it
/// pushes is sealed under the new key, so nothing of it opens with the keys Ben holds, and
/// Ada's other device reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_a_rotation_never_opens_with_the_removed_partners_keys() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let a2 = second_device(&a).await;
    b.duet.sync_now().await.unwrap();
    // Written on the tablet before the removal, still queued when it happens.
    let queued = a2.duet.write(&j, Reflection, "queued", "before");

    a.duet.remove_member(&j, &member_of(&b)).await.unwrap();
    let ada = a.raw_client(&relay.url());
    let head = ada.pull_all(j.0).await.unwrap().len() as u64;

    // The tablet, offline all along, writes and then syncs.
    let later = a2.duet.write(&j, Reflection, "later", "after the removal");
    a2.duet.sync_now().await.unwrap();
    a.duet.sync_now().await.unwrap();
    assert_eq!(a.duet.get_entry(&later).unwrap().body, "after the removal");
    assert_eq!(a.duet.get_entry(&queued).unwrap().body, "before");

    let ben_keys = space_keys(&b.store_path(), &j);
    assert!(!ben_keys.is_empty());
    let log = ada.pull_all(j.0).await.unwrap();
    let fresh: Vec<_> = log.iter().filter(|b| b.seq > head).collect();
    assert!(!fresh.is_empty(), "the tablet pushed nothing");
    for duet_proto::LogBlob { seq, id, data } in fresh {
        let id: [u8; 16] = id.as_slice().try_into().unwrap();
        assert!(crypto::epoch_of(data).unwrap() >= 2, "seq {seq}: old epoch");
        for (epoch, key) in &ben_keys {
            assert!(
                crypto::open(key, &j, &id, data).is_err(),
                "seq {seq} opens with Ben's key of epoch {epoch}"
            );
        }
    }
    // A push under the old epoch is refused by the relay now.
    let tablet = a2.raw_client(&relay.url());
    let (epoch, key) = ben_keys[0].clone();
    let id = crypto::new_blob_id();
    let stale = crypto::seal(&key, epoch, &j, &id, b"old key").unwrap();
    let e = tablet
        .push(
            j.0,
            &[duet_proto::PushBlob {
                id: id.to_vec(),
                data: stale,
            }],
        )
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::StaleEpoch));
}

/// `relay set` to another name of the same relay (and back, and through a typo) keeps the
/// device's identity and its journals syncing; a genuinely new relay gets a new device
/// that uploads everything the home holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_set_to_another_url_of_the_same_relay_and_back_keeps_syncing() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let url = relay.url();
    let other_name = format!("http://localhost:{}", relay.addr().port());
    let (before, _) = relay_credentials(&a.store_path());

    let mut n = 0;
    for to in [other_name.as_str(), "http://127.0.0.1:9", url.as_str()] {
        a.duet.switch_relay(to).await.unwrap();
        n += 1;
        let e = a.duet.write(&j, Reflection, "moved", &format!("note {n}"));
        if to.ends_with(":9") {
            continue; // nothing answers there; checked at the next sync
        }
        a.duet.sync_now().await.unwrap();
        b.duet.sync_now().await.unwrap();
        assert_eq!(b.duet.get_entry(&e).unwrap().body, format!("note {n}"));
        assert_eq!(relay_credentials(&a.store_path()).0, before, "same device");
    }
    assert_eq!(a.duet.outbox_len().unwrap(), 0);

    // A genuinely different relay: a new device there, holding the whole journal.
    let relay2 = RelayProcess::temp();
    a.duet.switch_relay(&relay2.url()).await.unwrap();
    a.duet.sync_now().await.unwrap();
    let (there, _) = relay_credentials(&a.store_path());
    assert_ne!(there, before);
    let log = a.raw_client(&relay2.url()).pull_all(j.0).await.unwrap();
    assert!(
        !log.is_empty(),
        "the journal's history went to the new relay"
    );
}

/// A person's key ring reaches every device of theirs: a journal created on one device
/// after another was linked, and one joined on the other, appear on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn journals_created_or_joined_on_one_device_appear_on_the_others() {
    let relay = RelayProcess::temp();
    let url = relay.url();
    let a1 = device("Ada", &url);
    a1.duet.sync_now().await.unwrap();
    let a2 = second_device(&a1).await;

    let made = a1.duet.create_journal("Made on the phone").unwrap();
    let e = a1.duet.write(&made, Reflection, "hello", "from the phone");
    a1.duet.sync_now().await.unwrap();
    a2.duet.sync_now().await.unwrap();
    assert!(a2.duet.journals().unwrap().iter().any(|x| x.id == made));
    assert_eq!(a2.duet.get_entry(&e).unwrap().body, "from the phone");

    // Ben invites Ada; she joins on the tablet; the phone gets it too.
    let b = device("Ben", &url);
    let theirs = b.duet.create_journal("Ben's").unwrap();
    let invite = b.duet.create_invite(&theirs, None).await.unwrap();
    a2.duet.join(&invite.code).await.unwrap();
    a2.duet.sync_now().await.unwrap();
    a1.duet.sync_now().await.unwrap();
    assert!(a1.duet.journals().unwrap().iter().any(|x| x.id == theirs));
}
