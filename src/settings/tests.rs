//! Settings from the environment alone; layering with files is in `tests/it/settings.rs`.

use secrecy::ExposeSecret;

use super::*;

/// Loads with only `env` (and an empty configuration directory, so the repository's own
/// `config/` does not leak in).
fn load(env: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    let mut environment = vec![("QBSYNC_CONFIG_DIR".to_owned(), dir.path().display().to_string())];
    environment.extend(env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    Settings::load(&LoadOptions { config_file: None, env_file: None, environment })
}

fn error(env: &[(&str, &str)]) -> String {
    match load(env) {
        Ok(_) => panic!("{env:?} should be refused"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn defaults_are_the_documented_ones() {
    let s = load(&[]).unwrap();
    assert_eq!(s.google.spreadsheet_id, None);
    assert_eq!(s.google.sheet_tab, "inv_tbl");
    assert!(s.google.service_account.is_none());
    assert_eq!(s.google.sheets_api_url.as_str(), "https://sheets.googleapis.com/");
    assert_eq!(s.google.drive_api_url.as_str(), "https://www.googleapis.com/");
    assert_eq!(s.quickbooks.environment, QboEnvironment::Sandbox);
    assert_eq!(s.quickbooks.api_url.as_str(), "https://sandbox-quickbooks.api.intuit.com/");
    assert_eq!(s.quickbooks.app_url.as_str(), "https://app.sandbox.qbo.intuit.com/");
    assert_eq!(s.quickbooks.token_url.as_str(), "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer");
    assert_eq!(s.quickbooks.auth_url.as_str(), "https://appcenter.intuit.com/connect/oauth2");
    assert_eq!(s.quickbooks.revoke_url.as_str(), "https://developer.api.intuit.com/v2/oauth2/tokens/revoke");
    assert_eq!(s.quickbooks.redirect_uri.as_str(), "http://localhost:8765/callback");
    assert_eq!(s.quickbooks.minor_version, 75);
    assert_eq!(s.sync.mode, SyncMode::InvoiceOnly);
    assert!(!s.sync.enable_bills && !s.sync.creates_bills());
    assert_eq!(s.sync.eligible_statuses.to_string(), "submitted,pending");
    assert!(!s.sync.group_by_invoice && !s.sync.create_missing_names);
    assert_eq!(s.sync.doc_number_prefix, "");
    assert_eq!(s.sync.date_order, DateOrder::MonthFirst);
    assert!(!s.sync.amount_format.allow_space_grouping_comma_decimal);
    assert_eq!(s.sync.columns, ColumnNames::default());
    assert!(s.sync.directions.is_none());
    assert!(s.sync.customer_aliases.is_empty() && s.sync.vendor_aliases.is_empty());
    assert_eq!(s.paths.state_dir, PathBuf::from("state"));
    assert_eq!(s.paths.log_dir, PathBuf::from("logs"));
    assert_eq!(s.daemon.poll_interval, Duration::from_secs(60));
    assert_eq!(s.status.addr, None);
    assert!(s.alerts.webhook_url.is_none() && s.alerts.smtp_url.is_none() && s.alerts.email_to.is_empty());
    assert_eq!(s.alerts.stale_after, Duration::from_secs(1800));
    assert_eq!(
        s.logging,
        LogSettings { json: false, level: "info".into(), keep_files: 14, file_prefix: "quickbooks_sync.log".into() }
    );
    assert!(s.auth.token_key.is_none() && s.auth.credentials_dir.is_none());
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn default_toml_documents_every_setting_by_both_names() {
    let text = layers::EMBEDDED_DEFAULTS;
    for key in keys::all() {
        let (section, name) = key.toml.split_once('.').unwrap();
        assert!(text.contains(&format!("[{section}]")), "section [{section}] missing");
        let documented = text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{name} =")) || l.starts_with(&format!("{name}="))
        });
        assert!(documented, "{} is not in default.toml", key.toml);
        if !key.toml.starts_with("columns.") {
            for env in &key.env {
                assert!(text.contains(env.as_str()), "{env} is not mentioned in default.toml");
            }
        }
    }
}

#[test]
fn the_seed_plan_environment_works_as_it_is() {
    let s = load(&[
        ("GOOGLE_SHEET_URL", "https://docs.google.com/spreadsheets/d/1AbC-dEf_123/edit#gid=0"),
        (
            "GOOGLE_SERVICE_ACCOUNT_JSON",
            r#"{"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----x"}"#,
        ),
        ("QB_CLIENT_ID", "ABc123"),
        ("QB_CLIENT_SECRET", "s3cr3t-client"),
        ("QB_REDIRECT_URI", "https://example.com/qb/callback"),
        ("QB_REALM_ID", "9130350000000000"),
        ("QB_ENV", "Production"),
        ("QB_SYNC_MODE", "dual"),
        ("QB_ENABLE_BILLS", "yes"),
        ("QB_DEFAULT_ITEM_ID", "1"),
        ("QB_DEFAULT_ITEM_NAME", "Services"),
        ("QB_DEFAULT_VENDOR_ACCOUNT", "33"),
        ("QB_DEFAULT_EXPENSE_ACCOUNT", "7"),
        ("QB_ELIGIBLE_STATUSES", "Submitted, Ready"),
        ("QB_MINOR_VERSION", "75"),
    ])
    .unwrap();
    assert_eq!(s.google.spreadsheet_id.as_deref(), Some("1AbC-dEf_123"));
    assert!(
        matches!(&s.google.service_account, Some(ServiceAccountKey::Inline(k)) if k.expose_secret().contains("service_account"))
    );
    assert_eq!(s.quickbooks.client_id.as_deref(), Some("ABc123"));
    assert_eq!(s.quickbooks.client_secret.as_ref().map(|k| k.expose_secret()), Some("s3cr3t-client"));
    assert_eq!(s.quickbooks.redirect_uri.as_str(), "https://example.com/qb/callback");
    assert_eq!(s.quickbooks.realm_id.as_deref(), Some("9130350000000000"));
    assert_eq!(s.quickbooks.environment, QboEnvironment::Production);
    assert_eq!(s.quickbooks.api_url.as_str(), "https://quickbooks.api.intuit.com/");
    assert_eq!(s.quickbooks.invoice_link("238"), "https://app.qbo.intuit.com/app/invoice?txnId=238");
    assert_eq!(s.quickbooks.bill_link("12"), "https://app.qbo.intuit.com/app/bill?txnId=12");
    assert!(s.sync.creates_bills());
    assert_eq!(s.quickbooks.default_item_id.as_deref(), Some("1"));
    assert_eq!(s.quickbooks.default_item_name.as_deref(), Some("Services"));
    assert_eq!(s.quickbooks.default_vendor_account.as_deref(), Some("33"));
    assert_eq!(s.quickbooks.default_expense_account.as_deref(), Some("7"));
    assert!(s.sync.eligible_statuses.contains("ready") && !s.sync.eligible_statuses.contains("pending"));
    s.require_sheet().unwrap();
    s.require_quickbooks().unwrap();
}

#[test]
fn qb_env_values() {
    for (value, want) in [
        ("Sandbox", QboEnvironment::Sandbox),
        ("development", QboEnvironment::Sandbox),
        ("PRODUCTION", QboEnvironment::Production),
    ] {
        assert_eq!(load(&[("QB_ENV", value)]).unwrap().quickbooks.environment, want, "{value}");
    }
    let sandbox = load(&[("QB_ENV", "Development")]).unwrap();
    assert_eq!(sandbox.quickbooks.invoice_link("5"), "https://app.sandbox.qbo.intuit.com/app/invoice?txnId=5");
    assert_eq!(
        error(&[("QB_ENV", "staging")]),
        "QB_ENV=staging is not a QuickBooks environment: use Sandbox (or Development) or Production (in a config file: environment under [quickbooks])"
    );
}

#[test]
fn a_wrong_sync_mode_names_the_setting_the_value_and_the_fix() {
    assert_eq!(
        error(&[("QB_SYNC_MODE", "duel")]),
        "QB_SYNC_MODE=duel is not a sync mode: use invoice_only or dual (in a config file: mode under [sync])"
    );
}

#[test]
fn dual_mode_needs_bills_switched_on() {
    let message = error(&[("QB_SYNC_MODE", "dual")]);
    assert!(message.starts_with("QB_SYNC_MODE=dual needs QB_ENABLE_BILLS=true"), "{message}");
    assert!(message.contains("QB_SYNC_MODE=invoice_only"), "{message}");
    let s = load(&[("QB_ENABLE_BILLS", "true")]).unwrap();
    assert!(!s.sync.creates_bills());
    assert!(s.warnings.iter().any(|w| w.contains("QB_ENABLE_BILLS=true has no effect")), "{:?}", s.warnings);
    assert!(
        error(&[("QB_ENABLE_BILLS", "maybe")])
            .starts_with("QB_ENABLE_BILLS=maybe is not true or false: use true or false")
    );
}

#[test]
fn requirements_name_what_is_missing() {
    let s = load(&[]).unwrap();
    let sheet = s.require_sheet().unwrap_err().to_string();
    assert!(sheet.starts_with("GOOGLE_SHEET_URL is not set: "), "{sheet}");
    assert!(sheet.contains("sheet_url under [google]"), "{sheet}");
    let app = s.require_quickbooks().unwrap_err().to_string();
    assert!(app.starts_with("QB_CLIENT_ID is not set"), "{app}");

    let s = load(&[("QB_CLIENT_ID", "id"), ("QB_CLIENT_SECRET", "secret")]).unwrap();
    s.require_quickbooks_app().unwrap();
    let item = s.require_quickbooks().unwrap_err().to_string();
    assert!(item.starts_with("QB_DEFAULT_ITEM_ID is not set") && item.contains("qbsync doctor"), "{item}");

    let s = load(&[
        ("QB_CLIENT_ID", "id"),
        ("QB_CLIENT_SECRET", "secret"),
        ("QB_DEFAULT_ITEM_ID", "1"),
        ("QB_SYNC_MODE", "dual"),
        ("QB_ENABLE_BILLS", "1"),
    ])
    .unwrap();
    let expense = s.require_quickbooks().unwrap_err().to_string();
    assert!(expense.starts_with("QB_DEFAULT_EXPENSE_ACCOUNT is not set"), "{expense}");

    let directions = s.require_directions().unwrap_err().to_string();
    assert!(directions.contains("qb_directions.json") && directions.contains("money_in"), "{directions}");
}

#[test]
fn ids_must_be_ids() {
    let message = error(&[("QB_DEFAULT_ITEM_ID", "Services")]);
    assert!(message.starts_with("QB_DEFAULT_ITEM_ID=Services is not a QuickBooks Id"), "{message}");
    assert!(message.contains("QB_DEFAULT_ITEM_NAME"), "{message}");
    assert!(error(&[("QB_REALM_ID", "abc")]).starts_with("QB_REALM_ID=abc is not a QuickBooks Id"));
    assert!(error(&[("QB_DEFAULT_EXPENSE_ACCOUNT", "Contract Labor")]).contains("is not a QuickBooks Id"));
}

#[test]
fn debug_and_errors_never_show_secrets() {
    let secrets = [
        ("QB_CLIENT_SECRET", "client-secret-value-1"),
        ("QBSYNC_TOKEN_KEY", "token-key-value-2"),
        ("QBSYNC_GOOGLE_CLIENT_SECRET", "google-secret-value-3"),
        ("QBSYNC_ALERT_WEBHOOK_URL", "https://hooks.example.com/services/webhook-secret-4"),
        ("QBSYNC_SMTP_URL", "smtps://user:smtp-password-5@smtp.example.com:465"),
        ("QBSYNC_ALERT_EMAIL_TO", "books@example.com"),
        ("QBSYNC_ALERT_EMAIL_FROM", "qbsync@example.com"),
        ("GOOGLE_SERVICE_ACCOUNT_JSON", r#"{"private_key": "private-key-value-6"}"#),
    ];
    let s = load(&secrets).unwrap();
    assert_eq!(s.auth.token_key.as_ref().map(|k| k.expose_secret()), Some("token-key-value-2"));
    let debug = format!("{s:?}");
    for needle in [
        "client-secret-value-1",
        "token-key-value-2",
        "google-secret-value-3",
        "webhook-secret-4",
        "smtp-password-5",
        "private-key-value-6",
    ] {
        assert!(!debug.contains(needle), "Debug shows {needle}");
    }

    let message = error(&[("QBSYNC_SMTP_URL", "not-a-url-but-a-secret-7")]);
    assert!(message.starts_with("QBSYNC_SMTP_URL (value hidden) is not a URL"), "{message}");
    assert!(!message.contains("secret-7"), "{message}");
    let message = error(&[("GOOGLE_SERVICE_ACCOUNT_JSON", r#"{"private_key": "secret-8""#)]);
    assert!(message.contains("(value hidden)") && !message.contains("secret-8"), "{message}");
}

#[test]
fn service_account_key_from_either_name() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key.json");
    std::fs::write(&key, "{}").unwrap();
    let other = dir.path().join("other.json");
    std::fs::write(&other, "{}").unwrap();
    let key = key.display().to_string();
    let other = other.display().to_string();

    let s = load(&[("GOOGLE_APPLICATION_CREDENTIALS", &key)]).unwrap();
    assert!(matches!(&s.google.service_account, Some(ServiceAccountKey::File(p)) if p.display().to_string() == key));
    let s = load(&[("GOOGLE_APPLICATION_CREDENTIALS", &other), ("GOOGLE_SERVICE_ACCOUNT_JSON", &key)]).unwrap();
    assert!(matches!(&s.google.service_account, Some(ServiceAccountKey::File(p)) if p.display().to_string() == key));

    let message = error(&[("GOOGLE_SERVICE_ACCOUNT_JSON", "/nonexistent/key.json")]);
    assert!(
        message.starts_with("GOOGLE_SERVICE_ACCOUNT_JSON=/nonexistent/key.json names no readable file"),
        "{message}"
    );
    let message = error(&[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")]);
    assert!(
        message.starts_with("GOOGLE_APPLICATION_CREDENTIALS=/nonexistent/key.json names no readable file"),
        "{message}"
    );
}

#[test]
fn sheet_url_forms() {
    let s = load(&[("GOOGLE_SHEET_URL", "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms")]).unwrap();
    assert_eq!(s.google.spreadsheet_id.as_deref(), Some("1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"));
    let message = error(&[("GOOGLE_SHEET_URL", "https://example.com/sheet")]);
    assert!(message.starts_with(
        "GOOGLE_SHEET_URL=https://example.com/sheet is neither a Google Sheets address nor a spreadsheet id"
    ));
}

#[test]
fn endpoint_overrides_for_the_sandbox() {
    let s = load(&[
        ("QBSYNC_SHEETS_API_URL", "http://127.0.0.1:4000"),
        ("QBSYNC_DRIVE_API_URL", "http://127.0.0.1:4000/"),
        ("QBSYNC_QBO_API_URL", "http://127.0.0.1:4000"),
        ("QBSYNC_QBO_TOKEN_URL", "http://127.0.0.1:4000/oauth2/v1/tokens/bearer"),
        ("QBSYNC_QBO_AUTH_URL", "http://127.0.0.1:4000/connect/oauth2"),
        ("QBSYNC_QBO_REVOKE_URL", "http://127.0.0.1:4000/v2/oauth2/tokens/revoke"),
        ("QBSYNC_QBO_APP_URL", "http://localhost:4000/qbo"),
    ])
    .unwrap();
    assert_eq!(s.google.sheets_api_url.as_str(), "http://127.0.0.1:4000/");
    assert_eq!(s.quickbooks.api_url.as_str(), "http://127.0.0.1:4000/");
    assert_eq!(s.quickbooks.token_url.as_str(), "http://127.0.0.1:4000/oauth2/v1/tokens/bearer");
    assert_eq!(s.quickbooks.revoke_url.path(), "/v2/oauth2/tokens/revoke");
    assert_eq!(s.quickbooks.invoice_link("1"), "http://localhost:4000/qbo/app/invoice?txnId=1");
    let message = error(&[("QBSYNC_QBO_API_URL", "http://quickbooks.example.com/")]);
    assert!(message.contains("uses http to a host other than this machine: use https"), "{message}");
}

#[test]
fn sync_options() {
    let s = load(&[
        ("QBSYNC_GROUP_BY_INVOICE", "TRUE"),
        ("QBSYNC_CREATE_MISSING_NAMES", "1"),
        ("QBSYNC_DOC_NUMBER_PREFIX", "ACD-"),
        ("QBSYNC_DATE_ORDER", "eu"),
        ("QBSYNC_AMOUNT_DECIMAL_COMMA", "yes"),
        ("QBSYNC_COLUMN_INV_DOLLARS", "Amount"),
        ("QBSYNC_COLUMN_OWED2ACD", "Owed to ACD"),
    ])
    .unwrap();
    assert!(s.sync.group_by_invoice && s.sync.create_missing_names);
    assert_eq!(s.sync.doc_number_prefix, "ACD-");
    assert_eq!(s.sync.date_order, DateOrder::DayFirst);
    assert!(s.sync.amount_format.allow_space_grouping_comma_decimal);
    assert_eq!(s.sync.columns.name(Field::InvDollars), "Amount");
    assert_eq!(s.sync.columns.name(Field::Owed2Acd), "Owed to ACD");
    assert_eq!(s.sync.columns.name(Field::Invoice), "invoice");

    let message = error(&[("QBSYNC_DOC_NUMBER_PREFIX", "A-VERY-LONG-PREFIX-2025-")]);
    assert!(message.contains("is longer than 20 characters"), "{message}");
    assert!(error(&[("QBSYNC_DATE_ORDER", "iso")]).starts_with("QBSYNC_DATE_ORDER=iso is not a date order"));
    assert!(error(&[("QB_ELIGIBLE_STATUSES", " , ")]).contains("lists no status"));
    let message = error(&[("QBSYNC_COLUMN_NOTES", "Thread")]);
    assert!(message.contains("QBSYNC_COLUMN_NOTES") && message.contains("QBSYNC_COLUMN_THREAD"), "{message}");
}

#[test]
fn running_options() {
    let s = load(&[
        ("QBSYNC_POLL_INTERVAL", "15"),
        ("QBSYNC_STATUS_ADDR", "127.0.0.1:8787"),
        ("QBSYNC_ALERT_STALE_AFTER", "600"),
        ("QBSYNC_LOG_JSON", "true"),
        ("QBSYNC_LOG_LEVEL", "debug"),
        ("QBSYNC_LOG_KEEP_FILES", "3"),
        ("QBSYNC_LOG_FILE_PREFIX", "qbsync.log"),
        ("QBSYNC_STATE_DIR", "/var/lib/x"),
        ("QBSYNC_LOG_DIR", "/var/log/x"),
        ("QBSYNC_SHEET_TAB", "Invoices 2025"),
    ])
    .unwrap();
    assert_eq!(s.daemon.poll_interval, Duration::from_secs(15));
    assert_eq!(s.status.addr, Some("127.0.0.1:8787".parse().unwrap()));
    assert_eq!(s.alerts.stale_after, Duration::from_secs(600));
    assert_eq!(
        s.logging,
        LogSettings { json: true, level: "debug".into(), keep_files: 3, file_prefix: "qbsync.log".into() }
    );
    assert_eq!(s.paths.state_dir, PathBuf::from("/var/lib/x"));
    assert_eq!(s.paths.log_dir, PathBuf::from("/var/log/x"));
    assert_eq!(s.google.sheet_tab, "Invoices 2025");
    assert!(
        error(&[("QBSYNC_POLL_INTERVAL", "soon")]).starts_with("QBSYNC_POLL_INTERVAL=soon is not a number of seconds")
    );
    assert!(error(&[("QBSYNC_STATUS_ADDR", "everywhere")]).contains("is not an address and port"));
    assert!(error(&[("QBSYNC_LOG_LEVEL", "loud")]).starts_with("QBSYNC_LOG_LEVEL=loud is not a log level"));
}

#[test]
fn systemd_directories_apply_unless_set_explicitly() {
    let s = load(&[
        ("STATE_DIRECTORY", "/var/lib/qbsync:/var/lib/other"),
        ("LOGS_DIRECTORY", "/var/log/qbsync"),
        ("CREDENTIALS_DIRECTORY", "/run/credentials/qbsync.service"),
    ])
    .unwrap();
    assert_eq!(s.paths.state_dir, PathBuf::from("/var/lib/qbsync"));
    assert_eq!(s.paths.log_dir, PathBuf::from("/var/log/qbsync"));
    assert_eq!(s.auth.credentials_dir, Some(PathBuf::from("/run/credentials/qbsync.service")));
    let s = load(&[("STATE_DIRECTORY", "/var/lib/qbsync"), ("QBSYNC_STATE_DIR", "/srv/qbsync")]).unwrap();
    assert_eq!(s.paths.state_dir, PathBuf::from("/srv/qbsync"));
}

#[test]
fn e_mail_alerts_need_all_three_settings() {
    let message = error(&[("QBSYNC_SMTP_URL", "smtp://smtp.example.com:587")]);
    assert!(message.starts_with("e-mail alerts need all three of QBSYNC_SMTP_URL"), "{message}");
    assert!(error(&[("QBSYNC_ALERT_EMAIL_TO", "a@example.com")]).contains("QBSYNC_SMTP_URL is not set"));
    assert!(error(&[("QBSYNC_ALERT_EMAIL_TO", "nobody")]).contains("is not an e-mail address"));
}

#[test]
fn unknown_names_and_old_minor_versions_are_warned_about() {
    let s = load(&[("QBSYNC_POLL_INTERAVL", "5"), ("QB_MINOR_VERSION", "65"), ("HOME", "/root")]).unwrap();
    assert_eq!(s.quickbooks.minor_version, 75);
    assert!(
        s.warnings.iter().any(|w| w.contains("QBSYNC_POLL_INTERAVL") && w.contains("QBSYNC_POLL_INTERVAL")),
        "{:?}",
        s.warnings
    );
    assert!(s.warnings.iter().any(|w| w.contains("QB_MINOR_VERSION=65")), "{:?}", s.warnings);
    assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
}

#[test]
fn empty_variables_count_as_unset() {
    let s = load(&[("QB_SYNC_MODE", ""), ("QB_DEFAULT_VENDOR_ACCOUNT", " "), ("QBSYNC_SHEET_TAB", "")]).unwrap();
    assert_eq!(s.sync.mode, SyncMode::InvoiceOnly);
    assert_eq!(s.quickbooks.default_vendor_account, None);
    assert_eq!(s.google.sheet_tab, "inv_tbl");
}

#[test]
fn config_fingerprint_follows_what_rows_depend_on() {
    let base = load(&[]).unwrap().config_fingerprint();
    assert_eq!(base, load(&[]).unwrap().config_fingerprint());
    for change in [
        ("QBSYNC_DOC_NUMBER_PREFIX", "ACD-"),
        ("QB_DEFAULT_ITEM_ID", "2"),
        ("QBSYNC_DATE_ORDER", "day-first"),
        ("QBSYNC_COLUMN_INV_DOLLARS", "Amount"),
        ("QB_REALM_ID", "1"),
        ("QBSYNC_CREATE_MISSING_NAMES", "true"),
    ] {
        assert_ne!(load(&[change]).unwrap().config_fingerprint(), base, "{change:?}");
    }
    for irrelevant in [("QBSYNC_POLL_INTERVAL", "5"), ("QBSYNC_LOG_LEVEL", "debug"), ("QBSYNC_STATUS_ADDR", "8787")] {
        assert_eq!(load(&[irrelevant]).unwrap().config_fingerprint(), base, "{irrelevant:?}");
    }
}

#[test]
fn sync_mode_parses_for_the_cli_too() {
    assert_eq!("invoice_only".parse::<SyncMode>(), Ok(SyncMode::InvoiceOnly));
    assert_eq!("Invoice-Only".parse::<SyncMode>(), Ok(SyncMode::InvoiceOnly));
    assert_eq!("DUAL".parse::<SyncMode>(), Ok(SyncMode::Dual));
    assert_eq!(
        "duel".parse::<SyncMode>().unwrap_err().to_string(),
        "\"duel\" is not a sync mode: use invoice_only or dual"
    );
}

#[test]
fn built_in_constants_equal_default_toml() {
    // Blank every key default.toml sets: the constants in `defaults` then apply, and must give
    // the same settings as default.toml itself.
    let blanked: String = layers::EMBEDDED_DEFAULTS
        .lines()
        .filter_map(|line| {
            if line.starts_with('[') {
                Some(line.to_owned())
            } else {
                line.split_once(" = ").filter(|_| !line.starts_with('#')).map(|(key, _)| format!("{key} = \"\""))
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("blank.toml");
    std::fs::write(&file, &blanked).unwrap();
    let environment = vec![("QBSYNC_CONFIG_DIR".to_owned(), dir.path().display().to_string())];
    let from_constants = Settings::load(&LoadOptions { config_file: Some(file), env_file: None, environment }).unwrap();
    assert!(blanked.matches("= \"\"").count() > 40, "{blanked}");
    let from_toml = load(&[]).unwrap();
    let without_paths = |s: &Settings| {
        format!("{:?}", (&s.google, &s.quickbooks, &s.sync, &s.daemon, &s.status, &s.alerts, &s.logging, &s.tuning))
    };
    assert_eq!(without_paths(&from_constants), without_paths(&from_toml));
}

#[test]
fn tax_settings_default_to_no_codes_exclusive_amounts_and_failing_negatives() {
    let s = load(&[]).unwrap();
    assert_eq!(s.tax, TaxSettings::default());
    assert_eq!(s.tax.negative_amounts, NegativeAmounts::Fail);
    assert!(s.tax.config.sales_code.is_none() && !s.tax.config.amounts_include_tax);
}

#[test]
fn tax_settings_are_read_from_the_environment() {
    let s = load(&[
        ("QB_DEFAULT_TAX_CODE", " 20.0% S "),
        ("QB_DEFAULT_PURCHASE_TAX_CODE", "4"),
        ("QBSYNC_AMOUNTS_INCLUDE_TAX", "yes"),
        ("QBSYNC_NEGATIVE_AMOUNTS", "Credit"),
    ])
    .unwrap();
    assert_eq!(s.tax.config.sales_code.as_ref().map(|c| c.as_str()), Some("20.0% S"));
    assert_eq!(s.tax.config.purchase_code.as_ref().map(|c| c.as_str()), Some("4"));
    assert!(s.tax.config.amounts_include_tax);
    assert_eq!(s.tax.negative_amounts, NegativeAmounts::Credit);
}

#[test]
fn a_bad_negative_amounts_value_names_the_setting_and_the_choices() {
    let message = error(&[("QBSYNC_NEGATIVE_AMOUNTS", "refund")]);
    assert!(message.starts_with("QBSYNC_NEGATIVE_AMOUNTS=refund is not a way to handle negative amounts"), "{message}");
    assert!(message.contains("use fail") && message.contains("credit"), "{message}");
    assert!(error(&[("QBSYNC_AMOUNTS_INCLUDE_TAX", "maybe")]).starts_with("QBSYNC_AMOUNTS_INCLUDE_TAX=maybe"));
}

#[test]
fn tax_settings_change_the_fingerprint_only_when_set() {
    let plain = load(&[]).unwrap().config_fingerprint();
    assert_eq!(load(&[("QBSYNC_NEGATIVE_AMOUNTS", "fail")]).unwrap().config_fingerprint(), plain);
    let with_code = load(&[("QB_DEFAULT_TAX_CODE", "TAX")]).unwrap().config_fingerprint();
    assert_ne!(with_code, plain);
    assert_ne!(load(&[("QB_DEFAULT_TAX_CODE", "NON")]).unwrap().config_fingerprint(), with_code);
}
