//! The in-memory spreadsheet: sheets, their grids, and the structural edits on them.
//!
//! Every row and column carries a stable identity (`uid`) that moves with it through inserts,
//! deletes and moves. Developer metadata anchors to that identity, not to an index, so metadata
//! follows its row where Google documents that it does, and metadata whose row is deleted
//! disappears with it ([`Spreadsheet::prune_metadata`]). Sorts and cut and paste move cell
//! values between rows that stay put; whether row metadata goes with the values is the
//! caller's [`Fate`] (see `moves.rs`).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::a1::{self, ParsedRange, Span};
use super::developer_metadata::{Anchor, DeveloperMetadata};
use super::entry::{Computed, Entry};
use super::error::ApiError;
use super::formula::{self, Grid};
use super::moves::Fate;

/// Size of a sheet Google creates: 1000 rows × 26 columns.
pub const DEFAULT_ROWS: usize = 1000;
pub const DEFAULT_COLUMNS: usize = 26;
/// Google's cap on cells per spreadsheet.
pub const MAX_CELLS: usize = 10_000_000;

/// One spreadsheet file.
#[derive(Clone, Debug)]
pub struct Spreadsheet {
    pub id: String,
    pub title: String,
    pub sheets: Vec<Sheet>,
    pub metadata: BTreeMap<i32, DeveloperMetadata>,
    /// `false` answers every Sheets call 403 (and Drive 404): the file is not shared with the caller.
    pub shared: bool,
    /// Drive's `version`: bumped on every change.
    pub version: i64,
    pub created_time: DateTime<Utc>,
    pub modified_time: DateTime<Utc>,
    next_uid: u64,
    next_sheet_id: i32,
}

/// One tab.
#[derive(Clone, Debug)]
pub struct Sheet {
    pub sheet_id: i32,
    pub title: String,
    /// One per grid row (`rowCount`).
    pub rows: Vec<Row>,
    /// One uid per grid column (`columnCount`).
    pub columns: Vec<u64>,
    pub frozen_rows: usize,
}

/// One grid row: its identity and its cells (trailing empty cells not stored).
#[derive(Clone, Debug)]
pub struct Row {
    pub uid: u64,
    pub cells: Vec<Entry>,
}

/// A resolved rectangle on one sheet: `sheet` is the sheet's position, ends are exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub sheet: usize,
    pub r0: usize,
    pub r1: usize,
    pub c0: usize,
    pub c1: usize,
}

/// One cell of a sheet (Google's `GridCoordinate`): `sheet` is the sheet's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coordinate {
    pub sheet: usize,
    pub row: usize,
    pub col: usize,
}

/// A range as the client wrote it, resolved to a sheet but not yet to the grid.
#[derive(Clone, Debug)]
pub struct Target {
    pub sheet: usize,
    pub span: Span,
    /// The text the client sent, for error messages.
    pub text: String,
}

/// Which way a row ordering goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

static EMPTY: Entry = Entry::Empty;

impl Spreadsheet {
    /// An empty spreadsheet with no sheets.
    pub fn new(id: &str, title: &str) -> Spreadsheet {
        let now = Utc::now();
        Spreadsheet {
            id: id.to_owned(),
            title: title.to_owned(),
            sheets: Vec::new(),
            metadata: BTreeMap::new(),
            shared: true,
            version: 1,
            created_time: now,
            modified_time: now,
            next_uid: 1,
            next_sheet_id: 0,
        }
    }

    /// Adds a tab at the end; returns its position. `sheet_id` `None` picks the next free id.
    pub fn add_sheet(&mut self, title: &str, sheet_id: Option<i32>, rows: usize, cols: usize) -> usize {
        let sheet_id = sheet_id.unwrap_or_else(|| {
            while self.sheets.iter().any(|s| s.sheet_id == self.next_sheet_id) {
                self.next_sheet_id += 1;
            }
            self.next_sheet_id
        });
        let rows = (0..rows).map(|_| Row { uid: self.uid(), cells: Vec::new() }).collect();
        let columns = (0..cols).map(|_| self.uid()).collect();
        self.sheets.push(Sheet { sheet_id, title: title.to_owned(), rows, columns, frozen_rows: 0 });
        self.sheets.len() - 1
    }

    /// A fresh row/column identity.
    pub fn uid(&mut self) -> u64 {
        self.next_uid += 1;
        self.next_uid
    }

    /// Records a change: Drive's `version` goes up and `modifiedTime` moves forward (strictly,
    /// so two changes in one millisecond still differ).
    pub fn touch(&mut self) {
        self.version += 1;
        let now = Utc::now();
        let floor = self.modified_time + chrono::Duration::milliseconds(1);
        self.modified_time = if now > floor { now } else { floor };
    }

    /// The position of the tab with this title: exact match first, then case-insensitive
    /// (A1 references ignore case).
    pub fn sheet_by_title(&self, title: &str) -> Option<usize> {
        self.sheets
            .iter()
            .position(|s| s.title == title)
            .or_else(|| self.sheets.iter().position(|s| s.title.to_lowercase() == title.to_lowercase()))
    }

    pub fn sheet_by_id(&self, sheet_id: i32) -> Option<usize> {
        self.sheets.iter().position(|s| s.sheet_id == sheet_id)
    }

    /// Resolves A1 text to a sheet and a span (not yet checked against the grid).
    pub fn target(&self, text: &str) -> Result<Target, ApiError> {
        let parsed = a1::parse(text).map_err(|()| ApiError::unparsable_range(text))?;
        let ParsedRange { sheet, span, bare_word } = parsed;
        let whole = Span { start_row: 0, start_col: 0, end_row: None, end_col: None };
        let (index, span) = match (sheet, bare_word) {
            (Some(title), _) => (self.sheet_by_title(&title), span.unwrap_or(whole)),
            (None, Some(word)) => match self.sheet_by_title(&word) {
                Some(index) => (Some(index), whole),
                None => (span.and(Some(0)), span.unwrap_or(whole)),
            },
            (None, None) => (None, whole),
        };
        let sheet = index.filter(|i| *i < self.sheets.len()).ok_or_else(|| ApiError::unparsable_range(text))?;
        Ok(Target { sheet, span, text: text.to_owned() })
    }

    /// The rectangle a read covers: unbounded ends stop at the grid's edge; an explicit bound
    /// beyond the grid is an error, as in Sheets.
    pub fn read_rect(&self, target: &Target) -> Result<Rect, ApiError> {
        let sheet = &self.sheets[target.sheet];
        let (rows, cols) = (sheet.rows.len(), sheet.columns.len());
        let span = target.span;
        let r1 = span.end_row.unwrap_or(rows);
        let c1 = span.end_col.unwrap_or(cols);
        if span.start_row >= rows || span.start_col >= cols || r1 > rows || c1 > cols {
            let shown = a1::format_range(
                &sheet.title,
                span.start_row,
                span.start_col,
                r1.max(span.start_row + 1),
                c1.max(span.start_col + 1),
            );
            return Err(grid_limits(&shown, rows, cols));
        }
        Ok(Rect { sheet: target.sheet, r0: span.start_row, r1, c0: span.start_col, c1 })
    }

    /// The rectangle a write of `height` × `width` values covers, starting at the span's
    /// top-left; fails if the values overflow an explicit bound or the grid.
    pub fn write_rect(&self, target: &Target, height: usize, width: usize) -> Result<Rect, ApiError> {
        let sheet = &self.sheets[target.sheet];
        let span = target.span;
        let (r1, c1) = (span.start_row + height.max(1), span.start_col + width.max(1));
        if let Some(end) = span.end_row
            && r1 > end
        {
            return Err(ApiError::invalid_argument(format!(
                "Requested writing within range [{}], but tried writing to row [{}]",
                target.text,
                end + 1
            )));
        }
        if let Some(end) = span.end_col
            && c1 > end
        {
            return Err(ApiError::invalid_argument(format!(
                "Requested writing within range [{}], but tried writing to column [{}]",
                target.text,
                a1::column_letters(end)
            )));
        }
        let (rows, cols) = (sheet.rows.len(), sheet.columns.len());
        if r1 > rows || c1 > cols {
            let shown = a1::format_range(&sheet.title, span.start_row, span.start_col, r1, c1);
            return Err(grid_limits(&shown, rows, cols));
        }
        Ok(Rect { sheet: target.sheet, r0: span.start_row, r1, c0: span.start_col, c1 })
    }

    /// Canonical A1 text of a rectangle.
    pub fn range_text(&self, rect: &Rect) -> String {
        a1::format_range(&self.sheets[rect.sheet].title, rect.r0, rect.c0, rect.r1, rect.c1)
    }

    /// A cell's value, formulas computed.
    pub fn computed(&self, sheet: usize, row: usize, col: usize) -> Computed {
        SheetGrid { sheet: &self.sheets[sheet] }.value_at(row, col, 0)
    }

    /// Drops metadata whose row, column or sheet no longer exists.
    pub fn prune_metadata(&mut self) {
        let sheets = &self.sheets;
        self.metadata.retain(|_, m| match m.anchor {
            Anchor::Spreadsheet => true,
            Anchor::Sheet { sheet_id } => sheets.iter().any(|s| s.sheet_id == sheet_id),
            Anchor::Row { sheet_id, uid } => {
                sheets.iter().find(|s| s.sheet_id == sheet_id).is_some_and(|s| s.rows.iter().any(|r| r.uid == uid))
            }
            Anchor::Column { sheet_id, uid } => {
                sheets.iter().find(|s| s.sheet_id == sheet_id).is_some_and(|s| s.columns.contains(&uid))
            }
        });
    }

    /// Total cells over all sheets.
    pub fn cell_count(&self) -> usize {
        self.sheets.iter().map(|s| s.rows.len() * s.columns.len()).sum()
    }

    /// Inserts `count` blank rows before row `at`.
    pub fn insert_rows(&mut self, sheet: usize, at: usize, count: usize) {
        let new: Vec<Row> = (0..count).map(|_| Row { uid: self.uid(), cells: Vec::new() }).collect();
        self.sheets[sheet].rows.splice(at..at, new);
    }

    /// Inserts `count` blank columns before column `at`.
    pub fn insert_columns(&mut self, sheet: usize, at: usize, count: usize) {
        let new: Vec<u64> = (0..count).map(|_| self.uid()).collect();
        let s = &mut self.sheets[sheet];
        s.columns.splice(at..at, new);
        for row in &mut s.rows {
            if row.cells.len() > at {
                row.cells.splice(at..at, std::iter::repeat_n(Entry::Empty, count));
            }
        }
    }

    /// Deletes rows `start..end` (and the metadata anchored to them).
    pub fn delete_rows(&mut self, sheet: usize, start: usize, end: usize) {
        self.sheets[sheet].rows.drain(start..end);
        self.prune_metadata();
    }

    /// Deletes columns `start..end` (and the metadata anchored to them).
    pub fn delete_columns(&mut self, sheet: usize, start: usize, end: usize) {
        let s = &mut self.sheets[sheet];
        s.columns.drain(start..end);
        for row in &mut s.rows {
            let stop = end.min(row.cells.len());
            if start < stop {
                row.cells.drain(start..stop);
            }
            row.trim();
        }
        self.prune_metadata();
    }

    /// Moves rows `start..end` so they begin at `destination`, counted before the move (the
    /// `moveDimension` convention). A destination inside the source is a no-op.
    pub fn move_rows(&mut self, sheet: usize, start: usize, end: usize, destination: usize) {
        let rows = &mut self.sheets[sheet].rows;
        if (start..=end).contains(&destination) {
            return;
        }
        let moved: Vec<Row> = rows.drain(start..end).collect();
        let at = if destination > end { destination - (end - start) } else { destination };
        rows.splice(at..at, moved);
    }

    /// Moves columns like [`Spreadsheet::move_rows`].
    pub fn move_columns(&mut self, sheet: usize, start: usize, end: usize, destination: usize) {
        if (start..=end).contains(&destination) {
            return;
        }
        let at = if destination > end { destination - (end - start) } else { destination };
        let s = &mut self.sheets[sheet];
        let moved: Vec<u64> = s.columns.drain(start..end).collect();
        s.columns.splice(at..at, moved);
        let width = s.columns.len();
        for row in &mut s.rows {
            row.cells.resize(width, Entry::Empty);
            let cells: Vec<Entry> = row.cells.drain(start..end).collect();
            row.cells.splice(at..at, cells);
            row.trim();
        }
    }

    /// Sets the grid size, dropping cut-off cells and their metadata.
    pub fn resize(&mut self, sheet: usize, rows: usize, cols: usize) {
        let (have_rows, have_cols) = (self.sheets[sheet].rows.len(), self.sheets[sheet].columns.len());
        if rows > have_rows {
            self.insert_rows(sheet, have_rows, rows - have_rows);
        }
        if cols > have_cols {
            self.insert_columns(sheet, have_cols, cols - have_cols);
        }
        let s = &mut self.sheets[sheet];
        s.rows.truncate(rows);
        s.columns.truncate(cols);
        for row in &mut s.rows {
            row.cells.truncate(cols);
            row.trim();
        }
        self.prune_metadata();
    }

    /// Sorts rows `rect.r0..rect.r1` by the given columns. The values inside the rectangle move;
    /// the rows stay where they are, and their metadata moves with the values only when `fate`
    /// says so (Google does not document which; see `moves.rs`).
    pub fn sort_rows(&mut self, rect: Rect, specs: &[(usize, SortOrder)], fate: Fate) {
        let keys: Vec<Vec<Computed>> =
            (rect.r0..rect.r1).map(|r| specs.iter().map(|(c, _)| self.computed(rect.sheet, r, *c)).collect()).collect();
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|&a, &b| {
            specs
                .iter()
                .enumerate()
                .map(|(k, (_, dir))| compare_for_sort(&keys[a][k], &keys[b][k], *dir))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal)
        });
        let s = &mut self.sheets[rect.sheet];
        let originals: Vec<Row> = s.rows[rect.r0..rect.r1].to_vec();
        for (offset, &from) in order.iter().enumerate() {
            let target = &mut s.rows[rect.r0 + offset];
            for c in rect.c0..rect.c1 {
                let value = originals[from].cells.get(c).cloned().unwrap_or_default();
                target.set(c, value);
            }
        }
        if fate == Fate::Follows {
            let moved: Vec<(usize, usize)> =
                order.iter().enumerate().map(|(offset, &from)| (rect.r0 + from, rect.r0 + offset)).collect();
            self.carry_row_metadata((rect.sheet, rect.sheet), &moved);
        }
    }

    /// Cuts the cells of `source` and pastes them with their top-left corner at `to` (sheet
    /// position, row, column): the source is left blank, whatever the destination held is overwritten,
    /// and the rows stay where they are. Row metadata of the source rows moves to the rows the
    /// values landed on only when `fate` says so; the destination rows keep their own either way
    /// (nothing documents that a paste deletes metadata). `values_only` pastes what formulas
    /// compute instead of the formulas (`PASTE_VALUES`). The caller checks that the destination
    /// fits the grid.
    pub fn cut_paste(&mut self, source: Rect, to: Coordinate, values_only: bool, fate: Fate) {
        let Coordinate { sheet, row, col } = to;
        let cut: Vec<Vec<Entry>> = (source.r0..source.r1)
            .map(|r| {
                (source.c0..source.c1)
                    .map(|c| match values_only {
                        true => entry_of(self.computed(source.sheet, r, c)),
                        false => self.sheets[source.sheet].entry(r, c).clone(),
                    })
                    .collect()
            })
            .collect();
        for r in source.r0..source.r1 {
            for c in source.c0..source.c1 {
                self.sheets[source.sheet].set(r, c, Entry::Empty);
            }
        }
        for (dr, cells) in cut.into_iter().enumerate() {
            for (dc, entry) in cells.into_iter().enumerate() {
                self.sheets[sheet].set(row + dr, col + dc, entry);
            }
        }
        if fate == Fate::Follows {
            let moved: Vec<(usize, usize)> = (source.r0..source.r1).map(|r| (r, row + r - source.r0)).collect();
            self.carry_row_metadata((source.sheet, sheet), &moved);
        }
    }

    /// Re-anchors the row metadata of each row `from` of sheet `sheets.0` to row `to` of sheet
    /// `sheets.1`, all at once (so a permutation carries every entry exactly once). The rows
    /// themselves do not move.
    fn carry_row_metadata(&mut self, sheets: (usize, usize), moved: &[(usize, usize)]) {
        let (from_sheet, to_sheet) = (&self.sheets[sheets.0], &self.sheets[sheets.1]);
        let (from_id, to_id) = (from_sheet.sheet_id, to_sheet.sheet_id);
        let remap: BTreeMap<u64, u64> = moved
            .iter()
            .filter_map(|&(from, to)| Some((from_sheet.rows.get(from)?.uid, to_sheet.rows.get(to)?.uid)))
            .collect();
        for m in self.metadata.values_mut() {
            if let Anchor::Row { sheet_id, uid } = m.anchor
                && sheet_id == from_id
                && let Some(&to) = remap.get(&uid)
            {
                m.anchor = Anchor::Row { sheet_id: to_id, uid: to };
            }
        }
    }

    /// `spreadsheets.get` (no grid data), in the shape of the recorded cassettes.
    pub fn to_api_json(&self, base_url: &str) -> Value {
        let sheets: Vec<Value> = self
            .sheets
            .iter()
            .enumerate()
            .map(|(index, s)| {
                let mut grid = json!({"rowCount": s.rows.len(), "columnCount": s.columns.len()});
                if s.frozen_rows > 0 {
                    grid["frozenRowCount"] = json!(s.frozen_rows);
                }
                let mut sheet = json!({"properties": {
                    "sheetId": s.sheet_id, "title": s.title, "index": index, "sheetType": "GRID", "gridProperties": grid,
                }});
                let metadata: Vec<Value> = self
                    .metadata
                    .values()
                    .filter(|m| m.anchor.sheet_id() == Some(s.sheet_id))
                    .filter_map(|m| m.to_json(self))
                    .collect();
                if !metadata.is_empty() {
                    sheet["developerMetadata"] = Value::Array(metadata);
                }
                sheet
            })
            .collect();
        let mut out = json!({
            "spreadsheetId": self.id,
            "properties": {
                "title": self.title,
                "locale": "en_US",
                "autoRecalc": "ON_CHANGE",
                "timeZone": "Etc/GMT",
                "defaultFormat": default_format(),
                "spreadsheetTheme": spreadsheet_theme(),
            },
            "sheets": sheets,
        });
        let top: Vec<Value> = self
            .metadata
            .values()
            .filter(|m| matches!(m.anchor, Anchor::Spreadsheet))
            .filter_map(|m| m.to_json(self))
            .collect();
        if !top.is_empty() {
            out["developerMetadata"] = Value::Array(top);
        }
        out["spreadsheetUrl"] = json!(format!("{base_url}spreadsheets/d/{}/edit", self.id));
        out
    }
}

impl Sheet {
    pub fn entry(&self, row: usize, col: usize) -> &Entry {
        self.rows.get(row).and_then(|r| r.cells.get(col)).unwrap_or(&EMPTY)
    }

    pub fn set(&mut self, row: usize, col: usize, entry: Entry) {
        if let Some(r) = self.rows.get_mut(row) {
            r.set(col, entry);
        }
    }

    /// One past the last row holding anything.
    pub fn used_rows(&self) -> usize {
        self.rows.iter().rposition(|r| !r.cells.is_empty()).map_or(0, |i| i + 1)
    }

    /// One past the last column holding anything.
    pub fn used_columns(&self) -> usize {
        self.rows.iter().map(|r| r.cells.len()).max().unwrap_or(0)
    }
}

impl Row {
    pub fn set(&mut self, col: usize, entry: Entry) {
        if col >= self.cells.len() {
            if entry.is_empty() {
                return;
            }
            self.cells.resize(col + 1, Entry::Empty);
        }
        self.cells[col] = entry;
        self.trim();
    }

    fn trim(&mut self) {
        while self.cells.last().is_some_and(Entry::is_empty) {
            self.cells.pop();
        }
    }
}

/// Formula evaluation over one sheet.
struct SheetGrid<'a> {
    sheet: &'a Sheet,
}

impl Grid for SheetGrid<'_> {
    fn value_at(&self, row: usize, col: usize, depth: u32) -> Computed {
        match self.sheet.entry(row, col) {
            Entry::Empty => Computed::Empty,
            Entry::Text { text } => Computed::Text(text.clone()),
            Entry::Number { value, format } => Computed::Number(*value, *format),
            Entry::Bool { value } => Computed::Bool(*value),
            Entry::Formula { formula } => formula::evaluate(formula, self, depth),
        }
    }
}

/// Sheets' sort order: numbers, then text (case-insensitive), then booleans, then errors;
/// blanks always last, whichever the direction.
fn compare_for_sort(a: &Computed, b: &Computed, order: SortOrder) -> Ordering {
    fn rank(c: &Computed) -> u8 {
        match c {
            Computed::Number(..) => 0,
            Computed::Text(_) => 1,
            Computed::Bool(_) => 2,
            Computed::Error(_) => 3,
            Computed::Empty => 4,
        }
    }
    let (ra, rb) = (rank(a), rank(b));
    if ra == 4 || rb == 4 {
        return ra.cmp(&rb);
    }
    let natural = ra.cmp(&rb).then_with(|| match (a, b) {
        (Computed::Number(x, _), Computed::Number(y, _)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (Computed::Text(x), Computed::Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Computed::Bool(x), Computed::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    });
    match order {
        SortOrder::Ascending => natural,
        SortOrder::Descending => natural.reverse(),
    }
}

/// A computed value as a literal entry (what `PASTE_VALUES` leaves behind).
fn entry_of(value: Computed) -> Entry {
    match value {
        Computed::Empty => Entry::Empty,
        Computed::Text(text) => Entry::text(text),
        Computed::Number(value, format) => Entry::Number { value, format },
        Computed::Bool(value) => Entry::Bool { value },
        Computed::Error(error) => Entry::text(error),
    }
}

pub(super) fn grid_limits(range: &str, rows: usize, cols: usize) -> ApiError {
    ApiError::invalid_argument(format!("Range ({range}) exceeds grid limits. Max rows: {rows}, max columns: {cols}"))
}

/// `properties.defaultFormat` exactly as the recorded `spreadsheets.get` answers carry it.
fn default_format() -> Value {
    json!({
        "backgroundColor": {"red": 1, "green": 1, "blue": 1},
        "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
        "verticalAlignment": "BOTTOM",
        "wrapStrategy": "OVERFLOW_CELL",
        "textFormat": {
            "foregroundColor": {},
            "fontFamily": "arial,sans,sans-serif",
            "fontSize": 10,
            "bold": false,
            "italic": false,
            "strikethrough": false,
            "underline": false,
            "foregroundColorStyle": {"rgbColor": {}}
        },
        "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}}
    })
}

/// `properties.spreadsheetTheme` as recorded.
fn spreadsheet_theme() -> Value {
    let color = |red: f64, green: f64, blue: f64| json!({"rgbColor": {"red": red, "green": green, "blue": blue}});
    json!({
        "primaryFontFamily": "Arial",
        "themeColors": [
            {"colorType": "TEXT", "color": {"rgbColor": {}}},
            {"colorType": "BACKGROUND", "color": {"rgbColor": {"red": 1, "green": 1, "blue": 1}}},
            {"colorType": "ACCENT1", "color": color(0.25882354, 0.52156866, 0.95686275)},
            {"colorType": "ACCENT2", "color": color(0.91764706, 0.2627451, 0.20784314)},
            {"colorType": "ACCENT3", "color": color(0.9843137, 0.7372549, 0.015686275)},
            {"colorType": "ACCENT4", "color": color(0.20392157, 0.65882355, 0.3254902)},
            {"colorType": "ACCENT5", "color": {"rgbColor": {"red": 1, "green": 0.42745098, "blue": 0.003921569}}},
            {"colorType": "ACCENT6", "color": color(0.27450982, 0.7411765, 0.7764706)},
            {"colorType": "LINK", "color": color(0.06666667, 0.33333334, 0.8)}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::google::developer_metadata::{Location, Visibility};
    use crate::sandbox::google::entry::typed;

    fn sheet_with(values: &[&[&str]]) -> Spreadsheet {
        let mut ss = Spreadsheet::new("id", "t");
        ss.add_sheet("Sheet1", None, 10, 4);
        for (r, row) in values.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ss.sheets[0].set(r, c, typed(v));
            }
        }
        ss
    }

    fn column_a(ss: &Spreadsheet) -> Vec<Computed> {
        (0..ss.sheets[0].used_rows()).map(|r| ss.computed(0, r, 0)).collect()
    }

    #[test]
    fn ranges_resolve_and_clamp() {
        let ss = sheet_with(&[]);
        let rect = |t: &str| ss.target(t).and_then(|t| ss.read_rect(&t));
        assert_eq!(rect("Sheet1!A5:B").unwrap(), Rect { sheet: 0, r0: 4, r1: 10, c0: 0, c1: 2 });
        assert_eq!(rect("A1:B2").unwrap(), Rect { sheet: 0, r0: 0, r1: 2, c0: 0, c1: 2 });
        assert_eq!(rect("sheet1").unwrap(), Rect { sheet: 0, r0: 0, r1: 10, c0: 0, c1: 4 });
        assert!(rect("Nope!A1").unwrap_err().message.starts_with("Unable to parse range"));
        assert!(rect("Sheet1!A11").unwrap_err().message.contains("exceeds grid limits. Max rows: 10, max columns: 4"));
        let target = ss.target("Sheet1!A1:B1").unwrap();
        assert!(ss.write_rect(&target, 1, 3).unwrap_err().message.contains("tried writing to column [C]"));
        assert!(ss.write_rect(&target, 2, 2).unwrap_err().message.contains("tried writing to row [2]"));
    }

    /// Puts one row metadata entry on each of `rows`; their ids are 1, 2, ….
    fn anchor_rows(ss: &mut Spreadsheet, sheet: usize, rows: &[usize]) {
        for &row in rows {
            let id = i32::try_from(ss.metadata.len()).unwrap() + 1;
            let anchor = Anchor::Row { sheet_id: ss.sheets[sheet].sheet_id, uid: ss.sheets[sheet].rows[row].uid };
            let visibility = Visibility::Document;
            ss.metadata.insert(id, DeveloperMetadata { id, key: "k".into(), value: None, visibility, anchor });
        }
    }

    /// Where each metadata entry is now: (sheet position, row), by id.
    fn anchored(ss: &Spreadsheet) -> Vec<(usize, usize)> {
        ss.metadata
            .values()
            .filter_map(|m| match m.anchor.locate(ss) {
                Some(Location::Row { sheet, index }) => Some((sheet, index)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sort_puts_blanks_last_and_leaves_the_rows_in_place() {
        let mut ss = sheet_with(&[&["b"], &["3"], &[""], &["A"], &["1"]]);
        ss.sheets[0].set(2, 1, typed("keep"));
        let uid_of_second = ss.sheets[0].rows[1].uid;
        ss.sort_rows(Rect { sheet: 0, r0: 0, r1: 5, c0: 0, c1: 4 }, &[(0, SortOrder::Ascending)], Fate::Stays);
        let n = |v| Computed::Number(v, Default::default());
        let t = |s: &str| Computed::Text(s.into());
        assert_eq!(column_a(&ss), vec![n(1.0), n(3.0), t("A"), t("b"), Computed::Empty]);
        assert_eq!(ss.sheets[0].rows[1].uid, uid_of_second, "values move, rows do not");
        assert_eq!(ss.sheets[0].entry(4, 1), &typed("keep"), "the blank row's other cells went with it");
        ss.sort_rows(Rect { sheet: 0, r0: 0, r1: 5, c0: 0, c1: 4 }, &[(0, SortOrder::Descending)], Fate::Follows);
        assert_eq!(column_a(&ss), vec![t("b"), t("A"), n(3.0), n(1.0), Computed::Empty]);
    }

    #[test]
    fn row_metadata_stays_or_follows_a_sort_as_told_even_a_narrow_one() {
        let whole = Rect { sheet: 0, r0: 0, r1: 3, c0: 0, c1: 4 };
        let narrow = Rect { c1: 2, ..whole };
        for (rect, fate, expected) in [
            (whole, Fate::Stays, vec![(0, 0), (0, 2)]),
            (whole, Fate::Follows, vec![(0, 2), (0, 0)]),
            (narrow, Fate::Stays, vec![(0, 0), (0, 2)]),
            (narrow, Fate::Follows, vec![(0, 2), (0, 0)]),
        ] {
            let mut ss = sheet_with(&[&["3"], &["2"], &["1"]]);
            anchor_rows(&mut ss, 0, &[0, 2]);
            ss.sort_rows(rect, &[(0, SortOrder::Ascending)], fate);
            assert_eq!(anchored(&ss), expected, "{fate:?} over {rect:?}");
        }
    }

    #[test]
    fn cut_paste_moves_values_blanks_the_source_and_carries_metadata_only_when_told() {
        let mut ss = sheet_with(&[&["1", "a"], &["2", "b"], &["3", "c"], &["4", "d"]]);
        ss.sheets[0].set(3, 3, typed("beside"));
        anchor_rows(&mut ss, 0, &[0, 3]);
        let rows_0_1 = Rect { sheet: 0, r0: 0, r1: 2, c0: 0, c1: 2 };
        ss.cut_paste(rows_0_1, Coordinate { sheet: 0, row: 1, col: 0 }, false, Fate::Stays);
        let n = |v| Computed::Number(v, Default::default());
        assert_eq!(column_a(&ss), vec![Computed::Empty, n(1.0), n(2.0), n(4.0)], "overlapping paste reads first");
        assert_eq!(anchored(&ss), vec![(0, 0), (0, 3)]);
        ss.cut_paste(
            Rect { sheet: 0, r0: 1, r1: 2, c0: 0, c1: 2 },
            Coordinate { sheet: 0, row: 3, col: 0 },
            false,
            Fate::Follows,
        );
        assert_eq!(column_a(&ss), vec![Computed::Empty, Computed::Empty, n(2.0), n(1.0)]);
        assert_eq!(ss.sheets[0].entry(3, 3), &typed("beside"), "cells outside the paste are kept");
        assert_eq!(anchored(&ss), vec![(0, 0), (0, 3)], "row 1 had no metadata to carry");
        ss.cut_paste(
            Rect { sheet: 0, r0: 3, r1: 4, c0: 0, c1: 4 },
            Coordinate { sheet: 0, row: 5, col: 0 },
            false,
            Fate::Follows,
        );
        assert_eq!(anchored(&ss), vec![(0, 0), (0, 5)]);
    }

    #[test]
    fn cut_paste_onto_another_sheet_carries_metadata_there_and_paste_values_drops_formulas() {
        let mut ss = sheet_with(&[&["2", "=A1*10"]]);
        ss.add_sheet("Other", None, 5, 4);
        anchor_rows(&mut ss, 0, &[0]);
        ss.cut_paste(
            Rect { sheet: 0, r0: 0, r1: 1, c0: 0, c1: 2 },
            Coordinate { sheet: 1, row: 2, col: 1 },
            true,
            Fate::Follows,
        );
        assert_eq!(ss.sheets[1].entry(2, 2), &Entry::number(20.0), "the computed value, not the formula");
        assert!(ss.sheets[0].rows[0].cells.is_empty());
        assert_eq!(anchored(&ss), vec![(1, 2)]);
    }

    #[test]
    fn moves_count_the_destination_before_removal() {
        let mut ss = sheet_with(&[&["0"], &["1"], &["2"], &["3"]]);
        ss.move_rows(0, 0, 1, 3);
        let n = |v| Computed::Number(v, Default::default());
        assert_eq!(column_a(&ss), vec![n(1.0), n(2.0), n(0.0), n(3.0)]);
    }

    #[test]
    fn touch_moves_version_and_time_forward() {
        let mut ss = sheet_with(&[]);
        let (v, t) = (ss.version, ss.modified_time);
        ss.touch();
        ss.touch();
        assert_eq!(ss.version, v + 2);
        assert!(ss.modified_time > t);
    }
}
