//! Money: the amount of one row, proven to be something QuickBooks can book.
//!
//! A bookkeeper's `inv_dollars` cell arrives in many shapes: a JSON number (possibly the
//! float residue of a formula such as `=0.1+0.2`), or text typed as `$1,234.50`,
//! `USD 1,234.50`, `(100.00)` or, in some locales, `1 234,50`. This module turns every one of
//! those into a [`Money`] — a non-negative [`Decimal`] with exactly two decimals and at most ten
//! digits before the point (QuickBooks' limit for `Line.Amount`) — or into an [`AmountError`]
//! whose text tells the bookkeeper what to change in the cell.
//!
//! ## Float noise versus a real third decimal
//!
//! A number cell holds an IEEE-754 double, and the Sheets API sends its shortest round-trip
//! text (`0.30000000000000004`). Each floating-point operation may be off by half a unit in the
//! last place (ulp ≈ 2.2e-16 × |x|), so a formula that adds a few dozen cent amounts can drift by
//! some tens of ulps from the cent value it "means". A real third decimal (`10.125`) is at least
//! 0.001 away from every cent multiple.
//!
//! The rule: a number within `max(1e-9, |x| × 1e-14)` of a cent multiple is that cent multiple;
//! anything farther is a real sub-cent amount and an error. The relative term is ~45 ulps, which
//! covers sums of dozens of terms; at QuickBooks' largest amount (10¹⁰) it is 1e-4, still ten
//! times smaller than any third decimal, so a real third decimal is *always* reported. A
//! deviation smaller than the tolerance cannot be told apart from noise and is rounded away.
//! Text is typed by a person and carries no noise: `10.125` typed as text is an error too.
//!
//! Arithmetic is exact [`Decimal`] arithmetic on the number's text; no `f64` is ever computed.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};

use super::Cell;

/// The most digits QuickBooks accepts before the decimal point of an amount.
pub const MAX_INTEGER_DIGITS: usize = 10;

/// A non-negative amount in whole cents, at most ten digits before the point.
///
/// Its [`Display`](fmt::Display) is always two decimals (`1234.50`), which is also the exact
/// JSON number text to send to QuickBooks. Zero is a valid `Money` (a sum can be zero); whether a
/// zero-amount *row* is acceptable is the caller's decision, see [`Money::is_zero`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(Decimal);

impl Money {
    /// Zero, with two decimals.
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// Checks an exact amount: non-negative, at most two decimals, at most ten integer digits.
    pub fn new(amount: Decimal) -> Result<Money, AmountError> {
        let text = amount.normalize().to_string();
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(AmountError::Negative { text });
        }
        if amount.normalize().scale() > 2 {
            return Err(AmountError::TooManyDecimals { text });
        }
        Money::in_range(amount.abs(), text)
    }

    /// An amount given in cents (`123450` is `1234.50`).
    pub fn from_cents(cents: u64) -> Result<Money, AmountError> {
        let amount = Decimal::from_i128_with_scale(i128::from(cents), 2);
        Money::in_range(amount, amount.to_string())
    }

    fn in_range(amount: Decimal, text: String) -> Result<Money, AmountError> {
        let mut amount = amount;
        amount.rescale(2);
        if amount.trunc().abs().to_string().len() > MAX_INTEGER_DIGITS {
            return Err(AmountError::TooLarge { text });
        }
        Ok(Money(amount))
    }

    /// The exact amount, with scale 2.
    pub fn amount(&self) -> Decimal {
        self.0
    }

    /// True for `0.00`. The engine fails a zero-amount row ("amount is zero"): QuickBooks would
    /// accept a zero invoice, but on a bookkeeper's sheet it is almost always a missing value.
    pub fn is_zero(&self) -> bool {
        self.0.is_zero()
    }

    /// The sum, or `TooLarge` when it no longer fits QuickBooks' ten integer digits (grouped
    /// rows add their amounts into one document total).
    pub fn checked_add(self, other: Money) -> Result<Money, AmountError> {
        match self.0.checked_add(other.0) {
            Some(sum) => Money::in_range(sum, sum.to_string()),
            None => Err(AmountError::TooLarge { text: format!("{self} + {other}") }),
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The value always carries scale 2, so Decimal prints exactly two decimals.
        fmt::Display::fmt(&self.0, f)
    }
}

/// How amounts typed as text are written on this sheet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct AmountFormat {
    /// Read text amounts the continental way: a comma is the decimal mark and thousands are
    /// grouped with spaces (`1 234,50`). Off by default, because `1,234` means one thousand
    /// two hundred and thirty-four to a US bookkeeper. When on, a period is accepted as the
    /// decimal mark only in text without a comma (`1234.50`); comma grouping is then refused.
    pub allow_space_grouping_comma_decimal: bool,
}

/// Why a cell is not an amount QuickBooks can book. The text says what to change; the caller
/// adds which cell it was.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the amount is blank: enter the amount of the invoice or bill, e.g. 1234.50")]
    Blank,
    #[error("\"{text}\" is not an amount: write a number such as 1234.50 or $1,234.50")]
    NotANumber { text: String },
    #[error(
        "\"{text}\" is written with a decimal comma: write it as 1234.50, or set QBSYNC_AMOUNT_DECIMAL_COMMA=true if this sheet writes all amounts like 1 234,50"
    )]
    DecimalCommaNotEnabled { text: String },
    #[error(
        "{text} has more than two decimals, and QuickBooks books whole cents: round it to cents (in a formula, wrap it in =ROUND(…, 2))"
    )]
    TooManyDecimals { text: String },
    #[error(
        "{text} is negative: enter the amount as a positive number, or set QBSYNC_NEGATIVE_AMOUNTS=credit to make negative amounts credit memos (vendor credits for bills)"
    )]
    Negative { text: String },
    #[error("{text} is too large: QuickBooks accepts at most 10 digits before the decimal point")]
    TooLarge { text: String },
}

/// Reads an amount from a cell: a number (float noise rounded to cents, see the module docs) or
/// text in one of the accepted forms. A negative amount is an error; see [`parse_signed_amount`]
/// where a negative amount means a credit.
pub fn parse_amount(cell: &Cell, format: &AmountFormat) -> Result<Money, AmountError> {
    match parse_signed_amount(cell, format)? {
        SignedAmount::Positive(money) => Ok(money),
        SignedAmount::Negative { text, .. } => Err(AmountError::Negative { text }),
    }
}

/// An amount read with its sign: QuickBooks books the size, and the sign says which document
/// it belongs on (an invoice or a credit memo).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignedAmount {
    /// Zero or more.
    Positive(Money),
    /// Less than zero: `size` is its absolute value; `text` is how the cell showed it.
    Negative { size: Money, text: String },
}

/// Reads an amount from a cell like [`parse_amount`], keeping a negative amount (`-50`,
/// `(100.00)`, `-$50`) as its size and sign instead of refusing it.
pub fn parse_signed_amount(cell: &Cell, format: &AmountFormat) -> Result<SignedAmount, AmountError> {
    let (negative, size, text) = match cell {
        Cell::Empty => return Err(AmountError::Blank),
        Cell::Bool(_) => return Err(AmountError::NotANumber { text: cell.as_text().into_owned() }),
        Cell::Number(text) => {
            let (negative, size) = parse_number(text)?;
            (negative, size, text.to_string())
        }
        Cell::Text(text) if text.trim().is_empty() => return Err(AmountError::Blank),
        Cell::Text(text) => {
            let (negative, size) = parse_text(text, format)?;
            (negative, size, text.trim().to_owned())
        }
    };
    Ok(if negative { SignedAmount::Negative { size, text } } else { SignedAmount::Positive(size) })
}

/// A number cell: exact decimal of the JSON text, then the noise rule. Gives whether it is
/// negative, and its size.
fn parse_number(text: &str) -> Result<(bool, Money), AmountError> {
    let owned = || text.to_owned();
    let has_negative_exponent = text.contains("e-") || text.contains("E-");
    let value = match Decimal::from_str(text) {
        Ok(value) => value,
        // JSON number text is well formed, so only magnitudes beyond Decimal's range fail:
        // below 1e-28 is far inside the noise tolerance of zero, above 7.9e28 is too large.
        Err(_) if has_negative_exponent => Decimal::ZERO,
        Err(_) if text.contains(['e', 'E']) => return Err(AmountError::TooLarge { text: owned() }),
        Err(_) => return Err(AmountError::NotANumber { text: owned() }),
    };
    let tolerance = noise_tolerance(value);
    // `=A1-B1` may leave -5.55e-17 for an amount that means zero: noise, not a negative amount.
    let negative = value < -tolerance;
    let cents = value.round_dp_with_strategy(2, RoundingStrategy::MidpointNearestEven);
    if (value - cents).abs() > tolerance {
        return Err(AmountError::TooManyDecimals { text: owned() });
    }
    Ok((negative, Money::in_range(cents.abs(), owned())?))
}

/// `max(1e-9, |x| × 1e-14)`; see the module docs for why.
fn noise_tolerance(value: Decimal) -> Decimal {
    let absolute = Decimal::new(1, 9);
    let relative = value.abs() * Decimal::new(1, 14);
    absolute.max(relative)
}

/// Text: sign and currency marks around the digits, then the digits in the sheet's format.
/// Gives whether it is negative (a negative zero is zero), and its size.
fn parse_text(raw: &str, format: &AmountFormat) -> Result<(bool, Money), AmountError> {
    let text = raw.trim().to_owned();
    let not_a_number = || AmountError::NotANumber { text: text.clone() };
    let (negative, body) = strip_sign_and_currency(&text).ok_or_else(not_a_number)?;

    let comma_decimal = format.allow_space_grouping_comma_decimal && body.contains(',');
    let parts = if comma_decimal {
        split_digits(body, &[' ', '\u{a0}', '\u{202f}'], ',')
    } else {
        split_digits(body, &[','], '.')
    };
    let Some((integer, fraction)) = parts else {
        if !format.allow_space_grouping_comma_decimal && looks_like_decimal_comma(body) {
            return Err(AmountError::DecimalCommaNotEnabled { text });
        }
        return Err(not_a_number());
    };

    let integer = integer.trim_start_matches('0');
    let fraction = fraction.trim_end_matches('0');
    let is_zero = integer.is_empty() && fraction.is_empty();
    if integer.len() > MAX_INTEGER_DIGITS {
        return Err(AmountError::TooLarge { text });
    }
    if fraction.len() > 2 {
        return Err(AmountError::TooManyDecimals { text });
    }
    let exact = format!("{}.{:0<2}", if integer.is_empty() { "0" } else { integer }, fraction);
    let amount = Decimal::from_str(&exact).map_err(|_| not_a_number())?;
    Ok((negative && !is_zero, Money::in_range(amount, text)?))
}

/// Peels `(…)`, a leading `-`/`+`/`−`, and `$`, `US$`, `USD` (before or after) off the digits.
/// Returns whether the amount was marked negative, or `None` for an unbalanced parenthesis or
/// two signs.
fn strip_sign_and_currency(text: &str) -> Option<(bool, &str)> {
    let mut rest = text.trim();
    let mut negative = false;
    let mut signs = 0;
    loop {
        let before = rest;
        if let Some(inner) = rest.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
            rest = inner;
            negative = true;
            signs += 1;
        } else if let Some(r) = rest.strip_prefix(['-', '\u{2212}']) {
            rest = r;
            negative = true;
            signs += 1;
        } else if let Some(r) = rest.strip_prefix('+') {
            rest = r;
            signs += 1;
        } else if let Some(r) = strip_prefix_ci(rest, "US$").or_else(|| strip_prefix_ci(rest, "USD")) {
            rest = r;
        } else if let Some(r) = rest.strip_prefix('$') {
            rest = r;
        } else if let Some(r) = strip_suffix_ci(rest, "USD") {
            rest = r;
        } else if let Some(r) = rest.strip_suffix('$') {
            rest = r;
        }
        rest = rest.trim();
        if rest == before {
            break;
        }
    }
    (signs <= 1 && !rest.contains(['(', ')'])).then_some((negative, rest))
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn strip_suffix_ci<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let start = text.len().checked_sub(suffix.len())?;
    let tail = text.get(start..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..start])
}

/// Splits `1,234.50` into (`1234`, `50`). Group separators are optional, but when present every
/// group after the first has exactly three digits (so `1,23.45` is refused, not misread).
fn split_digits<'a>(body: &'a str, group_separators: &[char], decimal_mark: char) -> Option<(String, &'a str)> {
    let (integer_part, fraction) = match body.split_once(decimal_mark) {
        Some((i, f)) => (i, f),
        None => (body, ""),
    };
    if integer_part.is_empty() && fraction.is_empty() {
        return None;
    }
    if !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut integer = String::with_capacity(integer_part.len());
    for (index, group) in integer_part.split(group_separators).enumerate() {
        let digits_ok = group.chars().all(|c| c.is_ascii_digit());
        let size_ok =
            if index == 0 { integer_part == group || (1..=3).contains(&group.len()) } else { group.len() == 3 };
        if !digits_ok || !size_ok || (index == 0 && group.is_empty() && integer_part != group) {
            return None;
        }
        integer.push_str(group);
    }
    Some((integer, fraction))
}

/// `1 234,50` or `12,5`: what a decimal-comma sheet looks like, to say so in the error.
fn looks_like_decimal_comma(body: &str) -> bool {
    split_digits(body, &[' ', '\u{a0}', '\u{202f}', '.'], ',').is_some_and(|(_, fraction)| !fraction.is_empty())
        && body.contains(',')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const US: AmountFormat = AmountFormat { allow_space_grouping_comma_decimal: false };
    const EU: AmountFormat = AmountFormat { allow_space_grouping_comma_decimal: true };

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }
    fn number(s: &str) -> Cell {
        Cell::Number(s.into())
    }
    fn float(x: f64) -> Cell {
        Cell::from_json(&serde_json::json!(x))
    }
    #[test]
    fn a_signed_amount_keeps_the_size_of_a_negative_amount_and_its_text() {
        for (cell, size, shown) in [
            (text("(100.00)"), "100.00", "(100.00)"),
            (text(" -$50 "), "50.00", "-$50"),
            (number("-12.5"), "12.50", "-12.5"),
            (float(0.1 - 0.3), "0.20", "-0.19999999999999998"),
        ] {
            match parse_signed_amount(&cell, &US) {
                Ok(SignedAmount::Negative { size: money, text }) => {
                    assert_eq!((money.to_string().as_str(), text.as_str()), (size, shown), "{cell:?}")
                }
                other => panic!("{cell:?}: {other:?}"),
            }
        }
        // Noise around zero is zero, and a negative zero is zero: neither is a credit.
        for cell in [number("-5.55e-17"), text("-0.00")] {
            assert_eq!(parse_signed_amount(&cell, &US), Ok(SignedAmount::Positive(Money::ZERO)), "{cell:?}");
        }
        assert_eq!(
            parse_signed_amount(&text("-10.125"), &US),
            Err(AmountError::TooManyDecimals { text: "-10.125".into() })
        );
        assert_eq!(parse_amount(&text("-50"), &US), Err(AmountError::Negative { text: "-50".into() }));
    }

    fn ok(cell: &Cell, format: &AmountFormat) -> String {
        match parse_amount(cell, format) {
            Ok(money) => money.to_string(),
            Err(e) => panic!("{cell:?} should parse, got {e}"),
        }
    }

    #[test]
    fn accepted_forms() {
        let table: &[(Cell, &AmountFormat, &str)] = &[
            (number("1234.5"), &US, "1234.50"),
            (number("1234"), &US, "1234.00"),
            (number("0"), &US, "0.00"),
            (number("-0"), &US, "0.00"),
            (number("-5.551115123125783e-17"), &US, "0.00"),
            (number("5e-324"), &US, "0.00"),
            (number("0.30000000000000004"), &US, "0.30"),
            (number("1.2345e3"), &US, "1234.50"),
            (text("1234.5"), &US, "1234.50"),
            (text(" 1234.50 "), &US, "1234.50"),
            (text("$1,234.50"), &US, "1234.50"),
            (text("$ 1,234.50"), &US, "1234.50"),
            (text("1,234.50"), &US, "1234.50"),
            (text("1,234,567.8"), &US, "1234567.80"),
            (text("USD 1,234.50"), &US, "1234.50"),
            (text("usd1234.5"), &US, "1234.50"),
            (text("1,234.50 USD"), &US, "1234.50"),
            (text("US$12"), &US, "12.00"),
            (text("+12"), &US, "12.00"),
            (text(".5"), &US, "0.50"),
            (text("12."), &US, "12.00"),
            (text("0012.500"), &US, "12.50"),
            (text("(0.00)"), &US, "0.00"),
            (text("9999999999.99"), &US, "9999999999.99"),
            (text("1 234,50"), &EU, "1234.50"),
            (text("1\u{a0}234,5"), &EU, "1234.50"),
            (text("12,5"), &EU, "12.50"),
            (text("1234.50"), &EU, "1234.50"),
        ];
        for (cell, format, want) in table {
            assert_eq!(ok(cell, format), *want, "{cell:?}");
        }
    }

    #[test]
    fn refused_forms_say_why() {
        use AmountError::*;
        let nan = |s: &str| NotANumber { text: s.into() };
        let table: Vec<(Cell, &AmountFormat, AmountError)> = vec![
            (Cell::Empty, &US, Blank),
            (text("   "), &US, Blank),
            (Cell::Bool(true), &US, nan("TRUE")),
            (text("abc"), &US, nan("abc")),
            (text("1,23.45"), &US, nan("1,23.45")),
            (text("1.2.3"), &US, nan("1.2.3")),
            (text("$"), &US, nan("$")),
            (text("(100.00"), &US, nan("(100.00")),
            (text("--5"), &US, nan("--5")),
            (text("1 234.50"), &US, nan("1 234.50")),
            (text("1.234,50"), &EU, nan("1.234,50")),
            (text("1,234.50"), &EU, nan("1,234.50")),
            (text("1 234,50"), &US, DecimalCommaNotEnabled { text: "1 234,50".into() }),
            (text("12,5"), &US, DecimalCommaNotEnabled { text: "12,5".into() }),
            (text("(100.00)"), &US, Negative { text: "(100.00)".into() }),
            (text("$(100.00)"), &US, Negative { text: "$(100.00)".into() }),
            (text("-50"), &US, Negative { text: "-50".into() }),
            (text("-$50"), &US, Negative { text: "-$50".into() }),
            (number("-50"), &US, Negative { text: "-50".into() }),
            (number("-0.001"), &US, TooManyDecimals { text: "-0.001".into() }),
            (text("10.125"), &US, TooManyDecimals { text: "10.125".into() }),
            (number("10.125"), &US, TooManyDecimals { text: "10.125".into() }),
            (number("10.001"), &US, TooManyDecimals { text: "10.001".into() }),
            (number("0.0000001"), &US, TooManyDecimals { text: "0.0000001".into() }),
            (text("0.30000000000000004"), &US, TooManyDecimals { text: "0.30000000000000004".into() }),
            (text("1,234,5"), &EU, nan("1,234,5")),
            (text("€12"), &US, nan("€12")),
            (text("10000000000"), &US, TooLarge { text: "10000000000".into() }),
            (number("10000000000"), &US, TooLarge { text: "10000000000".into() }),
            (number("9999999999.999"), &US, TooManyDecimals { text: "9999999999.999".into() }),
            (number("9999999999.995"), &US, TooManyDecimals { text: "9999999999.995".into() }),
            (number("1e300"), &US, TooLarge { text: "1e300".into() }),
        ];
        for (cell, format, want) in table {
            assert_eq!(parse_amount(&cell, format), Err(want), "{cell:?}");
        }
    }

    #[test]
    fn error_messages_tell_the_bookkeeper_what_to_do() {
        let negative = parse_amount(&text("(100.00)"), &US).unwrap_err().to_string();
        assert!(negative.contains("(100.00) is negative") && negative.contains("credit memo"), "{negative}");
        let decimals = parse_amount(&number("10.125"), &US).unwrap_err().to_string();
        assert!(decimals.contains("10.125") && decimals.contains("ROUND"), "{decimals}");
        let comma = parse_amount(&text("1 234,50"), &US).unwrap_err().to_string();
        assert!(comma.contains("QBSYNC_AMOUNT_DECIMAL_COMMA=true"), "{comma}");
        let large = parse_amount(&text("12345678901"), &US).unwrap_err().to_string();
        assert!(large.contains("at most 10 digits"), "{large}");
    }

    #[test]
    fn formula_noise_rounds_to_the_cent_it_means() {
        assert_eq!(ok(&float(0.1 + 0.2), &US), "0.30");
        assert_eq!(ok(&float(1.1 * 3.0), &US), "3.30");
        assert_eq!(ok(&float(100.0 * 1.1), &US), "110.00");
        let sum: f64 = [0.1f64; 10].iter().sum();
        assert_eq!(ok(&float(sum), &US), "1.00");
        // Near the top of QuickBooks' range an ulp is ~2e-6; a few of them are still noise.
        let big = 9_999_999_999.99f64;
        assert_eq!(ok(&float(big + 3e-6), &US), "9999999999.99");
    }

    #[test]
    fn money_new_checks_the_same_rules() {
        assert_eq!(Money::new(Decimal::new(12345, 1)).map(|m| m.to_string()), Ok("1234.50".into()));
        assert_eq!(Money::new(Decimal::new(-1, 0)), Err(AmountError::Negative { text: "-1".into() }));
        assert_eq!(Money::new(Decimal::new(10125, 3)), Err(AmountError::TooManyDecimals { text: "10.125".into() }));
        assert_eq!(Money::new(Decimal::new(101250, 4)), Err(AmountError::TooManyDecimals { text: "10.125".into() }));
        assert_eq!(Money::new(Decimal::new(101200, 4)).map(|m| m.to_string()), Ok("10.12".into()));
        assert!(Money::ZERO.is_zero());
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert_eq!(Money::from_cents(123450).map(|m| m.to_string()), Ok("1234.50".into()));
        assert!(matches!(Money::from_cents(1_000_000_000_000), Err(AmountError::TooLarge { .. })));
    }

    #[test]
    fn sums_stay_within_quickbooks_limits() {
        let a = Money::from_cents(999_999_999_999).unwrap();
        let b = Money::from_cents(1).unwrap();
        assert!(matches!(a.checked_add(b), Err(AmountError::TooLarge { .. })));
        assert_eq!(b.checked_add(b).map(|m| m.to_string()), Ok("0.02".into()));
    }

    /// US text forms of an amount given in cents.
    fn us_forms(cents: u64) -> Vec<String> {
        let units = cents / 100;
        let frac = cents % 100;
        let grouped = group(units, ',');
        vec![
            format!("{units}.{frac:02}"),
            format!("{grouped}.{frac:02}"),
            format!("${grouped}.{frac:02}"),
            format!("USD {grouped}.{frac:02}"),
            format!("{grouped}.{frac:02} USD"),
            if frac.is_multiple_of(10) { format!("{units}.{}", frac / 10) } else { format!("{units}.{frac:02}") },
        ]
    }

    fn group(mut n: u64, separator: char) -> String {
        let mut groups = Vec::new();
        loop {
            groups.push(n % 1000);
            n /= 1000;
            if n == 0 {
                break;
            }
        }
        let mut out = groups.pop().map(|g| g.to_string()).unwrap_or_default();
        while let Some(g) = groups.pop() {
            out.push(separator);
            out.push_str(&format!("{g:03}"));
        }
        out
    }

    proptest! {
        #[test]
        fn every_accepted_text_form_parses_back_exactly(cents in 0u64..1_000_000_000_000) {
            let want = Decimal::from_i128_with_scale(i128::from(cents), 2);
            for form in us_forms(cents) {
                let got = parse_amount(&Cell::Text(form.as_str().into()), &US).map(|m| m.amount());
                prop_assert_eq!(got, Ok(want), "{}", form);
            }
            let eu = format!("{},{:02}", group(cents / 100, ' '), cents % 100);
            prop_assert_eq!(parse_amount(&Cell::Text(eu.as_str().into()), &EU).map(|m| m.amount()), Ok(want), "{}", eu);
        }

        #[test]
        fn float_noise_never_changes_the_cents(cents in 0u64..1_000_000_000_000, ulps in -8i64..=8, split in 0u64..=100) {
            let want = Decimal::from_i128_with_scale(i128::from(cents), 2);
            let x = cents as f64 / 100.0;
            // A few ulps of drift, as left by a formula.
            let drifted = f64::from_bits((x.to_bits() as i64 + ulps).max(0) as u64);
            prop_assert_eq!(parse_amount(&float(drifted), &US).map(|m| m.amount()), Ok(want));
            // The same amount computed as the sum of two cent amounts.
            let part = cents * split / 100;
            let sum = part as f64 / 100.0 + (cents - part) as f64 / 100.0;
            prop_assert_eq!(parse_amount(&float(sum), &US).map(|m| m.amount()), Ok(want));
        }

        #[test]
        fn a_real_third_decimal_is_always_refused(cents in 0u64..1_000_000_000_000, mils in 1u64..=9) {
            let x = (cents * 10 + mils) as f64 / 1000.0;
            let cell = float(x);
            prop_assert!(matches!(parse_amount(&cell, &US), Err(AmountError::TooManyDecimals { .. })), "{:?}", cell);
        }
    }
}
