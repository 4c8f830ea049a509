//! The Google side of the sandbox: the OAuth token endpoint for service accounts, Sheets API v4
//! and Drive v3 `files.get`, over one in-memory store of spreadsheets.
//!
//! qbsync's sheet bridge is only as good as what it was tested against, so this emulator
//! reproduces the behaviours the bridge depends on and the traps it must survive: ragged rows
//! and the missing `values` key, every render and input option (RAW keeps `=…` as text,
//! USER_ENTERED makes it a formula), atomic `batchUpdate`, developer metadata that follows its
//! row where Google says it does (and a switch where Google says nothing), per-user quotas with
//! Google's real 429 body, the real 401/403/404/400 envelopes, and answers indented unless the
//! request says `prettyPrint=false` ([`pretty`]).
//!
//! | path | what |
//! |---|---|
//! | `POST /google/token` | JWT-bearer grant ([`token`]) |
//! | `/v4/spreadsheets/{id}…` | Sheets v4 ([`http`] dispatches to [`values`], [`batch_update`], [`metadata`], [`grid`]) |
//! | `GET /drive/v3/files/{id}` | Drive `files.get` ([`drive`]) |
//! | `/_sandbox/sheets/…` | control: load CSV, dump, live edits, sharing, quotas, what sorts and cut and paste do to row metadata ([`control`], [`moves`]) |
//! | `GET /spreadsheets/d/{id}/edit` | the `spreadsheetUrl`: a read-only HTML view for people |
//!
//! Row and column numbers in the control API are 0-based grid indexes: row 0 is the header row,
//! column 0 is column A.
//!
//! ## Known differences from the real service
//! - The token endpoint does not verify JWT signatures (it trusts any key) and requires the
//!   `spreadsheets` scope (or Drive's `drive.metadata.readonly`, which the change check asks
//!   for on its own); a missing bearer is answered 401 (Google answers some missing
//!   credentials with 403 "missing a valid API key").
//! - Formulas: a small evaluator (arithmetic, same-sheet references, a few functions); other
//!   functions are `#NAME?`. References do not shift when rows move.
//! - Number formats are inferred from what was typed (`$1,234.50`, `11/5/2025`, `12%`); there is
//!   no `repeatCell` or `updateCells` of formats to set them (`updateCells` writes values
//!   only). `(100.00)` and a date without a year (`1/2`) stay text. The "Automatic" display
//!   rounds to ten decimals.
//! - `PROJECT` and `DOCUMENT` metadata are visible to every caller.
//! - Row metadata follows inserts, deletes and `moveDimension` (Google documents the first two).
//!   What a sort or a cut and paste does to it is undocumented: by default the values move and
//!   the metadata stays on its physical row; [`MetadataMoves`] switches it (see [`moves`]).
//! - `values:append` finds the table as the first block of non-empty rows; Google's detection
//!   is more elaborate.
//! - Drive quota is not enforced; a throttle fault on Drive answers 403 `userRateLimitExceeded`
//!   as the Drive family does.
//! - Validation messages of `batchUpdate` follow Google's `Invalid requests[i].kind: …` form but
//!   their wording after the colon is ours; likewise for metadata ids and data-filter writes.
//!   A read whose explicit bounds pass the grid is refused (400 "exceeds grid limits"), as writes are.
//! - `values:batchUpdateByDataFilter` with a filter that matches nothing writes nothing and
//!   still answers 200 (unverified against Google).
//! - Token-endpoint 5xx/429 bodies (`internal_failure`, `rate_limit_exceeded`) are plausible,
//!   not recorded.
//! - `spreadsheetUrl` points at this sandbox (a read-only HTML view), not at docs.google.com.
//! - `spreadsheets.get` honours `ranges` only with `includeGridData=true` ([`grid`]); its
//!   `GridData` has no formats (`userEnteredFormat`, `effectiveFormat`), notes or hyperlinks,
//!   every row is 21 pixels high and every column 100 wide, and `errorValue.message` is ours.

pub(in crate::sandbox) mod a1;
pub mod batch_update;
pub mod control;
pub mod csv;
pub mod developer_metadata;
pub mod drive;
pub mod entry;
pub mod error;
mod fault;
pub mod fields;
pub mod formula;
pub mod grid;
pub mod http;
pub mod metadata;
pub mod moves;
pub mod pretty;
pub mod quota;
pub mod spreadsheet;
pub mod token;
mod update_cells;
pub mod values;
mod view;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::routing::{any, get, post};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::{SandboxOptions, Shared};
pub use control::{ControlError, LiveEdit, MetadataView};
pub use error::ApiError;
pub use moves::{MetadataMoves, MetadataOnMove};
pub use quota::QuotaConfig;
pub use spreadsheet::SortOrder;
use spreadsheet::{DEFAULT_COLUMNS, DEFAULT_ROWS, Spreadsheet};

/// The bundled demo `inv_tbl`.
pub const DEMO_SHEET_CSV: &str = include_str!("../data/inv_tbl.csv");
/// The bundled throw-away service-account key (its `token_uri` is a placeholder).
const SERVICE_ACCOUNT_JSON: &str = include_str!("../data/sandbox_service_account.json");
/// Title of the spreadsheet the sandbox starts with.
pub const DEMO_TITLE: &str = "qbsync sandbox";

/// The emulated Google services. Built by `Sandbox::start`; tests reach it as `sandbox.google`.
pub struct GoogleEmulator {
    shared: Shared,
    token_lifetime: Duration,
    spreadsheet_id: String,
    tab: String,
    state: Mutex<State>,
    tokens: token::TokenRegistry,
    quotas: quota::Quotas,
}

/// Everything behind the one lock: the spreadsheets and the seeded random source.
struct State {
    spreadsheets: BTreeMap<String, Spreadsheet>,
    rng: StdRng,
    /// The edits a person makes in the instant before each of the next writes of cell values
    /// arrives (one batch per write, in turn: on which tab, in order), see
    /// [`GoogleEmulator::edits_before_next_cell_write`].
    before_cell_write: std::collections::VecDeque<(String, Vec<control::LiveEdit>)>,
    /// What sorts and cut and paste do to row metadata.
    mover: moves::Mover,
}

impl GoogleEmulator {
    /// Starts with one spreadsheet (`options.spreadsheet_id`) holding one tab (`options.tab`)
    /// loaded from `options.sheet_csv`, or the bundled demo sheet.
    pub fn new(options: &SandboxOptions, shared: &Shared) -> anyhow::Result<Arc<GoogleEmulator>> {
        let mut spreadsheet = Spreadsheet::new(&options.spreadsheet_id, DEMO_TITLE);
        spreadsheet.add_sheet(&options.tab, Some(0), DEFAULT_ROWS, DEFAULT_COLUMNS);
        let csv = options.sheet_csv.as_deref().unwrap_or(DEMO_SHEET_CSV);
        control::load_rows(&mut spreadsheet, 0, csv::parse(csv)?);
        let mut spreadsheets = BTreeMap::new();
        spreadsheets.insert(options.spreadsheet_id.clone(), spreadsheet);
        Ok(Arc::new(GoogleEmulator {
            shared: shared.clone(),
            token_lifetime: options.google_token_lifetime,
            spreadsheet_id: options.spreadsheet_id.clone(),
            tab: options.tab.clone(),
            state: Mutex::new(State {
                spreadsheets,
                rng: StdRng::seed_from_u64(options.seed ^ 0x600_61e),
                before_cell_write: std::collections::VecDeque::new(),
                mover: moves::Mover::new(options.metadata_moves, options.seed),
            }),
            tokens: token::TokenRegistry::default(),
            quotas: quota::Quotas::new(options.enforce_limits),
        }))
    }

    /// Every route this emulator serves.
    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/google/token", post(http::token_endpoint))
            .route("/v4/spreadsheets/{*rest}", any(http::sheets))
            .route("/drive/v3/files/{id}", get(drive::files_get))
            // Google's answers, not the sandbox's own pages and controls.
            .route_layer(axum::middleware::from_fn(pretty::as_asked))
            .route("/spreadsheets/d/{id}/edit", get(view::page))
            .merge(control::router())
            .with_state(self.clone())
    }

    /// The id of the spreadsheet the sandbox started with.
    pub fn spreadsheet_id(&self) -> &str {
        &self.spreadsheet_id
    }

    /// The tab the sandbox started with (`inv_tbl` unless configured otherwise).
    pub fn tab(&self) -> &str {
        &self.tab
    }

    /// `{base_url}google/token`: what a service-account key's `token_uri` must be.
    pub fn token_uri(&self) -> String {
        format!("{}google/token", self.shared.base_url)
    }

    /// The bundled throw-away service-account key JSON with `token_uri` pointing at this sandbox,
    /// ready for `yup_oauth2::parse_service_account_key`.
    pub fn service_account_json(&self) -> String {
        match serde_json::from_str::<serde_json::Value>(SERVICE_ACCOUNT_JSON) {
            Ok(mut key) => {
                key["token_uri"] = serde_json::Value::String(self.token_uri());
                key["auth_uri"] = serde_json::Value::String(format!("{}google/auth", self.shared.base_url));
                serde_json::to_string_pretty(&key).unwrap_or_default()
            }
            Err(_) => SERVICE_ACCOUNT_JSON.replace("http://sandbox.invalid/google/token", &self.token_uri()),
        }
    }

    /// The service account the bundled key belongs to.
    pub fn service_account_email(&self) -> String {
        serde_json::from_str::<serde_json::Value>(SERVICE_ACCOUNT_JSON)
            .ok()
            .and_then(|k| k["client_email"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }

    /// A bearer token for the bundled service account, as the token endpoint would issue it.
    pub fn issue_token(&self) -> String {
        self.issue_token_for(&self.service_account_email())
    }

    /// A bearer token for any principal (quota tests use several users).
    pub fn issue_token_for(&self, principal: &str) -> String {
        let mut state = self.lock();
        self.tokens.issue(principal, self.token_lifetime, &mut state.rng)
    }

    /// Makes every issued token expire now (the next Sheets call answers 401).
    pub fn expire_tokens(&self) {
        self.tokens.expire_all();
    }

    /// Switches quota enforcement on or off (starts as `options.enforce_limits`).
    pub fn set_enforce_limits(&self, enforce: bool) {
        self.quotas.set_enabled(enforce);
    }

    /// Replaces the quota limits and window (tests shorten the window).
    pub fn set_quota(&self, config: QuotaConfig) {
        self.quotas.set_config(config);
    }

    pub fn quota(&self) -> QuotaConfig {
        self.quotas.config()
    }

    /// Forgets every request counted against the quotas.
    pub fn reset_quota(&self) {
        self.quotas.reset();
    }

    /// What sorts and cut and paste do to row metadata now.
    pub fn metadata_moves(&self) -> MetadataMoves {
        self.lock().mover.switches()
    }

    /// Switches what every later sort and cut and paste does to row metadata (starts as
    /// `options.metadata_moves`: `stay` for both).
    pub fn set_metadata_moves(&self, moves: MetadataMoves) {
        self.lock().mover.set(moves);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
