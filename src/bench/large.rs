//! Section 4: what a pass costs on a sheet with a long history — an idle poll, and a
//! pass that creates one document.
//!
//! The sheet is settled history as qbsync leaves it: every row synced, anchored, and
//! remembered in the store. The passes run in child processes (`qbsync bench --large-child`)
//! so that their CPU time and peak memory are qbsync's alone: in this process the sandbox
//! holds the whole sheet and builds the answer to every read, which would drown the figures.
//! Each child makes one warm-up read (the Google token, as a running daemon already has it),
//! measures its passes, and reports on stdout as one JSON line:
//!
//! - the first ([`Phase::Seal`]) measures its first idle pass (every row looked at), then a few
//!   more (a running daemon's: only rows changed since the last idle poll are looked at, here
//!   none), then types one new ready row below the history and measures the pass that syncs
//!   it. That pass plans the whole history and seals it (see `crate::sync::seal`), as the
//!   first busy pass after an upgrade does;
//! - the second ([`Phase::Sealed`]), a fresh process, a few times types one new row and
//!   measures the pass that syncs it, on the sealed history: what a busy pass costs from then
//!   on. It is a process of its own because an allocator keeps what a process once used, so a
//!   peak measured after the sealing pass would be the sealing pass's. The busy figure is the
//!   median of its passes: on a shared machine one pass in a few is slowed by its neighbours.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::probe::{Usage, forget_peak};
use super::sheet;
use super::world::BenchWorld;
use crate::commands::context::{self, RunFlags};
use crate::domain::Cell;
use crate::qbo::DocKind;
use crate::settings::{LoadOptions, Settings};
use crate::sheets::{CellRun, NewAnchor};
use crate::store::{Kind, NewIntent, RowRecord, RowStatus, Store};
use crate::sync::{Engine, PassOptions, Policy};

/// Columns beyond the 19 qbsync knows, so the sheet is 30 columns wide.
const EXTRA_COLUMNS: usize = 11;
/// Idle passes measured (their figures are averaged).
const IDLE_PASSES: u32 = 3;
/// Anchors created per request while setting the history up.
const ANCHORS_PER_REQUEST: usize = 5_000;
/// How long the child processes wait for one Sheets answer (see [`run`]).
const LARGE_SHEET_TIMEOUT_MS: &str = "600000";
/// The benchmark's row keys for the settled history: row `i` is `KEY_BASE + i`, in hex.
const KEY_BASE: u64 = 0xbe_0000_0000;

/// What one kind of pass cost, per pass.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PassCost {
    pub passes: u32,
    pub cpu: Duration,
    /// The most resident memory while these passes ran, in KiB.
    pub peak_rss_kib: u64,
    pub sheets_reads: f64,
    pub sheets_writes: f64,
    pub drive_reads: f64,
    pub qbo_calls: f64,
}

/// Which passes a child process measures (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// Idle passes, then the first busy pass, which seals the history.
    Seal,
    /// Busy passes over the sealed history, in a fresh process.
    Sealed,
}

/// What one child measured.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChildFigures {
    /// Resident memory after the warm-up read, before the first measured pass, in KiB.
    pub rss_before_kib: u64,
    /// Every idle pass said it was idle (true when there were none).
    pub idle: bool,
    /// Documents the busy passes created (one each).
    pub created: usize,
    /// The process's first idle pass, which looks at every row, when the child measured idle
    /// passes.
    #[serde(default)]
    pub first_idle_pass: Option<PassCost>,
    /// The idle passes after it (their mean): a running daemon's, which look again only at the
    /// rows that changed since the last idle poll (none here).
    pub idle_pass: Option<PassCost>,
    /// Each busy pass, in order.
    pub busy_passes: Vec<PassCost>,
}

#[derive(Clone, Debug, Serialize)]
pub struct LargeSheetFigures {
    pub rows: usize,
    pub columns: usize,
    /// Documents in the store the passes ran against.
    pub stored_documents: usize,
    /// Every idle pass said it was idle.
    pub idle: bool,
    /// Documents the busy passes created (one each).
    pub created: usize,
    /// Resident memory of a child process before its first pass, in KiB (the fresh one's).
    pub rss_before_kib: u64,
    /// A fresh process's first idle poll: every row looked at.
    pub first_idle_pass: PassCost,
    /// The idle polls of a running daemon after it, the sheet unchanged (their mean).
    pub idle_pass: PassCost,
    /// The first busy pass over the history, which seals it (see `crate::sync::seal`): what
    /// the first pass with work costs after an upgrade, or after the header or configuration
    /// changed.
    pub sealing_pass: PassCost,
    /// Busy passes measured over the sealed history, one new row each.
    pub busy_passes: usize,
    /// A busy pass over the sealed history, in a fresh process: the median of `busy_passes`
    /// by CPU, with the highest peak of them all.
    pub busy_pass: PassCost,
}

impl LargeSheetFigures {
    /// Memory a busy pass over the sealed history adds to the process, per row of history, in
    /// bytes.
    pub fn busy_bytes_per_row(&self) -> f64 {
        self.busy_pass.peak_rss_kib.saturating_sub(self.rss_before_kib) as f64 * 1024.0 / self.rows.max(1) as f64
    }
}

/// Runs the large-sheet scenario: `rows` synced and anchored rows, a store that remembers them,
/// two child processes.
/// `busy_passes` are measured on the sealed history.
pub async fn run(
    rows: usize,
    busy_passes: usize,
    latency: Duration,
    child_exe: &Path,
) -> anyhow::Result<LargeSheetFigures> {
    // The store is filled one commit per record: on a tmpfs that takes seconds, on a disk that
    // syncs every commit it would take many minutes.
    let shm = Path::new("/dev/shm");
    let scratch = shm.is_dir().then_some(shm);
    let mut world = BenchWorld::start(sheet::history(rows, EXTRA_COLUMNS, busy_passes + 1), latency, scratch).await?;
    // The emulator builds a grid answer of 150,000 rows (hundreds of megabytes) more slowly than
    // Google sends one; the shipped 30 s bound on a call would measure the emulator, not qbsync.
    world.env.push(("QBSYNC_SHEETS_TIMEOUT_MS".to_owned(), LARGE_SHEET_TIMEOUT_MS.to_owned()));
    let stored_documents = remember_history(&world.state_dir, rows)?;
    let sheets = context::sheets(&world.settings).await?;
    let anchors: Vec<NewAnchor> = (0..rows).map(|i| NewAnchor { row: i as u32 + 1, key: key(i) }).collect();
    // In requests of a size Google (and the sandbox) accept.
    for chunk in anchors.chunks(ANCHORS_PER_REQUEST) {
        sheets.update_anchors(chunk, &[]).await.context("anchoring the history")?;
    }

    let first = run_child(child_exe, &world, rows, Phase::Seal, 1).await?;
    let sealed = run_child(child_exe, &world, rows, Phase::Sealed, busy_passes).await?;
    let created = first.created + sealed.created;
    if created != busy_passes + 1 {
        bail!("the passes over the large sheet created {created} documents instead of {}", busy_passes + 1);
    }
    let (Some(first_idle_pass), Some(idle_pass), Some(sealing_pass)) =
        (first.first_idle_pass, first.idle_pass, first.busy_passes.into_iter().next())
    else {
        bail!("the first large-sheet child measured no idle or no sealing pass");
    };
    let mut busy = sealed.busy_passes;
    let peak_rss_kib = busy.iter().map(|pass| pass.peak_rss_kib).max().unwrap_or_default();
    busy.sort_by_key(|pass| pass.cpu);
    let Some(median) = busy.get(busy.len() / 2) else { bail!("the second large-sheet child measured no pass") };
    Ok(LargeSheetFigures {
        rows,
        columns: sheet::header().len() + EXTRA_COLUMNS,
        stored_documents,
        idle: first.idle,
        created,
        rss_before_kib: sealed.rss_before_kib,
        first_idle_pass,
        idle_pass,
        sealing_pass,
        busy_passes,
        busy_pass: PassCost { peak_rss_kib, ..median.clone() },
    })
}

/// Runs one child process over the sheet of `world` and reads its figures; `passes`: how many
/// busy passes it measures.
async fn run_child(
    child_exe: &Path,
    world: &BenchWorld,
    rows: usize,
    phase: Phase,
    passes: usize,
) -> anyhow::Result<ChildFigures> {
    let phase_arg = clap::ValueEnum::to_possible_value(&phase).map(|v| v.get_name().to_owned()).unwrap_or_default();
    let output = tokio::process::Command::new(child_exe)
        .args(["bench", "--large-child", &phase_arg, "--idle-rows", &rows.to_string()])
        .args(["--busy-passes", &passes.to_string()])
        .env_clear()
        .envs(world.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {}", child_exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "the large-sheet passes ({phase_arg}) failed ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).with_context(|| format!("the large-sheet passes reported {line:?}"))
}

fn key(i: usize) -> String {
    format!("{:020x}", KEY_BASE + i as u64)
}

/// Fills the store as if qbsync had synced every row of the history: a created document and a
/// synced row record each, agreeing cell for cell with what the sheet shows.
fn remember_history(state_dir: &Path, rows: usize) -> anyhow::Result<usize> {
    std::fs::create_dir_all(state_dir)?;
    let store = Store::open_in(state_dir)?;
    for i in 0..rows {
        let key = key(i);
        let row = sheet::ready_row(1_000_000 + i);
        let number = row[0].clone();
        let party = (i % 6 + 1).to_string();
        let payload = serde_json::json!({
            "DocNumber": number,
            "TxnDate": row[8],
            "CustomerRef": {"value": party},
            "PrivateNote": format!("thread: {} [qbsync {key}]", row[13]),
            "Line": [{
                "DetailType": "SalesItemLineDetail",
                "Amount": row[7],
                "Description": format!("{} — {}", row[6], row[5]),
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": row[7]}
            }]
        })
        .to_string();
        let keys = [key.clone()];
        let total: rust_decimal::Decimal = row[7].parse().context("a generated amount")?;
        store.record_intent(&NewIntent {
            doc_key: &key,
            kind: Kind::Invoice,
            doc_kind: DocKind::Invoice,
            doc_number: Some(&number),
            request_id: &format!("{key}-00000000"),
            payload_hash: &format!("{:064x}", i),
            payload: &payload,
            party_id: &party,
            total,
            row_keys: &keys,
        })?;
        let id = (10_000 + i).to_string();
        store.mark_created(&key, &id, &format!("https://app.sandbox.qbo.intuit.com/app/invoice?txnId={id}"), total)?;
        store.put_row(&RowRecord {
            row_key: key.clone(),
            kind: Kind::Invoice,
            doc_key: Some(key),
            doc_number: Some(number),
            status: RowStatus::Synced,
            error: None,
            // As long as real fingerprints (a synced row is past the point where the planner
            // compares them, but the store picture still carries them).
            content_fp: format!("{:016x}", KEY_BASE + i as u64),
            config_fp: format!("{:016x}", KEY_BASE),
            sheet_row: Some(i as i64 + 2),
            synced_at: Some(sheet::synced_at(i)),
            preview: None,
        })?;
    }
    Ok(store.all_documents()?.len())
}

/// The child's side: settings from the environment the parent gave it, a warm-up read, then
/// the passes of `phase` (see the module doc): `passes` busy ones. `rows` is the history's length.
pub async fn child(rows: usize, phase: Phase, passes: usize) -> anyhow::Result<ChildFigures> {
    let environment = std::env::vars().collect();
    let settings = Settings::load(&LoadOptions { config_file: None, env_file: None, environment })?;
    let policy = context::policy(&settings, RunFlags::default())?;
    let tokens = context::tokens(&settings)?;
    let mut engine = context::engine(&settings, tokens).await?;
    engine.sheets.tab_info().await?;
    // As the daemon does at start: the company's tax rules are learnt before the first pass, so
    // the figures are those of a pass, not of a process's first one.
    engine.company.check(&engine.qbo, &policy).await?;

    let rss_before_kib = Usage::now().context("/proc/self is not readable")?.rss_kib;
    let mut idle = true;
    let (first_idle_pass, idle_pass, new_rows) = match phase {
        Phase::Seal => {
            let first = measure(&mut engine, &policy, 1, |report| idle &= report.idle).await?;
            let then = measure(&mut engine, &policy, IDLE_PASSES, |report| idle &= report.idle).await?;
            (Some(first), Some(then), 0..passes)
        }
        // After the rows the first child typed.
        Phase::Sealed => (None, None, 1..passes + 1),
    };
    let mut created = 0;
    let mut busy_passes = Vec::with_capacity(new_rows.len());
    for n in new_rows {
        let new_row: Vec<Cell> = sheet::ready_row(2_000_000 + n).into_iter().map(Cell::text).collect();
        let row = u32::try_from(rows + 1 + n)?;
        engine.sheets.write_cells(&[CellRun { row, col: 0, values: new_row }]).await?;
        forget_peak();
        busy_passes.push(measure(&mut engine, &policy, 1, |report| created += report.created.len()).await?);
    }
    Ok(ChildFigures { rss_before_kib, idle, created, first_idle_pass, idle_pass, busy_passes })
}

/// Runs `passes` passes and measures them.
async fn measure(
    engine: &mut Engine,
    policy: &Policy,
    passes: u32,
    mut each: impl FnMut(&crate::sync::PassReport),
) -> anyhow::Result<PassCost> {
    let sheets_before = engine.sheets.stats();
    let qbo_before = engine.qbo.stats();
    let before = Usage::now().context("/proc/self is not readable")?;
    for _ in 0..passes {
        each(&engine.pass(policy, PassOptions::default()).await?);
    }
    let after = Usage::now().context("/proc/self is not readable")?;
    let sheets = engine.sheets.stats();
    let qbo = engine.qbo.stats();
    let per_pass = |after: u64, before: u64| after.saturating_sub(before) as f64 / f64::from(passes);
    Ok(PassCost {
        passes,
        cpu: after.cpu.saturating_sub(before.cpu) / passes,
        peak_rss_kib: after.peak_rss_kib,
        sheets_reads: per_pass(sheets.reads, sheets_before.reads),
        sheets_writes: per_pass(sheets.writes, sheets_before.writes),
        drive_reads: per_pass(sheets.drive_reads, sheets_before.drive_reads),
        qbo_calls: per_pass(qbo.calls, qbo_before.calls),
    })
}
