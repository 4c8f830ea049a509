//! Ready-made qbsync settings for a running sandbox.
//!
//! `qbsync sandbox` prints them, `qbsync demo` runs with them and the end-to-end tests load
//! them, so all three configure qbsync exactly the same way: the variable names a user sets for
//! the real services, pointed at the emulators.

use std::path::Path;

use secrecy::SecretString;

use super::Sandbox;
use crate::auth::{AuthError, IntuitOAuthSettings, QboEnvironment, TokenKey, TokenStore, import_refresh_token};

/// A fixed token-store key for sandbox runs (never used with real tokens).
pub const SANDBOX_TOKEN_KEY: &str = "5a4e4442584f5853414e44424f584b45595f4e4f545f415f5345435245545f5f";

/// Where a sandbox run keeps its files.
pub struct SandboxDirs<'a> {
    pub state_dir: &'a Path,
    pub log_dir: &'a Path,
    pub config_dir: &'a Path,
    /// Where the service-account key file is written.
    pub service_account_file: &'a Path,
}

impl Sandbox {
    /// The environment qbsync needs to use this sandbox, with the service-account key written
    /// to `dirs.service_account_file`. Modes default to invoice-only; callers add to the list.
    pub fn client_environment(&self, dirs: &SandboxDirs<'_>) -> std::io::Result<Vec<(String, String)>> {
        std::fs::write(dirs.service_account_file, self.google.service_account_json())?;
        let base = self.base_url();
        let pairs = [
            ("GOOGLE_SHEET_URL", format!("{base}spreadsheets/d/{}/edit", self.options.spreadsheet_id)),
            ("GOOGLE_SERVICE_ACCOUNT_JSON", dirs.service_account_file.display().to_string()),
            ("QBSYNC_SHEET_TAB", self.options.tab.clone()),
            ("QBSYNC_SHEETS_API_URL", base.to_owned()),
            ("QBSYNC_DRIVE_API_URL", base.to_owned()),
            ("QB_ENV", "sandbox".to_owned()),
            ("QB_CLIENT_ID", self.options.client_id.clone()),
            ("QB_CLIENT_SECRET", self.options.client_secret.clone()),
            ("QB_REDIRECT_URI", "http://localhost:8765/callback".to_owned()),
            ("QB_REALM_ID", self.options.realm_id.clone()),
            ("QBSYNC_QBO_API_URL", base.to_owned()),
            ("QBSYNC_QBO_TOKEN_URL", format!("{base}oauth2/v1/tokens/bearer")),
            ("QBSYNC_QBO_AUTH_URL", format!("{base}connect/oauth2")),
            ("QBSYNC_QBO_REVOKE_URL", format!("{base}v2/oauth2/tokens/revoke")),
            ("QB_DEFAULT_ITEM_ID", "1".to_owned()),
            ("QB_DEFAULT_EXPENSE_ACCOUNT", "7".to_owned()),
            ("QB_DEFAULT_VENDOR_ACCOUNT", "33".to_owned()),
            ("QBSYNC_STATE_DIR", dirs.state_dir.display().to_string()),
            ("QBSYNC_LOG_DIR", dirs.log_dir.display().to_string()),
            ("QBSYNC_CONFIG_DIR", dirs.config_dir.display().to_string()),
            ("QBSYNC_TOKEN_KEY", SANDBOX_TOKEN_KEY.to_owned()),
        ];
        Ok(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// Connects QuickBooks for a sandbox run: a grant as if a person had consented, imported
    /// into the encrypted token store in `state_dir` (and refreshed once, proving it works).
    pub async fn connect_quickbooks(&self, state_dir: &Path) -> Result<(), AuthError> {
        let (refresh_token, _) = self.intuit.issue_grant();
        let settings = IntuitOAuthSettings::new(
            QboEnvironment::Sandbox,
            self.options.client_id.clone(),
            SecretString::from(self.options.client_secret.clone()),
            "http://localhost:8765/callback",
        )
        .with_base_url(self.base_url());
        std::fs::create_dir_all(state_dir).map_err(|e| AuthError::Store { reason: e.to_string() })?;
        let key = TokenKey::from_text(&SecretString::from(SANDBOX_TOKEN_KEY.to_owned()))?;
        let store = TokenStore::open(state_dir, key)?;
        import_refresh_token(&settings, &store, SecretString::from(refresh_token), &self.options.realm_id).await?;
        Ok(())
    }
}
