//! The answer to a whole-tab `values.get`, read one row at a time as it arrives.
//!
//! google-sheets4 copies the body into a string and builds a tree of `serde_json::Value`s from
//! it; the caller then builds its own cells from the tree. For a tab of 50,000 rows × 30
//! columns that is three copies of the sheet alive at once — over 200 MB on every poll. qbsync
//! never holds the answer at all: the client cuts it into rows as it comes off the connection
//! (see `super::stream`), digests each row ([`RowIndex`]) and hands it to a [`RowSink`], which
//! decodes the rows it wants — all of them, the columns an idle poll looks at, or only the rows
//! a busy pass has not seen before (see `crate::sync::seal`) — and lets the others go. What a
//! read costs in memory is the cells the sink keeps, and a digest per row.

use std::fmt::{self, Write as _};

use compact_str::ToCompactString;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_128};

use super::SheetsError;
use super::anchors::{Anchors, RowAnchor};
use super::stream::ArrayCutter;
use crate::domain::Cell;

/// One row of the answer exactly as Google sent it, and its digest: a JSON array of values
/// from a `values.get`, or a `RowData` object from a grid read (see [`super::grid`]), which
/// also brings the row's anchors.
#[derive(Clone, Copy, Debug)]
pub struct RawRow<'a> {
    bytes: &'a [u8],
    digest: RowDigest,
    form: Form,
    anchors: &'a [RowAnchor],
}

/// How a row is spelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `["a", 1.5, true]`
    Values,
    /// `{"values":[{"effectiveValue":{"stringValue":"a"}}, …]}`
    Grid,
}

impl<'a> RawRow<'a> {
    /// A row of a `values.get` answer.
    pub fn new(bytes: &'a [u8]) -> RawRow<'a> {
        RawRow { bytes, digest: RowDigest::of(bytes), form: Form::Values, anchors: &[] }
    }

    /// A `RowData` of a grid read, with the anchors on its row.
    pub(crate) fn grid(bytes: &'a [u8], digest: RowDigest, anchors: &'a [RowAnchor]) -> RawRow<'a> {
        RawRow { bytes, digest, form: Form::Grid, anchors }
    }

    /// The digest of the row's bytes. Rows read the same way with the same digest hold the
    /// same cells; a grid read spells a row otherwise than a `values.get`, so their digests of
    /// the same row differ.
    pub fn digest(&self) -> RowDigest {
        self.digest
    }

    /// The row's qbsync anchors, sorted by metadata id: read with the row by a grid read
    /// ([`SheetsClient::read_rows_with_anchors`](super::SheetsClient::read_rows_with_anchors)),
    /// none from a `values.get`.
    pub fn anchors(&self) -> &'a [RowAnchor] {
        self.anchors
    }

    /// The row as cells, as ragged as Google sent it (trailing empty cells are left out).
    pub fn cells(&self) -> Result<Vec<Cell>, SheetsError> {
        let mut cells = Vec::new();
        let len = self.cells_into(None, &mut cells)?;
        cells.truncate(len);
        Ok(cells)
    }

    /// Decodes the row into `buffer`, whose cells (and their strings) are reused, and answers
    /// how many cells it has: the row is `buffer[..len]`. With `columns`, only the columns it
    /// says `true` for are decoded; the others (and any beyond it) read as empty, stepped over
    /// rather than copied: an idle poll looks at a dozen columns of a sheet that may have
    /// thirty or more.
    pub fn cells_into(&self, columns: Option<&[bool]>, buffer: &mut Vec<Cell>) -> Result<usize, SheetsError> {
        if self.form == Form::Grid {
            return super::grid::cells_into(self.bytes, columns, buffer);
        }
        let mut deserializer = serde_json::Deserializer::from_slice(self.bytes);
        RowSeed(buffer, columns)
            .deserialize(&mut deserializer)
            .and_then(|len| deserializer.end().map(|()| len))
            .map_err(|e| unreadable(&e))
    }
}

/// What a read does with each row as it arrives.
pub trait RowSink {
    /// Row `row` (0 is the header), in order.
    fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), SheetsError>;

    /// The read starts over (an attempt failed part-way and the call is tried again): forget
    /// every row taken so far.
    fn restart(&mut self);

    /// Every qbsync anchor on the tab, sorted by row, read in the same answer as the rows:
    /// a grid read hands them over once, before the first row (and again after a restart).
    /// A `values.get` read has none to give and never calls this.
    fn anchors(&mut self, anchors: &Anchors) -> Result<(), SheetsError> {
        let _ = anchors;
        Ok(())
    }
}

/// A sink that keeps every row as cells.
#[derive(Debug, Default)]
pub struct AllRows(pub Vec<Vec<Cell>>);

impl RowSink for AllRows {
    fn row(&mut self, _: usize, raw: RawRow<'_>) -> Result<(), SheetsError> {
        self.0.push(raw.cells()?);
        Ok(())
    }

    fn restart(&mut self) {
        self.0.clear();
    }
}

/// A sink that keeps nothing: the read answers the digest of every row.
#[derive(Debug, Default)]
pub struct DigestsOnly;

impl RowSink for DigestsOnly {
    fn row(&mut self, _: usize, _: RawRow<'_>) -> Result<(), SheetsError> {
        Ok(())
    }

    fn restart(&mut self) {}
}

/// A digest of every row of an answer, in order, and of the answer as a whole.
#[derive(Clone, Debug, Default)]
pub struct RowIndex {
    digests: Vec<RowDigest>,
    answer: AnswerDigest,
}

/// A digest of a whole answer, byte for byte (XXH3, 128 bits): two reads with the same digest
/// came back the same. Telling whether the sheet changed between two reads needs no more, and
/// costs a fraction of cutting the answer into rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnswerDigest(u128);

/// Digests an answer as it arrives.
#[derive(Clone, Default)]
pub(crate) struct AnswerHasher(Xxh3Default);

impl fmt::Debug for AnswerHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AnswerHasher")
    }
}

impl AnswerHasher {
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    pub(crate) fn finish(&self) -> AnswerDigest {
        AnswerDigest(self.0.digest128())
    }
}

/// A digest of one row exactly as Google sent it (XXH3, 128 bits): rows with the same digest
/// hold the same cells. A busy pass digests every row of every read, several reads a pass, so
/// the digest is a fast hash rather than a cryptographic one: two rows that differ collide
/// with a chance of one in 2¹²⁸, though not against a person crafting rows to collide (who
/// could at most make qbsync take an edited row for the sealed one, see `crate::sync::seal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RowDigest(pub [u8; 16]);

impl RowDigest {
    pub(crate) fn of(bytes: &[u8]) -> RowDigest {
        RowDigest(xxh3_128(bytes).to_le_bytes())
    }
}

impl RowIndex {
    /// The index of an answer whose rows had `digests`, and which as a whole had `answer`.
    pub(crate) fn from_parts(digests: Vec<RowDigest>, answer: AnswerDigest) -> RowIndex {
        RowIndex { digests, answer }
    }

    /// How many rows the answer has (the header included).
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// The digest of row `row` (0 is the header).
    pub fn digest(&self, row: usize) -> Option<RowDigest> {
        self.digests.get(row).copied()
    }

    /// The digest of the whole answer.
    pub fn answer(&self) -> AnswerDigest {
        self.answer
    }
}

/// Reads a `values.get` answer piece by piece: cuts it into rows, digests each, and hands it
/// to a sink.
#[derive(Debug)]
pub(crate) struct RowStream {
    cutter: ArrayCutter,
    hasher: AnswerHasher,
    index: RowIndex,
}

impl RowStream {
    pub(crate) fn new() -> RowStream {
        RowStream { cutter: ArrayCutter::new("values"), hasher: AnswerHasher::default(), index: RowIndex::default() }
    }

    pub(crate) fn push(&mut self, chunk: &[u8], sink: &mut (impl RowSink + ?Sized)) -> Result<(), SheetsError> {
        self.hasher.update(chunk);
        let index = &mut self.index;
        self.cutter.push(chunk, |bytes| {
            let raw = RawRow::new(bytes);
            let row = index.digests.len();
            index.digests.push(raw.digest);
            sink.row(row, raw)
        })
    }

    /// The answer is complete: the digest of each of its rows.
    pub(crate) fn finish(mut self) -> Result<RowIndex, SheetsError> {
        self.cutter.finish()?;
        self.index.answer = self.hasher.finish();
        Ok(self.index)
    }
}

/// Reads an answer held whole (a recorded one, or a test's) as the client reads one arriving.
pub fn read_answer(body: &[u8], sink: &mut impl RowSink) -> Result<RowIndex, SheetsError> {
    let mut stream = RowStream::new();
    stream.push(body, sink)?;
    stream.finish()
}

fn unreadable(error: &serde_json::Error) -> SheetsError {
    SheetsError::Rejected { message: format!("Google's answer could not be decoded: {error}") }
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
        set_text(self.0, text);
    }

    fn number(self, number: serde_json::Number) {
        set_number(self.0, number);
    }
}

/// Writes text over `slot` as [`Cell::from_json`] would make it, keeping the slot's string.
pub(super) fn set_text(slot: &mut Cell, text: &str) {
    match slot {
        _ if text.is_empty() => *slot = Cell::Empty,
        Cell::Text(kept) => {
            kept.clear();
            kept.push_str(text);
        }
        slot => *slot = Cell::Text(text.into()),
    }
}

/// Writes a number over `slot` as [`Cell::from_json`] would make it, keeping the slot's string.
pub(super) fn set_number(slot: &mut Cell, number: serde_json::Number) {
    match slot {
        Cell::Number(kept) => {
            kept.clear();
            // Writing to a string cannot fail.
            let _ = write!(kept, "{number}");
        }
        slot => *slot = Cell::Number(number.to_compact_string()),
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

    /// Every row of an answer held whole, as cells.
    fn rows_of_answer(body: &[u8]) -> Result<Vec<Vec<Cell>>, SheetsError> {
        let mut rows = AllRows::default();
        read_answer(body, &mut rows)?;
        Ok(rows.0)
    }

    /// True when both answers hold the same rows, cell for cell, however spelled around them.
    fn same_rows(a: &RowIndex, b: &RowIndex) -> bool {
        a.digests == b.digests
    }

    const BODY: &str = r#"{"range":"'inv_tbl'!A1:Z1000","majorDimension":"ROWS","values":[["invoice","status"],[],["ACD-1","",12.5,true,43831],["x\"y",null,-3,[1,"a"],{"k":2}],["", 7, "z"]]}"#;

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    /// A sink that decodes some columns of every row and remembers what it saw.
    #[derive(Default)]
    struct Columns {
        columns: Option<Vec<bool>>,
        seen: Vec<(usize, Vec<Cell>)>,
        buffer: Vec<Cell>,
    }

    impl RowSink for Columns {
        fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), SheetsError> {
            let len = raw.cells_into(self.columns.as_deref(), &mut self.buffer)?;
            self.seen.push((row, self.buffer[..len].to_vec()));
            Ok(())
        }

        fn restart(&mut self) {
            self.seen.clear();
        }
    }

    #[test]
    fn rows_come_back_as_the_hub_would_give_them() {
        let rows = rows_of_answer(BODY.as_bytes()).unwrap();
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
    fn a_reused_buffer_shows_no_cell_of_the_row_before() {
        let mut sink = Columns::default();
        read_answer(BODY.as_bytes(), &mut sink).unwrap();
        let walked: Vec<Vec<Cell>> = sink.seen.into_iter().map(|(_, row)| row).collect();
        assert_eq!(walked, rows_of_answer(BODY.as_bytes()).unwrap());
    }

    #[test]
    fn a_sink_can_skip_columns_nobody_looks_at() {
        let mut sink = Columns { columns: Some(vec![true, false, true]), ..Columns::default() };
        read_answer(BODY.as_bytes(), &mut sink).unwrap();
        assert_eq!(
            sink.seen,
            vec![
                (0, vec![text("invoice"), Cell::Empty]),
                (1, vec![]),
                (2, vec![text("ACD-1"), Cell::Empty, Cell::Number("12.5".into()), Cell::Empty, Cell::Empty]),
                (3, vec![text("x\"y"), Cell::Empty, Cell::Number("-3".into()), Cell::Empty, Cell::Empty]),
                (4, vec![Cell::Empty, Cell::Empty, text("z")]),
            ]
        );
    }

    #[test]
    fn an_index_tells_rows_apart_by_their_bytes_and_answers_by_their_rows() {
        let index = read_answer(BODY.as_bytes(), &mut AllRows::default()).unwrap();
        assert_eq!(index.len(), 5);
        // One cell changed changes that row's digest, and no other.
        let edited = read_answer(BODY.replace("ACD-1", "ACD-2").as_bytes(), &mut AllRows::default()).unwrap();
        let changed: Vec<usize> = (0..index.len()).filter(|&i| index.digest(i) != edited.digest(i)).collect();
        assert_eq!(changed, vec![2]);
        assert!(!same_rows(&index, &edited));
        assert_ne!(index.answer(), edited.answer());
        let distinct: std::collections::HashSet<_> = (0..index.len()).filter_map(|i| index.digest(i)).collect();
        assert_eq!(distinct.len(), index.len());
        // The same rows in an answer spelled otherwise around them: the same rows.
        let respelled = BODY.replace(",\"majorDimension\":\"ROWS\"", "").replace("A1:Z1000", "A1:E5");
        let respelled = read_answer(respelled.as_bytes(), &mut AllRows::default()).unwrap();
        assert!(same_rows(&respelled, &index));
        assert_ne!(respelled.answer(), index.answer(), "the answer itself is another");
        let again = read_answer(BODY.as_bytes(), &mut DigestsOnly).unwrap();
        assert!(same_rows(&again, &index) && again.answer() == index.answer());
        // The digest is of the row's own bytes, as a recorded index of them would have it.
        assert_eq!(index.digest(1), Some(RowDigest::of(b"[]")));
    }

    #[test]
    fn a_range_without_values_has_no_rows_and_garbage_is_an_error() {
        let empty = br#"{"range":"'inv_tbl'!A1:Z1000","majorDimension":"ROWS"}"#;
        assert_eq!(rows_of_answer(empty).unwrap(), Vec::<Vec<Cell>>::new());
        assert!(read_answer(empty, &mut AllRows::default()).unwrap().is_empty());
        assert!(matches!(rows_of_answer(b"<html>"), Err(SheetsError::Rejected { .. })));
        assert!(rows_of_answer(br#"{"values":[["a"],["b""#).is_err(), "cut short");
        assert!(rows_of_answer(br#"{"values":[["a"],["b",]]}"#).is_err(), "a row that is not JSON");
    }
}
