//! Bearer tokens: random, shown to the device once, stored only as a SHA-256 hash (they are
//! 256-bit random strings, so a plain hash is enough — no password stretching needed).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ApiError;
use crate::state::AppState;
use duet_proto::ErrorCode;

/// Prefix that makes a leaked token easy to recognise (and to scan for) in logs.
const TOKEN_PREFIX: &str = "duet_";

pub fn new_token() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

pub fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

pub fn hash_bytes(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// Compare without an early exit, so timing doesn't reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The authenticated device making a request.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    pub device: Uuid,
    /// The person the device acts for.
    pub person: Uuid,
}

/// Resolve a token to a live device.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let dev = state
        .store
        .device_by_token(hash_token(token))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown token"))?;
    if dev.revoked {
        return Err(ApiError::new(
            ErrorCode::DeviceRevoked,
            "this device was revoked",
        ));
    }
    Ok(Caller {
        device: dev.id,
        person: dev.person,
    })
}

impl FromRequestParts<std::sync::Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "missing bearer token"))?;
        let token = bearer_token(header).ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "expected `Authorization: Bearer <token>`",
            )
        })?;
        authenticate(state, token).await
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme name is
/// case-insensitive (RFC 9110 §11.1), so `bearer` and `BEARER` are accepted too.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn tokens_are_random_and_hash_stably() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert!(constant_time_eq(&hash_token(&a), &hash_token(&a)));
        assert!(!constant_time_eq(&hash_token(&a), &hash_token(&b)));
        assert!(!constant_time_eq(b"ab", b"abc"));
    }
}
