//! Recovery kits (issue 12): a person who lost every device gets back in with the words of
//! their kit. A device of the person stores the kit (the auth secret's SHA-256, a sealed
//! envelope, the spaces it may admit to); proving it later registers a new device for that
//! person. The relay never sees the words, the secret before a recovery proves it, nor
//! anything inside the envelope — and never logs the secret, its hash, the envelope or a
//! token.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use duet_proto::limits::{MAX_RECOVERY_ENVELOPE_BYTES, MAX_RECOVERY_SPACES};
use duet_proto::recovery::{is_recovery_kit, parse_lookup};
use duet_proto::{ErrorCode, PutRecoveryKit, Recover, Recovered, RecoveryKitInfo};
use uuid::Uuid;

use super::responses::Unauthorized;
use crate::auth::{self, Caller};
use crate::cbor::{CborBody, CborResponse};
use crate::error::ApiError;
use crate::extract::Path;
use crate::metrics::OutcomeLabel;
use crate::net::ClientIp;
use crate::state::{AppState, now_ms, throttled};
use crate::storage::{KitAttempt, KitUpdate, Lookup};

/// The largest kit body: the largest envelope, the longest list of spaces, and CBOR's
/// framing around them (a kit may be a little over the 64 KiB other small bodies get).
const KIT_BODY_BYTES: usize = MAX_RECOVERY_ENVELOPE_BYTES + 16 * 1024;

/// The recovery routes, under `/v1`.
pub fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing;
    axum::Router::new()
        .route("/recovery", routing::get(get))
        .route("/recovery/{lookup}", routing::put(put).post(recover))
}

/// Unknown lookup id and wrong secret answer exactly alike.
fn refused() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no recovery kit answers to this")
}

fn lookup_of(path: &str) -> Result<Lookup, ApiError> {
    parse_lookup(path).ok_or_else(|| ApiError::invalid("a lookup id is 32 lowercase hex digits"))
}

fn rate_limited(message: &str, wait: u64) -> ApiError {
    let mut e = ApiError::new(ErrorCode::RateLimited, message);
    e.retry_after_secs = Some(wait);
    e
}

/// Store the caller's person's recovery kit under `lookup`. With `auth_hash` this makes it
/// the person's one kit (any other of theirs goes, and its lookup id with it), made by the
/// calling device — revoking that device removes the kit. Without, it updates the envelope
/// and spaces of the person's kit at `lookup`. The caller must be a member of every listed
/// space.
#[utoipa::path(put, path = "/v1/recovery/{lookup}", tag = "recovery",
    operation_id = "put_recovery_kit",
    params(("lookup" = String, Path, description = "The kit's lookup id: 32 lowercase hex digits", pattern = "^[0-9a-f]{32}$")),
    request_body(content = PutRecoveryKit, content_type = "application/cbor"),
    responses((status = 204, description = "Stored"),
              (status = 400, description = "A lookup id that isn't 32 lowercase hex digits, an auth hash that isn't 32 bytes, an envelope not of 1 to 65,536 bytes, or more than 256 spaces", body = duet_proto::ErrorBody),
              (status = 404, description = "A listed space the caller isn't a member of; without `auth_hash`, no kit of the caller's person at this lookup id", body = duet_proto::ErrorBody),
              (status = 409, description = "Another person's kit has this lookup id", body = duet_proto::ErrorBody),
              Unauthorized),
    security(("bearer" = [])))]
pub async fn put(
    caller: Caller,
    State(state): State<Arc<AppState>>,
    Path(lookup): Path<String>,
    body: CborBody<PutRecoveryKit>,
) -> Result<StatusCode, ApiError> {
    let lookup = lookup_of(&lookup)?;
    let (req, _room) = body.read(&state, KIT_BODY_BYTES).await?;
    if !is_recovery_kit(&req) {
        return Err(ApiError::invalid(format!(
            "a recovery kit has a 32-byte auth hash (or none), an envelope of 1 to {MAX_RECOVERY_ENVELOPE_BYTES} bytes and at most {MAX_RECOVERY_SPACES} spaces"
        )));
    }
    let kit = KitUpdate {
        lookup,
        device: caller.device,
        person: caller.person,
        envelope: req.envelope,
        spaces: req.spaces,
        now: now_ms(),
    };
    let spaces = kit.spaces.len();
    let made = match req.auth_hash.map(|h| <[u8; 32]>::try_from(h.as_slice())) {
        Some(Ok(hash)) => {
            state.store.put_recovery_kit(kit, hash).await?;
            true
        }
        // is_recovery_kit checked the length.
        Some(Err(_)) => return Err(ApiError::invalid("an auth hash is 32 bytes")),
        None => {
            state.store.update_recovery_kit(kit).await?;
            false
        }
    };
    state.metrics.recovery_kits_stored.inc();
    tracing::info!(person = %caller.person, by = %caller.device, made, spaces, "recovery kit stored");
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's person's recovery kit: its lookup id, the device that made it (or last
/// recovered with it), when its envelope was last stored, and its spaces. Never its
/// secret's hash nor its envelope.
#[utoipa::path(get, path = "/v1/recovery", tag = "recovery",
    operation_id = "get_recovery_kit",
    responses((status = 200, body = RecoveryKitInfo, content_type = "application/cbor"),
              (status = 404, description = "The caller's person has no kit", body = duet_proto::ErrorBody),
              Unauthorized),
    security(("bearer" = [])))]
pub async fn get(
    caller: Caller,
    State(state): State<Arc<AppState>>,
) -> Result<CborResponse<RecoveryKitInfo>, ApiError> {
    let kit = state
        .store
        .recovery_kit_of(caller.person)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no recovery kit"))?;
    Ok(CborResponse(
        StatusCode::OK,
        RecoveryKitInfo {
            lookup: kit.lookup.to_vec(),
            made_by: kit.made_by,
            updated_at: kit.updated_at.div_euclid(1000),
            spaces: kit.spaces,
        },
    ))
}

/// Prove a recovery kit with its auth secret: the relay registers a new device acting for
/// the kit's person, admits it to the kit's spaces where that person still has a device,
/// notes it as the kit's maker, and answers its token (shown once) and the envelope. No
/// bearer token: the kit is the credential. An unknown lookup id and a wrong secret answer
/// alike; attempts are limited per kit and per client address, right or wrong
/// (`rate_limited`, with `Retry-After`).
#[utoipa::path(post, path = "/v1/recovery/{lookup}", tag = "recovery",
    operation_id = "recover",
    params(("lookup" = String, Path, description = "The kit's lookup id: 32 lowercase hex digits", pattern = "^[0-9a-f]{32}$")),
    request_body(content = Recover, content_type = "application/cbor"),
    responses((status = 201, description = "Recovered: a new device of the kit's person", body = Recovered, content_type = "application/cbor"),
              (status = 400, description = "A lookup id that isn't 32 lowercase hex digits, or an auth secret that isn't 32 bytes", body = duet_proto::ErrorBody),
              (status = 404, description = "No kit has this lookup id, or the secret is wrong", body = duet_proto::ErrorBody),
              (status = 429, description = "Too many attempts against this kit or from this address", body = duet_proto::ErrorBody)),
    security(()))]
pub async fn recover(
    State(state): State<Arc<AppState>>,
    ClientIp(client): ClientIp,
    Path(lookup): Path<String>,
    body: CborBody<Recover>,
) -> Result<CborResponse<Recovered>, ApiError> {
    let attempt = |outcome: &'static str| {
        state
            .metrics
            .recovery_attempts
            .get_or_create(&OutcomeLabel { outcome })
            .inc();
    };
    // Every attempt counts, a malformed one too; before the body is read.
    if let Some(wait) = state
        .recovery_client_limiter
        .as_ref()
        .and_then(|l| throttled(l, &client))
    {
        attempt("throttled");
        return Err(rate_limited(
            "too many recovery attempts from this address; retry later",
            wait,
        ));
    }
    let lookup = lookup_of(&lookup)?;
    let (req, _room) = body.read(&state, crate::cbor::SMALL_BODY_BYTES).await?;
    let auth: [u8; 32] = req
        .auth
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::invalid("an auth secret is 32 bytes"))?;
    if !state.store.recovery_kit_exists(lookup).await? {
        attempt("refused");
        return Err(refused());
    }
    // Checked before the secret, so that past the quota even the right one waits.
    if let Some(wait) = throttled(&state.recovery_limiter, &lookup) {
        attempt("throttled");
        tracing::warn!("recovery attempts against one kit throttled");
        return Err(rate_limited(
            "too many recovery attempts against this kit; retry later",
            wait,
        ));
    }
    let device = Uuid::new_v4();
    let token = auth::new_token();
    let proof = KitAttempt {
        lookup,
        auth_hash: auth::hash_bytes(&auth),
        device,
        token_hash: auth::hash_token(&token),
        now: now_ms(),
    };
    let Some(r) = state.store.recover_device(proof).await? else {
        attempt("refused");
        return Err(refused());
    };
    attempt("recovered");
    tracing::info!(person = %r.person, %device, spaces = r.spaces.len(), "device recovered");
    Ok(CborResponse(
        StatusCode::CREATED,
        Recovered {
            device_id: device,
            token,
            person: r.person,
            envelope: r.envelope,
            spaces: r.spaces,
            devices: r.devices,
        },
    ))
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// The three operations are in the relay's document, the recovery one open to all.
    #[test]
    fn the_openapi_document_describes_recovery() {
        let doc = serde_json::to_value(crate::api::ApiDoc::openapi()).unwrap();
        let op = |path: &str, method: &str| doc["paths"][path][method].clone();
        assert_eq!(
            op("/v1/recovery/{lookup}", "put")["operationId"],
            "put_recovery_kit"
        );
        assert_eq!(op("/v1/recovery", "get")["operationId"], "get_recovery_kit");
        let recover = op("/v1/recovery/{lookup}", "post");
        assert_eq!(recover["operationId"], "recover");
        assert_eq!(recover["security"], serde_json::json!([{}]));
        assert!(recover["responses"]["429"].is_object());
        for schema in ["PutRecoveryKit", "RecoveryKitInfo", "Recover", "Recovered"] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "{schema} is described"
            );
        }
    }
}
