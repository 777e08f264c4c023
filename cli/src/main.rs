//! `duet`: the desktop command line client for the Duet journal.
//!
//! Exit codes and error output are described in `failure.rs` and in `duet --help`.

mod args;
mod commands;
mod failure;
mod home;
mod output;
mod resolve;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    init_logging();
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        // clap could not tell us whether --json was given; look for it ourselves.
        Err(e) => return failure::usage(&e, wants_json()),
    };
    let json = cli.json;
    let result = runtime().and_then(|rt| {
        let report = commands::run(&rt, cli.home, cli.registration_token, cli.command, json);
        // Whatever a command left running on the runtime (a live task being torn down) gets
        // a moment to finish, never a hang.
        rt.shutdown_timeout(std::time::Duration::from_secs(2));
        report
    });
    match result.and_then(|report| report.print(json)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failure::report(&e, json),
    }
}

/// The one tokio runtime every relay call (and `watch`) runs on; two workers are plenty
/// for one device.
fn runtime() -> duet_core::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| duet_core::Error::Io {
            path: "tokio runtime".into(),
            source,
        })
}

/// Logs go to stderr, filtered by `RUST_LOG` (default `warn`), so stdout stays the
/// command's output. Nothing logged carries entry content, keys or tokens.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn wants_json() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}
