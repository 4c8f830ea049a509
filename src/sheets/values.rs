//! The answer to a whole-tab `values.get`, read one row at a time.
//!
//! google-sheets4 copies the body into a string and builds a tree of `serde_json::Value`s from
//! it; the caller then builds its own cells from the tree. For a tab of 50,000 rows × 30
//! columns that is three copies of the sheet alive at once — over 200 MB on every poll. qbsync
//! keeps the body as it came and walks its `values` array row by row: an idle poll looks at
//! each row and lets it go (nothing but the body itself is ever as large as the sheet), and a
//! busy pass turns rows into cells without the intermediate tree.

use std::fmt::{self, Write as _};
use std::ops::{ControlFlow, Range};

use compact_str::ToCompactString;
use hyper::body::Bytes;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::SheetsError;
use crate::domain::Cell;

/// The body of a `values.get` answer (`{"range", "majorDimension", "values": [[…], …]}`).
#[derive(Clone)]
pub struct ValuesBody(Bytes);

impl fmt::Debug for ValuesBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValuesBody({} bytes)", self.0.len())
    }
}

impl ValuesBody {
    pub fn new(body: impl Into<Bytes>) -> ValuesBody {
        ValuesBody(body.into())
    }

    /// The answer as it came.
    pub(super) fn bytes(&self) -> &Bytes {
        &self.0
    }

    /// Calls `visit` with each row in order (index 0 is the header row) until it breaks. Rows
    /// are as ragged as Google sends them: trailing empty cells are left out.
    pub fn for_each_row(&self, visit: impl FnMut(usize, &[Cell]) -> ControlFlow<()>) -> Result<(), SheetsError> {
        self.walk(None, visit)
    }

    /// [`Self::for_each_row`] decoding only the columns `columns` says `true` for; the others
    /// (and any beyond it) read as empty. Skipped cells are stepped over, not copied: an idle
    /// poll looks at a dozen columns of a sheet that may have thirty or more.
    pub fn for_each_row_of(
        &self,
        columns: &[bool],
        visit: impl FnMut(usize, &[Cell]) -> ControlFlow<()>,
    ) -> Result<(), SheetsError> {
        self.walk(Some(columns), visit)
    }

    fn walk(
        &self,
        columns: Option<&[bool]>,
        visit: impl FnMut(usize, &[Cell]) -> ControlFlow<()>,
    ) -> Result<(), SheetsError> {
        let mut walk = Walk { visit, next: 0, stopped: false };
        let mut deserializer = serde_json::Deserializer::from_slice(&self.0);
        match AnswerSeed(&mut walk, columns).deserialize(&mut deserializer).and_then(|()| deserializer.end()) {
            Ok(()) => Ok(()),
            // Breaking out is reported by the parser as an error; it is not one.
            Err(_) if walk.stopped => Ok(()),
            Err(error) => Err(unreadable(&error)),
        }
    }

    /// The first row (the header), if the tab has any.
    pub fn header(&self) -> Result<Option<Vec<Cell>>, SheetsError> {
        let mut header = None;
        self.for_each_row(|_, row| {
            header = Some(row.to_vec());
            ControlFlow::Break(())
        })?;
        Ok(header)
    }

    /// True when both answers hold the same cells. Comparing the bytes settles it almost
    /// always and costs next to nothing beside decoding two copies of a long tab; only answers
    /// whose bytes differ are decoded to make sure (Google could, in principle, spell the same
    /// values two ways).
    pub fn same_values(&self, other: &ValuesBody) -> Result<bool, SheetsError> {
        if self.0 == other.0 {
            return Ok(true);
        }
        Ok(self.clone().into_rows()? == other.clone().into_rows()?)
    }

    /// True when `other` is this very answer, byte for byte (so cells already decoded from one
    /// stand for the other).
    pub fn is_same_answer(&self, other: &ValuesBody) -> bool {
        self.0 == other.0
    }

    /// Every row as cells.
    pub fn into_rows(self) -> Result<Vec<Vec<Cell>>, SheetsError> {
        let mut rows = Vec::new();
        let mut walk = Collect(&mut rows);
        let mut deserializer = serde_json::Deserializer::from_slice(&self.0);
        AnswerSeed(&mut walk, None)
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end())
            .map_err(|e| unreadable(&e))?;
        Ok(rows)
    }
}

/// Where each row of an answer lies in its bytes, and a digest of each: a busy pass recognises
/// the rows it has seen before (see `crate::sync::seal`) and decodes only the others, one at a
/// time, instead of turning every cell of a long tab into a [`Cell`].
#[derive(Clone, Debug, Default)]
pub struct RowIndex {
    spans: Vec<Range<usize>>,
    digests: Vec<RowDigest>,
}

/// A digest of one row exactly as Google sent it (SHA-256, first 128 bits): rows with the
/// same digest hold the same cells.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowDigest(pub [u8; 16]);

impl RowIndex {
    /// How many rows the answer has (the header included).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The digest of row `row` (0 is the header).
    pub fn digest(&self, row: usize) -> Option<RowDigest> {
        self.digests.get(row).copied()
    }
}

/// The answer object with each row left as it came.
#[derive(Deserialize)]
struct RawAnswer<'a> {
    #[serde(borrow, default)]
    values: Vec<&'a serde_json::value::RawValue>,
}

impl ValuesBody {
    /// Finds every row of the answer and digests it, without decoding a cell.
    pub fn index_rows(&self) -> Result<RowIndex, SheetsError> {
        let answer: RawAnswer<'_> = serde_json::from_slice(&self.0).map_err(|e| unreadable(&e))?;
        let base = self.0.as_ptr() as usize;
        let rows = answer.values.len();
        let mut index = RowIndex { spans: Vec::with_capacity(rows), digests: Vec::with_capacity(rows) };
        for row in answer.values {
            let text = row.get();
            let start = text.as_ptr() as usize - base;
            index.spans.push(start..start + text.len());
            let digest = Sha256::digest(text.as_bytes());
            let mut first = [0; 16];
            first.copy_from_slice(&digest[..16]);
            index.digests.push(RowDigest(first));
        }
        Ok(index)
    }

    /// Row `row` as cells, found through `index` (which must have been made from this answer);
    /// a row beyond the answer is empty.
    pub fn decode_row(&self, index: &RowIndex, row: usize) -> Result<Vec<Cell>, SheetsError> {
        let Some(span) = index.spans.get(row) else { return Ok(Vec::new()) };
        let bytes = self.0.get(span.clone()).ok_or_else(|| SheetsError::Rejected {
            message: "a row index was used with an answer it was not made from".into(),
        })?;
        let mut cells = Vec::new();
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let len = RowSeed(&mut cells, None)
            .deserialize(&mut deserializer)
            .and_then(|len| deserializer.end().map(|()| len))
            .map_err(|e| unreadable(&e))?;
        cells.truncate(len);
        Ok(cells)
    }
}

fn unreadable(error: &serde_json::Error) -> SheetsError {
    SheetsError::Rejected { message: format!("Google's answer could not be decoded: {error}") }
}

/// What to do with each row of the `values` array.
trait Rows {
    /// Takes the row in `cells[..len]` (the buffer may hold more, left from earlier rows);
    /// `false` stops the walk.
    fn row(&mut self, cells: &mut Vec<Cell>, len: usize) -> bool;
}

struct Walk<F> {
    visit: F,
    next: usize,
    stopped: bool,
}

impl<F: FnMut(usize, &[Cell]) -> ControlFlow<()>> Rows for Walk<F> {
    fn row(&mut self, cells: &mut Vec<Cell>, len: usize) -> bool {
        let index = self.next;
        self.next += 1;
        self.stopped = (self.visit)(index, &cells[..len]).is_break();
        !self.stopped
    }
}

struct Collect<'a>(&'a mut Vec<Vec<Cell>>);

impl Rows for Collect<'_> {
    fn row(&mut self, cells: &mut Vec<Cell>, len: usize) -> bool {
        self.0.push(cells.drain(..len).collect());
        true
    }
}

/// The answer object: only `values` is looked at; a range with no data has no `values` key.
/// The columns to decode go with it (`None`: all).
struct AnswerSeed<'r, 'c, R>(&'r mut R, Option<&'c [bool]>);

impl<'de, R: Rows> DeserializeSeed<'de> for AnswerSeed<'_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, R: Rows> Visitor<'de> for AnswerSeed<'_, '_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a ValueRange object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "values" {
                map.next_value_seed(ValuesSeed(&mut *self.0, self.1))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct ValuesSeed<'r, 'c, R>(&'r mut R, Option<&'c [bool]>);

impl<'de, R: Rows> DeserializeSeed<'de> for ValuesSeed<'_, '_, R> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, R: Rows> Visitor<'de> for ValuesSeed<'_, '_, R> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut rows: A) -> Result<(), A::Error> {
        // One row at a time, into one buffer whose cells (and their strings) are reused from
        // row to row: the tree of the whole tab is never built.
        let mut buffer: Vec<Cell> = Vec::new();
        while let Some(len) = rows.next_element_seed(RowSeed(&mut buffer, self.1))? {
            if !self.0.row(&mut buffer, len) {
                return Err(serde::de::Error::custom("stopped"));
            }
        }
        Ok(())
    }
}

/// One row, read into a buffer (only the columns wanted, if it says which); answers how many
/// cells it had.
struct RowSeed<'b, 'c>(&'b mut Vec<Cell>, Option<&'c [bool]>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row of cells")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut cells: A) -> Result<usize, A::Error> {
        let mut len = 0;
        loop {
            if len == self.0.len() {
                self.0.push(Cell::Empty);
            }
            let wanted = self.1.is_none_or(|columns| columns.get(len).copied().unwrap_or(false));
            let present = if wanted {
                cells.next_element_seed(CellSeed(&mut self.0[len]))?.is_some()
            } else {
                self.0[len] = Cell::Empty;
                cells.next_element::<IgnoredAny>()?.is_some()
            };
            if !present {
                return Ok(len);
            }
            len += 1;
        }
    }
}

/// One cell, written over `slot` as [`Cell::from_json`] would make it; a slot that already
/// holds text or a number keeps its string's memory.
struct CellSeed<'c>(&'c mut Cell);

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl CellSeed<'_> {
    fn text(self, text: &str) {
        match self.0 {
            _ if text.is_empty() => *self.0 = Cell::Empty,
            Cell::Text(kept) => {
                kept.clear();
                kept.push_str(text);
            }
            slot => *slot = Cell::Text(text.into()),
        }
    }

    fn number(self, number: serde_json::Number) {
        match self.0 {
            Cell::Number(kept) => {
                kept.clear();
                // Writing to a string cannot fail.
                let _ = write!(kept, "{number}");
            }
            slot => *slot = Cell::Number(number.to_compact_string()),
        }
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cell value")
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        self.text(text);
        Ok(())
    }

    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        *self.0 = Cell::Bool(value);
        Ok(())
    }

    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        self.number(value.into());
        Ok(())
    }

    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        self.number(value.into());
        Ok(())
    }

    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        // As in a `Value`: a number that is not finite is null.
        match serde_json::Number::from_f64(value) {
            Some(number) => self.number(number),
            None => *self.0 = Cell::Empty,
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        *self.0 = Cell::Empty;
        Ok(())
    }

    // Nested values are never sent by the API; like `Cell::from_json`, keep them as JSON text.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let nested = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        *self.0 = Cell::from_json(&nested);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let nested = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        *self.0 = Cell::from_json(&nested);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"range":"'inv_tbl'!A1:Z1000","majorDimension":"ROWS","values":[["invoice","status"],[],["ACD-1","",12.5,true,43831],["x\"y",null,-3,[1,"a"],{"k":2}],["", 7, "z"]]}"#;

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn rows_come_back_as_the_hub_would_give_them() {
        let rows = ValuesBody::new(BODY.as_bytes().to_vec()).into_rows().unwrap();
        assert_eq!(
            rows,
            vec![
                vec![text("invoice"), text("status")],
                vec![],
                vec![
                    text("ACD-1"),
                    Cell::Empty,
                    Cell::Number("12.5".into()),
                    Cell::Bool(true),
                    Cell::Number("43831".into())
                ],
                vec![text("x\"y"), Cell::Empty, Cell::Number("-3".into()), text("[1,\"a\"]"), text("{\"k\":2}")],
                vec![Cell::Empty, Cell::Number("7".into()), text("z")],
            ]
        );
        // Exactly what `Cell::from_json` makes of the same values.
        let tree: Value = serde_json::from_str(BODY).unwrap();
        let via_tree: Vec<Vec<Cell>> = tree["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(Cell::from_json).collect())
            .collect();
        assert_eq!(rows, via_tree);
    }

    #[test]
    fn a_walk_stops_when_asked_and_the_header_is_the_first_row() {
        let body = ValuesBody::new(BODY.as_bytes().to_vec());
        let mut seen = Vec::new();
        body.for_each_row(|index, row| {
            seen.push((index, row.len()));
            if index == 2 { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
        })
        .unwrap();
        assert_eq!(seen, vec![(0, 2), (1, 0), (2, 5)]);
        assert_eq!(body.header().unwrap(), Some(vec![text("invoice"), text("status")]));
        // The walk reuses one buffer: no row may show a cell left over from the one before.
        let mut walked = Vec::new();
        body.for_each_row(|_, row| {
            walked.push(row.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(walked, body.into_rows().unwrap());
    }

    #[test]
    fn a_walk_can_skip_columns_nobody_looks_at() {
        let body = ValuesBody::new(BODY.as_bytes().to_vec());
        let mut walked = Vec::new();
        body.for_each_row_of(&[true, false, true], |_, row| {
            walked.push(row.to_vec());
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(
            walked,
            vec![
                vec![text("invoice"), Cell::Empty],
                vec![],
                vec![text("ACD-1"), Cell::Empty, Cell::Number("12.5".into()), Cell::Empty, Cell::Empty],
                vec![text("x\"y"), Cell::Empty, Cell::Number("-3".into()), Cell::Empty, Cell::Empty],
                vec![Cell::Empty, Cell::Empty, text("z")],
            ]
        );
    }

    #[test]
    fn answers_compare_by_their_cells() {
        let body = ValuesBody::new(BODY.as_bytes().to_vec());
        assert!(body.same_values(&body.clone()).unwrap());
        assert!(body.is_same_answer(&ValuesBody::new(BODY.as_bytes().to_vec())));
        // Spelled differently (spacing, another range), the same cells.
        let respelled = ValuesBody::new(BODY.replace(",\"majorDimension\"", " , \"majorDimension\"").into_bytes());
        assert!(!body.is_same_answer(&respelled));
        assert!(body.same_values(&respelled).unwrap());
        // One cell changed.
        let edited = ValuesBody::new(BODY.replace("ACD-1", "ACD-2").into_bytes());
        assert!(!body.same_values(&edited).unwrap());
        assert!(ValuesBody::new(b"<html>".to_vec()).same_values(&body).is_err());
    }

    #[test]
    fn an_index_finds_each_row_and_tells_rows_apart_by_their_bytes() {
        let body = ValuesBody::new(BODY.as_bytes().to_vec());
        let index = body.index_rows().unwrap();
        let rows = body.clone().into_rows().unwrap();
        assert_eq!(index.len(), rows.len());
        for (i, row) in rows.iter().enumerate() {
            assert_eq!(&body.decode_row(&index, i).unwrap(), row, "row {i}");
        }
        assert_eq!(body.decode_row(&index, rows.len()).unwrap(), Vec::<Cell>::new());
        // One cell changed changes that row's digest, and no other.
        let edited = ValuesBody::new(BODY.replace("ACD-1", "ACD-2").into_bytes());
        let after = edited.index_rows().unwrap();
        let changed: Vec<usize> = (0..index.len()).filter(|&i| index.digest(i) != after.digest(i)).collect();
        assert_eq!(changed, vec![2]);
        let distinct: std::collections::HashSet<_> = (0..index.len()).filter_map(|i| index.digest(i)).collect();
        assert_eq!(distinct.len(), index.len());
        // An answer without rows has an empty index; one that is not JSON has none.
        let empty = ValuesBody::new(br#"{"range":"'inv_tbl'!A1:Z1000","majorDimension":"ROWS"}"#.to_vec());
        assert!(empty.index_rows().unwrap().is_empty());
        assert!(ValuesBody::new(b"<html>".to_vec()).index_rows().is_err());
    }

    #[test]
    fn a_range_without_values_has_no_rows_and_garbage_is_an_error() {
        let empty = ValuesBody::new(br#"{"range":"'inv_tbl'!A1:Z1000","majorDimension":"ROWS"}"#.to_vec());
        assert_eq!(empty.clone().into_rows().unwrap(), Vec::<Vec<Cell>>::new());
        assert_eq!(empty.header().unwrap(), None);
        let garbage = ValuesBody::new(b"<html>".to_vec());
        assert!(matches!(garbage.into_rows(), Err(SheetsError::Rejected { .. })));
        let truncated = ValuesBody::new(br#"{"values":[["a"],["b""#.to_vec());
        assert!(truncated.for_each_row(|_, _| ControlFlow::Continue(())).is_err());
    }
}
