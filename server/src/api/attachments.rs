//! Attachments (issue 11, `duet_proto::attachments`): uploads in resumable pieces, downloads
//! with byte ranges, and the references that keep an object. Members of the space only
//! (others hear `not_found`, as for blobs). The relay sees sealed bytes, their hash and
//! size, and opaque references — never a key, a name or a type.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_proto::ErrorCode;
use duet_proto::attachments::{AttachmentInfo, UploadStatus, parse_hash, parse_ref};
use futures_util::StreamExt;
use serde::Deserialize;
use uuid::Uuid;

use super::member::{Member, SpacePath};
use super::responses::{BadRequest, NotFound, Unauthorized};
use crate::attachments::object_key;
use crate::attachments::range::{Wanted, wanted};
use crate::attachments::upload::{Upload, object_error, receive};
use crate::cbor::CborResponse;
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::{AppState, now_ms};
use crate::storage::{AttachmentRef, Hash, ObjectRef, UploadState};

/// The media type of sealed bytes.
const OCTETS: &str = "application/octet-stream";

/// The attachment routes, under `/v1`.
pub fn routes() -> axum::Router<Arc<AppState>> {
    use axum::routing;
    axum::Router::new()
        .route(
            "/spaces/{space}/attachments/{hash}",
            routing::get(download).head(head),
        )
        .route(
            "/spaces/{space}/attachments/{hash}/upload",
            routing::patch(upload).get(upload_status),
        )
        .route(
            "/spaces/{space}/attachments/{hash}/refs/{ref}",
            routing::put(add_ref).delete(release_ref),
        )
}

/// Sealed bytes on the wire (for the OpenAPI document).
#[derive(Debug, utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct SealedBytes(pub Vec<u8>);

/// `/v1/spaces/{space}/attachments/{hash}…`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ObjectPath {
    space: Uuid,
    /// BLAKE3 of the sealed bytes: 64 hex digits
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    hash: String,
}

fn hash_of(hex: &str) -> Result<Hash, ApiError> {
    parse_hash(hex).ok_or_else(|| ApiError::invalid("an attachment hash is 64 hex digits"))
}

fn ref_of(hex: &str) -> Result<AttachmentRef, ApiError> {
    parse_ref(hex).ok_or_else(|| ApiError::invalid("an attachment reference is 32 hex digits"))
}

impl SpacePath for ObjectPath {
    fn space(&self) -> Uuid {
        self.space
    }

    fn validate(&self) -> Result<(), ApiError> {
        hash_of(&self.hash).map(drop)
    }
}

/// `/v1/spaces/{space}/attachments/{hash}/refs/{ref}`
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RefPath {
    space: Uuid,
    /// BLAKE3 of the sealed bytes: 64 hex digits
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    hash: String,
    /// An opaque reference: 32 hex digits
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    r#ref: String,
}

impl SpacePath for RefPath {
    fn space(&self) -> Uuid {
        self.space
    }

    fn validate(&self) -> Result<(), ApiError> {
        hash_of(&self.hash)?;
        ref_of(&self.r#ref).map(drop)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// Where this body's bytes go: what the relay has received so far.
    pub offset: u64,
    /// The sealed size of the whole attachment.
    pub size: u64,
    /// The reference the finished upload adds: 32 hex digits.
    #[param(pattern = "^[0-9a-fA-F]{32}$")]
    pub r#ref: String,
}

/// Upload sealed bytes `offset..offset+len` of an attachment of `size` bytes. The relay
/// keeps what arrives (a dropped connection loses only what was in flight; ask
/// `GET …/upload`); the last byte makes it check the hash, store the object and add the
/// reference. An object the space holds already answers `complete` at once, body unread.
#[utoipa::path(patch, path = "/v1/spaces/{space}/attachments/{hash}/upload", tag = "attachments",
    operation_id = "upload_attachment",
    params(ObjectPath, UploadParams),
    request_body(content = SealedBytes, content_type = "application/octet-stream"),
    responses((status = 200, body = UploadStatus, content_type = "application/cbor"),
              (status = 400, description = "A bad hash, reference or size, bytes past the size, or bytes that don't match the hash (the upload is discarded)", body = duet_proto::ErrorBody),
              (status = 408, description = "The body stalled; the bytes before are kept", body = duet_proto::ErrorBody),
              (status = 409, description = "`offset_mismatch`: not what the relay has received; `conflict`: another size than the upload under way", body = duet_proto::ErrorBody),
              (status = 413, description = "`attachment_too_large`, or `quota_exceeded` for the space's attachments", body = duet_proto::ErrorBody),
              (status = 415, body = duet_proto::ErrorBody),
              (status = 503, description = "Another request is uploading this attachment", body = duet_proto::ErrorBody),
              Unauthorized, NotFound),
    security(("bearer" = [])))]
pub async fn upload(
    Member {
        state,
        caller,
        space,
        path,
        ..
    }: Member<ObjectPath>,
    Query(q): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let hash = hash_of(&path.hash)?;
    let r = ref_of(&q.r#ref)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    if ct.is_some_and(|ct| ct.split(';').next().map(str::trim) != Some(OCTETS)) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("attachment bytes are {OCTETS}"),
        ));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let up = Upload {
        space,
        hash,
        size: q.size,
        offset: q.offset,
        r,
        device: caller.device,
        length,
    };
    let got = receive(&state, up, body).await?;
    let mut resp = CborResponse(StatusCode::OK, got.status).into_response();
    if !got.body_read {
        // An unread body would make hyper drop the connection silently after the answer.
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(resp)
}

/// How far an upload has come: the bytes received (on this relay node), or `complete` once
/// the object is stored.
#[utoipa::path(get, path = "/v1/spaces/{space}/attachments/{hash}/upload", tag = "attachments",
    operation_id = "attachment_upload_status",
    params(ObjectPath),
    responses((status = 200, body = UploadStatus, content_type = "application/cbor"),
              (status = 404, description = "Neither an upload under way nor a stored object", body = duet_proto::ErrorBody),
              BadRequest, Unauthorized),
    security(("bearer" = [])))]
pub async fn upload_status(
    Member {
        state, space, path, ..
    }: Member<ObjectPath>,
) -> Result<CborResponse<UploadStatus>, ApiError> {
    let hash = hash_of(&path.hash)?;
    let status = match state.store.upload_state(space, hash).await? {
        None => return Err(ApiError::not_found()),
        Some(UploadState::Stored { size }) => UploadStatus {
            size,
            received: size,
            complete: true,
        },
        Some(UploadState::Underway { size, .. }) => {
            let received = state
                .attachments
                .partial
                .received(space, &hash)
                .await
                .map_err(object_error)?;
            UploadStatus {
                size,
                received: received.min(size),
                complete: false,
            }
        }
    };
    Ok(CborResponse(StatusCode::OK, status))
}

/// The stored object's size and the part a `Range` header asks for; `Err` for none stored
/// or a range it doesn't have.
async fn locate(
    state: &AppState,
    space: Uuid,
    path: &ObjectPath,
    headers: &HeaderMap,
) -> Result<(Hash, u64, Option<std::ops::Range<u64>>), Response> {
    let hash = hash_of(&path.hash).map_err(IntoResponse::into_response)?;
    let size = state
        .store
        .attachment_size(space, hash)
        .await
        .map_err(|e| ApiError::from(e).into_response())?
        .ok_or_else(|| ApiError::not_found().into_response())?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    match wanted(range, size) {
        Wanted::Whole => Ok((hash, size, None)),
        Wanted::Part(r) => Ok((hash, size, Some(r))),
        Wanted::Unsatisfiable => {
            let mut resp = ApiError::new(
                ErrorCode::RangeNotSatisfiable,
                format!("the attachment has {size} bytes"),
            )
            .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            Err(resp)
        }
    }
}

/// The headers of a download of `part` (or the whole) of an object of `size` bytes.
fn download_head(size: u64, part: Option<&std::ops::Range<u64>>) -> Response {
    let (status, len) = match part {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.end - r.start),
        None => (StatusCode::OK, size),
    };
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(OCTETS));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Some(r) = part
        && let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    resp
}

/// The sealed bytes of a stored attachment, streamed from the object store; one
/// `Range: bytes=a-b` (or `a-`, `-n`) gives `206` with `Content-Range`.
#[utoipa::path(get, path = "/v1/spaces/{space}/attachments/{hash}", tag = "attachments",
    operation_id = "download_attachment",
    params(ObjectPath,
           ("Range" = Option<String>, Header, description = "One byte range: `bytes=a-b`, `bytes=a-` or `bytes=-n`")),
    responses((status = 200, description = "The whole object", body = SealedBytes, content_type = "application/octet-stream"),
              (status = 206, description = "The range asked for", body = SealedBytes, content_type = "application/octet-stream"),
              (status = 416, description = "A range the object doesn't have", body = duet_proto::ErrorBody),
              BadRequest, Unauthorized, NotFound),
    security(("bearer" = [])))]
pub async fn download(
    Member {
        state, space, path, ..
    }: Member<ObjectPath>,
    headers: HeaderMap,
) -> Response {
    let (hash, size, part) = match locate(&state, space, &path, &headers).await {
        Ok(found) => found,
        Err(resp) => return resp,
    };
    let range = part.clone().unwrap_or(0..size);
    let stream = match state
        .attachments
        .objects
        .get_range(&object_key(space, &hash), range)
        .await
    {
        Ok(s) => s,
        Err(e) => return object_error(e).into_response(),
    };
    let served = state.metrics.attachment_bytes_served.clone();
    let body = Body::from_stream(stream.inspect(move |chunk| {
        if let Ok(b) = chunk {
            served.inc_by(b.len() as u64);
        }
    }));
    let mut resp = download_head(size, part.as_ref());
    *resp.body_mut() = body;
    resp
}

/// The headers of a download (size, `Accept-Ranges`, `Content-Range`), without the bytes.
#[utoipa::path(head, path = "/v1/spaces/{space}/attachments/{hash}", tag = "attachments",
    operation_id = "head_attachment",
    params(ObjectPath,
           ("Range" = Option<String>, Header, description = "One byte range, as for GET")),
    responses((status = 200, description = "Stored; `Content-Length` is its size"),
              (status = 206, description = "The range asked for"),
              (status = 400, description = "A bad hash (no body: HEAD)"),
              (status = 401, description = "No or a bad token (no body: HEAD)"),
              (status = 404, description = "Not stored (no body: HEAD)"),
              (status = 416, description = "A range the object doesn't have (no body: HEAD)")),
    security(("bearer" = [])))]
pub async fn head(
    Member {
        state, space, path, ..
    }: Member<ObjectPath>,
    headers: HeaderMap,
) -> Response {
    match locate(&state, space, &path, &headers).await {
        Ok((_, size, part)) => download_head(size, part.as_ref()),
        Err(resp) => resp,
    }
}

/// Add a reference to an object the space holds (again: no change), so that it stays
/// until that reference is released too. `not_found` when the relay doesn't hold it:
/// upload it then.
#[utoipa::path(put, path = "/v1/spaces/{space}/attachments/{hash}/refs/{ref}", tag = "attachments",
    operation_id = "add_attachment_ref",
    params(RefPath),
    responses((status = 200, body = AttachmentInfo, content_type = "application/cbor"),
              (status = 404, description = "The space doesn't hold this object", body = duet_proto::ErrorBody),
              BadRequest, Unauthorized),
    security(("bearer" = [])))]
pub async fn add_ref(
    Member {
        state, space, path, ..
    }: Member<RefPath>,
) -> Result<CborResponse<AttachmentInfo>, ApiError> {
    let (hash, r) = (hash_of(&path.hash)?, ref_of(&path.r#ref)?);
    let size = state
        .store
        .add_ref(ObjectRef::new(space, hash, r), now_ms())
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such attachment; upload it"))?;
    Ok(CborResponse(StatusCode::OK, AttachmentInfo { size }))
}

/// Release a reference (`204` also when it was never there). The last one frees the
/// object's bytes.
#[utoipa::path(delete, path = "/v1/spaces/{space}/attachments/{hash}/refs/{ref}", tag = "attachments",
    operation_id = "release_attachment_ref",
    params(RefPath),
    responses((status = 204, description = "Released"),
              (status = 503, description = "The object is busy (an upload of it); retry", body = duet_proto::ErrorBody),
              BadRequest, Unauthorized, NotFound),
    security(("bearer" = [])))]
pub async fn release_ref(
    Member {
        state, space, path, ..
    }: Member<RefPath>,
) -> Result<StatusCode, ApiError> {
    let (hash, r) = (hash_of(&path.hash)?, ref_of(&path.r#ref)?);
    let att = &state.attachments;
    // Not while this node finishes an upload of the same object.
    let Some(_held) = att.locks.lock(space, hash, Duration::from_secs(30)).await else {
        let mut e = ApiError::new(ErrorCode::Unavailable, "the attachment is busy; retry");
        e.retry_after_secs = Some(2);
        return Err(e);
    };
    if let Some(size) = state
        .store
        .release_ref(ObjectRef::new(space, hash, r))
        .await?
    {
        att.objects
            .delete(&object_key(space, &hash))
            .await
            .map_err(object_error)?;
        state.metrics.attachment_bytes_freed.inc_by(size);
        tracing::info!(%space, size, "attachment freed");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use utoipa::OpenApi;

    /// The six operations are in the relay's document, with their media types.
    #[test]
    fn the_openapi_document_describes_attachments() {
        let doc = serde_json::to_value(crate::api::ApiDoc::openapi()).unwrap();
        let base = "/v1/spaces/{space}/attachments/{hash}";
        let op = |path: &str, method: &str| doc["paths"][path][method].clone();
        let upload = op(&format!("{base}/upload"), "patch");
        assert_eq!(upload["operationId"], "upload_attachment");
        assert!(upload["requestBody"]["content"]["application/octet-stream"].is_object());
        assert!(upload["responses"]["409"].is_object());
        assert_eq!(
            op(&format!("{base}/upload"), "get")["operationId"],
            "attachment_upload_status"
        );
        let download = op(base, "get");
        assert!(download["responses"]["206"]["content"]["application/octet-stream"].is_object());
        assert!(download["responses"]["416"].is_object());
        assert_eq!(op(base, "head")["operationId"], "head_attachment");
        let refs = format!("{base}/refs/{{ref}}");
        assert_eq!(op(&refs, "put")["operationId"], "add_attachment_ref");
        assert_eq!(op(&refs, "delete")["operationId"], "release_attachment_ref");
        let params = upload["parameters"].as_array().unwrap();
        for name in ["offset", "size", "ref"] {
            assert!(
                params
                    .iter()
                    .any(|p| p["name"] == name && p["in"] == "query"),
                "{name} is a query parameter"
            );
        }
        // The path parameters are the path types' (`ObjectPath`, `RefPath`) fields.
        let released = op(&refs, "delete");
        let path_params: Vec<_> = released["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| p["name"].clone())
            .collect();
        assert_eq!(path_params, ["space", "hash", "ref"]);
        assert_eq!(
            released["parameters"][1]["schema"]["pattern"],
            "^[0-9a-fA-F]{64}$"
        );
    }
}
