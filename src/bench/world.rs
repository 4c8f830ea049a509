//! One benchmark scenario's world: a sandbox with the published limits switched on and a
//! fixed latency on every call, a private state directory, and qbsync's settings pointed at
//! it — the shipped defaults for everything else, `[tuning]` included.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tempfile::TempDir;

use crate::commands::context;
use crate::sandbox::faults::FaultRule;
use crate::sandbox::{Sandbox, SandboxDirs, SandboxOptions};
use crate::settings::{LoadOptions, Settings};
use crate::sync::Engine;
use crate::sync::following::Following;

/// The demo direction map: the benchmark's rows come from "ACD", which it routes to invoices.
const DIRECTIONS: &str = include_str!("../../config/qb_directions.json");

/// Every service the sandbox emulates, by fault-plan prefix: latency applies to each call.
const SERVICES: [&str; 5] = ["google", "sheets", "drive", "intuit", "qbo"];

pub struct BenchWorld {
    pub sandbox: Sandbox,
    /// The environment qbsync would be started with.
    pub env: Vec<(String, String)>,
    pub settings: Settings,
    pub state_dir: PathBuf,
    /// The payment poller's interval when it is not the settings' (`qbsync bench --money
    /// --quick` polls every few seconds, below what `QBSYNC_PAYMENTS_INTERVAL` accepts).
    pub payments_interval: Option<Duration>,
    /// Holds the directories for as long as the world lives.
    _dir: TempDir,
}

impl BenchWorld {
    /// Starts a sandbox holding `sheet_csv`, with QuickBooks connected. `scratch` is where the
    /// state directory goes (a tmpfs for worlds whose store is filled in bulk; the system's
    /// temporary directory otherwise, as a real deployment's disk).
    pub async fn start(sheet_csv: String, latency: Duration, scratch: Option<&Path>) -> anyhow::Result<BenchWorld> {
        let options = SandboxOptions { sheet_csv: Some(sheet_csv), enforce_limits: true, ..SandboxOptions::default() };
        let sandbox = Sandbox::start(options).await.context("the sandbox did not start")?;
        let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        for service in SERVICES {
            sandbox.faults().set(service, FaultRule { latency_ms, ..FaultRule::default() });
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix("qbsync-bench-");
        let dir = match scratch {
            Some(scratch) => builder.tempdir_in(scratch),
            None => builder.tempdir(),
        }
        .context("cannot create a temporary directory")?;
        let state_dir = dir.path().join("state");
        let config_dir = dir.path().join("config");
        std::fs::create_dir_all(&config_dir)?;
        std::fs::write(config_dir.join("qb_directions.json"), DIRECTIONS)?;
        let env = sandbox.client_environment(&SandboxDirs {
            state_dir: &state_dir,
            log_dir: &dir.path().join("logs"),
            config_dir: &config_dir,
            service_account_file: &dir.path().join("service-account.json"),
        })?;
        sandbox.connect_quickbooks(&state_dir).await.context("QuickBooks did not connect")?;
        let settings = Settings::load(&LoadOptions { config_file: None, env_file: None, environment: env.clone() })?;
        Ok(BenchWorld { sandbox, env, settings, state_dir, payments_interval: None, _dir: dir })
    }

    /// A fresh engine over this world's store, built as `qbsync daemon` builds it.
    pub async fn engine(&self) -> anyhow::Result<Engine> {
        let tokens = context::tokens(&self.settings)?;
        let mut engine = context::engine(&self.settings, tokens).await?;
        if let Some(interval) = self.payments_interval {
            engine.following = Some(Following::every(interval));
        }
        Ok(engine)
    }

    /// How often the payment poller runs in this world.
    pub fn payments_interval(&self) -> Duration {
        self.payments_interval.unwrap_or(self.settings.payments.interval)
    }

    pub fn tab(&self) -> &str {
        &self.sandbox.options.tab
    }
}
