//! `qbsync void` end to end: the real binary takes back documents in the emulated company, the
//! next pass shows `voided` on the rows, and the audit says who, when and why.

use qbsync::sandbox::faults::endpoint;
use qbsync::sandbox::qbo::EntityKind;
use qbsync::sandbox::{FaultRule, RecordedRequest};
use qbsync::store::{AuditQuery, UndoState};

use crate::support::World;

async fn synced(extra: &[(&str, &str)]) -> World {
    let mut world = World::start(Default::default(), extra).await;
    world.set_env("USER", "alice");
    world.migrate(extra.iter().any(|(k, v)| *k == "QB_SYNC_MODE" && *v == "dual")).await;
    world.run_once_until_idle(4).await;
    world
}

/// Clears the row's invoice tracking cells as a person would; answers its grid row.
fn clear_tracking(world: &World, invoice: &str) -> usize {
    let col = world.col("invoice");
    let row = world.sheet().iter().position(|r| r.get(col).is_some_and(|c| c.as_text() == invoice)).expect("row");
    for header in ["qb_invoice_id", "qb_invoice_url", "qb_sync_status"] {
        world.sandbox.google.set_cell(world.tab(), row, world.col(header), "").expect("cleared");
    }
    row
}

fn voids(world: &World) -> Vec<RecordedRequest> {
    world.sandbox.requests().all().into_iter().filter(|r| r.query_param("operation").is_some()).collect()
}

#[tokio::test]
async fn an_invoice_is_voided_and_its_row_says_so_keeping_its_id_and_link() {
    let world = synced(&[]).await;
    let id = world.cell("ACD-2025-0101", "qb_invoice_id");
    let link = world.cell("ACD-2025-0101", "qb_invoice_url");
    assert!(!id.is_empty());

    let (status, output) =
        world.run_cli(&["void", "--doc", "ACD-2025-0101", "--reason", "billed the wrong customer", "--yes"]).await;
    assert!(status.success(), "{output}");
    assert!(
        output.contains("void invoice ACD-2025-0101") && output.contains("voided invoice ACD-2025-0101"),
        "{output}"
    );
    let invoice = world.sandbox.qbo.invoices().into_iter().find(|i| i.id == id).expect("kept, voided");
    assert!(invoice.total.is_zero());
    assert!(invoice.private_note.unwrap_or_default().starts_with("Voided"));

    world.run_once_until_idle(4).await;
    assert_eq!(world.cell("ACD-2025-0101", "qb_sync_status"), "voided");
    assert_eq!(world.cell("ACD-2025-0101", "qb_invoice_id"), id);
    assert_eq!(world.cell("ACD-2025-0101", "qb_invoice_url"), link);
    assert_eq!(world.cell("ACD-2025-0102", "qb_sync_status"), "synced", "other rows untouched");

    let audit = world.store().audit(&AuditQuery { doc_number: Some("ACD-2025-0101".into()), ..Default::default() });
    let voided = audit.unwrap().into_iter().find(|e| e.event == "voided").expect("a voided line");
    assert_eq!(voided.actor.as_deref(), Some("alice"));
    assert_eq!(voided.reason.as_deref(), Some("billed the wrong customer"));
    assert_eq!(voided.status, "voided");

    // Never re-created by itself: its tracking cells cleared, it gets them back and nothing is sent.
    let before = world.sandbox.qbo.invoices().len();
    clear_tracking(&world, "ACD-2025-0101");
    world.run_once_until_idle(4).await;
    assert_eq!(world.sandbox.qbo.invoices().len(), before);
    assert_eq!(world.cell("ACD-2025-0101", "qb_invoice_id"), id);
    assert_eq!(world.cell("ACD-2025-0101", "qb_sync_status"), "voided");
}

#[tokio::test]
async fn a_voided_row_given_a_new_number_and_cleared_is_posted_again_as_a_new_document() {
    let world = synced(&[]).await;
    let old = world.cell("ACD-2025-0102", "qb_invoice_id");
    let (status, output) = world.run_cli(&["void", "--doc", "ACD-2025-0102", "--reason", "typo", "--yes"]).await;
    assert!(status.success(), "{output}");
    world.run_once_until_idle(4).await;

    let row = clear_tracking(&world, "ACD-2025-0102");
    world.sandbox.google.set_cell(world.tab(), row, world.col("invoice"), "ACD-2025-0102-B").expect("renumbered");
    world.run_once_until_idle(6).await;
    let new = world.cell("ACD-2025-0102-B", "qb_invoice_id");
    assert!(!new.is_empty() && new != old, "a new document: {new} after {old}");
    assert_eq!(world.cell("ACD-2025-0102-B", "qb_sync_status"), "synced");
}

#[tokio::test]
async fn a_bill_is_deleted_since_quickbooks_cannot_void_bills() {
    let world = synced(&[("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")]).await;
    let id = world.cell("JS-2025-041", "qb_bill_id");
    let (status, output) = world.run_cli(&["void", "--doc", "JS-2025-041", "--reason", "duplicate", "--yes"]).await;
    assert!(status.success(), "{output}");
    assert!(output.contains("deleted bill JS-2025-041"), "{output}");
    assert!(!world.sandbox.qbo.bills().iter().any(|b| b.id == id), "deleted");
    let sent = voids(&world);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].query_param("operation").as_deref(), Some("delete"));
    assert!(sent[0].path.ends_with("/bill"), "{}", sent[0].path);

    world.run_once_until_idle(4).await;
    assert_eq!(world.cell("JS-2025-041", "qb_bill_status"), "voided");
    assert_eq!(world.cell("JS-2025-041", "qb_bill_id"), id);
}

#[tokio::test]
async fn a_paid_invoice_is_refused_saying_so_and_nothing_is_sent() {
    let world = synced(&[]).await;
    let id = world.cell("ACD-2025-0103", "qb_invoice_id");
    world.sandbox.qbo.record_payment(EntityKind::Invoice, &id, "100".parse().unwrap()).expect("paid");
    world.sandbox.requests().clear();
    let (status, output) = world.run_cli(&["void", "--doc", "ACD-2025-0103", "--reason", "oops", "--yes"]).await;
    assert!(!status.success(), "{output}");
    assert!(output.contains("has a payment applied"), "{output}");
    assert!(voids(&world).is_empty(), "nothing sent");
    let invoice = world.sandbox.qbo.invoices().into_iter().find(|i| i.id == id).expect("still there");
    assert!(!invoice.total.is_zero());
    world.run_once_until_idle(4).await;
    assert_eq!(world.cell("ACD-2025-0103", "qb_sync_status"), "synced");
    let refused = world.store().audit(&AuditQuery { qbo_id: Some(id), ..Default::default() }).unwrap();
    assert!(refused.iter().any(|e| e.event == "void-refused" && e.actor.as_deref() == Some("alice")));
}

#[tokio::test]
async fn every_document_of_one_pass_is_taken_back_by_its_pass_id_from_the_audit() {
    let world = synced(&[]).await;
    let (_, table) = world.run_cli(&["audit", "--limit", "500"]).await;
    assert!(table.contains("PASS"), "{table}");
    let created = world.store().audit(&AuditQuery::default()).unwrap();
    let pass = created.iter().find(|e| e.event == "created").and_then(|e| e.pass_id.clone()).expect("a pass id");
    assert!(table.contains(&pass), "the audit shows the pass id {pass}: {table}");
    let of_pass: Vec<String> = created
        .iter()
        .filter(|e| e.event == "created" && e.pass_id.as_deref() == Some(pass.as_str()))
        .filter_map(|e| e.qbo_id.clone())
        .collect();

    let (status, output) =
        world.run_cli(&["void", "--pass", &pass, "--reason", "imported the wrong tab", "--yes"]).await;
    assert!(status.success(), "{output}");
    for invoice in world.sandbox.qbo.invoices() {
        assert_eq!(invoice.total.is_zero(), of_pass.contains(&invoice.id), "invoice {}", invoice.id);
    }
    world.run_once_until_idle(4).await;
    let voided = world
        .sheet()
        .iter()
        .filter(|r| r.get(world.col("qb_sync_status")).is_some_and(|c| c.as_text() == "voided"))
        .count();
    assert_eq!(voided, of_pass.len());
}

#[tokio::test]
async fn without_a_terminal_and_without_yes_nothing_is_taken_back() {
    let world = synced(&[]).await;
    world.sandbox.requests().clear();
    let (status, output) = world.run_cli(&["void", "--doc", "ACD-2025-0104", "--reason", "x"]).await;
    assert!(!status.success());
    assert!(output.contains("--yes"), "{output}");
    assert!(voids(&world).is_empty());
}

/// qbsync records the void's intent and dies before sending it; the next run settles it first:
/// a fresh read shows it is not voided, so it is sent, with the intent's own `requestid`.
#[tokio::test]
async fn a_void_recorded_just_before_a_crash_is_sent_by_the_next_run_with_its_own_requestid() {
    let world = synced(&[]).await;
    let id = world.cell("ACD-2025-0105", "qb_invoice_id");
    world.sandbox.faults().set(endpoint::QBO_CREATE, FaultRule { error_rate: 1.0, ..Default::default() });
    let (status, output) = world.run_cli(&["void", "--doc", "ACD-2025-0105", "--reason", "crash", "--yes"]).await;
    assert!(!status.success(), "{output}");
    assert!(output.contains("unconfirmed"), "{output}");
    // As if the process had died after recording the intent, before its first send.
    let db = rusqlite::Connection::open(world.state_dir().join("qbsync.sqlite3")).unwrap();
    assert_eq!(db.execute("UPDATE undos SET attempts = 0 WHERE state = 'pending'", []).unwrap(), 1);
    drop(db);
    let undo = world.store().pending_undos().unwrap().remove(0);

    world.sandbox.faults().clear();
    world.sandbox.requests().clear();
    let (status, output) = world.run_cli(&["void", "--doc", "ACD-2025-0105", "--reason", "again", "--yes"]).await;
    assert!(status.success(), "{output}");
    let sent = voids(&world);
    assert_eq!(sent.len(), 1, "sent once");
    assert_eq!(sent[0].query_param("requestid"), Some(undo.request_id.clone()));
    let invoice = world.sandbox.qbo.invoices().into_iter().find(|i| i.id == id).unwrap();
    assert!(invoice.total.is_zero());
    let store = world.store();
    assert_eq!(store.undo(&undo.doc_key).unwrap().unwrap().state, UndoState::Done);
    let reasons: Vec<_> = store
        .audit(&AuditQuery { qbo_id: Some(id), ..Default::default() })
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "voided")
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons, [Some("crash".to_owned())], "the reason given with the intent");
}

/// QuickBooks voids the invoice and the answer is lost: the next run reads it back, sees it
/// voided, and records it without sending again.
#[tokio::test]
async fn a_void_whose_answer_was_lost_is_read_back_not_sent_again() {
    let world = synced(&[]).await;
    let id = world.cell("ACD-2025-0112", "qb_invoice_id");
    world.sandbox.faults().set(endpoint::QBO_CREATE, FaultRule { commit_then_drop_rate: 1.0, ..Default::default() });
    let (status, output) = world.run_cli(&["void", "--doc", "ACD-2025-0112", "--reason", "lost", "--yes"]).await;
    assert!(!status.success(), "{output}");
    let invoice = world.sandbox.qbo.invoices().into_iter().find(|i| i.id == id).unwrap();
    assert!(invoice.total.is_zero(), "QuickBooks applied it");
    assert_eq!(world.store().pending_undos().unwrap().len(), 1);

    world.sandbox.faults().clear();
    world.sandbox.requests().clear();
    let (status, output) = world.run_cli(&["void", "--doc", "ACD-2025-0112", "--reason", "lost", "--yes"]).await;
    assert!(status.success(), "{output}");
    assert!(voids(&world).is_empty(), "not sent again");
    world.run_once_until_idle(4).await;
    assert_eq!(world.cell("ACD-2025-0112", "qb_sync_status"), "voided");
}

#[tokio::test]
async fn a_vendor_credit_is_deleted_since_quickbooks_documents_no_void_for_credits() {
    let extra = [("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true"), ("QBSYNC_NEGATIVE_AMOUNTS", "credit")];
    let world = synced(&extra).await;
    let id = world.cell("BBJ-7802", "qb_bill_id");
    assert!(world.sandbox.qbo.vendor_credits().iter().any(|c| c.id == id), "the demo's refund became a vendor credit");

    let (status, output) = world.run_cli(&["void", "--doc", "BBJ-7802", "--reason", "refund withdrawn", "--yes"]).await;
    assert!(status.success(), "{output}");
    assert!(output.contains("deleted vendor credit BBJ-7802"), "{output}");
    assert!(world.sandbox.qbo.vendor_credits().iter().all(|c| c.id != id));
    let deletes: Vec<RecordedRequest> =
        voids(&world).into_iter().filter(|r| r.query_param("operation").as_deref() == Some("delete")).collect();
    assert_eq!(deletes.len(), 1);
    assert!(deletes[0].path.ends_with("/vendorcredit"), "{}", deletes[0].path);

    world.run_once_until_idle(4).await;
    assert_eq!(world.cell("BBJ-7802", "qb_bill_status"), "voided");
    assert_eq!(world.cell("BBJ-7802", "qb_bill_id"), id);
}
