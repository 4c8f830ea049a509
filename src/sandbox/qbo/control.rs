//! The emulator's own routes, under `/_sandbox/qbo/…`: the HTTP face of the control methods on
//! [`QboEmulator`], for people and for tests that drive the sandbox from outside the process.
//!
//! | route | does |
//! |---|---|
//! | `GET /_sandbox/qbo/company` | dump the company as seed JSON |
//! | `PUT /_sandbox/qbo/company` | load a company from seed JSON |
//! | `DELETE /_sandbox/qbo/company` | go back to the company the sandbox started with |
//! | `PUT /_sandbox/qbo/country/{code}` | become the demo company of `US`, `US-AST`, `CA`, `GB` or `AU` |
//! | `GET /_sandbox/qbo/creditmemos`, `GET /_sandbox/qbo/vendorcredits` | summaries for assertions |
//! | `GET /_sandbox/qbo/invoices`, `GET /_sandbox/qbo/bills` | summaries for assertions |
//! | `POST /_sandbox/qbo/customers`, `POST /_sandbox/qbo/vendors` | add one (QBO JSON body) |
//! | `PUT /_sandbox/qbo/{entity}/{id}/active` | `{"active": false}` makes it inactive |
//! | `POST /_sandbox/qbo/{invoice,bill}/{id}/payments` | `{"amount": "10.00", "date": "2026-03-04"}` records a payment (date optional) |
//! | `POST /_sandbox/qbo/{invoice,payment,billpayment}/{id}/void` | voids it as a user would |
//! | `DELETE /_sandbox/qbo/{invoice,bill,payment,billpayment}/{id}` | deletes it as a user would |
//! | `GET`, `POST`, `DELETE /_sandbox/qbo/clock` | the emulator's clock; `{"advance_seconds": 2678400}` moves it on |
//! | `GET`, `PATCH /_sandbox/qbo/settings` | request-id replay, custom numbers, plan, quotas |
//! | `GET`, `DELETE /_sandbox/qbo/stats` | requests by kind, minor versions seen |
//! | `GET /_sandbox/qbo/pay/{token}` | the page an invoice's pay link opens |

use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use super::entities::EntityKind;
use super::{CompanySeed, ControlError, QboEmulator, SettingsPatch};

type Emulator = State<Arc<QboEmulator>>;

pub fn routes(emulator: Arc<QboEmulator>) -> Router {
    Router::new()
        .route("/_sandbox/qbo/company", get(dump).put(load).delete(reset))
        .route("/_sandbox/qbo/invoices", get(invoices))
        .route("/_sandbox/qbo/bills", get(bills))
        .route("/_sandbox/qbo/creditmemos", get(credit_memos))
        .route("/_sandbox/qbo/vendorcredits", get(vendor_credits))
        .route("/_sandbox/qbo/country/{code}", put(load_country))
        .route("/_sandbox/qbo/customers", post(add_customer))
        .route("/_sandbox/qbo/vendors", post(add_vendor))
        .route("/_sandbox/qbo/{entity}/{id}/active", put(set_active))
        .route("/_sandbox/qbo/{entity}/{id}/payments", post(pay))
        .route("/_sandbox/qbo/{entity}/{id}/void", post(void))
        .route("/_sandbox/qbo/{entity}/{id}", axum::routing::delete(delete))
        .route("/_sandbox/qbo/clock", get(clock).post(advance_clock).delete(reset_clock))
        .route("/_sandbox/qbo/settings", get(settings).patch(patch_settings))
        .route("/_sandbox/qbo/stats", get(stats).delete(reset_stats))
        .route("/_sandbox/qbo/pay/{token}", get(pay_page))
        .with_state(emulator)
}

fn refused(status: StatusCode, message: String) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn control_error(error: &ControlError) -> Response {
    let status = match error {
        ControlError::NotFound { .. } => StatusCode::NOT_FOUND,
        ControlError::WrongKind { .. } | ControlError::Refused { .. } | ControlError::BadPayment { .. } => {
            StatusCode::BAD_REQUEST
        }
    };
    refused(status, error.to_string())
}

/// The entity a path segment names, `customer` or `customers`.
fn kind_of(segment: &str) -> Option<EntityKind> {
    let singular = segment.strip_suffix('s').filter(|s| EntityKind::from_path(s).is_some()).unwrap_or(segment);
    EntityKind::from_path(singular)
}

fn unknown_entity(segment: &str) -> Response {
    refused(StatusCode::NOT_FOUND, format!("unknown entity {segment}"))
}

async fn dump(State(emulator): Emulator) -> Json<CompanySeed> {
    Json(emulator.dump_company())
}

async fn load_country(State(emulator): Emulator, Path(code): Path<String>) -> Response {
    let country = match super::SandboxCountry::from_str(&code) {
        Ok(country) => country,
        Err(error) => return refused(StatusCode::NOT_FOUND, error.to_string()),
    };
    match emulator.load_country(country) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refused(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}

async fn credit_memos(State(emulator): Emulator) -> Json<Vec<super::TxnSummary>> {
    Json(emulator.credit_memos())
}

async fn vendor_credits(State(emulator): Emulator) -> Json<Vec<super::TxnSummary>> {
    Json(emulator.vendor_credits())
}

async fn load(State(emulator): Emulator, body: String) -> Response {
    match emulator.load_company_json(&body) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refused(StatusCode::BAD_REQUEST, error.to_string()),
    }
}

async fn reset(State(emulator): Emulator) -> Response {
    match emulator.reset_company() {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => refused(StatusCode::INTERNAL_SERVER_ERROR, error.to_string()),
    }
}

async fn invoices(State(emulator): Emulator) -> Response {
    Json(emulator.invoices()).into_response()
}

async fn bills(State(emulator): Emulator) -> Response {
    Json(emulator.bills()).into_response()
}

fn add(emulator: &QboEmulator, kind: EntityKind, body: &Value) -> Response {
    match emulator.add_entity(kind, body) {
        Ok(entity) => (StatusCode::CREATED, Json(entity)).into_response(),
        Err(error) => control_error(&error),
    }
}

async fn add_customer(State(emulator): Emulator, Json(body): Json<Value>) -> Response {
    add(&emulator, EntityKind::Customer, &body)
}

async fn add_vendor(State(emulator): Emulator, Json(body): Json<Value>) -> Response {
    add(&emulator, EntityKind::Vendor, &body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActiveBody {
    active: bool,
}

async fn set_active(
    State(emulator): Emulator,
    Path((entity, id)): Path<(String, String)>,
    Json(body): Json<ActiveBody>,
) -> Response {
    let Some(kind) = kind_of(&entity) else { return unknown_entity(&entity) };
    match emulator.set_active(kind, &id, body.active) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => control_error(&error),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    /// Decimal text, so no amount passes through a float.
    amount: String,
    /// `YYYY-MM-DD`; today (company time) when absent.
    #[serde(default)]
    date: Option<chrono::NaiveDate>,
}

async fn pay(
    State(emulator): Emulator,
    Path((entity, id)): Path<(String, String)>,
    Json(body): Json<PaymentBody>,
) -> Response {
    let Some(kind) = kind_of(&entity) else { return unknown_entity(&entity) };
    let Ok(amount) = Decimal::from_str(body.amount.trim()) else {
        return refused(StatusCode::BAD_REQUEST, format!("amount {} is not a decimal", body.amount));
    };
    match emulator.record_payment_on(kind, &id, amount, body.date) {
        Ok(payment_id) => (StatusCode::CREATED, Json(json!({ "payment_id": payment_id }))).into_response(),
        Err(error) => control_error(&error),
    }
}

async fn void(State(emulator): Emulator, Path((entity, id)): Path<(String, String)>) -> Response {
    let Some(kind) = kind_of(&entity) else { return unknown_entity(&entity) };
    match emulator.void_document(kind, &id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => control_error(&error),
    }
}

async fn delete(State(emulator): Emulator, Path((entity, id)): Path<(String, String)>) -> Response {
    let Some(kind) = kind_of(&entity) else { return unknown_entity(&entity) };
    match emulator.delete_document(kind, &id) {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => control_error(&error),
    }
}

fn clock_state(emulator: &QboEmulator) -> Response {
    let now = emulator.now();
    Json(json!({
        "offset_seconds": emulator.clock_offset().num_seconds(),
        "now": now.format("%Y-%m-%dT%H:%M:%S%:z").to_string(),
    }))
    .into_response()
}

async fn clock(State(emulator): Emulator) -> Response {
    clock_state(&emulator)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    advance_seconds: i64,
}

async fn advance_clock(State(emulator): Emulator, Json(body): Json<AdvanceBody>) -> Response {
    emulator.advance_clock(chrono::Duration::seconds(body.advance_seconds));
    clock_state(&emulator)
}

async fn reset_clock(State(emulator): Emulator) -> Response {
    emulator.reset_clock();
    clock_state(&emulator)
}

async fn settings(State(emulator): Emulator) -> Response {
    Json(emulator.settings()).into_response()
}

async fn patch_settings(State(emulator): Emulator, Json(patch): Json<SettingsPatch>) -> Response {
    emulator.update_settings(&patch);
    Json(emulator.settings()).into_response()
}

async fn stats(State(emulator): Emulator) -> Response {
    Json(json!({ "counts": emulator.request_counts(), "minor_versions": emulator.minor_versions() })).into_response()
}

async fn reset_stats(State(emulator): Emulator) -> StatusCode {
    emulator.reset_stats();
    StatusCode::NO_CONTENT
}

/// What a customer sees on following an invoice's pay link.
async fn pay_page(State(emulator): Emulator, Path(token): Path<String>) -> Response {
    let invoice = {
        let company = emulator.company();
        company.pay_links.get(&token).and_then(|id| company.find(EntityKind::Invoice, id)).map(|record| {
            let text =
                |field: &str| record.body.get(field).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned));
            let company_name =
                company.company_info.get("CompanyName").and_then(Value::as_str).unwrap_or_default().to_owned();
            (company_name, text("DocNumber").unwrap_or_default(), text("Balance").unwrap_or_default(), record.deleted)
        })
    };
    match invoice {
        Some((company_name, number, balance, false)) => Html(format!(
            "<!doctype html><title>Invoice {}</title><h1>{}</h1><p>Invoice {} — balance due ${}</p><p>(qbsync sandbox: no payment is taken)</p>",
            escape(&number),
            escape(&company_name),
            escape(&number),
            escape(&balance)
        ))
        .into_response(),
        _ => refused(StatusCode::NOT_FOUND, "this invoice link is not valid".to_owned()),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
