//! `duet prompt answer` and `duet prompt reveal` through a real `duet-relay`: an answer is
//! sealed on the partner's home (`sealed: true`, no words, in `entry show` and `entry list`)
//! until they answer the same prompt too, or it is revealed early.

use duet_e2e::cli::*;
use duet_e2e::relay::RelayProcess;

#[test]
fn prompt_answers_are_sealed_until_both_answered() {
    let relay = RelayProcess::temp();
    let (a, b, _) = Home::partners_at(&relay.url());

    // Today's prompt, answered: the JSON is the entry, as `entry show` prints it.
    let prompt = s(&a.ok(&["prompt", "--journal", "Us"])["id"]);
    let mine = a.ok(&[
        "prompt",
        "answer",
        "--journal",
        "Us",
        "--title",
        "Small things",
        "--body",
        "The way you hum.",
    ]);
    let id = s(&mine["id"]);
    assert_eq!(mine["kind"], "prompt_answer", "{mine}");
    assert_eq!(mine["prompt_id"], prompt.as_str(), "{mine}");
    assert_eq!(mine["sealed"], false, "{mine}");
    assert_eq!(mine["body"], "The way you hum.", "{mine}");
    assert!(
        s(&mine["answer_round"]).starts_with(&format!("{prompt}.")),
        "{mine}"
    );
    assert_eq!(a.ok(&["entry", "show", &id]), mine);
    a.sync();
    b.sync();

    // Ben's home shows it sealed, in JSON and in text.
    let theirs = b.ok(&["entry", "show", &id]);
    assert_eq!(theirs["sealed"], true, "{theirs}");
    assert_eq!(
        (s(&theirs["title"]), s(&theirs["body"])),
        (String::new(), String::new())
    );
    let list = b.ok(&["entry", "list", "--journal", "Us"]);
    let row = array(&list["entries"])
        .iter()
        .find(|e| s(&e["id"]) == id)
        .cloned()
        .unwrap();
    assert_eq!(row["sealed"], true, "{row}");
    let text = String::from_utf8(b.run(&["entry", "show", &id]).stdout).unwrap();
    assert!(text.contains("sealed") && !text.contains("hum"), "{text}");
    let (exit, code) = b.fail(&["entry", "edit", &id, "--body", "mine"]);
    assert_eq!((exit, code.as_str()), (1, "not_allowed"));
    let (exit, code) = b.fail(&["prompt", "reveal", &id]);
    assert_eq!((exit, code.as_str()), (1, "not_allowed"));
    let (exit, code) = b.fail(&[
        "prompt",
        "answer",
        "--journal",
        "Us",
        "--prompt",
        "no-such",
        "--body",
        "x",
    ]);
    assert_eq!((exit, code.as_str()), (2, "invalid_input"));
    let (exit, code) = b.fail(&["prompt", "answer", "--journal", "personal", "--body", "x"]);
    assert_eq!((exit, code.as_str()), (1, "not_allowed"));

    // Ben answers the same prompt: after both sync, each reads both.
    let his = b.ok(&[
        "prompt",
        "answer",
        "--journal",
        "Us",
        "--prompt",
        &prompt,
        "--body",
        "Your laugh.",
    ]);
    let his = s(&his["id"]);
    b.sync();
    a.sync();
    b.sync();
    for h in [&a, &b] {
        assert_eq!(h.body(&id), "The way you hum.");
        assert_eq!(h.body(&his), "Your laugh.");
        assert_eq!(h.ok(&["entry", "show", &id])["sealed"], false);
    }

    // Revealed early: Ben reads Ada's answer to another prompt without answering it.
    let other = if prompt == "trust-01" {
        "trust-02"
    } else {
        "trust-01"
    };
    let early = a.ok(&[
        "prompt",
        "answer",
        "--journal",
        "Us",
        "--prompt",
        other,
        "--body",
        "Early bird.",
    ]);
    let early = s(&early["id"]);
    a.sync();
    b.sync();
    assert_eq!(b.ok(&["entry", "show", &early])["sealed"], true);
    let revealed = a.ok(&["prompt", "reveal", &early]);
    assert_eq!(revealed["id"], early.as_str());
    b.sync();
    assert_eq!(b.body(&early), "Early bird.");
}
