//! `qbsync doctor`: every check passing on a ready sandbox, and each failing with its message
//! and fix. Most run the checks in-process (`doctor::diagnose`, the same code the binary
//! runs); the binary itself is run for the exit status and the rendering.

use qbsync::doctor::names::*;
use qbsync::doctor::{self, Check, Options, Outcome, Report};
use qbsync::sandbox::intuit::IntuitLifetimes;
use qbsync::sandbox::qbo::{EntityKind, SandboxCountry};
use std::time::Duration;

use super::{assert_exit, load, qbsync, qbsync_in, stdout, with, without};
use crate::support::World;

async fn diagnose(env: &[(String, String)]) -> Report {
    doctor::diagnose(&load(env), Options::default()).await
}

async fn diagnose_offline(env: &[(String, String)]) -> Report {
    doctor::diagnose(&load(env), Options { offline: true }).await
}

fn check<'a>(report: &'a Report, name: &str) -> &'a Check {
    report.get(name).unwrap_or_else(|| panic!("no check {name:?} in {}", report.render()))
}

/// The check failed, and its detail and fix together say every one of `fragments`.
fn assert_fails(report: &Report, name: &str, fragments: &[&str]) {
    let found = check(report, name);
    assert_eq!(found.outcome, Outcome::Fail, "{name} should fail:\n{}", report.render());
    let said = format!("{} {}", found.detail, found.fix.as_deref().unwrap_or_default());
    for fragment in fragments {
        assert!(said.contains(fragment), "{name}: {said:?} should say {fragment:?}");
    }
    assert!(!report.all_ok());
}

fn assert_passes(report: &Report, name: &str, fragments: &[&str]) {
    let found = check(report, name);
    assert_eq!(found.outcome, Outcome::Pass, "{name} should pass:\n{}", report.render());
    for fragment in fragments {
        assert!(found.detail.contains(fragment), "{name}: {:?} should say {fragment:?}", found.detail);
    }
}

/// The demo sandbox with its tracking columns and its one unmapped `inv_from` corrected: a
/// configuration every check accepts.
async fn ready_world(dual: bool) -> World {
    let extra: &[(&str, &str)] = if dual { &[("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")] } else { &[] };
    let world = World::start(Default::default(), extra).await;
    world.migrate(dual).await;
    let row = row_of(&world, "ACD-2025-0116");
    world.sandbox.google.set_cell(world.tab(), row, world.col("inv_from"), "ACD").unwrap();
    world
}

/// The 0-based grid row of the row numbered `invoice`.
fn row_of(world: &World, invoice: &str) -> usize {
    let col = world.col("invoice");
    world.sheet().iter().position(|r| r.get(col).is_some_and(|c| c.as_text() == invoice)).expect("row")
}

#[tokio::test]
async fn every_check_passes_on_a_ready_sandbox_and_the_binary_exits_0() {
    let world = ready_world(false).await;
    let report = diagnose(&world.env).await;
    assert!(report.all_ok(), "{}", report.render());
    for name in [
        SETTINGS,
        SHEET_CONFIGURED,
        GOOGLE_CONFIGURED,
        INTUIT_APP,
        QUICKBOOKS_IDS,
        DIRECTION_MAP,
        ALIAS_FILES,
        STATE_DIR,
        LOG_DIR,
        TOKEN_STORE,
        QUICKBOOKS_GRANT,
        GOOGLE_CREDENTIALS,
        SHEET,
        HEADERS,
        INV_FROM,
        DRIVE_CHANGES,
        QUICKBOOKS,
        CUSTOM_NUMBERS,
        ITEM,
        EXPENSE_ACCOUNT,
        AP_ACCOUNT,
    ] {
        assert_passes(&report, name, &[]);
    }
    assert!(report.get(BILLS).is_none(), "bills are not asked about in invoice-only mode");
    let email = world.sandbox.google.service_account_email();
    assert_passes(&report, GOOGLE_CREDENTIALS, &[&email]);
    assert_passes(&report, SHEET, &["tab \"inv_tbl\""]);
    assert_passes(
        &report,
        QUICKBOOKS,
        &[
            "\"Sandbox Company_US_1\"",
            "company 9341453100000000, sandbox",
            "QuickBooks Online Plus",
            "refresh token valid until",
        ],
    );
    assert_passes(&report, ITEM, &["1 \"Services\" (Service)"]);
    assert_passes(&report, EXPENSE_ACCOUNT, &["7 \"Contract Labor\" (Expense)"]);
    assert_passes(&report, AP_ACCOUNT, &["33 \"Accounts Payable (A/P)\" (Accounts Payable)"]);
    assert_passes(&report, TOKEN_STORE, &["QBSYNC_TOKEN_KEY"]);

    let output = qbsync(&world.env, &["doctor"]).await;
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("✓ QuickBooks connected: \"Sandbox Company_US_1\""), "{text}");
    assert!(text.contains("✓ sheet and tab:"), "{text}");
    assert!(text.contains(&format!("All {} checks passed", report.checks.len())), "{text}");
    assert!(!text.contains('✗'), "{text}");
}

#[tokio::test]
async fn offline_checks_the_configuration_without_a_single_request() {
    let world = ready_world(false).await;
    let before = world.sandbox.requests().len();
    let output = qbsync(&world.env, &["doctor", "--offline"]).await;
    assert_exit(&output, 0);
    assert_eq!(world.sandbox.requests().len(), before, "no request reached Google or Intuit");
    let text = stdout(&output);
    assert!(text.contains("✓ token store:"), "{text}");
    assert!(text.contains("✓ QuickBooks connection stored: company 9341453100000000 (sandbox)"), "{text}");
    assert!(!text.contains("sheet and tab"), "only configuration checks: {text}");

    // The same over JSON, for scripts.
    let output = qbsync(&world.env, &["doctor", "--offline", "--json"]).await;
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let checks = json["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 11);
    assert!(checks.iter().all(|c| c["outcome"] == "pass"), "{json:#}");
}

#[tokio::test]
async fn each_configuration_check_fails_with_its_fix() {
    let world = World::demo().await;
    let env = &world.env;

    let report = diagnose_offline(&without(env, &["GOOGLE_SHEET_URL"])).await;
    assert_fails(&report, SHEET_CONFIGURED, &["GOOGLE_SHEET_URL is not set", "docs.google.com/spreadsheets/d/"]);

    let report = diagnose_offline(&without(env, &["GOOGLE_SERVICE_ACCOUNT_JSON"])).await;
    assert_fails(&report, GOOGLE_CONFIGURED, &["GOOGLE_SERVICE_ACCOUNT_JSON", "qbsync auth google"]);

    let report = diagnose_offline(&without(env, &["QB_CLIENT_SECRET"])).await;
    assert_fails(&report, INTUIT_APP, &["QB_CLIENT_SECRET is not set", "Keys and credentials"]);

    let report = diagnose_offline(&without(env, &["QB_DEFAULT_ITEM_ID", "QB_REALM_ID"])).await;
    assert_fails(
        &report,
        QUICKBOOKS_IDS,
        &["QB_REALM_ID and QB_DEFAULT_ITEM_ID not set", "QB_REALM_ID=9341453100000000", "`qbsync doctor` lists"],
    );

    let empty_config = tempfile::tempdir().unwrap();
    let report = diagnose_offline(&with(env, &[("QBSYNC_CONFIG_DIR", empty_config.path().to_str().unwrap())])).await;
    assert_fails(&report, DIRECTION_MAP, &["qb_directions.json", "money coming in"]);

    let report = diagnose_offline(&with(env, &[("QBSYNC_STATE_DIR", "/proc/qbsync-cannot-be-here")])).await;
    assert_fails(&report, STATE_DIR, &["cannot create /proc/qbsync-cannot-be-here", "writable"]);

    let other_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let report = diagnose_offline(&with(env, &[("QBSYNC_TOKEN_KEY", other_key)])).await;
    assert_fails(&report, TOKEN_STORE, &["different key", "use the key the store was written with"]);

    let fresh = tempfile::tempdir().unwrap();
    let report = diagnose_offline(&with(env, &[("QBSYNC_STATE_DIR", fresh.path().to_str().unwrap())])).await;
    assert_fails(&report, QUICKBOOKS_GRANT, &["no QuickBooks company is connected yet", "run `qbsync auth`"]);
    assert_eq!(check(&report, TOKEN_STORE).outcome, Outcome::Pass, "an empty store is a usable store");

    let report = diagnose_offline(&with(env, &[("QB_REALM_ID", "1234")])).await;
    assert_fails(&report, QUICKBOOKS_GRANT, &["company 9341453100000000 but QB_REALM_ID is 1234"]);

    // A configuration that does not load is the one check: nothing else can be asked.
    let report = diagnose_offline(&with(env, &[("QB_ENV", "staging")])).await;
    assert_eq!(report.checks.len(), 1, "{}", report.render());
    assert_fails(&report, SETTINGS, &["QB_ENV=staging", "Sandbox"]);
    let output = qbsync(&with(env, &[("QB_ENV", "staging")]), &["doctor"]).await;
    assert_exit(&output, 1);
    assert!(stdout(&output).contains("✗ settings: QB_ENV=staging"), "{}", stdout(&output));
}

#[tokio::test]
async fn each_google_check_fails_with_its_message() {
    let world = World::demo().await;
    let env = &world.env;
    let google = &world.sandbox.google;

    // Before `qbsync migrate`: the tracking columns are missing; and Contoso is on a ready row.
    let report = diagnose(env).await;
    assert_fails(&report, HEADERS, &["\"qb_invoice_id\"", "run `qbsync migrate`"]);
    assert_eq!(check(&report, INV_FROM).outcome, Outcome::Skip);
    world.migrate(false).await;
    let report = diagnose(env).await;
    assert_passes(&report, HEADERS, &[]);
    assert_fails(
        &report,
        INV_FROM,
        &["\"Contoso Freelance\" (sheet row 18)", "mapped nowhere", "\"money_in\"", "qb_directions.json"],
    );

    google.set_shared(false);
    let report = diagnose(env).await;
    let email = google.service_account_email();
    assert_passes(&report, GOOGLE_CREDENTIALS, &[&email]);
    assert_fails(&report, SHEET, &[&format!("the sheet is not shared with {email}"), "Share"]);
    assert_eq!(check(&report, HEADERS).outcome, Outcome::Skip);
    google.set_shared(true);

    let report = diagnose(&with(env, &[("QBSYNC_SHEET_TAB", "Invoices")])).await;
    assert_fails(&report, SHEET, &["no tab named \"Invoices\"; its tabs are: \"inv_tbl\"", "QBSYNC_SHEET_TAB"]);

    let elsewhere =
        format!("{}spreadsheets/d/1NoSuchSheet000000000000000000000000000000/edit", world.sandbox.base_url());
    let report = diagnose(&with(env, &[("GOOGLE_SHEET_URL", elsewhere.as_str())])).await;
    assert_fails(&report, SHEET, &["no such spreadsheet: 1NoSuchSheet", "GOOGLE_SHEET_URL"]);

    // A key whose token endpoint does not answer: the credentials cannot be proven.
    let key: serde_json::Value = serde_json::from_str(&google.service_account_json()).unwrap();
    let mut dead = key.clone();
    dead["token_uri"] = "http://127.0.0.1:9/token".into();
    let dead_file = world._dir.path().join("dead-key.json");
    std::fs::write(&dead_file, dead.to_string()).unwrap();
    let report = diagnose(&with(env, &[("GOOGLE_SERVICE_ACCOUNT_JSON", dead_file.to_str().unwrap())])).await;
    assert_fails(&report, GOOGLE_CREDENTIALS, &["Google could not be reached", "network"]);
    assert_eq!(check(&report, SHEET).outcome, Outcome::Skip);
}

#[tokio::test]
async fn the_accounts_of_opt_in_payments_are_checked_only_when_switched_on() {
    let world = ready_world(false).await;
    let report = diagnose(&world.env).await;
    assert!(report.get(BILL_PAYMENT_ACCOUNT).is_none() && report.get(DEPOSIT_ACCOUNT).is_none());
    let on = [
        ("QB_AUTO_MARK_BILL_PAID", "true"),
        ("QB_BILL_PAYMENT_ACCOUNT", "35"),
        ("QB_AUTO_MARK_INVOICE_PAID", "true"),
        ("QB_PAYMENT_DEPOSIT_ACCOUNT", "7"),
    ];
    let report = diagnose(&with(&world.env, &on)).await;
    assert_passes(&report, BILL_PAYMENT_ACCOUNT, &["35 \"Checking\" (Bank)"]);
    assert_fails(
        &report,
        DEPOSIT_ACCOUNT,
        &["account 7", "is not of type \"Bank\"", "QB_PAYMENT_DEPOSIT_ACCOUNT", "35 \"Checking\""],
    );
}

#[tokio::test]
async fn each_quickbooks_check_fails_with_its_message_and_the_ids_to_use() {
    let world = ready_world(false).await;
    let env = &world.env;
    let qbo = &world.sandbox.qbo;

    // A first-time user leaves the id out and copies one from the list.
    let report = diagnose(&without(env, &["QB_DEFAULT_ITEM_ID"])).await;
    assert_fails(&report, ITEM, &["QB_DEFAULT_ITEM_ID is not set", "items you can use: 1 \"Services\" (Service)"]);

    let report = diagnose(&with(env, &[("QB_DEFAULT_ITEM_ID", "999")])).await;
    assert_fails(&report, ITEM, &["no item with Id 999", "items you can use: 1 \"Services\" (Service)"]);

    let consulting =
        qbo.add_entity(EntityKind::Item, &serde_json::json!({"Name": "Consulting", "Type": "Service"})).unwrap();
    let consulting_id = consulting["Id"].as_str().unwrap().to_owned();
    let training =
        qbo.add_entity(EntityKind::Item, &serde_json::json!({"Name": "Training", "Type": "Category"})).unwrap();
    let training_id = training["Id"].as_str().unwrap().to_owned();
    let report = diagnose(&with(env, &[("QB_DEFAULT_ITEM_ID", training_id.as_str())])).await;
    assert_fails(&report, ITEM, &["is a category", &format!("{consulting_id} \"Consulting\" (Service)")]);
    assert!(!check(&report, ITEM).fix.as_deref().unwrap().contains("Training"), "categories are no candidates");

    qbo.set_active(EntityKind::Item, "1", false).unwrap();
    let report = diagnose(env).await;
    assert_fails(&report, ITEM, &["item 1", "is inactive", "Make active", &format!("{consulting_id} \"Consulting\"")]);
    qbo.set_active(EntityKind::Item, "1", true).unwrap();

    let report = diagnose(&with(env, &[("QB_DEFAULT_EXPENSE_ACCOUNT", "33")])).await;
    assert_fails(
        &report,
        EXPENSE_ACCOUNT,
        &["account 33 \"Accounts Payable (A/P)\" (Accounts Payable) is not of type", "7 \"Contract Labor\" (Expense)"],
    );
    let report = diagnose(&with(env, &[("QB_DEFAULT_VENDOR_ACCOUNT", "7")])).await;
    assert_fails(&report, AP_ACCOUNT, &["is not of type \"Accounts Payable\"", "33 \"Accounts Payable (A/P)\""]);

    qbo.set_active(EntityKind::Account, "7", false).unwrap();
    let report = diagnose(env).await;
    assert_fails(&report, EXPENSE_ACCOUNT, &["account 7", "is inactive", "Chart of accounts"]);
    qbo.set_active(EntityKind::Account, "7", true).unwrap();

    qbo.set_custom_txn_numbers(false);
    let report = diagnose(env).await;
    assert_fails(&report, CUSTOM_NUMBERS, &["off", "Custom transaction numbers"]);
    qbo.set_custom_txn_numbers(true);

    // A refresh token about to lapse: still connected, with a warning and the fix.
    let mut lifetimes = world.sandbox.intuit.lifetimes();
    lifetimes.refresh_token = Duration::from_secs(10 * 24 * 3600);
    world.sandbox.intuit.set_lifetimes(lifetimes);
    world.sandbox.intuit.expire_access_tokens();
    let report = diagnose(env).await;
    let connected = check(&report, QUICKBOOKS);
    assert_eq!(connected.outcome, Outcome::Warn, "{}", report.render());
    assert!(connected.detail.contains("expires on"), "{connected:?}");
    assert!(connected.fix.as_deref().unwrap().contains("qbsync auth"), "{connected:?}");
    assert!(report.all_ok(), "a warning is not a failure:\n{}", report.render());
    world.sandbox.intuit.set_lifetimes(IntuitLifetimes::with_access_token(lifetimes.access_token));

    // The app disconnected at Intuit: a person must reconnect; nothing more can be asked.
    world.sandbox.intuit.revoke_all();
    let report = diagnose(env).await;
    assert_fails(&report, QUICKBOOKS, &["QuickBooks needs to be re-connected", "run `qbsync auth`"]);
    assert_eq!(check(&report, ITEM).outcome, Outcome::Skip);
    let output = qbsync(env, &["doctor"]).await;
    assert_exit(&output, 1);
    assert!(stdout(&output).contains("✗ QuickBooks connected"), "{}", stdout(&output));
}

#[tokio::test]
async fn in_dual_mode_the_plan_must_have_bills() {
    let world = ready_world(true).await;
    let report = diagnose(&world.env).await;
    assert!(report.all_ok(), "{}", report.render());
    assert_passes(&report, BILLS, &["QuickBooks Online Plus", "includes bills"]);

    world.sandbox.qbo.set_plan_has_bills(false);
    let report = diagnose(&world.env).await;
    assert_fails(&report, BILLS, &["has no bills", "Essentials", "QB_SYNC_MODE=invoice_only"]);

    // Dual mode needs the expense account, and lists the ones to choose from.
    let report = diagnose(&without(&world.env, &["QB_DEFAULT_EXPENSE_ACCOUNT"])).await;
    assert_fails(&report, QUICKBOOKS_IDS, &["QB_DEFAULT_EXPENSE_ACCOUNT not set"]);
    assert_fails(
        &report,
        EXPENSE_ACCOUNT,
        &["QB_DEFAULT_EXPENSE_ACCOUNT is not set", "7 \"Contract Labor\" (Expense)"],
    );
}

#[tokio::test]
async fn the_sales_tax_check_lists_the_companys_codes_and_says_which_setting_to_fill() {
    let world = ready_world(true).await;
    world.sandbox.qbo.load_country(SandboxCountry::UnitedKingdom).unwrap();
    let report = diagnose(&world.env).await;
    assert_fails(
        &report,
        SALES_TAX,
        &["GB company, a tax code on every line", r#"2 "20.0% S""#, r#"6 "No VAT""#, "QB_DEFAULT_TAX_CODE is not set"],
    );

    let report = diagnose(&with(&world.env, &[("QB_DEFAULT_TAX_CODE", "20.0% S")])).await;
    assert_fails(&report, SALES_TAX, &["QB_DEFAULT_PURCHASE_TAX_CODE is not set", "bill and vendor credit"]);

    let fixed = with(&world.env, &[("QB_DEFAULT_TAX_CODE", "20.0% S"), ("QB_DEFAULT_PURCHASE_TAX_CODE", "4")]);
    let report = diagnose(&fixed).await;
    assert_passes(&report, SALES_TAX, &[r#"sales lines carry 2 "20.0% S", purchase lines 4 "0.0% Z""#, "TaxExcluded"]);

    world.sandbox.qbo.load_country(SandboxCountry::UsAutomatedTax).unwrap();
    let report = diagnose(&world.env).await;
    assert_passes(&report, SALES_TAX, &["US company, automated sales tax", "QuickBooks' automated sales tax decides"]);
    let report = diagnose(&with(&world.env, &[("QB_DEFAULT_TAX_CODE", "HST ON")])).await;
    assert_fails(&report, SALES_TAX, &["QB_DEFAULT_TAX_CODE=HST ON", "only TAX (taxable) or NON"]);
}

#[tokio::test]
async fn settings_come_from_the_dot_env_of_the_working_directory() {
    let world = World::demo().await;
    let dir = tempfile::tempdir().unwrap();
    let dot_env: String = world.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(dir.path().join(".env"), dot_env).unwrap();

    let output = qbsync_in(dir.path(), &[], &["doctor", "--offline"], "").await;
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("✓ QuickBooks connection stored: company 9341453100000000"),
        "{}",
        stdout(&output)
    );

    // `--env-file` names another file instead.
    let elsewhere = tempfile::tempdir().unwrap();
    let file = dir.path().join(".env");
    let output =
        qbsync_in(elsewhere.path(), &[], &["--env-file", file.to_str().unwrap(), "doctor", "--offline"], "").await;
    assert_exit(&output, 0);
    let output = qbsync_in(elsewhere.path(), &[], &["doctor", "--offline"], "").await;
    assert_exit(&output, 1);
}
