//! Which Intuit app qbsync is, where Intuit's OAuth endpoints are, and which QuickBooks
//! environment the connection belongs to.
//!
//! Every URL is a setting, defaulting to Intuit's real hosts, so tests and the demo point the
//! same code at the sandbox ([`IntuitOAuthSettings::with_base_url`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::AuthError;

/// A QuickBooks Online environment. A grant belongs to one; its tokens are never used with the
/// other (Intuit answers 3100 when a sandbox token reaches the production host).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QboEnvironment {
    /// Intuit's developer sandbox (`QB_ENV=Sandbox` or `Development`). The default, so that a
    /// half-configured qbsync never writes to a real company.
    #[default]
    Sandbox,
    Production,
}

impl QboEnvironment {
    /// Intuit's Accounting API host for this environment, with the trailing slash.
    pub fn api_base_url(self) -> &'static str {
        match self {
            QboEnvironment::Sandbox => "https://sandbox-quickbooks.api.intuit.com/",
            QboEnvironment::Production => "https://quickbooks.api.intuit.com/",
        }
    }

    /// The QuickBooks web app host documents are linked to, with the trailing slash.
    pub fn app_base_url(self) -> &'static str {
        match self {
            QboEnvironment::Sandbox => "https://app.sandbox.qbo.intuit.com/",
            QboEnvironment::Production => "https://app.qbo.intuit.com/",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QboEnvironment::Sandbox => "sandbox",
            QboEnvironment::Production => "production",
        }
    }
}

impl fmt::Display for QboEnvironment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `QB_ENV` is neither `sandbox` nor `production`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown QuickBooks environment {0:?}: expected `sandbox` or `production`")]
pub struct UnknownEnvironment(pub String);

impl FromStr for QboEnvironment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sandbox" | "development" | "dev" => Ok(QboEnvironment::Sandbox),
            "production" | "prod" => Ok(QboEnvironment::Production),
            _ => Err(UnknownEnvironment(s.to_owned())),
        }
    }
}

/// The Intuit app (from its developer dashboard) and the OAuth endpoints it talks to.
///
/// `Debug` never shows the client secret.
#[derive(Clone, Debug)]
pub struct IntuitOAuthSettings {
    pub client_id: String,
    pub client_secret: SecretString,
    /// Registered on the app's *Keys & credentials* page, e.g. `http://localhost:8765/callback`.
    pub redirect_uri: String,
    pub auth_url: String,
    pub token_url: String,
    pub revoke_url: String,
    pub environment: QboEnvironment,
    /// The company qbsync must work on; `None` accepts whichever company the person picks.
    pub realm_id: Option<String>,
    /// Deadline of one request to the token or revoke endpoint.
    pub http_timeout: Duration,
}

impl IntuitOAuthSettings {
    pub const INTUIT_AUTH_URL: &str = "https://appcenter.intuit.com/connect/oauth2";
    pub const INTUIT_TOKEN_URL: &str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer";
    pub const INTUIT_REVOKE_URL: &str = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke";

    /// Settings for Intuit's real endpoints (the same for both environments).
    pub fn new(
        environment: QboEnvironment,
        client_id: impl Into<String>,
        client_secret: SecretString,
        redirect_uri: impl Into<String>,
    ) -> IntuitOAuthSettings {
        IntuitOAuthSettings {
            client_id: client_id.into(),
            client_secret,
            redirect_uri: redirect_uri.into(),
            auth_url: Self::INTUIT_AUTH_URL.to_owned(),
            token_url: Self::INTUIT_TOKEN_URL.to_owned(),
            revoke_url: Self::INTUIT_REVOKE_URL.to_owned(),
            environment,
            realm_id: None,
            http_timeout: Duration::from_secs(30),
        }
    }

    /// Points the three endpoints at another server that serves Intuit's paths (the sandbox):
    /// `base_url` is e.g. `http://127.0.0.1:4321/`.
    pub fn with_base_url(mut self, base_url: &str) -> IntuitOAuthSettings {
        let base = base_url.trim_end_matches('/');
        self.auth_url = format!("{base}/connect/oauth2");
        self.token_url = format!("{base}/oauth2/v1/tokens/bearer");
        self.revoke_url = format!("{base}/v2/oauth2/tokens/revoke");
        self
    }

    /// Refuses a grant for another environment or company than configured.
    pub(crate) fn check_grant(&self, environment: QboEnvironment, realm_id: &str) -> Result<(), AuthError> {
        if environment != self.environment {
            return Err(AuthError::WrongEnvironment { stored: environment, configured: self.environment });
        }
        match &self.realm_id {
            Some(configured) if configured != realm_id => {
                Err(AuthError::WrongCompany { stored: realm_id.to_owned(), configured: configured.clone() })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environments_parse_from_qb_env() {
        assert_eq!("Sandbox".parse(), Ok(QboEnvironment::Sandbox));
        assert_eq!(" production ".parse(), Ok(QboEnvironment::Production));
        assert_eq!("prod".parse(), Ok(QboEnvironment::Production));
        assert_eq!("Development".parse(), Ok(QboEnvironment::Sandbox));
        assert_eq!("staging".parse::<QboEnvironment>(), Err(UnknownEnvironment("staging".into())));
    }

    #[test]
    fn base_url_moves_every_endpoint() {
        let settings = IntuitOAuthSettings::new(QboEnvironment::Sandbox, "id", "s".into(), "http://localhost:8765/cb")
            .with_base_url("http://127.0.0.1:9/");
        assert_eq!(settings.auth_url, "http://127.0.0.1:9/connect/oauth2");
        assert_eq!(settings.token_url, "http://127.0.0.1:9/oauth2/v1/tokens/bearer");
        assert_eq!(settings.revoke_url, "http://127.0.0.1:9/v2/oauth2/tokens/revoke");
    }
}
