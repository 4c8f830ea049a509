//! Write-back: the store projected onto the cells qbsync owns, written where the rows are now.
//!
//! The sheet is written last, as a projection of the store; a crash before it only delays it.
//! Rows are located in one consistent picture of values and anchors (see [`super::snapshot`]).
//! Sheets cannot make a write conditional, so where the cells landed is checked: the write
//! answers with the rows it wrote, and when each shows the row the picture located there
//! ([`super::landing`]) the write is done; otherwise the sheet is read again and cells that
//! landed on a row that moved in between are given back (see [`project::undo_misplaced`]).
//! Synced rows found in agreement with the store are sealed here (see [`super::seal`]).

use std::time::{Duration, Instant};

use crate::domain::Cell;
use crate::sheets::CellRun;
use crate::store::{RowStatus, StoreError};

use super::error::PassError;
use super::fast::FastSet;
use super::landing;
use super::pass::Pass;
use super::picture::Picture;
use super::plan::{self, Located};
use super::project::{self, CellWrite};
use super::report::PassReport;
use super::seal::Seal;

/// How many times qbsync gives back cells it wrote to rows that moved, before it leaves the rest
/// to the next pass (each round is a fresh picture of the sheet and a write; rows must keep
/// moving for every one of them to miss).
const RESTORE_ROUNDS: usize = 20;

/// How long the landing check may go on giving back misplaced cells once a stop was asked for
/// (SIGTERM): well inside systemd's `TimeoutStopSec` (3 min), even with a round in flight that
/// waits for Google. What is left is kept in the store and given back by the next pass.
pub const RESTORE_GRACE_AFTER_STOP: Duration = Duration::from_secs(20);

/// Whether the landing check may look again (`round` counts from 0): up to [`RESTORE_ROUNDS`],
/// and once a stop was asked for (at `stop`), only within `grace` of it.
pub fn may_restore_again(round: usize, stop: Option<Instant>, grace: Duration, now: Instant) -> bool {
    round < RESTORE_ROUNDS && stop.is_none_or(|at| now.saturating_duration_since(at) < grace)
}

impl Pass<'_> {
    /// Projects the store onto the owned cells of anchored rows and writes the difference in
    /// one batch. Rows are located by a fresh read of the anchors, never by a remembered number;
    /// if rows moved under the write anyway, what landed on the wrong rows is given back and the
    /// projection runs once more.
    pub(super) async fn write_back(&mut self, report: &mut PassReport) -> Result<(), PassError> {
        for _ in 0..2 {
            if !self.project_and_write(report).await? {
                break;
            }
        }
        Ok(())
    }

    /// One projection and its write; true when rows moved under it (and it must run again).
    async fn project_and_write(&mut self, report: &mut PassReport) -> Result<bool, PassError> {
        let policy = self.policy;
        let picture = match self.current_picture().await {
            // Emptied since the pass planned: there is nothing to write to.
            Err(PassError::EmptySheet) => return Ok(false),
            other => other?,
        };
        let located = plan::locate(
            &picture.rows,
            &picture.layout,
            &picture.anchors,
            &|row| picture.is_quiet(row),
            &self.view,
            self.policy,
        );

        // One transaction for all moved rows: after an insert near the top, every row moves,
        // and a statement each would cost a disk flush each. A quiet row has not moved: its
        // seal says where it was.
        let moved = located.iter().filter(|(key, row)| {
            !picture.sealing.is_quiet(**row as usize)
                && self.view.rows.get(key.as_str()).is_some_and(|r| r.sheet_row != Some(**row as i64 + 1))
        });
        self.ledger().moved(moved.map(|(key, row)| (key.as_str(), *row as i64 + 1)))?;
        self.note_rows_gone(&located)?;

        // Saving a position broke the row's seal: the view must know before sealing again.
        self.view.catch_up(self.store)?;

        // Quiet rows agree with the store by their seal; the projection looks at the others.
        let to_project: Located = located
            .iter()
            .filter(|(_, row)| !picture.sealing.is_quiet(**row as usize))
            .map(|(key, row)| (key.clone(), *row))
            .collect();
        let (writes, mismatches) = project::project(&picture.rows, &picture.layout, &to_project, &self.view, policy);

        for mismatch in &mismatches {
            tracing::warn!(
                row_key = %mismatch.key,
                sheet_row = mismatch.row + 1,
                expected = %mismatch.expected_doc_number,
                "the anchored row no longer shows its invoice number; not writing to it"
            );
        }
        report.mismatches = mismatches.len();
        self.seal(&picture, &to_project, &writes, &mismatches)?;

        if writes.is_empty() {
            self.kept = Some(picture);
            return Ok(false);
        }
        let runs = cell_runs(&writes);
        report.cells_written += runs.iter().map(|r| r.values.len()).sum::<usize>();
        let (written, landed) = self.sheets.write_cells_and_look(&runs).await?;
        for held in &written.held_back {
            // Google refused these cells alone; the rest landed, and the next pass tries again.
            tracing::warn!(
                sheet_row = held.row + 1,
                column = held.col + 1,
                cells = held.width,
                google = %held.message,
                "Google refused to write these cells; the others were written"
            );
        }
        // The write's answer shows the written rows as it left them: when each is the row the
        // picture located, nothing can have landed astray and no read is needed to know it.
        if landed.is_some_and(|landed| landing::as_aimed(&picture, &writes, &landed)) {
            return Ok(false);
        }
        self.verify_landing(&picture, &located, &writes).await
    }

    /// Seals the synced rows the projection found in agreement with the store: no write, no
    /// mismatch, and every cell qbsync may write showing what the store says (no note of an
    /// edit, nothing in the other kind's columns), so that a row that is not decoded again can
    /// still be restored exactly should a misplaced write hit it (see [`Self::verify_landing`]).
    /// A later pass that finds them as they are now neither decodes nor plans them (see
    /// [`super::seal`]).
    fn seal(
        &mut self,
        picture: &Picture,
        projected: &Located,
        writes: &[CellWrite],
        mismatches: &[project::Mismatch],
    ) -> Result<(), StoreError> {
        let policy = self.policy;
        let unsettled: FastSet<&str> =
            writes.iter().map(|w| w.key.as_str()).chain(mismatches.iter().map(|m| m.key.as_str())).collect();
        let seals: Vec<(&str, Seal)> = projected
            .iter()
            .filter(|(key, _)| !unsettled.contains(key.as_str()))
            .filter(|(key, row)| {
                let Some(record) = self.view.rows.get(key.as_str()).filter(|r| r.status == RowStatus::Synced) else {
                    return false;
                };
                let doc = record.doc_key.as_ref().and_then(|d| self.view.docs.get(d.as_str()));
                let money = record.doc_key.as_ref().and_then(|d| self.view.money.get(d.as_str()));
                picture
                    .rows
                    .get(**row as usize)
                    .is_some_and(|cells| project::shows_only_owned(cells, record, doc, money, &picture.layout, policy))
            })
            .filter_map(|(key, row)| Some((key.as_str(), picture.sealing.seal(*row as usize)?)))
            .filter(|(key, seal)| self.view.seals.get(*key) != Some(seal))
            .collect();
        if seals.is_empty() {
            return Ok(());
        }
        self.ledger().seal(&seals)?;
        self.view.sealed(&seals);
        Ok(())
    }

    /// Notes every row qbsync placed on the sheet that is found nowhere on it now, neither by
    /// its anchor nor by its values (see [`super::ledger::Ledger::row_gone`]): deleted, or
    /// overwritten whole. An anchor alone does not keep a row: a sort can leave it on a row
    /// that shows something else. The store is asked for the keys of placed rows, not the
    /// view, which holds only the rows being planned.
    fn note_rows_gone(&self, located: &Located) -> Result<(), StoreError> {
        let mut gone: Vec<String> = Vec::new();
        self.store.for_each_placed_row_key(|key| {
            if !located.contains_key(key) {
                gone.push(key.to_owned());
            }
        })?;
        for key in gone {
            if let Some(record) = self.store.row(&key)? {
                self.ledger().row_gone(&record)?;
            }
        }
        Ok(())
    }

    /// Reads the sheet again after a write-back. Sheets cannot make a write conditional, so a row
    /// that moved in the instant between locating and writing took cells meant for another row:
    /// those are given back (see [`project::undo_misplaced`]). True when anything moved.
    async fn verify_landing(
        &mut self,
        picture: &Picture,
        located: &Located,
        writes: &[CellWrite],
    ) -> Result<bool, PassError> {
        // Where every written row is now, by its values as well as its anchor: a sort may have
        // moved the values and left the anchors where they were. The picture read for it stands
        // for the next one, if nobody edits meanwhile.
        let after = match self.picture().await {
            Ok(after) => after,
            // The tab emptied: project again from a fresh picture.
            Err(PassError::EmptySheet) => return Ok(true),
            Err(error) => return Err(error),
        };
        let quiet = |row| after.is_quiet(row);
        let mut landed = plan::locate(&after.rows, &after.layout, &after.anchors, &quiet, &self.view, self.policy);
        self.kept = Some(after);
        let moved: Vec<&CellWrite> = writes.iter().filter(|w| landed.get(w.key.as_str()) != Some(&w.row)).collect();
        if moved.is_empty() {
            return Ok(false);
        }
        for write in &moved {
            tracing::warn!(
                row_key = %write.key,
                written_row = write.row + 1,
                now_at = ?landed.get(write.key.as_str()).map(|r| r + 1),
                "a row moved while qbsync wrote to it; giving back what landed on another row"
            );
        }
        // Each round looks again, in a fresh consistent picture, for rows still showing what was
        // meant for another row. Restores are addressed by number too, so the next round checks
        // them like the write itself. Any row may be a victim, quiet or not: here every row is
        // decoded, and the quiet rows of the picture written from are restored from the store.
        let mut checks: Vec<LandingCheck> = Vec::new();
        // Every look records what it finds owed before anything else; a stop asked for (or the
        // rounds used up) ends the looking there, and the next pass gives the rest back.
        for round in 0.. {
            let (after, anchors) = self.whole_picture().await?;
            let now = plan::locate(&after, &picture.layout, &anchors, &|_| false, &self.view, self.policy);
            if checks.is_empty() {
                let before = self.as_written_over(picture, located, writes, &after, &now)?;
                checks.push(LandingCheck {
                    writes: writes.to_vec(),
                    before,
                    located: located.clone(),
                    landed: Some(std::mem::take(&mut landed)),
                });
            }
            let mut undo: Vec<CellWrite> = Vec::new();
            for check in &mut checks {
                let landed = check.landed.get_or_insert_with(|| now.clone());
                let misplaced = project::undo_misplaced(
                    &check.writes,
                    &picture.layout,
                    &check.before,
                    &check.located,
                    landed,
                    &after,
                    &now,
                );
                for write in misplaced {
                    if !undo.iter().any(|u| u.row == write.row && u.col == write.col) {
                        undo.push(write);
                    }
                }
            }
            if undo.is_empty() {
                self.owe_restores(&[])?;
                return Ok(true);
            }
            // Recorded before they are written: stopped (or killed) from here on, the next pass
            // still knows which rows show cells that are not theirs.
            self.owe_restores(&project::owed(&undo, &after, &picture.layout))?;
            if !may_restore_again(round, self.stop.requested_at(), self.restore_grace, Instant::now()) {
                break;
            }
            for write in &undo {
                tracing::warn!(
                    sheet_row = write.row + 1,
                    row_key = %write.key,
                    column = write.col + 1,
                    restored = ?write.values.iter().map(|c| c.as_text().into_owned()).collect::<Vec<_>>(),
                    "restoring cells qbsync wrote to this row by mistake"
                );
            }
            self.sheets.write_cells(&cell_runs(&undo)).await?;
            // Restores to anchored rows can be checked exactly next round; one to a row without
            // an anchor cannot (chasing it by its cells does more harm than good), but should it
            // miss, its row still shows the cells that wronged it, and the check of the write
            // that put them there finds it again, wherever it went.
            checks.push(LandingCheck {
                writes: undo.into_iter().filter(|w| !w.key.is_empty()).collect(),
                before: after,
                located: now,
                landed: None,
            });
        }
        if self.stop.requested_at().is_some() {
            tracing::warn!(
                "stopping: cells written to the wrong rows named above are given back by the next pass, before anything else"
            );
        } else {
            tracing::warn!(
                "rows kept moving while qbsync restored cells it had written to the wrong rows: the next pass looks for them again"
            );
        }
        Ok(true)
    }

    /// Records the restores still owed (none: settled), only when that changes what the store
    /// holds: a landing check that finds nothing misplaced costs no write.
    fn owe_restores(&self, owed: &[project::OwedRestore]) -> Result<(), PassError> {
        let json = (!owed.is_empty()).then(|| project::owed_json(owed));
        if self.store.restores_owed()? != json {
            self.store.set_restores_owed(json.as_deref())?;
        }
        Ok(())
    }

    /// Gives back, before anything is planned, the cells an earlier landing check could not:
    /// planned first, a row showing another row's id would be taken for a copy of it. True when
    /// anything was written (the sheet must be read again).
    pub(super) async fn give_back_owed(&mut self, picture: &Picture) -> Result<bool, PassError> {
        let Some(json) = self.store.restores_owed()? else { return Ok(false) };
        let owed: Vec<project::OwedRestore> = serde_json::from_str(&json).unwrap_or_else(|error| {
            tracing::warn!(%error, "restores owed by an earlier pass could not be read; dropped");
            Vec::new()
        });
        let writes = project::give_back(&owed, &picture.rows, &picture.layout);
        for write in &writes {
            tracing::warn!(
                sheet_row = write.row + 1,
                column = write.col + 1,
                "restoring cells an earlier pass wrote to this row by mistake"
            );
        }
        if !writes.is_empty() {
            self.sheets.write_cells(&cell_runs(&writes)).await?;
        }
        // Given back or no longer needed; rows moving under this write are found by its landing
        // check like any other's only when it is the write-back's: this one is a single write,
        // and whatever it misses shows as another row's cells, which the planner never creates
        // anything for.
        self.store.set_restores_owed(None)?;
        Ok(!writes.is_empty())
    }

    /// The sheet as the write-back found it before writing, as far as restoring misplaced cells
    /// needs it: the picture's rows, and for each quiet row that now shows cells of the write
    /// (a possible victim), the cells qbsync may write as the store says they were — exactly
    /// what the row showed, or it would not have been sealed (see [`Self::seal`]).
    fn as_written_over(
        &self,
        picture: &Picture,
        located: &Located,
        writes: &[CellWrite],
        after: &[Vec<Cell>],
        now: &Located,
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let mut before = picture.rows.clone();
        for (key, row_now) in now {
            let Some(&row_then) = located.get(key.as_str()) else { continue };
            let row_then = row_then as usize;
            let shows_a_write = after
                .get(*row_now as usize)
                .is_some_and(|cells| writes.iter().any(|w| project::shows(cells, w.col as usize, &w.values)));
            if !picture.sealing.is_quiet(row_then) || !shows_a_write {
                continue;
            }
            let Some(record) = self.store.row(key)? else { continue };
            let (doc, money) = match &record.doc_key {
                Some(doc_key) => (self.store.document(doc_key)?, self.store.money(doc_key)?),
                None => (None, None),
            };
            if let Some(slot) = before.get_mut(row_then) {
                let money = money.as_ref().map(|m| &m.view);
                *slot = project::owned_row(&record, doc.as_ref(), money, &picture.layout, self.policy);
            }
        }
        Ok(before)
    }
}

/// One write the landing check looks after: the cells, the sheet they were planned from and
/// where its rows were then, and where they were at the first look after the write (taken at the
/// next round's look for a restore). Whether a write went astray is decided at that first look
/// and never again: its row may move back to the number the write was addressed to, which does
/// not make the write land on it.
struct LandingCheck {
    writes: Vec<CellWrite>,
    before: Vec<Vec<Cell>>,
    located: Located,
    landed: Option<Located>,
}

fn cell_runs(writes: &[CellWrite]) -> Vec<CellRun> {
    writes.iter().map(|w| CellRun { row: w.row, col: w.col, values: w.values.clone() }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_landing_check_stops_looking_within_its_grace_once_a_stop_is_asked_for() {
        let now = Instant::now();
        let grace = RESTORE_GRACE_AFTER_STOP;
        assert!(may_restore_again(0, None, grace, now));
        assert!(may_restore_again(RESTORE_ROUNDS - 1, None, grace, now));
        assert!(!may_restore_again(RESTORE_ROUNDS, None, grace, now), "rows moving without end: it gives up");
        assert!(may_restore_again(3, Some(now), grace, now + Duration::from_secs(1)), "asked for a second ago");
        assert!(!may_restore_again(3, Some(now), grace, now + grace), "asked for a grace ago");
        assert!(grace * 4 < Duration::from_secs(180), "well inside systemd's TimeoutStopSec");
    }
}
