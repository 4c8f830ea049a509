//! Figure 3: from a row being appended to its id showing on the sheet, with the real daemon
//! loop at the real poll interval and change check; then what the same daemon costs once idle.
//!
//! A row appended at a random moment waits for the next change check (or poll), then for one
//! pass. Rather than
//! wait for many polls to collect a large random sample, the appends of one wait between
//! passes are *stratified*: the wait is cut into equal slices and one row is appended at a
//! random moment of each slice. That is still a uniform sample of the moment of appending,
//! with far less spread than the same number of independent draws, so a dozen rows over two
//! polls give a fair p50 and p95. Nothing is simulated: the clock, the daemon, the clients and
//! the quotas are real.
//!
//! Once every row shows its id and the daemon has run its confirming pass, nothing changes for
//! a while ([`IdleDaemon`]): the Sheets reads, Drive checks and QuickBooks calls it makes then
//! are what a daemon costs while nobody types.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use super::sheet;
use super::world::BenchWorld;
use crate::commands::context::{self, RunFlags};
use crate::pickup::Schedule;
use crate::qbo::CallStats;
use crate::settings::Settings;
use crate::sheets::SheetsStats;
use crate::sync::Policy;
use crate::sync::{PassError, PassReport};

/// Rows appended during one wait between polls.
const ROWS_PER_WAIT: usize = 6;
/// How often the watcher looks at the sheet.
const WATCH_EVERY: Duration = Duration::from_millis(50);

#[derive(Clone, Debug, Serialize)]
pub struct LatencyFigures {
    pub poll_interval: Duration,
    /// Seconds from append to visible id, one per appended row, in the order appended.
    pub samples: Vec<Duration>,
    pub p50: Duration,
    pub p95: Duration,
    /// Passes that stopped with an error while the rows were synced.
    pub failed_passes: usize,
    /// How often Drive was asked whether the sheet changed; `None`: polls only.
    pub change_check: Option<Duration>,
    /// The same daemon afterwards, while nothing changed.
    pub idle: IdleDaemon,
}

/// What a daemon costs while nobody edits the sheet, measured over `window`.
#[derive(Clone, Debug, Serialize)]
pub struct IdleDaemon {
    pub window: Duration,
    pub passes: u64,
    pub sheets_reads: u64,
    pub drive_checks: u64,
    pub qbo_calls: u64,
}

impl IdleDaemon {
    fn per_minute(&self, count: u64) -> f64 {
        count as f64 * 60.0 / self.window.as_secs_f64().max(f64::EPSILON)
    }

    pub fn sheets_reads_per_minute(&self) -> f64 {
        self.per_minute(self.sheets_reads)
    }

    pub fn drive_checks_per_minute(&self) -> f64 {
        self.per_minute(self.drive_checks)
    }
}

/// Where the idle window starts: the first idle pass after every row showed its id.
#[derive(Default)]
struct IdleStart {
    all_seen: bool,
    from: Option<(Instant, SheetsStats, CallStats, u64)>,
    passes: u64,
}

/// Runs the latency scenario with `samples` appended rows, then watches the daemon idle for
/// `idle_window`. `None` for the poll interval or the change check means the shipped settings.
pub async fn run(
    latency: Duration,
    poll_interval: Option<Duration>,
    change_check: Option<Duration>,
    samples: usize,
    idle_window: Duration,
) -> anyhow::Result<LatencyFigures> {
    let world = BenchWorld::start(sheet::backlog(0), latency, None).await?;
    let interval = context::interval(&world.settings, poll_interval.map(|d| d.as_secs().max(1)));
    let schedule = Schedule {
        full_interval: interval,
        change_check: change_check.or(world.settings.daemon.change_check_interval),
    };
    let mut engine = world.engine().await?;
    let id_column = world.sandbox.google.header_index(world.tab(), "qb_invoice_id")?;
    let invoice_column = world.sandbox.google.header_index(world.tab(), "invoice")?;

    let (next_tx, mut next_rx) = watch::channel(None);
    let failed_passes = Arc::new(Mutex::new(0));
    let idle_start = Arc::new(Mutex::new(IdleStart::default()));
    let mut hooks = Hooks {
        settings: world.settings.clone(),
        next: next_tx,
        failed_passes: failed_passes.clone(),
        idle_start: idle_start.clone(),
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    // The daemon runs in this task next to the rows' author (an engine is not shared between
    // threads); the author stops it once every row has shown its id, or on failure.
    let daemon = crate::daemon::run_with(&mut engine, &mut hooks, schedule, async {
        let _ = stop_rx.await;
    });
    let author = async {
        let outcome = append_and_watch(&world, &mut next_rx, interval, samples, invoice_column, id_column).await;
        if outcome.is_ok() {
            lock(&idle_start).all_seen = true;
            // The confirming pass after the last write-back, then nothing changes.
            while lock(&idle_start).from.is_none() {
                tokio::time::sleep(WATCH_EVERY).await;
            }
            tokio::time::sleep(idle_window).await;
        }
        let _ = stop_tx.send(());
        outcome
    };
    let ((), outcome) = tokio::join!(daemon, author);
    let seen = outcome?;
    let idle = {
        let start = lock(&idle_start);
        let (at, sheets, qbo, passes) = start.from.context("the daemon never went idle")?;
        let (sheets_now, qbo_now) = (engine.sheets.stats(), engine.qbo.stats());
        IdleDaemon {
            window: at.elapsed(),
            passes: start.passes - passes,
            sheets_reads: sheets_now.reads - sheets.reads,
            drive_checks: sheets_now.drive_reads - sheets.drive_reads,
            qbo_calls: qbo_now.calls - qbo.calls,
        }
    };

    let wanted = samples;
    let samples: Vec<Duration> = seen.iter().flatten().copied().collect();
    if samples.len() < wanted {
        bail!("only {} of {wanted} rows were appended and showed their id in time", samples.len());
    }
    let failed_passes = *failed_passes.lock().unwrap_or_else(|p| p.into_inner());
    Ok(LatencyFigures {
        poll_interval: interval,
        p50: quantile(&samples, 0.50),
        p95: quantile(&samples, 0.95),
        samples,
        failed_passes,
        change_check: schedule.change_check,
        idle,
    })
}

fn lock(start: &Mutex<IdleStart>) -> std::sync::MutexGuard<'_, IdleStart> {
    start.lock().unwrap_or_else(|p| p.into_inner())
}

/// Appends `samples` rows at moments stratified over the daemon's waits, watching all the
/// while for the ids to show. Returns each row's wait, `None` for a row that never showed one.
async fn append_and_watch(
    world: &BenchWorld,
    next_rx: &mut watch::Receiver<Option<Instant>>,
    interval: Duration,
    samples: usize,
    invoice_column: usize,
    id_column: usize,
) -> anyhow::Result<Vec<Option<Duration>>> {
    let waits = samples.div_ceil(ROWS_PER_WAIT) as u32;
    let deadline = Instant::now() + interval * (waits + 3) + Duration::from_secs(60);
    let mut due: VecDeque<Instant> = VecDeque::new();
    let mut appended: Vec<(String, Instant)> = Vec::with_capacity(samples);
    let mut seen: Vec<Option<Duration>> = Vec::with_capacity(samples);
    loop {
        // After each pass the daemon says when the next starts: cut that wait into slices.
        if next_rx.has_changed().context("the daemon stopped")? {
            let next_pass = *next_rx.borrow_and_update();
            let now = Instant::now();
            let planned = appended.len() + due.len();
            if let Some(next_pass) = next_pass.filter(|at| *at > now && due.is_empty() && planned < samples) {
                let count = ROWS_PER_WAIT.min(samples - planned);
                let wait = next_pass - now;
                let mut rng = rand::thread_rng();
                let mut moments: Vec<Instant> = (0..count)
                    .map(|slice| now + wait.mul_f64((slice as f64 + rng.r#gen::<f64>()) / count as f64))
                    .collect();
                moments.sort();
                due.extend(moments);
            }
        }
        while due.front().is_some_and(|at| *at <= Instant::now()) {
            due.pop_front();
            let row = sheet::ready_row(appended.len());
            let cells: Vec<&str> = row.iter().map(String::as_str).collect();
            world.sandbox.google.append_row(world.tab(), &cells)?;
            appended.push((sheet::invoice_number(appended.len()), Instant::now()));
            seen.push(None);
        }
        let sheet = world.sandbox.google.rows(world.tab())?;
        let now = Instant::now();
        for ((number, at), slot) in appended.iter().zip(seen.iter_mut()).filter(|(_, s)| s.is_none()) {
            let row = sheet.iter().find(|r| r.get(invoice_column).is_some_and(|c| c.trimmed() == number.as_str()));
            if row.and_then(|r| r.get(id_column)).is_some_and(|c| !c.is_blank()) {
                *slot = Some(now - *at);
            }
        }
        if (appended.len() == samples && seen.iter().all(Option::is_some)) || now >= deadline {
            return Ok(seen);
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The nearest-rank quantile `q` of `samples`.
pub fn quantile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// The daemon's hooks: the shipped policy each pass, and word of when the next pass starts.
struct Hooks {
    settings: Settings,
    next: watch::Sender<Option<Instant>>,
    failed_passes: Arc<Mutex<usize>>,
    idle_start: Arc<Mutex<IdleStart>>,
}

#[async_trait::async_trait(?Send)]
impl crate::daemon::Hooks for Hooks {
    fn policy(&mut self) -> anyhow::Result<Policy> {
        context::policy(&self.settings, RunFlags::default())
    }

    async fn pass_finished(
        &mut self,
        engine: &crate::sync::Engine,
        outcome: &Result<PassReport, PassError>,
        _took: Duration,
    ) {
        let mut start = lock(&self.idle_start);
        start.passes += 1;
        if start.all_seen && start.from.is_none() && outcome.as_ref().is_ok_and(|r| r.idle) {
            let passes = start.passes;
            start.from = Some((Instant::now(), engine.sheets.stats(), engine.qbo.stats(), passes));
        }
        drop(start);
        if let Err(error) = outcome {
            tracing::warn!(%error, "a pass stopped during the latency benchmark");
            *self.failed_passes.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        }
    }

    fn idle_until(&mut self, next: chrono::DateTime<chrono::Utc>) {
        let wait = (next - chrono::Utc::now()).to_std().unwrap_or_default();
        let _ = self.next.send(Some(Instant::now() + wait));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let s: Vec<Duration> = [5, 1, 4, 2, 3].into_iter().map(Duration::from_secs).collect();
        assert_eq!(quantile(&s, 0.5), Duration::from_secs(3));
        assert_eq!(quantile(&s, 0.95), Duration::from_secs(5));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
    }
}
