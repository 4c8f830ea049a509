//! Which tracking columns show a row's outcome: the one definition the idle check, the
//! planner and the projection share.
//!
//! A bill's id lives in `qb_bill_id` whatever the mode: moving from `dual` back to
//! `invoice_only` must not write bill ids into `qb_invoice_id` (ids of no invoice), nor leave
//! them there when moving back. What changes with the mode is only where a money-out row that
//! has no bill says why: in `invoice_only` a sheet need not have the bill columns at all, so a
//! skipped money-out row speaks in the general status and error columns.

use crate::domain::layout::{Field, Layout};
use crate::store::Kind;

use super::policy::Mode;

/// The four cells that show one row's outcome; `qb_synced_at` is shared by both kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tracking {
    pub id: Field,
    pub url: Field,
    pub status: Field,
    pub error: Field,
}

impl Tracking {
    const INVOICE: Tracking = Tracking {
        id: Field::QbInvoiceId,
        url: Field::QbInvoiceUrl,
        status: Field::QbSyncStatus,
        error: Field::QbError,
    };
    const BILL: Tracking =
        Tracking { id: Field::QbBillId, url: Field::QbBillUrl, status: Field::QbBillStatus, error: Field::QbBillError };

    /// The columns of a row whose outcome is of `kind`, under `mode`. `has_document`: the row
    /// is tied to a document qbsync recorded (pending, created or refused), which keeps a bill
    /// in the bill columns even after the mode changed.
    pub fn of(kind: Kind, mode: Mode, has_document: bool) -> Tracking {
        match kind {
            Kind::Bill if mode == Mode::Dual || has_document => Tracking::BILL,
            Kind::Bill | Kind::Invoice => Tracking::INVOICE,
        }
    }

    /// The column a QuickBooks id of `kind` is shown in: a document's id has one home.
    pub fn id_of(kind: Kind) -> Field {
        Tracking::of(kind, Mode::Dual, true).id
    }
}

/// The cells that show what QuickBooks says about a document's money.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoneyColumns {
    pub balance: Field,
    pub status: Field,
    pub paid_at: Field,
    /// QuickBooks' total, tax included, known from the create.
    pub total: Field,
}

impl MoneyColumns {
    /// A document's money shows beside its id: a bill's in the bill columns in every mode.
    pub fn of(kind: Kind) -> MoneyColumns {
        match kind {
            Kind::Invoice => MoneyColumns {
                balance: Field::QbBalance,
                status: Field::QbPaidStatus,
                paid_at: Field::QbPaidAt,
                total: Field::QbTotal,
            },
            Kind::Bill => MoneyColumns {
                balance: Field::QbBillBalance,
                status: Field::QbBillPaidStatus,
                paid_at: Field::QbBillPaidAt,
                total: Field::QbBillTotal,
            },
        }
    }
}

/// The columns qbsync may write on this sheet: every tracking column it has. They are
/// qbsync's by name in any mode; the bill columns exist only where `migrate --mode dual` (or a
/// person) added them, the money columns only where `migrate` (or a person) added them, the
/// preview only where `migrate` with approval on (or a person) added it. The `approved`
/// column is the person's: it is never among them.
pub fn writable(layout: &Layout) -> impl Iterator<Item = (Field, usize)> + '_ {
    Field::TRACKING_INVOICE
        .into_iter()
        .chain(Field::TRACKING_BILL)
        .chain(Field::MONEY)
        .chain(Field::TOTALS)
        .chain([Field::QbPreview])
        .filter_map(|field| layout.column(field).map(|col| (field, col)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bill_is_shown_in_the_bill_columns_in_every_mode_once_it_has_a_document() {
        for mode in [Mode::Dual, Mode::InvoiceOnly] {
            assert_eq!(Tracking::of(Kind::Bill, mode, true), Tracking::BILL, "{mode:?}");
            assert_eq!(Tracking::of(Kind::Invoice, mode, true), Tracking::INVOICE, "{mode:?}");
            assert_eq!(Tracking::of(Kind::Invoice, mode, false), Tracking::INVOICE, "{mode:?}");
        }
        assert_eq!(Tracking::of(Kind::Bill, Mode::Dual, false), Tracking::BILL);
        assert_eq!(
            Tracking::of(Kind::Bill, Mode::InvoiceOnly, false),
            Tracking::INVOICE,
            "a skipped money-out row says why in the columns every sheet has"
        );
        assert_eq!(Tracking::id_of(Kind::Bill), Field::QbBillId);
        assert_eq!(Tracking::id_of(Kind::Invoice), Field::QbInvoiceId);
    }
}
