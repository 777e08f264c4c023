//! End-to-end tests of Duet: several homes exchanging bundles (`tests/convergence.rs`,
//! `tests/merging.rs`) and a writer killed at random moments (`tests/crash.rs` with the
//! `crash_writer` helper binary). The tests live in `tests/`; this library holds only what
//! the helper binary and the tests share. [`relay`] is the harness of the relay tests
//! (`tests/relay_*.rs`) and benchmarks (`benches/relay.rs`): a real `duet-relay` process
//! and a protocol client for it. [`proxy`] is a byte-counting TCP proxy for the sync tests
//! (`tests/sync_*.rs`) and benchmark (`benches/sync.rs`). [`balancer`] and [`pg`] serve
//! the scale-out tests: several relay nodes on one PostgreSQL database.

pub mod balancer;
pub mod pg;
pub mod proxy;
pub mod relay;

/// A small deterministic random number generator (`SplitMix64`), so a failing run can be
/// replayed from the seed it prints.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed from the clock, for runs that should differ.
    pub fn seed_from_time() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x5eed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }

    /// An index below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.range(0, n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// The words the crash writer types: some multi-byte, so positions are characters.
pub const WORDS: &[&str] = &[
    "river", "morning", "coffee", "garden", "tender", "quiet", "brave", "sorry", "thanks", "rain",
    "café", "naïve", "日本", "😊", "we", "us",
];
