//! The QuickBooks document number (`DocNumber`) of an invoice or bill, from the `invoice` cell.
//!
//! QuickBooks keeps at most 21 characters and answers a longer number with a validation fault
//! that names no cell, so the limit is checked here, where the bookkeeper can still be told
//! which cell to shorten. An optional
//! prefix (`QBSYNC_DOC_NUMBER_PREFIX`, e.g. `ACD-`) is part of the number and counts toward the
//! 21. A number cell keeps the digits the bookkeeper sees: `1042` never becomes `1042.0`.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::Cell;
use super::invisible::{escape_invisible, is_invisible};
use crate::qbo::query;

/// The most characters QuickBooks keeps in `DocNumber`.
pub const MAX_LEN: usize = 21;

/// A trimmed, non-blank document number of at most 21 characters, prefix included.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocNumber(String);

/// Why the `invoice` cell cannot be a document number.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DocNumberError {
    #[error("the invoice number is blank: enter the invoice or bill number")]
    Blank,
    #[error(
        "the document number \"{value}\" is {len} characters long, and QuickBooks keeps at most 21 (a configured prefix counts too): shorten it"
    )]
    TooLong { value: String, len: usize },
    #[error(
        "the document number \"{}\" contains a line break, tab or other invisible character: retype it on one line",
        escape_invisible(.value)
    )]
    InvalidCharacters { value: String },
    #[error(
        "the document number \"{value}\" cannot be searched for in QuickBooks ({} cannot be carried by a QuickBooks query, and too little else is left to search by), so qbsync could not find the document again if QuickBooks' answer were lost: use plain letters, digits and punctuation",
        .unsearchable.join(" ")
    )]
    Unsearchable { value: String, unsearchable: Vec<String> },
}

impl DocNumber {
    /// `prefix` + the trimmed `raw` text, checked.
    pub fn parse(raw: &str, prefix: &str) -> Result<DocNumber, DocNumberError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(DocNumberError::Blank);
        }
        let value = format!("{prefix}{raw}");
        if value.chars().any(is_invisible) {
            return Err(DocNumberError::InvalidCharacters { value });
        }
        let len = value.chars().count();
        if len > MAX_LEN {
            return Err(DocNumberError::TooLong { value, len });
        }
        // A create whose answer is lost is reconciled by searching for its number; a number no
        // search can find would leave that document pending for ever, so it is never sent.
        if query::search_for(&value).is_none() {
            let mut unsearchable: Vec<String> = Vec::new();
            for ch in value.chars().filter(|c| !c.is_ascii() || *c == '\\') {
                let ch = ch.to_string();
                if !unsearchable.contains(&ch) {
                    unsearchable.push(ch);
                }
            }
            return Err(DocNumberError::Unsearchable { value, unsearchable });
        }
        Ok(DocNumber(value))
    }

    /// From the `invoice` cell. A number cell is written without float artefacts: `1042`,
    /// `1042.0` and `1.042e3` are all `1042`.
    pub fn from_cell(cell: &Cell, prefix: &str) -> Result<DocNumber, DocNumberError> {
        match cell {
            Cell::Number(text) => {
                let digits =
                    Decimal::from_str(text).map(|d| d.normalize().to_string()).unwrap_or_else(|_| text.to_string());
                DocNumber::parse(&digits, prefix)
            }
            other => DocNumber::parse(&other.as_text(), prefix),
        }
    }

    /// The number as sent to QuickBooks.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DocNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DocNumber {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted() {
        let table: &[(Cell, &str, &str)] = &[
            (Cell::Text(" 1042 ".into()), "", "1042"),
            (Cell::Number("1042".into()), "", "1042"),
            (Cell::Number("1042.0".into()), "", "1042"),
            (Cell::Number("1.042e3".into()), "", "1042"),
            (Cell::Number("1042.5".into()), "", "1042.5"),
            (Cell::Text("INV-2024-0042".into()), "", "INV-2024-0042"),
            (Cell::Text("0042".into()), "ACD-", "ACD-0042"),
            (Cell::Text("O'Brien #7".into()), "", "O'Brien #7"),
            (Cell::Text("123456789012345678901".into()), "", "123456789012345678901"),
            (Cell::Text("ÄÖÜ4567890123456789012".chars().take(21).collect()), "", "ÄÖÜ456789012345678901"),
        ];
        for (cell, prefix, want) in table {
            assert_eq!(DocNumber::from_cell(cell, prefix).map(|d| d.to_string()), Ok(want.to_string()), "{cell:?}");
        }
    }

    #[test]
    fn refused() {
        assert_eq!(DocNumber::from_cell(&Cell::Empty, "ACD-"), Err(DocNumberError::Blank));
        assert_eq!(DocNumber::parse("   ", ""), Err(DocNumberError::Blank));
        assert_eq!(
            DocNumber::parse("1234567890123456789012", ""),
            Err(DocNumberError::TooLong { value: "1234567890123456789012".into(), len: 22 })
        );
        assert_eq!(
            DocNumber::parse("12345678901234567890", "ACD-"),
            Err(DocNumberError::TooLong { value: "ACD-12345678901234567890".into(), len: 24 })
        );
        assert_eq!(DocNumber::parse("10\n42", ""), Err(DocNumberError::InvalidCharacters { value: "10\n42".into() }));
        assert_eq!(
            DocNumber::parse("10\u{200B}42", ""),
            Err(DocNumberError::InvalidCharacters { value: "10\u{200B}42".into() })
        );
    }

    #[test]
    fn a_number_no_quickbooks_search_can_find_is_refused_naming_its_characters() {
        let err = DocNumber::parse("①②③", "").unwrap_err();
        assert_eq!(
            err,
            DocNumberError::Unsearchable {
                value: "①②③".into(),
                unsearchable: vec!["①".into(), "②".into(), "③".into()]
            }
        );
        let message = err.to_string();
        assert!(message.contains("① ② ③") && message.contains("plain letters"), "{message}");
        // Searchable by a long enough plain fragment: accepted.
        assert!(DocNumber::parse("Nº 2024-17", "").is_ok());
        assert!(DocNumber::parse("請求書 42", "").is_ok());
        assert!(DocNumber::parse("請求書4", "").is_err());
    }

    #[test]
    fn messages_say_how_to_fix() {
        let long = DocNumber::parse("1234567890123456789012", "").unwrap_err().to_string();
        assert!(long.contains("22 characters") && long.contains("at most 21") && long.contains("shorten"), "{long}");
        let control = DocNumber::parse("10\t42", "").unwrap_err().to_string();
        assert!(control.contains("\"10<U+0009>42\""), "{control}");
    }
}
