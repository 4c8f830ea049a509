//! Payments (a customer's money applied to invoices) and BillPayments (money paid against
//! bills), and what they do to the documents they name.
//!
//! A payment is a transaction of its own, but its point is its effect: each line's
//! `LinkedTxn` names an invoice or bill whose `Balance` drops by the line's `Amount`, whose
//! `LinkedTxn` gains the payment (`{"TxnId": "<payment>", "TxnType": "Payment"}`; a bill shows
//! `BillPaymentCheck` whatever the pay type, as captured data shows, reference §1.2), and whose
//! `SyncToken` and `MetaData.LastUpdatedTime` move on, the time being the payment's
//! `CreateTime`, so CDC on `Invoice,Bill` alone sees payments. Voiding or deleting the payment
//! undoes all of it. QuickBooks' texts for over-applying a payment are not documented: the
//! emulator answers a business-validation fault (6000), the pessimistic reading.

use chrono::DateTime;
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::amount;
use super::build::{self, Mode};
use super::clock;
use super::company::{Company, Object, Record};
use super::entities::EntityKind;
use super::fault::Fault;
use super::validate::{self, Resolved};

/// The `TxnType` a document's `LinkedTxn` gives a payment of this kind.
pub fn link_type(kind: EntityKind) -> &'static str {
    match kind {
        EntityKind::BillPayment => "BillPaymentCheck",
        _ => "Payment",
    }
}

/// Whether a document's `LinkedTxn` entry is a payment (`Payment`, `BillPaymentCheck`,
/// `BillPaymentCreditCard`, …).
pub fn is_payment_link(link: &Value) -> bool {
    link.get("TxnType").and_then(Value::as_str).is_some_and(|t| t == "Payment" || t.starts_with("BillPayment"))
}

/// Whether a stored document has a payment applied.
pub fn has_payments(record: &Record) -> bool {
    record.body.get("LinkedTxn").and_then(Value::as_array).is_some_and(|links| links.iter().any(is_payment_link))
}

/// The document kind a payment of this kind is applied to, and the reference naming its party.
fn target(kind: EntityKind) -> (EntityKind, &'static str, EntityKind) {
    match kind {
        EntityKind::BillPayment => (EntityKind::Bill, "VendorRef", EntityKind::Vendor),
        _ => (EntityKind::Invoice, "CustomerRef", EntityKind::Customer),
    }
}

/// One line's effect: `amount` off the balance of document `doc_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Application {
    pub doc_id: String,
    pub amount: Decimal,
}

fn text_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(id) => Some(id.trim().to_owned()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// Reads and checks the lines: each names exactly one document of the right kind, of the same
/// party, with an open balance at least as large as the amount (unless loading a seed).
fn lines(
    company: &Company,
    kind: EntityKind,
    input: &Object,
    party: &Resolved,
    mode: &Mode<'_>,
) -> Result<(Vec<Value>, Vec<Application>), Fault> {
    let (doc_kind, party_field, _) = target(kind);
    let lines = match input.get("Line") {
        None | Some(Value::Null) if kind == EntityKind::Payment => return Ok((Vec::new(), Vec::new())),
        None | Some(Value::Null) => return Err(Fault::required("Line")),
        Some(Value::Array(lines)) => lines,
        Some(_) => return Err(Fault::unsupported_property("Line")),
    };
    let mut out = Vec::new();
    let mut applied = Vec::new();
    for line in lines {
        let line = line.as_object().ok_or_else(|| Fault::unsupported_property("Line"))?;
        let value = line.get("Amount").filter(|v| !v.is_null()).ok_or_else(|| Fault::required("Line.Amount"))?;
        let amount = validate::amount("Line.Amount", value)?;
        let links = line.get("LinkedTxn").and_then(Value::as_array).ok_or_else(|| Fault::required("Line.LinkedTxn"))?;
        let [link] = links.as_slice() else {
            return Err(Fault::business("Each payment line must be linked to exactly one transaction."));
        };
        let txn_type = link.get("TxnType").and_then(Value::as_str).unwrap_or_default();
        if txn_type != doc_kind.wire_name() {
            return Err(Fault::business(&format!(
                "{txn_type} transactions cannot be linked to a {} by the qbsync sandbox.",
                kind.wire_name()
            )));
        }
        let doc_id = text_id(link.get("TxnId")).ok_or_else(|| Fault::required("Line.LinkedTxn.TxnId"))?;
        let doc = company.find(doc_kind, &doc_id).ok_or_else(|| Fault::invalid_reference("Line.LinkedTxn.TxnId"))?;
        if doc.deleted {
            return Err(Fault::deleted_transaction());
        }
        if !matches!(mode, Mode::Seed) {
            let doc_party = doc.body.get(party_field).and_then(|r| text_id(r.get("value")));
            if doc_party.as_deref() != Some(party.id.as_str()) {
                return Err(Fault::business(&format!(
                    "The {} linked to this {} belongs to someone else.",
                    doc_kind.wire_name(),
                    kind.wire_name()
                )));
            }
            let balance = doc.body.get("Balance").and_then(amount::parse).unwrap_or_default();
            if amount <= Decimal::ZERO || amount > balance {
                return Err(Fault::business(&format!(
                    "The amount applied to {} {} ({}) must be more than 0 and at most its open balance ({}).",
                    doc_kind.wire_name(),
                    doc_id,
                    amount.normalize(),
                    balance.normalize()
                )));
            }
        }
        out.push(json!({
            "Amount": amount::money(amount),
            "LinkedTxn": [{ "TxnId": doc_id, "TxnType": doc_kind.wire_name() }],
        }));
        applied.push(Application { doc_id, amount });
    }
    Ok((out, applied))
}

/// An account reference that must resolve (`BankAccountRef`, `DepositToAccountRef`, …) to an
/// account of one of `types`. QuickBooks' answer to an account of another type is not
/// documented: the emulator refuses it with a business-validation fault (6000), the pessimistic
/// reading, naming the element.
fn account_ref(
    company: &Company,
    value: Option<&Value>,
    element: &str,
    types: &[&str],
    mode: &Mode<'_>,
) -> Result<Option<Value>, Fault> {
    let Some(account) = validate::reference(company, EntityKind::Account, value, element, mode.inactive())? else {
        return Ok(None);
    };
    let account_type = company.find(EntityKind::Account, &account.id).and_then(|a| a.text("AccountType"));
    if !matches!(mode, Mode::Seed) && !account_type.is_some_and(|t| types.contains(&t)) {
        return Err(Fault::business(&format!(
            "{element} must name an account of type {}; account {} is of type {}.",
            types.join(" or "),
            account.id,
            account_type.unwrap_or("unknown")
        )));
    }
    Ok(Some(account.to_ref()))
}

/// The account types a customer's payment may be deposited to (Undeposited Funds is an
/// "Other Current Asset").
const DEPOSIT_TYPES: [&str; 2] = ["Bank", "Other Current Asset"];

/// Where a payment lands when the client names no account: Undeposited Funds, else the first
/// bank account, as QuickBooks' own default.
fn default_deposit_account(company: &Company) -> Option<Value> {
    let accounts = || company.live(EntityKind::Account).filter(|a| a.active());
    accounts()
        .find(|a| a.text("AccountSubType") == Some("UndepositedFunds"))
        .or_else(|| accounts().find(|a| a.text("AccountType") == Some("Bank")))
        .map(|a| Resolved::of(EntityKind::Account, a).to_ref())
}

/// A BillPayment's `PayType`, where its account is named, and the account type it must be:
/// a check is drawn on a bank account, a credit-card payment charged to a credit card.
fn pay_type(input: &Object) -> Result<(&'static str, &'static str, &'static str, &'static str), Fault> {
    match input.get("PayType").and_then(Value::as_str).ok_or_else(|| Fault::required("PayType"))? {
        "Check" => Ok(("Check", "CheckPayment", "BankAccountRef", "Bank")),
        "CreditCard" => Ok(("CreditCard", "CreditCardPayment", "CCAccountRef", "Credit Card")),
        other => Err(Fault::validation(
            "2170",
            "Invalid Enumeration",
            format!("Invalid Enumeration : {other}"),
            Some("PayType"),
        )),
    }
}

/// Builds the stored form of a Payment or BillPayment and the applications it makes.
pub fn build(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
) -> Result<(Object, Vec<Application>), Fault> {
    validate::known_fields(kind, input)?;
    let (_, party_field, party_kind) = target(kind);
    let party =
        validate::required_reference(company, party_kind, input.get(party_field), party_field, mode.inactive())?;
    let total_value = input.get("TotalAmt").filter(|v| !v.is_null()).ok_or_else(|| Fault::required("TotalAmt"))?;
    let total = validate::amount("TotalAmt", total_value)?;
    if total < Decimal::ZERO {
        return Err(Fault::business("Transaction total cannot be negative."));
    }
    if kind == EntityKind::BillPayment {
        pay_type(input)?;
    }
    let (lines, applied) = lines(company, kind, input, &party, &mode)?;
    let applied_total: Decimal = applied.iter().map(|a| a.amount).sum();
    if applied_total > total {
        return Err(Fault::business("The amounts applied are more than the payment's total."));
    }
    let mut out = Object::new();
    let txn_date = validate::date("TxnDate", input.get("TxnDate"))?.unwrap_or_else(|| now.date_naive());
    out.insert("TxnDate".into(), Value::String(txn_date.format("%Y-%m-%d").to_string()));
    if let Some(note) = validate::text("PrivateNote", input.get("PrivateNote"), 4000)? {
        out.insert("PrivateNote".into(), Value::String(note));
    }
    out.insert(party_field.into(), party.to_ref());
    out.insert("CurrencyRef".into(), build::home_currency(company));
    out.insert("TotalAmt".into(), amount::money(total));
    match kind {
        EntityKind::Payment => {
            let given = input.get("DepositToAccountRef");
            let deposit = match account_ref(company, given, "DepositToAccountRef", &DEPOSIT_TYPES, &mode)? {
                Some(account) => Some(account),
                None => default_deposit_account(company),
            };
            // Intuit's sample read names the deposit account by value only.
            if let Some(account) = deposit.and_then(|a| a.get("value").cloned()) {
                out.insert("DepositToAccountRef".into(), json!({ "value": account }));
            }
            for field in ["PaymentRefNum", "PaymentMethodRef"] {
                if let Some(value) = input.get(field) {
                    out.insert(field.into(), value.clone());
                }
            }
            out.insert("UnappliedAmt".into(), amount::money(total - applied_total));
            out.insert("ProcessPayment".into(), Value::Bool(false));
        }
        _ => {
            if let Some(number) = validate::text("DocNumber", input.get("DocNumber"), 21)? {
                out.insert("DocNumber".into(), Value::String(number));
            }
            let (pay_type, detail, reference, account_type) = pay_type(input)?;
            let element = format!("{detail}.{reference}");
            let given = input.get(detail).and_then(|d| d.get(reference));
            let account = account_ref(company, given, &element, &[account_type], &mode)?
                .ok_or_else(|| Fault::required(&element))?;
            out.insert("PayType".into(), Value::String(pay_type.into()));
            let mut detail_out = json!({ reference: account });
            if pay_type == "Check" {
                detail_out["PrintStatus"] = json!("NeedToPrint");
            }
            out.insert(detail.into(), detail_out);
        }
    }
    out.insert("Line".into(), Value::Array(lines));
    build::stamp(company, kind, input, &mut out, mode, now);
    Ok((out, applied))
}

/// Moves a document on: new SyncToken, `LastUpdatedTime` now.
pub fn touch(body: &mut Object, now: &DateTime<Tz>) {
    stamp(body, now, true);
}

/// `LastUpdatedTime` now, and the next SyncToken when `move_token`.
fn stamp(body: &mut Object, now: &DateTime<Tz>, move_token: bool) {
    if let Some(Value::Object(meta)) = body.get_mut("MetaData") {
        meta.insert("LastUpdatedTime".into(), Value::String(clock::meta_time(now)));
    }
    if !move_token {
        return;
    }
    let token = body.get("SyncToken").and_then(Value::as_str).and_then(|t| t.parse::<u64>().ok()).map_or(1, |t| t + 1);
    body.insert("SyncToken".into(), Value::String(token.to_string()));
}

/// Applies a stored payment's lines to its documents. Whether that moves a document's SyncToken
/// is not documented (reference §1.2): `move_token` is the emulator's switch, on by default
/// (the pessimistic reading: a client holding the old token meets 5010).
pub fn apply(
    company: &mut Company,
    kind: EntityKind,
    payment_id: &str,
    applied: &[Application],
    now: &DateTime<Tz>,
    move_token: bool,
) {
    let (doc_kind, _, _) = target(kind);
    for application in applied {
        let Some(doc) = company.find_mut(doc_kind, &application.doc_id) else { continue };
        let body = &mut doc.body;
        let balance = body.get("Balance").and_then(amount::parse).unwrap_or_default();
        body.insert("Balance".into(), amount::money((balance - application.amount).max(Decimal::ZERO)));
        let links = body.entry("LinkedTxn").or_insert_with(|| json!([]));
        if let Some(list) = links.as_array_mut() {
            list.push(json!({ "TxnId": payment_id, "TxnType": link_type(kind) }));
        }
        stamp(body, now, move_token);
    }
}

/// Takes a payment's lines back off its documents (before a void or delete of the payment).
pub fn unapply(company: &mut Company, kind: EntityKind, payment: &Object, now: &DateTime<Tz>, move_token: bool) {
    let (doc_kind, _, _) = target(kind);
    let payment_id = payment.get("Id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let lines = payment.get("Line").and_then(Value::as_array).cloned().unwrap_or_default();
    for line in lines {
        let amount = line.get("Amount").and_then(amount::parse).unwrap_or_default();
        let Some(doc_id) = line.pointer("/LinkedTxn/0/TxnId").and_then(|v| text_id(Some(v))) else { continue };
        let Some(doc) = company.find_mut(doc_kind, &doc_id) else { continue };
        if doc.deleted {
            continue;
        }
        let body = &mut doc.body;
        let total = body.get("TotalAmt").and_then(amount::parse).unwrap_or_default();
        let balance = body.get("Balance").and_then(amount::parse).unwrap_or_default();
        body.insert("Balance".into(), amount::money((balance + amount).min(total)));
        if let Some(list) = body.get_mut("LinkedTxn").and_then(Value::as_array_mut) {
            list.retain(|link| !(is_payment_link(link) && text_id(link.get("TxnId")).as_deref() == Some(&payment_id)));
        }
        stamp(body, now, move_token);
    }
}

/// A payment voided: it stays, with every amount zeroed and `Voided` in its note.
pub fn void_in_place(body: &mut Object, now: &DateTime<Tz>) {
    for field in ["TotalAmt", "UnappliedAmt"] {
        if body.contains_key(field) {
            body.insert(field.into(), amount::money(Decimal::ZERO));
        }
    }
    if let Some(lines) = body.get_mut("Line").and_then(Value::as_array_mut) {
        for line in lines {
            line["Amount"] = amount::money(Decimal::ZERO);
        }
    }
    mark_voided(body);
    touch(body, now);
}

/// `Voided`, prepended to any existing note (reference §2.1).
pub fn mark_voided(body: &mut Object) {
    let note = match body.get("PrivateNote").and_then(Value::as_str).filter(|n| !n.is_empty()) {
        Some(old) => format!("Voided - {old}"),
        None => "Voided".to_owned(),
    };
    body.insert("PrivateNote".into(), Value::String(note));
}

/// A document deleted while payments still name it (only when the company allows it): each
/// such payment line is taken off, its money left unapplied, as QuickBooks Desktop does.
pub fn orphan(company: &mut Company, doc_kind: EntityKind, doc_id: &str, now: &DateTime<Tz>) {
    let payment_kind = if doc_kind == EntityKind::Bill { EntityKind::BillPayment } else { EntityKind::Payment };
    let ids: Vec<String> = company.live(payment_kind).map(|r| r.id().to_owned()).collect();
    for id in ids {
        let Some(payment) = company.find_mut(payment_kind, &id) else { continue };
        let body = &mut payment.body;
        let Some(lines) = body.get_mut("Line").and_then(Value::as_array_mut) else { continue };
        let before = lines.len();
        let mut freed = Decimal::ZERO;
        lines.retain(|line| {
            let names_doc =
                line.pointer("/LinkedTxn/0/TxnId").and_then(|v| text_id(Some(v))).as_deref() == Some(doc_id);
            if names_doc {
                freed += line.get("Amount").and_then(amount::parse).unwrap_or_default();
            }
            !names_doc
        });
        if lines.len() == before {
            continue;
        }
        if payment_kind == EntityKind::Payment {
            let unapplied = body.get("UnappliedAmt").and_then(amount::parse).unwrap_or_default();
            body.insert("UnappliedAmt".into(), amount::money(unapplied + freed));
        }
        touch(body, now);
    }
}
