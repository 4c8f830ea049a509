//! The Sheets client against recorded Google answers, over real HTTP.
//!
//! wiremock serves the bodies of the gspread cassettes and the r-lib/gargle 429 under
//! `tests/fixtures/sheets/` (provenance in its `SOURCES.md`), and checks what the real
//! google-sheets4 / yup-oauth2 / reqwest stack sends: paths, encoded ranges and exact JSON bodies.
//! The service-account tests sign real JWTs with a throw-away RSA key made by `openssl` at test time.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use qbsync::domain::Cell;
use qbsync::sheets::{
    CellRun, GoogleCredentials, NewAnchor, RowAnchor, SheetsClient, SheetsError, SheetsSettings, SheetsStats,
};
use secrecy::SecretString;
use serde_json::{Value, json};
use wiremock::matchers::{bearer_token, body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const SHEET: &str = "SHEET_ID";
const TOKEN: &str = "test-token";
const SPREADSHEETS_SCOPE: &str = "https://www.googleapis.com/auth/spreadsheets";

// ---------------------------------------------------------------------------------------------
// Fixtures and set-up
// ---------------------------------------------------------------------------------------------

fn data_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sheets").join(name)
}

fn fixture_text(name: &str) -> String {
    std::fs::read_to_string(data_file(name)).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A gspread cassette interaction: the request as recorded, and the API body of its answer
/// (a JSON string inside the cassette's JSON).
fn cassette(name: &str, index: usize) -> (Value, String) {
    let outer: Value = serde_json::from_str(&fixture_text(name)).expect("cassette is JSON");
    let interaction = &outer["interactions"][index];
    let body = interaction["response"]["body"]["string"].as_str().expect("a body string").to_owned();
    (interaction["request"].clone(), body)
}

fn cassette_body(name: &str, index: usize) -> String {
    cassette(name, index).1
}

fn json_response(status: u16, body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into(), "application/json; charset=UTF-8")
}

fn settings(server: &MockServer, tab: &str) -> SheetsSettings {
    SheetsSettings {
        sheets_api_url: format!("{}/", server.uri()),
        drive_api_url: server.uri(), // no trailing slash on purpose: connect adds it
        timeout: Duration::from_secs(5),
        max_attempts: 3,
        reads_per_minute: 6_000,
        writes_per_minute: 6_000,
        backoff_base: Duration::from_millis(1),
        ..SheetsSettings::new(SHEET, tab)
    }
}

async fn client_with(settings: SheetsSettings) -> SheetsClient {
    SheetsClient::connect(settings, GoogleCredentials::AccessToken(SecretString::from(TOKEN))).await.expect("connects")
}

async fn client(server: &MockServer, tab: &str) -> SheetsClient {
    client_with(settings(server, tab)).await
}

/// A `spreadsheets.get` answer with the given tabs: (title, sheetId, columnCount).
fn spreadsheet(tabs: &[(&str, i32, u32)]) -> String {
    let sheets: Vec<Value> = tabs
        .iter()
        .enumerate()
        .map(|(index, (title, id, columns))| {
            json!({"properties": {"sheetId": id, "title": title, "index": index, "sheetType": "GRID",
                "gridProperties": {"rowCount": 1000, "columnCount": columns}}})
        })
        .collect();
    json!({"spreadsheetId": SHEET, "properties": {"title": "Demo books", "locale": "en_US", "timeZone": "America/New_York"},
        "sheets": sheets})
    .to_string()
}

fn values_path(encoded_range: &str) -> String {
    format!("/v4/spreadsheets/{SHEET}/values/{encoded_range}")
}

/// Mounts `spreadsheets.get`, expected exactly `times` times.
async fn mount_spreadsheet(server: &MockServer, body: String, times: u64) {
    Mock::given(method("GET"))
        .and(path(format!("/v4/spreadsheets/{SHEET}")))
        .and(query_param("includeGridData", "false"))
        .and(query_param(
            "fields",
            "properties(title,timeZone),sheets(properties(sheetId,title,index,gridProperties(rowCount,columnCount)))",
        ))
        .and(bearer_token(TOKEN))
        .respond_with(json_response(200, body))
        .expect(times)
        .mount(server)
        .await;
}

fn text(s: &str) -> Cell {
    Cell::Text(s.into())
}

fn number(s: &str) -> Cell {
    Cell::Number(s.into())
}

fn stats(reads: u64, writes: u64, drive_reads: u64, throttled: u64, retries: u64) -> SheetsStats {
    SheetsStats { reads, writes, drive_reads, throttled, retries }
}

// ---------------------------------------------------------------------------------------------
// Reading values
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn values_get_under_each_render_option_becomes_cells() {
    let server = MockServer::start().await;
    let client = client(&server, "Sheet1").await;
    let all_text = vec![
        vec![text("2"), text("2020-01-01"), text("string"), text("53")],
        vec![text("1.5"), text("0.12"), text("1999-01-02")],
    ];
    let cases = [
        // UNFORMATTED_VALUE + SERIAL_NUMBER: what qbsync asks for. Numbers keep their JSON text.
        (
            "cassette_values_get_render_options.json",
            8,
            vec![
                vec![number("2"), number("43831"), text("string"), number("53")],
                vec![number("1.5"), number("0.12"), number("36162")],
            ],
        ),
        // UNFORMATTED_VALUE + FORMATTED_STRING: dates as text, other numbers as numbers.
        (
            "cassette_values_get_render_options.json",
            9,
            vec![
                vec![number("2"), text("2020-01-01"), text("string"), number("53")],
                vec![number("1.5"), number("0.12"), text("1999-01-02")],
            ],
        ),
        // FORMATTED_VALUE (either date option): everything is display text.
        ("cassette_values_get_render_options.json", 10, all_text.clone()),
        ("cassette_values_get_render_options.json", 11, all_text),
        // FORMULA: the formula text, values unformatted.
        (
            "cassette_values_get_formula_render.json",
            9,
            vec![
                vec![text("=4/2"), number("43831"), text("string"), number("53")],
                vec![text("=3/2"), number("0.12"), number("36162")],
            ],
        ),
    ];
    for (file, index, expected) in cases {
        server.reset().await;
        Mock::given(method("GET"))
            .and(path(values_path("%27Sheet1%27")))
            .and(query_param("valueRenderOption", "UNFORMATTED_VALUE"))
            .and(query_param("dateTimeRenderOption", "SERIAL_NUMBER"))
            .and(query_param("majorDimension", "ROWS"))
            .and(bearer_token(TOKEN))
            .respond_with(json_response(200, cassette_body(file, index)))
            .expect(1)
            .mount(&server)
            .await;
        assert_eq!(client.read_values().await.expect("values"), expected, "{file} #{index}");
        server.verify().await;
    }
}

#[tokio::test]
async fn ragged_rows_and_blank_middle_rows_come_back_as_sent() {
    let server = MockServer::start().await;
    // The read-back after the RAW batchUpdate: `[["A1","B1","","D1"],[],[],["A4","B4","","D4"]]`.
    Mock::given(method("GET"))
        .and(path(values_path("%27Sheet1%27")))
        .respond_with(json_response(200, cassette_body("cassette_values_batch_update_raw.json", 6)))
        .mount(&server)
        .await;
    let rows = client(&server, "Sheet1").await.read_values().await.expect("values");
    assert_eq!(
        rows,
        vec![
            vec![text("A1"), text("B1"), Cell::Empty, text("D1")],
            vec![],
            vec![],
            vec![text("A4"), text("B4"), Cell::Empty, text("D4")],
        ]
    );
}

#[tokio::test]
async fn a_range_without_values_is_no_rows() {
    let server = MockServer::start().await;
    let body = cassette_body("cassette_values_get_render_options.json", 6);
    assert!(!body.contains("\"values\""), "the recorded empty range has no values key");
    Mock::given(method("GET"))
        .and(path(values_path("%27Sheet1%27")))
        .respond_with(json_response(200, body))
        .mount(&server)
        .await;
    let client = client(&server, "Sheet1").await;
    assert_eq!(client.read_values().await.expect("values"), Vec::<Vec<Cell>>::new());
    assert_eq!(client.stats(), stats(1, 0, 0, 0, 0));
}

#[tokio::test]
async fn an_unknown_tab_lists_the_tabs_there_are() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(values_path("%27inv_tbl%27")))
        .respond_with(json_response(
            400,
            json!({"error": {"code": 400, "message": "Unable to parse range: 'inv_tbl'", "status": "INVALID_ARGUMENT"}})
                .to_string(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    mount_spreadsheet(&server, cassette_body("cassette_values_get_render_options.json", 1), 1).await;
    let error = client(&server, "inv_tbl").await.read_values().await.expect_err("no such tab");
    assert_eq!(error, SheetsError::TabNotFound { tab: "inv_tbl".into(), available: vec!["Sheet1".into()] });
}

// ---------------------------------------------------------------------------------------------
// Writing values
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn write_cells_sends_exactly_the_recorded_raw_batch_update() {
    let server = MockServer::start().await;
    let (request, answer) = cassette("cassette_values_batch_update_raw.json", 5);
    let recorded: Value = serde_json::from_str(request["body"].as_str().expect("recorded body")).expect("JSON body");
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}/values:batchUpdate")))
        .and(bearer_token(TOKEN))
        .and(body_json(&recorded))
        .respond_with(json_response(200, answer))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, "Sheet1").await;
    let runs = [
        CellRun { row: 0, col: 0, values: vec![text("A1"), text("B1"), Cell::Empty, text("D1")] },
        CellRun { row: 3, col: 0, values: vec![text("A4"), text("B4"), Cell::Empty, text("D4")] },
    ];
    client.write_cells(&runs).await.expect("written");
    assert_eq!(client.stats(), stats(0, 1, 0, 0, 0));
}

#[tokio::test]
async fn awkward_tab_names_are_quoted_in_bodies_and_encoded_in_paths() {
    let server = MockServer::start().await;
    let tab = "Jon's Data #2";
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}/values:batchUpdate")))
        .and(body_json(json!({"valueInputOption": "RAW", "data": [
            {"range": "'Jon''s Data #2'!O5:R5", "values": [["=HYPERLINK(\"x\")", 12.5, "", true]]},
            {"range": "'Jon''s Data #2'!AA1:AA1", "values": [["qb_error"]]}
        ]})))
        .respond_with(json_response(200, json!({"spreadsheetId": SHEET, "totalUpdatedCells": 5}).to_string()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(values_path("%27Jon%27%27s%20Data%20%232%27")))
        .respond_with(json_response(
            200,
            json!({"range": "'Jon''s Data #2'!A1:AA5", "majorDimension": "ROWS"}).to_string(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, tab).await;
    client
        .write_cells(&[
            CellRun {
                row: 4,
                col: 14,
                values: vec![text("=HYPERLINK(\"x\")"), number("12.5"), Cell::Empty, Cell::Bool(true)],
            },
            CellRun { row: 0, col: 26, values: vec![text("qb_error")] },
        ])
        .await
        .expect("written");
    assert!(client.read_values().await.expect("read").is_empty());
}

#[tokio::test]
async fn writing_nothing_sends_nothing() {
    let server = MockServer::start().await;
    let client = client(&server, "Sheet1").await;
    client.write_cells(&[]).await.expect("no-op");
    client.write_cells(&[CellRun { row: 3, col: 2, values: vec![] }]).await.expect("no-op");
    client.update_anchors(&[], &[]).await.expect("no-op");
    assert_eq!(server.received_requests().await.expect("recording").len(), 0);
    assert_eq!(client.stats(), SheetsStats::default());
}

// ---------------------------------------------------------------------------------------------
// Errors, retries, timeouts, pacing
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_unknown_spreadsheet_is_spreadsheet_not_found() {
    let server = MockServer::start().await;
    let not_found = cassette_body("cassette_error_404_not_found.json", 3);
    Mock::given(method("GET")).respond_with(json_response(404, not_found)).mount(&server).await;
    let client = client(&server, "inv_tbl").await;
    let expected = SheetsError::SpreadsheetNotFound { id: SHEET.into() };
    assert_eq!(client.tab_info().await.expect_err("404"), expected);
    assert_eq!(client.read_values().await.expect_err("404"), expected);
    // Final at once: no retries.
    assert_eq!(client.stats(), stats(2, 0, 0, 0, 0));
}

#[tokio::test]
async fn a_throttled_read_is_retried_and_counted() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(values_path("%27Sheet1%27")))
        .respond_with(json_response(429, fixture_text("error_429_resource_exhausted_read_quota.json")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(values_path("%27Sheet1%27")))
        .respond_with(json_response(200, cassette_body("cassette_values_get_render_options.json", 8)))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, "Sheet1").await;
    let rows = client.read_values().await.expect("values after the retry");
    assert_eq!(rows[0][1], number("43831"));
    assert_eq!(client.stats(), stats(2, 0, 0, 1, 1));
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let server = MockServer::start().await;
    let internal = json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}});
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}/values:batchUpdate")))
        .respond_with(json_response(500, internal.to_string()))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}/values:batchUpdate")))
        .respond_with(json_response(200, cassette_body("cassette_values_batch_update_raw.json", 5)))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, "Sheet1").await;
    client.write_cells(&[CellRun { row: 1, col: 0, values: vec![text("x")] }]).await.expect("written on retry");
    assert_eq!(client.stats(), stats(0, 2, 0, 0, 1));
}

#[tokio::test]
async fn a_persistent_503_becomes_unavailable_after_every_attempt() {
    let server = MockServer::start().await;
    let unavailable =
        json!({"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}});
    Mock::given(method("GET")).respond_with(json_response(503, unavailable.to_string())).expect(3).mount(&server).await;
    let client = client(&server, "Sheet1").await;
    let error = client.read_values().await.expect_err("503 throughout");
    let SheetsError::Unavailable { reason } = &error else { panic!("expected Unavailable, got {error:?}") };
    assert!(reason.contains("failed 3 time(s)") && reason.contains("HTTP 503 UNAVAILABLE"), "{reason}");
    assert!(error.is_unavailable());
    assert_eq!(client.stats(), stats(3, 0, 0, 0, 2));
}

#[tokio::test]
async fn a_hanging_server_times_out_as_unavailable() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            json_response(200, cassette_body("cassette_values_get_render_options.json", 8))
                .set_delay(Duration::from_secs(30)),
        )
        .expect(2)
        .mount(&server)
        .await;
    let client = client_with(SheetsSettings {
        timeout: Duration::from_millis(200),
        max_attempts: 2,
        ..settings(&server, "Sheet1")
    })
    .await;
    let error = client.read_values().await.expect_err("no answer");
    let SheetsError::Unavailable { reason } = &error else { panic!("expected Unavailable, got {error:?}") };
    assert!(reason.contains("no answer within 200ms"), "{reason}");
    assert_eq!(client.stats(), stats(2, 0, 0, 0, 1));
}

#[tokio::test]
async fn a_refused_fixed_token_is_a_credentials_error_at_once() {
    let server = MockServer::start().await;
    let unauthenticated = json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.",
        "status": "UNAUTHENTICATED"}});
    Mock::given(method("GET"))
        .respond_with(json_response(401, unauthenticated.to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let error = client(&server, "Sheet1").await.read_values().await.expect_err("401");
    let SheetsError::Credentials { reason } = error else { panic!("expected Credentials, got {error:?}") };
    assert!(reason.contains("Google refused the access token"), "{reason}");
}

#[tokio::test]
async fn pacing_holds_back_requests_beyond_the_minutes_budget() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(json_response(200, cassette_body("cassette_values_get_render_options.json", 8)))
        .mount(&server)
        .await;
    let client = client_with(SheetsSettings { reads_per_minute: 1, ..settings(&server, "Sheet1") }).await;
    client.read_values().await.expect("the minute's one read");
    // The next read slot opens a minute later: within a few hundred milliseconds nothing is sent.
    let held = tokio::time::timeout(Duration::from_millis(300), client.read_values()).await;
    assert!(held.is_err(), "a second read within the minute must wait");
    assert_eq!(server.received_requests().await.expect("recording").len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Tab info, columns, Drive
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tab_info_reads_the_recorded_spreadsheet() {
    let server = MockServer::start().await;
    mount_spreadsheet(&server, cassette_body("cassette_values_get_render_options.json", 1), 1).await;
    let info = client(&server, "Sheet1").await.tab_info().await.expect("tab info");
    assert_eq!((info.sheet_id, info.row_count, info.column_count), (0, 1000, 26));
    assert_eq!(info.time_zone, "Etc/GMT");
}

#[tokio::test]
async fn ensure_columns_appends_only_the_missing_columns() {
    let server = MockServer::start().await;
    mount_spreadsheet(&server, spreadsheet(&[("Notes", 0, 26), ("inv_tbl", 5, 14)]), 1).await;
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}:batchUpdate")))
        .and(body_json(json!({"requests": [{"appendDimension": {"sheetId": 5, "dimension": "COLUMNS", "length": 5}}]})))
        .respond_with(json_response(200, json!({"spreadsheetId": SHEET, "replies": [{}]}).to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, "inv_tbl").await;
    client.ensure_columns(19).await.expect("widened");
    server.verify().await;

    // Wide enough already: a read, no write.
    server.reset().await;
    mount_spreadsheet(&server, spreadsheet(&[("inv_tbl", 5, 19)]), 1).await;
    client.ensure_columns(19).await.expect("nothing to do");
    assert_eq!(client.stats(), stats(2, 1, 0, 0, 0));
}

#[tokio::test]
async fn drive_version_reads_files_get() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v3/files/{SHEET}")))
        .and(query_param("fields", "version,modifiedTime"))
        .and(query_param("supportsAllDrives", "true"))
        .and(bearer_token(TOKEN))
        .respond_with(json_response(
            200,
            json!({"version": "4321", "modifiedTime": "2023-09-06T21:30:02.174Z"}).to_string(),
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // The recorded answer (asked for other fields) has only modifiedTime: that is used instead.
    Mock::given(method("GET"))
        .and(path(format!("/drive/v3/files/{SHEET}")))
        .respond_with(json_response(200, cassette_body("cassette_drive_files_get_modified_time.json", 2)))
        .mount(&server)
        .await;
    let client = client(&server, "inv_tbl").await;
    assert_eq!(client.drive_version().await.expect("version"), "4321");
    assert_eq!(client.drive_version().await.expect("modifiedTime"), "2023-09-06T21:29:57.905Z");
    assert_eq!(client.stats(), stats(0, 0, 2, 0, 0));
}

#[tokio::test]
async fn a_drive_rate_limit_403_is_retried() {
    let server = MockServer::start().await;
    let limited = json!({"error": {"errors": [{"domain": "usageLimits", "reason": "userRateLimitExceeded",
        "message": "User Rate Limit Exceeded"}], "code": 403, "message": "User Rate Limit Exceeded"}});
    Mock::given(method("GET"))
        .and(path(format!("/drive/v3/files/{SHEET}")))
        .respond_with(json_response(403, limited.to_string()))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v3/files/{SHEET}")))
        .respond_with(json_response(200, json!({"version": "9"}).to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, "inv_tbl").await;
    assert_eq!(client.drive_version().await.expect("version after the retry"), "9");
    assert_eq!(client.stats(), stats(0, 0, 2, 1, 1));
}

// ---------------------------------------------------------------------------------------------
// Row anchors (developer metadata)
// ---------------------------------------------------------------------------------------------

fn metadata(id: i32, key: &str, value: &str, sheet_id: i32, dimension: &str, row: i32) -> Value {
    json!({"developerMetadata": {"metadataId": id, "metadataKey": key, "metadataValue": value, "visibility": "DOCUMENT",
        "location": {"locationType": if dimension == "ROWS" { "ROW" } else { "COLUMN" },
            "dimensionRange": {"sheetId": sheet_id, "dimension": dimension, "startIndex": row, "endIndex": row + 1}}},
        "dataFilters": [{"developerMetadataLookup": {"metadataKey": "qbsync.row"}}]})
}

async fn mount_search(server: &MockServer, matched: Vec<Value>) {
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}/developerMetadata:search")))
        // Only what is read: the answer would otherwise repeat each entry's filter.
        .and(query_param(
            "fields",
            "matchedDeveloperMetadata/developerMetadata(metadataId,metadataKey,metadataValue,location/dimensionRange(sheetId,dimension,startIndex))",
        ))
        .and(bearer_token(TOKEN))
        .and(body_json(json!({"dataFilters": [{"developerMetadataLookup": {"metadataKey": "qbsync.row"}}]})))
        .respond_with(json_response(200, json!({"matchedDeveloperMetadata": matched}).to_string()))
        .mount(server)
        .await;
}

#[tokio::test]
async fn anchors_are_this_tabs_row_metadata_sorted_by_row() {
    let server = MockServer::start().await;
    mount_spreadsheet(&server, spreadsheet(&[("Archive", 0, 26), ("inv_tbl", 5, 14)]), 1).await;
    mount_search(
        &server,
        vec![
            metadata(41, "qbsync.row", "row-b", 5, "ROWS", 9),
            metadata(40, "qbsync.row", "row-a", 5, "ROWS", 2),
            metadata(42, "qbsync.row", "row-old", 0, "ROWS", 2), // the Archive tab
            metadata(43, "qbsync.row", "col", 5, "COLUMNS", 3),
        ],
    )
    .await;
    let client = client(&server, "inv_tbl").await;
    let expected = vec![
        RowAnchor { metadata_id: 40, key: "row-a".into(), row: 2 },
        RowAnchor { metadata_id: 41, key: "row-b".into(), row: 9 },
    ];
    assert_eq!(client.anchors().await.expect("anchors"), expected);
    // The sheet id is remembered: the second search costs one read, not two.
    assert_eq!(client.anchors().await.expect("anchors"), expected);
    assert_eq!(client.stats(), stats(3, 0, 0, 0, 0));

    // Read again like an answer already held, the same anchors come back as that very answer
    // (nothing decoded); after a change, the new ones.
    let held = client.anchors_like(None).await.expect("anchors");
    let again = client.anchors_like(Some(&held)).await.expect("anchors");
    assert!(again.is_same_answer(&held));
    assert_eq!(again.as_ptr(), held.as_ptr(), "the list held is handed back, not a copy");
    server.reset().await;
    mount_search(&server, vec![metadata(40, "qbsync.row", "row-a", 5, "ROWS", 3)]).await;
    let moved = client.anchors_like(Some(&held)).await.expect("anchors");
    assert!(!moved.is_same_answer(&held));
    assert_eq!(moved.to_vec(), vec![RowAnchor { metadata_id: 40, key: "row-a".into(), row: 3 }]);
}

#[tokio::test]
async fn update_anchors_deletes_and_creates_in_one_batch_update() {
    let server = MockServer::start().await;
    mount_spreadsheet(&server, spreadsheet(&[("inv_tbl", 5, 14)]), 1).await;
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}:batchUpdate")))
        .and(bearer_token(TOKEN))
        .and(body_json(json!({"requests": [
            {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": 40}}}},
            {"createDeveloperMetadata": {"developerMetadata": {"metadataKey": "qbsync.row", "metadataValue": "row-c",
                "visibility": "DOCUMENT", "location": {"dimensionRange": {"sheetId": 5, "dimension": "ROWS", "startIndex": 3, "endIndex": 4}}}}},
            {"createDeveloperMetadata": {"developerMetadata": {"metadataKey": "qbsync.row", "metadataValue": "row-d",
                "visibility": "DOCUMENT", "location": {"dimensionRange": {"sheetId": 5, "dimension": "ROWS", "startIndex": 17, "endIndex": 18}}}}}
        ]})))
        .respond_with(json_response(200, json!({"spreadsheetId": SHEET, "replies": [{}, {}, {}]}).to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, "inv_tbl").await;
    let create = [NewAnchor { row: 3, key: "row-c".into() }, NewAnchor { row: 17, key: "row-d".into() }];
    client.update_anchors(&create, &[40]).await.expect("updated");
    assert_eq!(client.stats(), stats(1, 1, 0, 0, 0));
}

#[tokio::test]
async fn after_a_lost_anchor_update_only_what_is_missing_is_sent_again() {
    let server = MockServer::start().await;
    mount_spreadsheet(&server, spreadsheet(&[("inv_tbl", 5, 14)]), 1).await;
    // The first update is applied but its answer never arrives; the retry searches first, sees
    // row-c anchored and anchor 40 gone, and sends only row-d.
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}:batchUpdate")))
        .respond_with(
            json_response(200, json!({"spreadsheetId": SHEET}).to_string()).set_delay(Duration::from_secs(30)),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_search(&server, vec![metadata(77, "qbsync.row", "row-c", 5, "ROWS", 3)]).await;
    Mock::given(method("POST"))
        .and(path(format!("/v4/spreadsheets/{SHEET}:batchUpdate")))
        .and(body_json(json!({"requests": [
            {"createDeveloperMetadata": {"developerMetadata": {"metadataKey": "qbsync.row", "metadataValue": "row-d",
                "visibility": "DOCUMENT", "location": {"dimensionRange": {"sheetId": 5, "dimension": "ROWS", "startIndex": 17, "endIndex": 18}}}}}
        ]})))
        .respond_with(json_response(200, json!({"spreadsheetId": SHEET, "replies": [{}]}).to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let client =
        client_with(SheetsSettings { timeout: Duration::from_millis(300), ..settings(&server, "inv_tbl") }).await;
    let create = [NewAnchor { row: 3, key: "row-c".into() }, NewAnchor { row: 17, key: "row-d".into() }];
    client.update_anchors(&create, &[40]).await.expect("completed on retry");
    // spreadsheets.get + search; two writes; one retry.
    assert_eq!(client.stats(), stats(2, 2, 0, 0, 1));
}

// ---------------------------------------------------------------------------------------------
// The real service-account flow (yup-oauth2) against a local token endpoint
// ---------------------------------------------------------------------------------------------

/// A throw-away 2048-bit RSA key made once per test run: (PKCS#8 PEM, PKCS#1 public key DER).
fn throwaway_key() -> &'static (String, Vec<u8>) {
    static KEY: OnceLock<(String, Vec<u8>)> = OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let private = dir.path().join("key.pem");
        let public = dir.path().join("pub.der");
        let run = |args: &[&str]| {
            let status = std::process::Command::new("openssl")
                .args(args)
                .stderr(std::process::Stdio::null())
                .status()
                .expect("these tests need the `openssl` command to make a throw-away RSA key");
            assert!(status.success(), "openssl {args:?} failed");
        };
        let private_arg = private.to_str().expect("utf-8 path");
        run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private_arg]);
        run(&[
            "rsa",
            "-in",
            private_arg,
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            public.to_str().expect("utf-8"),
        ]);
        (std::fs::read_to_string(&private).expect("PEM"), std::fs::read(&public).expect("DER"))
    })
}

const ACCOUNT: &str = "qbsync-test@throwaway-project.iam.gserviceaccount.com";

fn service_account(server: &MockServer) -> GoogleCredentials {
    let key = json!({
        "type": "service_account",
        "project_id": "throwaway-project",
        "private_key_id": "throwaway-test-key",
        "private_key": throwaway_key().0,
        "client_email": ACCOUNT,
        "client_id": "1",
        "token_uri": format!("{}/token", server.uri()),
    });
    GoogleCredentials::ServiceAccountKey(SecretString::from(key.to_string()))
}

async fn service_account_client(server: &MockServer, tab: &str) -> SheetsClient {
    SheetsClient::connect(settings(server, tab), service_account(server)).await.expect("connects")
}

fn token_answer(token: &str) -> ResponseTemplate {
    json_response(200, json!({"access_token": token, "expires_in": 3599, "token_type": "Bearer"}).to_string())
}

fn token_endpoint() -> wiremock::MockBuilder {
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string_contains("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"))
}

#[derive(Debug, serde::Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    scope: String,
    iat: i64,
    exp: i64,
}

/// Checks the JWT assertion of a token request with the throw-away key's public half, and
/// returns its claims.
fn verified_claims(request: &Request, token_uri: &str) -> Claims {
    use base64::Engine as _;
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&request.body).into_owned().collect();
    let assertion = form.iter().find(|(k, _)| k == "assertion").map(|(_, v)| v.as_str()).expect("an assertion");
    // yup-oauth2 pads its base64url segments with `=` and signs the padded text (Google accepts
    // that), so the signature is checked over the segments exactly as sent.
    let (signed, signature) = assertion.rsplit_once('.').expect("header.claims.signature");
    let key = jsonwebtoken::DecodingKey::from_rsa_der(&throwaway_key().1);
    let valid = jsonwebtoken::crypto::verify(
        signature.trim_end_matches('='),
        signed.as_bytes(),
        &key,
        jsonwebtoken::Algorithm::RS256,
    )
    .expect("a verifiable signature");
    assert!(valid, "the assertion is signed by the service account's key");
    let (header, claims) = signed.split_once('.').expect("header.claims");
    let decode = |segment: &str| base64::engine::general_purpose::URL_SAFE.decode(segment).expect("base64url");
    let header: Value = serde_json::from_slice(&decode(header)).expect("JSON header");
    assert_eq!(header, json!({"alg": "RS256", "typ": "JWT"}));
    let claims: Claims = serde_json::from_slice(&decode(claims)).expect("JSON claims");
    assert_eq!(claims.aud, token_uri);
    claims
}

#[tokio::test]
async fn the_service_account_flow_signs_a_jwt_and_its_token_reaches_sheets() {
    let server = MockServer::start().await;
    token_endpoint().respond_with(token_answer("ya29.fake-1")).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(values_path("%27inv_tbl%27")))
        .and(bearer_token("ya29.fake-1"))
        .respond_with(json_response(200, cassette_body("cassette_values_get_render_options.json", 8)))
        .expect(2)
        .mount(&server)
        .await;
    let client = service_account_client(&server, "inv_tbl").await;
    assert_eq!(client.read_values().await.expect("values").len(), 2);
    // The token is cached: a second call does not go back to the token endpoint.
    assert_eq!(client.read_values().await.expect("values").len(), 2);

    let requests = server.received_requests().await.expect("recording");
    let token_requests: Vec<&Request> = requests.iter().filter(|r| r.url.path() == "/token").collect();
    assert_eq!(token_requests.len(), 1);
    let claims = verified_claims(token_requests[0], &format!("{}/token", server.uri()));
    assert_eq!(claims.iss, ACCOUNT);
    assert_eq!(claims.aud, format!("{}/token", server.uri()));
    assert_eq!(claims.scope, SPREADSHEETS_SCOPE, "only the spreadsheets scope (trap 3)");
    assert!(claims.exp > claims.iat);
}

#[tokio::test]
async fn a_sheet_not_shared_names_the_service_account() {
    let server = MockServer::start().await;
    token_endpoint().respond_with(token_answer("ya29.fake-1")).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("/v4/spreadsheets/{SHEET}")))
        .respond_with(json_response(403, cassette_body("cassette_error_403_permission_denied.json", 3)))
        .expect(1)
        .mount(&server)
        .await;
    let client = service_account_client(&server, "inv_tbl").await;
    let error = client.tab_info().await.expect_err("403");
    assert_eq!(error, SheetsError::NotShared { account: Some(ACCOUNT.into()) });
    assert!(error.to_string().contains(&format!("add {ACCOUNT} as an Editor")), "{error}");
}

#[tokio::test]
async fn a_rejected_access_token_is_refreshed_once() {
    let server = MockServer::start().await;
    token_endpoint().respond_with(token_answer("ya29.first")).up_to_n_times(1).expect(1).mount(&server).await;
    token_endpoint().respond_with(token_answer("ya29.second")).expect(1).mount(&server).await;
    let unauthenticated = json!({"error": {"code": 401, "message": "Request had invalid authentication credentials.",
        "status": "UNAUTHENTICATED"}});
    Mock::given(method("GET"))
        .and(bearer_token("ya29.first"))
        .respond_with(json_response(401, unauthenticated.to_string()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(values_path("%27inv_tbl%27")))
        .and(bearer_token("ya29.second"))
        .respond_with(json_response(200, cassette_body("cassette_values_get_render_options.json", 8)))
        .expect(1)
        .mount(&server)
        .await;
    let client = service_account_client(&server, "inv_tbl").await;
    assert_eq!(client.read_values().await.expect("values with the refreshed token").len(), 2);
    assert_eq!(client.stats(), stats(2, 0, 0, 0, 1));
}

#[tokio::test]
async fn a_refused_key_is_a_credentials_error_and_sheets_is_never_called() {
    let server = MockServer::start().await;
    token_endpoint()
        .respond_with(json_response(
            400,
            json!({"error": "invalid_grant", "error_description": "Invalid JWT Signature."}).to_string(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = service_account_client(&server, "inv_tbl").await;
    let error = client.read_values().await.expect_err("refused key");
    let SheetsError::Credentials { reason } = &error else { panic!("expected Credentials, got {error:?}") };
    assert!(reason.contains("refused the service-account key: invalid_grant: Invalid JWT Signature."), "{reason}");
    let requests = server.received_requests().await.expect("recording");
    assert!(requests.iter().all(|r| r.url.path() == "/token"), "no Sheets request without a token");
    assert_eq!(client.stats(), SheetsStats::default(), "nothing was sent to Sheets");
}

#[tokio::test]
async fn drive_gets_its_own_read_only_metadata_token() {
    let server = MockServer::start().await;
    token_endpoint().respond_with(token_answer("ya29.drive")).expect(1).mount(&server).await;
    Mock::given(method("GET"))
        .and(path(format!("/drive/v3/files/{SHEET}")))
        .and(bearer_token("ya29.drive"))
        .respond_with(json_response(200, json!({"version": "12"}).to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let client = service_account_client(&server, "inv_tbl").await;
    assert_eq!(client.drive_version().await.expect("version"), "12");
    let requests = server.received_requests().await.expect("recording");
    let token_request = requests.iter().find(|r| r.url.path() == "/token").expect("a token request");
    let claims = verified_claims(token_request, &format!("{}/token", server.uri()));
    assert_eq!(claims.scope, "https://www.googleapis.com/auth/drive.metadata.readonly");
}

// ---------------------------------------------------------------------------------------------
// Values and anchors in one read (`read_rows_with_anchors`), against the sandbox
// ---------------------------------------------------------------------------------------------

/// Every kind of cell a bookkeeper's sheet holds, typed as a person types them: text, numbers,
/// a currency amount, ISO and US dates (serial numbers), booleans, formulas that compute a
/// number, an error or an unknown name, text that looks like a number, blanks in the middle and
/// at the end, a blank row between rows.
const EVERY_KIND: &str = "invoice,amount,date,paid,sum,ratio,code,gap,total,us_date,name\n\
ACD-1,1234.5,2025-11-05,TRUE,=0.1+0.2,=1/0,'0012,,\"$1,234.50\",11/5/2025,=foo\n\
ACD-2,-50,Nov 5 2025,FALSE,=B3*2,=B3/4,'=not a formula,x,0,,O'Brien & Sons\n\
,\n\
ACD-3,\"(100.00)\",,,=A2,,'1e3\n\
ACD-4\n";

async fn sandbox_with(csv: &str) -> qbsync::sandbox::Sandbox {
    let options = qbsync::sandbox::SandboxOptions { sheet_csv: Some(csv.to_owned()), ..Default::default() };
    qbsync::sandbox::Sandbox::start(options).await.expect("sandbox starts")
}

async fn sandbox_client(sandbox: &qbsync::sandbox::Sandbox) -> SheetsClient {
    let settings = SheetsSettings {
        sheets_api_url: sandbox.base_url().to_owned(),
        drive_api_url: sandbox.base_url().to_owned(),
        timeout: Duration::from_secs(10),
        backoff_base: Duration::from_millis(1),
        reads_per_minute: 6_000,
        writes_per_minute: 6_000,
        ..SheetsSettings::new(sandbox.google.spreadsheet_id(), sandbox.google.tab())
    };
    let token = GoogleCredentials::AccessToken(SecretString::from(sandbox.google.issue_token()));
    SheetsClient::connect(settings, token).await.expect("connects")
}

/// Keeps every row of a grid read with the anchors handed with it, and the anchors handed first.
#[derive(Default)]
struct RowsWithAnchors {
    anchors: Option<Vec<RowAnchor>>,
    rows: Vec<(usize, Vec<Cell>, Vec<RowAnchor>)>,
}

impl qbsync::sheets::RowSink for RowsWithAnchors {
    fn row(&mut self, row: usize, raw: qbsync::sheets::RawRow<'_>) -> Result<(), SheetsError> {
        assert!(self.anchors.is_some(), "the anchors are handed over before the first row");
        self.rows.push((row, raw.cells()?, raw.anchors().to_vec()));
        Ok(())
    }

    fn restart(&mut self) {
        *self = RowsWithAnchors::default();
    }

    fn anchors(&mut self, anchors: &qbsync::sheets::Anchors) -> Result<(), SheetsError> {
        self.anchors = Some(anchors.to_vec());
        Ok(())
    }
}

/// The grid read and today's two reads (values, anchors) of the same sheet agree exactly.
async fn assert_one_read_matches_two(client: &SheetsClient) -> RowsWithAnchors {
    let values = client.read_values().await.expect("values.get");
    let anchors = client.anchors().await.expect("developerMetadata:search");
    let mut sink = RowsWithAnchors::default();
    let read = client.read_rows_with_anchors(&mut sink).await.expect("grid read");
    let rows: Vec<Vec<Cell>> = sink.rows.iter().map(|(_, cells, _)| cells.clone()).collect();
    assert_eq!(rows, values, "the same cells as values.get, row for row");
    assert_eq!(sink.rows.iter().map(|(row, _, _)| *row).collect::<Vec<_>>(), (0..values.len()).collect::<Vec<_>>());
    assert_eq!(read.anchors.to_vec(), anchors, "the same anchors as the search");
    assert_eq!(sink.anchors.as_deref(), Some(&anchors[..]));
    assert_eq!(read.index.len(), values.len());
    for (row, _, on_row) in &sink.rows {
        let expected: Vec<RowAnchor> = anchors.iter().filter(|a| a.row as usize == *row).cloned().collect();
        assert_eq!(on_row, &expected, "row {row} comes with its own anchors");
    }
    sink
}

#[tokio::test]
async fn one_grid_read_gives_the_cells_and_anchors_of_the_two_reads_it_replaces() {
    let sandbox = sandbox_with(EVERY_KIND).await;
    let client = sandbox_client(&sandbox).await;
    // Anchors on data rows, on the blank row, and on a row after the last value.
    let keys = [(1, "k-acd-1"), (3, "k-blank"), (4, "k-acd-3"), (9, "k-beyond")];
    let create: Vec<NewAnchor> = keys.iter().map(|(row, key)| NewAnchor { row: *row, key: (*key).into() }).collect();
    client.update_anchors(&create, &[]).await.expect("anchors created");

    let sink = assert_one_read_matches_two(&client).await;
    let row = |n: usize| sink.rows[n].1.clone();
    assert_eq!(
        row(1),
        vec![
            text("ACD-1"),
            number("1234.5"),
            number("45966"),
            Cell::Bool(true),
            number("0.30000000000000004"),
            text("#DIV/0!"),
            text("0012"),
            Cell::Empty,
            number("1234.5"),
            number("45966"),
            text("#NAME?"),
        ]
    );
    assert_eq!(row(2)[6], text("=not a formula"), "text that looks like a formula stays text");
    assert_eq!(row(3), vec![], "a blank row in the middle is empty");
    assert_eq!(row(4)[1], text("(100.00)"));
    assert_eq!(row(4)[4], text("ACD-1"), "a formula's text result");
    assert_eq!(sink.rows.len(), 6, "rows after the last value are left out");
    assert_eq!(sink.rows[3].2.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), vec!["k-blank"]);
    let anchors = sink.anchors.expect("anchors");
    assert_eq!(anchors.last().map(|a| (a.key.as_str(), a.row)), Some(("k-beyond", 9)));
}

#[tokio::test]
async fn anchors_read_with_the_rows_follow_inserts_and_deletes() {
    let sandbox = sandbox_with(EVERY_KIND).await;
    let client = sandbox_client(&sandbox).await;
    let create = [(1, "k1"), (2, "k2"), (5, "k4")].map(|(row, key)| NewAnchor { row, key: key.into() });
    client.update_anchors(&create, &[]).await.expect("anchors created");
    let tab = sandbox.google.tab().to_owned();
    sandbox.google.insert_row(&tab, 1, &["NEW-1", "7"]).expect("insert");
    sandbox.google.insert_rows(&tab, 1, 2).expect("insert blank rows");
    sandbox.google.delete_row(&tab, 5).expect("delete the row anchored k2 (now row 5)");

    let sink = assert_one_read_matches_two(&client).await;
    let anchored: Vec<(String, usize, String)> = sink
        .rows
        .iter()
        .flat_map(|(row, cells, anchors)| {
            let invoice = cells.first().map(|c| c.as_text().into_owned()).unwrap_or_default();
            anchors.iter().map(move |a| (a.key.clone(), *row, invoice.clone()))
        })
        .collect();
    assert_eq!(anchored, vec![("k1".into(), 4, "ACD-1".into()), ("k4".into(), 7, "ACD-4".into())]);
}

#[tokio::test]
async fn a_grid_read_is_one_read_request_whose_digests_move_with_values_and_anchors() {
    let sandbox = sandbox_with(EVERY_KIND).await;
    let client = sandbox_client(&sandbox).await;
    client.tab_info().await.expect("tab info");
    let before = client.stats();
    let first = client.read_rows_with_anchors(&mut qbsync::sheets::DigestsOnly).await.expect("grid read");
    assert_eq!(client.stats().reads, before.reads + 1, "values and anchors in one request");
    let again = client.read_rows_with_anchors(&mut qbsync::sheets::DigestsOnly).await.expect("grid read");
    assert!((0..first.index.len()).all(|row| first.index.digest(row) == again.index.digest(row)));
    assert!(first.anchors.is_same_answer(&again.anchors));

    client.update_anchors(&[NewAnchor { row: 2, key: "k".into() }], &[]).await.expect("anchor");
    let anchored = client.read_rows_with_anchors(&mut qbsync::sheets::DigestsOnly).await.expect("grid read");
    assert_eq!(anchored.index.digest(2), first.index.digest(2), "the row's cells did not change");
    assert!(!anchored.anchors.is_same_answer(&first.anchors), "an anchor is part of what was seen");

    sandbox.google.set_cell(sandbox.google.tab(), 2, 1, "51").expect("edit");
    let edited = client.read_rows_with_anchors(&mut qbsync::sheets::DigestsOnly).await.expect("grid read");
    assert_ne!(edited.index.digest(2), anchored.index.digest(2));
    assert_eq!(edited.index.digest(1), anchored.index.digest(1));
    assert!(edited.anchors.is_same_answer(&anchored.anchors), "no anchor moved");
}

#[tokio::test]
async fn a_grid_read_of_a_missing_tab_lists_the_tabs_there_are() {
    let sandbox = sandbox_with(EVERY_KIND).await;
    let settings = SheetsSettings {
        sheets_api_url: sandbox.base_url().to_owned(),
        backoff_base: Duration::from_millis(1),
        ..SheetsSettings::new(sandbox.google.spreadsheet_id(), "nope")
    };
    let token = GoogleCredentials::AccessToken(SecretString::from(sandbox.google.issue_token()));
    let client = SheetsClient::connect(settings, token).await.expect("connects");
    let error = client.read_rows_with_anchors(&mut qbsync::sheets::DigestsOnly).await.expect_err("no such tab");
    assert_eq!(
        error,
        SheetsError::TabNotFound { tab: "nope".into(), available: vec![sandbox.google.tab().to_owned()] }
    );
}

/// The rows reach the sink while the answer is still arriving: a server that sends the second
/// half of its answer only once the sink has had a row would never finish for a client that
/// gathers the answer first (it would time out).
#[tokio::test]
async fn rows_reach_the_sink_before_the_answer_is_complete() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rows: Vec<Value> =
        (0..200).map(|n| json!({"values": [{"effectiveValue": {"stringValue": format!("INV-{n}")}}]})).collect();
    let metadata = vec![json!({}); 200];
    let body = serde_json::to_vec(&json!({"sheets": [{"data": [
        {"rowData": &rows[..1], "rowMetadata": metadata},
        {"rowData": rows, "rowMetadata": metadata},
    ]}]}))
    .unwrap();
    let half = body.len() / 2;
    let (first_row_tx, first_row_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let tab_info = spreadsheet(&[("inv_tbl", 0, 26)]);
    tokio::spawn(async move {
        let mut first_row_rx = Some(first_row_rx);
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut byte = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = socket.read(&mut byte).await.unwrap();
                head.extend_from_slice(&byte[..n]);
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let answer =
                if head.contains("includeGridData=false") { tab_info.as_bytes().to_vec() } else { body.clone() };
            let start = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                answer.len()
            );
            socket.write_all(start.as_bytes()).await.unwrap();
            if head.contains("includeGridData=true") {
                socket.write_all(&answer[..half]).await.unwrap();
                socket.flush().await.unwrap();
                if let Some(rx) = first_row_rx.take() {
                    // Waits until the client has handed a row over.
                    let _ = rx.await;
                }
                socket.write_all(&answer[half..]).await.unwrap();
            } else {
                socket.write_all(&answer).await.unwrap();
            }
            let _ = socket.shutdown().await;
        }
    });

    struct Signal(Option<tokio::sync::oneshot::Sender<()>>, usize);
    impl qbsync::sheets::RowSink for Signal {
        fn row(&mut self, _: usize, _: qbsync::sheets::RawRow<'_>) -> Result<(), SheetsError> {
            self.1 += 1;
            if let Some(tx) = self.0.take() {
                let _ = tx.send(());
            }
            Ok(())
        }
        fn restart(&mut self) {}
    }
    let settings = SheetsSettings {
        sheets_api_url: format!("http://{address}/"),
        timeout: Duration::from_secs(5),
        max_attempts: 1,
        ..SheetsSettings::new(SHEET, "inv_tbl")
    };
    let client = client_with(settings).await;
    let mut sink = Signal(Some(first_row_tx), 0);
    let read = client.read_rows_with_anchors(&mut sink).await.expect("the answer arrives in two halves");
    assert_eq!((sink.1, read.index.len()), (200, 200));
}

/// A write of cells answered with the rows it wrote: the same cells a grid read then gives,
/// typed as RAW types them, each row with its anchors, one spreadsheets.batchUpdate and no read.
#[tokio::test]
async fn a_write_answers_with_the_rows_it_wrote_as_a_grid_read_then_shows_them() {
    let sandbox = sandbox_with(EVERY_KIND).await;
    let client = sandbox_client(&sandbox).await;
    client.update_anchors(&[NewAnchor { row: 2, key: "k-acd-2".into() }], &[]).await.expect("anchor created");
    let runs = [
        CellRun { row: 1, col: 7, values: vec![text("=1+1"), Cell::Empty, number("12.50")] },
        CellRun { row: 2, col: 0, values: vec![text("ACD-2b")] },
        CellRun { row: 2, col: 12, values: vec![Cell::Bool(true)] },
    ];
    let before = client.stats();
    let (written, landed) = client.write_cells_and_look(&runs).await.expect("written");
    assert!(written.held_back.is_empty());
    let after = client.stats();
    assert_eq!((after.reads - before.reads, after.writes - before.writes), (0, 1), "one write, no read");
    let landed = landed.expect("the answer shows the rows");

    let sink = assert_one_read_matches_two(&client).await;
    assert_eq!(landed.iter().map(|l| l.row).collect::<Vec<_>>(), [1, 2], "one row each, in order");
    for row in &landed {
        let (_, cells, anchors) = &sink.rows[row.row as usize];
        assert_eq!(&row.cells, cells, "row {} as a grid read shows it", row.row);
        assert_eq!(&row.anchors, anchors, "row {} with its anchors", row.row);
    }
    assert_eq!(landed[0].cells[7], text("=1+1"), "text stays text");
    assert_eq!(landed[0].cells[8], Cell::Empty, "an empty cell is cleared");
    assert_eq!(landed[0].cells[9], number("12.5"));
    assert_eq!(landed[1].cells[0], text("ACD-2b"));
    assert_eq!(landed[1].cells[12], Cell::Bool(true));
    assert_eq!(landed[1].anchors.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), ["k-acd-2"]);
}

/// A write Google refuses whole (here for a run past the grid's edge) is sent again as values:batchUpdate, which holds back only the run
/// refused; the caller is told to look for itself.
#[tokio::test]
async fn a_write_refused_whole_is_split_as_before_and_answers_no_rows() {
    let sandbox = sandbox_with(EVERY_KIND).await;
    let client = sandbox_client(&sandbox).await;
    let runs = [
        CellRun { row: 1, col: 7, values: vec![text("kept")] },
        CellRun { row: 5_000, col: 0, values: vec![text("past the grid")] },
    ];
    let (_, landed) = client.write_cells_and_look(&runs).await.expect("written");
    assert_eq!(landed, None);
    assert_eq!(client.read_values().await.expect("read")[1][7], text("kept"));
}

/// Google indents its answers unless asked not to (`prettyPrint`, default true): every read
/// whose size grows with the tab asks for compact answers, and gets them; a request that does
/// not ask gets the indented answer Google would send.
#[tokio::test]
async fn reads_that_grow_with_the_tab_ask_for_compact_answers() {
    let sandbox = sandbox_with(EVERY_KIND).await;
    let client = sandbox_client(&sandbox).await;
    sandbox.requests().clear();
    client.read_values().await.expect("values.get");
    client.read_rows_with_anchors(&mut RowsWithAnchors::default()).await.expect("grid read");
    client.anchors().await.expect("developerMetadata:search");
    client.write_cells_and_look(&[CellRun { row: 1, col: 7, values: vec![text("x")] }]).await.expect("written");
    let plain: Vec<_> = sandbox
        .requests()
        .all()
        .into_iter()
        .filter(|r| {
            r.path.contains("/values/")
                || r.path.ends_with("developerMetadata:search")
                || r.query_param("includeGridData").as_deref() == Some("true")
                || r.query_param("fields").is_some_and(|f| f.starts_with("updatedSpreadsheet"))
        })
        .collect();
    assert_eq!(plain.len(), 4, "{plain:#?}");
    for request in &plain {
        assert_eq!(request.query_param("prettyPrint").as_deref(), Some("false"), "{}", request.path);
    }

    let url = format!("{}v4/spreadsheets/{}/values/A1:B2", sandbox.base_url(), sandbox.google.spreadsheet_id());
    let answer = |url: String| async {
        let response =
            reqwest::Client::new().get(url).bearer_auth(sandbox.google.issue_token()).send().await.expect("answered");
        response.text().await.expect("a body")
    };
    let indented = answer(url.clone()).await;
    assert!(indented.starts_with("{\n  \"range\": ") || indented.contains("\n  \"range\": "), "{indented}");
    let compact = answer(format!("{url}?prettyPrint=false")).await;
    assert!(!compact.contains('\n'), "{compact}");
    assert_eq!(serde_json::from_str::<Value>(&indented).unwrap(), serde_json::from_str::<Value>(&compact).unwrap());
}
