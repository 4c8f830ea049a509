//! `qbsync status`: counts, passes, connections and recent failures, live and from what qbsync
//! last knew when a service does not answer.

use chrono::DateTime;
use serde_json::Value;

use super::{assert_exit, qbsync, stdout, with};
use crate::support::World;

async fn status_json(env: &[(String, String)], extra: &[&str]) -> Value {
    let mut args = vec!["status", "--json"];
    args.extend_from_slice(extra);
    let output = qbsync(env, &args).await;
    assert_exit(&output, 0);
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&output)))
}

fn counts(json: &Value, kind: &str) -> [u64; 4] {
    ["synced", "failed", "skipped", "pending"].map(|k| json[kind][k].as_u64().unwrap_or_else(|| panic!("{kind}.{k}")))
}

#[tokio::test]
async fn status_reports_counts_connections_passes_and_recent_failures() {
    let world = World::demo().await;
    world.migrate(false).await;

    let before = status_json(&world.env, &[]).await;
    assert_eq!(before["last_success"], Value::Null, "no pass yet");
    assert_eq!(before["next_pass"], Value::Null);
    assert_eq!(counts(&before, "invoices"), [0, 0, 0, 0]);
    assert_eq!(before["quickbooks"]["connected"], true);
    assert_eq!(before["quickbooks"]["needs_reconnect"], Value::Null);
    assert_eq!(before["live"]["quickbooks"]["checked"], "live");
    assert_eq!(before["live"]["quickbooks"]["company_name"], "Sandbox Company_US_1");
    assert_eq!(before["live"]["quickbooks"]["environment"], "sandbox");
    assert_eq!(before["live"]["quickbooks"]["realm_id"], "9341453100000000");
    assert_eq!(before["google"]["ok"], true);
    assert_eq!(before["live"]["google"]["spreadsheet_title"], "qbsync sandbox");

    assert_exit(&qbsync(&world.env, &["run-once"]).await, 0);

    let after = status_json(&world.env, &[]).await;
    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(counts(&after, "invoices")[0], invoices.len() as u64, "{after:#}");
    assert_eq!(counts(&after, "invoices")[1], 7, "the demo sheet's seven failing money-in rows: {after:#}");
    let skipped = counts(&after, "invoices")[2] + counts(&after, "bills")[2];
    assert_eq!(skipped, 9, "the nine money-out rows are skipped in invoice-only mode: {after:#}");
    let last_success = after["last_success"].as_str().expect("a pass succeeded");
    let finished = DateTime::parse_from_rfc3339(last_success).expect("RFC 3339");
    assert_eq!(after["last_pass"]["ok"], true);
    assert_eq!(after["last_pass"]["created"], invoices.len());
    let next = DateTime::parse_from_rfc3339(after["next_pass"].as_str().unwrap()).unwrap();
    assert!((next - finished).num_milliseconds().abs_diff(60_000) < 1_000, "one poll interval after the last pass");
    let expiry = after["quickbooks"]["refresh_token_expires_at"].as_str().expect("expiry known");
    assert!(DateTime::parse_from_rfc3339(expiry).is_ok());

    let failures = after["recent_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 7, "{after:#}");
    let wayne = failures
        .iter()
        .find(|f| f["error"].as_str().unwrap().contains("\"Wayne Enterprises\" is not in QuickBooks"))
        .expect("ACD-2025-0108 failed");
    let grid_row = world.sheet().iter().position(|r| r[0].as_text() == "ACD-2025-0108").unwrap();
    assert_eq!(wayne["sheet_row"], grid_row + 1, "1-based, as Google Sheets numbers rows");
    assert_eq!(wayne["current_status"], "failed");

    let text = stdout(&qbsync(&world.env, &["status"]).await);
    assert!(text.contains("QuickBooks   connected (authorization valid until "), "{text}");
    assert!(text.contains("Google       ok"), "{text}");
    let synced = invoices.len().to_string();
    assert!(
        text.lines().any(|l| l.split_whitespace().eq(["Invoices", synced.as_str(), "7", "0", "0", "0", "0"])),
        "{text}"
    );
    assert!(text.contains("Failures in the last 7 days (newest first):"), "{text}");
    let wayne_line = text.lines().find(|l| l.contains("\"Wayne Enterprises\" is not in QuickBooks")).expect("listed");
    assert!(wayne_line.contains(&format!("row {}", grid_row + 1)), "{wayne_line}");
    assert!(!text.contains("not scheduled"), "a pass just ran: {text}");
    assert!(
        text.contains(
            "Checked now  QuickBooks answered for \"Sandbox Company_US_1\" (company 9341453100000000, sandbox)"
        ),
        "{text}"
    );
    assert!(text.contains("the sheet \"qbsync sandbox\" (tab \"inv_tbl\") answered"), "{text}");
}

#[tokio::test]
async fn status_falls_back_to_what_it_knows_when_offline_unreachable_or_disconnected() {
    let world = World::demo().await;
    world.migrate(false).await;
    assert_exit(&qbsync(&world.env, &["run-once"]).await, 0);
    let synced = world.sandbox.qbo.invoices().len() as u64;

    let requests = world.sandbox.requests().len();
    let offline = status_json(&world.env, &["--offline"]).await;
    assert_eq!(world.sandbox.requests().len(), requests, "--offline sends nothing");
    assert_eq!(offline["live"]["quickbooks"]["checked"], "offline");
    assert_eq!(offline["quickbooks"]["connected"], true, "a stored, unrefused connection");
    assert_eq!(offline["live"]["quickbooks"]["company_name"], Value::Null);
    assert_eq!(offline["google"]["ok"], false);
    assert_eq!(offline["google"]["error"], Value::Null, "not asked is not an error");
    assert_eq!(offline["live"]["google"]["checked"], "offline");
    assert_eq!(counts(&offline, "invoices")[0], synced);

    let nowhere = "http://127.0.0.1:9/";
    let env = with(&world.env, &[("QBSYNC_QBO_API_URL", nowhere), ("QBSYNC_SHEETS_API_URL", nowhere)]);
    let unreachable = status_json(&env, &[]).await;
    assert_eq!(unreachable["live"]["quickbooks"]["checked"], "unreachable");
    assert_eq!(unreachable["quickbooks"]["connected"], true, "as last known");
    let error = unreachable["live"]["quickbooks"]["error"].as_str().unwrap();
    assert!(error.contains("temporarily unavailable"), "{unreachable:#}");
    assert_eq!(unreachable["live"]["google"]["checked"], "unreachable");
    assert!(unreachable["google"]["error"].as_str().unwrap().starts_with("Google did not answer"), "{unreachable:#}");
    assert_eq!(counts(&unreachable, "invoices")[0], synced, "the local picture is still there");
    let text = stdout(&qbsync(&env, &["status"]).await);
    assert!(text.contains("Checked now  QuickBooks did not answer ("), "{text}");
    assert!(text.contains("Google       ERROR: Google did not answer:"), "{text}");

    world.sandbox.intuit.revoke_all();
    let revoked = status_json(&world.env, &[]).await;
    assert_eq!(revoked["quickbooks"]["connected"], false, "{revoked:#}");
    let cause = revoked["quickbooks"]["needs_reconnect"].as_str().unwrap();
    assert!(!cause.is_empty() && !cause.contains("qbsync auth"), "the JSON holds the cause only: {revoked:#}");
    let text = stdout(&qbsync(&world.env, &["status"]).await);
    assert!(text.contains("QuickBooks   NEEDS RE-CONNECTING: run `qbsync auth`"), "{text}");
    assert_eq!(text.matches("qbsync auth").count(), 1, "said once: {text}");
}
