//! `qbsync audit`: "was this row sent, and what came back?" without SQL.
//!
//! The audit tables (`qb_invoice_audit`, `qb_bill_audit`) hold every attempt and outcome. This
//! command filters them by the things a bookkeeper knows — the sheet row, the invoice number,
//! the QuickBooks id, a date, "only failures" — and prints a table, JSON (every column) or CSV.
//!
//! A sheet row is looked up two ways: the entries written while the row stood at that number,
//! and the entries of the row qbsync last saw there (rows move when people sort or insert).
//!
//! The output formats (and the CSV's neutralising of cells a spreadsheet would run as a formula)
//! are [`crate::ops::audit_format`]'s.

use std::collections::HashSet;
use std::process::ExitCode;

use chrono::{DateTime, NaiveDate, Utc};

use super::context;
use crate::ops::audit_format::{AuditFormat, write_audit};
use crate::settings::LoadOptions;
use crate::store::{AuditEntry, AuditQuery, Kind, Store};

/// Rows in a table when no `--limit` is given.
const TABLE_LIMIT: u32 = 50;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Entries of sheet row N (1-based, as numbered in Google Sheets).
    #[arg(long, value_name = "N")]
    pub row: Option<i64>,
    /// Entries of the document with this number (the sheet's `invoice` column).
    #[arg(long, value_name = "NUMBER")]
    pub doc: Option<String>,
    /// Entries from this day (YYYY-MM-DD, UTC) or moment (RFC 3339) on.
    #[arg(long, value_name = "DATE", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// Failures only.
    #[arg(long)]
    pub failed: bool,
    /// Entries written by one pass (the PASS column; `qbsync void --pass` takes it).
    #[arg(long, value_name = "ID")]
    pub pass: Option<String>,
    /// Entries of the QuickBooks document with this Id.
    #[arg(long, value_name = "ID")]
    pub qbo_id: Option<String>,
    /// Invoices or bills only.
    #[arg(long, value_enum)]
    pub kind: Option<KindArg>,
    /// The last N matching entries (a table shows the last 50 unless told otherwise).
    #[arg(long, value_name = "N")]
    pub limit: Option<u32>,
    /// Every column as JSON.
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// CSV with a header row, for a spreadsheet.
    #[arg(long)]
    pub csv: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Invoice,
    Bill,
}

impl From<KindArg> for Kind {
    fn from(kind: KindArg) -> Kind {
        match kind {
            KindArg::Invoice => Kind::Invoice,
            KindArg::Bill => Kind::Bill,
        }
    }
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(day) = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| "expected a day like 2025-11-05 or a moment like 2025-11-05T14:00:00Z".to_owned())
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    let settings = context::load_settings(load)?;
    let path = settings.paths.state_dir.join("qbsync.sqlite3");
    anyhow::ensure!(
        path.exists(),
        "there is no state database at {} yet: nothing has been synced (run `qbsync run-once` or start the daemon)",
        path.display()
    );
    let store = Store::open(&path)?;
    let limit = args.limit.or((!args.json && !args.csv).then_some(TABLE_LIMIT));
    let entries = find(&store, &args, limit)?;
    let format = match (args.json, args.csv) {
        (true, _) => AuditFormat::Json,
        (_, true) => AuditFormat::Csv,
        _ => AuditFormat::Table,
    };
    write_audit(&entries, format, &mut std::io::stdout().lock())?;
    if format == AuditFormat::Table && limit.is_some_and(|l| entries.len() == l as usize) {
        println!("(the last {} matching entries; --limit N shows more)", entries.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The matching entries, oldest first, at most the last `limit`.
pub fn find(store: &Store, args: &Args, limit: Option<u32>) -> anyhow::Result<Vec<AuditEntry>> {
    let base = AuditQuery {
        kind: args.kind.map(Kind::from),
        doc_number: args.doc.clone(),
        qbo_id: args.qbo_id.clone(),
        pass_id: args.pass.clone(),
        since: args.since,
        failed_only: args.failed,
        ..AuditQuery::default()
    };
    let mut entries = match args.row {
        None => store.audit(&base)?,
        Some(row) => {
            let mut found = store.audit(&AuditQuery { sheet_row: Some(row), ..base.clone() })?;
            let here: Vec<String> =
                store.all_rows()?.into_iter().filter(|r| r.sheet_row == Some(row)).map(|r| r.row_key).collect();
            for key in here {
                found.extend(store.audit(&AuditQuery { row_key: Some(key), ..base.clone() })?);
            }
            let mut seen = HashSet::new();
            found.retain(|e| seen.insert((e.kind, e.id)));
            found.sort_by(|a, b| a.at.cmp(&b.at).then(a.kind.cmp(&b.kind)).then(a.id.cmp(&b.id)));
            found
        }
    };
    if let Some(limit) = limit {
        let skip = entries.len().saturating_sub(limit as usize);
        entries.drain(..skip);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_day_or_a_moment() {
        assert_eq!(parse_since("2025-11-05").unwrap().to_rfc3339(), "2025-11-05T00:00:00+00:00");
        assert_eq!(parse_since("2025-11-05T14:00:00+02:00").unwrap().to_rfc3339(), "2025-11-05T12:00:00+00:00");
        assert!(parse_since("5/11/2025").is_err());
    }
}
