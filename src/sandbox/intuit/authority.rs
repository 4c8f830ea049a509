//! The emulated Intuit authorization server's memory: authorization codes, grants and the
//! refresh-token rotation rule. Pure state, no HTTP, so the rule that decides whether an
//! integration lives or dies can be tested on its own.
//!
//! # The rotation rule
//!
//! A grant holds at most two live refresh tokens, `current` and `previous`:
//!
//! - refreshing with `current` **rotates**: a new token becomes `current`, the one just used
//!   becomes `previous`, and the token before it (if any) is dead from then on;
//! - refreshing with `previous` — the client never received or never saved `current` — answers
//!   with the same `current` and a fresh access token, and rotates nothing;
//! - anything else (older, revoked, unknown, expired) answers `invalid_grant`.
//!
//! So the old token fails exactly once its successor has been issued *and used*, which is the
//! behaviour Intuit documents ("always store and use the latest refresh token"; the help
//! article *Validity of Refresh Token*). Intuit itself keeps returning the same value for about
//! a day; the emulator rotates on every refresh, which is stricter and exercises the
//! save-before-use discipline on every refresh.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

/// The scope qbsync asks for; every grant must include it.
pub const ACCOUNTING_SCOPE: &str = "com.intuit.quickbooks.accounting";
/// Scopes Intuit knows. Anything else in a consent request is `invalid_scope`.
const KNOWN_SCOPES: [&str; 7] =
    [ACCOUNTING_SCOPE, "com.intuit.quickbooks.payment", "openid", "profile", "email", "phone", "address"];

/// How long each kind of credential lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IntuitLifetimes {
    /// Access tokens (Intuit: 1 hour).
    #[serde(with = "secs")]
    pub access_token: Duration,
    /// Rolling refresh-token lifetime (Intuit answers `x_refresh_token_expires_in: 8726400`).
    #[serde(with = "secs")]
    pub refresh_token: Duration,
    /// Hard maximum of a grant, counted from consent (Intuit's 2025 policy: five years).
    #[serde(with = "secs")]
    pub hard: Duration,
    /// Authorization codes.
    #[serde(with = "secs")]
    pub code: Duration,
}

impl IntuitLifetimes {
    pub fn with_access_token(access_token: Duration) -> IntuitLifetimes {
        IntuitLifetimes {
            access_token,
            refresh_token: Duration::from_secs(8_726_400),
            hard: Duration::from_secs(5 * 365 * 24 * 3600),
            code: Duration::from_secs(300),
        }
    }
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(value.as_secs_f64())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let secs: f64 = serde::Deserialize::deserialize(deserializer)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// What the emulator has done, for tests that count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct IntuitStats {
    /// Authorization codes exchanged for tokens.
    pub code_exchanges: u64,
    /// Successful `refresh_token` grants (rotations and replays).
    pub refreshes: u64,
    /// Refreshes that minted a new refresh token.
    pub rotations: u64,
    /// Refreshes with the previous token, answered with the already-issued successor.
    pub replays: u64,
    /// `invalid_grant` answers (codes and refresh tokens).
    pub invalid_grants: u64,
    /// `invalid_client` answers.
    pub invalid_clients: u64,
    /// Grants revoked through the revoke endpoint or the control API.
    pub revocations: u64,
}

/// A token response before it is put on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issued {
    pub realm_id: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: Duration,
    pub refresh_expires_in: Duration,
    pub hard_expires_in: Duration,
    /// Present only when the grant's scopes include `openid`.
    pub id_token: Option<String>,
}

/// Why the token endpoint says `invalid_grant`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantRefused {
    /// Never issued, or superseded and forgotten.
    UnknownToken,
    Revoked,
    Expired,
    CodeReused,
    RedirectMismatch,
}

/// Why the consent page refuses before any redirect (RFC 6749 §4.1.2.1: a bad client or
/// redirect URI must not be redirected to).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentRefused {
    InvalidScope,
}

struct Code {
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    expires_at: Instant,
    used: bool,
}

struct Grant {
    realm_id: String,
    scopes: Vec<String>,
    current: String,
    previous: Option<String>,
    current_expires_at: Instant,
    hard_expires_at: Instant,
    access_tokens: Vec<String>,
    revoked: bool,
}

/// Codes and grants, keyed by the values the client holds.
pub struct Authority {
    realm_id: String,
    lifetimes: IntuitLifetimes,
    codes: HashMap<String, Code>,
    grants: Vec<Grant>,
    /// Refresh token (current or previous) → index into `grants`.
    by_refresh: HashMap<String, usize>,
    /// Access token → index into `grants`.
    by_access: HashMap<String, usize>,
    stats: IntuitStats,
    rng: StdRng,
    /// Every code, refresh token and access token ever minted, for tests that prove none of
    /// them leaked into an output.
    issued: Vec<String>,
}

impl Authority {
    pub fn new(realm_id: &str, lifetimes: IntuitLifetimes, seed: u64) -> Authority {
        Authority {
            realm_id: realm_id.to_owned(),
            lifetimes,
            codes: HashMap::new(),
            grants: Vec::new(),
            by_refresh: HashMap::new(),
            by_access: HashMap::new(),
            stats: IntuitStats::default(),
            rng: StdRng::seed_from_u64(seed),
            issued: Vec::new(),
        }
    }

    pub fn realm_id(&self) -> String {
        self.realm_id.clone()
    }

    pub fn lifetimes(&self) -> IntuitLifetimes {
        self.lifetimes
    }

    pub fn set_lifetimes(&mut self, lifetimes: IntuitLifetimes) {
        self.lifetimes = lifetimes;
    }

    pub fn stats(&self) -> IntuitStats {
        self.stats
    }

    /// Every code, refresh token and access token minted so far, superseded ones included.
    pub fn issued(&self) -> Vec<String> {
        self.issued.clone()
    }

    pub fn count_invalid_client(&mut self) {
        self.stats.invalid_clients += 1;
    }

    /// The consent step: checks the scope and mints a single-use code.
    pub fn authorize(&mut self, client_id: &str, redirect_uri: &str, scope: &str) -> Result<String, ConsentRefused> {
        let scopes: Vec<String> = scope.split_whitespace().map(str::to_owned).collect();
        if !scopes.iter().any(|s| s == ACCOUNTING_SCOPE) || scopes.iter().any(|s| !KNOWN_SCOPES.contains(&s.as_str())) {
            return Err(ConsentRefused::InvalidScope);
        }
        // Intuit's codes look like `AB11…`; length well under the documented 512.
        let code = format!("AB11{}", self.random_token(36));
        self.issued.push(code.clone());
        let expires_at = Instant::now() + self.lifetimes.code;
        self.codes.insert(
            code.clone(),
            Code {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                scopes,
                expires_at,
                used: false,
            },
        );
        Ok(code)
    }

    /// The `authorization_code` grant: a single-use, unexpired code presented with the
    /// redirect URI it was issued for starts a new grant.
    pub fn exchange_code(&mut self, client_id: &str, code: &str, redirect_uri: &str) -> Result<Issued, GrantRefused> {
        let outcome = match self.codes.get_mut(code) {
            None => Err(GrantRefused::UnknownToken),
            Some(entry) if entry.client_id != client_id => Err(GrantRefused::UnknownToken),
            Some(entry) if entry.used => Err(GrantRefused::CodeReused),
            Some(entry) if Instant::now() >= entry.expires_at => Err(GrantRefused::Expired),
            Some(entry) if entry.redirect_uri != redirect_uri => Err(GrantRefused::RedirectMismatch),
            Some(entry) => {
                entry.used = true;
                Ok(entry.scopes.clone())
            }
        };
        match outcome {
            Ok(scopes) => {
                self.stats.code_exchanges += 1;
                Ok(self.new_grant(scopes))
            }
            Err(refused) => {
                self.stats.invalid_grants += 1;
                Err(refused)
            }
        }
    }

    /// A grant as if a person had consented, for tests and the demo.
    pub fn issue_grant(&mut self) -> Issued {
        self.new_grant(vec![ACCOUNTING_SCOPE.to_owned()])
    }

    /// The `refresh_token` grant, following the rotation rule in the module docs.
    pub fn refresh(&mut self, refresh_token: &str) -> Result<Issued, GrantRefused> {
        let outcome = self.refresh_inner(refresh_token);
        match &outcome {
            Ok(_) => self.stats.refreshes += 1,
            Err(_) => self.stats.invalid_grants += 1,
        }
        outcome
    }

    fn refresh_inner(&mut self, refresh_token: &str) -> Result<Issued, GrantRefused> {
        let index = *self.by_refresh.get(refresh_token).ok_or(GrantRefused::UnknownToken)?;
        let now = Instant::now();
        let grant = &self.grants[index];
        if grant.revoked {
            return Err(GrantRefused::Revoked);
        }
        if now >= grant.current_expires_at || now >= grant.hard_expires_at {
            return Err(GrantRefused::Expired);
        }
        if grant.previous.as_deref() == Some(refresh_token) {
            self.stats.replays += 1;
            return Ok(self.answer(index));
        }
        if grant.current != refresh_token {
            return Err(GrantRefused::UnknownToken);
        }
        let successor = self.new_refresh_token();
        let expires_at = (now + self.lifetimes.refresh_token).min(self.grants[index].hard_expires_at);
        let grant = &mut self.grants[index];
        let used = std::mem::replace(&mut grant.current, successor.clone());
        if let Some(dead) = grant.previous.replace(used) {
            self.by_refresh.remove(&dead);
        }
        grant.current_expires_at = expires_at;
        self.by_refresh.insert(successor, index);
        self.stats.rotations += 1;
        Ok(self.answer(index))
    }

    /// Revokes the grant `token` belongs to (a refresh or an access token). Returns the access
    /// tokens to forget, or `None` when the token is unknown.
    pub fn revoke(&mut self, token: &str) -> Option<Vec<String>> {
        let index = *self.by_refresh.get(token).or_else(|| self.by_access.get(token))?;
        let grant = &mut self.grants[index];
        if grant.revoked {
            return Some(Vec::new());
        }
        grant.revoked = true;
        self.stats.revocations += 1;
        Some(std::mem::take(&mut grant.access_tokens))
    }

    /// Revokes every grant (the app was disconnected from every company).
    pub fn revoke_all(&mut self) {
        for grant in &mut self.grants {
            if !grant.revoked {
                grant.revoked = true;
                grant.access_tokens.clear();
                self.stats.revocations += 1;
            }
        }
    }

    fn new_grant(&mut self, scopes: Vec<String>) -> Issued {
        let now = Instant::now();
        let hard_expires_at = now + self.lifetimes.hard;
        let refresh_token = self.new_refresh_token();
        self.grants.push(Grant {
            realm_id: self.realm_id.clone(),
            scopes,
            current: refresh_token.clone(),
            previous: None,
            current_expires_at: (now + self.lifetimes.refresh_token).min(hard_expires_at),
            hard_expires_at,
            access_tokens: Vec::new(),
            revoked: false,
        });
        let index = self.grants.len() - 1;
        self.by_refresh.insert(refresh_token, index);
        self.answer(index)
    }

    /// Mints an access token for the grant's current refresh token and builds the answer.
    fn answer(&mut self, index: usize) -> Issued {
        // Intuit's access tokens are long JWEs; the prefix keeps the look, the rest is random.
        let access_token = format!("eyJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiYWxnIjoiZGlyIn0..{}", self.random_token(64));
        self.issued.push(access_token.clone());
        let id_token = self.random_token(48);
        let now = Instant::now();
        let grant = &mut self.grants[index];
        grant.access_tokens.push(access_token.clone());
        self.by_access.insert(access_token.clone(), index);
        Issued {
            realm_id: grant.realm_id.clone(),
            access_token,
            refresh_token: grant.current.clone(),
            expires_in: self.lifetimes.access_token,
            refresh_expires_in: grant.current_expires_at.saturating_duration_since(now),
            hard_expires_in: grant.hard_expires_at.saturating_duration_since(now),
            id_token: grant.scopes.iter().any(|s| s == "openid").then(|| format!("eyJraWQiOiJzYW5kYm94In0.{id_token}")),
        }
    }

    fn new_refresh_token(&mut self) -> String {
        // Intuit refresh tokens: `AB11` + digits + letters, 50 characters.
        let token = format!("AB11{}", self.random_token(46));
        self.issued.push(token.clone());
        token
    }

    fn random_token(&mut self, len: usize) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..len).map(|_| ALPHABET[self.rng.gen_range(0..ALPHABET.len())] as char).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authority() -> Authority {
        Authority::new("123", IntuitLifetimes::with_access_token(Duration::from_secs(3600)), 1)
    }

    #[test]
    fn refreshing_rotates_and_the_old_token_dies_once_the_new_one_is_used() {
        let mut a = authority();
        let first = a.issue_grant();
        let second = a.refresh(&first.refresh_token).unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        assert_ne!(second.access_token, first.access_token);

        let third = a.refresh(&second.refresh_token).unwrap();
        assert_ne!(third.refresh_token, second.refresh_token);
        assert_eq!(a.refresh(&first.refresh_token), Err(GrantRefused::UnknownToken));
        assert_eq!(a.stats().rotations, 2);
        assert_eq!(a.stats().invalid_grants, 1);
    }

    #[test]
    fn the_previous_token_replays_the_unused_successor() {
        let mut a = authority();
        let first = a.issue_grant();
        let lost = a.refresh(&first.refresh_token).unwrap();
        let replayed = a.refresh(&first.refresh_token).unwrap();
        assert_eq!(replayed.refresh_token, lost.refresh_token);
        assert_ne!(replayed.access_token, lost.access_token);
        let again = a.refresh(&first.refresh_token).unwrap();
        assert_eq!(again.refresh_token, lost.refresh_token);
        assert_eq!(a.stats(), IntuitStats { refreshes: 3, rotations: 1, replays: 2, ..Default::default() });
    }

    #[test]
    fn a_superseded_token_is_refused_while_still_known() {
        let mut a = authority();
        let first = a.issue_grant();
        let second = a.refresh(&first.refresh_token).unwrap();
        let third = a.refresh(&second.refresh_token).unwrap();
        // `second` is now `previous`: it replays `third`; `third` rotates; then `second` is gone.
        assert_eq!(a.refresh(&second.refresh_token).unwrap().refresh_token, third.refresh_token);
        a.refresh(&third.refresh_token).unwrap();
        assert_eq!(a.refresh(&second.refresh_token), Err(GrantRefused::UnknownToken));
    }

    #[test]
    fn codes_are_single_use_and_bound_to_their_redirect_uri() {
        let mut a = authority();
        let code = a.authorize("client", "http://localhost/cb", ACCOUNTING_SCOPE).unwrap();
        assert_eq!(a.exchange_code("client", &code, "http://localhost/other"), Err(GrantRefused::RedirectMismatch));
        let issued = a.exchange_code("client", &code, "http://localhost/cb").unwrap();
        assert_eq!(issued.id_token, None);
        assert_eq!(a.exchange_code("client", &code, "http://localhost/cb"), Err(GrantRefused::CodeReused));
        assert_eq!(a.exchange_code("client", "nope", "http://localhost/cb"), Err(GrantRefused::UnknownToken));
    }

    #[test]
    fn openid_scope_adds_an_id_token_and_unknown_scopes_are_refused() {
        let mut a = authority();
        let code = a.authorize("client", "http://cb", &format!("{ACCOUNTING_SCOPE} openid email")).unwrap();
        assert!(a.exchange_code("client", &code, "http://cb").unwrap().id_token.is_some());
        assert_eq!(a.authorize("client", "http://cb", "openid"), Err(ConsentRefused::InvalidScope));
        assert_eq!(
            a.authorize("client", "http://cb", &format!("{ACCOUNTING_SCOPE} admin")),
            Err(ConsentRefused::InvalidScope)
        );
    }

    #[test]
    fn revoking_kills_the_grant_and_returns_its_access_tokens() {
        let mut a = authority();
        let first = a.issue_grant();
        let second = a.refresh(&first.refresh_token).unwrap();
        let forgotten = a.revoke(&second.access_token).unwrap();
        assert_eq!(forgotten, vec![first.access_token, second.access_token]);
        assert_eq!(a.refresh(&second.refresh_token), Err(GrantRefused::Revoked));
        assert_eq!(a.revoke("unknown"), None);
    }

    #[test]
    fn codes_expire() {
        let mut a = authority();
        a.set_lifetimes(IntuitLifetimes { code: Duration::ZERO, ..a.lifetimes() });
        let code = a.authorize("client", "http://cb", ACCOUNTING_SCOPE).unwrap();
        assert_eq!(a.exchange_code("client", &code, "http://cb"), Err(GrantRefused::Expired));
    }

    #[test]
    fn expired_refresh_tokens_are_refused() {
        let mut a = authority();
        a.set_lifetimes(IntuitLifetimes { refresh_token: Duration::ZERO, ..a.lifetimes() });
        let first = a.issue_grant();
        assert_eq!(a.refresh(&first.refresh_token), Err(GrantRefused::Expired));
    }
}
