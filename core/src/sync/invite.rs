//! Invite codes. The inviter makes a random secret S; from it (and the invite id) HKDF
//! derives a join token and a wrapping key. The relay stores the token's hash and the
//! wrapped payload; the code — invite id and S — travels only between the partners (QR
//! code or link). Joining proves the token, and only the code's holder can unwrap.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use data_encoding::BASE32_NOPAD;
use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::crypto::{Epoch, SpaceKey};
use crate::error::{Error, Result};
use crate::ids::{MemberId, SpaceId};
use crate::model::SpaceKind;

const SECRET_LEN: usize = 16;
const CODE_PREFIX: &str = "DUET";
const URI_PREFIX: &str = "duet:join";

/// What the wrapped payload carries to the joiner.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Wrapped {
    pub space: SpaceId,
    pub kind: SpaceKind,
    pub keys: Vec<WrappedKey>,
    /// For a device link: the person the new device belongs to.
    pub person: Option<Person>,
    /// For a device link: invites to each of the person's journals.
    pub journals: Vec<JournalCode>,
    /// For a partner-assisted restore: the member the joining home becomes.
    #[serde(default)]
    pub restore: Option<Restored>,
}

/// Who a restore code brings back: a member of the journal whose devices are all lost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Restored {
    pub member: MemberId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct WrappedKey {
    pub epoch: Epoch,
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

/// An invite to one journal, inside a device-link payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JournalCode {
    pub invite: Uuid,
    #[serde(with = "serde_bytes")]
    pub secret: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Person {
    pub member: MemberId,
    pub name: String,
    pub personal_space: SpaceId,
}

/// An invite's secret material.
pub(crate) struct Secret {
    pub invite: Uuid,
    pub secret: [u8; SECRET_LEN],
}

impl Secret {
    pub(crate) fn generate() -> Secret {
        let mut secret = [0u8; SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let mut id = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut id);
        Secret {
            invite: uuid::Builder::from_random_bytes(id).into_uuid(),
            secret,
        }
    }

    fn derive(&self, info: &[u8]) -> Result<[u8; 32]> {
        let hk = Hkdf::<Sha256>::new(Some(self.invite.as_bytes()), &self.secret);
        let mut out = [0u8; 32];
        hk.expand(info, &mut out)
            .map_err(|_| Error::Internal("hkdf".into()))?;
        Ok(out)
    }

    /// The secret of a journal invite carried inside a device link.
    pub(crate) fn from_code(c: &JournalCode) -> Result<Secret> {
        let secret: [u8; SECRET_LEN] =
            c.secret.as_slice().try_into().map_err(|_| {
                Error::InviteRejected("a linked journal's invite is malformed".into())
            })?;
        Ok(Secret {
            invite: c.invite,
            secret,
        })
    }

    pub(crate) fn to_code(&self) -> JournalCode {
        JournalCode {
            invite: self.invite,
            secret: self.secret.to_vec(),
        }
    }

    /// The token the joiner presents.
    pub(crate) fn token(&self) -> Result<Vec<u8>> {
        Ok(self.derive(b"duet/invite/token")?.to_vec())
    }

    /// What the relay stores: the token's hash.
    pub(crate) fn token_hash(&self) -> Result<Vec<u8>> {
        Ok(Sha256::digest(self.token()?).to_vec())
    }

    pub(crate) fn wrap(&self, w: &Wrapped) -> Result<Vec<u8>> {
        let key = self.derive(b"duet/invite/wrap")?;
        let mut plain = Vec::new();
        ciborium::into_writer(w, &mut plain)
            .map_err(|e| Error::Internal(format!("encoding an invite: {e}")))?;
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = XChaCha20Poly1305::new(key.as_ref().into())
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: self.invite.as_bytes(),
                },
            )
            .map_err(|_| Error::Internal("wrapping an invite".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(out)
    }

    pub(crate) fn unwrap(&self, wrapped: &[u8]) -> Result<Wrapped> {
        if wrapped.len() < 24 + 16 {
            return Err(Error::InviteRejected(
                "the invite's key is malformed".into(),
            ));
        }
        let key = self.derive(b"duet/invite/wrap")?;
        let plain = XChaCha20Poly1305::new(key.as_ref().into())
            .decrypt(
                XNonce::from_slice(&wrapped[..24]),
                Payload {
                    msg: &wrapped[24..],
                    aad: self.invite.as_bytes(),
                },
            )
            .map_err(|_| {
                Error::InviteRejected("the invite's key does not open with this code".into())
            })?;
        ciborium::from_reader(plain.as_slice())
            .map_err(|e| Error::InviteRejected(format!("the invite's payload is malformed: {e}")))
    }

    /// The text code: `DUET-XXXX-XXXX-…` (base32 of invite id and secret).
    pub(crate) fn code(&self) -> String {
        let mut raw = self.invite.as_bytes().to_vec();
        raw.extend_from_slice(&self.secret);
        let b32 = BASE32_NOPAD.encode(&raw);
        let groups: Vec<&str> = b32
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        format!("{CODE_PREFIX}-{}", groups.join("-"))
    }

    /// A `duet:join?code=…&relay=…` URI, fit for a QR code.
    /// The invite as shown to the one who made it.
    pub(crate) fn invite(&self, relay: &str, journal: SpaceId, expires_at: i64) -> Invite {
        Invite {
            code: self.code(),
            uri: self.uri(relay),
            journal,
            expires_at,
        }
    }

    pub(crate) fn uri(&self, relay: &str) -> String {
        let relay: String = url::form_urlencoded::byte_serialize(relay.as_bytes()).collect();
        format!("{URI_PREFIX}?code={}&relay={relay}", self.code())
    }

    /// Parse a text code or a `duet:join` URI; returns the secret and the relay URL when the
    /// URI names one.
    pub(crate) fn parse(input: &str) -> Result<(Secret, Option<String>)> {
        let bad = || Error::InviteRejected("not a Duet invite code".into());
        let input = input.trim();
        let (code, relay) = match input.strip_prefix(URI_PREFIX) {
            Some(rest) => {
                let query = rest.strip_prefix('?').ok_or_else(bad)?;
                let mut code = None;
                let mut relay = None;
                for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                    match k.as_ref() {
                        "code" => code = Some(v.into_owned()),
                        "relay" => relay = Some(v.into_owned()),
                        _ => {}
                    }
                }
                (code.ok_or_else(bad)?, relay)
            }
            None => (input.to_string(), None),
        };
        let cleaned: String = code
            .to_ascii_uppercase()
            .trim_start_matches(CODE_PREFIX)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect();
        let raw = BASE32_NOPAD.decode(cleaned.as_bytes()).map_err(|_| bad())?;
        if raw.len() != 16 + SECRET_LEN {
            return Err(bad());
        }
        let invite = Uuid::from_slice(&raw[..16]).map_err(|_| bad())?;
        let mut secret = [0u8; SECRET_LEN];
        secret.copy_from_slice(&raw[16..]);
        Ok((Secret { invite, secret }, relay))
    }
}

impl Wrapped {
    pub(crate) fn keys(&self) -> Result<Vec<(Epoch, SpaceKey)>> {
        self.keys
            .iter()
            .map(|k| Ok((k.epoch, SpaceKey::from_bytes(&k.key)?)))
            .collect()
    }
}

/// An invite (or device link), as shown to the one who made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Invite {
    /// The text code to read out or paste (`DUET-...`).
    pub code: String,
    /// A `duet:join?...` URI (it carries the relay URL) for a QR code or link.
    pub uri: String,
    /// The journal (for a device link: the personal space).
    #[cfg_attr(feature = "uniffi", uniffi(name = "journal_id"))]
    pub journal: SpaceId,
    /// Unix seconds.
    pub expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_text_and_uri() {
        let s = Secret::generate();
        let code = s.code();
        assert!(code.starts_with("DUET-"));
        let (back, relay) = Secret::parse(&code.to_lowercase()).unwrap();
        assert_eq!(
            (back.invite, back.secret, relay),
            (s.invite, s.secret, None)
        );
        let (back, relay) = Secret::parse(&s.uri("http://127.0.0.1:8787/")).unwrap();
        assert_eq!(back.secret, s.secret);
        assert_eq!(relay.as_deref(), Some("http://127.0.0.1:8787/"));
        assert!(Secret::parse("DUET-1234").is_err());
        assert!(Secret::parse("").is_err());
    }

    #[test]
    fn only_the_code_unwraps() {
        let s = Secret::generate();
        let w = Wrapped {
            space: SpaceId::new(),
            kind: SpaceKind::Journal,
            keys: vec![WrappedKey {
                epoch: 1,
                key: vec![7; 32],
            }],
            person: None,
            journals: vec![],
            restore: None,
        };
        let wrapped = s.wrap(&w).unwrap();
        assert_eq!(s.unwrap(&wrapped).unwrap().space, w.space);
        let other = Secret::generate();
        assert!(other.unwrap(&wrapped).is_err());
        assert_ne!(s.token().unwrap(), other.token().unwrap());
        assert_eq!(s.token_hash().unwrap().len(), 32);
    }
}
