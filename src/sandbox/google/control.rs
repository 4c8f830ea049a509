//! Control of the emulated spreadsheet, for tests, the demo and people running `qbsync sandbox`:
//! load a tab from CSV, dump state, read cells, make the live edits a sheet editor makes while
//! qbsync runs (insert, delete, sort, edit, copy, move, cut and paste, drag rows; add and rename
//! columns), list developer metadata with its current rows, toggle sharing and quotas, and say
//! what sorts and cut and paste do to row metadata (`moves.rs`).
//!
//! Every operation exists as a Rust method on [`GoogleEmulator`] and over HTTP under
//! `/_sandbox/sheets/…`. They act on the spreadsheet the sandbox started with. **Row and column
//! numbers are 0-based grid indexes: row 0 is the header row, column 0 is column A.** Edits are
//! typed like user input (`1234.5` a number, `=…` a formula, `'…` text) and bump Drive's
//! `version`, as a person's edit would.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::csv::{self, CsvError};
use super::developer_metadata::Location;
use super::entry::{Entry, typed};
use super::moves::{MetadataMoves, Mover};
use super::spreadsheet::{Coordinate, DEFAULT_COLUMNS, DEFAULT_ROWS, Rect, SortOrder, Spreadsheet};
use super::values::{self, DateRender, Major, Render, ValueRender};
use super::{GoogleEmulator, a1};
use crate::domain::Cell;

/// Why a control operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no spreadsheet with id {0:?}")]
    NoSuchSpreadsheet(String),
    #[error("spreadsheet {0:?} already exists")]
    SpreadsheetExists(String),
    #[error("no tab named {0:?}")]
    NoSuchTab(String),
    #[error("no column headed {column:?} in tab {tab:?}")]
    NoSuchColumn { tab: String, column: String },
    #[error("row {row} is outside the grid ({rows} rows)")]
    RowOutsideGrid { row: usize, rows: usize },
    #[error("column {column} is outside the grid ({columns} columns)")]
    ColumnOutsideGrid { column: usize, columns: usize },
    #[error("a tab must keep at least one row")]
    LastRow,
    #[error("rows {from}..{end} cannot be dragged to {destination}: the tab has {rows} rows")]
    DragOutsideGrid { from: usize, end: usize, destination: usize, rows: usize },
    #[error(transparent)]
    Csv(#[from] CsvError),
}

/// One live edit, as the HTTP control API takes it (`{"op": "insert_rows", "at": 5}`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum LiveEdit {
    /// Blank rows before row `at`.
    InsertRows {
        at: usize,
        #[serde(default = "one")]
        count: usize,
    },
    /// One row of typed values before row `at`.
    InsertRow {
        at: usize,
        values: Vec<String>,
    },
    DeleteRow {
        row: usize,
    },
    /// Sorts the data rows (all but the header) by the column with this header. The values move;
    /// row metadata obeys the sort switch.
    SortRows {
        column: String,
        #[serde(default)]
        descending: bool,
    },
    SetCell {
        row: usize,
        column: usize,
        value: String,
    },
    AppendRow {
        values: Vec<String>,
    },
    /// A new column after the last used one, with this header.
    AddColumn {
        header: String,
    },
    RenameHeader {
        from: String,
        to: String,
    },
    /// Copies row `from`'s values (not its developer metadata) into a new row inserted before `to`.
    CopyRow {
        from: usize,
        to: usize,
    },
    /// Moves row `from` so that it ends up at index `to`; its metadata goes with it.
    MoveRow {
        from: usize,
        to: usize,
    },
    /// Cuts every cell of row `from` and pastes them onto row `to`: row `from` is left blank and
    /// row `to`'s previous values are gone. The rows stay where they are; their metadata obeys the
    /// cut-and-paste switch.
    CutPasteRow {
        from: usize,
        to: usize,
    },
    /// Drags `count` rows starting at `from` by their headers so that they land before row
    /// `destination`, an index counted before the move (`moveDimension`'s convention). The rows
    /// move themselves, metadata included.
    DragRows {
        from: usize,
        #[serde(default = "one")]
        count: usize,
        destination: usize,
    },
}

fn one() -> usize {
    1
}

/// A developer metadata entry and where it is now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetadataView {
    pub id: i32,
    pub key: String,
    pub value: Option<String>,
    pub visibility: String,
    /// The tab it is on (`None` for spreadsheet-level metadata).
    pub tab: Option<String>,
    /// Current 0-based row, for row metadata.
    pub row: Option<usize>,
    /// Current 0-based column, for column metadata.
    pub column: Option<usize>,
}

/// Replaces a tab's contents with `rows` (fresh rows, so old row metadata goes). The grid is at
/// least Google's default 1000 × 26.
pub(super) fn load_rows(ss: &mut Spreadsheet, sheet: usize, rows: Vec<Vec<Entry>>) {
    let height = rows.len().max(DEFAULT_ROWS);
    let width = rows.iter().map(Vec::len).max().unwrap_or(0).max(DEFAULT_COLUMNS);
    ss.sheets[sheet].rows.clear();
    ss.sheets[sheet].columns.clear();
    ss.resize(sheet, height, width);
    for (r, row) in rows.into_iter().enumerate() {
        for (c, entry) in row.into_iter().enumerate() {
            ss.sheets[sheet].set(r, c, entry);
        }
    }
}

const UNFORMATTED: Render =
    Render { value: ValueRender::Unformatted, date: DateRender::SerialNumber, major: Major::Rows };

fn cell_at(ss: &Spreadsheet, sheet: usize, row: usize, col: usize) -> Cell {
    values::render_cell(ss, sheet, row, col, UNFORMATTED).map_or(Cell::Empty, |v| Cell::from_json(&v))
}

fn header_index_in(ss: &Spreadsheet, sheet: usize, name: &str) -> Result<usize, ControlError> {
    let s = &ss.sheets[sheet];
    let headers: Vec<String> = (0..s.columns.len()).map(|c| cell_at(ss, sheet, 0, c).trimmed().into_owned()).collect();
    headers
        .iter()
        .position(|h| h == name.trim())
        .or_else(|| headers.iter().position(|h| h.eq_ignore_ascii_case(name.trim())))
        .ok_or_else(|| ControlError::NoSuchColumn { tab: s.title.clone(), column: name.to_owned() })
}

fn check_row(ss: &Spreadsheet, sheet: usize, row: usize, inclusive_end: bool) -> Result<(), ControlError> {
    let rows = ss.sheets[sheet].rows.len();
    if row < rows || (inclusive_end && row == rows) { Ok(()) } else { Err(ControlError::RowOutsideGrid { row, rows }) }
}

fn set_typed(ss: &mut Spreadsheet, sheet: usize, row: usize, values: &[String]) {
    if values.len() > ss.sheets[sheet].columns.len() {
        let have = ss.sheets[sheet].columns.len();
        ss.insert_columns(sheet, have, values.len() - have);
    }
    for (c, v) in values.iter().enumerate() {
        ss.sheets[sheet].set(row, c, typed(v));
    }
}

/// Applies one live edit; returns what the HTTP API echoes (`{"row": n}` / `{"column": n}`).
/// `mover` says what sorts and cut and paste do to row metadata.
fn apply_edit(ss: &mut Spreadsheet, sheet: usize, edit: LiveEdit, mover: &mut Mover) -> Result<Value, ControlError> {
    match edit {
        LiveEdit::InsertRows { at, count } => {
            check_row(ss, sheet, at, true)?;
            ss.insert_rows(sheet, at, count);
            Ok(json!({"row": at}))
        }
        LiveEdit::InsertRow { at, values } => {
            check_row(ss, sheet, at, true)?;
            ss.insert_rows(sheet, at, 1);
            set_typed(ss, sheet, at, &values);
            Ok(json!({"row": at}))
        }
        LiveEdit::DeleteRow { row } => {
            check_row(ss, sheet, row, false)?;
            if ss.sheets[sheet].rows.len() == 1 {
                return Err(ControlError::LastRow);
            }
            ss.delete_rows(sheet, row, row + 1);
            Ok(json!({"row": row}))
        }
        LiveEdit::SortRows { column, descending } => {
            let col = header_index_in(ss, sheet, &column)?;
            let used = ss.sheets[sheet].used_rows();
            if used > 2 {
                let rect = Rect { sheet, r0: 1, r1: used, c0: 0, c1: ss.sheets[sheet].columns.len() };
                let order = if descending { SortOrder::Descending } else { SortOrder::Ascending };
                ss.sort_rows(rect, &[(col, order)], mover.sort());
            }
            Ok(json!({"column": col}))
        }
        LiveEdit::SetCell { row, column, value } => {
            check_row(ss, sheet, row, false)?;
            let columns = ss.sheets[sheet].columns.len();
            if column >= columns {
                return Err(ControlError::ColumnOutsideGrid { column, columns });
            }
            ss.sheets[sheet].set(row, column, typed(&value));
            Ok(json!({"row": row, "column": column}))
        }
        LiveEdit::AppendRow { values } => {
            let at = ss.sheets[sheet].used_rows();
            if at >= ss.sheets[sheet].rows.len() {
                ss.insert_rows(sheet, at, 1);
            }
            set_typed(ss, sheet, at, &values);
            Ok(json!({"row": at}))
        }
        LiveEdit::AddColumn { header } => {
            let col = ss.sheets[sheet].rows.first().map_or(0, |r| r.cells.len());
            if col >= ss.sheets[sheet].columns.len() {
                ss.insert_columns(sheet, col, 1);
            }
            ss.sheets[sheet].set(0, col, Entry::text(header));
            Ok(json!({"column": col}))
        }
        LiveEdit::RenameHeader { from, to } => {
            let col = header_index_in(ss, sheet, &from)?;
            ss.sheets[sheet].set(0, col, Entry::text(to));
            Ok(json!({"column": col}))
        }
        LiveEdit::CopyRow { from, to } => {
            check_row(ss, sheet, from, false)?;
            check_row(ss, sheet, to, true)?;
            let cells = ss.sheets[sheet].rows[from].cells.clone();
            ss.insert_rows(sheet, to, 1);
            for (c, entry) in cells.into_iter().enumerate() {
                ss.sheets[sheet].set(to, c, entry);
            }
            Ok(json!({"row": to}))
        }
        LiveEdit::MoveRow { from, to } => {
            check_row(ss, sheet, from, false)?;
            check_row(ss, sheet, to, false)?;
            let row = ss.sheets[sheet].rows.remove(from);
            ss.sheets[sheet].rows.insert(to, row);
            Ok(json!({"row": to}))
        }
        LiveEdit::CutPasteRow { from, to } => {
            check_row(ss, sheet, from, false)?;
            check_row(ss, sheet, to, false)?;
            if from != to {
                let source = Rect { sheet, r0: from, r1: from + 1, c0: 0, c1: ss.sheets[sheet].columns.len() };
                ss.cut_paste(source, Coordinate { sheet, row: to, col: 0 }, false, mover.cut_paste());
            }
            Ok(json!({"row": to}))
        }
        LiveEdit::DragRows { from, count, destination } => {
            let (rows, end) = (ss.sheets[sheet].rows.len(), from.saturating_add(count));
            if count == 0 || end > rows || destination > rows {
                return Err(ControlError::DragOutsideGrid { from, end, destination, rows });
            }
            ss.move_rows(sheet, from, end, destination);
            let landed = if destination > end {
                destination - count
            } else if destination < from {
                destination
            } else {
                from
            };
            Ok(json!({"row": landed}))
        }
    }
}

impl GoogleEmulator {
    /// Runs `f` on a tab of the starting spreadsheet and records the change (Drive `version`).
    fn edit<T>(
        &self,
        tab: &str,
        f: impl FnOnce(&mut Spreadsheet, usize, &mut Mover) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let id = self.spreadsheet_id.clone();
        let ss = state.spreadsheets.get_mut(&id).ok_or(ControlError::NoSuchSpreadsheet(id))?;
        let sheet = ss.sheet_by_title(tab).ok_or_else(|| ControlError::NoSuchTab(tab.to_owned()))?;
        let out = f(ss, sheet, &mut state.mover)?;
        ss.touch();
        Ok(out)
    }

    /// Runs `f` on a tab of the starting spreadsheet without changing it.
    fn view<T>(
        &self,
        tab: &str,
        f: impl FnOnce(&Spreadsheet, usize) -> Result<T, ControlError>,
    ) -> Result<T, ControlError> {
        let state = self.lock();
        let ss = state
            .spreadsheets
            .get(&self.spreadsheet_id)
            .ok_or_else(|| ControlError::NoSuchSpreadsheet(self.spreadsheet_id.clone()))?;
        let sheet = ss.sheet_by_title(tab).ok_or_else(|| ControlError::NoSuchTab(tab.to_owned()))?;
        f(ss, sheet)
    }

    /// Replaces (or creates) a tab from CSV, every field typed as a user would type it.
    pub fn load_csv(&self, tab: &str, csv_text: &str) -> Result<(), ControlError> {
        let rows = csv::parse(csv_text)?;
        let mut state = self.lock();
        let id = self.spreadsheet_id.clone();
        let ss = state.spreadsheets.get_mut(&id).ok_or(ControlError::NoSuchSpreadsheet(id))?;
        let sheet = match ss.sheet_by_title(tab) {
            Some(sheet) => sheet,
            None => ss.add_sheet(tab, None, DEFAULT_ROWS, DEFAULT_COLUMNS),
        };
        load_rows(ss, sheet, rows);
        ss.touch();
        Ok(())
    }

    /// Adds another spreadsheet, as Drive's "create" does: one tab `Sheet1`, 1000 × 26.
    pub fn add_spreadsheet(&self, id: &str, title: &str) -> Result<(), ControlError> {
        let mut state = self.lock();
        if state.spreadsheets.contains_key(id) {
            return Err(ControlError::SpreadsheetExists(id.to_owned()));
        }
        let mut ss = Spreadsheet::new(id, title);
        ss.add_sheet("Sheet1", Some(0), DEFAULT_ROWS, DEFAULT_COLUMNS);
        state.spreadsheets.insert(id.to_owned(), ss);
        Ok(())
    }

    /// Every spreadsheet as JSON: properties, Drive version, each tab's values (as
    /// `UNFORMATTED_VALUE`, ragged), its formulas by A1 cell, and developer metadata.
    pub fn dump(&self) -> Value {
        let state = self.lock();
        let spreadsheets: Vec<Value> = state
            .spreadsheets
            .values()
            .map(|ss| {
                let sheets: Vec<Value> = ss
                    .sheets
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let rect = Rect { sheet: i, r0: 0, r1: s.used_rows(), c0: 0, c1: s.used_columns() };
                        let mut formulas = serde_json::Map::new();
                        for (r, row) in s.rows.iter().enumerate() {
                            for (c, entry) in row.cells.iter().enumerate() {
                                if let Entry::Formula { formula } = entry {
                                    formulas.insert(a1::cell_name(r, c), json!(formula));
                                }
                            }
                        }
                        json!({
                            "sheetId": s.sheet_id,
                            "title": s.title,
                            "rowCount": s.rows.len(),
                            "columnCount": s.columns.len(),
                            "values": values::values_of(ss, &rect, UNFORMATTED).unwrap_or_default(),
                            "formulas": formulas,
                        })
                    })
                    .collect();
                let metadata: Vec<Value> = ss.metadata.values().filter_map(|m| m.to_json(ss)).collect();
                json!({
                    "spreadsheetId": ss.id,
                    "title": ss.title,
                    "shared": ss.shared,
                    "version": ss.version.to_string(),
                    "modifiedTime": ss.modified_time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    "sheets": sheets,
                    "developerMetadata": metadata,
                })
            })
            .collect();
        json!({ "spreadsheets": spreadsheets })
    }

    /// A tab's rows up to the last non-empty one, each padded to the widest used column, as
    /// `UNFORMATTED_VALUE` cells (dates as serial numbers). Row 0 is the header.
    pub fn rows(&self, tab: &str) -> Result<Vec<Vec<Cell>>, ControlError> {
        self.view(tab, |ss, sheet| {
            let s = &ss.sheets[sheet];
            let width = s.used_columns();
            Ok((0..s.used_rows()).map(|r| (0..width).map(|c| cell_at(ss, sheet, r, c)).collect()).collect())
        })
    }

    /// One cell as `UNFORMATTED_VALUE`.
    pub fn cell(&self, tab: &str, row: usize, col: usize) -> Result<Cell, ControlError> {
        self.view(tab, |ss, sheet| Ok(cell_at(ss, sheet, row, col)))
    }

    /// One cell as `FORMATTED_VALUE` (what a person sees).
    pub fn formatted_cell(&self, tab: &str, row: usize, col: usize) -> Result<String, ControlError> {
        self.view(tab, |ss, sheet| {
            let render = Render { value: ValueRender::Formatted, ..Render::default() };
            Ok(values::render_cell(ss, sheet, row, col, render)
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default())
        })
    }

    /// The 0-based column whose header (row 0) is `name` (exact match first, then ignoring case).
    pub fn header_index(&self, tab: &str, name: &str) -> Result<usize, ControlError> {
        self.view(tab, |ss, sheet| header_index_in(ss, sheet, name))
    }

    /// Applies one live edit (the HTTP control API's `POST …/edits`).
    pub fn apply_edit(&self, tab: &str, edit: LiveEdit) -> Result<Value, ControlError> {
        self.edit(tab, |ss, sheet, mover| apply_edit(ss, sheet, edit, mover))
    }

    /// Makes `edit` on `tab` in the instant before the next write of cell values is applied (a
    /// `values:batchUpdate`, or a `spreadsheets.batchUpdate` with `updateCells`): a row that
    /// moves between qbsync locating it and writing to it, made to happen on cue. Edits already
    /// staged go first: this one waits for the write after theirs.
    pub fn edit_before_next_cell_write(&self, tab: &str, edit: LiveEdit) {
        self.edits_before_next_cell_write(tab, vec![edit]);
    }

    /// Makes several `edits` on `tab`, in order, in the instant before the next write of cell
    /// values is applied: a person quick enough to move a row, change it and delete another
    /// while one write is on its way. Called again before that write, it stages edits for the
    /// write after (and so on): rows that move under one write and again under the next.
    pub fn edits_before_next_cell_write(&self, tab: &str, edits: Vec<LiveEdit>) {
        self.lock().before_cell_write.push_back((tab.to_owned(), edits));
    }

    /// The edits [`Self::edits_before_next_cell_write`] left for this write, made now.
    pub(super) fn edit_before_cell_write(&self) -> Result<(), ControlError> {
        let Some((tab, edits)) = self.lock().before_cell_write.pop_front() else { return Ok(()) };
        for edit in edits {
            self.apply_edit(&tab, edit)?;
        }
        Ok(())
    }

    /// Inserts `count` blank rows before row `at`.
    pub fn insert_rows(&self, tab: &str, at: usize, count: usize) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::InsertRows { at, count }).map(drop)
    }

    /// Inserts one row of typed values before row `at`.
    pub fn insert_row(&self, tab: &str, at: usize, values: &[&str]) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::InsertRow { at, values: owned(values) }).map(drop)
    }

    /// Deletes row `row` (its developer metadata goes with it).
    pub fn delete_row(&self, tab: &str, row: usize) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::DeleteRow { row }).map(drop)
    }

    /// Sorts the data rows (all but the header) by the column headed `column`; blank rows last.
    /// Row metadata obeys the sort switch ([`GoogleEmulator::set_metadata_moves`]).
    pub fn sort_rows(&self, tab: &str, column: &str, order: SortOrder) -> Result<(), ControlError> {
        let edit = LiveEdit::SortRows { column: column.to_owned(), descending: order == SortOrder::Descending };
        self.apply_edit(tab, edit).map(drop)
    }

    /// Types `value` into one cell.
    pub fn set_cell(&self, tab: &str, row: usize, col: usize, value: &str) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::SetCell { row, column: col, value: value.to_owned() }).map(drop)
    }

    /// Types a row after the last non-empty one; returns its index.
    pub fn append_row(&self, tab: &str, values: &[&str]) -> Result<usize, ControlError> {
        let out = self.apply_edit(tab, LiveEdit::AppendRow { values: owned(values) })?;
        Ok(index_of(&out, "row"))
    }

    /// Adds a column with this header after the last used header; returns its index.
    pub fn add_column(&self, tab: &str, header: &str) -> Result<usize, ControlError> {
        let out = self.apply_edit(tab, LiveEdit::AddColumn { header: header.to_owned() })?;
        Ok(index_of(&out, "column"))
    }

    /// Renames a header cell.
    pub fn rename_header(&self, tab: &str, from: &str, to: &str) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::RenameHeader { from: from.to_owned(), to: to.to_owned() }).map(drop)
    }

    /// Copies row `from`'s values — not its developer metadata — into a new row inserted before `to`.
    pub fn copy_row(&self, tab: &str, from: usize, to: usize) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::CopyRow { from, to }).map(drop)
    }

    /// Moves row `from` so that it ends up at index `to`, metadata included (a drag of its header).
    pub fn move_row(&self, tab: &str, from: usize, to: usize) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::MoveRow { from, to }).map(drop)
    }

    /// Cuts row `from`'s cells and pastes them onto row `to` (overwriting it; row `from` is left
    /// blank). Row metadata obeys the cut-and-paste switch ([`GoogleEmulator::set_metadata_moves`]).
    pub fn cut_paste_row(&self, tab: &str, from: usize, to: usize) -> Result<(), ControlError> {
        self.apply_edit(tab, LiveEdit::CutPasteRow { from, to }).map(drop)
    }

    /// Drags `count` rows from `from` so that they land before row `destination` (counted before
    /// the move, as `moveDimension`), metadata included; returns where the first of them is now.
    pub fn drag_rows(&self, tab: &str, from: usize, count: usize, destination: usize) -> Result<usize, ControlError> {
        let out = self.apply_edit(tab, LiveEdit::DragRows { from, count, destination })?;
        Ok(index_of(&out, "row"))
    }

    /// Every developer metadata entry of the starting spreadsheet with its current position.
    pub fn developer_metadata(&self) -> Vec<MetadataView> {
        let state = self.lock();
        let Some(ss) = state.spreadsheets.get(&self.spreadsheet_id) else { return Vec::new() };
        ss.metadata
            .values()
            .filter_map(|m| {
                let location = m.anchor.locate(ss)?;
                let (tab, row, column) = match location {
                    Location::Spreadsheet => (None, None, None),
                    Location::Sheet { sheet } => (Some(sheet), None, None),
                    Location::Row { sheet, index } => (Some(sheet), Some(index), None),
                    Location::Column { sheet, index } => (Some(sheet), None, Some(index)),
                };
                Some(MetadataView {
                    id: m.id,
                    key: m.key.clone(),
                    value: m.value.clone(),
                    visibility: m.visibility.as_str().to_owned(),
                    tab: tab.map(|s| ss.sheets[s].title.clone()),
                    row,
                    column,
                })
            })
            .collect()
    }

    /// `false` makes the starting spreadsheet "not shared" with the service account: Sheets
    /// answers 403 PERMISSION_DENIED and Drive 404.
    pub fn set_shared(&self, shared: bool) {
        let id = self.spreadsheet_id.clone();
        // The starting spreadsheet always exists.
        let _ = self.set_shared_for(&id, shared);
    }

    /// [`GoogleEmulator::set_shared`] for any spreadsheet.
    pub fn set_shared_for(&self, id: &str, shared: bool) -> Result<(), ControlError> {
        let mut state = self.lock();
        let ss = state.spreadsheets.get_mut(id).ok_or_else(|| ControlError::NoSuchSpreadsheet(id.to_owned()))?;
        ss.shared = shared;
        Ok(())
    }

    /// Drive's `version` of the starting spreadsheet.
    pub fn drive_version(&self) -> i64 {
        self.lock().spreadsheets.get(&self.spreadsheet_id).map_or(0, |ss| ss.version)
    }
}

fn owned(values: &[&str]) -> Vec<String> {
    values.iter().map(|v| (*v).to_owned()).collect()
}

fn index_of(out: &Value, key: &str) -> usize {
    out.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok()).unwrap_or_default()
}

/// `/_sandbox/sheets/…`.
pub fn router() -> Router<Arc<GoogleEmulator>> {
    Router::new()
        .route("/_sandbox/sheets", get(dump))
        .route("/_sandbox/sheets/service_account.json", get(service_account))
        .route("/_sandbox/sheets/tabs/{tab}", put(load))
        .route("/_sandbox/sheets/tabs/{tab}/rows", get(rows))
        .route("/_sandbox/sheets/tabs/{tab}/edits", post(edit))
        .route("/_sandbox/sheets/metadata", get(metadata))
        .route("/_sandbox/sheets/metadata_moves", get(get_metadata_moves).put(put_metadata_moves))
        .route("/_sandbox/sheets/shared", put(shared))
        .route("/_sandbox/sheets/tokens", post(issue_token))
        .route("/_sandbox/sheets/tokens/expire", post(expire_tokens))
        .route("/_sandbox/sheets/quota", get(get_quota).put(put_quota))
}

impl IntoResponse for ControlError {
    fn into_response(self) -> Response {
        let status = match self {
            ControlError::NoSuchSpreadsheet(_) | ControlError::NoSuchTab(_) | ControlError::NoSuchColumn { .. } => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::BAD_REQUEST,
        };
        (status, Json(json!({"error": self.to_string()}))).into_response()
    }
}

async fn dump(State(emulator): State<Arc<GoogleEmulator>>) -> Json<Value> {
    Json(emulator.dump())
}

async fn service_account(State(emulator): State<Arc<GoogleEmulator>>) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], emulator.service_account_json()).into_response()
}

/// Body: the CSV text.
async fn load(State(emulator): State<Arc<GoogleEmulator>>, Path(tab): Path<String>, body: Bytes) -> Response {
    match emulator.load_csv(&tab, &String::from_utf8_lossy(&body)) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn rows(State(emulator): State<Arc<GoogleEmulator>>, Path(tab): Path<String>) -> Response {
    match emulator.rows(&tab) {
        Ok(rows) => {
            let rows: Vec<Vec<Value>> = rows.iter().map(|r| r.iter().map(Cell::to_json).collect()).collect();
            Json(rows).into_response()
        }
        Err(error) => error.into_response(),
    }
}

async fn edit(
    State(emulator): State<Arc<GoogleEmulator>>,
    Path(tab): Path<String>,
    Json(edit): Json<LiveEdit>,
) -> Response {
    match emulator.apply_edit(&tab, edit) {
        Ok(out) => Json(out).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn metadata(State(emulator): State<Arc<GoogleEmulator>>) -> Json<Vec<MetadataView>> {
    Json(emulator.developer_metadata())
}

async fn get_metadata_moves(State(emulator): State<Arc<GoogleEmulator>>) -> Json<MetadataMoves> {
    Json(emulator.metadata_moves())
}

/// `{"sort": "follow"|"stay"|"mixed", "cut_paste": …}`, each field optional (an absent one is
/// left as it is); answers the switches now in force.
#[derive(Deserialize)]
struct MetadataMovesPatch {
    sort: Option<super::MetadataOnMove>,
    cut_paste: Option<super::MetadataOnMove>,
}

async fn put_metadata_moves(
    State(emulator): State<Arc<GoogleEmulator>>,
    Json(patch): Json<MetadataMovesPatch>,
) -> Json<MetadataMoves> {
    let mut state = emulator.lock();
    let mut moves = state.mover.switches();
    moves.sort = patch.sort.unwrap_or(moves.sort);
    moves.cut_paste = patch.cut_paste.unwrap_or(moves.cut_paste);
    state.mover.set(moves);
    Json(moves)
}

#[derive(Deserialize)]
struct Shared {
    shared: bool,
}

async fn shared(State(emulator): State<Arc<GoogleEmulator>>, Json(body): Json<Shared>) -> StatusCode {
    emulator.set_shared(body.shared);
    StatusCode::NO_CONTENT
}

async fn issue_token(State(emulator): State<Arc<GoogleEmulator>>) -> Json<Value> {
    Json(json!({"access_token": emulator.issue_token()}))
}

async fn expire_tokens(State(emulator): State<Arc<GoogleEmulator>>) -> StatusCode {
    emulator.expire_tokens();
    StatusCode::NO_CONTENT
}

/// Quota settings over HTTP: `{"enforce": bool, "window_ms": n, "per_user": n, "per_project": n}`,
/// every field optional.
#[derive(Deserialize)]
struct QuotaSettings {
    enforce: Option<bool>,
    window_ms: Option<u64>,
    per_user: Option<u32>,
    per_project: Option<u32>,
}

async fn get_quota(State(emulator): State<Arc<GoogleEmulator>>) -> Json<Value> {
    let config = emulator.quota();
    Json(json!({
        "enforce": emulator.quotas.enabled(),
        "window_ms": config.window.as_millis(),
        "per_user": config.per_user,
        "per_project": config.per_project,
    }))
}

async fn put_quota(State(emulator): State<Arc<GoogleEmulator>>, Json(settings): Json<QuotaSettings>) -> StatusCode {
    if let Some(enforce) = settings.enforce {
        emulator.set_enforce_limits(enforce);
    }
    let mut config = emulator.quota();
    if let Some(ms) = settings.window_ms {
        config.window = std::time::Duration::from_millis(ms);
    }
    config.per_user = settings.per_user.unwrap_or(config.per_user);
    config.per_project = settings.per_project.unwrap_or(config.per_project);
    emulator.set_quota(config);
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::google::developer_metadata::{Anchor, DeveloperMetadata, Visibility};
    use crate::sandbox::google::moves::MetadataOnMove;

    fn sheet() -> Spreadsheet {
        let mut ss = Spreadsheet::new("id", "t");
        ss.add_sheet("inv_tbl", Some(0), 4, 3);
        load_rows(&mut ss, 0, csv::parse("invoice,amount\nA,2\nB,1\n").unwrap_or_default());
        ss
    }

    fn mover(sort: MetadataOnMove, cut_paste: MetadataOnMove) -> Mover {
        Mover::new(MetadataMoves { sort, cut_paste }, 1)
    }

    fn stay() -> Mover {
        mover(MetadataOnMove::Stay, MetadataOnMove::Stay)
    }

    /// The rows a row metadata entry on each of `rows` is on after `edit`, in the order given.
    fn anchors_after(ss: &mut Spreadsheet, rows: &[usize], edit: LiveEdit, mover: &mut Mover) -> Vec<Option<usize>> {
        for (i, &row) in rows.iter().enumerate() {
            let id = i32::try_from(i).unwrap() + 1;
            let anchor = Anchor::Row { sheet_id: 0, uid: ss.sheets[0].rows[row].uid };
            let m = DeveloperMetadata { id, key: "k".into(), value: None, visibility: Visibility::Document, anchor };
            ss.metadata.insert(id, m);
        }
        apply_edit(ss, 0, edit, mover).unwrap();
        (1..=rows.len())
            .map(|id| match ss.metadata[&i32::try_from(id).unwrap()].anchor.locate(ss) {
                Some(Location::Row { index, .. }) => Some(index),
                _ => None,
            })
            .collect()
    }

    fn column_a(ss: &Spreadsheet) -> Vec<Cell> {
        (0..ss.sheets[0].used_rows()).map(|r| cell_at(ss, 0, r, 0)).collect()
    }

    #[test]
    fn copy_row_copies_values_into_a_new_row() {
        let mut ss = sheet();
        apply_edit(&mut ss, 0, LiveEdit::CopyRow { from: 1, to: 3 }, &mut stay()).unwrap();
        assert_eq!(cell_at(&ss, 0, 3, 0), Cell::Text("A".into()));
        assert_ne!(ss.sheets[0].rows[3].uid, ss.sheets[0].rows[1].uid);
    }

    #[test]
    fn sort_keeps_the_header() {
        let mut ss = sheet();
        apply_edit(&mut ss, 0, LiveEdit::SortRows { column: "amount".into(), descending: false }, &mut stay()).unwrap();
        assert_eq!(cell_at(&ss, 0, 0, 0), Cell::Text("invoice".into()));
        assert_eq!(cell_at(&ss, 0, 1, 0), Cell::Text("B".into()));
    }

    #[test]
    fn a_sort_leaves_row_metadata_on_its_physical_row_unless_told_to_carry_it() {
        let sort = || LiveEdit::SortRows { column: "amount".into(), descending: false };
        let mut ss = sheet();
        assert_eq!(anchors_after(&mut ss, &[1, 2], sort(), &mut stay()), vec![Some(1), Some(2)]);
        assert_eq!(cell_at(&ss, 0, 1, 0), Cell::Text("B".into()), "the values moved");
        let mut ss = sheet();
        let mut follow = mover(MetadataOnMove::Follow, MetadataOnMove::Stay);
        assert_eq!(anchors_after(&mut ss, &[1, 2], sort(), &mut follow), vec![Some(2), Some(1)]);
    }

    #[test]
    fn cut_and_paste_blanks_the_source_overwrites_the_destination_and_obeys_its_own_switch() {
        let cut = || LiveEdit::CutPasteRow { from: 1, to: 3 };
        let mut ss = sheet();
        ss.sheets[0].set(3, 2, typed("old"));
        // A sort switch set to follow does not govern cut and paste.
        let mut sorts_follow = mover(MetadataOnMove::Follow, MetadataOnMove::Stay);
        assert_eq!(anchors_after(&mut ss, &[1, 3], cut(), &mut sorts_follow), vec![Some(1), Some(3)]);
        let a = Cell::Text("A".into());
        assert_eq!(column_a(&ss), vec![Cell::Text("invoice".into()), Cell::Empty, Cell::Text("B".into()), a]);
        assert!(ss.sheets[0].rows[1].cells.is_empty(), "the source row is blank");
        assert_eq!(cell_at(&ss, 0, 3, 2), Cell::Empty, "the destination's old values are gone");
        assert_eq!(cell_at(&ss, 0, 3, 1), Cell::Number("2".into()));

        let mut ss = sheet();
        let mut follow = mover(MetadataOnMove::Stay, MetadataOnMove::Follow);
        assert_eq!(
            anchors_after(&mut ss, &[1, 3], cut(), &mut follow),
            vec![Some(3), Some(3)],
            "both on the pasted row"
        );
    }

    #[test]
    fn a_drag_moves_the_rows_with_their_metadata_whatever_the_switches() {
        let mut ss = sheet();
        let drag = LiveEdit::DragRows { from: 1, count: 1, destination: 3 };
        assert_eq!(anchors_after(&mut ss, &[1, 2], drag, &mut stay()), vec![Some(2), Some(1)]);
        assert_eq!(cell_at(&ss, 0, 2, 0), Cell::Text("A".into()));
        let out =
            apply_edit(&mut ss, 0, LiveEdit::DragRows { from: 2, count: 1, destination: 1 }, &mut stay()).unwrap();
        assert_eq!(out, json!({"row": 1}));
        let outside = apply_edit(&mut ss, 0, LiveEdit::DragRows { from: 999, count: 2, destination: 0 }, &mut stay());
        assert!(matches!(outside, Err(ControlError::DragOutsideGrid { .. })));
    }

    #[test]
    fn live_edits_have_a_json_form() {
        let edit: LiveEdit = serde_json::from_value(json!({"op": "insert_rows", "at": 5})).unwrap();
        assert_eq!(edit, LiveEdit::InsertRows { at: 5, count: 1 });
        let edit: LiveEdit = serde_json::from_value(json!({"op": "drag_rows", "from": 2, "destination": 7})).unwrap();
        assert_eq!(edit, LiveEdit::DragRows { from: 2, count: 1, destination: 7 });
        let edit: LiveEdit = serde_json::from_value(json!({"op": "cut_paste_row", "from": 2, "to": 7})).unwrap();
        assert_eq!(edit, LiveEdit::CutPasteRow { from: 2, to: 7 });
    }
}
