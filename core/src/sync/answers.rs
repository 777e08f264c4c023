//! Sealed prompt answers at the relay (ADR 11), one step of every sync, after pulling:
//! 1. register each share of my person's the relay doesn't hold yet; when it holds another
//!    (another device of mine registered first), adopt that one (`K1` rewritten, `K` kept);
//! 2. for each answer sealed here, fetch its round's answers (once per round per sync) and
//!    try every share shown: the one that opens it is kept, and the answer is read;
//! 3. reveal each answer written here whose round someone else answered, or that I revealed
//!    early: its text goes into the document's ordinary fields.
//!
//! The store is never locked across a request; each step's writes are one transaction, and
//! every step can run again (the relay keeps the first share, opening and revealing check
//! first), so a sync cut anywhere simply resumes at the next.

use std::collections::HashMap;

use duet_proto::{Answers, ErrorCode as RelayCode};
use uuid::Uuid;

use crate::crypto::AnswerKey;
use crate::engine::Duet;
use crate::error::{Error, Result};
use crate::ids::{EntryId, SpaceId};

use super::client::RelayClient;

/// A round's answers as fetched during this sync; `None` when the relay refused (not a
/// member any more, say): tried once, not again this sync.
type Rounds = HashMap<(SpaceId, String), Option<Answers>>;

impl Duet {
    /// The answers step of a sync (see the module's comment).
    pub(super) async fn sync_answers(&self, c: &RelayClient) -> Result<()> {
        let work = self.answer_work()?;
        if work.is_empty() {
            return Ok(());
        }
        let mut rounds = Rounds::new();
        // My person at the relay, to find my own answer in a round; only opening answers
        // sealed here can do without it.
        let me = if work.unregistered.is_empty() && work.own.is_empty() {
            None
        } else {
            Some(c.whoami().await?.person)
        };
        for (space, round, share) in &work.unregistered {
            let Some(me) = me else { break };
            let got = skip_refused(self.register_share(c, me, space, round, share).await)?;
            rounds.insert((*space, round.clone()), got);
        }
        for p in &work.sealed {
            let Some(a) = round_answers(c, &mut rounds, &p.space, &p.round).await? else {
                continue;
            };
            let shares: Vec<AnswerKey> = a
                .answers
                .iter()
                .filter_map(|i| i.share.as_deref())
                .filter_map(|s| AnswerKey::from_bytes(s).ok())
                .collect();
            if self.open_answer_with(&p.entry, &shares)? {
                tracing::debug!(entry = %p.entry, "opened a sealed answer");
            }
        }
        for p in &work.own {
            let Some(me) = me else { break };
            let Some(a) = round_answers(c, &mut rounds, &p.space, &p.round).await? else {
                continue;
            };
            // Someone else answered the round, or I revealed mine early.
            if !a.answers.iter().any(|i| i.person != me || i.revealed) {
                continue;
            }
            match self.reveal_own_answer(&p.entry) {
                Ok(true) => tracing::debug!(entry = %p.entry, "revealed my answer"),
                Ok(false) => {}
                // One answer that won't open (a damaged document) doesn't stop the sync.
                Err(e @ (Error::CorruptData(_) | Error::WrongKey(_))) => {
                    tracing::warn!(entry = %p.entry, code = %e.code(), "could not reveal an answer");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Register my person's share of a round (the space made at the relay first if need
    /// be) and adopt the one the relay holds; returns the round as the relay shows it.
    async fn register_share(
        &self,
        c: &RelayClient,
        me: Uuid,
        space: &SpaceId,
        round: &str,
        share: &AnswerKey,
    ) -> Result<Answers> {
        self.ensure_on_relay(c, space).await?;
        let answers = c.put_answer(space.0, round, share.as_bytes()).await?;
        let held = answers
            .answers
            .iter()
            .find(|i| i.person == me)
            .and_then(|i| i.share.as_deref())
            .ok_or_else(|| Error::CorruptData("the relay did not show my answer share".into()))?;
        self.adopt_answer_share(space, round, &AnswerKey::from_bytes(held)?)?;
        Ok(answers)
    }

    /// Reveal my sealed answer now, before my partner has answered: the relay shows its
    /// share to my partner from then on, so their devices read it at their next sync. On the
    /// device that wrote it, the text also goes into the entry at once (an ordinary entry
    /// from then on); my other devices' answers are revealed at that device's next sync.
    /// Only the author may; revealing a revealed answer does nothing.
    pub async fn reveal_answer(&self, entry: &EntryId) -> Result<()> {
        let answer = self.my_sealed_answer(entry)?;
        if answer.revealed {
            return Ok(());
        }
        self.register().await?;
        let c = self.relay_client()?;
        if let Some((share, false)) = self.answer_share(&answer.space, &answer.round)? {
            let me = c.whoami().await?.person;
            self.register_share(&c, me, &answer.space, &answer.round, &share)
                .await?;
        }
        match c.reveal_answer(answer.space.0, &answer.round).await {
            Err(Error::RelayRefused { code, .. }) if code == RelayCode::NotFound.as_str() => {
                return Err(Error::NotAllowed(
                    "the relay holds no share of this answer yet: sync the device that wrote \
                     it, then reveal it again"
                        .into(),
                ));
            }
            r => r?,
        }
        self.reveal_own_answer(entry)?;
        Ok(())
    }
}

/// A round's answers: fetched once per sync (or what a registration just returned).
async fn round_answers<'a>(
    c: &RelayClient,
    rounds: &'a mut Rounds,
    space: &SpaceId,
    round: &str,
) -> Result<Option<&'a Answers>> {
    let key = (*space, round.to_string());
    if !rounds.contains_key(&key) {
        let got = skip_refused(c.answers(space.0, round).await)?;
        rounds.insert(key.clone(), got);
    }
    Ok(rounds.get(&key).and_then(Option::as_ref))
}

/// A refusal about one round (a journal I was removed from, a round the relay won't take)
/// skips that round for this sync; anything else (offline, say) ends the sync.
fn skip_refused<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e @ (Error::RelayRefused { .. } | Error::CorruptData(_))) => {
            tracing::warn!(code = %e.code(), error = %e, "skipped a round of sealed answers");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
