//! Recovery kits at a real `duet-relay` (issue 12), tried as an attacker would: a person who
//! lost every device proves their kit and gets a new device into the spaces they still have;
//! guessing one kit is throttled (the right words too, once the quota is spent), as are
//! attempts from one address; an unknown kit and a wrong secret answer byte for byte alike;
//! a former partner's kit doesn't bring him back into the journal he was removed from;
//! revoking the device that made a kit, or making a new one, ends it; another person can
//! neither change nor take a kit; and the relay keeps no secret on disk.

use duet_e2e::relay::{
    Body, Client, RecoverySecret, RelayProcess, Response, http_client, random_bytes, refusal, send,
};
use duet_e2e::store::{files, sqlite_bytes};
use duet_e2e::text::contains_bytes;
use duet_proto::limits::{MAX_RECOVERY_ENVELOPE_BYTES, MAX_RECOVERY_SPACES};
use duet_proto::{ErrorCode, PutRecoveryKit, Recover, SpaceKind};
use reqwest::Method;
use uuid::Uuid;

/// A wrong auth secret.
fn wrong() -> Vec<u8> {
    random_bytes(32)
}

async fn attempt(base: &str, lookup: &[u8], auth: &[u8]) -> Response {
    Client::recover_response(&http_client(), base, lookup, auth)
        .await
        .unwrap()
}

/// The status and code of a refused attempt.
fn refused(r: &Response) -> (u16, Option<ErrorCode>) {
    (r.status, r.code())
}

const NOT_FOUND: (u16, Option<ErrorCode>) = (404, Some(ErrorCode::NotFound));
const THROTTLED: (u16, Option<ErrorCode>) = (429, Some(ErrorCode::RateLimited));

/// The seconds of a throttled answer's `Retry-After`.
fn retry_after(r: &Response) -> u64 {
    r.retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no Retry-After on {} {:?}", r.status, r.error()))
}

fn sorted(mut v: Vec<Uuid>) -> Vec<Uuid> {
    v.sort();
    v
}

async fn person(c: &Client) -> Uuid {
    c.whoami().await.unwrap().person
}

/// The relay's metrics line starting with `name` (labels included), as a number.
async fn metric(c: &Client, name: &str) -> u64 {
    let r = send(c.http(), c.base(), Method::GET, "/metrics", None, None)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no {name} in:\n{text}"))
}

/// A kit update without a secret: a new envelope, no spaces.
fn update_body(envelope: &[u8]) -> PutRecoveryKit {
    PutRecoveryKit {
        auth_hash: None,
        envelope: envelope.to_vec(),
        spaces: vec![],
    }
}

/// Ada with a second device (`tablet`, linked through her `personal` space) and a `journal`
/// she shares with Ben: (ada, tablet, ben, personal, journal).
type Ada = (Client, Client, Client, Uuid, Uuid);

/// A relay of its own, its URL, and Ada on it.
async fn ada_on_a_relay() -> (RelayProcess, String, Ada) {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let ada = ada(&base).await;
    (relay, base, ada)
}

async fn ada(base: &str) -> Ada {
    let ada = Client::register(base).await.unwrap();
    let tablet = Client::register(base).await.unwrap();
    let personal = ada.link(&tablet).await.unwrap();
    let ben = Client::register(base).await.unwrap();
    let journal = ada.new_space().await.unwrap();
    ada.invite_into(journal, &ben).await.unwrap();
    (ada, tablet, ben, personal, journal)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_who_lost_every_device_gets_back_in() {
    let (_relay, base, (ada, tablet, ben, personal, journal)) = ada_on_a_relay().await;
    let blob = duet_e2e::relay::random_blob(40);
    ben.push(journal, std::slice::from_ref(&blob))
        .await
        .unwrap();
    let envelope = random_bytes(900);
    let secret = ada
        .make_recovery_kit(&envelope, &[journal, personal])
        .await
        .unwrap();
    let info = tablet.recovery_kit().await.unwrap();
    assert_eq!(info.lookup, secret.lookup.to_vec());
    assert_eq!(info.made_by, ada.device_id);
    assert_eq!(info.spaces, sorted(vec![journal, personal]));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((info.updated_at - now).abs() <= 5, "unix seconds");

    // Both of Ada's devices are lost; with the words, a new phone comes back.
    let (phone, r) = Client::recover(&base, &secret).await.unwrap();
    let pa = person(&ada).await;
    assert_eq!(r.person, pa);
    assert_eq!(person(&phone).await, pa);
    assert_eq!(r.envelope, envelope);
    assert_eq!(sorted(r.spaces.clone()), sorted(vec![journal, personal]));
    assert_eq!(
        sorted(r.devices.clone()),
        sorted(vec![ada.device_id, tablet.device_id])
    );
    assert_eq!(
        phone.space_ids().await.unwrap(),
        sorted(vec![journal, personal])
    );
    assert_eq!(phone.pull_all(journal).await.unwrap()[0].data, blob.data);
    // The new phone holds the kit now; it revokes the lost devices, and the kit stays.
    assert_eq!(phone.recovery_kit().await.unwrap().made_by, phone.device_id);
    for lost in [&ada, &tablet] {
        phone.revoke(lost.device_id).await.unwrap();
        assert_eq!(
            refusal(lost.spaces().await),
            (401, ErrorCode::DeviceRevoked)
        );
    }
    assert_eq!(
        phone.recovery_kit().await.unwrap().lookup,
        secret.lookup.to_vec()
    );
    assert_eq!(
        metric(
            &phone,
            "duet_recovery_attempts_total{outcome=\"recovered\"}"
        )
        .await,
        1
    );
    assert_eq!(metric(&phone, "duet_recovery_kits_stored_total").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_one_kit_is_throttled_even_for_the_right_words() {
    let relay = RelayProcess::temp_flags("--recovery-attempts-per-hour 10");
    let base = relay.url();
    let (ada, _, ben, ..) = ada(&base).await;
    let secret = ada.make_recovery_kit(b"sealed", &[]).await.unwrap();
    let others = ben.make_recovery_kit(b"sealed", &[]).await.unwrap();
    for i in 1..=20 {
        let r = attempt(&base, &secret.lookup, &wrong()).await;
        if i <= 10 {
            assert_eq!(refused(&r), NOT_FOUND, "attempt {i}");
        } else {
            assert_eq!(refused(&r), THROTTLED, "attempt {i}");
            // One more attempt every 6 minutes.
            assert!((1..=360).contains(&retry_after(&r)), "attempt {i}");
        }
    }
    let right = attempt(&base, &secret.lookup, &secret.auth).await;
    assert_eq!(refused(&right), THROTTLED, "the right words wait too");
    assert!(retry_after(&right) >= 1);
    // Per kit: another kit is proven as usual.
    let (_, r) = Client::recover(&base, &others).await.unwrap();
    assert_eq!(r.person, person(&ben).await);
    assert_eq!(
        metric(&ada, "duet_recovery_attempts_total{outcome=\"throttled\"}").await,
        11
    );
    assert_eq!(
        metric(&ada, "duet_recovery_attempts_total{outcome=\"refused\"}").await,
        10
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoveries_from_one_address_are_limited() {
    let relay = RelayProcess::temp_flags("--recoveries-per-client-per-hour 3");
    let base = relay.url();
    let ada = Client::register(&base).await.unwrap();
    let secret = ada.make_recovery_kit(b"sealed", &[]).await.unwrap();
    // Three guesses at kits that don't exist use up the address's quota...
    for _ in 0..3 {
        let r = attempt(&base, &RecoverySecret::random().lookup, &wrong()).await;
        assert_eq!(refused(&r), NOT_FOUND);
    }
    // ...and then any attempt from it waits, a malformed one and the right words too.
    let r = attempt(&base, &secret.lookup, &secret.auth).await;
    assert_eq!(refused(&r), THROTTLED);
    assert!(retry_after(&r) >= 1);
    let bad = send(
        &http_client(),
        &base,
        Method::POST,
        "/v1/recovery/nothex",
        None,
        Some(Body::cbor(&Recover { auth: wrong() })),
    )
    .await
    .unwrap();
    assert_eq!(refused(&bad), THROTTLED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kit_and_a_wrong_secret_answer_alike() {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let ada = Client::register(&base).await.unwrap();
    let secret = ada.make_recovery_kit(b"sealed", &[]).await.unwrap();
    let wrong_secret = attempt(&base, &secret.lookup, &wrong()).await;
    let unknown = attempt(&base, &RecoverySecret::random().lookup, &secret.auth).await;
    for r in [&wrong_secret, &unknown] {
        assert_eq!(refused(r), NOT_FOUND);
        assert_eq!(r.retry_after, None);
    }
    assert_eq!(wrong_secret.content_type, unknown.content_type);
    assert_eq!(wrong_secret.body, unknown.body, "byte for byte");

    // Malformed attempts: a lookup id not in its one spelling, a secret of another length.
    let upper = secret.lookup_hex().to_uppercase();
    for path in [
        format!("/v1/recovery/{upper}"),
        format!("/v1/recovery/{}", &secret.lookup_hex()[1..]),
    ] {
        let body = Body::cbor(&secret.recover_body());
        let r = send(ada.http(), &base, Method::POST, &path, None, Some(body))
            .await
            .unwrap();
        assert_eq!(
            refused(&r),
            (400, Some(ErrorCode::InvalidRequest)),
            "{path}"
        );
    }
    let short = attempt(&base, &secret.lookup, &secret.auth[..31]).await;
    assert_eq!(refused(&short), (400, Some(ErrorCode::InvalidRequest)));
    // None of it spent the kit.
    Client::recover(&base, &secret).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kits_out_of_bounds_are_refused_and_change_nothing() {
    let (_relay, base, (ada, _, _, personal, ..)) = ada_on_a_relay().await;
    let secret = RecoverySecret::random();
    // The largest envelope fits (a body over the 64 KiB other small bodies get).
    let largest = random_bytes(MAX_RECOVERY_ENVELOPE_BYTES);
    ada.put_recovery_kit(&secret.lookup, &secret.kit(&largest, &[personal]))
        .await
        .unwrap();
    let other = RecoverySecret::random();
    let mut short_hash = other.kit(b"sealed", &[]);
    short_hash.auth_hash = Some(other.hash[..31].to_vec());
    let too_many = vec![personal; MAX_RECOVERY_SPACES + 1];
    for (what, kit) in [
        ("an empty envelope", other.kit(b"", &[])),
        (
            "an envelope too large",
            other.kit(&random_bytes(MAX_RECOVERY_ENVELOPE_BYTES + 1), &[]),
        ),
        ("a 31-byte auth hash", short_hash),
        ("too many spaces", other.kit(b"sealed", &too_many)),
    ] {
        assert_eq!(
            refusal(ada.put_recovery_kit(&other.lookup, &kit).await),
            (400, ErrorCode::InvalidRequest),
            "{what}"
        );
    }
    let path = format!("/v1/recovery/{}", other.lookup_hex().to_uppercase());
    let body = Body::cbor(&other.kit(b"sealed", &[]));
    let r = ada.request(Method::PUT, &path, Some(body)).await.unwrap();
    assert_eq!(refused(&r), (400, Some(ErrorCode::InvalidRequest)));
    // The first kit is as it was.
    let info = ada.recovery_kit().await.unwrap();
    assert_eq!(
        (info.lookup, info.spaces),
        (secret.lookup.to_vec(), vec![personal])
    );
    let (_, r) = Client::recover(&base, &secret).await.unwrap();
    assert_eq!(r.envelope, largest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_former_partners_kit_does_not_bring_him_back() {
    let relay = RelayProcess::temp();
    let base = relay.url();
    let (ben, ada) = (
        Client::register(&base).await.unwrap(),
        Client::register(&base).await.unwrap(),
    );
    let journal = ben.new_space().await.unwrap();
    ben.invite_into(journal, &ada).await.unwrap();
    let personal = Uuid::now_v7();
    ada.create_space_of(personal, SpaceKind::Personal)
        .await
        .unwrap();
    let secret = ada
        .make_recovery_kit(b"sealed", &[journal, personal])
        .await
        .unwrap();
    ben.remove_member(journal, ada.device_id).await.unwrap();
    assert_eq!(ada.recovery_kit().await.unwrap().spaces, vec![personal]);
    // Nor can she put the journal back on her kit's list.
    let update = PutRecoveryKit {
        auth_hash: None,
        envelope: b"sealed".to_vec(),
        spaces: vec![journal, personal],
    };
    assert_eq!(
        refusal(ada.put_recovery_kit(&secret.lookup, &update).await),
        (404, ErrorCode::NotFound)
    );

    let (phone, r) = Client::recover(&base, &secret).await.unwrap();
    assert_eq!(r.spaces, vec![personal]);
    assert_eq!(
        refusal(phone.space(journal).await),
        (404, ErrorCode::NotFound)
    );
    assert_eq!(
        refusal(phone.pull(journal, 0, None).await),
        (404, ErrorCode::NotFound)
    );
    assert_eq!(phone.space(personal).await.unwrap().space_id, personal);
    let info = ben.space(journal).await.unwrap();
    assert_eq!(
        info.members,
        vec![ben.device_id],
        "the journal is Ben's alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_the_device_that_made_a_kit_ends_it() {
    let (_relay, base, (ada, tablet, ..)) = ada_on_a_relay().await;
    let secret = ada.make_recovery_kit(b"sealed", &[]).await.unwrap();
    // Whoever holds the lost phone may hold the words too.
    tablet.revoke(ada.device_id).await.unwrap();
    let r = attempt(&base, &secret.lookup, &secret.auth).await;
    assert_eq!(refused(&r), NOT_FOUND);
    assert_eq!(
        refusal(tablet.recovery_kit().await),
        (404, ErrorCode::NotFound)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_kit_leads_nowhere() {
    let (_relay, base, (ada, tablet, _, personal, ..)) = ada_on_a_relay().await;
    let old = ada.make_recovery_kit(b"old", &[personal]).await.unwrap();
    let new = tablet.make_recovery_kit(b"new", &[personal]).await.unwrap();
    let info = ada.recovery_kit().await.unwrap();
    assert_eq!(
        (info.lookup, info.made_by),
        (new.lookup.to_vec(), tablet.device_id)
    );
    assert_eq!(
        refused(&attempt(&base, &old.lookup, &old.auth).await),
        NOT_FOUND
    );
    // An update at the old lookup id finds nothing either.
    let update = update_body(b"newer");
    assert_eq!(
        refusal(ada.put_recovery_kit(&old.lookup, &update).await),
        (404, ErrorCode::NotFound)
    );
    let (_, r) = Client::recover(&base, &new).await.unwrap();
    assert_eq!((r.envelope, r.spaces), (b"new".to_vec(), vec![personal]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_person_can_neither_change_nor_take_a_kit() {
    let (_relay, base, (ada, _, ben, personal, ..)) = ada_on_a_relay().await;
    let secret = ada.make_recovery_kit(b"ada's", &[personal]).await.unwrap();
    let update = update_body(b"ben's");
    assert_eq!(
        refusal(ben.put_recovery_kit(&secret.lookup, &update).await),
        (404, ErrorCode::NotFound)
    );
    let take = RecoverySecret {
        lookup: secret.lookup,
        ..RecoverySecret::random()
    };
    assert_eq!(
        refusal(
            ben.put_recovery_kit(&take.lookup, &take.kit(b"ben's", &[]))
                .await
        ),
        (409, ErrorCode::Conflict)
    );
    assert_eq!(
        refusal(ben.recovery_kit().await),
        (404, ErrorCode::NotFound)
    );
    let info = ada.recovery_kit().await.unwrap();
    assert_eq!((info.made_by, info.spaces), (ada.device_id, vec![personal]));
    assert_eq!(
        refused(&attempt(&base, &secret.lookup, &take.auth).await),
        NOT_FOUND
    );
    let (_, r) = Client::recover(&base, &secret).await.unwrap();
    assert_eq!(
        (r.person, r.envelope),
        (person(&ada).await, b"ada's".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_keeps_no_recovery_secret_on_disk() {
    let (relay, base, (ada, _, _, personal, ..)) = ada_on_a_relay().await;
    let secret = ada
        .make_recovery_kit(&random_bytes(300), &[personal])
        .await
        .unwrap();
    assert_eq!(
        refused(&attempt(&base, &secret.lookup, &wrong()).await),
        NOT_FOUND
    );
    let (phone, _) = Client::recover(&base, &secret).await.unwrap();
    phone.spaces().await.unwrap();

    let hex: String = secret.auth.iter().map(|b| format!("{b:02x}")).collect();
    let on_disk = files(relay.data_dir());
    assert!(!on_disk.is_empty());
    for (path, bytes) in &on_disk {
        let path = path.display();
        assert!(!contains_bytes(bytes, &secret.auth), "the secret in {path}");
        for spelling in [hex.clone(), hex.to_uppercase()] {
            assert!(
                !contains_bytes(bytes, spelling.as_bytes()),
                "the secret's hex in {path}"
            );
        }
        assert!(
            !contains_bytes(bytes, phone.token.as_bytes()),
            "the recovered device's token in {path}"
        );
    }
    // The search does see what is stored: the secret's hash is there.
    assert!(contains_bytes(
        &sqlite_bytes(&relay.db_path()),
        &secret.hash
    ));
}
