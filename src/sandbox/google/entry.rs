//! One cell as the emulator stores it, how typing turns text into it, and how it is shown.
//!
//! The Sheets API answers the same cell three ways (`FORMATTED_VALUE`, `UNFORMATTED_VALUE`,
//! `FORMULA`, with dates as serials or strings), and `USER_ENTERED` writes parse text the way
//! the UI does (`1,234.50` a number, `2025-11-05` a date, `=…` a formula, `'…` text). Keeping
//! the input kind and the number format together in [`Entry`] is what lets every render option
//! be reproduced from one stored value.

use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use regex::Regex;
use serde::Serialize;
use serde_json::Value;

use crate::domain::date::month_number;

/// What a cell holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    #[default]
    Empty,
    Text {
        text: String,
    },
    Number {
        value: f64,
        format: NumberFormat,
    },
    Bool {
        value: bool,
    },
    /// The formula text including its leading `=`; its value is computed when read.
    Formula {
        formula: String,
    },
}

/// How a number is displayed under `FORMATTED_VALUE`; chosen by what the user typed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NumberFormat {
    /// Google's "Automatic": up to ten decimals, trailing zeros dropped.
    #[default]
    Automatic,
    /// `1,234.50`: thousands separators, fixed decimals.
    Grouped { decimals: u8 },
    /// `$1,234.50`.
    Currency { decimals: u8 },
    /// `12.5%` (the value is 0.125).
    Percent { decimals: u8 },
    /// A date, in the style it was typed in.
    Date { style: DateStyle },
    /// A date and time of day.
    DateTime { style: DateStyle },
}

/// The date pattern a date was typed in, reused to display it (en_US locale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DateStyle {
    /// `2025-11-05`
    Iso,
    /// `11/5/2025`
    Us,
    /// `Nov 5, 2025`
    MonthName,
}

/// A cell's value after formulas are computed.
#[derive(Clone, Debug, PartialEq)]
pub enum Computed {
    Empty,
    Text(String),
    Number(f64, NumberFormat),
    Bool(bool),
    /// `#NAME?`, `#DIV/0!`, `#VALUE!`, `#REF!`, `#ERROR!`.
    Error(&'static str),
}

impl Entry {
    pub fn text(s: impl Into<String>) -> Entry {
        let s = s.into();
        if s.is_empty() { Entry::Empty } else { Entry::Text { text: s } }
    }

    pub fn number(value: f64) -> Entry {
        Entry::Number { value, format: NumberFormat::Automatic }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Entry::Empty)
    }
}

/// Parses text the way the Sheets UI (and `USER_ENTERED`) does.
pub fn typed(input: &str) -> Entry {
    if input.is_empty() {
        return Entry::Empty;
    }
    if let Some(rest) = input.strip_prefix('\'') {
        return Entry::text(rest);
    }
    if input.len() > 1 && input.starts_with('=') {
        return Entry::Formula { formula: input.to_owned() };
    }
    let trimmed = input.trim();
    if trimmed.eq_ignore_ascii_case("TRUE") {
        return Entry::Bool { value: true };
    }
    if trimmed.eq_ignore_ascii_case("FALSE") {
        return Entry::Bool { value: false };
    }
    if let Some((value, format)) = parse_number(trimmed) {
        return Entry::Number { value, format };
    }
    if let Some((value, format)) = parse_date(trimmed) {
        return Entry::Number { value, format };
    }
    Entry::Text { text: input.to_owned() }
}

/// Numbers as a user types them: `1234.5`, `-50`, `+7`, `1,234.50`, `$1,234.50`, `-$5`, `12.5%`, `1e3`.
pub fn parse_number(s: &str) -> Option<(f64, NumberFormat)> {
    // A constant pattern: `None` only if it failed to compile, which the unit tests rule out.
    static NUMBER: LazyLock<Option<Regex>> = LazyLock::new(|| {
        Regex::new(r"^(?P<sign1>[+-])?(?P<cur>\$)?(?P<sign2>[+-])?(?P<int>\d{1,3}(?:,\d{3})+|\d*)(?:\.(?P<frac>\d*))?(?P<exp>[eE][+-]?\d+)?(?P<pct>%)?$").ok()
    });
    let caps = NUMBER.as_ref()?.captures(s)?;
    let int = caps.name("int").map_or("", |m| m.as_str());
    let frac = caps.name("frac").map(|m| m.as_str());
    if int.is_empty() && frac.is_none_or(str::is_empty) {
        return None;
    }
    let signs = [caps.name("sign1"), caps.name("sign2")];
    if signs.iter().all(Option::is_some) {
        return None;
    }
    let negative = signs.iter().flatten().any(|m| m.as_str() == "-");
    let currency = caps.name("cur").is_some();
    let grouped = int.contains(',');
    let exp = caps.name("exp").map(|m| m.as_str());
    let percent = caps.name("pct").is_some();
    if exp.is_some() && (currency || grouped || percent) {
        return None;
    }
    let digits = format!(
        "{}{}.{}{}",
        if negative { "-" } else { "" },
        int.replace(',', ""),
        frac.unwrap_or("0"),
        exp.unwrap_or("")
    );
    let mut value: f64 = digits.trim_end_matches('.').parse().ok()?;
    let decimals = u8::try_from(frac.map_or(0, str::len)).unwrap_or(u8::MAX);
    let format = if percent {
        value /= 100.0;
        NumberFormat::Percent { decimals }
    } else if currency {
        NumberFormat::Currency { decimals: 2 }
    } else if grouped {
        NumberFormat::Grouped { decimals }
    } else {
        NumberFormat::Automatic
    };
    Some((value, format))
}

/// Dates as typed in the en_US locale: `2025-11-05`, `2025-11-05 13:45[:00]`, `11/5/2025`,
/// `11/5/25`, `Nov 5, 2025`, `November 5 2025`. Returns the serial number and its format.
pub fn parse_date(s: &str) -> Option<(f64, NumberFormat)> {
    static ISO: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$").ok());
    static US: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"^(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})$").ok());
    static NAMED: LazyLock<Option<Regex>> =
        LazyLock::new(|| Regex::new(r"^([A-Za-z]{3,9})\.? (\d{1,2}),? (\d{4})$").ok());
    let num = |m: Option<regex::Match<'_>>| m.and_then(|m| m.as_str().parse::<u32>().ok());
    if let Some(c) = ISO.as_ref().and_then(|re| re.captures(s)) {
        let date = NaiveDate::from_ymd_opt(i32::try_from(num(c.get(1))?).ok()?, num(c.get(2))?, num(c.get(3))?)?;
        return match c.get(4) {
            None => Some((date_serial(date), NumberFormat::Date { style: DateStyle::Iso })),
            Some(_) => {
                let time = NaiveTime::from_hms_opt(num(c.get(4))?, num(c.get(5))?, num(c.get(6)).unwrap_or(0))?;
                Some((datetime_serial(date.and_time(time)), NumberFormat::DateTime { style: DateStyle::Iso }))
            }
        };
    }
    if let Some(c) = US.as_ref().and_then(|re| re.captures(s)) {
        let year_text = c.get(3)?.as_str();
        let mut year = i32::try_from(num(c.get(3))?).ok()?;
        if year_text.len() == 2 {
            year += if year < 30 { 2000 } else { 1900 };
        }
        let date = NaiveDate::from_ymd_opt(year, num(c.get(1))?, num(c.get(2))?)?;
        return Some((date_serial(date), NumberFormat::Date { style: DateStyle::Us }));
    }
    if let Some(c) = NAMED.as_ref().and_then(|re| re.captures(s)) {
        let month = month_number(c.get(1)?.as_str())?;
        let date = NaiveDate::from_ymd_opt(i32::try_from(num(c.get(3))?).ok()?, month, num(c.get(2))?)?;
        return Some((date_serial(date), NumberFormat::Date { style: DateStyle::MonthName }));
    }
    None
}

/// Day 0 of Sheets' serial numbers.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1899, 12, 30).unwrap_or_default()
}

/// Days since 1899-12-30.
pub fn date_serial(date: NaiveDate) -> f64 {
    (date - epoch()).num_days() as f64
}

fn datetime_serial(at: NaiveDateTime) -> f64 {
    date_serial(at.date()) + f64::from(at.time().num_seconds_from_midnight()) / 86_400.0
}

fn serial_datetime(serial: f64) -> Option<NaiveDateTime> {
    let days = serial.floor();
    let date = epoch().checked_add_signed(chrono::Duration::days(days as i64))?;
    let seconds = ((serial - days) * 86_400.0).round() as u32;
    Some(date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(seconds.min(86_399), 0)?))
}

/// The JSON number Google sends for a double: integers without a fraction (`43831`, not `43831.0`).
pub fn number_json(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 9.007_199_254_740_992e15 {
        return Value::from(value as i64);
    }
    serde_json::Number::from_f64(value).map(Value::Number).unwrap_or_else(|| Value::String(general(value)))
}

/// Display text of a computed value under `FORMATTED_VALUE`.
pub fn display(value: &Computed) -> String {
    match value {
        Computed::Empty => String::new(),
        Computed::Text(s) => s.clone(),
        Computed::Number(v, format) => format_number(*v, *format),
        Computed::Bool(true) => "TRUE".into(),
        Computed::Bool(false) => "FALSE".into(),
        Computed::Error(code) => (*code).into(),
    }
}

/// A number in the given format, as the en_US locale shows it.
pub fn format_number(value: f64, format: NumberFormat) -> String {
    match format {
        NumberFormat::Automatic => general(value),
        NumberFormat::Grouped { decimals } => fixed_grouped(value, decimals),
        NumberFormat::Currency { decimals } => {
            let body = fixed_grouped(value.abs(), decimals);
            if value < 0.0 { format!("-${body}") } else { format!("${body}") }
        }
        NumberFormat::Percent { decimals } => format!("{:.*}%", usize::from(decimals), value * 100.0),
        NumberFormat::Date { style } => {
            serial_datetime(value).map_or_else(|| general(value), |at| date_text(at.date(), style))
        }
        NumberFormat::DateTime { style } => serial_datetime(value).map_or_else(
            || general(value),
            |at| format!("{} {:02}:{:02}:{:02}", date_text(at.date(), style), at.hour(), at.minute(), at.second()),
        ),
    }
}

fn date_text(date: NaiveDate, style: DateStyle) -> String {
    match style {
        DateStyle::Iso => date.format("%Y-%m-%d").to_string(),
        DateStyle::Us => format!("{}/{}/{}", date.month(), date.day(), date.year()),
        DateStyle::MonthName => format!("{} {}, {}", date.format("%b"), date.day(), date.year()),
    }
}

/// Google's "Automatic" number display: integers as such, otherwise at most ten decimals with
/// trailing zeros dropped (`0.1+0.2` shows `0.3`), scientific beyond 15 digits.
pub fn general(value: f64) -> String {
    if !value.is_finite() {
        return "#NUM!".into();
    }
    if value.abs() >= 1e15 || (value != 0.0 && value.abs() < 1e-10) {
        let text = format!("{value:.2E}");
        return text.replace("E", "E+").replace("E+-", "E-");
    }
    if value.fract() == 0.0 {
        return format!("{}", value as i64);
    }
    let text = format!("{value:.10}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" { "0".into() } else { text.into() }
}

fn fixed_grouped(value: f64, decimals: u8) -> String {
    let text = format!("{:.*}", usize::from(decimals), value.abs());
    let (int, frac) = text.split_once('.').map_or((text.as_str(), None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') { "-" } else { "" };
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(s: &str) -> Option<(f64, NumberFormat)> {
        match typed(s) {
            Entry::Number { value, format } => Some((value, format)),
            _ => None,
        }
    }

    #[test]
    fn typing_makes_numbers_dates_formulas_and_text() {
        assert_eq!(number("1234.5"), Some((1234.5, NumberFormat::Automatic)));
        assert_eq!(number("-50"), Some((-50.0, NumberFormat::Automatic)));
        assert_eq!(number("0012"), Some((12.0, NumberFormat::Automatic)));
        assert_eq!(number("$1,234.50"), Some((1234.5, NumberFormat::Currency { decimals: 2 })));
        assert_eq!(number("-$5"), Some((-5.0, NumberFormat::Currency { decimals: 2 })));
        assert_eq!(number("1,234.50"), Some((1234.5, NumberFormat::Grouped { decimals: 2 })));
        assert_eq!(number("12.5%"), Some((0.125, NumberFormat::Percent { decimals: 1 })));
        assert_eq!(number("2020-01-01"), Some((43831.0, NumberFormat::Date { style: DateStyle::Iso })));
        assert_eq!(number("1999-01-02"), Some((36162.0, NumberFormat::Date { style: DateStyle::Iso })));
        assert_eq!(number("11/5/2025").map(|n| n.0), number("2025-11-05").map(|n| n.0));
        assert_eq!(number("Nov 5, 2025").map(|n| n.0), Some(45966.0));
        assert_eq!(typed("=4/2"), Entry::Formula { formula: "=4/2".into() });
        assert_eq!(typed("'=4/2"), Entry::Text { text: "=4/2".into() });
        assert_eq!(typed("'123"), Entry::Text { text: "123".into() });
        assert_eq!(typed("TRUE"), Entry::Bool { value: true });
        for text in ["(100.00)", "1,23", "abc", "1.2.3", "$", "-", "ACD-2025-0101", "1e3%"] {
            assert!(matches!(typed(text), Entry::Text { .. }), "{text}");
        }
        assert_eq!(typed(""), Entry::Empty);
    }

    #[test]
    fn display_follows_the_typed_format() {
        assert_eq!(general(0.1 + 0.2), "0.3");
        assert_eq!(general(53.0), "53");
        assert_eq!(general(0.12), "0.12");
        assert_eq!(format_number(1234.5, NumberFormat::Currency { decimals: 2 }), "$1,234.50");
        assert_eq!(format_number(-100.0, NumberFormat::Currency { decimals: 2 }), "-$100.00");
        assert_eq!(format_number(1234567.0, NumberFormat::Grouped { decimals: 0 }), "1,234,567");
        assert_eq!(format_number(43831.0, NumberFormat::Date { style: DateStyle::Iso }), "2020-01-01");
        assert_eq!(format_number(45966.0, NumberFormat::Date { style: DateStyle::Us }), "11/5/2025");
        assert_eq!(format_number(45966.0, NumberFormat::Date { style: DateStyle::MonthName }), "Nov 5, 2025");
        assert_eq!(format_number(2.5, NumberFormat::DateTime { style: DateStyle::Iso }), "1900-01-01 12:00:00");
    }

    #[test]
    fn json_numbers_have_no_spurious_fraction() {
        assert_eq!(number_json(43831.0).to_string(), "43831");
        assert_eq!(number_json(0.1 + 0.2).to_string(), "0.30000000000000004");
        assert_eq!(number_json(1234.5).to_string(), "1234.5");
    }
}
