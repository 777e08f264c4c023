//! The relay's limits against a real `duet-relay` process (issue 10): it keeps answering
//! while slow clients dribble headers and while many large pushes arrive at once, and its
//! memory comes back afterwards; every quota, cap and registration limit is hit and answers
//! its typed error with nothing stored past it; connection caps, hyper-level refusals, body
//! limits and timeouts answer typed errors (or close, where nothing can be answered); live
//! channels close with a close code.
//!
//! All traffic stays on 127.0.0.1. Addresses in `X-Forwarded-For` headers are documentation
//! ranges (RFC 5737) and are never contacted. Every loop is bounded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use duet_e2e::procfs::rss_kib;
use duet_e2e::relay::{
    Client, InviteSecret, RelayProcess, http_client, live_url, random_blob, random_bytes, refusal,
    refused, send,
};
use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::{CBOR, ErrorBody, ErrorCode, Push, PushBlob, Snapshot};
use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// Raw HTTP and measurements
// ---------------------------------------------------------------------------------------

/// An HTTP answer read off a raw socket.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn parse(raw: &[u8]) -> Option<Answer> {
        let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Some(Answer {
            status,
            headers,
            body: raw[end + 4..].to_vec(),
        })
    }

    fn error(&self) -> ErrorBody {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} without a typed error body ({e}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Assert a typed error with this status and code.
    fn assert_typed(&self, status: u16, code: ErrorCode, what: &str) {
        assert_eq!(
            self.headers.get("content-type").map(String::as_str),
            Some("application/json"),
            "{what}: {self:?}"
        );
        assert_eq!((self.status, self.error().code), (status, code), "{what}");
    }
}

/// Read until the relay closes the connection (or `within` passes).
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// Send `request` on a fresh connection and read the answer (the relay closes after it, or
/// `within` passes).
async fn exchange(addr: SocketAddr, request: &[u8], within: Duration) -> Answer {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let raw = read_to_close(&mut s, within).await;
    Answer::parse(&raw)
        .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(&raw)))
}

/// Send `request` on a fresh connection and read the answer, which must come `within`.
async fn answered_within(within: Duration, addr: SocketAddr, request: &[u8]) -> Answer {
    let t = Instant::now();
    let answer = exchange(addr, request, Duration::from_secs(5)).await;
    assert!(t.elapsed() < within, "answered after {:?}", t.elapsed());
    answer
}

/// A request head (and body) for a raw socket.
fn request(method: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: relay\r\nconnection: close\r\n");
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

/// `GET /healthz` on a fresh connection (the accept path included): how long it took.
async fn healthz(addr: SocketAddr) -> Duration {
    let start = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        exchange(
            addr,
            &request("GET", "/healthz", &[], b""),
            Duration::from_secs(10),
        ),
    )
    .await
    .expect("healthz answers within 10 s");
    assert_eq!(answer.status, 200, "{answer:?}");
    start.elapsed()
}

/// Rows in one table of a relay's SQLite database.
fn count(db: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .unwrap();
    c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// A push body of `n` blobs of `size` random bytes each.
fn push_body(n: usize, size: usize) -> Vec<u8> {
    let blobs: Vec<PushBlob> = (0..n).map(|_| random_blob(size)).collect();
    duet_proto::to_cbor(&Push { blobs })
}

// ---------------------------------------------------------------------------------------
// Slow and heavy clients
// ---------------------------------------------------------------------------------------

/// 500 connections send a request head a few bytes at a time and never finish it. The relay
/// keeps answering `/healthz` on new connections within a second, and closes every
/// dribbler once its header-read timeout passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_while_500_connections_dribble_headers() {
    const DRIBBLERS: usize = 500;
    const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
    let relay = RelayProcess::temp_with(&["--header-read-timeout-secs", "3"]);
    let addr = relay.addr();
    healthz(addr).await;

    let mut dribblers = Vec::new();
    for _ in 0..DRIBBLERS {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let opened = Instant::now();
        dribblers.push(tokio::spawn(async move {
            // Returns how long after opening the relay closed the connection (None: it
            // was still open after 20 s).
            if s.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\n")
                .await
                .is_err()
            {
                return Some(opened.elapsed());
            }
            let mut buf = [0u8; 1024];
            while opened.elapsed() < Duration::from_secs(20) {
                tokio::select! {
                    r = s.read(&mut buf) => match r {
                        Ok(0) | Err(_) => return Some(opened.elapsed()),
                        Ok(_) => return Some(opened.elapsed()), // an answer: not expected
                    },
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {
                        if s.write_all(b"x-dribble: 1\r\n").await.is_err() {
                            return Some(opened.elapsed());
                        }
                    }
                }
            }
            None
        }));
    }
    // While they dribble: /healthz on new connections, every 100 ms.
    let mut worst = Duration::ZERO;
    let mut probes = 0;
    let probing = Instant::now();
    while probing.elapsed() < HEADER_TIMEOUT - Duration::from_millis(800) {
        worst = worst.max(healthz(addr).await);
        probes += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "healthz with {DRIBBLERS} dribbling connections: worst of {probes} probes {} ms",
        worst.as_millis()
    );
    assert!(probes >= 5);
    assert!(worst < Duration::from_secs(1), "worst healthz {worst:?}");

    let mut closed_after = Vec::new();
    for d in dribblers {
        closed_after.push(d.await.unwrap().expect("the relay closes a dribbler"));
    }
    let earliest = closed_after.iter().min().unwrap();
    let latest = closed_after.iter().max().unwrap();
    println!("dribblers closed after {earliest:?} to {latest:?}");
    assert!(*earliest >= HEADER_TIMEOUT - Duration::from_millis(500));
    assert!(*latest < HEADER_TIMEOUT + Duration::from_secs(5));
    assert!(healthz(addr).await < Duration::from_secs(1));
}

/// 32 clients push 8 MiB bodies at once. `/healthz` keeps answering within a second, every
/// push is stored (large bodies queue for the relay's body memory rather than pile up), and
/// the relay's resident memory afterwards is back within 64 MB of before.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_answers_and_memory_comes_back_under_32_concurrent_8_mib_pushes() {
    const PUSHERS: usize = 32;
    let relay = RelayProcess::temp();
    let (addr, base, pid) = (relay.addr(), relay.url(), relay.pid().unwrap());
    let mut pushers = Vec::new();
    for _ in 0..PUSHERS {
        let (c, space) = Client::with_space(&base).await.unwrap();
        pushers.push((c, space));
    }
    // Four blobs just under 2 MiB each: a body just under the 8 MiB limit.
    let bodies: Vec<Vec<u8>> = (0..PUSHERS).map(|_| push_body(4, 2 * MIB - 512)).collect();
    assert!(
        bodies
            .iter()
            .all(|b| b.len() > 8 * MIB - 4096 && b.len() <= 8 * MIB)
    );
    for _ in 0..3 {
        healthz(addr).await;
    }
    let before = rss_kib(pid);

    let start = Instant::now();
    let mut tasks = Vec::new();
    for ((c, space), body) in pushers.iter().cloned().zip(bodies) {
        tasks.push(tokio::spawn(async move {
            let r = c.push_encoded(space, body).await;
            (r, c, space)
        }));
    }
    let mut worst = Duration::ZERO;
    let mut peak = before;
    let mut probes = 0;
    while !tasks.iter().all(|t| t.is_finished()) && start.elapsed() < Duration::from_secs(240) {
        worst = worst.max(healthz(addr).await);
        peak = peak.max(rss_kib(pid));
        probes += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let load = start.elapsed();
    for t in tasks {
        let (r, c, space) = t.await.unwrap();
        let pushed = r.unwrap_or_else(|e| panic!("a push failed: {e}"));
        assert_eq!(pushed.seqs, vec![1, 2, 3, 4]);
        assert_eq!(c.space(space).await.unwrap().head, 4);
    }
    // Give freed memory a moment to go back (bounded).
    let mut after = rss_kib(pid);
    let settle = Instant::now();
    while after > before + 64 * 1024 && settle.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        after = rss_kib(pid);
    }
    println!(
        "{PUSHERS} concurrent 8 MiB pushes in {:.1} s: healthz worst of {probes} probes {} ms; \
         relay RSS before {} MiB, peak {} MiB, after {} MiB ({:.1} s after the load)",
        load.as_secs_f64(),
        worst.as_millis(),
        before / 1024,
        peak / 1024,
        after / 1024,
        settle.elapsed().as_secs_f64()
    );
    assert!(probes >= 3, "the load ended before it was probed");
    assert!(worst < Duration::from_secs(1), "worst healthz {worst:?}");
    assert!(
        after <= before + 64 * 1024,
        "RSS {after} KiB after the load, {before} KiB before"
    );
}

// ---------------------------------------------------------------------------------------
// Quota, caps and registration
// ---------------------------------------------------------------------------------------

/// A snapshot counts toward the space's quota: an 8 MiB snapshot into a full space is
/// refused with `quota_exceeded` and nothing is stored; a small one is stored and counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_into_a_full_space_is_refused() {
    let relay = RelayProcess::temp_with(&["--space-quota-bytes", "9000000"]);
    let base = relay.url();
    let (c, space) = Client::with_space(&base).await.unwrap();
    // 8 MiB of log (four 2 MiB blobs) in a 9,000,000-byte quota.
    for _ in 0..2 {
        c.push_encoded(space, push_body(2, 2 * MIB)).await.unwrap();
    }
    let big = Snapshot {
        seq: 4,
        data: random_bytes(8 * MIB - 64),
    };
    let e = refusal(c.put_snapshot(space, &big).await);
    assert_eq!(e, (413, ErrorCode::QuotaExceeded));
    let stored = refused(c.snapshot(space).await);
    assert_eq!(stored, ErrorCode::NotFound, "nothing stored");
    assert_eq!(count(&relay.db_path(), "snapshots"), 0);

    // 300 KB fits (8,388,608 + 300,000 < 9,000,000) and counts: 400 KB more of log don't.
    let small = Snapshot {
        seq: 4,
        data: random_bytes(300_000),
    };
    c.put_snapshot(space, &small).await.unwrap();
    assert_eq!(c.snapshot(space).await.unwrap(), small);
    let over = c.push(space, &[random_blob(400_000)]).await;
    assert_eq!(refused(over), ErrorCode::QuotaExceeded);
    assert_eq!(c.space(space).await.unwrap().head, 4);
    c.push(space, &[random_blob(200_000)]).await.unwrap();
}

/// A device creates at most `--max-spaces-per-device` spaces: past it `too_many_spaces`
/// (403), for a free id and someone else's id alike, and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spaces_per_device_are_capped() {
    let relay = RelayProcess::temp_with(&["--max-spaces-per-device", "3"]);
    let base = relay.url();
    let a = Client::register(&base).await.unwrap();
    let (b, theirs) = Client::with_space(&base).await.unwrap();
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(a.new_space().await.unwrap());
    }
    for id in [Uuid::now_v7(), theirs] {
        let e = refusal(a.create_space(id).await);
        assert_eq!(e, (403, ErrorCode::TooManySpaces));
    }
    // Its own space again is fine (nothing changes).
    a.create_space(mine[0]).await.unwrap();
    assert_eq!(a.spaces().await.unwrap().spaces.len(), 3);
    assert_eq!(count(&relay.db_path(), "spaces"), 4);
    // Being invited into a space is not creating one.
    b.invite_into(theirs, &a).await.unwrap();
    assert_eq!(a.spaces().await.unwrap().spaces.len(), 4);
}

/// A device holds at most `--max-pending-invites-per-device` pending invites: past it
/// `too_many_invites` (403) and the invite isn't stored; a used or expired invite frees its
/// place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_invites_per_device_are_capped() {
    let relay = RelayProcess::temp_with(&["--max-pending-invites-per-device", "2"]);
    let base = relay.url();
    let (a, space) = Client::with_space(&base).await.unwrap();
    let first = a.invite(space, None).await.unwrap();
    a.invite(space, Some(1)).await.unwrap();
    let third = InviteSecret::random();
    let e = refusal(
        a.create_invite(space, &third.create_body(b"wrapped", None))
            .await,
    );
    assert_eq!(e, (403, ErrorCode::TooManyInvites));
    let b = Client::register(&base).await.unwrap();
    let joined = refused(b.join(third.invite_id, &third.token).await);
    assert_eq!(
        joined,
        ErrorCode::NotFound,
        "the refused invite was not stored"
    );
    assert_eq!(count(&relay.db_path(), "invites"), 2);
    // The short one expires: its place is free.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    a.create_invite(space, &third.create_body(b"wrapped", None))
        .await
        .unwrap();
    let fourth = InviteSecret::random();
    let e = refused(
        a.create_invite(space, &fourth.create_body(b"wrapped", None))
            .await,
    );
    assert_eq!(e, ErrorCode::TooManyInvites);
    // A used one frees its place too.
    b.join(first.invite_id, &first.token).await.unwrap();
    a.create_invite(space, &fourth.create_body(b"wrapped", None))
        .await
        .unwrap();
}

async fn register_from(
    http: &reqwest::Client,
    base: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = http.post(format!("{base}/v1/devices"));
    if let Some(f) = forwarded_for {
        req = req.header("x-forwarded-for", f);
    }
    req.send().await.unwrap()
}

async fn assert_rate_limited(resp: reqwest::Response, what: &str) {
    assert_eq!(resp.status().as_u16(), 429, "{what}");
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{what}: no Retry-After"));
    assert!(retry >= 1, "{what}");
    let body: ErrorBody = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body.code, ErrorCode::RateLimited, "{what}");
}

/// Registrations are limited per client address; `X-Forwarded-For` from a peer that isn't a
/// trusted proxy changes nothing. Nothing is stored past the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_are_limited_per_address() {
    let relay = RelayProcess::temp_with(&["--registrations-per-hour", "3"]);
    let base = relay.url();
    let http = http_client();
    for _ in 0..3 {
        assert_eq!(register_from(&http, &base, None).await.status(), 201);
    }
    assert_rate_limited(register_from(&http, &base, None).await, "the 4th").await;
    assert_rate_limited(
        register_from(&http, &base, Some("203.0.113.5")).await,
        "a forged X-Forwarded-For",
    )
    .await;
    assert_eq!(count(&relay.db_path(), "devices"), 3);
    // Registered devices work on (the limit is on registering only).
    let c = Client::register(&base).await;
    assert_eq!(refused(c), ErrorCode::RateLimited);
}

/// Behind a trusted proxy, the client is the rightmost untrusted `X-Forwarded-For` address:
/// each client has its own allowance, and a forged left part changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_is_limited() {
    let relay = RelayProcess::temp_flags("--registrations-per-hour 2 --trusted-proxy 127.0.0.1");
    let base = relay.url();
    let http = http_client();
    for _ in 0..2 {
        assert_eq!(
            register_from(&http, &base, Some("203.0.113.5"))
                .await
                .status(),
            201
        );
    }
    assert_rate_limited(
        register_from(&http, &base, Some("203.0.113.5")).await,
        "the client's 3rd",
    )
    .await;
    assert_rate_limited(
        register_from(&http, &base, Some("198.51.100.9, 203.0.113.5")).await,
        "a forged hop left of the proxy's",
    )
    .await;
    assert_eq!(
        register_from(&http, &base, Some("203.0.113.6"))
            .await
            .status(),
        201,
        "another client"
    );
    assert_eq!(count(&relay.db_path(), "devices"), 3);
}

/// With `--registration-token`, registering needs it: `registration_closed` (403) otherwise,
/// and nothing is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registration_token_gates_registration() {
    let relay = RelayProcess::temp_with(&["--registration-token", "op-s3cret"]);
    let base = relay.url();
    let http = http_client();
    for token in [None, Some("wrong"), Some("op-s3cret-not")] {
        let r = send(&http, &base, Method::POST, "/v1/devices", token, None)
            .await
            .unwrap();
        assert_eq!(r.status, 403, "{token:?}");
        assert_eq!(r.code(), Some(ErrorCode::RegistrationClosed), "{token:?}");
    }
    assert_eq!(count(&relay.db_path(), "devices"), 0);
    let r = send(
        &http,
        &base,
        Method::POST,
        "/v1/devices",
        Some("op-s3cret"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status, 201);
    assert_eq!(count(&relay.db_path(), "devices"), 1);
}

// ---------------------------------------------------------------------------------------
// Connections, hyper-level refusals, bodies and timeouts
// ---------------------------------------------------------------------------------------

/// Past the per-address or the global connection cap a new connection is answered `503
/// too_many_connections` with `Retry-After`, and closed; a freed place is taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_answer_too_many_connections() {
    for (flag, value) in [
        ("--max-connections-per-ip", "3"),
        ("--max-connections", "3"),
    ] {
        let relay = RelayProcess::temp_with(&[flag, value]);
        let addr = relay.addr();
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.unwrap());
        }
        // Accepted and counted in order: make sure the relay has seen all three.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let refused = exchange(
            addr,
            &request("GET", "/healthz", &[], b""),
            Duration::from_secs(5),
        )
        .await;
        refused.assert_typed(503, ErrorCode::TooManyConnections, flag);
        assert_eq!(
            refused.headers.get("retry-after").map(String::as_str),
            Some("1")
        );
        drop(held.pop());
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let a = exchange(
                addr,
                &request("GET", "/healthz", &[], b""),
                Duration::from_secs(5),
            )
            .await;
            if a.status == 200 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{flag}: the freed place stays taken"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Requests hyper itself refuses get typed answers too: a malformed request line or header
/// (`malformed_request` 400), headers past `--max-header-bytes` (`headers_too_large` 431), a
/// request line past hyper's 64 KiB (`uri_too_long` 414).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hyper_level_refusals_are_typed() {
    let relay = RelayProcess::temp_with(&["--max-header-bytes", "16384"]);
    let addr = relay.addr();
    let wait = Duration::from_secs(5);
    exchange(addr, b"GARBAGE\r\n\r\n", wait).await.assert_typed(
        400,
        ErrorCode::MalformedRequest,
        "a garbage request line",
    );
    exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nhost: relay\r\nno colon here\r\n\r\n",
        wait,
    )
    .await
    .assert_typed(400, ErrorCode::MalformedRequest, "a header without a colon");
    let big = "a".repeat(20_000);
    exchange(
        addr,
        &request("GET", "/healthz", &[("x-big", big.clone())], b""),
        wait,
    )
    .await
    .assert_typed(431, ErrorCode::HeadersTooLarge, "a 20 KB header");
    // A head that never ends grows past the limit too.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nx-endless: ")
        .await
        .unwrap();
    let _ = s.write_all(big.as_bytes()).await;
    Answer::parse(&read_to_close(&mut s, wait).await)
        .unwrap()
        .assert_typed(431, ErrorCode::HeadersTooLarge, "an unfinished 20 KB head");
    // Under a larger head limit, hyper's own cap on the request line answers.
    let relay2 = RelayProcess::temp_with(&["--max-header-bytes", "131072"]);
    let long = format!("/v1/{}", "a".repeat(66_000));
    exchange(relay2.addr(), &request("GET", &long, &[], b""), wait)
        .await
        .assert_typed(414, ErrorCode::UriTooLong, "a 66 KB request line");
    // The relay serves on.
    assert!(healthz(addr).await < Duration::from_secs(1));
    assert!(healthz(relay2.addr()).await < Duration::from_secs(1));
}

/// Bodies are checked before they are buffered: the push rate limit and membership answer
/// before a byte of the body is read, a declared or streamed size past the limit is refused
/// as soon as it is known, a body that doesn't arrive in time is `request_timeout`, and a
/// body with bytes after its CBOR is malformed. Nothing is stored by any of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_are_checked_before_they_are_buffered() {
    let relay = RelayProcess::temp_flags(
        "--pushes-per-minute 5 --max-body-bytes 1000000 --body-read-timeout-secs 1",
    );
    let (addr, base) = (relay.addr(), relay.url());
    let (c, space) = Client::with_space(&base).await.unwrap();
    let path = format!("/v1/spaces/{space}/blobs");
    // A push as a raw socket sends it: `token`'s, CBOR, one more header, these body bytes.
    let push = |token: &str, header: (&str, &str), body: &[u8]| {
        let headers = [
            ("authorization", format!("Bearer {token}")),
            ("content-type", CBOR.to_string()),
            (header.0, header.1.to_string()),
        ];
        request("POST", &path, &headers, body)
    };
    let wait = Duration::from_secs(5);
    let quick = Duration::from_millis(1500);

    // A declared length past the limit: refused at once, the body never sent.
    let declared = push(&c.token, ("content-length", "100000000"), b"");
    answered_within(quick, addr, &declared).await.assert_typed(
        413,
        ErrorCode::PayloadTooLarge,
        "a declared 100 MB",
    );

    // A chunked body, refused once it streams past the limit.
    let chunked = push(&c.token, ("transfer-encoding", "chunked"), b"");
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(&chunked).await.unwrap();
    let chunk = vec![0u8; 64 * 1024];
    for _ in 0..16 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if s.write_all(&frame).await.is_err() {
            break; // refused and closed mid-stream
        }
    }
    Answer::parse(&read_to_close(&mut s, wait).await)
        .expect("an answer to the streamed body")
        .assert_typed(413, ErrorCode::PayloadTooLarge, "a streamed 1 MiB");

    // A body that stops arriving.
    let stopping = push(&c.token, ("content-length", "1000"), &[0xa1; 10]);
    answered_within(Duration::from_secs(4), addr, &stopping)
        .await
        .assert_typed(408, ErrorCode::RequestTimeout, "a body that stops");

    // Trailing bytes after a valid push.
    let mut body = push_body(1, 100);
    body.push(0);
    let trailing = Some(duet_e2e::relay::Body::raw(CBOR, body));
    let r = send(
        c.http(),
        &base,
        Method::POST,
        &path,
        Some(&c.token),
        trailing,
    );
    let r = r.await.unwrap();
    let got = (r.status, r.code());
    assert_eq!(got, (400, Some(ErrorCode::MalformedBody)), "trailing bytes");

    // A stranger's push: 404 before the body (a declared 900 KB, never sent).
    let stranger = Client::register(&base).await.unwrap();
    let theirs = push(&stranger.token, ("content-length", "900000"), b"");
    answered_within(quick, addr, &theirs).await.assert_typed(
        404,
        ErrorCode::NotFound,
        "a stranger's push",
    );

    // The rate limit (5 a minute; the four refused pushes above counted, the stranger's
    // is his own): exhaust it, then a declared 900 KB push is refused before its body is
    // sent.
    let mut ok = 0;
    for _ in 0..3 {
        match c.push(space, &[random_blob(10)]).await {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::RateLimited)),
        }
    }
    assert!((1..3).contains(&ok), "{ok} pushes got through");
    let mine = push(&c.token, ("content-length", "900000"), b"");
    let limited = answered_within(quick, addr, &mine).await;
    limited.assert_typed(429, ErrorCode::RateLimited, "a rate-limited push");
    assert!(limited.headers.contains_key("retry-after"));

    // Nothing but the accepted pushes was stored.
    assert_eq!(c.space(space).await.unwrap().head, ok);
}

/// A connection that moves no byte for `--idle-timeout-secs` is closed, even before its
/// header timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let relay = RelayProcess::temp_flags("--idle-timeout-secs 1 --header-read-timeout-secs 30");
    let addr = relay.addr();
    let t = Instant::now();
    let mut silent = TcpStream::connect(addr).await.unwrap();
    assert!(
        read_to_close(&mut silent, Duration::from_secs(10))
            .await
            .is_empty()
    );
    let closed = t.elapsed();
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_secs(5),
        "closed after {closed:?}"
    );
    // After a request, an idle keep-alive connection goes the same way.
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nhost: relay\r\n\r\n")
        .await
        .unwrap();
    let t = Instant::now();
    let raw = read_to_close(&mut s, Duration::from_secs(10)).await;
    assert_eq!(Answer::parse(&raw).unwrap().status, 200);
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

/// The close frame that ends a live connection: (code, reason).
async fn close_of(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> (Vec<ServerFrame>, Option<(u16, String)>) {
    let mut frames = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => frames.push(duet_proto::from_cbor(&b).unwrap()),
            Ok(Some(Ok(Message::Close(f)))) => {
                return (
                    frames,
                    f.map(|f| (u16::from(f.code), f.reason.as_str().to_string())),
                );
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame, got {other:?} after {frames:?}"),
        }
    }
}

async fn live_socket(
    base: &str,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let (mut ws, _) = tokio_tungstenite::connect_async(live_url(base))
        .await
        .unwrap();
    ws.send(Message::binary(duet_proto::to_cbor(&ClientFrame::Auth {
        token: token.to_string(),
    })))
    .await
    .unwrap();
    ws
}

/// Live connections end with a close frame: 1008 `unauthorized` for a bad token, 1008
/// `device_revoked` when the device is revoked, 1001 `unavailable` when the relay shuts
/// down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_channels_close_with_a_code() {
    let mut relay = RelayProcess::temp();
    let base = relay.url();
    let a = Client::register(&base).await.unwrap();

    let mut ws = live_socket(&base, "duet_not-a-token").await;
    let (frames, close) = close_of(&mut ws).await;
    assert!(matches!(
        frames.as_slice(),
        [ServerFrame::Error {
            code: ErrorCode::Unauthorized,
            ..
        }]
    ));
    assert_eq!(close, Some((1008, "unauthorized".into())));

    let phone = Client::register(&base).await.unwrap();
    a.link(&phone).await.unwrap();
    let mut ws = live_socket(&base, &phone.token).await;
    assert!(matches!(
        ws.next().await,
        Some(Ok(Message::Binary(b))) if matches!(duet_proto::from_cbor(&b), Ok(ServerFrame::Ready { .. }))
    ));
    a.revoke(phone.device_id).await.unwrap();
    let (_, close) = close_of(&mut ws).await;
    assert_eq!(close, Some((1008, "device_revoked".into())));

    let mut ws = live_socket(&base, &a.token).await;
    assert!(matches!(ws.next().await, Some(Ok(Message::Binary(_)))));
    let status = relay
        .terminate(Duration::from_secs(10))
        .expect("the relay exits on SIGTERM");
    assert!(status.success());
    let (_, close) = close_of(&mut ws).await;
    assert_eq!(close, Some((1001, "unavailable".into())));
}
