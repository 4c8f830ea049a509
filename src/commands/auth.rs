//! `qbsync auth` (being wired up).

use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {}

pub async fn run(_load: &crate::settings::LoadOptions, _args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`qbsync auth` is not available in this build yet")
}
