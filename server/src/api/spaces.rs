//! Spaces and their members. A space the caller is not a member of answers 404.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use duet_proto::{AddMember, CreateSpace, SpaceInfo, SpaceList};
use uuid::Uuid;

use crate::auth::Caller;
use crate::cbor::{Cbor, CborResponse};
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::{AppState, now_ms};

/// 404 unless the caller is a member.
pub async fn require_member(
    state: &AppState,
    space: Uuid,
    caller: &Caller,
) -> Result<(), ApiError> {
    if state.store.is_member(space, caller.device).await? {
        Ok(())
    } else {
        Err(ApiError::not_found())
    }
}

/// Create a space (the client chooses its id); the caller is its first member.
#[utoipa::path(post, path = "/v1/spaces", tag = "spaces",
    request_body(content = CreateSpace, content_type = "application/cbor"),
    responses((status = 201, body = SpaceInfo, content_type = "application/cbor"),
              (status = 409, description = "The id is taken", body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Cbor(req): Cbor<CreateSpace>,
) -> Result<CborResponse<SpaceInfo>, ApiError> {
    state
        .store
        .create_space(req.space_id, caller.device, now_ms())
        .await?;
    state.hub.subscribe(caller.device, req.space_id);
    Ok(CborResponse(
        StatusCode::CREATED,
        SpaceInfo {
            space_id: req.space_id,
            members: vec![caller.device],
            head: 0,
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
    responses((status = 200, body = SpaceInfo, content_type = "application/cbor"),
              (status = 404, body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(space): Path<Uuid>,
) -> Result<CborResponse<SpaceInfo>, ApiError> {
    require_member(&state, space, &caller).await?;
    let info = state
        .store
        .space_info(space)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(CborResponse(StatusCode::OK, info))
}

/// Add a device to a space: one the caller already shares a space with (its own linked
/// devices); anyone else answers 404 and joins by invite instead.
#[utoipa::path(post, path = "/v1/spaces/{space}/members", tag = "spaces",
    params(("space" = Uuid, Path)),
    request_body(content = AddMember, content_type = "application/cbor"),
    responses((status = 204), (status = 404, body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn add_member(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(space): Path<Uuid>,
    Cbor(req): Cbor<AddMember>,
) -> Result<StatusCode, ApiError> {
    require_member(&state, space, &caller).await?;
    // Only a device the caller already shares a space with (in practice: one of its own
    // devices, linked through the personal space). A partner joins by invite instead, so a
    // member can't pull a stranger's device into a space, nor probe which device ids exist.
    if req.device_id != caller.device
        && !state
            .store
            .share_a_space(caller.device, req.device_id)
            .await?
    {
        return Err(ApiError::not_found());
    }
    state
        .store
        .add_member(space, req.device_id, now_ms())
        .await?;
    state.hub.subscribe(req.device_id, space);
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a device from a space (a member may remove any member, itself included). The
/// remaining members rotate the space key, so the removed device can't read what follows.
#[utoipa::path(delete, path = "/v1/spaces/{space}/members/{device}", tag = "spaces",
    params(("space" = Uuid, Path), ("device" = Uuid, Path)),
    responses((status = 204), (status = 404, body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_member(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((space, device)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    require_member(&state, space, &caller).await?;
    if !state.store.remove_member(space, device).await? {
        return Err(ApiError::not_found());
    }
    state.hub.unsubscribe(device, space);
    tracing::info!(%space, %device, by = %caller.device, "member removed");
    Ok(StatusCode::NO_CONTENT)
}
