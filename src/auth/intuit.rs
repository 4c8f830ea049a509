//! The QuickBooks token manager: hands out access tokens and keeps the grant alive for years.
//!
//! Three rules keep a rotating refresh token from ever being lost:
//!
//! 1. **One refresh at a time.** A tokio mutex serialises refreshes inside the process and
//!    [`RefreshLock`] (a `flock` on `state_dir/tokens.lock`) across processes. After getting
//!    both, the store is read again: another task or process may already have refreshed, and
//!    its access token is then used instead of refreshing a superseded refresh token.
//! 2. **Save before use.** A new refresh token and its expiries are on disk (atomic replace,
//!    fsync) before the new access token is returned. If the save fails, the new tokens are
//!    dropped and the error returned; the stored, older refresh token still works because
//!    Intuit only kills it once its successor has been *used*.
//! 3. **A lost answer is not a lost grant.** When the connection drops after Intuit rotated,
//!    the stored token is still the predecessor of an unused successor; refreshing with it
//!    again is answered with that successor. So transport failures are retried with the same
//!    stored token, a few times, then reported as transient.
//!
//! When Intuit refuses the grant (`invalid_grant`, or QuickBooks' 3100 reported through
//! [`TokenSource::authorization_revoked`]), the refusal is written into the store: every
//! process sharing it stops asking Intuit and reports "QuickBooks needs to be re-connected",
//! re-checking once per re-check interval, or at once when the store file is replaced because
//! a person ran `qbsync auth`.

use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::oauth::{EndpointError, FreshTokens, IntuitOAuth};
use super::token_store::StoreVersion;
use super::{
    AuthError, IntuitOAuthSettings, QboEnvironment, ReconnectNeeded, RefreshLock, StoredGrant, TokenSource, TokenStore,
};

/// Refresh when the access token has less than this left.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// After Intuit refused the grant, ask again no more often than this (unless the store changes).
const RECHECK_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Warn this long before the refresh token (rolling or hard) expires.
const EXPIRY_WARNING: TimeDelta = TimeDelta::days(14);
/// Attempts per refresh when the token endpoint cannot be reached or answers 5xx/429.
const REFRESH_ATTEMPTS: u32 = 3;
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(100);

const NOT_CONNECTED: &str = "no QuickBooks connection is stored";

/// What a person (or `qbsync status`, the status page, `doctor`) needs to know about the
/// QuickBooks connection. Holds no secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectionStatus {
    /// A grant is stored and nothing is known to be wrong with it.
    pub connected: bool,
    pub environment: Option<QboEnvironment>,
    pub realm_id: Option<String>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub hard_expires_at: Option<DateTime<Utc>>,
    /// Why a person must act (run `qbsync auth`, fix `QB_ENV`, …), as the message to show.
    pub needs_reconnect: Option<String>,
    /// The refresh token (rolling or hard expiry, whichever is first) lapses within 14 days.
    pub warn_expiry_soon: bool,
}

impl ConnectionStatus {
    /// The expiry, as a message to log and notify, when it is near.
    pub fn expiry_warning(&self) -> Option<String> {
        let at = self.earliest_expiry().filter(|_| self.warn_expiry_soon)?;
        Some(format!(
            "the QuickBooks connection expires on {}: run `qbsync auth` before then to keep syncing",
            at.format("%Y-%m-%d %H:%M UTC")
        ))
    }

    fn earliest_expiry(&self) -> Option<DateTime<Utc>> {
        [self.refresh_expires_at, self.hard_expires_at].into_iter().flatten().min()
    }

    fn describe(grant: Option<&StoredGrant>, blocked: Option<&AuthError>, settings: &IntuitOAuthSettings) -> Self {
        let now = Utc::now();
        let Some(grant) = grant else {
            let problem = blocked.cloned().unwrap_or(AuthError::NeedsReconnect { reason: NOT_CONNECTED.into() });
            return ConnectionStatus {
                connected: false,
                environment: None,
                realm_id: None,
                refresh_expires_at: None,
                hard_expires_at: None,
                needs_reconnect: Some(problem.to_string()),
                warn_expiry_soon: false,
            };
        };
        let problem = blocked
            .cloned()
            .or_else(|| {
                grant.reconnect.as_ref().map(|marker| AuthError::NeedsReconnect { reason: marker.reason.clone() })
            })
            .or_else(|| settings.check_grant(grant.environment, &grant.realm_id).err());
        let mut status = ConnectionStatus {
            connected: false,
            environment: Some(grant.environment),
            realm_id: Some(grant.realm_id.clone()),
            refresh_expires_at: grant.refresh_expires_at,
            hard_expires_at: grant.refresh_hard_expires_at,
            needs_reconnect: None,
            warn_expiry_soon: false,
        };
        let earliest = status.earliest_expiry();
        let problem = problem.or_else(|| {
            earliest.filter(|at| *at <= now).map(|at| AuthError::NeedsReconnect {
                reason: format!("the refresh token expired on {}", at.format("%Y-%m-%d")),
            })
        });
        status.connected = problem.is_none();
        status.needs_reconnect = problem.map(|error| error.to_string());
        status.warn_expiry_soon = earliest.is_some_and(|at| at - now < EXPIRY_WARNING);
        status
    }
}

/// Access tokens for one QuickBooks connection, shared by every task of the process.
pub struct IntuitTokens {
    settings: IntuitOAuthSettings,
    oauth: IntuitOAuth,
    store: TokenStore,
    refresh_margin: Duration,
    recheck_interval: Duration,
    /// Single flight inside the process (the file lock extends it across processes).
    flight: tokio::sync::Mutex<()>,
    view: Mutex<View>,
}

/// What this process last read from or wrote to the store.
struct View {
    grant: Option<StoredGrant>,
    /// The store file `grant` came from, to notice it being replaced.
    version: Option<StoreVersion>,
    /// A refusal a person must fix; no request goes to Intuit for it before `until`, unless
    /// the store file changes.
    blocked: Option<Blocked>,
}

struct Blocked {
    error: AuthError,
    until: Instant,
    version: Option<StoreVersion>,
}

impl IntuitTokens {
    /// Reads the store once (a wrong key fails here, loudly) and prepares the OAuth client.
    /// The lock file lives beside the store, in [`TokenStore::dir`].
    pub fn new(settings: IntuitOAuthSettings, store: TokenStore) -> Result<IntuitTokens, AuthError> {
        let oauth = IntuitOAuth::new(&settings)?;
        let version = store.version();
        let grant = store.load()?;
        Ok(IntuitTokens {
            settings,
            oauth,
            store,
            refresh_margin: REFRESH_MARGIN,
            recheck_interval: RECHECK_INTERVAL,
            flight: tokio::sync::Mutex::new(()),
            view: Mutex::new(View { grant, version, blocked: None }),
        })
    }

    /// Refresh when less than `margin` is left (default 5 minutes).
    pub fn with_refresh_margin(mut self, margin: Duration) -> IntuitTokens {
        self.refresh_margin = margin;
        self
    }

    /// After a refusal, ask Intuit again no more often than this (default 5 minutes).
    pub fn with_recheck_interval(mut self, interval: Duration) -> IntuitTokens {
        self.recheck_interval = interval;
        self
    }

    /// The connection as last seen, re-read if the store file was replaced since.
    pub fn status(&self) -> ConnectionStatus {
        let current = self.store.version();
        let mut view = self.view();
        if current != view.version {
            match self.store.load() {
                Ok(grant) => {
                    *view = View { grant, version: current, blocked: None };
                }
                Err(error) => return ConnectionStatus::describe(None, Some(&error), &self.settings),
            }
        }
        ConnectionStatus::describe(view.grant.as_ref(), view.blocked.as_ref().map(|b| &b.error), &self.settings)
    }

    pub fn settings(&self) -> &IntuitOAuthSettings {
        &self.settings
    }

    /// The cached access token if it can be used without asking anyone; `Err` while blocked.
    fn cached(&self, rejected: Option<&SecretString>) -> Result<Option<SecretString>, AuthError> {
        let mut view = self.view();
        if let Some(blocked) = &view.blocked {
            if Instant::now() < blocked.until && self.store.version() == blocked.version {
                return Err(blocked.error.clone());
            }
            view.blocked = None;
            return Ok(None);
        }
        Ok(view.grant.as_ref().and_then(|grant| self.usable(grant, rejected)))
    }

    /// The grant's access token, unless it is about to expire, is the one QuickBooks rejected,
    /// the grant was refused, or it belongs to another environment or company.
    fn usable(&self, grant: &StoredGrant, rejected: Option<&SecretString>) -> Option<SecretString> {
        if grant.reconnect.is_some() || self.settings.check_grant(grant.environment, &grant.realm_id).is_err() {
            return None;
        }
        let token = grant.access_token.as_ref()?;
        let margin = TimeDelta::from_std(self.refresh_margin).unwrap_or(TimeDelta::MAX);
        let fresh = grant.access_expires_at.is_some_and(|at| at - Utc::now() > margin);
        let rejected = rejected.is_some_and(|r| r.expose_secret() == token.expose_secret());
        (fresh && !rejected).then(|| token.clone())
    }

    /// The slow path, under the in-process flight guard: lock, re-read, maybe refresh, save.
    async fn refresh(&self, rejected: Option<&SecretString>) -> Result<SecretString, AuthError> {
        let _lock = RefreshLock::acquire(self.store.dir()).await?;
        let version = self.store.version();
        let Some(grant) = self.store.load_async().await? else {
            let error = AuthError::NeedsReconnect { reason: NOT_CONNECTED.into() };
            return Err(self.block(None, version, error, self.recheck_interval));
        };
        if let Err(mismatch) = self.settings.check_grant(grant.environment, &grant.realm_id) {
            return Err(self.block(Some(grant), version, mismatch, self.recheck_interval));
        }
        if let Some(marker) = &grant.reconnect {
            let waited = (Utc::now() - marker.since).to_std().unwrap_or_default();
            if waited < self.recheck_interval {
                let error = AuthError::NeedsReconnect { reason: marker.reason.clone() };
                let left = self.recheck_interval - waited;
                return Err(self.block(Some(grant), version, error, left));
            }
            // Due for a re-check: only a refresh Intuit accepts clears the mark.
        }
        if let Some(token) = self.usable(&grant, rejected) {
            // Another task or process refreshed while this one waited.
            self.remember(grant, version);
            return Ok(token);
        }
        match self.request_refresh(&grant.refresh_token).await {
            Ok(fresh) => {
                let token = fresh.access_token.clone();
                let updated = fresh.into_grant(grant.environment, &grant.realm_id, Some(&grant)).ok_or_else(|| {
                    AuthError::Transient { reason: "the token endpoint answered without tokens".into() }
                })?;
                // Durable before anyone uses the new access token (rule 2).
                self.store.save_async(&updated).await?;
                tracing::info!(realm_id = %updated.realm_id, "refreshed the QuickBooks access token");
                self.remember(updated, self.store.version());
                Ok(token)
            }
            Err(EndpointError::InvalidGrant { description }) => {
                let reason = format!(
                    "Intuit refused the refresh token (invalid_grant{}): the app was disconnected, the connection expired, or its newest refresh token was lost",
                    description.map(|d| format!(": {d}")).unwrap_or_default()
                );
                Err(self.refuse(grant, reason).await)
            }
            Err(EndpointError::InvalidClient) => {
                let error = EndpointError::InvalidClient.into_auth_error();
                Err(self.block(Some(grant), version, error, self.recheck_interval))
            }
            Err(other) => Err(other.into_auth_error()),
        }
    }

    /// The refresh grant, retried with the same (still stored) token on transport failures,
    /// 5xx and 429 (rule 3).
    async fn request_refresh(&self, refresh_token: &SecretString) -> Result<FreshTokens, EndpointError> {
        let mut pause = FIRST_RETRY_PAUSE;
        let mut attempt = 1;
        loop {
            match self.oauth.refresh(refresh_token).await {
                Err(EndpointError::Unavailable { reason, retryable: true }) if attempt < REFRESH_ATTEMPTS => {
                    tracing::warn!(attempt, %reason, "refreshing the QuickBooks token failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 4;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// Records in the store that a person must act, so no process asks Intuit again before
    /// the re-check interval, and returns the error to report.
    async fn refuse(&self, grant: StoredGrant, reason: String) -> AuthError {
        let error = AuthError::NeedsReconnect { reason: reason.clone() };
        tracing::error!(%error, "QuickBooks connection refused");
        let marked = StoredGrant { reconnect: Some(ReconnectNeeded { reason, since: Utc::now() }), ..grant };
        if let Err(save_error) = self.store.save_async(&marked).await {
            // Still blocked in this process; other processes will find out for themselves.
            tracing::warn!(error = %save_error, "could not record the refusal in the token store");
        }
        self.block(Some(marked), self.store.version(), error, self.recheck_interval)
    }

    fn remember(&self, grant: StoredGrant, version: Option<StoreVersion>) {
        *self.view() = View { grant: Some(grant), version, blocked: None };
    }

    fn block(
        &self,
        grant: Option<StoredGrant>,
        version: Option<StoreVersion>,
        error: AuthError,
        wait: Duration,
    ) -> AuthError {
        let blocked = Blocked { error: error.clone(), until: Instant::now() + wait, version };
        *self.view() = View { grant, version, blocked: Some(blocked) };
        error
    }

    fn view(&self) -> MutexGuard<'_, View> {
        // Plain data; a panic elsewhere cannot leave it half-updated in a way that matters.
        self.view.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait]
impl TokenSource for IntuitTokens {
    async fn access_token(&self) -> Result<SecretString, AuthError> {
        if let Some(token) = self.cached(None)? {
            return Ok(token);
        }
        let _flight = self.flight.lock().await;
        if let Some(token) = self.cached(None)? {
            return Ok(token);
        }
        self.refresh(None).await
    }

    async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<SecretString, AuthError> {
        let _flight = self.flight.lock().await;
        if let Some(token) = self.cached(Some(rejected))? {
            return Ok(token);
        }
        self.refresh(Some(rejected)).await
    }

    async fn authorization_revoked(&self, detail: &str) -> AuthError {
        let _flight = self.flight.lock().await;
        let reason = format!("QuickBooks refused the connection ({detail})");
        let loaded = match RefreshLock::acquire(self.store.dir()).await {
            Ok(lock) => self.store.load_async().await.map(|grant| (lock, grant)),
            Err(error) => Err(error),
        };
        match loaded {
            Ok((_lock, Some(grant))) => self.refuse(grant, reason).await,
            Ok((_lock, None)) => {
                let error = AuthError::NeedsReconnect { reason: NOT_CONNECTED.into() };
                self.block(None, self.store.version(), error, self.recheck_interval)
            }
            Err(error) => {
                tracing::warn!(%error, "could not record the refusal in the token store");
                AuthError::NeedsReconnect { reason }
            }
        }
    }
}

impl fmt::Debug for IntuitTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntuitTokens")
            .field("environment", &self.settings.environment)
            .field("store", &self.store.path())
            .finish_non_exhaustive()
    }
}
