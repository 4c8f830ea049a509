//! `qbsync audit`: "was this row sent, and what came back?" without SQL.
//!
//! The audit tables (`qb_invoice_audit`, `qb_bill_audit`) hold every attempt and outcome. This
//! command filters them by the things a bookkeeper knows — the sheet row, the invoice number,
//! the QuickBooks id, a date, "only failures" — and prints a table, JSON (every column) or CSV.
//!
//! A sheet row is looked up two ways: the entries written while the row stood at that number,
//! and the entries of the row qbsync last saw there (rows move when people sort or insert).
//!
//! CSV cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab
//! or a carriage return) are prefixed with `'`: the file is meant to be opened in a spreadsheet,
//! and error messages quote text that came from one.

use std::collections::HashSet;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};

use super::context;
use crate::settings::LoadOptions;
use crate::store::{AuditEntry, AuditQuery, Kind, Store};

/// Rows in a table when no `--limit` is given.
const TABLE_LIMIT: u32 = 50;
/// Longest error shown in a table cell (JSON and CSV carry it whole).
const TABLE_ERROR_CHARS: usize = 100;

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
    if args.json {
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else if args.csv {
        let mut out = std::io::stdout().lock();
        write_csv(&mut out, &entries)?;
    } else {
        print!("{}", table(&entries));
        if limit.is_some_and(|l| entries.len() == l as usize) {
            println!("(the last {} matching entries; --limit N shows more)", entries.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The matching entries, oldest first, at most the last `limit`.
pub fn find(store: &Store, args: &Args, limit: Option<u32>) -> anyhow::Result<Vec<AuditEntry>> {
    let base = AuditQuery {
        kind: args.kind.map(Kind::from),
        doc_number: args.doc.clone(),
        qbo_id: args.qbo_id.clone(),
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

const COLUMNS: [&str; 8] = ["at (UTC)", "kind", "row", "doc number", "event", "status", "QuickBooks id", "error"];

/// A plain-text table, one line per entry.
pub fn table(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "No audit entries match.\n".to_owned();
    }
    let rows: Vec<[String; 8]> = entries
        .iter()
        .map(|e| {
            [
                e.at.get(..19).unwrap_or(&e.at).replace('T', " "),
                e.kind.as_str().to_owned(),
                e.sheet_row.map(|r| r.to_string()).unwrap_or_default(),
                e.doc_number.clone().unwrap_or_default(),
                e.event.clone(),
                e.status.clone(),
                e.qbo_id.clone().unwrap_or_default(),
                shorten(e.error.as_deref().unwrap_or_default()),
            ]
        })
        .collect();
    let mut widths = COLUMNS.map(|c| c.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        text.trim_end().to_owned() + "\n"
    };
    let mut out = line(&COLUMNS.map(str::to_owned));
    for row in &rows {
        out.push_str(&line(row));
    }
    out
}

fn shorten(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= TABLE_ERROR_CHARS {
        return one_line;
    }
    let cut: String = one_line.chars().take(TABLE_ERROR_CHARS - 1).collect();
    format!("{cut}…")
}

/// CSV with a header row; every cell neutralised against formula injection.
pub fn write_csv(out: &mut impl std::io::Write, entries: &[AuditEntry]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "at",
        "kind",
        "event",
        "status",
        "sheet_row",
        "row_key",
        "doc_number",
        "qbo_id",
        "qbo_url",
        "request_id",
        "error",
    ])?;
    for e in entries {
        let cells = [
            e.at.clone(),
            e.kind.as_str().to_owned(),
            e.event.clone(),
            e.status.clone(),
            e.sheet_row.map(|r| r.to_string()).unwrap_or_default(),
            e.row_key.clone().unwrap_or_default(),
            e.doc_number.clone().unwrap_or_default(),
            e.qbo_id.clone().unwrap_or_default(),
            e.qbo_url.clone().unwrap_or_default(),
            e.request_id.clone().unwrap_or_default(),
            e.error.clone().unwrap_or_default(),
        ];
        writer.write_record(cells.iter().map(|c| neutralise(c).into_owned()))?;
    }
    writer.flush().context("cannot write the CSV")?;
    Ok(())
}

/// A cell a spreadsheet will show as text: a leading `=`, `+`, `-`, `@`, tab or carriage return
/// would make it a formula (OWASP "CSV injection"), so it gets a leading `'`.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, error: Option<&str>, doc_number: &str) -> AuditEntry {
        AuditEntry {
            id,
            kind: Kind::Invoice,
            at: "2025-11-20T14:02:03.123Z".into(),
            event: "create".into(),
            row_key: Some("rk1".into()),
            sheet_row: Some(7),
            doc_number: Some(doc_number.into()),
            qbo_id: Some("130".into()),
            qbo_url: Some("https://app.qbo.intuit.com/app/invoice?txnId=130".into()),
            status: "failed".into(),
            request_id: Some("req".into()),
            request_json: None,
            response_json: None,
            error: error.map(str::to_owned),
        }
    }

    #[test]
    fn formula_starters_are_neutralised_and_other_text_is_left_alone() {
        for dangerous in ["=HYPERLINK(\"x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(dangerous), format!("'{dangerous}"));
        }
        for plain in ["ACD-2025-0101", "130", "", "a=b", " =x"] {
            assert_eq!(neutralise(plain), plain);
        }
    }

    #[test]
    fn csv_output_has_a_header_and_neutralised_cells() {
        let mut out = Vec::new();
        write_csv(&mut out, &[entry(1, Some("=cmd|' /C calc'!A0"), "-5")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let header = reader.headers().unwrap().clone();
        assert_eq!(header.get(0), Some("at"));
        let record = reader.records().next().unwrap().unwrap();
        let get = |name: &str| record.get(header.iter().position(|h| h == name).unwrap()).unwrap().to_owned();
        assert_eq!(get("error"), "'=cmd|' /C calc'!A0");
        assert_eq!(get("doc_number"), "'-5");
        assert_eq!(get("qbo_id"), "130");
        assert_eq!(get("sheet_row"), "7");
    }

    #[test]
    fn the_table_lines_up_and_shortens_long_errors() {
        let long = "x".repeat(300);
        let text = table(&[entry(1, Some(&long), "ACD-1"), entry(2, None, "ACD-2")]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("at (UTC)"), "{text}");
        assert!(lines[1].starts_with("2025-11-20 14:02:03  invoice"), "{text}");
        assert!(lines[1].ends_with('…'), "{text}");
        assert_eq!(lines[1].find("ACD-1"), lines[2].find("ACD-2"), "columns line up:\n{text}");
        assert_eq!(table(&[]), "No audit entries match.\n");
    }

    #[test]
    fn since_takes_a_day_or_a_moment() {
        assert_eq!(parse_since("2025-11-05").unwrap().to_rfc3339(), "2025-11-05T00:00:00+00:00");
        assert_eq!(parse_since("2025-11-05T14:00:00+02:00").unwrap().to_rfc3339(), "2025-11-05T12:00:00+00:00");
        assert!(parse_since("5/11/2025").is_err());
    }
}
