//! Sheets quotas: read and write requests per minute, per user and per project.
//!
//! Google publishes 60 reads and 60 writes per minute per user per project, and 300 of each
//! per project; a batch counts as one request; `developerMetadata.get`/`search` are reads. Over
//! quota the answer is HTTP 429 `RESOURCE_EXHAUSTED` with the body recorded in
//! `error_429_resource_exhausted_read_quota.json`, and no `Retry-After`. The sandbox counts in
//! a sliding window whose length tests can shorten, so "after the window, requests succeed
//! again" is provable without waiting a minute.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::error::ApiError;

/// The project number the sandbox's quota messages name.
pub const PROJECT_NUMBER: &str = "100000000001";

/// Limits and window; defaults are Google's published ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaConfig {
    pub window: Duration,
    pub per_user: u32,
    pub per_project: u32,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        QuotaConfig { window: Duration::from_secs(60), per_user: 60, per_project: 300 }
    }
}

/// Which bucket a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Read,
    Write,
}

/// Which limit was hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    User,
    Project,
}

#[derive(Default)]
struct Window {
    users: HashMap<String, VecDeque<Instant>>,
    project: VecDeque<Instant>,
}

/// The counters, shared by every handler.
pub struct Quotas {
    enabled: AtomicBool,
    state: Mutex<(QuotaConfig, HashMap<Kind, Window>)>,
}

impl Quotas {
    pub fn new(enabled: bool) -> Quotas {
        Quotas { enabled: AtomicBool::new(enabled), state: Mutex::new((QuotaConfig::default(), HashMap::new())) }
    }

    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::SeqCst);
    }

    pub fn enabled(&self) -> bool {
        self.enabled.load(Ordering::SeqCst)
    }

    pub fn config(&self) -> QuotaConfig {
        self.lock().0
    }

    /// Replaces limits and window; requests already counted stay counted (under the new window).
    pub fn set_config(&self, config: QuotaConfig) {
        self.lock().0 = config;
    }

    /// Forgets every counted request.
    pub fn reset(&self) {
        self.lock().1.clear();
    }

    /// Counts one request by `user`, or says which limit it would exceed (and does not count it).
    pub fn admit(&self, kind: Kind, user: &str) -> Result<(), ApiError> {
        if !self.enabled() {
            return Ok(());
        }
        let now = Instant::now();
        let mut state = self.lock();
        let (config, windows) = &mut *state;
        let window = windows.entry(kind).or_default();
        let cutoff = now.checked_sub(config.window);
        let expire = |q: &mut VecDeque<Instant>| {
            while q.front().is_some_and(|t| cutoff.is_some_and(|c| *t <= c)) {
                q.pop_front();
            }
        };
        expire(&mut window.project);
        let user_queue = window.users.entry(user.to_owned()).or_default();
        expire(user_queue);
        if user_queue.len() >= config.per_user as usize {
            return Err(exceeded(kind, Scope::User, config.per_user));
        }
        if window.project.len() >= config.per_project as usize {
            return Err(exceeded(kind, Scope::Project, config.per_project));
        }
        user_queue.push_back(now);
        window.project.push_back(now);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (QuotaConfig, HashMap<Kind, Window>)> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The 429 Google sends, for reads or writes, per user or per project.
pub fn exceeded(kind: Kind, scope: Scope, limit: u32) -> ApiError {
    let (metric_name, metric) = match kind {
        Kind::Read => ("Read requests", "read_requests"),
        Kind::Write => ("Write requests", "write_requests"),
    };
    let (limit_name, limit_id, unit) = match (kind, scope) {
        (Kind::Read, Scope::User) => {
            ("Read requests per minute per user", "ReadRequestsPerMinutePerUser", "1/min/{project}/{user}")
        }
        (Kind::Write, Scope::User) => {
            ("Write requests per minute per user", "WriteRequestsPerMinutePerUser", "1/min/{project}/{user}")
        }
        (Kind::Read, Scope::Project) => {
            ("Read requests per minute", "ReadRequestsPerMinutePerProject", "1/min/{project}")
        }
        (Kind::Write, Scope::Project) => {
            ("Write requests per minute", "WriteRequestsPerMinutePerProject", "1/min/{project}")
        }
    };
    let message = format!(
        "Quota exceeded for quota metric '{metric_name}' and limit '{limit_name}' of service 'sheets.googleapis.com' \
         for consumer 'project_number:{PROJECT_NUMBER}'."
    );
    let details = json!([
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "RATE_LIMIT_EXCEEDED",
            "domain": "googleapis.com",
            "metadata": {
                "quota_limit_value": limit.to_string(),
                "service": "sheets.googleapis.com",
                "consumer": format!("projects/{PROJECT_NUMBER}"),
                "quota_unit": unit,
                "quota_location": "global",
                "quota_metric": format!("sheets.googleapis.com/{metric}"),
                "quota_limit": limit_id,
            }
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Request a higher quota limit.", "url": "https://cloud.google.com/docs/quotas/help/request_increase"}]
        }
    ]);
    ApiError::resource_exhausted(message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_limit_then_project_limit() {
        let q = Quotas::new(true);
        q.set_config(QuotaConfig { window: Duration::from_secs(60), per_user: 2, per_project: 3 });
        assert!(q.admit(Kind::Read, "a").is_ok());
        assert!(q.admit(Kind::Read, "a").is_ok());
        let user = q.admit(Kind::Read, "a").unwrap_err();
        assert!(user.message.contains("'Read requests per minute per user'"));
        assert!(q.admit(Kind::Write, "a").is_ok(), "writes have their own bucket");
        assert!(q.admit(Kind::Read, "b").is_ok());
        let project = q.admit(Kind::Read, "c").unwrap_err();
        assert_eq!(
            project.to_json()["error"]["details"][0]["metadata"]["quota_limit"],
            "ReadRequestsPerMinutePerProject"
        );
    }

    #[test]
    fn a_shorter_window_frees_old_requests() {
        let q = Quotas::new(true);
        q.set_config(QuotaConfig { per_user: 1, ..QuotaConfig::default() });
        q.admit(Kind::Write, "a").unwrap();
        assert!(q.admit(Kind::Write, "a").is_err());
        q.set_config(QuotaConfig { per_user: 1, window: Duration::from_millis(1), ..QuotaConfig::default() });
        std::thread::sleep(Duration::from_millis(5));
        assert!(q.admit(Kind::Write, "a").is_ok());
    }

    #[test]
    fn disabled_admits_everything() {
        let q = Quotas::new(false);
        q.set_config(QuotaConfig { per_user: 0, ..QuotaConfig::default() });
        assert!(q.admit(Kind::Read, "a").is_ok());
    }
}
