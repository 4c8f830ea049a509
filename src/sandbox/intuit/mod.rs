//! The Intuit OAuth 2.0 emulator: the consent page, the token endpoint and the revoke endpoint.
//!
//! The grant is where QuickBooks integrations die in the field (a rotated refresh token that was
//! never saved, or two workers refreshing at once), so this emulator is strict where Intuit is
//! strict: refresh tokens rotate on every refresh and a superseded one answers `invalid_grant`
//! (the rule is spelled out in [`authority`]), access tokens expire, codes are single-use.
//!
//! | route | what |
//! |---|---|
//! | `GET /connect/oauth2` | consent; **auto-consents** and redirects with `code`, `state`, `realmId` |
//! | `POST /oauth2/v1/tokens/bearer` | `authorization_code` and `refresh_token` grants |
//! | `POST /v2/oauth2/tokens/revoke` | revokes a grant by its refresh or access token |
//! | `/_sandbox/intuit/…` | control: seed a grant, revoke all, expire access tokens, stats, lifetimes |
//!
//! Every access token issued goes into the shared [`AccessTokenRegistry`](super::tokens::AccessTokenRegistry),
//! where the QBO emulator checks bearers. Answers carry an `intuit_tid` header as Intuit's do.
//!
//! Known differences from Intuit: no real consent screen (a switch makes it deny instead);
//! every refresh rotates (Intuit keeps a value for about a day); the bodies of 5xx and 429
//! answers of the token endpoint are not recorded anywhere, so they are plain text here.

mod authority;
mod control;
mod http;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;

pub use authority::{ACCOUNTING_SCOPE, IntuitLifetimes, IntuitStats};
pub use http::REVOKE_ENDPOINT;

use super::{SandboxOptions, Shared};
use authority::Authority;

/// The redirect URI registered for the sandbox app unless a test registers others
/// (the example of `qbsync auth`).
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:8765/callback";

/// Emulated Intuit authorization server for one app (`options.client_id`) and one company
/// (`options.realm_id`).
pub struct IntuitEmulator {
    shared: Shared,
    client_id: String,
    client_secret: String,
    authority: Mutex<Authority>,
    redirect_uris: Mutex<Vec<String>>,
    deny_consent: AtomicBool,
}

impl IntuitEmulator {
    pub fn new(options: &SandboxOptions, shared: &Shared) -> anyhow::Result<Arc<IntuitEmulator>> {
        let lifetimes = IntuitLifetimes::with_access_token(options.intuit_access_token_lifetime);
        Ok(Arc::new(IntuitEmulator {
            shared: shared.clone(),
            client_id: options.client_id.clone(),
            client_secret: options.client_secret.clone(),
            // A seed of its own, so adding token traffic does not shift other emulators' choices.
            authority: Mutex::new(Authority::new(&options.realm_id, lifetimes, options.seed ^ 0x1a7u64)),
            redirect_uris: Mutex::new(vec![DEFAULT_REDIRECT_URI.to_owned()]),
            deny_consent: AtomicBool::new(false),
        }))
    }

    pub fn router(self: &Arc<Self>) -> Router {
        http::router(self.clone()).merge(control::router(self.clone()))
    }

    /// Starts a grant as if a person had consented: `(refresh_token, access_token)`.
    /// Lets tests and the demo seed a connection without the browser flow.
    pub fn issue_grant(&self) -> (String, String) {
        let mut authority = self.authority();
        let issued = authority.issue_grant();
        self.shared.access_tokens.insert(&issued.access_token, &issued.realm_id, issued.expires_in);
        (issued.refresh_token, issued.access_token)
    }

    /// Revokes every grant and forgets every access token (the app was disconnected).
    pub fn revoke_all(&self) {
        let mut authority = self.authority();
        authority.revoke_all();
        self.shared.access_tokens.revoke_all();
    }

    /// Makes every access token expire now; refresh tokens stay valid.
    pub fn expire_access_tokens(&self) {
        self.shared.access_tokens.expire_all();
    }

    pub fn stats(&self) -> IntuitStats {
        self.authority().stats()
    }

    /// Every authorization code, refresh token and access token issued so far (superseded and
    /// revoked ones included), for tests that grep qbsync's outputs for leaked secrets.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.authority().issued()
    }

    pub fn lifetimes(&self) -> IntuitLifetimes {
        self.authority().lifetimes()
    }

    /// Applies to tokens issued from now on.
    pub fn set_lifetimes(&self, lifetimes: IntuitLifetimes) {
        self.authority().set_lifetimes(lifetimes);
    }

    /// Registers another redirect URI for the app (Intuit requires exact registered URIs).
    pub fn register_redirect_uri(&self, redirect_uri: &str) {
        let mut uris = self.redirect_uris.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if !uris.iter().any(|u| u == redirect_uri) {
            uris.push(redirect_uri.to_owned());
        }
    }

    /// Makes the consent page answer `error=access_denied` (the person clicked "Cancel").
    pub fn set_deny_consent(&self, deny: bool) {
        self.deny_consent.store(deny, Ordering::SeqCst);
    }

    fn is_registered(&self, redirect_uri: &str) -> bool {
        self.redirect_uris.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).iter().any(|u| u == redirect_uri)
    }

    fn consent_denied(&self) -> bool {
        self.deny_consent.load(Ordering::SeqCst)
    }

    fn authority(&self) -> MutexGuard<'_, Authority> {
        // Plain data behind the lock; a panicked handler leaves nothing half-written that matters.
        self.authority.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
