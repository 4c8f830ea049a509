//! Taking back a document: voiding an invoice, deleting a bill (or an invoice).
//!
//! QuickBooks voids invoices (`?operation=void`: kept, every amount zeroed, `Voided` prepended
//! to the note) but has no void for bills through the API, so a bill is deleted
//! (`?operation=delete`; reference §2.1, §2.2). Both need the current `SyncToken` (5010 when
//! stale: re-read, re-check, retry once). A document with a payment applied must never reach
//! these calls: qbsync hands it to a person instead (check [`super::DocState::has_payments`]
//! on a fresh read first). Both are writes with a `requestid`, like creates.

use reqwest::Method;
use serde_json::json;

use super::client::{Call, QboClient};
use super::error::{Op, QboError};
use super::ledger::DocState;
use super::model::DocKind;
use super::pacing::Lane;
use super::request_id::RequestId;

impl QboClient {
    /// Voids an invoice; answers it as voided (zeroed, next SyncToken).
    pub async fn void_invoice(&self, id: &str, sync_token: &str, request_id: &RequestId) -> Result<DocState, QboError> {
        let answer = self.change(DocKind::Invoice, "void", id, sync_token, request_id).await?;
        let read = answer.get("Invoice").and_then(|e| DocState::from_entity(DocKind::Invoice, e).ok());
        self.created(read, || "QuickBooks answered the invoice void without a readable Invoice".into())
    }

    /// Deletes an invoice or bill. Done when QuickBooks answers `"status": "Deleted"`.
    pub async fn delete(
        &self,
        kind: DocKind,
        id: &str,
        sync_token: &str,
        request_id: &RequestId,
    ) -> Result<(), QboError> {
        let answer = self.change(kind, "delete", id, sync_token, request_id).await?;
        let deleted =
            answer.get(kind.entity()).and_then(|e| e.get("status")).and_then(|s| s.as_str()) == Some("Deleted");
        self.created(deleted.then_some(()), || format!("QuickBooks answered the {kind} delete without saying Deleted"))
    }

    async fn change(
        &self,
        kind: DocKind,
        operation: &str,
        id: &str,
        sync_token: &str,
        request_id: &RequestId,
    ) -> Result<serde_json::Value, QboError> {
        let body = json!({ "Id": id, "SyncToken": sync_token }).to_string();
        let call = Call {
            label: if operation == "void" { "void" } else { "delete" },
            method: Method::POST,
            url: self.url(&[kind.resource()], &[("operation", operation), ("requestid", request_id.as_str())]),
            body: Some(("application/json", body)),
            op: Op::Write,
            lane: Lane::Single,
        };
        self.execute(&call).await
    }
}
