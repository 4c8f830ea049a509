//! Layered configuration: `config/default.toml` → `--config FILE` → `.env` → the environment.
//!
//! qbsync is configured by people who already have a `.env` from the seed plan
//! (`GOOGLE_SHEET_URL`, `QB_CLIENT_ID`, …), by systemd (`STATE_DIRECTORY`, credentials) and by
//! TOML files. [`Settings::load`] merges them (lowest to highest precedence):
//!
//! 1. the shipped `config/default.toml`, compiled into the binary, then the copy in the
//!    configuration directory if there is one;
//! 2. `--config FILE`;
//! 3. a `.env` file (read into a map; the process environment is never modified);
//! 4. the process environment.
//!
//! Every value is parsed here, once, into a typed field; a mistake stops start-up with one
//! [`SettingsError`] naming the setting by its environment variable and TOML key, the bad value
//! (never a secret's) and the fix. An empty environment variable counts as unset. Secrets are
//! held in [`SecretString`], so `Debug` of [`Settings`] never shows them.
//!
//! `default.toml` documents every key; `keys.rs` is the table of names.

mod error;
mod keys;
mod layers;
mod payments;
mod tax;
mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

pub use error::{InvalidValue, Origin, SettingName, SettingsError};
pub use layers::LoadOptions;
pub use payments::{AutoMarkPaid, DEFAULT_PAYMENTS_INTERVAL_SECS, PaymentSettings};
pub use tax::{NegativeAmounts, NegativeAmountsError, TaxSettings};

use crate::directions::{Directions, DirectionsError, MapKind, NameAliases};
use crate::domain::{AmountFormat, ColumnNames, DateOrder, EligibleStatuses, Field, Fingerprinter};
use layers::{Layers, Raw};
use values::{Problem, optional, or_default, problem};

/// The default QuickBooks minor version, and the oldest Intuit still serves.
pub const MINOR_VERSION: u32 = 75;

/// Everything qbsync is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    pub google: GoogleSettings,
    pub quickbooks: QuickBooksSettings,
    pub sync: SyncSettings,
    /// Sales tax and negative amounts (`QB_DEFAULT_TAX_CODE`, `QBSYNC_NEGATIVE_AMOUNTS`, …).
    pub tax: TaxSettings,
    pub paths: Paths,
    pub daemon: DaemonSettings,
    pub status: StatusSettings,
    pub alerts: AlertSettings,
    pub logging: LogSettings,
    pub auth: AuthSettings,
    pub tuning: TuningSettings,
    pub payments: PaymentSettings,
    /// Things worth a log line at start-up that are not mistakes (an unknown `QB_*` variable,
    /// a setting without effect). Never contain secret values.
    pub warnings: Vec<String>,
}

/// `[google]`: the sheet and how to reach it.
#[derive(Clone, Debug)]
pub struct GoogleSettings {
    /// From `GOOGLE_SHEET_URL` (the sheet's address or its bare id).
    pub spreadsheet_id: Option<String>,
    /// The tab holding the rows (`QBSYNC_SHEET_TAB`, default `inv_tbl`).
    pub sheet_tab: String,
    /// The service-account key (`GOOGLE_SERVICE_ACCOUNT_JSON`, else `GOOGLE_APPLICATION_CREDENTIALS`).
    /// `None`: a person's Google account via `qbsync auth google`.
    pub service_account: Option<ServiceAccountKey>,
    /// Sheets API root, ends with `/` (`QBSYNC_SHEETS_API_URL`).
    pub sheets_api_url: Url,
    /// Drive API root, ends with `/` (`QBSYNC_DRIVE_API_URL`).
    pub drive_api_url: Url,
    /// OAuth client for `qbsync auth google` (`QBSYNC_GOOGLE_CLIENT_ID`).
    pub oauth_client_id: Option<String>,
    /// (`QBSYNC_GOOGLE_CLIENT_SECRET`)
    pub oauth_client_secret: Option<SecretString>,
    /// Google's consent page (`QBSYNC_GOOGLE_AUTH_URL`).
    pub oauth_auth_url: Url,
    /// Google's token endpoint for user tokens (`QBSYNC_GOOGLE_TOKEN_URL`). A service-account
    /// key's own `token_uri` is used for service accounts.
    pub oauth_token_url: Url,
}

/// Where the Google service-account key is.
#[derive(Clone, Debug)]
pub enum ServiceAccountKey {
    /// A path to the key JSON (checked to exist at load).
    File(PathBuf),
    /// The key JSON itself, given inline (the value started with `{`).
    Inline(SecretString),
}

pub use crate::auth::QboEnvironment;

fn parse_environment(value: &str) -> Result<QboEnvironment, Problem> {
    value.parse().map_err(|_| problem("is not a QuickBooks environment", "use Sandbox (or Development) or Production"))
}

/// `[quickbooks]`: the Intuit app, the company, and the Ids documents are built with.
#[derive(Clone, Debug)]
pub struct QuickBooksSettings {
    /// `QB_ENV`
    pub environment: QboEnvironment,
    /// `QB_CLIENT_ID`
    pub client_id: Option<String>,
    /// `QB_CLIENT_SECRET`
    pub client_secret: Option<SecretString>,
    /// `QB_REDIRECT_URI` (default `http://localhost:8765/callback`)
    pub redirect_uri: Url,
    /// `QB_REALM_ID`; `qbsync auth` also records the realm it was granted.
    pub realm_id: Option<String>,
    /// `QB_MINOR_VERSION` (at least 75).
    pub minor_version: u32,
    /// `QB_DEFAULT_ITEM_ID`: the item on every invoice line.
    pub default_item_id: Option<String>,
    /// `QB_DEFAULT_ITEM_NAME`: shown with the item reference.
    pub default_item_name: Option<String>,
    /// `QB_DEFAULT_VENDOR_ACCOUNT`: the Accounts Payable account of bills (`APAccountRef`).
    pub default_vendor_account: Option<String>,
    /// `QB_DEFAULT_EXPENSE_ACCOUNT`: the expense account of bill lines.
    pub default_expense_account: Option<String>,
    /// API host, ends with `/`; `v3/company/…` is appended (`QBSYNC_QBO_API_URL`, default by `QB_ENV`).
    pub api_url: Url,
    /// OAuth token endpoint (`QBSYNC_QBO_TOKEN_URL`).
    pub token_url: Url,
    /// OAuth consent page (`QBSYNC_QBO_AUTH_URL`).
    pub auth_url: Url,
    /// OAuth revoke endpoint (`QBSYNC_QBO_REVOKE_URL`).
    pub revoke_url: Url,
    /// Host of the links written to the sheet, ends with `/` (`QBSYNC_QBO_APP_URL`, default by `QB_ENV`).
    pub app_url: Url,
}

impl QuickBooksSettings {
    /// The link a bookkeeper clicks to open an invoice: `…/app/invoice?txnId=<Id>`.
    pub fn invoice_link(&self, id: &str) -> String {
        self.link("invoice", id)
    }

    /// The link a bookkeeper clicks to open a bill: `…/app/bill?txnId=<Id>`.
    pub fn bill_link(&self, id: &str) -> String {
        self.link("bill", id)
    }

    fn link(&self, kind: &str, id: &str) -> String {
        let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
        format!("{}app/{kind}?txnId={id}", self.app_url)
    }
}

/// `QB_SYNC_MODE`: which documents qbsync creates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncMode {
    /// Invoices only; money-out rows are `skipped` (QuickBooks Simple Start has no bills).
    #[default]
    InvoiceOnly,
    /// Invoices and bills (needs `QB_ENABLE_BILLS=true`).
    Dual,
}

impl SyncMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncMode::InvoiceOnly => "invoice_only",
            SyncMode::Dual => "dual",
        }
    }
}

/// A `QB_SYNC_MODE` (or `--mode`) value that is no mode.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a sync mode: use invoice_only or dual")]
pub struct SyncModeError(pub String);

impl FromStr for SyncMode {
    type Err = SyncModeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "invoice_only" | "invoices_only" | "invoice" => Ok(SyncMode::InvoiceOnly),
            "dual" => Ok(SyncMode::Dual),
            _ => Err(SyncModeError(value.to_owned())),
        }
    }
}

/// `[sync]` and `[columns]`: what a row means and what it becomes.
#[derive(Clone, Debug)]
pub struct SyncSettings {
    /// `QB_SYNC_MODE`
    pub mode: SyncMode,
    /// `QB_ENABLE_BILLS`; `dual` requires it (checked at load).
    pub enable_bills: bool,
    /// `QB_ELIGIBLE_STATUSES`
    pub eligible_statuses: EligibleStatuses,
    /// `QBSYNC_GROUP_BY_INVOICE`
    pub group_by_invoice: bool,
    /// `QBSYNC_REQUIRE_APPROVAL`: a ready row waits, showing a preview, until a person approves it.
    pub require_approval: bool,
    /// `QBSYNC_CREATE_MISSING_NAMES`
    pub create_missing_names: bool,
    /// `QBSYNC_DOC_NUMBER_PREFIX` (at most 20 characters).
    pub doc_number_prefix: String,
    /// `QBSYNC_DATE_ORDER`
    pub date_order: DateOrder,
    /// `QBSYNC_AMOUNT_DECIMAL_COMMA`
    pub amount_format: AmountFormat,
    /// `[columns]` / `QBSYNC_COLUMN_<FIELD>`
    pub columns: ColumnNames,
    /// `qb_directions.json` in the configuration directory; `None` when the file does not
    /// exist (see [`Settings::require_directions`]).
    pub directions: Option<Directions>,
    /// `qb_customers.json` (optional).
    pub customer_aliases: NameAliases,
    /// `qb_vendors.json` (optional).
    pub vendor_aliases: NameAliases,
}

impl SyncSettings {
    /// True when money-out rows become bills.
    pub fn creates_bills(&self) -> bool {
        self.mode == SyncMode::Dual && self.enable_bills
    }
}

/// `[paths]`: where qbsync keeps things.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// SQLite and tokens (`QBSYNC_STATE_DIR`, else `$STATE_DIRECTORY`, else `state`).
    pub state_dir: PathBuf,
    /// Log files (`QBSYNC_LOG_DIR`, else `$LOGS_DIRECTORY`, else `logs`).
    pub log_dir: PathBuf,
    /// The direction map and alias files (`QBSYNC_CONFIG_DIR`, else `$CONFIGURATION_DIRECTORY`, else `config`).
    pub config_dir: PathBuf,
}

impl Paths {
    pub fn directions_file(&self) -> PathBuf {
        self.config_dir.join("qb_directions.json")
    }

    pub fn customers_file(&self) -> PathBuf {
        self.config_dir.join("qb_customers.json")
    }

    pub fn vendors_file(&self) -> PathBuf {
        self.config_dir.join("qb_vendors.json")
    }
}

/// `[daemon]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSettings {
    /// `QBSYNC_POLL_INTERVAL` (seconds, default 60).
    pub poll_interval: Duration,
    /// `QBSYNC_CHANGE_CHECK_INTERVAL` (seconds, default 5; `None` when `off`): how often the
    /// daemon asks Drive whether the sheet changed between polls (see `crate::pickup`).
    pub change_check_interval: Option<Duration>,
}

/// `[tuning]`: how hard qbsync leans on the two services. The defaults are the published limits
/// and patient retries; tests and the benchmark shorten the waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TuningSettings {
    pub qbo_timeout: Duration,
    pub qbo_max_attempts: u32,
    pub qbo_retry_base: Duration,
    /// How long every QuickBooks call pauses after a 429 without `Retry-After` (Intuit: 60 s).
    pub qbo_throttle_wait: Duration,
    pub qbo_requests_per_minute: u32,
    pub qbo_batches_per_minute: u32,
    pub qbo_max_concurrent: usize,
    pub sheets_timeout: Duration,
    pub sheets_max_attempts: u32,
    pub sheets_backoff_base: Duration,
    /// Google's per-user quotas (60 each unless Google raised them for your project).
    pub sheets_reads_per_minute: u32,
    pub sheets_writes_per_minute: u32,
}

/// `[status]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSettings {
    /// `QBSYNC_STATUS_ADDR`: where the daemon serves its status page; `None` (the default) serves none.
    pub addr: Option<SocketAddr>,
}

/// `[alerts]`
#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// `QBSYNC_ALERT_WEBHOOK_URL` (Slack-compatible; a secret, since the URL is the credential).
    pub webhook_url: Option<SecretString>,
    /// `QBSYNC_SMTP_URL` (`smtps://user:password@host:465`; a secret).
    pub smtp_url: Option<SecretString>,
    /// `QBSYNC_ALERT_EMAIL_TO` (comma-separated).
    pub email_to: Vec<String>,
    /// `QBSYNC_ALERT_EMAIL_FROM`
    pub email_from: Option<String>,
    /// `QBSYNC_ALERT_STALE_AFTER`: alert when no pass has succeeded for this long (default 30 min).
    pub stale_after: Duration,
}

/// `[logging]`
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSettings {
    /// `QBSYNC_LOG_JSON`: JSON lines on stdout instead of plain text.
    pub json: bool,
    /// `QBSYNC_LOG_LEVEL`: a tracing filter (`info`, `qbsync=debug,info`).
    pub level: String,
    /// `QBSYNC_LOG_KEEP_FILES`: daily files kept.
    pub keep_files: usize,
    /// `QBSYNC_LOG_FILE_PREFIX`: files are `<prefix>.YYYY-MM-DD` in the log directory.
    pub file_prefix: String,
}

/// `[auth]`: the key of the encrypted token store.
#[derive(Clone, Debug)]
pub struct AuthSettings {
    /// `QBSYNC_TOKEN_KEY`; else a systemd credential or a key file (the auth module decides).
    pub token_key: Option<SecretString>,
    /// `$CREDENTIALS_DIRECTORY` (systemd `LoadCredential=`), if set.
    pub credentials_dir: Option<PathBuf>,
}

/// Built-in defaults; `config/default.toml` states the same values (a test checks).
mod defaults {
    pub const SHEET_TAB: &str = "inv_tbl";
    pub const SHEETS_API_URL: &str = "https://sheets.googleapis.com/";
    pub const DRIVE_API_URL: &str = "https://www.googleapis.com/";
    pub const GOOGLE_AUTH_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
    pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
    pub const REDIRECT_URI: &str = "http://localhost:8765/callback";
    pub const QBO_TOKEN_URL: &str = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer";
    pub const QBO_AUTH_URL: &str = "https://appcenter.intuit.com/connect/oauth2";
    pub const QBO_REVOKE_URL: &str = "https://developer.api.intuit.com/v2/oauth2/tokens/revoke";
    pub const POLL_INTERVAL_SECS: u64 = 60;
    pub const CHANGE_CHECK_INTERVAL_SECS: u64 = 5;
    pub const STALE_AFTER_SECS: u64 = 1800;
    pub const LOG_LEVEL: &str = "info";
    pub const LOG_KEEP_FILES: usize = 14;
    pub const LOG_FILE_PREFIX: &str = "quickbooks_sync.log";
    pub const STATE_DIR: &str = "state";
    pub const LOG_DIR: &str = "logs";
    pub const CONFIG_DIR: &str = "config";
}

/// The longest prefix that leaves room for a one-character number within QuickBooks' 21.
const MAX_PREFIX_LEN: usize = 20;

impl Settings {
    /// Reads and checks every layer. The first mistake found is the error.
    pub fn load(options: &LoadOptions) -> Result<Settings, SettingsError> {
        let layers = Layers::load(options)?;
        let mut warnings = layers.unknown_env_names();
        let paths = read_paths(&layers)?;
        let google = read_google(&layers)?;
        let quickbooks = read_quickbooks(&layers, &mut warnings)?;
        let sync = read_sync(&layers, &paths, &mut warnings)?;
        let tax = tax::read_tax(&layers)?;
        let daemon = DaemonSettings {
            poll_interval: or_default(
                layers.get("daemon.poll_interval")?,
                Duration::from_secs(defaults::POLL_INTERVAL_SECS),
                values::seconds(1),
            )?,
            change_check_interval: or_default(
                layers.get("daemon.change_check_interval")?,
                Some(Duration::from_secs(defaults::CHANGE_CHECK_INTERVAL_SECS)),
                values::seconds_or_off(1),
            )?,
        };
        let status = StatusSettings { addr: or_default(layers.get("status.addr")?, None, values::listen_addr)? };
        let alerts = read_alerts(&layers)?;
        let logging = read_logging(&layers)?;
        let auth = AuthSettings {
            token_key: optional(layers.get("auth.token_key")?, secret)?,
            credentials_dir: layers.ambient("CREDENTIALS_DIRECTORY").map(PathBuf::from),
        };
        let tuning = read_tuning(&layers)?;
        let payments = payments::read_payments(&layers)?;
        Ok(Settings {
            google,
            quickbooks,
            sync,
            tax,
            paths,
            daemon,
            status,
            alerts,
            logging,
            auth,
            tuning,
            payments,
            warnings,
        })
    }

    /// What every command that reads or writes the sheet needs: which spreadsheet.
    pub fn require_sheet(&self) -> Result<(), SettingsError> {
        if self.google.spreadsheet_id.is_none() {
            return Err(missing(
                "google.sheet_url",
                "qbsync needs to know which Google Sheet to read",
                "For example GOOGLE_SHEET_URL=https://docs.google.com/spreadsheets/d/<id>/edit",
            ));
        }
        Ok(())
    }

    /// What connecting to QuickBooks needs (`qbsync auth`, token refresh): the Intuit app.
    pub fn require_quickbooks_app(&self) -> Result<(), SettingsError> {
        if self.quickbooks.client_id.is_none() {
            return Err(missing(
                "quickbooks.client_id",
                "qbsync needs your Intuit app's Client ID to connect to QuickBooks",
                "The Client ID is at developer.intuit.com → your app → Keys and credentials",
            ));
        }
        if self.quickbooks.client_secret.is_none() {
            return Err(missing(
                "quickbooks.client_secret",
                "qbsync needs your Intuit app's Client Secret to connect to QuickBooks",
                "The Client Secret is at developer.intuit.com → your app → Keys and credentials",
            ));
        }
        Ok(())
    }

    /// What creating documents needs: the Intuit app, the item of invoice lines and, when bills
    /// are created, the expense account of bill lines.
    pub fn require_quickbooks(&self) -> Result<(), SettingsError> {
        self.require_quickbooks_app()?;
        if self.quickbooks.default_item_id.is_none() {
            return Err(missing(
                "quickbooks.default_item_id",
                "every invoice line needs a QuickBooks item (a product or service), given by its Id",
                "`qbsync doctor` lists your items and their Ids",
            ));
        }
        if self.sync.creates_bills() && self.quickbooks.default_expense_account.is_none() {
            return Err(missing(
                "quickbooks.default_expense_account",
                "with QB_SYNC_MODE=dual every bill line needs an expense account, given by its Id",
                "`qbsync doctor` lists your accounts and their Ids",
            ));
        }
        Ok(())
    }

    /// The direction map, which every pass needs.
    pub fn require_directions(&self) -> Result<&Directions, SettingsError> {
        self.sync.directions.as_ref().ok_or_else(|| {
            SettingsError::Directions(DirectionsError::Unreadable {
                path: self.paths.directions_file(),
                kind: MapKind::Directions,
                cause: std::io::ErrorKind::NotFound.into(),
            })
        })
    }

    /// Changes when anything a row's outcome depends on changes, so that a failed row is tried
    /// again after the configuration was fixed: the company, the mode, Ids, prefix, date and
    /// amount formats, column names, the direction map and the alias files.
    pub fn config_fingerprint(&self) -> String {
        let (q, s) = (&self.quickbooks, &self.sync);
        let none = String::new();
        let mut f = Fingerprinter::new("config v1");
        f.add("environment", q.environment.as_str())
            .add("realm_id", q.realm_id.as_ref().unwrap_or(&none))
            .add("minor_version", &q.minor_version.to_string())
            .add("default_item_id", q.default_item_id.as_ref().unwrap_or(&none))
            .add("default_item_name", q.default_item_name.as_ref().unwrap_or(&none))
            .add("default_vendor_account", q.default_vendor_account.as_ref().unwrap_or(&none))
            .add("default_expense_account", q.default_expense_account.as_ref().unwrap_or(&none))
            .add("mode", s.mode.as_str())
            .add("enable_bills", &s.enable_bills.to_string())
            .add("group_by_invoice", &s.group_by_invoice.to_string())
            .add("create_missing_names", &s.create_missing_names.to_string())
            .add("doc_number_prefix", &s.doc_number_prefix)
            .add("date_order", s.date_order.as_str())
            .add("amount_decimal_comma", &s.amount_format.allow_space_grouping_comma_decimal.to_string())
            .add("directions", &s.directions.as_ref().map(Directions::fingerprint).unwrap_or_default())
            .add("customer_aliases", &s.customer_aliases.fingerprint())
            .add("vendor_aliases", &s.vendor_aliases.fingerprint());
        // Added only when not the defaults, so a configuration without them keeps its
        // fingerprint (and its rows their seals) across the upgrade that introduced them.
        if self.tax != TaxSettings::default() {
            let tax = &self.tax;
            let code =
                |c: &Option<crate::qbo::TaxCodeSpec>| c.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
            f.add("default_tax_code", &code(&tax.config.sales_code))
                .add("default_purchase_tax_code", &code(&tax.config.purchase_code))
                .add("amounts_include_tax", &tax.config.amounts_include_tax.to_string())
                .add("negative_amounts", tax.negative_amounts.as_str());
        }
        // The approval columns count only when renamed, for the same reason. Whether approval
        // is on does not count: it changes when a row is sent, never what it becomes.
        // Paying documents from the sheet changes what a synced row with a paid date leads to, so
        // turning it on must unseal such rows (see `sync::seal`); off, the fingerprint is as before.
        let payments = &self.payments;
        if payments.mark_invoices_paid != AutoMarkPaid::Off || payments.mark_bills_paid != AutoMarkPaid::Off {
            let direction = |d: &AutoMarkPaid| match d {
                AutoMarkPaid::Off => String::new(),
                AutoMarkPaid::On { account_id } => account_id.clone(),
            };
            f.add("auto_mark_invoice_paid", &direction(&payments.mark_invoices_paid))
                .add("auto_mark_bill_paid", &direction(&payments.mark_bills_paid));
        }
        for (field, name) in s.columns.iter() {
            if Field::APPROVAL.contains(&field) && name == field.default_header() {
                continue;
            }
            f.add(field.key(), name);
        }
        f.finish()
    }
}

fn missing(toml_key: &str, why: &str, hint: &str) -> SettingsError {
    let keys = keys::all();
    let setting = keys
        .iter()
        .find(|k| k.toml == toml_key)
        .map(SettingName::of)
        .unwrap_or_else(|| SettingName { env: toml_key.to_owned(), toml: toml_key.to_owned() });
    SettingsError::Missing { setting, why: why.to_owned(), hint: hint.to_owned() }
}

fn secret(value: &str) -> Result<SecretString, Problem> {
    Ok(SecretString::from(value.to_owned()))
}

fn read_paths(layers: &Layers) -> Result<Paths, SettingsError> {
    let dir = |key: &str, ambient: &str, default: &str| -> Result<PathBuf, SettingsError> {
        Ok(match layers.get(key)? {
            Some(raw) => PathBuf::from(raw.text()),
            None => PathBuf::from(layers.ambient(ambient).unwrap_or_else(|| default.to_owned())),
        })
    };
    Ok(Paths {
        state_dir: dir("paths.state_dir", "STATE_DIRECTORY", defaults::STATE_DIR)?,
        log_dir: dir("paths.log_dir", "LOGS_DIRECTORY", defaults::LOG_DIR)?,
        config_dir: layers.config_dir.clone(),
    })
}

fn read_google(layers: &Layers) -> Result<GoogleSettings, SettingsError> {
    let url = |key: &str, default: &str, parser: fn(&str) -> Result<Url, Problem>| -> Result<Url, SettingsError> {
        match layers.get(key)? {
            Some(raw) => raw.parse(parser),
            None => parser(default).map_err(|p| builtin_error(key, default, p)),
        }
    };
    Ok(GoogleSettings {
        spreadsheet_id: optional(layers.get("google.sheet_url")?, values::spreadsheet_id)?,
        sheet_tab: or_default(layers.get("google.sheet_tab")?, defaults::SHEET_TAB.to_owned(), values::text)?,
        service_account: layers.get("google.service_account_json")?.map(service_account_key).transpose()?,
        sheets_api_url: url("google.sheets_api_url", defaults::SHEETS_API_URL, values::base_url)?,
        drive_api_url: url("google.drive_api_url", defaults::DRIVE_API_URL, values::base_url)?,
        oauth_client_id: optional(layers.get("google.oauth_client_id")?, values::text)?,
        oauth_client_secret: optional(layers.get("google.oauth_client_secret")?, secret)?,
        oauth_auth_url: url("google.oauth_auth_url", defaults::GOOGLE_AUTH_URL, values::service_url)?,
        oauth_token_url: url("google.oauth_token_url", defaults::GOOGLE_TOKEN_URL, values::service_url)?,
    })
}

/// Inline JSON (secret) or a path (shown in errors: a path is not a secret, and the person
/// needs to see which one is wrong).
fn service_account_key(raw: Raw) -> Result<ServiceAccountKey, SettingsError> {
    let value = raw.text();
    if value.starts_with('{') {
        return match serde_json::from_str::<serde_json::Value>(&value) {
            Ok(_) => Ok(ServiceAccountKey::Inline(SecretString::from(value))),
            Err(_) => Err(raw.invalid(problem(
                "starts with { but is not valid JSON",
                "give the path of the key file instead, or paste the whole key JSON on one line in single quotes",
            ))),
        };
    }
    let path = PathBuf::from(&value);
    if path.is_file() {
        return Ok(ServiceAccountKey::File(path));
    }
    let mut key = raw.key.clone();
    key.secret = false;
    Err(Raw { key, ..raw }.invalid(problem(
        "names no readable file",
        "point it at the service-account key JSON downloaded from Google Cloud (IAM → Service accounts → Keys)",
    )))
}

fn read_quickbooks(layers: &Layers, warnings: &mut Vec<String>) -> Result<QuickBooksSettings, SettingsError> {
    let environment = or_default(layers.get("quickbooks.environment")?, QboEnvironment::default(), parse_environment)?;
    let url = |key: &str, default: &str, parser: fn(&str) -> Result<Url, Problem>| -> Result<Url, SettingsError> {
        match layers.get(key)? {
            Some(raw) => raw.parse(parser),
            None => parser(default).map_err(|p| builtin_error(key, default, p)),
        }
    };
    let mut minor_version = or_default(layers.get("quickbooks.minor_version")?, MINOR_VERSION, |v| {
        v.parse::<u32>().map_err(|_| problem("is not a minor version number", "use 75, or leave it unset"))
    })?;
    if minor_version < MINOR_VERSION {
        warnings.push(format!(
            "QB_MINOR_VERSION={minor_version} is below {MINOR_VERSION}, the oldest minor version QuickBooks still serves; qbsync uses {MINOR_VERSION}"
        ));
        minor_version = MINOR_VERSION;
    }
    Ok(QuickBooksSettings {
        environment,
        client_id: optional(layers.get("quickbooks.client_id")?, values::text)?,
        client_secret: optional(layers.get("quickbooks.client_secret")?, secret)?,
        redirect_uri: url("quickbooks.redirect_uri", defaults::REDIRECT_URI, values::redirect_uri)?,
        realm_id: optional(
            layers.get("quickbooks.realm_id")?,
            values::qbo_id("company (realm)", ", shown under your company's name in the Intuit developer portal"),
        )?,
        minor_version,
        default_item_id: optional(
            layers.get("quickbooks.default_item_id")?,
            values::qbo_id("item", "; a name belongs in QB_DEFAULT_ITEM_NAME"),
        )?,
        default_item_name: optional(layers.get("quickbooks.default_item_name")?, values::text)?,
        default_vendor_account: optional(
            layers.get("quickbooks.default_vendor_account")?,
            values::qbo_id("account", ""),
        )?,
        default_expense_account: optional(
            layers.get("quickbooks.default_expense_account")?,
            values::qbo_id("account", ""),
        )?,
        api_url: url("quickbooks.api_url", environment.api_base_url(), values::base_url)?,
        token_url: url("quickbooks.token_url", defaults::QBO_TOKEN_URL, values::service_url)?,
        auth_url: url("quickbooks.auth_url", defaults::QBO_AUTH_URL, values::service_url)?,
        revoke_url: url("quickbooks.revoke_url", defaults::QBO_REVOKE_URL, values::service_url)?,
        app_url: url("quickbooks.app_url", environment.app_base_url(), values::base_url)?,
    })
}

fn read_sync(layers: &Layers, paths: &Paths, warnings: &mut Vec<String>) -> Result<SyncSettings, SettingsError> {
    let mode = or_default(layers.get("sync.mode")?, SyncMode::default(), |v| {
        SyncMode::from_str(v).map_err(|_| problem("is not a sync mode", "use invoice_only or dual"))
    })?;
    let enable_bills = or_default(layers.get("sync.enable_bills")?, false, values::boolean)?;
    match (mode, enable_bills) {
        (SyncMode::Dual, false) => {
            return Err(SettingsError::Conflict {
                message: "QB_SYNC_MODE=dual needs QB_ENABLE_BILLS=true (mode and enable_bills under [sync]): bills need QuickBooks Online Essentials or higher, so they are switched on explicitly. Set QB_ENABLE_BILLS=true to create bills, or QB_SYNC_MODE=invoice_only to skip money-out rows".to_owned(),
            });
        }
        (SyncMode::InvoiceOnly, true) => warnings.push(
            "QB_ENABLE_BILLS=true has no effect with QB_SYNC_MODE=invoice_only: money-out rows are skipped; set QB_SYNC_MODE=dual to create bills".to_owned(),
        ),
        _ => {}
    }
    let eligible_statuses = or_default(layers.get("sync.eligible_statuses")?, EligibleStatuses::default(), |v| {
        EligibleStatuses::parse(v).map_err(|_| {
            problem("lists no status", "list the status values that make a row ready, e.g. submitted,pending")
        })
    })?;
    let doc_number_prefix = or_default(layers.get("sync.doc_number_prefix")?, String::new(), |v| {
        if v.chars().count() > MAX_PREFIX_LEN {
            Err(problem(
                format!("is longer than {MAX_PREFIX_LEN} characters"),
                "shorten it (QuickBooks keeps at most 21 characters of prefix and number together)",
            ))
        } else if v.chars().any(char::is_control) {
            Err(problem("contains a control character", "use letters, digits and punctuation only"))
        } else {
            Ok(v.to_owned())
        }
    })?;
    let date_order = or_default(layers.get("sync.date_order")?, DateOrder::default(), |v| {
        DateOrder::from_str(v).map_err(|_| {
            problem("is not a date order", "use us (11/5/2025 is November 5) or day-first (5/11/2025 is November 5)")
        })
    })?;
    let decimal_comma = or_default(layers.get("sync.amount_decimal_comma")?, false, values::boolean)?;
    let require_approval = or_default(layers.get("sync.require_approval")?, false, values::boolean)?;

    let directions_file = paths.directions_file();
    let directions = if directions_file.exists() { Some(Directions::load(&directions_file)?) } else { None };
    Ok(SyncSettings {
        mode,
        enable_bills,
        eligible_statuses,
        group_by_invoice: or_default(layers.get("sync.group_by_invoice")?, false, values::boolean)?,
        require_approval,
        create_missing_names: or_default(layers.get("sync.create_missing_names")?, false, values::boolean)?,
        doc_number_prefix,
        date_order,
        amount_format: AmountFormat { allow_space_grouping_comma_decimal: decimal_comma },
        columns: read_columns(layers)?.with_approval_columns(require_approval),
        directions,
        customer_aliases: NameAliases::load_optional(&paths.customers_file())?,
        vendor_aliases: NameAliases::load_optional(&paths.vendors_file())?,
    })
}

fn read_columns(layers: &Layers) -> Result<ColumnNames, SettingsError> {
    let mut columns = ColumnNames::default();
    for field in Field::ALL {
        if let Some(raw) = layers.get(&format!("columns.{}", field.key()))? {
            let name = raw.text();
            columns
                .set(field, &name)
                .map_err(|e| raw.invalid(problem(e.to_string(), "give the column's header text")))?;
        }
    }
    columns.validate().map_err(|error| {
        let names =
            |field: Field| format!("QBSYNC_COLUMN_{} ({} under [columns])", field.key().to_uppercase(), field.key());
        match error {
            crate::domain::layout::ColumnNameError::SameName { first, second, name } => SettingsError::Conflict {
                message: format!(
                    "{} and {} both name the column \"{name}\": give each field its own header",
                    names(first),
                    names(second)
                ),
            },
            other => SettingsError::Conflict { message: other.to_string() },
        }
    })?;
    Ok(columns)
}

fn read_alerts(layers: &Layers) -> Result<AlertSettings, SettingsError> {
    let webhook_url = optional(layers.get("alerts.webhook_url")?, |v| {
        values::service_url(v).map(|url| SecretString::from(url.to_string()))
    })?;
    let smtp_url = optional(layers.get("alerts.smtp_url")?, |v| values::smtp_url(v).map(SecretString::from))?;
    let email_to = or_default(layers.get("alerts.email_to")?, Vec::new(), values::mailboxes)?;
    let email_from = optional(layers.get("alerts.email_from")?, values::mailbox)?;
    let email = "QBSYNC_SMTP_URL, QBSYNC_ALERT_EMAIL_TO and QBSYNC_ALERT_EMAIL_FROM (smtp_url, email_to, email_from under [alerts])";
    if smtp_url.is_some() && (email_to.is_empty() || email_from.is_none()) {
        return Err(SettingsError::Conflict {
            message: format!("e-mail alerts need all three of {email}: set the missing ones, or unset QBSYNC_SMTP_URL"),
        });
    }
    if smtp_url.is_none() && (!email_to.is_empty() || email_from.is_some()) {
        return Err(SettingsError::Conflict {
            message: format!("e-mail alerts need all three of {email}: QBSYNC_SMTP_URL is not set"),
        });
    }
    Ok(AlertSettings {
        webhook_url,
        smtp_url,
        email_to,
        email_from,
        stale_after: or_default(
            layers.get("alerts.stale_after")?,
            Duration::from_secs(defaults::STALE_AFTER_SECS),
            values::seconds(60),
        )?,
    })
}

fn read_logging(layers: &Layers) -> Result<LogSettings, SettingsError> {
    Ok(LogSettings {
        json: or_default(layers.get("logging.json")?, false, values::boolean)?,
        level: or_default(layers.get("logging.level")?, defaults::LOG_LEVEL.to_owned(), values::log_level)?,
        keep_files: or_default(layers.get("logging.keep_files")?, defaults::LOG_KEEP_FILES, values::count(1))?,
        file_prefix: or_default(layers.get("logging.file_prefix")?, defaults::LOG_FILE_PREFIX.to_owned(), |v| {
            if v.contains(['/', '\\']) {
                Err(problem("contains a path separator", "give a file name only; the directory is QBSYNC_LOG_DIR"))
            } else {
                Ok(v.to_owned())
            }
        })?,
    })
}

/// A built-in default that does not parse: a bug in qbsync, reported like any other mistake.
fn builtin_error(toml_key: &str, default: &str, (problem, fix): Problem) -> SettingsError {
    let setting = keys::all()
        .iter()
        .find(|k| k.toml == toml_key)
        .map(SettingName::of)
        .unwrap_or_else(|| SettingName { env: toml_key.to_owned(), toml: toml_key.to_owned() });
    SettingsError::invalid(setting, Some(default.to_owned()), Origin::Defaults, problem, fix)
}

#[cfg(test)]
mod tests;

fn read_tuning(layers: &Layers) -> Result<TuningSettings, SettingsError> {
    let ms = |key: &str, default: u64, min: u64| -> Result<Duration, SettingsError> {
        or_default(layers.get(key)?, Duration::from_millis(default), values::millis(min))
    };
    let n = |key: &str, default: usize| -> Result<usize, SettingsError> {
        or_default(layers.get(key)?, default, values::count(1))
    };
    Ok(TuningSettings {
        qbo_timeout: ms("tuning.qbo_timeout_ms", 60_000, 100)?,
        qbo_max_attempts: n("tuning.qbo_max_attempts", 5)? as u32,
        qbo_retry_base: ms("tuning.qbo_retry_base_ms", 1_000, 1)?,
        qbo_throttle_wait: ms("tuning.qbo_throttle_wait_ms", 60_000, 1)?,
        qbo_requests_per_minute: n("tuning.qbo_requests_per_minute", 500)? as u32,
        qbo_batches_per_minute: n("tuning.qbo_batches_per_minute", 40)? as u32,
        qbo_max_concurrent: n("tuning.qbo_max_concurrent", 10)?,
        sheets_timeout: ms("tuning.sheets_timeout_ms", 30_000, 100)?,
        sheets_max_attempts: n("tuning.sheets_max_attempts", 5)? as u32,
        sheets_backoff_base: ms("tuning.sheets_backoff_base_ms", 1_000, 1)?,
        sheets_reads_per_minute: n("tuning.sheets_reads_per_minute", 60)? as u32,
        sheets_writes_per_minute: n("tuning.sheets_writes_per_minute", 60)? as u32,
    })
}
