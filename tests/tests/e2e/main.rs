//! Duet's end-to-end tests, built as one test binary (one link of the whole stack instead
//! of one per file): several homes (devices) and real `duet-relay` processes on loopback.
//! Each module is one concern; `common` and `sync_support` are the shared harness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod sync_support;

mod convergence;
mod crash;
mod flaky_link;
mod membership;
mod merging;
mod relay_auth;
mod relay_crash;
mod relay_limits;
mod relay_nodes;
mod relay_protocol;
mod sync;
mod sync_crash;
mod sync_errors;
mod sync_privacy;
