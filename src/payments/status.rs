//! The payment status a row shows, from what QuickBooks says about its document.
//!
//! QuickBooks has no status field for paid, overdue or void (reference §1.1): it keeps a
//! `Balance` (0 = fully paid), a `TotalAmt`, a `DueDate`, and marks a void only by zeroing the
//! amounts and prepending `Voided` to the private note. The rules here turn those facts into one
//! word a bookkeeper reads, with the company's own calendar deciding what "after the due date"
//! means: an invoice due on the 10th is not overdue at 23:30 on the 10th in Los Angeles, even
//! though it is already the 11th in UTC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;

/// What `qb_paid_status` / `qb_bill_paid_status` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaidStatus {
    /// Nothing paid yet, not yet due.
    Open,
    /// Something paid, a balance remains, not yet due.
    Partial,
    /// The balance is 0.
    Paid,
    /// A balance remains after the due date (company time).
    Overdue,
    /// Voided in QuickBooks: kept, with every amount zeroed.
    Voided,
    /// Deleted in QuickBooks.
    Deleted,
}

impl PaidStatus {
    pub const ALL: [PaidStatus; 6] = [
        PaidStatus::Open,
        PaidStatus::Partial,
        PaidStatus::Paid,
        PaidStatus::Overdue,
        PaidStatus::Voided,
        PaidStatus::Deleted,
    ];

    /// The cell text.
    pub fn as_str(self) -> &'static str {
        match self {
            PaidStatus::Open => "open",
            PaidStatus::Partial => "partial",
            PaidStatus::Paid => "paid",
            PaidStatus::Overdue => "overdue",
            PaidStatus::Voided => "voided",
            PaidStatus::Deleted => "deleted",
        }
    }

    /// Voided and deleted documents are gone for good: the row is never created again and no
    /// payment is ever sent for it.
    pub fn is_final(self) -> bool {
        matches!(self, PaidStatus::Voided | PaidStatus::Deleted)
    }
}

impl fmt::Display for PaidStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A cell that names no payment status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a payment status (open, partial, paid, overdue, voided, deleted)")]
pub struct UnknownPaidStatus(pub String);

impl FromStr for PaidStatus {
    type Err = UnknownPaidStatus;

    fn from_str(text: &str) -> Result<PaidStatus, UnknownPaidStatus> {
        let text = text.trim();
        PaidStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| UnknownPaidStatus(text.to_owned()))
    }
}

/// Whether the document still exists as QuickBooks shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lifecycle {
    Live,
    Voided,
    /// Reported deleted by CDC *and* confirmed by a read failing with 610 (CDC has been seen
    /// reporting deletions right after plain updates, reference §1.3).
    Deleted,
}

/// What QuickBooks says about one invoice or bill, as far as payment goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocFacts {
    /// `TotalAmt`.
    pub total: Decimal,
    /// `Balance`: what is still owed.
    pub balance: Decimal,
    pub due_date: Option<NaiveDate>,
    pub lifecycle: Lifecycle,
    /// The `TxnDate` of the latest payment applied to it, when known.
    pub last_payment_date: Option<NaiveDate>,
}

/// The three cells a row shows for its document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidView {
    pub status: PaidStatus,
    /// `qb_balance`; `None` (blank) once the document is deleted.
    pub balance: Option<Decimal>,
    /// `qb_paid_at`: the date of the payment that brought the balance to 0, else `None`.
    pub paid_at: Option<NaiveDate>,
}

impl PaidView {
    /// `qb_balance` as written: the exact decimal with at least two places (`40.50`, `0.00`).
    pub fn balance_cell(&self) -> String {
        self.balance.map(money_text).unwrap_or_default()
    }

    /// `qb_paid_at` as written: `YYYY-MM-DD` or blank.
    pub fn paid_at_cell(&self) -> String {
        self.paid_at.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
    }
}

fn money_text(amount: Decimal) -> String {
    let mut amount = amount.normalize();
    if amount.scale() < 2 {
        amount.rescale(2);
    }
    amount.to_string()
}

/// The company's calendar date at `now`.
pub fn company_today(now: DateTime<Utc>, company_tz: Tz) -> NaiveDate {
    now.with_timezone(&company_tz).date_naive()
}

/// The status, balance and paid date a row shows. Voided and deleted win over everything; then
/// a zero balance is `paid`; then a balance after the due date is `overdue`; then a balance
/// below the total is `partial`; otherwise `open`.
pub fn paid_view(facts: &DocFacts, now: DateTime<Utc>, company_tz: Tz) -> PaidView {
    paid_view_on(facts, company_today(now, company_tz))
}

/// [`paid_view`] on the company's calendar date `today` (when the caller has QuickBooks' own
/// clock rather than a time zone).
pub fn paid_view_on(facts: &DocFacts, today: NaiveDate) -> PaidView {
    match facts.lifecycle {
        Lifecycle::Deleted => return PaidView { status: PaidStatus::Deleted, balance: None, paid_at: None },
        Lifecycle::Voided => {
            return PaidView { status: PaidStatus::Voided, balance: Some(Decimal::ZERO), paid_at: None };
        }
        Lifecycle::Live => {}
    }
    let balance = facts.balance;
    if balance <= Decimal::ZERO {
        return PaidView { status: PaidStatus::Paid, balance: Some(Decimal::ZERO), paid_at: facts.last_payment_date };
    }
    let status = if facts.due_date.is_some_and(|due| due < today) {
        PaidStatus::Overdue
    } else if balance < facts.total {
        PaidStatus::Partial
    } else {
        PaidStatus::Open
    };
    PaidView { status, balance: Some(balance), paid_at: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LA: Tz = chrono_tz::America::Los_Angeles;

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn live(total: &str, balance: &str, due: &str) -> DocFacts {
        DocFacts {
            total: dec(total),
            balance: dec(balance),
            due_date: Some(day(due)),
            lifecycle: Lifecycle::Live,
            last_payment_date: None,
        }
    }

    const BEFORE_DUE: &str = "2026-03-01T12:00:00Z";

    #[test]
    fn an_unpaid_invoice_before_its_due_date_is_open() {
        let view = paid_view(&live("100.00", "100.00", "2026-03-10"), at(BEFORE_DUE), LA);
        assert_eq!(view, PaidView { status: PaidStatus::Open, balance: Some(dec("100")), paid_at: None });
        assert_eq!(view.balance_cell(), "100.00");
        assert_eq!(view.paid_at_cell(), "");
    }

    #[test]
    fn a_partly_paid_invoice_shows_what_remains() {
        let view = paid_view(&live("100.00", "40.5", "2026-03-10"), at(BEFORE_DUE), LA);
        assert_eq!(view.status, PaidStatus::Partial);
        assert_eq!(view.balance_cell(), "40.50");
    }

    #[test]
    fn a_fully_paid_invoice_is_paid_on_the_date_of_its_last_payment() {
        let facts = DocFacts { last_payment_date: Some(day("2026-03-04")), ..live("100.00", "0", "2026-03-10") };
        let view = paid_view(&facts, at("2026-04-01T12:00:00Z"), LA);
        assert_eq!(view.status, PaidStatus::Paid);
        assert_eq!((view.balance_cell(), view.paid_at_cell()), ("0.00".to_owned(), "2026-03-04".to_owned()));
    }

    #[test]
    fn an_invoice_paid_over_several_payments_is_partial_until_the_last_one() {
        let mut facts = live("300.00", "300.00", "2026-03-31");
        let now = at(BEFORE_DUE);
        let mut seen = Vec::new();
        for (balance, paid_on) in [("200.00", "2026-03-02"), ("50.00", "2026-03-03"), ("0", "2026-03-05")] {
            facts.balance = dec(balance);
            facts.last_payment_date = Some(day(paid_on));
            let view = paid_view(&facts, now, LA);
            seen.push((view.status, view.paid_at_cell()));
        }
        assert_eq!(
            seen,
            [
                (PaidStatus::Partial, String::new()),
                (PaidStatus::Partial, String::new()),
                (PaidStatus::Paid, "2026-03-05".to_owned())
            ]
        );
    }

    #[test]
    fn overdue_is_judged_by_the_company_clock_near_midnight() {
        let facts = live("100.00", "100.00", "2026-03-10");
        // 23:30 on the 10th in Los Angeles, already the 11th in UTC: still due today.
        assert_eq!(paid_view(&facts, at("2026-03-11T06:30:00Z"), LA).status, PaidStatus::Open);
        // 00:30 on the 11th in Los Angeles (PDT from 8 March): a day late.
        assert_eq!(paid_view(&facts, at("2026-03-11T07:30:00Z"), LA).status, PaidStatus::Overdue);
        // The same instant in a company in UTC+1 is already well past.
        assert_eq!(paid_view(&facts, at("2026-03-10T23:30:00Z"), chrono_tz::Europe::Paris).status, PaidStatus::Overdue);
        assert_eq!(paid_view(&facts, at("2026-03-10T23:30:00Z"), LA).status, PaidStatus::Open);
    }

    #[test]
    fn a_partly_paid_invoice_past_its_due_date_is_overdue() {
        let view = paid_view(&live("100.00", "10.00", "2026-03-10"), at("2026-03-20T12:00:00Z"), LA);
        assert_eq!(view.status, PaidStatus::Overdue);
        assert_eq!(view.balance, Some(dec("10")));
    }

    #[test]
    fn a_paid_invoice_is_never_overdue() {
        let view = paid_view(&live("100.00", "0", "2026-03-10"), at("2026-05-20T12:00:00Z"), LA);
        assert_eq!(view.status, PaidStatus::Paid);
    }

    #[test]
    fn a_document_without_due_date_is_never_overdue() {
        let facts = DocFacts { due_date: None, ..live("100.00", "100.00", "2026-03-10") };
        assert_eq!(paid_view(&facts, at("2030-01-01T00:00:00Z"), LA).status, PaidStatus::Open);
    }

    #[test]
    fn voided_and_deleted_win_over_balances_and_dates() {
        let voided = DocFacts { lifecycle: Lifecycle::Voided, ..live("0", "0", "2026-03-10") };
        let view = paid_view(&voided, at("2026-05-20T12:00:00Z"), LA);
        assert_eq!(
            (view.status, view.balance_cell(), view.paid_at_cell()),
            (PaidStatus::Voided, "0.00".into(), "".into())
        );
        let deleted = DocFacts { lifecycle: Lifecycle::Deleted, ..live("100.00", "100.00", "2026-03-10") };
        let view = paid_view(&deleted, at("2026-05-20T12:00:00Z"), LA);
        assert_eq!((view.status, view.balance_cell()), (PaidStatus::Deleted, String::new()));
        assert!(view.status.is_final() && PaidStatus::Voided.is_final() && !PaidStatus::Paid.is_final());
    }

    #[test]
    fn statuses_read_back_from_their_cells() {
        for status in PaidStatus::ALL {
            assert_eq!(status.as_str().parse::<PaidStatus>(), Ok(status));
        }
        assert_eq!(" Paid ".parse::<PaidStatus>(), Ok(PaidStatus::Paid));
        assert!("settled".parse::<PaidStatus>().is_err());
    }
}
