//! `spreadsheets.get` with `includeGridData=true`: the cells and the row and column properties
//! of the ranges asked for (`ranges`, or every sheet whole), as `sheets[].data[]`, one
//! `GridData` per range in the order asked.
//!
//! The shapes follow Google's reference: a `GridData` carries `startRow`/`startColumn` (left
//! out when 0, as proto3 JSON leaves zeros out), `rowData` with one `RowData` per row up to the
//! last row with a value (`{}` for a row without cells), each with `values` up to its last
//! cell with a value (`{}` for an empty cell), then `rowMetadata` and `columnMetadata` with one
//! `DimensionProperties` per row and column of the range, carrying `developerMetadata` on the
//! rows and columns that have some. A cell is a `CellData`: `userEnteredValue` (what was typed
//! or written, a formula as `formulaValue`), `effectiveValue` (the computed value, an error as
//! `errorValue`) and `formattedValue` (what the sheet shows).
//!
//! A tab of 50,000 rows answers with hundreds of megabytes when built as a JSON tree, so the
//! answer is written out piece by piece, each piece cut down to the `fields` selection before
//! the next is made.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use super::developer_metadata::{Anchor, DeveloperMetadata, Location};
use super::entry::{Computed, Entry, display, number_json};
use super::error::ApiError;
use super::fields::Selection;
use super::spreadsheet::{Rect, Spreadsheet};

/// What to keep of a part of the answer: `None` keeps all of it.
type Keep<'a> = Option<&'a Selection>;

/// What to keep of member `name` of a part kept as `keep`; `None` when it is not kept at all.
fn pick<'a>(keep: Keep<'a>, name: &str) -> Option<Keep<'a>> {
    match keep {
        None => Some(None),
        Some(selection) => selection.member(name),
    }
}

fn cut(keep: Keep<'_>, value: Value) -> Value {
    match keep {
        None => value,
        Some(selection) => selection.apply(value),
    }
}

/// The answer of a `spreadsheets.batchUpdate` asked to include the spreadsheet
/// (`includeSpreadsheetInResponse`): `spreadsheetId`, the `replies`, and `updatedSpreadsheet`,
/// the spreadsheet after the update limited to `responseRanges`, with grid data when
/// `responseIncludeGridData` is set or a `fields` mask reaches into it (Google ignores the flag
/// when a mask is set).
pub fn batch_update_answer(
    ss: &Spreadsheet,
    base_url: &str,
    replies: Value,
    request: &Value,
    selection: Option<&Selection>,
) -> Result<Vec<u8>, ApiError> {
    let ranges: Vec<String> = request
        .get("responseRanges")
        .and_then(Value::as_array)
        .map(|ranges| ranges.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let with_grid =
        selection.is_some() || request.get("responseIncludeGridData").and_then(Value::as_bool) == Some(true);
    let mut out = Vec::new();
    let mut object = ObjectWriter::new(&mut out);
    let replies = json!({"spreadsheetId": ss.id, "replies": replies});
    let Value::Object(top) = cut(selection, replies) else { return Ok(b"{}".to_vec()) };
    for (name, value) in &top {
        object.member(name, |out| write_json(out, value));
    }
    if let Some(keep) = pick(selection, "updatedSpreadsheet") {
        let spreadsheet = match with_grid {
            true => answer(ss, base_url, &ranges, keep)?,
            false => serde_json::to_vec(&cut(keep, ss.to_api_json(base_url))).unwrap_or_default(),
        };
        object.member("updatedSpreadsheet", |out| out.extend_from_slice(&spreadsheet));
    }
    object.close();
    Ok(out)
}

/// Google's default row height and column width, in pixels.
const ROW_PIXELS: u32 = 21;
const COLUMN_PIXELS: u32 = 100;

/// The whole answer, `fields` (`selection`) honoured.
pub fn answer(
    ss: &Spreadsheet,
    base_url: &str,
    ranges: &[String],
    selection: Option<&Selection>,
) -> Result<Vec<u8>, ApiError> {
    let rects: Vec<Rect> = if ranges.is_empty() {
        (0..ss.sheets.len())
            .map(|sheet| Rect {
                sheet,
                r0: 0,
                r1: ss.sheets[sheet].rows.len(),
                c0: 0,
                c1: ss.sheets[sheet].columns.len(),
            })
            .collect()
    } else {
        ranges
            .iter()
            .map(|range| ss.target(range).and_then(|target| ss.read_rect(&target)))
            .collect::<Result<_, _>>()?
    };
    let mut spreadsheet = ss.to_api_json(base_url);
    let sheets = match spreadsheet.as_object_mut().and_then(|members| members.remove("sheets")) {
        Some(Value::Array(sheets)) => sheets,
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    let Value::Object(top) = cut(selection, spreadsheet) else { return Ok(b"{}".to_vec()) };
    let mut object = ObjectWriter::new(&mut out);
    for (name, value) in &top {
        object.member(name, |out| write_json(out, value));
    }
    if let Some(keep) = pick(selection, "sheets") {
        object.member("sheets", |out| {
            out.push(b'[');
            // With ranges, only the sheets they name; in the spreadsheet's order.
            let shown =
                (0..ss.sheets.len()).filter(|&sheet| ranges.is_empty() || rects.iter().any(|r| r.sheet == sheet));
            for (n, sheet) in shown.enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                let mine: Vec<&Rect> = rects.iter().filter(|rect| rect.sheet == sheet).collect();
                write_sheet(out, ss, sheets.get(sheet).cloned().unwrap_or_default(), &mine, keep);
            }
            out.push(b']');
        });
    }
    object.close();
    Ok(out)
}

/// One `Sheet`: its properties and metadata as without grid data, and `data`.
fn write_sheet(out: &mut Vec<u8>, ss: &Spreadsheet, sheet_json: Value, rects: &[&Rect], keep: Keep<'_>) {
    let Value::Object(members) = cut(keep, sheet_json) else { return };
    let mut object = ObjectWriter::new(out);
    for (name, value) in &members {
        object.member(name, |out| write_json(out, value));
    }
    if let Some(keep) = pick(keep, "data") {
        object.member("data", |out| {
            out.push(b'[');
            for (n, rect) in rects.iter().enumerate() {
                if n > 0 {
                    out.push(b',');
                }
                write_grid_data(out, ss, rect, keep);
            }
            out.push(b']');
        });
    }
    object.close();
}

/// One `GridData`.
fn write_grid_data(out: &mut Vec<u8>, ss: &Spreadsheet, rect: &Rect, keep: Keep<'_>) {
    let sheet = &ss.sheets[rect.sheet];
    let mut object = ObjectWriter::new(out);
    if rect.r0 > 0 && pick(keep, "startRow").is_some() {
        object.member("startRow", |out| write_json(out, &json!(rect.r0)));
    }
    if rect.c0 > 0 && pick(keep, "startColumn").is_some() {
        object.member("startColumn", |out| write_json(out, &json!(rect.c0)));
    }
    if let Some(keep) = pick(keep, "rowData") {
        let valued = |row: usize, col: usize| has_value(ss, rect.sheet, row, col);
        let last_row = (rect.r0..rect.r1).rev().find(|&row| (rect.c0..rect.c1).any(|col| valued(row, col)));
        if let Some(last_row) = last_row {
            object.member("rowData", |out| {
                out.push(b'[');
                for row in rect.r0..=last_row {
                    if row > rect.r0 {
                        out.push(b',');
                    }
                    let end = (rect.c0..rect.c1).rev().find(|&col| valued(row, col)).map_or(rect.c0, |col| col + 1);
                    let mut row_data = Map::new();
                    if end > rect.c0 {
                        let cells = (rect.c0..end).map(|col| cell_data(ss, rect.sheet, row, col)).collect();
                        row_data.insert("values".into(), Value::Array(cells));
                    }
                    write_json(out, &cut(keep, Value::Object(row_data)));
                }
                out.push(b']');
            });
        }
    }
    let metadata = |kind: fn(&Anchor) -> Option<u64>| -> HashMap<u64, Vec<&DeveloperMetadata>> {
        let mut by_uid: HashMap<u64, Vec<&DeveloperMetadata>> = HashMap::new();
        for entry in ss.metadata.values().filter(|m| m.anchor.sheet_id() == Some(sheet.sheet_id)) {
            if let Some(uid) = kind(&entry.anchor) {
                by_uid.entry(uid).or_default().push(entry);
            }
        }
        by_uid
    };
    if let Some(keep) = pick(keep, "rowMetadata") {
        let by_uid = metadata(|anchor| match anchor {
            Anchor::Row { uid, .. } => Some(*uid),
            _ => None,
        });
        object.member("rowMetadata", |out| {
            write_dimension(out, ss, rect.r0..rect.r1, ROW_PIXELS, keep, |row| {
                let location = Location::Row { sheet: rect.sheet, index: row };
                (by_uid.get(&sheet.rows[row].uid), location)
            });
        });
    }
    if let Some(keep) = pick(keep, "columnMetadata") {
        let by_uid = metadata(|anchor| match anchor {
            Anchor::Column { uid, .. } => Some(*uid),
            _ => None,
        });
        object.member("columnMetadata", |out| {
            write_dimension(out, ss, rect.c0..rect.c1, COLUMN_PIXELS, keep, |col| {
                let location = Location::Column { sheet: rect.sheet, index: col };
                (by_uid.get(&sheet.columns[col]), location)
            });
        });
    }
    object.close();
}

/// The `DimensionProperties` of each row or column in `span`.
fn write_dimension<'m>(
    out: &mut Vec<u8>,
    ss: &Spreadsheet,
    span: std::ops::Range<usize>,
    pixels: u32,
    keep: Keep<'_>,
    metadata_at: impl Fn(usize) -> (Option<&'m Vec<&'m DeveloperMetadata>>, Location),
) {
    out.push(b'[');
    for (n, at) in span.enumerate() {
        if n > 0 {
            out.push(b',');
        }
        let mut properties = json!({"pixelSize": pixels});
        let (metadata, location) = metadata_at(at);
        if let Some(metadata) = metadata {
            let entries = metadata.iter().map(|entry| entry.to_json_at(location, ss)).collect();
            properties["developerMetadata"] = Value::Array(entries);
        }
        write_json(out, &cut(keep, properties));
    }
    out.push(b']');
}

/// Whether the cell has a value (what `values.get` would send for it).
fn has_value(ss: &Spreadsheet, sheet: usize, row: usize, col: usize) -> bool {
    !ss.sheets[sheet].entry(row, col).is_empty() && ss.computed(sheet, row, col) != Computed::Empty
}

/// One `CellData`: `{}` for a cell without a value.
fn cell_data(ss: &Spreadsheet, sheet: usize, row: usize, col: usize) -> Value {
    let entry = ss.sheets[sheet].entry(row, col);
    let user_entered = match entry {
        Entry::Empty => return json!({}),
        Entry::Text { text } => json!({"stringValue": text}),
        Entry::Number { value, .. } => json!({"numberValue": number_json(*value)}),
        Entry::Bool { value } => json!({"boolValue": value}),
        Entry::Formula { formula } => json!({"formulaValue": formula}),
    };
    let computed = ss.computed(sheet, row, col);
    let effective = match &computed {
        Computed::Empty => return json!({"userEnteredValue": user_entered}),
        Computed::Text(text) => json!({"stringValue": text}),
        Computed::Number(value, _) => json!({"numberValue": number_json(*value)}),
        Computed::Bool(value) => json!({"boolValue": value}),
        Computed::Error(code) => {
            let (kind, message) = error_value(code);
            json!({"errorValue": {"type": kind, "message": message}})
        }
    };
    json!({"userEnteredValue": user_entered, "effectiveValue": effective, "formattedValue": display(&computed)})
}

/// An error code's `ErrorValue.type`, and a message of the kind Google gives.
fn error_value(code: &str) -> (&'static str, &'static str) {
    match code {
        "#NULL!" => ("NULL_VALUE", "The ranges do not intersect."),
        "#DIV/0!" => ("DIVIDE_BY_ZERO", "Function DIVIDE parameter 2 cannot be zero."),
        "#VALUE!" => ("VALUE", "A value cannot be parsed as a number."),
        "#REF!" => ("REF", "The reference does not exist."),
        "#NAME?" => ("NAME", "Unknown function."),
        "#NUM!" => ("NUM", "The result is not a real number."),
        "#N/A" => ("N_A", "No value is available."),
        _ => ("ERROR", "Formula parse error."),
    }
}

fn write_json(out: &mut Vec<u8>, value: &Value) {
    // Serialising a `Value` into memory cannot fail.
    let _ = serde_json::to_writer(out, value);
}

/// Writes a JSON object member by member.
struct ObjectWriter<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    fn new(out: &'o mut Vec<u8>) -> ObjectWriter<'o> {
        out.push(b'{');
        ObjectWriter { out, first: true }
    }

    fn member(&mut self, name: &str, value: impl FnOnce(&mut Vec<u8>)) {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        write_json(self.out, &Value::String(name.to_owned()));
        self.out.push(b':');
        value(self.out);
    }

    fn close(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::google::developer_metadata::Visibility;
    use crate::sandbox::google::entry::typed;

    fn sheet() -> Spreadsheet {
        let mut ss = Spreadsheet::new("id", "Books");
        ss.add_sheet("inv_tbl", Some(0), 6, 4);
        ss.add_sheet("other", Some(9), 3, 3);
        for (row, col, text) in [(0, 0, "invoice"), (0, 1, "amount"), (1, 0, "A-1"), (1, 1, "=1/0"), (3, 2, "'12")] {
            ss.sheets[0].set(row, col, typed(text));
        }
        let uid = ss.sheets[0].rows[3].uid;
        let anchor = Anchor::Row { sheet_id: 0, uid };
        ss.metadata.insert(
            5,
            DeveloperMetadata {
                id: 5,
                key: "k".into(),
                value: Some("v".into()),
                visibility: Visibility::Document,
                anchor,
            },
        );
        ss
    }

    fn read(ranges: &[&str], fields: Option<&str>) -> Value {
        let ranges: Vec<String> = ranges.iter().map(|r| (*r).to_owned()).collect();
        let selection = fields.map(|f| Selection::parse(f).unwrap());
        serde_json::from_slice(&answer(&sheet(), "http://x/", &ranges, selection.as_ref()).unwrap()).unwrap()
    }

    #[test]
    fn grid_data_has_googles_shape() {
        let answer = read(&["inv_tbl!B2:D5", "'inv_tbl'"], None);
        let sheets = answer["sheets"].as_array().unwrap();
        assert_eq!(sheets.len(), 1, "only the sheet the ranges name");
        assert_eq!(sheets[0]["properties"]["title"], "inv_tbl");
        let data = sheets[0]["data"].as_array().unwrap();
        assert_eq!(data.len(), 2);
        assert_eq!(data[0]["startRow"], 1);
        assert_eq!(data[0]["startColumn"], 1);
        assert!(data[1].get("startRow").is_none(), "zeros are left out");
        assert_eq!(
            data[0]["rowData"],
            json!([
                {"values": [{"userEnteredValue": {"formulaValue": "=1/0"}, "formattedValue": "#DIV/0!",
                    "effectiveValue": {"errorValue": {"type": "DIVIDE_BY_ZERO", "message": "Function DIVIDE parameter 2 cannot be zero."}}}]},
                {},
                {"values": [{}, {"userEnteredValue": {"stringValue": "12"}, "effectiveValue": {"stringValue": "12"}, "formattedValue": "12"}]},
            ])
        );
        assert_eq!(data[1]["rowData"].as_array().unwrap().len(), 4, "up to the last row with a value");
        assert_eq!(data[1]["rowMetadata"].as_array().unwrap().len(), 6, "one per row of the grid");
        assert_eq!(data[1]["columnMetadata"].as_array().unwrap().len(), 4);
        assert_eq!(data[1]["rowMetadata"][0], json!({"pixelSize": 21}));
        assert_eq!(
            data[1]["rowMetadata"][3]["developerMetadata"],
            json!([{"metadataId": 5, "metadataKey": "k", "metadataValue": "v", "visibility": "DOCUMENT",
                "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": 3, "endIndex": 4}}}])
        );
        assert_eq!(data[0]["rowMetadata"][2]["developerMetadata"][0]["metadataId"], 5, "row 4 is the range's third");
    }

    #[test]
    fn fields_keep_only_what_is_asked_for() {
        let fields =
            "sheets(data(rowData(values(effectiveValue)),rowMetadata(developerMetadata(metadataId,metadataValue))))";
        let answer = read(&["'inv_tbl'"], Some(fields));
        assert_eq!(answer.as_object().unwrap().len(), 1);
        let data = &answer["sheets"][0]["data"][0];
        assert_eq!(data.as_object().unwrap().len(), 2);
        assert_eq!(
            data["rowData"][0],
            json!({"values": [{"effectiveValue": {"stringValue": "invoice"}}, {"effectiveValue": {"stringValue": "amount"}}]})
        );
        assert_eq!(data["rowMetadata"][0], json!({}));
        assert_eq!(data["rowMetadata"][3], json!({"developerMetadata": [{"metadataId": 5, "metadataValue": "v"}]}));
        let titles = read(&[], Some("sheets/properties/title"));
        assert_eq!(
            titles,
            json!({"sheets": [{"properties": {"title": "inv_tbl"}}, {"properties": {"title": "other"}}]})
        );
    }

    #[test]
    fn without_ranges_every_sheet_comes_whole_and_a_bad_range_is_refused() {
        let answer = read(&[], None);
        assert_eq!(answer["sheets"].as_array().unwrap().len(), 2);
        assert!(answer["sheets"][1]["data"][0].get("rowData").is_none(), "an empty sheet has no rowData");
        assert_eq!(answer["sheets"][1]["data"][0]["rowMetadata"].as_array().unwrap().len(), 3);
        let error = super::answer(&sheet(), "http://x/", &["nope!A1".to_owned()], None).unwrap_err();
        assert!(error.message.starts_with("Unable to parse range"), "{}", error.message);
    }
}
