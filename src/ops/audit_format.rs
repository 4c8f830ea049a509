//! Output of `qbsync audit`: an aligned table for people, JSON for programs, CSV for
//! spreadsheets.
//!
//! The CSV goes where spreadsheets open it, and audit text comes partly from the sheet and from
//! QuickBooks: a cell that starts with `=`, `+`, `-`, `@`, tab or carriage return would run as
//! a formula (OWASP "CSV injection"). Such text fields get a leading `'`, which spreadsheets
//! show as plain text. The CSV leaves out the request and response bodies (JSON has them).

use std::borrow::Cow;
use std::io::Write;

use crate::store::AuditEntry;

/// The three output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditFormat {
    Table,
    Json,
    Csv,
}

/// Why the output could not be written (a closed pipe, a full disk). The cause is the source,
/// not part of the sentence, so a printed chain says it once.
#[derive(Debug, thiserror::Error)]
pub enum AuditFormatError {
    #[error("cannot write the audit output")]
    Io(#[from] std::io::Error),
    #[error("cannot write the audit output")]
    Csv(#[from] csv::Error),
    #[error("cannot write the audit output")]
    Json(#[from] serde_json::Error),
}

/// Writes `entries` to `out` in `format`.
pub fn write_audit(entries: &[AuditEntry], format: AuditFormat, out: &mut dyn Write) -> Result<(), AuditFormatError> {
    match format {
        AuditFormat::Table => out.write_all(render_table(entries).as_bytes())?,
        AuditFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, entries)?;
            out.write_all(b"\n")?;
        }
        AuditFormat::Csv => write_csv(entries, out)?,
    }
    Ok(())
}

const TABLE_HEADER: [&str; 10] =
    ["AT (UTC)", "KIND", "ROW", "DOC", "QBO ID", "TOTAL", "STATUS", "EVENT", "PASS", "ERROR / REASON"];

/// An aligned table, one line per entry; the error column is last and not padded.
pub fn render_table(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "No audit entries match.\n".to_owned();
    }
    let rows: Vec<[String; 10]> = entries
        .iter()
        .map(|e| {
            [
                e.at.replacen('T', " ", 1).trim_end_matches('Z').to_owned(),
                // The QuickBooks type where the line is about a document (a credit memo is on
                // the invoice side), else the side.
                e.doc_kind.clone().unwrap_or_else(|| e.kind.as_str().to_owned()),
                e.sheet_row.map(|r| r.to_string()).unwrap_or_else(|| "-".into()),
                e.doc_number.clone().unwrap_or_else(|| "-".into()),
                e.qbo_id.clone().unwrap_or_else(|| "-".into()),
                e.total.clone().unwrap_or_else(|| "-".into()),
                e.status.clone(),
                e.event.clone(),
                e.pass_id.clone().unwrap_or_else(|| "-".into()),
                note(e),
            ]
        })
        .collect();
    let mut widths = TABLE_HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row.iter()) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&TABLE_HEADER);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    out
}

/// CSV with a header row; text fields neutralised against formula injection.
pub fn write_csv(entries: &[AuditEntry], out: &mut dyn Write) -> Result<(), csv::Error> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "id",
        "kind",
        "at",
        "event",
        "row_key",
        "sheet_row",
        "doc_number",
        "qbo_id",
        "qbo_url",
        "status",
        "request_id",
        "error",
        "doc_kind",
        "total",
        "pass_id",
        "actor",
        "reason",
    ])?;
    for e in entries {
        let text = |value: &Option<String>| value.as_deref().map(neutralise).unwrap_or_default().into_owned();
        writer.write_record([
            e.id.to_string(),
            e.kind.as_str().to_owned(),
            neutralise(&e.at).into_owned(),
            neutralise(&e.event).into_owned(),
            text(&e.row_key),
            e.sheet_row.map(|r| r.to_string()).unwrap_or_default(),
            text(&e.doc_number),
            text(&e.qbo_id),
            text(&e.qbo_url),
            neutralise(&e.status).into_owned(),
            text(&e.request_id),
            text(&e.error),
            text(&e.doc_kind),
            text(&e.total),
            text(&e.pass_id),
            text(&e.actor),
            text(&e.reason),
        ])?;
    }
    writer.flush()?;
    Ok(())
}

/// Prefixes text a spreadsheet would evaluate with `'`.
pub fn neutralise(text: &str) -> Cow<'_, str> {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{text}"))
    } else {
        Cow::Borrowed(text)
    }
}

/// The error, or for what a person asked (an undo) who asked and why.
fn note(entry: &AuditEntry) -> String {
    match (&entry.error, &entry.actor) {
        (Some(error), _) => one_line(error),
        (None, Some(actor)) => one_line(&format!("by {actor}: {}", entry.reason.as_deref().unwrap_or_default())),
        (None, None) => String::new(),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Kind;

    fn entry(id: i64, doc: &str, error: Option<&str>) -> AuditEntry {
        AuditEntry {
            id,
            kind: Kind::Invoice,
            at: "2026-11-21T09:30:12.345Z".into(),
            event: "create".into(),
            row_key: Some("rk-1".into()),
            sheet_row: Some(17),
            doc_number: Some(doc.into()),
            qbo_id: error.is_none().then(|| "1042".to_owned()),
            qbo_url: None,
            status: if error.is_some() { "failed" } else { "synced" }.into(),
            request_id: Some("req-1".into()),
            request_json: Some(r#"{"Line":[]}"#.into()),
            response_json: None,
            error: error.map(str::to_owned),
            doc_kind: Some("Invoice".into()),
            total: error.is_none().then(|| "120.00".to_owned()),
            pass_id: Some("20261121-093012.001".into()),
            actor: None,
            reason: None,
        }
    }

    #[test]
    fn table_columns_line_up() {
        let entries = [entry(1, "INV-1", None), entry(2, "INV-100042", Some("Customer \"Acme\"\nnot found"))];
        let table = render_table(&entries);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("AT (UTC)"));
        let status_column =
            |line: &str| line.find("synced").or_else(|| line.find("failed")).or_else(|| line.find("STATUS"));
        assert_eq!(status_column(lines[0]), status_column(lines[1]), "{table}");
        assert_eq!(status_column(lines[1]), status_column(lines[2]), "{table}");
        assert!(lines[2].ends_with("Customer \"Acme\" not found"), "{table}");
        assert!(lines[1].starts_with("2026-11-21 09:30:12.345"), "{table}");
        assert_eq!(render_table(&[]), "No audit entries match.\n");
    }

    #[test]
    fn json_is_an_array_of_entries() {
        let mut out = Vec::new();
        write_audit(&[entry(1, "INV-1", None)], AuditFormat::Json, &mut out).expect("json");
        let value: serde_json::Value = serde_json::from_slice(&out).expect("parse");
        assert_eq!(value[0]["doc_number"], "INV-1");
        assert_eq!(value[0]["kind"], "invoice");
        assert_eq!(value[0]["request_json"], r#"{"Line":[]}"#);
    }

    #[test]
    fn csv_has_a_header_and_neutralises_formulas() {
        let entries = [
            entry(1, "=HYPERLINK(\"http://evil\",\"x\")", Some("+1 bad")),
            entry(2, "-5", Some("@SUM(A1)")),
            entry(3, "INV-3", Some("plain, with \"quotes\"")),
        ];
        let mut out = Vec::new();
        write_audit(&entries, AuditFormat::Csv, &mut out).expect("csv");
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_owned).collect();
        assert_eq!(header[0], "id");
        assert!(header.contains(&"error".to_owned()));
        assert!(!header.contains(&"request_json".to_owned()));
        let doc = header.iter().position(|h| h == "doc_number").expect("doc column");
        let error = header.iter().position(|h| h == "error").expect("error column");
        let rows: Vec<csv::StringRecord> = reader.records().collect::<Result<_, _>>().expect("records");
        assert_eq!(&rows[0][doc], "'=HYPERLINK(\"http://evil\",\"x\")");
        assert_eq!(&rows[0][error], "'+1 bad");
        assert_eq!(&rows[1][doc], "'-5");
        assert_eq!(&rows[1][error], "'@SUM(A1)");
        assert_eq!(&rows[2][doc], "INV-3");
        assert_eq!(&rows[2][error], "plain, with \"quotes\"");
        assert_eq!(&rows[0][5], "17");
    }

    #[test]
    fn neutralise_leaves_ordinary_text_alone() {
        assert_eq!(neutralise("INV-1"), "INV-1");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise(""), "");
    }
}
