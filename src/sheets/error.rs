//! What can go wrong talking to Google, sorted by what the caller does about it.
//!
//! google-sheets4 turns every non-2xx JSON answer into `Error::BadRequest(Value)` whatever the
//! HTTP status — 429 and 503 included (trap 4) — so the status is read back from the body's
//! `error.code` / `error.status` (the `google.rpc.Status` envelope, reference §8). Each failed
//! attempt becomes a [`Failure`]: worth another attempt (and how long to wait), or final. After
//! the last attempt a retryable failure becomes [`SheetsError::Unavailable`]: try again next
//! pass, never a row's fault.

use std::fmt;

use google_sheets4::common;
use serde_json::Value;

/// Why a Sheets (or Drive) call failed, one variant per decision the caller makes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SheetsError {
    /// 429, 5xx, timeouts, transport or token-endpoint trouble that outlasted every retry. Try
    /// again on the next pass; never blame a row for it.
    #[error("Google Sheets is unavailable right now ({reason}); qbsync will try again on the next pass")]
    Unavailable { reason: String },
    /// 403 PERMISSION_DENIED: the spreadsheet is not shared (as Editor) with the account qbsync
    /// signs in as.
    #[error("{}", not_shared_message(.account.as_deref()))]
    NotShared { account: Option<String> },
    /// 404: there is no spreadsheet with this id (or it was deleted).
    #[error("no such spreadsheet: {id:?} (check the sheet URL or id in the configuration)")]
    SpreadsheetNotFound { id: String },
    /// The spreadsheet exists but has no tab with the configured name.
    #[error("the spreadsheet has no tab named {tab:?}; its tabs are: {}", list_tabs(.available))]
    TabNotFound { tab: String, available: Vec<String> },
    /// The key file is unreadable or invalid, or Google's token endpoint refuses the key or the token.
    #[error("the Google credentials cannot be used: {reason}")]
    Credentials { reason: String },
    /// 400 INVALID_ARGUMENT and other permanent refusals: a bug on our side or an odd sheet.
    /// `message` is Google's own.
    #[error("Google rejected the request: {message}")]
    Rejected { message: String },
    /// The settings cannot work (an API root that is not a URL). Caught at start-up.
    #[error("invalid Google Sheets settings: {reason}")]
    InvalidSettings { reason: String },
}

impl SheetsError {
    /// True when the failure is temporary and the same call may succeed on the next pass.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, SheetsError::Unavailable { .. })
    }
}

fn not_shared_message(account: Option<&str>) -> String {
    match account {
        Some(account) => format!(
            "the spreadsheet is not shared with {account}: open it in Google Sheets, click Share and add {account} as an Editor"
        ),
        None => {
            "the spreadsheet is not shared with the Google account qbsync uses: share it with that account as an Editor"
                .to_owned()
        }
    }
}

fn list_tabs(available: &[String]) -> String {
    if available.is_empty() {
        "(none)".to_owned()
    } else {
        available.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(", ")
    }
}

/// The outcome of one failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Google asked us to slow down: 429 / RESOURCE_EXHAUSTED, or a 403 `rateLimitExceeded`
    /// (trap 10). Wait longer than for other transient failures.
    Throttled(String),
    /// Worth another attempt after a short backoff: 5xx, timeouts, transport, token endpoint.
    Transient(String),
    /// 401: the access token was refused. One forced token refresh may fix it.
    Unauthenticated(String),
    /// No point trying again.
    Fatal(SheetsError),
}

/// What a classification needs to know to word its errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    pub spreadsheet_id: &'a str,
    /// The service account's e-mail, named in [`SheetsError::NotShared`].
    pub account: Option<&'a str>,
}

/// An access token could not be had. Boxed into `common::Error::MissingToken` by our
/// `GetToken` implementation and recognised again here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenFailure {
    /// True when trying again later may help (endpoint down, timeout); false when the key
    /// itself is refused.
    pub transient: bool,
    pub reason: String,
}

impl fmt::Display for TokenFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for TokenFailure {}

impl TokenFailure {
    pub fn into_failure(self) -> Failure {
        if self.transient {
            Failure::Transient(format!("no access token: {}", self.reason))
        } else {
            Failure::Fatal(SheetsError::Credentials { reason: self.reason })
        }
    }
}

/// Classifies what google-sheets4 returned for one attempt.
pub(crate) fn classify_hub_error(error: common::Error, cx: Context<'_>) -> Failure {
    match error {
        common::Error::BadRequest(body) => classify_google_error(None, &body, cx),
        common::Error::Failure(response) => classify_status_only(response.status().as_u16(), cx),
        common::Error::HttpError(e) => Failure::Transient(format!("connection failed: {e}")),
        common::Error::Io(e) => Failure::Transient(format!("reading the answer failed: {e}")),
        common::Error::MissingToken(e) => match e.downcast::<TokenFailure>() {
            Ok(token) => token.into_failure(),
            Err(other) => Failure::Transient(format!("no access token: {other}")),
        },
        common::Error::JsonDecodeError(_, e) => {
            Failure::Fatal(SheetsError::Rejected { message: format!("Google's answer could not be decoded: {e}") })
        }
        other => Failure::Fatal(SheetsError::Rejected { message: other.to_string().trim().to_owned() }),
    }
}

/// Classifies a Google error body (`{"error": {"code", "status", "message", "errors", "details"}}`).
/// `http_status` is the real status when the transport knows it (Drive via reqwest); the Sheets
/// hub hides it, so `error.code` is the authority there.
pub(crate) fn classify_google_error(http_status: Option<u16>, body: &Value, cx: Context<'_>) -> Failure {
    let error = body.get("error").unwrap_or(&Value::Null);
    let code = error.get("code").and_then(Value::as_u64).and_then(|c| u16::try_from(c).ok()).or(http_status);
    let status = error.get("status").and_then(Value::as_str).unwrap_or("");
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str()) // OAuth-style `{"error": "invalid_grant"}`
        .unwrap_or("")
        .to_owned();
    let reasons = reasons(error);
    let has_reason = |wanted: &[&str]| reasons.iter().any(|r| wanted.iter().any(|w| r.eq_ignore_ascii_case(w)));
    let described = describe(code, status, &message);

    if code == Some(429) || status == "RESOURCE_EXHAUSTED" {
        return Failure::Throttled(described);
    }
    if code == Some(403) && has_reason(&["rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"]) {
        return Failure::Throttled(described);
    }
    if matches!(code, Some(500 | 502 | 503 | 504))
        || matches!(status, "INTERNAL" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "ABORTED")
    {
        return Failure::Transient(described);
    }
    if code == Some(401) || status == "UNAUTHENTICATED" {
        return Failure::Unauthenticated(described);
    }
    if code == Some(403) || status == "PERMISSION_DENIED" {
        // "API not enabled" and "insufficient scopes" are 403 PERMISSION_DENIED too, but sharing
        // the sheet would not fix them; Google's own message says what would.
        if has_reason(&["SERVICE_DISABLED", "accessNotConfigured"]) {
            return Failure::Fatal(SheetsError::Rejected { message });
        }
        if has_reason(&["ACCESS_TOKEN_SCOPE_INSUFFICIENT", "insufficientPermissions"]) {
            return Failure::Fatal(SheetsError::Credentials { reason: message });
        }
        return Failure::Fatal(SheetsError::NotShared { account: cx.account.map(str::to_owned) });
    }
    if code == Some(404) || status == "NOT_FOUND" {
        return Failure::Fatal(SheetsError::SpreadsheetNotFound { id: cx.spreadsheet_id.to_owned() });
    }
    Failure::Fatal(SheetsError::Rejected { message: described })
}

/// A non-2xx answer whose body is not JSON (a proxy's HTML page): only the status is known.
pub(crate) fn classify_status_only(status: u16, cx: Context<'_>) -> Failure {
    let described = format!("HTTP {status} without a Google error body");
    match status {
        429 => Failure::Throttled(described),
        500 | 502 | 503 | 504 => Failure::Transient(described),
        401 => Failure::Unauthenticated(described),
        403 => Failure::Fatal(SheetsError::NotShared { account: cx.account.map(str::to_owned) }),
        // A bare 404 is more likely a wrong API root than a missing spreadsheet.
        _ => Failure::Fatal(SheetsError::Rejected {
            message: format!("{described} (is the Google API root URL in the configuration right?)"),
        }),
    }
}

/// `errors[].reason` (the older Drive-family envelope) and `details[].reason` (`google.rpc.ErrorInfo`).
fn reasons(error: &Value) -> Vec<&str> {
    ["errors", "details"]
        .iter()
        .filter_map(|key| error.get(key).and_then(Value::as_array))
        .flatten()
        .filter_map(|entry| entry.get("reason").and_then(Value::as_str))
        .collect()
}

fn describe(code: Option<u16>, status: &str, message: &str) -> String {
    let head = match (code, status) {
        (Some(code), "") => format!("HTTP {code}"),
        (Some(code), status) => format!("HTTP {code} {status}"),
        (None, "") => "error".to_owned(),
        (None, status) => status.to_owned(),
    };
    if message.is_empty() { head } else { format!("{head}: {message}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CX: Context<'static> =
        Context { spreadsheet_id: "SHEET_ID", account: Some("qbsync@demo.iam.gserviceaccount.com") };

    /// The API body of interaction `index` of a gspread cassette (a JSON string inside JSON).
    fn cassette_body(cassette: &str, index: usize) -> Value {
        let outer: Value = serde_json::from_str(cassette).expect("cassette is JSON");
        let text = outer["interactions"][index]["response"]["body"]["string"].as_str().expect("body string");
        serde_json::from_str(text).expect("body is JSON")
    }

    fn classify(body: &Value) -> Failure {
        classify_google_error(None, body, CX)
    }

    #[test]
    fn recorded_429_resource_exhausted_is_throttled() {
        let body: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/sheets/error_429_resource_exhausted_read_quota.json"
        ))
        .expect("fixture is JSON");
        let Failure::Throttled(reason) = classify(&body) else { panic!("429 must be throttled") };
        assert!(reason.starts_with("HTTP 429 RESOURCE_EXHAUSTED: Quota exceeded"), "{reason}");
    }

    #[test]
    fn recorded_403_permission_denied_names_the_service_account() {
        let body =
            cassette_body(include_str!("../../tests/fixtures/sheets/cassette_error_403_permission_denied.json"), 3);
        assert_eq!(body["error"]["status"], "PERMISSION_DENIED");
        let failure = classify(&body);
        assert_eq!(
            failure,
            Failure::Fatal(SheetsError::NotShared { account: Some("qbsync@demo.iam.gserviceaccount.com".into()) })
        );
        let Failure::Fatal(error) = failure else { unreachable!() };
        assert!(error.to_string().contains("add qbsync@demo.iam.gserviceaccount.com as an Editor"), "{error}");
    }

    #[test]
    fn recorded_404_not_found_is_no_such_spreadsheet() {
        let body = cassette_body(include_str!("../../tests/fixtures/sheets/cassette_error_404_not_found.json"), 3);
        assert_eq!(body["error"]["code"], 404);
        assert_eq!(classify(&body), Failure::Fatal(SheetsError::SpreadsheetNotFound { id: "SHEET_ID".into() }));
    }

    #[test]
    fn invalid_argument_is_rejected_with_googles_message() {
        let body = json!({"error": {"code": 400, "message": "Unable to parse range: 'inv_tbl'!A1:Z",
            "status": "INVALID_ARGUMENT", "details": [{"@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": "data[0].range", "description": "Unable to parse range"}]}]}});
        assert_eq!(
            classify(&body),
            Failure::Fatal(SheetsError::Rejected {
                message: "HTTP 400 INVALID_ARGUMENT: Unable to parse range: 'inv_tbl'!A1:Z".into()
            })
        );
    }

    #[test]
    fn unauthenticated_asks_for_a_token_refresh() {
        let body = json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.",
            "status": "UNAUTHENTICATED"}});
        assert!(matches!(classify(&body), Failure::Unauthenticated(_)));
    }

    #[test]
    fn server_errors_are_transient() {
        for (code, status) in [(500, "INTERNAL"), (502, ""), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED")] {
            let body = json!({"error": {"code": code, "message": "x", "status": status}});
            assert!(matches!(classify(&body), Failure::Transient(_)), "{code}");
        }
        // The canonical status alone is enough.
        let body = json!({"error": {"message": "backend", "status": "UNAVAILABLE"}});
        assert!(matches!(classify(&body), Failure::Transient(_)));
    }

    #[test]
    fn drive_style_403_rate_limits_are_throttled_not_permission_problems() {
        for reason in ["rateLimitExceeded", "userRateLimitExceeded"] {
            let body = json!({"error": {"errors": [{"domain": "usageLimits", "reason": reason,
                "message": "Rate Limit Exceeded"}], "code": 403, "message": "Rate Limit Exceeded"}});
            assert!(matches!(classify(&body), Failure::Throttled(_)), "{reason}");
        }
        let body = json!({"error": {"code": 403, "message": "Quota exceeded", "status": "PERMISSION_DENIED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED"}]}});
        assert!(matches!(classify(&body), Failure::Throttled(_)));
    }

    #[test]
    fn api_not_enabled_is_rejected_with_the_enabling_instructions() {
        let message = "Google Sheets API has not been used in project 123 before or it is disabled. Enable it by visiting https://console.developers.google.com/apis/api/sheets.googleapis.com/overview?project=123 then retry.";
        let body = json!({"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED",
            "domain": "googleapis.com"}]}});
        assert_eq!(classify(&body), Failure::Fatal(SheetsError::Rejected { message: message.into() }));
    }

    #[test]
    fn insufficient_scopes_are_a_credentials_problem() {
        let body = json!({"error": {"code": 403, "message": "Request had insufficient authentication scopes.",
            "status": "PERMISSION_DENIED", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}});
        assert!(matches!(classify(&body), Failure::Fatal(SheetsError::Credentials { .. })));
    }

    #[test]
    fn not_shared_without_a_known_account_still_says_what_to_do() {
        let cx = Context { spreadsheet_id: "S", account: None };
        let body = json!({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}});
        let Failure::Fatal(error) = classify_google_error(None, &body, cx) else { panic!("403 is final") };
        assert_eq!(error, SheetsError::NotShared { account: None });
        assert!(error.to_string().contains("share it"), "{error}");
    }

    #[test]
    fn the_transport_status_fills_in_when_the_body_has_no_code() {
        let body = json!({"error": {"message": "slow down"}});
        assert!(matches!(classify_google_error(Some(429), &body, CX), Failure::Throttled(_)));
    }

    #[test]
    fn bodies_that_are_not_json_are_classified_by_status() {
        assert!(matches!(classify_status_only(429, CX), Failure::Throttled(_)));
        assert!(matches!(classify_status_only(502, CX), Failure::Transient(_)));
        assert!(matches!(classify_status_only(401, CX), Failure::Unauthenticated(_)));
        assert!(matches!(classify_status_only(403, CX), Failure::Fatal(SheetsError::NotShared { .. })));
        let Failure::Fatal(SheetsError::Rejected { message }) = classify_status_only(404, CX) else {
            panic!("a bare 404 is rejected")
        };
        assert!(message.contains("API root URL"), "{message}");
    }

    #[test]
    fn token_failures_keep_their_kind() {
        let refused = TokenFailure { transient: false, reason: "invalid_grant: Invalid JWT Signature.".into() };
        assert_eq!(
            classify_hub_error(common::Error::MissingToken(Box::new(refused)), CX),
            Failure::Fatal(SheetsError::Credentials { reason: "invalid_grant: Invalid JWT Signature.".into() })
        );
        let down = TokenFailure { transient: true, reason: "timed out".into() };
        assert!(matches!(classify_hub_error(common::Error::MissingToken(Box::new(down)), CX), Failure::Transient(_)));
    }

    #[test]
    fn messages_name_what_to_fix() {
        let tab = SheetsError::TabNotFound { tab: "inv_tbl".into(), available: vec!["Sheet1".into(), "Data".into()] };
        assert_eq!(tab.to_string(), r#"the spreadsheet has no tab named "inv_tbl"; its tabs are: "Sheet1", "Data""#);
        let missing = SheetsError::SpreadsheetNotFound { id: "abc".into() };
        assert!(missing.to_string().starts_with(r#"no such spreadsheet: "abc""#));
        assert!(SheetsError::Unavailable { reason: "HTTP 503".into() }.is_unavailable());
        assert!(!missing.is_unavailable());
    }
}
