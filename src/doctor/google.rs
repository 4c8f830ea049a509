//! The Google checks: the credentials get a token, the sheet and tab are there and shared, the
//! header row has every column, the direction map routes every `inv_from` on the sheet, and
//! Drive answers the daemon's change check.

use std::collections::BTreeMap;

use super::names::*;
use super::readme::ReadmeSection;
use super::{Check, list};
use crate::commands::context;
use crate::directions::Directions;
use crate::domain::Cell;
use crate::domain::layout::{Field, Layout};
use crate::settings::Settings;
use crate::sheets::{DriveVersion, SheetsError, TabInfo};

pub(super) async fn checks(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    let rest = |checks: &mut Vec<Check>, from: usize, why: &str| {
        for name in [GOOGLE_CREDENTIALS, SHEET, DRIVE_CHANGES, HEADERS, INV_FROM].into_iter().skip(from) {
            checks.push(Check::skip(name, why.to_owned()));
        }
    };
    if settings.require_sheet().is_err() {
        rest(&mut checks, 0, "needs the sheet setting");
        return checks;
    }
    let credentials = match context::google_credentials(settings) {
        Ok(credentials) => credentials,
        Err(error) => {
            checks.push(Check::fail(
                GOOGLE_CREDENTIALS,
                format!("{error:#}"),
                "fix the Google credentials setting (see \"Google credentials configured\")",
            ));
            rest(&mut checks, 1, "needs valid Google credentials");
            return checks;
        }
    };
    let account = credentials.service_account_email();
    let who = account.clone().map_or_else(|| "your own Google account".to_owned(), |a| format!("service account {a}"));
    let sheets = match context::sheets(settings).await {
        Ok(sheets) => sheets,
        Err(error) => {
            checks.push(Check::fail(GOOGLE_CREDENTIALS, format!("{error:#}"), "fix the Google credentials setting"));
            rest(&mut checks, 1, "needs valid Google credentials");
            return checks;
        }
    };

    match sheets.tab_info().await {
        Ok(info) => {
            checks.push(Check::pass(GOOGLE_CREDENTIALS, format!("signed in as {who}")));
            checks.push(Check::pass(SHEET, describe_tab(&info)));
            checks.push(drive_changes(settings, sheets.drive_version().await));
        }
        Err(error) => {
            match sheet_failure(error, account.as_deref(), settings) {
                Failure::Credentials(check) => {
                    checks.push(check);
                    rest(&mut checks, 1, "needs valid Google credentials");
                }
                Failure::Sheet(check) => {
                    checks.push(Check::pass(GOOGLE_CREDENTIALS, format!("signed in as {who}")));
                    checks.push(check);
                    rest(&mut checks, 2, "needs the sheet");
                }
            }
            return checks;
        }
    }

    let values = match sheets.read_values().await {
        Ok(values) => values,
        Err(error) => {
            checks.push(Check::fail(HEADERS, format!("the tab cannot be read: {error}"), "try again in a minute"));
            rest(&mut checks, 4, "needs the tab's rows");
            return checks;
        }
    };
    let layout = match header_row(settings, &values) {
        Ok((layout, check)) => {
            checks.push(check);
            layout
        }
        Err(check) => {
            checks.push(check);
            rest(&mut checks, 4, "needs a usable header row");
            return checks;
        }
    };
    checks.push(match &settings.sync.directions {
        Some(directions) => inv_from(settings, directions, &layout, &values),
        None => Check::skip(INV_FROM, "needs the direction map"),
    });
    checks
}

enum Failure {
    Credentials(Check),
    Sheet(Check),
}

fn sheet_failure(error: SheetsError, account: Option<&str>, settings: &Settings) -> Failure {
    let tab = &settings.google.sheet_tab;
    match error {
        SheetsError::Credentials { reason } => Failure::Credentials(Check::fail(
            GOOGLE_CREDENTIALS,
            reason,
            match account {
                Some(_) => {
                    "use the current key of the service account (Google Cloud console → IAM & Admin → Service accounts → Keys) and enable the Google Sheets API in its project"
                }
                None => "run `qbsync auth google` to connect your Google account again",
            },
        )),
        SheetsError::Unavailable { reason } => Failure::Credentials(Check::fail(
            GOOGLE_CREDENTIALS,
            format!("Google could not be reached: {reason}"),
            "check this machine's network access to Google and try again",
        )),
        SheetsError::InvalidSettings { reason } => {
            Failure::Credentials(Check::fail(GOOGLE_CREDENTIALS, reason, "fix the Google settings named above"))
        }
        SheetsError::NotShared { .. } => Failure::Sheet(match account {
            Some(account) => Check::fail(
                SHEET,
                format!("the sheet is not shared with {account}"),
                format!("open the sheet in Google Sheets, click Share and add {account} as an Editor"),
            ),
            None => Check::fail(
                SHEET,
                "the sheet is not shared with the Google account you connected",
                "open the sheet in Google Sheets, click Share and add that account as an Editor (or connect the account that owns it with `qbsync auth google`)",
            ),
        }),
        SheetsError::SpreadsheetNotFound { id } => Failure::Sheet(Check::fail(
            SHEET,
            format!("no such spreadsheet: {id}"),
            "set GOOGLE_SHEET_URL to the sheet's address, copied from the browser's address bar",
        )),
        SheetsError::TabNotFound { available, .. } => Failure::Sheet(Check::fail(
            SHEET,
            format!(
                "the spreadsheet has no tab named \"{tab}\"; its tabs are: {}",
                list(&available.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>())
            ),
            "rename the tab to the configured name, or set QBSYNC_SHEET_TAB to one of the tabs above",
        )),
        SheetsError::Rejected { message } => Failure::Sheet(Check::fail(
            SHEET,
            format!("Google refused to show the sheet: {message}"),
            "follow Google's message above (an API that is not enabled is enabled in the Google Cloud console → APIs & Services)",
        )),
    }
}

/// Whether the daemon can ask Drive if the sheet changed (see `crate::pickup`). Without it
/// qbsync still works, polling only, so a refusal is a warning, not a failure.
fn drive_changes(settings: &Settings, answer: Result<DriveVersion, SheetsError>) -> Check {
    let poll = settings.daemon.poll_interval.as_secs();
    let Some(every) = settings.daemon.change_check_interval else {
        return Check::pass(
            DRIVE_CHANGES,
            format!("off (QBSYNC_CHANGE_CHECK_INTERVAL=off): new rows are picked up at each poll, every {poll} s"),
        );
    };
    match answer {
        Ok(_) => Check::pass(
            DRIVE_CHANGES,
            format!("Drive answers: the daemon picks new rows up within {} s of a change", every.as_secs()),
        ),
        Err(SheetsError::Unavailable { reason }) => Check::warn(
            DRIVE_CHANGES,
            format!("Drive did not answer ({reason})"),
            "try again in a minute; meanwhile the daemon picks rows up at each poll",
        ),
        Err(refused) => Check::warn(
            DRIVE_CHANGES,
            format!("Drive refused the change check ({refused}): new rows wait for the poll, every {poll} s"),
            format!(
                "enable the Google Drive API in the credentials' Google Cloud project (APIs & Services → Library → Google Drive API; {}), or set QBSYNC_CHANGE_CHECK_INTERVAL=off to silence this",
                ReadmeSection::GoogleAccess
            ),
        ),
    }
}

fn describe_tab(info: &TabInfo) -> String {
    format!(
        "\"{}\", tab \"{}\" ({} rows × {} columns)",
        info.spreadsheet_title, info.title, info.row_count, info.column_count
    )
}

fn header_row(settings: &Settings, values: &[Vec<Cell>]) -> Result<(Layout, Check), Check> {
    let header = values.first().map(Vec::as_slice).unwrap_or_default();
    if header.iter().all(Cell::is_blank) {
        return Err(Check::fail(
            HEADERS,
            "the tab is empty: row 1 must hold the column headers",
            format!("put the headers in row 1 ({})", ReadmeSection::TheSheet),
        ));
    }
    let layout = Layout::read_header(header, &settings.sync.columns)
        .map_err(|error| Check::fail(HEADERS, error.to_string(), "fix row 1 of the tab as said above"))?;
    if let Err(error) = layout.check_tracking(settings.sync.creates_bills()) {
        return Err(Check::fail(
            HEADERS,
            error.to_string(),
            "run `qbsync migrate` to add missing columns at the right of the header row, or restore a renamed header",
        ));
    }
    let optional: Vec<String> = layout.missing_optional_columns().iter().map(|m| format!("\"{m}\"")).collect();
    let detail = if optional.is_empty() {
        "every input and tracking column is present".to_owned()
    } else {
        format!("every required and tracking column is present ({} absent, read as blank)", list(&optional))
    };
    Ok((layout, Check::pass(HEADERS, detail)))
}

/// Where one `inv_from` value occurs.
#[derive(Default)]
struct Occurrences {
    /// 1-based sheet rows.
    rows: Vec<usize>,
    /// Rows still waiting to be synced (eligible status, no QuickBooks id).
    ready: usize,
}

fn inv_from(settings: &Settings, directions: &Directions, layout: &Layout, values: &[Vec<Cell>]) -> Check {
    let mut unmapped: BTreeMap<String, Occurrences> = BTreeMap::new();
    let mut used = std::collections::HashSet::new();
    let mut routed = 0usize;
    for (index, row) in values.iter().enumerate().skip(1) {
        let value = layout.cell(row, Field::InvFrom).trimmed().into_owned();
        if value.is_empty() {
            continue;
        }
        match directions.route(&value) {
            Some(route) => {
                routed += 1;
                used.insert(route.canonical);
            }
            None => {
                let ready = settings.sync.eligible_statuses.contains(&layout.cell(row, Field::Status).as_text())
                    && layout.cell(row, Field::QbInvoiceId).is_blank()
                    && layout.cell(row, Field::QbBillId).is_blank();
                let entry = unmapped.entry(value).or_default();
                entry.rows.push(index + 1);
                entry.ready += usize::from(ready);
            }
        }
    }
    let unused: Vec<String> =
        directions.names().filter(|(name, _)| !used.contains(*name)).map(|(name, _)| format!("\"{name}\"")).collect();
    let file = directions.origin();

    if !unmapped.is_empty() {
        let described: Vec<String> = unmapped
            .iter()
            .map(|(value, at)| {
                let rows: Vec<String> = at.rows.iter().take(5).map(|r| r.to_string()).collect();
                let more = if at.rows.len() > 5 { ", …" } else { "" };
                let suggestion = directions.closest(value);
                let hint = if suggestion.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", did you mean {}?",
                        list(&suggestion.iter().map(|s| format!("\"{s}\"")).collect::<Vec<_>>())
                    )
                };
                format!("\"{value}\" (sheet row {}{more}{hint})", rows.join(", "))
            })
            .collect();
        let detail = format!("{} occur in inv_from but are mapped nowhere", list(&described));
        let fix = format!(
            "add each to \"money_in\" (we are paid) or \"money_out\" (we pay) in {file}, or to \"aliases\" when it is another spelling of a listed name"
        );
        let blocking = unmapped.values().any(|at| at.ready > 0);
        return if blocking { Check::fail(INV_FROM, detail, fix) } else { Check::warn(INV_FROM, detail, fix) };
    }
    if !unused.is_empty() {
        return Check::warn(
            INV_FROM,
            format!("every inv_from on the sheet is routed, but {} of {file} occur on no row", list(&unused)),
            format!("check their spelling against the sheet, or remove them from {file}"),
        );
    }
    Check::pass(INV_FROM, format!("all {routed} rows with an inv_from are routed, and every listed name occurs"))
}
