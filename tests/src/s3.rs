//! S3 for the tests of the relay's S3 attachment backend: the Garage node `scripts/garage.sh`
//! starts (its URL in `DUET_TEST_S3_URL`).

/// The test server's URL: `None`, with a notice, when `DUET_TEST_S3_URL` is not set —
/// unless `DUET_REQUIRE_S3=1` (the full run), which makes that a failure.
pub fn server_url() -> Option<String> {
    match std::env::var("DUET_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("DUET_REQUIRE_S3").as_deref() == Ok("1") => {
            panic!("DUET_REQUIRE_S3=1 but DUET_TEST_S3_URL is not set (scripts/garage.sh start)")
        }
        _ => {
            eprintln!("DUET_TEST_S3_URL is not set: skipping an S3 test (scripts/garage.sh start)");
            None
        }
    }
}
