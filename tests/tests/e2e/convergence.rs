//! Convergence (design principle 4): homes that write offline and swap bundles in any
//! direction and any order — the same bundle twice, stale bundles after newer ones — show
//! the same journal once everyone has exchanged: the same entries (every field), the same
//! index listings, the same search results and the same reported conflicts.
//!
//! Two properties, two and three homes, 500 cases each by default (`PROPTEST_CASES`
//! overrides the count of each).

use duet_core::*;
use duet_e2e::home::*;
use duet_e2e::text::splice_chars;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::FileFailurePersistence;

/// Words people type; some multi-byte, so positions are characters, not bytes.
const WORDS: &[&str] = &[
    "river", "morning", "coffee", "garden", "tender", "quiet", "brave", "sorry", "thanks", "walk",
    "rain", "café", "naïve", "日本", "😊", "❤️", "we", "us", "and", "the",
];
const EMOJI: &[&str] = &["❤️", "😊", "🙏", "👍", "🌧️"];
const TAGS: &[&str] = &["home", "work", "us", "trip", "money", "kids"];
/// Words searched for when the homes are compared.
const SEARCH_WORDS: &[&str] = &["river", "coffee", "tender", "rain", "café", "日本"];

/// A text field of an entry, mapped to one that exists for the entry's kind.
#[derive(Debug, Clone, Copy)]
enum Field {
    Title,
    Body,
    /// Needs / gratitude on a check-in, agreement / my perspective on a conflict, else body.
    Extra(bool),
}

type Splice = (Index, usize, String);

#[derive(Debug, Clone)]
enum Op {
    Create {
        kind: EntryKind,
        title: String,
        body: String,
        tags: Vec<String>,
        scores: (u8, u8),
        prompt: bool,
    },
    Splice {
        entry: Index,
        field: Field,
        splices: Vec<Splice>,
    },
    SetText {
        entry: Index,
        field: Field,
        text: String,
    },
    Delete {
        entry: Index,
    },
    Restore {
        entry: Index,
    },
    React {
        entry: Index,
        emoji: &'static str,
    },
    Unreact {
        entry: Index,
    },
    Reply {
        entry: Index,
        text: String,
    },
    EditReply {
        entry: Index,
        reply: Index,
        text: String,
    },
    DeleteReply {
        entry: Index,
        reply: Index,
        restore: bool,
    },
    Tags {
        entry: Index,
        tags: Vec<String>,
    },
    Scores {
        entry: Index,
        mood: Option<u8>,
        closeness: Option<u8>,
    },
    /// Write a private draft in the personal space and type into it.
    Draft {
        title: String,
        body: String,
        edits: Vec<Splice>,
    },
    /// Share one of my drafts into the journal.
    Share {
        draft: Index,
    },
    Rename {
        title: &'static str,
    },
    Cadence {
        days: u32,
    },
    /// Export a bundle into the pool of bundles in flight.
    Export,
    /// Import a bundle from the pool (old, new, or one already imported), maybe twice.
    Import {
        bundle: Index,
        twice: bool,
    },
    /// Export from this home and import straight into another.
    Sync {
        to: usize,
    },
}

/// One step: a home, how far its clock moves first, and what it does.
#[derive(Debug, Clone)]
struct Step {
    home: usize,
    tick_ms: i64,
    op: Op,
}

fn words(n: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    prop::collection::vec(select(WORDS), n).prop_map(|w| w.join(" "))
}

/// What a splice inserts: nothing, a word with spaces around it, or a few words.
fn insert() -> impl Strategy<Value = String> {
    prop_oneof![
        1 => Just(String::new()),
        3 => select(WORDS).prop_map(|w| format!(" {w}")),
        2 => words(1..4).prop_map(|w| format!("{w} ")),
    ]
}

fn splice() -> impl Strategy<Value = Splice> {
    (
        any::<Index>(),
        prop_oneof![2 => Just(0usize), 1 => 1..8usize],
        insert(),
    )
}

fn tags() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(select(TAGS).prop_map(String::from), 0..3)
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        1 => Just(Field::Title),
        3 => Just(Field::Body),
        1 => any::<bool>().prop_map(Field::Extra),
    ]
}

fn kind() -> impl Strategy<Value = EntryKind> {
    select(EntryKind::ALL.to_vec())
}

fn op(homes: usize) -> impl Strategy<Value = Op> {
    let i = any::<Index>;
    prop_oneof![
        4 => (kind(), words(0..3), words(0..8), tags(), (1..=5u8, 1..=5u8), any::<bool>())
            .prop_map(|(kind, title, body, tags, scores, prompt)| Op::Create {
                kind, title, body, tags, scores, prompt,
            }),
        8 => (i(), field(), prop::collection::vec(splice(), 1..4))
            .prop_map(|(entry, field, splices)| Op::Splice { entry, field, splices }),
        3 => (i(), field(), words(0..8)).prop_map(|(entry, field, text)| Op::SetText { entry, field, text }),
        1 => i().prop_map(|entry| Op::Delete { entry }),
        1 => i().prop_map(|entry| Op::Restore { entry }),
        2 => (i(), select(EMOJI)).prop_map(|(entry, emoji)| Op::React { entry, emoji }),
        1 => i().prop_map(|entry| Op::Unreact { entry }),
        2 => (i(), words(1..5)).prop_map(|(entry, text)| Op::Reply { entry, text }),
        1 => (i(), i(), words(1..5)).prop_map(|(entry, reply, text)| Op::EditReply { entry, reply, text }),
        1 => (i(), i(), any::<bool>())
            .prop_map(|(entry, reply, restore)| Op::DeleteReply { entry, reply, restore }),
        2 => (i(), tags()).prop_map(|(entry, tags)| Op::Tags { entry, tags }),
        2 => (i(), prop::option::of(1..=5u8), prop::option::of(1..=5u8))
            .prop_map(|(entry, mood, closeness)| Op::Scores { entry, mood, closeness }),
        1 => (words(0..3), words(0..6), prop::collection::vec(splice(), 0..5))
            .prop_map(|(title, body, edits)| Op::Draft { title, body, edits }),
        1 => i().prop_map(|draft| Op::Share { draft }),
        1 => select(vec!["Us", "Our journal", "Nous"]).prop_map(|title| Op::Rename { title }),
        1 => (1..30u32).prop_map(|days| Op::Cadence { days }),
        3 => Just(Op::Export),
        4 => (i(), any::<bool>()).prop_map(|(bundle, twice)| Op::Import { bundle, twice }),
        4 => (0..homes).prop_map(|to| Op::Sync { to }),
    ]
}

fn steps(homes: usize, len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (0..homes, 1..120_000i64, op(homes)).prop_map(|(home, tick_ms, op)| Step {
            home,
            tick_ms,
            op,
        }),
        len,
    )
}

/// A case: per-home clock skew (phones disagree about the time), whether the last home
/// joins only when it first imports a bundle, and the steps.
#[derive(Debug, Clone)]
struct Case {
    skews: Vec<i64>,
    late_join: bool,
    steps: Vec<Step>,
}

fn case(homes: usize) -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(
            prop_oneof![1 => Just(0i64), 2 => -3_600_000..3_600_000i64],
            homes,
        ),
        any::<bool>(),
        steps(homes, 4..28),
    )
        .prop_map(move |(skews, late_join, steps)| Case {
            skews,
            late_join: late_join && homes > 2,
            steps,
        })
}

struct World {
    homes: Vec<Home>,
    joined: Vec<bool>,
    journal: SpaceId,
    /// Bundles exported so far, oldest first.
    pool: Vec<Vec<u8>>,
}

const NAMES: [&str; 3] = ["Ada", "Ben", "Cy"];

impl World {
    fn new(c: &Case) -> World {
        let homes: Vec<Home> = c
            .skews
            .iter()
            .enumerate()
            .map(|(i, skew)| Home::new(NAMES[i], T0 + skew))
            .collect();
        let journal = homes[0].duet.create_journal("Us").unwrap();
        let mut w = World {
            joined: vec![false; homes.len()],
            homes,
            journal,
            pool: Vec::new(),
        };
        w.joined[0] = true;
        let bundle = w.homes[0].duet.export_bundle(&journal).unwrap();
        w.pool.push(bundle);
        let last = w.homes.len() - 1;
        for i in 1..w.homes.len() {
            if i == last && c.late_join {
                continue;
            }
            // The third home may get the journal from the second, not from its creator.
            let from = if i == 2 { 1 } else { 0 };
            let b = w.homes[from].duet.export_bundle(&journal).unwrap();
            let r = w.homes[i].duet.import_bundle(&b).unwrap();
            assert!(r.new_journal);
            w.pool.push(b);
            w.joined[i] = true;
        }
        w
    }

    /// Ids of the journal entries `home` holds (live and in the trash), sorted.
    fn entries(&self, home: usize, pred: impl Fn(&EntrySummary) -> bool) -> Vec<EntryId> {
        summaries(&self.homes[home].duet, &self.journal)
            .into_iter()
            .filter(|s| pred(s))
            .map(|s| s.id)
            .collect()
    }

    fn pick(
        &self,
        home: usize,
        idx: &Index,
        pred: impl Fn(&EntrySummary) -> bool,
    ) -> Option<EntryId> {
        let ids = self.entries(home, pred);
        (!ids.is_empty()).then(|| ids[idx.index(ids.len())])
    }

    fn import(&mut self, home: usize, bundle: &[u8], twice: bool) {
        let d = &self.homes[home].duet;
        let r = d
            .import_bundle(bundle)
            .expect("importing any bundle of the journal works");
        assert_eq!(r.journal, self.journal);
        assert_eq!(
            r.new_journal, !self.joined[home],
            "new_journal only on first import"
        );
        self.joined[home] = true;
        if twice {
            let outbox = d.outbox_len().unwrap();
            let again = d.import_bundle(bundle).unwrap();
            assert_eq!(
                (
                    again.entries_added,
                    again.entries_changed,
                    again.new_journal
                ),
                (0, 0, false),
                "importing the same bundle again changes nothing"
            );
            assert_eq!(d.outbox_len().unwrap(), outbox, "nor queues anything");
        }
    }

    /// Take one step. A step that finds nothing to act on (no entry, no reply of mine) does
    /// nothing.
    fn run(&mut self, step: &Step) {
        let _ = self.try_run(step);
    }

    fn try_run(&mut self, step: &Step) -> Option<()> {
        let h = step.home;
        self.homes[h].clock.advance(step.tick_ms);
        let j = self.journal;
        let me = self.homes[h].me();
        let joined = self.joined[h];
        // A home that has not received the journal yet can only draft and import.
        if !joined && !matches!(step.op, Op::Draft { .. } | Op::Import { .. }) {
            return Some(());
        }
        let d = &self.homes[h].duet;
        match &step.op {
            Op::Create {
                kind,
                title,
                body,
                tags,
                scores,
                prompt,
            } => {
                let new = NewEntry {
                    kind: Some(*kind),
                    title: title.clone(),
                    body: body.clone(),
                    tags: tags.clone(),
                    prompt_id: prompt.then(|| prompts::library()[0].id.to_string()),
                    check_in: (*kind == EntryKind::CheckIn).then(|| CheckIn {
                        mood: scores.0,
                        closeness: scores.1,
                        needs: title.clone(),
                        gratitude: body.clone(),
                    }),
                    perspective: (*kind == EntryKind::Conflict).then(|| body.clone()),
                };
                let id = d.create_entry(&j, new).unwrap();
                let e = d.get_entry(&id).unwrap();
                assert_eq!(
                    (e.title.as_str(), e.body.as_str()),
                    (title.as_str(), body.as_str())
                );
            }
            Op::Splice {
                entry,
                field,
                splices,
            } => {
                let id = self.pick(h, entry, |_| true)?;
                let e = d.get_entry(&id).unwrap();
                let (f, mut text) = field_text(&e, *field, &me);
                let mut resolved: Vec<(usize, usize, &str)> = Vec::new();
                for (pos, del, ins) in splices {
                    let len = text.chars().count();
                    let pos = pos.index(len + 1);
                    let del = (*del).min(len - pos);
                    text = splice_chars(&text, pos, del, ins);
                    resolved.push((pos, del, ins.as_str()));
                }
                let r = if resolved.len() == 1 {
                    let (p, del, ins) = resolved[0];
                    d.splice_text(&id, f, p, del, ins)
                } else {
                    d.splice_many(&id, f, &resolved)
                };
                check_edit(d, &e, r, f, &text, &me);
            }
            Op::SetText { entry, field, text } => {
                let id = self.pick(h, entry, |_| true)?;
                let e = d.get_entry(&id).unwrap();
                let (f, _) = field_text(&e, *field, &me);
                let r = d.set_text(&id, f, text);
                check_edit(d, &e, r, f, text, &me);
            }
            Op::Delete { entry } => {
                let id = self.pick(h, entry, |s| s.author == me)?;
                d.delete_entry(&id).unwrap();
                assert!(d.get_entry(&id).unwrap().deleted);
            }
            Op::Restore { entry } => {
                let id = self.pick(h, entry, |s| s.author == me)?;
                d.restore_entry(&id).unwrap();
                assert!(!d.get_entry(&id).unwrap().deleted);
            }
            Op::React { entry, emoji } => {
                let id = self.pick(h, entry, |_| true)?;
                d.react(&id, emoji).unwrap();
                let e = d.get_entry(&id).unwrap();
                assert!(
                    e.reactions
                        .iter()
                        .any(|r| r.member == me && r.emoji == *emoji)
                );
            }
            Op::Unreact { entry } => {
                let id = self.pick(h, entry, |_| true)?;
                d.unreact(&id).unwrap();
                let e = d.get_entry(&id).unwrap();
                assert!(!e.reactions.iter().any(|r| r.member == me));
            }
            Op::Reply { entry, text } => {
                let id = self.pick(h, entry, |_| true)?;
                let r = d.reply(&id, text).unwrap();
                let e = d.get_entry(&id).unwrap();
                assert!(
                    e.replies
                        .iter()
                        .any(|x| x.id == r && x.body == *text && x.author == me)
                );
            }
            Op::EditReply { entry, reply, text } => {
                let id = self.pick(h, entry, |s| s.reply_count > 0)?;
                let r = own_reply(d, &id, reply, &me)?;
                d.edit_reply(&id, &r, text).unwrap();
                let e = d.get_entry(&id).unwrap();
                assert!(e.replies.iter().any(|x| x.id == r && x.body == *text));
            }
            Op::DeleteReply {
                entry,
                reply,
                restore,
            } => {
                let id = self.pick(h, entry, |_| true)?;
                let r = own_reply(d, &id, reply, &me)?;
                if *restore {
                    d.restore_reply(&id, &r).unwrap();
                } else {
                    d.delete_reply(&id, &r).unwrap();
                }
                let e = d.get_entry(&id).unwrap();
                assert!(e.replies.iter().any(|x| x.id == r && x.deleted != *restore));
            }
            Op::Tags { entry, tags } => {
                let id = self.pick(h, entry, |_| true)?;
                d.set_tags(&id, tags).unwrap();
                let mut want = tags.clone();
                want.sort();
                want.dedup();
                let mut got = d.get_entry(&id).unwrap().tags;
                got.sort();
                assert_eq!(got, want);
            }
            Op::Scores {
                entry,
                mood,
                closeness,
            } => {
                let id = self.pick(h, entry, |s| s.kind == EntryKind::CheckIn)?;
                let before = d.get_entry(&id).unwrap().check_in.unwrap();
                d.set_check_in_scores(&id, *mood, *closeness).unwrap();
                let after = d.get_entry(&id).unwrap().check_in.unwrap();
                assert_eq!(after.mood, mood.unwrap_or(before.mood));
                assert_eq!(after.closeness, closeness.unwrap_or(before.closeness));
            }
            Op::Draft { title, body, edits } => {
                let p = self.homes[h].personal();
                let id = d
                    .create_entry(&p, entry(EntryKind::Vulnerability, title, body))
                    .unwrap();
                let mut text = body.clone();
                for (pos, del, ins) in edits {
                    let len = text.chars().count();
                    let pos = pos.index(len + 1);
                    let del = (*del).min(len - pos);
                    d.splice_text(&id, TextField::Body, pos, del, ins).unwrap();
                    text = splice_chars(&text, pos, del, ins);
                }
                assert_eq!(d.get_entry(&id).unwrap().body, text);
            }
            Op::Share { draft } => {
                let p = self.homes[h].personal();
                let drafts = list_all(
                    d,
                    EntryQuery {
                        journal: Some(p),
                        ..EntryQuery::default()
                    },
                );
                if drafts.is_empty() {
                    return Some(());
                }
                let draft = drafts[draft.index(drafts.len())].id;
                let before = d.get_entry(&draft).unwrap();
                let r = d.share_draft(&draft, &j);
                if let Some(earlier) = before.shared_as {
                    // One draft, one shared entry.
                    assert_eq!(r.unwrap_err().code(), ErrorCode::NotAllowed);
                    assert_eq!(d.get_entry(&draft).unwrap().shared_as, Some(earlier));
                    return Some(());
                }
                let shared = r.unwrap();
                let (src, dst) = (d.get_entry(&draft).unwrap(), d.get_entry(&shared).unwrap());
                assert_eq!(src.shared_as, Some(shared));
                assert_eq!(
                    (&dst.title, &dst.body, dst.journal),
                    (&src.title, &src.body, j)
                );
            }
            Op::Rename { title } => d.rename_journal(&j, title).unwrap(),
            Op::Cadence { days } => d.set_checkin_cadence(&j, *days).unwrap(),
            Op::Export => {
                let b = d.export_bundle(&j).unwrap();
                self.pool.push(b);
            }
            Op::Import { bundle, twice } => {
                let b = self.pool[bundle.index(self.pool.len())].clone();
                self.import(h, &b, *twice);
            }
            Op::Sync { to } => {
                let b = d.export_bundle(&j).unwrap();
                self.import(*to, &b, false);
                self.pool.push(b);
            }
        }
        Some(())
    }

    /// Everyone sends to the first home, which then sends to everyone.
    fn converge(&mut self) {
        let j = self.journal;
        let n = self.homes.len();
        for i in 1..n {
            let b = self.homes[i].duet.export_bundle(&j);
            // A home that never joined has nothing to send; it receives below.
            if let Ok(b) = b {
                self.import(0, &b, false);
            }
        }
        let b = self.homes[0].duet.export_bundle(&j).unwrap();
        for i in 1..n {
            self.import(i, &b, false);
        }
        // Quiescent: any further exchange, in any direction, changes nothing.
        for from in 0..n {
            let b = self.homes[from].duet.export_bundle(&j).unwrap();
            for to in 0..n {
                let outbox = self.homes[to].duet.outbox_len().unwrap();
                let r = self.homes[to].duet.import_bundle(&b).unwrap();
                assert_eq!(
                    (r.entries_added, r.entries_changed),
                    (0, 0),
                    "home {to} still learned something from home {from} after converging"
                );
                assert_eq!(self.homes[to].duet.outbox_len().unwrap(), outbox);
            }
        }
    }
}

/// The concrete field an edit goes to, and its current text.
fn field_text(e: &Entry, f: Field, me: &MemberId) -> (TextField, String) {
    match (f, e.kind) {
        (Field::Title, _) => (TextField::Title, e.title.clone()),
        (Field::Extra(first), EntryKind::CheckIn) => {
            let ci = e.check_in.clone().unwrap_or_default();
            if first {
                (TextField::Needs, ci.needs)
            } else {
                (TextField::Gratitude, ci.gratitude)
            }
        }
        (Field::Extra(first), EntryKind::Conflict) => {
            let c = e.conflict.clone().unwrap_or_default();
            if first {
                (TextField::Agreement, c.agreement)
            } else {
                let mine = c
                    .perspectives
                    .into_iter()
                    .find(|(m, _)| m == me)
                    .map(|(_, p)| p)
                    .unwrap_or_default();
                (TextField::MyPerspective, mine)
            }
        }
        _ => (TextField::Body, e.body.clone()),
    }
}

/// A text edit succeeds and shows `want`, unless the entry is in the trash: then it is
/// refused and nothing changes.
fn check_edit(d: &Duet, before: &Entry, r: Result<()>, f: TextField, want: &str, me: &MemberId) {
    let after = d.get_entry(&before.id).unwrap();
    if before.deleted {
        assert_eq!(r.unwrap_err().code(), ErrorCode::NotAllowed);
        assert_eq!(&after, before, "a refused edit changes nothing");
        return;
    }
    r.unwrap();
    let field = match f {
        TextField::Title => Field::Title,
        TextField::Body => Field::Body,
        TextField::Needs | TextField::Agreement => Field::Extra(true),
        TextField::Gratitude | TextField::MyPerspective => Field::Extra(false),
    };
    assert_eq!(field_text(&after, field, me).1, want);
}

fn own_reply(d: &Duet, entry: &EntryId, idx: &Index, me: &MemberId) -> Option<ReplyId> {
    let e = d.get_entry(entry).unwrap();
    let mine: Vec<ReplyId> = e
        .replies
        .iter()
        .filter(|r| r.author == *me)
        .map(|r| r.id)
        .collect();
    (!mine.is_empty()).then(|| mine[idx.index(mine.len())])
}

/// Everything a home shows about a journal, in a comparable form.
#[derive(Debug, PartialEq)]
struct View {
    journal: Journal,
    entries: Vec<Entry>,
    summaries: Vec<EntrySummary>,
    search: Vec<(&'static str, Vec<(EntrySummary, String)>)>,
    conflicts: Vec<(EntryId, Vec<FieldConflict>)>,
}

fn view(h: &Home, j: &SpaceId) -> View {
    let d = &h.duet;
    let mut entries = d.all_entries(j).unwrap();
    entries.sort_by_key(|e| e.id);
    let search = SEARCH_WORDS
        .iter()
        .map(|w| {
            let mut hits: Vec<(EntrySummary, String)> = d
                .search(w, Some(j), limits::MAX_PAGE)
                .unwrap()
                .into_iter()
                .map(|hit| (hit.entry, hit.snippet))
                .collect();
            hits.sort_by_key(|(s, _)| s.id);
            (*w, hits)
        })
        .collect();
    let conflicts = entries
        .iter()
        .map(|e| (e.id, d.conflicts(&e.id).unwrap()))
        .collect();
    View {
        journal: d.journal(j).unwrap(),
        entries,
        summaries: summaries(d, j),
        search,
        conflicts,
    }
}

fn run_case(c: &Case) {
    let mut w = World::new(c);
    for s in &c.steps {
        w.run(s);
    }
    w.converge();
    let j = w.journal;
    let first = view(&w.homes[0], &j);
    // Everyone is a member once everyone has exchanged.
    assert_eq!(first.journal.members.len(), w.homes.len());
    for (i, h) in w.homes.iter().enumerate().skip(1) {
        let v = view(h, &j);
        assert_eq!(v.journal, first.journal, "home {i}: journal");
        assert_eq!(v.entries, first.entries, "home {i}: entries");
        assert_eq!(v.summaries, first.summaries, "home {i}: listing");
        assert_eq!(v.search, first.search, "home {i}: search");
        assert_eq!(v.conflicts, first.conflicts, "home {i}: conflicts");
    }
    // The index is derived: rebuilding it from the documents gives the same listing.
    let last = w.homes.last().unwrap();
    last.duet.rebuild_index().unwrap();
    let rebuilt = view(last, &j);
    assert_eq!(rebuilt.summaries, first.summaries, "rebuilt listing");
    assert_eq!(rebuilt.search, first.search, "rebuilt search");
    assert_eq!(rebuilt.entries, first.entries, "entries after a rebuild");
}

/// Regression (found by the properties): a splice that changes nothing wrote nothing but
/// still bumped the entry's `updated_at` in the local index, so the writer's listing
/// differed from every partner's forever.
#[test]
fn a_splice_that_changes_nothing_touches_nothing() {
    let a = Home::new("Ada", T0);
    let b = Home::new("Ben", T0);
    let j = a.duet.create_journal("Us").unwrap();
    let id = a
        .duet
        .create_entry(&j, entry(EntryKind::Reflection, "t", "body"))
        .unwrap();
    exchange(&a, &b, &j);
    let (before, outbox) = (summaries(&a.duet, &j), a.duet.outbox_len().unwrap());
    a.clock.advance(60_000);
    a.duet.splice_text(&id, TextField::Body, 2, 0, "").unwrap();
    a.duet
        .splice_many(&id, TextField::Title, &[(0, 0, ""), (1, 0, "")])
        .unwrap();
    assert_eq!(summaries(&a.duet, &j), before);
    assert_eq!(a.duet.outbox_len().unwrap(), outbox);
    exchange(&a, &b, &j);
    assert_eq!(summaries(&b.duet, &j), before);
}

/// Regression (found by the properties): with phone clocks that disagree, a change can be
/// newer than a later change that depends on it. Imports took `updated_at` from the heads
/// only, and `rebuild_index` did too, while local writes kept the maximum: homes that had
/// seen the same changes listed different times.
#[test]
fn updated_at_agrees_when_clocks_disagree() {
    const HOUR: i64 = 3_600_000;
    let a = Home::new("Ada", T0 + HOUR); // a phone an hour fast
    let b = Home::new("Ben", T0);
    let c = Home::new("Cy", T0);
    let j = a.duet.create_journal("Us").unwrap();
    exchange(&a, &b, &j);
    exchange(&a, &c, &j);
    let id = a
        .duet
        .create_entry(&j, entry(EntryKind::Reflection, "t", "body"))
        .unwrap();
    exchange(&a, &b, &j);
    b.clock.advance(1_000);
    b.duet.react(&id, "❤️").unwrap(); // after Ada's write, yet stamped an hour earlier
    exchange(&b, &a, &j);
    // Cy gets both changes at once, from Ada: the only head is Ben's, the older stamp.
    exchange(&a, &c, &j);
    let want = T0 + HOUR;
    for (name, h) in [("Ada", &a), ("Ben", &b), ("Cy", &c)] {
        let e = h.duet.get_entry(&id).unwrap();
        assert_eq!(e.updated_at, want, "{name}");
        assert_eq!(e.reactions.len(), 1, "{name}");
        assert_eq!(
            summaries(&h.duet, &j)[0].updated_at,
            want,
            "{name}: listing"
        );
    }
    c.duet.rebuild_index().unwrap();
    assert_eq!(
        c.duet.get_entry(&id).unwrap().updated_at,
        want,
        "after a rebuild"
    );
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    ProptestConfig {
        cases,
        max_shrink_iters: 4096,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/convergence.txt"
        )))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn two_homes_converge(c in case(2)) {
        run_case(&c);
    }

    #[test]
    fn three_homes_converge(c in case(3)) {
        run_case(&c);
    }
}
