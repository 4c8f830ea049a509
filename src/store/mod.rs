//! The SQLite store: the only module that knows SQL.
//!
//! It is qbsync's memory between passes and across crashes:
//!
//! - **documents**: one record per QuickBooks document qbsync means to create, written *before*
//!   the create is sent (the intent), with the `requestid` every retry reuses and the hash of
//!   the payload. Its state moves `pending` → `created` (or `failed`), never back.
//! - **rows**: what qbsync last decided for each anchored sheet row (by row key), so a failed row
//!   is retried only when its content or the configuration changed, and so the qbsync-owned cells
//!   can be re-projected onto the sheet whenever they drift (an interrupted write-back, a sort).
//! - **qb_invoice_audit / qb_bill_audit**: append-only history of every attempt and outcome, for
//!   people to query (README documents the schema and example queries).
//! - **name_cache**: QuickBooks customer and vendor ids by display name.
//! - **doc_money**: what QuickBooks last said about each created document's money (balance,
//!   paid, overdue, voided, deleted) and whether the sheet shows it yet; **metered_calls**: the
//!   metered QuickBooks calls made each day (see `money`).
//!
//! The database runs in WAL mode with `synchronous=FULL`: a committed intent survives `kill -9`
//! and power loss, which is what the exactly-once guarantee rests on.

mod home;
mod money;
mod payouts;
mod schema;
mod undo;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::mem;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::qbo::DocKind;

pub use crate::domain::RowStatus;
pub use home::{Home, HomeError};
pub use payouts::{NewPayout, PayoutRecord, PayoutState};
pub use schema::SCHEMA_VERSION;
pub use undo::{NewUndo, UndoOp, UndoRecord, UndoState};

/// Failures of the store. Every one is fatal for the pass (the store is local; if it fails,
/// nothing can be done safely).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the state database {path} cannot be opened")]
    Open { path: String, source: rusqlite::Error },
    #[error(
        "the state database {path} was written by a newer qbsync (schema {found}, this build knows {known}): upgrade qbsync"
    )]
    TooNew { path: String, found: i64, known: i64 },
    #[error("state database error")]
    Sql(#[from] rusqlite::Error),
    /// A value could not be encoded for the store (it holds only qbsync's own JSON).
    #[error("qbsync could not encode {what} for the state database")]
    Encode { what: &'static str, source: serde_json::Error },
}

/// Which QuickBooks document type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Invoice,
    Bill,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invoice => "invoice",
            Kind::Bill => "bill",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        [Kind::Invoice, Kind::Bill].into_iter().find(|k| k.as_str() == s)
    }

    fn audit_table(self) -> &'static str {
        match self {
            Kind::Invoice => "qb_invoice_audit",
            Kind::Bill => "qb_bill_audit",
        }
    }
}

/// Where a document stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DocState {
    /// The intent is recorded; the document may or may not exist in QuickBooks yet.
    Pending,
    /// QuickBooks holds it; `qbo_id` is set.
    Created,
    /// QuickBooks refused it for a reason about its data; it does not exist there.
    Failed,
}

impl DocState {
    pub fn as_str(self) -> &'static str {
        match self {
            DocState::Pending => "pending",
            DocState::Created => "created",
            DocState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<DocState> {
        [DocState::Pending, DocState::Created, DocState::Failed].into_iter().find(|d| d.as_str() == s)
    }
}

/// What an audit line records: one event of a row's or a document's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AuditEvent {
    /// The intent to create a document was recorded (before the first send).
    #[default]
    Intent,
    /// QuickBooks created the document.
    Created,
    /// A document QuickBooks already held was recognised as this intent's and adopted.
    Adopted,
    /// QuickBooks refused the document for a reason about its data.
    Rejected,
    /// A send's outcome is unknown: it is looked up before anything is sent again.
    Uncertain,
    /// QuickBooks was busy or down: the send is tried again later, the row is not blamed.
    RetryLater,
    /// The row is no longer on the sheet.
    RowDeleted,
    /// QuickBooks says something new about the document's money (paid, overdue, voided…).
    Money,
    /// A decision about a row that goes no further this pass (failed, skipped, copy).
    Decided(RowStatus),
    /// A person asked for a document to be taken back (`qbsync void`); recorded before the
    /// request is sent.
    UndoIntent,
    /// QuickBooks voided the document (an invoice).
    Voided,
    /// QuickBooks deleted the document (a bill: QuickBooks has no void for bills).
    Deleted,
    /// The document was not taken back (a payment is applied to it, or QuickBooks refused).
    UndoRefused,
    /// The intent to pay a document (a row's `Inv_paid_date`) was recorded, before the send.
    PaymentIntent,
    /// QuickBooks holds the payment qbsync sent (from its answer, or found by its marker).
    Paid,
    /// QuickBooks refused the payment for the document; nothing was paid.
    PaymentRefused,
    /// QuickBooks refused the payment because of the payment account setting; nothing was
    /// paid, and it is decided again after a restart.
    PaymentHeld,
    /// Nothing was owed any more when the payment was settled; nothing was sent.
    PaymentUnneeded,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Intent => "intent",
            AuditEvent::Created => "created",
            AuditEvent::Adopted => "adopted",
            AuditEvent::Rejected => "rejected",
            AuditEvent::Uncertain => "uncertain",
            AuditEvent::RetryLater => "retry-later",
            AuditEvent::RowDeleted => "row-deleted",
            AuditEvent::Money => "money",
            AuditEvent::Decided(status) => status.as_str(),
            AuditEvent::UndoIntent => "void-intent",
            AuditEvent::Voided => "voided",
            AuditEvent::Deleted => "deleted",
            AuditEvent::UndoRefused => "void-refused",
            AuditEvent::PaymentIntent => "payment-intent",
            AuditEvent::Paid => "paid",
            AuditEvent::PaymentRefused => "payment-refused",
            AuditEvent::PaymentHeld => "payment-held",
            AuditEvent::PaymentUnneeded => "payment-unneeded",
        }
    }
}

/// Text in the store that qbsync did not write: reading it as anything would be a guess.
fn unknown(what: &str, text: &str) -> FromSqlError {
    FromSqlError::Other(format!("\"{text}\" is not a {what} qbsync records").into())
}

impl ToSql for Kind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Kind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        Kind::parse(text).ok_or_else(|| unknown("document kind", text))
    }
}

impl ToSql for DocKind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.entity().into())
    }
}

impl FromSql for DocKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        DocKind::ALL.into_iter().find(|k| k.entity() == text).ok_or_else(|| unknown("QuickBooks document type", text))
    }
}

impl ToSql for DocState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for DocState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        DocState::parse(text).ok_or_else(|| unknown("document state", text))
    }
}

impl ToSql for RowStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for RowStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        RowStatus::parse(text).map_err(|_| unknown("row status", text))
    }
}

/// Amounts are stored as their exact decimal text: never a float, never rounded.
struct Amount(Decimal);

impl FromSql for Amount {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse().map(Amount).map_err(|_| unknown("decimal amount", text))
    }
}

/// A document qbsync intends to create, or has created.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DocRecord {
    pub doc_key: String,
    /// The side of the sheet it is shown on.
    pub kind: Kind,
    /// What QuickBooks holds it as: an invoice or credit memo (money in), a bill or vendor
    /// credit (money out). Searches and links go by it.
    pub doc_kind: DocKind,
    pub doc_number: Option<String>,
    pub request_id: String,
    pub payload_hash: String,
    /// The JSON body sent to QuickBooks (contains no secrets).
    pub payload: String,
    pub party_id: String,
    /// The document's total as sent, exact: the sum of the sheet's amounts.
    pub total: Decimal,
    /// QuickBooks' `TotalAmt` once created: with tax added on top, more than `total`.
    pub qbo_total: Option<Decimal>,
    pub state: DocState,
    pub qbo_id: Option<String>,
    pub qbo_url: Option<String>,
    pub error: Option<String>,
    /// How many times the create was sent (a replay with the same requestid counts).
    pub attempts: i64,
    /// The row keys whose write-back this document drives, in sheet order.
    pub row_keys: Vec<String>,
}

/// The intent to create one document, recorded before the first send.
#[derive(Clone, Debug)]
pub struct NewIntent<'a> {
    pub doc_key: &'a str,
    pub kind: Kind,
    pub doc_kind: DocKind,
    pub doc_number: Option<&'a str>,
    pub request_id: &'a str,
    pub payload_hash: &'a str,
    pub payload: &'a str,
    pub party_id: &'a str,
    pub total: Decimal,
    pub row_keys: &'a [String],
}

/// What qbsync last decided for one anchored row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowRecord {
    pub row_key: String,
    pub kind: Kind,
    pub doc_key: Option<String>,
    pub doc_number: Option<String>,
    pub status: RowStatus,
    pub error: Option<String>,
    pub content_fp: String,
    pub config_fp: String,
    /// 1-based sheet row where qbsync last saw it (for people; never used to address a write).
    pub sheet_row: Option<i64>,
    pub synced_at: Option<String>,
    /// What a row in review would become, as its preview cell shows it (see
    /// `crate::sync::approval`); `None` for every other status.
    pub preview: Option<String>,
}

#[cfg(test)]
impl RowRecord {
    /// A bare invoice row record for tests: no document, no position, placeholder fingerprints
    /// (`fp`, `cfg`). Tests set what they are about with struct update syntax.
    pub(crate) fn sample(key: &str, status: RowStatus) -> RowRecord {
        RowRecord {
            row_key: key.into(),
            kind: Kind::Invoice,
            doc_key: None,
            doc_number: None,
            status,
            error: None,
            content_fp: "fp".into(),
            config_fp: "cfg".into(),
            sheet_row: None,
            synced_at: None,
            preview: None,
        }
    }
}

/// One line of the audit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub kind: Kind,
    pub at: String,
    pub event: String,
    pub row_key: Option<String>,
    pub sheet_row: Option<i64>,
    pub doc_number: Option<String>,
    pub qbo_id: Option<String>,
    pub qbo_url: Option<String>,
    pub status: String,
    pub request_id: Option<String>,
    pub request_json: Option<String>,
    pub response_json: Option<String>,
    pub error: Option<String>,
    /// The QuickBooks document type (`Invoice`, `CreditMemo`, …), for lines about a document.
    pub doc_kind: Option<String>,
    /// QuickBooks' total of a created document (tax included), exact.
    pub total: Option<String>,
    /// The pass that wrote it (`qbsync void --pass` takes it); none outside a pass.
    pub pass_id: Option<String>,
    /// Who asked for it, when a person did (the OS user who ran `qbsync void`).
    pub actor: Option<String>,
    /// Why, in that person's words.
    pub reason: Option<String>,
}

/// A new audit line. `at` is set by the store. Written typed; read back as text
/// ([`AuditEntry`]), the form people query.
#[derive(Clone, Debug)]
pub struct NewAudit<'a> {
    pub event: AuditEvent,
    pub row_key: Option<&'a str>,
    pub sheet_row: Option<i64>,
    pub doc_number: Option<&'a str>,
    pub qbo_id: Option<&'a str>,
    pub qbo_url: Option<&'a str>,
    pub status: RowStatus,
    pub request_id: Option<&'a str>,
    pub request_json: Option<&'a str>,
    pub response_json: Option<&'a str>,
    pub error: Option<&'a str>,
    pub doc_kind: Option<DocKind>,
    pub total: Option<Decimal>,
    pub pass_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub reason: Option<&'a str>,
}

impl<'a> NewAudit<'a> {
    /// A line saying `event` with the row status `status`; the rest is filled in by field.
    pub fn new(event: AuditEvent, status: RowStatus) -> NewAudit<'a> {
        NewAudit {
            event,
            row_key: None,
            sheet_row: None,
            doc_number: None,
            qbo_id: None,
            qbo_url: None,
            status,
            request_id: None,
            request_json: None,
            response_json: None,
            error: None,
            doc_kind: None,
            total: None,
            pass_id: None,
            actor: None,
            reason: None,
        }
    }
}

/// Filters for [`Store::audit`]; all given ones must hold.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub kind: Option<Kind>,
    pub sheet_row: Option<i64>,
    pub row_key: Option<String>,
    pub doc_number: Option<String>,
    pub qbo_id: Option<String>,
    pub pass_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub failed_only: bool,
    pub limit: Option<u32>,
}

/// Counts per status, for `qbsync status` and the status page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    pub synced: u64,
    pub failed: u64,
    pub skipped: u64,
    pub pending: u64,
    pub voided: u64,
    /// Waiting for a person's approval (`QBSYNC_REQUIRE_APPROVAL`).
    pub review: u64,
}

impl StatusCounts {
    /// Each count with the status word it is shown under, in the order every report shows them
    /// (the status page and `/metrics` alike).
    pub fn by_status(&self) -> [(&'static str, u64); 6] {
        [
            ("synced", self.synced),
            ("failed", self.failed),
            ("skipped", self.skipped),
            ("pending", self.pending),
            ("review", self.review),
            ("voided", self.voided),
        ]
    }
}

/// One finished pass.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PassRecord {
    pub started_at: String,
    pub finished_at: String,
    pub ok: bool,
    pub created: u64,
    pub failed: u64,
    pub skipped: u64,
    pub error: Option<String>,
}

/// The state database.
pub struct Store {
    conn: Connection,
    path: String,
    /// Keys written since [`Store::take_changes`] last emptied it: see [`Changes`].
    changes: RefCell<Changes>,
}

/// The keys of the row records and documents written through this store since the last
/// [`Store::take_changes`] (whether or not their transaction committed). A caller holding a
/// picture of the store — the pass's planning view — catches up by reading those records alone,
/// instead of every record of a history that can run to tens of thousands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    pub rows: BTreeSet<String>,
    pub docs: BTreeSet<String>,
}

impl Store {
    /// Opens (creating if needed) `state_dir/qbsync.sqlite3` and brings its schema up to date.
    pub fn open_in(state_dir: &Path) -> Result<Store, StoreError> {
        Store::open(&state_dir.join("qbsync.sqlite3"))
    }

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let display = path.display().to_string();
        let conn = Connection::open(path).map_err(|source| StoreError::Open { path: display.clone(), source })?;
        Store::init(conn, display)
    }

    /// An in-memory store, for dry runs and unit tests.
    pub fn in_memory() -> Result<Store, StoreError> {
        Store::init(Connection::open_in_memory()?, ":memory:".into())
    }

    fn init(conn: Connection, path: String) -> Result<Store, StoreError> {
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut store = Store { conn, path, changes: RefCell::default() };
        store.migrate()?;
        Ok(store)
    }

    /// Creates or upgrades the schema; running it twice changes nothing.
    pub fn migrate(&mut self) -> Result<(), StoreError> {
        let found = schema::version(&self.conn)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew { path: self.path.clone(), found, known: SCHEMA_VERSION });
        }
        schema::upgrade(&mut self.conn, found)?;
        Ok(())
    }

    /// The schema version now in the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(schema::version(&self.conn)?)
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The keys written since the last call (see [`Changes`]), and a fresh start.
    pub fn take_changes(&self) -> Changes {
        mem::take(&mut *self.changes.borrow_mut())
    }

    fn row_changed(&self, row_key: &str) {
        self.changes.borrow_mut().rows.insert(row_key.to_owned());
    }

    fn doc_changed(&self, doc_key: &str) {
        self.changes.borrow_mut().docs.insert(doc_key.to_owned());
    }

    // ----- documents -------------------------------------------------------------------------

    /// Starts a transaction: every write made through this store until [`Atomic::commit`] lands,
    /// or none does. A crash (even `kill -9`) before the commit leaves the store as it was, so
    /// steps that must be seen together — a document created, its rows synced and the audit
    /// line — never come apart. Dropping the guard without committing rolls back.
    pub fn begin(&self) -> Result<Atomic<'_>, StoreError> {
        Ok(Atomic(self.conn.unchecked_transaction()?))
    }

    /// Records the intent to create a document (callers record its rows' `pending` state in the
    /// same transaction, see [`Store::begin`]). Returns the existing record instead when an intent for
    /// `doc_key` is already there.
    pub fn record_intent(&self, intent: &NewIntent<'_>) -> Result<DocRecord, StoreError> {
        if let Some(existing) = self.document(intent.doc_key)? {
            return Ok(existing);
        }
        self.doc_changed(intent.doc_key);
        self.conn.execute(
            "INSERT INTO documents (doc_key, kind, doc_number, request_id, payload_hash, payload, party_id, total, state, attempts, row_keys, created_at, updated_at, doc_kind)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', 0, ?9, ?10, ?10, ?11)",
            params![
                intent.doc_key,
                intent.kind,
                intent.doc_number,
                intent.request_id,
                intent.payload_hash,
                intent.payload,
                intent.party_id,
                intent.total.to_string(),
                serde_json::to_string(intent.row_keys)
                    .map_err(|source| StoreError::Encode { what: "the row keys of a document", source })?,
                now(),
                intent.doc_kind,
            ],
        )?;
        self.document(intent.doc_key)?.ok_or(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Counts one more send of a pending document (before it is sent).
    pub fn count_attempt(&self, doc_key: &str) -> Result<(), StoreError> {
        self.doc_changed(doc_key);
        self.conn.execute(
            "UPDATE documents SET attempts = attempts + 1, updated_at = ?2 WHERE doc_key = ?1",
            params![doc_key, now()],
        )?;
        Ok(())
    }

    /// QuickBooks holds the document, with `TotalAmt` `qbo_total`. Idempotent.
    pub fn mark_created(
        &self,
        doc_key: &str,
        qbo_id: &str,
        qbo_url: &str,
        qbo_total: Decimal,
    ) -> Result<(), StoreError> {
        self.doc_changed(doc_key);
        self.conn.execute(
            "UPDATE documents SET state = 'created', qbo_id = ?2, qbo_url = ?3, qbo_total = ?5, error = NULL, updated_at = ?4 WHERE doc_key = ?1",
            params![doc_key, qbo_id, qbo_url, now(), qbo_total.to_string()],
        )?;
        Ok(())
    }

    /// QuickBooks refused the document for a reason about its data; it does not exist there.
    pub fn mark_failed(&self, doc_key: &str, error: &str) -> Result<(), StoreError> {
        self.doc_changed(doc_key);
        self.conn.execute(
            "UPDATE documents SET state = 'failed', error = ?2, updated_at = ?3 WHERE doc_key = ?1 AND state = 'pending'",
            params![doc_key, error, now()],
        )?;
        Ok(())
    }

    /// Forgets a failed document so a corrected row can be tried again under a new requestid.
    pub fn retire_failed(&self, doc_key: &str) -> Result<(), StoreError> {
        self.doc_changed(doc_key);
        self.conn.execute("DELETE FROM documents WHERE doc_key = ?1 AND state = 'failed'", params![doc_key])?;
        Ok(())
    }

    pub fn document(&self, doc_key: &str) -> Result<Option<DocRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {DOC_COLUMNS} FROM documents WHERE doc_key = ?1"))?
            .query_row(params![doc_key], doc_from_row)
            .optional()?)
    }

    /// One document as [`Store::for_each_document_for_planning`] reads them.
    pub fn document_for_planning(&self, doc_key: &str) -> Result<Option<DocRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {PLANNING_DOC_COLUMNS} FROM documents WHERE doc_key = ?1"))?
            .query_row(params![doc_key], doc_from_row)
            .optional()?)
    }

    /// The document QuickBooks knows as `doc_kind` `qbo_id`, if qbsync created or adopted it.
    pub fn document_by_qbo_id(&self, doc_kind: DocKind, qbo_id: &str) -> Result<Option<DocRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {DOC_COLUMNS} FROM documents WHERE doc_kind = ?1 AND qbo_id = ?2"),
                params![doc_kind, qbo_id],
                doc_from_row,
            )
            .optional()?)
    }

    /// The documents (of either kind) QuickBooks knows under `qbo_id`, as the planner reads them.
    pub fn documents_for_planning_by_qbo_id(&self, qbo_id: &str) -> Result<Vec<DocRecord>, StoreError> {
        self.planning_documents_where("qbo_id", qbo_id)
    }

    /// The documents (of either kind, in any state) carrying `doc_number`, as the planner reads
    /// them.
    pub fn documents_for_planning_by_number(&self, doc_number: &str) -> Result<Vec<DocRecord>, StoreError> {
        self.planning_documents_where("doc_number", doc_number)
    }

    /// Documents of either kind whose `column` is `value`. Both kinds are named so that the
    /// `(kind, column)` indexes serve the query.
    fn planning_documents_where(&self, column: &str, value: &str) -> Result<Vec<DocRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PLANNING_DOC_COLUMNS} FROM documents WHERE kind IN ('invoice', 'bill') AND {column} = ?1"
        ))?;
        let docs = stmt.query_map(params![value], doc_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(docs)
    }

    /// Every document still pending (intent recorded, outcome unknown).
    pub fn pending_documents(&self) -> Result<Vec<DocRecord>, StoreError> {
        self.pending(DOC_COLUMNS)
    }

    /// [`Store::pending_documents`] as the planner reads them (without payloads): every poll
    /// asks, and after an interrupted backlog there may be thousands.
    pub fn pending_documents_for_planning(&self) -> Result<Vec<DocRecord>, StoreError> {
        self.pending(PLANNING_DOC_COLUMNS)
    }

    fn pending(&self, columns: &str) -> Result<Vec<DocRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&PENDING_DOCUMENTS.replace("{columns}", columns))?;
        let docs = stmt.query_map([], doc_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(docs)
    }

    /// Every document, for consistency checks and the torture tests.
    pub fn all_documents(&self) -> Result<Vec<DocRecord>, StoreError> {
        let mut stmt =
            self.conn.prepare(&format!("SELECT {DOC_COLUMNS} FROM documents ORDER BY created_at, doc_key"))?;
        let docs = stmt.query_map([], doc_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(docs)
    }

    /// Every document as the planner reads it: without the payload, its hash, the requestid
    /// and the error text, which on a long history are most of the bytes. Never send from
    /// these records (their `payload` is empty): read the document by key. In no particular
    /// order: the planner's index breaks ties itself, and sorting a long history on every busy
    /// pass would cost more than reading it. Handed over one at a time: a long history is not
    /// gathered in a list only to be moved into the caller's index.
    pub fn for_each_document_for_planning(&self, each: impl FnMut(DocRecord)) -> Result<(), StoreError> {
        self.for_each(&format!("SELECT {PLANNING_DOC_COLUMNS} FROM documents"), doc_from_row, each)
    }

    /// Runs `sql` and hands each record it yields to `each` as it is read.
    fn for_each<T>(
        &self,
        sql: &str,
        record: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
        mut each: impl FnMut(T),
    ) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(record(row)?);
        }
        Ok(())
    }

    // ----- rows ------------------------------------------------------------------------------

    /// Saves what qbsync decided for a row (insert or replace).
    pub fn put_row(&self, row: &RowRecord) -> Result<(), StoreError> {
        self.row_changed(&row.row_key);
        self.conn.prepare_cached(
            "INSERT INTO rows (row_key, kind, doc_key, doc_number, status, error, content_fp, config_fp, sheet_row, synced_at, updated_at, preview)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT(row_key) DO UPDATE SET kind = excluded.kind, doc_key = excluded.doc_key, doc_number = excluded.doc_number,
               status = excluded.status, error = excluded.error, content_fp = excluded.content_fp, config_fp = excluded.config_fp,
               sheet_row = excluded.sheet_row, synced_at = excluded.synced_at, updated_at = excluded.updated_at,
               preview = excluded.preview, seal = NULL",
        )?
        .execute(params![
                row.row_key,
                row.kind,
                row.doc_key,
                row.doc_number,
                row.status,
                row.error,
                row.content_fp,
                row.config_fp,
                row.sheet_row,
                row.synced_at,
                now(),
                row.preview,
            ])?;
        Ok(())
    }

    pub fn row(&self, row_key: &str) -> Result<Option<RowRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {ROW_COLUMNS} FROM rows WHERE row_key = ?1"))?
            .query_row(params![row_key], row_from_row)
            .optional()?)
    }

    /// Every row record, keyed by row key (the planner's view of the store).
    pub fn all_rows(&self) -> Result<Vec<RowRecord>, StoreError> {
        let mut records = Vec::new();
        self.for_each_row(|record| records.push(record))?;
        Ok(records)
    }

    /// Every row record, handed over one at a time (see [`Self::for_each_document_for_planning`]).
    pub fn for_each_row(&self, each: impl FnMut(RowRecord)) -> Result<(), StoreError> {
        self.for_each(&format!("SELECT {ROW_COLUMNS} FROM rows"), row_from_row, each)
    }

    /// The row records with one status (an idle poll needs only the failed ones).
    pub fn rows_with_status(&self, status: RowStatus) -> Result<Vec<RowRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&ROWS_WITH_STATUS.replace("{columns}", ROW_COLUMNS))?;
        let rows = stmt.query_map(params![status], row_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Where each synced or voided row was last seen, with the id and status it should show
    /// there: `(1-based sheet row, kind, QuickBooks id, status)`. Lean on purpose: the idle check reads it on
    /// every poll, whatever the length of the history.
    pub fn synced_positions(&self) -> Result<Vec<(i64, Kind, String, RowStatus)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(SYNCED_POSITIONS)?;
        let found = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(found.collect::<Result<Vec<_>, _>>()?)
    }

    /// Forgets a row record (an anchor claimed for it landed elsewhere and was dropped).
    pub fn forget_row(&self, row_key: &str) -> Result<(), StoreError> {
        self.row_changed(row_key);
        self.conn.execute("DELETE FROM rows WHERE row_key = ?1", params![row_key])?;
        Ok(())
    }

    /// Remembers where a row was last seen (for people reading the audit).
    pub fn set_sheet_row(&self, row_key: &str, sheet_row: i64) -> Result<(), StoreError> {
        self.row_changed(row_key);
        self.conn
            .prepare_cached("UPDATE rows SET sheet_row = ?2, seal = NULL WHERE row_key = ?1")?
            .execute(params![row_key, sheet_row])?;
        Ok(())
    }

    /// Forgets where a row was: it is no longer on the sheet.
    pub fn clear_sheet_row(&self, row_key: &str) -> Result<(), StoreError> {
        self.row_changed(row_key);
        self.conn.execute("UPDATE rows SET sheet_row = NULL, seal = NULL WHERE row_key = ?1", params![row_key])?;
        Ok(())
    }

    /// The keys of the row records that say where their row is (every status but a fresh
    /// claim), one at a time: what the write-back compares with the anchors to notice rows
    /// that were deleted.
    pub fn for_each_placed_row_key(&self, mut each: impl FnMut(&str)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(PLACED_ROW_KEYS)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?);
        }
        Ok(())
    }

    // ----- seals -----------------------------------------------------------------------------
    //
    // A seal is a digest of a synced row as the write-back last found it in agreement with the
    // store (see `crate::sync::seal`). It stands for the record as it was: every write to a row
    // record clears its seal (`put_row`, `set_sheet_row`, `clear_sheet_row`, `forget_row`), and
    // a synced row's document never changes once created. Seals are an optimisation only: a
    // row without one is planned in full.

    /// Seals synced rows (`(row key, seal)`); a record that is not synced (any more) is left
    /// unsealed. Not a change in the sense of [`Changes`]: the record itself is as it was.
    pub fn seal_rows(&self, seals: &[(&str, i64)]) -> Result<(), StoreError> {
        let mut stmt =
            self.conn.prepare_cached("UPDATE rows SET seal = ?2 WHERE row_key = ?1 AND status = 'synced'")?;
        for (key, seal) in seals {
            stmt.execute(params![key, seal])?;
        }
        Ok(())
    }

    /// Every seal, one at a time: `(row key, seal)`.
    pub fn for_each_seal(&self, mut each: impl FnMut(&str, i64)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(SEALS)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(row.get_ref(0)?.as_str().map_err(rusqlite::Error::from)?, row.get(1)?);
        }
        Ok(())
    }

    // ----- audit -----------------------------------------------------------------------------

    /// Appends one audit line.
    pub fn audit_append(&self, kind: Kind, entry: &NewAudit<'_>) -> Result<(), StoreError> {
        self.conn.execute(
            &format!(
                "INSERT INTO {} (at, event, row_key, sheet_row, doc_number, qbo_id, qbo_url, status, request_id, request_json, response_json, error, doc_kind, total, pass_id, actor, reason)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
                kind.audit_table()
            ),
            params![
                now(),
                entry.event.as_str(),
                entry.row_key,
                entry.sheet_row,
                entry.doc_number,
                entry.qbo_id,
                entry.qbo_url,
                entry.status,
                entry.request_id,
                entry.request_json,
                entry.response_json,
                entry.error,
                entry.doc_kind,
                entry.total.map(|t| t.to_string()),
                entry.pass_id,
                entry.actor,
                entry.reason,
            ],
        )?;
        Ok(())
    }

    /// Audit lines matching `query`, oldest first.
    pub fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>, StoreError> {
        let kinds: Vec<Kind> = match query.kind {
            Some(kind) => vec![kind],
            None => vec![Kind::Invoice, Kind::Bill],
        };
        let mut entries = Vec::new();
        for kind in kinds {
            let mut sql = format!(
                "SELECT id, at, event, row_key, sheet_row, doc_number, qbo_id, qbo_url, status, request_id, request_json, response_json, error, doc_kind, total, pass_id, actor, reason FROM {} WHERE 1 = 1",
                kind.audit_table()
            );
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = Vec::new();
            if let Some(row) = query.sheet_row {
                args.push(Box::new(row));
                sql += &format!(" AND sheet_row = ?{}", args.len());
            }
            if let Some(key) = &query.row_key {
                args.push(Box::new(key.clone()));
                sql += &format!(" AND row_key = ?{}", args.len());
            }
            if let Some(doc) = &query.doc_number {
                args.push(Box::new(doc.clone()));
                sql += &format!(" AND doc_number = ?{}", args.len());
            }
            if let Some(id) = &query.qbo_id {
                args.push(Box::new(id.clone()));
                sql += &format!(" AND qbo_id = ?{}", args.len());
            }
            if let Some(pass) = &query.pass_id {
                args.push(Box::new(pass.clone()));
                sql += &format!(" AND pass_id = ?{}", args.len());
            }
            if let Some(since) = query.since {
                args.push(Box::new(since.to_rfc3339_opts(SecondsFormat::Secs, true)));
                sql += &format!(" AND at >= ?{}", args.len());
            }
            if query.failed_only {
                sql += " AND status = 'failed'";
            }
            sql += " ORDER BY id";
            let mut stmt = self.conn.prepare(&sql)?;
            let found = stmt.query_map(rusqlite::params_from_iter(args.iter().map(|a| a.as_ref())), |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    kind,
                    at: r.get(1)?,
                    event: r.get(2)?,
                    row_key: r.get(3)?,
                    sheet_row: r.get(4)?,
                    doc_number: r.get(5)?,
                    qbo_id: r.get(6)?,
                    qbo_url: r.get(7)?,
                    status: r.get(8)?,
                    request_id: r.get(9)?,
                    request_json: r.get(10)?,
                    response_json: r.get(11)?,
                    error: r.get(12)?,
                    doc_kind: r.get(13)?,
                    total: r.get(14)?,
                    pass_id: r.get(15)?,
                    actor: r.get(16)?,
                    reason: r.get(17)?,
                })
            })?;
            for entry in found {
                entries.push(entry?);
            }
        }
        entries.sort_by(|a, b| a.at.cmp(&b.at).then(a.kind.cmp(&b.kind)).then(a.id.cmp(&b.id)));
        if let Some(limit) = query.limit {
            let skip = entries.len().saturating_sub(limit as usize);
            entries.drain(..skip);
        }
        Ok(entries)
    }

    // ----- names -----------------------------------------------------------------------------

    /// A cached QuickBooks id for a display name (normalised by the caller).
    pub fn cached_name(&self, kind: &str, name_norm: &str) -> Result<Option<(String, String)>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT qbo_id, display_name FROM name_cache WHERE kind = ?1 AND name_norm = ?2 AND active = 1",
                params![kind, name_norm],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?)
    }

    pub fn cache_name(
        &self,
        kind: &str,
        name_norm: &str,
        qbo_id: &str,
        display_name: &str,
        active: bool,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO name_cache (kind, name_norm, qbo_id, display_name, active, fetched_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT(kind, name_norm) DO UPDATE SET qbo_id = excluded.qbo_id, display_name = excluded.display_name,
               active = excluded.active, fetched_at = excluded.fetched_at",
            params![kind, name_norm, qbo_id, display_name, active, now()],
        )?;
        Ok(())
    }

    // ----- passes and status -----------------------------------------------------------------

    pub fn record_pass(&self, pass: &PassRecord) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO passes (started_at, finished_at, ok, created, failed, skipped, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                pass.started_at,
                pass.finished_at,
                pass.ok,
                pass.created as i64,
                pass.failed as i64,
                pass.skipped as i64,
                pass.error
            ],
        )?;
        // Only recent history is useful; keep the table small.
        self.conn.execute("DELETE FROM passes WHERE id <= (SELECT MAX(id) FROM passes) - 10000", [])?;
        Ok(())
    }

    /// The finish time of the last pass that succeeded.
    pub fn last_success(&self) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row("SELECT MAX(finished_at) FROM passes WHERE ok = 1", [], |r| r.get(0))?)
    }

    pub fn last_pass(&self) -> Result<Option<PassRecord>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT started_at, finished_at, ok, created, failed, skipped, error FROM passes ORDER BY id DESC LIMIT 1",
                [],
                |r| {
                    Ok(PassRecord {
                        started_at: r.get(0)?,
                        finished_at: r.get(1)?,
                        ok: r.get(2)?,
                        created: r.get::<_, i64>(3)? as u64,
                        failed: r.get::<_, i64>(4)? as u64,
                        skipped: r.get::<_, i64>(5)? as u64,
                        error: r.get(6)?,
                    })
                },
            )
            .optional()?)
    }

    /// Rows per status for one document kind.
    pub fn counts(&self, kind: Kind) -> Result<StatusCounts, StoreError> {
        let mut counts = StatusCounts::default();
        let mut stmt = self.conn.prepare("SELECT status, COUNT(*) FROM rows WHERE kind = ?1 GROUP BY status")?;
        let found = stmt.query_map(params![kind], |r| Ok((r.get::<_, RowStatus>(0)?, r.get::<_, i64>(1)?)))?;
        for pair in found {
            let (status, n) = pair?;
            let n = n as u64;
            match status {
                RowStatus::Synced => counts.synced += n,
                RowStatus::Failed => counts.failed += n,
                RowStatus::Skipped => counts.skipped += n,
                RowStatus::Voided => counts.voided += n,
                RowStatus::Review => counts.review += n,
                RowStatus::Claimed | RowStatus::Pending | RowStatus::Copy => counts.pending += n,
            }
        }
        Ok(counts)
    }
}

/// An open transaction of a [`Store`] (see [`Store::begin`]).
pub struct Atomic<'a>(rusqlite::Transaction<'a>);

impl Atomic<'_> {
    pub fn commit(self) -> Result<(), StoreError> {
        Ok(self.0.commit()?)
    }
}

// ----- what every pass asks ------------------------------------------------------------------
//
// An idle poll and a busy pass ask these whatever the length of the history. Each is answered
// from an index of schema v3, not by reading every record: on 50,000 documents, reading them
// all cost about a hundred milliseconds a pass. A test in `tests.rs` checks SQLite's plan for each.

/// Documents whose outcome is unknown, oldest first (`{columns}`: the columns to read).
const PENDING_DOCUMENTS: &str = "SELECT {columns} FROM documents WHERE state = 'pending' ORDER BY created_at";
/// Row records with one status (`?1`; `{columns}`: the columns to read).
const ROWS_WITH_STATUS: &str = "SELECT {columns} FROM rows WHERE status = ?1";
/// Where each synced (or voided) row is, the id it shows there and its status.
const SYNCED_POSITIONS: &str =
    "SELECT r.sheet_row, r.kind, d.qbo_id, r.status FROM rows r JOIN documents d ON d.doc_key = r.doc_key
     WHERE r.status IN ('synced', 'voided') AND r.sheet_row IS NOT NULL AND d.qbo_id IS NOT NULL";
/// The keys of row records that say where their row is.
const PLACED_ROW_KEYS: &str = "SELECT row_key FROM rows WHERE sheet_row IS NOT NULL AND status != 'claimed'";
/// Every seal.
const SEALS: &str = "SELECT row_key, seal FROM rows WHERE seal IS NOT NULL AND status = 'synced'";

/// The queries above as they are run, for the test of their plans.
#[cfg(test)]
pub(crate) fn hot_queries() -> Vec<String> {
    vec![
        PENDING_DOCUMENTS.replace("{columns}", PLANNING_DOC_COLUMNS),
        PENDING_DOCUMENTS.replace("{columns}", DOC_COLUMNS),
        ROWS_WITH_STATUS.replace("{columns}", ROW_COLUMNS),
        SYNCED_POSITIONS.to_owned(),
        PLACED_ROW_KEYS.to_owned(),
        SEALS.to_owned(),
    ]
}

const DOC_COLUMNS: &str = "doc_key, kind, doc_number, request_id, payload_hash, payload, party_id, total, state, qbo_id, qbo_url, error, attempts, row_keys, doc_kind, qbo_total";

/// [`DOC_COLUMNS`] without the payload, its hash, the requestid and the error text, which on a
/// long history are most of the bytes.
const PLANNING_DOC_COLUMNS: &str = "doc_key, kind, doc_number, '', '', '', party_id, total, state, qbo_id, qbo_url, NULL, attempts, row_keys, doc_kind, qbo_total";

fn doc_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DocRecord> {
    let row_keys: String = r.get(13)?;
    Ok(DocRecord {
        doc_key: r.get(0)?,
        kind: r.get(1)?,
        doc_number: r.get(2)?,
        request_id: r.get(3)?,
        payload_hash: r.get(4)?,
        payload: r.get(5)?,
        party_id: r.get(6)?,
        total: r.get::<_, Amount>(7)?.0,
        doc_kind: r.get(14)?,
        qbo_total: r.get::<_, Option<Amount>>(15)?.map(|a| a.0),
        state: r.get(8)?,
        qbo_id: r.get(9)?,
        qbo_url: r.get(10)?,
        error: r.get(11)?,
        attempts: r.get(12)?,
        // Unreadable keys are an error, not an empty list: a document without its rows would
        // look like nobody's, and its rows like copies of it.
        row_keys: serde_json::from_str(&row_keys)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(13, rusqlite::types::Type::Text, Box::new(e)))?,
    })
}

const ROW_COLUMNS: &str =
    "row_key, kind, doc_key, doc_number, status, error, content_fp, config_fp, sheet_row, synced_at, preview";

fn row_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RowRecord> {
    Ok(RowRecord {
        row_key: r.get(0)?,
        kind: r.get(1)?,
        doc_key: r.get(2)?,
        doc_number: r.get(3)?,
        status: r.get(4)?,
        error: r.get(5)?,
        content_fp: r.get(6)?,
        config_fp: r.get(7)?,
        sheet_row: r.get(8)?,
        synced_at: r.get(9)?,
        preview: r.get(10)?,
    })
}

/// RFC 3339 UTC with milliseconds: sorts as text.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests;
