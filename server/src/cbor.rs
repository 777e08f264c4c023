//! CBOR request bodies (checked content type, bounded size) and responses.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_proto::{CBOR, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// A CBOR body of type `T`.
#[derive(Debug)]
pub struct Cbor<T>(pub T);

impl<T: DeserializeOwned> FromRequest<std::sync::Arc<AppState>> for Cbor<T> {
    type Rejection = ApiError;

    async fn from_request(
        req: Request,
        state: &std::sync::Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if ct.split(';').next().map(str::trim) != Some(CBOR) {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                format!("bodies are {CBOR}"),
            ));
        }
        let limit = state.limits.max_body_bytes;
        let bytes: Bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("request bodies are at most {limit} bytes"),
                )
            })?;
        duet_proto::from_cbor(&bytes)
            .map(Cbor)
            .map_err(|e| ApiError::new(ErrorCode::MalformedBody, e.to_string()))
    }
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
