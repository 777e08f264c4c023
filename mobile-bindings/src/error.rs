//! Every exported call fails with duet-core's [`DuetError`] (one variant per stable
//! `duet_core::ErrorCode`, generated from the codes' table and exported there). Here: no
//! panic crosses the FFI, it becomes `Internal`.

use std::any::Any;

use duet_core::DuetError;

/// A caught panic, as an internal error.
pub(crate) fn from_panic(p: Box<dyn Any + Send>) -> DuetError {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    DuetError::Internal(format!("internal error (caught panic): {what}"))
}

/// Run a synchronous entry point so that a panic becomes [`DuetError::Internal`] instead of
/// unwinding into foreign code.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, DuetError>) -> Result<T, DuetError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(from_panic(p)),
    }
}

/// [`guard`] for calls that return a core result.
pub(crate) fn core<T>(f: impl FnOnce() -> duet_core::Result<T>) -> Result<T, DuetError> {
    guard(|| f().map_err(DuetError::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_internal() {
        let r: Result<(), DuetError> = guard(|| panic!("boom"));
        match r {
            Err(DuetError::Internal(m)) => assert!(m.contains("boom")),
            other => panic!("expected Internal, got {other:?}"),
        }
    }
}
