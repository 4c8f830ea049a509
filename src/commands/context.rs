//! From settings to running parts: the one place that builds clients, the store, the token
//! manager and the per-pass policy, so every command wires them the same way.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;

use crate::auth::{
    GoogleGrant, GoogleUserSettings, GoogleUserTokens, IntuitOAuthSettings, IntuitTokens, TokenKey, TokenSource,
    TokenStore,
};
use crate::directions::{Directions, NameAliases};
use crate::domain::Cell;
use crate::domain::layout::Layout;
use crate::qbo::{QboClient, QboSettings};
use crate::settings::{AutoMarkPaid, LoadOptions, ServiceAccountKey, Settings};
use crate::sheets::{GoogleCredentials, SheetsClient, SheetsSettings};
use crate::sheets::{RawRow, RowSink};
use crate::store::{Home, Store};
use crate::sync::following::Following;
use crate::sync::{Autopay, Engine, Mode, Policy};

/// Flags of `run-once` that shape the policy.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunFlags {
    pub include_failed: bool,
    pub backfill: bool,
    pub limit: Option<usize>,
}

/// The process environment, `--config`, and `--env-file` or else `./.env` when present.
pub fn load_options(config_file: Option<PathBuf>, env_file: Option<PathBuf>) -> LoadOptions {
    let mut options = LoadOptions::from_process(config_file);
    if env_file.is_some() {
        options.env_file = env_file;
    }
    options
}

/// Loads and validates settings; a mistake stops here with one message naming the setting.
pub fn load_settings(options: &LoadOptions) -> anyhow::Result<Settings> {
    Ok(Settings::load(options)?)
}

/// The Sheets client for these settings.
pub async fn sheets(settings: &Settings) -> anyhow::Result<SheetsClient> {
    settings.require_sheet()?;
    let google = &settings.google;
    let credentials = google_credentials(settings)?;
    let mut sheets = SheetsSettings::new(google.spreadsheet_id.clone().unwrap_or_default(), google.sheet_tab.clone());
    sheets.sheets_api_url = google.sheets_api_url.to_string();
    sheets.drive_api_url = google.drive_api_url.to_string();
    let tuning = &settings.tuning;
    sheets.timeout = tuning.sheets_timeout;
    sheets.max_attempts = tuning.sheets_max_attempts;
    sheets.backoff_base = tuning.sheets_backoff_base;
    sheets.reads_per_minute = tuning.sheets_reads_per_minute;
    sheets.writes_per_minute = tuning.sheets_writes_per_minute;
    let client = SheetsClient::connect(sheets, credentials).await?;
    Ok(client)
}

/// How qbsync signs in to Google: the service-account key when one is configured, else the
/// person's own account connected with `qbsync auth google`.
pub fn google_credentials(settings: &Settings) -> anyhow::Result<GoogleCredentials> {
    match &settings.google.service_account {
        Some(ServiceAccountKey::File(path)) => Ok(GoogleCredentials::service_account_from_file(path)?),
        Some(ServiceAccountKey::Inline(json)) => Ok(GoogleCredentials::service_account_from_json(json.clone())?),
        None => {
            let store = token_store(settings)?;
            if GoogleGrant::load(&store)?.is_none() {
                anyhow::bail!(
                    "no Google credentials: set GOOGLE_SERVICE_ACCOUNT_JSON (or GOOGLE_APPLICATION_CREDENTIALS) to the service-account key file, or connect your own Google account with `qbsync auth google`"
                );
            }
            let user = google_user_settings(settings, GOOGLE_REFRESH_ONLY_REDIRECT).ok_or_else(|| {
                anyhow::anyhow!(
                    "a Google account is connected (`qbsync auth google`) but QBSYNC_GOOGLE_CLIENT_ID and QBSYNC_GOOGLE_CLIENT_SECRET are not set: set them to the OAuth client it was connected with"
                )
            })?;
            Ok(GoogleCredentials::User(GoogleUserTokens::new(&user, store)?))
        }
    }
}

/// Refreshing a Google user token sends no redirect URI; this one is never visited.
const GOOGLE_REFRESH_ONLY_REDIRECT: &str = "http://127.0.0.1/";

/// The OAuth client for a person's own Google account, when `QBSYNC_GOOGLE_CLIENT_ID` and
/// `QBSYNC_GOOGLE_CLIENT_SECRET` are set.
pub fn google_user_settings(settings: &Settings, redirect_uri: &str) -> Option<GoogleUserSettings> {
    let google = &settings.google;
    let mut user = GoogleUserSettings::new(
        google.oauth_client_id.clone()?,
        google.oauth_client_secret.clone()?,
        redirect_uri.to_owned(),
    );
    user.auth_url = google.oauth_auth_url.to_string();
    user.token_url = google.oauth_token_url.to_string();
    user.http_timeout = settings.tuning.sheets_timeout;
    Some(user)
}

/// The QuickBooks token manager for these settings.
pub fn tokens(settings: &Settings) -> anyhow::Result<Arc<IntuitTokens>> {
    let store = token_store(settings)?;
    let tokens = IntuitTokens::new(oauth_settings(settings)?, store)?;
    Ok(Arc::new(tokens))
}

pub fn token_store(settings: &Settings) -> anyhow::Result<TokenStore> {
    let key = TokenKey::resolve(
        settings.auth.token_key.as_ref(),
        settings.auth.credentials_dir.as_deref(),
        &settings.paths.state_dir,
    )?;
    Ok(TokenStore::open(&settings.paths.state_dir, key)?)
}

pub fn oauth_settings(settings: &Settings) -> anyhow::Result<IntuitOAuthSettings> {
    let qb = &settings.quickbooks;
    settings.require_quickbooks_app()?;
    let mut oauth = IntuitOAuthSettings::new(
        qb.environment,
        qb.client_id.clone().unwrap_or_default(),
        qb.client_secret.clone().unwrap_or_else(|| SecretString::from(String::new())),
        qb.redirect_uri.to_string(),
    );
    oauth.auth_url = qb.auth_url.to_string();
    oauth.token_url = qb.token_url.to_string();
    oauth.revoke_url = qb.revoke_url.to_string();
    oauth.realm_id = qb.realm_id.clone();
    Ok(oauth)
}

/// The QuickBooks client for these settings.
pub fn qbo(settings: &Settings, tokens: Arc<dyn TokenSource>) -> anyhow::Result<QboClient> {
    settings.require_quickbooks()?;
    qbo_for_company(settings, settings.quickbooks.realm_id.as_deref().unwrap_or_default(), tokens)
}

/// A QuickBooks client for company `realm_id` that only reads: `auth`, `doctor` and `status`
/// use it before the document settings are complete (or `QB_REALM_ID` is set).
pub fn qbo_for_company(settings: &Settings, realm_id: &str, tokens: Arc<dyn TokenSource>) -> anyhow::Result<QboClient> {
    let qb = &settings.quickbooks;
    let mut client = QboSettings::new(qb.api_url.to_string(), realm_id, qb.app_url.to_string());
    client.minor_version = qb.minor_version;
    let tuning = &settings.tuning;
    client.timeout = tuning.qbo_timeout;
    client.max_attempts = tuning.qbo_max_attempts;
    client.retry_base_delay = tuning.qbo_retry_base;
    client.throttle_delay = tuning.qbo_throttle_wait;
    client.requests_per_minute = tuning.qbo_requests_per_minute;
    client.batches_per_minute = tuning.qbo_batches_per_minute;
    client.max_concurrent = tuning.qbo_max_concurrent;
    Ok(QboClient::new(client, tokens)?)
}

/// The engine over a fresh store, refused when the store serves another spreadsheet or tab.
pub async fn engine(settings: &Settings, tokens: Arc<dyn TokenSource>) -> anyhow::Result<Engine> {
    let sheets = sheets(settings).await?;
    let qbo = qbo(settings, tokens)?;
    let store = open_store(settings)?;
    claim_home(settings, &store)?;
    let mut engine = Engine::new(sheets, qbo, store);
    engine.following = Some(Following::every(settings.payments.interval));
    Ok(engine)
}

/// Records the configured spreadsheet and tab as the ones this state directory serves, or
/// refuses to go on when it serves others (`store::home`): a pass over another tab would take
/// every remembered row for deleted.
pub fn claim_home(settings: &Settings, store: &Store) -> anyhow::Result<()> {
    let Some(spreadsheet_id) = settings.google.spreadsheet_id.clone() else { return Ok(()) };
    store.claim_home(&Home { spreadsheet_id, tab: settings.google.sheet_tab.clone() })?;
    Ok(())
}

/// Refuses to start on a header row that lacks a column qbsync needs: a required input, or a
/// tracking column the mode writes (renamed or deleted), which would leave qbsync creating
/// documents it has nowhere to record. Only row 1 is kept of the read. When Google cannot be
/// reached, the check is left to the passes, which make it again on every read.
pub async fn check_layout(settings: &Settings, sheets: &SheetsClient) -> anyhow::Result<Option<Layout>> {
    struct Header(Option<Vec<Cell>>);
    impl RowSink for Header {
        fn row(&mut self, row: usize, raw: RawRow<'_>) -> Result<(), crate::sheets::SheetsError> {
            if row == 0 {
                self.0 = Some(raw.cells()?);
            }
            Ok(())
        }
        fn restart(&mut self) {
            self.0 = None;
        }
    }
    let mut header = Header(None);
    // Trouble reading is the passes' to report (they retry, or say what to fix); only a header
    // that would let a pass create what it cannot record stops here.
    if sheets.read_rows(&mut header).await.is_err() {
        return Ok(None);
    }
    let Some(header) = header.0 else { return Ok(None) };
    let layout = Layout::from_header(&header, &settings.sync.columns)
        .and_then(|layout| layout.check_tracking(settings.sync.creates_bills()).map(|()| layout))
        .with_context(|| format!("tab \"{}\"", settings.google.sheet_tab))?;
    Ok(Some(layout))
}

pub fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&settings.paths.state_dir)
        .with_context(|| format!("cannot create the state directory {}", settings.paths.state_dir.display()))?;
    Ok(Store::open_in(&settings.paths.state_dir)?)
}

/// The rules of one pass, read afresh (direction map and alias files included) so an edit to
/// them takes effect at the next pass without a restart.
pub fn policy(settings: &Settings, flags: RunFlags) -> anyhow::Result<Policy> {
    let paths = &settings.paths;
    let directions = Directions::load(&paths.directions_file())?;
    let customer_aliases = NameAliases::load_optional(&paths.customers_file())?;
    let vendor_aliases = NameAliases::load_optional(&paths.vendors_file())?;
    let sync = &settings.sync;
    let mode = if sync.creates_bills() { Mode::Dual } else { Mode::InvoiceOnly };
    Ok(Policy {
        mode,
        eligible: sync.eligible_statuses.clone(),
        group_by_invoice: sync.group_by_invoice,
        require_approval: sync.require_approval,
        doc_number_prefix: sync.doc_number_prefix.clone(),
        amount_format: sync.amount_format,
        date_order: sync.date_order,
        columns: sync.columns.clone().with_bill_columns(mode == Mode::Dual),
        default_item_id: settings.quickbooks.default_item_id.clone().unwrap_or_default(),
        expense_account_id: settings.quickbooks.default_expense_account.clone().unwrap_or_default(),
        ap_account_id: settings.quickbooks.default_vendor_account.clone(),
        negative_amounts: settings.tax.negative_amounts,
        tax: settings.tax.config.clone(),
        create_missing_names: sync.create_missing_names,
        config_fp: format!("{}:{}", settings.config_fingerprint(), directions.fingerprint()),
        directions,
        customer_aliases,
        vendor_aliases,
        today: chrono::Utc::now().date_naive(),
        include_failed: flags.include_failed,
        backfill: flags.backfill,
        limit: flags.limit,
        autopay: Autopay {
            invoices: settings.payments.mark_invoices_paid.clone(),
            // Bills exist only in dual mode; a bill switch set in invoice-only mode pays nothing.
            bills: if mode == Mode::Dual { settings.payments.mark_bills_paid.clone() } else { AutoMarkPaid::Off },
        },
    })
}

/// The same settings with short patience, for commands a person waits on (`doctor`,
/// `status`): a service that does not answer within a couple of quick attempts is itself the
/// finding.
pub fn impatient(settings: &Settings) -> Settings {
    let mut settings = settings.clone();
    let tuning = &mut settings.tuning;
    tuning.qbo_max_attempts = tuning.qbo_max_attempts.min(2);
    tuning.sheets_max_attempts = tuning.sheets_max_attempts.min(2);
    tuning.qbo_timeout = tuning.qbo_timeout.min(Duration::from_secs(20));
    tuning.sheets_timeout = tuning.sheets_timeout.min(Duration::from_secs(20));
    tuning.qbo_retry_base = tuning.qbo_retry_base.min(Duration::from_secs(1));
    tuning.qbo_throttle_wait = tuning.qbo_throttle_wait.min(Duration::from_secs(5));
    tuning.sheets_backoff_base = tuning.sheets_backoff_base.min(Duration::from_millis(500));
    settings
}

/// The poll interval.
pub fn interval(settings: &Settings, override_secs: Option<u64>) -> Duration {
    override_secs.map_or(settings.daemon.poll_interval, Duration::from_secs).max(Duration::from_secs(1))
}

/// Starts logging: stdout (plain for the journal, JSON with `QBSYNC_LOG_JSON`) and, for commands
/// that change things, the daily file under the log directory. Keep the guard alive.
pub fn init_logging(settings: &Settings, to_file: bool) -> anyhow::Result<crate::ops::logging::LogGuard> {
    let logging = &settings.logging;
    let guard = crate::ops::logging::init(&crate::ops::logging::LogOptions {
        dir: settings.paths.log_dir.clone(),
        file_prefix: logging.file_prefix.clone(),
        keep_files: logging.keep_files,
        json: logging.json,
        level: logging.level.clone(),
        to_file,
    })?;
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    Ok(guard)
}
