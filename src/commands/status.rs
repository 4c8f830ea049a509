//! `qbsync status [--json] [--offline]`: is it connected, is it working, what failed lately.
//!
//! The person responsible for qbsync looks at it rarely: when a bookkeeper asks whether an
//! invoice went through, or when something seems wrong. The report is the daemon's
//! ([`crate::ops::status::StatusReport`], the same as its `/status.json` and status page), built
//! from the state database; this command adds what only asking tells: whether QuickBooks and
//! the sheet answer right now (two cheap requests: the company's info, the tab's properties).
//! When a service does not answer, or with `--offline`, the connection is described from the
//! token store alone and everything else is still shown.
//!
//! `--json` prints the report's fields plus `live`, what this run found out by asking:
//!
//! ```text
//! "live": {"quickbooks": {"checked": "live"|"unreachable"|"offline", "company_name", "realm_id",
//!                         "environment", "refresh_token_hard_expires_at", "error"},
//!          "google": {"checked": …, "spreadsheet_title", "tab", "error"}}
//! ```

use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use super::context;
use crate::auth::{ConnectionStatus, QboEnvironment, TokenSource};
use crate::ops::status::{self, GoogleStatus, QuickBooksStatus, StatusReport};
use crate::settings::{LoadOptions, Settings};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Do not contact Google or QuickBooks; report what the state directory knows.
    #[arg(long)]
    pub offline: bool,
}

/// What `qbsync status --json` prints: the daemon's report and what asking found out.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    #[serde(flatten)]
    pub report: StatusReport,
    pub live: Live,
}

/// What this run learnt by asking the two services.
#[derive(Clone, Debug, Serialize)]
pub struct Live {
    pub quickbooks: LiveQuickBooks,
    pub google: LiveGoogle,
}

/// How a connection's state was found out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Checked {
    /// The service answered just now.
    Live,
    /// The service did not answer; the report shows what qbsync last knew.
    Unreachable,
    /// Not asked (`--offline`, or a connection already known to be refused).
    Offline,
}

#[derive(Clone, Debug, Serialize)]
pub struct LiveQuickBooks {
    pub checked: Checked,
    /// Asked of QuickBooks; `null` unless it answered.
    pub company_name: Option<String>,
    pub realm_id: Option<String>,
    pub environment: Option<QboEnvironment>,
    /// The date by which a person must reconnect whatever happens.
    pub refresh_token_hard_expires_at: Option<DateTime<Utc>>,
    /// Why QuickBooks could not be asked or refused, when it could not or did.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LiveGoogle {
    pub checked: Checked,
    pub spreadsheet_title: Option<String>,
    pub tab: String,
    pub error: Option<String>,
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
    let settings = context::impatient(settings);
    let ((quickbooks, live_quickbooks), (google, live_google)) = if offline {
        (quickbooks_stored(&settings, Checked::Offline, None), google_unasked(&settings))
    } else {
        tokio::join!(quickbooks_live(&settings), google_live(&settings))
    };
    // Read without creating: before the first pass there is an empty picture, not a new file.
    let path = settings.paths.state_dir.join("qbsync.sqlite3");
    let store = if path.exists() { Store::open(&path)? } else { Store::in_memory()? };
    let interval = context::interval(&settings, None);
    let next_pass = next_pass(store.last_pass()?.map(|p| p.finished_at).as_deref(), interval, Utc::now());
    let report = status::build_report(&store, quickbooks, google, next_pass)?;
    Ok(Status { report, live: Live { quickbooks: live_quickbooks, google: live_google } })
}

/// When the daemon starts its next pass: the last pass's end plus the interval. `None` when
/// passes have stopped (more than two intervals late): then no daemon is running them.
fn next_pass(last_finished: Option<&str>, interval: std::time::Duration, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let finished = DateTime::parse_from_rfc3339(last_finished?).ok()?.with_timezone(&Utc);
    let step = TimeDelta::from_std(interval).ok()?;
    let next = finished + step;
    (now - next < step * 2 + TimeDelta::seconds(60)).then_some(next)
}

/// Asks QuickBooks for the company's name; falls back to the token store when it cannot.
async fn quickbooks_live(settings: &Settings) -> (QuickBooksStatus, LiveQuickBooks) {
    let tokens = match context::tokens(settings) {
        Ok(tokens) => tokens,
        Err(error) => return quickbooks_stored(settings, Checked::Offline, Some(format!("{error:#}"))),
    };
    let stored = tokens.status();
    let realm_id = settings.quickbooks.realm_id.clone().or_else(|| stored.realm_id.clone());
    let (Some(realm_id), None) = (realm_id, &stored.needs_reconnect) else {
        // Never connected, or known refused: asking again would only hammer Intuit.
        return quickbooks_stored(settings, Checked::Offline, None);
    };
    let source: Arc<dyn TokenSource> = tokens.clone();
    let answer = match context::qbo_for_company(settings, &realm_id, source) {
        Ok(qbo) => qbo.company_info().await.map_err(|e| (e.is_transient(), e.to_string())),
        Err(error) => Err((false, format!("{error:#}"))),
    };
    let after = tokens.status();
    let (report, mut live) = describe(settings, &after, Checked::Live, None);
    match answer {
        Ok(company) => {
            live.company_name = Some(company.name);
            (report, live)
        }
        Err((true, error)) => {
            live.checked = Checked::Unreachable;
            live.error = Some(error);
            (report, live)
        }
        Err((false, error)) => {
            live.error = Some(error.clone());
            let reason = after.needs_reconnect.clone().unwrap_or(error);
            (QuickBooksStatus::needs_reconnect(reason), live)
        }
    }
}

/// The connection as the token store describes it.
fn quickbooks_stored(
    settings: &Settings,
    checked: Checked,
    error: Option<String>,
) -> (QuickBooksStatus, LiveQuickBooks) {
    match context::tokens(settings) {
        Ok(tokens) => describe(settings, &tokens.status(), checked, error),
        Err(problem) => {
            let problem = format!("{problem:#}");
            let live = LiveQuickBooks {
                checked,
                company_name: None,
                realm_id: settings.quickbooks.realm_id.clone(),
                environment: Some(settings.quickbooks.environment),
                refresh_token_hard_expires_at: None,
                error: Some(error.unwrap_or_else(|| problem.clone())),
            };
            (QuickBooksStatus::needs_reconnect(problem), live)
        }
    }
}

fn describe(
    settings: &Settings,
    connection: &ConnectionStatus,
    checked: Checked,
    error: Option<String>,
) -> (QuickBooksStatus, LiveQuickBooks) {
    let report = QuickBooksStatus::from_connection(connection, Utc::now());
    let live = LiveQuickBooks {
        checked,
        company_name: None,
        realm_id: connection.realm_id.clone().or_else(|| settings.quickbooks.realm_id.clone()),
        environment: connection.environment.or(Some(settings.quickbooks.environment)),
        refresh_token_hard_expires_at: connection.hard_expires_at,
        error,
    };
    (report, live)
}

async fn google_live(settings: &Settings) -> (GoogleStatus, LiveGoogle) {
    let (_, mut live) = google_unasked(settings);
    live.checked = Checked::Live;
    let outcome = match context::sheets(settings).await {
        Ok(sheets) => sheets.tab_info().await.map_err(|e| (e.is_unavailable(), e.to_string())),
        Err(error) => Err((false, format!("{error:#}"))),
    };
    match outcome {
        Ok(info) => {
            live.spreadsheet_title = Some(info.spreadsheet_title);
            (GoogleStatus::ok(), live)
        }
        Err((unreachable, error)) => {
            if unreachable {
                live.checked = Checked::Unreachable;
            }
            live.error = Some(error.clone());
            let shown = if unreachable { format!("Google did not answer: {error}") } else { error };
            (GoogleStatus::failing(shown), live)
        }
    }
}

fn google_unasked(settings: &Settings) -> (GoogleStatus, LiveGoogle) {
    let live = LiveGoogle {
        checked: Checked::Offline,
        spreadsheet_title: None,
        tab: settings.google.sheet_tab.clone(),
        error: None,
    };
    (GoogleStatus { ok: false, error: None }, live)
}

/// The daemon's report as text, and what asking found out.
pub fn render_text(status: &Status) -> String {
    let mut out = status::render_text(&status.report);
    let qb = &status.live.quickbooks;
    let company = {
        let parts: Vec<String> = qb
            .realm_id
            .iter()
            .map(|realm| format!("company {realm}"))
            .chain(qb.environment.map(|e| e.to_string()))
            .collect();
        match &qb.company_name {
            Some(name) => format!("\"{name}\" ({})", parts.join(", ")),
            None => parts.join(", "),
        }
    };
    let quickbooks = match qb.checked {
        Checked::Live if qb.company_name.is_some() => format!("QuickBooks answered for {company}"),
        Checked::Live => format!("QuickBooks refused {company}: {}", qb.error.as_deref().unwrap_or_default()),
        Checked::Unreachable => format!(
            "QuickBooks did not answer ({}); shown as last known",
            qb.error.as_deref().unwrap_or("no reason given")
        ),
        Checked::Offline => format!("QuickBooks not asked; {company} as last known"),
    };
    let google = &status.live.google;
    let sheet = match (google.checked, &google.spreadsheet_title) {
        (Checked::Live, Some(title)) => format!("the sheet \"{title}\" (tab \"{}\") answered", google.tab),
        (Checked::Live, None) => "the sheet cannot be read (see Google above)".to_owned(),
        (Checked::Unreachable, _) => "Google did not answer".to_owned(),
        (Checked::Offline, _) => "Google not asked".to_owned(),
    };
    out.push_str(&format!("\n{:<13}{quickbooks}\n{:<13}{sheet}\n", "Checked now", ""));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_pass_follows_the_last_until_passes_stop() {
        let minute = std::time::Duration::from_secs(60);
        let finished = "2026-11-21T09:00:00.000Z";
        let at = |text: &str| DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc);
        assert_eq!(next_pass(Some(finished), minute, at("2026-11-21T09:00:30Z")), Some(at("2026-11-21T09:01:00Z")));
        assert_eq!(next_pass(Some(finished), minute, at("2026-11-21T09:03:30Z")), Some(at("2026-11-21T09:01:00Z")));
        assert_eq!(next_pass(Some(finished), minute, at("2026-11-21T09:05:00Z")), None, "no daemon is running them");
        assert_eq!(next_pass(None, minute, at("2026-11-21T09:00:30Z")), None);
    }
}
