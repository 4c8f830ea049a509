//! QuickBooks OAuth end to end: qbsync's real clients (`oauth2`, reqwest) against the
//! sandbox's Intuit emulator over real HTTP, with real files in temporary state directories.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use qbsync::auth::{
    AuthError, CsrfState, IntuitOAuthSettings, IntuitTokens, QboEnvironment, RedirectListener, StoredGrant, TokenKey,
    TokenSource, TokenStore, authorize_url, complete_authorization, import_refresh_token, revoke,
};
use qbsync::sandbox::faults::endpoint;
use qbsync::sandbox::intuit::{DEFAULT_REDIRECT_URI, IntuitLifetimes};
use qbsync::sandbox::{FaultRule, Sandbox, SandboxOptions};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

const KEY: &str = "8f1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddeeff0";
const TOKEN_PATH: &str = "/oauth2/v1/tokens/bearer";

async fn sandbox_with(access_token_lifetime: Duration) -> Sandbox {
    Sandbox::start(SandboxOptions { intuit_access_token_lifetime: access_token_lifetime, ..Default::default() })
        .await
        .unwrap()
}

async fn sandbox() -> Sandbox {
    sandbox_with(Duration::from_secs(3600)).await
}

fn settings(sandbox: &Sandbox) -> IntuitOAuthSettings {
    let options = &sandbox.options;
    IntuitOAuthSettings::new(
        QboEnvironment::Sandbox,
        options.client_id.clone(),
        SecretString::from(options.client_secret.as_str()),
        DEFAULT_REDIRECT_URI,
    )
    .with_base_url(sandbox.base_url())
}

/// One "process" view of a state directory: every call opens its own handles.
fn store(dir: &Path) -> TokenStore {
    TokenStore::open(dir, TokenKey::from_text(&SecretString::from(KEY)).unwrap()).unwrap()
}

fn tokens(sandbox: &Sandbox, dir: &Path) -> IntuitTokens {
    IntuitTokens::new(settings(sandbox), store(dir)).unwrap()
}

/// A connection as `qbsync auth` would have left it, without a refresh.
fn seed(sandbox: &Sandbox, dir: &Path) -> StoredGrant {
    let (refresh_token, access_token) = sandbox.intuit.issue_grant();
    let now = Utc::now();
    let lifetime = chrono::TimeDelta::from_std(sandbox.options.intuit_access_token_lifetime).unwrap();
    let grant = StoredGrant {
        environment: QboEnvironment::Sandbox,
        realm_id: sandbox.options.realm_id.clone(),
        refresh_token: refresh_token.into(),
        access_token: Some(access_token.into()),
        access_expires_at: Some(now + lifetime),
        refresh_expires_at: Some(now + chrono::TimeDelta::days(100)),
        refresh_hard_expires_at: None,
        updated_at: now,
        reconnect: None,
    };
    store(dir).save(&grant).unwrap();
    grant
}

fn token_requests(sandbox: &Sandbox) -> usize {
    sandbox.requests().matching("POST", TOKEN_PATH).len()
}

fn assert_live(sandbox: &Sandbox, token: &SecretString) {
    assert_eq!(sandbox.shared.access_tokens.check(Some(token.expose_secret())), Ok(sandbox.options.realm_id.clone()));
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Plays the browser at the consent page: returns where Intuit redirects to.
async fn consent(url: &str) -> String {
    let answer = no_redirects().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 302, "{:?}", answer.text().await);
    answer.headers()["location"].to_str().unwrap().to_owned()
}

/// A token request as any client would send it, for looking at the wire.
async fn raw_token_request(sandbox: &Sandbox, form: &[(&str, &str)], hard_expiry: bool) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}oauth2/v1/tokens/bearer", sandbox.base_url()))
        .basic_auth(&sandbox.options.client_id, Some(&sandbox.options.client_secret))
        .header("accept", "application/json")
        .form(form);
    if hard_expiry {
        request = request.header("x-include-refresh-token-hard-expires-in", "true");
    }
    request.send().await.unwrap()
}

async fn raw_refresh(sandbox: &Sandbox, refresh_token: &str, hard_expiry: bool) -> reqwest::Response {
    raw_token_request(sandbox, &[("grant_type", "refresh_token"), ("refresh_token", refresh_token)], hard_expiry).await
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/qbo/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Key → JSON type name, to compare shapes.
fn shape(value: &Value) -> BTreeMap<String, &'static str> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    value.as_object().unwrap().iter().map(|(k, v)| (k.clone(), kind(v))).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---- connecting -------------------------------------------------------------------------

#[tokio::test]
async fn connect_flow_through_the_consent_page_stores_the_grant() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&sandbox);

    let (url, state) = authorize_url(&settings).unwrap();
    let consent_url = url::Url::parse(&url).unwrap();
    let query: BTreeMap<_, _> = consent_url.query_pairs().into_owned().collect();
    assert_eq!(consent_url.path(), "/connect/oauth2");
    assert_eq!(query["scope"], "com.intuit.quickbooks.accounting");
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], sandbox.options.client_id);
    assert_eq!(query["redirect_uri"], DEFAULT_REDIRECT_URI);

    let redirected = consent(&url).await;
    assert!(redirected.starts_with(DEFAULT_REDIRECT_URI), "{redirected}");
    let grant = complete_authorization(&settings, &store(dir.path()), &redirected, &state).await.unwrap();
    assert_eq!(grant.realm_id, sandbox.options.realm_id);
    assert_eq!(grant.environment, QboEnvironment::Sandbox);
    assert!(grant.refresh_expires_at.is_some() && grant.refresh_hard_expires_at.is_some());

    let stored = store(dir.path()).load().unwrap().unwrap();
    assert_eq!(stored.refresh_token.expose_secret(), grant.refresh_token.expose_secret());
    // The daemon picks the connection up and uses the access token as is.
    let access = tokens(&sandbox, dir.path()).access_token().await.unwrap();
    assert_live(&sandbox, &access);
    assert_eq!(sandbox.intuit.stats().code_exchanges, 1);
    assert_eq!(sandbox.intuit.stats().refreshes, 0);

    // The code worked once.
    let reused = complete_authorization(&settings, &store(dir.path()), &redirected, &state).await.unwrap_err();
    assert!(matches!(reused, AuthError::ConnectFailed { .. }), "{reused:?}");
}

#[tokio::test]
async fn the_redirect_listener_receives_the_browser_and_ignores_strangers() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    sandbox.intuit.register_redirect_uri(&redirect_uri);
    let settings = IntuitOAuthSettings { redirect_uri: redirect_uri.clone(), ..settings(&sandbox) };

    let listener = RedirectListener::bind(&settings).await.unwrap();
    let (url, state) = authorize_url(&settings).unwrap();
    let waiting = tokio::spawn(async move { listener.wait(&state, Duration::from_secs(10)).await.map(|u| (u, state)) });

    let stranger = reqwest::get(format!("{redirect_uri}?code=forged&state=forged&realmId=1")).await.unwrap();
    assert_eq!(stranger.status(), 400);
    let browser = reqwest::get(consent(&url).await).await.unwrap();
    assert_eq!(browser.status(), 200);
    assert!(browser.text().await.unwrap().contains("close this tab"));

    let (redirected, state) = waiting.await.unwrap().unwrap();
    assert!(redirected.starts_with(&redirect_uri), "{redirected}");
    let grant = complete_authorization(&settings, &store(dir.path()), &redirected, &state).await.unwrap();
    assert_eq!(grant.realm_id, sandbox.options.realm_id);
}

#[tokio::test]
async fn a_state_mismatch_is_refused() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&sandbox);
    let (url, _ours) = authorize_url(&settings).unwrap();
    let redirected = consent(&url).await;

    let error =
        complete_authorization(&settings, &store(dir.path()), &redirected, &CsrfState::new_random()).await.unwrap_err();
    assert!(matches!(error, AuthError::StateMismatch), "{error:?}");
    assert!(store(dir.path()).load().unwrap().is_none());
    assert_eq!(sandbox.intuit.stats().code_exchanges, 0, "the code is never sent");
}

#[tokio::test]
async fn a_declined_consent_and_a_foreign_company_are_reported() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&sandbox);

    sandbox.intuit.set_deny_consent(true);
    let (url, state) = authorize_url(&settings).unwrap();
    let error = complete_authorization(&settings, &store(dir.path()), &consent(&url).await, &state).await.unwrap_err();
    assert!(error.to_string().contains("declined"), "{error}");

    sandbox.intuit.set_deny_consent(false);
    let elsewhere = IntuitOAuthSettings { realm_id: Some("42".into()), ..settings };
    let (url, state) = authorize_url(&elsewhere).unwrap();
    let error = complete_authorization(&elsewhere, &store(dir.path()), &consent(&url).await, &state).await.unwrap_err();
    assert!(matches!(error, AuthError::WrongCompany { .. }), "{error:?}");
    assert!(store(dir.path()).load().unwrap().is_none());
}

#[tokio::test]
async fn the_consent_page_refuses_bad_clients_redirects_and_scopes() {
    let sandbox = sandbox().await;
    let base = format!("{}connect/oauth2", sandbox.base_url());
    let client_id = sandbox.options.client_id.as_str();
    let ask = |client_id: &str, redirect: &str, scope: &str| {
        let url = url::Url::parse_with_params(
            &base,
            [
                ("client_id", client_id),
                ("redirect_uri", redirect),
                ("response_type", "code"),
                ("scope", scope),
                ("state", "s"),
            ],
        )
        .unwrap();
        no_redirects().get(url).send()
    };
    let accounting = "com.intuit.quickbooks.accounting";
    assert_eq!(ask("someone-else", DEFAULT_REDIRECT_URI, accounting).await.unwrap().status(), 400);
    assert_eq!(ask(client_id, "http://evil.example/cb", accounting).await.unwrap().status(), 400);
    let wrong_scope = ask(client_id, DEFAULT_REDIRECT_URI, "com.intuit.quickbooks.payroll").await.unwrap();
    assert_eq!(wrong_scope.status(), 302);
    let location = wrong_scope.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=invalid_scope") && location.contains("state=s"), "{location}");
    let fine = ask(client_id, DEFAULT_REDIRECT_URI, accounting).await.unwrap();
    let location = fine.headers()["location"].to_str().unwrap();
    assert!(location.contains(&format!("realmId={}", sandbox.options.realm_id)) && location.contains("code="));
}

#[tokio::test]
async fn importing_a_refresh_token_stores_the_rotated_one() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&sandbox);
    let (playground_token, _) = sandbox.intuit.issue_grant();

    let realm = sandbox.options.realm_id.clone();
    let grant =
        import_refresh_token(&settings, &store(dir.path()), playground_token.clone().into(), &realm).await.unwrap();
    assert_ne!(grant.refresh_token.expose_secret(), playground_token, "Intuit rotated it");
    assert_eq!(sandbox.intuit.stats().rotations, 1);
    let stored = store(dir.path()).load().unwrap().unwrap();
    assert_eq!(stored.refresh_token.expose_secret(), grant.refresh_token.expose_secret());
    assert_live(&sandbox, &tokens(&sandbox, dir.path()).access_token().await.unwrap());

    let error =
        import_refresh_token(&settings, &store(dir.path()), "AB11-not-a-token".into(), &realm).await.unwrap_err();
    assert!(matches!(error, AuthError::ConnectFailed { .. }), "{error:?}");
    assert_eq!(
        store(dir.path()).load().unwrap().unwrap().refresh_token.expose_secret(),
        grant.refresh_token.expose_secret(),
        "a failed import leaves the working connection alone"
    );
}

// ---- refreshing -------------------------------------------------------------------------

#[tokio::test]
async fn hundreds_of_rotations_with_concurrent_callers_refresh_once_each() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let first = seed(&sandbox, dir.path());
    let manager = Arc::new(tokens(&sandbox, dir.path()));

    let mut current = first.access_token.unwrap();
    for round in 1..=300u64 {
        let callers = (0..8).map(|_| {
            let (manager, rejected) = (manager.clone(), current.clone());
            tokio::spawn(async move { manager.refresh_after_rejection(&rejected).await })
        });
        let answers: Vec<_> = join_all(callers).await;
        let fresh = answers[0].clone();
        assert!(answers.iter().all(|a| a.expose_secret() == fresh.expose_secret()), "round {round}: one new token");
        assert_ne!(fresh.expose_secret(), current.expose_secret());
        assert_live(&sandbox, &fresh);
        let stats = sandbox.intuit.stats();
        assert_eq!((stats.refreshes, stats.rotations), (round, round), "round {round}: exactly one refresh");
        current = fresh;
    }
    assert_eq!(sandbox.intuit.stats().invalid_grants, 0);
    let stored = store(dir.path()).load().unwrap().unwrap();
    assert_eq!(stored.access_token.unwrap().expose_secret(), current.expose_secret());
}

/// Waits for every spawned caller (they run concurrently; only the collecting is in order).
async fn join_all<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<Result<T, AuthError>>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn tokens_are_refreshed_ahead_of_expiry_once_per_expiry() {
    let sandbox = sandbox_with(Duration::from_secs(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let first = seed(&sandbox, dir.path());
    let manager = Arc::new(tokens(&sandbox, dir.path()).with_refresh_margin(Duration::from_millis(500)));

    let callers = (0..8).map(|_| {
        let (manager, sandbox_tokens) = (manager.clone(), sandbox.shared.access_tokens.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..40 {
                let token = manager.access_token().await?;
                assert!(sandbox_tokens.check(Some(token.expose_secret())).is_ok(), "handed out a dead token");
                seen.push(token.expose_secret().to_owned());
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            Ok(seen)
        })
    });
    let mut distinct: Vec<String> = join_all(callers).await.into_iter().flatten().collect();
    distinct.push(first.access_token.unwrap().expose_secret().to_owned());
    distinct.sort();
    distinct.dedup();
    let stats = sandbox.intuit.stats();
    assert!(stats.refreshes >= 2, "1.6 s of 1 s tokens needs refreshes");
    assert_eq!(stats.refreshes as usize, distinct.len() - 1, "every refresh was used, none was duplicated");
    assert_eq!(stats.invalid_grants, 0);
}

#[tokio::test]
async fn two_processes_sharing_a_state_dir_never_refresh_the_same_token() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let first = seed(&sandbox, dir.path());
    let daemon = Arc::new(tokens(&sandbox, dir.path()));
    let run_once = Arc::new(tokens(&sandbox, dir.path()));

    let mut current = first.access_token.unwrap();
    for round in 1..=100u64 {
        let (a, b) = (daemon.clone(), run_once.clone());
        let (ra, rb) = (current.clone(), current.clone());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { a.refresh_after_rejection(&ra).await }),
            tokio::spawn(async move { b.refresh_after_rejection(&rb).await })
        );
        let (x, y) = (x.unwrap().unwrap(), y.unwrap().unwrap());
        assert_eq!(x.expose_secret(), y.expose_secret(), "round {round}: the second process adopts the first's token");
        assert_eq!(sandbox.intuit.stats().refreshes, round);
        current = x;
    }
    assert_eq!(sandbox.intuit.stats().invalid_grants, 0);
    assert_eq!(
        run_once.access_token().await.unwrap().expose_secret(),
        daemon.access_token().await.unwrap().expose_secret()
    );
}

// ---- failures in the middle ---------------------------------------------------------------

#[tokio::test]
async fn a_refresh_answer_lost_after_rotation_is_survived() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let first = seed(&sandbox, dir.path());
    let manager = tokens(&sandbox, dir.path());
    let rejected = first.access_token.unwrap();

    // Every answer is lost after Intuit rotated: the retries replay the unused successor.
    sandbox.faults().set(endpoint::INTUIT_TOKEN, FaultRule { commit_then_drop_rate: 1.0, ..Default::default() });
    let error = manager.refresh_after_rejection(&rejected).await.unwrap_err();
    assert!(matches!(error, AuthError::Transient { .. }), "{error:?}");
    let stats = sandbox.intuit.stats();
    assert_eq!((stats.rotations, stats.replays, stats.invalid_grants), (1, 2, 0));
    assert_eq!(
        store(dir.path()).load().unwrap().unwrap().refresh_token.expose_secret(),
        first.refresh_token.expose_secret(),
        "nothing was saved that was not received"
    );

    sandbox.faults().clear();
    let recovered = manager.refresh_after_rejection(&rejected).await.unwrap();
    assert_live(&sandbox, &recovered);
    assert_eq!(sandbox.intuit.stats().invalid_grants, 0);

    // A third of the answers lost, for many more rotations: the grant never dies.
    sandbox.faults().set(endpoint::INTUIT_TOKEN, FaultRule { commit_then_drop_rate: 0.3, ..Default::default() });
    let mut current = recovered;
    for _ in 0..15 {
        current = loop {
            match manager.refresh_after_rejection(&current).await {
                Ok(token) => break token,
                Err(AuthError::Transient { .. }) => continue,
                Err(other) => panic!("the grant died: {other}"),
            }
        };
    }
    sandbox.faults().clear();
    let stats = sandbox.intuit.stats();
    assert!(stats.rotations >= 15 && stats.replays > 2, "answers were lost and replayed: {stats:?}");
    assert_eq!(sandbox.intuit.stats().invalid_grants, 0);
    assert_live(&sandbox, &manager.refresh_after_rejection(&current).await.unwrap());
}

#[tokio::test]
async fn a_crash_between_receiving_and_saving_loses_nothing() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let first = seed(&sandbox, dir.path());

    // A process refreshed, received the new pair and died before saving it.
    let crashed = raw_refresh(&sandbox, first.refresh_token.expose_secret(), true).await;
    assert_eq!(crashed.status(), 200);

    // The restarted process has only the old refresh token; it is answered with the
    // successor nobody has used yet.
    let restarted = tokens(&sandbox, dir.path());
    let token = restarted.refresh_after_rejection(first.access_token.as_ref().unwrap()).await.unwrap();
    assert_live(&sandbox, &token);

    // A task dropped while its refresh is in flight.
    sandbox.faults().set(endpoint::INTUIT_TOKEN, FaultRule { latency_ms: 300, ..Default::default() });
    let dropped = tokio::time::timeout(Duration::from_millis(50), restarted.refresh_after_rejection(&token)).await;
    assert!(dropped.is_err(), "the caller gave up mid-refresh");
    tokio::time::sleep(Duration::from_millis(400)).await;
    sandbox.faults().clear();
    let after = restarted.refresh_after_rejection(&token).await.unwrap();
    assert_live(&sandbox, &after);
    for _ in 0..3 {
        restarted.refresh_after_rejection(&restarted.access_token().await.unwrap()).await.unwrap();
    }
    assert_eq!(sandbox.intuit.stats().invalid_grants, 0);
}

#[tokio::test]
async fn invalid_grant_needs_reconnect_without_hammering() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let first = seed(&sandbox, dir.path());
    let rejected = first.access_token.unwrap();
    let daemon = tokens(&sandbox, dir.path()).with_recheck_interval(Duration::from_millis(400));

    sandbox.intuit.revoke_all();
    let error = daemon.refresh_after_rejection(&rejected).await.unwrap_err();
    assert!(matches!(error, AuthError::NeedsReconnect { .. }), "{error:?}");
    assert!(error.to_string().contains("QuickBooks needs to be re-connected: run `qbsync auth`"), "{error}");
    for _ in 0..20 {
        assert!(matches!(daemon.access_token().await, Err(AuthError::NeedsReconnect { .. })));
        assert!(matches!(daemon.refresh_after_rejection(&rejected).await, Err(AuthError::NeedsReconnect { .. })));
    }
    assert_eq!(token_requests(&sandbox), 1, "one refusal, then silence");

    // Another process sharing the store learns it from the store, not from Intuit.
    let other = tokens(&sandbox, dir.path()).with_recheck_interval(Duration::from_secs(3600));
    assert!(matches!(other.access_token().await, Err(AuthError::NeedsReconnect { .. })));
    let status = other.status();
    assert!(!status.connected);
    assert!(status.needs_reconnect.as_deref().unwrap().contains("run `qbsync auth`"));
    assert_eq!(token_requests(&sandbox), 1);

    // After the re-check interval, one more question.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(matches!(daemon.access_token().await, Err(AuthError::NeedsReconnect { .. })));
    assert!(matches!(daemon.access_token().await, Err(AuthError::NeedsReconnect { .. })));
    assert_eq!(token_requests(&sandbox), 2);
    assert_eq!(sandbox.intuit.stats().invalid_grants, 2);

    // A person runs `qbsync auth`: both resume at once, whatever their re-check interval.
    let (fresh, _) = sandbox.intuit.issue_grant();
    let realm = sandbox.options.realm_id.clone();
    import_refresh_token(&settings(&sandbox), &store(dir.path()), fresh.into(), &realm).await.unwrap();
    assert_live(&sandbox, &other.access_token().await.unwrap());
    assert_live(&sandbox, &daemon.access_token().await.unwrap());
    assert!(other.status().connected);
}

#[tokio::test]
async fn quickbooks_refusing_the_company_blocks_until_rechecked() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&sandbox, dir.path());
    let daemon = tokens(&sandbox, dir.path()).with_recheck_interval(Duration::from_millis(300));

    let error = daemon.authorization_revoked("3100 ApplicationAuthorizationFailed").await;
    assert!(error.to_string().contains("3100"), "{error}");
    assert!(matches!(daemon.access_token().await, Err(AuthError::NeedsReconnect { .. })));
    assert!(!daemon.status().connected);
    assert_eq!(token_requests(&sandbox), 0);

    // The subscription was renewed: the re-check refreshes, Intuit accepts, the mark is gone.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_live(&sandbox, &daemon.access_token().await.unwrap());
    assert!(daemon.status().connected);
    assert!(store(dir.path()).load().unwrap().unwrap().reconnect.is_none());
}

#[tokio::test]
async fn revoke_disconnects_and_deletes_the_local_tokens() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let grant = seed(&sandbox, dir.path());
    let access = grant.access_token.clone().unwrap();
    assert_live(&sandbox, &access);

    revoke(&settings(&sandbox), &store(dir.path())).await.unwrap();
    assert!(store(dir.path()).load().unwrap().is_none());
    assert!(!dir.path().join(TokenStore::FILE).exists());
    assert_eq!(sandbox.intuit.stats().revocations, 1);
    assert!(sandbox.shared.access_tokens.check(Some(access.expose_secret())).is_err(), "access token revoked too");
    let refused = raw_refresh(&sandbox, grant.refresh_token.expose_secret(), false).await;
    assert_eq!(refused.status(), 400);

    let error = tokens(&sandbox, dir.path()).access_token().await.unwrap_err();
    assert!(error.to_string().contains("no QuickBooks connection is stored"), "{error}");
    revoke(&settings(&sandbox), &store(dir.path())).await.unwrap();
}

// ---- the store, the environment, secrets --------------------------------------------------

#[tokio::test]
async fn the_store_is_encrypted_private_and_bound_to_its_key() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let key = TokenKey::resolve(None, None, &state).unwrap();
    let (refresh, _) = sandbox.intuit.issue_grant();
    let realm = sandbox.options.realm_id.clone();
    let grant =
        import_refresh_token(&settings(&sandbox), &TokenStore::open(&state, key).unwrap(), refresh.into(), &realm)
            .await
            .unwrap();

    let bytes = std::fs::read(state.join(TokenStore::FILE)).unwrap();
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    assert!(!contains(grant.refresh_token.expose_secret()));
    assert!(!contains(grant.access_token.as_ref().unwrap().expose_secret()));
    assert!(!contains(&realm) && !contains("refresh_token"), "nothing of the grant is in clear text");

    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join(TokenStore::FILE)), 0o600);
    assert_eq!(mode(&state.join(TokenKey::KEY_FILE)), 0o600);
    assert_eq!(mode(&state.join("tokens.lock")), 0o600);

    let wrong = TokenStore::open(&state, TokenKey::generate()).unwrap();
    let error = wrong.load().unwrap_err();
    assert_eq!(
        error.to_string(),
        "the token store cannot be read: the token store was encrypted with a different key: set QBSYNC_TOKEN_KEY to the key used before, or run `qbsync auth` again to re-connect"
    );
    let error = IntuitTokens::new(settings(&sandbox), wrong).unwrap_err();
    assert!(matches!(error, AuthError::Store { .. }), "never a silent re-auth: {error:?}");

    let again = TokenStore::open(&state, TokenKey::resolve(None, None, &state).unwrap()).unwrap();
    assert_eq!(again.load().unwrap().unwrap().refresh_token.expose_secret(), grant.refresh_token.expose_secret());
}

#[tokio::test]
async fn a_grant_is_never_used_with_the_other_environment() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    seed(&sandbox, dir.path());
    let production = IntuitOAuthSettings { environment: QboEnvironment::Production, ..settings(&sandbox) };
    let manager = IntuitTokens::new(production, store(dir.path())).unwrap();

    let error = manager.access_token().await.unwrap_err();
    assert!(
        matches!(
            error,
            AuthError::WrongEnvironment { stored: QboEnvironment::Sandbox, configured: QboEnvironment::Production }
        ),
        "{error:?}"
    );
    assert!(manager.status().needs_reconnect.unwrap().contains("QB_ENV"));
    assert_eq!(token_requests(&sandbox), 0);
}

#[tokio::test]
async fn debug_output_holds_no_secret() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings(&sandbox);
    let (url, state) = authorize_url(&settings).unwrap();
    let state_value = url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let grant = complete_authorization(&settings, &store(dir.path()), &consent(&url).await, &state).await.unwrap();
    let manager = tokens(&sandbox, dir.path());
    sandbox.intuit.revoke_all();
    let error = manager.refresh_after_rejection(grant.access_token.as_ref().unwrap()).await.unwrap_err();

    let shown = format!(
        "{settings:?} {grant:?} {:?} {manager:?} {state:?} {error:?} {error} {:?} {:?}",
        store(dir.path()),
        manager.status(),
        TokenKey::from_text(&SecretString::from(KEY)).unwrap(),
    );
    for secret in [
        sandbox.options.client_secret.as_str(),
        grant.refresh_token.expose_secret(),
        grant.access_token.as_ref().unwrap().expose_secret(),
        &state_value,
        KEY,
    ] {
        assert!(!shown.contains(secret), "{secret} leaked into {shown}");
    }
}

#[tokio::test]
async fn the_hard_expiry_is_asked_for_and_recorded() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let (first, _) = sandbox.intuit.issue_grant();

    let plain: Value = raw_refresh(&sandbox, &first, false).await.json().await.unwrap();
    assert!(plain.get("x_refresh_token_hard_expires_in").is_none());
    let successor = plain["refresh_token"].as_str().unwrap().to_owned();
    let asked: Value = raw_refresh(&sandbox, &successor, true).await.json().await.unwrap();
    let hard = asked["x_refresh_token_hard_expires_in"].as_u64().unwrap();
    assert!(hard > 4 * 365 * 24 * 3600 && hard <= 5 * 365 * 24 * 3600, "{hard}");

    // qbsync always asks, and stores it.
    let realm = sandbox.options.realm_id.clone();
    let refresh = asked["refresh_token"].as_str().unwrap().to_owned();
    let grant = import_refresh_token(&settings(&sandbox), &store(dir.path()), refresh.into(), &realm).await.unwrap();
    let hard_at = grant.refresh_hard_expires_at.unwrap();
    assert!(hard_at > Utc::now() + chrono::TimeDelta::days(4 * 365));
    assert_eq!(store(dir.path()).load().unwrap().unwrap().refresh_hard_expires_at, Some(hard_at));
}

#[tokio::test]
async fn warns_fourteen_days_before_the_refresh_token_expires() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let realm = sandbox.options.realm_id.clone();
    let (refresh, _) = sandbox.intuit.issue_grant();
    import_refresh_token(&settings(&sandbox), &store(dir.path()), refresh.into(), &realm).await.unwrap();
    let status = tokens(&sandbox, dir.path()).status();
    assert!(status.connected && !status.warn_expiry_soon);
    assert_eq!(status.expiry_warning(), None);

    let lifetimes = sandbox.intuit.lifetimes();
    sandbox.intuit.set_lifetimes(IntuitLifetimes { hard: Duration::from_secs(10 * 24 * 3600), ..lifetimes });
    let (refresh, _) = sandbox.intuit.issue_grant();
    import_refresh_token(&settings(&sandbox), &store(dir.path()), refresh.into(), &realm).await.unwrap();
    let status = tokens(&sandbox, dir.path()).status();
    assert!(status.connected && status.warn_expiry_soon);
    assert!(status.expiry_warning().unwrap().contains("run `qbsync auth` before then"));
}

// ---- the emulator's wire shapes -------------------------------------------------------------

#[tokio::test]
async fn the_token_endpoint_answers_in_the_recorded_shapes() {
    let sandbox = sandbox().await;
    let recorded = fixture("oauth_token_response.json");
    let (refresh, _) = sandbox.intuit.issue_grant();

    let answer = raw_refresh(&sandbox, &refresh, false).await;
    assert_eq!(answer.status(), 200);
    assert!(answer.headers().contains_key("intuit_tid"));
    let body: Value = answer.json().await.unwrap();
    let mut expected = shape(&recorded);
    expected.remove("id_token");
    assert_eq!(shape(&body), expected, "no id_token without the openid scope");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["x_refresh_token_expires_in"], 8_726_400);
    assert_eq!(shape(&fixture("oauth_refresh_response.json")), shape(&recorded));

    // With openid, the shape is the recorded one exactly.
    let settings = settings(&sandbox);
    let consent_url = url::Url::parse_with_params(
        &settings.auth_url,
        [
            ("client_id", settings.client_id.as_str()),
            ("redirect_uri", DEFAULT_REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "com.intuit.quickbooks.accounting openid"),
            ("state", "s"),
        ],
    )
    .unwrap();
    let redirected = url::Url::parse(&consent(consent_url.as_str()).await).unwrap();
    let code = redirected.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    let exchange =
        [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", DEFAULT_REDIRECT_URI)];
    let body: Value = raw_token_request(&sandbox, &exchange, false).await.json().await.unwrap();
    assert_eq!(shape(&body), shape(&recorded));

    // invalid_grant: the recorded body, byte for byte, with status 400 and an intuit_tid.
    let error_fixture = fixture("oauth_invalid_grant_error_wrapped_by_jsclient.json");
    let refused = raw_refresh(&sandbox, "AB11-unknown", false).await;
    assert_eq!(u64::from(refused.status().as_u16()), error_fixture["response"]["status"].as_u64().unwrap());
    assert!(refused.headers().contains_key("intuit_tid"));
    assert!(refused.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    assert_eq!(refused.text().await.unwrap(), error_fixture["body"].as_str().unwrap());

    // A wrong client secret.
    let bad_client = reqwest::Client::new()
        .post(&settings.token_url)
        .basic_auth(&settings.client_id, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_client.status(), 401);
    assert_eq!(bad_client.text().await.unwrap(), r#"{"error":"invalid_client"}"#);
}

#[tokio::test]
async fn a_superseded_refresh_token_answers_invalid_grant_once_its_successor_is_used() {
    let sandbox = sandbox().await;
    let (first, _) = sandbox.intuit.issue_grant();
    let refresh_of = |v: Value| v["refresh_token"].as_str().unwrap().to_owned();

    let second = refresh_of(raw_refresh(&sandbox, &first, false).await.json().await.unwrap());
    // Before `second` is used, `first` replays it.
    let replayed = refresh_of(raw_refresh(&sandbox, &first, false).await.json().await.unwrap());
    assert_eq!(replayed, second);
    // Once `second` is used, `first` is dead.
    raw_refresh(&sandbox, &second, false).await;
    let dead = raw_refresh(&sandbox, &first, false).await;
    assert_eq!(dead.status(), 400);
    assert_eq!(
        dead.json::<Value>().await.unwrap(),
        serde_json::json!({"error_description":"Token invalid","error":"invalid_grant"})
    );
}

#[tokio::test]
async fn the_control_api_drives_the_emulator_over_http() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}_sandbox/intuit/{path}", sandbox.base_url());

    let seeded: Value = http.post(control("grants")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seeded["realm_id"], sandbox.options.realm_id.as_str());
    let access = SecretString::from(seeded["access_token"].as_str().unwrap());
    assert_live(&sandbox, &access);

    // Expired access tokens: QuickBooks would answer 401, qbsync refreshes once.
    assert_eq!(http.post(control("expire-access-tokens")).send().await.unwrap().status(), 204);
    assert!(sandbox.shared.access_tokens.check(Some(access.expose_secret())).is_err());
    let realm = sandbox.options.realm_id.clone();
    let refresh = SecretString::from(seeded["refresh_token"].as_str().unwrap());
    import_refresh_token(&settings(&sandbox), &store(dir.path()), refresh, &realm).await.unwrap();
    assert_live(&sandbox, &tokens(&sandbox, dir.path()).access_token().await.unwrap());

    let lifetimes: Value = http.get(control("lifetimes")).send().await.unwrap().json().await.unwrap();
    assert_eq!(lifetimes["refresh_token"], 8_726_400.0);
    let shorter = serde_json::json!({"access_token": 60, "refresh_token": 600, "hard": 6000, "code": 30});
    assert_eq!(http.put(control("lifetimes")).json(&shorter).send().await.unwrap().status(), 204);
    assert_eq!(sandbox.intuit.lifetimes().access_token, Duration::from_secs(60));

    let redirect = serde_json::json!({"redirect_uri": "http://127.0.0.1:9/cb"});
    assert_eq!(http.post(control("redirect-uris")).json(&redirect).send().await.unwrap().status(), 204);
    let deny = serde_json::json!({"deny": true});
    assert_eq!(http.put(control("consent")).json(&deny).send().await.unwrap().status(), 204);
    let settings = IntuitOAuthSettings { redirect_uri: "http://127.0.0.1:9/cb".into(), ..settings(&sandbox) };
    let (url, _) = authorize_url(&settings).unwrap();
    assert!(consent(&url).await.starts_with("http://127.0.0.1:9/cb?error=access_denied"));

    assert_eq!(http.post(control("revoke-all")).send().await.unwrap().status(), 204);
    let stats: Value = http.get(control("stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["revocations"], 1, "one grant, seeded then imported");
    assert_eq!(stats["rotations"], 1);
}

// ---- a person's own Google account (`qbsync auth google`) -----------------------------------
// Google's token endpoint for user grants is not part of the sandbox; wiremock answers in
// Google's documented shape (RFC 6749 fields, `token_type: "Bearer"`, no refresh token on refresh).

mod google {
    use google_sheets4::common::GetToken;
    use qbsync::auth::{
        AuthError, GoogleGrant, GoogleUserSettings, GoogleUserTokens, complete_google_authorization,
        google_authorize_url,
    };
    use secrecy::ExposeSecret;
    use serde_json::json;
    use wiremock::matchers::{body_string_contains, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::{mode, store};

    const SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";
    const REFRESH: &str = "1//0gGoogleRefreshToken";

    fn settings(google: &MockServer) -> GoogleUserSettings {
        GoogleUserSettings {
            auth_url: format!("{}/o/oauth2/v2/auth", google.uri()),
            token_url: format!("{}/token", google.uri()),
            ..GoogleUserSettings::new(
                "123-desktop.apps.googleusercontent.com",
                "GOCSPX-secret".into(),
                "http://127.0.0.1:8766/",
            )
        }
    }

    fn refresh_answers(access_token: &str) -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(
            json!({"access_token": access_token, "expires_in": 3599, "scope": SCOPE, "token_type": "Bearer"}),
        )
    }

    #[tokio::test]
    async fn consent_stores_an_encrypted_refresh_token_that_serves_the_sheets_hub() {
        let google = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(&google);

        let (url, consent) = google_authorize_url(&settings).unwrap();
        let url = url::Url::parse(&url).unwrap();
        let query: std::collections::BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        assert_eq!(query["scope"], SCOPE);
        assert_eq!((query["access_type"].as_str(), query["prompt"].as_str()), ("offline", "consent"));
        assert_eq!(query["code_challenge_method"], "S256");
        let redirected = format!("http://127.0.0.1:8766/?state={}&code=4/0AXcode&scope={SCOPE}", query["state"]);

        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("grant_type=authorization_code"))
            .and(body_string_contains("code_verifier="))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "access_token": "ya29.first", "expires_in": 3599, "refresh_token": REFRESH,
                "scope": SCOPE, "token_type": "Bearer"
            })))
            .expect(1)
            .mount(&google)
            .await;
        let grant = complete_google_authorization(&settings, &store(dir.path()), &redirected, consent).await.unwrap();
        assert_eq!(grant.refresh_token.expose_secret(), REFRESH);

        let file = dir.path().join(GoogleGrant::FILE);
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(REFRESH.len()).any(|w| w == REFRESH.as_bytes()));
        assert_eq!(mode(&file), 0o600);

        Mock::given(method("POST"))
            .and(path("/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .respond_with(refresh_answers("ya29.second"))
            .expect(1)
            .mount(&google)
            .await;
        let tokens = GoogleUserTokens::new(&settings, store(dir.path())).unwrap();
        let hub_auth: Box<dyn GetToken> = Box::new(tokens.clone());
        for _ in 0..3 {
            assert_eq!(hub_auth.get_token(&[SCOPE]).await.unwrap().as_deref(), Some("ya29.second"));
        }
        let shown = format!("{tokens:?} {grant:?} {settings:?}");
        assert!(!shown.contains(REFRESH) && !shown.contains("GOCSPX-secret"), "{shown}");
    }

    #[tokio::test]
    async fn a_foreign_state_is_refused_before_the_code_is_sent() {
        let google = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(&google);
        Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)).expect(0).mount(&google).await;
        let (_, consent) = google_authorize_url(&settings).unwrap();
        let forged = "http://127.0.0.1:8766/?state=forged&code=4/0AXcode";
        let error = complete_google_authorization(&settings, &store(dir.path()), forged, consent).await.unwrap_err();
        assert!(matches!(error, AuthError::StateMismatch), "{error:?}");
        assert!(GoogleGrant::load(&store(dir.path())).unwrap().is_none());
    }

    #[tokio::test]
    async fn a_withdrawn_consent_asks_for_a_new_one_without_hammering() {
        let google = MockServer::start().await;
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(&google);
        let missing = GoogleUserTokens::new(&settings, store(dir.path())).unwrap_err();
        assert!(matches!(missing, AuthError::GoogleNeedsConsent { .. }), "{missing:?}");

        GoogleGrant { refresh_token: REFRESH.into(), updated_at: chrono::Utc::now() }.save(&store(dir.path())).unwrap();
        Mock::given(method("POST"))
            .and(path("/token"))
            .respond_with(ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
            ))
            .expect(1)
            .mount(&google)
            .await;
        let tokens = GoogleUserTokens::new(&settings, store(dir.path())).unwrap();
        for _ in 0..5 {
            let error = tokens.access_token().await.unwrap_err();
            assert!(error.to_string().contains("run `qbsync auth google`"), "{error}");
        }
    }
}
