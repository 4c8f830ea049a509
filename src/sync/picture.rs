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
use crate::sheets::{Anchors, DriveVersion, RawRow, RowDigest, RowIndex, RowSink, SheetsError};
use crate::store::Kind;

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

/// What the last idle poll that found nothing to do saw of each row: an idle poll of a long
/// sheet where a few rows changed decodes those few. Kept by the engine from poll to poll, and
/// only by the idle check: a busy pass forgets it.
#[derive(Debug, Default)]
pub struct IdleMemory(Mutex<Option<Seen>>);

impl IdleMemory {
    fn take(&self) -> Option<Seen> {
        self.lock().take()
    }

    fn keep(&self, seen: Seen) {
        *self.lock() = Some(seen);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Seen>> {
        self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One idle poll's rows: the digest of each (the header's first) and the id it showed, under
/// the check's inputs ([`AttentionCheck::inputs`]).
#[derive(Debug)]
struct Seen {
    inputs: u64,
    rows: Vec<(RowDigest, Option<(Kind, u64)>)>,
}

/// The sink of an idle poll's read: finds the layout in the header, then looks at each row's
/// known columns with an [`AttentionCheck`] and lets it go. A row whose bytes are those the
/// last idle poll saw there, under the same inputs, is not looked at again: that poll found
/// nothing to do, so neither would this one in it (only its id still counts, against copies).
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
    memory: &'a IdleMemory,
    /// The last idle poll's rows when they were seen under the same inputs.
    before: Option<Seen>,
    /// This poll's rows, kept for the next if it finds nothing to do.
    now: Seen,
    /// Rows decoded and looked at (the others were as the last poll saw them).
    pub looked_at: usize,
}

impl<'a> IdleCheck<'a> {
    pub fn new(check: AttentionCheck<'a>, policy: &'a Policy, memory: &'a IdleMemory) -> IdleCheck<'a> {
        let inputs = check.inputs();
        let before = memory.take().filter(|seen| seen.inputs == inputs);
        IdleCheck {
            policy,
            check,
            layout: None,
            columns: Vec::new(),
            buffer: Vec::new(),
            rows: 0,
            restarted: false,
            memory,
            before,
            now: Seen { inputs, rows: Vec::new() },
            looked_at: 0,
        }
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
            Some(Ok(_)) => {
                let needed = self.restarted || self.check.needed() || self.check.finish(self.rows);
                if !needed {
                    self.memory.keep(self.now);
                }
                Ok(needed)
            }
        }
    }
}

impl RowSink for IdleCheck<'_> {
    fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), SheetsError> {
        self.rows = row + 1;
        let digest = raw.digest();
        // Rows arrive one after another from the header on (a blank one as an empty row), so a
        // row is matched with the one the last poll saw in the same place.
        let unchanged =
            self.before.as_ref().and_then(|before| before.rows.get(row)).copied().filter(|(seen, _)| *seen == digest);
        if row == 0 {
            if unchanged.is_none() {
                // Another header: the last poll's rows say nothing of these.
                self.before = None;
            }
            let layout = Layout::from_header(&raw.cells()?, &self.policy.columns).map_err(PassError::from);
            if let Ok(layout) = &layout {
                self.columns = layout.known_columns();
            }
            self.layout = Some(layout);
            self.now.rows.push((digest, None));
            return Ok(());
        }
        let Some(Ok(layout)) = &self.layout else { return Ok(()) };
        if self.check.needed() {
            return Ok(());
        }
        let id = match unchanged {
            Some((_, id)) => {
                if let Some(id) = id {
                    self.check.seen_again(id);
                }
                id
            }
            None => {
                self.looked_at += 1;
                let len = raw.cells_into(Some(&self.columns), &mut self.buffer)?;
                let cells = &self.buffer[..len];
                let id = self.check.id_of(layout, cells);
                self.check.row(layout, row, cells);
                id
            }
        };
        self.now.rows.push((digest, id));
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
    use crate::sync::view::StoreView;

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

    /// The header and `n` synced rows, each showing its own id.
    fn history(n: usize) -> Vec<Vec<String>> {
        let header = sheet::header();
        let at = |name: &str| header.iter().position(|h| h == name).unwrap();
        let (id, status) = (at("qb_invoice_id"), at("qb_sync_status"));
        let rows = (1..=n).map(|i| {
            let mut row = sheet::ready_row(i);
            row.resize(header.len(), String::new());
            row[id] = (100 + i).to_string();
            row[status] = "synced".into();
            row
        });
        std::iter::once(header.clone()).chain(rows).collect()
    }

    /// One idle poll of `rows` with `memory`: whether it found something to do, and how many
    /// rows it looked at.
    fn poll(memory: &IdleMemory, rows: &[Vec<String>], store: &StoreView) -> (bool, usize) {
        let policy = policy();
        let mut idle = IdleCheck::new(AttentionCheck::new(store, &policy), &policy, memory);
        read_answer(&serde_json::to_vec(&serde_json::json!({ "values": rows })).unwrap(), &mut idle).unwrap();
        let looked_at = idle.looked_at;
        (idle.finish().unwrap(), looked_at)
    }

    #[test]
    fn an_idle_poll_looks_again_only_at_the_rows_that_changed_since_the_last() {
        let memory = IdleMemory::default();
        let store = StoreView::default();
        let mut rows = history(6);
        assert_eq!(poll(&memory, &rows, &store), (false, 6), "the first poll looks at every row");
        assert_eq!(poll(&memory, &rows, &store), (false, 0), "nothing changed: nothing looked at");
        rows[3][5] = "a task renamed".into();
        assert_eq!(poll(&memory, &rows, &store), (false, 1));
        rows.push(sheet::header().iter().map(|_| String::new()).collect());
        assert_eq!(poll(&memory, &rows, &store), (false, 1), "a blank row added at the end");
    }

    #[test]
    fn a_changed_row_that_is_ready_or_shows_an_unchanged_rows_id_still_needs_a_pass() {
        let store = StoreView::default();
        let rows = history(6);
        let id = rows[0].iter().position(|h| h == "qb_invoice_id").unwrap();
        let memory = IdleMemory::default();
        poll(&memory, &rows, &store);
        let mut ready = rows.clone();
        ready[4][id].clear();
        assert!(poll(&memory, &ready, &store).0, "a row whose id was cleared is ready");
        // The busy verdict kept nothing: the next poll looks at every row again.
        assert_eq!(poll(&memory, &rows, &store), (false, 6));
        let mut copied = rows.clone();
        copied[5][id] = rows[2][id].clone();
        assert!(poll(&memory, &copied, &store).0, "an id on two rows, one of them not looked at again");
    }

    #[test]
    fn another_header_or_other_inputs_from_the_store_look_at_every_row() {
        let memory = IdleMemory::default();
        let rows = history(4);
        poll(&memory, &rows, &StoreView::default());
        let mut renamed = rows.clone();
        renamed[0].push("memo".into());
        assert_eq!(poll(&memory, &renamed, &StoreView::default()), (false, 4));
        let policy = policy();
        let expecting = |row: i64| {
            AttentionCheck::new(&StoreView::default(), &policy)
                .expecting(vec![(row, Kind::Invoice, "103".into(), crate::store::RowStatus::Synced)], false)
                .inputs()
        };
        assert_ne!(expecting(4), expecting(5), "where a synced row was last seen is an input");
        assert_ne!(expecting(4), AttentionCheck::new(&StoreView::default(), &policy).inputs());
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
