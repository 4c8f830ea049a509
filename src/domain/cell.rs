//! One sheet cell as the Sheets API returns it under `UNFORMATTED_VALUE`.
//!
//! Numbers keep the text of the JSON number they arrived as: they are converted to
//! `Decimal` from that text, never through `f64` arithmetic (see `shared/reference`, trap 11).

use std::borrow::Cow;

use compact_str::{CompactString, ToCompactString};
use serde_json::Value;

/// A cell value, typed the way the Sheets API types it.
///
/// The text is a [`CompactString`]: up to 24 bytes live inside the cell, and nearly every cell
/// of an invoice sheet (numbers, dates, amounts, statuses, ids, most names) is that short. A
/// 50,000-row sheet is one and a half million cells read on every busy pass, so a heap string
/// each would be that many allocations to make, fault in and free.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Cell {
    /// Absent (trailing cells are omitted by the API) or the empty string.
    #[default]
    Empty,
    /// Text, as typed.
    Text(CompactString),
    /// A number, as the JSON text it was sent as (`"1234.5"`, `"43831"`, `"0.30000000000000004"`).
    Number(CompactString),
    /// A checkbox or boolean formula.
    Bool(bool),
}

impl Cell {
    /// Converts one JSON value from a `ValueRange`. Nested values (never sent by the API) become text.
    pub fn from_json(value: &Value) -> Cell {
        match value {
            Value::Null => Cell::Empty,
            Value::String(s) if s.is_empty() => Cell::Empty,
            Value::String(s) => Cell::Text(s.into()),
            Value::Number(n) => Cell::Number(n.to_compact_string()),
            Value::Bool(b) => Cell::Bool(*b),
            other => Cell::Text(other.to_compact_string()),
        }
    }

    /// The JSON value to send in a RAW write. Empty is `""`, never `null`: the Sheets client
    /// strips nulls and the following cells would shift left (reference, trap 1).
    pub fn to_json(&self) -> Value {
        match self {
            Cell::Empty => Value::String(String::new()),
            Cell::Text(s) => Value::String(s.to_string()),
            Cell::Number(n) => serde_json::from_str::<serde_json::Number>(n)
                .map(Value::Number)
                .unwrap_or_else(|_| Value::String(n.to_string())),
            Cell::Bool(b) => Value::Bool(*b),
        }
    }

    /// Text shorthand for writes.
    pub fn text(s: impl Into<CompactString>) -> Cell {
        let s = s.into();
        if s.is_empty() { Cell::Empty } else { Cell::Text(s) }
    }

    /// True for an empty cell or one holding only white space.
    pub fn is_blank(&self) -> bool {
        match self {
            Cell::Empty => true,
            Cell::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// The cell as display text (numbers as their JSON text, booleans as `TRUE`/`FALSE`).
    pub fn as_text(&self) -> Cow<'_, str> {
        match self {
            Cell::Empty => Cow::Borrowed(""),
            Cell::Text(s) | Cell::Number(s) => Cow::Borrowed(s.as_str()),
            Cell::Bool(true) => Cow::Borrowed("TRUE"),
            Cell::Bool(false) => Cow::Borrowed("FALSE"),
        }
    }

    /// The spreadsheet error the cell shows (`#REF!`, `#N/A`, …), if it shows one.
    ///
    /// A formula that fails does not leave its cell empty: the API hands back the error's
    /// text as a string, indistinguishable from typed text. Read as data it would become an
    /// invoice numbered `#REF!` or a customer named `#N/A`, so every cell qbsync reads is asked
    /// this first.
    pub fn error_value(&self) -> Option<&'static str> {
        let Cell::Text(text) = self else { return None };
        let text = text.trim();
        if !text.starts_with('#') {
            return None;
        }
        SPREADSHEET_ERRORS.iter().copied().find(|error| error.eq_ignore_ascii_case(text))
    }

    /// The trimmed text of the cell.
    pub fn trimmed(&self) -> Cow<'_, str> {
        match self.as_text() {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        }
    }
}

/// The error values Google Sheets (and Excel, whose files Sheets opens) show in a cell.
pub const SPREADSHEET_ERRORS: [&str; 16] = [
    "#NULL!",
    "#DIV/0!",
    "#VALUE!",
    "#REF!",
    "#NAME?",
    "#NUM!",
    "#N/A",
    "#ERROR!",
    "#SPILL!",
    "#CALC!",
    "#FIELD!",
    "#BLOCKED!",
    "#CONNECT!",
    "#BUSY!",
    "#UNKNOWN!",
    "#GETTING_DATA",
];

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_keep_their_json_text() {
        assert_eq!(Cell::from_json(&json!(1234.5)), Cell::Number("1234.5".into()));
        assert_eq!(Cell::from_json(&json!(43831)), Cell::Number("43831".into()));
        assert_eq!(Cell::from_json(&json!(0.1 + 0.2)), Cell::Number("0.30000000000000004".into()));
    }

    #[test]
    fn empty_string_and_null_are_empty_and_written_as_empty_string() {
        assert_eq!(Cell::from_json(&json!("")), Cell::Empty);
        assert_eq!(Cell::from_json(&Value::Null), Cell::Empty);
        assert_eq!(Cell::Empty.to_json(), json!(""));
    }

    #[test]
    fn round_trips_through_json() {
        for v in [json!("=SUM(A1)"), json!(12), json!(true), json!("x")] {
            assert_eq!(Cell::from_json(&v).to_json(), v);
        }
    }

    #[test]
    fn every_spreadsheet_error_value_is_recognised_and_nothing_else() {
        for error in SPREADSHEET_ERRORS {
            assert_eq!(Cell::text(error).error_value(), Some(error));
            assert_eq!(Cell::text(format!(" {} ", error.to_lowercase())).error_value(), Some(error));
        }
        for fine in ["#7", "# 42", "INV-#REF!", "REF!", "#REFUND", ""] {
            assert_eq!(Cell::text(fine).error_value(), None, "{fine}");
        }
        assert_eq!(Cell::Number("1".into()).error_value(), None);
    }
}
