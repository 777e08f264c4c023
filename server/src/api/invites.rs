//! Invites: the relay stores the hash of the join token and the wrapped space key, never
//! the secret they come from. One use, an expiry, and a few attempts.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use duet_proto::limits::{INVITE_DEFAULT_TTL_SECS, INVITE_MAX_TTL_SECS, MAX_WRAPPED_KEY_BYTES};
use duet_proto::{
    CreateInvite, ErrorCode, InviteCreated, InviteKind, JoinInvite, Joined, SpaceKind,
};
use uuid::Uuid;

use super::member::Member;
use super::responses::{BadRequest, NotFound};
use crate::auth::{self, Caller};
use crate::cbor::{Cbor, CborResponse};
use crate::error::ApiError;
use crate::extract::Path;
use crate::state::{AppState, now_ms};
use crate::storage::{InviteCap, JoinOutcome, NewInvite};

/// Create an invite to a space.
#[utoipa::path(post, path = "/v1/spaces/{space}/invites", tag = "invites",
    params(("space" = Uuid, Path)),
    request_body(content = CreateInvite, content_type = "application/cbor"),
    responses((status = 201, body = InviteCreated, content_type = "application/cbor"),
              (status = 403, description = "Not allowed here, or this device holds as many pending invites as it may (`too_many_invites`)", body = duet_proto::ErrorBody),
              BadRequest, NotFound),
    security(("bearer" = [])))]
pub async fn create(
    member: Member,
    Cbor(req): Cbor<CreateInvite>,
) -> Result<CborResponse<InviteCreated>, ApiError> {
    let info = member.info().await?;
    let Member {
        state,
        caller,
        space,
        ..
    } = member;
    if info.kind == SpaceKind::Personal && req.kind == InviteKind::Partner {
        return Err(ApiError::new(
            ErrorCode::NotAllowed,
            "a personal space admits only its own person's devices: make a device invite",
        ));
    }
    let token_hash: [u8; 32] = req
        .token_hash
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::invalid("token_hash is 32 bytes"))?;
    if req.wrapped_key.is_empty() || req.wrapped_key.len() > MAX_WRAPPED_KEY_BYTES {
        return Err(ApiError::invalid(format!(
            "wrapped_key is 1 to {MAX_WRAPPED_KEY_BYTES} bytes"
        )));
    }
    let ttl = req.ttl_secs.unwrap_or(INVITE_DEFAULT_TTL_SECS);
    if ttl == 0 || ttl > INVITE_MAX_TTL_SECS {
        return Err(ApiError::invalid(format!(
            "ttl_secs is 1 to {INVITE_MAX_TTL_SECS}"
        )));
    }
    let now = now_ms();
    let expires_at = now + (ttl as i64) * 1000;
    state
        .store
        .create_invite_capped(
            NewInvite {
                id: req.invite_id,
                space,
                created_by: caller.device,
                token_hash,
                wrapped_key: req.wrapped_key,
                expires_at,
                kind: req.kind,
            },
            InviteCap {
                now,
                max_pending: state.limits.max_pending_invites_per_device,
                max_attempts: state.limits.invite_max_attempts,
            },
        )
        .await?;
    Ok(CborResponse(
        StatusCode::CREATED,
        InviteCreated {
            invite_id: req.invite_id,
            expires_at: expires_at / 1000,
        },
    ))
}

/// Join with an invite: prove the token; the device becomes a member and receives the
/// wrapped key. Five wrong tokens burn the invite.
#[utoipa::path(post, path = "/v1/invites/{invite}/join", tag = "invites",
    params(("invite" = Uuid, Path)),
    request_body(content = JoinInvite, content_type = "application/cbor"),
    responses((status = 200, body = Joined, content_type = "application/cbor"),
              (status = 403, description = "Wrong token, or not allowed in (a journal with its two people, a device that belongs to someone else)", body = duet_proto::ErrorBody),
              (status = 410, description = "Expired, used or burned", body = duet_proto::ErrorBody),
              NotFound),
    security(("bearer" = [])))]
pub async fn join(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(invite): Path<Uuid>,
    Cbor(req): Cbor<JoinInvite>,
) -> Result<CborResponse<Joined>, ApiError> {
    let outcome = state
        .store
        .join_invite(
            invite,
            auth::hash_bytes(&req.token),
            caller.device,
            now_ms(),
            state.limits.invite_max_attempts,
        )
        .await?;
    match outcome {
        JoinOutcome::Joined { space, wrapped_key } => {
            state.hub.subscribe(caller.device, space);
            tracing::info!(%space, device = %caller.device, "joined by invite");
            Ok(CborResponse(
                StatusCode::OK,
                Joined {
                    space_id: space,
                    wrapped_key,
                },
            ))
        }
        JoinOutcome::NotFound => Err(ApiError::not_found()),
        JoinOutcome::Expired => Err(ApiError::new(
            ErrorCode::InviteExpired,
            "the invite has expired",
        )),
        JoinOutcome::Used => Err(ApiError::new(
            ErrorCode::InviteUsed,
            "the invite was already used",
        )),
        JoinOutcome::Burned => Err(ApiError::new(
            ErrorCode::InviteBurned,
            "too many wrong attempts; ask for a new invite",
        )),
        JoinOutcome::NotAllowed(why) => Err(ApiError::new(ErrorCode::NotAllowed, why)),
        JoinOutcome::WrongToken { attempts_left } => Err(ApiError::new(
            ErrorCode::InviteWrongToken,
            format!("the invite code is wrong ({attempts_left} attempts left)"),
        )),
    }
}
