//! `qbsync migrate`: the tracking columns at the far right of the header row (and, with
//! `QBSYNC_REQUIRE_APPROVAL` on, the preview and approval columns), and the state database
//! schema. Running it twice changes nothing.

use std::process::ExitCode;

use super::context;
use crate::domain::Cell;
use crate::domain::layout::Layout;
use crate::settings::LoadOptions;
use crate::sheets::CellRun;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Which tracking columns to add (default: the configured QB_SYNC_MODE).
    #[arg(long, value_parser = ["invoice_only", "dual"])]
    pub mode: Option<String>,
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    let settings = context::load_settings(load)?;
    let store = context::open_store(&settings)?;
    println!("State database {} is at schema version {}.", store.path(), store.schema_version()?);
    let dual = match args.mode.as_deref() {
        Some(mode) => mode == "dual",
        None => settings.sync.creates_bills(),
    };
    let sheets = context::sheets(&settings).await?;
    let approval = settings.sync.require_approval;
    let added = add_tracking_columns(&sheets, &settings.sync.columns, dual, approval).await?;
    if added.is_empty() {
        println!("The header row already has every tracking column.");
    } else {
        println!("Added tracking columns: {}.", added.join(", "));
    }
    Ok(ExitCode::SUCCESS)
}

/// Appends the missing tracking headers (and the approval ones when `approval`) after the last
/// used header cell; returns their names.
pub async fn add_tracking_columns(
    sheets: &crate::sheets::SheetsClient,
    columns: &crate::domain::layout::ColumnNames,
    dual: bool,
    approval: bool,
) -> anyhow::Result<Vec<String>> {
    let values = sheets.read_values().await?;
    let header: Vec<Cell> = values.first().cloned().unwrap_or_default();
    let layout = Layout::read_header(&header, columns)?;
    let approval_columns = if approval { layout.missing_approval_columns() } else { Vec::new() };
    let missing: Vec<String> =
        layout.missing_tracking_columns(dual).into_iter().chain(approval_columns).map(str::to_owned).collect();
    if missing.is_empty() {
        return Ok(missing);
    }
    let used = header.iter().rposition(|c| !c.is_blank()).map_or(0, |i| i + 1);
    sheets.ensure_columns((used + missing.len()) as u32).await?;
    sheets
        .write_cells(&[CellRun {
            row: 0,
            col: used as u32,
            values: missing.iter().map(|m| Cell::text(m.clone())).collect(),
        }])
        .await?;
    Ok(missing)
}
