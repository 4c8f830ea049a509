//! Money coming back: the payment poller against the sandbox over real HTTP, with a bookkeeper
//! recording payments, voiding and deleting in QuickBooks through the sandbox's controls.

use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, Utc};
use qbsync::payments::{DocUpdate, Lifecycle, PaidStatus, Poller, paid_view};
use qbsync::qbo::{
    Doc, DocKind, ExpenseLine, NewBill, NewDoc, NewInvoice, QboClient, QboSettings, RequestId, SANDBOX_APP_URL,
    SalesLine,
};
use qbsync::sandbox::qbo::EntityKind;
use qbsync::sandbox::{Sandbox, SandboxOptions};
use rust_decimal::Decimal;
use secrecy::SecretString;

const TOKEN: &str = "payments-token";
const LA: chrono_tz::Tz = chrono_tz::America::Los_Angeles;

async fn start() -> (Sandbox, QboClient) {
    let sandbox = Sandbox::start(SandboxOptions::default()).await.expect("sandbox starts");
    let realm = sandbox.options.realm_id.clone();
    sandbox.shared.access_tokens.insert(TOKEN, &realm, Duration::from_secs(3600));
    let mut settings = QboSettings::new(sandbox.base_url(), realm, SANDBOX_APP_URL);
    settings.retry_base_delay = Duration::from_millis(5);
    let tokens = Arc::new(qbsync::auth::StaticToken(SecretString::from(TOKEN)));
    (sandbox, QboClient::new(settings, tokens).unwrap())
}

fn dec(text: &str) -> Decimal {
    text.parse().unwrap()
}

fn day(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

async fn invoice(client: &QboClient, number: &str, amount: &str, due: &str) -> Doc {
    let doc = NewDoc::Invoice(NewInvoice {
        doc_number: Some(number.into()),
        txn_date: day("2026-01-05"),
        due_date: Some(day(due)),
        customer_id: "1".into(),
        private_note: None,
        lines: vec![SalesLine {
            amount: dec(amount),
            description: Some("Training".into()),
            item_id: "1".into(),
            qty: dec("1"),
            unit_price: dec(amount),
        }],
    });
    client.create(&doc, &RequestId::parse(&format!("row-{number}")).unwrap()).await.unwrap()
}

async fn bill(client: &QboClient, number: &str, amount: &str) -> Doc {
    let doc = NewDoc::Bill(NewBill {
        doc_number: Some(number.into()),
        txn_date: day("2026-01-06"),
        due_date: Some(day("2099-01-01")),
        vendor_id: "7".into(),
        ap_account_id: None,
        private_note: None,
        lines: vec![ExpenseLine { amount: dec(amount), description: None, account_id: "7".into() }],
    });
    client.create(&doc, &RequestId::parse(&format!("row-{number}")).unwrap()).await.unwrap()
}

fn key(doc: &Doc) -> (DocKind, String) {
    (doc.kind, doc.id.clone())
}

fn update<'a>(updates: &'a [DocUpdate], doc: &Doc) -> &'a DocUpdate {
    updates.iter().find(|u| u.kind == doc.kind && u.id == doc.id).expect("an update for the document")
}

/// A poller that has already covered everything up to now (as after a first round).
fn caught_up() -> Poller {
    Poller::new(Some(Utc::now() - chrono::Duration::seconds(1)))
}

#[tokio::test]
async fn full_partial_and_several_payments_show_as_paid_partial_and_paid_on_the_last_date() {
    let (sandbox, client) = start().await;
    let full = invoice(&client, "P-FULL", "100.00", "2099-01-01").await;
    let partial = invoice(&client, "P-PART", "100.00", "2099-01-01").await;
    let several = invoice(&client, "P-SEV", "300.00", "2099-01-01").await;
    let followed = [key(&full), key(&partial), key(&several)];
    let mut poller = caught_up();
    let qbo = &sandbox.qbo;
    qbo.record_payment_on(EntityKind::Invoice, &full.id, dec("100"), Some(day("2026-02-01"))).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &partial.id, dec("40.10"), Some(day("2026-02-02"))).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &several.id, dec("100"), Some(day("2026-02-03"))).unwrap();
    qbo.record_payment_on(EntityKind::Invoice, &several.id, dec("200"), Some(day("2026-02-09"))).unwrap();

    let round = poller.poll(&client, &followed, Utc::now()).await.unwrap();
    assert!(!round.unfinished);
    assert!(round.covered_until.is_some());
    let now = Utc::now();
    let view = |doc: &Doc| paid_view(&update(&round.updates, doc).facts, now, LA);
    let full_view = view(&full);
    assert_eq!((full_view.status, full_view.paid_at_cell()), (PaidStatus::Paid, "2026-02-01".to_owned()));
    let partial_view = view(&partial);
    assert_eq!((partial_view.status, partial_view.balance_cell()), (PaidStatus::Partial, "59.90".to_owned()));
    let several_view = view(&several);
    assert_eq!((several_view.status, several_view.paid_at_cell()), (PaidStatus::Paid, "2026-02-09".to_owned()));
    assert_eq!(client.stats().metered, 1, "one CDC poll: the payments came in the same answer");

    let again = poller.poll(&client, &followed, Utc::now()).await.unwrap();
    for repeated in &again.updates {
        let first = round.updates.iter().find(|u| u.id == repeated.id).map(|u| &u.facts);
        assert_eq!(Some(&repeated.facts), first, "the overlap repeats facts, never changes them");
    }
}

#[tokio::test]
async fn a_bill_paid_in_quickbooks_is_paid_and_documents_not_followed_are_ignored() {
    let (sandbox, client) = start().await;
    let followed_bill = bill(&client, "B-1", "250.00").await;
    let other = bill(&client, "B-OTHER", "10.00").await;
    let mut poller = caught_up();
    sandbox.qbo.record_payment_on(EntityKind::Bill, &followed_bill.id, dec("250"), Some(day("2026-02-10"))).unwrap();
    sandbox.qbo.record_payment(EntityKind::Bill, &other.id, dec("10")).unwrap();
    let round = poller.poll(&client, &[key(&followed_bill)], Utc::now()).await.unwrap();
    assert_eq!(round.updates.len(), 1);
    let view = paid_view(&round.updates[0].facts, Utc::now(), LA);
    assert_eq!((view.status, view.paid_at_cell()), (PaidStatus::Paid, "2026-02-10".to_owned()));
}

#[tokio::test]
async fn voided_and_deleted_documents_are_told_apart_and_deletion_is_confirmed_by_a_read() {
    let (sandbox, client) = start().await;
    let voided = invoice(&client, "V-1", "80.00", "2099-01-01").await;
    let deleted = invoice(&client, "D-1", "80.00", "2099-01-01").await;
    let mut poller = caught_up();
    sandbox.qbo.void_document(EntityKind::Invoice, &voided.id).unwrap();
    sandbox.qbo.delete_document(EntityKind::Invoice, &deleted.id).unwrap();
    let round = poller.poll(&client, &[key(&voided), key(&deleted)], Utc::now()).await.unwrap();
    assert_eq!(update(&round.updates, &voided).facts.lifecycle, Lifecycle::Voided);
    let gone = update(&round.updates, &deleted);
    assert_eq!((gone.facts.lifecycle, gone.sync_token.clone()), (Lifecycle::Deleted, None));
    assert_eq!(paid_view(&gone.facts, Utc::now(), LA).status, PaidStatus::Deleted);
    assert_eq!(client.stats().metered, 2, "one CDC poll and one confirming read");
}

#[tokio::test]
async fn an_unpaid_invoice_falls_overdue_by_the_company_clock() {
    let (sandbox, client) = start().await;
    let today = Utc::now().with_timezone(&LA).date_naive();
    let due = today + chrono::Duration::days(3);
    let doc = invoice(&client, "O-1", "50.00", &due.format("%Y-%m-%d").to_string()).await;
    let mut poller = Poller::new(None);
    let round = poller.poll(&client, &[key(&doc)], Utc::now()).await.unwrap();
    let facts = &update(&round.updates, &doc).facts;
    assert_eq!(paid_view(facts, Utc::now(), LA).status, PaidStatus::Open);
    sandbox.qbo.advance_clock(chrono::Duration::days(5));
    let later = Utc::now() + sandbox.qbo.clock_offset();
    assert_eq!(paid_view(facts, later, LA).status, PaidStatus::Overdue);
}

#[tokio::test]
async fn after_an_outage_longer_than_thirty_days_the_open_documents_are_read_by_id() {
    let (sandbox, client) = start().await;
    let paid = invoice(&client, "OUT-1", "70.00", "2099-01-01").await;
    let gone = invoice(&client, "OUT-2", "70.00", "2099-01-01").await;
    let covered = Utc::now();
    sandbox.qbo.advance_clock(chrono::Duration::days(31));
    sandbox.qbo.record_payment(EntityKind::Invoice, &paid.id, dec("70")).unwrap();
    sandbox.qbo.delete_document(EntityKind::Invoice, &gone.id).unwrap();
    let mut poller = Poller::new(Some(covered));
    let now = Utc::now() + sandbox.qbo.clock_offset();
    let round = poller.poll(&client, &[key(&paid), key(&gone)], now).await.unwrap();
    assert_eq!(sandbox.qbo.request_counts().cdc, 0, "no CDC window can reach back that far");
    assert_eq!(update(&round.updates, &paid).facts.balance, Decimal::ZERO);
    assert_eq!(update(&round.updates, &gone).facts.lifecycle, Lifecycle::Deleted);
    assert_eq!(round.covered_until, Some(now));
}

#[tokio::test]
async fn a_window_with_more_than_a_thousand_changes_is_narrowed_then_read_by_id() {
    let (sandbox, client) = start().await;
    let followed = invoice(&client, "BIG-1", "20.00", "2099-01-01").await;
    let mut seed = sandbox.qbo.dump_company();
    let line = serde_json::json!([{ "DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {} }]);
    for n in 0..1100 {
        let other =
            serde_json::json!({ "CustomerRef": { "value": "2" }, "DocNumber": format!("NOISE-{n}"), "Line": line });
        seed.invoices.push(other.as_object().cloned().unwrap());
    }
    sandbox.qbo.load_company(&seed).unwrap();
    sandbox.qbo.record_payment(EntityKind::Invoice, &followed.id, dec("5")).unwrap();
    let mut poller = Poller::new(Some(Utc::now() - chrono::Duration::minutes(2)));
    let round = poller.poll(&client, &[key(&followed)], Utc::now()).await.unwrap();
    assert!(sandbox.qbo.request_counts().cdc >= 2, "a full answer is narrowed");
    assert_eq!(update(&round.updates, &followed).facts.balance, dec("15"));
    assert!(!round.unfinished);
}
