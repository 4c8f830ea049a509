//! `updateCells` inside `spreadsheets.batchUpdate`: cell values written from a start cell.
//!
//! qbsync writes its owned cells this way when it wants the sheet as the write left it in the
//! same answer (`includeSpreadsheetInResponse`), which `values.batchUpdate` cannot give. What is
//! emulated is what Google documents for `UpdateCellsRequest`: `start` (a `GridCoordinate`), any
//! number of rows of any width, and `fields` naming the `CellData` members written, of which
//! only `userEnteredValue` (or `*`) is emulated. A cell listed without a `userEnteredValue` is
//! cleared, as the field mask says it is written. `range` (the other way to say where) and
//! formats are refused as not emulated rather than pretended.
//!
//! Values are taken as a `values.batchUpdate` with `RAW` takes them: a `stringValue` is text
//! even when it looks like a number or starts with `=`; `numberValue` and `boolValue` are
//! typed; `formulaValue` is a formula. The 50,000-character limit on a cell and the grid's
//! edge are checked before anything is written, so a refused request changes nothing. Google's
//! wording for a write past the edge of the grid is the one its reads give for such a range
//! (not recorded for `updateCells`).

use serde_json::{Value, json};

use super::a1;
use super::entry::Entry;
use super::error::ApiError;
use super::spreadsheet::{Spreadsheet, grid_limits};
use super::values::{MAX_CELL_CHARS, TOO_LONG};

/// Applies one `updateCells` request; `context` names it in errors (`Invalid requests[0].updateCells`).
pub fn apply(ss: &mut Spreadsheet, params: &Value, context: &str) -> Result<Value, ApiError> {
    let fail = |detail: &str| ApiError::invalid_argument(format!("{context}: {detail}"));
    let fields = params.get("fields").and_then(Value::as_str).unwrap_or_default();
    if fields.is_empty() {
        return Err(fail("At least one field must be specified."));
    }
    if !fields.split(',').map(str::trim).all(|field| field == "userEnteredValue" || field == "*") {
        return Err(fail("only the field userEnteredValue is emulated by the qbsync sandbox"));
    }
    if params.get("range").is_some() {
        return Err(fail("range is not emulated by the qbsync sandbox; use start"));
    }
    let start = params.get("start").ok_or_else(|| fail("start or range is required"))?;
    let sheet_id = start.get("sheetId").and_then(Value::as_i64).unwrap_or(0);
    let sheet = i32::try_from(sheet_id)
        .ok()
        .and_then(|id| ss.sheet_by_id(id))
        .ok_or_else(|| fail(&format!("No grid with id: {sheet_id}")))?;
    let index = |name: &str| start.get(name).and_then(Value::as_u64).unwrap_or(0) as usize;
    let (r0, c0) = (index("rowIndex"), index("columnIndex"));

    let rows = params.get("rows").and_then(Value::as_array).cloned().unwrap_or_default();
    let mut entries: Vec<(usize, usize, Entry)> = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let values = row.get("values").and_then(Value::as_array).cloned().unwrap_or_default();
        for (j, cell) in values.iter().enumerate() {
            entries.push((r0 + i, c0 + j, entry(cell.get("userEnteredValue"), &fail)?));
        }
    }
    let grid = &ss.sheets[sheet];
    let (height, width) = (grid.rows.len(), grid.columns.len());
    if let Some(&(row, col, _)) = entries.iter().find(|(row, col, _)| *row >= height || *col >= width) {
        let cell = a1::format_range(&grid.title, row, col, row + 1, col + 1);
        return Err(grid_limits(&cell, height, width));
    }
    for (row, col, entry) in entries {
        ss.sheets[sheet].set(row, col, entry);
    }
    Ok(json!({}))
}

/// One cell's `userEnteredValue` (an `ExtendedValue`) as the entry it leaves; none clears it.
fn entry(value: Option<&Value>, fail: &impl Fn(&str) -> ApiError) -> Result<Entry, ApiError> {
    let Some(value) = value.and_then(Value::as_object) else { return Ok(Entry::Empty) };
    if value.len() > 1 {
        return Err(fail("an ExtendedValue holds one kind of value"));
    }
    Ok(match value.iter().next() {
        None => Entry::Empty,
        Some((kind, Value::String(text))) if kind == "stringValue" => {
            if crate::sheets::clip::utf16_len(text) > MAX_CELL_CHARS {
                return Err(ApiError::invalid_argument(TOO_LONG));
            }
            Entry::text(text.clone())
        }
        Some((kind, Value::Number(n))) if kind == "numberValue" => Entry::number(n.as_f64().unwrap_or_default()),
        Some((kind, Value::Bool(b))) if kind == "boolValue" => Entry::Bool { value: *b },
        Some((kind, Value::String(formula))) if kind == "formulaValue" => Entry::Formula { formula: formula.clone() },
        Some((kind, _)) => return Err(fail(&format!("{kind} is not emulated by the qbsync sandbox"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::google::entry::Computed;

    fn sheet() -> Spreadsheet {
        let mut ss = Spreadsheet::new("sid", "t");
        ss.add_sheet("Sheet1", None, 5, 4);
        ss.sheets[0].set(1, 1, Entry::text("keep"));
        ss.sheets[0].set(1, 2, Entry::text("clear me"));
        ss
    }

    fn update(ss: &mut Spreadsheet, request: Value) -> Result<Value, ApiError> {
        apply(ss, &request, "Invalid requests[0].updateCells")
    }

    #[test]
    fn cells_are_written_from_the_start_cell_as_raw_values_and_a_listed_cell_without_one_is_cleared() {
        let mut ss = sheet();
        let sheet_id = ss.sheets[0].sheet_id;
        update(
            &mut ss,
            json!({"start": {"sheetId": sheet_id, "rowIndex": 1, "columnIndex": 2}, "fields": "userEnteredValue",
                   "rows": [{"values": [{}, {"userEnteredValue": {"stringValue": "=1+1"}}]},
                            {"values": [{"userEnteredValue": {"numberValue": 2.5}}]}]}),
        )
        .unwrap();
        assert_eq!(ss.computed(0, 1, 1), Computed::Text("keep".into()), "cells not listed are left alone");
        assert_eq!(ss.computed(0, 1, 2), Computed::Empty);
        assert_eq!(ss.computed(0, 1, 3), Computed::Text("=1+1".into()), "a string stays text");
        assert!(matches!(ss.computed(0, 2, 2), Computed::Number(v, _) if v == 2.5));
    }

    #[test]
    fn a_write_past_the_grid_or_over_the_cell_limit_is_refused_whole() {
        let mut ss = sheet();
        let sheet_id = ss.sheets[0].sheet_id;
        let past = update(
            &mut ss,
            json!({"start": {"sheetId": sheet_id, "rowIndex": 1, "columnIndex": 3}, "fields": "userEnteredValue",
                   "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}, {"userEnteredValue": {"stringValue": "y"}}]}]}),
        );
        assert!(past.unwrap_err().message.contains("exceeds grid limits"));
        let long = update(
            &mut ss,
            json!({"start": {"sheetId": sheet_id, "rowIndex": 1, "columnIndex": 1}, "fields": "userEnteredValue",
                   "rows": [{"values": [{"userEnteredValue": {"stringValue": "x".repeat(50_001)}}]}]}),
        );
        assert!(long.unwrap_err().message.contains("50000 characters"));
        assert_eq!(ss.computed(0, 1, 3), Computed::Empty, "nothing of a refused request is written");
        assert_eq!(ss.computed(0, 1, 1), Computed::Text("keep".into()));
    }

    #[test]
    fn formats_and_ranges_are_refused_as_not_emulated() {
        let mut ss = sheet();
        for request in [
            json!({"start": {"sheetId": 0}, "fields": "userEnteredFormat", "rows": []}),
            json!({"range": {"sheetId": 0}, "fields": "userEnteredValue", "rows": []}),
            json!({"start": {"sheetId": 0}, "rows": []}),
        ] {
            assert!(update(&mut ss, request).is_err());
        }
    }
}
