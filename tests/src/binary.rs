//! The workspace's binaries for tests that run them: built by cargo once per test process,
//! with the caller's profile (`--release` when the caller is optimised).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Whether this test or bench binary is an optimised build (then the binaries it runs are
/// too).
pub fn is_release() -> bool {
    !cfg!(debug_assertions)
}

/// The workspace root (the parent of this crate's manifest directory).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest.to_path_buf())
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace root when it is
/// relative) or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                workspace_root().join(d)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// The binary `bin` of the workspace package `package`: `CARGO_BIN_EXE_<bin>` when cargo
/// set it for this test (the package's own binaries), else built (once per process) with
/// `cargo build -p <package> --bin <bin>`.
pub fn workspace_binary(package: &str, bin: &str) -> PathBuf {
    if let Some(exe) = std::env::var_os(format!("CARGO_BIN_EXE_{bin}")) {
        return PathBuf::from(exe);
    }
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    built
        .entry(format!("{package}/{bin}"))
        .or_insert_with(|| build(package, bin))
        .clone()
}

fn build(package: &str, bin: &str) -> PathBuf {
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(workspace_root())
        .args(["build", "--quiet", "-p", package, "--bin", bin]);
    if is_release() {
        cmd.arg("--release");
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("running {} build: {e}", cargo.display()));
    if !out.status.success() {
        panic!(
            "building {bin} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let profile = if is_release() { "release" } else { "debug" };
    let exe = target_dir()
        .join(profile)
        .join(format!("{bin}{}", std::env::consts::EXE_SUFFIX));
    assert!(exe.is_file(), "no {bin} binary at {}", exe.display());
    exe
}
