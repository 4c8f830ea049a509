//! The long-running loop: a pass, a pause, again — until told to stop.
//!
//! The pause is the poll interval, cut short when Drive says the sheet changed: every few
//! seconds [`run_with`] asks Drive for the file's version and [`crate::pickup`] decides whether
//! that calls for a pass, so a new row is picked up in seconds while an idle daemon still reads
//! the sheet once per interval.
//!
//! Like mini-redis's server loop, it takes its shutdown signal as an argument, so tests drive
//! it with a channel and the binary with SIGTERM/SIGINT. A pass in flight is never cut short,
//! so every intent the pass recorded is settled (or left pending on purpose) before the process
//! exits; a signal heard during a pass only bounds its landing check (see
//! [`crate::sync::Engine::stop`]), which rows moving without end could otherwise keep busy past
//! systemd's stop timeout.
//!
//! Before the first pass, [`connect`] gets a QuickBooks token and decides when the daemon counts
//! as up ([`Hooks::started`], systemd's READY). "Up" means running and reporting, not "QuickBooks
//! works": a service that never comes up gets restarted in a loop by its supervisor and shows
//! nobody what is wrong. So:
//!
//! - **A person must re-connect QuickBooks** (`invalid_grant`, nothing stored): up at once, so
//!   the status page and the alert can tell the bookkeeper to run `qbsync auth`. The token source
//!   is then asked again every few seconds; it remembers the refusal and only looks whether the
//!   token store was replaced (Intuit itself is asked again once per re-check interval), so this
//!   costs nothing, and the store `qbsync auth` writes is picked up without a restart. This wait
//!   ends only with a token: Intuit not answering meanwhile is retried with back-off.
//! - **Intuit is unavailable** (5xx, 429, timeouts): retried with back-off for up to
//!   [`STARTUP_GRACE`] (plus the attempt in flight), so a blip at boot is absorbed before READY.
//!   Then up anyway, and the passes meet the outage as they would any other: an idle pass needs
//!   no token, and a pass that does stops early, is retried and, if it lasts, alerts.
//! - **Anything else** (Intuit refused the app's client id and secret, the stored connection is
//!   for another environment or company, the token store cannot be read or written): returned,
//!   before or during the wait, so the daemon stops with the reason: no waiting fixes these (the
//!   unit's `qbsync doctor --offline` already refuses the mismatches and an unreadable store).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::auth::{AuthError, TokenSource};
use crate::pickup::{Decision, DriveAccess, Next, PassEnd, Pickup, Schedule};
use crate::sync::PassError;
use crate::sync::{Engine, PassOptions, PassReport, Policy};

/// How long transient trouble getting the first QuickBooks token may hold back READY.
pub const STARTUP_GRACE: Duration = Duration::from_secs(30);

/// How often, at most, the token source is asked again while a person must re-connect
/// QuickBooks: how soon syncing starts after `qbsync auth`.
const RECONNECT_POLL: Duration = Duration::from_secs(5);

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
    /// Called once by [`connect`], when the daemon is up (see the module doc for when that is).
    fn started(&mut self) {}
    /// Called by [`connect`] after every attempt at a first token that failed with a
    /// re-connect or a transient `problem`; the engine is there to read the store.
    async fn waiting_for_quickbooks(&mut self, _engine: &Engine, _problem: &AuthError) {}
    /// Called when the change check starts or stops working (Drive enabled, refused): the
    /// pick-up is then within seconds, or at the poll interval only.
    fn pickup_changed(&mut self, _access: &DriveAccess) {}
}

/// How [`connect`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Startup {
    /// Start the passes: QuickBooks handed out a token, or stayed unavailable for the grace.
    Run,
    /// `shutdown` completed during the wait.
    Stop,
}

/// Before the first pass: waits for a QuickBooks token and calls [`Hooks::started`] once the
/// daemon is up, as the module doc describes. An error is one no waiting can fix.
pub async fn connect(
    tokens: &dyn TokenSource,
    engine: &Engine,
    hooks: &mut dyn Hooks,
    interval: Duration,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<Startup, AuthError> {
    let ready_by = Instant::now() + STARTUP_GRACE;
    let mut up = false;
    let mut transient_failures = 0u32;
    let mut last_problem = String::new();
    loop {
        let outcome = tokio::select! {
            outcome = tokens.access_token() => outcome,
            () = &mut *shutdown => return Ok(Startup::Stop),
        };
        let problem = match outcome {
            Ok(_) => {
                if up {
                    tracing::info!("QuickBooks is connected again; syncing");
                } else {
                    hooks.started();
                }
                return Ok(Startup::Run);
            }
            Err(problem @ (AuthError::NeedsReconnect { .. } | AuthError::Transient { .. })) => problem,
            Err(other) => return Err(other),
        };
        let transient = matches!(problem, AuthError::Transient { .. });
        // Said once per problem: the wait asks every few seconds.
        if problem.to_string() != last_problem {
            last_problem = problem.to_string();
            if transient {
                tracing::warn!("{problem}; retrying");
            } else {
                tracing::error!("{problem}; waiting");
            }
        }
        // Transient trouble holds READY back for the grace only; a person's job not at all.
        let grace_left = ready_by.saturating_duration_since(Instant::now());
        let grace_over = transient && !up && grace_left.is_zero();
        if !up && (!transient || grace_over) {
            // Before the report: a slow alert channel must not hold back READY.
            hooks.started();
            up = true;
        }
        hooks.waiting_for_quickbooks(engine, &problem).await;
        if grace_over {
            return Ok(Startup::Run);
        }
        let pause = if transient {
            transient_failures += 1;
            retry_delay(transient_failures, if up { interval } else { grace_left })
        } else {
            interval.min(RECONNECT_POLL)
        };
        tokio::select! {
            () = &mut *shutdown => return Ok(Startup::Stop),
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// How long to wait after a transient failure (a pass that stopped early, a token endpoint that
/// did not answer): back off, capped at `interval`, so a brief outage costs little and a long one
/// does not hammer anybody.
fn retry_delay(consecutive_failures: u32, interval: Duration) -> Duration {
    let base = Duration::from_secs(5).saturating_mul(1 << consecutive_failures.min(6));
    base.min(interval)
}

/// Runs passes every `interval` until `shutdown` completes. Returns after the pass in flight.
pub async fn run(engine: &mut Engine, hooks: &mut dyn Hooks, interval: Duration, shutdown: impl Future<Output = ()>) {
    run_with(engine, hooks, Schedule::polling(interval), shutdown).await;
}

/// Runs passes on `schedule` until `shutdown` completes: every full interval, and between them
/// whenever Drive says the spreadsheet changed ([`crate::pickup`] decides). Returns after the
/// pass in flight.
pub async fn run_with(
    engine: &mut Engine,
    hooks: &mut dyn Hooks,
    schedule: Schedule,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let interval = schedule.full_interval;
    let mut pickup = Pickup::new(schedule, Instant::now());
    let mut failures = 0u32;
    loop {
        if pickup.wants_version_before_pass() {
            let access = pickup.access().clone();
            pickup.version_before_pass(engine.sheets.drive_version().await);
            if *pickup.access() != access {
                hooks.pickup_changed(pickup.access());
            }
        }
        let writes_before = engine.sheets.stats().writes;
        let started = Instant::now();
        let stop = engine.stop.clone();
        let outcome = match hooks.policy() {
            Ok(policy) => {
                // The pass is never cut short, but it hears the signal: a landing check that
                // rows keep busy gives back what it can within its grace, and leaves the rest,
                // recorded, to the next start.
                let pass = engine.pass(&policy, PassOptions::default());
                tokio::pin!(pass);
                loop {
                    tokio::select! {
                        outcome = &mut pass => break outcome,
                        () = &mut shutdown, if stop.requested_at().is_none() => {
                            tracing::info!("shutdown requested; stopping after the pass in flight");
                            stop.request();
                        }
                    }
                }
            }
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
        if stop.requested_at().is_some() {
            return;
        }
        let wait = match &outcome {
            Err(_) => retry_delay(failures, interval),
            // More work than one pass could take (--limit, a deferred batch): go again soon.
            Ok(report) if report.deferred_by_limit > 0 || report.uncertain > 0 => Duration::from_millis(200),
            Ok(_) => interval.saturating_sub(took),
        };
        let end = match &outcome {
            Err(_) => PassEnd::Failed,
            Ok(report) if engine.sheets.stats().writes > writes_before && !report.created.is_empty() => {
                PassEnd::Created
            }
            Ok(_) if engine.sheets.stats().writes > writes_before => PassEnd::Wrote,
            Ok(_) => PassEnd::Clean,
        };
        let now = Instant::now();
        pickup.pass_finished(now, now + wait, end);
        hooks.idle_until(chrono::Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default());
        // Between passes: sleep to the next check or the next pass, whichever comes first.
        loop {
            let (at, check) = match pickup.next() {
                Next::PassAt(at) => (at, false),
                Next::CheckAt(at) => (at, true),
            };
            tokio::select! {
                _ = &mut shutdown => {
                    tracing::info!("shutdown requested; stopping after the last pass");
                    return;
                }
                _ = tokio::time::sleep_until(at) => {}
            }
            if !check {
                break;
            }
            let access = pickup.access().clone();
            let answer = engine.sheets.drive_version().await;
            let decision = pickup.checked(Instant::now(), answer);
            if *pickup.access() != access {
                hooks.pickup_changed(pickup.access());
            }
            if decision == Decision::Pass {
                tracing::debug!("the sheet changed; passing now");
                break;
            }
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
