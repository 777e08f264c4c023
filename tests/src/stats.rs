//! The one percentile definition of every benchmark: nearest rank.

/// The nearest-rank `p` percentile (`p` in `0..=1`) of `sorted` (ascending): the smallest
/// sample with at least `p` of the samples at or below it. `None` when there are no samples.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    // The rank is ⌈p·n⌉; the small slack keeps a product like 0.9 × 500 that lands a hair
    // above a whole number (floating point) on that number.
    let rank = (p * n as f64 - 1e-9).ceil() as usize;
    Some(sorted[rank.clamp(1, n) - 1])
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.99), Some(99));
        assert_eq!(percentile(&v, 1.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&[3, 9], 0.5), Some(3));
        assert_eq!(percentile(&[3, 9], 0.51), Some(9));
        let many: Vec<usize> = (1..=500).collect();
        assert_eq!(percentile(&many, 0.9), Some(450));
        assert_eq!(percentile(&many, 0.99), Some(495));
        assert_eq!(percentile::<u32>(&[], 0.5), None);
    }
}
