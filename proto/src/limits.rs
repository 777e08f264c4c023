//! Default limits. The relay can be configured tighter or looser; clients use these to
//! split work (e.g. pushes) so they never hit a limit in normal use.

/// Largest request body (a push of many blobs).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;
/// Largest single sealed blob.
pub const MAX_BLOB_BYTES: usize = 2 * 1024 * 1024;
/// Most blobs in one push.
pub const MAX_BLOBS_PER_PUSH: usize = 1000;
/// Most blobs in one pull page.
pub const MAX_PULL_PAGE: u32 = 1000;
/// Default pull page.
pub const DEFAULT_PULL_PAGE: u32 = 500;
/// Blobs up to this size ride inline on the live channel.
pub const LIVE_INLINE_BYTES: usize = 8 * 1024;
/// Pushes per device per minute.
pub const PUSHES_PER_MINUTE: u32 = 600;
/// Stored bytes per space.
pub const SPACE_QUOTA_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Wrong join attempts before an invite is burned.
pub const INVITE_MAX_ATTEMPTS: u32 = 5;
/// Invite lifetime when the inviter doesn't say.
pub const INVITE_DEFAULT_TTL_SECS: u64 = 24 * 3600;
/// Longest invite lifetime.
pub const INVITE_MAX_TTL_SECS: u64 = 7 * 24 * 3600;
/// Largest wrapped key an invite may carry.
pub const MAX_WRAPPED_KEY_BYTES: usize = 4096;
/// Spaces one device may create.
pub const MAX_SPACES_PER_DEVICE: u32 = 100;
/// Pending (unused, unexpired, not burned) invites one device may hold at once.
pub const MAX_PENDING_INVITES_PER_DEVICE: u32 = 100;
/// Device registrations per client address per hour (a burst of this many, then one per
/// `3600 / n` seconds).
pub const REGISTRATIONS_PER_HOUR: u32 = 60;
/// Bytes of an answer's relay share (ADR 11).
pub const ANSWER_SHARE_BYTES: usize = 32;
/// Longest round id of a prompt answer.
pub const MAX_ROUND_LEN: usize = 80;
/// Prompt answers (one share per person and round) one space holds.
pub const MAX_ANSWERS_PER_SPACE: u32 = 10_000;
/// Bytes of one key drop (an ephemeral X25519 key, a nonce and a sealed 32-byte key are 104).
pub const MAX_KEY_DROP_BYTES: usize = 128;
/// Key drops in one call: one per other member device of the space.
pub const MAX_KEY_DROPS: usize = 64;
/// Bytes of a recovery kit's lookup id (32 hex digits in the path).
pub const RECOVERY_LOOKUP_BYTES: usize = 16;
/// Largest sealed recovery envelope (a person's key rings, padded).
pub const MAX_RECOVERY_ENVELOPE_BYTES: usize = 64 * 1024;
/// Spaces one recovery kit may admit a device to.
pub const MAX_RECOVERY_SPACES: usize = 256;
/// Recovery attempts against one kit per hour (a burst of this many, then one per
/// `3600 / n` seconds).
pub const RECOVERY_ATTEMPTS_PER_HOUR: u32 = 10;
/// Largest attachment a device seals (plaintext); the CLI and the apps may set it lower.
pub const MAX_ATTACHMENT_BYTES: u64 = 1024 * 1024 * 1024;
/// Largest sealed attachment the relay stores by default: a [`MAX_ATTACHMENT_BYTES`] file
/// with its segment tags and padding (at most 12% by Padmé) fits.
pub const MAX_SEALED_ATTACHMENT_BYTES: u64 = 1280 * 1024 * 1024;
/// Sealed attachment bytes one space may hold (apart from its blobs' quota, so a full
/// attachment store never stops the words).
pub const ATTACHMENT_QUOTA_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// An attachment upload that doesn't finish in this long is discarded.
pub const ATTACHMENT_UPLOAD_TTL_SECS: u64 = 7 * 24 * 3600;
/// Largest thumbnail an app may give with an attachment.
pub const MAX_THUMBNAIL_BYTES: usize = 32 * 1024;
