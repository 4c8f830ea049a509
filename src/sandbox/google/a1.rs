//! A1 notation: parsing what clients send and printing what Google answers.
//!
//! Clients send every form Google documents (`Sheet1!A1:B2`, `Sheet1!A:A`, `Sheet1!1:2`,
//! `Sheet1!A5:A`, `Sheet1`, `A1:B2`), quoted names with `''` doubling, raw or percent-encoded
//! in the URL path. Google answers with one canonical form (`Sheet1!A1:D2`, names quoted only
//! when they must be). Resolving a parsed range against a sheet's grid lives in
//! `spreadsheet.rs`; this module is pure text.

/// A parsed range, before it is resolved against a spreadsheet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedRange {
    /// The sheet title, unquoted; `None` means "the first sheet" (or, for a bare word, a
    /// sheet title that must be tried first — see [`ParsedRange::bare_word`]).
    pub sheet: Option<String>,
    /// `None` means the whole sheet.
    pub span: Option<Span>,
    /// Set when the input had no `!` and no quotes: it may be a sheet title or an A1 span.
    pub bare_word: Option<String>,
}

/// Cell bounds, 0-based, end exclusive; `None` is unbounded (to the edge of the grid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start_row: usize,
    pub start_col: usize,
    pub end_row: Option<usize>,
    pub end_col: Option<usize>,
}

/// One end of a span: `A`, `5`, `A5`, `$A$5`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Endpoint {
    col: Option<usize>,
    row: Option<usize>,
}

/// Parses a range as received (already percent-decoded). `Err(())` means "Unable to parse range".
pub fn parse(input: &str) -> Result<ParsedRange, ()> {
    let text = input.trim();
    if text.is_empty() {
        return Err(());
    }
    if let Some(rest) = text.strip_prefix('\'') {
        let (name, after) = parse_quoted(rest)?;
        return match after.strip_prefix('!') {
            Some(cells) => Ok(ParsedRange { sheet: Some(name), span: Some(parse_span(cells)?), bare_word: None }),
            None if after.is_empty() => Ok(ParsedRange { sheet: Some(name), span: None, bare_word: None }),
            None => Err(()),
        };
    }
    match text.split_once('!') {
        Some((name, cells)) => {
            if name.is_empty() || name.contains('\'') {
                return Err(());
            }
            Ok(ParsedRange { sheet: Some(name.to_owned()), span: Some(parse_span(cells)?), bare_word: None })
        }
        None => Ok(ParsedRange { sheet: None, span: parse_span(text).ok(), bare_word: Some(text.to_owned()) }),
    }
}

/// Reads a quoted sheet name after its opening quote; `''` stands for one `'`.
fn parse_quoted(rest: &str) -> Result<(String, &str), ()> {
    let mut name = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if let Some(&(_, '\'')) = chars.peek() {
                chars.next();
                name.push('\'');
                continue;
            }
            if name.is_empty() {
                return Err(());
            }
            return Ok((name, &rest[i + 1..]));
        }
        name.push(c);
    }
    Err(())
}

/// `A1`, `A1:B2`, `A:A`, `1:2`, `A5:A`, `A1:1`.
fn parse_span(text: &str) -> Result<Span, ()> {
    let (start, end) = match text.split_once(':') {
        Some((a, b)) => (parse_endpoint(a)?, Some(parse_endpoint(b)?)),
        None => (parse_endpoint(text)?, None),
    };
    let Some(end) = end else {
        // A single reference must name one cell.
        let (Some(col), Some(row)) = (start.col, start.row) else { return Err(()) };
        return Ok(Span { start_row: row, start_col: col, end_row: Some(row + 1), end_col: Some(col + 1) });
    };
    // `A:5` mixes a column-only start with a row-only end: not A1 notation.
    if (start.row.is_none() && end.col.is_none()) || (start.col.is_none() && end.row.is_none()) {
        return Err(());
    }
    let (mut start_row, mut start_col) = (start.row.unwrap_or(0), start.col.unwrap_or(0));
    let (mut end_row, mut end_col) = (end.row.map(|r| r + 1), end.col.map(|c| c + 1));
    // Google accepts reversed corners (`B2:A1`) and normalises them.
    if let Some(e) = end_row
        && e <= start_row
    {
        (start_row, end_row) = (e - 1, Some(start_row + 1));
    }
    if let Some(e) = end_col
        && e <= start_col
    {
        (start_col, end_col) = (e - 1, Some(start_col + 1));
    }
    Ok(Span { start_row, start_col, end_row, end_col })
}

fn parse_endpoint(text: &str) -> Result<Endpoint, ()> {
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.get(i) == Some(&b'$') {
        i += 1;
    }
    let letters_start = i;
    while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
        i += 1;
    }
    let letters = &text[letters_start..i];
    if bytes.get(i) == Some(&b'$') {
        if letters.is_empty() {
            return Err(());
        }
        i += 1;
    }
    let digits = &text[i..];
    if letters.is_empty() && digits.is_empty() {
        return Err(());
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) || letters.len() > 3 {
        return Err(());
    }
    let col = if letters.is_empty() { None } else { Some(column_index(letters).ok_or(())?) };
    let row = if digits.is_empty() {
        None
    } else {
        let n: usize = digits.parse().map_err(|_| ())?;
        if n == 0 {
            return Err(());
        }
        Some(n - 1)
    };
    Ok(Endpoint { col, row })
}

/// `A` → 0, `Z` → 25, `AA` → 26.
pub fn column_index(letters: &str) -> Option<usize> {
    if letters.is_empty() {
        return None;
    }
    letters
        .bytes()
        .try_fold(0usize, |acc, b| {
            let b = b.to_ascii_uppercase();
            b.is_ascii_uppercase().then(|| acc * 26 + usize::from(b - b'A') + 1)
        })
        .map(|n| n - 1)
}

/// 0 → `A`, 25 → `Z`, 26 → `AA`.
pub fn column_letters(index: usize) -> String {
    crate::domain::layout::column_letter(index)
}

/// `A1` for row 0, column 0.
pub fn cell_name(row: usize, col: usize) -> String {
    format!("{}{}", column_letters(col), row + 1)
}

/// The sheet title as Google prints it in a range: bare when it is a plain identifier that
/// cannot be mistaken for a cell, otherwise quoted with `'` doubled.
pub fn sheet_prefix(title: &str) -> String {
    let plain = title.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && title.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && parse_endpoint(title).is_err()
        && !looks_like_r1c1(title);
    if plain { title.to_owned() } else { format!("'{}'", title.replace('\'', "''")) }
}

fn looks_like_r1c1(title: &str) -> bool {
    let upper = title.to_ascii_uppercase();
    let Some(rest) = upper.strip_prefix('R') else { return false };
    let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let after = &rest[digits_end..];
    after.is_empty() || after.strip_prefix('C').is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()))
}

/// The canonical text of a resolved rectangle: `Sheet1!A1:D2`, or `Sheet1!B3` for one cell.
pub fn format_range(title: &str, start_row: usize, start_col: usize, end_row: usize, end_col: usize) -> String {
    let start = cell_name(start_row, start_col);
    if end_row == start_row + 1 && end_col == start_col + 1 {
        format!("{}!{start}", sheet_prefix(title))
    } else {
        format!("{}!{start}:{}", sheet_prefix(title), cell_name(end_row - 1, end_col - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(sr: usize, sc: usize, er: Option<usize>, ec: Option<usize>) -> Option<Span> {
        Some(Span { start_row: sr, start_col: sc, end_row: er, end_col: ec })
    }

    #[test]
    fn every_documented_form_parses() {
        let p = |s| parse(s).unwrap();
        assert_eq!(p("Sheet1!A1:B2").span, span(0, 0, Some(2), Some(2)));
        assert_eq!(p("Sheet1!A:A").span, span(0, 0, None, Some(1)));
        assert_eq!(p("Sheet1!1:2").span, span(0, 0, Some(2), None));
        assert_eq!(p("Sheet1!A5:A").span, span(4, 0, None, Some(1)));
        assert_eq!(p("'Sheet1'!A1:1").span, span(0, 0, Some(1), None));
        assert_eq!(p("Sheet1!$B$3").span, span(2, 1, Some(3), Some(2)));
        assert_eq!(p("'Sheet1'"), ParsedRange { sheet: Some("Sheet1".into()), span: None, bare_word: None });
        let bare = p("A1:B2");
        assert_eq!(
            (bare.sheet, bare.span, bare.bare_word.as_deref()),
            (None, span(0, 0, Some(2), Some(2)), Some("A1:B2"))
        );
        let word = p("inv_tbl");
        assert_eq!((word.span, word.bare_word.as_deref()), (None, Some("inv_tbl")));
    }

    #[test]
    fn quoted_names_double_their_quotes() {
        let p = parse("'Jon''s Data'!A1:B2").unwrap();
        assert_eq!(p.sheet.as_deref(), Some("Jon's Data"));
        assert_eq!(sheet_prefix("Jon's Data"), "'Jon''s Data'");
        assert_eq!(sheet_prefix("inv_tbl"), "inv_tbl");
        assert_eq!(sheet_prefix("A1"), "'A1'");
        assert_eq!(sheet_prefix("My Sheet"), "'My Sheet'");
        assert_eq!(sheet_prefix("R1C1"), "'R1C1'");
    }

    #[test]
    fn garbage_is_rejected() {
        for bad in ["", "Sheet1!", "Sheet1!A0", "Sheet1!A:5", "'Sheet1", "''!A1", "Sheet1!A1:B2:C3", "Sheet1!ABCD1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reversed_corners_are_normalised() {
        assert_eq!(parse("S!B2:A1").unwrap().span, span(0, 0, Some(2), Some(2)));
    }

    #[test]
    fn columns_round_trip() {
        for (i, s) in [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA")] {
            assert_eq!(column_letters(i), s);
            assert_eq!(column_index(s), Some(i));
        }
        assert_eq!(format_range("Sheet1", 0, 0, 2, 4), "Sheet1!A1:D2");
        assert_eq!(format_range("Sheet1", 2, 1, 3, 2), "Sheet1!B3");
    }
}
