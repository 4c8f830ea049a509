//! Crash torture (issue 4): the real `qbsync daemon`, killed with SIGKILL at random moments and
//! restarted, while QuickBooks drops answers after applying the write, both services answer 5xx
//! and 429 at random, and (in one variant) QuickBooks ignores `requestid` and accepts a repeated
//! invoice number. At the end, after a clean run: exactly one document per ready row, every
//! write-back on the row it belongs to, nothing stuck, the store and the audit agreeing with
//! QuickBooks.
//!
//! Reproducible from a seed (`QBSYNC_TORTURE_SEED`, printed on failure): the seed fixes the rows,
//! the kill times and the fault plan; the interleaving with the processes is the machine's. The
//! default `cargo test` runs a short form (60 rows, 20 kills per mode, seconds); the long form
//! (240 rows, 200 kills per `requestid` mode, and the long live-edit run; a few minutes):
//!
//! ```text
//! QBSYNC_TORTURE=long cargo test --test it -- torture:: live_edits:: --nocapture
//! ```
//!
//! (`--release` after `cargo test` makes the daemon faster, so the kills land elsewhere in it.)

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use qbsync::domain::Cell;
use qbsync::qbo::{DocKind, PartyKind, RequestId};
use qbsync::sandbox::faults::endpoint;
use qbsync::sandbox::google::{MetadataOnMove, SortOrder};
use qbsync::sandbox::qbo::{EntityKind, TxnSummary};
use qbsync::sandbox::{FaultRule, SandboxOptions};
use qbsync::store::{AuditQuery, DocState, Kind};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::support::{FAST_CLIENTS, World, torture_long, torture_seed};

const HEADER: &str = "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread";
const CUSTOMERS: [&str; 6] =
    ["Acme Training Co", "O'Brien & Sons", "Globex Corporation", "Initech LLC", "Umbrella Academy", "Stark Industries"];
const VENDORS: [&str; 4] = ["Jane Smith Consulting", "Bob's Burger Joint", "Northwind Traders", "Accelebrate"];
const DATES: [&str; 4] = ["2025-11-05", "11/6/2025", "Nov 7, 2025", "2025-11-10"];

/// A ready row as generated, and the document it must become.
#[derive(Clone, Debug)]
pub struct ReadyRow {
    pub kind: Kind,
    pub number: String,
    pub party: &'static str,
    /// The size of the amount; a credit's cell shows it negative.
    pub amount: Decimal,
    /// A refund: the cell is negative and the document a credit memo or vendor credit.
    pub credit: bool,
    /// The row shows a paid date: with autopay on, its document gets one payment.
    pub paid: bool,
    /// The `thread` cell: the test's own name for the row, unique and never edited.
    pub thread: String,
}

impl ReadyRow {
    /// The document QuickBooks must hold for the row.
    pub fn doc_kind(&self) -> DocKind {
        match (self.kind, self.credit) {
            (Kind::Invoice, false) => DocKind::Invoice,
            (Kind::Invoice, true) => DocKind::CreditMemo,
            (Kind::Bill, false) => DocKind::Bill,
            (Kind::Bill, true) => DocKind::VendorCredit,
        }
    }

    /// The row as sheet values, in [`HEADER`] order.
    pub fn values(&self, rng: &mut StdRng) -> Vec<String> {
        let (from, to) = match self.kind {
            Kind::Invoice => (if rng.gen_bool(0.5) { "ACD" } else { "ACD Training" }, self.party),
            Kind::Bill => (self.party, "ACD"),
        };
        let amount = if rng.gen_bool(0.2) { format!("${}", self.amount) } else { self.amount.to_string() };
        let amount = match self.credit {
            true if rng.gen_bool(0.5) => format!("({amount})"),
            true => format!("-{amount}"),
            false => amount,
        };
        vec![
            self.number.clone(),
            if rng.gen_bool(0.8) { "submitted" } else { "pending" }.to_owned(),
            from.to_owned(),
            to.to_owned(),
            String::new(),
            format!("Training day {}", self.thread),
            format!("JOB-{}", rng.gen_range(100..999)),
            amount,
            DATES[rng.gen_range(0..DATES.len())].to_owned(),
            if self.paid { PAID_ON.to_owned() } else { String::new() },
            String::new(),
            String::new(),
            String::new(),
            self.thread.clone(),
        ]
    }
}

/// The date a paid row shows in `Inv_paid_date`.
const PAID_ON: &str = "2026-01-20";

/// `count` ready rows with varied parties and amounts; one in eight is money going out (a bill).
pub fn generate(rng: &mut StdRng, count: usize, tag: &str) -> Vec<ReadyRow> {
    (0..count)
        .map(|i| {
            let bill = i % 8 == 7;
            ReadyRow {
                kind: if bill { Kind::Bill } else { Kind::Invoice },
                number: if bill { format!("B{tag}-{i:04}") } else { format!("ACD-{tag}-{i:04}") },
                party: if bill {
                    VENDORS[rng.gen_range(0..VENDORS.len())]
                } else {
                    CUSTOMERS[rng.gen_range(0..CUSTOMERS.len())]
                },
                amount: Decimal::new(rng.gen_range(100..900_000), 2),
                credit: false,
                paid: false,
                thread: format!("T{tag}-{i:04}"),
            }
        })
        .collect()
}

/// The sheet as CSV: the header, then every row.
pub fn to_csv(rows: &[ReadyRow], rng: &mut StdRng) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(HEADER.split(',')).unwrap();
    for row in rows {
        writer.write_record(row.values(rng)).unwrap();
    }
    String::from_utf8(writer.into_inner().unwrap()).unwrap()
}

/// A world in dual mode over `rows`, with the tracking columns added and fast client timings.
pub async fn world_with(rows: &[ReadyRow], rng: &mut StdRng, seed: u64, extra: &[(&str, &str)]) -> World {
    let options = SandboxOptions { seed, sheet_csv: Some(to_csv(rows, rng)), ..Default::default() };
    let mut env: Vec<(&str, &str)> = vec![("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")];
    env.extend(FAST_CLIENTS);
    env.extend(extra);
    let world = World::start(options, &env).await;
    world.migrate(true).await;
    world
}

/// Trouble everywhere: QuickBooks applies creates and drops the answer, both services answer
/// 5xx and 429 at random, Sheets writes and anchor updates are sometimes applied unanswered.
/// Every call takes a little while, so that a pass spans many lives of the daemon and the kills
/// land inside every step of it.
pub fn chaos(world: &World) {
    let faults = world.sandbox.faults();
    let rule = |latency_ms, commit_then_drop_rate| FaultRule {
        latency_ms,
        commit_then_drop_rate,
        error_rate: 0.05,
        throttle_rate: 0.04,
        ..Default::default()
    };
    faults.set(endpoint::QBO_CREATE, rule(40, 0.15));
    faults.set(endpoint::QBO_BATCH, rule(250, 0.15));
    faults.set(endpoint::QBO_QUERY, rule(25, 0.0));
    faults.set(endpoint::QBO_READ, rule(25, 0.0));
    faults.set(endpoint::SHEETS_READ, rule(30, 0.0));
    faults.set(endpoint::SHEETS_WRITE, rule(40, 0.05));
    faults.set(endpoint::SHEETS_METADATA, rule(40, 0.05));
}

/// Whether every ready row shows a synced document (work remains while it does not).
fn all_synced(world: &World, rows: &[ReadyRow]) -> bool {
    let sheet = world.sheet();
    let synced = sheet
        .iter()
        .skip(1)
        .filter(|r| {
            r.get(world.col("qb_sync_status")).is_some_and(|c| c.as_text() == "synced")
                || r.get(world.col("qb_bill_status")).is_some_and(|c| c.as_text() == "synced")
        })
        .count();
    synced == rows.len()
}

/// One torture run's shape.
struct Shape {
    rows: usize,
    /// Kills that must land while work remains (the run goes on until it has them).
    kills: usize,
    /// Longest a daemon lives before it is killed.
    max_life_ms: u64,
    honour_request_id: bool,
    /// What a sort does to row metadata; a person sorts the tab between some lives.
    metadata: MetadataOnMove,
    /// One row in this many is a refund (`QBSYNC_NEGATIVE_AMOUNTS=credit`); 0: none.
    credit_every: usize,
    /// One row in this many shows a paid date, with autopay on both ways; 0: none, autopay off.
    paid_every: usize,
}

impl Shape {
    fn new(honour_request_id: bool, metadata: MetadataOnMove) -> Shape {
        if torture_long() {
            Shape {
                rows: 240,
                kills: 200,
                max_life_ms: 2000,
                honour_request_id,
                metadata,
                credit_every: 0,
                paid_every: 0,
            }
        } else {
            Shape {
                rows: 60,
                kills: 20,
                max_life_ms: 1200,
                honour_request_id,
                metadata,
                credit_every: 0,
                paid_every: 0,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_with_requestid_honoured() {
    torture("torture::killed_at_random_with_requestid_honoured", Shape::new(true, MetadataOnMove::Stay)).await;
}

/// The same where a sort carries row metadata with the values (Google documents neither).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_when_sorts_carry_row_metadata() {
    torture("torture::killed_at_random_when_sorts_carry_row_metadata", Shape::new(true, MetadataOnMove::Follow)).await;
}

/// The harshest QuickBooks: a repeated `requestid` is executed again and a repeated invoice
/// number is accepted, so only qbsync's own intent log and look-ups stand between a lost answer
/// and a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_with_requestid_ignored_and_no_duplicate_number_check() {
    let shape = Shape::new(false, MetadataOnMove::Stay);
    torture("torture::killed_at_random_with_requestid_ignored_and_no_duplicate_number_check", shape).await;
}

/// Refunds among the rows: credit memos and vendor credits take the same road as invoices and
/// bills (intent, `requestid`, look-up by number under their own type), and must come out
/// exactly once too, with QuickBooks ignoring `requestid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_with_refunds_among_the_rows() {
    let shape = Shape { credit_every: 4, ..Shape::new(false, MetadataOnMove::Stay) };
    torture("torture::killed_at_random_with_refunds_among_the_rows", shape).await;
}

/// Rows whose paid date asks for a payment: each document must get exactly one, for its whole
/// balance, however the daemon dies (intent, `requestid` ignored, the marker that finds a payment
/// whose answer was lost).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_while_paying_what_the_sheet_says_was_paid() {
    let shape = Shape { paid_every: 3, ..Shape::new(false, MetadataOnMove::Stay) };
    torture("torture::killed_at_random_while_paying_what_the_sheet_says_was_paid", shape).await;
}

/// Autopay on both ways, through the sandbox company's bank account.
const AUTOPAY: [(&str, &str); 4] = [
    ("QB_AUTO_MARK_INVOICE_PAID", "true"),
    ("QB_PAYMENT_DEPOSIT_ACCOUNT", "35"),
    ("QB_AUTO_MARK_BILL_PAID", "true"),
    ("QB_BILL_PAYMENT_ACCOUNT", "35"),
];

async fn torture(name: &str, shape: Shape) {
    let (seed, _guard) = torture_seed(name, 20_251_121);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = generate(&mut rng, shape.rows, "T");
    if shape.credit_every > 0 {
        for row in rows.iter_mut().skip(1).step_by(shape.credit_every) {
            row.credit = true;
        }
    }
    // A third of the rows are there from the start; the rest arrive in waves, one before each
    // life of the daemon, as a bookkeeper appends them: every life has work in every step.
    if shape.paid_every > 0 {
        for row in rows.iter_mut().filter(|r| !r.credit).step_by(shape.paid_every) {
            row.paid = true;
        }
    }
    let (first, later) = rows.split_at(shape.rows / 3);
    let mut extra: Vec<(&str, &str)> = Vec::new();
    if shape.credit_every > 0 {
        extra.push(("QBSYNC_NEGATIVE_AMOUNTS", "credit"));
    }
    if shape.paid_every > 0 {
        extra.extend(AUTOPAY);
    }
    let world = world_with(first, &mut rng, seed, &extra).await;
    world.set_metadata_moves(shape.metadata);
    world.sandbox.qbo.set_honour_request_id(shape.honour_request_id);
    // Off: QuickBooks accepts a second invoice with the same number (the duplicate check is a
    // company preference), so a resent create would really make a duplicate.
    world.sandbox.qbo.set_custom_txn_numbers(shape.honour_request_id);
    chaos(&world);

    let started = Instant::now();
    // One wave per kill wanted (some of one row, some of two), so there is work in every life.
    let (n, k) = (later.len(), shape.kills.max(1));
    let mut waves = (0..k).map(|i| &later[n * i / k..n * (i + 1) / k]).peekable();
    let (mut lives, mut kills) = (Vec::new(), 0);
    let mut kills_during_work = 0;
    while kills_during_work < shape.kills && (waves.peek().is_some() || !all_synced(&world, &rows)) {
        for row in waves.next().unwrap_or_default() {
            let values = row.values(&mut rng);
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            world.sandbox.google.append_row(world.tab(), &values).unwrap();
        }
        if rng.gen_bool(0.3) {
            // A person sorts the tab while nothing runs, or (below) while a pass is under way.
            sort(&world, &mut rng);
        }
        let mut daemon = world.spawn(&["daemon", "--interval", "1"]);
        if rng.gen_bool(0.2) {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..200))).await;
            sort(&world, &mut rng);
        }
        // Short lives hit start-up and the first steps of a pass; long ones hit everything.
        let life = if rng.gen_bool(0.3) { rng.gen_range(10..300) } else { rng.gen_range(300..=shape.max_life_ms) };
        lives.push(life);
        tokio::time::sleep(Duration::from_millis(life)).await;
        if let Some(status) = daemon.try_wait().unwrap() {
            panic!("kill {kills}: the daemon exited on its own ({status}):\n{}", world.log_tail(60));
        }
        daemon.start_kill().unwrap();
        daemon.wait().await.unwrap();
        kills += 1;
        if !all_synced(&world, &rows) {
            kills_during_work += 1;
        }
    }
    let created_under_fire = all_documents(&world).len();

    world.sandbox.faults().clear();
    world.run_once_until_idle(8).await;
    let took = started.elapsed();
    let counts = world.sandbox.qbo.request_counts();
    let audit = world.store().audit(&AuditQuery::default()).unwrap();
    let events = |event: &str| audit.iter().filter(|e| e.event == event).count();
    println!(
        "{name}: seed {seed}, {} rows, {kills} kills ({kills_during_work} with work left; lives {}–{} ms), \
         {created_under_fire} documents created under fire, {:.1} s; audit: {} uncertain, {} adopted, {} created, {} paid; \
         QuickBooks: {} creates, {} batches, {} replayed, {} faults injected",
        rows.len(),
        lives.iter().min().unwrap_or(&0),
        lives.iter().max().unwrap_or(&0),
        took.as_secs_f64(),
        events("uncertain"),
        events("adopted"),
        events("created"),
        events("paid"),
        counts.create,
        counts.batch,
        counts.replayed,
        counts.injected_faults,
    );
    check_exactly_once(&world, &rows);
    check_paid_exactly_once(&world, &rows);
}

/// Every row showing a paid date has its document paid by exactly one payment for its whole
/// total, and no other payment exists.
fn check_paid_exactly_once(world: &World, rows: &[ReadyRow]) {
    let qbo = &world.sandbox.qbo;
    let payments: Vec<serde_json::Value> =
        [EntityKind::Payment, EntityKind::BillPayment].into_iter().flat_map(|kind| qbo.all(kind)).collect();
    assert_eq!(payments.len(), rows.iter().filter(|r| r.paid).count(), "one payment per paid row, no more");
    let all = all_documents(world);
    for row in rows.iter().filter(|r| r.paid) {
        let (_, doc) = all
            .iter()
            .find(|(kind, doc)| *kind == row.doc_kind() && doc.doc_number.as_deref() == Some(row.number.as_str()))
            .expect("the paid row's document");
        let paying: Vec<&serde_json::Value> = payments
            .iter()
            .filter(|p| {
                p["Line"].as_array().into_iter().flatten().any(|line| {
                    line["LinkedTxn"].as_array().into_iter().flatten().any(|l| l["TxnId"].as_str() == Some(&doc.id))
                })
            })
            .collect();
        assert_eq!(paying.len(), 1, "{}: {} payments", row.number, paying.len());
        let amount: Decimal = paying[0]["TotalAmt"].to_string().parse().expect("an amount");
        assert_eq!(amount, row.amount, "{}: paid in full", row.number);
        assert_eq!(doc.balance, Decimal::ZERO, "{}: nothing left owing", row.number);
    }
}

/// Sorts the whole tab by a column a person might choose.
fn sort(world: &World, rng: &mut StdRng) {
    let column = ["to_client", "inv_dollars", "invoice", "thread"][rng.gen_range(0..4)];
    let order = if rng.gen_bool(0.5) { SortOrder::Ascending } else { SortOrder::Descending };
    world.sandbox.google.sort_rows(world.tab(), column, order).unwrap();
}

/// Column names of the id, link, status and error cells of a document kind (dual mode).
fn tracking(kind: Kind) -> [&'static str; 4] {
    match kind {
        Kind::Invoice => ["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_error"],
        Kind::Bill => ["qb_bill_id", "qb_bill_url", "qb_bill_status", "qb_bill_error"],
    }
}

/// Every document QuickBooks holds, by type.
fn all_documents(world: &World) -> Vec<(DocKind, TxnSummary)> {
    let qbo = &world.sandbox.qbo;
    [
        (DocKind::Invoice, qbo.invoices()),
        (DocKind::Bill, qbo.bills()),
        (DocKind::CreditMemo, qbo.credit_memos()),
        (DocKind::VendorCredit, qbo.vendor_credits()),
    ]
    .into_iter()
    .flat_map(|(kind, docs)| docs.into_iter().map(move |doc| (kind, doc)))
    .collect()
}

/// Exactly one document per ready row, written back on its own row, and the store and the audit
/// agreeing with QuickBooks.
pub fn check_exactly_once(world: &World, rows: &[ReadyRow]) {
    let all = all_documents(world);
    let docs = |kind: DocKind| all.iter().filter(move |(k, _)| *k == kind).map(|(_, doc)| doc);
    let sheet = world.sheet();
    let col = |name: &str| world.col(name);
    let text = |row: &[Cell], name: &str| row.get(col(name)).map(|c| c.as_text().into_owned()).unwrap_or_default();

    for kind in DocKind::ALL {
        let expected = rows.iter().filter(|r| r.doc_kind() == kind).count();
        assert_eq!(docs(kind).count(), expected, "{} {kind}s for {expected} rows", docs(kind).count());
    }
    for row in rows {
        let matching: Vec<_> =
            docs(row.doc_kind()).filter(|d| d.doc_number.as_deref() == Some(row.number.as_str())).collect();
        assert_eq!(matching.len(), 1, "{}: {} documents in QuickBooks: {matching:#?}", row.number, matching.len());
        let doc = matching[0];
        assert_eq!(doc.party_name, row.party, "{}", row.number);
        assert_eq!(doc.total, row.amount, "{}", row.number);

        let on_sheet: Vec<&Vec<Cell>> = sheet.iter().filter(|r| text(r, "thread") == row.thread).collect();
        assert_eq!(on_sheet.len(), 1, "{}", row.thread);
        let cells = on_sheet[0];
        assert_eq!(text(cells, "invoice"), row.number);
        let [id, url, status, error] = tracking(row.kind);
        assert_eq!(text(cells, id), doc.id, "{}: the id on its own row", row.number);
        assert!(text(cells, url).ends_with(&format!("txnId={}", doc.id)), "{}: {}", row.number, text(cells, url));
        assert_eq!(text(cells, status), "synced", "{}: {}", row.number, text(cells, error));
        assert_eq!(text(cells, error), "", "{}", row.number);
    }

    let store = world.store();
    let documents = store.all_documents().unwrap();
    let in_qbo: HashSet<(DocKind, String)> = all.iter().map(|(kind, doc)| (*kind, doc.id.clone())).collect();
    let mut in_store = HashSet::new();
    for doc in &documents {
        assert_eq!(doc.state, DocState::Created, "{doc:#?}");
        let id = doc.qbo_id.clone().expect("a created document has its id");
        assert!(in_store.insert((doc.doc_kind, id)), "QuickBooks {} {:?} recorded twice", doc.doc_kind, doc.qbo_id);
    }
    assert_eq!(in_store, in_qbo, "the store knows exactly the documents QuickBooks holds");
    for record in store.all_rows().unwrap() {
        assert!(!matches!(record.status.as_str(), "pending" | "claimed"), "stuck row record: {record:#?}");
    }

    // The audit: one created-or-adopted line per document, naming its id and type, with what
    // was sent and what came back.
    let audit = store.audit(&AuditQuery::default()).unwrap();
    let mut outcomes: HashMap<(String, &str), usize> = HashMap::new();
    for entry in audit.iter().filter(|e| e.event == "created" || e.event == "adopted") {
        let kind = entry.doc_kind.clone().unwrap_or_default();
        *outcomes.entry((kind, entry.qbo_id.as_deref().unwrap_or_default())).or_default() += 1;
        assert!(entry.request_json.as_deref().is_some_and(|r| r.contains("DocNumber")), "{entry:#?}");
        assert!(entry.response_json.is_some(), "{entry:#?}");
    }
    for doc in &documents {
        let id = doc.qbo_id.as_deref().unwrap_or_default();
        let key = (doc.doc_kind.entity().to_owned(), id);
        assert_eq!(outcomes.get(&key), Some(&1), "audit lines for {} {id}", doc.doc_kind);
    }
}

/// A document someone made by hand in QuickBooks with the row's number, customer and amount is
/// adopted, not duplicated — and QuickBooks failing while qbsync reads it back is trouble to
/// wait out, never the row's fault.
#[tokio::test]
async fn a_hand_made_twin_is_adopted_even_when_reading_it_back_fails_for_a_while() {
    let mut rng = StdRng::seed_from_u64(7);
    let rows = generate(&mut rng, 1, "H");
    let row = &rows[0];
    let world = world_with(&rows, &mut rng, 7, &[]).await;
    let engine = world.engine().await;
    let customer = engine.qbo.find_parties(PartyKind::Customer, &[row.party.to_owned()]).await.unwrap()[0].id.clone();
    let body = format!(
        r#"{{"DocNumber":"{}","CustomerRef":{{"value":"{customer}"}},"Line":[{{"DetailType":"SalesItemLineDetail","Amount":{amount},"SalesItemLineDetail":{{"ItemRef":{{"value":"1"}},"Qty":1,"UnitPrice":{amount}}}}}]}}"#,
        row.number,
        amount = row.amount
    );
    let by_hand =
        engine.qbo.create_body(DocKind::Invoice, &body, &RequestId::parse("made-by-hand-1").unwrap()).await.unwrap();

    world.sandbox.faults().set(endpoint::QBO_READ, FaultRule { error_rate: 1.0, ..Default::default() });
    let (_, output) = world.run_cli(&["run-once"]).await;
    assert_ne!(world.cell(&row.number, "qb_sync_status"), "failed", "{output}");
    assert_eq!(world.cell(&row.number, "qb_error"), "", "{output}");

    world.sandbox.faults().clear();
    world.run_once_until_idle(4).await;
    assert_eq!(world.sandbox.qbo.invoices().len(), 1, "adopted, not duplicated");
    assert_eq!(world.cell(&row.number, "qb_invoice_id"), by_hand.id);
    assert_eq!(world.cell(&row.number, "qb_sync_status"), "synced");
}

/// Two `run-once` started at the same moment: one runs, the other is refused by the instance
/// lock with a message saying why and what to do, and nothing is created twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_run_once_started_together_one_is_refused_by_the_lock() {
    let mut rng = StdRng::seed_from_u64(11);
    let rows = generate(&mut rng, 12, "L");
    let world = world_with(&rows, &mut rng, 11, &[]).await;
    // Slow Sheets answers keep the first run busy while the second starts.
    world.sandbox.faults().set("sheets", FaultRule { latency_ms: 150, ..Default::default() });
    let (a, b) = tokio::join!(world.run_cli(&["run-once"]), world.run_cli(&["run-once"]));
    let refused: Vec<&String> = [&a, &b].into_iter().filter(|(status, _)| !status.success()).map(|(_, o)| o).collect();
    assert_eq!(refused.len(), 1, "exactly one is refused:\n{}\n---\n{}", a.1, b.1);
    let message = refused[0];
    assert!(message.contains("another qbsync is already running with state directory"), "{message}");
    assert!(message.contains("pid "), "names the holder: {message}");
    assert!(message.contains("stop it first"), "says what to do: {message}");

    world.sandbox.faults().clear();
    world.run_once_until_idle(4).await;
    check_exactly_once(&world, &rows);
}

/// A person runs `qbsync run-once` while the daemon is running: it is refused (naming the
/// daemon's pid), the daemon carries on, and stops cleanly with status 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manual_run_once_beside_the_daemon_is_refused_and_the_daemon_carries_on() {
    let mut rng = StdRng::seed_from_u64(12);
    let rows = generate(&mut rng, 12, "D");
    let world = world_with(&rows, &mut rng, 12, &[]).await;
    world.sandbox.faults().set("sheets", FaultRule { latency_ms: 50, ..Default::default() });
    let mut daemon = world.spawn(&["daemon", "--interval", "1"]);
    let pid = daemon.id().unwrap();
    let lock = world.state_dir().join("qbsync.lock");
    let holds_lock = || std::fs::read_to_string(&lock).is_ok_and(|text| text == format!("pid {pid}"));
    wait_until(Duration::from_secs(20), holds_lock).await.unwrap_or_else(|| panic!("{}", world.log_tail(40)));

    let (status, output) = world.run_cli(&["run-once"]).await;
    assert!(!status.success(), "{output}");
    assert!(output.contains("another qbsync is already running with state directory"), "{output}");
    assert!(output.contains(&format!("pid {pid}")), "{output}");

    wait_until(Duration::from_secs(30), || all_synced(&world, &rows))
        .await
        .unwrap_or_else(|| panic!("the daemon did not finish:\n{}", world.log_tail(40)));
    let signalled = tokio::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().await.unwrap();
    assert!(signalled.success());
    let exit = tokio::time::timeout(Duration::from_secs(20), daemon.wait()).await.expect("stops").unwrap();
    assert!(exit.success(), "SIGTERM stops the daemon cleanly: {exit}\n{}", world.log_tail(20));
    check_exactly_once(&world, &rows);
}

/// SIGTERM while the daemon is in its first pass: the pass finishes (every row written back)
/// and the daemon exits with status 0 — the signal is never fatal mid-pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_the_first_pass_lets_it_finish_and_exit_0() {
    let mut rng = StdRng::seed_from_u64(13);
    let rows = generate(&mut rng, 8, "S");
    let world = world_with(&rows, &mut rng, 13, &[]).await;
    // Slow Sheets answers make the first pass last well over a second.
    world.sandbox.faults().set("sheets", FaultRule { latency_ms: 120, ..Default::default() });
    let mut daemon = world.spawn(&["daemon", "--interval", "60"]);
    let started = || std::fs::read_to_string(world.log_path()).is_ok_and(|log| log.contains("qbsync daemon started"));
    wait_until(Duration::from_secs(20), started).await.unwrap_or_else(|| panic!("{}", world.log_tail(40)));
    let pid = daemon.id().unwrap().to_string();
    let signalled = tokio::process::Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(signalled.success());
    let exit = tokio::time::timeout(Duration::from_secs(30), daemon.wait()).await.expect("stops").unwrap();
    assert!(exit.success(), "{exit}\n{}", world.log_tail(20));
    assert!(all_synced(&world, &rows), "the pass in flight was finished:\n{}", world.log_tail(20));
    check_exactly_once(&world, &rows);
}

/// Polls `done` every 50 ms until it holds (`Some`) or `limit` passes (`None`).
pub async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<()> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if done() {
            return Some(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Whether a recorded request is a QuickBooks query looking documents up by number.
fn is_number_lookup(request: &qbsync::sandbox::RecordedRequest) -> bool {
    request.path.ends_with("/query")
        && (request.query_param("query").unwrap_or_default() + &request.body).contains("DocNumber")
}

/// QuickBooks applies a create and the answer is lost; it ignores `requestid` and accepts a
/// repeated number. The next run looks the document up by number and adopts it: it never sends
/// the create again.
#[tokio::test]
async fn a_create_whose_answer_was_lost_is_looked_up_not_sent_again() {
    let mut rng = StdRng::seed_from_u64(14);
    let rows = generate(&mut rng, 1, "U");
    let world = world_with(&rows, &mut rng, 14, &[]).await;
    world.sandbox.qbo.set_honour_request_id(false);
    world.sandbox.qbo.set_custom_txn_numbers(false);
    let lost = FaultRule { commit_then_drop_rate: 1.0, ..Default::default() };
    world.sandbox.faults().set(endpoint::QBO_CREATE, lost.clone());
    world.sandbox.faults().set(endpoint::QBO_BATCH, lost);
    let (_, output) = world.run_cli(&["run-once"]).await;
    assert!(output.contains("1 still uncertain"), "{output}");
    assert_eq!(world.sandbox.qbo.invoices().len(), 1, "QuickBooks applied it");

    world.sandbox.faults().clear();
    world.sandbox.requests().clear();
    world.run_once_until_idle(4).await;
    let requests = world.sandbox.requests().all();
    assert!(requests.iter().any(is_number_lookup), "looked up by number");
    assert!(world.sandbox.requests().matching("POST", "/invoice").is_empty(), "not sent again");
    assert_eq!(world.sandbox.qbo.invoices().len(), 1);
    check_exactly_once(&world, &rows);
    let audit = world.store().audit(&AuditQuery::default()).unwrap();
    let events: Vec<&str> = audit.iter().map(|e| e.event.as_str()).collect();
    let position = |event: &str| events.iter().position(|e| *e == event);
    assert!(position("uncertain") < position("adopted") && position("created").is_none(), "{events:?}");
    assert!(position("uncertain").is_some());
}

/// qbsync is killed after recording an intent and before sending it (attempts 0). The next run
/// sends it — no look-up is needed for a document never sent — with the intent's own
/// `requestid`, the exact body recorded.
#[tokio::test]
async fn an_intent_recorded_just_before_a_crash_is_sent_with_its_own_requestid() {
    let mut rng = StdRng::seed_from_u64(15);
    let rows = generate(&mut rng, 1, "K");
    let world = world_with(&rows, &mut rng, 15, &[]).await;
    world.sandbox.qbo.set_honour_request_id(false);
    // Every create fails before being applied, so the intent stays pending ...
    let down = FaultRule { error_rate: 1.0, ..Default::default() };
    world.sandbox.faults().set(endpoint::QBO_CREATE, down.clone());
    world.sandbox.faults().set(endpoint::QBO_BATCH, down);
    world.run_cli(&["run-once"]).await;
    assert!(world.sandbox.qbo.invoices().is_empty());
    // ... and is made to look as if the process had died before its first send.
    let db = rusqlite::Connection::open(world.state_dir().join("qbsync.sqlite3")).unwrap();
    assert_eq!(db.execute("UPDATE documents SET attempts = 0 WHERE state = 'pending'", []).unwrap(), 1);
    drop(db);
    let intent = world.store().pending_documents().unwrap().remove(0);

    world.sandbox.faults().clear();
    world.sandbox.requests().clear();
    world.run_once_until_idle(4).await;
    let requests = world.sandbox.requests().all();
    assert!(!requests.iter().any(is_number_lookup), "a document never sent is not looked up");
    let sent = world.sandbox.requests().matching("POST", "/invoice");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].query_param("requestid").as_deref(), Some(intent.request_id.as_str()));
    assert_eq!(sent[0].body, intent.payload, "the exact body recorded with the intent");
    check_exactly_once(&world, &rows);
}
