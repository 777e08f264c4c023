//! Sealed prompt answers (ADR 11), the device's local half: writing an answer sealed under
//! a fresh key `K = K1 ⊕ K2`, editing it before it is revealed (sealed again), and the
//! store-side steps the relay's answers call for (`sync/answers.rs` talks to the relay):
//! adopting my person's registered share, opening a partner's answer with a share, and
//! revealing my own once its round is.

use super::Duet;
use super::entries::create_in_with;
use super::insights::DAY_MS;
use super::tx::{DocRef, Tx};
use crate::crypto::{self, AnswerKey};
use crate::doc::entry as edoc;
use crate::error::{Error, Result};
use crate::ids::{EntryId, SpaceId};
use crate::limits;
use crate::model::*;
use crate::prompts;
use crate::store::{self, answers, index};

/// The refusal a partner's device gets for editing an answer it can't read.
const SEALED_FOR_YOU: &str = "this answer is sealed until you answer too";

/// What sync needs to do about sealed answers on this device.
#[derive(Debug, Default)]
pub(crate) struct AnswerWork {
    /// My person's shares the relay doesn't hold yet: (space, round, share).
    pub unregistered: Vec<(SpaceId, String, AnswerKey)>,
    /// Answers sealed here (no key yet).
    pub sealed: Vec<answers::Pending>,
    /// Answers written here, not revealed yet.
    pub own: Vec<answers::Pending>,
}

impl AnswerWork {
    pub(crate) fn is_empty(&self) -> bool {
        self.unregistered.is_empty() && self.sealed.is_empty() && self.own.is_empty()
    }
}

/// A sealed answer as `reveal_answer` sees it.
#[derive(Debug)]
pub(crate) struct AnswerOf {
    pub space: SpaceId,
    pub round: String,
    pub revealed: bool,
}

impl Duet {
    /// Answer a prompt in a shared journal — today's prompt of that journal, or `prompt_id`
    /// — sealed until your partner answers the same prompt too (or you reveal it with
    /// `reveal_answer`). The text is sealed under a fresh key whose two shares live in the
    /// entry (sealed under the journal key like everything else) and, after the next sync,
    /// at the relay; neither alone opens it. Your own devices read it at once (this one
    /// now, your others once they sync). A local, durable write: it works offline.
    pub fn answer_prompt(
        &self,
        journal: &SpaceId,
        prompt_id: Option<&str>,
        title: &str,
        body: &str,
    ) -> Result<EntryId> {
        limits::check_len("title", title, limits::MAX_TITLE_CHARS)?;
        limits::check_len("body", body, limits::MAX_BODY_CHARS)?;
        if body.trim().is_empty() {
            return Err(Error::invalid("body", "an answer needs a body"));
        }
        let prompt = match prompt_id {
            Some(p) => prompts::by_id(p.trim())
                .ok_or_else(|| Error::invalid("prompt id", format!("no prompt {p:?}")))?,
            None => self.prompt_of_the_day(journal)?,
        };
        let round = prompts::answer_round(prompt.id, self.now().div_euclid(DAY_MS));
        let id = EntryId::new();
        let key = AnswerKey::generate();
        let text = crypto::seal_answer(&key, journal, &id, title, body)?;
        self.write(|tx| {
            match store::space(&tx.sql, journal)? {
                Some(s) if s.kind == SpaceKind::Journal => {}
                Some(_) => {
                    return Err(Error::NotAllowed(
                        "a sealed answer waits for your partner: answer in a shared journal, \
                         not in your personal space"
                            .into(),
                    ));
                }
                None => return Err(Error::not_found("journal", journal)),
            }
            // One relay share per person and round: the first answer here makes it.
            let share = match answers::share(&tx.sql, journal, &round)? {
                Some((share, _)) => share,
                None => {
                    let share = AnswerKey::generate();
                    answers::put_share(&tx.sql, journal, &round, &share, false)?;
                    share
                }
            };
            let k1 = key.xor(&share);
            // Before the entry is indexed, so this device indexes (and finds) its text.
            answers::put_key(&tx.sql, &id, &key, true)?;
            let new = NewEntry {
                kind: Some(EntryKind::PromptAnswer),
                prompt_id: Some(prompt.id.to_string()),
                ..NewEntry::default()
            };
            create_in_with(tx, journal, EntryKind::PromptAnswer, &new, id, |doc| {
                edoc::put_sealed(doc, &round, k1.as_bytes(), &text)
            })
        })?;
        Ok(id)
    }

    /// What the next sync has to do about sealed answers.
    pub(crate) fn answer_work(&self) -> Result<AnswerWork> {
        let g = self.lock();
        Ok(AnswerWork {
            unregistered: answers::unregistered(&g.conn)?,
            sealed: answers::sealed_here(&g.conn)?,
            own: answers::own_unrevealed(&g.conn)?,
        })
    }

    /// Whether an answer written here waits for its share to be registered.
    pub(crate) fn answer_share_waiting(&self) -> Result<bool> {
        answers::any_unregistered(&self.lock().conn)
    }

    /// My person's share for a round, and whether the relay holds it.
    pub(crate) fn answer_share(
        &self,
        space: &SpaceId,
        round: &str,
    ) -> Result<Option<(AnswerKey, bool)>> {
        answers::share(&self.lock().conn, space, round)
    }

    /// The relay holds `registered` as my person's share of a round. When it isn't the one
    /// made here (another device of mine registered first), the answers written here in that
    /// round get `K1 = K ⊕ registered`: their key, and so their sealed text, stay as they are.
    pub(crate) fn adopt_answer_share(
        &self,
        space: &SpaceId,
        round: &str,
        registered: &AnswerKey,
    ) -> Result<()> {
        self.write(|tx| {
            let mine = answers::share(&tx.sql, space, round)?;
            if mine.as_ref().map(|(s, _)| s) != Some(registered) {
                for entry in answers::own_in_round(&tx.sql, space, round)? {
                    let Some((key, _)) = answers::key(&tx.sql, &entry)? else {
                        continue;
                    };
                    let k1 = key.xor(registered);
                    let d = tx.entry_ref(&entry)?;
                    tx.change(d, |doc| edoc::set_k1(doc, k1.as_bytes()))?;
                }
            }
            answers::put_share(&tx.sql, space, round, registered, true)
        })
    }

    /// Try to open an answer sealed here with each share the relay showed for its round
    /// (authentication tells the right one). Once open, its key is kept and the entry is
    /// indexed with its text and announced as changed. Returns whether it opened.
    pub(crate) fn open_answer_with(&self, entry: &EntryId, shares: &[AnswerKey]) -> Result<bool> {
        if shares.is_empty() {
            return Ok(false);
        }
        self.write(|tx| {
            let Some(row) = index::entry_row(&tx.sql, entry)? else {
                return Ok(false);
            };
            let doc = tx.doc(row.rowid)?;
            let Some(sealed) = edoc::sealed(doc).filter(|s| !s.revealed) else {
                return Ok(false);
            };
            let author = edoc::author(doc)?;
            if answers::key(&tx.sql, entry)?.is_some() {
                return Ok(false);
            }
            let Ok(k1) = AnswerKey::from_bytes(&sealed.k1) else {
                tracing::warn!(%entry, "a sealed answer without a valid journal share");
                return Ok(false);
            };
            let Some(key) = shares
                .iter()
                .map(|s| k1.xor(s))
                .find(|k| crypto::open_answer(k, &row.space, entry, &sealed.text).is_ok())
            else {
                return Ok(false);
            };
            answers::put_key(&tx.sql, entry, &key, false)?;
            tx.reindex(row.rowid, entry, &row.space, row.updated_at, true)?;
            tx.event(
                EntryEventKind::Changed,
                *entry,
                row.space,
                Some(author),
                Origin::Remote,
            );
            Ok(true)
        })
    }

    /// Reveal an answer written on this device once its round is revealed: its text goes
    /// into the document's ordinary fields (from then on an ordinary entry: editable,
    /// searchable, in history) and `revealed` is set, in one change. Only the writing device
    /// does this, so the text is never inserted twice. Returns whether it did.
    pub(crate) fn reveal_own_answer(&self, entry: &EntryId) -> Result<bool> {
        self.write(|tx| {
            let Some(row) = index::entry_row(&tx.sql, entry)? else {
                return Ok(false);
            };
            let Some(sealed) = edoc::sealed(tx.doc(row.rowid)?).filter(|s| !s.revealed) else {
                return Ok(false);
            };
            let Some((key, true)) = answers::key(&tx.sql, entry)? else {
                return Ok(false);
            };
            let (title, body) = crypto::open_answer(&key, &row.space, entry, &sealed.text)?;
            let d = tx.entry_ref(entry)?;
            let (_, changed) = tx.change(d, |doc| edoc::reveal(doc, &title, &body))?;
            if changed {
                let now = tx.now;
                tx.reindex(d.rowid, entry, &d.space, now, true)?;
                tx.local_event(EntryEventKind::Changed, *entry, d.space);
            }
            Ok(changed)
        })
    }

    /// A sealed answer of mine, for revealing it: refused for anyone else's entry and for
    /// an entry that is not a sealed answer.
    pub(crate) fn my_sealed_answer(&self, entry: &EntryId) -> Result<AnswerOf> {
        self.read(|tx| {
            let d = tx.entry_ref(entry)?;
            let me = tx.me.member;
            let doc = tx.doc(d.rowid)?;
            let sealed = edoc::sealed(doc).ok_or_else(|| {
                Error::NotAllowed("only a sealed prompt answer can be revealed".into())
            })?;
            if edoc::author(doc)? != me {
                return Err(Error::NotAllowed(
                    "only its author can reveal an answer".into(),
                ));
            }
            Ok(AnswerOf {
                space: d.space,
                round: sealed.round,
                revealed: sealed.revealed,
            })
        })
    }
}

/// An edit of a text field of an unrevealed sealed answer: its author's device that holds
/// the key opens the text, applies `edit` to the field and seals it again (a new nonce) —
/// the ordinary fields stay empty until it is revealed. Anyone else is refused. Returns
/// `false`, touching nothing, when the entry is not an unrevealed sealed answer or the
/// field is not its title or body (the ordinary path then applies).
pub(super) fn edit_sealed(
    tx: &mut Tx<'_>,
    d: DocRef,
    entry: &EntryId,
    field: TextField,
    edit: impl FnOnce(&str) -> Result<String>,
) -> Result<bool> {
    if !matches!(field, TextField::Title | TextField::Body) {
        return Ok(false);
    }
    let doc = tx.doc(d.rowid)?;
    let Some(sealed) = edoc::sealed(doc).filter(|s| !s.revealed) else {
        return Ok(false);
    };
    if edoc::author(doc)? != tx.me.member {
        return Err(Error::NotAllowed(SEALED_FOR_YOU.into()));
    }
    let Some((key, _)) = answers::key(&tx.sql, entry)? else {
        return Err(Error::NotAllowed(
            "this answer was written on another of your devices and can't be read here yet; \
             sync, then edit it"
                .into(),
        ));
    };
    let (mut title, mut body) = crypto::open_answer(&key, &d.space, entry, &sealed.text)?;
    let target = match field {
        TextField::Title => &mut title,
        _ => &mut body,
    };
    let new = edit(target)?;
    limits::check_len(field.key(), &new, field.max_chars())?;
    if new == *target {
        return Ok(true);
    }
    *target = new;
    let text = crypto::seal_answer(&key, &d.space, entry, &title, &body)?;
    tx.change(d, |doc| edoc::set_sealed_text(doc, &text))?;
    let now = tx.now;
    tx.reindex(d.rowid, entry, &d.space, now, false)?;
    tx.local_event(EntryEventKind::Changed, *entry, d.space);
    Ok(true)
}

/// `splices` (character positions, in order) applied to `text`, checked as the ordinary
/// splice path checks them.
pub(super) fn apply_splices(
    text: &str,
    field: TextField,
    splices: &[(usize, usize, &str)],
) -> Result<String> {
    let mut chars: Vec<char> = text.chars().collect();
    for (pos, del, ins) in splices {
        super::entries::check_splice(field, chars.len(), *pos, *del, ins)?;
        chars.splice(*pos..pos + del, ins.chars());
    }
    Ok(chars.into_iter().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::ErrorCode;
    use crate::testing::home;

    const SENTINEL: &str = "Sentinel-SEALED-ANSWER-5d2f8a";

    /// Ada and Ben sharing a journal through bundles.
    fn couple() -> (
        (tempfile::TempDir, Duet),
        (tempfile::TempDir, Duet),
        SpaceId,
    ) {
        let (a, b) = (home("Ada"), home("Ben"));
        let j = a.1.create_journal("Us").unwrap();
        b.1.import_bundle(&a.1.export_bundle(&j).unwrap()).unwrap();
        a.1.import_bundle(&b.1.export_bundle(&j).unwrap()).unwrap();
        (a, b, j)
    }

    fn files_hold(dir: &std::path::Path, needle: &str) -> bool {
        std::fs::read_dir(dir).unwrap().any(|e| {
            let bytes = std::fs::read(e.unwrap().path()).unwrap_or_default();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
    }

    #[test]
    fn an_answer_is_read_by_its_writer_and_sealed_for_the_partner() {
        let ((_da, a), (db, b), j) = couple();
        let body = format!("{SENTINEL} the way you laugh");
        let id = a.answer_prompt(&j, None, "Mine", &body).unwrap();
        let mine = a.get_entry(&id).unwrap();
        assert_eq!((mine.title.as_str(), mine.body.as_str()), ("Mine", &*body));
        assert!(!mine.sealed);
        assert_eq!(mine.kind, EntryKind::PromptAnswer);
        let round = mine.answer_round.clone().unwrap();
        let prompt = a.prompt_of_the_day(&j).unwrap();
        assert!(round.starts_with(&format!("{}.", prompt.id)), "{round}");
        assert_eq!(mine.prompt_id.as_deref(), Some(prompt.id));
        assert_eq!(a.search(SENTINEL, None, 10).unwrap().len(), 1);
        assert!(a.export_markdown(&j).unwrap().contains(SENTINEL));

        b.import_bundle(&a.export_bundle(&j).unwrap()).unwrap();
        let theirs = b.get_entry(&id).unwrap();
        assert!(theirs.sealed);
        assert_eq!((theirs.title.as_str(), theirs.body.as_str()), ("", ""));
        assert_eq!(theirs.answer_round.as_deref(), Some(round.as_str()));
        let listed = b.list_entries(&EntryQuery::default()).unwrap();
        let s = listed.items.iter().find(|s| s.id == id).unwrap();
        assert!(s.sealed && s.title.is_empty() && s.excerpt.is_empty());
        assert!(b.search(SENTINEL, None, 10).unwrap().is_empty());
        assert!(!b.export_json(&j).unwrap().contains(SENTINEL));
        assert!(b.export_markdown(&j).unwrap().contains("Sealed until"));
        b.rebuild_index().unwrap();
        assert!(b.get_entry(&id).unwrap().sealed);
        assert!(!files_hold(db.path(), SENTINEL));

        // The partner can react and reply, not edit; the author edits the sealed text.
        b.react(&id, "💛").unwrap();
        let e = b.set_text(&id, TextField::Body, "mine now").unwrap_err();
        assert_eq!(e.code(), ErrorCode::NotAllowed);
        assert!(e.to_string().contains("sealed until you answer too"));
        a.set_text(&id, TextField::Title, "Still mine").unwrap();
        a.splice_text(&id, TextField::Body, 0, 0, "Oh, ").unwrap();
        let edited = a.get_entry(&id).unwrap();
        assert_eq!(edited.title, "Still mine");
        assert_eq!(edited.body, format!("Oh, {body}"));
        assert_eq!(
            a.list_entries(&EntryQuery::default()).unwrap().items[0].title,
            "Still mine"
        );
        b.import_bundle(&a.export_bundle(&j).unwrap()).unwrap();
        assert!(b.get_entry(&id).unwrap().sealed);
        assert!(!files_hold(db.path(), SENTINEL));
        assert!(!files_hold(db.path(), "Still mine"));

        // Revealed on the writing device: an ordinary entry everywhere.
        assert!(a.reveal_own_answer(&id).unwrap());
        assert!(!a.reveal_own_answer(&id).unwrap(), "once");
        b.import_bundle(&a.export_bundle(&j).unwrap()).unwrap();
        let open = b.get_entry(&id).unwrap();
        assert!(!open.sealed);
        assert_eq!(open.body, format!("Oh, {body}"));
        assert_eq!(b.search(SENTINEL, None, 10).unwrap().len(), 1);
        a.set_text(&id, TextField::Body, "plain now").unwrap();
        assert_eq!(a.get_entry(&id).unwrap().body, "plain now");
    }

    #[test]
    fn a_share_opens_a_partners_answer() {
        let ((_da, a), (_db, b), j) = couple();
        let id = a.answer_prompt(&j, Some("trust-01"), "", SENTINEL).unwrap();
        b.import_bundle(&a.export_bundle(&j).unwrap()).unwrap();
        let round = b.get_entry(&id).unwrap().answer_round.unwrap();
        let (share, registered) = a.answer_share(&j, &round).unwrap().unwrap();
        assert!(!registered);
        // The wrong share opens nothing; Ada's does.
        assert!(!b.open_answer_with(&id, &[AnswerKey::generate()]).unwrap());
        assert!(b.get_entry(&id).unwrap().sealed);
        assert!(
            b.open_answer_with(&id, &[AnswerKey::generate(), share])
                .unwrap()
        );
        let e = b.get_entry(&id).unwrap();
        assert!(!e.sealed);
        assert_eq!(e.body, SENTINEL);
        assert_eq!(b.search(SENTINEL, None, 10).unwrap().len(), 1);
        // Read, but still sealed for edits: only its writer reveals it.
        assert_eq!(
            b.set_text(&id, TextField::Body, "x").unwrap_err().code(),
            ErrorCode::NotAllowed
        );
        assert!(!b.reveal_own_answer(&id).unwrap());
    }

    /// A second answer in the round reuses the round's share; adopting another registered
    /// share rewrites K1 so both answers still open with it.
    #[test]
    fn adopting_a_registered_share_keeps_the_answers_readable() {
        let ((_da, a), (_db, b), j) = couple();
        let one = a.answer_prompt(&j, Some("trust-01"), "", "one").unwrap();
        let two = a.answer_prompt(&j, Some("trust-01"), "", "two").unwrap();
        let round = a.get_entry(&one).unwrap().answer_round.unwrap();
        assert_eq!(a.answer_work().unwrap().unregistered.len(), 1);
        let other = AnswerKey::generate();
        a.adopt_answer_share(&j, &round, &other).unwrap();
        assert_eq!(
            a.answer_share(&j, &round).unwrap(),
            Some((other.clone(), true))
        );
        assert!(a.answer_work().unwrap().unregistered.is_empty());
        b.import_bundle(&a.export_bundle(&j).unwrap()).unwrap();
        for (id, body) in [(one, "one"), (two, "two")] {
            assert!(
                b.open_answer_with(&id, std::slice::from_ref(&other))
                    .unwrap()
            );
            assert_eq!(b.get_entry(&id).unwrap().body, body);
        }
    }

    #[test]
    fn answers_are_refused_outside_a_shared_journal_or_for_an_unknown_prompt() {
        let (_d, a) = home("Ada");
        let personal = a.identity().personal_space;
        let j = a.create_journal("Us").unwrap();
        let code = |r: Result<EntryId>| r.unwrap_err().code();
        assert_eq!(
            code(a.answer_prompt(&personal, None, "", "x")),
            ErrorCode::NotAllowed
        );
        assert_eq!(
            code(a.answer_prompt(&j, Some("nope"), "", "x")),
            ErrorCode::InvalidInput
        );
        assert_eq!(
            code(a.answer_prompt(&j, None, "", "  ")),
            ErrorCode::InvalidInput
        );
        assert_eq!(
            code(a.answer_prompt(&SpaceId::new(), None, "", "x")),
            ErrorCode::NotFound
        );
        let id = a.create_entry(&j, NewEntry::default()).unwrap();
        assert_eq!(
            a.my_sealed_answer(&id).unwrap_err().code(),
            ErrorCode::NotAllowed
        );
    }

    #[test]
    fn splices_apply_by_character() {
        let s = apply_splices("héllo", TextField::Body, &[(1, 1, "e"), (5, 0, "!")]).unwrap();
        assert_eq!(s, "hello!");
        assert!(apply_splices("ab", TextField::Body, &[(3, 0, "x")]).is_err());
        assert!(apply_splices("ab", TextField::Body, &[(1, 2, "")]).is_err());
    }
}
