//! [`SheetsClient`]: the handful of Sheets and Drive calls qbsync makes, each paced, bounded by
//! a timeout, classified and retried the same way.
//!
//! | method | request | quota |
//! |---|---|---|
//! | [`tab_info`](SheetsClient::tab_info) | `spreadsheets.get` (few fields) | read |
//! | [`read_values`](SheetsClient::read_values), [`read_rows`](SheetsClient::read_rows) | `values.get` of the whole tab | read |
//! | [`read_rows_with_anchors`](SheetsClient::read_rows_with_anchors) | `spreadsheets.get` with grid data: values and anchors together | read |
//! | [`write_cells`](SheetsClient::write_cells) | one `values:batchUpdate`, RAW | write |
//! | [`write_cells_and_look`](SheetsClient::write_cells_and_look) | one `spreadsheets:batchUpdate` of `updateCells`, answered with the rows written | write |
//! | [`anchors`](SheetsClient::anchors), [`anchors_like`](SheetsClient::anchors_like) | `developerMetadata:search` | read |
//! | [`update_anchors`](SheetsClient::update_anchors) | one `spreadsheets:batchUpdate` | write |
//! | [`ensure_columns`](SheetsClient::ensure_columns) | `spreadsheets.get` + `appendDimension` | read + write |
//! | [`drive_version`](SheetsClient::drive_version) | Drive `files.get` | Drive |
//!
//! Calls that add something (anchors, columns) are not blindly repeated after an attempt whose
//! outcome is unknown: they look at the sheet first and send only what is still missing.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

use google_sheets4::api::{
    AppendDimensionRequest, BatchUpdateSpreadsheetRequest, BatchUpdateValuesRequest, Request, Spreadsheet, ValueRange,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use url::Url;

use super::anchors::{self, Anchors, NewAnchor, RowAnchor};
use super::clip::clip_cell;
use super::drive_version::DriveVersion;
use super::error::{
    Context, Failure, SheetsError, TokenFailure, classify_google_error, classify_hub_error, classify_status_only,
};
use super::grid::{self, GridRead, GridStream};
use super::hub::{self, DRIVE_METADATA_SCOPE, Hub, SPREADSHEETS_SCOPE, TokenProvider};
use super::landed::{self, LandedRow};
use super::pacing::Pacer;
use super::retry::RetryPolicy;
use super::row::{RowIndex, RowSink};
use super::stats::{Counters, SheetsStats};
use super::values::{AllRows, RowStream};
use super::{CellRun, GoogleCredentials, HeldBack, SheetsSettings, TabInfo, Written, a1};
use crate::domain::Cell;

/// What a google-sheets4 call returns.
type HubResult<T> = google_sheets4::Result<(google_sheets4::common::Response, T)>;

/// The most of an error answer kept to classify it (Google's are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 * 1024;
/// At most this many splits of one refused write (a write refused for every range alike would
/// otherwise cost two calls per range); what is left unsplit is held back whole.
const MAX_WRITE_SPLITS: usize = 64;

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
    /// `spreadsheets.get` of the tab's grid data: values and row metadata (see [`super::grid`]).
    grid_url: Url,
    /// `spreadsheets.batchUpdate` answering with the rows it wrote (see [`super::landed`]).
    write_and_look_url: Url,
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
        let mut grid_url = sheets_root
            .join(&format!("v4/spreadsheets/{spreadsheet_path}"))
            .map_err(|e| invalid(format!("the Sheets API URL cannot be extended: {e}")))?;
        {
            let mut query = grid_url.query_pairs_mut();
            for range in grid::grid_ranges(&settings.tab) {
                query.append_pair("ranges", &range);
            }
            query.append_pair("includeGridData", "true").append_pair("fields", grid::GRID_FIELDS);
        }
        let mut write_and_look_url = sheets_root
            .join(&format!("v4/spreadsheets/{spreadsheet_path}:batchUpdate"))
            .map_err(|e| invalid(format!("the Sheets API URL cannot be extended: {e}")))?;
        write_and_look_url.query_pairs_mut().append_pair("fields", landed::LANDED_FIELDS);
        // Google indents every answer unless told not to: on a whole-tab read, most of the bytes
        // would be spaces and line breaks (a grid answer's cell sits eight levels deep).
        for url in [&mut values_url, &mut search_url, &mut grid_url, &mut write_and_look_url] {
            url.query_pairs_mut().append_pair("prettyPrint", "false");
        }

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
            grid_url,
            write_and_look_url,
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
        let mut rows = AllRows::default();
        self.read_rows(&mut rows).await?;
        Ok(rows.0)
    }

    /// The same read as [`read_values`](Self::read_values), handed to `sink` row by row as the
    /// answer arrives (see [`super::values`]): a long tab is never held, only what the sink
    /// keeps of it. Answers the digest of every row. Sent as plain HTTP rather than through the
    /// hub, which would copy the body and build a JSON tree of the whole tab first.
    pub async fn read_rows(&self, sink: &mut (impl RowSink + Send)) -> Result<RowIndex, SheetsError> {
        struct Rows<'s, S> {
            stream: RowStream,
            sink: &'s mut S,
            started: bool,
        }
        impl<S: RowSink> Answer for Rows<'_, S> {
            type Read = RowIndex;
            fn start(&mut self) {
                if std::mem::replace(&mut self.started, true) {
                    self.stream = RowStream::new();
                    self.sink.restart();
                }
            }
            fn chunk(&mut self, bytes: &[u8]) -> Result<(), SheetsError> {
                self.stream.push(bytes, self.sink)
            }
            fn finish(&mut self) -> Result<RowIndex, SheetsError> {
                std::mem::replace(&mut self.stream, RowStream::new()).finish()
            }
        }
        let rows = Rows { stream: RowStream::new(), sink, started: false };
        match self.plain_read("values.get", &self.values_url, None, rows).await {
            Ok(index) => Ok(index),
            Err(error) => Err(self.explain_rejection(error).await),
        }
    }

    /// The tab's values and its row anchors in one `spreadsheets.get`, so they are one
    /// consistent picture (see [`super::grid`]): the sink is handed every anchor first
    /// ([`RowSink::anchors`]), then each row as it arrives, as the same cells
    /// [`read_rows`](Self::read_rows) gives, with the anchors on it ([`RawRow::anchors`]).
    /// Answers the digest of every row, and the anchors as [`anchors`](Self::anchors) lists
    /// them.
    ///
    /// [`RawRow::anchors`]: super::RawRow::anchors
    pub async fn read_rows_with_anchors(&self, sink: &mut (impl RowSink + Send)) -> Result<GridRead, SheetsError> {
        let sheet_id = self.sheet_id().await?;
        let grid = GridAnswer::new(GridStream::new(sheet_id), sink);
        match self.plain_read("spreadsheets.get", &self.grid_url, None, grid).await {
            Ok(read) => Ok(read),
            Err(error) => Err(self.explain_rejection(error).await),
        }
    }

    /// Writes every run in one `values:batchUpdate` with `valueInputOption=RAW` (so text that
    /// starts with `=` stays text). Empty cells are sent as `""`, never `null`: google-sheets4
    /// drops nulls and the following cells would shift left (trap 1). Does nothing for no runs.
    ///
    /// Every cell is clipped to what Google accepts ([`clip`](super::clip)). Should Google still
    /// refuse the write (400), it is split in halves and each half sent again, down to the single
    /// runs it refuses: those are held back and returned, and everything else lands, so that no
    /// one cell can keep every other row's id off the sheet.
    pub async fn write_cells(&self, runs: &[CellRun]) -> Result<Written, SheetsError> {
        let data = runs
            .iter()
            .filter(|run| !run.values.is_empty())
            .map(|run| {
                let width = u32::try_from(run.values.len())
                    .map_err(|_| SheetsError::Rejected { message: format!("row {} has too many cells", run.row) })?;
                let range = ValueRange {
                    range: Some(a1::row_span(&self.settings.tab, run.row, run.col, width)),
                    values: Some(vec![run.values.iter().map(|cell| clip_cell(cell).to_json()).collect()]),
                    major_dimension: None,
                };
                Ok(((run.row, run.col, width), range))
            })
            .collect::<Result<Vec<_>, SheetsError>>()?;
        let mut written = Written::default();
        if data.is_empty() {
            return Ok(written);
        }
        // Parts still to send, the next one last; a refused part is replaced by its halves.
        let mut parts = vec![data];
        let mut splits = 0;
        while let Some(part) = parts.pop() {
            let error = match self.write_ranges(part.iter().map(|(_, range)| range.clone()).collect()).await {
                Ok(()) => continue,
                // A vanished tab refuses every part alike: asked once, before any split.
                Err(error) if splits == 0 => self.explain_rejection(error).await,
                Err(error) => error,
            };
            let SheetsError::Rejected { message } = error else { return Err(error) };
            if part.len() > 1 && splits < MAX_WRITE_SPLITS {
                splits += 1;
                let mut first = part;
                let second = first.split_off(first.len() / 2);
                parts.push(second);
                parts.push(first);
                continue;
            }
            for ((row, col, width), _) in part {
                tracing::warn!(row = row + 1, col, width, %message, "Google refused these cells; held back");
                written.held_back.push(HeldBack { row, col, width, message: message.clone() });
            }
        }
        Ok(written)
    }

    /// [`write_cells`](Self::write_cells), answered with every written row as the write left it
    /// (see [`super::landed`]): its cells and its anchors, seen at the instant of the write, for
    /// no read. The rows come back in order, one per row written.
    ///
    /// `None` instead of rows when the answer cannot say: Google refused the write whole (it is
    /// then sent as [`write_cells`](Self::write_cells) sends it, split around what is refused),
    /// or its answer could not be decoded after the cells were written. The caller then reads.
    pub async fn write_cells_and_look(
        &self,
        runs: &[CellRun],
    ) -> Result<(Written, Option<Vec<LandedRow>>), SheetsError> {
        let runs: Vec<&CellRun> = runs.iter().filter(|run| !run.values.is_empty()).collect();
        if runs.is_empty() {
            return Ok((Written::default(), Some(Vec::new())));
        }
        let sheet_id = self.sheet_id().await?;
        let body = landed::write_request(sheet_id, &self.settings.tab, &runs);
        let body = &body;
        let answer = Mutex::new(Gathered::default());
        let answer = &answer;
        // Writing the same values again is harmless: an attempt whose answer was lost is repeated.
        let outcome = self
            .retry
            .run("spreadsheets:batchUpdate (cells)", SPREADSHEETS_SCOPE, &self.counters, &self.tokens, move |_| {
                self.plain_attempt(Quota::Write, &self.write_and_look_url, Some(body), answer)
            })
            .await;
        match outcome {
            Ok(answer) => match landed::parse(&answer) {
                Ok(rows) => Ok((Written::default(), Some(rows))),
                Err(error) => {
                    tracing::warn!(%error, "the cells were written, but Google's answer could not be read");
                    Ok((Written::default(), None))
                }
            },
            // A batchUpdate is applied whole or not at all: nothing was written.
            Err(SheetsError::Rejected { .. }) => {
                let runs: Vec<CellRun> = runs.into_iter().cloned().collect();
                Ok((self.write_cells(&runs).await?, None))
            }
            Err(error) => Err(error),
        }
    }

    /// One `values:batchUpdate` of `data`, RAW, retried as every call is.
    async fn write_ranges(&self, data: Vec<ValueRange>) -> Result<(), SheetsError> {
        let request = BatchUpdateValuesRequest {
            value_input_option: Some("RAW".to_owned()),
            data: Some(data),
            ..Default::default()
        };
        let request = &request;
        self.sheets_call("values:batchUpdate", move |_| {
            let call = self
                .hub
                .spreadsheets()
                .values_batch_update(request.clone(), &self.spreadsheet_path)
                .add_scope(SPREADSHEETS_SCOPE)
                .doit();
            self.write(call)
        })
        .await
        .map(|_| ())
    }

    /// The row anchors ([`anchors::ANCHOR_KEY`]) on this tab, sorted by row. Sent as plain
    /// HTTP and read entry by entry as the answer arrives (`anchors::SearchReader`): a sheet
    /// of 50,000 anchored rows answers with about 10 MB.
    pub async fn anchors(&self) -> Result<Vec<RowAnchor>, SheetsError> {
        Ok(self.anchors_like(None).await?.to_vec())
    }

    /// [`anchors`](Self::anchors), handing back `known` itself when the answer has the same
    /// entries as the one `known` was read from (the caller can tell by a pointer that nothing
    /// moved), and parsing only the entries that differ from `known`'s. A busy pass reads the
    /// anchors up to four times, and they rarely change in between.
    pub async fn anchors_like(&self, known: Option<&Anchors>) -> Result<Anchors, SheetsError> {
        struct Search {
            sheet_id: i32,
            known: Option<Anchors>,
            reader: anchors::SearchReader,
        }
        impl Search {
            fn reader(&self) -> anchors::SearchReader {
                anchors::SearchReader::new(self.sheet_id, self.known.clone())
            }
        }
        impl Answer for Search {
            type Read = Anchors;
            fn start(&mut self) {
                self.reader = self.reader();
            }
            fn chunk(&mut self, bytes: &[u8]) -> Result<(), SheetsError> {
                self.reader.push(bytes)
            }
            fn finish(&mut self) -> Result<Anchors, SheetsError> {
                let fresh = self.reader();
                std::mem::replace(&mut self.reader, fresh).finish()
            }
        }
        let sheet_id = self.sheet_id().await?;
        let request = anchors::search_body()
            .map_err(|e| SheetsError::Rejected { message: format!("the anchor search cannot be written: {e}") })?;
        let known = known.cloned();
        let search = Search { sheet_id, reader: anchors::SearchReader::new(sheet_id, known.clone()), known };
        self.plain_read("developerMetadata:search", &self.search_url, Some(&request), search).await
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
    pub async fn drive_version(&self) -> Result<DriveVersion, SheetsError> {
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
                    json.ok().as_ref().and_then(DriveVersion::from_files_get).ok_or_else(|| {
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
    /// counted, classified and retried exactly as the hub's reads. A successful answer is fed
    /// to `answer` as it arrives, never gathered; an error answer is gathered to classify it.
    async fn plain_read<A: Answer + Send>(
        &self,
        what: &str,
        url: &Url,
        json: Option<&[u8]>,
        answer: A,
    ) -> Result<A::Read, SheetsError> {
        let answer = Mutex::new(answer);
        let answer = &answer;
        self.retry
            .run(what, SPREADSHEETS_SCOPE, &self.counters, &self.tokens, move |_| {
                self.plain_attempt(Quota::Read, url, json, answer)
            })
            .await
    }

    /// One attempt of a plain-HTTP call (see [`plain_read`](Self::plain_read)), paced and
    /// counted as the `quota` it spends.
    async fn plain_attempt<A: Answer + Send>(
        &self,
        quota: Quota,
        url: &Url,
        json: Option<&[u8]>,
        answer: &Mutex<A>,
    ) -> Result<A::Read, Failure> {
        // The attempt takes the answer for the time it reads a chunk; the lock is never held
        // across an await, and never contended.
        let take = || answer.lock().unwrap_or_else(PoisonError::into_inner);
        self.bounded(async move {
            match quota {
                Quota::Read => self.pacer.read().await,
                Quota::Write => self.pacer.write().await,
            }
            let token = self.tokens.token(&[SPREADSHEETS_SCOPE]).await.map_err(TokenFailure::into_failure)?;
            match quota {
                Quota::Read => self.counters.read(),
                Quota::Write => self.counters.write(),
            }
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
            let read_chunk = |e: reqwest::Error| self.transport_failure(&e, "reading the answer failed");
            if !(200..300).contains(&status) {
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await.map_err(read_chunk)? {
                    let room = MAX_ERROR_BODY.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                return Err(match serde_json::from_slice::<Value>(&body) {
                    Ok(json) => classify_google_error(Some(status), &json, self.context()),
                    Err(_) => classify_status_only(status, self.context()),
                });
            }
            take().start();
            while let Some(chunk) = response.chunk().await.map_err(read_chunk)? {
                take().chunk(&chunk).map_err(Failure::Fatal)?;
            }
            take().finish().map_err(Failure::Fatal)
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

/// Which of Google's per-minute quotas a plain-HTTP call spends.
#[derive(Clone, Copy, Debug)]
enum Quota {
    Read,
    Write,
}

/// A small answer gathered whole (a write's rows); an attempt after the first starts over.
#[derive(Default)]
struct Gathered(Vec<u8>);

impl Answer for Gathered {
    type Read = Vec<u8>;
    fn start(&mut self) {
        self.0.clear();
    }
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), SheetsError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
    fn finish(&mut self) -> Result<Vec<u8>, SheetsError> {
        Ok(std::mem::take(&mut self.0))
    }
}

/// A grid answer being cut into rows for a sink; an attempt after the first starts both over.
struct GridAnswer<'s, S> {
    stream: GridStream,
    sink: &'s mut S,
    started: bool,
}

impl<'s, S: RowSink> GridAnswer<'s, S> {
    fn new(stream: GridStream, sink: &'s mut S) -> GridAnswer<'s, S> {
        GridAnswer { stream, sink, started: false }
    }
}

impl<S: RowSink> Answer for GridAnswer<'_, S> {
    type Read = GridRead;
    fn start(&mut self) {
        if std::mem::replace(&mut self.started, true) {
            self.stream = self.stream.again();
            self.sink.restart();
        }
    }
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), SheetsError> {
        self.stream.push(bytes, self.sink)
    }
    fn finish(&mut self) -> Result<GridRead, SheetsError> {
        let again = self.stream.again();
        std::mem::replace(&mut self.stream, again).finish()
    }
}

trait Answer {
    type Read;
    /// An attempt's answer begins (after an earlier attempt's, that one is forgotten).
    fn start(&mut self);
    fn chunk(&mut self, bytes: &[u8]) -> Result<(), SheetsError>;
    /// The answer is complete.
    fn finish(&mut self) -> Result<Self::Read, SheetsError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compile-time: the client can be shared between tasks and its futures spawned.
    #[allow(dead_code)]
    fn client_and_futures_are_send(client: &SheetsClient) {
        fn send_sync<T: Send + Sync>(_: &T) {}
        fn send<T: Send>(_: T) {}
        send_sync(client);
        send(client.tab_info());
        send(client.read_values());
        send(client.read_rows_with_anchors(&mut AllRows::default()));
        send(client.write_cells(&[]));
        send(client.write_cells_and_look(&[]));
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
    fn the_sheet_id_cache_starts_empty_and_remembers_zero() {
        let cache = SheetIdCache::default();
        assert_eq!(cache.get(), None);
        cache.set(0);
        assert_eq!(cache.get(), Some(0));
        cache.set(-5);
        assert_eq!(cache.get(), Some(-5));
    }
}
