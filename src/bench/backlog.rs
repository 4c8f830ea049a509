//! Figure 1 and 2: a backlog of ready rows, from the first read to the last id on the sheet.
//!
//! The clock runs from the start of the first pass until every row shows its QuickBooks id on
//! the sheet (watched in the emulator, which costs no quota), so the figure includes anchoring
//! the rows, name look-ups and the write-backs — what a bookkeeper waits for, not just the
//! creates.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use super::sheet;
use super::world::BenchWorld;
use crate::commands::context::RunFlags;
use crate::domain::Cell;
use crate::sandbox::google::GoogleEmulator;
use crate::sync::PassOptions;

/// Passes before the benchmark gives up on a backlog (one normally does it all).
const MAX_PASSES: usize = 10;
/// How often the watcher looks at the sheet.
const WATCH_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone, Debug, Serialize)]
pub struct BacklogFigures {
    pub rows: usize,
    /// Documents created by the passes.
    pub created: usize,
    /// Rows whose status on the sheet is `failed` at the end.
    pub failed: usize,
    /// Rows showing an id on the sheet at the end.
    pub visible: usize,
    /// Invoices the emulated company holds at the end (one per row means no duplicate).
    pub invoices_in_quickbooks: usize,
    pub passes: usize,
    /// From the first pass's start until every row showed its id.
    pub elapsed: Duration,
    /// From the first pass's start until the first row showed its id.
    pub first_visible: Option<Duration>,
    pub documents_per_minute: f64,
    /// The least time QuickBooks' batch pacing allows for the batches sent: what is left of
    /// `elapsed` is qbsync's own time (anchoring, look-ups, write-backs, the last answer).
    pub pacing_floor: Duration,
    pub qbo_calls: u64,
    pub qbo_batches: u64,
    pub qbo_throttled: u64,
    pub sheets_reads: u64,
    pub sheets_writes: u64,
    pub sheets_throttled: u64,
}

impl BacklogFigures {
    pub fn qbo_calls_per_document(&self) -> f64 {
        per(self.qbo_calls, self.created)
    }

    pub fn sheets_calls_per_document(&self) -> f64 {
        per(self.sheets_reads + self.sheets_writes, self.created)
    }
}

fn per(calls: u64, documents: usize) -> f64 {
    if documents == 0 { 0.0 } else { calls as f64 / documents as f64 }
}

/// Runs the backlog scenario.
pub async fn run(rows: usize, latency: Duration) -> anyhow::Result<BacklogFigures> {
    let world = BenchWorld::start(sheet::backlog(rows), latency, None).await?;
    let mut engine = world.engine().await?;
    let policy = crate::commands::context::policy(&world.settings, RunFlags::default())?;
    engine.company.check(&engine.qbo, &policy).await?;
    let id_column = world.sandbox.google.header_index(world.tab(), "qb_invoice_id")?;

    let started = Instant::now();
    let (done_tx, done_rx) = watch::channel(false);
    let watcher =
        tokio::spawn(watch_ids(world.sandbox.google.clone(), world.tab().to_owned(), id_column, rows, done_rx));

    let mut created = 0;
    let mut passes = 0;
    while passes < MAX_PASSES {
        let report = engine.pass(&policy, PassOptions::default()).await.context("a benchmark pass stopped")?;
        passes += 1;
        created += report.created.len();
        let quiet = report.idle
            || (report.created.is_empty() && report.uncertain == 0 && report.cells_written == 0 && report.failed == 0);
        if quiet {
            break;
        }
    }
    let _ = done_tx.send(true);
    let (first_visible, all_visible) = watcher.await.context("the sheet watcher stopped")?;
    let elapsed = all_visible.map_or_else(|| started.elapsed(), |at| at - started);

    let sheet = world.sandbox.google.rows(world.tab())?;
    let status_column = world.sandbox.google.header_index(world.tab(), "qb_sync_status")?;
    let cell = |row: &Vec<Cell>, col: usize| row.get(col).map(|c| c.trimmed().into_owned()).unwrap_or_default();
    let failed = sheet.iter().skip(1).filter(|r| cell(r, status_column) == "failed").count();
    let visible = sheet.iter().skip(1).filter(|r| !cell(r, id_column).is_empty()).count();
    if visible == 0 && rows > 0 {
        bail!("no row of the backlog was synced: see the log");
    }
    let qbo = engine.qbo.stats();
    let sheets = engine.sheets.stats();
    Ok(BacklogFigures {
        rows,
        created,
        failed,
        visible,
        invoices_in_quickbooks: world.sandbox.qbo.invoices().len(),
        passes,
        elapsed,
        first_visible: first_visible.map(|at| at - started),
        documents_per_minute: if elapsed.is_zero() { 0.0 } else { visible as f64 * 60.0 / elapsed.as_secs_f64() },
        pacing_floor: crate::qbo::pacing::shortest_span(
            u32::try_from(qbo.batch_calls).unwrap_or(u32::MAX),
            world.settings.tuning.qbo_batches_per_minute,
        ),
        qbo_calls: qbo.calls,
        qbo_batches: qbo.batch_calls,
        qbo_throttled: qbo.throttled,
        sheets_reads: sheets.reads,
        sheets_writes: sheets.writes,
        sheets_throttled: sheets.throttled,
    })
}

/// Watches the sheet until `rows` ids are showing or `done` says the passes are over; returns
/// when the first and the last id appeared.
async fn watch_ids(
    google: Arc<GoogleEmulator>,
    tab: String,
    id_column: usize,
    rows: usize,
    mut done: watch::Receiver<bool>,
) -> (Option<Instant>, Option<Instant>) {
    let mut first = None;
    loop {
        let showing = google
            .rows(&tab)
            .map(|sheet| sheet.iter().skip(1).filter(|r| r.get(id_column).is_some_and(|c| !c.is_blank())).count())
            .unwrap_or(0);
        let now = Instant::now();
        if showing > 0 && first.is_none() {
            first = Some(now);
        }
        if showing >= rows {
            return (first, Some(now));
        }
        if *done.borrow() {
            return (first, None);
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = done.changed() => {}
        }
    }
}
