//! Key drops at a real `duet-relay`: after a lost phone is revoked, another of its person's
//! devices rotates the key and leaves it sealed to each remaining member device. The relay
//! hands each device only the drops left for it, keeps the first drop per device and
//! epoch, takes drops only for the space's announced epoch, refuses oversized lists with
//! nothing stored, and forgets a device's drops when it is revoked.

use duet_e2e::relay::{
    Body, Client, ClientError, RawCouple, RelayProcess, random_bytes, refusal, send,
};
use duet_e2e::store;
use duet_proto::limits::{MAX_KEY_DROP_BYTES, MAX_KEY_DROPS};
use duet_proto::{ErrorCode, HeldDrop, KeyDrop, KeyDrops};
use reqwest::Method;
use uuid::Uuid;

/// A journal of Ada's shared with Ben: Ada's devices `ada` and `tablet`, her `phone` (to
/// be lost), Ben's `ben`; and a `stranger` with a space of its own. The journal's key is
/// announced at epoch 2.
struct Cast {
    /// Bind it when destructuring: left in a pattern's `..` it is dropped (killed) at once.
    relay: RelayProcess,
    ada: Client,
    tablet: Client,
    phone: Client,
    ben: Client,
    stranger: Client,
    space: Uuid,
}

async fn cast() -> Cast {
    let RawCouple {
        relay,
        a: ada,
        a_devices,
        b: ben,
        stranger,
        space,
    } = RawCouple::start(2).await;
    stranger.new_space().await.unwrap();
    ada.announce_epoch(space, 2).await.unwrap();
    let [tablet, phone] = <[Client; 2]>::try_from(a_devices).unwrap();
    Cast {
        relay,
        ada,
        tablet,
        phone,
        ben,
        stranger,
        space,
    }
}

/// A drop for `device`: 104 random bytes (an exchange key, a nonce, a sealed key).
fn drop_for(device: &Client) -> KeyDrop {
    KeyDrop {
        device: device.device_id,
        sealed: random_bytes(104),
    }
}

fn keys_path(space: Uuid, epoch: u32) -> String {
    format!("/v1/spaces/{space}/keys/{epoch}")
}

/// The drops the relay's database holds for `device` (in any space).
fn stored_for(relay: &RelayProcess, device: Uuid) -> i64 {
    store::row(
        &relay.db_path(),
        "SELECT count(*) FROM key_drops WHERE device = ?1",
        [device.as_bytes().as_slice()],
        |r| r.get(0),
    )
}

/// Every drop the relay's database holds.
fn stored_in_all(relay: &RelayProcess) -> i64 {
    store::row(
        &relay.db_path(),
        "SELECT count(*) FROM key_drops",
        [],
        |r| r.get(0),
    )
}

/// The relay's `duet_key_drops_stored_total`.
async fn stored_metric(c: &Client) -> u64 {
    let r = send(c.http(), c.base(), Method::GET, "/metrics", None, None)
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&r.body).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("duet_key_drops_stored_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no duet_key_drops_stored_total in:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drop_for_the_partner_is_fetched_by_that_device_only() {
    let Cast {
        relay,
        ada,
        tablet,
        ben,
        stranger,
        space,
        ..
    } = cast().await;
    let for_ben = drop_for(&ben);
    // Skipped: the caller itself and a device outside the journal.
    let drops = [for_ben.clone(), drop_for(&ada), drop_for(&stranger)];
    ada.put_key_drops(space, 2, &drops).await.unwrap();
    assert_eq!(
        ben.key_drops(space).await.unwrap().drops,
        vec![HeldDrop {
            epoch: 2,
            sender: ada.device_id,
            sealed: for_ben.sealed.clone(),
        }]
    );
    for other in [&ada, &tablet] {
        assert!(
            other.key_drops(space).await.unwrap().drops.is_empty(),
            "Ben's drop is Ben's alone"
        );
    }
    assert_eq!(stored_in_all(&relay), 1, "the skipped drops are not stored");
    assert_eq!(stored_metric(&ada).await, 1);

    // A retry, or the tablet's own drop for Ben, changes nothing: the first one stays.
    ada.put_key_drops(space, 2, &drops).await.unwrap();
    tablet
        .put_key_drops(space, 2, &[drop_for(&ben)])
        .await
        .unwrap();
    assert_eq!(
        ben.key_drops(space).await.unwrap().drops[0].sealed,
        for_ben.sealed
    );
    assert_eq!(stored_metric(&ada).await, 1);

    // To the stranger the journal doesn't exist, for either route; it stores nothing.
    let put = Body::cbor(&KeyDrops {
        drops: vec![drop_for(&stranger)],
    });
    for (method, path, body) in [
        (Method::GET, format!("/v1/spaces/{space}/keys"), None),
        (Method::PUT, keys_path(space, 2), Some(put)),
    ] {
        let r = stranger.request(method.clone(), &path, body).await.unwrap();
        assert_eq!(
            (r.status, r.code()),
            (404, Some(ErrorCode::NotFound)),
            "a stranger's {method} {path}"
        );
    }
    assert_eq!(stored_in_all(&relay), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_is_refused_and_its_drops_are_gone() {
    let Cast {
        relay,
        ada,
        tablet,
        phone,
        ben,
        space,
        ..
    } = cast().await;
    // Drops from an earlier rotation, the phone's among them.
    let drops = [drop_for(&tablet), drop_for(&phone), drop_for(&ben)];
    ada.put_key_drops(space, 2, &drops).await.unwrap();
    assert_eq!(phone.key_drops(space).await.unwrap().drops.len(), 1);
    assert_eq!(stored_for(&relay, phone.device_id), 1);

    // The phone is lost: Ada revokes it.
    ada.revoke(phone.device_id).await.unwrap();
    assert_eq!(
        refusal(phone.key_drops(space).await),
        (401, ErrorCode::DeviceRevoked)
    );
    assert_eq!(
        refusal(phone.put_key_drops(space, 2, &[drop_for(&ben)]).await),
        (401, ErrorCode::DeviceRevoked)
    );
    assert_eq!(stored_for(&relay, phone.device_id), 0, "its drops are gone");
    for d in [&tablet, &ben] {
        assert_eq!(stored_for(&relay, d.device_id), 1, "the others' stay");
    }

    // The rotation that follows: a drop for the revoked phone is skipped.
    ada.announce_epoch(space, 3).await.unwrap();
    let next = [drop_for(&tablet), drop_for(&phone), drop_for(&ben)];
    ada.put_key_drops(space, 3, &next).await.unwrap();
    assert_eq!(stored_for(&relay, phone.device_id), 0);
    let epochs: Vec<u32> = ben
        .key_drops(space)
        .await
        .unwrap()
        .drops
        .iter()
        .map(|d| d.epoch)
        .collect();
    assert_eq!(epochs, vec![2, 3], "oldest epoch first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_announced_epoch_takes_drops() {
    let Cast {
        relay,
        ada,
        ben,
        space,
        ..
    } = cast().await;
    ada.announce_epoch(space, 3).await.unwrap();
    let drops = [drop_for(&ben)];
    assert_eq!(
        refusal(ada.put_key_drops(space, 2, &drops).await),
        (409, ErrorCode::StaleEpoch)
    );
    let ahead = ada.put_key_drops(space, 4, &drops).await;
    assert_eq!(refusal(ahead.clone()), (409, ErrorCode::Conflict));
    assert!(
        matches!(&ahead, Err(ClientError::Api { message, .. }) if message.contains("announce")),
        "the refusal says to announce the epoch first: {ahead:?}"
    );
    // A journal whose key was never announced takes none.
    let fresh = ada.new_space().await.unwrap();
    ada.invite_into(fresh, &ben).await.unwrap();
    for epoch in [0, 1] {
        assert_eq!(
            refusal(ada.put_key_drops(fresh, epoch, &drops).await),
            (409, ErrorCode::Conflict),
            "epoch {epoch} of a space never announced"
        );
    }
    assert_eq!(stored_in_all(&relay), 0, "nothing stored");
    ada.put_key_drops(space, 3, &drops).await.unwrap();
    assert_eq!(ben.key_drops(space).await.unwrap().drops.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_drop_lists_are_refused_and_store_nothing() {
    let Cast {
        relay,
        ada,
        tablet,
        ben,
        space,
        ..
    } = cast().await;
    let refused = |drops: Vec<KeyDrop>| {
        let ada = ada.clone();
        async move {
            let body = Body::cbor(&KeyDrops { drops });
            let r = ada
                .request(Method::PUT, &keys_path(space, 2), Some(body))
                .await
                .unwrap();
            (r.status, r.code())
        }
    };
    let invalid = (400, Some(ErrorCode::InvalidRequest));
    let many: Vec<KeyDrop> = (0..=MAX_KEY_DROPS)
        .map(|i| {
            if i % 2 == 0 {
                drop_for(&ben)
            } else {
                drop_for(&tablet)
            }
        })
        .collect();
    assert_eq!(many.len(), 65);
    assert_eq!(refused(many).await, invalid, "65 drops");
    let big = KeyDrop {
        device: ben.device_id,
        sealed: random_bytes(MAX_KEY_DROP_BYTES + 1),
    };
    assert_eq!(big.sealed.len(), 129);
    assert_eq!(
        refused(vec![drop_for(&tablet), big]).await,
        invalid,
        "a 129-byte drop"
    );
    let empty = KeyDrop {
        device: ben.device_id,
        sealed: Vec::new(),
    };
    assert_eq!(refused(vec![empty]).await, invalid, "an empty drop");
    assert_eq!(refused(Vec::new()).await, invalid, "no drops");
    // Not CBOR of the right shape: malformed, as for every body.
    let r = ada
        .request(
            Method::PUT,
            &keys_path(space, 2),
            Some(Body::cbor(&"not drops")),
        )
        .await
        .unwrap();
    assert_eq!((r.status, r.code()), (400, Some(ErrorCode::MalformedBody)));

    assert_eq!(stored_in_all(&relay), 0, "nothing stored");
    for d in [&ben, &tablet] {
        assert!(d.key_drops(space).await.unwrap().drops.is_empty());
    }
    // The limits themselves are fine: 64 drops (two of them stored) of 128 bytes.
    let mut most: Vec<KeyDrop> = (0..MAX_KEY_DROPS)
        .map(|_| KeyDrop {
            device: Uuid::now_v7(),
            sealed: random_bytes(MAX_KEY_DROP_BYTES),
        })
        .collect();
    most[0].device = ben.device_id;
    most[1].device = tablet.device_id;
    ada.put_key_drops(space, 2, &most).await.unwrap();
    assert_eq!(stored_in_all(&relay), 2);
}
