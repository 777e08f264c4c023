//! Duet's end-to-end tests, built as one test binary (one link of the whole stack instead
//! of one per file): several homes (devices) and real `duet-relay` processes on loopback.
//! Each module is one concern; the harness is the test kit, `duet_e2e` (this package's
//! library).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod attachments;
mod convergence;
mod crash;
mod flaky_link;
mod lost_phone;
mod membership;
mod merging;
mod recovery;
mod relay_answers;
mod relay_attachments;
mod relay_auth;
mod relay_crash;
mod relay_keys;
mod relay_limits;
mod relay_nodes;
mod relay_protocol;
mod relay_recovery;
mod restore;
mod sealed_answers;
mod snapshots;
mod sync;
mod sync_crash;
mod sync_errors;
mod sync_privacy;
