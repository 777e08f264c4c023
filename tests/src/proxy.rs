//! A TCP proxy on 127.0.0.1 in front of a relay: it counts the bytes going each way (as they
//! pass, not when a connection ends) and can keep a copy of everything it forwarded. The
//! sync tests use it to look at the traffic for plaintext; the sync benchmark to measure
//! bytes on the wire.
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
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("binding the proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy address: {e}"));
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

/// A proxy that behaves like a train's network: every connection is cut (both sockets
/// closed) once it has carried a random number of bytes, counted both ways, between
/// `cut_after.0` and `cut_after.1`. Connections are never cut before they carried anything.
#[derive(Debug)]
pub struct CuttingProxy {
    addr: SocketAddr,
    cuts: Arc<AtomicU64>,
    accept: tokio::task::JoinHandle<()>,
}

impl CuttingProxy {
    /// Listen on a free port of 127.0.0.1 and forward to `upstream`, cutting each
    /// connection after a random `cut_after.0..=cut_after.1` bytes.
    pub async fn start(upstream: SocketAddr, cut_after: (u64, u64)) -> CuttingProxy {
        use rand::Rng;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("binding the proxy: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy address: {e}"));
        let cuts = Arc::new(AtomicU64::new(0));
        let counted = cuts.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let cuts = counted.clone();
                let allowance = rand::thread_rng().gen_range(cut_after.0..=cut_after.1);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (mut cr, mut cw) = client.into_split();
                    let (mut sr, mut sw) = server.into_split();
                    let left = Arc::new(AtomicU64::new(allowance));
                    // Forward one way until the shared allowance runs out; `true` when cut.
                    async fn pump(
                        from: &mut tokio::net::tcp::OwnedReadHalf,
                        to: &mut tokio::net::tcp::OwnedWriteHalf,
                        left: &AtomicU64,
                    ) -> bool {
                        let mut buf = vec![0u8; 4096];
                        loop {
                            let n = match from.read(&mut buf).await {
                                Ok(0) | Err(_) => return false,
                                Ok(n) => n,
                            };
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
                    let cut = tokio::select! {
                        c = pump(&mut cr, &mut sw, &left) => c,
                        c = pump(&mut sr, &mut cw, &left) => c,
                    };
                    if cut {
                        cuts.fetch_add(1, Ordering::Relaxed);
                    }
                    // Dropping the halves closes both sockets.
                });
            }
        });
        CuttingProxy { addr, cuts, accept }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections cut so far.
    pub fn cuts(&self) -> u64 {
        self.cuts.load(Ordering::Relaxed)
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
