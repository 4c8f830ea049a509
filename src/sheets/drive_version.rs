//! [`DriveVersion`]: what Drive says about the spreadsheet file, only ever compared.
//!
//! Drive's `version` is an int64 sent as a JSON string that grows with every change to the file;
//! when an answer has none, `modifiedTime` stands in (it moves on every change too). Neither is
//! ordered or parsed here: the change check only asks "is this the one I saw before?", and a
//! type of its own keeps it from being mixed up with any other string.
//!
//! Only a real `version` is trusted to say "nothing changed since": Drive documents it as moving
//! with every change to the file, even ones not visible to the user. `modifiedTime` is good
//! enough to notice a change for the change check (a missed one costs a poll interval), but two
//! edits in its resolution could hide one, so nothing is skipped on its word
//! ([`DriveVersion::counts_every_change`]).

use std::fmt;

use serde_json::Value;

/// One observation of the spreadsheet file's version (see the module doc).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DriveVersion {
    text: String,
    /// A `version` (not the `modifiedTime` stand-in).
    exact: bool,
}

impl DriveVersion {
    /// A `version` as Drive sends it.
    pub fn new(version: impl Into<String>) -> DriveVersion {
        DriveVersion { text: version.into(), exact: true }
    }

    /// The `modifiedTime` stand-in, for an answer without a `version`.
    pub fn modified_at(time: impl Into<String>) -> DriveVersion {
        DriveVersion { text: time.into(), exact: false }
    }

    /// Whether an equal version later means the file did not change at all in between (see the
    /// module doc).
    pub fn counts_every_change(&self) -> bool {
        self.exact
    }

    /// Reads a `files.get` answer: `version` (a string, or a number), else `modifiedTime`.
    pub fn from_files_get(body: &Value) -> Option<DriveVersion> {
        match body.get("version") {
            Some(Value::String(version)) if !version.is_empty() => Some(DriveVersion::new(version.clone())),
            Some(Value::Number(version)) => Some(DriveVersion::new(version.to_string())),
            _ => body.get("modifiedTime").and_then(Value::as_str).map(DriveVersion::modified_at),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for DriveVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq<&str> for DriveVersion {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_are_read_as_text_with_modified_time_as_the_stand_in() {
        let read = |body: Value| DriveVersion::from_files_get(&body);
        assert_eq!(read(json!({"version": "1234", "modifiedTime": "t"})), Some(DriveVersion::new("1234")));
        assert_eq!(read(json!({"version": 77})), Some(DriveVersion::new("77")));
        assert_eq!(
            read(json!({"modifiedTime": "2023-09-06T21:30:02.174Z"})),
            Some(DriveVersion::modified_at("2023-09-06T21:30:02.174Z"))
        );
        assert!(read(json!({"version": "5"})).unwrap().counts_every_change());
        assert!(!read(json!({"modifiedTime": "2023-09-06T21:30:02.174Z"})).unwrap().counts_every_change());
        assert_eq!(read(json!({"id": "x"})), None);
    }
}
