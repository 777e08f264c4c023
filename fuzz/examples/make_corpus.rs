//! Writes the seed corpora in fuzz/corpus/<target>/: a few valid inputs per target, made
//! the way the real code makes them (a bundle exported by a real home, sealed blobs, codes,
//! frames, request and response bodies). Run from fuzz/: `cargo run --example make_corpus`.
//! Seeds are named `seed-<what>`; running it again replaces them (ids and nonces are fresh).

use std::path::{Path, PathBuf};

use ciborium::Value;
use duet_core::crypto::{self, SpaceKey};
use duet_core::{CheckIn, Duet, EntryKind, NewEntry, SpaceId, TextField, fuzzing};
use duet_fuzz::{BundleFile, Home};
use duet_proto::live::{ClientFrame, ServerFrame};
use duet_proto::*;
use uuid::Uuid;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let blob_id = [0x42; 16];
    let key = SpaceKey::generate();
    let space = SpaceId::new();
    let sealed = crypto::seal(
        &key,
        1,
        &space,
        &blob_id,
        b"\xa3cdocP0123456789abcdefdkindeentryddata\x40",
    )
    .expect("sealing");
    let space_id = Uuid::now_v7();
    let device_id = Uuid::now_v7();
    let log_blob = LogBlob {
        seq: 7,
        id: blob_id.to_vec(),
        data: sealed.clone(),
    };

    // wire: request and response bodies.
    let w = |name: &str, bytes: Vec<u8>| put(&root, "wire", name, &bytes);
    w(
        "create_space",
        to_cbor(&CreateSpace {
            space_id,
            kind: SpaceKind::Personal,
        }),
    );
    w(
        "create_invite",
        to_cbor(&CreateInvite {
            invite_id: Uuid::now_v7(),
            token_hash: vec![0xab; 32],
            wrapped_key: vec![0xcd; 120],
            ttl_secs: Some(3600),
            kind: InviteKind::Device,
        }),
    );
    w(
        "join_invite",
        to_cbor(&JoinInvite {
            token: vec![0x11; 32],
        }),
    );
    w("add_member", to_cbor(&AddMember { device_id }));
    w("key_epoch", to_cbor(&KeyEpoch { epoch: 2 }));
    w(
        "snapshot",
        to_cbor(&Snapshot {
            seq: 12,
            data: sealed.clone(),
        }),
    );
    w(
        "push",
        to_cbor(&Push {
            blobs: vec![
                PushBlob {
                    id: blob_id.to_vec(),
                    data: sealed.clone(),
                },
                PushBlob {
                    id: vec![0x43; 16],
                    data: sealed[..20].to_vec(),
                },
            ],
        }),
    );
    w(
        "registered",
        to_cbor(&Registered {
            device_id,
            token: "duet_abcdefghijklmnopqrstuvwxyz012345".into(),
        }),
    );
    w(
        "whoami",
        to_cbor(&WhoAmI {
            device_id,
            person: Uuid::now_v7(),
        }),
    );
    let info = SpaceInfo {
        space_id,
        members: vec![device_id, Uuid::now_v7()],
        head: 42,
        persons: vec![Uuid::now_v7(), Uuid::now_v7()],
        kind: SpaceKind::Journal,
        key_epoch: 1,
    };
    w("space_info", to_cbor(&info));
    w("space_list", to_cbor(&SpaceList { spaces: vec![info] }));
    w(
        "invite_created",
        to_cbor(&InviteCreated {
            invite_id: Uuid::now_v7(),
            expires_at: 1_900_000_000,
        }),
    );
    w(
        "joined",
        to_cbor(&Joined {
            space_id,
            wrapped_key: vec![0xcd; 120],
        }),
    );
    w(
        "pushed",
        to_cbor(&Pushed {
            seqs: vec![1, 2, 3],
            head: 3,
        }),
    );
    w(
        "pulled",
        to_cbor(&Pulled {
            blobs: vec![log_blob.clone()],
            head: 9,
            more: true,
            snapshot: Some(Snapshot {
                seq: 6,
                data: sealed.clone(),
            }),
        }),
    );
    w("log_blob", to_cbor(&log_blob));
    w(
        "error_body.json",
        serde_json::to_vec(&ErrorBody {
            code: ErrorCode::QuotaExceeded,
            message: "the space's storage quota is used up".into(),
        })
        .expect("json"),
    );

    // live_frame.
    let l = |name: &str, bytes: Vec<u8>| put(&root, "live_frame", name, &bytes);
    l(
        "auth",
        to_cbor(&ClientFrame::Auth {
            token: "duet_abcdefghijklmnopqrstuvwxyz012345".into(),
        }),
    );
    l("ready", to_cbor(&ServerFrame::Ready { device_id }));
    l(
        "new_inline",
        to_cbor(&ServerFrame::New {
            space_id,
            seq: 7,
            blob: Some(log_blob),
        }),
    );
    l(
        "new",
        to_cbor(&ServerFrame::New {
            space_id,
            seq: 8,
            blob: None,
        }),
    );
    l(
        "error",
        to_cbor(&ServerFrame::Error {
            code: ErrorCode::DeviceRevoked,
            message: "revoked".into(),
        }),
    );

    // sealed_header: a sealed blob, one under a later epoch, a truncated one, another version.
    let s = |name: &str, bytes: &[u8]| put(&root, "sealed_header", name, bytes);
    s("sealed", &sealed);
    s(
        "sealed_epoch_3",
        &crypto::seal(&key, 3, &space, &blob_id, b"hello").expect("sealing"),
    );
    s("truncated", &sealed[..44]);
    let mut v2 = sealed.clone();
    v2[0] = 2;
    s("version_2", &v2);

    // invite_code: codes and URIs as Duet prints them.
    let (invite, secret) = (Uuid::now_v7(), [0x5a; 16]);
    let code = fuzzing::invite_code(invite, secret);
    let i = |name: &str, bytes: &[u8]| put(&root, "invite_code", name, bytes);
    i("code", code.as_bytes());
    i("code_lower", code.to_lowercase().as_bytes());
    i(
        "uri",
        fuzzing::invite_uri(
            invite,
            secret,
            "https://relay.example.net:8443/duet?x=1&y=2",
        )
        .as_bytes(),
    );
    i(
        "uri_loopback",
        fuzzing::invite_uri(invite, secret, "http://127.0.0.1:8787/").as_bytes(),
    );
    // A wrapped invite's plaintext: a device link into a personal space, with one journal.
    let payload = Value::Map(vec![
        (txt("space"), bytes(Uuid::now_v7().as_bytes())),
        (txt("kind"), txt("personal")),
        (
            txt("keys"),
            Value::Array(vec![
                Value::Map(vec![
                    (txt("epoch"), Value::from(1)),
                    (txt("key"), bytes(&[3; 32])),
                ]),
                Value::Map(vec![
                    (txt("epoch"), Value::from(2)),
                    (txt("key"), bytes(&[4; 32])),
                ]),
            ]),
        ),
        (
            txt("person"),
            Value::Map(vec![
                (txt("member"), bytes(Uuid::now_v7().as_bytes())),
                (txt("name"), txt("Ada")),
                (txt("personal_space"), bytes(Uuid::now_v7().as_bytes())),
            ]),
        ),
        (
            txt("journals"),
            Value::Array(vec![Value::Map(vec![
                (txt("invite"), bytes(Uuid::now_v7().as_bytes())),
                (txt("secret"), bytes(&[6; 16])),
            ])]),
        ),
    ]);
    let payload = cbor(&payload);
    assert_eq!(
        fuzzing::decode_invite_payload(&payload).expect("the payload decodes"),
        2
    );
    i("wrapped_payload", &payload);

    // bundle, bundle_plain, blob_payload: journals exported by a real home.
    let ada = Home::new();
    let small = ada.duet.create_journal("Us").expect("a journal");
    let big = ada.duet.create_journal("Ada & Ben").expect("a journal");
    fill(&ada.duet, &big);
    for (name, journal) in [("small", small), ("journal", big)] {
        let bundle = ada.duet.export_bundle(&journal).expect("export");
        // The seeds must be what the targets accept: check them as the targets do.
        let fresh = Home::new();
        assert!(
            duet_fuzz::check_import(&fresh.duet, &bundle),
            "the exported bundle imports"
        );
        put(&root, "bundle", name, &bundle);

        let mut plain = BundleFile::parse(&bundle).expect("a bundle");
        let space = SpaceId::from_bytes(plain.space);
        let key = SpaceKey::from_bytes(&plain.keys[0].key).expect("a key");
        let mut payloads = Vec::new();
        for b in &mut plain.blobs {
            b.sealed = crypto::open(&key, &space, &b.id, &b.sealed).expect("opens");
            put(
                &root,
                "blob_payload",
                &format!("{name}_payload_{}", payloads.len()),
                &b.sealed,
            );
            payloads.push(ciborium::from_reader::<Value, _>(b.sealed.as_slice()).expect("cbor"));
        }
        put(&root, "bundle_plain", name, &plain.to_bytes());
        // A snapshot's plaintext (every document's payload) and the snapshot as pulled.
        let list = cbor(&Value::Array(payloads));
        put(
            &root,
            "blob_payload",
            &format!("{name}_snapshot_plain"),
            &list,
        );
        let snap = fuzzing::seal_snapshot(&key, 1, &space, blob_id, &list).expect("sealing");
        put(&root, "blob_payload", &format!("{name}_snapshot"), &snap);
    }
    println!("corpora written under {}", root.display());
}

/// A journal with one entry of each kind and the edits that make its documents interesting.
fn fill(duet: &Duet, journal: &SpaceId) {
    let e = duet
        .create_entry(
            journal,
            NewEntry {
                kind: Some(EntryKind::Reflection),
                title: "Sunday".into(),
                body: "We walked to the lake — and talked. 🌊".into(),
                tags: vec!["walks".into(), "us".into()],
                ..Default::default()
            },
        )
        .expect("an entry");
    duet.splice_text(&e, TextField::Body, 3, 6, "drove")
        .expect("a splice");
    duet.react(&e, "❤️").expect("a reaction");
    let r = duet.reply(&e, "Let's do it again").expect("a reply");
    duet.edit_reply(&e, &r, "Let's do it again soon")
        .expect("an edit");
    duet.check_in(
        journal,
        CheckIn {
            mood: 4,
            closeness: 5,
            needs: "sleep".into(),
            gratitude: "the soup".into(),
        },
    )
    .expect("a check-in");
    let c = duet
        .create_entry(
            journal,
            NewEntry {
                kind: Some(EntryKind::Conflict),
                title: "Dishes".into(),
                perspective: Some("I did them twice".into()),
                ..Default::default()
            },
        )
        .expect("a conflict");
    duet.set_text(&c, TextField::Agreement, "Alternate days")
        .expect("an agreement");
    let d = duet
        .create_entry(
            journal,
            NewEntry {
                kind: Some(EntryKind::Appreciation),
                title: "Thanks".into(),
                ..Default::default()
            },
        )
        .expect("an entry");
    duet.delete_entry(&d).expect("a delete");
}

fn txt(s: &str) -> Value {
    Value::Text(s.into())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).expect("encoding");
    out
}

/// Write one seed, `corpus/<target>/seed-<name>`.
fn put(root: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = root.join(target);
    std::fs::create_dir_all(&dir).expect("the corpus directory");
    std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("writing a seed");
}
