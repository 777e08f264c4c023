//! One write: an SQLite transaction plus the documents it touches. Changes are made to the
//! cached Automerge documents and to the store together; if anything fails, the store rolls
//! back and every touched document is evicted, so memory never runs ahead of disk.

use std::collections::HashMap;

use automerge::AutoCommit;
use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::cache::{CachedDoc, DocCache};
use crate::blob::DocKind;
use crate::clock::Millis;
use crate::crypto::{self, Epoch, KeyStore, SpaceKey};
use crate::doc;
use crate::error::{Error, Result};
use crate::ids::{EntryId, MemberId, SpaceId};
use crate::model::{Entry, EntryEvent, EntryEventKind, Identity, Origin, SpaceKind};
use crate::store::{self, answers, index};

/// Compact a document once its chunks outgrow its snapshot (and at least this much), so
/// loading stays proportional to the document while typing stays cheap.
const COMPACT_MIN_BYTES: usize = 32 * 1024;
const COMPACT_MAX_CHUNKS: u32 = 4096;

/// Where a document lives.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DocRef {
    pub rowid: i64,
    pub id: uuid::Uuid,
    pub space: SpaceId,
    pub kind: DocKind,
}

pub(crate) struct Tx<'a> {
    pub sql: Transaction<'a>,
    cache: &'a mut DocCache,
    pub me: &'a Identity,
    keys: Option<&'a dyn KeyStore>,
    pub now: Millis,
    events: Vec<EntryEvent>,
    touched: Vec<i64>,
    key_cache: HashMap<(SpaceId, Epoch), SpaceKey>,
    meta_changed: bool,
}

impl<'a> Tx<'a> {
    /// Begin an immediate (write-locked) transaction. When another connection has written
    /// since we last looked, cached documents are stale and are dropped.
    pub(crate) fn begin(
        conn: &'a mut Connection,
        cache: &'a mut DocCache,
        me: &'a Identity,
        keys: Option<&'a dyn KeyStore>,
        now: Millis,
        data_version: Option<&mut i64>,
    ) -> Result<Tx<'a>> {
        let sql = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let Some(dv) = data_version {
            let v = store::data_version(&sql)?;
            if v != *dv {
                cache.clear();
                *dv = v;
            }
        }
        Ok(Tx {
            sql,
            cache,
            me,
            keys,
            now,
            events: Vec::new(),
            touched: Vec::new(),
            key_cache: HashMap::new(),
            meta_changed: false,
        })
    }

    /// Commit; returns the events to announce and whether any meta document changed.
    pub(crate) fn commit(self) -> Result<(Vec<EntryEvent>, bool)> {
        let Tx {
            sql,
            cache,
            touched,
            events,
            meta_changed,
            ..
        } = self;
        if let Err(e) = sql.commit() {
            for r in touched {
                cache.evict(r);
            }
            return Err(e.into());
        }
        Ok((events, meta_changed))
    }

    /// Roll back and forget every document this transaction touched.
    pub(crate) fn abort(self) {
        for r in &self.touched {
            self.cache.evict(*r);
        }
        // Dropping `sql` rolls back.
    }

    /// The current key of a space and its epoch.
    pub(crate) fn key(&mut self, space: &SpaceId) -> Result<(Epoch, SpaceKey)> {
        let epoch = store::key_epoch(&self.sql, space)?;
        let key = self.key_at(space, epoch)?.ok_or_else(|| {
            Error::Internal(format!("no key held for space {space} epoch {epoch}"))
        })?;
        Ok((epoch, key))
    }

    /// The key of one epoch of a space, if we hold it.
    pub(crate) fn key_at(&mut self, space: &SpaceId, epoch: Epoch) -> Result<Option<SpaceKey>> {
        if let Some(k) = self.key_cache.get(&(*space, epoch)) {
            return Ok(Some(k.clone()));
        }
        let k = match self.keys {
            Some(ks) => ks.get(space, epoch)?,
            None => store::get_key(&self.sql, space, epoch)?,
        };
        if let Some(k) = &k {
            self.key_cache.insert((*space, epoch), k.clone());
        }
        Ok(k)
    }

    /// Keep a key; when its epoch is newer than the space's, new blobs use it.
    pub(crate) fn put_key(&mut self, space: &SpaceId, epoch: Epoch, key: &SpaceKey) -> Result<()> {
        match self.keys {
            Some(ks) => ks.put(space, epoch, key)?,
            None => store::put_key(&self.sql, space, epoch, key)?,
        }
        store::set_key_epoch(&self.sql, space, epoch)?;
        self.key_cache.insert((*space, epoch), key.clone());
        Ok(())
    }

    /// A new space with its meta document, this person as its first member.
    pub(crate) fn create_space(
        &mut self,
        id: SpaceId,
        kind: SpaceKind,
        title: &str,
        key: SpaceKey,
    ) -> Result<()> {
        store::upsert_space(
            &self.sql,
            &store::SpaceRow {
                id,
                kind,
                title: title.to_string(),
                created_at: self.now,
            },
        )?;
        self.put_key(&id, 1, &key)?;
        let rowid = store::insert_doc(&self.sql, &id.0, &id, DocKind::Meta.as_str())?;
        let d = DocRef {
            rowid,
            id: id.0,
            space: id,
            kind: DocKind::Meta,
        };
        let (now, me) = (self.now, self.me.clone());
        self.change(d, |doc| {
            doc::meta::create(doc, kind, title, now)?;
            doc::meta::add_member(doc, &me.member, &me.name, &me.device)?;
            Ok(())
        })?;
        Ok(())
    }

    /// Note that this transaction changes the document at `rowid` (so a rollback evicts it).
    pub(crate) fn touch(&mut self, rowid: i64) {
        self.touched.push(rowid);
    }

    /// Drop every cached document (after a failed apply left one in an unknown state);
    /// they reload from this transaction's view of the store.
    pub(crate) fn forget_cached_docs(&mut self) {
        self.cache.clear();
    }

    /// A meta document changed: cached device → member maps are stale.
    pub(crate) fn mark_meta_changed(&mut self) {
        self.meta_changed = true;
    }

    /// The document at `rowid`, loaded into the cache if needed.
    pub(crate) fn doc(&mut self, rowid: i64) -> Result<&mut AutoCommit> {
        Ok(&mut self.cached(rowid)?.doc)
    }

    fn cached(&mut self, rowid: i64) -> Result<&mut CachedDoc> {
        if !self.cache.contains(rowid) {
            let (snapshot, chunks) = store::doc_bytes(&self.sql, rowid)?;
            let doc = doc::load_doc(
                &self.me.device,
                snapshot.as_deref(),
                chunks.iter().map(Vec::as_slice),
            )?;
            self.cache.insert(
                rowid,
                CachedDoc {
                    doc,
                    chunks: chunks.len() as u32,
                    chunk_bytes: chunks.iter().map(Vec::len).sum(),
                    snapshot_bytes: snapshot.map(|s| s.len()).unwrap_or(0),
                },
            );
        }
        self.cache
            .get_mut(rowid)
            .ok_or_else(|| Error::Internal("document cache lost an entry".into()))
    }

    /// Make a local change to a document: edit it, commit the Automerge change, store the
    /// change chunk and queue it in the outbox (sealed when pushed). Returns `None` in place of
    /// "changed" when the edit turned out to change nothing (then nothing is written).
    pub(crate) fn change<R>(
        &mut self,
        d: DocRef,
        edit: impl FnOnce(&mut AutoCommit) -> Result<R>,
    ) -> Result<(R, bool)> {
        self.touched.push(d.rowid);
        let now = self.now;
        let cached = self.cached(d.rowid)?;
        // The chunk to store is "everything after the heads we started from": cheaper
        // than save_incremental, whose cursor a freshly loaded document doesn't have.
        let heads = cached.doc.get_heads();
        let r = edit(&mut cached.doc)?;
        if doc::commit(&mut cached.doc, now).is_none() {
            return Ok((r, false));
        }
        // A new document's first change is stored and sent as a whole document: a reader
        // loads that form in less than half the time it takes to apply the same change
        // (every reader since the first takes either form). Uncompressed, as change chunks
        // are: about their size, and a journal snapshot's deflate then finds the text.
        let chunk = if heads.is_empty() {
            cached.doc.save_nocompress()
        } else {
            cached.doc.save_after(&heads)
        };
        self.store_chunk(d, chunk, true)?;
        if d.kind == DocKind::Meta {
            self.meta_changed = true;
        }
        Ok((r, true))
    }

    /// Persist one chunk for a document (and queue it for the relay when it is ours),
    /// compacting when the chunks have outgrown the snapshot.
    pub(crate) fn store_chunk(&mut self, d: DocRef, chunk: Vec<u8>, to_outbox: bool) -> Result<()> {
        store::append_chunk(&self.sql, d.rowid, &chunk)?;
        if to_outbox {
            // Queued in the clear and sealed when pushed, under the key epoch of that moment.
            store::enqueue(
                &self.sql,
                &d.space,
                &d.id,
                d.kind.as_str(),
                &chunk,
                self.now,
            )?;
        }
        let cached = self.cached(d.rowid)?;
        cached.chunks += 1;
        cached.chunk_bytes += chunk.len();
        if cached.chunk_bytes > cached.snapshot_bytes.max(COMPACT_MIN_BYTES)
            || cached.chunks > COMPACT_MAX_CHUNKS
        {
            self.compact(d.rowid)?;
        }
        Ok(())
    }

    /// Fold a document's chunks into one snapshot, in this transaction.
    pub(crate) fn compact(&mut self, rowid: i64) -> Result<()> {
        self.touched.push(rowid);
        let cached = self.cached(rowid)?;
        // `save` keeps changes still waiting for their dependencies (retain_orphans), so
        // compaction never drops anything.
        let snapshot = cached.doc.save();
        cached.chunks = 0;
        cached.chunk_bytes = 0;
        cached.snapshot_bytes = snapshot.len();
        store::compact(&self.sql, rowid, &snapshot)
    }

    /// Recompute an entry's index row from its document. `fts_now` also rewrites its
    /// full-text row; otherwise that row is marked stale and refreshed before a search.
    pub(crate) fn reindex(
        &mut self,
        rowid: i64,
        id: &EntryId,
        space: &SpaceId,
        updated_at: Millis,
        fts_now: bool,
    ) -> Result<()> {
        let doc = self.doc(rowid)?;
        let mut fields = doc::entry::index_fields(doc)?;
        let attachments: Vec<_> = doc::attachments::list(doc)
            .iter()
            .map(|a| (a.id, a.original.hash, a.thumb.map(|t| t.hash)))
            .collect();
        let mut fts = fts_now.then(|| doc::entry::fts_text(doc));
        crate::store::attachments::set_for_doc(&self.sql, rowid, &attachments)?;
        // An unrevealed sealed answer is indexed with its text only where it can be read
        // (its author's devices, or once a share opened it); elsewhere with none.
        let mut answer_state = 0;
        if fields.sealed_round.is_some() {
            answer_state = answers::SEALED_HERE;
            if let Some((title, body)) = self.answer_text(rowid)? {
                answer_state = answers::OPEN_HERE;
                fields.excerpt = doc::entry::excerpt_of(&body);
                if let Some(f) = &mut fts {
                    (f.0, f.1) = (title.clone(), body);
                }
                fields.title = title;
            }
        }
        index::upsert(
            &self.sql,
            rowid,
            id,
            space,
            &fields,
            updated_at,
            answer_state,
        )?;
        match fts {
            Some((t, b, x)) => index::set_fts(&self.sql, rowid, &t, &b, &x),
            None => index::touch(&self.sql, rowid, updated_at, None, None),
        }
    }

    /// Bring stale full-text rows up to date (before a search).
    pub(crate) fn refresh_fts(&mut self) -> Result<()> {
        for rowid in index::fts_dirty(&self.sql)? {
            let (mut t, mut b, x) = doc::entry::fts_text(self.doc(rowid)?);
            if let Some(open) = self.answer_text(rowid)? {
                (t, b) = open;
            }
            index::set_fts(&self.sql, rowid, &t, &b, &x)?;
        }
        Ok(())
    }

    /// The (title, body) of the unrevealed sealed answer at `rowid`, when this device holds
    /// its key; `None` for any other entry, or one this device can't read.
    pub(crate) fn answer_text(&mut self, rowid: i64) -> Result<Option<(String, String)>> {
        let Some(sealed) = doc::entry::sealed(self.doc(rowid)?).filter(|s| !s.revealed) else {
            return Ok(None);
        };
        let Some((doc_id, space)) = store::doc_at(&self.sql, rowid)? else {
            return Ok(None);
        };
        open_with_held_key(&self.sql, &sealed, &EntryId(doc_id), &space)
    }

    /// An entry read in full, a sealed answer opened when this device holds its key.
    pub(crate) fn read_entry(
        &mut self,
        rowid: i64,
        id: EntryId,
        space: SpaceId,
        updated_at: Millis,
    ) -> Result<Entry> {
        let mut e = doc::entry::read(self.doc(rowid)?, id, space, updated_at)?;
        if e.sealed
            && let Some((title, body)) = self.answer_text(rowid)?
        {
            (e.title, e.body, e.sealed) = (title, body, false);
        }
        Ok(e)
    }

    pub(crate) fn event(
        &mut self,
        kind: EntryEventKind,
        entry: EntryId,
        journal: SpaceId,
        by: Option<MemberId>,
        origin: Origin,
    ) {
        self.events.push(EntryEvent {
            kind,
            entry,
            journal,
            by,
            origin,
        });
    }

    pub(crate) fn local_event(&mut self, kind: EntryEventKind, entry: EntryId, journal: SpaceId) {
        let me = self.me.member;
        self.event(kind, entry, journal, Some(me), Origin::Local);
    }

    /// The meta document of a space.
    pub(crate) fn meta_ref(&self, space: &SpaceId) -> Result<DocRef> {
        let row = store::doc_row(&self.sql, &space.0)?
            .ok_or_else(|| Error::not_found("journal", space))?;
        Ok(DocRef {
            rowid: row.rowid,
            id: space.0,
            space: *space,
            kind: DocKind::Meta,
        })
    }

    /// Where an entry's document lives.
    pub(crate) fn entry_ref(&self, id: &EntryId) -> Result<DocRef> {
        let row = index::entry_row(&self.sql, id)?.ok_or_else(|| Error::not_found("entry", id))?;
        Ok(DocRef {
            rowid: row.rowid,
            id: id.0,
            space: row.space,
            kind: DocKind::Entry,
        })
    }
}

/// Open an unrevealed sealed answer with the key this device holds for it, if any.
pub(crate) fn open_with_held_key(
    conn: &rusqlite::Connection,
    sealed: &doc::entry::Sealed,
    entry: &EntryId,
    space: &SpaceId,
) -> Result<Option<(String, String)>> {
    let Some((key, _)) = answers::key(conn, entry)? else {
        return Ok(None);
    };
    match crypto::open_answer(&key, space, entry, &sealed.text) {
        Ok(text) => Ok(Some(text)),
        Err(e) => {
            // Shown sealed rather than failing every read of the journal.
            tracing::warn!(%entry, code = %e.code(), "a sealed answer did not open with its key");
            Ok(None)
        }
    }
}
