//! Device registration and revocation.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use duet_proto::Registered;
use uuid::Uuid;

use crate::auth::{self, Caller};
use crate::cbor::CborResponse;
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::{AppState, now_ms};

/// Register a new device. The token in the response is shown once; the relay keeps only
/// its hash.
#[utoipa::path(post, path = "/v1/devices", tag = "devices",
    responses((status = 201, description = "Registered", body = Registered, content_type = "application/cbor")))]
pub async fn register(
    State(state): State<Arc<AppState>>,
) -> Result<CborResponse<Registered>, ApiError> {
    let id = Uuid::new_v4();
    let token = auth::new_token();
    state
        .store
        .register_device(id, auth::hash_token(&token), now_ms())
        .await?;
    tracing::info!(device = %id, "device registered");
    Ok(CborResponse(
        StatusCode::CREATED,
        Registered {
            device_id: id,
            token,
        },
    ))
}

/// Revoke a device: itself, or a device it shares a space with (a lost phone, revoked by
/// the owner's other device or by the partner). Its token stops working at once and its
/// live connections close.
#[utoipa::path(delete, path = "/v1/devices/{device}", tag = "devices",
    params(("device" = Uuid, Path, description = "Device to revoke")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such device, or not yours to revoke", body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(device): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let allowed =
        device == caller.device || state.store.share_a_space(caller.device, device).await?;
    if !allowed || !state.store.revoke_device(device, now_ms()).await? {
        return Err(ApiError::not_found());
    }
    state.hub.drop_device(device);
    tracing::info!(%device, by = %caller.device, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}
