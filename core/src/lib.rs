//! # duet-core
//!
//! The engine of Duet, an offline-first journal two partners keep together. Every entry is
//! an Automerge document stored in a local SQLite database; every write is durable before
//! it returns and is queued, sealed with the journal's key, for the relay. Concurrent edits
//! merge by themselves.
//!
//! Start with [`Duet::init`] / [`Duet::open`].

mod blob;
pub mod clock;
pub mod crypto;
mod doc;
mod engine;
pub mod error;
pub mod events;
pub mod ids;
pub mod limits;
pub mod model;
pub mod prompts;
mod store;
pub mod sync;
pub mod text;

pub use clock::{Clock, ManualClock, Millis, SystemClock};
pub use crypto::{KeyStore, SpaceKey};
pub use engine::{BUNDLE_MAGIC, Duet, Options, STORE_FILE};
pub use error::{Error, ErrorCode, Result};
pub use events::{EntryListener, Subscription};
pub use ids::{DeviceId, EntryId, MemberId, ReplyId, SpaceId};
pub use model::*;
pub use store::Durability;
pub use sync::live::{LiveHandle, SyncListener, SyncState};
pub use sync::{Invite, Quarantined, RelayInfo, SyncReport};
