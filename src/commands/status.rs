//! `qbsync status [--json] [--offline]`: is it connected, is it working, what failed lately.
//!
//! The person responsible for qbsync looks at it rarely: when a bookkeeper asks whether an
//! invoice went through, or when something seems wrong. One command answers from the state
//! database (counts per status, the last pass, the failures of the last seven days) and from
//! two cheap requests (QuickBooks' company info, the tab's properties). When a service does not
//! answer, or with `--offline`, the connection is described from the token store alone and
//! everything else is still shown.
//!
//! The JSON (`--json`) is documented on [`Status`]; scripts may rely on its field names.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::context;
use crate::auth::{AuthError, QboEnvironment, TokenSource};
use crate::settings::{LoadOptions, Settings};
use crate::store::{AuditQuery, Kind, PassRecord, StatusCounts, Store};

/// Failures younger than this are listed.
const RECENT: TimeDelta = TimeDelta::days(7);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not contact Google or QuickBooks; report what the state directory knows.
    #[arg(long)]
    pub offline: bool,
}

/// What `qbsync status --json` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    /// When this report was made (RFC 3339, UTC).
    pub generated_at: DateTime<Utc>,
    /// Sheet rows that become invoices, by where they stand.
    pub invoices: StatusCounts,
    /// Sheet rows that become bills, by where they stand.
    pub bills: StatusCounts,
    /// When the last pass that completed finished (RFC 3339), or `null` before the first.
    pub last_success: Option<String>,
    /// The last pass, successful or not.
    pub last_pass: Option<PassRecord>,
    /// When the daemon starts its next pass: the last pass's end plus the poll interval.
    pub next_pass_at: Option<DateTime<Utc>>,
    pub poll_interval_secs: u64,
    pub quickbooks: QuickBooksStatus,
    pub google: GoogleStatus,
    /// The latest failure of each row that failed in the last 7 days, newest first.
    pub recent_failures: Vec<RecentFailure>,
}

/// How a connection's state was found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Checked {
    /// The service answered just now.
    Live,
    /// The service did not answer; the state is what qbsync last knew.
    Unreachable,
    /// Not asked (`--offline`); the state is what qbsync last knew.
    Offline,
}

#[derive(Clone, Debug, Serialize)]
pub struct QuickBooksStatus {
    /// QuickBooks answered with this connection (live), or a connection is stored and nothing
    /// is known to be wrong with it (unreachable, offline).
    pub connected: bool,
    pub checked: Checked,
    pub environment: Option<QboEnvironment>,
    pub realm_id: Option<String>,
    /// Asked of QuickBooks; `null` unless checked live.
    pub company_name: Option<String>,
    /// The rolling expiry of the refresh token (renewed by every refresh).
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// The date by which a person must reconnect whatever happens.
    pub refresh_token_hard_expires_at: Option<DateTime<Utc>>,
    /// Set within 14 days of an expiry.
    pub expiry_warning: Option<String>,
    /// Why a person must run `qbsync auth`, when they must.
    pub needs_reconnect: Option<String>,
    /// Why QuickBooks could not be asked, when it could not.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GoogleStatus {
    /// The tab could be read just now; `null` when not asked.
    pub connected: Option<bool>,
    pub checked: Checked,
    pub spreadsheet_id: Option<String>,
    pub tab: String,
    pub spreadsheet_title: Option<String>,
    /// Why the sheet could not be read (not shared, no such tab, unreachable…).
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct RecentFailure {
    pub kind: Kind,
    pub at: String,
    pub sheet_row: Option<i64>,
    pub doc_number: Option<String>,
    pub row_key: Option<String>,
    pub error: Option<String>,
    /// The row has since been synced or skipped.
    pub resolved: bool,
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    let settings = context::load_settings(load)?;
    let status = gather(&settings, args.offline).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render_text(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// Everything `status` shows. Only a state database that cannot be read is an error.
pub async fn gather(settings: &Settings, offline: bool) -> anyhow::Result<Status> {
    let now = Utc::now();
    let interval = context::interval(settings, None);
    let local = Local::read(&settings.paths.state_dir, now)?;
    let settings = context::impatient(settings);
    let (quickbooks, google) = if offline {
        (quickbooks_stored(&settings, Checked::Offline, None), google_unasked(&settings, Checked::Offline))
    } else {
        tokio::join!(quickbooks_live(&settings), google_live(&settings))
    };
    let next_pass_at = local
        .last_pass
        .as_ref()
        .and_then(|pass| DateTime::parse_from_rfc3339(&pass.finished_at).ok())
        .and_then(|at| TimeDelta::from_std(interval).ok().map(|step| at.with_timezone(&Utc) + step));
    Ok(Status {
        generated_at: now,
        invoices: local.invoices,
        bills: local.bills,
        last_success: local.last_success,
        last_pass: local.last_pass,
        next_pass_at,
        poll_interval_secs: interval.as_secs(),
        quickbooks,
        google,
        recent_failures: local.failures,
    })
}

/// What the state database says.
#[derive(Default)]
struct Local {
    invoices: StatusCounts,
    bills: StatusCounts,
    last_success: Option<String>,
    last_pass: Option<PassRecord>,
    failures: Vec<RecentFailure>,
}

impl Local {
    /// Reads the database without creating it: before the first pass there is nothing to say.
    fn read(state_dir: &Path, now: DateTime<Utc>) -> anyhow::Result<Local> {
        let path = state_dir.join("qbsync.sqlite3");
        if !path.exists() {
            return Ok(Local::default());
        }
        let store = Store::open(&path)?;
        Ok(Local {
            invoices: store.counts(Kind::Invoice)?,
            bills: store.counts(Kind::Bill)?,
            last_success: store.last_success()?,
            last_pass: store.last_pass()?,
            failures: recent_failures(&store, now - RECENT)?,
        })
    }
}

/// The latest failure of each row since `since`, newest first.
fn recent_failures(store: &Store, since: DateTime<Utc>) -> anyhow::Result<Vec<RecentFailure>> {
    let entries = store.audit(&AuditQuery { since: Some(since), failed_only: true, ..AuditQuery::default() })?;
    let mut latest: Vec<RecentFailure> = Vec::new();
    // Oldest first, so a later failure of the same row replaces the earlier one.
    for entry in entries {
        let same =
            |f: &RecentFailure| f.kind == entry.kind && f.row_key == entry.row_key && f.doc_number == entry.doc_number;
        latest.retain(|f| !same(f));
        let resolved = match &entry.row_key {
            Some(key) => store.row(key)?.is_some_and(|row| row.status != "failed"),
            None => false,
        };
        latest.push(RecentFailure {
            kind: entry.kind,
            at: entry.at,
            sheet_row: entry.sheet_row,
            doc_number: entry.doc_number,
            row_key: entry.row_key,
            error: entry.error,
            resolved,
        });
    }
    latest.reverse();
    Ok(latest)
}

/// Asks QuickBooks for the company's name; falls back to the token store when it cannot.
async fn quickbooks_live(settings: &Settings) -> QuickBooksStatus {
    let tokens = match context::tokens(settings) {
        Ok(tokens) => tokens,
        Err(error) => return quickbooks_stored(settings, Checked::Unreachable, Some(format!("{error:#}"))),
    };
    let stored = tokens.status();
    let Some(realm_id) = settings.quickbooks.realm_id.clone().or_else(|| stored.realm_id.clone()) else {
        return quickbooks_stored(settings, Checked::Offline, None);
    };
    if stored.needs_reconnect.is_some() {
        // Known refused: asking again would only hammer Intuit.
        return quickbooks_stored(settings, Checked::Offline, None);
    }
    let source: Arc<dyn TokenSource> = tokens.clone();
    let answer = match context::qbo_for_company(settings, &realm_id, source) {
        Ok(qbo) => qbo.company_info().await.map_err(|e| (e.is_transient(), e.to_string())),
        Err(error) => Err((false, format!("{error:#}"))),
    };
    let mut status = quickbooks_stored(settings, Checked::Live, None);
    let after = tokens.status();
    status.needs_reconnect = after.needs_reconnect.clone();
    match answer {
        Ok(company) => {
            status.connected = after.connected;
            status.company_name = Some(company.name);
        }
        Err((true, error)) => {
            status.checked = Checked::Unreachable;
            status.error = Some(error);
        }
        Err((false, error)) => {
            status.connected = false;
            status.error = Some(error);
        }
    }
    status
}

/// The connection as the token store describes it.
fn quickbooks_stored(settings: &Settings, checked: Checked, error: Option<String>) -> QuickBooksStatus {
    let described = context::tokens(settings).map(|tokens| tokens.status());
    match described {
        Ok(stored) => QuickBooksStatus {
            connected: stored.connected,
            checked,
            environment: stored.environment,
            realm_id: stored.realm_id.clone(),
            company_name: None,
            refresh_token_expires_at: stored.refresh_expires_at,
            refresh_token_hard_expires_at: stored.hard_expires_at,
            expiry_warning: stored.expiry_warning(),
            needs_reconnect: stored.needs_reconnect.clone(),
            error,
        },
        Err(problem) => QuickBooksStatus {
            connected: false,
            checked,
            environment: Some(settings.quickbooks.environment),
            realm_id: settings.quickbooks.realm_id.clone(),
            company_name: None,
            refresh_token_expires_at: None,
            refresh_token_hard_expires_at: None,
            expiry_warning: None,
            needs_reconnect: Some(AuthError::NeedsReconnect { reason: format!("{problem:#}") }.to_string()),
            error,
        },
    }
}

async fn google_live(settings: &Settings) -> GoogleStatus {
    let mut status = google_unasked(settings, Checked::Live);
    let outcome = match context::sheets(settings).await {
        Ok(sheets) => sheets.tab_info().await.map_err(|e| (e.is_unavailable(), e.to_string())),
        Err(error) => Err((false, format!("{error:#}"))),
    };
    match outcome {
        Ok(info) => {
            status.connected = Some(true);
            status.spreadsheet_title = Some(info.spreadsheet_title);
        }
        Err((unreachable, error)) => {
            status.checked = if unreachable { Checked::Unreachable } else { Checked::Live };
            status.connected = if unreachable { None } else { Some(false) };
            status.error = Some(error);
        }
    }
    status
}

fn google_unasked(settings: &Settings, checked: Checked) -> GoogleStatus {
    GoogleStatus {
        connected: None,
        checked,
        spreadsheet_id: settings.google.spreadsheet_id.clone(),
        tab: settings.google.sheet_tab.clone(),
        spreadsheet_title: None,
        error: None,
    }
}

/// The text for a person.
pub fn render_text(status: &Status) -> String {
    let mut out = String::new();
    let mut line = |label: &str, text: String| out.push_str(&format!("{label:<14}{text}\n"));
    line("QuickBooks", quickbooks_line(&status.quickbooks));
    line("Google Sheet", google_line(&status.google));
    match &status.last_pass {
        Some(pass) => line(
            "Last pass",
            format!(
                "{}: {}, {} created, {} failed, {} skipped",
                time(&pass.finished_at),
                if pass.ok {
                    "completed".to_owned()
                } else {
                    format!("stopped ({})", pass.error.as_deref().unwrap_or(""))
                },
                pass.created,
                pass.failed,
                pass.skipped
            ),
        ),
        None => line("Last pass", "none yet".to_owned()),
    }
    line("Last success", status.last_success.as_deref().map_or_else(|| "none yet".to_owned(), time));
    if let Some(next) = status.next_pass_at {
        let late = status.generated_at - next > TimeDelta::seconds(2 * status.poll_interval_secs as i64 + 60);
        let text = if late {
            format!(
                "overdue since {}: no pass has run for a while — is the daemon running? (`systemctl status qbsync`)",
                next.format("%Y-%m-%d %H:%M:%S UTC")
            )
        } else {
            format!(
                "about {} (every {} s, while the daemon runs)",
                next.format("%Y-%m-%d %H:%M:%S UTC"),
                status.poll_interval_secs
            )
        };
        line("Next pass", text);
    }
    out.push_str(&format!("\n{:<14}{:>8}{:>8}{:>8}{:>8}\n", "", "synced", "failed", "skipped", "pending"));
    for (label, counts) in [("Invoices", &status.invoices), ("Bills", &status.bills)] {
        out.push_str(&format!(
            "{label:<14}{:>8}{:>8}{:>8}{:>8}\n",
            counts.synced, counts.failed, counts.skipped, counts.pending
        ));
    }
    let open: Vec<&RecentFailure> = status.recent_failures.iter().collect();
    if open.is_empty() {
        out.push_str("\nNo failures in the last 7 days.\n");
    } else {
        out.push_str(&format!("\nFailures in the last 7 days ({}):\n", open.len()));
        for failure in open {
            out.push_str(&format!(
                "  {}{}, sheet row {}, {}{}: {}\n",
                failure.kind.as_str(),
                failure.doc_number.as_deref().map(|n| format!(" {n}")).unwrap_or_default(),
                failure.sheet_row.map_or_else(|| "?".to_owned(), |r| r.to_string()),
                time(&failure.at),
                if failure.resolved { " (since resolved)" } else { "" },
                failure.error.as_deref().unwrap_or("(no message)")
            ));
        }
    }
    out
}

fn quickbooks_line(qb: &QuickBooksStatus) -> String {
    let parts: Vec<String> = qb
        .realm_id
        .iter()
        .map(|realm| format!("company {realm}"))
        .chain(qb.environment.map(|e| e.to_string()))
        .collect();
    let company = match &qb.company_name {
        Some(name) => format!("\"{name}\" ({})", parts.join(", ")),
        None => parts.join(", "),
    };
    let expiry = qb
        .refresh_token_expires_at
        .map(|at| format!("; refresh token valid until {}", at.format("%Y-%m-%d")))
        .unwrap_or_default();
    let mut text = match (&qb.needs_reconnect, qb.connected, qb.checked) {
        (Some(why), _, _) => return format!("NOT CONNECTED: {why}"),
        (None, true, Checked::Live) => format!("connected: {company}{expiry}"),
        (None, true, _) => format!("connection stored: {company}{expiry}"),
        (None, false, _) => format!("not connected: {}", qb.error.as_deref().unwrap_or("run `qbsync auth`")),
    };
    match qb.checked {
        Checked::Unreachable => text
            .push_str(&format!(" [QuickBooks did not answer: {}]", qb.error.as_deref().unwrap_or("no reason given"))),
        Checked::Offline => text.push_str(" [not asked]"),
        Checked::Live => {}
    }
    if let Some(warning) = &qb.expiry_warning {
        text.push_str(&format!("\n{:<14}WARNING: {warning}", ""));
    }
    text
}

fn google_line(google: &GoogleStatus) -> String {
    let tab = format!("tab \"{}\"", google.tab);
    match (google.connected, google.checked) {
        (Some(true), _) => format!("reachable: \"{}\", {tab}", google.spreadsheet_title.as_deref().unwrap_or_default()),
        (Some(false), _) => format!("NOT READABLE: {}", google.error.as_deref().unwrap_or_default()),
        (None, Checked::Unreachable) => {
            format!("Google did not answer: {}", google.error.as_deref().unwrap_or_default())
        }
        (None, _) => format!("{tab} [not asked]"),
    }
}

/// An RFC 3339 time as `YYYY-MM-DD HH:MM:SS UTC`, or as given when it does not parse.
fn time(text: &str) -> String {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|_| text.to_owned())
}
