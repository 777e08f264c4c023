//! The live channel: one WebSocket per device. The hub fans new blobs out to the
//! connections of every member device of a space. Announcements are hints — pulling is
//! authoritative — so a connection that falls behind is closed (and reconnects and pulls)
//! rather than buffered without bound.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::{IntoResponse, Response};
use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::{ErrorCode, LogBlob};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::state::AppState;
use crate::storage::NodeEvent;

fn new_frame(space: Uuid, seq: u64, blob: Option<LogBlob>) -> Bytes {
    Bytes::from(duet_proto::to_cbor(&ServerFrame::New {
        space_id: space,
        seq,
        blob,
    }))
}

/// Frames queued per connection before it counts as fallen behind.
const QUEUE: usize = 256;
const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
const PING_EVERY: Duration = Duration::from_secs(25);
/// Initial read buffer per connection. Clients send only an auth frame and pongs, so a
/// small buffer (it grows for a bigger frame, up to the 64 KiB message limit) — tungstenite's
/// default of 128 KiB is zero-filled on the first read, which made 10,000 idle connections
/// cost 1.3 GB of resident memory.
const READ_BUFFER: usize = 4 * 1024;

/// How long a closing connection waits for the client's close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(1);

/// Why the hub let a connection go: the close frame says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Why {
    /// Not said (the connection ended on its own side).
    Unknown = 0,
    /// Its device was revoked.
    Revoked = 1,
    /// Its queue was full: it fell behind.
    Behind = 2,
    /// The event feed had a gap: everyone starts over.
    Restart = 3,
    /// The relay is shutting down.
    Shutdown = 4,
}

impl Why {
    fn of(v: u8) -> Why {
        match v {
            1 => Why::Revoked,
            2 => Why::Behind,
            3 => Why::Restart,
            4 => Why::Shutdown,
            _ => Why::Unknown,
        }
    }

    /// The close frame's code and reason (a stable error code string).
    fn close(self) -> (u16, ErrorCode) {
        match self {
            Why::Revoked => (close_code::POLICY, ErrorCode::DeviceRevoked),
            Why::Behind => (close_code::AGAIN, ErrorCode::Unavailable),
            Why::Restart => (close_code::RESTART, ErrorCode::Unavailable),
            Why::Shutdown | Why::Unknown => (close_code::AWAY, ErrorCode::Unavailable),
        }
    }
}

struct Conn {
    device: Uuid,
    tx: mpsc::Sender<Bytes>,
    /// The spaces it hears (a handful), so leaving touches only those.
    spaces: Vec<Uuid>,
    /// Set before the hub drops `tx`.
    why: Arc<AtomicU8>,
}

impl Conn {
    fn let_go(&self, why: Why) {
        self.why.store(why as u8, Ordering::Release);
    }
}

#[derive(Default)]
struct HubInner {
    next: u64,
    conns: HashMap<u64, Conn>,
    by_space: HashMap<Uuid, HashSet<u64>>,
    by_device: HashMap<Uuid, HashSet<u64>>,
    closed: bool,
}

impl HubInner {
    fn device_conns(&self, device: Uuid) -> Vec<u64> {
        self.by_device
            .get(&device)
            .into_iter()
            .flatten()
            .copied()
            .collect()
    }

    fn join(&mut self, space: Uuid, id: u64) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        if !c.spaces.contains(&space) {
            c.spaces.push(space);
        }
        self.by_space.entry(space).or_default().insert(id);
    }

    fn leave(&mut self, space: Uuid, id: u64) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.spaces.retain(|s| *s != space);
        }
        if let Some(set) = self.by_space.get_mut(&space) {
            set.remove(&id);
            if set.is_empty() {
                self.by_space.remove(&space);
            }
        }
    }
}

#[derive(Default)]
pub struct Hub {
    inner: Mutex<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.connection_count())
            .finish()
    }
}

impl Hub {
    fn lock(&self) -> std::sync::MutexGuard<'_, HubInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect(&self, device: Uuid) -> Option<(u64, mpsc::Receiver<Bytes>, Arc<AtomicU8>)> {
        let mut h = self.lock();
        if h.closed {
            return None;
        }
        h.next += 1;
        let id = h.next;
        let (tx, rx) = mpsc::channel(QUEUE);
        let why = Arc::new(AtomicU8::new(Why::Unknown as u8));
        h.conns.insert(
            id,
            Conn {
                device,
                tx,
                spaces: Vec::new(),
                why: why.clone(),
            },
        );
        h.by_device.entry(device).or_default().insert(id);
        Some((id, rx, why))
    }

    fn disconnect(&self, id: u64) {
        self.let_go(id, Why::Unknown);
    }

    /// Drop a connection, telling it why (its pump sees its queue end).
    fn let_go(&self, id: u64, why: Why) {
        let mut h = self.lock();
        let Some(c) = h.conns.remove(&id) else {
            return;
        };
        c.let_go(why);
        if let Some(set) = h.by_device.get_mut(&c.device) {
            set.remove(&id);
            if set.is_empty() {
                h.by_device.remove(&c.device);
            }
        }
        for s in &c.spaces {
            h.leave(*s, id);
        }
    }

    /// A new connection's spaces.
    fn add_spaces(&self, id: u64, spaces: impl IntoIterator<Item = Uuid>) {
        let mut h = self.lock();
        for s in spaces {
            h.join(s, id);
        }
    }

    /// A device joined a space: its open connections start hearing about it.
    pub fn subscribe(&self, device: Uuid, space: Uuid) {
        let mut h = self.lock();
        for id in h.device_conns(device) {
            h.join(space, id);
        }
    }

    /// A device left a space: its connections stop hearing about it.
    pub fn unsubscribe(&self, device: Uuid, space: Uuid) {
        let mut h = self.lock();
        for id in h.device_conns(device) {
            h.leave(space, id);
        }
    }

    /// Close every connection of a device (it was revoked).
    pub fn drop_device(&self, device: Uuid) {
        let ids: Vec<u64> = self
            .lock()
            .by_device
            .get(&device)
            .into_iter()
            .flatten()
            .copied()
            .collect();
        for id in ids {
            self.let_go(id, Why::Revoked);
        }
    }

    /// Close everything (shutdown); no new connections are accepted.
    pub fn close_all(&self) {
        let mut h = self.lock();
        h.closed = true;
        for c in h.conns.values() {
            c.let_go(Why::Shutdown);
        }
        h.conns.clear();
        h.by_space.clear();
        h.by_device.clear();
    }

    /// Announce new blobs of a space to every member connection except the pusher's.
    /// Returns (frames sent, connections dropped for falling behind).
    pub fn publish(
        &self,
        space: Uuid,
        from: Uuid,
        blobs: &[LogBlob],
        inline_max: usize,
    ) -> (u64, u64) {
        let frames = blobs
            .iter()
            .map(|b| {
                new_frame(
                    space,
                    b.seq,
                    (b.data.len() <= inline_max).then(|| b.clone()),
                )
            })
            .collect();
        self.send(space, from, frames)
    }

    /// Act on what a request on another relay node did (multi-node deployments).
    pub fn apply(&self, event: NodeEvent) -> (u64, u64) {
        match event {
            NodeEvent::Appended {
                space,
                from,
                seqs,
                inline,
            } => {
                // Blobs that came with the event go inline (they are the first ones, in
                // order); for the rest, announcing the last number is enough: a client
                // pulls up to it.
                let mut frames: Vec<Bytes> = inline
                    .iter()
                    .map(|b| new_frame(space, b.seq, Some(b.clone())))
                    .collect();
                if let Some(&last) = seqs.last()
                    && inline.last().map(|b| b.seq) != Some(last)
                {
                    frames.push(new_frame(space, last, None));
                }
                return self.send(space, from, frames);
            }
            NodeEvent::Joined { space, device } => self.subscribe(device, space),
            NodeEvent::Left { space, device } => self.unsubscribe(device, space),
            NodeEvent::Revoked { device } => self.drop_device(device),
            NodeEvent::Gap => self.restart_all(),
        }
        (0, 0)
    }

    /// Close every connection but keep accepting: their clients reconnect and pull, so
    /// nothing missed while the event feed was down stays missed.
    fn restart_all(&self) {
        let mut h = self.lock();
        // Dropping each sender ends its connection's pump, which tells the client.
        for c in h.conns.values() {
            c.let_go(Why::Restart);
        }
        h.conns.clear();
        h.by_space.clear();
        h.by_device.clear();
    }

    fn send(&self, space: Uuid, from: Uuid, frames: Vec<Bytes>) -> (u64, u64) {
        let mut behind = Vec::new();
        let mut sent = 0;
        {
            let h = self.lock();
            let Some(ids) = h.by_space.get(&space) else {
                return (0, 0);
            };
            for id in ids {
                let Some(c) = h.conns.get(id) else { continue };
                if c.device == from {
                    continue;
                }
                for f in &frames {
                    if c.tx.try_send(f.clone()).is_err() {
                        behind.push(*id);
                        break;
                    }
                    sent += 1;
                }
            }
        }
        let dropped = behind.len() as u64;
        for id in behind {
            self.let_go(id, Why::Behind);
        }
        (sent, dropped)
    }

    pub fn connection_count(&self) -> usize {
        self.lock().conns.len()
    }
}

/// `GET /v1/live`: upgrade, then authenticate with the first frame. A request that is not
/// a WebSocket upgrade gets a typed error, not axum's plain-text one.
pub async fn live(
    State(state): State<Arc<AppState>>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    match ws {
        Ok(ws) => ws
            .read_buffer_size(READ_BUFFER)
            .max_message_size(64 * 1024)
            .on_upgrade(move |socket| serve(state, socket)),
        Err(rejection) => crate::extract::typed_rejection(rejection).into_response(),
    }
}

fn frame(f: &ServerFrame) -> Message {
    Message::Binary(Bytes::from(duet_proto::to_cbor(f)))
}

/// A close frame: an RFC 6455 code, and a stable error code as the reason.
fn close_frame(code: u16, reason: ErrorCode) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from_static(reason.as_str()),
    }))
}

/// Send a close frame and give the client a moment to answer it, so the frame isn't lost
/// to a reset.
async fn close_with(
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    incoming: &mut futures_util::stream::SplitStream<WebSocket>,
    code: u16,
    reason: ErrorCode,
) {
    if tx.send(close_frame(code, reason)).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(m)) = incoming.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

async fn serve(state: Arc<AppState>, socket: WebSocket) {
    let (mut tx, mut incoming) = socket.split();
    let device = match authenticate(&state, &mut incoming).await {
        Ok(d) => d,
        Err((code, message)) => {
            let _ = tx.send(frame(&ServerFrame::Error { code, message })).await;
            close_with(&mut tx, &mut incoming, close_code::POLICY, code).await;
            return;
        }
    };
    // In the hub first, then read the spaces: a membership that commits in between
    // reaches this connection through `subscribe` (it finds the device), one before is in
    // the list — none falls in a gap.
    let Some((id, mut rx, why)) = state.hub.connect(device) else {
        // Shutting down.
        close_with(
            &mut tx,
            &mut incoming,
            close_code::AWAY,
            ErrorCode::Unavailable,
        )
        .await;
        return;
    };
    state.metrics.live_connections.inc();
    let mut failed = false;
    match state.store.spaces_of(device).await {
        Ok(s) => state.hub.add_spaces(id, s.into_iter().map(|s| s.space_id)),
        Err(e) => {
            tracing::error!(error = %e, "live: listing spaces failed");
            state.hub.disconnect(id);
            failed = true;
        }
    }
    tracing::debug!(%device, "live connection open");
    let ready = !failed
        && tx
            .send(frame(&ServerFrame::Ready { device_id: device }))
            .await
            .is_ok();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let end = if failed {
        End::Relay(close_code::ERROR, ErrorCode::Internal)
    } else if ready {
        pump(&state, &mut rx, &mut tx, &mut incoming, &mut ping, &why).await
    } else {
        End::Gone
    };
    if let End::Relay(code, reason) = end {
        close_with(&mut tx, &mut incoming, code, reason).await;
    }
    let _ = tx.close().await;
    state.hub.disconnect(id);
    state.metrics.live_connections.dec();
    tracing::debug!(%device, "live connection closed");
}

/// How a live connection ended.
enum End {
    /// The relay ends it: send this close code and reason.
    Relay(u16, ErrorCode),
    /// The client closed it or it broke: nothing more to say.
    Gone,
}

/// Forward hub frames to the socket until either side ends.
async fn pump(
    state: &AppState,
    rx: &mut mpsc::Receiver<Bytes>,
    tx: &mut futures_util::stream::SplitSink<WebSocket, Message>,
    incoming: &mut futures_util::stream::SplitStream<WebSocket>,
    ping: &mut tokio::time::Interval,
    why: &AtomicU8,
) -> End {
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(bytes) => {
                    if tx.send(Message::Binary(bytes)).await.is_err() { return End::Gone; }
                    state.metrics.live_frames.inc();
                }
                // The hub dropped us: revoked, fell behind, or shutting down.
                None => {
                    let _ = tx.send(frame(&ServerFrame::Error {
                        code: ErrorCode::Unavailable,
                        message: "connection closed by the relay; reconnect and pull".into(),
                    })).await;
                    let (code, reason) = Why::of(why.load(Ordering::Acquire)).close();
                    return End::Relay(code, reason);
                }
            },
            msg = incoming.next() => match msg {
                // tungstenite answers the client's close frame itself.
                Some(Ok(Message::Close(_))) | None => return End::Gone,
                // A frame past the size limit, or not WebSocket at all.
                Some(Err(_)) => return End::Relay(close_code::PROTOCOL, ErrorCode::MalformedBody),
                Some(Ok(_)) => {} // pongs and anything else: the peer is alive
            },
            _ = ping.tick() => {
                if tx.send(Message::Ping(Bytes::new())).await.is_err() { return End::Gone; }
            }
        }
    }
}

async fn authenticate(
    state: &AppState,
    incoming: &mut futures_util::stream::SplitStream<WebSocket>,
) -> Result<Uuid, (ErrorCode, String)> {
    let first = tokio::time::timeout(AUTH_TIMEOUT, incoming.next())
        .await
        .map_err(|_| (ErrorCode::Unauthorized, "no auth frame in time".to_string()))?;
    let bytes = match first {
        Some(Ok(Message::Binary(b))) => b,
        _ => {
            return Err((
                ErrorCode::Unauthorized,
                "the first frame must be auth".into(),
            ));
        }
    };
    let ClientFrame::Auth { token } = duet_proto::from_cbor::<ClientFrame>(&bytes)
        .map_err(|e| (ErrorCode::MalformedBody, e.to_string()))?;
    crate::auth::authenticate(state, &token)
        .await
        .map(|c| c.device)
        .map_err(|e| (e.code, e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(seq: u64) -> LogBlob {
        LogBlob {
            seq,
            id: vec![seq as u8],
            data: vec![1, 2, 3],
        }
    }

    #[test]
    fn the_hub_follows_memberships_and_forgets_closed_connections() {
        let hub = Hub::default();
        let (a, b, s, t) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let (a1, mut a1_rx, _) = hub.connect(a).unwrap();
        let (_b1, mut b1_rx, b1_why) = hub.connect(b).unwrap();
        hub.add_spaces(a1, [s]);
        hub.subscribe(b, s);
        hub.subscribe(b, t);
        // The pusher's own connection hears nothing; the other member hears it.
        assert_eq!(hub.publish(s, a, &[blob(1)], 1024), (1, 0));
        assert!(b1_rx.try_recv().is_ok());
        assert!(a1_rx.try_recv().is_err());
        assert_eq!(hub.publish(t, b, &[blob(1)], 1024), (0, 0));
        // Leaving a space silences it there only.
        hub.unsubscribe(b, s);
        assert_eq!(hub.publish(s, a, &[blob(2)], 1024), (0, 0));
        assert_eq!(hub.publish(t, a, &[blob(2)], 1024), (1, 0));
        // A closed connection leaves no trace in the maps.
        hub.disconnect(a1);
        {
            let h = hub.lock();
            assert!(!h.by_device.contains_key(&a));
            assert!(!h.by_space.contains_key(&s));
        }
        // A gap sends everyone away (saying why) but keeps accepting.
        hub.apply(NodeEvent::Gap);
        assert_eq!(Why::of(b1_why.load(Ordering::Acquire)), Why::Restart);
        let (_, _, b2_why) = hub.connect(b).unwrap();
        hub.drop_device(b);
        assert_eq!(Why::of(b2_why.load(Ordering::Acquire)), Why::Revoked);
        assert_eq!(hub.connection_count(), 0);
        let (_, _, a2_why) = hub.connect(a).unwrap();
        hub.close_all();
        assert_eq!(Why::of(a2_why.load(Ordering::Acquire)), Why::Shutdown);
        assert!(hub.connect(a).is_none());
    }
}
