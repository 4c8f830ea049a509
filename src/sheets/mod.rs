//! The Google Sheets side: the only module that knows the Sheets wire format.
//!
//! The sync engine sees a tab as rows of [`Cell`]s, writes [`CellRun`]s back, and finds rows by
//! their [`RowAnchor`]s; everything Google-shaped stays in here:
//!
//! - [`client`]: [`SheetsClient`], one method per API call qbsync makes.
//! - [`hub`]: the google-sheets4 hub, its TLS connector and the token source.
//! - [`credentials`]: service-account keys and fixed tokens.
//! - [`drive_version`]: [`DriveVersion`], the answer of the cheap Drive change check.
//! - [`a1`]: A1 ranges, quoting and URL encoding.
//! - [`anchors`]: developer metadata that follows a row when rows move.
//! - [`values`]: a whole-tab read taken row by row as it arrives, never held whole.
//! - [`grid`]: the values and the row anchors of the tab in one read, row by row as well.
//! - [`row`]: one row of either read and the sinks it is handed to; `values_row` and
//!   `grid_row` decode a row into cells as each read spells it.
//! - `stream`, `grid_cutter`: long answers cut into the elements of their long arrays as they
//!   arrive.
//! - [`error`], [`retry`], [`pacing`], [`stats`]: classifying failures, trying again, staying
//!   inside the per-minute quota, and counting calls.
//!
//! Every call is paced, bounded by a timeout, classified and retried the same way, so a caller
//! gets either the answer or one [`SheetsError`] that says what to do next.

pub mod a1;
pub mod anchors;
pub mod client;
pub mod clip;
pub mod credentials;
pub mod drive_version;
pub mod error;
pub mod grid;
pub(crate) mod grid_cutter;
pub(crate) mod grid_row;
pub(crate) mod hub;
pub mod landed;
pub(crate) mod pacing;
pub(crate) mod retry;
pub mod row;
pub mod stats;
pub(crate) mod stream;
pub mod values;
pub(crate) mod values_row;

use std::time::Duration;

use crate::domain::Cell;

pub use anchors::{ANCHOR_KEY, Anchors, NewAnchor, RowAnchor};
pub use client::SheetsClient;
pub use credentials::GoogleCredentials;
pub use drive_version::DriveVersion;
pub use error::SheetsError;
pub use grid::GridRead;
pub use landed::LandedRow;
pub use row::{RawRow, RowDigest, RowIndex, RowSink};
pub use stats::SheetsStats;
pub use values::{AllRows, DigestsOnly};

/// Where the sheet is and how patiently to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SheetsSettings {
    /// The spreadsheet id (the long part of its URL).
    pub spreadsheet_id: String,
    /// The tab qbsync works on (`inv_tbl`).
    pub tab: String,
    /// The Sheets API root, `https://sheets.googleapis.com/` by default; the sandbox's base URL in tests.
    pub sheets_api_url: String,
    /// The Drive API root, `https://www.googleapis.com/` by default.
    pub drive_api_url: String,
    /// The deadline of one attempt of one call, token fetch included.
    pub timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Sheets read requests allowed per minute (Google's per-user quota is 60).
    pub reads_per_minute: u32,
    /// Sheets write requests allowed per minute (Google's per-user quota is 60).
    pub writes_per_minute: u32,
    /// The first retry's backoff; a throttled call waits 30–60 times this.
    pub backoff_base: Duration,
}

impl SheetsSettings {
    /// Google's endpoints and quotas, 30 s per attempt, 5 attempts, 1 s backoff base.
    pub fn new(spreadsheet_id: impl Into<String>, tab: impl Into<String>) -> SheetsSettings {
        SheetsSettings {
            spreadsheet_id: spreadsheet_id.into(),
            tab: tab.into(),
            sheets_api_url: "https://sheets.googleapis.com/".to_owned(),
            drive_api_url: "https://www.googleapis.com/".to_owned(),
            timeout: Duration::from_secs(30),
            max_attempts: 5,
            reads_per_minute: 60,
            writes_per_minute: 60,
            backoff_base: Duration::from_secs(1),
        }
    }
}

/// What `spreadsheets.get` says about the spreadsheet and the tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TabInfo {
    /// The tab's numeric id (`gid` in its URL), used by anchors and structural requests.
    pub sheet_id: i32,
    /// The tab's title, as configured.
    pub title: String,
    /// The grid's size, blank rows and columns included.
    pub row_count: u32,
    pub column_count: u32,
    /// The spreadsheet's time zone (serial dates are local to it), e.g. `Etc/GMT`.
    pub time_zone: String,
    /// The spreadsheet's title, for messages.
    pub spreadsheet_title: String,
}

/// What a write did: every run landed except those Google refused on their own, which are
/// held back (and written again by a later pass, when the store projects them once more).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    pub held_back: Vec<HeldBack>,
}

/// A run Google refused by itself, after the write was split around it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBack {
    /// The 0-based grid row and first column of the run, and its number of cells.
    pub row: u32,
    pub col: u32,
    pub width: u32,
    /// Google's own message.
    pub message: String,
}

/// Contiguous cells of one row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellRun {
    /// The 0-based grid row; 0 is the header row.
    pub row: u32,
    /// The 0-based column of the first value.
    pub col: u32,
    /// The values, left to right. [`Cell::Empty`] clears a cell (it is sent as `""`).
    pub values: Vec<Cell>,
}
