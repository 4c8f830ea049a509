//! The QuickBooks Online side: the only module that knows the QBO wire format.
//!
//! Everything QuickBooks-specific lives here so that the sync engine can speak in terms of
//! documents, parties and decisions ([`QboError`] has one variant per thing a caller does
//! differently), never in terms of JSON keys, fault codes or HTTP statuses.
//!
//! - [`model`]: the request bodies we send (exact JSON, money as exact number text) and the
//!   lenient readers of what comes back.
//! - [`fault`]: every shape an error arrives in (JSON in two casings, XML, faults inside a 200,
//!   batch item faults, token-endpoint errors), parsed into one [`Fault`].
//! - [`error`]: [`QboError`], the classification of a fault or transport failure into a decision,
//!   and the one-sentence explanation a bookkeeper reads.
//! - [`query`]: the query language: literals, escaping, `IN (…)` chunking, paging.
//! - [`client`]: [`QboClient`], which sends requests with timeouts, retries, token refresh and
//!   the write rules that keep "never a duplicate" true (a write whose answer is lost is
//!   *Uncertain* and is never resent blindly).
//! - [`pacing`]: staying under QuickBooks' published limits, and the call counters.
//! - `retry`: back-off and `Retry-After`.
//! - [`request_id`]: [`RequestId`], the idempotency key sent with every write.
//! - [`money`]: `Decimal` ⇄ JSON number text, never through `f64` arithmetic.
//! - [`links`]: the back-office URL of a document.
//! - [`tax`]: the company's tax setup and how each document is taxed (pure).
//! - [`tax_fault`]: QuickBooks refusing a document for its tax, told apart from other refusals.
//! - [`ledger`]: what QuickBooks says about money after a document exists (balances, payment
//!   links, voids, payments); [`cdc`]: change data capture and reading documents by id;
//!   [`payments`]: sending a Payment or BillPayment; [`cancel`]: voiding and deleting.

pub mod cancel;
pub mod cdc;
pub mod client;
pub mod doc_tax;
pub mod error;
pub mod fault;
pub mod ledger;
pub mod links;
pub mod model;
pub mod money;
pub mod pacing;
pub mod payments;
pub mod query;
pub mod request_id;
mod retry;
pub mod tax;
pub mod tax_fault;

pub use cdc::{CdcAnswer, CdcEntity, CdcOutcome, Change};
pub use client::{PRODUCTION_API_URL, PRODUCTION_APP_URL, QboClient, QboSettings, SANDBOX_API_URL, SANDBOX_APP_URL};
pub use doc_tax::{DocTax, GlobalTaxCalculation, TaxCodeId, TaxShapeError};
pub use error::{NameHolder, QboError};
pub use fault::{Fault, FaultDetail};
pub use ledger::{Applied, DocState, PaymentKind, PaymentLink, PaymentState};
pub use model::{
    Account, CompanyInfo, DEPOSIT_TYPES, Doc, DocKind, ExpenseLine, Item, NewBill, NewDoc, NewInvoice, PAY_FROM_TYPES,
    Party, PartyKind, Preferences, SalesLine,
};
pub use pacing::CallStats;
pub use payments::{NewPayment, PayFrom};
pub use request_id::{InvalidRequestId, RequestId};
pub use tax::{Country, DocTaxError, TaxCode, TaxCodeSpec, TaxConfig, TaxConfigError, TaxPlan, TaxSetting, TaxSetup};
pub use tax_fault::TaxFault;
