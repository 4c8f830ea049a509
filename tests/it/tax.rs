//! Every QuickBooks company (issue 19): sales tax by country, and credits for negative amounts,
//! end to end through the real clients against sandbox companies of each country.

use qbsync::commands::context::RunFlags;
use qbsync::qbo::DocKind;
use qbsync::sandbox::qbo::{EntityKind, SandboxCountry, TxnSummary};
use qbsync::store::{AuditQuery, Store};
use qbsync::sync::{PassError, PassOptions};
use rust_decimal::Decimal;

use crate::support::World;

const HEADER: &str = "invoice,status,inv_from,to_client,inv_dollars,submitted_date,tax_code,qb_invoice_id,qb_invoice_url,qb_sync_status,qb_synced_at,qb_error,qb_bill_id,qb_bill_url,qb_bill_status,qb_bill_error,qb_total,qb_bill_total";

/// One row: number, who it is from (routes it), customer, amount, tax code cell.
type Row<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

/// A world whose company is of `country`, in dual mode, with `rows` on the tab.
async fn world(country: SandboxCountry, env: &[(&str, &str)], rows: &[Row<'_>]) -> World {
    let mut all = vec![("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")];
    all.extend_from_slice(env);
    let world = World::start(Default::default(), &all).await;
    world.sandbox.qbo.load_country(country).expect("the country's company loads");
    let mut csv = format!("{HEADER}\n");
    for (number, from, client, amount, code) in rows {
        csv += &format!("{number},submitted,{from},{client},{amount},2025-11-05,{code},,,,,,,,,,,\n");
    }
    world.sandbox.google.load_csv(world.tab(), &csv).expect("sheet loads");
    world
}

async fn sync(world: &World) {
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 5).await;
}

fn by_number<'a>(docs: &'a [TxnSummary], number: &str) -> &'a TxnSummary {
    let found: Vec<&TxnSummary> = docs.iter().filter(|d| d.doc_number.as_deref() == Some(number)).collect();
    assert_eq!(found.len(), 1, "exactly one document {number}: {docs:?}");
    found[0]
}

fn money(text: &str) -> Decimal {
    text.parse().expect("a decimal")
}

fn store(world: &World) -> Store {
    Store::open_in(&world.state_dir()).expect("store opens")
}

#[tokio::test]
async fn a_british_company_adds_vat_to_the_sheets_amounts_on_invoices_and_bills() {
    let env = [("QB_DEFAULT_TAX_CODE", "20.0% S"), ("QB_DEFAULT_PURCHASE_TAX_CODE", "2")];
    let rows = [("UK-1", "ACD", "Acme Training Co", "100.00", ""), ("UK-2", "Jane Smith Consulting", "", "49.99", "")];
    let world = world(SandboxCountry::UnitedKingdom, &env, &rows).await;
    sync(&world).await;

    let invoice = by_number(&world.sandbox.qbo.invoices(), "UK-1").clone();
    let bill = by_number(&world.sandbox.qbo.bills(), "UK-2").clone();
    // The lines keep the sheet's amounts exactly; QuickBooks adds 20 % on top.
    assert_eq!(invoice.lines[0].amount, money("100.00"));
    assert_eq!(invoice.total, money("120.00"));
    assert_eq!(bill.lines[0].amount, money("49.99"));
    assert_eq!(bill.total, money("59.99"));
    assert_eq!(world.cell("UK-1", "qb_sync_status"), "synced");
    assert_eq!(world.cell("UK-1", "qb_invoice_id"), invoice.id);
    assert_eq!(world.cell("UK-2", "qb_bill_status"), "synced");
    assert_eq!(world.cell("UK-2", "qb_bill_id"), bill.id);
    // The row shows QuickBooks' total beside the sheet's amount.
    assert_eq!(
        (world.cell("UK-1", "qb_total"), world.cell("UK-2", "qb_bill_total")),
        ("120.00".into(), "59.99".into())
    );

    // The audit shows QuickBooks' total, tax included, and the document's type.
    let created = store(&world)
        .audit(&AuditQuery { doc_number: Some("UK-1".into()), ..Default::default() })
        .unwrap()
        .into_iter()
        .find(|e| e.event == "created")
        .expect("a created line");
    assert_eq!((created.doc_kind.as_deref(), created.total.as_deref()), (Some("Invoice"), Some("120.00")));
}

#[tokio::test]
async fn inclusive_amounts_are_what_the_client_pays_to_the_penny() {
    let env = [
        ("QB_DEFAULT_TAX_CODE", "HST ON"),
        ("QB_DEFAULT_PURCHASE_TAX_CODE", "HST ON"),
        ("QBSYNC_AMOUNTS_INCLUDE_TAX", "true"),
    ];
    let rows = [
        ("CA-1", "ACD", "Acme Training Co", "113.00", ""),
        ("CA-2", "ACD", "Acme Training Co", "99.99", ""),
        ("CA-3", "Jane Smith Consulting", "", "0.01", ""),
    ];
    let world = world(SandboxCountry::Canada, &env, &rows).await;
    sync(&world).await;

    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(by_number(&invoices, "CA-1").total, money("113.00"));
    assert_eq!(by_number(&invoices, "CA-2").total, money("99.99"));
    assert_eq!(by_number(&world.sandbox.qbo.bills(), "CA-3").total, money("0.01"));
    for number in ["CA-1", "CA-2"] {
        assert_eq!(world.cell(number, "qb_sync_status"), "synced", "{number}");
    }
}

#[tokio::test]
async fn a_rows_tax_code_overrides_the_default_and_an_unknown_one_fails_only_that_row_naming_the_cell() {
    let env = [("QB_DEFAULT_TAX_CODE", "GST"), ("QB_DEFAULT_PURCHASE_TAX_CODE", "GST")];
    let rows = [
        ("AU-1", "ACD", "Acme Training Co", "100.00", "FRE"),
        ("AU-2", "ACD", "Acme Training Co", "100.00", "GST-X"),
        ("AU-3", "ACD", "Acme Training Co", "100.00", ""),
    ];
    let world = world(SandboxCountry::Australia, &env, &rows).await;
    sync(&world).await;

    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(by_number(&invoices, "AU-1").total, money("100.00"), "GST-free by its own cell");
    assert_eq!(by_number(&invoices, "AU-3").total, money("110.00"), "GST by default");
    assert!(invoices.iter().all(|d| d.doc_number.as_deref() != Some("AU-2")));
    assert_eq!(world.cell("AU-2", "qb_sync_status"), "failed");
    let error = world.cell("AU-2", "qb_error");
    assert!(
        error.starts_with(
            r#"tax_code (cell G3): the tax code "GST-X" is not one of this QuickBooks company's tax codes"#
        ),
        "{error}"
    );
    for code in [r#"4 "GST""#, r#"5 "FRE""#, r#"6 "N-T""#] {
        assert!(error.contains(code), "{error}");
    }

    // Fixed in the cell, the row goes through on the next pass.
    let col = world.col("tax_code");
    world.sandbox.google.set_cell(world.tab(), 2, col, "N-T").unwrap();
    sync(&world).await;
    assert_eq!(by_number(&world.sandbox.qbo.invoices(), "AU-2").total, money("100.00"));
    assert_eq!(world.cell("AU-2", "qb_sync_status"), "synced");
}

#[tokio::test]
async fn a_us_company_takes_tax_or_non_and_leaves_the_rest_to_quickbooks() {
    let rows =
        [("US-1", "ACD", "Acme Training Co", "100.00", ""), ("US-2", "ACD", "Acme Training Co", "100.00", "non")];
    let world = world(SandboxCountry::Us, &[("QB_DEFAULT_TAX_CODE", "TAX")], &rows).await;
    sync(&world).await;
    for number in ["US-1", "US-2"] {
        assert_eq!(world.cell(number, "qb_sync_status"), "synced", "{number}: {}", world.cell(number, "qb_error"));
    }
    let sent: Vec<String> = world
        .sandbox
        .qbo
        .invoices()
        .iter()
        .filter_map(|d| world.sandbox.qbo.entity(EntityKind::Invoice, &d.id))
        .map(|raw| raw["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(sent, ["TAX", "NON"]);

    // Automated sales tax, no setting: nothing is sent, QuickBooks decides, every row syncs.
    let world = world_ast().await;
    sync(&world).await;
    assert_eq!(world.cell("AST-1", "qb_sync_status"), "synced", "{}", world.cell("AST-1", "qb_error"));
}

async fn world_ast() -> World {
    world(SandboxCountry::UsAutomatedTax, &[], &[("AST-1", "ACD", "Acme Training Co", "100.00", "")]).await
}

#[tokio::test]
async fn a_company_that_needs_a_tax_code_and_has_none_set_stops_with_one_message_listing_its_codes() {
    let rows = [("UK-1", "ACD", "Acme Training Co", "100.00", ""), ("UK-2", "ACD", "Acme Training Co", "5.00", "")];
    let world = world(SandboxCountry::UnitedKingdom, &[], &rows).await;

    let mut engine = world.engine().await;
    let stopped = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await;
    let Err(error @ PassError::TaxSettings(_)) = stopped else { panic!("{stopped:?}") };
    let message = error.to_string();
    assert!(message.contains("(GB) needs a VAT code on every invoice and credit memo line"), "{message}");
    assert!(message.contains(r#"2 "20.0% S""#) && message.contains(r#"6 "No VAT""#), "{message}");
    // Not a hundred failed rows: nothing is written to them, nothing is sent.
    for number in ["UK-1", "UK-2"] {
        assert_eq!(world.cell(number, "qb_sync_status"), "", "{number}");
    }
    assert!(world.sandbox.qbo.invoices().is_empty());

    // The daemon says the same at start, and stops.
    let (status, output) = world.run_cli(&["daemon", "--interval", "1"]).await;
    assert!(!status.success(), "{output}");
    assert!(output.contains("QB_DEFAULT_TAX_CODE is not set"), "{output}");

    // Once `doctor`'s advice is followed, both rows go through.
    let mut world = world;
    world.set_env("QB_DEFAULT_TAX_CODE", "20.0% S");
    world.set_env("QB_DEFAULT_PURCHASE_TAX_CODE", "20.0% S");
    sync(&world).await;
    assert_eq!(by_number(&world.sandbox.qbo.invoices(), "UK-2").total, money("6.00"));
}

#[tokio::test]
async fn a_tax_code_quickbooks_refuses_fails_only_its_row_and_is_not_retried() {
    let env = [("QB_DEFAULT_TAX_CODE", "20.0% S"), ("QB_DEFAULT_PURCHASE_TAX_CODE", "20.0% S")];
    let rows =
        [("UK-1", "ACD", "Acme Training Co", "10.00", "0.0% Z"), ("UK-2", "ACD", "Acme Training Co", "10.00", "")];
    let world = world(SandboxCountry::UnitedKingdom, &env, &rows).await;
    let mut engine = world.engine().await;
    let policy = world.policy(RunFlags::default());
    // Learnt at start; then a bookkeeper retires the zero rate in QuickBooks.
    engine.company.check(&engine.qbo, &policy).await.unwrap();
    world.sandbox.qbo.set_active(EntityKind::TaxCode, "4", false).unwrap();
    let creates_before = world.sandbox.qbo.request_counts().create + world.sandbox.qbo.request_counts().batch;
    world.run_until_idle(&mut engine, RunFlags::default(), 5).await;

    assert_eq!(world.cell("UK-2", "qb_sync_status"), "synced");
    assert_eq!(world.cell("UK-1", "qb_sync_status"), "failed");
    let error = world.cell("UK-1", "qb_error");
    assert!(error.contains("tax code) has been made inactive"), "{error}");
    // Refused once; the later passes left it alone (nothing changed).
    let sends = world.sandbox.qbo.request_counts().create + world.sandbox.qbo.request_counts().batch - creates_before;
    assert!(sends <= 2, "{sends} sends");
    let report = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!((report.failed, report.created.len()), (0, 0), "{report:?}");
}

#[tokio::test]
async fn negative_amounts_become_credit_memos_and_vendor_credits_when_asked() {
    let rows = [
        ("CR-1", "ACD", "Acme Training Co", "-50.00", ""),
        ("CR-2", "Jane Smith Consulting", "", "(30.25)", ""),
        ("INV-3", "ACD", "Acme Training Co", "75.00", ""),
    ];
    let world = world(SandboxCountry::Us, &[("QBSYNC_NEGATIVE_AMOUNTS", "credit")], &rows).await;
    sync(&world).await;

    let memo = by_number(&world.sandbox.qbo.credit_memos(), "CR-1").clone();
    let credit = by_number(&world.sandbox.qbo.vendor_credits(), "CR-2").clone();
    assert_eq!((memo.total, memo.lines[0].amount), (money("50.00"), money("50.00")));
    assert_eq!(credit.total, money("30.25"));
    assert_eq!(by_number(&world.sandbox.qbo.invoices(), "INV-3").total, money("75.00"));
    assert!(world.sandbox.qbo.invoices().iter().all(|d| d.doc_number.as_deref() != Some("CR-1")));
    assert!(world.sandbox.qbo.bills().is_empty());

    assert_eq!(world.cell("CR-1", "qb_sync_status"), "synced");
    assert_eq!(world.cell("CR-1", "qb_invoice_id"), memo.id);
    assert!(
        world.cell("CR-1", "qb_invoice_url").contains("creditmemo?txnId="),
        "{}",
        world.cell("CR-1", "qb_invoice_url")
    );
    assert_eq!(world.cell("CR-2", "qb_bill_status"), "synced");
    assert_eq!(world.cell("CR-2", "qb_bill_id"), credit.id);
    assert!(world.cell("CR-2", "qb_bill_url").contains("vendorcredit?txnId="));

    let store = store(&world);
    let kinds: Vec<Option<String>> = store
        .audit(&AuditQuery::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.event == "created")
        .map(|e| e.doc_kind)
        .collect();
    assert_eq!(kinds.len(), 3);
    for kind in ["CreditMemo", "VendorCredit", "Invoice"] {
        assert!(kinds.contains(&Some(kind.to_owned())), "{kinds:?}");
    }
    let memo_record = store.document_by_qbo_id(DocKind::CreditMemo, &memo.id).unwrap().expect("recorded");
    assert_eq!(memo_record.total, money("50.00"));
}

#[tokio::test]
async fn without_the_setting_a_negative_amount_fails_its_row_naming_the_setting() {
    let rows = [("CR-1", "ACD", "Acme Training Co", "-50.00", "")];
    let world = world(SandboxCountry::Us, &[], &rows).await;
    sync(&world).await;
    assert_eq!(world.cell("CR-1", "qb_sync_status"), "failed");
    let error = world.cell("CR-1", "qb_error");
    assert!(error.starts_with("inv_dollars (cell E2): -50 is negative"), "{error}");
    assert!(error.contains("QBSYNC_NEGATIVE_AMOUNTS=credit"), "{error}");
    assert!(world.sandbox.qbo.credit_memos().is_empty() && world.sandbox.qbo.invoices().is_empty());
}

#[tokio::test]
async fn a_credit_is_taxed_like_the_document_it_stands_for() {
    let env = [
        ("QB_DEFAULT_TAX_CODE", "20.0% S"),
        ("QB_DEFAULT_PURCHASE_TAX_CODE", "20.0% S"),
        ("QBSYNC_NEGATIVE_AMOUNTS", "credit"),
    ];
    let rows = [("CN-1", "ACD", "Acme Training Co", "-10.00", ""), ("CN-2", "Jane Smith Consulting", "", "-20.00", "")];
    let world = world(SandboxCountry::UnitedKingdom, &env, &rows).await;
    sync(&world).await;
    assert_eq!(by_number(&world.sandbox.qbo.credit_memos(), "CN-1").total, money("12.00"));
    assert_eq!(by_number(&world.sandbox.qbo.vendor_credits(), "CN-2").total, money("24.00"));
}
