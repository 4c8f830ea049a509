//! The sync end to end (issue 3): the demo sheet through the real clients, over real HTTP,
//! into the emulated QuickBooks company and back onto the sheet.

use qbsync::commands::context::RunFlags;
use qbsync::sandbox::google::{LiveEdit, SortOrder};
use qbsync::store::{AuditQuery, Kind};
use qbsync::sync::{Engine, PassOptions, Policy};
use rust_decimal::Decimal;

use crate::support::{FAST_CLIENTS, World};

const SYNCED: [(&str, &str, &str); 13] = [
    ("ACD-2025-0101", "Acme Training Co", "1234.50"),
    ("ACD-2025-0102", "O'Brien & Sons", "1234.50"),
    ("ACD-2025-0103", "Globex Corporation", "2400.00"),
    ("ACD-2025-0104", "Initech LLC", "980.25"),
    ("ACD-2025-0105", "Umbrella Academy", "3150.00"),
    ("ACD-2025-0112", "Stark Industries", "0.30"),
    ("ACD-2025-0113", "O'Brien & Sons", "1500.00"),
    ("ACD-2025-0114", "Acme Training Co", "2750.75"),
    ("ACD-2025-0115", "Globex Corporation", "4100.00"),
    ("ACD-2025-0119", "O'Brien & Sons", "1320.00"),
    ("ACD-2025-0120", "Globex Corporation", "2999.99"),
    ("ACD-2025-0121", "Initech LLC", "1500.00"),
    ("ACD-2025-0122", "Acme Training Co", "250.00"),
];

const FAILED: [(&str, &str); 6] = [
    ("ACD-2025-0108", "\"Wayne Enterprises\" is not in QuickBooks"),
    ("ACD-2025-0109", "negative"),
    ("ACD-2025-0110", "is zero"),
    ("ACD-2025-0111", "negative"),
    ("ACD-2025-0116", "qb_directions.json"),
    ("ACD-2025-0117-REVISED-FINAL-V2", "21"),
];

const SKIPPED: [&str; 9] = [
    "JS-2025-041",
    "JS-2025-042",
    "BBJ-7781",
    "NW-55012",
    "ACC-2025-9001",
    "ACC-2025-9002",
    "ACC-2025-9003",
    "JS-2025-043",
    "BBJ-7802",
];

const UNTOUCHED: [&str; 4] = ["ACD-2025-0106", "ACD-2025-0107", "BBJ-7790", "NW-55013"];

#[tokio::test]
async fn the_demo_sheet_in_invoice_only_mode() {
    let world = World::demo().await;
    world.migrate(false).await;
    let header = world.sheet()[0].clone();
    world.migrate(false).await;
    assert_eq!(world.sheet()[0], header, "migrate twice changes nothing");
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;

    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), SYNCED.len(), "one invoice per ready money-in row: {invoices:#?}");
    assert!(world.sandbox.qbo.bills().is_empty(), "no bills in invoice-only mode");
    for (number, customer, amount) in SYNCED {
        let matching: Vec<_> = invoices.iter().filter(|i| i.doc_number.as_deref() == Some(number)).collect();
        assert_eq!(matching.len(), 1, "{number}");
        let invoice = matching[0];
        assert_eq!(invoice.party_name, customer, "{number}");
        assert_eq!(invoice.total, amount.parse::<Decimal>().unwrap(), "{number}");
        assert_eq!(world.cell(number, "qb_invoice_id"), invoice.id, "{number}: id written back on its own row");
        assert_eq!(
            world.cell(number, "qb_invoice_url"),
            format!("https://app.sandbox.qbo.intuit.com/app/invoice?txnId={}", invoice.id)
        );
        assert_eq!(world.cell(number, "qb_sync_status"), "synced");
        assert_eq!(world.cell(number, "qb_error"), "");
        let at = world.cell(number, "qb_synced_at");
        assert!(chrono::DateTime::parse_from_rfc3339(&at).is_ok(), "{number}: synced_at {at:?} is RFC 3339");
        assert!(at.ends_with('Z'), "UTC");
    }
    for (number, fragment) in FAILED {
        assert_eq!(world.cell(number, "qb_sync_status"), "failed", "{number}");
        let error = world.cell(number, "qb_error");
        assert!(error.contains(fragment), "{number}: {error:?} should contain {fragment:?}");
        assert!(!error.contains('{'), "{number}: never a raw JSON dump: {error}");
        assert_eq!(world.cell(number, "qb_invoice_id"), "");
    }
    // The row with a blank invoice number.
    let sheet = world.sheet();
    let blank = sheet.iter().find(|r| r[world.col("thread")].as_text() == "T-0118").unwrap();
    assert_eq!(blank[world.col("qb_sync_status")].as_text(), "failed");
    assert!(blank[world.col("qb_error")].as_text().contains("is blank"));
    for number in SKIPPED {
        assert_eq!(world.cell(number, "qb_sync_status"), "skipped", "{number}");
        assert!(world.cell(number, "qb_error").contains("QB_SYNC_MODE=dual"), "{number}");
    }
    for number in UNTOUCHED {
        for header in ["qb_invoice_id", "qb_sync_status", "qb_error", "qb_synced_at"] {
            assert_eq!(world.cell(number, header), "", "{number}.{header} untouched");
        }
    }
    // The blank row in the middle stays blank.
    assert!(sheet[14].iter().all(|c| c.is_blank()), "{:?}", sheet[14]);

    // A second pass creates nothing and writes nothing.
    let creates_before = world.sandbox.requests().matching("POST", "/invoice").len()
        + world.sandbox.requests().matching("POST", "/batch").len();
    let again = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
    assert!(again.created.is_empty());
    assert_eq!(again.cells_written, 0);
    let creates_after = world.sandbox.requests().matching("POST", "/invoice").len()
        + world.sandbox.requests().matching("POST", "/batch").len();
    assert_eq!(creates_before, creates_after);
    assert_eq!(world.sandbox.qbo.invoices().len(), SYNCED.len());

    // The audit answers "was this row sent, and what came back".
    let audit =
        engine.store.audit(&AuditQuery { doc_number: Some("ACD-2025-0101".into()), ..Default::default() }).unwrap();
    let created = audit.iter().find(|e| e.event == "created").expect("a created record");
    assert_eq!(created.kind, Kind::Invoice);
    assert_eq!(created.status, "synced");
    assert!(created.request_json.as_deref().unwrap().contains("\"DocNumber\":\"ACD-2025-0101\""));
    assert!(created.response_json.as_deref().unwrap().contains("\"TotalAmt\""));
    assert_eq!(created.qbo_id.as_deref(), Some(world.cell("ACD-2025-0101", "qb_invoice_id").as_str()));
    let failures = engine.store.audit(&AuditQuery { failed_only: true, ..Default::default() }).unwrap();
    assert!(failures.len() >= FAILED.len(), "{failures:#?}");
    // A row the planner refused is found by the invoice number the bookkeeper knows it by.
    let refused =
        engine.store.audit(&AuditQuery { doc_number: Some("ACD-2025-0116".into()), ..Default::default() }).unwrap();
    assert!(
        refused
            .iter()
            .any(|e| e.status == "failed" && e.error.as_deref().is_some_and(|m| m.contains("Contoso Freelance"))),
        "{refused:#?}"
    );
}

#[tokio::test]
async fn dual_mode_creates_bills_and_reports_them_in_the_bill_columns() {
    let world = World::start(Default::default(), &[("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")]).await;
    world.migrate(true).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;

    let bills = world.sandbox.qbo.bills();
    let expected = [
        ("JS-2025-041", "Jane Smith Consulting", "900.00"),
        ("JS-2025-042", "Jane Smith Consulting", "1200.00"),
        ("BBJ-7781", "Bob's Burger Joint", "312.40"),
        ("NW-55012", "Northwind Traders", "1050.00"),
        ("ACC-2025-9001", "Accelebrate", "2600.00"),
        ("ACC-2025-9002", "Accelebrate", "1980.50"),
        ("ACC-2025-9003", "Accelebrate", "450.00"),
        ("JS-2025-043", "Jane Smith Consulting", "1000.00"),
    ];
    assert_eq!(bills.len(), expected.len(), "{bills:#?}");
    for (number, vendor, amount) in expected {
        let bill = bills.iter().find(|b| b.doc_number.as_deref() == Some(number)).expect(number);
        assert_eq!(bill.party_name, vendor);
        assert_eq!(bill.total, amount.parse::<Decimal>().unwrap());
        assert_eq!(world.cell(number, "qb_bill_id"), bill.id);
        assert_eq!(
            world.cell(number, "qb_bill_url"),
            format!("https://app.sandbox.qbo.intuit.com/app/bill?txnId={}", bill.id)
        );
        assert_eq!(world.cell(number, "qb_bill_status"), "synced");
        assert_eq!(world.cell(number, "qb_sync_status"), "", "bills report in their own columns");
    }
    assert_eq!(world.cell("BBJ-7802", "qb_bill_status"), "failed");
    assert_eq!(world.sandbox.qbo.invoices().len(), SYNCED.len());
}

#[tokio::test]
async fn moving_from_dual_to_invoice_only_and_back_keeps_bill_ids_in_the_bill_columns_and_creates_nothing_twice() {
    let mut world = World::start(Default::default(), &[("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")]).await;
    world.migrate(true).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    let bills = world.sandbox.qbo.bills();
    let invoices = world.sandbox.qbo.invoices().len();
    assert!(!bills.is_empty());

    let check = |world: &World, when: &str| {
        for bill in &bills {
            let number = bill.doc_number.as_deref().expect("numbered");
            assert_eq!(world.cell(number, "qb_bill_id"), bill.id, "{when}: {number}'s bill id stays in its column");
            assert_eq!(world.cell(number, "qb_bill_status"), "synced", "{when}: {number}");
            assert_eq!(world.cell(number, "qb_invoice_id"), "", "{when}: no bill id is an invoice id");
            assert_eq!(world.cell(number, "qb_invoice_url"), "", "{when}: {number}");
        }
        assert_eq!(world.sandbox.qbo.bills().len(), bills.len(), "{when}: no bill created twice");
        assert_eq!(world.sandbox.qbo.invoices().len(), invoices, "{when}: no invoice created");
    };

    world.set_env("QB_SYNC_MODE", "invoice_only");
    world.set_env("QB_ENABLE_BILLS", "false");
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    check(&world, "invoice_only");

    world.set_env("QB_SYNC_MODE", "dual");
    world.set_env("QB_ENABLE_BILLS", "true");
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    check(&world, "dual again");
}

#[tokio::test]
async fn dry_run_changes_nothing_anywhere() {
    let world = World::demo().await;
    world.migrate(false).await;
    let before = world.sheet();
    world.sandbox.requests().clear();
    let mut engine = world.engine().await;
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions { dry_run: true }).await.unwrap();
    assert_eq!(report.dry_run.iter().filter(|d| d.payload.is_some()).count(), SYNCED.len());
    let acme = report.dry_run.iter().find(|d| d.doc_number == "ACD-2025-0101").unwrap();
    let payload = acme.payload.as_ref().unwrap();
    assert_eq!(payload["DocNumber"], "ACD-2025-0101");
    assert_eq!(world.sheet(), before, "the sheet is unchanged");
    assert!(world.sandbox.qbo.invoices().is_empty());
    for request in world.sandbox.requests().all() {
        let write = request.method != "GET"
            && !request.path.ends_with("/query")
            && !request.path.ends_with("developerMetadata:search")
            && !request.path.contains("/google/token")
            && !request.path.contains("/oauth2/");
        assert!(!write, "a dry run sent a write: {} {}", request.method, request.path);
    }
    assert!(engine.store.all_documents().unwrap().is_empty(), "no intent recorded");
}

#[tokio::test]
async fn the_exact_payloads_sent_for_a_typical_invoice_and_bill() {
    let csv = "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread\n\
        ACD-1,submitted,ACD,O'Brien & Sons,,Kubernetes for operators,OBS-K8S,\"$1,234.50\",2025-11-05,2025-12-05,1234.5,0,Net 30,T-1\n\
        JS-1,submitted,Jane Smith Consulting,ACD,Acme Training Co,Instructor fee,ACME-RUST,900,11/6/2025,,,900,,T-2\n";
    let options = qbsync::sandbox::SandboxOptions { sheet_csv: Some(csv.into()), ..Default::default() };
    let world = World::start(options, &[("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")]).await;
    world.migrate(true).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 3).await;

    let sent: Vec<serde_json::Value> = world
        .sandbox
        .requests()
        .all()
        .into_iter()
        .filter(|r| {
            r.method == "POST"
                && (r.path.ends_with("/invoice") || r.path.ends_with("/bill") || r.path.ends_with("/batch"))
        })
        .filter_map(|r| r.json())
        .collect();
    let bodies: Vec<serde_json::Value> = sent
        .iter()
        .flat_map(|b| match b.get("BatchItemRequest") {
            Some(items) => {
                items.as_array().unwrap().iter().map(|i| i.get("Invoice").or(i.get("Bill")).unwrap().clone()).collect()
            }
            None => vec![b.clone()],
        })
        .collect();
    let invoice = bodies.iter().find(|b| b["DocNumber"] == "ACD-1").unwrap();
    let invoice_key = engine
        .store
        .all_documents()
        .unwrap()
        .into_iter()
        .find(|d| d.doc_number.as_deref() == Some("ACD-1"))
        .unwrap()
        .doc_key;
    let customer = world.sandbox.qbo.invoices()[0].party_id.clone();
    assert_eq!(
        invoice,
        &serde_json::json!({
            "DocNumber": "ACD-1",
            "TxnDate": "2025-11-05",
            "DueDate": "2025-12-05",
            "CustomerRef": {"value": customer},
            "PrivateNote": format!("Net 30; thread: T-1; from: ACD; owed2ACD: 1234.5; owed2workers: 0 [qbsync {invoice_key}]"),
            "Line": [{
                "DetailType": "SalesItemLineDetail",
                "Amount": 1234.5,
                "Description": "OBS-K8S — Kubernetes for operators",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 1234.5}
            }]
        })
    );
    let bill = bodies.iter().find(|b| b["DocNumber"] == "JS-1").unwrap();
    let vendor = world.sandbox.qbo.bills()[0].party_id.clone();
    assert_eq!(bill["VendorRef"]["value"], vendor);
    assert_eq!(bill["APAccountRef"]["value"], "33");
    assert_eq!(bill["TxnDate"], "2025-11-06");
    assert_eq!(bill["Line"][0]["DetailType"], "AccountBasedExpenseLineDetail");
    assert_eq!(bill["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["value"], "7");
    // Money goes out as exact decimal text, never through a float.
    let raw: Vec<String> =
        world.sandbox.requests().all().into_iter().map(|r| r.body).filter(|b| b.contains("\"JS-1\"")).collect();
    assert!(raw.iter().any(|b| b.contains("\"Amount\":900.00")), "{raw:?}");
    assert!(world.sandbox.requests().all().iter().any(|r| r.body.contains("\"Amount\":1234.50")));
    // Every QuickBooks call carried minorversion=75, every write a requestid.
    for request in world.sandbox.requests().all().iter().filter(|r| r.path.starts_with("/v3/")) {
        assert_eq!(request.query_param("minorversion").as_deref(), Some("75"), "{}", request.path);
        if request.method == "POST" && !request.path.ends_with("/query") {
            assert!(request.query_param("requestid").is_some(), "{}", request.path);
        }
    }
    // Sheets writes are RAW: text is written as text, whichever request writes it.
    let writes = world.sandbox.requests().cell_writes();
    assert!(!writes.is_empty());
    for request in writes {
        let body = request.json().unwrap();
        if request.path.ends_with("values:batchUpdate") {
            assert_eq!(body["valueInputOption"], "RAW");
        }
        for update in body["requests"].as_array().into_iter().flatten().filter_map(|r| r.get("updateCells")) {
            assert_eq!(update["fields"], "userEnteredValue");
            let values = update["rows"][0]["values"].as_array().unwrap();
            assert!(values.iter().all(|v| v.get("userEnteredValue").is_none_or(|v| v.get("formulaValue").is_none())));
        }
    }
}

const GROUPED_CSV: &str = "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread\n\
    ACD-9,submitted,ACD,Initech LLC,,Day 1,INITECH-K8S,1000,2025-11-03,,,,,T-1\n\
    ACD-10,submitted,ACD,Initech LLC,,Other work,INITECH-X,50,2025-11-03,,,,,T-2\n\
    ACD-9,submitted,ACD,Initech LLC,,Day 2,INITECH-K8S,1000.10,2025-11-04,,,,,T-3\n\
    ACD-9,pending,ACD,Initech LLC,,Materials,INITECH-K8S,=0.1+0.2,2025-11-04,,,,,T-4\n";

#[tokio::test]
async fn grouping_makes_one_document_with_a_line_per_row() {
    let options = qbsync::sandbox::SandboxOptions { sheet_csv: Some(GROUPED_CSV.into()), ..Default::default() };
    let world = World::start(options, &[("QBSYNC_GROUP_BY_INVOICE", "true")]).await;
    world.migrate(false).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;

    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), 2, "{invoices:#?}");
    let grouped = invoices.iter().find(|i| i.doc_number.as_deref() == Some("ACD-9")).unwrap();
    let amounts: Vec<String> = grouped.lines.iter().map(|l| l.amount.to_string()).collect();
    assert_eq!(amounts.len(), 3, "{grouped:#?}");
    assert_eq!(grouped.total, "2000.40".parse::<Decimal>().unwrap(), "penny-perfect: 1000 + 1000.10 + 0.30");
    let sheet = world.sheet();
    let ids: Vec<String> = sheet
        .iter()
        .filter(|r| r[world.col("invoice")].as_text() == "ACD-9")
        .map(|r| r[world.col("qb_invoice_id")].as_text().into_owned())
        .collect();
    assert_eq!(ids, vec![grouped.id.clone(); 3], "every row of the group gets the same id");
}

#[tokio::test]
async fn without_grouping_rows_sharing_a_number_fail_naming_each_other() {
    let options = qbsync::sandbox::SandboxOptions { sheet_csv: Some(GROUPED_CSV.into()), ..Default::default() };
    let world = World::start(options, &[]).await;
    world.migrate(false).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;

    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), 1, "only ACD-10 is created");
    let sheet = world.sheet();
    for row in sheet.iter().filter(|r| r[world.col("invoice")].as_text() == "ACD-9") {
        assert_eq!(row[world.col("qb_sync_status")].as_text(), "failed");
        let error = row[world.col("qb_error")].as_text();
        assert!(error.contains("rows 2, 4, 5 share invoice number ACD-9"), "{error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn run_once_over_a_backlog_reports_progress_in_plain_lines_when_not_on_a_terminal() {
    let mut csv = String::from(
        "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread\n",
    );
    for i in 0..30 {
        csv += &format!(
            "BK-{i:03},paid,ACD,Globex Corporation,,Backfilled,HIST,{}.25,2024-0{}-15,,,,,\n",
            100 + i,
            1 + i % 9
        );
    }
    let options = qbsync::sandbox::SandboxOptions { sheet_csv: Some(csv), ..Default::default() };
    let world = World::start(options, &[]).await;
    world.migrate(false).await;
    let output = assert_cmd::Command::new(env!("CARGO_BIN_EXE_qbsync"))
        .args(["run-once", "--backfill"])
        .env_clear()
        .envs(world.env.iter().cloned())
        .timeout(std::time::Duration::from_secs(120))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("finished 30/30 rows"), "plain progress lines: {stdout}");
    assert!(stdout.contains("30 created"), "{stdout}");
    assert_eq!(world.sandbox.qbo.invoices().len(), 30, "--backfill takes rows whatever their status");
}

/// The demo sheet migrated and synced until a pass finds nothing to do, with the engine that
/// did it and its policy.
async fn synced_demo() -> (World, Engine, Policy) {
    let world = World::start(Default::default(), &FAST_CLIENTS).await;
    world.migrate(false).await;
    let mut engine = world.engine().await;
    let policy = world.policy(RunFlags::default());
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    (world, engine, policy)
}

/// Seals (issue 6): once the write-back finds a synced row in agreement with the store, later
/// busy passes recognise it without planning it — and any edit, move, deletion or copy of such
/// a row is still seen and handled exactly as before.
#[tokio::test]
async fn sealed_history_is_not_planned_again_yet_every_edit_to_it_is_seen() {
    let (world, mut engine, policy) = synced_demo().await;
    let tab = world.tab().to_owned();
    let google = &world.sandbox.google;
    // A ready row typed below the rest, shaped like a synced one with its own number.
    let append = |number: &str| {
        let mut cells: Vec<String> = world.row("ACD-2025-0101").iter().map(|c| c.as_text().into_owned()).collect();
        cells[world.col("invoice")] = number.to_owned();
        for owned in ["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"]
            .into_iter()
            .chain(["qb_balance", "qb_paid_status", "qb_paid_at"])
        {
            cells[world.col(owned)] = String::new();
        }
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        google.append_row(&tab, &cells).unwrap();
    };
    let seals = || {
        let mut count = 0;
        world.store().for_each_seal(|_, _| count += 1).unwrap();
        count
    };
    let index_of = |number: &str| row_of(&world, number);
    assert_eq!(seals(), 0, "the passes that wrote the history back had cells to write: nothing sealed yet");

    // The next busy pass finds the history in agreement and seals it.
    append("ACD-2025-0901");
    let first = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!((first.created.len(), first.quiet), (1, 0));
    assert_eq!(seals(), SYNCED.len());
    // The one after plans only what is new.
    append("ACD-2025-0902");
    let second = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!((second.created.len(), second.quiet), (1, SYNCED.len()));
    assert_eq!(seals(), SYNCED.len() + 1, "0901, written back by the pass before, is sealed now");

    // Edits to sealed rows: a status cleared, an amount changed, a row deleted, two blank rows
    // inserted (every row below 0104 moves: up one, or down one past the insert), and a copy
    // of a synced row pasted at the end.
    let status = world.col("qb_sync_status");
    google.set_cell(&tab, index_of("ACD-2025-0102"), status, "").unwrap();
    google.set_cell(&tab, index_of("ACD-2025-0103"), world.col("inv_dollars"), "2500").unwrap();
    let deleted_id = world.cell("ACD-2025-0104", "qb_invoice_id");
    let was_at = index_of("ACD-2025-0112");
    google.delete_row(&tab, index_of("ACD-2025-0104")).unwrap();
    google.insert_rows(&tab, index_of("ACD-2025-0112"), 2).unwrap();
    let copied: Vec<String> = world.row("ACD-2025-0105").iter().map(|c| c.as_text().into_owned()).collect();
    google.append_row(&tab, &copied.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    append("ACD-2025-0903");
    let third = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!(third.created.len(), 1);
    assert_eq!(third.copies, 1);
    assert_eq!(third.quiet, 1, "only 0101, above every edit, is as it was sealed");

    assert_eq!(world.cell("ACD-2025-0102", "qb_sync_status"), "synced", "a cleared status cell is written back");
    assert!(
        world.cell("ACD-2025-0103", "qb_error").contains("amount was changed"),
        "an amount edited after the invoice was created is reported: {}",
        world.cell("ACD-2025-0103", "qb_error")
    );
    let audit = engine.store.audit(&AuditQuery { doc_number: Some("ACD-2025-0104".into()), ..Default::default() });
    assert!(audit.unwrap().iter().any(|e| e.event == "row-deleted"), "the deleted row reaches the audit");
    assert!(!world.sheet().iter().any(|r| r[world.col("qb_invoice_id")].as_text() == deleted_id));
    // The copy names its original's row, which was quiet.
    let copy = world.sheet().into_iter().rfind(|r| r[world.col("invoice")].as_text() == "ACD-2025-0105").unwrap();
    assert_eq!(copy[status].as_text(), "copy");
    let original = format!("sheet row {}", index_of("ACD-2025-0105") + 1);
    assert!(copy[world.col("qb_error")].as_text().contains(&original), "{:?}", copy[world.col("qb_error")]);
    // Rows pushed down by the insert still show their ids, and the store knows where they are.
    let invoices = world.sandbox.qbo.invoices();
    for (number, _, _) in SYNCED.iter().filter(|(n, _, _)| *n != "ACD-2025-0104") {
        let id = &invoices.iter().find(|i| i.doc_number.as_deref() == Some(number)).unwrap().id;
        let shown = world.sheet()[index_of(number)][world.col("qb_invoice_id")].as_text().into_owned();
        assert_eq!(&shown, id, "{number}");
    }
    let moved = engine.store.audit(&AuditQuery { doc_number: Some("ACD-2025-0112".into()), ..Default::default() });
    let key = moved.unwrap().into_iter().find_map(|e| e.row_key).unwrap();
    assert_eq!(index_of("ACD-2025-0112"), was_at + 1);
    assert_eq!(engine.store.row(&key).unwrap().unwrap().sheet_row, Some(was_at as i64 + 2));

    // The next busy pass finds sealed every row the last one found in agreement (the moved
    // ones at their new places) and 0102, whose repair gave it back the very cells it was
    // sealed with; not 0103, whose note was written, nor the new 0903: 12 rows of history,
    // plus 0901 and 0902, less 0103.
    append("ACD-2025-0904");
    let fourth = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!(fourth.created.len(), 1);
    assert_eq!(fourth.quiet, SYNCED.len());
    assert_eq!(fourth.cells_written, 5, "only the new row is written: id, link, status, time and total");
    assert_eq!(world.sandbox.qbo.invoices().len(), SYNCED.len() + 4, "never a duplicate");

    // A new row reusing the number of a quiet row's invoice is refused: the planner still
    // finds that document, though it planned nothing of the row it came from.
    append("ACD-2025-0101");
    let fifth = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert!(fifth.quiet >= SYNCED.len(), "{}", fifth.quiet);
    assert_eq!((fifth.created.len(), fifth.failed), (0, 1));
    let reused = world.sheet().into_iter().rfind(|r| r[world.col("invoice")].as_text() == "ACD-2025-0101").unwrap();
    assert!(reused[world.col("qb_error")].as_text().contains("already used by QuickBooks invoice"), "{reused:?}");
    assert_eq!(world.sandbox.qbo.invoices().len(), SYNCED.len() + 4, "never a duplicate");
}

/// A sealed row is never decoded by a busy pass; yet when rows move in the instant between
/// locating a row and writing to it, and the write lands on a quiet row, that row gets back
/// exactly the cells it showed — rebuilt from the store, which is what it agreed with when it
/// was sealed.
#[tokio::test]
async fn a_quiet_row_hit_by_a_misplaced_write_gets_its_own_cells_back() {
    let (world, mut engine, policy) = synced_demo().await;
    let tab = world.tab().to_owned();
    let google = &world.sandbox.google;
    let owned = ["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"];
    let new_row = |number: &str| -> Vec<String> {
        let mut cells: Vec<String> = world.row("ACD-2025-0101").iter().map(|c| c.as_text().into_owned()).collect();
        cells[world.col("invoice")] = number.to_owned();
        for column in owned {
            cells[world.col(column)] = String::new();
        }
        cells
    };
    let index_of = |number: &str| row_of(&world, number);
    let shown = |number: &str| -> Vec<String> { owned.iter().map(|column| world.cell(number, column)).collect() };
    // A busy pass seals the history.
    let first = new_row("ACD-2025-0901");
    google.append_row(&tab, &first.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    engine.pass(&policy, PassOptions::default()).await.unwrap();

    // A new row typed right below a sealed one; and in the instant before qbsync writes the new
    // row's id, somebody inserts a row at the top: every row moves down one, and the sealed row
    // sits where the new one was.
    let victim = "ACD-2025-0113";
    let victim_shows = shown(victim);
    assert_eq!(victim_shows[2], "synced");
    let typed = new_row("ACD-2025-0902");
    google.insert_row(&tab, index_of(victim) + 1, &typed.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    google.edit_before_next_cell_write(&tab, LiveEdit::InsertRows { at: 1, count: 1 });
    world.sandbox.requests().clear();
    let report = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!(report.created.len(), 1);
    // The sealed rows down to the victim are quiet; those below the new row moved.
    let quiet_above = SYNCED.iter().take_while(|(number, _, _)| *number != "ACD-2025-0114").count();
    assert_eq!(report.quiet, quiet_above, "the victim was quiet");

    // Straight after that pass (no later projection to mend anything): the sealed row shows its
    // own cells again, and the new row its id.
    assert_eq!(shown(victim), victim_shows, "the quiet row hit by the write has its own cells back");
    let id = &world
        .sandbox
        .qbo
        .invoices()
        .into_iter()
        .find(|i| i.doc_number.as_deref() == Some("ACD-2025-0902"))
        .unwrap()
        .id;
    assert_eq!(&world.cell("ACD-2025-0902", "qb_invoice_id"), id);
    assert_eq!(world.cell("ACD-2025-0902", "qb_sync_status"), "synced");
    assert!(world.sheet()[1].iter().all(|c| c.as_text().is_empty()), "the inserted row got nothing");
    // Given back at once, not blanked and then mended by the next projection: of the writes to
    // the victim's row, the first is the misplaced one and the next carries its own id.
    let victim_row = index_of(victim) as u32;
    let to_victim = ids_written_to(&world, victim_row as usize);
    assert_eq!(to_victim.len(), 2, "{to_victim:?}");
    assert_eq!(to_victim[0], *id, "the misplaced write");
    assert_eq!(to_victim[1], victim_shows[0], "the restore");
}

/// A row a person pastes another synced row over is gone, though its anchor is still there
/// (a paste moves values, never row metadata): a row is found by its values as well as by its
/// anchor, and an anchor under another document's id says nothing of its own row. The audit
/// says the row went, and the pasted copy is flagged as one.
#[tokio::test]
async fn a_synced_row_pasted_over_by_another_reaches_the_audit_as_gone() {
    let (world, mut engine, policy) = synced_demo().await;
    let tab = world.tab().to_owned();
    let google = &world.sandbox.google;
    let index_of = |number: &str| row_of(&world, number);
    let overwritten_id = world.cell("ACD-2025-0104", "qb_invoice_id");
    let target = index_of("ACD-2025-0104");
    let original_at = index_of("ACD-2025-0105");
    let original: Vec<String> = world.row("ACD-2025-0105").iter().map(|c| c.as_text().into_owned()).collect();
    for (col, value) in original.iter().enumerate() {
        google.set_cell(&tab, target, col, value).unwrap();
    }

    let report = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert!(report.created.is_empty());
    assert_eq!(report.copies, 1, "the pasted row is a copy");
    let audit = engine.store.audit(&AuditQuery { doc_number: Some("ACD-2025-0104".into()), ..Default::default() });
    assert!(audit.unwrap().iter().any(|e| e.event == "row-deleted"), "the row pasted over reaches the audit");
    assert!(!world.sheet().iter().any(|r| r[world.col("qb_invoice_id")].as_text() == overwritten_id));
    let sheet = world.sheet();
    assert_eq!(sheet[original_at][world.col("qb_sync_status")].as_text(), "synced", "the original keeps its row");
    assert_eq!(sheet[target][world.col("qb_sync_status")].as_text(), "copy");
}

/// A sort that leaves row metadata on its physical rows (the sandbox's default, and what Google
/// documents best) leaves each synced row's anchor under another row's values. A row deleted
/// after that takes another row's anchor with it and leaves its own behind: it is still gone,
/// and the audit says so, because a row is found by its values as well as by its anchor.
#[tokio::test]
async fn a_row_deleted_after_a_sort_left_its_anchor_elsewhere_reaches_the_audit_as_deleted() {
    let (world, mut engine, policy) = synced_demo().await;
    let tab = world.tab().to_owned();
    let google = &world.sandbox.google;
    let index_of = |number: &str| row_of(&world, number);
    let before = world.sheet();
    google.sort_rows(&tab, "invoice", SortOrder::Descending).unwrap();
    assert_ne!(world.sheet(), before, "the sort moved rows");
    let deleted_id = world.cell("ACD-2025-0104", "qb_invoice_id");
    google.delete_row(&tab, index_of("ACD-2025-0104")).unwrap();

    let report = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert!(report.created.is_empty(), "nothing is created again for rows that only moved");
    let audit = engine.store.audit(&AuditQuery { doc_number: Some("ACD-2025-0104".into()), ..Default::default() });
    assert!(audit.unwrap().iter().any(|e| e.event == "row-deleted"), "the deleted row reaches the audit");
    assert!(!world.sheet().iter().any(|r| r[world.col("qb_invoice_id")].as_text() == deleted_id));
    for number in ["ACD-2025-0101", "ACD-2025-0103", "ACD-2025-0105"] {
        assert_eq!(world.cell(number, "qb_sync_status"), "synced", "{number} keeps its own id, moved or not");
    }
    let others = engine.store.audit(&AuditQuery::default()).unwrap();
    let deleted: Vec<_> =
        others.iter().filter(|e| e.event == "row-deleted").filter_map(|e| e.doc_number.clone()).collect();
    assert_eq!(deleted, vec!["ACD-2025-0104".to_owned()], "only the deleted row is noted");
}

/// The grid row (0-based) that shows invoice `number`.
fn row_of(world: &World, number: &str) -> usize {
    let col = world.col("invoice");
    world.sheet().iter().position(|r| r.get(col).is_some_and(|c| c.as_text() == number)).unwrap()
}

/// Appends new row ACD-2025-0902 and stages, in the instant before the next write of cells, a
/// person typing new row ACD-2025-0903 where it is (the write meant for the first lands on the
/// second). Answers the first row's index, where the write goes.
fn new_row_and_another_typed_where_it_is_written(world: &World) -> usize {
    let google = &world.sandbox.google;
    let first = typed_row(world, "ACD-2025-0902");
    let at = google.append_row(world.tab(), &first.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    let values = typed_row(world, "ACD-2025-0903");
    google.edit_before_next_cell_write(world.tab(), LiveEdit::InsertRow { at, values });
    at
}

/// The end of [`new_row_and_another_typed_where_it_is_written`]: each row shows its own
/// document (the first `first_id`), neither was taken for a copy, and there are no others.
fn both_new_rows_show_their_own_documents(world: &World, first_id: &str) {
    let second_id = world.cell("ACD-2025-0903", "qb_invoice_id");
    assert!(!second_id.is_empty() && second_id != first_id, "its own document: {second_id}");
    assert_eq!(world.cell("ACD-2025-0903", "qb_sync_status"), "synced", "{}", world.cell("ACD-2025-0903", "qb_error"));
    assert_eq!(world.cell("ACD-2025-0902", "qb_invoice_id"), first_id);
    let status = world.col("qb_sync_status");
    assert!(!world.sheet().iter().any(|r| r[status].as_text() == "copy"), "nothing taken for a copy");
    assert_eq!(world.sandbox.qbo.invoices().len(), SYNCED.len() + 2, "one document each");
}

/// What the writes of cells the sandbox recorded put in the invoice id cell of grid row `row`,
/// in order (whichever row sat there when each arrived).
fn ids_written_to(world: &World, row: usize) -> Vec<String> {
    let id_col = world.col("qb_invoice_id") as u32;
    let requests = world.sandbox.requests().cell_writes();
    let runs = requests.iter().flat_map(|w| w.cell_writes());
    let to_row = runs.filter(|run| run.row as usize == row && run.col == id_col);
    to_row.map(|run| run.values[0].as_str().unwrap_or_default().to_owned()).collect()
}

/// A new row as a person types it: a synced row's cells under another invoice `number`, with
/// nothing in the columns qbsync writes.
fn typed_row(world: &World, number: &str) -> Vec<String> {
    let google = &world.sandbox.google;
    let mut cells: Vec<String> = world.row("ACD-2025-0101").iter().map(|c| c.as_text().into_owned()).collect();
    cells[world.col("invoice")] = number.to_owned();
    let owned = ["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"];
    for column in owned.into_iter().chain(["qb_total", "qb_balance", "qb_paid_status", "qb_paid_at"]) {
        if let Ok(col) = google.header_index(world.tab(), column) {
            cells[col] = String::new();
        }
    }
    cells
}

/// Issue 15, never a duplicate: a synced row renumbered by a person in the instant a write meant
/// for the new row below it lands on it, while the same person moves it with a cut and paste and
/// deletes the row its anchor stayed on. The landing check gives back what it wrote there and,
/// not knowing what the row showed before (it shows another number now), blanks its id, link
/// and status; the row has no anchor any more. It still shows everything its document was made
/// from but the number: it is that document's row, re-anchored and shown its id again, never a
/// new row with a second document.
#[tokio::test]
async fn a_renumbered_row_whose_id_a_restore_blanked_and_whose_anchor_was_lost_gets_no_second_document() {
    let (world, mut engine, policy) = synced_demo().await;
    let tab = world.tab().to_owned();
    let google = &world.sandbox.google;
    let index_of = |number: &str| row_of(&world, number);
    let renumbered = "ACD-2025-0113";
    let id = world.cell(renumbered, "qb_invoice_id");
    assert!(!id.is_empty());
    let r = index_of(renumbered);
    let typed = typed_row(&world, "ACD-2025-0902");
    google.insert_row(&tab, r + 1, &typed.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    // In the instant before the new row's cells are written to row r + 1: two blank rows above,
    // the synced row cut and pasted onto the lower one (its anchor stays behind), the row holding
    // its anchor deleted, and its number changed. The write for the new row lands on it.
    google.edits_before_next_cell_write(
        &tab,
        vec![
            LiveEdit::InsertRows { at: r, count: 2 },
            LiveEdit::CutPasteRow { from: r + 2, to: r + 1 },
            LiveEdit::DeleteRow { row: r + 2 },
            LiveEdit::SetCell { row: r + 1, column: world.col("invoice"), value: format!("{renumbered}-R") },
        ],
    );
    world.sandbox.requests().clear();
    let report = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!(report.created.len(), 1, "the new row's document");
    let new_id = world.cell("ACD-2025-0902", "qb_invoice_id");
    // The write that missed, then the landing check giving the row back blank cells.
    let to_row = ids_written_to(&world, r + 1);
    assert_eq!(to_row.first(), Some(&new_id), "the write meant for the new row landed on the renumbered one");
    assert_eq!(to_row.get(1).map(String::as_str), Some(""), "and the landing check blanked its id: {to_row:?}");

    world.run_until_idle(&mut engine, RunFlags::default(), 6).await;
    let invoices = world.sandbox.qbo.invoices();
    let made: Vec<_> =
        invoices.iter().filter(|i| i.doc_number.as_deref().is_some_and(|n| n.starts_with(renumbered))).collect();
    assert_eq!(made.len(), 1, "exactly one document for the renumbered row: {made:#?}");
    assert_eq!(invoices.len(), SYNCED.len() + 1, "never a duplicate");
    let number = format!("{renumbered}-R");
    assert_eq!(world.cell(&number, "qb_invoice_id"), id, "the row shows its own document's id again");
    assert_eq!(world.cell(&number, "qb_sync_status"), "synced");
    assert!(
        world.cell(&number, "qb_error").contains("invoice number was changed"),
        "{}",
        world.cell(&number, "qb_error")
    );
    assert_eq!(world.cell("ACD-2025-0902", "qb_invoice_id"), new_id);
}

/// Issue 15, stopping: told to stop (SIGTERM) while rows move under its write-back, qbsync gives
/// back misplaced cells only for a short grace, well inside systemd's stop timeout; what it had
/// no time to give back is recorded, and the next start gives it back before it plans anything.
/// Here the grace is nil: a new row typed where a write was going keeps another row's id, link
/// and status until the restart, which gives it back its blank cells; then it gets its own
/// document, and is never taken for a copy of the row whose cells it showed.
#[tokio::test]
async fn cells_a_stopping_pass_could_not_give_back_are_given_back_by_the_next_start() {
    let (world, mut engine, policy) = synced_demo().await;
    new_row_and_another_typed_where_it_is_written(&world);
    engine.stop.request();
    engine.restore_grace = std::time::Duration::ZERO;
    let report = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!(report.created.len(), 1);
    let first_id = world.cell("ACD-2025-0902", "qb_invoice_id");
    assert_eq!(world.cell("ACD-2025-0903", "qb_invoice_id"), first_id, "left on the wrong row when stopping");
    assert!(engine.store.restores_owed().unwrap().is_some(), "and recorded");
    drop(engine);

    // The next start.
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 6).await;
    assert!(engine.store.restores_owed().unwrap().is_none());
    both_new_rows_show_their_own_documents(&world, &first_id);
}

/// Issue 15: rows that move under a write and again under the restore that mends it. A new row
/// typed where a write was going takes another row's id; in the instant before the landing check
/// gives it back its blank cells, it is dragged below, and the row the write was meant for moves
/// back to the number the write was addressed to. That row now sits where the write went, but the
/// write never reached it: the row that took the cells is still a victim, wherever it went, and
/// is given back its cells in the same pass (once taken for a copy, it was never created).
#[tokio::test]
async fn a_row_that_took_a_misplaced_write_is_found_again_after_the_restore_misses_it_too() {
    let (world, mut engine, policy) = synced_demo().await;
    let at = new_row_and_another_typed_where_it_is_written(&world);
    // Before the next write, the restore: the row that took the first one's cells dragged below
    // it, and the first one back at `at`.
    world
        .sandbox
        .google
        .edit_before_next_cell_write(world.tab(), LiveEdit::DragRows { from: at, count: 1, destination: at + 2 });
    world.sandbox.requests().clear();
    let report = engine.pass(&policy, PassOptions::default()).await.unwrap();
    assert_eq!(report.created.len(), 1);
    let first_id = world.cell("ACD-2025-0902", "qb_invoice_id");
    assert!(!first_id.is_empty());
    // The staging did what it says: the write and the restore both went to row `at`, and the
    // restore found the first row there, not the one that took its id.
    let to_at = ids_written_to(&world, at);
    assert_eq!(to_at.get(..2), Some(&[first_id.clone(), String::new()][..]), "{to_at:?}");
    assert_eq!(row_of(&world, "ACD-2025-0903"), at + 1, "dragged below the first row");

    // Straight after that pass: the row that took the id has its blank cells back.
    assert_eq!(world.cell("ACD-2025-0903", "qb_invoice_id"), "", "given back in the same pass");
    assert_eq!(world.cell("ACD-2025-0903", "qb_sync_status"), "");
    assert!(engine.store.restores_owed().unwrap().is_none(), "nothing left owed");

    world.run_until_idle(&mut engine, RunFlags::default(), 6).await;
    both_new_rows_show_their_own_documents(&world, &first_id);
}
