//! What QuickBooks is sent, and how a document found there is recognised as qbsync's own.
//!
//! Pure: a draft and the policy in, a request body out. The body is recorded with the intent
//! before the first send and every resend is byte for byte that body, so nothing here may
//! depend on the moment it runs.

use sha2::{Digest, Sha256};

use crate::qbo::{
    Doc, DocKind, ExpenseLine, InvalidRequestId, NewBill, NewDoc, NewInvoice, PartyKind, RequestId, SalesLine,
};
use crate::store::{DocRecord, Kind};

use super::draft::{DocDraft, note_has_marker, note_with_marker};
use super::policy::Policy;

/// The QuickBooks payload of a draft whose party QuickBooks knows as `party_id`.
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
pub fn is_ours(found: &Doc, doc: &DocRecord) -> bool {
    let note = found.raw.get("PrivateNote").and_then(|n| n.as_str()).unwrap_or_default();
    note_has_marker(note, &doc.doc_key) || (found.party_id == doc.party_id && found.total == doc.total)
}

/// A batch ready to send: its items (`bId`, kind, body) and its `requestid`.
pub struct BatchRequest {
    pub items: Vec<(String, DocKind, String)>,
    pub request_id: RequestId,
}

/// The items of a batch (`bId` = `b` + position) and its `requestid`, derived from the
/// documents' own requestids so that a resend of the same documents is the same batch.
pub fn batch_request(chunk: &[DocRecord]) -> Result<BatchRequest, InvalidRequestId> {
    let items = chunk.iter().enumerate().map(|(i, doc)| (bid(i), doc_kind(doc.kind), doc.payload.clone())).collect();
    let batch_hash = hex::encode(Sha256::digest(
        chunk.iter().map(|d| d.request_id.as_str()).collect::<Vec<_>>().join(",").as_bytes(),
    ));
    let request_id = RequestId::parse(&format!("batch-{}", &batch_hash[..24]))?;
    Ok(BatchRequest { items, request_id })
}

/// The `bId` of the document at `position` in its batch.
pub fn bid(position: usize) -> String {
    format!("b{position}")
}

pub fn doc_kind(kind: Kind) -> DocKind {
    match kind {
        Kind::Invoice => DocKind::Invoice,
        Kind::Bill => DocKind::Bill,
    }
}

pub fn party_kind(kind: Kind) -> PartyKind {
    match kind {
        Kind::Invoice => PartyKind::Customer,
        Kind::Bill => PartyKind::Vendor,
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::store::{DocRecord, DocState};

    fn record(key: &str, request_id: &str) -> DocRecord {
        DocRecord {
            doc_key: key.into(),
            kind: Kind::Invoice,
            doc_number: Some("ACD-1".into()),
            request_id: request_id.into(),
            payload_hash: String::new(),
            payload: "{}".into(),
            party_id: "58".into(),
            total: Decimal::new(12_345, 2),
            state: DocState::Pending,
            qbo_id: None,
            qbo_url: None,
            error: None,
            attempts: 0,
            row_keys: vec![key.into()],
        }
    }

    fn found(note: &str, party: &str, total: f64) -> Doc {
        let raw =
            serde_json::json!({"Id": "9", "PrivateNote": note, "CustomerRef": {"value": party}, "TotalAmt": total});
        Doc::from_entity(DocKind::Invoice, &raw).unwrap()
    }

    #[test]
    fn a_document_is_ours_by_its_marker_or_by_the_same_party_and_total() {
        let doc = record("k1", "k1-00000000");
        assert!(is_ours(&found(&note_with_marker(Some("edited"), "k1"), "77", 1.0), &doc), "the marker decides");
        assert!(is_ours(&found("note rewritten in QuickBooks", "58", 123.45), &doc), "same party and total");
        assert!(!is_ours(&found("someone else's", "58", 123.46), &doc), "a cent apart is another document");
        assert!(!is_ours(&found(&note_with_marker(None, "k2"), "77", 123.45), &doc));
    }

    #[test]
    fn a_resend_of_the_same_documents_is_the_same_batch() {
        let chunk = [record("k1", "k1-aaaaaaaa"), record("k2", "k2-bbbbbbbb")];
        let first = batch_request(&chunk).unwrap();
        let again = batch_request(&chunk).unwrap();
        assert_eq!(first.request_id, again.request_id);
        assert_eq!(first.items.iter().map(|(bid, _, _)| bid.as_str()).collect::<Vec<_>>(), ["b0", "b1"]);
        let other = batch_request(&[record("k1", "k1-aaaaaaaa")]).unwrap();
        assert_ne!(other.request_id, first.request_id);
    }
}
