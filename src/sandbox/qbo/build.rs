//! What every write stamps on an entity: identity, version and times.
//!
//! QBO owns `Id`, `SyncToken`, `MetaData`, `domain` and `sparse`: a create gets a fresh id and
//! `SyncToken` "0", an update keeps the id and creation time and bumps the token, and loading a
//! seed keeps whatever the seed says. Names and transactions are built differently, but all of
//! them end here.

use chrono::DateTime;
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::clock;
use super::company::{Company, Object, Record};
use super::entities::EntityKind;
use super::validate::Inactive;

/// Why an entity is being built.
#[derive(Clone, Copy, Debug)]
pub enum Mode<'a> {
    /// A client creates it.
    Create,
    /// A client changes this stored record.
    Update(&'a Record),
    /// It comes from a seed file (ids, tokens and times in the seed are kept).
    Seed,
}

impl Mode<'_> {
    /// Whether references to inactive records are accepted.
    pub fn inactive(&self) -> Inactive {
        match self {
            Mode::Seed => Inactive::Allowed,
            Mode::Create | Mode::Update(_) => Inactive::Refused,
        }
    }

    pub fn existing(&self) -> Option<&Record> {
        match self {
            Mode::Update(record) => Some(record),
            Mode::Create | Mode::Seed => None,
        }
    }
}

/// Sets `Id`, `SyncToken`, `MetaData`, `domain` and `sparse` on a built entity.
pub fn stamp(
    company: &mut Company,
    kind: EntityKind,
    input: &Object,
    out: &mut Object,
    mode: Mode<'_>,
    now: &DateTime<Tz>,
) {
    let now_text = clock::meta_time(now);
    let given_meta =
        |field: &str| input.get("MetaData").and_then(|m| m.get(field)).and_then(Value::as_str).map(str::to_owned);
    let (id, sync_token, created, updated) = match mode {
        Mode::Create => (company.next_id(kind), "0".to_owned(), now_text.clone(), now_text),
        Mode::Update(existing) => {
            let next = existing.sync_token().parse::<u64>().map_or(1, |token| token + 1);
            let created = existing
                .body
                .get("MetaData")
                .and_then(|m| m.get("CreateTime"))
                .and_then(Value::as_str)
                .map_or_else(|| now_text.clone(), str::to_owned);
            (existing.id().to_owned(), next.to_string(), created, now_text)
        }
        Mode::Seed => {
            let id = match input.get("Id") {
                Some(Value::String(id)) => id.clone(),
                Some(Value::Number(id)) => id.to_string(),
                _ => company.next_id(kind),
            };
            let token = input.get("SyncToken").and_then(Value::as_str).unwrap_or("0").to_owned();
            let created = given_meta("CreateTime").unwrap_or_else(|| now_text.clone());
            let updated = given_meta("LastUpdatedTime").unwrap_or_else(|| created.clone());
            (id, token, created, updated)
        }
    };
    out.insert("Id".into(), Value::String(id));
    out.insert("SyncToken".into(), Value::String(sync_token));
    out.insert("MetaData".into(), json!({ "CreateTime": created, "LastUpdatedTime": updated }));
    out.insert("domain".into(), Value::String("QBO".into()));
    out.insert("sparse".into(), Value::Bool(false));
}

/// Gives every address object an `Id` (QBO numbers addresses) and the geocode fields QBO adds;
/// the sandbox never geocodes, so they read `INVALID` as QBO's do when geocoding fails.
pub fn number_addresses(company: &mut Company, out: &mut Object, fields: &[&str]) {
    for field in fields {
        let Some(Value::Object(address)) = out.get_mut(*field) else { continue };
        match address.get("Id").and_then(Value::as_str) {
            Some(id) => company.saw_address_id(id),
            None => {
                address.insert("Id".into(), Value::String(company.next_address_id()));
            }
        }
        for geo in ["Lat", "Long"] {
            address.entry(geo).or_insert_with(|| Value::String("INVALID".into()));
        }
    }
}

/// The company's home currency as a reference (`{"value": "USD", "name": "United States Dollar"}`):
/// the only currency of a sandbox company.
pub fn home_currency(company: &Company) -> Value {
    let code = company
        .preferences
        .get("CurrencyPrefs")
        .and_then(|c| c.get("HomeCurrency"))
        .and_then(|h| h.get("value"))
        .and_then(Value::as_str)
        .unwrap_or("USD");
    let name = match code {
        "CAD" => "Canadian Dollar",
        "GBP" => "British Pound Sterling",
        "AUD" => "Australian Dollar",
        _ => "United States Dollar",
    };
    json!({ "value": code, "name": name })
}
