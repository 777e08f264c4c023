//! A space's meta document. Layout (root map):
//!
//! ```text
//! v: 1     kind: "journal" | "personal"     title: str     created_at: ms
//! members: { member id: { name, colour } }
//! devices: { device id: member id }
//! relay_devices: { relay device id: member id }
//! exchange_keys: { relay device id: X25519 public key (32 bytes) }   (keydrop.rs)
//! recovery_kit: lookup id ‖ envelope key (48 bytes; personal space only)   (kit.rs)
//! settings: { checkin_cadence_days: int }
//! ```

use automerge::{AutoCommit, ObjType, ROOT, ReadDoc, ScalarValue, transaction::Transactable};

use super::{DOC_SCHEMA, ensure_map, get_bytes, get_int, get_obj, get_str};
use crate::clock::Millis;
use crate::error::{Error, Result};
use crate::ids::{DeviceId, MemberId};
use crate::model::{self, Member, SpaceKind};

/// Colours handed to members in join order, so the two partners differ.
const COLOURS: [&str; 6] = [
    "#E07A5F", "#3D85C6", "#81B29A", "#F2CC8F", "#9B5DE5", "#F15BB5",
];

pub(crate) const DEFAULT_CADENCE_DAYS: u32 = 7;

pub(crate) fn create(
    doc: &mut AutoCommit,
    kind: SpaceKind,
    title: &str,
    now: Millis,
) -> Result<()> {
    doc.put(ROOT, "v", DOC_SCHEMA)?;
    doc.put(ROOT, "kind", kind.as_str())?;
    doc.put(ROOT, "title", title)?;
    doc.put(ROOT, "created_at", ScalarValue::Timestamp(now))?;
    doc.put_object(ROOT, "members", ObjType::Map)?;
    doc.put_object(ROOT, "devices", ObjType::Map)?;
    let s = doc.put_object(ROOT, "settings", ObjType::Map)?;
    doc.put(&s, "checkin_cadence_days", DEFAULT_CADENCE_DAYS as i64)?;
    Ok(())
}

/// Add (or refresh) a member and one of their devices. Returns whether anything changed.
pub(crate) fn add_member(
    doc: &mut AutoCommit,
    member: &MemberId,
    name: &str,
    device: &DeviceId,
) -> Result<bool> {
    let mut changed = false;
    let members = ensure_map(doc, &ROOT, "members")?;
    let key = member.to_string();
    if get_obj(doc, &members, &key, ObjType::Map).is_none() {
        let n = doc.length(&members);
        let m = doc.put_object(&members, key.as_str(), ObjType::Map)?;
        doc.put(&m, "name", name)?;
        doc.put(&m, "colour", COLOURS[n % COLOURS.len()])?;
        changed = true;
    }
    let devices = ensure_map(doc, &ROOT, "devices")?;
    if get_str(doc, &devices, &device.to_string()).as_deref() != Some(key.as_str()) {
        doc.put(&devices, device.to_string(), key.as_str())?;
        changed = true;
    }
    Ok(changed)
}

pub(crate) fn kind(doc: &AutoCommit) -> Result<SpaceKind> {
    model::space_kind(&get_str(doc, &ROOT, "kind").unwrap_or_default())
}

pub(crate) fn title(doc: &AutoCommit) -> String {
    get_str(doc, &ROOT, "title").unwrap_or_default()
}

pub(crate) fn set_title(doc: &mut AutoCommit, title: &str) -> Result<()> {
    doc.put(ROOT, "title", title)?;
    Ok(())
}

pub(crate) fn created_at(doc: &AutoCommit) -> Millis {
    get_int(doc, &ROOT, "created_at").unwrap_or(0)
}

pub(crate) fn cadence_days(doc: &AutoCommit) -> u32 {
    get_obj(doc, &ROOT, "settings", ObjType::Map)
        .and_then(|s| get_int(doc, &s, "checkin_cadence_days"))
        .and_then(|d| u32::try_from(d).ok())
        .unwrap_or(DEFAULT_CADENCE_DAYS)
}

pub(crate) fn set_cadence_days(doc: &mut AutoCommit, days: u32) -> Result<()> {
    let s = ensure_map(doc, &ROOT, "settings")?;
    doc.put(&s, "checkin_cadence_days", days as i64)?;
    Ok(())
}

pub(crate) fn members(doc: &AutoCommit) -> Vec<Member> {
    let Some(map) = get_obj(doc, &ROOT, "members", ObjType::Map) else {
        return Vec::new();
    };
    let mut out: Vec<Member> = doc
        .keys(&map)
        .filter_map(|k| {
            let m = get_obj(doc, &map, &k, ObjType::Map)?;
            Some(Member {
                id: k.parse().ok()?,
                name: get_str(doc, &m, "name").unwrap_or_default(),
                colour: get_str(doc, &m, "colour").unwrap_or_default(),
            })
        })
        .collect();
    out.sort_by_key(|m| m.id);
    out
}

pub(crate) fn devices(doc: &AutoCommit) -> Vec<(DeviceId, MemberId)> {
    let Some(map) = get_obj(doc, &ROOT, "devices", ObjType::Map) else {
        return Vec::new();
    };
    doc.keys(&map)
        .filter_map(|k| Some((k.parse().ok()?, get_str(doc, &map, &k)?.parse().ok()?)))
        .collect()
}

pub(crate) fn check_kind(doc: &AutoCommit, expected: SpaceKind) -> Result<()> {
    let k = kind(doc)?;
    if k != expected {
        return Err(Error::CorruptData(format!(
            "space is a {} space, expected {}",
            k.as_str(),
            expected.as_str()
        )));
    }
    Ok(())
}

/// Record a journal key in a person's key ring (kept in their personal space's meta
/// document, so their other devices learn every journal key by syncing that space).
pub(crate) fn keyring_put(
    doc: &mut AutoCommit,
    space: &crate::ids::SpaceId,
    epoch: crate::crypto::Epoch,
    key: &crate::crypto::SpaceKey,
) -> Result<bool> {
    let ring = ensure_map(doc, &ROOT, "keyring")?;
    let per = ensure_map(doc, &ring, &space.to_string())?;
    let e = epoch.to_string();
    let have = match doc.get(&per, e.as_str()).ok().flatten() {
        Some((automerge::Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Bytes(b) => b.as_slice() == key.as_bytes().as_slice(),
            _ => false,
        },
        _ => false,
    };
    if !have {
        doc.put(
            &per,
            e.as_str(),
            ScalarValue::Bytes(key.as_bytes().to_vec()),
        )?;
    }
    Ok(!have)
}

/// Every key in a person's key ring.
pub(crate) fn keyring(
    doc: &AutoCommit,
) -> Vec<(
    crate::ids::SpaceId,
    crate::crypto::Epoch,
    crate::crypto::SpaceKey,
)> {
    let Some(ring) = get_obj(doc, &ROOT, "keyring", ObjType::Map) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for s in doc.keys(&ring) {
        let (Ok(space), Some(per)) = (s.parse(), get_obj(doc, &ring, &s, ObjType::Map)) else {
            continue;
        };
        for e in doc.keys(&per) {
            let Ok(epoch) = e.parse() else { continue };
            if let Some((automerge::Value::Scalar(v), _)) = doc.get(&per, e.as_str()).ok().flatten()
                && let ScalarValue::Bytes(b) = v.as_ref()
                && let Ok(k) = crate::crypto::SpaceKey::from_bytes(b)
            {
                out.push((space, epoch, k));
            }
        }
    }
    out
}

/// Note which person a relay device id belongs to (so a member can be removed on the relay
/// and a person's new devices can be added to their spaces).
pub(crate) fn add_relay_device(
    doc: &mut AutoCommit,
    relay_device: &uuid::Uuid,
    member: &MemberId,
) -> Result<bool> {
    let map = ensure_map(doc, &ROOT, "relay_devices")?;
    let key = relay_device.to_string();
    if get_str(doc, &map, &key).as_deref() == Some(member.to_string().as_str()) {
        return Ok(false);
    }
    doc.put(&map, key.as_str(), member.to_string())?;
    Ok(true)
}

pub(crate) fn relay_devices(doc: &AutoCommit) -> Vec<(uuid::Uuid, MemberId)> {
    let Some(map) = get_obj(doc, &ROOT, "relay_devices", ObjType::Map) else {
        return Vec::new();
    };
    doc.keys(&map)
        .filter_map(|k| Some((k.parse().ok()?, get_str(doc, &map, &k)?.parse().ok()?)))
        .collect()
}

/// Publish a relay device's exchange public key (key drops for it are sealed to it). Only
/// the device itself writes its entry; returns whether anything changed.
pub(crate) fn put_exchange_key(
    doc: &mut AutoCommit,
    relay_device: &uuid::Uuid,
    public: &[u8; 32],
) -> Result<bool> {
    let map = ensure_map(doc, &ROOT, "exchange_keys")?;
    let key = relay_device.to_string();
    if get_bytes(doc, &map, &key).as_deref() == Some(public.as_slice()) {
        return Ok(false);
    }
    doc.put(&map, key.as_str(), ScalarValue::Bytes(public.to_vec()))?;
    Ok(true)
}

/// The exchange public key a relay device published here, if any.
pub(crate) fn exchange_key(doc: &AutoCommit, relay_device: &uuid::Uuid) -> Option<[u8; 32]> {
    let map = get_obj(doc, &ROOT, "exchange_keys", ObjType::Map)?;
    get_bytes(doc, &map, &relay_device.to_string())?
        .try_into()
        .ok()
}

/// Mark a member as removed from the space (kept in the member list for authorship).
pub(crate) fn mark_removed(doc: &mut AutoCommit, member: &MemberId, at: Millis) -> Result<()> {
    let map = ensure_map(doc, &ROOT, "removed")?;
    doc.put(&map, member.to_string(), ScalarValue::Timestamp(at))?;
    Ok(())
}

pub(crate) fn removed(doc: &AutoCommit) -> Vec<MemberId> {
    let Some(map) = get_obj(doc, &ROOT, "removed", ObjType::Map) else {
        return Vec::new();
    };
    doc.keys(&map).filter_map(|k| k.parse().ok()).collect()
}

/// The person's recovery kit, as every device of theirs holds it (personal space only):
/// one value, so two kits made at once never mix.
pub(crate) fn recovery_kit(doc: &AutoCommit) -> Option<crate::kit::SharedKit> {
    crate::kit::SharedKit::from_bytes(&get_bytes(doc, &ROOT, "recovery_kit")?)
}

/// Note the person's kit (`None`: there is none any more).
pub(crate) fn set_recovery_kit(
    doc: &mut AutoCommit,
    kit: Option<&crate::kit::SharedKit>,
) -> Result<()> {
    match kit {
        Some(k) => doc.put(
            &ROOT,
            "recovery_kit",
            ScalarValue::Bytes(k.to_bytes().to_vec()),
        )?,
        None => {
            if get_bytes(doc, &ROOT, "recovery_kit").is_some() {
                doc.delete(&ROOT, "recovery_kit")?;
            }
        }
    }
    Ok(())
}
