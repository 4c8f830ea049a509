//! One pass, from first read to last write: the orchestration of the stages.
//!
//! ```text
//! snapshot ──► plan ──► anchors ──► send ──► autopay ──► write-back
//!  (reads)    (pure)   (claims)   (QuickBooks) (payments)   (cells)
//!                 \____________ ledger: every state change ____________/
//! ```
//!
//! Data flows one way. The [`super::snapshot`] hands on a consistent picture of the sheet and
//! a view of what the store remembers; the [`super::plan`] decides, without I/O; claims are
//! anchored and verified before anything is written to a row; [`super::send`] records intents
//! and talks to QuickBooks; [`super::autopay`] pays what rows say is paid (opt-in);
//! [`super::write_back`] projects the store onto the cells qbsync
//! owns. Every change of state goes through the [`Ledger`]. A crash between any two steps
//! leaves the store saying what to do next.
//!
//! The engine holds what lives across passes (the clients, the store, the tuning); a
//! [`Pass`](super::pass) holds what one pass learns (its pictures of the sheet and the store)
//! and is dropped with it, so an idle daemon stays small and no pass inherits another's state.

use std::time::Duration;

use rand::Rng;

use crate::domain::layout::Field;
use crate::qbo::QboClient;
use crate::sheets::SheetsClient;
use crate::store::{RowStatus, Store};

use super::company::Company;
use super::error::PassError;
use super::following::Following;
use super::pass::Pass;
use super::picture::{DriveVersions, IdleMemory, Picture};
use super::plan::{self, Plan};
use super::policy::Policy;
use super::report::{PassOptions, PassReport, Progress, ProgressObserver};
use super::stop::Stop;
use super::view::StoreView;

/// How often a pass that is still creating brings the sheet up to date, so a backlog of
/// thousands of rows shows its ids as it goes rather than at the end. A round costs three
/// Sheets reads and one write: every 5 s that is 36 of the 60 reads a minute at most.
pub const WRITE_BACK_EVERY: Duration = Duration::from_secs(5);

/// The sync engine: the clients, the store and how a pass is paced.
pub struct Engine {
    pub sheets: SheetsClient,
    pub qbo: QboClient,
    pub store: Store,
    /// Batches creates (issue 6); off sends one create per document.
    pub batching: bool,
    /// How often a pass that is still creating writes back what it has created so far.
    pub write_back_every: Duration,
    /// Told about progress while documents are created (`run-once` hangs a progress bar here).
    pub progress: Option<ProgressObserver>,
    /// What the connected company's rules are (its tax setup), learnt once per process.
    pub company: Company,
    /// Whether Drive lately refused to say the file's version (the write-back's shortcut).
    pub drive_versions: DriveVersions,
    /// What the last idle poll saw of each row (the idle check's shortcut, see [`IdleMemory`]).
    idle_memory: IdleMemory,
    /// Follows payments in QuickBooks for the documents qbsync created; `None` leaves money alone.
    pub following: Option<Following>,
    /// Payments QuickBooks refused because of the account setting are decided again once per
    /// process, at the first pass that pays: a restart is what puts a corrected setting in force.
    retry_held_payouts: bool,
    /// The client's metered calls already added to the store's daily count.
    metered_counted: u64,
    /// Asked for by the daemon when it is told to stop while a pass runs: the pass still
    /// finishes, but gives back misplaced cells only for [`Engine::restore_grace`] more.
    pub stop: Stop,
    /// How long a pass's landing check goes on once a stop was asked for.
    pub restore_grace: Duration,
}

impl Engine {
    pub fn new(sheets: SheetsClient, qbo: QboClient, store: Store) -> Engine {
        Engine {
            sheets,
            qbo,
            store,
            batching: true,
            write_back_every: WRITE_BACK_EVERY,
            progress: None,
            company: Company::default(),
            drive_versions: DriveVersions::default(),
            idle_memory: IdleMemory::default(),
            following: None,
            retry_held_payouts: true,
            metered_counted: 0,
            stop: Stop::default(),
            restore_grace: super::write_back::RESTORE_GRACE_AFTER_STOP,
        }
    }

    /// Runs one pass and records it (not a dry run's) in the store.
    pub async fn pass(&mut self, policy: &Policy, options: PassOptions) -> Result<PassReport, PassError> {
        let started_at = crate::store::now();
        let pass = Pass {
            id: pass_id(chrono::Utc::now()),
            sheets: &self.sheets,
            qbo: &self.qbo,
            store: &self.store,
            batching: self.batching,
            write_back_every: self.write_back_every,
            observer: self.progress.as_ref(),
            policy,
            company: &self.company,
            view: StoreView::default(),
            kept: None,
            drive_versions: &self.drive_versions,
            idle_memory: &self.idle_memory,
            following: self.following.as_mut(),
            retry_held_payouts: &mut self.retry_held_payouts,
            stop: &self.stop,
            restore_grace: self.restore_grace,
        };
        let outcome = pass.run(options).await;
        if !options.dry_run {
            let record = crate::store::PassRecord {
                started_at,
                finished_at: crate::store::now(),
                ok: outcome.is_ok(),
                created: outcome.as_ref().map_or(0, |r| r.created.len() as u64),
                failed: outcome.as_ref().map_or(0, |r| r.failed as u64),
                skipped: outcome.as_ref().map_or(0, |r| r.skipped as u64),
                error: outcome.as_ref().err().map(|e| e.to_string()),
            };
            if let Err(error) = self.store.record_pass(&record) {
                tracing::warn!(%error, "the pass could not be recorded");
            }
            // Counted in the store, so `qbsync status` (another process) can hold them against
            // the monthly allowance.
            let metered = self.qbo.stats().metered;
            match self
                .store
                .add_metered_calls(chrono::Utc::now().date_naive(), metered.saturating_sub(self.metered_counted))
            {
                Ok(()) => self.metered_counted = metered,
                Err(error) => tracing::warn!(%error, "the metered calls could not be counted"),
            }
        }
        outcome
    }
}

/// A pass's id: when it started, to the millisecond (passes run one at a time), short enough to
/// type after `qbsync void --pass`.
fn pass_id(started: chrono::DateTime<chrono::Utc>) -> String {
    started.format("%Y%m%d-%H%M%S%.3f").to_string()
}

impl Pass<'_> {
    pub(super) async fn run(mut self, options: PassOptions) -> Result<PassReport, PassError> {
        let mut report = PassReport::default();
        if !options.dry_run {
            self.follow_money().await?;
            self.reopen_held_payouts()?;
        }
        if !self.first_look().await? {
            report.idle = true;
            return Ok(report);
        }
        let mut picture = self.picture().await?;
        if !options.dry_run && self.give_back_owed(&picture).await? {
            picture = self.picture().await?;
        }
        let mut plan = self.plan(&picture);

        if options.dry_run {
            return self.dry_run(plan, &picture, report).await;
        }

        if !plan.claims.is_empty()
            || !plan.moves.is_empty()
            || !plan.drop_anchors.is_empty()
            || !plan.forget_rows.is_empty()
        {
            self.settle_anchors(&plan).await?;
            // Claims change anchors, not cells: usually the sheet reads as before and the rows
            // already decoded are taken from this picture rather than decoded again.
            self.kept = Some(picture);
            picture = self.picture().await?;
            plan = self.plan(&picture);
            // Claims still wanted now (rows added meanwhile, a claim that landed elsewhere) wait
            // for the next pass, to be verified; drops and moves are safe to do now (rows are
            // located by their values, and an anchor is only a hint).
            if !plan.drop_anchors.is_empty() || !plan.forget_rows.is_empty() || !plan.moves.is_empty() {
                let drops = Plan {
                    drop_anchors: plan.drop_anchors.clone(),
                    forget_rows: plan.forget_rows.clone(),
                    // A key whose anchor is dropped because its row moved again keeps one.
                    moves: plan.moves.clone(),
                    ..Plan::default()
                };
                self.settle_anchors(&drops).await?;
            }
        }

        report.quiet = picture.sealing.quiet_rows();
        report.skipped = plan.stats.skipped;
        report.copies = plan.stats.copies;
        report.in_review = plan.stats.in_review;
        report.deferred_by_limit = plan.stats.deferred_by_limit;
        for decision in &plan.decisions {
            // The audit names the invoice number the row showed, so a failure can be found by
            // the number the bookkeeper knows it by.
            let number = decision
                .sheet_row
                .and_then(|row| picture.rows.get(usize::try_from(row - 1).ok()?))
                .map(|row| picture.layout.cell(row, Field::Invoice).trimmed().into_owned())
                .filter(|number| !number.is_empty());
            self.ledger().decide(decision, number.as_deref())?;
            if decision.status == RowStatus::Failed {
                report.failed += 1;
            }
        }

        // The write-back reads the sheet again; usually nobody has edited it meanwhile, and the
        // rows indexed and decoded here stand for that read too.
        self.kept = Some(picture);

        for doc_key in &plan.reconcile {
            self.reconcile(doc_key, &mut report).await?;
        }

        let ready = self.resolve_parties(&plan.creates, &mut report).await?;
        self.progress(Progress::Planned(ready.len()));
        let created = match ready.is_empty() {
            true => Ok(()),
            false => {
                let tax = self.company.tax_plan(self.qbo, self.policy).await?;
                self.create_all(ready, &tax, &mut report).await
            }
        };
        self.progress(Progress::Finished);
        created?;

        // Payments after creates, so a row created with its paid date is paid in the same pass;
        // before the write-back, so the row shows it. A failure here still lets the write-back
        // show what was created, and is reported after it.
        let paid = self.autopay(&mut report).await;
        // Everything unshown now, the payments' money included, is what this write-back shows.
        let money_shown = self.money_to_show()?;
        self.write_back(&mut report).await?;
        self.ledger().money_shown(&money_shown)?;
        report.money.shown = money_shown.len();
        paid?;
        Ok(report)
    }

    fn plan(&self, picture: &Picture) -> Plan {
        let quiet = |row| picture.is_quiet(row);
        plan::plan(&picture.rows, &picture.layout, &picture.anchors, &quiet, &self.view, self.policy, &mut new_key)
    }

    /// Claims, moves and drops anchors. Claim records go to the store first and are forgotten
    /// last, so an anchor never exists without the record that verifies it: the other way round,
    /// a crash in between would leave an anchor on a wrong row with no record to unmask it.
    async fn settle_anchors(&self, plan: &Plan) -> Result<(), PassError> {
        self.ledger().claim(&plan.claims)?;
        self.sheets.update_anchors(&plan.anchors_to_make(), &plan.drop_anchors).await?;
        self.ledger().forget(&plan.forget_rows)?;
        Ok(())
    }
}

/// A new row key: 20 lowercase hex characters (80 random bits), short enough that
/// `key-hash8` fits QuickBooks' 36-character requestid.
pub fn new_key() -> String {
    let bytes: [u8; 10] = rand::thread_rng().r#gen();
    hex::encode(bytes)
}
