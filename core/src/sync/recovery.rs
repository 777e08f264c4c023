//! Recovery kits at the relay: making one, keeping its envelope current, and recovering
//! with one on a new home. The words and what they derive are in `kit.rs`.
//!
//! Any device of the person keeps the envelope current: after each sync, if what it would
//! seal (the key rings of the person's spaces, their member id and name) differs from what
//! it last sent, it sends it again. The relay also keeps which spaces a recovered device may
//! join; it admits one only where the person still has a device, so a kit never brings
//! anyone back into a journal they left or were removed from.

use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::doc;
use crate::engine::Duet;
use crate::engine::keyring::held_keys;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, MemberId, RelayDeviceId, SpaceId};
use crate::kit::{self, Envelope, EnvelopeSpace, SharedKit};
use crate::model::{Identity, SpaceKind};
use crate::store::{self, recovery as kstore, relay as rstore};

use super::client::RelayClient;
use super::invites::refuse_initialized;

/// A recovery kit's words, as `recovery kit` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RecoveryKit {
    /// 24 words (BIP39's English list): write them down, keep them away from the phone.
    pub words: String,
    /// Made now (`false`: the kit this device made before, shown again).
    pub created: bool,
}

/// What a recovery brought back: the person this home is again (`member`; their name is
/// in [`Duet::identity`]), this new device's id at the relay, the journals it was let back
/// into, and the person's other devices the relay still admits (revoke the lost ones:
/// `device revoke ID`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovery {
    pub member: MemberId,
    pub device_id: RelayDeviceId,
    pub journals: Vec<SpaceId>,
    pub old_devices: Vec<RelayDeviceId>,
}

impl Duet {
    /// The recovery kit's words: made now (replacing any kit of mine; the old words stop
    /// working) when `replace` is set or I have none, shown again when this device made the
    /// one I have. A kit made on another of my devices is shown there, or replaced.
    pub async fn recovery_kit(&self, replace: bool) -> Result<RecoveryKit> {
        self.sync_now().await?;
        let c = self.relay_client()?;
        let at_relay = c.recovery_kit().await?;
        let held = kstore::words(&self.lock().conn)?;
        if !replace {
            match (&at_relay, held) {
                (Some(k), Some((lookup, words))) if k.lookup == lookup => {
                    return Ok(RecoveryKit {
                        words: words.to_string(),
                        created: false,
                    });
                }
                (Some(_), _) => {
                    return Err(Error::NotAllowed(
                        "you have a recovery kit, made on another of your devices: see its \
                         words there, or make a new one here (`recovery kit --new`; the old \
                         words stop working)"
                            .into(),
                    ));
                }
                (None, _) => {}
            }
        }
        let words = kit::new_words()?;
        let secrets = kit::secrets(&words)?;
        let envelope = self.envelope()?;
        let body = duet_proto::PutRecoveryKit {
            auth_hash: Some(kit::auth_hash(&secrets.auth)),
            envelope: secrets.shared.seal(&envelope)?,
            spaces: self.spaces_at_relay(&c, &envelope).await?,
        };
        c.put_recovery_kit(&secrets.lookup, &body).await?;
        let sent = sent_hash(&secrets.shared, &envelope)?;
        self.write(|tx| {
            kstore::set_words(&tx.sql, &secrets.lookup, &words)?;
            kstore::set_sent(&tx.sql, Some(&sent))?;
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            tx.change(meta, |m| {
                doc::meta::set_recovery_kit(m, Some(&secrets.shared))
            })?;
            Ok(())
        })?;
        // My other devices learn the kit (to keep its envelope current) from my personal
        // space; if this push fails, the next sync sends it.
        let _ = self.sync_now().await;
        tracing::info!("recovery kit made");
        Ok(RecoveryKit {
            words: words.to_string(),
            created: true,
        })
    }

    /// What a kit's envelope holds now: its spaces are the ones a recovered device should
    /// rejoin.
    fn envelope(&self) -> Result<Envelope> {
        self.read(|tx| {
            let me = tx.me.clone();
            let mut spaces = Vec::new();
            for s in store::spaces(&tx.sql)? {
                let mine = s.id == me.personal_space;
                if !(mine || s.kind == SpaceKind::Journal) || rstore::is_removed(&tx.sql, &s.id)? {
                    continue;
                }
                let keys = held_keys(tx, &s.id)?;
                spaces.push(EnvelopeSpace::new(s.id, s.kind, &keys));
            }
            Ok(Envelope {
                v: 1,
                member: me.member,
                name: me.name,
                personal_space: me.personal_space,
                spaces,
            })
        })
    }

    /// Of the envelope's spaces, those this device is a member of at the relay (the relay
    /// takes only those).
    async fn spaces_at_relay(&self, c: &RelayClient, envelope: &Envelope) -> Result<Vec<Uuid>> {
        let at_relay: std::collections::HashSet<Uuid> =
            c.spaces().await?.iter().map(|s| s.space_id).collect();
        Ok(envelope
            .spaces
            .iter()
            .map(|s| s.space.0)
            .filter(|s| at_relay.contains(s))
            .collect())
    }

    /// After a sync: send my kit's envelope again if my key rings changed since this device
    /// last sent it. A kit that is gone (replaced on another device, or removed with the
    /// device that made it) is forgotten. Failures wait for the next sync.
    pub(super) async fn keep_recovery_envelope(&self, c: &RelayClient) {
        if let Err(e) = self.try_keep_recovery_envelope(c).await {
            tracing::info!(code = %e.code(), "recovery envelope not updated; next sync tries again");
        }
    }

    async fn try_keep_recovery_envelope(&self, c: &RelayClient) -> Result<()> {
        let Some(shared) = self.read(|tx| {
            let meta = tx.meta_ref(&tx.me.personal_space)?;
            Ok(doc::meta::recovery_kit(tx.doc(meta.rowid)?))
        })?
        else {
            return Ok(());
        };
        let envelope = self.envelope()?;
        let hash = sent_hash(&shared, &envelope)?;
        if kstore::sent(&self.lock().conn)?.as_deref() == Some(hash.as_slice()) {
            return Ok(());
        }
        let body = duet_proto::PutRecoveryKit {
            auth_hash: None,
            envelope: shared.seal(&envelope)?,
            spaces: self.spaces_at_relay(c, &envelope).await?,
        };
        match c.put_recovery_kit(&shared.lookup, &body).await {
            Ok(()) => {
                kstore::set_sent(&self.lock().conn, Some(&hash))?;
                tracing::info!("recovery envelope updated");
                Ok(())
            }
            Err(Error::RelayRefused { code, .. })
                if code == duet_proto::ErrorCode::NotFound.as_str() =>
            {
                let current = c.recovery_kit().await?;
                if current.is_some_and(|k| k.lookup == shared.lookup) {
                    return Ok(());
                }
                // Gone: forget it here (a newer kit made elsewhere arrives with my personal
                // space and survives this: a concurrent put wins over a delete).
                self.write(|tx| {
                    if kstore::words(&tx.sql)?.is_some_and(|(l, _)| l == shared.lookup) {
                        kstore::forget_words(&tx.sql)?;
                    }
                    let meta = tx.meta_ref(&tx.me.personal_space)?;
                    tx.change(meta, |m| {
                        if doc::meta::recovery_kit(m).as_ref() == Some(&shared) {
                            doc::meta::set_recovery_kit(m, None)?;
                        }
                        Ok(())
                    })?;
                    Ok(())
                })?;
                tracing::info!("the recovery kit is gone at the relay; forgotten here");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Recover with a kit's words on a new home: this device becomes one of the kit's
    /// person's (same member id and name, their personal space and drafts, every journal the
    /// relay still lets them into), then syncs everything. Wrong words fail with
    /// `wrong_words` and leave no home behind.
    pub async fn recover(
        home: impl AsRef<std::path::Path>,
        words: &str,
        relay: &str,
        opts: crate::Options,
    ) -> Result<(Duet, Recovery)> {
        let secrets = kit::secrets(words)?;
        refuse_initialized(home.as_ref(), &opts)?;
        let anon = RelayClient::new(relay, None)?;
        let got = match anon.recover(&secrets.lookup, &secrets.auth).await {
            Err(Error::RelayRefused { code, .. })
                if code == duet_proto::ErrorCode::NotFound.as_str() =>
            {
                return Err(Error::WrongWords(
                    "no recovery kit on this relay has these words".into(),
                ));
            }
            other => other?,
        };
        let env = secrets.shared.open(&got.envelope)?;
        let personal = env
            .spaces
            .iter()
            .find(|s| s.space == env.personal_space)
            .ok_or_else(|| {
                Error::CorruptData("the recovery envelope has no personal space".into())
            })?;
        let me = Identity {
            member: env.member,
            device: DeviceId::new(),
            name: env.name.clone(),
            personal_space: env.personal_space,
        };
        let reg = duet_proto::Registered {
            device_id: got.device_id,
            token: got.token.clone(),
        };
        let duet = Duet::init_device(home.as_ref(), me, &personal.keys()?, relay, &reg, opts)?;
        // This device holds the words now (and is the kit's holder at the relay).
        kstore::set_words(&duet.lock().conn, &secrets.lookup, &secrets.words)?;
        let mut journals = Vec::new();
        for s in &env.spaces {
            if s.kind == SpaceKind::Journal && got.spaces.contains(&s.space.0) {
                duet.accept_keys(s.space, s.kind, &s.keys()?)?;
                journals.push(s.space);
            }
        }
        tracing::info!(journals = journals.len(), "recovered with a kit");
        // As for a linked device: if this sync fails (no signal), the home is whole and the
        // next one finishes the job.
        duet.sync_now().await?;
        let report = Recovery {
            member: env.member,
            device_id: got.device_id,
            journals,
            old_devices: got.devices,
        };
        Ok((duet, report))
    }
}

/// What identifies an envelope's content for one kit: its lookup id and the envelope's
/// plaintext, hashed (so an unchanged key ring isn't sent again).
fn sent_hash(shared: &SharedKit, envelope: &Envelope) -> Result<Vec<u8>> {
    let mut plain = Vec::new();
    ciborium::into_writer(envelope, &mut plain)
        .map_err(|e| Error::Internal(format!("envelope: {e}")))?;
    let mut h = Sha256::new();
    h.update(shared.lookup);
    h.update(&plain);
    Ok(h.finalize().to_vec())
}
