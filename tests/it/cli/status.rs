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
    assert_eq!(before["next_pass_at"], Value::Null);
    assert_eq!(counts(&before, "invoices"), [0, 0, 0, 0]);
    assert_eq!(before["quickbooks"]["connected"], true);
    assert_eq!(before["quickbooks"]["checked"], "live");
    assert_eq!(before["quickbooks"]["company_name"], "Sandbox Company_US_1");
    assert_eq!(before["quickbooks"]["environment"], "sandbox");
    assert_eq!(before["google"]["connected"], true);
    assert!(!world.sandbox.google.dump().to_string().is_empty());

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
    let next = DateTime::parse_from_rfc3339(after["next_pass_at"].as_str().unwrap()).unwrap();
    assert_eq!((next - finished).num_seconds(), 60, "the next pass is one poll interval after the last");
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
    assert_eq!(wayne["resolved"], false);

    let text = stdout(&qbsync(&world.env, &["status"]).await);
    assert!(
        text.contains("QuickBooks    connected: \"Sandbox Company_US_1\" (company 9341453100000000, sandbox)"),
        "{text}"
    );
    assert!(text.contains("Google Sheet  reachable: \"qbsync sandbox\", tab \"inv_tbl\""), "{text}");
    let synced = invoices.len();
    assert!(text.contains(&format!("Invoices      {synced:>8}{:>8}", 7)), "{text}");
    assert!(text.contains("Failures in the last 7 days (7):"), "{text}");
    assert!(text.contains(&format!("invoice, sheet row {}, ", grid_row + 1)), "{text}");
    assert!(text.contains("\"Wayne Enterprises\" is not in QuickBooks"), "{text}");
    assert!(text.contains("Next pass     about "), "{text}");
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
    assert_eq!(offline["quickbooks"]["checked"], "offline");
    assert_eq!(offline["quickbooks"]["connected"], true, "a stored, unrefused connection");
    assert_eq!(offline["quickbooks"]["company_name"], Value::Null);
    assert_eq!(offline["google"]["connected"], Value::Null);
    assert_eq!(counts(&offline, "invoices")[0], synced);

    let nowhere = "http://127.0.0.1:9/";
    let env = with(&world.env, &[("QBSYNC_QBO_API_URL", nowhere), ("QBSYNC_SHEETS_API_URL", nowhere)]);
    let unreachable = status_json(&env, &[]).await;
    assert_eq!(unreachable["quickbooks"]["checked"], "unreachable");
    assert_eq!(unreachable["quickbooks"]["connected"], true);
    assert!(
        unreachable["quickbooks"]["error"].as_str().unwrap().contains("temporarily unavailable"),
        "{unreachable:#}"
    );
    assert_eq!(unreachable["google"]["checked"], "unreachable");
    assert_eq!(counts(&unreachable, "invoices")[0], synced, "the local picture is still there");
    let text = stdout(&qbsync(&env, &["status"]).await);
    assert!(text.contains("[QuickBooks did not answer:"), "{text}");
    assert!(text.contains("Google did not answer:"), "{text}");

    world.sandbox.intuit.revoke_all();
    let revoked = status_json(&world.env, &[]).await;
    assert_eq!(revoked["quickbooks"]["connected"], false, "{revoked:#}");
    assert!(revoked["quickbooks"]["needs_reconnect"].as_str().unwrap().contains("run `qbsync auth`"), "{revoked:#}");
    let text = stdout(&qbsync(&world.env, &["status"]).await);
    assert!(
        text.contains("QuickBooks    NOT CONNECTED: QuickBooks needs to be re-connected: run `qbsync auth`"),
        "{text}"
    );
}
