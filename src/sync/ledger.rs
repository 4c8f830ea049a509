//! The ledger: the only writer of row records, documents and audit lines during a pass.
//!
//! Every change of state a pass makes is one method here, in its own transaction, so the
//! store never holds half a step: a document created with rows still pending, an intent
//! without its rows, an audit line without the change it reports. The stages decide; the
//! ledger records. Reading stays with the [`Store`] (and the pass's [`super::view`]), so
//! "who may write what" is answered by this one file.
//!
//! Statuses, kinds and events are the store's enums end to end; nothing here spells one.

use sha2::{Digest, Sha256};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::payments::{FollowRound, Money, MoneyChange};
use crate::qbo::{Doc, NewDoc, NewPayment, PaymentState};
use crate::store::{
    AuditEvent, DocRecord, DocState, Kind, NewAudit, NewIntent, NewPayout, NewUndo, PayoutRecord, PayoutState,
    RowRecord, RowStatus, Store, StoreError, UndoOp, UndoRecord, UndoState,
};

use super::draft::DocDraft;
use super::plan::Claim;
use super::seal::Seal;

/// Writes a pass's decisions and outcomes to the store.
#[derive(Clone, Copy)]
pub struct Ledger<'s> {
    store: &'s Store,
    /// The pass whose decisions these are: every audit line says so, so that what one pass
    /// created can be found (and taken back) as a whole.
    pass_id: Option<&'s str>,
}

/// A document QuickBooks holds, as the ledger recorded it.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// The 1-based sheet rows of its rows where they were last seen.
    pub sheet_rows: Vec<u32>,
}

impl<'s> Ledger<'s> {
    /// A ledger for changes made outside a pass (taking documents back).
    pub fn new(store: &'s Store) -> Ledger<'s> {
        Ledger { store, pass_id: None }
    }

    /// A ledger for the pass `pass_id`.
    pub fn in_pass(store: &'s Store, pass_id: &'s str) -> Ledger<'s> {
        Ledger { store, pass_id: Some(pass_id) }
    }

    fn audit(&self, kind: Kind, entry: &NewAudit<'_>) -> Result<(), StoreError> {
        self.store.audit_append(kind, &NewAudit { pass_id: self.pass_id, ..entry.clone() })
    }

    /// Remembers a decision about a row that goes no further this pass (failed, skipped, a
    /// copy, in review), with the invoice number the row showed when the caller knows it: the audit names
    /// a failure by the number the bookkeeper knows it by.
    pub fn decide(&self, decision: &RowRecord, doc_number: Option<&str>) -> Result<(), StoreError> {
        let record = RowRecord { synced_at: Some(now_seconds()), ..decision.clone() };
        let tx = self.store.begin()?;
        self.store.put_row(&record)?;
        self.audit(
            record.kind,
            &NewAudit {
                row_key: Some(&record.row_key),
                sheet_row: record.sheet_row,
                doc_number,
                error: record.error.as_deref(),
                ..NewAudit::new(AuditEvent::Decided(record.status), record.status)
            },
        )?;
        tx.commit()?;
        match record.status {
            RowStatus::Failed => {
                tracing::warn!(row_key = %record.row_key, sheet_row = ?record.sheet_row, error = ?record.error, "row failed")
            }
            status => {
                tracing::info!(row_key = %record.row_key, sheet_row = ?record.sheet_row, %status, reason = ?record.error, "row not sent")
            }
        }
        Ok(())
    }

    /// Records the claims' rows before their anchors are written, so an anchor never exists
    /// without the record that verifies where it landed.
    pub fn claim(&self, claims: &[Claim]) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        for claim in claims {
            self.store.put_row(&claim.record)?;
        }
        tx.commit()
    }

    /// Forgets row records whose anchors are gone (dropped, or never written).
    pub fn forget(&self, keys: &[String]) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        for key in keys {
            self.store.forget_row(key)?;
        }
        tx.commit()
    }

    /// Records the intent to create `draft` as `payload` for party `party_id`: the document,
    /// its rows' pending state and the audit line, together. An intent recorded by an earlier
    /// pass is handed back as it is (same body, same `requestid`); a failed earlier attempt is
    /// retired first, since the corrected document is a new intent (a replayed `requestid`
    /// would replay the old refusal).
    pub fn intend(
        &self,
        draft: &DocDraft,
        payload: &NewDoc,
        party_id: &str,
        config_fp: &str,
    ) -> Result<DocRecord, StoreError> {
        let body =
            payload.to_body().map_err(|source| StoreError::Encode { what: "a QuickBooks request body", source })?;
        let hash = hex::encode(Sha256::digest(body.as_bytes()));
        let request_id = format!("{}-{}", draft.doc_key, &hash[..8]);
        let row_keys: Vec<String> = draft.rows.iter().map(|r| r.key.clone()).collect();
        let tx = self.store.begin()?;
        match self.store.document(&draft.doc_key)? {
            Some(old) if old.state == DocState::Failed => self.store.retire_failed(&draft.doc_key)?,
            Some(earlier) => return Ok(earlier), // recorded by an earlier pass, rows and all
            None => {}
        }
        let doc = self.store.record_intent(&NewIntent {
            doc_key: &draft.doc_key,
            kind: draft.kind,
            doc_kind: payload.kind(),
            doc_number: Some(&draft.doc_number),
            request_id: &request_id,
            payload_hash: &hash,
            payload: &body,
            party_id,
            total: draft.total(),
            row_keys: &row_keys,
        })?;
        for row in &draft.rows {
            self.store.put_row(&RowRecord {
                row_key: row.key.clone(),
                kind: draft.kind,
                doc_key: Some(draft.doc_key.clone()),
                doc_number: Some(draft.doc_number.clone()),
                status: RowStatus::Pending,
                error: None,
                content_fp: row.content_fp.clone(),
                config_fp: config_fp.to_owned(),
                sheet_row: Some(row.index as i64 + 1),
                synced_at: None,
                preview: None,
            })?;
        }
        self.audit(
            draft.kind,
            &NewAudit {
                row_key: Some(&draft.doc_key),
                sheet_row: Some(draft.rows[0].index as i64 + 1),
                doc_number: Some(&draft.doc_number),
                request_id: Some(&doc.request_id),
                request_json: Some(&body),
                doc_kind: Some(doc.doc_kind),
                total: Some(doc.total),
                ..NewAudit::new(AuditEvent::Intent, RowStatus::Pending)
            },
        )?;
        tx.commit()?;
        Ok(doc)
    }

    /// Counts one more send of a pending document, before it leaves.
    pub fn sending(&self, doc_key: &str) -> Result<(), StoreError> {
        self.store.count_attempt(doc_key)
    }

    /// QuickBooks holds `created` for `doc`: the document created, its rows synced and the
    /// audit line, in one transaction (a crash in between would leave a created document
    /// whose rows still say pending, never to be written back).
    pub fn created(&self, doc: &DocRecord, created: &Doc, url: &str, adopted: bool) -> Result<Recorded, StoreError> {
        // QuickBooks answers amounts as JSON numbers (`120.0`); money is shown with its cents.
        let mut total = created.total;
        if total.scale() < 2 {
            total.rescale(2);
        }
        let tx = self.store.begin()?;
        self.store.mark_created(&doc.doc_key, &created.id, url, total)?;
        let at = now_seconds();
        let mut sheet_rows = Vec::new();
        for key in &doc.row_keys {
            let sheet_row = self.settle_row(doc, key, RowStatus::Synced, doc.doc_number.clone(), None, &at)?;
            sheet_rows.extend(sheet_row.and_then(|r| u32::try_from(r).ok()));
        }
        let response = created.raw.to_string();
        self.audit(
            doc.kind,
            &NewAudit {
                row_key: Some(&doc.doc_key),
                sheet_row: sheet_rows.first().map(|r| i64::from(*r)),
                doc_number: doc.doc_number.as_deref(),
                qbo_id: Some(&created.id),
                qbo_url: Some(url),
                request_id: Some(&doc.request_id),
                request_json: Some(&doc.payload),
                response_json: Some(&response),
                doc_kind: Some(doc.doc_kind),
                // QuickBooks' total, tax included: what the client pays or is owed.
                total: Some(total),
                ..NewAudit::new(if adopted { AuditEvent::Adopted } else { AuditEvent::Created }, RowStatus::Synced)
            },
        )?;
        tx.commit()?;
        tracing::info!(
            row_key = %doc.doc_key,
            doc_number = ?doc.doc_number,
            qbo_id = %created.id,
            kind = doc.doc_kind.entity(),
            %total,
            adopted,
            "{} {}",
            if adopted { "adopted existing" } else { "created" },
            doc.doc_kind
        );
        Ok(Recorded { sheet_rows })
    }

    /// QuickBooks refused `doc` for a reason about its data: the document and its rows
    /// failed, with `message` for the bookkeeper. Returns how many rows failed.
    pub fn refused(&self, doc: &DocRecord, message: &str, response: Option<&str>) -> Result<usize, StoreError> {
        let tx = self.store.begin()?;
        self.store.mark_failed(&doc.doc_key, message)?;
        let at = now_seconds();
        for key in &doc.row_keys {
            self.settle_row(doc, key, RowStatus::Failed, None, Some(message), &at)?;
        }
        self.audit(
            doc.kind,
            &NewAudit {
                row_key: Some(&doc.doc_key),
                doc_number: doc.doc_number.as_deref(),
                request_id: Some(&doc.request_id),
                request_json: Some(&doc.payload),
                response_json: response,
                error: Some(message),
                doc_kind: Some(doc.doc_kind),
                ..NewAudit::new(AuditEvent::Rejected, RowStatus::Failed)
            },
        )?;
        tx.commit()?;
        tracing::warn!(row_key = %doc.doc_key, doc_number = ?doc.doc_number, error = %message, "document refused");
        Ok(doc.row_keys.len())
    }

    /// Records the outcome of `doc` on one of its rows, keeping what the row's record knew of
    /// its content and place; returns where the row was last seen.
    fn settle_row(
        &self,
        doc: &DocRecord,
        key: &str,
        status: RowStatus,
        doc_number: Option<String>,
        error: Option<&str>,
        at: &str,
    ) -> Result<Option<i64>, StoreError> {
        let previous = self.store.row(key)?;
        let sheet_row = previous.as_ref().and_then(|r| r.sheet_row);
        self.store.put_row(&RowRecord {
            row_key: key.to_owned(),
            kind: doc.kind,
            doc_key: Some(doc.doc_key.clone()),
            doc_number,
            status,
            error: error.map(str::to_owned),
            content_fp: previous.as_ref().map(|r| r.content_fp.clone()).unwrap_or_default(),
            config_fp: previous.map(|r| r.config_fp).unwrap_or_default(),
            sheet_row,
            synced_at: Some(at.to_owned()),
            preview: None,
        })?;
        Ok(sheet_row)
    }

    /// A draft's rows fail before anything was sent for them (their party cannot be had), each
    /// with its own sentence (`reasons`, in the order of the draft's rows).
    pub fn draft_failed(&self, draft: &DocDraft, reasons: &[String], config_fp: &str) -> Result<(), StoreError> {
        for (row, reason) in draft.rows.iter().zip(reasons) {
            let record = RowRecord {
                row_key: row.key.clone(),
                kind: draft.kind,
                doc_key: None,
                doc_number: None,
                status: RowStatus::Failed,
                error: Some(reason.clone()),
                content_fp: row.content_fp.clone(),
                config_fp: config_fp.to_owned(),
                sheet_row: Some(row.index as i64 + 1),
                synced_at: None,
                preview: None,
            };
            self.decide(&record, Some(&draft.doc_number))?;
        }
        Ok(())
    }

    /// A send of `doc` whose outcome is unknown (`Uncertain`) or that QuickBooks could not
    /// take now (`RetryLater`): the document stays pending and the row is not blamed.
    pub fn unsettled(&self, doc: &DocRecord, event: AuditEvent, error: &str) -> Result<(), StoreError> {
        self.audit(
            doc.kind,
            &NewAudit {
                row_key: Some(&doc.doc_key),
                doc_number: doc.doc_number.as_deref(),
                request_id: Some(&doc.request_id),
                error: Some(error),
                ..NewAudit::new(event, RowStatus::Pending)
            },
        )
    }

    /// Where rows are now (key, 1-based sheet row), in one transaction: after an insert near
    /// the top every row moves, and a statement each would cost a disk flush each.
    pub fn moved<'k>(&self, positions: impl IntoIterator<Item = (&'k str, i64)>) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        for (key, sheet_row) in positions {
            self.store.set_sheet_row(key, sheet_row)?;
        }
        tx.commit()
    }

    /// A row qbsync decided about is no longer on the sheet, found neither by its anchor nor by
    /// its values (deleted, pasted over, or its anchor removed): nothing is written anywhere for
    /// it, and the audit says so, once.
    pub fn row_gone(&self, record: &RowRecord) -> Result<(), StoreError> {
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
        self.audit(
            record.kind,
            &NewAudit {
                row_key: Some(&record.row_key),
                sheet_row: record.sheet_row,
                doc_number: doc.as_ref().and_then(|d| d.doc_number.as_deref()).or(record.doc_number.as_deref()),
                qbo_id: doc.as_ref().and_then(|d| d.qbo_id.as_deref()),
                qbo_url: doc.as_ref().and_then(|d| d.qbo_url.as_deref()),
                error: Some(&message),
                ..NewAudit::new(AuditEvent::RowDeleted, record.status)
            },
        )?;
        tx.commit()
    }

    /// What a round of the payment poller learned: each document's money (its rows unsealed,
    /// to be shown by the next write-back) with an audit line, and where the change history is
    /// covered to, together. A crash before the commit leaves the window where it was, so the
    /// next round asks again.
    pub fn money(&self, round: &FollowRound) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        for change in &round.changes {
            self.money_change(change)?;
        }
        if let Some(until) = round.covered_until {
            self.store.set_payments_covered_until(until)?;
        }
        tx.commit()
    }

    /// What a read of one document outside the poller's rounds showed of its money (see
    /// [`super::autopay`]), kept as a round's would be. The poller's window is not moved.
    pub fn money_read(&self, change: &MoneyChange) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        self.money_change(change)?;
        tx.commit()
    }

    /// One document's money and its audit line, inside the caller's transaction.
    fn money_change(&self, change: &MoneyChange) -> Result<(), StoreError> {
        self.store.put_money(&change.doc_key, &change.money)?;
        let doc = self.store.document(&change.doc_key)?;
        let kind = doc.as_ref().map_or(crate::store::Kind::Invoice, |d| d.kind);
        let view = &change.money.view;
        let shown = serde_json::json!({
            "paid_status": view.status.as_str(),
            "balance": view.balance_cell(),
            "paid_at": view.paid_at_cell(),
        })
        .to_string();
        self.store.audit_append(
            kind,
            &NewAudit {
                row_key: Some(&change.doc_key),
                doc_number: doc.as_ref().and_then(|d| d.doc_number.as_deref()),
                qbo_id: Some(&change.qbo_id),
                qbo_url: doc.as_ref().and_then(|d| d.qbo_url.as_deref()),
                response_json: Some(&shown),
                ..NewAudit::new(AuditEvent::Money, RowStatus::Synced)
            },
        )?;
        tracing::info!(
            doc_key = %change.doc_key,
            qbo_id = %change.qbo_id,
            paid_status = %view.status,
            balance = %view.balance_cell(),
            "QuickBooks says the {} is {}",
            kind.as_str(),
            view.status
        );
        Ok(())
    }

    /// The write-back has projected the money of these documents onto their rows.
    pub fn money_shown(&self, doc_keys: &[String]) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        self.store.money_shown(doc_keys)?;
        tx.commit()
    }

    /// Stores seals of synced rows found in agreement with the store (see [`super::seal`]).
    pub fn seal(&self, seals: &[(&str, Seal)]) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        self.store.seal_rows(seals)?;
        tx.commit()
    }
}

/// An audit line about taking `doc` back: what every such line names (the document, the undo's
/// `requestid`, who asked and why); each event adds what it knows.
fn undo_line<'a>(doc: &'a DocRecord, undo: &'a UndoRecord, event: AuditEvent, status: RowStatus) -> NewAudit<'a> {
    NewAudit {
        row_key: Some(&doc.doc_key),
        doc_number: doc.doc_number.as_deref(),
        qbo_id: doc.qbo_id.as_deref(),
        qbo_url: doc.qbo_url.as_deref(),
        request_id: Some(&undo.request_id),
        actor: Some(&undo.actor),
        reason: Some(&undo.reason),
        doc_kind: Some(doc.doc_kind),
        ..NewAudit::new(event, status)
    }
}

/// Taking documents back (`qbsync void`): the same discipline as creating them.
impl Ledger<'_> {
    /// Records the intent to take `doc` back with `operation`, before anything is sent: the undo
    /// (with its `requestid`) and an audit line naming who asked and why. An undo recorded
    /// earlier and not refused is handed back as it is (same `requestid`), so a second run
    /// settles the first one's request rather than sending another.
    pub fn intend_undo(
        &self,
        doc: &DocRecord,
        operation: UndoOp,
        reason: &str,
        actor: &str,
    ) -> Result<UndoRecord, StoreError> {
        let seed = format!("{}|{}|{}", doc.doc_key, operation.as_str(), crate::store::now());
        let hash = hex::encode(Sha256::digest(seed.as_bytes()));
        // Same length as a create's: the key, a dash, a marker and 7 hex digits.
        let request_id = format!("{}-u{}", doc.doc_key, &hash[..7]);
        let tx = self.store.begin()?;
        if let Some(earlier) = self.store.undo(&doc.doc_key)?.filter(|u| u.state != UndoState::Refused) {
            return Ok(earlier);
        }
        let undo = self.store.record_undo(&NewUndo {
            doc_key: &doc.doc_key,
            operation,
            request_id: &request_id,
            reason,
            actor,
        })?;
        self.audit(doc.kind, &undo_line(doc, &undo, AuditEvent::UndoIntent, RowStatus::Synced))?;
        tx.commit()?;
        Ok(undo)
    }

    /// Counts one more send of a pending undo, before it leaves.
    pub fn undoing(&self, undo: &UndoRecord) -> Result<(), StoreError> {
        self.store.count_undo_attempt(&undo.doc_key)
    }

    /// QuickBooks voided or deleted `doc`: the undo done, every row of the document `voided`
    /// (keeping its number, id and link, so it is never taken for a new row) and the audit line,
    /// in one transaction. Returns the sheet rows where its rows were last seen.
    pub fn undone(&self, doc: &DocRecord, undo: &UndoRecord, response: Option<&str>) -> Result<Vec<i64>, StoreError> {
        let tx = self.store.begin()?;
        self.store.settle_undo(&doc.doc_key, UndoState::Done, None)?;
        let at = now_seconds();
        let mut sheet_rows = Vec::new();
        for key in &doc.row_keys {
            sheet_rows.extend(self.settle_row(doc, key, RowStatus::Voided, doc.doc_number.clone(), None, &at)?);
        }
        let event = match undo.operation {
            UndoOp::Void => AuditEvent::Voided,
            UndoOp::Delete => AuditEvent::Deleted,
        };
        self.audit(
            doc.kind,
            &NewAudit {
                sheet_row: sheet_rows.first().copied(),
                response_json: response,
                ..undo_line(doc, undo, event, RowStatus::Voided)
            },
        )?;
        tx.commit()?;
        tracing::info!(
            row_key = %doc.doc_key,
            doc_number = ?doc.doc_number,
            qbo_id = ?doc.qbo_id,
            actor = %undo.actor,
            "{} {} {}",
            doc.kind.as_str(),
            doc.doc_number.as_deref().unwrap_or_default(),
            if undo.operation == UndoOp::Void { "voided" } else { "deleted" }
        );
        Ok(sheet_rows)
    }

    /// `doc` is not taken back (`message` says why, e.g. a payment is applied): the undo refused,
    /// the document and its rows as they were.
    pub fn undo_refused(
        &self,
        doc: &DocRecord,
        undo: &UndoRecord,
        message: &str,
        response: Option<&str>,
    ) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        self.store.settle_undo(&doc.doc_key, UndoState::Refused, Some(message))?;
        self.audit(
            doc.kind,
            &NewAudit {
                response_json: response,
                error: Some(message),
                ..undo_line(doc, undo, AuditEvent::UndoRefused, RowStatus::Synced)
            },
        )?;
        tx.commit()?;
        tracing::warn!(row_key = %doc.doc_key, doc_number = ?doc.doc_number, error = %message, "document not taken back");
        Ok(())
    }

    /// An undo request whose outcome is unknown: it stays pending, to be settled by a re-read.
    pub fn undo_unsettled(&self, doc: &DocRecord, undo: &UndoRecord, error: &str) -> Result<(), StoreError> {
        self.audit(
            doc.kind,
            &NewAudit { error: Some(error), ..undo_line(doc, undo, AuditEvent::Uncertain, RowStatus::Synced) },
        )
    }
}

/// Paying documents (`QB_AUTO_MARK_INVOICE_PAID`, `QB_AUTO_MARK_BILL_PAID`): the same
/// discipline as creating them. The row's status stays `synced` throughout (the document is
/// unchanged); what the payment did shows in the money columns, through `doc_money`.
impl Ledger<'_> {
    /// Records the intent to pay `doc` with `payment` (`amount` on `paid_on`) before anything
    /// is sent: the payout, with the exact body and a `requestid` derived from it, and an audit
    /// line. A payout recorded earlier, whatever its state, is handed back as it is: the same
    /// body and `requestid` while it is pending, and never a second payment once settled.
    pub fn intend_payment(
        &self,
        doc: &DocRecord,
        payment: &NewPayment,
        amount: Decimal,
        paid_on: NaiveDate,
    ) -> Result<PayoutRecord, StoreError> {
        self.record_payout(doc, payment, amount, paid_on, None)
    }

    /// Decides again a payout QuickBooks refused because of its account (`held`, nothing was
    /// paid): `payment` becomes its intent, pending and never sent, with its audit line. Its
    /// `requestid` is derived from the held one's too, so it never repeats one QuickBooks has
    /// answered with a refusal (a resend of the same body would be answered from that memory).
    /// A payout that is no longer held is handed back as it is.
    pub fn renew_payment(
        &self,
        doc: &DocRecord,
        held: &PayoutRecord,
        payment: &NewPayment,
        amount: Decimal,
        paid_on: NaiveDate,
    ) -> Result<PayoutRecord, StoreError> {
        self.record_payout(doc, payment, amount, paid_on, Some(held))
    }

    fn record_payout(
        &self,
        doc: &DocRecord,
        payment: &NewPayment,
        amount: Decimal,
        paid_on: NaiveDate,
        held: Option<&PayoutRecord>,
    ) -> Result<PayoutRecord, StoreError> {
        let body =
            payment.to_body().map_err(|source| StoreError::Encode { what: "a QuickBooks payment body", source })?;
        let mut digest = Sha256::new();
        digest.update(body.as_bytes());
        if let Some(held) = held {
            digest.update(held.request_id.as_bytes());
        }
        let hash = hex::encode(digest.finalize());
        // The document's key, a dash, `p` and 7 hex digits: as long as a create's, within 36.
        let request_id = format!("{}-p{}", doc.doc_key, &hash[..7]);
        let new = NewPayout {
            doc_key: &doc.doc_key,
            kind: payment.kind(),
            request_id: &request_id,
            payload: &body,
            amount,
            paid_on,
            account_id: payment.account_id(),
        };
        let tx = self.store.begin()?;
        let payout = match (self.store.payout(&doc.doc_key)?, held) {
            (None, _) => self.store.record_payout(&new)?,
            (Some(earlier), Some(_)) if earlier.state == PayoutState::Held => self.store.renew_payout(&new)?,
            (Some(earlier), _) => return Ok(earlier),
        };
        self.audit(
            doc.kind,
            &NewAudit {
                request_json: Some(&body),
                total: Some(amount),
                ..payout_line(doc, &payout, AuditEvent::PaymentIntent)
            },
        )?;
        tx.commit()?;
        Ok(payout)
    }

    /// The rows of payments held for the account setting lose their seals, so that the pass
    /// that decides those payments again (the first of a process) sees their paid dates.
    pub fn unseal_held_payouts(&self) -> Result<(), StoreError> {
        self.store.unseal_held_payouts()
    }

    /// Counts one more send of a pending payout, before it leaves.
    pub fn paying(&self, payout: &PayoutRecord) -> Result<(), StoreError> {
        self.store.count_payout_attempt(&payout.doc_key)
    }

    /// QuickBooks holds `payment` for `payout` (its answer, or `found` by the payout's marker
    /// after an answer was lost): the payout paid, the document's money as the payment left it
    /// (`money`, shown by the next write-back) and the audit line, in one transaction.
    pub fn paid(
        &self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        payment: &PaymentState,
        money: Option<&Money>,
        found: bool,
    ) -> Result<(), StoreError> {
        let tx = self.store.begin()?;
        self.store.settle_payout(&payout.doc_key, PayoutState::Paid, Some(&payment.id), None)?;
        if let Some(money) = money {
            self.store.put_money(&doc.doc_key, money)?;
        }
        let response = payment_summary(payout, Some(&payment.id), found);
        self.audit(
            doc.kind,
            &NewAudit { response_json: Some(&response), ..payout_line(doc, payout, AuditEvent::Paid) },
        )?;
        tx.commit()?;
        tracing::info!(
            doc_key = %doc.doc_key,
            doc_number = ?doc.doc_number,
            qbo_id = ?doc.qbo_id,
            payment_id = %payment.id,
            amount = %payout.amount,
            paid_on = %payout.paid_on,
            found,
            "{} {} paid in QuickBooks by {} {}",
            doc.doc_kind,
            doc.doc_number.as_deref().unwrap_or_default(),
            payout.kind.entity(),
            payment.id
        );
        Ok(())
    }

    /// QuickBooks refused the payment (`message` says why): the payout refused, nothing paid;
    /// a person records it by hand.
    pub fn payment_refused(
        &self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        message: &str,
        response: Option<&str>,
    ) -> Result<(), StoreError> {
        self.not_paid(doc, payout, NotPaid::Refused { response }, message)?;
        tracing::warn!(doc_key = %doc.doc_key, doc_number = ?doc.doc_number, error = %message, "payment refused");
        Ok(())
    }

    /// QuickBooks refused the payment because of the account it was to go through (`message`
    /// names the setting and what is wrong with the account): the payout held, nothing paid,
    /// nothing blamed on the row; it is decided again after a restart.
    pub fn payment_held(
        &self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        message: &str,
        response: Option<&str>,
    ) -> Result<(), StoreError> {
        self.not_paid(doc, payout, NotPaid::Held { response }, message)?;
        tracing::warn!(doc_key = %doc.doc_key, doc_number = ?doc.doc_number, error = %message, "payment held for the account setting");
        Ok(())
    }

    /// Nothing is owed any more (`reason` says what QuickBooks showed): the payout settled
    /// without a payment, and the document's money as read (`money`), together.
    pub fn payment_unneeded(
        &self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        reason: &str,
        money: Option<&Money>,
    ) -> Result<(), StoreError> {
        self.not_paid(doc, payout, NotPaid::Unneeded { money }, reason)?;
        tracing::info!(doc_key = %doc.doc_key, doc_number = ?doc.doc_number, %reason, "no payment needed");
        Ok(())
    }

    /// Settles a payout without a payment, with its audit line, in one transaction.
    fn not_paid(
        &self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        outcome: NotPaid<'_>,
        message: &str,
    ) -> Result<(), StoreError> {
        let summary = payment_summary(payout, None, false);
        let (state, event, response) = match outcome {
            NotPaid::Refused { response } => (PayoutState::Refused, AuditEvent::PaymentRefused, response),
            NotPaid::Held { response } => (PayoutState::Held, AuditEvent::PaymentHeld, response),
            NotPaid::Unneeded { .. } => (PayoutState::Unneeded, AuditEvent::PaymentUnneeded, None),
        };
        let tx = self.store.begin()?;
        self.store.settle_payout(&payout.doc_key, state, None, Some(message))?;
        if let NotPaid::Unneeded { money: Some(money) } = outcome {
            self.store.put_money(&doc.doc_key, money)?;
        }
        self.audit(
            doc.kind,
            &NewAudit {
                response_json: Some(response.unwrap_or(&summary)),
                error: Some(message),
                ..payout_line(doc, payout, event)
            },
        )?;
        tx.commit()
    }

    /// A payment send whose outcome is unknown (`Uncertain`) or that QuickBooks could not take
    /// now (`RetryLater`): the payout stays pending, to be looked up before any resend.
    pub fn payment_unsettled(
        &self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        event: AuditEvent,
        error: &str,
    ) -> Result<(), StoreError> {
        self.audit(doc.kind, &NewAudit { request_json: None, error: Some(error), ..payout_line(doc, payout, event) })
    }
}

/// An audit line about paying `doc` through `payout`: the document, the payment's `requestid`,
/// body and amount; each event adds what it knows. The row stays `synced`: a payment changes
/// the document's money, not whether the row was sent.
fn payout_line<'a>(doc: &'a DocRecord, payout: &'a PayoutRecord, event: AuditEvent) -> NewAudit<'a> {
    NewAudit {
        row_key: Some(&doc.doc_key),
        doc_number: doc.doc_number.as_deref(),
        qbo_id: doc.qbo_id.as_deref(),
        qbo_url: doc.qbo_url.as_deref(),
        request_id: Some(&payout.request_id),
        request_json: Some(&payout.payload),
        doc_kind: Some(doc.doc_kind),
        total: Some(payout.amount),
        ..NewAudit::new(event, RowStatus::Synced)
    }
}

/// Why a payout ends without a payment.
#[derive(Clone, Copy)]
enum NotPaid<'a> {
    /// QuickBooks refused it for the document (`response`, its answer).
    Refused { response: Option<&'a str> },
    /// QuickBooks refused it because of the payment account (`response`, its answer).
    Held { response: Option<&'a str> },
    /// Nothing was owed any more; `money` is the document's money as last read.
    Unneeded { money: Option<&'a Money> },
}

/// What the audit's `response_json` says of a payout: kind, amount, date, the payment's id.
fn payment_summary(payout: &PayoutRecord, payment_id: Option<&str>, found: bool) -> String {
    serde_json::json!({
        "payment_kind": payout.kind.entity(),
        "payment_id": payment_id,
        "amount": payout.amount.to_string(),
        "paid_on": payout.paid_on.format("%Y-%m-%d").to_string(),
        "found_by_marker": found,
    })
    .to_string()
}

fn now_seconds() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;
    use rust_decimal::Decimal;

    use super::*;
    use crate::qbo::{DocKind, NewInvoice, SalesLine};
    use crate::store::PayoutState;
    use crate::store::{AuditQuery, DocState, Kind};
    use crate::sync::draft::{DraftLine, DraftRow};

    fn draft_of(key: &str, rows: &[(&str, u32)]) -> DocDraft {
        DocDraft {
            doc_key: key.into(),
            kind: Kind::Invoice,
            doc_kind: DocKind::Invoice,
            doc_number: "ACD-1".into(),
            party: "Globex Corporation".into(),
            txn_date: NaiveDate::from_ymd_opt(2025, 11, 5).unwrap(),
            due_date: None,
            private_note: None,
            lines: vec![DraftLine { amount: Decimal::new(12_345, 2), description: None, tax_code: None }],
            rows: rows
                .iter()
                .map(|(k, i)| DraftRow { key: (*k).into(), index: *i, content_fp: format!("fp-{k}") })
                .collect(),
        }
    }

    /// Document `d1` of `rows`, created in QuickBooks as 130, as the store now holds it.
    fn created_document(ledger: &Ledger<'_>, store: &Store, rows: &[(&str, u32)]) -> DocRecord {
        let draft = draft_of("d1", rows);
        let doc = ledger.intend(&draft, &payload(&draft), "58", "cfg").unwrap();
        ledger.created(&doc, &created("130"), "https://q/130", false).unwrap();
        store.document("d1").unwrap().unwrap()
    }

    fn payload(draft: &DocDraft) -> NewDoc {
        NewDoc::Invoice(NewInvoice {
            doc_number: Some(draft.doc_number.clone()),
            txn_date: draft.txn_date,
            due_date: None,
            customer_id: "58".into(),
            private_note: None,
            lines: vec![SalesLine {
                amount: draft.total(),
                description: None,
                item_id: "1".into(),
                qty: Decimal::ONE,
                unit_price: draft.total(),
            }],
        })
    }

    fn created(id: &str) -> Doc {
        let raw = serde_json::json!({"Id": id, "SyncToken": "0", "DocNumber": "ACD-1", "CustomerRef": {"value": "58"}, "TotalAmt": 123.45});
        Doc::from_entity(DocKind::Invoice, &raw).unwrap()
    }

    fn events(store: &Store) -> Vec<String> {
        store.audit(&AuditQuery::default()).unwrap().into_iter().map(|e| format!("{} {}", e.event, e.status)).collect()
    }

    #[test]
    fn an_intent_records_the_document_its_rows_and_one_audit_line_and_is_handed_back_unchanged_later() {
        let store = Store::in_memory().unwrap();
        let ledger = Ledger::new(&store);
        let draft = draft_of("d1", &[("r1", 4), ("r2", 5)]);
        let doc = ledger.intend(&draft, &payload(&draft), "58", "cfg").unwrap();
        assert_eq!(
            (doc.state, doc.total, doc.row_keys.clone()),
            (DocState::Pending, Decimal::new(12_345, 2), vec!["r1".into(), "r2".into()])
        );
        assert!(doc.request_id.starts_with("d1-") && doc.request_id.len() == 11, "{}", doc.request_id);
        for key in ["r1", "r2"] {
            let row = store.row(key).unwrap().unwrap();
            assert_eq!((row.status, row.doc_key.as_deref()), (RowStatus::Pending, Some("d1")));
        }
        assert_eq!(events(&store), ["intent pending"]);
        // A later pass hands back the same intent: same body, same requestid, no new audit line.
        let again = ledger.intend(&draft, &payload(&draft), "58", "cfg").unwrap();
        assert_eq!(again, doc);
        assert_eq!(events(&store).len(), 1);
    }

    #[test]
    fn an_outcome_settles_the_document_and_every_row_together() {
        let store = Store::in_memory().unwrap();
        let ledger = Ledger::new(&store);
        let draft = draft_of("d1", &[("r1", 4), ("r2", 5)]);
        let doc = ledger.intend(&draft, &payload(&draft), "58", "cfg").unwrap();
        let recorded = ledger.created(&doc, &created("130"), "https://q/130", false).unwrap();
        assert_eq!(recorded.sheet_rows, [5, 6]);
        let stored = store.document("d1").unwrap().unwrap();
        assert_eq!((stored.state, stored.qbo_id.as_deref()), (DocState::Created, Some("130")));
        for key in ["r1", "r2"] {
            let row = store.row(key).unwrap().unwrap();
            assert_eq!(row.status, RowStatus::Synced);
            assert_eq!(row.content_fp, format!("fp-{key}"), "what the record knew of the row is kept");
        }
        assert_eq!(events(&store), ["intent pending", "created synced"]);

        // A refusal fails the document and its rows, with the sentence on each row.
        let other = draft_of("d2", &[("r3", 7)]);
        let doc = ledger.intend(&other, &payload(&other), "58", "cfg").unwrap();
        assert_eq!(ledger.refused(&doc, "the customer is inactive", None).unwrap(), 1);
        let row = store.row("r3").unwrap().unwrap();
        assert_eq!((row.status, row.error.as_deref()), (RowStatus::Failed, Some("the customer is inactive")));
        assert_eq!(store.document("d2").unwrap().unwrap().state, DocState::Failed);
        // A corrected document is a new intent, with a new requestid.
        let retried = ledger.intend(&other, &payload(&other), "58", "cfg-2").unwrap();
        assert_eq!(retried.state, DocState::Pending);
        assert_eq!(store.row("r3").unwrap().unwrap().status, RowStatus::Pending);
    }

    #[test]
    fn a_pass_names_itself_on_every_audit_line_it_writes() {
        let store = Store::in_memory().unwrap();
        let ledger = Ledger::in_pass(&store, "20251105-142301.123");
        let draft = draft_of("d1", &[("r1", 4)]);
        let doc = ledger.intend(&draft, &payload(&draft), "58", "cfg").unwrap();
        ledger.created(&doc, &created("130"), "https://q/130", false).unwrap();
        let lines = store.audit(&AuditQuery::default()).unwrap();
        assert!(lines.iter().all(|l| l.pass_id.as_deref() == Some("20251105-142301.123")), "{lines:?}");
        assert_eq!(store.documents_of_pass("20251105-142301.123").unwrap(), ["d1"]);
        assert!(store.documents_of_pass("another").unwrap().is_empty());
    }

    #[test]
    fn an_undo_is_recorded_before_it_is_sent_and_settles_every_row_of_its_document_together() {
        let store = Store::in_memory().unwrap();
        let ledger = Ledger::new(&store);
        let doc = created_document(&ledger, &store, &[("r1", 4), ("r2", 5)]);

        let undo = ledger.intend_undo(&doc, UndoOp::Void, "wrong customer", "alice").unwrap();
        assert_eq!(undo.state, UndoState::Pending);
        assert!(undo.request_id.starts_with("d1-u") && undo.request_id.len() == 11, "{}", undo.request_id);
        // Asked again before it is settled: the same undo, the same requestid, no new line.
        assert_eq!(ledger.intend_undo(&doc, UndoOp::Void, "again", "bob").unwrap(), undo);
        assert_eq!(store.row("r1").unwrap().unwrap().status, RowStatus::Synced, "nothing changes before the answer");

        assert_eq!(ledger.undone(&doc, &undo, None).unwrap(), [5, 6]);
        assert_eq!(store.undo("d1").unwrap().unwrap().state, UndoState::Done);
        for key in ["r1", "r2"] {
            let row = store.row(key).unwrap().unwrap();
            assert_eq!((row.status, row.doc_number.as_deref()), (RowStatus::Voided, Some("ACD-1")));
        }
        let lines = store.audit(&AuditQuery::default()).unwrap();
        let voided = lines.last().unwrap();
        assert_eq!((voided.event.as_str(), voided.status.as_str()), ("voided", "voided"));
        assert_eq!((voided.actor.as_deref(), voided.reason.as_deref()), (Some("alice"), Some("wrong customer")));
        assert_eq!(events(&store), ["intent pending", "created synced", "void-intent synced", "voided voided"]);
    }

    #[test]
    fn a_refused_undo_leaves_the_rows_synced_and_a_later_one_gets_a_new_requestid() {
        let store = Store::in_memory().unwrap();
        let ledger = Ledger::new(&store);
        let doc = created_document(&ledger, &store, &[("r1", 4)]);
        let first = ledger.intend_undo(&doc, UndoOp::Void, "why", "alice").unwrap();
        ledger.undo_refused(&doc, &first, "a payment is applied", None).unwrap();
        assert_eq!(store.row("r1").unwrap().unwrap().status, RowStatus::Synced);
        assert_eq!(store.undo("d1").unwrap().unwrap().state, UndoState::Refused);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = ledger.intend_undo(&doc, UndoOp::Void, "why", "alice").unwrap();
        assert_eq!(second.state, UndoState::Pending);
        assert_ne!(second.request_id, first.request_id, "a replayed requestid would replay the refusal");
    }

    #[test]
    fn a_payment_is_recorded_before_it_is_sent_once_per_document_and_settled_with_its_audit_line() {
        let store = Store::in_memory().unwrap();
        let ledger = Ledger::new(&store);
        let doc = created_document(&ledger, &store, &[("r1", 4)]);
        let day = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let amount = Decimal::new(12_345, 2);
        let payment = NewPayment::Invoice {
            customer_id: "58".into(),
            invoice_id: "130".into(),
            amount,
            txn_date: day,
            deposit_account_id: Some("35".into()),
            private_note: Some("[qbsync d1]".into()),
        };
        let payout = ledger.intend_payment(&doc, &payment, amount, day).unwrap();
        assert_eq!(
            (payout.state, payout.amount, payout.payload.clone()),
            (PayoutState::Pending, amount, payment.to_body().unwrap())
        );
        assert!(payout.request_id.starts_with("d1-p") && payout.request_id.len() == 11, "{}", payout.request_id);
        // Decided again (another date, another amount): the payout recorded first, nothing new.
        let later = NaiveDate::from_ymd_opt(2026, 4, 1).unwrap();
        assert_eq!(ledger.intend_payment(&doc, &payment, Decimal::ONE, later).unwrap(), payout);

        let answer = serde_json::json!({"Id": "163", "TotalAmt": 123.45, "TxnDate": "2026-03-04",
            "Line": [{"Amount": 123.45, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}]});
        let paid = PaymentState::from_entity(crate::qbo::PaymentKind::Payment, &answer).unwrap();
        ledger.paid(&doc, &payout, &paid, None, false).unwrap();
        let settled = store.payout("d1").unwrap().unwrap();
        assert_eq!((settled.state, settled.qbo_id.as_deref()), (PayoutState::Paid, Some("163")));
        assert_eq!(store.row("r1").unwrap().unwrap().status, RowStatus::Synced, "the row is unchanged");
        assert_eq!(events(&store), ["intent pending", "created synced", "payment-intent synced", "paid synced"]);
    }

    #[test]
    fn an_unsettled_send_leaves_the_document_pending_and_the_row_unblamed() {
        let store = Store::in_memory().unwrap();
        let ledger = Ledger::new(&store);
        let draft = draft_of("d1", &[("r1", 4)]);
        let doc = ledger.intend(&draft, &payload(&draft), "58", "cfg").unwrap();
        ledger.unsettled(&doc, AuditEvent::RetryLater, "QuickBooks answered 503").unwrap();
        assert_eq!(store.document("d1").unwrap().unwrap().state, DocState::Pending);
        assert_eq!(store.row("r1").unwrap().unwrap().status, RowStatus::Pending);
        assert_eq!(events(&store), ["intent pending", "retry-later pending"]);
    }
}
