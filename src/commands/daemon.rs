//! `qbsync daemon`: the service systemd runs.
//!
//! Start-up order matters to systemd: configuration is checked, the store is opened and a
//! QuickBooks token is in hand before READY=1 is sent; the watchdog is fed from process start
//! and then only while passes progress, so a stuck pass gets the service restarted.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::context::{self, RunFlags};
use super::lock::InstanceLock;
use crate::auth::{AuthError, IntuitTokens, TokenSource};
use crate::ops::alerts::{self, AlertSettings, Alerter};
use crate::ops::metrics::Metrics;
use crate::ops::notify::{self, Watchdog};
use crate::ops::status::{self, GoogleStatus, QuickBooksStatus, StatusReport};
use crate::ops::web::{self, HealthPolicy};
use crate::settings::{LoadOptions, Settings};
use crate::store::Kind;
use crate::sync::engine::{PassError, PassReport};
use crate::sync::{Engine, Policy};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds between passes (default QBSYNC_POLL_INTERVAL, else 60).
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
    let interval = context::interval(&settings, args.interval);

    tokio::pin!(shutdown);
    tokio::select! {
        _ = first_token(tokens.as_ref(), watchdog.as_ref()) => {}
        _ = &mut shutdown => return Ok(ExitCode::SUCCESS),
    }

    let metrics = Arc::new(Metrics::new());
    let first = status::build_report(&engine.store, quickbooks_status(&tokens), GoogleStatus::ok(), None)?;
    let (status_tx, status_rx) = watch::channel(first);
    let (stop_web, web_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(addr) = settings.status.addr {
        let metrics = metrics.clone();
        let policy = HealthPolicy::for_interval(interval);
        tokio::spawn(async move {
            if let Err(error) = web::serve(addr, status_rx, metrics, policy, async move {
                let _ = web_stopped.await;
            })
            .await
            {
                tracing::error!("{error:#}");
            }
        });
    }
    let alerter = alerter(&settings)?;

    notify::ready();
    tracing::info!(interval_secs = interval.as_secs(), "qbsync daemon started");
    let mut hooks = DaemonHooks { settings, tokens, watchdog, metrics, status: status_tx, alerter, interval };
    crate::daemon::run(&mut engine, &mut hooks, interval, shutdown).await;
    notify::stopping();
    let _ = stop_web.send(());
    Ok(ExitCode::SUCCESS)
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

/// Waits until QuickBooks hands out a token. Re-connecting is a person's job: say so, wait,
/// and try again without hammering the token endpoint.
async fn first_token(tokens: &dyn TokenSource, watchdog: Option<&Watchdog>) {
    let mut delay = Duration::from_secs(5);
    loop {
        if let Some(watchdog) = watchdog {
            watchdog.progressed();
        }
        match tokens.access_token().await {
            Ok(_) => return,
            Err(error @ AuthError::NeedsReconnect { .. }) => {
                tracing::error!("{error}");
                notify::status("waiting for QuickBooks to be re-connected (run `qbsync auth`)");
            }
            Err(error) => tracing::warn!("{error}; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(300));
    }
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
}

#[async_trait::async_trait(?Send)]
impl crate::daemon::Hooks for DaemonHooks {
    fn policy(&mut self) -> anyhow::Result<Policy> {
        context::policy(&self.settings, RunFlags::default())
    }

    async fn pass_finished(&mut self, engine: &Engine, outcome: &Result<PassReport, PassError>, took: Duration) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.progressed();
        }
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
            Ok(report) => {
                self.metrics.observe_status(&report);
                if let Some(alerter) = &self.alerter {
                    alerter.observe(&alerts::problems(&report)).await;
                }
                let line = match outcome {
                    Ok(r) if r.idle => {
                        format!("idle; last success {}", report.last_success.as_deref().unwrap_or("never"))
                    }
                    Ok(r) => format!("{} created, {} failed", r.created.len(), r.failed),
                    Err(error) => format!("pass stopped: {error}"),
                };
                notify::status(&line);
                let _ = self.status.send(report);
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
