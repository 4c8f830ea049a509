//! Google's error envelope, `{"error":{"code","message","status"[,"details"]}}`.
//!
//! Every Sheets failure a client can see goes through [`ApiError`], so the shapes recorded in
//! `shared/fixtures/sheets/` (403, 404, 429) and Google's documented 400/401 bodies are written
//! in exactly one place. Drive's own envelope is here too ([`drive_error`]).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The 401 message Google sends for a missing, unknown or expired bearer token.
pub const UNAUTHENTICATED_MESSAGE: &str = "Request had invalid authentication credentials. Expected OAuth 2 access \
     token, login cookie or other valid authentication credential. See \
     https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// One Sheets API error, rendered as Google's `google.rpc.Status` JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub status: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, status: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { code, status, message: message.into(), details: None }
    }

    /// 400: the request can never succeed as sent.
    pub fn invalid_argument(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "INVALID_ARGUMENT", message)
    }

    /// 400 for a range that is not A1 notation (or names no sheet).
    pub fn unparsable_range(range: &str) -> ApiError {
        ApiError::invalid_argument(format!("Unable to parse range: {range}"))
    }

    /// 400 for a body that is not the JSON the method takes.
    pub fn invalid_json(detail: impl std::fmt::Display) -> ApiError {
        ApiError::invalid_argument(format!("Invalid JSON payload received. {detail}"))
    }

    /// 401 for a missing, unknown or expired bearer.
    pub fn unauthenticated() -> ApiError {
        ApiError::new(401, "UNAUTHENTICATED", UNAUTHENTICATED_MESSAGE)
    }

    /// 403, as recorded in `cassette_error_403_permission_denied.json`.
    pub fn permission_denied() -> ApiError {
        ApiError::new(403, "PERMISSION_DENIED", "The caller does not have permission")
    }

    /// 404, as recorded in `cassette_error_404_not_found.json`.
    pub fn not_found() -> ApiError {
        ApiError::new(404, "NOT_FOUND", "Requested entity was not found.")
    }

    /// 429 with the quota details (see `quota.rs`).
    pub fn resource_exhausted(message: String, details: Value) -> ApiError {
        ApiError { details: Some(details), ..ApiError::new(429, "RESOURCE_EXHAUSTED", message) }
    }

    /// 500.
    pub fn internal() -> ApiError {
        ApiError::new(500, "INTERNAL", "Internal error encountered.")
    }

    /// 503.
    pub fn unavailable() -> ApiError {
        ApiError::new(503, "UNAVAILABLE", "The service is currently unavailable.")
    }

    /// The JSON body.
    pub fn to_json(&self) -> Value {
        let mut error = json!({"code": self.code, "message": self.message, "status": self.status});
        if let Some(details) = &self.details {
            error["details"] = details.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, Json(self.to_json())).into_response();
        if self.code == 401 {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""),
            );
        }
        response
    }
}

/// Google's front end answers a 502 with an HTML page, not the JSON envelope; clients see a
/// non-JSON error body (google-sheets4 turns it into `Error::Failure`).
pub fn bad_gateway_html() -> Response {
    let page = "<!DOCTYPE html>\n<html lang=en>\n  <meta charset=utf-8>\n  <title>Error 502 (Server Error)!!1</title>\n  \
                <p><b>502.</b> <ins>That’s an error.</ins>\n  <p>The server encountered a temporary error and could not \
                complete your request.<p>Please try again in 30 seconds.  <ins>That’s all we know.</ins>\n";
    (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")], page).into_response()
}

/// Drive's error envelope (Drive v3 answers in its own shape, not Sheets'). `file_id` fills the not-found message.
pub fn drive_error(code: u16, reason: &str, file_id: Option<&str>) -> Response {
    let (message, domain) = match reason {
        "notFound" => (format!("File not found: {}.", file_id.unwrap_or_default()), "global"),
        "userRateLimitExceeded" => ("User Rate Limit Exceeded".to_owned(), "usageLimits"),
        "backendError" => ("Backend Error".to_owned(), "global"),
        _ => ("Internal Error".to_owned(), "global"),
    };
    let mut item = json!({"message": message, "domain": domain, "reason": reason});
    if reason == "notFound" {
        item["location"] = json!("fileId");
        item["locationType"] = json!("parameter");
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, Json(json!({"error": {"code": code, "message": message, "errors": [item]}}))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_code_message_status_and_details_only_when_given() {
        assert_eq!(
            ApiError::not_found().to_json(),
            json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})
        );
        let with_details = ApiError::resource_exhausted("m".into(), json!([1])).to_json();
        assert_eq!(with_details["error"]["details"], json!([1]));
        assert_eq!(with_details["error"]["code"], 429);
    }
}
