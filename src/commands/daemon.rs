//! `qbsync daemon`: the service systemd runs.
//!
//! Start-up order matters to systemd. Configuration, the instance lock, the store and the alert
//! channels are checked first: a mistake there stops the daemon before READY=1, so `systemctl
//! start` reports a broken install. Then the status page starts and [`crate::daemon::connect`]
//! gets the first QuickBooks token; READY=1 comes with it, or at once when a person must re-connect
//! QuickBooks (the page, the alert and `STATUS=` say so while the daemon waits for `qbsync auth`),
//! or after a short grace when Intuit does not answer; a token error no waiting can fix stops the
//! daemon (that module's doc has the reasons). The watchdog is fed from process start, on every round of that wait, and then only while passes
//! progress, so a stuck pass gets the service restarted.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use super::context::{self, RunFlags};
use super::lock::InstanceLock;
use crate::auth::{AuthError, IntuitTokens};
use crate::daemon::Startup;
use crate::ops::alerts::{self, AlertSettings, Alerter};
use crate::ops::metrics::Metrics;
use crate::ops::notify::{self, Watchdog};
use crate::ops::status::{self, GoogleStatus, QuickBooksStatus, StatusReport};
use crate::ops::web::{self, HealthPolicy};
use crate::pickup::{DriveAccess, Schedule};
use crate::settings::{LoadOptions, Settings};
use crate::store::Kind;
use crate::sync::{Engine, Policy};
use crate::sync::{PassError, PassReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds between full passes (default QBSYNC_POLL_INTERVAL, else 60). Between them, a change
    /// to the sheet starts a pass within QBSYNC_CHANGE_CHECK_INTERVAL seconds (default 5).
    #[arg(long, value_name = "SECS")]
    pub interval: Option<u64>,
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    // First of all: from here on SIGTERM/SIGINT mean "stop after this pass", never "die now".
    let shutdown = shutdown_signal()?;
    let watchdog = Watchdog::from_env();
    let settings = context::load_settings(load)?;
    let _logs = context::init_logging(&settings, true)?;
    let _lock = InstanceLock::acquire(&settings.paths.state_dir)?;
    // Configuration errors stop here, before systemd is told we are ready.
    context::policy(&settings, RunFlags::default())?;
    let tokens = context::tokens(&settings)?;
    let mut engine = context::engine(&settings, tokens.clone()).await?;
    // A renamed or deleted tracking column would have the passes create documents they cannot
    // record: a configuration error, at start, like the others.
    context::check_layout(&settings, &engine.sheets).await?;
    let interval = context::interval(&settings, args.interval);
    let alerter = alerter(&settings)?;

    let metrics = Arc::new(Metrics::new());
    // Google is not asked before the first pass: "unknown", not "ok".
    let first = status::build_report(&engine.store, quickbooks_status(&tokens), GoogleStatus::default(), None)?;
    let (status_tx, status_rx) = watch::channel(first);
    let stop_web = serve_status(&settings, status_rx, metrics.clone(), interval);
    let mut hooks = DaemonHooks {
        settings,
        tokens: tokens.clone(),
        watchdog,
        metrics,
        status: status_tx,
        alerter,
        interval,
        drive_refused: false,
    };

    tokio::pin!(shutdown);
    if crate::daemon::connect(tokens.as_ref(), &engine, &mut hooks, interval, &mut shutdown).await? == Startup::Run {
        // Tax settings that cannot work for this company (a UK company without a VAT code) stop
        // the daemon with one message listing the company's codes, before any row is judged.
        // It takes a token, so it comes after `connect`; QuickBooks not answering is left to
        // the passes.
        let policy = context::policy(&hooks.settings, RunFlags::default())?;
        if let Err(error) = engine.company.check(&engine.qbo, &policy).await {
            notify::stopping();
            let _ = stop_web.send(());
            return Err(anyhow::Error::new(error).context("the tax settings do not fit the QuickBooks company"));
        }
        let schedule = Schedule { full_interval: interval, change_check: hooks.settings.daemon.change_check_interval };
        crate::daemon::run_with(&mut engine, &mut hooks, schedule, &mut shutdown).await;
    }
    notify::stopping();
    let _ = stop_web.send(());
    Ok(ExitCode::SUCCESS)
}

/// Starts the status page when `QBSYNC_STATUS_ADDR` is set; it stops when the sender is used
/// or dropped.
fn serve_status(
    settings: &Settings,
    reports: watch::Receiver<StatusReport>,
    metrics: Arc<Metrics>,
    interval: Duration,
) -> oneshot::Sender<()> {
    let (stop, stopped) = oneshot::channel::<()>();
    if let Some(addr) = settings.status.addr {
        let policy = HealthPolicy::for_interval(interval);
        tokio::spawn(async move {
            if let Err(error) = web::serve(addr, reports, metrics, policy, async move {
                let _ = stopped.await;
            })
            .await
            {
                tracing::error!("{error:#}");
            }
        });
    }
    stop
}

fn alerter(settings: &Settings) -> anyhow::Result<Option<Arc<Alerter>>> {
    let a = &settings.alerts;
    let alert_settings = AlertSettings {
        webhook_url: a.webhook_url.clone(),
        smtp_url: a.smtp_url.clone(),
        email_to: (!a.email_to.is_empty()).then(|| a.email_to.join(",")),
        email_from: a.email_from.clone(),
        stale_after: a.stale_after,
    };
    let alerter = Alerter::new(alert_settings, &settings.paths.state_dir)?;
    Ok(alerter.has_channels().then(|| Arc::new(alerter)))
}

fn quickbooks_status(tokens: &IntuitTokens) -> QuickBooksStatus {
    QuickBooksStatus::from_connection(&tokens.status(), chrono::Utc::now())
}

struct DaemonHooks {
    settings: Settings,
    tokens: Arc<IntuitTokens>,
    watchdog: Option<Watchdog>,
    metrics: Arc<Metrics>,
    status: watch::Sender<StatusReport>,
    alerter: Option<Arc<Alerter>>,
    interval: Duration,
    /// Drive refused the change check: rows are picked up at each poll only (said on the
    /// `systemctl status` line).
    drive_refused: bool,
}

impl DaemonHooks {
    fn progressed(&self) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.progressed();
        }
    }

    /// Shows `report` wherever a person looks: the status page, the metrics, the alert channels
    /// (each problem once) and `systemctl status` (`line`).
    async fn publish(&self, report: StatusReport, line: &str) {
        self.metrics.observe_status(&report);
        if let Some(alerter) = &self.alerter {
            alerter.observe(&alerts::problems(&report)).await;
        }
        notify::status(line);
        let _ = self.status.send(report);
    }
}

#[async_trait::async_trait(?Send)]
impl crate::daemon::Hooks for DaemonHooks {
    fn policy(&mut self) -> anyhow::Result<Policy> {
        context::policy(&self.settings, RunFlags::default())
    }

    async fn pass_finished(&mut self, engine: &Engine, outcome: &Result<PassReport, PassError>, took: Duration) {
        self.progressed();
        let (ok, created, failures) = match outcome {
            Ok(report) => {
                let by_kind = |kind: Kind| report.created.iter().filter(|c| c.kind == kind).count() as u64;
                (
                    true,
                    vec![(Kind::Invoice, by_kind(Kind::Invoice)), (Kind::Bill, by_kind(Kind::Bill))],
                    report.failed as u64,
                )
            }
            Err(_) => (false, Vec::new(), 0),
        };
        self.metrics.pass_finished(took, ok, &created, &[(Kind::Invoice, "row", failures)]);
        let qbo = engine.qbo.stats();
        let sheets = engine.sheets.stats();
        self.metrics.set_call_counts(qbo.calls, qbo.throttled, sheets.reads + sheets.writes, sheets.throttled);
        self.metrics.set_qbo_metered_calls(qbo.metered);

        let google = match outcome {
            Err(PassError::Sheets(error)) => GoogleStatus::failing(error.to_string()),
            _ => GoogleStatus::ok(),
        };
        let quickbooks = match outcome {
            Err(PassError::NeedsReconnect(reason)) => QuickBooksStatus::needs_reconnect(reason.clone()),
            _ => quickbooks_status(&self.tokens),
        };
        let next = chrono::Utc::now() + chrono::Duration::from_std(self.interval).unwrap_or_default();
        match status::build_report(&engine.store, quickbooks, google, Some(next)) {
            Ok(mut report) => {
                report.qbo_metered_calls = Some(qbo.metered);
                let line = match outcome {
                    Ok(r) if r.idle => format!(
                        "idle; last success {}{}",
                        report.last_success.as_deref().unwrap_or("never"),
                        if self.drive_refused {
                            "; Drive refused the change check, new rows wait for the poll"
                        } else {
                            ""
                        }
                    ),
                    Ok(r) => format!("{} created, {} failed", r.created.len(), r.failed),
                    Err(error) => format!("pass stopped: {error}"),
                };
                self.publish(report, &line).await;
            }
            Err(error) => tracing::warn!(%error, "the status report could not be built"),
        }
    }

    fn pickup_changed(&mut self, access: &DriveAccess) {
        self.drive_refused = matches!(access, DriveAccess::Unusable { .. });
    }

    fn started(&mut self) {
        notify::ready();
        tracing::info!(interval_secs = self.interval.as_secs(), "qbsync daemon started");
    }

    async fn waiting_for_quickbooks(&mut self, engine: &Engine, problem: &AuthError) {
        self.progressed();
        let quickbooks = match problem {
            AuthError::NeedsReconnect { .. } => QuickBooksStatus::needs_reconnect(problem.to_string()),
            // Not refused, only unanswered: the connection is as good as it was last known.
            _ => quickbooks_status(&self.tokens),
        };
        match status::build_report(&engine.store, quickbooks, GoogleStatus::default(), None) {
            Ok(report) => {
                let line = match &report.quickbooks.needs_reconnect {
                    Some(cause) => format!("waiting for QuickBooks to be re-connected: run `qbsync auth` ({cause})"),
                    None => format!("{problem}; retrying"),
                };
                self.publish(report, &line).await;
            }
            Err(error) => tracing::warn!(%error, "the status report could not be built"),
        }
    }
}

/// Completes on SIGTERM or SIGINT. The handlers are installed by this call, not when the future
/// is first polled: the loop polls it only between passes, and a signal that arrived before
/// that (during start-up or the first pass) would otherwise kill the process mid-pass.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
    })
}
