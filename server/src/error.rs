//! The relay's error response: a stable code, its HTTP status, a JSON body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use duet_proto::{ErrorBody, ErrorCode};

use crate::storage::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_secs: None,
        }
    }

    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such resource")
    }

    /// `invalid_request`: the request breaks a rule of the protocol.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            StoreError::QuotaExceeded => ApiError::new(
                ErrorCode::QuotaExceeded,
                "the space's storage quota is used up",
            ),
            StoreError::CursorAhead { after, head } => ApiError::new(
                ErrorCode::CursorAhead,
                format!("cursor {after} is beyond the head {head}"),
            ),
            e @ StoreError::StaleEpoch { .. } => {
                ApiError::new(ErrorCode::StaleEpoch, e.to_string())
            }
            e @ StoreError::EpochJump { .. } => ApiError::invalid(e.to_string()),
            StoreError::TooManySpaces { max } => ApiError::new(
                ErrorCode::TooManySpaces,
                format!("a device may create at most {max} spaces"),
            ),
            StoreError::TooManyInvites { max } => ApiError::new(
                ErrorCode::TooManyInvites,
                format!(
                    "a device may hold at most {max} pending invites; wait for one to be used or to expire"
                ),
            ),
            // The space's own storage cap, as its byte quota is: the same code.
            StoreError::TooManyAnswers { max } => ApiError::new(
                ErrorCode::QuotaExceeded,
                format!("a space holds at most {max} prompt answers"),
            ),
            StoreError::DropEpoch { epoch, current } if epoch < current => ApiError::new(
                ErrorCode::StaleEpoch,
                format!(
                    "key epoch {epoch} is older than this space's epoch {current}: drop the current key"
                ),
            ),
            StoreError::DropEpoch { epoch, current } => ApiError::new(
                ErrorCode::Conflict,
                format!(
                    "key epoch {epoch} is not announced (this space is at epoch {current}): announce it first (PUT /v1/spaces/{{space}}/epoch), then drop its key"
                ),
            ),
            StoreError::Backend(m) => {
                // Storage details stay in the log, not in the response.
                tracing::error!(error = %m, "storage failure");
                ApiError::new(ErrorCode::Internal, "storage failure")
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let Some(v) = self
            .retry_after_secs
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}
