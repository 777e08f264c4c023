//! A private relay (one that registers devices only with its operator's token), and what
//! `sync` reports on stderr as it goes.

use duet_e2e::cli::*;
use duet_e2e::relay::RelayProcess;

/// Without the token a closed relay refuses to register this device (a typed error, and
/// nothing registered: `relay show` still says so); with `--registration-token` (or
/// `DUET_REGISTRATION_TOKEN`) it registers and syncs, and a device joining by invite needs
/// it too.
#[test]
fn a_closed_relay_registers_only_with_its_token() {
    let relay = RelayProcess::temp_with(&["--registration-token", "open-sesame"]);
    let url = relay.url();
    let a = Home::init_at("Ada", Some(&url));
    let out = a.run(&["sync", "--json"]);
    assert_eq!(out.status.code(), Some(7), "relay_refused exits 7");
    let err = parse(&out);
    assert_eq!(err["error"]["code"], "relay_refused", "{err}");
    let message = s(&err["error"]["message"]);
    assert!(message.contains("registration_closed"), "{message}");
    assert_eq!(a.ok(&["relay", "show"])["registered"], false);
    let (code, kind) = a.fail(&["--registration-token", "wrong", "sync"]);
    assert_eq!((code, kind.as_str()), (7, "relay_refused"));

    // The right token, as a flag: registered and synced.
    a.ok(&["--registration-token", "open-sesame", "sync"]);
    assert_eq!(a.ok(&["relay", "show"])["registered"], true);
    // Registered once: the token is not needed any more.
    let j = s(&a.ok(&["journal", "create", "--title", "Us"])["id"]);
    let code = s(&a.ok(&["invite", "create", "--journal", &j])["code"]);

    // Ben joins with the token from the environment.
    let b = Home::init_at("Ben", Some(&url));
    let joined = b
        .cmd(&["join", &code, "--json"])
        .env("DUET_REGISTRATION_TOKEN", "open-sesame")
        .output()
        .unwrap();
    assert!(
        joined.status.success(),
        "{}",
        String::from_utf8_lossy(&joined.stderr)
    );
    assert_eq!(s(&parse(&joined)["id"]), j, "{}", parse(&joined));
}

/// `sync` prints its progress on stderr as each acknowledged batch or page is kept: a JSON
/// line per step with `--json` (stdout keeps the one report), a line for people without.
#[test]
fn sync_reports_its_progress_on_stderr() {
    let relay = RelayProcess::temp();
    let url = relay.url();
    let (a, j) = {
        let h = Home::init_at("Ada", Some(&url));
        let j = s(&h.ok(&["journal", "create", "--title", "Us"])["id"]);
        (h, j)
    };
    for i in 0..30 {
        a.write(
            &j,
            &format!("entry {i}: {}", "a long walk by the river. ".repeat(40)),
        );
    }
    let out = a.run(&["sync", "--json"]);
    assert!(out.status.success());
    let report = parse(&out);
    assert!(report["pushed"].as_u64().unwrap() >= 30, "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let steps: Vec<serde_json::Value> = stderr
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!steps.is_empty(), "no progress on stderr: {stderr}");
    let pushed: Vec<u64> = steps
        .iter()
        .map(|v| {
            assert_eq!(v["sync"]["state"], "syncing", "{v}");
            v["sync"]["progress"]["pushed"].as_u64().unwrap()
        })
        .collect();
    assert!(pushed.windows(2).all(|w| w[0] <= w[1]), "{pushed:?}");
    assert_eq!(pushed.last().copied(), report["pushed"].as_u64());

    // Ben pulls the lot: text lines for people.
    let b = Home::init_at("Ben", Some(&url));
    let code = s(&a.ok(&["invite", "create", "--journal", &j])["code"]);
    b.ok(&["join", &code]);
    let out = b.run(&["sync"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("sync: syncing (pushed")),
        "{stderr}"
    );
}
