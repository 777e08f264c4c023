//! Attachment benchmark (issue 11): a 200 MB file through the `duet` CLI and a real
//! `duet-relay` (both built `--release` by the harness) on loopback.
//!
//! Ada's `duet attach` seals it into her home, `duet sync` uploads it; Ben's `duet sync`
//! brings the entry (and would bring a thumbnail), `duet attachment get` downloads and opens
//! it. For each step: wall time, throughput (file bytes / time) and the process's peak RSS
//! (GNU time's `%M`). The wire bytes are counted by a TCP proxy in front of the relay. The
//! reference, in the same run: the same bytes unsealed, uploaded and downloaded by `curl`
//! in one request each through the same relay routes, and a plain `cp` of the file.
//!
//! `cargo bench -p duet-e2e --bench attachments` (`DUET_BENCH_MB` changes the size).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use duet_e2e::bench::{self, env_usize};
use duet_e2e::cli::{Home, s};
use duet_e2e::proxy::TcpProxy;
use duet_e2e::{SplitMix64, ok};

fn main() {
    let mb = env_usize("DUET_BENCH_MB", 200);
    let rt = bench::runtime();
    let m = bench::machine();
    println!("== machine");
    println!(
        "cpu: {}; nproc: {}; load: {}",
        m.cpu,
        m.nproc,
        bench::loadavg()
    );
    rt.block_on(run(mb));
}

/// A step's figures.
struct Step {
    secs: f64,
    peak_rss_mib: f64,
}

/// Run `duet` with these arguments under GNU time: its wall time and peak RSS.
fn timed(home: &Home, args: &[&str], scratch: &Path) -> (serde_json::Value, Step) {
    let rss_file = scratch.join("rss");
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-f").arg("%M").arg("-o").arg(&rss_file);
    let inner = home.cmd(&[&["--json"], args].concat());
    cmd.arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let t = Instant::now();
    let out = ok(cmd.output(), "running duet under /usr/bin/time");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "duet {args:?}: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let kib: f64 = std::fs::read_to_string(&rss_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let json = serde_json::from_slice(&out.stdout).unwrap();
    (
        json,
        Step {
            secs,
            peak_rss_mib: kib / 1024.0,
        },
    )
}

fn curl(args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = ok(Command::new("curl").args(args).output(), "running curl");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64()
}

async fn run(mb: usize) {
    let root = bench::tempdir("attachments");
    let relay = bench::relay(&root.path().join("relay"));
    let proxy = TcpProxy::start(relay.addr(), false).await;
    let (ada, ben, journal) = Home::partners_at(&proxy.url());
    ben.sync();

    let len = mb * 1_000_000;
    let file = root.path().join("video.mp4");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let mut rng = SplitMix64::new(11);
        for _ in 0..len / 8 {
            f.write_all(&rng.next_u64().to_le_bytes()).unwrap();
        }
    }
    let mbs = |secs: f64| len as f64 / 1e6 / secs;

    // The reference: a copy of the file on this disk.
    let t = Instant::now();
    std::fs::copy(&file, root.path().join("copy.mp4")).unwrap();
    let cp = t.elapsed().as_secs_f64();
    std::fs::remove_file(root.path().join("copy.mp4")).unwrap();

    let entry = s(&ada.ok(&["entry", "new", "-j", &journal, "--title", "the trip"])["id"]);
    let (att, seal) = timed(
        &ada,
        &["attach", &entry, file.to_str().unwrap()],
        root.path(),
    );
    let id = s(&att["id"]);
    let (up0, down0) = proxy.bytes();
    let (report, upload) = timed(&ada, &["sync"], root.path());
    let (up1, down1) = proxy.bytes();
    let sealed_sent = report["attachment_bytes_sent"].as_u64().unwrap();
    ben.sync();
    let out = root.path().join("fetched.mp4");
    let down_b0 = proxy.bytes().1;
    let (_, fetch) = timed(
        &ben,
        &["attachment", "get", &id, "--out", out.to_str().unwrap()],
        root.path(),
    );
    let wire_down = proxy.bytes().1 - down_b0;
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        len as u64,
        "fetched whole"
    );

    // The reference through the relay: the same bytes, unsealed, one PATCH and one GET.
    let (_, token) = duet_e2e::store::relay_credentials(&ada.path.join(duet_core::STORE_FILE));
    let hash = {
        let mut h = blake3::Hasher::new();
        h.update_reader(std::fs::File::open(&file).unwrap())
            .unwrap();
        duet_proto::attachments::to_hex(h.finalize().as_bytes())
    };
    let base = format!("{}/v1/spaces/{journal}/attachments/{hash}", relay.url());
    let auth = format!("Authorization: Bearer {token}");
    let put = format!("{base}/upload?offset=0&size={len}&ref={}", "0".repeat(32));
    let raw_up = curl(&[
        "-sf",
        "-X",
        "PATCH",
        "-H",
        &auth,
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        &format!("@{}", file.display()),
        &put,
        "-o",
        "/dev/null",
    ]);
    let raw_down = curl(&[
        "-sf",
        "-H",
        &auth,
        &base,
        "-o",
        root.path().join("raw.bin").to_str().unwrap(),
    ]);

    println!("== attachments: one {mb} MB file (10^6 bytes), loopback");
    println!(
        "seal (duet attach):          {:>7.2} s  {:>7.1} MB/s  peak RSS {:>6.1} MiB",
        seal.secs,
        mbs(seal.secs),
        seal.peak_rss_mib
    );
    println!(
        "upload (duet sync):          {:>7.2} s  {:>7.1} MB/s  peak RSS {:>6.1} MiB",
        upload.secs,
        mbs(upload.secs),
        upload.peak_rss_mib
    );
    let both = seal.secs + upload.secs;
    println!(
        "seal + upload:               {both:>7.2} s  {:>7.1} MB/s",
        mbs(both)
    );
    println!(
        "download + open (get):       {:>7.2} s  {:>7.1} MB/s  peak RSS {:>6.1} MiB",
        fetch.secs,
        mbs(fetch.secs),
        fetch.peak_rss_mib
    );
    println!(
        "wire up / file:              {:.4} ({} bytes up, {} down during the upload; sealed sent {sealed_sent})",
        (up1 - up0) as f64 / len as f64,
        up1 - up0,
        down1 - down0
    );
    println!(
        "wire down / file:            {:.4} ({wire_down} bytes)",
        wire_down as f64 / len as f64
    );
    println!(
        "reference, cp of the file:   {cp:>7.2} s  {:>7.1} MB/s",
        mbs(cp)
    );
    println!(
        "reference, curl PATCH raw:   {raw_up:>7.2} s  {:>7.1} MB/s",
        mbs(raw_up)
    );
    println!(
        "reference, curl GET raw:     {raw_down:>7.2} s  {:>7.1} MB/s",
        mbs(raw_down)
    );
}
