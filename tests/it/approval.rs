//! Review before posting (`QBSYNC_REQUIRE_APPROVAL`, issue 20) end to end: the real binary
//! against the sandbox previews ready rows, creates only what a person approved, asks again
//! when a row changed after its approval, and keeps that promise across a crash.

use qbsync::sandbox::FaultRule;
use qbsync::sandbox::faults::endpoint;
use qbsync::store::DocState;

use crate::support::{FAST_CLIENTS, World};

const ROW: &str = "ACD-2025-0101";

/// The demo sheet with approval on, migrated (which adds `qb_preview` and `approved`).
async fn approving() -> World {
    let mut env: Vec<(&str, &str)> = vec![("QBSYNC_REQUIRE_APPROVAL", "true")];
    env.extend(FAST_CLIENTS);
    let world = World::start(Default::default(), &env).await;
    world.migrate(false).await;
    world
}

/// [`approving`], after passes until nothing changes.
async fn in_review() -> World {
    let world = approving().await;
    world.run_once_until_idle(4).await;
    world
}

/// Sets a cell of the row `invoice`, by header, as a person would.
fn set(world: &World, invoice: &str, header: &str, value: &str) {
    let col = world.col("invoice");
    let row = world.sheet().iter().position(|r| r.get(col).is_some_and(|c| c.as_text() == invoice)).expect("row");
    world.sandbox.google.set_cell(world.tab(), row, world.col(header), value).expect("cell set");
}

fn invoices_numbered(world: &World, number: &str) -> usize {
    world.sandbox.qbo.invoices().into_iter().filter(|i| i.doc_number.as_deref() == Some(number)).count()
}

#[tokio::test]
async fn a_ready_row_is_previewed_and_not_created() {
    let world = approving().await;
    // The dry run shows what would be previewed, and changes nothing.
    let (status, output) = world.run_cli(&["run-once", "--dry-run"]).await;
    assert!(status.success(), "{output}");
    assert!(output.contains("preview: invoice ACD-2025-0101 to Acme Training Co, 1,234.50"), "{output}");
    assert!(output.contains(" rows would wait for approval"), "{output}");
    assert_eq!(world.cell(ROW, "qb_sync_status"), "", "{output}");

    world.run_once_until_idle(4).await;
    assert!(world.sandbox.qbo.invoices().is_empty(), "nothing is created before approval");
    assert_eq!(world.cell(ROW, "qb_sync_status"), "review");
    assert_eq!(
        world.cell(ROW, "qb_preview"),
        "invoice ACD-2025-0101 to Acme Training Co, 1,234.50, dated 2025-11-05",
        "what would be sent"
    );
    assert_eq!(
        world.cell(ROW, "qb_error"),
        "check what will be sent in qb_preview, then put yes in approved to create it"
    );
    assert_eq!(world.cell(ROW, "qb_invoice_id"), "");
    assert_eq!(world.cell(ROW, "approved"), "", "the person's column is never written");
}

#[tokio::test]
async fn an_approved_row_is_created_exactly_once() {
    let world = in_review().await;
    set(&world, ROW, "approved", "yes");
    // A ticked checkbox approves too.
    set(&world, "ACD-2025-0102", "approved", "TRUE");
    world.run_once_until_idle(4).await;
    world.run_once_until_idle(2).await;

    assert_eq!(invoices_numbered(&world, ROW), 1);
    assert_eq!(invoices_numbered(&world, "ACD-2025-0102"), 1);
    assert_eq!(world.sandbox.qbo.invoices().len(), 2, "only the approved rows");
    assert_eq!(world.cell(ROW, "qb_sync_status"), "synced");
    assert!(!world.cell(ROW, "qb_invoice_id").is_empty());
    assert_eq!(world.cell(ROW, "qb_preview"), "", "a created row has nothing left to preview");
    assert_eq!(world.cell(ROW, "qb_error"), "");
    assert_eq!(world.cell(ROW, "approved"), "yes", "the person's column is never written");
    assert_eq!(world.cell("ACD-2025-0103", "qb_sync_status"), "review", "unapproved rows wait");
}

#[tokio::test]
async fn a_row_changed_after_its_approval_is_shown_again_and_created_only_once_approved_again() {
    let world = in_review().await;
    // Approved, then changed before qbsync saw the yes: the yes was given for 1234.5.
    set(&world, ROW, "approved", "yes");
    set(&world, ROW, "inv_dollars", "1500");
    world.run_once_until_idle(4).await;
    assert!(world.sandbox.qbo.invoices().is_empty(), "nothing from content nobody approved");
    assert_eq!(world.cell(ROW, "qb_sync_status"), "review");
    assert!(world.cell(ROW, "qb_preview").contains(", 1,500.00,"), "{}", world.cell(ROW, "qb_preview"));
    assert!(
        world.cell(ROW, "qb_error").starts_with("the row changed since it was approved"),
        "{}",
        world.cell(ROW, "qb_error")
    );

    // The stale yes never counts, however many passes see it.
    world.run_once_until_idle(2).await;
    assert!(world.sandbox.qbo.invoices().is_empty());

    // Cleared, the row asks for approval again; a yes then creates the new content.
    set(&world, ROW, "approved", "");
    world.run_once_until_idle(4).await;
    assert_eq!(
        world.cell(ROW, "qb_error"),
        "check what will be sent in qb_preview, then put yes in approved to create it"
    );
    assert!(world.sandbox.qbo.invoices().is_empty());
    set(&world, ROW, "approved", "yes");
    world.run_once_until_idle(4).await;
    let created: Vec<_> =
        world.sandbox.qbo.invoices().into_iter().filter(|i| i.doc_number.as_deref() == Some(ROW)).collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].total.normalize().to_string(), "1500");
    assert_eq!(world.cell(ROW, "qb_sync_status"), "synced");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_interrupted_by_a_crash_creates_its_document_exactly_once() {
    let world = in_review().await;
    set(&world, ROW, "approved", "yes");
    // QuickBooks is slow to answer, so the daemon is killed with the intent recorded and the
    // outcome unknown.
    let slow = FaultRule { latency_ms: 3_000, ..Default::default() };
    world.sandbox.faults().set(endpoint::QBO_CREATE, slow.clone());
    world.sandbox.faults().set(endpoint::QBO_BATCH, slow);
    let mut daemon = world.spawn(&["daemon", "--interval", "1"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let pending = world.store().pending_documents_for_planning().expect("store reads");
        if !pending.is_empty() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no intent recorded:\n{}", world.log_tail(40));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    daemon.start_kill().expect("killed");
    daemon.wait().await.expect("reaped");

    // Meanwhile the row changes: what was approved is what is created, once, and nothing else.
    world.sandbox.faults().clear();
    set(&world, ROW, "inv_dollars", "1500");
    world.run_once_until_idle(6).await;
    let created: Vec<_> =
        world.sandbox.qbo.invoices().into_iter().filter(|i| i.doc_number.as_deref() == Some(ROW)).collect();
    assert_eq!(created.len(), 1, "{}", world.log_tail(40));
    assert_eq!(created[0].total.normalize().to_string(), "1234.5", "the approved content");
    assert_eq!(world.sandbox.qbo.invoices().len(), 1, "only the approved row");
    assert_eq!(world.cell(ROW, "qb_sync_status"), "synced");
    let docs = world.store().all_documents().expect("store reads");
    assert!(docs.iter().all(|d| d.state == DocState::Created), "{docs:?}");
}

#[tokio::test]
async fn with_approval_off_ready_rows_are_created_at_once_as_before() {
    let world = World::start(Default::default(), &FAST_CLIENTS).await;
    world.migrate(false).await;
    assert!(world.sandbox.google.header_index(world.tab(), "qb_preview").is_err(), "no approval columns");
    assert!(world.sandbox.google.header_index(world.tab(), "approved").is_err());
    world.run_once_until_idle(4).await;
    assert_eq!(invoices_numbered(&world, ROW), 1);
    assert_eq!(world.cell(ROW, "qb_sync_status"), "synced");
}
