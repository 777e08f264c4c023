//! A thin HTTP client for the relay's `/v1` protocol. Every call is one request; errors
//! become `offline` (no answer) or `relay_refused` / `invite_rejected` (a typed answer).

use std::time::Duration;

use duet_proto::{CBOR, ErrorBody, ErrorCode as RelayCode};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) struct RelayClient {
    http: reqwest::Client,
    base: url::Url,
    token: Option<String>,
}

/// Check and normalise a relay URL (`http`/`https`, no query or fragment).
pub(crate) fn parse_url(url: &str) -> Result<url::Url> {
    let mut u =
        url::Url::parse(url.trim()).map_err(|e| Error::invalid("relay url", format!("{e}")))?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(Error::invalid(
            "relay url",
            "expected http(s)://host[:port]",
        ));
    }
    u.set_query(None);
    u.set_fragment(None);
    if !u.path().ends_with('/') {
        let p = format!("{}/", u.path());
        u.set_path(&p);
    }
    Ok(u)
}

impl RelayClient {
    pub(crate) fn new(base: &str, token: Option<String>) -> Result<RelayClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| Error::Internal(format!("http client: {e}")))?;
        Ok(RelayClient {
            http,
            base: parse_url(base)?,
            token,
        })
    }

    pub(crate) fn base(&self) -> &url::Url {
        &self.base
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The live channel's URL (`ws`/`wss`).
    pub(crate) fn live_url(&self) -> Result<url::Url> {
        let mut u = self.url("v1/live")?;
        let scheme = if u.scheme() == "https" { "wss" } else { "ws" };
        u.set_scheme(scheme)
            .map_err(|_| Error::Internal("live url scheme".into()))?;
        Ok(u)
    }

    fn url(&self, path: &str) -> Result<url::Url> {
        self.base
            .join(path)
            .map_err(|e| Error::Internal(format!("relay url: {e}")))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Option<T>> {
        let mut req = self.http.request(method, self.url(path)?);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, CBOR)
                .body(duet_proto::to_cbor(b));
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Offline(without_url(e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Error::Offline(without_url(e)))?;
        if status.is_success() {
            if status == StatusCode::NO_CONTENT || bytes.is_empty() {
                return Ok(None);
            }
            return duet_proto::from_cbor(&bytes)
                .map(Some)
                .map_err(|e| Error::CorruptData(format!("relay response: {e}")));
        }
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(b) => relay_error(b.code, b.message),
            Err(_) => Error::RelayRefused {
                code: status.as_u16().to_string(),
                message: "the relay answered without a Duet error body".into(),
            },
        })
    }

    async fn expect<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        self.call(method, path, body)
            .await?
            .ok_or_else(|| Error::CorruptData("the relay sent an empty answer".into()))
    }

    pub(crate) async fn register(&self) -> Result<duet_proto::Registered> {
        self.expect::<(), _>(Method::POST, "v1/devices", None).await
    }

    pub(crate) async fn spaces(&self) -> Result<Vec<duet_proto::SpaceInfo>> {
        let l: duet_proto::SpaceList = self.expect::<(), _>(Method::GET, "v1/spaces", None).await?;
        Ok(l.spaces)
    }

    /// Create a space; `Ok(false)` when it already exists.
    pub(crate) async fn create_space(&self, space: Uuid) -> Result<bool> {
        let body = duet_proto::CreateSpace { space_id: space };
        match self
            .call::<_, duet_proto::SpaceInfo>(Method::POST, "v1/spaces", Some(&body))
            .await
        {
            Ok(_) => Ok(true),
            Err(Error::RelayRefused { code, .. }) if code == RelayCode::Conflict.as_str() => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn add_member(&self, space: Uuid, device: Uuid) -> Result<()> {
        let body = duet_proto::AddMember { device_id: device };
        self.call::<_, ()>(
            Method::POST,
            &format!("v1/spaces/{space}/members"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn remove_member(&self, space: Uuid, device: Uuid) -> Result<()> {
        self.call::<(), ()>(
            Method::DELETE,
            &format!("v1/spaces/{space}/members/{device}"),
            None,
        )
        .await
        .map(|_| ())
    }

    pub(crate) async fn revoke(&self, device: Uuid) -> Result<()> {
        self.call::<(), ()>(Method::DELETE, &format!("v1/devices/{device}"), None)
            .await
            .map(|_| ())
    }

    pub(crate) async fn create_invite(
        &self,
        space: Uuid,
        req: &duet_proto::CreateInvite,
    ) -> Result<duet_proto::InviteCreated> {
        self.expect(
            Method::POST,
            &format!("v1/spaces/{space}/invites"),
            Some(req),
        )
        .await
    }

    pub(crate) async fn join(&self, invite: Uuid, token: Vec<u8>) -> Result<duet_proto::Joined> {
        self.expect(
            Method::POST,
            &format!("v1/invites/{invite}/join"),
            Some(&duet_proto::JoinInvite { token }),
        )
        .await
    }

    pub(crate) async fn push(
        &self,
        space: Uuid,
        blobs: Vec<duet_proto::PushBlob>,
    ) -> Result<duet_proto::Pushed> {
        self.expect(
            Method::POST,
            &format!("v1/spaces/{space}/blobs"),
            Some(&duet_proto::Push { blobs }),
        )
        .await
    }

    pub(crate) async fn pull(
        &self,
        space: Uuid,
        after: u64,
        limit: u32,
    ) -> Result<duet_proto::Pulled> {
        self.expect::<(), _>(
            Method::GET,
            &format!("v1/spaces/{space}/blobs?after={after}&limit={limit}"),
            None,
        )
        .await
    }

    pub(crate) async fn put_snapshot(&self, space: Uuid, s: &duet_proto::Snapshot) -> Result<()> {
        self.call::<_, ()>(Method::PUT, &format!("v1/spaces/{space}/snapshot"), Some(s))
            .await
            .map(|_| ())
    }
}

/// Map the relay's error codes onto ours.
pub(crate) fn relay_error(code: RelayCode, message: String) -> Error {
    match code {
        RelayCode::InviteExpired
        | RelayCode::InviteUsed
        | RelayCode::InviteBurned
        | RelayCode::InviteWrongToken => Error::InviteRejected(message),
        other => Error::RelayRefused {
            code: other.as_str().to_string(),
            message,
        },
    }
}

/// reqwest errors print the URL; ours never carry one (it may hold an invite path).
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
