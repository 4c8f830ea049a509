//! Credentials for the two services qbsync talks to.
//!
//! QuickBooks: an OAuth 2.0 grant whose refresh token **rotates**. Losing the newest refresh
//! token means a person must re-connect, so refreshes are single-flight (within the process and
//! across processes sharing a state directory) and the new token is on disk, encrypted, before
//! the new access token is used.
//!
//! Google: a service-account key (yup-oauth2) or a person's own refresh token.
//!
//! The rest of qbsync sees QuickBooks credentials only through [`TokenSource`], so the QBO
//! client can be tested with a fixed token and the token manager without a QBO client.
//!
//! | file | concern |
//! |---|---|
//! | `settings.rs` | the Intuit app, its endpoint URLs, sandbox vs production |
//! | `connect.rs` | `qbsync auth`: consent URL, redirect listener, code exchange, import, revoke |
//! | `google.rs` | `qbsync auth google`: a person's own Google account, for google-sheets4 |
//! | `intuit.rs` | [`IntuitTokens`]: single-flight refresh, save-before-use, back-off after refusal |
//! | `oauth.rs` | the token and revoke endpoints on the wire (`oauth2` crate + reqwest) |
//! | `token_store.rs` | the encrypted grant file |
//! | `key.rs` | where the store's key comes from |
//! | `lock.rs` | the cross-process refresh lock |
//! | `private_fs.rs` | 0600/0700 files, atomic replace |

mod connect;
mod google;
mod intuit;
mod key;
mod lock;
mod oauth;
mod private_fs;
mod settings;
mod token_store;

use async_trait::async_trait;
use secrecy::SecretString;

pub use connect::{
    CsrfState, RedirectListener, authorize_url, complete_authorization, import_refresh_token, listen_for_redirect,
    revoke,
};
pub use google::{
    GoogleConsent, GoogleGrant, GoogleUserSettings, GoogleUserTokens, complete_google_authorization,
    google_authorize_url,
};
pub use intuit::{ConnectionStatus, IntuitTokens};
pub use key::{KeySource, TokenKey};
pub use lock::RefreshLock;
pub use settings::{IntuitOAuthSettings, QboEnvironment, UnknownEnvironment};
pub use token_store::{ReconnectNeeded, StoredGrant, TokenStore};

/// Why an access token could not be had.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AuthError {
    /// A person must run `qbsync auth` (invalid_grant, revoked app, no tokens stored yet).
    /// Rows are never failed for this; the daemon waits and resumes once re-connected.
    #[error("QuickBooks needs to be re-connected: run `qbsync auth` ({reason})")]
    NeedsReconnect { reason: String },
    /// The token endpoint could not be reached or answered 5xx/429; try again later.
    #[error("the QuickBooks token endpoint is unavailable: {reason}")]
    Transient { reason: String },
    /// The token store exists but cannot be opened with the configured key, or is damaged.
    #[error("the token store cannot be read: {reason}")]
    Store { reason: String },
    /// The stored connection is for the other QuickBooks environment (`QB_ENV`); its tokens are
    /// never sent to the other environment's hosts.
    #[error(
        "the stored QuickBooks connection is for {stored} but QB_ENV is {configured}: set QB_ENV={stored} or run `qbsync auth` to connect a {configured} company"
    )]
    WrongEnvironment { stored: QboEnvironment, configured: QboEnvironment },
    /// The stored connection (or the one just authorised) is for another company than the
    /// configured realm id.
    #[error(
        "the QuickBooks connection is for company {stored} but QB_REALM_ID is {configured}: fix QB_REALM_ID or run `qbsync auth` and pick company {configured}"
    )]
    WrongCompany { stored: String, configured: String },
    /// The answer handed to `qbsync auth` does not carry the `state` qbsync sent: it belongs to
    /// another attempt or was forged. Refused, never just warned about.
    #[error(
        "the answer from Intuit does not belong to this `qbsync auth` (state mismatch): refused; start `qbsync auth` again"
    )]
    StateMismatch,
    /// The connect flow did not complete (consent denied, code refused, nothing received).
    #[error("connecting to QuickBooks failed: {reason}")]
    ConnectFailed { reason: String },
    /// The person's own Google account no longer lets qbsync at the sheet (consent withdrawn,
    /// refresh token expired) or was never connected.
    #[error("Google needs to be re-connected: run `qbsync auth google` ({reason})")]
    GoogleNeedsConsent { reason: String },
    /// The configuration is unusable (a malformed URL or key, or Intuit rejected the app's
    /// client id and secret). Retrying will not help until it is fixed.
    #[error("the QuickBooks connection settings are wrong: {reason}")]
    Config { reason: String },
}

impl AuthError {
    /// The token store or its key file could not be read or written: `reason` says which and why.
    pub(crate) fn store(reason: String) -> AuthError {
        AuthError::Store { reason }
    }
}

/// A source of QuickBooks access tokens.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A currently valid access token, refreshed ahead of expiry when needed.
    async fn access_token(&self) -> Result<SecretString, AuthError>;

    /// Called after QuickBooks answered 401 to `rejected`. Refreshes once (unless another caller
    /// already replaced that token) and returns the token to replay the request with.
    async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<SecretString, AuthError>;

    /// Called when QuickBooks refused a valid token for the company (403 with code 3100: the app
    /// was disconnected, or the subscription lapsed). Returns the error to surface; a token
    /// source that keeps state remembers it, so nobody hammers Intuit until a person acts or the
    /// re-check interval passes.
    async fn authorization_revoked(&self, detail: &str) -> AuthError {
        AuthError::NeedsReconnect { reason: detail.to_owned() }
    }
}

/// A fixed token, for tests and for the sandbox's fake QBO when auth is not under test.
pub struct StaticToken(pub SecretString);

#[async_trait]
impl TokenSource for StaticToken {
    async fn access_token(&self) -> Result<SecretString, AuthError> {
        Ok(self.0.clone())
    }

    async fn refresh_after_rejection(&self, _rejected: &SecretString) -> Result<SecretString, AuthError> {
        Err(AuthError::NeedsReconnect { reason: "a fixed token cannot be refreshed".into() })
    }
}
