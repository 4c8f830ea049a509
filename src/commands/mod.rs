//! The command line: one file per subcommand. `main.rs` only calls [`main`].
//!
//! Commands parse arguments, load settings, build what they need through [`context`], and hand
//! over to the library; `anyhow` with context lives here at the top, typed errors below.

pub mod audit;
pub mod auth;
pub mod bench;
pub mod context;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod lock;
pub mod migrate;
pub mod run_once;
pub mod sandbox;
pub mod status;
pub mod void;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// qbsync: every ready row of the `inv_tbl` sheet becomes exactly one QuickBooks Online
/// Invoice or Bill, and the sheet says so.
#[derive(Debug, Parser)]
#[command(name = "qbsync", version, about, long_about = None)]
pub struct Cli {
    /// A local settings file (TOML) layered over config/default.toml.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The .env file to read (default: ./.env when present).
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// One pass over the sheet.
    RunOnce(run_once::Args),
    /// Passes forever; stops cleanly on SIGTERM/SIGINT after finishing in-flight work.
    Daemon(daemon::Args),
    /// Adds missing tracking columns to the sheet and creates or upgrades the state database.
    Migrate(migrate::Args),
    /// Runs the daemon against the bundled sandbox and shows the sheet before and after.
    Demo(demo::Args),
    /// Serves the emulated Google and QuickBooks services for trying qbsync by hand.
    Sandbox(sandbox::Args),
    /// Connects QuickBooks (OAuth 2.0), imports a refresh token, or disconnects.
    Auth(auth::Args),
    /// Checks everything a first run needs, one line per check.
    Doctor(doctor::Args),
    /// Connection state, counts, recent failures.
    Status(status::Args),
    /// Answers "was this row sent, and what came back" without SQL.
    Audit(audit::Args),
    /// Takes back documents qbsync created: voids invoices, deletes bills.
    Void(void::Args),
    /// Measures throughput, calls per document, latency and idle cost against the sandbox.
    Bench(bench::Args),
}

/// Parses the command line and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for the whole process (reference, trap 6).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("qbsync: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("qbsync: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let load = context::load_options(cli.config.clone(), cli.env_file.clone());
    match cli.command {
        Command::RunOnce(args) => run_once::run(&load, args).await,
        Command::Daemon(args) => daemon::run(&load, args).await,
        Command::Migrate(args) => migrate::run(&load, args).await,
        Command::Demo(args) => demo::run(args).await,
        Command::Sandbox(args) => sandbox::run(args).await,
        Command::Auth(args) => auth::run(&load, args).await,
        Command::Doctor(args) => doctor::run(&load, args).await,
        Command::Status(args) => status::run(&load, args).await,
        Command::Audit(args) => audit::run(&load, args).await,
        Command::Void(args) => void::run(&load, args).await,
        Command::Bench(args) => bench::run(args).await,
    }
}
