//! Test fixtures for the sync modules' unit tests: homes, entries, key rotation, sealed
//! blobs and log pages, and a stand-in relay — a hand-written HTTP/1.1 server on 127.0.0.1
//! that answers each request with a closure, for the paths a test needs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use duet_proto::ErrorCode as RelayCode;

use crate::blob::{self, SealedBlob};
use crate::crypto::{Epoch, SpaceKey};
use crate::engine::Duet;
use crate::ids::SpaceId;
use crate::model::NewEntry;

pub(super) use crate::testing::home;

pub(super) fn entry(duet: &Duet, space: &SpaceId, body: &str) {
    let new = NewEntry {
        body: body.into(),
        ..NewEntry::default()
    };
    duet.create_entry(space, new).unwrap();
}

/// Rotate a space's key here, as `remove_member` does; returns the new epoch and key.
pub(super) fn rotate(duet: &Duet, space: &SpaceId) -> (Epoch, SpaceKey) {
    duet.write(|tx| {
        let (epoch, _) = tx.key(space)?;
        let key = SpaceKey::generate();
        tx.put_key(space, epoch + 1, &key)?;
        Ok((epoch + 1, key))
    })
    .unwrap()
}

pub(super) fn key_at(duet: &Duet, space: &SpaceId, epoch: Epoch) -> SpaceKey {
    duet.read(|tx| tx.key_at(space, epoch)).unwrap().unwrap()
}

pub(super) fn open(key: &SpaceKey, space: &SpaceId, id: &[u8], sealed: &[u8]) -> blob::Payload {
    let b = SealedBlob {
        id: id.try_into().unwrap(),
        sealed: sealed.to_vec(),
    };
    blob::open(key, space, &b).unwrap()
}

/// A page of the journal's log: the meta document's state sealed under each epoch.
pub(super) fn log_blob(
    duet: &Duet,
    space: &SpaceId,
    epoch: Epoch,
    seq: u64,
) -> duet_proto::LogBlob {
    let key = key_at(duet, space, epoch);
    let data = duet
        .read(|tx| {
            let m = tx.meta_ref(space)?;
            Ok(tx.doc(m.rowid)?.save())
        })
        .unwrap();
    let b = blob::seal(
        &key,
        epoch,
        space,
        &blob::Payload {
            doc: *space.as_bytes(),
            kind: blob::DocKind::Meta,
            data,
            index: None,
        },
    )
    .unwrap();
    duet_proto::LogBlob {
        seq,
        id: b.id.to_vec(),
        data: b.sealed,
    }
}

pub(super) fn page(blobs: Vec<duet_proto::LogBlob>) -> duet_proto::Pulled {
    duet_proto::Pulled {
        head: blobs.last().map(|b| b.seq).unwrap_or(0),
        blobs,
        more: false,
        snapshot: None,
    }
}

// ---- a stand-in relay ----

/// Answers one request: `(method, path from "v1/", bearer token, body)` -> (status, body).
pub(super) type Handler = dyn Fn(&str, &str, Option<&str>, &[u8]) -> (u16, Vec<u8>) + Send + Sync;

/// A stand-in relay on 127.0.0.1: `handle(method, path from "v1/", bearer token, body)`
/// answers each request (one per connection). Returns its base URL.
pub(super) fn relay(handle: Arc<Handler>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { break };
            serve(conn, &*handle);
        }
    });
    format!("http://127.0.0.1:{port}/")
}

fn serve(mut conn: TcpStream, handle: &Handler) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let (mut token, mut len) = (None, 0usize);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if lower.starts_with("authorization: bearer ") {
            token = Some(h["authorization: bearer ".len()..].trim().to_string());
        } else if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    // Another name for the same relay may carry a path prefix.
    let path = target.find("v1/").map(|i| &target[i..]).unwrap_or("");
    let (status, out) = handle(&method, path, token.as_deref(), &body);
    let ctype = if status < 300 {
        "application/cbor"
    } else {
        "application/json"
    };
    let _ = write!(
        conn,
        "HTTP/1.1 {status} X\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        out.len()
    );
    let _ = conn.write_all(&out);
}

/// A refusal as the relay words it: the code's HTTP status and its JSON body.
pub(super) fn refused(code: RelayCode) -> (u16, Vec<u8>) {
    let body = duet_proto::ErrorBody {
        code,
        message: "no".into(),
    };
    (code.http_status(), serde_json::to_vec(&body).unwrap())
}
