//! Snapshot: the sheet as one consistent picture of values and anchors, read as cheaply as
//! the pass allows.
//!
//! A picture is one `spreadsheets.get` that returns the cells and the row metadata together:
//! one request, one moment, so a row inserted, deleted or sorted while qbsync reads can never
//! pair anchors with other rows' cells. What makes reading cheap lives here and nowhere else:
//! the idle check that lets a pass end after one (smaller) values read, and looks only at the
//! rows that changed since the last idle poll (see [`super::picture::IdleMemory`]); seals that
//! leave quiet rows undecoded (see [`super::seal`]); the pass's previous picture lending the
//! rows whose bytes did not change; and the view of the store loaded only as far as the rows
//! planned need it.

use crate::domain::Cell;
use crate::sheets::{AllRows, Anchors, DriveVersion};
use crate::store::{RowStatus, StoreError};

use super::error::PassError;
use super::pass::Pass;
use super::picture::{Developing, IdleCheck, Picture};
use super::plan;
use super::view::StoreView;

/// Above this many rows to plan, the whole store is read at once rather than record by record
/// (a history not sealed yet: the first busy pass after an upgrade, or after the header or the
/// configuration changed).
const WHOLE_VIEW_ABOVE: usize = 2_000;

impl Pass<'_> {
    /// The idle check: one values read, looked at row by row and let go. False when the pass
    /// has nothing to do.
    pub(super) async fn first_look(&mut self) -> Result<bool, PassError> {
        // An idle poll stays cheap however long the history: the store is asked only for
        // pending intents, failed rows, rows in review and where synced rows were last seen.
        let store = self.store;
        // Rows in review are among them: a yes typed into `approved` must end the wait.
        let mut waiting = store.rows_with_status(RowStatus::Failed)?;
        waiting.extend(store.rows_with_status(RowStatus::Review)?);
        let unsettled = StoreView::new(waiting, store.pending_documents_for_planning()?);
        let claims_left = !store.rows_with_status(RowStatus::Claimed)?.is_empty();
        let mut payable = Vec::new();
        for doc_kind in self.policy.autopay.kinds() {
            payable.extend(store.payable_documents(doc_kind, *self.retry_held_payouts)?);
        }
        let check = plan::AttentionCheck::new(&unsettled, self.policy)
            .expecting(store.synced_positions()?, claims_left)
            .paying(payable, store.has_pending_payouts()?);
        let mut idle = IdleCheck::new(check, self.policy, self.idle_memory);
        self.sheets.read_rows(&mut idle).await?;
        self.note_money_columns(idle.shows_money());
        // Money QuickBooks reported since the last write-back shows on synced rows, which the
        // check of the sheet alone would find settled.
        // Cells an earlier landing check could not give back are given back first thing.
        if !idle.finish()? && !store.has_unshown_money()? && store.restores_owed()?.is_none() {
            return Ok(false);
        }
        self.view = StoreView::unsettled(store)?;
        Ok(true)
    }

    /// A fresh consistent picture, the view caught up first (seals broken by this pass's
    /// writes no longer count) and then made to hold what planning its rows will look up.
    ///
    /// Values and row metadata come in one read ([`SheetsClient::read_rows_with_anchors`]), so
    /// a picture is consistent by construction, however busy the person editing: nothing waits
    /// for the sheet to be quiet. The read is sealed as it arrives, and only rows that are not
    /// quiet are decoded — or taken from the pass's previous picture when their bytes and place
    /// are the same (see [`Developing`]).
    ///
    /// [`SheetsClient::read_rows_with_anchors`]: crate::sheets::SheetsClient::read_rows_with_anchors
    pub(super) async fn picture(&mut self) -> Result<Picture, PassError> {
        self.view.catch_up(self.store)?;
        let version = self.version_now().await;
        let mut developing = Developing::new(self.policy, Anchors::default(), &self.view.seals, self.kept.take());
        let read = self.sheets.read_rows_with_anchors(&mut developing).await?;
        let mut picture = developing.finish(read.index)?;
        picture.version = version;
        self.prepare_view(&picture)?;
        Ok(picture)
    }

    /// The pass's last picture when nothing can have changed since it was read, else a fresh
    /// one. "Nothing" means both: Drive's version is still the one read just before the picture
    /// (Drive moves it with every change to the file), and no row record written since belongs
    /// to a row the picture left quiet (its seal, which vouched for it, is gone). A write-back
    /// after a pass that only talked to QuickBooks then costs one Drive call instead of a Sheets
    /// read of the whole tab.
    pub(super) async fn current_picture(&mut self) -> Result<Picture, PassError> {
        if let Some(kept) = self.kept.take() {
            if kept.version.is_some() && self.version_now().await == kept.version {
                let written = self.view.catch_up(self.store)?;
                let quiet_written =
                    kept.anchors.iter().any(|a| kept.is_quiet(a.row as usize) && written.contains(&a.key));
                if !quiet_written {
                    self.prepare_view(&kept)?;
                    return Ok(kept);
                }
            }
            self.kept = Some(kept);
        }
        self.picture().await
    }

    /// The file's Drive version now, when Drive gives one that counts every change (see
    /// [`DriveVersion::counts_every_change`]). Drive trouble only costs the shortcut: the pass
    /// reads the sheet as it would without Drive, and does not ask again.
    async fn version_now(&self) -> Option<DriveVersion> {
        if !self.drive_versions.worth_asking() {
            return None;
        }
        match self.sheets.drive_version().await {
            Ok(version) if version.counts_every_change() => Some(version),
            Ok(_) => {
                self.drive_versions.refused();
                None
            }
            Err(error) => {
                tracing::debug!(%error, "no Drive version; the write-back reads the sheet");
                self.drive_versions.refused();
                None
            }
        }
    }

    /// Makes sure the view holds what planning the picture's rows that are not quiet will
    /// look up (the whole store, when that is most of it).
    fn prepare_view(&mut self, picture: &Picture) -> Result<(), StoreError> {
        let wanted = plan::wanted(&picture.rows, &picture.layout, &picture.anchors, &picture.sealing, self.policy);
        if !self.view.is_whole() && wanted.rows.len() > WHOLE_VIEW_ABOVE {
            self.view = StoreView::load(self.store)?;
        }
        self.view.include(self.store, &wanted)
    }

    /// A fresh picture with every row decoded (rows are moving: nothing is quiet), for finding
    /// cells that landed on the wrong row.
    pub(super) async fn whole_picture(&self) -> Result<(Vec<Vec<Cell>>, Anchors), PassError> {
        let mut rows = AllRows::default();
        let read = self.sheets.read_rows_with_anchors(&mut rows).await?;
        Ok((rows.0, read.anchors))
    }
}
