//! `qbsync sandbox`: the emulated Google and QuickBooks services on a local port, with
//! ready-made settings, so anyone can try qbsync by hand without a Google or Intuit account.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::sandbox::{Sandbox, SandboxDirs, SandboxOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on (127.0.0.1 only). 0 picks a free one.
    #[arg(long, default_value_t = 8900)]
    pub port: u16,
    /// Seed for every random choice (faults, generated ids).
    #[arg(long, default_value_t = 0x5eed)]
    pub seed: u64,
    /// The inv_tbl tab as CSV (default: the bundled demo sheet).
    #[arg(long, value_name = "CSV")]
    pub sheet: Option<PathBuf>,
    /// The QuickBooks company as seed JSON (default: the bundled demo company).
    #[arg(long, value_name = "JSON")]
    pub company: Option<PathBuf>,
    /// The demo company as one of another country: US, US-AST (automated sales tax), CA, GB or
    /// AU, with its tax codes and rules (instead of --company).
    #[arg(long, value_name = "COUNTRY", conflicts_with = "company")]
    pub country: Option<crate::sandbox::qbo::SandboxCountry>,
    /// Enforce the published quotas (Sheets 60/min, QuickBooks 500/min, 40 batches/min).
    #[arg(long)]
    pub limits: bool,
    /// Where to keep the run's state, logs and the settings file.
    #[arg(long, value_name = "DIR", default_value = "sandbox-run")]
    pub dir: PathBuf,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let read = |path: &Option<PathBuf>| -> anyhow::Result<Option<String>> {
        path.as_ref()
            .map(|p| std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display())))
            .transpose()
    };
    let options = SandboxOptions {
        port: args.port,
        seed: args.seed,
        sheet_csv: read(&args.sheet)?,
        company_seed: match args.country {
            Some(country) => Some(serde_json::to_string(&country.seed()?)?),
            None => read(&args.company)?,
        },
        enforce_limits: args.limits,
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::start(options).await.context("cannot start the sandbox")?;
    let env = prepare(&sandbox, &args.dir).await?;
    let env_file = args.dir.join("sandbox.env");
    std::fs::write(&env_file, env.iter().map(|(k, v)| format!("{k}={v}\n")).collect::<String>())
        .with_context(|| format!("cannot write {}", env_file.display()))?;

    let base = sandbox.base_url();
    println!("qbsync sandbox listening on {base}");
    println!();
    println!("  Google token endpoint   {base}google/token");
    println!("  Sheets API v4           {base}v4/spreadsheets/{}", sandbox.options.spreadsheet_id);
    println!("  Sheet in a browser      {base}spreadsheets/d/{}/edit", sandbox.options.spreadsheet_id);
    println!("  Intuit OAuth            {base}oauth2/v1/tokens/bearer");
    println!("  QuickBooks API v3       {base}v3/company/{}/", sandbox.options.realm_id);
    println!("  Control API             {base}_sandbox/  (sheets, qbo, intuit, faults, requests)");
    println!();
    println!("QuickBooks is already connected. Settings for qbsync are in {}:", env_file.display());
    println!();
    println!("  qbsync --env-file {} migrate --mode dual", env_file.display());
    println!("  qbsync --env-file {} run-once --dry-run --limit 3", env_file.display());
    println!("  qbsync --env-file {} daemon --interval 5", env_file.display());
    println!();
    println!("Press Ctrl-C to stop.");
    super::daemon::shutdown_signal()?.await;
    Ok(ExitCode::SUCCESS)
}

/// Writes the key file, connects QuickBooks in `dir/state`, and returns qbsync's settings.
pub async fn prepare(sandbox: &Sandbox, dir: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let dir = absolute(dir)?;
    let state_dir = dir.join("state");
    let log_dir = dir.join("logs");
    let config_dir = config_dir(&dir)?;
    std::fs::create_dir_all(&log_dir).with_context(|| format!("cannot create {}", log_dir.display()))?;
    let key_file = dir.join("service-account.json");
    let env = sandbox.client_environment(&SandboxDirs {
        state_dir: &state_dir,
        log_dir: &log_dir,
        config_dir: &config_dir,
        service_account_file: &key_file,
    })?;
    sandbox.connect_quickbooks(&state_dir).await.context("cannot connect the sandbox QuickBooks company")?;
    Ok(env)
}

/// The repository's `config/` when run from a checkout; otherwise the shipped defaults written
/// next to the run, so the demo works from any directory.
fn config_dir(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let local = PathBuf::from("config");
    if local.join("qb_directions.json").is_file() {
        return absolute(&local);
    }
    let config = dir.join("config");
    std::fs::create_dir_all(&config)?;
    std::fs::write(config.join("qb_directions.json"), include_str!("../../config/qb_directions.json"))?;
    Ok(config)
}

fn absolute(path: &std::path::Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    Ok(std::path::absolute(path)?)
}
