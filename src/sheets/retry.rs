//! Trying a call again when Google's trouble is temporary.
//!
//! Sheets sends no `Retry-After` on 429 (reference §7), and its quota refills per minute, so a
//! throttled call waits 30–60 × `backoff_base` (30–60 s by default) before the next attempt;
//! other transient failures back off exponentially from `backoff_base`, with jitter so that
//! retries do not march in step. A 401 gets one immediate attempt with a forced token refresh.
//! What outlasts `max_attempts` becomes [`SheetsError::Unavailable`]: the pass gives up on the
//! call, and the next pass tries again.

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use super::error::{Failure, SheetsError};
use super::hub::TokenProvider;
use super::stats::Counters;

/// How often and how patiently to try.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The first transient backoff; throttling waits 30–60 times this.
    pub base: Duration,
}

/// A throttled call waits between these multiples of the base.
const THROTTLE_MIN: u32 = 30;
const THROTTLE_MAX: u32 = 60;
/// Exponential backoff stops growing at this multiple of the base.
const BACKOFF_CAP: u32 = 32;

impl RetryPolicy {
    /// The wait before attempt `attempt + 1`, after `failure` ended attempt `attempt` (1-based).
    /// `unit` in `[0, 1)` is the jitter draw, a parameter so the bounds can be tested.
    pub fn delay(&self, failure: &Failure, attempt: u32, unit: f64) -> Duration {
        let unit = unit.clamp(0.0, 1.0);
        match failure {
            Failure::Throttled(_) => {
                let spread = f64::from(THROTTLE_MAX - THROTTLE_MIN);
                self.base.mul_f64(f64::from(THROTTLE_MIN) + spread * unit)
            }
            Failure::Unauthenticated(_) | Failure::Fatal(_) => Duration::ZERO,
            Failure::Transient(_) => {
                let exponent = attempt.saturating_sub(1).min(BACKOFF_CAP.ilog2());
                let ceiling = self.base * (1u32 << exponent);
                // "Equal jitter": at least half the ceiling, so a retry never comes straight back.
                ceiling.mul_f64(0.5 + 0.5 * unit)
            }
        }
    }

    /// Runs `op` (given the 1-based attempt number) until it succeeds, fails for good, or the
    /// attempts run out. `scope` is the OAuth scope `op` uses, refreshed after a 401.
    pub async fn run<T, F, Fut>(
        &self,
        what: &str,
        scope: &str,
        counters: &Counters,
        tokens: &TokenProvider,
        mut op: F,
    ) -> Result<T, SheetsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let max_attempts = self.max_attempts.max(1);
        let mut refreshed = false;
        let mut attempt = 1;
        loop {
            let failure = match op(attempt).await {
                Ok(value) => return Ok(value),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(failure) => failure,
            };
            if let Failure::Throttled(_) = failure {
                counters.throttled();
            }
            if let Failure::Unauthenticated(reason) = &failure {
                // One forced refresh; a second 401, or a token that cannot be refreshed, is final.
                if refreshed || !tokens.force_refresh(scope) {
                    return Err(SheetsError::Credentials {
                        reason: format!("Google refused the access token ({reason})"),
                    });
                }
                refreshed = true;
            }
            if attempt >= max_attempts {
                return Err(exhausted(what, attempt, failure));
            }
            let delay = self.delay(&failure, attempt, rand::thread_rng().r#gen::<f64>());
            tracing::warn!(call = what, attempt, max_attempts, ?delay, failure = ?failure, "Google Sheets call failed; retrying");
            counters.retried();
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }
}

fn exhausted(what: &str, attempts: u32, failure: Failure) -> SheetsError {
    match failure {
        Failure::Throttled(reason) | Failure::Transient(reason) => {
            SheetsError::Unavailable { reason: format!("{what} failed {attempts} time(s), last: {reason}") }
        }
        Failure::Unauthenticated(reason) => {
            SheetsError::Credentials { reason: format!("Google refused the access token ({reason})") }
        }
        Failure::Fatal(error) => error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { max_attempts: 5, base: Duration::from_secs(1) };

    #[test]
    fn throttling_waits_thirty_to_sixty_bases() {
        let throttled = Failure::Throttled("429".into());
        assert_eq!(POLICY.delay(&throttled, 1, 0.0), Duration::from_secs(30));
        assert_eq!(POLICY.delay(&throttled, 4, 1.0), Duration::from_secs(60));
        let fast = RetryPolicy { max_attempts: 3, base: Duration::from_millis(1) };
        assert_eq!(fast.delay(&throttled, 1, 0.5), Duration::from_millis(45));
    }

    #[test]
    fn transient_backoff_doubles_with_jitter_and_is_capped() {
        let transient = Failure::Transient("503".into());
        assert_eq!(POLICY.delay(&transient, 1, 1.0), Duration::from_secs(1));
        assert_eq!(POLICY.delay(&transient, 1, 0.0), Duration::from_millis(500));
        assert_eq!(POLICY.delay(&transient, 2, 1.0), Duration::from_secs(2));
        assert_eq!(POLICY.delay(&transient, 3, 1.0), Duration::from_secs(4));
        assert_eq!(POLICY.delay(&transient, 6, 1.0), Duration::from_secs(32));
        assert_eq!(POLICY.delay(&transient, 60, 1.0), Duration::from_secs(32));
        assert_eq!(POLICY.delay(&transient, u32::MAX, 0.0), Duration::from_secs(16));
    }

    #[test]
    fn a_refused_token_is_retried_at_once() {
        assert_eq!(POLICY.delay(&Failure::Unauthenticated("401".into()), 1, 0.7), Duration::ZERO);
    }

    #[test]
    fn exhausted_transient_trouble_is_unavailable_and_says_how_often() {
        let error = exhausted("values.get", 3, Failure::Transient("HTTP 503 UNAVAILABLE".into()));
        assert_eq!(
            error,
            SheetsError::Unavailable { reason: "values.get failed 3 time(s), last: HTTP 503 UNAVAILABLE".into() }
        );
        assert!(matches!(exhausted("x", 1, Failure::Unauthenticated("401".into())), SheetsError::Credentials { .. }));
    }
}
