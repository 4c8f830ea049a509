//! Undos: documents a person asked qbsync to take back (`qbsync void`).
//!
//! An undo is a write to QuickBooks like a create, so it is kept like one: recorded before its
//! request leaves, with the `requestid` every retry reuses, and settled `pending` → `done` (or
//! `refused`, when QuickBooks or qbsync would not take it back). A refused undo may be asked
//! for again once the obstacle is gone; that is a new request with a new `requestid`, since a
//! replayed one would replay the refusal.

use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Store, StoreError, now, unknown};

/// How QuickBooks takes a document back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UndoOp {
    /// `?operation=void`: the document stays, zeroed and marked `Voided`.
    Void,
    /// `?operation=delete`: for documents QuickBooks cannot void through the API (bills).
    Delete,
}

impl UndoOp {
    pub fn as_str(self) -> &'static str {
        match self {
            UndoOp::Void => "void",
            UndoOp::Delete => "delete",
        }
    }
}

/// Where an undo stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UndoState {
    /// Recorded; QuickBooks may or may not have taken the document back yet.
    Pending,
    /// QuickBooks voided or deleted the document.
    Done,
    /// Not taken back (a payment is applied, or QuickBooks refused); the document stands.
    Refused,
}

impl UndoState {
    pub fn as_str(self) -> &'static str {
        match self {
            UndoState::Pending => "pending",
            UndoState::Done => "done",
            UndoState::Refused => "refused",
        }
    }
}

impl ToSql for UndoOp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for UndoOp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        [UndoOp::Void, UndoOp::Delete].into_iter().find(|o| o.as_str() == text).ok_or_else(|| unknown("undo", text))
    }
}

impl ToSql for UndoState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for UndoState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        [UndoState::Pending, UndoState::Done, UndoState::Refused]
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| unknown("undo state", text))
    }
}

/// A document a person asked to take back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UndoRecord {
    pub doc_key: String,
    pub operation: UndoOp,
    pub request_id: String,
    pub state: UndoState,
    pub reason: String,
    /// Who asked (the OS user).
    pub actor: String,
    /// How many times the request was sent.
    pub attempts: i64,
    pub error: Option<String>,
    pub requested_at: String,
    pub settled_at: Option<String>,
}

/// The intent to take one document back, recorded before the first send.
#[derive(Clone, Debug)]
pub struct NewUndo<'a> {
    pub doc_key: &'a str,
    pub operation: UndoOp,
    pub request_id: &'a str,
    pub reason: &'a str,
    pub actor: &'a str,
}

const UNDO_COLUMNS: &str =
    "doc_key, operation, request_id, state, reason, actor, attempts, error, requested_at, settled_at";

fn undo_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UndoRecord> {
    Ok(UndoRecord {
        doc_key: r.get(0)?,
        operation: r.get(1)?,
        request_id: r.get(2)?,
        state: r.get(3)?,
        reason: r.get(4)?,
        actor: r.get(5)?,
        attempts: r.get(6)?,
        error: r.get(7)?,
        requested_at: r.get(8)?,
        settled_at: r.get(9)?,
    })
}

impl Store {
    /// Records the intent to take a document back. An undo still pending or done is handed back
    /// as it is; a refused one is replaced (see the module's note).
    pub fn record_undo(&self, undo: &NewUndo<'_>) -> Result<UndoRecord, StoreError> {
        match self.undo(undo.doc_key)? {
            Some(existing) if existing.state != UndoState::Refused => return Ok(existing),
            Some(_) => {
                self.conn
                    .execute("DELETE FROM undos WHERE doc_key = ?1 AND state = 'refused'", params![undo.doc_key])?;
            }
            None => {}
        }
        self.doc_changed(undo.doc_key);
        self.conn.execute(
            "INSERT INTO undos (doc_key, operation, request_id, state, reason, actor, requested_at)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6)",
            params![undo.doc_key, undo.operation, undo.request_id, undo.reason, undo.actor, now()],
        )?;
        self.undo(undo.doc_key)?.ok_or(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows))
    }

    /// The undo of a document, if one was asked for.
    pub fn undo(&self, doc_key: &str) -> Result<Option<UndoRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {UNDO_COLUMNS} FROM undos WHERE doc_key = ?1"))?
            .query_row(params![doc_key], undo_from_row)
            .optional()?)
    }

    /// Undos whose outcome is unknown (an earlier `qbsync void` stopped before it was settled).
    pub fn pending_undos(&self) -> Result<Vec<UndoRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {UNDO_COLUMNS} FROM undos WHERE state = 'pending' ORDER BY requested_at"
        ))?;
        let undos = stmt.query_map([], undo_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(undos)
    }

    /// Counts one more send of a pending undo (before it is sent).
    pub fn count_undo_attempt(&self, doc_key: &str) -> Result<(), StoreError> {
        self.conn.execute("UPDATE undos SET attempts = attempts + 1 WHERE doc_key = ?1", params![doc_key])?;
        Ok(())
    }

    /// Settles a pending undo as `state` (done or refused), with the reason of a refusal.
    pub fn settle_undo(&self, doc_key: &str, state: UndoState, error: Option<&str>) -> Result<(), StoreError> {
        self.doc_changed(doc_key);
        self.conn.execute(
            "UPDATE undos SET state = ?2, error = ?3, settled_at = ?4 WHERE doc_key = ?1 AND state = 'pending'",
            params![doc_key, state, error, now()],
        )?;
        Ok(())
    }

    /// The keys of the documents a pass created or adopted, by its id (see the audit's `pass_id`).
    pub fn documents_of_pass(&self, pass_id: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        for table in ["qb_invoice_audit", "qb_bill_audit"] {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT row_key FROM {table} WHERE pass_id = ?1 AND event IN ('created', 'adopted') AND row_key IS NOT NULL ORDER BY id"
            ))?;
            for key in stmt.query_map(params![pass_id], |r| r.get::<_, String>(0))? {
                keys.push(key?);
            }
        }
        Ok(keys)
    }
}
