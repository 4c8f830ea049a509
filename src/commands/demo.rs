//! `qbsync demo`: the daemon against the bundled sandbox, start to finish, in one command.
//!
//! It starts the emulators in-process with the demo company and sheet, connects QuickBooks,
//! adds the tracking columns (`migrate`), runs the real daemon loop until every ready row has
//! settled, and shows the sheet before and after, the audit records and a summary.
//! `--country` makes the company one of another country (its tax codes and rules), with the tax
//! code settings `qbsync doctor` would advise for it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Notify;

use super::context::{self, RunFlags};
use crate::domain::Cell;
use crate::sandbox::qbo::SandboxCountry;
use crate::sandbox::{Sandbox, SandboxOptions};
use crate::settings::{LoadOptions, Settings};
use crate::store::AuditQuery;
use crate::sync::Policy;
use crate::sync::{PassError, PassReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `dual` creates bills for money-out rows too; `invoice_only` shows them skipped.
    #[arg(long, default_value = "dual", value_parser = ["invoice_only", "dual"])]
    pub mode: String,
    /// Keep the run's state, logs and settings here (default: a temporary directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Seconds between passes.
    #[arg(long, default_value_t = 2)]
    pub interval: u64,
    /// The sandbox company's country: US (the default demo company), US-AST (automated sales
    /// tax), CA, GB or AU (a tax code on every line).
    #[arg(long, value_name = "COUNTRY")]
    pub country: Option<SandboxCountry>,
}

/// The tax codes (sales, purchase) a company of `country` is set up with for the demo: what
/// `qbsync doctor` asks for there. A US company needs none.
fn demo_tax_codes(country: SandboxCountry) -> Option<(&'static str, &'static str)> {
    match country {
        SandboxCountry::Us | SandboxCountry::UsAutomatedTax => None,
        SandboxCountry::Canada => Some(("HST ON", "HST ON")),
        SandboxCountry::UnitedKingdom => Some(("20.0% S", "20.0% S")),
        SandboxCountry::Australia => Some(("GST", "GST")),
    }
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let temp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let dir = args.dir.clone().unwrap_or_else(|| temp.path().to_path_buf());
    let company_seed = match args.country {
        Some(country) => Some(serde_json::to_string(&country.seed()?).context("cannot write the company seed")?),
        None => None,
    };
    let sandbox = Sandbox::start(SandboxOptions { enforce_limits: true, company_seed, ..SandboxOptions::default() })
        .await
        .context("cannot start the sandbox")?;
    let mut env = super::sandbox::prepare(&sandbox, &dir).await?;
    if let Some((sales, purchase)) = args.country.and_then(demo_tax_codes) {
        env.push(("QB_DEFAULT_TAX_CODE".into(), sales.into()));
        env.push(("QB_DEFAULT_PURCHASE_TAX_CODE".into(), purchase.into()));
    }
    if args.mode == "dual" {
        env.push(("QB_SYNC_MODE".into(), "dual".into()));
        env.push(("QB_ENABLE_BILLS".into(), "true".into()));
    }
    // The tables are the demo's output; the log keeps to warnings (the log file has it all).
    env.push(("QBSYNC_LOG_LEVEL".into(), "warn".into()));
    let settings = Settings::load(&LoadOptions { config_file: None, env_file: None, environment: env })?;
    let _logs = context::init_logging(&settings, true)?;

    let tab = sandbox.options.tab.clone();
    println!("\n== The sheet before ({} tab, sandbox at {}) ==\n", tab, sandbox.base_url());
    print_sheet(
        &sandbox.google.rows(&tab)?,
        &["invoice", "status", "inv_from", "to_client", "end_client", "inv_dollars"],
    );

    let sheets = context::sheets(&settings).await?;
    let approval = settings.sync.require_approval;
    let added =
        super::migrate::add_tracking_columns(&sheets, &settings.sync.columns, args.mode == "dual", approval).await?;
    println!("\n`qbsync migrate` added the tracking columns: {}\n", added.join(", "));

    let tokens = context::tokens(&settings)?;
    let mut engine = context::engine(&settings, tokens).await?;
    let quiet = Arc::new(Notify::new());
    let mut hooks = DemoHooks { settings: settings.clone(), quiet: quiet.clone(), passes: 0 };
    println!("== Running the daemon until every ready row has settled ==\n");
    let stop = quiet.clone();
    crate::daemon::run(&mut engine, &mut hooks, Duration::from_secs(args.interval.max(1)), async move {
        stop.notified().await
    })
    .await;

    let rows = sandbox.google.rows(&tab)?;
    println!("\n== The sheet after ==\n");
    let bills = if args.mode == "dual" { vec!["qb_bill_id", "qb_bill_status"] } else { vec![] };
    let mut columns = vec!["invoice", "inv_dollars", "qb_invoice_id", "qb_sync_status"];
    columns.extend(bills);
    columns.push(ERROR);
    print_sheet(&rows, &columns);

    println!("\n== The audit (newest {} records; `qbsync audit` shows them all) ==\n", 12);
    for entry in engine.store.audit(&AuditQuery { limit: Some(12), ..AuditQuery::default() })? {
        println!(
            "{}  {:<7} {:<9} {:<32} {:<8} {}",
            entry.at,
            entry.kind.as_str(),
            entry.event,
            entry.doc_number.clone().unwrap_or_default(),
            entry.qbo_id.clone().unwrap_or_default(),
            clip(entry.error.as_deref().unwrap_or_default(), 60)
        );
    }

    let invoices = sandbox.qbo.invoices();
    let bills = sandbox.qbo.bills();
    let total = |docs: &[crate::sandbox::qbo::TxnSummary]| {
        let sum: rust_decimal::Decimal = docs.iter().map(|d| d.total).sum();
        format!("{:.2}", sum.round_dp(2))
    };
    println!("\n== Summary ==\n");
    println!(
        "QuickBooks (sandbox company) now holds {} invoices totalling ${} and {} bills totalling ${}.",
        invoices.len(),
        total(&invoices),
        bills.len(),
        total(&bills)
    );
    let status_col = |name: &str| rows.first().and_then(|h| h.iter().position(|c| c.as_text() == name));
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for row in rows.iter().skip(1) {
        for name in ["qb_sync_status", "qb_bill_status"] {
            if let Some(status) = status_col(name).and_then(|c| row.get(c)).filter(|c| !c.is_blank()) {
                *counts.entry(status.as_text().into_owned()).or_default() += 1;
            }
        }
    }
    let parts: Vec<String> = counts.iter().map(|(status, n)| format!("{n} {status}")).collect();
    println!("Rows: {} (after {} passes).", parts.join(", "), hooks.passes);
    if let Some(first) = invoices.first() {
        println!(
            "Each synced row links to its document, e.g. {}",
            engine.qbo.doc_url(crate::qbo::DocKind::Invoice, &first.id)
        );
    }
    if args.dir.is_some() {
        println!("The run's state, logs and settings are in {}.", dir.display());
    }
    Ok(ExitCode::SUCCESS)
}

struct DemoHooks {
    settings: Settings,
    quiet: Arc<Notify>,
    passes: usize,
}

#[async_trait::async_trait(?Send)]
impl crate::daemon::Hooks for DemoHooks {
    fn policy(&mut self) -> anyhow::Result<Policy> {
        context::policy(&self.settings, RunFlags::default())
    }

    async fn pass_finished(
        &mut self,
        _engine: &crate::sync::Engine,
        outcome: &Result<PassReport, PassError>,
        _took: Duration,
    ) {
        self.passes += 1;
        let settled = match outcome {
            Ok(report) => {
                report.idle || (report.created.is_empty() && report.cells_written == 0 && report.uncertain == 0)
            }
            Err(_) => self.passes > 20,
        };
        if settled {
            self.quiet.notify_one();
        }
    }
}

/// A column of the printed table that shows `qb_error`, or `qb_bill_error` when that is empty.
const ERROR: &str = "error";

/// Prints selected columns of a sheet as a table (row numbers as in Sheets).
fn print_sheet(rows: &[Vec<Cell>], columns: &[&str]) {
    let Some(header) = rows.first() else { return };
    let indexes: Vec<Option<usize>> =
        columns.iter().map(|name| header.iter().position(|c| c.as_text().trim().eq_ignore_ascii_case(name))).collect();
    let widths: Vec<usize> = columns
        .iter()
        .map(|name| match *name {
            ERROR => 70,
            "invoice" => 31,
            "to_client" | "end_client" | "inv_from" => 22,
            _ => 14,
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells.iter().zip(&widths).map(|(c, w)| format!("{:<w$}", clip(c, *w), w = *w)).collect::<Vec<_>>().join(" ")
    };
    println!("{:>3} {}", "row", line(columns.iter().map(|c| (*c).to_owned()).collect()));
    for (i, row) in rows.iter().enumerate().skip(1) {
        let text =
            |ix: Option<usize>| ix.and_then(|c| row.get(c)).map(|c| c.as_text().into_owned()).unwrap_or_default();
        let cells = columns
            .iter()
            .zip(&indexes)
            .map(|(name, ix)| match *name {
                ERROR => {
                    let invoice = text(find(header, "qb_error"));
                    if invoice.is_empty() { text(find(header, "qb_bill_error")) } else { invoice }
                }
                _ => text(*ix),
            })
            .collect();
        println!("{:>3} {}", i + 1, line(cells));
    }
}

fn find(header: &[Cell], name: &str) -> Option<usize> {
    header.iter().position(|c| c.as_text().trim().eq_ignore_ascii_case(name))
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(width.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}
