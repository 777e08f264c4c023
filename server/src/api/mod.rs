//! The HTTP surface: `/v1` routes, health, metrics, OpenAPI, and the fallbacks that turn
//! unknown versions and paths into typed errors.

pub mod answers;
pub mod attachments;
pub mod blobs;
pub mod devices;
pub mod invites;
pub mod keys;
pub mod member;
pub mod recovery;
pub mod responses;
pub mod spaces;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use duet_proto::ErrorCode;
use utoipa::OpenApi;

use crate::error::ApiError;
use crate::metrics::{RouteLabels, RouteOnly};
use crate::state::AppState;

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Duet relay", description = "Stores and forwards sealed blobs between a couple's devices. Bodies are CBOR; errors are JSON `{code, message}`."),
    paths(
        devices::register, devices::me, devices::revoke,
        spaces::create, spaces::list, spaces::get, spaces::add_member, spaces::remove_member,
        spaces::announce_epoch,
        invites::create, invites::join,
        blobs::push, blobs::pull, blobs::put_snapshot, blobs::get_snapshot,
        answers::put, answers::list, answers::reveal,
        keys::put, keys::list,
        recovery::put, recovery::get, recovery::recover,
        attachments::upload, attachments::upload_status, attachments::download,
        attachments::head, attachments::add_ref, attachments::release_ref,
    ),
    components(schemas(duet_proto::ErrorBody, duet_proto::ErrorCode)),
    modifiers(&BearerAuth),
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        // A relay started with --registration-token wants it on POST /v1/devices.
        components.add_security_scheme(
            "registration",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The operator's registration token, on relays that require one",
                    ))
                    .build(),
            ),
        );
    }
}

pub fn router(state: Arc<AppState>) -> Router {
    let v1 = Router::new()
        .route("/devices", post(devices::register))
        .route("/devices/me", get(devices::me))
        .route("/devices/{device}", delete(devices::revoke))
        .route("/spaces", post(spaces::create).get(spaces::list))
        .route("/spaces/{space}", get(spaces::get))
        .route("/spaces/{space}/members", post(spaces::add_member))
        .route(
            "/spaces/{space}/members/{device}",
            delete(spaces::remove_member),
        )
        .route("/spaces/{space}/epoch", put(spaces::announce_epoch))
        .route("/spaces/{space}/invites", post(invites::create))
        .route("/invites/{invite}/join", post(invites::join))
        .route("/spaces/{space}/blobs", post(blobs::push).get(blobs::pull))
        .route(
            "/spaces/{space}/snapshot",
            get(blobs::get_snapshot).put(blobs::put_snapshot),
        )
        .route(
            "/spaces/{space}/answers/{round}",
            get(answers::list).put(answers::put),
        )
        .route(
            "/spaces/{space}/answers/{round}/reveal",
            post(answers::reveal),
        )
        .route("/spaces/{space}/keys", get(keys::list))
        .route("/spaces/{space}/keys/{epoch}", put(keys::put))
        .merge(recovery::routes())
        .merge(attachments::routes())
        .route("/live", get(crate::live::live))
        .route("/openapi.json", get(openapi))
        // After the routes: it applies to those registered before it.
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .nest("/v1", v1)
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .layer(middleware::from_fn(close_after_refused_body))
        .layer(middleware::from_fn_with_state(state.clone(), record))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// A request with a body that is refused (4xx/5xx) — often before its body was read: a
/// stranger's, one too large — closes its connection, and says so (`Connection: close`).
/// Otherwise the unread body makes hyper drop the connection silently after the answer,
/// and a client that pools connections sends its next request down a dead one.
async fn close_after_refused_body(
    req: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    let mut resp = next.run(req).await;
    if has_body && (resp.status().is_client_error() || resp.status().is_server_error()) {
        resp.headers_mut().insert(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        );
    }
    resp
}

async fn openapi() -> impl IntoResponse {
    axum::Json(ApiDoc::openapi())
}

/// For load balancers: 200 while the store answers, 503 when it doesn't (the node can't
/// serve anything then).
async fn healthz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let backend = state.store.backend();
    match state.store.ping().await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({ "status": "ok", "backend": backend })),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "health check: the store does not answer");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({ "status": "unavailable", "backend": backend })),
            )
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Unknown paths are typed errors too; `/vN/...` for another N says which versions exist.
async fn fallback(uri: Uri) -> ApiError {
    let path = uri.path();
    let version = path
        .strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()));
    match version {
        Some(v) if v != "1" => ApiError::new(
            ErrorCode::UnknownVersion,
            format!("protocol version {v} is not spoken here; this relay speaks v1"),
        ),
        _ => ApiError::new(ErrorCode::NotFound, "no such endpoint"),
    }
}

/// A known path with a method it doesn't take is still a typed error (axum's default is an
/// empty 405). No endpoint answers that method there, so: `not_found`.
async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        format!("no such endpoint: {method} {}", uri.path()),
    )
}

/// Count and time every request by its route template (never the raw path: ids would
/// explode the label set).
async fn record(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status();
    state
        .metrics
        .requests
        .get_or_create(&RouteLabels {
            route: route.clone(),
            status: status.as_u16(),
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteOnly { route })
        .observe(start.elapsed().as_secs_f64());
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::warn!("request failed with 500");
    }
    resp
}
