//! Sealed prompt answers (ADR 11): the relay keeps one share of each person's answer key
//! per round of a space, and hands it out only once the asker may read the answer.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::{ANSWER_SHARE_BYTES, MAX_ROUND_LEN};

/// `PUT /v1/spaces/{space}/answers/{round}`: the caller's person's relay share of the
/// answer key. The first share registered for a person in a round is kept; a later one
/// (another device's, made offline) changes nothing, and the answer says which one holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnswerShare {
    /// Exactly 32 bytes.
    #[serde(with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(min_items = 32, max_items = 32))]
    pub share: Vec<u8>,
}

/// `GET /v1/spaces/{space}/answers/{round}` (and the `PUT`'s answer): who answered the
/// round, and each share the asker may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Answers {
    /// In the order they answered.
    pub answers: Vec<AnswerInfo>,
}

/// One person's answer to a round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AnswerInfo {
    pub person: Uuid,
    /// When the share was registered, Unix milliseconds.
    pub answered_at: u64,
    /// The person revealed their answer before the others answered.
    pub revealed: bool,
    /// The relay share (32 bytes), present when the asker's person is this person, has
    /// answered the round too, or this answer is revealed.
    #[serde(default, with = "serde_bytes")]
    #[cfg_attr(feature = "openapi", schema(min_items = 32, max_items = 32))]
    pub share: Option<Vec<u8>>,
}

/// Whether `round` is a round id the relay accepts: 1 to [`MAX_ROUND_LEN`] characters of
/// `A-Z a-z 0-9 . _ : -` (a prompt id and its cycle, `"{prompt_id}.{cycle}"`).
pub fn is_round_id(round: &str) -> bool {
    (1..=MAX_ROUND_LEN).contains(&round.len())
        && round
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// Whether `share` has the length of a relay share.
pub fn is_answer_share(share: &[u8]) -> bool {
    share.len() == ANSWER_SHARE_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ids_are_short_and_plain() {
        for ok in ["a", "gratitude-03.20412", "p:1_x.Y-9", &"r".repeat(80)] {
            assert!(is_round_id(ok), "{ok:?}");
        }
        for bad in [
            "",
            &"r".repeat(81),
            "a b",
            "a/b",
            "é",
            "a%2F",
            "round\n",
            "a;b",
        ] {
            assert!(!is_round_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_hidden_share_round_trips_as_null() {
        let info = AnswerInfo {
            person: Uuid::nil(),
            answered_at: 7,
            revealed: false,
            share: None,
        };
        let back: AnswerInfo = crate::from_cbor(&crate::to_cbor(&info)).unwrap();
        assert_eq!(back, info);
        let shown = AnswerInfo {
            share: Some(vec![3; 32]),
            ..info
        };
        let bytes = crate::to_cbor(&shown);
        // A byte string (0x58 0x20: 32 bytes), not an array of integers.
        assert!(bytes.windows(2).any(|w| w == [0x58, 0x20]));
        assert_eq!(crate::from_cbor::<AnswerInfo>(&bytes).unwrap(), shown);
    }
}
