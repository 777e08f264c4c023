//! The one `Range` header form attachments answer: `bytes=a-b`, `bytes=a-` or `bytes=-n`.

use std::ops::Range;

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// No header, or one that isn't a single byte range (ignored, as RFC 9110 allows):
    /// the whole object.
    Whole,
    /// These bytes (end exclusive).
    Part(Range<u64>),
    /// Bytes the object doesn't have: `416`.
    Unsatisfiable,
}

/// Read a `Range` header against an object of `size` bytes.
pub fn wanted(header: Option<&str>, size: u64) -> Wanted {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Wanted::Whole;
    };
    if spec.contains(',') {
        return Wanted::Whole;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Wanted::Whole;
    };
    let (a, b) = (a.trim(), b.trim());
    let num = |s: &str| {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u64>().ok())
            .flatten()
    };
    match (a.is_empty(), num(a), num(b)) {
        // bytes=-n: the last n bytes.
        (true, _, Some(n)) => {
            if n == 0 || size == 0 {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(size.saturating_sub(n)..size)
            }
        }
        (false, Some(start), None) if b.is_empty() => {
            if start >= size {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(start..size)
            }
        }
        (false, Some(start), Some(last)) => {
            if start > last {
                Wanted::Whole
            } else if start >= size {
                Wanted::Unsatisfiable
            } else {
                Wanted::Part(start..last.saturating_add(1).min(size))
            }
        }
        _ => Wanted::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_byte_ranges_are_read_and_clamped() {
        assert_eq!(wanted(None, 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=0-3"), 10), Wanted::Part(0..4));
        assert_eq!(wanted(Some("bytes=4-"), 10), Wanted::Part(4..10));
        assert_eq!(wanted(Some("bytes=5-100"), 10), Wanted::Part(5..10));
        assert_eq!(wanted(Some("bytes=-3"), 10), Wanted::Part(7..10));
        assert_eq!(wanted(Some("bytes=-30"), 10), Wanted::Part(0..10));
        assert_eq!(wanted(Some("bytes=10-"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=10-12"), 10), Wanted::Unsatisfiable);
        assert_eq!(wanted(Some("bytes=-0"), 10), Wanted::Unsatisfiable);
        // Not one byte range: ignored.
        assert_eq!(wanted(Some("bytes=0-1,4-5"), 10), Wanted::Whole);
        assert_eq!(wanted(Some("items=0-1"), 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=3-1"), 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=x-1"), 10), Wanted::Whole);
        assert_eq!(wanted(Some("bytes=+1-2"), 10), Wanted::Whole);
    }
}
