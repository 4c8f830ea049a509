//! Payouts: payments qbsync sends to QuickBooks for the documents it created, when a row's
//! `Inv_paid_date` says the document is paid (`QB_AUTO_MARK_INVOICE_PAID`,
//! `QB_AUTO_MARK_BILL_PAID`).
//!
//! A payout is a write like a create, kept like one: recorded with its exact body and the
//! `requestid` every resend reuses before the first send, then settled `pending` → `paid`
//! (QuickBooks holds the payment, by its answer or found by its marker), `refused` (QuickBooks
//! refused it for the document: a person records it by hand), `held` (QuickBooks refused it
//! because of the payment account setting: nothing was paid, and it is decided again, under a
//! new `requestid`, once qbsync restarts with the setting corrected) or `unneeded` (nothing was
//! owed by the time it was settled, so nothing was sent). One payout per document: whatever its
//! outcome, a document qbsync decided to pay is not paid by qbsync again.

use chrono::NaiveDate;
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, params};
use rust_decimal::Decimal;
use serde::Serialize;

use super::money::Day;
use super::{Amount, Kind, Store, StoreError, now, unknown};
use crate::qbo::{DocKind, PaymentKind};

/// Where a payout stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PayoutState {
    /// Recorded; QuickBooks may or may not hold the payment yet.
    Pending,
    /// QuickBooks holds the payment.
    Paid,
    /// QuickBooks refused the payment for the document; nothing was paid.
    Refused,
    /// QuickBooks refused the payment because of the account it was to go through (a setting,
    /// not the row); nothing was paid, and it is decided again after a restart.
    Held,
    /// Nothing was owed any more when it was settled; nothing was sent.
    Unneeded,
}

impl PayoutState {
    pub fn as_str(self) -> &'static str {
        match self {
            PayoutState::Pending => "pending",
            PayoutState::Paid => "paid",
            PayoutState::Refused => "refused",
            PayoutState::Held => "held",
            PayoutState::Unneeded => "unneeded",
        }
    }
}

impl ToSql for PayoutState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for PayoutState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        [PayoutState::Pending, PayoutState::Paid, PayoutState::Refused, PayoutState::Held, PayoutState::Unneeded]
            .into_iter()
            .find(|s| s.as_str() == text)
            .ok_or_else(|| unknown("payout state", text))
    }
}

/// Payment kinds as the store spells them (QuickBooks' entity names).
struct StoredKind(PaymentKind);

impl FromSql for StoredKind {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        [PaymentKind::Payment, PaymentKind::BillPayment]
            .into_iter()
            .find(|k| k.entity() == text)
            .map(StoredKind)
            .ok_or_else(|| unknown("payment kind", text))
    }
}

/// A payment qbsync intends to send, or has sent, for one document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PayoutRecord {
    pub doc_key: String,
    #[serde(serialize_with = "entity_name")]
    pub kind: PaymentKind,
    pub request_id: String,
    /// The exact JSON body sent every time (contains no secrets).
    pub payload: String,
    /// The document's open balance when the payment was decided: what it pays.
    pub amount: Decimal,
    /// The payment's date (the row's `Inv_paid_date`).
    pub paid_on: NaiveDate,
    pub state: PayoutState,
    /// The Payment's or BillPayment's id once QuickBooks holds it.
    pub qbo_id: Option<String>,
    /// How many times it was sent (a replay with the same requestid counts).
    pub attempts: i64,
    pub error: Option<String>,
    pub requested_at: String,
    pub settled_at: Option<String>,
    /// The account the payment goes through (`None` for payouts recorded before schema v10).
    pub account_id: Option<String>,
}

fn entity_name<S: serde::Serializer>(kind: &PaymentKind, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(kind.entity())
}

/// The intent to pay one document, recorded before the first send.
#[derive(Clone, Debug)]
pub struct NewPayout<'a> {
    pub doc_key: &'a str,
    pub kind: PaymentKind,
    pub request_id: &'a str,
    pub payload: &'a str,
    pub amount: Decimal,
    pub paid_on: NaiveDate,
    /// The account the payment goes through (the deposit account, or the bank or card).
    pub account_id: Option<&'a str>,
}

const PAYOUT_COLUMNS: &str = "doc_key, kind, request_id, payload, amount, paid_on, state, qbo_id, attempts, error, \
     requested_at, settled_at, account_id";

fn payout_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PayoutRecord> {
    Ok(PayoutRecord {
        doc_key: r.get(0)?,
        kind: r.get::<_, StoredKind>(1)?.0,
        request_id: r.get(2)?,
        payload: r.get(3)?,
        amount: r.get::<_, Amount>(4)?.0,
        paid_on: r.get::<_, Day>(5)?.0,
        state: r.get(6)?,
        qbo_id: r.get(7)?,
        attempts: r.get(8)?,
        error: r.get(9)?,
        requested_at: r.get(10)?,
        settled_at: r.get(11)?,
        account_id: r.get(12)?,
    })
}

impl Store {
    /// Records the intent to pay a document; a payout already recorded for it, whatever its
    /// state, is handed back as it is (a document is paid by qbsync at most once).
    pub fn record_payout(&self, payout: &NewPayout<'_>) -> Result<PayoutRecord, StoreError> {
        if let Some(existing) = self.payout(payout.doc_key)? {
            return Ok(existing);
        }
        self.doc_changed(payout.doc_key);
        self.conn.execute(
            "INSERT INTO payouts (doc_key, kind, request_id, payload, amount, paid_on, state, requested_at, account_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', ?7, ?8)",
            params![
                payout.doc_key,
                payout.kind.entity(),
                payout.request_id,
                payout.payload,
                payout.amount.to_string(),
                payout.paid_on.format("%Y-%m-%d").to_string(),
                now(),
                payout.account_id
            ],
        )?;
        self.payout(payout.doc_key)?.ok_or(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows))
    }

    /// Decides a `held` payout again: it becomes `payout`, pending and never sent. Only a held
    /// payout is renewed (QuickBooks paid nothing for it); any other is handed back as it is.
    pub fn renew_payout(&self, payout: &NewPayout<'_>) -> Result<PayoutRecord, StoreError> {
        self.doc_changed(payout.doc_key);
        self.conn.execute(
            "UPDATE payouts SET kind = ?2, request_id = ?3, payload = ?4, amount = ?5, paid_on = ?6, state = 'pending',
                    qbo_id = NULL, attempts = 0, error = NULL, requested_at = ?7, settled_at = NULL, account_id = ?8
             WHERE doc_key = ?1 AND state = 'held'",
            params![
                payout.doc_key,
                payout.kind.entity(),
                payout.request_id,
                payout.payload,
                payout.amount.to_string(),
                payout.paid_on.format("%Y-%m-%d").to_string(),
                now(),
                payout.account_id
            ],
        )?;
        self.payout(payout.doc_key)?.ok_or(StoreError::Sql(rusqlite::Error::QueryReturnedNoRows))
    }

    /// The payout of a document, if one was decided.
    pub fn payout(&self, doc_key: &str) -> Result<Option<PayoutRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {PAYOUT_COLUMNS} FROM payouts WHERE doc_key = ?1"))?
            .query_row(params![doc_key], payout_from_row)
            .optional()?)
    }

    /// Payouts whose outcome is unknown (never sent, or sent without an answer).
    pub fn pending_payouts(&self) -> Result<Vec<PayoutRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PAYOUT_COLUMNS} FROM payouts WHERE state = 'pending' ORDER BY requested_at, doc_key"
        ))?;
        let payouts = stmt.query_map([], payout_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(payouts)
    }

    /// Whether any payout's outcome is unknown.
    pub fn has_pending_payouts(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM payouts WHERE state = 'pending')")?
            .query_row([], |r| r.get(0))?)
    }

    /// Counts one more send of a pending payout (before it is sent).
    pub fn count_payout_attempt(&self, doc_key: &str) -> Result<(), StoreError> {
        self.conn.execute("UPDATE payouts SET attempts = attempts + 1 WHERE doc_key = ?1", params![doc_key])?;
        Ok(())
    }

    /// Settles a pending payout as `state`, with the payment's id or the reason it was not paid.
    pub fn settle_payout(
        &self,
        doc_key: &str,
        state: PayoutState,
        qbo_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        self.doc_changed(doc_key);
        self.conn.execute(
            "UPDATE payouts SET state = ?2, qbo_id = ?3, error = ?4, settled_at = ?5 WHERE doc_key = ?1 AND state = 'pending'",
            params![doc_key, state, qbo_id, error, now()],
        )?;
        Ok(())
    }

    /// Drops the seals of the rows of documents whose payout is held, so that the pass deciding
    /// those payouts again plans those rows in full and sees their paid dates.
    pub fn unseal_held_payouts(&self) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE rows SET seal = NULL
             WHERE seal IS NOT NULL AND doc_key IN (SELECT doc_key FROM payouts WHERE state = 'held')",
            [],
        )?;
        Ok(())
    }

    /// The documents of `doc_kind` a row's paid date could still make qbsync pay, as `(side of
    /// the sheet, QuickBooks id)`: created, never paid by qbsync (or, with `with_held`, held for
    /// the account setting), and not known to be voided, deleted or settled in QuickBooks (a
    /// balance of 0). The idle check looks for their ids.
    pub fn payable_documents(&self, doc_kind: DocKind, with_held: bool) -> Result<Vec<(Kind, String)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.kind, d.qbo_id, m.balance FROM documents d
             LEFT JOIN doc_money m ON m.doc_key = d.doc_key
             LEFT JOIN payouts p ON p.doc_key = d.doc_key
             WHERE d.state = 'created' AND d.qbo_id IS NOT NULL AND d.doc_kind = ?1
               AND (p.doc_key IS NULL OR (?2 AND p.state = 'held'))
               AND (m.doc_key IS NULL OR m.lifecycle = 'live')",
        )?;
        let rows = stmt.query_map(params![doc_kind, with_held], |r| {
            Ok((r.get::<_, Kind>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<Amount>>(2)?))
        })?;
        let mut payable = Vec::new();
        for row in rows {
            let (kind, id, balance) = row?;
            if balance.is_none_or(|b| b.0 > Decimal::ZERO) {
                payable.push((kind, id));
            }
        }
        Ok(payable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store holding one created invoice, `d1` (QuickBooks id 130, total 10.00).
    fn with_created_invoice() -> Store {
        let store = Store::in_memory().unwrap();
        store
            .conn
            .execute(
                "INSERT INTO documents (doc_key, kind, doc_kind, request_id, payload_hash, payload, party_id, total, state, qbo_id, created_at, updated_at)
                 VALUES ('d1', 'invoice', 'Invoice', 'd1-r', 'h', '{}', '58', '10.00', 'created', '130', 'now', 'now')",
                [],
            )
            .unwrap();
        store
    }

    #[test]
    fn a_payout_is_recorded_once_and_settled_once() {
        let store = with_created_invoice();
        assert_eq!(store.payable_documents(DocKind::Invoice, false).unwrap(), [(Kind::Invoice, "130".to_owned())]);
        let day = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let new = NewPayout {
            doc_key: "d1",
            kind: PaymentKind::Payment,
            request_id: "d1-p1234567",
            payload: "{}",
            amount: "10.00".parse().unwrap(),
            paid_on: day,
            account_id: Some("35"),
        };
        let first = store.record_payout(&new).unwrap();
        assert_eq!((first.state, first.amount, first.paid_on), (PayoutState::Pending, new.amount, day));
        assert!(store.has_pending_payouts().unwrap());
        assert!(store.payable_documents(DocKind::Invoice, true).unwrap().is_empty(), "decided: not payable again");
        let again = store.record_payout(&NewPayout { request_id: "other", ..new.clone() }).unwrap();
        assert_eq!(again, first, "an intent recorded earlier is handed back as it is");
        store.count_payout_attempt("d1").unwrap();
        store.settle_payout("d1", PayoutState::Paid, Some("163"), None).unwrap();
        store.settle_payout("d1", PayoutState::Refused, None, Some("late")).unwrap();
        let settled = store.payout("d1").unwrap().unwrap();
        assert_eq!((settled.state, settled.qbo_id.as_deref(), settled.attempts), (PayoutState::Paid, Some("163"), 1));
        assert!(store.pending_payouts().unwrap().is_empty());
        assert_eq!(store.renew_payout(&new).unwrap(), settled, "a payout that is not held is never renewed");
    }

    #[test]
    fn a_held_payout_is_payable_again_only_when_asked_and_is_renewed_as_a_new_intent() {
        let store = with_created_invoice();
        let day = NaiveDate::from_ymd_opt(2026, 3, 4).unwrap();
        let held = NewPayout {
            doc_key: "d1",
            kind: PaymentKind::Payment,
            request_id: "d1-paaaaaaa",
            payload: "{\"DepositToAccountRef\":{\"value\":\"99\"}}",
            amount: "10.00".parse().unwrap(),
            paid_on: day,
            account_id: Some("99"),
        };
        store.record_payout(&held).unwrap();
        store.count_payout_attempt("d1").unwrap();
        store.settle_payout("d1", PayoutState::Held, None, Some("account 99 is inactive")).unwrap();
        assert_eq!(store.payout("d1").unwrap().unwrap().account_id.as_deref(), Some("99"));
        assert!(store.payable_documents(DocKind::Invoice, false).unwrap().is_empty());
        assert_eq!(store.payable_documents(DocKind::Invoice, true).unwrap(), [(Kind::Invoice, "130".to_owned())]);

        let renewed = NewPayout { request_id: "d1-pbbbbbbb", payload: "{}", account_id: Some("35"), ..held };
        let payout = store.renew_payout(&renewed).unwrap();
        assert_eq!(
            (payout.state, payout.attempts, payout.request_id.as_str(), payout.account_id.as_deref()),
            (PayoutState::Pending, 0, "d1-pbbbbbbb", Some("35"))
        );
        assert_eq!(payout.error, None);
        assert_eq!(store.pending_payouts().unwrap(), [payout]);
    }
}
