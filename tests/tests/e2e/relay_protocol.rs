//! The relay protocol against a real `duet-relay` process: every bad input and every limit
//! answers a typed 4xx with a stable code and stores nothing; pushes are idempotent; pulls
//! page; snapshots keep the newest; the live channel announces to the other members only.

use std::time::Duration;

use duet_e2e::procfs::rss_kib;
use duet_e2e::relay::{
    Body, Client, LiveConn, LiveEvent, RelayProcess, random_blob, random_blob_id, random_bytes,
    refusal, refused, send,
};
use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::{CBOR, ErrorCode, LogBlob, Push, PushBlob, Snapshot};
use reqwest::Method;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);

/// A member with a space that holds `n` blobs.
async fn member_with_blobs(relay: &RelayProcess, n: usize) -> (Client, Uuid, Vec<LogBlob>) {
    let (c, space) = Client::with_space(&relay.url()).await.unwrap();
    if n > 0 {
        let blobs: Vec<PushBlob> = (0..n).map(|i| random_blob(10 + i)).collect();
        c.push(space, &blobs).await.unwrap();
    }
    let log = c.pull_all(space).await.unwrap();
    assert_eq!(log.len(), n);
    (c, space, log)
}

/// The relay still serves: a brand-new device registers, creates, pushes and pulls.
async fn still_serving(relay: &RelayProcess) {
    let (other, space) = Client::with_space(&relay.url()).await.unwrap();
    let blob = random_blob(64);
    let pushed = other
        .push(space, std::slice::from_ref(&blob))
        .await
        .unwrap();
    assert_eq!(pushed.seqs, vec![1]);
    let log = other.pull_all(space).await.unwrap();
    assert_eq!(
        (log[0].id.clone(), log[0].data.clone()),
        (blob.id, blob.data)
    );
}

fn assert_typed(resp: &duet_e2e::relay::Response, status: u16, code: ErrorCode, what: &str) {
    let body = resp.error().unwrap_or_else(|| {
        panic!(
            "{what}: {} without a typed error body: {:?}",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        )
    });
    assert_eq!(
        (resp.status, body.code),
        (status, code),
        "{what}: {}",
        body.message
    );
    assert_eq!(code.http_status(), status, "{what}");
    assert_eq!(
        resp.content_type.as_deref(),
        Some("application/json"),
        "{what}"
    );
    assert!(!body.message.is_empty(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_typed_error_and_stores_nothing() {
    let relay = RelayProcess::temp_flags(
        "--max-body-bytes 16384 --max-blob-bytes 1024 --max-blobs-per-push 10",
    );
    let base = relay.url();
    let (c, space, log) = member_with_blobs(&relay, 1).await;
    let blobs = format!("/v1/spaces/{space}/blobs");
    let push = |blobs: Vec<PushBlob>| Some(Body::cbor(&Push { blobs }));

    type Case = (&'static str, Method, String, Option<Body>, u16, ErrorCode);
    let cases: Vec<Case> = vec![
        (
            "malformed CBOR",
            Method::POST,
            blobs.clone(),
            Some(Body::raw(CBOR, vec![0xff, 0x00, 0x13, 0x37])),
            400,
            ErrorCode::MalformedBody,
        ),
        (
            "CBOR of the wrong shape",
            Method::POST,
            blobs.clone(),
            Some(Body::cbor(&"a string, not a push")),
            400,
            ErrorCode::MalformedBody,
        ),
        (
            "truncated CBOR",
            Method::POST,
            blobs.clone(),
            Some(Body::raw(CBOR, {
                let mut b = duet_proto::to_cbor(&Push {
                    blobs: vec![random_blob(100)],
                });
                b.truncate(b.len() / 2);
                b
            })),
            400,
            ErrorCode::MalformedBody,
        ),
        (
            "JSON",
            Method::POST,
            blobs.clone(),
            Some(Body::raw(
                "application/json",
                r#"{"blobs":[{"id":"AAAAAAAAAAAAAAAAAAAAAA==","data":"AA=="}]}"#,
            )),
            415,
            ErrorCode::UnsupportedMediaType,
        ),
        (
            "CBOR bytes labelled as octet-stream",
            Method::POST,
            blobs.clone(),
            Some(Body::raw(
                "application/octet-stream",
                duet_proto::to_cbor(&Push {
                    blobs: vec![random_blob(10)],
                }),
            )),
            415,
            ErrorCode::UnsupportedMediaType,
        ),
        (
            "no body at all",
            Method::POST,
            blobs.clone(),
            None,
            415,
            ErrorCode::UnsupportedMediaType,
        ),
        (
            "a body over --max-body-bytes",
            Method::POST,
            blobs.clone(),
            // Many small blobs: each within the blob limit, the body over the body limit.
            Some(Body::cbor(&Push {
                blobs: (0..40).map(|_| random_blob(1000)).collect(),
            })),
            413,
            ErrorCode::PayloadTooLarge,
        ),
        (
            "a blob over --max-blob-bytes",
            Method::POST,
            blobs.clone(),
            push(vec![random_blob(10), random_blob(1025)]),
            413,
            ErrorCode::BlobTooLarge,
        ),
        (
            "more blobs than --max-blobs-per-push",
            Method::POST,
            blobs.clone(),
            push((0..11).map(|_| random_blob(10)).collect()),
            413,
            ErrorCode::TooManyBlobs,
        ),
        (
            "an empty push",
            Method::POST,
            blobs.clone(),
            push(vec![]),
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "a blob id that isn't 16 bytes",
            Method::POST,
            blobs.clone(),
            push(vec![
                random_blob(10),
                PushBlob {
                    id: random_bytes(8),
                    data: random_bytes(10),
                },
            ]),
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "an empty blob",
            Method::POST,
            blobs.clone(),
            push(vec![PushBlob {
                id: random_blob_id(),
                data: vec![],
            }]),
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "an unknown protocol version (push)",
            Method::POST,
            format!("/v2/spaces/{space}/blobs"),
            push(vec![random_blob(10)]),
            400,
            ErrorCode::UnknownVersion,
        ),
        (
            "an unknown protocol version (list)",
            Method::GET,
            "/v2/spaces".into(),
            None,
            400,
            ErrorCode::UnknownVersion,
        ),
        (
            "an unknown protocol version (v10)",
            Method::GET,
            format!("/v10/spaces/{space}"),
            None,
            400,
            ErrorCode::UnknownVersion,
        ),
        (
            "an unknown endpoint",
            Method::GET,
            "/v1/nothing-here".into(),
            None,
            404,
            ErrorCode::NotFound,
        ),
        (
            "a cursor past the head",
            Method::GET,
            format!("{blobs}?after=2"),
            None,
            400,
            ErrorCode::CursorAhead,
        ),
        (
            "a page size of 0",
            Method::GET,
            format!("{blobs}?after=0&limit=0"),
            None,
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "a page size over the maximum",
            Method::GET,
            format!("{blobs}?after=0&limit=1001"),
            None,
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "a cursor that isn't a number",
            Method::GET,
            format!("{blobs}?after=soon"),
            None,
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "a space id that isn't a UUID",
            Method::GET,
            "/v1/spaces/not-a-uuid".into(),
            None,
            400,
            ErrorCode::InvalidRequest,
        ),
        (
            "a snapshot ahead of the head",
            Method::PUT,
            format!("/v1/spaces/{space}/snapshot"),
            Some(Body::cbor(&Snapshot {
                seq: 2,
                data: random_bytes(10),
            })),
            400,
            ErrorCode::CursorAhead,
        ),
        (
            "an empty snapshot",
            Method::PUT,
            format!("/v1/spaces/{space}/snapshot"),
            Some(Body::cbor(&Snapshot {
                seq: 1,
                data: vec![],
            })),
            400,
            ErrorCode::InvalidRequest,
        ),
    ];

    for (what, method, path, body, status, code) in cases {
        let had_body = body.as_ref().is_some_and(|b| !b.bytes.is_empty());
        let resp = send(c.http(), &base, method, &path, Some(&c.token), body)
            .await
            .unwrap_or_else(|e| panic!("{what}: no answer: {e}"));
        assert_typed(&resp, status, code, what);
        // A refused body closes its connection, and says so: the client's next request
        // doesn't go down a dead one.
        if had_body {
            assert_eq!(resp.connection.as_deref(), Some("close"), "{what}");
        }
        // Nothing was stored.
        let info = c.space(space).await.unwrap();
        assert_eq!(info.head, 1, "{what}: the head moved");
        assert_eq!(
            c.pull_all(space).await.unwrap(),
            log,
            "{what}: the log changed"
        );
        assert_eq!(
            refused(c.snapshot(space).await),
            ErrorCode::NotFound,
            "{what}: a snapshot was stored"
        );
    }
    still_serving(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_id_reused_with_other_bytes_is_a_conflict() {
    let relay = RelayProcess::temp();
    let (c, space, _) = member_with_blobs(&relay, 0).await;
    let x = random_blob(50);
    assert_eq!(
        c.push(space, std::slice::from_ref(&x)).await.unwrap().seqs,
        vec![1]
    );
    let x_other = PushBlob {
        id: x.id.clone(),
        data: random_bytes(50),
    };
    let fresh = random_blob(20);
    let twin = random_blob(20);
    let twin_other = PushBlob {
        id: twin.id.clone(),
        data: random_bytes(21),
    };
    for (what, batch) in [
        ("alone", vec![x_other.clone()]),
        ("after a new blob", vec![fresh.clone(), x_other.clone()]),
        ("within one push", vec![twin.clone(), twin_other.clone()]),
    ] {
        let e = refusal(c.push(space, &batch).await);
        assert_eq!(e, (409, ErrorCode::Conflict), "{what}");
        // All or nothing: the new blob of the batch isn't stored either.
        assert_eq!(c.space(space).await.unwrap().head, 1, "{what}");
        let log = c.pull_all(space).await.unwrap();
        assert_eq!((log.len(), &log[0].data), (1, &x.data), "{what}");
    }
    // The same blob twice in one push is a retry, not a conflict.
    let pushed = c
        .push(space, &[fresh.clone(), fresh.clone(), x.clone()])
        .await
        .unwrap();
    assert_eq!(pushed.seqs, vec![2, 2, 1]);
    assert_eq!(pushed.head, 2);
    still_serving(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let relay = RelayProcess::temp_with(&["--pushes-per-minute", "3"]);
    let base = relay.url();
    let (a, space, _) = member_with_blobs(&relay, 0).await;
    for i in 1..=3u64 {
        assert_eq!(a.push(space, &[random_blob(10)]).await.unwrap().head, i);
    }
    let resp = a
        .request(
            Method::POST,
            &format!("/v1/spaces/{space}/blobs"),
            Some(Body::cbor(&Push {
                blobs: vec![random_blob(10)],
            })),
        )
        .await
        .unwrap();
    assert_typed(&resp, 429, ErrorCode::RateLimited, "the fourth push");
    let retry: u64 = resp
        .retry_after
        .as_deref()
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    assert_eq!(a.space(space).await.unwrap().head, 3, "nothing stored");
    // The limit is per device and on pushes only: reading goes on, and another device
    // (even in the same space) pushes.
    assert_eq!(a.pull_all(space).await.unwrap().len(), 3);
    let b = Client::register(&base).await.unwrap();
    a.invite_into(space, &b).await.unwrap();
    assert_eq!(
        b.push(space, &[random_blob(10)]).await.unwrap().seqs,
        vec![4]
    );
    still_serving(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_exceeded_stores_nothing() {
    let relay = RelayProcess::temp_with(&["--space-quota-bytes", "1000"]);
    let (c, space, _) = member_with_blobs(&relay, 0).await;
    c.push(space, &[random_blob(600)]).await.unwrap();
    // 300 alone would fit; with 200 more the batch doesn't: none of it is stored.
    let e = refusal(c.push(space, &[random_blob(300), random_blob(200)]).await);
    assert_eq!(e, (413, ErrorCode::QuotaExceeded));
    assert_eq!(c.space(space).await.unwrap().head, 1);
    assert_eq!(c.pull_all(space).await.unwrap().len(), 1);
    // Exactly up to the quota is fine; one byte more is not.
    let last = random_blob(400);
    c.push(space, std::slice::from_ref(&last)).await.unwrap();
    let e = refused(c.push(space, &[random_blob(1)]).await);
    assert_eq!(e, ErrorCode::QuotaExceeded);
    // A retry of a stored blob costs nothing and still answers its seq.
    assert_eq!(c.push(space, &[last]).await.unwrap().seqs, vec![2]);
    assert_eq!(c.space(space).await.unwrap().head, 2);
    // The quota is per space.
    let other = c.new_space().await.unwrap();
    c.push(other, &[random_blob(900)]).await.unwrap();
    still_serving(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_is_idempotent() {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let (c, space, _) = member_with_blobs(&relay, 0).await;
    let first: Vec<PushBlob> = (0..5).map(|i| random_blob(30 + i)).collect();
    let pushed = c.push(space, &first).await.unwrap();
    assert_eq!((pushed.seqs.clone(), pushed.head), (vec![1, 2, 3, 4, 5], 5));
    // The same blobs again: the same seqs, nothing appended.
    assert_eq!(c.push(space, &first).await.unwrap(), pushed);
    // In another order, mixed with new ones (and from another member device).
    let b = Client::register(&base).await.unwrap();
    c.invite_into(space, &b).await.unwrap();
    let new: Vec<PushBlob> = (0..2).map(|_| random_blob(40)).collect();
    let mixed = vec![
        first[4].clone(),
        new[0].clone(),
        first[0].clone(),
        new[1].clone(),
    ];
    let again = b.push(space, &mixed).await.unwrap();
    assert_eq!((again.seqs, again.head), (vec![5, 6, 1, 7], 7));
    let log = c.pull_all(space).await.unwrap();
    let expected: Vec<(u64, &PushBlob)> = (1..=7).zip(first.iter().chain(&new)).collect();
    assert_eq!(log.len(), expected.len());
    for (got, (seq, want)) in log.iter().zip(expected) {
        assert_eq!((got.seq, &got.id, &got.data), (seq, &want.id, &want.data));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_pages_through_the_log() {
    let relay = RelayProcess::temp();
    let (c, space, _) = member_with_blobs(&relay, 0).await;
    let mut sent = Vec::new();
    for n in [7, 1, 9, 8] {
        let batch: Vec<PushBlob> = (0..n).map(|i| random_blob(5 + i)).collect();
        c.push(space, &batch).await.unwrap();
        sent.extend(batch);
    }
    assert_eq!(sent.len(), 25);

    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let page = c.pull(space, after, Some(10)).await.unwrap();
        assert_eq!(page.head, 25);
        assert!(page.snapshot.is_none());
        pages.push(page.blobs.iter().map(|b| b.seq).collect::<Vec<_>>());
        after = page.blobs.last().map(|b| b.seq).unwrap_or(after);
        for b in &page.blobs {
            let want = &sent[b.seq as usize - 1];
            assert_eq!((&b.id, &b.data), (&want.id, &want.data));
        }
        if !page.more {
            break;
        }
    }
    assert_eq!(
        pages,
        vec![
            (1..=10).collect::<Vec<_>>(),
            (11..=20).collect(),
            (21..=25).collect()
        ]
    );
    // From the middle, at the head (empty, no more), past the head (an error).
    let mid = c.pull(space, 17, Some(5)).await.unwrap();
    assert_eq!(
        mid.blobs.iter().map(|b| b.seq).collect::<Vec<_>>(),
        vec![18, 19, 20, 21, 22]
    );
    assert!(mid.more);
    let at_head = c.pull(space, 25, None).await.unwrap();
    assert!(at_head.blobs.is_empty() && !at_head.more);
    let e = refusal(c.pull(space, 26, None).await);
    assert_eq!(e, (400, ErrorCode::CursorAhead));
    // The default page holds everything here.
    let all = c.pull(space, 0, None).await.unwrap();
    assert_eq!((all.blobs.len(), all.more), (25, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_keeps_the_newest() {
    let relay = RelayProcess::temp();
    let (c, space, _) = member_with_blobs(&relay, 3).await;
    assert_eq!(refused(c.snapshot(space).await), ErrorCode::NotFound);
    let s2 = Snapshot {
        seq: 2,
        data: random_bytes(100),
    };
    c.put_snapshot(space, &s2).await.unwrap();
    assert_eq!(c.snapshot(space).await.unwrap(), s2);
    // An older one doesn't replace it; a newer one does.
    c.put_snapshot(
        space,
        &Snapshot {
            seq: 1,
            data: random_bytes(10),
        },
    )
    .await
    .unwrap();
    assert_eq!(c.snapshot(space).await.unwrap(), s2);
    let s3 = Snapshot {
        seq: 3,
        data: random_bytes(10),
    };
    c.put_snapshot(space, &s3).await.unwrap();
    assert_eq!(c.snapshot(space).await.unwrap(), s3);
    // The log is untouched (pruning happens only after the retention window).
    let pulled = c.pull(space, 0, None).await.unwrap();
    assert_eq!((pulled.blobs.len(), pulled.snapshot), (3, None));
}

/// The next frame must be a `new` frame; returns it.
async fn next_new(conn: &mut LiveConn) -> (Uuid, u64, Option<LogBlob>) {
    conn.next_new(WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_announces_to_other_members_not_the_pusher() {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let (a, b, space) = Client::partners(&base).await.unwrap();
    let mut a_live = a.live().await.unwrap();
    let mut b_live = b.live().await.unwrap();

    // A pushes: B hears it with the blob inline.
    let blob = random_blob(200);
    a.push(space, std::slice::from_ref(&blob)).await.unwrap();
    let (s, seq, inline) = next_new(&mut b_live).await;
    assert_eq!((s, seq), (space, 1));
    assert_eq!(
        inline,
        Some(LogBlob {
            seq: 1,
            id: blob.id.clone(),
            data: blob.data.clone()
        })
    );
    // B pushes: A's first frame is seq 2, so A never heard of its own seq 1 (frames are
    // queued before a push is answered).
    b.push(space, &[random_blob(10)]).await.unwrap();
    assert_eq!(next_new(&mut a_live).await.1, 2);
    // A retry announces nothing; a batch announces each blob in order; a blob over the
    // inline limit (8 KiB) comes without its bytes.
    a.push(space, std::slice::from_ref(&blob)).await.unwrap();
    let big = random_blob(9000);
    a.push(space, &[random_blob(10), big.clone(), random_blob(8192)])
        .await
        .unwrap();
    let frames = [
        next_new(&mut b_live).await,
        next_new(&mut b_live).await,
        next_new(&mut b_live).await,
    ];
    // B's own seq 2 is not among them.
    assert_eq!(
        frames.iter().map(|f| f.1).collect::<Vec<_>>(),
        vec![3, 4, 5]
    );
    assert!(frames[0].2.is_some());
    assert_eq!(frames[1].2, None, "a 9000-byte blob is not inline");
    assert_eq!(frames[2].2.as_ref().map(|b| b.data.len()), Some(8192));
    let pulled = b.pull(space, 3, Some(1)).await.unwrap();
    assert_eq!(pulled.blobs[0].data, big.data);

    // A device that joins while connected starts hearing the space at once (another device
    // of A's: the journal has its two people).
    let c = Client::register(&base).await.unwrap();
    let mut c_live = c.live().await.unwrap();
    a.link(&c).await.unwrap();
    let secret = duet_e2e::relay::InviteSecret::random();
    a.create_invite(
        space,
        &secret.create_body_of(duet_proto::InviteKind::Device, b"k", None),
    )
    .await
    .unwrap();
    c.join(secret.invite_id, &secret.token).await.unwrap();
    let d = Client::register(&base).await.unwrap();
    let mut d_live = d.live().await.unwrap();
    a.admit_own_device(space, &d).await.unwrap();
    b.push(space, &[random_blob(10)]).await.unwrap();
    assert_eq!(next_new(&mut c_live).await.1, 6);
    assert_eq!(next_new(&mut d_live).await.1, 6);
    assert_eq!(next_new(&mut a_live).await.1, 6);
    // Several connections of one device all hear it.
    let mut b_live2 = b.live().await.unwrap();
    a.push(space, &[random_blob(10)]).await.unwrap();
    assert_eq!(next_new(&mut b_live).await.1, 7);
    assert_eq!(next_new(&mut b_live2).await.1, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_first_frame_must_be_a_valid_auth() {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let member = Client::register(&base).await.unwrap();
    #[derive(serde::Serialize)]
    struct Subscribe {
        t: &'static str,
        space: Uuid,
    }
    let cases: Vec<(&str, Message, ErrorCode)> = vec![
        (
            "a text frame",
            Message::text(format!("{{\"t\":\"auth\",\"token\":\"{}\"}}", member.token)),
            ErrorCode::Unauthorized,
        ),
        (
            "binary garbage",
            Message::binary(vec![0xff, 0xfe, 0x00]),
            ErrorCode::MalformedBody,
        ),
        (
            "an unknown frame",
            Message::binary(duet_proto::to_cbor(&Subscribe {
                t: "subscribe",
                space: Uuid::now_v7(),
            })),
            ErrorCode::MalformedBody,
        ),
        (
            // Bigger than the relay's initial 4 KiB read buffer: it grows.
            "a 20 KB auth frame",
            Message::binary(duet_proto::to_cbor(&ClientFrame::Auth {
                token: "x".repeat(20_000),
            })),
            ErrorCode::Unauthorized,
        ),
        (
            "an auth frame with an unknown token",
            Message::binary(duet_proto::to_cbor(&ClientFrame::Auth {
                token: format!("{}x", member.token),
            })),
            ErrorCode::Unauthorized,
        ),
    ];
    for (what, first, code) in cases {
        let mut conn = LiveConn::connect_raw(&base).await.unwrap();
        conn.send(first).await.unwrap();
        match conn.recv(WAIT).await {
            LiveEvent::Frame(ServerFrame::Error { code: got, .. }) => {
                assert_eq!(got, code, "{what}")
            }
            other => panic!("{what}: expected an error frame, got {other:?}"),
        }
        assert_eq!(conn.recv(WAIT).await, LiveEvent::Closed, "{what}");
        // A valid auth sent afterwards is too late: the connection is gone.
        let _ = conn
            .send_frame(&ClientFrame::Auth {
                token: member.token.clone(),
            })
            .await;
        assert_eq!(
            conn.recv(Duration::from_millis(200)).await,
            LiveEvent::Closed
        );
    }
    // The relay is fine and the member connects properly.
    let live = member.live().await.unwrap();
    live.close().await;
    still_serving(&relay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_typed_for_every_method_and_path() {
    // A wrong method on a known path, paths outside the API, and a plain GET of the live
    // endpoint still answer a JSON error with a code (axum's defaults are an empty 405 and
    // plain-text 400s).
    let relay = RelayProcess::temp();
    let base = relay.url();
    let (c, space) = Client::with_space(&base).await.unwrap();
    let not_found = (404, ErrorCode::NotFound);
    for (method, path, (status, code)) in [
        (Method::DELETE, "/v1/spaces".to_string(), not_found),
        (Method::PUT, format!("/v1/spaces/{space}/blobs"), not_found),
        (Method::GET, "/v1/devices".to_string(), not_found),
        (Method::POST, "/v1/live".to_string(), not_found),
        (Method::GET, "/".to_string(), not_found),
        (Method::GET, "/v1".to_string(), not_found),
        (
            Method::GET,
            "/v1/live".to_string(),
            (400, ErrorCode::InvalidRequest),
        ),
        (
            Method::DELETE,
            "/v1/devices/not-a-uuid".to_string(),
            (400, ErrorCode::InvalidRequest),
        ),
    ] {
        let resp = send(c.http(), &base, method.clone(), &path, Some(&c.token), None)
            .await
            .unwrap();
        assert_typed(&resp, status, code, &format!("{method} {path}"));
    }
    let info = c.space(space).await.unwrap();
    assert_eq!((info.head, info.members), (0, vec![c.device_id]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pruned_log_is_served_from_the_snapshot() {
    // With a retention of 0 h the pruner's first pass (at start-up) prunes the log behind
    // every snapshot: a restart exercises it.
    let mut relay = RelayProcess::temp_with(&["--snapshot-retention-hours", "0"]);
    let (c, space, log) = member_with_blobs(&relay, 5).await;
    let snap = Snapshot {
        seq: 3,
        data: random_bytes(77),
    };
    c.put_snapshot(space, &snap).await.unwrap();
    relay.restart();
    let c = c.at(&relay.url());
    let deadline = std::time::Instant::now() + WAIT;
    let pulled = loop {
        let p = c.pull(space, 0, None).await.unwrap();
        if p.snapshot.is_some() || std::time::Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A cursor older than the pruned log: the snapshot, then the blobs after it.
    assert_eq!(pulled.snapshot, Some(snap.clone()));
    assert_eq!(pulled.blobs, log[3..].to_vec());
    assert_eq!((pulled.head, pulled.more), (5, false));
    let from_two = c.pull(space, 2, Some(1)).await.unwrap();
    assert_eq!(from_two.snapshot, Some(snap));
    assert_eq!(from_two.blobs, log[3..4].to_vec());
    assert!(from_two.more);
    // A cursor at or past the snapshot: just the blobs.
    let from_three = c.pull(space, 3, None).await.unwrap();
    assert_eq!(
        (from_three.snapshot, from_three.blobs),
        (None, log[3..].to_vec())
    );
    // The head and the numbering go on.
    assert_eq!(
        c.push(space, &[random_blob(9)]).await.unwrap().seqs,
        vec![6]
    );
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_live_connections_are_cheap() {
    // A regression guard for the relay's per-connection memory (the benchmark measures
    // 10,000): tungstenite's default 128 KiB read buffer, zero-filled on the first read,
    // once made every idle connection cost ~130 KiB of resident memory.
    const N: usize = 400;
    let relay = RelayProcess::temp();
    let base = relay.url();
    let pid = relay.pid().unwrap();
    let mut clients = Vec::new();
    for _ in 0..N {
        clients.push(Client::register(&base).await.unwrap());
    }
    // Warm up the allocator and the runtime with a few connections first.
    let mut conns = Vec::new();
    for c in &clients[..20] {
        conns.push(c.live().await.unwrap());
    }
    let before = rss_kib(pid);
    for c in &clients[20..] {
        conns.push(c.live().await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let per_conn = rss_kib(pid).saturating_sub(before) / (N as u64 - 20);
    assert!(
        per_conn <= 48,
        "{per_conn} KiB of relay memory per idle live connection"
    );
}
