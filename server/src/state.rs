//! What every handler shares.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use crate::live::Hub;
use crate::metrics::Metrics;
use crate::storage::{Millis, RelayStore};

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
        }
    }
}

pub struct AppState {
    pub store: Arc<dyn RelayStore>,
    pub hub: Hub,
    pub limits: Limits,
    pub push_limiter: DefaultKeyedRateLimiter<Uuid>,
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
    pub fn new(store: Arc<dyn RelayStore>, limits: Limits) -> Arc<AppState> {
        let per_minute =
            NonZeroU32::new(limits.pushes_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        Arc::new(AppState {
            store,
            hub: Hub::default(),
            limits,
            push_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            metrics: Metrics::new(),
        })
    }
}

pub fn now_ms() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
