//! How qbsync proves to Google who it is.
//!
//! A daemon signs in as a **service account**: a key file the user downloads from the Google
//! Cloud console, whose `client_email` they share the sheet with. The key's own `token_uri` is
//! honoured, which is also how tests point the real yup-oauth2 flow at a local token endpoint.
//! A person's own Google account (`qbsync auth google`, for users who cannot create a service
//! account) is the third way: its refresh token lives in the encrypted token store. A fixed
//! access token is accepted too (tests).
//!
//! The key JSON holds an RSA private key: it stays in a [`SecretString`] and no error message
//! here quotes it.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::error::SheetsError;
use crate::auth::GoogleUserTokens;

/// The credentials the Sheets client signs its calls with.
#[derive(Debug, Clone)]
pub enum GoogleCredentials {
    /// The text of a service-account key file (JSON with `client_email`, `private_key`, `token_uri`).
    ServiceAccountKey(SecretString),
    /// A ready access token, sent as is. It cannot be refreshed.
    AccessToken(SecretString),
    /// A person's own Google account, connected with `qbsync auth google`.
    User(GoogleUserTokens),
}

/// The fields of a key file qbsync relies on. Parsed once to fail early with a clear message;
/// yup-oauth2 parses the same text again into its own type.
#[derive(Deserialize)]
struct KeyFields {
    #[serde(rename = "type")]
    key_type: Option<String>,
    client_email: Option<String>,
    private_key: Option<SecretString>,
    token_uri: Option<String>,
}

impl GoogleCredentials {
    /// Reads and checks a service-account key file (`GOOGLE_SERVICE_ACCOUNT_JSON`,
    /// `GOOGLE_APPLICATION_CREDENTIALS`). Blocking: meant for start-up.
    pub fn service_account_from_file(path: &Path) -> Result<Self, SheetsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SheetsError::Credentials {
            reason: format!("cannot read the service-account key file {}: {e}", path.display()),
        })?;
        check_service_account_key(&text).map_err(|reason| SheetsError::Credentials {
            reason: format!("{} is not a usable service-account key: {reason}", path.display()),
        })?;
        Ok(GoogleCredentials::ServiceAccountKey(SecretString::from(text)))
    }

    /// Checks the text of a service-account key held elsewhere (an environment variable, a
    /// systemd credential).
    pub fn service_account_from_json(text: SecretString) -> Result<Self, SheetsError> {
        check_service_account_key(text.expose_secret()).map_err(|reason| SheetsError::Credentials {
            reason: format!("the service-account key is not usable: {reason}"),
        })?;
        Ok(GoogleCredentials::ServiceAccountKey(text))
    }

    /// The service account's e-mail address (the address the sheet must be shared with), when
    /// these credentials are a service-account key.
    pub fn service_account_email(&self) -> Option<String> {
        match self {
            GoogleCredentials::ServiceAccountKey(text) => {
                serde_json::from_str::<KeyFields>(text.expose_secret()).ok()?.client_email
            }
            GoogleCredentials::AccessToken(_) | GoogleCredentials::User(_) => None,
        }
    }
}

/// Checks that `text` is a service-account key, saying which part is wrong if not.
pub(crate) fn check_service_account_key(text: &str) -> Result<(), String> {
    // serde_json's messages name fields and positions, never string values, so they are safe to show.
    let fields: KeyFields = serde_json::from_str(text).map_err(|e| format!("not valid key JSON ({e})"))?;
    if let Some(kind) = fields.key_type.as_deref()
        && kind != "service_account"
    {
        return Err(format!(
            "its \"type\" is {kind:?}, not \"service_account\" (create a key for a service account in the Google Cloud console)"
        ));
    }
    let missing: Vec<&str> = [
        ("client_email", fields.client_email.as_deref().is_none_or(str::is_empty)),
        ("private_key", fields.private_key.as_ref().is_none_or(|k| k.expose_secret().is_empty())),
        ("token_uri", fields.token_uri.as_deref().is_none_or(str::is_empty)),
    ]
    .into_iter()
    .filter_map(|(name, absent)| absent.then_some(name))
    .collect();
    if !missing.is_empty() {
        return Err(format!("it has no {}", missing.join(", ")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = r#"{"type": "service_account", "project_id": "demo", "private_key_id": "k1",
        "private_key": "-----BEGIN PRIVATE KEY-----\nnot-a-real-key\n-----END PRIVATE KEY-----\n",
        "client_email": "qbsync@demo.iam.gserviceaccount.com", "token_uri": "http://127.0.0.1:1/token"}"#;

    #[test]
    fn a_key_names_its_service_account() {
        let credentials = GoogleCredentials::ServiceAccountKey(SecretString::from(KEY));
        assert_eq!(credentials.service_account_email().as_deref(), Some("qbsync@demo.iam.gserviceaccount.com"));
        assert_eq!(GoogleCredentials::AccessToken(SecretString::from("t")).service_account_email(), None);
    }

    #[test]
    fn reading_a_key_file_checks_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let good = dir.path().join("key.json");
        std::fs::write(&good, KEY).expect("write key");
        let credentials = GoogleCredentials::service_account_from_file(&good).expect("a valid key");
        assert!(matches!(credentials, GoogleCredentials::ServiceAccountKey(_)));

        let user = dir.path().join("user.json");
        std::fs::write(&user, r#"{"type": "authorized_user", "client_id": "x", "refresh_token": "secret-refresh"}"#)
            .expect("write");
        let SheetsError::Credentials { reason } = GoogleCredentials::service_account_from_file(&user).unwrap_err()
        else {
            panic!("an authorized_user file is a credentials error")
        };
        assert!(reason.contains("\"authorized_user\", not \"service_account\""), "{reason}");
        assert!(!reason.contains("secret-refresh"));

        let missing = dir.path().join("missing.json");
        let SheetsError::Credentials { reason } = GoogleCredentials::service_account_from_file(&missing).unwrap_err()
        else {
            panic!("an unreadable file is a credentials error")
        };
        assert!(reason.contains("cannot read the service-account key file"), "{reason}");
    }

    #[test]
    fn key_text_is_checked_too() {
        let credentials = GoogleCredentials::service_account_from_json(SecretString::from(KEY)).expect("valid");
        assert!(matches!(credentials, GoogleCredentials::ServiceAccountKey(_)));
        let error = GoogleCredentials::service_account_from_json(SecretString::from("{}")).unwrap_err();
        assert_eq!(
            error,
            SheetsError::Credentials {
                reason: "the service-account key is not usable: it has no client_email, private_key, token_uri".into()
            }
        );
    }

    #[test]
    fn incomplete_or_garbled_keys_say_what_is_wrong_without_quoting_the_key() {
        assert_eq!(
            check_service_account_key(r#"{"private_key": "PRIVATE-PEM-TEXT"}"#).unwrap_err(),
            "it has no client_email, token_uri"
        );
        let garbled = check_service_account_key(r#"{"private_key": "PRIVATE-PEM-TEXT", "#).unwrap_err();
        assert!(garbled.starts_with("not valid key JSON"), "{garbled}");
        assert!(!garbled.contains("PRIVATE-PEM-TEXT"));
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let credentials = GoogleCredentials::ServiceAccountKey(SecretString::from(KEY));
        assert!(!format!("{credentials:?}").contains("PRIVATE KEY"));
    }
}
