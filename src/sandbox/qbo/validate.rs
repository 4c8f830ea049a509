//! The checks QBO applies to every write, with the fault each failure earns.
//!
//! QBO reports the first problem it finds; so do these helpers, each returning the exact
//! [`Fault`] (code, Message, Detail, element) a client would receive.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::amount;
use super::clock;
use super::company::{Company, Object, Record};
use super::entities::EntityKind;
use super::fault::Fault;

/// A reference that resolved to a live, active record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub id: String,
    pub name: String,
}

impl Resolved {
    pub fn of(kind: EntityKind, record: &Record) -> Resolved {
        Resolved { id: record.id().to_owned(), name: record.ref_name(kind) }
    }

    /// `{"name": …, "value": …}`, the reference as QBO answers it.
    pub fn to_ref(&self) -> Value {
        json!({ "name": self.name, "value": self.id })
    }
}

/// Rejects top-level properties the entity does not have (2010).
pub fn known_fields(kind: EntityKind, body: &Object) -> Result<(), Fault> {
    let accepted = kind.accepted_fields();
    match body.keys().find(|key| !accepted.contains(&key.as_str())) {
        Some(unknown) => Err(Fault::unsupported_property(unknown)),
        None => Ok(()),
    }
}

/// The id a reference object carries (`{"value": "58"}`; some clients send a number).
fn reference_id(value: &Value) -> Option<String> {
    match value.get("value")? {
        Value::String(id) => Some(id.trim().to_owned()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// Whether a reference may point at an inactive record: never in a client's write, always when
/// loading a seed (a dump holds invoices of customers made inactive since).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inactive {
    Refused,
    Allowed,
}

/// Resolves an optional reference: 2500 when nothing has that id, 610 when it is inactive.
pub fn reference(
    company: &Company,
    kind: EntityKind,
    value: Option<&Value>,
    element: &str,
    inactive: Inactive,
) -> Result<Option<Resolved>, Fault> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(None) };
    let id = reference_id(value).ok_or_else(|| Fault::invalid_reference(element))?;
    match company.find(kind, &id) {
        Some(record) if !record.deleted && (record.active() || inactive == Inactive::Allowed) => {
            Ok(Some(Resolved::of(kind, record)))
        }
        Some(record) if !record.deleted => Err(Fault::object_not_found()),
        _ => Err(Fault::invalid_reference(element)),
    }
}

/// Resolves a reference the entity cannot do without (2020 when absent).
pub fn required_reference(
    company: &Company,
    kind: EntityKind,
    value: Option<&Value>,
    element: &str,
    inactive: Inactive,
) -> Result<Resolved, Fault> {
    reference(company, kind, value, element, inactive)?.ok_or_else(|| Fault::required(element))
}

/// A string field, if present; 2050 when longer than `max` characters.
pub fn text(element: &str, value: Option<&Value>, max: usize) -> Result<Option<String>, Fault> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            let length = text.chars().count();
            if length > max {
                return Err(Fault::string_length(element, max, length));
            }
            Ok(Some(text.clone()))
        }
        Some(other) => Ok(Some(other.to_string())),
    }
}

/// A money amount: 2080 when it is not a number or has more digits than QBO keeps.
pub fn amount(element: &str, value: &Value) -> Result<Decimal, Fault> {
    let supplied = match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    let parsed = amount::parse(value).ok_or_else(|| Fault::illegal_number(element, &supplied))?;
    if !amount::fits(parsed) {
        return Err(Fault::illegal_number(element, &supplied));
    }
    Ok(parsed)
}

/// An optional decimal (quantities, prices): 2080 when present but not a number.
pub fn decimal(element: &str, value: Option<&Value>) -> Result<Option<Decimal>, Fault> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => amount::parse(value).map(Some).ok_or_else(|| Fault::illegal_number(element, &value.to_string())),
    }
}

/// An optional `YYYY-MM-DD` date. QBO's JSON reader refuses anything else as an invalid property.
pub fn date(element: &str, value: Option<&Value>) -> Result<Option<NaiveDate>, Fault> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            clock::parse_date(text).map(Some).ok_or_else(|| Fault::unsupported_property(&format!("{element}={text}")))
        }
        Some(other) => Err(Fault::unsupported_property(&format!("{element}={other}"))),
    }
}

/// An optional boolean.
pub fn flag(element: &str, value: Option<&Value>) -> Result<Option<bool>, Fault> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(on)) => Ok(Some(*on)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(Fault::unsupported_property(&format!("{element}={other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company() -> Company {
        let mut company = Company::empty();
        for (id, name, active) in [("1", "Acme", true), ("2", "Gone", false)] {
            let body = json!({"Id": id, "DisplayName": name, "Active": active});
            company.insert(EntityKind::Customer, Record::new(body.as_object().cloned().unwrap()));
        }
        company
    }

    #[test]
    fn references_resolve_or_fault_like_qbo() {
        let company = company();
        let lookup = |id: &str, inactive| {
            reference(&company, EntityKind::Customer, Some(&json!({ "value": id })), "CustomerRef", inactive)
        };
        let found = lookup("1", Inactive::Refused).unwrap();
        assert_eq!(found, Some(Resolved { id: "1".into(), name: "Acme".into() }));
        assert_eq!(lookup("9", Inactive::Refused).unwrap_err().code, "2500");
        assert_eq!(lookup("2", Inactive::Refused).unwrap_err().code, "610");
        assert_eq!(lookup("2", Inactive::Allowed).unwrap().map(|r| r.name), Some("Gone".to_owned()));
        let absent = required_reference(&company, EntityKind::Customer, None, "CustomerRef", Inactive::Refused);
        assert_eq!(absent.unwrap_err().element.as_deref(), Some("CustomerRef"));
    }

    #[test]
    fn text_length_and_numbers() {
        assert_eq!(text("DocNumber", Some(&json!("x".repeat(22))), 21).unwrap_err().code, "2050");
        assert!(text("DocNumber", Some(&json!("x".repeat(21))), 21).is_ok());
        assert_eq!(amount("Line.Amount", &json!("ten")).unwrap_err().code, "2080");
        assert_eq!(amount("Line.Amount", &json!(12345678901.5)).unwrap_err().code, "2080");
        assert_eq!(amount("Line.Amount", &json!(10.25)).unwrap().to_string(), "10.25");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let body = json!({"CustomerRef": {"value": "1"}, "Lines": []});
        let fault = known_fields(EntityKind::Invoice, body.as_object().unwrap()).unwrap_err();
        assert_eq!(fault.code, "2010");
        assert!(fault.detail.contains("Lines"));
    }
}
