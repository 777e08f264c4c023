//! Duet's public error type: a small enum with a stable code for every failure that can
//! reach an app, and the internal errors it is built from.

use std::fmt;

/// The stable error codes, defined once: each code's variant, its string (never changed once
/// published), the CLI's exit status for it, and what it means. From this table come
/// [`ErrorCode`] (string form, parsing, exit status, meaning) and [`DuetError`], the error
/// apps see through the bindings (one variant per code).
macro_rules! codes {
    ($($name:ident = $s:literal, exit $exit:literal, $meaning:literal;)*) => {
        /// A stable, machine-readable error code. Apps and the CLI switch on these; the strings
        /// never change once published.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(#[doc = $meaning] $name,)*
        }

        impl ErrorCode {
            /// Every code, in the table's order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The stable string form, e.g. `"not_found"`.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$name => $s,)* }
            }

            /// The code of a string form; `None` for a string that is not one.
            pub fn parse(s: &str) -> Option<ErrorCode> {
                match s { $($s => Some(ErrorCode::$name),)* _ => None }
            }

            /// The exit status of the `duet` command line for a failure with this code.
            pub fn exit_code(self) -> u8 {
                match self { $(ErrorCode::$name => $exit,)* }
            }

            /// What the code means, in a sentence.
            pub fn meaning(self) -> &'static str {
                match self { $(ErrorCode::$name => $meaning,)* }
            }
        }

        /// An [`Error`] as apps see it through the bindings: its stable code is the variant
        /// (`NotFound` is `"not_found"`), its message is for logs (never content or keys).
        /// Kotlin sees it as `DuetException` (a sealed class, one subclass per code), Swift as
        /// `DuetError`, Python as `DuetError.*` exceptions.
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[cfg_attr(feature = "uniffi", derive(uniffi::Error), uniffi(flat_error))]
        pub enum DuetError {
            $(
                #[doc = $meaning]
                #[error("{0}")]
                $name(String),
            )*
        }

        impl DuetError {
            /// The error with this code and message.
            pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
                let m = message.into();
                match code { $(ErrorCode::$name => DuetError::$name(m),)* }
            }

            /// Its stable code.
            pub fn code(&self) -> ErrorCode {
                match self { $(DuetError::$name(_) => ErrorCode::$name,)* }
            }
        }
    };
}

codes! {
    InvalidInput = "invalid_input", exit 2,
        "An argument is out of range, too long, empty or malformed.";
    NotFound = "not_found", exit 3,
        "The entry, journal, reply or member does not exist here.";
    NotInitialized = "not_initialized", exit 4,
        "The home has no identity yet: run `init` (apps: `DuetClient.init`) first.";
    AlreadyInitialized = "already_initialized", exit 1,
        "The home already has an identity: open it instead.";
    NotAllowed = "not_allowed", exit 1,
        "The operation is not allowed on this object (e.g. sharing an entry that is not a draft).";
    CorruptData = "corrupt_data", exit 1,
        "A bundle or blob is not Duet's, is truncated, or was tampered with.";
    WrongKey = "wrong_key", exit 1,
        "A blob or bundle could not be opened with the key this device holds.";
    StoreTooNew = "store_too_new", exit 1,
        "The store was written by a newer version of Duet; update the app.";
    Storage = "storage", exit 1,
        "The local store failed (disk full, I/O error, locked).";
    Io = "io", exit 1,
        "A file could not be read or written.";
    NoRelay = "no_relay", exit 6,
        "No relay is configured for this home (`duet relay set URL`; apps: `setRelay`).";
    Offline = "offline", exit 5,
        "The relay could not be reached; everything stays queued locally.";
    RelayRefused = "relay_refused", exit 7,
        "The relay refused the request (its own code is in the message).";
    InviteRejected = "invite_rejected", exit 8,
        "The invite code is malformed, expired, used, burned or wrong.";
    WrongWords = "wrong_words", exit 9,
        "The recovery words are not a kit's: a word is misspelled, missing or out of place, or no kit on this relay has them.";
    TooLarge = "too_large", exit 2,
        "A file is larger than an attachment may be (1 GiB unless the app set another limit).";
    QuotaExceeded = "quota_exceeded", exit 10,
        "The journal's storage at the relay is full: remove attachments to make room (entries still sync).";
    Internal = "internal", exit 1,
        "A bug in Duet (an invariant did not hold, or a panic was caught): reported, never a crash.";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Error> for DuetError {
    fn from(e: Error) -> Self {
        DuetError::new(e.code(), e.to_string())
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
    /// The relay refused a push (`stale_epoch`): the space's key moved on at the relay, and
    /// even after my key ring was pulled this device holds no newer key. Nothing is dropped;
    /// the changes stay queued and are sealed again once the key arrives.
    #[error(
        "the relay refused changes to space {space}: its key was changed on another device (a member was removed) and this device has not received the new key yet; they stay queued here and go out, sealed with the new key, once it arrives (sync the device that changed it, then sync again) (stale_epoch)"
    )]
    StaleEpoch { space: String },
    #[error("invite rejected: {0}")]
    InviteRejected(String),
    /// Recovery words that aren't a kit's (checked locally first; then the relay knows no
    /// kit with them, or refused the secret).
    #[error("wrong recovery words: {0}")]
    WrongWords(String),
    /// A file over the attachment limit.
    #[error("too large: {0}")]
    TooLarge(String),
    /// The relay refused an attachment: the journal's attachment storage is full.
    #[error("the journal's storage at the relay is full: {0}")]
    QuotaExceeded(String),
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
            Error::RelayRefused { .. } | Error::StaleEpoch { .. } => ErrorCode::RelayRefused,
            Error::InviteRejected(_) => ErrorCode::InviteRejected,
            Error::WrongWords(_) => ErrorCode::WrongWords,
            Error::TooLarge(_) => ErrorCode::TooLarge,
            Error::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            assert_eq!(DuetError::new(c, "m").code(), c);
            assert!(!c.meaning().is_empty());
        }
        assert_eq!(seen.len(), 18);
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn every_error_becomes_the_variant_of_its_code_with_its_message() {
        let cases = [
            Error::invalid("x", "y"),
            Error::not_found("entry", "1"),
            Error::NotInitialized,
            Error::AlreadyInitialized,
            Error::NotAllowed("n".into()),
            Error::CorruptData("c".into()),
            Error::WrongKey("w".into()),
            Error::StoreTooNew { found: 9, known: 1 },
            Error::Migration("m".into()),
            Error::io(std::path::Path::new("/p"), std::io::Error::other("x")),
            Error::NoRelay,
            Error::Offline("o".into()),
            Error::RelayRefused {
                code: "c".into(),
                message: "m".into(),
            },
            Error::InviteRejected("i".into()),
            Error::WrongWords("w".into()),
            Error::TooLarge("t".into()),
            Error::QuotaExceeded("q".into()),
            Error::Internal("b".into()),
        ];
        let mut seen = std::collections::HashSet::new();
        for e in cases {
            let (code, message) = (e.code(), e.to_string());
            let flat = DuetError::from(e);
            assert_eq!((flat.code(), flat.to_string()), (code, message));
            seen.insert(code);
        }
        assert_eq!(seen.len(), ErrorCode::ALL.len(), "every code is covered");
    }
}
