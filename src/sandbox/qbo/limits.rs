//! Intuit's published quotas: 500 requests a minute per realm, 10 at once, 40 batches a minute.
//!
//! Sliding windows over the admitted requests, plus an in-flight counter released when the
//! answer is done. The window length is a parameter so a test can prove the limit in
//! milliseconds instead of a minute.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The quotas in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QboLimits {
    /// Requests admitted per window (Intuit: 500 a minute per realm).
    pub requests_per_window: usize,
    /// Batch requests admitted per window (Intuit: 40 a minute per realm and app).
    pub batches_per_window: usize,
    /// Requests in flight at once (Intuit: 10).
    pub max_concurrent: usize,
    /// The window (Intuit: one minute).
    #[serde(with = "millis")]
    pub window: Duration,
}

impl Default for QboLimits {
    fn default() -> Self {
        QboLimits {
            requests_per_window: 500,
            batches_per_window: 40,
            max_concurrent: 10,
            window: Duration::from_secs(60),
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(u64::try_from(value.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_millis)
    }
}

/// Which quota refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    Requests,
    Batches,
    Concurrency,
}

/// Holds one in-flight place until dropped.
pub struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Default)]
struct Windows {
    requests: VecDeque<Instant>,
    batches: VecDeque<Instant>,
}

pub struct RateLimiter {
    limits: Mutex<QboLimits>,
    windows: Mutex<Windows>,
    in_flight: Arc<AtomicUsize>,
}

impl RateLimiter {
    pub fn new(limits: QboLimits) -> RateLimiter {
        RateLimiter { limits: Mutex::new(limits), windows: Mutex::default(), in_flight: Arc::default() }
    }

    pub fn limits(&self) -> QboLimits {
        *self.limits.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replaces the quotas and forgets the requests counted so far.
    pub fn set_limits(&self, limits: QboLimits) {
        *self.limits.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = limits;
        *self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Windows::default();
    }

    /// Admits one request at `now`, or says which quota it would break. Refused requests do
    /// not count against the windows.
    pub fn admit(&self, is_batch: bool, now: Instant) -> Result<Slot, Refusal> {
        let limits = self.limits();
        let previous = self.in_flight.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(self.in_flight.clone());
        if previous >= limits.max_concurrent {
            return Err(Refusal::Concurrency);
        }
        let mut guard = self.windows.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let windows = &mut *guard;
        let horizon = now.checked_sub(limits.window);
        for queue in [&mut windows.requests, &mut windows.batches] {
            while queue.front().is_some_and(|at| horizon.is_some_and(|h| *at <= h)) {
                queue.pop_front();
            }
        }
        if windows.requests.len() >= limits.requests_per_window {
            return Err(Refusal::Requests);
        }
        if is_batch && windows.batches.len() >= limits.batches_per_window {
            return Err(Refusal::Batches);
        }
        windows.requests.push_back(now);
        if is_batch {
            windows.batches.push_back(now);
        }
        Ok(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(requests: usize, batches: usize, concurrent: usize) -> RateLimiter {
        RateLimiter::new(QboLimits {
            requests_per_window: requests,
            batches_per_window: batches,
            max_concurrent: concurrent,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn defaults_are_intuits_published_quotas() {
        let limits = QboLimits::default();
        assert_eq!((limits.requests_per_window, limits.batches_per_window, limits.max_concurrent), (500, 40, 10));
        assert_eq!(limits.window, Duration::from_secs(60));
    }

    #[test]
    fn the_window_slides() {
        let limiter = limiter(2, 10, 10);
        let start = Instant::now();
        assert!(limiter.admit(false, start).is_ok());
        assert!(limiter.admit(false, start + Duration::from_secs(30)).is_ok());
        assert_eq!(limiter.admit(false, start + Duration::from_secs(59)).err(), Some(Refusal::Requests));
        assert!(limiter.admit(false, start + Duration::from_secs(61)).is_ok());
    }

    #[test]
    fn batches_have_their_own_quota() {
        let limiter = limiter(10, 1, 10);
        let now = Instant::now();
        assert!(limiter.admit(true, now).is_ok());
        assert_eq!(limiter.admit(true, now).err(), Some(Refusal::Batches));
        assert!(limiter.admit(false, now).is_ok());
    }

    #[test]
    fn concurrency_is_released_when_the_slot_drops() {
        let limiter = limiter(10, 10, 1);
        let now = Instant::now();
        let held = limiter.admit(false, now).ok();
        assert_eq!(limiter.admit(false, now).err(), Some(Refusal::Concurrency));
        drop(held);
        assert!(limiter.admit(false, now).is_ok());
    }
}
