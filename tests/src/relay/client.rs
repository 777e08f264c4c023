//! The protocol client: one registered device calling the `/v1` API, and random blobs and
//! invite secrets to call it with.

use duet_proto::{
    AddMember, AnswerShare, Answers, CBOR, CreateInvite, CreateSpace, HeldDrops, InviteCreated,
    InviteKind, JoinInvite, Joined, KeyDrop, KeyDrops, KeyEpoch, LogBlob, Pulled, Push, PushBlob,
    Pushed, PutRecoveryKit, Recover, Recovered, RecoveryKitInfo, Registered, Snapshot, SpaceInfo,
    SpaceKind, SpaceList, WhoAmI,
};
use rand::RngCore;
use reqwest::Method;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::http::{Body, ClientError, Response, http_client, send};
use super::live::LiveConn;

/// Sixteen random bytes: a blob id.
pub fn random_blob_id() -> Vec<u8> {
    random_bytes(16)
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// A blob with a random id and `len` random bytes.
pub fn random_blob(len: usize) -> PushBlob {
    PushBlob {
        id: random_blob_id(),
        data: random_bytes(len),
    }
}

/// The join secret of an invite as the inviter derives it: the relay gets only `hash`.
#[derive(Debug, Clone)]
pub struct InviteSecret {
    pub invite_id: Uuid,
    pub token: Vec<u8>,
    pub hash: [u8; 32],
}

impl InviteSecret {
    /// A fresh invite id and a random 32-byte join token.
    pub fn random() -> InviteSecret {
        let token = random_bytes(32);
        let hash = Sha256::digest(&token).into();
        InviteSecret {
            invite_id: Uuid::now_v7(),
            token,
            hash,
        }
    }

    /// The `POST /v1/spaces/{space}/invites` body of a partner invite.
    pub fn create_body(&self, wrapped_key: &[u8], ttl_secs: Option<u64>) -> CreateInvite {
        self.create_body_of(InviteKind::Partner, wrapped_key, ttl_secs)
    }

    /// The `POST /v1/spaces/{space}/invites` body of an invite of `kind`.
    pub fn create_body_of(
        &self,
        kind: InviteKind,
        wrapped_key: &[u8],
        ttl_secs: Option<u64>,
    ) -> CreateInvite {
        CreateInvite {
            invite_id: self.invite_id,
            token_hash: self.hash.to_vec(),
            wrapped_key: wrapped_key.to_vec(),
            ttl_secs,
            kind,
        }
    }
}

/// What a recovery kit's words give a device, as far as the relay is concerned: a lookup id
/// and an auth secret (the relay gets only `hash`, until a recovery proves the secret).
#[derive(Debug, Clone)]
pub struct RecoverySecret {
    pub lookup: [u8; 16],
    pub auth: Vec<u8>,
    pub hash: [u8; 32],
}

impl RecoverySecret {
    /// A random lookup id and a random 32-byte auth secret.
    pub fn random() -> RecoverySecret {
        let mut lookup = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut lookup);
        let auth = random_bytes(32);
        let hash = Sha256::digest(&auth).into();
        RecoverySecret { lookup, auth, hash }
    }

    /// The lookup id as it appears in the path.
    pub fn lookup_hex(&self) -> String {
        duet_proto::recovery::lookup_hex(&self.lookup)
    }

    /// The `PUT /v1/recovery/{lookup}` body that makes this the person's kit.
    pub fn kit(&self, envelope: &[u8], spaces: &[Uuid]) -> PutRecoveryKit {
        PutRecoveryKit {
            auth_hash: Some(self.hash.to_vec()),
            envelope: envelope.to_vec(),
            spaces: spaces.to_vec(),
        }
    }

    /// The `POST /v1/recovery/{lookup}` body.
    pub fn recover_body(&self) -> Recover {
        Recover {
            auth: self.auth.clone(),
        }
    }
}

/// One registered device talking to one relay.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    pub device_id: Uuid,
    pub token: String,
}

impl Client {
    /// Register a new device (`POST /v1/devices`) with its own HTTP client.
    pub async fn register(base: &str) -> Result<Client, ClientError> {
        Self::register_with(&http_client(), base).await
    }

    /// Register a new device, sharing an HTTP client (and its connection pool).
    pub async fn register_with(http: &reqwest::Client, base: &str) -> Result<Client, ClientError> {
        let r: Registered = send(http, base, Method::POST, "/v1/devices", None, None)
            .await?
            .ok()?
            .cbor()?;
        Ok(Client {
            http: http.clone(),
            base: base.to_string(),
            device_id: r.device_id,
            token: r.token,
        })
    }

    /// `POST /v1/recovery/{lookup}` with `auth` (no bearer token), as received.
    pub async fn recover_response(
        http: &reqwest::Client,
        base: &str,
        lookup: &[u8],
        auth: &[u8],
    ) -> Result<Response, ClientError> {
        let path = format!("/v1/recovery/{}", duet_proto::recovery::lookup_hex(lookup));
        let body = Body::cbor(&Recover {
            auth: auth.to_vec(),
        });
        send(http, base, Method::POST, &path, None, Some(body)).await
    }

    /// Prove a recovery kit: the new device (with its own HTTP client) and the relay's
    /// answer.
    pub async fn recover(
        base: &str,
        secret: &RecoverySecret,
    ) -> Result<(Client, Recovered), ClientError> {
        let http = http_client();
        let r: Recovered = Self::recover_response(&http, base, &secret.lookup, &secret.auth)
            .await?
            .ok()?
            .cbor()?;
        let device = Client {
            http,
            base: base.to_string(),
            device_id: r.device_id,
            token: r.token.clone(),
        };
        Ok((device, r))
    }

    /// A newly registered device with a new space of its own.
    pub async fn with_space(base: &str) -> Result<(Client, Uuid), ClientError> {
        let c = Client::register(base).await?;
        let space = c.new_space().await?;
        Ok((c, space))
    }

    /// Two people's devices, newly registered, sharing a new space: the first made it and
    /// invited the second.
    pub async fn partners(base: &str) -> Result<(Client, Client, Uuid), ClientError> {
        let a = Client::register(base).await?;
        let b = Client::register(base).await?;
        let space = a.new_space().await?;
        a.invite_into(space, &b).await?;
        Ok((a, b, space))
    }

    /// A device whose credentials are known (read from a home's store, as an adversary
    /// holding the phone would).
    pub fn from_credentials(base: &str, device_id: Uuid, token: String) -> Client {
        Client {
            http: http_client(),
            base: base.trim_end_matches('/').to_string(),
            device_id,
            token,
        }
    }

    /// The same device talking to a relay at another address (e.g. after a restart).
    pub fn at(&self, base: &str) -> Client {
        Client {
            http: self.http.clone(),
            base: base.to_string(),
            device_id: self.device_id,
            token: self.token.clone(),
        }
    }

    /// The relay's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// An authenticated request, as received (any status).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Response, ClientError> {
        send(
            &self.http,
            &self.base,
            method,
            path,
            Some(&self.token),
            body,
        )
        .await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Body>,
    ) -> Result<Response, ClientError> {
        self.request(method, path, body).await?.ok()
    }

    /// `PUT /v1/spaces/{space}/answers/{round}`: register my person's share of a round.
    pub async fn put_answer(
        &self,
        space: Uuid,
        round: &str,
        share: &[u8],
    ) -> Result<Answers, ClientError> {
        let body = Body::cbor(&AnswerShare {
            share: share.to_vec(),
        });
        let path = format!("/v1/spaces/{space}/answers/{round}");
        self.call(Method::PUT, &path, Some(body)).await?.cbor()
    }

    /// `GET /v1/spaces/{space}/answers/{round}`.
    pub async fn answers(&self, space: Uuid, round: &str) -> Result<Answers, ClientError> {
        let path = format!("/v1/spaces/{space}/answers/{round}");
        self.call(Method::GET, &path, None).await?.cbor()
    }

    /// `POST /v1/spaces/{space}/answers/{round}/reveal`: 204 or the typed refusal.
    pub async fn reveal_answer(&self, space: Uuid, round: &str) -> Result<(), ClientError> {
        let path = format!("/v1/spaces/{space}/answers/{round}/reveal");
        let r = self.call(Method::POST, &path, None).await?;
        assert_eq!(r.status, 204, "a reveal answers 204");
        Ok(())
    }

    /// `PUT /v1/spaces/{space}/epoch`: announce a key rotation to `epoch`.
    pub async fn announce_epoch(&self, space: Uuid, epoch: u32) -> Result<(), ClientError> {
        let path = format!("/v1/spaces/{space}/epoch");
        self.call(Method::PUT, &path, Some(Body::cbor(&KeyEpoch { epoch })))
            .await
            .map(drop)
    }

    /// `PUT /v1/spaces/{space}/keys/{epoch}`: leave the key of `epoch` sealed to other
    /// member devices, one drop each.
    pub async fn put_key_drops(
        &self,
        space: Uuid,
        epoch: u32,
        drops: &[KeyDrop],
    ) -> Result<(), ClientError> {
        let body = Body::cbor(&KeyDrops {
            drops: drops.to_vec(),
        });
        let path = format!("/v1/spaces/{space}/keys/{epoch}");
        let r = self.call(Method::PUT, &path, Some(body)).await?;
        assert_eq!(r.status, 204, "key drops answer 204");
        Ok(())
    }

    /// `GET /v1/spaces/{space}/keys`: the drops left for this device.
    pub async fn key_drops(&self, space: Uuid) -> Result<HeldDrops, ClientError> {
        let path = format!("/v1/spaces/{space}/keys");
        self.call(Method::GET, &path, None).await?.cbor()
    }

    /// A new recovery kit for this device's person (a random secret), holding `envelope`
    /// and `spaces`; its secret.
    pub async fn make_recovery_kit(
        &self,
        envelope: &[u8],
        spaces: &[Uuid],
    ) -> Result<RecoverySecret, ClientError> {
        let secret = RecoverySecret::random();
        self.put_recovery_kit(&secret.lookup, &secret.kit(envelope, spaces))
            .await?;
        Ok(secret)
    }

    /// `PUT /v1/recovery/{lookup}`: make (with an auth hash) or update this device's
    /// person's recovery kit.
    pub async fn put_recovery_kit(
        &self,
        lookup: &[u8],
        kit: &PutRecoveryKit,
    ) -> Result<(), ClientError> {
        let path = format!("/v1/recovery/{}", duet_proto::recovery::lookup_hex(lookup));
        let r = self.call(Method::PUT, &path, Some(Body::cbor(kit))).await?;
        assert_eq!(r.status, 204, "a stored kit answers 204");
        Ok(())
    }

    /// `GET /v1/recovery`: this device's person's kit.
    pub async fn recovery_kit(&self) -> Result<RecoveryKitInfo, ClientError> {
        self.call(Method::GET, "/v1/recovery", None).await?.cbor()
    }

    /// `POST /v1/spaces` for a shared journal.
    pub async fn create_space(&self, space: Uuid) -> Result<SpaceInfo, ClientError> {
        self.create_space_of(space, SpaceKind::Journal).await
    }

    /// `POST /v1/spaces` for a space of `kind`.
    pub async fn create_space_of(
        &self,
        space: Uuid,
        kind: SpaceKind,
    ) -> Result<SpaceInfo, ClientError> {
        self.call(
            Method::POST,
            "/v1/spaces",
            Some(Body::cbor(&CreateSpace {
                space_id: space,
                kind,
            })),
        )
        .await?
        .cbor()
    }

    /// `GET /v1/devices/me`.
    pub async fn whoami(&self) -> Result<WhoAmI, ClientError> {
        self.call(Method::GET, "/v1/devices/me", None).await?.cbor()
    }

    /// Make `other` (a fresh device, with no spaces yet) one of this device's person's, as a
    /// device link does: a `device` invite into a new personal space of ours, which it joins.
    /// Returns that personal space.
    pub async fn link(&self, other: &Client) -> Result<Uuid, ClientError> {
        let personal = Uuid::now_v7();
        self.create_space_of(personal, SpaceKind::Personal).await?;
        let secret = InviteSecret::random();
        self.create_invite(
            personal,
            &secret.create_body_of(InviteKind::Device, b"wrapped", None),
        )
        .await?;
        other.join(secret.invite_id, &secret.token).await?;
        Ok(personal)
    }

    /// Bring `other` (a fresh device) into `space` as another device of this device's
    /// person: linked, then added. For spaces that need more than two people's worth of
    /// devices (a shared journal admits two people).
    pub async fn admit_own_device(&self, space: Uuid, other: &Client) -> Result<(), ClientError> {
        self.link(other).await?;
        self.add_member(space, other.device_id).await
    }

    /// Create a space with a fresh random id and return the id.
    pub async fn new_space(&self) -> Result<Uuid, ClientError> {
        let id = Uuid::now_v7();
        self.create_space(id).await?;
        Ok(id)
    }

    /// `GET /v1/spaces`.
    pub async fn spaces(&self) -> Result<SpaceList, ClientError> {
        self.call(Method::GET, "/v1/spaces", None).await?.cbor()
    }

    /// The ids of the spaces this device is a member of, sorted.
    pub async fn space_ids(&self) -> Result<Vec<Uuid>, ClientError> {
        let mut ids: Vec<Uuid> = self
            .spaces()
            .await?
            .spaces
            .iter()
            .map(|s| s.space_id)
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// `GET /v1/spaces/{space}`.
    pub async fn space(&self, space: Uuid) -> Result<SpaceInfo, ClientError> {
        self.call(Method::GET, &format!("/v1/spaces/{space}"), None)
            .await?
            .cbor()
    }

    /// `POST /v1/spaces/{space}/members`.
    pub async fn add_member(&self, space: Uuid, device: Uuid) -> Result<(), ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/spaces/{space}/members"),
            Some(Body::cbor(&AddMember { device_id: device })),
        )
        .await
        .map(drop)
    }

    /// A partner invite into `space` under a fresh random secret (wrapped key `wrapped`),
    /// valid for `ttl_secs` (or the relay's default): its secret, to join with.
    pub async fn invite(
        &self,
        space: Uuid,
        ttl_secs: Option<u64>,
    ) -> Result<InviteSecret, ClientError> {
        let secret = InviteSecret::random();
        self.create_invite(space, &secret.create_body(b"wrapped", ttl_secs))
            .await?;
        Ok(secret)
    }

    /// Bring `other` into `space` the way a partner comes in: a partner invite it joins. A
    /// shared journal admits two people; `add_member` adds only the caller's own devices.
    pub async fn invite_into(&self, space: Uuid, other: &Client) -> Result<(), ClientError> {
        let secret = self.invite(space, None).await?;
        other.join(secret.invite_id, &secret.token).await.map(drop)
    }

    /// The same device (and token) talking to another base URL: another relay node.
    pub fn with_base(&self, base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_string(),
            ..self.clone()
        }
    }

    /// `DELETE /v1/spaces/{space}/members/{device}`.
    pub async fn remove_member(&self, space: Uuid, device: Uuid) -> Result<(), ClientError> {
        self.call(
            Method::DELETE,
            &format!("/v1/spaces/{space}/members/{device}"),
            None,
        )
        .await
        .map(drop)
    }

    /// `DELETE /v1/devices/{device}`.
    pub async fn revoke(&self, device: Uuid) -> Result<(), ClientError> {
        self.call(Method::DELETE, &format!("/v1/devices/{device}"), None)
            .await
            .map(drop)
    }

    /// `POST /v1/spaces/{space}/invites`.
    pub async fn create_invite(
        &self,
        space: Uuid,
        invite: &CreateInvite,
    ) -> Result<InviteCreated, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/spaces/{space}/invites"),
            Some(Body::cbor(invite)),
        )
        .await?
        .cbor()
    }

    /// `POST /v1/invites/{invite}/join`.
    pub async fn join(&self, invite: Uuid, token: &[u8]) -> Result<Joined, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/invites/{invite}/join"),
            Some(Body::cbor(&JoinInvite {
                token: token.to_vec(),
            })),
        )
        .await?
        .cbor()
    }

    /// `POST /v1/spaces/{space}/blobs`.
    pub async fn push(&self, space: Uuid, blobs: &[PushBlob]) -> Result<Pushed, ClientError> {
        self.push_encoded(
            space,
            duet_proto::to_cbor(&Push {
                blobs: blobs.to_vec(),
            }),
        )
        .await
    }

    /// `POST /v1/spaces/{space}/blobs` with an already encoded [`Push`] body.
    pub async fn push_encoded(&self, space: Uuid, body: Vec<u8>) -> Result<Pushed, ClientError> {
        self.call(
            Method::POST,
            &format!("/v1/spaces/{space}/blobs"),
            Some(Body::raw(CBOR, body)),
        )
        .await?
        .cbor()
    }

    /// `GET /v1/spaces/{space}/blobs?after=&limit=`.
    pub async fn pull(
        &self,
        space: Uuid,
        after: u64,
        limit: Option<u32>,
    ) -> Result<Pulled, ClientError> {
        let mut path = format!("/v1/spaces/{space}/blobs?after={after}");
        if let Some(l) = limit {
            path.push_str(&format!("&limit={l}"));
        }
        self.call(Method::GET, &path, None).await?.cbor()
    }

    /// Every blob of a space from the start, following pages.
    pub async fn pull_all(&self, space: Uuid) -> Result<Vec<LogBlob>, ClientError> {
        let mut out: Vec<LogBlob> = Vec::new();
        loop {
            let after = out.last().map(|b| b.seq).unwrap_or(0);
            let page = self.pull(space, after, None).await?;
            let more = page.more;
            let empty = page.blobs.is_empty();
            out.extend(page.blobs);
            if !more || empty {
                return Ok(out);
            }
        }
    }

    /// `PUT /v1/spaces/{space}/snapshot`.
    pub async fn put_snapshot(&self, space: Uuid, snapshot: &Snapshot) -> Result<(), ClientError> {
        self.call(
            Method::PUT,
            &format!("/v1/spaces/{space}/snapshot"),
            Some(Body::cbor(snapshot)),
        )
        .await
        .map(drop)
    }

    /// `GET /v1/spaces/{space}/snapshot`.
    pub async fn snapshot(&self, space: Uuid) -> Result<Snapshot, ClientError> {
        self.call(Method::GET, &format!("/v1/spaces/{space}/snapshot"), None)
            .await?
            .cbor()
    }

    /// Open this device's live channel: connect, authenticate, wait for `ready`.
    pub async fn live(&self) -> Result<LiveConn, ClientError> {
        let (conn, device) = LiveConn::connect(&self.base, &self.token).await?;
        if device != self.device_id {
            return Err(ClientError::Unexpected {
                status: 101,
                body: format!("ready for {device}, expected {}", self.device_id),
            });
        }
        Ok(conn)
    }
}
