//! # duet-server
//!
//! The relay behind `duet-relay`: stores each space's log of sealed blobs and forwards new
//! ones to member devices. It holds ids, sizes and times — never a word of content, and no
//! Automerge code.

pub mod api;
pub mod auth;
pub mod cbor;
pub mod config;
pub mod error;
pub mod extract;
pub mod live;
pub mod metrics;
pub mod state;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use crate::state::{AppState, now_ms};
use crate::storage::RelayStore;

/// Run the relay until SIGINT/SIGTERM. Prints `duet-relay listening on http://ADDR` once
/// bound, so a caller that asked for port 0 can find the port.
pub async fn run(config: Config) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let store: Arc<dyn RelayStore> =
        Arc::new(storage::sqlite::SqliteStore::open(&config.data_dir)?);
    let state = AppState::new(store.clone(), config.limits());
    let app = api::router(state.clone());
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, backend = store.backend(), data_dir = %config.data_dir.display(), "relay started");
    println!("duet-relay listening on http://{addr}");
    use std::io::Write;
    let _ = std::io::stdout().flush();

    let retention = Duration::from_secs(config.snapshot_retention_hours * 3600);
    let pruner = tokio::spawn(prune_forever(store, retention));
    let shutdown_state = state.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down");
            // Live connections end now; in-flight requests finish.
            shutdown_state.hub.close_all();
        })
        .await?;
    pruner.abort();
    tracing::info!("relay stopped");
    Ok(())
}

async fn prune_forever(store: Arc<dyn RelayStore>, retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let older_than = now_ms() - retention.as_millis() as i64;
        match store.prune(older_than).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(blobs = n, "pruned log behind snapshots"),
            Err(e) => tracing::warn!(error = %e, "pruning failed"),
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
