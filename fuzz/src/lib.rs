//! What the fuzz targets share: the round-trip check for wire types, the bundle file's
//! layout (mirrored from duet-core, which keeps it private) and a throwaway home.

use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Decode `data` as a `T` the way both ends of the wire do (`duet_proto::from_cbor`). When
/// it decodes, encoding the value and decoding that again must give the same value (what
/// one end sends the other reads back unchanged), and the encoding with a byte appended
/// must not decode.
pub fn cbor_round_trip<T>(data: &[u8]) -> Option<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let v: T = duet_proto::from_cbor(data).ok()?;
    let bytes = duet_proto::to_cbor(&v);
    let back: T = match duet_proto::from_cbor(&bytes) {
        Ok(b) => b,
        Err(e) => panic!("{v:?} encodes to CBOR that doesn't decode: {e}"),
    };
    assert_eq!(v, back, "CBOR round trip changed the value");
    // Exactly one item: a body with anything after it is malformed (issue 10).
    let mut longer = bytes;
    longer.push(0);
    assert!(
        duet_proto::from_cbor::<T>(&longer).is_err(),
        "{v:?} decodes with a trailing byte"
    );
    Some(v)
}

/// The bundle file after its `DUETBNDL` magic (duet-core's `engine::bundle::BundleFile`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleFile {
    pub version: u32,
    #[serde(with = "serde_bytes")]
    pub space: [u8; 16],
    pub keys: Vec<BundleKey>,
    pub blobs: Vec<SealedBlob>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleKey {
    pub epoch: u32,
    #[serde(with = "serde_bytes")]
    pub key: Vec<u8>,
}

/// A blob in a bundle (duet-core's `blob::SealedBlob`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealedBlob {
    #[serde(with = "serde_bytes")]
    pub id: [u8; 16],
    #[serde(with = "serde_bytes")]
    pub sealed: Vec<u8>,
}

impl BundleFile {
    pub fn parse(bytes: &[u8]) -> Option<BundleFile> {
        let rest = bytes.strip_prefix(duet_core::BUNDLE_MAGIC.as_slice())?;
        ciborium::from_reader(rest).ok()
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = duet_core::BUNDLE_MAGIC.to_vec();
        // Writing into a Vec can't fail.
        let _ = ciborium::into_writer(self, &mut out);
        out
    }
}

/// A fresh home with its Duet, in a temporary directory (on tmpfs when there is one), with
/// `Durability::Normal`: the targets test parsing, not fsync.
pub struct Home {
    pub duet: duet_core::Duet,
    _dir: tempfile::TempDir,
}

impl Home {
    pub fn new() -> Home {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() {
            tempfile::Builder::new().prefix("duet-fuzz").tempdir_in(shm)
        } else {
            tempfile::Builder::new().prefix("duet-fuzz").tempdir()
        }
        .expect("a temporary directory");
        let opts = duet_core::Options {
            durability: duet_core::Durability::Normal,
            ..Default::default()
        };
        let duet =
            duet_core::Duet::init(dir.path().join("home"), "Fuzz", opts).expect("a new home");
        Home { duet, _dir: dir }
    }
}

impl Default for Home {
    fn default() -> Self {
        Self::new()
    }
}

/// Import `bundle` into `duet` and check what an import promises: a refused bundle changes
/// nothing (no journal, no entry, no outbox blob), an accepted one imported a second time
/// adds and changes nothing. Returns whether it was accepted (the home has changed).
pub fn check_import(duet: &duet_core::Duet, bundle: &[u8]) -> bool {
    let before = state(duet);
    match duet.import_bundle(bundle) {
        Err(_) => {
            assert_eq!(state(duet), before, "a refused bundle changed the home");
            false
        }
        Ok(first) => {
            let again = duet
                .import_bundle(bundle)
                .expect("a bundle that imported once imports again");
            assert_eq!(again.journal, first.journal);
            assert!(
                !again.new_journal,
                "the journal is there after the first import"
            );
            assert_eq!(
                (again.entries_added, again.entries_changed),
                (0, 0),
                "importing a bundle twice changed something the second time"
            );
            true
        }
    }
}

/// What an import may change, cheaply: the journals, their entries, the outbox.
fn state(duet: &duet_core::Duet) -> (Vec<(duet_core::SpaceId, usize)>, u64) {
    let journals = duet
        .journals()
        .expect("listing journals")
        .into_iter()
        .map(|j| {
            let n = duet
                .all_entries(&j.id)
                .map(|e| e.len())
                .unwrap_or(usize::MAX);
            (j.id, n)
        })
        .collect();
    (journals, duet.outbox_len().expect("the outbox"))
}
