//! The QuickBooks checks: the connection works (company, plan, refresh-token expiry), invoice
//! numbers are the sheet's, the ids of the default item and accounts name active records of
//! the right kind, in dual mode the plan has bills, and the tax code settings fit the company's
//! country and tax codes.
//!
//! A first-time user does not know the ids; when one is missing or wrong, the check lists the
//! records that would do, with their ids, so the fix is a copy and paste.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::names::*;
use super::{Check, list};
use crate::auth::{AuthError, ConnectionStatus, TokenSource};
use crate::commands::context;
use crate::qbo::{Account, CompanyInfo, DEPOSIT_TYPES, Item, PAY_FROM_TYPES, QboClient, QboError};
use crate::settings::{AutoMarkPaid, Settings};

/// Account types an expense line may post to.
const EXPENSE_TYPES: [&str; 3] = ["Expense", "Other Expense", "Cost of Goods Sold"];
const PAYABLE_TYPE: &str = "Accounts Payable";
/// At most this many candidates are listed.
const MAX_CANDIDATES: usize = 15;

const LATER: [&str; 8] =
    [CUSTOM_NUMBERS, ITEM, EXPENSE_ACCOUNT, AP_ACCOUNT, BILLS, SALES_TAX, BILL_PAYMENT_ACCOUNT, DEPOSIT_ACCOUNT];

pub(super) async fn checks(settings: &Settings) -> Vec<Check> {
    let mut checks = Vec::new();
    let skip_rest = |checks: &mut Vec<Check>, why: &str| {
        checks.extend(LATER.iter().filter(|n| wanted(settings, n)).map(|n| Check::skip(n, why.to_owned())));
    };
    let tokens = match context::tokens(settings) {
        Ok(tokens) => tokens,
        Err(error) => {
            checks.push(Check::fail(QUICKBOOKS, format!("{error:#}"), "fix the QuickBooks settings named above"));
            skip_rest(&mut checks, "needs a QuickBooks connection");
            return checks;
        }
    };
    let status = tokens.status();
    let Some(realm_id) = settings.quickbooks.realm_id.clone().or_else(|| status.realm_id.clone()) else {
        checks.push(Check::fail(
            QUICKBOOKS,
            "no QuickBooks company is connected yet",
            "run `qbsync auth` and approve the connection in the browser",
        ));
        skip_rest(&mut checks, "needs a QuickBooks connection");
        return checks;
    };
    let source: Arc<dyn TokenSource> = tokens.clone();
    let qbo = match context::qbo_for_company(settings, &realm_id, source) {
        Ok(qbo) => qbo,
        Err(error) => {
            checks.push(Check::fail(QUICKBOOKS, format!("{error:#}"), "fix the QuickBooks settings named above"));
            skip_rest(&mut checks, "needs a QuickBooks connection");
            return checks;
        }
    };
    if let Err(error) = tokens.access_token().await {
        checks.push(auth_failure(&error));
        skip_rest(&mut checks, "needs a QuickBooks connection");
        return checks;
    }
    let company = match qbo.company_info().await {
        Ok(company) => company,
        Err(error) => {
            checks.push(qbo_failure(QUICKBOOKS, &error));
            skip_rest(&mut checks, "needs a QuickBooks connection");
            return checks;
        }
    };
    checks.push(connected(settings, &realm_id, &company, &tokens.status()));
    checks.push(custom_numbers(&qbo).await);
    checks.push(item(settings, &qbo).await);
    if wanted(settings, EXPENSE_ACCOUNT) {
        let id = settings.quickbooks.default_expense_account.as_deref();
        checks.push(account(&qbo, EXPENSE_ACCOUNT, "QB_DEFAULT_EXPENSE_ACCOUNT", id, &EXPENSE_TYPES).await);
    }
    if wanted(settings, AP_ACCOUNT) {
        let id = settings.quickbooks.default_vendor_account.as_deref();
        checks.push(account(&qbo, AP_ACCOUNT, "QB_DEFAULT_VENDOR_ACCOUNT", id, &[PAYABLE_TYPE]).await);
    }
    if wanted(settings, BILLS) {
        checks.push(bills(&company));
    }
    checks.push(sales_tax(settings, &qbo).await);
    if let AutoMarkPaid::On { account_id } = &settings.payments.mark_bills_paid {
        let id = Some(account_id.as_str());
        checks.push(account(&qbo, BILL_PAYMENT_ACCOUNT, "QB_BILL_PAYMENT_ACCOUNT", id, &PAY_FROM_TYPES).await);
    }
    if let AutoMarkPaid::On { account_id } = &settings.payments.mark_invoices_paid {
        let id = Some(account_id.as_str());
        checks.push(account(&qbo, DEPOSIT_ACCOUNT, "QB_PAYMENT_DEPOSIT_ACCOUNT", id, &DEPOSIT_TYPES).await);
    }
    checks
}

/// The company's country, tax setup and codes, and whether the tax settings fit them: a
/// company outside the US needs `QB_DEFAULT_TAX_CODE` (and in dual mode
/// `QB_DEFAULT_PURCHASE_TAX_CODE`), a US one takes only TAX or NON.
async fn sales_tax(settings: &Settings, qbo: &QboClient) -> Check {
    let setup = match qbo.tax_setup().await {
        Ok(setup) => setup,
        Err(error) => return qbo_failure(SALES_TAX, &error),
    };
    let how = if setup.automated_sales_tax() {
        "automated sales tax"
    } else if setup.needs_line_codes() {
        "a tax code on every line"
    } else if setup.using_sales_tax == Some(true) {
        "sales tax without automation"
    } else {
        "no sales tax set up"
    };
    let found = format!("{} company, {how}; tax codes: {}", setup.country, setup.code_list());
    match setup.plan(&settings.tax.config, settings.sync.creates_bills()) {
        Ok(plan) => Check::pass(SALES_TAX, format!("{found}; {}", plan.describe())),
        Err(error) => Check::fail(SALES_TAX, found, error.to_string()),
    }
}

/// Bill-only checks are asked in dual mode, or when their id is set anyway.
fn wanted(settings: &Settings, name: &str) -> bool {
    let bills = settings.sync.creates_bills();
    let qb = &settings.quickbooks;
    match name {
        EXPENSE_ACCOUNT => bills || qb.default_expense_account.is_some(),
        AP_ACCOUNT => bills || qb.default_vendor_account.is_some(),
        BILLS => bills,
        BILL_PAYMENT_ACCOUNT => settings.payments.mark_bills_paid != AutoMarkPaid::Off,
        DEPOSIT_ACCOUNT => settings.payments.mark_invoices_paid != AutoMarkPaid::Off,
        _ => true,
    }
}

fn auth_failure(error: &AuthError) -> Check {
    let fix = match error {
        AuthError::NeedsReconnect { .. } | AuthError::StateMismatch | AuthError::ConnectFailed { .. } => {
            "run `qbsync auth` to connect the company again"
        }
        AuthError::Transient { .. } => "check this machine's network access to Intuit and try again",
        AuthError::Store { .. } => "use the token-store key the store was written with (see \"token store\")",
        AuthError::WrongEnvironment { .. } | AuthError::WrongCompany { .. } | AuthError::Config { .. } => {
            "fix the setting named above, or run `qbsync auth` again"
        }
        AuthError::GoogleNeedsConsent { .. } => "run `qbsync auth google`",
    };
    Check::fail(QUICKBOOKS, error.to_string(), fix)
}

fn qbo_failure(name: &'static str, error: &QboError) -> Check {
    let fix = match error {
        QboError::NeedsReconnect { .. } => "run `qbsync auth` to connect the company again".to_owned(),
        QboError::Transient { .. } => "QuickBooks is busy or unreachable: try again in a few minutes".to_owned(),
        other => other.for_bookkeeper(),
    };
    Check::fail(name, error.to_string(), fix)
}

fn connected(settings: &Settings, realm_id: &str, company: &CompanyInfo, status: &ConnectionStatus) -> Check {
    let plan = company.offering_sku.clone().unwrap_or_else(|| "plan not reported".to_owned());
    let expiry = match (status.refresh_expires_at, status.hard_expires_at) {
        (Some(rolling), Some(hard)) => {
            format!(
                "refresh token valid until {} (renewed by each refresh; reconnect by {} at the latest)",
                day(rolling),
                day(hard)
            )
        }
        (Some(rolling), None) => format!("refresh token valid until {} (renewed by each refresh)", day(rolling)),
        (None, Some(hard)) => format!("reconnect by {} at the latest", day(hard)),
        (None, None) => "refresh-token expiry not known".to_owned(),
    };
    let detail =
        format!("\"{}\" (company {realm_id}, {}), {plan}; {expiry}", company.name, settings.quickbooks.environment);
    match status.expiry_warning() {
        Some(warning) => {
            Check::warn(QUICKBOOKS, format!("{detail}; {warning}"), "run `qbsync auth` now to renew the connection")
        }
        None => Check::pass(QUICKBOOKS, detail),
    }
}

async fn custom_numbers(qbo: &QboClient) -> Check {
    match qbo.preferences().await {
        Ok(preferences) if preferences.custom_txn_numbers => {
            Check::pass(CUSTOM_NUMBERS, "on: invoices carry the sheet's invoice numbers")
        }
        Ok(_) => Check::fail(
            CUSTOM_NUMBERS,
            "off: QuickBooks would number invoices itself, and qbsync finds its invoices by the sheet's numbers",
            "in QuickBooks, open Settings → Account and settings → Sales → Sales form content and turn on \"Custom transaction numbers\"",
        ),
        Err(error) => qbo_failure(CUSTOM_NUMBERS, &error),
    }
}

async fn item(settings: &Settings, qbo: &QboClient) -> Check {
    let candidates = || async {
        match qbo.items().await {
            Ok(items) => {
                let usable: Vec<String> = items
                    .iter()
                    .filter(|i| i.active && i.item_type != "Category")
                    .take(MAX_CANDIDATES)
                    .map(describe_item)
                    .collect();
                if usable.is_empty() {
                    "there is no active product or service yet: create one in QuickBooks (Sales → Products and services)".to_owned()
                } else {
                    format!("items you can use: {}", list(&usable))
                }
            }
            Err(error) => format!("(the items could not be listed: {error})"),
        }
    };
    let Some(id) = settings.quickbooks.default_item_id.as_deref() else {
        return Check::fail(
            ITEM,
            "QB_DEFAULT_ITEM_ID is not set",
            format!(
                "set QB_DEFAULT_ITEM_ID to the Id of the product or service on invoice lines; {}",
                candidates().await
            ),
        );
    };
    let found = match qbo.read_item(id).await {
        Ok(found) => found,
        Err(error) if not_found(&error) => {
            return Check::fail(
                ITEM,
                format!("QuickBooks has no item with Id {id} (QB_DEFAULT_ITEM_ID)"),
                format!("set QB_DEFAULT_ITEM_ID to one of the {}", candidates().await),
            );
        }
        Err(error) => return qbo_failure(ITEM, &error),
    };
    if !found.active {
        return Check::fail(
            ITEM,
            format!("item {} is inactive (QB_DEFAULT_ITEM_ID)", describe_item(&found)),
            format!(
                "make it active again in QuickBooks (Sales → Products and services → filter: Inactive → Make active), or set QB_DEFAULT_ITEM_ID to one of the {}",
                candidates().await
            ),
        );
    }
    if found.item_type == "Category" {
        return Check::fail(
            ITEM,
            format!(
                "item {} is a category, which cannot go on an invoice line (QB_DEFAULT_ITEM_ID)",
                describe_item(&found)
            ),
            format!("set QB_DEFAULT_ITEM_ID to one of the {}", candidates().await),
        );
    }
    Check::pass(ITEM, format!("item {}", describe_item(&found)))
}

fn describe_item(item: &Item) -> String {
    format!("{} \"{}\" ({})", item.id, item.name, item.item_type)
}

/// An account setting: the account exists, is active and has one of `types`.
async fn account(qbo: &QboClient, name: &'static str, variable: &str, id: Option<&str>, types: &[&str]) -> Check {
    let kind = list(&types.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>());
    let candidates = || async {
        match qbo.accounts().await {
            Ok(accounts) => {
                let usable: Vec<String> = accounts
                    .iter()
                    .filter(|a| a.active && types.contains(&a.account_type.as_str()))
                    .take(MAX_CANDIDATES)
                    .map(describe_account)
                    .collect();
                if usable.is_empty() {
                    format!(
                        "there is no active account of type {kind} yet: create one in QuickBooks (Accounting → Chart of accounts)"
                    )
                } else {
                    format!("accounts of type {kind}: {}", list(&usable))
                }
            }
            Err(error) => format!("(the accounts could not be listed: {error})"),
        }
    };
    let Some(id) = id else {
        // Only the A/P account may be left out: QuickBooks then uses the company's own.
        if types == [PAYABLE_TYPE] {
            return Check::pass(name, format!("{variable} not set: QuickBooks uses the company's default A/P account"));
        }
        return Check::fail(
            name,
            format!("{variable} is not set"),
            format!("set {variable} to the Id of one of the {}", candidates().await),
        );
    };
    let found = match qbo.read_account(id).await {
        Ok(found) => found,
        Err(error) if not_found(&error) => {
            return Check::fail(
                name,
                format!("QuickBooks has no account with Id {id} ({variable})"),
                format!("set {variable} to the Id of one of the {}", candidates().await),
            );
        }
        Err(error) => return qbo_failure(name, &error),
    };
    if !found.active {
        return Check::fail(
            name,
            format!("account {} is inactive ({variable})", describe_account(&found)),
            format!(
                "make it active again in QuickBooks (Accounting → Chart of accounts → filter: Inactive), or set {variable} to the Id of one of the {}",
                candidates().await
            ),
        );
    }
    if !types.contains(&found.account_type.as_str()) {
        return Check::fail(
            name,
            format!("account {} is not of type {kind} ({variable})", describe_account(&found)),
            format!("set {variable} to the Id of one of the {}", candidates().await),
        );
    }
    Check::pass(name, format!("account {}", describe_account(&found)))
}

fn describe_account(account: &Account) -> String {
    format!("{} \"{}\" ({})", account.id, account.name, account.account_type)
}

fn bills(company: &CompanyInfo) -> Check {
    let plan = company.offering_sku.as_deref().unwrap_or("not reported");
    match company.bills_available() {
        Some(true) => Check::pass(BILLS, format!("the plan ({plan}) includes bills")),
        Some(false) => Check::fail(
            BILLS,
            format!("the company's plan ({plan}) has no bills"),
            "upgrade the company to QuickBooks Online Essentials or higher, or set QB_SYNC_MODE=invoice_only to skip money-out rows",
        ),
        None => Check::warn(
            BILLS,
            format!("QuickBooks does not say whether the plan ({plan}) includes bills"),
            "run `qbsync run-once --dry-run` and then one real bill: a plan without bills answers with a clear error",
        ),
    }
}

/// A read of an id that does not exist (fault 610).
fn not_found(error: &QboError) -> bool {
    matches!(error, QboError::Rejected { faults } if faults.iter().any(|f| f.code == "610"))
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}
