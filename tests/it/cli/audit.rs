//! `qbsync audit`: the everyday questions about what was sent and what came back.

use serde_json::Value;

use super::{assert_exit, qbsync, stderr, stdout, with};
use crate::support::World;

async fn audit_json(env: &[(String, String)], args: &[&str]) -> Vec<Value> {
    let mut all = vec!["audit", "--json"];
    all.extend_from_slice(args);
    let output = qbsync(env, &all).await;
    assert_exit(&output, 0);
    serde_json::from_slice::<Vec<Value>>(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(&output)))
}

#[tokio::test]
async fn audit_answers_by_row_document_id_date_kind_and_failure() {
    let world = World::demo().await;
    let env = &world.env;

    let output = qbsync(env, &["audit"]).await;
    assert_exit(&output, 1);
    assert!(stderr(&output).contains("no state database"), "{}", stderr(&output));

    world.migrate(false).await;
    assert_exit(&qbsync(env, &["run-once"]).await, 0);
    let invoice =
        world.sandbox.qbo.invoices().into_iter().find(|i| i.doc_number.as_deref() == Some("ACD-2025-0101")).unwrap();

    let by_doc = audit_json(env, &["--doc", "ACD-2025-0101"]).await;
    assert!(!by_doc.is_empty());
    assert!(by_doc.iter().all(|e| e["doc_number"] == "ACD-2025-0101"), "{by_doc:#?}");
    let last = by_doc.last().unwrap();
    assert_eq!(last["status"], "synced");
    assert_eq!(last["qbo_id"], invoice.id.as_str());
    assert_eq!(last["kind"], "invoice");

    let by_id = audit_json(env, &["--qbo-id", &invoice.id]).await;
    assert!(!by_id.is_empty());
    assert!(by_id.iter().all(|e| e["doc_number"] == "ACD-2025-0101" && e["qbo_id"] == invoice.id.as_str()));

    let grid_row = world.sheet().iter().position(|r| r[0].as_text() == "ACD-2025-0101").unwrap();
    let sheet_row = (grid_row + 1).to_string();
    let by_row = audit_json(env, &["--row", &sheet_row]).await;
    assert!(!by_row.is_empty());
    assert!(by_row.iter().all(|e| e["doc_number"] == "ACD-2025-0101"), "{by_row:#?}");

    let everything = audit_json(env, &[]).await;
    let failed = audit_json(env, &["--failed"]).await;
    assert!(!failed.is_empty() && failed.len() < everything.len());
    assert!(failed.iter().all(|e| e["status"] == "failed"));
    let wayne =
        failed.iter().find(|e| e["error"].as_str().unwrap().contains("Wayne Enterprises")).expect("ACD-2025-0108");
    let wayne_row = world.sheet().iter().position(|r| r[0].as_text() == "ACD-2025-0108").unwrap() + 1;
    assert_eq!(wayne["sheet_row"], wayne_row);
    let by_failed_row = audit_json(env, &["--row", &wayne_row.to_string(), "--failed"]).await;
    assert_eq!(by_failed_row.len(), 1, "{by_failed_row:#?}");

    let bills = audit_json(env, &["--kind", "bill"]).await;
    assert!(!bills.is_empty(), "money-out rows are audited as skipped bills");
    assert!(bills.iter().all(|e| e["kind"] == "bill" && e["status"] == "skipped"), "{bills:#?}");
    let invoices = audit_json(env, &["--kind", "invoice"]).await;
    assert!(invoices.iter().all(|e| e["kind"] == "invoice"));
    assert_eq!(invoices.len() + bills.len(), everything.len());
    let yesterday = (chrono::Utc::now() - chrono::TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    let tomorrow = (chrono::Utc::now() + chrono::TimeDelta::days(1)).format("%Y-%m-%d").to_string();
    assert_eq!(audit_json(env, &["--since", &yesterday]).await.len(), everything.len());
    assert!(audit_json(env, &["--since", &tomorrow]).await.is_empty());
    assert_eq!(audit_json(env, &["--limit", "2"]).await.len(), 2);

    let table = stdout(&qbsync(env, &["audit", "--doc", "ACD-2025-0101"]).await);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("AT (UTC)"), "{table}");
    assert!(lines.iter().skip(1).all(|l| l.contains("ACD-2025-0101")), "{table}");
    assert!(lines.last().unwrap().contains(&invoice.id), "{table}");
    let none = stdout(&qbsync(env, &["audit", "--since", &tomorrow]).await);
    assert_eq!(none, "No audit entries match.\n");

    let output = qbsync(env, &["audit", "--failed", "--csv"]).await;
    assert_exit(&output, 0);
    let mut reader = csv::Reader::from_reader(output.stdout.as_slice());
    let header = reader.headers().unwrap().clone();
    let status = header.iter().position(|h| h == "status").expect("a status column");
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), failed.len());
    assert!(records.iter().all(|r| r.get(status) == Some("failed")));

    let output = qbsync(&with(env, &[]), &["audit", "--json", "--csv"]).await;
    assert_exit(&output, 2);
}
