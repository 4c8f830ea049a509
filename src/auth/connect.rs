//! Connecting qbsync to a QuickBooks company and disconnecting it: the pieces `qbsync auth`
//! is made of.
//!
//! - The authorization-code flow: [`authorize_url`] builds Intuit's consent URL with a random
//!   `state`; the browser comes back to the redirect URI, either received by
//!   [`RedirectListener`] (a one-route HTTP server on the redirect URI's port) or pasted by a
//!   person on a headless server; [`complete_authorization`] refuses an answer whose `state`
//!   is not ours, exchanges the code and stores the grant with the `realmId` the answer names.
//! - [`import_refresh_token`]: a refresh token obtained elsewhere (Intuit's OAuth Playground),
//!   proven by refreshing it; the rotated result is what gets stored.
//! - [`revoke`]: Intuit's revoke endpoint, then the local tokens are deleted.
//!
//! Every write to the store here holds [`RefreshLock`], so a running daemon never refreshes
//! the old grant over the new one.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::Html;
use oauth2::CsrfToken;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use url::Url;

use super::oauth::{EndpointError, IntuitOAuth};
use super::{AuthError, IntuitOAuthSettings, RefreshLock, StoredGrant, TokenStore};

/// The `state` sent with one consent request; only an answer carrying it is accepted.
/// `Debug` does not show it.
pub struct CsrfState(SecretString);

impl CsrfState {
    pub fn new_random() -> CsrfState {
        CsrfState(SecretString::from(CsrfToken::new_random().secret().as_str()))
    }

    pub(crate) fn secret(&self) -> &SecretString {
        &self.0
    }

    /// Compared through SHA-256, so the comparison's timing says nothing about the value.
    fn matches(&self, received: &str) -> bool {
        digest(self.0.expose_secret()) == digest(received)
    }
}

impl fmt::Debug for CsrfState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CsrfState([REDACTED])")
    }
}

fn digest(value: &str) -> [u8; 32] {
    Sha256::digest(value.as_bytes()).into()
}

/// Intuit's consent URL (scope `com.intuit.quickbooks.accounting`) and the state it carries.
pub fn authorize_url(settings: &IntuitOAuthSettings) -> Result<(String, CsrfState), AuthError> {
    let oauth = IntuitOAuth::new(settings)?;
    let state = CsrfState::new_random();
    Ok((oauth.authorize_url(state.secret()), state))
}

/// Finishes the flow from the address Intuit redirected the browser to (received by
/// [`RedirectListener`] or pasted): checks `state`, exchanges the code, stores the grant.
pub async fn complete_authorization(
    settings: &IntuitOAuthSettings,
    store: &TokenStore,
    redirected_url: &str,
    expected_state: &CsrfState,
) -> Result<StoredGrant, AuthError> {
    let answer = RedirectAnswer::accept(redirected_url, expected_state)?;
    let realm_id = answer.realm_id.ok_or_else(|| AuthError::ConnectFailed {
        reason: "the address Intuit redirected to has no `realmId`".into(),
    })?;
    let code = answer.code;
    settings.check_grant(settings.environment, &realm_id)?;

    let oauth = IntuitOAuth::new(settings)?;
    let fresh = oauth.exchange_code(code.expose_secret()).await.map_err(|error| match error {
        EndpointError::InvalidGrant { .. } => AuthError::ConnectFailed {
            reason:
                "Intuit refused the authorization code (a code works once, for a few minutes): run `qbsync auth` again"
                    .into(),
        },
        other => other.into_auth_error(),
    })?;
    let grant = fresh
        .into_grant(settings.environment, &realm_id, None)
        .ok_or_else(|| AuthError::ConnectFailed { reason: "Intuit's answer carries no refresh token".into() })?;
    let _lock = RefreshLock::acquire(store.dir()).await?;
    store.save_async(&grant).await?;
    tracing::info!(realm_id = %grant.realm_id, environment = %grant.environment, "connected to QuickBooks");
    Ok(grant)
}

/// What a redirect back from a consent page carries, once accepted.
pub(crate) struct RedirectAnswer {
    pub code: SecretString,
    /// Intuit's `realmId` (absent from other servers' redirects).
    pub realm_id: Option<String>,
}

impl RedirectAnswer {
    /// Parses the redirected address, refuses a foreign `state` before looking at anything
    /// else, and turns an `error` answer into a message for a person.
    pub(crate) fn accept(redirected_url: &str, expected_state: &CsrfState) -> Result<RedirectAnswer, AuthError> {
        let url = Url::parse(redirected_url.trim()).map_err(|_| AuthError::ConnectFailed {
            reason:
                "that is not an address: paste the whole address from the browser's address bar, starting with http"
                    .into(),
        })?;
        let param = |wanted: &str| url.query_pairs().find(|(name, _)| name == wanted).map(|(_, value)| value);
        if !param("state").is_some_and(|state| expected_state.matches(&state)) {
            return Err(AuthError::StateMismatch);
        }
        if let Some(error) = param("error") {
            let reason = match error.as_ref() {
                "access_denied" => "the person at the consent page declined to connect qbsync".to_owned(),
                other => format!("the consent page answered `{other}` instead of a code"),
            };
            return Err(AuthError::ConnectFailed { reason });
        }
        let code = param("code").ok_or_else(|| AuthError::ConnectFailed {
            reason: "the address the consent page redirected to has no `code`".into(),
        })?;
        Ok(RedirectAnswer {
            code: SecretString::from(code.as_ref()),
            realm_id: param("realmId").map(|r| r.into_owned()),
        })
    }
}

/// Receives the browser's redirect on the redirect URI's loopback port. Bind it before showing
/// the consent URL, so a busy port is reported before anyone clicks anything.
#[derive(Debug)]
pub struct RedirectListener {
    /// `localhost` is served on both loopback addresses: browsers differ in which they try.
    listeners: Vec<TcpListener>,
    redirect: Url,
}

impl RedirectListener {
    /// Listens on the port of the Intuit app's redirect URI.
    pub async fn bind(settings: &IntuitOAuthSettings) -> Result<RedirectListener, AuthError> {
        RedirectListener::bind_uri(&settings.redirect_uri).await
    }

    /// Listens on the port of `redirect_uri`, which must be an `http://` loopback address.
    pub async fn bind_uri(redirect_uri: &str) -> Result<RedirectListener, AuthError> {
        let cannot = |why: &str| AuthError::ConnectFailed {
            reason: format!(
                "cannot receive the redirect to {redirect_uri} ({why}): paste the redirected address instead"
            ),
        };
        let redirect = Url::parse(redirect_uri).map_err(|_| cannot("not a valid URL"))?;
        if redirect.scheme() != "http" {
            return Err(cannot("only http://localhost addresses can be received here"));
        }
        let (ip, also_v6) = match redirect.host() {
            Some(url::Host::Domain("localhost")) => (IpAddr::V4(Ipv4Addr::LOCALHOST), true),
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() => (IpAddr::V4(ip), false),
            Some(url::Host::Ipv6(ip)) if ip == Ipv6Addr::LOCALHOST => (IpAddr::V6(ip), false),
            _ => return Err(cannot("it is not an address of this machine")),
        };
        let port = redirect.port_or_known_default().unwrap_or(80);
        let mut listeners =
            vec![TcpListener::bind(SocketAddr::new(ip, port)).await.map_err(|error| cannot(&error.to_string()))?];
        if also_v6 {
            // Best effort: a host without IPv6 still has the IPv4 listener.
            if let Ok(v6) = TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)).await {
                listeners.push(v6);
            }
        }
        Ok(RedirectListener { listeners, redirect })
    }

    /// The address the redirect is expected on (the first one bound).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listeners[0].local_addr()
    }

    /// Serves the redirect URI's path until an answer carrying `expected_state` arrives, and
    /// returns the full redirected address. Answers with another state are refused with an
    /// error page and ignored, so a stray or forged request cannot end the wait.
    pub async fn wait(self, expected_state: &CsrfState, timeout: Duration) -> Result<String, AuthError> {
        let (sender, mut received) = tokio::sync::mpsc::channel::<String>(1);
        let expected = digest(expected_state.secret().expose_secret());
        let redirect = self.redirect;
        let handler = move |uri: Uri| {
            let (sender, mut url) = (sender.clone(), redirect.clone());
            async move {
                if uri.path() != url.path() {
                    return (StatusCode::NOT_FOUND, Html(page("Not found.")));
                }
                url.set_query(uri.query());
                let ours = url.query_pairs().any(|(name, value)| name == "state" && digest(&value) == expected);
                if !ours {
                    tracing::warn!("ignored a redirect whose state does not match this `qbsync auth`");
                    return (
                        StatusCode::BAD_REQUEST,
                        Html(page(
                            "This answer does not belong to the running <code>qbsync auth</code> and was ignored.",
                        )),
                    );
                }
                let _ = sender.try_send(url.into());
                (
                    StatusCode::OK,
                    Html(page("qbsync received Intuit's answer. You can close this tab and return to the terminal.")),
                )
            }
        };
        let (stop, _) = tokio::sync::watch::channel(());
        let app = Router::new().fallback(handler);
        for listener in self.listeners {
            let mut stopped = stop.subscribe();
            let server = axum::serve(listener, app.clone()).with_graceful_shutdown(async move {
                // Ends when `stop` is dropped.
                let _ = stopped.changed().await;
            });
            tokio::spawn(async move {
                if let Err(error) = server.await {
                    tracing::warn!(%error, "the redirect listener failed");
                }
            });
        }
        let outcome = tokio::time::timeout(timeout, received.recv()).await;
        // The page for the browser is already on its way; the servers wind down on their own.
        drop(stop);
        match outcome {
            Ok(Some(url)) => Ok(url),
            Ok(None) => Err(AuthError::ConnectFailed { reason: "the redirect listener stopped".into() }),
            Err(_) => Err(AuthError::ConnectFailed {
                reason: format!(
                    "no answer from Intuit within {} s: run `qbsync auth` again, or paste the redirected address",
                    timeout.as_secs()
                ),
            }),
        }
    }
}

fn page(message: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>qbsync</title></head><body><p>{message}</p></body></html>"
    )
}

/// [`RedirectListener::bind`] then [`RedirectListener::wait`].
pub async fn listen_for_redirect(
    settings: &IntuitOAuthSettings,
    expected_state: &CsrfState,
    timeout: Duration,
) -> Result<String, AuthError> {
    RedirectListener::bind(settings).await?.wait(expected_state, timeout).await
}

/// Adopts a refresh token obtained elsewhere, for company `realm_id`: refreshes it (proving it
/// works) and stores the rotated result.
pub async fn import_refresh_token(
    settings: &IntuitOAuthSettings,
    store: &TokenStore,
    refresh_token: SecretString,
    realm_id: &str,
) -> Result<StoredGrant, AuthError> {
    settings.check_grant(settings.environment, realm_id)?;
    let oauth = IntuitOAuth::new(settings)?;
    // Held across the refresh: the rotated token must reach the store before anything else
    // can touch it.
    let _lock = RefreshLock::acquire(store.dir()).await?;
    let mut fresh = oauth.refresh(&refresh_token).await.map_err(|error| match error {
        EndpointError::InvalidGrant { .. } => AuthError::ConnectFailed {
            reason: "Intuit refused that refresh token (invalid_grant): it was revoked, expired, or already replaced by a newer one; get a new one"
                .into(),
        },
        other => other.into_auth_error(),
    })?;
    fresh.refresh_token.get_or_insert(refresh_token);
    let grant = fresh
        .into_grant(settings.environment, realm_id, None)
        .ok_or_else(|| AuthError::ConnectFailed { reason: "Intuit's answer carries no refresh token".into() })?;
    store.save_async(&grant).await?;
    tracing::info!(realm_id = %grant.realm_id, environment = %grant.environment, "imported a QuickBooks refresh token");
    Ok(grant)
}

/// Disconnects: revokes the grant at Intuit, then deletes the local tokens. A grant Intuit no
/// longer knows is deleted all the same; when Intuit cannot be reached, nothing is deleted, so
/// the command can be repeated.
pub async fn revoke(settings: &IntuitOAuthSettings, store: &TokenStore) -> Result<(), AuthError> {
    let oauth = IntuitOAuth::new(settings)?;
    let _lock = RefreshLock::acquire(store.dir()).await?;
    let Some(grant) = store.load_async().await? else {
        return Ok(());
    };
    match oauth.revoke(&grant.refresh_token).await {
        Ok(()) => {}
        Err(EndpointError::InvalidGrant { .. } | EndpointError::Refused { .. }) => {
            tracing::warn!("Intuit no longer knows the stored grant; deleting the local tokens anyway");
        }
        Err(other) => return Err(other.into_auth_error()),
    }
    store.delete()?;
    tracing::info!(realm_id = %grant.realm_id, "disconnected from QuickBooks");
    Ok(())
}
