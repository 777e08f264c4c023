//! The real `duet` binary, run in temporary homes, checked through its `--json` output.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use duet_e2e::cli::*;

#[test]
fn init_whoami_and_journals() {
    let h = Home::new();
    let me = h.ok(&["init", "--name", "Alice"]);
    assert_eq!(me["name"], "Alice");
    for key in ["member", "device", "personal_space", "home"] {
        assert!(me[key].is_string(), "{key} missing in {me}");
    }
    let who = h.ok(&["whoami"]);
    assert_eq!(who["member"], me["member"]);
    assert_eq!(who["personal_space"], me["personal_space"]);

    let j = h.ok(&["journal", "create", "--title", "Our Journal"]);
    assert_eq!(j["title"], "Our Journal");
    assert_eq!(j["kind"], "journal");
    assert_eq!(j["members"][0]["name"], "Alice");
    assert!(j["created_at"].is_i64());
    assert!(j["created_at_rfc3339"].is_string());

    let list = h.ok(&["journal", "list"]);
    let journals = list["journals"].as_array().unwrap();
    assert_eq!(journals.len(), 2);
    assert_eq!(journals[0]["kind"], "personal");
    assert_eq!(journals[0]["id"], me["personal_space"]);
    assert_eq!(journals[1]["id"], j["id"]);

    // A journal can be named by title (any case), unique id prefix or `personal`.
    let jid = s(&j["id"]);
    let by_title = h.entry("our journal", &["--body", "one"]);
    let by_prefix = h.entry(&jid[..30], &["--body", "two"]);
    let by_id = h.entry(&jid, &["--body", "three"]);
    for e in [&by_title, &by_prefix, &by_id] {
        assert_eq!(e["journal"], j["id"]);
    }
    let draft = h.entry("personal", &["--body", "private"]);
    assert_eq!(draft["journal"], me["personal_space"]);
    let (code, err) = h.fail(&["entry", "list", "--journal", "no such journal"]);
    assert_eq!((code, err.as_str()), (3, "not_found"));
}

#[test]
fn entries_new_edit_show_list_delete_restore() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let me = h.ok(&["whoami"]);
    let what = ["--kind", "appreciation", "--title", "Thank you"];
    let body = ["--body", "for the soup when I was ill"];
    let tags = ["--tag", "care", "--tag", "home"];
    let e = h.entry(&j, &[&what[..], &body, &tags].concat());
    for key in [
        "id",
        "journal",
        "kind",
        "author",
        "title",
        "body",
        "tags",
        "created_at",
        "updated_at",
        "deleted",
        "reactions",
        "replies",
    ] {
        assert!(e.get(key).is_some(), "entry JSON lacks {key}: {e}");
    }
    assert_eq!(e["kind"], "appreciation");
    assert_eq!(e["author"], me["member"]);
    assert_eq!(e["author_name"], "Alice");
    assert_eq!(e["title"], "Thank you");
    assert_eq!(e["body"], "for the soup when I was ill");
    assert_eq!(e["tags"], serde_json::json!(["care", "home"]));
    assert_eq!(e["deleted"], false);
    assert!(e["created_at"].is_i64());
    assert!(s(&e["created_at_rfc3339"]).ends_with('Z'));
    let id = s(&e["id"]);

    // Body from a file, and from stdin.
    let file = h.dir.path().join("body.txt");
    std::fs::write(&file, "written in a file").unwrap();
    let from_file = h.entry(&j, &["--body-file", file.to_str().unwrap()]);
    assert_eq!(from_file["body"], "written in a file");
    assert_eq!(from_file["kind"], "reflection");
    let from_stdin = h.ok_with_stdin(
        &["entry", "new", "--journal", &j, "--body-file", "-"],
        "from stdin ✍️",
    );
    assert_eq!(from_stdin["body"], "from stdin ✍️");

    // Edit the body through the full-text path; the title is untouched.
    let edited = h.edit(&id, "--body", "for the soup and the blanket when I was ill");
    assert_eq!(
        edited["body"],
        "for the soup and the blanket when I was ill"
    );
    assert_eq!(edited["title"], "Thank you");
    assert!(edited["updated_at"].as_i64() >= e["updated_at"].as_i64());
    let edited = h.ok(&["entry", "edit", &id, "--title", "Thank you, love"]);
    assert_eq!(edited["title"], "Thank you, love");
    assert_eq!(
        edited["body"],
        "for the soup and the blanket when I was ill"
    );
    let (code, err) = h.fail(&["entry", "edit", &id]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));

    // Show by a unique prefix (UUIDv7s made together share their first characters).
    let shown = h.ok(&["entry", "show", &id[..id.len() - 2]]);
    assert_eq!(shown["id"], id.as_str());
    assert_eq!(shown["title"], "Thank you, love");
    let text = h.run(&["entry", "show", &id]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("Thank you, love"));

    // List, with filters.
    let all = h.ok(&["entry", "list", "--journal", &j]);
    assert_eq!(all["entries"].as_array().unwrap().len(), 3);
    assert!(all["next"].is_null());
    let kind = h.ok(&["entry", "list", "--journal", &j, "--kind", "appreciation"]);
    assert_eq!(ids(&kind), vec![id.clone()]);
    let tag = h.ok(&["entry", "list", "--journal", &j, "--tag", "care"]);
    assert_eq!(ids(&tag), vec![id.clone()]);
    let mine = h.ok(&["entry", "list", "--journal", &j, "--author", "me"]);
    assert_eq!(mine["entries"].as_array().unwrap().len(), 3);
    let by_name = h.ok(&["entry", "list", "--journal", &j, "--author", "alice"]);
    assert_eq!(by_name["entries"].as_array().unwrap().len(), 3);
    let (code, err) = h.fail(&["entry", "list", "--journal", &j, "--author", "Nobody"]);
    assert_eq!((code, err.as_str()), (3, "not_found"));
    let (code, err) = h.fail(&["entry", "list", "--journal", &j, "--kind", "poem"]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));

    // Paging: a limit of 2 gives a cursor to the last one.
    let page1 = h.ok(&["entry", "list", "--journal", &j, "--limit", "2"]);
    assert_eq!(page1["entries"].as_array().unwrap().len(), 2);
    let cursor = s(&page1["next"]);
    let page2 = h.ok(&[
        "entry",
        "list",
        "--journal",
        &j,
        "--limit",
        "2",
        "--cursor",
        &cursor,
    ]);
    assert_eq!(page2["entries"].as_array().unwrap().len(), 1);
    assert!(page2["next"].is_null());

    // Delete to the trash, restore.
    let deleted = h.ok(&["entry", "delete", &id]);
    assert_eq!(deleted["deleted"], true);
    assert!(deleted["deleted_at"].is_i64());
    let live = h.ok(&["entry", "list", "--journal", &j]);
    assert!(!ids(&live).contains(&id));
    let trash = h.ok(&["entry", "list", "--journal", &j, "--trash"]);
    assert_eq!(ids(&trash), vec![id.clone()]);
    let (code, err) = h.fail(&["entry", "edit", &id, "--body", "x"]);
    assert_eq!((code, err.as_str()), (1, "not_allowed"));
    let restored = h.ok(&["entry", "restore", &id]);
    assert_eq!(restored["deleted"], false);
    assert_eq!(
        restored["body"],
        "for the soup and the blanket when I was ill"
    );
    let trash = h.ok(&["entry", "list", "--journal", &j, "--trash"]);
    assert!(ids(&trash).is_empty());
    assert!(ids(&h.ok(&["entry", "list", "--journal", &j])).contains(&id));
}

#[test]
fn reactions_and_replies() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let me = h.ok(&["whoami"]);
    let id = s(&h.entry(&j, &["--body", "we made it up the mountain"])["id"]);

    let reacted = h.ok(&["react", &id, "❤️"]);
    let reactions = reacted["reactions"].as_array().unwrap();
    assert_eq!(reactions.len(), 1);
    assert_eq!(reactions[0]["emoji"], "❤️");
    assert_eq!(reactions[0]["member"], me["member"]);
    // Reacting again replaces my reaction.
    let again = h.ok(&["react", &id, "🎉"]);
    assert_eq!(again["reactions"].as_array().unwrap().len(), 1);
    assert_eq!(again["reactions"][0]["emoji"], "🎉");
    let removed = h.ok(&["react", &id, "--remove"]);
    assert!(removed["reactions"].as_array().unwrap().is_empty());
    let (code, err) = h.fail(&["react", &id, "two words"]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));

    let replied = h.ok(&["reply", &id, "and the view!"]);
    assert_eq!(replied["reply"]["body"], "and the view!");
    assert_eq!(replied["reply"]["author"], me["member"]);
    let replies = replied["entry"]["replies"].as_array().unwrap();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0]["id"], replied["reply"]["id"]);
    let shown = h.ok(&["entry", "show", &id]);
    assert_eq!(shown["replies"][0]["body"], "and the view!");
    let (code, err) = h.fail(&["reply", &id, "   "]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
}

#[test]
fn checkins_and_trends() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let me = h.ok(&["whoami"]);
    let mut args = checkin(&j, "4", "5");
    args.extend([
        "--needs",
        "a quiet evening",
        "--gratitude",
        "breakfast in bed",
    ]);
    let c = h.ok(&args);
    assert_eq!(c["kind"], "check_in");
    assert_eq!(c["check_in"]["mood"], 4);
    assert_eq!(c["check_in"]["closeness"], 5);
    assert_eq!(c["check_in"]["needs"], "a quiet evening");
    assert_eq!(c["check_in"]["gratitude"], "breakfast in bed");
    h.ok(&checkin(&j, "2", "3"));

    // Out of range: refused, nothing written.
    let (code, err) = h.fail(&checkin(&j, "7", "3"));
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
    let list = h.ok(&["entry", "list", "--journal", &j, "--kind", "check_in"]);
    assert_eq!(list["entries"].as_array().unwrap().len(), 2);

    let t = h.ok(&["trends", "--journal", &j]);
    assert_eq!(t["journal"], j.as_str());
    let members = t["members"].as_array().unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["member"], me["member"]);
    assert_eq!(members[0]["name"], "Alice");
    assert_eq!(members[0]["average_mood"], 3.0);
    assert_eq!(members[0]["average_closeness"], 4.0);
    let weeks = members[0]["weeks"].as_array().unwrap();
    assert_eq!(weeks.len(), 1);
    assert_eq!(weeks[0]["check_ins"], 2);
}

#[test]
fn prompt_of_the_day_and_answering_it() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let p = h.ok(&["prompt", "--journal", &j]);
    assert_eq!(p["journal"], j.as_str());
    let pid = s(&p["id"]);
    assert!(!s(&p["text"]).is_empty());
    assert!(p["practice"].is_string());
    // Same journal, same day: the same prompt.
    assert_eq!(h.ok(&["prompt", "--journal", &j])["id"], pid.as_str());

    let answer = h.entry(&j, &["--prompt", &pid, "--body", "more walks together"]);
    assert_eq!(answer["kind"], "prompt_answer");
    assert_eq!(answer["prompt_id"], pid.as_str());
    let (code, err) = h.fail(&[
        "entry",
        "new",
        "--journal",
        &j,
        "--prompt",
        "nope",
        "--body",
        "x",
    ]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
}

#[test]
fn search_history_and_conflicts() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let me = h.ok(&["whoami"]);
    let beach = s(&h.entry(
        &j,
        &["--title", "Saturday", "--body", "the beach at sunset"],
    )["id"]);
    h.entry(&j, &["--body", "groceries and laundry"]);
    h.entry("personal", &["--body", "a private beach memory"]);

    let hits = h.ok(&["search", "beach"]);
    let found: Vec<String> = hits["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|hit| s(&hit["entry"]["id"]))
        .collect();
    assert_eq!(found.len(), 2);
    assert!(found.contains(&beach));
    let in_journal = h.ok(&["search", "beach", "--journal", &j]);
    let hits = in_journal["hits"].as_array().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0]["entry"]["id"], beach.as_str());
    assert!(s(&hits[0]["snippet"]).contains("[beach]"));
    assert!(
        h.ok(&["search", "volcano"])["hits"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Edits are searchable at once.
    h.ok(&[
        "entry",
        "edit",
        &beach,
        "--body",
        "the beach at sunset, then pizza",
    ]);
    let pizza = h.ok(&["search", "pizza"]);
    assert_eq!(pizza["hits"][0]["entry"]["id"], beach.as_str());

    let history = h.ok(&["history", &beach]);
    assert_eq!(history["entry"], beach.as_str());
    let items = history["history"].as_array().unwrap();
    assert!(!items.is_empty());
    assert_eq!(items[0]["member"], me["member"]);
    assert_eq!(items[0]["member_name"], "Alice");
    assert!(items[0]["changes"].as_u64().unwrap() >= 2);

    let conflicts = h.ok(&["conflicts", &beach]);
    assert_eq!(conflicts["entry"], beach.as_str());
    assert!(conflicts["conflicts"].as_array().unwrap().is_empty());
}

#[test]
fn sharing_a_private_draft() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let me = h.ok(&["whoami"]);
    let draft = h.entry(
        "personal",
        &[
            "--kind",
            "vulnerability",
            "--title",
            "Something hard",
            "--body",
            "I get scared when you go quiet",
            "--tag",
            "fear",
        ],
    );
    assert_eq!(draft["journal"], me["personal_space"]);
    let draft_id = s(&draft["id"]);
    // Drafts stay out of the journal until shared.
    assert!(ids(&h.ok(&["entry", "list", "--journal", &j])).is_empty());

    let shared = h.ok(&["share", &draft_id, "--journal", &j]);
    let entry = &shared["entry"];
    assert_eq!(entry["journal"], j.as_str());
    assert_eq!(entry["kind"], "vulnerability");
    assert_eq!(entry["title"], "Something hard");
    assert_eq!(entry["body"], "I get scared when you go quiet");
    assert_eq!(entry["tags"], serde_json::json!(["fear"]));
    assert_ne!(entry["id"], draft_id.as_str());
    assert_eq!(shared["draft"]["shared_as"], entry["id"]);
    assert_eq!(
        ids(&h.ok(&["entry", "list", "--journal", &j])),
        vec![s(&entry["id"])]
    );
    // The draft is still private and unchanged.
    let still = h.ok(&["entry", "show", &draft_id]);
    assert_eq!(still["journal"], me["personal_space"]);

    // Only drafts can be shared, and only into a shared journal.
    let (code, err) = h.fail(&["share", &s(&entry["id"]), "--journal", &j]);
    assert_eq!((code, err.as_str()), (1, "not_allowed"));
    let (code, err) = h.fail(&["share", &draft_id, "--journal", "personal"]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
}

#[test]
fn two_homes_exchange_a_journal_by_bundle() {
    let (a, j) = Home::with_journal("Alice", "Our journal");
    let alice = a.ok(&["whoami"]);
    let written = a.entry(
        &j,
        &["--title", "Lisbon", "--body", "tram 28 and custard tarts"],
    );
    let id = s(&written["id"]);
    let bundle = a.dir.path().join("our.duetbundle");
    let exported = a.ok(&[
        "bundle",
        "export",
        "--journal",
        &j,
        "--out",
        bundle.to_str().unwrap(),
    ]);
    assert_eq!(exported["journal"], j.as_str());
    assert!(exported["bytes"].as_u64().unwrap() > 0);
    assert!(bundle.exists());

    let b = Home::init("Bob");
    let report = b.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(report["journal"], j.as_str());
    assert_eq!(report["new_journal"], true);
    assert_eq!(report["entries_added"], 1);
    assert_eq!(report["title"], "Our journal");

    // Bob sees Alice's entry, by her, and finds it by search and by title.
    let list = b.ok(&["entry", "list", "--journal", "our journal"]);
    assert_eq!(ids(&list), vec![id.clone()]);
    assert_eq!(list["entries"][0]["author"], alice["member"]);
    let hits = b.ok(&["search", "custard"]);
    assert_eq!(hits["hits"][0]["entry"]["id"], id.as_str());
    let shown = b.ok(&["entry", "show", &id]);
    assert_eq!(shown["author_name"], "Alice");
    assert_eq!(shown["body"], "tram 28 and custard tarts");

    // Bob edits it (and replies); the edit travels back to Alice.
    let edited = b.edit(&id, "--body", "tram 28, custard tarts and fado");
    assert_eq!(edited["body"], "tram 28, custard tarts and fado");
    b.ok(&["reply", &id, "let's go back"]);
    // Importing the same bundle again changes nothing.
    let again = b.ok(&["bundle", "import", bundle.to_str().unwrap()]);
    assert_eq!(again["new_journal"], false);
    assert_eq!(again["entries_added"], 0);
    assert_eq!(again["entries_changed"], 0);

    let back = b.dir.path().join("back.duetbundle");
    b.ok(&[
        "bundle",
        "export",
        "--journal",
        &j,
        "--out",
        back.to_str().unwrap(),
    ]);
    let report = a.ok(&["bundle", "import", back.to_str().unwrap()]);
    assert_eq!(report["new_journal"], false);
    assert_eq!(report["entries_changed"], 1);
    let seen = a.ok(&["entry", "show", &id]);
    assert_eq!(seen["body"], "tram 28, custard tarts and fado");
    assert_eq!(seen["replies"][0]["author_name"], "Bob");
    let members = a.ok(&["journal", "list"])["journals"][1]["members"].clone();
    assert_eq!(members.as_array().unwrap().len(), 2);
    assert!(
        a.ok(&["conflicts", &id])["conflicts"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn export_markdown_and_json() {
    let (h, j) = Home::with_journal("Alice", "Us");
    h.entry(
        &j,
        &["--title", "First light", "--body", "coffee on the balcony"],
    );
    let gone = s(&h.entry(&j, &["--title", "Deleted one", "--body", "never mind"])["id"]);
    h.ok(&["entry", "delete", &gone]);

    let md_path = h.dir.path().join("us.md");
    let done = h.ok(&[
        "export",
        "--journal",
        &j,
        "--format",
        "markdown",
        "--out",
        md_path.to_str().unwrap(),
    ]);
    assert_eq!(done["format"], "markdown");
    let md = std::fs::read_to_string(&md_path).unwrap();
    assert!(md.starts_with("# Us"));
    assert!(md.contains("First light"));
    assert!(md.contains("coffee on the balcony"));
    assert!(!md.contains("Deleted one"));

    // Markdown to stdout, as text.
    let out = h.run(&["export", "--journal", &j, "--format", "markdown"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), md);

    let json_path = h.dir.path().join("us.json");
    h.ok(&[
        "export",
        "--journal",
        &j,
        "--format",
        "json",
        "--out",
        json_path.to_str().unwrap(),
    ]);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(doc["journal"]["id"], j.as_str());
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["body"], "coffee on the balcony");
    // JSON to stdout with --json is the export document itself.
    let direct = h.ok(&["export", "--journal", &j, "--format", "json"]);
    assert_eq!(direct["entries"], doc["entries"]);
}

#[test]
fn bad_input_gives_typed_errors_and_exit_codes() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let id = s(&h.entry(&j, &["--body", "keep me"])["id"]);

    // Unknown entry: exit 3, not_found; in text mode the code is on stderr.
    let (code, err) = h.fail(&["entry", "show", "00000000-0000-7000-8000-000000000000"]);
    assert_eq!((code, err.as_str()), (3, "not_found"));
    let (code, err) = h.fail(&["entry", "show", "ffffffff"]);
    assert_eq!((code, err.as_str()), (3, "not_found"));
    let text = h.run(&["entry", "show", "ffffffff"]);
    assert_eq!(text.status.code(), Some(3));
    assert!(text.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(stderr.trim_end().ends_with("(not_found)"), "{stderr}");

    // Mood out of range.
    let (code, err) = h.fail(&checkin(&j, "7", "1"));
    assert_eq!((code, err.as_str()), (2, "invalid_input"));

    // A usage error (clap) is exit 2 too, and JSON with --json.
    let (code, err) = h.fail(&["entry", "frobnicate"]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
    let (code, err) = h.fail(&checkin(&j, "lots", "1"));
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
    assert_eq!(h.run(&["entry", "frobnicate"]).status.code(), Some(2));

    // A corrupt bundle: corrupt_data, and nothing changes.
    let before_journals = h.ok(&["journal", "list"]);
    let before_entries = h.ok(&["entry", "list", "--journal", &j]);
    let bad = h.dir.path().join("bad.duetbundle");
    std::fs::write(&bad, b"DUETBNDL\xff\x00 this is not cbor").unwrap();
    let (code, err) = h.fail(&["bundle", "import", bad.to_str().unwrap()]);
    assert_eq!((code, err.as_str()), (1, "corrupt_data"));
    // A real bundle cut short is refused the same way.
    let good = h.dir.path().join("good.duetbundle");
    h.ok(&[
        "bundle",
        "export",
        "--journal",
        &j,
        "--out",
        good.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(&bad, &bytes[..bytes.len() / 2]).unwrap();
    let (code, err) = h.fail(&["bundle", "import", bad.to_str().unwrap()]);
    assert_eq!((code, err.as_str()), (1, "corrupt_data"));
    assert_eq!(h.ok(&["journal", "list"]), before_journals);
    assert_eq!(h.ok(&["entry", "list", "--journal", &j]), before_entries);
    assert_eq!(h.ok(&["entry", "show", &id])["body"], "keep me");

    // A command on a home that was never initialized.
    let empty = Home::new();
    let (code, err) = empty.fail(&["journal", "list"]);
    assert_eq!((code, err.as_str()), (4, "not_initialized"));
    assert_eq!(empty.run(&["whoami"]).status.code(), Some(4));
    assert!(!empty.path.join(duet_store_file()).exists());

    // init twice.
    let (code, err) = h.fail(&["init", "--name", "Alice again"]);
    assert_eq!((code, err.as_str()), (1, "already_initialized"));
    assert_eq!(h.ok(&["whoami"])["name"], "Alice");

    // Empty names and too-short ids are invalid input.
    let (code, err) = Home::new().fail(&["init", "--name", "  "]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
    let (code, err) = h.fail(&["entry", "show", "ab"]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
    let (code, err) = h.fail(&["entry", "new", "--journal", &j]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
    let (code, err) = h.fail(&[
        "entry",
        "new",
        "--journal",
        &j,
        "--body-file",
        "/no/such/file",
    ]);
    assert_eq!((code, err.as_str()), (1, "io"));
}

#[test]
fn home_comes_from_duet_home_when_no_flag() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("via-env");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_duet"))
            .args(args)
            .env("DUET_HOME", &home)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["init", "--name", "Alice", "--json"]);
    assert!(out.status.success());
    assert_eq!(parse(&out)["home"], home.to_str().unwrap());
    assert!(Path::new(&home).join(duet_store_file()).exists());
    assert_eq!(parse(&run(&["whoami", "--json"]))["name"], "Alice");
}

fn duet_store_file() -> &'static str {
    // duet_core::STORE_FILE; the CLI's tests talk to the binary only.
    "duet.sqlite3"
}

#[test]
fn conflict_entries_and_all_or_nothing_edits() {
    let (h, j) = Home::with_journal("Alice", "Us");
    let what = ["--kind", "conflict", "--title", "Dishes"];
    let mine = ["--perspective", "I feel I always do them"];
    let c = h.entry(&j, &[&what[..], &mine].concat());
    let me = h.ok(&["whoami"]);
    assert_eq!(c["kind"], "conflict");
    assert_eq!(c["conflict"]["perspectives"][0][0], me["member"]);
    assert_eq!(
        c["conflict"]["perspectives"][0][1],
        "I feel I always do them"
    );
    let id = s(&c["id"]);
    let agreed = h.ok(&["entry", "edit", &id, "--agreement", "We take turns"]);
    assert_eq!(agreed["conflict"]["agreement"], "We take turns");

    // An edit the engine would refuse saves none of the command's fields.
    let plain = s(&h.entry(&j, &["--title", "Plain", "--body", "x"])["id"]);
    let (code, err) = h.fail(&[
        "entry",
        "edit",
        &plain,
        "--title",
        "Changed",
        "--agreement",
        "y",
    ]);
    assert_eq!((code, err.as_str()), (2, "invalid_input"));
    assert_eq!(h.ok(&["entry", "show", &plain])["title"], "Plain");
}
