//! Prometheus metrics (`GET /metrics`, text format), through prometheus-client.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteOnly {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RouteLabels, Counter>,
    pub latency: Family<RouteOnly, Histogram>,
    pub blobs_appended: Counter,
    pub blob_bytes_appended: Counter,
    pub live_connections: Gauge,
    pub live_frames: Counter,
    pub live_dropped: Counter,
    pub connections_open: Gauge,
    pub connections_refused: Family<ReasonLabel, Counter>,
    pub large_bodies_refused: Counter,
    pub answer_shares: Counter,
    pub key_drops_stored: Counter,
    pub recovery_kits_stored: Counter,
    /// By outcome: `recovered`, `refused` (no such kit, or the wrong secret) or `throttled`.
    pub recovery_attempts: Family<OutcomeLabel, Counter>,
    /// Sealed attachment bytes stored (uploads finished) and freed (last reference gone).
    pub attachment_bytes_stored: Counter,
    pub attachment_bytes_freed: Counter,
    /// Attachment uploads receiving bytes on this node right now.
    pub attachment_uploads_in_progress: Gauge,
    /// Attachment bytes sent to devices (downloads and ranges).
    pub attachment_bytes_served: Counter,
    /// Attachment uploads discarded unfinished after their time.
    pub attachment_uploads_expired: Counter,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("duet");
        let requests = Family::<RouteLabels, Counter>::default();
        let latency = Family::<RouteOnly, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 16))
        });
        let blobs_appended = Counter::default();
        let blob_bytes_appended = Counter::default();
        let live_connections = Gauge::default();
        let live_frames = Counter::default();
        let live_dropped = Counter::default();
        let connections_open = Gauge::default();
        let connections_refused = Family::<ReasonLabel, Counter>::default();
        let large_bodies_refused = Counter::default();
        let answer_shares = Counter::default();
        let key_drops_stored = Counter::default();
        let recovery_kits_stored = Counter::default();
        let recovery_attempts = Family::<OutcomeLabel, Counter>::default();
        let attachment_bytes_stored = Counter::default();
        let attachment_bytes_freed = Counter::default();
        let attachment_uploads_in_progress = Gauge::default();
        let attachment_bytes_served = Counter::default();
        let attachment_uploads_expired = Counter::default();
        registry.register(
            "attachment_bytes_stored",
            "Sealed attachment bytes stored (uploads finished)",
            attachment_bytes_stored.clone(),
        );
        registry.register(
            "attachment_bytes_freed",
            "Sealed attachment bytes freed (their last reference released)",
            attachment_bytes_freed.clone(),
        );
        registry.register(
            "attachment_uploads_in_progress",
            "Attachment uploads receiving bytes on this node now",
            attachment_uploads_in_progress.clone(),
        );
        registry.register(
            "attachment_bytes_served",
            "Attachment bytes sent to devices (whole objects and ranges)",
            attachment_bytes_served.clone(),
        );
        registry.register(
            "attachment_uploads_expired",
            "Attachment uploads discarded unfinished after their time",
            attachment_uploads_expired.clone(),
        );
        registry.register(
            "connections_open",
            "Open client connections (live channels included)",
            connections_open.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused for a cap: in all (total) or per client address (per_ip)",
            connections_refused.clone(),
        );
        registry.register(
            "large_bodies_refused",
            "Large request bodies refused because the body memory stayed full",
            large_bodies_refused.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "blobs_appended",
            "Sealed blobs appended to space logs",
            blobs_appended.clone(),
        );
        registry.register(
            "blob_bytes_appended",
            "Bytes of sealed blobs appended",
            blob_bytes_appended.clone(),
        );
        registry.register(
            "live_connections",
            "Open live (WebSocket) connections",
            live_connections.clone(),
        );
        registry.register(
            "live_frames",
            "Frames sent on live connections",
            live_frames.clone(),
        );
        registry.register(
            "live_dropped_connections",
            "Live connections closed because they fell behind (they reconnect and pull)",
            live_dropped.clone(),
        );
        registry.register(
            "answer_shares_registered",
            "Relay shares of prompt answers registered (first shares only)",
            answer_shares.clone(),
        );
        registry.register(
            "key_drops_stored",
            "Key drops stored for member devices (first drops only; skipped ones not counted)",
            key_drops_stored.clone(),
        );
        registry.register(
            "recovery_kits_stored",
            "Recovery kits made or updated",
            recovery_kits_stored.clone(),
        );
        registry.register(
            "recovery_attempts",
            "Recovery attempts by outcome: recovered, refused (no such kit or the wrong secret), throttled",
            recovery_attempts.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            requests,
            latency,
            blobs_appended,
            blob_bytes_appended,
            live_connections,
            live_frames,
            live_dropped,
            connections_open,
            connections_refused,
            large_bodies_refused,
            answer_shares,
            key_drops_stored,
            recovery_kits_stored,
            recovery_attempts,
            attachment_bytes_stored,
            attachment_bytes_freed,
            attachment_uploads_in_progress,
            attachment_bytes_served,
            attachment_uploads_expired,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        out
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
