//! Which spreadsheet and tab a state directory serves.
//!
//! The store's memory is of rows of one tab: their anchors, ids and decisions. Pointed at
//! another tab (or another spreadsheet), every remembered row would look deleted, and a pass
//! would record deletions for rows that still exist where they always were. So the first
//! start records the spreadsheet and tab, and every later start checks them: a switch is
//! refused with the way out (a state directory of its own), before any pass runs.

use rusqlite::{OptionalExtension, params};

use super::{Store, StoreError};

/// A spreadsheet and one of its tabs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Home {
    pub spreadsheet_id: String,
    pub tab: String,
}

/// Why this state directory cannot serve the configured tab.
#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error(
        "the state directory {path} is the memory of tab \"{}\" of spreadsheet {}, and the configuration now names tab \"{}\" of spreadsheet {}: one state directory serves one tab. To sync this tab, give it a state directory of its own (QBSYNC_STATE_DIR); to go on with the recorded one, set QBSYNC_SHEET_TAB and GOOGLE_SHEET_URL back. Nothing was changed",
        .recorded.tab, .recorded.spreadsheet_id, .configured.tab, .configured.spreadsheet_id
    )]
    Elsewhere { path: String, recorded: Home, configured: Home },
    #[error(transparent)]
    Store(#[from] StoreError),
}

const SPREADSHEET: &str = "spreadsheet_id";
const TAB: &str = "sheet_tab";
const RESTORES_OWED: &str = "restores_owed";

impl Store {
    /// Records `home` as the tab this store serves, or checks it against the one recorded.
    pub fn claim_home(&self, home: &Home) -> Result<(), HomeError> {
        match self.home()? {
            Some(recorded) if recorded == *home => Ok(()),
            Some(recorded) => Err(HomeError::Elsewhere { path: self.path.clone(), recorded, configured: home.clone() }),
            None => {
                let tx = self.conn.unchecked_transaction().map_err(StoreError::from)?;
                for (key, value) in [(SPREADSHEET, &home.spreadsheet_id), (TAB, &home.tab)] {
                    tx.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![key, value])
                        .map_err(StoreError::from)?;
                }
                tx.commit().map_err(StoreError::from)?;
                Ok(())
            }
        }
    }

    /// Cells a write-back put on rows that moved under it and that were not given back yet (as
    /// the JSON the write-back wrote, see `sync::project::OwedRestore`): the landing check stopped
    /// (shutdown, or rows kept moving) or the process died during it.
    pub fn restores_owed(&self) -> Result<Option<String>, StoreError> {
        Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [RESTORES_OWED], |r| r.get(0)).optional()?)
    }

    /// Records what [`Self::restores_owed`] returns; `None` clears it.
    pub fn set_restores_owed(&self, json: Option<&str>) -> Result<(), StoreError> {
        match json {
            Some(json) => self
                .conn
                .execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", params![RESTORES_OWED, json])?,
            None => self.conn.execute("DELETE FROM meta WHERE key = ?1", [RESTORES_OWED])?,
        };
        Ok(())
    }

    /// The tab this store serves, once recorded.
    pub fn home(&self) -> Result<Option<Home>, StoreError> {
        let get = |key: &str| -> Result<Option<String>, StoreError> {
            Ok(self.conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()?)
        };
        Ok(match (get(SPREADSHEET)?, get(TAB)?) {
            (Some(spreadsheet_id), Some(tab)) => Some(Home { spreadsheet_id, tab }),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(id: &str, tab: &str) -> Home {
        Home { spreadsheet_id: id.into(), tab: tab.into() }
    }

    #[test]
    fn the_first_tab_is_recorded_and_another_is_refused_with_the_way_out() {
        let store = Store::in_memory().unwrap();
        assert_eq!(store.home().unwrap(), None);
        store.claim_home(&home("sheet1", "inv_tbl")).unwrap();
        store.claim_home(&home("sheet1", "inv_tbl")).unwrap();
        assert_eq!(store.home().unwrap(), Some(home("sheet1", "inv_tbl")));
        for other in [home("sheet1", "Copy of inv_tbl"), home("sheet2", "inv_tbl")] {
            let error = store.claim_home(&other).unwrap_err();
            let message = error.to_string();
            assert!(matches!(error, HomeError::Elsewhere { .. }), "{message}");
            assert!(message.contains("QBSYNC_STATE_DIR") && message.contains("\"inv_tbl\""), "{message}");
        }
        assert_eq!(store.home().unwrap(), Some(home("sheet1", "inv_tbl")), "a refusal records nothing");
    }
}
