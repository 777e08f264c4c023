//! `Path` and `Query` extractors whose rejections are typed errors. axum's own answer a
//! plain-text 400 (`Failed to deserialize query string…`), which breaks the rule that every
//! failure carries a stable code.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use duet_proto::ErrorCode;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A rejection of axum's as a typed error: `invalid_request` for the client's mistakes.
pub fn typed_rejection(rejection: impl IntoResponse + std::fmt::Display) -> ApiError {
    let message = rejection.to_string();
    if rejection.into_response().status().is_client_error() {
        ApiError::invalid(message)
    } else {
        tracing::error!(error = %message, "extractor failed");
        ApiError::new(ErrorCode::Internal, "request extraction failed")
    }
}

/// A wrapper around one of axum's parts extractors that turns its rejection into a typed
/// error; both wrappers are the same code but for the type they wrap.
macro_rules! typed_extractor {
    ($(#[$doc:meta])* $name:ident wraps $axum:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<T>(pub T);

        impl<T, S> FromRequestParts<S> for $name<T>
        where
            T: DeserializeOwned + Send,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                axum::extract::$axum::<T>::from_request_parts(parts, state)
                    .await
                    .map(|x| $name(x.0))
                    .map_err(typed_rejection)
            }
        }
    };
}

typed_extractor!(
    /// Path parameters (e.g. a space id that must be a UUID).
    Path wraps Path
);
typed_extractor!(
    /// Query parameters (e.g. a cursor that must be a number).
    Query wraps Query
);
