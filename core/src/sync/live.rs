//! The live channel: a background task that keeps one WebSocket to the relay, applies what
//! partners write within milliseconds, and pushes local writes as they happen. It
//! reconnects with exponential backoff and jitter, and reports its state to listeners.

use std::sync::Arc;
use std::time::Duration;

use duet_proto::live::{ClientFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;

use super::SyncReport;
use super::client::relay_error;
use crate::engine::Duet;
use crate::error::{Error, Result};
use crate::ids::SpaceId;
use crate::store::relay as rstore;

// Where they were defined before; the engine sees them in `crate::state`.
pub use crate::state::{SyncListener, SyncState};

const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A full sync now and then, in case an announcement was missed.
const RESYNC_EVERY: Duration = Duration::from_secs(60);
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How soon after a local write the live task may again register a waiting answer share.
const ANSWERS_RETRY: Duration = Duration::from_secs(5);

/// Keeps the live task running; dropping it (or [`LiveHandle::stop`]) stops the task.
#[derive(Debug)]
#[must_use = "dropping a LiveHandle stops live sync"]
pub struct LiveHandle {
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl LiveHandle {
    /// Stop and wait for the task to end (any sync in flight is abandoned between
    /// transactions, so the store stays consistent).
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for LiveHandle {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Duet {
    /// Start live sync on the current tokio runtime.
    pub fn start_live(self: &Arc<Self>) -> Result<LiveHandle> {
        let rt = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::Internal("start_live needs a tokio runtime".into()))?;
        if rstore::relay(&self.lock().conn)?.is_none() {
            return Err(Error::NoRelay);
        }
        let (stop, rx) = oneshot::channel();
        let task = rt.spawn(run(self.clone(), rx));
        Ok(LiveHandle {
            stop: Some(stop),
            task: Some(task),
        })
    }
}

async fn run(duet: Arc<Duet>, mut stop: oneshot::Receiver<()>) {
    let mut backoff = BACKOFF_START;
    loop {
        let started = tokio::time::Instant::now();
        let r = tokio::select! {
            r = session(&duet) => r,
            _ = &mut stop => return,
        };
        if let Err(e) = r {
            tracing::debug!(code = %e.code(), "live session ended");
            duet.emit_sync(&SyncState::from_error(&e));
        }
        if started.elapsed() > Duration::from_secs(10) {
            backoff = BACKOFF_START;
        }
        let jitter =
            rand::RngCore::next_u64(&mut rand::rngs::OsRng) % (backoff.as_millis() as u64 / 2 + 1);
        tokio::select! {
            _ = tokio::time::sleep(backoff + Duration::from_millis(jitter)) => {}
            _ = &mut stop => return,
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

async fn session(duet: &Arc<Duet>) -> Result<()> {
    duet.register().await?;
    let c = duet.relay_client()?;
    let token = c.token().ok_or(Error::NoRelay)?.to_string();
    let (mut tx, mut rx) = c.connect_live().await?.split();
    let auth = duet_proto::to_cbor(&ClientFrame::Auth { token });
    tx.send(Message::Binary(auth.into()))
        .await
        .map_err(|e| Error::Offline(e.to_string()))?;
    match tokio::time::timeout(READY_TIMEOUT, rx.next()).await {
        Ok(Some(Ok(Message::Binary(b)))) => match duet_proto::from_cbor::<ServerFrame>(&b) {
            Ok(ServerFrame::Ready { .. }) => {}
            Ok(ServerFrame::Error { code, message }) => return Err(relay_error(code, message)),
            _ => return Err(Error::CorruptData("unexpected first live frame".into())),
        },
        _ => return Err(Error::Offline("the live channel did not open".into())),
    }
    // Subscribed first, then caught up from the cursors: a blob announced while this sync
    // runs waits in the socket (and is skipped if the sync applied it already), so none can
    // fall between the catching up and the subscription.
    duet.sync_now().await?;
    duet.emit_sync(&SyncState::Live);
    // Writes made while we connected are pushed right away.
    let mut report = SyncReport::default();
    duet.push_outbox(&c, &mut report).await?;
    let notify = duet.outbox_notify();
    let mut answers_tried: Option<std::time::Instant> = None;
    let mut resync = tokio::time::interval(RESYNC_EVERY);
    resync.tick().await;
    loop {
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) => match duet_proto::from_cbor::<ServerFrame>(&b) {
                    Ok(ServerFrame::New { space_id, seq, blob }) => {
                        duet.on_announcement(&c, SpaceId(space_id), seq, blob).await?;
                        // The thumbnails of attachments it brought (nothing to ask when none).
                        duet.fetch_thumbnails(&c).await?;
                    }
                    Ok(ServerFrame::Error { code, message }) => return Err(relay_error(code, message)),
                    Ok(ServerFrame::Ready { .. }) => {}
                    Err(e) => tracing::warn!(error = %e, "ignoring a malformed live frame"),
                },
                Some(Ok(Message::Close(_))) | None => {
                    return Err(Error::Offline("the live channel closed".into()));
                }
                Some(Err(e)) => return Err(Error::Offline(format!("live channel: {e}"))),
                Some(Ok(_)) => {} // pings are answered by tungstenite
            },
            _ = notify.notified() => {
                let mut r = SyncReport::default();
                // A new attachment's thumbnail before the change that names it (originals
                // go with the next full sync, so typing never waits behind a video).
                duet.send_attachments(&c, super::THUMBNAIL_SEALED_MAX, &mut r).await?;
                duet.push_outbox(&c, &mut r).await?;
                // An answer was just written: its share goes to the relay now, so a round
                // both have answered opens (and reveals) at once, not at the next resync.
                // (At most every few seconds: a share the relay refuses stays waiting, and
                // typing must not ask again at every keystroke.)
                if answers_tried.is_none_or(|t| t.elapsed() > ANSWERS_RETRY)
                    && duet.answer_share_waiting()?
                {
                    answers_tried = Some(std::time::Instant::now());
                    duet.sync_answers(&c).await?;
                    duet.push_outbox(&c, &mut r).await?;
                }
            }
            _ = resync.tick() => {
                duet.sync_now().await?;
                duet.emit_sync(&SyncState::Live);
            }
        }
    }
}

impl Duet {
    /// A new blob in one of my spaces: apply it inline when it is the next one, otherwise
    /// pull the space.
    async fn on_announcement(
        &self,
        c: &super::client::RelayClient,
        space: SpaceId,
        seq: u64,
        blob: Option<duet_proto::LogBlob>,
    ) -> Result<()> {
        let (cursor, _) = rstore::sync_space(&self.lock().conn, &space)?;
        if seq <= cursor {
            return Ok(());
        }
        let mut report = SyncReport::default();
        match blob {
            Some(b)
                if seq == cursor + 1
                    && crate::store::space(&self.lock().conn, &space)?.is_some() =>
            {
                let page = duet_proto::Pulled {
                    blobs: vec![b],
                    head: seq,
                    more: false,
                    snapshot: None,
                };
                self.apply_page(&space, page, &mut report)
            }
            _ => self.pull_all(c, &mut report).await,
        }
    }
}
