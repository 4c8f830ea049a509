//! The long-running loop: a pass, a pause, again — until told to stop.
//!
//! Like mini-redis's server loop, it takes its shutdown signal as an argument, so tests drive
//! it with a channel and the binary with SIGTERM/SIGINT. A pass in flight is never cut short:
//! the signal is only looked at between passes, so every intent the pass recorded is settled
//! (or left pending on purpose) before the process exits.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::engine::PassError;
use crate::sync::{Engine, PassOptions, PassReport, Policy};

/// What the loop needs besides the engine: a fresh policy per pass and somewhere to report.
/// The loop runs on the caller's task (never spawned), so its futures need not be `Send`.
#[async_trait::async_trait(?Send)]
pub trait Hooks {
    /// The policy for the next pass (re-read each time so edits to the direction map apply
    /// without a restart). An error skips the pass and is reported.
    fn policy(&mut self) -> anyhow::Result<Policy>;
    /// Called after every pass with its outcome and duration; the engine is there to read the
    /// store and the clients' call counts.
    async fn pass_finished(&mut self, engine: &Engine, outcome: &Result<PassReport, PassError>, took: Duration);
    /// Called when the loop is about to wait; `next` is when the next pass starts.
    fn idle_until(&mut self, _next: chrono::DateTime<chrono::Utc>) {}
}

/// How long to wait after a pass that stopped for a transient reason: back off, capped at the
/// interval, so a brief outage costs little and a long one does not hammer anybody.
fn retry_delay(consecutive_failures: u32, interval: Duration) -> Duration {
    let base = Duration::from_secs(5).saturating_mul(1 << consecutive_failures.min(6));
    base.min(interval)
}

/// Runs passes every `interval` until `shutdown` completes. Returns after the pass in flight.
pub async fn run(engine: &mut Engine, hooks: &mut dyn Hooks, interval: Duration, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        let outcome = match hooks.policy() {
            Ok(policy) => engine.pass(&policy, PassOptions::default()).await,
            Err(error) => {
                tracing::error!("{error:#}");
                Err(PassError::Config(format!("{error:#}")))
            }
        };
        let took = started.elapsed();
        match &outcome {
            Ok(report) if !report.idle => {
                failures = 0;
                tracing::info!(
                    created = report.created.len(),
                    failed = report.failed,
                    skipped = report.skipped,
                    uncertain = report.uncertain,
                    took_ms = took.as_millis() as u64,
                    "pass finished"
                );
            }
            Ok(_) => {
                failures = 0;
                tracing::debug!("idle pass");
            }
            Err(error) => {
                failures += 1;
                if error.is_transient() {
                    tracing::warn!("pass stopped early, will retry: {error}");
                } else {
                    tracing::error!("pass failed: {error}");
                }
            }
        }
        hooks.pass_finished(engine, &outcome, took).await;
        let wait = match &outcome {
            Err(_) => retry_delay(failures, interval),
            // More work than one pass could take (--limit, a deferred batch): go again soon.
            Ok(report) if report.deferred_by_limit > 0 || report.uncertain > 0 => Duration::from_millis(200),
            Ok(_) => interval.saturating_sub(took),
        };
        hooks.idle_until(chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
        tokio::select! {
            _ = &mut shutdown => {
                tracing::info!("shutdown requested; stopping after the last pass");
                return;
            }
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backs_off_and_is_capped_by_the_interval() {
        let interval = Duration::from_secs(60);
        assert_eq!(retry_delay(1, interval), Duration::from_secs(10));
        assert_eq!(retry_delay(2, interval), Duration::from_secs(20));
        assert_eq!(retry_delay(10, interval), interval);
    }
}
