//! `qbsync daemon`: the service systemd runs.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use super::context::{self, RunFlags};
use super::lock::InstanceLock;
use crate::auth::{AuthError, TokenSource};
use crate::settings::{LoadOptions, Settings};
use crate::sync::Policy;
use crate::sync::engine::{PassError, PassReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Seconds between passes (default QBSYNC_POLL_INTERVAL, else 60).
    #[arg(long, value_name = "SECS")]
    pub interval: Option<u64>,
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    // First of all: from here on SIGTERM/SIGINT mean "stop after this pass", never "die now".
    let shutdown = shutdown_signal()?;
    let settings = context::load_settings(load)?;
    context::init_logging(&settings, true)?;
    let _lock = InstanceLock::acquire(&settings.paths.state_dir)?;
    // Configuration errors stop here, before systemd is told we are ready.
    context::policy(&settings, RunFlags::default())?;
    let tokens = context::tokens(&settings)?;
    let mut engine = context::engine(&settings, tokens.clone()).await?;
    let interval = context::interval(&settings, args.interval);

    tokio::pin!(shutdown);
    tokio::select! {
        _ = first_token(tokens.as_ref()) => {}
        _ = &mut shutdown => return Ok(ExitCode::SUCCESS),
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    tracing::info!(interval_secs = interval.as_secs(), "qbsync daemon started");
    let mut hooks = DaemonHooks { settings };
    crate::daemon::run(&mut engine, &mut hooks, interval, shutdown).await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    Ok(ExitCode::SUCCESS)
}

/// Waits until QuickBooks hands out a token. Re-connecting is a person's job: say so, wait,
/// and try again without hammering the token endpoint.
async fn first_token(tokens: &dyn TokenSource) {
    let mut delay = Duration::from_secs(5);
    loop {
        match tokens.access_token().await {
            Ok(_) => return,
            Err(error @ AuthError::NeedsReconnect { .. }) => {
                tracing::error!("{error}");
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(
                    "waiting for QuickBooks to be re-connected (run `qbsync auth`)",
                )]);
            }
            Err(error) => tracing::warn!("{error}; retrying"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(300));
    }
}

struct DaemonHooks {
    settings: Settings,
}

impl crate::daemon::Hooks for DaemonHooks {
    fn policy(&mut self) -> anyhow::Result<Policy> {
        context::policy(&self.settings, RunFlags::default())
    }

    fn pass_finished(&mut self, outcome: &Result<PassReport, PassError>, _took: Duration) {
        let text = match outcome {
            Ok(report) if report.idle => "idle".to_owned(),
            Ok(report) => format!("{} created, {} failed", report.created.len(), report.failed),
            Err(error) => format!("pass stopped: {error}"),
        };
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(&text)]);
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

#[allow(dead_code)]
fn assert_token_source_is_object_safe(tokens: Arc<dyn TokenSource>) -> Arc<dyn TokenSource> {
    tokens
}
