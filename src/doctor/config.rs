//! The configuration checks: everything that can be known without a request leaving the
//! machine. `qbsync doctor --offline` (systemd's `ExecStartPre=`) runs only these.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use chrono::{DateTime, Utc};

use super::names::*;
use super::readme::ReadmeSection;
use super::{Check, Options, list, split_settings_error};
use crate::auth::{GoogleGrant, KeySource, StoredGrant, TokenKey, TokenStore};
use crate::commands::context;
use crate::directions::Direction;
use crate::settings::{ServiceAccountKey, Settings};
use crate::sheets::GoogleCredentials;

pub(super) fn checks(settings: &Settings, options: Options) -> Vec<Check> {
    let store = open_token_store(settings);
    let grant = store.as_ref().ok().and_then(|(store, _)| store.load().ok().flatten());
    vec![
        loaded(settings),
        sheet_configured(settings),
        google_configured(settings, store.as_ref().ok().map(|(store, _)| store)),
        intuit_app(settings),
        quickbooks_ids(settings, grant.as_ref()),
        direction_map(settings),
        alias_files(settings),
        writable(STATE_DIR, &settings.paths.state_dir, true),
        writable(LOG_DIR, &settings.paths.log_dir, false),
        token_store(&store),
        quickbooks_grant(settings, &store, options),
    ]
}

fn loaded(settings: &Settings) -> Check {
    let qb = &settings.quickbooks;
    let detail = format!(
        "QuickBooks {} company, {} mode, tab \"{}\"",
        qb.environment,
        settings.sync.mode.as_str(),
        settings.google.sheet_tab
    );
    if settings.warnings.is_empty() {
        Check::pass(SETTINGS, detail)
    } else {
        Check::warn(
            SETTINGS,
            format!("{detail}; but: {}", settings.warnings.join("; ")),
            "see the notes above: each names the setting to change",
        )
    }
}

fn sheet_configured(settings: &Settings) -> Check {
    match settings.require_sheet() {
        Ok(()) => Check::pass(
            SHEET_CONFIGURED,
            format!("spreadsheet {}", settings.google.spreadsheet_id.as_deref().unwrap_or_default()),
        ),
        Err(error) => {
            let (detail, fix) = split_settings_error(&error);
            Check::fail(SHEET_CONFIGURED, detail, fix)
        }
    }
}

fn google_configured(settings: &Settings, store: Option<&TokenStore>) -> Check {
    let key_fix = "download a new JSON key (Google Cloud console → IAM & Admin → Service accounts → your account → Keys → Add key → JSON) and point GOOGLE_SERVICE_ACCOUNT_JSON at it";
    match &settings.google.service_account {
        Some(ServiceAccountKey::File(path)) => match GoogleCredentials::service_account_from_file(path) {
            Ok(credentials) => Check::pass(
                GOOGLE_CONFIGURED,
                format!(
                    "service account {} (key file {})",
                    credentials.service_account_email().unwrap_or_default(),
                    path.display()
                ),
            ),
            Err(error) => Check::fail(GOOGLE_CONFIGURED, error.to_string(), key_fix),
        },
        Some(ServiceAccountKey::Inline(json)) => match GoogleCredentials::service_account_from_json(json.clone()) {
            Ok(credentials) => Check::pass(
                GOOGLE_CONFIGURED,
                format!(
                    "service account {} (key given inline)",
                    credentials.service_account_email().unwrap_or_default()
                ),
            ),
            Err(error) => Check::fail(GOOGLE_CONFIGURED, error.to_string(), key_fix),
        },
        None => google_user_configured(settings, store),
    }
}

fn google_user_configured(settings: &Settings, store: Option<&TokenStore>) -> Check {
    let none = format!(
        "set GOOGLE_SERVICE_ACCOUNT_JSON to the key file of a service account the sheet is shared with ({}), or connect your own Google account with `qbsync auth google`",
        ReadmeSection::GoogleAccess
    );
    let has_client = settings.google.oauth_client_id.is_some() && settings.google.oauth_client_secret.is_some();
    let grant = store.map(GoogleGrant::load);
    match (grant, has_client) {
        (Some(Ok(Some(grant))), true) => {
            Check::pass(GOOGLE_CONFIGURED, format!("your own Google account, connected on {}", day(grant.updated_at)))
        }
        (Some(Ok(Some(_))), false) => Check::fail(
            GOOGLE_CONFIGURED,
            "a Google account is connected but QBSYNC_GOOGLE_CLIENT_ID or QBSYNC_GOOGLE_CLIENT_SECRET is not set",
            "set both to the OAuth client the account was connected with",
        ),
        (Some(Err(error)), _) => Check::fail(GOOGLE_CONFIGURED, error.to_string(), none),
        (_, true) => Check::fail(
            GOOGLE_CONFIGURED,
            "no service-account key is set and no Google account is connected",
            "run `qbsync auth google` to connect your own Google account (or set GOOGLE_SERVICE_ACCOUNT_JSON)",
        ),
        (_, false) => Check::fail(GOOGLE_CONFIGURED, "no Google credentials are set", none),
    }
}

fn intuit_app(settings: &Settings) -> Check {
    match settings.require_quickbooks_app() {
        Ok(()) => Check::pass(
            INTUIT_APP,
            format!(
                "client id {}, redirect URI {}",
                settings.quickbooks.client_id.as_deref().unwrap_or_default(),
                settings.quickbooks.redirect_uri
            ),
        ),
        Err(error) => {
            let (detail, fix) = split_settings_error(&error);
            Check::fail(INTUIT_APP, detail, fix)
        }
    }
}

fn quickbooks_ids(settings: &Settings, grant: Option<&StoredGrant>) -> Check {
    let qb = &settings.quickbooks;
    let mut missing = Vec::new();
    let mut fixes = Vec::new();
    if qb.realm_id.is_none() {
        missing.push("QB_REALM_ID".to_owned());
        fixes.push(match grant {
            Some(grant) => format!("set QB_REALM_ID={} (the company `qbsync auth` connected)", grant.realm_id),
            None => "run `qbsync auth`: it prints the company's realm id to put in QB_REALM_ID".to_owned(),
        });
    }
    if qb.default_item_id.is_none() {
        missing.push("QB_DEFAULT_ITEM_ID".to_owned());
        fixes.push("set QB_DEFAULT_ITEM_ID to the Id of the product or service on invoice lines".to_owned());
    }
    if settings.sync.creates_bills() && qb.default_expense_account.is_none() {
        missing.push("QB_DEFAULT_EXPENSE_ACCOUNT".to_owned());
        fixes.push("set QB_DEFAULT_EXPENSE_ACCOUNT to the Id of the expense account of bill lines".to_owned());
    }
    if !missing.is_empty() {
        return Check::fail(
            QUICKBOOKS_IDS,
            format!("{} not set", list(&missing)),
            format!("{} (once QuickBooks is connected, `qbsync doctor` lists the Ids you can use)", fixes.join("; ")),
        );
    }
    let shown = |id: &Option<String>| id.clone().unwrap_or_else(|| "not set".to_owned());
    Check::pass(
        QUICKBOOKS_IDS,
        format!(
            "company {}, item {}, expense account {}, A/P account {}",
            shown(&qb.realm_id),
            shown(&qb.default_item_id),
            shown(&qb.default_expense_account),
            shown(&qb.default_vendor_account)
        ),
    )
}

fn direction_map(settings: &Settings) -> Check {
    match settings.require_directions() {
        Ok(directions) => {
            let named = |wanted: Direction| -> Vec<String> {
                directions.names().filter(|(_, d)| *d == wanted).map(|(n, _)| format!("\"{n}\"")).collect()
            };
            Check::pass(
                DIRECTION_MAP,
                format!(
                    "{}: money in from {}; money out from {}",
                    directions.origin(),
                    list(&named(Direction::MoneyIn)),
                    list(&named(Direction::MoneyOut))
                ),
            )
        }
        Err(error) => Check::fail(
            DIRECTION_MAP,
            error.to_string(),
            format!(
                "create {} listing who issues the invoices of money coming in and going out ({})",
                settings.paths.directions_file().display(),
                ReadmeSection::WriteTheConfiguration
            ),
        ),
    }
}

fn alias_files(settings: &Settings) -> Check {
    // Malformed files stop the settings from loading; here they can only be present or absent.
    let describe = |path: &Path, empty: bool| {
        if !path.exists() {
            format!("{} not used (optional)", file_name(path))
        } else if empty {
            format!("{} has no aliases", file_name(path))
        } else {
            format!("{} read", file_name(path))
        }
    };
    let paths = &settings.paths;
    Check::pass(
        ALIAS_FILES,
        format!(
            "{}; {}",
            describe(&paths.customers_file(), settings.sync.customer_aliases.is_empty()),
            describe(&paths.vendors_file(), settings.sync.vendor_aliases.is_empty())
        ),
    )
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// Creates the directory if needed and proves a file can be written and removed in it.
fn writable(name: &'static str, dir: &Path, private: bool) -> Check {
    let fix = format!(
        "make {} writable by the user qbsync runs as (with systemd, StateDirectory= and LogsDirectory= do this)",
        dir.display()
    );
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    if private {
        // The state directory holds the token store; created 0700 like the store creates it.
        builder.mode(0o700);
    }
    if let Err(error) = builder.create(dir) {
        return Check::fail(name, format!("cannot create {}: {error}", dir.display()), fix);
    }
    let probe = dir.join(format!(".qbsync-doctor-{}", std::process::id()));
    match std::fs::write(&probe, b"probe").and_then(|()| std::fs::remove_file(&probe)) {
        Ok(()) => Check::pass(name, format!("{} is writable", dir.display())),
        Err(error) => Check::fail(name, format!("cannot write in {}: {error}", dir.display()), fix),
    }
}

/// The store with its key, and whether the key file was created just now.
fn open_token_store(settings: &Settings) -> Result<(TokenStore, KeyOrigin), String> {
    let key_file = settings.paths.state_dir.join(TokenKey::KEY_FILE);
    let existed = key_file.exists();
    let store = context::token_store(settings).map_err(|error| format!("{error:#}"))?;
    let origin = match store.key().source() {
        KeySource::Environment => KeyOrigin::Described(format!("key from {}", TokenKey::ENV_VAR)),
        KeySource::Credential(path) => {
            KeyOrigin::Described(format!("key from the systemd credential {}", path.display()))
        }
        KeySource::KeyFile(path) if existed => KeyOrigin::Described(format!("key file {}", path.display())),
        KeySource::KeyFile(path) => KeyOrigin::Created(path.display().to_string()),
        KeySource::Given => KeyOrigin::Described("key given by the program".to_owned()),
    };
    Ok((store, origin))
}

enum KeyOrigin {
    Described(String),
    /// A key file generated by this run (first use).
    Created(String),
}

fn token_store(store: &Result<(TokenStore, KeyOrigin), String>) -> Check {
    let (store, origin) = match store {
        Ok(pair) => pair,
        Err(error) => {
            return Check::fail(
                TOKEN_STORE,
                error.clone(),
                format!(
                    "{} must be 32 bytes as 64 hex digits (generate one with `openssl rand -hex 32`), or unset it to use a key file in the state directory",
                    TokenKey::ENV_VAR
                ),
            );
        }
    };
    let origin = match origin {
        KeyOrigin::Described(text) => text.clone(),
        KeyOrigin::Created(path) => format!("key file {path} (created now; back it up with the state directory)"),
    };
    match store.load() {
        Ok(_) => Check::pass(TOKEN_STORE, format!("{} opens with the {origin}", store.path().display())),
        Err(error) => Check::fail(
            TOKEN_STORE,
            format!("{} cannot be opened with the {origin}: {error}", store.path().display()),
            "use the key the store was written with; if it is lost, delete the store file and run `qbsync auth` again",
        ),
    }
}

fn quickbooks_grant(settings: &Settings, store: &Result<(TokenStore, KeyOrigin), String>, options: Options) -> Check {
    let Ok((store, _)) = store else {
        return Check::skip(QUICKBOOKS_GRANT, "needs a usable token store");
    };
    let grant = match store.load() {
        Ok(Some(grant)) => grant,
        Ok(None) => {
            return Check::fail(
                QUICKBOOKS_GRANT,
                "no QuickBooks company is connected yet",
                "run `qbsync auth` and approve the connection in the browser",
            );
        }
        Err(_) => return Check::skip(QUICKBOOKS_GRANT, "needs a readable token store"),
    };
    let Ok(oauth) = context::oauth_settings(settings) else {
        return Check::skip(QUICKBOOKS_GRANT, "needs the Intuit app settings");
    };
    if let Err(error) = oauth.check_grant(grant.environment, &grant.realm_id) {
        return Check::fail(QUICKBOOKS_GRANT, error.to_string(), "fix the setting or reconnect, as said above");
    }
    if let Some(marker) = &grant.reconnect {
        let detail = format!(
            "Intuit refused the connection to company {} on {}: {}",
            grant.realm_id,
            day(marker.since),
            marker.reason
        );
        // The daemon waits for a re-connect by itself, so the service may still start.
        return if options.offline {
            Check::warn(QUICKBOOKS_GRANT, detail, "run `qbsync auth` to re-connect; the daemon resumes by itself")
        } else {
            Check::fail(QUICKBOOKS_GRANT, detail, "run `qbsync auth` to re-connect")
        };
    }
    Check::pass(
        QUICKBOOKS_GRANT,
        format!(
            "company {} ({}), saved {}",
            grant.realm_id,
            grant.environment,
            grant.updated_at.format("%Y-%m-%d %H:%M UTC")
        ),
    )
}

fn day(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d").to_string()
}
