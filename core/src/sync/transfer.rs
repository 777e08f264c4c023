//! Moving attachments' sealed bytes (ADR 15): uploads queued by `attach` (thumbnails before
//! the entry's changes go out, originals after), references released by a removal,
//! thumbnails fetched eagerly after a pull, originals fetched when asked for.
//!
//! Uploads go in chunks of [`CHUNK`] at the offset the relay says it holds, so one cut
//! off mid-way goes on from the last byte the relay kept — after a dropped connection,
//! or a process killed and started again. Downloads are ranges appended to a `.part`
//! file that survives a restart. Nothing sealed is trusted until it opens: a download
//! becomes this device's copy only once every segment opened and its hash matched.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use duet_proto::attachments::to_hex;
use duet_proto::{AttachmentInfo, ErrorCode as RelayCode, UploadStatus};
use reqwest::Method;
use uuid::Uuid;

use super::client::{RelayClient, without_url};
use crate::attachments::format::{self, ContentKey};
use crate::attachments::{TransferDirection, TransferProgress, files};
use crate::doc::attachments::Object;
use crate::engine::Duet;
use crate::error::{Error, Result};
use crate::ids::{AttachmentId, SpaceId};
use crate::state::SyncReport;
use crate::store::attachments::{self as sa, Upload};

/// Sealed bytes per upload request or download range: 64 segments.
const CHUNK: u64 = 4 * 1024 * 1024;

impl Duet {
    /// Send queued uploads no larger than `max_size` (all of them with `u64::MAX`), then
    /// release removed attachments' references.
    pub(super) async fn send_attachments(
        &self,
        c: &RelayClient,
        max_size: u64,
        report: &mut SyncReport,
    ) -> Result<()> {
        let uploads = sa::uploads(&self.lock().conn)?;
        // One refused upload (a full quota, a journal left) doesn't hold back the others;
        // the first refusal is the sync's answer once the rest went.
        let mut refused = None;
        for u in uploads.into_iter().filter(|u| u.size <= max_size) {
            match self.upload(c, &u, report).await {
                Ok(()) => {
                    sa::uploaded(&self.lock().conn, (&u.space, &u.hash, &u.reference))?;
                    report.attachments_sent += 1;
                }
                Err(e @ (Error::Offline(_) | Error::Io { .. } | Error::Storage(_))) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "an attachment upload was refused");
                    refused.get_or_insert(e);
                }
            }
        }
        let releases = sa::releases(&self.lock().conn)?;
        for (space, hash, reference) in releases {
            c.release_ref(space.0, &hash, &reference).await?;
            sa::released(&self.lock().conn, (&space, &hash, &reference))?;
        }
        refused.map_or(Ok(()), Err)
    }

    /// One upload: a reference to what the relay holds already (the partner's copy of the
    /// same photo), or the bytes from where the relay stopped.
    async fn upload(&self, c: &RelayClient, u: &Upload, report: &mut SyncReport) -> Result<()> {
        if c.put_ref(u.space.0, &u.hash, &u.reference).await?.is_some() {
            return Ok(());
        }
        let path = files::path(self.home(), &u.hash);
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::warn!("an attachment waiting to upload is gone from this device");
                return Ok(());
            }
            Err(e) => return Err(Error::io(&path, e)),
        };
        let mut offset = match c.upload_status(u.space.0, &u.hash).await? {
            Some(s) if s.complete => {
                c.put_ref(u.space.0, &u.hash, &u.reference).await?;
                return Ok(());
            }
            Some(s) if s.size == u.size => s.received,
            _ => 0,
        };
        let mut buf = Vec::new();
        while offset < u.size {
            let len = CHUNK.min(u.size - offset);
            buf.resize(len as usize, 0);
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_exact(&mut buf))
                .map_err(|e| Error::io(&path, e))?;
            let sent = c
                .upload_chunk(u.space.0, &u.hash, &u.reference, offset, u.size, &buf)
                .await;
            let status = match sent {
                Ok(s) => {
                    report.attachment_bytes_sent += len;
                    s
                }
                // Another device of mine (or an earlier run) got further: go on from there.
                Err(Error::RelayRefused { code, .. })
                    if code == RelayCode::OffsetMismatch.as_str() =>
                {
                    c.upload_status(u.space.0, &u.hash)
                        .await?
                        .ok_or_else(|| Error::Internal("the upload vanished at the relay".into()))?
                }
                Err(e) => return Err(e),
            };
            offset = status.received;
            self.emit_transfer(&TransferProgress {
                attachment: u.attachment,
                direction: TransferDirection::Upload,
                done: offset,
                total: u.size,
            });
            if status.complete {
                break;
            }
        }
        Ok(())
    }

    /// Fetch the thumbnails entries refer to that this device lacks (one not uploaded yet
    /// is tried again at the next sync).
    pub(super) async fn fetch_thumbnails(&self, c: &RelayClient) -> Result<()> {
        let missing = sa::missing_thumbnails(&self.lock().conn)?;
        for id in missing {
            let Ok((_, space, r)) = self.attachment_ref(&id) else {
                continue;
            };
            let (Some(t), Some(k)) = (r.thumb, r.thumb_key) else {
                continue;
            };
            let Some(sealed) = c.download_all(space.0, &t.hash, t.sealed).await? else {
                continue;
            };
            // Opened before it is kept: a damaged thumbnail is never shown.
            let opened = format::open(
                &ContentKey::from_bytes(&k)?,
                t.size,
                &t.hash,
                &mut &sealed[..],
                &mut std::io::sink(),
            );
            if let Err(e) = opened {
                tracing::warn!(error = %e, "a thumbnail from the relay does not open");
                continue;
            }
            files::write(self.home(), &t.hash, &sealed)?;
            sa::keep_file(&self.lock().conn, &t.hash, t.sealed, true, self.now())?;
        }
        Ok(())
    }

    /// Write an attachment's original to `dest`: from this device's copy, or downloaded
    /// from the relay (resuming a download cut off before). Progress goes to transfer
    /// listeners. The file appears at `dest` only whole and checked; damaged bytes give
    /// `corrupt_data` and leave nothing there.
    pub async fn fetch_attachment(&self, id: &AttachmentId, dest: impl AsRef<Path>) -> Result<()> {
        let dest = dest.as_ref().to_path_buf();
        let (_, space, r) = self.attachment_ref(id)?;
        let o = r.original;
        let key = ContentKey::from_bytes(&r.key)?;
        let held =
            sa::file(&self.lock().conn, &o.hash)?.is_some() && files::exists(self.home(), &o.hash);
        if held {
            sa::touch_file(&self.lock().conn, &o.hash, self.now())?;
            let cached = files::path(self.home(), &o.hash);
            let opened = open_to(&cached, key, o, &dest).await;
            if let Err(Error::CorruptData(_)) = &opened {
                // Damaged on this device: forget it, so the next fetch downloads it again.
                sa::forget_file(&self.lock().conn, &o.hash)?;
                files::remove(self.home(), &o.hash);
            }
            return opened;
        }
        // A destination that can't take the file is refused before anything is downloaded.
        temp_beside(&dest)?;
        let _downloading = self.start_download(*id);
        self.register().await?;
        let c = self.relay_client()?;
        let part = files::partial(self.home(), &o.hash)?;
        c.download_to(space, &o.hash, o.sealed, &part, |done| {
            self.emit_transfer(&TransferProgress {
                attachment: *id,
                direction: TransferDirection::Download,
                done,
                total: o.sealed,
            })
        })
        .await?;
        if let Err(e) = open_to(&part, key, o, &dest).await {
            // Only damaged bytes are thrown away; a download that opened fine but could not
            // be written out stays, for the next fetch.
            if matches!(e, Error::CorruptData(_)) {
                let _ = fs::remove_file(&part);
            }
            return Err(e);
        }
        let f = File::open(&part).map_err(|e| Error::io(&part, e))?;
        files::install(self.home(), f, &part, &o.hash)?;
        sa::keep_file(&self.lock().conn, &o.hash, o.sealed, false, self.now())?;
        self.evict_over_budget()
    }
}

/// Open the sealed file at `sealed` into `dest` (through a temporary file beside it, off
/// the async threads).
async fn open_to(sealed: &Path, key: ContentKey, o: Object, dest: &Path) -> Result<()> {
    let sealed = sealed.to_path_buf();
    let dest = dest.to_path_buf();
    tokio::task::spawn_blocking(move || open_file(&sealed, &key, o, &dest))
        .await
        .map_err(|e| Error::Internal(format!("opening an attachment: {e}")))?
}

fn open_file(sealed: &Path, key: &ContentKey, o: Object, dest: &Path) -> Result<()> {
    let input = File::open(sealed).map_err(|e| Error::io(sealed, e))?;
    let tmp = temp_beside(dest)?;
    let out = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut w = BufWriter::with_capacity(256 * 1024, out);
    let opened = format::open(
        key,
        o.size,
        &o.hash,
        &mut BufReader::with_capacity(256 * 1024, input),
        &mut w,
    )
    .and_then(|()| {
        let f = w
            .into_inner()
            .map_err(|e| Error::io(&tmp, e.into_error()))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))
    });
    if let Err(e) = opened {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, dest).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io(dest, e)
    })
}

/// A hidden temporary name beside `dest`, so the rename is atomic.
fn temp_beside(dest: &Path) -> Result<PathBuf> {
    let name = dest
        .file_name()
        .ok_or_else(|| Error::invalid("destination", "not a file path"))?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(Error::invalid("destination", "its folder does not exist"));
    }
    Ok(dir.join(format!(
        ".{}.{:08x}.part",
        name.to_string_lossy(),
        rand::RngCore::next_u32(&mut rand::rngs::OsRng)
    )))
}

fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::RelayRefused { code, .. } if code == RelayCode::NotFound.as_str())
}

fn attachment_path(space: Uuid, hash: &[u8; 32]) -> String {
    format!("v1/spaces/{space}/attachments/{}", to_hex(hash))
}

/// The attachment routes of the relay protocol (`duet_proto::attachments`).
impl RelayClient {
    /// Add a reference to an object the relay holds; `None` when it doesn't hold it.
    async fn put_ref(
        &self,
        space: Uuid,
        hash: &[u8; 32],
        reference: &[u8; 16],
    ) -> Result<Option<AttachmentInfo>> {
        let path = format!(
            "{}/refs/{}",
            attachment_path(space, hash),
            to_hex(reference)
        );
        match self
            .call::<(), AttachmentInfo>(Method::PUT, &path, None)
            .await
        {
            Ok(info) => Ok(info),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Release a reference (the relay frees the object with its last one).
    async fn release_ref(&self, space: Uuid, hash: &[u8; 32], reference: &[u8; 16]) -> Result<()> {
        let path = format!(
            "{}/refs/{}",
            attachment_path(space, hash),
            to_hex(reference)
        );
        match self.call::<(), ()>(Method::DELETE, &path, None).await {
            // The journal is gone for this device: nothing of it to free any more.
            Err(e) if is_not_found(&e) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Where an upload stands at the relay; `None` when none is under way.
    async fn upload_status(&self, space: Uuid, hash: &[u8; 32]) -> Result<Option<UploadStatus>> {
        let path = format!("{}/upload", attachment_path(space, hash));
        match self
            .call::<(), UploadStatus>(Method::GET, &path, None)
            .await
        {
            Err(e) if is_not_found(&e) => Ok(None),
            other => other,
        }
    }

    /// Send `bytes` at `offset` of an upload of `size` sealed bytes.
    async fn upload_chunk(
        &self,
        space: Uuid,
        hash: &[u8; 32],
        reference: &[u8; 16],
        offset: u64,
        size: u64,
        bytes: &[u8],
    ) -> Result<UploadStatus> {
        let mut url = self.url(&format!("{}/upload", attachment_path(space, hash)))?;
        url.query_pairs_mut()
            .append_pair("offset", &offset.to_string())
            .append_pair("size", &size.to_string())
            .append_pair("ref", &to_hex(reference));
        let mut req = self
            .http
            .request(Method::PATCH, url)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| Error::Offline(without_url(e)))?;
        decode(resp).await
    }

    /// A whole small object (a thumbnail); `None` when the relay doesn't hold it (yet).
    async fn download_all(
        &self,
        space: Uuid,
        hash: &[u8; 32],
        sealed: u64,
    ) -> Result<Option<Vec<u8>>> {
        let resp = self.get_range(space, hash, 0, sealed).await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let resp = check(resp).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Error::Offline(without_url(e)))?;
        Ok(Some(bytes.to_vec()))
    }

    /// Download the object into `part`, from where `part` ends (a download cut off before
    /// goes on), in ranges; `progress` hears the bytes held after each piece.
    async fn download_to(
        &self,
        space: SpaceId,
        hash: &[u8; 32],
        sealed: u64,
        part: &Path,
        progress: impl Fn(u64),
    ) -> Result<()> {
        let mut file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .map_err(|e| Error::io(part, e))?;
        let mut have = file.metadata().map_err(|e| Error::io(part, e))?.len();
        if have > sealed {
            file.set_len(0).map_err(|e| Error::io(part, e))?;
            have = 0;
        }
        while have < sealed {
            let end = (have + CHUNK).min(sealed);
            let mut resp = check(self.get_range(space.0, hash, have, end).await?).await?;
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| Error::Offline(without_url(e)))?
            {
                if have + chunk.len() as u64 > sealed {
                    return Err(Error::CorruptData(
                        "the relay sent more bytes than the attachment has".into(),
                    ));
                }
                file.write_all(&chunk).map_err(|e| Error::io(part, e))?;
                have += chunk.len() as u64;
            }
            if have < end {
                return Err(Error::Offline("the download was cut short".into()));
            }
            progress(have);
        }
        file.sync_all().map_err(|e| Error::io(part, e))
    }

    async fn get_range(
        &self,
        space: Uuid,
        hash: &[u8; 32],
        start: u64,
        end: u64,
    ) -> Result<reqwest::Response> {
        let mut req = self
            .http
            .get(self.url(&attachment_path(space, hash))?)
            .header(reqwest::header::RANGE, format!("bytes={start}-{}", end - 1));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        req.send().await.map_err(|e| Error::Offline(without_url(e)))
    }
}

/// A successful answer, or the relay's typed error.
async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Offline(without_url(e)))?;
    Err(super::client::error_from(status, &bytes))
}

async fn decode<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
    let resp = check(resp).await?;
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| Error::Offline(without_url(e)))?;
    duet_proto::from_cbor(&bytes).map_err(|e| Error::CorruptData(format!("relay response: {e}")))
}
