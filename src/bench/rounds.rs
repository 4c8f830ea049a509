//! The daemon as the money figures run it (section 5): the real loop with the shipped policy,
//! noting when each round of the payment poller ends, so the figures can tell rounds apart
//! from passes and count what each one cost.
//!
//! A round is recognised by what it costs: on a sheet where every row is synced, a pass makes
//! a metered QuickBooks call only when the poller runs (an idle pass makes none), so a pass
//! after which the client's metered count has grown ended a round.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::world::BenchWorld;
use crate::commands::context::{self, RunFlags};
use crate::pickup::Schedule;
use crate::settings::Settings;
use crate::sync::{Engine, PassError, PassOptions, PassReport, Policy};

/// Passes before the setup of a money figure gives up on a quiet sheet (one or two do it).
const SETTLE_PASSES: usize = 10;

/// When a round of the poller ended, and the client's metered count then.
#[derive(Clone, Copy, Debug)]
pub struct RoundEnd {
    pub at: Instant,
    pub metered: u64,
}

/// What the daemon did while watched.
#[derive(Debug, Default)]
pub struct Watched {
    pub rounds: Vec<RoundEnd>,
    pub passes: u64,
    pub failed_passes: usize,
}

/// A [`Watched`] the daemon's hooks and the figure's author share.
pub type Shared = Arc<Mutex<Watched>>;

pub fn lock(watched: &Shared) -> MutexGuard<'_, Watched> {
    watched.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Runs passes until one is quiet: every ready row created and shown, the write-back confirmed.
/// Returns how many passes that took and how many documents they created.
pub async fn settle(engine: &mut Engine, policy: &Policy) -> anyhow::Result<(usize, usize)> {
    let mut created = 0;
    for passes in 1..=SETTLE_PASSES {
        let report = engine.pass(policy, PassOptions::default()).await.context("a benchmark pass stopped")?;
        created += report.created.len();
        let quiet = report.idle
            || (report.created.is_empty() && report.uncertain == 0 && report.cells_written == 0 && report.failed == 0);
        if quiet {
            return Ok((passes, created));
        }
    }
    anyhow::bail!("the sheet did not settle in {SETTLE_PASSES} passes")
}

/// Creates every ready row of `world`, then runs one round of the poller: the company as a
/// running daemon has it, every document followed and its window covered. Returns the policy.
pub async fn settled_world(world: &BenchWorld, engine: &mut Engine) -> anyhow::Result<Policy> {
    let policy = context::policy(&world.settings, RunFlags::default())?;
    settle(engine, &policy).await?;
    force_round(engine, &policy).await?;
    Ok(policy)
}

/// One pass with a round of the poller due now rather than at its interval. What a round costs
/// does not depend on when it runs, only on what changed since the last.
pub async fn force_round(engine: &mut Engine, policy: &Policy) -> anyhow::Result<PassReport> {
    engine.following.as_mut().context("payments are not followed")?.due_now();
    engine.pass(policy, PassOptions::default()).await.context("a benchmark pass stopped")
}

/// The daemon's schedule for a money figure: `poll` (`None`: the shipped interval) and the
/// shipped change check.
pub fn schedule(settings: &Settings, poll: Option<Duration>) -> Schedule {
    Schedule {
        full_interval: context::interval(settings, poll.map(|d| d.as_secs().max(1))),
        change_check: settings.daemon.change_check_interval,
    }
}

/// Runs the real daemon loop over `engine`, noting its rounds in `watched`, alongside `author`
/// (in this task: an engine is not shared between threads), and stops it once `author` is done.
pub async fn alongside<T>(
    engine: &mut Engine,
    settings: &Settings,
    schedule: Schedule,
    watched: Shared,
    author: impl Future<Output = T>,
) -> T {
    let metered = engine.qbo.stats().metered;
    let mut hooks = Hooks { settings: settings.clone(), metered, watched };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let daemon = crate::daemon::run_with(engine, &mut hooks, schedule, async {
        let _ = stop_rx.await;
    });
    let author = async {
        let outcome = author.await;
        let _ = stop_tx.send(());
        outcome
    };
    let ((), outcome) = tokio::join!(daemon, author);
    outcome
}

struct Hooks {
    settings: Settings,
    /// The metered count after the last pass.
    metered: u64,
    watched: Shared,
}

#[async_trait::async_trait(?Send)]
impl crate::daemon::Hooks for Hooks {
    fn policy(&mut self) -> anyhow::Result<Policy> {
        context::policy(&self.settings, RunFlags::default())
    }

    async fn pass_finished(&mut self, engine: &Engine, outcome: &Result<PassReport, PassError>, _took: Duration) {
        let metered = engine.qbo.stats().metered;
        let mut watched = lock(&self.watched);
        watched.passes += 1;
        if metered > self.metered {
            watched.rounds.push(RoundEnd { at: Instant::now(), metered });
            self.metered = metered;
        }
        if let Err(error) = outcome {
            tracing::warn!(%error, "a pass stopped during the money benchmark");
            watched.failed_passes += 1;
        }
    }
}
