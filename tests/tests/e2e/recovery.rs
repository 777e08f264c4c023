//! Recovery kits, through a real relay: Ada loses every device and gets everything back
//! from her 24 words — her journal with Ben, her private drafts, her member id — and the
//! relay never holds a word, a name or a draft. Wrong words leave nothing behind; a kit
//! made before a lost phone's rotation still opens what is written after it; a kit never
//! brings anyone back into a journal they were removed from.

use duet_core::EntryKind::Reflection;
use duet_core::*;
use duet_e2e::device::*;
use duet_e2e::home::{Author, options};
use duet_e2e::relay::RelayProcess;
use duet_e2e::store::files_holding;

const ADA: &str = "Adalind-Sentinel-NAME-4e1f";
const BEN: &str = "Benedikt-Sentinel-NAME-90ac";
const DRAFT: &str = "Sentinel-DRAFT-RECOVERY-2c9e";

/// The journal's JSON export without the moment it was made.
fn export(d: &Duet, j: &SpaceId) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(&d.export_json(j).unwrap()).unwrap();
    v.as_object_mut().unwrap().remove("exported_at");
    v
}

fn relay_id(d: &Duet) -> uuid::Uuid {
    d.relay_info().unwrap().unwrap().device_id.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_home_lost_and_the_words_bring_it_all_back() {
    let relay = RelayProcess::temp();
    let (a, b, j) = partners(&relay.url(), ADA, BEN, "Us").await;
    let ada = a.duet.identity().member;
    let personal = a.duet.identity().personal_space;
    for i in 0..30 {
        a.duet
            .write(&j, Reflection, &format!("entry {i}"), &format!("body {i}"));
    }
    let drafts: Vec<(EntryId, String)> = (0..3)
        .map(|i| {
            let body = format!("{DRAFT} {i}: ünïcödé ✍️");
            (a.duet.write(&personal, Reflection, "draft", &body), body)
        })
        .collect();
    a.duet.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();

    let kit = a.duet.recovery_kit(false).await.unwrap();
    assert!(kit.created);
    assert_eq!(kit.words.split(' ').count(), 24);
    let again = a.duet.recovery_kit(false).await.unwrap();
    assert!(!again.created);
    assert_eq!(again.words, kit.words);
    let lost = relay_id(&a.duet);

    // Every home of Ada's is gone.
    let Device { dir, duet } = a;
    drop(duet);
    drop(dir);

    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("ada");
    let (back, report) = Duet::recover(&home, &kit.words, &relay.url(), options())
        .await
        .unwrap();
    assert_eq!(report.member, ada);
    assert_eq!(back.identity().name, ADA);
    assert_eq!(report.journals, vec![j]);
    assert_eq!(report.old_devices, vec![lost]);
    assert_eq!(back.identity().member, ada);
    back.sync_now().await.unwrap();

    assert_eq!(export(&back, &j), export(&b.duet, &j));
    for (id, body) in &drafts {
        let e = back.get_entry(id).unwrap();
        assert_eq!(e.body.as_bytes(), body.as_bytes());
        assert_eq!(e.journal, personal);
    }
    // The recovered device holds the words now, and shows them again.
    let shown = back.recovery_kit(false).await.unwrap();
    assert!(!shown.created);
    assert_eq!(shown.words, kit.words);

    let next = back.write(&j, Reflection, "back", "back again");
    back.sync_now().await.unwrap();
    b.duet.sync_now().await.unwrap();
    let seen = b.duet.get_entry(&next).unwrap();
    assert_eq!((seen.author, seen.body.as_str()), (ada, "back again"));

    // The relay's files hold none of it: not the words (whole, or any two in a row), not a
    // name, not a draft.
    let words: Vec<&str> = kit.words.split(' ').collect();
    let mut needles = vec![kit.words.clone(), ADA.into(), BEN.into(), DRAFT.into()];
    needles.extend(words.windows(2).map(|w| w.join(" ")));
    for n in &needles {
        let held = files_holding(relay.data_dir(), n.as_bytes());
        assert!(held.is_empty(), "{n:?} in {held:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_words_leave_nothing_behind() {
    let Partners { relay, a, .. } = Partners::start().await;
    let kit = a.duet.recovery_kit(false).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("nobody");
    let words: Vec<&str> = kit.words.split(' ').collect();
    // Misspelled, missing a word, two swapped (the checksum catches it), and another kit's
    // words (valid words, no kit on this relay).
    let mut swapped = words.clone();
    swapped.swap(3, 17);
    // A kit of someone on another relay: valid words this relay knows nothing of.
    let other = {
        let elsewhere = Partners::start().await;
        elsewhere.a.duet.recovery_kit(false).await.unwrap().words
    };
    let cases = [
        format!("{} zebraa", words[..23].join(" ")),
        words[..23].join(" "),
        swapped.join(" "),
        other,
    ];
    for bad in &cases {
        let e = Duet::recover(&home, bad, &relay.url(), options())
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::WrongWords, "{e}");
        assert!(!home.exists(), "a home was left behind");
    }
    // The right words, typed carelessly, still work.
    let sloppy = format!("  {}\n", kit.words.to_uppercase().replace(' ', "  "));
    let (d, _) = Duet::recover(&home, &sloppy, &relay.url(), options())
        .await
        .unwrap();
    assert_eq!(d.identity().member, a.duet.identity().member);
    // And not over a home that exists.
    let e = Duet::recover(&home, &kit.words, &relay.url(), options())
        .await
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AlreadyInitialized);
}

/// The kit is made on Ada's phone; her laptop revokes a lost tablet, which rotates every key
/// she holds, and keeps the kit's envelope current. With every device gone, the words
/// still open what was written after the rotation, drafts included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kit_follows_a_rotation_made_on_another_device() {
    let Partners { relay, a, b, j } = Partners::start().await;
    let laptop = second_device(&a).await;
    let tablet = second_device(&a).await;
    sync_until_converged(&[&a.duet, &laptop.duet, &tablet.duet, &b.duet], &j, 6).await;
    let kit = a.duet.recovery_kit(false).await.unwrap();
    laptop.duet.sync_now().await.unwrap();

    laptop
        .duet
        .revoke_device(relay_id(&tablet.duet))
        .await
        .unwrap();
    let personal = a.duet.identity().personal_space;
    let draft = laptop
        .duet
        .write(&personal, Reflection, "after", "written after the rotation");
    let entry = b.duet.write(&j, Reflection, "ben", "also after");
    b.duet.sync_now().await.unwrap();
    laptop.duet.sync_now().await.unwrap();
    a.duet.sync_now().await.unwrap();
    assert!(laptop.duet.journal(&personal).unwrap().key_epoch >= 2);

    drop((a, laptop, tablet));
    let dir = tempfile::tempdir().unwrap();
    let (back, report) = Duet::recover(dir.path().join("ada"), &kit.words, &relay.url(), options())
        .await
        .unwrap();
    assert_eq!(
        report.old_devices.len(),
        2,
        "phone and laptop, not the tablet"
    );
    back.sync_now().await.unwrap();
    assert_eq!(
        back.get_entry(&draft).unwrap().body,
        "written after the rotation"
    );
    assert_eq!(back.get_entry(&entry).unwrap().body, "also after");
    assert!(back.quarantined().unwrap().is_empty());
}

/// Ben removes Ada from their journal. Her kit, made while she was in it, gets her a new
/// device in her own space only: never back into the journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kit_never_brings_a_removed_partner_back() {
    let Partners { relay, a, b, j } = Partners::start().await;
    a.duet.write(&j, Reflection, "before", "shared before");
    a.duet.sync_now().await.unwrap();
    let kit = a.duet.recovery_kit(false).await.unwrap();
    b.duet.sync_now().await.unwrap();
    b.duet
        .remove_member(&j, &a.duet.identity().member)
        .await
        .unwrap();
    let after = b.duet.write(&j, Reflection, "after", "Ben alone");
    b.duet.sync_now().await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let (back, report) = Duet::recover(dir.path().join("ada"), &kit.words, &relay.url(), options())
        .await
        .unwrap();
    assert!(report.journals.is_empty(), "{:?}", report.journals);
    let _ = back.sync_now().await;
    assert!(back.get_entry(&after).is_err());
}
