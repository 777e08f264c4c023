//! What the backend suites (`storage::suite`, `attachments::suite`) share: one test per
//! check, and backends in temporary directories.

use std::path::Path;

/// One `#[tokio::test]` per check of module `$suite`, each on a fresh backend from `$make`
/// (an async expression giving `Option<(guard, backend)>`, the guard kept alive for the
/// test, e.g. a temporary directory; `None` skips, e.g. no server), so that the first
/// failure hides nothing.
macro_rules! tests_per_check {
    ($suite:path, $make:expr; $($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                use $suite as suite;
                let Some((_guard, backend)) = $make.await else { return };
                suite::$check(&backend).await;
            }
        )*
    };
}
pub(crate) use tests_per_check;

/// A backend opened in a temporary directory that lives as long as the test (the guard);
/// `None` when either fails.
pub(crate) async fn in_temp_dir<T, E>(
    open: impl FnOnce(&Path) -> Result<T, E>,
) -> Option<(tempfile::TempDir, T)> {
    let dir = tempfile::tempdir().ok()?;
    let backend = open(dir.path()).ok()?;
    Some((dir, backend))
}
