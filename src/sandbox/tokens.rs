//! Access tokens issued by the emulated Intuit OAuth endpoint and checked by the emulated QBO
//! API. Kept apart from both so each emulator can be built and tested on its own.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Why QBO refuses a bearer token (both answered 401 with the lower-case 3200 fault).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenProblem {
    Missing,
    Unknown,
    Expired,
}

struct Issued {
    realm_id: String,
    expires_at: Instant,
}

/// The live access tokens, by value.
#[derive(Default)]
pub struct AccessTokenRegistry {
    tokens: Mutex<HashMap<String, Issued>>,
}

impl AccessTokenRegistry {
    /// Registers a freshly minted token for `realm_id`, valid for `lifetime`.
    pub fn insert(&self, token: &str, realm_id: &str, lifetime: Duration) {
        self.lock()
            .insert(token.to_owned(), Issued { realm_id: realm_id.to_owned(), expires_at: Instant::now() + lifetime });
    }

    /// The realm a bearer token grants access to.
    pub fn check(&self, bearer: Option<&str>) -> Result<String, TokenProblem> {
        let token = bearer.ok_or(TokenProblem::Missing)?;
        let tokens = self.lock();
        let issued = tokens.get(token).ok_or(TokenProblem::Unknown)?;
        if Instant::now() >= issued.expires_at {
            return Err(TokenProblem::Expired);
        }
        Ok(issued.realm_id.clone())
    }

    /// Makes every token expire now (tests of the 401 → refresh → replay path).
    pub fn expire_all(&self) {
        let now = Instant::now();
        for issued in self.lock().values_mut() {
            issued.expires_at = now;
        }
    }

    /// Forgets one token (its grant was revoked).
    pub fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    /// Forgets every token (revocation).
    pub fn revoke_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Issued>> {
        self.tokens.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
