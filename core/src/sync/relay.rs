//! The relay this home syncs with: its URL, registering there, and what a new URL means
//! for this device's identity (the same relay under another name keeps it, a relay used
//! before gets it back, a new one means registering afresh and sending it everything).

use duet_proto::ErrorCode as RelayCode;
use uuid::Uuid;

use crate::doc;
use crate::engine::Duet;
use crate::engine::tx::Tx;
use crate::error::{Error, ErrorCode, Result};
use crate::store::{self, relay as rstore};

use super::client::{self, RelayClient};
use super::{RelayIdentity, RelayInfo, RelaySwitch};

/// What checking the credentials at the relay URL found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    /// Issued at this URL: nothing to check.
    Current,
    /// Issued at another URL of the same relay (the token works here).
    Kept,
    /// Issued here before: taken back from the archive.
    Restored,
    /// Registered afresh; `moved` when this home had an identity at another relay.
    Registered { moved: bool },
}

impl Duet {
    /// Point this home at a relay (`http(s)://host[:port]`), offline: the URL is recorded
    /// and the credentials kept, marked as issued at the old URL. The next [`Duet::register`]
    /// (the start of every sync) checks them there: the same relay under another name keeps
    /// the identity, a relay this home used before gets its identity back, and a new relay
    /// means registering afresh and sending it everything. Nothing is dropped either way.
    /// [`Duet::switch_relay`] does the same and checks at once.
    pub fn set_relay(&self, url: &str) -> Result<()> {
        let url = client::parse_url(url)?;
        let g = self.lock();
        rstore::set_relay_url(&g.conn, url.as_str())?;
        Ok(())
    }

    /// The relay and this device's id there.
    pub fn relay_info(&self) -> Result<Option<RelayInfo>> {
        Ok(rstore::relay(&self.lock().conn)?.map(|r| RelayInfo {
            url: r.url,
            device_id: r.device_id,
        }))
    }

    pub(super) fn relay_client(&self) -> Result<RelayClient> {
        let r = rstore::relay(&self.lock().conn)?.ok_or(Error::NoRelay)?;
        RelayClient::new(&r.url, r.token)
    }

    /// Register this device with the relay (once); returns its relay device id. When the
    /// relay URL changed since the credentials were issued, they are checked there first
    /// (see [`Duet::set_relay`]).
    pub async fn register(&self) -> Result<Uuid> {
        Ok(self.settle_identity().await?.1)
    }

    /// Point this home at a relay and check at once what that means for its identity
    /// there: kept (the same relay under another name), restored (a relay this home used
    /// before), new (registered afresh; partners must invite this device again there) or,
    /// when the relay can't be reached, unverified (the URL is recorded and checked at the
    /// next sync). A relay that refuses outright leaves the previous URL in place.
    pub async fn switch_relay(&self, url: &str) -> Result<RelaySwitch> {
        let url = client::parse_url(url)?.to_string();
        let previous = rstore::relay(&self.lock().conn)?.map(|r| r.url);
        self.set_relay(&url)?;
        match self.settle_identity().await {
            Ok((settled, id)) => Ok(RelaySwitch {
                identity: match settled {
                    Settled::Current | Settled::Kept => RelayIdentity::Kept,
                    Settled::Restored => RelayIdentity::Restored,
                    Settled::Registered { .. } => RelayIdentity::New,
                },
                message: switch_message(settled, &url),
                url,
                device_id: Some(id),
            }),
            Err(e) if e.code() == ErrorCode::Offline => Ok(RelaySwitch {
                message: format!(
                    "{url} could not be reached, so this device's identity there is unverified; \
                     it is checked at the next sync. Nothing is lost: everything stays queued \
                     on this device."
                ),
                url,
                device_id: None,
                identity: RelayIdentity::Unverified,
            }),
            Err(e) => {
                // A definite refusal changed nothing but the URL: put the previous one back.
                if let Some(p) = previous.filter(|p| *p != url) {
                    self.set_relay(&p)?;
                }
                Err(e)
            }
        }
    }

    /// Make sure the credentials work at the relay's current URL (see [`Duet::set_relay`]);
    /// returns what was found and this device's id there.
    async fn settle_identity(&self) -> Result<(Settled, Uuid)> {
        let r = rstore::relay(&self.lock().conn)?.ok_or(Error::NoRelay)?;
        if let Some((id, _)) = r.current() {
            return Ok((Settled::Current, id));
        }
        let held = r.device_id.zip(r.token.clone());
        if let Some((id, token)) = &held {
            // The same relay under another name? Its answer says whose token this is.
            if token_works(&r.url, id, token).await? {
                self.write(|tx| rstore::set_credentials(&tx.sql, id, token))?;
                tracing::info!(device = %id, "the relay at the new address knows this device; identity kept");
                return Ok((Settled::Kept, *id));
            }
            // A relay this home used before?
            let archived = rstore::archived_identity(&self.lock().conn, &r.url)?;
            if let Some((old, old_token)) = archived {
                if token_works(&r.url, &old, &old_token).await? {
                    self.write(|tx| {
                        rstore::set_credentials(&tx.sql, &old, &old_token)?;
                        record_in_personal(tx, &old)?;
                        // What was written while away never reached this relay.
                        start_over(tx)
                    })?;
                    tracing::info!(device = %old, "back at a relay used before; identity restored");
                    return Ok((Settled::Restored, old));
                }
                rstore::forget_identity(&self.lock().conn, &r.url)?;
            }
        }
        // Anonymous but for the operator's registration token, which a closed relay asks for.
        let reg = RelayClient::new(&r.url, self.registration_token())?
            .register()
            .await?;
        let moved = held.is_some();
        self.write(|tx| {
            rstore::set_credentials(&tx.sql, &reg.device_id, &reg.token)?;
            record_in_personal(tx, &reg.device_id)?;
            if moved {
                // A new relay holds none of our history: it gets all of it.
                start_over(tx)?;
            }
            Ok(())
        })?;
        tracing::info!(device = %reg.device_id, moved, "registered with the relay");
        Ok((Settled::Registered { moved }, reg.device_id))
    }
}

/// Whether `token` is `device`'s at the relay at `url`. `Ok(false)` only when the relay
/// says it doesn't know the token (or names another device); any other failure is an
/// error, so an unreachable or confused relay never leads to registering afresh.
async fn token_works(url: &str, device: &Uuid, token: &str) -> Result<bool> {
    match RelayClient::new(url, Some(token.to_string()))?
        .whoami()
        .await
    {
        Ok(w) => Ok(w.device_id == *device),
        Err(Error::RelayRefused { code, .. })
            if code == RelayCode::Unauthorized.as_str()
                || code == RelayCode::DeviceRevoked.as_str() =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// What a relay switch means, for people.
fn switch_message(settled: Settled, url: &str) -> String {
    match settled {
        Settled::Current => format!("This home already syncs through {url}."),
        Settled::Kept => format!(
            "{url} is the relay this device already syncs with, under another address: it \
             keeps its identity there and everything syncs on as before."
        ),
        Settled::Restored => format!(
            "This home was registered at {url} before: that identity is restored, and \
             everything this home holds is queued to be sent there again, so nothing written \
             meanwhile is missing."
        ),
        Settled::Registered { moved: false } => format!(
            "This home is now registered at {url}; what you wrote goes there at the next sync."
        ),
        Settled::Registered { moved: true } => format!(
            "{url} is a new relay: this device registered there afresh and everything this \
             home holds is queued to be sent to it. Your partner must be invited again there \
             (duet invite create), and your other devices linked again (duet device link)."
        ),
    }
}

/// A relay that doesn't hold our log: every space starts over there (cursors, membership)
/// and every document of every space this home holds — but the ones a partner removed us
/// from — is queued whole, so the relay gets all of the history.
fn start_over(tx: &mut Tx<'_>) -> Result<()> {
    rstore::reset_sync_state(&tx.sql)?;
    let mut queued = 0u64;
    for s in store::spaces(&tx.sql)? {
        if rstore::is_removed(&tx.sql, &s.id)? {
            continue;
        }
        for (rowid, id, kind) in store::space_docs(&tx.sql, &s.id)? {
            let (snapshot, chunks) = store::doc_bytes(&tx.sql, rowid)?;
            if snapshot.is_none() && chunks.is_empty() {
                // A document still waiting for its first bytes (a linked device's).
                continue;
            }
            // From the store, not the cache: this touches every document.
            let mut d = doc::load_doc(
                &tx.me.device,
                snapshot.as_deref(),
                chunks.iter().map(Vec::as_slice),
            )?;
            store::enqueue(&tx.sql, &s.id, &id, &kind, &d.save(), tx.now)?;
            queued += 1;
        }
    }
    tracing::info!(documents = queued, "queued everything for the relay");
    Ok(())
}

/// Name my relay device id in my personal space (my other devices add it to journals).
fn record_in_personal(tx: &mut Tx<'_>, dev: &Uuid) -> Result<()> {
    let meta = tx.meta_ref(&tx.me.personal_space)?;
    let member = tx.me.member;
    tx.change(meta, |m| doc::meta::add_relay_device(m, dev, &member))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::net::TcpListener;
    use std::sync::Arc;

    use super::*;
    use crate::store::inspect;
    use crate::sync::testkit::{entry, home, refused, relay};

    /// A relay that knows one device (`id`, `token`) and registers `next` when asked.
    fn relay_knowing(id: Uuid, token: &'static str, next: (Uuid, &'static str)) -> String {
        relay(Arc::new(move |method, path, bearer, _| {
            match (method, path) {
                ("GET", "v1/devices/me") if bearer == Some(token) => (
                    200,
                    duet_proto::to_cbor(&duet_proto::WhoAmI {
                        device_id: id,
                        person: Uuid::from_u128(1),
                    }),
                ),
                ("GET", "v1/devices/me") if bearer == Some(next.1) => (
                    200,
                    duet_proto::to_cbor(&duet_proto::WhoAmI {
                        device_id: next.0,
                        person: Uuid::from_u128(1),
                    }),
                ),
                ("GET", "v1/devices/me") => refused(RelayCode::Unauthorized),
                ("POST", "v1/devices") => (
                    201,
                    duet_proto::to_cbor(&duet_proto::Registered {
                        device_id: next.0,
                        token: next.1.into(),
                    }),
                ),
                _ => refused(RelayCode::NotFound),
            }
        }))
    }

    fn credentials(duet: &Duet) -> (Option<Uuid>, Option<String>, Option<String>) {
        let r = rstore::relay(&duet.lock().conn).unwrap().unwrap();
        (r.device_id, r.token, r.issued_for)
    }

    #[tokio::test]
    async fn switching_relays_keeps_restores_or_starts_over() {
        let (_dir, duet) = home("Ada");
        let j = duet.create_journal("Us").unwrap();
        entry(&duet, &j, "before any move");
        let (d1, d2) = (Uuid::from_u128(11), Uuid::from_u128(22));
        let a = relay_knowing(d1, "token-a", (Uuid::from_u128(99), "unused"));
        let b = relay_knowing(Uuid::from_u128(98), "unused-b", (d2, "token-b"));
        // Registered at A, everything pushed, cursors somewhere.
        duet.set_relay(&a).unwrap();
        rstore::set_credentials(&duet.lock().conn, &d1, "token-a").unwrap();
        inspect::outbox_clear(&duet.lock().conn, None);
        rstore::advance_cursor(&duet.lock().conn, &j, 7, 1).unwrap();

        // The same relay under another name: identity and cursors kept, nothing re-sent.
        let alias = format!("{a}duet/");
        let s = duet
            .switch_relay(&alias)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.identity, s.device_id), (RelayIdentity::Kept, Some(d1)));
        assert_eq!(credentials(&duet).2.as_deref(), Some(alias.as_str()));
        assert_eq!(
            rstore::sync_space(&duet.lock().conn, &j).unwrap(),
            (7, true)
        );
        assert_eq!(duet.outbox_len().unwrap(), 0);
        // set_relay alone checks nothing: the credentials wait, marked for the old URL.
        duet.set_relay(&a).unwrap();
        assert_eq!(credentials(&duet).2.as_deref(), Some(alias.as_str()));
        assert_eq!(duet.register().await.unwrap(), d1);
        assert_eq!(credentials(&duet).2.as_deref(), Some(a.as_str()));

        // A relay that can't be reached: recorded, unverified, nothing changed.
        let closed = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://127.0.0.1:{}/", l.local_addr().unwrap().port())
        };
        let s = duet.switch_relay(&closed).await.unwrap();
        assert_eq!((s.identity, s.device_id), (RelayIdentity::Unverified, None));
        assert_eq!(duet.relay_info().unwrap().unwrap().url, closed);
        assert_eq!(credentials(&duet).1.as_deref(), Some("token-a"));
        assert_eq!(
            rstore::sync_space(&duet.lock().conn, &j).unwrap(),
            (7, true)
        );

        // A new relay: registered afresh there, every document queued, every space anew.
        let docs = inspect::doc_count(&duet.lock().conn);
        let s = duet.switch_relay(&b).await.unwrap();
        assert_eq!((s.identity, s.device_id), (RelayIdentity::New, Some(d2)));
        assert!(s.message.contains("invited again"), "{}", s.message);
        assert_eq!(credentials(&duet).1.as_deref(), Some("token-b"));
        assert_eq!(
            rstore::sync_space(&duet.lock().conn, &j).unwrap(),
            (0, false)
        );
        // Every document whole, plus the personal space naming this device's new id.
        assert_eq!(duet.outbox_len().unwrap() as i64, docs + 1);

        // Back at A: its identity is restored, and what A missed is queued again.
        inspect::outbox_clear(&duet.lock().conn, None);
        let s = duet.switch_relay(&a).await.unwrap();
        assert_eq!(
            (s.identity, s.device_id),
            (RelayIdentity::Restored, Some(d1))
        );
        assert_eq!(credentials(&duet).1.as_deref(), Some("token-a"));
        assert!(duet.outbox_len().unwrap() as i64 >= docs);

        // Something that isn't a relay refuses outright: the URL goes back.
        let not_a_relay = relay(Arc::new(|_, _, _, _| (404, b"nope".to_vec())));
        assert!(duet.switch_relay(&not_a_relay).await.is_err());
        assert_eq!(duet.relay_info().unwrap().unwrap().url, a);
        assert_eq!(credentials(&duet).2.as_deref(), Some(a.as_str()));
    }
}
