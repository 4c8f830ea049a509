//! Characters a person cannot see: Unicode format characters (category Cf) and control
//! characters (category Cc).
//!
//! Text pasted from web pages, PDFs and chat clients brings zero-width spaces and joiners, byte-
//! order marks, bidirectional marks and soft hyphens along with it; a stray keyboard shortcut
//! can bring a BEL or a NUL. None of them shows on the sheet, so two names that look the same
//! can differ by one, and a message that quotes one raw shows the bookkeeper nothing to fix (or
//! writes a NUL into a cell). This module tells them apart from visible text, removes them for
//! matching, and spells them out (`U+200B`) for messages.

use std::borrow::Cow;
use std::fmt::Write as _;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Whether `ch` is invisible: a format character (Cf) or a control character (Cc).
///
/// Tab, line feed and carriage return are controls too: in a name or a number they are always
/// a paste accident, never meant.
pub fn is_invisible(ch: char) -> bool {
    matches!(ch.general_category(), GeneralCategory::Format | GeneralCategory::Control)
}

/// Whether `text` holds any invisible character.
pub fn has_invisible(text: &str) -> bool {
    text.chars().any(is_invisible)
}

/// `text` without its invisible characters (borrowed when there are none).
pub fn strip_invisible(text: &str) -> Cow<'_, str> {
    if has_invisible(text) {
        Cow::Owned(text.chars().filter(|c| !is_invisible(*c)).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// `text` with every invisible character written as its code point in angle brackets
/// (`Acme Corp<U+200B>`), for quoting user text in a message or a cell: the bookkeeper sees
/// where the character is, and nothing invisible is ever written back.
pub fn escape_invisible(text: &str) -> Cow<'_, str> {
    if !has_invisible(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if is_invisible(ch) {
            let _ = write!(out, "<U+{:04X}>", u32::from(ch));
        } else {
            out.push(ch);
        }
    }
    Cow::Owned(out)
}

/// The invisible characters of `text`, each once, as `U+200B` in order of first appearance.
pub fn invisible_code_points(text: &str) -> Vec<String> {
    let mut seen: Vec<char> = Vec::new();
    for ch in text.chars().filter(|c| is_invisible(*c)) {
        if !seen.contains(&ch) {
            seen.push(ch);
        }
    }
    seen.into_iter().map(|ch| format!("U+{:04X}", u32::from(ch))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One character of every kind of invisible character a paste brings.
    const EVERY_CLASS: [(char, &str); 14] = [
        ('\u{200B}', "zero-width space"),
        ('\u{200C}', "zero-width non-joiner"),
        ('\u{200D}', "zero-width joiner"),
        ('\u{2060}', "word joiner"),
        ('\u{FEFF}', "byte-order mark"),
        ('\u{00AD}', "soft hyphen"),
        ('\u{200E}', "left-to-right mark"),
        ('\u{200F}', "right-to-left mark"),
        ('\u{202E}', "right-to-left override"),
        ('\u{2066}', "left-to-right isolate"),
        ('\u{061C}', "Arabic letter mark"),
        ('\u{0007}', "BEL"),
        ('\u{0000}', "NUL"),
        ('\u{007F}', "DEL"),
    ];

    #[test]
    fn every_class_of_invisible_character_is_recognised_and_stripped() {
        for (ch, what) in EVERY_CLASS {
            let text = format!("Acme{ch} Corp");
            assert!(is_invisible(ch), "{what}");
            assert_eq!(strip_invisible(&text), "Acme Corp", "{what}");
        }
    }

    #[test]
    fn visible_text_is_left_alone_and_borrowed() {
        for text in ["Acme Corp", "Ünïcode GmbH", "株式会社", "O’Brien – Sons", "emoji 🙂"] {
            assert!(!has_invisible(text), "{text}");
            assert!(matches!(strip_invisible(text), Cow::Borrowed(_)));
            assert!(matches!(escape_invisible(text), Cow::Borrowed(_)));
        }
        // A no-break space is visible white space, not a format character.
        assert!(!is_invisible('\u{00A0}'));
    }

    #[test]
    fn escaping_shows_each_character_where_it_is() {
        assert_eq!(escape_invisible("Acme Corp\u{200B}"), "Acme Corp<U+200B>");
        assert_eq!(escape_invisible("a\u{0}b\u{7}"), "a<U+0000>b<U+0007>");
        assert_eq!(invisible_code_points("\u{200B}x\u{200B}\u{FEFF}"), ["U+200B", "U+FEFF"]);
    }
}
