//! Sealed prompt answers (ADR 11): each person's relay share of their answer key, per round
//! of a space. The relay hands a share out only to its own person, to someone who has
//! answered the same round, or once its person revealed it early — the gate that keeps a
//! partner's answer unread until they have answered too. A share alone opens nothing, and
//! none is ever logged.

use axum::http::StatusCode;
use duet_proto::{AnswerInfo, AnswerShare, Answers};
use uuid::Uuid;

use super::member::{Member, SpacePath};
use super::responses::NotFound;
use crate::cbor::{Cbor, CborResponse};
use crate::error::ApiError;
use crate::state::now_ms;
use crate::storage::StoredAnswer;

/// The path of every answers route.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RoundPath {
    space: Uuid,
    /// The prompt's round, `{prompt_id}.{cycle}`
    #[param(min_length = 1, max_length = 80, pattern = r"^[A-Za-z0-9._:-]{1,80}$")]
    round: String,
}

impl SpacePath for RoundPath {
    fn space(&self) -> Uuid {
        self.space
    }

    /// `invalid_request` unless the round is a round id (after membership: a stranger hears
    /// 404 whatever it sends).
    fn validate(&self) -> Result<(), ApiError> {
        if duet_proto::answers::is_round_id(&self.round) {
            Ok(())
        } else {
            Err(ApiError::invalid(format!(
                "a round id is 1 to {} characters of A-Z a-z 0-9 . _ : -",
                duet_proto::limits::MAX_ROUND_LEN
            )))
        }
    }
}

/// The round of an answers route, for a member of its space.
pub type MemberRound = Member<RoundPath>;

/// The round's answers as the caller may see them.
async fn seen(round: &MemberRound) -> Result<CborResponse<Answers>, ApiError> {
    let stored = round
        .state
        .store
        .answers(round.space, &round.path.round)
        .await?;
    Ok(CborResponse(
        StatusCode::OK,
        as_seen_by(stored, round.caller.person),
    ))
}

/// A round's answers as `asker` may see them: every answer is listed, its share only when
/// it is the asker's own, the asker has answered the round too, or it was revealed.
fn as_seen_by(stored: Vec<StoredAnswer>, asker: Uuid) -> Answers {
    let answered = stored.iter().any(|a| a.person == asker);
    let answers = stored
        .into_iter()
        .map(|a| {
            let shown = a.person == asker || answered || a.revealed;
            AnswerInfo {
                person: a.person,
                answered_at: u64::try_from(a.answered_at).unwrap_or(0),
                revealed: a.revealed,
                share: shown.then_some(a.share),
            }
        })
        .collect();
    Answers { answers }
}

/// Register the caller's person's relay share of their answer to a round. The first share
/// a person registers is kept (a retry, or another device's share made offline, changes
/// nothing); the answer lists the round with the share that holds, so a device that made
/// another one learns which.
#[utoipa::path(put, path = "/v1/spaces/{space}/answers/{round}", tag = "answers",
    operation_id = "put_answer",
    params(RoundPath),
    request_body(content = AnswerShare, content_type = "application/cbor"),
    responses((status = 200, body = Answers, content_type = "application/cbor"),
              (status = 400, description = "A bad round id, or a share that isn't 32 bytes", body = duet_proto::ErrorBody),
              (status = 413, description = "The space holds as many prompt answers as it may (`quota_exceeded`), or the body is too large", body = duet_proto::ErrorBody),
              NotFound),
    security(("bearer" = [])))]
pub async fn put(
    round: MemberRound,
    Cbor(req): Cbor<AnswerShare>,
) -> Result<CborResponse<Answers>, ApiError> {
    let share: [u8; 32] = req
        .share
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::invalid("an answer share is 32 bytes"))?;
    let fresh = round
        .state
        .store
        .put_answer(
            round.space,
            &round.path.round,
            round.caller.person,
            share,
            now_ms(),
            round.state.limits.max_answers_per_space,
        )
        .await?;
    if fresh {
        round.state.metrics.answer_shares.inc();
    }
    tracing::debug!(
        space = %round.space,
        by = %round.caller.device,
        fresh,
        "answer share registered"
    );
    seen(&round).await
}

/// Who answered a round, and the shares the caller may see (an empty list when nobody has).
#[utoipa::path(get, path = "/v1/spaces/{space}/answers/{round}", tag = "answers",
    operation_id = "list_answers",
    params(RoundPath),
    responses((status = 200, body = Answers, content_type = "application/cbor"),
              (status = 400, description = "A bad round id", body = duet_proto::ErrorBody),
              NotFound),
    security(("bearer" = [])))]
pub async fn list(round: MemberRound) -> Result<CborResponse<Answers>, ApiError> {
    seen(&round).await
}

/// Reveal the caller's person's answer to a round before the others answered: from then on
/// every member sees its share. 404 when that person hasn't answered the round.
#[utoipa::path(post, path = "/v1/spaces/{space}/answers/{round}/reveal", tag = "answers",
    operation_id = "reveal_answer",
    params(RoundPath),
    responses((status = 204),
              (status = 400, description = "A bad round id", body = duet_proto::ErrorBody),
              (status = 404, description = "No such space, or the caller hasn't answered the round", body = duet_proto::ErrorBody)),
    security(("bearer" = [])))]
pub async fn reveal(round: MemberRound) -> Result<StatusCode, ApiError> {
    if !round
        .state
        .store
        .reveal_answer(round.space, &round.path.round, round.caller.person)
        .await?
    {
        return Err(ApiError::new(
            duet_proto::ErrorCode::NotFound,
            "you have not answered this round",
        ));
    }
    tracing::debug!(
        space = %round.space,
        by = %round.caller.device,
        "answer revealed early"
    );
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(person: Uuid, at: i64, revealed: bool) -> StoredAnswer {
        StoredAnswer {
            person,
            share: vec![at as u8; 32],
            answered_at: at,
            revealed,
        }
    }

    fn shown(a: &Answers) -> Vec<bool> {
        a.answers.iter().map(|i| i.share.is_some()).collect()
    }

    #[test]
    fn a_share_is_seen_by_its_person_by_those_who_answered_and_once_revealed() {
        let (me, partner, other) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        // Only the partner answered: listed, share hidden.
        let a = as_seen_by(vec![stored(partner, 1, false)], me);
        assert_eq!(a.answers[0].person, partner);
        assert_eq!(a.answers[0].answered_at, 1);
        assert_eq!(shown(&a), vec![false]);
        // The partner's own device sees it.
        assert_eq!(
            shown(&as_seen_by(vec![stored(partner, 1, false)], partner)),
            vec![true]
        );
        // Once I answered, I see every share.
        let both = vec![stored(partner, 1, false), stored(me, 2, false)];
        assert_eq!(shown(&as_seen_by(both.clone(), me)), vec![true, true]);
        assert_eq!(shown(&as_seen_by(both, partner)), vec![true, true]);
        // Revealed early: seen without answering; someone else's unrevealed one stays hidden.
        let a = as_seen_by(vec![stored(partner, 1, true), stored(other, 2, false)], me);
        assert_eq!(shown(&a), vec![true, false]);
        assert!(a.answers[0].revealed);
        assert_eq!(a.answers[0].share, Some(vec![1; 32]));
        assert!(as_seen_by(Vec::new(), me).answers.is_empty());
    }
}
