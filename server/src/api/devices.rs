//! Device registration and revocation.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use duet_proto::{ErrorCode, Registered, WhoAmI};
use uuid::Uuid;

use super::responses::Unauthorized;
use crate::auth::{self, Caller};
use crate::cbor::CborResponse;
use crate::error::ApiError;
use crate::extract::Path;
use crate::net::ClientIp;
use crate::state::{AppState, now_ms, throttled};

/// Register a new device. The token in the response is shown once; the relay keeps only
/// its hash. Limited per client address (`rate_limited`, with `Retry-After`); on a relay
/// with a registration token, only with `Authorization: Bearer <registration token>`.
#[utoipa::path(post, path = "/v1/devices", tag = "devices",
    responses((status = 201, description = "Registered", body = Registered, content_type = "application/cbor"),
              (status = 403, description = "This relay needs its operator's registration token (`registration_closed`)", body = duet_proto::ErrorBody),
              (status = 429, description = "Too many registrations from this address", body = duet_proto::ErrorBody)),
    security((), ("registration" = [])))]
pub async fn register(
    State(state): State<Arc<AppState>>,
    ClientIp(client): ClientIp,
    headers: HeaderMap,
) -> Result<CborResponse<Registered>, ApiError> {
    // Every attempt counts, a wrong registration token too (no guessing at speed).
    if let Some(wait) = state
        .registration_limiter
        .as_ref()
        .and_then(|l| throttled(l, &client))
    {
        let mut e = ApiError::new(
            ErrorCode::RateLimited,
            "too many registrations from this address; retry later",
        );
        e.retry_after_secs = Some(wait);
        return Err(e);
    }
    if let Some(want) = &state.access.registration_token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::bearer_token)
            .unwrap_or("");
        if !auth::constant_time_eq(&auth::hash_token(given), &auth::hash_token(want)) {
            return Err(ApiError::new(
                ErrorCode::RegistrationClosed,
                "this relay registers devices only with its operator's registration token",
            ));
        }
    }
    let id = Uuid::new_v4();
    let token = auth::new_token();
    // A fresh person: a device becomes one of another person's only through a device link
    // (a `device` invite into that person's personal space).
    state
        .store
        .register_device(id, Uuid::new_v4(), auth::hash_token(&token), now_ms())
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

/// Who this token belongs to: the device and the person it acts for. A client pointed at
/// another URL asks this to tell the same relay under another name from a new one.
#[utoipa::path(get, path = "/v1/devices/me", tag = "devices",
    responses((status = 200, body = WhoAmI, content_type = "application/cbor"), Unauthorized),
    security(("bearer" = [])))]
pub async fn me(caller: Caller) -> CborResponse<WhoAmI> {
    CborResponse(
        StatusCode::OK,
        WhoAmI {
            device_id: caller.device,
            person: caller.person,
        },
    )
}

/// Revoke a device of the caller's own person: itself, or a lost phone revoked from the
/// owner's other device. Never a partner's device (a partner's only power over the other
/// is removing them from a shared journal). Its token stops working at once, its
/// memberships and pending invites go, and its live connections close.
#[utoipa::path(delete, path = "/v1/devices/{device}", tag = "devices",
    params(("device" = Uuid, Path, description = "Device to revoke")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such device, or not yours to revoke", body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(device): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    let mine = device == caller.device
        || state
            .store
            .device(device)
            .await?
            .is_some_and(|d| d.person == caller.person);
    if !mine || !state.store.revoke_device(device, now_ms()).await? {
        return Err(ApiError::not_found());
    }
    state.hub.drop_device(device);
    tracing::info!(%device, by = %caller.device, "device revoked");
    Ok(StatusCode::NO_CONTENT)
}
