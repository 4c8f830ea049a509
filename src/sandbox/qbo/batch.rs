//! The batch endpoint: up to 30 independent operations in one request.
//!
//! Each item carries a `bId` and either an entity with an `operation` or a `Query`. Items are
//! independent: one item's fault rides inside the HTTP 200 next to the others' results
//! (`batch_response_faults_and_query.json`), and clients must match answers by `bId`, never by
//! position.

use serde_json::{Map, Value};

use super::company::Company;
use super::entities::{EntityKind, UNMODELLED};
use super::fault::Fault;
use super::operations::{self, Operation, WriteContext};

/// Most items QBO accepts in one batch.
pub const MAX_ITEMS: usize = 30;

/// Keys of a batch item that are not the entity.
const ITEM_KEYS: &[&str] = &["bId", "operation", "optionsData"];

/// The answer items, and whether any write was applied (for commit-then-drop).
pub struct BatchOutcome {
    pub items: Vec<Value>,
    pub wrote: bool,
}

/// One item's answer: its `bId` plus one key (the entity, `QueryResponse` or `Fault`).
fn item(b_id: &str, key: &str, value: Value) -> Value {
    let mut answer = Map::new();
    answer.insert("bId".into(), Value::String(b_id.to_owned()));
    answer.insert(key.to_owned(), value);
    Value::Object(answer)
}

fn fault_item(b_id: &str, fault: &Fault) -> Value {
    item(b_id, "Fault", fault.body())
}

/// Runs every item. A fault for the request as a whole (no items, too many, no `bId`) is an
/// `Err`; anything wrong with one item is that item's answer.
pub fn run(company: &mut Company, body: &Value, context: &WriteContext<'_>) -> Result<BatchOutcome, Fault> {
    let requests = match body.get("BatchItemRequest") {
        Some(Value::Array(items)) => items,
        Some(_) => return Err(Fault::unsupported_property("BatchItemRequest")),
        None => return Err(Fault::required("BatchItemRequest")),
    };
    if requests.len() > MAX_ITEMS {
        return Err(Fault::business(&format!(
            "The batch request has {} items; a batch can hold at most {MAX_ITEMS}.",
            requests.len()
        )));
    }
    let mut seen = Vec::new();
    for request in requests {
        let b_id = request.get("bId").and_then(Value::as_str).ok_or_else(|| Fault::required("bId"))?;
        if seen.contains(&b_id) {
            return Err(Fault::business(&format!("The bId {b_id} is used by more than one batch item.")));
        }
        seen.push(b_id);
    }
    let mut outcome = BatchOutcome { items: Vec::with_capacity(requests.len()), wrote: false };
    for (request, b_id) in requests.iter().zip(seen) {
        if let Some(statement) = request.get("Query") {
            let answer = match statement.as_str().map(|text| operations::query(company, text)) {
                Some(Ok(response)) => item(b_id, "QueryResponse", response),
                Some(Err(fault)) => fault_item(b_id, &fault),
                None => fault_item(b_id, &Fault::unsupported_property("Query")),
            };
            outcome.items.push(answer);
            continue;
        }
        let entity_keys: Vec<&String> = request
            .as_object()
            .map(|o| o.keys().filter(|k| !ITEM_KEYS.contains(&k.as_str())).collect())
            .unwrap_or_default();
        let [entity_key] = entity_keys.as_slice() else {
            outcome.items.push(fault_item(b_id, &Fault::required("operation entity")));
            continue;
        };
        let entity = &request[entity_key.as_str()];
        let requested = request.get("operation").and_then(Value::as_str);
        let answer = match EntityKind::from_wire_name(entity_key) {
            Some(kind) => match Operation::of(requested, entity) {
                Ok(operation) => match operations::write(company, kind, operation, entity, context) {
                    Ok(result) => {
                        outcome.wrote = true;
                        item(b_id, kind.wire_name(), result)
                    }
                    Err(fault) => fault_item(b_id, &fault),
                },
                Err(fault) => fault_item(b_id, &fault),
            },
            // The company holds none of these, so there is nothing to update or delete.
            None if UNMODELLED.contains(&entity_key.as_str()) => match Operation::of(requested, entity) {
                Ok(Operation::Update | Operation::Delete | Operation::Void) => {
                    fault_item(b_id, &Fault::object_not_found())
                }
                Ok(Operation::Create) => fault_item(
                    b_id,
                    &Fault::unsupported_operation(format!("The qbsync sandbox does not model {entity_key}")),
                ),
                Err(fault) => fault_item(b_id, &fault),
            },
            None => fault_item(b_id, &Fault::unsupported_property(entity_key)),
        };
        outcome.items.push(answer);
    }
    Ok(outcome)
}
