//! # duet-server
//!
//! The relay behind `duet-relay`: stores each space's log of sealed blobs and forwards new
//! ones to member devices, and keeps attachments' sealed bytes (`attachments`). It holds
//! ids, sizes and times — never a word of content, and no Automerge code.

pub mod api;
pub mod attachments;
pub mod auth;
pub mod cbor;
pub mod config;
pub mod error;
pub mod extract;
pub mod live;
pub mod metrics;
pub mod net;
pub mod state;
pub mod storage;
#[cfg(test)]
pub(crate) mod testing;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::state::{AppState, now_ms};
use crate::storage::RelayStore;

/// Run the relay until SIGINT/SIGTERM. Prints `duet-relay listening on http://ADDR` once
/// bound, so a caller that asked for port 0 can find the port.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if let Some(config::Command::MigrateFromSqlite) = config.command {
        let url = config
            .database_url
            .as_deref()
            .ok_or("migrate-from-sqlite needs --database-url postgres://… (the target)")?;
        let copied = storage::migrate::sqlite_to_postgres(&config.data_dir, url).await?;
        tracing::info!(?copied, "migrated");
        println!("{}", serde_json::to_string(&copied)?);
        return Ok(());
    }
    let store = open_store(&config).await?;
    // The URL may name a bucket; credentials come from the environment and are never logged.
    let objects = attachments::open_objects(config.attachments_url.as_deref(), &config.data_dir)?;
    tracing::info!(objects = objects.kind(), "attachments stored");
    let attachments = attachments::Attachments::new(
        objects,
        &config.data_dir,
        Duration::from_secs(config.attachment_upload_ttl_secs),
    )?;
    let state = AppState::with_access(store.clone(), config.limits(), config.access(), attachments);
    // With a shared database, what other nodes do reaches this node's live connections.
    if let Some(mut events) = store.node_events().await? {
        let state = state.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                let (_, dropped) = state.hub.apply(e);
                state.metrics.live_dropped.inc_by(dropped);
            }
        });
    }
    let app = api::router(state.clone());
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = store.backend(), "relay started");
    println!("duet-relay listening on http://{addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let retention = Duration::from_secs(config.snapshot_retention_hours * 3600);
    let pruner = tokio::spawn(sweep_forever(store.clone(), Sweep::PruneLog, retention));
    let sweeper = tokio::spawn(sweep_attachments_forever(
        state.clone(),
        Duration::from_secs(config.attachment_sweep_secs.max(1)),
    ));
    let invite_retention = Duration::from_secs(config.invite_retention_hours * 3600);
    let purger = tokio::spawn(sweep_forever(store, Sweep::PurgeInvites, invite_retention));
    // The rate limiters keep a cell per device that pushed, per address that registered or
    // tried a recovery, and per kit tried; forget the idle ones.
    let limiter_state = state.clone();
    let forgetter = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(300));
        loop {
            tick.tick().await;
            limiter_state.push_limiter.retain_recent();
            limiter_state.push_limiter.shrink_to_fit();
            limiter_state.recovery_limiter.retain_recent();
            limiter_state.recovery_limiter.shrink_to_fit();
            for l in [
                &limiter_state.registration_limiter,
                &limiter_state.recovery_client_limiter,
            ]
            .into_iter()
            .flatten()
            {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
    });
    let shutdown_state = state.clone();
    net::serve(listener, app, state.clone(), config.net(), async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        // Live connections end now; in-flight requests finish.
        shutdown_state.hub.close_all();
    })
    .await?;
    pruner.abort();
    purger.abort();
    sweeper.abort();
    forgetter.abort();
    tracing::info!("relay stopped");
    Ok(())
}

/// SQLite in the data dir unless a database URL names PostgreSQL.
async fn open_store(
    config: &Config,
) -> Result<Arc<dyn RelayStore>, Box<dyn std::error::Error + Send + Sync>> {
    match config.database_url.as_deref() {
        None => {
            tracing::info!(data_dir = %config.data_dir.display(), "storing in SQLite");
            Ok(Arc::new(storage::sqlite::SqliteStore::open(
                &config.data_dir,
            )?))
        }
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            // The URL may hold a password: never logged.
            tracing::info!("storing in PostgreSQL");
            Ok(Arc::new(
                storage::postgres::PgStore::connect(url, config.database_max_connections).await?,
            ))
        }
        Some(_) => {
            Err("--database-url must be a postgres:// URL (leave it unset for SQLite)".into())
        }
    }
}

/// The store's clean-ups, each run now and then on what is older than its retention.
#[derive(Debug, Clone, Copy)]
enum Sweep {
    /// Log blobs behind snapshots older than the retention, every hour.
    PruneLog,
    /// Invites that expired more than the retention ago, every ten minutes.
    PurgeInvites,
}

/// Run `sweep` forever; a failed run is logged and tried again next time.
async fn sweep_forever(store: Arc<dyn RelayStore>, sweep: Sweep, retention: Duration) {
    let every = match sweep {
        Sweep::PruneLog => Duration::from_secs(3600),
        Sweep::PurgeInvites => Duration::from_secs(600),
    };
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let cutoff = now_ms() - retention.as_millis() as i64;
        let swept = match sweep {
            Sweep::PruneLog => store.prune(cutoff).await,
            Sweep::PurgeInvites => store.purge_invites(cutoff).await,
        };
        match (sweep, swept) {
            (_, Ok(0)) => {}
            (Sweep::PruneLog, Ok(n)) => tracing::info!(blobs = n, "pruned log behind snapshots"),
            (Sweep::PurgeInvites, Ok(n)) => tracing::info!(invites = n, "purged expired invites"),
            (Sweep::PruneLog, Err(e)) => tracing::warn!(error = %e, "pruning failed"),
            (Sweep::PurgeInvites, Err(e)) => tracing::warn!(error = %e, "purging invites failed"),
        }
    }
}

/// Discard expired attachment uploads now (at start) and every `every` after.
async fn sweep_attachments_forever(state: Arc<AppState>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        sweep_attachments(&state).await;
    }
}

/// One sweep of expired attachment uploads (logged; a failure is tried again next time).
pub async fn sweep_attachments(state: &AppState) -> u64 {
    match state
        .attachments
        .sweep(state.store.as_ref(), now_ms())
        .await
    {
        Ok(0) => 0,
        Ok(n) => {
            state.metrics.attachment_uploads_expired.inc_by(n);
            tracing::info!(uploads = n, "discarded expired attachment uploads");
            n
        }
        Err(e) => {
            tracing::warn!(error = %e, "sweeping attachment uploads failed");
            0
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
