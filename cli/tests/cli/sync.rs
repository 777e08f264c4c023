//! The real `duet` binary syncing through a real `duet-relay` process: invites, offline
//! writes, merged edits, `watch`, device links, member removal, and the relay errors.

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use duet_e2e::relay::RelayProcess;
use serde_json::Value;

use duet_e2e::cli::*;

/// Wait for a child at most `within`; kill it and fail the test when it overstays.
fn wait_for(child: &mut Child, within: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child did not exit within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Two partners and a second device of one of them, through one relay, all by the CLI.
#[test]
fn partners_sync_watch_link_and_remove() {
    let started = Instant::now();
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let url = relay.url();

    // Ada sets up with the relay, makes a journal and an invite.
    let a = Home::init_at("Ada", Some(&url));
    let j = s(&a.ok(&["journal", "create", "--title", "Us"])["id"]);
    let shared = a.write(&j, "I love our mornings.");
    let show = a.ok(&["relay", "show"]);
    assert_eq!(show["registered"], false, "{show}");
    assert!(show["outbox"].as_u64().unwrap() >= 2, "{show}");
    let invite = a.ok(&["invite", "create", "--journal", "Us", "--ttl-hours", "2"]);
    assert_eq!(invite["journal"], j.as_str());
    assert!(s(&invite["code"]).starts_with("DUET-"), "{invite}");
    assert!(s(&invite["uri"]).starts_with("duet:join?"), "{invite}");
    assert!(invite["expires_at"].is_i64());
    let show = a.ok(&["relay", "show"]);
    assert_eq!(show["registered"], true, "{show}");
    assert_eq!(show["outbox"], 0, "{show}");
    // The relay's token never reaches the output.
    assert_eq!(show.as_object().unwrap().len(), 5, "{show}");
    // Text mode shows the code and the URI.
    let text = a.run(&["invite", "create", "--journal", &j]);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(
        text.contains("DUET-") && text.contains("duet:join?"),
        "{text}"
    );

    // Ben has no relay yet: the URI names it.
    let b = Home::init_at("Ben", None);
    let joined = b.ok(&["join", &s(&invite["uri"])]);
    assert_eq!(joined["id"], j.as_str());
    assert_eq!(joined["title"], "Us");
    assert!(b.ok(&["relay", "show"])["url"].is_string());

    // Both write offline, then sync twice each: both hold everything.
    let from_a = a.write(&j, "from ada, on the bus");
    let from_b = b.write(&j, "from ben, at lunch");
    let report = a.sync();
    assert!(report["pushed"].as_u64().unwrap() >= 1, "{report}");
    b.sync();
    a.sync();
    b.sync();
    let on_a = a.entries(&j);
    assert_eq!(on_a, b.entries(&j));
    for id in [&shared, &from_a, &from_b] {
        assert!(entry_ids(&on_a).contains(id), "{id} missing: {on_a:?}");
    }

    // Both edit the same body offline; after syncing both hold both edits.
    a.ok(&[
        "entry",
        "edit",
        &shared,
        "--body",
        "I really love our mornings.",
    ]);
    b.ok(&[
        "entry",
        "edit",
        &shared,
        "--body",
        "I love our slow mornings.",
    ]);
    a.sync();
    b.sync();
    a.sync();
    b.sync();
    assert_eq!(a.body(&shared), "I really love our slow mornings.");
    assert_eq!(b.body(&shared), "I really love our slow mornings.");

    // Ben watches; Ada writes and syncs; Ben's watch prints that entry as it arrives.
    let mut watch = b
        .cmd(&["watch", "--json", "--exit-after", "1", "--timeout", "20"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, states) = mpsc::channel::<String>();
    let stderr = watch.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    // Write only once the live channel is up, so the event comes live, not by the first sync.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = states
            .recv_timeout(left)
            .expect("watch never reported the live state");
        let state: Value = serde_json::from_str(&line).unwrap();
        if state["sync"]["state"] == "live" {
            break;
        }
    }
    let live = a.write(&j, "written while Ben watches");
    a.sync();
    let status = wait_for(&mut watch, Duration::from_secs(30));
    assert!(status.success(), "watch ended with {status}");
    let mut out = String::new();
    watch
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "one event, one line: {out}");
    let ev: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(ev["entry"], live.as_str(), "{ev}");
    assert_eq!(ev["kind"], "added", "{ev}");
    assert_eq!(ev["origin"], "remote", "{ev}");
    assert_eq!(ev["by_name"], "Ada", "{ev}");
    assert_eq!(ev["journal"], j.as_str(), "{ev}");
    assert!(b.entries(&j).iter().any(|(id, _)| *id == live));

    // Ben links a second device. A home that exists already is refused before the one-use
    // code is spent, so the same code then sets up the new home.
    let link = b.ok(&["device", "link", "--ttl-hours", "1"]);
    let code = s(&link["code"]);
    assert!(code.starts_with("DUET-"), "{link}");
    let (exit, err) = a.fail(&["device", "join", &code, "--relay", &url]);
    assert_eq!((exit, err.as_str()), (1, "already_initialized"));
    let b2 = Home::new();
    let me2 = b2.ok(&["device", "join", &code, "--relay", &url]);
    let ben = b.ok(&["whoami"]);
    assert_eq!(me2["member"], ben["member"]);
    assert_ne!(me2["device"], ben["device"]);
    assert!(
        me2["journals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["id"] == j.as_str()),
        "{me2}"
    );
    assert_eq!(entry_ids(&b2.entries(&j)), entry_ids(&b.entries(&j)));
    let devices = b2.ok(&["device", "list"]);
    let devices = devices["devices"].as_array().unwrap();
    assert_eq!(devices[0]["this_device"], true);
    assert!(devices.len() >= 2, "{devices:?}");

    // Ada removes Ben (by name): his devices leave and the key changes.
    let removed = a.ok(&["member", "remove", "--journal", "Us", "--member", "ben"]);
    assert_eq!(removed["removed"], ben["member"]);
    let journal = &removed["journal"];
    assert!(
        journal["removed_members"]
            .as_array()
            .unwrap()
            .contains(&ben["member"]),
        "{journal}"
    );
    let after = a.write(&j, "after Ben left");
    a.sync();
    for home in [&b, &b2] {
        let out = home.run(&["sync", "--json"]);
        assert!(
            out.status.success() || out.status.code() == Some(7),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(!entry_ids(&home.entries(&j)).contains(&after));
    }
    // Ben can still link a device of his own; the journal he left is not part of it.
    let relink = b.ok(&["device", "link"]);
    assert!(s(&relink["code"]).starts_with("DUET-"));
    // ... and Ada can't remove herself.
    let (exit, err) = a.fail(&["member", "remove", "--journal", "Us", "--member", "me"]);
    assert_eq!((exit, err.as_str()), (1, "not_allowed"));
    eprintln!("scenario took {:?}", started.elapsed());
}

/// Failures reach scripts as stable codes and exit statuses, and change nothing.
#[test]
fn relay_failures_have_codes_and_change_nothing() {
    // A relay URL that isn't one: refused before the home exists.
    let h = Home::new();
    let (exit, err) = h.fail(&["init", "--name", "Cy", "--relay", "ftp://example"]);
    assert_eq!((exit, err.as_str()), (2, "invalid_input"));
    assert!(!h.path.exists());

    let h = Home::init_at("Cy", None);
    let shown = h.ok(&["relay", "show"]);
    assert!(shown["url"].is_null(), "{shown}");
    let j = s(&h.ok(&["journal", "create", "--title", "Us"])["id"]);
    h.write(&j, "one");
    h.write(&j, "two");
    let before = h.entries(&j);

    // A code that is no code: rejected without a relay.
    let (exit, err) = h.fail(&["join", "DUET-NOT-A-REAL-CODE"]);
    assert_eq!((exit, err.as_str()), (8, "invite_rejected"));
    // No relay set.
    let (exit, err) = h.fail(&["sync"]);
    assert_eq!((exit, err.as_str()), (6, "no_relay"));
    let (exit, err) = h.fail(&["invite", "create", "--journal", &j]);
    assert_eq!((exit, err.as_str()), (6, "no_relay"));
    let (exit, err) = h.fail(&["watch", "--timeout", "1"]);
    assert_eq!((exit, err.as_str()), (6, "no_relay"));

    // A relay that is down: a port on 127.0.0.1 nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    h.ok(&["relay", "set", &format!("http://127.0.0.1:{port}")]);
    let outbox = h.ok(&["relay", "show"])["outbox"].clone();
    let (exit, err) = h.fail(&["sync"]);
    assert_eq!((exit, err.as_str()), (5, "offline"));
    let (exit, err) = h.fail(&["device", "link"]);
    assert_eq!((exit, err.as_str()), (5, "offline"));
    let text = h.run(&["sync"]);
    assert_eq!(text.status.code(), Some(5));
    assert!(text.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.contains("(offline)"), "{stderr}");
    // Nothing changed: the same entries, everything still queued.
    assert_eq!(h.entries(&j), before);
    let shown = h.ok(&["relay", "show"]);
    assert_eq!(shown["outbox"], outbox);
    assert_eq!(shown["registered"], false);

    // Usage errors.
    let (exit, _) = h.fail(&["invite", "create", "--journal", &j, "--ttl-hours", "0"]);
    assert_eq!(exit, 2);
    let (exit, err) = h.fail(&["relay", "set", "not a url"]);
    assert_eq!((exit, err.as_str()), (2, "invalid_input"));
    let (exit, err) = h.fail(&["device", "revoke", "zz"]);
    assert_eq!((exit, err.as_str()), (3, "not_found"));
}

/// The journals a home lists, by id.
fn journal_ids(h: &Home) -> Vec<String> {
    h.ok(&["journal", "list"])["journals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| s(&j["id"]))
        .collect()
}

/// `relay set` keeps what a home has: another name of the same relay keeps its identity,
/// a new relay gets everything and says what that means, and going back restores the old
/// identity. A journal made on one device after another was linked reaches that device.
#[test]
fn relay_moves_keep_everything_and_linked_devices_get_later_journals() {
    let data = tempfile::tempdir().unwrap();
    let relay = RelayProcess::start(data.path());
    let url = relay.url();
    let a = Home::init_at("Ada", Some(&url));
    let j = s(&a.ok(&["journal", "create", "--title", "Us"])["id"]);
    a.write(&j, "before any move");
    a.sync();
    let dev = a.ok(&["relay", "show"])["device_id"].clone();
    assert!(dev.is_string(), "{dev}");

    // The same relay under another name, and back: the identity is kept, syncing goes on.
    let alias = url.replace("127.0.0.1", "localhost");
    let set = a.ok(&["relay", "set", &alias]);
    assert_eq!(set["identity"], "kept", "{set}");
    assert_eq!(set["device_id"], dev, "{set}");
    assert!(s(&set["url"]).starts_with("http://localhost:"), "{set}");
    assert!(!s(&set["message"]).is_empty());
    assert_eq!(set.as_object().unwrap().len(), 4, "{set}");
    a.write(&j, "through the other name");
    assert!(a.sync()["pushed"].as_u64().unwrap() >= 1);
    let set = a.ok(&["relay", "set", &url]);
    assert_eq!(
        (&set["identity"], &set["device_id"]),
        (&"kept".into(), &dev)
    );
    assert_eq!(a.sync()["pushed"], 0);

    // A second device of Ada's; then a journal made on the first reaches it at its next sync.
    let link = a.ok(&["device", "link"]);
    let a2 = Home::new();
    a2.ok(&["device", "join", &s(&link["code"]), "--relay", &url]);
    assert_eq!(entry_ids(&a2.entries(&j)), entry_ids(&a.entries(&j)));
    let later = s(&a.ok(&["journal", "create", "--title", "Later"])["id"]);
    let in_later = a.write(&later, "made after the link");
    a.sync();
    a2.sync();
    assert!(journal_ids(&a2).contains(&later), "{:?}", journal_ids(&a2));
    assert_eq!(entry_ids(&a2.entries(&later)), vec![in_later.clone()]);
    // ... and what the second device writes there reaches the first.
    let from_a2 = a2.write(&later, "from the second device");
    a2.sync();
    a.sync();
    assert!(entry_ids(&a.entries(&later)).contains(&from_a2));

    // A new relay: registered afresh, told what it means, and given the whole history.
    let data2 = tempfile::tempdir().unwrap();
    let relay2 = RelayProcess::start(data2.path());
    let set = a.ok(&["relay", "set", &relay2.url()]);
    assert_eq!(set["identity"], "new", "{set}");
    assert_ne!(set["device_id"], dev, "{set}");
    assert!(s(&set["message"]).contains("invited again"), "{set}");
    let pushed = a.sync()["pushed"].as_u64().unwrap();
    assert!(
        pushed >= 5,
        "every document goes to the new relay: {pushed}"
    );
    // A device linked there sees everything written before the move.
    let link = a.ok(&["device", "link"]);
    let a3 = Home::new();
    a3.ok(&[
        "device",
        "join",
        &s(&link["code"]),
        "--relay",
        &relay2.url(),
    ]);
    assert_eq!(entry_ids(&a3.entries(&j)), entry_ids(&a.entries(&j)));
    assert_eq!(
        entry_ids(&a3.entries(&later)),
        entry_ids(&a.entries(&later))
    );

    // Back to the first relay: its identity is restored and what it missed goes there.
    let since = a.write(&j, "written on the second relay");
    a.sync();
    let set = a.ok(&["relay", "set", &url]);
    assert_eq!(set["identity"], "restored", "{set}");
    assert_eq!(set["device_id"], dev, "{set}");
    a.sync();
    a2.sync();
    assert!(entry_ids(&a2.entries(&j)).contains(&since));

    // A relay that can't be reached: recorded, unverified, nothing lost; checked at sync.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let set = a.ok(&["relay", "set", &format!("http://127.0.0.1:{port}")]);
    assert_eq!(set["identity"], "unverified", "{set}");
    assert!(set["device_id"].is_null(), "{set}");
    let (exit, err) = a.fail(&["sync"]);
    assert_eq!((exit, err.as_str()), (5, "offline"));
    let set = a.ok(&["relay", "set", &url]);
    assert_eq!(set["identity"], "kept", "{set}");
    a.sync();
}

/// A lost phone, through the CLI: `device revoke` on Ada's laptop refuses the phone at
/// the relay and replaces every key it held (`journal list` shows the new `key_epoch`);
/// Ben reads on under the new key, and the phone gets nothing new.
#[test]
fn revoking_a_lost_phone_rotates_the_journals_key() {
    let relay = RelayProcess::temp();
    let url = relay.url();
    let (a, b, j) = Home::partners_at(&url);
    let link = a.ok(&["device", "link"]);
    let phone = Home::new();
    phone.ok(&["device", "join", &s(&link["code"]), "--relay", &url]);
    for h in [&a, &b, &phone, &a, &b] {
        h.sync();
    }
    let listed = phone.ok(&["device", "list"]);
    let phone_id = array(&listed["devices"])[0]["id"].clone();
    let epoch = |h: &Home| {
        let list = h.ok(&["journal", "list"]);
        array(&list["journals"])
            .iter()
            .find(|x| x["id"] == j.as_str())
            .map(|x| x["key_epoch"].as_u64().unwrap())
            .unwrap()
    };
    assert_eq!(epoch(&a), 1);

    let revoked = a.ok(&["device", "revoke", &s(&phone_id)]);
    assert_eq!(revoked["revoked"], phone_id, "{revoked}");
    assert!(
        array(&revoked["journals"])
            .iter()
            .any(|x| x["id"] == j.as_str() && x["key_epoch"] == 2),
        "{revoked}"
    );
    assert_eq!(epoch(&a), 2);

    let after = a.write(&j, "after the phone was lost");
    a.sync();
    b.sync();
    assert_eq!(epoch(&b), 2);
    assert!(entry_ids(&b.entries(&j)).contains(&after));
    let (exit, err) = phone.fail(&["sync"]);
    assert_eq!((exit, err.as_str()), (7, "relay_refused"));
    assert!(!entry_ids(&phone.entries(&j)).contains(&after));
}

/// Partner-assisted restore through the CLI: Ben's `member restore` prints a one-use code;
/// Ada's new home (`init`, then `join CODE`) is Ada again — same member, her entries hers —
/// and her old home is out of the journal, whose key changed.
#[test]
fn a_partner_restores_one_who_lost_every_device() {
    let relay = RelayProcess::temp();
    let url = relay.url();
    let (a, b, j) = Home::partners_at(&url);
    let first = a.write(&j, "from before");
    a.sync();
    b.sync();
    let ada = a.ok(&["whoami"])["member"].clone();
    let (exit, err) = b.fail(&["member", "restore", "--journal", "Us", "--member", "me"]);
    assert_eq!((exit, err.as_str()), (1, "not_allowed"));

    let code = b.ok(&["member", "restore", "--journal", "Us", "--member", "ada"]);
    assert!(s(&code["code"]).starts_with("DUET-"), "{code}");
    assert_eq!(code["member"], ada, "{code}");
    assert_eq!(code["key_epoch"], 2, "{code}");
    assert_eq!(code["drafts_restored"], false, "{code}");
    let again = Home::init_at("Ada", Some(&url));
    let joined = again.ok(&["join", &s(&code["code"])]);
    assert_eq!(joined["member"], ada, "{joined}");
    assert_eq!(again.ok(&["whoami"])["member"], ada);
    assert!(entry_ids(&again.entries(&j)).contains(&first));

    let back = again.write(&j, "back again");
    again.sync();
    b.sync();
    assert!(entry_ids(&b.entries(&j)).contains(&back));
    let _ = a.run(&["sync"]);
    assert!(!entry_ids(&a.entries(&j)).contains(&back));
}
