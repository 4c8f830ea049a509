//! Staying inside Google's per-user quota instead of bouncing off it.
//!
//! A service account is one user: 60 read and 60 write requests per minute for the whole daemon
//! (reference §7). Hitting 429 costs a 30–60 s wait, so qbsync paces itself: every request waits
//! for a slot from a GCRA limiter (the `governor` crate), reads and writes separately.
//!
//! A limiter with burst `B` and one new slot every `T` admits at most `B + 60 s / T` requests in
//! any minute. With `T = 60 s / (N − B)` that is exactly `N`, whatever the timing, so qbsync never
//! exceeds `N` per minute while still sending a short burst (`B = N / 6`, 10 of 60) at once.
//! The price is a sustained rate of `N − B` per minute, far above what a pass needs.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

const MINUTE: Duration = Duration::from_secs(60);

/// The read and write budgets of one Google user.
#[derive(Debug)]
pub(crate) struct Pacer {
    reads: DefaultDirectRateLimiter,
    writes: DefaultDirectRateLimiter,
}

impl Pacer {
    pub fn new(reads_per_minute: u32, writes_per_minute: u32) -> Pacer {
        Pacer {
            reads: RateLimiter::direct(per_minute_quota(reads_per_minute)),
            writes: RateLimiter::direct(per_minute_quota(writes_per_minute)),
        }
    }

    /// Waits for a read slot.
    pub async fn read(&self) {
        self.reads.until_ready().await;
    }

    /// Waits for a write slot.
    pub async fn write(&self) {
        self.writes.until_ready().await;
    }
}

/// A quota that never admits more than `per_minute` requests in any 60-second window
/// (0 is treated as 1).
pub(crate) fn per_minute_quota(per_minute: u32) -> Quota {
    let limit = per_minute.max(1);
    let burst = (limit / 6).max(1);
    let sustained = u64::from(limit - burst);
    let period = if sustained == 0 {
        // One request a minute: the next slot opens just after the minute, not on its last instant.
        MINUTE + Duration::from_millis(1)
    } else {
        // Rounded up: a period a nanosecond short would let one request too many into a minute.
        let nanos = MINUTE.as_nanos() as u64;
        Duration::from_nanos(nanos.div_ceil(sustained))
    };
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    // `with_period` refuses only a zero period, which the arithmetic above cannot produce.
    Quota::with_period(period).unwrap_or_else(|| Quota::per_minute(NonZeroU32::MIN)).allow_burst(burst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    /// Asks greedily every `step` for `span` of simulated time; returns when each request was admitted.
    fn admitted(per_minute: u32, step: Duration, span: Duration) -> Vec<Duration> {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(per_minute_quota(per_minute), clock.clone());
        let mut now = Duration::ZERO;
        let mut times = Vec::new();
        while now <= span {
            while limiter.check().is_ok() {
                times.push(now);
            }
            clock.advance(step);
            now += step;
        }
        times
    }

    fn busiest_minute(times: &[Duration]) -> usize {
        // Closed windows [t, t + 60 s]: the strictest reading of "per minute".
        times
            .iter()
            .map(|&start| times.iter().filter(|&&t| t >= start && t <= start + MINUTE).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn no_minute_ever_sees_more_than_the_limit() {
        for limit in [1, 2, 5, 6, 7, 60, 300] {
            let times = admitted(limit, Duration::from_millis(10), Duration::from_secs(300));
            let busiest = busiest_minute(&times);
            assert!(busiest <= limit as usize, "limit {limit}: {busiest} requests in one minute");
        }
    }

    #[test]
    fn sixty_per_minute_allows_a_burst_of_ten_and_fifty_a_minute_sustained() {
        let times = admitted(60, Duration::from_millis(10), Duration::from_secs(600));
        assert_eq!(times.iter().filter(|t| t.is_zero()).count(), 10, "the burst");
        // 10 at once, then one every 1.2 s: 10 + 500 in ten minutes.
        assert_eq!(times.len(), 510);
    }

    #[test]
    fn zero_is_treated_as_one_per_minute() {
        let times = admitted(0, Duration::from_millis(100), Duration::from_secs(150));
        assert_eq!(times, vec![Duration::ZERO, Duration::from_millis(60_100), Duration::from_millis(120_200)]);
    }
}
