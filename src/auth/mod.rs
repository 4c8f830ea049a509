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

use async_trait::async_trait;
use secrecy::SecretString;

/// Why an access token could not be had.
#[derive(Debug, thiserror::Error)]
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
}

/// A source of QuickBooks access tokens.
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A currently valid access token, refreshed ahead of expiry when needed.
    async fn access_token(&self) -> Result<SecretString, AuthError>;

    /// Called after QuickBooks answered 401 to `rejected`. Refreshes once (unless another caller
    /// already replaced that token) and returns the token to replay the request with.
    async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<SecretString, AuthError>;
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
