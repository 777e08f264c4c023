//! # duet-core
//!
//! The engine of Duet, an offline-first journal two partners keep together. Every entry is
//! an Automerge document stored in a local SQLite database; every write is durable before
//! it returns and is queued, sealed with the journal's key, for the relay. Concurrent edits
//! merge by themselves.
//!
//! Start with [`Duet::init`] / [`Duet::open`].
//!
//! With the `uniffi` feature (turned on by duet-mobile) the records, enums, ids and
//! [`DuetError`] apps see are exported through [uniffi](https://mozilla.github.io/uniffi-rs)
//! from here, where they are defined: ids as strings, times as Unix milliseconds. The
//! bindings crate adds the client object and the listener plumbing.

pub mod attachments;
mod blob;
pub mod clock;
pub mod crypto;
mod doc;
mod engine;
pub mod error;
pub mod events;
// Entry points for the fuzz targets in fuzz/ (cargo fuzz); not an API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod ids;
mod keydrop;
mod kit;
pub mod limits;
pub mod model;
mod parallel;
pub mod prompts;
mod state;
mod store;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod text;

pub use attachments::{
    AttachOptions, Attachment, AttachmentState, TransferDirection, TransferListener,
    TransferProgress, export_path,
};
pub use clock::{Clock, ManualClock, Millis, SystemClock};
pub use crypto::{KeyStore, SpaceKey};
pub use engine::{
    BUNDLE_MAGIC, DEFAULT_ATTACHMENT_CACHE_BYTES, DEFAULT_SNAPSHOT_EVERY_BLOBS, Duet,
    MAX_ATTACHMENT_NAME_CHARS, MAX_MIME_CHARS, Options, STORE_FILE,
};
pub use error::{DuetError, Error, ErrorCode, Result};
pub use events::{EntryListener, Subscription};
pub use ids::{AttachmentId, DeviceId, EntryId, MemberId, RelayDeviceId, ReplyId, SpaceId};
pub use model::*;
pub use state::{SyncListener, SyncReport, SyncState};
pub use store::Durability;
pub use sync::live::LiveHandle;
pub use sync::policy::{AppState, BACKGROUND_INTERVAL, SyncPolicy};
pub use sync::{Invite, Quarantined, Recovery, RecoveryKit, RelayIdentity, RelayInfo, RelaySwitch};

// This crate's part of the bindings (the `duet_core` component: Kotlin package
// `app.duet.core`, Python module `duet_core`: core/uniffi.toml).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
