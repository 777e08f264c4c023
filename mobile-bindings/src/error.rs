//! The one error type every exported call can fail with.

use std::any::Any;

/// Every failure of Duet, one variant per stable `duet_core::ErrorCode`. Kotlin sees it as
/// `DuetException` (a sealed class, one subclass per variant), Swift as `DuetError`, Python
/// as `DuetError.*` exceptions. The variant is the stable code (`NotFound` is `"not_found"`,
/// as listed on each variant); the message is for logs and never holds content or keys.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[uniffi(flat_error)]
pub enum DuetError {
    /// An argument is out of range, too long, empty or malformed (`invalid_input`).
    #[error("{0}")]
    InvalidInput(String),
    /// The entry, journal, reply or member does not exist here (`not_found`).
    #[error("{0}")]
    NotFound(String),
    /// The data directory has no identity yet: call `DuetClient.init` (`not_initialized`).
    #[error("{0}")]
    NotInitialized(String),
    /// The data directory already has an identity: call `DuetClient.open` (`already_initialized`).
    #[error("{0}")]
    AlreadyInitialized(String),
    /// The operation is not allowed on this object (`not_allowed`).
    #[error("{0}")]
    NotAllowed(String),
    /// A bundle or blob is not Duet's, is truncated, or was tampered with (`corrupt_data`).
    #[error("{0}")]
    CorruptData(String),
    /// A blob or bundle could not be opened with the key this device holds (`wrong_key`).
    #[error("{0}")]
    WrongKey(String),
    /// The store was written by a newer version of Duet; update the app (`store_too_new`).
    #[error("{0}")]
    StoreTooNew(String),
    /// The local store failed: disk full, I/O error, locked (`storage`).
    #[error("{0}")]
    Storage(String),
    /// A file could not be read or written (`io`).
    #[error("{0}")]
    Io(String),
    /// No relay is configured: pass a relay URL to `init` or call `setRelay` (`no_relay`).
    #[error("{0}")]
    NoRelay(String),
    /// The relay could not be reached; everything stays queued locally (`offline`).
    #[error("{0}")]
    Offline(String),
    /// The relay refused the request; its own code is in the message (`relay_refused`).
    #[error("{0}")]
    RelayRefused(String),
    /// The invite code is malformed, expired, used, burned or wrong (`invite_rejected`).
    #[error("{0}")]
    InviteRejected(String),
    /// A bug in Duet (an invariant did not hold, or a panic was caught): reported as this
    /// error, never a crash (`internal`).
    #[error("{0}")]
    Internal(String),
}

impl From<duet_core::Error> for DuetError {
    fn from(e: duet_core::Error) -> Self {
        use duet_core::ErrorCode as C;
        let m = e.to_string();
        match e.code() {
            C::InvalidInput => DuetError::InvalidInput(m),
            C::NotFound => DuetError::NotFound(m),
            C::NotInitialized => DuetError::NotInitialized(m),
            C::AlreadyInitialized => DuetError::AlreadyInitialized(m),
            C::NotAllowed => DuetError::NotAllowed(m),
            C::CorruptData => DuetError::CorruptData(m),
            C::WrongKey => DuetError::WrongKey(m),
            C::StoreTooNew => DuetError::StoreTooNew(m),
            C::Storage => DuetError::Storage(m),
            C::Io => DuetError::Io(m),
            C::NoRelay => DuetError::NoRelay(m),
            C::Offline => DuetError::Offline(m),
            C::RelayRefused => DuetError::RelayRefused(m),
            C::InviteRejected => DuetError::InviteRejected(m),
            C::Internal => DuetError::Internal(m),
        }
    }
}

impl DuetError {
    /// The stable code, identical to `duet_core::ErrorCode::as_str` (e.g. `"not_found"`).
    pub fn code(&self) -> &'static str {
        use duet_core::ErrorCode as C;
        match self {
            DuetError::InvalidInput(_) => C::InvalidInput,
            DuetError::NotFound(_) => C::NotFound,
            DuetError::NotInitialized(_) => C::NotInitialized,
            DuetError::AlreadyInitialized(_) => C::AlreadyInitialized,
            DuetError::NotAllowed(_) => C::NotAllowed,
            DuetError::CorruptData(_) => C::CorruptData,
            DuetError::WrongKey(_) => C::WrongKey,
            DuetError::StoreTooNew(_) => C::StoreTooNew,
            DuetError::Storage(_) => C::Storage,
            DuetError::Io(_) => C::Io,
            DuetError::NoRelay(_) => C::NoRelay,
            DuetError::Offline(_) => C::Offline,
            DuetError::RelayRefused(_) => C::RelayRefused,
            DuetError::InviteRejected(_) => C::InviteRejected,
            DuetError::Internal(_) => C::Internal,
        }
        .as_str()
    }

    /// A caught panic, as an internal error.
    pub(crate) fn from_panic(p: Box<dyn Any + Send>) -> Self {
        let what = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_string());
        DuetError::Internal(format!("internal error (caught panic): {what}"))
    }
}

/// Run a synchronous entry point so that a panic becomes [`DuetError::Internal`] instead of
/// unwinding into foreign code.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T, DuetError>) -> Result<T, DuetError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(DuetError::from_panic(p)),
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
    fn every_core_code_maps_to_the_variant_with_the_same_code() {
        let cases = [
            duet_core::Error::InvalidInput {
                field: "x",
                reason: "y".into(),
            },
            duet_core::Error::NotFound {
                what: "entry",
                id: "1".into(),
            },
            duet_core::Error::NotInitialized,
            duet_core::Error::AlreadyInitialized,
            duet_core::Error::NotAllowed("n".into()),
            duet_core::Error::CorruptData("c".into()),
            duet_core::Error::WrongKey("w".into()),
            duet_core::Error::StoreTooNew { found: 9, known: 1 },
            duet_core::Error::Migration("m".into()),
            duet_core::Error::Io {
                path: "/p".into(),
                source: std::io::Error::other("x"),
            },
            duet_core::Error::NoRelay,
            duet_core::Error::Offline("o".into()),
            duet_core::Error::RelayRefused {
                code: "c".into(),
                message: "m".into(),
            },
            duet_core::Error::InviteRejected("i".into()),
            duet_core::Error::Internal("b".into()),
        ];
        let mut seen = std::collections::HashSet::new();
        for e in cases {
            let code = e.code().as_str();
            let mapped = DuetError::from(e);
            assert_eq!(mapped.code(), code);
            seen.insert(code);
        }
        assert_eq!(seen.len(), 15, "every ErrorCode is covered");
    }

    #[test]
    fn a_panic_becomes_internal() {
        let r: Result<(), DuetError> = guard(|| panic!("boom"));
        match r {
            Err(DuetError::Internal(m)) => assert!(m.contains("boom")),
            other => panic!("expected Internal, got {other:?}"),
        }
    }
}
