//! Send: names, intents, batches and reconciliation — everything that talks to QuickBooks.
//!
//! The order is the exactly-once argument. An intent (the exact body and a `requestid`) is in
//! the ledger before the first send, and every resend is that body with that `requestid`. A
//! send whose outcome is unknown leaves the intent pending, and before anything is sent for a
//! pending intent again, QuickBooks is searched by document number and a document carrying
//! the intent's marker (or the same party and total) is adopted. Outcomes reach the store only
//! through the [`super::ledger`].

use std::collections::{BTreeMap, HashMap};

use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::domain::invisible::escape_invisible;
use crate::domain::layout::Field;
use crate::qbo::{Doc, QboError, RequestId, TaxPlan};
use crate::store::{AuditEvent, DocRecord, DocState, Kind};

use super::draft::{CellRef, DocDraft, party_cell};
use super::error::PassError;
use super::pass::Pass;
use super::payload::{self, BatchRequest, Unbuildable, is_ours, party_kind};
use super::report::{CreatedDoc, PassReport, Progress};

/// Most documents per QuickBooks batch request (Intuit's limit).
const BATCH_SIZE: usize = 30;

/// Batches sent but not yet answered. QuickBooks admits a batch about every 1.5 s (40 a
/// minute); four in flight keep that pace even when a batch takes several seconds to answer or
/// the pass is busy writing back, and leave six of the ten concurrent slots to look-ups. More
/// would only queue in the pacer, as intents whose send is still to come.
const BATCHES_IN_FLIGHT: usize = 4;

/// QuickBooks' answer to a batch: each item's outcome by `bId`, or the request's own failure.
type BatchOutcome = Result<Vec<(String, Result<Doc, QboError>)>, QboError>;
/// What a batch task hands back: the documents it carried and QuickBooks' answer.
type BatchAnswer = (Vec<DocRecord>, BatchOutcome);

/// A draft whose party QuickBooks knows, by id.
pub(super) type Ready = (DocDraft, String);

impl Pass<'_> {
    /// Settles a pending intent: adopt what QuickBooks already has, or send it (again) with the
    /// same `requestid`.
    pub(super) async fn reconcile(&mut self, doc_key: &str, report: &mut PassReport) -> Result<(), PassError> {
        let Some(doc) = self.store.document(doc_key)? else { return Ok(()) };
        if doc.state != DocState::Pending {
            return Ok(());
        }
        let kind = doc.doc_kind;
        // Sent before, outcome unknown: whatever QuickBooks holds under this number decides.
        if let (true, Some(number)) = (doc.attempts > 0, &doc.doc_number) {
            let found = self.qbo.find_by_doc_number(kind, number).await?;
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
                return self.refuse(&doc, &message, None, report);
            }
        }
        self.send_one(&doc, report).await
    }

    /// Finds (or creates, when allowed) the customer or vendor of every draft. Drafts whose
    /// party cannot be had fail their rows; the rest come back with the party's id.
    pub(super) async fn resolve_parties(
        &mut self,
        drafts: &[DocDraft],
        report: &mut PassReport,
    ) -> Result<Vec<Ready>, PassError> {
        let mut ids: HashMap<(Kind, String), Result<String, String>> = HashMap::new();
        for kind in [Kind::Invoice, Kind::Bill] {
            let mut names: Vec<String> = drafts.iter().filter(|d| d.kind == kind).map(|d| d.party.clone()).collect();
            names.sort();
            names.dedup();
            if names.is_empty() {
                continue;
            }
            let resolved =
                super::names::resolve(self.qbo, self.store, party_kind(kind), &names, self.policy.create_missing_names)
                    .await?;
            for (name, outcome) in resolved {
                ids.insert((kind, name), outcome);
            }
        }
        let mut ready = Vec::new();
        for draft in drafts {
            let reason = match ids.get(&(draft.kind, draft.party.clone())) {
                Some(Ok(id)) => {
                    ready.push((draft.clone(), id.clone()));
                    continue;
                }
                Some(Err(reason)) => reason.as_str(),
                None => "qbsync could not look this name up in QuickBooks; it will try again",
            };
            // Each row's sentence names the cell its name was read from.
            let reasons: Vec<String> = draft
                .rows
                .iter()
                .map(|row| match self.kept.as_ref().and_then(|p| Some((p.rows.get(row.index as usize)?, &p.layout))) {
                    Some((cells, layout)) => format!("{}: {reason}", party_cell(cells, row.index, layout, draft.kind)),
                    None => reason.to_owned(),
                })
                .collect();
            self.ledger().draft_failed(draft, &reasons, &self.policy.config_fp)?;
            report.failed += draft.rows.len();
        }
        Ok(ready)
    }

    /// Records intents and sends them. Several documents go in batches of up to 30, each
    /// batch's intents committed just before it leaves, with up to [`BATCHES_IN_FLIGHT`]
    /// batches out at once so that QuickBooks' pacing, not the pass, sets the pace. While a
    /// long backlog is being created, the sheet is brought up to date every
    /// `write_back_every`. If something stops the pass, the batches already out are still
    /// settled before it returns, so none of their answers is thrown away.
    pub(super) async fn create_all(
        &mut self,
        ready: Vec<Ready>,
        tax: &TaxPlan,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        if !self.batching || ready.len() < 2 {
            let mut pending: Vec<DocRecord> = Vec::new();
            for (draft, party_id) in ready {
                let Some(doc) = self.intend(&draft, &party_id, tax, report)? else { continue };
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
                match self.launch_batch(&mut drafts, &mut in_flight, tax, report) {
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
                match self.write_back(report).await {
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

    /// The intent of a ready draft, recorded (or the one an earlier pass recorded), or `None`
    /// when the draft cannot be built (its rows fail, saying why).
    fn intend(
        &self,
        draft: &DocDraft,
        party_id: &str,
        tax: &TaxPlan,
        report: &mut PassReport,
    ) -> Result<Option<DocRecord>, PassError> {
        match payload::build(draft, party_id, self.policy, tax) {
            Ok(payload) => Ok(Some(self.ledger().intend(draft, &payload, party_id, &self.policy.config_fp)?)),
            Err(unbuildable) => {
                // An intent an earlier pass recorded is settled with its recorded body, whatever
                // the company's codes say now: it may already be in QuickBooks.
                if let Some(earlier) = self.store.document(&draft.doc_key)?.filter(|d| d.state == DocState::Pending) {
                    return Ok(Some(earlier));
                }
                let reasons = self.unbuildable_reasons(draft, &unbuildable);
                self.ledger().draft_failed(draft, &reasons, &self.policy.config_fp)?;
                report.failed += draft.rows.len();
                Ok(None)
            }
        }
    }

    /// One sentence per row of a draft that cannot be built: the row whose `tax_code` cell is
    /// wrong is told so by its cell; the document's other rows are told which row to fix.
    fn unbuildable_reasons(&self, draft: &DocDraft, unbuildable: &Unbuildable) -> Vec<String> {
        let cell = |index: u32| self.kept.as_ref().map(|p| CellRef::new(&p.layout, Field::TaxCode, index));
        draft
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let sentence = match unbuildable {
                    Unbuildable::Tax { line, error } if *line == i && draft.lines[i].tax_code.is_some() => {
                        match cell(row.index) {
                            Some(cell) => format!("{cell}: {error}"),
                            None => error.to_string(),
                        }
                    }
                    Unbuildable::Tax { line, error } if draft.lines[*line].tax_code.is_some() => format!(
                        "sheet row {} of the same document: {error}",
                        draft.rows.get(*line).map_or(0, |r| r.index + 1)
                    ),
                    other => other.to_string(),
                };
                escape_invisible(&sentence).into_owned()
            })
            .collect()
    }

    /// Records the intents of the next batch (up to [`BATCH_SIZE`] pending documents) and
    /// sends it on its own task. Returns the task and how many documents it carries, or
    /// `None` when the drafts left held nothing to send.
    fn launch_batch(
        &mut self,
        drafts: &mut impl Iterator<Item = Ready>,
        in_flight: &mut JoinSet<BatchAnswer>,
        tax: &TaxPlan,
        report: &mut PassReport,
    ) -> Result<Option<(tokio::task::Id, usize)>, PassError> {
        let mut chunk: Vec<DocRecord> = Vec::with_capacity(BATCH_SIZE);
        for (draft, party_id) in drafts.by_ref() {
            let Some(doc) = self.intend(&draft, &party_id, tax, report)? else { continue };
            if never_sent(&doc) {
                chunk.push(doc);
            } else if sent_unsettled(&doc) {
                report.uncertain += 1;
            }
            if chunk.len() == BATCH_SIZE {
                break;
            }
        }
        if chunk.is_empty() {
            return Ok(None);
        }
        let BatchRequest { items, request_id } =
            payload::batch_request(&chunk).map_err(|e| QboError::Protocol { reason: e.to_string() })?;
        for doc in &chunk {
            self.ledger().sending(&doc.doc_key)?;
        }
        let size = chunk.len();
        let qbo = self.qbo.clone();
        let task = in_flight.spawn(async move {
            let answer = qbo.create_batch_bodies(&items, &request_id).await;
            (chunk, answer)
        });
        Ok(Some((task.id(), size)))
    }

    /// Sends a pending document: always the exact body recorded with the intent, always its
    /// `requestid`, so a resend is byte-for-byte the first send.
    async fn send_one(&mut self, doc: &DocRecord, report: &mut PassReport) -> Result<(), PassError> {
        let request_id = RequestId::parse(&doc.request_id).map_err(|e| QboError::Protocol { reason: e.to_string() })?;
        self.ledger().sending(&doc.doc_key)?;
        let outcome = self.qbo.create_body(doc.doc_kind, &doc.payload, &request_id).await;
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
                    self.ledger().unsettled(doc, AuditEvent::Uncertain, &error.to_string())?;
                }
                report.uncertain += chunk.len();
                return match error {
                    QboError::Uncertain { .. } | QboError::Transient { .. } | QboError::Protocol { .. } => Ok(()),
                    other => Err(other.into()),
                };
            }
        };
        let mut by_bid: BTreeMap<String, Result<Doc, QboError>> = answers.into_iter().collect();
        for (i, doc) in chunk.iter().enumerate() {
            let outcome = by_bid.remove(&payload::bid(i)).unwrap_or_else(|| {
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
                let existing = if txn_type.eq_ignore_ascii_case(doc.doc_kind.entity()) {
                    match self.qbo.read(doc.doc_kind, &txn_id, false).await {
                        Ok(found) => Some(found),
                        Err(QboError::Rejected { .. }) => None,
                        // Not knowing whose document it is, is not the row's fault: the intent
                        // stays pending and the next pass looks the number up again.
                        Err(error) => {
                            report.uncertain += 1;
                            self.ledger().unsettled(doc, AuditEvent::Uncertain, &error.to_string())?;
                            return Ok(());
                        }
                    }
                } else {
                    None
                };
                match existing {
                    Some(existing)
                        if is_ours(&existing, doc)
                            && self.store.document_by_qbo_id(doc.doc_kind, &existing.id)?.is_none() =>
                    {
                        self.adopt(doc, &existing, true, report)
                    }
                    _ => {
                        let message = format!(
                            "invoice number {} is already used in QuickBooks by {txn_type} {txn_id}, which is not this row's document: give this row its own number",
                            doc.doc_number.as_deref().unwrap_or_default()
                        );
                        self.refuse(doc, &message, None, report)
                    }
                }
            }
            Err(QboError::Rejected { faults }) => {
                let error = QboError::Rejected { faults };
                if error.tax_fault().is_some() {
                    // The company's tax rules may have changed since they were learnt.
                    self.company.forget();
                }
                let message = error.for_bookkeeper();
                let response = format!("{error:?}");
                self.refuse(doc, &message, Some(&response), report)
            }
            Err(error @ (QboError::Uncertain { .. } | QboError::Protocol { .. })) => {
                report.uncertain += 1;
                tracing::warn!(doc_number = ?doc.doc_number, request_id = %doc.request_id, %error, "create outcome unknown; will look it up before sending again");
                self.ledger().unsettled(doc, AuditEvent::Uncertain, &error.to_string())?;
                Ok(())
            }
            Err(error @ QboError::Transient { .. }) => {
                report.uncertain += 1;
                self.ledger().unsettled(doc, AuditEvent::RetryLater, &error.to_string())?;
                Err(PassError::Qbo(error))
            }
            Err(other) => Err(other.into()),
        }
    }

    fn adopt(&self, doc: &DocRecord, created: &Doc, adopted: bool, report: &mut PassReport) -> Result<(), PassError> {
        self.progress(Progress::Created);
        let url = self.qbo.doc_url(doc.doc_kind, &created.id);
        let recorded = self.ledger().created(doc, created, &url, adopted)?;
        report.created.push(CreatedDoc {
            kind: doc.kind,
            doc_number: doc.doc_number.clone().unwrap_or_default(),
            qbo_id: created.id.clone(),
            url,
            sheet_rows: recorded.sheet_rows,
            adopted,
        });
        Ok(())
    }

    fn refuse(
        &self,
        doc: &DocRecord,
        message: &str,
        response: Option<&str>,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        self.progress(Progress::Failed);
        report.failed += self.ledger().refused(doc, message, response)?;
        Ok(())
    }
}

/// A recorded intent goes out now only if it was never sent: one sent before whose outcome is
/// unknown may only be settled by a look-up, which the next pass's reconciliation does.
fn never_sent(doc: &DocRecord) -> bool {
    doc.state == DocState::Pending && doc.attempts == 0
}

fn sent_unsettled(doc: &DocRecord) -> bool {
    doc.state == DocState::Pending && doc.attempts > 0
}
