//! Duet's test kit: the one library every test and benchmark of the workspace builds on
//! (duet-core's integration tests and benchmark, the CLI's tests, the end-to-end tests in
//! `tests/` and their benchmarks), and the home of the end-to-end tests themselves.
//!
//! - [`home`]: offline homes — a Duet home in a temporary directory with its own manual
//!   clock — and bundles passed between them;
//! - [`scenario`]: stories several layers tell the same way (a body both partners rewrite,
//!   a mood they set at once);
//! - [`device`]: homes pointed at a relay — partners sharing a journal, a person's second
//!   device, syncing until everyone agrees;
//! - [`store`]: raw reads of a home's SQLite files (what a checker or an adversary holding
//!   the phone sees);
//! - [`relay`]: a real `duet-relay` process and a protocol client for it; [`pg`]: a
//!   throwaway PostgreSQL database for the scale-out tests; [`proxy`] and [`balancer`]:
//!   a byte-counting (or link-cutting) TCP proxy and a failover balancer in front of relays;
//! - [`cli`]: the `duet` binary run against a home, as a user would; [`binary`]: the
//!   workspace's binaries, built for the tests that run them;
//! - [`listen`]: a listener that records what a home hears; [`wait`]: polling with a
//!   deadline;
//! - [`rng`]: a deterministic seeded RNG; [`text`]: words, character splices, byte search;
//! - [`stats`]: the one percentile definition (nearest rank); [`mod@bench`]: what the
//!   benchmarks share; [`procfs`]: a process's memory, from `/proc`.
//!
//! The `crash_writer` binary (`src/bin`) is the writer `tests/e2e/crash.rs` kills.

pub mod balancer;
pub mod bench;
pub mod binary;
pub mod cli;
pub mod device;
pub mod home;
pub mod listen;
pub mod pg;
pub mod procfs;
pub mod proxy;
pub mod relay;
pub mod rng;
pub mod s3;
pub mod scenario;
pub mod stats;
pub mod store;
pub mod text;
pub mod wait;

pub use rng::SplitMix64;
pub use text::WORDS;

/// The value, or a panic that says what failed and why: how the kit, the benchmarks and
/// the tests unwrap (a number from a broken run is worse than none).
pub fn ok<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {e}"))
}
