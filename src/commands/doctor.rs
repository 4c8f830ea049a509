//! `qbsync doctor`: prints one line per check (see [`crate::doctor`]) and exits 0 only when all
//! pass. `--offline` checks the configuration alone, for systemd's `ExecStartPre=`.

use std::process::ExitCode;

use crate::doctor::{self, Options};
use crate::settings::LoadOptions;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Check the configuration only (settings, direction map, directories, token store); no
    /// request leaves the machine.
    #[arg(long)]
    pub offline: bool,
    /// Print the checks as JSON: `{"checks": [{"name", "outcome", "detail", "fix"}]}`.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    let report = doctor::diagnose(load, Options { offline: args.offline }).await;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(if report.all_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
