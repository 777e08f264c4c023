//! The storage suite: every backend must pass it. [`storage_suite!`] expands it into one
//! test per check for a backend, so the first failure hides nothing. Each check says what
//! the relay relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use duet_proto::{HeldDrop, InviteKind, KeyDrop, Snapshot, SpaceKind};
use uuid::Uuid;

use super::*;

mod attachments;
pub(crate) use attachments::*;

/// The suite's checks as tests (`crate::testing::tests_per_check!`) on
/// stores from `$make` (an async expression giving `Option<(guard, impl RelayStore)>`).
macro_rules! storage_suite {
    ($make:expr) => {
        $crate::testing::tests_per_check!($crate::storage::suite, $make;
            devices, spaces_and_members, invites, log,
            snapshots_and_pruning, device_links_make_one_person, journals_admit_two_people,
            removal_takes_the_whole_person, epochs_only_move_forward,
            snapshots_count_toward_the_quota, spaces_per_device_are_capped,
            pending_invites_per_device_are_capped, expired_invites_are_purged,
            first_answer_share_wins, answers_are_listed_in_order,
            answers_are_revealed_by_their_person, answers_per_space_are_capped,
            answers_stay_in_their_space_and_round, key_drops_are_stored_and_fetched_per_device,
            key_drops_are_seen_only_by_their_device, key_drops_for_non_members_are_skipped,
            key_drops_for_the_sender_are_skipped, first_key_drop_wins,
            key_drops_need_the_announced_epoch, key_drops_need_a_member_sender,
            revocation_deletes_key_drops, leaving_deletes_key_drops,
            removing_a_person_deletes_key_drops, a_kit_replaces_the_persons_old_one,
            a_kit_is_updated_by_its_person_only, a_kit_is_not_taken_by_another_person,
            a_kit_lists_only_the_makers_spaces, recovery_admits_only_where_the_person_still_is,
            recovery_registers_a_device_of_the_person, a_wrong_secret_recovers_nothing,
            revoking_the_maker_deletes_the_kit, recovery_moves_the_maker,
            attachment_uploads_count_toward_the_quota, an_upload_under_way_is_found,
            attachment_refs_are_idempotent, one_object_serves_two_refs,
            attachment_refs_need_a_stored_object, expired_uploads_are_listed_and_discarded);
    };
}
pub(crate) use storage_suite;

fn h(b: u8) -> [u8; 32] {
    [b; 32]
}

const LIMITS: AppendLimits = AppendLimits {
    quota_bytes: 10_000,
    inline_bytes: 1024,
};

/// A pushed blob: its id is 16 bytes of `i`, its data `n` more.
fn blob(i: u8, n: usize) -> (Vec<u8>, Vec<u8>) {
    (vec![i; 16], vec![i; n])
}

async fn device(s: &dyn RelayStore, b: u8) -> Uuid {
    let id = Uuid::new_v4();
    s.register_device(id, Uuid::new_v4(), h(b), 1)
        .await
        .unwrap();
    id
}

async fn journal(s: &dyn RelayStore, creator: Uuid) -> Uuid {
    let space = Uuid::new_v4();
    assert!(
        s.create_space(space, SpaceKind::Journal, creator, 1)
            .await
            .unwrap()
    );
    space
}

async fn person(s: &dyn RelayStore, d: Uuid) -> Uuid {
    s.device(d).await.unwrap().unwrap().person
}

pub(crate) async fn devices(s: &dyn RelayStore) {
    let a = Uuid::new_v4();
    let pa = Uuid::new_v4();
    s.register_device(a, pa, h(1), 1).await.unwrap();
    assert_eq!(
        s.device_by_token(h(1)).await.unwrap(),
        Some(Device {
            id: a,
            person: pa,
            revoked: false
        })
    );
    assert_eq!(s.device_by_token(h(99)).await.unwrap(), None);
    // A token hash is unique: a second device can't take it.
    assert!(
        s.register_device(Uuid::new_v4(), Uuid::new_v4(), h(1), 1)
            .await
            .is_err()
    );
    let space = journal(s, a).await;
    let invite = Uuid::new_v4();
    s.create_invite(NewInvite {
        id: invite,
        space,
        created_by: a,
        token_hash: h(50),
        wrapped_key: vec![1],
        expires_at: 1000,
        kind: InviteKind::Partner,
    })
    .await
    .unwrap();
    assert!(s.revoke_device(a, 2).await.unwrap());
    assert_eq!(
        s.device(a).await.unwrap(),
        Some(Device {
            id: a,
            person: pa,
            revoked: true
        })
    );
    assert!(
        !s.is_member(space, a).await.unwrap(),
        "revocation drops memberships"
    );
    let b = device(s, 51).await;
    assert_eq!(
        s.join_invite(invite, h(50), b, 10, 5).await.unwrap(),
        JoinOutcome::NotFound,
        "a revoked device's pending invites go with it"
    );
    assert!(!s.revoke_device(Uuid::new_v4(), 2).await.unwrap());
}

pub(crate) async fn spaces_and_members(s: &dyn RelayStore) {
    let a = device(s, 2).await;
    let b = device(s, 3).await;
    let space = journal(s, a).await;
    // A taken id: nothing changes, and the caller learns nothing from the answer.
    assert!(
        !s.create_space(space, SpaceKind::Journal, b, 1)
            .await
            .unwrap()
    );
    assert!(s.is_member(space, a).await.unwrap());
    assert!(!s.is_member(space, b).await.unwrap());
    s.add_member(space, b, 2).await.unwrap();
    s.add_member(space, b, 2).await.unwrap(); // idempotent
    let info = s.space_info(space).await.unwrap().unwrap();
    let mut want = vec![(a, person(s, a).await), (b, person(s, b).await)];
    want.sort();
    let (members, persons): (Vec<_>, Vec<_>) = want.into_iter().unzip();
    assert_eq!(info.members, members);
    assert_eq!(info.persons, persons, "each member's person, in order");
    assert_eq!(info.kind, SpaceKind::Journal);
    assert_eq!(info.head, 0);
    assert_eq!(info.key_epoch, 0);
    assert_eq!(s.spaces_of(b).await.unwrap().len(), 1);
    assert!(matches!(
        s.add_member(space, Uuid::new_v4(), 2).await,
        Err(StoreError::NotFound)
    ));
    assert!(s.remove_member(space, b).await.unwrap());
    assert!(!s.remove_member(space, b).await.unwrap());
    assert!(s.spaces_of(b).await.unwrap().is_empty());
    assert_eq!(s.space_info(Uuid::new_v4()).await.unwrap(), None);
}

pub(crate) async fn invites(s: &dyn RelayStore) {
    let a = device(s, 4).await;
    let b = device(s, 5).await;
    let space = journal(s, a).await;
    let inv = |id, expires_at| NewInvite {
        id,
        space,
        created_by: a,
        token_hash: h(42),
        wrapped_key: vec![9; 48],
        expires_at,
        kind: InviteKind::Partner,
    };
    let id = Uuid::new_v4();
    s.create_invite(inv(id, 1000)).await.unwrap();
    assert!(matches!(
        s.create_invite(inv(id, 1000)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.join_invite(id, h(1), b, 10, 5).await.unwrap(),
        JoinOutcome::WrongToken { attempts_left: 4 }
    );
    assert!(!s.is_member(space, b).await.unwrap());
    assert_eq!(
        s.join_invite(id, h(42), b, 10, 5).await.unwrap(),
        JoinOutcome::Joined {
            space,
            wrapped_key: vec![9; 48]
        }
    );
    assert!(s.is_member(space, b).await.unwrap());
    assert_eq!(
        s.join_invite(id, h(42), b, 10, 5).await.unwrap(),
        JoinOutcome::Used
    );
    // Expiry.
    let late = Uuid::new_v4();
    s.create_invite(inv(late, 100)).await.unwrap();
    assert_eq!(
        s.join_invite(late, h(42), b, 100, 5).await.unwrap(),
        JoinOutcome::Expired
    );
    // Brute force burns it, even for the right token afterwards.
    let brute = Uuid::new_v4();
    s.create_invite(inv(brute, 1000)).await.unwrap();
    for i in 0..4u32 {
        assert_eq!(
            s.join_invite(brute, h(7), b, 10, 5).await.unwrap(),
            JoinOutcome::WrongToken {
                attempts_left: 4 - i
            }
        );
    }
    assert_eq!(
        s.join_invite(brute, h(7), b, 10, 5).await.unwrap(),
        JoinOutcome::Burned
    );
    assert_eq!(
        s.join_invite(brute, h(42), b, 10, 5).await.unwrap(),
        JoinOutcome::Burned
    );
    assert_eq!(
        s.join_invite(Uuid::new_v4(), h(42), b, 10, 5)
            .await
            .unwrap(),
        JoinOutcome::NotFound
    );
}

pub(crate) async fn log(s: &dyn RelayStore) {
    let a = device(s, 6).await;
    let space = journal(s, a).await;
    let r = s
        .append(space, a, vec![blob(1, 10), blob(2, 10)], LIMITS, 5)
        .await
        .unwrap();
    assert_eq!((r.seqs.clone(), r.head), (vec![1, 2], 2));
    assert_eq!(r.fresh.len(), 2);
    // A retry (and a duplicate inside one push) gets the first numbers and adds nothing.
    let r = s
        .append(
            space,
            a,
            vec![blob(2, 10), blob(3, 10), blob(3, 10)],
            LIMITS,
            6,
        )
        .await
        .unwrap();
    assert_eq!((r.seqs.clone(), r.head), (vec![2, 3, 3], 3));
    assert_eq!(r.fresh.len(), 1);
    // Same id, other bytes: refused, nothing stored.
    assert!(matches!(
        s.append(
            space,
            a,
            vec![blob(4, 10), (vec![1; 16], vec![0; 3])],
            LIMITS,
            7
        )
        .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.space_info(space).await.unwrap().unwrap().head, 3);
    // Quota: all or nothing.
    assert!(matches!(
        s.append(space, a, vec![blob(5, 10), blob(6, 20_000)], LIMITS, 8)
            .await,
        Err(StoreError::QuotaExceeded)
    ));
    assert_eq!(s.space_info(space).await.unwrap().unwrap().head, 3);
    // Pull pages.
    let p = s.pull(space, 0, 2).await.unwrap();
    assert_eq!(
        p.blobs.iter().map(|b| b.seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert!(p.more);
    assert_eq!(p.blobs[0].data, vec![1; 10]);
    let p = s.pull(space, 2, 2).await.unwrap();
    assert_eq!(p.blobs.len(), 1);
    assert!(!p.more);
    assert!(s.pull(space, 3, 10).await.unwrap().blobs.is_empty());
    assert!(matches!(
        s.pull(space, 4, 10).await,
        Err(StoreError::CursorAhead { .. })
    ));
    assert!(matches!(
        s.pull(Uuid::new_v4(), 0, 10).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.append(Uuid::new_v4(), a, vec![blob(1, 1)], LIMITS, 9)
            .await,
        Err(StoreError::NotFound)
    ));
}

pub(crate) async fn snapshots_and_pruning(s: &dyn RelayStore) {
    let a = device(s, 7).await;
    let space = journal(s, a).await;
    let blobs: Vec<_> = (1..=5u8).map(|i| (vec![i; 16], vec![i; 4])).collect();
    s.append(space, a, blobs, LIMITS, 1).await.unwrap();
    assert!(matches!(
        s.put_snapshot(
            space,
            Snapshot {
                seq: 9,
                data: vec![0]
            },
            10
        )
        .await,
        Err(StoreError::CursorAhead { .. })
    ));
    s.put_snapshot(
        space,
        Snapshot {
            seq: 3,
            data: vec![3],
        },
        10,
    )
    .await
    .unwrap();
    // An older snapshot never replaces a newer one.
    s.put_snapshot(
        space,
        Snapshot {
            seq: 2,
            data: vec![2],
        },
        11,
    )
    .await
    .unwrap();
    assert_eq!(
        s.snapshot(space).await.unwrap(),
        Some(Snapshot {
            seq: 3,
            data: vec![3]
        })
    );
    // Within the retention window nothing is pruned.
    assert_eq!(s.prune(5).await.unwrap(), 0);
    assert_eq!(s.prune(100).await.unwrap(), 3);
    // A device behind the pruned log gets the snapshot, then the rest.
    let p = s.pull(space, 1, 10).await.unwrap();
    assert_eq!(
        p.snapshot,
        Some(Snapshot {
            seq: 3,
            data: vec![3]
        })
    );
    assert_eq!(
        p.blobs.iter().map(|b| b.seq).collect::<Vec<_>>(),
        vec![4, 5]
    );
    // A device past it pulls as usual.
    let p = s.pull(space, 4, 10).await.unwrap();
    assert_eq!(p.snapshot, None);
    assert_eq!(p.blobs.len(), 1);
}

fn invite(space: Uuid, by: Uuid, kind: InviteKind, token: u8) -> NewInvite {
    NewInvite {
        id: Uuid::new_v4(),
        space,
        created_by: by,
        token_hash: h(token),
        wrapped_key: vec![1; 8],
        expires_at: 1_000,
        kind,
    }
}

async fn join(s: &dyn RelayStore, inv: &NewInvite, token: u8, device: Uuid) -> JoinOutcome {
    s.join_invite(inv.id, h(token), device, 10, 5)
        .await
        .unwrap()
}

fn joined(o: &JoinOutcome) -> bool {
    matches!(o, JoinOutcome::Joined { .. })
}

/// A device link (a `device` invite into a personal space) makes a fresh device one of the
/// inviter's person's; it then enters that person's journals with `device` invites. A
/// device that already has spaces can't be taken over, and nobody else's device gets in.
pub(crate) async fn device_links_make_one_person(s: &dyn RelayStore) {
    let a1 = device(s, 60).await;
    let personal = Uuid::new_v4();
    assert!(
        s.create_space(personal, SpaceKind::Personal, a1, 1)
            .await
            .unwrap()
    );
    let j = journal(s, a1).await;
    let a2 = device(s, 61).await;
    let link = invite(personal, a1, InviteKind::Device, 62);
    s.create_invite(link.clone()).await.unwrap();
    assert!(joined(&join(s, &link, 62, a2).await));
    assert_eq!(
        person(s, a2).await,
        person(s, a1).await,
        "linked: one person"
    );
    let to_journal = invite(j, a1, InviteKind::Device, 63);
    s.create_invite(to_journal.clone()).await.unwrap();
    assert!(joined(&join(s, &to_journal, 63, a2).await));

    // A stranger's device (or the partner's) can't use a device invite to a journal, and a
    // device with spaces of its own can't become someone else's through a link.
    let other = device(s, 64).await;
    let own = journal(s, other).await;
    let j2 = invite(j, a1, InviteKind::Device, 65);
    s.create_invite(j2.clone()).await.unwrap();
    assert!(matches!(
        join(s, &j2, 65, other).await,
        JoinOutcome::NotAllowed(_)
    ));
    let link2 = invite(personal, a1, InviteKind::Device, 66);
    s.create_invite(link2.clone()).await.unwrap();
    assert!(matches!(
        join(s, &link2, 66, other).await,
        JoinOutcome::NotAllowed(_)
    ));
    assert!(!s.is_member(personal, other).await.unwrap());
    assert!(s.is_member(own, other).await.unwrap());
    // Refused, not spent: the right device can still use it.
    let a3 = device(s, 67).await;
    assert!(joined(&join(s, &link2, 66, a3).await));
    // A partner invite never opens a personal space.
    let p = invite(personal, a1, InviteKind::Partner, 68);
    s.create_invite(p.clone()).await.unwrap();
    assert!(matches!(
        join(s, &p, 68, device(s, 69).await).await,
        JoinOutcome::NotAllowed(_)
    ));
}

/// A shared journal admits two people (each with any number of devices): a partner invite
/// used by a third person is refused and stays unused.
pub(crate) async fn journals_admit_two_people(s: &dyn RelayStore) {
    let a = device(s, 70).await;
    let j = journal(s, a).await;
    let first = invite(j, a, InviteKind::Partner, 71);
    let second = invite(j, a, InviteKind::Partner, 72);
    s.create_invite(first.clone()).await.unwrap();
    s.create_invite(second.clone()).await.unwrap();
    let b = device(s, 73).await;
    assert!(joined(&join(s, &first, 71, b).await));
    let c = device(s, 74).await;
    assert!(matches!(
        join(s, &second, 72, c).await,
        JoinOutcome::NotAllowed(_)
    ));
    assert!(!s.is_member(j, c).await.unwrap());
    let info = s.space_info(j).await.unwrap().unwrap();
    assert_eq!(info.members.len(), 2);
}

/// Removing a person from a journal takes every device of theirs (also one they joined
/// without telling anyone), their pending invites, and every pending partner invite; the
/// remaining person and their device invites stay.
pub(crate) async fn removal_takes_the_whole_person(s: &dyn RelayStore) {
    let a = device(s, 80).await;
    let j = journal(s, a).await;
    let b1 = device(s, 81).await;
    let inv = invite(j, a, InviteKind::Partner, 82);
    s.create_invite(inv.clone()).await.unwrap();
    assert!(joined(&join(s, &inv, 82, b1).await));
    // B links a second device and brings it in with his own device invite.
    let bp = Uuid::new_v4();
    assert!(
        s.create_space(bp, SpaceKind::Personal, b1, 1)
            .await
            .unwrap()
    );
    let b2 = device(s, 83).await;
    let link = invite(bp, b1, InviteKind::Device, 84);
    s.create_invite(link.clone()).await.unwrap();
    assert!(joined(&join(s, &link, 84, b2).await));
    let b_dev = invite(j, b1, InviteKind::Device, 85);
    s.create_invite(b_dev.clone()).await.unwrap();
    assert!(joined(&join(s, &b_dev, 85, b2).await));
    // Pending: a partner invite B made, a device invite B made, a device invite A made.
    let b_partner = invite(j, b1, InviteKind::Partner, 86);
    let b_dev2 = invite(j, b2, InviteKind::Device, 87);
    let a_dev = invite(j, a, InviteKind::Device, 88);
    for i in [&b_partner, &b_dev2, &a_dev] {
        s.create_invite(i.clone()).await.unwrap();
    }

    let mut left = s.remove_person(j, person(s, b1).await).await.unwrap();
    left.sort();
    let mut want = vec![b1, b2];
    want.sort();
    assert_eq!(left, want);
    assert!(!s.is_member(j, b1).await.unwrap());
    assert!(!s.is_member(j, b2).await.unwrap());
    assert!(s.is_member(j, a).await.unwrap());
    assert!(s.is_member(bp, b1).await.unwrap(), "his own space is his");
    let b3 = device(s, 89).await;
    assert_eq!(join(s, &b_partner, 86, b3).await, JoinOutcome::NotFound);
    assert_eq!(join(s, &b_dev2, 87, b2).await, JoinOutcome::NotFound);
    let a2 = device(s, 90).await;
    let ap = Uuid::new_v4();
    assert!(s.create_space(ap, SpaceKind::Personal, a, 1).await.unwrap());
    let a_link = invite(ap, a, InviteKind::Device, 91);
    s.create_invite(a_link.clone()).await.unwrap();
    assert!(joined(&join(s, &a_link, 91, a2).await));
    assert!(
        joined(&join(s, &a_dev, 88, a2).await),
        "the remaining person's device invite stays"
    );
    assert!(s.remove_person(j, Uuid::new_v4()).await.unwrap().is_empty());
}

fn sealed(epoch: u32, fill: u8) -> Vec<u8> {
    let mut b = vec![fill; duet_proto::sealed::MIN_SEALED_LEN + 8];
    b[0] = duet_proto::sealed::SEAL_VERSION;
    b[1..5].copy_from_slice(&epoch.to_be_bytes());
    b
}

/// Once a rotation to epoch e is announced, a fresh blob sealed under an older epoch is
/// refused (the whole push, nothing stored); retries of stored blobs still answer. Epochs
/// move forward one step at a time, and bytes without a sealed header aren't checked.
pub(crate) async fn epochs_only_move_forward(s: &dyn RelayStore) {
    let a = device(s, 95).await;
    let j = journal(s, a).await;
    let old = (vec![1; 16], sealed(1, 1));
    s.append(j, a, vec![old.clone()], LIMITS, 1).await.unwrap();
    // A blob under an epoch nobody announced is the clients' to judge, not the relay's.
    s.append(j, a, vec![(vec![2; 16], sealed(9, 2))], LIMITS, 2)
        .await
        .unwrap();
    assert_eq!(s.space_info(j).await.unwrap().unwrap().key_epoch, 0);
    assert!(matches!(
        s.raise_epoch(j, 3).await,
        Err(StoreError::EpochJump { epoch: 3, .. })
    ));
    assert_eq!(s.raise_epoch(j, 2).await.unwrap(), 2);
    assert_eq!(s.raise_epoch(j, 2).await.unwrap(), 2, "idempotent");
    assert!(matches!(
        s.raise_epoch(j, 1).await,
        Err(StoreError::StaleEpoch {
            epoch: 1,
            current: 2
        })
    ));
    assert_eq!(s.space_info(j).await.unwrap().unwrap().key_epoch, 2);
    assert!(matches!(
        s.append(
            j,
            a,
            vec![(vec![4; 16], sealed(2, 4)), (vec![5; 16], sealed(1, 5))],
            LIMITS,
            3
        )
        .await,
        Err(StoreError::StaleEpoch {
            epoch: 1,
            current: 2
        })
    ));
    assert_eq!(s.space_info(j).await.unwrap().unwrap().head, 2);
    // A retry of a blob stored before the rotation is still the same blob.
    assert_eq!(
        s.append(j, a, vec![old], LIMITS, 4).await.unwrap().seqs,
        vec![1]
    );
    let r = s
        .append(
            j,
            a,
            vec![(vec![6; 16], sealed(2, 6)), (vec![7; 16], vec![0; 3])],
            LIMITS,
            5,
        )
        .await
        .unwrap();
    assert_eq!(r.head, 4);
    assert!(matches!(
        s.raise_epoch(Uuid::new_v4(), 2).await,
        Err(StoreError::NotFound)
    ));
}

/// A space's stored bytes are its log and its snapshot: a snapshot that would pass the
/// quota is refused (nothing stored), one that fits leaves less room for pushes, a newer one
/// counts in place of the one it replaces, and pruning leaves the snapshot counted.
pub(crate) async fn snapshots_count_toward_the_quota(s: &dyn RelayStore) {
    let quota = LIMITS.quota_bytes; // 10,000
    let a = device(s, 100).await;
    let j = journal(s, a).await;
    let snap = |seq: u64, n: usize, fill: u8| Snapshot {
        seq,
        data: vec![fill; n],
    };
    s.append(j, a, vec![blob(1, 6_000)], LIMITS, 1)
        .await
        .unwrap();
    assert!(matches!(
        s.put_snapshot_within(j, snap(1, 5_000, 1), 2, quota).await,
        Err(StoreError::QuotaExceeded)
    ));
    assert_eq!(s.snapshot(j).await.unwrap(), None, "nothing stored");
    s.put_snapshot_within(j, snap(1, 3_000, 2), 3, quota)
        .await
        .unwrap();
    // 6,000 + 3,000 stored: 2,000 more don't fit, 500 do.
    assert!(matches!(
        s.append(j, a, vec![blob(2, 2_000)], LIMITS, 4).await,
        Err(StoreError::QuotaExceeded)
    ));
    assert_eq!(s.space_info(j).await.unwrap().unwrap().head, 1);
    s.append(j, a, vec![blob(2, 500)], LIMITS, 4).await.unwrap();
    // A newer snapshot replaces the old one's bytes: 6,500 + 3,400.
    s.put_snapshot_within(j, snap(2, 3_400, 3), 5, quota)
        .await
        .unwrap();
    assert!(matches!(
        s.put_snapshot_within(j, snap(2, 3_600, 4), 5, quota).await,
        Ok(()),
    ));
    assert_eq!(
        s.snapshot(j).await.unwrap(),
        Some(snap(2, 3_400, 3)),
        "the same seq again is not newer: nothing changes"
    );
    // Pruning the log leaves the snapshot's 3,400: 6,600 more fit, and not a byte past.
    assert_eq!(s.prune(100).await.unwrap(), 2);
    s.append(j, a, vec![blob(3, 6_600)], LIMITS, 6)
        .await
        .unwrap();
    assert!(matches!(
        s.append(j, a, vec![blob(4, 1)], LIMITS, 7).await,
        Err(StoreError::QuotaExceeded)
    ));
    assert!(matches!(
        s.put_snapshot_within(Uuid::new_v4(), snap(0, 1, 0), 8, quota)
            .await,
        Err(StoreError::NotFound)
    ));
}

/// A device creates at most its cap of spaces. At the cap a free id and someone else's id
/// answer alike (no probing), its own space again changes nothing, and spaces it only
/// joined don't count.
pub(crate) async fn spaces_per_device_are_capped(s: &dyn RelayStore) {
    let a = device(s, 110).await;
    let b = device(s, 111).await;
    let theirs = Uuid::new_v4();
    assert!(
        s.create_space_capped(theirs, SpaceKind::Journal, b, 1, 2)
            .await
            .unwrap()
    );
    let mine: Vec<Uuid> = (0..2).map(|_| Uuid::new_v4()).collect();
    for id in &mine {
        assert!(
            s.create_space_capped(*id, SpaceKind::Journal, a, 1, 2)
                .await
                .unwrap()
        );
    }
    let free = Uuid::new_v4();
    for id in [free, theirs] {
        assert!(matches!(
            s.create_space_capped(id, SpaceKind::Personal, a, 2, 2)
                .await,
            Err(StoreError::TooManySpaces { max: 2 })
        ));
    }
    assert_eq!(s.space_info(free).await.unwrap(), None, "nothing stored");
    assert!(!s.is_member(theirs, a).await.unwrap());
    assert!(
        !s.create_space_capped(mine[0], SpaceKind::Journal, a, 2, 2)
            .await
            .unwrap()
    );
    assert_eq!(s.spaces_of(a).await.unwrap().len(), 2);
    // Joining someone's space is not creating one.
    s.add_member(theirs, a, 3).await.unwrap();
    assert!(
        s.create_space_capped(Uuid::new_v4(), SpaceKind::Journal, b, 3, 2)
            .await
            .unwrap()
    );
    assert!(
        s.create_space_capped(free, SpaceKind::Journal, a, 3, 3)
            .await
            .unwrap()
    );
}

/// A device holds at most its cap of pending invites: past it, nothing is stored. Used,
/// expired and burned invites are not pending.
pub(crate) async fn pending_invites_per_device_are_capped(s: &dyn RelayStore) {
    let a = device(s, 120).await;
    let j = journal(s, a).await;
    // Store an invite with the cap of two pending ones, as of `now`.
    let create = |inv: &NewInvite, now| {
        s.create_invite_capped(
            inv.clone(),
            InviteCap {
                now,
                max_pending: 2,
                max_attempts: 5,
            },
        )
    };
    let at_cap = |r: StoreResult<()>| matches!(r, Err(StoreError::TooManyInvites { max: 2 }));
    let first = invite(j, a, InviteKind::Partner, 121);
    let short = NewInvite {
        expires_at: 20,
        ..invite(j, a, InviteKind::Device, 122)
    };
    let third = invite(j, a, InviteKind::Device, 123);
    create(&first, 10).await.unwrap();
    create(&short, 10).await.unwrap();
    assert!(at_cap(create(&third, 10).await));
    assert_eq!(join(s, &third, 123, a).await, JoinOutcome::NotFound);
    // Expired at 20: no longer pending.
    create(&third, 20).await.unwrap();
    let fourth = invite(j, a, InviteKind::Device, 124);
    assert!(at_cap(create(&fourth, 20).await));
    // Used: no longer pending.
    let b = device(s, 125).await;
    assert!(joined(&join(s, &first, 121, b).await));
    create(&fourth, 20).await.unwrap();
    let fifth = invite(j, a, InviteKind::Device, 126);
    assert!(at_cap(create(&fifth, 20).await));
    // Burned: no longer pending.
    for _ in 0..5 {
        join(s, &third, 1, a).await;
    }
    assert_eq!(join(s, &third, 123, a).await, JoinOutcome::Burned);
    create(&fifth, 20).await.unwrap();
    // Another device's invites are its own count.
    let other = invite(j, b, InviteKind::Device, 127);
    create(&other, 20).await.unwrap();
}

/// Invites that expired before the cutoff go, used or not; the rest stay.
pub(crate) async fn expired_invites_are_purged(s: &dyn RelayStore) {
    let a = device(s, 130).await;
    let j = journal(s, a).await;
    let at = |expires_at, token| NewInvite {
        expires_at,
        ..invite(j, a, InviteKind::Partner, token)
    };
    let (old, used, fresh) = (at(100, 131), at(100, 132), at(1_000, 133));
    for i in [&old, &used, &fresh] {
        s.create_invite(i.clone()).await.unwrap();
    }
    let b = device(s, 134).await;
    assert!(joined(&join(s, &used, 132, b).await));
    assert_eq!(s.purge_invites(100).await.unwrap(), 0);
    assert_eq!(s.purge_invites(101).await.unwrap(), 2);
    assert_eq!(join(s, &old, 131, b).await, JoinOutcome::NotFound);
    assert_eq!(join(s, &used, 132, b).await, JoinOutcome::NotFound);
    assert_eq!(
        join(s, &fresh, 1, b).await,
        JoinOutcome::WrongToken { attempts_left: 4 },
        "an unexpired invite stays"
    );
    assert_eq!(s.purge_invites(101).await.unwrap(), 0);
}

/// A 32-byte answer share filled with `b`.
fn share(b: u8) -> [u8; 32] {
    [b; 32]
}

/// Register `person`'s share `b` to `round` with room for plenty of answers.
async fn answer(
    s: &dyn RelayStore,
    space: Uuid,
    round: &str,
    person: Uuid,
    b: u8,
    at: i64,
) -> bool {
    s.put_answer(space, round, person, share(b), at, 1_000)
        .await
        .unwrap()
}

/// The first share a person registers for a round stays: a retry and another share (another
/// device's, made offline) both change nothing, not even the time.
pub(crate) async fn first_answer_share_wins(s: &dyn RelayStore) {
    let a = device(s, 140).await;
    let j = journal(s, a).await;
    let pa = person(s, a).await;
    assert!(answer(s, j, "p1.7", pa, 1, 10).await);
    assert!(!answer(s, j, "p1.7", pa, 1, 11).await, "a retry");
    assert!(!answer(s, j, "p1.7", pa, 2, 12).await, "another share");
    assert_eq!(
        s.answers(j, "p1.7").await.unwrap(),
        vec![StoredAnswer {
            person: pa,
            share: share(1).to_vec(),
            answered_at: 10,
            revealed: false,
        }]
    );
    assert!(matches!(
        s.put_answer(Uuid::new_v4(), "p1.7", pa, share(1), 10, 1_000)
            .await,
        Err(StoreError::NotFound)
    ));
}

/// A round lists every person who answered, in the order they did, with their shares; a
/// round nobody answered is empty.
pub(crate) async fn answers_are_listed_in_order(s: &dyn RelayStore) {
    let a = device(s, 141).await;
    let j = journal(s, a).await;
    let (first, second) = (Uuid::new_v4(), Uuid::new_v4());
    assert!(s.answers(j, "p2.1").await.unwrap().is_empty());
    answer(s, j, "p2.1", second, 2, 20).await;
    answer(s, j, "p2.1", first, 1, 30).await;
    let got = s.answers(j, "p2.1").await.unwrap();
    assert_eq!(
        got.iter()
            .map(|x| (x.person, x.share[0], x.answered_at, x.revealed))
            .collect::<Vec<_>>(),
        vec![(second, 2, 20, false), (first, 1, 30, false)]
    );
    assert!(s.answers(Uuid::new_v4(), "p2.1").await.unwrap().is_empty());
}

/// A person reveals their own answer (again: no change); one who hasn't answered reveals
/// nothing, and a reveal marks no one else's answer.
pub(crate) async fn answers_are_revealed_by_their_person(s: &dyn RelayStore) {
    let a = device(s, 142).await;
    let j = journal(s, a).await;
    let (pa, pb) = (Uuid::new_v4(), Uuid::new_v4());
    answer(s, j, "p3.1", pa, 1, 1).await;
    answer(s, j, "p3.1", pb, 2, 2).await;
    assert!(!s.reveal_answer(j, "p3.1", Uuid::new_v4()).await.unwrap());
    assert!(
        !s.reveal_answer(j, "p3.2", pa).await.unwrap(),
        "another round"
    );
    assert!(s.reveal_answer(j, "p3.1", pa).await.unwrap());
    assert!(s.reveal_answer(j, "p3.1", pa).await.unwrap(), "idempotent");
    let revealed: Vec<(Uuid, bool)> = s
        .answers(j, "p3.1")
        .await
        .unwrap()
        .iter()
        .map(|x| (x.person, x.revealed))
        .collect();
    assert_eq!(revealed, vec![(pa, true), (pb, false)]);
    // Revealed, the share is still the first one.
    assert!(!answer(s, j, "p3.1", pa, 9, 3).await);
    assert_eq!(
        s.answers(j, "p3.1").await.unwrap()[0].share,
        share(1).to_vec()
    );
}

/// A space holds at most its cap of answers, across rounds: one more is refused and nothing
/// stored, a share already held still answers, and other spaces have their own count.
pub(crate) async fn answers_per_space_are_capped(s: &dyn RelayStore) {
    let a = device(s, 143).await;
    let j = journal(s, a).await;
    let other = journal(s, a).await;
    let (pa, pb) = (Uuid::new_v4(), Uuid::new_v4());
    let put =
        |space, round: &'static str, person, b| s.put_answer(space, round, person, share(b), 1, 3);
    assert!(put(j, "r1", pa, 1).await.unwrap());
    assert!(put(j, "r1", pb, 2).await.unwrap());
    assert!(put(j, "r2", pa, 3).await.unwrap());
    assert!(matches!(
        put(j, "r2", pb, 4).await,
        Err(StoreError::TooManyAnswers { max: 3 })
    ));
    assert!(matches!(
        put(j, "r3", pa, 5).await,
        Err(StoreError::TooManyAnswers { max: 3 })
    ));
    assert_eq!(s.answers(j, "r2").await.unwrap().len(), 1, "nothing stored");
    assert!(s.answers(j, "r3").await.unwrap().is_empty());
    assert!(
        !put(j, "r1", pa, 6).await.unwrap(),
        "a held share still answers"
    );
    assert!(put(other, "r2", pb, 7).await.unwrap());
}

/// Answers belong to their space and round: the same round in another space, and another
/// round in the same space, are separate (same person, other shares).
pub(crate) async fn answers_stay_in_their_space_and_round(s: &dyn RelayStore) {
    let a = device(s, 144).await;
    let (j1, j2) = (journal(s, a).await, journal(s, a).await);
    let pa = person(s, a).await;
    assert!(answer(s, j1, "p4.1", pa, 1, 1).await);
    assert!(answer(s, j2, "p4.1", pa, 2, 2).await);
    assert!(answer(s, j1, "p4.2", pa, 3, 3).await);
    let shares = |space, round: &'static str| async move {
        s.answers(space, round)
            .await
            .unwrap()
            .iter()
            .map(|x| x.share[0])
            .collect::<Vec<_>>()
    };
    assert_eq!(shares(j1, "p4.1").await, vec![1]);
    assert_eq!(shares(j2, "p4.1").await, vec![2]);
    assert_eq!(shares(j1, "p4.2").await, vec![3]);
    assert!(shares(j2, "p4.2").await.is_empty());
    assert!(s.reveal_answer(j1, "p4.1", pa).await.unwrap());
    assert!(!s.answers(j2, "p4.1").await.unwrap()[0].revealed);
    assert!(!s.answers(j1, "p4.2").await.unwrap()[0].revealed);
    // A round id is compared exactly: case matters.
    assert!(shares(j1, "P4.1").await.is_empty());
}

/// A drop for `device`: 104 bytes of `fill` (an X25519 key, a nonce, a sealed key).
fn key_drop(device: Uuid, fill: u8) -> KeyDrop {
    KeyDrop {
        device,
        sealed: vec![fill; 104],
    }
}

/// A journal of `a` with `others` as members too, its key rotated to epoch 2.
async fn rotated(s: &dyn RelayStore, a: Uuid, others: &[Uuid]) -> Uuid {
    let j = journal(s, a).await;
    for d in others {
        s.add_member(j, *d, 1).await.unwrap();
    }
    assert_eq!(s.raise_epoch(j, 2).await.unwrap(), 2);
    j
}

/// `N` registered devices, each its own person, their tokens made of `first` on.
async fn cast<const N: usize>(s: &dyn RelayStore, first: u8) -> [Uuid; N] {
    let mut out = [Uuid::nil(); N];
    for (i, d) in out.iter_mut().enumerate() {
        *d = device(s, first + i as u8).await;
    }
    out
}

/// Leave `drops` of epoch `epoch` in `space` from `sender`; how many were new.
async fn drop_keys(
    s: &dyn RelayStore,
    space: Uuid,
    epoch: u32,
    sender: Uuid,
    drops: Vec<KeyDrop>,
) -> u64 {
    s.put_key_drops(space, epoch, sender, drops, 10)
        .await
        .unwrap()
}

/// What `device` holds in `space`: (epoch, sender, the first sealed byte), in order.
async fn held(s: &dyn RelayStore, space: Uuid, device: Uuid) -> Vec<(u32, Uuid, u8)> {
    s.key_drops(space, device)
        .await
        .unwrap()
        .iter()
        .map(|d| (d.epoch, d.sender, d.sealed[0]))
        .collect()
}

/// Each device gets the drops left for it, byte for byte, oldest epoch first, with the
/// device that left each; a device nobody dropped for holds none.
pub(crate) async fn key_drops_are_stored_and_fetched_per_device(s: &dyn RelayStore) {
    let [a, b, c] = cast(s, 150).await;
    let j = rotated(s, a, &[b, c]).await;
    let drops = vec![key_drop(b, 1), key_drop(c, 2)];
    assert_eq!(drop_keys(s, j, 2, a, drops).await, 2);
    assert_eq!(
        s.key_drops(j, b).await.unwrap(),
        vec![HeldDrop {
            epoch: 2,
            sender: a,
            sealed: vec![1; 104],
        }]
    );
    assert_eq!(held(s, j, c).await, vec![(2, a, 2)]);
    // The next rotation, dropped by another member: listed after the older one.
    assert_eq!(s.raise_epoch(j, 3).await.unwrap(), 3);
    assert_eq!(drop_keys(s, j, 3, c, vec![key_drop(b, 3)]).await, 1);
    assert_eq!(held(s, j, b).await, vec![(2, a, 1), (3, c, 3)]);
    assert!(held(s, j, a).await.is_empty());
    assert!(held(s, Uuid::new_v4(), b).await.is_empty());
}

/// A device sees only its own drops: not another member's in the same space, not its own
/// in another space.
pub(crate) async fn key_drops_are_seen_only_by_their_device(s: &dyn RelayStore) {
    let [a, b, c] = cast(s, 153).await;
    let j = rotated(s, a, &[b, c]).await;
    let other = rotated(s, a, &[b]).await;
    assert_eq!(drop_keys(s, j, 2, a, vec![key_drop(b, 1)]).await, 1);
    assert!(held(s, j, c).await.is_empty(), "another member's drop");
    assert!(held(s, other, b).await.is_empty(), "another space's drop");
    assert_eq!(held(s, j, b).await, vec![(2, a, 1)]);
}

/// A drop for a device that isn't a member of the space (a stranger, a revoked device, an
/// id nobody has) is skipped; the members' drops beside it are stored.
pub(crate) async fn key_drops_for_non_members_are_skipped(s: &dyn RelayStore) {
    let [a, b] = cast(s, 156).await;
    let [stranger, lost] = cast(s, 158).await;
    let j = rotated(s, a, &[b, lost]).await;
    assert!(s.revoke_device(lost, 2).await.unwrap());
    let drops = vec![
        key_drop(stranger, 1),
        key_drop(lost, 2),
        key_drop(Uuid::new_v4(), 3),
        key_drop(b, 4),
    ];
    assert_eq!(drop_keys(s, j, 2, a, drops).await, 1);
    assert!(held(s, j, stranger).await.is_empty());
    assert!(held(s, j, lost).await.is_empty());
    assert_eq!(held(s, j, b).await, vec![(2, a, 4)]);
    assert_eq!(
        drop_keys(s, j, 2, a, vec![key_drop(stranger, 5)]).await,
        0,
        "only skipped drops: nothing stored, no error"
    );
}

/// A drop the sender leaves for itself is skipped (it holds the key it sealed).
pub(crate) async fn key_drops_for_the_sender_are_skipped(s: &dyn RelayStore) {
    let [a, b] = cast(s, 160).await;
    let j = rotated(s, a, &[b]).await;
    assert_eq!(
        drop_keys(s, j, 2, a, vec![key_drop(a, 1), key_drop(b, 2)]).await,
        1
    );
    assert!(held(s, j, a).await.is_empty());
    assert_eq!(drop_keys(s, j, 2, a, vec![key_drop(a, 3)]).await, 0);
    assert!(held(s, j, a).await.is_empty());
}

/// The first drop stored for a device and epoch stays: a retry, other bytes, another
/// member's drop, or a second drop for the device in the same request change nothing.
pub(crate) async fn first_key_drop_wins(s: &dyn RelayStore) {
    let [a, b, c] = cast(s, 162).await;
    let j = rotated(s, a, &[b, c]).await;
    assert_eq!(drop_keys(s, j, 2, a, vec![key_drop(b, 1)]).await, 1);
    assert_eq!(
        drop_keys(s, j, 2, a, vec![key_drop(b, 1)]).await,
        0,
        "a retry"
    );
    assert_eq!(drop_keys(s, j, 2, a, vec![key_drop(b, 2)]).await, 0);
    assert_eq!(drop_keys(s, j, 2, c, vec![key_drop(b, 3)]).await, 0);
    assert_eq!(held(s, j, b).await, vec![(2, a, 1)]);
    let twice = vec![key_drop(c, 4), key_drop(c, 5)];
    assert_eq!(drop_keys(s, j, 2, b, twice).await, 1);
    assert_eq!(held(s, j, c).await, vec![(2, b, 4)]);
}

/// Drops carry the space's announced epoch: an older one is stale, a newer one (or any,
/// in a space never announced) must be announced first. Nothing is stored either way.
pub(crate) async fn key_drops_need_the_announced_epoch(s: &dyn RelayStore) {
    let [a, b] = cast(s, 165).await;
    let j = journal(s, a).await;
    s.add_member(j, b, 1).await.unwrap();
    let refused = |space, epoch| s.put_key_drops(space, epoch, a, vec![key_drop(b, 1)], 10);
    for epoch in [0, 1] {
        assert!(matches!(
            refused(j, epoch).await,
            Err(StoreError::DropEpoch { epoch: e, current: 0 }) if e == epoch
        ));
    }
    assert_eq!(s.raise_epoch(j, 2).await.unwrap(), 2);
    assert!(matches!(
        refused(j, 1).await,
        Err(StoreError::DropEpoch {
            epoch: 1,
            current: 2
        })
    ));
    assert!(matches!(
        refused(j, 3).await,
        Err(StoreError::DropEpoch {
            epoch: 3,
            current: 2
        })
    ));
    assert!(held(s, j, b).await.is_empty(), "nothing stored");
    assert!(matches!(
        refused(Uuid::new_v4(), 2).await,
        Err(StoreError::NotFound)
    ));
}

/// Only a member device leaves drops: anyone else's are refused whole.
pub(crate) async fn key_drops_need_a_member_sender(s: &dyn RelayStore) {
    let [a, b, outsider] = cast(s, 167).await;
    let j = rotated(s, a, &[b]).await;
    assert!(matches!(
        s.put_key_drops(j, 2, outsider, vec![key_drop(b, 1)], 10)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(held(s, j, b).await.is_empty());
}

/// Devices `[a, gone, stays]` and two journals of `a` rotated to epoch 2: `j` with both
/// others in it, `other` with `gone`. Drops are left for `gone` in `j` (filled with 1) and
/// `other` (3), and for `stays` in `j` (2).
async fn drops_in_two_spaces(s: &dyn RelayStore, first: u8) -> ([Uuid; 3], Uuid, Uuid) {
    let [a, gone, stays] = cast(s, first).await;
    let j = rotated(s, a, &[gone, stays]).await;
    let other = rotated(s, a, &[gone]).await;
    let drops = vec![key_drop(gone, 1), key_drop(stays, 2)];
    assert_eq!(drop_keys(s, j, 2, a, drops).await, 2);
    assert_eq!(drop_keys(s, other, 2, a, vec![key_drop(gone, 3)]).await, 1);
    ([a, gone, stays], j, other)
}

/// A revoked device's drops go, in every space — those left for it and those it left (a
/// thief with the phone may have planted one); the other devices' stay.
pub(crate) async fn revocation_deletes_key_drops(s: &dyn RelayStore) {
    let ([a, lost, b], j, other) = drops_in_two_spaces(s, 170).await;
    assert_eq!(drop_keys(s, other, 2, lost, vec![key_drop(a, 4)]).await, 1);
    assert!(s.revoke_device(lost, 20).await.unwrap());
    assert!(held(s, j, lost).await.is_empty());
    assert!(held(s, other, lost).await.is_empty());
    assert!(
        held(s, other, a).await.is_empty(),
        "the drop it left is gone"
    );
    assert_eq!(held(s, j, b).await, vec![(2, a, 2)]);
}

/// A device that leaves a space loses its drops there (back in, it doesn't get them back);
/// its drops in other spaces and other members' stay.
pub(crate) async fn leaving_deletes_key_drops(s: &dyn RelayStore) {
    let ([a, b, c], j, other) = drops_in_two_spaces(s, 173).await;
    assert!(s.remove_member(j, b).await.unwrap());
    assert!(held(s, j, b).await.is_empty());
    s.add_member(j, b, 30).await.unwrap();
    assert!(held(s, j, b).await.is_empty(), "back in: nothing back");
    assert_eq!(held(s, other, b).await, vec![(2, a, 3)]);
    assert_eq!(held(s, j, c).await, vec![(2, a, 2)]);
}

/// Removing a person from a space takes the drops of every device of theirs that left; the
/// remaining person's stay.
pub(crate) async fn removing_a_person_deletes_key_drops(s: &dyn RelayStore) {
    let [a, a2] = cast(s, 176).await;
    let pb = Uuid::new_v4();
    let (b1, b2) = (Uuid::new_v4(), Uuid::new_v4());
    s.register_device(b1, pb, h(178), 1).await.unwrap();
    s.register_device(b2, pb, h(179), 1).await.unwrap();
    let j = rotated(s, a, &[a2, b1, b2]).await;
    let drops = vec![key_drop(a2, 1), key_drop(b1, 2), key_drop(b2, 3)];
    assert_eq!(drop_keys(s, j, 2, a, drops).await, 3);
    let mut left = s.remove_person(j, pb).await.unwrap();
    left.sort();
    let mut both = vec![b1, b2];
    both.sort();
    assert_eq!(left, both);
    assert!(held(s, j, b1).await.is_empty());
    assert!(held(s, j, b2).await.is_empty());
    assert_eq!(held(s, j, a2).await, vec![(2, a, 1)]);
}

/// Lookup id `n`: sixteen bytes of it.
fn lookup(n: u8) -> Lookup {
    [n; 16]
}

/// A kit of `device`'s person at lookup id `n`, listing `spaces`, its envelope filled with
/// `n` (the secret's hash is `h(n)`).
async fn kit(s: &dyn RelayStore, n: u8, device: Uuid, spaces: &[Uuid]) -> StoreResult<()> {
    s.put_recovery_kit(kit_update(s, n, device, spaces).await, h(n))
        .await
}

async fn kit_update(s: &dyn RelayStore, n: u8, device: Uuid, spaces: &[Uuid]) -> KitUpdate {
    KitUpdate {
        lookup: lookup(n),
        device,
        person: person(s, device).await,
        envelope: vec![n; 100],
        spaces: spaces.to_vec(),
        now: 1_000 + i64::from(n),
    }
}

fn attempt(lookup: Lookup, auth_hash: [u8; 32], device: Uuid, token_hash: [u8; 32]) -> KitAttempt {
    KitAttempt {
        lookup,
        auth_hash,
        device,
        token_hash,
        now: 50,
    }
}

/// Recover with kit `n`'s secret (`h(n)`), registering a fresh device under token `token`.
async fn recover(s: &dyn RelayStore, n: u8, token: u8) -> Option<(Uuid, Recovery)> {
    let d = Uuid::new_v4();
    s.recover_device(attempt(lookup(n), h(n), d, h(token)))
        .await
        .unwrap()
        .map(|r| (d, r))
}

/// `n` more devices of `of`'s person, their tokens made of `first` on.
async fn devices_of<const N: usize>(s: &dyn RelayStore, of: Uuid, first: u8) -> [Uuid; N] {
    let p = person(s, of).await;
    let mut out = [Uuid::nil(); N];
    for (i, d) in out.iter_mut().enumerate() {
        *d = Uuid::new_v4();
        s.register_device(*d, p, h(first + i as u8), 1)
            .await
            .unwrap();
    }
    out
}

fn sorted(mut v: Vec<Uuid>) -> Vec<Uuid> {
    v.sort();
    v
}

/// A person has one kit: a new one (new words, a new lookup id) replaces the old, whose
/// lookup id then leads nowhere; made again at the same id, it takes the new secret.
pub(crate) async fn a_kit_replaces_the_persons_old_one(s: &dyn RelayStore) {
    let [a] = cast(s, 200).await;
    let j = journal(s, a).await;
    kit(s, 1, a, &[j, j]).await.unwrap();
    let pa = person(s, a).await;
    let listed = s.recovery_kit_of(pa).await.unwrap().unwrap();
    assert_eq!(listed.spaces, vec![j], "listed once");
    assert_eq!((listed.lookup, listed.made_by), (lookup(1), a));
    assert_eq!(listed.updated_at, 1_001);
    let [a2] = devices_of(s, a, 201).await;
    kit(s, 2, a2, &[]).await.unwrap();
    let now = s.recovery_kit_of(pa).await.unwrap().unwrap();
    assert_eq!(
        (now.lookup, now.made_by, now.spaces),
        (lookup(2), a2, vec![])
    );
    assert!(!s.recovery_kit_exists(lookup(1)).await.unwrap());
    assert!(s.recovery_kit_exists(lookup(2)).await.unwrap());
    assert!(recover(s, 1, 202).await.is_none(), "the old words");
    // The same lookup id again, with another secret: the old secret no longer proves it.
    let mut again = kit_update(s, 2, a, &[j]).await;
    again.envelope = vec![9; 10];
    s.put_recovery_kit(again, h(77)).await.unwrap();
    assert!(recover(s, 2, 203).await.is_none());
    let d = Uuid::new_v4();
    let r = s
        .recover_device(attempt(lookup(2), h(77), d, h(204)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.envelope, r.spaces), (vec![9; 10], vec![j]));
}

/// Without a secret, a kit's envelope and spaces are updated by any device of its person
/// (its maker and secret stay); at a lookup id where the person has no kit, nothing is.
pub(crate) async fn a_kit_is_updated_by_its_person_only(s: &dyn RelayStore) {
    let [a] = cast(s, 205).await;
    let [a2] = devices_of(s, a, 206).await;
    let j = journal(s, a).await;
    s.add_member(j, a2, 1).await.unwrap();
    kit(s, 3, a, &[]).await.unwrap();
    let mut update = kit_update(s, 3, a2, &[j]).await;
    update.envelope = vec![8; 5];
    update.now = 2_000;
    s.update_recovery_kit(update).await.unwrap();
    let pa = person(s, a).await;
    let want = StoredKit {
        lookup: lookup(3),
        made_by: a,
        updated_at: 2_000,
        spaces: vec![j],
    };
    assert_eq!(s.recovery_kit_of(pa).await.unwrap(), Some(want));
    assert!(matches!(
        s.update_recovery_kit(kit_update(s, 4, a, &[]).await).await,
        Err(StoreError::NotFound)
    ));
    let (_, r) = recover(s, 3, 207).await.unwrap();
    assert_eq!(
        r.envelope,
        vec![8; 5],
        "the update's envelope, the first secret"
    );
}

/// Another person's device can neither update a kit nor take its lookup id; the kit stays
/// as it was.
pub(crate) async fn a_kit_is_not_taken_by_another_person(s: &dyn RelayStore) {
    let [a, b] = cast(s, 208).await;
    let j = journal(s, a).await;
    s.add_member(j, b, 1).await.unwrap();
    kit(s, 5, a, &[j]).await.unwrap();
    let before = s.recovery_kit_of(person(s, a).await).await.unwrap();
    assert!(matches!(
        s.update_recovery_kit(kit_update(s, 5, b, &[]).await).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.put_recovery_kit(kit_update(s, 5, b, &[]).await, h(99))
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.recovery_kit_of(person(s, a).await).await.unwrap(), before);
    assert_eq!(s.recovery_kit_of(person(s, b).await).await.unwrap(), None);
    let (_, r) = recover(s, 5, 210).await.unwrap();
    assert_eq!((r.person, r.envelope), (person(s, a).await, vec![5; 100]));
}

/// A kit lists only spaces its maker (or updater) is a member of; one that lists another
/// space is refused whole, as is a revoked device's.
pub(crate) async fn a_kit_lists_only_the_makers_spaces(s: &dyn RelayStore) {
    let [a, b] = cast(s, 211).await;
    let mine = journal(s, a).await;
    let theirs = journal(s, b).await;
    assert!(matches!(
        kit(s, 6, a, &[mine, theirs]).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        kit(s, 6, a, &[Uuid::new_v4()]).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.recovery_kit_of(person(s, a).await).await.unwrap(), None);
    kit(s, 6, a, &[mine]).await.unwrap();
    assert!(matches!(
        s.update_recovery_kit(kit_update(s, 6, a, &[theirs]).await)
            .await,
        Err(StoreError::NotFound)
    ));
    let spaces = s.recovery_kit_of(person(s, a).await).await.unwrap();
    assert_eq!(spaces.map(|k| k.spaces), Some(vec![mine]));
    let [lost] = devices_of(s, a, 213).await;
    let update = kit_update(s, 6, lost, &[]).await;
    assert!(s.revoke_device(lost, 2).await.unwrap());
    assert!(matches!(
        s.put_recovery_kit(update, h(6)).await,
        Err(StoreError::NotFound)
    ));
}

/// A recovered device is admitted only to the kit's spaces where its person still has a
/// device: not a journal they were removed from (which also leaves the kit's list), nor one
/// their last device left, nor one whose only device of theirs is revoked.
pub(crate) async fn recovery_admits_only_where_the_person_still_is(s: &dyn RelayStore) {
    let [a, b] = cast(s, 214).await;
    let [a2] = devices_of(s, a, 216).await;
    let personal = Uuid::new_v4();
    assert!(
        s.create_space(personal, SpaceKind::Personal, a, 1)
            .await
            .unwrap()
    );
    s.add_member(personal, a2, 1).await.unwrap();
    let shared = journal(s, b).await;
    s.add_member(shared, a, 1).await.unwrap();
    let left = journal(s, a).await;
    let lost_in = journal(s, a).await;
    s.add_member(lost_in, a2, 1).await.unwrap();
    let kept = journal(s, a).await;
    let all = [personal, shared, left, lost_in, kept];
    kit(s, 7, a, &all).await.unwrap();
    // B removes A from the journal they shared; A's device leaves another journal alone;
    // in a third A's only device there is revoked.
    s.remove_person(shared, person(s, a).await).await.unwrap();
    assert!(s.remove_member(left, a).await.unwrap());
    s.remove_member(lost_in, a).await.unwrap();
    assert!(s.revoke_device(a2, 2).await.unwrap());
    let mut listed = all.to_vec();
    listed.retain(|x| *x != shared);
    let pa = person(s, a).await;
    assert_eq!(
        s.recovery_kit_of(pa).await.unwrap().map(|k| k.spaces),
        Some(sorted(listed)),
        "a removal takes the journal off the kit's list"
    );
    let (d, r) = recover(s, 7, 217).await.unwrap();
    assert_eq!(r.spaces, sorted(vec![personal, kept]));
    for space in all {
        let admitted = space == personal || space == kept;
        assert_eq!(s.is_member(space, d).await.unwrap(), admitted, "{space}");
    }
    assert!(!s.is_member(shared, d).await.unwrap());
}

/// A recovery registers a device acting for the kit's person, under the token given; it
/// answers the envelope and the person's other devices that aren't revoked.
pub(crate) async fn recovery_registers_a_device_of_the_person(s: &dyn RelayStore) {
    let [a] = cast(s, 218).await;
    let [a2, lost] = devices_of(s, a, 219).await;
    let j = journal(s, a).await;
    kit(s, 8, a, &[j]).await.unwrap();
    assert!(s.revoke_device(lost, 2).await.unwrap());
    let (d, r) = recover(s, 8, 221).await.unwrap();
    let pa = person(s, a).await;
    assert_eq!(
        r,
        Recovery {
            person: pa,
            envelope: vec![8; 100],
            spaces: vec![j],
            devices: sorted(vec![a, a2]),
        }
    );
    assert_eq!(
        s.device_by_token(h(221)).await.unwrap(),
        Some(Device {
            id: d,
            person: pa,
            revoked: false
        })
    );
    assert!(s.is_member(j, d).await.unwrap());
    // Again (another new device): the first recovered one is listed among the others.
    let (_, again) = recover(s, 8, 222).await.unwrap();
    assert_eq!(again.devices, sorted(vec![a, a2, d]));
}

/// A wrong secret, or a lookup id no kit has, recovers nothing and changes nothing.
pub(crate) async fn a_wrong_secret_recovers_nothing(s: &dyn RelayStore) {
    let [a] = cast(s, 223).await;
    let j = journal(s, a).await;
    kit(s, 9, a, &[j]).await.unwrap();
    let before = s.recovery_kit_of(person(s, a).await).await.unwrap();
    let d = Uuid::new_v4();
    for (at, secret) in [(lookup(9), h(10)), (lookup(10), h(9)), (lookup(10), h(10))] {
        assert_eq!(
            s.recover_device(attempt(at, secret, d, h(224)))
                .await
                .unwrap(),
            None
        );
    }
    assert_eq!(s.device(d).await.unwrap(), None, "no device registered");
    assert_eq!(s.device_by_token(h(224)).await.unwrap(), None);
    assert_eq!(s.space_info(j).await.unwrap().unwrap().members, vec![a]);
    assert_eq!(s.recovery_kit_of(person(s, a).await).await.unwrap(), before);
}

/// Revoking the device that made a kit deletes the kit (whoever holds the device may hold
/// the words); revoking another device of the person doesn't.
pub(crate) async fn revoking_the_maker_deletes_the_kit(s: &dyn RelayStore) {
    let [a, b] = cast(s, 225).await;
    let [a2] = devices_of(s, a, 227).await;
    let j = journal(s, a).await;
    kit(s, 11, a, &[j]).await.unwrap();
    kit(s, 12, b, &[]).await.unwrap();
    assert!(s.revoke_device(a2, 2).await.unwrap());
    assert!(s.recovery_kit_exists(lookup(11)).await.unwrap());
    assert!(s.revoke_device(a, 3).await.unwrap());
    assert!(!s.recovery_kit_exists(lookup(11)).await.unwrap());
    assert_eq!(s.recovery_kit_of(person(s, a).await).await.unwrap(), None);
    assert!(recover(s, 11, 228).await.is_none());
    assert!(
        s.recovery_kit_exists(lookup(12)).await.unwrap(),
        "B's stays"
    );
}

/// A recovery makes the new device the kit's maker: revoking the old one (the lost phone)
/// then leaves the kit, revoking the new one takes it.
pub(crate) async fn recovery_moves_the_maker(s: &dyn RelayStore) {
    let [a] = cast(s, 229).await;
    let j = journal(s, a).await;
    kit(s, 13, a, &[j]).await.unwrap();
    let (d, _) = recover(s, 13, 230).await.unwrap();
    let pa = person(s, a).await;
    let made_by = |k: Option<StoredKit>| k.map(|k| k.made_by);
    assert_eq!(made_by(s.recovery_kit_of(pa).await.unwrap()), Some(d));
    assert!(s.revoke_device(a, 2).await.unwrap());
    assert_eq!(made_by(s.recovery_kit_of(pa).await.unwrap()), Some(d));
    assert!(s.is_member(j, d).await.unwrap());
    assert!(s.revoke_device(d, 3).await.unwrap());
    assert_eq!(s.recovery_kit_of(pa).await.unwrap(), None);
}

/// Several writers (through one or more stores on one database, as relay nodes) push to one
/// space at once while a reader follows the log. Numbers are gap-free and in order, the
/// reader never sees a number before every lower one, nothing is lost, and each node's
/// event feed (where the backend has one: `events[i]` for `stores[i]`) announces the
/// other nodes' appends and not its own.
pub(crate) async fn concurrent_appends(
    stores: &[std::sync::Arc<dyn RelayStore>],
    events: &mut [&mut tokio::sync::mpsc::Receiver<NodeEvent>],
) {
    use std::collections::{BTreeMap, BTreeSet};
    const WRITERS_PER_STORE: usize = 3;
    const PUSHES: usize = 20;
    const PER_PUSH: usize = 3;
    let limits = AppendLimits {
        quota_bytes: u64::MAX / 2,
        inline_bytes: 1024,
    };
    let first = &stores[0];
    let dev = Uuid::new_v4();
    let mut token = [0u8; 32];
    token[..16].copy_from_slice(Uuid::new_v4().as_bytes());
    first
        .register_device(dev, Uuid::new_v4(), token, 1)
        .await
        .unwrap();
    let space = journal(first.as_ref(), dev).await;
    let total = (stores.len() * WRITERS_PER_STORE * PUSHES * PER_PUSH) as u64;

    let mut writers = Vec::new();
    for (node, store) in stores.iter().enumerate() {
        for _ in 0..WRITERS_PER_STORE {
            let store = store.clone();
            writers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                for _ in 0..PUSHES {
                    let blobs: Vec<(Vec<u8>, Vec<u8>)> = (0..PER_PUSH)
                        .map(|_| (Uuid::new_v4().as_bytes().to_vec(), vec![7u8; 40]))
                        .collect();
                    let ids: Vec<Vec<u8>> = blobs.iter().map(|b| b.0.clone()).collect();
                    let got = store.append(space, dev, blobs, limits, 2).await.unwrap();
                    // One push's fresh blobs are numbered consecutively.
                    assert!(
                        got.seqs.windows(2).all(|w| w[1] == w[0] + 1),
                        "{:?}",
                        got.seqs
                    );
                    mine.extend(got.seqs.into_iter().zip(ids).map(|(s, id)| (s, (node, id))));
                }
                mine
            }));
        }
    }
    let follower = {
        let store = first.clone();
        tokio::spawn(async move {
            let mut cursor = 0u64;
            let mut seen = Vec::new();
            while cursor < total {
                let page = store.pull(space, cursor, 7).await.unwrap();
                for b in page.blobs {
                    assert_eq!(b.seq, cursor + 1, "the reader skipped a number");
                    cursor = b.seq;
                    seen.push(b.id);
                }
                tokio::task::yield_now().await;
            }
            seen
        })
    };
    let mut pushed: BTreeMap<u64, (usize, Vec<u8>)> = BTreeMap::new();
    for w in writers {
        for (seq, v) in w.await.unwrap() {
            assert!(pushed.insert(seq, v).is_none(), "seq {seq} given twice");
        }
    }
    assert_eq!(
        pushed.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>()
    );
    let seen = follower.await.unwrap();
    assert_eq!(
        seen,
        pushed
            .values()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(first.space_info(space).await.unwrap().unwrap().head, total);

    for (node, rx) in events.iter_mut().enumerate() {
        let want: BTreeSet<u64> = pushed
            .iter()
            .filter(|(_, (n, _))| *n != node)
            .map(|(s, _)| *s)
            .collect();
        let mut heard = BTreeSet::new();
        while heard.len() < want.len() {
            let e = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
                .await
                .expect("node events within 10 s")
                .expect("the event feed is open");
            if let NodeEvent::Appended {
                space: s,
                seqs,
                inline,
                ..
            } = e
            {
                assert_eq!(s, space);
                // Small blobs travel with the event, byte for byte.
                for b in &inline {
                    assert_eq!(Some(&b.id), pushed.get(&b.seq).map(|(_, id)| id));
                    assert_eq!(b.data, vec![7u8; 40]);
                }
                assert_eq!(inline.len(), seqs.len(), "40-byte blobs all fit inline");
                heard.extend(seqs);
            }
        }
        assert_eq!(
            heard, want,
            "node {node} hears exactly the other nodes' appends"
        );
    }
}
