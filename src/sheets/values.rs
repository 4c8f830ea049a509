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

use super::SheetsError;
use super::row::{RawRow, RowDigest, RowIndex, RowSink};
use super::stream::ArrayCutter;
use crate::domain::Cell;

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

/// Reads a `values.get` answer piece by piece: cuts it into rows, digests each, and hands it
/// to a sink.
#[derive(Debug)]
pub(crate) struct RowStream {
    cutter: ArrayCutter,
    digests: Vec<RowDigest>,
}

impl RowStream {
    pub(crate) fn new() -> RowStream {
        RowStream { cutter: ArrayCutter::new("values"), digests: Vec::new() }
    }

    pub(crate) fn push(&mut self, chunk: &[u8], sink: &mut (impl RowSink + ?Sized)) -> Result<(), SheetsError> {
        let digests = &mut self.digests;
        self.cutter.push(chunk, |bytes| {
            let raw = RawRow::new(bytes);
            let row = digests.len();
            digests.push(raw.digest());
            sink.row(row, raw)
        })
    }

    /// The answer is complete: the digest of each of its rows.
    pub(crate) fn finish(self) -> Result<RowIndex, SheetsError> {
        self.cutter.finish()?;
        Ok(RowIndex::new(self.digests))
    }
}

/// Reads an answer held whole (a recorded one, or a test's) as the client reads one arriving.
pub fn read_answer(body: &[u8], sink: &mut impl RowSink) -> Result<RowIndex, SheetsError> {
    let mut stream = RowStream::new();
    stream.push(body, sink)?;
    stream.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Every row of an answer held whole, as cells.
    fn rows_of_answer(body: &[u8]) -> Result<Vec<Vec<Cell>>, SheetsError> {
        let mut rows = AllRows::default();
        read_answer(body, &mut rows)?;
        Ok(rows.0)
    }

    /// True when both answers hold the same rows, cell for cell, however spelled around them.
    fn same_rows(a: &RowIndex, b: &RowIndex) -> bool {
        (0..a.len()).map(|row| a.digest(row)).eq((0..b.len()).map(|row| b.digest(row)))
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
    fn an_index_tells_rows_apart_by_their_bytes() {
        let index = read_answer(BODY.as_bytes(), &mut AllRows::default()).unwrap();
        assert_eq!(index.len(), 5);
        // One cell changed changes that row's digest, and no other.
        let edited = read_answer(BODY.replace("ACD-1", "ACD-2").as_bytes(), &mut AllRows::default()).unwrap();
        let changed: Vec<usize> = (0..index.len()).filter(|&i| index.digest(i) != edited.digest(i)).collect();
        assert_eq!(changed, vec![2]);
        assert!(!same_rows(&index, &edited));
        let distinct: std::collections::HashSet<_> = (0..index.len()).filter_map(|i| index.digest(i)).collect();
        assert_eq!(distinct.len(), index.len());
        // The same rows in an answer spelled otherwise around them: the same rows.
        let respelled = BODY.replace(",\"majorDimension\":\"ROWS\"", "").replace("A1:Z1000", "A1:E5");
        let respelled = read_answer(respelled.as_bytes(), &mut AllRows::default()).unwrap();
        assert!(same_rows(&respelled, &index));
        let again = read_answer(BODY.as_bytes(), &mut DigestsOnly).unwrap();
        assert!(same_rows(&again, &index));
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
