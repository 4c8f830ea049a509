//! Name-list entities: customers, vendors, employees, items and accounts.
//!
//! QBO fills in much of a name-list record itself (`FullyQualifiedName`, `PrintOnCheckName`,
//! balances, flags) and enforces unique names: a DisplayName is shared by customers, vendors
//! and employees (6240). Making a record inactive renames it with a ` (deleted)` suffix, which is
//! why a lookup by name stops finding it.

use chrono::DateTime;
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::amount;
use super::build::{self, Mode};
use super::clock;
use super::company::{Company, DELETED_SUFFIX, Object, base_name};
use super::entities::EntityKind;
use super::fault::Fault;
use super::validate::{self, Inactive};

/// Longest DisplayName QBO accepts.
const MAX_DISPLAY_NAME: usize = 500;
/// Longest Item or Account name QBO accepts.
const MAX_NAME: usize = 100;
const MAX_EMAIL: usize = 100;

/// Builds the stored form of a name-list record from what a client or a seed sent.
pub fn build(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
) -> Result<Object, Fault> {
    validate::known_fields(kind, input)?;
    let mut out = input.clone();
    for computed in ["Id", "SyncToken", "MetaData", "domain", "sparse"] {
        out.remove(computed);
    }
    let active = validate::flag("Active", input.get("Active"))?.unwrap_or(true);
    out.insert("Active".into(), Value::Bool(active));
    let except = mode.existing().map(|record| (kind, record.id()));
    match kind {
        EntityKind::Customer | EntityKind::Vendor | EntityKind::Employee => {
            person(company, kind, input, &mut out, active, except, &mode)?;
        }
        EntityKind::Item => item(company, input, &mut out, active, except, mode.inactive())?,
        EntityKind::Account => account(company, input, &mut out, active, except)?,
        EntityKind::Invoice
        | EntityKind::Bill
        | EntityKind::CreditMemo
        | EntityKind::VendorCredit
        | EntityKind::TaxCode
        | EntityKind::TaxRate
        | EntityKind::Payment
        | EntityKind::BillPayment => {
            return Err(Fault::unsupported_operation(format!("{} is not a name-list entity", kind.wire_name())));
        }
    }
    build::stamp(company, kind, input, &mut out, mode, now);
    Ok(out)
}

/// Makes a stored record active or inactive the way QBO does when a user does it: the name
/// gains or loses its ` (deleted)` suffix, the SyncToken and `LastUpdatedTime` move on.
/// Nothing else is re-validated: the record was valid, and flipping `Active` cannot clash.
pub fn set_active(kind: EntityKind, body: &mut Object, active: bool, now: &DateTime<Tz>) {
    let name_fields: &[&str] = match kind {
        EntityKind::Customer => &["DisplayName", "FullyQualifiedName"],
        EntityKind::Vendor | EntityKind::Employee => &["DisplayName"],
        EntityKind::Item | EntityKind::Account => &["Name", "FullyQualifiedName"],
        EntityKind::TaxCode | EntityKind::TaxRate => &["Name"],
        EntityKind::Invoice
        | EntityKind::Bill
        | EntityKind::CreditMemo
        | EntityKind::VendorCredit
        | EntityKind::Payment
        | EntityKind::BillPayment => &[],
    };
    for field in name_fields {
        if let Some(Value::String(name)) = body.get_mut(*field) {
            *name = stored_name(base_name(name), active);
        }
    }
    body.insert("Active".into(), Value::Bool(active));
    let token = body.get("SyncToken").and_then(Value::as_str).and_then(|t| t.parse::<u64>().ok()).map_or(1, |t| t + 1);
    body.insert("SyncToken".into(), Value::String(token.to_string()));
    if let Some(Value::Object(meta)) = body.get_mut("MetaData") {
        meta.insert("LastUpdatedTime".into(), Value::String(clock::meta_time(now)));
    }
}

/// The name as stored: with the ` (deleted)` suffix exactly when inactive.
fn stored_name(base: &str, active: bool) -> String {
    if active { base.to_owned() } else { format!("{base}{DELETED_SUFFIX}") }
}

fn person(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    out: &mut Object,
    active: bool,
    except: Option<(EntityKind, &str)>,
    mode: &Mode<'_>,
) -> Result<(), Fault> {
    let given = validate::text("DisplayName", input.get("DisplayName"), MAX_DISPLAY_NAME)?
        .map(|name| base_name(name.trim()).to_owned())
        .filter(|name| !name.is_empty());
    let display_name = match given {
        Some(name) => name,
        None => {
            // QBO composes the DisplayName from the name parts when it is not given.
            let parts: Vec<&str> = ["Title", "GivenName", "MiddleName", "FamilyName", "Suffix"]
                .iter()
                .filter_map(|field| input.get(*field).and_then(Value::as_str))
                .map(str::trim)
                .filter(|part| !part.is_empty())
                .collect();
            if parts.is_empty() {
                return Err(Fault::no_name());
            }
            parts.join(" ")
        }
    };
    if display_name.contains(':') {
        return Err(Fault::invalid_character("DisplayName", ":"));
    }
    if company.person_name_taken(&display_name, except) {
        return Err(Fault::duplicate_name());
    }
    if let Some(email) = input.get("PrimaryEmailAddr") {
        validate::text("PrimaryEmailAddr.Address", email.get("Address"), MAX_EMAIL)?;
    }
    let print_name = input
        .get("PrintOnCheckName")
        .and_then(Value::as_str)
        .or_else(|| input.get("CompanyName").and_then(Value::as_str))
        .map_or_else(|| display_name.clone(), str::to_owned);
    let name = stored_name(&display_name, active);
    out.insert("DisplayName".into(), Value::String(name.clone()));
    out.insert("PrintOnCheckName".into(), Value::String(print_name));
    let seeded = matches!(mode, Mode::Seed);
    let keep_or_zero = |field: &str| {
        if seeded { input.get(field).cloned().unwrap_or_else(|| amount::money(0.into())) } else { json!(0) }
    };
    match kind {
        EntityKind::Customer => {
            out.insert("FullyQualifiedName".into(), Value::String(name));
            for (field, default) in [("Job", false), ("BillWithParent", false), ("Taxable", false)] {
                out.entry(field).or_insert(Value::Bool(default));
            }
            let balance =
                mode.existing().and_then(|r| r.body.get("Balance").cloned()).unwrap_or_else(|| keep_or_zero("Balance"));
            let with_jobs = mode
                .existing()
                .and_then(|r| r.body.get("BalanceWithJobs").cloned())
                .unwrap_or_else(|| keep_or_zero("BalanceWithJobs"));
            out.insert("Balance".into(), balance);
            out.insert("BalanceWithJobs".into(), with_jobs);
            out.entry("PreferredDeliveryMethod").or_insert_with(|| Value::String("Print".into()));
            out.entry("CurrencyRef").or_insert_with(|| build::home_currency(company));
            build::number_addresses(company, out, &["BillAddr", "ShipAddr", "OtherAddr"]);
        }
        EntityKind::Vendor => {
            out.entry("Vendor1099").or_insert(Value::Bool(false));
            let balance =
                mode.existing().and_then(|r| r.body.get("Balance").cloned()).unwrap_or_else(|| keep_or_zero("Balance"));
            out.insert("Balance".into(), balance);
            build::number_addresses(company, out, &["BillAddr"]);
        }
        _ => {
            out.entry("BillableTime").or_insert(Value::Bool(false));
            build::number_addresses(company, out, &["PrimaryAddr"]);
        }
    }
    Ok(())
}

/// 6240 for items and accounts, in the words QBO uses for them.
fn duplicate(what: &str) -> Fault {
    Fault::validation(
        "6240",
        "Duplicate Name Exists Error",
        format!(
            "The name supplied already exists. : Another {what} is already using this \nname. Please use a different name."
        ),
        Some(""),
    )
}

fn list_name(
    company: &Company,
    kind: EntityKind,
    input: &Object,
    except: Option<(EntityKind, &str)>,
    what: &str,
) -> Result<String, Fault> {
    let name = validate::text("Name", input.get("Name"), MAX_NAME)?
        .map(|name| base_name(name.trim()).to_owned())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| Fault::required("Name"))?;
    let wanted = name.to_lowercase();
    let taken = company.live(kind).any(|record| {
        except != Some((kind, record.id()))
            && record.text("Name").is_some_and(|n| base_name(n).trim().to_lowercase() == wanted)
    });
    if taken {
        return Err(duplicate(what));
    }
    Ok(name)
}

fn item(
    company: &mut Company,
    input: &Object,
    out: &mut Object,
    active: bool,
    except: Option<(EntityKind, &str)>,
    inactive: Inactive,
) -> Result<(), Fault> {
    let name = list_name(company, EntityKind::Item, input, except, "product or service")?;
    let name = stored_name(&name, active);
    out.insert("Name".into(), Value::String(name.clone()));
    out.insert("FullyQualifiedName".into(), Value::String(name));
    out.entry("Type").or_insert_with(|| Value::String("Service".into()));
    for (field, default) in [("Taxable", false), ("TrackQtyOnHand", false)] {
        out.entry(field).or_insert(Value::Bool(default));
    }
    for field in ["UnitPrice", "PurchaseCost"] {
        let value = validate::decimal(field, input.get(field))?.unwrap_or_default();
        out.insert(field.into(), amount::plain(value));
    }
    for field in ["IncomeAccountRef", "ExpenseAccountRef", "AssetAccountRef"] {
        if let Some(resolved) = validate::reference(company, EntityKind::Account, input.get(field), field, inactive)? {
            out.insert(field.into(), json!({ "value": resolved.id, "name": resolved.name }));
        }
    }
    Ok(())
}

/// The classification QBO derives from an account type.
fn classification(account_type: &str) -> Option<&'static str> {
    Some(match account_type {
        "Bank" | "Other Current Asset" | "Fixed Asset" | "Other Asset" | "Accounts Receivable" => "Asset",
        "Equity" => "Equity",
        "Expense" | "Other Expense" | "Cost of Goods Sold" => "Expense",
        "Accounts Payable" | "Credit Card" | "Long Term Liability" | "Other Current Liability" => "Liability",
        "Income" | "Other Income" => "Revenue",
        _ => return None,
    })
}

/// The sub-type QBO picks when none is given.
fn default_sub_type(account_type: &str) -> &'static str {
    match account_type {
        "Bank" => "Checking",
        "Accounts Receivable" => "AccountsReceivable",
        "Accounts Payable" => "AccountsPayable",
        "Income" => "ServiceFeeIncome",
        "Other Income" => "OtherMiscellaneousIncome",
        "Cost of Goods Sold" => "SuppliesMaterialsCogs",
        "Credit Card" => "CreditCard",
        "Equity" => "OwnersEquity",
        "Other Current Asset" => "OtherCurrentAssets",
        "Fixed Asset" => "OtherFixedAssets",
        "Other Asset" => "OtherLongTermAssets",
        "Long Term Liability" => "OtherLongTermLiabilities",
        "Other Current Liability" => "OtherCurrentLiabilities",
        "Other Expense" => "OtherMiscellaneousExpense",
        _ => "OtherMiscellaneousServiceCost",
    }
}

fn account(
    company: &mut Company,
    input: &Object,
    out: &mut Object,
    active: bool,
    except: Option<(EntityKind, &str)>,
) -> Result<(), Fault> {
    let name = list_name(company, EntityKind::Account, input, except, "account")?;
    let account_type = input.get("AccountType").and_then(Value::as_str).unwrap_or_default();
    let Some(class) = classification(account_type) else {
        return Err(Fault::validation(
            "6010",
            "Invalid Account.AccountType && Account.SubType",
            "Either an Account.AccountType or an Account.AccountSubType must be specified".to_owned(),
            Some("AccountType"),
        ));
    };
    let name = stored_name(&name, active);
    out.insert("Name".into(), Value::String(name.clone()));
    out.insert("FullyQualifiedName".into(), Value::String(name));
    out.insert("Classification".into(), Value::String(class.into()));
    out.entry("AccountSubType").or_insert_with(|| Value::String(default_sub_type(account_type).into()));
    out.entry("SubAccount").or_insert(Value::Bool(false));
    for field in ["CurrentBalance", "CurrentBalanceWithSubAccounts"] {
        let value = validate::decimal(field, input.get(field))?.unwrap_or_default();
        out.insert(field.into(), amount::plain(value));
    }
    out.entry("CurrencyRef").or_insert_with(|| build::home_currency(company));
    Ok(())
}
