//! A connection's socket wrapper: idle timeout, request tracking, and the place hyper's empty error answers are swapped for typed ones.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// The connection's socket
// ---------------------------------------------------------------------------------------

/// What the service and the socket of one connection share.
#[derive(Debug, Default)]
pub(super) struct ConnShared {
    /// Requests being handled or whose response body is still being written.
    in_flight: AtomicUsize,
    /// Switched to another protocol (a WebSocket): hyper writes nothing of its own any more.
    pub(super) upgraded: AtomicBool,
}

/// A connection's socket: closes it after `idle` without a byte moving either way, holds
/// its [`Slot`] for as long as the socket lives, and replaces hyper's empty error answers
/// with typed ones.
pub struct ConnIo {
    inner: TcpStream,
    _slot: Slot,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
    pub(super) shared: Arc<ConnShared>,
    /// A typed answer being written in place of hyper's, and how much of it is out.
    out: Option<(Vec<u8>, usize)>,
}

impl std::fmt::Debug for ConnIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnIo").field("idle", &self.idle).finish()
    }
}

impl ConnIo {
    pub(super) fn new(
        inner: TcpStream,
        slot: Slot,
        idle: Duration,
        shared: Arc<ConnShared>,
    ) -> ConnIo {
        let now = Instant::now();
        ConnIo {
            inner,
            _slot: slot,
            idle,
            last: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
            shared,
            out: None,
        }
    }

    fn touch(&mut self) {
        self.last = Instant::now();
    }

    /// Called when the socket can't make progress: `Ready(err)` once the connection has
    /// been idle too long, otherwise `Pending` with the idle timer armed.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        loop {
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let deadline = self.last + self.idle;
            if Instant::now() >= deadline {
                return Poll::Ready(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle too long",
                ));
            }
            self.timer.as_mut().reset(deadline);
        }
    }

    fn may_rewrite(&self) -> bool {
        !self.shared.upgraded.load(Ordering::Acquire)
            && self.shared.in_flight.load(Ordering::Acquire) == 0
    }

    /// Take the `taken` bytes of hyper's answer and send `typed` in their place: out now, or
    /// at the next flush.
    fn answer_typed(
        &mut self,
        cx: &mut Context<'_>,
        typed: Vec<u8>,
        taken: usize,
    ) -> Poll<io::Result<usize>> {
        self.out = Some((typed, 0));
        if let Poll::Ready(Err(e)) = self.poll_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(taken))
    }

    /// What a write to the socket came to: bytes out count as activity, and a write that
    /// can't go on waits no longer than the idle timeout.
    fn wrote(
        &mut self,
        cx: &mut Context<'_>,
        written: Poll<io::Result<usize>>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.touch();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.poll_idle(cx).map(Err),
        }
    }

    /// Write out the pending typed answer, if any.
    fn poll_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, done)) = self.out.as_mut() {
            if *done >= bytes.len() {
                self.out = None;
                break;
            }
            match Pin::new(&mut self.inner).poll_write(cx, &bytes[*done..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    *done += n;
                    self.touch();
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return self.poll_idle(cx).map(Err),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.poll_idle(cx).map(Err),
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_out(cx))?;
        if this.may_rewrite()
            && let Some(typed) = typed_hyper_error(buf)
        {
            return this.answer_typed(cx, typed, buf.len());
        }
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.wrote(cx, written)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_out(cx))?;
        if this.may_rewrite() {
            let total: usize = bufs.iter().map(|b| b.len()).sum();
            if total <= 512 {
                let joined: Vec<u8> = bufs.iter().flat_map(|b| b.iter().copied()).collect();
                if let Some(typed) = typed_hyper_error(&joined) {
                    return this.answer_typed(cx, typed, total);
                }
            }
        }
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_out(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Counts a request in flight until its response body has been written (or dropped).
pub(super) struct InFlight(Arc<ConnShared>);

impl InFlight {
    pub(super) fn new(shared: Arc<ConnShared>) -> InFlight {
        shared.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(shared)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted in flight while hyper writes it.
pub(super) struct TrackedBody {
    pub(super) inner: Body,
    pub(super) _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
