//! The two status vocabularies of a row.
//!
//! The bookkeeper's `status` column says when a row is ready (`submitted`, `pending`, … — the
//! [`EligibleStatuses`]); qbsync's own `qb_sync_status` column says what qbsync did with it
//! ([`SyncStatus`]). Both are compared case-insensitively with surrounding and repeated white
//! space ignored, because they are typed (or pasted) by people.

use std::fmt;

/// What qbsync wrote into `qb_sync_status`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SyncStatus {
    /// The document exists in QuickBooks; the id and link cells point to it.
    Synced,
    /// A data problem the bookkeeper must fix; `qb_error` says what.
    Failed,
    /// Deliberately not sent (e.g. a bill in invoice-only mode); `qb_error` says why.
    Skipped,
    /// qbsync is working on the row (an intent is recorded; the outcome is not yet written).
    Pending,
    /// The row is a pasted copy of a synced row; qbsync does not send it again.
    Copied,
    /// Anything else a person typed, kept as written (trimmed).
    Other(String),
}

impl SyncStatus {
    /// Reads a `qb_sync_status` cell's text. `None` when blank (never touched by qbsync).
    pub fn parse(text: &str) -> Option<SyncStatus> {
        let key = normalize(text);
        let status = match key.as_str() {
            "" => return None,
            "synced" => SyncStatus::Synced,
            "failed" => SyncStatus::Failed,
            "skipped" => SyncStatus::Skipped,
            "pending" => SyncStatus::Pending,
            "copied" => SyncStatus::Copied,
            _ => SyncStatus::Other(text.trim().to_owned()),
        };
        Some(status)
    }

    /// The word qbsync writes.
    pub fn as_str(&self) -> &str {
        match self {
            SyncStatus::Synced => "synced",
            SyncStatus::Failed => "failed",
            SyncStatus::Skipped => "skipped",
            SyncStatus::Pending => "pending",
            SyncStatus::Copied => "copied",
            SyncStatus::Other(text) => text,
        }
    }
}

impl fmt::Display for SyncStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `status` values that make a row ready (`QB_ELIGIBLE_STATUSES`, default `submitted,pending`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EligibleStatuses(Vec<String>);

/// A status list with no status in it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the list of eligible statuses is empty: list the status values that make a row ready, e.g. submitted,pending")]
pub struct EmptyStatusList;

impl EligibleStatuses {
    /// From a comma-separated list, e.g. `submitted, Pending`. Blank entries are ignored.
    pub fn parse(list: &str) -> Result<EligibleStatuses, EmptyStatusList> {
        EligibleStatuses::from_values(list.split(','))
    }

    /// From separate values (a TOML array).
    pub fn from_values<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<EligibleStatuses, EmptyStatusList> {
        let mut statuses: Vec<String> = Vec::new();
        for value in values.into_iter().map(normalize).filter(|v| !v.is_empty()) {
            if !statuses.contains(&value) {
                statuses.push(value);
            }
        }
        if statuses.is_empty() { Err(EmptyStatusList) } else { Ok(EligibleStatuses(statuses)) }
    }

    /// True when a row with this `status` cell text is eligible.
    pub fn contains(&self, status: &str) -> bool {
        let status = normalize(status);
        self.0.contains(&status)
    }

    /// The normalized values, in the order given.
    pub fn values(&self) -> &[String] {
        &self.0
    }
}

impl Default for EligibleStatuses {
    fn default() -> Self {
        EligibleStatuses(vec!["submitted".to_owned(), "pending".to_owned()])
    }
}

impl fmt::Display for EligibleStatuses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// Trimmed, inner white space collapsed to one space, lowercase.
fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_status_round_trips_case_insensitively() {
        for (text, want) in [
            ("synced", SyncStatus::Synced),
            (" SYNCED ", SyncStatus::Synced),
            ("Failed", SyncStatus::Failed),
            ("skipped", SyncStatus::Skipped),
            ("pending", SyncStatus::Pending),
            ("Copied", SyncStatus::Copied),
            (" on hold ", SyncStatus::Other("on hold".into())),
        ] {
            assert_eq!(SyncStatus::parse(text), Some(want.clone()), "{text}");
            assert_eq!(SyncStatus::parse(&want.to_string()), Some(want));
        }
        assert_eq!(SyncStatus::parse("  "), None);
        assert_eq!(SyncStatus::Synced.to_string(), "synced");
    }

    #[test]
    fn eligible_statuses_match_case_and_space_insensitively() {
        let eligible = EligibleStatuses::parse("Submitted, pending ,, Ready  to bill").unwrap();
        assert_eq!(eligible.values(), ["submitted", "pending", "ready to bill"]);
        assert!(eligible.contains("SUBMITTED"));
        assert!(eligible.contains(" pending"));
        assert!(eligible.contains("ready\u{a0} to  Bill"));
        assert!(!eligible.contains("paid"));
        assert!(!eligible.contains(""));
        assert_eq!(eligible.to_string(), "submitted,pending,ready to bill");
        assert_eq!(EligibleStatuses::default(), EligibleStatuses::parse("submitted,pending").unwrap());
    }

    #[test]
    fn an_empty_list_is_refused() {
        assert_eq!(EligibleStatuses::parse(" , ,"), Err(EmptyStatusList));
        assert_eq!(EligibleStatuses::from_values([]), Err(EmptyStatusList));
    }
}
