//! The QuickBooks Online Accounting API v3 emulator, under `/v3/company/{realmId}/`.
//!
//! qbsync's promise, one QBO document per ready row, is only as good as what it was tested
//! against. This emulator behaves like QBO wherever qbsync depends on it: the shapes of the
//! recorded fixtures, the computed fields (`TotalAmt`, `Balance`, `Id`, `SyncToken`,
//! `MetaData`), the validation faults and their codes, the query language, batches, CDC,
//! `requestid` replay, the quotas, and the gateway's 401/403/429 bodies. Tests and people steer
//! it through the Rust methods below or the `/_sandbox/qbo/…` control routes.
//!
//! Layout: [`company`] holds the state; [`names`] and [`transactions`] build entities with the
//! help of [`validate`] and [`build`]; [`payments`] builds Payments and BillPayments and applies
//! them to balances; [`void`] voids an invoice; [`operations`] applies one
//! create/update/delete/void/read/query, shared by the single endpoints and [`batch`]; [`query`]
//! is the query language; [`cdc`], [`limits`], [`fault`], [`seed`] and [`clock`] (one movable
//! clock per emulator) do what their names say; [`api`] is the HTTP surface and [`control`] the
//! sandbox's own routes.

mod amount;
mod api;
mod batch;
mod build;
mod cdc;
mod clock;
mod company;
mod control;
mod country;
mod entities;
mod fault;
mod limits;
mod names;
mod operations;
mod payments;
mod query;
mod reply;
mod seed;
mod tax;
mod transactions;
mod validate;
mod void;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use chrono::{DateTime, NaiveDate};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use country::{SandboxCountry, UnknownCountry};
pub use entities::EntityKind;
pub use fault::ThrottleFormat;
pub use limits::QboLimits;
pub use seed::{CompanySeed, DEMO_COMPANY, SeedError};

use super::{SandboxOptions, Shared};
use company::{Company, Record};
use operations::{Operation, WriteContext};
use transactions::TxnOptions;

/// The minor version every request is served as (lower ones are no longer honoured).
pub const SERVED_MINOR_VERSION: u32 = 75;

/// One line of an invoice or bill, for test assertions (subtotal lines left out).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LineSummary {
    pub detail_type: String,
    pub amount: Decimal,
    pub description: Option<String>,
    /// The item (sales and item-based lines) or account (account-based lines) the line uses.
    pub ref_id: Option<String>,
    pub qty: Option<Decimal>,
    pub unit_price: Option<Decimal>,
}

/// An invoice or bill as stored, for test assertions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TxnSummary {
    pub id: String,
    pub sync_token: String,
    pub doc_number: Option<String>,
    /// The customer (invoices) or vendor (bills).
    pub party_id: String,
    pub party_name: String,
    pub total: Decimal,
    pub balance: Decimal,
    pub txn_date: Option<NaiveDate>,
    pub due_date: Option<NaiveDate>,
    pub private_note: Option<String>,
    pub lines: Vec<LineSummary>,
    /// The `requestid`s of the writes that created or changed it.
    pub request_ids: Vec<String>,
    pub invoice_link: Option<String>,
}

/// Requests received, by kind, plus how some of them ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCounts {
    pub create: u64,
    pub update: u64,
    pub delete: u64,
    pub read: u64,
    pub query: u64,
    pub batch: u64,
    pub cdc: u64,
    /// Answered 401.
    pub unauthorized: u64,
    /// Answered 403.
    pub forbidden: u64,
    /// Answered 429 by the quotas.
    pub throttled: u64,
    /// Writes answered from the `requestid` memory instead of being applied.
    pub replayed: u64,
    /// Requests failed by the fault plan (5xx, 429, hang).
    pub injected_faults: u64,
}

/// The kinds of request counted in [`RequestCounts`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RequestKind {
    Create,
    Update,
    Delete,
    Read,
    Query,
    Batch,
    Cdc,
}

#[derive(Default)]
struct Stats {
    counts: RequestCounts,
    minor_versions: Vec<Option<String>>,
}

/// The emulator's switches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QboSettings {
    /// Replay the answer of a write repeated with the same `requestid`.
    pub honour_request_id: bool,
    /// Refuse `GlobalTaxCalculation` on a US company's documents (undocumented; on by default).
    pub refuse_us_tax_calculation: bool,
    /// `Preferences.SalesFormsPrefs.CustomTxnNumbers`.
    pub custom_txn_numbers: bool,
    /// Whether the plan includes Bills (Simple Start does not).
    pub plan_has_bills: bool,
    /// Enforce the quotas in [`QboSettings::limits`].
    pub enforce_limits: bool,
    pub throttle_format: ThrottleFormat,
    pub limits: QboLimits,
    /// Refuse to void or delete an invoice or bill with a payment applied (default): sources
    /// conflict (reference §2.2), so the pessimistic reading. Off, the delete or void goes
    /// through and the payment is left applied to nothing.
    pub refuse_changes_with_payments: bool,
    /// A payment applied or taken back moves the document's SyncToken (default): Intuit does not
    /// say (reference §1.2), and a moving token is the reading a client must survive.
    pub payments_move_sync_token: bool,
}

/// A partial change to [`QboSettings`]; absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsPatch {
    pub honour_request_id: Option<bool>,
    pub refuse_us_tax_calculation: Option<bool>,
    pub custom_txn_numbers: Option<bool>,
    pub plan_has_bills: Option<bool>,
    pub enforce_limits: Option<bool>,
    pub throttle_format: Option<ThrottleFormat>,
    pub limits: Option<QboLimits>,
    pub refuse_changes_with_payments: Option<bool>,
    pub payments_move_sync_token: Option<bool>,
}

/// Why a control action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("the company has no {} with id {id}", kind.wire_name())]
    NotFound { kind: EntityKind, id: String },
    #[error("{action} does not apply to a {}", kind.wire_name())]
    WrongKind { kind: EntityKind, action: &'static str },
    #[error("QBO would refuse this with fault {code}: {detail}")]
    Refused { code: &'static str, detail: String },
    #[error("a payment of {amount} does not fit the open balance of {balance}")]
    BadPayment { amount: Decimal, balance: Decimal },
}

impl From<fault::Fault> for ControlError {
    fn from(fault: fault::Fault) -> Self {
        ControlError::Refused { code: fault.code, detail: fault.detail }
    }
}

pub struct QboEmulator {
    realm_id: String,
    shared: Shared,
    /// The seed the company started from, for [`QboEmulator::reset_company`].
    initial_seed: CompanySeed,
    company: Mutex<Company>,
    limiter: limits::RateLimiter,
    enforce_limits: AtomicBool,
    honour_request_id: AtomicBool,
    refuse_us_tax_calculation: AtomicBool,
    throttle_format: Mutex<ThrottleFormat>,
    stats: Mutex<Stats>,
    refuse_changes_with_payments: AtomicBool,
    payments_move_sync_token: AtomicBool,
    clock: clock::Clock,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock leaves plain data behind; keep serving.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl QboEmulator {
    /// Builds the emulator for `options.realm_id`, loading `options.company_seed` (or the
    /// bundled demo company).
    pub fn new(options: &SandboxOptions, shared: &Shared) -> anyhow::Result<Arc<QboEmulator>> {
        let initial_seed = CompanySeed::parse(options.company_seed.as_deref().unwrap_or(DEMO_COMPANY))?;
        let clock = clock::Clock::default();
        let company = seed::load(&initial_seed, &shared.base_url, &clock.now())?;
        Ok(Arc::new(QboEmulator {
            realm_id: options.realm_id.clone(),
            shared: shared.clone(),
            initial_seed,
            company: Mutex::new(company),
            limiter: limits::RateLimiter::new(QboLimits::default()),
            enforce_limits: AtomicBool::new(options.enforce_limits),
            honour_request_id: AtomicBool::new(options.honour_request_id),
            refuse_us_tax_calculation: AtomicBool::new(true),
            throttle_format: Mutex::new(ThrottleFormat::default()),
            stats: Mutex::default(),
            refuse_changes_with_payments: AtomicBool::new(true),
            payments_move_sync_token: AtomicBool::new(true),
            clock,
        }))
    }

    /// Now, in company time, on this emulator's clock.
    pub fn now(&self) -> DateTime<Tz> {
        self.clock.now()
    }

    fn now_text(&self) -> String {
        clock::envelope_time(&self.now())
    }

    /// Moves the emulator's clock forward (a 30-day outage, an invoice falling overdue) without
    /// waiting; everything it stamps and CDC's look-back follow.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// How far the emulator's clock runs ahead of real time.
    pub fn clock_offset(&self) -> chrono::Duration {
        self.clock.offset()
    }

    /// Back to real time.
    pub fn reset_clock(&self) {
        self.clock.reset();
    }

    /// `/v3/company/{realmId}/…` and `/_sandbox/qbo/…`; every answer carries an `intuit_tid`.
    pub fn router(self: &Arc<Self>) -> Router {
        api::routes(self.clone())
            .merge(control::routes(self.clone()))
            .layer(axum::middleware::map_response(api::add_intuit_tid))
    }

    /// The company id the emulator serves.
    pub fn realm_id(&self) -> &str {
        &self.realm_id
    }

    fn company(&self) -> MutexGuard<'_, Company> {
        lock(&self.company)
    }

    /// Replaces the company with one built from `seed`.
    pub fn load_company(&self, seed: &CompanySeed) -> Result<(), SeedError> {
        let company = seed::load(seed, &self.shared.base_url, &self.now())?;
        *self.company() = company;
        Ok(())
    }

    /// Replaces the company with one built from seed JSON.
    pub fn load_company_json(&self, json: &str) -> Result<(), SeedError> {
        self.load_company(&CompanySeed::parse(json)?)
    }

    /// Replaces the company with the demo company as a company of `country`: its
    /// `CompanyInfo.Country`, tax preferences and tax codes (see [`SandboxCountry`]).
    pub fn load_country(&self, country: SandboxCountry) -> Result<(), SeedError> {
        self.load_company(&country.seed()?)
    }

    /// The credit memos, oldest first (deleted ones left out).
    pub fn credit_memos(&self) -> Vec<TxnSummary> {
        self.summaries(EntityKind::CreditMemo)
    }

    /// The vendor credits, oldest first (deleted ones left out).
    pub fn vendor_credits(&self) -> Vec<TxnSummary> {
        self.summaries(EntityKind::VendorCredit)
    }

    /// Goes back to the company the emulator started with.
    pub fn reset_company(&self) -> Result<(), SeedError> {
        self.load_company(&self.initial_seed.clone())
    }

    /// The company as seed JSON (loadable with [`QboEmulator::load_company`]).
    pub fn dump_company(&self) -> CompanySeed {
        seed::dump(&self.company())
    }

    /// The invoices, oldest first (deleted ones left out).
    pub fn invoices(&self) -> Vec<TxnSummary> {
        self.summaries(EntityKind::Invoice)
    }

    /// The bills, oldest first (deleted ones left out).
    pub fn bills(&self) -> Vec<TxnSummary> {
        self.summaries(EntityKind::Bill)
    }

    fn summaries(&self, kind: EntityKind) -> Vec<TxnSummary> {
        self.company().live(kind).map(|record| summarize(kind, record)).collect()
    }

    /// Every live entity of `kind` as the API would answer it (payments, which have no summary).
    pub fn all(&self, kind: EntityKind) -> Vec<Value> {
        self.company().live(kind).map(|record| operations::render(record, true)).collect()
    }

    /// Reads one entity as the API would answer it (without `time`).
    pub fn entity(&self, kind: EntityKind, id: &str) -> Option<Value> {
        self.company().find(kind, id).filter(|r| !r.deleted).map(|r| operations::render(r, true))
    }

    /// Makes a customer, vendor, employee, item, account or tax code active or inactive, as a
    /// user would in QBO (a name gains or loses its ` (deleted)` suffix, a tax code keeps its
    /// name; SyncToken moves on).
    pub fn set_active(&self, kind: EntityKind, id: &str, active: bool) -> Result<(), ControlError> {
        if !kind.is_name_list() && kind != EntityKind::TaxCode {
            return Err(ControlError::WrongKind { kind, action: "making inactive" });
        }
        let mut company = self.company();
        let record = company.find_mut(kind, id).ok_or_else(|| ControlError::NotFound { kind, id: id.into() })?;
        if kind == EntityKind::TaxCode {
            record.body.insert("Active".into(), Value::Bool(active));
        } else {
            names::set_active(kind, &mut record.body, active, &self.now());
        }
        Ok(())
    }

    /// Adds a customer, vendor, employee, item or account from its QBO JSON (validated as QBO
    /// would, 6240 included) and answers it as stored.
    pub fn add_entity(&self, kind: EntityKind, body: &Value) -> Result<Value, ControlError> {
        if !kind.is_name_list() {
            return Err(ControlError::WrongKind { kind, action: "adding directly" });
        }
        let input = body.as_object().cloned().unwrap_or_default();
        let mut company = self.company();
        let built = names::build(&mut company, kind, &input, build::Mode::Create, &self.now())?;
        let record = Record::new(built);
        let answer = operations::render(&record, false);
        company.insert(kind, record);
        Ok(answer)
    }

    /// Adds a customer with this DisplayName; answers its id.
    pub fn add_customer(&self, display_name: &str) -> Result<String, ControlError> {
        self.add_named(EntityKind::Customer, display_name)
    }

    /// Adds a vendor with this DisplayName; answers its id.
    pub fn add_vendor(&self, display_name: &str) -> Result<String, ControlError> {
        self.add_named(EntityKind::Vendor, display_name)
    }

    fn add_named(&self, kind: EntityKind, display_name: &str) -> Result<String, ControlError> {
        let added = self.add_entity(kind, &json!({ "DisplayName": display_name }))?;
        Ok(added["Id"].as_str().unwrap_or_default().to_owned())
    }

    /// Records a payment dated today against an invoice (a `Payment`) or bill (a
    /// `BillPayment` by check), as a bookkeeper would in QuickBooks. Answers the payment id.
    pub fn record_payment(&self, kind: EntityKind, id: &str, amount: Decimal) -> Result<String, ControlError> {
        self.record_payment_on(kind, id, amount, None)
    }

    /// [`QboEmulator::record_payment`] with a date (`TxnDate`; today when `None`): the balance
    /// drops, the document's `LinkedTxn` names the payment, its SyncToken and
    /// `LastUpdatedTime` move on. A bill is paid from the first bank account.
    pub fn record_payment_on(
        &self,
        kind: EntityKind,
        id: &str,
        amount: Decimal,
        date: Option<NaiveDate>,
    ) -> Result<String, ControlError> {
        let (payment_kind, party_field) = match kind {
            EntityKind::Invoice => (EntityKind::Payment, "CustomerRef"),
            EntityKind::Bill => (EntityKind::BillPayment, "VendorRef"),
            _ => return Err(ControlError::WrongKind { kind, action: "recording a payment" }),
        };
        let mut company = self.company();
        let record = company
            .find(kind, id)
            .filter(|r| !r.deleted)
            .ok_or_else(|| ControlError::NotFound { kind, id: id.into() })?;
        let balance = record.body.get("Balance").and_then(amount::parse).unwrap_or_default();
        if amount <= Decimal::ZERO || amount > balance {
            return Err(ControlError::BadPayment { amount, balance });
        }
        let party = record.body.get(party_field).and_then(|r| r.get("value")).cloned().unwrap_or(Value::Null);
        let mut body = json!({
            party_field: { "value": party },
            "TotalAmt": amount::money(amount),
            "Line": [{ "Amount": amount::money(amount), "LinkedTxn": [{ "TxnId": id, "TxnType": kind.wire_name() }] }],
        });
        if let Some(date) = date {
            body["TxnDate"] = json!(date.format("%Y-%m-%d").to_string());
        }
        if payment_kind == EntityKind::BillPayment {
            let bank = company
                .live(EntityKind::Account)
                .find(|a| a.active() && a.text("AccountType") == Some("Bank"))
                .map(|a| a.id().to_owned())
                .ok_or(ControlError::Refused {
                    code: "2020",
                    detail: "the company has no bank account to pay bills from".into(),
                })?;
            body["PayType"] = json!("Check");
            body["CheckPayment"] = json!({ "BankAccountRef": { "value": bank } });
        }
        let answer = self.control_write(&mut company, payment_kind, Operation::Create, &body)?;
        Ok(answer["Id"].as_str().unwrap_or_default().to_owned())
    }

    /// Voids a document as a user would in QuickBooks: an invoice (zeroed, `Voided` in its
    /// note) or a payment (its money comes off the documents it paid). Bills cannot be voided.
    pub fn void_document(&self, kind: EntityKind, id: &str) -> Result<(), ControlError> {
        self.change_document(kind, id, Operation::Void)
    }

    /// Deletes an invoice, bill or payment as a user would in QuickBooks (a payment's money
    /// comes off the documents it paid; CDC then reports the tombstone).
    pub fn delete_document(&self, kind: EntityKind, id: &str) -> Result<(), ControlError> {
        self.change_document(kind, id, Operation::Delete)
    }

    fn change_document(&self, kind: EntityKind, id: &str, operation: Operation) -> Result<(), ControlError> {
        if !kind.is_transaction() {
            return Err(ControlError::WrongKind { kind, action: "voiding or deleting" });
        }
        let mut company = self.company();
        let record = company
            .find(kind, id)
            .filter(|r| !r.deleted)
            .ok_or_else(|| ControlError::NotFound { kind, id: id.into() })?;
        let body = json!({ "Id": id, "SyncToken": record.sync_token() });
        self.control_write(&mut company, kind, operation, &body).map(|_| ())
    }

    /// A write made "in QuickBooks" rather than through the API: validated and applied the
    /// same way, without a `requestid` and without counting as a request.
    fn control_write(
        &self,
        company: &mut Company,
        kind: EntityKind,
        operation: Operation,
        body: &Value,
    ) -> Result<Value, ControlError> {
        let now = self.now();
        let context = WriteContext {
            now: &now,
            request_id: None,
            include_invoice_link: false,
            options: TxnOptions::default(),
            base_url: &self.shared.base_url,
            refuse_with_payments: self.refuse_changes_with_payments.load(Ordering::SeqCst),
            payments_move_sync_token: self.payments_move_sync_token.load(Ordering::SeqCst),
        };
        Ok(operations::write(company, kind, operation, body, &context)?)
    }

    /// The switches in force.
    pub fn settings(&self) -> QboSettings {
        let company = self.company();
        QboSettings {
            honour_request_id: self.honour_request_id.load(Ordering::SeqCst),
            refuse_us_tax_calculation: self.refuse_us_tax_calculation.load(Ordering::SeqCst),
            custom_txn_numbers: company.custom_txn_numbers(),
            plan_has_bills: company.plan_has_bills(),
            enforce_limits: self.enforce_limits.load(Ordering::SeqCst),
            throttle_format: *lock(&self.throttle_format),
            limits: self.limiter.limits(),
            refuse_changes_with_payments: self.refuse_changes_with_payments.load(Ordering::SeqCst),
            payments_move_sync_token: self.payments_move_sync_token.load(Ordering::SeqCst),
        }
    }

    /// Changes the switches named in `patch`.
    pub fn update_settings(&self, patch: &SettingsPatch) {
        if let Some(on) = patch.honour_request_id {
            self.set_honour_request_id(on);
        }
        if let Some(on) = patch.refuse_us_tax_calculation {
            self.set_refuse_us_tax_calculation(on);
        }
        if let Some(on) = patch.custom_txn_numbers {
            self.set_custom_txn_numbers(on);
        }
        if let Some(on) = patch.plan_has_bills {
            self.set_plan_has_bills(on);
        }
        if let Some(on) = patch.enforce_limits {
            self.set_enforce_limits(on);
        }
        if let Some(format) = patch.throttle_format {
            self.set_throttle_format(format);
        }
        if let Some(limits) = patch.limits {
            self.set_limits(limits);
        }
        if let Some(on) = patch.refuse_changes_with_payments {
            self.set_refuse_changes_with_payments(on);
        }
        if let Some(on) = patch.payments_move_sync_token {
            self.set_payments_move_sync_token(on);
        }
    }

    /// Off: a repeated `requestid` is executed again (reports say QBO does not always honour it).
    pub fn set_honour_request_id(&self, on: bool) {
        self.honour_request_id.store(on, Ordering::SeqCst);
    }

    /// Off: a US company ignores `GlobalTaxCalculation` instead of refusing the document.
    pub fn set_refuse_us_tax_calculation(&self, on: bool) {
        self.refuse_us_tax_calculation.store(on, Ordering::SeqCst);
    }

    pub fn set_custom_txn_numbers(&self, on: bool) {
        self.company().set_custom_txn_numbers(on);
    }

    /// Off: the company is on Simple Start, and Bill writes fail with 5020.
    pub fn set_plan_has_bills(&self, on: bool) {
        self.company().set_plan_has_bills(on);
    }

    /// Off: voiding or deleting a document with a payment applied goes through, the payment
    /// left applied to nothing.
    pub fn set_refuse_changes_with_payments(&self, on: bool) {
        self.refuse_changes_with_payments.store(on, Ordering::SeqCst);
    }

    /// Off: a payment changes the document's balance, `LinkedTxn` and `LastUpdatedTime` but
    /// leaves its SyncToken alone.
    pub fn set_payments_move_sync_token(&self, on: bool) {
        self.payments_move_sync_token.store(on, Ordering::SeqCst);
    }

    pub fn set_enforce_limits(&self, on: bool) {
        self.enforce_limits.store(on, Ordering::SeqCst);
    }

    /// Replaces the quotas (a short window lets a test prove them quickly) and resets the counts.
    pub fn set_limits(&self, limits: QboLimits) {
        self.limiter.set_limits(limits);
    }

    pub fn set_throttle_format(&self, format: ThrottleFormat) {
        *lock(&self.throttle_format) = format;
    }

    /// Requests received since start (or the last [`QboEmulator::reset_stats`]).
    pub fn request_counts(&self) -> RequestCounts {
        lock(&self.stats).counts.clone()
    }

    /// The `minorversion` of every API request, in order (`None` when absent). Every request is
    /// served as [`SERVED_MINOR_VERSION`] whatever it asks for.
    pub fn minor_versions(&self) -> Vec<Option<String>> {
        lock(&self.stats).minor_versions.clone()
    }

    pub fn reset_stats(&self) {
        *lock(&self.stats) = Stats::default();
    }

    fn count(&self, bump: impl FnOnce(&mut RequestCounts)) {
        bump(&mut lock(&self.stats).counts);
    }

    fn record_request(&self, kind: RequestKind, minor_version: Option<&str>) {
        let mut stats = lock(&self.stats);
        stats.minor_versions.push(minor_version.map(str::to_owned));
        let counts = &mut stats.counts;
        match kind {
            RequestKind::Create => counts.create += 1,
            RequestKind::Update => counts.update += 1,
            RequestKind::Delete => counts.delete += 1,
            RequestKind::Read => counts.read += 1,
            RequestKind::Query => counts.query += 1,
            RequestKind::Batch => counts.batch += 1,
            RequestKind::Cdc => counts.cdc += 1,
        }
    }

    /// Applies a write once per `requestid`: a repeat gets the stored answer and changes
    /// nothing (unless that is switched off). Answers the reply and whether a write was applied.
    fn write_once(
        &self,
        request_id: Option<&str>,
        apply: impl FnOnce(&mut Company, &WriteContext<'_>) -> (reply::Reply, bool),
        include_invoice_link: bool,
        options: TxnOptions,
    ) -> (reply::Reply, bool) {
        let mut company = self.company();
        if let Some(id) = request_id
            && self.honour_request_id.load(Ordering::SeqCst)
            && let Some(stored) = company.replies.get(id)
        {
            let stored = stored.clone();
            drop(company);
            self.count(|c| c.replayed += 1);
            return (stored, false);
        }
        let now = self.now();
        let context = WriteContext {
            now: &now,
            request_id,
            include_invoice_link,
            options: TxnOptions {
                refuse_us_tax_calculation: self.refuse_us_tax_calculation.load(Ordering::SeqCst),
                ..options
            },
            base_url: &self.shared.base_url,
            refuse_with_payments: self.refuse_changes_with_payments.load(Ordering::SeqCst),
            payments_move_sync_token: self.payments_move_sync_token.load(Ordering::SeqCst),
        };
        let (reply, applied) = apply(&mut company, &context);
        if let Some(id) = request_id {
            company.replies.entry(id.to_owned()).or_insert_with(|| reply.clone());
        }
        (reply, applied)
    }
}

fn summarize(kind: EntityKind, record: &Record) -> TxnSummary {
    let body = &record.body;
    let text = |field: &str| body.get(field).and_then(Value::as_str).map(str::to_owned);
    let party = body.get(if kind.is_sale() { "CustomerRef" } else { "VendorRef" });
    let party_field =
        |field: &str| party.and_then(|p| p.get(field)).and_then(Value::as_str).unwrap_or_default().to_owned();
    let decimal = |value: Option<&Value>| value.and_then(amount::parse).map(|d| d.normalize());
    let lines = body
        .get("Line")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|line| line.get("DetailType").and_then(Value::as_str) != Some("SubTotalLineDetail"))
        .map(|line| {
            let detail_type = line.get("DetailType").and_then(Value::as_str).unwrap_or_default().to_owned();
            let detail = line.get(&detail_type);
            let reference = detail
                .and_then(|d| d.get("ItemRef").or_else(|| d.get("AccountRef")))
                .and_then(|r| r.get("value"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            LineSummary {
                amount: decimal(line.get("Amount")).unwrap_or_default(),
                description: line.get("Description").and_then(Value::as_str).map(str::to_owned),
                ref_id: reference,
                qty: decimal(detail.and_then(|d| d.get("Qty"))),
                unit_price: decimal(detail.and_then(|d| d.get("UnitPrice"))),
                detail_type,
            }
        })
        .collect();
    TxnSummary {
        id: record.id().to_owned(),
        sync_token: record.sync_token().to_owned(),
        doc_number: text("DocNumber"),
        party_id: party_field("value"),
        party_name: party_field("name"),
        total: decimal(body.get("TotalAmt")).unwrap_or_default(),
        balance: decimal(body.get("Balance")).unwrap_or_default(),
        txn_date: text("TxnDate").as_deref().and_then(clock::parse_date),
        due_date: text("DueDate").as_deref().and_then(clock::parse_date),
        private_note: text("PrivateNote"),
        lines,
        request_ids: record.request_ids.clone(),
        invoice_link: record.invoice_link.clone(),
    }
}

/// The operation a single-entity write asks for, for counting.
fn request_kind(operation: Result<Operation, &fault::Fault>) -> RequestKind {
    match operation {
        Ok(Operation::Update | Operation::Void) => RequestKind::Update,
        Ok(Operation::Delete) => RequestKind::Delete,
        Ok(Operation::Create) | Err(_) => RequestKind::Create,
    }
}
