//! What every handler shares.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::live::Hub;
use crate::metrics::Metrics;
use crate::storage::{Lookup, Millis, RelayStore};

/// Recovery attempts per client address per hour, by default: a person typing their words
/// a few times over, not a guesser.
pub const RECOVERIES_PER_CLIENT_PER_HOUR: u32 = 10;

/// The relay's limits (each a flag of `duet-relay`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_blob_bytes: usize,
    pub max_blobs_per_push: usize,
    pub pushes_per_minute: u32,
    pub space_quota_bytes: u64,
    pub invite_max_attempts: u32,
    pub live_inline_bytes: usize,
    pub max_spaces_per_device: u32,
    pub max_pending_invites_per_device: u32,
    pub max_answers_per_space: u32,
    /// Per client address; 0: no limit.
    pub registrations_per_hour: u32,
    /// Recovery attempts against one kit (lookup id); at least 1.
    pub recovery_attempts_per_hour: u32,
    /// Recovery attempts per client address; 0: no limit.
    pub recoveries_per_client_per_hour: u32,
    /// A request body must arrive whole within this.
    pub body_read_timeout: Duration,
    /// Bytes of large bodies held at once (see [`crate::cbor`]).
    pub body_memory_bytes: usize,
    /// Largest sealed attachment.
    pub max_attachment_bytes: u64,
    /// Sealed attachment bytes per space (stored and being uploaded).
    pub attachment_quota_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        use duet_proto::limits::*;
        Self {
            max_body_bytes: MAX_BODY_BYTES,
            max_blob_bytes: MAX_BLOB_BYTES,
            max_blobs_per_push: MAX_BLOBS_PER_PUSH,
            pushes_per_minute: PUSHES_PER_MINUTE,
            space_quota_bytes: SPACE_QUOTA_BYTES,
            invite_max_attempts: INVITE_MAX_ATTEMPTS,
            live_inline_bytes: LIVE_INLINE_BYTES,
            max_spaces_per_device: MAX_SPACES_PER_DEVICE,
            max_pending_invites_per_device: MAX_PENDING_INVITES_PER_DEVICE,
            max_answers_per_space: MAX_ANSWERS_PER_SPACE,
            registrations_per_hour: REGISTRATIONS_PER_HOUR,
            recovery_attempts_per_hour: RECOVERY_ATTEMPTS_PER_HOUR,
            recoveries_per_client_per_hour: RECOVERIES_PER_CLIENT_PER_HOUR,
            body_read_timeout: Duration::from_secs(60),
            body_memory_bytes: crate::net::DEFAULT_BODY_MEMORY_BYTES,
            max_attachment_bytes: MAX_SEALED_ATTACHMENT_BYTES,
            attachment_quota_bytes: ATTACHMENT_QUOTA_BYTES,
        }
    }
}

/// Who may register a device, and which peers' `X-Forwarded-For` is believed.
#[derive(Clone, Default)]
pub struct Access {
    /// When set, registering needs it as a bearer token.
    pub registration_token: Option<String>,
    pub trusted_proxies: Vec<crate::net::IpNet>,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never in a log.
        f.debug_struct("Access")
            .field(
                "registration_token",
                &self.registration_token.as_ref().map(|_| "…"),
            )
            .field("trusted_proxies", &self.trusted_proxies)
            .finish()
    }
}

pub struct AppState {
    pub store: Arc<dyn RelayStore>,
    pub hub: Hub,
    pub limits: Limits,
    pub push_limiter: DefaultKeyedRateLimiter<Uuid>,
    /// Registrations per client address (`None`: unlimited).
    pub registration_limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    /// Recovery attempts per kit: the guard of a kit's secret, never lifted.
    pub recovery_limiter: DefaultKeyedRateLimiter<Lookup>,
    /// Recovery attempts per client address (`None`: unlimited).
    pub recovery_client_limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    pub access: Access,
    /// Bytes of large request bodies that may be held at once.
    pub body_memory: Arc<Semaphore>,
    /// Attachments' bytes: the object store and the uploads under way on this node.
    pub attachments: crate::attachments::Attachments,
    pub metrics: Metrics,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("backend", &self.store.backend())
            .field("limits", &self.limits)
            .finish()
    }
}

impl AppState {
    pub fn new(
        store: Arc<dyn RelayStore>,
        limits: Limits,
        attachments: crate::attachments::Attachments,
    ) -> Arc<AppState> {
        Self::with_access(store, limits, Access::default(), attachments)
    }

    pub fn with_access(
        store: Arc<dyn RelayStore>,
        limits: Limits,
        access: Access,
        attachments: crate::attachments::Attachments,
    ) -> Arc<AppState> {
        let per_minute =
            NonZeroU32::new(limits.pushes_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let registration_limiter = NonZeroU32::new(limits.registrations_per_hour)
            .map(|n| RateLimiter::keyed(Quota::per_hour(n)));
        let per_kit =
            NonZeroU32::new(limits.recovery_attempts_per_hour.max(1)).unwrap_or(NonZeroU32::MIN);
        let recovery_client_limiter = NonZeroU32::new(limits.recoveries_per_client_per_hour)
            .map(|n| RateLimiter::keyed(Quota::per_hour(n)));
        let body_memory = limits
            .body_memory_bytes
            .max(limits.max_body_bytes)
            .min(Semaphore::MAX_PERMITS);
        Arc::new(AppState {
            store,
            hub: Hub::default(),
            limits,
            push_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            registration_limiter,
            recovery_limiter: RateLimiter::keyed(Quota::per_hour(per_kit)),
            recovery_client_limiter,
            access,
            body_memory: Arc::new(Semaphore::new(body_memory)),
            attachments,
            metrics: Metrics::new(),
        })
    }
}

/// `Some(seconds to wait)` when `key` is past its quota: each call counts as an attempt.
pub fn throttled<K>(limiter: &DefaultKeyedRateLimiter<K>, key: &K) -> Option<u64>
where
    K: std::hash::Hash + Eq + Clone,
{
    limiter.check_key(key).err().map(|not_until| {
        let now = governor::clock::Clock::now(&governor::clock::DefaultClock::default());
        not_until.wait_time_from(now).as_secs().max(1)
    })
}

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
