//! Transactions: Invoices (money in) and Bills (money out), and their negatives: CreditMemos
//! (money back to a customer) and VendorCredits (money back from a vendor).
//!
//! This is where the emulator earns its keep. QBO computes `TotalAmt` and `Balance`, appends a
//! `SubTotalLineDetail` line to invoices, numbers lines, fills reference names, defaults dates,
//! terms, addresses and e-mail from the customer, and refuses what it would refuse: missing
//! fields (2020), bad or inactive references (2500/610), long strings (2050), duplicate document
//! numbers (6140), amounts that are not Qty × UnitPrice (6070), Bills on a plan without them
//! (5020), and lines without the tax code the company's country requires (6000/6100, see
//! [`super::tax`]). Amounts are decimals throughout.

use chrono::{DateTime, Days, NaiveDate};
use chrono_tz::Tz;
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use super::amount;
use super::build::{self, Mode};
use super::company::{Company, Object};
use super::entities::EntityKind;
use super::fault::Fault;
use super::tax::{self, Locale, Side, TaxedLine};
use super::validate::{self, Resolved};

const MAX_DOC_NUMBER: usize = 21;
const MAX_NOTE: usize = 4000;
const MAX_DESCRIPTION: usize = 4000;
const MAX_CUSTOMER_MEMO: usize = 1000;
const MAX_EMAIL: usize = 100;

/// Line types QBO has but the emulator does not model.
const UNMODELLED_LINES: &[&str] = &["GroupLineDetail", "DiscountLineDetail", "TaxLineDetail", "DepositLineDetail"];

/// Per-request switches that change validation.
#[derive(Clone, Copy, Debug, Default)]
pub struct TxnOptions {
    /// `include=allowduplicatedocnum`: accept a DocNumber already in use.
    pub allow_duplicate_doc_number: bool,
    /// Refuse `GlobalTaxCalculation` on a US company's document (see [`tax::calculation`]).
    pub refuse_us_tax_calculation: bool,
    /// `include=void`: an update of a Payment or BillPayment voids it.
    pub include_void: bool,
}

/// Builds the stored form of an Invoice or Bill from what a client or a seed sent.
pub fn build(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
    options: TxnOptions,
) -> Result<Object, Fault> {
    match kind {
        EntityKind::Invoice => invoice(company, input, mode, now, options),
        EntityKind::Bill => bill(company, input, mode, now, options),
        EntityKind::CreditMemo => credit_memo(company, input, mode, now, options),
        EntityKind::VendorCredit => vendor_credit(company, input, mode, now, options),
        other => Err(Fault::unsupported_operation(format!("{} is not a transaction", other.wire_name()))),
    }
}

/// Days a sales term gives, for the terms every QBO sandbox company has.
fn term_days(term_id: &str) -> Option<u64> {
    match term_id {
        "1" => Some(0),
        "2" => Some(15),
        "3" => Some(30),
        "4" => Some(60),
        "5" => Some(10),
        _ => None,
    }
}

fn term_id(value: Option<&Value>) -> Option<String> {
    match value?.get("value")? {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// Validates a `SalesTermRef` and returns it with its days.
fn sales_term(value: Option<&Value>) -> Result<Option<(String, u64)>, Fault> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(None) };
    let id = term_id(Some(value)).ok_or_else(|| Fault::invalid_reference("SalesTermRef"))?;
    let days = term_days(&id).ok_or_else(|| Fault::invalid_reference("SalesTermRef"))?;
    Ok(Some((id, days)))
}

fn add_days(date: NaiveDate, days: u64) -> NaiveDate {
    date.checked_add_days(Days::new(days)).unwrap_or(date)
}

fn date_text(date: NaiveDate) -> Value {
    Value::String(date.format("%Y-%m-%d").to_string())
}

/// The DocNumber, if any, checked for length.
fn doc_number(input: &Object) -> Result<Option<String>, Fault> {
    Ok(validate::text("DocNumber", input.get("DocNumber"), MAX_DOC_NUMBER)?.filter(|d| !d.is_empty()))
}

/// What every transaction answer carries from its request: the pass-through fields the
/// entity allows, the notes, the number, the dates and the terms.
fn txn_header(
    input: &Object,
    passthrough: &[&str],
    doc_number: Option<String>,
    txn_date: NaiveDate,
    due_date: NaiveDate,
    term: Option<(String, u64)>,
) -> Result<Object, Fault> {
    let mut out = Object::new();
    for field in passthrough {
        if let Some(value) = input.get(*field) {
            out.insert((*field).into(), value.clone());
        }
    }
    notes(input, &mut out)?;
    if let Some(number) = doc_number {
        out.insert("DocNumber".into(), Value::String(number));
    }
    out.insert("TxnDate".into(), date_text(txn_date));
    out.insert("DueDate".into(), date_text(due_date));
    if let Some((id, _)) = term {
        out.insert("SalesTermRef".into(), json!({ "value": id }));
    }
    Ok(out)
}

/// Copies the optional text fields with their length limits.
fn notes(input: &Object, out: &mut Object) -> Result<(), Fault> {
    validate::text("PrivateNote", input.get("PrivateNote"), MAX_NOTE)?;
    if let Some(memo) = input.get("CustomerMemo") {
        validate::text("CustomerMemo", memo.get("value"), MAX_CUSTOMER_MEMO)?;
    }
    for field in ["PrivateNote", "CustomerMemo"] {
        if let Some(value) = input.get(field) {
            out.insert(field.into(), value.clone());
        }
    }
    Ok(())
}

/// The `Line` array without any subtotal lines (QBO recomputes those).
fn input_lines(input: &Object) -> Result<Vec<&Object>, Fault> {
    let lines = match input.get("Line") {
        None | Some(Value::Null) => return Err(Fault::required("Line")),
        Some(Value::Array(lines)) => lines,
        Some(_) => return Err(Fault::unsupported_property("Line")),
    };
    let mut kept = Vec::new();
    for line in lines {
        let line = line.as_object().ok_or_else(|| Fault::unsupported_property("Line"))?;
        if line.get("DetailType").and_then(Value::as_str) != Some("SubTotalLineDetail") {
            kept.push(line);
        }
    }
    if kept.is_empty() {
        return Err(Fault::required("Line"));
    }
    Ok(kept)
}

/// Line ids: kept when a client sends them back on an update, otherwise numbered.
fn line_id(line: &Object, index: usize, used: &mut Vec<String>) -> String {
    let given = line.get("Id").and_then(Value::as_str).map(str::to_owned);
    let id = match given {
        Some(id) if !used.contains(&id) => id,
        _ => {
            let mut next = index + 1;
            while used.contains(&next.to_string()) {
                next += 1;
            }
            next.to_string()
        }
    };
    used.push(id.clone());
    id
}

fn line_common(line: &Object, detail_type: &str) -> Result<Object, Fault> {
    let mut out = Object::new();
    if let Some(description) = validate::text("Line.Description", line.get("Description"), MAX_DESCRIPTION)? {
        out.insert("Description".into(), Value::String(description));
    }
    out.insert("DetailType".into(), Value::String(detail_type.into()));
    Ok(out)
}

fn detail_type(line: &Object) -> Result<&str, Fault> {
    line.get("DetailType").and_then(Value::as_str).ok_or_else(|| Fault::required("Line.DetailType"))
}

fn unmodelled_or_invalid(detail_type: &str, allowed: &[&str]) -> Fault {
    if UNMODELLED_LINES.contains(&detail_type) || allowed.contains(&detail_type) {
        Fault::business(&format!("{detail_type} lines are not supported by the qbsync sandbox"))
    } else {
        Fault::validation(
            "2170",
            "Invalid Enumeration",
            format!("Invalid Enumeration : {detail_type}"),
            Some("Line.DetailType"),
        )
    }
}

fn line_amount(line: &Object) -> Result<Decimal, Fault> {
    let value = line.get("Amount").filter(|v| !v.is_null()).ok_or_else(|| Fault::required("Line.Amount"))?;
    validate::amount("Line.Amount", value)
}

/// The item a sales line uses when it names none: QBO's default item, "Services".
fn default_item(company: &Company) -> Option<Resolved> {
    let services = company.find(EntityKind::Item, "1").filter(|item| !item.deleted && item.active());
    services
        .or_else(|| company.live(EntityKind::Item).find(|item| item.active() && item.text("Type") == Some("Service")))
        .map(|item| Resolved::of(EntityKind::Item, item))
}

fn sales_line(company: &Company, line: &Object, mode: &Mode<'_>, locale: Locale) -> Result<(Object, TaxedLine), Fault> {
    const ELEMENT: &str = "Line.SalesItemLineDetail.ItemRef";
    let inactive = mode.inactive();
    let amount = line_amount(line)?;
    let detail = line.get("SalesItemLineDetail").and_then(Value::as_object).cloned().unwrap_or_default();
    let item = match validate::reference(company, EntityKind::Item, detail.get("ItemRef"), ELEMENT, inactive)? {
        Some(item) => item,
        None => default_item(company).ok_or_else(|| Fault::required(ELEMENT))?,
    };
    if company.find(EntityKind::Item, &item.id).and_then(|i| i.text("Type")) == Some("Category") {
        return Err(Fault::category_on_line(ELEMENT));
    }
    let qty = validate::decimal("Line.SalesItemLineDetail.Qty", detail.get("Qty"))?;
    let unit_price = validate::decimal("Line.SalesItemLineDetail.UnitPrice", detail.get("UnitPrice"))?;
    if let (Some(qty), Some(unit_price)) = (qty, unit_price) {
        let exact = qty * unit_price;
        let rounded = exact.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
        if amount != exact && amount != rounded {
            return Err(Fault::amount_calculation(&amount.normalize().to_string()));
        }
    }
    validate::date("Line.SalesItemLineDetail.ServiceDate", detail.get("ServiceDate"))?;
    let mut out_detail = detail.clone();
    out_detail.insert("ItemRef".into(), item.to_ref());
    if let Some(qty) = qty {
        out_detail.insert("Qty".into(), amount::plain(qty));
    }
    if let Some(unit_price) = unit_price {
        out_detail.insert("UnitPrice".into(), amount::plain(unit_price));
    }
    let (code_ref, code) = tax::line_code(company, locale, &detail, "Line.SalesItemLineDetail.TaxCodeRef", mode)?;
    set_tax_code(&mut out_detail, code_ref);
    let mut out = line_common(line, "SalesItemLineDetail")?;
    out.insert("Amount".into(), amount::money(amount));
    out.insert("SalesItemLineDetail".into(), Value::Object(out_detail));
    Ok((out, TaxedLine { code, amount }))
}

fn set_tax_code(detail: &mut Object, code_ref: Value) {
    if code_ref.is_null() {
        detail.remove("TaxCodeRef");
    } else {
        detail.insert("TaxCodeRef".into(), code_ref);
    }
}

fn description_line(line: &Object) -> Result<Object, Fault> {
    let mut out = line_common(line, "DescriptionOnly")?;
    if let Some(value) = line.get("Amount").filter(|v| !v.is_null()) {
        out.insert("Amount".into(), amount::money(validate::amount("Line.Amount", value)?));
    }
    let detail = line.get("DescriptionLineDetail").cloned().unwrap_or_else(|| json!({}));
    out.insert("DescriptionLineDetail".into(), detail);
    Ok(out)
}

/// Links to payments: kept by QBO across updates, taken from a seed as given.
fn linked_txn(input: &Object, mode: &Mode<'_>) -> Option<Value> {
    match mode {
        Mode::Create => None,
        Mode::Update(existing) => existing.body.get("LinkedTxn").cloned(),
        Mode::Seed => input.get("LinkedTxn").cloned(),
    }
}

/// What an update keeps of the stored transaction: payments already applied.
fn paid_so_far(mode: &Mode<'_>) -> Decimal {
    let Some(existing) = mode.existing() else { return Decimal::ZERO };
    let total = existing.body.get("TotalAmt").and_then(amount::parse).unwrap_or_default();
    let balance = existing.body.get("Balance").and_then(amount::parse).unwrap_or_default();
    (total - balance).max(Decimal::ZERO)
}

/// Sets `TotalAmt` and `Balance` (what is left after payments already applied).
fn totals(input: &Object, out: &mut Object, total: Decimal, mode: &Mode<'_>) -> Result<(), Fault> {
    if total < Decimal::ZERO {
        return Err(Fault::business("Transaction total cannot be negative."));
    }
    let balance = match mode {
        Mode::Seed => validate::decimal("Balance", input.get("Balance"))?.unwrap_or(total),
        _ => (total - paid_so_far(mode)).max(Decimal::ZERO),
    };
    out.insert("TotalAmt".into(), amount::money(total));
    out.insert("Balance".into(), amount::money(balance));
    Ok(())
}

/// Whether another live transaction of this kind (and party, for Bills) has this number.
fn existing_doc_number<'a>(
    company: &'a Company,
    kind: EntityKind,
    doc_number: &str,
    party: Option<(&str, &str)>,
    except: Option<&str>,
) -> Option<&'a str> {
    company
        .live(kind)
        .find(|record| {
            Some(record.id()) != except
                && record.text("DocNumber") == Some(doc_number)
                && party.is_none_or(|(field, id)| {
                    record.body.get(field).and_then(|r| r.get("value")).and_then(Value::as_str) == Some(id)
                })
        })
        .map(|record| record.id())
}

fn invoice(
    company: &mut Company,
    input: &Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
    options: TxnOptions,
) -> Result<Object, Fault> {
    validate::known_fields(EntityKind::Invoice, input)?;
    let locale = Locale::of(company);
    let calculation = tax::calculation(locale, input, options.refuse_us_tax_calculation)?;
    let customer = validate::required_reference(
        company,
        EntityKind::Customer,
        input.get("CustomerRef"),
        "CustomerRef",
        mode.inactive(),
    )?;
    let mut lines = Vec::new();
    let mut used_ids = Vec::new();
    let mut taxed = Vec::new();
    for (index, line) in input_lines(input)?.into_iter().enumerate() {
        let mut out = match detail_type(line)? {
            "SalesItemLineDetail" => {
                let (out, taxed_line) = sales_line(company, line, &mode, locale)?;
                taxed.push(taxed_line);
                out
            }
            "DescriptionOnly" => description_line(line)?,
            other => return Err(unmodelled_or_invalid(other, &["DiscountLineDetail", "GroupLineDetail"])),
        };
        out.insert("Id".into(), Value::String(line_id(line, index, &mut used_ids)));
        out.insert("LineNum".into(), json!(index + 1));
        lines.push(Value::Object(out));
    }
    let subtotal: Decimal = taxed.iter().map(|l| l.amount).sum();
    lines.push(
        json!({ "Amount": amount::money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {} }),
    );
    let (total, tax_detail) = tax::totals(company, calculation, Side::Sales, &taxed);

    let existing_id = mode.existing().map(|record| record.id().to_owned());
    let doc_number = match doc_number(input)? {
        Some(number) => {
            if company.custom_txn_numbers()
                && !options.allow_duplicate_doc_number
                && let Some(txn_id) =
                    existing_doc_number(company, EntityKind::Invoice, &number, None, existing_id.as_deref())
            {
                return Err(Fault::duplicate_doc_number(&number, "Invoice", txn_id));
            }
            Some(number)
        }
        None => match mode {
            Mode::Create if !company.custom_txn_numbers() => Some(company.next_invoice_number()),
            Mode::Update(existing) => existing.text("DocNumber").map(str::to_owned),
            _ => None,
        },
    };

    let customer_record = company.find(EntityKind::Customer, &customer.id).cloned();
    let customer_field = |field: &str| customer_record.as_ref().and_then(|c| c.body.get(field)).cloned();
    let txn_date = validate::date("TxnDate", input.get("TxnDate"))?.unwrap_or_else(|| now.date_naive());
    let default_terms = company.preferences.get("SalesFormsPrefs").and_then(|p| p.get("DefaultTerms")).cloned();
    let term = match sales_term(input.get("SalesTermRef"))? {
        Some(term) => Some(term),
        None => sales_term(customer_field("SalesTermRef").as_ref())?.or(sales_term(default_terms.as_ref())?),
    };
    let due_date = match validate::date("DueDate", input.get("DueDate"))? {
        Some(date) => date,
        None => add_days(txn_date, term.as_ref().map_or(0, |(_, days)| *days)),
    };

    let mut out = txn_header(
        input,
        &[
            "ShipDate",
            "TrackingNum",
            "ClassRef",
            "DepartmentRef",
            "ShipMethodRef",
            "ShipFromAddr",
            "BillEmailCc",
            "BillEmailBcc",
            "DeliveryInfo",
            "TxnSource",
            "ProjectRef",
            "TransactionLocationType",
            "GlobalTaxCalculation",
        ],
        doc_number,
        txn_date,
        due_date,
        term,
    )?;
    out.insert("CustomerRef".into(), customer.to_ref());
    out.insert("CurrencyRef".into(), build::home_currency(company));
    out.insert("Line".into(), Value::Array(lines));
    out.insert("TxnTaxDetail".into(), tax_detail);
    tax::stamp_calculation(&mut out, calculation);
    let linked = linked_txn(input, &mode).unwrap_or_else(|| json!([]));
    out.insert("LinkedTxn".into(), linked);
    out.insert("CustomField".into(), input.get("CustomField").cloned().unwrap_or_else(|| json!([])));

    let email = input
        .get("BillEmail")
        .cloned()
        .or_else(|| customer_field("PrimaryEmailAddr").filter(|e| e.get("Address").is_some()));
    if let Some(email) = email {
        validate::text("BillEmail.Address", email.get("Address"), MAX_EMAIL)?;
        out.insert("BillEmail".into(), email);
    }
    for address in ["BillAddr", "ShipAddr"] {
        if let Some(value) = input.get(address).cloned().or_else(|| customer_field(address)) {
            out.insert(address.into(), value);
        }
    }
    build::number_addresses(company, &mut out, &["BillAddr", "ShipAddr"]);
    let text_or = |field: &str, default: &str| {
        input
            .get(field)
            .and_then(Value::as_str)
            .map_or_else(|| Value::String(default.into()), |v| Value::String(v.into()))
    };
    out.insert("PrintStatus".into(), text_or("PrintStatus", "NeedToPrint"));
    out.insert("EmailStatus".into(), text_or("EmailStatus", "NotSet"));
    for flag in [
        "ApplyTaxAfterDiscount",
        "AllowIPNPayment",
        "AllowOnlinePayment",
        "AllowOnlineCreditCardPayment",
        "AllowOnlineACHPayment",
    ] {
        let on = validate::flag(flag, input.get(flag))?.unwrap_or(false);
        out.insert(flag.into(), Value::Bool(on));
    }
    out.insert("Deposit".into(), json!(0));
    totals(input, &mut out, total, &mode)?;
    build::stamp(company, EntityKind::Invoice, input, &mut out, mode, now);
    Ok(out)
}

/// Whether an invoice qualifies for a customer pay link (reference §4): online payment allowed
/// on it, a payments-enabled company, and an e-mail address to send it to.
pub fn qualifies_for_invoice_link(company: &Company, invoice: &Object) -> bool {
    let allows = |flag: &str| invoice.get(flag).and_then(Value::as_bool).unwrap_or(false);
    let email = invoice.get("BillEmail").and_then(|e| e.get("Address")).and_then(Value::as_str).unwrap_or_default();
    company.payments_enabled()
        && (allows("AllowOnlineCreditCardPayment") || allows("AllowOnlineACHPayment"))
        && email.contains('@')
}

fn expense_line(
    company: &Company,
    line: &Object,
    mode: &Mode<'_>,
    locale: Locale,
) -> Result<(Object, TaxedLine), Fault> {
    let inactive = mode.inactive();
    let kind = detail_type(line)?;
    let amount = line_amount(line)?;
    let detail = line.get(kind).and_then(Value::as_object).cloned().unwrap_or_default();
    let mut out_detail = detail.clone();
    match kind {
        "AccountBasedExpenseLineDetail" => {
            let element = "Line.AccountBasedExpenseLineDetail.AccountRef";
            let account = validate::required_reference(
                company,
                EntityKind::Account,
                detail.get("AccountRef"),
                element,
                inactive,
            )?;
            out_detail.insert("AccountRef".into(), account.to_ref());
        }
        "ItemBasedExpenseLineDetail" => {
            let element = "Line.ItemBasedExpenseLineDetail.ItemRef";
            let item =
                validate::required_reference(company, EntityKind::Item, detail.get("ItemRef"), element, inactive)?;
            out_detail.insert("ItemRef".into(), item.to_ref());
            for field in ["Qty", "UnitPrice"] {
                if let Some(value) = validate::decimal(&format!("Line.{kind}.{field}"), detail.get(field))? {
                    out_detail.insert(field.into(), amount::plain(value));
                }
            }
        }
        other => return Err(unmodelled_or_invalid(other, &[])),
    }
    let customer_element = format!("Line.{kind}.CustomerRef");
    let customer =
        validate::reference(company, EntityKind::Customer, detail.get("CustomerRef"), &customer_element, inactive)?;
    let billable = detail.get("BillableStatus").and_then(Value::as_str).map(str::to_owned);
    let billable = match (billable, &customer) {
        (Some(status), _) => status,
        (None, Some(_)) => "Billable".to_owned(),
        (None, None) => "NotBillable".to_owned(),
    };
    if let Some(customer) = customer {
        out_detail.insert("CustomerRef".into(), customer.to_ref());
    }
    out_detail.insert("BillableStatus".into(), Value::String(billable));
    let (code_ref, code) = tax::line_code(company, locale, &detail, &format!("Line.{kind}.TaxCodeRef"), mode)?;
    set_tax_code(&mut out_detail, code_ref);
    let mut out = line_common(line, kind)?;
    out.insert("Amount".into(), amount::money(amount));
    out.insert(kind.into(), Value::Object(out_detail));
    Ok((out, TaxedLine { code, amount }))
}

/// The A/P account a Bill uses when it names none: the company's (first) A/P account.
fn default_ap_account(company: &Company) -> Option<Resolved> {
    company
        .live(EntityKind::Account)
        .find(|account| account.active() && account.text("AccountType") == Some("Accounts Payable"))
        .map(|account| Resolved::of(EntityKind::Account, account))
}

fn bill(
    company: &mut Company,
    input: &Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
    options: TxnOptions,
) -> Result<Object, Fault> {
    if !company.plan_has_bills() {
        return Err(Fault::not_entitled("Bill"));
    }
    validate::known_fields(EntityKind::Bill, input)?;
    let locale = Locale::of(company);
    let calculation = tax::calculation(locale, input, options.refuse_us_tax_calculation)?;
    let vendor = validate::required_reference(
        company,
        EntityKind::Vendor,
        input.get("VendorRef"),
        "VendorRef",
        mode.inactive(),
    )?;
    let mut lines = Vec::new();
    let mut used_ids = Vec::new();
    let mut taxed = Vec::new();
    for (index, line) in input_lines(input)?.into_iter().enumerate() {
        let (mut out, taxed_line) = expense_line(company, line, &mode, locale)?;
        taxed.push(taxed_line);
        out.insert("Id".into(), Value::String(line_id(line, index, &mut used_ids)));
        lines.push(Value::Object(out));
    }
    let ap_account = match validate::reference(
        company,
        EntityKind::Account,
        input.get("APAccountRef"),
        "APAccountRef",
        mode.inactive(),
    )? {
        Some(account) => account,
        None => default_ap_account(company)
            .ok_or_else(|| Fault::business("An Accounts Payable account is required for a bill."))?,
    };
    let existing_id = mode.existing().map(|record| record.id().to_owned());
    let doc_number = doc_number(input)?;
    if let Some(number) = &doc_number
        && !options.allow_duplicate_doc_number
        && let Some(txn_id) = existing_doc_number(
            company,
            EntityKind::Bill,
            number,
            Some(("VendorRef", &vendor.id)),
            existing_id.as_deref(),
        )
    {
        return Err(Fault::duplicate_doc_number(number, "Bill", txn_id));
    }
    let txn_date = validate::date("TxnDate", input.get("TxnDate"))?.unwrap_or_else(|| now.date_naive());
    let vendor_terms = company.find(EntityKind::Vendor, &vendor.id).and_then(|v| v.body.get("TermRef")).cloned();
    let term = sales_term(input.get("SalesTermRef"))?;
    let days = match &term {
        Some((_, days)) => *days,
        None => sales_term(vendor_terms.as_ref())?.map_or(0, |(_, days)| days),
    };
    let due_date = validate::date("DueDate", input.get("DueDate"))?.unwrap_or_else(|| add_days(txn_date, days));

    let mut out = txn_header(
        input,
        &["DepartmentRef", "VendorAddr", "RemitToAddr", "TransactionLocationType", "GlobalTaxCalculation"],
        doc_number,
        txn_date,
        due_date,
        term,
    )?;
    out.insert("VendorRef".into(), vendor.to_ref());
    out.insert("APAccountRef".into(), ap_account.to_ref());
    out.insert("CurrencyRef".into(), build::home_currency(company));
    out.insert("Line".into(), Value::Array(lines));
    if let Some(linked) = linked_txn(input, &mode) {
        out.insert("LinkedTxn".into(), linked);
    }
    let (total, tax_detail) = tax::totals(company, calculation, Side::Purchase, &taxed);
    if calculation.is_some() {
        out.insert("TxnTaxDetail".into(), tax_detail);
    }
    tax::stamp_calculation(&mut out, calculation);
    totals(input, &mut out, total, &mode)?;
    build::stamp(company, EntityKind::Bill, input, &mut out, mode, now);
    Ok(out)
}

/// The number of a sales document (invoice or credit memo): the one sent, checked against the
/// others of its kind when the company uses custom numbers, or the company's next number.
fn sales_doc_number(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    mode: &Mode<'_>,
    options: TxnOptions,
) -> Result<Option<String>, Fault> {
    let existing_id = mode.existing().map(|record| record.id().to_owned());
    Ok(match doc_number(input)? {
        Some(number) => {
            if company.custom_txn_numbers()
                && !options.allow_duplicate_doc_number
                && let Some(txn_id) = existing_doc_number(company, kind, &number, None, existing_id.as_deref())
            {
                return Err(Fault::duplicate_doc_number(&number, kind.wire_name(), txn_id));
            }
            Some(number)
        }
        None => match mode {
            Mode::Create if !company.custom_txn_numbers() => Some(company.next_invoice_number()),
            Mode::Update(existing) => existing.text("DocNumber").map(str::to_owned),
            _ => None,
        },
    })
}

/// Copies the fields a document takes as sent.
fn pass_through(input: &Object, out: &mut Object, fields: &[&str]) {
    for field in fields {
        if let Some(value) = input.get(*field) {
            out.insert((*field).into(), value.clone());
        }
    }
}

/// A CreditMemo: an invoice's lines and tax rules, money owed back to the customer. It has no
/// due date; `RemainingCredit` is what is left to apply (all of it until a payment uses it).
fn credit_memo(
    company: &mut Company,
    input: &Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
    options: TxnOptions,
) -> Result<Object, Fault> {
    validate::known_fields(EntityKind::CreditMemo, input)?;
    let locale = Locale::of(company);
    let calculation = tax::calculation(locale, input, options.refuse_us_tax_calculation)?;
    let customer = validate::required_reference(
        company,
        EntityKind::Customer,
        input.get("CustomerRef"),
        "CustomerRef",
        mode.inactive(),
    )?;
    let mut lines = Vec::new();
    let mut used_ids = Vec::new();
    let mut taxed = Vec::new();
    for (index, line) in input_lines(input)?.into_iter().enumerate() {
        let mut out = match detail_type(line)? {
            "SalesItemLineDetail" => {
                let (out, taxed_line) = sales_line(company, line, &mode, locale)?;
                taxed.push(taxed_line);
                out
            }
            "DescriptionOnly" => description_line(line)?,
            other => return Err(unmodelled_or_invalid(other, &["DiscountLineDetail", "GroupLineDetail"])),
        };
        out.insert("Id".into(), Value::String(line_id(line, index, &mut used_ids)));
        out.insert("LineNum".into(), json!(index + 1));
        lines.push(Value::Object(out));
    }
    let subtotal: Decimal = taxed.iter().map(|l| l.amount).sum();
    lines.push(
        json!({ "Amount": amount::money(subtotal), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {} }),
    );
    let (total, tax_detail) = tax::totals(company, calculation, Side::Sales, &taxed);
    let doc_number = sales_doc_number(company, EntityKind::CreditMemo, input, &mode, options)?;
    let txn_date = validate::date("TxnDate", input.get("TxnDate"))?.unwrap_or_else(|| now.date_naive());

    let mut out = Object::new();
    pass_through(
        input,
        &mut out,
        &["ClassRef", "DepartmentRef", "TxnSource", "ProjectRef", "TransactionLocationType", "CustomField"],
    );
    notes(input, &mut out)?;
    if let Some(number) = doc_number {
        out.insert("DocNumber".into(), Value::String(number));
    }
    out.insert("TxnDate".into(), date_text(txn_date));
    out.insert("CustomerRef".into(), customer.to_ref());
    out.insert("CurrencyRef".into(), build::home_currency(company));
    out.insert("Line".into(), Value::Array(lines));
    out.insert("TxnTaxDetail".into(), tax_detail);
    tax::stamp_calculation(&mut out, calculation);
    let customer_record = company.find(EntityKind::Customer, &customer.id).cloned();
    let customer_field = |field: &str| customer_record.as_ref().and_then(|c| c.body.get(field)).cloned();
    for address in ["BillAddr", "ShipAddr"] {
        if let Some(value) = input.get(address).cloned().or_else(|| customer_field(address)) {
            out.insert(address.into(), value);
        }
    }
    build::number_addresses(company, &mut out, &["BillAddr", "ShipAddr"]);
    out.insert("PrintStatus".into(), Value::String("NeedToPrint".into()));
    out.insert("EmailStatus".into(), Value::String("NotSet".into()));
    totals(input, &mut out, total, &mode)?;
    let balance = out.get("Balance").cloned().unwrap_or_else(|| json!(0));
    out.insert("RemainingCredit".into(), balance);
    build::stamp(company, EntityKind::CreditMemo, input, &mut out, mode, now);
    Ok(out)
}

/// A VendorCredit: a bill's lines and tax rules, money the vendor owes back. Like a bill it
/// needs a plan with bills and an A/P account; it has no due date or terms.
fn vendor_credit(
    company: &mut Company,
    input: &Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
    options: TxnOptions,
) -> Result<Object, Fault> {
    if !company.plan_has_bills() {
        return Err(Fault::not_entitled("VendorCredit"));
    }
    validate::known_fields(EntityKind::VendorCredit, input)?;
    let locale = Locale::of(company);
    let calculation = tax::calculation(locale, input, options.refuse_us_tax_calculation)?;
    let vendor = validate::required_reference(
        company,
        EntityKind::Vendor,
        input.get("VendorRef"),
        "VendorRef",
        mode.inactive(),
    )?;
    let mut lines = Vec::new();
    let mut used_ids = Vec::new();
    let mut taxed = Vec::new();
    for (index, line) in input_lines(input)?.into_iter().enumerate() {
        let (mut out, taxed_line) = expense_line(company, line, &mode, locale)?;
        taxed.push(taxed_line);
        out.insert("Id".into(), Value::String(line_id(line, index, &mut used_ids)));
        lines.push(Value::Object(out));
    }
    let ap_account = match validate::reference(
        company,
        EntityKind::Account,
        input.get("APAccountRef"),
        "APAccountRef",
        mode.inactive(),
    )? {
        Some(account) => account,
        None => default_ap_account(company)
            .ok_or_else(|| Fault::business("An Accounts Payable account is required for a vendor credit."))?,
    };
    let existing_id = mode.existing().map(|record| record.id().to_owned());
    let doc_number = doc_number(input)?;
    if let Some(number) = &doc_number
        && !options.allow_duplicate_doc_number
        && let Some(txn_id) = existing_doc_number(
            company,
            EntityKind::VendorCredit,
            number,
            Some(("VendorRef", &vendor.id)),
            existing_id.as_deref(),
        )
    {
        return Err(Fault::duplicate_doc_number(number, "VendorCredit", txn_id));
    }
    let txn_date = validate::date("TxnDate", input.get("TxnDate"))?.unwrap_or_else(|| now.date_naive());

    let mut out = Object::new();
    pass_through(input, &mut out, &["DepartmentRef", "TransactionLocationType", "IncludeInAnnualTPAR"]);
    notes(input, &mut out)?;
    if let Some(number) = doc_number {
        out.insert("DocNumber".into(), Value::String(number));
    }
    out.insert("TxnDate".into(), date_text(txn_date));
    out.insert("VendorRef".into(), vendor.to_ref());
    out.insert("APAccountRef".into(), ap_account.to_ref());
    out.insert("CurrencyRef".into(), build::home_currency(company));
    out.insert("Line".into(), Value::Array(lines));
    let (total, tax_detail) = tax::totals(company, calculation, Side::Purchase, &taxed);
    if calculation.is_some() {
        out.insert("TxnTaxDetail".into(), tax_detail);
    }
    tax::stamp_calculation(&mut out, calculation);
    totals(input, &mut out, total, &mode)?;
    build::stamp(company, EntityKind::VendorCredit, input, &mut out, mode, now);
    Ok(out)
}
