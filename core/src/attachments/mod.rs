//! Attachments: photos, voice notes and other files of an entry (ADR 15).
//!
//! - `format`: how a file is sealed (64 KiB STREAM segments, Padmé, BLAKE3 address)
//! - `files`: the sealed files this device holds, and the cache's budget
//!
//! The entry's document holds each attachment's reference (`doc/attachments.rs`), the
//! engine attaches and removes (`engine/attachments.rs`), and sync moves the sealed bytes
//! (`sync/transfer.rs`).

pub(crate) mod files;
pub(crate) mod format;

use serde::Serialize;

use crate::clock::Millis;
use crate::ids::{AttachmentId, EntryId, MemberId};

/// What an app gives with a file to attach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AttachOptions {
    /// Its name as shown (default: the file's name).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub name: Option<String>,
    /// Its media type (default: guessed from the name's extension).
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub mime: Option<String>,
    /// A small preview (at most 32 KiB, e.g. a JPEG the app made with the platform's image
    /// APIs); it syncs with the entry, the original only when asked for.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub thumbnail: Option<Vec<u8>>,
    /// An image's size in pixels, when known.
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub width: Option<u32>,
    #[cfg_attr(feature = "uniffi", uniffi(default = None))]
    pub height: Option<u32>,
}

/// Where an attachment's original is, as seen from this device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum AttachmentState {
    /// On this device: `fetch` opens it without the network.
    Local,
    /// Only at the relay: `fetch` downloads it.
    RemoteOnly,
    /// Being downloaded now.
    Downloading,
}

/// One attachment of an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Attachment {
    pub id: AttachmentId,
    #[cfg_attr(feature = "uniffi", uniffi(name = "entry_id"))]
    #[serde(rename = "entry_id")]
    pub entry: EntryId,
    pub name: String,
    pub mime: String,
    /// Bytes of the original.
    pub size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub has_thumbnail: bool,
    pub state: AttachmentState,
    /// The original still has to reach the relay from this device.
    pub uploading: bool,
    pub added_at: Millis,
    #[cfg_attr(feature = "uniffi", uniffi(name = "added_by_id"))]
    #[serde(rename = "added_by")]
    pub added_by: MemberId,
}

/// Which way bytes are going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum TransferDirection {
    Upload,
    Download,
}

/// Progress of one attachment's transfer, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct TransferProgress {
    #[cfg_attr(feature = "uniffi", uniffi(name = "attachment_id"))]
    #[serde(rename = "attachment_id")]
    pub attachment: AttachmentId,
    pub direction: TransferDirection,
    /// Sealed bytes moved so far (resumed transfers count what was there before).
    pub done: u64,
    pub total: u64,
}

/// Hears transfer progress (called from the syncing or fetching task; a listener may call
/// back into Duet).
pub trait TransferListener: Send + Sync {
    fn on_progress(&self, progress: &TransferProgress);
}

/// Where an export writes an attachment, relative to the export file: `attachments/`, its
/// id (so two photos named alike never collide) and its name, made safe for any file
/// system.
pub fn export_path(a: &Attachment) -> String {
    let safe: String = a
        .name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let safe = safe.trim_start_matches('.');
    format!("attachments/{}-{safe}", a.id)
}
