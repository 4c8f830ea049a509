//! Turns the sandbox's fault decisions into the failures each Google service really produces.
//!
//! The same "500" looks different on the token endpoint (OAuth JSON), Sheets (the `google.rpc`
//! envelope) and Drive (the older envelope with `errors[]`), and a 502 from Google's front end
//! is an HTML page. Clients must classify all of them, so each is reproduced.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::GoogleEmulator;
use super::error::drive_error;
use super::error::{ApiError, bad_gateway_html};
use super::quota::{self, Kind, Scope};
use crate::sandbox::faults::Before;

/// Whose failure shapes to use.
#[derive(Clone, Copy, Debug)]
pub enum Service {
    Token,
    Sheets(Kind),
    Drive,
}

/// Asks the fault plan about one request to `endpoint`. `Ok(())` means go ahead (after any
/// injected latency); `Err` is the answer to send instead. A hang never returns.
pub async fn before(emulator: &GoogleEmulator, endpoint: &str, service: Service) -> Result<(), Response> {
    match emulator.shared.faults.decide(endpoint) {
        Before::Proceed { latency } => {
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            Ok(())
        }
        Before::Hang => std::future::pending().await,
        Before::ServerError(502) => Err(bad_gateway_html()),
        Before::ServerError(code) => Err(server_error(code, service)),
        Before::Throttle => Err(throttled(emulator, service)),
    }
}

fn server_error(code: u16, service: Service) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match service {
        Service::Token => {
            (status, Json(json!({"error": "internal_failure", "error_description": "Backend Error"}))).into_response()
        }
        Service::Sheets(_) if code == 503 => ApiError::unavailable().into_response(),
        Service::Sheets(_) => ApiError::internal().into_response(),
        Service::Drive => drive_error(code, if code == 503 { "backendError" } else { "internalError" }, None),
    }
}

fn throttled(emulator: &GoogleEmulator, service: Service) -> Response {
    match service {
        Service::Token => (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": "rate_limit_exceeded", "error_description": "Rate limit exceeded."})),
        )
            .into_response(),
        Service::Sheets(kind) => quota::exceeded(kind, Scope::User, emulator.quotas.config().per_user).into_response(),
        Service::Drive => drive_error(403, "userRateLimitExceeded", None),
    }
}
