//! Every setting's two names: its TOML key and the environment variable(s) that set it.
//!
//! One table, so that layering, unknown-name detection, error messages and the documentation
//! in `config/default.toml` cannot drift apart (a test checks that every key is documented).

use crate::domain::Field;

/// `(toml key, environment names in priority order, secret)`.
const TABLE: &[(&str, &[&str], bool)] = &[
    ("google.sheet_url", &["GOOGLE_SHEET_URL"], false),
    // GOOGLE_APPLICATION_CREDENTIALS is often set machine-wide for other tools; qbsync's own
    // name wins when both are present.
    ("google.service_account_json", &["GOOGLE_SERVICE_ACCOUNT_JSON", "GOOGLE_APPLICATION_CREDENTIALS"], true),
    ("google.sheet_tab", &["QBSYNC_SHEET_TAB"], false),
    ("google.sheets_api_url", &["QBSYNC_SHEETS_API_URL"], false),
    ("google.drive_api_url", &["QBSYNC_DRIVE_API_URL"], false),
    ("google.oauth_client_id", &["QBSYNC_GOOGLE_CLIENT_ID"], false),
    ("google.oauth_client_secret", &["QBSYNC_GOOGLE_CLIENT_SECRET"], true),
    ("google.oauth_auth_url", &["QBSYNC_GOOGLE_AUTH_URL"], false),
    ("google.oauth_token_url", &["QBSYNC_GOOGLE_TOKEN_URL"], false),
    ("quickbooks.environment", &["QB_ENV"], false),
    ("quickbooks.client_id", &["QB_CLIENT_ID"], false),
    ("quickbooks.client_secret", &["QB_CLIENT_SECRET"], true),
    ("quickbooks.redirect_uri", &["QB_REDIRECT_URI"], false),
    ("quickbooks.realm_id", &["QB_REALM_ID"], false),
    ("quickbooks.minor_version", &["QB_MINOR_VERSION"], false),
    ("quickbooks.default_item_id", &["QB_DEFAULT_ITEM_ID"], false),
    ("quickbooks.default_item_name", &["QB_DEFAULT_ITEM_NAME"], false),
    ("quickbooks.default_vendor_account", &["QB_DEFAULT_VENDOR_ACCOUNT"], false),
    ("quickbooks.default_expense_account", &["QB_DEFAULT_EXPENSE_ACCOUNT"], false),
    ("quickbooks.default_tax_code", &["QB_DEFAULT_TAX_CODE"], false),
    ("quickbooks.default_purchase_tax_code", &["QB_DEFAULT_PURCHASE_TAX_CODE"], false),
    ("quickbooks.api_url", &["QBSYNC_QBO_API_URL"], false),
    ("quickbooks.token_url", &["QBSYNC_QBO_TOKEN_URL"], false),
    ("quickbooks.auth_url", &["QBSYNC_QBO_AUTH_URL"], false),
    ("quickbooks.revoke_url", &["QBSYNC_QBO_REVOKE_URL"], false),
    ("quickbooks.app_url", &["QBSYNC_QBO_APP_URL"], false),
    ("sync.mode", &["QB_SYNC_MODE"], false),
    ("sync.enable_bills", &["QB_ENABLE_BILLS"], false),
    ("sync.eligible_statuses", &["QB_ELIGIBLE_STATUSES"], false),
    ("sync.group_by_invoice", &["QBSYNC_GROUP_BY_INVOICE"], false),
    ("sync.create_missing_names", &["QBSYNC_CREATE_MISSING_NAMES"], false),
    ("sync.doc_number_prefix", &["QBSYNC_DOC_NUMBER_PREFIX"], false),
    ("sync.date_order", &["QBSYNC_DATE_ORDER"], false),
    ("sync.amount_decimal_comma", &["QBSYNC_AMOUNT_DECIMAL_COMMA"], false),
    ("sync.amounts_include_tax", &["QBSYNC_AMOUNTS_INCLUDE_TAX"], false),
    ("sync.negative_amounts", &["QBSYNC_NEGATIVE_AMOUNTS"], false),
    ("sync.require_approval", &["QBSYNC_REQUIRE_APPROVAL"], false),
    ("paths.state_dir", &["QBSYNC_STATE_DIR"], false),
    ("paths.log_dir", &["QBSYNC_LOG_DIR"], false),
    ("paths.config_dir", &["QBSYNC_CONFIG_DIR"], false),
    ("daemon.poll_interval", &["QBSYNC_POLL_INTERVAL"], false),
    ("payments.interval", &["QBSYNC_PAYMENTS_INTERVAL"], false),
    ("payments.auto_mark_bill_paid", &["QB_AUTO_MARK_BILL_PAID"], false),
    ("payments.bill_payment_account", &["QB_BILL_PAYMENT_ACCOUNT"], false),
    ("payments.auto_mark_invoice_paid", &["QB_AUTO_MARK_INVOICE_PAID"], false),
    ("payments.deposit_account", &["QB_PAYMENT_DEPOSIT_ACCOUNT"], false),
    ("daemon.change_check_interval", &["QBSYNC_CHANGE_CHECK_INTERVAL"], false),
    ("status.addr", &["QBSYNC_STATUS_ADDR"], false),
    // Slack-style webhook URLs and SMTP URLs carry credentials.
    ("alerts.webhook_url", &["QBSYNC_ALERT_WEBHOOK_URL"], true),
    ("alerts.smtp_url", &["QBSYNC_SMTP_URL"], true),
    ("alerts.email_to", &["QBSYNC_ALERT_EMAIL_TO"], false),
    ("alerts.email_from", &["QBSYNC_ALERT_EMAIL_FROM"], false),
    ("alerts.stale_after", &["QBSYNC_ALERT_STALE_AFTER"], false),
    ("logging.json", &["QBSYNC_LOG_JSON"], false),
    ("logging.level", &["QBSYNC_LOG_LEVEL"], false),
    ("logging.keep_files", &["QBSYNC_LOG_KEEP_FILES"], false),
    ("logging.file_prefix", &["QBSYNC_LOG_FILE_PREFIX"], false),
    ("auth.token_key", &["QBSYNC_TOKEN_KEY"], true),
    ("tuning.qbo_timeout_ms", &["QBSYNC_QBO_TIMEOUT_MS"], false),
    ("tuning.qbo_max_attempts", &["QBSYNC_QBO_MAX_ATTEMPTS"], false),
    ("tuning.qbo_retry_base_ms", &["QBSYNC_QBO_RETRY_BASE_MS"], false),
    ("tuning.qbo_throttle_wait_ms", &["QBSYNC_QBO_THROTTLE_WAIT_MS"], false),
    ("tuning.qbo_requests_per_minute", &["QBSYNC_QBO_REQUESTS_PER_MINUTE"], false),
    ("tuning.qbo_batches_per_minute", &["QBSYNC_QBO_BATCHES_PER_MINUTE"], false),
    ("tuning.qbo_max_concurrent", &["QBSYNC_QBO_MAX_CONCURRENT"], false),
    ("tuning.sheets_timeout_ms", &["QBSYNC_SHEETS_TIMEOUT_MS"], false),
    ("tuning.sheets_max_attempts", &["QBSYNC_SHEETS_MAX_ATTEMPTS"], false),
    ("tuning.sheets_backoff_base_ms", &["QBSYNC_SHEETS_BACKOFF_BASE_MS"], false),
    ("tuning.sheets_reads_per_minute", &["QBSYNC_SHEETS_READS_PER_MINUTE"], false),
    ("tuning.sheets_writes_per_minute", &["QBSYNC_SHEETS_WRITES_PER_MINUTE"], false),
];

/// One setting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Key {
    /// `section.name`
    pub toml: String,
    /// Highest priority first.
    pub env: Vec<String>,
    /// Its value is never shown.
    pub secret: bool,
}

impl Key {
    /// The primary environment variable name.
    pub fn env_name(&self) -> &str {
        self.env.first().map(String::as_str).unwrap_or_default()
    }
}

/// Every setting, the column headers included (`columns.<field>` / `QBSYNC_COLUMN_<FIELD>`).
pub(super) fn all() -> Vec<Key> {
    let table = TABLE.iter().map(|(toml, env, secret)| Key {
        toml: (*toml).to_owned(),
        env: env.iter().map(|e| (*e).to_owned()).collect(),
        secret: *secret,
    });
    let columns = Field::ALL.into_iter().map(|field| Key {
        toml: format!("columns.{}", field.key()),
        env: vec![format!("QBSYNC_COLUMN_{}", field.key().to_uppercase())],
        secret: false,
    });
    table.chain(columns).collect()
}

/// The sections a TOML file may have.
pub(super) fn sections() -> Vec<&'static str> {
    let mut sections: Vec<&str> =
        TABLE.iter().filter_map(|(toml, _, _)| toml.split_once('.').map(|(s, _)| s)).collect();
    sections.push("columns");
    sections.dedup();
    sections
}

/// The closest known name to a misspelt one, if any is close.
pub(super) fn suggest<'a>(unknown: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let unknown = unknown.to_lowercase();
    known
        .map(|k| (strsim::jaro_winkler(&unknown, &k.to_lowercase()), k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let keys = all();
        let mut toml: Vec<&str> = keys.iter().map(|k| k.toml.as_str()).collect();
        let mut env: Vec<&str> = keys.iter().flat_map(|k| k.env.iter().map(String::as_str)).collect();
        let (t, e) = (toml.len(), env.len());
        toml.sort();
        toml.dedup();
        env.sort();
        env.dedup();
        assert_eq!((toml.len(), env.len()), (t, e));
    }

    #[test]
    fn column_keys_follow_the_field_keys() {
        let keys = all();
        let key = keys.iter().find(|k| k.toml == "columns.inv_dollars").unwrap();
        assert_eq!(key.env_name(), "QBSYNC_COLUMN_INV_DOLLARS");
        assert!(keys.iter().any(|k| k.env_name() == "QBSYNC_COLUMN_OWED2ACD"));
    }

    #[test]
    fn suggestions_catch_typos_only() {
        let known = ["QBSYNC_POLL_INTERVAL", "QB_SYNC_MODE"];
        assert_eq!(suggest("QBSYNC_POLL_INTERAVL", known.into_iter()), Some("QBSYNC_POLL_INTERVAL"));
        assert_eq!(suggest("HOME", known.into_iter()), None);
    }
}
