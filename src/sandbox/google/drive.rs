//! Drive v3 `files.get`: the cheap "has the sheet changed?" check.
//!
//! qbsync polls `GET /drive/v3/files/{id}?fields=modifiedTime,version` and skips the Sheets read
//! while `version` is unchanged. `version` (an int64 sent as a JSON string) goes up on every
//! change, including qbsync's own writes and live edits; `modifiedTime` is RFC 3339 with
//! milliseconds and `Z`, as in `cassette_drive_files_get_modified_time.json`. Drive uses its own
//! error envelope (with `errors[]`) and answers 404, not 403, for a file the caller cannot see.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use serde_json::{Map, Value, json};

use super::GoogleEmulator;
use super::error::{UNAUTHENTICATED_MESSAGE, drive_error};
use super::fault::{self, Service};
use super::spreadsheet::Spreadsheet;
use super::token::bearer;
use crate::sandbox::faults::endpoint;

/// Fields `files.get` can return here.
const FIELDS: &[&str] = &["kind", "id", "name", "mimeType", "createdTime", "modifiedTime", "version"];

/// `GET /drive/v3/files/{id}?fields=…`.
pub async fn files_get(
    State(emulator): State<Arc<GoogleEmulator>>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = fault::before(&emulator, endpoint::DRIVE_FILES, Service::Drive).await {
        return response;
    }
    if emulator.tokens.check(bearer(&headers)).is_none() {
        return unauthenticated();
    }
    let fields = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "fields")
        .map(|(_, v)| v.into_owned());
    let file = emulator.lock().spreadsheets.get(&id).filter(|ss| ss.shared).map(file_json);
    let Some(file) = file else {
        return drive_error(404, "notFound", Some(&id));
    };
    match select(&file, fields.as_deref()) {
        Ok(selected) => Json(selected).into_response(),
        Err(field) => invalid_field(&field),
    }
}

/// Every field this emulator knows, for one file.
fn file_json(ss: &Spreadsheet) -> Value {
    json!({
        "kind": "drive#file",
        "id": ss.id,
        "name": ss.title,
        "mimeType": "application/vnd.google-apps.spreadsheet",
        "createdTime": ss.created_time.to_rfc3339_opts(SecondsFormat::Millis, true),
        "modifiedTime": ss.modified_time.to_rfc3339_opts(SecondsFormat::Millis, true),
        "version": ss.version.to_string(),
    })
}

/// Applies `fields`: absent means Drive's default (`kind,id,name,mimeType`); `*` means all.
fn select(file: &Value, fields: Option<&str>) -> Result<Value, String> {
    let wanted: Vec<&str> = match fields {
        None => vec!["kind", "id", "name", "mimeType"],
        Some("*") => FIELDS.to_vec(),
        Some(list) => list.split(',').map(str::trim).filter(|f| !f.is_empty()).collect(),
    };
    let mut out = Map::new();
    for field in wanted {
        if !FIELDS.contains(&field) {
            return Err(field.to_owned());
        }
        out.insert(field.to_owned(), file[field].clone());
    }
    Ok(Value::Object(out))
}

fn unauthenticated() -> Response {
    let body = json!({"error": {
        "code": 401,
        "message": UNAUTHENTICATED_MESSAGE,
        "errors": [{"message": "Invalid Credentials", "domain": "global", "reason": "authError",
                    "location": "Authorization", "locationType": "header"}],
        "status": "UNAUTHENTICATED",
    }});
    (StatusCode::UNAUTHORIZED, Json(body)).into_response()
}

fn invalid_field(field: &str) -> Response {
    let message = format!("Invalid field selection {field}");
    let body = json!({"error": {"code": 400, "message": message, "errors": [{"message": message, "domain": "global",
        "reason": "invalidParameter", "location": "fields", "locationType": "parameter"}]}});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_select_and_default() {
        let ss = Spreadsheet::new("abc", "Title");
        let file = file_json(&ss);
        let picked = select(&file, Some("id,name,modifiedTime,version")).unwrap();
        assert_eq!(picked.as_object().unwrap().len(), 4);
        assert_eq!(picked["version"], "1");
        assert!(picked["modifiedTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(select(&file, None).unwrap()["kind"], "drive#file");
        assert_eq!(select(&file, Some("id,owners")), Err("owners".into()));
    }
}
