//! `qbsync auth` through the binary: the full connect flow through the emulated consent page
//! (the test plays the browser), the pasted answer of a headless server, importing a refresh
//! token, disconnecting, and `qbsync auth google` for a person's own Google account.

use std::process::Stdio;
use std::time::Duration;

use qbsync::doctor::names::*;
use qbsync::doctor::{self, Options, Outcome};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::{assert_exit, load, qbsync, qbsync_with_stdin, state_dir, stderr, stdout, with, without};
use crate::support::World;

const REALM: &str = "9341453100000000";

/// The demo world with its QuickBooks connection removed, as before a first `qbsync auth`.
async fn unconnected() -> World {
    let world = World::demo().await;
    std::fs::remove_file(state_dir(&world.env).join("tokens.enc")).expect("a stored grant to remove");
    world
}

/// A `qbsync` the test talks to while it runs.
struct Session {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: String,
}

impl Session {
    fn start(env: &[(String, String)], args: &[&str]) -> Session {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_qbsync"))
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .current_dir(env!("CARGO_TARGET_TMPDIR"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("qbsync starts");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Session { child, lines, seen: String::new() }
    }

    /// Reads output until a line containing `fragment`; returns that line, trimmed.
    async fn line_with(&mut self, fragment: &str) -> String {
        let read = async {
            while let Some(line) = self.lines.next_line().await.expect("stdout readable") {
                self.seen.push_str(&line);
                self.seen.push('\n');
                if line.contains(fragment) {
                    return line.trim().to_owned();
                }
            }
            panic!("qbsync ended without printing {fragment:?}:\n{}", self.seen)
        };
        tokio::time::timeout(Duration::from_secs(30), read).await.expect("qbsync answers in time")
    }

    async fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().expect("stdin");
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Waits for the end; returns the exit code, all of stdout and stderr.
    async fn finish(mut self) -> (Option<i32>, String, String) {
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.expect("ends").unwrap();
        while let Some(line) = self.lines.next_line().await.unwrap() {
            self.seen.push_str(&line);
            self.seen.push('\n');
        }
        let mut err = String::new();
        self.child.stderr.take().unwrap().read_to_string(&mut err).await.unwrap();
        (status.code(), self.seen, err)
    }
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Plays the person at the consent page: returns where the browser is sent next.
async fn consent(url: &str) -> String {
    let answer = no_redirects().get(url).send().await.unwrap();
    assert_eq!(answer.status(), 302, "the emulated consent page redirects");
    answer.headers()["location"].to_str().unwrap().to_owned()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn auth_connects_through_the_consent_page_and_the_redirect_listener() {
    let world = unconnected().await;
    let redirect = format!("http://127.0.0.1:{}/callback", free_port());
    world.sandbox.intuit.register_redirect_uri(&redirect);
    let env = with(&world.env, &[("QB_REDIRECT_URI", redirect.as_str())]);

    let mut session = Session::start(&env, &["auth"]);
    let url = session.line_with("/connect/oauth2").await;
    assert!(url.starts_with(world.sandbox.base_url()), "{url}");
    assert!(url.contains("scope=com.intuit.quickbooks.accounting"), "{url}");
    session.line_with("Waiting for the browser").await;

    let back = consent(&url).await;
    assert!(back.starts_with(&redirect), "{back}");
    let page = reqwest::get(&back).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("You can close this tab"));

    let (code, out, err) = session.finish().await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("Connected to QuickBooks company \"Sandbox Company_US_1\"."), "{out}");
    assert!(out.contains(&format!("realm id:      {REALM}")), "{out}");
    assert!(out.contains("environment:   sandbox"), "{out}");
    assert!(out.contains("refresh token: valid until"), "{out}");
    assert!(out.contains("reconnect by:"), "{out}");
    assert!(out.contains("Next: `qbsync doctor`"), "QB_REALM_ID is already set: {out}");
    assert_eq!(world.sandbox.intuit.stats().code_exchanges, 1);

    let report = doctor::diagnose(&load(&env), Options { offline: true }).await;
    assert_eq!(report.get(QUICKBOOKS_GRANT).unwrap().outcome, Outcome::Pass, "{}", report.render());
}

#[tokio::test]
async fn auth_takes_a_pasted_answer_and_refuses_a_foreign_one() {
    let world = unconnected().await;
    // Without QB_REALM_ID: whichever company the person picks, and qbsync says which it was.
    let env = without(&world.env, &["QB_REALM_ID"]);

    let mut session = Session::start(&env, &["auth", "--paste"]);
    let url = session.line_with("/connect/oauth2").await;
    session.line_with("paste it here").await;
    let back = consent(&url).await;
    assert!(back.starts_with("http://localhost:8765/callback?"), "{back}");
    session.type_line(&back).await;
    let (code, out, err) = session.finish().await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("Connected to QuickBooks company \"Sandbox Company_US_1\"."), "{out}");
    assert!(out.contains(&format!("Add QB_REALM_ID={REALM} to your .env")), "{out}");

    // A redirect URI on another host (a headless server behind a web site): nothing to listen
    // on, so the pasted address is asked for without `--paste`.
    let remote = "https://qbsync.example.com/callback";
    world.sandbox.intuit.register_redirect_uri(remote);
    let mut session = Session::start(&with(&env, &[("QB_REDIRECT_URI", remote)]), &["auth"]);
    session.line_with("Not listening").await;
    let url = session.line_with("/connect/oauth2").await;
    let back = consent(&url).await;
    assert!(back.starts_with(remote), "{back}");
    session.type_line(&back).await;
    let (code, out, err) = session.finish().await;
    assert_eq!(code, Some(0), "{out}\n{err}");

    // An answer that belongs to another attempt (or was forged) is refused, not warned about.
    let mut session = Session::start(&env, &["auth", "--paste"]);
    let url = session.line_with("/connect/oauth2").await;
    let foreign = consent(&url.replace("state=", "state=x")).await;
    session.type_line(&foreign).await;
    let (code, out, err) = session.finish().await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(err.contains("state mismatch"), "{err}");
    assert!(err.contains("refused"), "{err}");
}

#[tokio::test]
async fn auth_imports_a_refresh_token_and_revoke_disconnects() {
    let world = unconnected().await;
    let env = &world.env;
    let (refresh, _) = world.sandbox.intuit.issue_grant();

    let output = qbsync(env, &["auth", "--refresh-token", &refresh, "--realm-id", REALM]).await;
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("Connected to QuickBooks company \"Sandbox Company_US_1\"."),
        "{}",
        stdout(&output)
    );
    let rotations = world.sandbox.intuit.stats().rotations;
    assert!(rotations >= 1, "the import is proven by a refresh");

    // From standard input, out of the shell history.
    let (refresh, _) = world.sandbox.intuit.issue_grant();
    let output = qbsync_with_stdin(env, &["auth", "--refresh-token", "-", "--realm-id", REALM], &refresh).await;
    assert_exit(&output, 0);

    let output = qbsync(env, &["auth", "--refresh-token", "AB11not-a-token", "--realm-id", REALM]).await;
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("Intuit refused that refresh token"), "{}", stderr(&output));
    assert!(!stderr(&output).contains("AB11not-a-token"), "the token is not repeated back");

    let output = qbsync(env, &["auth", "--refresh-token", &refresh]).await;
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--realm-id"), "{}", stderr(&output));

    let store = state_dir(env).join("tokens.enc");
    assert!(store.exists());
    let output = qbsync(env, &["auth", "--revoke"]).await;
    assert_exit(&output, 0);
    assert!(stdout(&output).contains(&format!("Disconnected QuickBooks company {REALM}")), "{}", stdout(&output));
    assert!(!store.exists(), "the local tokens are deleted");
    assert!(world.sandbox.intuit.stats().revocations >= 1, "revoked at Intuit");
    let output = qbsync(env, &["auth", "--revoke"]).await;
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("No QuickBooks company was connected"), "{}", stdout(&output));
}

#[tokio::test]
async fn auth_google_connects_a_persons_own_account_for_the_sheet() {
    let world = World::demo().await;
    world.migrate(false).await;
    // Google's consent and token endpoints; the access token is one the Sheets emulator honours.
    let google = MockServer::start().await;
    let access_token = world.sandbox.google.issue_token_for("person@example.com");
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access_token,
            "expires_in": 3599,
            "refresh_token": "1//person-refresh-token-0123456789",
            "scope": "https://www.googleapis.com/auth/spreadsheets",
            "token_type": "Bearer"
        })))
        .mount(&google)
        .await;
    let auth_url = format!("{}/auth", google.uri());
    let token_url = format!("{}/token", google.uri());
    let env = with(
        &without(&world.env, &["GOOGLE_SERVICE_ACCOUNT_JSON"]),
        &[
            ("QBSYNC_GOOGLE_CLIENT_ID", "person-client.apps.googleusercontent.com"),
            ("QBSYNC_GOOGLE_CLIENT_SECRET", "GOCSPX-person-secret"),
            ("QBSYNC_GOOGLE_AUTH_URL", auth_url.as_str()),
            ("QBSYNC_GOOGLE_TOKEN_URL", token_url.as_str()),
        ],
    );
    let before = doctor::diagnose(&load(&env), Options { offline: true }).await;
    let configured = before.get(GOOGLE_CONFIGURED).unwrap();
    assert_eq!(configured.outcome, Outcome::Fail);
    assert!(configured.fix.as_deref().unwrap().contains("run `qbsync auth google`"), "{configured:?}");

    // The browser comes back to a loopback port qbsync picked and listens on.
    let mut session = Session::start(&env, &["auth", "google"]);
    let url = session.line_with(&auth_url).await;
    let consent_url = url::Url::parse(&url).unwrap();
    let param = |name: &str| consent_url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    assert_eq!(param("scope").as_deref(), Some("https://www.googleapis.com/auth/spreadsheets"));
    assert_eq!(param("access_type").as_deref(), Some("offline"));
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    let redirect = param("redirect_uri").unwrap();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    session.line_with("Waiting for the browser").await;
    let back = format!("{redirect}?state={}&code=4/person-code", param("state").unwrap());
    assert_eq!(reqwest::get(&back).await.unwrap().status(), 200);
    let (code, out, err) = session.finish().await;
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(out.contains("Connected your Google account"), "{out}");
    assert!(out.contains("The sheet \"qbsync sandbox\" is reachable with it."), "{out}");
    let exchange = &google.received_requests().await.unwrap()[0];
    let body = String::from_utf8_lossy(&exchange.body);
    assert!(body.contains("code=4%2Fperson-code") && body.contains("code_verifier="), "PKCE: {body}");

    let sealed = std::fs::read(state_dir(&env).join("google-tokens.enc")).expect("stored");
    assert!(!String::from_utf8_lossy(&sealed).contains("person-refresh-token"), "stored encrypted");

    // Every command now reads the sheet as that person.
    let report = doctor::diagnose(&load(&env), Options::default()).await;
    for name in [GOOGLE_CONFIGURED, GOOGLE_CREDENTIALS, SHEET, HEADERS] {
        let found = report.get(name).unwrap();
        assert_eq!(found.outcome, Outcome::Pass, "{}", report.render());
    }
    assert!(report.get(GOOGLE_CREDENTIALS).unwrap().detail.contains("your own Google account"));

    let output = qbsync(&env, &["auth", "google", "--revoke"]).await;
    assert_exit(&output, 0);
    assert!(!state_dir(&env).join("google-tokens.enc").exists());
}
