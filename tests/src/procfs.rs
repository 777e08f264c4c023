//! A process's memory, from `/proc/<pid>/status` (Linux; 0 elsewhere).

/// A `kB` field of `/proc/<pid>/status` (`"VmRSS:"`, `"VmHWM:"`, …) in KiB; 0 when the
/// process or the field is not there.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Resident memory (`VmRSS`) of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:")
}
