//! The storage suite's attachment checks (issue 11): quota, uploads, references, dedup,
//! expiry.

use super::*;
use crate::storage::attachments::{NewUpload, ObjectRef, UploadState};

fn up(space: Uuid, hash: u8, size: u64, device: Uuid, now: Millis, quota: u64) -> NewUpload {
    NewUpload {
        space,
        hash: h(hash),
        size,
        device,
        now,
        quota_bytes: quota,
    }
}

/// Reference `[b; 16]` to object `h(hash)` of `space`.
fn at(space: Uuid, hash: u8, b: u8) -> ObjectRef {
    ObjectRef::new(space, h(hash), [b; 16])
}

async fn setup(s: &dyn RelayStore, b: u8) -> (Uuid, Uuid) {
    let d = device(s, b).await;
    (d, journal(s, d).await)
}

/// A fresh device (number `b`) and its journal holding object `h(1)`, 10 bytes, under
/// reference 1.
async fn with_object(s: &dyn RelayStore, b: u8) -> (Uuid, Uuid) {
    let (d, space) = setup(s, b).await;
    s.begin_upload(up(space, 1, 10, d, 5, 1000)).await.unwrap();
    s.finish_upload(at(space, 1, 1), 6).await.unwrap();
    (d, space)
}

fn underway(size: u64, device: Uuid, at: Millis) -> UploadState {
    UploadState::Underway {
        size,
        device,
        started_at: at,
    }
}

/// A space's attachments may hold its quota: stored objects and uploads under way count,
/// a finished upload still does, a discarded one no longer.
pub(crate) async fn attachment_uploads_count_toward_the_quota(s: &dyn RelayStore) {
    let (d, space) = setup(s, 200).await;
    assert_eq!(
        s.begin_upload(up(space, 1, 60, d, 5, 100)).await.unwrap(),
        underway(60, d, 5)
    );
    assert!(matches!(
        s.begin_upload(up(space, 2, 41, d, 6, 100)).await,
        Err(StoreError::QuotaExceeded)
    ));
    assert_eq!(
        s.upload_state(space, h(2)).await.unwrap(),
        None,
        "nothing stored"
    );
    s.begin_upload(up(space, 2, 40, d, 6, 100)).await.unwrap();
    assert_eq!(s.finish_upload(at(space, 1, 1), 7).await.unwrap(), 60);
    assert!(matches!(
        s.begin_upload(up(space, 3, 1, d, 8, 100)).await,
        Err(StoreError::QuotaExceeded)
    ));
    assert!(s.discard_upload(space, h(2)).await.unwrap());
    assert!(!s.discard_upload(space, h(2)).await.unwrap());
    s.begin_upload(up(space, 3, 40, d, 8, 100)).await.unwrap();
    // The quota is the space's own: another space starts empty.
    let (d2, other) = setup(s, 201).await;
    s.begin_upload(up(other, 1, 100, d2, 9, 100)).await.unwrap();
    assert!(matches!(
        s.begin_upload(up(Uuid::new_v4(), 1, 1, d, 9, 100)).await,
        Err(StoreError::NotFound)
    ));
}

/// An upload under way is found, not begun again: the first one's size, device and time
/// (the caller refuses another size); a stored object answers `Stored`.
pub(crate) async fn an_upload_under_way_is_found(s: &dyn RelayStore) {
    let (d, space) = setup(s, 202).await;
    let other = device(s, 203).await;
    s.begin_upload(up(space, 1, 10, d, 5, 1000)).await.unwrap();
    assert_eq!(
        s.begin_upload(up(space, 1, 99, other, 6, 1000))
            .await
            .unwrap(),
        underway(10, d, 5)
    );
    assert_eq!(
        s.upload_state(space, h(1)).await.unwrap(),
        Some(underway(10, d, 5))
    );
    s.finish_upload(at(space, 1, 1), 7).await.unwrap();
    assert_eq!(
        s.begin_upload(up(space, 1, 10, other, 8, 1000))
            .await
            .unwrap(),
        UploadState::Stored { size: 10 }
    );
    assert_eq!(s.attachment_size(space, h(1)).await.unwrap(), Some(10));
    assert_eq!(
        s.expired_uploads(i64::MAX, 10).await.unwrap(),
        vec![],
        "a finished upload's row is gone"
    );
}

/// References are idempotent: adding one twice is one; releasing it frees the object;
/// releasing one that isn't there changes nothing.
pub(crate) async fn attachment_refs_are_idempotent(s: &dyn RelayStore) {
    let (_, space) = with_object(s, 204).await;
    assert_eq!(s.add_ref(at(space, 1, 1), 7).await.unwrap(), Some(10));
    assert_eq!(s.release_ref(at(space, 1, 9)).await.unwrap(), None);
    assert_eq!(s.release_ref(at(space, 1, 1)).await.unwrap(), Some(10));
    assert_eq!(s.attachment_size(space, h(1)).await.unwrap(), None);
    assert_eq!(s.upload_state(space, h(1)).await.unwrap(), None);
    assert_eq!(s.release_ref(at(space, 1, 1)).await.unwrap(), None);
}

/// Dedup: two references, one object; releasing one keeps it, releasing both frees it
/// (once), and then it takes no reference until uploaded again.
pub(crate) async fn one_object_serves_two_refs(s: &dyn RelayStore) {
    let (d, space) = with_object(s, 205).await;
    assert_eq!(s.add_ref(at(space, 1, 2), 7).await.unwrap(), Some(10));
    assert_eq!(s.release_ref(at(space, 1, 1)).await.unwrap(), None);
    assert_eq!(s.attachment_size(space, h(1)).await.unwrap(), Some(10));
    assert_eq!(s.release_ref(at(space, 1, 2)).await.unwrap(), Some(10));
    assert_eq!(s.attachment_size(space, h(1)).await.unwrap(), None);
    assert_eq!(s.add_ref(at(space, 1, 3), 8).await.unwrap(), None);
    // Uploaded again: a fresh object, counted once more.
    s.begin_upload(up(space, 1, 10, d, 9, 1000)).await.unwrap();
    assert_eq!(s.finish_upload(at(space, 1, 3), 10).await.unwrap(), 10);
    assert_eq!(s.attachment_size(space, h(1)).await.unwrap(), Some(10));
}

/// References need a stored object: none is added to an upload under way or to nothing,
/// and finishing an upload nobody began is `NotFound`. Objects stay in their space.
pub(crate) async fn attachment_refs_need_a_stored_object(s: &dyn RelayStore) {
    let (d, space) = setup(s, 206).await;
    assert_eq!(s.add_ref(at(space, 1, 1), 5).await.unwrap(), None);
    s.begin_upload(up(space, 1, 10, d, 5, 1000)).await.unwrap();
    assert_eq!(s.add_ref(at(space, 1, 1), 6).await.unwrap(), None);
    assert!(matches!(
        s.finish_upload(at(space, 2, 1), 6).await,
        Err(StoreError::NotFound)
    ));
    s.finish_upload(at(space, 1, 1), 7).await.unwrap();
    // A second finish (another node's, of the same bytes) only adds its reference.
    assert_eq!(s.finish_upload(at(space, 1, 2), 8).await.unwrap(), 10);
    assert_eq!(s.release_ref(at(space, 1, 1)).await.unwrap(), None);
    let (_, other) = setup(s, 207).await;
    assert_eq!(s.attachment_size(other, h(1)).await.unwrap(), None);
    assert_eq!(s.add_ref(at(other, 1, 1), 9).await.unwrap(), None);
    assert_eq!(s.release_ref(at(other, 1, 2)).await.unwrap(), None);
    assert_eq!(s.attachment_size(space, h(1)).await.unwrap(), Some(10));
}

/// Uploads begun before a time are listed oldest first (at most `limit`) and discarded;
/// later ones and stored objects stay.
pub(crate) async fn expired_uploads_are_listed_and_discarded(s: &dyn RelayStore) {
    let (d, space) = setup(s, 208).await;
    for (hash, at) in [(1, 30), (2, 10), (3, 20), (4, 50)] {
        s.begin_upload(up(space, hash, 5, d, at, 1000))
            .await
            .unwrap();
    }
    s.finish_upload(at(space, 3, 1), 25).await.unwrap();
    assert_eq!(
        s.expired_uploads(40, 10).await.unwrap(),
        vec![(space, h(2)), (space, h(1))]
    );
    assert_eq!(s.expired_uploads(40, 1).await.unwrap(), vec![(space, h(2))]);
    assert!(s.discard_upload(space, h(2)).await.unwrap());
    assert_eq!(
        s.expired_uploads(40, 10).await.unwrap(),
        vec![(space, h(1))]
    );
    assert_eq!(s.upload_state(space, h(2)).await.unwrap(), None);
    assert_eq!(
        s.upload_state(space, h(4)).await.unwrap(),
        Some(underway(5, d, 50))
    );
    assert_eq!(s.attachment_size(space, h(3)).await.unwrap(), Some(5));
}
