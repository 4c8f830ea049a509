//! The daemon's local status server (off by default; `127.0.0.1` unless configured).
//!
//! - `GET /`: the HTML status card ([`super::card`]) for a person.
//! - `GET /status.json`: the same [`StatusReport`] as `qbsync status --json`.
//! - `GET /healthz`: `200` while the last successful pass is recent and QuickBooks is connected,
//!   `503` otherwise, with the reasons as JSON — for an uptime checker (see [`health`]).
//! - `GET /metrics`: Prometheus metrics in OpenMetrics text.
//!
//! The daemon owns the report: it sends a fresh one into a `tokio::sync::watch` channel after
//! each pass, and the server only reads the latest. So a request never touches the store or the
//! network, and a slow browser cannot slow a pass.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::card;
use super::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE};
use super::status::StatusReport;

/// Where the server reads the latest report; the daemon holds the `watch::Sender`.
pub type StatusSource = watch::Receiver<StatusReport>;

/// When `/healthz` says healthy.
#[derive(Clone, Copy, Debug)]
pub struct HealthPolicy {
    /// The last successful pass must have finished less than this long ago.
    pub max_age: Duration,
}

impl HealthPolicy {
    /// Three poll intervals, and never less than ten minutes (a long backfill pass, a brief
    /// Google outage).
    pub fn for_interval(interval: Duration) -> HealthPolicy {
        HealthPolicy { max_age: (interval * 3).max(Duration::from_secs(600)) }
    }
}

/// The `/healthz` verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Health {
    pub healthy: bool,
    pub reasons: Vec<String>,
}

/// Judges a report: healthy when a pass succeeded within `policy.max_age` of `now` and nobody
/// needs to re-connect QuickBooks.
pub fn health(report: &StatusReport, policy: HealthPolicy, now: DateTime<Utc>) -> Health {
    let mut reasons = Vec::new();
    match report.last_success.as_deref().map(DateTime::parse_from_rfc3339) {
        None => reasons.push("no successful pass yet".to_owned()),
        Some(Err(_)) => reasons.push("the last success time is unreadable".to_owned()),
        Some(Ok(at)) => {
            let age = now - at.with_timezone(&Utc);
            if age.to_std().unwrap_or_default() > policy.max_age {
                reasons.push(format!(
                    "the last successful pass finished {} minutes ago (limit {})",
                    age.num_minutes(),
                    policy.max_age.as_secs() / 60
                ));
            }
        }
    }
    if let Some(reason) = &report.quickbooks.needs_reconnect {
        reasons.push(format!("QuickBooks needs to be re-connected: run `qbsync auth` ({reason})"));
    }
    Health { healthy: reasons.is_empty(), reasons }
}

#[derive(Clone)]
struct AppState {
    source: StatusSource,
    metrics: Arc<Metrics>,
    policy: HealthPolicy,
}

/// The routes, for [`serve`] and for tests that bring their own listener.
pub fn router(source: StatusSource, metrics: Arc<Metrics>, policy: HealthPolicy) -> Router {
    Router::new()
        .route("/", get(card_page))
        .route("/status.json", get(status_json))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { source, metrics, policy })
}

/// Binds `addr` and serves until `shutdown` completes.
pub async fn serve(
    addr: SocketAddr,
    source: StatusSource,
    metrics: Arc<Metrics>,
    policy: HealthPolicy,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(addr).await.with_context(|| format!("the status page cannot listen on {addr}"))?;
    serve_on(listener, source, metrics, policy, shutdown).await
}

/// Serves on an already bound listener (port 0 in tests) until `shutdown` completes.
pub async fn serve_on(
    listener: TcpListener,
    source: StatusSource,
    metrics: Arc<Metrics>,
    policy: HealthPolicy,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    if !addr.ip().is_loopback() {
        tracing::warn!(%addr, "the status page is reachable from the network; it shows row errors and has no login");
    }
    tracing::info!("status page on http://{addr}/");
    axum::serve(listener, router(source, metrics, policy))
        .with_graceful_shutdown(shutdown)
        .await
        .context("the status page server stopped")
}

async fn card_page(State(state): State<AppState>) -> Response {
    let html = card::render_html(&state.source.borrow(), Utc::now());
    let mut response = Html(html).into_response();
    let headers = response.headers_mut();
    if let Ok(policy) = HeaderValue::from_str(&card::CONTENT_SECURITY_POLICY) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn status_json(State(state): State<AppState>) -> Response {
    let report = state.source.borrow().clone();
    ([(header::CACHE_CONTROL, "no-store")], axum::Json(report)).into_response()
}

async fn healthz(State(state): State<AppState>) -> Response {
    let verdict = health(&state.source.borrow(), state.policy, Utc::now());
    let code = if verdict.healthy { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, [(header::CACHE_CONTROL, "no-store")], axum::Json(verdict)).into_response()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], state.metrics.encode()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::status::QuickBooksStatus;

    fn at(minutes_ago: i64, now: DateTime<Utc>) -> Option<String> {
        Some((now - chrono::Duration::minutes(minutes_ago)).to_rfc3339())
    }

    #[test]
    fn healthy_only_with_a_recent_success_and_a_connection() {
        let now = Utc::now();
        let policy = HealthPolicy::for_interval(Duration::from_secs(60));
        assert_eq!(policy.max_age, Duration::from_secs(600));

        let mut report = StatusReport { last_success: at(2, now), ..StatusReport::default() };
        assert!(health(&report, policy, now).healthy);

        report.last_success = at(30, now);
        let verdict = health(&report, policy, now);
        assert!(!verdict.healthy);
        assert!(verdict.reasons[0].contains("30 minutes ago"), "{verdict:?}");

        report.last_success = at(1, now);
        report.quickbooks = QuickBooksStatus::needs_reconnect("invalid_grant");
        let verdict = health(&report, policy, now);
        assert!(!verdict.healthy);
        assert!(verdict.reasons[0].contains("qbsync auth"), "{verdict:?}");

        assert!(!health(&StatusReport::default(), policy, now).healthy);
    }
}
