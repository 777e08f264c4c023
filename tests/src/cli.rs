//! The `duet` command line run as a user would: a home in a temporary directory and the
//! binary run against it with `--json`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::binary::workspace_binary;
use crate::ok;

/// The `duet` binary (see [`workspace_binary`]).
pub fn duet_binary() -> PathBuf {
    workspace_binary("duet-cli", "duet")
}

/// One Duet home (a device) in a temporary directory, driven through the `duet` binary.
#[derive(Debug)]
pub struct Home {
    pub dir: TempDir,
    pub path: PathBuf,
}

impl Home {
    /// A home that does not exist yet.
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let dir = ok(tempfile::tempdir(), "a temporary home");
        let path = dir.path().join("home");
        Home { dir, path }
    }

    /// A home with an identity already made.
    pub fn init(name: &str) -> Self {
        Home::init_at(name, None)
    }

    /// A home with an identity, remembering `relay` when given.
    pub fn init_at(name: &str, relay: Option<&str>) -> Self {
        let h = Home::new();
        let mut args = vec!["init", "--name", name];
        args.extend(relay.iter().flat_map(|r| ["--relay", *r]));
        let me = h.ok(&args);
        assert_eq!(me["relay"].is_string(), relay.is_some(), "{me}");
        h
    }

    /// A home with an identity and one shared journal; returns the journal id too.
    pub fn with_journal(name: &str, title: &str) -> (Self, String) {
        let h = Home::init(name);
        let j = h.ok(&["journal", "create", "--title", title]);
        let id = s(&j["id"]);
        (h, id)
    }

    /// Ada and Ben on the relay at `url`, sharing the journal "Us" (Ada made it and invited
    /// Ben, who joined; Ada synced): (Ada, Ben, the journal id).
    pub fn partners_at(url: &str) -> (Home, Home, String) {
        let a = Home::init_at("Ada", Some(url));
        let j = s(&a.ok(&["journal", "create", "--title", "Us"])["id"]);
        let invite = a.ok(&["invite", "create", "--journal", &j]);
        let b = Home::init_at("Ben", Some(url));
        b.ok(&["join", &s(&invite["uri"])]);
        a.sync();
        (a, b, j)
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(duet_binary());
        c.arg("--home")
            .arg(&self.path)
            .args(args)
            .env_remove("DUET_HOME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        ok(self.cmd(args).output(), "running duet")
    }

    /// Run with `--json` and `input` on standard input, expect success, return the parsed
    /// document.
    pub fn ok_with_stdin(&self, args: &[&str], input: &str) -> Value {
        let mut child = ok(
            self.cmd(&with_json(args))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn(),
            "starting duet",
        );
        if let Some(mut stdin) = child.stdin.take() {
            ok(stdin.write_all(input.as_bytes()), "writing duet's input");
        }
        let out = ok(child.wait_with_output(), "running duet");
        assert!(
            out.status.success(),
            "duet {args:?} failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        parse(&out)
    }

    /// Run with `--json`, expect success, return the parsed document.
    pub fn ok(&self, args: &[&str]) -> Value {
        let out = self.run(&with_json(args));
        assert!(
            out.status.success(),
            "duet {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        parse(&out)
    }

    /// Run with `--json`, expect failure; return the exit code and the error's code.
    pub fn fail(&self, args: &[&str]) -> (i32, String) {
        let out = self.run(&with_json(args));
        assert!(!out.status.success(), "duet {args:?} should have failed");
        let doc = parse(&out);
        let err = &doc["error"];
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{doc}"
        );
        let code = out
            .status
            .code()
            .unwrap_or_else(|| panic!("duet {args:?} was killed"));
        (code, s(&err["code"]))
    }

    /// Create an entry and return its JSON.
    pub fn entry(&self, journal: &str, extra: &[&str]) -> Value {
        let mut args = vec!["entry", "new", "--journal", journal];
        args.extend_from_slice(extra);
        self.ok(&args)
    }

    /// Write an entry with this body; its id.
    pub fn write(&self, journal: &str, body: &str) -> String {
        s(&self.entry(journal, &["--body", body])["id"])
    }

    /// The journal's entries as (id, excerpt), sorted by id.
    pub fn entries(&self, journal: &str) -> Vec<(String, String)> {
        let list = self.ok(&["entry", "list", "--journal", journal, "--limit", "500"]);
        let mut v: Vec<(String, String)> = array(&list["entries"])
            .iter()
            .map(|e| (s(&e["id"]), s(&e["excerpt"])))
            .collect();
        v.sort();
        v
    }

    /// `entry edit ID FLAG TEXT` (`--title`, `--body`, …): the edited entry's JSON.
    pub fn edit(&self, id: &str, flag: &str, text: &str) -> Value {
        self.ok(&["entry", "edit", id, flag, text])
    }

    pub fn body(&self, id: &str) -> String {
        s(&self.ok(&["entry", "show", id])["body"])
    }

    pub fn sync(&self) -> Value {
        self.ok(&["sync"])
    }
}

/// The arguments of `checkin` into `journal` with these scores (as the user types them).
pub fn checkin<'a>(journal: &'a str, mood: &'a str, closeness: &'a str) -> Vec<&'a str> {
    let scores = ["--mood", mood, "--closeness", closeness];
    [&["checkin", "--journal", journal][..], &scores].concat()
}

pub fn with_json<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut v = args.to_vec();
    v.push("--json");
    v
}

/// The one JSON document on stdout.
pub fn parse(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The items of a JSON array.
pub fn array(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not an array: {v}"))
}

/// A JSON string's text.
pub fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

/// The ids of an `entry list` document.
pub fn ids(list: &Value) -> Vec<String> {
    array(&list["entries"])
        .iter()
        .map(|e| s(&e["id"]))
        .collect()
}

/// The ids of (id, excerpt) pairs.
pub fn entry_ids(entries: &[(String, String)]) -> Vec<String> {
    entries.iter().map(|(id, _)| id.clone()).collect()
}
