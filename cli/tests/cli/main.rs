//! The `duet` CLI run as a user would: one test binary, its harness the test kit's `cli`
//! module (`duet_e2e::cli`). `journal` covers the offline commands, `sync` the relay ones
//! against a real `duet-relay`, `answers` sealed prompt answers through one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod answers;
mod attachments;
mod journal;
mod recovery;
mod relay_access;
mod sync;
