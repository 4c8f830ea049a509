//! When to try again: exponential back-off with jitter, and QuickBooks' throttling wait.
//!
//! Only [`super::QboError::Transient`] failures are retried, and only inside the attempt budget;
//! a write whose outcome is uncertain is never retried here (the engine looks the document up
//! first). Jitter spreads the retries of many rows that failed together, so they do not return
//! as one burst and trip the limit again. After a 429 QuickBooks asks for 60 seconds
//! (reference §9); a `Retry-After` header, if one is ever sent, wins.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The first back-off; doubled on each further retry.
    pub base_delay: Duration,
    /// The wait after a throttle without `Retry-After`; also the back-off cap.
    pub throttle_delay: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first), or `None` when the wait asked for
    /// is too long to spend inside one call (the caller gets the error with `retry_after` instead).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if let Some(asked) = retry_after {
            if asked > self.throttle_delay.saturating_mul(2) {
                return None;
            }
            // Up to 10 % later, so that clients released together do not return together.
            return Some(asked + jitter(Duration::ZERO, asked / 10));
        }
        let cap = self.throttle_delay.max(self.base_delay);
        let exp = self.base_delay.saturating_mul(1u32 << retry.saturating_sub(1).min(20)).min(cap);
        // "Equal jitter": between half and all of the exponential delay.
        Some(jitter(exp / 2, exp))
    }
}

fn jitter(low: Duration, high: Duration) -> Duration {
    if high <= low {
        return low;
    }
    let nanos = rand::thread_rng().gen_range(low.as_nanos()..=high.as_nanos());
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// Reads a `Retry-After` value: delta-seconds or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy =
        RetryPolicy { max_attempts: 5, base_delay: Duration::from_secs(1), throttle_delay: Duration::from_secs(60) };

    #[test]
    fn back_off_doubles_with_jitter_and_is_capped() {
        for _ in 0..50 {
            for (retry, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (40, 60)] {
                let d = POLICY.delay(retry, None).unwrap();
                let full = Duration::from_secs(full);
                assert!(d >= full / 2 && d <= full, "retry {retry}: {d:?}");
            }
        }
    }

    #[test]
    fn asked_waits_are_honoured_or_handed_back() {
        let d = POLICY.delay(1, Some(Duration::from_secs(60))).unwrap();
        assert!(d >= Duration::from_secs(60) && d <= Duration::from_secs(66), "{d:?}");
        assert_eq!(POLICY.delay(1, Some(Duration::ZERO)), Some(Duration::ZERO));
        assert_eq!(POLICY.delay(1, Some(Duration::from_secs(3600))), None);
    }

    #[test]
    fn retry_after_values() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }
}
