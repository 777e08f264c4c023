//! Syncing with a relay. The store is never locked across a network call: each step reads
//! or writes the store, then talks to the relay, then writes what came back in one
//! transaction (the pulled blobs and the advanced cursor together), so a sync cancelled at
//! any point leaves the store consistent.
//!
//! This file holds the public types and one sync's order of steps ([`Duet::sync_now`]);
//! each step lives in the module named for it:
//! - `relay`: the relay's URL, registering, switching relays (identity kept, restored or new)
//! - `push`: the outbox, sealed batch by batch under the current key epoch
//! - `pull`: pulling, applying and quarantining; key ring absorption; epoch checks
//! - `invites`: invites to a journal and device links (`invite` holds codes and wrapping)
//! - `members`: my devices in each space, removing a partner, key epochs at the relay
//! - `snapshots`: journal snapshots (ADR 16): uploaded now and then, installed by a new
//!   device, their documents loaded behind it
//! - `answers`: sealed prompt answers' shares at the relay (ADR 11)
//! - `keys`: rotations after a revocation and their key drops; `restore`: a partner's
//!   restore code; `recovery`: recovery kits (making, keeping current, recovering)
//! - `transfer`: attachments' sealed bytes, up and down (ADR 15)
//! - `live`: the WebSocket task; `policy`: when a phone syncs (live in the foreground,
//!   coalesced in the background); `client`: HTTP

mod answers;
mod budget;
mod client;
pub mod invite;
mod invites;
mod keys;
pub mod live;
mod members;
pub mod policy;
mod pull;
mod push;
mod recovery;
mod relay;
mod restore;
mod snapshots;
#[cfg(test)]
mod testkit;
#[cfg(feature = "tls")]
mod tls;
mod transfer;

use std::sync::atomic::Ordering;

use serde::Serialize;
use uuid::Uuid;

use crate::engine::Duet;
use crate::error::{Error, Result};
use crate::ids::RelayDeviceId;
use crate::state::SyncState;

pub use crate::state::SyncReport;
pub use invite::Invite;
pub use recovery::{Recovery, RecoveryKit};

/// The relay this home syncs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RelayInfo {
    pub url: String,
    /// This device's id at the relay, once registered.
    pub device_id: Option<RelayDeviceId>,
}

/// What became of this device's identity when the relay URL changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RelayIdentity {
    /// The URL reaches the relay this device already syncs with (its token works there):
    /// same identity, nothing to send again.
    Kept,
    /// This home was registered at that relay before: that identity is back, and
    /// everything this home holds is queued for it again.
    Restored,
    /// A relay new to this home: registered afresh, everything this home holds is queued
    /// for it; partners must be invited again there.
    New,
    /// The relay could not be reached; the URL is recorded and checked at the next sync.
    Unverified,
}

/// The outcome of [`Duet::switch_relay`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelaySwitch {
    pub url: String,
    /// This device's id at that relay (`None` while unverified).
    pub device_id: Option<Uuid>,
    pub identity: RelayIdentity,
    /// What it means, in a sentence or two for people.
    pub message: String,
}

/// A pulled blob that could not be applied (kept and reported, never blocking).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Quarantined {
    #[cfg_attr(feature = "uniffi", uniffi(name = "space_id"))]
    pub space: String,
    /// Its sequence number at the relay.
    pub seq: u64,
    /// Why it was refused.
    pub error: String,
}

/// A sealed thumbnail is at most this large (32 KiB, its tags and padding).
pub(super) const THUMBNAIL_SEALED_MAX: u64 = 40 * 1024;

impl Duet {
    /// Push everything queued, pull everything new, apply it.
    /// Listeners hear `Syncing` with the progress so far after each acknowledged push batch
    /// and pulled page.
    pub async fn sync_now(&self) -> Result<SyncReport> {
        let _running = Running::start(self);
        self.emit_sync(&SyncState::Syncing {
            progress: SyncReport::default(),
        });
        let r = self.sync_inner(true).await;
        match &r {
            Ok(report) => self.emit_sync(&SyncState::Synced {
                report: report.clone(),
            }),
            Err(e) => self.emit_sync(&SyncState::from_error(e)),
        }
        r
    }

    /// One sync; `load` also loads the documents a snapshot installed (a device just
    /// linked leaves them for later: it shows the journal from their index rows).
    pub(super) async fn sync_inner(&self, load: bool) -> Result<SyncReport> {
        self.register().await?;
        let c = self.relay_client()?;
        let mut report = SyncReport::default();
        // My key ring first: a key another device of mine rotated to is used for what this
        // one pushes now.
        self.pull_personal(&c, &mut report).await?;
        // Rotations first: nothing is pushed under a key before it is dropped for the
        // devices that need it.
        self.send_key_drops(&c).await?;
        // A space refused for a key not here yet doesn't stop the rest of the sync: the pull
        // may bring the key (a key drop, my key ring), and the second push reseals under
        // it. The sync ends with that error only if the second push is refused too (its
        // changes stay queued).
        // Thumbnails before the changes that refer to them, so a partner who pulls the entry
        // finds them.
        // A refused one is answered at the end (the second call meets it again).
        if let Err(e @ Error::Offline(_)) = self
            .send_attachments(&c, THUMBNAIL_SEALED_MAX, &mut report)
            .await
        {
            return Err(e);
        }
        defer_stale(self.push_outbox(&c, &mut report).await, &mut None)?;
        self.pull_all(&c, &mut report).await?;
        // What the pull brought: the thumbnails of new attachments; removed ones let go.
        self.fetch_thumbnails(&c).await?;
        self.drop_unreferenced_files()?;
        // With what was pulled: register my answer shares, open answers a share now opens,
        // reveal mine whose round is revealed (what that writes goes out below).
        self.sync_answers(&c).await?;
        self.announce_self()?;
        // Applying may have queued local changes (joining a member list, adding my devices).
        let mut stale = None;
        defer_stale(self.push_outbox(&c, &mut report).await, &mut stale)?;
        // My key rings as they are now, for my recovery kit (if I have one).
        self.keep_recovery_envelope(&c).await;
        // A journal whose log grew well past its last snapshot gets a new one.
        self.keep_snapshots(&c).await;
        // Originals last: the words never wait behind a video.
        self.send_attachments(&c, u64::MAX, &mut report).await?;
        // Documents a snapshot installed, loaded now that everything else is done.
        if load {
            self.load_documents(u64::MAX)?;
        }
        match stale {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }
}

/// Counts a running `sync_now` for as long as it lives (also when its future is dropped).
struct Running<'a>(&'a Duet);

impl<'a> Running<'a> {
    fn start(duet: &'a Duet) -> Self {
        duet.syncs_running().fetch_add(1, Ordering::Relaxed);
        Running(duet)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.syncs_running().fetch_sub(1, Ordering::Relaxed);
    }
}

impl Duet {
    /// A batch or page was kept: tell listeners how far the running sync has got.
    pub(super) fn progress(&self, report: &SyncReport) {
        if self.syncs_running().load(Ordering::Relaxed) > 0 {
            self.emit_sync(&SyncState::Syncing {
                progress: report.clone(),
            });
        }
    }
}

/// Keep a `StaleEpoch` failure for the end of the sync; any other failure ends it now.
fn defer_stale(r: Result<()>, stale: &mut Option<Error>) -> Result<()> {
    match r {
        Err(e @ Error::StaleEpoch { .. }) => {
            stale.get_or_insert(e);
            Ok(())
        }
        other => other,
    }
}
