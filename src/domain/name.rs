//! A customer or vendor name as qbsync sends it to QuickBooks (`DisplayName`), and the key
//! names are matched by.
//!
//! The sheet is shared and pasted into, so the same name arrives in many spellings a person
//! cannot tell apart: decomposed accents (`U` + `¨` rather than `Ü`, as macOS and some PDFs
//! produce), zero-width spaces and joiners, byte-order marks and bidi marks from web pages,
//! control characters from a stray key. QuickBooks compares display names exactly, so each
//! spelling would become a customer of its own beside the one the bookkeeper meant. A
//! [`PartyName`] is therefore the name in Unicode NFC with every invisible character removed
//! and white space collapsed: what is sent, and what is matched.
//!
//! What QuickBooks refuses in a `DisplayName` is refused here, where the message can still
//! name the cell: a colon (QuickBooks uses it to separate a sub-customer from its parent), more
//! than 500 characters, and a name with nothing visible in it.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

use super::invisible::{escape_invisible, is_invisible};

/// The most characters QuickBooks keeps in a `DisplayName`.
pub const MAX_LEN: usize = 500;

/// A display name fit to send: NFC, no invisible characters, single spaces, no colon, 1–500
/// characters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartyName(String);

/// Why a cell's text cannot be a QuickBooks display name. Each variant is one thing the
/// bookkeeper does about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PartyNameError {
    #[error("the name is blank")]
    Blank,
    #[error(
        "\"{}\" has nothing visible in it (only invisible characters such as zero-width spaces): type the name",
        escape_invisible(.raw)
    )]
    OnlyInvisible { raw: String },
    #[error(
        "\"{}\" contains a colon, which QuickBooks does not allow in a customer or vendor name (it separates a sub-customer from its parent): remove the colon, or map the name to the QuickBooks name in the alias file",
        escape_invisible(.name)
    )]
    Colon { name: String },
    #[error(
        "the name is {len} characters long, and QuickBooks keeps at most 500 in a customer or vendor name: shorten it, or map it to the QuickBooks name in the alias file"
    )]
    TooLong { len: usize },
}

impl PartyName {
    /// Cleans and checks `raw`.
    pub fn parse(raw: &str) -> Result<PartyName, PartyNameError> {
        if raw.trim().is_empty() {
            return Err(PartyNameError::Blank);
        }
        let cleaned = clean(raw);
        if cleaned.is_empty() {
            return Err(PartyNameError::OnlyInvisible { raw: raw.to_owned() });
        }
        if cleaned.contains(':') {
            return Err(PartyNameError::Colon { name: cleaned });
        }
        let len = cleaned.chars().count();
        if len > MAX_LEN {
            return Err(PartyNameError::TooLong { len });
        }
        Ok(PartyName(cleaned))
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as sent.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for PartyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// NFC, invisible characters removed, white space runs collapsed to one space and trimmed.
pub fn clean(raw: &str) -> String {
    let visible: String = raw.nfc().filter(|c| !is_invisible(*c) || c.is_whitespace()).collect();
    visible.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The key two names are compared by: [`clean`], then case folded. Two names with the same key
/// are the same name to a person's eye, so one is never created beside the other and never
/// offered as a suggestion for it.
pub fn match_key(name: &str) -> String {
    clean(name).to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_characters_and_decomposed_accents_are_the_same_name() {
        let nfc = "Ünïcode GmbH";
        let nfd = "U\u{308}ni\u{308}code GmbH";
        assert_ne!(nfc, nfd);
        assert_eq!(PartyName::parse(nfd).unwrap().as_str(), nfc);
        assert_eq!(match_key(nfd), match_key(nfc));
        for spelling in
            ["Acme Corp\u{200B}", "\u{FEFF}Acme Corp", "Acme\u{00AD} Corp", "Acme  Corp", "\u{200E}Acme Corp\u{202C}"]
        {
            assert_eq!(PartyName::parse(spelling).unwrap().as_str(), "Acme Corp", "{spelling:?}");
        }
    }

    #[test]
    fn control_characters_are_never_kept() {
        let name = PartyName::parse("Bell\u{7} Co\u{0}rp\tLtd").unwrap();
        assert_eq!(name.as_str(), "Bell Corp Ltd");
    }

    #[test]
    fn what_quickbooks_refuses_is_refused_before_sending() {
        assert_eq!(PartyName::parse("  "), Err(PartyNameError::Blank));
        assert_eq!(PartyName::parse("\u{200B}"), Err(PartyNameError::OnlyInvisible { raw: "\u{200B}".into() }));
        assert_eq!(PartyName::parse("Acme: East"), Err(PartyNameError::Colon { name: "Acme: East".into() }));
        assert_eq!(PartyName::parse(&"x".repeat(501)), Err(PartyNameError::TooLong { len: 501 }));
        assert!(PartyName::parse(&"x".repeat(500)).is_ok());
    }

    #[test]
    fn refusals_show_invisible_characters_escaped() {
        let message = PartyName::parse("\u{200B}\u{200D}").unwrap_err().to_string();
        assert!(message.contains("<U+200B><U+200D>"), "{message}");
        assert!(!message.contains('\u{200B}'), "{message}");
    }
}
