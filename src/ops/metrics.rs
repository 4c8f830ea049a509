//! Prometheus metrics, served as OpenMetrics text at `/metrics`.
//!
//! The numbers an operator graphs or alerts on: documents created, row failures by reason (the
//! caller passes a short reason class such as `validation` or `unknown_name`, never a free-text
//! message, to keep the label set small), QuickBooks and Sheets calls and how many were
//! throttled (429), how long passes take, and when the last one succeeded. The daemon feeds them
//! once per pass; nothing here is on the hot path.
//!
//! Names (prefix `qbsync_`): `documents_created_total{kind}`, `row_failures_total{kind,reason}`,
//! `passes_total{outcome}`, `qbo_calls_total`, `qbo_throttled_total`, `sheets_calls_total`,
//! `sheets_throttled_total`, `pass_duration_seconds` (histogram), `last_success_timestamp_seconds`,
//! `rows{kind,status}` and `quickbooks_connected` (gauges, from the status report).

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use super::status::StatusReport;
use crate::store::Kind;

/// The content type of [`Metrics::encode`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    kind: &'static str,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RowLabels {
    kind: &'static str,
    status: &'static str,
}

/// The registry and the handles the daemon updates. Share it as `Arc<Metrics>`.
pub struct Metrics {
    registry: Registry,
    documents_created: Family<KindLabels, Counter>,
    row_failures: Family<FailureLabels, Counter>,
    passes: Family<OutcomeLabels, Counter>,
    qbo_calls: Counter,
    qbo_throttled: Counter,
    qbo_metered_calls: Counter,
    sheets_calls: Counter,
    sheets_throttled: Counter,
    pass_duration: Histogram,
    last_success: Gauge<f64, AtomicU64>,
    rows: Family<RowLabels, Gauge>,
    quickbooks_connected: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("qbsync");
        let documents_created = Family::<KindLabels, Counter>::default();
        let row_failures = Family::<FailureLabels, Counter>::default();
        let passes = Family::<OutcomeLabels, Counter>::default();
        let qbo_calls = Counter::default();
        let qbo_throttled = Counter::default();
        let qbo_metered_calls = Counter::default();
        let sheets_calls = Counter::default();
        let sheets_throttled = Counter::default();
        // 0.25 s … ~17 min: an idle pass is sub-second, a backfill of hundreds of rows minutes.
        let pass_duration = Histogram::new(exponential_buckets(0.25, 2.0, 13));
        let last_success = Gauge::<f64, AtomicU64>::default();
        let rows = Family::<RowLabels, Gauge>::default();
        let quickbooks_connected = Gauge::default();

        registry.register("documents_created", "QuickBooks documents created", documents_created.clone());
        registry.register("row_failures", "Rows marked failed, by reason class", row_failures.clone());
        registry.register("passes", "Finished passes by outcome", passes.clone());
        registry.register("qbo_calls", "Requests sent to QuickBooks Online", qbo_calls.clone());
        registry.register("qbo_throttled", "QuickBooks Online answers 429 (throttled)", qbo_throttled.clone());
        registry.register(
            "qbo_metered_calls",
            "QuickBooks Online reads, queries and CDC polls (Intuit's metered CorePlus calls)",
            qbo_metered_calls.clone(),
        );
        registry.register("sheets_calls", "Requests sent to Google Sheets and Drive", sheets_calls.clone());
        registry.register("sheets_throttled", "Google answers 429 (quota exceeded)", sheets_throttled.clone());
        registry.register_with_unit("pass_duration", "How long a pass took", Unit::Seconds, pass_duration.clone());
        registry.register_with_unit(
            "last_success_timestamp",
            "When the last successful pass finished (Unix time)",
            Unit::Seconds,
            last_success.clone(),
        );
        registry.register("rows", "Rows qbsync tracks, by kind and status", rows.clone());
        registry.register("quickbooks_connected", "1 while QuickBooks is connected", quickbooks_connected.clone());

        Metrics {
            registry,
            documents_created,
            row_failures,
            passes,
            qbo_calls,
            qbo_throttled,
            qbo_metered_calls,
            sheets_calls,
            sheets_throttled,
            pass_duration,
            last_success,
            rows,
            quickbooks_connected,
        }
    }

    /// Records a finished pass: its duration and outcome, documents created per kind, and rows
    /// failed per kind and reason class.
    pub fn pass_finished(&self, duration: Duration, ok: bool, created: &[(Kind, u64)], failures: &[(Kind, &str, u64)]) {
        self.pass_duration.observe(duration.as_secs_f64());
        self.passes.get_or_create(&OutcomeLabels { outcome: if ok { "ok" } else { "failed" } }).inc();
        for &(kind, n) in created {
            self.documents_created.get_or_create(&KindLabels { kind: kind.as_str() }).inc_by(n);
        }
        for &(kind, reason, n) in failures {
            self.row_failures
                .get_or_create(&FailureLabels { kind: kind.as_str(), reason: reason.to_owned() })
                .inc_by(n);
        }
        if ok {
            self.set_last_success(Utc::now());
        }
    }

    /// Sets the call counters from the clients' running totals since start-up (monotonic; a
    /// smaller value than already recorded is ignored).
    pub fn set_call_counts(&self, qbo_calls: u64, qbo_429: u64, sheets_calls: u64, sheets_429: u64) {
        for (counter, total) in [
            (&self.qbo_calls, qbo_calls),
            (&self.qbo_throttled, qbo_429),
            (&self.sheets_calls, sheets_calls),
            (&self.sheets_throttled, sheets_429),
        ] {
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }

    /// Sets the metered-call counter from the QuickBooks client's running total since start-up
    /// (monotonic, like [`Metrics::set_call_counts`]).
    pub fn set_qbo_metered_calls(&self, total: u64) {
        self.qbo_metered_calls.inc_by(total.saturating_sub(self.qbo_metered_calls.get()));
    }

    /// Sets the last-success time (at start-up, from the store).
    pub fn set_last_success(&self, at: DateTime<Utc>) {
        self.last_success.set(at.timestamp_millis() as f64 / 1000.0);
    }

    /// Copies the gauges that the status report holds (row counts, QuickBooks connection, last
    /// success), so `/metrics` and `/status.json` agree.
    pub fn observe_status(&self, report: &StatusReport) {
        for (kind, counts) in [(Kind::Invoice, &report.invoices), (Kind::Bill, &report.bills)] {
            for (status, n) in counts.by_status() {
                self.rows.get_or_create(&RowLabels { kind: kind.as_str(), status }).set(n as i64);
            }
        }
        self.quickbooks_connected.set(i64::from(report.quickbooks.connected));
        if let Some(at) = report.last_success.as_deref().and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
            self.set_last_success(at.with_timezone(&Utc));
        }
    }

    /// The registry as OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    }

    #[test]
    fn passes_and_calls_show_up_in_openmetrics_text() {
        let metrics = Metrics::new();
        metrics.pass_finished(
            Duration::from_millis(1500),
            true,
            &[(Kind::Invoice, 3), (Kind::Bill, 1)],
            &[(Kind::Invoice, "unknown_name", 2)],
        );
        metrics.pass_finished(Duration::from_millis(300), false, &[], &[]);
        metrics.set_call_counts(10, 1, 4, 0);
        metrics.set_call_counts(12, 1, 5, 0);
        metrics.set_call_counts(3, 0, 0, 0); // a lower total is ignored
        metrics.set_qbo_metered_calls(7);
        metrics.set_qbo_metered_calls(2); // a lower total is ignored

        let text = metrics.encode();
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(value(&text, r#"qbsync_documents_created_total{kind="invoice"}"#), Some(3.0), "{text}");
        assert_eq!(value(&text, r#"qbsync_documents_created_total{kind="bill"}"#), Some(1.0));
        assert_eq!(value(&text, r#"qbsync_row_failures_total{kind="invoice",reason="unknown_name"}"#), Some(2.0));
        assert_eq!(value(&text, r#"qbsync_passes_total{outcome="ok"}"#), Some(1.0));
        assert_eq!(value(&text, r#"qbsync_passes_total{outcome="failed"}"#), Some(1.0));
        assert_eq!(value(&text, "qbsync_qbo_calls_total"), Some(12.0));
        assert_eq!(value(&text, "qbsync_qbo_throttled_total"), Some(1.0));
        assert_eq!(value(&text, "qbsync_qbo_metered_calls_total"), Some(7.0));
        assert_eq!(value(&text, "qbsync_sheets_calls_total"), Some(5.0));
        assert_eq!(value(&text, "qbsync_pass_duration_seconds_count"), Some(2.0));
        assert_eq!(value(&text, "qbsync_pass_duration_seconds_sum"), Some(1.8));
        assert!(text.contains("# TYPE qbsync_pass_duration_seconds histogram"), "{text}");
        let last = value(&text, "qbsync_last_success_timestamp_seconds").expect("last success");
        assert!((last - Utc::now().timestamp() as f64).abs() < 60.0);
    }

    #[test]
    fn status_gauges_follow_the_report() {
        let metrics = Metrics::new();
        let mut report = StatusReport::default();
        report.invoices.failed = 4;
        report.bills.synced = 9;
        report.quickbooks.connected = true;
        report.last_success = Some("2026-11-21T09:00:00.000Z".into());
        metrics.observe_status(&report);
        let text = metrics.encode();
        assert_eq!(value(&text, r#"qbsync_rows{kind="invoice",status="failed"}"#), Some(4.0), "{text}");
        assert_eq!(value(&text, r#"qbsync_rows{kind="bill",status="synced"}"#), Some(9.0));
        assert_eq!(value(&text, "qbsync_quickbooks_connected"), Some(1.0));
        assert_eq!(value(&text, "qbsync_last_success_timestamp_seconds"), Some(1_795_251_600.0));
    }
}
