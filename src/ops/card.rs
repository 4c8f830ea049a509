//! The status page a person opens in a browser: one self-contained HTML "admin card".
//!
//! It answers the bookkeeper's question at a glance (counts per direction, when the last sync
//! ran, which rows failed and why) and shouts when a person must act (QuickBooks needs
//! re-connecting, the authorization is about to expire, Google refuses). No script, no external
//! asset: one inline stylesheet, allowed by its hash in the Content-Security-Policy
//! ([`CONTENT_SECURITY_POLICY`]). Every piece of text that comes from the sheet, QuickBooks or
//! an error message is HTML-escaped.

use std::fmt::Write as _;
use std::sync::LazyLock;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::status::{FAILURE_WINDOW_DAYS, StatusReport, human_time};
use crate::store::{RowStatus, StatusCounts};

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f5f7fa;
  --ok: #1e7b46; --bad: #b42318; --warn: #b54708; --skip: #52606d; --wait: #8a6d00; }
* { box-sizing: border-box; }
body { margin: 0; padding: 32px 16px; background: var(--bg); color: var(--ink);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 900px; margin: 0 auto; background: #fff; border: 1px solid var(--line);
  border-radius: 12px; box-shadow: 0 1px 3px rgba(15, 23, 42, .08); overflow: hidden; }
header { display: flex; align-items: center; justify-content: space-between; padding: 18px 24px;
  border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0; letter-spacing: -.01em; }
h1 small { color: var(--muted); font-weight: 400; font-size: 13px; margin-left: 6px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--muted); margin: 0 0 10px; }
.pill { font-size: 13px; font-weight: 600; padding: 4px 10px; border-radius: 999px; }
.pill.ok { background: #e3f4ea; color: var(--ok); } .pill.bad { background: #fde8e7; color: var(--bad); }
.pill.warn { background: #fdf0e1; color: var(--warn); }
.banner { margin: 16px 24px 0; padding: 12px 16px; border-radius: 8px; border: 1px solid; }
.banner strong { display: block; margin-bottom: 2px; }
.banner.bad { background: #fef3f2; border-color: #f5c2bf; color: #7a1a12; }
.banner.warn { background: #fffaeb; border-color: #f7d9a4; color: #7a3e06; }
.banner code { background: rgba(0, 0, 0, .06); padding: 1px 5px; border-radius: 4px; }
section { padding: 20px 24px; border-bottom: 1px solid var(--line); }
section:last-of-type { border-bottom: 0; }
.directions { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.direction { border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
.direction h3 { margin: 0 0 10px; font-size: 16px; }
.direction h3 span { color: var(--muted); font-weight: 400; font-size: 13px; }
.counts { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; }
.count b { display: block; font-size: 26px; font-variant-numeric: tabular-nums; line-height: 1.1; }
.count span { font-size: 12px; color: var(--muted); }
.count.synced b { color: var(--ok); } .count.failed b { color: var(--bad); }
.count.skipped b { color: var(--skip); } .count.pending b, .count.review b { color: var(--wait); } .count.voided b { color: var(--skip); }
.count.zero b { color: #9aa5b1; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 6px 18px; margin: 0; }
dt { color: var(--muted); } dd { margin: 0; }
.ago { color: var(--muted); }
table { width: 100%; border-collapse: collapse; font-size: 14px; }
th { text-align: left; font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: .04em; padding: 6px 8px; border-bottom: 1px solid var(--line); }
td { padding: 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
tr:last-child td { border-bottom: 0; }
td.error { color: #7a1a12; word-break: break-word; }
td.when, td.row, td.doc { white-space: nowrap; font-variant-numeric: tabular-nums; }
.tag { font-size: 12px; padding: 1px 7px; border-radius: 999px; background: #e3f4ea; color: var(--ok); }
.none { color: var(--muted); margin: 0; }
footer { padding: 12px 24px; font-size: 12px; color: var(--muted); background: #fafbfc; border-top: 1px solid var(--line); }
footer a { color: inherit; }
@media (max-width: 640px) { .directions { grid-template-columns: 1fr; } }
"#;

static STYLE_HASH: LazyLock<String> =
    LazyLock::new(|| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes())));

/// The page's Content-Security-Policy: nothing may load or run except its own stylesheet.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src 'sha256-{}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        *STYLE_HASH
    )
});

/// The page reloads itself this often (seconds).
const REFRESH_SECS: u32 = 30;

/// Renders the card for `report`, with relative times as seen at `now`.
pub fn render_html(report: &StatusReport, now: DateTime<Utc>) -> String {
    let mut html = String::with_capacity(8 * 1024);
    let (pill_class, pill_text) = overall(report);
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{REFRESH_SECS}"><title>qbsync status</title><style>{STYLE}</style></head>
<body><main>
<header><h1>qbsync<small>Google Sheet → QuickBooks</small></h1><span class="pill {pill_class}" id="overall">{pill_text}</span></header>
"#
    );

    if let Some(reason) = &report.quickbooks.needs_reconnect {
        let _ = writeln!(
            html,
            r#"<div class="banner bad" id="reconnect-banner" role="alert"><strong>QuickBooks must be re-connected.</strong>No documents are created until someone runs <code>qbsync auth</code> on the server. Rows wait; none is marked failed for this. <span class="reason">({})</span></div>"#,
            escape(reason)
        );
    } else if report.quickbooks.warn_expiry_soon {
        let at = report.quickbooks.refresh_token_expires_at.as_deref().map(human_time).unwrap_or_default();
        let _ = writeln!(
            html,
            r#"<div class="banner warn" id="expiry-banner" role="alert"><strong>The QuickBooks authorization expires {}.</strong>Run <code>qbsync auth</code> on the server before then to keep syncing.</div>"#,
            escape(&at)
        );
    }
    if let Some(error) = &report.google.error {
        let _ = writeln!(
            html,
            r#"<div class="banner bad" id="google-banner" role="alert"><strong>Google Sheets cannot be read.</strong>{}</div>"#,
            escape(error)
        );
    }
    if let Some(pass) = report.last_pass.as_ref().filter(|pass| !pass.ok) {
        let _ = writeln!(
            html,
            r#"<div class="banner warn" id="pass-banner"><strong>The last pass stopped early; it will be retried.</strong>{}</div>"#,
            escape(pass.error.as_deref().unwrap_or("no details"))
        );
    }

    html.push_str(r#"<section><div class="directions">"#);
    direction(&mut html, "invoices", "Invoices", "money in", &report.invoices);
    direction(&mut html, "bills", "Bills", "money out", &report.bills);
    html.push_str("</div></section>\n");

    html.push_str("<section><h2>Sync</h2><dl>");
    let last_success = match &report.last_success {
        Some(at) => format!(r#"{}{}"#, escape(&human_time(at)), ago(at, now)),
        None => "never".to_owned(),
    };
    let _ = write!(html, r#"<dt>Last successful sync</dt><dd id="last-success">{last_success}</dd>"#);
    if let Some(pass) = &report.last_pass {
        let outcome = if pass.ok {
            format!("{} created, {} failed, {} skipped", pass.created, pass.failed, pass.skipped)
        } else {
            "stopped early".to_owned()
        };
        let _ = write!(
            html,
            r#"<dt>Last pass</dt><dd>{}{} — {}</dd>"#,
            escape(&human_time(&pass.finished_at)),
            ago(&pass.finished_at, now),
            outcome
        );
    }
    if let Some(next) = &report.next_pass {
        let _ = write!(html, r#"<dt>Next pass</dt><dd>{}</dd>"#, escape(&human_time(next)));
    }
    let quickbooks = match (&report.quickbooks.needs_reconnect, report.quickbooks.connected) {
        (Some(_), _) | (None, false) => "not connected".to_owned(),
        (None, true) => match &report.quickbooks.refresh_token_expires_at {
            Some(at) => format!("connected, authorization valid until {}", escape(&human_time(at))),
            None => "connected".to_owned(),
        },
    };
    let _ = write!(html, r#"<dt>QuickBooks</dt><dd id="quickbooks">{quickbooks}</dd>"#);
    let _ = write!(
        html,
        r#"<dt>Metered QuickBooks calls</dt><dd id="qbo-metered-today">{} today, {} in 30 days</dd>"#,
        report.qbo_metered_today, report.qbo_metered_30_days
    );
    if let Some(calls) = report.qbo_metered_calls {
        let _ = write!(html, r#"<dt>Metered QuickBooks calls</dt><dd id="qbo-metered-calls">{calls} since start</dd>"#);
    }
    let google = if report.google.ok {
        "ok"
    } else if report.google.error.is_some() {
        "error"
    } else {
        "unknown"
    };
    let _ = write!(html, r#"<dt>Google Sheets</dt><dd>{google}</dd></dl></section>"#);
    html.push('\n');

    let _ = write!(html, r#"<section><h2>Failures in the last {FAILURE_WINDOW_DAYS} days</h2>"#);
    if report.recent_failures.is_empty() {
        html.push_str(r#"<p class="none" id="no-failures">None. Every ready row went through.</p>"#);
    } else {
        html.push_str(
            r#"<table id="failures"><thead><tr><th>When</th><th>Type</th><th>Row</th><th>Number</th><th>Error</th></tr></thead><tbody>"#,
        );
        for failure in &report.recent_failures {
            let row = failure.sheet_row.map(|r| r.to_string()).unwrap_or_else(|| "?".into());
            let fixed = if failure.current_status == Some(RowStatus::Synced) {
                r#" <span class="tag">fixed since</span>"#
            } else {
                ""
            };
            let _ = write!(
                html,
                r#"<tr><td class="when">{}</td><td>{}</td><td class="row">{}</td><td class="doc">{}</td><td class="error">{}{}</td></tr>"#,
                escape(&human_time(&failure.at)),
                failure.kind.as_str(),
                escape(&row),
                escape(failure.doc_number.as_deref().unwrap_or("—")),
                escape(failure.error.as_deref().unwrap_or("(no message)")),
                fixed
            );
        }
        html.push_str("</tbody></table>");
    }
    html.push_str("</section>\n");

    let _ = write!(
        html,
        r#"<footer>qbsync {} · generated {} · refreshes every {REFRESH_SECS} s · <a href="status.json">status.json</a> · <a href="metrics">metrics</a></footer>
</main></body></html>
"#,
        escape(&report.version),
        escape(&human_time(&report.generated_at))
    );
    html
}

fn overall(report: &StatusReport) -> (&'static str, &'static str) {
    if report.quickbooks.needs_reconnect.is_some() {
        ("bad", "Action needed")
    } else if report.google.error.is_some() || report.last_pass.as_ref().is_some_and(|pass| !pass.ok) {
        ("bad", "Not syncing")
    } else if report.quickbooks.warn_expiry_soon || report.invoices.failed + report.bills.failed > 0 {
        ("warn", "Needs attention")
    } else if report.last_success.is_none() {
        ("warn", "Starting")
    } else {
        ("ok", "All good")
    }
}

fn direction(html: &mut String, id: &str, title: &str, subtitle: &str, counts: &StatusCounts) {
    let _ = write!(
        html,
        r#"<div class="direction" id="{id}"><h3>{title} <span>{subtitle}</span></h3><div class="counts">"#
    );
    for (status, n) in counts.by_status() {
        let zero = if n == 0 { " zero" } else { "" };
        let _ = write!(
            html,
            r#"<div class="count {status}{zero}"><b data-count="{id}-{status}">{n}</b><span>{status}</span></div>"#
        );
    }
    html.push_str("</div></div>");
}

fn ago(at: &str, now: DateTime<Utc>) -> String {
    let Ok(at) = DateTime::parse_from_rfc3339(at) else {
        return String::new();
    };
    let seconds = (now - at.with_timezone(&Utc)).num_seconds();
    let text = match seconds {
        s if s < 0 => return String::new(),
        s if s < 90 => "just now".to_owned(),
        s if s < 90 * 60 => format!("{} min ago", s / 60),
        s if s < 36 * 3600 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    };
    format!(r#" <span class="ago">({text})</span>"#)
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::status::{FailureLine, GoogleStatus, QuickBooksStatus};
    use crate::store::Kind;

    fn failing_report(error: &str) -> StatusReport {
        StatusReport {
            version: "0.1.0".into(),
            generated_at: "2026-11-21T09:00:00Z".into(),
            invoices: StatusCounts { synced: 41, failed: 1, skipped: 2, pending: 0, voided: 0, review: 0 },
            last_success: Some("2026-11-21T08:59:00Z".into()),
            quickbooks: QuickBooksStatus::connected(None, Utc::now()),
            google: GoogleStatus::ok(),
            recent_failures: vec![FailureLine {
                at: "2026-11-21T08:59:00Z".into(),
                kind: Kind::Invoice,
                row_key: Some("k".into()),
                sheet_row: Some(17),
                doc_number: Some("INV-<b>".into()),
                error: Some(error.into()),
                current_status: Some(RowStatus::Failed),
            }],
            ..StatusReport::default()
        }
    }

    #[test]
    fn the_card_shows_metered_calls_when_the_daemon_counts_them() {
        let mut report = failing_report("x");
        assert!(!render_html(&report, Utc::now()).contains("qbo-metered-calls"));
        report.qbo_metered_calls = Some(288);
        let html = render_html(&report, Utc::now());
        assert!(html.contains(r#"<dd id="qbo-metered-calls">288 since start</dd>"#), "{html}");
    }

    #[test]
    fn user_text_is_escaped() {
        let html = render_html(&failing_report("bad <script>alert('x')</script> & more"), Utc::now());
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("bad &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        assert!(html.contains("INV-&lt;b&gt;"));
    }

    #[test]
    fn counts_and_reconnect_banner_are_on_the_card() {
        let mut report = failing_report("Customer not found");
        let html = render_html(&report, Utc::now());
        assert!(html.contains(r#"<b data-count="invoices-synced">41</b>"#));
        assert!(html.contains(r#"<td class="row">17</td>"#));
        assert!(!html.contains("reconnect-banner"));
        assert!(html.contains("Needs attention"));

        report.quickbooks = QuickBooksStatus::needs_reconnect("invalid_grant");
        let html = render_html(&report, Utc::now());
        assert!(html.contains(r#"id="reconnect-banner""#));
        assert!(html.contains("Action needed"));
    }

    #[test]
    fn the_policy_allows_exactly_the_inline_style() {
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
        assert!(CONTENT_SECURITY_POLICY.contains(&format!("'sha256-{expected}'")));
        let html = render_html(&StatusReport::default(), Utc::now());
        assert!(html.contains(&format!("<style>{STYLE}</style>")), "the hashed text must be the exact style content");
        assert!(!html.contains("<script"));
    }
}
