//! A write of cells answered with the rows it wrote, as the write left them.
//!
//! Sheets cannot make a write conditional, so qbsync checks where its cells landed. Reading
//! the tab again costs a read of Google's 60 a minute and the decoding of every row;
//! `spreadsheets.batchUpdate` can instead answer with the spreadsheet "after updates were
//! applied" (`includeSpreadsheetInResponse`), narrowed by `responseRanges` to the rows written
//! and by a `fields` mask ([`LANDED_FIELDS`]) to their values and row metadata. Google applies
//! a `batchUpdate` whole, so that answer is the written rows at the instant of the write: no
//! edit can slip between the write and the look, as one could between a write and a read.
//!
//! The cells are written with `updateCells` (`fields: userEnteredValue`), each value typed as a
//! `values.batchUpdate` with `RAW` types it: text stays text (even `=…`), numbers and booleans
//! are typed, an empty cell is cleared. Rows come back decoded exactly as a grid read decodes
//! them ([`super::grid_row`]), with their anchors.

use serde_json::{Value, json};

use super::a1;
use super::anchors::{ANCHOR_KEY, RowAnchor};
use super::clip::clip_cell;
use super::row::{RawRow, RowDigest};
use super::stream::malformed;
use super::{CellRun, SheetsError};
use crate::domain::Cell;

/// What the answer keeps of the spreadsheet: each written row's values and developer metadata.
pub(crate) const LANDED_FIELDS: &str = "updatedSpreadsheet(sheets(data(startRow,rowData(values(effectiveValue)),rowMetadata(developerMetadata(metadataId,metadataKey,metadataValue)))))";

/// A written row as the write's answer showed it.
#[derive(Clone, Debug, PartialEq)]
pub struct LandedRow {
    /// The 0-based grid row.
    pub row: u32,
    /// Its cells, as ragged as Google sent them (trailing empty cells left out).
    pub cells: Vec<Cell>,
    /// The qbsync anchors on it, sorted by metadata id.
    pub anchors: Vec<RowAnchor>,
}

/// The body of a `spreadsheets.batchUpdate` writing `runs` to tab `sheet_id` (titled `title`)
/// and answering with the rows written.
pub(crate) fn write_request(sheet_id: i32, title: &str, runs: &[&CellRun]) -> Vec<u8> {
    let requests: Vec<Value> = runs
        .iter()
        .map(|run| {
            let values: Vec<Value> = run.values.iter().map(|cell| cell_data(&clip_cell(cell))).collect();
            json!({"updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": run.row, "columnIndex": run.col},
                "rows": [{"values": values}],
                "fields": "userEnteredValue",
            }})
        })
        .collect();
    let mut rows: Vec<u32> = runs.iter().map(|run| run.row).collect();
    let body = json!({
        "requests": requests,
        "includeSpreadsheetInResponse": true,
        "responseRanges": row_ranges(title, &mut rows),
        "responseIncludeGridData": true,
    });
    body.to_string().into_bytes()
}

/// A cell as `updateCells` writes it: what `RAW` would make of its JSON value.
fn cell_data(cell: &Cell) -> Value {
    match cell {
        Cell::Empty => json!({}),
        Cell::Text(text) => json!({"userEnteredValue": {"stringValue": text.as_str()}}),
        Cell::Number(_) => match cell.to_json() {
            number @ Value::Number(_) => json!({"userEnteredValue": {"numberValue": number}}),
            text => json!({"userEnteredValue": {"stringValue": text}}),
        },
        Cell::Bool(value) => json!({"userEnteredValue": {"boolValue": value}}),
    }
}

/// Whole-row ranges covering `rows` (0-based), consecutive rows in one range.
fn row_ranges(title: &str, rows: &mut Vec<u32>) -> Vec<String> {
    rows.sort_unstable();
    rows.dedup();
    let sheet = a1::quote_sheet(title);
    let mut ranges = Vec::new();
    let mut rows = rows.iter().copied().peekable();
    while let Some(first) = rows.next() {
        let mut last = first;
        while rows.next_if(|&next| next == last + 1).is_some() {
            last += 1;
        }
        ranges.push(format!("{sheet}!{}:{}", first + 1, last + 1));
    }
    ranges
}

/// The rows of a write's answer, one per row of the ranges asked for.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<LandedRow>, SheetsError> {
    let answer: wire::Answer<'_> = serde_json::from_slice(body).map_err(|e| unreadable(&e))?;
    let mut landed = Vec::new();
    for data in answer.updated_spreadsheet.into_iter().flat_map(|s| s.sheets).flat_map(|sheet| sheet.data) {
        let height = data.row_data.len().max(data.row_metadata.len());
        for i in 0..height {
            let row = data.start_row + u32::try_from(i).map_err(|_| unreadable(&"too many rows"))?;
            let cells = match data.row_data.get(i) {
                Some(raw) => {
                    let bytes = raw.get().as_bytes();
                    RawRow::grid(bytes, RowDigest::of(bytes), &[]).cells()?
                }
                None => Vec::new(),
            };
            let mut anchors: Vec<RowAnchor> = data
                .row_metadata
                .get(i)
                .into_iter()
                .flat_map(|properties| &properties.developer_metadata)
                .filter(|m| m.metadata_key.as_deref() == Some(ANCHOR_KEY))
                .filter_map(|m| Some(RowAnchor { metadata_id: m.metadata_id?, key: m.metadata_value.clone()?, row }))
                .collect();
            anchors.sort_unstable_by_key(|anchor| anchor.metadata_id);
            landed.push(LandedRow { row, cells, anchors });
        }
    }
    Ok(landed)
}

fn unreadable(error: &dyn std::fmt::Display) -> SheetsError {
    malformed(&format!("the answer to a write: {error}"))
}

mod wire {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Answer<'a> {
        #[serde(borrow)]
        pub updated_spreadsheet: Option<Spreadsheet<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Spreadsheet<'a> {
        #[serde(borrow, default)]
        pub sheets: Vec<Sheet<'a>>,
    }

    #[derive(Deserialize)]
    pub struct Sheet<'a> {
        #[serde(borrow, default)]
        pub data: Vec<GridData<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct GridData<'a> {
        /// Proto3 JSON leaves a zero out.
        #[serde(default)]
        pub start_row: u32,
        #[serde(borrow, default)]
        pub row_data: Vec<&'a RawValue>,
        #[serde(default)]
        pub row_metadata: Vec<RowProperties>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RowProperties {
        #[serde(default)]
        pub developer_metadata: Vec<Metadata>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Metadata {
        pub metadata_id: Option<i32>,
        pub metadata_key: Option<String>,
        pub metadata_value: Option<String>,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_rows_share_a_range_and_rows_are_one_based() {
        let mut rows = vec![9, 4, 5, 6, 9, 12];
        assert_eq!(row_ranges("inv tbl", &mut rows), ["'inv tbl'!5:7", "'inv tbl'!10:10", "'inv tbl'!13:13"]);
    }

    #[test]
    fn cells_are_written_as_raw_would_type_them() {
        let run = CellRun {
            row: 3,
            col: 2,
            values: vec![Cell::text("=1+1"), Cell::Empty, Cell::Number("12.50".into()), Cell::Bool(true)],
        };
        let body: Value = serde_json::from_slice(&write_request(7, "inv_tbl", &[&run])).unwrap();
        assert_eq!(
            body["requests"][0]["updateCells"],
            json!({"start": {"sheetId": 7, "rowIndex": 3, "columnIndex": 2}, "fields": "userEnteredValue",
                   "rows": [{"values": [{"userEnteredValue": {"stringValue": "=1+1"}}, {},
                                        {"userEnteredValue": {"numberValue": 12.50}},
                                        {"userEnteredValue": {"boolValue": true}}]}]})
        );
        assert_eq!(body["responseRanges"], json!(["'inv_tbl'!4:4"]));
    }

    #[test]
    fn an_answer_gives_each_row_asked_for_with_its_cells_and_anchors() {
        let body = json!({"updatedSpreadsheet": {"sheets": [{"data": [{
            "startRow": 4,
            "rowData": [{"values": [{"effectiveValue": {"stringValue": "INV-1"}}, {}, {"effectiveValue": {"numberValue": 3}}]}],
            "rowMetadata": [
                {"developerMetadata": [
                    {"metadataId": 9, "metadataKey": ANCHOR_KEY, "metadataValue": "k2"},
                    {"metadataId": 3, "metadataKey": "someone.else", "metadataValue": "x"},
                    {"metadataId": 2, "metadataKey": ANCHOR_KEY, "metadataValue": "k1"}]},
                {}]
        }]}]}});
        let landed = parse(body.to_string().as_bytes()).unwrap();
        assert_eq!(landed.len(), 2, "a row past the last value still comes, empty");
        assert_eq!(landed[0].row, 4);
        assert_eq!(landed[0].cells, [Cell::text("INV-1"), Cell::Empty, Cell::Number("3".into())]);
        let keys: Vec<&str> = landed[0].anchors.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["k1", "k2"]);
        assert_eq!((landed[1].row, landed[1].cells.len(), landed[1].anchors.len()), (5, 0, 0));
        assert!(parse(b"{\"updatedSpreadsheet\": 3}").is_err());
    }
}
