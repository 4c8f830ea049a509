//! Running it for real: the systemd unit (checked by `systemd-analyze`), log rotation, the
//! status server over HTTP and in a real headless Chromium, and alerts delivered to a local
//! webhook receiver and a local SMTP server.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use qbsync::ops::alerts::{AlertSettings, Alerter, Problem};
use qbsync::ops::logging::{self, LogOptions};
use qbsync::ops::metrics::Metrics;
use qbsync::ops::status::{self, GoogleStatus, QuickBooksStatus, StatusReport};
use qbsync::ops::web::{self, HealthPolicy};
use qbsync::store::{AuditEvent, Kind, NewAudit, PassRecord, RowRecord, RowStatus, Store};
use secrecy::SecretString;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::watch;

// ----- systemd unit ----------------------------------------------------------------------------

const SYSTEMD_ANALYZE: &str = "/usr/bin/systemd-analyze";

/// The shipped unit, with the binary path pointed at the binary this test run built (verify
/// checks that `ExecStart=` exists).
fn unit_copy(dir: &Path) -> PathBuf {
    assert!(
        Path::new(SYSTEMD_ANALYZE).exists(),
        "{SYSTEMD_ANALYZE} is missing: install the `systemd` package (.ci/install-deps does)"
    );
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("systemd/qbsync.service");
    let text = std::fs::read_to_string(&shipped).expect("systemd/qbsync.service");
    assert!(text.contains("ExecStart=/usr/local/bin/qbsync daemon"));
    assert!(text.contains("ExecStartPre=/usr/local/bin/qbsync doctor --offline"));
    let unit = dir.join("qbsync.service");
    std::fs::write(&unit, text.replace("/usr/local/bin/qbsync", env!("CARGO_BIN_EXE_qbsync"))).expect("write unit");
    unit
}

#[test]
fn systemd_unit_verifies_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let unit = unit_copy(dir.path());
    let output = std::process::Command::new(SYSTEMD_ANALYZE).arg("verify").arg(&unit).output().expect("run verify");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "systemd-analyze verify failed:\n{stderr}");
    assert!(stderr.trim().is_empty(), "systemd-analyze verify complained:\n{stderr}");
}

#[test]
fn systemd_unit_security_exposure_is_at_most_2() {
    let dir = tempfile::tempdir().expect("dir");
    let unit = unit_copy(dir.path());
    let output = std::process::Command::new(SYSTEMD_ANALYZE)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("run systemd-analyze security");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .find(|line| line.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure line:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable exposure line: {line}"));
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{stdout}");
}

// ----- logs ------------------------------------------------------------------------------------

fn utc_dates_around(run: impl FnOnce()) -> Vec<String> {
    let before = Utc::now().format("%Y-%m-%d").to_string();
    run();
    let after = Utc::now().format("%Y-%m-%d").to_string();
    vec![before, after]
}

fn log_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("log dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("quickbooks_sync.log"))
        .collect();
    names.sort();
    names
}

#[test]
fn log_file_is_dated_and_old_files_are_pruned() {
    let dir = tempfile::tempdir().expect("dir");
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    for day in 1..=5 {
        std::fs::write(logs.join(format!("quickbooks_sync.log.2020-01-0{day}")), "old\n").expect("old log");
        // Pruning orders by creation time; keep the creation order unambiguous.
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::write(logs.join("unrelated.txt"), "keep me\n").expect("other file");

    let options = LogOptions { dir: logs.clone(), keep_files: 3, ..LogOptions::default() };
    let dates = utc_dates_around(|| {
        let (dispatch, guard) = logging::build(&options).expect("logging");
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!(row_key = "rk-7", doc_number = "INV-1042", qbo_id = "311", "created invoice");
            tracing::debug!("poll details nobody wants at the default level");
        });
        drop(guard); // flushes the background writer
    });

    let files = log_files(&logs);
    let today = files.iter().find(|name| dates.iter().any(|d| **name == format!("quickbooks_sync.log.{d}")));
    let today = today.unwrap_or_else(|| panic!("no file for {dates:?} in {files:?}"));
    assert_eq!(files.len(), 3, "keep_files = 3: {files:?}");
    assert!(files.contains(&"quickbooks_sync.log.2020-01-04".to_owned()), "{files:?}");
    assert!(files.contains(&"quickbooks_sync.log.2020-01-05".to_owned()), "{files:?}");
    assert!(logs.join("unrelated.txt").exists(), "only log files are pruned");

    let text = std::fs::read_to_string(logs.join(today)).expect("today's log");
    assert!(text.contains("created invoice"), "{text}");
    assert!(
        text.contains("row_key=\"rk-7\"")
            && text.contains("doc_number=\"INV-1042\"")
            && text.contains("qbo_id=\"311\""),
        "{text}"
    );
    assert!(!text.contains("poll details"), "debug lines are filtered at `info`: {text}");
    assert!(!text.contains('\u{1b}'), "no colour codes in the file: {text:?}");
}

#[test]
fn json_log_lines_parse() {
    let dir = tempfile::tempdir().expect("dir");
    let options =
        LogOptions { dir: dir.path().to_path_buf(), json: true, level: "debug".into(), ..LogOptions::default() };
    let (dispatch, guard) = logging::build(&options).expect("logging");
    tracing::dispatcher::with_default(&dispatch, || tracing::warn!(doc_number = "B-7", "bill failed"));
    drop(guard);
    let files = log_files(dir.path());
    assert_eq!(files.len(), 1, "{files:?}");
    let text = std::fs::read_to_string(dir.path().join(&files[0])).expect("log");
    let line: serde_json::Value = serde_json::from_str(text.lines().next().expect("a line")).expect("JSON line");
    assert_eq!(line["level"], "WARN");
    assert_eq!(line["fields"]["message"], "bill failed");
    assert_eq!(line["fields"]["doc_number"], "B-7");
}

#[test]
fn a_bad_level_is_a_clear_error() {
    let options = LogOptions { level: "info,[[[".into(), to_file: false, ..LogOptions::default() };
    let error = logging::build(&options).err().expect("refused");
    assert!(error.to_string().contains("not a valid filter"), "{error}");
}

// ----- status report, server and page ------------------------------------------------------------

fn row(key: &str, kind: Kind, status: RowStatus, sheet_row: i64, doc: &str) -> RowRecord {
    RowRecord {
        row_key: key.into(),
        kind,
        doc_key: None,
        doc_number: Some(doc.into()),
        status,
        error: None,
        content_fp: "c".into(),
        config_fp: "f".into(),
        sheet_row: Some(sheet_row),
        synced_at: None,
        preview: None,
    }
}

/// A store that looks like a few weeks of the demo sheet: invoices to the demo customers, bills
/// from the demo vendors, two rows that failed with the errors a bookkeeper would see.
fn realistic_store(dir: &Path, failure_message: &str) -> Store {
    let store = Store::open_in(dir).expect("store");
    let mut n = 1;
    for (kind, status, count) in [
        (Kind::Invoice, RowStatus::Synced, 42),
        (Kind::Invoice, RowStatus::Failed, 2),
        (Kind::Invoice, RowStatus::Skipped, 3),
        (Kind::Invoice, RowStatus::Pending, 1),
        (Kind::Bill, RowStatus::Synced, 17),
        (Kind::Bill, RowStatus::Skipped, 1),
    ] {
        for _ in 0..count {
            n += 1;
            let prefix = if kind == Kind::Invoice { "INV" } else { "BILL" };
            store.put_row(&row(&format!("rk-{n}"), kind, status, n, &format!("{prefix}-{}", 1000 + n))).expect("row");
        }
    }
    let fail = |key: &str, sheet_row: i64, doc: &str, error: &str| {
        store
            .audit_append(
                Kind::Invoice,
                &NewAudit {
                    event: AuditEvent::Rejected,
                    row_key: Some(key),
                    sheet_row: Some(sheet_row),
                    doc_number: Some(doc),
                    status: RowStatus::Failed,
                    error: Some(error),
                    ..NewAudit::new(AuditEvent::Rejected, RowStatus::Failed)
                },
            )
            .expect("audit");
    };
    fail("rk-44", 44, "INV-1044", "Customer \"Acme Training\" is not in QuickBooks. Closest: \"Acme Training Co\"");
    fail("rk-45", 45, "INV-1045", failure_message);
    let now = Utc::now();
    let minutes_ago =
        |m: i64| (now - chrono::Duration::minutes(m)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    store
        .record_pass(&PassRecord {
            started_at: minutes_ago(1),
            finished_at: minutes_ago(1),
            ok: true,
            created: 3,
            failed: 1,
            skipped: 0,
            error: None,
        })
        .expect("pass");
    store
}

fn report_from(store: &Store, quickbooks: QuickBooksStatus) -> StatusReport {
    status::build_report(store, quickbooks, GoogleStatus::ok(), Some(Utc::now() + chrono::Duration::seconds(45)))
        .expect("report")
}

struct StatusServer {
    base: String,
    sender: watch::Sender<StatusReport>,
    metrics: Arc<Metrics>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn status_server(report: StatusReport) -> StatusServer {
    let (sender, source) = watch::channel(report);
    let metrics = Arc::new(Metrics::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let policy = HealthPolicy::for_interval(Duration::from_secs(60));
    let served = Arc::clone(&metrics);
    tokio::spawn(async move {
        let _ = web::serve_on(listener, source, served, policy, async {
            let _ = stopped.await;
        })
        .await;
    });
    StatusServer { base, sender, metrics, _stop: stop }
}

#[tokio::test]
async fn status_server_answers_json_health_and_metrics() {
    let dir = tempfile::tempdir().expect("dir");
    let store = realistic_store(dir.path(), "Amount must not be negative");
    let server = status_server(StatusReport::default()).await;
    let http = reqwest::Client::new();

    // Before the first report: no successful pass yet.
    let health = http.get(format!("{}healthz", server.base)).send().await.expect("healthz");
    assert_eq!(health.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);

    let report = report_from(&store, QuickBooksStatus::connected(None, Utc::now()));
    server.metrics.observe_status(&report);
    server.metrics.pass_finished(
        Duration::from_secs(2),
        true,
        &[(Kind::Invoice, 3)],
        &[(Kind::Invoice, "validation", 1)],
    );
    server.sender.send_replace(report);

    let json: serde_json::Value =
        http.get(format!("{}status.json", server.base)).send().await.expect("json").json().await.expect("parse");
    assert_eq!(
        json["invoices"],
        serde_json::json!({"synced": 42, "failed": 2, "skipped": 3, "pending": 1, "voided": 0, "review": 0})
    );
    assert_eq!(json["bills"]["synced"], 17);
    assert_eq!(json["quickbooks"]["connected"], true);
    assert!(json["last_success"].is_string());
    assert_eq!(json["recent_failures"][0]["sheet_row"], 45);
    assert_eq!(json["recent_failures"][0]["error"], "Amount must not be negative");

    let health = http.get(format!("{}healthz", server.base)).send().await.expect("healthz");
    assert_eq!(health.status(), reqwest::StatusCode::OK);

    let metrics = http.get(format!("{}metrics", server.base)).send().await.expect("metrics");
    assert!(
        metrics.headers()["content-type"].to_str().expect("ascii").starts_with("application/openmetrics-text"),
        "{:?}",
        metrics.headers()
    );
    let text = metrics.text().await.expect("text");
    assert!(text.contains(r#"qbsync_documents_created_total{kind="invoice"} 3"#), "{text}");
    assert!(text.contains(r#"qbsync_rows{kind="invoice",status="failed"} 2"#), "{text}");

    let page = http.get(&server.base).send().await.expect("page");
    let csp = page.headers()["content-security-policy"].to_str().expect("ascii").to_owned();
    assert!(csp.starts_with("default-src 'none'"), "{csp}");
    assert!(page.text().await.expect("html").contains("INV-1045"));

    server.sender.send_modify(|r| r.quickbooks = QuickBooksStatus::needs_reconnect("invalid_grant"));
    let health = http.get(format!("{}healthz", server.base)).send().await.expect("healthz");
    assert_eq!(health.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = health.json().await.expect("json");
    assert!(body["reasons"][0].as_str().expect("reason").contains("qbsync auth"), "{body}");
}

const CHROMIUM: &str = "/usr/bin/chromium";

/// Runs headless Chromium (Debian's) with the flags this machine's closed network needs.
async fn chromium(profile: &Path, args: &[String]) -> String {
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run .ci/install-deps (apt-get install chromium)");
    let mut command = tokio::process::Command::new(CHROMIUM);
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .expect("chromium finished within 90 s")
        .expect("chromium ran");
    assert!(output.status.success(), "chromium failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn count_in(dom: &str, id: &str) -> Option<u64> {
    let marker = format!(r#"data-count="{id}">"#);
    let start = dom.find(&marker)? + marker.len();
    dom[start..].split('<').next()?.trim().parse().ok()
}

#[tokio::test]
async fn status_page_renders_in_chromium_with_counts_and_reconnect_banner() {
    let dir = tempfile::tempdir().expect("dir");
    let store = realistic_store(dir.path(), "<script>document.title='pwned'</script> Amount must not be negative");
    let expires = Utc::now() + chrono::Duration::days(87);
    let server = status_server(report_from(&store, QuickBooksStatus::connected(Some(expires), Utc::now()))).await;

    let dom = chromium(&dir.path().join("profile-1"), &["--dump-dom".into(), server.base.clone()]).await;
    assert!(dom.contains("<title>qbsync status</title>"), "the injected script must not run: {dom}");
    assert_eq!(count_in(&dom, "invoices-synced"), Some(42), "{dom}");
    assert_eq!(count_in(&dom, "invoices-failed"), Some(2));
    assert_eq!(count_in(&dom, "invoices-skipped"), Some(3));
    assert_eq!(count_in(&dom, "invoices-pending"), Some(1));
    assert_eq!(count_in(&dom, "bills-synced"), Some(17));
    assert!(dom.contains("&lt;script&gt;document.title="), "the message is shown as text: {dom}");
    assert!(dom.contains(r#"<td class="row">44</td>"#), "{dom}");
    assert!(!dom.contains("reconnect-banner"), "{dom}");

    // The picture for README: the same page over realistic data.
    let realistic_dir = tempfile::tempdir().expect("dir");
    let realistic = realistic_store(realistic_dir.path(), "Amount must not be negative (inv_dollars is -150.00)");
    server.sender.send_replace(report_from(&realistic, QuickBooksStatus::connected(Some(expires), Utc::now())));
    let screenshot = dir.path().join("status-page.png");
    chromium(
        &dir.path().join("profile-2"),
        &[format!("--screenshot={}", screenshot.display()), "--window-size=1000,760".into(), server.base.clone()],
    )
    .await;
    let png = std::fs::read(&screenshot).expect("screenshot written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000, "a real picture");
    if std::env::var_os("QBSYNC_UPDATE_SCREENSHOT").is_some() {
        // `QBSYNC_UPDATE_SCREENSHOT=1 cargo test --test it ops::status_page` refreshes README's picture.
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page.png");
        std::fs::copy(&screenshot, docs).expect("update docs/status-page.png");
    }

    // The token is revoked: the next report says so and the banner appears.
    server.sender.send_replace(report_from(
        &store,
        QuickBooksStatus::needs_reconnect("Intuit answered invalid_grant: the refresh token was revoked"),
    ));
    let dom = chromium(&dir.path().join("profile-3"), &["--dump-dom".into(), server.base.clone()]).await;
    assert!(dom.contains(r#"id="reconnect-banner""#), "{dom}");
    assert!(dom.contains("QuickBooks must be re-connected."), "{dom}");
    assert!(dom.contains("the refresh token was revoked"), "{dom}");

    if std::env::var_os("QBSYNC_UPDATE_SCREENSHOT").is_some() {
        server.sender.send_replace(report_from(
            &realistic,
            QuickBooksStatus::needs_reconnect("Intuit answered invalid_grant: the refresh token was revoked"),
        ));
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/status-page-reconnect.png");
        chromium(
            &dir.path().join("profile-4"),
            &[format!("--screenshot={}", docs.display()), "--window-size=1000,840".into(), server.base.clone()],
        )
        .await;
    }
}

// ----- alerts ----------------------------------------------------------------------------------

const WEBHOOK_SECRET: &str = "T0KEN-WEBHOOK-SECRET-9f2c";
const SMTP_PASSWORD: &str = "pa55-SMTP-SECRET-41d0";

#[derive(Clone, Default)]
struct Webhook {
    posts: Arc<Mutex<Vec<serde_json::Value>>>,
    fail_next: Arc<AtomicUsize>,
}

async fn webhook_receiver() -> (SocketAddr, Webhook) {
    async fn hook(State(hook): State<Webhook>, Json(body): Json<serde_json::Value>) -> StatusCode {
        if hook.fail_next.load(Ordering::SeqCst) > 0 {
            hook.fail_next.fetch_sub(1, Ordering::SeqCst);
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        hook.posts.lock().expect("posts").push(body);
        StatusCode::OK
    }
    let state = Webhook::default();
    let app = axum::Router::new()
        .route(&format!("/services/{WEBHOOK_SECRET}"), axum::routing::post(hook))
        .with_state(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, state)
}

/// What the SMTP sink received in one transaction.
#[derive(Clone, Debug, Default)]
struct Mail {
    auth: Option<String>,
    from: String,
    to: Vec<String>,
    data: String,
}

/// A minimal SMTP server (RFC 5321 subset: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP,
/// QUIT) that keeps every message it accepts.
async fn smtp_sink() -> (SocketAddr, Arc<Mutex<Vec<Mail>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mails = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&mails);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = Arc::clone(&kept);
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read);
                let mut mail = Mail::default();
                let mut auth = None;
                let _ = write.write_all(b"220 sink.test ESMTP\r\n").await;
                let mut line = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let command = line.trim_end().to_owned();
                    let verb = command.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-sink.test\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n",
                        "HELO" => b"250 sink.test\r\n",
                        "AUTH" => {
                            auth = Some(command.clone());
                            b"235 2.7.0 accepted\r\n"
                        }
                        "MAIL" => {
                            mail = Mail { auth: auth.clone(), from: command.clone(), ..Mail::default() };
                            b"250 ok\r\n"
                        }
                        "RCPT" => {
                            mail.to.push(command.clone());
                            b"250 ok\r\n"
                        }
                        "DATA" => {
                            let _ = write.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            loop {
                                line.clear();
                                if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                    return;
                                }
                                if line == ".\r\n" {
                                    break;
                                }
                                data.push_str(if line.starts_with("..") { &line[1..] } else { &line });
                            }
                            mail.data = data;
                            kept.lock().expect("mails").push(std::mem::take(&mut mail));
                            b"250 queued\r\n"
                        }
                        "RSET" | "NOOP" => b"250 ok\r\n",
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => b"502 not implemented\r\n",
                    };
                    if write.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, mails)
}

/// The readable text of a message: headers as they are, the body decoded from its transfer
/// encoding (a secret must not hide behind base64 or quoted-printable).
fn readable(data: &str) -> String {
    let (headers, body) = data.split_once("\r\n\r\n").unwrap_or((data, ""));
    let encoding = headers
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-transfer-encoding:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    let body = match encoding.as_str() {
        "base64" => {
            let compact: String = body.split_whitespace().collect();
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(compact).expect("base64 body"))
                .expect("utf8 body")
        }
        "quoted-printable" => {
            let joined = body.replace("=\r\n", "");
            let mut bytes = Vec::new();
            let raw = joined.as_bytes();
            let mut i = 0;
            while i < raw.len() {
                if raw[i] == b'='
                    && i + 3 <= raw.len()
                    && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
                {
                    bytes.push(byte);
                    i += 3;
                    continue;
                }
                bytes.push(raw[i]);
                i += 1;
            }
            String::from_utf8(bytes).expect("utf8 body")
        }
        _ => body.to_owned(),
    };
    format!("{headers}\r\n\r\n{body}")
}

fn subject(data: &str) -> String {
    data.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap_or_default().to_owned()
}

struct Receivers {
    webhook: Webhook,
    mails: Arc<Mutex<Vec<Mail>>>,
    settings: AlertSettings,
}

impl Receivers {
    async fn start() -> Receivers {
        let (hook_addr, webhook) = webhook_receiver().await;
        let (smtp_addr, mails) = smtp_sink().await;
        let settings = AlertSettings {
            webhook_url: Some(SecretString::from(format!("http://{hook_addr}/services/{WEBHOOK_SECRET}"))),
            smtp_url: Some(SecretString::from(format!("smtp://alerts:{SMTP_PASSWORD}@{smtp_addr}"))),
            email_to: Some("ops@example.com, Bookkeeper <books@example.com>".into()),
            email_from: Some("qbsync <qbsync@example.com>".into()),
            stale_after: Duration::from_secs(30 * 60),
        };
        Receivers { webhook, mails, settings }
    }

    fn texts(&self) -> Vec<String> {
        let posts = self.webhook.posts.lock().expect("posts");
        posts.iter().map(|p| p["text"].as_str().expect("text field").to_owned()).collect()
    }

    fn subjects(&self) -> Vec<String> {
        self.mails.lock().expect("mails").iter().map(|m| subject(&m.data)).collect()
    }
}

#[tokio::test]
async fn alerts_once_per_problem_survive_a_restart_and_resolve() {
    let receivers = Receivers::start().await;
    let state = tempfile::tempdir().expect("state dir");
    let now: DateTime<Utc> = Utc::now();
    let reconnect = Problem::NeedsReconnect { reason: "invalid_grant".into() };
    let rows = Problem::RowsFailed {
        count: 2,
        sample: vec![
            "row 44 INV-1044: Customer \"Acme Training\" is not in QuickBooks".into(),
            "row 45 INV-1045: <b>Amount</b> must not be negative".into(),
        ],
    };

    let alerter = Alerter::new(receivers.settings.clone(), state.path()).expect("alerter");
    assert!(alerter.has_channels());
    alerter.observe_at(&[reconnect.clone(), rows.clone()], now).await;
    let texts = receivers.texts();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("QuickBooks needs to be re-connected") && t.contains("qbsync auth")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("2 rows failed") && t.contains("row 44 INV-1044")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("&lt;b&gt;Amount")), "Slack markup is escaped: {texts:?}");
    let subjects = receivers.subjects();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(subjects.contains(&"[qbsync] QuickBooks needs to be re-connected".to_owned()), "{subjects:?}");
    {
        let mails = receivers.mails.lock().expect("mails");
        assert_eq!(mails[0].to.len(), 2, "both recipients: {:?}", mails[0].to);
        assert!(mails[0].from.contains("<qbsync@example.com>"), "{}", mails[0].from);
        assert!(mails[0].auth.as_deref().is_some_and(|a| a.starts_with("AUTH PLAIN")), "credentials were used");
    }

    // The problems persist: nothing more, also after a restart (a new Alerter, same state dir).
    alerter.observe_at(&[reconnect.clone(), rows.clone()], now + chrono::Duration::minutes(1)).await;
    drop(alerter);
    let alerter = Alerter::new(receivers.settings.clone(), state.path()).expect("alerter after restart");
    alerter.observe_at(&[rows.clone(), reconnect.clone()], now + chrono::Duration::minutes(2)).await;
    assert_eq!(receivers.texts().len(), 2);
    assert_eq!(receivers.subjects().len(), 2);

    // QuickBooks is re-connected: one "resolved" message per channel.
    alerter.observe_at(std::slice::from_ref(&rows), now + chrono::Duration::minutes(3)).await;
    alerter.observe_at(std::slice::from_ref(&rows), now + chrono::Duration::minutes(4)).await;
    let texts = receivers.texts();
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert!(texts[2].contains("resolved") && texts[2].contains("QuickBooks is connected again"), "{texts:?}");
    assert_eq!(receivers.subjects().len(), 3);
    assert!(receivers.subjects()[2].starts_with("[qbsync] resolved: QuickBooks needs to be re-connected"));

    // Passes failing: quiet until `stale_after`, then one alert.
    let since = now + chrono::Duration::minutes(4);
    let failing = Problem::PassesFailing { since, error: "Google answered 503".into() };
    alerter.observe_at(&[rows.clone(), failing.clone()], since + chrono::Duration::minutes(10)).await;
    assert_eq!(receivers.texts().len(), 3, "not stale yet");
    alerter.observe_at(&[rows.clone(), failing.clone()], since + chrono::Duration::minutes(31)).await;
    alerter.observe_at(&[rows.clone(), failing.clone()], since + chrono::Duration::minutes(40)).await;
    let texts = receivers.texts();
    assert_eq!(texts.len(), 4, "{texts:?}");
    assert!(texts[3].contains("no successful sync since") && texts[3].contains("Google answered 503"), "{texts:?}");

    // Everything clears.
    alerter.observe_at(&[], since + chrono::Duration::minutes(41)).await;
    alerter.observe_at(&[], since + chrono::Duration::minutes(42)).await;
    let texts = receivers.texts();
    assert_eq!(texts.len(), 6, "{texts:?}");
    assert!(texts[4..].iter().any(|t| t.contains("no rows are failing any more")), "{texts:?}");
    assert!(texts[4..].iter().any(|t| t.contains("passes are succeeding again")), "{texts:?}");
    assert_eq!(receivers.subjects().len(), 6);

    // No secret in anything that was sent or stored.
    let stored = std::fs::read_to_string(state.path().join("alerts.json")).expect("alerts.json");
    let mode = std::fs::metadata(state.path().join("alerts.json")).expect("meta").permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777, 0o600);
    let mut everything = texts.join("\n") + &stored;
    for mail in receivers.mails.lock().expect("mails").iter() {
        everything.push_str(&readable(&mail.data));
    }
    for secret in [WEBHOOK_SECRET, SMTP_PASSWORD] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    assert!(everything.contains("no rows are failing any more"), "the decoded mail text is searched too");
}

#[tokio::test]
async fn a_failed_delivery_is_retried_on_that_channel_only() {
    let receivers = Receivers::start().await;
    let state = tempfile::tempdir().expect("state dir");
    let alerter = Alerter::new(receivers.settings.clone(), state.path()).expect("alerter");
    let expiring = Problem::RefreshTokenExpiring { at: Utc::now() + chrono::Duration::days(10) };

    receivers.webhook.fail_next.store(1, Ordering::SeqCst);
    alerter.observe(std::slice::from_ref(&expiring)).await;
    assert_eq!(receivers.texts().len(), 0, "the webhook answered 500");
    assert_eq!(receivers.subjects().len(), 1, "e-mail went out");

    alerter.observe(std::slice::from_ref(&expiring)).await;
    assert_eq!(receivers.texts().len(), 1, "retried");
    assert!(receivers.texts()[0].contains("authorization expires"));
    assert_eq!(receivers.subjects().len(), 1, "e-mail is not repeated");

    alerter.observe(std::slice::from_ref(&expiring)).await;
    assert_eq!(receivers.texts().len(), 1);
}

#[tokio::test]
async fn an_unreachable_webhook_error_does_not_reveal_its_url() {
    // A closed port: reqwest's error would name the URL, which embeds the webhook's secret.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr");
    let state = tempfile::tempdir().expect("state dir");
    let settings = AlertSettings {
        webhook_url: Some(SecretString::from(format!("http://{closed}/services/{WEBHOOK_SECRET}"))),
        ..AlertSettings::default()
    };
    let alerter = Alerter::new(settings, state.path()).expect("alerter");
    let log = capture_logs(alerter.observe(&[Problem::NeedsReconnect { reason: "revoked".into() }])).await;
    assert!(log.contains("could not send an alert"), "{log}");
    assert!(!log.contains(WEBHOOK_SECRET), "{log}");
}

async fn capture_logs(run: impl std::future::Future<Output = ()>) -> String {
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("capture").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let dispatch = tracing::Dispatch::new(subscriber);
    tracing::instrument::WithSubscriber::with_subscriber(run, dispatch).await;
    let bytes = capture.0.lock().expect("capture").clone();
    String::from_utf8(bytes).expect("utf8")
}
