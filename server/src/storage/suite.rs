//! The storage suite: every backend must pass it (SQLite here; PostgreSQL runs the same
//! function). Each check says what the relay relies on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use duet_proto::Snapshot;
use uuid::Uuid;

use super::*;

fn h(b: u8) -> [u8; 32] {
    [b; 32]
}

const LIMITS: AppendLimits = AppendLimits {
    quota_bytes: 10_000,
    inline_bytes: 1024,
};

pub(crate) async fn run(s: &dyn RelayStore) {
    devices(s).await;
    spaces_and_members(s).await;
    invites(s).await;
    log(s).await;
    snapshots_and_pruning(s).await;
}

async fn device(s: &dyn RelayStore, b: u8) -> Uuid {
    let id = Uuid::new_v4();
    s.register_device(id, h(b), 1).await.unwrap();
    id
}

async fn devices(s: &dyn RelayStore) {
    let a = device(s, 1).await;
    assert_eq!(
        s.device_by_token(h(1)).await.unwrap(),
        Some(Device {
            id: a,
            revoked: false
        })
    );
    assert_eq!(s.device_by_token(h(99)).await.unwrap(), None);
    // A token hash is unique: a second device can't take it.
    assert!(s.register_device(Uuid::new_v4(), h(1), 1).await.is_err());
    let space = Uuid::new_v4();
    s.create_space(space, a, 1).await.unwrap();
    assert!(s.revoke_device(a, 2).await.unwrap());
    assert_eq!(
        s.device(a).await.unwrap(),
        Some(Device {
            id: a,
            revoked: true
        })
    );
    assert!(
        !s.is_member(space, a).await.unwrap(),
        "revocation drops memberships"
    );
    assert!(!s.revoke_device(Uuid::new_v4(), 2).await.unwrap());
}

async fn spaces_and_members(s: &dyn RelayStore) {
    let a = device(s, 2).await;
    let b = device(s, 3).await;
    let space = Uuid::new_v4();
    s.create_space(space, a, 1).await.unwrap();
    assert!(matches!(
        s.create_space(space, b, 1).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(s.is_member(space, a).await.unwrap());
    assert!(!s.is_member(space, b).await.unwrap());
    assert!(!s.share_a_space(a, b).await.unwrap());
    s.add_member(space, b, 2).await.unwrap();
    s.add_member(space, b, 2).await.unwrap(); // idempotent
    assert!(s.share_a_space(a, b).await.unwrap());
    let info = s.space_info(space).await.unwrap().unwrap();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(info.members, want);
    assert_eq!(info.head, 0);
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

async fn invites(s: &dyn RelayStore) {
    let a = device(s, 4).await;
    let b = device(s, 5).await;
    let space = Uuid::new_v4();
    s.create_space(space, a, 1).await.unwrap();
    let inv = |id, expires_at| NewInvite {
        id,
        space,
        created_by: a,
        token_hash: h(42),
        wrapped_key: vec![9; 48],
        expires_at,
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

async fn log(s: &dyn RelayStore) {
    let a = device(s, 6).await;
    let space = Uuid::new_v4();
    s.create_space(space, a, 1).await.unwrap();
    let blob = |i: u8, n: usize| (vec![i; 16], vec![i; n]);
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

async fn snapshots_and_pruning(s: &dyn RelayStore) {
    let a = device(s, 7).await;
    let space = Uuid::new_v4();
    s.create_space(space, a, 1).await.unwrap();
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
    first.register_device(dev, token, 1).await.unwrap();
    let space = Uuid::new_v4();
    first.create_space(space, dev, 1).await.unwrap();
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
