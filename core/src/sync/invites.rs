//! Invites and device links: a partner joins a journal with a code, and a new device of
//! mine joins my personal space and every journal I hold with one. The codes, and the keys
//! they wrap, are in `invite`.

use duet_proto::InviteKind;
use uuid::Uuid;

use crate::engine::Duet;
use crate::engine::keyring::{held_keys, keep_keys};
use crate::engine::remote;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, SpaceId};
use crate::model::{Identity, SpaceKind};
use crate::store::{self, relay as rstore};

use super::SyncReport;
use super::client::RelayClient;
use super::invite::{self, Invite, Person, Secret, Wrapped};
use super::members::record_relay_device;

/// What an invite's payload carries besides the space and its keys.
#[derive(Debug, Default)]
pub(super) struct Extras {
    /// A device link's person.
    pub person: Option<Person>,
    /// A device link's invites to the person's journals.
    pub journals: Vec<invite::JournalCode>,
    /// A restore code's member.
    pub restore: Option<invite::Restored>,
}

impl Duet {
    /// Create an invite to a journal: a text code and a `duet:` URI for the partner.
    pub async fn create_invite(&self, journal: &SpaceId, ttl_secs: Option<u64>) -> Result<Invite> {
        let kind = self.journal(journal)?.kind;
        if kind != SpaceKind::Journal {
            return Err(Error::NotAllowed(
                "invite your partner to a shared journal; link your own devices with `device link`"
                    .into(),
            ));
        }
        self.sync_now().await?;
        let c = self.relay_client()?;
        self.partner_invite(&c, journal, Extras::default(), ttl_secs)
            .await
    }

    /// A partner invite to a journal, as shown to the one who made it.
    pub(super) async fn partner_invite(
        &self,
        c: &RelayClient,
        journal: &SpaceId,
        extras: Extras,
        ttl_secs: Option<u64>,
    ) -> Result<Invite> {
        let kind = InviteKind::Partner;
        let (secret, expires_at) = self
            .make_invite(c, journal, SpaceKind::Journal, kind, extras, ttl_secs)
            .await?;
        Ok(secret.invite(c.base().as_str(), *journal, expires_at))
    }

    pub(super) async fn make_invite(
        &self,
        c: &RelayClient,
        space: &SpaceId,
        kind: SpaceKind,
        admits: InviteKind,
        extras: Extras,
        ttl_secs: Option<u64>,
    ) -> Result<(Secret, i64)> {
        self.ensure_on_relay(c, space).await?;
        let keys = self.read(|tx| {
            Ok(held_keys(tx, space)?
                .into_iter()
                .map(|(epoch, k)| invite::WrappedKey {
                    epoch,
                    key: k.as_bytes().to_vec(),
                })
                .collect())
        })?;
        let secret = Secret::generate();
        let wrapped = secret.wrap(&Wrapped {
            space: *space,
            kind,
            keys,
            person: extras.person,
            journals: extras.journals,
            restore: extras.restore,
        })?;
        let created = c
            .create_invite(
                space.0,
                &duet_proto::CreateInvite {
                    invite_id: secret.invite,
                    token_hash: secret.token_hash()?,
                    wrapped_key: wrapped,
                    ttl_secs,
                    kind: admits,
                },
            )
            .await?;
        Ok((secret, created.expires_at))
    }

    /// Join a journal with a partner's invite code (or `duet:` URI). Returns the journal.
    pub async fn join(&self, code: &str) -> Result<SpaceId> {
        let (secret, relay) = Secret::parse(code)?;
        if rstore::relay(&self.lock().conn)?.is_none() {
            let relay = relay.ok_or(Error::NoRelay)?;
            self.set_relay(&relay)?;
        }
        self.register().await?;
        let c = self.relay_client()?;
        let joined = c.join(secret.invite, secret.token()?).await?;
        let w = secret.unwrap(&joined.wrapped_key)?;
        if w.person.is_some() || w.kind != SpaceKind::Journal {
            return Err(Error::NotAllowed(
                "this code links a device; use it on a new device with `duet device join`".into(),
            ));
        }
        if let Some(r) = &w.restore
            && let Err(e) = self.adopt_member(r)
        {
            // Out of the journal again, so that it stays open to the home the code was for.
            let me = rstore::relay(&self.lock().conn)?.and_then(|r| r.device_id);
            if let Some(me) = me {
                let _ = c.remove_member(w.space.0, me).await;
            }
            return Err(e);
        }
        let space = self.accept_space(&w)?;
        let mut report = SyncReport::default();
        self.pull_all(&c, &mut report).await?;
        self.write(|tx| crate::engine::journals::join_space(tx, &space))?;
        for dev in self.my_other_relay_devices()? {
            let _ = c.add_member(space.0, dev).await;
        }
        self.write(|tx| record_relay_device(tx, &space))?;
        self.push_outbox(&c, &mut report).await?;
        tracing::info!(%space, "joined a journal by invite");
        Ok(space)
    }

    /// Take the keys of a space we were invited to; note them in my key ring.
    fn accept_space(&self, w: &Wrapped) -> Result<SpaceId> {
        self.accept_keys(w.space, w.kind, &w.keys()?)?;
        Ok(w.space)
    }

    /// Hold a space the relay let this device into, with its keys (kept in my key ring too).
    pub(super) fn accept_keys(
        &self,
        space: SpaceId,
        kind: SpaceKind,
        keys: &[(crate::crypto::Epoch, crate::crypto::SpaceKey)],
    ) -> Result<()> {
        self.write(|tx| {
            remote::ensure_space(tx, space, kind)?;
            keep_keys(tx, &space, keys)?;
            rstore::set_on_relay(&tx.sql, &space)?;
            Ok(())
        })
    }

    /// A home made for another device of the person `me` names, registered at `relay` as
    /// `device` with `token` and holding their personal space's keys (`device join`,
    /// `recover`; each refuses a home with an identity first, with [`refuse_initialized`]).
    pub(super) fn init_device(
        home: &std::path::Path,
        me: Identity,
        personal_keys: &[(crate::crypto::Epoch, crate::crypto::SpaceKey)],
        relay: &str,
        reg: &duet_proto::Registered,
        opts: crate::Options,
    ) -> Result<Duet> {
        let personal = me.personal_space;
        let duet = Duet::init_linked(home, me, personal_keys, opts)?;
        duet.set_relay(relay)?;
        duet.write(|tx| {
            rstore::set_credentials(&tx.sql, &reg.device_id, &reg.token)?;
            rstore::set_on_relay(&tx.sql, &personal)
        })?;
        Ok(duet)
    }

    /// Make a code that links a new device of mine: it receives my personal space and
    /// every journal I hold.
    pub async fn link_device(&self, ttl_secs: Option<u64>) -> Result<Invite> {
        self.sync_now().await?;
        let c = self.relay_client()?;
        let me = self.identity();
        // Only journals this device still belongs to at the relay (after sync_now, every
        // journal of ours is there): one a partner removed us from can't be passed on.
        let on_relay: std::collections::HashSet<Uuid> =
            c.spaces().await?.iter().map(|s| s.space_id).collect();
        let mut journals = Vec::new();
        for j in self.journals()? {
            if j.kind == SpaceKind::Journal && on_relay.contains(&j.id.0) {
                // A device invite: the relay admits only a device of my own person with it.
                let (s, _) = self
                    .make_invite(
                        &c,
                        &j.id,
                        SpaceKind::Journal,
                        InviteKind::Device,
                        Extras::default(),
                        ttl_secs,
                    )
                    .await?;
                journals.push(s.to_code());
            }
        }
        let person = Person {
            member: me.member,
            name: me.name.clone(),
            personal_space: me.personal_space,
        };
        let (secret, expires_at) = self
            .make_invite(
                &c,
                &me.personal_space,
                SpaceKind::Personal,
                InviteKind::Device,
                Extras {
                    person: Some(person),
                    journals,
                    restore: None,
                },
                ttl_secs,
            )
            .await?;
        Ok(secret.invite(c.base().as_str(), me.personal_space, expires_at))
    }

    /// Set up a new home as another device of the person who made `code` (with
    /// [`Duet::link_device`]), then sync everything they hold.
    pub async fn join_device(
        home: impl AsRef<std::path::Path>,
        code: &str,
        relay: Option<&str>,
        opts: crate::Options,
    ) -> Result<Duet> {
        let (secret, in_code) = Secret::parse(code)?;
        let relay = relay
            .map(str::to_string)
            .or(in_code)
            .ok_or(Error::NoRelay)?;
        // The code is one-use: refuse a home that already has an identity before spending it.
        refuse_initialized(home.as_ref(), &opts)?;
        let anon = RelayClient::new(&relay, opts.registration_token.clone())?;
        let reg = anon.register().await?;
        let c = RelayClient::new(&relay, Some(reg.token.clone()))?;
        let joined = c.join(secret.invite, secret.token()?).await?;
        let w = secret.unwrap(&joined.wrapped_key)?;
        let person = w.person.clone().ok_or_else(|| {
            Error::NotAllowed(
                "this code invites to a journal; use `duet join` on an initialized home".into(),
            )
        })?;
        let me = Identity {
            member: person.member,
            device: DeviceId::new(),
            name: person.name.clone(),
            personal_space: person.personal_space,
        };
        let duet = Duet::init_device(home.as_ref(), me, &w.keys()?, &relay, &reg, opts)?;
        for jc in &w.journals {
            let js = Secret::from_code(jc)?;
            match c.join(js.invite, js.token()?).await {
                Ok(joined) => {
                    duet.accept_space(&js.unwrap(&joined.wrapped_key)?)?;
                }
                // Gone since the code was made (the journal's partner removed me, which
                // purges my invites to it) or used up: the device is mine all the same,
                // and a journal I'm still in reaches it anyway — my other device adds it
                // and my key ring brings the key (`add_my_devices`).
                Err(e @ (Error::RelayRefused { .. } | Error::InviteRejected(_))) => {
                    tracing::info!(code = %e.code(), "a journal in the link code could not be joined; skipped");
                }
                Err(e) => return Err(e),
            }
        }
        // The sync names this device in my personal space and in each journal (see
        // `announce_self`); if it fails (no signal), the home is whole and the next sync
        // finishes the job. The documents of a journal installed from its snapshot load
        // at the next sync: the new device shows the journal without waiting for them.
        duet.sync_inner(false).await?;
        Ok(duet)
    }
}

/// `already_initialized` for a home that has an identity: a one-use code or a recovery must
/// not be spent on it.
pub(super) fn refuse_initialized(home: &std::path::Path, opts: &crate::Options) -> Result<()> {
    let store_path = home.join(crate::engine::STORE_FILE);
    if store_path.exists()
        && store::identity(&store::open(&store_path, opts.durability)?)?.is_some()
    {
        return Err(Error::AlreadyInitialized);
    }
    Ok(())
}
