//! Money comes back (issue 18), end to end: rows synced by the engine, a bookkeeper recording
//! payments, voiding and deleting in the emulated QuickBooks, and the rows showing it after the
//! payment poller's next round, written by the pass's own write-back.

use chrono::{Duration, NaiveDate};
use qbsync::commands::context::RunFlags;
use qbsync::sandbox::qbo::EntityKind;
use qbsync::sync::{Engine, PassOptions, PassReport};
use rust_decimal::Decimal;

use crate::support::World;

const HEADER: &str = "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread";

/// A world whose tab holds ready money-in rows `(number, amount, due date)`, migrated (money
/// columns and all) and synced.
async fn synced(rows: &[(&str, &str, NaiveDate)]) -> (World, Engine) {
    let world = World::demo().await;
    let mut csv = format!("{HEADER}\n");
    for (number, amount, due) in rows {
        csv += &format!("{number},submitted,ACD,Acme Training Co,,,,{amount},2026-01-05,{due},,,,\n");
    }
    world.sandbox.google.load_csv(world.tab(), &csv).expect("sheet loads");
    world.migrate(false).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    assert_eq!(world.sandbox.qbo.invoices().len(), rows.len(), "every row created");
    (world, engine)
}

/// One pass with a round of the payment poller due.
async fn follow(world: &World, engine: &mut Engine) -> PassReport {
    engine.following.as_mut().expect("payments are followed").due_now();
    engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.expect("pass")
}

fn invoice_id(world: &World, number: &str) -> String {
    world.cell(number, "qb_invoice_id")
}

fn money(world: &World, number: &str) -> (String, String, String) {
    (world.cell(number, "qb_balance"), world.cell(number, "qb_paid_status"), world.cell(number, "qb_paid_at"))
}

fn shown(balance: &str, status: &str, paid_at: &str) -> (String, String, String) {
    (balance.to_owned(), status.to_owned(), paid_at.to_owned())
}

fn company_today(world: &World) -> NaiveDate {
    world.sandbox.qbo.now().date_naive()
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

#[tokio::test]
async fn migrate_adds_the_money_columns_and_a_new_invoice_shows_open_with_its_whole_balance() {
    let world = World::demo().await;
    world.migrate(false).await;
    let header: Vec<String> = world.sheet()[0].iter().map(|c| c.as_text().into_owned()).collect();
    for column in ["qb_balance", "qb_paid_status", "qb_paid_at"] {
        assert!(header.iter().any(|h| h == column), "{column} in {header:?}");
    }
    assert!(!header.iter().any(|h| h == "qb_bill_balance"), "the bill money columns only in dual mode");

    let due = NaiveDate::from_ymd_opt(2099, 1, 31).unwrap();
    let (world, mut engine) = synced(&[("M-1", "250.00", due)]).await;
    follow(&world, &mut engine).await;
    assert_eq!(money(&world, "M-1"), shown("250.00", "open", ""));
}

#[tokio::test]
async fn full_partial_and_several_payments_show_on_the_row_with_the_date_of_the_last_one() {
    let due = NaiveDate::from_ymd_opt(2099, 1, 31).unwrap();
    let (world, mut engine) = synced(&[("M-1", "300.00", due), ("M-2", "80.00", due)]).await;
    follow(&world, &mut engine).await;
    let (one, two) = (invoice_id(&world, "M-1"), invoice_id(&world, "M-2"));
    let qbo = &world.sandbox.qbo;

    qbo.record_payment_on(EntityKind::Invoice, &one, dec("100.00"), NaiveDate::from_ymd_opt(2026, 2, 1)).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &two, dec("80.00"), NaiveDate::from_ymd_opt(2026, 2, 3)).unwrap();
    follow(&world, &mut engine).await;
    assert_eq!(money(&world, "M-1"), shown("200.00", "partial", ""));
    assert_eq!(money(&world, "M-2"), shown("0.00", "paid", "2026-02-03"));

    qbo.record_payment_on(EntityKind::Invoice, &one, dec("150.00"), NaiveDate::from_ymd_opt(2026, 2, 4)).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &one, dec("50.00"), NaiveDate::from_ymd_opt(2026, 2, 9)).unwrap();
    follow(&world, &mut engine).await;
    assert_eq!(money(&world, "M-1"), shown("0.00", "paid", "2026-02-09"));
    assert_eq!(world.cell("M-1", "qb_sync_status"), "synced", "the sync status is untouched");
}

#[tokio::test]
async fn a_round_that_learns_nothing_writes_nothing_and_costs_one_metered_call() {
    let due = NaiveDate::from_ymd_opt(2099, 1, 31).unwrap();
    let (world, mut engine) = synced(&[("M-1", "250.00", due)]).await;
    follow(&world, &mut engine).await;
    follow(&world, &mut engine).await;
    let before = engine.qbo.stats().metered;
    let report = follow(&world, &mut engine).await;
    assert!(report.idle, "nothing changed: the pass stays idle");
    assert_eq!(report.cells_written, 0);
    assert_eq!(engine.qbo.stats().metered - before, 1, "one CDC poll");
    // Not due: no call at all.
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
    assert!(report.idle);
    assert_eq!(engine.qbo.stats().metered - before, 1);
}

#[tokio::test]
async fn an_unpaid_invoice_falls_overdue_when_the_company_clock_passes_its_due_date() {
    let (world, mut engine) = synced(&[("M-1", "250.00", NaiveDate::from_ymd_opt(2099, 1, 1).unwrap())]).await;
    // Due today in the company's time zone: not overdue yet.
    let world_today = company_today(&world);
    let (world2, mut engine2) = synced(&[("M-2", "90.00", world_today)]).await;
    follow(&world2, &mut engine2).await;
    assert_eq!(money(&world2, "M-2"), shown("90.00", "open", ""));
    world2.sandbox.qbo.advance_clock(Duration::days(2));
    follow(&world2, &mut engine2).await;
    assert_eq!(money(&world2, "M-2"), shown("90.00", "overdue", ""), "two days later by QuickBooks' clock");
    // Far from its due date nothing falls overdue.
    follow(&world, &mut engine).await;
    assert_eq!(money(&world, "M-1").1, "open");
}

#[tokio::test]
async fn voided_and_deleted_invoices_say_so_on_their_rows_and_are_never_created_again() {
    let due = NaiveDate::from_ymd_opt(2099, 1, 31).unwrap();
    let (world, mut engine) = synced(&[("M-1", "120.00", due), ("M-2", "75.50", due)]).await;
    follow(&world, &mut engine).await;
    let (voided, deleted) = (invoice_id(&world, "M-1"), invoice_id(&world, "M-2"));
    world.sandbox.qbo.void_document(EntityKind::Invoice, &voided).unwrap();
    world.sandbox.qbo.delete_document(EntityKind::Invoice, &deleted).unwrap();
    follow(&world, &mut engine).await;
    assert_eq!(money(&world, "M-1"), shown("0.00", "voided", ""));
    assert_eq!(money(&world, "M-2"), shown("", "deleted", ""));
    assert_eq!(world.cell("M-2", "qb_invoice_id"), deleted, "the row keeps the id of what was deleted");

    let metered = engine.qbo.stats().metered;
    for _ in 0..3 {
        follow(&world, &mut engine).await;
    }
    let live: Vec<_> = world.sandbox.qbo.invoices().into_iter().filter(|i| i.id != deleted).collect();
    assert_eq!(live.len(), 1, "nothing created again: {live:?}");
    assert_eq!(engine.qbo.stats().metered, metered, "voided and deleted documents are not followed any more");
}

#[tokio::test]
async fn after_an_outage_longer_than_thirty_days_the_row_still_learns_its_payment() {
    let due = NaiveDate::from_ymd_opt(2099, 1, 31).unwrap();
    let (world, mut engine) = synced(&[("M-1", "400.00", due)]).await;
    follow(&world, &mut engine).await;
    let id = invoice_id(&world, "M-1");
    world.sandbox.qbo.advance_clock(Duration::days(31));
    world
        .sandbox
        .qbo
        .record_payment_on(EntityKind::Invoice, &id, dec("400.00"), NaiveDate::from_ymd_opt(2026, 3, 1))
        .unwrap();
    follow(&world, &mut engine).await;
    assert_eq!(money(&world, "M-1"), shown("0.00", "paid", "2026-03-01"));
}

#[tokio::test]
async fn a_window_with_more_than_a_thousand_changes_is_narrowed_and_every_paid_row_still_shows_its_payment() {
    let due = NaiveDate::from_ymd_opt(2099, 1, 31).unwrap();
    let (world, mut engine) =
        synced(&[("M-1", "300.00", due), ("M-2", "80.00", due), ("M-3", "45.00", due), ("M-4", "60.00", due)]).await;
    follow(&world, &mut engine).await;
    let ids: Vec<String> = ["M-1", "M-2", "M-3"].iter().map(|n| invoice_id(&world, n)).collect();
    let qbo = &world.sandbox.qbo;
    // An import in QuickBooks changes 1,100 other invoices since the last round: more than one
    // CDC answer holds, and the answer says nothing of being cut short.
    let mut company = qbo.dump_company();
    let line = serde_json::json!([{ "DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {} }]);
    for n in 0..1100 {
        let other =
            serde_json::json!({ "CustomerRef": { "value": "2" }, "DocNumber": format!("IMPORT-{n}"), "Line": line });
        company.invoices.push(other.as_object().cloned().unwrap());
    }
    qbo.load_company(&company).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &ids[0], dec("300.00"), NaiveDate::from_ymd_opt(2026, 2, 1)).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &ids[1], dec("30.00"), NaiveDate::from_ymd_opt(2026, 2, 2)).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &ids[2], dec("20.00"), NaiveDate::from_ymd_opt(2026, 2, 3)).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &ids[2], dec("25.00"), NaiveDate::from_ymd_opt(2026, 2, 4)).unwrap();

    let cdc_before = qbo.request_counts().cdc;
    follow(&world, &mut engine).await;
    assert!(qbo.request_counts().cdc - cdc_before >= 2, "the full answer was narrowed, not taken as complete");
    assert_eq!(money(&world, "M-1"), shown("0.00", "paid", "2026-02-01"));
    assert_eq!(money(&world, "M-2"), shown("50.00", "partial", ""));
    assert_eq!(money(&world, "M-3"), shown("0.00", "paid", "2026-02-04"), "paid by the later of two payments");
    assert_eq!(money(&world, "M-4"), shown("60.00", "open", ""), "unchanged");
    assert_eq!(world.sheet().len(), 5, "the imported invoices are not qbsync's: no row for them");
    assert_eq!(qbo.invoices().len(), 1104);
}

#[tokio::test]
async fn a_sheet_without_the_money_columns_is_left_alone_and_costs_no_metered_call() {
    let world = World::demo().await;
    let tracking = "qb_invoice_id,qb_invoice_url,qb_sync_status,qb_synced_at,qb_error";
    let csv = format!("{HEADER},{tracking}\nM-1,submitted,ACD,Acme Training Co,,,,10.00,2026-01-05,,,,,,,,,,\n");
    world.sandbox.google.load_csv(world.tab(), &csv).expect("sheet loads");
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    assert_eq!(world.cell("M-1", "qb_sync_status"), "synced");
    let header_before = world.sheet()[0].clone();
    let metered = engine.qbo.stats().metered;
    follow(&world, &mut engine).await;
    follow(&world, &mut engine).await;
    assert_eq!(engine.qbo.stats().metered, metered, "no poll without a column to show it in");
    assert_eq!(world.sheet()[0], header_before, "no column added by a pass");
}

#[tokio::test]
async fn a_bill_paid_in_quickbooks_shows_paid_in_the_bill_columns() {
    let world = World::start(Default::default(), &[("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")]).await;
    let csv = format!("{HEADER}\nB-1,submitted,Jane Smith Consulting,ACD,,,,420.00,2026-01-05,2099-01-31,,,,\n");
    world.sandbox.google.load_csv(world.tab(), &csv).expect("sheet loads");
    world.migrate(true).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    let id = world.cell("B-1", "qb_bill_id");
    assert!(!id.is_empty(), "the bill was created");
    let bill_money = |world: &World| {
        (
            world.cell("B-1", "qb_bill_balance"),
            world.cell("B-1", "qb_bill_paid_status"),
            world.cell("B-1", "qb_bill_paid_at"),
        )
    };
    follow(&world, &mut engine).await;
    assert_eq!(bill_money(&world), shown("420.00", "open", ""));

    world
        .sandbox
        .qbo
        .record_payment_on(EntityKind::Bill, &id, dec("420.00"), NaiveDate::from_ymd_opt(2026, 2, 2))
        .unwrap();
    follow(&world, &mut engine).await;
    assert_eq!(bill_money(&world), shown("0.00", "paid", "2026-02-02"));
    assert_eq!(world.cell("B-1", "qb_balance"), "", "nothing in the invoice columns");
    assert_eq!(world.cell("B-1", "qb_bill_status"), "synced");
}

/// `run-once` from cron is its process's only pass, so it follows the money every time it runs
/// (a daemon's rounds wait for their interval): a payment recorded in QuickBooks shows on the row
/// after the next run.
#[tokio::test]
async fn run_once_brings_a_payment_back_onto_its_row() {
    let due = NaiveDate::from_ymd_opt(2099, 1, 31).unwrap();
    let (world, _engine) = synced(&[("M-1", "250.00", due)]).await;
    let id = invoice_id(&world, "M-1");
    let paid_on = NaiveDate::from_ymd_opt(2026, 2, 2);
    world.sandbox.qbo.record_payment_on(EntityKind::Invoice, &id, dec("250.00"), paid_on).unwrap();

    let (status, output) = world.run_cli(&["run-once"]).await;
    assert!(status.success(), "{output}");
    assert_eq!(money(&world, "M-1"), shown("0.00", "paid", "2026-02-02"), "{output}");
    assert!(output.contains("money shown for 1 document"), "{output}");
}
