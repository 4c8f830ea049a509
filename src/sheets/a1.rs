//! A1 notation: how qbsync names a range of cells to the Sheets API.
//!
//! Two things go wrong here in practice (reference §6, trap 2). A tab name with a space, an
//! apostrophe, a `#` or one that looks like a cell reference (`A1`, `CRM26`) breaks an unquoted
//! range, so sheet names are **always** quoted, with an embedded `'` doubled. And google-sheets4
//! pastes the range into the URL path without encoding it, so a `#` turns the rest of the range
//! into a URL fragment: a range that travels in a URL path is percent-encoded here first.
//! Ranges in JSON bodies (`values:batchUpdate`) are quoted but not encoded.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters, so `'`, `!`, `:`, space and `#` are encoded
/// (`'Sheet1'!A1:D4` → `%27Sheet1%27%21A1%3AD4`, as gspread sends it) while ids and plain tab
/// names such as `inv_tbl` stay readable in logs.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The letters of a 0-based column index: 0 → `A`, 25 → `Z`, 26 → `AA`, 701 → `ZZ`, 702 → `AAA`.
pub fn column_letters(col: u32) -> String {
    crate::domain::layout::column_letter(col as usize)
}

/// The A1 name of one cell, from 0-based grid coordinates: (0, 0) → `A1`, (4, 9) → `J5`.
pub fn cell(row: u32, col: u32) -> String {
    format!("{}{}", column_letters(col), u64::from(row) + 1)
}

/// A sheet name in single quotes with every `'` doubled: `Jon's Data` → `'Jon''s Data'`.
pub fn quote_sheet(title: &str) -> String {
    format!("'{}'", title.replace('\'', "''"))
}

/// The whole tab: `'inv_tbl'`.
pub fn whole_sheet(title: &str) -> String {
    quote_sheet(title)
}

/// `width` cells of one row starting at (`row`, `col`), 0-based: (`inv_tbl`, 4, 14, 5) →
/// `'inv_tbl'!O5:S5`. A width of 0 is treated as 1 (a range cannot be empty).
pub fn row_span(title: &str, row: u32, col: u32, width: u32) -> String {
    let last = col.saturating_add(width.max(1) - 1);
    format!("{}!{}:{}", quote_sheet(title), cell(row, col), cell(row, last))
}

/// A range (or spreadsheet id) made safe to paste into a URL path segment.
pub fn encode_path_segment(raw: &str) -> String {
    utf8_percent_encode(raw, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_cover_one_two_and_three_letter_columns() {
        let cases = [
            (0, "A"),
            (1, "B"),
            (25, "Z"),
            (26, "AA"),
            (27, "AB"),
            (51, "AZ"),
            (52, "BA"),
            (701, "ZZ"),
            (702, "AAA"),
            (703, "AAB"),
            (18_277, "ZZZ"),
        ];
        for (col, letters) in cases {
            assert_eq!(column_letters(col), letters, "column {col}");
        }
    }

    #[test]
    fn column_letters_handle_the_largest_index_without_overflow() {
        assert_eq!(column_letters(u32::MAX), "MWLQKWV");
    }

    #[test]
    fn cells_are_one_based_rows_and_lettered_columns() {
        assert_eq!(cell(0, 0), "A1");
        assert_eq!(cell(4, 9), "J5");
        assert_eq!(cell(99, 26), "AA100");
    }

    #[test]
    fn sheet_names_are_always_quoted_and_apostrophes_doubled() {
        assert_eq!(quote_sheet("inv_tbl"), "'inv_tbl'");
        assert_eq!(quote_sheet("A1"), "'A1'");
        assert_eq!(quote_sheet("Jon's Data #2"), "'Jon''s Data #2'");
        assert_eq!(quote_sheet("''"), "''''''");
        assert_eq!(whole_sheet("My Sheet"), "'My Sheet'");
    }

    #[test]
    fn row_spans_name_first_and_last_cell() {
        assert_eq!(row_span("inv_tbl", 4, 14, 5), "'inv_tbl'!O5:S5");
        assert_eq!(row_span("Sheet1", 0, 0, 4), "'Sheet1'!A1:D1");
        assert_eq!(row_span("Sheet1", 1, 3, 1), "'Sheet1'!D2:D2");
        assert_eq!(row_span("Sheet1", 1, 3, 0), "'Sheet1'!D2:D2");
        assert_eq!(row_span("Jon's Data #2", 0, 25, 2), "'Jon''s Data #2'!Z1:AA1");
    }

    #[test]
    fn encoding_matches_what_gspread_sends_and_protects_hash_and_space() {
        assert_eq!(encode_path_segment("'Sheet1'!A1:D4"), "%27Sheet1%27%21A1%3AD4");
        assert_eq!(encode_path_segment("'Sheet1'"), "%27Sheet1%27");
        assert_eq!(encode_path_segment("'Jon''s Data #2'"), "%27Jon%27%27s%20Data%20%232%27");
        assert_eq!(encode_path_segment("1VYZV6IRnymjtc-J87QLjI_x.y~z"), "1VYZV6IRnymjtc-J87QLjI_x.y~z");
        assert_eq!(encode_path_segment("Café/€"), "Caf%C3%A9%2F%E2%82%AC");
    }
}
