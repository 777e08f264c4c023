//! Stories told at several layers — bundles between homes, one relay, two relay nodes — set
//! up the same way everywhere, so each layer checks the same thing.

use duet_core::{Duet, EntryId, SpaceId, TextField};

use crate::home::{Home, exchange, swap};
use crate::ok;

/// A body both partners rewrite at once, offline: Ada adds "really", Ben "slow".
pub const MORNINGS: &str = "I love our mornings.";
/// What both read once the two rewrites of [`MORNINGS`] have met.
pub const MORNINGS_MERGED: &str = "I really love our slow mornings.";

/// Ada's and Ben's rewrites of the body of `id` (which reads [`MORNINGS`]), each on their
/// own device and neither knowing of the other's.
pub fn rewrite_mornings(ada: &Duet, ben: &Duet, id: &EntryId) {
    let set = |d: &Duet, text: &str| ok(d.set_text(id, TextField::Body, text), text);
    set(ada, "I really love our mornings.");
    set(ben, "I love our slow mornings.");
}

/// A check-in of Ada's (mood 3, closeness 4, a need) that both partners hold; then, offline,
/// Ada sets mood 2 and Ben mood 5 and closeness 3, and they swap bundles. The mood
/// conflicts (2 by Ada, 5 by Ben); the closeness, set by one side only, doesn't. Returns
/// the check-in.
pub fn conflicting_moods(a: &Home, b: &Home, j: &SpaceId) -> EntryId {
    let first = duet_core::CheckIn {
        needs: "more sleep".into(),
        ..crate::home::scores(3, 4)
    };
    let id = ok(a.duet.check_in(j, first), "a check-in");
    exchange(a, b, j);
    a.clock.advance(100);
    ok(a.duet.set_check_in_scores(&id, Some(2), None), "Ada's mood");
    b.clock.advance(200);
    ok(
        b.duet.set_check_in_scores(&id, Some(5), Some(3)),
        "Ben's mood",
    );
    swap(a, b, j);
    id
}
