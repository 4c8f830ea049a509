//! Careless and hostile input (issue 17): what a shared sheet collects — formula errors,
//! invisible characters, look-alike names, a 50,000-character paste, a "tidied" header, a
//! number no search can find, a byte-order mark, a switched tab — fed through the real clients
//! against the sandbox, and the binary where the refusal is at start.

use qbsync::commands::context::{self, RunFlags};
use qbsync::domain::Cell;
use qbsync::domain::cell::SPREADSHEET_ERRORS;
use qbsync::sandbox::qbo::EntityKind;
use qbsync::sheets::CellRun;
use qbsync::sheets::clip::{MAX_CELL_CHARS, utf16_len};
use qbsync::sync::PassOptions;

use crate::cli::{assert_exit, qbsync, stderr, with};
use crate::support::World;

const HEADER: &str = "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread,qb_invoice_id,qb_invoice_url,qb_sync_status,qb_synced_at,qb_error";

/// The columns of [`HEADER`] a test types into.
const INVOICE: usize = 0;
const TO_CLIENT: usize = 3;
const END_CLIENT: usize = 4;
const JOB_NAME: usize = 6;
const INV_DOLLARS: usize = 7;
const SUBMITTED_DATE: usize = 8;
const NOTES: usize = 12;

/// A world whose tab holds `rows` ready money-in rows (`C-1`, `C-2`, … to Acme Training Co,
/// 100.00 each); the test then types its careless values into them.
async fn world_with_rows(rows: usize, env: &[(&str, &str)]) -> World {
    let world = World::start(Default::default(), env).await;
    let mut csv = format!("{HEADER}\n");
    for n in 1..=rows {
        csv += &format!("C-{n},submitted,ACD,Acme Training Co,,,,100.00,2025-11-05,,,,,,,,,,\n");
    }
    world.sandbox.google.load_csv(world.tab(), &csv).expect("sheet loads");
    world
}

fn type_into(world: &World, grid_row: usize, col: usize, value: &str) {
    world.sandbox.google.set_cell(world.tab(), grid_row, col, value).expect("cell typed");
}

/// A cell of the sheet by grid row and header, as text.
fn cell(world: &World, grid_row: usize, header: &str) -> String {
    world.sheet()[grid_row].get(world.col(header)).map(|c| c.as_text().into_owned()).unwrap_or_default()
}

fn customers(world: &World) -> Vec<String> {
    let company = world.sandbox.qbo.dump_company();
    company.customers.iter().filter_map(|c| c.get("DisplayName")?.as_str().map(str::to_owned)).collect()
}

async fn sync(world: &World) {
    let mut engine = world.engine().await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
}

#[tokio::test]
async fn every_spreadsheet_error_value_fails_its_row_naming_the_cell_and_reaches_nothing() {
    let world = world_with_rows(SPREADSHEET_ERRORS.len() + 1, &[("QBSYNC_CREATE_MISSING_NAMES", "true")]).await;
    let columns = [
        (INVOICE, "invoice", "A"),
        (TO_CLIENT, "to_client", "D"),
        (INV_DOLLARS, "inv_dollars", "H"),
        (SUBMITTED_DATE, "submitted_date", "I"),
        (NOTES, "notes", "M"),
        (JOB_NAME, "job_name", "G"),
        (END_CLIENT, "end_client", "E"),
    ];
    for (i, error) in SPREADSHEET_ERRORS.iter().enumerate() {
        let (col, _, _) = columns[i % columns.len()];
        type_into(&world, i + 1, col, error);
    }
    let customers_before = customers(&world);
    sync(&world).await;

    for (i, error) in SPREADSHEET_ERRORS.iter().enumerate() {
        let (_, header, letter) = columns[i % columns.len()];
        let row = i + 1;
        assert_eq!(cell(&world, row, "qb_sync_status"), "failed", "{error} in {header}");
        let message = cell(&world, row, "qb_error");
        assert!(message.contains(&format!("{header} (cell {letter}{})", row + 1)), "{message}");
        assert!(message.contains(error), "{message}");
        assert_eq!(cell(&world, row, "qb_invoice_id"), "");
    }
    // The clean last row is synced; nothing else became a document or a customer.
    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), 1, "{invoices:#?}");
    assert_eq!(invoices[0].doc_number.as_deref(), Some(format!("C-{}", SPREADSHEET_ERRORS.len() + 1).as_str()));
    assert!(invoices.iter().all(|i| !i.doc_number.as_deref().unwrap_or_default().starts_with('#')));
    assert_eq!(customers(&world), customers_before, "no customer named after an error value");
}

#[tokio::test]
async fn names_that_differ_only_by_invisible_characters_or_unicode_form_match_the_existing_customer() {
    let invisible = ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}', '\u{00AD}', '\u{200E}', '\u{202E}'];
    let world = world_with_rows(invisible.len() + 5, &[("QBSYNC_CREATE_MISSING_NAMES", "true")]).await;
    let unicode_id = world.sandbox.qbo.add_customer("Ünïcode GmbH").unwrap();
    for (i, ch) in invisible.iter().enumerate() {
        type_into(&world, i + 1, TO_CLIENT, &format!("Acme {ch}Training Co{ch}"));
    }
    let n = invisible.len();
    type_into(&world, n + 1, TO_CLIENT, "U\u{308}ni\u{308}code GmbH");
    type_into(&world, n + 2, TO_CLIENT, "\u{200B}");
    type_into(&world, n + 3, TO_CLIENT, "Bell\u{7} Sys\u{0}tems");
    type_into(&world, n + 4, TO_CLIENT, "Acme: East");
    let before = customers(&world);
    sync(&world).await;

    let invoices = world.sandbox.qbo.invoices();
    let party_of = |row: usize| {
        let number = format!("C-{row}");
        invoices.iter().find(|i| i.doc_number.as_deref() == Some(number.as_str())).map(|i| i.party_name.clone())
    };
    for row in 1..=n {
        assert_eq!(party_of(row).as_deref(), Some("Acme Training Co"), "row {row}: matched, not created beside it");
    }
    let nfd = invoices.iter().find(|i| i.doc_number.as_deref() == Some(format!("C-{}", n + 1).as_str())).unwrap();
    assert_eq!(nfd.party_id, unicode_id, "the NFD spelling is the NFC customer");

    // Only invisible characters: refused, the character shown escaped, never written raw.
    let only_invisible = cell(&world, n + 2, "qb_error");
    assert!(only_invisible.contains(&format!("to_client (cell D{})", n + 3)), "{only_invisible}");
    assert!(only_invisible.contains("<U+200B>") && !only_invisible.contains('\u{200B}'), "{only_invisible}");
    // Control characters are never sent: the customer is created without them.
    assert_eq!(party_of(n + 3).as_deref(), Some("Bell Systems"));
    // A colon is refused before anything is sent, naming the cell and the rule.
    let colon = cell(&world, n + 4, "qb_error");
    assert!(colon.contains(&format!("to_client (cell D{})", n + 5)) && colon.contains("colon"), "{colon}");

    let after = customers(&world);
    let added: Vec<&String> = after.iter().filter(|c| !before.contains(c)).collect();
    assert_eq!(added, ["Bell Systems"], "exactly one new customer, and no look-alike");
    assert!(after.iter().all(|c| !c.chars().any(char::is_control) && !c.contains('\u{200B}')), "{after:?}");
}

#[tokio::test]
async fn without_name_creation_a_decomposed_accent_matches_instead_of_failing_with_itself_as_closest() {
    let world = world_with_rows(1, &[]).await;
    world.sandbox.qbo.add_customer("Ünïcode GmbH").unwrap();
    type_into(&world, 1, TO_CLIENT, "U\u{308}ni\u{308}code GmbH");
    sync(&world).await;
    assert_eq!(cell(&world, 1, "qb_sync_status"), "synced", "{}", cell(&world, 1, "qb_error"));
}

#[tokio::test]
async fn the_sandbox_refuses_a_display_name_with_a_colon_as_a_validation_fault() {
    let world = World::demo().await;
    let error = world.sandbox.qbo.add_entity(EntityKind::Customer, &serde_json::json!({"DisplayName": "Acme: East"}));
    assert!(error.is_err(), "{error:?}");
    assert!(!customers(&world).iter().any(|c| c.contains(':')));
}

#[tokio::test]
async fn a_document_number_no_search_can_find_is_refused_before_any_create_and_blocks_no_other_row() {
    let world = world_with_rows(2, &[]).await;
    type_into(&world, 1, INVOICE, "①②③");
    sync(&world).await;
    let message = cell(&world, 1, "qb_error");
    assert_eq!(cell(&world, 1, "qb_sync_status"), "failed");
    assert!(message.contains("invoice (cell A2)") && message.contains("① ② ③"), "{message}");
    let invoices = world.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].doc_number.as_deref(), Some("C-2"));
    assert_eq!(cell(&world, 2, "qb_sync_status"), "synced");
    let to_quickbooks: Vec<_> =
        world.sandbox.requests().all().into_iter().filter(|r| r.path.contains("/v3/company/")).collect();
    assert!(!to_quickbooks.is_empty());
    assert!(!to_quickbooks.iter().any(|r| r.body.contains('①') || r.query.contains("%E2%91%A0")), "never sent");
}

#[tokio::test]
async fn an_over_long_cell_is_clipped_in_the_error_and_never_holds_back_the_other_rows() {
    let world = world_with_rows(3, &[]).await;
    type_into(&world, 2, INV_DOLLARS, &"about a hundred ".repeat(3_122));
    sync(&world).await;
    let error = cell(&world, 2, "qb_error");
    assert_eq!(cell(&world, 2, "qb_sync_status"), "failed");
    assert!(utf16_len(&error) <= 2000 && error.ends_with('…'), "{}", error.len());
    assert!(error.starts_with("inv_dollars (cell H3)"), "{}", &error[..80]);
    for row in [1, 3] {
        assert_eq!(cell(&world, row, "qb_sync_status"), "synced", "row {row}");
        assert!(!cell(&world, row, "qb_invoice_id").is_empty());
    }
}

#[tokio::test]
async fn the_sheets_client_clips_every_owned_column_and_holds_back_only_a_refused_range() {
    let world = world_with_rows(2, &[]).await;
    let sheets = context::sheets(&world.settings()).await.unwrap();
    let owned = ["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"];
    let long = "x".repeat(MAX_CELL_CHARS + 10);
    let mut runs: Vec<CellRun> = owned
        .iter()
        .map(|header| CellRun { row: 1, col: world.col(header) as u32, values: vec![Cell::text(long.clone())] })
        .collect();
    // A range Google refuses by itself (past the grid), between the others.
    runs.insert(2, CellRun { row: 999_999, col: 0, values: vec![Cell::text("nowhere")] });
    let written = sheets.write_cells(&runs).await.expect("the rest lands");
    assert_eq!(written.held_back.len(), 1, "{written:?}");
    assert_eq!(written.held_back[0].row, 999_999);
    assert!(written.held_back[0].message.contains("exceeds grid limits"), "{written:?}");
    for header in owned {
        let text = cell(&world, 1, header);
        assert_eq!(utf16_len(&text), MAX_CELL_CHARS, "{header}");
        assert!(text.ends_with('…'), "{header}");
    }
}

#[tokio::test]
async fn a_renamed_or_deleted_tracking_header_stops_before_anything_is_created() {
    for (renamed_to, expect) in [("QB INVOICE ID", "Column O is headed \"QB INVOICE ID\""), ("memo", "qbsync migrate")]
    {
        let world = world_with_rows(2, &[]).await;
        // One row was synced already: its id is on the sheet.
        type_into(&world, 1, 14, "77");
        type_into(&world, 1, 16, "synced");
        world.sandbox.google.rename_header(world.tab(), "qb_invoice_id", renamed_to).unwrap();

        let mut engine = world.engine().await;
        let error = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap_err();
        assert!(error.to_string().contains(expect), "{error}");

        let run_once = qbsync(&world.env, &["run-once"]).await;
        assert_exit(&run_once, 1);
        let said = stderr(&run_once);
        assert!(said.contains("\"qb_invoice_id\"") && said.contains(expect), "{said}");
        assert_eq!(said.matches("which qbsync needs to record").count(), 1, "said once: {said}");
        // The daemon refuses at start too, before its first pass.
        let daemon = qbsync(&world.env, &["daemon", "--interval", "1"]).await;
        assert_exit(&daemon, 1);
        assert!(stderr(&daemon).contains(expect), "{}", stderr(&daemon));
        assert!(world.sandbox.qbo.invoices().is_empty(), "nothing created that could not be recorded");
    }
}

#[tokio::test]
async fn a_state_directory_refuses_another_tab_and_records_no_deletions() {
    let world = world_with_rows(2, &[]).await;
    sync(&world).await;
    assert_eq!(world.sandbox.qbo.invoices().len(), 2);
    world.sandbox.google.load_csv("Copy", &format!("{HEADER}\n")).unwrap();

    let elsewhere = with(&world.env, &[("QBSYNC_SHEET_TAB", "Copy")]);
    let run_once = qbsync(&elsewhere, &["run-once"]).await;
    assert_exit(&run_once, 1);
    let said = stderr(&run_once);
    assert!(said.contains("\"inv_tbl\"") && said.contains("\"Copy\"") && said.contains("QBSYNC_STATE_DIR"), "{said}");

    let engine = world.engine().await;
    let audit = engine.store.audit(&Default::default()).unwrap();
    assert!(!audit.iter().any(|e| e.event == "row-deleted"), "{audit:#?}");
    // The recorded tab still syncs.
    let again = qbsync(&world.env, &["run-once"]).await;
    assert_exit(&again, 0);
}

#[test]
fn a_byte_order_mark_is_accepted_in_the_env_file_and_the_map_files() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join(".env");
    std::fs::write(&env_file, "\u{FEFF}QBSYNC_SHEET_TAB=from_env_file\n").unwrap();
    let settings = qbsync::settings::Settings::load(&qbsync::settings::LoadOptions {
        config_file: None,
        env_file: Some(env_file),
        environment: Vec::new(),
    })
    .expect("a BOM is no syntax error");
    assert_eq!(settings.google.sheet_tab, "from_env_file");

    let directions = dir.path().join("qb_directions.json");
    std::fs::write(&directions, "\u{FEFF}{\"money_in\": [\"ACD\"], \"money_out\": []}").unwrap();
    assert!(qbsync::directions::Directions::load(&directions).is_ok());
    let aliases = dir.path().join("qb_customers.json");
    std::fs::write(&aliases, "\u{FEFF}{\"aliases\": {\"acme\": \"Acme Training Co\"}}").unwrap();
    let aliases = qbsync::directions::NameAliases::load_optional(&aliases).unwrap();
    assert_eq!(aliases.resolve("acme"), "Acme Training Co");
}

#[tokio::test]
async fn a_pending_number_no_search_can_carry_is_still_found_and_stalls_no_other_number() {
    use qbsync::qbo::model::{DocKind, NewDoc, NewInvoice, SalesLine};
    use qbsync::qbo::request_id::RequestId;

    let world = world_with_rows(1, &[]).await;
    sync(&world).await;
    let first = world.sandbox.qbo.invoices().remove(0);
    let engine = world.engine().await;
    // An intent recorded by an older qbsync, before such numbers were refused at validation.
    let legacy = NewDoc::Invoice(NewInvoice {
        doc_number: Some("①②③".into()),
        txn_date: chrono::NaiveDate::from_ymd_opt(2025, 11, 5).unwrap(),
        due_date: None,
        customer_id: first.party_id.clone(),
        private_note: None,
        lines: vec![SalesLine {
            amount: "10.00".parse().unwrap(),
            description: None,
            item_id: world.settings().quickbooks.default_item_id.unwrap(),
            qty: "1".parse().unwrap(),
            unit_price: "10.00".parse().unwrap(),
        }],
    });
    let created = engine.qbo.create(&legacy, &RequestId::parse("legacy-1").unwrap()).await.unwrap();

    let found = engine.qbo.find_by_doc_numbers(DocKind::Invoice, &["①②③".into(), "C-1".into()]).await.unwrap();
    let mut ids: Vec<&str> = found.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    let mut want = vec![created.id.as_str(), first.id.as_str()];
    want.sort();
    assert_eq!(ids, want);
}

#[tokio::test]
async fn in_dual_mode_a_sheet_without_the_bill_columns_creates_nothing() {
    let world = World::start(Default::default(), &[("QB_SYNC_MODE", "dual"), ("QB_ENABLE_BILLS", "true")]).await;
    world.migrate(false).await;
    let mut engine = world.engine().await;
    let error = engine.pass(&world.policy(RunFlags::default()), PassOptions::default()).await.unwrap_err();
    assert!(error.to_string().contains("\"qb_bill_id\""), "{error}");
    assert!(world.sandbox.qbo.invoices().is_empty() && world.sandbox.qbo.bills().is_empty());
    world.migrate(true).await;
    world.run_until_idle(&mut engine, RunFlags::default(), 4).await;
    assert!(!world.sandbox.qbo.bills().is_empty(), "with the columns added, bills are created");
}

/// The stall of issue 17, under fire: a create for a number no search can find (`①②③`),
/// recorded by an older qbsync, sent, and its answer lost. The daemon is killed at random while
/// other rows arrive; the document is found by listing and adopted, exactly once, and no other
/// row waits for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_create_for_an_unsearchable_number_is_adopted_under_random_kills_and_stalls_nothing() {
    use qbsync::domain::Layout;
    use qbsync::domain::layout::ColumnNames;
    use qbsync::qbo::model::{DocKind, PartyKind};
    use qbsync::qbo::request_id::RequestId;
    use qbsync::sheets::NewAnchor;
    use qbsync::sync::draft::{DocDraft, DraftLine, DraftRow};
    use qbsync::sync::ledger::Ledger;
    use qbsync::sync::payload;
    use rand::{Rng, SeedableRng};

    let (seed, _guard) = crate::support::torture_seed("careless::a_lost_create_for_an_unsearchable_number", 17);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let world = world_with_rows(1, &[]).await;
    type_into(&world, 1, INVOICE, "①②③");
    type_into(&world, 1, INV_DOLLARS, "10.00");
    let engine = world.engine().await;
    let policy = world.policy(RunFlags::default());
    let key = "0123456789abcdef0123";

    // What an older qbsync left: the row anchored, the intent recorded and sent once, and the
    // document created in QuickBooks with an answer that never came back.
    engine.sheets.update_anchors(&[NewAnchor { row: 1, key: key.into() }], &[]).await.unwrap();
    let party = engine.qbo.find_parties(PartyKind::Customer, &["Acme Training Co".into()]).await.unwrap();
    let sheet = world.sheet();
    let layout = Layout::from_header(&sheet[0], &ColumnNames::default()).unwrap();
    let draft = DocDraft {
        doc_key: key.into(),
        kind: qbsync::store::Kind::Invoice,
        doc_kind: DocKind::Invoice,
        doc_number: "①②③".into(),
        party: "Acme Training Co".into(),
        txn_date: chrono::NaiveDate::from_ymd_opt(2025, 11, 5).unwrap(),
        due_date: None,
        private_note: None,
        lines: vec![DraftLine { amount: "10.00".parse().unwrap(), description: None, tax_code: None }],
        rows: vec![DraftRow {
            key: key.into(),
            index: 1,
            content_fp: qbsync::domain::content_fingerprint(&sheet[1], &layout),
        }],
    };
    let tax = engine.company.tax_plan(&engine.qbo, &policy).await.unwrap();
    let body = payload::build(&draft, &party[0].id, &policy, &tax).unwrap();
    let intent = Ledger::new(&engine.store).intend(&draft, &body, &party[0].id, &policy.config_fp).unwrap();
    Ledger::new(&engine.store).sending(key).unwrap();
    let request_id = RequestId::parse(&intent.request_id).unwrap();
    let created = engine.qbo.create_body(DocKind::Invoice, &intent.payload, &request_id).await.unwrap();
    drop(engine);

    // Rows keep arriving while the daemon is killed at random.
    let mut appended = Vec::new();
    for life in 0..8 {
        for n in 0..rng.gen_range(1..=2) {
            let number = format!("K-{life}-{n}");
            let row = [number.as_str(), "submitted", "ACD", "Globex Corporation", "", "", "", "25.00", "2025-11-06"];
            world.sandbox.google.append_row(world.tab(), &row).unwrap();
            appended.push(number);
        }
        let mut daemon = world.spawn(&["daemon", "--interval", "1"]);
        tokio::time::sleep(std::time::Duration::from_millis(rng.gen_range(50..1500))).await;
        daemon.start_kill().unwrap();
        daemon.wait().await.unwrap();
    }
    world.run_once_until_idle(6).await;

    let invoices = world.sandbox.qbo.invoices();
    let legacy: Vec<_> = invoices.iter().filter(|d| d.doc_number.as_deref() == Some("①②③")).collect();
    assert_eq!(legacy.len(), 1, "exactly one document for the lost create: {legacy:#?}");
    assert_eq!(legacy[0].id, created.id, "adopted, not sent again");
    assert_eq!(cell(&world, 1, "qb_invoice_id"), created.id);
    assert_eq!(cell(&world, 1, "qb_sync_status"), "synced");
    for number in &appended {
        let docs = invoices.iter().filter(|d| d.doc_number.as_deref() == Some(number.as_str())).count();
        assert_eq!(docs, 1, "{number}: one document");
        assert!(!world.row(number).is_empty(), "{number}");
        assert_eq!(world.cell(number, "qb_sync_status"), "synced", "{number}: no row waits for the stall");
    }
}
