//! Company seeds: the JSON a sandbox company is loaded from and dumped to.
//!
//! A seed lists the company's records in QBO's own wire form (`DisplayName`, `AccountType`, …),
//! grouped by kind, plus `CompanyInfo` and `Preferences`. Whatever QBO would compute may be left
//! out and is filled in; ids, SyncTokens and times given are kept, so a dump loads back into the
//! same company. The plan (whether Bills exist) is read from `CompanyInfo.NameValue`
//! `OfferingSku`, where QBO reports it. The bundled demo company is `data/demo_company.json`.

use chrono::DateTime;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::clock;
use super::company::{Company, Object, Record};
use super::entities::EntityKind;
use super::operations;

/// The bundled demo company (the BRIEF's customers, vendors, item and accounts).
pub const DEMO_COMPANY: &str = include_str!("../data/demo_company.json");

/// A company as JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanySeed {
    #[serde(default)]
    pub company_info: Object,
    #[serde(default)]
    pub preferences: Object,
    #[serde(default)]
    pub accounts: Vec<Object>,
    #[serde(default)]
    pub items: Vec<Object>,
    #[serde(default)]
    pub customers: Vec<Object>,
    #[serde(default)]
    pub vendors: Vec<Object>,
    #[serde(default)]
    pub employees: Vec<Object>,
    #[serde(default)]
    pub invoices: Vec<Object>,
    #[serde(default)]
    pub bills: Vec<Object>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub credit_memos: Vec<Object>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vendor_credits: Vec<Object>,
    /// The company's tax rates (`RateValue` in percent), named by its tax codes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tax_rates: Vec<Object>,
    /// The company's tax codes: `TAX`/`NON` for a US company, numbered ones elsewhere.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tax_codes: Vec<Object>,
    /// Payments as stored: loading one does not apply it again (the documents' balances and
    /// `LinkedTxn` in the seed already show it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payments: Vec<Object>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bill_payments: Vec<Object>,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the company seed is not JSON of the expected shape: {0}")]
    Format(#[from] serde_json::Error),
    #[error("{kind} number {position} of the company seed is refused with QBO fault {code}: {detail}")]
    Record { kind: &'static str, position: usize, code: &'static str, detail: String },
}

impl CompanySeed {
    pub fn parse(text: &str) -> Result<CompanySeed, SeedError> {
        Ok(serde_json::from_str(text)?)
    }

    /// The records of each kind, in the order they must load (accounts before the items that
    /// name them, names before the transactions that reference them).
    fn in_load_order(&self) -> [(EntityKind, &Vec<Object>); 13] {
        [
            (EntityKind::TaxRate, &self.tax_rates),
            (EntityKind::TaxCode, &self.tax_codes),
            (EntityKind::Account, &self.accounts),
            (EntityKind::Item, &self.items),
            (EntityKind::Customer, &self.customers),
            (EntityKind::Vendor, &self.vendors),
            (EntityKind::Employee, &self.employees),
            (EntityKind::Invoice, &self.invoices),
            (EntityKind::Bill, &self.bills),
            (EntityKind::CreditMemo, &self.credit_memos),
            (EntityKind::VendorCredit, &self.vendor_credits),
            (EntityKind::Payment, &self.payments),
            (EntityKind::BillPayment, &self.bill_payments),
        ]
    }
}

/// `CompanyInfo` and `Preferences` carry the usual entity fields too.
fn with_entity_fields(mut object: Object, now: &DateTime<Tz>) -> Object {
    let time = clock::meta_time(now);
    object.entry("Id").or_insert_with(|| json!("1"));
    object.entry("SyncToken").or_insert_with(|| json!("0"));
    object.entry("domain").or_insert_with(|| json!("QBO"));
    object.entry("sparse").or_insert(Value::Bool(false));
    object.entry("MetaData").or_insert_with(|| json!({ "CreateTime": time, "LastUpdatedTime": time }));
    object
}

/// Builds a company from a seed, validating every record as QBO would.
pub fn load(seed: &CompanySeed, base_url: &str, now: &DateTime<Tz>) -> Result<Company, SeedError> {
    let mut company = Company::empty();
    company.company_info = with_entity_fields(seed.company_info.clone(), now);
    company.preferences = with_entity_fields(seed.preferences.clone(), now);
    for (kind, records) in seed.in_load_order() {
        for (index, input) in records.iter().enumerate() {
            let body =
                operations::build_for_seed(&mut company, kind, input, now).map_err(|fault| SeedError::Record {
                    kind: kind.wire_name(),
                    position: index + 1,
                    code: fault.code,
                    detail: fault.detail,
                })?;
            let mut record = Record::new(body);
            if kind == EntityKind::Invoice {
                operations::refresh_invoice_link(&mut company, &mut record, base_url);
            }
            company.insert(kind, record);
        }
    }
    Ok(company)
}

/// The company as a seed: every record that is not deleted, inactive ones included.
pub fn dump(company: &Company) -> CompanySeed {
    let bodies = |kind| company.live(kind).map(|record: &Record| record.body.clone()).collect();
    CompanySeed {
        company_info: company.company_info.clone(),
        preferences: company.preferences.clone(),
        accounts: bodies(EntityKind::Account),
        items: bodies(EntityKind::Item),
        customers: bodies(EntityKind::Customer),
        vendors: bodies(EntityKind::Vendor),
        employees: bodies(EntityKind::Employee),
        invoices: bodies(EntityKind::Invoice),
        bills: bodies(EntityKind::Bill),
        credit_memos: bodies(EntityKind::CreditMemo),
        vendor_credits: bodies(EntityKind::VendorCredit),
        tax_rates: bodies(EntityKind::TaxRate),
        tax_codes: bodies(EntityKind::TaxCode),
        payments: bodies(EntityKind::Payment),
        bill_payments: bodies(EntityKind::BillPayment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_company_loads_with_the_briefs_records() {
        let seed = CompanySeed::parse(DEMO_COMPANY).unwrap();
        let company = load(&seed, "http://sandbox/", &clock::now()).unwrap();
        let names = |kind| company.live(kind).map(|r| r.ref_name(kind)).collect::<Vec<_>>();
        assert_eq!(
            names(EntityKind::Customer),
            [
                "Acme Training Co",
                "O'Brien & Sons",
                "Globex Corporation",
                "Initech LLC",
                "Umbrella Academy",
                "Stark Industries"
            ]
        );
        assert_eq!(
            names(EntityKind::Vendor),
            ["Jane Smith Consulting", "Bob's Burger Joint", "Northwind Traders", "Accelebrate"]
        );
        assert_eq!(company.find(EntityKind::Item, "1").unwrap().text("Name"), Some("Services"));
        for (id, name, account_type) in [
            ("7", "Contract Labor", "Expense"),
            ("33", "Accounts Payable (A/P)", "Accounts Payable"),
            ("84", "Accounts Receivable (A/R)", "Accounts Receivable"),
            ("79", "Services income", "Income"),
        ] {
            let account = company.find(EntityKind::Account, id).unwrap();
            assert_eq!((account.text("Name"), account.text("AccountType")), (Some(name), Some(account_type)));
        }
        assert!(company.custom_txn_numbers());
        assert!(company.plan_has_bills());
        assert_eq!(company.company_info.get("CompanyName"), Some(&json!("Sandbox Company_US_1")));
    }

    #[test]
    fn a_dump_loads_back_into_the_same_company() {
        let seed = CompanySeed::parse(DEMO_COMPANY).unwrap();
        let company = load(&seed, "http://sandbox/", &clock::now()).unwrap();
        let dumped = dump(&company);
        let again = load(&dumped, "http://sandbox/", &clock::now()).unwrap();
        assert_eq!(dump(&again), dumped);
    }

    #[test]
    fn a_dump_with_documents_of_inactive_records_loads() {
        let mut seed = CompanySeed::parse(DEMO_COMPANY).unwrap();
        let invoice = json!({
            "CustomerRef": { "value": "1" },
            "Line": [{ "DetailType": "SalesItemLineDetail", "Amount": 10, "SalesItemLineDetail": {} }]
        });
        seed.invoices.push(invoice.as_object().cloned().unwrap());
        let mut company = load(&seed, "http://sandbox/", &clock::now()).unwrap();
        for (kind, id) in [(EntityKind::Customer, "1"), (EntityKind::Item, "1"), (EntityKind::Account, "79")] {
            let record = company.find_mut(kind, id).unwrap();
            super::super::names::set_active(kind, &mut record.body, false, &clock::now());
        }
        let again = load(&dump(&company), "http://sandbox/", &clock::now()).unwrap();
        let invoice = again.live(EntityKind::Invoice).next().unwrap();
        assert_eq!(invoice.body["CustomerRef"]["name"], "Acme Training Co (deleted)");
        assert_eq!(invoice.body["TotalAmt"], json!(10.0));
    }

    #[test]
    fn a_bad_record_names_itself() {
        let seed = CompanySeed::parse(r#"{"customers": [{"DisplayName": "A"}, {"DisplayName": "a"}]}"#).unwrap();
        let error = load(&seed, "http://sandbox/", &clock::now()).err().unwrap();
        assert!(error.to_string().contains("Customer number 2"), "{error}");
        assert!(error.to_string().contains("6240"), "{error}");
        assert!(CompanySeed::parse(r#"{"customer": []}"#).is_err());
    }
}
