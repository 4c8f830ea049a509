//! The two status vocabularies of a row.
//!
//! The bookkeeper's `status` column says when a row is ready (`submitted`, `pending`, … — the
//! [`EligibleStatuses`]); qbsync's own `qb_sync_status` column says what qbsync did with it
//! ([`RowStatus`]). Both are compared case-insensitively with surrounding and repeated white
//! space ignored, because they are typed (or pasted) by people.

use std::fmt;

/// What qbsync decided for a row: the store records it, and the sheet's status cell shows it
/// once the outcome is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// An anchor was just claimed for the row and is not verified yet; the sheet shows nothing.
    Claimed,
    /// An intent is recorded; the outcome is not known yet, and the sheet shows nothing.
    Pending,
    /// The document exists in QuickBooks; the id and link cells point to it.
    Synced,
    /// A data problem the bookkeeper must fix; the error cell says what.
    Failed,
    /// Deliberately not sent (e.g. a bill in invoice-only mode); the error cell says why.
    Skipped,
    /// A pasted copy of a synced row; qbsync does not send it again.
    Copy,
    /// Its document was taken back (`qbsync void`): voided in QuickBooks, or deleted where
    /// QuickBooks has no void. The row keeps the id and link and is never sent again by itself.
    Voided,
    /// Waiting for a person's approval (`QBSYNC_REQUIRE_APPROVAL`): the preview cell shows what
    /// would be sent, and nothing is sent until the row's `approved` cell says yes for exactly
    /// that content.
    Review,
}

/// Text that is not a [`RowStatus`] (a store written by something else, or damaged).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a row status qbsync records")]
pub struct UnknownRowStatus(pub String);

impl RowStatus {
    pub const ALL: [RowStatus; 8] = [
        RowStatus::Claimed,
        RowStatus::Pending,
        RowStatus::Synced,
        RowStatus::Failed,
        RowStatus::Skipped,
        RowStatus::Copy,
        RowStatus::Voided,
        RowStatus::Review,
    ];

    /// The word recorded in the store and, for settled rows, written on the sheet.
    pub fn as_str(self) -> &'static str {
        match self {
            RowStatus::Claimed => "claimed",
            RowStatus::Pending => "pending",
            RowStatus::Synced => "synced",
            RowStatus::Failed => "failed",
            RowStatus::Skipped => "skipped",
            RowStatus::Copy => "copy",
            RowStatus::Voided => "voided",
            RowStatus::Review => "review",
        }
    }

    /// Reads a recorded status exactly (the store writes nothing else).
    pub fn parse(text: &str) -> Result<RowStatus, UnknownRowStatus> {
        RowStatus::ALL.into_iter().find(|s| s.as_str() == text).ok_or_else(|| UnknownRowStatus(text.to_owned()))
    }

    /// Reads what a status cell shows: qbsync's own words, whatever their case and spacing;
    /// `None` for a blank cell or anything else a person typed.
    pub fn shown(text: &str) -> Option<RowStatus> {
        RowStatus::parse(&normalize(text)).ok().filter(|s| s.is_settled())
    }

    /// Whether the outcome is known and shown on the sheet.
    pub fn is_settled(self) -> bool {
        !matches!(self, RowStatus::Claimed | RowStatus::Pending)
    }
}

impl fmt::Display for RowStatus {
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
    fn a_row_status_reads_back_exactly_what_is_recorded_and_nothing_else() {
        for status in RowStatus::ALL {
            assert_eq!(RowStatus::parse(status.as_str()), Ok(status));
        }
        assert_eq!(RowStatus::parse("copied"), Err(UnknownRowStatus("copied".into())));
        assert_eq!(RowStatus::parse("Synced"), Err(UnknownRowStatus("Synced".into())));
    }

    #[test]
    fn a_status_cell_is_read_case_and_space_insensitively_and_only_for_settled_words() {
        assert_eq!(RowStatus::shown(" SYNCED "), Some(RowStatus::Synced));
        assert_eq!(RowStatus::shown("Failed"), Some(RowStatus::Failed));
        assert_eq!(RowStatus::shown("copy"), Some(RowStatus::Copy));
        assert_eq!(RowStatus::shown("Voided "), Some(RowStatus::Voided));
        assert_eq!(RowStatus::shown(" Review"), Some(RowStatus::Review));
        assert_eq!(RowStatus::shown("pending"), None, "qbsync never writes pending on the sheet");
        assert_eq!(RowStatus::shown("on hold"), None);
        assert_eq!(RowStatus::shown("  "), None);
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
