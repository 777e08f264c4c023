//! Sealed prompt answers at a real `duet-relay` (ADR 11): the relay keeps each person's
//! first share of a round and hands it out only to that person's devices, to a partner who
//! has answered the round too, or once revealed early; everyone else hears 404, and bad
//! round ids and shares are refused with nothing stored.

use duet_e2e::relay::{Body, Client, ClientError, RawCouple, random_bytes, refusal, send};
use duet_proto::{AnswerShare, Answers, ErrorCode};
use reqwest::Method;
use uuid::Uuid;

const ROUND: &str = "gratitude-03.20412";

fn answers_path(space: Uuid, round: &str) -> String {
    format!("/v1/spaces/{space}/answers/{round}")
}

/// The three answers routes of `ROUND` in `space`, each with a body it takes (a fresh share
/// for the PUT).
fn routes(space: Uuid) -> [(Method, String, Option<Body>); 3] {
    let path = answers_path(space, ROUND);
    let share = Body::cbor(&AnswerShare {
        share: random_bytes(32),
    });
    [
        (Method::GET, path.clone(), None),
        (Method::PUT, path.clone(), Some(share)),
        (Method::POST, format!("{path}/reveal"), None),
    ]
}

async fn put(c: &Client, space: Uuid, round: &str, share: &[u8]) -> Result<Answers, ClientError> {
    c.put_answer(space, round, share).await
}

async fn get(c: &Client, space: Uuid, round: &str) -> Result<Answers, ClientError> {
    c.answers(space, round).await
}

async fn reveal(c: &Client, space: Uuid, round: &str) -> Result<(), ClientError> {
    c.reveal_answer(space, round).await
}

/// Each listed person with the share the asker sees (`None`: hidden), in the relay's order.
fn seen(a: &Answers) -> Vec<(Uuid, Option<Vec<u8>>)> {
    a.answers
        .iter()
        .map(|i| (i.person, i.share.clone()))
        .collect()
}

async fn person(c: &Client) -> Uuid {
    c.whoami().await.unwrap().person
}

/// A journal of two partners, A with a second device (`a_devices[0]`), and a stranger.
async fn couple() -> RawCouple {
    RawCouple::start(1).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_is_sealed_until_both_partners_answered() {
    let c = couple().await;
    let (a, a2, b, stranger, space) = (&c.a, &c.a_devices[0], &c.b, &c.stranger, c.space);
    let (pa, pb) = (person(a).await, person(b).await);
    assert_eq!(person(a2).await, pa, "linked: one person");
    let (share_a, share_b) = (random_bytes(32), random_bytes(32));

    assert!(get(b, space, ROUND).await.unwrap().answers.is_empty());
    let mine = put(a, space, ROUND, &share_a).await.unwrap();
    assert_eq!(seen(&mine), vec![(pa, Some(share_a.clone()))]);

    // B hasn't answered: A's answer is listed, its share withheld.
    let before = get(b, space, ROUND).await.unwrap();
    assert_eq!(seen(&before), vec![(pa, None)]);
    assert!(before.answers[0].answered_at > 0);
    assert!(!before.answers[0].revealed);
    // A's other device is A: it sees A's share before B answers.
    assert_eq!(
        seen(&get(a2, space, ROUND).await.unwrap()),
        vec![(pa, Some(share_a.clone()))]
    );

    // B answers: the PUT's answer carries A's share, and A now sees B's.
    let after = put(b, space, ROUND, &share_b).await.unwrap();
    assert_eq!(
        seen(&after),
        vec![(pa, Some(share_a.clone())), (pb, Some(share_b.clone()))]
    );
    for d in [a, a2, b] {
        assert_eq!(seen(&get(d, space, ROUND).await.unwrap()), seen(&after));
    }
    // Another round is another matter.
    assert!(
        get(b, space, "gratitude-03.20413")
            .await
            .unwrap()
            .answers
            .is_empty()
    );

    // A stranger hears 404 on every route, exactly as for any space of someone else's.
    for (method, p, body) in routes(space) {
        let r = stranger.request(method.clone(), &p, body).await.unwrap();
        assert_eq!(
            (r.status, r.code()),
            (404, Some(ErrorCode::NotFound)),
            "a stranger's {method} {p}"
        );
    }
    assert_eq!(
        get(a, space, ROUND).await.unwrap().answers.len(),
        2,
        "the stranger stored nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_reveal_shows_the_share_without_answering() {
    let c = couple().await;
    let (a, b, space) = (&c.a, &c.b, c.space);
    let pa = person(a).await;
    let share_a = random_bytes(32);
    // Nothing to reveal before answering.
    assert_eq!(
        refusal(reveal(a, space, ROUND).await),
        (404, ErrorCode::NotFound)
    );
    put(a, space, ROUND, &share_a).await.unwrap();
    assert_eq!(
        refusal(reveal(b, space, ROUND).await),
        (404, ErrorCode::NotFound),
        "B hasn't answered: nothing of B's to reveal, and A's stays A's to reveal"
    );
    assert_eq!(seen(&get(b, space, ROUND).await.unwrap()), vec![(pa, None)]);
    reveal(a, space, ROUND).await.unwrap();
    reveal(a, space, ROUND).await.unwrap(); // again: no change
    let shown = get(b, space, ROUND).await.unwrap();
    assert_eq!(seen(&shown), vec![(pa, Some(share_a))]);
    assert!(shown.answers[0].revealed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_share_of_a_person_stays() {
    let c = couple().await;
    let (a, a2, b, space) = (&c.a, &c.a_devices[0], &c.b, c.space);
    let pa = person(a).await;
    let first = random_bytes(32);
    put(a, space, ROUND, &first).await.unwrap();
    // A retry, another share from A, and A's other device's own share (made offline): each
    // answer carries the first, so a device that made another learns which one holds.
    for (d, share) in [
        (a, first.clone()),
        (a, random_bytes(32)),
        (a2, random_bytes(32)),
    ] {
        let got = put(d, space, ROUND, &share).await.unwrap();
        assert_eq!(seen(&got), vec![(pa, Some(first.clone()))]);
    }
    let got = put(b, space, ROUND, &random_bytes(32)).await.unwrap();
    assert_eq!(got.answers[0].share, Some(first));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_round_ids_and_shares_are_refused_and_store_nothing() {
    let c = couple().await;
    let (a, b, space) = (&c.a, &c.b, c.space);
    let too_long = "r".repeat(81);
    let bad_rounds = [
        too_long.as_str(),
        "a%20b",         // a space
        "a%2Fb",         // a slash, once decoded
        "%C3%A9t%C3%A9", // not ASCII
        "a%00b",
        "a;b",
        "a%25b",
    ];
    for round in bad_rounds {
        assert_eq!(
            refusal(put(a, space, round, &random_bytes(32)).await),
            (400, ErrorCode::InvalidRequest),
            "PUT round {round:?}"
        );
        assert_eq!(
            refusal(get(a, space, round).await),
            (400, ErrorCode::InvalidRequest),
            "GET round {round:?}"
        );
        assert_eq!(
            refusal(reveal(a, space, round).await),
            (400, ErrorCode::InvalidRequest),
            "reveal round {round:?}"
        );
    }
    // The longest round id is fine.
    let longest = "r".repeat(80);
    assert!(get(a, space, &longest).await.unwrap().answers.is_empty());

    for n in [0, 1, 31, 33, 64] {
        assert_eq!(
            refusal(put(a, space, ROUND, &random_bytes(n)).await),
            (400, ErrorCode::InvalidRequest),
            "a share of {n} bytes"
        );
    }
    // Not CBOR of the right shape: malformed, as for every body.
    let r = a
        .request(
            Method::PUT,
            &answers_path(space, ROUND),
            Some(Body::cbor(&"not a share")),
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.code()), (400, Some(ErrorCode::MalformedBody)));

    assert!(
        get(b, space, ROUND).await.unwrap().answers.is_empty(),
        "nothing stored"
    );
    assert_eq!(
        refusal(reveal(a, space, ROUND).await),
        (404, ErrorCode::NotFound),
        "A has no answer to reveal"
    );
}

/// Who may use the three routes: a token is needed and must be live; only members see the
/// space (404 for everyone else, a removed partner included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_with_live_tokens_reach_the_answers() {
    let c = couple().await;
    let (a, a2, b, space) = (&c.a, &c.a_devices[0], &c.b, c.space);
    put(a, space, ROUND, &random_bytes(32)).await.unwrap();
    put(b, space, ROUND, &random_bytes(32)).await.unwrap();
    let base = a.base().to_string();
    for (method, p, body) in routes(space) {
        let none = send(a.http(), &base, method.clone(), &p, None, body.clone())
            .await
            .unwrap();
        assert_eq!(
            (none.status, none.code()),
            (401, Some(ErrorCode::Unauthorized))
        );
        let bad = send(a.http(), &base, method.clone(), &p, Some("duet_nope"), body)
            .await
            .unwrap();
        assert_eq!(
            (bad.status, bad.code()),
            (401, Some(ErrorCode::Unauthorized))
        );
    }
    // A revoked device is told so; a removed partner no longer sees the space.
    a.revoke(a2.device_id).await.unwrap();
    a.remove_member(space, b.device_id).await.unwrap();
    for (method, p, body) in routes(space) {
        let revoked = a2.request(method.clone(), &p, body.clone()).await.unwrap();
        assert_eq!(
            (revoked.status, revoked.code()),
            (401, Some(ErrorCode::DeviceRevoked)),
            "{method} {p}"
        );
        let removed = b.request(method.clone(), &p, body).await.unwrap();
        assert_eq!(
            (removed.status, removed.code()),
            (404, Some(ErrorCode::NotFound)),
            "{method} {p}"
        );
    }
    // The remaining partner still sees both answers (the removed one's included).
    assert_eq!(get(a, space, ROUND).await.unwrap().answers.len(), 2);
}
