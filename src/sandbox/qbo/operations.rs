//! One operation applied to the company: create, update, delete, read or query.
//!
//! The single-entity endpoints and the batch endpoint both come here, so an invoice created in
//! a batch is validated, numbered and stored exactly like one created alone.

use chrono::DateTime;
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::build::Mode;
use super::clock;
use super::company::{Company, Object, Record};
use super::entities::EntityKind;
use super::fault::Fault;
use super::names;
use super::payments;
use super::query::{self, QueryError};
use super::tax;
use super::transactions::{self, TxnOptions};
use super::void;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
    /// `?operation=void`: invoices (and payments) stay, zeroed, marked `Voided`.
    Void,
}

impl Operation {
    /// The operation a write asks for: `?operation=` (or a batch item's `operation`), and a
    /// body carrying an `Id` means update, as in QBO.
    pub fn of(requested: Option<&str>, body: &Value) -> Result<Operation, Fault> {
        let requested = requested.map(str::to_ascii_lowercase);
        match requested.as_deref() {
            None | Some("create") if body.get("Id").is_some() => Ok(Operation::Update),
            None | Some("create") => Ok(Operation::Create),
            Some("update") => Ok(Operation::Update),
            Some("delete") => Ok(Operation::Delete),
            Some("void") => Ok(Operation::Void),
            Some(other) => {
                Err(Fault::unsupported_operation(format!("Operation {other} is not supported by the qbsync sandbox")))
            }
        }
    }
}

/// What a write needs besides the body.
#[derive(Clone, Copy, Debug)]
pub struct WriteContext<'a> {
    pub now: &'a DateTime<Tz>,
    pub request_id: Option<&'a str>,
    /// `include=invoiceLink`.
    pub include_invoice_link: bool,
    pub options: TxnOptions,
    /// The sandbox's base URL, for pay links.
    pub base_url: &'a str,
    /// Refuse to void or delete a document with a payment applied (the pessimistic reading of
    /// sources that conflict, reference §2.2); off, the payment is left applied to nothing.
    pub refuse_with_payments: bool,
    /// Applying or taking back a payment moves the documents' SyncToken (undocumented; on by
    /// default, the pessimistic reading).
    pub payments_move_sync_token: bool,
}

fn build(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    mode: Mode<'_>,
    context: &WriteContext<'_>,
) -> Result<Object, Fault> {
    if kind.is_transaction() {
        transactions::build(company, kind, input, mode, context.now, context.options)
    } else {
        names::build(company, kind, input, mode, context.now)
    }
}

/// Builds a stored entity outside any request (seed loading, control edits).
pub fn build_for_seed(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    now: &DateTime<Tz>,
) -> Result<Object, Fault> {
    if kind.is_payment() {
        payments::build(company, kind, input, Mode::Seed, now).map(|(built, _)| built)
    } else if kind.is_transaction() {
        let options = TxnOptions { allow_duplicate_doc_number: true, ..TxnOptions::default() };
        transactions::build(company, kind, input, Mode::Seed, now, options)
    } else if kind.is_tax_list() {
        let mut out = tax::build_seed(kind, input);
        super::build::stamp(company, kind, input, &mut out, Mode::Seed, now);
        Ok(out)
    } else {
        names::build(company, kind, input, Mode::Seed, now)
    }
}

/// The entity as answered, with its pay link when asked for.
pub fn render(record: &Record, include_invoice_link: bool) -> Value {
    let mut body = record.body.clone();
    if include_invoice_link && let Some(link) = &record.invoice_link {
        body.insert("InvoiceLink".into(), Value::String(link.clone()));
    }
    Value::Object(body)
}

/// Gives a qualifying invoice its pay link (kept across updates), or takes it away.
pub fn refresh_invoice_link(company: &mut Company, record: &mut Record, base_url: &str) {
    if !transactions::qualifies_for_invoice_link(company, &record.body) {
        record.invoice_link = None;
        return;
    }
    if record.invoice_link.is_none() {
        let token = format!("scs-v1-{}", uuid::Uuid::new_v4().simple());
        record.invoice_link = Some(format!("{base_url}_sandbox/qbo/pay/{token}?locale=en_US"));
        company.pay_links.insert(token, record.id().to_owned());
    }
}

fn id_of(body: &Object) -> Option<String> {
    match body.get("Id")? {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// The stored record an update or delete names, after the SyncToken check (5010).
fn current(company: &Company, kind: EntityKind, body: &Object) -> Result<Record, Fault> {
    let id = id_of(body).ok_or_else(|| Fault::required("Id"))?;
    let existing = company.find(kind, &id).ok_or_else(Fault::object_not_found)?;
    if existing.deleted {
        return Err(Fault::deleted_transaction());
    }
    let token = match body.get("SyncToken") {
        Some(Value::String(token)) => token.clone(),
        Some(Value::Number(token)) => token.to_string(),
        _ => return Err(Fault::required("SyncToken")),
    };
    if token != existing.sync_token() {
        return Err(Fault::stale_object());
    }
    Ok(existing.clone())
}

/// Applies a write and answers the entity (or, for a delete, QBO's tombstone).
pub fn write(
    company: &mut Company,
    kind: EntityKind,
    operation: Operation,
    body: &Value,
    context: &WriteContext<'_>,
) -> Result<Value, Fault> {
    if !kind.writable() {
        return Err(Fault::unsupported_operation(format!(
            "Operation {operation:?} is not supported for {} by the qbsync sandbox",
            kind.wire_name()
        )));
    }
    let body = body.as_object().ok_or_else(|| Fault::unsupported_property(kind.wire_name()))?;
    let request_ids = |previous: &[String]| {
        let mut ids = previous.to_vec();
        ids.extend(context.request_id.map(str::to_owned));
        ids
    };
    match operation {
        Operation::Create if kind.is_payment() => {
            let (built, applied) = payments::build(company, kind, body, Mode::Create, context.now)?;
            let mut record = Record::new(built);
            record.request_ids = request_ids(&[]);
            let id = record.id().to_owned();
            let answer = render(&record, false);
            company.insert(kind, record);
            payments::apply(company, kind, &id, &applied, context.now, context.payments_move_sync_token);
            Ok(answer)
        }
        Operation::Update if kind.is_payment() => {
            if !context.options.include_void {
                return Err(Fault::unsupported_operation(format!(
                    "Operation Update is not supported for {} by the qbsync sandbox: void it (include=void) or delete it",
                    kind.wire_name()
                )));
            }
            void_or_cancel(company, kind, body, context, request_ids)
        }
        Operation::Void => void_or_cancel(company, kind, body, context, request_ids),
        Operation::Create => {
            let built = build(company, kind, body, Mode::Create, context)?;
            let mut record = Record::new(built);
            record.request_ids = request_ids(&[]);
            if kind == EntityKind::Invoice {
                refresh_invoice_link(company, &mut record, context.base_url);
            }
            let answer = render(&record, context.include_invoice_link);
            company.insert(kind, record);
            Ok(answer)
        }
        Operation::Update => {
            let existing = current(company, kind, body)?;
            let sparse = body.get("sparse").and_then(Value::as_bool).unwrap_or(false);
            let input = if sparse {
                let mut merged = existing.body.clone();
                merged.extend(body.iter().map(|(k, v)| (k.clone(), v.clone())));
                merged
            } else {
                body.clone()
            };
            let built = build(company, kind, &input, Mode::Update(&existing), context)?;
            let mut record = Record {
                body: built,
                deleted: false,
                request_ids: request_ids(&existing.request_ids),
                invoice_link: existing.invoice_link.clone(),
            };
            if kind == EntityKind::Invoice {
                refresh_invoice_link(company, &mut record, context.base_url);
            }
            let answer = render(&record, context.include_invoice_link);
            company.replace(kind, record);
            Ok(answer)
        }
        Operation::Delete => {
            if !kind.is_transaction() {
                return Err(Fault::unsupported_operation(format!(
                    "Operation Delete is not supported for {}: make it inactive instead",
                    kind.wire_name()
                )));
            }
            let mut record = current(company, kind, body)?;
            if kind.is_payment() {
                payments::unapply(company, kind, &record.body, context.now, context.payments_move_sync_token);
            } else if payments::has_payments(&record) {
                if context.refuse_with_payments {
                    return Err(linked_payments_fault());
                }
                payments::orphan(company, kind, record.id(), context.now);
            }
            record.deleted = true;
            record.request_ids = request_ids(&record.request_ids);
            let updated = clock::meta_time(context.now);
            if let Some(Value::Object(meta)) = record.body.get_mut("MetaData") {
                meta.insert("LastUpdatedTime".into(), Value::String(updated));
            }
            let id = record.id().to_owned();
            company.replace(kind, record);
            Ok(json!({ "domain": "QBO", "status": "Deleted", "Id": id }))
        }
    }
}

/// The answer to voiding or deleting a document a payment is applied to: the pessimistic
/// reading (reference §2.2), a business-validation fault.
fn linked_payments_fault() -> Fault {
    Fault::business(
        "This transaction has payments linked to it. Unlink or delete the payments before you void or delete it.",
    )
}

/// `operation=void`: an invoice or a payment stays, zeroed and marked `Voided`. A payment's
/// money first comes off the documents it paid. Bills cannot be voided through the API.
fn void_or_cancel(
    company: &mut Company,
    kind: EntityKind,
    body: &Object,
    context: &WriteContext<'_>,
    request_ids: impl Fn(&[String]) -> Vec<String>,
) -> Result<Value, Fault> {
    if !matches!(kind, EntityKind::Invoice | EntityKind::Payment | EntityKind::BillPayment) {
        return Err(Fault::unsupported_operation(format!("Operation Void is not supported for {}", kind.wire_name())));
    }
    let mut record = current(company, kind, body)?;
    if kind.is_payment() {
        payments::unapply(company, kind, &record.body, context.now, context.payments_move_sync_token);
        payments::void_in_place(&mut record.body, context.now);
    } else {
        if payments::has_payments(&record) {
            if context.refuse_with_payments {
                return Err(linked_payments_fault());
            }
            payments::orphan(company, kind, record.id(), context.now);
        }
        void::void_invoice(&mut record.body, context.now);
    }
    record.request_ids = request_ids(&record.request_ids);
    let answer = render(&record, context.include_invoice_link);
    company.replace(kind, record);
    Ok(answer)
}

/// Reads one entity by id: 610 when there is none.
pub fn read(company: &Company, kind: EntityKind, id: &str, include_invoice_link: bool) -> Result<Value, Fault> {
    let record = company.find(kind, id).ok_or_else(Fault::object_not_found)?;
    if record.deleted {
        return Err(Fault::deleted_transaction());
    }
    Ok(render(record, include_invoice_link))
}

/// Runs a query statement and answers the body of `QueryResponse`.
pub fn query(company: &Company, text: &str) -> Result<Value, Fault> {
    let to_fault = |error: QueryError| match error {
        QueryError::Parse(detail) => Fault::query_parse(detail),
        QueryError::Invalid(detail) => Fault::query_invalid(detail),
    };
    let statement = query::parse(text).map_err(to_fault)?;
    let target = query::validate(&statement).map_err(to_fault)?;
    let records: Vec<&Object> = match target {
        query::Target::Modelled(kind) => company.live(kind).map(|record| &record.body).collect(),
        query::Target::Unmodelled => Vec::new(),
    };
    Ok(query::evaluate(&statement, target, &records))
}
