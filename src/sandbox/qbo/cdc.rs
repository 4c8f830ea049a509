//! Change data capture: what changed since a moment, deletions included.
//!
//! `GET …/cdc?entities=Invoice,Bill&changedSince=…` answers one `QueryResponse` per requested
//! entity, in the order asked, each listing the records whose `LastUpdatedTime` is at or after
//! `changedSince` (oldest change first, deleted objects after the active ones); an entity without
//! changes is an empty object. Deleted transactions appear as
//! `{"domain":"QBO","status":"Deleted","Id":…,"MetaData":{"LastUpdatedTime":…}}`. QBO limits the
//! look-back to 30 days and a response to 1000 objects, all entities together, with no paging
//! and no sign that an answer was cut short (`startPosition`/`maxResults` are ignored).

use chrono::{DateTime, Duration};
use chrono_tz::Tz;
use serde_json::{Value, json};

use super::clock;
use super::company::{Company, Record};
use super::entities::{EntityKind, UNMODELLED};
use super::fault::Fault;

const MAX_LOOK_BACK_DAYS: i64 = 30;
const MAX_OBJECTS: usize = 1000;

fn tombstone(record: &Record) -> Value {
    let updated = record.body.get("MetaData").and_then(|m| m.get("LastUpdatedTime")).cloned().unwrap_or(Value::Null);
    json!({ "domain": "QBO", "status": "Deleted", "Id": record.id(), "MetaData": { "LastUpdatedTime": updated } })
}

/// Answers the `CDCResponse` array.
pub fn run(
    company: &Company,
    entities: Option<&str>,
    changed_since: Option<&str>,
    now: &DateTime<Tz>,
) -> Result<Value, Fault> {
    let entities = entities.map(str::trim).filter(|e| !e.is_empty()).ok_or_else(|| Fault::required("entities"))?;
    let since_text =
        changed_since.map(str::trim).filter(|c| !c.is_empty()).ok_or_else(|| Fault::required("changedSince"))?;
    let since = clock::parse_instant(since_text)
        .ok_or_else(|| Fault::unsupported_property(&format!("changedSince={since_text}")))?;
    if since < now.fixed_offset() - Duration::days(MAX_LOOK_BACK_DAYS) {
        // Wording as reported by a client library (reference §1.3); code and status unverified.
        return Err(Fault::query_invalid(format!(
            "Operation cdc with changedSince date {since_text} which is older than fixed days is not supported. (at most {MAX_LOOK_BACK_DAYS} days)"
        )));
    }
    let mut remaining = MAX_OBJECTS;
    let mut responses = Vec::new();
    for name in entities.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let kind = match EntityKind::ALL.into_iter().find(|k| k.wire_name().eq_ignore_ascii_case(name)) {
            Some(kind) => kind,
            None if UNMODELLED.iter().any(|u| u.eq_ignore_ascii_case(name)) => {
                responses.push(json!({}));
                continue;
            }
            None => return Err(Fault::query_invalid(format!("Unsupported entity name: {name}"))),
        };
        // Intuit's CDC reference excludes the tax lists (reference §1.3); the wording is ours.
        if kind.is_tax_list() {
            return Err(Fault::query_invalid(format!("Unsupported entity name for CDC: {name}")));
        }
        let mut changed: Vec<&Record> =
            company.records(kind).iter().filter(|r| r.last_updated().is_some_and(|at| at >= since)).collect();
        changed.sort_by_key(|r| (r.deleted, r.last_updated()));
        let page: Vec<Value> = changed
            .into_iter()
            .take(remaining)
            .map(|r| if r.deleted { tombstone(r) } else { Value::Object(r.body.clone()) })
            .collect();
        remaining -= page.len();
        if page.is_empty() {
            responses.push(json!({}));
        } else {
            let count = page.len();
            responses
                .push(json!({ kind.wire_name(): page, "startPosition": 1, "maxResults": count, "totalCount": count }));
        }
    }
    Ok(json!([{ "QueryResponse": responses }]))
}
