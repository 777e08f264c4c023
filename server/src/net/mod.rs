//! The connection layer: accepting TCP connections, capping them (in all and per client
//! address), timing them out (headers, idleness), serving HTTP/1.1 on them with hyper, and
//! shutting down gracefully. `axum::serve` offers none of the caps and timeouts, so the relay
//! runs its own accept loop.
//!
//! Every refusal that can still be answered is a typed JSON error `{code, message}`:
//!
//! - a connection past a cap gets `503 too_many_connections` (with `Retry-After`) and is closed;
//! - hyper's own answers to a request it can't parse — `400` (a bad request line or header),
//!   `414` (a request line too long) and `431` (headers past `--max-header-bytes`) — are sent
//!   with empty bodies by hyper; [`ConnIo`] recognises such an answer as it is written, on a
//!   connection with no request in flight and never upgraded, and writes the typed one
//!   (`malformed_request`, `uri_too_long`, `headers_too_large`) in its place.
//!
//! What is not answered with a typed error, and why:
//!
//! - a connection that doesn't finish its headers within `--header-read-timeout-secs`, or
//!   moves no byte for `--idle-timeout-secs`, is closed: its client isn't sending (or
//!   reading), so an answer would only hold the socket longer;
//! - a connection accepted while [`MAX_REFUSALS`] refusals are already being answered is
//!   closed at once (answering a flood would be the flood's cost to us);
//! - an HTTP/2 connection preface is closed by hyper (the relay speaks HTTP/1.1 only);
//! - hyper's empty answer stays as it is when it doesn't go out as a write of its own (only
//!   possible with pipelined requests, where it follows another response in one write);
//! - while the process is out of file descriptors, a connection waits in the listen backlog
//!   (the connection cap is kept under the open-file limit so that this doesn't happen).

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use duet_proto::{ErrorBody, ErrorCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::state::AppState;

mod caps;
mod client_addr;
mod conn_io;
mod typed;

pub use caps::*;
pub use client_addr::*;
pub use conn_io::*;
pub use typed::*;

/// Open connections in all, by default (lowered to fit the open-file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Open connections from one client address, by default.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;
/// Largest request head, by default.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 32 * 1024;
/// Bytes of large request bodies held at once, by default: eight 8 MiB pushes.
pub const DEFAULT_BODY_MEMORY_BYTES: usize = 64 * 1024 * 1024;
/// hyper's smallest read buffer, which is also the smallest head limit it takes.
const MIN_HEADER_BYTES: usize = 8192;
/// Open files kept for everything but client connections (databases, logs, the listener).
const RESERVED_FDS: u64 = 128;
/// At most this many refused connections are being answered at once; past it a refused
/// connection is closed without an answer.
pub const MAX_REFUSALS: usize = 64;
/// How long a refused connection is given to take its answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);
/// How long shutdown waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Retry-After on a connection refused for a cap.
const RETRY_CONNECT_SECS: u64 = 1;

/// The connection layer's settings (each a flag of `duet-relay`).
#[derive(Debug, Clone)]
pub struct NetConfig {
    pub max_connections: usize,
    /// 0: no per-address cap.
    pub max_connections_per_ip: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_header_bytes: usize,
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            trusted_proxies: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The accept loop
// ---------------------------------------------------------------------------------------

/// Raise the soft open-file limit to the hard one and return how many connections fit
/// under it (at most `wanted`).
pub fn connections_that_fit(wanted: usize) -> usize {
    let soft = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the open-file limit");
            return wanted;
        }
    };
    let fit = soft.saturating_sub(RESERVED_FDS).max(1);
    if (wanted as u64) > fit {
        tracing::warn!(
            wanted,
            open_file_limit = soft,
            allowed = fit,
            "--max-connections lowered to fit the open-file limit"
        );
        fit as usize
    } else {
        wanted
    }
}

/// Serve `app` on `listener` until `shutdown` resolves; then stop accepting, let open
/// requests finish (idle keep-alive connections close at once) and wait, at most
/// `SHUTDOWN_GRACE`, for every connection — live channels included — to end.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    state: Arc<AppState>,
    config: NetConfig,
    shutdown: impl std::future::Future<Output = ()>,
) -> io::Result<()> {
    let max_total = connections_that_fit(config.max_connections.max(1));
    let tracker = Tracker::new(
        max_total,
        config.max_connections_per_ip,
        Some(state.clone()),
    );
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_header_size(config.max_header_bytes)
        // A head still arriving can't outgrow the limit either.
        .max_buf_size(config.max_header_bytes.max(MIN_HEADER_BYTES));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors (or a connection that died in the backlog):
                    // don't spin; the caps keep this rare.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let exempt = trusted(&config.trusted_proxies, peer.ip());
        match tracker.admit(peer.ip().to_canonical(), exempt) {
            Ok(slot) => {
                let io = ConnIo::new(stream, slot, config.idle_timeout, Arc::default());
                tokio::spawn(serve_conn(
                    io,
                    peer,
                    http.clone(),
                    app.clone(),
                    stop_rx.clone(),
                ));
            }
            Err(full) => {
                let reason = match full {
                    Full::Total => "total",
                    Full::PerIp => "per_ip",
                };
                state
                    .metrics
                    .connections_refused
                    .get_or_create(&crate::metrics::ReasonLabel {
                        reason: reason.into(),
                    })
                    .inc();
                tracing::debug!(%peer, reason, "connection refused");
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream, full).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while tracker.open() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if tracker.open() > 0 {
        tracing::warn!(open = tracker.open(), "connections still open at shutdown");
    }
    Ok(())
}

/// Answer a connection past a cap with a typed 503, then close it.
async fn refuse(mut stream: TcpStream, full: Full) {
    let message = match full {
        Full::Total => "the relay holds as many connections as it allows; retry shortly",
        Full::PerIp => "too many connections from this address; retry shortly",
    };
    let answer = typed_response(
        ErrorCode::TooManyConnections,
        message,
        Some(RETRY_CONNECT_SECS),
    );
    let _ = tokio::time::timeout(REFUSAL_LINGER, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        // Take what the client sent, so closing doesn't reset the answer away.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

async fn serve_conn(
    io: ConnIo,
    peer: SocketAddr,
    http: hyper::server::conn::http1::Builder,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let shared = io.shared.clone();
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(PeerAddr(peer));
        let in_flight = InFlight::new(shared.clone());
        let shared = shared.clone();
        let app = app.clone();
        async move {
            let resp: Response<Body> = match app.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
                shared.upgraded.store(true, Ordering::Release);
            }
            Ok::<_, Infallible>(resp.map(|inner| {
                Body::new(TrackedBody {
                    inner,
                    _in_flight: in_flight,
                })
            }))
        }
    });
    let conn = http
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = async { drop(stop.wait_for(|s| *s).await) } => {
            // Finish what is in flight; an idle keep-alive connection closes now.
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_contain_their_addresses() {
        let net: IpNet = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.200.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        assert!(
            net.contains(ip("::ffff:10.1.0.9")),
            "v4-mapped counts as v4"
        );
        let one: IpNet = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        let v6: IpNet = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        assert!("10.0.0.0/33".parse::<IpNet>().is_err());
        assert!("proxy.internal".parse::<IpNet>().is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_static("198.51.100.1, 203.0.113.5"),
        );
        h.append("x-forwarded-for", HeaderValue::from_static("10.0.0.3"));
        // From a stranger: the header is ignored.
        assert_eq!(client_ip(ip("192.0.2.1"), &h, &proxies), ip("192.0.2.1"));
        // From the proxy: the rightmost hop that isn't a proxy (the forged left part is
        // ignored).
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("203.0.113.5"));
        // No header: the proxy itself.
        assert_eq!(
            client_ip(ip("10.0.0.2"), &HeaderMap::new(), &proxies),
            ip("10.0.0.2")
        );
        // Ports are allowed; garbage stops the walk.
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("[2001:db8::1]:443"),
        );
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("2001:db8::1"));
        h.insert("x-forwarded-for", HeaderValue::from_static("unknown"));
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &proxies), ip("10.0.0.2"));
    }

    #[test]
    fn only_hypers_own_empty_answers_are_replaced() {
        let hyper431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Jul 2025 10:00:00 GMT\r\n\r\n";
        let typed = typed_hyper_error(hyper431).unwrap();
        let text = String::from_utf8(typed).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "));
        assert!(text.ends_with(r#"{"code":"headers_too_large","message":"the request's headers are larger than this relay accepts"}"#));
        assert!(
            typed_hyper_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").is_some()
        );
        // Our own answers (they have a body and a content type) and anything else stay.
        assert!(typed_hyper_error(b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(
            typed_hyper_error(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n").is_none()
        );
        assert!(typed_hyper_error(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(
            typed_hyper_error(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\nx"
            )
            .is_none()
        );
    }

    #[test]
    fn caps_count_per_address_and_in_all() {
        let t = Tracker::new(3, 2, None);
        let a = ip("192.0.2.1");
        let b = ip("192.0.2.2");
        let a1 = t.admit(a, false).unwrap();
        let _a2 = t.admit(a, false).unwrap();
        assert_eq!(t.admit(a, false).unwrap_err(), Full::PerIp);
        let _b1 = t.admit(b, false).unwrap();
        assert_eq!(t.admit(b, false).unwrap_err(), Full::Total);
        drop(a1);
        assert_eq!(t.open(), 2);
        let _a3 = t.admit(a, true).unwrap();
        assert_eq!(t.admit(b, true).unwrap_err(), Full::Total);
    }
}
