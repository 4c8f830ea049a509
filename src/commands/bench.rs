//! `qbsync bench`: the throughput, cost, latency and idle figures of issue 6, measured against
//! the in-process sandbox with the published limits on. See [`crate::bench`] for what each
//! figure means and README for the figures of a release build.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::bench::{self, BenchOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Ready rows in the backlog [default: 5000; 90 with --quick].
    #[arg(long, value_name = "N")]
    pub rows: Option<usize>,
    /// Latency the sandbox adds to every call, in milliseconds [default: 50].
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Rows of the settled sheet the large-sheet passes read [default: 50000; 2000 with --quick].
    #[arg(long, value_name = "N")]
    pub idle_rows: Option<usize>,
    /// Seconds between the daemon's polls for the latency figure, and with --money for the
    /// payment and idle figures [default: the shipped poll interval, 60; with --quick 4, or 1
    /// with --money].
    #[arg(long, value_name = "SECS")]
    pub interval: Option<u64>,
    /// Rows appended for the latency figure [default: 12; 3 with --quick].
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Small numbers: a run of a few seconds that proves the benchmark works.
    #[arg(long)]
    pub quick: bool,
    /// Print the figures as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Internal: run one phase of the large-sheet passes of section 4 and report them on stdout.
    #[arg(long, hide = true, value_name = "PHASE")]
    pub large_child: Option<bench::large::Phase>,
    /// Busy passes measured over the sealed history [default: 7; 3 with --quick].
    #[arg(long, value_name = "N")]
    pub busy_passes: Option<usize>,
    /// Section 5 alone, money coming back: payment → row, metered calls idle and per 1,000
    /// documents. About half an hour at the shipped payment interval.
    #[arg(long)]
    pub money: bool,
    /// With --money: payments recorded in QuickBooks [default: 12; 3 with --quick].
    #[arg(long, value_name = "N", requires = "money")]
    pub payments: Option<usize>,
    /// With --money: whole payment intervals the payments are spread over [default: 3; 2 with --quick].
    #[arg(long, value_name = "N", requires = "money")]
    pub payment_intervals: Option<u32>,
    /// With --money: how often the payment poller runs, in seconds, as QBSYNC_PAYMENTS_INTERVAL
    /// but below its 30 s floor too [default: the shipped 300; 2 with --quick].
    #[arg(long, value_name = "SECS", requires = "money")]
    pub payments_interval: Option<u64>,
    /// With --money: whole rounds of the poller watched on the idle company [default: 3; 2 with --quick].
    #[arg(long, value_name = "N", requires = "money")]
    pub idle_rounds: Option<usize>,
    /// With --money: documents created for the metered calls per 1,000 [default: 1000; 60 with --quick].
    #[arg(long, value_name = "N", requires = "money")]
    pub documents: Option<usize>,
    /// With --money: the seed of the moments the payments are recorded [default: 18].
    #[arg(long, value_name = "N", requires = "money")]
    pub seed: Option<u64>,
}

pub async fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(phase) = args.large_child {
        let figures =
            bench::large::child(args.idle_rows.unwrap_or_default(), phase, args.busy_passes.unwrap_or(1)).await?;
        println!("{}", serde_json::to_string(&figures)?);
        return Ok(ExitCode::SUCCESS);
    }
    if args.money {
        return money(args).await;
    }
    let exe = std::env::current_exe().context("cannot find the qbsync executable for the large-sheet passes")?;
    let mut options = if args.quick { BenchOptions::quick(exe) } else { BenchOptions::full(exe) };
    if let Some(rows) = args.rows {
        options.rows = rows;
    }
    if let Some(ms) = args.latency_ms {
        options.latency = Duration::from_millis(ms);
    }
    if let Some(rows) = args.idle_rows {
        options.idle_rows = rows;
    }
    if let Some(passes) = args.busy_passes {
        options.busy_passes = passes.max(1);
    }
    if let Some(secs) = args.interval {
        options.poll_interval = Some(Duration::from_secs(secs));
    }
    if let Some(samples) = args.samples {
        options.samples = samples;
    }
    if !args.json {
        eprintln!(
            "qbsync bench: {} backlog rows, {} appended rows, {} idle rows; this takes {}",
            options.rows,
            options.samples,
            options.idle_rows,
            if args.quick { "a few seconds" } else { "about a quarter of an hour" }
        );
    }
    let report = bench::run(options, |step| eprintln!("{step}")).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `qbsync bench --money`: section 5 alone.
async fn money(args: Args) -> anyhow::Result<ExitCode> {
    let mut options = if args.quick { bench::MoneyOptions::quick() } else { bench::MoneyOptions::full() };
    if let Some(ms) = args.latency_ms {
        options.latency = Duration::from_millis(ms);
    }
    if let Some(secs) = args.payments_interval {
        options.payments_interval = Some(Duration::from_secs(secs.max(1)));
    }
    if let Some(secs) = args.interval {
        options.paid.poll_interval = Some(Duration::from_secs(secs.max(1)));
    }
    if let Some(payments) = args.payments {
        options.paid.payments = payments.max(1);
    }
    if let Some(intervals) = args.payment_intervals {
        options.paid.intervals = intervals.max(1);
    }
    if let Some(seed) = args.seed {
        options.paid.seed = seed;
    }
    if let Some(rounds) = args.idle_rounds {
        options.idle_rounds = rounds.max(1);
    }
    if let Some(documents) = args.documents {
        options.documents = documents.max(1);
    }
    if !args.json {
        eprintln!(
            "qbsync bench --money: {} payments over {} payment intervals, {} idle rounds, {} documents; this takes {}",
            options.paid.payments,
            options.paid.intervals,
            options.idle_rounds,
            options.documents,
            if options.payments_interval.is_some() { "a while" } else { "about half an hour" }
        );
    }
    let report = bench::money::run(options, |step| eprintln!("{step}")).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}
