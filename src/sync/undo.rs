//! Taking back documents qbsync created (`qbsync void`).
//!
//! Not a stage of a pass: a person asks for it, by document number, sheet row or pass. It
//! keeps the discipline of every other write, though: the undo is recorded (with its
//! `requestid`) before the request leaves, and every attempt starts from a fresh read of the
//! document, which settles an earlier request whose answer was lost (already voided, or gone)
//! and shows a payment applied since (then nothing is sent: a paid document is a person's
//! call, reference §2.2). An invoice is voided; a bill is deleted, since QuickBooks has no
//! void for bills through the API. Every change of state goes through the [`Ledger`].
//!
//! The sheet is not written here: the projection is the one writer of qbsync's cells, and the
//! next pass shows `voided` on the rows (its idle check expects it, see
//! [`super::plan::AttentionCheck::expecting`]). So a void needs no Google access, and a crash
//! after it cannot leave a row saying something the store does not.

use crate::qbo::{DocKind, QboClient, QboError, RequestId};
use crate::store::{DocRecord, DocState, Store, StoreError, UndoOp, UndoRecord, UndoState};

use super::ledger::Ledger;

/// Which documents to take back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// The document with this number (as on the sheet, with or without the configured prefix).
    Doc(String),
    /// The document of the row qbsync last saw at this 1-based sheet row.
    Row(i64),
    /// Every document one pass created (its id is in `qbsync audit`).
    Pass(String),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Doc(number) => write!(f, "document number {number}"),
            Target::Row(row) => write!(f, "sheet row {row}"),
            Target::Pass(pass) => write!(f, "pass {pass}"),
        }
    }
}

/// Why nothing can be taken back for a target.
#[derive(Debug, thiserror::Error)]
pub enum UndoError {
    #[error("qbsync created no document for {0}")]
    NothingCreated(Target),
    #[error("every document of {0} is already voided (or deleted)")]
    AlreadyUndone(Target),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A document to take back, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Undoable {
    pub doc: DocRecord,
    pub operation: UndoOp,
}

/// How QuickBooks takes back a document of `kind`.
pub fn operation(kind: DocKind) -> UndoOp {
    match kind {
        DocKind::Invoice => UndoOp::Void,
        // QuickBooks has no void for bills through the API (reference §2.2), and documents none
        // for credits (their reference pages list delete): the pessimistic reading deletes.
        DocKind::Bill | DocKind::CreditMemo | DocKind::VendorCredit => UndoOp::Delete,
    }
}

/// What happened to one document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Voided or deleted (now, or by an earlier request whose answer was lost).
    Done(UndoOp),
    /// Not taken back, for the reason given (a payment is applied, QuickBooks refused).
    Refused(String),
    /// Not known: the undo stays pending and the next `qbsync void` settles it first.
    Uncertain(String),
}

/// The documents qbsync created for `target` and has not taken back, in the order they were
/// created. `prefix` is the configured document number prefix.
pub fn select(store: &Store, target: &Target, prefix: &str) -> Result<Vec<Undoable>, UndoError> {
    let keys: Vec<String> = match target {
        Target::Doc(number) => {
            let mut docs = store.documents_for_planning_by_number(number)?;
            if docs.is_empty() && !prefix.is_empty() {
                docs = store.documents_for_planning_by_number(&format!("{prefix}{number}"))?;
            }
            docs.into_iter().map(|d| d.doc_key).collect()
        }
        Target::Row(row) => {
            store.all_rows()?.into_iter().filter(|r| r.sheet_row == Some(*row)).filter_map(|r| r.doc_key).collect()
        }
        Target::Pass(pass) => store.documents_of_pass(pass)?,
    };
    let mut created = Vec::new();
    for key in keys {
        if let Some(doc) = store.document(&key)?.filter(|d| d.state == DocState::Created && d.qbo_id.is_some())
            && !created.iter().any(|c: &DocRecord| c.doc_key == doc.doc_key)
        {
            created.push(doc);
        }
    }
    if created.is_empty() {
        return Err(UndoError::NothingCreated(target.clone()));
    }
    let mut undoable = Vec::new();
    for doc in created {
        if store.undo(&doc.doc_key)?.is_none_or(|u| u.state != UndoState::Done) {
            undoable.push(Undoable { operation: operation(doc.doc_kind), doc });
        }
    }
    if undoable.is_empty() {
        return Err(UndoError::AlreadyUndone(target.clone()));
    }
    Ok(undoable)
}

/// Takes `item` back: records the intent (who asked, why), then settles it.
pub async fn take_back(
    store: &Store,
    qbo: &QboClient,
    item: &Undoable,
    reason: &str,
    actor: &str,
) -> Result<Outcome, StoreError> {
    let undo = Ledger::new(store).intend_undo(&item.doc, item.operation, reason, actor)?;
    settle(store, qbo, &item.doc, &undo).await
}

/// Settles the undos an earlier run left pending (it stopped, or the answer was lost), each
/// with its own `requestid`; returns each with its outcome.
pub async fn settle_pending(store: &Store, qbo: &QboClient) -> Result<Vec<(DocRecord, Outcome)>, StoreError> {
    let mut settled = Vec::new();
    for undo in store.pending_undos()? {
        if let Some(doc) = store.document(&undo.doc_key)? {
            let outcome = settle(store, qbo, &doc, &undo).await?;
            settled.push((doc, outcome));
        }
    }
    Ok(settled)
}

/// Brings a pending undo to its outcome. A stale `SyncToken` (5010: a payment or a person
/// changed the document meanwhile) is read again and checked again once before giving up.
async fn settle(store: &Store, qbo: &QboClient, doc: &DocRecord, undo: &UndoRecord) -> Result<Outcome, StoreError> {
    let ledger = Ledger::new(store);
    let kind = doc.doc_kind;
    let id = doc.qbo_id.clone().unwrap_or_default();
    let request_id = match RequestId::parse(&undo.request_id) {
        Ok(request_id) => request_id,
        Err(error) => return Ok(Outcome::Uncertain(format!("the recorded requestid cannot be sent: {error}"))),
    };
    for _ in 0..2 {
        let now = match qbo.docs_by_ids(kind, std::slice::from_ref(&id)).await {
            Ok(found) => found.into_iter().find(|d| d.id == id),
            Err(error) => return unsettled(&ledger, doc, undo, &error),
        };
        let Some(now) = now else {
            // Gone from QuickBooks: deleted by this undo's own request whose answer was lost,
            // or by a person. Either way nothing is left to take back.
            ledger.undone(doc, undo, None)?;
            return Ok(Outcome::Done(undo.operation));
        };
        if now.voided {
            ledger.undone(doc, undo, None)?;
            return Ok(Outcome::Done(undo.operation));
        }
        if now.has_payments() {
            let payments: Vec<String> = now.payments.iter().map(|p| format!("{} {}", p.kind.entity(), p.id)).collect();
            let message = format!(
                "{} {} has a payment applied in QuickBooks ({}); qbsync does not void or delete a paid document: remove the payment in QuickBooks first if the document must go",
                doc.doc_kind,
                doc.doc_number.as_deref().unwrap_or(&id),
                payments.join(", ")
            );
            ledger.undo_refused(doc, undo, &message, None)?;
            return Ok(Outcome::Refused(message));
        }
        ledger.undoing(undo)?;
        let sent = match undo.operation {
            UndoOp::Void => qbo.void_invoice(&id, &now.sync_token, &request_id).await.map(drop),
            UndoOp::Delete => qbo.delete(kind, &id, &now.sync_token, &request_id).await,
        };
        match sent {
            Ok(()) => {
                ledger.undone(doc, undo, None)?;
                return Ok(Outcome::Done(undo.operation));
            }
            Err(QboError::Rejected { faults }) if faults.iter().any(|f| f.code == "5010") => continue,
            Err(error @ QboError::Rejected { .. }) => {
                let message = error.for_bookkeeper();
                ledger.undo_refused(doc, undo, &message, None)?;
                return Ok(Outcome::Refused(message));
            }
            Err(error) => return unsettled(&ledger, doc, undo, &error),
        }
    }
    let message = "QuickBooks kept answering that the document changed meanwhile (5010); try again".to_owned();
    ledger.undo_unsettled(doc, undo, &message)?;
    Ok(Outcome::Uncertain(message))
}

fn unsettled(ledger: &Ledger<'_>, doc: &DocRecord, undo: &UndoRecord, error: &QboError) -> Result<Outcome, StoreError> {
    let message = error.to_string();
    ledger.undo_unsettled(doc, undo, &message)?;
    Ok(Outcome::Uncertain(message))
}
