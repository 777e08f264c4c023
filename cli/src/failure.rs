//! How a failure leaves the process.
//!
//! Every failure is a [`duet_core::Error`] with a stable code ([`ErrorCode::as_str`]); the
//! CLI's own checks build the same type, so scripts switch on one set of codes.
//!
//! - Text mode: `error: <message> (<code>)` on stderr.
//! - `--json`: `{"error":{"code":"<code>","message":"<message>"}}` on stdout, so a script
//!   reading stdout always gets one JSON document.
//!
//! Exit codes (also in `duet --help`; each code's is set in `duet_core::error`'s table):
//!
//! | code | meaning                                                        |
//! |------|----------------------------------------------------------------|
//! | 0    | success                                                        |
//! | 1    | any other failure (not_allowed, corrupt_data, storage, io, …)  |
//! | 2    | usage error (clap) or `invalid_input`                          |
//! | 3    | `not_found`                                                    |
//! | 4    | `not_initialized`                                              |
//! | 5    | `offline`: the relay could not be reached (retry later)        |
//! | 6    | `no_relay`: no relay configured (`duet relay set URL`)         |
//! | 7    | `relay_refused`: the relay answered with an error              |
//! | 8    | `invite_rejected`: malformed, expired, used or wrong code      |

use std::io::Write as _;
use std::process::ExitCode;

use duet_core::{Error, ErrorCode};
use serde_json::json;

/// Print an error the way the chosen output mode expects and give the exit status.
pub fn report(err: &Error, json: bool) -> ExitCode {
    let code = err.code();
    // Core messages never carry entry content or keys, so they are safe to log too.
    tracing::debug!(code = code.as_str(), "command failed");
    print_error(code.as_str(), &err.to_string(), json);
    ExitCode::from(code.exit_code())
}

/// A command line clap refused (unknown flag, missing argument, bad number...).
pub fn usage(err: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    // Help and version are answers, not failures; clap prints them to stdout.
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return ExitCode::SUCCESS;
    }
    if json {
        let rendered = err.render().to_string();
        let first = rendered.lines().next().unwrap_or("invalid command line");
        let message = first.strip_prefix("error: ").unwrap_or(first).trim();
        print_error(ErrorCode::InvalidInput.as_str(), message, true);
    } else {
        let _ = err.print();
    }
    // A usage error exits as `invalid_input` does.
    ExitCode::from(ErrorCode::InvalidInput.exit_code())
}

fn print_error(code: &str, message: &str, json: bool) {
    if json {
        let doc = json!({ "error": { "code": code, "message": message } });
        let _ = writeln!(std::io::stdout().lock(), "{doc}");
    } else {
        let _ = writeln!(std::io::stderr().lock(), "error: {message} ({code})");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_documented_table() {
        let exit = |c: ErrorCode| c.exit_code();
        assert_eq!(exit(ErrorCode::InvalidInput), 2);
        assert_eq!(exit(ErrorCode::NotFound), 3);
        assert_eq!(exit(ErrorCode::NotInitialized), 4);
        assert_eq!(exit(ErrorCode::Offline), 5);
        assert_eq!(exit(ErrorCode::NoRelay), 6);
        assert_eq!(exit(ErrorCode::RelayRefused), 7);
        assert_eq!(exit(ErrorCode::InviteRejected), 8);
        for other in [
            ErrorCode::AlreadyInitialized,
            ErrorCode::NotAllowed,
            ErrorCode::CorruptData,
            ErrorCode::WrongKey,
            ErrorCode::StoreTooNew,
            ErrorCode::Storage,
            ErrorCode::Io,
            ErrorCode::Internal,
        ] {
            assert_eq!(exit(other), 1, "{other}");
        }
    }
}
