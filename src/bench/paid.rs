//! Section 5a: from a payment recorded in QuickBooks to the row showing it, with the real
//! daemon loop at the shipped `QBSYNC_PAYMENTS_INTERVAL`.
//!
//! Nothing on the sheet changes when a bookkeeper records a payment in QuickBooks, so only the
//! payment poller can notice it: a payment waits for the next round (due every
//! `QBSYNC_PAYMENTS_INTERVAL`, run by the first pass after it falls due, and a quiet sheet has
//! a pass every `QBSYNC_POLL_INTERVAL`), then for that round's write-back. The payments are
//! recorded at seeded random moments stratified over a whole number of intervals — the span cut
//! into one equal slice per payment, one payment at a uniform moment of each — so the moment of
//! paying is a uniform sample of the poller's phase, with less spread than independent draws.
//! Each is a full payment of one invoice, recorded through the sandbox's control API as a
//! bookkeeper records it in QuickBooks; the wait ends when the row shows `paid` and a balance
//! of `0.00`, watched in the emulator (which costs no quota). Nothing is simulated: the clock,
//! the daemon, the clients and the quotas are real.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;
use tokio::time::Instant;

use super::latency::quantile;
use super::rounds::{self, Watched};
use super::sheet;
use super::world::BenchWorld;
use crate::domain::Cell;
use crate::sandbox::qbo::EntityKind;

/// How often the watcher looks at the sheet.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// What to measure.
#[derive(Clone, Debug, Serialize)]
pub struct PaidOptions {
    /// Payments recorded (one invoice each).
    pub payments: usize,
    /// Whole payment intervals the payments are spread over.
    pub intervals: u32,
    /// The seed of the moments of paying.
    pub seed: u64,
    /// The daemon's poll interval; `None` is the shipped one.
    pub poll_interval: Option<Duration>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PaidFigures {
    pub payments_interval: Duration,
    pub poll_interval: Duration,
    pub seed: u64,
    /// The span the payments were recorded over: `intervals` payment intervals.
    pub spread_over: Duration,
    /// From each payment to its row showing it, in the order recorded.
    pub samples: Vec<Duration>,
    pub p50: Duration,
    pub p95: Duration,
    /// Rounds of the poller the daemon ran meanwhile, and the metered calls they made.
    pub rounds: usize,
    pub metered_calls: u64,
    /// Passes that stopped with an error meanwhile.
    pub failed_passes: usize,
}

/// One invoice to pay: its row's number, its QuickBooks id and its balance.
struct Target {
    number: String,
    id: String,
    balance: Decimal,
}

/// Runs figure 5a in `world` (a sandbox holding a [`sheet::money_backlog`] of `payments` rows).
pub async fn run(world: BenchWorld, options: &PaidOptions) -> anyhow::Result<PaidFigures> {
    let mut engine = world.engine().await?;
    rounds::settled_world(&world, &mut engine).await?;
    let invoices = world.sandbox.qbo.invoices();
    let targets = (0..options.payments)
        .map(|i| {
            let number = sheet::invoice_number(i);
            let invoice = invoices
                .iter()
                .find(|inv| inv.doc_number.as_deref() == Some(number.as_str()))
                .with_context(|| format!("{number} was not created"))?;
            Ok(Target { number, id: invoice.id.clone(), balance: invoice.balance })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let payments_interval = world.payments_interval();
    let spread_over = payments_interval * options.intervals.max(1);
    let moments = stratified(options.payments, spread_over, options.seed);
    let schedule = rounds::schedule(&world.settings, options.poll_interval);
    // The last payment waits at most an interval, then a poll, then a pass; a minute to spare.
    let deadline = spread_over + payments_interval + schedule.full_interval * 2 + Duration::from_secs(60);

    let watched = Arc::new(Mutex::new(Watched::default()));
    let metered_before = engine.qbo.stats().metered;
    let bookkeeper = pay_and_watch(&world, &targets, &moments, deadline);
    let seen = rounds::alongside(&mut engine, &world.settings, schedule, watched.clone(), bookkeeper).await;
    let seen = seen?;

    let samples: Vec<Duration> = seen.iter().flatten().copied().collect();
    if samples.len() < options.payments {
        bail!("only {} of {} payments showed on their rows in time", samples.len(), options.payments);
    }
    let watched = rounds::lock(&watched);
    Ok(PaidFigures {
        payments_interval,
        poll_interval: schedule.full_interval,
        seed: options.seed,
        spread_over,
        p50: quantile(&samples, 0.50),
        p95: quantile(&samples, 0.95),
        samples,
        rounds: watched.rounds.len(),
        metered_calls: watched.rounds.last().map_or(0, |r| r.metered.saturating_sub(metered_before)),
        failed_passes: watched.failed_passes,
    })
}

/// `count` moments in `span`, one at a uniform place in each of `count` equal slices, from
/// `seed`; in order.
pub fn stratified(count: usize, span: Duration, seed: u64) -> Vec<Duration> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..count).map(|slice| span.mul_f64((slice as f64 + rng.r#gen::<f64>()) / count as f64)).collect()
}

/// Records each payment at its moment (counted from now), watching the rows all the while.
/// Returns each payment's wait until its row showed it, `None` for one that did not within
/// `deadline`.
async fn pay_and_watch(
    world: &BenchWorld,
    targets: &[Target],
    moments: &[Duration],
    deadline: Duration,
) -> anyhow::Result<Vec<Option<Duration>>> {
    let google = &world.sandbox.google;
    let column = |name: &str| google.header_index(world.tab(), name);
    let (invoice, status, balance) = (column("invoice")?, column("qb_paid_status")?, column("qb_balance")?);
    let start = Instant::now();
    let mut recorded: Vec<Instant> = Vec::with_capacity(targets.len());
    let mut seen: Vec<Option<Duration>> = vec![None; targets.len()];
    loop {
        while let Some(target) =
            targets.get(recorded.len()).filter(|_| start + moments[recorded.len()] <= Instant::now())
        {
            world.sandbox.qbo.record_payment(EntityKind::Invoice, &target.id, target.balance)?;
            recorded.push(Instant::now());
        }
        let sheet = google.rows(world.tab())?;
        let now = Instant::now();
        for ((target, at), slot) in targets.iter().zip(&recorded).zip(seen.iter_mut()) {
            let text = |row: &Vec<Cell>, col: usize| row.get(col).map(|c| c.trimmed().into_owned()).unwrap_or_default();
            let row = sheet.iter().find(|row| text(row, invoice) == target.number);
            if slot.is_none() && row.is_some_and(|row| text(row, status) == "paid" && text(row, balance) == "0.00") {
                *slot = Some(now - *at);
            }
        }
        if (recorded.len() == targets.len() && seen.iter().all(Option::is_some)) || now - start >= deadline {
            return Ok(seen);
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_moments_of_paying_are_one_per_slice_in_order_and_follow_the_seed() {
        let span = Duration::from_secs(900);
        let moments = stratified(12, span, 18);
        assert_eq!(moments.len(), 12);
        for (slice, moment) in moments.iter().enumerate() {
            let (from, to) = (span * slice as u32 / 12, span * (slice as u32 + 1) / 12);
            assert!(from <= *moment && *moment <= to, "{moment:?} in slice {slice}");
        }
        assert_eq!(stratified(12, span, 18), moments, "the same seed, the same moments");
        assert_ne!(stratified(12, span, 19), moments);
    }
}
