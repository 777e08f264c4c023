//! Spaces and their members. A space the caller is not a member of answers 404.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use duet_proto::{AddMember, CreateSpace, KeyEpoch, SpaceInfo, SpaceKind, SpaceList};
use uuid::Uuid;

use super::member::{Member, SpacePath};
use super::responses::NotFound;
use crate::auth::Caller;
use crate::cbor::{Cbor, CborResponse};
use crate::error::ApiError;
use crate::state::{AppState, now_ms};

/// Create a space (the client chooses its id); the caller is its first member. The answer
/// is the same when the id is already someone else's space (then nothing changes and the
/// caller is not a member), so a stranger can't probe which ids exist — also at the cap on
/// spaces per device, where both answer `too_many_spaces`.
#[utoipa::path(post, path = "/v1/spaces", tag = "spaces",
    request_body(content = CreateSpace, content_type = "application/cbor"),
    responses((status = 201, body = SpaceInfo, content_type = "application/cbor"),
              (status = 403, description = "This device has created as many spaces as it may (`too_many_spaces`)", body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Cbor(req): Cbor<CreateSpace>,
) -> Result<CborResponse<SpaceInfo>, ApiError> {
    if state
        .store
        .create_space_capped(
            req.space_id,
            req.kind,
            caller.device,
            now_ms(),
            state.limits.max_spaces_per_device,
        )
        .await?
    {
        state.hub.subscribe(caller.device, req.space_id);
    }
    Ok(CborResponse(
        StatusCode::CREATED,
        SpaceInfo {
            space_id: req.space_id,
            members: vec![caller.device],
            head: 0,
            persons: vec![caller.person],
            kind: req.kind,
            key_epoch: 0,
        },
    ))
}

/// The spaces this device is a member of.
#[utoipa::path(get, path = "/v1/spaces", tag = "spaces",
    responses((status = 200, body = SpaceList, content_type = "application/cbor")),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<CborResponse<SpaceList>, ApiError> {
    let spaces = state.store.spaces_of(caller.device).await?;
    Ok(CborResponse(StatusCode::OK, SpaceList { spaces }))
}

/// One space: members and head.
#[utoipa::path(get, path = "/v1/spaces/{space}", tag = "spaces",
    params(("space" = Uuid, Path)),
    responses((status = 200, body = SpaceInfo, content_type = "application/cbor"), NotFound),
    security(("bearer" = [])))]
pub async fn get(member: Member) -> Result<CborResponse<SpaceInfo>, ApiError> {
    let info = member.info().await?;
    Ok(CborResponse(StatusCode::OK, info))
}

/// Add a device of the caller's own person to a space (after a device link, or for a
/// journal made later); anyone else answers 404 and joins by invite instead.
#[utoipa::path(post, path = "/v1/spaces/{space}/members", tag = "spaces",
    params(("space" = Uuid, Path)),
    request_body(content = AddMember, content_type = "application/cbor"),
    responses((status = 204), NotFound),
    security(("bearer" = [])))]
pub async fn add_member(
    Member {
        state,
        caller,
        space,
        ..
    }: Member,
    Cbor(req): Cbor<AddMember>,
) -> Result<StatusCode, ApiError> {
    // Only the caller's own devices. A partner joins by invite instead, so a member can't
    // pull a stranger's device into a space, nor probe which device ids exist.
    let target = state.store.device(req.device_id).await?;
    if !target.is_some_and(|d| d.person == caller.person && !d.revoked) {
        return Err(ApiError::not_found());
    }
    state
        .store
        .add_member(space, req.device_id, now_ms())
        .await?;
    state.hub.subscribe(req.device_id, space);
    Ok(StatusCode::NO_CONTENT)
}

/// Announce that the space's key rotated to `epoch` (the next one; the current one again is
/// a no-op). From then on a new blob sealed under an older epoch is refused with
/// `stale_epoch`, so a device that missed the rotation seals again under the new key.
#[utoipa::path(put, path = "/v1/spaces/{space}/epoch", tag = "spaces",
    params(("space" = Uuid, Path)),
    request_body(content = KeyEpoch, content_type = "application/cbor"),
    responses((status = 204),
              (status = 400, description = "The epoch skips ahead", body = duet_proto::ErrorBody),
              (status = 409, description = "An older epoch than the space's", body = duet_proto::ErrorBody),
              NotFound),
    security(("bearer" = [])))]
pub async fn announce_epoch(
    Member {
        state,
        caller,
        space,
        ..
    }: Member,
    Cbor(req): Cbor<KeyEpoch>,
) -> Result<StatusCode, ApiError> {
    let epoch = state.store.raise_epoch(space, req.epoch).await?;
    tracing::info!(%space, epoch, by = %caller.device, "key epoch announced");
    Ok(StatusCode::NO_CONTENT)
}

/// The path of `DELETE /v1/spaces/{space}/members/{device}`.
#[derive(Debug, serde::Deserialize)]
pub struct MemberPath {
    space: Uuid,
    device: Uuid,
}

impl SpacePath for MemberPath {
    fn space(&self) -> Uuid {
        self.space
    }
}

/// Remove a member from a space. In a shared journal this removes the whole person the
/// device acts for — every device of theirs, their pending invites, and every pending
/// partner invite — so nothing they hold gets them back in; the remaining member rotates
/// the key. In a personal space only the one device leaves (it is the owner's own).
#[utoipa::path(delete, path = "/v1/spaces/{space}/members/{device}", tag = "spaces",
    params(("space" = Uuid, Path), ("device" = Uuid, Path)),
    responses((status = 204), NotFound),
    security(("bearer" = [])))]
pub async fn remove_member(member: Member<MemberPath>) -> Result<StatusCode, ApiError> {
    let info = member.info().await?;
    let Member {
        state,
        caller,
        space,
        path: MemberPath { device, .. },
        ..
    } = member;
    let Some(person) = info
        .members
        .iter()
        .zip(&info.persons)
        .find(|(d, _)| **d == device)
        .map(|(_, p)| *p)
    else {
        return Err(ApiError::not_found());
    };
    let left = match info.kind {
        SpaceKind::Journal => state.store.remove_person(space, person).await?,
        SpaceKind::Personal => {
            if !state.store.remove_member(space, device).await? {
                return Err(ApiError::not_found());
            }
            vec![device]
        }
    };
    for d in &left {
        state.hub.unsubscribe(*d, space);
    }
    tracing::info!(%space, devices = left.len(), by = %caller.device, "member removed");
    Ok(StatusCode::NO_CONTENT)
}
