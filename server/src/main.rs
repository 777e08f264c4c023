//! `duet-relay`: see `duet-relay --help`.

use clap::Parser;

fn main() -> std::process::ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fixed_malloc_threshold();
    relay()
}

#[tokio::main]
async fn relay() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = duet_server::config::Config::parse();
    match duet_server::run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "duet-relay failed");
            eprintln!("duet-relay: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// glibc's malloc raises its mmap threshold each time it frees a large mmapped block, so
/// after a burst of large pushes every later multi-megabyte buffer comes from its heaps, and
/// much of that is never given back: 32 concurrent 8 MiB pushes left the relay 70–80 MB
/// larger than before. With the threshold fixed (at glibc's own starting value, 128 KiB),
/// large buffers stay mmapped and go back to the OS as soon as they are freed (then it came
/// back to within 5 MB; `tests/tests/e2e/relay_limits.rs` measures it). glibc reads the setting
/// only from the environment, at start: so, before anything else, the relay starts itself
/// once more (same process id, same arguments) with `MALLOC_MMAP_THRESHOLD_` set — unless it
/// is set already, to any value, which is also how an operator chooses another one.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fixed_malloc_threshold() {
    use std::os::unix::process::CommandExt;
    const VAR: &str = "MALLOC_MMAP_THRESHOLD_";
    if std::env::var_os(VAR).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only when it failed (e.g. the binary was replaced on disk).
    let e = cmd.args(args).env(VAR, "131072").exec();
    eprintln!("duet-relay: carrying on without {VAR} ({e})");
}
