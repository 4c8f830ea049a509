//! Fault injection, per endpoint, reproducible from a seed.
//!
//! Every emulator handler asks [`Faults::decide`] what to do before (and, for writes, after)
//! doing its work. Endpoint names are the constants below, so tests and the control API name
//! the same things the handlers check.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Endpoint names understood by [`Faults`]. A rule set on a prefix (`"qbo"`) applies to every
/// endpoint under it (`"qbo.create"`, `"qbo.batch"`, …) unless a more specific rule exists.
pub mod endpoint {
    pub const GOOGLE_TOKEN: &str = "google.token";
    pub const SHEETS_READ: &str = "sheets.read";
    pub const SHEETS_WRITE: &str = "sheets.write";
    pub const SHEETS_METADATA: &str = "sheets.metadata";
    pub const DRIVE_FILES: &str = "drive.files";
    pub const INTUIT_TOKEN: &str = "intuit.token";
    pub const QBO_CREATE: &str = "qbo.create";
    pub const QBO_BATCH: &str = "qbo.batch";
    pub const QBO_QUERY: &str = "qbo.query";
    pub const QBO_READ: &str = "qbo.read";
    pub const QBO_CDC: &str = "qbo.cdc";
}

/// What one endpoint should suffer. Rates are probabilities in `0.0..=1.0`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRule {
    /// Probability of answering 500, 502 or 503 (the service's own error shape) without doing the work.
    pub error_rate: f64,
    /// The next `throttle_burst` requests are answered 429 with the service's real throttle body.
    pub throttle_burst: u32,
    /// Probability of a 429 on any request.
    pub throttle_rate: f64,
    /// Added to every answer.
    pub latency_ms: u64,
    /// Probability of never answering (the client's timeout fires).
    pub timeout_rate: f64,
    /// Probability that a write is applied and then the connection is closed before the answer.
    pub commit_then_drop_rate: f64,
}

/// The decision for one request, taken before the work is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Before {
    /// Do the work (after sleeping `latency`).
    Proceed { latency: Duration },
    /// Answer with this 5xx status and do nothing.
    ServerError(u16),
    /// Answer 429 and do nothing.
    Throttle,
    /// Never answer.
    Hang,
}

/// Per-endpoint fault rules plus the seeded random source that drives them.
pub struct Faults {
    inner: Mutex<Inner>,
}

struct Inner {
    rules: HashMap<String, FaultRule>,
    rng: StdRng,
}

impl Faults {
    pub fn new(seed: u64) -> Faults {
        Faults { inner: Mutex::new(Inner { rules: HashMap::new(), rng: StdRng::seed_from_u64(seed) }) }
    }

    /// Sets (replaces) the rule for an endpoint or endpoint prefix.
    pub fn set(&self, endpoint: &str, rule: FaultRule) {
        self.lock().rules.insert(endpoint.to_owned(), rule);
    }

    /// Removes every rule.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// The rules in force, for the control API.
    pub fn rules(&self) -> HashMap<String, FaultRule> {
        self.lock().rules.clone()
    }

    /// Decides the fate of one request to `endpoint` before any work is done.
    pub fn decide(&self, endpoint: &str) -> Before {
        let mut inner = self.lock();
        let Some(key) = inner.rule_key(endpoint) else {
            return Before::Proceed { latency: Duration::ZERO };
        };
        let Inner { rules, rng } = &mut *inner;
        let Some(rule) = rules.get_mut(&key) else {
            return Before::Proceed { latency: Duration::ZERO };
        };
        if rule.throttle_burst > 0 {
            rule.throttle_burst -= 1;
            return Before::Throttle;
        }
        let rule = rule.clone();
        if chance(rng, rule.timeout_rate) {
            return Before::Hang;
        }
        if chance(rng, rule.throttle_rate) {
            return Before::Throttle;
        }
        if chance(rng, rule.error_rate) {
            let statuses = [500, 502, 503];
            return Before::ServerError(statuses[rng.gen_range(0..statuses.len())]);
        }
        Before::Proceed { latency: Duration::from_millis(rule.latency_ms) }
    }

    /// Asked after a write was applied: should the connection now be dropped unanswered?
    pub fn drop_after_commit(&self, endpoint: &str) -> bool {
        let mut inner = self.lock();
        let Some(key) = inner.rule_key(endpoint) else { return false };
        let rate = inner.rules.get(&key).map_or(0.0, |r| r.commit_then_drop_rate);
        chance(&mut inner.rng, rate)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// The most specific rule that applies: `qbo.create`, then `qbo`.
    fn rule_key(&self, endpoint: &str) -> Option<String> {
        let mut candidate = endpoint;
        loop {
            if self.rules.contains_key(candidate) {
                return Some(candidate.to_owned());
            }
            candidate = &candidate[..candidate.rfind('.')?];
        }
    }
}

fn chance(rng: &mut StdRng, p: f64) -> bool {
    p > 0.0 && rng.gen_bool(p.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rule_means_proceed() {
        let f = Faults::new(1);
        assert_eq!(f.decide(endpoint::QBO_CREATE), Before::Proceed { latency: Duration::ZERO });
        assert!(!f.drop_after_commit(endpoint::QBO_CREATE));
    }

    #[test]
    fn prefix_rules_apply_and_specific_rules_win() {
        let f = Faults::new(1);
        f.set("qbo", FaultRule { error_rate: 1.0, ..Default::default() });
        f.set(endpoint::QBO_QUERY, FaultRule::default());
        assert!(matches!(f.decide(endpoint::QBO_CREATE), Before::ServerError(500 | 502 | 503)));
        assert_eq!(f.decide(endpoint::QBO_QUERY), Before::Proceed { latency: Duration::ZERO });
    }

    #[test]
    fn throttle_burst_counts_down() {
        let f = Faults::new(1);
        f.set(endpoint::SHEETS_READ, FaultRule { throttle_burst: 2, ..Default::default() });
        assert_eq!(f.decide(endpoint::SHEETS_READ), Before::Throttle);
        assert_eq!(f.decide(endpoint::SHEETS_READ), Before::Throttle);
        assert_eq!(f.decide(endpoint::SHEETS_READ), Before::Proceed { latency: Duration::ZERO });
    }

    #[test]
    fn same_seed_same_decisions() {
        let run = |seed| {
            let f = Faults::new(seed);
            f.set("qbo", FaultRule { error_rate: 0.5, commit_then_drop_rate: 0.3, ..Default::default() });
            (0..50).map(|_| (f.decide("qbo.create"), f.drop_after_commit("qbo.create"))).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
    }
}
