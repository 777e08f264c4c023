//! Receiving an upload's bytes (`PATCH …/upload`): streamed into the upload's partial file
//! chunk by chunk as they arrive (never the whole body in memory), then — on the last byte
//! — the hash checked, the object stored and its reference added.

use axum::body::Body;
use duet_proto::ErrorCode;
use duet_proto::attachments::UploadStatus;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::{ObjectError, object_key};
use crate::error::ApiError;
use crate::state::{AppState, now_ms};
use crate::storage::{AttachmentRef, Hash, NewUpload, ObjectRef, UploadState};

/// One `PATCH …/upload` request, checked for its form.
#[derive(Debug, Clone, Copy)]
pub struct Upload {
    pub space: Uuid,
    pub hash: Hash,
    /// The declared sealed size.
    pub size: u64,
    /// Where the body's bytes go.
    pub offset: u64,
    pub r: AttachmentRef,
    pub device: Uuid,
    /// The body's `Content-Length`, when it says.
    pub length: Option<u64>,
}

/// What a PATCH came to, and whether its body was read (an unread one closes the
/// connection).
#[derive(Debug)]
pub struct Received {
    pub status: UploadStatus,
    pub body_read: bool,
}

pub(crate) fn object_error(e: ObjectError) -> ApiError {
    match e {
        ObjectError::NotFound => ApiError::not_found(),
        e => {
            // Object store details stay in the log.
            tracing::error!(error = %e, "attachment storage failure");
            ApiError::new(ErrorCode::Internal, "attachment storage failure")
        }
    }
}

/// Keeps the in-progress gauge up while a body is being received.
struct Receiving<'a>(&'a AppState);

impl<'a> Receiving<'a> {
    fn new(state: &'a AppState) -> Self {
        state.metrics.attachment_uploads_in_progress.inc();
        Receiving(state)
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.0.metrics.attachment_uploads_in_progress.dec();
    }
}

/// Handle one PATCH: begin or find the upload, append the body at `offset`, finish on the
/// last byte.
pub async fn receive(state: &AppState, up: Upload, body: Body) -> Result<Received, ApiError> {
    let l = &state.limits;
    if up.size == 0 {
        return Err(ApiError::invalid("an attachment has at least one byte"));
    }
    if up.size > l.max_attachment_bytes {
        return Err(ApiError::new(
            ErrorCode::AttachmentTooLarge,
            format!(
                "attachments are at most {} sealed bytes here",
                l.max_attachment_bytes
            ),
        ));
    }
    let past_end = |n: u64| up.offset.checked_add(n).is_none_or(|end| end > up.size);
    if past_end(up.length.unwrap_or(0)) {
        return Err(ApiError::invalid("bytes past the declared size"));
    }
    let att = &state.attachments;
    // One request per upload at a time (a resumed one waits for the dropped one to end).
    let Some(_held) = att.locks.lock(up.space, up.hash, l.body_read_timeout).await else {
        let mut e = ApiError::new(
            ErrorCode::Unavailable,
            "another request is uploading this attachment; retry shortly",
        );
        e.retry_after_secs = Some(2);
        return Err(e);
    };
    let begun = state
        .store
        .begin_upload(NewUpload {
            space: up.space,
            hash: up.hash,
            size: up.size,
            device: up.device,
            now: now_ms(),
            quota_bytes: l.attachment_quota_bytes,
        })
        .await?;
    let key = object_key(up.space, &up.hash);
    match begun {
        UploadState::Stored { size } if size == up.size && !bytes_missing(state, &key).await? => {
            // Already here (the partner's copy, or a retry): the reference, no bytes.
            state
                .store
                .add_ref(ObjectRef::new(up.space, up.hash, up.r), now_ms())
                .await?
                .ok_or_else(ApiError::not_found)?;
            return Ok(Received {
                status: UploadStatus {
                    size,
                    received: size,
                    complete: true,
                },
                body_read: up.length == Some(0),
            });
        }
        UploadState::Stored { .. } | UploadState::Underway { .. }
            if begun_size(&begun) != up.size =>
        {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "this attachment is {} bytes, not {}",
                    begun_size(&begun),
                    up.size
                ),
            ));
        }
        _ => {}
    }
    let received = att
        .partial
        .received(up.space, &up.hash)
        .await
        .map_err(object_error)?;
    if received > up.size {
        discard(state, &up).await;
        return Err(ApiError::invalid(
            "more bytes than declared arrived; the upload was discarded",
        ));
    }
    if up.offset != received {
        return Err(ApiError::new(
            ErrorCode::OffsetMismatch,
            format!(
                "the relay has received {received} bytes of this upload: send from offset {received}"
            ),
        ));
    }
    let received = append(state, &up, body, received).await?;
    if received < up.size {
        return Ok(Received {
            status: UploadStatus {
                size: up.size,
                received,
                complete: false,
            },
            body_read: true,
        });
    }
    let size = finish(state, &up).await?;
    Ok(Received {
        status: UploadStatus {
            size,
            received: size,
            complete: true,
        },
        body_read: true,
    })
}

/// Whether a stored object's bytes are gone from the object store (a release on another
/// node that raced an upload of the same bytes): then this upload takes them again.
async fn bytes_missing(state: &AppState, key: &str) -> Result<bool, ApiError> {
    match state.attachments.objects.size(key).await {
        Ok(_) => Ok(false),
        Err(ObjectError::NotFound) => {
            tracing::warn!("a stored attachment's bytes are missing; taking them again");
            Ok(true)
        }
        Err(e) => Err(object_error(e)),
    }
}

fn begun_size(s: &UploadState) -> u64 {
    match s {
        UploadState::Stored { size } | UploadState::Underway { size, .. } => *size,
    }
}

/// Append the body to the partial file from `received` on; returns the bytes received
/// after it. What arrived stays, whatever ends the body (a drop, a stall, too many bytes).
async fn append(
    state: &AppState,
    up: &Upload,
    body: Body,
    mut received: u64,
) -> Result<u64, ApiError> {
    let _gauge = Receiving::new(state);
    let partial = &state.attachments.partial;
    let mut file = partial
        .append(up.space, &up.hash)
        .await
        .map_err(object_error)?;
    let stall = state.limits.body_read_timeout;
    let mut stream = body.into_data_stream();
    let start = received;
    let ended: Result<(), ApiError> = loop {
        // A stalled body ends here (the connection's idle timeout would too, later).
        let chunk = match tokio::time::timeout(stall, stream.next()).await {
            Err(_) => {
                break Err(ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "no bytes arrived for {} s; the bytes before are kept",
                        stall.as_secs()
                    ),
                ));
            }
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => {
                break Err(ApiError::new(
                    ErrorCode::MalformedBody,
                    format!("the request body could not be read: {e}"),
                ));
            }
            Ok(Some(Ok(chunk))) => chunk,
        };
        let n = chunk.len() as u64;
        if received + n > up.size {
            break Err(ApiError::invalid("bytes past the declared size"));
        }
        if let Err(e) = file.write_all(&chunk).await {
            tracing::error!(error = %e, "writing a partial upload failed");
            // Whatever of the chunk got written is cut off again.
            let _ = file.flush().await;
            let _ = partial.truncate(up.space, &up.hash, received).await;
            break Err(ApiError::new(
                ErrorCode::Internal,
                "storing the bytes failed",
            ));
        }
        received += n;
    };
    // What was received is on stable storage before it is reported.
    let synced = async {
        file.flush().await?;
        file.sync_data().await
    }
    .await;
    if let Err(e) = synced {
        tracing::error!(error = %e, "syncing a partial upload failed");
        return Err(ApiError::new(
            ErrorCode::Internal,
            "storing the bytes failed",
        ));
    }
    tracing::debug!(space = %up.space, bytes = received - start, received, "upload bytes");
    ended.map(|()| received)
}

/// All bytes are here: check the hash, store the object, add the reference.
async fn finish(state: &AppState, up: &Upload) -> Result<u64, ApiError> {
    let att = &state.attachments;
    let actual = att
        .partial
        .hash(up.space, &up.hash)
        .await
        .map_err(object_error)?;
    if actual != up.hash {
        discard(state, up).await;
        return Err(ApiError::invalid(
            "the bytes don't match the hash they were uploaded under; the upload was discarded",
        ));
    }
    let key = object_key(up.space, &up.hash);
    att.objects
        .put_file(&key, &att.partial.path(up.space, &up.hash), up.size)
        .await
        .map_err(object_error)?;
    let size = state
        .store
        .finish_upload(ObjectRef::new(up.space, up.hash, up.r), now_ms())
        .await?;
    att.partial.remove(up.space, &up.hash).await;
    state.metrics.attachment_bytes_stored.inc_by(size);
    tracing::info!(space = %up.space, size, "attachment stored");
    Ok(size)
}

/// Forget an upload: its partial file and its row.
async fn discard(state: &AppState, up: &Upload) {
    state.attachments.partial.remove(up.space, &up.hash).await;
    if let Err(e) = state.store.discard_upload(up.space, up.hash).await {
        tracing::warn!(error = %e, "discarding an upload's row failed");
    }
}
