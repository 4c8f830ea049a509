//! `qbsync daemon` as systemd runs it: READY once it can work, the status page while it runs,
//! STOPPING and exit status 0 on SIGTERM — and a QuickBooks connection that needs re-connecting
//! at start, which is a state to show and wait out, not a failed start.

use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use qbsync::auth::{TokenKey, TokenStore};
use qbsync::sandbox::{SANDBOX_TOKEN_KEY, SandboxOptions};
use secrecy::SecretString;
use serde_json::Value;
use tempfile::TempDir;
use tokio::process::Child;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::{FAST_CLIENTS, World};

const WAITING: &str = "STATUS=waiting for QuickBooks to be re-connected: run `qbsync auth`";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A fake `$NOTIFY_SOCKET`. Read on a thread of its own as messages come: a datagram socket
/// queues only a few (net.unix.max_dgram_qlen) before the sender blocks.
struct Notifications {
    path: PathBuf,
    received: Arc<Mutex<Vec<(Instant, String)>>>,
    done: Arc<AtomicBool>,
    _dir: TempDir,
}

impl Notifications {
    fn listen() -> Notifications {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let (sink, stop) = (received.clone(), done.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop.load(Ordering::SeqCst) {
                if let Ok(n) = socket.recv(&mut buf) {
                    let at = Instant::now();
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    sink.lock().unwrap().extend(text.lines().map(|line| (at, line.to_owned())));
                }
            }
        });
        Notifications { path, received, done, _dir: dir }
    }

    fn received(&self) -> Vec<(Instant, String)> {
        self.received.lock().unwrap().clone()
    }

    fn text(&self) -> String {
        self.received().into_iter().map(|(_, line)| line + "\n").collect()
    }

    /// When the first message starting with `prefix` arrived after `since`; waits up to 60 s.
    async fn first_after(&self, since: Instant, prefix: &str) -> Instant {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some((at, _)) =
                self.received().into_iter().find(|(at, line)| *at >= since && line.starts_with(prefix))
            {
                return at;
            }
            assert!(Instant::now() < deadline, "no {prefix:?} after the mark in:\n{}", self.text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn first(&self, prefix: &str) -> Instant {
        self.first_after(Instant::now() - Duration::from_secs(3600), prefix).await
    }
}

impl Drop for Notifications {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// `qbsync daemon --interval 1` as systemd would start it, its status page on `port`, its
/// output in the world's children log.
fn start_daemon(world: &World, notify: &Notifications, port: u16, env: &[(&str, &str)]) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(world.log_path()).unwrap();
    let mut command = world.command(&["daemon", "--interval", "1"]);
    command
        .env("NOTIFY_SOCKET", &notify.path)
        .env("QBSYNC_STATUS_ADDR", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    command.spawn().unwrap()
}

/// SIGTERM, as `systemctl stop` sends it; asserts exit status 0 and STOPPING=1.
async fn stop(mut daemon: Child, notify: &Notifications, world: &World) {
    let pid = daemon.id().expect("the daemon is running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exited = tokio::time::timeout(Duration::from_secs(30), daemon.wait()).await.expect("the daemon exits").unwrap();
    assert!(exited.success(), "exit status 0 on SIGTERM, got {exited}:\n{}", world.log_tail(30));
    notify.first("STOPPING=1").await;
}

/// `/status.json`, once `check` accepts it (60 s at most).
async fn status_when(port: u16, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let url = format!("http://127.0.0.1:{port}/status.json");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = Value::Null;
    loop {
        if let Ok(response) = reqwest::get(&url).await {
            last = response.json().await.unwrap();
            if check(&last) {
                return last;
            }
        }
        assert!(Instant::now() < deadline, "the status page never showed {what}; last:\n{last:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn get(port: u16, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("http://127.0.0.1:{port}{path}")).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The `text` of every alert the webhook received, in order.
async fn alerts(webhook: &MockServer) -> Vec<String> {
    let requests = webhook.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            body["text"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_notifies_systemd_serves_its_status_and_stops_cleanly_on_sigterm() {
    let world = World::demo().await;
    world.migrate(false).await;
    let notify = Notifications::listen();
    let port = free_port();
    let daemon = start_daemon(&world, &notify, port, &[]);

    notify.first("READY=1").await;
    let status = status_when(port, "13 synced invoices", |s| s["invoices"]["synced"] == 13).await;
    assert_eq!(status["invoices"]["failed"], 7);
    assert_eq!(status["quickbooks"]["connected"], true);
    assert!(status["last_success"].is_string(), "{status}");
    let (_, page) = get(port, "/").await;
    assert!(page.contains("Wayne Enterprises"), "the card lists recent failures");
    let (_, metrics) = get(port, "/metrics").await;
    assert!(metrics.contains("qbsync_"), "{metrics}");

    stop(daemon, &notify, &world).await;
    assert_eq!(world.sandbox.qbo.invoices().len(), 13);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_needs_reconnecting_at_start_is_shown_and_waited_out_until_qbsync_auth() {
    let world = World::start(SandboxOptions::default(), &FAST_CLIENTS).await;
    world.migrate(false).await;
    let webhook = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).mount(&webhook).await;

    // While the daemon was down for longer than an access token lives, the app was disconnected
    // at Intuit: the first token request at start is answered `invalid_grant`.
    world.sandbox.intuit.revoke_all();
    let key = TokenKey::from_text(&SecretString::from(SANDBOX_TOKEN_KEY)).unwrap();
    let store = TokenStore::open(&world.state_dir(), key).unwrap();
    let mut grant = store.load().unwrap().expect("the world is connected");
    grant.access_expires_at = Some(chrono::Utc::now() - chrono::TimeDelta::minutes(1));
    store.save(&grant).unwrap();
    let refusals_before = world.sandbox.intuit.stats().invalid_grants;

    let notify = Notifications::listen();
    let port = free_port();
    let hook = format!("{}/alerts", webhook.uri());
    // Pings only while progress was reported within 1.5 s: the wait must keep reporting it.
    let env = [("QBSYNC_ALERT_WEBHOOK_URL", hook.as_str()), ("WATCHDOG_USEC", "1500000")];
    let daemon = start_daemon(&world, &notify, port, &env);

    let ready = notify.first("READY=1").await;
    notify.first(WAITING).await;
    let waiting =
        status_when(port, "QuickBooks needing a re-connect", |s| s["quickbooks"]["needs_reconnect"].is_string()).await;
    assert_eq!(waiting["quickbooks"]["connected"], false, "{waiting:#}");
    assert!(waiting["quickbooks"]["needs_reconnect"].as_str().unwrap().contains("invalid_grant"), "{waiting:#}");
    assert_eq!(waiting["invoices"]["synced"], 0, "{waiting:#}");
    let (_, page) = get(port, "/").await;
    assert!(page.contains(r#"id="reconnect-banner""#), "the card says to run `qbsync auth`");
    let (health, _) = get(port, "/healthz").await;
    assert_eq!(health, 503);

    // Well past the watchdog interval after start, the wait is still pinging it, and has
    // created nothing, asked Intuit nothing more and alerted once.
    notify.first_after(ready + Duration::from_secs(3), "WATCHDOG=1").await;
    assert!(world.sandbox.qbo.invoices().is_empty(), "nothing is created while QuickBooks is not connected");
    let qb_ids = world.col("qb_invoice_id");
    assert!(world.sheet().iter().skip(1).all(|row| row.get(qb_ids).is_none_or(|c| c.as_text().is_empty())));
    assert_eq!(world.sandbox.intuit.stats().invalid_grants, refusals_before + 1, "one refusal, then no hammering");
    let sent = alerts(&webhook).await;
    assert_eq!(sent.len(), 1, "one alert for one problem: {sent:?}");
    assert!(sent[0].contains("QuickBooks needs to be re-connected") && sent[0].contains("qbsync auth"), "{sent:?}");

    // A person re-connects with the command users run; the daemon picks it up by itself.
    let (fresh, _) = world.sandbox.intuit.issue_grant();
    let realm = world.sandbox.options.realm_id.clone();
    let (auth, output) = world.run_cli(&["auth", "--refresh-token", &fresh, "--realm-id", &realm]).await;
    assert!(auth.success(), "{output}");

    let synced = status_when(port, "13 synced invoices", |s| s["invoices"]["synced"] == 13).await;
    assert_eq!(synced["invoices"]["failed"], 7, "{synced:#}");
    assert_eq!(synced["quickbooks"]["connected"], true, "{synced:#}");
    assert!(synced["quickbooks"]["needs_reconnect"].is_null(), "{synced:#}");
    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), 13);
    let sheet = world.sheet();
    let numbers = world.col("invoice");
    for invoice in &invoices {
        let number = invoice.doc_number.as_deref().expect("a document number");
        let ids: Vec<String> = sheet
            .iter()
            .filter(|row| row.get(numbers).is_some_and(|c| c.as_text() == number))
            .map(|row| row.get(qb_ids).map(|c| c.as_text().into_owned()).unwrap_or_default())
            .collect();
        assert!(!ids.is_empty() && ids.iter().all(|id| *id == invoice.id), "{number}: {ids:?} vs {}", invoice.id);
    }
    let sent = alerts(&webhook).await;
    assert_eq!(
        sent.iter().filter(|text| text.contains("resolved — QuickBooks is connected again")).count(),
        1,
        "{sent:?}"
    );
    assert_eq!(sent.iter().filter(|text| !text.contains("resolved") && text.contains("re-connected")).count(), 1);

    stop(daemon, &notify, &world).await;
    assert_eq!(notify.text().matches("READY=1").count(), 1, "{}", notify.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_while_waiting_for_a_first_connection_exits_cleanly() {
    let world = World::demo().await;
    world.migrate(false).await;
    // Never connected (or disconnected with `qbsync auth --revoke`): nothing stored.
    std::fs::remove_file(world.state_dir().join(TokenStore::FILE)).unwrap();

    let notify = Notifications::listen();
    let port = free_port();
    let daemon = start_daemon(&world, &notify, port, &[]);
    notify.first("READY=1").await;
    notify.first(WAITING).await;
    let waiting =
        status_when(port, "QuickBooks needing a connection", |s| s["quickbooks"]["needs_reconnect"].is_string()).await;
    assert!(
        waiting["quickbooks"]["needs_reconnect"].as_str().unwrap().contains("no QuickBooks connection is stored"),
        "{waiting:#}"
    );

    stop(daemon, &notify, &world).await;
    assert!(world.sandbox.qbo.invoices().is_empty());
    assert_eq!(world.sandbox.intuit.stats().refreshes, 1, "only the world's own set-up refreshed");
}
