//! Who may call what, against a real `duet-relay` process. The written rules (the table in
//! ARCHITECTURE.md, "Who may do what") are [`MATRIX`]: every endpoint × every role a
//! caller can have towards a shared journal — no token, a bad token, a stranger, a revoked
//! device, a former partner (removed), the partner, another device of the journal's owner —
//! checked by status AND error code AND by the state afterwards (a refused call changed
//! nothing). Then the live channel's authentication; invites (single use, expiry, brute
//! force) and that the relay keeps only token hashes.

use std::time::Duration;

use duet_e2e::relay::{
    Body, Client, ClientError, InviteSecret, LiveConn, LiveEvent, OCTETS, RecoverySecret,
    RelayProcess, attachment_hash, attachment_path, http_client, random_blob, random_bytes,
    refusal, refused, send, upload_path,
};
use duet_e2e::store::sqlite_bytes;
use duet_e2e::text::contains_bytes;
use duet_proto::attachments::UploadStatus;
use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::{
    AddMember, CreateSpace, ErrorCode, HeldDrops, InviteCreated, InviteKind, JoinInvite, Joined,
    KeyDrop, KeyDrops, KeyEpoch, Pulled, Push, Pushed, PutRecoveryKit, Recovered, RecoveryKitInfo,
    Registered, Snapshot, SpaceInfo, SpaceKind, SpaceList, WhoAmI,
};
use reqwest::Method;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);
/// A well-formed token the relay never issued.
const BAD_TOKEN: &str = "duet_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// The caller's relation to the shared journal of the cast (Ada's, with Ben as partner).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    NoToken,
    BadToken,
    /// Registered, with a space of its own, never in the journal.
    Stranger,
    /// One of Ada's devices that Ada revoked (a lost phone).
    Revoked,
    /// A former partner: was in the journal, then removed (holds his token and old codes).
    Removed,
    /// Ben, the partner.
    Partner,
    /// Another device of Ada's, linked through her personal space.
    Own,
}

const WHO: [Who; 7] = [
    Who::NoToken,
    Who::BadToken,
    Who::Stranger,
    Who::Revoked,
    Who::Removed,
    Who::Partner,
    Who::Own,
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
const REFUSED: Expect = Expect::Err(403, ErrorCode::NotAllowed);
const CONFLICT: Expect = Expect::Err(409, ErrorCode::Conflict);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Register,
    WhoAmI,
    /// Revoke a device of the caller's own person.
    RevokeOwnDevice,
    /// Revoke a device of someone else (the partner's, for a journal member).
    RevokeOthersDevice,
    CreateSpace,
    /// Create a space with the journal's id: the same answer as a free id, nothing changes.
    ProbeTakenSpaceId,
    ListSpaces,
    GetSpace,
    /// Add a device of the caller's own person to the journal.
    AddOwnDevice,
    /// Add someone else's device to the journal.
    AddOthersDevice,
    /// Remove the other person from a journal the two share (the whole person goes).
    RemovePartner,
    /// Take a device out of the other person's personal space.
    TouchOthersPersonal,
    CreatePartnerInvite,
    CreateDeviceInvite,
    /// A partner invite into the caller's own personal space.
    PartnerInviteIntoPersonal,
    JoinInvite,
    /// Announce a key rotation of a journal the caller's person shares.
    AnnounceEpoch,
    Push,
    Pull,
    PutSnapshot,
    GetSnapshot,
    /// Register the caller's person's share of a prompt round (ADR 11).
    PutAnswer,
    ListAnswers,
    /// Reveal early a round the caller's person answered (members answer first).
    RevealAnswer,
    /// Leave the key of a journal's announced epoch sealed to another member device.
    PutKeyDrops,
    /// The key drops left for the calling device.
    ListKeyDrops,
    /// Make a recovery kit of the caller's person that lists the journal.
    MakeRecoveryKit,
    /// Update (no auth hash) the kit of the caller's own person.
    UpdateOwnRecoveryKit,
    /// Update (no auth hash) the kit of someone else.
    UpdateOthersRecoveryKit,
    /// Make a kit at the lookup id of someone else's.
    TakeOthersRecoveryLookup,
    /// Read the caller's person's kit.
    GetRecoveryKit,
    /// Prove someone's kit with its secret (the kit is the credential; no token needed).
    Recover,
    /// Upload an attachment (one PATCH, all its bytes) to the journal.
    UploadAttachment,
    /// How far an upload to the journal has come.
    AttachmentUploadStatus,
    /// Download an attachment of the journal.
    DownloadAttachment,
    /// Add a reference to an attachment of the journal.
    AddAttachmentRef,
    /// Release the reference that keeps an attachment of the journal.
    ReleaseAttachmentRef,
}

/// A row: any working device may (the call concerns only the caller's own things).
const fn any_device(status: u16) -> [Expect; 7] {
    let y = Yes(status);
    [UNAUTH, UNAUTH, y, REVOKED, y, y, y]
}

/// A row: the journal's members may; to anyone else the journal doesn't exist.
const fn members(status: u16) -> [Expect; 7] {
    let y = Yes(status);
    [UNAUTH, UNAUTH, HIDDEN, REVOKED, HIDDEN, y, y]
}

/// A row: nobody may, and the thing is hidden from everyone the token is good for.
const NOBODY: [Expect; 7] = [UNAUTH, UNAUTH, HIDDEN, REVOKED, HIDDEN, HIDDEN, HIDDEN];

/// The written rules: columns are [no token, bad token, stranger, revoked, removed,
/// partner, own device].
const MATRIX: &[(Endpoint, [Expect; 7])] = &[
    // Registering needs no token; a stray header changes nothing.
    (Endpoint::Register, [Yes(201); 7]),
    (Endpoint::WhoAmI, any_device(200)),
    // Only a person's own devices revoke that person's devices.
    (Endpoint::RevokeOwnDevice, any_device(204)),
    (Endpoint::RevokeOthersDevice, NOBODY),
    (Endpoint::CreateSpace, any_device(201)),
    (Endpoint::ProbeTakenSpaceId, any_device(201)),
    (Endpoint::ListSpaces, any_device(200)),
    (Endpoint::GetSpace, members(200)),
    (Endpoint::AddOwnDevice, members(204)),
    (Endpoint::AddOthersDevice, NOBODY),
    // Removing the other from a shared journal is each partner's one power over the other.
    (Endpoint::RemovePartner, members(204)),
    (Endpoint::TouchOthersPersonal, NOBODY),
    (Endpoint::CreatePartnerInvite, members(201)),
    (Endpoint::CreateDeviceInvite, members(201)),
    (
        Endpoint::PartnerInviteIntoPersonal,
        [UNAUTH, UNAUTH, REFUSED, REVOKED, REFUSED, REFUSED, REFUSED],
    ),
    // Joining is how someone new comes in (here: a fresh journal of Ada's, one person so far).
    (Endpoint::JoinInvite, any_device(200)),
    // A space's own traffic: members only, whatever it is.
    (Endpoint::AnnounceEpoch, members(204)),
    (Endpoint::Push, members(200)),
    (Endpoint::Pull, members(200)),
    (Endpoint::PutSnapshot, members(204)),
    (Endpoint::GetSnapshot, members(200)),
    // Sealed answers' shares (ADR 11) and key drops (ADR 12).
    (Endpoint::PutAnswer, members(200)),
    (Endpoint::ListAnswers, members(200)),
    (Endpoint::RevealAnswer, members(204)),
    (Endpoint::PutKeyDrops, members(204)),
    (Endpoint::ListKeyDrops, members(200)),
    // A kit's lookup id is its person's; another's is taken by nobody.
    (
        Endpoint::TakeOthersRecoveryLookup,
        [
            UNAUTH, UNAUTH, CONFLICT, REVOKED, CONFLICT, CONFLICT, CONFLICT,
        ],
    ),
    // A kit lists only spaces the caller is in; only the person's own devices change it.
    (Endpoint::MakeRecoveryKit, members(204)),
    (Endpoint::UpdateOwnRecoveryKit, any_device(204)),
    (Endpoint::UpdateOthersRecoveryKit, NOBODY),
    (Endpoint::GetRecoveryKit, any_device(200)),
    // Recovering needs no token (as registering); a stray header changes nothing.
    (Endpoint::Recover, [Yes(201); 7]),
    // Attachments (issue 11) are the space's own traffic too.
    (Endpoint::UploadAttachment, members(200)),
    (Endpoint::AttachmentUploadStatus, members(200)),
    (Endpoint::DownloadAttachment, members(200)),
    (Endpoint::AddAttachmentRef, members(200)),
    (Endpoint::ReleaseAttachmentRef, members(204)),
];

/// The cast: Ada's journal shared with Ben; Ada's second device; a former partner who was
/// removed; Ada's revoked device; a stranger.
struct Ctx {
    base: String,
    http: reqwest::Client,
    space: Uuid,
    /// Ada's first device: sets things up, never a column.
    ada: Client,
    own: Client,
    partner: Client,
    removed: Client,
    revoked: Client,
    stranger: Client,
}

impl Ctx {
    async fn new(base: &str) -> Ctx {
        let http = http_client();
        let ada = Client::register_with(&http, base).await.unwrap();
        let own = Client::register_with(&http, base).await.unwrap();
        ada.link(&own).await.unwrap();
        let space = ada.new_space().await.unwrap();
        ada.add_member(space, own.device_id).await.unwrap();
        ada.push(space, &[random_blob(40), random_blob(50)])
            .await
            .unwrap();
        ada.put_snapshot(
            space,
            &Snapshot {
                seq: 2,
                data: random_bytes(64),
            },
        )
        .await
        .unwrap();
        // The former partner: joined, then removed (his person, all of it).
        let removed = Client::register_with(&http, base).await.unwrap();
        ada.invite_into(space, &removed).await.unwrap();
        removed.new_space().await.unwrap();
        ada.remove_member(space, removed.device_id).await.unwrap();
        let partner = Client::register_with(&http, base).await.unwrap();
        ada.invite_into(space, &partner).await.unwrap();
        let revoked = Client::register_with(&http, base).await.unwrap();
        ada.admit_own_device(space, &revoked).await.unwrap();
        assert_eq!(revoked.space(space).await.unwrap().space_id, space);
        ada.revoke(revoked.device_id).await.unwrap();
        let stranger = Client::register_with(&http, base).await.unwrap();
        stranger.new_space().await.unwrap();
        Ctx {
            base: base.to_string(),
            http,
            space,
            ada,
            own,
            partner,
            removed,
            revoked,
            stranger,
        }
    }

    fn token(&self, who: Who) -> Option<String> {
        match who {
            Who::NoToken => None,
            Who::BadToken => Some(BAD_TOKEN.to_string()),
            Who::Stranger => Some(self.stranger.token.clone()),
            Who::Revoked => Some(self.revoked.token.clone()),
            Who::Removed => Some(self.removed.token.clone()),
            Who::Partner => Some(self.partner.token.clone()),
            Who::Own => Some(self.own.token.clone()),
        }
    }

    /// A live device of the caller's person (Ada's where the caller has none that works).
    fn of(&self, who: Who) -> &Client {
        match who {
            Who::Stranger => &self.stranger,
            Who::Removed => &self.removed,
            Who::Partner => &self.partner,
            Who::Own => &self.own,
            Who::NoToken | Who::BadToken | Who::Revoked => &self.ada,
        }
    }

    /// A live device of someone other than the caller: Ben's for Ada's devices, Ada's for
    /// everyone else.
    fn other_than(&self, who: Who) -> &Client {
        match who {
            Who::Own => &self.partner,
            _ => &self.ada,
        }
    }

    async fn fresh_device(&self) -> Client {
        Client::register_with(&self.http, &self.base).await.unwrap()
    }

    /// A fresh device linked to the person `of` acts for.
    async fn fresh_device_of(&self, of: &Client) -> Client {
        let d = self.fresh_device().await;
        of.link(&d).await.unwrap();
        d
    }

    /// A fresh journal of Ada's (with her second device) shared with Ben.
    async fn fresh_shared_journal(&self) -> Uuid {
        let j = self.ada.new_space().await.unwrap();
        self.ada.add_member(j, self.own.device_id).await.unwrap();
        self.ada.invite_into(j, &self.partner).await.unwrap();
        j
    }

    /// [`fresh_shared_journal`](Self::fresh_shared_journal) with its key announced at
    /// epoch 2.
    async fn fresh_rotated_journal(&self) -> Uuid {
        let j = self.fresh_shared_journal().await;
        self.ada.announce_epoch(j, 2).await.unwrap();
        j
    }
}

/// What to check after the call, whether it succeeded or not.
enum After {
    Registered,
    /// The answer names the caller.
    Me(Uuid),
    /// The victim's token works iff the revocation failed.
    Victim(Client),
    /// Someone else creating this id gets a space they're a member of iff the call failed.
    SpaceId(Uuid),
    /// The journal is as it was, and the caller a member of it iff it was before.
    Untouched {
        caller_member: bool,
    },
    SpaceList,
    SpaceInfo,
    /// These devices are members of the space iff `member_if_ok` == the call succeeded.
    Membership {
        space: Uuid,
        devices: Vec<Client>,
        member_if_ok: bool,
    },
    /// If the invite was stored, joining it gives this answer; otherwise `not_found`.
    InviteCreated {
        secret: InviteSecret,
        joiner: Client,
        then: Result<(), ErrorCode>,
    },
    /// A second join with this secret (to this space) is refused as used iff the call
    /// succeeded.
    InviteJoined(InviteSecret, Uuid),
    /// The space's announced key epoch is 2 iff the call succeeded (else still 0).
    Epoch(Uuid),
    /// The space's head moved by one iff the call succeeded.
    Head(u64),
    Pulled,
    /// The snapshot holds these bytes iff the call succeeded.
    Snapshot(Vec<u8>),
    GotSnapshot,
    /// Ada sees an answer to this round (with `reveal`: revealed) iff the call succeeded.
    Answer {
        round: String,
        reveal: bool,
    },
    Answers,
    /// `to` holds a key drop of these bytes in the space iff the call succeeded.
    KeyDropFor {
        space: Uuid,
        to: Client,
        sealed: Vec<u8>,
    },
    /// The answer lists exactly the caller's drop: these bytes, from Ada, of epoch 2.
    HeldDrops(Vec<u8>),
    /// `of`'s person's kit is at this lookup id, made by `of`, iff the call succeeded.
    KitMade {
        of: Client,
        lookup: [u8; 16],
    },
    /// `of`'s person's kit lists `space` iff `listed_if_ok` == the call succeeded.
    KitLists {
        of: Client,
        space: Uuid,
        listed_if_ok: bool,
    },
    /// `of`'s kit is still at this lookup id, made by `of`.
    KitKept {
        of: Client,
        lookup: [u8; 16],
    },
    /// The answer is the kit at this lookup id, made by this device.
    KitInfo {
        lookup: [u8; 16],
        made_by: Uuid,
    },
    /// A new device of this person, admitted to this space.
    Recovered {
        person: Uuid,
        space: Uuid,
    },
    /// The journal holds these bytes as an attachment iff the call succeeded.
    AttachmentStored(Vec<u8>),
    /// The answer says this many bytes of the upload arrived.
    UploadReceived(u64),
    /// The answer is these bytes.
    Downloaded(Vec<u8>),
    /// With Ada's reference released, the attachment stays iff `kept_if_ok` == the call
    /// succeeded.
    AttachmentKept {
        data: Vec<u8>,
        release_first: bool,
        kept_if_ok: bool,
    },
}

struct Call {
    method: Method,
    path: String,
    body: Option<Body>,
    after: After,
}

impl Call {
    fn new(method: Method, path: impl Into<String>, after: After) -> Call {
        let path = path.into();
        Call {
            method,
            path,
            body: None,
            after,
        }
    }

    /// With a CBOR body.
    fn with(self, body: &impl serde::Serialize) -> Call {
        Call {
            body: Some(Body::cbor(body)),
            ..self
        }
    }
}

async fn prepare(ctx: &Ctx, endpoint: Endpoint, who: Who) -> Call {
    use Method as M;
    let s = ctx.space;
    // A device of the caller's own person, or of someone else's.
    let whose = |own: bool| {
        if own {
            ctx.of(who)
        } else {
            ctx.other_than(who)
        }
    };
    let invite_into = |space: Uuid, kind: InviteKind, secret: &InviteSecret| {
        let path = format!("/v1/spaces/{space}/invites");
        (path, secret.create_body_of(kind, b"wrapped", None))
    };
    match endpoint {
        Endpoint::Register => Call::new(M::POST, "/v1/devices", After::Registered),
        Endpoint::WhoAmI => Call::new(M::GET, "/v1/devices/me", After::Me(ctx.of(who).device_id)),
        Endpoint::RevokeOwnDevice | Endpoint::RevokeOthersDevice => {
            let own = endpoint == Endpoint::RevokeOwnDevice;
            let victim = ctx.fresh_device_of(whose(own)).await;
            let path = format!("/v1/devices/{}", victim.device_id);
            Call::new(M::DELETE, path, After::Victim(victim))
        }
        Endpoint::CreateSpace => {
            let id = Uuid::now_v7();
            let body = CreateSpace {
                space_id: id,
                kind: SpaceKind::Journal,
            };
            Call::new(M::POST, "/v1/spaces", After::SpaceId(id)).with(&body)
        }
        Endpoint::ProbeTakenSpaceId => {
            let body = CreateSpace {
                space_id: s,
                kind: SpaceKind::Journal,
            };
            let caller_member = matches!(who, Who::Partner | Who::Own);
            Call::new(M::POST, "/v1/spaces", After::Untouched { caller_member }).with(&body)
        }
        Endpoint::ListSpaces => Call::new(M::GET, "/v1/spaces", After::SpaceList),
        Endpoint::GetSpace => Call::new(M::GET, format!("/v1/spaces/{s}"), After::SpaceInfo),
        Endpoint::AddOwnDevice | Endpoint::AddOthersDevice => {
            let own = endpoint == Endpoint::AddOwnDevice;
            let d = ctx.fresh_device_of(whose(own)).await;
            let body = AddMember {
                device_id: d.device_id,
            };
            let after = After::Membership {
                space: s,
                devices: vec![d],
                member_if_ok: true,
            };
            Call::new(M::POST, format!("/v1/spaces/{s}/members"), after).with(&body)
        }
        Endpoint::RemovePartner => {
            let j = ctx.fresh_shared_journal().await;
            // Ada's devices remove Ben; Ben removes Ada (through either of her devices'
            // ids: all of her goes); others try to remove Ben.
            let (target, devices) = match who {
                Who::Partner => (ctx.own.device_id, vec![ctx.ada.clone(), ctx.own.clone()]),
                _ => (ctx.partner.device_id, vec![ctx.partner.clone()]),
            };
            let after = After::Membership {
                space: j,
                devices,
                member_if_ok: false,
            };
            Call::new(M::DELETE, format!("/v1/spaces/{j}/members/{target}"), after)
        }
        Endpoint::TouchOthersPersonal => {
            // The other person's own space, with a device of theirs in it.
            let d = ctx.fresh_device().await;
            let personal = ctx.other_than(who).link(&d).await.unwrap();
            let path = format!("/v1/spaces/{personal}/members/{}", d.device_id);
            let after = After::Membership {
                space: personal,
                devices: vec![d],
                member_if_ok: false,
            };
            Call::new(M::DELETE, path, after)
        }
        Endpoint::CreatePartnerInvite | Endpoint::CreateDeviceInvite => {
            let secret = InviteSecret::random();
            let (kind, joiner, then) = if endpoint == Endpoint::CreatePartnerInvite {
                // The journal has its two people.
                let joiner = ctx.fresh_device().await;
                (InviteKind::Partner, joiner, Err(ErrorCode::NotAllowed))
            } else {
                let joiner = ctx.fresh_device_of(ctx.of(who)).await;
                (InviteKind::Device, joiner, Ok(()))
            };
            let (path, body) = invite_into(s, kind, &secret);
            let after = After::InviteCreated {
                secret,
                joiner,
                then,
            };
            Call::new(M::POST, path, after).with(&body)
        }
        Endpoint::PartnerInviteIntoPersonal => {
            // A personal space of the caller's (one they just linked a device through).
            let personal = ctx.of(who).link(&ctx.fresh_device().await).await.unwrap();
            let secret = InviteSecret::random();
            let (path, body) = invite_into(personal, InviteKind::Partner, &secret);
            let after = After::InviteCreated {
                secret,
                joiner: ctx.fresh_device().await,
                then: Err(ErrorCode::NotAllowed),
            };
            Call::new(M::POST, path, after).with(&body)
        }
        Endpoint::JoinInvite => {
            // An invite to another journal of Ada's (she alone so far), so a successful join
            // doesn't change `space` for the rows below.
            let other = ctx.ada.new_space().await.unwrap();
            let secret = ctx.ada.invite(other, None).await.unwrap();
            let path = format!("/v1/invites/{}/join", secret.invite_id);
            let body = JoinInvite {
                token: secret.token.clone(),
            };
            Call::new(M::POST, path, After::InviteJoined(secret, other)).with(&body)
        }
        Endpoint::AnnounceEpoch => {
            let j = ctx.fresh_shared_journal().await;
            let body = KeyEpoch { epoch: 2 };
            Call::new(M::PUT, format!("/v1/spaces/{j}/epoch"), After::Epoch(j)).with(&body)
        }
        Endpoint::Push => {
            let head = ctx.ada.space(s).await.unwrap().head;
            let body = Push {
                blobs: vec![random_blob(30)],
            };
            Call::new(M::POST, format!("/v1/spaces/{s}/blobs"), After::Head(head)).with(&body)
        }
        Endpoint::Pull => Call::new(
            M::GET,
            format!("/v1/spaces/{s}/blobs?after=0"),
            After::Pulled,
        ),
        Endpoint::PutSnapshot => {
            // A snapshot covering a newer head than the stored one (an equal or older one
            // is kept out by design).
            let head = ctx.ada.push(s, &[random_blob(8)]).await.unwrap().head;
            let data = random_bytes(48);
            let body = Snapshot {
                seq: head,
                data: data.clone(),
            };
            let path = format!("/v1/spaces/{s}/snapshot");
            Call::new(M::PUT, path, After::Snapshot(data)).with(&body)
        }
        Endpoint::GetSnapshot => Call::new(
            M::GET,
            format!("/v1/spaces/{s}/snapshot"),
            After::GotSnapshot,
        ),
        Endpoint::PutAnswer => {
            let round = fresh_round();
            let body = duet_proto::AnswerShare {
                share: random_bytes(32),
            };
            let path = format!("/v1/spaces/{s}/answers/{round}");
            Call::new(
                M::PUT,
                path,
                After::Answer {
                    round,
                    reveal: false,
                },
            )
            .with(&body)
        }
        Endpoint::ListAnswers => {
            let path = format!("/v1/spaces/{s}/answers/{}", fresh_round());
            Call::new(M::GET, path, After::Answers)
        }
        Endpoint::RevealAnswer => {
            let round = fresh_round();
            // Members answer first (a reveal is of one's own answer); others can't.
            if matches!(who, Who::Partner | Who::Own) {
                let me = ctx.of(who);
                me.put_answer(s, &round, &random_bytes(32)).await.unwrap();
            }
            let path = format!("/v1/spaces/{s}/answers/{round}/reveal");
            Call::new(
                M::POST,
                path,
                After::Answer {
                    round,
                    reveal: true,
                },
            )
        }
        Endpoint::PutKeyDrops => {
            let j = ctx.fresh_rotated_journal().await;
            let to = whose(false).clone();
            let sealed = random_bytes(104);
            let body = KeyDrops {
                drops: vec![KeyDrop {
                    device: to.device_id,
                    sealed: sealed.clone(),
                }],
            };
            let after = After::KeyDropFor {
                space: j,
                to,
                sealed,
            };
            Call::new(M::PUT, format!("/v1/spaces/{j}/keys/2"), after).with(&body)
        }
        Endpoint::ListKeyDrops => {
            let j = ctx.fresh_rotated_journal().await;
            // Ada leaves one for each of the journal's other devices.
            let (for_own, for_partner) = (random_bytes(104), random_bytes(104));
            let drops = [
                KeyDrop {
                    device: ctx.own.device_id,
                    sealed: for_own.clone(),
                },
                KeyDrop {
                    device: ctx.partner.device_id,
                    sealed: for_partner.clone(),
                },
            ];
            ctx.ada.put_key_drops(j, 2, &drops).await.unwrap();
            let mine = if who == Who::Own {
                for_own
            } else {
                for_partner
            };
            Call::new(
                M::GET,
                format!("/v1/spaces/{j}/keys"),
                After::HeldDrops(mine),
            )
        }
        Endpoint::MakeRecoveryKit => {
            let secret = RecoverySecret::random();
            let of = ctx.of(who).clone();
            let path = kit_path(&secret);
            let after = After::KitMade {
                of,
                lookup: secret.lookup,
            };
            Call::new(M::PUT, path, after).with(&secret.kit(b"sealed", &[s]))
        }
        Endpoint::UpdateOwnRecoveryKit => {
            // A kit listing nothing; the update lists a space of the caller's.
            let of = ctx.of(who).clone();
            let secret = of.make_recovery_kit(b"sealed", &[]).await.unwrap();
            let space = of.spaces().await.unwrap().spaces[0].space_id;
            let body = kit_update(&[space]);
            let after = After::KitLists {
                of,
                space,
                listed_if_ok: true,
            };
            Call::new(M::PUT, kit_path(&secret), after).with(&body)
        }
        Endpoint::UpdateOthersRecoveryKit => {
            // The other's kit lists the journal (both Ada and Ben are in it); the update
            // would list nothing.
            let of = whose(false).clone();
            let secret = of.make_recovery_kit(b"sealed", &[s]).await.unwrap();
            let after = After::KitLists {
                of,
                space: s,
                listed_if_ok: false,
            };
            Call::new(M::PUT, kit_path(&secret), after).with(&kit_update(&[]))
        }
        Endpoint::TakeOthersRecoveryLookup => {
            let of = whose(false).clone();
            let theirs = of.make_recovery_kit(b"sealed", &[]).await.unwrap();
            let mine = RecoverySecret {
                lookup: theirs.lookup,
                ..RecoverySecret::random()
            };
            let after = After::KitKept {
                of,
                lookup: theirs.lookup,
            };
            Call::new(M::PUT, kit_path(&theirs), after).with(&mine.kit(b"mine", &[]))
        }
        Endpoint::GetRecoveryKit => {
            let of = ctx.of(who);
            let secret = of.make_recovery_kit(b"sealed", &[]).await.unwrap();
            let after = After::KitInfo {
                lookup: secret.lookup,
                made_by: of.device_id,
            };
            Call::new(M::GET, "/v1/recovery", after)
        }
        Endpoint::UploadAttachment => {
            let data = random_bytes(1000);
            let hash = attachment_hash(&data);
            let path = upload_path(s, &hash, 0, 1000, &[1; 16]);
            let mut call = Call::new(M::PATCH, path, After::AttachmentStored(data.clone()));
            call.body = Some(Body::raw(OCTETS, data));
            call
        }
        Endpoint::AttachmentUploadStatus => {
            let data = random_bytes(1000);
            let hash = attachment_hash(&data);
            ctx.ada
                .upload_piece(s, &hash, 0, 1000, &[1; 16], &data[..400])
                .await
                .unwrap();
            let path = format!("{}/upload", attachment_path(s, &hash));
            Call::new(M::GET, path, After::UploadReceived(400))
        }
        Endpoint::DownloadAttachment => {
            let data = random_bytes(1000);
            ctx.ada
                .upload_attachment(s, &data, &[1; 16], 4096)
                .await
                .unwrap();
            let path = attachment_path(s, &attachment_hash(&data));
            Call::new(M::GET, path, After::Downloaded(data))
        }
        Endpoint::AddAttachmentRef | Endpoint::ReleaseAttachmentRef => {
            let data = random_bytes(1000);
            ctx.ada
                .upload_attachment(s, &data, &[1; 16], 4096)
                .await
                .unwrap();
            let add = endpoint == Endpoint::AddAttachmentRef;
            // Adding a second reference keeps the object past Ada's; releasing Ada's (the
            // only one) frees it.
            let r = if add { [2; 16] } else { [1; 16] };
            let path = format!(
                "{}/refs/{}",
                attachment_path(s, &attachment_hash(&data)),
                duet_proto::attachments::to_hex(&r)
            );
            let after = After::AttachmentKept {
                data,
                release_first: add,
                kept_if_ok: add,
            };
            Call::new(if add { M::PUT } else { M::DELETE }, path, after)
        }
        Endpoint::Recover => {
            // Someone new with a space of their own, and a kit listing it.
            let (owner, space) = (ctx.fresh_device().await, Uuid::now_v7());
            owner
                .create_space_of(space, SpaceKind::Personal)
                .await
                .unwrap();
            let secret = owner.make_recovery_kit(b"sealed", &[space]).await.unwrap();
            let person = owner.whoami().await.unwrap().person;
            let after = After::Recovered { person, space };
            Call::new(M::POST, kit_path(&secret), after).with(&secret.recover_body())
        }
    }
}

fn kit_path(secret: &RecoverySecret) -> String {
    format!("/v1/recovery/{}", secret.lookup_hex())
}

/// A kit update (no auth hash) listing `spaces`.
fn kit_update(spaces: &[Uuid]) -> PutRecoveryKit {
    PutRecoveryKit {
        auth_hash: None,
        envelope: b"updated".to_vec(),
        spaces: spaces.to_vec(),
    }
}

/// A prompt round no call has used yet.
fn fresh_round() -> String {
    format!("auth.{}", Uuid::now_v7().simple())
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
        After::Me(device) => {
            if !ok {
                return Ok(());
            }
            let me: WhoAmI = resp.cbor().map_err(|e| e.to_string())?;
            expect(me.device_id == device, "the caller's own device id")
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
            let created = other.create_space(id).await;
            expect(
                created.is_ok(),
                "creating an id answers the same either way",
            )?;
            let member = other.space(id).await.is_ok();
            expect(
                member != ok,
                "someone else gets the id iff the call failed to take it",
            )
        }
        After::Untouched { caller_member } => {
            let info = ctx.ada.space(s).await.map_err(|e| e.to_string())?;
            expect(info.head >= 2, "the journal's log is intact")?;
            if matches!(who, Who::NoToken | Who::BadToken | Who::Revoked) {
                return Ok(());
            }
            let is_member = ctx.of(who).space(s).await.is_ok();
            expect(
                is_member == caller_member,
                "membership unchanged by probing an id",
            )
        }
        After::SpaceList => {
            if !ok {
                return Ok(());
            }
            let l: SpaceList = resp.cbor().map_err(|e| e.to_string())?;
            let listed = l.spaces.iter().any(|i| i.space_id == s);
            expect(
                listed == matches!(who, Who::Partner | Who::Own),
                "the space is listed to its members only",
            )
        }
        After::SpaceInfo => {
            if !ok {
                return Ok(());
            }
            let i: SpaceInfo = resp.cbor().map_err(|e| e.to_string())?;
            expect(
                i.space_id == s
                    && i.members.contains(&ctx.ada.device_id)
                    && !i.members.contains(&ctx.removed.device_id)
                    && i.persons.len() == i.members.len(),
                "the space's info",
            )
        }
        After::Membership {
            space,
            devices,
            member_if_ok,
        } => {
            for d in devices {
                let is_member = d.space(space).await.is_ok();
                expect(
                    is_member == (ok == member_if_ok),
                    "membership changed iff the call succeeded",
                )?;
            }
            Ok(())
        }
        After::InviteCreated {
            secret,
            joiner,
            then,
        } => {
            let r = joiner.join(secret.invite_id, &secret.token).await;
            let got = r
                .map(drop)
                .map_err(|e| e.code().unwrap_or(ErrorCode::Internal));
            if ok {
                expect(got == then, "the stored invite admits exactly whom it may")
            } else {
                expect(got == Err(ErrorCode::NotFound), "no invite was stored")
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
        After::Epoch(j) => {
            let info = ctx.ada.space(j).await.map_err(|e| e.to_string())?;
            expect(
                info.key_epoch == if ok { 2 } else { 0 },
                "the epoch moved iff the call succeeded",
            )
        }
        After::Head(before) => {
            let head = ctx.ada.space(s).await.map_err(|e| e.to_string())?.head;
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
            let stored = ctx.ada.snapshot(s).await.map_err(|e| e.to_string())?;
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
        After::Answer { round, reveal } => {
            let seen = ctx
                .ada
                .answers(s, &round)
                .await
                .map_err(|e| e.to_string())?;
            if reveal {
                expect(
                    seen.answers.iter().any(|a| a.revealed) == ok,
                    "the answer is revealed iff the call succeeded",
                )
            } else {
                expect(
                    seen.answers.len() == usize::from(ok),
                    "an answer is listed iff the call succeeded",
                )
            }
        }
        After::Answers => {
            if !ok {
                return Ok(());
            }
            let a: duet_proto::Answers = resp.cbor().map_err(|e| e.to_string())?;
            expect(a.answers.is_empty(), "nobody answered a fresh round")
        }
        After::KeyDropFor { space, to, sealed } => {
            let held = to.key_drops(space).await.map_err(|e| e.to_string())?;
            expect(
                held.drops.iter().any(|d| d.sealed == sealed) == ok,
                "the drop is stored iff the call succeeded",
            )
        }
        After::HeldDrops(mine) => {
            if !ok {
                return Ok(());
            }
            let h: HeldDrops = resp.cbor().map_err(|e| e.to_string())?;
            expect(
                h.drops.len() == 1
                    && h.drops[0].sealed == mine
                    && h.drops[0].sender == ctx.ada.device_id
                    && h.drops[0].epoch == 2,
                "the caller's own drop and no other",
            )
        }
        After::KitMade { of, lookup } => {
            let kit = of.recovery_kit().await.ok();
            let made = kit.is_some_and(|k| k.lookup == lookup && k.made_by == of.device_id);
            expect(made == ok, "the kit was made iff the call succeeded")
        }
        After::KitLists {
            of,
            space,
            listed_if_ok,
        } => {
            let kit = of.recovery_kit().await.map_err(|e| e.to_string())?;
            expect(
                kit.spaces.contains(&space) == (ok == listed_if_ok),
                "the kit changed iff the call succeeded",
            )
        }
        After::KitKept { of, lookup } => {
            let kit = of.recovery_kit().await.map_err(|e| e.to_string())?;
            expect(
                kit.lookup == lookup && kit.made_by == of.device_id,
                "the kit is still its maker's",
            )
        }
        After::KitInfo { lookup, made_by } => {
            if !ok {
                return Ok(());
            }
            let k: RecoveryKitInfo = resp.cbor().map_err(|e| e.to_string())?;
            expect(
                k.lookup == lookup && k.made_by == made_by,
                "the caller's person's kit",
            )
        }
        After::Recovered { person, space } => {
            let r: Recovered = resp.cbor().map_err(|e| e.to_string())?;
            expect(
                r.person == person && r.spaces == vec![space],
                "a device of the kit's person, in its space",
            )?;
            let device = Client::from_credentials(&ctx.base, r.device_id, r.token);
            expect(
                device.space(space).await.is_ok(),
                "the recovered device reads its space",
            )
        }
        After::AttachmentStored(data) => {
            let got = ctx.ada.download(s, &attachment_hash(&data)).await;
            expect(
                got.as_ref().is_ok_and(|b| *b == data) == ok,
                "the attachment is stored iff the call succeeded",
            )
        }
        After::UploadReceived(n) => {
            if !ok {
                return Ok(());
            }
            let st: UploadStatus = resp.cbor().map_err(|e| e.to_string())?;
            expect(st.received == n && !st.complete, "the upload's progress")
        }
        After::Downloaded(data) => {
            if !ok {
                return Ok(());
            }
            expect(resp.body == data, "the attachment's bytes")
        }
        After::AttachmentKept {
            data,
            release_first,
            kept_if_ok,
        } => {
            let hash = attachment_hash(&data);
            if release_first {
                ctx.ada
                    .release_attachment_ref(s, &hash, &[1; 16])
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let kept = ctx.ada.download(s, &hash).await.is_ok();
            expect(
                kept == (ok == kept_if_ok),
                "the attachment stays iff a reference keeps it",
            )
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorization_matrix_over_every_endpoint_and_role() {
    let relay = RelayProcess::temp();
    let ctx = Ctx::new(&relay.url()).await;

    let mut failures = Vec::new();
    let mut cells = 0;
    for (endpoint, row) in MATRIX {
        for (who, expected) in WHO.iter().zip(row) {
            cells += 1;
            let call = prepare(&ctx, *endpoint, *who).await;
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
                // The code and the status always agree; 403 says "not allowed" to someone
                // who may see the thing, and never hides one (that is 404).
                assert_eq!(status, code.http_status(), "{endpoint:?} × {who:?}");
                if status == 403 {
                    assert_eq!(code, ErrorCode::NotAllowed, "{endpoint:?} × {who:?}");
                }
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
    assert_eq!(cells, MATRIX.len() * WHO.len());
    assert_eq!(MATRIX.len(), 37, "every endpoint has a row");
    assert!(
        failures.is_empty(),
        "authorization matrix failures:\n{}",
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_authorization_headers_are_unauthorized() {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let member = Client::register(&base).await.unwrap();
    for header in [
        format!("Basic {}", member.token),
        "Bearer ".to_string(),
        format!("Bearer {}x", member.token),
        member.token.clone(),
    ] {
        let resp = member
            .http()
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
    let relay = RelayProcess::temp();
    let base = relay.url();
    let ctx = Ctx::new(&base).await;
    // Another device of Ada's listens; Ada pushes.
    let listener = ctx.fresh_device_of(&ctx.ada).await;
    ctx.ada
        .add_member(ctx.space, listener.device_id)
        .await
        .unwrap();
    // The stranger shares another space with a helper, to prove ordering below.
    let helper = ctx.fresh_device().await;
    let other_space = ctx.stranger.new_space().await.unwrap();
    ctx.stranger
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

    // A stranger and a member are admitted; only the member hears about the space.
    let mut stranger = ctx.stranger.live().await.unwrap();
    let mut member = listener.live().await.unwrap();
    let pushed = ctx.ada.push(ctx.space, &[random_blob(20)]).await.unwrap();
    assert_eq!(next_new(&mut member).await, (ctx.space, pushed.seqs[0]));
    // Announcements are published before the push is answered, so had the stranger been
    // told about `space`, that frame would come before this one.
    let theirs = helper.push(other_space, &[random_blob(20)]).await.unwrap();
    assert_eq!(next_new(&mut stranger).await, (other_space, theirs.seqs[0]));

    // Revoking a connected device ends its connection with an error frame, and its token
    // is refused from then on.
    ctx.ada.revoke(listener.device_id).await.unwrap();
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
    let relay = RelayProcess::temp();
    let base = relay.url();
    let (a, b, space) = Client::partners(&base).await.unwrap();
    let b_space = b.new_space().await.unwrap();
    // A stranger to a space cannot add members to it.
    assert_eq!(
        refused(a.add_member(b_space, b.device_id).await),
        ErrorCode::NotFound
    );
    let helper = Client::register(&base).await.unwrap();
    b.invite_into(b_space, &helper).await.unwrap();
    // A member can't pull a device it shares nothing with into its space: 404, as for an
    // unknown id, and the device stays out.
    let stranger = Client::register(&base).await.unwrap();
    assert_eq!(
        refused(a.add_member(space, stranger.device_id).await),
        ErrorCode::NotFound
    );
    assert_eq!(refused(stranger.space(space).await), ErrorCode::NotFound);

    let mut live = b.live().await.unwrap();
    let first = a.push(space, &[random_blob(10)]).await.unwrap();
    assert_eq!(next_new(&mut live).await, (space, first.seqs[0]));

    a.remove_member(space, b.device_id).await.unwrap();
    assert_eq!(refused(b.space(space).await), ErrorCode::NotFound);
    assert_eq!(refused(b.pull(space, 0, None).await), ErrorCode::NotFound);
    // Removing again: not a member any more.
    assert_eq!(
        refused(a.remove_member(space, b.device_id).await),
        ErrorCode::NotFound
    );
    a.push(space, &[random_blob(10)]).await.unwrap();
    let theirs = helper.push(b_space, &[random_blob(10)]).await.unwrap();
    assert_eq!(next_new(&mut live).await, (b_space, theirs.seqs[0]));
}

// ---------------------------------------------------------------------------------------
// Invites
// ---------------------------------------------------------------------------------------

/// A relay of its own (and its URL) with an inviter and the inviter's space on it.
async fn invite_setup() -> (RelayProcess, String, Client, Uuid) {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let (inviter, space) = Client::with_space(&base).await.unwrap();
    (relay, base, inviter, space)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_is_single_use() {
    let (_relay, base, inviter, space) = invite_setup().await;
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
    let e = refusal(latecomer.join(secret.invite_id, &secret.token).await);
    assert_eq!(e, (410, ErrorCode::InviteUsed));
    let e = partner
        .join(secret.invite_id, &secret.token)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::InviteUsed));
    assert_eq!(refused(latecomer.space(space).await), ErrorCode::NotFound);
    // Unknown invite ids are not found; reusing an invite id is a conflict.
    let e = refusal(latecomer.join(Uuid::now_v7(), &secret.token).await);
    assert_eq!(e, (404, ErrorCode::NotFound));
    let e = refusal(
        inviter
            .create_invite(space, &secret.create_body(b"again", None))
            .await,
    );
    assert_eq!(e, (409, ErrorCode::Conflict));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_expires() {
    let (_relay, base, inviter, space) = invite_setup().await;

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
        let e = refusal(inviter.create_invite(space, &body).await);
        assert_eq!(
            e,
            (400, ErrorCode::InvalidRequest),
            "ttl {ttl:?}, hash {hash_len}, key {key_len}"
        );
    }

    let quick = inviter.invite(space, Some(1)).await.unwrap();
    let expiring = inviter.invite(space, Some(1)).await.unwrap();
    // Within its second it works...
    let early = Client::register(&base).await.unwrap();
    early.join(quick.invite_id, &quick.token).await.unwrap();
    // ...and after it, even the right token is refused.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let late = Client::register(&base).await.unwrap();
    let e = refusal(late.join(expiring.invite_id, &expiring.token).await);
    assert_eq!(e, (410, ErrorCode::InviteExpired));
    assert_eq!(refused(late.space(space).await), ErrorCode::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_brute_force_burns_it() {
    let (_relay, base, inviter, space) = invite_setup().await;
    let secret = inviter.invite(space, None).await.unwrap();

    let attacker = Client::register(&base).await.unwrap();
    for attempt in 1..=5 {
        let e = refusal(attacker.join(secret.invite_id, &random_bytes(32)).await);
        let expected = if attempt < 5 {
            (403, ErrorCode::InviteWrongToken)
        } else {
            // The fifth wrong token burns it.
            (410, ErrorCode::InviteBurned)
        };
        assert_eq!(e, expected, "attempt {attempt}");
    }
    let partner = Client::register(&base).await.unwrap();
    let e = refusal(partner.join(secret.invite_id, &secret.token).await);
    assert_eq!(e, (410, ErrorCode::InviteBurned));
    for d in [&attacker, &partner] {
        assert_eq!(refused(d.space(space).await), ErrorCode::NotFound);
    }

    // Concurrent guessing cannot get more than the allowed attempts either: of 20
    // simultaneous wrong guesses exactly 4 are told "wrong" and the rest "burned", and
    // then the right token is refused.
    let secret = inviter.invite(space, None).await.unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_stores_only_token_hashes() {
    let (relay, base, inviter, space) = invite_setup().await;
    let used = inviter.invite(space, None).await.unwrap();
    let pending = inviter.invite(space, None).await.unwrap();
    let partner = Client::register(&base).await.unwrap();
    partner.join(used.invite_id, &used.token).await.unwrap();

    // Everything SQLite holds: the main file and the write-ahead log.
    let stored = sqlite_bytes(&relay.db_path());
    assert!(!stored.is_empty());
    for s in [&used, &pending] {
        assert!(
            !contains_bytes(&stored, &s.token),
            "the relay stored an invite token"
        );
        // The search does see what is stored: the hash is there.
        assert!(
            contains_bytes(&stored, &s.hash),
            "the invite's hash is stored"
        );
    }
    for d in [&inviter, &partner] {
        assert!(
            !contains_bytes(&stored, d.token.as_bytes()),
            "the relay stored a bearer token"
        );
        let hash: [u8; 32] = Sha256::digest(d.token.as_bytes()).into();
        assert!(
            contains_bytes(&stored, &hash),
            "the bearer token's hash is stored"
        );
    }
    drop(relay);
}
