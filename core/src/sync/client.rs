//! A thin HTTP client for the relay's `/v1` protocol. Every call is one request; errors
//! become `offline` (no answer) or `relay_refused` / `invite_rejected` (a typed answer).

use std::time::Duration;

use duet_proto::{CBOR, ErrorBody, ErrorCode as RelayCode, SpaceKind};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub(crate) struct RelayClient {
    pub(super) http: reqwest::Client,
    base: url::Url,
    pub(super) token: Option<String>,
    /// https and wss (feature `tls`): the configuration both clients use.
    #[cfg(feature = "tls")]
    tls: std::sync::Arc<rustls::ClientConfig>,
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
        #[cfg(feature = "tls")]
        return RelayClient::with_tls(base, token, super::tls::client_config()?);
        #[cfg(not(feature = "tls"))]
        Ok(RelayClient {
            http: http_client(reqwest::Client::builder())?,
            base: parse_url(base)?,
            token,
        })
    }

    /// A client whose https and wss connections use `tls` (the tests give one that trusts
    /// their own certificate authority).
    #[cfg(feature = "tls")]
    pub(crate) fn with_tls(
        base: &str,
        token: Option<String>,
        tls: rustls::ClientConfig,
    ) -> Result<RelayClient> {
        let http =
            reqwest::Client::builder().tls_backend_preconfigured(super::tls::for_http(tls.clone()));
        Ok(RelayClient {
            http: http_client(http)?,
            base: parse_url(base)?,
            token,
            tls: std::sync::Arc::new(tls),
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

    /// Open the live channel's WebSocket (the handshake only; authentication is the
    /// caller's first frame).
    pub(crate) async fn connect_live(&self) -> Result<LiveSocket> {
        let url = self.live_url()?;
        #[cfg(feature = "tls")]
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            None,
            false,
            Some(tokio_tungstenite::Connector::Rustls(self.tls.clone())),
        );
        #[cfg(not(feature = "tls"))]
        let connecting = tokio_tungstenite::connect_async(url.as_str());
        let (ws, _) = connecting
            .await
            .map_err(|e| Error::Offline(format!("live channel: {e}")))?;
        Ok(ws)
    }

    pub(super) fn url(&self, path: &str) -> Result<url::Url> {
        self.base
            .join(path)
            .map_err(|e| Error::Internal(format!("relay url: {e}")))
    }

    pub(super) async fn call<B: Serialize, T: DeserializeOwned>(
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
        Err(error_from(status, &bytes))
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

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.expect::<(), _>(Method::GET, path, None).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.expect(Method::POST, path, Some(body)).await
    }

    /// A request whose answer has no body to read (204).
    async fn send<B: Serialize>(&self, method: Method, path: &str, body: Option<&B>) -> Result<()> {
        self.call::<B, ()>(method, path, body).await.map(|_| ())
    }

    pub(crate) async fn register(&self) -> Result<duet_proto::Registered> {
        self.expect::<(), _>(Method::POST, "v1/devices", None).await
    }

    pub(crate) async fn spaces(&self) -> Result<Vec<duet_proto::SpaceInfo>> {
        let l: duet_proto::SpaceList = self.get("v1/spaces").await?;
        Ok(l.spaces)
    }

    /// Who this token belongs to at this relay (`GET /v1/devices/me`): how a client pointed
    /// at another URL tells the same relay (its token works) from a new one.
    pub(crate) async fn whoami(&self) -> Result<duet_proto::WhoAmI> {
        self.get("v1/devices/me").await
    }

    /// Create a space of a kind. The relay answers alike whether the id was free or is
    /// someone else's space (a stranger learns nothing), so only listing the spaces tells
    /// whether this device is a member. An older relay's `conflict` means the same.
    pub(crate) async fn create_space(&self, space: Uuid, kind: SpaceKind) -> Result<()> {
        let body = duet_proto::CreateSpace {
            space_id: space,
            kind,
        };
        match self
            .call::<_, duet_proto::SpaceInfo>(Method::POST, "v1/spaces", Some(&body))
            .await
        {
            Ok(_) => Ok(()),
            Err(Error::RelayRefused { code, .. }) if code == RelayCode::Conflict.as_str() => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn add_member(&self, space: Uuid, device: Uuid) -> Result<()> {
        let body = duet_proto::AddMember { device_id: device };
        self.send(
            Method::POST,
            &format!("v1/spaces/{space}/members"),
            Some(&body),
        )
        .await
    }

    pub(crate) async fn remove_member(&self, space: Uuid, device: Uuid) -> Result<()> {
        self.send::<()>(
            Method::DELETE,
            &format!("v1/spaces/{space}/members/{device}"),
            None,
        )
        .await
    }

    /// Tell the relay the space's key rotated to `epoch` (one step at a time): from then on
    /// it refuses blobs sealed under an older one.
    pub(crate) async fn announce_epoch(&self, space: Uuid, epoch: u32) -> Result<()> {
        self.send(
            Method::PUT,
            &format!("v1/spaces/{space}/epoch"),
            Some(&duet_proto::KeyEpoch { epoch }),
        )
        .await
    }

    pub(crate) async fn revoke(&self, device: Uuid) -> Result<()> {
        self.send::<()>(Method::DELETE, &format!("v1/devices/{device}"), None)
            .await
    }

    pub(crate) async fn create_invite(
        &self,
        space: Uuid,
        req: &duet_proto::CreateInvite,
    ) -> Result<duet_proto::InviteCreated> {
        self.post(&format!("v1/spaces/{space}/invites"), req).await
    }

    pub(crate) async fn join(&self, invite: Uuid, token: Vec<u8>) -> Result<duet_proto::Joined> {
        let body = duet_proto::JoinInvite { token };
        self.post(&format!("v1/invites/{invite}/join"), &body).await
    }

    pub(crate) async fn push(
        &self,
        space: Uuid,
        blobs: Vec<duet_proto::PushBlob>,
    ) -> Result<duet_proto::Pushed> {
        let body = duet_proto::Push { blobs };
        self.post(&format!("v1/spaces/{space}/blobs"), &body).await
    }

    pub(crate) async fn pull(
        &self,
        space: Uuid,
        after: u64,
        limit: u32,
        max_bytes: u64,
    ) -> Result<duet_proto::Pulled> {
        self.get(&format!(
            "v1/spaces/{space}/blobs?after={after}&limit={limit}&max_bytes={max_bytes}"
        ))
        .await
    }

    /// Register my person's relay share of a round's answer key; the relay keeps the first
    /// share a person registers and answers with the round as the caller may see it.
    pub(crate) async fn put_answer(
        &self,
        space: Uuid,
        round: &str,
        share: &[u8; 32],
    ) -> Result<duet_proto::Answers> {
        self.expect(
            Method::PUT,
            &answers_path(space, round)?,
            Some(&duet_proto::AnswerShare {
                share: share.to_vec(),
            }),
        )
        .await
    }

    /// Who answered a round, with the shares the caller may see.
    pub(crate) async fn answers(&self, space: Uuid, round: &str) -> Result<duet_proto::Answers> {
        self.get(&answers_path(space, round)?).await
    }

    /// Reveal my person's answer to a round before the others answered.
    pub(crate) async fn reveal_answer(&self, space: Uuid, round: &str) -> Result<()> {
        let path = format!("{}/reveal", answers_path(space, round)?);
        self.send::<()>(Method::POST, &path, None).await
    }

    /// Leave the key of `epoch` (the space's announced one) sealed for other devices.
    pub(crate) async fn put_key_drops(
        &self,
        space: Uuid,
        epoch: u32,
        drops: Vec<duet_proto::KeyDrop>,
    ) -> Result<()> {
        let path = format!("v1/spaces/{space}/keys/{epoch}");
        self.send(Method::PUT, &path, Some(&duet_proto::KeyDrops { drops }))
            .await
    }

    /// The key drops left for this device in a space.
    pub(crate) async fn key_drops(&self, space: Uuid) -> Result<duet_proto::HeldDrops> {
        self.get(&format!("v1/spaces/{space}/keys")).await
    }

    /// Make (with `auth_hash`) or update the caller's person's recovery kit.
    pub(crate) async fn put_recovery_kit(
        &self,
        lookup: &[u8; 16],
        kit: &duet_proto::PutRecoveryKit,
    ) -> Result<()> {
        let path = format!("v1/recovery/{}", duet_proto::recovery::lookup_hex(lookup));
        self.send(Method::PUT, &path, Some(kit)).await
    }

    /// The caller's person's recovery kit at the relay, if there is one.
    pub(crate) async fn recovery_kit(&self) -> Result<Option<duet_proto::RecoveryKitInfo>> {
        match self.get("v1/recovery").await {
            Ok(k) => Ok(Some(k)),
            Err(Error::RelayRefused { code, .. }) if code == RelayCode::NotFound.as_str() => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Prove a kit (no token needed): a new device of its person.
    pub(crate) async fn recover(
        &self,
        lookup: &[u8; 16],
        auth: &[u8; 32],
    ) -> Result<duet_proto::Recovered> {
        let path = format!("v1/recovery/{}", duet_proto::recovery::lookup_hex(lookup));
        let body = duet_proto::Recover {
            auth: auth.to_vec(),
        };
        self.post(&path, &body).await
    }

    /// The newest snapshot of a space, if it has one.
    pub(crate) async fn snapshot(&self, space: Uuid) -> Result<Option<duet_proto::Snapshot>> {
        match self.get(&format!("v1/spaces/{space}/snapshot")).await {
            Ok(s) => Ok(Some(s)),
            Err(Error::RelayRefused { code, .. }) if code == RelayCode::NotFound.as_str() => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn put_snapshot(&self, space: Uuid, s: &duet_proto::Snapshot) -> Result<()> {
        self.send(Method::PUT, &format!("v1/spaces/{space}/snapshot"), Some(s))
            .await
    }
}

/// The path of a round's answers; a round id is plain ASCII (checked, so it can't reshape
/// the path).
fn answers_path(space: Uuid, round: &str) -> Result<String> {
    if !duet_proto::answers::is_round_id(round) {
        return Err(Error::CorruptData(format!(
            "malformed answer round {round:?}"
        )));
    }
    Ok(format!("v1/spaces/{space}/answers/{round}"))
}

/// The error an unsuccessful answer carries.
pub(super) fn error_from(status: StatusCode, body: &[u8]) -> Error {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(b) => relay_error(b.code, b.message),
        Err(_) => Error::RelayRefused {
            code: status.as_u16().to_string(),
            message: "the relay answered without a Duet error body".into(),
        },
    }
}

/// Map the relay's error codes onto ours.
pub(crate) fn relay_error(code: RelayCode, message: String) -> Error {
    match code {
        RelayCode::InviteExpired
        | RelayCode::InviteUsed
        | RelayCode::InviteBurned
        | RelayCode::InviteWrongToken => Error::InviteRejected(message),
        RelayCode::QuotaExceeded => Error::QuotaExceeded(message),
        RelayCode::AttachmentTooLarge => Error::TooLarge(message),
        other => Error::RelayRefused {
            code: other.as_str().to_string(),
            message,
        },
    }
}

/// The live channel's socket.
pub(crate) type LiveSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The HTTP client with Duet's timeouts.
fn http_client(builder: reqwest::ClientBuilder) -> Result<reqwest::Client> {
    builder
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| Error::Internal(format!("http client: {e}")))
}

/// reqwest errors print the URL; ours never carry one (it may hold an invite path).
pub(super) fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

/// https and wss with the `tls` feature, on loopback: a relay stand-in with a certificate
/// from the test authority in `tests/data/tls`, the client built the way the engine builds
/// it but trusting that authority, and the platform verifier refusing the same relay.
#[cfg(test)]
#[cfg(feature = "tls")]
mod tls_tests {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    use futures_util::StreamExt;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio_tungstenite::tungstenite::{self, Message};

    use super::*;
    use crate::sync::tls;

    const CA: &[u8] = include_bytes!("../../tests/data/tls/ca.pem");
    const RELAY_CERT: &[u8] = include_bytes!("../../tests/data/tls/relay.pem");
    const RELAY_KEY: &[u8] = include_bytes!("../../tests/data/tls/relay.key");

    /// The client configuration of `tls::client_config`, but trusting the test authority
    /// instead of the platform.
    fn trusting_test_ca() -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(CA).unwrap())
            .unwrap();
        rustls::ClientConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// A TLS server on 127.0.0.1 that runs `serve` on each of the next `conns` connections
    /// (one thread, blocking I/O; a handshake the client aborts is skipped). Returns the
    /// base URL.
    fn relay(
        conns: usize,
        serve: impl Fn(rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>)
        + Send
        + 'static,
    ) -> String {
        let config = rustls::ServerConfig::builder_with_provider(tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from_pem_slice(RELAY_CERT).unwrap()],
                PrivateKeyDer::from_pem_slice(RELAY_KEY).unwrap(),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for tcp in listener.incoming().take(conns) {
                let tcp = tcp.unwrap();
                tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                while tls.conn.is_handshaking() {
                    if tls.conn.complete_io(&mut tls.sock).is_err() {
                        break;
                    }
                }
                if !tls.conn.is_handshaking() {
                    serve(tls);
                }
            }
        });
        format!("https://127.0.0.1:{port}/")
    }

    /// Answers one HTTP request with 204, after checking it came with the bearer token.
    fn no_content(mut s: rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>) {
        let mut head = String::new();
        let mut r = BufReader::new(&mut s);
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let status = if head.starts_with("get /v1/ping ")
            && head.contains("authorization: bearer secret-token\r\n")
        {
            "204 No Content"
        } else {
            "400 Bad Request"
        };
        let _ = write!(s, "HTTP/1.1 {status}\r\nconnection: close\r\n\r\n");
        let _ = s.flush();
        s.conn.send_close_notify();
        let _ = s.flush();
    }

    #[test]
    fn the_production_configuration_builds() {
        let c = RelayClient::new("https://relay.example/", None).unwrap();
        assert_eq!(
            c.live_url().unwrap().as_str(),
            "wss://relay.example/v1/live"
        );
        let p = tls::provider();
        assert!(!p.cipher_suites.is_empty() && !p.kx_groups.is_empty());
    }

    #[tokio::test]
    async fn https_to_a_relay() {
        let base = relay(1, no_content);
        let c =
            RelayClient::with_tls(&base, Some("secret-token".into()), trusting_test_ca()).unwrap();
        let r = c.call::<(), ()>(Method::GET, "v1/ping", None).await;
        assert!(matches!(r, Ok(None)), "{r:?}");
    }

    #[tokio::test]
    async fn wss_to_a_relay() {
        let base = relay(1, |s| {
            let mut ws = tungstenite::accept(s).unwrap();
            ws.send(Message::Binary(b"ready".to_vec().into())).unwrap();
            let _ = ws.close(None);
            let _ = ws.flush();
        });
        let c = RelayClient::with_tls(&base, Some("t".into()), trusting_test_ca()).unwrap();
        let mut ws = c.connect_live().await.unwrap();
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => assert_eq!(&b[..], b"ready"),
            other => panic!("unexpected {other:?}"),
        }
    }

    /// The same relay through the production configuration: its authority is not one the
    /// platform trusts, so both channels fail as `offline` and nothing is sent.
    #[tokio::test]
    async fn the_platform_verifier_refuses_an_unknown_authority() {
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        let base = relay(2, move |_| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let c = RelayClient::new(&base, Some("t".into())).unwrap();
        let r = c.call::<(), ()>(Method::GET, "v1/ping", None).await;
        assert!(matches!(r, Err(Error::Offline(_))), "{r:?}");
        let r = c.connect_live().await;
        assert!(matches!(r, Err(Error::Offline(_))), "{:?}", r.err());
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 0);
    }
}
