//! Section 5, money coming back (issue 18), run on its own (`qbsync bench --money`): at the
//! shipped `QBSYNC_PAYMENTS_INTERVAL` a run takes about half an hour, so the ordinary benchmark
//! leaves it out.
//!
//! - 5a ([`super::paid`]): seconds from a payment recorded in QuickBooks to its row showing it;
//! - 5b ([`super::metering::idle`]): metered calls a day of an idle company;
//! - 5c ([`super::metering::created`]): metered calls per 1,000 documents created.
//!
//! 5a and 5b each run the real daemon in a sandbox of their own, side by side (both spend
//! their time waiting for the poller's rounds); 5c runs first, alone, since it creates a
//! backlog at QuickBooks' pace.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::metering::{self, CreationMetering, IdleMetering};
use super::paid::{self, PaidFigures, PaidOptions};
use super::sheet;
use super::world::BenchWorld;
use super::{Machine, mib};

/// Documents the idle company follows (5b): what it costs does not depend on how many.
const IDLE_DOCUMENTS: usize = 25;

/// What to measure.
#[derive(Clone, Debug, Serialize)]
pub struct MoneyOptions {
    /// Latency added to every call the sandbox answers.
    pub latency: Duration,
    /// How often the payment poller runs; `None` is `QBSYNC_PAYMENTS_INTERVAL` as shipped (300 s).
    pub payments_interval: Option<Duration>,
    /// 5a: payments, the intervals they are spread over, the seed, the daemon's poll interval.
    pub paid: PaidOptions,
    /// 5b: whole rounds of the poller watched idle.
    pub idle_rounds: usize,
    /// 5c: new documents in the backlog.
    pub documents: usize,
}

impl MoneyOptions {
    /// The figures README records: shipped intervals, 12 payments over 3 intervals, 3 idle
    /// rounds, 1,000 documents.
    pub fn full() -> MoneyOptions {
        MoneyOptions {
            latency: Duration::from_millis(50),
            payments_interval: None,
            paid: PaidOptions { payments: 12, intervals: 3, seed: 18, poll_interval: None },
            idle_rounds: 3,
            documents: 1_000,
        }
    }

    /// Small numbers and short intervals, under a minute: proves the section still works.
    pub fn quick() -> MoneyOptions {
        MoneyOptions {
            latency: Duration::from_millis(50),
            payments_interval: Some(Duration::from_secs(2)),
            paid: PaidOptions { payments: 3, intervals: 2, seed: 18, poll_interval: Some(Duration::from_secs(1)) },
            idle_rounds: 2,
            documents: 60,
        }
    }
}

/// Everything one `qbsync bench --money` run measured.
#[derive(Clone, Debug, Serialize)]
pub struct MoneyReport {
    pub options: MoneyOptions,
    pub machine: Machine,
    pub created: CreationMetering,
    pub paid: PaidFigures,
    pub idle: IdleMetering,
}

/// Runs 5c, then 5a and 5b side by side; `progress` hears what is starting.
pub async fn run(options: MoneyOptions, mut progress: impl FnMut(&str)) -> anyhow::Result<MoneyReport> {
    progress(&format!("5c: creating {} documents and following their money…", options.documents));
    let created = metering::created(world(&options, 1).await?, options.documents).await?;
    progress(&format!(
        "5a, 5b: {} payments over {} payment intervals, and an idle company for {} rounds…",
        options.paid.payments, options.paid.intervals, options.idle_rounds
    ));
    let (paid, idle) =
        tokio::join!(async { paid::run(world(&options, options.paid.payments).await?, &options.paid).await }, async {
            let world = world(&options, IDLE_DOCUMENTS).await?;
            metering::idle(world, options.idle_rounds, options.paid.poll_interval).await
        },);
    Ok(MoneyReport { machine: Machine::this(), created, paid: paid?, idle: idle?, options })
}

/// A world of its own for one figure: `rows` ready rows on a sheet with the money columns, the
/// payment interval as asked.
async fn world(options: &MoneyOptions, rows: usize) -> anyhow::Result<BenchWorld> {
    let mut world = BenchWorld::start(sheet::money_backlog(rows), options.latency, None).await?;
    world.payments_interval = options.payments_interval;
    Ok(world)
}

/// `1 pass`, `2 passes`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl fmt::Display for MoneyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.machine;
        writeln!(
            f,
            "qbsync bench --money {} ({} build) on {} CPUs, {}",
            m.qbsync_version,
            if m.release_build { "release" } else { "debug" },
            m.cpus,
            m.memory_kib
                .map_or("an unknown amount of memory".to_owned(), |k| format!("{:.1} GiB of memory", mib(k) / 1024.0)),
        )?;
        writeln!(
            f,
            "sandbox limits on; {} ms latency per call; shipped [tuning]; \"metered\" = reads, queries and CDC polls (Intuit's CorePlus calls)",
            self.options.latency.as_millis()
        )?;

        let p = &self.paid;
        writeln!(
            f,
            "\n5a. Payment recorded in QuickBooks → row shows it (qb_paid_status paid, qb_balance 0.00); payments polled every {} s, the sheet every {} s",
            p.payments_interval.as_secs(),
            p.poll_interval.as_secs()
        )?;
        writeln!(
            f,
            "   p50 {:.1} s, p95 {:.1} s   ({} payments at moments stratified over {} s = {} payment intervals, seed {}; {} rounds of the poller, {} metered calls)",
            p.p50.as_secs_f64(),
            p.p95.as_secs_f64(),
            p.samples.len(),
            p.spread_over.as_secs(),
            self.options.paid.intervals,
            p.seed,
            p.rounds,
            p.metered_calls
        )?;
        let waits: Vec<String> = p.samples.iter().map(|s| format!("{:.0}", s.as_secs_f64())).collect();
        writeln!(f, "   each, in the order paid (s): {}", waits.join(", "))?;
        if p.failed_passes > 0 {
            writeln!(f, "   {} pass(es) stopped with an error meanwhile", p.failed_passes)?;
        }

        let i = &self.idle;
        writeln!(
            f,
            "\n5b. An idle company ({} documents followed, nothing changing), payments polled every {} s, the sheet every {} s",
            i.documents,
            i.payments_interval.as_secs(),
            i.poll_interval.as_secs()
        )?;
        writeln!(
            f,
            "   {} metered calls ({} CDC polls) in {} rounds over {:.0} s = {:.0} metered calls a day   (scaled: calls × 86,400 s / {:.0} s)",
            i.metered_calls,
            i.cdc_polls,
            i.rounds,
            i.window.as_secs_f64(),
            i.per_day(),
            i.window.as_secs_f64()
        )?;

        let c = &self.created;
        writeln!(f, "\n5c. Creating {} documents on a company already followed", c.documents)?;
        writeln!(
            f,
            "   {} created in {}: {}; then {} of the poller until every row showed its money: {} ({} CDC polls, {} reads and queries in all)",
            c.created,
            count(c.creating_passes as u64, "pass", "passes"),
            count(c.creating_metered, "metered call", "metered calls"),
            count(c.rounds as u64, "round", "rounds"),
            count(c.rounds_metered, "metered call", "metered calls"),
            c.cdc_polls,
            c.reads
        )?;
        writeln!(
            f,
            "   (not counted: {} before the backlog, once per process: the tax setup, the first document and the first round)",
            count(c.before_backlog, "metered call", "metered calls")
        )?;
        write!(
            f,
            "   = {:.1} metered calls per 1,000 documents created{}",
            c.per_thousand(),
            if c.documents == 1000 { String::new() } else { format!(" (scaled: calls × 1,000 / {})", c.documents) }
        )
    }
}
