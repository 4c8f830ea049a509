//! A world to test qbsync in: the sandbox, a temporary state directory, and qbsync's settings
//! pointed at the sandbox exactly as `qbsync demo` points them.

use std::path::PathBuf;

use qbsync::commands::context::{self, RunFlags};
use qbsync::domain::Cell;
use qbsync::sandbox::{Sandbox, SandboxDirs, SandboxOptions};
use qbsync::settings::{LoadOptions, Settings};
use qbsync::sync::engine::PassReport;
use qbsync::sync::{Engine, PassOptions, Policy};
use tempfile::TempDir;

pub struct World {
    pub sandbox: Sandbox,
    /// Holds the state directory for as long as the world lives.
    pub _dir: TempDir,
    pub env: Vec<(String, String)>,
}

impl World {
    /// The bundled demo sheet and company, invoice-only mode.
    pub async fn demo() -> World {
        World::start(SandboxOptions::default(), &[]).await
    }

    pub async fn start(options: SandboxOptions, extra_env: &[(&str, &str)]) -> World {
        let sandbox = Sandbox::start(options).await.expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temp dir");
        let state = dir.path().join("state");
        let logs = dir.path().join("logs");
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config");
        let key_file = dir.path().join("service-account.json");
        let mut env = sandbox
            .client_environment(&SandboxDirs {
                state_dir: &state,
                log_dir: &logs,
                config_dir: &config,
                service_account_file: &key_file,
            })
            .expect("sandbox settings");
        for (k, v) in extra_env {
            env.retain(|(key, _)| key != k);
            env.push(((*k).to_owned(), (*v).to_owned()));
        }
        sandbox.connect_quickbooks(&state).await.expect("QuickBooks connects");
        World { sandbox, _dir: dir, env }
    }

    pub fn settings(&self) -> Settings {
        Settings::load(&LoadOptions { config_file: None, env_file: None, environment: self.env.clone() })
            .expect("settings load")
    }

    pub fn policy(&self, flags: RunFlags) -> Policy {
        context::policy(&self.settings(), flags).expect("policy")
    }

    pub async fn engine(&self) -> Engine {
        let settings = self.settings();
        let tokens = context::tokens(&settings).expect("tokens");
        context::engine(&settings, tokens).await.expect("engine")
    }

    /// Adds the tracking columns, as `qbsync migrate` does.
    pub async fn migrate(&self, dual: bool) {
        let settings = self.settings();
        let sheets = context::sheets(&settings).await.expect("sheets");
        qbsync::commands::migrate::add_tracking_columns(&sheets, &settings.sync.columns, dual).await.expect("migrate");
    }

    /// Passes until one is idle (or `max` passes); returns every non-idle report.
    pub async fn run_until_idle(&self, engine: &mut Engine, flags: RunFlags, max: usize) -> Vec<PassReport> {
        let policy = self.policy(flags);
        let mut reports = Vec::new();
        for _ in 0..max {
            let report = engine.pass(&policy, PassOptions::default()).await.expect("pass");
            let idle = report.idle
                || (report.created.is_empty()
                    && report.cells_written == 0
                    && report.failed == 0
                    && report.uncertain == 0);
            reports.push(report);
            if idle {
                break;
            }
        }
        reports
    }

    pub fn tab(&self) -> &str {
        &self.sandbox.options.tab
    }

    /// The sheet as the emulator holds it now (row 0 is the header).
    pub fn sheet(&self) -> Vec<Vec<Cell>> {
        self.sandbox.google.rows(self.tab()).expect("rows")
    }

    pub fn col(&self, header: &str) -> usize {
        self.sandbox.google.header_index(self.tab(), header).expect("column")
    }

    /// The row whose `invoice` cell is `invoice` (exactly one).
    pub fn row(&self, invoice: &str) -> Vec<Cell> {
        let sheet = self.sheet();
        let col = self.col("invoice");
        let found: Vec<&Vec<Cell>> =
            sheet.iter().filter(|r| r.get(col).map(|c| c.as_text()) == Some(invoice.into())).collect();
        assert_eq!(found.len(), 1, "exactly one row {invoice}");
        found[0].clone()
    }

    /// A cell of the row `invoice`, by header, as text.
    pub fn cell(&self, invoice: &str, header: &str) -> String {
        self.row(invoice).get(self.col(header)).map(|c| c.as_text().into_owned()).unwrap_or_default()
    }
}
