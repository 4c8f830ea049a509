//! The request log: every request any emulator received, so tests can assert what qbsync sent.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::Shared;
use super::google::a1;

/// One request as received.
#[derive(Clone, Debug, Serialize)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// The body as text (lossy for non-UTF-8).
    pub body: String,
}

impl RecordedRequest {
    /// The value of one query parameter, percent-decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }

    /// The runs of cell values this request writes, whichever way it writes them: the ranges
    /// of a `values:batchUpdate`, or the `updateCells` of a `spreadsheets.batchUpdate`. Empty
    /// for any other request.
    pub fn cell_writes(&self) -> Vec<CellsWritten> {
        let Some(body) = self.json().filter(|_| self.method == "POST") else { return Vec::new() };
        if self.path.ends_with("values:batchUpdate") {
            let ranges = body["data"].as_array().cloned().unwrap_or_default();
            return ranges
                .iter()
                .filter_map(|range| {
                    let span = a1::parse(range["range"].as_str()?).ok()?.span?;
                    let values = range["values"][0].as_array().cloned().unwrap_or_default();
                    Some(CellsWritten {
                        row: u32::try_from(span.start_row).ok()?,
                        col: u32::try_from(span.start_col).ok()?,
                        values,
                    })
                })
                .collect();
        }
        if !self.path.ends_with(":batchUpdate") {
            return Vec::new();
        }
        let requests = body["requests"].as_array().cloned().unwrap_or_default();
        requests
            .iter()
            .filter_map(|request| {
                let update = request.get("updateCells")?;
                let at = |name: &str| update["start"][name].as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
                let cells = update["rows"][0]["values"].as_array().cloned().unwrap_or_default();
                let values = cells
                    .iter()
                    .map(|cell| match cell["userEnteredValue"].as_object().and_then(|v| v.values().next()) {
                        Some(value) => value.clone(),
                        None => serde_json::Value::String(String::new()),
                    })
                    .collect();
                Some(CellsWritten { row: at("rowIndex"), col: at("columnIndex"), values })
            })
            .collect()
    }
}

/// One run of cells a request writes (see [`RecordedRequest::cell_writes`]).
#[derive(Clone, Debug, PartialEq)]
pub struct CellsWritten {
    /// The 0-based row and column of the first cell.
    pub row: u32,
    pub col: u32,
    /// The values left to right, as `values:batchUpdate` spells them (an empty cell as `""`).
    pub values: Vec<serde_json::Value>,
}

/// Every request received since start (or the last [`RequestLog::clear`]).
#[derive(Default)]
pub struct RequestLog {
    entries: Mutex<Vec<RecordedRequest>>,
}

impl RequestLog {
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.lock().clone()
    }

    /// Requests whose path contains `fragment`.
    pub fn matching(&self, method: &str, fragment: &str) -> Vec<RecordedRequest> {
        self.lock().iter().filter(|r| r.method == method && r.path.contains(fragment)).cloned().collect()
    }

    /// The requests that write cell values (see [`RecordedRequest::cell_writes`]).
    pub fn cell_writes(&self) -> Vec<RecordedRequest> {
        self.lock().iter().filter(|r| !r.cell_writes().is_empty()).cloned().collect()
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn push(&self, request: RecordedRequest) {
        self.lock().push(request);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<RecordedRequest>> {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Middleware: buffers the body, records the request, hands it on unchanged.
pub async fn record(State(log): State<Arc<RequestLog>>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(bytes) => bytes,
        Err(_) => return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "body too large").into_response(),
    };
    if !parts.uri.path().starts_with("/_sandbox/") {
        log.push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
    }
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// `GET /_sandbox/requests` (the log as JSON) and `DELETE /_sandbox/requests`.
pub fn control_router(shared: Shared) -> Router {
    Router::new()
        .route("/_sandbox/requests", get(list).delete(clear))
        .route("/_sandbox/faults", get(get_faults).put(put_faults).delete(clear_faults))
        .with_state(shared)
}

async fn list(State(shared): State<Shared>) -> Json<Vec<RecordedRequest>> {
    Json(shared.requests.all())
}

async fn clear(State(shared): State<Shared>) -> axum::http::StatusCode {
    shared.requests.clear();
    axum::http::StatusCode::NO_CONTENT
}

async fn get_faults(State(shared): State<Shared>) -> impl IntoResponse {
    Json(shared.faults.rules())
}

/// Body: `{"qbo.create": {"commit_then_drop_rate": 0.1}, …}`; each named rule is replaced.
async fn put_faults(
    State(shared): State<Shared>,
    Json(rules): Json<std::collections::HashMap<String, super::FaultRule>>,
) -> axum::http::StatusCode {
    for (endpoint, rule) in rules {
        shared.faults.set(&endpoint, rule);
    }
    axum::http::StatusCode::NO_CONTENT
}

async fn clear_faults(State(shared): State<Shared>) -> axum::http::StatusCode {
    shared.faults.clear();
    axum::http::StatusCode::NO_CONTENT
}
