//! One pass, with side effects: the only place in the sync that performs I/O.
//!
//! The order of steps is the exactly-once argument:
//!
//! 1. A row is written to only after an anchor has been claimed for it *and verified* (the
//!    claim's record, with the row's content fingerprint, is in the store before the anchor is
//!    created, so an anchor that lands on the wrong row is recognised and dropped).
//! 2. The intent — row keys, payload, payload hash and a `requestid` — is committed before the
//!    first send, and every later send of that document reuses the `requestid`.
//! 3. A send whose outcome is unknown leaves the intent pending. Before anything is sent for a
//!    pending intent again, QuickBooks is searched by document number and a document carrying
//!    the intent's marker (or the same party and total) is adopted.
//! 4. The sheet is written last, as a projection of the store; a crash before it only delays it.
//!    Rows are located in one consistent picture of values and anchors (the values are read on
//!    both sides of the anchors), and the anchors are read again after writing: cells that
//!    landed on a row that moved in between are given back (see [`project::undo_misplaced`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rand::Rng;
use sha2::{Digest, Sha256};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::domain::Cell;
use crate::domain::layout::{Field, Layout, LayoutError};
use crate::qbo::{
    Doc, DocKind, ExpenseLine, NewBill, NewDoc, NewInvoice, PartyKind, QboClient, QboError, RequestId, SalesLine,
};
use crate::sheets::{AllRows, Anchors, AnswerDigest, CellRun, NewAnchor, SheetsClient, SheetsError};
use crate::store::{DocRecord, DocState, Kind, NewAudit, NewIntent, RowRecord, Store, StoreError};

use super::draft::{DocDraft, note_has_marker, note_with_marker};
use super::picture::{Developing, IdleCheck, Picture};
use super::plan::{self, Anchor, Located, Plan, StoreView};
use super::policy::Policy;
use super::project::{self, CellWrite};
use super::seal::Seal;
use super::view::FastSet;

/// How many times qbsync looks again for cells it wrote to rows that moved, before it gives up
/// and asks a person to check (each look is a fresh picture of the sheet; rows must keep moving
/// for every one of them to miss).
const RESTORE_ROUNDS: usize = 20;

/// Most documents per QuickBooks batch request (Intuit's limit).
const BATCH_SIZE: usize = 30;

/// Batches sent but not yet answered. QuickBooks admits a batch about every 1.5 s (40 a
/// minute); four in flight keep that pace even when a batch takes several seconds to answer or
/// the engine is busy writing back, and leave six of the ten concurrent slots to look-ups. More
/// would only queue in the pacer, as intents whose send is still to come.
const BATCHES_IN_FLIGHT: usize = 4;

/// How often a pass that is still creating brings the sheet up to date, so a backlog of
/// thousands of rows shows its ids as it goes rather than at the end. A round costs three
/// Sheets reads and one write: every 5 s that is 36 of the 60 reads a minute at most.
pub const WRITE_BACK_EVERY: Duration = Duration::from_secs(5);

/// Why a pass stopped early. No row is ever marked failed for any of these.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("Google Sheets: {0}")]
    Sheets(#[from] SheetsError),
    #[error("QuickBooks: {0}")]
    Qbo(QboError),
    #[error("QuickBooks needs to be re-connected: run `qbsync auth` ({0})")]
    NeedsReconnect(String),
    #[error("the header row of the tab does not fit the configuration: {0}")]
    Layout(#[from] LayoutError),
    #[error("the tab is empty: it needs a header row (see README, 'The sheet')")]
    EmptySheet,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("configuration: {0}")]
    Config(String),
    /// Rows kept moving while qbsync read the sheet and its anchors: no consistent picture.
    #[error("the sheet kept changing while qbsync read it (rows inserted, deleted or sorted); it will try again")]
    SheetBusy,
}

impl PassError {
    /// True when trying again later may help without a person doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PassError::Sheets(SheetsError::Unavailable { .. })
                | PassError::Qbo(QboError::Transient { .. } | QboError::Uncertain { .. })
                | PassError::SheetBusy
        )
    }
}

fn qbo_error(error: QboError) -> PassError {
    match error {
        QboError::NeedsReconnect { reason } => PassError::NeedsReconnect(reason),
        other => PassError::Qbo(other),
    }
}

/// Options of one pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassOptions {
    /// Plan and print; change nothing anywhere.
    pub dry_run: bool,
}

/// One created (or adopted) document, for the report and the log.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedDoc {
    pub kind: Kind,
    pub doc_number: String,
    pub qbo_id: String,
    pub url: String,
    pub sheet_rows: Vec<u32>,
    pub adopted: bool,
}

/// What a dry run would send and write.
#[derive(Clone, Debug, PartialEq)]
pub struct DryRunDoc {
    pub kind: Kind,
    pub doc_number: String,
    pub sheet_rows: Vec<u32>,
    pub payload: Option<serde_json::Value>,
    pub problem: Option<String>,
}

/// What a pass did.
#[derive(Clone, Debug, Default)]
pub struct PassReport {
    /// Nothing was ready: the pass cost one read.
    pub idle: bool,
    pub created: Vec<CreatedDoc>,
    pub failed: usize,
    pub skipped: usize,
    pub copies: usize,
    /// Documents whose outcome is still unknown (they are settled next pass).
    pub uncertain: usize,
    pub cells_written: usize,
    pub mismatches: usize,
    /// Rows recognised by their seal when the pass planned: not decoded, planned or projected
    /// (see [`super::seal`]).
    pub quiet: usize,
    pub deferred_by_limit: usize,
    pub dry_run: Vec<DryRunDoc>,
    pub dry_run_writes: Vec<(u32, String)>,
}

/// What a pass reports as it goes, for a progress bar (`run-once` over a backlog).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// This many documents are about to be created.
    Planned(usize),
    /// One document was created (or adopted).
    Created,
    /// One document was refused by QuickBooks or could not be built.
    Failed,
    /// Creating is over for this pass.
    Finished,
}

/// A progress observer; it must be cheap, it is called from the pass.
pub type ProgressObserver = std::sync::Arc<dyn Fn(Progress) + Send + Sync>;

/// The sync engine: the clients, the store and a source of row keys.
pub struct Engine {
    pub sheets: SheetsClient,
    pub qbo: QboClient,
    pub store: Store,
    /// Batches creates (issue 6); off sends one create per document.
    pub batching: bool,
    /// How often a pass that is still creating writes back what it has created so far.
    pub write_back_every: Duration,
    /// Told about progress while documents are created (`run-once` hangs a progress bar here).
    pub progress: Option<ProgressObserver>,
    /// The store as the pass sees it: loaded when a pass finds work (as far as the rows it
    /// plans need, see [`StoreView`]), caught up after each step that writes (see
    /// [`StoreView::catch_up`]), let go when the pass ends.
    view: StoreView,
    /// The sheet as the pass last saw it, let go when the pass ends: a later read that comes
    /// back byte for byte the same (nobody edited meanwhile) is not indexed or decoded again.
    kept: Option<Picture>,
}

/// Above this many rows to plan, the whole store is read at once rather than record by record
/// (a history not sealed yet: the first busy pass after an upgrade, or after the header or the
/// configuration changed).
const WHOLE_VIEW_ABOVE: usize = 2_000;

/// QuickBooks' answer to a batch: each item's outcome by `bId`, or the request's own failure.
type BatchOutcome = Result<Vec<(String, Result<Doc, QboError>)>, QboError>;
/// What a batch task hands back: the documents it carried and QuickBooks' answer.
type BatchAnswer = (Vec<DocRecord>, BatchOutcome);
/// A batch ready to send: its items (`bId`, kind, body) and its `requestid`.
type BatchRequest = (Vec<(String, DocKind, String)>, RequestId);

impl Engine {
    pub fn new(sheets: SheetsClient, qbo: QboClient, store: Store) -> Engine {
        Engine {
            sheets,
            qbo,
            store,
            batching: true,
            write_back_every: WRITE_BACK_EVERY,
            progress: None,
            view: StoreView::default(),
            kept: None,
        }
    }

    fn progress(&self, event: Progress) {
        if let Some(observer) = &self.progress {
            observer(event);
        }
    }

    /// Runs one pass and records it (not a dry run's) in the store.
    pub async fn pass(&mut self, policy: &Policy, options: PassOptions) -> Result<PassReport, PassError> {
        let started_at = crate::store::now();
        let outcome = self.pass_inner(policy, options).await;
        // On a long history the picture of the store is tens of megabytes: not kept between
        // passes, so an idle daemon stays small.
        self.view = StoreView::default();
        self.kept = None;
        if !options.dry_run {
            let record = crate::store::PassRecord {
                started_at,
                finished_at: crate::store::now(),
                ok: outcome.is_ok(),
                created: outcome.as_ref().map_or(0, |r| r.created.len() as u64),
                failed: outcome.as_ref().map_or(0, |r| r.failed as u64),
                skipped: outcome.as_ref().map_or(0, |r| r.skipped as u64),
                error: outcome.as_ref().err().map(|e| e.to_string()),
            };
            if let Err(error) = self.store.record_pass(&record) {
                tracing::warn!(%error, "the pass could not be recorded");
            }
        }
        outcome
    }

    async fn pass_inner(&mut self, policy: &Policy, options: PassOptions) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        // An idle poll stays cheap however long the history: the rows are looked at as they are
        // read and let go, and the store is asked only for pending intents and failed rows.
        let unsettled =
            StoreView::new(self.store.rows_with_status("failed")?, self.store.pending_documents_for_planning()?);
        let claims_left = !self.store.rows_with_status(plan::CLAIMED)?.is_empty();
        let check =
            plan::AttentionCheck::new(&unsettled, policy).expecting(self.store.synced_positions()?, claims_left);
        let mut idle = IdleCheck::new(check, policy);
        let first = self.sheets.read_rows(&mut idle).await?;
        if !idle.finish()? {
            report.idle = true;
            return Ok(report);
        }
        self.view = StoreView::unsettled(&self.store)?;
        let mut picture = self.snapshot(first.answer(), None, policy).await?;
        self.prepare_view(&picture, policy)?;
        let mut plan = plan::plan(&picture.rows, &picture.layout, &picture.anchors, &self.view, policy, &mut new_key);

        if options.dry_run {
            let view = std::mem::take(&mut self.view);
            return self.dry_run(plan, &picture.rows, &picture.layout, &view, policy, report).await;
        }

        if !plan.claims.is_empty() || !plan.drop_anchors.is_empty() || !plan.forget_rows.is_empty() {
            self.settle_anchors(&plan).await?;
            // Claims change anchors, not cells: usually the sheet reads as before and the rows
            // already decoded are taken from this picture rather than decoded again.
            self.kept = Some(picture);
            picture = self.picture(policy).await?;
            plan = plan::plan(&picture.rows, &picture.layout, &picture.anchors, &self.view, policy, &mut new_key);
            // Claims still wanted now (rows added meanwhile, a claim that landed elsewhere)
            // wait for the next pass; drops are safe to do now.
            if !plan.drop_anchors.is_empty() || !plan.forget_rows.is_empty() {
                let drops = Plan {
                    drop_anchors: plan.drop_anchors.clone(),
                    forget_rows: plan.forget_rows.clone(),
                    ..Plan::default()
                };
                self.settle_anchors(&drops).await?;
            }
        }

        report.quiet = picture.sealing.quiet_rows();
        report.skipped = plan.stats.skipped;
        report.copies = plan.stats.copies;
        report.deferred_by_limit = plan.stats.deferred_by_limit;
        for decision in &plan.decisions {
            // The audit names the invoice number the row showed, so a failure can be found by
            // the number the bookkeeper knows it by.
            let number = decision
                .sheet_row
                .and_then(|row| picture.rows.get(usize::try_from(row - 1).ok()?))
                .map(|row| picture.layout.cell(row, Field::Invoice).trimmed().into_owned())
                .filter(|number| !number.is_empty());
            self.remember_decision(decision, number.as_deref())?;
            if decision.status == "failed" {
                report.failed += 1;
            }
        }

        // The write-back reads the sheet again; usually nobody has edited it meanwhile, and the
        // rows indexed and decoded here stand for that read too.
        self.kept = Some(picture);

        for doc_key in &plan.reconcile {
            self.reconcile(doc_key, &mut report).await?;
        }

        let ready = self.resolve_parties(&plan.creates, policy, &mut report).await?;
        self.progress(Progress::Planned(ready.len()));
        let created = self.create_all(ready, policy, &mut report).await;
        self.progress(Progress::Finished);
        created?;

        self.write_back(policy, &mut report).await?;
        Ok(report)
    }

    /// The sheet's values and its anchors, as one consistent picture. They are two requests,
    /// and a row inserted, deleted or sorted between them would pair anchors with other rows'
    /// cells; so the values are read on both sides of the anchors (`first`: the digest of the
    /// read before) and must not have changed. `known`: anchors read earlier in the pass, handed
    /// back when unchanged.
    ///
    /// The read after the anchors is the one kept. Usually it is sealed as it arrives, and only
    /// rows that are not quiet are decoded (see [`Developing`]). But when the read before the
    /// anchors found the very values of the pass's previous picture — after claims, which change
    /// anchors and not cells, and at the write-back, when nobody edited meanwhile — that picture
    /// stands for the values, sealed again with the anchors read now, and the read after only
    /// has to show that nothing changed: a digest instead of cutting, sealing and decoding.
    async fn snapshot(
        &mut self,
        mut first: AnswerDigest,
        mut known: Option<Anchors>,
        policy: &Policy,
    ) -> Result<Picture, PassError> {
        for _ in 0..3 {
            let anchors = self.sheets.anchors_like(known.as_ref()).await?;
            // The kept picture stands for the values if they are the ones read before the
            // anchors, and it decoded every row that is not quiet with these anchors.
            let resealed = self
                .kept
                .take_if(|kept| kept.index.answer() == first && kept.reseal(anchors.clone(), policy, &self.view.seals));
            let (picture, answer) = match resealed {
                Some(picture) => (picture, self.sheets.read_values_digest().await?),
                None => {
                    let mut developing = Developing::new(policy, anchors, &self.view.seals, self.kept.take());
                    let index = self.sheets.read_rows(&mut developing).await?;
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

    /// A fresh consistent picture ([`Self::snapshot`]) with the view caught up first, so that
    /// seals broken by this pass's writes no longer count; then the view is made to hold what
    /// planning its rows will look up.
    async fn picture(&mut self, policy: &Policy) -> Result<Picture, PassError> {
        self.view.catch_up(&self.store)?;
        let known = self.kept.as_ref().map(|kept| kept.anchors.clone());
        let first = self.sheets.read_values_digest().await?;
        let picture = self.snapshot(first, known, policy).await?;
        self.prepare_view(&picture, policy)?;
        Ok(picture)
    }

    /// Makes sure the view holds what planning the picture's rows that are not quiet will
    /// look up (the whole store, when that is most of it).
    fn prepare_view(&mut self, picture: &Picture, policy: &Policy) -> Result<(), StoreError> {
        let wanted = plan::wanted(&picture.rows, &picture.layout, &picture.anchors, &picture.sealing, policy);
        if !self.view.is_whole() && wanted.rows.len() > WHOLE_VIEW_ABOVE {
            self.view = StoreView::load(&self.store)?;
        }
        self.view.include(&self.store, &wanted)
    }

    /// A fresh consistent picture with every row decoded (rows are moving: nothing is quiet).
    async fn whole_picture(&self) -> Result<(Vec<Vec<Cell>>, Anchors), PassError> {
        let mut first = self.sheets.read_values_digest().await?;
        for _ in 0..3 {
            let anchors = self.sheets.anchors_like(None).await?;
            let mut rows = AllRows::default();
            let index = self.sheets.read_rows(&mut rows).await?;
            if index.answer() == first {
                return Ok((rows.0, anchors));
            }
            first = index.answer();
        }
        Err(PassError::SheetBusy)
    }

    /// Claims and drops anchors. Claim records go to the store first and are forgotten last, so
    /// an anchor never exists without the record that verifies it.
    async fn settle_anchors(&mut self, plan: &Plan) -> Result<(), PassError> {
        for claim in &plan.claims {
            self.store.put_row(&claim.record)?;
        }
        let create: Vec<NewAnchor> = plan.claims.iter().map(|c| NewAnchor { row: c.row, key: c.key.clone() }).collect();
        self.sheets.update_anchors(&create, &plan.drop_anchors).await?;
        // Records are forgotten only once their anchors are gone: the other way round, a crash
        // in between would leave an anchor on a wrong row with no record to unmask it.
        for key in &plan.forget_rows {
            self.store.forget_row(key)?;
        }
        Ok(())
    }

    /// Saves a row decision and audits it (with the document number when the caller knows it).
    fn remember_decision(&self, decision: &RowRecord, doc_number: Option<&str>) -> Result<(), StoreError> {
        let mut record = decision.clone();
        record.synced_at = Some(now_seconds());
        let tx = self.store.begin()?;
        self.store.put_row(&record)?;
        self.store.audit_append(
            record.kind,
            &NewAudit {
                event: &record.status,
                row_key: Some(&record.row_key),
                sheet_row: record.sheet_row,
                doc_number,
                status: &record.status,
                error: record.error.as_deref(),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        match record.status.as_str() {
            "failed" => {
                tracing::warn!(row_key = %record.row_key, sheet_row = ?record.sheet_row, error = ?record.error, "row failed")
            }
            status => {
                tracing::info!(row_key = %record.row_key, sheet_row = ?record.sheet_row, %status, reason = ?record.error, "row not sent")
            }
        }
        Ok(())
    }

    /// Settles a pending intent: adopt what QuickBooks already has, or send it (again) with the
    /// same `requestid`.
    async fn reconcile(&mut self, doc_key: &str, report: &mut PassReport) -> Result<(), PassError> {
        let Some(doc) = self.store.document(doc_key)? else { return Ok(()) };
        if doc.state != DocState::Pending {
            return Ok(());
        }
        let kind = doc_kind(doc.kind);
        // Sent before, outcome unknown: whatever QuickBooks holds under this number decides.
        if let (true, Some(number)) = (doc.attempts > 0, &doc.doc_number) {
            let found = self.qbo.find_by_doc_number(kind, number).await.map_err(qbo_error)?;
            if let Some(existing) = found.iter().find(|d| is_ours(d, &doc)) {
                return self.adopt(&doc, existing, true, report);
            }
            if let Some(other) = found.first() {
                let message = format!(
                    "invoice number {number} already exists in QuickBooks ({} {}) for a different {} or amount: give this row its own number",
                    kind.entity(),
                    other.id,
                    if doc.kind == Kind::Invoice { "customer" } else { "vendor" }
                );
                return self.fail_document(&doc, &message, None, report);
            }
        }
        self.send_one(&doc, report).await
    }

    /// Finds (or creates, when allowed) the customer or vendor of every draft. Drafts whose
    /// party cannot be had fail their rows; the rest come back with the party's id.
    async fn resolve_parties(
        &mut self,
        drafts: &[DocDraft],
        policy: &Policy,
        report: &mut PassReport,
    ) -> Result<Vec<(DocDraft, String)>, PassError> {
        let mut ids: HashMap<(Kind, String), Result<String, String>> = HashMap::new();
        for kind in [Kind::Invoice, Kind::Bill] {
            let names: Vec<String> = {
                let mut names: Vec<String> =
                    drafts.iter().filter(|d| d.kind == kind).map(|d| d.party.clone()).collect();
                names.sort();
                names.dedup();
                names
            };
            if names.is_empty() {
                continue;
            }
            let resolved =
                super::names::resolve(&self.qbo, &self.store, party_kind(kind), &names, policy.create_missing_names)
                    .await
                    .map_err(qbo_error)?;
            for (name, outcome) in resolved {
                ids.insert((kind, name), outcome);
            }
        }
        let mut ready = Vec::new();
        for draft in drafts {
            match ids.get(&(draft.kind, draft.party.clone())) {
                Some(Ok(id)) => ready.push((draft.clone(), id.clone())),
                Some(Err(reason)) => self.fail_rows(draft, reason, policy, report)?,
                None => self.fail_rows(
                    draft,
                    "qbsync could not look this name up in QuickBooks; it will try again",
                    policy,
                    report,
                )?,
            }
        }
        Ok(ready)
    }

    /// Records intents and sends them. Several documents go in batches of up to 30, each
    /// batch's intents committed just before it leaves, with up to [`BATCHES_IN_FLIGHT`]
    /// batches out at once so that QuickBooks' pacing, not the engine, sets the pace. While a
    /// long backlog is being created, the sheet is brought up to date every
    /// `write_back_every`. If something stops the pass, the batches already out are still
    /// settled before it returns, so none of their answers is thrown away.
    async fn create_all(
        &mut self,
        ready: Vec<(DocDraft, String)>,
        policy: &Policy,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        if !self.batching || ready.len() < 2 {
            let mut pending: Vec<DocRecord> = Vec::new();
            for (draft, party_id) in ready {
                let doc = self.record_intent(&draft, &build(&draft, &party_id, policy), &party_id, policy)?;
                if never_sent(&doc) {
                    pending.push(doc);
                } else if sent_unsettled(&doc) {
                    report.uncertain += 1;
                }
            }
            for doc in &pending {
                self.send_one(doc, report).await?;
            }
            return Ok(());
        }

        let mut drafts = ready.into_iter().peekable();
        let mut in_flight: JoinSet<BatchAnswer> = JoinSet::new();
        let mut sizes: HashMap<tokio::task::Id, usize> = HashMap::new();
        let mut stopped: Option<PassError> = None;
        let mut last_write_back = Instant::now();
        let mut unwritten = false;
        loop {
            while stopped.is_none() && in_flight.len() < BATCHES_IN_FLIGHT && drafts.peek().is_some() {
                match self.launch_batch(&mut drafts, policy, &mut in_flight, &mut report.uncertain) {
                    Ok(Some((id, size))) => {
                        sizes.insert(id, size);
                    }
                    Ok(None) => {}
                    Err(error) => stopped = Some(error),
                }
            }
            let Some(joined) = in_flight.join_next_with_id().await else { break };
            match joined {
                Ok((id, (chunk, answer))) => {
                    sizes.remove(&id);
                    match self.settle_batch(&chunk, answer, report).await {
                        Ok(()) => unwritten = true,
                        Err(error) => {
                            stopped.get_or_insert(error);
                        }
                    }
                }
                Err(error) => {
                    // The task died without an answer (a bug, or the runtime shutting down):
                    // its documents stay pending and are looked up before anything is resent.
                    report.uncertain += sizes.remove(&error.id()).unwrap_or(0);
                    tracing::error!(%error, "a QuickBooks batch ended without an answer; its documents are checked next pass");
                }
            }
            let more_to_come = !in_flight.is_empty() || drafts.peek().is_some();
            if stopped.is_none() && unwritten && more_to_come && last_write_back.elapsed() >= self.write_back_every {
                match self.write_back(policy, report).await {
                    // The documents are recorded; the sheet catches up at the end of the pass.
                    Err(PassError::Sheets(error)) => {
                        tracing::warn!(%error, "could not write back yet; carrying on creating")
                    }
                    Err(error) => stopped = Some(error),
                    Ok(()) => {}
                }
                last_write_back = Instant::now();
                unwritten = false;
            }
        }
        stopped.map_or(Ok(()), Err)
    }

    /// Records the intents of the next batch (up to [`BATCH_SIZE`] pending documents) and
    /// sends it on its own task. Returns the task and how many documents it carries, or
    /// `None` when the drafts left held nothing to send.
    fn launch_batch(
        &mut self,
        drafts: &mut impl Iterator<Item = (DocDraft, String)>,
        policy: &Policy,
        in_flight: &mut JoinSet<BatchAnswer>,
        uncertain: &mut usize,
    ) -> Result<Option<(tokio::task::Id, usize)>, PassError> {
        let mut chunk: Vec<DocRecord> = Vec::with_capacity(BATCH_SIZE);
        for (draft, party_id) in drafts.by_ref() {
            let doc = self.record_intent(&draft, &build(&draft, &party_id, policy), &party_id, policy)?;
            if never_sent(&doc) {
                chunk.push(doc);
            } else if sent_unsettled(&doc) {
                *uncertain += 1;
            }
            if chunk.len() == BATCH_SIZE {
                break;
            }
        }
        if chunk.is_empty() {
            return Ok(None);
        }
        let (items, batch_id) = batch_request(&chunk)?;
        for doc in &chunk {
            self.store.count_attempt(&doc.doc_key)?;
        }
        let size = chunk.len();
        let qbo = self.qbo.clone();
        let task = in_flight.spawn(async move {
            let answer = qbo.create_batch_bodies(&items, &batch_id).await;
            (chunk, answer)
        });
        Ok(Some((task.id(), size)))
    }

    fn record_intent(
        &self,
        draft: &DocDraft,
        payload: &NewDoc,
        party_id: &str,
        policy: &Policy,
    ) -> Result<DocRecord, StoreError> {
        // A failed earlier attempt for the same rows is retired: the corrected document is a new
        // intent with a new requestid (a replayed requestid would replay the old refusal).
        if self.store.document(&draft.doc_key)?.is_some_and(|old| old.state == DocState::Failed) {
            self.store.retire_failed(&draft.doc_key)?;
        }
        let body =
            payload.to_body().map_err(|e| StoreError::Sql(rusqlite::Error::ToSqlConversionFailure(Box::new(e))))?;
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        let request_id = format!("{}-{}", draft.doc_key, &hash[..8]);
        let row_keys: Vec<String> = draft.rows.iter().map(|r| r.key.clone()).collect();
        let total = draft.total().to_string();
        // The intent, its rows' pending state and the audit line land together or not at all.
        let tx = self.store.begin()?;
        if let Some(earlier) = self.store.document(&draft.doc_key)? {
            return Ok(earlier); // recorded by an earlier pass, rows and all
        }
        let doc = self.store.record_intent(&NewIntent {
            doc_key: &draft.doc_key,
            kind: draft.kind,
            doc_number: Some(&draft.doc_number),
            request_id: &request_id,
            payload_hash: &hash,
            payload: &body,
            party_id,
            total: &total,
            row_keys: &row_keys,
        })?;
        for row in &draft.rows {
            self.store.put_row(&RowRecord {
                row_key: row.key.clone(),
                kind: draft.kind,
                doc_key: Some(draft.doc_key.clone()),
                doc_number: Some(draft.doc_number.clone()),
                status: "pending".into(),
                error: None,
                content_fp: row.content_fp.clone(),
                config_fp: policy.config_fp.clone(),
                sheet_row: Some(row.index as i64 + 1),
                synced_at: None,
            })?;
        }
        self.store.audit_append(
            draft.kind,
            &NewAudit {
                event: "intent",
                row_key: Some(&draft.doc_key),
                sheet_row: Some(draft.rows[0].index as i64 + 1),
                doc_number: Some(&draft.doc_number),
                status: "pending",
                request_id: Some(&doc.request_id),
                request_json: Some(&body),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        Ok(doc)
    }

    /// Sends a pending document: always the exact body recorded with the intent, always its
    /// `requestid`, so a resend is byte-for-byte the first send.
    async fn send_one(&mut self, doc: &DocRecord, report: &mut PassReport) -> Result<(), PassError> {
        let request_id = RequestId::parse(&doc.request_id)
            .map_err(|e| PassError::Qbo(QboError::Protocol { reason: e.to_string() }))?;
        self.store.count_attempt(&doc.doc_key)?;
        let outcome = self.qbo.create_body(doc_kind(doc.kind), &doc.payload, &request_id).await;
        self.settle_outcome(doc, outcome, report).await
    }

    /// Settles the documents of one batch from QuickBooks' answer, each by its own `bId`.
    async fn settle_batch(
        &mut self,
        chunk: &[DocRecord],
        answer: BatchOutcome,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let answers = match answer {
            Ok(answers) => answers,
            Err(error) => {
                // The whole batch's fate is unknown or refused as a whole: every document stays
                // pending and is reconciled one by one next pass.
                for doc in chunk {
                    self.audit_attempt(doc, "uncertain", None, Some(&error.to_string()))?;
                }
                report.uncertain += chunk.len();
                return match error {
                    QboError::Uncertain { .. } | QboError::Transient { .. } | QboError::Protocol { .. } => Ok(()),
                    other => Err(qbo_error(other)),
                };
            }
        };
        let mut by_bid: BTreeMap<String, Result<Doc, QboError>> = answers.into_iter().collect();
        for (i, doc) in chunk.iter().enumerate() {
            let outcome = by_bid.remove(&format!("b{i}")).unwrap_or_else(|| {
                Err(QboError::Uncertain { reason: "the batch answer did not mention this document".into() })
            });
            self.settle_outcome(doc, outcome, report).await?;
        }
        Ok(())
    }

    async fn settle_outcome(
        &mut self,
        doc: &DocRecord,
        outcome: Result<Doc, QboError>,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        match outcome {
            Ok(created) => self.adopt(doc, &created, false, report),
            Err(QboError::DuplicateDocNumber { txn_id, txn_type, .. }) => {
                let existing = if txn_type.eq_ignore_ascii_case(doc_kind(doc.kind).entity()) {
                    match self.qbo.read(doc_kind(doc.kind), &txn_id, false).await {
                        Ok(found) => Some(found),
                        Err(QboError::Rejected { .. }) => None,
                        // Not knowing whose document it is, is not the row's fault: the intent
                        // stays pending and the next pass looks the number up again.
                        Err(error) => {
                            report.uncertain += 1;
                            self.audit_attempt(doc, "uncertain", None, Some(&error.to_string()))?;
                            return Ok(());
                        }
                    }
                } else {
                    None
                };
                match existing {
                    Some(existing)
                        if is_ours(&existing, doc)
                            && self.store.document_by_qbo_id(doc.kind, &existing.id)?.is_none() =>
                    {
                        self.adopt(doc, &existing, true, report)
                    }
                    _ => {
                        let message = format!(
                            "invoice number {} is already used in QuickBooks by {txn_type} {txn_id}, which is not this row's document: give this row its own number",
                            doc.doc_number.as_deref().unwrap_or_default()
                        );
                        self.fail_document(doc, &message, None, report)
                    }
                }
            }
            Err(QboError::Rejected { faults }) => {
                let error = QboError::Rejected { faults };
                let message = error.for_bookkeeper();
                let response = format!("{error:?}");
                self.fail_document(doc, &message, Some(&response), report)
            }
            Err(error @ (QboError::Uncertain { .. } | QboError::Protocol { .. })) => {
                report.uncertain += 1;
                tracing::warn!(doc_number = ?doc.doc_number, request_id = %doc.request_id, %error, "create outcome unknown; will look it up before sending again");
                self.audit_attempt(doc, "uncertain", None, Some(&error.to_string()))?;
                Ok(())
            }
            Err(error @ QboError::Transient { .. }) => {
                report.uncertain += 1;
                self.audit_attempt(doc, "retry-later", None, Some(&error.to_string()))?;
                Err(PassError::Qbo(error))
            }
            Err(other) => Err(qbo_error(other)),
        }
    }

    fn audit_attempt(
        &self,
        doc: &DocRecord,
        event: &str,
        response: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.store.audit_append(
            doc.kind,
            &NewAudit {
                event,
                row_key: Some(&doc.doc_key),
                doc_number: doc.doc_number.as_deref(),
                status: "pending",
                request_id: Some(&doc.request_id),
                response_json: response,
                error,
                ..Default::default()
            },
        )
    }

    fn adopt(&self, doc: &DocRecord, created: &Doc, adopted: bool, report: &mut PassReport) -> Result<(), PassError> {
        self.progress(Progress::Created);
        let url = self.qbo.doc_url(doc_kind(doc.kind), &created.id);
        // Created, rows synced and the audit line in one transaction: a crash in between would
        // leave a created document whose rows still say pending, never to be written back.
        let tx = self.store.begin()?;
        self.store.mark_created(&doc.doc_key, &created.id, &url)?;
        let at = now_seconds();
        let mut rows = Vec::new();
        for key in &doc.row_keys {
            let previous = self.store.row(key)?;
            let sheet_row = previous.as_ref().and_then(|r| r.sheet_row);
            if let Some(row) = sheet_row {
                rows.push(row as u32);
            }
            self.store.put_row(&RowRecord {
                row_key: key.clone(),
                kind: doc.kind,
                doc_key: Some(doc.doc_key.clone()),
                doc_number: doc.doc_number.clone(),
                status: "synced".into(),
                error: None,
                content_fp: previous.as_ref().map(|r| r.content_fp.clone()).unwrap_or_default(),
                config_fp: previous.as_ref().map(|r| r.config_fp.clone()).unwrap_or_default(),
                sheet_row,
                synced_at: Some(at.clone()),
            })?;
        }
        let response = created.raw.to_string();
        self.store.audit_append(
            doc.kind,
            &NewAudit {
                event: if adopted { "adopted" } else { "created" },
                row_key: Some(&doc.doc_key),
                sheet_row: rows.first().map(|r| *r as i64),
                doc_number: doc.doc_number.as_deref(),
                qbo_id: Some(&created.id),
                qbo_url: Some(&url),
                status: "synced",
                request_id: Some(&doc.request_id),
                request_json: Some(&doc.payload),
                response_json: Some(&response),
                error: None,
            },
        )?;
        tx.commit()?;
        tracing::info!(
            row_key = %doc.doc_key,
            doc_number = ?doc.doc_number,
            qbo_id = %created.id,
            kind = doc.kind.as_str(),
            adopted,
            "{} {}",
            if adopted { "adopted existing" } else { "created" },
            doc.kind.as_str()
        );
        report.created.push(CreatedDoc {
            kind: doc.kind,
            doc_number: doc.doc_number.clone().unwrap_or_default(),
            qbo_id: created.id.clone(),
            url,
            sheet_rows: rows,
            adopted,
        });
        Ok(())
    }

    fn fail_document(
        &self,
        doc: &DocRecord,
        message: &str,
        response: Option<&str>,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        self.progress(Progress::Failed);
        let tx = self.store.begin()?;
        self.store.mark_failed(&doc.doc_key, message)?;
        let at = now_seconds();
        for key in &doc.row_keys {
            let previous = self.store.row(key)?;
            self.store.put_row(&RowRecord {
                row_key: key.clone(),
                kind: doc.kind,
                doc_key: Some(doc.doc_key.clone()),
                doc_number: None,
                status: "failed".into(),
                error: Some(message.to_owned()),
                content_fp: previous.as_ref().map(|r| r.content_fp.clone()).unwrap_or_default(),
                config_fp: previous.as_ref().map(|r| r.config_fp.clone()).unwrap_or_default(),
                sheet_row: previous.as_ref().and_then(|r| r.sheet_row),
                synced_at: Some(at.clone()),
            })?;
            report.failed += 1;
        }
        self.store.audit_append(
            doc.kind,
            &NewAudit {
                event: "rejected",
                row_key: Some(&doc.doc_key),
                doc_number: doc.doc_number.as_deref(),
                status: "failed",
                request_id: Some(&doc.request_id),
                request_json: Some(&doc.payload),
                response_json: response,
                error: Some(message),
                ..Default::default()
            },
        )?;
        tx.commit()?;
        tracing::warn!(row_key = %doc.doc_key, doc_number = ?doc.doc_number, error = %message, "document refused");
        Ok(())
    }

    fn fail_rows(
        &self,
        draft: &DocDraft,
        reason: &str,
        policy: &Policy,
        report: &mut PassReport,
    ) -> Result<(), StoreError> {
        for row in &draft.rows {
            let record = RowRecord {
                row_key: row.key.clone(),
                kind: draft.kind,
                doc_key: None,
                doc_number: None,
                status: "failed".into(),
                error: Some(reason.to_owned()),
                content_fp: row.content_fp.clone(),
                config_fp: policy.config_fp.clone(),
                sheet_row: Some(row.index as i64 + 1),
                synced_at: None,
            };
            self.remember_decision(&record, Some(&draft.doc_number))?;
            report.failed += 1;
        }
        Ok(())
    }

    /// Projects the store onto the owned cells of anchored rows and writes the difference in
    /// one batch. Rows are located by a fresh read of the anchors, never by a remembered number;
    /// if rows moved under the write anyway, what landed on the wrong rows is given back and the
    /// projection runs once more.
    async fn write_back(&mut self, policy: &Policy, report: &mut PassReport) -> Result<(), PassError> {
        for _ in 0..2 {
            if !self.project_and_write(policy, report).await? {
                break;
            }
        }
        Ok(())
    }

    /// One projection and its write; true when rows moved under it (and it must run again).
    async fn project_and_write(&mut self, policy: &Policy, report: &mut PassReport) -> Result<bool, PassError> {
        let picture = match self.picture(policy).await {
            // Emptied since the pass planned: there is nothing to write to.
            Err(PassError::EmptySheet) => return Ok(false),
            other => other?,
        };
        let located = plan::locate(&picture.rows, &picture.layout, &picture.anchors, &self.view);

        // One transaction for all moved rows: after an insert near the top, every row moves,
        // and a statement each would cost a disk flush each. A quiet row has not moved: its
        // seal says where it was.
        let moved = self.store.begin()?;
        for (key, row) in &located {
            if !picture.sealing.is_quiet(*row as usize)
                && self.view.rows.get(key.as_str()).is_some_and(|r| r.sheet_row != Some(*row as i64 + 1))
            {
                self.store.set_sheet_row(key, *row as i64 + 1)?;
            }
        }
        moved.commit()?;
        self.note_rows_gone(&picture.anchors)?;

        // Saving a position broke the row's seal: the view must know before sealing again.
        self.view.catch_up(&self.store)?;

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
        self.seal(&picture, &to_project, &writes, &mismatches, policy)?;

        let outcome = if writes.is_empty() {
            Ok(false)
        } else {
            let runs = cell_runs(&writes);
            report.cells_written += runs.iter().map(|r| r.values.len()).sum::<usize>();
            self.sheets.write_cells(&runs).await?;
            self.verify_landing(&picture, &located, &writes, policy).await
        };
        self.kept = Some(picture);
        outcome
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
        policy: &Policy,
    ) -> Result<(), StoreError> {
        let unsettled: FastSet<&str> =
            writes.iter().map(|w| w.key.as_str()).chain(mismatches.iter().map(|m| m.key.as_str())).collect();
        let seals: Vec<(&str, Seal)> = projected
            .iter()
            .filter(|(key, _)| !unsettled.contains(key.as_str()))
            .filter(|(key, row)| {
                let Some(record) = self.view.rows.get(key.as_str()).filter(|r| r.status == "synced") else {
                    return false;
                };
                let doc = record.doc_key.as_ref().and_then(|d| self.view.docs.get(d.as_str()));
                picture
                    .rows
                    .get(**row as usize)
                    .is_some_and(|cells| project::shows_only_owned(cells, record, doc, &picture.layout, policy))
            })
            .filter_map(|(key, row)| Some((key.as_str(), picture.sealing.seal(*row as usize)?)))
            .filter(|(key, seal)| self.view.seals.get(*key) != Some(seal))
            .collect();
        if seals.is_empty() {
            return Ok(());
        }
        let tx = self.store.begin()?;
        self.store.seal_rows(&seals)?;
        tx.commit()?;
        self.view.sealed(&seals);
        Ok(())
    }

    /// Notes every row qbsync placed on the sheet whose anchor is gone (see
    /// [`Self::note_row_gone`]). The store is asked for the keys of placed rows, not the
    /// view, which holds only the rows being planned.
    fn note_rows_gone(&self, anchors: &[Anchor]) -> Result<(), StoreError> {
        let anchored: FastSet<&str> = anchors.iter().map(|a| a.key.as_str()).collect();
        let mut gone: Vec<String> = Vec::new();
        self.store.for_each_placed_row_key(|key| {
            if !anchored.contains(key) {
                gone.push(key.to_owned());
            }
        })?;
        for key in gone {
            if let Some(record) = self.store.row(&key)? {
                self.note_row_gone(&record)?;
            }
        }
        Ok(())
    }

    /// A row qbsync decided about is no longer on the sheet (deleted, or its anchor removed):
    /// nothing is written anywhere for it, and the audit says so, once.
    fn note_row_gone(&self, record: &RowRecord) -> Result<(), StoreError> {
        let doc = match &record.doc_key {
            Some(key) => self.store.document(key)?,
            None => None,
        };
        let fate = match &doc {
            Some(doc) if doc.state == DocState::Created => format!(
                "QuickBooks {} {} stays as it is",
                record.kind.as_str(),
                doc.qbo_id.as_deref().unwrap_or_default()
            ),
            Some(doc) if doc.state == DocState::Pending => {
                "its document was being created: qbsync settles it and records the outcome in this audit".to_owned()
            }
            _ => "nothing was created for it".to_owned(),
        };
        let message =
            format!("the row is no longer on the sheet (deleted); nothing was written to the sheet for it; {fate}");
        tracing::info!(row_key = %record.row_key, sheet_row = ?record.sheet_row, "{message}");
        let tx = self.store.begin()?;
        self.store.clear_sheet_row(&record.row_key)?;
        self.store.audit_append(
            record.kind,
            &NewAudit {
                event: "row-deleted",
                row_key: Some(&record.row_key),
                sheet_row: record.sheet_row,
                doc_number: doc.as_ref().and_then(|d| d.doc_number.as_deref()).or(record.doc_number.as_deref()),
                qbo_id: doc.as_ref().and_then(|d| d.qbo_id.as_deref()),
                qbo_url: doc.as_ref().and_then(|d| d.qbo_url.as_deref()),
                status: &record.status,
                error: Some(&message),
                ..Default::default()
            },
        )?;
        tx.commit()
    }

    /// Re-reads the anchors after a write-back. Sheets cannot make a write conditional, so a row
    /// that moved in the instant between locating and writing took cells meant for another row:
    /// those are given back (see [`project::undo_misplaced`]). True when anything moved.
    async fn verify_landing(
        &mut self,
        picture: &Picture,
        located: &Located,
        writes: &[CellWrite],
        policy: &Policy,
    ) -> Result<bool, PassError> {
        let anchors = self.sheets.anchors_like(Some(&picture.anchors)).await?;
        let now: Located = anchors.iter().map(|a| (a.key.as_str().into(), a.row)).collect();
        let moved: Vec<&CellWrite> = writes.iter().filter(|w| now.get(w.key.as_str()) != Some(&w.row)).collect();
        if moved.is_empty() {
            return Ok(false);
        }
        for write in &moved {
            tracing::warn!(
                row_key = %write.key,
                written_row = write.row + 1,
                now_at = ?now.get(write.key.as_str()).map(|r| r + 1),
                "a row moved while qbsync wrote to it; giving back what landed on another row"
            );
        }
        // Each round looks again, in a fresh consistent picture, for rows still showing what was
        // meant for another row. Restores are addressed by number too, so the next round checks
        // them like the write itself. Any row may be a victim, quiet or not: here every row is
        // decoded, and the quiet rows of the picture written from are restored from the store.
        let mut checks: Vec<(Vec<CellWrite>, Vec<Vec<Cell>>, Located)> = Vec::new();
        for _ in 0..RESTORE_ROUNDS {
            let (after, anchors) = match self.whole_picture().await {
                Ok(picture) => picture,
                Err(PassError::SheetBusy) => continue, // rows still moving: look again
                Err(error) => return Err(error),
            };
            let now: Located = anchors.iter().map(|a| (a.key.as_str().into(), a.row)).collect();
            if checks.is_empty() {
                let before = self.as_written_over(picture, located, writes, &after, &now, policy)?;
                checks.push((writes.to_vec(), before, located.clone()));
            }
            let mut undo: Vec<CellWrite> = Vec::new();
            for (written, then, where_then) in &checks {
                for write in project::undo_misplaced(written, then, where_then, &after, &now) {
                    if !undo.iter().any(|u| u.row == write.row && u.col == write.col) {
                        undo.push(write);
                    }
                }
            }
            if undo.is_empty() {
                return Ok(true);
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
            // an anchor cannot (chasing it by its cells does more harm than good).
            checks.push((undo.into_iter().filter(|w| !w.key.is_empty()).collect(), after, now));
        }
        tracing::warn!(
            "rows kept moving while qbsync restored cells it had written to the wrong rows: check the rows named above"
        );
        Ok(true)
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
        policy: &Policy,
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
            let doc = match &record.doc_key {
                Some(doc_key) => self.store.document(doc_key)?,
                None => None,
            };
            if let Some(slot) = before.get_mut(row_then) {
                *slot = project::owned_row(&record, doc.as_ref(), &picture.layout, policy);
            }
        }
        Ok(before)
    }

    async fn dry_run(
        &mut self,
        plan: Plan,
        values: &[Vec<Cell>],
        layout: &Layout,
        view: &StoreView,
        policy: &Policy,
        mut report: PassReport,
    ) -> Result<PassReport, PassError> {
        report.failed = plan.decisions.iter().filter(|d| d.status == "failed").count();
        report.skipped = plan.stats.skipped;
        report.copies = plan.stats.copies;
        // Rows without anchors would be claimed first; judge them as if they had been.
        let mut drafts = plan.creates.clone();
        let mut decisions = plan.decisions.clone();
        if !plan.claims.is_empty() {
            let mut virtual_view = view.clone();
            let mut anchors: Vec<Anchor> = Vec::new();
            for (i, claim) in plan.claims.iter().enumerate() {
                virtual_view.rows.insert(claim.key.as_str().into(), claim.record.clone());
                anchors.push(Anchor { metadata_id: -(i as i32) - 1, key: claim.key.clone(), row: claim.row });
            }
            let mut counter = 0;
            let mut next = || {
                counter += 1;
                format!("dry{counter}")
            };
            let replanned = plan::plan(values, layout, &anchors, &virtual_view, policy, &mut next);
            drafts.extend(replanned.creates);
            decisions.extend(replanned.decisions);
        }
        for decision in &decisions {
            report.dry_run_writes.push((
                decision.sheet_row.unwrap_or_default() as u32,
                format!("{}: {}", decision.status, decision.error.clone().unwrap_or_default()),
            ));
        }
        for draft in drafts {
            let kind = party_kind(draft.kind);
            let found = self.qbo.find_parties(kind, std::slice::from_ref(&draft.party)).await.map_err(qbo_error)?;
            let sheet_rows = draft.rows.iter().map(|r| r.index + 1).collect();
            match found.iter().find(|p| p.active) {
                Some(party) => report.dry_run.push(DryRunDoc {
                    kind: draft.kind,
                    doc_number: draft.doc_number.clone(),
                    sheet_rows,
                    payload: Some(build(&draft, &party.id, policy).to_json()),
                    problem: None,
                }),
                None => report.dry_run.push(DryRunDoc {
                    kind: draft.kind,
                    doc_number: draft.doc_number.clone(),
                    sheet_rows,
                    payload: None,
                    problem: Some(format!(
                        "\"{}\" is not an active {} in QuickBooks",
                        draft.party,
                        if draft.kind == Kind::Invoice { "customer" } else { "vendor" }
                    )),
                }),
            }
        }
        Ok(report)
    }
}

/// The items of a batch (`bId` = `b` + position) and its `requestid`, derived from the
/// documents' own requestids so that a resend of the same documents is the same batch.
fn batch_request(chunk: &[DocRecord]) -> Result<BatchRequest, PassError> {
    let items =
        chunk.iter().enumerate().map(|(i, doc)| (format!("b{i}"), doc_kind(doc.kind), doc.payload.clone())).collect();
    let batch_hash = hex::encode(Sha256::digest(
        chunk.iter().map(|d| d.request_id.as_str()).collect::<Vec<_>>().join(",").as_bytes(),
    ));
    let batch_id = RequestId::parse(&format!("batch-{}", &batch_hash[..24]))
        .map_err(|e| PassError::Qbo(QboError::Protocol { reason: e.to_string() }))?;
    Ok((items, batch_id))
}

/// A recorded intent goes out now only if it was never sent: one sent before whose outcome is
/// unknown may only be settled by a look-up, which the next pass's reconciliation does.
fn never_sent(doc: &DocRecord) -> bool {
    doc.state == DocState::Pending && doc.attempts == 0
}

fn sent_unsettled(doc: &DocRecord) -> bool {
    doc.state == DocState::Pending && doc.attempts > 0
}

/// The QuickBooks payload of a draft.
pub fn build(draft: &DocDraft, party_id: &str, policy: &Policy) -> NewDoc {
    let note = Some(note_with_marker(draft.private_note.as_deref(), &draft.doc_key));
    match draft.kind {
        Kind::Invoice => NewDoc::Invoice(NewInvoice {
            doc_number: Some(draft.doc_number.clone()),
            txn_date: draft.txn_date,
            due_date: draft.due_date,
            customer_id: party_id.to_owned(),
            private_note: note,
            lines: draft
                .lines
                .iter()
                .map(|l| SalesLine {
                    amount: l.amount,
                    description: l.description.clone(),
                    item_id: policy.default_item_id.clone(),
                    qty: rust_decimal::Decimal::ONE,
                    unit_price: l.amount,
                })
                .collect(),
        }),
        Kind::Bill => NewDoc::Bill(NewBill {
            doc_number: Some(draft.doc_number.clone()),
            txn_date: draft.txn_date,
            due_date: draft.due_date,
            vendor_id: party_id.to_owned(),
            ap_account_id: policy.ap_account_id.clone(),
            private_note: note,
            lines: draft
                .lines
                .iter()
                .map(|l| ExpenseLine {
                    amount: l.amount,
                    description: l.description.clone(),
                    account_id: policy.expense_account_id.clone(),
                })
                .collect(),
        }),
    }
}

/// Whether a document found in QuickBooks is the one a pending intent meant to create: it
/// carries the intent's marker, or (for documents whose note was edited in QuickBooks) the same
/// party and total.
fn is_ours(found: &Doc, doc: &DocRecord) -> bool {
    let note = found.raw.get("PrivateNote").and_then(|n| n.as_str()).unwrap_or_default();
    let same_party = found.party_id == doc.party_id;
    let same_total = doc.total.parse::<rust_decimal::Decimal>().is_ok_and(|t| t == found.total);
    note_has_marker(note, &doc.doc_key) || (same_party && same_total)
}

fn cell_runs(writes: &[CellWrite]) -> Vec<CellRun> {
    writes.iter().map(|w| CellRun { row: w.row, col: w.col, values: w.values.clone() }).collect()
}

fn doc_kind(kind: Kind) -> DocKind {
    match kind {
        Kind::Invoice => DocKind::Invoice,
        Kind::Bill => DocKind::Bill,
    }
}

fn party_kind(kind: Kind) -> PartyKind {
    match kind {
        Kind::Invoice => PartyKind::Customer,
        Kind::Bill => PartyKind::Vendor,
    }
}

/// A new row key: 20 lowercase hex characters (80 random bits), short enough that
/// `key-hash8` fits QuickBooks' 36-character requestid.
pub fn new_key() -> String {
    let bytes: [u8; 10] = rand::thread_rng().r#gen();
    hex::encode(bytes)
}

fn now_seconds() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
