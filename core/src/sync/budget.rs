//! How many bytes one request may carry on the link we have: pull pages and push batches
//! are bounded by it, so a link that drops every connection after a few kilobytes still
//! moves whole pages (each acknowledged page or batch is kept). It halves after a cut and
//! doubles after a success, between 4 KiB (about one blob) and 4 MiB. The figure is a hint
//! shared by the process (a phone has one link), so the next sync starts where the last
//! one left off.

use std::sync::atomic::{AtomicU64, Ordering};

pub(crate) const MIN_BYTES: u64 = 4 * 1024;
pub(crate) const MAX_BYTES: u64 = 4 * 1024 * 1024;
const START_BYTES: u64 = 256 * 1024;
/// Cuts in a row one sync takes before it gives up (the link is gone, not just bad).
pub(crate) const MAX_CUTS: u32 = 24;

static BUDGET: AtomicU64 = AtomicU64::new(START_BYTES);

/// The bytes the next request may carry.
pub(crate) fn current() -> u64 {
    BUDGET.load(Ordering::Relaxed).clamp(MIN_BYTES, MAX_BYTES)
}

/// A request of `budget` bytes went through: allow twice as much next time.
pub(crate) fn succeeded(budget: u64) {
    BUDGET.store((budget * 2).clamp(MIN_BYTES, MAX_BYTES), Ordering::Relaxed);
}

/// A request of `budget` bytes was cut: half as much next time.
pub(crate) fn cut(budget: u64) {
    BUDGET.store((budget / 2).clamp(MIN_BYTES, MAX_BYTES), Ordering::Relaxed);
}

/// Counts the cuts of one sync: whether to try again.
#[derive(Debug, Default)]
pub(crate) struct Cuts(u32);

impl Cuts {
    /// Note a cut of a request that carried `budget` bytes; `false` once there were too
    /// many in a row to keep trying.
    pub(crate) fn again(&mut self, budget: u64) -> bool {
        cut(budget);
        self.0 += 1;
        self.0 <= MAX_CUTS
    }

    pub(crate) fn reset(&mut self) {
        self.0 = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_after_a_cut_and_doubles_after_a_success_within_bounds() {
        cut(MIN_BYTES);
        assert_eq!(current(), MIN_BYTES);
        succeeded(current());
        assert_eq!(current(), 2 * MIN_BYTES);
        succeeded(MAX_BYTES);
        assert_eq!(current(), MAX_BYTES);
        let mut cuts = Cuts::default();
        for _ in 0..MAX_CUTS {
            assert!(cuts.again(current()));
        }
        assert!(!cuts.again(current()));
        assert_eq!(current(), MIN_BYTES);
        cuts.reset();
        assert!(cuts.again(current()));
        succeeded(START_BYTES / 2);
    }
}
