//! Notifications for the problems a person must act on: rows that failed, QuickBooks needing
//! re-connection, passes that stopped succeeding, an authorization about to expire.
//!
//! An alert that repeats every minute gets muted, and a muted alert is worse than none. So each
//! problem is announced **once** per channel (a Slack-compatible webhook and/or e-mail over
//! SMTP), stays quiet while it persists, and gets one "resolved" message when it is gone. The
//! open problems live in `state_dir/alerts.json` (written atomically), so a restart neither
//! repeats an alert nor forgets to resolve it. A delivery that fails is retried at the next
//! [`Alerter::observe`] — i.e. the next pass — for that channel only.
//!
//! After each pass the daemon builds the status report and calls
//! `alerter.observe(&alerts::problems(&report))`; [`problems`] reads the problems off the report.
//!
//! Problems are identified by their kind: while rows are failing, more failing rows do not
//! alert again (the status page lists them). The webhook URL and the SMTP URL carry secrets and
//! are held as [`SecretString`]s; no message or error includes them.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use lettre::message::{Mailbox, Mailboxes, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::status::StatusReport;
use crate::store::RowStatus;

/// Where and when to alert. Every channel is optional; with none, alerts only reach the log.
#[derive(Clone, Debug)]
pub struct AlertSettings {
    /// A Slack-compatible incoming webhook (`{"text": "…"}` is POSTed). Its URL is a secret.
    pub webhook_url: Option<SecretString>,
    /// `smtp://host:port` (plain, for a relay on the same host), `smtp://user:pass@host:587?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host:465` (TLS from the start).
    pub smtp_url: Option<SecretString>,
    /// Recipients, comma-separated.
    pub email_to: Option<String>,
    pub email_from: Option<String>,
    /// How long passes may keep failing before [`Problem::PassesFailing`] alerts.
    pub stale_after: Duration,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            webhook_url: None,
            smtp_url: None,
            email_to: None,
            email_from: None,
            stale_after: Duration::from_secs(30 * 60),
        }
    }
}

/// Something a person should know about. The daemon passes every problem that holds *now* to
/// [`Alerter::observe`] after each pass; one that is no longer passed counts as resolved.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    /// Rows are marked failed; `sample` names a few (`row 17 INV-1042: …`).
    RowsFailed { count: usize, sample: Vec<String> },
    /// A person must run `qbsync auth`.
    NeedsReconnect { reason: String },
    /// No pass has succeeded since `since`; alerts once that is longer ago than `stale_after`.
    PassesFailing { since: DateTime<Utc>, error: String },
    /// The QuickBooks refresh token expires at `at`.
    RefreshTokenExpiring { at: DateTime<Utc> },
}

impl Problem {
    fn key(&self) -> &'static str {
        match self {
            Problem::RowsFailed { .. } => "rows_failed",
            Problem::NeedsReconnect { .. } => "needs_reconnect",
            Problem::PassesFailing { .. } => "passes_failing",
            Problem::RefreshTokenExpiring { .. } => "refresh_token_expiring",
        }
    }

    /// A one-line title (the e-mail subject).
    fn title(&self) -> String {
        match self {
            Problem::RowsFailed { count: 1, .. } => "1 row failed to sync".to_owned(),
            Problem::RowsFailed { count, .. } => format!("{count} rows failed to sync"),
            Problem::NeedsReconnect { .. } => "QuickBooks needs to be re-connected".to_owned(),
            Problem::PassesFailing { since, .. } => format!("no successful sync since {}", time(*since)),
            Problem::RefreshTokenExpiring { at } => format!("the QuickBooks authorization expires {}", time(*at)),
        }
    }

    fn details(&self) -> String {
        match self {
            Problem::RowsFailed { sample, .. } => {
                let mut text = "These rows need a person: fix them in the sheet and qbsync tries again.".to_owned();
                for line in sample.iter().take(10) {
                    text.push_str("\n• ");
                    text.push_str(line);
                }
                text.push_str("\nAll failures: `qbsync status` or the status page.");
                text
            }
            Problem::NeedsReconnect { reason } => format!(
                "Nothing is being synced until someone runs `qbsync auth` on the server. Rows wait; none is marked failed for this. ({reason})"
            ),
            Problem::PassesFailing { error, .. } => {
                format!("Passes keep stopping early: {error}\nThe daemon keeps retrying; see `journalctl -u qbsync`.")
            }
            Problem::RefreshTokenExpiring { .. } => {
                "Run `qbsync auth` on the server before then, or syncing stops.".to_owned()
            }
        }
    }
}

/// The problems a status report shows, ready for [`Alerter::observe`]: failed rows (with up to
/// five still-failing ones as a sample), QuickBooks needing re-connection, an authorization
/// expiring soon, and passes failing since the last success (or, if none ever succeeded, since
/// the failing pass started) unless QuickBooks needs re-connecting.
pub fn problems(report: &StatusReport) -> Vec<Problem> {
    let mut problems = Vec::new();
    let failed = report.invoices.failed + report.bills.failed;
    if failed > 0 {
        let sample = report
            .recent_failures
            .iter()
            .filter(|f| f.current_status == Some(RowStatus::Failed))
            .take(5)
            .map(|f| {
                format!(
                    "row {} {}: {}",
                    f.sheet_row.map(|r| r.to_string()).unwrap_or_else(|| "?".into()),
                    f.doc_number.as_deref().unwrap_or("-"),
                    f.error.as_deref().unwrap_or("(no message)")
                )
            })
            .collect();
        problems.push(Problem::RowsFailed { count: failed as usize, sample });
    }
    if let Some(reason) = &report.quickbooks.needs_reconnect {
        problems.push(Problem::NeedsReconnect { reason: reason.clone() });
    } else if report.quickbooks.warn_expiry_soon
        && let Some(at) = report.quickbooks.refresh_token_expires_at.as_deref().and_then(parse_time)
    {
        problems.push(Problem::RefreshTokenExpiring { at });
    }
    // While QuickBooks must be re-connected every pass that needs it fails for that one
    // reason, which the re-connect alert already names with what to do: a second alert about
    // failing passes would only be noise. If passes still fail once it is connected again,
    // they alert then (counted from the last success, so without a new wait).
    let reconnecting = report.quickbooks.needs_reconnect.is_some();
    if let Some(pass) = report.last_pass.as_ref().filter(|pass| !pass.ok && !reconnecting) {
        let since = report.last_success.as_deref().or(Some(pass.started_at.as_str())).and_then(parse_time);
        if let Some(since) = since {
            let error = pass.error.clone().unwrap_or_else(|| "unknown error".into());
            problems.push(Problem::PassesFailing { since, error });
        }
    }
    problems
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|at| at.with_timezone(&Utc))
}

fn resolved_text(key: &str) -> &'static str {
    match key {
        "rows_failed" => "no rows are failing any more",
        "needs_reconnect" => "QuickBooks is connected again",
        "passes_failing" => "passes are succeeding again",
        "refresh_token_expiring" => "the QuickBooks authorization was renewed",
        _ => "the problem is gone",
    }
}

/// Why the alert configuration cannot be used. Delivery failures are not errors: they are
/// logged and retried.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(
        "the SMTP URL is not valid: {0} (expected smtp://host:port, smtp://user:pass@host:587?tls=required or smtps://user:pass@host:465)"
    )]
    SmtpUrl(String),
    #[error(
        "the SMTP URL sends a password without encryption to {host}: use smtps://…, add ?tls=required, or a relay on this host"
    )]
    PlainTextPassword { host: String },
    #[error("e-mail alerts need both an e-mail-to and an e-mail-from address")]
    MissingAddress,
    #[error("the e-mail address {address:?} is not valid: {reason}")]
    Address { address: String, reason: String },
    #[error("the webhook URL is not a valid http(s) URL")]
    WebhookUrl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Channel {
    Webhook,
    Email,
}

/// One open problem as remembered in `alerts.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct OpenProblem {
    opened_at: String,
    title: String,
    /// Channels that were told about the problem and not yet told it is resolved.
    notified: BTreeSet<Channel>,
    /// The problem is gone; "resolved" messages are still owed to `notified`.
    resolving: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AlertState {
    open: BTreeMap<String, OpenProblem>,
}

struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Mailboxes,
}

/// Sends alerts and remembers which are open. One per daemon.
pub struct Alerter {
    settings: AlertSettings,
    state_path: PathBuf,
    state: Mutex<AlertState>,
    http: reqwest::Client,
    mailer: Option<Mailer>,
    host: String,
}

impl Alerter {
    /// Checks the settings and loads the open problems from `state_dir/alerts.json`.
    pub fn new(settings: AlertSettings, state_dir: &Path) -> Result<Alerter, AlertError> {
        if let Some(url) = &settings.webhook_url {
            let parsed = url::Url::parse(url.expose_secret()).map_err(|_| AlertError::WebhookUrl)?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(AlertError::WebhookUrl);
            }
        }
        let mailer = match &settings.smtp_url {
            Some(url) => Some(mailer(url, settings.email_from.as_deref(), settings.email_to.as_deref())?),
            None => None,
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| AlertError::WebhookUrl)?;
        let state_path = state_dir.join("alerts.json");
        let state = load_state(&state_path);
        Ok(Alerter { settings, state_path, state: Mutex::new(state), http, mailer, host: host_name() })
    }

    /// Whether any channel is configured.
    pub fn has_channels(&self) -> bool {
        !self.channels().is_empty()
    }

    /// Compares `problems` (everything wrong now) with the open ones: announces the new ones,
    /// says "resolved" for the ones that went away, stays quiet about the rest.
    pub async fn observe(&self, problems: &[Problem]) {
        self.observe_at(problems, Utc::now()).await;
    }

    /// [`observe`](Self::observe) as of `now` (tests pin the clock).
    pub async fn observe_at(&self, problems: &[Problem], now: DateTime<Utc>) {
        let stale_after = chrono::Duration::from_std(self.settings.stale_after).unwrap_or(chrono::Duration::MAX);
        let mut present: BTreeMap<&'static str, &Problem> = BTreeMap::new();
        for problem in problems {
            if let Problem::PassesFailing { since, .. } = problem
                && now - *since < stale_after
            {
                continue;
            }
            present.entry(problem.key()).or_insert(problem);
        }
        let channels = self.channels();
        let mut state = self.state.lock().await;
        let before = serde_json::to_string(&*state).unwrap_or_default();

        for (key, problem) in &present {
            let open = state.open.entry((*key).to_owned()).or_insert_with(|| {
                tracing::warn!(problem = key, "alert: {}", problem.title());
                OpenProblem { opened_at: time(now), title: problem.title(), ..OpenProblem::default() }
            });
            open.resolving = false;
            for &channel in &channels {
                if open.notified.contains(&channel) {
                    continue;
                }
                let subject = format!("[qbsync] {}", problem.title());
                let body = format!("qbsync on {}: {}.\n{}", self.host, problem.title(), problem.details());
                if self.deliver(channel, &subject, &body).await {
                    open.notified.insert(channel);
                }
            }
        }

        let gone: Vec<String> = state.open.keys().filter(|key| !present.contains_key(key.as_str())).cloned().collect();
        for key in gone {
            let Some(open) = state.open.get_mut(&key) else { continue };
            if !open.resolving {
                tracing::info!(problem = key, "alert resolved: {}", resolved_text(&key));
                open.resolving = true;
            }
            for channel in open.notified.clone() {
                let delivered = if channels.contains(&channel) {
                    let subject = format!("[qbsync] resolved: {}", open.title);
                    let body = format!(
                        "qbsync on {}: resolved — {} (was: {}, since {}).",
                        self.host,
                        resolved_text(&key),
                        open.title,
                        open.opened_at
                    );
                    self.deliver(channel, &subject, &body).await
                } else {
                    true // the channel was removed from the configuration: nobody to tell
                };
                if delivered {
                    open.notified.remove(&channel);
                }
            }
            if open.notified.is_empty() {
                state.open.remove(&key);
            }
        }

        if serde_json::to_string(&*state).unwrap_or_default() != before
            && let Err(error) = save_state(&self.state_path, &state)
        {
            tracing::warn!("could not save {}: {error}", self.state_path.display());
        }
    }

    fn channels(&self) -> Vec<Channel> {
        let mut channels = Vec::new();
        if self.settings.webhook_url.is_some() {
            channels.push(Channel::Webhook);
        }
        if self.mailer.is_some() {
            channels.push(Channel::Email);
        }
        channels
    }

    /// Sends one message on one channel; logs and returns false on failure.
    async fn deliver(&self, channel: Channel, subject: &str, body: &str) -> bool {
        let result = match channel {
            Channel::Webhook => self.post_webhook(body).await,
            Channel::Email => self.send_email(subject, body).await,
        };
        match result {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(channel = ?channel, "could not send an alert (will retry): {error}");
                false
            }
        }
    }

    async fn post_webhook(&self, text: &str) -> Result<(), String> {
        let Some(url) = &self.settings.webhook_url else {
            return Ok(());
        };
        let response = self
            .http
            .post(url.expose_secret())
            .json(&serde_json::json!({ "text": slack_escape(text) }))
            .send()
            .await
            // The URL is the webhook's secret: keep it out of the error.
            .map_err(|e| format!("webhook: {}", e.without_url()))?;
        if response.status().is_success() { Ok(()) } else { Err(format!("webhook answered {}", response.status())) }
    }

    async fn send_email(&self, subject: &str, body: &str) -> Result<(), String> {
        let Some(mailer) = &self.mailer else {
            return Ok(());
        };
        let mut builder = Message::builder().from(mailer.from.clone()).subject(subject).header(ContentType::TEXT_PLAIN);
        for to in mailer.to.iter() {
            builder = builder.to(to.clone());
        }
        let message = builder.body(body.to_owned()).map_err(|e| format!("e-mail: {e}"))?;
        mailer.transport.send(message).await.map(|_| ()).map_err(|e| format!("e-mail: {e}"))
    }
}

fn mailer(url: &SecretString, from: Option<&str>, to: Option<&str>) -> Result<Mailer, AlertError> {
    let (Some(from), Some(to)) = (from, to) else {
        return Err(AlertError::MissingAddress);
    };
    let parsed = url::Url::parse(url.expose_secret()).map_err(|e| AlertError::SmtpUrl(e.to_string()))?;
    let host = parsed.host_str().unwrap_or_default().to_owned();
    let encrypted = parsed.scheme() == "smtps" || parsed.query_pairs().any(|(k, v)| k == "tls" && v == "required");
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if parsed.password().is_some() && !encrypted && !loopback {
        return Err(AlertError::PlainTextPassword { host });
    }
    let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
        .map_err(|e| AlertError::SmtpUrl(e.to_string()))?
        .timeout(Some(Duration::from_secs(30)))
        .build();
    let from: Mailbox = from.parse().map_err(|e: lettre::address::AddressError| AlertError::Address {
        address: from.into(),
        reason: e.to_string(),
    })?;
    let to: Mailboxes = to.parse().map_err(|e: lettre::address::AddressError| AlertError::Address {
        address: to.into(),
        reason: e.to_string(),
    })?;
    Ok(Mailer { transport, from, to })
}

/// Slack treats `&`, `<` and `>` as markup; row errors may contain them.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "this host".to_owned())
}

fn load_state(path: &Path) -> AlertState {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!("{} is damaged ({error}); open alerts may be announced again", path.display());
            AlertState::default()
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => AlertState::default(),
        Err(error) => {
            tracing::warn!("cannot read {} ({error}); open alerts may be announced again", path.display());
            AlertState::default()
        }
    }
}

/// Write, fsync, rename: a crash leaves the old file or the new one, never half of one.
fn save_state(path: &Path, state: &AlertState) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(&json)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent()
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Option<SecretString> {
        Some(SecretString::from(s.to_owned()))
    }

    #[test]
    fn a_password_over_plain_smtp_to_another_host_is_refused() {
        let dir = tempfile::tempdir().expect("dir");
        let settings = AlertSettings {
            smtp_url: secret("smtp://me:hunter2@mail.example.com:25"),
            email_to: Some("ops@example.com".into()),
            email_from: Some("qbsync@example.com".into()),
            ..AlertSettings::default()
        };
        let error = Alerter::new(settings.clone(), dir.path()).err().expect("refused");
        assert!(matches!(error, AlertError::PlainTextPassword { .. }));
        assert!(!error.to_string().contains("hunter2"));

        for ok in [
            "smtps://me:hunter2@mail.example.com",
            "smtp://me:hunter2@mail.example.com:587?tls=required",
            "smtp://127.0.0.1:25",
        ] {
            let settings = AlertSettings { smtp_url: secret(ok), ..settings.clone() };
            assert!(Alerter::new(settings, dir.path()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn e_mail_needs_both_addresses_and_valid_ones() {
        let dir = tempfile::tempdir().expect("dir");
        let base = AlertSettings { smtp_url: secret("smtp://127.0.0.1:25"), ..AlertSettings::default() };
        assert!(matches!(Alerter::new(base.clone(), dir.path()), Err(AlertError::MissingAddress)));
        let bad = AlertSettings { email_to: Some("not an address".into()), email_from: Some("a@b.c".into()), ..base };
        assert!(matches!(Alerter::new(bad, dir.path()), Err(AlertError::Address { .. })));
        let webhook = AlertSettings { webhook_url: secret("ftp://x"), ..AlertSettings::default() };
        assert!(matches!(Alerter::new(webhook, dir.path()), Err(AlertError::WebhookUrl)));
    }

    #[test]
    fn problems_are_read_off_the_status_report() {
        use crate::ops::status::{FailureLine, QuickBooksStatus};
        use crate::store::{Kind, PassRecord};

        assert!(problems(&StatusReport::default()).is_empty());
        let failure = |row: i64, status: RowStatus| FailureLine {
            at: "2026-11-21T09:00:00Z".into(),
            kind: Kind::Invoice,
            row_key: None,
            sheet_row: Some(row),
            doc_number: Some(format!("INV-{row}")),
            error: Some("Customer not found".into()),
            current_status: Some(status),
        };
        let now = Utc::now();
        let mut report = StatusReport {
            recent_failures: vec![failure(4, RowStatus::Failed), failure(5, RowStatus::Synced)],
            quickbooks: QuickBooksStatus::connected(Some(now + chrono::Duration::days(3)), now),
            last_success: Some("2026-11-21T08:00:00Z".into()),
            last_pass: Some(PassRecord {
                ok: false,
                error: Some("Google answered 503".into()),
                ..PassRecord::default()
            }),
            ..StatusReport::default()
        };
        report.invoices.failed = 1;
        report.bills.failed = 1;
        let found = problems(&report);
        assert_eq!(found[0], Problem::RowsFailed { count: 2, sample: vec!["row 4 INV-4: Customer not found".into()] });
        assert!(matches!(found[1], Problem::RefreshTokenExpiring { .. }));
        assert_eq!(
            found[2],
            Problem::PassesFailing {
                since: "2026-11-21T08:00:00Z".parse().expect("time"),
                error: "Google answered 503".into()
            }
        );
        report.quickbooks = QuickBooksStatus::needs_reconnect("invalid_grant");
        let found = problems(&report);
        assert!(found.contains(&Problem::NeedsReconnect { reason: "invalid_grant".into() }));
        // The failing passes are that same problem: one alert, not two.
        assert!(!found.iter().any(|p| matches!(p, Problem::PassesFailing { .. })), "{found:?}");
    }

    #[test]
    fn titles_and_escaping() {
        let problem = Problem::RowsFailed { count: 2, sample: vec!["row 3 <b>".into()] };
        assert_eq!(problem.title(), "2 rows failed to sync");
        assert!(problem.details().contains("• row 3 <b>"));
        assert_eq!(slack_escape("a <b> & c"), "a &lt;b&gt; &amp; c");
    }
}
