//! Key drops: after a rotation one of a person's devices must not follow (a lost phone,
//! revoked), the rotating device seals the new space key to each remaining member device's
//! own exchange key and leaves one drop per device here; each device fetches only its own.
//! The relay sees who drops for whom and when, never a key, and never logs a drop's bytes.

use axum::http::StatusCode;
use duet_proto::limits::{MAX_KEY_DROP_BYTES, MAX_KEY_DROPS};
use duet_proto::{HeldDrops, KeyDrops};
use uuid::Uuid;

use super::member::{Member, SpacePath};
use super::responses::NotFound;
use crate::cbor::{Cbor, CborResponse};
use crate::error::ApiError;
use crate::state::now_ms;

/// The path of `PUT /v1/spaces/{space}/keys/{epoch}`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct EpochPath {
    space: Uuid,
    /// The key epoch the drops carry: the space's announced one
    epoch: u32,
}

impl SpacePath for EpochPath {
    fn space(&self) -> Uuid {
        self.space
    }
}

/// Leave the space's key of `epoch` — its current, announced epoch — sealed to other member
/// devices, one drop each. A drop for a device that isn't a member of the space (or is the
/// caller) is skipped; the first drop kept for a device and epoch stays, so a retry changes
/// nothing.
#[utoipa::path(put, path = "/v1/spaces/{space}/keys/{epoch}", tag = "keys",
    operation_id = "put_key_drops",
    params(EpochPath),
    request_body(content = KeyDrops, content_type = "application/cbor"),
    responses((status = 204),
              (status = 400, description = "Not 1 to 64 drops of 1 to 128 bytes each", body = duet_proto::ErrorBody),
              (status = 409, description = "An epoch older than the space's (`stale_epoch`), or one not announced yet (`conflict`)", body = duet_proto::ErrorBody),
              NotFound),
    security(("bearer" = [])))]
pub async fn put(
    Member {
        state,
        caller,
        space,
        path: EpochPath { epoch, .. },
        ..
    }: Member<EpochPath>,
    Cbor(req): Cbor<KeyDrops>,
) -> Result<StatusCode, ApiError> {
    if !duet_proto::keys::are_key_drops(&req) {
        return Err(ApiError::invalid(format!(
            "key drops are 1 to {MAX_KEY_DROPS} drops of 1 to {MAX_KEY_DROP_BYTES} bytes each"
        )));
    }
    let offered = req.drops.len();
    let stored = state
        .store
        .put_key_drops(space, epoch, caller.device, req.drops, now_ms())
        .await?;
    state.metrics.key_drops_stored.inc_by(stored);
    tracing::info!(%space, epoch, by = %caller.device, offered, stored, "key drops left");
    Ok(StatusCode::NO_CONTENT)
}

/// The key drops left for the calling device in the space, oldest epoch first, each with
/// the device that left it (an empty list when there are none).
#[utoipa::path(get, path = "/v1/spaces/{space}/keys", tag = "keys",
    operation_id = "list_key_drops",
    params(("space" = Uuid, Path)),
    responses((status = 200, body = HeldDrops, content_type = "application/cbor"), NotFound),
    security(("bearer" = [])))]
pub async fn list(
    Member {
        state,
        caller,
        space,
        ..
    }: Member,
) -> Result<CborResponse<HeldDrops>, ApiError> {
    let drops = state.store.key_drops(space, caller.device).await?;
    Ok(CborResponse(StatusCode::OK, HeldDrops { drops }))
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// Both operations are in the relay's document, with the wire types they carry.
    #[test]
    fn the_openapi_document_describes_key_drops() {
        let doc = serde_json::to_value(crate::api::ApiDoc::openapi()).unwrap();
        let op = |path: &str, method: &str| doc["paths"][path][method]["operationId"].clone();
        assert_eq!(
            op("/v1/spaces/{space}/keys/{epoch}", "put"),
            "put_key_drops"
        );
        assert_eq!(op("/v1/spaces/{space}/keys", "get"), "list_key_drops");
        for schema in ["KeyDrops", "KeyDrop", "HeldDrops", "HeldDrop"] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "{schema} is described"
            );
        }
        let sealed = &doc["components"]["schemas"]["KeyDrop"]["properties"]["sealed"];
        assert_eq!(sealed["maxItems"], 128);
    }
}
