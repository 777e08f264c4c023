//! The `LISTEN`/`NOTIFY` feed between relay nodes: the wire format of a notification
//! (compact JSON: the sending node and what happened, small blobs inline as base64) and the
//! task that listens and hands other nodes' events to this node's hub. Sent inside the
//! writing transaction, so an event goes out exactly when its change commits.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use duet_proto::LogBlob;
use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::storage::NodeEvent;

/// The `LISTEN`/`NOTIFY` channel the nodes share.
pub(super) const CHANNEL: &str = "duet_relay";
/// PostgreSQL refuses a `NOTIFY` payload of 8,000 bytes or more; inline blobs stop well
/// before (base64 grows them by a third).
const PAYLOAD_BUDGET: usize = 7_000;

/// A `NOTIFY` payload: the node that sent it and what happened.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Envelope {
    pub n: Uuid,
    pub e: Wire,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "t")]
pub(super) enum Wire {
    /// `s`pace, `f`rom, seqs `a..=b`, `i`nline blobs as (seq, base64 id, base64 data).
    #[serde(rename = "a")]
    Appended {
        s: Uuid,
        f: Uuid,
        a: u64,
        b: u64,
        i: Vec<(u64, String, String)>,
    },
    #[serde(rename = "j")]
    Joined { s: Uuid, d: Uuid },
    #[serde(rename = "l")]
    Left { s: Uuid, d: Uuid },
    #[serde(rename = "r")]
    Revoked { d: Uuid },
}

impl Wire {
    /// An append's event: its blobs inline while they fit the payload budget. (Appends
    /// number their fresh blobs consecutively, so a range names them all.)
    pub(super) fn appended(
        space: Uuid,
        from: Uuid,
        fresh: &[LogBlob],
        inline_max: usize,
    ) -> Option<Wire> {
        let (first, last) = (fresh.first()?.seq, fresh.last()?.seq);
        let mut budget = PAYLOAD_BUDGET;
        let mut inline = Vec::new();
        for b in fresh {
            if b.data.len() > inline_max {
                break;
            }
            let cost = (b.data.len() + b.id.len()) * 4 / 3 + 32;
            if cost > budget {
                break;
            }
            budget -= cost;
            inline.push((b.seq, B64.encode(&b.id), B64.encode(&b.data)));
        }
        Some(Wire::Appended {
            s: space,
            f: from,
            a: first,
            b: last,
            i: inline,
        })
    }

    pub(super) fn into_event(self) -> Option<NodeEvent> {
        Some(match self {
            Wire::Appended { s, f, a, b, i } => {
                let inline = i
                    .into_iter()
                    .map(|(seq, id, data)| {
                        Some(LogBlob {
                            seq,
                            id: B64.decode(id).ok()?,
                            data: B64.decode(data).ok()?,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                NodeEvent::Appended {
                    space: s,
                    from: f,
                    seqs: (a..=b).collect(),
                    inline,
                }
            }
            Wire::Joined { s, d } => NodeEvent::Joined {
                space: s,
                device: d,
            },
            Wire::Left { s, d } => NodeEvent::Left {
                space: s,
                device: d,
            },
            Wire::Revoked { d } => NodeEvent::Revoked { device: d },
        })
    }
}

pub(super) async fn new_listener(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Feed `LISTEN` notifications from other nodes to `tx` until the receiver goes away.
/// sqlx reconnects a lost listener (and listens again); what was sent meanwhile is lost,
/// so a `Gap` tells the hub to make its connections start over.
pub(super) async fn listen_forever(
    pool: PgPool,
    mut listener: PgListener,
    node: Uuid,
    tx: mpsc::Sender<NodeEvent>,
) {
    loop {
        let event = match listener.try_recv().await {
            Ok(Some(n)) => match serde_json::from_str::<Envelope>(n.payload()) {
                Ok(env) if env.n == node => continue,
                Ok(env) => match env.e.into_event() {
                    Some(e) => e,
                    None => {
                        tracing::warn!("ignoring a malformed relay event");
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "ignoring a malformed relay event");
                    continue;
                }
            },
            Ok(None) => {
                tracing::warn!("lost the PostgreSQL event listener; reconnecting");
                NodeEvent::Gap
            }
            Err(e) => {
                // Lost, and reconnecting failed too (the database is down?). Close the
                // live connections now, and again once listening works: clients that got
                // back in between must pull what was announced before we heard again.
                tracing::warn!(error = %e, "PostgreSQL event listener failed; retrying");
                if tx.send(NodeEvent::Gap).await.is_err() {
                    return;
                }
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if tx.is_closed() {
                        return;
                    }
                    if let Ok(l) = new_listener(&pool).await {
                        listener = l;
                        tracing::info!("PostgreSQL event listener back");
                        break;
                    }
                }
                NodeEvent::Gap
            }
        };
        if tx.send(event).await.is_err() {
            return;
        }
    }
}
