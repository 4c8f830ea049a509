//! The HTTP face of the token endpoint and of Sheets v4: routing, then the same pipeline for
//! every Sheets call — fault plan, bearer check, quota, spreadsheet lookup (404/403), the work
//! itself on a draft committed only on success, and commit-then-drop for writes.
//!
//! Sheets paths are parsed by hand from the raw URI: the range arrives raw
//! (`values/inv_tbl!A1:Z`) or percent-encoded (`values/%27inv_tbl%27%21A1%3AZ`), and custom
//! methods hang off it with a colon (`values/{range}:append`, `{id}:batchUpdate`), which no
//! router pattern expresses.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use super::error::ApiError;
use super::fault::{self, Service};
use super::moves::Mover;
use super::quota::Kind;
use super::spreadsheet::Spreadsheet;
use super::token::{self, bearer};
use super::values::{self, Echo, Render, parse_input};
use super::{GoogleEmulator, batch_update, fields, grid};
use crate::sandbox::ConnectionKiller;
use crate::sandbox::faults::endpoint;

/// `POST /google/token`.
pub async fn token_endpoint(State(emulator): State<Arc<GoogleEmulator>>, body: Bytes) -> Response {
    if let Err(response) = fault::before(&emulator, endpoint::GOOGLE_TOKEN, Service::Token).await {
        return response;
    }
    let now = chrono::Utc::now().timestamp();
    match token::check_grant(&body, &emulator.token_uri(), now) {
        Ok(principal) => {
            let token = emulator.issue_token_for(&principal);
            Json(json!({
                "access_token": token,
                "expires_in": emulator.token_lifetime.as_secs(),
                "token_type": "Bearer",
            }))
            .into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, Json(error.body())).into_response(),
    }
}

/// One Sheets method, parsed from method and path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Get,
    ValuesGet(String),
    ValuesUpdate(String),
    ValuesAppend(String),
    ValuesClear(String),
    BatchGet,
    BatchUpdateValues,
    BatchClear,
    BatchGetByDataFilter,
    BatchUpdateByDataFilter,
    BatchClearByDataFilter,
    BatchUpdate,
    MetadataGet(String),
    MetadataSearch,
}

impl Op {
    /// Parses `method` + the path after `/v4/spreadsheets/` into a spreadsheet id and a method.
    pub fn parse(method: &Method, rest: &str) -> Option<(String, Op)> {
        let split = rest.find(['/', ':']).unwrap_or(rest.len());
        let id = decode(&rest[..split]);
        let tail = &rest[split..];
        let op = match (method.as_str(), tail) {
            ("GET", "") => Op::Get,
            ("POST", ":batchUpdate") => Op::BatchUpdate,
            ("GET", "/values:batchGet") => Op::BatchGet,
            ("POST", "/values:batchUpdate") => Op::BatchUpdateValues,
            ("POST", "/values:batchClear") => Op::BatchClear,
            ("POST", "/values:batchGetByDataFilter") => Op::BatchGetByDataFilter,
            ("POST", "/values:batchUpdateByDataFilter") => Op::BatchUpdateByDataFilter,
            ("POST", "/values:batchClearByDataFilter") => Op::BatchClearByDataFilter,
            ("POST", "/developerMetadata:search") => Op::MetadataSearch,
            (m, t) if t.starts_with("/developerMetadata/") && m == "GET" => {
                Op::MetadataGet(decode(&t["/developerMetadata/".len()..]))
            }
            (m, t) if t.starts_with("/values/") => {
                let range = decode(&t["/values/".len()..]);
                match m {
                    "GET" => Op::ValuesGet(range),
                    "PUT" => Op::ValuesUpdate(range),
                    "POST" => {
                        if let Some(range) = range.strip_suffix(":append") {
                            Op::ValuesAppend(range.to_owned())
                        } else if let Some(range) = range.strip_suffix(":clear") {
                            Op::ValuesClear(range.to_owned())
                        } else {
                            return None;
                        }
                    }
                    _ => return None,
                }
            }
            _ => return None,
        };
        (!id.is_empty()).then_some((id, op))
    }

    /// Reads, writes and metadata lookups are separate fault endpoints; metadata counts as a read.
    pub fn kind(&self) -> (Kind, &'static str) {
        match self {
            Op::Get | Op::ValuesGet(_) | Op::BatchGet | Op::BatchGetByDataFilter => (Kind::Read, endpoint::SHEETS_READ),
            Op::MetadataGet(_) | Op::MetadataSearch => (Kind::Read, endpoint::SHEETS_METADATA),
            _ => (Kind::Write, endpoint::SHEETS_WRITE),
        }
    }
}

fn decode(text: &str) -> String {
    percent_decode_str(text).decode_utf8_lossy().into_owned()
}

/// Query parameters, repeated ones kept (`ranges=…&ranges=…`).
struct Query(Vec<(String, String)>);

impl Query {
    fn parse(query: Option<&str>) -> Query {
        Query(url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
    }

    fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    fn render(&self) -> Result<Render, ApiError> {
        Render::parse(self.get("valueRenderOption"), self.get("dateTimeRenderOption"), self.get("majorDimension"), "")
    }

    fn echo(&self) -> Result<Echo, ApiError> {
        Ok(Echo {
            include: self.flag("includeValuesInResponse"),
            render: Render::parse(
                self.get("responseValueRenderOption"),
                self.get("responseDateTimeRenderOption"),
                None,
                "response_",
            )?,
        })
    }
}

/// Every `/v4/spreadsheets/…` request.
pub async fn sheets(
    State(emulator): State<Arc<GoogleEmulator>>,
    killer: Option<Extension<ConnectionKiller>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let rest = uri.path().strip_prefix("/v4/spreadsheets/").unwrap_or_default();
    let Some((id, op)) = Op::parse(&method, rest) else {
        return ApiError::not_found().into_response();
    };
    let (kind, fault_endpoint) = op.kind();
    if let Err(response) = fault::before(&emulator, fault_endpoint, Service::Sheets(kind)).await {
        return response;
    }
    let Some(principal) = emulator.tokens.check(bearer(&headers)) else {
        return ApiError::unauthenticated().into_response();
    };
    if let Err(error) = emulator.quotas.admit(kind, &principal) {
        return error.into_response();
    }
    let query = Query::parse(uri.query());
    let selection = match query.get("fields").map(fields::Selection::parse).transpose() {
        Ok(selection) => selection,
        Err(message) => return ApiError::invalid_argument(message).into_response(),
    };
    if op == Op::Get && query.flag("includeGridData") {
        let ranges = query.all("ranges");
        let base_url = &emulator.shared.base_url;
        return match emulator.read_spreadsheet(&id, |ss| grid::answer(ss, base_url, &ranges, selection.as_ref())) {
            Ok(body) => ([(axum::http::header::CONTENT_TYPE, "application/json; charset=UTF-8")], body).into_response(),
            Err(error) => error.into_response(),
        };
    }
    if op == Op::BatchUpdate {
        let request = match parse_body(&body) {
            Ok(request) => request,
            Err(error) => return error.into_response(),
        };
        let writes_cells =
            request["requests"].as_array().is_some_and(|r| r.iter().any(|r| r.get("updateCells").is_some()));
        if writes_cells && let Err(error) = emulator.edit_before_cell_write() {
            tracing::warn!(%error, "the edit staged before this write could not be made");
        }
        if request.get("includeSpreadsheetInResponse").and_then(Value::as_bool) == Some(true) {
            // The spreadsheet is written out in the same turn as the update: nothing can come
            // between them, as nothing can in Google's one request.
            let base_url = &emulator.shared.base_url;
            let answer = emulator.api_write(&id, |ss, rng, mover| {
                let mut reply = batch_update::apply(ss, &request, rng, mover)?;
                grid::batch_update_answer(ss, base_url, reply["replies"].take(), &request, selection.as_ref())
            });
            return match answer {
                Ok(body) => {
                    if emulator.shared.faults.drop_after_commit(fault_endpoint)
                        && let Some(Extension(killer)) = killer
                    {
                        killer.kill().await
                    }
                    ([(axum::http::header::CONTENT_TYPE, "application/json; charset=UTF-8")], body).into_response()
                }
                Err(error) => error.into_response(),
            };
        }
    }
    let result = match kind {
        Kind::Read => parse_body(&body).and_then(|body| emulator.api_read(&id, |ss| read(ss, &op, &query, &body))),
        Kind::Write => {
            if op == Op::BatchUpdateValues
                && let Err(error) = emulator.edit_before_cell_write()
            {
                tracing::warn!(%error, "the edit staged before this write could not be made");
            }
            parse_body(&body)
                .and_then(|body| emulator.api_write(&id, |ss, rng, mover| write(ss, rng, mover, &op, &query, &body)))
        }
    };
    let result = result.map(|value| match &selection {
        Some(selection) => selection.apply(value),
        None => value,
    });
    match result {
        Ok(value) => {
            if kind == Kind::Write && emulator.shared.faults.drop_after_commit(fault_endpoint) {
                // Only the sandbox's own accept loop can close a connection; elsewhere, answer.
                if let Some(Extension(killer)) = killer {
                    killer.kill().await
                }
            }
            Json(value).into_response()
        }
        Err(error) => error.into_response(),
    }
}

fn parse_body(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ApiError::invalid_json("Expected an object.")),
        Err(error) => Err(ApiError::invalid_json(format!("Unexpected token. {error}"))),
    }
}

fn read(ss: &Spreadsheet, op: &Op, query: &Query, body: &Value) -> Result<Value, ApiError> {
    match op {
        Op::Get => Ok(Value::Null),
        Op::ValuesGet(range) => values::get(ss, range, query.render()?),
        Op::BatchGet => values::batch_get(ss, &query.all("ranges"), query.render()?),
        Op::BatchGetByDataFilter => values::batch_get_by_data_filter(ss, body),
        Op::MetadataGet(id) => {
            let id: i32 = id.parse().map_err(|_| {
                ApiError::invalid_argument(format!("Invalid value at 'metadata_id' (TYPE_INT32), \"{id}\""))
            })?;
            ss.metadata.get(&id).and_then(|m| m.to_json(ss)).ok_or_else(ApiError::not_found)
        }
        Op::MetadataSearch => metadata_search(ss, body),
        _ => Err(ApiError::not_found()),
    }
}

fn write(
    ss: &mut Spreadsheet,
    rng: &mut rand::rngs::StdRng,
    mover: &mut Mover,
    op: &Op,
    query: &Query,
    body: &Value,
) -> Result<Value, ApiError> {
    match op {
        Op::ValuesUpdate(range) => {
            let input = parse_input(query.get("valueInputOption"), "value_input_option")?;
            values::update(ss, range, body, input, query.echo()?)
        }
        Op::ValuesAppend(range) => {
            let input = parse_input(query.get("valueInputOption"), "value_input_option")?;
            let insert_rows = match query.get("insertDataOption") {
                None | Some("OVERWRITE") => false,
                Some("INSERT_ROWS") => true,
                Some(other) => {
                    return Err(ApiError::invalid_argument(format!(
                        "Invalid value at 'insert_data_option' (type.googleapis.com/google.apps.sheets.v4.InsertDataOption), \"{other}\""
                    )));
                }
            };
            values::append(ss, range, body, input, insert_rows, query.echo()?)
        }
        Op::ValuesClear(range) => values::clear(ss, range),
        Op::BatchUpdateValues => values::batch_update(ss, body),
        Op::BatchClear => values::batch_clear(ss, body),
        Op::BatchUpdateByDataFilter => values::batch_update_by_data_filter(ss, body),
        Op::BatchClearByDataFilter => values::batch_clear_by_data_filter(ss, body),
        Op::BatchUpdate => batch_update::apply(ss, body, rng, mover),
        _ => Err(ApiError::not_found()),
    }
}

/// `POST developerMetadata:search`: `{"matchedDeveloperMetadata":[{developerMetadata, dataFilters}]}`,
/// or `{}` when nothing matches.
fn metadata_search(ss: &Spreadsheet, body: &Value) -> Result<Value, ApiError> {
    let filters = body.get("dataFilters").and_then(Value::as_array).cloned().unwrap_or_default();
    let parsed = filters
        .iter()
        .enumerate()
        .map(|(i, f)| super::metadata::parse_filter(ss, f, &format!("Invalid dataFilters[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut matched = Vec::new();
    for m in ss.metadata.values() {
        let mut hits = Vec::new();
        for (json, filter) in filters.iter().zip(&parsed) {
            if super::metadata::matches(ss, m, filter)? {
                hits.push(json.clone());
            }
        }
        if let (false, Some(rendered)) = (hits.is_empty(), m.to_json(ss)) {
            matched.push(json!({"developerMetadata": rendered, "dataFilters": hits}));
        }
    }
    Ok(if matched.is_empty() { json!({}) } else { json!({ "matchedDeveloperMetadata": matched }) })
}

impl GoogleEmulator {
    /// Runs a read on a spreadsheet the caller may see. `Value::Null` from `f` means
    /// "the spreadsheet itself" (`spreadsheets.get`).
    fn api_read(&self, id: &str, f: impl FnOnce(&Spreadsheet) -> Result<Value, ApiError>) -> Result<Value, ApiError> {
        self.read_spreadsheet(id, |ss| match f(ss)? {
            Value::Null => Ok(ss.to_api_json(&self.shared.base_url)),
            value => Ok(value),
        })
    }

    /// Runs a read on a spreadsheet the caller may see.
    fn read_spreadsheet<T>(
        &self,
        id: &str,
        f: impl FnOnce(&Spreadsheet) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let state = self.lock();
        let ss = state.spreadsheets.get(id).ok_or_else(ApiError::not_found)?;
        if !ss.shared {
            return Err(ApiError::permission_denied());
        }
        f(ss)
    }

    /// Runs a write on a draft of the spreadsheet and keeps it only if the write succeeded, so a
    /// failing request changes nothing.
    fn api_write<T>(
        &self,
        id: &str,
        f: impl FnOnce(&mut Spreadsheet, &mut rand::rngs::StdRng, &mut Mover) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut guard = self.lock();
        let state = &mut *guard;
        let current = state.spreadsheets.get_mut(id).ok_or_else(ApiError::not_found)?;
        if !current.shared {
            return Err(ApiError::permission_denied());
        }
        let mut draft = current.clone();
        let value = f(&mut draft, &mut state.rng, &mut state.mover)?;
        draft.touch();
        *current = draft;
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_raw_and_encoded() {
        let get = Method::GET;
        let post = Method::POST;
        assert_eq!(Op::parse(&get, "ID"), Some(("ID".into(), Op::Get)));
        assert_eq!(
            Op::parse(&get, "ID/values/inv_tbl!A1:Z"),
            Some(("ID".into(), Op::ValuesGet("inv_tbl!A1:Z".into())))
        );
        assert_eq!(
            Op::parse(&get, "ID/values/%27inv_tbl%27%21A1%3AZ"),
            Some(("ID".into(), Op::ValuesGet("'inv_tbl'!A1:Z".into())))
        );
        assert_eq!(
            Op::parse(&post, "ID/values/%27Sheet1%27:append"),
            Some(("ID".into(), Op::ValuesAppend("'Sheet1'".into())))
        );
        assert_eq!(
            Op::parse(&post, "ID/values/%27Sheet1%27:clear"),
            Some(("ID".into(), Op::ValuesClear("'Sheet1'".into())))
        );
        assert_eq!(Op::parse(&post, "ID:batchUpdate"), Some(("ID".into(), Op::BatchUpdate)));
        assert_eq!(Op::parse(&get, "ID/developerMetadata/17"), Some(("ID".into(), Op::MetadataGet("17".into()))));
        assert_eq!(Op::parse(&Method::DELETE, "ID"), None);
        assert_eq!(Op::parse(&post, "ID/values/A1"), None);
    }
}
