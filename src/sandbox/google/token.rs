//! Google's OAuth token endpoint for service accounts (JWT bearer grant), and the access tokens
//! it hands out.
//!
//! yup-oauth2 signs a JWT with the key file's private key and posts it as
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>` to the key's
//! `token_uri`. The sandbox checks the claims Google checks (`aud` is this endpoint, `iss` set,
//! `exp` in the future and at most an hour after `iat`, the Sheets scope or Drive's metadata
//! scope requested) but **does
//! not verify the signature**: it trusts any key, so a test can bring its own throw-away key.
//! Errors use the token endpoint's own OAuth shape (`{"error","error_description"}`, 400), not
//! the Sheets envelope.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde_json::{Value, json};

/// The scope a token must carry for the Sheets API.
pub const SHEETS_SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";
/// The scope of qbsync's Drive change check (`files.get?fields=version`), granted on its own.
pub const DRIVE_METADATA_SCOPE: &str = "https://www.googleapis.com/auth/drive.metadata.readonly";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Why a token request is refused; each maps to Google's `error` code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("unsupported_grant_type: {0}")]
    UnsupportedGrantType(String),
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    #[error("invalid_grant: {0}")]
    InvalidGrant(String),
    #[error("invalid_scope")]
    InvalidScope,
}

impl GrantError {
    /// The 400 body Google's token endpoint sends.
    pub fn body(&self) -> Value {
        let (error, description) = match self {
            GrantError::UnsupportedGrantType(g) => ("unsupported_grant_type", format!("Invalid grant_type: {g}")),
            GrantError::InvalidRequest(d) => ("invalid_request", d.clone()),
            GrantError::InvalidGrant(d) => ("invalid_grant", d.clone()),
            GrantError::InvalidScope => ("invalid_scope", "Invalid OAuth scope or ID token audience provided.".into()),
        };
        json!({"error": error, "error_description": description})
    }
}

/// Checks a form-encoded token request; returns the principal (`sub` if delegating, else `iss`).
pub fn check_grant(form: &[u8], audience: &str, now_unix: i64) -> Result<String, GrantError> {
    let fields: HashMap<String, String> = url::form_urlencoded::parse(form).into_owned().collect();
    match fields.get("grant_type").map(String::as_str) {
        Some(JWT_BEARER) => {}
        Some(other) => return Err(GrantError::UnsupportedGrantType(other.to_owned())),
        None => return Err(GrantError::InvalidRequest("Missing required parameter: grant_type".into())),
    }
    let assertion = fields
        .get("assertion")
        .ok_or_else(|| GrantError::InvalidRequest("Missing required parameter: assertion".into()))?;
    let claims = decode_claims(assertion).ok_or_else(|| GrantError::InvalidGrant("Invalid JWT Signature.".into()))?;
    let text = |key: &str| claims.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    if text("aud") != audience {
        return Err(GrantError::InvalidGrant(format!(
            "Invalid JWT: Failed audience check. The right audience is {audience}"
        )));
    }
    let issuer = text("iss");
    if issuer.is_empty() {
        return Err(GrantError::InvalidGrant("Invalid JWT: No issuer (iss) claim.".into()));
    }
    let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(now_unix);
    if exp <= now_unix || exp - iat > 3600 {
        return Err(GrantError::InvalidGrant(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat \
             and exp values in the JWT claim."
                .into(),
        ));
    }
    if !text("scope").split_whitespace().any(|s| s == SHEETS_SCOPE || s == DRIVE_METADATA_SCOPE) {
        return Err(GrantError::InvalidScope);
    }
    let subject = text("sub");
    Ok(if subject.is_empty() { issuer } else { subject })
}

/// The claims of a compact JWT, signature ignored.
fn decode_claims(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let mut parts = jwt.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

struct Issued {
    principal: String,
    expires_at: Instant,
}

/// The access tokens the endpoint issued, by value.
#[derive(Default)]
pub struct TokenRegistry {
    tokens: Mutex<HashMap<String, Issued>>,
}

impl TokenRegistry {
    /// Mints `ya29.sandbox-…` for `principal`, valid for `lifetime`.
    pub fn issue(&self, principal: &str, lifetime: Duration, rng: &mut impl Rng) -> String {
        let suffix: String = rng.sample_iter(&Alphanumeric).take(40).map(char::from).collect();
        let token = format!("ya29.sandbox-{suffix}");
        self.lock()
            .insert(token.clone(), Issued { principal: principal.to_owned(), expires_at: Instant::now() + lifetime });
        token
    }

    /// The principal behind a live bearer token.
    pub fn check(&self, bearer: Option<&str>) -> Option<String> {
        let tokens = self.lock();
        let issued = tokens.get(bearer?)?;
        (Instant::now() < issued.expires_at).then(|| issued.principal.clone())
    }

    /// Makes every token expire now.
    pub fn expire_all(&self) {
        let now = Instant::now();
        for issued in self.lock().values_mut() {
            issued.expires_at = now;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        self.tokens.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The bearer token of an `Authorization: Bearer …` header.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AUD: &str = "http://127.0.0.1:1/google/token";

    fn form(claims: Value) -> Vec<u8> {
        let jwt = format!(
            "{}.{}.c2ln",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([("grant_type", JWT_BEARER), ("assertion", jwt.as_str())])
            .finish()
            .into_bytes()
    }

    fn claims(aud: &str, exp: i64, scope: &str) -> Value {
        json!({"iss": "sa@p.iam.gserviceaccount.com", "aud": aud, "iat": 1000, "exp": exp, "scope": scope})
    }

    #[test]
    fn a_good_assertion_names_its_issuer() {
        assert_eq!(
            check_grant(&form(claims(AUD, 4000, SHEETS_SCOPE)), AUD, 2000).as_deref(),
            Ok("sa@p.iam.gserviceaccount.com")
        );
    }

    #[test]
    fn bad_assertions_are_refused_like_google() {
        let wrong_aud =
            check_grant(&form(claims("https://elsewhere/token", 4000, SHEETS_SCOPE)), AUD, 2000).unwrap_err();
        assert_eq!(wrong_aud.body()["error"], "invalid_grant");
        let expired = check_grant(&form(claims(AUD, 1500, SHEETS_SCOPE)), AUD, 2000).unwrap_err();
        assert!(matches!(expired, GrantError::InvalidGrant(ref d) if d.contains("short-lived")));
        let no_scope =
            check_grant(&form(claims(AUD, 4000, "https://www.googleapis.com/auth/drive.readonly")), AUD, 2000);
        assert_eq!(no_scope, Err(GrantError::InvalidScope));
        assert!(check_grant(&form(claims(AUD, 4000, DRIVE_METADATA_SCOPE)), AUD, 2000).is_ok(), "the change check's");
        assert!(matches!(check_grant(b"grant_type=password", AUD, 0), Err(GrantError::UnsupportedGrantType(_))));
        assert!(matches!(
            check_grant(b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=x", AUD, 0),
            Err(GrantError::InvalidGrant(_))
        ));
    }
}
