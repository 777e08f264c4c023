//! The object store suite: every [`ObjectStore`] backend must pass it. [`object_suite!`]
//! expands it into one test per check for a backend (as the storage suite does). Keys are
//! fresh each time, so a shared bucket is fine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use rand::RngCore;
use uuid::Uuid;

use super::{ObjectError, ObjectStore, object_key};

/// The suite's checks as tests (`crate::testing::tests_per_check!`) on
/// stores from `$make` (an async expression giving `Option<(guard, impl ObjectStore)>`).
macro_rules! object_suite {
    ($make:expr) => {
        $crate::testing::tests_per_check!($crate::attachments::suite, $make;
            objects_round_trip_whole,
            objects_serve_ranges, objects_know_their_size, deleting_is_idempotent,
            the_same_bytes_overwrite_harmlessly, missing_objects_are_not_found,
            a_large_object_streams);
    };
}
pub(crate) use object_suite;

fn key() -> String {
    let mut hash = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut hash);
    object_key(Uuid::new_v4(), &hash)
}

fn bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// `data` in a temporary file, as a finished upload would be.
fn file(data: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload");
    std::fs::write(&path, data).unwrap();
    (dir, path)
}

async fn put(s: &dyn ObjectStore, key: &str, data: &[u8]) {
    let (_dir, path) = file(data);
    s.put_file(key, Path::new(&path), data.len() as u64)
        .await
        .unwrap();
}

async fn read(s: &dyn ObjectStore, key: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stream = s.get_range(key, range).await.unwrap();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    out
}

pub(crate) async fn objects_round_trip_whole(s: &dyn ObjectStore) {
    let (k, data) = (key(), bytes(100_000));
    put(s, &k, &data).await;
    assert_eq!(read(s, &k, 0..data.len() as u64).await, data);
}

pub(crate) async fn objects_serve_ranges(s: &dyn ObjectStore) {
    let (k, data) = (key(), bytes(70_000));
    put(s, &k, &data).await;
    for (a, b) in [
        (0, 1),
        (1, 2),
        (100, 65_636),
        (65_535, 65_537),
        (69_999, 70_000),
    ] {
        assert_eq!(read(s, &k, a..b).await, &data[a as usize..b as usize]);
    }
}

pub(crate) async fn objects_know_their_size(s: &dyn ObjectStore) {
    let k = key();
    put(s, &k, &bytes(12_345)).await;
    assert_eq!(s.size(&k).await.unwrap(), 12_345);
}

pub(crate) async fn deleting_is_idempotent(s: &dyn ObjectStore) {
    let k = key();
    put(s, &k, &bytes(10)).await;
    s.delete(&k).await.unwrap();
    assert!(matches!(s.size(&k).await, Err(ObjectError::NotFound)));
    s.delete(&k).await.unwrap();
    s.delete(&key()).await.unwrap();
}

pub(crate) async fn the_same_bytes_overwrite_harmlessly(s: &dyn ObjectStore) {
    let (k, data) = (key(), bytes(5_000));
    put(s, &k, &data).await;
    put(s, &k, &data).await;
    assert_eq!(s.size(&k).await.unwrap(), 5_000);
    assert_eq!(read(s, &k, 0..5_000).await, data);
}

pub(crate) async fn missing_objects_are_not_found(s: &dyn ObjectStore) {
    let k = key();
    assert!(matches!(s.size(&k).await, Err(ObjectError::NotFound)));
    let got = match s.get_range(&k, 0..10).await {
        Err(e) => Err(e),
        Ok(mut stream) => match stream.next().await {
            Some(Err(e)) => Err(e),
            other => Ok(other.map(|c| c.map(|b| b.len()).ok())),
        },
    };
    assert!(matches!(got, Err(ObjectError::NotFound)), "{got:?}");
}

/// 20 MB: more than one S3 part, and streamed back in pieces.
pub(crate) async fn a_large_object_streams(s: &dyn ObjectStore) {
    let (k, data) = (key(), bytes(20_000_000));
    put(s, &k, &data).await;
    assert_eq!(s.size(&k).await.unwrap(), 20_000_000);
    let mut stream = s.get_range(&k, 0..20_000_000).await.unwrap();
    let (mut got, mut chunks) = (Vec::with_capacity(data.len()), 0);
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
        chunks += 1;
    }
    assert!(chunks > 1, "streamed, not in one piece");
    assert!(got == data, "the 20 MB came back as they went");
    assert_eq!(
        read(s, &k, 19_000_000..19_000_010).await,
        &data[19_000_000..19_000_010]
    );
}
