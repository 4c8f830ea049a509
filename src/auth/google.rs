//! A person's own Google account for the sheet, for users who cannot create a service account.
//!
//! `qbsync auth google` runs Google's authorization-code flow once (PKCE, a loopback redirect
//! received by [`RedirectListener`](super::RedirectListener) or pasted, `access_type=offline`
//! and `prompt=consent` so Google issues a refresh token) with the narrow `spreadsheets` scope.
//! The refresh token is sealed with the token store's key in `state_dir/google-tokens.enc`.
//! [`GoogleUserTokens`] then serves google-sheets4 as its `GetToken`, refreshing access tokens
//! as they lapse.
//!
//! Unlike Intuit's, Google's refresh tokens do not rotate on use, so several processes may
//! refresh independently; a new refresh token in an answer is saved all the same.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use google_sheets4::common::GetToken;
use oauth2::{PkceCodeChallenge, PkceCodeVerifier};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::connect::RedirectAnswer;
use super::oauth::{EndpointConfig, EndpointError, OAuthEndpoints, http_client};
use super::{AuthError, CsrfState, RefreshLock, TokenStore};

/// Refresh when the access token has less than this left.
const REFRESH_MARGIN: TimeDelta = TimeDelta::seconds(60);
/// After Google refused the grant, ask again no more often than this.
const RECHECK_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// The person's Google OAuth client ("Desktop app" type in the Google Cloud console).
/// `Debug` never shows the client secret.
#[derive(Clone, Debug)]
pub struct GoogleUserSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// A loopback address, e.g. `http://127.0.0.1:8766/`; Google accepts any port for desktop apps.
    pub redirect_uri: String,
    pub auth_url: String,
    pub token_url: String,
    pub http_timeout: Duration,
}

impl GoogleUserSettings {
    pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
    pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
    /// Read and write the person's spreadsheets; nothing else in their Drive.
    pub const SPREADSHEETS_SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

    pub fn new(
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_uri: impl Into<String>,
    ) -> GoogleUserSettings {
        GoogleUserSettings {
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            auth_url: Self::GOOGLE_AUTH_URL.to_owned(),
            token_url: Self::GOOGLE_TOKEN_URL.to_owned(),
            http_timeout: Duration::from_secs(30),
        }
    }

    fn endpoints(&self) -> Result<OAuthEndpoints, AuthError> {
        OAuthEndpoints::new(EndpointConfig {
            client_id: &self.client_id,
            client_secret: &self.client_secret,
            auth_url: &self.auth_url,
            token_url: &self.token_url,
            redirect_uri: &self.redirect_uri,
            http: http_client(self.http_timeout)?,
            ask_hard_expiry: false,
        })
    }
}

/// What one consent request must be completed with: its `state` and PKCE verifier.
pub struct GoogleConsent {
    state: CsrfState,
    verifier: PkceCodeVerifier,
}

impl GoogleConsent {
    /// The state to hand to [`RedirectListener::wait`](super::RedirectListener::wait).
    pub fn state(&self) -> &CsrfState {
        &self.state
    }
}

impl fmt::Debug for GoogleConsent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GoogleConsent([REDACTED])")
    }
}

/// The stored Google connection. `Debug` shows no token.
#[derive(Clone, Debug)]
pub struct GoogleGrant {
    pub refresh_token: SecretString,
    pub updated_at: DateTime<Utc>,
}

impl GoogleGrant {
    pub const FILE: &str = "google-tokens.enc";

    pub fn load(store: &TokenStore) -> Result<Option<GoogleGrant>, AuthError> {
        Ok(store
            .read_sealed::<GoogleRecordIn>(Self::FILE)?
            .map(|record| GoogleGrant { refresh_token: record.refresh_token, updated_at: record.updated_at }))
    }

    pub fn save(&self, store: &TokenStore) -> Result<(), AuthError> {
        let record = GoogleRecordOut { refresh_token: self.refresh_token.expose_secret(), updated_at: self.updated_at };
        store.write_sealed(Self::FILE, &record)
    }

    /// Forgets the Google connection (the service account is used again).
    pub fn delete(store: &TokenStore) -> Result<(), AuthError> {
        store.remove_sealed(Self::FILE)
    }
}

#[derive(Serialize)]
struct GoogleRecordOut<'a> {
    refresh_token: &'a str,
    updated_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct GoogleRecordIn {
    refresh_token: SecretString,
    updated_at: DateTime<Utc>,
}

/// Google's consent URL for the `spreadsheets` scope, and what completing it needs.
pub fn google_authorize_url(settings: &GoogleUserSettings) -> Result<(String, GoogleConsent), AuthError> {
    let endpoints = settings.endpoints()?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let state = CsrfState::new_random();
    let url = endpoints.authorize_url(
        state.secret(),
        GoogleUserSettings::SPREADSHEETS_SCOPE,
        // Without both, Google issues a refresh token only on the very first consent.
        &[("access_type", "offline"), ("prompt", "consent")],
        Some(challenge),
    );
    Ok((url, GoogleConsent { state, verifier }))
}

/// Finishes `qbsync auth google` from the redirected address: checks `state`, exchanges the
/// code with the PKCE verifier, stores the refresh token.
pub async fn complete_google_authorization(
    settings: &GoogleUserSettings,
    store: &TokenStore,
    redirected_url: &str,
    consent: GoogleConsent,
) -> Result<GoogleGrant, AuthError> {
    let answer = RedirectAnswer::accept(redirected_url, &consent.state)?;
    let fresh =
        settings.endpoints()?.exchange_code(answer.code.expose_secret(), Some(consent.verifier)).await.map_err(
            |error| match error {
                EndpointError::InvalidGrant { .. } => AuthError::ConnectFailed {
                    reason: "Google refused the authorization code (a code works once, for a few minutes): run `qbsync auth google` again".into(),
                },
                other => google_error(other),
            },
        )?;
    let refresh_token = fresh.refresh_token.ok_or_else(|| AuthError::ConnectFailed {
        reason: "Google's answer carries no refresh token: remove qbsync from https://myaccount.google.com/permissions and run `qbsync auth google` again".into(),
    })?;
    let grant = GoogleGrant { refresh_token, updated_at: Utc::now() };
    let _lock = RefreshLock::acquire(store.dir()).await?;
    grant.save(store)?;
    tracing::info!("connected a Google account for the sheet");
    Ok(grant)
}

fn google_error(error: EndpointError) -> AuthError {
    match error {
        EndpointError::InvalidGrant { .. } => AuthError::GoogleNeedsConsent { reason: error.to_string() },
        EndpointError::InvalidClient => AuthError::Config {
            reason:
                "Google refused the OAuth client id or secret (invalid_client): check the Google OAuth client settings"
                    .into(),
        },
        EndpointError::Refused { .. } | EndpointError::Unavailable { .. } => {
            AuthError::Transient { reason: format!("Google's token endpoint: {error}") }
        }
    }
}

/// Access tokens for the sheet from a person's own Google account; a `GetToken` for
/// google-sheets4. Cheap to clone (the hub clones it).
#[derive(Clone)]
pub struct GoogleUserTokens {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: OAuthEndpoints,
    store: TokenStore,
    /// Also the single-flight guard: one refresh at a time in the process.
    state: tokio::sync::Mutex<State>,
}

struct State {
    grant: GoogleGrant,
    access: Option<(SecretString, DateTime<Utc>)>,
    refused: Option<(AuthError, Instant)>,
}

impl GoogleUserTokens {
    /// Reads the stored Google connection; none stored is [`AuthError::GoogleNeedsConsent`].
    pub fn new(settings: &GoogleUserSettings, store: TokenStore) -> Result<GoogleUserTokens, AuthError> {
        let grant = GoogleGrant::load(&store)?
            .ok_or_else(|| AuthError::GoogleNeedsConsent { reason: "no Google account is connected".into() })?;
        Ok(GoogleUserTokens {
            inner: Arc::new(Inner {
                endpoints: settings.endpoints()?,
                store,
                state: tokio::sync::Mutex::new(State { grant, access: None, refused: None }),
            }),
        })
    }

    /// A valid access token, refreshed when less than a minute is left.
    pub async fn access_token(&self) -> Result<SecretString, AuthError> {
        let mut state = self.inner.state.lock().await;
        if let Some((token, expires_at)) = &state.access
            && *expires_at - Utc::now() > REFRESH_MARGIN
        {
            return Ok(token.clone());
        }
        if let Some((error, until)) = &state.refused {
            if Instant::now() < *until {
                return Err(error.clone());
            }
            state.refused = None;
        }
        let fresh = match self.inner.endpoints.refresh(&state.grant.refresh_token).await {
            Ok(fresh) => fresh,
            Err(error) => {
                let error = google_error(error);
                if matches!(error, AuthError::GoogleNeedsConsent { .. } | AuthError::Config { .. }) {
                    tracing::error!(%error, "Google refused the connection");
                    state.refused = Some((error.clone(), Instant::now() + RECHECK_INTERVAL));
                }
                return Err(error);
            }
        };
        if let Some(refresh_token) = fresh.refresh_token {
            let grant = GoogleGrant { refresh_token, updated_at: Utc::now() };
            let _lock = RefreshLock::acquire(self.inner.store.dir()).await?;
            grant.save(&self.inner.store)?;
            state.grant = grant;
        }
        let expires_at = fresh.requested_at + TimeDelta::from_std(fresh.expires_in).unwrap_or(TimeDelta::zero());
        state.access = Some((fresh.access_token.clone(), expires_at));
        Ok(fresh.access_token)
    }
}

type GetTokenOutput<'a> =
    Pin<Box<dyn Future<Output = Result<Option<String>, Box<dyn Error + Send + Sync>>> + Send + 'a>>;

impl GetToken for GoogleUserTokens {
    fn get_token<'a>(&'a self, _scopes: &'a [&str]) -> GetTokenOutput<'a> {
        // The grant's scope is fixed at consent (`spreadsheets`); the hub's request is not consulted.
        Box::pin(async move {
            match self.access_token().await {
                Ok(token) => Ok(Some(token.expose_secret().to_owned())),
                Err(error) => Err(Box::new(error) as Box<dyn Error + Send + Sync>),
            }
        })
    }
}

impl fmt::Debug for GoogleUserTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleUserTokens").field("store", &self.inner.store.dir()).finish_non_exhaustive()
    }
}
