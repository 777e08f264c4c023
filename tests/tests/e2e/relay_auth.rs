#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Who may call what, against a real `duet-relay` process: every endpoint × {no token, bad
//! token, non-member, revoked device, member}, checked by status AND error code AND by the
//! state afterwards (a refused call changed nothing); the live channel's authentication;
//! invites (single use, expiry, brute force) and that the relay keeps only token hashes.

use std::time::Duration;

use duet_e2e::relay::{
    Body, Client, ClientError, InviteSecret, LiveConn, LiveEvent, RelayProcess, http_client,
    random_blob, random_bytes, send,
};
use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::{
    AddMember, CreateSpace, ErrorCode, InviteCreated, JoinInvite, Joined, Pulled, Push, Pushed,
    Registered, Snapshot, SpaceInfo, SpaceList,
};
use reqwest::Method;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);
/// A well-formed token the relay never issued.
const BAD_TOKEN: &str = "duet_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoToken,
    BadToken,
    NonMember,
    Revoked,
    Member,
}

const WHO: [Who; 5] = [
    Who::NoToken,
    Who::BadToken,
    Who::NonMember,
    Who::Revoked,
    Who::Member,
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Success with this status.
    Ok(u16),
    /// A typed error with this status and code.
    Err(u16, ErrorCode),
}

use Expect::Ok as Yes;
const UNAUTH: Expect = Expect::Err(401, ErrorCode::Unauthorized);
const REVOKED: Expect = Expect::Err(401, ErrorCode::DeviceRevoked);
const HIDDEN: Expect = Expect::Err(404, ErrorCode::NotFound);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Register,
    RevokeDevice,
    CreateSpace,
    ListSpaces,
    GetSpace,
    AddMember,
    RemoveMember,
    CreateInvite,
    JoinInvite,
    Push,
    Pull,
    PutSnapshot,
    GetSnapshot,
}

/// The matrix: columns are [no token, bad token, non-member, revoked, member].
const MATRIX: &[(Endpoint, [Expect; 5])] = &[
    // Registering needs no token; a stray header changes nothing.
    (
        Endpoint::Register,
        [Yes(201), Yes(201), Yes(201), Yes(201), Yes(201)],
    ),
    (
        Endpoint::RevokeDevice,
        [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(204)],
    ),
    // Any live device may create its own space and list its own spaces.
    (
        Endpoint::CreateSpace,
        [UNAUTH, UNAUTH, Yes(201), REVOKED, Yes(201)],
    ),
    (
        Endpoint::ListSpaces,
        [UNAUTH, UNAUTH, Yes(200), REVOKED, Yes(200)],
    ),
    (
        Endpoint::GetSpace,
        [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(200)],
    ),
    (
        Endpoint::AddMember,
        [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(204)],
    ),
    (
        Endpoint::RemoveMember,
        [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(204)],
    ),
    (
        Endpoint::CreateInvite,
        [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(201)],
    ),
    // Joining is how a non-member becomes one.
    (
        Endpoint::JoinInvite,
        [UNAUTH, UNAUTH, Yes(200), REVOKED, Yes(200)],
    ),
    (Endpoint::Push, [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(200)]),
    (Endpoint::Pull, [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(200)]),
    (
        Endpoint::PutSnapshot,
        [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(204)],
    ),
    (
        Endpoint::GetSnapshot,
        [UNAUTH, UNAUTH, HIDDEN, REVOKED, Yes(200)],
    ),
];

/// The cast: a space with a member, a stranger, and a revoked former member.
struct Ctx {
    base: String,
    http: reqwest::Client,
    space: Uuid,
    member: Client,
    non_member: Client,
    revoked: Client,
}

impl Ctx {
    async fn new(base: &str) -> Ctx {
        let http = http_client();
        let member = Client::register_with(&http, base).await.unwrap();
        let space = member.new_space().await.unwrap();
        member
            .push(space, &[random_blob(40), random_blob(50)])
            .await
            .unwrap();
        member
            .put_snapshot(
                space,
                &Snapshot {
                    seq: 2,
                    data: random_bytes(64),
                },
            )
            .await
            .unwrap();
        let non_member = Client::register_with(&http, base).await.unwrap();
        non_member.new_space().await.unwrap();
        let revoked = Client::register_with(&http, base).await.unwrap();
        member.invite_into(space, &revoked).await.unwrap();
        assert_eq!(revoked.space(space).await.unwrap().space_id, space);
        member.revoke(revoked.device_id).await.unwrap();
        Ctx {
            base: base.to_string(),
            http,
            space,
            member,
            non_member,
            revoked,
        }
    }

    fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::NoToken => None,
            Who::BadToken => Some(BAD_TOKEN.to_string()),
            Who::NonMember => Some(self.non_member.token.clone()),
            Who::Revoked => Some(self.revoked.token.clone()),
            Who::Member => Some(self.member.token.clone()),
        }
    }

    async fn fresh_device(&self) -> Client {
        Client::register_with(&self.http, &self.base).await.unwrap()
    }

    /// A fresh device that shares another space with the member, not `self.space`.
    async fn fresh_linked_device(&self) -> Client {
        let d = self.fresh_device().await;
        let personal = self.member.new_space().await.unwrap();
        self.member.invite_into(personal, &d).await.unwrap();
        d
    }

    async fn fresh_member(&self) -> Client {
        let d = self.fresh_device().await;
        self.member.invite_into(self.space, &d).await.unwrap();
        d
    }
}

/// What to check after the call, whether it succeeded or not.
enum After {
    Registered,
    /// The victim's token works iff the revocation failed.
    Victim(Client),
    /// Someone else can create this space id iff the call failed.
    SpaceId(Uuid),
    SpaceList,
    SpaceInfo,
    /// This device is a member of the space iff `member_if_ok` == the call succeeded.
    Membership {
        device: Client,
        member_if_ok: bool,
    },
    /// A fresh device can join with this secret iff the call succeeded.
    InviteCreated(InviteSecret),
    /// A second join with this secret (to this space) is refused as used iff the call
    /// succeeded.
    InviteJoined(InviteSecret, Uuid),
    /// The space's head moved by one iff the call succeeded.
    Head(u64),
    Pulled,
    /// The snapshot holds these bytes iff the call succeeded.
    Snapshot(Vec<u8>),
    GotSnapshot,
}

struct Call {
    method: Method,
    path: String,
    body: Option<Body>,
    after: After,
}

async fn prepare(ctx: &Ctx, endpoint: Endpoint) -> Call {
    let s = ctx.space;
    let call = |method: Method, path: String, body: Option<Body>, after: After| Call {
        method,
        path,
        body,
        after,
    };
    match endpoint {
        Endpoint::Register => call(Method::POST, "/v1/devices".into(), None, After::Registered),
        Endpoint::RevokeDevice => {
            let victim = ctx.fresh_member().await;
            call(
                Method::DELETE,
                format!("/v1/devices/{}", victim.device_id),
                None,
                After::Victim(victim),
            )
        }
        Endpoint::CreateSpace => {
            let id = Uuid::now_v7();
            call(
                Method::POST,
                "/v1/spaces".into(),
                Some(Body::cbor(&CreateSpace { space_id: id })),
                After::SpaceId(id),
            )
        }
        Endpoint::ListSpaces => call(Method::GET, "/v1/spaces".into(), None, After::SpaceList),
        Endpoint::GetSpace => call(
            Method::GET,
            format!("/v1/spaces/{s}"),
            None,
            After::SpaceInfo,
        ),
        Endpoint::AddMember => {
            // One of the member's own devices, as when linking: it already shares a
            // space with the member (a stranger is refused; see below).
            let d = ctx.fresh_linked_device().await;
            call(
                Method::POST,
                format!("/v1/spaces/{s}/members"),
                Some(Body::cbor(&AddMember {
                    device_id: d.device_id,
                })),
                After::Membership {
                    device: d,
                    member_if_ok: true,
                },
            )
        }
        Endpoint::RemoveMember => {
            let d = ctx.fresh_member().await;
            call(
                Method::DELETE,
                format!("/v1/spaces/{s}/members/{}", d.device_id),
                None,
                After::Membership {
                    device: d,
                    member_if_ok: false,
                },
            )
        }
        Endpoint::CreateInvite => {
            let secret = InviteSecret::random();
            call(
                Method::POST,
                format!("/v1/spaces/{s}/invites"),
                Some(Body::cbor(&secret.create_body(b"wrapped", None))),
                After::InviteCreated(secret),
            )
        }
        Endpoint::JoinInvite => {
            // An invite to another space of the member's, so a successful join doesn't
            // make the non-member a member of `space` for the rows below.
            let other = ctx.member.new_space().await.unwrap();
            let secret = InviteSecret::random();
            ctx.member
                .create_invite(other, &secret.create_body(b"wrapped", None))
                .await
                .unwrap();
            call(
                Method::POST,
                format!("/v1/invites/{}/join", secret.invite_id),
                Some(Body::cbor(&JoinInvite {
                    token: secret.token.clone(),
                })),
                After::InviteJoined(secret, other),
            )
        }
        Endpoint::Push => {
            let head = ctx.member.space(s).await.unwrap().head;
            call(
                Method::POST,
                format!("/v1/spaces/{s}/blobs"),
                Some(Body::cbor(&Push {
                    blobs: vec![random_blob(30)],
                })),
                After::Head(head),
            )
        }
        Endpoint::Pull => call(
            Method::GET,
            format!("/v1/spaces/{s}/blobs?after=0"),
            None,
            After::Pulled,
        ),
        Endpoint::PutSnapshot => {
            // A snapshot covering a newer head than the stored one (an equal or older one
            // is kept out by design).
            let head = ctx.member.push(s, &[random_blob(8)]).await.unwrap().head;
            let data = random_bytes(48);
            call(
                Method::PUT,
                format!("/v1/spaces/{s}/snapshot"),
                Some(Body::cbor(&Snapshot {
                    seq: head,
                    data: data.clone(),
                })),
                After::Snapshot(data),
            )
        }
        Endpoint::GetSnapshot => call(
            Method::GET,
            format!("/v1/spaces/{s}/snapshot"),
            None,
            After::GotSnapshot,
        ),
    }
}

/// Check the state after a call; `Err` describes what is wrong.
async fn verify(
    ctx: &Ctx,
    who: Who,
    ok: bool,
    resp: &duet_e2e::relay::Response,
    after: After,
) -> Result<(), String> {
    let s = ctx.space;
    let expect = |cond: bool, what: &str| if cond { Ok(()) } else { Err(what.to_string()) };
    match after {
        After::Registered => {
            let r: Registered = resp.cbor().map_err(|e| e.to_string())?;
            expect(r.token.starts_with("duet_"), "a fresh token")
        }
        After::Victim(victim) => {
            let r = victim.spaces().await;
            if ok {
                expect(
                    r.as_ref().err().and_then(ClientError::code) == Some(ErrorCode::DeviceRevoked),
                    "the victim is revoked",
                )
            } else {
                expect(r.is_ok(), "the victim still works")
            }
        }
        After::SpaceId(id) => {
            let other = ctx.fresh_device().await;
            let r = other.create_space(id).await;
            if ok {
                expect(
                    r.err().and_then(|e| e.code()) == Some(ErrorCode::Conflict),
                    "the space id is taken",
                )
            } else {
                expect(r.is_ok(), "the space id is still free")
            }
        }
        After::SpaceList => {
            if !ok {
                return Ok(());
            }
            let l: SpaceList = resp.cbor().map_err(|e| e.to_string())?;
            let listed = l.spaces.iter().any(|i| i.space_id == s);
            expect(
                listed == (who == Who::Member),
                "the space is listed to its members only",
            )
        }
        After::SpaceInfo => {
            if !ok {
                return Ok(());
            }
            let i: SpaceInfo = resp.cbor().map_err(|e| e.to_string())?;
            expect(
                i.space_id == s && i.members.contains(&ctx.member.device_id),
                "the space's info",
            )
        }
        After::Membership {
            device,
            member_if_ok,
        } => {
            let is_member = device.space(s).await.is_ok();
            expect(
                is_member == (ok == member_if_ok),
                "membership changed iff the call succeeded",
            )
        }
        After::InviteCreated(secret) => {
            let joiner = ctx.fresh_device().await;
            let r = joiner.join(secret.invite_id, &secret.token).await;
            if ok {
                expect(r.is_ok(), "the invite exists")
            } else {
                expect(
                    r.err().and_then(|e| e.code()) == Some(ErrorCode::NotFound),
                    "no invite was stored",
                )
            }
        }
        After::InviteJoined(secret, space) => {
            if ok {
                let j: Joined = resp.cbor().map_err(|e| e.to_string())?;
                expect(
                    j.space_id == space && j.wrapped_key == b"wrapped",
                    "joined the space",
                )?;
            }
            let again = ctx.fresh_device().await;
            let r = again.join(secret.invite_id, &secret.token).await;
            if ok {
                expect(
                    r.err().and_then(|e| e.code()) == Some(ErrorCode::InviteUsed),
                    "the invite is used",
                )
            } else {
                expect(r.is_ok(), "the invite is still unused")
            }
        }
        After::Head(before) => {
            let head = ctx.member.space(s).await.map_err(|e| e.to_string())?.head;
            if ok {
                let p: Pushed = resp.cbor().map_err(|e| e.to_string())?;
                expect(
                    head == before + 1 && p.seqs == vec![before + 1],
                    "the push appended one blob",
                )
            } else {
                expect(head == before, "nothing was appended")
            }
        }
        After::Pulled => {
            if !ok {
                return Ok(());
            }
            let p: Pulled = resp.cbor().map_err(|e| e.to_string())?;
            expect(
                p.blobs.len() as u64 == p.head && p.head >= 2,
                "the whole log",
            )
        }
        After::Snapshot(data) => {
            let stored = ctx.member.snapshot(s).await.map_err(|e| e.to_string())?;
            expect(
                (stored.data == data) == ok,
                "the snapshot changed iff the call succeeded",
            )
        }
        After::GotSnapshot => {
            if !ok {
                return Ok(());
            }
            let snap: Snapshot = resp.cbor().map_err(|e| e.to_string())?;
            expect(!snap.data.is_empty(), "a snapshot")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_over_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let ctx = Ctx::new(&relay.url()).await;

    let mut failures = Vec::new();
    let mut cells = 0;
    for (endpoint, row) in MATRIX {
        for (who, expected) in WHO.iter().zip(row) {
            cells += 1;
            let call = prepare(&ctx, *endpoint).await;
            let token = ctx.token(*who);
            let resp = send(
                &ctx.http,
                &ctx.base,
                call.method.clone(),
                &call.path,
                token.as_deref(),
                call.body,
            )
            .await
            .unwrap();
            let got = if (200..300).contains(&resp.status) {
                Expect::Ok(resp.status)
            } else {
                match resp.code() {
                    Some(code) => Expect::Err(resp.status, code),
                    None => {
                        failures.push(format!(
                            "{endpoint:?} × {who:?}: {} without a typed error body: {:?}",
                            resp.status,
                            String::from_utf8_lossy(&resp.body)
                        ));
                        continue;
                    }
                }
            };
            if let Expect::Err(status, code) = got {
                // The code and the status always agree, and 403 is never used to hide.
                assert_eq!(status, code.http_status(), "{endpoint:?} × {who:?}");
                assert_ne!(status, 403, "{endpoint:?} × {who:?}");
                assert_eq!(
                    resp.content_type.as_deref(),
                    Some("application/json"),
                    "{endpoint:?} × {who:?}: error bodies are JSON"
                );
            }
            if got != *expected {
                failures.push(format!(
                    "{endpoint:?} × {who:?}: expected {expected:?}, got {got:?}"
                ));
                continue;
            }
            let ok = matches!(got, Expect::Ok(_));
            if let Err(what) = verify(&ctx, *who, ok, &resp, call.after).await {
                failures.push(format!("{endpoint:?} × {who:?}: afterwards: {what}"));
            }
        }
    }
    assert_eq!(cells, 13 * 5);
    assert!(
        failures.is_empty(),
        "authorization matrix failures:\n{}",
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers_are_unauthorized() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let base = relay.url();
    let http = http_client();
    let member = Client::register(&base).await.unwrap();
    for header in [
        format!("Basic {}", member.token),
        "Bearer ".to_string(),
        format!("Bearer {}x", member.token),
        member.token.clone(),
    ] {
        let resp = http
            .get(format!("{base}/v1/spaces"))
            .header(reqwest::header::AUTHORIZATION, &header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{header:?}");
        let body: duet_proto::ErrorBody =
            serde_json::from_slice(&resp.bytes().await.unwrap()).expect("a typed error body");
        assert_eq!(body.code, ErrorCode::Unauthorized, "{header:?}");
    }
    // The real token still works.
    assert!(member.spaces().await.unwrap().spaces.is_empty());
}

/// Wait for the next `new` frame and return its (space, seq).
async fn next_new(conn: &mut LiveConn) -> (Uuid, u64) {
    let (space, seq, _) = conn.next_new(WAIT).await;
    (space, seq)
}

async fn live_refusal(base: &str, token: &str) -> ErrorCode {
    match LiveConn::connect(base, token).await {
        Err(ClientError::Api { code, .. }) => code,
        Ok(_) => panic!("the live channel accepted {token:?}"),
        Err(e) => panic!("unexpected live failure: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_channel_authorization() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let base = relay.url();
    let ctx = Ctx::new(&base).await;
    // A second member listens; the first pushes.
    let listener = ctx.fresh_member().await;
    // The non-member shares another space with a helper, to prove ordering below.
    let helper = ctx.fresh_device().await;
    let other_space = ctx.non_member.new_space().await.unwrap();
    ctx.non_member
        .invite_into(other_space, &helper)
        .await
        .unwrap();

    // No token, bad token, revoked: an error frame with the code, then the close.
    assert_eq!(live_refusal(&base, "").await, ErrorCode::Unauthorized);
    assert_eq!(
        live_refusal(&base, BAD_TOKEN).await,
        ErrorCode::Unauthorized
    );
    assert_eq!(
        live_refusal(&base, &ctx.revoked.token).await,
        ErrorCode::DeviceRevoked
    );
    let mut raw = LiveConn::connect_raw(&base).await.unwrap();
    raw.send_frame(&ClientFrame::Auth {
        token: ctx.revoked.token.clone(),
    })
    .await
    .unwrap();
    assert!(matches!(
        raw.recv(WAIT).await,
        LiveEvent::Frame(ServerFrame::Error {
            code: ErrorCode::DeviceRevoked,
            ..
        })
    ));
    assert_eq!(raw.recv(WAIT).await, LiveEvent::Closed);

    // Non-member and member are admitted; only the member hears about the space.
    let mut stranger = ctx.non_member.live().await.unwrap();
    let mut member = listener.live().await.unwrap();
    let pushed = ctx
        .member
        .push(ctx.space, &[random_blob(20)])
        .await
        .unwrap();
    assert_eq!(next_new(&mut member).await, (ctx.space, pushed.seqs[0]));
    // Announcements are published before the push is answered, so had the stranger been
    // told about `space`, that frame would come before this one.
    let theirs = helper.push(other_space, &[random_blob(20)]).await.unwrap();
    assert_eq!(next_new(&mut stranger).await, (other_space, theirs.seqs[0]));

    // Revoking a connected device ends its connection with an error frame, and its token
    // is refused from then on.
    ctx.member.revoke(listener.device_id).await.unwrap();
    match member.recv(WAIT).await {
        LiveEvent::Frame(ServerFrame::Error { code, .. }) => {
            assert_eq!(code, ErrorCode::Unavailable)
        }
        other => panic!("expected an error frame, got {other:?}"),
    }
    assert_eq!(member.recv(WAIT).await, LiveEvent::Closed);
    assert_eq!(
        live_refusal(&base, &listener.token).await,
        ErrorCode::DeviceRevoked
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_member_stops_hearing_and_reading() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let base = relay.url();
    let a = Client::register(&base).await.unwrap();
    let b = Client::register(&base).await.unwrap();
    let space = a.new_space().await.unwrap();
    let b_space = b.new_space().await.unwrap();
    a.invite_into(space, &b).await.unwrap();
    // A stranger to a space cannot add members to it.
    assert_eq!(
        a.add_member(b_space, b.device_id).await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
    let helper = Client::register(&base).await.unwrap();
    b.invite_into(b_space, &helper).await.unwrap();
    // A member can't pull a device it shares nothing with into its space: 404, as for an
    // unknown id, and the device stays out.
    let stranger = Client::register(&base).await.unwrap();
    assert_eq!(
        a.add_member(space, stranger.device_id)
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        stranger.space(space).await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );

    let mut live = b.live().await.unwrap();
    let first = a.push(space, &[random_blob(10)]).await.unwrap();
    assert_eq!(next_new(&mut live).await, (space, first.seqs[0]));

    a.remove_member(space, b.device_id).await.unwrap();
    assert_eq!(
        b.space(space).await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
    assert_eq!(
        b.pull(space, 0, None).await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
    // Removing again: not a member any more.
    assert_eq!(
        a.remove_member(space, b.device_id)
            .await
            .unwrap_err()
            .code(),
        Some(ErrorCode::NotFound)
    );
    a.push(space, &[random_blob(10)]).await.unwrap();
    let theirs = helper.push(b_space, &[random_blob(10)]).await.unwrap();
    assert_eq!(next_new(&mut live).await, (b_space, theirs.seqs[0]));
}

// ---------------------------------------------------------------------------------------
// Invites
// ---------------------------------------------------------------------------------------

async fn invite_setup(base: &str) -> (Client, Uuid) {
    let inviter = Client::register(base).await.unwrap();
    let space = inviter.new_space().await.unwrap();
    (inviter, space)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_is_single_use() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let base = relay.url();
    let (inviter, space) = invite_setup(&base).await;
    let secret = InviteSecret::random();
    let created: InviteCreated = inviter
        .create_invite(space, &secret.create_body(b"wrapped space key", Some(600)))
        .await
        .unwrap();
    assert_eq!(created.invite_id, secret.invite_id);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((created.expires_at - (now + 600)).abs() <= 5);

    let partner = Client::register(&base).await.unwrap();
    let joined = partner.join(secret.invite_id, &secret.token).await.unwrap();
    assert_eq!(joined.space_id, space);
    assert_eq!(joined.wrapped_key, b"wrapped space key");
    let info = partner.space(space).await.unwrap();
    assert!(info.members.contains(&partner.device_id));
    assert!(info.members.contains(&inviter.device_id));

    // Used: refused for anyone, the joiner included, and the latecomer is not a member.
    let latecomer = Client::register(&base).await.unwrap();
    let e = latecomer
        .join(secret.invite_id, &secret.token)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(410), Some(ErrorCode::InviteUsed))
    );
    let e = partner
        .join(secret.invite_id, &secret.token)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InviteUsed));
    assert_eq!(
        latecomer.space(space).await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
    // Unknown invite ids are not found; reusing an invite id is a conflict.
    let e = latecomer
        .join(Uuid::now_v7(), &secret.token)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(404), Some(ErrorCode::NotFound))
    );
    let e = inviter
        .create_invite(space, &secret.create_body(b"again", None))
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(409), Some(ErrorCode::Conflict))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_expires() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let base = relay.url();
    let (inviter, space) = invite_setup(&base).await;

    // Out-of-range lifetimes and malformed invites are refused.
    for (ttl, hash_len, key_len) in [
        (Some(0), 32, 8),
        (Some(7 * 24 * 3600 + 1), 32, 8),
        (None, 31, 8),
        (None, 32, 0),
        (None, 32, 4097),
    ] {
        let secret = InviteSecret::random();
        let mut body = secret.create_body(&vec![7u8; key_len], ttl);
        body.token_hash.truncate(hash_len);
        let e = inviter.create_invite(space, &body).await.unwrap_err();
        assert_eq!(
            (e.status(), e.code()),
            (Some(400), Some(ErrorCode::InvalidRequest)),
            "ttl {ttl:?}, hash {hash_len}, key {key_len}"
        );
    }

    let quick = InviteSecret::random();
    let expiring = InviteSecret::random();
    for s in [&quick, &expiring] {
        inviter
            .create_invite(space, &s.create_body(b"k", Some(1)))
            .await
            .unwrap();
    }
    // Within its second it works...
    let early = Client::register(&base).await.unwrap();
    early.join(quick.invite_id, &quick.token).await.unwrap();
    // ...and after it, even the right token is refused.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let late = Client::register(&base).await.unwrap();
    let e = late
        .join(expiring.invite_id, &expiring.token)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(410), Some(ErrorCode::InviteExpired))
    );
    assert_eq!(
        late.space(space).await.unwrap_err().code(),
        Some(ErrorCode::NotFound)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_brute_force_burns_it() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let base = relay.url();
    let (inviter, space) = invite_setup(&base).await;
    let secret = InviteSecret::random();
    inviter
        .create_invite(space, &secret.create_body(b"k", None))
        .await
        .unwrap();

    let attacker = Client::register(&base).await.unwrap();
    for attempt in 1..=5 {
        let e = attacker
            .join(secret.invite_id, &random_bytes(32))
            .await
            .unwrap_err();
        if attempt < 5 {
            assert_eq!(
                (e.status(), e.code()),
                (Some(403), Some(ErrorCode::InviteWrongToken)),
                "attempt {attempt}"
            );
        } else {
            // The fifth wrong token burns it.
            assert_eq!(
                (e.status(), e.code()),
                (Some(410), Some(ErrorCode::InviteBurned)),
                "attempt {attempt}"
            );
        }
    }
    let partner = Client::register(&base).await.unwrap();
    let e = partner
        .join(secret.invite_id, &secret.token)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(410), Some(ErrorCode::InviteBurned))
    );
    for d in [&attacker, &partner] {
        assert_eq!(
            d.space(space).await.unwrap_err().code(),
            Some(ErrorCode::NotFound)
        );
    }

    // Concurrent guessing cannot get more than the allowed attempts either: of 20
    // simultaneous wrong guesses exactly 4 are told "wrong" and the rest "burned", and
    // then the right token is refused.
    let secret = InviteSecret::random();
    inviter
        .create_invite(space, &secret.create_body(b"k", None))
        .await
        .unwrap();
    let guesses = (0..20).map(|_| {
        let attacker = attacker.clone();
        let id = secret.invite_id;
        tokio::spawn(async move { attacker.join(id, &random_bytes(32)).await })
    });
    let mut wrong = 0;
    let mut burned = 0;
    for g in guesses {
        match g.await.unwrap().unwrap_err().code() {
            Some(ErrorCode::InviteWrongToken) => wrong += 1,
            Some(ErrorCode::InviteBurned) => burned += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((wrong, burned), (4, 16));
    let e = partner
        .join(secret.invite_id, &secret.token)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InviteBurned));
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_stores_only_token_hashes() {
    let dir = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(dir.path());
    let base = relay.url();
    let (inviter, space) = invite_setup(&base).await;
    let used = InviteSecret::random();
    let pending = InviteSecret::random();
    for s in [&used, &pending] {
        inviter
            .create_invite(space, &s.create_body(b"wrapped", None))
            .await
            .unwrap();
    }
    let partner = Client::register(&base).await.unwrap();
    partner.join(used.invite_id, &used.token).await.unwrap();

    // Everything SQLite holds: the main file and the write-ahead log.
    let mut stored = Vec::new();
    for name in ["relay.sqlite3", "relay.sqlite3-wal"] {
        if let Ok(b) = std::fs::read(dir.path().join(name)) {
            stored.extend(b);
        }
    }
    assert!(!stored.is_empty());
    for s in [&used, &pending] {
        assert!(
            !contains(&stored, &s.token),
            "the relay stored an invite token"
        );
        // The search does see what is stored: the hash is there.
        assert!(contains(&stored, &s.hash), "the invite's hash is stored");
    }
    for d in [&inviter, &partner] {
        assert!(
            !contains(&stored, d.token.as_bytes()),
            "the relay stored a bearer token"
        );
        let hash: [u8; 32] = Sha256::digest(d.token.as_bytes()).into();
        assert!(
            contains(&stored, &hash),
            "the bearer token's hash is stored"
        );
    }
    drop(relay);
}
