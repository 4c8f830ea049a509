//! What a pass keeps of each read of the sheet.
//!
//! A read is taken row by row as it arrives and never held whole (see
//! [`crate::sheets::values`]), so what a pass costs in memory is what it chooses to keep, and
//! it chooses by why it reads:
//!
//! - the idle check ([`IdleCheck`]) decodes the dozen columns it looks at, judges the row, and
//!   lets it go;
//! - a picture ([`Developing`]) is one read of values and row metadata together: it seals each
//!   row as it arrives (see [`super::seal`]) and decodes only the rows that are not quiet, or
//!   takes them from the pass's previous picture when their bytes and place are the same.
//!
//! On a long settled history that is a digest, a seal and an anchor per row, plus the cells
//! of the rows that are ready, changed or unsealed: memory in proportion to what is ready.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use compact_str::CompactString;

use crate::domain::Cell;
use crate::domain::layout::Layout;
use crate::sheets::{Anchors, DriveVersion, RawRow, RowIndex, RowSink, SheetsError};

use super::error::PassError;
use super::fast::FastMap;
use super::plan::AttentionCheck;
use super::policy::Policy;
use super::seal::{Seal, Sealer, Sealing};

/// One consistent picture of the sheet (values and anchors read together, see
/// `Engine::snapshot`) decoded as far as the pass needs: quiet rows are not decoded and read
/// as blank, which every stage of planning skips.
pub struct Picture {
    pub index: RowIndex,
    pub anchors: Anchors,
    pub layout: Layout,
    pub sealing: Sealing,
    /// Every row; a quiet row is not decoded and is empty.
    pub rows: Vec<Vec<Cell>>,
    /// The file's Drive version just before the read, when Drive gave one that counts every
    /// change: the same version later means this picture is still the sheet.
    pub version: Option<DriveVersion>,
}

impl Picture {
    /// Whether row `row` is quiet: not decoded, its anchor's key known to be its own.
    pub fn is_quiet(&self, row: usize) -> bool {
        self.sealing.is_quiet(row)
    }

    /// Whether row `row` holds its cells (the header always does; a quiet row does not).
    pub fn holds(&self, row: usize) -> bool {
        row < self.rows.len() && !self.sealing.is_quiet(row)
    }
}

/// How long a pass goes without asking Drive after Drive gave no usable version: a company
/// whose credentials Drive refuses costs one call per this long, not one per pass, and Drive
/// enabled later is noticed within it.
const DRIVE_ASKED_AGAIN_AFTER: Duration = Duration::from_secs(600);

/// Whether Drive lately gave no version that counts every change; kept across passes by the
/// engine, so that only the shortcut it enables is lost, never a call per pass.
#[derive(Debug, Default)]
pub struct DriveVersions {
    refused_at: Mutex<Option<Instant>>,
}

impl DriveVersions {
    pub(super) fn worth_asking(&self) -> bool {
        self.lock().is_none_or(|at| at.elapsed() >= DRIVE_ASKED_AGAIN_AFTER)
    }

    pub(super) fn refused(&self) {
        *self.lock() = Some(Instant::now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.refused_at.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The sink that makes a [`Picture`] of a read: seals each row as it arrives, and decodes the
/// rows that are not quiet.
pub struct Developing<'s> {
    policy: &'s Policy,
    anchors: Anchors,
    stored: &'s FastMap<CompactString, Seal>,
    sealer: Sealer<'s>,
    /// The pass's previous picture: its seals are reused for rows with the same key, cells
    /// and place, and its decoded rows are taken rather than decoded again.
    kept: Option<Picture>,
    rows: Vec<Vec<Cell>>,
}

impl<'s> Developing<'s> {
    /// For a read made right after `anchors` were read; `stored` are the seals the store holds.
    pub fn new(
        policy: &'s Policy,
        anchors: Anchors,
        stored: &'s FastMap<CompactString, Seal>,
        kept: Option<Picture>,
    ) -> Developing<'s> {
        let sealer = Sealer::new(&policy.config_fp, &anchors, stored);
        Developing { policy, anchors, stored, sealer, kept, rows: Vec::new() }
    }

    /// The picture of the read whose rows had digests `index`.
    pub fn finish(self, index: RowIndex) -> Result<Picture, PassError> {
        let Some(header) = self.rows.first() else { return Err(PassError::EmptySheet) };
        let layout = Layout::from_header(header, &self.policy.columns)?;
        Ok(Picture {
            index,
            anchors: self.anchors,
            layout,
            sealing: self.sealer.finish(),
            rows: self.rows,
            version: None,
        })
    }
}

impl RowSink for Developing<'_> {
    fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), SheetsError> {
        let digest = raw.digest();
        let previous = self.kept.as_ref().map(|kept| (&kept.sealing, &kept.anchors[..]));
        let quiet = self.sealer.row(row, digest, &self.anchors, previous);
        let cells = match &mut self.kept {
            _ if quiet => Vec::new(),
            Some(kept) if kept.index.digest(row) == Some(digest) && kept.holds(row) => {
                std::mem::take(&mut kept.rows[row])
            }
            _ => raw.cells()?,
        };
        self.rows.push(cells);
        Ok(())
    }

    /// The anchors of a read that carries them with its values (see
    /// [`crate::sheets::SheetsClient::read_rows_with_anchors`]): they come before the first row.
    fn anchors(&mut self, anchors: &Anchors) -> Result<(), SheetsError> {
        self.anchors = anchors.clone();
        self.sealer = Sealer::new(&self.policy.config_fp, &self.anchors, self.stored);
        Ok(())
    }

    fn restart(&mut self) {
        // Rows already taken from the kept picture are gone from it: start without it.
        self.kept = None;
        self.sealer = Sealer::new(&self.policy.config_fp, &self.anchors, self.stored);
        self.rows.clear();
    }
}

/// The sink of an idle poll's read: finds the layout in the header, then looks at each row's
/// known columns with an [`AttentionCheck`] and lets it go.
pub struct IdleCheck<'a> {
    policy: &'a Policy,
    check: AttentionCheck<'a>,
    layout: Option<Result<Layout, PassError>>,
    columns: Vec<bool>,
    /// One row's cells, reused from row to row.
    buffer: Vec<Cell>,
    rows: usize,
    /// The read started over after rows were looked at: the check cannot be trusted.
    restarted: bool,
}

impl<'a> IdleCheck<'a> {
    pub fn new(check: AttentionCheck<'a>, policy: &'a Policy) -> IdleCheck<'a> {
        IdleCheck { policy, check, layout: None, columns: Vec::new(), buffer: Vec::new(), rows: 0, restarted: false }
    }

    /// Whether the header read has a money column (see [`crate::payments`]).
    pub fn shows_money(&self) -> bool {
        matches!(&self.layout, Some(Ok(layout)) if layout.shows_money())
    }

    /// After the read: whether the pass has anything to do. An empty sheet, or a header that
    /// does not name the columns qbsync needs, is an error.
    pub fn finish(mut self) -> Result<bool, PassError> {
        match self.layout {
            None => Err(PassError::EmptySheet),
            Some(Err(error)) => Err(error),
            Some(Ok(_)) => Ok(self.restarted || self.check.needed() || self.check.finish(self.rows)),
        }
    }
}

impl RowSink for IdleCheck<'_> {
    fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), SheetsError> {
        self.rows = row + 1;
        if row == 0 {
            let layout = Layout::from_header(&raw.cells()?, &self.policy.columns).map_err(PassError::from);
            if let Ok(layout) = &layout {
                self.columns = layout.known_columns();
            }
            self.layout = Some(layout);
            return Ok(());
        }
        let Some(Ok(layout)) = &self.layout else { return Ok(()) };
        if self.check.needed() {
            return Ok(());
        }
        let len = raw.cells_into(Some(&self.columns), &mut self.buffer)?;
        self.check.row(layout, row, &self.buffer[..len]);
        Ok(())
    }

    fn restart(&mut self) {
        self.restarted |= self.rows > 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sheet;
    use crate::sheets::RowAnchor;
    use crate::sheets::values::read_answer;
    use crate::sync::plan::tests::policy;

    /// The header and four ready rows.
    fn answer() -> Vec<u8> {
        let rows: Vec<Vec<String>> = std::iter::once(sheet::header()).chain((1..=4).map(sheet::ready_row)).collect();
        serde_json::to_vec(&serde_json::json!({ "values": rows })).unwrap()
    }

    fn anchors(on: &[(&str, u32)]) -> Anchors {
        let list: Vec<RowAnchor> = on
            .iter()
            .enumerate()
            .map(|(i, (key, row))| RowAnchor { metadata_id: i as i32, key: (*key).into(), row: *row })
            .collect();
        list.into()
    }

    fn develop(
        policy: &Policy,
        anchors: Anchors,
        stored: &FastMap<CompactString, Seal>,
        kept: Option<Picture>,
    ) -> Picture {
        let mut developing = Developing::new(policy, anchors, stored, kept);
        let index = read_answer(&answer(), &mut developing).unwrap();
        developing.finish(index).unwrap()
    }

    fn quiet(picture: &Picture) -> Vec<usize> {
        (0..picture.rows.len()).filter(|&row| picture.is_quiet(row)).collect()
    }

    #[test]
    fn a_picture_leaves_quiet_rows_undecoded_and_takes_unchanged_rows_from_the_one_before() {
        let policy = policy();
        let three = anchors(&[("k1", 1), ("k2", 2), ("k3", 3)]);
        let unsealed = develop(&policy, three.clone(), &FastMap::default(), None);
        let stored: FastMap<CompactString, Seal> =
            [("k1".into(), unsealed.sealing.seal(1).unwrap())].into_iter().collect();
        let picture = develop(&policy, three.clone(), &stored, None);
        assert_eq!(quiet(&picture), [1]);
        assert!(picture.rows[1].is_empty() && !picture.rows[2].is_empty(), "quiet rows are not decoded");
        let again = develop(&policy, three, &stored, Some(develop(&policy, anchors(&[]), &stored, None)));
        assert_eq!((again.rows.clone(), quiet(&again)), (picture.rows.clone(), quiet(&picture)));
    }

    #[test]
    fn anchors_that_arrive_with_the_values_seal_the_rows_as_if_read_apart() {
        let policy = policy();
        let three = anchors(&[("k1", 1), ("k2", 2), ("k3", 3)]);
        let unsealed = develop(&policy, three.clone(), &FastMap::default(), None);
        let stored: FastMap<CompactString, Seal> =
            [("k2".into(), unsealed.sealing.seal(2).unwrap())].into_iter().collect();
        let mut developing = Developing::new(&policy, Anchors::default(), &stored, None);
        developing.anchors(&three).unwrap();
        let index = read_answer(&answer(), &mut developing).unwrap();
        let together = developing.finish(index).unwrap();
        let apart = develop(&policy, three, &stored, None);
        assert_eq!(quiet(&apart), [2]);
        assert_eq!((quiet(&together), together.rows), (quiet(&apart), apart.rows));
    }
}
