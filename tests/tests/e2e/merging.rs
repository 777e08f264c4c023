//! Merging (design principle 2, "nothing lost"): what two partners do at once, offline,
//! all survives the exchange — both edits of one body character by character, an edit
//! made while the entry was deleted, both reactions and both replies, both values of a
//! conflicting mood — and a shared draft carries none of its drafting history.

use duet_core::EntryKind::{Appreciation, Reflection, Vulnerability};
use duet_core::*;
use duet_e2e::home::*;
use duet_e2e::scenario;
use duet_e2e::store;
use duet_e2e::text::contains_bytes;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn char_at(s: &str, needle: &str) -> usize {
    let byte = s
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {s:?}"));
    s[..byte].chars().count()
}

/// Type `word` one keystroke at a time at character `pos`.
fn type_at(h: &Home, id: &EntryId, pos: usize, word: &str) {
    for (i, c) in word.chars().enumerate() {
        h.duet
            .splice_text(id, TextField::Body, pos + i, 0, &c.to_string())
            .unwrap();
    }
}

/// Every character of `part`, in order, somewhere in `text` (a subsequence).
fn assert_subsequence(text: &str, part: &str, what: &str) {
    let mut it = text.chars();
    for (i, c) in part.chars().enumerate() {
        assert!(
            it.any(|t| t == c),
            "{what}: character {i} ({c:?}) of {part:?} is missing from {text:?}"
        );
    }
}

#[test]
fn concurrent_edits_of_one_body_both_survive_character_by_character() {
    let base = "We walked to the market and bought bread.";
    let (a, b, j, id) = couple_sharing(Reflection, "Saturday", base);

    // Ada types keystroke by keystroke: a word at the start, one after "walked", and
    // deletes "the ".
    type_at(&a, &id, 0, "On Sunday ");
    let body = a.duet.get_entry(&id).unwrap().body;
    type_at(&a, &id, char_at(&body, " to"), " slowly");
    let body = a.duet.get_entry(&id).unwrap().body;
    a.duet
        .splice_text(&id, TextField::Body, char_at(&body, "the "), 4, "")
        .unwrap();
    let a_text = a.duet.get_entry(&id).unwrap().body;
    assert_eq!(
        a_text,
        "On Sunday We walked slowly to market and bought bread."
    );

    // Ben, offline at the same time, rewrites the whole text in his editor (the UI path:
    // the engine diffs it into splices), inserting at the very same place as Ada too.
    let b_text = "Today We happily walked to the market and bought warm bread, naïvely 😊.";
    b.duet.set_text(&id, TextField::Body, b_text).unwrap();

    swap(&a, &b, &j);
    let ea = a.duet.get_entry(&id).unwrap();
    let eb = b.duet.get_entry(&id).unwrap();
    assert_eq!(ea, eb, "both homes show the same entry");
    let merged = ea.body;

    // Every character each side inserted is there, in order.
    let a_inserted = ["On Sunday ", " slowly"];
    let b_inserted = ["Today ", " happily", " warm", ", naïvely 😊"];
    for w in a_inserted.iter().chain(&b_inserted) {
        assert!(merged.contains(w), "{w:?} is not in {merged:?}");
    }
    assert_subsequence(&merged, &a_inserted.concat(), "Ada's words");
    assert_subsequence(&merged, &b_inserted.concat(), "Ben's words");
    // Ada's side is all there (her deletion included); so is Ben's, but for the "the "
    // Ada deleted.
    assert_subsequence(&merged, &a_text, "Ada's text");
    assert_subsequence(&merged, &b_text.replace("the ", ""), "Ben's text");
    assert!(!merged.contains("the "), "Ada's deletion holds: {merged:?}");
    // Exactly: the two insertions at the start are in one deterministic order.
    let rest = "We happily walked slowly to market and bought warm bread, naïvely 😊.";
    assert!(
        merged == format!("On Sunday Today {rest}") || merged == format!("Today On Sunday {rest}"),
        "{merged:?}"
    );
    assert_eq!(
        merged.chars().count(),
        base.chars().count() - 4
            + a_inserted.concat().chars().count()
            + b_inserted.concat().chars().count(),
        "nothing more and nothing less"
    );
}

/// Unique words inserted concurrently at arbitrary places by both partners: every word
/// survives whole, each side's words keep their order, and the base text is intact.
fn many_words_case(a_words: &[(usize, usize)], b_words: &[(usize, usize)]) {
    let base = "one two three four five six seven eight nine ten";
    let (a, b, j, id) = couple_sharing(Reflection, "", base);
    let mut inserted = Vec::new();
    for (side, h, words, tag) in [(0, &a, a_words, "ada"), (1, &b, b_words, "ben")] {
        for (n, (pos, keystrokes)) in words.iter().enumerate() {
            let word = format!(" {tag}{n}é ");
            // At a word boundary, so no word is split by another of the same side.
            let chars: Vec<char> = h.duet.get_entry(&id).unwrap().body.chars().collect();
            let bounds: Vec<usize> = (0..=chars.len())
                .filter(|&p| p == 0 || p == chars.len() || chars[p - 1] == ' ' || chars[p] == ' ')
                .collect();
            let pos = bounds[pos % bounds.len()];
            if *keystrokes % 2 == 0 {
                type_at(h, &id, pos, &word);
            } else {
                h.duet
                    .splice_text(&id, TextField::Body, pos, 0, &word)
                    .unwrap();
            }
            inserted.push((side, word));
        }
    }
    let texts = [
        a.duet.get_entry(&id).unwrap().body,
        b.duet.get_entry(&id).unwrap().body,
    ];
    swap(&a, &b, &j);
    let merged = a.duet.get_entry(&id).unwrap().body;
    assert_eq!(merged, b.duet.get_entry(&id).unwrap().body);
    assert_subsequence(&merged, base, "the base text");
    for (side, text) in texts.iter().enumerate() {
        assert_subsequence(&merged, text, &format!("side {side}'s text"));
        // The side's words, in the order they stand in its own text, stand in that order
        // in the merge.
        let mut mine: Vec<&String> = inserted
            .iter()
            .filter(|(s, _)| *s == side)
            .map(|(_, w)| w)
            .collect();
        mine.sort_by_key(|w| text.find(w.as_str()).unwrap());
        let at: Vec<usize> = mine
            .iter()
            .map(|w| {
                merged
                    .find(w.trim())
                    .unwrap_or_else(|| panic!("{w:?} lost: {merged:?}"))
            })
            .collect();
        assert!(
            at.windows(2).all(|p| p[0] < p[1]),
            "order of {mine:?} in {merged:?}"
        );
    }
    let expected_len = base.chars().count()
        + inserted
            .iter()
            .map(|(_, w)| w.chars().count())
            .sum::<usize>();
    assert_eq!(merged.chars().count(), expected_len);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/merging.txt"
        )))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn concurrent_words_at_any_places_all_survive(
        a_words in prop::collection::vec((0..200usize, 0..4usize), 1..5),
        b_words in prop::collection::vec((0..200usize, 0..4usize), 1..5),
    ) {
        many_words_case(&a_words, &b_words);
    }
}

#[test]
fn a_delete_concurrent_with_an_edit_keeps_the_edit() {
    let (a, b, j, id) = couple_sharing(Reflection, "Hard week", "I was tired.");

    // Ada deletes her entry while Ben, offline, adds to it.
    a.clock.advance(1_000);
    a.duet.delete_entry(&id).unwrap();
    b.clock.advance(2_000);
    b.duet
        .set_text(
            &id,
            TextField::Body,
            "I was tired. I noticed, and I'm here.",
        )
        .unwrap();
    b.duet.react(&id, "🫂").unwrap();
    b.duet.reply(&id, "Let's rest this weekend").unwrap();
    swap(&a, &b, &j);

    for h in [&a, &b] {
        let e = h.duet.get_entry(&id).unwrap();
        assert!(e.deleted, "the delete holds");
        assert_eq!(
            e.body, "I was tired. I noticed, and I'm here.",
            "and so does the edit"
        );
        let trash = list_all(
            &h.duet,
            EntryQuery {
                trash: true,
                ..EntryQuery::default()
            },
        );
        assert_eq!(trash.iter().map(|s| s.id).collect::<Vec<_>>(), vec![id]);
        assert!(list_all(&h.duet, EntryQuery::default()).is_empty());
        assert!(h.duet.search("noticed", None, 10).unwrap().is_empty());
    }
    // Only the author can delete or restore; a text edit of an entry in the trash is refused.
    let e = b.duet.restore_entry(&id).unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotAllowed);
    let e = b.duet.set_text(&id, TextField::Body, "gone").unwrap_err();
    assert_eq!(e.code(), ErrorCode::NotAllowed);

    a.duet.restore_entry(&id).unwrap();
    exchange(&a, &b, &j);
    for h in [&a, &b] {
        let e = h.duet.get_entry(&id).unwrap();
        assert!(!e.deleted);
        assert_eq!(e.body, "I was tired. I noticed, and I'm here.");
        assert_eq!(e.reactions.len(), 1);
        assert_eq!(e.replies.len(), 1);
        let live = list_all(&h.duet, EntryQuery::default());
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].excerpt, "I was tired. I noticed, and I'm here.");
        let hits = h.duet.search("noticed", None, 10).unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].entry.id, id);
    }
}

#[test]
fn reactions_and_replies_from_both_partners_merge() {
    let (a, b, j, id) = couple_sharing(Appreciation, "", "Thank you for dinner.");

    a.clock.advance(10);
    a.duet.react(&id, "❤️").unwrap();
    let ra = a.duet.reply(&id, "It was fun to cook together").unwrap();
    b.clock.advance(20);
    b.duet.react(&id, "🙏").unwrap();
    let rb = b.duet.reply(&id, "Same time next week?").unwrap();
    b.duet.react(&id, "🥰").unwrap(); // reacting again replaces my reaction
    swap(&a, &b, &j);

    let (ma, mb) = (a.me(), b.me());
    for h in [&a, &b] {
        let e = h.duet.get_entry(&id).unwrap();
        let mut reactions: Vec<(MemberId, String)> = e
            .reactions
            .iter()
            .map(|r| (r.member, r.emoji.clone()))
            .collect();
        reactions.sort();
        let mut want = vec![(ma, "❤️".to_string()), (mb, "🥰".to_string())];
        want.sort();
        assert_eq!(reactions, want);
        let replies: Vec<(ReplyId, MemberId, &str, bool)> = e
            .replies
            .iter()
            .map(|r| (r.id, r.author, r.body.as_str(), r.deleted))
            .collect();
        assert_eq!(
            replies,
            vec![
                (ra, ma, "It was fun to cook together", false),
                (rb, mb, "Same time next week?", false),
            ],
            "both replies, oldest first"
        );
        let s = &list_all(&h.duet, EntryQuery::default())[0];
        assert_eq!((s.reaction_count, s.reply_count), (2, 2));
        assert!(
            h.duet.conflicts(&id).unwrap().is_empty(),
            "nothing conflicts"
        );
    }

    // Then Ada takes hers back while Ben edits his reply: both hold.
    a.duet.unreact(&id).unwrap();
    b.duet
        .edit_reply(&id, &rb, "Same time next week? I'll bring wine.")
        .unwrap();
    assert_eq!(
        b.duet.edit_reply(&id, &ra, "not mine").unwrap_err().code(),
        ErrorCode::NotAllowed
    );
    swap(&a, &b, &j);
    let e = a.duet.get_entry(&id).unwrap();
    assert_eq!(e, b.duet.get_entry(&id).unwrap());
    assert_eq!(e.reactions.len(), 1);
    assert_eq!(e.reactions[0].member, mb);
    assert_eq!(e.replies[1].body, "Same time next week? I'll bring wine.");
}

#[test]
fn a_conflicting_mood_is_reported_with_both_values_and_authors() {
    let (a, b, j) = couple();
    let id = scenario::conflicting_moods(&a, &b, &j);

    let (ma, mb) = (a.me(), b.me());
    let conflicts = a.duet.conflicts(&id).unwrap();
    assert_eq!(
        conflicts,
        b.duet.conflicts(&id).unwrap(),
        "both report the same"
    );
    assert_eq!(conflicts.len(), 1, "only the mood conflicts: {conflicts:?}");
    let c = &conflicts[0];
    assert_eq!(c.field, "mood");
    let mut values: Vec<(i64, Option<MemberId>, DeviceId)> = c
        .values
        .iter()
        .map(|v| (v.value.as_i64().unwrap(), v.member, v.device))
        .collect();
    values.sort();
    assert_eq!(
        values,
        vec![
            (2, Some(ma), a.duet.identity().device),
            (5, Some(mb), b.duet.identity().device),
        ]
    );
    let winners: Vec<_> = c.values.iter().filter(|v| v.winner).collect();
    assert_eq!(winners.len(), 1);
    let shown = a.duet.get_entry(&id).unwrap().check_in.unwrap();
    assert_eq!(i64::from(shown.mood), winners[0].value.as_i64().unwrap());
    assert_eq!(shown.closeness, 3, "closeness was set by one side only");
    assert_eq!(shown, b.duet.get_entry(&id).unwrap().check_in.unwrap());
    let listed = &list_all(&b.duet, EntryQuery::default())[0];
    assert_eq!((listed.mood, listed.closeness), (Some(shown.mood), Some(3)));

    // Setting the mood again settles it, on both sides.
    a.duet.set_check_in_scores(&id, Some(4), None).unwrap();
    swap(&a, &b, &j);
    for h in [&a, &b] {
        assert!(h.duet.conflicts(&id).unwrap().is_empty());
        assert_eq!(h.duet.get_entry(&id).unwrap().check_in.unwrap().mood, 4);
    }
}

/// Every string an Automerge document's history holds: each change's inserted and put
/// values (text is one op per character, concatenated in op order) and its map keys.
fn history_strings(bytes_of_doc: &[Vec<u8>]) -> Vec<String> {
    use automerge::legacy::{Key, OpType};
    let mut doc = automerge::AutoCommit::new();
    for b in bytes_of_doc {
        doc.load_incremental(b).unwrap();
    }
    let mut out = Vec::new();
    for change in doc.get_changes(&[]) {
        let mut values = String::new();
        for op in change.decode().operations {
            if let OpType::Put(automerge::ScalarValue::Str(s)) = &op.action {
                values.push_str(s);
            }
            if let Key::Map(k) = &op.key {
                out.push(k.to_string());
            }
        }
        out.push(values);
    }
    out
}

/// The history strings of every document in a home's store, read straight from `SQLite`.
fn store_history_strings(db: &std::path::Path) -> Vec<String> {
    let docs: Vec<(i64, Option<Vec<u8>>)> =
        store::rows(db, "SELECT rowid, snapshot FROM docs", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        });
    assert!(!docs.is_empty());
    let mut out = Vec::new();
    for (rowid, snapshot) in docs {
        let mut parts: Vec<Vec<u8>> = snapshot.into_iter().filter(|s| !s.is_empty()).collect();
        let sql = "SELECT data FROM chunks WHERE doc = ?1 ORDER BY seq";
        parts.extend(store::rows(db, sql, [rowid], |r| r.get(0)));
        out.extend(history_strings(&parts));
    }
    out
}

#[test]
fn a_shared_draft_carries_no_drafting_history() {
    const SENTINEL: &str = "PLATYPUSCONFESSION";
    let (a, b, j) = couple();
    let personal = a.personal();

    // Ada drafts over two sessions: types a sentinel word keystroke by keystroke, thinks
    // better of it and deletes it, rewrites a sentence, comes back later.
    let draft = a
        .duet
        .write(&personal, Vulnerability, "Hard to say", "I feel ");
    type_at(&a, &draft, 7, SENTINEL);
    let typed = a.duet.get_entry(&draft).unwrap().body;
    assert_eq!(typed, format!("I feel {SENTINEL}"));
    a.duet
        .splice_text(&draft, TextField::Body, 7, SENTINEL.chars().count(), "")
        .unwrap();
    a.duet
        .set_text(
            &draft,
            TextField::Body,
            "I feel left out when plans change.",
        )
        .unwrap();
    a.duet.set_tags(&draft, &[SENTINEL.to_lowercase()]).unwrap();
    a.duet.set_tags(&draft, &["us".to_string()]).unwrap();
    a.clock.advance(60 * 60 * 1000);
    a.duet
        .set_text(
            &draft,
            TextField::Body,
            "I feel left out when plans change at the last minute.",
        )
        .unwrap();
    let drafting = a.duet.history(&draft).unwrap();
    assert!(drafting.len() >= 2, "the draft has a history: {drafting:?}");
    assert!(drafting.iter().map(|h| h.changes).sum::<u32>() > 20);

    a.clock.advance(1000);
    let shared = a.duet.share_draft(&draft, &j).unwrap();
    let bundle = a.duet.export_bundle(&j).unwrap();
    let report = b.duet.import_bundle(&bundle).unwrap();
    assert_eq!(report.entries_added, 1);

    // The shared entry is exactly the draft's content, with one history item by Ada, on
    // both homes.
    let (ma, da) = (a.me(), a.duet.identity().device);
    let d = a.duet.get_entry(&draft).unwrap();
    assert_eq!(d.shared_as, Some(shared));
    for h in [&a, &b] {
        let e = h.duet.get_entry(&shared).unwrap();
        assert_eq!(e.journal, j);
        assert_eq!(e.author, ma);
        assert_eq!(
            (e.kind, &e.title, &e.body, &e.tags),
            (d.kind, &d.title, &d.body, &d.tags)
        );
        let hist = h.duet.history(&shared).unwrap();
        assert_eq!(hist.len(), 1, "{hist:?}");
        assert_eq!((hist[0].member, hist[0].device), (Some(ma), da));
        assert_eq!(hist[0].changes, 1, "one change: the copy");
    }
    // The draft itself never leaves Ada's home.
    assert_eq!(
        b.duet.get_entry(&draft).unwrap_err().code(),
        ErrorCode::NotFound
    );

    // No trace of the sentinel at Ben's. Checked four ways:
    // 1. everything Ben's engine can show of the journal (its JSON export);
    let json = b.duet.export_json(&j).unwrap();
    assert!(
        json.contains("at the last minute"),
        "the export holds the shared text"
    );
    assert!(!json.to_lowercase().contains(&SENTINEL.to_lowercase()));
    // 2. every change of every Automerge document in Ben's store, decoded: no inserted
    //    or put value and no map key holds it. As a control, the same scan of Ada's store
    //    finds it (in her draft's history), so the scan can see deleted text.
    let lower = SENTINEL.to_lowercase();
    let has = |strings: &[String]| strings.iter().any(|s| s.to_lowercase().contains(&lower));
    assert!(
        has(&store_history_strings(&a.store_path())),
        "control: Ada's store holds her drafting history"
    );
    assert!(
        !has(&store_history_strings(&b.store_path())),
        "Ben's store holds no drafting history"
    );
    // 3. the raw bytes of Ben's SQLite files (database and WAL). Weaker — Automerge may
    //    compress large columns — but small chunks are stored as written.
    let raw = store::sqlite_bytes(&b.store_path());
    assert!(!contains_bytes(&raw, SENTINEL.as_bytes()));
    assert!(!contains_bytes(&raw, lower.as_bytes()));
    // 4. the bundle Ada handed over. It is sealed, so plaintext could not show here anyway;
    //    what Ben's store received from it is what checks 1–3 looked at.
    assert!(!contains_bytes(&bundle, SENTINEL.as_bytes()));
}

#[test]
fn search_finds_words_from_the_partners_entries_and_replies() {
    let (a, b, j) = couple();
    let id = a
        .duet
        .write(&j, Reflection, "Weekend", "We saw the lighthouse at dusk.");
    let check = a
        .duet
        .check_in(
            &j,
            CheckIn {
                mood: 4,
                closeness: 5,
                needs: "a lazy hammock afternoon".into(),
                gratitude: "the lighthouse".into(),
            },
        )
        .unwrap();
    exchange(&a, &b, &j);

    let ids = |hits: Vec<SearchHit>| {
        let mut v: Vec<EntryId> = hits.into_iter().map(|h| h.entry.id).collect();
        v.sort();
        v
    };
    let mut both = vec![id, check];
    both.sort();
    assert_eq!(
        ids(b.duet.search("lighthouse", Some(&j), 10).unwrap()),
        both
    );
    assert_eq!(
        ids(b.duet.search("hammock", None, 10).unwrap()),
        vec![check]
    );

    // Ben replies under Ada's entry and writes his own; Ada finds both words.
    let reply = b.duet.reply(&id, "The pelicans were my favourite").unwrap();
    let mine = b
        .duet
        .write(&j, Appreciation, "", "Thanks for the marmalade toast");
    exchange(&b, &a, &j);
    let hits = a.duet.search("pelicans", Some(&j), 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].entry.id, id, "found through Ben's reply");
    assert!(
        hits[0].snippet.contains("[pelicans]"),
        "{}",
        hits[0].snippet
    );
    assert_eq!(
        ids(a.duet.search("marmalade", None, 10).unwrap()),
        vec![mine]
    );
    assert_eq!(
        ids(a.duet.search("pelic", None, 10).unwrap()),
        vec![id],
        "prefix"
    );

    // Ada edits her body keystroke by keystroke (full-text refreshed lazily); Ben deletes
    // his reply: after the exchange Ben's search follows both.
    let body = a.duet.get_entry(&id).unwrap().body;
    let at = char_at(&body, "lighthouse");
    a.duet
        .splice_text(&id, TextField::Body, at, "lighthouse".len(), "harbour")
        .unwrap();
    b.duet.delete_reply(&id, &reply).unwrap();
    swap(&a, &b, &j);
    for h in [&a, &b] {
        assert_eq!(ids(h.duet.search("harbour", None, 10).unwrap()), vec![id]);
        assert_eq!(
            ids(h.duet.search("lighthouse", None, 10).unwrap()),
            vec![check]
        );
        assert!(h.duet.search("pelicans", None, 10).unwrap().is_empty());
    }
}
