//! What a pass did, for the log, `run-once`'s summary and the progress bar.

use crate::store::Kind;

/// Options of one pass.
#[derive(Clone, Copy, Debug, Default)]
pub struct PassOptions {
    /// Plan and print; change nothing anywhere.
    pub dry_run: bool,
}

/// One created (or adopted) document, for the report and the log.
#[derive(Clone, Debug, PartialEq)]
pub struct CreatedDoc {
    pub kind: Kind,
    pub doc_number: String,
    pub qbo_id: String,
    pub url: String,
    pub sheet_rows: Vec<u32>,
    pub adopted: bool,
}

/// What a dry run would send and write.
#[derive(Clone, Debug, PartialEq)]
pub struct DryRunDoc {
    pub kind: Kind,
    pub doc_number: String,
    pub sheet_rows: Vec<u32>,
    pub payload: Option<serde_json::Value>,
    pub problem: Option<String>,
}

/// What a pass did.
#[derive(Clone, Debug, Default)]
pub struct PassReport {
    /// Nothing was ready: the pass cost one read.
    pub idle: bool,
    pub created: Vec<CreatedDoc>,
    pub failed: usize,
    pub skipped: usize,
    pub copies: usize,
    /// Rows waiting for a person's approval (`QBSYNC_REQUIRE_APPROVAL`).
    pub in_review: usize,
    /// Documents whose outcome is still unknown (they are settled next pass).
    pub uncertain: usize,
    pub cells_written: usize,
    pub mismatches: usize,
    /// Rows recognised by their seal when the pass planned: not decoded, planned or projected
    /// (see [`super::seal`]).
    pub quiet: usize,
    pub deferred_by_limit: usize,
    /// What the pass did about money: payments sent for rows' paid dates, money shown.
    pub money: MoneyCounts,
    pub dry_run: Vec<DryRunDoc>,
    pub dry_run_writes: Vec<(u32, String)>,
}

/// What a pass did about money (issue 18): payments qbsync sent for the paid dates rows show
/// (`QB_AUTO_MARK_INVOICE_PAID`, `QB_AUTO_MARK_BILL_PAID`), and documents whose money the
/// write-back showed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MoneyCounts {
    /// Payments QuickBooks now holds for qbsync: by its answer, or found by their marker after
    /// an answer was lost.
    pub payments_recorded: usize,
    /// Payments QuickBooks refused for the document: a person records them by hand.
    pub payments_refused: usize,
    /// Payments QuickBooks refused because of the payment account setting: sent again once
    /// qbsync is restarted (with the setting corrected).
    pub payments_held: usize,
    /// Documents whose balance, paid status and paid date the write-back brought up to date.
    pub shown: usize,
}

/// What a pass reports as it goes, for a progress bar (`run-once` over a backlog).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// This many documents are about to be created.
    Planned(usize),
    /// One document was created (or adopted).
    Created,
    /// One document was refused by QuickBooks or could not be built.
    Failed,
    /// Creating is over for this pass.
    Finished,
}

/// A progress observer; it must be cheap, it is called from the pass.
pub type ProgressObserver = std::sync::Arc<dyn Fn(Progress) + Send + Sync>;
