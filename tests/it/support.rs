//! A world to test qbsync in: the sandbox, a temporary state directory, and qbsync's settings
//! pointed at the sandbox exactly as `qbsync demo` points them.

use std::path::PathBuf;

use qbsync::commands::context::{self, RunFlags};
use qbsync::domain::Cell;
use qbsync::sandbox::google::{MetadataMoves, MetadataOnMove};
use qbsync::sandbox::{Sandbox, SandboxDirs, SandboxOptions};
use qbsync::settings::{LoadOptions, Settings};
use qbsync::sync::PassReport;
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

    /// Sets one setting for everything built from now on (engines, policies, the CLI).
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
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

    /// Adds the tracking columns (and the approval ones when approval is on), as `qbsync
    /// migrate` does.
    pub async fn migrate(&self, dual: bool) {
        let settings = self.settings();
        let sheets = context::sheets(&settings).await.expect("sheets");
        let approval = settings.sync.require_approval;
        qbsync::commands::migrate::add_tracking_columns(&sheets, &settings.sync.columns, dual, approval)
            .await
            .expect("migrate");
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

    /// What every later sort and cut and paste does to row metadata in this world. The sandbox
    /// starts with `stay` (values move, metadata stays on its physical row), what Google's
    /// documentation supports; a test that depends on another behaviour says so here.
    pub fn set_metadata_moves(&self, behaviour: MetadataOnMove) {
        self.sandbox.google.set_metadata_moves(MetadataMoves::both(behaviour));
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

// ----- driving the real binary (torture and live-edit tests) ------------------------------------

/// Client timings for tests: retries and throttle waits in milliseconds, no self-imposed pacing,
/// so a test exercises the logic, not the clocks.
pub const FAST_CLIENTS: [(&str, &str); 9] = [
    ("QBSYNC_QBO_RETRY_BASE_MS", "5"),
    ("QBSYNC_QBO_THROTTLE_WAIT_MS", "20"),
    ("QBSYNC_QBO_TIMEOUT_MS", "5000"),
    ("QBSYNC_QBO_REQUESTS_PER_MINUTE", "100000"),
    ("QBSYNC_QBO_BATCHES_PER_MINUTE", "100000"),
    ("QBSYNC_SHEETS_BACKOFF_BASE_MS", "5"),
    ("QBSYNC_SHEETS_TIMEOUT_MS", "5000"),
    ("QBSYNC_SHEETS_READS_PER_MINUTE", "100000"),
    ("QBSYNC_SHEETS_WRITES_PER_MINUTE", "100000"),
];

impl World {
    /// The state directory (SQLite store, lock, tokens) qbsync uses in this world.
    pub fn state_dir(&self) -> PathBuf {
        PathBuf::from(self.setting("QBSYNC_STATE_DIR"))
    }

    fn setting(&self, name: &str) -> String {
        self.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Where [`World::spawn`] appends the output of every child process. It lives outside the
    /// world's temporary directory so that a failed test can leave it behind.
    pub fn log_path(&self) -> PathBuf {
        let name = self._dir.path().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("qbsync-children{name}.log"))
    }

    /// The last `lines` lines of the children's output (for failure messages).
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The real `qbsync` binary with exactly this world's environment, run in the world's
    /// temporary directory (so no `.env` of the checkout leaks in).
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_qbsync"));
        command
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self._dir.path())
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Starts `qbsync ARGS` with its output appended to [`World::log_path`].
    pub fn spawn(&self, args: &[&str]) -> tokio::process::Child {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("child log");
        let err = log.try_clone().expect("child log");
        self.command(args).stdout(log).stderr(err).spawn().expect("qbsync starts")
    }

    /// Runs `qbsync ARGS` to the end and returns its exit status and output (stdout + stderr).
    pub async fn run_cli(&self, args: &[&str]) -> (std::process::ExitStatus, String) {
        let output = self
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .expect("qbsync runs");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status, text)
    }

    /// `qbsync run-once` until a run changes nothing (or `max` runs); the last output.
    pub async fn run_once_until_idle(&self, max: usize) -> String {
        let mut last = String::new();
        for _ in 0..max {
            let (status, output) = self.run_cli(&["run-once"]).await;
            assert!(status.success(), "run-once failed: {output}");
            let quiet = output.lines().any(|line| {
                line.starts_with("Nothing to do")
                    || (line.starts_with("0 created,") && line.contains(" 0 still uncertain, 0 cells written"))
            });
            if quiet {
                return output;
            }
            last = output;
        }
        panic!("still busy after {max} runs; last output:\n{last}");
    }

    /// The state database, opened as a second reader (WAL allows it next to a running qbsync).
    pub fn store(&self) -> qbsync::store::Store {
        qbsync::store::Store::open_in(&self.state_dir()).expect("store opens")
    }
}

/// The seed of a randomised test: `QBSYNC_TORTURE_SEED`, else `default`. Keep the guard alive for
/// the whole test: if the test fails, it prints the seed and how to replay it.
pub fn torture_seed(test: &str, default: u64) -> (u64, SeedGuard) {
    let seed = std::env::var("QBSYNC_TORTURE_SEED").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(default);
    (seed, SeedGuard { test: test.to_owned(), seed })
}

/// True when the long form was asked for (`QBSYNC_TORTURE=long`).
pub fn torture_long() -> bool {
    std::env::var("QBSYNC_TORTURE").is_ok_and(|v| v.eq_ignore_ascii_case("long"))
}

pub struct SeedGuard {
    test: String,
    seed: u64,
}

impl Drop for SeedGuard {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "\n{} failed with seed {}: replay with QBSYNC_TORTURE_SEED={} cargo test --test it {} -- --nocapture\n",
                self.test, self.seed, self.seed, self.test
            );
        }
    }
}

/// The children's log is removed with the world, unless the test failed: then it stays, named.
impl Drop for World {
    fn drop(&mut self) {
        let log = self.log_path();
        if !log.exists() {
            return;
        }
        if std::thread::panicking() {
            eprintln!("qbsync's own log of the failed run: {}", log.display());
        } else {
            let _ = std::fs::remove_file(log);
        }
    }
}
