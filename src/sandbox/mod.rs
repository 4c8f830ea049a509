//! The sandbox: local emulators of the four services qbsync talks to.
//!
//! No machine that builds or tests qbsync can reach Google or Intuit, and no user should need
//! a real QuickBooks company to try it. The sandbox serves, on one loopback port:
//!
//! | path                                   | emulates                                   |
//! |----------------------------------------|--------------------------------------------|
//! | `POST /google/token`                   | Google's OAuth token endpoint (JWT bearer) |
//! | `/v4/spreadsheets/…`                   | Google Sheets API v4                       |
//! | `/drive/v3/files/…`                    | Google Drive v3 `files.get`                |
//! | `/oauth2/v1/tokens/bearer`, `/connect/oauth2`, `/v2/oauth2/tokens/revoke` | Intuit OAuth 2.0 |
//! | `/v3/company/{realmId}/…`              | QuickBooks Online Accounting API v3        |
//! | `/_sandbox/…`                          | control: state, faults, live edits, request log |
//!
//! Their answers reproduce the shapes recorded in `shared/fixtures/`; where a fixture and an
//! emulator disagree, the fixture wins. Faults are injected per endpoint from a seed
//! ([`faults`]), including *commit-then-drop*: the write is applied and the connection is then
//! closed without an answer, which is why [`serve`] runs its own accept loop instead of
//! `axum::serve`.

pub mod faults;
pub mod google;
pub mod intuit;
pub mod qbo;
pub mod requests;
pub mod tokens;
mod wiring;

pub use wiring::{SANDBOX_TOKEN_KEY, SandboxDirs};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tower::ServiceExt;

pub use faults::{FaultRule, Faults};
pub use requests::{RecordedRequest, RequestLog};

/// What the sandbox starts with.
#[derive(Clone, Debug)]
pub struct SandboxOptions {
    /// 0 picks a free port.
    pub port: u16,
    /// Drives every random choice (faults, generated ids), so a run can be replayed.
    pub seed: u64,
    pub spreadsheet_id: String,
    pub tab: String,
    /// The `inv_tbl` contents as CSV (header row first). `None` loads the bundled demo sheet.
    pub sheet_csv: Option<String>,
    /// The QuickBooks company as seed JSON. `None` loads the bundled demo company.
    pub company_seed: Option<String>,
    pub realm_id: String,
    /// Enforce the published quotas (Sheets 60/min per user, QBO 500/min, 10 concurrent,
    /// 40 batches/min). Off for most tests, on for the benchmark and the demo.
    pub enforce_limits: bool,
    /// Lifetime of Google access tokens.
    pub google_token_lifetime: Duration,
    /// Lifetime of Intuit access tokens.
    pub intuit_access_token_lifetime: Duration,
    /// Whether QBO replays the answer of a write repeated with the same `requestid`.
    pub honour_request_id: bool,
    /// The Intuit app's client credentials the emulated token endpoint accepts.
    pub client_id: String,
    pub client_secret: String,
    /// What a sort and a cut and paste do to row developer metadata (Google does not document
    /// it): `stay` for both unless set.
    pub metadata_moves: google::MetadataMoves,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            port: 0,
            seed: 0x5eed,
            spreadsheet_id: "1SandboxSheet0000000000000000000000000000000".into(),
            tab: "inv_tbl".into(),
            sheet_csv: None,
            company_seed: None,
            realm_id: "9341453100000000".into(),
            enforce_limits: false,
            google_token_lifetime: Duration::from_secs(3600),
            intuit_access_token_lifetime: Duration::from_secs(3600),
            honour_request_id: true,
            client_id: "ABsandboxclientid000000000000000000000000000000000".into(),
            client_secret: "sandbox-client-secret-0000000000000000".into(),
            metadata_moves: google::MetadataMoves::default(),
        }
    }
}

/// What every emulator shares: the fault plan, the request log and the public base URL.
#[derive(Clone)]
pub struct Shared {
    pub faults: Arc<Faults>,
    pub requests: Arc<RequestLog>,
    /// Access tokens the Intuit OAuth emulator issued; the QBO emulator checks bearers here.
    pub access_tokens: Arc<tokens::AccessTokenRegistry>,
    /// `http://127.0.0.1:PORT/`, with the trailing slash.
    pub base_url: String,
}

/// A running sandbox. Dropping it stops the server.
pub struct Sandbox {
    pub addr: SocketAddr,
    pub options: SandboxOptions,
    pub shared: Shared,
    pub google: Arc<google::GoogleEmulator>,
    pub intuit: Arc<intuit::IntuitEmulator>,
    pub qbo: Arc<qbo::QboEmulator>,
    stop: watch::Sender<bool>,
}

impl Sandbox {
    /// Binds `127.0.0.1:options.port` and serves every emulator until dropped.
    pub async fn start(options: SandboxOptions) -> anyhow::Result<Sandbox> {
        let listener = TcpListener::bind(("127.0.0.1", options.port)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            faults: Arc::new(Faults::new(options.seed)),
            requests: Arc::new(RequestLog::default()),
            access_tokens: Arc::new(tokens::AccessTokenRegistry::default()),
            base_url: format!("http://{addr}/"),
        };
        let google = google::GoogleEmulator::new(&options, &shared)?;
        let intuit = intuit::IntuitEmulator::new(&options, &shared)?;
        let qbo = qbo::QboEmulator::new(&options, &shared)?;
        let app = Router::new()
            .merge(google.router())
            .merge(intuit.router())
            .merge(qbo.router())
            .merge(requests::control_router(shared.clone()))
            .layer(axum::middleware::from_fn_with_state(shared.requests.clone(), requests::record));
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, app, stopped));
        Ok(Sandbox { addr, options, shared, google, intuit, qbo, stop })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    pub fn faults(&self) -> &Faults {
        &self.shared.faults
    }

    pub fn requests(&self) -> &RequestLog {
        &self.shared.requests
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Lets a handler close its connection without answering (commit-then-drop, timeouts).
///
/// Every request carries one in its extensions.
#[derive(Clone, Default)]
pub struct ConnectionKiller(Arc<Notify>);

impl ConnectionKiller {
    /// Closes the connection this request came on; the handler's answer is never sent.
    pub async fn kill(&self) -> ! {
        self.0.notify_one();
        std::future::pending().await
    }
}

/// The accept loop: axum's router, one task per connection, and a way for a handler to drop
/// its connection mid-request.
async fn serve(listener: TcpListener, app: Router, mut stopped: watch::Receiver<bool>) {
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%error, "sandbox accept failed");
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let app = app.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let killer = ConnectionKiller::default();
            let killed = killer.0.clone();
            let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(killer.clone());
                app.clone().oneshot(request.map(axum::body::Body::new))
            });
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                _ = killed.notified() => {}
                _ = stopped.changed() => {}
            }
        });
    }
}
