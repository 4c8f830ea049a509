//! Why a pass stopped early. No row is ever marked failed for any of these: each is about
//! the services, the store or the configuration, never about one row's content.

use crate::domain::layout::LayoutError;
use crate::qbo::{QboError, TaxConfigError};
use crate::sheets::SheetsError;
use crate::store::StoreError;

/// Each variant's text says everything, its cause included: none is chained as a source, so
/// `{:#}` never prints a sentence twice.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error("Google Sheets: {0}")]
    Sheets(SheetsError),
    #[error("QuickBooks: {0}")]
    Qbo(QboError),
    #[error("QuickBooks needs to be re-connected: run `qbsync auth` ({0})")]
    NeedsReconnect(String),
    #[error("the header row of the tab does not fit the configuration: {0}")]
    Layout(LayoutError),
    #[error("the tab is empty: it needs a header row (see README, 'The sheet')")]
    EmptySheet,
    #[error("{0}")]
    Store(StoreError),
    #[error("configuration: {0}")]
    Config(String),
    /// The tax settings do not fit the connected company (see [`super::company`]).
    #[error("configuration: {0}")]
    TaxSettings(TaxConfigError),
}

impl PassError {
    /// True when trying again later may help without a person doing anything.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            PassError::Sheets(SheetsError::Unavailable { .. })
                | PassError::Qbo(QboError::Transient { .. } | QboError::Uncertain { .. })
        )
    }
}

impl From<SheetsError> for PassError {
    fn from(error: SheetsError) -> PassError {
        PassError::Sheets(error)
    }
}

impl From<LayoutError> for PassError {
    fn from(error: LayoutError) -> PassError {
        PassError::Layout(error)
    }
}

impl From<StoreError> for PassError {
    fn from(error: StoreError) -> PassError {
        PassError::Store(error)
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
