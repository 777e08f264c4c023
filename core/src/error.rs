//! Duet's public error type: a small enum with a stable code for every failure that can
//! reach an app, and the internal errors it is built from.

use std::fmt;

/// A stable, machine-readable error code. Apps and the CLI switch on these; the strings
/// never change once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// An argument is out of range, too long, empty or malformed.
    InvalidInput,
    /// The entry, journal, reply or member does not exist here.
    NotFound,
    /// The home has no identity yet (`init` has not been run).
    NotInitialized,
    /// The home already has an identity.
    AlreadyInitialized,
    /// The operation is not allowed on this object (e.g. sharing an entry that is not a draft).
    NotAllowed,
    /// A bundle or blob is not a Duet bundle, is truncated, or was tampered with.
    CorruptData,
    /// A blob or bundle could not be opened with the space key we hold.
    WrongKey,
    /// The store was written by a newer version of Duet.
    StoreTooNew,
    /// The local store failed (disk full, I/O error, locked).
    Storage,
    /// A file could not be read or written.
    Io,
    /// No relay is configured for this home (`duet relay set URL`).
    NoRelay,
    /// The relay could not be reached; everything stays queued locally.
    Offline,
    /// The relay refused the request (its own code is in the message).
    RelayRefused,
    /// The invite code is malformed, expired, used, burned or wrong.
    InviteRejected,
    /// A bug in Duet: an invariant did not hold. Reported, never a crash.
    Internal,
}

impl ErrorCode {
    /// The stable string form, e.g. `"not_found"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidInput => "invalid_input",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotInitialized => "not_initialized",
            ErrorCode::AlreadyInitialized => "already_initialized",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::CorruptData => "corrupt_data",
            ErrorCode::WrongKey => "wrong_key",
            ErrorCode::StoreTooNew => "store_too_new",
            ErrorCode::Storage => "storage",
            ErrorCode::Io => "io",
            ErrorCode::NoRelay => "no_relay",
            ErrorCode::Offline => "offline",
            ErrorCode::RelayRefused => "relay_refused",
            ErrorCode::InviteRejected => "invite_rejected",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every failure of the Duet engine. Messages never contain entry content or keys.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("{what} not found: {id}")]
    NotFound { what: &'static str, id: String },
    #[error("this Duet home is not initialized; run `duet init --name NAME` first")]
    NotInitialized,
    #[error("this Duet home is already initialized")]
    AlreadyInitialized,
    #[error("not allowed: {0}")]
    NotAllowed(String),
    #[error("corrupt data: {0}")]
    CorruptData(String),
    #[error("wrong key: {0}")]
    WrongKey(String),
    #[error(
        "the store was written by a newer version of Duet (schema {found}, this build knows {known}); update the app"
    )]
    StoreTooNew { found: i64, known: i64 },
    #[error("local store error: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no relay is configured; run `duet relay set URL` (or init with --relay)")]
    NoRelay,
    #[error("the relay could not be reached: {0}")]
    Offline(String),
    #[error("the relay refused: {message} ({code})")]
    RelayRefused { code: String, message: String },
    #[error("invite rejected: {0}")]
    InviteRejected(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidInput { .. } => ErrorCode::InvalidInput,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::NotInitialized => ErrorCode::NotInitialized,
            Error::AlreadyInitialized => ErrorCode::AlreadyInitialized,
            Error::NotAllowed(_) => ErrorCode::NotAllowed,
            Error::CorruptData(_) => ErrorCode::CorruptData,
            Error::WrongKey(_) => ErrorCode::WrongKey,
            Error::StoreTooNew { .. } => ErrorCode::StoreTooNew,
            Error::Storage(_) | Error::Migration(_) => ErrorCode::Storage,
            Error::Io { .. } => ErrorCode::Io,
            Error::NoRelay => ErrorCode::NoRelay,
            Error::Offline(_) => ErrorCode::Offline,
            Error::RelayRefused { .. } => ErrorCode::RelayRefused,
            Error::InviteRejected(_) => ErrorCode::InviteRejected,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field,
            reason: reason.into(),
        }
    }

    pub(crate) fn not_found(what: &'static str, id: impl fmt::Display) -> Self {
        Error::NotFound {
            what,
            id: id.to_string(),
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

/// Automerge failures inside a document we hold are either corrupt input (when loading
/// bytes from outside) or a bug (when editing our own document); callers pick.
impl From<automerge::AutomergeError> for Error {
    fn from(e: automerge::AutomergeError) -> Self {
        Error::Internal(format!("document: {e}"))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
