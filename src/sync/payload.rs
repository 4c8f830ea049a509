//! What QuickBooks is sent, and how a document found there is recognised as qbsync's own.
//!
//! Pure: a draft, the policy and the company's tax plan in, a request body out. The body is
//! recorded with the intent before the first send and every resend is byte for byte that body,
//! so nothing here may depend on the moment it runs.
//!
//! The amounts are the sheet's, exactly: tax is named per line (`TaxCodeRef`) and, outside the
//! US, whether the amounts include it (`GlobalTaxCalculation`); QuickBooks computes the tax. A
//! credit's lines are positive like every other document's: its kind carries the sign.

use sha2::{Digest, Sha256};

use crate::qbo::{
    Doc, DocKind, DocTaxError, ExpenseLine, InvalidRequestId, NewBill, NewDoc, NewInvoice, PartyKind, RequestId,
    SalesLine, TaxPlan, TaxShapeError,
};
use crate::store::{DocRecord, Kind};

use super::draft::{DocDraft, note_has_marker, note_with_marker};
use super::policy::Policy;

/// Why a draft cannot be built: a fault of its rows, which fail with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unbuildable {
    /// The tax code of the draft's line `line` (its row's `tax_code` cell, or the default) is
    /// not one the company takes.
    #[error("{error}")]
    Tax { line: usize, error: DocTaxError },
    #[error("{0}")]
    Shape(TaxShapeError),
}

/// The QuickBooks payload of a draft whose party QuickBooks knows as `party_id`, taxed as the
/// company's `tax` plan says.
pub fn build(draft: &DocDraft, party_id: &str, policy: &Policy, tax: &TaxPlan) -> Result<NewDoc, Unbuildable> {
    // Each line's own code first, so that a refusal names the row whose cell is wrong.
    for (line, row) in draft.lines.iter().enumerate() {
        if let Some(code) = row.tax_code.as_deref() {
            tax.doc_tax(draft.doc_kind, &[Some(code)]).map_err(|error| Unbuildable::Tax { line, error })?;
        }
    }
    let overrides: Vec<Option<&str>> = draft.lines.iter().map(|l| l.tax_code.as_deref()).collect();
    let doc_tax = tax.doc_tax(draft.doc_kind, &overrides).map_err(|error| Unbuildable::Tax { line: 0, error })?;
    untaxed(draft, party_id, policy).with_tax(doc_tax).map_err(Unbuildable::Shape)
}

/// The document without tax: amounts, party, dates, note.
fn untaxed(draft: &DocDraft, party_id: &str, policy: &Policy) -> NewDoc {
    let note = Some(note_with_marker(draft.private_note.as_deref(), &draft.doc_key));
    let document = match draft.kind {
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
    };
    if draft.doc_kind.is_credit() { document.into_credit() } else { document }
}

/// Whether a document found in QuickBooks is the one a pending intent meant to create: it
/// carries the intent's marker, or (for documents whose note was edited in QuickBooks) the same
/// party and total — the total sent, which is QuickBooks' total without any tax it added.
pub fn is_ours(found: &Doc, doc: &DocRecord) -> bool {
    let note = found.raw.get("PrivateNote").and_then(|n| n.as_str()).unwrap_or_default();
    let same_total = found.total == doc.total || found.total - found.total_tax == doc.total;
    note_has_marker(note, &doc.doc_key) || (found.party_id == doc.party_id && same_total)
}

/// A batch ready to send: its items (`bId`, kind, body) and its `requestid`.
pub struct BatchRequest {
    pub items: Vec<(String, DocKind, String)>,
    pub request_id: RequestId,
}

/// The items of a batch (`bId` = `b` + position) and its `requestid`, derived from the
/// documents' own requestids so that a resend of the same documents is the same batch.
pub fn batch_request(chunk: &[DocRecord]) -> Result<BatchRequest, InvalidRequestId> {
    let items = chunk.iter().enumerate().map(|(i, doc)| (bid(i), doc.doc_kind, doc.payload.clone())).collect();
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
            doc_kind: DocKind::Invoice,
            doc_number: Some("ACD-1".into()),
            request_id: request_id.into(),
            payload_hash: String::new(),
            payload: "{}".into(),
            party_id: "58".into(),
            total: Decimal::new(12_345, 2),
            qbo_total: None,
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

    fn uk_plan(inclusive: bool) -> TaxPlan {
        let code = |id: &str, name: &str| {
            crate::qbo::TaxCode::from_entity(&serde_json::json!({"Id": id, "Name": name, "Active": true})).unwrap()
        };
        let setup = crate::qbo::TaxSetup {
            country: crate::qbo::Country::UnitedKingdom,
            using_sales_tax: Some(true),
            partner_tax_enabled: None,
            codes: vec![code("2", "20.0% S"), code("6", "No VAT")],
        };
        let config = crate::qbo::TaxConfig {
            sales_code: Some("20.0% S".parse().unwrap()),
            purchase_code: Some("2".parse().unwrap()),
            amounts_include_tax: inclusive,
        };
        setup.plan(&config, true).unwrap()
    }

    fn draft(kind: Kind, doc_kind: DocKind, codes: &[Option<&str>]) -> DocDraft {
        DocDraft {
            doc_key: "k1".into(),
            kind,
            doc_kind,
            doc_number: "N-1".into(),
            party: "Globex".into(),
            txn_date: chrono::NaiveDate::from_ymd_opt(2025, 11, 5).unwrap(),
            due_date: chrono::NaiveDate::from_ymd_opt(2025, 12, 5),
            private_note: None,
            lines: codes
                .iter()
                .map(|code| crate::sync::draft::DraftLine {
                    amount: Decimal::new(1_050, 2),
                    description: None,
                    tax_code: code.map(str::to_owned),
                })
                .collect(),
            rows: Vec::new(),
        }
    }

    fn policy() -> Policy {
        crate::sync::plan::tests::policy()
    }

    #[test]
    fn outside_the_us_every_line_names_its_code_and_the_document_says_how_amounts_are_meant() {
        let doc =
            build(&draft(Kind::Invoice, DocKind::Invoice, &[None, Some("no vat")]), "58", &policy(), &uk_plan(true))
                .unwrap();
        let body: serde_json::Value = serde_json::from_str(&doc.to_body().unwrap()).unwrap();
        assert_eq!(body["GlobalTaxCalculation"], "TaxInclusive");
        let codes: Vec<&str> = body["Line"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["SalesItemLineDetail"]["TaxCodeRef"]["value"].as_str().unwrap())
            .collect();
        assert_eq!(codes, ["2", "6"]);
        assert!(doc.to_body().unwrap().contains(r#""Amount":10.50"#), "the sheet's amount, exactly");
    }

    #[test]
    fn a_refused_code_names_the_line_it_came_from() {
        let refused = build(&draft(Kind::Bill, DocKind::Bill, &[None, Some("17.5%")]), "9", &policy(), &uk_plan(false));
        assert!(matches!(refused, Err(Unbuildable::Tax { line: 1, .. })), "{refused:?}");
    }

    #[test]
    fn a_credit_is_sent_as_a_credit_memo_with_positive_amounts_and_no_due_date() {
        let doc = build(&draft(Kind::Invoice, DocKind::CreditMemo, &[None]), "58", &policy(), &uk_plan(false)).unwrap();
        assert_eq!(doc.kind(), DocKind::CreditMemo);
        let body: serde_json::Value = serde_json::from_str(&doc.to_body().unwrap()).unwrap();
        assert_eq!(body["Line"][0]["Amount"], serde_json::json!(10.5));
        assert!(body.get("DueDate").is_none(), "{body}");
        assert_eq!(body["GlobalTaxCalculation"], "TaxExcluded");
    }

    #[test]
    fn a_document_found_with_tax_added_is_ours_by_its_total_before_tax() {
        let doc = record("k1", "k1-00000000");
        let raw = serde_json::json!({"Id": "9", "PrivateNote": "rewritten", "CustomerRef": {"value": "58"},
            "TotalAmt": 148.14, "TxnTaxDetail": {"TotalTax": 24.69}});
        assert!(is_ours(&Doc::from_entity(DocKind::Invoice, &raw).unwrap(), &doc));
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
