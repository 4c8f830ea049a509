//! From the sheet to QuickBooks (issue 18, opt-in): a date in `Inv_paid_date` on a synced row
//! becomes one Payment (or BillPayment, in dual mode) for its document's open balance, exactly
//! once, with the same guarantees as creates.

use qbsync::commands::context::RunFlags;
use qbsync::sandbox::faults::endpoint;
use qbsync::sandbox::qbo::EntityKind;
use qbsync::sandbox::{FaultRule, SandboxOptions};
use qbsync::store::{AuditQuery, PayoutState};
use qbsync::sync::{Engine, PassOptions};
use rust_decimal::Decimal;

use crate::support::{FAST_CLIENTS, World};

const HEADER: &str = "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread";

const INVOICES_PAID: [(&str, &str); 2] = [("QB_AUTO_MARK_INVOICE_PAID", "true"), ("QB_PAYMENT_DEPOSIT_ACCOUNT", "35")];

/// A world whose tab holds money-in rows `(number, amount, paid date)`, migrated, with `extra`
/// settings; not synced yet.
async fn world(rows: &[(&str, &str, &str)], extra: &[(&str, &str)]) -> World {
    let mut csv = format!("{HEADER}\n");
    for (number, amount, paid) in rows {
        csv += &format!("{number},submitted,ACD,Acme Training Co,,,,{amount},2026-01-05,{paid},,,,\n");
    }
    let mut env: Vec<(&str, &str)> = FAST_CLIENTS.to_vec();
    env.extend(extra);
    let world = World::start(SandboxOptions { sheet_csv: Some(csv), ..Default::default() }, &env).await;
    world.migrate(false).await;
    world
}

async fn settle(world: &World, engine: &mut Engine) {
    world.run_until_idle(engine, RunFlags::default(), 6).await;
}

/// Types `date` into the row's `Inv_paid_date` as a person would.
fn type_paid_date(world: &World, invoice: &str, date: &str) {
    let col = world.col("invoice");
    let row = world.sheet().iter().position(|r| r.get(col).is_some_and(|c| c.as_text() == invoice)).expect("row");
    world.sandbox.google.set_cell(world.tab(), row, world.col("Inv_paid_date"), date).expect("typed");
}

fn payments_sent(world: &World, path: &str) -> Vec<String> {
    world.sandbox.requests().matching("POST", path).into_iter().map(|r| r.body).collect()
}

fn balance(world: &World, number: &str) -> Decimal {
    world.sandbox.qbo.invoices().into_iter().find(|i| i.doc_number.as_deref() == Some(number)).expect("invoice").balance
}

/// How many payments QuickBooks shows applied to the document.
fn payment_links(world: &World, kind: EntityKind, id: &str) -> usize {
    let entity = world.sandbox.qbo.entity(kind, id).expect("document");
    entity["LinkedTxn"].as_array().map_or(0, |links| {
        links.iter().filter(|l| l["TxnType"].as_str().is_some_and(|t| t.contains("Payment"))).count()
    })
}

/// The payout qbsync recorded for the document with QuickBooks id `id`.
fn payout_of(world: &World, kind: qbsync::qbo::DocKind, id: &str) -> qbsync::store::PayoutRecord {
    let store = world.store();
    let doc = store.document_by_qbo_id(kind, id).unwrap().expect("the document");
    store.payout(&doc.doc_key).unwrap().expect("a payout")
}

fn events(world: &World) -> Vec<String> {
    world.store().audit(&AuditQuery::default()).unwrap().into_iter().map(|e| e.event).collect()
}

#[tokio::test]
async fn an_invoice_row_with_a_paid_date_gets_exactly_one_payment_for_its_balance_and_shows_paid() {
    let world = world(&[("P-1", "250.00", "2026-01-20"), ("P-2", "80.10", "")], &INVOICES_PAID).await;
    let mut engine = world.engine().await;
    settle(&world, &mut engine).await;

    let sent = payments_sent(&world, "/payment");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains(r#""TotalAmt":250.00"#) && sent[0].contains(r#""TxnDate":"2026-01-20""#), "{}", sent[0]);
    assert!(sent[0].contains(r#""DepositToAccountRef":{"value":"35"}"#) && sent[0].contains("[qbsync "), "{}", sent[0]);
    assert_eq!(balance(&world, "P-1"), Decimal::ZERO);
    assert_eq!(balance(&world, "P-2"), "80.10".parse::<Decimal>().unwrap(), "no date, no payment");
    assert_eq!(world.cell("P-1", "qb_paid_status"), "paid");
    assert_eq!(world.cell("P-1", "qb_paid_at"), "2026-01-20");
    assert_eq!(world.cell("P-1", "qb_balance"), "0.00");
    assert_eq!(world.cell("P-1", "qb_sync_status"), "synced");

    // A date typed later on a synced row is seen by the idle check and paid too, once.
    type_paid_date(&world, "P-2", "2026-02-01");
    settle(&world, &mut engine).await;
    assert_eq!(balance(&world, "P-2"), Decimal::ZERO);
    assert_eq!(world.cell("P-2", "qb_paid_status"), "paid");
    for _ in 0..2 {
        engine.following.as_mut().expect("followed").due_now();
        settle(&world, &mut engine).await;
    }
    assert_eq!(payments_sent(&world, "/payment").len(), 2, "one payment per document, ever");
    let id = world.cell("P-1", "qb_invoice_id");
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1);
    let paid = world.store().audit(&AuditQuery::default()).unwrap();
    let line = paid.iter().find(|e| e.event == "paid" && e.qbo_id.as_deref() == Some(id.as_str())).expect("audited");
    assert_eq!(line.total, Some("250.00".parse().unwrap()));
    assert!(line.response_json.as_deref().is_some_and(|r| r.contains("\"payment_id\"")), "{line:?}");
}

#[tokio::test]
async fn a_bill_row_in_dual_mode_gets_one_bill_payment_from_the_configured_account() {
    let extra = [
        ("QB_SYNC_MODE", "dual"),
        ("QB_ENABLE_BILLS", "true"),
        ("QB_AUTO_MARK_BILL_PAID", "true"),
        ("QB_BILL_PAYMENT_ACCOUNT", "35"),
    ];
    let mut env: Vec<(&str, &str)> = FAST_CLIENTS.to_vec();
    env.extend(extra);
    let world = World::start(Default::default(), &env).await;
    world.migrate(true).await;
    world.run_once_until_idle(4).await;
    let id = world.cell("JS-2025-041", "qb_bill_id");
    assert!(!id.is_empty());
    assert!(payments_sent(&world, "/billpayment").is_empty(), "no date yet");

    type_paid_date(&world, "JS-2025-041", "2025-12-01");
    world.run_once_until_idle(4).await;
    let sent = payments_sent(&world, "/billpayment");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains(r#""PayType":"Check","CheckPayment":{"BankAccountRef":{"value":"35"}}"#), "{}", sent[0]);
    let bill = world.sandbox.qbo.bills().into_iter().find(|b| b.id == id).expect("bill");
    assert!(bill.balance.is_zero());
    assert_eq!(world.cell("JS-2025-041", "qb_bill_paid_status"), "paid");
    assert!(payments_sent(&world, "/payment").is_empty(), "invoices are not paid: their switch is off");
    world.run_once_until_idle(2).await;
    assert_eq!(payments_sent(&world, "/billpayment").len(), 1);
}

#[tokio::test]
async fn a_balance_already_zero_in_quickbooks_gets_nothing() {
    let world = world(&[("P-1", "250.00", "")], &INVOICES_PAID).await;
    let mut engine = world.engine().await;
    settle(&world, &mut engine).await;
    assert_ne!(world.cell("P-1", "qb_paid_status"), "", "the poller has seen it");
    let id = world.cell("P-1", "qb_invoice_id");
    // Paid by hand in QuickBooks; the poller has not been round since.
    world.sandbox.qbo.record_payment(EntityKind::Invoice, &id, "250.00".parse().unwrap()).expect("paid by hand");
    type_paid_date(&world, "P-1", "2026-01-20");
    settle(&world, &mut engine).await;
    assert!(payments_sent(&world, "/payment").is_empty(), "nothing owed, nothing sent");
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1, "only the bookkeeper's");
    assert_eq!(world.cell("P-1", "qb_paid_status"), "paid", "the read showed it paid");
    assert!(
        world
            .store()
            .payout(&world.store().document_by_qbo_id(qbsync::qbo::DocKind::Invoice, &id).unwrap().unwrap().doc_key)
            .unwrap()
            .is_none()
    );
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.expect("pass");
    assert!(report.idle, "settled: the paid date no longer asks for a pass");
}

#[tokio::test]
async fn autopay_is_off_by_default_and_a_paid_date_sends_nothing() {
    let world = world(&[("P-1", "250.00", "2026-01-20")], &[]).await;
    let mut engine = world.engine().await;
    settle(&world, &mut engine).await;
    type_paid_date(&world, "P-1", "2026-01-21");
    settle(&world, &mut engine).await;
    assert!(payments_sent(&world, "/payment").is_empty());
    assert_eq!(balance(&world, "P-1"), "250.00".parse::<Decimal>().unwrap());
    assert_ne!(world.cell("P-1", "qb_paid_status"), "paid");
    assert!(!events(&world).iter().any(|e| e.starts_with("payment") || e == "paid"));
}

#[tokio::test]
async fn a_payment_whose_answer_was_lost_is_found_by_its_marker_not_sent_twice() {
    let world = world(&[("P-1", "250.00", "")], &INVOICES_PAID).await;
    let mut engine = world.engine().await;
    settle(&world, &mut engine).await;
    let id = world.cell("P-1", "qb_invoice_id");
    // QuickBooks applies the payment and the answer is lost; a resend would pay twice.
    world.sandbox.qbo.set_honour_request_id(false);
    world.sandbox.faults().set(endpoint::QBO_CREATE, FaultRule { commit_then_drop_rate: 1.0, ..Default::default() });
    type_paid_date(&world, "P-1", "2026-01-20");
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.expect("pass");
    assert_eq!(report.uncertain, 1);
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1, "QuickBooks applied it");
    let pending = world.store().pending_payouts().unwrap();
    assert_eq!((pending.len(), pending[0].attempts), (1, 1));

    world.sandbox.faults().clear();
    world.sandbox.requests().clear();
    settle(&world, &mut engine).await;
    assert!(payments_sent(&world, "/payment").is_empty(), "looked up, not sent again");
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1);
    assert_eq!(world.store().payout(&pending[0].doc_key).unwrap().unwrap().state, PayoutState::Paid);
    assert_eq!(world.cell("P-1", "qb_paid_status"), "paid");
    let events = events(&world);
    let at = |event: &str| events.iter().position(|e| e == event);
    assert!(at("payment-intent") < at("uncertain") && at("uncertain") < at("paid"), "{events:?}");
}

#[tokio::test]
async fn a_crash_between_the_payment_intent_and_its_send_sends_it_once_on_restart() {
    let world = world(&[("P-1", "250.00", "2026-01-20")], &INVOICES_PAID).await;
    world.run_once_until_idle(4).await;
    world.sandbox.requests().clear();
    // Undo what the first run paid, and make its payout look like an intent recorded by a
    // process killed before the send: pending, never sent.
    let id = world.cell("P-1", "qb_invoice_id");
    let payout = {
        let store = world.store();
        let doc = store.document_by_qbo_id(qbsync::qbo::DocKind::Invoice, &id).unwrap().unwrap();
        store.payout(&doc.doc_key).unwrap().expect("a payout")
    };
    let payment_id = payout.qbo_id.clone().expect("paid");
    world.sandbox.qbo.delete_document(EntityKind::Payment, &payment_id).expect("payment deleted");
    let db = rusqlite::Connection::open(world.state_dir().join("qbsync.sqlite3")).unwrap();
    let reset = "UPDATE payouts SET state = 'pending', attempts = 0, qbo_id = NULL, settled_at = NULL";
    assert_eq!(db.execute(reset, []).unwrap(), 1);
    // The money as the intent's pass had read it, before the payment.
    let unpaid = "UPDATE doc_money SET balance = '250.00', paid_status = 'open', last_paid_on = NULL, paid_at = NULL";
    db.execute(unpaid, []).unwrap();
    drop(db);
    world.sandbox.qbo.set_honour_request_id(false);

    world.run_once_until_idle(4).await;
    let sent = world.sandbox.requests().matching("POST", "/payment");
    assert_eq!(sent.len(), 1, "sent once on restart");
    assert_eq!(sent[0].query_param("requestid").as_deref(), Some(payout.request_id.as_str()));
    assert_eq!(sent[0].body, payout.payload, "the exact body recorded with the intent");
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1);
    assert_eq!(world.cell("P-1", "qb_paid_status"), "paid");
}

#[tokio::test]
async fn run_once_says_how_many_payments_it_recorded_and_for_how_many_documents_it_showed_money() {
    let world = world(&[("P-1", "250.00", "")], &INVOICES_PAID).await;
    world.run_once_until_idle(4).await;
    type_paid_date(&world, "P-1", "2026-01-20");
    let (status, output) = world.run_cli(&["run-once"]).await;
    assert!(status.success(), "{output}");
    assert!(
        output.contains(" cells written, 1 payment recorded in QuickBooks, money shown for 1 document"),
        "{output}"
    );
    assert_eq!(world.cell("P-1", "qb_paid_status"), "paid");
    let quiet = world.run_once_until_idle(2).await;
    assert!(!quiet.contains("payment"), "nothing paid again: {quiet}");
}

#[tokio::test]
async fn a_payment_refused_for_the_account_setting_is_held_then_paid_once_after_a_restart_with_it_corrected() {
    // Account 7 is an expense account: QuickBooks cannot deposit a customer's payment to it.
    let wrong = [("QB_AUTO_MARK_INVOICE_PAID", "true"), ("QB_PAYMENT_DEPOSIT_ACCOUNT", "7")];
    let mut world = world(&[("P-1", "250.00", "2026-01-20")], &wrong).await;
    let mut engine = world.engine().await;
    let reports = world.run_until_idle(&mut engine, RunFlags::default(), 6).await;
    assert_eq!(reports.iter().map(|r| r.money.payments_held).sum::<usize>(), 1);
    assert_eq!(reports.iter().map(|r| r.money.payments_refused).sum::<usize>(), 0, "not blamed on the row");
    assert_eq!(payments_sent(&world, "/payment").len(), 1, "sent once and refused");
    assert_eq!(balance(&world, "P-1"), "250.00".parse::<Decimal>().unwrap());
    let id = world.cell("P-1", "qb_invoice_id");
    let held = payout_of(&world, qbsync::qbo::DocKind::Invoice, &id);
    assert_eq!((held.state, held.account_id.as_deref()), (PayoutState::Held, Some("7")));
    let error = held.error.clone().unwrap_or_default();
    assert!(error.contains("QB_PAYMENT_DEPOSIT_ACCOUNT") && error.contains("Contract Labor"), "{error}");
    assert!(events(&world).iter().any(|e| e == "payment-held"));
    assert!(!events(&world).iter().any(|e| e == "payment-refused"));
    assert_eq!((world.cell("P-1", "qb_sync_status"), world.cell("P-1", "qb_error")), ("synced".into(), String::new()));
    // The same process does not send it again, however many passes and rounds.
    for _ in 0..2 {
        engine.following.as_mut().expect("followed").due_now();
        settle(&world, &mut engine).await;
    }
    assert_eq!(payments_sent(&world, "/payment").len(), 1);
    drop(engine);

    // Restarted with the setting corrected: decided again from a fresh read, and paid once.
    world.set_env("QB_PAYMENT_DEPOSIT_ACCOUNT", "35");
    let mut engine = world.engine().await;
    let reports = world.run_until_idle(&mut engine, RunFlags::default(), 6).await;
    assert_eq!(reports.iter().map(|r| r.money.payments_recorded).sum::<usize>(), 1);
    let sent = world.sandbox.requests().matching("POST", "/payment");
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[1].body.contains(r#""DepositToAccountRef":{"value":"35"}"#), "{}", sent[1].body);
    assert_ne!(sent[1].query_param("requestid"), sent[0].query_param("requestid"), "a new requestid");
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1);
    assert_eq!(balance(&world, "P-1"), Decimal::ZERO);
    assert_eq!(world.cell("P-1", "qb_paid_status"), "paid");
    let paid = payout_of(&world, qbsync::qbo::DocKind::Invoice, &id);
    assert_eq!((paid.state, paid.account_id.as_deref()), (PayoutState::Paid, Some("35")));
    drop(engine);

    // A later restart finds nothing to pay.
    let mut engine = world.engine().await;
    settle(&world, &mut engine).await;
    assert_eq!(payments_sent(&world, "/payment").len(), 2);
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1);
}

#[tokio::test]
async fn a_bill_paid_from_a_credit_card_account_gets_one_credit_card_bill_payment() {
    let extra = [
        ("QB_SYNC_MODE", "dual"),
        ("QB_ENABLE_BILLS", "true"),
        ("QB_AUTO_MARK_BILL_PAID", "true"),
        ("QB_BILL_PAYMENT_ACCOUNT", "41"),
    ];
    let mut env: Vec<(&str, &str)> = FAST_CLIENTS.to_vec();
    env.extend(extra);
    let world = World::start(Default::default(), &env).await;
    // The company's credit card, as a bookkeeper sets it up in QuickBooks.
    let mut company = world.sandbox.qbo.dump_company();
    let card =
        serde_json::json!({ "Id": "41", "Name": "Visa", "AccountType": "Credit Card", "AccountSubType": "CreditCard" });
    company.accounts.push(card.as_object().cloned().unwrap());
    world.sandbox.qbo.load_company(&company).unwrap();
    world.migrate(true).await;
    world.run_once_until_idle(4).await;
    let id = world.cell("JS-2025-041", "qb_bill_id");
    assert!(!id.is_empty());

    type_paid_date(&world, "JS-2025-041", "2025-12-01");
    let (status, output) = world.run_cli(&["run-once"]).await;
    assert!(status.success(), "{output}");
    assert!(output.contains("1 payment recorded in QuickBooks"), "{output}");
    let sent = payments_sent(&world, "/billpayment");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains(r#""PayType":"CreditCard","CreditCardPayment":{"CCAccountRef":{"value":"41"}}"#),
        "{}",
        sent[0]
    );
    assert!(!sent[0].contains("CheckPayment"), "{}", sent[0]);
    let bill = world.sandbox.qbo.bills().into_iter().find(|b| b.id == id).expect("bill");
    assert!(bill.balance.is_zero());
    let payout = payout_of(&world, qbsync::qbo::DocKind::Bill, &id);
    let stored = world.sandbox.qbo.entity(EntityKind::BillPayment, payout.qbo_id.as_deref().expect("paid")).unwrap();
    assert_eq!(stored["PayType"], "CreditCard");
    assert_eq!(stored["CreditCardPayment"]["CCAccountRef"]["value"], "41");
    assert_eq!(payment_links(&world, EntityKind::Bill, &id), 1);
    assert_eq!(world.cell("JS-2025-041", "qb_bill_paid_status"), "paid");
    assert_eq!(world.cell("JS-2025-041", "qb_bill_paid_at"), "2025-12-01");
    world.run_once_until_idle(2).await;
    assert_eq!(payments_sent(&world, "/billpayment").len(), 1, "paid once");
}

#[tokio::test]
async fn a_payment_held_for_an_inactive_account_is_sent_after_a_restart_once_the_account_is_active_again() {
    let inactive = [("QB_AUTO_MARK_INVOICE_PAID", "true"), ("QB_PAYMENT_DEPOSIT_ACCOUNT", "36")];
    let world = world(&[("P-1", "250.00", "2026-01-20")], &inactive).await;
    let set_savings = |active: bool| {
        let mut company = world.sandbox.qbo.dump_company();
        company.accounts.retain(|a| a["Id"] != "36");
        let savings = serde_json::json!({ "Id": "36", "Name": "Savings", "AccountType": "Bank", "AccountSubType": "Savings", "Active": active });
        company.accounts.push(savings.as_object().cloned().unwrap());
        world.sandbox.qbo.load_company(&company).unwrap();
    };
    set_savings(false);
    let mut engine = world.engine().await;
    settle(&world, &mut engine).await;
    let id = world.cell("P-1", "qb_invoice_id");
    let held = payout_of(&world, qbsync::qbo::DocKind::Invoice, &id);
    assert_eq!(held.state, PayoutState::Held);
    assert!(held.error.as_deref().is_some_and(|e| e.contains("inactive")), "{held:?}");
    // A busy pass for another row finds P-1 in agreement and seals it: from now on it is not
    // planned again unless something about it changes.
    let other = ["P-2", "submitted", "ACD", "Acme Training Co", "", "", "", "80.00", "2026-01-05"];
    world.sandbox.google.append_row(world.tab(), &other).expect("row appended");
    settle(&world, &mut engine).await;
    let mut sealed = 0;
    world.store().for_each_seal(|_, _| sealed += 1).unwrap();
    assert!(sealed >= 1, "P-1 is sealed");
    drop(engine);

    // The bookkeeper makes the account active again in QuickBooks; the setting stays as it was,
    // so the row stays sealed unless qbsync looks at it again.
    set_savings(true);
    let mut engine = world.engine().await;
    settle(&world, &mut engine).await;
    assert_eq!(payments_sent(&world, "/payment").len(), 2, "refused once, then sent once");
    assert_eq!(payment_links(&world, EntityKind::Invoice, &id), 1);
    assert_eq!(world.cell("P-1", "qb_paid_status"), "paid");
    assert_eq!(payout_of(&world, qbsync::qbo::DocKind::Invoice, &id).state, PayoutState::Paid);
}
