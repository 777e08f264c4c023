//! The `duet` CLI run as a user would: one test binary, its harness in `common`. `journal`
//! covers the offline commands, `sync` the relay ones against a real `duet-relay`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod journal;
mod sync;
