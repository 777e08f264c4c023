//! `attach`, `attachments`, `attachment get|thumbnail|remove` and `entry show --json`
//! through the real binary and a real relay: Ada attaches a photo, Ben gets it whole with
//! its thumbnail; the removal frees it; bad input is a clear error that changes nothing.

use duet_e2e::cli::*;
use duet_e2e::relay::RelayProcess;

/// A 640×480 PNG gradient: a real image for the thumbnail path.
fn png(path: &std::path::Path) -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| image::Rgb([x as u8, y as u8, 90]));
    img.save(path).unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn a_photo_goes_from_ada_to_ben_and_away_again() {
    let relay = RelayProcess::temp();
    let (a, b, j) = Home::partners_at(&relay.url());
    let files = tempfile::tempdir().unwrap();
    let photo = files.path().join("us at the lake.png");
    let bytes = png(&photo);
    let entry = a.write(&j, "the lake");

    let att = a.ok(&["attach", &entry, photo.to_str().unwrap(), "--name", "Lake"]);
    assert_eq!(att["name"], "Lake");
    assert_eq!(att["mime"], "image/png");
    assert_eq!(att["size"], bytes.len());
    assert_eq!(
        (att["width"].as_u64(), att["height"].as_u64()),
        (Some(640), Some(480))
    );
    assert_eq!(att["has_thumbnail"], true);
    assert_eq!(att["state"], "local");
    let id = s(&att["id"]);
    let listed = a.ok(&["attachments", &entry]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], id.as_str());
    a.sync();

    b.sync();
    let shown = b.ok(&["entry", "show", &entry]);
    assert_eq!(shown["attachments"][0]["id"], id.as_str(), "{shown}");
    assert_eq!(shown["attachments"][0]["state"], "remote_only");
    let thumb = files.path().join("thumb.jpg");
    b.ok(&[
        "attachment",
        "thumbnail",
        &id,
        "--out",
        thumb.to_str().unwrap(),
    ]);
    let t = image::open(&thumb).unwrap();
    assert!(t.width() <= 320 && t.height() <= 320);
    assert!(std::fs::metadata(&thumb).unwrap().len() <= 32 * 1024);
    let out = files.path().join("got.png");
    let got = b.ok(&["attachment", "get", &id, "--out", out.to_str().unwrap()]);
    assert_eq!(got["state"], "local");
    assert_eq!(std::fs::read(&out).unwrap(), bytes);

    // Bad input: typed errors, nothing changed.
    let (exit, code) = b.fail(&["attachment", "get", "not-an-id", "--out", "x"]);
    assert_eq!((exit, code.as_str()), (2, "invalid_input"));
    let unknown = "0190a4b2-0000-7000-8000-000000000000";
    let (exit, code) = b.fail(&["attachment", "remove", unknown]);
    assert_eq!((exit, code.as_str()), (3, "not_found"));
    let missing = files.path().join("nope.jpg");
    let (_, code) = a.fail(&["attach", &entry, missing.to_str().unwrap()]);
    assert_eq!(code, "io");
    assert_eq!(a.ok(&["attachments", &entry]).as_array().unwrap().len(), 1);

    // A unique prefix names it, as for entries.
    b.ok(&["attachment", "remove", &id[..8]]);
    b.sync();
    a.sync();
    assert_eq!(a.ok(&["attachments", &entry]), serde_json::json!([]));
}
