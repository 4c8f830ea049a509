//! `qbsync auth`: connects a QuickBooks company once (or a person's Google account with
//! `qbsync auth google`), imports a refresh token obtained elsewhere, or disconnects.
//!
//! The browser flow prints the consent address (and opens it with `--open-browser`). When the
//! Intuit app's redirect URI is an address of this machine, qbsync listens there and the browser
//! comes back to it by itself; on a headless server (or with `--paste`) the person copies the
//! address the browser ended on (the page fails to load there, which is expected) and pastes it.
//! While listening, a pasted address is accepted too, for a browser on another machine.
//!
//! The protocol, the `state` check and the encrypted store live in [`crate::auth`]; this file
//! only talks to the person.

use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::oneshot;

use super::context;
use crate::auth::{
    self as oauth, AuthError, CsrfState, GoogleGrant, IntuitOAuthSettings, RedirectListener, StoredGrant, TokenSource,
    TokenStore, complete_google_authorization, google_authorize_url,
};
use crate::settings::{LoadOptions, Settings};

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub service: Option<Service>,
    #[command(flatten)]
    pub browser: BrowserArgs,
    /// Import a refresh token obtained elsewhere (Intuit's OAuth 2.0 Playground) instead of the
    /// browser flow; `-` reads it from standard input (keeps it out of the shell history).
    #[arg(long, value_name = "TOKEN", value_parser = secret, requires = "realm_id", conflicts_with = "revoke")]
    pub refresh_token: Option<SecretString>,
    /// The company the imported refresh token belongs to.
    #[arg(long, value_name = "ID", requires = "refresh_token")]
    pub realm_id: Option<String>,
    /// Disconnect: revoke the connection at Intuit and delete the local tokens.
    #[arg(long)]
    pub revoke: bool,
}

/// How the consent page is reached and answered.
#[derive(Debug, clap::Args)]
pub struct BrowserArgs {
    /// Open the consent page in this machine's default browser.
    #[arg(long)]
    pub open_browser: bool,
    /// Do not listen on the redirect URI; paste the address the browser ends on (headless servers).
    #[arg(long)]
    pub paste: bool,
    /// How long to wait for the browser, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub wait: u64,
}

#[derive(Debug, clap::Subcommand)]
pub enum Service {
    /// Connect your own Google account for the sheet (when you cannot create a service account).
    Google(GoogleArgs),
}

#[derive(Debug, clap::Args)]
pub struct GoogleArgs {
    #[command(flatten)]
    pub browser: BrowserArgs,
    /// Forget the connected Google account (the service account is used again, if configured).
    #[arg(long)]
    pub revoke: bool,
}

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value.to_owned()))
}

pub async fn run(load: &LoadOptions, args: Args) -> anyhow::Result<ExitCode> {
    let settings = context::load_settings(load)?;
    for warning in &settings.warnings {
        eprintln!("note: {warning}");
    }
    if let Some(Service::Google(google)) = args.service {
        return connect_google(&settings, google).await;
    }
    let oauth_settings = context::oauth_settings(&settings)?;
    let store = context::token_store(&settings)?;
    if args.revoke {
        return disconnect(&oauth_settings, &store).await;
    }
    let grant = match (args.refresh_token, args.realm_id) {
        (Some(token), Some(realm_id)) => {
            let token = if token.expose_secret() == "-" { read_secret_line()? } else { token };
            oauth::import_refresh_token(&oauth_settings, &store, token, realm_id.trim()).await?
        }
        _ => connect(&oauth_settings, &store, &args.browser).await?,
    };
    describe_connection(&settings, &store, &grant).await;
    Ok(ExitCode::SUCCESS)
}

/// The browser flow: consent page, the answer, the code exchanged and stored.
async fn connect(
    oauth_settings: &IntuitOAuthSettings,
    store: &TokenStore,
    browser: &BrowserArgs,
) -> anyhow::Result<StoredGrant> {
    let (url, state) = oauth::authorize_url(oauth_settings)?;
    let redirected = consent(
        &url,
        &state,
        &oauth_settings.redirect_uri,
        "sign in to QuickBooks and choose the company to connect",
        browser,
    )
    .await?;
    Ok(oauth::complete_authorization(oauth_settings, store, &redirected, &state).await?)
}

/// Revokes at Intuit and deletes the local tokens.
async fn disconnect(oauth_settings: &IntuitOAuthSettings, store: &TokenStore) -> anyhow::Result<ExitCode> {
    let connected = store.load()?.map(|grant| grant.realm_id);
    oauth::revoke(oauth_settings, store).await?;
    match connected {
        Some(realm) => println!(
            "Disconnected QuickBooks company {realm}: Intuit revoked the connection and the local tokens are deleted."
        ),
        None => println!("No QuickBooks company was connected; nothing to do."),
    }
    Ok(ExitCode::SUCCESS)
}

/// Shows the consent address and waits for the address the browser is sent back to.
async fn consent(
    url: &str,
    state: &CsrfState,
    redirect_uri: &str,
    what: &str,
    args: &BrowserArgs,
) -> anyhow::Result<String> {
    let listener = if args.paste {
        None
    } else {
        match RedirectListener::bind_uri(redirect_uri).await {
            Ok(listener) => Some(listener),
            Err(AuthError::ConnectFailed { reason }) => {
                println!("(Not listening: {reason}.)");
                None
            }
            Err(error) => return Err(error.into()),
        }
    };
    wait_for_answer(url, state, listener, redirect_uri, what, args).await
}

async fn wait_for_answer(
    url: &str,
    state: &CsrfState,
    listener: Option<RedirectListener>,
    redirect_uri: &str,
    what: &str,
    args: &BrowserArgs,
) -> anyhow::Result<String> {
    println!("Open this address in a browser and {what}:\n\n  {url}\n");
    if args.open_browser {
        open_browser(url);
    }
    let pasted = read_line_in_background();
    let wait = Duration::from_secs(args.wait);
    match listener {
        Some(listener) => {
            println!(
                "Waiting for the browser to come back to {redirect_uri} … (if the browser runs on another machine, paste the address it ends on here and press Enter)"
            );
            let received = listener.wait(state, wait);
            tokio::pin!(received);
            tokio::select! {
                answer = &mut received => Ok(answer?),
                Ok(Some(line)) = pasted => Ok(line),
            }
        }
        None => {
            println!(
                "After you approve, the browser goes to an address starting with {redirect_uri} (the page may not load: that is expected). Copy that whole address from the address bar, paste it here and press Enter:"
            );
            match tokio::time::timeout(wait, pasted).await {
                Ok(Ok(Some(line))) => Ok(line),
                Ok(_) => anyhow::bail!("no address was pasted: run the command again and paste the address"),
                Err(_) => anyhow::bail!("nothing was pasted within {} s: run the command again", wait.as_secs()),
            }
        }
    }
}

/// The first non-empty line of standard input, read on a thread of its own: a blocking read
/// must not keep the runtime from shutting down once the browser answered instead.
fn read_line_in_background() -> oneshot::Receiver<Option<String>> {
    let (sender, receiver) = oneshot::channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let line = stdin.lock().lines().map_while(Result::ok).map(|l| l.trim().to_owned()).find(|l| !l.is_empty());
        let _ = sender.send(line);
    });
    receiver
}

/// A refresh token given as `-`: one line of standard input.
fn read_secret_line() -> anyhow::Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("cannot read the refresh token from standard input")?;
    let token = line.trim();
    anyhow::ensure!(!token.is_empty(), "no refresh token on standard input");
    Ok(SecretString::from(token.to_owned()))
}

fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
    match std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => println!("(opened in your browser)"),
        Err(error) => println!("(could not start {opener}: {error}; open the address yourself)"),
    }
}

/// Says what is connected: the company's name (asked of QuickBooks), realm, environment and
/// when the connection must be renewed.
async fn describe_connection(settings: &Settings, store: &TokenStore, grant: &StoredGrant) {
    let name = company_name(settings, store, &grant.realm_id).await;
    match name {
        Ok(name) => println!("Connected to QuickBooks company \"{name}\"."),
        Err(error) => println!("Connected to QuickBooks (the company's name could not be read: {error:#})."),
    }
    println!("  realm id:      {}", grant.realm_id);
    println!("  environment:   {}", grant.environment);
    match grant.refresh_expires_at {
        Some(at) => println!("  refresh token: valid until {} (renewed each time qbsync refreshes it)", when(at)),
        None => println!("  refresh token: expiry not reported by Intuit"),
    }
    if let Some(hard) = grant.refresh_hard_expires_at {
        println!("  reconnect by:  {} at the latest", when(hard));
    }
    match settings.quickbooks.realm_id.as_deref() {
        None => println!(
            "\nAdd QB_REALM_ID={} to your .env (or the environment) so qbsync works on this company.",
            grant.realm_id
        ),
        Some(_) => println!("\nNext: `qbsync doctor` checks everything else."),
    }
}

async fn company_name(settings: &Settings, store: &TokenStore, realm_id: &str) -> anyhow::Result<String> {
    let tokens = Arc::new(crate::auth::IntuitTokens::new(context::oauth_settings(settings)?, store.clone())?);
    let source: Arc<dyn TokenSource> = tokens;
    let qbo = context::qbo_for_company(settings, realm_id, source)?;
    Ok(qbo.company_info().await?.name)
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `qbsync auth google`: the person's own Google account, PKCE over a loopback redirect.
async fn connect_google(settings: &Settings, args: GoogleArgs) -> anyhow::Result<ExitCode> {
    let store = context::token_store(settings)?;
    if args.revoke {
        GoogleGrant::delete(&store)?;
        println!(
            "Forgot the connected Google account. To withdraw qbsync's access at Google as well, remove it at https://myaccount.google.com/permissions."
        );
        return Ok(ExitCode::SUCCESS);
    }
    // Google accepts any port on the loopback address for desktop clients: take a free one.
    let (listener, redirect_uri) = if args.browser.paste {
        (None, PASTE_REDIRECT.to_owned())
    } else {
        let listener = RedirectListener::bind_uri("http://127.0.0.1:0/").await?;
        let port = listener.local_addr().context("the redirect listener has no address")?.port();
        (Some(listener), format!("http://127.0.0.1:{port}/"))
    };
    let google = context::google_user_settings(settings, &redirect_uri).ok_or_else(|| {
        anyhow::anyhow!(
            "set QBSYNC_GOOGLE_CLIENT_ID and QBSYNC_GOOGLE_CLIENT_SECRET to an OAuth client of type \"Desktop app\" (Google Cloud console → APIs & Services → Credentials → Create credentials → OAuth client ID)"
        )
    })?;
    let (url, consent) = google_authorize_url(&google)?;
    let redirected = wait_for_answer(
        &url,
        consent.state(),
        listener,
        &redirect_uri,
        "sign in with the Google account that can edit the sheet",
        &args.browser,
    )
    .await?;
    complete_google_authorization(&google, &store, &redirected, consent).await?;
    println!("Connected your Google account; its refresh token is stored encrypted in {}.", store.dir().display());
    if settings.google.service_account.is_some() {
        println!(
            "Note: a service-account key is configured (GOOGLE_SERVICE_ACCOUNT_JSON) and is used first; unset it to use this account."
        );
    } else if settings.require_sheet().is_ok() {
        match context::sheets(settings).await {
            Ok(sheets) => match sheets.tab_info().await {
                Ok(info) => println!("The sheet \"{}\" is reachable with it.", info.spreadsheet_title),
                Err(error) => println!("But the sheet cannot be opened with it: {error}"),
            },
            Err(error) => println!("But the sheet cannot be opened with it: {error:#}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// With `--paste` nothing listens: the browser's failed visit to this address is copied.
const PASTE_REDIRECT: &str = "http://127.0.0.1:8766/";
