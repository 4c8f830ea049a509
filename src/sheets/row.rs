//! One row of a read, whichever read it came from: its bytes as Google sent them, its digest,
//! its anchors, and the sinks rows are handed to.
//!
//! A `values.get` ([`super::values`]) and a grid read ([`super::grid`]) cut their answers into
//! rows differently, but what they hand over is the same, so that the sync engine reads rows
//! without knowing which request brought them. Those shared types live here, below both readers,
//! rather than in either one: each reader depends on them, and a row decodes itself through the
//! decoder of its own spelling (`values_row`, `grid_row`), neither of which knows a reader.

use xxhash_rust::xxh3::xxh3_128;

use super::SheetsError;
use super::anchors::{Anchors, RowAnchor};
use super::{grid_row, values_row};
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
        match self.form {
            Form::Values => values_row::cells_into(self.bytes, columns, buffer),
            Form::Grid => grid_row::cells_into(self.bytes, columns, buffer),
        }
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

/// A digest of every row of an answer, in order.
#[derive(Clone, Debug, Default)]
pub struct RowIndex {
    digests: Vec<RowDigest>,
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
    /// The index of an answer whose rows had `digests`.
    pub(crate) fn new(digests: Vec<RowDigest>) -> RowIndex {
        RowIndex { digests }
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
}
