//! Text for tests: the words writers type, a splice by character positions, a byte search.

/// The words the crash writer types: some multi-byte, so positions are characters.
pub const WORDS: &[&str] = &[
    "river", "morning", "coffee", "garden", "tender", "quiet", "brave", "sorry", "thanks", "rain",
    "café", "naïve", "日本", "😊", "we", "us",
];

/// `s` with `del` characters at character `pos` replaced by `ins` (what a Duet splice does
/// to a text field). Panics when the range is outside `s`.
pub fn splice_chars(s: &str, pos: usize, del: usize, ins: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out: String = chars[..pos].iter().collect();
    out.push_str(ins);
    out.extend(&chars[pos + del..]);
    out
}

/// Whether `needle` occurs in `hay` (an empty needle never does).
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splices_count_characters_and_needles_bytes() {
        assert_eq!(splice_chars("café au lait", 3, 1, "é!"), "café! au lait");
        assert_eq!(splice_chars("日本", 2, 0, "語"), "日本語");
        assert!(contains_bytes(b"sealed blob", b"ed b"));
        assert!(!contains_bytes(b"sealed", b""));
    }
}
