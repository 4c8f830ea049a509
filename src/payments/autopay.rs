//! The opt-in direction: a date in `Inv_paid_date` becomes a payment in QuickBooks.
//!
//! With `QB_AUTO_MARK_BILL_PAID` (or `QB_AUTO_MARK_INVOICE_PAID`) on, a synced row whose
//! `Inv_paid_date` holds a date gets a BillPayment (or Payment) for its document's **open
//! balance** on that date. The amount is never the row's amount: someone may have paid part of
//! it in QuickBooks already, and paying more than is owed would leave a credit nobody asked for.
//! A balance already 0, a voided or deleted document, or a payment already recorded for the row
//! means there is nothing to send. Sending it exactly once (intent, `requestid`, reconciliation)
//! is the caller's part, as for creates: the pass's autopay stage (`sync::autopay`).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::status::Lifecycle;

/// What the row asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PayRequest {
    /// Whether the row's document exists in QuickBooks (status `synced`, an id on the row).
    pub synced: bool,
    /// `Inv_paid_date`, parsed; `None` when blank.
    pub paid_date: Option<NaiveDate>,
    /// Whether a payment intent for this row is already in the store (sent or being sent).
    pub already_recorded: bool,
}

/// What QuickBooks last said about the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unpaid {
    pub balance: Decimal,
    pub lifecycle: Lifecycle,
}

/// Why no payment is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoPayment {
    /// The document is not (yet) in QuickBooks.
    NotSynced,
    /// `Inv_paid_date` is blank.
    NoPaidDate,
    /// The store already holds a payment for this row; its outcome is the caller's to follow.
    AlreadyRecorded,
    /// QuickBooks shows a balance of 0: paid there already.
    NothingOwed,
    /// The document was voided or deleted in QuickBooks.
    DocumentGone(Lifecycle),
}

/// The decision for one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayDecision {
    /// Send a payment of `amount` (the open balance) dated `on`.
    Pay {
        amount: Decimal,
        on: NaiveDate,
    },
    Nothing(NoPayment),
}

/// Decides whether a row's paid date becomes a payment, and for how much.
pub fn decide_payment(request: &PayRequest, document: &Unpaid) -> PayDecision {
    use NoPayment::*;
    if !request.synced {
        return PayDecision::Nothing(NotSynced);
    }
    let Some(on) = request.paid_date else { return PayDecision::Nothing(NoPaidDate) };
    if request.already_recorded {
        return PayDecision::Nothing(AlreadyRecorded);
    }
    if document.lifecycle != Lifecycle::Live {
        return PayDecision::Nothing(DocumentGone(document.lifecycle));
    }
    if document.balance <= Decimal::ZERO {
        return PayDecision::Nothing(NothingOwed);
    }
    PayDecision::Pay { amount: document.balance, on }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn dec(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn request(paid_date: Option<&str>) -> PayRequest {
        PayRequest { synced: true, paid_date: paid_date.map(day), already_recorded: false }
    }

    fn open(balance: &str) -> Unpaid {
        Unpaid { balance: dec(balance), lifecycle: Lifecycle::Live }
    }

    #[test]
    fn a_synced_row_with_a_paid_date_pays_the_open_balance_on_that_date() {
        assert_eq!(
            decide_payment(&request(Some("2026-03-04")), &open("250.00")),
            PayDecision::Pay { amount: dec("250.00"), on: day("2026-03-04") }
        );
    }

    #[test]
    fn a_partly_paid_document_is_paid_only_what_remains() {
        let PayDecision::Pay { amount, .. } = decide_payment(&request(Some("2026-03-04")), &open("40.10")) else {
            panic!("expected a payment");
        };
        assert_eq!(amount, dec("40.10"));
    }

    #[test]
    fn a_balance_already_zero_means_nothing_to_do() {
        assert_eq!(
            decide_payment(&request(Some("2026-03-04")), &open("0")),
            PayDecision::Nothing(NoPayment::NothingOwed)
        );
    }

    #[test]
    fn nothing_is_paid_without_a_date_a_document_or_twice() {
        assert_eq!(decide_payment(&request(None), &open("10")), PayDecision::Nothing(NoPayment::NoPaidDate));
        let unsynced = PayRequest { synced: false, ..request(Some("2026-03-04")) };
        assert_eq!(decide_payment(&unsynced, &open("10")), PayDecision::Nothing(NoPayment::NotSynced));
        let again = PayRequest { already_recorded: true, ..request(Some("2026-03-04")) };
        assert_eq!(decide_payment(&again, &open("10")), PayDecision::Nothing(NoPayment::AlreadyRecorded));
    }

    #[test]
    fn voided_and_deleted_documents_are_never_paid() {
        for lifecycle in [Lifecycle::Voided, Lifecycle::Deleted] {
            let gone = Unpaid { balance: dec("10"), lifecycle };
            assert_eq!(
                decide_payment(&request(Some("2026-03-04")), &gone),
                PayDecision::Nothing(NoPayment::DocumentGone(lifecycle))
            );
        }
    }
}
