//! Attaching files to entries, listing and removing them, reading thumbnails (ADR 15).
//! Fetching an original needs the relay and lives in `sync/transfer.rs`.
//!
//! Attaching reads the file twice outside the store's lock (once for its content key,
//! once to seal it into `HOME/attachments/`), then writes the reference, the file's row
//! and the upload in one transaction: once `attach` returns, the attachment is durable
//! here and queued for the relay.

use std::fs::File;
use std::io::{BufReader, BufWriter, Seek};
use std::path::Path;

use rusqlite::Connection;

use super::Duet;
use super::tx::{DocRef, Tx};
use crate::attachments::format::{self, ContentKey};
use crate::attachments::{AttachOptions, Attachment, AttachmentState, files};
use crate::doc::attachments::{self as adoc, AttachmentRef, Object};
use crate::doc::entry as edoc;
use crate::error::{Error, Result};
use crate::ids::{AttachmentId, EntryId, SpaceId};
use crate::model::EntryEventKind;
use crate::store::attachments::{self as sa, Hash, Upload};

/// Longest attachment name, in characters.
pub const MAX_ATTACHMENT_NAME_CHARS: usize = 255;
/// Longest media type.
pub const MAX_MIME_CHARS: usize = 127;
/// Buffered reads and writes while sealing: a few segments at a time.
const IO_BUFFER: usize = 256 * 1024;

impl Duet {
    /// Attach the file at `file` to an entry: sealed into this device's store at once and
    /// queued for the relay; the thumbnail, if given, syncs with the entry, the original
    /// when a device asks for it.
    pub fn attach(
        &self,
        entry: &EntryId,
        file: impl AsRef<Path>,
        opts: AttachOptions,
    ) -> Result<Attachment> {
        let path = file.as_ref();
        let name = match &opts.name {
            Some(n) => n.trim().to_string(),
            None => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        if name.is_empty() {
            return Err(Error::invalid("name", "must not be empty"));
        }
        crate::limits::check_len("name", &name, MAX_ATTACHMENT_NAME_CHARS)?;
        let mime = match &opts.mime {
            Some(m) => m.trim().to_ascii_lowercase(),
            // The file's own extension first: a display name need not have one.
            None => match guess_mime(&path.file_name().unwrap_or_default().to_string_lossy()) {
                "application/octet-stream" => guess_mime(&name),
                m => m,
            }
            .to_string(),
        };
        if mime.is_empty() || mime.len() > MAX_MIME_CHARS || !mime.contains('/') {
            return Err(Error::invalid(
                "mime",
                "expected a media type such as image/jpeg",
            ));
        }
        if let Some(t) = &opts.thumbnail
            && t.len() > duet_proto::limits::MAX_THUMBNAIL_BYTES
        {
            return Err(Error::invalid(
                "thumbnail",
                format!("at most {} bytes", duet_proto::limits::MAX_THUMBNAIL_BYTES),
            ));
        }
        let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
        if !meta.is_file() {
            return Err(Error::invalid("file", "not a regular file"));
        }
        self.check_attachment_size(meta.len())?;

        let (space, secret) = self.read(|tx| {
            let d = attachable(tx, entry)?;
            let (_, key) = tx.key(&d.space)?;
            Ok((d.space, format::space_secret(&key)))
        })?;
        let home = self.home().to_path_buf();
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let (key, size) =
            format::content_key(&secret, &mut BufReader::with_capacity(IO_BUFFER, &f))
                .map_err(|e| Error::io(path, e))?;
        self.check_attachment_size(size)?;
        f.rewind().map_err(|e| Error::io(path, e))?;
        let original = seal_file(&home, &key, size, f)?;
        let thumb = match &opts.thumbnail {
            Some(t) => Some(seal_bytes(&home, &secret, t)?),
            None => None,
        };

        let id = AttachmentId::new();
        let r = AttachmentRef {
            id,
            name,
            mime,
            original,
            key: key.key,
            thumb: thumb.as_ref().map(|(o, _)| *o),
            thumb_key: thumb.as_ref().map(|(_, k)| k.key),
            width: opts.width,
            height: opts.height,
            added_at: self.now(),
            added_by: self.identity().member,
        };
        let reference = reference_of(&r);
        let view = self.write(|tx| {
            let d = attachable(tx, entry)?;
            if d.space != space {
                return Err(Error::Internal("the entry changed journals".into()));
            }
            tx.change(d, |doc| adoc::put(doc, &r))?;
            let now = tx.now;
            tx.reindex(d.rowid, entry, &d.space, now, false)?;
            tx.local_event(EntryEventKind::Changed, *entry, d.space);
            let objects = std::iter::once((r.original, false)).chain(r.thumb.map(|t| (t, true)));
            for (o, is_thumb) in objects {
                sa::keep_file(&tx.sql, &o.hash, o.sealed, is_thumb, now)?;
                sa::queue_upload(
                    &tx.sql,
                    &Upload {
                        space: d.space,
                        hash: o.hash,
                        reference,
                        size: o.sealed,
                        attachment: id,
                    },
                    now,
                )?;
            }
            view(&tx.sql, *entry, &r, false)
        })?;
        self.evict_over_budget()?;
        tracing::debug!(sealed = r.original.sealed, "attached a file");
        Ok(view)
    }

    /// An entry's attachments, oldest first.
    pub fn attachments(&self, entry: &EntryId) -> Result<Vec<Attachment>> {
        let downloading = self.downloading();
        self.read(|tx| {
            let d = tx.entry_ref(entry)?;
            let refs = adoc::list(tx.doc(d.rowid)?);
            refs.iter()
                .map(|r| view(&tx.sql, *entry, r, downloading.contains(&r.id)))
                .collect()
        })
    }

    /// One attachment.
    pub fn attachment(&self, id: &AttachmentId) -> Result<Attachment> {
        let (entry, _, r) = self.attachment_ref(id)?;
        let downloading = self.downloading().contains(id);
        self.read(|tx| view(&tx.sql, entry, &r, downloading))
    }

    /// An attachment's thumbnail: `None` when it has none, or it hasn't arrived yet (it
    /// comes with the next sync).
    pub fn thumbnail(&self, id: &AttachmentId) -> Result<Option<Vec<u8>>> {
        let (_, _, r) = self.attachment_ref(id)?;
        let (Some(t), Some(k)) = (r.thumb, r.thumb_key) else {
            return Ok(None);
        };
        let p = files::path(self.home(), &t.hash);
        let Ok(f) = File::open(&p) else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(t.size as usize);
        format::open(
            &ContentKey::from_bytes(&k)?,
            t.size,
            &t.hash,
            &mut BufReader::new(f),
            &mut out,
        )?;
        Ok(Some(out))
    }

    /// Remove an attachment from its entry. Its bytes at the relay are freed once no entry
    /// of the journal refers to them (the partner may have added the same file).
    pub fn remove_attachment(&self, id: &AttachmentId) -> Result<()> {
        self.write(|tx| {
            let (d, entry) = doc_of(tx, id)?;
            if edoc::deleted_at(tx.doc(d.rowid)?).is_some() {
                return Err(Error::NotAllowed(
                    "the entry is in the trash; restore it to edit".into(),
                ));
            }
            let r = adoc::list(tx.doc(d.rowid)?)
                .into_iter()
                .find(|a| a.id == *id)
                .ok_or_else(|| Error::not_found("attachment", id))?;
            tx.change(d, |doc| adoc::remove(doc, id).map(|_| ()))?;
            let now = tx.now;
            tx.reindex(d.rowid, &entry, &d.space, now, false)?;
            tx.local_event(EntryEventKind::Changed, entry, d.space);
            sa::cancel_uploads(&tx.sql, id)?;
            let reference = reference_of(&r);
            for o in std::iter::once(r.original).chain(r.thumb) {
                sa::queue_release(&tx.sql, (&d.space, &o.hash, &reference))?;
            }
            Ok(())
        })?;
        self.drop_unreferenced_files()
    }

    /// The attachment an id or a unique prefix of at least 4 characters names.
    pub fn resolve_attachment(&self, prefix: &str) -> Result<AttachmentId> {
        super::entries::resolve_prefix("attachment", prefix, |p| {
            let ids = sa::all_ids(&self.lock().conn)?;
            Ok(ids
                .iter()
                .map(ToString::to_string)
                .filter(|id| id.starts_with(p))
                .collect())
        })
    }

    /// The entry, space and reference of an attachment.
    pub(crate) fn attachment_ref(
        &self,
        id: &AttachmentId,
    ) -> Result<(EntryId, SpaceId, AttachmentRef)> {
        self.read(|tx| {
            let (d, entry) = doc_of(tx, id)?;
            let r = adoc::list(tx.doc(d.rowid)?)
                .into_iter()
                .find(|a| a.id == *id)
                .ok_or_else(|| Error::not_found("attachment", id))?;
            Ok((entry, d.space, r))
        })
    }

    fn check_attachment_size(&self, size: u64) -> Result<()> {
        let max = self.max_attachment_bytes();
        if size > max {
            return Err(Error::TooLarge(format!(
                "the file has {size} bytes; attachments are at most {max}"
            )));
        }
        Ok(())
    }

    /// Evict originals, least recently used first, past the cache's budget (never one
    /// still waiting to upload; thumbnails are kept).
    pub(crate) fn evict_over_budget(&self) -> Result<()> {
        let budget = self.attachment_cache_bytes();
        self.forget_files(|conn| sa::over_budget(conn, budget))
    }

    /// Delete sealed files no entry here refers to any more.
    pub(crate) fn drop_unreferenced_files(&self) -> Result<()> {
        self.forget_files(sa::unreferenced_files)
    }

    /// Forget the sealed files `pick` names in one transaction, then delete them: after the
    /// commit, so a transaction that fails leaves every row with its file.
    fn forget_files(&self, pick: impl FnOnce(&Connection) -> Result<Vec<Hash>>) -> Result<()> {
        let gone = self.write(|tx| {
            let hashes = pick(&tx.sql)?;
            for h in &hashes {
                sa::forget_file(&tx.sql, h)?;
            }
            Ok(hashes)
        })?;
        for h in &gone {
            files::remove(self.home(), h);
        }
        Ok(())
    }
}

/// Give a new entry (a shared draft) these attachments: the same sealed files under new
/// ids, queued for the entry's space at the relay (the draft's copies sit in the personal
/// space, which the partner can't read). Files this device no longer holds can't go.
pub(crate) fn copy_into(tx: &mut Tx<'_>, refs: &[AttachmentRef], entry: &EntryId) -> Result<()> {
    if refs.is_empty() {
        return Ok(());
    }
    let d = tx.entry_ref(entry)?;
    let copies: Vec<AttachmentRef> = refs
        .iter()
        .map(|r| AttachmentRef {
            id: AttachmentId::new(),
            ..r.clone()
        })
        .collect();
    tx.change(d, |doc| copies.iter().try_for_each(|c| adoc::put(doc, c)))?;
    let now = tx.now;
    tx.reindex(d.rowid, entry, &d.space, now, false)?;
    for c in &copies {
        let reference = reference_of(c);
        for o in std::iter::once(c.original).chain(c.thumb) {
            if sa::file(&tx.sql, &o.hash)?.is_some() {
                let upload = Upload {
                    space: d.space,
                    hash: o.hash,
                    reference,
                    size: o.sealed,
                    attachment: c.id,
                };
                sa::queue_upload(&tx.sql, &upload, now)?;
            }
        }
    }
    Ok(())
}

/// The reference the relay keeps for an attachment: opaque to it (a keyed hash of the
/// attachment's id), the same on every device that holds the entry.
pub(crate) fn reference_of(r: &AttachmentRef) -> [u8; 16] {
    let h = blake3::keyed_hash(&r.key, r.id.as_bytes());
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.as_bytes()[..16]);
    out
}

/// An entry a file may be attached to: live, and not a sealed answer (its attachments
/// would show before its words).
fn attachable(tx: &mut Tx<'_>, entry: &EntryId) -> Result<DocRef> {
    let d = tx.entry_ref(entry)?;
    let doc = tx.doc(d.rowid)?;
    if edoc::deleted_at(doc).is_some() {
        return Err(Error::NotAllowed(
            "the entry is in the trash; restore it to edit".into(),
        ));
    }
    if edoc::sealed(doc).is_some_and(|s| !s.revealed) {
        return Err(Error::NotAllowed(
            "a sealed prompt answer takes attachments once it is revealed".into(),
        ));
    }
    Ok(d)
}

fn doc_of(tx: &mut Tx<'_>, id: &AttachmentId) -> Result<(DocRef, EntryId)> {
    let rowid = sa::doc_of(&tx.sql, id)?.ok_or_else(|| Error::not_found("attachment", id))?;
    let (doc_id, _) =
        crate::store::doc_at(&tx.sql, rowid)?.ok_or_else(|| Error::not_found("attachment", id))?;
    let entry = EntryId(doc_id);
    Ok((tx.entry_ref(&entry)?, entry))
}

/// What an app sees of an attachment.
pub(crate) fn view(
    sql: &rusqlite::Connection,
    entry: EntryId,
    r: &AttachmentRef,
    downloading: bool,
) -> Result<Attachment> {
    let state = if sa::file(sql, &r.original.hash)?.is_some() {
        AttachmentState::Local
    } else if downloading {
        AttachmentState::Downloading
    } else {
        AttachmentState::RemoteOnly
    };
    Ok(Attachment {
        id: r.id,
        entry,
        name: r.name.clone(),
        mime: r.mime.clone(),
        size: r.original.size,
        width: r.width,
        height: r.height,
        has_thumbnail: r.thumb.is_some(),
        state,
        uploading: sa::uploading(sql, &r.id)?,
        added_at: r.added_at,
        added_by: r.added_by,
    })
}

/// Seal a file into this device's store; its object.
fn seal_file(home: &Path, key: &ContentKey, size: u64, f: File) -> Result<Object> {
    let (out, tmp) = files::temp(home)?;
    let mut w = BufWriter::with_capacity(IO_BUFFER, out);
    let sealed = format::seal(
        key,
        size,
        &mut BufReader::with_capacity(IO_BUFFER, f),
        &mut w,
    );
    let sealed = match sealed {
        Ok(s) => s,
        Err(e) => {
            drop(w);
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let out = w
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    if files::exists(home, &sealed.hash) {
        // The same file is attached already: one copy.
        drop(out);
        let _ = std::fs::remove_file(&tmp);
    } else {
        files::install(home, out, &tmp, &sealed.hash)?;
    }
    Ok(Object {
        hash: sealed.hash,
        sealed: sealed.len,
        size,
    })
}

/// Seal small bytes (a thumbnail) with their own content key.
fn seal_bytes(home: &Path, secret: &[u8; 32], bytes: &[u8]) -> Result<(Object, ContentKey)> {
    let (key, size) = format::content_key(secret, &mut &bytes[..])
        .map_err(|e| Error::Internal(format!("hashing a thumbnail: {e}")))?;
    let mut out = Vec::with_capacity(format::sealed_len(size) as usize);
    let sealed = format::seal(&key, size, &mut &bytes[..], &mut out)?;
    if !files::exists(home, &sealed.hash) {
        files::write(home, &sealed.hash, &out)?;
    }
    Ok((
        Object {
            hash: sealed.hash,
            sealed: sealed.len,
            size,
        },
        key,
    ))
}

/// A media type from a file name's extension, for the common kinds a journal holds.
fn guess_mime(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "pdf" => "application/pdf",
        "txt" | "md" => "text/plain",
        _ => "application/octet-stream",
    }
}
