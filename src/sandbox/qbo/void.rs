//! Voiding an invoice (`POST …/invoice?operation=void`, body `{"Id", "SyncToken"}`).
//!
//! "The transaction remains active but all amounts and quantities are zeroed and the string,
//! `Voided`, is injected into `Invoice.PrivateNote`, prepended to existing text if present"
//! (Intuit ref *Invoice*, reference §2.1). The answer is the whole invoice with the next
//! SyncToken. Bills have no void through the API; they are deleted instead.

use chrono::DateTime;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::amount;
use super::company::Object;
use super::payments;

/// Zeroes a stored invoice the way QuickBooks voids it.
pub fn void_invoice(body: &mut Object, now: &DateTime<Tz>) {
    let zero = || amount::money(Decimal::ZERO);
    for field in ["TotalAmt", "Balance", "HomeTotalAmt", "HomeBalance", "Deposit"] {
        if body.contains_key(field) || matches!(field, "TotalAmt" | "Balance") {
            body.insert(field.into(), zero());
        }
    }
    if let Some(lines) = body.get_mut("Line").and_then(Value::as_array_mut) {
        for line in lines {
            if line.get("Amount").is_some() {
                line["Amount"] = zero();
            }
            if let Some(detail) = line.get_mut("SalesItemLineDetail").and_then(Value::as_object_mut) {
                detail.insert("Qty".into(), json!(0));
                detail.remove("UnitPrice");
            }
        }
    }
    if let Some(tax) = body.get_mut("TxnTaxDetail").and_then(Value::as_object_mut) {
        tax.insert("TotalTax".into(), json!(0));
    }
    body.insert("LinkedTxn".into(), json!([]));
    payments::mark_voided(body);
    payments::touch(body, now);
}
