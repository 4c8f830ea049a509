//! [`SheetsClient`]: the handful of Sheets and Drive calls qbsync makes, each paced, bounded by
//! a timeout, classified and retried the same way.
//!
//! | method | request | quota |
//! |---|---|---|
//! | [`tab_info`](SheetsClient::tab_info) | `spreadsheets.get` (few fields) | read |
//! | [`read_values`](SheetsClient::read_values), [`read_values_body`](SheetsClient::read_values_body) | `values.get` of the whole tab | read |
//! | [`write_cells`](SheetsClient::write_cells) | one `values:batchUpdate`, RAW | write |
//! | [`anchors`](SheetsClient::anchors) | `developerMetadata:search` | read |
//! | [`update_anchors`](SheetsClient::update_anchors) | one `spreadsheets:batchUpdate` | write |
//! | [`ensure_columns`](SheetsClient::ensure_columns) | `spreadsheets.get` + `appendDimension` | read + write |
//! | [`drive_version`](SheetsClient::drive_version) | Drive `files.get` | Drive |
//!
//! Calls that add something (anchors, columns) are not blindly repeated after an attempt whose
//! outcome is unknown: they look at the sheet first and send only what is still missing.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};

use google_sheets4::api::{
    AppendDimensionRequest, BatchUpdateSpreadsheetRequest, BatchUpdateValuesRequest, Request, Spreadsheet, ValueRange,
};
use hyper::body::Bytes;
use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use super::anchors::{self, Anchors, NewAnchor, RowAnchor};
use super::error::{
    Context, Failure, SheetsError, TokenFailure, classify_google_error, classify_hub_error, classify_status_only,
};
use super::hub::{self, DRIVE_METADATA_SCOPE, Hub, SPREADSHEETS_SCOPE, TokenProvider};
use super::pacing::Pacer;
use super::retry::RetryPolicy;
use super::stats::{Counters, SheetsStats};
use super::values::ValuesBody;
use super::{CellRun, GoogleCredentials, SheetsSettings, TabInfo, a1};
use crate::domain::Cell;

/// What a google-sheets4 call returns.
type HubResult<T> = google_sheets4::Result<(google_sheets4::common::Response, T)>;

/// The most a whole-tab read reserves up front from the answer's announced length (a larger
/// answer still arrives; its buffer grows as it comes).
const MAX_PREALLOCATED: u64 = 512 * 1024 * 1024;

/// The fields `tab_info` needs; the full answer carries every tab's formatting and theme.
const TAB_FIELDS: &str =
    "properties(title,timeZone),sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)))";

/// A connection to one tab of one spreadsheet.
pub struct SheetsClient {
    settings: SheetsSettings,
    /// The spreadsheet id, percent-encoded for URL paths.
    spreadsheet_path: String,
    account: Option<String>,
    hub: Hub,
    tokens: TokenProvider,
    /// Plain HTTP for the calls made without the hub: Drive, and the whole-tab read.
    drive: reqwest::Client,
    drive_file_url: Url,
    /// `values.get` of the whole tab, with its render options.
    values_url: Url,
    /// `developerMetadata:search` of the spreadsheet.
    search_url: Url,
    pacer: Pacer,
    counters: Counters,
    retry: RetryPolicy,
    sheet_id: SheetIdCache,
}

impl fmt::Debug for SheetsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SheetsClient")
            .field("spreadsheet_id", &self.settings.spreadsheet_id)
            .field("tab", &self.settings.tab)
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl SheetsClient {
    /// Checks the settings and credentials and builds the client. Makes no request: the first
    /// call fetches a token and finds out whether the sheet is reachable.
    pub async fn connect(
        settings: SheetsSettings,
        credentials: GoogleCredentials,
    ) -> Result<SheetsClient, SheetsError> {
        let invalid = |reason: String| SheetsError::InvalidSettings { reason };
        if settings.spreadsheet_id.trim().is_empty() {
            return Err(invalid("the spreadsheet id is empty".into()));
        }
        if settings.tab.is_empty() {
            return Err(invalid("the tab name is empty".into()));
        }
        if settings.timeout.is_zero() {
            return Err(invalid("the timeout must be longer than zero".into()));
        }
        let sheets_root = api_root(&settings.sheets_api_url, "Sheets")?;
        let drive_root = api_root(&settings.drive_api_url, "Drive")?;
        let spreadsheet_path = a1::encode_path_segment(&settings.spreadsheet_id);
        let mut drive_file_url = drive_root
            .join(&format!("drive/v3/files/{spreadsheet_path}"))
            .map_err(|e| invalid(format!("the Drive API URL cannot be extended: {e}")))?;
        drive_file_url
            .query_pairs_mut()
            .append_pair("fields", "version,modifiedTime")
            .append_pair("supportsAllDrives", "true");
        let range = a1::encode_path_segment(&a1::whole_sheet(&settings.tab));
        let mut values_url = sheets_root
            .join(&format!("v4/spreadsheets/{spreadsheet_path}/values/{range}"))
            .map_err(|e| invalid(format!("the Sheets API URL cannot be extended: {e}")))?;
        values_url
            .query_pairs_mut()
            .append_pair("valueRenderOption", "UNFORMATTED_VALUE")
            .append_pair("dateTimeRenderOption", "SERIAL_NUMBER")
            .append_pair("majorDimension", "ROWS");
        let mut search_url = sheets_root
            .join(&format!("v4/spreadsheets/{spreadsheet_path}/developerMetadata:search"))
            .map_err(|e| invalid(format!("the Sheets API URL cannot be extended: {e}")))?;
        search_url.query_pairs_mut().append_pair("fields", anchors::SEARCH_FIELDS);

        let connector = hub::connector(settings.timeout)?;
        let tokens = TokenProvider::new(&credentials, connector.clone(), settings.timeout).await?;
        let hub = hub::hub(connector, sheets_root.as_str(), tokens.clone());
        let drive = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("qbsync/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid(format!("the Drive HTTP client cannot be built: {e}")))?;

        Ok(SheetsClient {
            spreadsheet_path,
            account: credentials.service_account_email(),
            hub,
            tokens,
            drive,
            drive_file_url,
            values_url,
            search_url,
            pacer: Pacer::new(settings.reads_per_minute, settings.writes_per_minute),
            counters: Counters::default(),
            retry: RetryPolicy { max_attempts: settings.max_attempts, base: settings.backoff_base },
            sheet_id: SheetIdCache::default(),
            settings,
        })
    }

    /// The spreadsheet's and the tab's properties; also remembers the tab's sheet id.
    pub async fn tab_info(&self) -> Result<TabInfo, SheetsError> {
        let spreadsheet: Spreadsheet = self
            .sheets_call("spreadsheets.get", move |_| {
                let call = self
                    .hub
                    .spreadsheets()
                    .get(&self.spreadsheet_path)
                    .include_grid_data(false)
                    .param("fields", TAB_FIELDS)
                    .add_scope(SPREADSHEETS_SCOPE)
                    .doit();
                self.read(call)
            })
            .await?;
        let info = tab_info_from(spreadsheet, &self.settings.tab)?;
        self.sheet_id.set(info.sheet_id);
        Ok(info)
    }

    /// Every row of the tab, unformatted (numbers as numbers, dates as serial numbers). Index 0
    /// is the header row. Rows are as ragged as Google sends them (trailing empty cells and
    /// trailing empty rows are left out, a blank row in the middle is empty): the caller pads.
    pub async fn read_values(&self) -> Result<Vec<Vec<Cell>>, SheetsError> {
        self.read_values_body().await?.into_rows()
    }

    /// The same read as [`read_values`](Self::read_values), handed back as the answer's body to
    /// be walked row by row ([`ValuesBody`]), so a long tab is never held as cells unless the
    /// caller wants them. Sent as plain HTTP rather than through the hub, which would copy the
    /// body and build a JSON tree of the whole tab first.
    pub async fn read_values_body(&self) -> Result<ValuesBody, SheetsError> {
        self.read_values_body_like(None).await
    }

    /// [`read_values_body`](Self::read_values_body), compared with `known` as it arrives: when
    /// the answer is byte for byte `known` (nobody edited meanwhile), `known` is what comes
    /// back, and the answer was never held a second time. On a long tab that is tens of
    /// megabytes not copied, on each of the several reads a busy pass makes.
    pub async fn read_values_body_like(&self, known: Option<&ValuesBody>) -> Result<ValuesBody, SheetsError> {
        match self.plain_read("values.get", &self.values_url, None, known.map(ValuesBody::bytes)).await {
            Ok(body) => Ok(ValuesBody::new(body)),
            Err(error) => Err(self.explain_rejection(error).await),
        }
    }

    /// Writes every run in one `values:batchUpdate` with `valueInputOption=RAW` (so text that
    /// starts with `=` stays text). Empty cells are sent as `""`, never `null`: google-sheets4
    /// drops nulls and the following cells would shift left (trap 1). Does nothing for no runs.
    pub async fn write_cells(&self, runs: &[CellRun]) -> Result<(), SheetsError> {
        let data = runs
            .iter()
            .filter(|run| !run.values.is_empty())
            .map(|run| {
                let width = u32::try_from(run.values.len())
                    .map_err(|_| SheetsError::Rejected { message: format!("row {} has too many cells", run.row) })?;
                Ok(ValueRange {
                    range: Some(a1::row_span(&self.settings.tab, run.row, run.col, width)),
                    values: Some(vec![run.values.iter().map(Cell::to_json).collect()]),
                    major_dimension: None,
                })
            })
            .collect::<Result<Vec<_>, SheetsError>>()?;
        if data.is_empty() {
            return Ok(());
        }
        let request = BatchUpdateValuesRequest {
            value_input_option: Some("RAW".to_owned()),
            data: Some(data),
            ..Default::default()
        };
        let request = &request;
        let result = self
            .sheets_call("values:batchUpdate", move |_| {
                let call = self
                    .hub
                    .spreadsheets()
                    .values_batch_update(request.clone(), &self.spreadsheet_path)
                    .add_scope(SPREADSHEETS_SCOPE)
                    .doit();
                self.write(call)
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => Err(self.explain_rejection(error).await),
        }
    }

    /// The row anchors ([`anchors::ANCHOR_KEY`]) on this tab, sorted by row. Sent as plain
    /// HTTP and read with lean types ([`anchors::parse_search`]): a sheet of 50,000 anchored
    /// rows answers with tens of megabytes.
    pub async fn anchors(&self) -> Result<Vec<RowAnchor>, SheetsError> {
        Ok(self.anchors_like(None).await?.to_vec())
    }

    /// [`anchors`](Self::anchors), compared with `known` as the answer arrives: when it is byte
    /// for byte the answer `known` was read from, `known` comes back and nothing is decoded. A
    /// busy pass reads the anchors up to four times, and they rarely change in between.
    pub async fn anchors_like(&self, known: Option<&Anchors>) -> Result<Anchors, SheetsError> {
        let sheet_id = self.sheet_id().await?;
        let request = anchors::search_body()
            .map_err(|e| SheetsError::Rejected { message: format!("the anchor search cannot be written: {e}") })?;
        let known_body = known.map(Anchors::body).filter(|body| !body.is_empty());
        let body = self.plain_read("developerMetadata:search", &self.search_url, Some(&request), known_body).await?;
        // The very bytes held come back when the answer matched them as it arrived.
        if let Some(known) =
            known.filter(|known| known.body().as_ptr() == body.as_ptr() && known.body().len() == body.len())
        {
            return Ok(known.clone());
        }
        let list = anchors::parse_search(&body, sheet_id)
            .map_err(|e| SheetsError::Rejected { message: format!("Google's answer could not be decoded: {e}") })?;
        Ok(Anchors::new(body, list))
    }

    /// Deletes the anchors with ids `delete` and creates one-row anchors `create`, in one
    /// atomic `spreadsheets:batchUpdate`. If an attempt's outcome is unknown, the next one first
    /// searches the anchors and sends only what is still to do, so a key is not anchored twice.
    pub async fn update_anchors(&self, create: &[NewAnchor], delete: &[i32]) -> Result<(), SheetsError> {
        if create.is_empty() && delete.is_empty() {
            return Ok(());
        }
        let sheet_id = self.sheet_id().await?;
        let first = anchors::update_request(sheet_id, create, delete)?;
        let first = &first;
        self.sheets_call("spreadsheets:batchUpdate (anchors)", move |attempt| async move {
            let request = if attempt == 1 {
                first.clone()
            } else {
                let current = self.anchors().await.map_err(Failure::Fatal)?;
                let (create, delete) = anchors::still_to_do(create, delete, &current);
                if create.is_empty() && delete.is_empty() {
                    return Ok(());
                }
                anchors::update_request(sheet_id, &create, &delete).map_err(Failure::Fatal)?
            };
            let call = self
                .hub
                .spreadsheets()
                .batch_update(request, &self.spreadsheet_path)
                .add_scope(SPREADSHEETS_SCOPE)
                .doit();
            self.write(call).await.map(drop)
        })
        .await
    }

    /// Makes the grid at least `width` columns wide (appending columns at the right), so that
    /// `qbsync migrate` can add header cells beyond the last column. The grid is read on every
    /// attempt: appending is not idempotent.
    pub async fn ensure_columns(&self, width: u32) -> Result<(), SheetsError> {
        self.sheets_call("spreadsheets:batchUpdate (appendDimension)", move |_| async move {
            let info = self.tab_info().await.map_err(Failure::Fatal)?;
            if info.column_count >= width {
                return Ok(());
            }
            let length = i32::try_from(width - info.column_count).map_err(|_| {
                Failure::Fatal(SheetsError::Rejected { message: format!("{width} columns are beyond any sheet") })
            })?;
            let request = BatchUpdateSpreadsheetRequest {
                requests: Some(vec![Request {
                    append_dimension: Some(AppendDimensionRequest {
                        sheet_id: Some(info.sheet_id),
                        dimension: Some("COLUMNS".to_owned()),
                        length: Some(length),
                    }),
                    ..Default::default()
                }]),
                ..Default::default()
            };
            let call = self
                .hub
                .spreadsheets()
                .batch_update(request, &self.spreadsheet_path)
                .add_scope(SPREADSHEETS_SCOPE)
                .doit();
            self.write(call).await.map(drop)
        })
        .await
    }

    /// The spreadsheet file's Drive `version` (a number that grows with every change, qbsync's
    /// own writes included), or its `modifiedTime` if Drive sends no version. Costs Drive quota,
    /// not Sheets quota, so an idle poll can skip the Sheets read while it is unchanged.
    pub async fn drive_version(&self) -> Result<String, SheetsError> {
        self.retry
            .run("drive files.get", DRIVE_METADATA_SCOPE, &self.counters, &self.tokens, move |_| {
                self.bounded(async move {
                    let token = self.tokens.token(&[DRIVE_METADATA_SCOPE]).await.map_err(TokenFailure::into_failure)?;
                    self.counters.drive_read();
                    let response = self
                        .drive
                        .get(self.drive_file_url.clone())
                        .bearer_auth(token.expose_secret())
                        .send()
                        .await
                        .map_err(|e| Failure::Transient(format!("Drive did not answer: {e}")))?;
                    let status = response.status().as_u16();
                    let body = response
                        .bytes()
                        .await
                        .map_err(|e| Failure::Transient(format!("reading Drive's answer failed: {e}")))?;
                    let json = serde_json::from_slice::<Value>(&body);
                    if !(200..300).contains(&status) {
                        return Err(match json {
                            Ok(json) => classify_google_error(Some(status), &json, self.context()),
                            Err(_) => classify_status_only(status, self.context()),
                        });
                    }
                    json.ok().as_ref().and_then(drive_version_from).ok_or_else(|| {
                        Failure::Fatal(SheetsError::Rejected {
                            message: "Drive's answer has neither a version nor a modifiedTime".into(),
                        })
                    })
                })
            })
            .await
    }

    /// What has been sent so far.
    pub fn stats(&self) -> SheetsStats {
        self.counters.snapshot()
    }

    /// Runs a Sheets call under the retry policy.
    async fn sheets_call<T, F, Fut>(&self, what: &str, op: F) -> Result<T, SheetsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        self.retry.run(what, SPREADSHEETS_SCOPE, &self.counters, &self.tokens, op).await
    }

    /// The tab's sheet id, from the last `tab_info` or a fresh one.
    async fn sheet_id(&self) -> Result<i32, SheetsError> {
        match self.sheet_id.get() {
            Some(id) => Ok(id),
            None => Ok(self.tab_info().await?.sheet_id),
        }
    }

    /// One read attempt: waits for a read slot, then sends.
    async fn read<T>(&self, call: impl Future<Output = HubResult<T>>) -> Result<T, Failure> {
        self.pacer.read().await;
        self.send(Counters::read, call).await
    }

    /// One write attempt: waits for a write slot, then sends.
    async fn write<T>(&self, call: impl Future<Output = HubResult<T>>) -> Result<T, Failure> {
        self.pacer.write().await;
        self.send(Counters::write, call).await
    }

    /// Sends a hub call within the timeout (google-sheets4 has none, trap 5) and classifies its
    /// error. The token is fetched first, so that a call that never left (no token) is not
    /// counted; the hub then finds it in yup-oauth2's cache.
    async fn send<T>(&self, count: fn(&Counters), call: impl Future<Output = HubResult<T>>) -> Result<T, Failure> {
        self.bounded(async {
            self.tokens.token(&[SPREADSHEETS_SCOPE]).await.map_err(TokenFailure::into_failure)?;
            count(&self.counters);
            match call.await {
                Ok((_, body)) => Ok(body),
                Err(error) => Err(classify_hub_error(error, self.context())),
            }
        })
        .await
    }

    /// A read sent as plain HTTP rather than through the hub (which copies the body and builds
    /// its full types from it): `GET url`, or `POST url` with a JSON body. Paced, bounded,
    /// counted, classified and retried exactly as the hub's reads; returns the body as it came
    /// (`known` itself when it came byte for byte the same, see [`Gathered`]).
    async fn plain_read(
        &self,
        what: &str,
        url: &Url,
        json: Option<&[u8]>,
        known: Option<&Bytes>,
    ) -> Result<Bytes, SheetsError> {
        self.retry
            .run(what, SPREADSHEETS_SCOPE, &self.counters, &self.tokens, move |_| {
                self.bounded(async move {
                    self.pacer.read().await;
                    let token = self.tokens.token(&[SPREADSHEETS_SCOPE]).await.map_err(TokenFailure::into_failure)?;
                    self.counters.read();
                    let request = match json {
                        Some(json) => self
                            .drive
                            .post(url.clone())
                            .header(reqwest::header::CONTENT_TYPE, "application/json")
                            .body(json.to_vec()),
                        None => self.drive.get(url.clone()),
                    };
                    let mut response = request
                        .bearer_auth(token.expose_secret())
                        .send()
                        .await
                        .map_err(|e| self.transport_failure(&e, "connection failed"))?;
                    let status = response.status().as_u16();
                    let announced = response.content_length().unwrap_or(0).min(MAX_PREALLOCATED);
                    let mut body = Gathered::new(usize::try_from(announced).unwrap_or(0), known);
                    while let Some(chunk) =
                        response.chunk().await.map_err(|e| self.transport_failure(&e, "reading the answer failed"))?
                    {
                        body.push(&chunk);
                    }
                    let body = body.finish();
                    if !(200..300).contains(&status) {
                        return Err(match serde_json::from_slice::<Value>(&body) {
                            Ok(json) => classify_google_error(Some(status), &json, self.context()),
                            Err(_) => classify_status_only(status, self.context()),
                        });
                    }
                    Ok(body)
                })
            })
            .await
    }

    /// A transport error of a plain-HTTP call, worded as the hub's are (reqwest's own timeout
    /// fires with [`bounded`](Self::bounded)'s, and says the same).
    fn transport_failure(&self, error: &reqwest::Error, what: &str) -> Failure {
        if error.is_timeout() {
            Failure::Transient(format!("no answer within {:?}", self.settings.timeout))
        } else {
            Failure::Transient(format!("{what}: {error}"))
        }
    }

    /// Bounds one attempt by the timeout.
    async fn bounded<T>(&self, attempt: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
        match tokio::time::timeout(self.settings.timeout, attempt).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::Transient(format!("no answer within {:?}", self.settings.timeout))),
        }
    }

    fn context(&self) -> Context<'_> {
        Context { spreadsheet_id: &self.settings.spreadsheet_id, account: self.account.as_deref() }
    }

    /// A range naming a tab that does not exist is a 400 "Unable to parse range"; when that is
    /// the cause, say so and list the tabs there are.
    async fn explain_rejection(&self, error: SheetsError) -> SheetsError {
        if !matches!(error, SheetsError::Rejected { .. }) {
            return error;
        }
        match self.tab_info().await {
            Err(missing @ SheetsError::TabNotFound { .. }) => missing,
            _ => error,
        }
    }
}

/// Checks an API root and gives it the trailing `/` the crate's URL building needs.
fn api_root(raw: &str, name: &str) -> Result<Url, SheetsError> {
    let mut url = Url::parse(raw.trim()).map_err(|e| SheetsError::InvalidSettings {
        reason: format!("the {name} API URL {raw:?} is not a URL: {e}"),
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
        return Err(SheetsError::InvalidSettings {
            reason: format!("the {name} API URL {raw:?} must start with https:// (or http:// for a local sandbox)"),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SheetsError::InvalidSettings {
            reason: format!("the {name} API URL {raw:?} must not have a query or fragment"),
        });
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn tab_info_from(spreadsheet: Spreadsheet, tab: &str) -> Result<TabInfo, SheetsError> {
    let properties = spreadsheet.properties.unwrap_or_default();
    let tabs: Vec<_> =
        spreadsheet.sheets.unwrap_or_default().into_iter().filter_map(|sheet| sheet.properties).collect();
    let Some(found) = tabs.iter().find(|p| p.title.as_deref() == Some(tab)) else {
        return Err(SheetsError::TabNotFound {
            tab: tab.to_owned(),
            available: tabs.iter().filter_map(|p| p.title.clone()).collect(),
        });
    };
    let grid = found.grid_properties.clone().unwrap_or_default();
    let count = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Ok(TabInfo {
        // Protobuf JSON leaves zero values out: no sheetId is sheet 0.
        sheet_id: found.sheet_id.unwrap_or(0),
        title: tab.to_owned(),
        row_count: count(grid.row_count),
        column_count: count(grid.column_count),
        time_zone: properties.time_zone.unwrap_or_default(),
        spreadsheet_title: properties.title.unwrap_or_default(),
    })
}

/// Drive sends `version` as a JSON string (an int64); a number is accepted too.
fn drive_version_from(body: &Value) -> Option<String> {
    match body.get("version") {
        Some(Value::String(version)) if !version.is_empty() => Some(version.clone()),
        Some(Value::Number(version)) => Some(version.to_string()),
        _ => body.get("modifiedTime").and_then(Value::as_str).map(str::to_owned),
    }
}

/// The tab's sheet id once known. Sheet ids are `i32`; `i64::MIN` means "not yet".
#[derive(Debug)]
struct SheetIdCache(AtomicI64);

impl Default for SheetIdCache {
    fn default() -> Self {
        SheetIdCache(AtomicI64::new(i64::MIN))
    }
}

impl SheetIdCache {
    fn get(&self) -> Option<i32> {
        i32::try_from(self.0.load(Ordering::Relaxed)).ok()
    }

    fn set(&self, id: i32) {
        self.0.store(i64::from(id), Ordering::Relaxed);
    }
}

/// An answer gathered chunk by chunk into one buffer of the announced size (collecting the
/// chunks and then joining them would hold it twice). While it matches `known` byte for byte
/// nothing is copied; at the first difference the matching part is copied and gathering goes
/// on as usual.
struct Gathered<'k> {
    known: Option<&'k Bytes>,
    /// How many leading bytes of `known` the answer has matched so far.
    matched: usize,
    body: Vec<u8>,
    announced: usize,
}

impl<'k> Gathered<'k> {
    fn new(announced: usize, known: Option<&'k Bytes>) -> Gathered<'k> {
        let body = if known.is_some() { Vec::new() } else { Vec::with_capacity(announced) };
        Gathered { known, matched: 0, body, announced }
    }

    fn push(&mut self, chunk: &[u8]) {
        if let Some(known) = self.known {
            if known.get(self.matched..self.matched + chunk.len()) == Some(chunk) {
                self.matched += chunk.len();
                return;
            }
            self.body.reserve(self.announced.max(self.matched + chunk.len()));
            self.body.extend_from_slice(&known[..self.matched]);
            self.known = None;
        }
        self.body.extend_from_slice(chunk);
    }

    fn finish(self) -> Bytes {
        match self.known {
            Some(known) if self.matched == known.len() => known.clone(),
            Some(known) => Bytes::copy_from_slice(&known[..self.matched]),
            None => Bytes::from(self.body),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Compile-time: the client can be shared between tasks and its futures spawned.
    #[allow(dead_code)]
    fn client_and_futures_are_send(client: &SheetsClient) {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        send_sync(client);
        send(client.tab_info());
        send(client.read_values());
        send(client.write_cells(&[]));
        send(client.anchors());
        send(client.update_anchors(&[], &[]));
        send(client.ensure_columns(1));
        send(client.drive_version());
    }

    #[test]
    fn api_roots_get_a_trailing_slash_and_bad_ones_are_refused() {
        assert_eq!(
            api_root("https://sheets.googleapis.com", "Sheets").expect("ok").as_str(),
            "https://sheets.googleapis.com/"
        );
        assert_eq!(api_root("http://127.0.0.1:8080/", "Sheets").expect("ok").as_str(), "http://127.0.0.1:8080/");
        assert_eq!(
            api_root("http://127.0.0.1:8080/prefix", "Sheets").expect("ok").as_str(),
            "http://127.0.0.1:8080/prefix/"
        );
        for bad in ["sheets.googleapis.com", "ftp://x/", "https://x/?a=b", ""] {
            assert!(matches!(api_root(bad, "Sheets"), Err(SheetsError::InvalidSettings { .. })), "{bad}");
        }
    }

    #[test]
    fn tab_info_comes_from_the_recorded_spreadsheet() {
        let cassette: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/sheets/cassette_values_get_render_options.json"))
                .expect("cassette");
        let text = cassette["interactions"][1]["response"]["body"]["string"].as_str().expect("body");
        let spreadsheet: Spreadsheet = serde_json::from_str(text).expect("a Spreadsheet");
        let info = tab_info_from(spreadsheet.clone(), "Sheet1").expect("Sheet1 exists");
        assert_eq!(
            info,
            TabInfo {
                sheet_id: 0,
                title: "Sheet1".into(),
                row_count: 1000,
                column_count: 26,
                time_zone: "Etc/GMT".into(),
                spreadsheet_title: "Test WorksheetTest test_get_all_values_date_time_render_options".into(),
            }
        );
        assert_eq!(
            tab_info_from(spreadsheet, "inv_tbl"),
            Err(SheetsError::TabNotFound { tab: "inv_tbl".into(), available: vec!["Sheet1".into()] })
        );
    }

    #[test]
    fn drive_versions_are_read_as_text() {
        assert_eq!(drive_version_from(&json!({"version": "1234", "modifiedTime": "t"})).as_deref(), Some("1234"));
        assert_eq!(drive_version_from(&json!({"version": 77})).as_deref(), Some("77"));
        assert_eq!(
            drive_version_from(&json!({"modifiedTime": "2023-09-06T21:30:02.174Z"})).as_deref(),
            Some("2023-09-06T21:30:02.174Z")
        );
        assert_eq!(drive_version_from(&json!({"id": "x"})), None);
    }

    #[test]
    fn the_sheet_id_cache_starts_empty_and_remembers_zero() {
        let cache = SheetIdCache::default();
        assert_eq!(cache.get(), None);
        cache.set(0);
        assert_eq!(cache.get(), Some(0));
        cache.set(-5);
        assert_eq!(cache.get(), Some(-5));
    }

    #[test]
    fn an_answer_the_caller_already_holds_is_not_gathered_again() {
        let known = Bytes::from_static(b"{\"values\":[[\"a\",\"b\"],[\"c\"]]}");
        let gather = |chunks: &[&[u8]], known: Option<&Bytes>| {
            let mut gathered = Gathered::new(64, known);
            for chunk in chunks {
                gathered.push(chunk);
            }
            gathered.finish()
        };
        // The same bytes, in any chunking: the caller's own buffer comes back.
        let same = gather(&[&known[..5], &known[5..9], &known[9..]], Some(&known));
        assert_eq!(same.as_ptr(), known.as_ptr());
        // Different from some point on, shorter or longer: exactly what arrived.
        let edited = b"{\"values\":[[\"a\",\"X\"],[\"c\"]]}";
        for chunks in [vec![&edited[..5], &edited[5..]], vec![&edited[..20], &edited[20..]]] {
            let got = gather(&chunks, Some(&known));
            assert_eq!(&got[..], &edited[..]);
            assert_ne!(got.as_ptr(), known.as_ptr());
        }
        assert_eq!(&gather(&[&known[..9]], Some(&known))[..], &known[..9]);
        let longer = [&known[..], b" "].concat();
        assert_eq!(&gather(&[&known[..], b" "], Some(&known))[..], &longer[..]);
        assert_eq!(&gather(&[&known[..4], &known[4..]], None)[..], &known[..]);
    }
}
