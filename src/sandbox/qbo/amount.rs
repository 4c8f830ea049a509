//! Exact amounts on the wire.
//!
//! QBO amounts are decimals. Requests arrive as JSON numbers (or, from some clients, strings);
//! they are read through their shortest text into [`Decimal`], never through `f64` arithmetic.
//! Answers must look like QBO's: money as `100.0`, `337.5` or `0`, quantities and prices as
//! `75`, `4.5` or `1` (see `create_response_sales_receipt.json` and the Intuit examples). The
//! emulator builds that text from the decimal and lets serde_json carry it; every value QBO
//! accepts (at most 15 significant digits) survives that trip unchanged.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

/// Digits QBO accepts in an amount: at most 10 before the point and 5 after it.
const MAX_INTEGER_DIGITS: u32 = 10;
const MAX_FRACTION_DIGITS: u32 = 5;

/// The decimal a JSON number or numeric string stands for, read from its text.
pub fn parse(value: &Value) -> Option<Decimal> {
    match value {
        Value::Number(number) => from_text(&number.to_string()),
        Value::String(text) => from_text(text.trim()),
        _ => None,
    }
}

fn from_text(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).ok().or_else(|| Decimal::from_scientific(text).ok())
}

/// Whether QBO would accept this many digits in an amount.
pub fn fits(value: Decimal) -> bool {
    let value = value.normalize();
    let limit = Decimal::from(10_u64.pow(MAX_INTEGER_DIGITS));
    value.scale() <= MAX_FRACTION_DIGITS && value.abs().trunc() < limit
}

/// A money amount as QBO writes it: `0`, `100.0`, `337.5`.
pub fn money(value: Decimal) -> Value {
    let value = value.normalize();
    let text = if value.is_zero() {
        "0".to_owned()
    } else if value.scale() == 0 {
        format!("{value}.0")
    } else {
        value.to_string()
    };
    number(&text)
}

/// A quantity or unit price as QBO writes it: `75`, `4.5`, `1`.
pub fn plain(value: Decimal) -> Value {
    number(&value.normalize().to_string())
}

fn number(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn reads_numbers_through_their_text() {
        let body: Value = serde_json::from_str(r#"{"a": 337.50, "b": 0.1, "c": "42.10", "d": 100}"#).unwrap();
        assert_eq!(parse(&body["a"]), Some(dec("337.5")));
        assert_eq!(parse(&body["b"]), Some(dec("0.1")));
        assert_eq!(parse(&body["c"]), Some(dec("42.10")));
        assert_eq!(parse(&body["d"]), Some(dec("100")));
        assert_eq!(parse(&json!(true)), None);
        assert_eq!(parse(&json!("abc")), None);
    }

    #[test]
    fn writes_money_like_qbo() {
        assert_eq!(serde_json::to_string(&money(dec("100.00"))).unwrap(), "100.0");
        assert_eq!(serde_json::to_string(&money(dec("337.50"))).unwrap(), "337.5");
        assert_eq!(serde_json::to_string(&money(dec("0.00"))).unwrap(), "0");
        assert_eq!(serde_json::to_string(&money(dec("103.55"))).unwrap(), "103.55");
        assert_eq!(serde_json::to_string(&money(dec("9999999999.99999"))).unwrap(), "9999999999.99999");
    }

    #[test]
    fn writes_quantities_plainly() {
        assert_eq!(serde_json::to_string(&plain(dec("75.00"))).unwrap(), "75");
        assert_eq!(serde_json::to_string(&plain(dec("4.50"))).unwrap(), "4.5");
        assert_eq!(serde_json::to_string(&plain(dec("1"))).unwrap(), "1");
    }

    #[test]
    fn digit_limits() {
        assert!(fits(dec("9999999999.99999")));
        assert!(!fits(dec("10000000000")));
        assert!(!fits(dec("1.000001")));
        assert!(fits(dec("1.100000")));
    }
}
