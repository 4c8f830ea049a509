//! The HTTP surface of the emulated API: `/v3/company/{realmId}/…`.
//!
//! Every request passes the same gate, in the order a client meets them at Intuit: the bearer
//! token (401/403 from the gateway), the quotas (429), then the fault plan (latency, 5xx,
//! throttling, hangs). Writes then run once per `requestid`, and a write the fault plan marks
//! for commit-then-drop is applied and remembered before the connection is closed unanswered.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::batch;
use super::cdc;
use super::entities::EntityKind;
use super::fault::{self, Fault};
use super::limits::Slot;
use super::operations::{self, Operation};
use super::reply::Reply;
use super::transactions::TxnOptions;
use super::{QboEmulator, RequestKind, request_kind};
use crate::sandbox::ConnectionKiller;
use crate::sandbox::faults::{Before, endpoint};

type Emulator = State<Arc<QboEmulator>>;
type Params = Query<HashMap<String, String>>;

pub fn routes(emulator: Arc<QboEmulator>) -> Router {
    Router::new()
        .route("/v3/company/{realm}/query", get(query_get).post(query_post))
        .route("/v3/company/{realm}/batch", post(batch_post))
        .route("/v3/company/{realm}/cdc", get(cdc_get))
        .route("/v3/company/{realm}/preferences", get(preferences_get))
        .route("/v3/company/{realm}/companyinfo/{id}", get(company_info_get))
        .route("/v3/company/{realm}/{entity}", post(write_post))
        .route("/v3/company/{realm}/{entity}/{id}", get(read_get))
        .with_state(emulator)
}

/// Every QBO answer carries a fresh `intuit_tid`, the id Intuit support asks for.
pub async fn add_intuit_tid(mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        response.headers_mut().insert(HeaderName::from_static("intuit_tid"), value);
    }
    response
}

/// `{"<Key>": value, "time": "…"}` with HTTP 200; `time` is the emulator's clock.
fn ok(emulator: &QboEmulator, key: &str, value: Value) -> Reply {
    envelope(key, value, emulator.now_text())
}

fn envelope(key: &str, value: Value, time: String) -> Reply {
    let mut body = serde_json::Map::new();
    body.insert(key.to_owned(), value);
    body.insert("time".to_owned(), Value::String(time));
    Reply::json(StatusCode::OK, &Value::Object(body))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `include=invoiceLink,allowduplicatedocnum` (case-insensitive, comma-separated).
fn includes(params: &HashMap<String, String>, wanted: &str) -> bool {
    params.get("include").is_some_and(|list| list.split(',').any(|item| item.trim().eq_ignore_ascii_case(wanted)))
}

impl QboEmulator {
    /// The gate every API request passes; `Err` is the answer to give instead of doing the work.
    /// The returned slot holds the request's place among the concurrent ones.
    async fn admit(
        &self,
        kind: RequestKind,
        endpoint: &str,
        realm: &str,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Result<Option<Slot>, Reply> {
        self.record_request(kind, params.get("minorversion").map(String::as_str));
        let token = bearer(headers);
        match self.shared.access_tokens.check(token) {
            Err(problem) => {
                self.count(|c| c.unauthorized += 1);
                let epoch_ms = chrono::Utc::now().timestamp_millis();
                return Err(fault::authentication_failed(problem, token, epoch_ms));
            }
            Ok(granted) if granted != realm || realm != self.realm_id => {
                self.count(|c| c.forbidden += 1);
                return Err(fault::authorization_failed(realm, chrono::Utc::now().timestamp_millis()));
            }
            Ok(_) => {}
        }
        let throttle_format = *super::lock(&self.throttle_format);
        let slot = if self.enforce_limits.load(std::sync::atomic::Ordering::SeqCst) {
            match self.limiter.admit(kind == RequestKind::Batch, Instant::now()) {
                Ok(slot) => Some(slot),
                Err(_) => {
                    self.count(|c| c.throttled += 1);
                    return Err(fault::throttled(throttle_format, &self.now_text()));
                }
            }
        } else {
            None
        };
        match self.shared.faults.decide(endpoint) {
            Before::Proceed { latency } => {
                if !latency.is_zero() {
                    tokio::time::sleep(latency).await;
                }
                Ok(slot)
            }
            Before::ServerError(status) => {
                self.count(|c| c.injected_faults += 1);
                Err(match StatusCode::from_u16(status) {
                    Ok(StatusCode::INTERNAL_SERVER_ERROR) | Err(_) => Fault::system_failure().reply(&self.now_text()),
                    Ok(status) => fault::gateway_error(status),
                })
            }
            Before::Throttle => {
                self.count(|c| c.injected_faults += 1);
                Err(fault::throttled(throttle_format, &self.now_text()))
            }
            Before::Hang => {
                self.count(|c| c.injected_faults += 1);
                let never: Infallible = std::future::pending().await;
                match never {}
            }
        }
    }
}

/// `POST /v3/company/{realm}/{entity}`: create, update (`Id` in the body) or `?operation=delete`.
async fn write_post(
    State(emulator): Emulator,
    Path((realm, entity)): Path<(String, String)>,
    Query(params): Params,
    Extension(killer): Extension<ConnectionKiller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parsed: Result<Value, Fault> =
        serde_json::from_slice(&body).map_err(|error| Fault::unsupported_property(&error.to_string()));
    let operation = parsed
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|value| Operation::of(params.get("operation").map(String::as_str), value));
    let kind = request_kind(operation.as_ref().copied());
    let _slot = match emulator.admit(kind, endpoint::QBO_CREATE, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    let Some(entity_kind) = EntityKind::from_path(&entity) else {
        let detail = format!("Operation POST /{entity} is not supported");
        return Fault::unsupported_operation(detail).reply(&emulator.now_text()).into_response();
    };
    let (value, operation) = match (parsed, operation) {
        (Ok(value), Ok(operation)) => (value, operation),
        (Err(fault), _) | (_, Err(fault)) => return fault.reply(&emulator.now_text()).into_response(),
    };
    let options = TxnOptions {
        allow_duplicate_doc_number: includes(&params, "allowduplicatedocnum"),
        include_void: includes(&params, "void"),
        ..TxnOptions::default()
    };
    let (reply, applied) = emulator.write_once(
        params.get("requestid").map(String::as_str),
        |company, context| match operations::write(company, entity_kind, operation, &value, context) {
            Ok(answer) => (ok(&emulator, entity_kind.wire_name(), answer), true),
            Err(fault) => (fault.reply(&emulator.now_text()), false),
        },
        includes(&params, "invoiceLink"),
        options,
    );
    if applied && emulator.shared.faults.drop_after_commit(endpoint::QBO_CREATE) {
        killer.kill().await
    }
    reply.into_response()
}

/// `GET /v3/company/{realm}/{entity}/{id}`.
async fn read_get(
    State(emulator): Emulator,
    Path((realm, entity, id)): Path<(String, String, String)>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let _slot = match emulator.admit(RequestKind::Read, endpoint::QBO_READ, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    let Some(kind) = EntityKind::from_path(&entity) else {
        let detail = format!("Operation GET /{entity} is not supported");
        return Fault::unsupported_operation(detail).reply(&emulator.now_text()).into_response();
    };
    let read = operations::read(&emulator.company(), kind, &id, includes(&params, "invoiceLink"));
    match read {
        Ok(answer) => ok(&emulator, kind.wire_name(), answer),
        Err(fault) => fault.reply(&emulator.now_text()),
    }
    .into_response()
}

/// `GET /v3/company/{realm}/companyinfo/{realm}`.
async fn company_info_get(
    State(emulator): Emulator,
    Path((realm, id)): Path<(String, String)>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let _slot = match emulator.admit(RequestKind::Read, endpoint::QBO_READ, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    if id != realm {
        return Fault::object_not_found().reply(&emulator.now_text()).into_response();
    }
    let info = Value::Object(emulator.company().company_info.clone());
    ok(&emulator, "CompanyInfo", info).into_response()
}

/// `GET /v3/company/{realm}/preferences`.
async fn preferences_get(
    State(emulator): Emulator,
    Path(realm): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let _slot = match emulator.admit(RequestKind::Read, endpoint::QBO_READ, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    let preferences = Value::Object(emulator.company().preferences.clone());
    ok(&emulator, "Preferences", preferences).into_response()
}

fn run_query(emulator: &QboEmulator, statement: Option<&str>) -> Reply {
    let Some(statement) = statement.filter(|s| !s.trim().is_empty()) else {
        return Fault::query_parse(
            "Encountered \"<EOF>\" at line 1, column 1.\nWas expecting:\n    \"select\" ...\n    ".into(),
        )
        .reply(&emulator.now_text());
    };
    match operations::query(&emulator.company(), statement) {
        Ok(response) => ok(emulator, "QueryResponse", response),
        Err(fault) => fault.reply(&emulator.now_text()),
    }
}

/// `GET /v3/company/{realm}/query?query=…`.
async fn query_get(
    State(emulator): Emulator,
    Path(realm): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let _slot = match emulator.admit(RequestKind::Query, endpoint::QBO_QUERY, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    run_query(&emulator, params.get("query").map(String::as_str)).into_response()
}

/// `POST /v3/company/{realm}/query` with `Content-Type: application/text` and the statement as body.
async fn query_post(
    State(emulator): Emulator,
    Path(realm): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match emulator.admit(RequestKind::Query, endpoint::QBO_QUERY, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/text");
    let media = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    if media != "application/text" && media != "text/plain" {
        let mut fault = Fault::unsupported_operation(format!(
            "Content-Type {content_type} is not supported for a query; send the statement as application/text"
        ));
        fault.status = StatusCode::UNSUPPORTED_MEDIA_TYPE;
        return fault.reply(&emulator.now_text()).into_response();
    }
    let statement = String::from_utf8_lossy(&body);
    run_query(&emulator, Some(&statement)).into_response()
}

/// `POST /v3/company/{realm}/batch`.
async fn batch_post(
    State(emulator): Emulator,
    Path(realm): Path<String>,
    Query(params): Params,
    Extension(killer): Extension<ConnectionKiller>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let _slot = match emulator.admit(RequestKind::Batch, endpoint::QBO_BATCH, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    let value: Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(error) => {
            return Fault::unsupported_property(&error.to_string()).reply(&emulator.now_text()).into_response();
        }
    };
    let options = TxnOptions {
        allow_duplicate_doc_number: includes(&params, "allowduplicatedocnum"),
        include_void: includes(&params, "void"),
        ..TxnOptions::default()
    };
    let (reply, applied) = emulator.write_once(
        params.get("requestid").map(String::as_str),
        |company, context| match batch::run(company, &value, context) {
            Ok(outcome) => (ok(&emulator, "BatchItemResponse", Value::Array(outcome.items)), outcome.wrote),
            Err(fault) => (fault.reply(&emulator.now_text()), false),
        },
        false,
        options,
    );
    if applied && emulator.shared.faults.drop_after_commit(endpoint::QBO_BATCH) {
        killer.kill().await
    }
    reply.into_response()
}

/// `GET /v3/company/{realm}/cdc?entities=…&changedSince=…`.
async fn cdc_get(
    State(emulator): Emulator,
    Path(realm): Path<String>,
    Query(params): Params,
    headers: HeaderMap,
) -> Response {
    let _slot = match emulator.admit(RequestKind::Cdc, endpoint::QBO_CDC, &realm, &headers, &params).await {
        Ok(slot) => slot,
        Err(reply) => return reply.into_response(),
    };
    let answer = cdc::run(
        &emulator.company(),
        params.get("entities").map(String::as_str),
        params.get("changedSince").map(String::as_str),
        &emulator.now(),
    );
    match answer {
        Ok(response) => ok(&emulator, "CDCResponse", response),
        Err(fault) => fault.reply(&emulator.now_text()),
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bearer_tokens_are_read_case_insensitively() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("bearer abc"));
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer  "));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn includes_are_a_list() {
        let params = HashMap::from([("include".to_owned(), "allowDuplicateDocNum, invoiceLink".to_owned())]);
        assert!(includes(&params, "invoiceLink"));
        assert!(includes(&params, "allowduplicatedocnum"));
        assert!(!includes(&HashMap::new(), "invoiceLink"));
    }

    #[test]
    fn ok_wraps_with_time() {
        let reply = envelope("Invoice", json!({"Id": "1"}), "2015-07-24T10:33:39.110-07:00".into());
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(body["Invoice"]["Id"], "1");
        assert_eq!(body["time"], "2015-07-24T10:33:39.110-07:00");
    }
}
