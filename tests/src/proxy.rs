//! A TCP proxy on 127.0.0.1 in front of a relay: it counts the bytes going each way (as they
//! pass, not when a connection ends) and can keep a copy of everything it forwarded. The
//! sync tests use it to look at the traffic for plaintext; the sync benchmark to measure
//! bytes on the wire. [`FaultyProxy`] is a bad network instead: cuts, delays, resets,
//! refused connections and outages, for the flaky-link tests.
//!
//! ```no_run
//! # async fn demo(relay: std::net::SocketAddr) {
//! let proxy = duet_e2e::proxy::TcpProxy::start(relay, false).await;
//! // point clients at proxy.url() ...
//! let (up, down) = proxy.bytes();
//! # let _ = (up, down); }
//! ```

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Default)]
struct Tap {
    bytes: AtomicU64,
    /// A copy of every byte, when capturing.
    copy: Option<Mutex<Vec<u8>>>,
}

impl Tap {
    fn new(capture: bool) -> Tap {
        Tap {
            bytes: AtomicU64::new(0),
            copy: capture.then(|| Mutex::new(Vec::new())),
        }
    }

    fn saw(&self, b: &[u8]) {
        self.bytes.fetch_add(b.len() as u64, Ordering::Relaxed);
        if let Some(c) = &self.copy {
            c.lock()
                .unwrap_or_else(|p| p.into_inner())
                .extend_from_slice(b);
        }
    }

    fn take(&self) -> Vec<u8> {
        match &self.copy {
            Some(c) => c.lock().unwrap_or_else(|p| p.into_inner()).clone(),
            None => Vec::new(),
        }
    }
}

/// A stream that reports what is read from it to a tap.
struct Tapped {
    inner: TcpStream,
    tap: Arc<Tap>,
}

impl AsyncRead for Tapped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &r {
            self.tap.saw(&buf.filled()[before..]);
        }
        r
    }
}

impl AsyncWrite for Tapped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A listener on a free port of 127.0.0.1, and its address; `what` names it in a panic.
pub(crate) async fn listen_on_loopback(what: &str) -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap_or_else(|e| panic!("binding the {what}: {e}"));
    let addr = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("{what} address: {e}"));
    (listener, addr)
}

/// A running proxy; stops accepting when dropped (open connections end with their peers).
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    up: Arc<Tap>,
    down: Arc<Tap>,
    accept: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listen on a free port of 127.0.0.1 and forward every connection to `upstream`.
    /// With `capture`, keep a copy of all the bytes (for [`TcpProxy::captured`]).
    pub async fn start(upstream: SocketAddr, capture: bool) -> TcpProxy {
        let (listener, addr) = listen_on_loopback("proxy").await;
        let up = Arc::new(Tap::new(capture));
        let down = Arc::new(Tap::new(capture));
        let (u, d) = (up.clone(), down.clone());
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (u, d) = (u.clone(), d.clone());
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return; // the relay is down: the client sees the connection close
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let mut client = Tapped {
                        inner: client,
                        tap: u,
                    };
                    let mut server = Tapped {
                        inner: server,
                        tap: d,
                    };
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        TcpProxy {
            addr,
            up,
            down,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes forwarded so far: (client → relay, relay → client).
    pub fn bytes(&self) -> (u64, u64) {
        (
            self.up.bytes.load(Ordering::Relaxed),
            self.down.bytes.load(Ordering::Relaxed),
        )
    }

    /// Everything forwarded so far when capturing: (client → relay, relay → client).
    pub fn captured(&self) -> (Vec<u8>, Vec<u8>) {
        (self.up.take(), self.down.take())
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// What a [`FaultyProxy`] does to the connections it carries. Every random choice comes
/// from one seeded generator, so a failing run can be replayed with its seed.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Cut each connection once it has carried a random number of bytes (counted both ways)
    /// in this range; never before it carried anything. `None`: no cuts.
    pub cut_after: Option<(u64, u64)>,
    /// Hold each chunk (up to 4 KiB) for a random delay in this range, in milliseconds.
    pub delay_ms: (u64, u64),
    /// Of the cuts, this share end with a reset (RST) instead of a clean close (FIN).
    pub reset_share: f64,
    /// This share of new connections is reset at once, before a byte goes through.
    pub refuse_share: f64,
    pub seed: u64,
}

impl Faults {
    /// Clean cuts after a random `cut_after` bytes, nothing else.
    pub fn cuts(cut_after: (u64, u64)) -> Faults {
        Faults {
            cut_after: Some(cut_after),
            delay_ms: (0, 0),
            reset_share: 0.0,
            refuse_share: 0.0,
            seed: rand::random(),
        }
    }

    /// No faults at all (until [`FaultyProxy::set_down`]).
    pub fn none() -> Faults {
        Faults {
            cut_after: None,
            ..Faults::cuts((0, 0))
        }
    }
}

/// One connection's lot, drawn when it is accepted.
#[derive(Debug, Clone, Copy)]
struct Lot {
    allowance: u64,
    reset: bool,
    refuse: bool,
    seed: u64,
}

/// A proxy that behaves like a train's network (see [`Faults`]): cuts after random byte
/// counts, delays, resets, refused connections; and, on demand, the link going down
/// altogether ([`FaultyProxy::set_down`]: every open connection reset, new ones refused).
#[derive(Debug)]
pub struct FaultyProxy {
    addr: SocketAddr,
    cuts: Arc<AtomicU64>,
    down: tokio::sync::watch::Sender<bool>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultyProxy {
    /// Listen on a free port of 127.0.0.1 and forward to `upstream` with `faults`.
    pub async fn start(upstream: SocketAddr, faults: Faults) -> FaultyProxy {
        use rand::{Rng, SeedableRng};

        let (listener, addr) = listen_on_loopback("proxy").await;
        let cuts = Arc::new(AtomicU64::new(0));
        let (down, down_rx) = tokio::sync::watch::channel(false);
        let counted = cuts.clone();
        let accept = tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(faults.seed);
            while let Ok((client, _)) = listener.accept().await {
                let lot = Lot {
                    allowance: faults
                        .cut_after
                        .map_or(u64::MAX, |(lo, hi)| rng.gen_range(lo..=hi)),
                    reset: rng.gen_bool(faults.reset_share.clamp(0.0, 1.0)),
                    refuse: rng.gen_bool(faults.refuse_share.clamp(0.0, 1.0)),
                    seed: rng.r#gen(),
                };
                let (cuts, down) = (counted.clone(), down_rx.clone());
                tokio::spawn(connection(
                    client,
                    upstream,
                    lot,
                    faults.delay_ms,
                    cuts,
                    down,
                ));
            }
        });
        FaultyProxy {
            addr,
            cuts,
            down,
            accept,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections cut so far (by their byte allowance or by the link going down).
    pub fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }

    /// Take the link down (every open connection is reset, new ones are refused) or bring
    /// it back up.
    pub fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

impl Drop for FaultyProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Reset a socket: close it with RST (linger zero) rather than FIN.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(std::time::Duration::ZERO));
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    lot: Lot,
    delay_ms: (u64, u64),
    cuts: Arc<AtomicU64>,
    mut down: tokio::sync::watch::Receiver<bool>,
) {
    if lot.refuse || *down.borrow() {
        reset(&client);
        return;
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return; // the relay is down: the client sees the connection close
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let left = AtomicU64::new(lot.allowance);
    let cut = tokio::select! {
        c = pump(&mut cr, &mut sw, &left, delay_ms, lot.seed) => c,
        c = pump(&mut sr, &mut cw, &left, delay_ms, lot.seed ^ 1) => c,
        _ = down.wait_for(|d| *d) => true,
    };
    if cut {
        cuts.fetch_add(1, Ordering::Relaxed);
        if lot.reset || *down.borrow() {
            reset(cw.as_ref());
            reset(sw.as_ref());
        }
    }
    // Dropping the halves closes both sockets.
}

/// Forward one way, each chunk after its delay, until the allowance shared by both ways
/// runs out; `true` when cut.
async fn pump(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    left: &AtomicU64,
    delay_ms: (u64, u64),
    seed: u64,
) -> bool {
    use rand::{Rng, SeedableRng};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if delay_ms.1 > 0 {
            let ms = rng.gen_range(delay_ms.0..=delay_ms.1);
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let before = left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |l| {
                Some(l.saturating_sub(n as u64))
            })
            .unwrap_or(0);
        let pass = (before as usize).min(n);
        if to.write_all(&buf[..pass]).await.is_err() {
            return false;
        }
        if pass < n {
            return true;
        }
    }
}
