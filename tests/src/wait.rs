//! Waiting for something to become true, with a deadline.

use std::time::Duration;

/// Poll `f` every 10 ms until it holds; panics with `what` after `within`.
pub async fn eventually(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "{what}: timed out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
