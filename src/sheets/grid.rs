//! The tab's values and its row anchors in one read, so that the two cannot disagree.
//!
//! A `values.get` and a `developerMetadata:search` are two requests: a row inserted between
//! them pairs every anchor below it with its neighbour's cells. So a pass used to read the
//! values on both sides of the anchors and check that they had not changed, three reads for
//! one consistent picture. One `spreadsheets.get` with grid data answers both at once, from
//! one state of the sheet: each row's cells (`GridData.rowData`) and the developer metadata on
//! each row (`GridData.rowMetadata[i].developerMetadata`), the `fields` mask ([`GRID_FIELDS`])
//! keeping only what qbsync reads of them.
//!
//! Google sends a `GridData`'s `rowData` before its `rowMetadata`, so pairing a row with its
//! anchors as the answer arrives would mean holding every row until the metadata came. Instead
//! the read asks for two ranges of the tab ([`grid_ranges`]): first its column A, whose
//! `GridData` brings the metadata of every row (and a column of cells, stepped over), then the
//! whole tab, whose rows then arrive knowing their anchors (its repeated metadata is stepped
//! over). Google answers the ranges of a sheet in the order asked ("if … requested with ranges
//! Sheet1!A1:C10 and Sheet1!D15:E20, then the first GridData will have a startRow/startColumn
//! of 0", `Sheet.data` in Google's reference).
//!
//! A row comes out as the same [`Cell`](crate::domain::Cell)s a `values.get` with
//! `UNFORMATTED_VALUE` and `SERIAL_NUMBER` gives, because `effectiveValue` is that value:
//! numbers (dates as serial numbers) as numbers, text as text (a number stored as text stays
//! text), booleans as booleans. An error's `effectiveValue` is its type, spelled here as the
//! sheet shows it (`#DIV/0!`), which is what `values.get` sends; `formattedValue`, when
//! present, is taken as is. Cells after the last one with a value and rows after the last one
//! with a value are left out, as `values.get` leaves them out. This file reads the answer; a
//! row's cells are decoded in `super::grid_row`, where [`RawRow`] reaches them without
//! importing this file back.

use xxhash_rust::xxh3::Xxh3Default;

use super::SheetsError;
use super::a1;
use super::anchors::{ANCHOR_KEY, Anchors, RowAnchor};
use super::grid_cutter::{GridCutter, GridEvents, Part};
use super::row::{RawRow, RowDigest, RowIndex, RowSink};
use super::stream::malformed;

/// The parts of a grid answer the read uses: each row's cells' values and each row's developer
/// metadata, without the formats, sizes and properties a full answer carries. Not
/// `formattedValue`: it would repeat every cell's text, and only an error cell needs it (its
/// type says the same).
pub(crate) const GRID_FIELDS: &str = "sheets(data(rowData(values(effectiveValue)),rowMetadata(developerMetadata(metadataId,metadataKey,metadataValue))))";

/// The ranges of a grid read of tab `title`, in the order the read needs them: column A (for
/// the metadata of every row), then the whole tab (see the module doc).
pub(crate) fn grid_ranges(title: &str) -> [String; 2] {
    [format!("{}!A:A", a1::quote_sheet(title)), a1::whole_sheet(title)]
}

/// What a grid read found besides the rows it handed to the sink.
#[derive(Clone, Debug)]
pub struct GridRead {
    /// The digest of every row handed over (whether the anchors changed is told by
    /// [`anchors`](Self::anchors)).
    pub index: RowIndex,
    /// Every qbsync anchor on the tab, sorted by row (rows after the last row with a value
    /// included), as [`SheetsClient::anchors`](super::SheetsClient::anchors) lists them.
    pub anchors: Anchors,
}

/// The `GridData` whose metadata is read, and the one whose rows are.
const METADATA_GRID: usize = 0;
const ROWS_GRID: usize = 1;

/// Reads a grid answer piece by piece: collects the anchors, then cuts the rows, digests each
/// and hands it to a sink with its anchors.
pub(crate) struct GridStream {
    cutter: GridCutter,
    state: State,
}

struct State {
    sheet_id: i32,
    /// The anchors read so far, and a digest of the metadata they were read from.
    found: Vec<RowAnchor>,
    metadata: Xxh3Default,
    /// Set once the rows begin.
    anchors: Option<Anchors>,
    /// The first anchor not on a row handed over yet.
    next_anchor: usize,
    digests: Vec<RowDigest>,
    /// Rows without any value not handed over yet: they are, if a row with a value follows.
    blank: Vec<(usize, RowDigest)>,
    grids: usize,
}

impl GridStream {
    /// A stream for another answer (a retry's) of the same tab.
    pub(crate) fn again(&self) -> GridStream {
        GridStream::new(self.state.sheet_id)
    }

    /// For tab `sheet_id`.
    pub(crate) fn new(sheet_id: i32) -> GridStream {
        let mut metadata = Xxh3Default::new();
        metadata.update(b"qbsync grid rowMetadata\0");
        GridStream {
            cutter: GridCutter::new(),
            state: State {
                sheet_id,
                found: Vec::new(),
                metadata,
                anchors: None,
                next_anchor: 0,
                digests: Vec::new(),
                blank: Vec::new(),
                grids: 0,
            },
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8], sink: &mut (impl RowSink + ?Sized)) -> Result<(), SheetsError> {
        self.cutter.push(chunk, &mut Events { state: &mut self.state, sink })
    }

    /// The answer is complete.
    pub(crate) fn finish(self) -> Result<GridRead, SheetsError> {
        let GridStream { cutter, mut state } = self;
        cutter.finish()?;
        if state.grids != 2 {
            return Err(malformed("it does not hold the two ranges asked for"));
        }
        // Rows without a value still waiting (`blank`) are trailing: left out, as `values.get`
        // leaves them out. The anchors were handed over when the second range began.
        let anchors = state.anchors.take().ok_or_else(|| malformed("it does not hold the two ranges asked for"))?;
        Ok(GridRead { index: RowIndex::new(state.digests), anchors })
    }
}

/// The state and the sink, for the time the cutter reads one chunk.
struct Events<'a, S: ?Sized> {
    state: &'a mut State,
    sink: &'a mut S,
}

impl<S: RowSink + ?Sized> GridEvents for Events<'_, S> {
    fn grid_data(&mut self, data: usize) -> Result<(), SheetsError> {
        self.state.grids = data + 1;
        match data {
            METADATA_GRID => Ok(()),
            ROWS_GRID => {
                let anchors = self.state.deliver_anchors(self.sink)?;
                self.state.anchors = Some(anchors);
                Ok(())
            }
            _ => Err(malformed("it holds more ranges than asked for")),
        }
    }

    fn wants(&self, data: usize, part: Part) -> bool {
        matches!((data, part), (METADATA_GRID, Part::RowMetadata) | (ROWS_GRID, Part::RowData))
    }

    fn element(&mut self, data: usize, part: Part, index: usize, bytes: &[u8]) -> Result<(), SheetsError> {
        match (data, part) {
            (METADATA_GRID, Part::RowMetadata) => self.state.metadata_of(index, bytes),
            (ROWS_GRID, Part::RowData) => self.state.row(index, bytes, self.sink),
            _ => Ok(()),
        }
    }
}

impl State {
    /// Reads the metadata of row `row`.
    fn metadata_of(&mut self, row: usize, bytes: &[u8]) -> Result<(), SheetsError> {
        self.metadata.update(&(bytes.len() as u64).to_le_bytes());
        self.metadata.update(bytes);
        if bytes == b"{}" {
            return Ok(());
        }
        let properties: wire::RowProperties<'_> = serde_json::from_slice(bytes).map_err(|e| unreadable(&e))?;
        let Ok(row) = u32::try_from(row) else { return Ok(()) };
        let first = self.found.len();
        for metadata in properties.developer_metadata {
            if metadata.metadata_key.as_deref() != Some(ANCHOR_KEY) {
                continue;
            }
            if let (Some(metadata_id), Some(key)) = (metadata.metadata_id, metadata.metadata_value) {
                self.found.push(RowAnchor { metadata_id, key, row });
            }
        }
        self.found[first..].sort_unstable_by_key(|anchor| anchor.metadata_id);
        Ok(())
    }

    /// The anchors read, handed to the sink once before the first row.
    fn deliver_anchors(&mut self, sink: &mut (impl RowSink + ?Sized)) -> Result<Anchors, SheetsError> {
        let answer = self.metadata.digest128().to_le_bytes();
        let anchors = Anchors::from_grid(std::mem::take(&mut self.found), self.sheet_id, answer);
        sink.anchors(&anchors)?;
        Ok(anchors)
    }

    /// Row `row` of the tab: handed over, unless it has no value (then it waits for one that has).
    fn row(&mut self, row: usize, bytes: &[u8], sink: &mut (impl RowSink + ?Sized)) -> Result<(), SheetsError> {
        let digest = RowDigest::of(bytes);
        if !has_value(bytes) {
            self.blank.push((row, digest));
            return Ok(());
        }
        let anchors = self.anchors.take().ok_or_else(|| malformed("its rows come before the row metadata"))?;
        let outcome = self.hand_over(row, bytes, digest, &anchors, sink);
        self.anchors = Some(anchors);
        outcome
    }

    fn hand_over(
        &mut self,
        row: usize,
        bytes: &[u8],
        digest: RowDigest,
        anchors: &Anchors,
        sink: &mut (impl RowSink + ?Sized),
    ) -> Result<(), SheetsError> {
        for (blank, digest) in std::mem::take(&mut self.blank) {
            let on_row = self.anchors_on(anchors, blank);
            self.digests.push(digest);
            sink.row(blank, RawRow::grid(b"{}", digest, on_row))?;
        }
        let on_row = self.anchors_on(anchors, row);
        self.digests.push(digest);
        sink.row(row, RawRow::grid(bytes, digest, on_row))
    }

    /// The anchors on row `row`; rows are asked for in order.
    fn anchors_on<'a>(&mut self, anchors: &'a Anchors, row: usize) -> &'a [RowAnchor] {
        let before = |anchor: &RowAnchor| (anchor.row as usize) < row;
        while anchors.get(self.next_anchor).is_some_and(before) {
            self.next_anchor += 1;
        }
        let start = self.next_anchor;
        let mut end = start;
        while anchors.get(end).is_some_and(|anchor| anchor.row as usize == row) {
            end += 1;
        }
        &anchors[start..end]
    }
}

/// Whether a `RowData` has a cell with a value. Only a value's key spells `"effectiveValue"`
/// with its quotes: inside a string they would be escaped.
fn has_value(bytes: &[u8]) -> bool {
    memchr::memmem::find(bytes, b"\"effectiveValue\"").is_some()
}

fn unreadable(error: &serde_json::Error) -> SheetsError {
    SheetsError::Rejected { message: format!("Google's answer could not be decoded: {error}") }
}

/// The parts of a grid answer's row metadata read here, named and typed as in Google's
/// reference (`DimensionProperties`, `DeveloperMetadata`); a row's cells are read in
/// `super::grid_row`.
mod wire {
    use std::borrow::Cow;

    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct RowProperties<'a> {
        #[serde(borrow, default)]
        pub developer_metadata: Vec<Metadata<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Metadata<'a> {
        pub metadata_id: Option<i32>,
        #[serde(borrow)]
        pub metadata_key: Option<Cow<'a, str>>,
        pub metadata_value: Option<String>,
    }
}

/// Reads a grid answer held whole (a test's) as the client reads one arriving.
#[cfg(test)]
pub(crate) fn read_grid_answer(body: &[u8], sheet_id: i32, sink: &mut impl RowSink) -> Result<GridRead, SheetsError> {
    let mut stream = GridStream::new(sheet_id);
    stream.push(body, sink)?;
    stream.finish()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::Cell;
    use crate::sheets::values::{AllRows, read_answer};

    /// One metadata entry as a grid answer carries it.
    fn anchor_json(id: i32, key: &str, value: &str) -> Value {
        json!({"metadataId": id, "metadataKey": key, "metadataValue": value})
    }

    /// A grid answer: the metadata range's `GridData`, then the whole tab's.
    fn answer(rows: Vec<Value>, metadata: Vec<Value>) -> Vec<u8> {
        let column_a: Vec<Value> = rows
            .iter()
            .map(|row| match row["values"].get(0) {
                Some(cell) => json!({"values": [cell]}),
                None => json!({}),
            })
            .collect();
        serde_json::to_vec(&json!({"sheets": [{"data": [
            {"rowData": column_a, "rowMetadata": metadata},
            {"rowData": rows, "rowMetadata": metadata},
        ]}]}))
        .unwrap()
    }

    fn cell(value: Value) -> Value {
        json!({"effectiveValue": value})
    }

    /// A sink that keeps every row with its anchors, and the anchors it was handed first.
    #[derive(Default)]
    struct Paired {
        anchors: Option<Vec<RowAnchor>>,
        rows: Vec<(usize, Vec<Cell>, Vec<RowAnchor>)>,
    }

    impl RowSink for Paired {
        fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), SheetsError> {
            assert!(self.anchors.is_some(), "the anchors come before the first row");
            self.rows.push((row, raw.cells()?, raw.anchors().to_vec()));
            Ok(())
        }

        fn restart(&mut self) {
            self.anchors = None;
            self.rows.clear();
        }

        fn anchors(&mut self, anchors: &Anchors) -> Result<(), SheetsError> {
            self.anchors = Some(anchors.to_vec());
            Ok(())
        }
    }

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn cells_are_what_values_get_sends_for_every_kind_of_value() {
        let grid = answer(
            vec![
                json!({"values": [cell(json!({"stringValue": "invoice"})), cell(json!({"stringValue": "amount"}))]}),
                json!({"values": [
                    cell(json!({"stringValue": "ACD-1"})),
                    cell(json!({"numberValue": 1234.5})),
                    cell(json!({"numberValue": 43831})),
                    cell(json!({"boolValue": true})),
                    {"effectiveValue": {"errorValue": {"type": "DIVIDE_BY_ZERO", "message": "…"}}, "formattedValue": "#DIV/0!"},
                    cell(json!({"errorValue": {"type": "NAME"}})),
                    cell(json!({"stringValue": "0012"})),
                    {},
                    cell(json!({"numberValue": 0.30000000000000004})),
                    cell(json!({"stringValue": "x\"y"})),
                    cell(json!({"stringValue": ""})),
                    {}, {},
                ]}),
                json!({}),
                json!({"values": [{}, cell(json!({"numberValue": -3}))]}),
            ],
            vec![],
        );
        let values = json!({"range": "'inv_tbl'!A1:Z1000", "majorDimension": "ROWS", "values": [
            ["invoice", "amount"],
            ["ACD-1", 1234.5, 43831, true, "#DIV/0!", "#NAME?", "0012", "", 0.30000000000000004, "x\"y", ""],
            [],
            ["", -3],
        ]});
        let mut from_values = AllRows::default();
        read_answer(&serde_json::to_vec(&values).unwrap(), &mut from_values).unwrap();
        let mut from_grid = AllRows::default();
        let read = read_grid_answer(&grid, 0, &mut from_grid).unwrap();
        assert_eq!(from_grid.0, from_values.0);
        assert_eq!(from_grid.0[1][4], text("#DIV/0!"));
        assert_eq!(read.index.len(), 4);
        assert!(read.anchors.is_empty());
    }

    #[test]
    fn rows_come_with_their_anchors_and_trailing_blank_rows_are_left_out() {
        let row = |s: &str| json!({"values": [cell(json!({"stringValue": s}))]});
        let grid = answer(
            vec![row("h"), json!({"values": [{}, {}]}), row("b"), json!({}), json!({"values": [{}]})],
            vec![
                json!({}),
                json!({"developerMetadata": [anchor_json(9, ANCHOR_KEY, "k1"), anchor_json(4, "other", "x")]}),
                json!({"developerMetadata": [anchor_json(8, ANCHOR_KEY, "k2b"), anchor_json(3, ANCHOR_KEY, "k2a")]}),
                json!({}),
                json!({}),
                json!({"developerMetadata": [anchor_json(5, ANCHOR_KEY, "k5")]}),
            ],
        );
        let mut sink = Paired::default();
        let read = read_grid_answer(&grid, 7, &mut sink).unwrap();
        let anchor = |id, key: &str, row| RowAnchor { metadata_id: id, key: key.into(), row };
        let all = vec![anchor(9, "k1", 1), anchor(3, "k2a", 2), anchor(8, "k2b", 2), anchor(5, "k5", 5)];
        assert_eq!(read.anchors.to_vec(), all);
        assert_eq!(sink.anchors, Some(all.clone()));
        assert_eq!(
            sink.rows,
            vec![
                (0, vec![text("h")], vec![]),
                (1, vec![], vec![all[0].clone()]),
                (2, vec![text("b")], all[1..3].to_vec()),
            ]
        );
        assert_eq!(read.index.len(), 3, "rows 3 and 4 have no value: left out as values.get leaves them");
    }

    #[test]
    fn row_digests_follow_values_and_anchor_answers_follow_anchors() {
        let row = |s: &str| json!({"values": [cell(json!({"stringValue": s}))]});
        let meta = |v: &str| vec![json!({}), json!({"developerMetadata": [anchor_json(1, ANCHOR_KEY, v)]})];
        let read = |rows, metadata| read_grid_answer(&answer(rows, metadata), 0, &mut AllRows::default()).unwrap();
        let base = read(vec![row("h"), row("a")], meta("k"));
        let again = read(vec![row("h"), row("a")], meta("k"));
        let edited = read(vec![row("h"), row("b")], meta("k"));
        let moved = read(vec![row("h"), row("a")], meta("j"));
        assert_eq!(base.index.digest(1), again.index.digest(1));
        assert!(base.anchors.is_same_answer(&again.anchors));
        assert_ne!(base.index.digest(1), edited.index.digest(1));
        assert!(base.anchors.is_same_answer(&edited.anchors));
        assert_eq!(base.index.digest(1), moved.index.digest(1));
        assert!(!base.anchors.is_same_answer(&moved.anchors));
    }

    #[test]
    fn answers_without_the_two_ranges_are_refused() {
        let one = br#"{"sheets":[{"data":[{"rowData":[]}]}]}"#;
        let three = br#"{"sheets":[{"data":[{},{},{}]}]}"#;
        let none = br#"{}"#;
        for bad in [&one[..], three, none] {
            let outcome = read_grid_answer(bad, 0, &mut AllRows::default());
            assert!(matches!(outcome, Err(SheetsError::Rejected { .. })), "{}", String::from_utf8_lossy(bad));
        }
        let empty_tab = br#"{"sheets":[{"data":[{"rowMetadata":[{},{}]},{"rowMetadata":[{},{}]}]}]}"#;
        let read = read_grid_answer(empty_tab, 0, &mut AllRows::default()).unwrap();
        assert!(read.index.is_empty() && read.anchors.is_empty());
    }
}
