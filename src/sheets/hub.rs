//! Building the google-sheets4 hub: one TLS stack, one connector type, one token source.
//!
//! - The connector is hyper-rustls with the **ring** provider and Mozilla's webpki roots, so a
//!   minimal container without a CA bundle still works (trap 7), and `https_or_http` so tests and
//!   the sandbox can use `http://127.0.0.1`. Production configuration should insist on https.
//! - yup-oauth2 gets a client on the same connector. It ignores its own `with_timeout` when
//!   handed a custom client (trap 5), so [`TokenProvider`] puts a deadline on every token fetch.
//! - [`TokenProvider`] is the hub's `GetToken`: it reports failures as a typed
//!   [`TokenFailure`] (so a refused key and a token endpoint that is down are told apart) and
//!   can force a fresh token for a scope after Google answers 401 to it.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use google_sheets4::Sheets;
use google_sheets4::common::GetToken;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use secrecy::{ExposeSecret, SecretString};
use yup_oauth2::authenticator::Authenticator;
use yup_oauth2::error::AuthErrorCode;
use yup_oauth2::{CustomHyperClientBuilder, ServiceAccountAuthenticator};

use super::credentials::{GoogleCredentials, check_service_account_key};
use super::error::{SheetsError, TokenFailure};
use crate::auth::{AuthError, GoogleUserTokens};

/// The one connector type: https (webpki roots, ring) or plain http.
pub(crate) type Connector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The google-sheets4 hub over [`Connector`].
pub(crate) type Hub = Sheets<Connector>;

/// The scope of every Sheets call. Always given (trap 3): without it the crate asks for
/// `drive.readonly` on reads and full `drive` on writes. One scope also means one cached token.
pub(crate) const SPREADSHEETS_SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

/// The scope of the Drive `files.get` change check: file metadata, read only.
pub(crate) const DRIVE_METADATA_SCOPE: &str = "https://www.googleapis.com/auth/drive.metadata.readonly";

/// Builds the connector. Installs the ring provider as the process default first (idempotent),
/// so nothing else in the process trips over "no process-level CryptoProvider" (trap 6).
pub(crate) fn connector(connect_timeout: Duration) -> Result<Connector, SheetsError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut http = HttpConnector::new();
    http.set_connect_timeout(Some(connect_timeout));
    http.enforce_http(false);
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| SheetsError::InvalidSettings { reason: format!("TLS cannot be set up: {e}") })?;
    Ok(builder.https_or_http().enable_http1().enable_http2().wrap_connector(http))
}

/// Builds the hub rooted at `api_root` (must end with `/`: the crate appends `v4/spreadsheets/…`).
pub(crate) fn hub(connector: Connector, api_root: &str, tokens: TokenProvider) -> Hub {
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let mut hub = Sheets::new(client, tokens);
    hub.base_url(api_root.to_owned());
    hub.root_url(api_root.to_owned());
    hub.user_agent(format!("qbsync/{}", env!("CARGO_PKG_VERSION")));
    hub
}

/// Where access tokens come from.
#[derive(Clone)]
pub(crate) struct TokenProvider {
    source: Source,
    timeout: Duration,
    /// Scope sets whose next fetch must bypass yup-oauth2's cache (their token drew a 401).
    stale: Arc<Mutex<HashSet<String>>>,
}

#[derive(Clone)]
enum Source {
    Fixed(SecretString),
    ServiceAccount(Authenticator<Connector>),
    /// Refreshes itself from the token store; a 401 with its fresh token is final.
    User(GoogleUserTokens),
}

impl TokenProvider {
    /// Builds the token source for `credentials`. For a key this parses it and prepares the JWT
    /// signer; no request is made until the first token is needed.
    pub(crate) async fn new(
        credentials: &GoogleCredentials,
        connector: Connector,
        timeout: Duration,
    ) -> Result<TokenProvider, SheetsError> {
        let source = match credentials {
            GoogleCredentials::AccessToken(token) => Source::Fixed(token.clone()),
            GoogleCredentials::User(tokens) => Source::User(tokens.clone()),
            GoogleCredentials::ServiceAccountKey(text) => {
                let invalid = |reason: String| SheetsError::Credentials {
                    reason: format!("the service-account key is not usable: {reason}"),
                };
                check_service_account_key(text.expose_secret()).map_err(invalid)?;
                let key = yup_oauth2::parse_service_account_key(text.expose_secret().as_bytes())
                    .map_err(|e| invalid(e.to_string()))?;
                let client = Client::builder(TokioExecutor::new()).build::<_, String>(connector);
                let authenticator =
                    ServiceAccountAuthenticator::with_client(key, CustomHyperClientBuilder::from(client))
                        .build()
                        .await
                        // "Error reading key from PEM" and the like; never the key itself.
                        .map_err(|e| invalid(e.to_string()))?;
                Source::ServiceAccount(authenticator)
            }
        };
        Ok(TokenProvider { source, timeout, stale: Arc::default() })
    }

    /// Marks the token for `scope` as refused, so its next fetch skips the cache. Returns false
    /// when the token cannot be refreshed (a fixed token): the 401 is final.
    pub(crate) fn force_refresh(&self, scope: &str) -> bool {
        match self.source {
            Source::Fixed(_) | Source::User(_) => false,
            Source::ServiceAccount(_) => {
                self.stale_scopes().insert(scope.to_owned());
                true
            }
        }
    }

    /// A token for `scopes`, within the configured deadline.
    pub(crate) async fn token(&self, scopes: &[&str]) -> Result<SecretString, TokenFailure> {
        let authenticator = match &self.source {
            Source::Fixed(token) => return Ok(token.clone()),
            Source::User(user) => return self.user_token(user).await,
            Source::ServiceAccount(authenticator) => authenticator,
        };
        let key = scopes.join(" ");
        let forced = self.stale_scopes().remove(&key);
        let fetch = async {
            if forced { authenticator.force_refreshed_token(scopes).await } else { authenticator.token(scopes).await }
        };
        let outcome = match tokio::time::timeout(self.timeout, fetch).await {
            Err(_) => Err(TokenFailure {
                transient: true,
                reason: format!("Google's token endpoint did not answer within {:?}", self.timeout),
            }),
            Ok(Err(e)) => Err(token_failure(e)),
            Ok(Ok(token)) => match token.token() {
                Some(token) => Ok(SecretString::from(token)),
                None => Err(TokenFailure { transient: true, reason: "the token endpoint sent no access token".into() }),
            },
        };
        if forced && outcome.is_err() {
            // The refused token is still cached: the next attempt must not fall back to it.
            self.stale_scopes().insert(key);
        }
        outcome
    }

    /// A token of a person's own Google account, within the configured deadline.
    async fn user_token(&self, user: &GoogleUserTokens) -> Result<SecretString, TokenFailure> {
        match tokio::time::timeout(self.timeout, user.access_token()).await {
            Err(_) => Err(TokenFailure {
                transient: true,
                reason: format!("Google's token endpoint did not answer within {:?}", self.timeout),
            }),
            Ok(Ok(token)) => Ok(token),
            Ok(Err(error)) => {
                Err(TokenFailure { transient: matches!(error, AuthError::Transient { .. }), reason: error.to_string() })
            }
        }
    }

    fn stale_scopes(&self) -> MutexGuard<'_, HashSet<String>> {
        // The set stays consistent whatever a panicking holder was doing: one insert or remove.
        self.stale.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sorts a yup-oauth2 error into "the key is refused" and "try again later".
fn token_failure(error: yup_oauth2::Error) -> TokenFailure {
    use yup_oauth2::Error as E;
    let permanent = match &error {
        E::AuthError(auth) => matches!(
            auth.error,
            AuthErrorCode::InvalidRequest
                | AuthErrorCode::InvalidClient
                | AuthErrorCode::InvalidGrant
                | AuthErrorCode::UnauthorizedClient
                | AuthErrorCode::UnsupportedGrantType
                | AuthErrorCode::InvalidScope
                | AuthErrorCode::AccessDenied
        ),
        E::UserError(_) | E::LowLevelError(_) | E::CredentialSourceError(_) => true,
        // Transport, timeouts, an answer that is not a token (a 5xx page), storage.
        _ => false,
    };
    // yup-oauth2 prefixes the endpoint's own `error: description` with "Server error: ".
    let detail = match &error {
        E::AuthError(auth) => auth.to_string(),
        other => other.to_string(),
    };
    let reason = if permanent {
        format!("Google's token endpoint refused the service-account key: {detail}")
    } else {
        format!("Google's token endpoint failed: {detail}")
    };
    TokenFailure { transient: !permanent, reason }
}

impl GetToken for TokenProvider {
    fn get_token<'a>(
        &'a self,
        scopes: &'a [&str],
    ) -> Pin<Box<dyn Future<Output = Result<Option<String>, Box<dyn std::error::Error + Send + Sync>>> + Send + 'a>>
    {
        Box::pin(async move {
            match self.token(scopes).await {
                // The hub needs the token as a plain String to build the header.
                Ok(token) => Ok(Some(token.expose_secret().to_owned())),
                Err(failure) => Err(Box::new(failure) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spreadsheets_scope_is_the_crates_own() {
        // The token prefetch and the hub must ask for the same scope set, or the cache misses.
        assert_eq!(SPREADSHEETS_SCOPE, google_sheets4::api::Scope::Spreadsheet.as_ref());
    }

    #[tokio::test]
    async fn a_fixed_token_is_returned_as_is_and_cannot_be_refreshed() {
        let conn = connector(Duration::from_secs(1)).expect("connector");
        let provider = TokenProvider::new(
            &GoogleCredentials::AccessToken(SecretString::from("ya29.fixed")),
            conn,
            Duration::from_secs(1),
        )
        .await
        .expect("provider");
        assert_eq!(provider.token(&[SPREADSHEETS_SCOPE]).await.expect("token").expose_secret(), "ya29.fixed");
        assert!(!provider.force_refresh(SPREADSHEETS_SCOPE));
        let token = provider.get_token(&[SPREADSHEETS_SCOPE]).await.expect("GetToken");
        assert_eq!(token.as_deref(), Some("ya29.fixed"));
    }

    #[tokio::test]
    async fn a_key_whose_pem_is_garbage_is_a_credentials_error() {
        let key = r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            "client_email": "a@b.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:9/token"}"#;
        let conn = connector(Duration::from_secs(1)).expect("connector");
        let result = TokenProvider::new(
            &GoogleCredentials::ServiceAccountKey(SecretString::from(key)),
            conn,
            Duration::from_secs(1),
        )
        .await;
        let Err(SheetsError::Credentials { reason }) = result else { panic!("garbage PEM must be refused") };
        assert!(reason.starts_with("the service-account key is not usable"), "{reason}");
        assert!(!reason.contains("AAAA"));
    }

    #[test]
    fn refused_grants_are_permanent_and_endpoint_trouble_is_transient() {
        let refused: yup_oauth2::error::AuthError =
            serde_json::from_str(r#"{"error": "invalid_grant", "error_description": "Invalid JWT Signature."}"#)
                .expect("auth error");
        let failure = token_failure(yup_oauth2::Error::AuthError(refused));
        assert!(!failure.transient);
        assert!(failure.reason.contains("refused the service-account key: invalid_grant: Invalid JWT Signature."));

        let odd: yup_oauth2::error::AuthError =
            serde_json::from_str(r#"{"error": "internal_failure"}"#).expect("auth error");
        assert!(token_failure(yup_oauth2::Error::AuthError(odd)).transient);
        assert!(token_failure(yup_oauth2::Error::MissingAccessToken).transient);
        let not_json = serde_json::from_str::<serde_json::Value>("<html>").unwrap_err();
        assert!(token_failure(yup_oauth2::Error::JSONError(not_json)).transient);
    }
}
