//! `qbsync run-once`: one pass, for cron, for trying things, and for `--dry-run`.

use std::process::ExitCode;

use anyhow::Context;

use super::context::{self, RunFlags};
use super::lock::InstanceLock;
use crate::domain::layout::Layout;
use crate::settings::LoadOptions;
use crate::store::Store;
use crate::sync::following::Following;
use crate::sync::{Engine, PassOptions};
use crate::sync::{MoneyCounts, PassReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the exact payloads and write-backs; change nothing in the sheet, QuickBooks or the audit.
    #[arg(long)]
    pub dry_run: bool,
    /// Create at most N documents.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Retry failed rows even if nothing changed since they failed.
    #[arg(long)]
    pub include_failed: bool,
    /// Also take historical rows without a QuickBooks id, whatever their status.
    #[arg(long)]
    pub backfill: bool,
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    let settings = context::load_settings(load)?;
    let _logs = context::init_logging(&settings, !args.dry_run)?;
    let flags = RunFlags { include_failed: args.include_failed, backfill: args.backfill, limit: args.limit };
    let policy = context::policy(&settings, flags)?;
    let tokens = context::tokens(&settings)?;
    let (_lock, store) = if args.dry_run {
        // A dry run must not even create the database: use the existing one, or none.
        let path = settings.paths.state_dir.join("qbsync.sqlite3");
        let store = if path.exists() { Store::open(&path)? } else { Store::in_memory()? };
        (None, store)
    } else {
        (Some(InstanceLock::acquire(&settings.paths.state_dir)?), context::open_store(&settings)?)
    };
    context::claim_home(&settings, &store)?;
    let sheets = context::sheets(&settings).await?;
    let layout = context::check_layout(&settings, &sheets).await?;
    let qbo = context::qbo(&settings, tokens)?;
    let mut engine = Engine::new(sheets, qbo, store);
    if !args.dry_run {
        engine.progress = Some(progress_bar());
        // Run from cron, each run is its process's only pass: it follows the money every time,
        // as a daemon does every interval, on a sheet that shows money columns.
        let mut following = Following::every(settings.payments.interval);
        following.saw_money_columns(layout.as_ref().is_some_and(Layout::shows_money));
        engine.following = Some(following);
    }
    let report = engine.pass(&policy, PassOptions { dry_run: args.dry_run }).await.context("the pass stopped")?;
    print_report(&report, args.dry_run);
    Ok(ExitCode::SUCCESS)
}

/// A progress bar with counts and ETA on a terminal, plain log lines otherwise (`ops::progress`).
fn progress_bar() -> crate::sync::ProgressObserver {
    use crate::ops::progress::{Progress as Bar, RowOutcome};
    use crate::sync::Progress;
    let bar: std::sync::Mutex<Option<Bar>> = std::sync::Mutex::new(None);
    std::sync::Arc::new(move |event| {
        let mut bar = bar.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match event {
            // Small runs need no bar; the summary says it all.
            Progress::Planned(n) if n >= 20 => *bar = Some(Bar::for_stderr(n as u64)),
            Progress::Planned(_) => {}
            Progress::Created => bar.iter().for_each(|b| b.record(RowOutcome::Created)),
            Progress::Failed => bar.iter().for_each(|b| b.record(RowOutcome::Failed)),
            Progress::Finished => bar.take().iter().for_each(Bar::finish),
        }
    })
}

/// The human summary of a pass.
pub fn print_report(report: &PassReport, dry_run: bool) {
    if report.idle {
        println!("Nothing to do: no row is ready.");
        return;
    }
    if dry_run {
        println!("DRY RUN — nothing was sent to QuickBooks and nothing was written to the sheet.\n");
        for doc in &report.dry_run {
            let rows: Vec<String> = doc.sheet_rows.iter().map(|r| r.to_string()).collect();
            println!("Would create {} {} (sheet row {}):", doc.kind.as_str(), doc.doc_number, rows.join(", "));
            match (&doc.payload, &doc.problem) {
                (Some(payload), _) => println!("{}\n", serde_json::to_string_pretty(payload).unwrap_or_default()),
                (None, Some(problem)) => println!("  would fail: {problem}\n"),
                (None, None) => println!(),
            }
        }
        for (row, text) in &report.dry_run_writes {
            println!("Would write to sheet row {row}: {text}");
        }
        if report.in_review > 0 {
            println!("{} rows would wait for approval (QBSYNC_REQUIRE_APPROVAL).", report.in_review);
        }
        return;
    }
    for doc in &report.created {
        let rows: Vec<String> = doc.sheet_rows.iter().map(|r| r.to_string()).collect();
        println!(
            "{} {} {} → QuickBooks id {} ({}) [sheet row {}]",
            if doc.adopted { "Adopted" } else { "Created" },
            doc.kind.as_str(),
            doc.doc_number,
            doc.qbo_id,
            doc.url,
            rows.join(", ")
        );
    }
    println!("{}", summary(report));
}

/// The line that sums a pass up: what was created and decided, then what it did about money,
/// then what is left waiting.
pub fn summary(report: &PassReport) -> String {
    let mut parts = vec![
        format!("{} created", report.created.len()),
        format!("{} failed", report.failed),
        format!("{} skipped", report.skipped),
        format!("{} copies flagged", report.copies),
        format!("{} still uncertain", report.uncertain),
        format!("{} cells written", report.cells_written),
    ];
    parts.extend(money_summary(&report.money));
    if report.in_review > 0 {
        parts.push(format!("{} waiting for approval", report.in_review));
    }
    if report.deferred_by_limit > 0 {
        parts.push(format!("{} left for the next run (--limit)", report.deferred_by_limit));
    }
    parts.join(", ")
}

/// What a pass did about money, only what happened.
fn money_summary(money: &MoneyCounts) -> Vec<String> {
    let payments = |n: usize| if n == 1 { "1 payment".to_owned() } else { format!("{n} payments") };
    let mut parts = Vec::new();
    if money.payments_recorded > 0 {
        parts.push(format!("{} recorded in QuickBooks", payments(money.payments_recorded)));
    }
    if money.payments_refused > 0 {
        parts.push(format!(
            "{} refused by QuickBooks (record by hand; see qbsync audit)",
            payments(money.payments_refused)
        ));
    }
    if money.payments_held > 0 {
        parts.push(format!(
            "{} held: QuickBooks refused the payment account (correct the setting and restart; see qbsync audit)",
            payments(money.payments_held)
        ));
    }
    if money.shown > 0 {
        let documents = if money.shown == 1 { "1 document".to_owned() } else { format!("{} documents", money.shown) };
        parts.push(format!("money shown for {documents}"));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_what_was_created_and_decided() {
        let report = PassReport { failed: 1, skipped: 2, cells_written: 14, ..PassReport::default() };
        assert_eq!(
            summary(&report),
            "0 created, 1 failed, 2 skipped, 0 copies flagged, 0 still uncertain, 14 cells written"
        );
    }

    #[test]
    fn payments_and_money_shown_are_counted_only_when_something_happened() {
        let money = MoneyCounts { payments_recorded: 1, payments_refused: 0, payments_held: 0, shown: 3 };
        let report = PassReport { cells_written: 9, money, deferred_by_limit: 4, ..PassReport::default() };
        assert_eq!(
            summary(&report),
            "0 created, 0 failed, 0 skipped, 0 copies flagged, 0 still uncertain, 9 cells written, \
             1 payment recorded in QuickBooks, money shown for 3 documents, 4 left for the next run (--limit)"
        );
        let money = MoneyCounts { payments_recorded: 2, payments_refused: 1, payments_held: 2, shown: 1 };
        assert_eq!(
            money_summary(&money),
            [
                "2 payments recorded in QuickBooks",
                "1 payment refused by QuickBooks (record by hand; see qbsync audit)",
                "2 payments held: QuickBooks refused the payment account (correct the setting and restart; see qbsync audit)",
                "money shown for 1 document",
            ]
        );
    }
}
