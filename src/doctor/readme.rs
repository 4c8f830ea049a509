//! The README sections a fix line sends a person to.
//!
//! A fix that sends a person to a README section that does not exist leaves a first-time user
//! stranded at the moment they most need help. Naming sections through this enum, rather than in
//! free text, lets one test (in the integration suite) check every title against README's
//! headings, so a renamed section breaks the build's tests instead of the user's evening.

use std::fmt;

/// A README section named by a `doctor` fix line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadmeSection {
    /// The tab's columns and header row.
    TheSheet,
    /// Service account or personal account, sharing, the APIs to enable.
    GoogleAccess,
    /// `.env` and `qb_directions.json`.
    WriteTheConfiguration,
}

impl ReadmeSection {
    pub const ALL: [ReadmeSection; 3] =
        [ReadmeSection::TheSheet, ReadmeSection::GoogleAccess, ReadmeSection::WriteTheConfiguration];

    /// The heading exactly as README writes it (without the `#`s).
    pub fn title(self) -> &'static str {
        match self {
            ReadmeSection::TheSheet => "The sheet",
            ReadmeSection::GoogleAccess => "3. Give qbsync access to the sheet",
            ReadmeSection::WriteTheConfiguration => "4. Write the configuration",
        }
    }
}

/// `README: "The sheet"`, as the fix lines write it.
impl fmt::Display for ReadmeSection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "README: \"{}\"", self.title())
    }
}
