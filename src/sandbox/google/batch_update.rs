//! `spreadsheets.batchUpdate`: structural edits and developer metadata.
//!
//! Google validates every request and applies all of them or none; `replies` match `requests`
//! one for one, `{}` where a request has no reply. The caller hands us a draft copy of the
//! spreadsheet and keeps it only if this returns `Ok`, which gives the all-or-nothing rule; each
//! request is checked against the state the previous ones left, as Google does.
//!
//! Emulated: `createDeveloperMetadata`, `updateDeveloperMetadata`, `deleteDeveloperMetadata`,
//! `insertDimension`, `deleteDimension`, `appendDimension`, `moveDimension`,
//! `updateSheetProperties`, `updateSpreadsheetProperties`, `sortRange`, `cutPaste`, `addSheet`,
//! `deleteSheet`, and `updateCells` of values (`update_cells.rs`). What `sortRange` and
//! `cutPaste` do to row metadata is the sandbox's switch (`moves.rs`); `moveDimension` moves rows, metadata included. A `cutPaste` whose destination
//! would pass the grid's edge is refused (Google's answer is not recorded). Asked to
//! (`includeSpreadsheetInResponse`), the answer carries the spreadsheet as the update left it,
//! written out in the same turn as the update (`super::grid::batch_update_answer`).

use rand::Rng;
use serde_json::{Value, json};

use super::developer_metadata::{DeveloperMetadata, Visibility};
use super::error::ApiError;
use super::fields::Selection;
use super::metadata::{self, Filter};
use super::moves::Mover;
use super::spreadsheet::{Coordinate, DEFAULT_COLUMNS, DEFAULT_ROWS, MAX_CELLS, Rect, SortOrder, Spreadsheet};
use super::update_cells;

/// Request kinds Google has but the sandbox does not emulate (answered 400 with a clear message,
/// rather than pretending they worked).
const NOT_EMULATED: &[&str] = &[
    "repeatCell",
    "mergeCells",
    "unmergeCells",
    "updateBorders",
    "autoResizeDimensions",
    "addProtectedRange",
    "updateProtectedRange",
    "deleteProtectedRange",
    "setDataValidation",
    "addConditionalFormatRule",
    "updateConditionalFormatRule",
    "deleteConditionalFormatRule",
    "addNamedRange",
    "updateNamedRange",
    "deleteNamedRange",
    "setBasicFilter",
    "clearBasicFilter",
    "addFilterView",
    "updateFilterView",
    "deleteFilterView",
    "duplicateFilterView",
    "duplicateSheet",
    "findReplace",
    "copyPaste",
    "pasteData",
    "appendCells",
    "insertRange",
    "deleteRange",
    "textToColumns",
    "autoFill",
    "addChart",
    "updateChartSpec",
    "deleteEmbeddedObject",
    "updateEmbeddedObjectPosition",
    "addBanding",
    "updateBanding",
    "deleteBanding",
    "updateDimensionProperties",
    "addDimensionGroup",
    "deleteDimensionGroup",
    "updateDimensionGroup",
    "trimWhitespace",
    "deleteDuplicates",
    "randomizeRange",
    "addSlicer",
    "updateSlicerSpec",
    "addDataSource",
    "updateDataSource",
    "deleteDataSource",
    "refreshDataSource",
    "addTable",
    "updateTable",
    "deleteTable",
    "cancelDataSourceRefresh",
    "updateEmbeddedObjectBorder",
];

/// Applies `body.requests` to `ss` (a draft the caller discards on error); `mover` says what
/// sorts and cut and paste do to row metadata.
pub fn apply(ss: &mut Spreadsheet, body: &Value, rng: &mut impl Rng, mover: &mut Mover) -> Result<Value, ApiError> {
    let requests = body.get("requests").and_then(Value::as_array).cloned().unwrap_or_default();
    if requests.is_empty() {
        return Err(ApiError::invalid_argument("Must specify at least one request."));
    }
    let mut replies = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let Some((kind, params)) = request.as_object().and_then(|o| if o.len() == 1 { o.iter().next() } else { None })
        else {
            return Err(ApiError::invalid_argument(format!(
                "Invalid requests[{i}]: exactly one kind of request must be set."
            )));
        };
        let context = format!("Invalid requests[{i}].{kind}");
        let fail = |detail: String| ApiError::invalid_argument(format!("{context}: {detail}"));
        let reply = match kind.as_str() {
            "createDeveloperMetadata" => create_metadata(ss, params, rng, &context)?,
            "updateDeveloperMetadata" => update_metadata(ss, params, &context)?,
            "deleteDeveloperMetadata" => delete_metadata(ss, params, &context)?,
            "insertDimension" => insert_dimension(ss, params).map_err(fail)?,
            "deleteDimension" => delete_dimension(ss, params).map_err(fail)?,
            "appendDimension" => append_dimension(ss, params).map_err(fail)?,
            "moveDimension" => move_dimension(ss, params).map_err(fail)?,
            "updateSheetProperties" => update_sheet_properties(ss, params).map_err(fail)?,
            "updateSpreadsheetProperties" => update_spreadsheet_properties(ss, params).map_err(fail)?,
            "sortRange" => sort_range(ss, params, &context, mover)?,
            "cutPaste" => cut_paste(ss, params, &context, mover)?,
            "addSheet" => add_sheet(ss, params).map_err(fail)?,
            "deleteSheet" => delete_sheet(ss, params).map_err(fail)?,
            "updateCells" => update_cells::apply(ss, params, &context)?,
            other if NOT_EMULATED.contains(&other) => {
                return Err(fail("this request kind is not emulated by the qbsync sandbox".into()));
            }
            other => {
                return Err(ApiError::invalid_json(format!(
                    "Unknown name \"{other}\" at 'requests[{i}]': Cannot find field."
                )));
            }
        };
        replies.push(reply);
    }
    if ss.cell_count() > MAX_CELLS {
        return Err(ApiError::invalid_argument(format!(
            "This action would increase the number of cells in the workbook above the limit of {MAX_CELLS} cells."
        )));
    }
    Ok(json!({"spreadsheetId": ss.id, "replies": replies}))
}

fn create_metadata(ss: &mut Spreadsheet, params: &Value, rng: &mut impl Rng, context: &str) -> Result<Value, ApiError> {
    let fail = |detail: &str| ApiError::invalid_argument(format!("{context}: {detail}"));
    let m = params.get("developerMetadata").ok_or_else(|| fail("developerMetadata is required"))?;
    let key = m.get("metadataKey").and_then(Value::as_str).filter(|k| !k.is_empty());
    let key = key.ok_or_else(|| fail("Developer metadata must have a key specified."))?;
    let visibility = m.get("visibility").and_then(Value::as_str).and_then(Visibility::parse);
    let visibility = visibility.ok_or_else(|| fail("Developer metadata must have a visibility specified."))?;
    let location = m.get("location").ok_or_else(|| fail("Developer metadata must have a location specified."))?;
    let location = metadata::parse_location(ss, location, context)?;
    let id = match m.get("metadataId").and_then(Value::as_i64) {
        Some(id) if id <= 0 || id > i64::from(i32::MAX) => return Err(fail("metadataId must be positive.")),
        Some(id) => {
            let id = i32::try_from(id).unwrap_or(i32::MAX);
            if ss.metadata.contains_key(&id) {
                return Err(fail(&format!("Developer metadata with ID {id} already exists.")));
            }
            id
        }
        None => loop {
            let candidate = rng.gen_range(1..i32::MAX);
            if !ss.metadata.contains_key(&candidate) {
                break candidate;
            }
        },
    };
    let created = DeveloperMetadata {
        id,
        key: key.to_owned(),
        value: m.get("metadataValue").and_then(Value::as_str).map(str::to_owned),
        visibility,
        anchor: location.anchor(ss),
    };
    let rendered = created.to_json(ss).unwrap_or(Value::Null);
    ss.metadata.insert(id, created);
    Ok(json!({"createDeveloperMetadata": {"developerMetadata": rendered}}))
}

/// Ids of the metadata any of `filters` selects.
fn select(ss: &Spreadsheet, filters: &[Value], context: &str) -> Result<Vec<i32>, ApiError> {
    let parsed: Vec<Filter> =
        filters.iter().map(|f| metadata::parse_filter(ss, f, context)).collect::<Result<_, _>>()?;
    let mut ids = Vec::new();
    for m in ss.metadata.values() {
        for filter in &parsed {
            if metadata::matches(ss, m, filter)? {
                ids.push(m.id);
                break;
            }
        }
    }
    Ok(ids)
}

fn update_metadata(ss: &mut Spreadsheet, params: &Value, context: &str) -> Result<Value, ApiError> {
    let fail = |detail: &str| ApiError::invalid_argument(format!("{context}: {detail}"));
    let filters = params.get("dataFilters").and_then(Value::as_array).cloned().unwrap_or_default();
    if filters.is_empty() {
        return Err(fail("At least one data filter must be specified."));
    }
    let fields = params.get("fields").and_then(Value::as_str).ok_or_else(|| fail("fields is required"))?;
    let new = params.get("developerMetadata").cloned().unwrap_or(Value::Null);
    let all = fields == "*";
    let wants = |f: &str| mask_has(fields, f);
    if !all && wants("metadataId") {
        return Err(fail("metadataId cannot be updated."));
    }
    let location = match wants("location") {
        true => Some(metadata::parse_location(ss, new.get("location").unwrap_or(&Value::Null), context)?),
        false => None,
    };
    let ids = select(ss, &filters, context)?;
    let mut updated = Vec::new();
    for id in ids {
        let anchor = location.map(|l| l.anchor(ss));
        if let Some(m) = ss.metadata.get_mut(&id) {
            if wants("metadataKey") {
                m.key = new
                    .get("metadataKey")
                    .and_then(Value::as_str)
                    .filter(|k| !k.is_empty())
                    .ok_or_else(|| fail("Developer metadata must have a key specified."))?
                    .to_owned();
            }
            if wants("metadataValue") {
                m.value = new.get("metadataValue").and_then(Value::as_str).map(str::to_owned);
            }
            if wants("visibility") {
                m.visibility = new
                    .get("visibility")
                    .and_then(Value::as_str)
                    .and_then(Visibility::parse)
                    .ok_or_else(|| fail("Developer metadata must have a visibility specified."))?;
            }
            if let Some(anchor) = anchor {
                m.anchor = anchor;
            }
        }
        if let Some(json) = ss.metadata.get(&id).and_then(|m| m.to_json(ss)) {
            updated.push(json);
        }
    }
    let mut reply = json!({});
    if !updated.is_empty() {
        reply["developerMetadata"] = Value::Array(updated);
    }
    Ok(json!({"updateDeveloperMetadata": reply}))
}

fn delete_metadata(ss: &mut Spreadsheet, params: &Value, context: &str) -> Result<Value, ApiError> {
    let filter = params.get("dataFilter").cloned().unwrap_or(Value::Null);
    let ids = select(ss, std::slice::from_ref(&filter), context)?;
    let deleted: Vec<Value> = ids.iter().filter_map(|id| ss.metadata.get(id).and_then(|m| m.to_json(ss))).collect();
    for id in &ids {
        ss.metadata.remove(id);
    }
    let mut reply = json!({});
    if !deleted.is_empty() {
        reply["deletedDeveloperMetadata"] = Value::Array(deleted);
    }
    Ok(json!({"deleteDeveloperMetadata": reply}))
}

/// A `DimensionRange`: sheet position, rows or columns, start, end.
struct Dimension {
    sheet: usize,
    rows: bool,
    start: usize,
    end: Option<usize>,
}

fn dimension(ss: &Spreadsheet, range: Option<&Value>) -> Result<Dimension, String> {
    let range = range.ok_or("range is required")?;
    let sheet_id = range.get("sheetId").and_then(Value::as_i64).unwrap_or(0);
    let sheet =
        i32::try_from(sheet_id).ok().and_then(|id| ss.sheet_by_id(id)).ok_or(format!("No grid with id: {sheet_id}"))?;
    let rows = match range.get("dimension").and_then(Value::as_str) {
        Some("ROWS") => true,
        Some("COLUMNS") => false,
        _ => return Err("dimension must be ROWS or COLUMNS".into()),
    };
    let index = |key| range.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok());
    Ok(Dimension { sheet, rows, start: index("startIndex").unwrap_or(0), end: index("endIndex") })
}

fn extent(ss: &Spreadsheet, d: &Dimension) -> usize {
    let sheet = &ss.sheets[d.sheet];
    if d.rows { sheet.rows.len() } else { sheet.columns.len() }
}

fn insert_dimension(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let d = dimension(ss, params.get("range"))?;
    let end = d.end.ok_or("endIndex is required")?;
    if end <= d.start {
        return Err("endIndex must be greater than startIndex".into());
    }
    if d.start > extent(ss, &d) {
        return Err(format!("startIndex {} is beyond the grid ({})", d.start, extent(ss, &d)));
    }
    if d.start == 0 && params.get("inheritFromBefore").and_then(Value::as_bool) == Some(true) {
        return Err("Cannot inherit from before when inserting at the start.".into());
    }
    if d.rows {
        ss.insert_rows(d.sheet, d.start, end - d.start);
    } else {
        ss.insert_columns(d.sheet, d.start, end - d.start);
    }
    Ok(json!({}))
}

fn delete_dimension(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let d = dimension(ss, params.get("range"))?;
    let count = extent(ss, &d);
    let end = d.end.unwrap_or(count).min(count);
    if d.start >= end {
        return Err("the range to delete is empty or outside the grid".into());
    }
    if d.start == 0 && end == count {
        return Err(if d.rows {
            "You can't delete all the rows on the sheet.".into()
        } else {
            "You can't delete all the columns on the sheet.".into()
        });
    }
    if d.rows {
        ss.delete_rows(d.sheet, d.start, end);
    } else {
        ss.delete_columns(d.sheet, d.start, end);
    }
    Ok(json!({}))
}

fn append_dimension(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let d = dimension(ss, Some(params))?;
    let length = params.get("length").and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok()).unwrap_or(0);
    if length == 0 {
        return Err("length must be positive".into());
    }
    let at = extent(ss, &d);
    if d.rows {
        ss.insert_rows(d.sheet, at, length);
    } else {
        ss.insert_columns(d.sheet, at, length);
    }
    Ok(json!({}))
}

fn move_dimension(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let d = dimension(ss, params.get("source"))?;
    let count = extent(ss, &d);
    let end = d.end.ok_or("source.endIndex is required")?;
    if d.start >= end || end > count {
        return Err("the source range is empty or outside the grid".into());
    }
    let destination = params
        .get("destinationIndex")
        .and_then(Value::as_u64)
        .and_then(|v| usize::try_from(v).ok())
        .ok_or("destinationIndex is required")?;
    if destination > count {
        return Err(format!("destinationIndex {destination} is beyond the grid ({count})"));
    }
    if d.rows {
        ss.move_rows(d.sheet, d.start, end, destination);
    } else {
        ss.move_columns(d.sheet, d.start, end, destination);
    }
    Ok(json!({}))
}

/// Field masks: `*`, or comma-separated paths (`gridProperties.rowCount`, `gridProperties`, `title`).
/// Google accepts both separators (gspread sends `gridProperties/rowCount`); a malformed mask
/// covers nothing.
fn mask_has(fields: &str, path: &str) -> bool {
    Selection::parse(fields).is_ok_and(|mask| mask.covers(path))
}

fn update_sheet_properties(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let fields = params.get("fields").and_then(Value::as_str).ok_or("fields is required")?;
    let props = params.get("properties").ok_or("properties is required")?;
    let sheet_id = props.get("sheetId").and_then(Value::as_i64).unwrap_or(0);
    let sheet =
        i32::try_from(sheet_id).ok().and_then(|id| ss.sheet_by_id(id)).ok_or(format!("No grid with id: {sheet_id}"))?;
    if mask_has(fields, "title")
        && let Some(title) = props.get("title").and_then(Value::as_str)
    {
        rename_sheet(ss, sheet, title)?;
    }
    let grid = props.get("gridProperties").cloned().unwrap_or(json!({}));
    let read = |key: &str| grid.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok());
    let rows = if mask_has(fields, "gridProperties/rowCount") { read("rowCount") } else { None };
    let cols = if mask_has(fields, "gridProperties/columnCount") { read("columnCount") } else { None };
    if rows == Some(0) || cols == Some(0) {
        return Err("rowCount and columnCount must be positive".into());
    }
    if rows.is_some() || cols.is_some() {
        let s = &ss.sheets[sheet];
        let (rows, cols) = (rows.unwrap_or(s.rows.len()), cols.unwrap_or(s.columns.len()));
        ss.resize(sheet, rows, cols);
    }
    if mask_has(fields, "gridProperties/frozenRowCount") {
        let frozen = read("frozenRowCount").unwrap_or(0);
        if frozen >= ss.sheets[sheet].rows.len() {
            return Err("You can't freeze all visible rows on the sheet.".into());
        }
        ss.sheets[sheet].frozen_rows = frozen;
    }
    Ok(json!({}))
}

fn rename_sheet(ss: &mut Spreadsheet, sheet: usize, title: &str) -> Result<(), String> {
    if title.trim().is_empty() {
        return Err("Sheet names must not be empty.".into());
    }
    if ss.sheets.iter().enumerate().any(|(i, s)| i != sheet && s.title.to_lowercase() == title.to_lowercase()) {
        return Err(format!("A sheet with the name \"{title}\" already exists. Please enter another name."));
    }
    ss.sheets[sheet].title = title.to_owned();
    Ok(())
}

fn update_spreadsheet_properties(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let fields = params.get("fields").and_then(Value::as_str).ok_or("fields is required")?;
    if mask_has(fields, "title")
        && let Some(title) = params.get("properties").and_then(|p| p.get("title")).and_then(Value::as_str)
    {
        ss.title = title.to_owned();
    }
    Ok(json!({}))
}

fn sort_range(ss: &mut Spreadsheet, params: &Value, context: &str, mover: &mut Mover) -> Result<Value, ApiError> {
    let fail = |detail: &str| ApiError::invalid_argument(format!("{context}: {detail}"));
    let rect: Rect = metadata::grid_range(ss, params.get("range").unwrap_or(&Value::Null), context)?;
    let specs = params.get("sortSpecs").and_then(Value::as_array).cloned().unwrap_or_default();
    if specs.is_empty() {
        return Err(fail("At least one sort spec must be specified."));
    }
    let mut parsed = Vec::new();
    for spec in &specs {
        let column =
            spec.get("dimensionIndex").and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok()).unwrap_or(0);
        if !(rect.c0..rect.c1).contains(&column) {
            return Err(fail(&format!("The sort column {column} is outside the range being sorted.")));
        }
        let order = match spec.get("sortOrder").and_then(Value::as_str) {
            None | Some("ASCENDING") => SortOrder::Ascending,
            Some("DESCENDING") => SortOrder::Descending,
            Some(other) => return Err(fail(&format!("Invalid sortOrder: {other}"))),
        };
        parsed.push((column, order));
    }
    ss.sort_rows(rect, &parsed, mover.sort());
    Ok(json!({}))
}

/// `cutPaste`: `source` (a `GridRange`), `destination` (a `GridCoordinate`: the top-left cell of
/// the paste, possibly on another sheet) and `pasteType`. The sandbox keeps no formats, data
/// validation or conditional formats, so only the kinds that move values are emulated.
fn cut_paste(ss: &mut Spreadsheet, params: &Value, context: &str, mover: &mut Mover) -> Result<Value, ApiError> {
    let fail = |detail: String| ApiError::invalid_argument(format!("{context}: {detail}"));
    let source = params.get("source").ok_or_else(|| fail("source is required".into()))?;
    let source: Rect = metadata::grid_range(ss, source, context)?;
    let destination = params.get("destination").ok_or_else(|| fail("destination is required".into()))?;
    let sheet_id = destination.get("sheetId").and_then(Value::as_i64).unwrap_or(0);
    let sheet = i32::try_from(sheet_id)
        .ok()
        .and_then(|id| ss.sheet_by_id(id))
        .ok_or_else(|| fail(format!("No grid with id: {sheet_id}")))?;
    let index = |key| destination.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok());
    let (row, col) = (index("rowIndex").unwrap_or(0), index("columnIndex").unwrap_or(0));
    let values_only = match params.get("pasteType").and_then(Value::as_str) {
        None | Some("PASTE_NORMAL" | "PASTE_NO_BORDERS" | "PASTE_FORMULA") => false,
        Some("PASTE_VALUES") => true,
        Some(kind @ ("PASTE_FORMAT" | "PASTE_DATA_VALIDATION" | "PASTE_CONDITIONAL_FORMATTING")) => {
            return Err(fail(format!("pasteType {kind} is not emulated by the qbsync sandbox")));
        }
        Some(other) => {
            return Err(ApiError::invalid_argument(format!(
                "Invalid value at '{}.paste_type' (type.googleapis.com/google.apps.sheets.v4.PasteType), \"{other}\"",
                context.trim_start_matches("Invalid ").replace(".cutPaste", ".cut_paste")
            )));
        }
    };
    let (rows, cols) = (ss.sheets[sheet].rows.len(), ss.sheets[sheet].columns.len());
    let (end_row, end_col) = (row + (source.r1 - source.r0), col + (source.c1 - source.c0));
    if end_row > rows || end_col > cols {
        return Err(fail(format!(
            "the paste at row {row}, column {col} passes the grid's edge. Max rows: {rows}, max columns: {cols}"
        )));
    }
    ss.cut_paste(source, Coordinate { sheet, row, col }, values_only, mover.cut_paste());
    Ok(json!({}))
}

fn add_sheet(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let props = params.get("properties").cloned().unwrap_or(json!({}));
    let title = match props.get("title").and_then(Value::as_str) {
        Some(title) => title.to_owned(),
        None => (1..).map(|n| format!("Sheet{n}")).find(|t| ss.sheet_by_title(t).is_none()).unwrap_or_default(),
    };
    if ss.sheet_by_title(&title).is_some() {
        return Err(format!("A sheet with the name \"{title}\" already exists. Please enter another name."));
    }
    let sheet_id =
        props.get("sheetId").and_then(Value::as_i64).map(i32::try_from).transpose().map_err(|_| "bad sheetId")?;
    if let Some(id) = sheet_id
        && ss.sheet_by_id(id).is_some()
    {
        return Err(format!("A sheet with id {id} already exists."));
    }
    let grid = props.get("gridProperties").cloned().unwrap_or(json!({}));
    let read = |key: &str, default: usize| {
        grid.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok()).unwrap_or(default)
    };
    let index = ss.add_sheet(&title, sheet_id, read("rowCount", DEFAULT_ROWS), read("columnCount", DEFAULT_COLUMNS));
    let s = &ss.sheets[index];
    Ok(json!({"addSheet": {"properties": {
        "sheetId": s.sheet_id, "title": s.title, "index": index, "sheetType": "GRID",
        "gridProperties": {"rowCount": s.rows.len(), "columnCount": s.columns.len()},
    }}}))
}

fn delete_sheet(ss: &mut Spreadsheet, params: &Value) -> Result<Value, String> {
    let sheet_id = params.get("sheetId").and_then(Value::as_i64).unwrap_or(-1);
    let sheet = i32::try_from(sheet_id)
        .ok()
        .and_then(|id| ss.sheet_by_id(id))
        .ok_or(format!("No sheet with id: {sheet_id}"))?;
    if ss.sheets.len() == 1 {
        return Err("You can't remove all the sheets in a document.".into());
    }
    ss.sheets.remove(sheet);
    ss.prune_metadata();
    Ok(json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn sheet() -> Spreadsheet {
        let mut ss = Spreadsheet::new("sid", "t");
        ss.add_sheet("inv_tbl", None, 10, 5);
        ss
    }

    fn run(ss: &mut Spreadsheet, requests: Value) -> Result<Value, ApiError> {
        let mut mover = Mover::new(Default::default(), 1);
        apply(ss, &json!({ "requests": requests }), &mut StdRng::seed_from_u64(1), &mut mover)
    }

    fn row_metadata(id: i32, row: usize) -> Value {
        json!({"createDeveloperMetadata": {"developerMetadata": {"metadataId": id, "metadataKey": "qbsync_row",
            "metadataValue": format!("uuid-{id}"), "visibility": "DOCUMENT",
            "location": {"dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": row, "endIndex": row + 1}}}}})
    }

    #[test]
    fn replies_match_requests_and_metadata_reply_has_the_location() {
        let mut ss = sheet();
        let out = run(&mut ss, json!([row_metadata(5, 3), {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 2}}}])).unwrap();
        assert_eq!(out["replies"][1], json!({}));
        assert_eq!(
            out["replies"][0]["createDeveloperMetadata"]["developerMetadata"]["location"]["dimensionRange"]["startIndex"],
            3
        );
        let m = ss.metadata[&5].to_json(&ss).unwrap();
        assert_eq!(m["location"]["dimensionRange"]["startIndex"], 5);
    }

    #[test]
    fn duplicate_ids_and_unknown_requests_fail() {
        let mut ss = sheet();
        run(&mut ss, json!([row_metadata(5, 3)])).unwrap();
        let error = run(&mut ss, json!([row_metadata(5, 4)])).unwrap_err();
        assert!(error.message.contains("already exists"), "{}", error.message);
        let error = run(&mut ss, json!([{"frobnicate": {}}])).unwrap_err();
        assert!(error.message.contains("Unknown name \"frobnicate\""));
    }
}
