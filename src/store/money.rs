//! Money coming back: what QuickBooks last said about each document qbsync created, where the
//! payment poller's window stands, and how many metered QuickBooks calls were made each day.
//!
//! `doc_money` holds, per created document, QuickBooks' facts (total, balance, due date,
//! voided or deleted, the date of the last payment) and the cells its rows show for them. A
//! change sets `unshown`: the next pass is not idle until the write-back has projected it (an
//! idle poll otherwise never looks at a synced row). Writing a document's money also clears
//! the seals of its rows, since a seal stands for a row whose cells cannot change.

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::types::{FromSql, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, params};

use super::{Amount, Store, StoreError, now, unknown};
use crate::payments::{DocFacts, Followed, Lifecycle, Money, PaidStatus, PaidView};
use crate::qbo::DocKind;

/// `meta` key: the end of the change history the poller has covered (RFC 3339).
const COVERED_UNTIL: &str = "payments.covered_until";

const MONEY_COLUMNS: &str =
    "m.total, m.balance, m.due_date, m.lifecycle, m.last_paid_on, m.paid_status, m.shown_balance, m.paid_at";

impl ToSql for PaidStatus {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for PaidStatus {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        text.parse().map_err(|_| unknown("payment status", text))
    }
}

/// Lifecycles as the store spells them.
struct StoredLifecycle(Lifecycle);

impl StoredLifecycle {
    fn as_str(lifecycle: Lifecycle) -> &'static str {
        match lifecycle {
            Lifecycle::Live => "live",
            Lifecycle::Voided => "voided",
            Lifecycle::Deleted => "deleted",
        }
    }
}

impl FromSql for StoredLifecycle {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        [Lifecycle::Live, Lifecycle::Voided, Lifecycle::Deleted]
            .into_iter()
            .find(|l| StoredLifecycle::as_str(*l) == text)
            .map(StoredLifecycle)
            .ok_or_else(|| unknown("document lifecycle", text))
    }
}

/// Dates as `YYYY-MM-DD`.
pub(super) struct Day(pub(super) NaiveDate);

impl FromSql for Day {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        NaiveDate::parse_from_str(text, "%Y-%m-%d").map(Day).map_err(|_| unknown("date", text))
    }
}

fn day_text(date: Option<NaiveDate>) -> Option<String> {
    date.map(|d| d.format("%Y-%m-%d").to_string())
}

/// Reads [`MONEY_COLUMNS`] starting at column `at`.
fn money_from_row(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Money> {
    Ok(Money {
        facts: DocFacts {
            total: r.get::<_, Amount>(at)?.0,
            balance: r.get::<_, Amount>(at + 1)?.0,
            due_date: r.get::<_, Option<Day>>(at + 2)?.map(|d| d.0),
            lifecycle: r.get::<_, StoredLifecycle>(at + 3)?.0,
            last_payment_date: r.get::<_, Option<Day>>(at + 4)?.map(|d| d.0),
        },
        view: PaidView {
            status: r.get(at + 5)?,
            balance: r.get::<_, Option<Amount>>(at + 6)?.map(|a| a.0),
            paid_at: r.get::<_, Option<Day>>(at + 7)?.map(|d| d.0),
        },
    })
}

impl Store {
    /// Remembers what QuickBooks says about `doc_key`'s money, to be shown by the next
    /// write-back; the seals of its rows are cleared, so that the write-back looks at them.
    pub fn put_money(&self, doc_key: &str, money: &Money) -> Result<(), StoreError> {
        self.doc_changed(doc_key);
        let (facts, view) = (&money.facts, &money.view);
        self.conn
            .prepare_cached(
                "INSERT INTO doc_money (doc_key, total, balance, due_date, lifecycle, last_paid_on, paid_status, shown_balance, paid_at, unshown, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10)
                 ON CONFLICT(doc_key) DO UPDATE SET total = excluded.total, balance = excluded.balance,
                   due_date = excluded.due_date, lifecycle = excluded.lifecycle, last_paid_on = excluded.last_paid_on,
                   paid_status = excluded.paid_status, shown_balance = excluded.shown_balance, paid_at = excluded.paid_at,
                   unshown = 1, updated_at = excluded.updated_at",
            )?
            .execute(params![
                doc_key,
                facts.total.to_string(),
                facts.balance.to_string(),
                day_text(facts.due_date),
                StoredLifecycle::as_str(facts.lifecycle),
                day_text(facts.last_payment_date),
                view.status,
                view.balance.map(|b| b.to_string()),
                day_text(view.paid_at),
                now(),
            ])?;
        let mut rows = self.conn.prepare_cached("SELECT row_key FROM rows WHERE doc_key = ?1")?;
        let keys = rows.query_map(params![doc_key], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        for key in &keys {
            self.row_changed(key);
        }
        self.conn.prepare_cached("UPDATE rows SET seal = NULL WHERE doc_key = ?1")?.execute(params![doc_key])?;
        Ok(())
    }

    /// What the store knows of `doc_key`'s money.
    pub fn money(&self, doc_key: &str) -> Result<Option<Money>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {MONEY_COLUMNS} FROM doc_money m WHERE m.doc_key = ?1"))?
            .query_row(params![doc_key], |r| money_from_row(r, 0))
            .optional()?)
    }

    /// Every document's money, one at a time: `(doc key, money)`.
    pub fn for_each_money(&self, mut each: impl FnMut(String, Money)) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!("SELECT m.doc_key, {MONEY_COLUMNS} FROM doc_money m"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            each(row.get(0)?, money_from_row(row, 1)?);
        }
        Ok(())
    }

    /// The invoices and bills qbsync created that are neither voided nor deleted in
    /// QuickBooks, with what is known of their money: what the payment poller follows. Credits
    /// are not followed: nobody pays a credit memo; it is applied to invoices.
    pub fn followed_documents(&self) -> Result<Vec<Followed>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT d.doc_key, d.doc_kind, d.qbo_id, m.doc_key IS NOT NULL, {MONEY_COLUMNS}
             FROM documents d LEFT JOIN doc_money m ON m.doc_key = d.doc_key
             WHERE d.state = 'created' AND d.qbo_id IS NOT NULL AND d.doc_kind IN ('Invoice', 'Bill')
               AND (m.paid_status IS NULL OR m.paid_status NOT IN ('voided', 'deleted'))
             ORDER BY d.doc_key"
        ))?;
        let found = stmt.query_map([], |r| {
            let kind: DocKind = r.get(1)?;
            let known = if r.get::<_, bool>(3)? { Some(money_from_row(r, 4)?) } else { None };
            Ok(Followed { doc_key: r.get(0)?, kind, qbo_id: r.get(2)?, known })
        })?;
        Ok(found.collect::<Result<Vec<_>, _>>()?)
    }

    /// Whether a document's money changed since the write-back last showed it.
    pub fn has_unshown_money(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM doc_money WHERE unshown = 1)")?
            .query_row([], |r| r.get(0))?)
    }

    /// The documents whose money changed since the write-back last showed it.
    pub fn unshown_money(&self) -> Result<Vec<String>, StoreError> {
        let mut stmt = self.conn.prepare_cached("SELECT doc_key FROM doc_money WHERE unshown = 1")?;
        let keys = stmt.query_map([], |r| r.get(0))?.collect::<Result<Vec<_>, _>>()?;
        Ok(keys)
    }

    /// The write-back has projected these documents' money.
    pub fn money_shown(&self, doc_keys: &[String]) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached("UPDATE doc_money SET unshown = 0 WHERE doc_key = ?1")?;
        for key in doc_keys {
            stmt.execute(params![key])?;
        }
        Ok(())
    }

    /// Where the payment poller's window stands (`None` before its first round).
    pub fn payments_covered_until(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = ?1", params![COVERED_UNTIL], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|t| DateTime::parse_from_rfc3339(&t).ok()).map(|at| at.with_timezone(&Utc)))
    }

    /// Stores where the payment poller's window stands.
    pub fn set_payments_covered_until(&self, until: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
            params![COVERED_UNTIL, until.to_rfc3339()],
        )?;
        Ok(())
    }

    /// Counts `calls` more metered QuickBooks calls on `day` (UTC).
    pub fn add_metered_calls(&self, day: NaiveDate, calls: u64) -> Result<(), StoreError> {
        if calls == 0 {
            return Ok(());
        }
        let calls = i64::try_from(calls).unwrap_or(i64::MAX);
        self.conn
            .prepare_cached(
                "INSERT INTO metered_calls (day, calls) VALUES (?1, ?2)
                 ON CONFLICT(day) DO UPDATE SET calls = calls + excluded.calls",
            )?
            .execute(params![day_text(Some(day)), calls])?;
        Ok(())
    }

    /// The metered QuickBooks calls counted on `day` (UTC) and over the 30 days ending on it.
    pub fn metered_calls(&self, day: NaiveDate) -> Result<(u64, u64), StoreError> {
        let from = day - chrono::Duration::days(29);
        let (today, month): (i64, i64) = self.conn.query_row(
            "SELECT COALESCE(SUM(CASE WHEN day = ?1 THEN calls END), 0), COALESCE(SUM(calls), 0)
             FROM metered_calls WHERE day BETWEEN ?2 AND ?1",
            params![day_text(Some(day)), day_text(Some(from))],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((today.max(0) as u64, month.max(0) as u64))
    }
}
