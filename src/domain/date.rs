//! Dates: `submitted_date` and `Inv_paid_date` as calendar dates, whatever the bookkeeper typed.
//!
//! qbsync reads cells with `dateTimeRenderOption=SERIAL_NUMBER`, so a real date cell arrives as
//! a serial number (days since 1899-12-30; the fraction is the time of day and is ignored). A
//! cell formatted as plain text arrives as the text typed, so the common written forms are
//! accepted too:
//!
//! | form | example | note |
//! |---|---|---|
//! | ISO | `2025-11-05`, `2025/11/05`, `2025-11-05T10:00:00Z` | always year-month-day |
//! | numeric | `11/5/2025`, `11-05-2025`, `5.11.2025` | month first, or day first per [`DateOrder`] |
//! | month name | `Nov 5, 2025`, `November 5th 2025`, `5 Nov 2025`, `05-Nov-2025` | English names and three-letter abbreviations |
//!
//! A time of day after the date (`11/5/2025 10:30 AM`) is ignored.
//!
//! **Two-digit years** (`11/5/25`) follow the spreadsheet convention (Excel, Google Sheets):
//! `00`–`29` are 2000–2029 and `30`–`99` are 1930–1999, so a text cell means what the same text
//! would have meant typed into a date cell.
//!
//! Dates outside 1900-01-01..=9999-12-31 are refused: they are typos (`11/5/225`) or numbers
//! that were never dates (`20251105` read as a serial).

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::Cell;

/// Which of the first two numbers of `5/11/2025` is the month.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DateOrder {
    /// `11/5/2025` is November 5 (the US convention, and the default).
    #[default]
    MonthFirst,
    /// `5/11/2025` is November 5.
    DayFirst,
}

impl DateOrder {
    /// The setting value that selects this order.
    pub fn as_str(self) -> &'static str {
        match self {
            DateOrder::MonthFirst => "us",
            DateOrder::DayFirst => "day-first",
        }
    }
}

impl fmt::Display for DateOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text of a `QBSYNC_DATE_ORDER` value that is no date order.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a date order: use us (month first, 11/5/2025) or day-first (5/11/2025)")]
pub struct DateOrderError(pub String);

impl FromStr for DateOrder {
    type Err = DateOrderError;

    /// `us`, `month-first`, `mdy` → month first; `eu`, `day-first`, `dmy` → day first.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "us" | "month-first" | "mdy" => Ok(DateOrder::MonthFirst),
            "eu" | "day-first" | "dmy" => Ok(DateOrder::DayFirst),
            _ => Err(DateOrderError(s.to_owned())),
        }
    }
}

/// Why a cell is not a date. The caller adds which cell it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error("\"{text}\" is not a date: write it as 2025-11-05, 11/5/2025 or Nov 5, 2025, or make the cell a date cell")]
    NotADate { text: String },
    /// The form is recognised but no such day exists (`2/30/2025`, month 13).
    #[error("\"{text}\" is not a real date ({why}): correct the day or month{hint}")]
    Impossible { text: String, why: String, hint: String },
    #[error("\"{text}\" is outside the years 1900 to 9999: correct the year")]
    OutOfRange { text: String },
}

/// Reads a date from a cell. A blank cell is `Ok(None)`: whether a date is required is the
/// caller's decision (a blank `submitted_date` means today).
pub fn parse_date(cell: &Cell, order: DateOrder) -> Result<Option<NaiveDate>, DateError> {
    match cell {
        Cell::Empty => Ok(None),
        Cell::Text(text) if text.trim().is_empty() => Ok(None),
        Cell::Bool(_) => Err(DateError::NotADate { text: cell.as_text().into_owned() }),
        Cell::Number(text) => from_serial(text).map(Some),
        Cell::Text(text) => parse_text(text.trim(), order).map(Some),
    }
}

/// Day 0 of the spreadsheet calendar.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or(NaiveDate::MIN)
}

fn from_serial(text: &str) -> Result<NaiveDate, DateError> {
    let out_of_range = || DateError::OutOfRange { text: text.to_owned() };
    let serial = Decimal::from_str(text).map_err(|_| DateError::NotADate { text: text.to_owned() })?;
    let days = serial.floor().to_i64().ok_or_else(out_of_range)?;
    let date = epoch().checked_add_signed(chrono::Duration::try_days(days).ok_or_else(out_of_range)?);
    date.filter(in_range).ok_or_else(out_of_range)
}

fn in_range(date: &NaiveDate) -> bool {
    (1900..=9999).contains(&date.year())
}

/// One piece of a date written as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Number(&'a str),
    Month(u32),
}

fn parse_text(text: &str, order: DateOrder) -> Result<NaiveDate, DateError> {
    let not_a_date = || DateError::NotADate { text: text.to_owned() };
    // A number stored as text is read like a number cell.
    if text.chars().all(|c| c.is_ascii_digit() || c == '.') && text.chars().filter(|c| *c == '.').count() <= 1 {
        return from_serial(text);
    }
    let date_part = iso_date_part(text).unwrap_or_else(|| without_time(text));
    let tokens = tokenize(date_part).ok_or_else(not_a_date)?;
    let (year, month, day, order_used) = match tokens.as_slice() {
        [Token::Number(y), Token::Number(m), Token::Number(d)] if y.len() == 4 => (*y, number(m), number(d), None),
        [Token::Number(a), Token::Number(b), Token::Number(y)] => match order {
            DateOrder::MonthFirst => (*y, number(a), number(b), Some(order)),
            DateOrder::DayFirst => (*y, number(b), number(a), Some(order)),
        },
        [Token::Month(m), Token::Number(d), Token::Number(y)] => (*y, Some(*m), number(d), None),
        [Token::Number(y), Token::Month(m), Token::Number(d)] if y.len() == 4 => (*y, Some(*m), number(d), None),
        [Token::Number(d), Token::Month(m), Token::Number(y)] => (*y, Some(*m), number(d), None),
        _ => return Err(not_a_date()),
    };
    let (Some(month), Some(day), Some(year)) = (month, day, full_year(year)) else {
        return Err(not_a_date());
    };
    let date =
        NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| impossible(text, year, month, day, order_used))?;
    if in_range(&date) { Ok(date) } else { Err(DateError::OutOfRange { text: text.to_owned() }) }
}

/// `2025-11-05T10:00:00Z` or `2025-11-05 10:00` → `2025-11-05`.
fn iso_date_part(text: &str) -> Option<&str> {
    let (date, rest) = (text.get(..10)?, text.get(10..)?);
    let shaped = date.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
    (shaped && (rest.starts_with('T') || rest.starts_with(' '))).then_some(date)
}

/// `11/5/2025 10:30 AM` → `11/5/2025`: a time of day typed after the date is ignored, like the
/// fraction of a serial number.
fn without_time(text: &str) -> &str {
    let mut end = text.len();
    for piece in text.split_whitespace().rev() {
        let is_time = piece.contains(':') || piece.eq_ignore_ascii_case("am") || piece.eq_ignore_ascii_case("pm");
        if !is_time {
            break;
        }
        end = text[..end].trim_end().len() - piece.len();
    }
    text[..end].trim_end()
}

/// Splits on `/ - . ,` and white space; a word must be a month name, and a number may carry an
/// ordinal suffix (`5th`). `None` for anything else.
fn tokenize(text: &str) -> Option<Vec<Token<'_>>> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '/' | '-' | '.' | ','))
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let digits = piece.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            let suffix = &piece[digits.len()..];
            if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                let ordinal = ["", "st", "nd", "rd", "th"].iter().any(|s| suffix.eq_ignore_ascii_case(s));
                ordinal.then_some(Token::Number(digits))
            } else {
                month_number(piece).map(Token::Month)
            }
        })
        .collect()
}

/// The month a name stands for (`March`, `mar`, `Sept`), 1-based; shared with the Sheets
/// emulator, which must read typed dates as the domain does.
pub fn month_number(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let word = word.to_ascii_lowercase();
    if word == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .position(|m| *m == word || (word.len() == 3 && m.starts_with(&word)))
        .and_then(|i| u32::try_from(i + 1).ok())
}

fn number(digits: &str) -> Option<u32> {
    if digits.len() > 2 {
        return None;
    }
    digits.parse().ok()
}

/// Four digits as written; two digits by the spreadsheet pivot (00–29 → 20xx, 30–99 → 19xx).
fn full_year(digits: &str) -> Option<i32> {
    let value: i32 = digits.parse().ok()?;
    match digits.len() {
        4 => Some(value),
        2 if value < 30 => Some(2000 + value),
        2 => Some(1900 + value),
        _ => None,
    }
}

fn impossible(text: &str, year: i32, month: u32, day: u32, order: Option<DateOrder>) -> DateError {
    let why = if !(1..=12).contains(&month) {
        format!("there is no month {month}")
    } else {
        format!("month {month} of {year} has no day {day}")
    };
    // The other reading would have been a real date: the sheet probably uses the other order.
    let swapped_exists = NaiveDate::from_ymd_opt(year, day, month).is_some();
    let hint = match order {
        Some(DateOrder::MonthFirst) if swapped_exists => {
            "; if this sheet writes the day first (5/11/2025), set QBSYNC_DATE_ORDER=day-first".to_owned()
        }
        Some(DateOrder::DayFirst) if swapped_exists => {
            "; if this sheet writes the month first (11/5/2025), set QBSYNC_DATE_ORDER=us".to_owned()
        }
        _ => String::new(),
    };
    DateError::Impossible { text: text.to_owned(), why, hint }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }
    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }
    fn number(s: &str) -> Cell {
        Cell::Number(s.into())
    }

    #[test]
    fn accepted_forms() {
        use DateOrder::*;
        let table: &[(Cell, DateOrder, NaiveDate)] = &[
            (number("43831"), MonthFirst, ymd(2020, 1, 1)),
            (number("36162"), MonthFirst, ymd(1999, 1, 2)),
            (number("45966.75"), MonthFirst, ymd(2025, 11, 5)),
            (number("4.5966e4"), MonthFirst, ymd(2025, 11, 5)),
            (text("45966"), MonthFirst, ymd(2025, 11, 5)),
            (text("2025-11-05"), DayFirst, ymd(2025, 11, 5)),
            (text("2025/11/5"), DayFirst, ymd(2025, 11, 5)),
            (text("2025-11-05T23:30:00Z"), MonthFirst, ymd(2025, 11, 5)),
            (text("2025-11-05 08:00"), MonthFirst, ymd(2025, 11, 5)),
            (text("11/5/2025"), MonthFirst, ymd(2025, 11, 5)),
            (text(" 11/05/2025 "), MonthFirst, ymd(2025, 11, 5)),
            (text("11-5-2025"), MonthFirst, ymd(2025, 11, 5)),
            (text("5/11/2025"), DayFirst, ymd(2025, 11, 5)),
            (text("5.11.2025"), DayFirst, ymd(2025, 11, 5)),
            (text("Nov 5, 2025"), DayFirst, ymd(2025, 11, 5)),
            (text("nov 5 2025"), MonthFirst, ymd(2025, 11, 5)),
            (text("November 5th, 2025"), MonthFirst, ymd(2025, 11, 5)),
            (text("Sept 1, 2025"), MonthFirst, ymd(2025, 9, 1)),
            (text("5 Nov 2025"), MonthFirst, ymd(2025, 11, 5)),
            (text("05-Nov-2025"), MonthFirst, ymd(2025, 11, 5)),
            (text("5-Nov-25"), MonthFirst, ymd(2025, 11, 5)),
            (text("2025 Nov 5"), MonthFirst, ymd(2025, 11, 5)),
            (text("11/5/25"), MonthFirst, ymd(2025, 11, 5)),
            (text("11/5/29"), MonthFirst, ymd(2029, 11, 5)),
            (text("11/5/30"), MonthFirst, ymd(1930, 11, 5)),
            (text("2/29/2024"), MonthFirst, ymd(2024, 2, 29)),
            (text("11/5/2025 10:30"), MonthFirst, ymd(2025, 11, 5)),
            (text("Nov 5, 2025 10:30:00 PM"), MonthFirst, ymd(2025, 11, 5)),
        ];
        for (cell, order, want) in table {
            assert_eq!(parse_date(cell, *order), Ok(Some(*want)), "{cell:?} {order:?}");
        }
    }

    #[test]
    fn blank_is_no_date() {
        assert_eq!(parse_date(&Cell::Empty, DateOrder::MonthFirst), Ok(None));
        assert_eq!(parse_date(&text("  "), DateOrder::MonthFirst), Ok(None));
    }

    #[test]
    fn refused_forms() {
        use DateOrder::*;
        let not_a_date = |s: &str| DateError::NotADate { text: s.into() };
        let out = |s: &str| DateError::OutOfRange { text: s.into() };
        let table: Vec<(Cell, DateOrder, DateError)> = vec![
            (text("soon"), MonthFirst, not_a_date("soon")),
            (text("Nov 2025"), MonthFirst, not_a_date("Nov 2025")),
            (text("11/5"), MonthFirst, not_a_date("11/5")),
            (text("10:30"), MonthFirst, not_a_date("10:30")),
            (text("11/5/225"), MonthFirst, not_a_date("11/5/225")),
            (text("Foo 5, 2025"), MonthFirst, not_a_date("Foo 5, 2025")),
            (text("5xx/11/2025"), MonthFirst, not_a_date("5xx/11/2025")),
            (text("123/1/2025"), MonthFirst, not_a_date("123/1/2025")),
            (Cell::Bool(true), MonthFirst, not_a_date("TRUE")),
            (number("20251105"), MonthFirst, out("20251105")),
            (number("-5"), MonthFirst, out("-5")),
            (number("0"), MonthFirst, out("0")),
            (text("1/1/1899"), MonthFirst, out("1/1/1899")),
        ];
        for (cell, order, want) in table {
            assert_eq!(parse_date(&cell, order), Err(want), "{cell:?}");
        }
    }

    #[test]
    fn impossible_dates_name_the_text_and_suggest_the_other_order() {
        let err = parse_date(&text("13/5/2025"), DateOrder::MonthFirst).unwrap_err();
        assert!(matches!(&err, DateError::Impossible { text, .. } if text == "13/5/2025"));
        let message = err.to_string();
        assert!(message.contains("no month 13") && message.contains("QBSYNC_DATE_ORDER=day-first"), "{message}");

        let err = parse_date(&text("5/13/2025"), DateOrder::DayFirst).unwrap_err().to_string();
        assert!(err.contains("QBSYNC_DATE_ORDER=us"), "{err}");

        let err = parse_date(&text("2/30/2025"), DateOrder::MonthFirst).unwrap_err().to_string();
        assert!(err.contains("month 2 of 2025 has no day 30") && !err.contains("QBSYNC_DATE_ORDER"), "{err}");

        let err = parse_date(&text("2025-02-29"), DateOrder::MonthFirst).unwrap_err();
        assert!(matches!(err, DateError::Impossible { .. }));
    }

    #[test]
    fn date_order_setting_values() {
        for (s, want) in [
            ("us", DateOrder::MonthFirst),
            ("US", DateOrder::MonthFirst),
            ("month_first", DateOrder::MonthFirst),
            ("eu", DateOrder::DayFirst),
            ("day-first", DateOrder::DayFirst),
            ("DMY", DateOrder::DayFirst),
        ] {
            assert_eq!(s.parse::<DateOrder>(), Ok(want), "{s}");
        }
        let err = "iso".parse::<DateOrder>().unwrap_err().to_string();
        assert!(err.contains("use us") && err.contains("day-first"), "{err}");
    }
}
