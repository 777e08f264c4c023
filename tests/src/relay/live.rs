//! The live channel: a `GET /v1/live` WebSocket as a device (or an intruder) opens it.

use std::time::Duration;

use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::{ErrorCode, LogBlob};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::http::{ClientError, transport};

/// What a live connection heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// A server frame.
    Frame(ServerFrame),
    /// The relay closed the connection (or it broke).
    Closed,
    /// Nothing within the wait.
    Timeout,
}

/// A `GET /v1/live` WebSocket.
#[derive(Debug)]
pub struct LiveConn {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// `ws://127.0.0.1:PORT/v1/live` from `http://127.0.0.1:PORT`.
pub fn live_url(base: &str) -> String {
    let rest = base.strip_prefix("http://").unwrap_or(base);
    format!("ws://{rest}/v1/live")
}

impl LiveConn {
    /// Connect without authenticating.
    pub async fn connect_raw(base: &str) -> Result<LiveConn, ClientError> {
        // Server frames are small (inline blobs are at most 8 KiB; the buffer grows for a
        // bigger one): tungstenite's default 128 KiB read buffer, zero-filled on the first
        // read, would cost 1.3 GB for the 10,000 connections of the memory benchmark.
        let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
        let (ws, _) =
            tokio_tungstenite::connect_async_with_config(live_url(base), Some(config), true)
                .await
                .map_err(transport)?;
        Ok(LiveConn { ws })
    }

    /// Connect and authenticate with `token`; returns the device id from `ready`. A refusal
    /// comes back as [`ClientError::Api`] with the error frame's code.
    pub async fn connect(base: &str, token: &str) -> Result<(LiveConn, Uuid), ClientError> {
        let mut conn = Self::connect_raw(base).await?;
        conn.send_frame(&ClientFrame::Auth {
            token: token.to_string(),
        })
        .await?;
        match conn.recv(Duration::from_secs(30)).await {
            LiveEvent::Frame(ServerFrame::Ready { device_id }) => Ok((conn, device_id)),
            LiveEvent::Frame(ServerFrame::Error { code, message }) => Err(ClientError::Api {
                status: code.http_status(),
                code,
                message,
                retry_after: None,
            }),
            other => Err(ClientError::Unexpected {
                status: 101,
                body: format!("expected ready, got {other:?}"),
            }),
        }
    }

    /// Send a client frame (CBOR, binary).
    pub async fn send_frame(&mut self, frame: &ClientFrame) -> Result<(), ClientError> {
        self.send(Message::binary(duet_proto::to_cbor(frame))).await
    }

    /// Send any WebSocket message.
    pub async fn send(&mut self, msg: Message) -> Result<(), ClientError> {
        self.ws.send(msg).await.map_err(transport)
    }

    /// The next frame, which must be a `new` announcement arriving within `within`:
    /// (space, seq, the blob when it came inline). Anything else is a test failure.
    pub async fn next_new(&mut self, within: Duration) -> (Uuid, u64, Option<LogBlob>) {
        match self.recv(within).await {
            LiveEvent::Frame(ServerFrame::New {
                space_id,
                seq,
                blob,
            }) => (space_id, seq, blob),
            other => panic!("expected a new frame, got {other:?}"),
        }
    }

    /// The next server frame within `within` (pings and pongs are skipped).
    pub async fn recv(&mut self, within: Duration) -> LiveEvent {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return LiveEvent::Timeout,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => {
                    return LiveEvent::Closed;
                }
                Ok(Some(Ok(Message::Binary(b)))) => {
                    return match duet_proto::from_cbor::<ServerFrame>(&b) {
                        Ok(f) => LiveEvent::Frame(f),
                        // Not a frame we know: surface it as an error frame so tests fail
                        // loudly instead of hanging.
                        Err(e) => LiveEvent::Frame(ServerFrame::Error {
                            code: ErrorCode::Internal,
                            message: format!("undecodable server frame: {e}"),
                        }),
                    };
                }
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Close politely.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}
