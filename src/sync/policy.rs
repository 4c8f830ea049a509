//! Everything that decides what a row becomes, distilled from the settings once per pass.

use chrono::NaiveDate;

use crate::directions::{Directions, NameAliases};
use crate::domain::date::DateOrder;
use crate::domain::layout::ColumnNames;
use crate::domain::money::AmountFormat;
use crate::domain::status::EligibleStatuses;
use crate::qbo::{DocKind, TaxConfig};
use crate::settings::{AutoMarkPaid, NegativeAmounts};

/// `QB_SYNC_MODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Money-out rows are skipped (QuickBooks Simple Start has no Bills).
    InvoiceOnly,
    /// Money-out rows become Bills.
    Dual,
}

/// The rules of one pass.
#[derive(Clone, Debug)]
pub struct Policy {
    pub mode: Mode,
    pub eligible: EligibleStatuses,
    pub group_by_invoice: bool,
    /// `QBSYNC_REQUIRE_APPROVAL`: a ready row is previewed and waits for a person's approval.
    pub require_approval: bool,
    pub doc_number_prefix: String,
    pub amount_format: AmountFormat,
    pub date_order: DateOrder,
    pub columns: ColumnNames,
    pub default_item_id: String,
    pub expense_account_id: String,
    pub ap_account_id: Option<String>,
    /// `QBSYNC_NEGATIVE_AMOUNTS`: whether a negative amount fails its row or becomes a credit.
    pub negative_amounts: NegativeAmounts,
    /// The tax settings, resolved against the company's tax codes when documents are built
    /// (the company's rules are QuickBooks', learnt by the send stage).
    pub tax: TaxConfig,
    /// `QBSYNC_CREATE_MISSING_NAMES`: create customers and vendors QuickBooks does not know.
    pub create_missing_names: bool,
    pub directions: Directions,
    pub customer_aliases: NameAliases,
    pub vendor_aliases: NameAliases,
    /// Changes whenever a setting a row's outcome depends on changes: a failed row is retried then.
    pub config_fp: String,
    /// The date used when `submitted_date` is blank.
    pub today: NaiveDate,
    /// `--include-failed`: retry failed rows even when nothing changed.
    pub include_failed: bool,
    /// `--backfill`: take rows without a QuickBooks id whatever their status.
    pub backfill: bool,
    /// `--limit N`: create at most N documents this pass.
    pub limit: Option<usize>,
    /// Which documents a row's `Inv_paid_date` pays in QuickBooks (see [`super::autopay`]).
    pub autopay: Autopay,
}

/// `QB_AUTO_MARK_INVOICE_PAID` and `QB_AUTO_MARK_BILL_PAID`, each with its account: both off
/// by default, bills only in dual mode (no bills are created otherwise).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Autopay {
    pub invoices: AutoMarkPaid,
    pub bills: AutoMarkPaid,
}

impl Autopay {
    /// The account payments of `doc_kind` go through, when qbsync pays that kind; credits are
    /// never paid.
    pub fn account(&self, doc_kind: DocKind) -> Option<&str> {
        let direction = match doc_kind {
            DocKind::Invoice => &self.invoices,
            DocKind::Bill => &self.bills,
            _ => return None,
        };
        match direction {
            AutoMarkPaid::On { account_id } => Some(account_id),
            AutoMarkPaid::Off => None,
        }
    }

    /// The document kinds qbsync pays.
    pub fn kinds(&self) -> impl Iterator<Item = DocKind> + '_ {
        [DocKind::Invoice, DocKind::Bill].into_iter().filter(|kind| self.account(*kind).is_some())
    }

    pub fn is_on(&self) -> bool {
        self.kinds().next().is_some()
    }
}
