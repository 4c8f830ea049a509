//! [`QboClient`]: every call qbsync makes to QuickBooks, with the rules that keep it safe.
//!
//! The rules, in the order a call meets them:
//! 1. **Pacing**: wait for a concurrency slot and the rate limits ([`super::pacing`]).
//! 2. **Every request** carries `minorversion`, `Accept: application/json` and the bearer token;
//!    every write carries `requestid`, built into the URL once so that every retry and the replay
//!    after a token refresh send the very same id.
//! 3. **401**: ask the [`TokenSource`] to refresh once and replay the same request; a second 401
//!    means a person must reconnect.
//! 4. **Transient** trouble (throttling, 5xx on a read, a connection that could not be opened) is
//!    retried with back-off inside the attempt budget.
//! 5. **A write whose answer is lost** (timeout or connection drop after sending, 5xx, a 2xx we
//!    cannot read) is never resent: it is [`QboError::Uncertain`] and the caller looks the
//!    document up first. This is what "never a duplicate" rests on, because QuickBooks does not
//!    always honour `requestid` (reference §7).
//!
//! Each answer's `intuit_tid` header is logged (Intuit support asks for it); tokens and bodies
//! are not.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;
use tracing::{debug, warn};

use super::error::{Classified, NameHolder, Op, QboError, classify_fault, classify_status};
use super::fault::Fault;
use super::links;
use super::model::{Account, CompanyInfo, Doc, DocKind, Item, NewDoc, Party, PartyKind, Preferences, query_entities};
use super::pacing::{CallStats, Counters, Lane, Pacer};
use super::query::{self, MAX_RESULTS, Search, Select};
use super::request_id::{RequestId, check_batch_item_id};
use super::retry::{RetryPolicy, parse_retry_after};
use super::tax::{TaxCode, TaxSetup};
use crate::auth::{AuthError, TokenSource};

/// The production API host.
pub const PRODUCTION_API_URL: &str = "https://quickbooks.api.intuit.com/";
/// The sandbox API host (sandbox companies only).
pub const SANDBOX_API_URL: &str = "https://sandbox-quickbooks.api.intuit.com/";
/// The production web app, for document links.
pub const PRODUCTION_APP_URL: &str = "https://app.qbo.intuit.com";
/// The sandbox web app, for document links.
pub const SANDBOX_APP_URL: &str = "https://app.sandbox.qbo.intuit.com";

/// The most documents in one batch request.
pub const MAX_BATCH_ITEMS: usize = 30;
/// Stop paging after this many pages (a million records): a server that never sends a short
/// page must not keep us looping.
const MAX_PAGES: u32 = 1000;

/// How to reach and pace one QuickBooks company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QboSettings {
    /// The host root, e.g. `https://sandbox-quickbooks.api.intuit.com/`; `v3/company/{realm}/` is appended.
    pub api_url: String,
    pub realm_id: String,
    /// Sent as `minorversion` on every request (75).
    pub minor_version: u32,
    /// Per HTTP attempt, connecting included.
    pub timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    pub requests_per_minute: u32,
    pub max_concurrent: usize,
    pub batches_per_minute: u32,
    /// The web app root for document links: `https://app.qbo.intuit.com` or `https://app.sandbox.qbo.intuit.com`.
    pub app_url: String,
    /// The first retry's back-off (doubled each time, with jitter).
    pub retry_base_delay: Duration,
    /// The wait after a throttle (429) that names no `Retry-After`; 60 s per Intuit.
    pub throttle_delay: Duration,
}

impl QboSettings {
    /// Settings with QuickBooks' published limits and qbsync's defaults.
    pub fn new(api_url: impl Into<String>, realm_id: impl Into<String>, app_url: impl Into<String>) -> QboSettings {
        QboSettings {
            api_url: api_url.into(),
            realm_id: realm_id.into(),
            minor_version: 75,
            timeout: Duration::from_secs(60),
            max_attempts: 5,
            requests_per_minute: 500,
            max_concurrent: 10,
            batches_per_minute: 40,
            app_url: app_url.into(),
            retry_base_delay: Duration::from_secs(1),
            throttle_delay: Duration::from_secs(60),
        }
    }
}

/// A QuickBooks Online client for one company. Cheap to clone; clones share pacing and counters.
#[derive(Clone)]
pub struct QboClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `{api_url}/v3/company/{realm}/`
    company: Url,
    settings: QboSettings,
    tokens: Arc<dyn TokenSource>,
    pacer: Pacer,
    retry: RetryPolicy,
    counters: Counters,
}

impl fmt::Debug for QboClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QboClient").field("company", &self.inner.company.as_str()).finish_non_exhaustive()
    }
}

/// One logical call: the same URL (and so the same `requestid`) on every attempt.
pub(super) struct Call {
    pub(super) label: &'static str,
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) body: Option<(&'static str, String)>,
    pub(super) op: Op,
    pub(super) lane: Lane,
}

/// Why one attempt failed.
enum Failure {
    /// HTTP 401: the token was refused.
    Unauthorized(String),
    Failed(Classified),
}

impl From<QboError> for Failure {
    fn from(e: QboError) -> Failure {
        Failure::Failed(e.into())
    }
}

#[derive(Serialize)]
struct BatchRequest<'a> {
    #[serde(rename = "BatchItemRequest")]
    items: Vec<BatchItem<'a>>,
}

/// One batch item; the document is the exact body text that a single create would send.
#[derive(Serialize)]
struct BatchItem<'a> {
    #[serde(rename = "bId")]
    b_id: &'a str,
    operation: &'static str,
    #[serde(rename = "Invoice", skip_serializing_if = "Option::is_none")]
    invoice: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "Bill", skip_serializing_if = "Option::is_none")]
    bill: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "CreditMemo", skip_serializing_if = "Option::is_none")]
    credit_memo: Option<&'a serde_json::value::RawValue>,
    #[serde(rename = "VendorCredit", skip_serializing_if = "Option::is_none")]
    vendor_credit: Option<&'a serde_json::value::RawValue>,
}

impl QboClient {
    /// Checks the settings and builds the HTTP client. Nothing is sent.
    pub fn new(settings: QboSettings, tokens: Arc<dyn TokenSource>) -> Result<QboClient, QboError> {
        let invalid = |reason: String| QboError::InvalidRequest { reason };
        let mut company = Url::parse(&settings.api_url)
            .map_err(|e| invalid(format!("the QuickBooks API URL {:?} is not a URL ({e})", settings.api_url)))?;
        if !matches!(company.scheme(), "http" | "https") {
            return Err(invalid(format!("the QuickBooks API URL {:?} is not http(s)", settings.api_url)));
        }
        if settings.realm_id.trim().is_empty() {
            return Err(invalid("the QuickBooks realm id is empty".into()));
        }
        if settings.max_attempts == 0 || settings.timeout.is_zero() {
            return Err(invalid("max_attempts and timeout must be positive".into()));
        }
        company.set_query(None);
        company.set_fragment(None);
        company
            .path_segments_mut()
            .map_err(|()| invalid(format!("the QuickBooks API URL {:?} cannot take a path", settings.api_url)))?
            .pop_if_empty()
            .extend(["v3", "company", settings.realm_id.trim(), ""]);
        let pacer = Pacer::new(settings.requests_per_minute, settings.batches_per_minute, settings.max_concurrent)
            .map_err(invalid)?;
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(15)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("qbsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("cannot build the HTTP client: {e}")))?;
        let retry = RetryPolicy {
            max_attempts: settings.max_attempts,
            base_delay: settings.retry_base_delay,
            throttle_delay: settings.throttle_delay,
        };
        Ok(QboClient {
            inner: Arc::new(Inner { http, company, settings, tokens, pacer, retry, counters: Counters::default() }),
        })
    }

    /// Creates one invoice or bill. `request_id` must be the same on every call for this document.
    pub async fn create(&self, doc: &NewDoc, request_id: &RequestId) -> Result<Doc, QboError> {
        let body = doc.to_body().map_err(|e| QboError::InvalidRequest { reason: e.to_string() })?;
        self.create_body(doc.kind(), &body, request_id).await
    }

    /// Creates a document from the exact body text recorded with its intent, so a resend is
    /// byte-for-byte the first send (`body` is what [`NewDoc::to_body`] produced).
    pub async fn create_body(&self, kind: DocKind, body: &str, request_id: &RequestId) -> Result<Doc, QboError> {
        let answer = self.execute(&self.create_call(kind.resource(), body, request_id)).await?;
        self.created(answer.get(kind.entity()).and_then(|e| Doc::from_entity(kind, e).ok()), || {
            format!("QuickBooks answered the {} create without a readable {}", kind, kind.entity())
        })
    }

    /// Creates up to 30 documents in one batch request. Results come back in the order of
    /// `items`, matched by `bId` (never by position); an item missing from the answer is
    /// [`QboError::Uncertain`]. The outer error is for the request as a whole (then every item's
    /// fate is that error's).
    pub async fn create_batch(
        &self,
        items: &[(String, NewDoc)],
        batch_id: &RequestId,
    ) -> Result<Vec<(String, Result<Doc, QboError>)>, QboError> {
        let mut bodies = Vec::with_capacity(items.len());
        for (b_id, doc) in items {
            let body = doc.to_body().map_err(|e| QboError::InvalidRequest { reason: e.to_string() })?;
            bodies.push((b_id.clone(), doc.kind(), body));
        }
        self.create_batch_bodies(&bodies, batch_id).await
    }

    /// [`QboClient::create_batch`] from the exact body texts recorded with the intents.
    pub async fn create_batch_bodies(
        &self,
        items: &[(String, DocKind, String)],
        batch_id: &RequestId,
    ) -> Result<Vec<(String, Result<Doc, QboError>)>, QboError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        if items.len() > MAX_BATCH_ITEMS {
            return Err(QboError::InvalidRequest {
                reason: format!("a batch holds at most {MAX_BATCH_ITEMS} documents, not {}", items.len()),
            });
        }
        let mut seen = HashSet::new();
        for (b_id, _, _) in items {
            check_batch_item_id(b_id)
                .map_err(|e| QboError::InvalidRequest { reason: format!("batch item id {b_id:?}: {e}") })?;
            if !seen.insert(b_id.as_str()) {
                return Err(QboError::InvalidRequest { reason: format!("batch item id {b_id:?} is used twice") });
            }
        }
        let mut raw = Vec::with_capacity(items.len());
        for (b_id, _, body) in items {
            let value = serde_json::value::RawValue::from_string(body.clone())
                .map_err(|e| QboError::InvalidRequest { reason: format!("batch item {b_id} is not JSON: {e}") })?;
            raw.push(value);
        }
        let request = BatchRequest {
            items: items
                .iter()
                .zip(&raw)
                .map(|((b_id, kind, _), body)| {
                    let body = Some(body.as_ref());
                    let mut item = BatchItem {
                        b_id,
                        operation: "create",
                        invoice: None,
                        bill: None,
                        credit_memo: None,
                        vendor_credit: None,
                    };
                    match kind {
                        DocKind::Invoice => item.invoice = body,
                        DocKind::Bill => item.bill = body,
                        DocKind::CreditMemo => item.credit_memo = body,
                        DocKind::VendorCredit => item.vendor_credit = body,
                    }
                    item
                })
                .collect(),
        };
        let body = serde_json::to_string(&request).map_err(|e| QboError::InvalidRequest { reason: e.to_string() })?;
        let call = Call {
            label: "batch",
            method: Method::POST,
            url: self.url(&["batch"], &[("requestid", batch_id.as_str())]),
            body: Some(("application/json", body)),
            op: Op::Write,
            lane: Lane::Batch,
        };
        let answer = self.execute(&call).await?;
        let Some(answers) = answer.get("BatchItemResponse").and_then(Value::as_array) else {
            self.inner.counters.uncertain();
            return Err(QboError::Uncertain { reason: "the batch answer has no BatchItemResponse list".into() });
        };
        let mut by_id: HashMap<&str, &Value> = HashMap::new();
        for item in answers {
            match item.get("bId").and_then(Value::as_str) {
                Some(b_id) if seen.contains(b_id) => {
                    by_id.entry(b_id).or_insert(item);
                }
                other => {
                    warn!(target: "qbsync::qbo", b_id = ?other, "QuickBooks answered a batch item that was not asked for")
                }
            }
        }
        let results = items
            .iter()
            .map(|(b_id, kind, _)| {
                let result = match by_id.get(b_id.as_str()) {
                    None => Err(QboError::Uncertain { reason: format!("the batch answer has no item {b_id}") }),
                    Some(item) => self.batch_item(*kind, b_id, item),
                };
                if matches!(result, Err(QboError::Uncertain { .. })) {
                    self.inner.counters.uncertain();
                }
                (b_id.clone(), result)
            })
            .collect();
        Ok(results)
    }

    fn batch_item(&self, kind: DocKind, b_id: &str, item: &Value) -> Result<Doc, QboError> {
        if let Some(fault) = item.get("Fault").or_else(|| item.get("fault")) {
            let Some(fault) = Fault::from_fault_object(fault) else {
                return Err(QboError::Uncertain { reason: format!("batch item {b_id} has an unreadable fault") });
            };
            let Classified { error, throttled } = classify_fault(fault, Op::Write);
            if throttled {
                self.inner.counters.throttled();
            }
            return Err(error);
        }
        item.get(kind.entity()).and_then(|e| Doc::from_entity(kind, e).ok()).ok_or_else(|| QboError::Uncertain {
            reason: format!("batch item {b_id} has neither a fault nor a readable {}", kind.entity()),
        })
    }

    /// The documents of `kind` numbered `doc_number` (any party; usually none or one).
    pub async fn find_by_doc_number(&self, kind: DocKind, doc_number: &str) -> Result<Vec<Doc>, QboError> {
        self.find_by_doc_numbers(kind, &[doc_number.to_owned()]).await
    }

    /// The documents of `kind` with any of these numbers: `IN (…)` in chunks, every page.
    /// A number no query can carry is searched by its longest plain fragment and matched exactly;
    /// one without any such fragment (only an intent recorded before such numbers were refused
    /// at validation can hold one) is found by listing every document of the kind once: costly,
    /// but a pending intent must be settled, and one number must never stall the others.
    pub async fn find_by_doc_numbers(&self, kind: DocKind, doc_numbers: &[String]) -> Result<Vec<Doc>, QboError> {
        let mut exact = Vec::new();
        let mut fuzzy = Vec::new();
        let mut unsearchable = Vec::new();
        for number in unique(doc_numbers) {
            match query::search_for(number) {
                Some(Search::Exact(literal)) => exact.push(literal),
                Some(Search::Contains(pattern)) => fuzzy.push((number, pattern)),
                None => unsearchable.push(number),
            }
        }
        let mut docs = Vec::new();
        if !unsearchable.is_empty() {
            for entity in self.query_all(&Select::from(kind.entity()), kind.entity()).await? {
                let doc = Doc::from_entity(kind, &entity).map_err(|reason| QboError::Protocol { reason })?;
                if doc.doc_number.as_deref().is_some_and(|n| unsearchable.contains(&n)) {
                    docs.push(doc);
                }
            }
        }
        for chunk in query::chunk(exact) {
            let select = Select::from(kind.entity()).is_in("DocNumber", &chunk);
            for entity in self.query_all(&select, kind.entity()).await? {
                docs.push(Doc::from_entity(kind, &entity).map_err(|reason| QboError::Protocol { reason })?);
            }
        }
        for (number, pattern) in fuzzy {
            let select = Select::from(kind.entity()).like("DocNumber", &pattern);
            for entity in self.query_all(&select, kind.entity()).await? {
                let doc = Doc::from_entity(kind, &entity).map_err(|reason| QboError::Protocol { reason })?;
                if doc.doc_number.as_deref() == Some(number) {
                    docs.push(doc);
                }
            }
        }
        let mut ids = HashSet::new();
        docs.retain(|d| ids.insert(d.id.clone()));
        Ok(docs)
    }

    /// Reads one document; with `with_invoice_link`, an invoice's customer pay link is asked for.
    pub async fn read(&self, kind: DocKind, id: &str, with_invoice_link: bool) -> Result<Doc, QboError> {
        let include: &[(&str, &str)] =
            if with_invoice_link && kind == DocKind::Invoice { &[("include", "invoiceLink")] } else { &[] };
        let answer = self.get("read", &[kind.resource(), id], include).await?;
        answer
            .get(kind.entity())
            .ok_or_else(|| format!("the answer has no {}", kind.entity()))
            .and_then(|e| Doc::from_entity(kind, e))
            .map_err(|reason| QboError::Protocol { reason })
    }

    /// The customers or vendors with these display names, active and inactive (`IN (…)` in
    /// chunks). Names a query cannot carry exactly are found by fragment or, failing that, by a
    /// full listing, and matched with [`query::same_name`]. Exact matches are returned as
    /// QuickBooks matched them.
    pub async fn find_parties(&self, kind: PartyKind, display_names: &[String]) -> Result<Vec<Party>, QboError> {
        let entity = kind.entity();
        let mut exact = Vec::new();
        let mut fuzzy = Vec::new();
        let mut unsearchable = Vec::new();
        for name in unique(display_names) {
            match query::search_for(name) {
                Some(Search::Exact(literal)) => exact.push(literal),
                Some(Search::Contains(pattern)) => fuzzy.push((name, pattern)),
                None => unsearchable.push(name),
            }
        }
        let mut parties = Vec::new();
        for chunk in query::chunk(exact) {
            let select = Select::from(entity).any_active().is_in("DisplayName", &chunk);
            parties.extend(self.parties(&select, entity).await?);
        }
        for (name, pattern) in fuzzy {
            let select = Select::from(entity).any_active().like("DisplayName", &pattern);
            parties.extend(
                self.parties(&select, entity).await?.into_iter().filter(|p| query::same_name(&p.display_name, name)),
            );
        }
        if !unsearchable.is_empty() {
            let all = self.all_parties(kind).await?;
            parties
                .extend(all.into_iter().filter(|p| unsearchable.iter().any(|n| query::same_name(&p.display_name, n))));
        }
        let mut ids = HashSet::new();
        parties.retain(|p| ids.insert(p.id.clone()));
        Ok(parties)
    }

    /// Every customer or vendor, active and inactive, page by page (for "did you mean" suggestions).
    pub async fn all_parties(&self, kind: PartyKind) -> Result<Vec<Party>, QboError> {
        self.parties(&Select::from(kind.entity()).any_active(), kind.entity()).await
    }

    /// Creates a customer or vendor named `display_name`. A name already held by another
    /// customer, vendor or employee gives [`QboError::DuplicateName`] saying by whom.
    pub async fn create_party(
        &self,
        kind: PartyKind,
        display_name: &str,
        request_id: &RequestId,
    ) -> Result<Party, QboError> {
        let body = serde_json::json!({ "DisplayName": display_name }).to_string();
        let call = Call {
            label: "create",
            method: Method::POST,
            url: self.url(&[kind.resource()], &[("requestid", request_id.as_str())]),
            body: Some(("application/json", body)),
            op: Op::Write,
            lane: Lane::Single,
        };
        match self.execute(&call).await {
            Ok(answer) => self.created(answer.get(kind.entity()).and_then(|e| Party::from_entity(e).ok()), || {
                format!("QuickBooks answered the {kind} create without a readable {}", kind.entity())
            }),
            Err(QboError::Rejected { faults }) if faults.iter().any(|f| f.code == "6240") => {
                Err(QboError::DuplicateName {
                    name: display_name.to_owned(),
                    wanted: kind,
                    held_by: self.name_holder(display_name).await,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// Who holds a display name (best effort: a failed look-up just says nothing).
    async fn name_holder(&self, name: &str) -> Option<NameHolder> {
        for entity in ["Customer", "Vendor", "Employee"] {
            let select = match query::search_for(name)? {
                Search::Exact(l) => Select::from(entity).any_active().eq("DisplayName", &l),
                Search::Contains(p) => Select::from(entity).any_active().like("DisplayName", &p),
            };
            let Ok(found) = self.parties(&select, entity).await else { continue };
            if let Some(p) = found.into_iter().find(|p| query::same_name(&p.display_name, name)) {
                return Some(NameHolder {
                    entity: entity.into(),
                    id: p.id,
                    display_name: p.display_name,
                    active: p.active,
                });
            }
        }
        None
    }

    /// Reads an item (the invoice lines' `ItemRef`).
    pub async fn read_item(&self, id: &str) -> Result<Item, QboError> {
        let answer = self.get("read", &["item", id], &[]).await?;
        answer
            .get("Item")
            .ok_or_else(|| "the answer has no Item".to_owned())
            .and_then(Item::from_entity)
            .map_err(protocol)
    }

    /// Reads an account (the bill lines' `AccountRef`, `APAccountRef`).
    pub async fn read_account(&self, id: &str) -> Result<Account, QboError> {
        let answer = self.get("read", &["account", id], &[]).await?;
        answer
            .get("Account")
            .ok_or_else(|| "the answer has no Account".to_owned())
            .and_then(Account::from_entity)
            .map_err(protocol)
    }

    /// Every active item (for `qbsync doctor` to list the candidates for `QB_DEFAULT_ITEM_ID`).
    pub async fn items(&self) -> Result<Vec<Item>, QboError> {
        let entities = self.query_all(&Select::from("Item"), "Item").await?;
        entities.iter().map(|e| Item::from_entity(e).map_err(protocol)).collect()
    }

    /// Every active account (for `qbsync doctor` to list the candidates for the account ids).
    pub async fn accounts(&self) -> Result<Vec<Account>, QboError> {
        let entities = self.query_all(&Select::from("Account"), "Account").await?;
        entities.iter().map(|e| Account::from_entity(e).map_err(protocol)).collect()
    }

    /// The connected company's name, country and plan hints.
    pub async fn company_info(&self) -> Result<CompanyInfo, QboError> {
        let realm = self.inner.settings.realm_id.trim().to_owned();
        let answer = self.get("read", &["companyinfo", &realm], &[]).await?;
        answer
            .get("CompanyInfo")
            .map(CompanyInfo::from_entity)
            .ok_or_else(|| protocol("the answer has no CompanyInfo".into()))
    }

    /// The company's preferences (custom transaction numbers, tax, currency).
    pub async fn preferences(&self) -> Result<Preferences, QboError> {
        let answer = self.get("read", &["preferences"], &[]).await?;
        answer
            .get("Preferences")
            .map(Preferences::from_entity)
            .ok_or_else(|| protocol("the answer has no Preferences".into()))
    }

    /// The company's tax codes, as a plain query answers them (`TaxCode` is not in CDC: read
    /// them again after a tax fault).
    pub async fn tax_codes(&self) -> Result<Vec<TaxCode>, QboError> {
        let entities = self.query_all(&Select::from("TaxCode"), "TaxCode").await?;
        entities.iter().map(|e| TaxCode::from_entity(e).map_err(protocol)).collect()
    }

    /// The company's tax setup: country, tax preferences and tax codes (three reads). Turn it
    /// into a plan with [`TaxSetup::plan`].
    pub async fn tax_setup(&self) -> Result<TaxSetup, QboError> {
        let info = self.company_info().await?;
        let preferences = self.preferences().await?;
        let codes = self.tax_codes().await?;
        Ok(TaxSetup::new(&info, &preferences, codes))
    }

    /// The back-office link of a document.
    pub fn doc_url(&self, kind: DocKind, id: &str) -> String {
        links::doc_url(&self.inner.settings.app_url, kind, id)
    }

    /// What this client (and its clones) sent so far.
    pub fn stats(&self) -> CallStats {
        self.inner.counters.snapshot()
    }

    /// The answer of a successful write, or `Uncertain`: the write happened but we cannot tell
    /// its id, so the caller must look it up.
    pub(super) fn created<T>(&self, read: Option<T>, why: impl FnOnce() -> String) -> Result<T, QboError> {
        read.ok_or_else(|| {
            self.inner.counters.uncertain();
            let error = QboError::Uncertain { reason: why() };
            warn!(target: "qbsync::qbo", error = %error, "QuickBooks call failed");
            error
        })
    }

    async fn parties(&self, select: &Select, entity: &str) -> Result<Vec<Party>, QboError> {
        self.query_all(select, entity).await?.iter().map(|e| Party::from_entity(e).map_err(protocol)).collect()
    }

    /// Every page of a query: `STARTPOSITION` from 1 until a page is shorter than `MAXRESULTS`.
    pub(super) async fn query_all(&self, select: &Select, entity: &str) -> Result<Vec<Value>, QboError> {
        let mut all = Vec::new();
        let mut start = 1u32;
        for _ in 0..MAX_PAGES {
            let call = Call {
                label: "query",
                method: Method::POST,
                url: self.url(&["query"], &[]),
                body: Some(("application/text", select.page(start, MAX_RESULTS))),
                op: Op::Read,
                lane: Lane::Single,
            };
            let answer = self.execute(&call).await?;
            let page = query_entities(&answer, entity).map_err(protocol)?;
            all.extend(page.iter().cloned());
            if page.len() < MAX_RESULTS as usize {
                return Ok(all);
            }
            start = start.saturating_add(MAX_RESULTS);
        }
        Err(protocol(format!("QuickBooks kept sending full pages after {MAX_PAGES} pages of {entity}")))
    }

    async fn get(&self, label: &'static str, segments: &[&str], params: &[(&str, &str)]) -> Result<Value, QboError> {
        let call = Call {
            label,
            method: Method::GET,
            url: self.url(segments, params),
            body: None,
            op: Op::Read,
            lane: Lane::Single,
        };
        self.execute(&call).await
    }

    /// `{company}/{segments…}?minorversion=…&{params…}`; segments are percent-encoded.
    /// A create of one entity from its exact body, under its `requestid`.
    pub(super) fn create_call(&self, resource: &str, body: &str, request_id: &RequestId) -> Call {
        Call {
            label: "create",
            method: Method::POST,
            url: self.url(&[resource], &[("requestid", request_id.as_str())]),
            body: Some(("application/json", body.to_owned())),
            op: Op::Write,
            lane: Lane::Single,
        }
    }

    pub(super) fn url(&self, segments: &[&str], params: &[(&str, &str)]) -> Url {
        let mut url = self.inner.company.clone();
        // Cannot fail: `new` checked that the URL takes a path.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url.query_pairs_mut()
            .append_pair("minorversion", &self.inner.settings.minor_version.to_string())
            .extend_pairs(params);
        url
    }

    /// Runs one logical call through refresh, retries and classification.
    pub(super) async fn execute(&self, call: &Call) -> Result<Value, QboError> {
        let inner = &self.inner;
        let mut replay_with: Option<SecretString> = None;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = match replay_with.take() {
                Some(token) => token,
                None => match inner.tokens.access_token().await {
                    Ok(token) => token,
                    Err(e) => match self.retry_or_fail(call, attempt, auth_error(e).into(), None).await {
                        Some(error) => return Err(error),
                        None => continue,
                    },
                },
            };
            let (tid, outcome) = self.attempt(call, &token, attempt).await;
            match outcome {
                Ok(value) => return Ok(value),
                Err(Failure::Unauthorized(said)) if !refreshed => {
                    refreshed = true;
                    inner.counters.token_refresh();
                    debug!(target: "qbsync::qbo", call = call.label, intuit_tid = tid.as_deref(), said, "token refused; refreshing once");
                    replay_with = Some(inner.tokens.refresh_after_rejection(&token).await.map_err(auth_error)?);
                    // The replay is the same attempt, sent again with the new token.
                    attempt -= 1;
                }
                Err(Failure::Unauthorized(said)) => {
                    let error = QboError::NeedsReconnect {
                        reason: format!("QuickBooks refused a freshly refreshed access token ({said})"),
                    };
                    warn!(target: "qbsync::qbo", call = call.label, intuit_tid = tid.as_deref(), error = %error, "QuickBooks call failed");
                    return Err(error);
                }
                Err(Failure::Failed(classified)) => {
                    if let Some(error) = self.retry_or_fail(call, attempt, classified, tid.as_deref()).await {
                        return Err(error);
                    }
                }
            }
        }
    }

    /// After a failed attempt: waits and returns `None` to retry, or returns the final error.
    async fn retry_or_fail(
        &self,
        call: &Call,
        attempt: u32,
        classified: Classified,
        tid: Option<&str>,
    ) -> Option<QboError> {
        let inner = &self.inner;
        let Classified { error, throttled } = classified;
        if throttled {
            inner.counters.throttled();
        }
        let error = match error {
            QboError::Transient { reason, retry_after } => {
                let retry_after =
                    if throttled { retry_after.or(Some(inner.retry.throttle_delay)) } else { retry_after };
                let wait =
                    if attempt < inner.retry.max_attempts { inner.retry.delay(attempt, retry_after) } else { None };
                if let Some(wait) = wait {
                    if throttled {
                        // QuickBooks' wait applies to the whole company, so to every call of ours.
                        inner.pacer.pause_for(wait);
                    }
                    debug!(target: "qbsync::qbo", call = call.label, intuit_tid = tid, attempt, ?wait, reason, "retrying");
                    tokio::time::sleep(wait).await;
                    inner.counters.retry();
                    return None;
                }
                QboError::Transient { reason, retry_after }
            }
            other => other,
        };
        if matches!(error, QboError::Uncertain { .. }) {
            inner.counters.uncertain();
        }
        warn!(target: "qbsync::qbo", call = call.label, intuit_tid = tid, attempt, error = %error, "QuickBooks call failed");
        Some(error)
    }

    /// One HTTP exchange. Returns the `intuit_tid` header (when an answer came) and the outcome.
    async fn attempt(
        &self,
        call: &Call,
        token: &SecretString,
        attempt: u32,
    ) -> (Option<String>, Result<Value, Failure>) {
        let inner = &self.inner;
        let _slot = inner.pacer.admit(call.lane).await;
        inner.counters.call(call.lane);
        if call.op == Op::Read {
            inner.counters.metered();
        }
        let mut request = inner
            .http
            .request(call.method.clone(), call.url.clone())
            .bearer_auth(token.expose_secret())
            .header(ACCEPT, "application/json");
        if let Some((content_type, body)) = &call.body {
            request = request.header(CONTENT_TYPE, *content_type).body(body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (None, Err(transport(&e, call.op, inner.settings.timeout).into())),
        };
        let status = response.status().as_u16();
        let tid = response.headers().get("intuit_tid").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let body = match response.text().await {
            Ok(body) => body,
            Err(e) => return (tid, Err(transport(&e, call.op, inner.settings.timeout).into())),
        };
        debug!(
            target: "qbsync::qbo",
            call = call.label,
            method = %call.method,
            path = call.url.path(),
            status,
            intuit_tid = tid.as_deref(),
            attempt,
            "QuickBooks answered"
        );
        (tid, interpret(status, &body, call.op, retry_after))
    }
}

/// Turns an HTTP answer into a value or a classified failure.
fn interpret(status: u16, body: &str, op: Op, retry_after: Option<Duration>) -> Result<Value, Failure> {
    if status == 401 {
        let said = Fault::parse(body).map(|f| f.summary()).unwrap_or_else(|| "HTTP 401".into());
        return Err(Failure::Unauthorized(said));
    }
    if (200..300).contains(&status) {
        return match serde_json::from_str::<Value>(body) {
            Ok(value) => match Fault::from_json(&value) {
                // Intuit warns that a 200 may carry a fault.
                Some(fault) => Err(Failure::Failed(with_retry_after(classify_fault(fault, op), retry_after))),
                None => Ok(value),
            },
            Err(e) => Err(match Fault::parse(body) {
                Some(fault) => Failure::Failed(with_retry_after(classify_fault(fault, op), retry_after)),
                None => unreadable(op, format!("HTTP {status} with a body that is not JSON ({e})")).into(),
            }),
        };
    }
    Err(Failure::Failed(with_retry_after(classify_status(status, Fault::parse(body), op), retry_after)))
}

fn with_retry_after(mut classified: Classified, header: Option<Duration>) -> Classified {
    if let QboError::Transient { retry_after, .. } = &mut classified.error {
        *retry_after = retry_after.or(header);
    }
    classified
}

/// An answer that cannot be read: after a write, the write may well have happened.
fn unreadable(op: Op, reason: String) -> QboError {
    match op {
        Op::Read => QboError::Protocol { reason },
        Op::Write => QboError::Uncertain { reason },
    }
}

/// A failed exchange without an HTTP answer. Only a connection that was never opened proves
/// nothing was sent; anything later may have reached QuickBooks.
fn transport(e: &reqwest::Error, op: Op, timeout: Duration) -> QboError {
    if e.is_builder() {
        return QboError::InvalidRequest { reason: error_chain(e) };
    }
    if e.is_connect() {
        return QboError::Transient {
            reason: format!("cannot connect to QuickBooks ({})", error_chain(e)),
            retry_after: None,
        };
    }
    let reason = if e.is_timeout() {
        format!("no answer from QuickBooks within {timeout:?}")
    } else {
        format!("the connection failed before the answer arrived ({})", error_chain(e))
    };
    match op {
        Op::Read => QboError::Transient { reason, retry_after: None },
        Op::Write => QboError::Uncertain { reason },
    }
}

/// The error and its causes, without the URL.
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = match e.url() {
        Some(_) => {
            let mut copy = String::new();
            let shown = e.to_string();
            // reqwest appends " for url (…)"; the URL carries nothing secret but adds noise.
            copy.push_str(shown.split(" for url (").next().unwrap_or(&shown));
            copy
        }
        None => e.to_string(),
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn auth_error(e: AuthError) -> QboError {
    match e {
        AuthError::NeedsReconnect { reason } => QboError::NeedsReconnect { reason },
        AuthError::Transient { reason } => {
            QboError::Transient { reason: format!("the token endpoint is unavailable: {reason}"), retry_after: None }
        }
        // Everything else needs a person: a damaged store, the wrong company or environment, bad app settings.
        other => QboError::NeedsReconnect { reason: other.to_string() },
    }
}

fn protocol(reason: String) -> QboError {
    QboError::Protocol { reason }
}

/// The distinct values, in first-seen order.
fn unique(values: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    values.iter().map(String::as_str).filter(|v| seen.insert(*v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(r: &Result<Value, Failure>) -> String {
        match r {
            Ok(_) => "ok".into(),
            Err(Failure::Unauthorized(_)) => "unauthorized".into(),
            Err(Failure::Failed(c)) => match &c.error {
                QboError::Transient { retry_after, .. } => format!("transient {retry_after:?}"),
                QboError::Uncertain { .. } => "uncertain".into(),
                QboError::Rejected { .. } => "rejected".into(),
                QboError::Protocol { .. } => "protocol".into(),
                other => format!("{other:?}"),
            },
        }
    }

    #[test]
    fn answers_are_interpreted_by_status_then_body() {
        let fault =
            r#"{"Fault":{"Error":[{"Message":"Duplicate Name Exists Error","code":"6240"}],"type":"ValidationFault"}}"#;
        assert_eq!(kind(&interpret(200, r#"{"Invoice":{"Id":"1"}}"#, Op::Write, None)), "ok");
        assert_eq!(kind(&interpret(200, fault, Op::Write, None)), "rejected");
        assert_eq!(kind(&interpret(400, fault, Op::Write, None)), "rejected");
        assert_eq!(kind(&interpret(200, "<html>gateway</html>", Op::Write, None)), "uncertain");
        assert_eq!(kind(&interpret(200, "", Op::Read, None)), "protocol");
        assert_eq!(kind(&interpret(401, "", Op::Write, None)), "unauthorized");
        assert_eq!(kind(&interpret(429, "", Op::Write, Some(Duration::from_secs(7)))), "transient Some(7s)");
        assert_eq!(kind(&interpret(503, "<html/>", Op::Read, None)), "transient None");
        assert_eq!(kind(&interpret(503, "<html/>", Op::Write, None)), "uncertain");
    }

    #[test]
    fn settings_are_checked() {
        let tokens: Arc<dyn TokenSource> = Arc::new(crate::auth::StaticToken(SecretString::from("t")));
        let ok = QboSettings::new("http://127.0.0.1:1/root", "123", SANDBOX_APP_URL);
        let client = QboClient::new(ok.clone(), tokens.clone()).unwrap();
        assert_eq!(client.inner.company.as_str(), "http://127.0.0.1:1/root/v3/company/123/");
        assert_eq!(
            client.url(&["invoice", "a/b"], &[("requestid", "r1")]).as_str(),
            "http://127.0.0.1:1/root/v3/company/123/invoice/a%2Fb?minorversion=75&requestid=r1"
        );
        assert_eq!(client.doc_url(DocKind::Invoice, "9"), "https://app.sandbox.qbo.intuit.com/app/invoice?txnId=9");
        let slash =
            QboClient::new(QboSettings::new(PRODUCTION_API_URL, "9", PRODUCTION_APP_URL), tokens.clone()).unwrap();
        assert_eq!(slash.inner.company.as_str(), "https://quickbooks.api.intuit.com/v3/company/9/");
        for bad in [
            QboSettings { api_url: "not a url".into(), ..ok.clone() },
            QboSettings { api_url: "ftp://x/".into(), ..ok.clone() },
            QboSettings { realm_id: " ".into(), ..ok.clone() },
            QboSettings { max_attempts: 0, ..ok.clone() },
            QboSettings { max_concurrent: 0, ..ok.clone() },
            QboSettings { requests_per_minute: 0, ..ok.clone() },
        ] {
            assert!(matches!(QboClient::new(bad, tokens.clone()), Err(QboError::InvalidRequest { .. })));
        }
    }

    #[test]
    fn unique_keeps_first_seen_order() {
        let v: Vec<String> = ["b", "a", "b", "c", "a"].iter().map(|s| (*s).to_owned()).collect();
        assert_eq!(unique(&v), vec!["b", "a", "c"]);
    }
}
