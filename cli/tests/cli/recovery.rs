//! `recovery kit` and `recover` through the real binary and a real relay: Ada loses every
//! home and gets it all back from her 24 words, typed on standard input.

use duet_e2e::cli::*;
use duet_e2e::relay::RelayProcess;

/// 24 valid words (BIP39's all-zero test vector) that are no kit on any relay.
const NO_KIT: &str = "abandon abandon abandon abandon abandon abandon abandon abandon \
    abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon \
    abandon abandon abandon abandon abandon art";

#[test]
fn a_recovery_kit_brings_back_one_who_lost_every_home() {
    let relay = RelayProcess::temp();
    let url = relay.url();
    let (a, b, j) = Home::partners_at(&url);
    let draft = a.write("personal", "a draft only Ada reads");
    let first = a.write(&j, "from before");
    a.sync();
    b.sync();
    let ada = a.ok(&["whoami"])["member"].clone();

    let kit = a.ok(&["recovery", "kit"]);
    let words = s(&kit["words"]);
    assert_eq!(words.split(' ').count(), 24, "{kit}");
    assert_eq!(kit["created"], true, "{kit}");
    let again = a.ok(&["recovery", "kit"]);
    assert_eq!(
        (s(&again["words"]), &again["created"]),
        (words.clone(), &false.into())
    );
    drop(a);

    // Wrong words: a typed error, exit 9, and no home left behind.
    let fresh = Home::new();
    for bad in [NO_KIT, "abandon abandon art", &words.replace(' ', " x")] {
        let (exit, code) = fresh.fail(&["recover", "--relay", &url, "--words", bad]);
        assert_eq!((exit, code.as_str()), (9, "wrong_words"), "{bad}");
        assert!(!fresh.path.exists(), "a home was left behind");
    }

    // The right words, on standard input.
    let back = fresh.ok_with_stdin(&["recover", "--relay", &url], &format!("{words}\n"));
    assert_eq!(back["member"], ada, "{back}");
    assert_eq!(array(&back["old_devices"]).len(), 1, "{back}");
    let journals: Vec<String> = array(&back["journals"])
        .iter()
        .map(|x| s(&x["id"]))
        .collect();
    assert!(journals.contains(&j), "{back}");
    fresh.sync();
    assert!(entry_ids(&fresh.entries(&j)).contains(&first));
    assert_eq!(fresh.body(&draft), "a draft only Ada reads");

    let next = fresh.write(&j, "back again");
    fresh.sync();
    b.sync();
    assert!(entry_ids(&b.entries(&j)).contains(&next));
}

/// A stranger guessing words from one address: after 10 attempts an hour the relay answers
/// `rate_limited` (exit 7), whatever the words.
#[test]
fn guessing_words_from_one_address_is_throttled() {
    let relay = RelayProcess::temp_flags("--recoveries-per-client-per-hour 10");
    let url = relay.url();
    let guesser = Home::new();
    for i in 1..=10 {
        let (exit, code) = guesser.fail(&["recover", "--relay", &url, "--words", NO_KIT]);
        assert_eq!((exit, code.as_str()), (9, "wrong_words"), "attempt {i}");
    }
    let out = guesser.run(&["--json", "recover", "--relay", &url, "--words", NO_KIT]);
    assert_eq!(out.status.code(), Some(7));
    let err = &parse(&out)["error"];
    assert_eq!(err["code"], "relay_refused", "{err}");
    assert!(s(&err["message"]).contains("rate_limited"), "{err}");
    assert!(!guesser.path.exists());
}
