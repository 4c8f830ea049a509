//! Why a pass stopped early. No row is ever marked failed for any of these: each is about
//! the services, the store or the configuration, never about one row's content.

use crate::domain::layout::LayoutError;
use crate::qbo::QboError;
use crate::sheets::SheetsError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("Google Sheets: {0}")]
    Sheets(#[from] SheetsError),
    #[error("QuickBooks: {0}")]
    Qbo(QboError),
    #[error("QuickBooks needs to be re-connected: run `qbsync auth` ({0})")]
    NeedsReconnect(String),
    #[error("the header row of the tab does not fit the configuration: {0}")]
    Layout(#[from] LayoutError),
    #[error("the tab is empty: it needs a header row (see README, 'The sheet')")]
    EmptySheet,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("configuration: {0}")]
    Config(String),
    /// Rows kept moving while qbsync read the sheet and its anchors: no consistent picture.
    #[error("the sheet kept changing while qbsync read it (rows inserted, deleted or sorted); it will try again")]
    SheetBusy,
}

impl PassError {
    /// True when trying again later may help without a person doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PassError::Sheets(SheetsError::Unavailable { .. })
                | PassError::Qbo(QboError::Transient { .. } | QboError::Uncertain { .. })
                | PassError::SheetBusy
        )
    }
}

impl From<QboError> for PassError {
    fn from(error: QboError) -> PassError {
        match error {
            QboError::NeedsReconnect { reason } => PassError::NeedsReconnect(reason),
            other => PassError::Qbo(other),
        }
    }
}
