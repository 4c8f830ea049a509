//! Throughput mechanics (issue 6), counted in the sandbox's request log rather than timed:
//! creates go out in batches of 30 after one name query, write-backs stream one per batch at
//! most, an idle poll costs one Sheets read and no QuickBooks call, throttling by the published
//! limits never fails a row, and `qbsync bench --quick` still runs.

use std::collections::BTreeSet;
use std::time::Duration;

use qbsync::bench::sheet;
use qbsync::commands::context::RunFlags;
use qbsync::sandbox::google::QuotaConfig;
use qbsync::sandbox::qbo::QboLimits;
use qbsync::sandbox::{RecordedRequest, SandboxOptions};
use qbsync::sync::PassReport;
use qbsync::sync::{Engine, PassOptions};

use crate::support::World;

async fn backlog(rows: usize, enforce_limits: bool, env: &[(&str, &str)]) -> World {
    let options = SandboxOptions { sheet_csv: Some(sheet::backlog(rows)), enforce_limits, ..Default::default() };
    World::start(options, env).await
}

/// The rows (1-based, as the sheet numbers them) a write of cells wrote.
fn rows_written(request: &RecordedRequest) -> BTreeSet<u32> {
    request.cell_writes().iter().map(|run| run.row + 1).collect()
}

fn batch_sizes(world: &World) -> Vec<usize> {
    let mut sizes: Vec<usize> = world
        .sandbox
        .requests()
        .matching("POST", "/batch")
        .iter()
        .map(|r| r.json().unwrap()["BatchItemRequest"].as_array().unwrap().len())
        .collect();
    sizes.sort_unstable();
    sizes
}

fn assert_every_row_synced_once(world: &World, rows: usize) {
    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), rows, "one invoice per row");
    let numbers: BTreeSet<String> = invoices.iter().filter_map(|i| i.doc_number.clone()).collect();
    assert_eq!(numbers.len(), rows, "no number twice");
    for i in 0..rows {
        let number = sheet::invoice_number(i);
        let id = world.cell(&number, "qb_invoice_id");
        let invoice = invoices.iter().find(|inv| inv.doc_number.as_deref() == Some(number.as_str())).unwrap();
        assert_eq!(id, invoice.id, "{number}: its own id on its own row");
        assert_eq!(world.cell(&number, "qb_sync_status"), "synced", "{number}");
    }
}

#[tokio::test]
async fn a_backlog_goes_out_in_batches_of_thirty_after_one_name_query() {
    let world = backlog(75, false, &[]).await;
    let mut engine = world.engine().await;
    engine.write_back_every = Duration::from_secs(3600);
    // Learnt at start, as the daemon does; what follows is the pass's own cost.
    engine.company.check(&engine.qbo, &world.policy(RunFlags::default())).await.unwrap();
    world.sandbox.requests().clear();
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();

    assert_eq!((report.created.len(), report.failed, report.uncertain), (75, 0, 0));
    assert_every_row_synced_once(&world, 75);
    let qbo: Vec<RecordedRequest> =
        world.sandbox.requests().all().into_iter().filter(|r| r.path.starts_with("/v3/")).collect();
    assert_eq!(batch_sizes(&world), vec![15, 30, 30], "creates in batches of at most 30");
    assert!(world.sandbox.requests().matching("POST", "/invoice").is_empty(), "no single creates");
    let queries: Vec<&RecordedRequest> = qbo.iter().filter(|r| r.path.ends_with("/query")).collect();
    assert_eq!(queries.len(), 1, "six customers, one query: {queries:#?}");
    assert!(queries[0].body.contains("FROM Customer") && queries[0].body.contains(" IN ("), "{}", queries[0].body);
    assert_eq!(qbo.len(), 4, "one query and three batches for 75 documents");
    // Every document was sent exactly once, in the batch its intent was recorded for.
    assert!(engine.store.all_documents().unwrap().iter().all(|d| d.attempts == 1));
    // One write-back for the whole pass when it is shorter than the write-back interval.
    assert_eq!(world.sandbox.requests().cell_writes().len(), 1);

    // The names are cached: the next backlog costs no query.
    let more: Vec<String> = sheet::ready_row(75);
    world.sandbox.google.append_row(world.tab(), &more.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();
    world.sandbox.requests().clear();
    engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
    assert!(world.sandbox.requests().matching("POST", "/query").is_empty(), "the customer came from the cache");
    assert_eq!(world.sandbox.requests().matching("POST", "/invoice").len(), 1, "a lone document goes alone");
}

#[tokio::test]
async fn write_backs_stream_while_the_backlog_is_created_one_per_batch() {
    let world = backlog(150, false, &[]).await;
    let mut engine = world.engine().await;
    engine.write_back_every = Duration::ZERO;
    world.sandbox.requests().clear();
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
    assert_eq!((report.created.len(), report.failed), (150, 0));
    assert_every_row_synced_once(&world, 150);

    let log = world.sandbox.requests().all();
    let writes: Vec<(usize, &RecordedRequest)> =
        log.iter().enumerate().filter(|(_, r)| !r.cell_writes().is_empty()).collect();
    let batches: Vec<usize> =
        log.iter().enumerate().filter(|(_, r)| r.path.ends_with("/batch")).map(|(i, _)| i).collect();
    assert_eq!(batches.len(), 5);
    assert_eq!(writes.len(), batches.len(), "one write of cells per batch, no more");
    assert!(writes[0].0 < batches[4], "the first ids were written while batches were still going out");
    // Each write-back carried exactly the rows of the batch settled before it.
    let mut all = BTreeSet::new();
    for (_, write) in &writes {
        let rows = rows_written(write);
        assert_eq!(rows.len(), 30, "{rows:?}");
        assert!(rows.is_disjoint(&all), "no row written twice");
        all.extend(rows);
    }
    assert_eq!(all, (2..=151).collect::<BTreeSet<u32>>());
}

#[tokio::test]
async fn an_idle_poll_costs_one_sheets_read_and_no_quickbooks_call() {
    // The demo sheet keeps failed and skipped rows: nothing about them changes between polls.
    let world = World::demo().await;
    world.migrate(false).await;
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;

    world.sandbox.requests().clear();
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
    assert!(report.idle, "{report:?}");
    let requests = world.sandbox.requests().all();
    assert_eq!(requests.len(), 1, "{requests:#?}");
    assert_eq!(requests[0].method, "GET");
    assert!(requests[0].path.contains("/values/"), "{}", requests[0].path);

    // A failed row the bookkeeper fixes is noticed at the next poll.
    let sheet = world.sheet();
    let (index, _) = sheet
        .iter()
        .enumerate()
        .find(|(_, r)| r[world.col("invoice")].as_text() == "ACD-2025-0116")
        .expect("the row with an unknown inv_from");
    world.sandbox.google.set_cell(world.tab(), index, world.col("inv_from"), "ACD").unwrap();
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
    assert!(!report.idle);
    assert_eq!(world.cell("ACD-2025-0116", "qb_sync_status"), "synced");
}

/// Passes until one is idle, riding out passes that stop for a transient reason (a call that
/// ran out of retries): such a pass must never have failed a row.
async fn run_through_throttling(world: &World, engine: &mut Engine) -> Vec<PassReport> {
    let policy = world.policy(RunFlags::default());
    let mut reports = Vec::new();
    for _ in 0..8 {
        match engine.pass(&policy, PassOptions::default()).await {
            Ok(report) if report.idle => return reports,
            Ok(report) => reports.push(report),
            Err(error) => assert!(error.is_transient(), "{error}"),
        }
    }
    panic!("the backlog never settled: {reports:#?}");
}

#[tokio::test]
async fn throttling_by_the_published_limits_never_fails_a_row() {
    // qbsync's own pacing is opened wide and the emulators' limits are made tiny, so the limits
    // are hit for real: QuickBooks refuses a second batch within 250 ms, Sheets a third read
    // or write within 300 ms. The waits are shortened so the test takes seconds, not minutes.
    let env = [
        ("QBSYNC_QBO_BATCHES_PER_MINUTE", "60000"),
        ("QBSYNC_QBO_REQUESTS_PER_MINUTE", "60000"),
        ("QBSYNC_QBO_THROTTLE_WAIT_MS", "300"),
        ("QBSYNC_QBO_RETRY_BASE_MS", "10"),
        ("QBSYNC_SHEETS_READS_PER_MINUTE", "60000"),
        ("QBSYNC_SHEETS_WRITES_PER_MINUTE", "60000"),
        ("QBSYNC_SHEETS_BACKOFF_BASE_MS", "10"),
        ("QBSYNC_SHEETS_MAX_ATTEMPTS", "10"),
    ];
    let world = backlog(75, true, &env).await;
    world.sandbox.qbo.set_limits(QboLimits {
        requests_per_window: 500,
        batches_per_window: 1,
        max_concurrent: 10,
        window: Duration::from_millis(250),
    });
    world.sandbox.google.set_quota(QuotaConfig { window: Duration::from_millis(300), per_user: 2, per_project: 300 });
    let mut engine = world.engine().await;

    let reports = run_through_throttling(&world, &mut engine).await;
    assert!(engine.qbo.stats().throttled > 0, "QuickBooks throttled: {:?}", engine.qbo.stats());
    assert!(engine.sheets.stats().throttled > 0, "Sheets throttled: {:?}", engine.sheets.stats());
    assert_eq!(reports.iter().map(|r| r.failed).sum::<usize>(), 0, "no row failed");
    assert_every_row_synced_once(&world, 75);
}

#[test]
fn the_money_benchmark_runs_in_quick_mode() {
    let output = assert_cmd::Command::cargo_bin("qbsync")
        .unwrap()
        .args(["bench", "--money", "--quick", "--json"])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let options = &report["options"];
    let paid = &report["paid"];
    assert_eq!(paid["samples"].as_array().unwrap().len() as u64, options["paid"]["payments"].as_u64().unwrap());
    assert_eq!(paid["failed_passes"].as_u64(), Some(0), "{paid:#}");
    let idle = &report["idle"];
    let rounds = options["idle_rounds"].as_u64().unwrap();
    assert_eq!(idle["rounds"].as_u64(), Some(rounds));
    assert_eq!(idle["metered_calls"].as_u64(), Some(rounds), "an idle round is one metered call: {idle:#}");
    assert_eq!(idle["cdc_polls"].as_u64(), Some(rounds), "its CDC poll: {idle:#}");
    let created = &report["created"];
    let documents = options["documents"].as_u64().unwrap();
    assert_eq!(created["created"].as_u64(), Some(documents), "{created:#}");
    assert_eq!(created["showing_money"].as_u64(), Some(documents + 1), "every row shows its money: {created:#}");
}

#[test]
fn the_benchmark_runs_in_quick_mode() {
    let output = assert_cmd::Command::cargo_bin("qbsync")
        .unwrap()
        .args(["bench", "--quick", "--json"])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let backlog = &report["backlog"];
    let rows = report["options"]["rows"].as_u64().unwrap();
    assert_eq!(backlog["created"].as_u64(), Some(rows), "{report:#}");
    assert_eq!(backlog["visible"].as_u64(), Some(rows));
    assert_eq!(backlog["invoices_in_quickbooks"].as_u64(), Some(rows));
    assert_eq!(backlog["failed"].as_u64(), Some(0));
    assert!(backlog["qbo_calls"].as_u64().unwrap() as f64 <= 1.1 * rows as f64);
    let samples = report["latency"]["samples"].as_array().unwrap();
    assert_eq!(samples.len() as u64, report["options"]["samples"].as_u64().unwrap());
    let latency = &report["latency"];
    assert_eq!(latency["change_check"]["secs"].as_u64(), Some(1), "the quick form picks up through Drive: {latency:#}");
    let idle = &latency["idle"];
    assert_eq!(idle["qbo_calls"].as_u64(), Some(0), "an idle daemon never calls QuickBooks: {idle:#}");
    assert!(idle["window"]["secs"].as_u64().unwrap() >= 3, "{idle:#}");
    let large = &report["large"];
    assert_eq!(large["idle"], true);
    for pass in ["first_idle_pass", "idle_pass"] {
        let idle = &large[pass];
        assert_eq!(idle["sheets_reads"].as_f64(), Some(1.0), "{pass}");
        assert_eq!(idle["sheets_writes"].as_f64(), Some(0.0), "{pass}");
        assert_eq!(idle["qbo_calls"].as_f64(), Some(0.0), "{pass}");
        assert!(idle["peak_rss_kib"].as_u64().unwrap() > 0, "{pass}");
    }
    assert_eq!(
        large["created"].as_u64(),
        Some(large["busy_passes"].as_u64().unwrap() + 1),
        "each busy pass over the long sheet (the sealing one and the measured ones) synced its new row"
    );
    for pass in ["sealing_pass", "busy_pass"] {
        let busy = &large[pass];
        assert_eq!(busy["passes"].as_u64(), Some(1), "{pass}");
        let calls = busy["qbo_calls"].as_f64().unwrap();
        assert!(
            (1.0..=2.0).contains(&calls),
            "{pass}: one batch create, and a customer look-up unless the customer was met before: {calls}"
        );
        assert!(busy["peak_rss_kib"].as_u64().unwrap() > 0, "{pass}");
    }
    assert!(large["rss_before_kib"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn names_quickbooks_does_not_know_cost_one_query_each_way_however_many() {
    let header = sheet::header().join(",");
    let row = |number: &str, customer: &str| {
        let mut cells = sheet::ready_row(0);
        cells[0] = number.to_owned();
        cells[3] = customer.to_owned();
        cells.join(",")
    };
    let csv = [
        header,
        row("N-1", "Nobody Ltd"),
        row("N-2", "Nobody Two"),
        row("N-3", "Jane Smith Consulting"),
        row("N-4", "Acme Training Co"),
        row("N-5", "Globex Corporation"),
    ]
    .join("\n");
    let world = World::start(SandboxOptions { sheet_csv: Some(csv), ..Default::default() }, &[]).await;
    let mut engine = world.engine().await;
    world.sandbox.requests().clear();
    let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
    assert_eq!((report.created.len(), report.failed), (2, 3));

    let queries: Vec<String> =
        world.sandbox.requests().matching("POST", "/query").into_iter().map(|r| r.body).collect();
    let about = |entity: &str| queries.iter().filter(|q| q.contains(&format!("FROM {entity}"))).count();
    // Customers: one IN (…) for the five names, one listing for "did you mean".
    assert_eq!(about("Customer"), 2, "{queries:#?}");
    // Vendors: one IN (…) for the three names missing as customers.
    assert_eq!(about("Vendor"), 1, "{queries:#?}");
    for number in ["N-1", "N-2"] {
        assert!(world.cell(number, "qb_error").contains("is not in QuickBooks"), "{number}");
    }
    assert!(world.cell("N-3", "qb_error").contains("exists in QuickBooks as a vendor"));
    assert_eq!(world.cell("N-4", "qb_sync_status"), "synced");
}

/// A busy pass reads what it must: the idle check, a picture, a second picture to verify the
/// new row's anchor, and the landing check. The write-back between them reads nothing while
/// Drive says the file has not changed since the last picture; without Drive it reads.
#[tokio::test]
async fn a_pass_that_creates_one_document_reads_the_sheet_three_times_and_four_without_drive() {
    for (drive, expected) in [(true, 3), (false, 4)] {
        let mut world = backlog(3, false, &[]).await;
        if !drive {
            let base = world.sandbox.base_url().to_owned();
            world.set_env("QBSYNC_DRIVE_API_URL", &format!("{base}no-drive/"));
        }
        let mut engine = world.engine().await;
        world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
        let row = sheet::ready_row(3);
        world.sandbox.google.append_row(world.tab(), &row.iter().map(String::as_str).collect::<Vec<_>>()).unwrap();

        let before = engine.sheets.stats();
        let report = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap();
        assert_eq!(report.created.len(), 1);
        let after = engine.sheets.stats();
        assert_eq!(after.reads - before.reads, expected, "Drive {drive}");
        // The anchor and the write-back: verifying the anchor costs no write of its own, and
        // the write-back's answer shows where its cells landed.
        assert_eq!(after.writes - before.writes, 2, "Drive {drive}");
        assert_eq!(world.cell(&sheet::invoice_number(3), "qb_sync_status"), "synced", "Drive {drive}");
    }
}
