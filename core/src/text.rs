//! Turning "the new full text" from a UI into the minimal splices that produce it, so that
//! two people editing the same paragraph both keep their words (never a whole-field replace).

use similar::{Algorithm, DiffOp, capture_diff_slices_deadline};
use std::time::{Duration, Instant};

/// One splice in Unicode scalar values: at `pos` delete `delete` characters, then insert `insert`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Splice {
    pub pos: usize,
    pub delete: usize,
    pub insert: String,
}

/// How long a diff may search before settling for a coarser (still correct) answer.
/// Big rewrites of huge bodies are rare; a keystroke is answered in microseconds.
const DIFF_DEADLINE: Duration = Duration::from_millis(200);

/// The splices that turn `old` into `new`, in application order (each position is valid
/// after the previous splices have been applied).
pub fn splices(old: &str, new: &str) -> Vec<Splice> {
    if old == new {
        return Vec::new();
    }
    // Trim the common prefix and suffix first: a keystroke in a long body then diffs a
    // handful of characters instead of the whole text.
    let prefix_bytes = common_prefix_bytes(old, new);
    let (old_rest, new_rest) = (&old[prefix_bytes..], &new[prefix_bytes..]);
    let suffix_bytes = common_suffix_bytes(old_rest, new_rest);
    let old_mid = &old_rest[..old_rest.len() - suffix_bytes];
    let new_mid = &new_rest[..new_rest.len() - suffix_bytes];
    let base = old[..prefix_bytes].chars().count();

    let a: Vec<char> = old_mid.chars().collect();
    let b: Vec<char> = new_mid.chars().collect();
    if a.is_empty() || b.is_empty() {
        return vec![Splice {
            pos: base,
            delete: a.len(),
            insert: b.iter().collect(),
        }];
    }
    let ops = capture_diff_slices_deadline(
        Algorithm::Myers,
        &a,
        &b,
        Some(Instant::now() + DIFF_DEADLINE),
    );
    let mut out: Vec<Splice> = Vec::new();
    // `at` walks the partially-updated text: splices apply in order, so each one's
    // position is where the walk has got to (similar's `new_index` on deletes is not that).
    let mut at = base;
    for op in ops {
        match op {
            DiffOp::Equal { len, .. } => at += len,
            DiffOp::Delete { old_len, .. } => push(&mut out, at, old_len, String::new()),
            DiffOp::Insert {
                new_index, new_len, ..
            } => {
                push(
                    &mut out,
                    at,
                    0,
                    b[new_index..new_index + new_len].iter().collect(),
                );
                at += new_len;
            }
            DiffOp::Replace {
                old_len,
                new_index,
                new_len,
                ..
            } => {
                push(
                    &mut out,
                    at,
                    old_len,
                    b[new_index..new_index + new_len].iter().collect(),
                );
                at += new_len;
            }
        }
    }
    out
}

/// Merge a splice into the previous one when they touch, so "delete then insert at the
/// same place" is one splice.
fn push(out: &mut Vec<Splice>, pos: usize, delete: usize, insert: String) {
    if let Some(last) = out.last_mut()
        && last.pos + last.insert.chars().count() == pos
    {
        last.delete += delete;
        last.insert.push_str(&insert);
        return;
    }
    out.push(Splice {
        pos,
        delete,
        insert,
    });
}

fn common_prefix_bytes(a: &str, b: &str) -> usize {
    let mut n = 0;
    for ((i, ca), cb) in a.char_indices().zip(b.chars()) {
        if ca != cb {
            return i;
        }
        n = i + ca.len_utf8();
    }
    n
}

fn common_suffix_bytes(a: &str, b: &str) -> usize {
    let mut n = 0;
    for (ca, cb) in a.chars().rev().zip(b.chars().rev()) {
        if ca != cb {
            break;
        }
        n += ca.len_utf8();
    }
    n
}

/// Apply splices to a plain string (tests and the CLI preview use it).
pub fn apply(text: &str, splices: &[Splice]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for s in splices {
        let end = (s.pos + s.delete).min(chars.len());
        let pos = s.pos.min(chars.len());
        chars.splice(pos..end, s.insert.chars());
    }
    chars.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keystroke_is_one_tiny_splice() {
        let old = "a".repeat(5000);
        let mut new = old.clone();
        new.insert(2500, 'b');
        let s = splices(&old, &new);
        assert_eq!(
            s,
            vec![Splice {
                pos: 2500,
                delete: 0,
                insert: "b".into()
            }]
        );
    }

    #[test]
    fn replace_word_keeps_the_rest() {
        let s = splices("we talked on sunday", "we talked on monday");
        assert_eq!(apply("we talked on sunday", &s), "we talked on monday");
        let touched: usize = s.iter().map(|s| s.delete + s.insert.len()).sum();
        assert!(touched <= 6, "{s:?}");
    }

    #[test]
    fn multibyte_positions_are_characters() {
        let s = splices("café ☕ time", "café ☕☕ time");
        assert_eq!(s[0].pos, 6);
        assert_eq!(apply("café ☕ time", &s), "café ☕☕ time");
    }

    proptest! {
        #[test]
        fn applying_splices_gives_the_new_text(old in "[a-cé☕ \n]{0,60}", new in "[a-cé☕ \n]{0,60}") {
            let s = splices(&old, &new);
            prop_assert_eq!(apply(&old, &s), new);
        }
    }
}
