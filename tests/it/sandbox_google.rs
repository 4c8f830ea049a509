//! The Google emulator, driven over real HTTP by the real clients: the google-sheets4 hub
//! authenticated by yup-oauth2's service-account flow (a real JWT grant against the sandbox's
//! token endpoint), and reqwest for what the hub cannot show (raw bodies, headers, Drive).
//! Every recorded fixture in `shared/fixtures/sheets/` is replayed and compared by shape.

use std::time::Duration;

use google_sheets4::api::{
    BatchGetValuesByDataFilterRequest, BatchUpdateSpreadsheetRequest, BatchUpdateValuesByDataFilterRequest,
    SearchDeveloperMetadataRequest, ValueRange,
};
use google_sheets4::{Error as SheetsError, Sheets, api::Scope, hyper_rustls, hyper_util, yup_oauth2};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use qbsync::domain::Cell;
use qbsync::sandbox::faults::endpoint;
use qbsync::sandbox::google::{MetadataMoves, MetadataOnMove, QuotaConfig, SortOrder};
use qbsync::sandbox::{FaultRule, Sandbox, SandboxOptions};
use serde_json::{Value, json};

type Connector = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;
type Hub = Sheets<Connector>;

const TAB: &str = "inv_tbl";

async fn start() -> Sandbox {
    start_with(SandboxOptions::default()).await
}

async fn start_with(options: SandboxOptions) -> Sandbox {
    Sandbox::start(options).await.expect("sandbox starts")
}

/// The real hub, authenticated by the real service-account flow against the sandbox.
async fn hub(sandbox: &Sandbox) -> Hub {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let connector =
        hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots().https_or_http().enable_http1().build();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let key = yup_oauth2::parse_service_account_key(sandbox.google.service_account_json()).expect("key parses");
    let auth = yup_oauth2::ServiceAccountAuthenticator::builder(key).build().await.expect("authenticator");
    let mut hub = Sheets::new(client, auth);
    hub.base_url(sandbox.base_url().to_owned());
    hub.root_url(sandbox.base_url().to_owned());
    hub
}

/// A1 ranges must be percent-encoded by the caller: google-sheets4 does not (trap 2).
fn enc(range: &str) -> String {
    utf8_percent_encode(range, NON_ALPHANUMERIC).to_string()
}

/// reqwest with a bearer token the sandbox issued.
struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Api {
    fn new(sandbox: &Sandbox) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: sandbox.base_url().to_owned(),
            token: Some(sandbox.google.issue_token()),
        }
    }

    fn with_token(sandbox: &Sandbox, token: Option<String>) -> Api {
        Api { token, ..Api::new(sandbox) }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Answer {
        self.try_send(method, path, body, None).await.expect("request completes")
    }

    async fn try_send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        timeout: Option<Duration>,
    ) -> reqwest::Result<Answer> {
        let mut request = self.client.request(method, format!("{}{}", self.base, path.trim_start_matches('/')));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok(Answer { status, headers, body })
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> Answer {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
}

fn sheets_path(sandbox: &Sandbox, rest: &str) -> String {
    format!("v4/spreadsheets/{}{rest}", sandbox.google.spreadsheet_id())
}

/// Same keys, same JSON types, recursively; arrays compared element-wise on their first element.
fn same_shape(actual: &Value, expected: &Value, path: &str) -> Result<(), String> {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => {
            let mut ak: Vec<&String> = a.keys().collect();
            let mut ek: Vec<&String> = e.keys().collect();
            ak.sort();
            ek.sort();
            if ak != ek {
                return Err(format!("{path}: keys {ak:?} != recorded {ek:?}"));
            }
            for key in ek {
                same_shape(&a[key], &e[key], &format!("{path}.{key}"))?;
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(e)) => match (a.first(), e.first()) {
            (Some(x), Some(y)) => same_shape(x, y, &format!("{path}[0]")),
            (None, None) => Ok(()),
            _ => Err(format!("{path}: array emptiness differs ({} vs recorded {})", a.len(), e.len())),
        },
        (Value::Number(_), Value::Number(_))
        | (Value::String(_), Value::String(_))
        | (Value::Bool(_), Value::Bool(_))
        | (Value::Null, Value::Null) => Ok(()),
        _ => Err(format!("{path}: {actual} is not the same JSON type as recorded {expected}")),
    }
}

/// google-sheets4 serialises absent fields as `null`; drop them to compare with the wire form.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, without_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

fn assert_same_shape(actual: &Value, expected: &Value) {
    if let Err(difference) = same_shape(actual, expected, "$") {
        panic!("shape differs: {difference}\nactual:   {actual}\nrecorded: {expected}");
    }
}

/// A recorded fixture (a copy of `shared/fixtures/sheets/`, see `tests/fixtures/README.md`).
fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sheets").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// Replays a gspread cassette against the sandbox: the Drive "create" and "delete" calls are
/// replaced by creating the recorded spreadsheets up front; every other call is sent as recorded
/// and must answer the recorded status with the recorded body's shape. Calls on the values
/// collection must also answer the recorded body exactly.
async fn replay_cassette(name: &str, prepare: impl Fn(&Sandbox, &str)) -> usize {
    let sandbox = start().await;
    let cassette = fixture(name);
    let interactions = cassette["interactions"].as_array().expect("interactions");
    for interaction in interactions {
        let request = &interaction["request"];
        if request["method"] == "POST" && request["uri"].as_str().is_some_and(|u| u.contains("/drive/v3/files?")) {
            let created: Value =
                serde_json::from_str(interaction["response"]["body"]["string"].as_str().unwrap_or("{}"))
                    .expect("recorded create body");
            let id = created["id"].as_str().expect("created id");
            sandbox.google.add_spreadsheet(id, created["name"].as_str().unwrap_or_default()).expect("add spreadsheet");
            prepare(&sandbox, id);
        }
    }
    let api = Api::new(&sandbox);
    let mut replayed = 0;
    for interaction in interactions {
        let request = &interaction["request"];
        let method = request["method"].as_str().unwrap_or_default();
        let uri = request["uri"].as_str().unwrap_or_default();
        if method == "DELETE" || (method == "POST" && uri.contains("/drive/v3/files?")) {
            continue;
        }
        let path = uri
            .strip_prefix("https://sheets.googleapis.com/")
            .or_else(|| uri.strip_prefix("https://www.googleapis.com/"))
            .unwrap_or_else(|| panic!("unexpected host in {uri}"));
        let body = match &request["body"] {
            Value::String(s) if !s.is_empty() => Some(serde_json::from_str(s).expect("recorded request body")),
            _ => None,
        };
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let answer = api.send(method, path, body).await;
        let recorded = &interaction["response"];
        let recorded_body: Value =
            serde_json::from_str(recorded["body"]["string"].as_str().unwrap_or("null")).expect("recorded body");
        assert_eq!(
            answer.status,
            recorded["status"]["code"].as_u64().unwrap_or_default() as u16,
            "{uri}: {}",
            answer.body
        );
        assert_same_shape(&answer.body, &recorded_body);
        if path.contains("/values") {
            assert_eq!(answer.body, recorded_body, "{uri}");
        }
        replayed += 1;
    }
    replayed
}

// ---------------------------------------------------------------- fixtures, one test each

#[tokio::test]
async fn fixture_values_get_render_options() {
    assert_eq!(replay_cassette("cassette_values_get_render_options.json", |_, _| {}).await, 21);
}

#[tokio::test]
async fn fixture_values_get_formula_render() {
    assert_eq!(replay_cassette("cassette_values_get_formula_render.json", |_, _| {}).await, 9);
}

#[tokio::test]
async fn fixture_values_batch_update_raw() {
    assert_eq!(replay_cassette("cassette_values_batch_update_raw.json", |_, _| {}).await, 11);
}

#[tokio::test]
async fn fixture_values_append_raw() {
    assert_eq!(replay_cassette("cassette_values_append_raw.json", |_, _| {}).await, 11);
}

#[tokio::test]
async fn fixture_error_404_not_found() {
    assert_eq!(replay_cassette("cassette_error_404_not_found.json", |_, _| {}).await, 7);
}

#[tokio::test]
async fn fixture_error_403_permission_denied() {
    // The 403 was recorded on a spreadsheet the service account could not see.
    let replayed = replay_cassette("cassette_error_403_permission_denied.json", |sandbox, id| {
        if id.starts_with("1_EaBz") {
            let hidden = "1jIKzPs8LsiZZdLdeMEP-5ZIHw6RkjiOmj1LrJN706Yc";
            sandbox.google.add_spreadsheet(hidden, "private").expect("add private");
            sandbox.google.set_shared_for(hidden, false).expect("unshare");
        }
    })
    .await;
    assert_eq!(replayed, 2);
}

#[tokio::test]
async fn fixture_drive_files_get_modified_time() {
    assert_eq!(replay_cassette("cassette_drive_files_get_modified_time.json", |_, _| {}).await, 4);
}

#[tokio::test]
async fn fixture_error_429_resource_exhausted_read_quota() {
    let sandbox = start_with(SandboxOptions { enforce_limits: true, ..SandboxOptions::default() }).await;
    let api = Api::new(&sandbox);
    let path = sheets_path(&sandbox, "");
    for _ in 0..60 {
        assert_eq!(api.get(&path).await.status, 200);
    }
    let refused = api.get(&path).await;
    let recorded = fixture("error_429_resource_exhausted_read_quota.json");
    assert_eq!(refused.status, 429);
    assert_same_shape(&refused.body, &recorded);
    let (ours, theirs) = (&refused.body["error"], &recorded["error"]);
    assert_eq!(ours["status"], theirs["status"]);
    assert_eq!(ours["details"][0]["reason"], theirs["details"][0]["reason"]);
    assert_eq!(ours["details"][0]["metadata"]["quota_limit"], theirs["details"][0]["metadata"]["quota_limit"]);
    assert_eq!(ours["details"][0]["metadata"]["quota_limit_value"], "60");
    assert!(refused.headers.get("retry-after").is_none(), "Google sends no Retry-After");
}

// ---------------------------------------------------------------- auth

#[tokio::test]
async fn service_account_jwt_grant_authenticates_the_real_hub() {
    let sandbox = start().await;
    let hub = hub(&sandbox).await;
    let (_, spreadsheet) = hub
        .spreadsheets()
        .get(sandbox.google.spreadsheet_id())
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("spreadsheets.get");
    let sheet = &spreadsheet.sheets.as_ref().expect("sheets")[0];
    let props = sheet.properties.as_ref().expect("properties");
    assert_eq!(props.title.as_deref(), Some(TAB));
    assert_eq!(props.grid_properties.as_ref().and_then(|g| g.row_count), Some(1000));
    assert_eq!(spreadsheet.properties.as_ref().and_then(|p| p.time_zone.as_deref()), Some("Etc/GMT"));
    let grants = sandbox.requests().matching("POST", "/google/token");
    assert_eq!(grants.len(), 1, "one JWT grant, then the cached token");
    assert_eq!(
        grants[0].body.split('&').next(),
        Some("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
    );
}

fn unsigned_jwt(claims: Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.c2lnbmF0dXJl", b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#), b64.encode(claims.to_string()))
}

async fn token_request(sandbox: &Sandbox, grant_type: &str, claims: Value) -> (u16, Value) {
    let form = [("grant_type", grant_type.to_owned()), ("assertion", unsigned_jwt(claims))];
    let response =
        reqwest::Client::new().post(sandbox.google.token_uri()).form(&form).send().await.expect("token request");
    (response.status().as_u16(), response.json().await.expect("json"))
}

#[tokio::test]
async fn token_endpoint_checks_claims_like_google() {
    let sandbox =
        start_with(SandboxOptions { google_token_lifetime: Duration::from_secs(1234), ..Default::default() }).await;
    let now = chrono::Utc::now().timestamp();
    let jwt_bearer = "urn:ietf:params:oauth:grant-type:jwt-bearer";
    let claims = |aud: &str, exp: i64, scope: &str| json!({"iss": "x@y.iam.gserviceaccount.com", "aud": aud, "iat": now, "exp": exp, "scope": scope});
    let sheets = "https://www.googleapis.com/auth/spreadsheets";
    let aud = sandbox.google.token_uri();

    let (status, ok) = token_request(&sandbox, jwt_bearer, claims(&aud, now + 3000, sheets)).await;
    assert_eq!(status, 200);
    assert!(ok["access_token"].as_str().is_some_and(|t| t.starts_with("ya29.sandbox-")));
    assert_eq!(ok["expires_in"], 1234);
    assert_eq!(ok["token_type"], "Bearer");
    let api = Api::with_token(&sandbox, ok["access_token"].as_str().map(str::to_owned));
    assert_eq!(api.get(&sheets_path(&sandbox, "")).await.status, 200);

    let cases = [
        (claims("https://oauth2.googleapis.com/token", now + 3000, sheets), "invalid_grant"),
        (claims(&aud, now - 10, sheets), "invalid_grant"),
        (claims(&aud, now + 3000, "https://www.googleapis.com/auth/drive.readonly"), "invalid_scope"),
        (json!({"aud": aud, "exp": now + 3000, "scope": sheets}), "invalid_grant"),
    ];
    for (claims, error) in cases {
        let (status, body) = token_request(&sandbox, jwt_bearer, claims.clone()).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(error)), "{claims}");
        assert!(body["error_description"].is_string());
    }
    let (status, body) = token_request(&sandbox, "password", claims(&aud, now + 3000, sheets)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));
}

#[tokio::test]
async fn sheets_errors_are_googles_401_403_404_and_400() {
    let sandbox = start().await;
    let path = sheets_path(&sandbox, "/values/inv_tbl!A1:B2");
    let unauthenticated = json!({"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.", "status": "UNAUTHENTICATED"}});

    let missing = Api::with_token(&sandbox, None).get(&path).await;
    assert_eq!((missing.status, &missing.body), (401, &unauthenticated));
    assert!(missing.headers.get("www-authenticate").is_some());
    let unknown = Api::with_token(&sandbox, Some("ya29.made-up".into())).get(&path).await;
    assert_eq!((unknown.status, &unknown.body), (401, &unauthenticated));
    let api = Api::new(&sandbox);
    assert_eq!(api.get(&path).await.status, 200);
    sandbox.google.expire_tokens();
    let expired = api.get(&path).await;
    assert_eq!((expired.status, &expired.body), (401, &unauthenticated));

    let api = Api::new(&sandbox);
    sandbox.google.set_shared(false);
    let denied = api.get(&path).await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.body,
        json!({"error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}})
    );
    sandbox.google.set_shared(true);

    let missing_sheet = api.get("v4/spreadsheets/no-such-spreadsheet").await;
    assert_eq!(missing_sheet.status, 404);
    assert_eq!(
        missing_sheet.body,
        json!({"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}})
    );

    let bad_range = api.get(&sheets_path(&sandbox, "/values/Nope!A1")).await;
    assert_eq!(bad_range.status, 400);
    assert_eq!(bad_range.body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(bad_range.body["error"]["message"], "Unable to parse range: Nope!A1");
    let no_input = api.put(&sheets_path(&sandbox, "/values/inv_tbl!A1"), json!({"values": [["x"]]})).await;
    assert_eq!(no_input.status, 400);
    assert_eq!(no_input.body["error"]["message"], "'valueInputOption' is required but not specified");
    let bad_json = api.post(&sheets_path(&sandbox, ":batchUpdate"), json!({"requests": [{"noSuchRequest": {}}]})).await;
    assert_eq!(bad_json.status, 400);
    assert_eq!(bad_json.body["error"]["status"], "INVALID_ARGUMENT");
}

// ---------------------------------------------------------------- reading

#[tokio::test]
async fn render_options_over_the_hub_match_the_recorded_values() {
    let sandbox = start().await;
    let hub = hub(&sandbox).await;
    let id = "render-options";
    sandbox.google.add_spreadsheet(id, "render").expect("add");
    let data = ValueRange {
        values: Some(vec![
            vec![json!("=4/2"), json!("2020-01-01"), json!("string"), json!(53)],
            vec![json!("=3/2"), json!(0.12), json!("1999-01-02"), json!("")],
        ]),
        ..Default::default()
    };
    let (_, updated) = hub
        .spreadsheets()
        .values_update(data, id, &enc("'Sheet1'!A1:D2"))
        .value_input_option("USER_ENTERED")
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("update");
    assert_eq!((updated.updated_range.as_deref(), updated.updated_cells), (Some("Sheet1!A1:D2"), Some(8)));
    let read = |value: &'static str, date: &'static str, major: &'static str| {
        let hub = &hub;
        async move {
            let (_, range) = hub
                .spreadsheets()
                .values_get(id, &enc("'Sheet1'!A1:D2"))
                .value_render_option(value)
                .date_time_render_option(date)
                .major_dimension(major)
                .add_scope(Scope::Spreadsheet)
                .doit()
                .await
                .expect("get");
            json!(range.values)
        }
    };
    assert_eq!(
        read("UNFORMATTED_VALUE", "SERIAL_NUMBER", "ROWS").await,
        json!([[2, 43831, "string", 53], [1.5, 0.12, 36162]])
    );
    assert_eq!(
        read("UNFORMATTED_VALUE", "FORMATTED_STRING", "ROWS").await,
        json!([[2, "2020-01-01", "string", 53], [1.5, 0.12, "1999-01-02"]])
    );
    let formatted = json!([["2", "2020-01-01", "string", "53"], ["1.5", "0.12", "1999-01-02"]]);
    assert_eq!(read("FORMATTED_VALUE", "SERIAL_NUMBER", "ROWS").await, formatted, "date option ignored when formatted");
    assert_eq!(read("FORMATTED_VALUE", "FORMATTED_STRING", "ROWS").await, formatted);
    assert_eq!(
        read("FORMULA", "SERIAL_NUMBER", "ROWS").await,
        json!([["=4/2", 43831, "string", 53], ["=3/2", 0.12, 36162]])
    );
    assert_eq!(
        read("UNFORMATTED_VALUE", "SERIAL_NUMBER", "COLUMNS").await,
        json!([[2, 1.5], [43831, 0.12], ["string", 36162], [53]])
    );
}

#[tokio::test]
async fn ranges_arrive_raw_or_encoded_in_every_a1_form_and_come_back_canonical() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let add_tab = json!({"requests": [{"addSheet": {"properties": {"title": "Jon's Data", "gridProperties": {"rowCount": 10, "columnCount": 3}}}}]});
    let added = api.post(&sheets_path(&sandbox, ":batchUpdate"), add_tab).await;
    assert_eq!(added.body["replies"][0]["addSheet"]["properties"]["title"], "Jon's Data");
    let (jon, jon_all) = (enc("'Jon''s Data'!A1:B2"), enc("'Jon''s Data'"));
    let cases = [
        ("inv_tbl!A1:B2", "inv_tbl!A1:B2"),
        ("%27inv_tbl%27%21A1%3AB2", "inv_tbl!A1:B2"),
        ("inv_tbl!A:A", "inv_tbl!A1:A1000"),
        ("inv_tbl!1:2", "inv_tbl!A1:Z2"),
        ("inv_tbl!A5:A", "inv_tbl!A5:A1000"),
        ("'inv_tbl'!A1:1", "inv_tbl!A1:Z1"),
        ("inv_tbl", "inv_tbl!A1:Z1000"),
        ("A1:B2", "inv_tbl!A1:B2"),
        ("inv_tbl!$C$3", "inv_tbl!C3"),
        (jon.as_str(), "'Jon''s Data'!A1:B2"),
        (jon_all.as_str(), "'Jon''s Data'!A1:C10"),
    ];
    for (sent, canonical) in cases {
        let answer = api.get(&sheets_path(&sandbox, &format!("/values/{sent}"))).await;
        assert_eq!((answer.status, answer.body["range"].as_str()), (200, Some(canonical)), "{sent}: {}", answer.body);
    }
    let header = api.get(&sheets_path(&sandbox, "/values/inv_tbl!A1:C1")).await;
    assert_eq!(header.body["values"], json!([["invoice", "status", "inv_from"]]));
    let beyond = api.get(&sheets_path(&sandbox, "/values/inv_tbl!A1:AB2")).await;
    assert_eq!(beyond.status, 400);
    assert!(beyond.body["error"]["message"].as_str().is_some_and(|m| m.contains("exceeds grid limits")));

    let hub = hub(&sandbox).await;
    let (_, batch) = hub
        .spreadsheets()
        .values_batch_get(sandbox.google.spreadsheet_id())
        // Query parameters are encoded by the crate itself, unlike the path (trap 2).
        .add_ranges("inv_tbl!A1")
        .add_ranges("inv_tbl!B2:B3")
        .value_render_option("UNFORMATTED_VALUE")
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("batchGet");
    let ranges: Vec<Value> =
        batch.value_ranges.expect("valueRanges").into_iter().map(|r| json!([r.range, r.values])).collect();
    assert_eq!(
        ranges,
        vec![json!(["inv_tbl!A1", [["invoice"]]]), json!(["inv_tbl!B2:B3", [["submitted"], ["submitted"]]])]
    );
}

#[tokio::test]
async fn rows_are_ragged_middle_rows_empty_and_an_empty_range_has_no_values_key() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let body = json!({"valueInputOption": "RAW", "data": [
        {"range": "inv_tbl!P1:S1", "values": [["A1", "B1", "", "D1"]]},
        {"range": "inv_tbl!P4:S4", "values": [["A4", "", "", ""]]}]});
    let written = api.post(&sheets_path(&sandbox, "/values:batchUpdate"), body).await;
    assert_eq!(written.body["totalUpdatedCells"], 8);
    let read = api.get(&sheets_path(&sandbox, "/values/inv_tbl!P1:S6")).await;
    assert_eq!(
        read.body,
        json!({"range": "inv_tbl!P1:S6", "majorDimension": "ROWS", "values": [["A1", "B1", "", "D1"], [], [], ["A4"]]})
    );
    let empty = api.get(&sheets_path(&sandbox, "/values/inv_tbl!T1:U9")).await;
    assert_eq!(empty.body, json!({"range": "inv_tbl!T1:U9", "majorDimension": "ROWS"}));

    let hub = hub(&sandbox).await;
    let (_, range) = hub
        .spreadsheets()
        .values_get(sandbox.google.spreadsheet_id(), "inv_tbl!T1:U9")
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("get");
    assert_eq!(range.values, None, "the hub sees no values at all");
}

#[tokio::test]
async fn the_demo_sheet_has_the_promised_variety() {
    let sandbox = start().await;
    let google = &sandbox.google;
    let rows = google.rows(TAB).expect("rows");
    assert!(rows.len() >= 31, "{} rows", rows.len());
    let col = |name| google.header_index(TAB, name).expect(name);
    let (invoice, inv_from, to_client, end_client, dollars, date, status) = (
        col("invoice"),
        col("inv_from"),
        col("to_client"),
        col("end_client"),
        col("inv_dollars"),
        col("submitted_date"),
        col("status"),
    );
    assert!(rows.iter().skip(1).any(|r| r.iter().all(Cell::is_blank)), "a blank row in the middle");
    assert!(rows.iter().any(|r| r[invoice].as_text().chars().count() > 21));
    assert!(rows.iter().skip(1).any(|r| r[invoice].is_blank() && !r[inv_from].is_blank()));
    assert!(rows.iter().any(|r| r[to_client].as_text() == "O'Brien & Sons"));
    assert!(rows.iter().any(|r| r[to_client].is_blank() && !r[end_client].is_blank()));
    for name in [
        "ACD",
        "ACD Training",
        "acd llc",
        "Accelebrate Inc",
        "Jane Smith Consulting",
        "Bob's Burger Joint",
        "Northwind Traders",
    ] {
        assert!(rows.iter().any(|r| r[inv_from].as_text() == name), "{name}");
    }
    for s in ["submitted", "pending", "Submitted", "draft", "paid"] {
        assert!(rows.iter().any(|r| r[status].as_text() == s), "{s}");
    }
    let amounts: Vec<&Cell> = rows.iter().map(|r| &r[dollars]).collect();
    for expected in [
        Cell::Number("1234.5".into()),
        Cell::Number("0".into()),
        Cell::Number("-50".into()),
        Cell::Text("(100.00)".into()),
    ] {
        assert!(amounts.contains(&&expected), "{expected:?}");
    }
    assert!(amounts.contains(&&Cell::Number("0.30000000000000004".into())), "=0.1+0.2 reads as the double");
    assert!(amounts.contains(&&Cell::Text("1500.00".into())), "a number kept as text");
    let row_of = |inv: &str| rows.iter().position(|r| r[invoice].as_text() == inv).expect(inv);
    assert_eq!(rows[row_of("ACD-2025-0101")][date], Cell::Number("45966".into()));
    assert_eq!(google.formatted_cell(TAB, row_of("ACD-2025-0102"), date).expect("cell"), "11/5/2025");
    assert_eq!(google.formatted_cell(TAB, row_of("ACD-2025-0103"), date).expect("cell"), "Nov 5, 2025");
    assert_eq!(google.formatted_cell(TAB, row_of("ACD-2025-0102"), dollars).expect("cell"), "$1,234.50");
    assert!(rows.iter().skip(1).any(|r| r[date].is_blank() && !r[invoice].is_blank()));
}

// ---------------------------------------------------------------- writing

#[tokio::test]
async fn raw_stores_text_and_user_entered_parses_like_typing() {
    let sandbox = start().await;
    let hub = hub(&sandbox).await;
    let id = sandbox.google.spreadsheet_id();
    let row = vec![
        json!("=1+1"),
        json!("=IMPORTXML(\"http://x\",\"//a\")"),
        json!("0012"),
        json!("11/5/2025"),
        json!("$1,234.50"),
        json!("'7"),
    ];
    let write = |option: &'static str, range: &'static str| {
        let hub = &hub;
        let values = ValueRange { values: Some(vec![row.clone()]), ..Default::default() };
        async move {
            hub.spreadsheets()
                .values_update(values, id, &enc(range))
                .value_input_option(option)
                .add_scope(Scope::Spreadsheet)
                .doit()
                .await
                .expect("update");
        }
    };
    write("RAW", "inv_tbl!P2:U2").await;
    write("USER_ENTERED", "inv_tbl!P3:U3").await;
    let read = |render: &'static str| {
        let hub = &hub;
        async move {
            let (_, range) = hub
                .spreadsheets()
                .values_get(id, &enc("inv_tbl!P2:U3"))
                .value_render_option(render)
                .add_scope(Scope::Spreadsheet)
                .doit()
                .await
                .expect("get");
            json!(range.values)
        }
    };
    assert_eq!(
        read("UNFORMATTED_VALUE").await,
        json!([
            ["=1+1", "=IMPORTXML(\"http://x\",\"//a\")", "0012", "11/5/2025", "$1,234.50", "'7"],
            [2, "#NAME?", 12, 45966, 1234.5, "7"]
        ])
    );
    assert_eq!(read("FORMULA").await[1], json!(["=1+1", "=IMPORTXML(\"http://x\",\"//a\")", 12, 45966, 1234.5, "7"]));
    assert_eq!(read("FORMATTED_VALUE").await[1], json!(["2", "#NAME?", "12", "11/5/2025", "$1,234.50", "7"]));
}

#[tokio::test]
async fn append_reports_table_and_updates_and_clear_empties_the_range() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let appended = api
        .post(
            &sheets_path(
                &sandbox,
                &format!("/values/{}:append?valueInputOption=RAW&insertDataOption=INSERT_ROWS", enc("inv_tbl!A1:N")),
            ),
            json!({"values": [["ACD-2099-0001", "submitted"]]}),
        )
        .await;
    assert_eq!(appended.status, 200, "{}", appended.body);
    // The demo sheet's blank row 15 (index 14) ends the first table.
    assert_eq!(appended.body["tableRange"], "inv_tbl!A1:N14");
    assert_eq!(appended.body["updates"]["updatedRange"], "inv_tbl!A15:B15");
    assert_eq!(appended.body["updates"]["updatedCells"], 2);
    assert_eq!(sandbox.google.cell(TAB, 14, 0).expect("cell"), Cell::Text("ACD-2099-0001".into()));
    assert!(
        sandbox.google.rows(TAB).expect("rows")[15].iter().all(Cell::is_blank),
        "INSERT_ROWS pushed the blank row down"
    );

    let cleared = api.post(&sheets_path(&sandbox, "/values/inv_tbl!A15:B15:clear"), json!({})).await;
    assert_eq!(
        cleared.body,
        json!({"spreadsheetId": sandbox.google.spreadsheet_id(), "clearedRange": "inv_tbl!A15:B15"})
    );
    assert_eq!(sandbox.google.cell(TAB, 14, 0).expect("cell"), Cell::Empty);
}

fn batch(requests: Value) -> BatchUpdateSpreadsheetRequest {
    // `FieldMask` only deserialises from borrowed text, so go through a string.
    serde_json::from_str(&json!({ "requests": requests }).to_string()).expect("request parses")
}

fn row_metadata(value: &str, row: usize, id: Option<i32>) -> Value {
    let mut m = json!({"metadataKey": "qbsync_row", "metadataValue": value, "visibility": "DOCUMENT",
        "location": {"dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": row, "endIndex": row + 1}}});
    if let Some(id) = id {
        m["metadataId"] = json!(id);
    }
    json!({"createDeveloperMetadata": {"developerMetadata": m}})
}

#[tokio::test]
async fn spreadsheet_batch_update_validates_everything_first_and_applies_atomically() {
    let sandbox = start().await;
    let hub = hub(&sandbox).await;
    let id = sandbox.google.spreadsheet_id();
    let version = sandbox.google.drive_version();
    let rows_before = sandbox.google.rows(TAB).expect("rows");
    let failing = batch(json!([
        row_metadata("row-3", 3, Some(77)),
        {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}}},
        {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0, "endIndex": 5000}}},
    ]));
    let error =
        hub.spreadsheets().batch_update(failing, id).add_scope(Scope::Spreadsheet).doit().await.expect_err("invalid");
    let SheetsError::BadRequest(body) = error else { panic!("expected the Google envelope, got {error:?}") };
    assert_eq!(body["error"]["code"], 400);
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.starts_with("Invalid requests[2].deleteDimension")));
    assert!(sandbox.google.developer_metadata().is_empty(), "nothing applied");
    assert_eq!(sandbox.google.rows(TAB).expect("rows"), rows_before);
    assert_eq!(sandbox.google.drive_version(), version);

    let valid = batch(json!([
        row_metadata("row-3", 3, Some(77)),
        {"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}}},
        {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 10}},
        {"updateSheetProperties": {"properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1}}, "fields": "gridProperties.frozenRowCount"}},
    ]));
    let (_, reply) =
        hub.spreadsheets().batch_update(valid, id).add_scope(Scope::Spreadsheet).doit().await.expect("valid");
    let replies = reply.replies.expect("replies");
    assert_eq!(replies.len(), 4, "one reply per request");
    let created =
        replies[0].create_developer_metadata.as_ref().and_then(|r| r.developer_metadata.as_ref()).expect("reply");
    assert_eq!(created.metadata_id, Some(77));
    assert_eq!(created.location.as_ref().and_then(|l| l.location_type.as_deref()), Some("ROW"));
    assert_eq!(without_nulls(json!(replies[1])), json!({}), "insertDimension has an empty reply");
    let view = &sandbox.google.developer_metadata()[0];
    assert_eq!((view.id, view.row), (77, Some(5)), "the insert above moved it");
    let (_, spreadsheet) = hub.spreadsheets().get(id).add_scope(Scope::Spreadsheet).doit().await.expect("get");
    let grid = spreadsheet.sheets.expect("sheets")[0].properties.clone().and_then(|p| p.grid_properties).expect("grid");
    assert_eq!((grid.row_count, grid.column_count), (Some(1012), Some(26)));
}

// ---------------------------------------------------------------- developer metadata

async fn find_row(hub: &Hub, sandbox: &Sandbox, value: &str) -> Option<usize> {
    let search: SearchDeveloperMetadataRequest = serde_json::from_value(
        json!({"dataFilters": [{"developerMetadataLookup": {"metadataKey": "qbsync_row", "metadataValue": value}}]}),
    )
    .expect("search request");
    let (_, found) = hub
        .spreadsheets()
        .developer_metadata_search(search, sandbox.google.spreadsheet_id())
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("search");
    let matched = found.matched_developer_metadata?;
    assert_eq!(matched.len(), 1);
    let location = matched[0].developer_metadata.as_ref()?.location.as_ref()?;
    let range = location.dimension_range.as_ref()?;
    assert_eq!(range.end_index.zip(range.start_index).map(|(e, s)| e - s), Some(1));
    range.start_index.map(|i| i as usize)
}

async fn structural(hub: &Hub, sandbox: &Sandbox, request: Value) {
    hub.spreadsheets()
        .batch_update(batch(json!([request])), sandbox.google.spreadsheet_id())
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("batchUpdate");
}

#[tokio::test]
async fn row_metadata_follows_its_row_through_inserts_deletes_and_drags() {
    let sandbox = start().await;
    let google = &sandbox.google;
    let hub = hub(&sandbox).await;
    let invoice_at = |row: usize| google.cell(TAB, row, 0).expect("cell");
    let ours = Cell::Text("ACD-2025-0105".into());
    assert_eq!(invoice_at(5), ours);
    structural(&hub, &sandbox, row_metadata("row-0105", 5, None)).await;
    let expect_at = |row: Option<usize>| {
        let hub = &hub;
        let sandbox = &sandbox;
        async move {
            let found = find_row(hub, sandbox, "row-0105").await;
            assert_eq!(found, row);
            found
        }
    };
    expect_at(Some(5)).await;

    google.insert_rows(TAB, 2, 3).expect("editor inserts rows");
    expect_at(Some(8)).await;
    structural(
        &hub,
        &sandbox,
        json!({"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}}}),
    )
    .await;
    expect_at(Some(9)).await;
    assert_eq!(invoice_at(9), ours);

    google.move_row(TAB, 9, 1).expect("editor drags the row up");
    expect_at(Some(1)).await;
    structural(&hub, &sandbox, json!({"moveDimension": {"source": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}, "destinationIndex": 20}})).await;
    expect_at(Some(19)).await;
    assert_eq!(invoice_at(19), ours);
    let landed = google.drag_rows(TAB, 18, 2, 4).expect("editor drags two rows up");
    assert_eq!(landed, 4);
    expect_at(Some(5)).await;
    assert_eq!(invoice_at(5), ours);
    assert_eq!(google.drag_rows(TAB, 5, 1, 31).expect("and one down"), 30);
    expect_at(Some(30)).await;
    assert_eq!(invoice_at(30), ours);

    google.delete_row(TAB, 3).expect("editor deletes a row above");
    expect_at(Some(29)).await;
    assert_eq!(invoice_at(29), ours);
    structural(
        &hub,
        &sandbox,
        json!({"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 29, "endIndex": 30}}}),
    )
    .await;
    expect_at(None).await;
    assert!(google.developer_metadata().is_empty(), "deleted with its row");
}

/// `sortRange` of the data rows (all but the header) by column A.
fn sort_range(end_row: usize, order: &str, end_column: Option<usize>) -> Value {
    let mut range = json!({"sheetId": 0, "startRowIndex": 1, "endRowIndex": end_row});
    if let Some(end) = end_column {
        range["endColumnIndex"] = json!(end);
    }
    json!({"sortRange": {"range": range, "sortSpecs": [{"dimensionIndex": 0, "sortOrder": order}]}})
}

/// Loads five rows with A-5 first, anchors row 1, makes `sort` (a `sortRange`, or the control
/// API's sort by invoice when `None`); answers the anchor's row and the row A-5 is on now.
async fn sort_five(sandbox: &Sandbox, hub: &Hub, sort: Option<Value>) -> (Option<usize>, usize) {
    let google = &sandbox.google;
    google.load_csv(TAB, "invoice,amount\nA-5,5\nA-1,1\nA-3,3\nA-2,2\nA-4,4\n").expect("load");
    structural(hub, sandbox, row_metadata("a5", 1, None)).await;
    match sort {
        Some(request) => structural(hub, sandbox, request).await,
        None => google.sort_rows(TAB, "invoice", SortOrder::Ascending).expect("editor sorts"),
    }
    let rows = google.rows(TAB).expect("rows");
    let a5 = rows.iter().position(|r| r[0] == Cell::Text("A-5".into())).expect("A-5 is somewhere");
    assert_eq!(rows[a5][1], Cell::Number("5".into()), "the row's values moved together");
    (find_row(hub, sandbox, "a5").await, a5)
}

/// The sorts an editor or another app can make: the control API's, `sortRange` over whole rows,
/// and `sortRange` over the first two columns only.
fn sorts() -> [Option<Value>; 3] {
    [None, Some(sort_range(6, "ASCENDING", None)), Some(sort_range(6, "ASCENDING", Some(2)))]
}

#[tokio::test]
async fn by_default_a_sort_moves_the_values_and_leaves_row_metadata_on_its_physical_row() {
    let sandbox = start().await;
    assert_eq!(sandbox.google.metadata_moves(), MetadataMoves::both(MetadataOnMove::Stay));
    let hub = hub(&sandbox).await;
    for sort in sorts() {
        assert_eq!(sort_five(&sandbox, &hub, sort.clone()).await, (Some(1), 5), "{sort:?}");
    }
}

#[tokio::test]
async fn set_to_follow_row_metadata_goes_where_its_values_went_whatever_the_width_of_the_sort() {
    let moves = MetadataMoves { sort: MetadataOnMove::Follow, cut_paste: MetadataOnMove::Stay };
    let sandbox = start_with(SandboxOptions { metadata_moves: moves, ..Default::default() }).await;
    let hub = hub(&sandbox).await;
    for sort in sorts() {
        assert_eq!(sort_five(&sandbox, &hub, sort.clone()).await, (Some(5), 5), "{sort:?}");
    }
    sandbox.google.set_metadata_moves(MetadataMoves::both(MetadataOnMove::Stay));
    assert_eq!(sort_five(&sandbox, &hub, None).await, (Some(1), 5), "switched back at run time");
}

#[tokio::test]
async fn set_to_mixed_each_sort_follows_or_stays_and_a_seed_replays_the_same_choices() {
    async fn fates(seed: u64) -> Vec<bool> {
        let moves = MetadataMoves::both(MetadataOnMove::Mixed);
        let sandbox = start_with(SandboxOptions { seed, metadata_moves: moves, ..Default::default() }).await;
        let hub = hub(&sandbox).await;
        let mut followed = Vec::new();
        for _ in 0..16 {
            sandbox.google.load_csv(TAB, "n\n1\n2\n3\n").expect("load");
            structural(&hub, &sandbox, row_metadata("one", 1, None)).await;
            structural(&hub, &sandbox, sort_range(4, "DESCENDING", None)).await;
            assert_eq!(sandbox.google.cell(TAB, 3, 0).expect("cell"), Cell::Number("1".into()));
            match find_row(&hub, &sandbox, "one").await {
                Some(3) => followed.push(true),
                Some(1) => followed.push(false),
                other => panic!("the metadata is on row {other:?}"),
            }
        }
        followed
    }
    let first = fates(41).await;
    assert!(first.contains(&true) && first.contains(&false), "{first:?}");
    assert_eq!(fates(41).await, first);
}

fn cut_paste(source_row: usize, rows: usize, destination_row: usize, paste_type: Option<&str>) -> Value {
    let mut request = json!({
        "source": {"sheetId": 0, "startRowIndex": source_row, "endRowIndex": source_row + rows,
                   "startColumnIndex": 0, "endColumnIndex": 26},
        "destination": {"sheetId": 0, "rowIndex": destination_row, "columnIndex": 0},
    });
    if let Some(kind) = paste_type {
        request["pasteType"] = json!(kind);
    }
    json!({"cutPaste": request})
}

#[tokio::test]
async fn cut_paste_over_the_api_moves_the_values_and_row_metadata_obeys_its_own_switch() {
    let sandbox = start().await;
    let google = &sandbox.google;
    let hub = hub(&sandbox).await;
    let row_5 = google.rows(TAB).expect("rows")[5].clone();
    structural(&hub, &sandbox, row_metadata("row-0105", 5, None)).await;
    structural(&hub, &sandbox, row_metadata("row-0107", 7, None)).await;

    structural(&hub, &sandbox, cut_paste(5, 1, 7, Some("PASTE_NORMAL"))).await;
    let rows = google.rows(TAB).expect("rows");
    assert!(rows[5].iter().all(|c| *c == Cell::Empty), "the source row is blank: {:?}", rows[5]);
    assert_eq!(rows[7], row_5, "the destination shows the cut row, its own values gone");
    assert_eq!(find_row(&hub, &sandbox, "row-0105").await, Some(5), "stay: the metadata is on the blank row");
    assert_eq!(find_row(&hub, &sandbox, "row-0107").await, Some(7));

    // Sorts that carry metadata say nothing about cut and paste.
    google.set_metadata_moves(MetadataMoves { sort: MetadataOnMove::Follow, cut_paste: MetadataOnMove::Stay });
    structural(&hub, &sandbox, cut_paste(7, 1, 12, None)).await;
    assert_eq!(find_row(&hub, &sandbox, "row-0107").await, Some(7));

    google.set_metadata_moves(MetadataMoves { sort: MetadataOnMove::Stay, cut_paste: MetadataOnMove::Follow });
    structural(&hub, &sandbox, cut_paste(12, 1, 3, None)).await;
    assert_eq!(google.rows(TAB).expect("rows")[3], row_5);
    let on_row_3: Vec<Option<String>> =
        google.developer_metadata().into_iter().filter(|m| m.row == Some(3)).map(|m| m.value).collect();
    assert!(on_row_3.is_empty(), "row 12 carried no metadata: {on_row_3:?}");
    structural(&hub, &sandbox, cut_paste(7, 1, 3, None)).await;
    assert_eq!(find_row(&hub, &sandbox, "row-0107").await, Some(3), "follow: the metadata went with the values");
}

#[tokio::test]
async fn cut_paste_is_refused_past_the_grid_and_for_paste_types_the_sandbox_does_not_keep() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let before = sandbox.google.rows(TAB).expect("rows");
    for (request, expected) in [
        (cut_paste(5, 2, 999, None), "Invalid requests[0].cutPaste: the paste at row 999"),
        (
            cut_paste(5, 1, 7, Some("PASTE_FORMAT")),
            "Invalid requests[0].cutPaste: pasteType PASTE_FORMAT is not emulated",
        ),
        (cut_paste(5, 1, 7, Some("PASTE_SOMETIMES")), "Invalid value at 'requests[0].cut_paste.paste_type'"),
        (json!({"cutPaste": {"destination": {"sheetId": 0}}}), "Invalid requests[0].cutPaste: source is required"),
    ] {
        let answer = api.post(&sheets_path(&sandbox, ":batchUpdate"), json!({ "requests": [request] })).await;
        assert_eq!(answer.status, 400, "{}", answer.body);
        let message = answer.body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(expected), "{message}");
        assert_eq!(answer.body["error"]["status"], "INVALID_ARGUMENT");
    }
    assert_eq!(sandbox.google.rows(TAB).expect("rows"), before, "nothing applied");
    let values = json!({"cutPaste": {
        "source": {"sheetId": 0, "startRowIndex": 1, "endRowIndex": 2, "startColumnIndex": 7, "endColumnIndex": 8},
        "destination": {"sheetId": 0, "rowIndex": 40, "columnIndex": 25}, "pasteType": "PASTE_VALUES"}});
    let answer = api.post(&sheets_path(&sandbox, ":batchUpdate"), json!({ "requests": [values] })).await;
    assert_eq!(answer.body, json!({"spreadsheetId": sandbox.google.spreadsheet_id(), "replies": [{}]}));
    assert_eq!(sandbox.google.cell(TAB, 40, 25).expect("cell"), Cell::Number("1234.5".into()));
    assert_eq!(sandbox.google.cell(TAB, 1, 7).expect("cell"), Cell::Empty);
}

#[tokio::test]
async fn metadata_ids_are_unique_get_returns_the_entry_and_copies_do_not_carry_it() {
    let sandbox = start().await;
    let google = &sandbox.google;
    let hub = hub(&sandbox).await;
    let id = google.spreadsheet_id();
    structural(&hub, &sandbox, row_metadata("row-0103", 3, Some(1017))).await;
    structural(&hub, &sandbox, row_metadata("row-0104", 4, None)).await;
    let duplicate = hub
        .spreadsheets()
        .batch_update(batch(json!([row_metadata("again", 6, Some(1017))])), id)
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect_err("id in use");
    assert!(matches!(duplicate, SheetsError::BadRequest(ref b) if b["error"]["code"] == 400));
    let views = google.developer_metadata();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|v| v.id > 0));

    let (_, got) =
        hub.spreadsheets().developer_metadata_get(id, 1017).add_scope(Scope::Spreadsheet).doit().await.expect("get");
    assert_eq!(
        without_nulls(json!(got)),
        json!({"metadataId": 1017, "metadataKey": "qbsync_row", "metadataValue": "row-0103", "visibility": "DOCUMENT",
               "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": 3, "endIndex": 4}}})
    );
    let missing =
        hub.spreadsheets().developer_metadata_get(id, 999).add_scope(Scope::Spreadsheet).doit().await.expect_err("404");
    assert!(matches!(missing, SheetsError::BadRequest(ref b) if b["error"]["code"] == 404));

    google.copy_row(TAB, 3, 10).expect("editor duplicates the row");
    assert_eq!(google.cell(TAB, 10, 0).expect("cell"), google.cell(TAB, 3, 0).expect("cell"));
    let rows: Vec<Option<usize>> = google.developer_metadata().iter().filter(|v| v.id == 1017).map(|v| v.row).collect();
    assert_eq!(rows, vec![Some(3)], "the copy has no metadata");
    assert_eq!(find_row(&hub, &sandbox, "row-0103").await, Some(3));
}

#[tokio::test]
async fn metadata_is_found_by_location_updated_and_deleted_by_lookup() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    for (value, row) in [("row-a", 2), ("row-b", 3), ("row-c", 9)] {
        structural_http(&api, &sandbox, row_metadata(value, row, None)).await;
    }
    let search = sheets_path(&sandbox, "/developerMetadata:search");
    let by_range = api.post(&search, json!({"dataFilters": [{"a1Range": "inv_tbl!C3:D4"}]})).await;
    let values: Vec<&str> = by_range.body["matchedDeveloperMetadata"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|m| m["developerMetadata"]["metadataValue"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(values, vec!["row-a", "row-b"], "rows 3 and 4 intersect C3:D4");
    assert_eq!(by_range.body["matchedDeveloperMetadata"][0]["dataFilters"], json!([{"a1Range": "inv_tbl!C3:D4"}]));

    let update = json!({"updateDeveloperMetadata": {
        "dataFilters": [{"developerMetadataLookup": {"metadataValue": "row-c"}}],
        "developerMetadata": {"metadataValue": "row-c2", "location": {"dimensionRange": {"sheetId": 0, "dimension": "ROWS", "startIndex": 12, "endIndex": 13}}},
        "fields": "metadataValue,location"}});
    let updated = api.post(&sheets_path(&sandbox, ":batchUpdate"), json!({"requests": [update]})).await;
    let moved = &updated.body["replies"][0]["updateDeveloperMetadata"]["developerMetadata"][0];
    assert_eq!(
        (moved["metadataValue"].as_str(), moved["location"]["dimensionRange"]["startIndex"].as_u64()),
        (Some("row-c2"), Some(12))
    );

    let delete = json!({"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataKey": "qbsync_row", "metadataValue": "row-a"}}}});
    let deleted = api.post(&sheets_path(&sandbox, ":batchUpdate"), json!({"requests": [delete]})).await;
    let gone = &deleted.body["replies"][0]["deleteDeveloperMetadata"]["deletedDeveloperMetadata"];
    assert_eq!(gone.as_array().map(Vec::len), Some(1));
    assert_eq!(gone[0]["metadataValue"], "row-a");
    let remaining: Vec<Option<String>> = sandbox.google.developer_metadata().into_iter().map(|v| v.value).collect();
    assert_eq!(remaining.len(), 2);
    assert!(!remaining.contains(&Some("row-a".into())));
    let none =
        api.post(&search, json!({"dataFilters": [{"developerMetadataLookup": {"metadataValue": "row-a"}}]})).await;
    assert_eq!(none.body, json!({}), "no matches: an empty response");
}

#[tokio::test]
async fn answers_keep_only_the_fields_asked_for() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    structural_http(&api, &sandbox, row_metadata("row-a", 2, Some(7))).await;
    let lookup = json!({"dataFilters": [{"developerMetadataLookup": {"metadataKey": "qbsync_row"}}]});
    let whole = api.post(&sheets_path(&sandbox, "/developerMetadata:search"), lookup.clone()).await;
    assert!(whole.body["matchedDeveloperMetadata"][0]["dataFilters"].is_array());

    let fields =
        "matchedDeveloperMetadata/developerMetadata(metadataId,metadataValue,location/dimensionRange(startIndex))";
    let lean =
        api.post(&sheets_path(&sandbox, &format!("/developerMetadata:search?fields={fields}")), lookup.clone()).await;
    assert_eq!(lean.status, 200);
    assert_eq!(
        lean.body,
        json!({"matchedDeveloperMetadata": [{"developerMetadata": {
            "metadataId": 7, "metadataValue": "row-a", "location": {"dimensionRange": {"startIndex": 2}}}}]})
    );

    let malformed =
        api.post(&sheets_path(&sandbox, "/developerMetadata:search?fields=matchedDeveloperMetadata("), lookup).await;
    assert_eq!(malformed.status, 400);
    assert_eq!(malformed.body["error"]["status"], "INVALID_ARGUMENT");
}

#[tokio::test]
async fn data_filters_read_and_write_the_row_behind_the_metadata() {
    let sandbox = start().await;
    let google = &sandbox.google;
    let hub = hub(&sandbox).await;
    let id = google.spreadsheet_id();
    structural(&hub, &sandbox, row_metadata("row-0106", 6, Some(42))).await;
    google.insert_rows(TAB, 1, 1).expect("insert above");

    let request: BatchGetValuesByDataFilterRequest = serde_json::from_value(json!({
        "valueRenderOption": "UNFORMATTED_VALUE",
        "dataFilters": [{"developerMetadataLookup": {"metadataId": 42}}, {"a1Range": "inv_tbl!B2:C3"}]
    }))
    .expect("request");
    let (_, got) = hub
        .spreadsheets()
        .values_batch_get_by_data_filter(request, id)
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("get");
    let ranges = got.value_ranges.expect("valueRanges");
    let first = ranges[0].value_range.as_ref().expect("valueRange");
    assert_eq!(first.range.as_deref(), Some("inv_tbl!A8:Z8"), "the whole row, where it is now");
    assert_eq!(first.values.as_ref().map(|v| v[0][0].clone()), Some(json!("ACD-2025-0106")));
    assert_eq!(ranges[1].value_range.as_ref().and_then(|v| v.range.as_deref()), Some("inv_tbl!B2:C3"));

    let write = |values: Value| {
        let hub = &hub;
        async move {
            let request: BatchUpdateValuesByDataFilterRequest = serde_json::from_value(json!({
                "valueInputOption": "RAW",
                "data": [{"dataFilter": {"developerMetadataLookup": {"metadataKey": "qbsync_row", "metadataValue": "row-0106"}}, "values": values}]
            }))
            .expect("request");
            hub.spreadsheets()
                .values_batch_update_by_data_filter(request, id)
                .add_scope(Scope::Spreadsheet)
                .doit()
                .await
        }
    };
    let (_, written) = write(json!([["ACD-2025-0106-X"]])).await.expect("write");
    let response = &written.responses.expect("responses")[0];
    assert_eq!((response.updated_range.as_deref(), response.updated_cells), (Some("inv_tbl!A8"), Some(1)));
    assert!(response.data_filter.is_some());
    assert_eq!(google.cell(TAB, 7, 0).expect("cell"), Cell::Text("ACD-2025-0106-X".into()));

    let too_wide = json!([(0..27).map(|i| json!(format!("v{i}"))).collect::<Vec<_>>()]);
    let error = write(too_wide).await.expect_err("wider than the row");
    assert!(matches!(error, SheetsError::BadRequest(ref b) if b["error"]["code"] == 400));
    assert_eq!(google.cell(TAB, 7, 0).expect("cell"), Cell::Text("ACD-2025-0106-X".into()), "nothing written");
}

// ---------------------------------------------------------------- quotas

#[tokio::test]
async fn per_user_quotas_answer_429_for_reads_and_writes_and_refill_after_the_window() {
    let sandbox = start_with(SandboxOptions { enforce_limits: true, ..SandboxOptions::default() }).await;
    let api = Api::new(&sandbox);
    let read = sheets_path(&sandbox, "/values/inv_tbl!A1");
    let search = sheets_path(&sandbox, "/developerMetadata:search");
    for i in 0..60 {
        let answer =
            if i % 2 == 0 { api.get(&read).await } else { api.post(&search, json!({"dataFilters": []})).await };
        assert_eq!(answer.status, 200, "read {i}");
    }
    let refused = api.get(&read).await;
    assert_eq!(refused.status, 429);
    assert!(
        refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("'Read requests per minute per user'"))
    );

    let write = sheets_path(&sandbox, "/values/inv_tbl!P1?valueInputOption=RAW");
    let batch = sheets_path(&sandbox, "/values:batchUpdate");
    for i in 0..60 {
        let answer = if i % 2 == 0 {
            api.put(&write, json!({"values": [[i]]})).await
        } else {
            api.post(&batch, json!({"valueInputOption": "RAW", "data": [{"range": "inv_tbl!P2", "values": [[1]]}, {"range": "inv_tbl!P3", "values": [[2]]}]})).await
        };
        assert_eq!(answer.status, 200, "write {i} (a batch counts as one)");
    }
    let refused = api.put(&write, json!({"values": [["late"]]})).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["error"]["status"], "RESOURCE_EXHAUSTED");
    assert!(refused.body["error"]["message"].as_str().is_some_and(|m| m.contains("'Write requests'")));
    assert_eq!(refused.body["error"]["details"][0]["metadata"]["quota_limit"], "WriteRequestsPerMinutePerUser");
    assert_eq!(
        sandbox.google.cell(TAB, 0, 15).expect("cell"),
        Cell::Number("58".into()),
        "the refused write did nothing"
    );

    sandbox.google.set_quota(QuotaConfig { window: Duration::from_millis(50), ..QuotaConfig::default() });
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(api.get(&read).await.status, 200, "the window has passed");
    assert_eq!(api.put(&write, json!({"values": [["again"]]})).await.status, 200);
}

#[tokio::test]
async fn the_project_quota_spans_users() {
    let sandbox = start_with(SandboxOptions { enforce_limits: true, ..SandboxOptions::default() }).await;
    sandbox.google.set_quota(QuotaConfig { per_user: 3, per_project: 5, ..QuotaConfig::default() });
    let alice = Api::with_token(&sandbox, Some(sandbox.google.issue_token_for("alice@p.iam.gserviceaccount.com")));
    let bob = Api::with_token(&sandbox, Some(sandbox.google.issue_token_for("bob@p.iam.gserviceaccount.com")));
    let path = sheets_path(&sandbox, "");
    for _ in 0..3 {
        assert_eq!(alice.get(&path).await.status, 200);
    }
    assert_eq!(alice.get(&path).await.status, 429, "alice is over her own limit");
    assert_eq!(bob.get(&path).await.status, 200);
    assert_eq!(bob.get(&path).await.status, 200);
    let refused = bob.get(&path).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body["error"]["details"][0]["metadata"]["quota_limit"], "ReadRequestsPerMinutePerProject");
}

// ---------------------------------------------------------------- faults

#[tokio::test]
async fn injected_faults_look_like_googles_failures() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let read = sheets_path(&sandbox, "/values/inv_tbl!A1");
    sandbox.faults().set(endpoint::SHEETS_READ, FaultRule { error_rate: 1.0, ..FaultRule::default() });
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let answer = api.get(&read).await;
        match answer.status {
            500 => assert_eq!(answer.body["error"]["status"], "INTERNAL"),
            503 => assert_eq!(answer.body["error"]["status"], "UNAVAILABLE"),
            502 => {
                assert!(answer.body.as_str().is_some_and(|html| html.contains("502")), "Google's 502 is an HTML page")
            }
            other => panic!("unexpected {other}"),
        }
        seen.insert(answer.status);
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    sandbox.faults().clear();

    sandbox.faults().set(endpoint::SHEETS_WRITE, FaultRule { throttle_burst: 1, ..FaultRule::default() });
    let write = sheets_path(&sandbox, "/values/inv_tbl!P1?valueInputOption=RAW");
    let throttled = api.put(&write, json!({"values": [["x"]]})).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.body["error"]["details"][0]["metadata"]["quota_limit"], "WriteRequestsPerMinutePerUser");
    assert_eq!(sandbox.google.cell(TAB, 0, 15).expect("cell"), Cell::Empty, "a throttled write does nothing");
    assert_eq!(api.put(&write, json!({"values": [["x"]]})).await.status, 200, "the burst is over");

    sandbox.faults().set(endpoint::SHEETS_METADATA, FaultRule { timeout_rate: 1.0, ..FaultRule::default() });
    let hung = api
        .try_send(
            reqwest::Method::POST,
            &sheets_path(&sandbox, "/developerMetadata:search"),
            Some(json!({})),
            Some(Duration::from_millis(300)),
        )
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()), "a hang never answers");

    sandbox.faults().set(endpoint::GOOGLE_TOKEN, FaultRule { error_rate: 1.0, ..FaultRule::default() });
    let response = reqwest::Client::new()
        .post(sandbox.google.token_uri())
        .form(&[("grant_type", "x")])
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_server_error());
}

#[tokio::test]
async fn commit_then_drop_applies_the_write_but_the_client_sees_a_connection_error() {
    let sandbox = start().await;
    let hub = hub(&sandbox).await;
    let id = sandbox.google.spreadsheet_id();
    hub.spreadsheets().get(id).add_scope(Scope::Spreadsheet).doit().await.expect("token fetched before the fault");
    sandbox.faults().set(endpoint::SHEETS_WRITE, FaultRule { commit_then_drop_rate: 1.0, ..FaultRule::default() });
    let values = ValueRange { values: Some(vec![vec![json!("QBO-123")]]), ..Default::default() };
    let error = hub
        .spreadsheets()
        .values_update(values, id, &enc("inv_tbl!O2"))
        .value_input_option("RAW")
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect_err("the answer never arrives");
    assert!(matches!(error, SheetsError::HttpError(_)), "{error:?}");
    assert_eq!(
        sandbox.google.cell(TAB, 1, 14).expect("cell"),
        Cell::Text("QBO-123".into()),
        "yet the write was applied"
    );
}

// ---------------------------------------------------------------- Drive

#[tokio::test]
async fn drive_version_and_modified_time_move_on_every_change() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let path = format!(
        "drive/v3/files/{}?fields=id,name,modifiedTime,version&supportsAllDrives=true",
        sandbox.google.spreadsheet_id()
    );
    let first = api.get(&path).await;
    assert_eq!(first.status, 200);
    let keys: Vec<&String> = first.body.as_object().expect("object").keys().collect();
    assert_eq!(keys.len(), 4, "only the requested fields: {keys:?}");
    let version = |a: &Answer| a.body["version"].as_str().expect("version is a string").parse::<i64>().expect("int64");
    let modified = |a: &Answer| {
        chrono::DateTime::parse_from_rfc3339(a.body["modifiedTime"].as_str().expect("time")).expect("rfc3339")
    };
    let stamp = first.body["modifiedTime"].as_str().expect("time");
    assert!(stamp.ends_with('Z') && stamp.len() == "2023-09-06T21:29:57.905Z".len(), "{stamp}");

    api.get(&sheets_path(&sandbox, "/values/inv_tbl")).await;
    assert_eq!(version(&api.get(&path).await), version(&first), "reads change nothing");
    api.put(&sheets_path(&sandbox, "/values/inv_tbl!O2?valueInputOption=RAW"), json!({"values": [["x"]]})).await;
    let second = api.get(&path).await;
    assert_eq!(version(&second), version(&first) + 1);
    assert!(modified(&second) > modified(&first));
    sandbox.google.set_cell(TAB, 3, 1, "paid").expect("editor edits");
    let third = api.get(&path).await;
    assert_eq!(version(&third), version(&second) + 1);
    assert!(modified(&third) > modified(&second));

    let no_token = Api::with_token(&sandbox, None).get(&path).await;
    assert_eq!((no_token.status, no_token.body["error"]["errors"][0]["reason"].as_str()), (401, Some("authError")));
    let unknown = api.get("drive/v3/files/nope?fields=id").await;
    assert_eq!((unknown.status, unknown.body["error"]["message"].as_str()), (404, Some("File not found: nope.")));
    sandbox.google.set_shared(false);
    assert_eq!(api.get(&path).await.status, 404, "Drive hides what the caller cannot see");
}

#[tokio::test]
async fn every_kind_of_change_moves_the_drive_version_and_nothing_else_does() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let google = &sandbox.google;
    let mut last = google.drive_version();
    let mut moved = |what: &str| {
        let now = google.drive_version();
        assert!(now > last, "{what} moved the version ({last} → {now})");
        last = now;
    };

    // Writes over the API: values, metadata, structure.
    api.put(&sheets_path(&sandbox, "/values/inv_tbl!P1?valueInputOption=RAW"), json!({"values": [["x"]]})).await;
    moved("values.update");
    let append = format!("/values/{}:append?valueInputOption=RAW&insertDataOption=INSERT_ROWS", enc("inv_tbl!A1:N"));
    assert_eq!(api.post(&sheets_path(&sandbox, &append), json!({"values": [["A-9"]]})).await.status, 200);
    moved("values.append");
    let data = json!({"valueInputOption": "RAW", "data": [{"range": "inv_tbl!P2", "values": [[1]]}]});
    assert_eq!(api.post(&sheets_path(&sandbox, "/values:batchUpdate"), data).await.status, 200);
    moved("values.batchUpdate");
    assert_eq!(
        api.post(&sheets_path(&sandbox, "/values:batchClear"), json!({"ranges": ["inv_tbl!P1:P2"]})).await.status,
        200
    );
    moved("values.batchClear");
    let metadata = json!({"requests": [row_metadata("row-3", 3, None)]});
    assert_eq!(api.post(&sheets_path(&sandbox, ":batchUpdate"), metadata).await.status, 200);
    moved("a developer-metadata write");

    // A person's edits through the control API.
    google.append_row(TAB, &["A-10", "5"]).expect("append");
    moved("append_row");
    google.set_cell(TAB, 2, 1, "paid").expect("set");
    moved("set_cell");
    google.insert_row(TAB, 2, &["A-11"]).expect("insert");
    moved("insert_row");
    google.copy_row(TAB, 2, 4).expect("copy");
    moved("copy_row");
    google.move_row(TAB, 4, 3).expect("move");
    moved("move_row");
    google.sort_rows(TAB, "invoice", SortOrder::Descending).expect("sort");
    moved("sort_rows");
    google.delete_row(TAB, 2).expect("delete");
    moved("delete_row");
    google.add_column(TAB, "notes2").expect("add column");
    moved("add_column");
    google.rename_header(TAB, "notes2", "notes3").expect("rename");
    moved("rename_header");
    google.load_csv(TAB, "invoice\nA-1\n").expect("load");
    moved("load_csv");

    // Reads and refused writes change nothing.
    api.get(&sheets_path(&sandbox, "/values/inv_tbl")).await;
    api.get(&sheets_path(&sandbox, "")).await;
    let refused =
        api.put(&sheets_path(&sandbox, "/values/nope!A1?valueInputOption=RAW"), json!({"values": [["x"]]})).await;
    assert_eq!(refused.status, 400);
    assert_eq!(google.drive_version(), last, "reads and a refused write leave the version alone");
}

// ---------------------------------------------------------------- control

#[tokio::test]
async fn the_control_api_loads_edits_lists_and_dumps_over_http() {
    let sandbox = start().await;
    let control = Api::with_token(&sandbox, None);
    let loaded = control
        .client
        .put(format!("{}_sandbox/sheets/tabs/inv_tbl", sandbox.base_url()))
        .body("invoice,inv_dollars,submitted_date\nA-1,10,2025-11-05\nA-2,\"$1,234.50\",=1+1\n")
        .send()
        .await
        .expect("load");
    assert_eq!(loaded.status(), 204);
    let edits = [
        json!({"op": "append_row", "values": ["A-3", "5"]}),
        json!({"op": "add_column", "header": "qb_invoice_id"}),
        json!({"op": "rename_header", "from": "inv_dollars", "to": "amount"}),
        json!({"op": "set_cell", "row": 1, "column": 3, "value": "'0042"}),
        json!({"op": "sort_rows", "column": "amount", "descending": true}),
        json!({"op": "insert_row", "at": 1, "values": ["A-0"]}),
    ];
    for edit in edits {
        let answer = control.post("_sandbox/sheets/tabs/inv_tbl/edits", edit.clone()).await;
        assert_eq!(answer.status, 200, "{edit}: {}", answer.body);
    }
    let rows = control.get("_sandbox/sheets/tabs/inv_tbl/rows").await.body;
    assert_eq!(
        rows,
        json!([
            ["invoice", "amount", "submitted_date", "qb_invoice_id"],
            ["A-0", "", "", ""],
            ["A-2", 1234.5, 2, ""],
            ["A-1", 10, 45966, "0042"],
            ["A-3", 5, "", ""]
        ])
    );
    let bad = control.post("_sandbox/sheets/tabs/nope/edits", json!({"op": "delete_row", "row": 1})).await;
    assert_eq!(bad.status, 404);

    let api = Api::new(&sandbox);
    structural_http(&api, &sandbox, row_metadata("row-a1", 3, Some(9))).await;
    control.post("_sandbox/sheets/tabs/inv_tbl/edits", json!({"op": "insert_rows", "at": 1, "count": 2})).await;
    let listed = control.get("_sandbox/sheets/metadata").await.body;
    assert_eq!(listed[0]["row"], 5);
    assert_eq!(listed[0]["tab"], "inv_tbl");

    assert_eq!(control.put("_sandbox/sheets/shared", json!({"shared": false})).await.status, 204);
    assert_eq!(api.get(&sheets_path(&sandbox, "")).await.status, 403);
    control.put("_sandbox/sheets/shared", json!({"shared": true})).await;
    let dump = control.get("_sandbox/sheets").await.body;
    assert_eq!(dump["spreadsheets"][0]["sheets"][0]["formulas"]["C5"], "=1+1");
    assert_eq!(dump["spreadsheets"][0]["developerMetadata"][0]["metadataId"], 9);
    let url = api.get(&sheets_path(&sandbox, "")).await.body["spreadsheetUrl"].as_str().expect("url").to_owned();
    let page = control.client.get(&url).send().await.expect("view").text().await.expect("html");
    assert!(page.contains("<td>A-2</td>") && page.contains("class=anchored"), "the spreadsheetUrl shows the sheet");
    let key = control.get("_sandbox/sheets/service_account.json").await.body;
    assert_eq!(key["token_uri"].as_str(), Some(sandbox.google.token_uri().as_str()));
    assert_eq!(key["type"], "service_account");
}

#[tokio::test]
async fn the_control_api_switches_metadata_moves_and_cuts_pastes_and_drags_rows_over_http() {
    let sandbox = start().await;
    let control = Api::with_token(&sandbox, None);
    let switches = "_sandbox/sheets/metadata_moves";
    assert_eq!(control.get(switches).await.body, json!({"sort": "stay", "cut_paste": "stay"}));
    let set = control.put(switches, json!({"cut_paste": "follow"})).await;
    assert_eq!((set.status, set.body), (200, json!({"sort": "stay", "cut_paste": "follow"})));
    assert_eq!(control.put(switches, json!({"sort": "sometimes"})).await.status, 422);
    let expected = MetadataMoves { sort: MetadataOnMove::Stay, cut_paste: MetadataOnMove::Follow };
    assert_eq!(sandbox.google.metadata_moves(), expected, "a refused switch changes nothing");

    sandbox.google.load_csv(TAB, "invoice,amount\nA-1,1\nA-2,2\nA-3,3\n").expect("load");
    let api = Api::new(&sandbox);
    structural_http(&api, &sandbox, row_metadata("a1", 1, Some(1))).await;
    structural_http(&api, &sandbox, row_metadata("a3", 3, Some(3))).await;
    let rows_of_metadata = || async {
        let listed = control.get("_sandbox/sheets/metadata").await.body;
        listed.as_array().expect("list").iter().map(|m| m["row"].clone()).collect::<Vec<Value>>()
    };
    let edits = "_sandbox/sheets/tabs/inv_tbl/edits";

    let cut = control.post(edits, json!({"op": "cut_paste_row", "from": 1, "to": 2})).await;
    assert_eq!((cut.status, cut.body), (200, json!({"row": 2})));
    let rows = control.get("_sandbox/sheets/tabs/inv_tbl/rows").await.body;
    assert_eq!(rows, json!([["invoice", "amount"], ["", ""], ["A-1", 1], ["A-3", 3]]));
    assert_eq!(rows_of_metadata().await, vec![json!(2), json!(3)], "follow: a1 went with its values");

    let drag = control.post(edits, json!({"op": "drag_rows", "from": 2, "count": 2, "destination": 1})).await;
    assert_eq!((drag.status, drag.body), (200, json!({"row": 1})));
    let rows = control.get("_sandbox/sheets/tabs/inv_tbl/rows").await.body;
    assert_eq!(rows, json!([["invoice", "amount"], ["A-1", 1], ["A-3", 3]]));
    assert_eq!(rows_of_metadata().await, vec![json!(1), json!(2)], "a drag moves the rows, metadata and all");

    let outside = control.post(edits, json!({"op": "drag_rows", "from": 999, "count": 5, "destination": 0})).await;
    assert_eq!(outside.status, 400, "{}", outside.body);
    let outside = control.post(edits, json!({"op": "cut_paste_row", "from": 1, "to": 1000})).await;
    assert_eq!(outside.status, 400, "{}", outside.body);
}

async fn structural_http(api: &Api, sandbox: &Sandbox, request: Value) {
    let answer = api.post(&sheets_path(sandbox, ":batchUpdate"), json!({ "requests": [request] })).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn grid_data_reads_into_the_hubs_types_and_agrees_with_values_get() {
    let sandbox = start().await;
    let hub = hub(&sandbox).await;
    let api = Api::new(&sandbox);
    let id = sandbox.google.spreadsheet_id().to_owned();
    sandbox.google.set_cell(TAB, 2, 2, "=1/0").expect("an error cell");
    sandbox.google.set_cell(TAB, 3, 1, "'0012").expect("text that looks like a number");
    structural_http(&api, &sandbox, row_metadata("row-a", 2, Some(7))).await;

    let (_, spreadsheet) = hub
        .spreadsheets()
        .get(&id)
        .add_ranges("'inv_tbl'!A1:N5")
        .add_ranges("inv_tbl!B2:C3")
        .include_grid_data(true)
        .add_scope(Scope::Spreadsheet)
        .doit()
        .await
        .expect("spreadsheets.get with grid data");
    let sheets = spreadsheet.sheets.expect("sheets");
    assert_eq!(sheets.len(), 1, "only the sheet the ranges name");
    let data = sheets[0].data.clone().expect("data");
    assert_eq!(data.len(), 2, "one GridData per range, in the order asked");
    assert_eq!((data[0].start_row, data[0].start_column), (None, None), "zeros are left out");
    assert_eq!((data[1].start_row, data[1].start_column), (Some(1), Some(1)));
    let row_metadata = data[0].row_metadata.clone().expect("rowMetadata");
    assert_eq!(row_metadata.len(), 5, "one per row of the range");
    assert_eq!(row_metadata[0].pixel_size, Some(21));
    let on_row_2 = row_metadata[2].developer_metadata.clone().expect("the row's metadata");
    assert_eq!((on_row_2[0].metadata_id, on_row_2[0].metadata_value.as_deref()), (Some(7), Some("row-a")));
    assert!(row_metadata[1].developer_metadata.is_none());
    assert_eq!(data[0].column_metadata.as_ref().map(Vec::len), Some(14));

    // Every cell's effective value is what values.get sends unformatted, and its formatted value
    // what it sends formatted.
    let unformatted = api
        .get(&sheets_path(&sandbox, &format!("/values/{}?valueRenderOption=UNFORMATTED_VALUE", enc("'inv_tbl'!A1:N5"))))
        .await;
    let formatted = api.get(&sheets_path(&sandbox, &format!("/values/{}", enc("'inv_tbl'!A1:N5")))).await;
    let rows = data[0].row_data.clone().expect("rowData");
    assert_eq!(rows.len(), 5);
    let mut compared = 0;
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.values.clone().unwrap_or_default().iter().enumerate() {
            let expected = &unformatted.body["values"][r][c];
            let effective = cell.effective_value.clone().unwrap_or_default();
            let got =
                match (&effective.number_value, &effective.string_value, &effective.bool_value, &effective.error_value)
                {
                    (Some(n), _, _, _) => json!(n),
                    (_, Some(s), _, _) => json!(s),
                    (_, _, Some(b), _) => json!(b),
                    (_, _, _, Some(_)) => json!(cell.formatted_value.clone().unwrap_or_default()),
                    _ => json!(""),
                };
            let expected_number = expected.as_f64().map(|n| json!(n));
            assert!(got == *expected || Some(&got) == expected_number.as_ref(), "({r},{c}): {got} vs {expected}");
            let shown = formatted.body["values"][r][c].as_str().unwrap_or_default();
            assert_eq!(cell.formatted_value.as_deref().unwrap_or_default(), shown, "({r},{c})");
            compared += 1;
        }
    }
    assert!(compared > 40, "{compared} cells compared");
    let error = &rows[2].values.as_ref().expect("cells")[2];
    assert_eq!(
        error.effective_value.as_ref().and_then(|v| v.error_value.as_ref()).and_then(|e| e.type_.as_deref()),
        Some("DIVIDE_BY_ZERO")
    );
    assert_eq!(error.user_entered_value.as_ref().and_then(|v| v.formula_value.as_deref()), Some("=1/0"));
    let text = &rows[3].values.as_ref().expect("cells")[1];
    assert_eq!(text.effective_value.as_ref().and_then(|v| v.string_value.as_deref()), Some("0012"));
}

/// `spreadsheets.get` of column A and of the whole tab, with grid data, lean.
async fn grid_read(api: &Api, sandbox: &Sandbox) -> Value {
    let fields =
        "sheets(data(rowData(values(effectiveValue)),rowMetadata(developerMetadata(metadataId,metadataValue))))";
    let ranges = format!("ranges={}&ranges={}", enc("'inv_tbl'!A:A"), enc("'inv_tbl'"));
    let answer = api.get(&sheets_path(sandbox, &format!("?{ranges}&includeGridData=true&fields={fields}"))).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn grid_data_keeps_only_the_fields_asked_for_and_its_row_metadata_follows_rows() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    structural_http(&api, &sandbox, row_metadata("row-a", 2, Some(7))).await;
    let answer = grid_read(&api, &sandbox).await;
    assert_eq!(answer.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()), Some(vec!["sheets".to_owned()]));
    let data = answer["sheets"][0]["data"].as_array().expect("data").clone();
    assert_eq!(data.len(), 2);
    for grid in &data {
        let keys: Vec<&String> = grid.as_object().expect("GridData").keys().collect();
        assert_eq!(keys, vec!["rowData", "rowMetadata"]);
        assert_eq!(grid["rowMetadata"][2], json!({"developerMetadata": [{"metadataId": 7, "metadataValue": "row-a"}]}));
        assert_eq!(grid["rowMetadata"][1], json!({}));
        assert_eq!(grid["rowData"][0]["values"][0], json!({"effectiveValue": {"stringValue": "invoice"}}));
    }
    assert_eq!(data[0]["rowData"][0]["values"].as_array().map(Vec::len), Some(1), "column A only");
    assert!(data[1]["rowData"][0]["values"].as_array().map_or(0, Vec::len) > 10);
    let rows = data[1]["rowData"].as_array().expect("rows").len();
    let values = api.get(&sheets_path(&sandbox, &format!("/values/{}", enc("'inv_tbl'")))).await;
    assert_eq!(rows, values.body["values"].as_array().expect("values").len(), "as many rows as values.get");

    structural_http(
        &api,
        &sandbox,
        json!({"insertDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}}}),
    )
    .await;
    let moved = grid_read(&api, &sandbox).await;
    assert_eq!(moved["sheets"][0]["data"][1]["rowMetadata"][4]["developerMetadata"][0]["metadataValue"], "row-a");
    assert_eq!(moved["sheets"][0]["data"][1]["rowMetadata"][2], json!({}));
    structural_http(
        &api,
        &sandbox,
        json!({"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 4, "endIndex": 5}}}),
    )
    .await;
    let deleted = grid_read(&api, &sandbox).await;
    let metadata = deleted["sheets"][0]["data"][1]["rowMetadata"].as_array().expect("rowMetadata").clone();
    assert!(metadata.iter().all(|m| *m == json!({})), "the row's metadata went with it");
}

/// `includeSpreadsheetInResponse` answers with the spreadsheet as the update left it, cut to the
/// `fields` mask and the `responseRanges`; a refused update answers with Google's error and
/// changes nothing.
#[tokio::test]
async fn a_batch_update_can_answer_with_the_spreadsheet_after_it() {
    let sandbox = start().await;
    let api = Api::new(&sandbox);
    let fields = "updatedSpreadsheet(sheets(data(rowData(values(effectiveValue)),rowMetadata(developerMetadata(metadataId,metadataValue)))))";
    let path = sheets_path(&sandbox, &format!(":batchUpdate?fields={fields}"));
    let request = |requests: Vec<Value>| {
        json!({"requests": requests, "includeSpreadsheetInResponse": true,
            "responseRanges": ["'inv_tbl'!A:A", "'inv_tbl'"], "responseIncludeGridData": true})
    };
    let version = sandbox.google.drive_version();

    let answer = api.post(&path, request(vec![row_metadata("row-a", 2, Some(7))])).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["updatedSpreadsheet".to_owned()])
    );
    let updated = &answer.body["updatedSpreadsheet"];
    assert_eq!(updated, &grid_read(&api, &sandbox).await, "the same as a read made right after");
    assert_eq!(
        updated["sheets"][0]["data"][1]["rowMetadata"][2],
        json!({"developerMetadata": [{"metadataId": 7, "metadataValue": "row-a"}]})
    );
    assert!(sandbox.google.drive_version() > version, "an update is a change");

    let version = sandbox.google.drive_version();
    let refused = api.post(&path, request(vec![row_metadata("row-b", 3, None), json!({"updateCells": {}})])).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert_eq!(sandbox.google.drive_version(), version, "nothing was applied");
    let after = grid_read(&api, &sandbox).await;
    assert_eq!(after["sheets"][0]["data"][1]["rowMetadata"][3], json!({}));

    // Without a mask, `responseIncludeGridData` decides; the replies come as they always do.
    let plain = api
        .post(
            &sheets_path(&sandbox, ":batchUpdate"),
            json!({"requests": [row_metadata("row-c", 4, None)], "includeSpreadsheetInResponse": true}),
        )
        .await;
    assert_eq!(plain.status, 200, "{}", plain.body);
    assert!(plain.body["replies"][0]["createDeveloperMetadata"].is_object());
    assert_eq!(plain.body["updatedSpreadsheet"]["sheets"][0]["properties"]["title"], "inv_tbl");
    assert!(plain.body["updatedSpreadsheet"]["sheets"][0].get("data").is_none());
}
