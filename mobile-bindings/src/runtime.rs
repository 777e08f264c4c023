//! The library's one tokio runtime: two worker threads, created on first use. Every async
//! export runs its future here and awaits the result, so the foreign side's executor
//! (Kotlin coroutines, Swift concurrency, asyncio) never needs to know about tokio.

use std::future::Future;
use std::sync::{Arc, Mutex};

use duet_core::DuetError;

use crate::error::from_panic;

static RUNTIME: Mutex<Option<Arc<tokio::runtime::Runtime>>> = Mutex::new(None);

/// The shared runtime, created once (lazily).
pub(crate) fn runtime() -> Result<Arc<tokio::runtime::Runtime>, DuetError> {
    let mut g = RUNTIME.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rt) = g.as_ref() {
        return Ok(rt.clone());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("duet-rt")
        .enable_all()
        .build()
        .map_err(|e| DuetError::Internal(format!("could not start the runtime: {e}")))?;
    let rt = Arc::new(rt);
    *g = Some(rt.clone());
    Ok(rt)
}

/// Aborts the spawned task when the awaiting future is dropped (the foreign caller cancelled
/// its coroutine / task): the core leaves the store consistent at any await point.
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Run `fut` on the shared runtime and await its result. A panic inside becomes
/// [`DuetError::Internal`]; cancelling the returned future cancels the task.
pub(crate) async fn run<T, F>(fut: F) -> Result<T, DuetError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, DuetError>> + Send + 'static,
{
    // The task is one type whatever the call (the future boxed, its result too): tokio's
    // task machinery is then in the library once, not once per exported method.
    let erased: Erased = Box::pin(async move {
        fut.await
            .map(|v| Box::new(v) as Box<dyn std::any::Any + Send>)
    });
    let any = spawn_erased(erased).await?;
    any.downcast::<T>()
        .map(|b| *b)
        .map_err(|_| DuetError::Internal("a task returned an unexpected type".into()))
}

type Erased = std::pin::Pin<
    Box<dyn Future<Output = Result<Box<dyn std::any::Any + Send>, DuetError>> + Send>,
>;

async fn spawn_erased(fut: Erased) -> Result<Box<dyn std::any::Any + Send>, DuetError> {
    let rt = runtime()?;
    let task = rt.spawn(fut);
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(from_panic(e.into_panic())),
        Err(_) => Err(DuetError::Internal("the operation was cancelled".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_and_panics_are_typed() {
        let a = runtime().ok();
        let b = runtime().ok();
        assert!(matches!((&a, &b), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        let rt = tokio::runtime::Builder::new_current_thread().build().ok();
        let r = rt.map(|rt| {
            rt.block_on(run(async {
                if true {
                    panic!("in a task");
                }
                Ok(())
            }))
        });
        assert!(matches!(r, Some(Err(DuetError::Internal(m))) if m.contains("in a task")));
    }
}
