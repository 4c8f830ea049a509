//! `qbsync void`: takes back documents qbsync created — by number, sheet row or pass.
//!
//! It says what it will do and asks before doing it (`--yes` for scripts; without a terminal
//! and without `--yes` it refuses, so a cron line cannot void by accident). Undos an earlier
//! run left unconfirmed are settled first. The flow itself is [`crate::sync::undo`]'s.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, bail};

use super::context;
use super::lock::InstanceLock;
use crate::settings::LoadOptions;
use crate::store::{DocRecord, Store, UndoOp};
use crate::sync::undo::{self, Outcome, Target, Undoable};

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["doc", "row", "pass"])))]
pub struct Args {
    /// The document with this number (the sheet's `invoice` column).
    #[arg(long, value_name = "NUMBER")]
    pub doc: Option<String>,
    /// The document of sheet row N (1-based, as numbered in Google Sheets).
    #[arg(long, value_name = "N")]
    pub row: Option<i64>,
    /// Every document one pass created (`qbsync audit` shows pass ids).
    #[arg(long, value_name = "ID")]
    pub pass: Option<String>,
    /// Why, recorded in the audit with who asked and when.
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// Go ahead without asking (for scripts).
    #[arg(long)]
    pub yes: bool,
}

impl Args {
    fn target(&self) -> Target {
        match (&self.doc, self.row, &self.pass) {
            (Some(number), _, _) => Target::Doc(number.trim().to_owned()),
            (_, Some(row), _) => Target::Row(row),
            (_, _, Some(pass)) => Target::Pass(pass.trim().to_owned()),
            // clap's group requires exactly one.
            (None, None, None) => Target::Pass(String::new()),
        }
    }
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    let settings = context::load_settings(load)?;
    let _logs = context::init_logging(&settings, true)?;
    let reason = args.reason.trim();
    anyhow::ensure!(!reason.is_empty(), "--reason must say why: it is recorded in the audit");
    let path = settings.paths.state_dir.join("qbsync.sqlite3");
    anyhow::ensure!(path.exists(), "there is no state database at {}: qbsync has created nothing yet", path.display());
    // One qbsync per store: a pass running meanwhile would plan on what this changes.
    let _lock = InstanceLock::acquire(&settings.paths.state_dir)?;
    let store = Store::open(&path)?;
    context::claim_home(&settings, &store)?;
    let qbo = context::qbo(&settings, context::tokens(&settings)?)?;

    let mut clean = true;
    let earlier = undo::settle_pending(&store, &qbo).await.context("settling an earlier void")?;
    if !earlier.is_empty() {
        println!("An earlier `qbsync void` left {} unconfirmed; settled first:", earlier.len());
        for (doc, outcome) in &earlier {
            clean &= report(doc, outcome);
        }
    }

    let target = args.target();
    let items = match undo::select(&store, &target, &settings.sync.doc_number_prefix) {
        Ok(items) => items,
        Err(error) if !earlier.is_empty() => {
            println!("{error}");
            return Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        Err(error) => return Err(error.into()),
    };
    println!("qbsync will take back {} document(s) for {target}:", items.len());
    for item in &items {
        println!("  {}", describe(item));
    }
    if !args.yes && !confirmed()? {
        println!("Nothing was changed.");
        return Ok(ExitCode::FAILURE);
    }

    for item in &items {
        let outcome = undo::take_back(&store, &qbo, item, reason, &actor()).await.context("voiding")?;
        clean &= report(&item.doc, &outcome);
    }
    println!(
        "The sheet shows `voided` on these rows after the next pass (the daemon's next poll, or `qbsync run-once`)."
    );
    Ok(if clean { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One line saying what will be done to a document.
fn describe(item: &Undoable) -> String {
    let doc = &item.doc;
    let verb = match item.operation {
        UndoOp::Void => "void",
        UndoOp::Delete => "delete (QuickBooks voids only invoices through its API)",
    };
    format!(
        "{verb} {} {} (QuickBooks id {}, total {}, {} row(s) on the sheet)",
        doc.doc_kind,
        doc.doc_number.as_deref().unwrap_or("(no number)"),
        doc.qbo_id.as_deref().unwrap_or("?"),
        doc.total,
        doc.row_keys.len(),
    )
}

/// Prints the outcome for `doc`; true when it was taken back.
fn report(doc: &DocRecord, outcome: &Outcome) -> bool {
    let name = format!("{} {}", doc.doc_kind, doc.doc_number.as_deref().unwrap_or("(no number)"));
    match outcome {
        Outcome::Done(UndoOp::Void) => println!("voided {name}"),
        Outcome::Done(UndoOp::Delete) => println!("deleted {name}"),
        Outcome::Refused(why) => println!("NOT taken back: {name}: {why}"),
        Outcome::Uncertain(why) => {
            println!("unconfirmed: {name}: {why}; the next `qbsync void` checks QuickBooks and finishes it")
        }
    }
    matches!(outcome, Outcome::Done(_))
}

/// Asks on the terminal; refuses without one (a script must say `--yes`).
fn confirmed() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("not a terminal, so nobody can confirm: pass --yes to take these documents back from a script");
    }
    print!("Take them back? [y/N] ");
    std::io::stdout().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Who ran the command, for the audit: the OS user.
fn actor() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}
