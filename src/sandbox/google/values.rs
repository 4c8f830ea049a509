//! `spreadsheets.values.*`: reading and writing cell values, with every render and input option.
//!
//! The shapes follow the recorded cassettes: `ValueRange` with the canonical clamped `range`,
//! ragged rows (trailing empty cells and rows omitted, empty middle rows `[]`), no `values` key
//! for an empty range; update/append/batchUpdate counters and `updatedRange` as Google computes
//! them. Functions here take an already-located spreadsheet and return the response body; auth,
//! quotas, faults and atomic commit are the caller's (`http.rs`).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use super::a1::Span;
use super::entry::{Computed, Entry, NumberFormat, display, format_number, number_json, typed};
use super::error::ApiError;
use super::metadata::{self, Filter};
use super::spreadsheet::{Rect, Spreadsheet, Target};

/// `valueRenderOption`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ValueRender {
    #[default]
    Formatted,
    Unformatted,
    Formula,
}

/// `dateTimeRenderOption` (ignored under `FORMATTED_VALUE`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DateRender {
    #[default]
    SerialNumber,
    FormattedString,
}

/// `majorDimension`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Major {
    #[default]
    Rows,
    Columns,
}

/// `valueInputOption`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    Raw,
    UserEntered,
}

/// How to render a read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Render {
    pub value: ValueRender,
    pub date: DateRender,
    pub major: Major,
}

fn bad_enum(field: &str, type_name: &str, value: &str) -> ApiError {
    ApiError::invalid_argument(format!(
        "Invalid value at '{field}' (type.googleapis.com/google.apps.sheets.v4.{type_name}), \"{value}\""
    ))
}

impl Render {
    /// Reads the three options; `field_prefix` names them in errors (`""` for query parameters).
    pub fn parse(
        value: Option<&str>,
        date: Option<&str>,
        major: Option<&str>,
        field_prefix: &str,
    ) -> Result<Render, ApiError> {
        let value = match value {
            None | Some("FORMATTED_VALUE") => ValueRender::Formatted,
            Some("UNFORMATTED_VALUE") => ValueRender::Unformatted,
            Some("FORMULA") => ValueRender::Formula,
            Some(other) => {
                return Err(bad_enum(&format!("{field_prefix}value_render_option"), "ValueRenderOption", other));
            }
        };
        let date = match date {
            None | Some("SERIAL_NUMBER") => DateRender::SerialNumber,
            Some("FORMATTED_STRING") => DateRender::FormattedString,
            Some(other) => {
                return Err(bad_enum(&format!("{field_prefix}date_time_render_option"), "DateTimeRenderOption", other));
            }
        };
        Ok(Render { value, date, major: parse_major(major, &format!("{field_prefix}major_dimension"))? })
    }

    /// From a JSON request body's `valueRenderOption`, `dateTimeRenderOption`, `majorDimension`.
    pub fn from_body(body: &Value, value_key: &str, date_key: &str) -> Result<Render, ApiError> {
        Render::parse(
            body.get(value_key).and_then(Value::as_str),
            body.get(date_key).and_then(Value::as_str),
            body.get("majorDimension").and_then(Value::as_str),
            "",
        )
    }
}

pub fn parse_major(major: Option<&str>, field: &str) -> Result<Major, ApiError> {
    match major {
        None | Some("ROWS") | Some("DIMENSION_UNSPECIFIED") => Ok(Major::Rows),
        Some("COLUMNS") => Ok(Major::Columns),
        Some(other) => Err(bad_enum(field, "Dimension", other)),
    }
}

/// `valueInputOption` is mandatory on every write.
pub fn parse_input(input: Option<&str>, field: &str) -> Result<Input, ApiError> {
    match input {
        None | Some("INPUT_VALUE_OPTION_UNSPECIFIED") => {
            Err(ApiError::invalid_argument("'valueInputOption' is required but not specified"))
        }
        Some("RAW") => Ok(Input::Raw),
        Some("USER_ENTERED") => Ok(Input::UserEntered),
        Some(other) => Err(bad_enum(field, "ValueInputOption", other)),
    }
}

/// One cell under a render option; `None` for an empty cell.
pub fn render_cell(ss: &Spreadsheet, sheet: usize, row: usize, col: usize, render: Render) -> Option<Value> {
    let entry = ss.sheets[sheet].entry(row, col);
    if entry.is_empty() {
        return None;
    }
    if let (ValueRender::Formula, Entry::Formula { formula }) = (render.value, entry) {
        return Some(Value::String(formula.clone()));
    }
    let computed = ss.computed(sheet, row, col);
    Some(match (render.value, computed) {
        (_, Computed::Empty) => return None,
        (ValueRender::Formatted, other) => Value::String(display(&other)),
        (_, Computed::Number(v, format)) => match (format, render.date) {
            (NumberFormat::Date { .. } | NumberFormat::DateTime { .. }, DateRender::FormattedString) => {
                Value::String(format_number(v, format))
            }
            _ => number_json(v),
        },
        (_, Computed::Text(s)) => Value::String(s),
        (_, Computed::Bool(b)) => Value::Bool(b),
        (_, Computed::Error(code)) => Value::String(code.into()),
    })
}

/// The `values` array of a rectangle: ragged, trailing empties dropped; `None` when empty.
pub fn values_of(ss: &Spreadsheet, rect: &Rect, render: Render) -> Option<Vec<Value>> {
    let lines: Vec<Vec<Option<Value>>> = match render.major {
        Major::Rows => (rect.r0..rect.r1)
            .map(|r| (rect.c0..rect.c1).map(|c| render_cell(ss, rect.sheet, r, c, render)).collect())
            .collect(),
        Major::Columns => (rect.c0..rect.c1)
            .map(|c| (rect.r0..rect.r1).map(|r| render_cell(ss, rect.sheet, r, c, render)).collect())
            .collect(),
    };
    let mut out: Vec<Value> = lines
        .into_iter()
        .map(|mut line| {
            while line.last().is_some_and(Option::is_none) {
                line.pop();
            }
            Value::Array(line.into_iter().map(|v| v.unwrap_or_else(|| Value::String(String::new()))).collect())
        })
        .collect();
    while out.last().is_some_and(|v| v.as_array().is_some_and(Vec::is_empty)) {
        out.pop();
    }
    (!out.is_empty()).then_some(out)
}

/// A `ValueRange` response object.
pub fn value_range(ss: &Spreadsheet, rect: &Rect, render: Render) -> Value {
    let mut out = json!({
        "range": ss.range_text(rect),
        "majorDimension": match render.major { Major::Rows => "ROWS", Major::Columns => "COLUMNS" },
    });
    if let Some(values) = values_of(ss, rect, render) {
        out["values"] = Value::Array(values);
    }
    out
}

/// `GET values/{range}`.
pub fn get(ss: &Spreadsheet, range: &str, render: Render) -> Result<Value, ApiError> {
    let target = ss.target(range)?;
    Ok(value_range(ss, &ss.read_rect(&target)?, render))
}

/// `GET values:batchGet?ranges=…`.
pub fn batch_get(ss: &Spreadsheet, ranges: &[String], render: Render) -> Result<Value, ApiError> {
    let mut out = json!({"spreadsheetId": ss.id});
    if !ranges.is_empty() {
        let value_ranges = ranges.iter().map(|r| get(ss, r, render)).collect::<Result<Vec<_>, _>>()?;
        out["valueRanges"] = Value::Array(value_ranges);
    }
    Ok(out)
}

/// What one write touched.
#[derive(Clone, Debug)]
pub struct Written {
    pub rect: Option<Rect>,
    pub cells: usize,
    rows: BTreeSet<usize>,
    cols: BTreeSet<usize>,
}

impl Written {
    /// The `UpdateValuesResponse` object.
    pub fn response(&self, ss: &Spreadsheet, requested: &Target) -> Value {
        let mut out = json!({"spreadsheetId": ss.id});
        let range = match &self.rect {
            Some(rect) => ss.range_text(rect),
            None => ss.read_rect(requested).map(|r| ss.range_text(&r)).unwrap_or_else(|_| requested.text.clone()),
        };
        out["updatedRange"] = json!(range);
        put_count(&mut out, "updatedRows", self.rows.len());
        put_count(&mut out, "updatedColumns", self.cols.len());
        put_count(&mut out, "updatedCells", self.cells);
        out
    }
}

/// Proto3 JSON leaves zero counters out.
fn put_count(out: &mut Value, key: &str, n: usize) {
    if n > 0 {
        out[key] = json!(n);
    }
}

/// Google's limit on one cell, counted pessimistically in UTF-16 code units.
pub(super) const MAX_CELL_CHARS: usize = 50_000;
/// Google's answer to a write with a longer cell: the whole request is refused.
pub(super) const TOO_LONG: &str = "Your input contains more than the maximum of 50000 characters in a single cell.";

/// Checks that `values` is a list of lists of scalars, none over Google's cell limit.
fn as_grid(values: Option<&Value>, field: &str) -> Result<Vec<Vec<Value>>, ApiError> {
    let Some(values) = values.filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let rows =
        values.as_array().ok_or_else(|| ApiError::invalid_json(format!("Invalid value at '{field}': not a list")))?;
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let cells = row
                .as_array()
                .ok_or_else(|| ApiError::invalid_json(format!("Invalid value at '{field}[{i}]': not a list")))?;
            for (j, cell) in cells.iter().enumerate() {
                if cell.is_array() || cell.is_object() {
                    return Err(ApiError::invalid_json(format!(
                        "Invalid value at '{field}[{i}][{j}]' (type.googleapis.com/google.protobuf.Value): a cell must be a string, number or boolean"
                    )));
                }
                if cell.as_str().is_some_and(|text| crate::sheets::clip::utf16_len(text) > MAX_CELL_CHARS) {
                    return Err(ApiError::invalid_argument(TOO_LONG));
                }
            }
            Ok(cells.clone())
        })
        .collect()
}

fn transpose(grid: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    let height = grid.iter().map(Vec::len).max().unwrap_or(0);
    (0..height).map(|r| grid.iter().map(|col| col.get(r).cloned().unwrap_or(Value::Null)).collect()).collect()
}

/// What a JSON value becomes when written.
fn to_entry(value: &Value, input: Input) -> Entry {
    match value {
        Value::String(s) => match input {
            Input::Raw => Entry::text(s.clone()),
            Input::UserEntered => typed(s),
        },
        Value::Number(n) => Entry::number(n.as_f64().unwrap_or_default()),
        Value::Bool(b) => Entry::Bool { value: *b },
        _ => Entry::Empty,
    }
}

/// Writes `values` at the target's top-left. `null` cells are left untouched (as Google does).
pub fn write(
    ss: &mut Spreadsheet,
    target: &Target,
    values: Option<&Value>,
    major: Major,
    input: Input,
) -> Result<Written, ApiError> {
    let mut grid = as_grid(values, "values")?;
    if major == Major::Columns {
        grid = transpose(grid);
    }
    let height = grid.len();
    let width = grid.iter().map(Vec::len).max().unwrap_or(0);
    let mut written = Written { rect: None, cells: 0, rows: BTreeSet::new(), cols: BTreeSet::new() };
    if height == 0 || width == 0 {
        return Ok(written);
    }
    let rect = ss.write_rect(target, height, width)?;
    for (i, row) in grid.iter().enumerate() {
        for (j, value) in row.iter().enumerate() {
            if value.is_null() {
                continue;
            }
            ss.sheets[rect.sheet].set(rect.r0 + i, rect.c0 + j, to_entry(value, input));
            written.cells += 1;
            written.rows.insert(rect.r0 + i);
            written.cols.insert(rect.c0 + j);
        }
    }
    written.rect = Some(rect);
    Ok(written)
}

/// Options for the data a write response may echo back.
#[derive(Clone, Copy, Debug, Default)]
pub struct Echo {
    pub include: bool,
    pub render: Render,
}

fn echo(out: &mut Value, ss: &Spreadsheet, written: &Written, echo: Echo) {
    if echo.include
        && let Some(rect) = &written.rect
    {
        out["updatedData"] = value_range(ss, rect, echo.render);
    }
}

/// `PUT values/{range}`.
pub fn update(
    ss: &mut Spreadsheet,
    range: &str,
    body: &Value,
    input: Input,
    out_echo: Echo,
) -> Result<Value, ApiError> {
    let target = ss.target(range)?;
    if let Some(body_range) = body.get("range").and_then(Value::as_str)
        && ss.target(body_range).map(|t| (t.sheet, t.span)) != Ok((target.sheet, target.span))
    {
        return Err(ApiError::invalid_argument(format!(
            "Requested entity's range ({body_range}) doesn't match the range in the URL ({range})."
        )));
    }
    let major = parse_major(body.get("majorDimension").and_then(Value::as_str), "major_dimension")?;
    let written = write(ss, &target, body.get("values"), major, input)?;
    let mut out = written.response(ss, &target);
    echo(&mut out, ss, &written, out_echo);
    Ok(out)
}

/// `POST values:batchUpdate`.
pub fn batch_update(ss: &mut Spreadsheet, body: &Value) -> Result<Value, ApiError> {
    let input = parse_input(body.get("valueInputOption").and_then(Value::as_str), "value_input_option")?;
    let out_echo = echo_options(body)?;
    let data = body.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
    // Google applies a batch whole or not at all: every item is checked before any is written.
    for item in &data {
        as_grid(item.get("values"), "data.values")?;
    }
    let mut responses = Vec::new();
    let mut totals = Totals::default();
    for (i, item) in data.iter().enumerate() {
        let range = item
            .get("range")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_argument(format!("Invalid data[{i}]: range is required")))?;
        let target = ss.target(range)?;
        let major = parse_major(item.get("majorDimension").and_then(Value::as_str), "data.major_dimension")?;
        let written = write(ss, &target, item.get("values"), major, input)?;
        totals.add(&written);
        let mut response = written.response(ss, &target);
        echo(&mut response, ss, &written, out_echo);
        responses.push(response);
    }
    Ok(totals.response(ss, responses))
}

#[derive(Default)]
struct Totals {
    rows: BTreeSet<(usize, usize)>,
    cols: BTreeSet<(usize, usize)>,
    sheets: BTreeSet<usize>,
    cells: usize,
}

impl Totals {
    fn add(&mut self, written: &Written) {
        if let Some(rect) = &written.rect {
            self.rows.extend(written.rows.iter().map(|r| (rect.sheet, *r)));
            self.cols.extend(written.cols.iter().map(|c| (rect.sheet, *c)));
            if written.cells > 0 {
                self.sheets.insert(rect.sheet);
            }
        }
        self.cells += written.cells;
    }

    fn response(&self, ss: &Spreadsheet, responses: Vec<Value>) -> Value {
        let mut out = json!({"spreadsheetId": ss.id});
        put_count(&mut out, "totalUpdatedRows", self.rows.len());
        put_count(&mut out, "totalUpdatedColumns", self.cols.len());
        put_count(&mut out, "totalUpdatedCells", self.cells);
        put_count(&mut out, "totalUpdatedSheets", self.sheets.len());
        if !responses.is_empty() {
            out["responses"] = Value::Array(responses);
        }
        out
    }
}

fn echo_options(body: &Value) -> Result<Echo, ApiError> {
    Ok(Echo {
        include: body.get("includeValuesInResponse").and_then(Value::as_bool).unwrap_or(false),
        render: Render::from_body(body, "responseValueRenderOption", "responseDateTimeRenderOption")?,
    })
}

/// `POST values/{range}:append`: finds the table in the range, writes after its last row.
///
/// The table is the first block of consecutive non-empty rows at or below the range's first
/// row; a blank row ends it (as with Google, appending to a tab with a blank row in the middle
/// writes into the gap). No `tableRange` when the range holds no data.
pub fn append(
    ss: &mut Spreadsheet,
    range: &str,
    body: &Value,
    input: Input,
    insert_rows: bool,
    out_echo: Echo,
) -> Result<Value, ApiError> {
    let target = ss.target(range)?;
    let major = parse_major(body.get("majorDimension").and_then(Value::as_str), "major_dimension")?;
    let mut grid = as_grid(body.get("values"), "values")?;
    if major == Major::Columns {
        grid = transpose(grid);
    }
    let single_cell = target.span.end_row == Some(target.span.start_row + 1)
        && target.span.end_col == Some(target.span.start_col + 1);
    let search = ss.read_rect(&target)?;
    let sheet = &ss.sheets[search.sheet];
    let search_c1 = if single_cell { sheet.columns.len() } else { search.c1 };
    let search_r1 = if single_cell { sheet.rows.len() } else { search.r1 };
    let row_has_data = |r: usize| (search.c0..search_c1).any(|c| !sheet.entry(r, c).is_empty());
    let first = (search.r0..search_r1).find(|&r| row_has_data(r));
    let (write_row, write_col, table) = match first {
        None => (search.r0, search.c0, None),
        Some(first) => {
            let last = (first..search_r1).take_while(|&r| row_has_data(r)).last().unwrap_or(first);
            let cols: Vec<usize> = (first..=last)
                .flat_map(|r| (search.c0..search_c1).filter(move |&c| !sheet.entry(r, c).is_empty()))
                .collect();
            let c0 = cols.iter().copied().min().unwrap_or(search.c0);
            let c1 = cols.iter().copied().max().map_or(c0 + 1, |c| c + 1);
            (last + 1, c0, Some(Rect { sheet: search.sheet, r0: first, r1: last + 1, c0, c1 }))
        }
    };
    let height = grid.len();
    let rows_now = ss.sheets[search.sheet].rows.len();
    if insert_rows && height > 0 {
        ss.insert_rows(search.sheet, write_row.min(rows_now), height);
    } else if write_row + height > rows_now {
        ss.insert_rows(search.sheet, rows_now, write_row + height - rows_now);
    }
    let write_target = Target {
        sheet: search.sheet,
        span: Span { start_row: write_row, start_col: write_col, end_row: None, end_col: None },
        text: range.to_owned(),
    };
    let values = Value::Array(grid.into_iter().map(Value::Array).collect());
    let written = write(ss, &write_target, Some(&values), Major::Rows, input)?;
    let mut updates = written.response(ss, &write_target);
    echo(&mut updates, ss, &written, out_echo);
    let mut out = json!({"spreadsheetId": ss.id});
    if let Some(table) = table {
        out["tableRange"] = json!(ss.range_text(&table));
    }
    out["updates"] = updates;
    Ok(out)
}

/// Empties every cell of a rectangle.
fn clear_rect(ss: &mut Spreadsheet, rect: &Rect) {
    for r in rect.r0..rect.r1 {
        for c in rect.c0..rect.c1 {
            ss.sheets[rect.sheet].set(r, c, Entry::Empty);
        }
    }
}

/// `POST values/{range}:clear`.
pub fn clear(ss: &mut Spreadsheet, range: &str) -> Result<Value, ApiError> {
    let target = ss.target(range)?;
    let rect = ss.read_rect(&target)?;
    clear_rect(ss, &rect);
    Ok(json!({"spreadsheetId": ss.id, "clearedRange": ss.range_text(&rect)}))
}

/// `POST values:batchClear`.
pub fn batch_clear(ss: &mut Spreadsheet, body: &Value) -> Result<Value, ApiError> {
    let ranges: Vec<String> = strings(body.get("ranges"));
    let mut cleared = Vec::new();
    for range in &ranges {
        cleared.push(clear(ss, range)?["clearedRange"].clone());
    }
    let mut out = json!({"spreadsheetId": ss.id});
    if !cleared.is_empty() {
        out["clearedRanges"] = Value::Array(cleared);
    }
    Ok(out)
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

fn filters(ss: &Spreadsheet, body: &Value) -> Result<Vec<(Value, Filter)>, ApiError> {
    let list = body.get("dataFilters").and_then(Value::as_array).cloned().unwrap_or_default();
    list.into_iter()
        .enumerate()
        .map(|(i, json)| {
            let filter = metadata::parse_filter(ss, &json, &format!("Invalid dataFilters[{i}]"))?;
            Ok((json, filter))
        })
        .collect()
}

/// `POST values:batchGetByDataFilter`: one `MatchedValueRange` per matched range, listing every
/// filter that matched it.
pub fn batch_get_by_data_filter(ss: &Spreadsheet, body: &Value) -> Result<Value, ApiError> {
    let render = Render::from_body(body, "valueRenderOption", "dateTimeRenderOption")?;
    let mut matched: Vec<(Rect, Vec<Value>)> = Vec::new();
    for (json, filter) in filters(ss, body)? {
        for rect in metadata::filter_rects(ss, &filter)? {
            match matched.iter_mut().find(|(r, _)| *r == rect) {
                Some((_, jsons)) => jsons.push(json.clone()),
                None => matched.push((rect, vec![json.clone()])),
            }
        }
    }
    let mut out = json!({"spreadsheetId": ss.id});
    if !matched.is_empty() {
        let ranges = matched
            .iter()
            .map(|(rect, jsons)| json!({"valueRange": value_range(ss, rect, render), "dataFilters": jsons}))
            .collect();
        out["valueRanges"] = Value::Array(ranges);
    }
    Ok(out)
}

/// `POST values:batchUpdateByDataFilter`: every matched range gets the values from its top-left;
/// values wider or taller than a match fail the whole request.
pub fn batch_update_by_data_filter(ss: &mut Spreadsheet, body: &Value) -> Result<Value, ApiError> {
    let input = parse_input(body.get("valueInputOption").and_then(Value::as_str), "value_input_option")?;
    let out_echo = echo_options(body)?;
    let data = body.get("data").and_then(Value::as_array).cloned().unwrap_or_default();
    for item in &data {
        as_grid(item.get("values"), "data.values")?;
    }
    let mut responses = Vec::new();
    let mut totals = Totals::default();
    for (i, item) in data.iter().enumerate() {
        let filter_json = item.get("dataFilter").cloned().unwrap_or(Value::Null);
        let filter = metadata::parse_filter(ss, &filter_json, &format!("Invalid data[{i}].dataFilter"))?;
        let major = parse_major(item.get("majorDimension").and_then(Value::as_str), "data.major_dimension")?;
        for rect in metadata::filter_rects(ss, &filter)? {
            let target = Target {
                sheet: rect.sheet,
                span: Span { start_row: rect.r0, start_col: rect.c0, end_row: Some(rect.r1), end_col: Some(rect.c1) },
                text: ss.range_text(&rect),
            };
            let written = write(ss, &target, item.get("values"), major, input).map_err(|e| {
                ApiError::invalid_argument(format!(
                    "Invalid data[{i}]: the values exceed the range matched by the data filter. {}",
                    e.message
                ))
            })?;
            totals.add(&written);
            let mut response = written.response(ss, &target);
            if let Value::Object(map) = &mut response {
                map.remove("spreadsheetId");
            }
            echo(&mut response, ss, &written, out_echo);
            response["dataFilter"] = filter_json.clone();
            responses.push(response);
        }
    }
    Ok(totals.response(ss, responses))
}

/// `POST values:batchClearByDataFilter`.
pub fn batch_clear_by_data_filter(ss: &mut Spreadsheet, body: &Value) -> Result<Value, ApiError> {
    let mut cleared = Vec::new();
    for (_, filter) in filters(ss, body)? {
        for rect in metadata::filter_rects(ss, &filter)? {
            clear_rect(ss, &rect);
            cleared.push(json!(ss.range_text(&rect)));
        }
    }
    let mut out = Map::new();
    out.insert("spreadsheetId".into(), json!(ss.id));
    if !cleared.is_empty() {
        out.insert("clearedRanges".into(), Value::Array(cleared));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture_sheet() -> Spreadsheet {
        let mut ss = Spreadsheet::new("sid", "t");
        ss.add_sheet("Sheet1", None, 2, 4);
        let target = ss.target("'Sheet1'!A1:D2").unwrap();
        let values = json!([["=4/2", "2020-01-01", "string", 53], ["=3/2", 0.12, "1999-01-02", ""]]);
        write(&mut ss, &target, Some(&values), Major::Rows, Input::UserEntered).unwrap();
        ss
    }

    fn read(ss: &Spreadsheet, value: ValueRender, date: DateRender) -> Value {
        get(ss, "'Sheet1'", Render { value, date, major: Major::Rows }).unwrap()
    }

    #[test]
    fn render_options_reproduce_the_cassette() {
        let ss = fixture_sheet();
        assert_eq!(
            read(&ss, ValueRender::Unformatted, DateRender::SerialNumber),
            json!({"range": "Sheet1!A1:D2", "majorDimension": "ROWS", "values": [[2, 43831, "string", 53], [1.5, 0.12, 36162]]})
        );
        assert_eq!(
            read(&ss, ValueRender::Unformatted, DateRender::FormattedString)["values"],
            json!([[2, "2020-01-01", "string", 53], [1.5, 0.12, "1999-01-02"]])
        );
        assert_eq!(
            read(&ss, ValueRender::Formatted, DateRender::SerialNumber)["values"],
            json!([["2", "2020-01-01", "string", "53"], ["1.5", "0.12", "1999-01-02"]])
        );
        assert_eq!(
            read(&ss, ValueRender::Formula, DateRender::SerialNumber)["values"],
            json!([["=4/2", 43831, "string", 53], ["=3/2", 0.12, 36162]])
        );
    }

    #[test]
    fn raw_keeps_formulas_as_text() {
        let mut ss = Spreadsheet::new("sid", "t");
        ss.add_sheet("Sheet1", None, 5, 5);
        let target = ss.target("Sheet1!A1").unwrap();
        write(&mut ss, &target, Some(&json!([["=1+1"]])), Major::Rows, Input::Raw).unwrap();
        let render = Render { value: ValueRender::Formula, ..Default::default() };
        assert_eq!(get(&ss, "Sheet1!A1", render).unwrap()["values"], json!([["=1+1"]]));
        assert_eq!(ss.computed(0, 0, 0), Computed::Text("=1+1".into()));
    }

    #[test]
    fn empty_ranges_have_no_values_and_middle_rows_are_empty_lists() {
        let mut ss = Spreadsheet::new("sid", "t");
        ss.add_sheet("Sheet1", None, 1000, 26);
        assert_eq!(
            get(&ss, "Sheet1!A1:D4", Render::default()).unwrap(),
            json!({"range": "Sheet1!A1:D4", "majorDimension": "ROWS"})
        );
        let body = json!({"valueInputOption": "RAW", "data": [
            {"range": "'Sheet1'!A1:D1", "values": [["A1", "B1", "", "D1"]]},
            {"range": "'Sheet1'!A4:D4", "values": [["A4", "B4", "", "D4"]]}]});
        let response = batch_update(&mut ss, &body).unwrap();
        assert_eq!(response["totalUpdatedRows"], 2);
        assert_eq!(response["totalUpdatedColumns"], 4);
        assert_eq!(response["totalUpdatedCells"], 8);
        assert_eq!(response["responses"][1]["updatedRange"], "Sheet1!A4:D4");
        assert_eq!(
            get(&ss, "'Sheet1'!A1:D4", Render::default()).unwrap()["values"],
            json!([["A1", "B1", "", "D1"], [], [], ["A4", "B4", "", "D4"]])
        );
    }

    #[test]
    fn append_writes_after_the_first_table_block() {
        let mut ss = Spreadsheet::new("sid", "t");
        ss.add_sheet("Sheet1", None, 3, 3);
        let body = json!({"values": [["a", "b"]]});
        let first = append(&mut ss, "'Sheet1'", &body, Input::Raw, false, Echo::default()).unwrap();
        assert_eq!(first.get("tableRange"), None);
        assert_eq!(first["updates"]["updatedRange"], "Sheet1!A1:B1");
        let second = append(&mut ss, "Sheet1!A1", &body, Input::Raw, true, Echo::default()).unwrap();
        assert_eq!(second["tableRange"], "Sheet1!A1:B1");
        assert_eq!(second["updates"]["updatedRange"], "Sheet1!A2:B2");
        assert_eq!(ss.sheets[0].rows.len(), 4);
    }

    #[test]
    fn a_cell_over_fifty_thousand_characters_refuses_the_whole_batch() {
        let mut ss = fixture_sheet();
        let before = read(&ss, ValueRender::Unformatted, DateRender::SerialNumber);
        let body = json!({
            "valueInputOption": "RAW",
            "data": [
                {"range": "Sheet1!A2", "values": [["fits"]]},
                {"range": "Sheet1!B2", "values": [["x".repeat(50_001)]]},
            ]
        });
        let error = batch_update(&mut ss, &body).unwrap_err();
        assert_eq!(error.status, "INVALID_ARGUMENT");
        assert_eq!(error.message, TOO_LONG);
        assert_eq!(read(&ss, ValueRender::Unformatted, DateRender::SerialNumber), before, "nothing written");
        let fits =
            json!({"valueInputOption": "RAW", "data": [{"range": "Sheet1!B2", "values": [["x".repeat(50_000)]]}]});
        assert!(batch_update(&mut ss, &fits).is_ok());
    }
}
