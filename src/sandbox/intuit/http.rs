//! The three public endpoints of the Intuit OAuth emulator, in Intuit's wire format.
//!
//! Shapes follow `shared/fixtures/qbo/oauth_*.json`: the success body has exactly
//! `access_token, refresh_token, token_type, expires_in, x_refresh_token_expires_in` (plus
//! `id_token` with the `openid` scope and `x_refresh_token_hard_expires_in` when asked for by
//! header); errors are `{"error_description":"Token invalid","error":"invalid_grant"}` (400)
//! and `{"error":"invalid_client"}` (401).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use base64::Engine as _;
use serde::Serialize;

use super::IntuitEmulator;
use super::authority::{ConsentRefused, Issued};
use crate::sandbox::ConnectionKiller;
use crate::sandbox::faults::{Before, endpoint};

/// Fault-plan name of the revoke endpoint (a rule on `"intuit"` covers it and the token endpoint).
pub const REVOKE_ENDPOINT: &str = "intuit.revoke";
/// Asks the token endpoint for `x_refresh_token_hard_expires_in`.
const HARD_EXPIRY_HEADER: &str = "x-include-refresh-token-hard-expires-in";

pub fn router(emulator: Arc<IntuitEmulator>) -> Router {
    Router::new()
        .route("/connect/oauth2", get(authorize))
        .route("/oauth2/v1/tokens/bearer", post(token))
        .route("/v2/oauth2/tokens/revoke", post(revoke))
        .with_state(emulator)
        .layer(axum::middleware::map_response(add_intuit_tid))
}

/// Intuit tags every answer with a transaction id that its support asks for.
async fn add_intuit_tid(mut response: Response) -> Response {
    let tid = format!("1-{}", uuid::Uuid::new_v4().simple());
    if let Ok(value) = HeaderValue::from_str(&tid) {
        response.headers_mut().insert("intuit_tid", value);
    }
    response
}

/// `GET /connect/oauth2`: the consent step. A bad client id or redirect URI gets an error page
/// (never a redirect, RFC 6749 §4.1.2.1); everything else is redirected back.
async fn authorize(State(em): State<Arc<IntuitEmulator>>, Query(params): Query<HashMap<String, String>>) -> Response {
    let param = |name: &str| params.get(name).map(String::as_str).unwrap_or_default();
    if param("client_id") != em.client_id {
        return error_page("The client_id query parameter value is invalid.");
    }
    let redirect_uri = param("redirect_uri");
    if !em.is_registered(redirect_uri) {
        return error_page(
            "The redirect_uri query parameter value is invalid. Make sure it is listed in the Redirect URIs section on your app's keys tab and matches it exactly.",
        );
    }
    let Ok(mut target) = url::Url::parse(redirect_uri) else {
        return error_page("The redirect_uri query parameter value is invalid.");
    };
    let outcome = if param("response_type") != "code" {
        Err("unsupported_response_type")
    } else if em.consent_denied() {
        Err("access_denied")
    } else {
        em.authority().authorize(&em.client_id, redirect_uri, param("scope")).map_err(|refused| match refused {
            ConsentRefused::InvalidScope => "invalid_scope",
        })
    };
    {
        let mut query = target.query_pairs_mut();
        match outcome {
            Ok(code) => {
                query.append_pair("code", &code).append_pair("state", param("state"));
                query.append_pair("realmId", &em.authority().realm_id());
            }
            Err(error) => {
                query.append_pair("error", error).append_pair("state", param("state"));
            }
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html><html><head><title>Error</title></head><body><h1>Error</h1><p>{message}</p></body></html>"
    );
    (StatusCode::BAD_REQUEST, [(header::CONTENT_TYPE, "text/html;charset=UTF-8")], body).into_response()
}

/// `POST /oauth2/v1/tokens/bearer`.
async fn token(
    State(em): State<Arc<IntuitEmulator>>,
    killer: Option<Extension<ConnectionKiller>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(answer) = suffer_faults(&em, endpoint::INTUIT_TOKEN).await {
        return answer;
    }
    let form = parse_form(&body);
    if !em.client_authenticated(&headers, &form) {
        em.authority().count_invalid_client();
        return token_error(StatusCode::UNAUTHORIZED, TokenError { error_description: None, error: "invalid_client" });
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();
    let issued = {
        let mut authority = em.authority();
        let issued = match field("grant_type") {
            "authorization_code" => authority.exchange_code(&em.client_id, field("code"), field("redirect_uri")),
            "refresh_token" => authority.refresh(field("refresh_token")),
            _ => {
                return token_error(
                    StatusCode::BAD_REQUEST,
                    TokenError { error_description: None, error: "unsupported_grant_type" },
                );
            }
        };
        // Registered while the authority is locked, so a concurrent revoke cannot miss it.
        if let Ok(issued) = &issued {
            em.shared.access_tokens.insert(&issued.access_token, &issued.realm_id, issued.expires_in);
        }
        issued
    };
    let Ok(issued) = issued else {
        return token_error(
            StatusCode::BAD_REQUEST,
            TokenError { error_description: Some("Token invalid"), error: "invalid_grant" },
        );
    };
    if em.shared.faults.drop_after_commit(endpoint::INTUIT_TOKEN)
        && let Some(Extension(killer)) = killer
    {
        // The grant has rotated, but the client never learns the new refresh token.
        killer.kill().await;
    }
    let include_hard = headers.get(HARD_EXPIRY_HEADER).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    json(StatusCode::OK, &TokenBody::new(issued, include_hard))
}

/// `POST /v2/oauth2/tokens/revoke`: `token=…` (form, as qbsync sends) or `{"token":"…"}` (JSON, as
/// Intuit's own SDKs send). Unknown tokens are answered 200 too (RFC 7009 §2.2).
async fn revoke(State(em): State<Arc<IntuitEmulator>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(answer) = suffer_faults(&em, REVOKE_ENDPOINT).await {
        return answer;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let form = if is_json {
        serde_json::from_slice::<HashMap<String, String>>(&body).unwrap_or_default()
    } else {
        parse_form(&body)
    };
    if !em.client_authenticated(&headers, &form) {
        em.authority().count_invalid_client();
        return token_error(StatusCode::UNAUTHORIZED, TokenError { error_description: None, error: "invalid_client" });
    }
    let Some(token) = form.get("token").filter(|t| !t.is_empty()) else {
        return token_error(StatusCode::BAD_REQUEST, TokenError { error_description: None, error: "invalid_request" });
    };
    let mut authority = em.authority();
    for access_token in authority.revoke(token).unwrap_or_default() {
        em.shared.access_tokens.remove(&access_token);
    }
    StatusCode::OK.into_response()
}

/// Applies the fault plan before any work: `Some(answer)` short-circuits the request.
async fn suffer_faults(em: &IntuitEmulator, endpoint: &str) -> Option<Response> {
    match em.shared.faults.decide(endpoint) {
        Before::Proceed { latency } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            None
        }
        Before::ServerError(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = format!(
                "<html><head><title>{status}</title></head><body><center><h1>{status}</h1></center></body></html>"
            );
            Some((status, [(header::CONTENT_TYPE, "text/html")], body).into_response())
        }
        Before::Throttle => Some(
            (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "text/plain")], "Too Many Requests")
                .into_response(),
        ),
        Before::Hang => std::future::pending().await,
    }
}

impl IntuitEmulator {
    /// HTTP Basic (`client_secret_basic`, what Intuit documents) or `client_secret_post`.
    fn client_authenticated(&self, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
        let credentials = match headers.get(header::AUTHORIZATION) {
            Some(value) => basic_credentials(value),
            None => form.get("client_id").cloned().zip(form.get("client_secret").cloned()),
        };
        credentials.is_some_and(|(id, secret)| id == self.client_id && secret == self.client_secret)
    }
}

/// Decodes `Basic base64(urlencode(id):urlencode(secret))` (RFC 6749 §2.3.1).
fn basic_credentials(value: &HeaderValue) -> Option<(String, String)> {
    let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape =
        |s: &str| percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    Some((unescape(id), unescape(secret)))
}

fn parse_form(body: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// The success body, fields in the order of `oauth_token_response.json`.
#[derive(Serialize)]
struct TokenBody {
    access_token: String,
    refresh_token: String,
    token_type: &'static str,
    expires_in: u64,
    x_refresh_token_expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_refresh_token_hard_expires_in: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

impl TokenBody {
    fn new(issued: Issued, include_hard: bool) -> TokenBody {
        TokenBody {
            access_token: issued.access_token,
            refresh_token: issued.refresh_token,
            token_type: "bearer",
            expires_in: whole_secs(issued.expires_in),
            x_refresh_token_expires_in: whole_secs(issued.refresh_expires_in),
            x_refresh_token_hard_expires_in: include_hard.then_some(whole_secs(issued.hard_expires_in)),
            id_token: issued.id_token,
        }
    }
}

/// Remaining lifetimes are measured a few microseconds after minting; Intuit answers the
/// round number (`8726400`), so round rather than truncate.
fn whole_secs(duration: std::time::Duration) -> u64 {
    duration.as_secs_f64().round() as u64
}

/// The error body, fields in the order of `oauth_invalid_grant_error_wrapped_by_jsclient.json`.
#[derive(Serialize)]
struct TokenError {
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<&'static str>,
    error: &'static str,
}

fn token_error(status: StatusCode, error: TokenError) -> Response {
    json(status, &error)
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(header::CONTENT_TYPE, "application/json;charset=UTF-8"), (header::CACHE_CONTROL, "no-cache, no-store")],
            bytes,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
