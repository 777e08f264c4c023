//! The relay killed with SIGKILL in the middle of bursts of pushes from several concurrent
//! clients: after a restart on the same data directory every push it acknowledged is there
//! with the same sequence numbers and bytes, each log is gap-free from 1 to its head, and
//! the clients carry on (their unacknowledged pushes retried idempotently). Also: SIGTERM
//! shuts down gracefully.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use duet_e2e::relay::{Client, ClientError, LiveEvent, RelayProcess, random_blob};
use duet_proto::live::ServerFrame;
use duet_proto::{ErrorCode, PushBlob};
use rand::Rng;
use uuid::Uuid;

const CLIENTS: usize = 4;
const ROUNDS: usize = 4;

/// What one client pushed in a burst: the acknowledged blobs with their seqs, and the
/// batch that got no answer because the relay died under it.
#[derive(Default)]
struct Burst {
    acked: Vec<(Uuid, PushBlob, u64)>,
    unsure: Vec<(Uuid, Vec<PushBlob>)>,
    pushes: usize,
}

/// Push random batches (to the shared space or the client's own) until the relay stops
/// answering.
async fn burst(client: Client, spaces: [Uuid; 2], stop: Arc<AtomicBool>) -> Burst {
    let mut out = Burst::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let (space, batch) = {
            let mut rng = rand::thread_rng();
            let space = spaces[usize::from(rng.gen_bool(0.3))];
            let n = rng.gen_range(1..=12);
            let batch: Vec<PushBlob> = (0..n)
                .map(|_| random_blob(rng.gen_range(1..=3000)))
                .collect();
            (space, batch)
        };
        match client.push(space, &batch).await {
            Ok(pushed) => {
                assert_eq!(pushed.seqs.len(), batch.len());
                out.pushes += 1;
                for (blob, seq) in batch.into_iter().zip(pushed.seqs) {
                    assert!(seq >= 1 && seq <= pushed.head);
                    out.acked.push((space, blob, seq));
                }
            }
            Err(ClientError::Transport(_)) => {
                out.unsure.push((space, batch));
                break;
            }
            Err(e) => panic!("push failed with a typed error while the relay ran: {e}"),
        }
    }
    out
}

/// Everything the clients know: acknowledged blobs (id → space, seq, bytes) and every blob
/// ever sent (id → space, bytes).
#[derive(Default)]
struct Ledger {
    acked: HashMap<Vec<u8>, (Uuid, u64, Vec<u8>)>,
    sent: HashMap<Vec<u8>, (Uuid, Vec<u8>)>,
}

impl Ledger {
    fn ack(&mut self, space: Uuid, blob: &PushBlob, seq: u64) {
        if let Some(prev) = self.acked.get(&blob.id) {
            assert_eq!(
                (prev.0, prev.1),
                (space, seq),
                "a blob acknowledged twice with different seqs"
            );
        }
        self.sent
            .insert(blob.id.clone(), (space, blob.data.clone()));
        self.acked
            .insert(blob.id.clone(), (space, seq, blob.data.clone()));
    }

    fn sent(&mut self, space: Uuid, blob: &PushBlob) {
        self.sent
            .insert(blob.id.clone(), (space, blob.data.clone()));
    }
}

/// Check every log against the ledger; returns the seq of each stored blob by id.
async fn verify(
    readers: &[(Uuid, Client)],
    ledger: &Ledger,
    round: usize,
) -> HashMap<Vec<u8>, u64> {
    let mut stored = HashMap::new();
    for (space, reader) in readers {
        let log = reader.pull_all(*space).await.unwrap();
        let head = reader.space(*space).await.unwrap().head;
        let seqs: Vec<u64> = log.iter().map(|b| b.seq).collect();
        assert_eq!(
            seqs,
            (1..=head).collect::<Vec<_>>(),
            "round {round}: the log of {space} is not gap-free 1..={head}"
        );
        for b in &log {
            let (sent_space, sent_data) = ledger
                .sent
                .get(&b.id)
                .unwrap_or_else(|| panic!("round {round}: seq {} is a blob nobody sent", b.seq));
            assert_eq!(
                *sent_space, *space,
                "round {round}: a blob in the wrong space"
            );
            assert!(
                *sent_data == b.data,
                "round {round}: seq {} holds other bytes than were sent",
                b.seq
            );
            stored.insert(b.id.clone(), b.seq);
        }
    }
    // Every acknowledged blob is there, at the seq it was acknowledged with (and with the
    // bytes sent: checked above, as `sent` holds the acknowledged bytes).
    for (id, (space, seq, data)) in &ledger.acked {
        assert_eq!(
            stored.get(id),
            Some(seq),
            "round {round}: an acknowledged blob of {space} is missing or moved"
        );
        assert_eq!(ledger.sent.get(id).map(|s| &s.1), Some(data));
    }
    stored
}

/// What the clients pushed and got no answer for (per client), pushed again: blobs the relay
/// had stored get the seqs they were stored with; the others are appended now.
async fn retry_unanswered(
    clients: &[Client],
    unsure: &mut [Vec<(Uuid, Vec<PushBlob>)>],
    stored: &HashMap<Vec<u8>, u64>,
    ledger: &mut Ledger,
    when: &str,
) {
    for (c, unanswered) in clients.iter().zip(unsure) {
        for (space, batch) in std::mem::take(unanswered) {
            let pushed = c.push(space, &batch).await.unwrap();
            for (blob, seq) in batch.iter().zip(&pushed.seqs) {
                if let Some(was) = stored.get(&blob.id) {
                    assert_eq!(was, seq, "{when}: a retry moved a stored blob");
                }
                ledger.ack(space, blob, *seq);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_pushes_survive_sigkill() {
    // No rate limit in the way of bursts.
    let mut relay = RelayProcess::temp_with(&["--pushes-per-minute", "1000000"]);
    let base = relay.url();

    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(Client::register(&base).await.unwrap());
    }
    let shared = clients[0].new_space().await.unwrap();
    let mut own = Vec::new();
    for c in &clients[1..] {
        clients[0].admit_own_device(shared, c).await.unwrap();
    }
    for c in &clients {
        own.push(c.new_space().await.unwrap());
    }

    let mut ledger = Ledger::default();
    let mut unsure: Vec<Vec<(Uuid, Vec<PushBlob>)>> = vec![Vec::new(); CLIENTS];
    let mut stored: HashMap<Vec<u8>, u64> = HashMap::new();
    let mut total_acked_pushes = 0;
    for round in 1..=ROUNDS {
        let base = relay.url();
        clients = clients.iter().map(|c| c.at(&base)).collect();

        // Carry on: first retry what got no answer last round.
        let when = format!("round {round}");
        retry_unanswered(&clients, &mut unsure, &stored, &mut ledger, &when).await;

        // Bursts, and a SIGKILL in the middle of them.
        let stop = Arc::new(AtomicBool::new(false));
        let tasks: Vec<_> = clients
            .iter()
            .enumerate()
            .map(|(i, c)| tokio::spawn(burst(c.clone(), [shared, own[i]], stop.clone())))
            .collect();
        let kill_after = Duration::from_millis(rand::thread_rng().gen_range(150..400));
        tokio::time::sleep(kill_after).await;
        relay.kill_9();
        stop.store(true, Ordering::Relaxed);
        let mut acked_this_round = 0;
        for (i, t) in tasks.into_iter().enumerate() {
            let b = t.await.unwrap();
            acked_this_round += b.acked.len();
            total_acked_pushes += b.pushes;
            for (space, blob, seq) in &b.acked {
                ledger.ack(*space, blob, *seq);
            }
            for (space, batch) in &b.unsure {
                for blob in batch {
                    ledger.sent(*space, blob);
                }
            }
            unsure[i] = b.unsure;
        }
        assert!(
            acked_this_round > 0,
            "round {round}: no push was acknowledged before the kill"
        );

        relay.restart();
        let base = relay.url();
        clients = clients.iter().map(|c| c.at(&base)).collect();
        let mut readers = vec![(shared, clients[0].clone())];
        readers.extend(own.iter().zip(&clients).map(|(s, c)| (*s, c.clone())));
        stored = verify(&readers, &ledger, round).await;
        let unanswered: Vec<&PushBlob> = unsure.iter().flatten().flat_map(|(_, b)| b).collect();
        let landed = unanswered
            .iter()
            .filter(|b| stored.contains_key(&b.id))
            .count();
        println!(
            "round {round}: killed after {kill_after:?}; {acked_this_round} blobs acknowledged, \
             {} unanswered ({landed} of them stored); {} blobs stored in all",
            unanswered.len(),
            stored.len()
        );
    }
    assert!(total_acked_pushes >= ROUNDS * CLIENTS);

    // After the last restart: the unanswered pushes are retried and new ones go on.
    let when = "after the last restart";
    retry_unanswered(&clients, &mut unsure, &stored, &mut ledger, when).await;
    for c in &clients {
        let blob = random_blob(100);
        let head = c.space(shared).await.unwrap().head;
        let pushed = c.push(shared, std::slice::from_ref(&blob)).await.unwrap();
        assert_eq!(pushed.seqs, vec![head + 1]);
        ledger.ack(shared, &blob, head + 1);
    }
    let mut readers = vec![(shared, clients[0].clone())];
    readers.extend(own.iter().zip(&clients).map(|(s, c)| (*s, c.clone())));
    let stored = verify(&readers, &ledger, ROUNDS + 1).await;
    // Every blob ever sent is now stored exactly once.
    assert_eq!(stored.len(), ledger.sent.len());
    assert_eq!(ledger.acked.len(), ledger.sent.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let mut relay = RelayProcess::temp();
    let base = relay.url();
    let (a, space) = Client::with_space(&base).await.unwrap();
    let blobs: Vec<PushBlob> = (0..20).map(|_| random_blob(500)).collect();
    a.push(space, &blobs).await.unwrap();
    let mut live = a.live().await.unwrap();

    let status = relay
        .terminate(Duration::from_secs(10))
        .expect("the relay exits by itself on SIGTERM");
    assert!(status.success(), "exit status {status}");
    // Live connections are told to come back later (or just closed).
    match live.recv(Duration::from_secs(5)).await {
        LiveEvent::Frame(ServerFrame::Error { code, .. }) => {
            assert_eq!(code, ErrorCode::Unavailable)
        }
        LiveEvent::Closed => {}
        other => panic!("expected the live channel to end, got {other:?}"),
    }
    // Nothing answers on the old address.
    assert!(matches!(
        a.space(space).await,
        Err(ClientError::Transport(_))
    ));

    relay.restart();
    let a = a.at(&relay.url());
    let log = a.pull_all(space).await.unwrap();
    assert_eq!(log.len(), 20);
    for (b, want) in log.iter().zip(&blobs) {
        assert_eq!((&b.id, &b.data), (&want.id, &want.data));
    }
    assert_eq!(
        a.push(space, &[random_blob(5)]).await.unwrap().seqs,
        vec![21]
    );
}
