//! Money on the wire: `Decimal` ⇄ JSON number text, never through `f64` arithmetic.
//!
//! QuickBooks wants amounts as JSON *numbers*. serde_json (without `arbitrary_precision`, which
//! the project must not enable) would turn a number into an `f64`, so outgoing amounts are written
//! as a [`RawValue`] holding the decimal's own text: `1234.50` goes out as `1234.50`.
//!
//! Incoming amounts are read from a parsed `serde_json::Value`, where a number is already an
//! `f64`; its *shortest* text (`n.to_string()`, Ryū) is parsed into a `Decimal`. QuickBooks
//! amounts have at most 15 significant digits, which an `f64` round-trips exactly, so
//! `103.55` reads as exactly `103.55`; no arithmetic ever happens on the float.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// A `Decimal` that serializes as an exact JSON number (`1234.50`, not `"1234.50"`, not `1234.5000000001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Number(pub Decimal);

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // `Decimal`'s Display is always plain notation (`-12.50`, `0.3`, `7`), a valid JSON number.
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Reads a JSON number (or a numeric string, which some emulators and old payloads use) as a
/// `Decimal` via its text.
pub fn decimal_from_json(value: &Value) -> Option<Decimal> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    Decimal::from_str(&text).ok().or_else(|| Decimal::from_scientific(&text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn wire(d: Decimal) -> String {
        serde_json::to_string(&Number(d)).unwrap()
    }

    #[test]
    fn amounts_go_out_as_their_exact_text() {
        assert_eq!(wire(dec("1234.50")), "1234.50");
        assert_eq!(wire(dec("1234.5")), "1234.5");
        assert_eq!(wire(dec("0")), "0");
        assert_eq!(wire(dec("7")), "7");
        assert_eq!(wire(dec("-12.34")), "-12.34");
        // 15 significant digits, the most QuickBooks accepts: no float rounding.
        assert_eq!(wire(dec("9999999999.99999")), "9999999999.99999");
        assert_eq!(wire(dec("0.00001")), "0.00001");
    }

    #[test]
    fn float_noise_never_appears() {
        // The sum a spreadsheet formula `=0.1+0.2` stands for, done in decimal.
        let sum = dec("0.1") + dec("0.2");
        assert_eq!(wire(sum), "0.3");
        let body = serde_json::to_string(&serde_json::json!({ "a": Number(sum) })).unwrap();
        assert_eq!(body, r#"{"a":0.3}"#);
        assert!(!body.contains("0.30000000000000004"));
        // The same amount rounded to cents keeps its two decimals.
        let mut cents = sum;
        cents.rescale(2);
        assert_eq!(wire(cents), "0.30");
    }

    #[test]
    fn amounts_come_in_exactly() {
        let v: Value = serde_json::from_str(r#"[103.55, 100.0, 0, 337.5, "12.10", 1e3, 0.1, null, true]"#).unwrap();
        let got: Vec<Option<Decimal>> = v.as_array().unwrap().iter().map(decimal_from_json).collect();
        assert_eq!(
            got,
            vec![
                Some(dec("103.55")),
                Some(dec("100.0")),
                Some(dec("0")),
                Some(dec("337.5")),
                Some(dec("12.10")),
                Some(dec("1000")),
                Some(dec("0.1")),
                None,
                None
            ]
        );
        // Never an f64 sum: 0.1 read back is exactly one tenth.
        assert_eq!(got[6].unwrap() + dec("0.2"), dec("0.3"));
    }
}
