//! Staying under QuickBooks' published limits, and counting what we sent.
//!
//! QuickBooks allows 500 requests a minute, 10 at a time, and 40 batch requests a minute per
//! company (reference §6, §9). Hitting a limit costs a 60-second wait, so qbsync paces itself
//! rather than relying on 429s: a GCRA rate limiter (`governor`) per limit and a semaphore for
//! concurrency. The pacing is per [`super::QboClient`]; share one client per company.
//!
//! When QuickBooks throttles anyway (another app shares the company's quota), the wait it asks
//! for applies to every call of the client, not just the one that was refused: sending more
//! during the wait would only be refused too.
//!
//! A plain `Quota::per_minute(n)` would let `n` requests through at once and then `n` more over
//! the next minute — twice the limit inside one minute. The quotas here allow a small burst `b`
//! and replenish at `n - b` a minute, so no 60-second window ever holds more than `n`.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Which limits a request counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Every request.
    Single,
    /// A batch request: the request limit and the batch limit.
    Batch,
}

pub(crate) struct Pacer {
    requests: DefaultDirectRateLimiter,
    batches: DefaultDirectRateLimiter,
    slots: Arc<Semaphore>,
    /// No request leaves before this instant (set after a throttle).
    paused_until: Mutex<Option<Instant>>,
}

impl Pacer {
    pub fn new(requests_per_minute: u32, batches_per_minute: u32, max_concurrent: usize) -> Result<Pacer, String> {
        let rpm = NonZeroU32::new(requests_per_minute).ok_or("requests_per_minute must be at least 1")?;
        let bpm = NonZeroU32::new(batches_per_minute).ok_or("batches_per_minute must be at least 1")?;
        if max_concurrent == 0 {
            return Err("max_concurrent must be at least 1".into());
        }
        Ok(Pacer {
            requests: RateLimiter::direct(quota(rpm)),
            batches: RateLimiter::direct(quota(bpm)),
            slots: Arc::new(Semaphore::new(max_concurrent.min(Semaphore::MAX_PERMITS))),
            paused_until: Mutex::new(None),
        })
    }

    /// Holds every request of this client back for `wait` (extending, never shortening, a pause).
    pub fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        if let Ok(mut paused) = self.paused_until.lock()
            && paused.is_none_or(|current| current < until)
        {
            *paused = Some(until);
        }
    }

    async fn wait_out_pause(&self) {
        loop {
            let until = self.paused_until.lock().ok().and_then(|paused| *paused);
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// Waits for a concurrency slot, then for the rate limits; the slot is held until the
    /// returned permit is dropped (after the answer's body is read).
    pub async fn admit(&self, lane: Lane) -> Option<OwnedSemaphorePermit> {
        self.wait_out_pause().await;
        // The semaphore is never closed, so this is always `Some`.
        let permit = self.slots.clone().acquire_owned().await.ok();
        if lane == Lane::Batch {
            self.batches.until_ready().await;
        }
        self.requests.until_ready().await;
        permit
    }
}

/// A quota that never admits more than `per_minute` cells in any 60-second window.
pub(crate) fn quota(per_minute: NonZeroU32) -> Quota {
    let n = per_minute.get();
    let burst = (n / 50).clamp(1, 10);
    let steady = n.saturating_sub(burst).max(1);
    match (Quota::with_period(Duration::from_secs(60) / steady), NonZeroU32::new(burst)) {
        (Some(q), Some(b)) => q.allow_burst(b),
        _ => Quota::per_minute(per_minute),
    }
}

/// The least time `count` requests take under a per-minute quota, starting from rest: the
/// burst goes at once, then one request per replenishment period. The benchmark compares what
/// it measured with this, to show whether the pacing or qbsync itself set the pace.
pub fn shortest_span(count: u32, per_minute: u32) -> Duration {
    let Some(per_minute) = NonZeroU32::new(per_minute) else { return Duration::MAX };
    let quota = quota(per_minute);
    let after_burst = count.saturating_sub(quota.burst_size().get());
    quota.replenish_interval() * after_burst
}

/// Counters of what a client did, for metrics and the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallStats {
    /// HTTP requests sent (every attempt, batches included).
    pub calls: u64,
    /// Of which batch requests.
    pub batch_calls: u64,
    /// Answers saying QuickBooks was throttling (429, or fault 3001 under any status).
    pub throttled: u64,
    /// Attempts repeated after a transient failure (token-refresh replays are not counted here).
    pub retries: u64,
    /// Token refreshes after a 401.
    pub token_refreshes: u64,
    /// Writes whose outcome is unknown (the caller reconciles them).
    pub uncertain: u64,
    /// Reads, queries and CDC polls sent (every attempt): Intuit's metered "CorePlus" calls
    /// (reference §6; creates and updates are not metered). The Builder tier allows 500,000 a
    /// month, then answers 429 until the next month.
    pub metered: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    calls: AtomicU64,
    batch_calls: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
    token_refreshes: AtomicU64,
    uncertain: AtomicU64,
    metered: AtomicU64,
}

impl Counters {
    pub fn call(&self, lane: Lane) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if lane == Lane::Batch {
            self.batch_calls.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A read, query or CDC poll sent: a metered CorePlus call.
    pub fn metered(&self) {
        self.metered.fetch_add(1, Ordering::Relaxed);
    }

    pub fn throttled(&self) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
    }

    pub fn retry(&self) {
        self.retries.fetch_add(1, Ordering::Relaxed);
    }

    pub fn token_refresh(&self) {
        self.token_refreshes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn uncertain(&self) {
        self.uncertain.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> CallStats {
        CallStats {
            calls: self.calls.load(Ordering::Relaxed),
            batch_calls: self.batch_calls.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            token_refreshes: self.token_refreshes.load(Ordering::Relaxed),
            uncertain: self.uncertain.load(Ordering::Relaxed),
            metered: self.metered.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    /// How many cells a limiter with `quota` admits over `window`, trying every `step`.
    fn admitted_within(quota: Quota, window: Duration, step: Duration) -> u32 {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        let mut admitted = 0;
        let mut elapsed = Duration::ZERO;
        while elapsed <= window {
            while limiter.check().is_ok() {
                admitted += 1;
            }
            clock.advance(step);
            elapsed += step;
        }
        admitted
    }

    #[test]
    fn no_minute_ever_holds_more_than_the_limit() {
        for (limit, burst) in [(500, 10), (40, 1), (120, 2), (1, 1), (10_000, 10)] {
            let q = quota(NonZeroU32::new(limit).unwrap());
            assert_eq!(q.burst_size().get(), burst, "{limit}");
            // Starting from rest, the first minute (an instant short of it) admits at most `limit`…
            let first =
                admitted_within(q, Duration::from_secs(60) - Duration::from_millis(1), Duration::from_millis(10));
            assert!(first <= limit, "{limit}: {first} in the first minute");
            // …and a long run gives up no more than the burst each minute (at most 2 % for 500).
            let ten = admitted_within(q, Duration::from_secs(600), Duration::from_millis(10));
            assert!(ten >= (limit.saturating_sub(burst).max(1)) * 10, "{limit}: {ten} in ten minutes");
        }
    }

    #[test]
    fn the_shortest_span_is_the_burst_then_one_per_period() {
        // 40 batches a minute: one at once, then one every 60/39 s.
        assert_eq!(shortest_span(1, 40), Duration::ZERO);
        let span = shortest_span(40, 40);
        assert!(span > Duration::from_secs(59) && span <= Duration::from_secs(60), "{span:?}");
        assert_eq!(shortest_span(5, 0), Duration::MAX);
    }

    #[tokio::test]
    async fn concurrency_is_capped() {
        let pacer = Pacer::new(10_000, 10_000, 2).unwrap();
        let a = pacer.admit(Lane::Single).await;
        let b = pacer.admit(Lane::Batch).await;
        assert!(a.is_some() && b.is_some());
        assert_eq!(pacer.slots.available_permits(), 0);
        drop(a);
        assert_eq!(pacer.slots.available_permits(), 1);
        assert!(pacer.admit(Lane::Single).await.is_some());
    }

    #[tokio::test]
    async fn a_pause_holds_back_every_request() {
        let pacer = Pacer::new(10_000, 10_000, 10).unwrap();
        let start = Instant::now();
        pacer.pause_for(Duration::from_millis(60));
        pacer.pause_for(Duration::from_millis(1)); // a shorter pause does not cut the longer one
        let (a, b) = tokio::join!(pacer.admit(Lane::Single), pacer.admit(Lane::Batch));
        assert!(a.is_some() && b.is_some());
        assert!(start.elapsed() >= Duration::from_millis(60), "{:?}", start.elapsed());
    }

    #[test]
    fn invalid_limits_are_refused() {
        assert!(Pacer::new(0, 40, 10).is_err());
        assert!(Pacer::new(500, 0, 10).is_err());
        assert!(Pacer::new(500, 40, 0).is_err());
    }

    #[test]
    fn counters() {
        let c = Counters::default();
        c.call(Lane::Single);
        c.call(Lane::Batch);
        c.throttled();
        c.retry();
        c.token_refresh();
        c.uncertain();
        c.metered();
        assert_eq!(
            c.snapshot(),
            CallStats {
                calls: 2,
                batch_calls: 1,
                throttled: 1,
                retries: 1,
                token_refreshes: 1,
                uncertain: 1,
                metered: 1
            }
        );
    }
}
