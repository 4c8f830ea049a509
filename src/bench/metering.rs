//! Sections 5b and 5c: what following the money costs in metered ("CorePlus") QuickBooks
//! calls, the ones Intuit counts against the Builder tier's 500,000 a month (reference §6).
//!
//! - **An idle company** ([`idle`]): the real daemon loop, at the shipped intervals, over
//!   documents qbsync created and follows while nothing happens to them. The metered calls of
//!   a number of whole rounds of the poller, over the time those rounds took (from the end of
//!   the round before the first to the end of the last), scaled to a day: `calls × 86,400 s /
//!   window`. Measured, not assumed: a round that costs more than one call, or rounds further
//!   apart than the interval, show in the figure.
//! - **Creating documents** ([`created`]): a company already followed (one document, its window
//!   covered), then a backlog of new ready rows. Counted: every metered call of the passes that
//!   create them (name look-ups), then of the poller's rounds until every new row shows its
//!   money. The rounds are run at once rather than waited for: what a round costs depends on
//!   what changed since the last, not on when it runs. A backlog of fewer than 1,000 is scaled
//!   to 1,000 (`calls × 1,000 / documents`), and says so.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::time::Instant;

use super::rounds::{self, Watched};
use super::sheet;
use super::world::BenchWorld;
use crate::qbo::CallStats;
use crate::sandbox::qbo::RequestCounts;

const SECONDS_PER_DAY: f64 = 86_400.0;
/// The poller's rounds after a backlog before the figure gives up on a row showing its money.
const MAX_ROUNDS: usize = 30;

/// Figure 5b.
#[derive(Clone, Debug, Serialize)]
pub struct IdleMetering {
    /// Documents followed.
    pub documents: usize,
    pub payments_interval: Duration,
    pub poll_interval: Duration,
    /// Whole rounds of the poller measured.
    pub rounds: usize,
    /// From the end of the round before the first measured to the end of the last.
    pub window: Duration,
    pub metered_calls: u64,
    /// Of which CDC polls (as the emulator counted them).
    pub cdc_polls: u64,
    pub failed_passes: usize,
}

impl IdleMetering {
    /// `metered_calls × 86,400 s / window`.
    pub fn per_day(&self) -> f64 {
        self.metered_calls as f64 * SECONDS_PER_DAY / self.window.as_secs_f64().max(f64::EPSILON)
    }
}

/// Figure 5c.
#[derive(Clone, Debug, Serialize)]
pub struct CreationMetering {
    /// New documents in the backlog (besides the one followed before it).
    pub documents: usize,
    /// Metered calls of the process before the backlog, not counted: learning the company's tax
    /// setup (once per process), creating the first document and the first round (by id).
    pub before_backlog: u64,
    /// Documents the passes created, and the passes.
    pub created: usize,
    pub creating_passes: usize,
    /// Metered calls of the passes that created them.
    pub creating_metered: u64,
    /// Rounds of the poller until every new row showed its money, and their metered calls.
    pub rounds: usize,
    pub rounds_metered: u64,
    /// What the emulator counted over both: CDC polls, and reads and queries.
    pub cdc_polls: u64,
    pub reads: u64,
    /// Rows showing their money at the end.
    pub showing_money: usize,
}

impl CreationMetering {
    /// Every metered call, per 1,000 documents (scaled when the backlog was smaller or larger).
    pub fn per_thousand(&self) -> f64 {
        (self.creating_metered + self.rounds_metered) as f64 * 1000.0 / (self.documents.max(1) as f64)
    }
}

/// Runs figure 5b in `world` (a sandbox holding a [`sheet::money_backlog`]), watching
/// `idle_rounds` whole rounds of the poller; `poll` is the daemon's poll interval (`None`: shipped).
pub async fn idle(world: BenchWorld, idle_rounds: usize, poll: Option<Duration>) -> anyhow::Result<IdleMetering> {
    let mut engine = world.engine().await?;
    rounds::settled_world(&world, &mut engine).await?;
    let documents = world.sandbox.qbo.invoices().len();
    let payments_interval = world.payments_interval();
    let schedule = rounds::schedule(&world.settings, poll);
    let wanted = idle_rounds.max(1);
    // The round before the first measured, then `wanted` more, each an interval and a poll apart.
    let deadline = (payments_interval + schedule.full_interval) * (wanted as u32 + 2) + Duration::from_secs(60);

    let watched = Arc::new(Mutex::new(Watched::default()));
    let watcher = async {
        let started = Instant::now();
        // The emulator's count at the end of the round before the first measured.
        let mut cdc_at_first: Option<u64> = None;
        loop {
            let ended = rounds::lock(&watched).rounds.len();
            if ended >= 1 && cdc_at_first.is_none() {
                cdc_at_first = Some(world.sandbox.qbo.request_counts().cdc);
            }
            if ended > wanted {
                return Ok(world.sandbox.qbo.request_counts().cdc - cdc_at_first.unwrap_or_default());
            }
            if started.elapsed() >= deadline {
                bail!("only {ended} rounds of the poller ran in {} s", deadline.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let cdc_polls: anyhow::Result<u64> =
        rounds::alongside(&mut engine, &world.settings, schedule, watched.clone(), watcher).await;
    let cdc_polls = cdc_polls?;
    let watched = rounds::lock(&watched);
    let (first, last) = (watched.rounds[0], watched.rounds[wanted]);
    Ok(IdleMetering {
        documents,
        payments_interval,
        poll_interval: schedule.full_interval,
        rounds: wanted,
        window: last.at - first.at,
        metered_calls: last.metered - first.metered,
        cdc_polls,
        failed_passes: watched.failed_passes,
    })
}

/// Runs figure 5c in `world` (a sandbox holding a [`sheet::money_backlog`] of one row): that
/// row created and followed first, then `documents` new rows.
pub async fn created(world: BenchWorld, documents: usize) -> anyhow::Result<CreationMetering> {
    let mut engine = world.engine().await?;
    let policy = rounds::settled_world(&world, &mut engine).await?;
    let before_backlog = engine.qbo.stats().metered;
    let google = &world.sandbox.google;
    for i in 1..=documents {
        let row = sheet::ready_money_row(i);
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        google.append_row(world.tab(), &cells)?;
    }

    let (qbo_before, emulator_before) = (engine.qbo.stats(), world.sandbox.qbo.request_counts());
    let (creating_passes, created) = rounds::settle(&mut engine, &policy).await?;
    let after_creating = engine.qbo.stats();
    let status = google.header_index(world.tab(), "qb_paid_status")?;
    let showing = || -> anyhow::Result<usize> {
        let sheet = google.rows(world.tab())?;
        Ok(sheet.iter().skip(1).filter(|row| row.get(status).is_some_and(|c| !c.is_blank())).count())
    };
    let mut rounds = 0;
    while showing()? < documents + 1 {
        if rounds == MAX_ROUNDS {
            bail!("{} of {} rows showed their money after {MAX_ROUNDS} rounds", showing()?, documents + 1);
        }
        rounds::force_round(&mut engine, &policy).await.context("a round of the poller stopped")?;
        rounds += 1;
    }
    let (qbo_after, emulator_after) = (engine.qbo.stats(), world.sandbox.qbo.request_counts());
    Ok(CreationMetering {
        documents,
        before_backlog,
        created,
        creating_passes,
        creating_metered: metered(&qbo_before, &after_creating),
        rounds,
        rounds_metered: metered(&after_creating, &qbo_after),
        cdc_polls: emulator_after.cdc - emulator_before.cdc,
        reads: reads(&emulator_after) - reads(&emulator_before),
        showing_money: showing()?,
    })
}

fn metered(before: &CallStats, after: &CallStats) -> u64 {
    after.metered.saturating_sub(before.metered)
}

fn reads(counts: &RequestCounts) -> u64 {
    counts.read + counts.query
}
