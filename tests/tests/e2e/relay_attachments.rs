//! Attachments at a real `duet-relay` (issue 11), raw protocol: uploads in pieces that
//! resume after a cut connection, hashes checked, one stored object for two references,
//! bytes freed with the last one, ranges, the space's attachment quota (blobs unaffected),
//! strangers and former partners kept out, the expiry sweep — on files under the data dir,
//! on S3 (Garage, `scripts/garage.sh`), and across two nodes on one PostgreSQL with S3.
//! The bytes are random: the relay only checks that they match their hash.

use std::path::{Path, PathBuf};
use std::time::Duration;

use duet_e2e::relay::{
    Client, OCTETS, RelayProcess, attachment_hash, random_blob, random_bytes, refused, upload_path,
};
use duet_e2e::{pg, s3};
use duet_proto::ErrorCode;
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const MB: usize = 1_000_000;

fn r(b: u8) -> [u8; 16] {
    [b; 16]
}

fn objects_dir(relay: &RelayProcess) -> PathBuf {
    relay.data_dir().join("attachments").join("objects")
}

fn partial_dir(relay: &RelayProcess) -> PathBuf {
    relay.data_dir().join("attachments").join("partial")
}

/// (files, bytes) under `dir`, recursively (none: `(0, 0)`).
fn usage(dir: &Path) -> (usize, u64) {
    let mut out = (0, 0);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let Ok(m) = e.metadata() else { continue };
        if m.is_dir() {
            let (n, b) = usage(&e.path());
            out = (out.0 + n, out.1 + b);
        } else {
            out = (out.0 + 1, out.1 + m.len());
        }
    }
    out
}

/// A member of a fresh space on `relay` that uploaded `len` random bytes whole (under
/// reference 1): the client, the space, the bytes and their hash.
async fn uploaded(relay: &RelayProcess, len: usize) -> (Client, Uuid, Vec<u8>, [u8; 32]) {
    let (a, space) = Client::with_space(&relay.url()).await.unwrap();
    let data = random_bytes(len);
    let hash = attachment_hash(&data);
    a.upload_attachment(space, &data, &r(1), 1 << 20)
        .await
        .unwrap();
    (a, space, data, hash)
}

/// Poll `f` until it is true (at most `within`).
async fn until<F, Fut>(what: &str, within: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !f().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// 5 MB in four PATCHes (the status after each says how far), byte-identical back, and no
/// partial file left; HEAD says the size.
async fn round_trip(relay: &RelayProcess, base: &str) -> (Client, Uuid, Vec<u8>) {
    let (a, space) = Client::with_space(base).await.unwrap();
    let data = random_bytes(5 * MB);
    let hash = attachment_hash(&data);
    let size = data.len() as u64;
    let mut offset = 0u64;
    for piece in data.chunks(1_300_000) {
        let s = a
            .upload_piece(space, &hash, offset, size, &r(1), piece)
            .await
            .unwrap();
        offset += piece.len() as u64;
        assert_eq!((s.size, s.received), (size, offset));
        assert_eq!(s.complete, offset == size);
        if !s.complete {
            assert_eq!(a.upload_status(space, &hash).await.unwrap(), s);
        }
    }
    assert!(a.upload_status(space, &hash).await.unwrap().complete);
    assert!(
        a.download(space, &hash).await.unwrap() == data,
        "byte-identical"
    );
    let head = a
        .download_with(Method::HEAD, space, &hash, None)
        .await
        .unwrap();
    assert_eq!((head.status, head.content_length()), (200, Some(size)));
    assert!(head.body.is_empty());
    assert_eq!(usage(&partial_dir(relay)), (0, 0), "no partial file left");
    (a, space, data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_upload_in_pieces_and_download_whole() {
    let relay = RelayProcess::temp();
    let (_, _, data) = round_trip(&relay, &relay.url()).await;
    assert_eq!(usage(&objects_dir(&relay)), (1, data.len() as u64));
}

/// A connection cut in the middle of a body loses only what was in flight: the relay
/// reports the bytes that arrived, and the upload goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_resume_after_a_cut_connection() {
    let relay = RelayProcess::temp();
    let (a, space) = Client::with_space(&relay.url()).await.unwrap();
    let data = random_bytes(2 * MB);
    let hash = attachment_hash(&data);
    let size = data.len() as u64;
    // The whole body announced, 700 KB of it sent, then the socket dropped.
    let mut sock = tokio::net::TcpStream::connect(relay.addr()).await.unwrap();
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: {OCTETS}\r\nContent-Length: {size}\r\n\r\n",
        upload_path(space, &hash, 0, size, &r(1)),
        relay.addr(),
        a.token
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&data[..700_000]).await.unwrap();
    sock.flush().await.unwrap();
    drop(sock);
    until(
        "the relay holds the 700 KB that arrived",
        Duration::from_secs(20),
        || async {
            a.upload_status(space, &hash)
                .await
                .is_ok_and(|s| s.received == 700_000)
        },
    )
    .await;
    // Not from the start: from what arrived.
    assert_eq!(
        refused(
            a.upload_piece(space, &hash, 0, size, &r(1), &data[..10])
                .await
        ),
        ErrorCode::OffsetMismatch
    );
    let done = a
        .upload_piece(space, &hash, 700_000, size, &r(1), &data[700_000..])
        .await
        .unwrap();
    assert!(done.complete);
    assert!(a.download(space, &hash).await.unwrap() == data);
    assert_eq!(usage(&partial_dir(&relay)), (0, 0));
}

/// A body that stalls doesn't hold its request forever: after `--body-read-timeout-secs`
/// without a byte the relay answers `request_timeout`, and the bytes that came are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_end_a_stalled_body() {
    let relay = RelayProcess::temp_flags("--body-read-timeout-secs 2");
    let (a, space) = Client::with_space(&relay.url()).await.unwrap();
    let data = random_bytes(MB);
    let hash = attachment_hash(&data);
    let mut sock = tokio::net::TcpStream::connect(relay.addr()).await.unwrap();
    let head = format!(
        "PATCH {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nContent-Type: {OCTETS}\r\nContent-Length: {}\r\n\r\n",
        upload_path(space, &hash, 0, MB as u64, &r(1)),
        relay.addr(),
        a.token,
        MB
    );
    sock.write_all(head.as_bytes()).await.unwrap();
    sock.write_all(&data[..300_000]).await.unwrap();
    // Then nothing, the socket kept open: the answer comes anyway.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), sock.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the relay ended the stalled request");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("request_timeout"), "{text}");
    assert_eq!(
        a.upload_status(space, &hash).await.unwrap().received,
        300_000
    );
    a.upload_piece(space, &hash, 300_000, MB as u64, &r(1), &data[300_000..])
        .await
        .unwrap();
    assert!(a.download(space, &hash).await.unwrap() == data);
}

/// Offsets must be what arrived, sizes what the upload declared, and no byte may go past
/// the size; bytes that don't match their hash are discarded and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_refuse_wrong_offsets_sizes_and_hashes() {
    let relay = RelayProcess::temp_flags("--max-attachment-bytes 3000000");
    let (a, space) = Client::with_space(&relay.url()).await.unwrap();
    let data = random_bytes(300_000);
    let hash = attachment_hash(&data);
    let size = data.len() as u64;
    a.upload_piece(space, &hash, 0, size, &r(1), &data[..1000])
        .await
        .unwrap();
    for offset in [0, 999, 1001, 5000] {
        let got = a
            .upload_piece(space, &hash, offset, size, &r(1), &data[..10])
            .await;
        assert_eq!(refused(got), ErrorCode::OffsetMismatch, "offset {offset}");
    }
    let other_size = a
        .upload_piece(space, &hash, 1000, size + 1, &r(1), &data[1000..1010])
        .await;
    assert_eq!(refused(other_size), ErrorCode::Conflict);
    let past_end = a
        .upload_piece(
            space,
            &hash,
            1000,
            size,
            &r(1),
            &random_bytes(size as usize),
        )
        .await;
    assert_eq!(refused(past_end), ErrorCode::InvalidRequest);
    assert_eq!(a.upload_status(space, &hash).await.unwrap().received, 1000);
    let too_large = a
        .upload_piece(space, &[7; 32], 0, 3_000_001, &r(1), b"x")
        .await;
    assert_eq!(refused(too_large), ErrorCode::AttachmentTooLarge);

    // Bytes under another hash: refused at the last byte, nothing kept.
    let wrong = [9u8; 32];
    a.upload_piece(space, &wrong, 0, size, &r(2), &data[..150_000])
        .await
        .unwrap();
    let last = a
        .upload_piece(space, &wrong, 150_000, size, &r(2), &data[150_000..])
        .await;
    assert_eq!(refused(last), ErrorCode::InvalidRequest);
    assert_eq!(
        refused(a.upload_status(space, &wrong).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        refused(a.download(space, &wrong).await),
        ErrorCode::NotFound
    );
    assert_eq!(
        refused(a.add_attachment_ref(space, &wrong, &r(3)).await),
        ErrorCode::NotFound
    );
    assert_eq!(usage(&objects_dir(&relay)), (0, 0), "nothing stored");
    assert_eq!(
        usage(&partial_dir(&relay)).0,
        1,
        "only the first upload's bytes"
    );
}

/// The partner uploading the same sealed bytes under another reference stores nothing new
/// and hears `complete` at once; the object stays until both references are released, and
/// then its bytes leave the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_store_one_object_for_two_refs() {
    let relay = RelayProcess::temp();
    let (a, b, space) = Client::partners(&relay.url()).await.unwrap();
    let data = random_bytes(MB);
    let hash = attachment_hash(&data);
    let size = data.len() as u64;
    a.upload_attachment(space, &data, &r(1), 400_000)
        .await
        .unwrap();
    let stored = usage(&objects_dir(&relay));
    assert_eq!(stored, (1, size));
    // B's first piece: complete at once (the body unread), as is an empty probe.
    let s = b
        .upload_piece(space, &hash, 0, size, &r(2), &data[..64 * 1024])
        .await
        .unwrap();
    assert!(s.complete && s.received == size);
    assert!(
        b.upload_piece(space, &hash, 0, size, &r(2), b"")
            .await
            .unwrap()
            .complete
    );
    assert_eq!(usage(&objects_dir(&relay)), stored, "nothing new on disk");
    assert_eq!(usage(&partial_dir(&relay)), (0, 0));
    assert_eq!(
        b.add_attachment_ref(space, &hash, &r(2))
            .await
            .unwrap()
            .size,
        size
    );

    a.release_attachment_ref(space, &hash, &r(1)).await.unwrap();
    a.release_attachment_ref(space, &hash, &r(1)).await.unwrap();
    assert!(
        b.download(space, &hash).await.unwrap() == data,
        "B's reference keeps it"
    );
    b.release_attachment_ref(space, &hash, &r(2)).await.unwrap();
    assert_eq!(refused(a.download(space, &hash).await), ErrorCode::NotFound);
    assert_eq!(
        refused(a.upload_status(space, &hash).await),
        ErrorCode::NotFound
    );
    assert_eq!(usage(&objects_dir(&relay)), (0, 0), "the bytes are freed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_serve_byte_ranges() {
    let relay = RelayProcess::temp();
    let (a, space, data, hash) = uploaded(&relay, 200_000).await;
    let get = |range: &'static str| a.download_with(Method::GET, space, &hash, Some(range));
    let whole = a
        .download_with(Method::GET, space, &hash, None)
        .await
        .unwrap();
    assert_eq!(
        (whole.status, whole.header("accept-ranges")),
        (200, Some("bytes"))
    );
    for (range, from, to) in [
        ("bytes=0-99", 0, 100),
        ("bytes=150000-", 150_000, 200_000),
        ("bytes=-10", 199_990, 200_000),
        ("bytes=199999-300000", 199_999, 200_000),
    ] {
        let d = get(range).await.unwrap();
        assert_eq!(d.status, 206, "{range}");
        assert_eq!(
            d.header("content-range"),
            Some(format!("bytes {from}-{}/200000", to - 1).as_str())
        );
        assert!(d.body == data[from..to], "{range}");
        assert_eq!(d.content_length(), Some((to - from) as u64));
    }
    let beyond = get("bytes=200000-").await.unwrap();
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.code(), Some(ErrorCode::RangeNotSatisfiable));
    assert_eq!(beyond.header("content-range"), Some("bytes */200000"));
    let head = a
        .download_with(Method::HEAD, space, &hash, Some("bytes=10-19"))
        .await
        .unwrap();
    assert_eq!((head.status, head.content_length()), (206, Some(10)));
}

/// The attachment quota is the space's own: past it `quota_exceeded`, while pushes of
/// blobs to the same space go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_quota_leaves_blobs_alone() {
    let relay = RelayProcess::temp_flags("--attachment-quota-bytes 1000000");
    let (a, space) = Client::with_space(&relay.url()).await.unwrap();
    let first = random_bytes(600_000);
    a.upload_attachment(space, &first, &r(1), 1 << 20)
        .await
        .unwrap();
    let second = random_bytes(500_000);
    let got = a
        .upload_piece(
            space,
            &attachment_hash(&second),
            0,
            500_000,
            &r(2),
            &second[..1000],
        )
        .await;
    assert_eq!(refused(got), ErrorCode::QuotaExceeded);
    a.push(space, &[random_blob(100_000)]).await.unwrap();
    // Freed bytes make room again.
    a.release_attachment_ref(space, &attachment_hash(&first), &r(1))
        .await
        .unwrap();
    a.upload_attachment(space, &second, &r(2), 1 << 20)
        .await
        .unwrap();
}

/// Someone who isn't a member — a stranger, a former partner — hears `not_found` on every
/// route, whatever exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_are_hidden_from_non_members() {
    let relay = RelayProcess::temp();
    let (a, removed, space) = Client::partners(&relay.url()).await.unwrap();
    let stranger = Client::with_space(&relay.url()).await.unwrap().0;
    let data = random_bytes(10_000);
    let hash = attachment_hash(&data);
    a.upload_attachment(space, &data, &r(1), 1 << 20)
        .await
        .unwrap();
    let pending = attachment_hash(b"pending");
    a.upload_piece(space, &pending, 0, 7, &r(1), b"pend")
        .await
        .unwrap();
    a.remove_member(space, removed.device_id).await.unwrap();
    for who in [&stranger, &removed] {
        for h in [&hash, &pending] {
            assert_eq!(
                refused(who.upload_piece(space, h, 0, 7, &r(5), b"pending").await),
                ErrorCode::NotFound
            );
            assert_eq!(
                refused(who.upload_status(space, h).await),
                ErrorCode::NotFound
            );
            assert_eq!(refused(who.download(space, h).await), ErrorCode::NotFound);
            let head = who
                .download_with(Method::HEAD, space, h, None)
                .await
                .unwrap();
            assert_eq!(head.status, 404);
            assert_eq!(
                refused(who.add_attachment_ref(space, h, &r(5)).await),
                ErrorCode::NotFound
            );
            assert_eq!(
                refused(who.release_attachment_ref(space, h, &r(1)).await),
                ErrorCode::NotFound
            );
        }
    }
    assert!(
        a.download(space, &hash).await.unwrap() == data,
        "nothing changed"
    );
    assert_eq!(a.upload_status(space, &pending).await.unwrap().received, 4);
}

/// An upload nobody finishes is discarded once it is older than the TTL: its row and its
/// partial file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_sweep_discards_abandoned_uploads() {
    let relay =
        RelayProcess::temp_flags("--attachment-upload-ttl-secs 1 --attachment-sweep-secs 1");
    let (a, space) = Client::with_space(&relay.url()).await.unwrap();
    let data = random_bytes(100_000);
    let hash = attachment_hash(&data);
    a.upload_piece(space, &hash, 0, 100_000, &r(1), &data[..50_000])
        .await
        .unwrap();
    until(
        "the abandoned upload is swept",
        Duration::from_secs(20),
        || async {
            a.upload_status(space, &hash).await.is_err() && usage(&partial_dir(&relay)) == (0, 0)
        },
    )
    .await;
    assert_eq!(
        refused(a.upload_status(space, &hash).await),
        ErrorCode::NotFound
    );
    // A fresh start works.
    assert!(
        a.upload_attachment(space, &data, &r(1), 1 << 20)
            .await
            .unwrap()
            .complete
    );
}

/// The same upload, download and release with the bytes in S3: nothing of the objects on
/// the relay's disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_on_s3() {
    let Some(url) = s3::server_url() else { return };
    let relay = RelayProcess::temp_with(&["--attachments-url", &url]);
    let (a, space, data) = round_trip(&relay, &relay.url()).await;
    let hash = attachment_hash(&data);
    assert_eq!(usage(&objects_dir(&relay)), (0, 0), "the objects are in S3");
    let d = a
        .download_with(Method::GET, space, &hash, Some("bytes=4000000-"))
        .await
        .unwrap();
    assert_eq!(d.status, 206);
    assert!(d.body == data[4_000_000..]);
    a.release_attachment_ref(space, &hash, &r(1)).await.unwrap();
    assert_eq!(refused(a.download(space, &hash).await), ErrorCode::NotFound);
    // Uploaded again, the same key: stored again (the delete went through).
    a.upload_attachment(space, &data, &r(2), 2 * MB)
        .await
        .unwrap();
    assert!(a.download(space, &hash).await.unwrap() == data);
}

/// Two relay nodes on one PostgreSQL and one bucket: uploaded through node 1, downloaded
/// through node 2; freed through node 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_cross_nodes_through_s3() {
    let Some(s3) = s3::server_url() else { return };
    let Some(server) = pg::server_url() else {
        return;
    };
    let db = pg::fresh_database(&server).await;
    let dirs = tempfile::tempdir().unwrap();
    let args = [
        "--database-url",
        db.as_str(),
        "--attachments-url",
        s3.as_str(),
    ];
    let n1 = RelayProcess::start_with(&dirs.path().join("node1"), &args);
    let n2 = RelayProcess::start_with(&dirs.path().join("node2"), &args);
    let (a, b, space) = Client::partners(&n1.url()).await.unwrap();
    let data = random_bytes(3 * MB);
    let hash = attachment_hash(&data);
    a.upload_attachment(space, &data, &r(1), MB).await.unwrap();
    let b2 = b.with_base(&n2.url());
    assert!(b2.download(space, &hash).await.unwrap() == data);
    assert!(b2.upload_status(space, &hash).await.unwrap().complete);
    let s = b2
        .upload_piece(space, &hash, 0, data.len() as u64, &r(2), b"")
        .await
        .unwrap();
    assert!(s.complete, "node 2 knows the object is stored");
    b2.release_attachment_ref(space, &hash, &r(1))
        .await
        .unwrap();
    b2.release_attachment_ref(space, &hash, &r(2))
        .await
        .unwrap();
    assert_eq!(refused(a.download(space, &hash).await), ErrorCode::NotFound);
}

/// A stored object whose bytes went missing from the object store (a release on another
/// node racing an upload) is taken again by its next upload rather than answered
/// `complete` with nothing behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_attachments_take_missing_bytes_again() {
    let relay = RelayProcess::temp();
    let (a, space, data, hash) = uploaded(&relay, 300_000).await;
    let dir = objects_dir(&relay).join(space.to_string());
    for f in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(f.unwrap().path()).unwrap();
    }
    assert_eq!(refused(a.download(space, &hash).await), ErrorCode::NotFound);
    let s = a
        .upload_piece(space, &hash, 0, 300_000, &r(2), &data[..100_000])
        .await
        .unwrap();
    assert_eq!((s.received, s.complete), (100_000, false));
    a.upload_piece(space, &hash, 100_000, 300_000, &r(2), &data[100_000..])
        .await
        .unwrap();
    assert!(a.download(space, &hash).await.unwrap() == data);
}
