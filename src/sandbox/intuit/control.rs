//! `/_sandbox/intuit/…`: the emulator's control API over HTTP, for people driving the sandbox
//! from the command line (`qbsync sandbox`) and for tests in other processes. Each route is a
//! thin shell over a method of [`IntuitEmulator`].
//!
//! | route | does |
//! |---|---|
//! | `POST /_sandbox/intuit/grants` | seeds a grant: `{"refresh_token","access_token","realm_id"}` |
//! | `POST /_sandbox/intuit/revoke-all` | revokes every grant |
//! | `POST /_sandbox/intuit/expire-access-tokens` | expires every access token |
//! | `GET /_sandbox/intuit/stats` | counts of refreshes, rotations, replays, `invalid_grant`s… |
//! | `GET`/`PUT /_sandbox/intuit/lifetimes` | `{"access_token","refresh_token","hard","code"}` in seconds |
//! | `POST /_sandbox/intuit/redirect-uris` | `{"redirect_uri": "…"}` registers a redirect URI |
//! | `PUT /_sandbox/intuit/consent` | `{"deny": true}` makes the consent page refuse |

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::{IntuitEmulator, IntuitLifetimes, IntuitStats};

pub fn router(emulator: Arc<IntuitEmulator>) -> Router {
    Router::new()
        .route("/_sandbox/intuit/grants", post(issue_grant))
        .route("/_sandbox/intuit/revoke-all", post(revoke_all))
        .route("/_sandbox/intuit/expire-access-tokens", post(expire_access_tokens))
        .route("/_sandbox/intuit/stats", get(stats))
        .route("/_sandbox/intuit/lifetimes", get(lifetimes).put(set_lifetimes))
        .route("/_sandbox/intuit/redirect-uris", post(register_redirect_uri))
        .route("/_sandbox/intuit/consent", put(set_consent))
        .with_state(emulator)
}

#[derive(Serialize)]
struct SeededGrant {
    refresh_token: String,
    access_token: String,
    realm_id: String,
}

async fn issue_grant(State(em): State<Arc<IntuitEmulator>>) -> Json<SeededGrant> {
    let (refresh_token, access_token) = em.issue_grant();
    Json(SeededGrant { refresh_token, access_token, realm_id: em.authority().realm_id() })
}

async fn revoke_all(State(em): State<Arc<IntuitEmulator>>) -> StatusCode {
    em.revoke_all();
    StatusCode::NO_CONTENT
}

async fn expire_access_tokens(State(em): State<Arc<IntuitEmulator>>) -> StatusCode {
    em.expire_access_tokens();
    StatusCode::NO_CONTENT
}

async fn stats(State(em): State<Arc<IntuitEmulator>>) -> Json<IntuitStats> {
    Json(em.stats())
}

async fn lifetimes(State(em): State<Arc<IntuitEmulator>>) -> Json<IntuitLifetimes> {
    Json(em.lifetimes())
}

async fn set_lifetimes(State(em): State<Arc<IntuitEmulator>>, Json(lifetimes): Json<IntuitLifetimes>) -> StatusCode {
    em.set_lifetimes(lifetimes);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct RedirectUri {
    redirect_uri: String,
}

async fn register_redirect_uri(State(em): State<Arc<IntuitEmulator>>, Json(body): Json<RedirectUri>) -> StatusCode {
    em.register_redirect_uri(&body.redirect_uri);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Consent {
    deny: bool,
}

async fn set_consent(State(em): State<Arc<IntuitEmulator>>, Json(body): Json<Consent>) -> StatusCode {
    em.set_deny_consent(body.deny);
    StatusCode::NO_CONTENT
}
