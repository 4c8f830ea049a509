//! Figure 4: what a poll costs when there is nothing to do, on a sheet with a long history.
//!
//! The pass runs in a child process (`qbsync bench --idle-child`), so its CPU time and peak
//! memory are qbsync's alone: in this process the sandbox holds the whole sheet and builds the
//! answer to every read, which would drown the figure. The child does one warm-up read (the
//! Google token, as a running daemon already has it), then a few idle passes, and reports on
//! stdout as one JSON line.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::probe::Usage;
use super::sheet;
use super::world::BenchWorld;
use crate::commands::context::{self, RunFlags};
use crate::settings::{LoadOptions, Settings};
use crate::store::{Kind, NewIntent, RowRecord, Store};
use crate::sync::PassOptions;

/// Columns beyond the 19 qbsync knows, so the sheet is 30 columns wide.
const EXTRA_COLUMNS: usize = 11;
/// Idle passes measured (their figures are averaged).
const PASSES: u32 = 3;

/// What the child measured, per idle pass.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChildFigures {
    pub passes: u32,
    /// Every pass said it was idle.
    pub idle: bool,
    pub cpu_per_pass: Duration,
    /// Resident memory before the first measured pass, and the peak by the end, in KiB.
    pub rss_before_kib: u64,
    pub peak_rss_kib: u64,
    pub sheets_reads_per_pass: f64,
    pub sheets_writes_per_pass: f64,
    pub drive_reads_per_pass: f64,
    pub qbo_calls_per_pass: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct IdleFigures {
    pub rows: usize,
    pub columns: usize,
    /// Documents in the store the pass ran against.
    pub stored_documents: usize,
    #[serde(flatten)]
    pub child: ChildFigures,
}

/// Runs the idle scenario: `rows` synced rows, a store that remembers them, one child process.
pub async fn run(rows: usize, latency: Duration, child_exe: &Path) -> anyhow::Result<IdleFigures> {
    // The store is filled in bulk one commit per record: on a tmpfs that takes seconds, on a
    // disk that syncs every commit it would take many minutes.
    let shm = Path::new("/dev/shm");
    let scratch = shm.is_dir().then_some(shm);
    let world = BenchWorld::start(sheet::history(rows, EXTRA_COLUMNS), latency, scratch).await?;
    let stored_documents = remember_history(&world.state_dir, rows)?;

    let output = tokio::process::Command::new(child_exe)
        .args(["bench", "--idle-child"])
        .env_clear()
        .envs(world.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("cannot run {}", child_exe.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "the idle pass failed ({}): {}{}",
            output.status,
            stdout.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let line = stdout.lines().last().unwrap_or_default();
    let child: ChildFigures = serde_json::from_str(line).with_context(|| format!("the idle pass reported {line:?}"))?;
    Ok(IdleFigures { rows, columns: sheet::HEADER.len() + EXTRA_COLUMNS, stored_documents, child })
}

/// Fills the store as if qbsync had synced every row of the history: a created document and a
/// synced row record each.
fn remember_history(state_dir: &Path, rows: usize) -> anyhow::Result<usize> {
    std::fs::create_dir_all(state_dir)?;
    let mut store = Store::open_in(state_dir)?;
    for i in 0..rows {
        let key = format!("{:020x}", 0xbe_0000_0000_u64 + i as u64);
        let number = sheet::invoice_number(1_000_000 + i);
        let row = sheet::ready_row(1_000_000 + i);
        let payload = format!(
            r#"{{"DocNumber":"{number}","TxnDate":"{}","CustomerRef":{{"value":"{}"}},"PrivateNote":"thread: {} [qbsync {key}]","Line":[{{"DetailType":"SalesItemLineDetail","Amount":{},"Description":"{} — {}","SalesItemLineDetail":{{"ItemRef":{{"value":"1"}},"Qty":1,"UnitPrice":{}}}}}]}}"#,
            row[8],
            i % 6 + 1,
            row[13],
            row[7],
            row[6],
            row[5],
            row[7]
        );
        let keys = [key.clone()];
        store.record_intent(&NewIntent {
            doc_key: &key,
            kind: Kind::Invoice,
            doc_number: Some(&number),
            request_id: &format!("{key}-00000000"),
            payload_hash: "0000000000000000000000000000000000000000000000000000000000000000",
            payload: &payload,
            party_id: &(i % 6 + 1).to_string(),
            total: &row[7],
            row_keys: &keys,
        })?;
        let id = (10_000 + i).to_string();
        store.mark_created(&key, &id, &format!("https://app.sandbox.qbo.intuit.com/app/invoice?txnId={id}"))?;
        store.put_row(&RowRecord {
            row_key: key.clone(),
            kind: Kind::Invoice,
            doc_key: Some(key),
            doc_number: Some(number),
            status: "synced".into(),
            error: None,
            content_fp: String::new(),
            config_fp: String::new(),
            sheet_row: Some(i as i64 + 2),
            synced_at: Some("2025-11-05T09:00:00Z".into()),
        })?;
    }
    Ok(store.all_documents()?.len())
}

/// The child's side: settings from the environment the parent gave it, a warm-up read, then
/// the measured idle passes.
pub async fn child() -> anyhow::Result<ChildFigures> {
    let environment = std::env::vars().collect();
    let settings = Settings::load(&LoadOptions { config_file: None, env_file: None, environment })?;
    let policy = context::policy(&settings, RunFlags::default())?;
    let tokens = context::tokens(&settings)?;
    let mut engine = context::engine(&settings, tokens).await?;
    engine.sheets.tab_info().await?;

    let sheets_before = engine.sheets.stats();
    let qbo_before = engine.qbo.stats();
    let before = Usage::now().context("/proc/self is not readable")?;
    let mut idle = true;
    for _ in 0..PASSES {
        idle &= engine.pass(&policy, PassOptions::default()).await?.idle;
    }
    let after = Usage::now().context("/proc/self is not readable")?;
    let sheets = engine.sheets.stats();
    let qbo = engine.qbo.stats();
    let per_pass = |after: u64, before: u64| after.saturating_sub(before) as f64 / f64::from(PASSES);
    Ok(ChildFigures {
        passes: PASSES,
        idle,
        cpu_per_pass: after.cpu.saturating_sub(before.cpu) / PASSES,
        rss_before_kib: before.rss_kib,
        peak_rss_kib: after.peak_rss_kib,
        sheets_reads_per_pass: per_pass(sheets.reads, sheets_before.reads),
        sheets_writes_per_pass: per_pass(sheets.writes, sheets_before.writes),
        drive_reads_per_pass: per_pass(sheets.drive_reads, sheets_before.drive_reads),
        qbo_calls_per_pass: per_pass(qbo.calls, qbo_before.calls),
    })
}
