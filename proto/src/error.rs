//! Error codes: stable strings a client can switch on. Each maps to one HTTP status.

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $s:literal, $status:literal;)*) => {
        /// Every failure the relay reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// All codes, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The stable string form.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $s,)* }
            }

            /// The HTTP status this code is sent with.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$name => $status,)* }
            }

            /// Parse the string form (unknown codes from a newer relay map to `None`).
            pub fn parse(s: &str) -> Option<ErrorCode> {
                match s { $($s => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

codes! {
    /// The body is not valid CBOR of the expected shape.
    MalformedBody = "malformed_body", 400;
    /// A field is out of range (e.g. a page size of 0, a bad id).
    InvalidRequest = "invalid_request", 400;
    /// The path names a protocol version this relay does not speak.
    UnknownVersion = "unknown_version", 400;
    /// The cursor is beyond the space's head.
    CursorAhead = "cursor_ahead", 400;
    /// The request line or a header is not valid HTTP/1.1 (the connection then closes).
    MalformedRequest = "malformed_request", 400;
    /// No bearer token, or a token the relay doesn't know.
    Unauthorized = "unauthorized", 401;
    /// The device was revoked; it must register again to be re-invited.
    DeviceRevoked = "device_revoked", 401;
    /// No such thing — or the caller is not a member of the space (never 403, so
    /// non-members learn nothing about which spaces exist).
    NotFound = "not_found", 404;
    /// The id is taken (a blob id reused with other bytes), or the request contradicts the
    /// state (joining a person's devices from a device that already belongs elsewhere).
    Conflict = "conflict", 409;
    /// An attachment upload's `offset` is not what the relay has received: ask
    /// `GET …/upload` and go on from there.
    OffsetMismatch = "offset_mismatch", 409;
    /// A pushed blob is sealed under a key epoch older than one the space has already
    /// moved to: fetch the new key (pull your personal space) and seal again.
    StaleEpoch = "stale_epoch", 409;
    /// The relationship doesn't allow it: a shared journal already has its two people, an
    /// invite of the wrong kind for this space, a device that isn't yours.
    NotAllowed = "not_allowed", 403;
    /// The invite has expired.
    InviteExpired = "invite_expired", 410;
    /// The invite was already used.
    InviteUsed = "invite_used", 410;
    /// Too many wrong attempts: the invite is burned.
    InviteBurned = "invite_burned", 410;
    /// The join token does not match the invite.
    InviteWrongToken = "invite_wrong_token", 403;
    /// This device has created as many spaces as the relay allows one device.
    TooManySpaces = "too_many_spaces", 403;
    /// This device has as many pending (unused, unexpired) invites as the relay allows;
    /// wait for one to be used or to expire.
    TooManyInvites = "too_many_invites", 403;
    /// This relay registers devices only with its operator's registration token
    /// (`Authorization: Bearer <registration token>` on `POST /v1/devices`).
    RegistrationClosed = "registration_closed", 403;
    /// The request body did not arrive in time (the connection then closes).
    RequestTimeout = "request_timeout", 408;
    /// The request body is larger than the relay accepts.
    PayloadTooLarge = "payload_too_large", 413;
    /// One blob is larger than the relay accepts.
    BlobTooLarge = "blob_too_large", 413;
    /// More blobs in one push than the relay accepts.
    TooManyBlobs = "too_many_blobs", 413;
    /// The attachment is larger than the relay (or this device) accepts.
    AttachmentTooLarge = "attachment_too_large", 413;
    /// The space's storage quota is used up.
    QuotaExceeded = "quota_exceeded", 413;
    /// The body is not `application/cbor`.
    UnsupportedMediaType = "unsupported_media_type", 415;
    /// Too many requests from this device (pushes) or this address (registrations); retry
    /// after the `Retry-After` seconds.
    RateLimited = "rate_limited", 429;
    /// The `Range` asks for bytes the attachment doesn't have.
    RangeNotSatisfiable = "range_not_satisfiable", 416;
    /// The request line is longer than the relay accepts (the connection then closes).
    UriTooLong = "uri_too_long", 414;
    /// The request's headers are larger than the relay accepts (the connection then closes).
    HeadersTooLarge = "headers_too_large", 431;
    /// A bug or a storage failure in the relay.
    Internal = "internal", 500;
    /// The relay is shutting down, busy (too many large bodies at once) or its storage is
    /// unreachable; retry later (after `Retry-After` seconds when it says).
    Unavailable = "unavailable", 503;
    /// The relay holds as many connections as it allows, in all or from this address; retry
    /// after the `Retry-After` seconds (the connection then closes).
    TooManyConnections = "too_many_connections", 503;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
            assert_eq!(ErrorCode::parse(c.as_str()), Some(*c));
            assert!((400..600).contains(&c.http_status()));
            // The JSON form is the stable string.
            assert_eq!(
                serde_json::to_string(c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
    }
}
