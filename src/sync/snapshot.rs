//! Snapshot: the sheet as one consistent picture of values and anchors, read as cheaply as
//! the pass allows.
//!
//! Values and anchors are two requests, and a row inserted, deleted or sorted between them
//! would pair anchors with other rows' cells; so a picture is the values read on both sides
//! of the anchors, and the two reads must agree. What makes that cheap lives here and nowhere
//! else: the idle check that lets a pass end after one read, seals that leave quiet rows
//! undecoded (see [`super::seal`]), the pass's previous picture standing in for a read that
//! comes back unchanged, and the view of the store loaded only as far as the rows planned
//! need it.

use crate::domain::Cell;
use crate::sheets::{AllRows, Anchors, AnswerDigest};
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

/// How many times a picture is tried before the pass gives up for now (rows kept moving).
const TRIES: usize = 3;

impl Pass<'_> {
    /// The idle check: one read, looked at row by row and let go. `None` when the pass has
    /// nothing to do; otherwise the digest of that read, for the picture that follows.
    pub(super) async fn first_look(&mut self) -> Result<Option<AnswerDigest>, PassError> {
        // An idle poll stays cheap however long the history: the store is asked only for
        // pending intents, failed rows and where synced rows were last seen.
        let store = self.store;
        let unsettled =
            StoreView::new(store.rows_with_status(RowStatus::Failed)?, store.pending_documents_for_planning()?);
        let claims_left = !store.rows_with_status(RowStatus::Claimed)?.is_empty();
        let check =
            plan::AttentionCheck::new(&unsettled, self.policy).expecting(store.synced_positions()?, claims_left);
        let mut idle = IdleCheck::new(check, self.policy);
        let first = self.sheets.read_rows(&mut idle).await?;
        if !idle.finish()? {
            return Ok(None);
        }
        self.view = StoreView::unsettled(store)?;
        Ok(Some(first.answer()))
    }

    /// A fresh consistent picture, the view caught up first (seals broken by this pass's
    /// writes no longer count) and then made to hold what planning its rows will look up.
    pub(super) async fn picture(&mut self, first: Option<AnswerDigest>) -> Result<Picture, PassError> {
        self.view.catch_up(self.store)?;
        let known = self.kept.as_ref().map(|kept| kept.anchors.clone());
        let first = match first {
            Some(first) => first,
            None => self.sheets.read_values_digest().await?,
        };
        let picture = self.snapshot(first, known).await?;
        self.prepare_view(&picture)?;
        Ok(picture)
    }

    /// The read after the anchors is the one kept. Usually it is sealed as it arrives, and only
    /// rows that are not quiet are decoded (see [`Developing`]). But when the read before the
    /// anchors found the very values of the pass's previous picture — after claims, which change
    /// anchors and not cells, and at the write-back, when nobody edited meanwhile — that picture
    /// stands for the values, sealed again with the anchors read now, and the read after only
    /// has to show that nothing changed: a digest instead of cutting, sealing and decoding.
    /// `first`: the digest of the read before the anchors; `known`: anchors read earlier in the
    /// pass, handed back when unchanged.
    async fn snapshot(&mut self, mut first: AnswerDigest, mut known: Option<Anchors>) -> Result<Picture, PassError> {
        let sheets = self.sheets;
        for _ in 0..TRIES {
            let anchors = sheets.anchors_like(known.as_ref()).await?;
            // The kept picture stands for the values if they are the ones read before the
            // anchors, and it decoded every row that is not quiet with these anchors.
            let policy = self.policy;
            let seals = &self.view.seals;
            let resealed =
                self.kept.take_if(|kept| kept.index.answer() == first && kept.reseal(anchors.clone(), policy, seals));
            let (picture, answer) = match resealed {
                Some(picture) => (picture, sheets.read_values_digest().await?),
                None => {
                    let mut developing = Developing::new(policy, anchors, seals, self.kept.take());
                    let index = sheets.read_rows(&mut developing).await?;
                    let picture = developing.finish(index)?;
                    let answer = picture.index.answer();
                    (picture, answer)
                }
            };
            if answer == first {
                return Ok(picture);
            }
            // The values changed meanwhile: look again, with this picture's decoded rows at hand
            // for the rows that did not change.
            first = answer;
            known = Some(picture.anchors.clone());
            self.kept = Some(picture);
        }
        Err(PassError::SheetBusy)
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

    /// A fresh consistent picture with every row decoded (rows are moving: nothing is quiet),
    /// for finding cells that landed on the wrong row.
    pub(super) async fn whole_picture(&self) -> Result<(Vec<Vec<Cell>>, Anchors), PassError> {
        let sheets = self.sheets;
        let mut first = sheets.read_values_digest().await?;
        for _ in 0..TRIES {
            let anchors = sheets.anchors_like(None).await?;
            let mut rows = AllRows::default();
            let index = sheets.read_rows(&mut rows).await?;
            if index.answer() == first {
                return Ok((rows.0, anchors));
            }
            first = index.answer();
        }
        Err(PassError::SheetBusy)
    }
}
