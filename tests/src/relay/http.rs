//! Raw HTTP to the relay: one request, its body and its answer, and why a call failed.

use std::time::Duration;

use duet_proto::{CBOR, ErrorBody, ErrorCode};
use reqwest::Method;

/// An HTTP client for the relay: no proxy (traffic stays on loopback), bounded waits.
/// TLS is configured explicitly (ring, no roots: the kit never speaks https) rather than
/// through a process-wide default provider, which would hide a client in duet-core that
/// forgot its own configuration.
pub fn http_client() -> reqwest::Client {
    let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap_or_else(|e| panic!("TLS configuration: {e}"))
    .with_root_certificates(rustls::RootCertStore::empty())
    .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_else(|e| panic!("building the HTTP client: {e}"))
}

/// A request body and its content type.
#[derive(Debug, Clone)]
pub struct Body {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Body {
    /// A CBOR body.
    pub fn cbor<T: serde::Serialize>(v: &T) -> Body {
        Body {
            content_type: CBOR.into(),
            bytes: duet_proto::to_cbor(v),
        }
    }

    /// Any bytes with any content type.
    pub fn raw(content_type: &str, bytes: impl Into<Vec<u8>>) -> Body {
        Body {
            content_type: content_type.into(),
            bytes: bytes.into(),
        }
    }
}

/// A response as received.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<String>,
    /// The `Connection` header (`close` after a refused request body).
    pub connection: Option<String>,
    /// Every header, for the ones without a field (a range answer's).
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// A header's value, when it is there and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `Content-Length` header as a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.parse().ok()
    }

    /// The typed error body, when this is one.
    pub fn error(&self) -> Option<ErrorBody> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The error code, when this is a typed error.
    pub fn code(&self) -> Option<ErrorCode> {
        self.error().map(|e| e.code)
    }

    /// Decode a CBOR body.
    pub fn cbor<T: serde::de::DeserializeOwned>(&self) -> Result<T, ClientError> {
        duet_proto::from_cbor(&self.body).map_err(|e| ClientError::Unexpected {
            status: self.status,
            body: format!("undecodable CBOR body: {e}"),
        })
    }

    /// `Ok(self)` on a 2xx; the typed error otherwise.
    pub fn ok(self) -> Result<Response, ClientError> {
        if (200..300).contains(&self.status) {
            return Ok(self);
        }
        Err(match self.error() {
            Some(e) => ClientError::Api {
                status: self.status,
                code: e.code,
                message: e.message,
                retry_after: self.retry_after.as_deref().and_then(|s| s.parse().ok()),
            },
            None => ClientError::Unexpected {
                status: self.status,
                body: String::from_utf8_lossy(&self.body).into_owned(),
            },
        })
    }
}

/// Send one request: `path` is appended to `base` (`http://127.0.0.1:PORT`); `token`
/// becomes `Authorization: Bearer <token>`.
pub async fn send(
    http: &reqwest::Client,
    base: &str,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Body>,
) -> Result<Response, ClientError> {
    send_request(http.request(method, format!("{base}{path}")), token, body).await
}

/// Send a request built with whatever else it needs (a `Range` header), adding `token` and
/// `body` as [`send`] does.
pub async fn send_request(
    mut req: reqwest::RequestBuilder,
    token: Option<&str>,
    body: Option<Body>,
) -> Result<Response, ClientError> {
    if let Some(t) = token {
        req = req.header(reqwest::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(b) = body {
        req = req
            .header(reqwest::header::CONTENT_TYPE, b.content_type)
            .body(b.bytes);
    }
    let resp = req.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.map_err(transport)?.to_vec();
    let header = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Ok(Response {
        status,
        content_type: header(reqwest::header::CONTENT_TYPE),
        retry_after: header(reqwest::header::RETRY_AFTER),
        connection: header(reqwest::header::CONNECTION),
        headers,
        body,
    })
}

pub(crate) fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientError {
    /// The relay answered with a typed error.
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
        retry_after: Option<u64>,
    },
    /// The relay answered with something that is not a typed error (or undecodable).
    Unexpected { status: u16, body: String },
    /// No answer: refused, reset, timed out (e.g. the relay was killed mid-request).
    Transport(String),
}

impl ClientError {
    /// The typed error code, if the relay sent one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status, if the relay answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            ClientError::Transport(_) => None,
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Api {
                status,
                code,
                message,
                ..
            } => write!(f, "{status} {code}: {message}"),
            ClientError::Unexpected { status, body } => write!(f, "{status}: {body}"),
            ClientError::Transport(e) => write!(f, "transport: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The status and code of a typed refusal. Panics when the call succeeded or the answer
/// was not a typed error.
pub fn refusal<T: std::fmt::Debug>(r: Result<T, ClientError>) -> (u16, ErrorCode) {
    match r {
        Err(ClientError::Api { status, code, .. }) => (status, code),
        other => panic!("expected a typed refusal, got {other:?}"),
    }
}

/// The code of a typed refusal (see [`refusal`]).
pub fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorCode {
    refusal(r).1
}
