//! The status report: one answer to "is it working, and what went wrong?".
//!
//! `qbsync status` prints it ([`render_text`]), `qbsync status --json` and the daemon's
//! `/status.json` serialize it, and the HTML card renders it. It is built from the store (counts,
//! passes, audit) plus what only the caller knows: whether QuickBooks and Google answer, and when
//! the next pass is due.
//!
//! The JSON shape (times are RFC 3339 UTC strings or `null`):
//!
//! ```text
//! { "generated_at": "…", "version": "0.1.0",
//!   "invoices": {"synced": n, "failed": n, "skipped": n, "pending": n, "voided": n, "review": n}, "bills": {…},
//!   "last_success": "…"|null,
//!   "last_pass": {"started_at", "finished_at", "ok", "created", "failed", "skipped", "error"}|null,
//!   "next_pass": "…"|null,
//!   "quickbooks": {"connected": bool, "refresh_token_expires_at": "…"|null,
//!                  "needs_reconnect": "reason"|null, "warn_expiry_soon": bool},
//!   "google": {"ok": bool, "error": "…"|null},
//!   "qbo_metered_calls": n|null,
//!   "recent_failures": [{"at", "kind", "row_key", "sheet_row", "doc_number", "error",
//!                        "current_status"}] }
//! ```

use std::collections::HashSet;
use std::fmt::Write as _;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;

use crate::store::{AuditQuery, Kind, PassRecord, RowStatus, StatusCounts, Store, StoreError};

/// How far back the report lists failures.
pub const FAILURE_WINDOW_DAYS: i64 = 7;
/// At most this many failure lines (newest first); the audit has the rest.
pub const MAX_FAILURE_LINES: usize = 50;
/// Warn this long before the QuickBooks refresh token expires.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// Everything `qbsync status` and the status page show.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatusReport {
    pub generated_at: String,
    pub version: String,
    pub invoices: StatusCounts,
    pub bills: StatusCounts,
    /// When the last successful pass finished.
    pub last_success: Option<String>,
    pub last_pass: Option<PassRecord>,
    pub next_pass: Option<String>,
    pub quickbooks: QuickBooksStatus,
    pub google: GoogleStatus,
    /// QuickBooks reads, queries and CDC polls since the daemon started: Intuit's metered
    /// "CorePlus" calls (500,000 a month on the free Builder tier, then 429 until the next
    /// month). `None` when no running daemon reports it.
    pub qbo_metered_calls: Option<u64>,
    /// Metered QuickBooks calls the store counted today (UTC), whichever qbsync process made them.
    pub qbo_metered_today: u64,
    /// The same over the last 30 days: what to hold against the monthly allowance.
    pub qbo_metered_30_days: u64,
    /// Failures of the last [`FAILURE_WINDOW_DAYS`] days, newest first, one per row.
    pub recent_failures: Vec<FailureLine>,
}

/// The QuickBooks connection as the token store sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct QuickBooksStatus {
    pub connected: bool,
    pub refresh_token_expires_at: Option<String>,
    /// Set when a person must run `qbsync auth`; the reason is for them.
    pub needs_reconnect: Option<String>,
    /// The refresh token expires within [`EXPIRY_WARNING_DAYS`] days.
    pub warn_expiry_soon: bool,
}

impl QuickBooksStatus {
    /// Connected, with the refresh token's expiry if known.
    pub fn connected(refresh_token_expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> QuickBooksStatus {
        QuickBooksStatus {
            connected: true,
            refresh_token_expires_at: refresh_token_expires_at.map(rfc3339),
            needs_reconnect: None,
            warn_expiry_soon: refresh_token_expires_at.is_some_and(|at| at - now < Duration::days(EXPIRY_WARNING_DAYS)),
        }
    }

    /// A person must re-connect QuickBooks (`qbsync auth`). `reason` is the cause; a whole
    /// "QuickBooks needs to be re-connected: run `qbsync auth` (cause)" sentence is reduced to its
    /// cause, since every place that shows the reason already says what to run.
    pub fn needs_reconnect(reason: impl Into<String>) -> QuickBooksStatus {
        let reason = reason.into();
        let cause = reason
            .strip_prefix("QuickBooks needs to be re-connected: run `qbsync auth` (")
            .and_then(|rest| rest.strip_suffix(')'))
            .map_or(reason.clone(), str::to_owned);
        QuickBooksStatus { connected: false, needs_reconnect: Some(cause), ..QuickBooksStatus::default() }
    }

    /// What the token manager knows, as of `now`: the earlier of the rolling and the hard expiry
    /// is the one a person must act on.
    pub fn from_connection(connection: &crate::auth::ConnectionStatus, now: DateTime<Utc>) -> QuickBooksStatus {
        match &connection.needs_reconnect {
            Some(reason) => QuickBooksStatus::needs_reconnect(reason.clone()),
            None => QuickBooksStatus::connected(
                [connection.refresh_expires_at, connection.hard_expires_at].into_iter().flatten().min(),
                now,
            ),
        }
    }
}

/// Whether Google answered the last time qbsync asked.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GoogleStatus {
    pub ok: bool,
    pub error: Option<String>,
}

impl GoogleStatus {
    pub fn ok() -> GoogleStatus {
        GoogleStatus { ok: true, error: None }
    }

    pub fn failing(error: impl Into<String>) -> GoogleStatus {
        GoogleStatus { ok: false, error: Some(error.into()) }
    }
}

/// One failed row, as the bookkeeper would look for it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FailureLine {
    pub at: String,
    pub kind: Kind,
    pub row_key: Option<String>,
    pub sheet_row: Option<i64>,
    pub doc_number: Option<String>,
    pub error: Option<String>,
    /// What the row's status is now (`failed`, or `synced` once someone fixed it).
    pub current_status: Option<RowStatus>,
}

/// Builds the report as of now.
pub fn build_report(
    store: &Store,
    quickbooks: QuickBooksStatus,
    google: GoogleStatus,
    next_pass: Option<DateTime<Utc>>,
) -> Result<StatusReport, StoreError> {
    build_report_at(store, quickbooks, google, next_pass, Utc::now())
}

/// Builds the report as of `now` (tests pin the clock).
pub fn build_report_at(
    store: &Store,
    quickbooks: QuickBooksStatus,
    google: GoogleStatus,
    next_pass: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<StatusReport, StoreError> {
    let failed = store.audit(&AuditQuery {
        since: Some(now - Duration::days(FAILURE_WINDOW_DAYS)),
        failed_only: true,
        ..AuditQuery::default()
    })?;
    let mut seen = HashSet::new();
    let mut recent_failures = Vec::new();
    // Newest first; a row that failed on several passes is listed once, with its latest error.
    for entry in failed.into_iter().rev() {
        let identity = (entry.kind, entry.row_key.clone().or_else(|| entry.doc_number.clone()));
        if !seen.insert(identity) {
            continue;
        }
        let current_status = match &entry.row_key {
            Some(key) => store.row(key)?.map(|row| row.status),
            None => None,
        };
        recent_failures.push(FailureLine {
            at: entry.at,
            kind: entry.kind,
            row_key: entry.row_key,
            sheet_row: entry.sheet_row,
            doc_number: entry.doc_number,
            error: entry.error,
            current_status,
        });
        if recent_failures.len() == MAX_FAILURE_LINES {
            break;
        }
    }
    let (qbo_metered_today, qbo_metered_30_days) = store.metered_calls(now.date_naive())?;
    Ok(StatusReport {
        qbo_metered_today,
        qbo_metered_30_days,
        generated_at: rfc3339(now),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        invoices: store.counts(Kind::Invoice)?,
        bills: store.counts(Kind::Bill)?,
        last_success: store.last_success()?,
        last_pass: store.last_pass()?,
        next_pass: next_pass.map(rfc3339),
        quickbooks,
        google,
        qbo_metered_calls: None,
        recent_failures,
    })
}

/// The report as text for a terminal (`qbsync status`).
pub fn render_text(report: &StatusReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "qbsync {} — status at {}", report.version, human_time(&report.generated_at));
    let _ = writeln!(out);

    let quickbooks = match (&report.quickbooks.needs_reconnect, report.quickbooks.connected) {
        (Some(reason), _) => format!("NEEDS RE-CONNECTING: run `qbsync auth` ({reason})"),
        (None, true) => match &report.quickbooks.refresh_token_expires_at {
            Some(at) if report.quickbooks.warn_expiry_soon => {
                format!("connected — the authorization EXPIRES {}: run `qbsync auth` before then", human_time(at))
            }
            Some(at) => format!("connected (authorization valid until {})", human_time(at)),
            None => "connected".to_owned(),
        },
        (None, false) => "not connected: run `qbsync auth`".to_owned(),
    };
    let google = match (&report.google.error, report.google.ok) {
        (Some(error), _) => format!("ERROR: {error}"),
        (None, true) => "ok".to_owned(),
        (None, false) => "unknown".to_owned(),
    };
    let last_pass = match &report.last_pass {
        Some(pass) if pass.ok => format!(
            "{} — ok: {} created, {} failed, {} skipped",
            human_time(&pass.finished_at),
            pass.created,
            pass.failed,
            pass.skipped
        ),
        Some(pass) => {
            format!("{} — STOPPED: {}", human_time(&pass.finished_at), pass.error.as_deref().unwrap_or("unknown error"))
        }
        None => "none yet".to_owned(),
    };
    let or_never = |at: &Option<String>, none: &str| at.as_deref().map(human_time).unwrap_or_else(|| none.to_owned());
    for (label, value) in [
        ("QuickBooks", quickbooks),
        ("Google", google),
        ("Last pass", last_pass),
        ("Last success", or_never(&report.last_success, "never")),
        ("Next pass", or_never(&report.next_pass, "not scheduled (no daemon running)")),
    ] {
        let _ = writeln!(out, "{label:<13}{value}");
    }
    if let Some(calls) = report.qbo_metered_calls {
        let _ = writeln!(out, "{:<13}{calls} metered QuickBooks calls (reads, queries, CDC) since start", "Metered");
    }
    let _ = writeln!(
        out,
        "{:<13}{} metered QuickBooks calls today (UTC), {} in the last 30 days",
        "Metered", report.qbo_metered_today, report.qbo_metered_30_days
    );

    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<13}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
        "", "synced", "failed", "skipped", "pending", "review", "voided"
    );
    for (label, c) in [("Invoices", &report.invoices), ("Bills", &report.bills)] {
        let _ = writeln!(
            out,
            "{label:<13}{:>8}{:>8}{:>8}{:>8}{:>8}{:>8}",
            c.synced, c.failed, c.skipped, c.pending, c.review, c.voided
        );
    }

    let _ = writeln!(out);
    if report.recent_failures.is_empty() {
        let _ = writeln!(out, "No failures in the last {FAILURE_WINDOW_DAYS} days.");
    } else {
        let _ = writeln!(out, "Failures in the last {FAILURE_WINDOW_DAYS} days (newest first):");
        for failure in &report.recent_failures {
            let row = failure.sheet_row.map(|r| format!("row {r}")).unwrap_or_else(|| "row ?".into());
            let fixed = if failure.current_status == Some(RowStatus::Synced) { " [fixed since]" } else { "" };
            let _ = writeln!(
                out,
                "  {}  {:<7}  {:<8}  {:<12}  {}{}",
                human_time(&failure.at),
                failure.kind.as_str(),
                row,
                failure.doc_number.as_deref().unwrap_or("-"),
                failure.error.as_deref().unwrap_or("(no message)"),
                fixed
            );
        }
    }
    out
}

/// `2026-11-21T09:30:12.345Z` → `2026-11-21 09:30 UTC`; anything unparsable as it is.
pub fn human_time(rfc3339_text: &str) -> String {
    match DateTime::parse_from_rfc3339(rfc3339_text) {
        Ok(at) => at.with_timezone(&Utc).format("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => rfc3339_text.to_owned(),
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuditEvent, NewAudit, RowRecord};

    fn row(key: &str, kind: Kind, status: RowStatus, sheet_row: i64) -> RowRecord {
        RowRecord {
            kind,
            doc_number: Some(format!("DOC-{sheet_row}")),
            sheet_row: Some(sheet_row),
            ..RowRecord::sample(key, status)
        }
    }

    fn fail(store: &Store, kind: Kind, key: &str, sheet_row: i64, error: &str) {
        store
            .audit_append(
                kind,
                &NewAudit {
                    event: AuditEvent::Rejected,
                    row_key: Some(key),
                    sheet_row: Some(sheet_row),
                    doc_number: Some("INV-9"),
                    status: RowStatus::Failed,
                    error: Some(error),
                    ..NewAudit::new(AuditEvent::Rejected, RowStatus::Failed)
                },
            )
            .expect("audit");
    }

    #[test]
    fn report_counts_passes_and_failures_from_the_store() {
        let store = Store::in_memory().expect("store");
        store.put_row(&row("r1", Kind::Invoice, RowStatus::Synced, 2)).expect("row");
        store.put_row(&row("r2", Kind::Invoice, RowStatus::Failed, 3)).expect("row");
        store.put_row(&row("r3", Kind::Bill, RowStatus::Skipped, 4)).expect("row");
        store.put_row(&row("r4", Kind::Invoice, RowStatus::Synced, 5)).expect("row");
        fail(&store, Kind::Invoice, "r2", 3, "first error");
        fail(&store, Kind::Invoice, "r2", 3, "customer \"Acme\" not found");
        fail(&store, Kind::Invoice, "r4", 5, "fixed later");
        store
            .record_pass(&PassRecord {
                started_at: "2026-11-21T09:00:00.000Z".into(),
                finished_at: "2026-11-21T09:00:02.000Z".into(),
                ok: true,
                created: 2,
                failed: 1,
                ..PassRecord::default()
            })
            .expect("pass");

        let now = Utc::now();
        let next = now + Duration::seconds(60);
        let report = build_report_at(
            &store,
            QuickBooksStatus::connected(Some(now + Duration::days(3)), now),
            GoogleStatus::ok(),
            Some(next),
            now,
        )
        .expect("report");

        assert_eq!(
            report.invoices,
            StatusCounts { synced: 2, failed: 1, skipped: 0, pending: 0, voided: 0, review: 0 }
        );
        assert_eq!(report.bills, StatusCounts { synced: 0, failed: 0, skipped: 1, pending: 0, voided: 0, review: 0 });
        assert_eq!(report.last_success.as_deref(), Some("2026-11-21T09:00:02.000Z"));
        assert!(report.quickbooks.warn_expiry_soon);
        assert_eq!(report.next_pass, Some(rfc3339(next)));
        assert_eq!(report.recent_failures.len(), 2, "one line per row: {:?}", report.recent_failures);
        assert_eq!(report.recent_failures[0].row_key.as_deref(), Some("r4"));
        assert_eq!(report.recent_failures[0].current_status, Some(RowStatus::Synced));
        assert_eq!(report.recent_failures[1].error.as_deref(), Some("customer \"Acme\" not found"));

        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["invoices"]["failed"], 1);
        assert_eq!(json["quickbooks"]["connected"], true);
        assert!(json["quickbooks"]["needs_reconnect"].is_null());

        let text = render_text(&report);
        assert!(text.contains("customer \"Acme\" not found"), "{text}");
        assert!(text.contains("EXPIRES"), "{text}");
        assert!(text.contains("[fixed since]"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("Invoices")
                    && l.split_whitespace().eq(["Invoices", "2", "1", "0", "0", "0", "0"])),
            "{text}"
        );
    }

    #[test]
    fn failures_older_than_the_window_are_left_out_and_expiry_far_away_does_not_warn() {
        let store = Store::in_memory().expect("store");
        fail(&store, Kind::Bill, "old", 7, "old news");
        let later = Utc::now() + Duration::days(FAILURE_WINDOW_DAYS + 1);
        let report = build_report_at(
            &store,
            QuickBooksStatus::connected(Some(later + Duration::days(90)), later),
            GoogleStatus::ok(),
            None,
            later,
        )
        .expect("report");
        assert!(report.recent_failures.is_empty());
        assert!(!report.quickbooks.warn_expiry_soon);
        assert!(report.last_success.is_none());
    }

    #[test]
    fn metered_calls_since_start_are_shown_only_when_a_daemon_counts_them_and_the_stored_days_always() {
        let quiet = render_text(&StatusReport::default());
        assert!(!quiet.contains("since start"), "{quiet}");
        assert!(quiet.contains("0 metered QuickBooks calls today (UTC), 0 in the last 30 days"), "{quiet}");
        let stored =
            render_text(&StatusReport { qbo_metered_today: 7, qbo_metered_30_days: 290, ..StatusReport::default() });
        assert!(stored.contains("7 metered QuickBooks calls today (UTC), 290 in the last 30 days"), "{stored}");
        let counted = render_text(&StatusReport { qbo_metered_calls: Some(288), ..StatusReport::default() });
        assert!(counted.contains("288 metered QuickBooks calls"), "{counted}");
        let json =
            serde_json::to_value(StatusReport { qbo_metered_calls: Some(3), ..StatusReport::default() }).unwrap();
        assert_eq!(json["qbo_metered_calls"], 3);
    }

    #[test]
    fn reconnect_is_shown_first_in_the_text() {
        let report = StatusReport {
            quickbooks: QuickBooksStatus::needs_reconnect("invalid_grant"),
            google: GoogleStatus::failing("the sheet is not shared with sa@example.iam"),
            ..StatusReport::default()
        };
        let text = render_text(&report);
        assert!(text.contains("NEEDS RE-CONNECTING: run `qbsync auth` (invalid_grant)"), "{text}");
        assert!(text.contains("ERROR: the sheet is not shared"), "{text}");
        assert!(text.contains("none yet"), "{text}");
    }

    #[test]
    fn human_time_is_short_and_tolerant() {
        assert_eq!(human_time("2026-11-21T09:30:12.345Z"), "2026-11-21 09:30 UTC");
        assert_eq!(human_time("yesterday"), "yesterday");
    }

    #[test]
    fn a_full_reconnect_sentence_is_reduced_to_its_cause() {
        let status =
            QuickBooksStatus::needs_reconnect("QuickBooks needs to be re-connected: run `qbsync auth` (invalid_grant)");
        assert_eq!(status.needs_reconnect.as_deref(), Some("invalid_grant"));
        let report = StatusReport { quickbooks: status, ..StatusReport::default() };
        let text = render_text(&report);
        assert_eq!(text.matches("qbsync auth").count(), 1, "{text}");
    }
}
