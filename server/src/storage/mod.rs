//! Relay storage: devices, spaces, members, invites, the sealed-blob log, snapshots, the
//! relay's shares of sealed prompt answers, key drops, recovery kits and attachments'
//! metadata (`attachments.rs`; their bytes are in `crate::attachments`) — never content.
//! Behind a trait so SQLite (the default) and PostgreSQL share one test suite (`suite.rs`)
//! and the HTTP layer doesn't care which it talks to.

pub mod attachments;
pub mod migrate;
pub mod postgres;
pub mod sqlite;
#[cfg(test)]
pub(crate) mod suite;

pub use attachments::{AttachmentRef, AttachmentStore, Hash, NewUpload, ObjectRef, UploadState};

use async_trait::async_trait;
use duet_proto::{HeldDrop, InviteKind, KeyDrop, LogBlob, Snapshot, SpaceInfo, SpaceKind};
use uuid::Uuid;

/// Unix milliseconds.
pub type Millis = i64;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("the space's storage quota is used up")]
    QuotaExceeded,
    #[error("cursor {after} is beyond the head {head}")]
    CursorAhead { after: u64, head: u64 },
    #[error(
        "a blob is sealed under key epoch {epoch}, but this space has moved to epoch {current}"
    )]
    StaleEpoch { epoch: u32, current: u32 },
    #[error(
        "key epoch {epoch} skips ahead: a rotation moves this space from epoch {current} one step"
    )]
    EpochJump { epoch: u32, current: u32 },
    /// The device has created as many spaces as it may.
    #[error("this device has created its {max} spaces")]
    TooManySpaces { max: u32 },
    /// The device holds as many pending invites as it may.
    #[error("this device has {max} pending invites")]
    TooManyInvites { max: u32 },
    /// The space holds as many prompt answers as it may.
    #[error("this space holds its {max} prompt answers")]
    TooManyAnswers { max: u32 },
    /// Key drops for an epoch other than the space's announced one (`current`; 0: never
    /// announced): an older one is stale, a newer one must be announced first.
    #[error("key drops for epoch {epoch}, but this space's announced key epoch is {current}")]
    DropEpoch { epoch: u32, current: u32 },
    #[error("storage backend: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A registered device, and the person it acts for (every device linked through one
/// personal space shares a person; removal from a journal takes all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub id: Uuid,
    pub person: Uuid,
    pub revoked: bool,
}

/// An invite to store.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub id: Uuid,
    pub space: Uuid,
    pub created_by: Uuid,
    pub token_hash: [u8; 32],
    pub wrapped_key: Vec<u8>,
    pub expires_at: Millis,
    pub kind: InviteKind,
}

/// What happened to a join attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JoinOutcome {
    Joined {
        space: Uuid,
        wrapped_key: Vec<u8>,
    },
    NotFound,
    Expired,
    Used,
    Burned,
    WrongToken {
        attempts_left: u32,
    },
    /// The right token, but the relationship doesn't allow it (a journal that already has
    /// its two people, a device that already acts for someone else). The invite stays.
    NotAllowed(&'static str),
}

/// What a join attempt does to an invite, by the rules every backend shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JoinVerdict {
    /// Refused without touching the invite (used, burned, expired).
    Refuse(JoinOutcome),
    /// A wrong token: count the attempt, then answer this (`WrongToken`, or `Burned` on
    /// the last allowed attempt).
    CountAttempt(JoinOutcome),
    /// The right token on a live invite: use it and add the member.
    Join,
}

/// Judge a join attempt on an invite in this state. The token hashes are compared in
/// constant time.
pub(crate) fn judge_join(
    used: bool,
    attempts: u32,
    expires_at: Millis,
    stored_hash: &[u8],
    token_hash: &[u8],
    now: Millis,
    max_attempts: u32,
) -> JoinVerdict {
    if used {
        return JoinVerdict::Refuse(JoinOutcome::Used);
    }
    if attempts >= max_attempts {
        return JoinVerdict::Refuse(JoinOutcome::Burned);
    }
    if now >= expires_at {
        return JoinVerdict::Refuse(JoinOutcome::Expired);
    }
    if !crate::auth::constant_time_eq(stored_hash, token_hash) {
        let left = max_attempts.saturating_sub(attempts + 1);
        return JoinVerdict::CountAttempt(if left == 0 {
            JoinOutcome::Burned
        } else {
            JoinOutcome::WrongToken {
                attempts_left: left,
            }
        });
    }
    JoinVerdict::Join
}

/// A space kind as both backends store it (`journal`, `personal`).
pub(crate) fn kind_of(s: &str) -> StoreResult<SpaceKind> {
    SpaceKind::parse(s).ok_or_else(|| StoreError::Backend(format!("unknown space kind {s:?}")))
}

/// An invite kind as both backends store it (`partner`, `device`).
pub(crate) fn invite_kind_of(s: &str) -> StoreResult<InviteKind> {
    InviteKind::parse(s).ok_or_else(|| StoreError::Backend(format!("unknown invite kind {s:?}")))
}

/// Who may come in through an invite, by the rules every backend shares (read inside the
/// join's transaction). `Ok(Some(p))`: admitted, and the joining device now acts for
/// person `p` (a device link); `Ok(None)`: admitted as it is.
pub(crate) fn judge_admission(
    space: SpaceKind,
    invite: InviteKind,
    inviter: Uuid,
    joiner: &Device,
    joiner_has_spaces: bool,
    persons_in_space: &[Uuid],
) -> Result<Option<Uuid>, &'static str> {
    match (space, invite) {
        (SpaceKind::Personal, InviteKind::Partner) => {
            Err("a personal space admits only its own person's devices")
        }
        (SpaceKind::Personal, InviteKind::Device) if joiner.person == inviter => Ok(None),
        // Becoming someone's device is for a device with nothing of its own yet.
        (SpaceKind::Personal, InviteKind::Device) if !joiner_has_spaces => Ok(Some(inviter)),
        (SpaceKind::Personal, InviteKind::Device) => {
            Err("this device already belongs to someone; link a new device")
        }
        (SpaceKind::Journal, InviteKind::Device) if joiner.person == inviter => Ok(None),
        (SpaceKind::Journal, InviteKind::Device) => {
            Err("this code admits only the inviter's own devices; ask for a partner invite")
        }
        (SpaceKind::Journal, InviteKind::Partner) => {
            if !persons_in_space.contains(&inviter) {
                return Err("the person who made this invite is no longer in the journal");
            }
            if persons_in_space.contains(&joiner.person) {
                return Ok(None);
            }
            let mut distinct: Vec<&Uuid> = persons_in_space.iter().collect();
            distinct.sort();
            distinct.dedup();
            if distinct.len() >= 2 {
                return Err("this journal already has its two people");
            }
            Ok(None)
        }
    }
}

/// A fresh blob may be appended to a space whose announced key epoch is `current` unless
/// its clear header names an older epoch: `StaleEpoch` then — a device that missed a
/// rotation must fetch the new key and seal again, so nothing new opens with a removed
/// member's keys. Bytes without a sealed-blob header carry no epoch and aren't checked
/// (devices only ever push sealed blobs; garbage is the clients' to quarantine).
pub(crate) fn check_epoch(current: u32, sealed: &[u8]) -> StoreResult<()> {
    match duet_proto::sealed::epoch_of(sealed) {
        Some(e) if e < current => Err(StoreError::StaleEpoch { epoch: e, current }),
        _ => Ok(()),
    }
}

/// Announcing key epoch `epoch` for a space now at `current`: the epoch after it. Epochs
/// only move forward, one rotation at a time (a space never announced counts as epoch 1,
/// where every space starts), so no member can push the space out of everyone's reach in
/// one step; an older epoch is `StaleEpoch`, the current one changes nothing.
pub(crate) fn judge_epoch(current: u32, epoch: u32) -> StoreResult<u32> {
    let base = current.max(1);
    if epoch < current {
        Err(StoreError::StaleEpoch { epoch, current })
    } else if epoch > base.saturating_add(1) {
        Err(StoreError::EpochJump { epoch, current })
    } else {
        Ok(epoch.max(current))
    }
}

/// The key drops to store, by the rules every backend shares (read inside the storing
/// transaction), for drops of key epoch `epoch` left by `sender` in a space at announced
/// epoch `current` whose member devices are `members`. A sender that isn't a member is
/// `NotFound`; an epoch other than the announced one is `DropEpoch` (a space never announced
/// has no key to drop yet). A drop for a device that isn't a member, or for the sender
/// itself, is skipped; of two drops for one device the first is kept, as a stored drop is
/// kept against later ones.
pub(crate) fn judge_key_drops(
    current: u32,
    epoch: u32,
    sender: Uuid,
    members: &[Uuid],
    drops: Vec<KeyDrop>,
) -> StoreResult<Vec<KeyDrop>> {
    if !members.contains(&sender) {
        return Err(StoreError::NotFound);
    }
    if current == 0 || epoch != current {
        return Err(StoreError::DropEpoch { epoch, current });
    }
    let mut keep: Vec<KeyDrop> = Vec::with_capacity(drops.len());
    for d in drops {
        if d.device != sender
            && members.contains(&d.device)
            && !keep.iter().any(|k| k.device == d.device)
        {
            keep.push(d);
        }
    }
    Ok(keep)
}

/// A push being numbered inside its transaction, by the rules every backend shares: a blob
/// id already in the log (or earlier in the same push) is a retry and keeps its number — a
/// `Conflict` if its bytes differ; a fresh blob passes [`check_epoch`], must fit the
/// quota, and takes the next number.
#[derive(Debug)]
pub(crate) struct Numbering {
    head: i64,
    bytes: i64,
    epoch: u32,
    quota_bytes: u64,
    seqs: Vec<u64>,
    fresh: Vec<LogBlob>,
}

impl Numbering {
    /// For `pushed` blobs to a space at `head`, storing `bytes`, under key epoch `epoch`.
    pub(crate) fn new(head: i64, bytes: i64, epoch: u32, quota_bytes: u64, pushed: usize) -> Self {
        Numbering {
            head,
            bytes,
            epoch,
            quota_bytes,
            seqs: Vec::with_capacity(pushed),
            fresh: Vec::new(),
        }
    }

    /// Number the next pushed blob; `stored` is the number and bytes of the blob the log
    /// already holds under this id. Returns the blob when it is fresh (for the backend to
    /// store).
    pub(crate) fn add(
        &mut self,
        id: Vec<u8>,
        data: Vec<u8>,
        stored: Option<(u64, &[u8])>,
    ) -> StoreResult<Option<&LogBlob>> {
        let earlier = stored.or_else(|| {
            self.fresh
                .iter()
                .find(|b| b.id == id)
                .map(|b| (b.seq, b.data.as_slice()))
        });
        if let Some((seq, d)) = earlier {
            if d != data.as_slice() {
                return Err(StoreError::Conflict(
                    "a blob with this id holds other bytes".into(),
                ));
            }
            self.seqs.push(seq);
            return Ok(None);
        }
        check_epoch(self.epoch, &data)?;
        self.bytes += data.len() as i64;
        if self.bytes as u64 > self.quota_bytes {
            return Err(StoreError::QuotaExceeded);
        }
        self.head += 1;
        let seq = self.head as u64;
        self.seqs.push(seq);
        self.fresh.push(LogBlob { seq, id, data });
        Ok(self.fresh.last())
    }

    /// The space's head and stored bytes with the fresh blobs.
    pub(crate) fn head_and_bytes(&self) -> (i64, i64) {
        (self.head, self.bytes)
    }

    /// The fresh blobs so far, numbered.
    pub(crate) fn fresh(&self) -> &[LogBlob] {
        &self.fresh
    }

    /// What the push came to.
    pub(crate) fn finish(self) -> Appended {
        Appended {
            seqs: self.seqs,
            head: self.head as u64,
            fresh: self.fresh,
        }
    }
}

/// Whether snapshot `new` goes in, by the rules every backend shares, for a space at `head`
/// storing `bytes`, whose stored snapshot (if any) covers `seq` in `len` bytes (`old`): a
/// snapshot beyond the head is `CursorAhead`; one no newer than the stored one changes
/// nothing (`None`); otherwise it replaces the stored one and the space then stores the
/// bytes returned — `QuotaExceeded` past `quota_bytes`.
pub(crate) fn judge_snapshot(
    head: i64,
    bytes: i64,
    old: Option<(i64, i64)>,
    new: &Snapshot,
    quota_bytes: u64,
) -> StoreResult<Option<i64>> {
    if new.seq > head as u64 {
        return Err(StoreError::CursorAhead {
            after: new.seq,
            head: head as u64,
        });
    }
    // An older snapshot never replaces a newer one (nor the same one).
    if old.is_some_and(|(seq, _)| seq as u64 >= new.seq) {
        return Ok(None);
    }
    let bytes = bytes - old.map_or(0, |(_, len)| len) + new.data.len() as i64;
    if bytes as u64 > quota_bytes {
        return Err(StoreError::QuotaExceeded);
    }
    Ok(Some(bytes))
}

/// Whether a person's share of a round goes in (`Ok(true)`), by the rules every backend
/// shares, given whether that person has one there already (`held`) and how many answers
/// the space stores: a held share stays and nothing changes (`Ok(false)`, even at the cap —
/// another device's later share must not change the key); otherwise a space holding
/// `max_per_space` answers is `TooManyAnswers`.
pub(crate) fn judge_answer(held: bool, stored: i64, max_per_space: u32) -> StoreResult<bool> {
    if held {
        return Ok(false);
    }
    if stored >= i64::from(max_per_space) {
        return Err(StoreError::TooManyAnswers { max: max_per_space });
    }
    Ok(true)
}

/// A recovery kit's lookup id (its name at the relay).
pub type Lookup = [u8; duet_proto::limits::RECOVERY_LOOKUP_BYTES];

/// A person's recovery kit being made or updated ([`RelayStore::put_recovery_kit`],
/// [`RelayStore::update_recovery_kit`]) by `device`, which acts for `person` (whose kit it
/// is) and must be a member of every listed space. The envelope was sealed on a device and
/// is opaque here.
#[derive(Clone)]
pub struct KitUpdate {
    pub lookup: Lookup,
    pub device: Uuid,
    pub person: Uuid,
    pub envelope: Vec<u8>,
    pub spaces: Vec<Uuid>,
    pub now: Millis,
}

impl std::fmt::Debug for KitUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The envelope's bytes stay out of logs (only its size).
        f.debug_struct("KitUpdate")
            .field("device", &self.device)
            .field("person", &self.person)
            .field("envelope_bytes", &self.envelope.len())
            .field("spaces", &self.spaces.len())
            .finish_non_exhaustive()
    }
}

/// A person's kit as its devices see it: no secret's hash, no envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKit {
    pub lookup: Lookup,
    /// The device that made it, or last recovered with it.
    pub made_by: Uuid,
    pub updated_at: Millis,
    /// In order.
    pub spaces: Vec<Uuid>,
}

/// An attempt to prove a kit ([`RelayStore::recover_device`]): the kit's lookup id, the
/// SHA-256 of the secret shown, and the device registered if it proves, with its token's
/// hash.
#[derive(Clone, Copy)]
pub struct KitAttempt {
    pub lookup: Lookup,
    pub auth_hash: [u8; 32],
    pub device: Uuid,
    pub token_hash: [u8; 32],
    pub now: Millis,
}

impl std::fmt::Debug for KitAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No hash of a secret or a token in logs.
        f.debug_struct("KitAttempt")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// What a proven kit gave ([`RelayStore::recover_device`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Recovery {
    /// The person the new device acts for.
    pub person: Uuid,
    pub envelope: Vec<u8>,
    /// The spaces the new device was admitted to, in order.
    pub spaces: Vec<Uuid>,
    /// The person's other devices that are not revoked, in order.
    pub devices: Vec<Uuid>,
}

impl std::fmt::Debug for Recovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovery")
            .field("person", &self.person)
            .field("envelope_bytes", &self.envelope.len())
            .field("spaces", &self.spaces)
            .field("devices", &self.devices)
            .finish()
    }
}

/// The spaces a kit lists, as both backends store them: in order, each once.
pub(crate) fn kit_spaces(mut spaces: Vec<Uuid>) -> Vec<Uuid> {
    spaces.sort();
    spaces.dedup();
    spaces
}

/// Whether a person may make a kit at a lookup id that `holder`'s kit has (`None`: free),
/// by the rules every backend shares: their own kit's lookup id is theirs to make again (a
/// retry), another person's is `Conflict`.
pub(crate) fn judge_kit_lookup(holder: Option<Uuid>, person: Uuid) -> StoreResult<()> {
    match holder {
        Some(p) if p != person => Err(StoreError::Conflict(
            "this lookup id is another recovery kit's".into(),
        )),
        _ => Ok(()),
    }
}

/// Whether a recovery attempt proves the kit: the SHA-256 of its auth secret against the
/// stored one, compared in constant time.
pub(crate) fn proves_kit(stored_hash: &[u8], auth_hash: &[u8]) -> bool {
    crate::auth::constant_time_eq(stored_hash, auth_hash)
}

/// A page of the log: `blobs` read after `from` (the cursor, or the seq of the `snapshot`
/// that comes first), in a space at `head`.
pub(crate) fn page(
    blobs: Vec<LogBlob>,
    from: u64,
    head: u64,
    snapshot: Option<Snapshot>,
) -> duet_proto::Pulled {
    let last = blobs.last().map(|b| b.seq).unwrap_or(from);
    duet_proto::Pulled {
        more: last < head,
        blobs,
        head,
        snapshot,
    }
}

/// The result of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// One per pushed blob, in order.
    pub seqs: Vec<u64>,
    pub head: u64,
    /// Blobs that were new (not retries), for the live channel.
    pub fresh: Vec<LogBlob>,
}

/// One person's answer to a round of a space, as stored: the relay's share of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub person: Uuid,
    pub share: Vec<u8>,
    pub answered_at: Millis,
    /// Revealed early by its person, before the others answered.
    pub revealed: bool,
}

/// The cap on a device's pending invites ([`RelayStore::create_invite_capped`]).
#[derive(Debug, Clone, Copy)]
pub struct InviteCap {
    /// Invites that expire at or before this are no longer pending.
    pub now: Millis,
    pub max_pending: u32,
    /// Invites with this many wrong attempts are burned, no longer pending.
    pub max_attempts: u32,
}

/// Limits the store enforces inside its transaction.
#[derive(Debug, Clone, Copy)]
pub struct AppendLimits {
    pub quota_bytes: u64,
    /// Blobs up to this size travel inside a live announcement (to other nodes too, where
    /// the backend's event channel has room).
    pub inline_bytes: usize,
}

/// Something a request on another relay node changed, that this node's live hub must act
/// on. Only a store shared by several nodes (PostgreSQL) produces these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeEvent {
    /// New blobs in a space, pushed by `from`: `seqs` in order, with the blob where it was
    /// small enough to travel with the event (the others are announced by number only).
    Appended {
        space: Uuid,
        from: Uuid,
        seqs: Vec<u64>,
        inline: Vec<LogBlob>,
    },
    Joined {
        space: Uuid,
        device: Uuid,
    },
    Left {
        space: Uuid,
        device: Uuid,
    },
    Revoked {
        device: Uuid,
    },
    /// The event feed broke and came back: events may have been missed, so every live
    /// connection should start over (reconnect and pull).
    Gap,
}

#[async_trait]
pub trait RelayStore: AttachmentStore + Send + Sync + 'static {
    /// Name for logs and metrics ("sqlite", "postgres").
    fn backend(&self) -> &'static str;

    /// Whether the store answers (for `/healthz`).
    async fn ping(&self) -> StoreResult<()>;

    /// Start hearing what other relay nodes sharing this store do. `None` for a store only
    /// this process uses (SQLite). Call once.
    async fn node_events(&self) -> StoreResult<Option<tokio::sync::mpsc::Receiver<NodeEvent>>> {
        Ok(None)
    }

    /// A new device acting for `person` (a fresh person unless linked later).
    async fn register_device(
        &self,
        id: Uuid,
        person: Uuid,
        token_hash: [u8; 32],
        now: Millis,
    ) -> StoreResult<()>;
    async fn device_by_token(&self, token_hash: [u8; 32]) -> StoreResult<Option<Device>>;
    async fn device(&self, id: Uuid) -> StoreResult<Option<Device>>;
    /// Mark a device revoked, drop its memberships, the key drops left for it and the
    /// invites it made that are still pending, and the recovery kit it made (or last
    /// recovered with): whoever holds the device may hold the words. `false` when it didn't
    /// exist.
    async fn revoke_device(&self, id: Uuid, now: Millis) -> StoreResult<bool>;

    /// A new space with its creator as the first member. `false` (and nothing changes)
    /// when the id is taken. No cap on how many a device creates (see
    /// [`create_space_capped`](Self::create_space_capped)).
    async fn create_space(
        &self,
        space: Uuid,
        kind: SpaceKind,
        creator: Uuid,
        now: Millis,
    ) -> StoreResult<bool> {
        self.create_space_capped(space, kind, creator, now, u32::MAX)
            .await
    }
    /// [`create_space`](Self::create_space) for a creator that may have created at most
    /// `max_created` spaces: one more is `TooManySpaces` — whether the id is free or taken,
    /// so the answer tells nothing about other people's spaces — unless the creator is
    /// already a member of that space (then nothing changes, as for any taken id). Checked
    /// in the creating transaction. Spaces made before creators were recorded don't count.
    async fn create_space_capped(
        &self,
        space: Uuid,
        kind: SpaceKind,
        creator: Uuid,
        now: Millis,
        max_created: u32,
    ) -> StoreResult<bool>;
    async fn is_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool>;
    async fn space_info(&self, space: Uuid) -> StoreResult<Option<SpaceInfo>>;
    async fn spaces_of(&self, device: Uuid) -> StoreResult<Vec<SpaceInfo>>;
    async fn add_member(&self, space: Uuid, device: Uuid, now: Millis) -> StoreResult<()>;
    /// One device leaves a space, and the key drops left for it there go. `false` when it
    /// was not a member.
    async fn remove_member(&self, space: Uuid, device: Uuid) -> StoreResult<bool>;
    /// A person leaves a space: every device of theirs, every pending invite they made to
    /// it, and every pending partner invite to it (the key rotates, and whoever comes next
    /// needs a new invite from a remaining member); the key drops left there for the
    /// devices that leave go too, and the space leaves their recovery kit's list. Returns
    /// the devices that left.
    async fn remove_person(&self, space: Uuid, person: Uuid) -> StoreResult<Vec<Uuid>>;

    /// Store an invite; `Conflict` when its id is taken. No cap on pending invites (see
    /// [`create_invite_capped`](Self::create_invite_capped)).
    async fn create_invite(&self, invite: NewInvite) -> StoreResult<()> {
        self.create_invite_capped(
            invite,
            InviteCap {
                now: Millis::MIN,
                max_pending: u32::MAX,
                max_attempts: u32::MAX,
            },
        )
        .await
    }
    /// [`create_invite`](Self::create_invite) for a creator that may hold at most
    /// `cap.max_pending` pending invites (unused, unexpired at `cap.now`, fewer than
    /// `cap.max_attempts` wrong attempts): one more is `TooManyInvites`, nothing stored.
    /// Checked in the creating transaction.
    async fn create_invite_capped(&self, invite: NewInvite, cap: InviteCap) -> StoreResult<()>;
    /// Delete every invite (used or not) that expired before `expired_before`; returns how
    /// many. A join on a deleted invite is `NotFound`.
    async fn purge_invites(&self, expired_before: Millis) -> StoreResult<u64>;
    /// Check the token against the invite and the admission rules (`judge_admission`);
    /// on success the device becomes a member (and, through a device link, one of the
    /// inviter's person's devices) and the invite is used, all in one transaction. Wrong
    /// tokens count toward burning it.
    async fn join_invite(
        &self,
        id: Uuid,
        token_hash: [u8; 32],
        device: Uuid,
        now: Millis,
        max_attempts: u32,
    ) -> StoreResult<JoinOutcome>;

    /// Announce that the space's key rotated to `epoch` (`judge_epoch`); returns the
    /// space's epoch after. From then on a fresh blob under an older epoch is refused.
    async fn raise_epoch(&self, space: Uuid, epoch: u32) -> StoreResult<u32>;

    /// Append blobs to a space's log, idempotent by blob id; acknowledged only once
    /// committed. A blob id reused with different bytes is a `Conflict`; a fresh blob
    /// under an epoch older than the space's announced one is `StaleEpoch` (`check_epoch`).
    async fn append(
        &self,
        space: Uuid,
        device: Uuid,
        blobs: Vec<(Vec<u8>, Vec<u8>)>,
        limits: AppendLimits,
        now: Millis,
    ) -> StoreResult<Appended>;
    /// Blobs with `seq > after`, at most `limit`; plus the snapshot when `after` is older
    /// than the pruned log. `CursorAhead` when `after` is beyond the head.
    async fn pull(&self, space: Uuid, after: u64, limit: u32) -> StoreResult<duet_proto::Pulled>;

    /// Keep the newest snapshot (one covering a higher `seq` replaces an older one). No
    /// quota (see [`put_snapshot_within`](Self::put_snapshot_within)).
    async fn put_snapshot(&self, space: Uuid, snapshot: Snapshot, now: Millis) -> StoreResult<()> {
        self.put_snapshot_within(space, snapshot, now, u64::MAX)
            .await
    }
    /// [`put_snapshot`](Self::put_snapshot) within the space's quota: a space's stored bytes
    /// are its log and its snapshot, so a snapshot that would take them past `quota_bytes`
    /// (counting it in place of the one it replaces) is `QuotaExceeded`, nothing stored.
    async fn put_snapshot_within(
        &self,
        space: Uuid,
        snapshot: Snapshot,
        now: Millis,
        quota_bytes: u64,
    ) -> StoreResult<()>;
    async fn snapshot(&self, space: Uuid) -> StoreResult<Option<Snapshot>>;
    /// Delete log blobs covered by a snapshot older than `older_than`; returns how many. The
    /// space's stored bytes are then what is left of its log plus its snapshot.
    async fn prune(&self, older_than: Millis) -> StoreResult<u64>;

    /// Register `person`'s relay share of their answer to `round` in `space` (ADR 11). The
    /// first share for (space, round, person) is kept: `Ok(false)` and nothing changes when
    /// one is there already, whatever its bytes. A space holds at most `max_per_space`
    /// answers: one more is `TooManyAnswers`, nothing stored (checked in the inserting
    /// transaction). `NotFound` when the space doesn't exist.
    async fn put_answer(
        &self,
        space: Uuid,
        round: &str,
        person: Uuid,
        share: [u8; 32],
        now: Millis,
        max_per_space: u32,
    ) -> StoreResult<bool>;
    /// Every answer to `round` in `space`, in the order they came (empty when none).
    async fn answers(&self, space: Uuid, round: &str) -> StoreResult<Vec<StoredAnswer>>;
    /// Mark `person`'s answer to `round` revealed (again: no change). `false` when that
    /// person has no answer there.
    async fn reveal_answer(&self, space: Uuid, round: &str, person: Uuid) -> StoreResult<bool>;

    /// Store key drops of `space`'s key `epoch` left by member device `sender`
    /// (`judge_key_drops`): `epoch` must be the space's announced epoch (`DropEpoch`
    /// otherwise), drops for devices that aren't members or for the sender are skipped, and
    /// the first drop stored for a (space, epoch, device) stays. Returns how many were new.
    /// `NotFound` when the space doesn't exist or the sender isn't a member.
    async fn put_key_drops(
        &self,
        space: Uuid,
        epoch: u32,
        sender: Uuid,
        drops: Vec<KeyDrop>,
        now: Millis,
    ) -> StoreResult<u64>;
    /// The key drops left for `device` in `space`, oldest epoch first (empty when none).
    async fn key_drops(&self, space: Uuid, device: Uuid) -> StoreResult<Vec<HeldDrop>>;

    /// Make `kit` its person's one recovery kit, made by `kit.device` and proven by a
    /// secret whose SHA-256 is `auth_hash`, replacing any other kit of theirs (whose lookup
    /// id stops working). `Conflict` when another person's kit has the lookup id;
    /// `NotFound` when the device is revoked or not a member of every listed space.
    async fn put_recovery_kit(&self, kit: KitUpdate, auth_hash: [u8; 32]) -> StoreResult<()>;
    /// Replace the envelope and spaces of the person's kit at `kit.lookup` (its maker and
    /// secret stay). `NotFound` when the person has no kit there (none, another person's,
    /// or replaced) or the device isn't a member of every listed space.
    async fn update_recovery_kit(&self, kit: KitUpdate) -> StoreResult<()>;
    /// The person's kit, if they have one.
    async fn recovery_kit_of(&self, person: Uuid) -> StoreResult<Option<StoredKit>>;
    /// Whether a kit has this lookup id.
    async fn recovery_kit_exists(&self, lookup: Lookup) -> StoreResult<bool>;
    /// Prove a kit (`proves_kit`) and, in one transaction, register the attempt's device
    /// for the kit's person, admit it to each listed space where that person still has a
    /// device that isn't revoked (never back into a space they left or were removed from),
    /// and note it as the kit's maker. `None`, and nothing changes, when no kit has the
    /// lookup id or the secret is wrong.
    async fn recover_device(&self, attempt: KitAttempt) -> StoreResult<Option<Recovery>>;
}
