//! Developer metadata and data filters: what it is anchored to, how it is rendered, how
//! `DataFilter`s select it and the cells behind it.
//!
//! Used by `spreadsheets.batchUpdate` (create/update/delete), `developerMetadata.get`/`search`
//! and the `…ByDataFilter` value methods. Anchors point at row/column identities (see
//! `spreadsheet.rs`), so a location is computed fresh every time it is rendered.
//!
//! The entries themselves are data the spreadsheet holds and live in `developer_metadata.rs`;
//! this file holds what needs a [`Spreadsheet`] to answer, so it depends on the spreadsheet and
//! the spreadsheet does not depend on it.

use serde_json::{Value, json};

use super::developer_metadata::{Anchor, DeveloperMetadata, Location};
use super::error::ApiError;
use super::spreadsheet::{Rect, Spreadsheet};

impl Anchor {
    /// The current position, `None` once the row, column or sheet is gone.
    pub fn locate(&self, ss: &Spreadsheet) -> Option<Location> {
        match *self {
            Anchor::Spreadsheet => Some(Location::Spreadsheet),
            Anchor::Sheet { sheet_id } => ss.sheet_by_id(sheet_id).map(|sheet| Location::Sheet { sheet }),
            Anchor::Row { sheet_id, uid } => {
                let sheet = ss.sheet_by_id(sheet_id)?;
                let index = ss.sheets[sheet].rows.iter().position(|r| r.uid == uid)?;
                Some(Location::Row { sheet, index })
            }
            Anchor::Column { sheet_id, uid } => {
                let sheet = ss.sheet_by_id(sheet_id)?;
                let index = ss.sheets[sheet].columns.iter().position(|c| *c == uid)?;
                Some(Location::Column { sheet, index })
            }
        }
    }
}

impl Location {
    /// The anchor for the row/column/sheet now at this location.
    pub fn anchor(&self, ss: &Spreadsheet) -> Anchor {
        match *self {
            Location::Spreadsheet => Anchor::Spreadsheet,
            Location::Sheet { sheet } => Anchor::Sheet { sheet_id: ss.sheets[sheet].sheet_id },
            Location::Row { sheet, index } => {
                Anchor::Row { sheet_id: ss.sheets[sheet].sheet_id, uid: ss.sheets[sheet].rows[index].uid }
            }
            Location::Column { sheet, index } => {
                Anchor::Column { sheet_id: ss.sheets[sheet].sheet_id, uid: ss.sheets[sheet].columns[index] }
            }
        }
    }

    /// The `DeveloperMetadataLocation` JSON.
    pub fn to_json(&self, ss: &Spreadsheet) -> Value {
        match *self {
            Location::Spreadsheet => json!({"locationType": "SPREADSHEET", "spreadsheet": true}),
            Location::Sheet { sheet } => json!({"locationType": "SHEET", "sheetId": ss.sheets[sheet].sheet_id}),
            Location::Row { sheet, index } => json!({"locationType": "ROW", "dimensionRange": {
                "sheetId": ss.sheets[sheet].sheet_id, "dimension": "ROWS", "startIndex": index, "endIndex": index + 1}}),
            Location::Column { sheet, index } => json!({"locationType": "COLUMN", "dimensionRange": {
                "sheetId": ss.sheets[sheet].sheet_id, "dimension": "COLUMNS", "startIndex": index, "endIndex": index + 1}}),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Location::Spreadsheet => "SPREADSHEET",
            Location::Sheet { .. } => "SHEET",
            Location::Row { .. } => "ROW",
            Location::Column { .. } => "COLUMN",
        }
    }

    /// The cells this location covers (`None` for the spreadsheet itself).
    pub fn rect(&self, ss: &Spreadsheet) -> Option<Rect> {
        match *self {
            Location::Spreadsheet => None,
            Location::Sheet { sheet } => {
                Some(Rect { sheet, r0: 0, r1: ss.sheets[sheet].rows.len(), c0: 0, c1: ss.sheets[sheet].columns.len() })
            }
            Location::Row { sheet, index } => {
                Some(Rect { sheet, r0: index, r1: index + 1, c0: 0, c1: ss.sheets[sheet].columns.len() })
            }
            Location::Column { sheet, index } => {
                Some(Rect { sheet, r0: 0, r1: ss.sheets[sheet].rows.len(), c0: index, c1: index + 1 })
            }
        }
    }

    fn intersects(&self, rect: &Rect) -> bool {
        match *self {
            Location::Spreadsheet => false,
            Location::Sheet { sheet } => sheet == rect.sheet,
            Location::Row { sheet, index } => sheet == rect.sheet && (rect.r0..rect.r1).contains(&index),
            Location::Column { sheet, index } => sheet == rect.sheet && (rect.c0..rect.c1).contains(&index),
        }
    }
}

impl DeveloperMetadata {
    /// The `DeveloperMetadata` JSON, `None` if its anchor is gone.
    pub fn to_json(&self, ss: &Spreadsheet) -> Option<Value> {
        Some(self.to_json_at(self.anchor.locate(ss)?, ss))
    }

    /// The `DeveloperMetadata` JSON, its anchor being at `location` now (when the caller has
    /// located many at once).
    pub fn to_json_at(&self, location: Location, ss: &Spreadsheet) -> Value {
        let mut out = json!({"metadataId": self.id, "metadataKey": self.key});
        if let Some(value) = &self.value {
            out["metadataValue"] = json!(value);
        }
        out["location"] = location.to_json(ss);
        out["visibility"] = json!(self.visibility.as_str());
        out
    }
}

/// Parses a `DeveloperMetadataLocation` from a request into the location it names now.
/// `field` prefixes error messages.
pub fn parse_location(ss: &Spreadsheet, json: &Value, field: &str) -> Result<Location, ApiError> {
    let bad = |detail: &str| ApiError::invalid_argument(format!("{field}: {detail}"));
    if let Some(range) = json.get("dimensionRange") {
        let sheet_id = int(range, "sheetId").unwrap_or(0);
        let sheet = ss.sheet_by_id(sheet_id).ok_or_else(|| bad(&format!("No grid with id: {sheet_id}")))?;
        let start = index(range, "startIndex").ok_or_else(|| bad("dimensionRange must have a startIndex"))?;
        let end = index(range, "endIndex").ok_or_else(|| bad("dimensionRange must have an endIndex"))?;
        if end != start + 1 {
            return Err(bad("The dimension range must span exactly one row or column"));
        }
        return match range.get("dimension").and_then(Value::as_str) {
            Some("ROWS") if start < ss.sheets[sheet].rows.len() => Ok(Location::Row { sheet, index: start }),
            Some("COLUMNS") if start < ss.sheets[sheet].columns.len() => Ok(Location::Column { sheet, index: start }),
            Some("ROWS" | "COLUMNS") => Err(bad("The dimension range is outside the grid")),
            _ => Err(bad("dimensionRange must have a dimension of ROWS or COLUMNS")),
        };
    }
    if let Some(sheet_id) = json.get("sheetId") {
        let sheet_id = sheet_id.as_i64().and_then(|v| i32::try_from(v).ok()).unwrap_or(-1);
        let sheet = ss.sheet_by_id(sheet_id).ok_or_else(|| bad(&format!("No grid with id: {sheet_id}")))?;
        return Ok(Location::Sheet { sheet });
    }
    if json.get("spreadsheet").and_then(Value::as_bool) == Some(true) {
        return Ok(Location::Spreadsheet);
    }
    Err(bad("A location must be set"))
}

/// One `DataFilter` from a request, resolved.
pub enum Filter {
    Lookup(Value),
    Cells(Rect),
}

/// Parses a `DataFilter` (exactly one of `developerMetadataLookup`, `a1Range`, `gridRange`).
pub fn parse_filter(ss: &Spreadsheet, json: &Value, field: &str) -> Result<Filter, ApiError> {
    let set: Vec<&str> = ["developerMetadataLookup", "a1Range", "gridRange"]
        .into_iter()
        .filter(|k| json.get(*k).is_some_and(|v| !v.is_null()))
        .collect();
    if set.len() != 1 {
        return Err(ApiError::invalid_argument(format!("{field}: exactly one filter criteria must be set")));
    }
    match set[0] {
        "developerMetadataLookup" => Ok(Filter::Lookup(json["developerMetadataLookup"].clone())),
        "a1Range" => {
            let text = json["a1Range"].as_str().unwrap_or_default();
            let target = ss.target(text)?;
            Ok(Filter::Cells(ss.read_rect(&target)?))
        }
        _ => Ok(Filter::Cells(grid_range(ss, &json["gridRange"], field)?)),
    }
}

/// Resolves a `GridRange` (unbounded sides reach the grid's edge).
pub fn grid_range(ss: &Spreadsheet, json: &Value, field: &str) -> Result<Rect, ApiError> {
    let sheet_id = int(json, "sheetId").unwrap_or(0);
    let sheet = ss
        .sheet_by_id(sheet_id)
        .ok_or_else(|| ApiError::invalid_argument(format!("{field}: No grid with id: {sheet_id}")))?;
    let (rows, cols) = (ss.sheets[sheet].rows.len(), ss.sheets[sheet].columns.len());
    let r0 = index(json, "startRowIndex").unwrap_or(0);
    let r1 = index(json, "endRowIndex").unwrap_or(rows);
    let c0 = index(json, "startColumnIndex").unwrap_or(0);
    let c1 = index(json, "endColumnIndex").unwrap_or(cols);
    if r0 >= r1 || c0 >= c1 || r1 > rows || c1 > cols {
        return Err(ApiError::invalid_argument(format!(
            "{field}: Range ({}) exceeds grid limits. Max rows: {rows}, max columns: {cols}",
            super::a1::format_range(&ss.sheets[sheet].title, r0, c0, r1.max(r0 + 1), c1.max(c0 + 1))
        )));
    }
    Ok(Rect { sheet, r0, r1, c0, c1 })
}

/// Does this metadata match the filter? A lookup matches on every field it sets; a cell range
/// matches metadata whose location intersects it.
pub fn matches(ss: &Spreadsheet, m: &DeveloperMetadata, filter: &Filter) -> Result<bool, ApiError> {
    // The fields the entry carries are checked before it is located: locating a row walks the
    // sheet, and a lookup by id or value over 100,000 anchors must not walk it for each.
    if let Filter::Lookup(lookup) = filter
        && !carries(m, lookup)
    {
        return Ok(false);
    }
    let Some(location) = m.anchor.locate(ss) else { return Ok(false) };
    match filter {
        Filter::Cells(rect) => Ok(location.intersects(rect)),
        Filter::Lookup(lookup) => {
            if let Some(kind) = lookup.get("locationType").and_then(Value::as_str)
                && location.type_name() != kind
            {
                return Ok(false);
            }
            if let Some(wanted) = lookup.get("metadataLocation") {
                let wanted = parse_location(ss, wanted, "developerMetadataLookup.metadataLocation")?;
                let intersecting =
                    lookup.get("locationMatchingStrategy").and_then(Value::as_str) == Some("INTERSECTING_LOCATION");
                let hit = if intersecting {
                    location == wanted || wanted.rect(ss).is_some_and(|rect| location.intersects(&rect))
                } else {
                    location == wanted
                };
                if !hit {
                    return Ok(false);
                }
            }
            Ok(true)
        }
    }
}

/// Whether the entry has every id, key, value and visibility `lookup` asks for.
fn carries(m: &DeveloperMetadata, lookup: &Value) -> bool {
    let id = lookup.get("metadataId").and_then(Value::as_i64);
    let key = lookup.get("metadataKey").and_then(Value::as_str);
    let value = lookup.get("metadataValue").and_then(Value::as_str);
    let visibility = lookup.get("visibility").and_then(Value::as_str);
    id.is_none_or(|id| i64::from(m.id) == id)
        && key.is_none_or(|key| m.key == key)
        && value.is_none_or(|value| m.value.as_deref() == Some(value))
        && visibility.is_none_or(|visibility| m.visibility.as_str() == visibility)
}

/// The cells a filter selects, each once, in metadata-id order for lookups.
pub fn filter_rects(ss: &Spreadsheet, filter: &Filter) -> Result<Vec<Rect>, ApiError> {
    match filter {
        Filter::Cells(rect) => Ok(vec![*rect]),
        Filter::Lookup(_) => {
            let mut rects = Vec::new();
            for m in ss.metadata.values() {
                if matches(ss, m, filter)?
                    && let Some(rect) = m.anchor.locate(ss).and_then(|l| l.rect(ss))
                    && !rects.contains(&rect)
                {
                    rects.push(rect);
                }
            }
            Ok(rects)
        }
    }
}

fn int(json: &Value, key: &str) -> Option<i32> {
    json.get(key).and_then(Value::as_i64).and_then(|v| i32::try_from(v).ok())
}

fn index(json: &Value, key: &str) -> Option<usize> {
    json.get(key).and_then(Value::as_u64).and_then(|v| usize::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::google::developer_metadata::Visibility;

    #[test]
    fn row_metadata_renders_its_current_row() {
        let mut ss = Spreadsheet::new("id", "t");
        ss.add_sheet("inv_tbl", None, 10, 3);
        let anchor = Location::Row { sheet: 0, index: 4 }.anchor(&ss);
        let m = DeveloperMetadata {
            id: 7,
            key: "k".into(),
            value: Some("v".into()),
            visibility: Visibility::Document,
            anchor,
        };
        ss.insert_rows(0, 0, 2);
        assert_eq!(
            m.to_json(&ss).unwrap(),
            json!({"metadataId": 7, "metadataKey": "k", "metadataValue": "v", "visibility": "DOCUMENT",
                   "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": 6, "endIndex": 7}}})
        );
        ss.delete_rows(0, 6, 7);
        assert_eq!(m.to_json(&ss), None);
    }
}
