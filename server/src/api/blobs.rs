//! The sealed-blob log: push (idempotent, acknowledged once committed), pull (paged), and
//! snapshots.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use duet_proto::limits::{DEFAULT_PULL_PAGE, MAX_PULL_PAGE};
use duet_proto::{ErrorCode, Pulled, Push, Pushed, Snapshot};
use serde::Deserialize;
use uuid::Uuid;

use super::spaces::require_member;
use crate::auth::Caller;
use crate::cbor::{Cbor, CborResponse};
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::{AppState, now_ms};
use crate::storage::AppendLimits;

/// Append sealed blobs. Idempotent by blob id: a retry gets the sequence numbers the blobs
/// were first given.
#[utoipa::path(post, path = "/v1/spaces/{space}/blobs", tag = "blobs",
    params(("space" = Uuid, Path)),
    request_body(content = Push, content_type = "application/cbor"),
    responses((status = 200, body = Pushed, content_type = "application/cbor"),
              (status = 404, body = duet_proto::ErrorBody),
              (status = 413, description = "Body, blob, count or quota over its limit", body = duet_proto::ErrorBody),
              (status = 429, body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn push(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(space): Path<Uuid>,
    Cbor(req): Cbor<Push>,
) -> Result<CborResponse<Pushed>, ApiError> {
    require_member(&state, space, &caller).await?;
    let l = state.limits;
    if req.blobs.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "a push holds at least one blob",
        ));
    }
    if req.blobs.len() > l.max_blobs_per_push {
        return Err(ApiError::new(
            ErrorCode::TooManyBlobs,
            format!("at most {} blobs per push", l.max_blobs_per_push),
        ));
    }
    for b in &req.blobs {
        if b.id.len() != 16 {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "blob ids are 16 bytes",
            ));
        }
        if b.data.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "a blob is not empty",
            ));
        }
        if b.data.len() > l.max_blob_bytes {
            return Err(ApiError::new(
                ErrorCode::BlobTooLarge,
                format!("blobs are at most {} bytes", l.max_blob_bytes),
            ));
        }
    }
    if let Err(not_until) = state.push_limiter.check_key(&caller.device) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        let mut e = ApiError::new(ErrorCode::RateLimited, "too many pushes; slow down");
        e.retry_after_secs = Some(wait.as_secs().max(1));
        return Err(e);
    }
    let bytes: u64 = req.blobs.iter().map(|b| b.data.len() as u64).sum();
    let blobs = req.blobs.into_iter().map(|b| (b.id, b.data)).collect();
    let appended = state
        .store
        .append(
            space,
            caller.device,
            blobs,
            AppendLimits {
                quota_bytes: l.space_quota_bytes,
                inline_bytes: l.live_inline_bytes,
            },
            now_ms(),
        )
        .await?;
    state
        .metrics
        .blobs_appended
        .inc_by(appended.fresh.len() as u64);
    state.metrics.blob_bytes_appended.inc_by(bytes);
    let (sent, dropped) =
        state
            .hub
            .publish(space, caller.device, &appended.fresh, l.live_inline_bytes);
    state.metrics.live_dropped.inc_by(dropped);
    tracing::debug!(%space, fresh = appended.fresh.len(), live_frames = sent, "push");
    Ok(CborResponse(
        StatusCode::OK,
        Pushed {
            seqs: appended.seqs,
            head: appended.head,
        },
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct PullParams {
    /// Return blobs with a sequence number greater than this (default 0).
    pub after: Option<u64>,
    /// Page size, 1 to 1000 (default 500).
    pub limit: Option<u32>,
}

/// Pull blobs after a cursor, paged. When the cursor is older than the pruned log, the
/// newest snapshot comes first.
#[utoipa::path(get, path = "/v1/spaces/{space}/blobs", tag = "blobs",
    params(("space" = Uuid, Path), PullParams),
    responses((status = 200, body = Pulled, content_type = "application/cbor"),
              (status = 400, description = "Cursor beyond the head, or a bad page size", body = duet_proto::ErrorBody),
              (status = 404, body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn pull(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(space): Path<Uuid>,
    Query(q): Query<PullParams>,
) -> Result<CborResponse<Pulled>, ApiError> {
    require_member(&state, space, &caller).await?;
    let limit = q.limit.unwrap_or(DEFAULT_PULL_PAGE);
    if limit == 0 || limit > MAX_PULL_PAGE {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!("limit is 1 to {MAX_PULL_PAGE}"),
        ));
    }
    let pulled = state.store.pull(space, q.after.unwrap_or(0), limit).await?;
    Ok(CborResponse(StatusCode::OK, pulled))
}

/// Upload a sealed compacted state covering every blob up to `seq`.
#[utoipa::path(put, path = "/v1/spaces/{space}/snapshot", tag = "blobs",
    params(("space" = Uuid, Path)),
    request_body(content = Snapshot, content_type = "application/cbor"),
    responses((status = 204), (status = 400, body = duet_proto::ErrorBody), (status = 404, body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put_snapshot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(space): Path<Uuid>,
    Cbor(req): Cbor<Snapshot>,
) -> Result<StatusCode, ApiError> {
    require_member(&state, space, &caller).await?;
    if req.data.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "a snapshot is not empty",
        ));
    }
    state.store.put_snapshot(space, req, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The newest snapshot of a space.
#[utoipa::path(get, path = "/v1/spaces/{space}/snapshot", tag = "blobs",
    params(("space" = Uuid, Path)),
    responses((status = 200, body = Snapshot, content_type = "application/cbor"), (status = 404, body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get_snapshot(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(space): Path<Uuid>,
) -> Result<CborResponse<Snapshot>, ApiError> {
    require_member(&state, space, &caller).await?;
    let s = state
        .store
        .snapshot(space)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(CborResponse(StatusCode::OK, s))
}
