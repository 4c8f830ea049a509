//! The in-memory company: every record, its preferences, and what it remembers of past writes.
//!
//! Records are kept in their wire form (the JSON object QBO would answer with), because that is
//! what reads, queries and CDC return and what the fixtures pin down; the few facts that are
//! not part of the wire form (deletion, the request ids that touched a record, the pay link)
//! sit beside it in [`Record`]. One [`Company`] sits behind one mutex: a write, its validation
//! and the memory of its `requestid` happen as one step, so two racing retries cannot both
//! create.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use super::clock;
use super::entities::EntityKind;
use super::reply::Reply;

pub type Object = Map<String, Value>;

/// The suffix QBO appends to the name of an inactive name-list record
/// (`deleted_customer.xml` in quickbooks-ruby: `Thrifty Meats (deleted)`).
pub const DELETED_SUFFIX: &str = " (deleted)";

const OFFERING_SKU: &str = "OfferingSku";
const PLAN_WITH_BILLS: &str = "QuickBooks Online Plus";
const PLAN_WITHOUT_BILLS: &str = "QuickBooks Online Simple Start";

/// One stored entity.
#[derive(Clone, Debug)]
pub struct Record {
    /// The entity as QBO answers it.
    pub body: Object,
    /// Deleted transactions stay as tombstones for CDC.
    pub deleted: bool,
    /// The `requestid`s of the writes that created or changed this record.
    pub request_ids: Vec<String>,
    /// The customer pay link, shown only with `include=invoiceLink`.
    pub invoice_link: Option<String>,
}

impl Record {
    pub fn new(body: Object) -> Record {
        Record { body, deleted: false, request_ids: Vec::new(), invoice_link: None }
    }

    pub fn id(&self) -> &str {
        self.text("Id").unwrap_or_default()
    }

    pub fn text(&self, field: &str) -> Option<&str> {
        self.body.get(field).and_then(Value::as_str)
    }

    pub fn active(&self) -> bool {
        self.body.get("Active").and_then(Value::as_bool).unwrap_or(true)
    }

    pub fn sync_token(&self) -> &str {
        self.text("SyncToken").unwrap_or("0")
    }

    /// The name a reference to this record carries (`CustomerRef.name`).
    pub fn ref_name(&self, kind: EntityKind) -> String {
        let field = match kind {
            EntityKind::Item | EntityKind::Account => "FullyQualifiedName",
            _ => "DisplayName",
        };
        self.text(field).or_else(|| kind.name_field().and_then(|f| self.text(f))).unwrap_or_default().to_owned()
    }

    pub fn last_updated(&self) -> Option<DateTime<FixedOffset>> {
        let text = self.body.get("MetaData")?.get("LastUpdatedTime")?.as_str()?;
        clock::parse_instant(text)
    }
}

/// Id sequences. QBO numbers each list on its own; names share one sequence, transactions
/// another (a `TxnId` is unique across transaction types).
#[derive(Clone, Debug)]
struct Sequences {
    names: u64,
    items: u64,
    accounts: u64,
    transactions: u64,
    addresses: u64,
    invoice_numbers: u64,
    /// Tax codes and rates (US pseudo-codes `TAX`/`NON` have no number).
    tax: u64,
}

impl Default for Sequences {
    fn default() -> Self {
        Sequences { names: 1, items: 1, accounts: 1, transactions: 1, addresses: 1, invoice_numbers: 1001, tax: 1 }
    }
}

pub struct Company {
    pub company_info: Object,
    pub preferences: Object,
    records: BTreeMap<EntityKind, Vec<Record>>,
    sequences: Sequences,
    /// The answers to writes that carried a `requestid`, by request id.
    pub replies: HashMap<String, Reply>,
    /// Pay-link token → invoice id, for the sandbox's pay page.
    pub pay_links: HashMap<String, String>,
}

impl Company {
    pub fn empty() -> Company {
        Company {
            company_info: Object::new(),
            preferences: Object::new(),
            records: BTreeMap::new(),
            sequences: Sequences::default(),
            replies: HashMap::new(),
            pay_links: HashMap::new(),
        }
    }

    /// Every record of a kind, tombstones included, in insertion order.
    pub fn records(&self, kind: EntityKind) -> &[Record] {
        self.records.get(&kind).map(Vec::as_slice).unwrap_or_default()
    }

    /// Records of a kind that are not deleted.
    pub fn live(&self, kind: EntityKind) -> impl Iterator<Item = &Record> {
        self.records(kind).iter().filter(|record| !record.deleted)
    }

    pub fn find(&self, kind: EntityKind, id: &str) -> Option<&Record> {
        self.records(kind).iter().find(|record| record.id() == id)
    }

    pub fn find_mut(&mut self, kind: EntityKind, id: &str) -> Option<&mut Record> {
        self.records.get_mut(&kind)?.iter_mut().find(|record| record.id() == id)
    }

    /// Stores a record, keeping the id sequences ahead of its id.
    pub fn insert(&mut self, kind: EntityKind, record: Record) {
        if let Ok(id) = record.id().parse::<u64>() {
            let sequence = self.sequence(kind);
            *sequence = (*sequence).max(id + 1);
        }
        if kind == EntityKind::Invoice
            && let Some(number) = record.text("DocNumber").and_then(|d| d.parse::<u64>().ok())
        {
            self.sequences.invoice_numbers = self.sequences.invoice_numbers.max(number + 1);
        }
        self.records.entry(kind).or_default().push(record);
    }

    /// Replaces a stored record with the same id.
    pub fn replace(&mut self, kind: EntityKind, record: Record) {
        if let Some(slot) = self.find_mut(kind, record.id().to_owned().as_str()) {
            *slot = record;
        } else {
            self.insert(kind, record);
        }
    }

    /// The next id for a new record of this kind.
    pub fn next_id(&mut self, kind: EntityKind) -> String {
        let sequence = self.sequence(kind);
        let id = *sequence;
        *sequence += 1;
        id.to_string()
    }

    /// The next id for an address (QBO numbers addresses too).
    pub fn next_address_id(&mut self) -> String {
        let id = self.sequences.addresses;
        self.sequences.addresses += 1;
        id.to_string()
    }

    /// Keeps the address sequence ahead of an id seen in loaded data.
    pub fn saw_address_id(&mut self, id: &str) {
        if let Ok(id) = id.parse::<u64>() {
            self.sequences.addresses = self.sequences.addresses.max(id + 1);
        }
    }

    /// The number QBO gives an invoice when the company does not use custom numbers.
    pub fn next_invoice_number(&mut self) -> String {
        let number = self.sequences.invoice_numbers;
        self.sequences.invoice_numbers += 1;
        number.to_string()
    }

    fn sequence(&mut self, kind: EntityKind) -> &mut u64 {
        match kind {
            EntityKind::Customer | EntityKind::Vendor | EntityKind::Employee => &mut self.sequences.names,
            EntityKind::Item => &mut self.sequences.items,
            EntityKind::Account => &mut self.sequences.accounts,
            EntityKind::Invoice
            | EntityKind::Bill
            | EntityKind::CreditMemo
            | EntityKind::VendorCredit
            | EntityKind::Payment
            | EntityKind::BillPayment => &mut self.sequences.transactions,
            EntityKind::TaxCode | EntityKind::TaxRate => &mut self.sequences.tax,
        }
    }

    /// Whether a customer, vendor or employee other than `except` uses this DisplayName.
    /// Inactive records keep their name (without the ` (deleted)` suffix) reserved.
    pub fn person_name_taken(&self, name: &str, except: Option<(EntityKind, &str)>) -> bool {
        let wanted = base_name(name).trim().to_lowercase();
        [EntityKind::Customer, EntityKind::Vendor, EntityKind::Employee].into_iter().any(|kind| {
            self.live(kind).any(|record| {
                except != Some((kind, record.id()))
                    && record.text("DisplayName").is_some_and(|n| base_name(n).trim().to_lowercase() == wanted)
            })
        })
    }

    /// `Preferences.SalesFormsPrefs.CustomTxnNumbers`: the client supplies invoice numbers.
    pub fn custom_txn_numbers(&self) -> bool {
        self.sales_forms_pref("CustomTxnNumbers").unwrap_or(false)
    }

    pub fn set_custom_txn_numbers(&mut self, on: bool) {
        self.set_sales_forms_pref("CustomTxnNumbers", on);
    }

    /// `Preferences.SalesFormsPrefs.ETransactionPaymentEnabled`: invoices can be paid online.
    pub fn payments_enabled(&self) -> bool {
        self.sales_forms_pref("ETransactionPaymentEnabled").unwrap_or(false)
    }

    fn sales_forms_pref(&self, name: &str) -> Option<bool> {
        self.preferences.get("SalesFormsPrefs")?.get(name)?.as_bool()
    }

    fn set_sales_forms_pref(&mut self, name: &str, on: bool) {
        let prefs = self.preferences.entry("SalesFormsPrefs").or_insert_with(|| Value::Object(Object::new()));
        if !prefs.is_object() {
            *prefs = Value::Object(Object::new());
        }
        if let Some(prefs) = prefs.as_object_mut() {
            prefs.insert(name.to_owned(), Value::Bool(on));
        }
    }

    /// Whether the subscription includes Bills (Simple Start does not). Read from
    /// `CompanyInfo.NameValue[OfferingSku]`, where QBO reports the plan.
    pub fn plan_has_bills(&self) -> bool {
        self.offering_sku().is_none_or(|sku| !sku.contains("Simple Start"))
    }

    pub fn set_plan_has_bills(&mut self, has_bills: bool) {
        let sku = if has_bills { PLAN_WITH_BILLS } else { PLAN_WITHOUT_BILLS };
        let pairs = self.company_info.entry("NameValue").or_insert_with(|| Value::Array(Vec::new()));
        if !pairs.is_array() {
            *pairs = Value::Array(Vec::new());
        }
        let Some(pairs) = pairs.as_array_mut() else { return };
        let entry = serde_json::json!({ "Name": OFFERING_SKU, "Value": sku });
        match pairs.iter_mut().find(|pair| pair.get("Name").and_then(Value::as_str) == Some(OFFERING_SKU)) {
            Some(pair) => *pair = entry,
            None => pairs.push(entry),
        }
    }

    fn offering_sku(&self) -> Option<&str> {
        self.company_info
            .get("NameValue")?
            .as_array()?
            .iter()
            .find(|pair| pair.get("Name").and_then(Value::as_str) == Some(OFFERING_SKU))?
            .get("Value")?
            .as_str()
    }
}

/// A name without the ` (deleted)` suffix.
pub fn base_name(name: &str) -> &str {
    name.strip_suffix(DELETED_SUFFIX).unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(value: Value) -> Record {
        Record::new(value.as_object().cloned().unwrap())
    }

    #[test]
    fn sequences_stay_ahead_of_loaded_ids() {
        let mut company = Company::empty();
        company.insert(EntityKind::Customer, record(json!({"Id": "58", "DisplayName": "A"})));
        company.insert(EntityKind::Invoice, record(json!({"Id": "238", "DocNumber": "1069"})));
        assert_eq!(company.next_id(EntityKind::Vendor), "59");
        assert_eq!(company.next_id(EntityKind::Bill), "239");
        assert_eq!(company.next_id(EntityKind::Item), "1");
        assert_eq!(company.next_invoice_number(), "1070");
    }

    #[test]
    fn person_names_are_shared_and_case_insensitive() {
        let mut company = Company::empty();
        company
            .insert(EntityKind::Vendor, record(json!({"Id": "3", "DisplayName": "Acme (deleted)", "Active": false})));
        assert!(company.person_name_taken("acme", None));
        assert!(!company.person_name_taken("acme", Some((EntityKind::Vendor, "3"))));
        assert!(!company.person_name_taken("Globex", None));
    }

    #[test]
    fn plan_and_preferences_round_trip() {
        let mut company = Company::empty();
        assert!(company.plan_has_bills());
        company.set_plan_has_bills(false);
        assert!(!company.plan_has_bills());
        company.set_plan_has_bills(true);
        assert!(company.plan_has_bills());
        assert!(!company.custom_txn_numbers());
        company.set_custom_txn_numbers(true);
        assert!(company.custom_txn_numbers());
    }
}
