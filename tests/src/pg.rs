//! PostgreSQL for the scale-out tests and benchmarks: a fresh database per test on the
//! server `scripts/test` starts (its URL in `DUET_TEST_DATABASE_URL`).

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

/// The test server's URL. A test that can't reach PostgreSQL fails with a clear message
/// rather than passing silently; `DUET_SKIP_POSTGRES=1` skips on purpose (and says so).
pub fn server_url() -> Option<String> {
    if let Ok(url) = std::env::var("DUET_TEST_DATABASE_URL") {
        return Some(url);
    }
    if std::env::var("DUET_SKIP_POSTGRES").as_deref() == Ok("1") {
        eprintln!("DUET_SKIP_POSTGRES=1: skipping a PostgreSQL test");
        return None;
    }
    panic!(
        "PostgreSQL tests need DUET_TEST_DATABASE_URL (scripts/test starts a throwaway server \
         and sets it); set DUET_SKIP_POSTGRES=1 to skip them"
    );
}

/// Create a database with a random name on `server`; returns its URL (same server and
/// user).
pub async fn fresh_database(server: &str) -> String {
    let name = format!("duet_e2e_{}", uuid::Uuid::now_v7().simple());
    let opts = PgConnectOptions::from_str(server)
        .unwrap_or_else(|e| panic!("DUET_TEST_DATABASE_URL is not a database URL: {e}"));
    let mut admin: PgConnection = opts
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to PostgreSQL at DUET_TEST_DATABASE_URL: {e}"));
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|e| panic!("creating a test database: {e}"));
    let _ = admin.close().await;
    let (base, _) = server
        .rsplit_once('/')
        .unwrap_or_else(|| panic!("DUET_TEST_DATABASE_URL has no database path"));
    format!("{base}/{name}")
}

/// Cut every relay node's `LISTEN` connection to the database at `url` (as a network
/// blip or a PostgreSQL restart would); returns how many were cut.
pub async fn cut_listeners(url: &str) -> u64 {
    let opts =
        PgConnectOptions::from_str(url).unwrap_or_else(|e| panic!("not a database URL: {e}"));
    let mut c: PgConnection = opts
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to PostgreSQL: {e}"));
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND query ILIKE 'LISTEN%') t",
    )
    .fetch_one(&mut c)
    .await
    .unwrap_or_else(|e| panic!("terminating listeners: {e}"));
    let _ = c.close().await;
    u64::try_from(cut).unwrap_or(0)
}
