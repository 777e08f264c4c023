//! CBOR request bodies (checked content type, bounded size, streamed) and responses.
//!
//! A body is read as it streams in and refused as soon as it passes its limit (or when its
//! `Content-Length` already says it will), never buffered whole first. Small bodies (most
//! endpoints: [`SMALL_BODY_BYTES`]) are read at once by [`Cbor`]; the two endpoints that take
//! large ones (push, snapshot) take a [`CborBody`] and read it only after the checks that
//! cost nothing (rate limit, membership). A large body first reserves its size from the
//! relay's body memory ([`AppState::body_memory`], `--body-memory-bytes`) and keeps it until
//! the request is done, so concurrent large pushes queue instead of piling up in memory; one
//! that can't get room within [`BODY_MEMORY_WAIT`] is refused with `unavailable`.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_proto::{CBOR, ErrorCode};
use futures_util::StreamExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::OwnedSemaphorePermit;

use crate::error::ApiError;
use crate::state::AppState;

/// Bodies up to this size are read without reserving body memory, and are all that the
/// endpoints other than push and snapshot accept.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// How long a large body waits for room in the body memory.
pub const BODY_MEMORY_WAIT: Duration = Duration::from_secs(30);

/// A small CBOR body of type `T` (at most [`SMALL_BODY_BYTES`]), read and decoded.
#[derive(Debug)]
pub struct Cbor<T>(pub T);

impl<T: DeserializeOwned + Send + 'static> FromRequest<Arc<AppState>> for Cbor<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        let body = CborBody::<T>::from_request(req, state).await?;
        let (value, _room) = body.read(state, SMALL_BODY_BYTES).await?;
        Ok(Cbor(value))
    }
}

/// A CBOR body of type `T` not read yet: the handler checks what it can first, then
/// [`read`](Self::read)s it. The content type is checked up front.
#[derive(Debug)]
pub struct CborBody<T> {
    body: Body,
    length: Option<u64>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned + Send + 'static> FromRequest<Arc<AppState>> for CborBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &Arc<AppState>) -> Result<Self, Self::Rejection> {
        check_content_type(req.headers())?;
        let length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        Ok(CborBody {
            body: req.into_body(),
            length,
            _t: PhantomData,
        })
    }
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.split(';').next().map(str::trim) != Some(CBOR) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!("bodies are {CBOR}"),
        ));
    }
    Ok(())
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        ErrorCode::PayloadTooLarge,
        format!("request bodies are at most {limit} bytes here"),
    )
}

/// Room reserved in the relay's body memory for one large body; given back on drop.
#[derive(Debug)]
pub struct BodyRoom(#[allow(dead_code)] Option<OwnedSemaphorePermit>);

impl<T: DeserializeOwned + Send + 'static> CborBody<T> {
    /// Read the body (at most `limit` bytes, within the body timeout) and decode it. Keep
    /// the returned room until the decoded value is dropped.
    pub async fn read(self, state: &AppState, limit: usize) -> Result<(T, BodyRoom), ApiError> {
        if self.length.is_some_and(|n| n > limit as u64) {
            return Err(too_large(limit));
        }
        // A body of unknown length may be as large as the limit.
        let expected = self.length.map(|n| n as usize).unwrap_or(limit);
        let room = if expected > SMALL_BODY_BYTES {
            BodyRoom(Some(reserve(state, expected).await?))
        } else {
            BodyRoom(None)
        };
        let bytes = collect(
            self.body,
            self.length,
            limit,
            state.limits.body_read_timeout,
        )
        .await?;
        let value = if bytes.len() > SMALL_BODY_BYTES {
            // Decoding megabytes takes a while: off the async workers.
            tokio::task::spawn_blocking(move || duet_proto::from_cbor::<T>(&bytes))
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "decoding a body panicked");
                    ApiError::new(ErrorCode::Internal, "decoding the body failed")
                })?
        } else {
            duet_proto::from_cbor::<T>(&bytes)
        }
        .map_err(|e| ApiError::new(ErrorCode::MalformedBody, e.to_string()))?;
        Ok((value, room))
    }
}

/// Reserve `bytes` of body memory, waiting at most [`BODY_MEMORY_WAIT`].
async fn reserve(state: &AppState, bytes: usize) -> Result<OwnedSemaphorePermit, ApiError> {
    let n = u32::try_from(bytes).unwrap_or(u32::MAX);
    match tokio::time::timeout(
        BODY_MEMORY_WAIT,
        state.body_memory.clone().acquire_many_owned(n),
    )
    .await
    {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) | Err(_) => {
            state.metrics.large_bodies_refused.inc();
            let mut e = ApiError::new(
                ErrorCode::Unavailable,
                "the relay is busy with other large requests; retry shortly",
            );
            e.retry_after_secs = Some(2);
            Err(e)
        }
    }
}

/// Read a body as it streams in: refused past `limit` bytes (nothing more is read) or when
/// it doesn't arrive within `timeout`.
async fn collect(
    body: Body,
    length: Option<u64>,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::with_capacity(length.map(|n| n as usize).unwrap_or(0).min(limit));
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request body did not arrive within {} s",
                        timeout.as_secs()
                    ),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(ApiError::new(
                    ErrorCode::MalformedBody,
                    format!("the request body could not be read: {e}"),
                ));
            }
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > limit {
                    return Err(too_large(limit));
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
    Ok(Bytes::from(buf))
}

/// A CBOR response with a status.
#[derive(Debug)]
pub struct CborResponse<T>(pub StatusCode, pub T);

impl<T: Serialize> IntoResponse for CborResponse<T> {
    fn into_response(self) -> Response {
        (
            self.0,
            [(header::CONTENT_TYPE, CBOR)],
            duet_proto::to_cbor(&self.1),
        )
            .into_response()
    }
}
