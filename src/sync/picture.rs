//! What a pass keeps of each read of the sheet.
//!
//! A read is taken row by row as it arrives and never held whole (see
//! [`crate::sheets::values`]), so what a pass costs in memory is what it chooses to keep, and
//! it chooses by why it reads:
//!
//! - the idle check ([`IdleCheck`]) decodes the dozen columns it looks at, judges the row, and
//!   lets it go;
//! - the first read of a consistent snapshot keeps only a digest of the whole answer
//!   ([`read_values_digest`](crate::sheets::SheetsClient::read_values_digest)), to tell whether
//!   the sheet changed around the anchors;
//! - a picture ([`Developing`]) seals each row as it arrives (see [`super::seal`]) and decodes
//!   only the rows that are not quiet, or takes them from the pass's previous picture when their
//!   bytes and place are the same;
//! - when the values are still those of the pass's previous picture and only the anchors
//!   changed (after claims, or at the write-back when nobody edited), that picture is sealed
//!   again with the new anchors ([`Picture::reseal`]) and the read after the anchors keeps only
//!   a digest too.
//!
//! On a long settled history that is a digest, a seal and an anchor per row, plus the cells
//! of the rows that are ready, changed or unsealed: memory in proportion to what is ready.

use compact_str::CompactString;

use crate::domain::Cell;
use crate::domain::layout::Layout;
use crate::sheets::{Anchors, RawRow, RowIndex, RowSink, SheetsError};

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

    /// Makes this the picture of the same values seen with `anchors`, read since: sealed again
    /// against `stored` (the seals the store holds now). Only when every row that is not quiet
    /// with those anchors was decoded here; otherwise the picture is left as it was, false is
    /// returned, and the values must be read again.
    pub fn reseal(&mut self, anchors: Anchors, policy: &Policy, stored: &FastMap<CompactString, Seal>) -> bool {
        let previous = Some((&self.sealing, &self.anchors[..]));
        let sealing = Sealing::of(&self.index, &anchors, &policy.config_fp, stored, previous);
        if (1..self.rows.len()).any(|row| !sealing.is_quiet(row) && !self.holds(row)) {
            return false;
        }
        // A row that turned quiet is not planned: it reads as blank, as if never decoded.
        for (row, cells) in self.rows.iter_mut().enumerate().skip(1) {
            if sealing.is_quiet(row) {
                *cells = Vec::new();
            }
        }
        self.anchors = anchors;
        self.sealing = sealing;
        true
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
        Ok(Picture { index, anchors: self.anchors, layout, sealing: self.sealer.finish(), rows: self.rows })
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

    /// `picture` resealed with `anchors`, if it stands for them.
    fn resealed(mut picture: Picture, anchors: Anchors, stored: &FastMap<CompactString, Seal>) -> Option<Picture> {
        let before = (picture.rows.clone(), quiet(&picture));
        if picture.reseal(anchors, &policy(), stored) {
            Some(picture)
        } else {
            assert_eq!(
                (picture.rows.clone(), quiet(&picture)),
                before,
                "a picture that does not stand is left as it was"
            );
            None
        }
    }

    fn quiet(picture: &Picture) -> Vec<usize> {
        (0..picture.rows.len()).filter(|&row| picture.sealing.is_quiet(row)).collect()
    }

    #[test]
    fn a_picture_is_resealed_with_new_anchors_only_if_it_decoded_every_row_that_is_not_quiet() {
        let policy = policy();
        let three = anchors(&[("k1", 1), ("k2", 2), ("k3", 3)]);
        let unsealed = develop(&policy, three.clone(), &FastMap::default(), None);
        let seal = |row: usize| unsealed.sealing.seal(row).unwrap();
        let stored: FastMap<CompactString, Seal> =
            [("k1".into(), seal(1)), ("k2".into(), seal(2))].into_iter().collect();
        let picture = || develop(&policy, three.clone(), &stored, None);
        assert_eq!(quiet(&picture()), [1, 2]);
        assert!(picture().rows[1].is_empty() && !picture().rows[3].is_empty(), "quiet rows are not decoded");

        // The same anchors again, or a claim on a row that was decoded: the picture stands.
        let same = resealed(picture(), three.clone(), &stored).unwrap();
        assert_eq!(quiet(&same), [1, 2]);
        assert_eq!(same.rows, picture().rows);
        let claimed = anchors(&[("k1", 1), ("k2", 2), ("k3", 3), ("k4", 4)]);
        let after_claim = resealed(picture(), claimed.clone(), &stored).unwrap();
        assert_eq!(after_claim.rows[4], picture().rows[4]);
        assert_eq!(after_claim.anchors.len(), 4);

        // A row sealed since turns quiet, and reads as blank like any quiet row.
        let more: FastMap<CompactString, Seal> =
            [("k1".into(), seal(1)), ("k2".into(), seal(2)), ("k3".into(), seal(3))].into_iter().collect();
        let sealed_since = resealed(picture(), three.clone(), &more).unwrap();
        assert_eq!(quiet(&sealed_since), [1, 2, 3]);
        assert!(sealed_since.rows[3].is_empty());

        // A quiet row that is quiet no more was never decoded: the values must be read again.
        let fewer: FastMap<CompactString, Seal> = [("k1".into(), seal(1))].into_iter().collect();
        assert!(resealed(picture(), three.clone(), &fewer).is_none(), "k2's record was written");
        let swapped = anchors(&[("k3", 1), ("k2", 2), ("k1", 3)]);
        assert!(resealed(picture(), swapped, &stored).is_none(), "rows 1 and 3 traded anchors");

        // And what stands is what a fresh read with those anchors makes.
        for (now, seals) in [(three.clone(), &stored), (claimed, &stored), (three.clone(), &more)] {
            let fresh = develop(&policy, now.clone(), seals, None);
            let resealed = resealed(picture(), now, seals).unwrap();
            assert_eq!(quiet(&resealed), quiet(&fresh));
            assert_eq!(resealed.rows, fresh.rows);
        }
    }
}
