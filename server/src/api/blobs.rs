//! The sealed-blob log: push (idempotent, acknowledged once committed), pull (paged), and
//! snapshots.

use axum::http::StatusCode;
use duet_proto::limits::{DEFAULT_PULL_PAGE, MAX_PULL_PAGE};
use duet_proto::{ErrorCode, Pulled, Push, Pushed, Snapshot};
use serde::Deserialize;
use uuid::Uuid;

use super::member::{Gate, Member};
use super::responses::{BadRequest, LargeBody, NotFound};
use crate::auth::Caller;
use crate::cbor::{CborBody, CborResponse};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::{AppState, now_ms};
use crate::storage::AppendLimits;

/// The push rate limit, per device: checked before membership, so a refused push costs the
/// relay no lookup and no body.
#[derive(Debug)]
pub struct PushRate;

impl Gate for PushRate {
    fn admit(state: &AppState, caller: &Caller) -> Result<(), ApiError> {
        state
            .push_limiter
            .check_key(&caller.device)
            .map_err(|not_until| {
                let wait = not_until.wait_time_from(governor::clock::Clock::now(
                    &governor::clock::DefaultClock::default(),
                ));
                let mut e = ApiError::new(ErrorCode::RateLimited, "too many pushes; slow down");
                e.retry_after_secs = Some(wait.as_secs().max(1));
                e
            })
    }
}

/// Append sealed blobs. Idempotent by blob id: a retry gets the sequence numbers the blobs
/// were first given.
#[utoipa::path(post, path = "/v1/spaces/{space}/blobs", tag = "blobs",
    params(("space" = Uuid, Path)),
    request_body(content = Push, content_type = "application/cbor"),
    responses((status = 200, body = Pushed, content_type = "application/cbor"),
              (status = 413, description = "Body, blob, count or quota over its limit", body = duet_proto::ErrorBody),
              (status = 429, body = duet_proto::ErrorBody),
              NotFound, LargeBody),
    security(("bearer" = [])))]
pub async fn push(
    // The rate limit and membership first: a refused push costs the relay no body.
    Member {
        state,
        caller,
        space,
        ..
    }: Member<Uuid, PushRate>,
    body: CborBody<Push>,
) -> Result<CborResponse<Pushed>, ApiError> {
    let l = state.limits;
    // Held until the push is stored: the body's bytes stay counted while they are in memory.
    let (req, _room) = body.read(&state, l.max_body_bytes).await?;
    if req.blobs.is_empty() {
        return Err(ApiError::invalid("a push holds at least one blob"));
    }
    if req.blobs.len() > l.max_blobs_per_push {
        return Err(ApiError::new(
            ErrorCode::TooManyBlobs,
            format!("at most {} blobs per push", l.max_blobs_per_push),
        ));
    }
    for b in &req.blobs {
        if b.id.len() != 16 {
            return Err(ApiError::invalid("blob ids are 16 bytes"));
        }
        if b.data.is_empty() {
            return Err(ApiError::invalid("a blob is not empty"));
        }
        if b.data.len() > l.max_blob_bytes {
            return Err(ApiError::new(
                ErrorCode::BlobTooLarge,
                format!("blobs are at most {} bytes", l.max_blob_bytes),
            ));
        }
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
    /// Stop the page once its blobs add up to this many bytes (at least one blob is always
    /// sent), so a client on a link that drops after a few kilobytes still gets whole pages.
    pub max_bytes: Option<u64>,
}

/// Pull blobs after a cursor, paged. When the cursor is older than the pruned log, the
/// newest snapshot comes first.
#[utoipa::path(get, path = "/v1/spaces/{space}/blobs", tag = "blobs",
    params(("space" = Uuid, Path), PullParams),
    responses((status = 200, body = Pulled, content_type = "application/cbor"),
              (status = 400, description = "Cursor beyond the head, or a bad page size", body = duet_proto::ErrorBody),
              NotFound),
    security(("bearer" = [])))]
pub async fn pull(
    Member { state, space, .. }: Member,
    Query(q): Query<PullParams>,
) -> Result<CborResponse<Pulled>, ApiError> {
    let limit = q.limit.unwrap_or(DEFAULT_PULL_PAGE);
    if limit == 0 || limit > MAX_PULL_PAGE {
        return Err(ApiError::invalid(format!("limit is 1 to {MAX_PULL_PAGE}")));
    }
    let mut pulled = state.store.pull(space, q.after.unwrap_or(0), limit).await?;
    if let Some(max) = q.max_bytes {
        trim_to_bytes(&mut pulled, max);
    }
    Ok(CborResponse(StatusCode::OK, pulled))
}

/// Keep the first blobs of a page up to `max` bytes (the first one whatever its size), and
/// say whether more follow.
fn trim_to_bytes(page: &mut Pulled, max: u64) {
    let mut total = 0u64;
    let keep = page
        .blobs
        .iter()
        .position(|b| {
            total += b.data.len() as u64;
            total > max
        })
        .map_or(page.blobs.len(), |i| i.max(1));
    page.blobs.truncate(keep);
    let last = page
        .blobs
        .last()
        .map(|b| b.seq)
        .or(page.snapshot.as_ref().map(|s| s.seq));
    if let Some(last) = last {
        page.more = last < page.head;
    }
}

/// Upload a sealed compacted state covering every blob up to `seq`.
#[utoipa::path(put, path = "/v1/spaces/{space}/snapshot", tag = "blobs",
    params(("space" = Uuid, Path)),
    request_body(content = Snapshot, content_type = "application/cbor"),
    responses((status = 204),
              (status = 413, description = "Body or quota over its limit (the snapshot counts toward the space's quota)", body = duet_proto::ErrorBody),
              BadRequest, NotFound, LargeBody),
    security(("bearer" = [])))]
pub async fn put_snapshot(
    Member { state, space, .. }: Member,
    body: CborBody<Snapshot>,
) -> Result<StatusCode, ApiError> {
    let (req, _room) = body.read(&state, state.limits.max_body_bytes).await?;
    if req.data.is_empty() {
        return Err(ApiError::invalid("a snapshot is not empty"));
    }
    // The snapshot counts toward the space's quota (in place of the one it replaces).
    state
        .store
        .put_snapshot_within(space, req, now_ms(), state.limits.space_quota_bytes)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The newest snapshot of a space.
#[utoipa::path(get, path = "/v1/spaces/{space}/snapshot", tag = "blobs",
    params(("space" = Uuid, Path)),
    responses((status = 200, body = Snapshot, content_type = "application/cbor"), NotFound),
    security(("bearer" = [])))]
pub async fn get_snapshot(
    Member { state, space, .. }: Member,
) -> Result<CborResponse<Snapshot>, ApiError> {
    let s = state
        .store
        .snapshot(space)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(CborResponse(StatusCode::OK, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use duet_proto::LogBlob;

    fn page(sizes: &[usize]) -> Pulled {
        Pulled {
            blobs: sizes
                .iter()
                .enumerate()
                .map(|(i, n)| LogBlob {
                    seq: i as u64 + 1,
                    id: vec![0; 16],
                    data: vec![0; *n],
                })
                .collect(),
            head: sizes.len() as u64,
            more: false,
            snapshot: None,
        }
    }

    #[test]
    fn a_page_stops_at_its_byte_budget_but_never_sends_nothing() {
        let mut p = page(&[10, 10, 10, 10]);
        trim_to_bytes(&mut p, 25);
        assert_eq!((p.blobs.len(), p.more), (2, true));
        let mut p = page(&[100, 10]);
        trim_to_bytes(&mut p, 25);
        assert_eq!(
            (p.blobs.len(), p.more),
            (1, true),
            "one blob past the budget"
        );
        let mut p = page(&[10, 10]);
        trim_to_bytes(&mut p, 1000);
        assert_eq!((p.blobs.len(), p.more), (2, false));
    }
}
