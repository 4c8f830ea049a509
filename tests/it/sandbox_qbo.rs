//! The QBO emulator, driven over real HTTP with reqwest against `Sandbox::start`.
//!
//! Two kinds of test: one per behaviour qbsync relies on (computed fields, faults, queries,
//! batches, CDC, `requestid` replay, auth, quotas, fault injection, control), and one per
//! recorded fixture in `shared/fixtures/qbo/` that the emulator can produce, comparing the
//! emulator's answer with the fixture's shape (keys, JSON types, nesting).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use qbsync::sandbox::qbo::{EntityKind, QboLimits, ThrottleFormat};
use qbsync::sandbox::{FaultRule, Sandbox, SandboxOptions};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const TOKEN: &str = "qbo-test-access-token";

// ---------------------------------------------------------------------------------------------
// Harness

struct Qbo {
    sandbox: Sandbox,
    http: reqwest::Client,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Qbo {
    async fn start() -> Qbo {
        Qbo::start_with(SandboxOptions::default()).await
    }

    async fn start_with(options: SandboxOptions) -> Qbo {
        let sandbox = Sandbox::start(options).await.expect("sandbox starts");
        let realm = sandbox.options.realm_id.clone();
        sandbox.shared.access_tokens.insert(TOKEN, &realm, Duration::from_secs(3600));
        Qbo { sandbox, http: reqwest::Client::new() }
    }

    fn realm(&self) -> &str {
        &self.sandbox.options.realm_id
    }

    fn url(&self, path: &str) -> String {
        format!("{}v3/company/{}/{}", self.sandbox.base_url(), self.realm(), path)
    }

    fn control_url(&self, path: &str) -> String {
        format!("{}_sandbox/qbo/{}", self.sandbox.base_url(), path)
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .bearer_auth(TOKEN)
            .header(ACCEPT, "application/json")
            .query(&[("minorversion", "75")])
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        send(self.request(Method::POST, path).json(body)).await
    }

    async fn post_with(&self, path: &str, query: &[(&str, &str)], body: &Value) -> Answer {
        send(self.request(Method::POST, path).query(query).json(body)).await
    }

    async fn get(&self, path: &str) -> Answer {
        send(self.request(Method::GET, path)).await
    }

    async fn get_with(&self, path: &str, query: &[(&str, &str)]) -> Answer {
        send(self.request(Method::GET, path).query(query)).await
    }

    /// A query the way python-quickbooks sends it: POST, `application/text`, raw statement.
    async fn query(&self, statement: &str) -> Answer {
        send(self.request(Method::POST, "query").header(CONTENT_TYPE, "application/text").body(statement.to_owned()))
            .await
    }

    async fn create_invoice(&self, body: &Value) -> Value {
        let answer = self.post("invoice", body).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        answer.json["Invoice"].clone()
    }
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("the emulator answers");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer { status, headers, text, json }
}

/// A one-line sales invoice for a demo customer.
fn invoice(customer: &str, doc_number: Option<&str>, amount: Value) -> Value {
    let mut body = json!({
        "CustomerRef": { "value": customer },
        "TxnDate": "2024-05-01",
        "Line": [{
            "DetailType": "SalesItemLineDetail",
            "Amount": amount,
            "Description": "Training, May",
            "SalesItemLineDetail": { "ItemRef": { "value": "1" } }
        }]
    });
    if let Some(number) = doc_number {
        body["DocNumber"] = json!(number);
    }
    body
}

/// A one-line expense bill for a demo vendor.
fn bill(vendor: &str, doc_number: Option<&str>, amount: Value) -> Value {
    let mut body = json!({
        "VendorRef": { "value": vendor },
        "TxnDate": "2024-05-02",
        "Line": [{
            "DetailType": "AccountBasedExpenseLineDetail",
            "Amount": amount,
            "AccountBasedExpenseLineDetail": { "AccountRef": { "value": "7" } }
        }]
    });
    if let Some(number) = doc_number {
        body["DocNumber"] = json!(number);
    }
    body
}

fn fixture(name: &str) -> Value {
    // A copy of `shared/fixtures/qbo/` (see `tests/fixtures/README.md`).
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qbo").join(name);
    let text = std::fs::read_to_string(&path).expect("fixture is readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn compare_shape(actual: &Value, expected: &Value, path: &str, ignored: &[&str], problems: &mut Vec<String>) {
    match (actual, expected) {
        (Value::Object(actual), Value::Object(expected)) => {
            let mut keys: Vec<&String> = actual.keys().chain(expected.keys()).collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
                if ignored.contains(&here.as_str()) {
                    continue;
                }
                match (actual.get(key), expected.get(key)) {
                    (Some(a), Some(e)) => compare_shape(a, e, &here, ignored, problems),
                    (None, Some(_)) => problems.push(format!("{here}: in the fixture, missing from the emulator")),
                    (Some(_), None) => problems.push(format!("{here}: from the emulator, not in the fixture")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(actual), Value::Array(expected)) => {
            if let (Some(a), Some(e)) = (actual.first(), expected.first()) {
                compare_shape(a, e, &format!("{path}[]"), ignored, problems);
            }
        }
        (actual, expected) => {
            if type_name(actual) != type_name(expected) {
                problems.push(format!(
                    "{path}: {} from the emulator, {} in the fixture",
                    type_name(actual),
                    type_name(expected)
                ));
            }
        }
    }
}

/// Asserts the emulator's answer has the fixture's shape: the same keys (but `ignored` paths,
/// dotted, `[]` for array elements), the same JSON types, recursively; arrays compared on their
/// first element.
fn assert_same_shape(actual: &Value, expected: &Value, ignored: &[&str]) {
    let mut problems = Vec::new();
    compare_shape(actual, expected, "", ignored, &mut problems);
    assert!(problems.is_empty(), "shape differs:\n{}\nemulator answered:\n{actual:#}", problems.join("\n"));
}

fn fault_code(answer: &Answer) -> &str {
    answer.json["Fault"]["Error"][0]["code"].as_str().unwrap_or_default()
}

fn decimal(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal literal")
}

#[test]
fn the_shape_comparer_catches_differences() {
    let mut problems = Vec::new();
    let fixture = json!({"a": 1, "b": {"c": "x"}, "d": [{"e": true}]});
    compare_shape(&json!({"a": "1", "b": {}, "d": [{"e": true, "f": 1}]}), &fixture, "", &[], &mut problems);
    assert_eq!(problems.len(), 3, "{problems:?}");
    problems.clear();
    compare_shape(&json!({"a": 2.5, "b": {"c": "y"}, "d": []}), &fixture, "", &[], &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
}

// ---------------------------------------------------------------------------------------------
// Fixtures: the emulator answers in the recorded shapes

/// Fields an Invoice has and a SalesReceipt does not: with the SalesReceipt-only fields each
/// test names, the only keys the comparisons with the SalesReceipt fixtures leave out.
const INVOICE_ONLY: [&str; 8] = [
    "DueDate",
    "SalesTermRef",
    "LinkedTxn",
    "Deposit",
    "AllowIPNPayment",
    "AllowOnlinePayment",
    "AllowOnlineCreditCardPayment",
    "AllowOnlineACHPayment",
];

#[tokio::test]
async fn invoice_create_answers_in_the_shape_of_the_sales_receipt_create_fixture() {
    let qbo = Qbo::start().await;
    let body = json!({
        "CustomerRef": { "value": "4" },
        "DocNumber": "1005",
        "Line": [{
            "DetailType": "SalesItemLineDetail",
            "Amount": 0,
            "SalesItemLineDetail": { "ItemRef": { "value": "1" }, "Qty": 1, "UnitPrice": 0, "TaxCodeRef": { "value": "NON" } }
        }]
    });
    let answer = qbo.post("invoice", &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let expected = fixture("create_response_sales_receipt.json");
    // The envelope: the entity under its type name, plus `time`.
    assert_same_shape(&answer.json, &json!({ "Invoice": {}, "time": "" }), &["Invoice"]);
    let mut ignored: Vec<&str> = INVOICE_ONLY.to_vec();
    // This recorded SalesReceipt has no customer and no tax detail; an Invoice always has both.
    ignored.extend(["CustomerRef", "TxnTaxDetail", "DepositToAccountRef"]);
    assert_same_shape(&answer.json["Invoice"], &expected["SalesReceipt"], &ignored);
    assert_eq!(answer.json["Invoice"]["Line"][1]["DetailType"], "SubTotalLineDetail");
}

#[tokio::test]
async fn bill_read_answers_in_the_shape_of_the_read_bill_fixture() {
    let qbo = Qbo::start().await;
    let created = qbo
        .post(
            "bill",
            &json!({
                "VendorRef": { "value": "9" },
                "TxnDate": "2024-11-06",
                "SalesTermRef": { "value": "3" },
                "Line": [{
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "Amount": 103.55,
                    "Description": "Lumber",
                    "AccountBasedExpenseLineDetail": {
                        "AccountRef": { "value": "7" },
                        "CustomerRef": { "value": "1" },
                        "TaxCodeRef": { "value": "TAX" }
                    }
                }]
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.json["Bill"]["Id"].as_str().unwrap().to_owned();
    qbo.sandbox.qbo.record_payment(EntityKind::Bill, &id, decimal("103.55")).unwrap();
    let read = qbo.get(&format!("bill/{id}")).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_same_shape(&read.json, &fixture("read_response_bill.json"), &[]);
    assert_eq!(read.json["Bill"]["DueDate"], "2024-12-06", "Net 30 from the term");
    assert_eq!(read.json["Bill"]["Balance"], json!(0));
    assert_eq!(read.json["Bill"]["LinkedTxn"][0]["TxnType"], "BillPaymentCheck");
    assert_eq!(read.json["Bill"]["APAccountRef"], json!({ "name": "Accounts Payable (A/P)", "value": "33" }));
    assert!(read.text.contains("\"TotalAmt\":103.55"), "{}", read.text);
}

#[tokio::test]
async fn vendor_created_from_the_fixture_fields_reads_back_in_its_shape() {
    let qbo = Qbo::start().await;
    let mut vendor = fixture("read_response_vendor.json")["Vendor"].clone();
    for server_owned in ["Id", "SyncToken", "MetaData", "domain", "sparse", "Balance", "Active", "Vendor1099"] {
        vendor.as_object_mut().unwrap().remove(server_owned);
    }
    vendor["BillAddr"].as_object_mut().unwrap().remove("Id");
    let created = qbo.post("vendor", &vendor).await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.text);
    let id = created.json["Vendor"]["Id"].as_str().unwrap();
    let read = qbo.get(&format!("vendor/{id}")).await;
    assert_same_shape(&read.json, &fixture("read_response_vendor.json"), &[]);
    assert_eq!(read.json["Vendor"]["DisplayName"], "Books by Bessie");
    assert_eq!(read.json["Vendor"]["SyncToken"], "0");
}

#[tokio::test]
async fn account_read_answers_in_the_shape_of_the_account_fixture() {
    let qbo = Qbo::start().await;
    let read = qbo.get("account/84").await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    assert_same_shape(&read.json, &fixture("read_response_account_ar.json"), &[]);
    assert_eq!(read.json["Account"]["AccountType"], "Accounts Receivable");
    assert_eq!(read.json["Account"]["Classification"], "Asset");
}

#[tokio::test]
async fn item_query_answers_in_the_shape_of_the_item_list_fixture() {
    let qbo = Qbo::start().await;
    let answer = qbo.query("SELECT * FROM Item").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_same_shape(&answer.json, &fixture("query_response_item_list.json"), &[]);
    assert_eq!(answer.json["QueryResponse"]["Item"][0]["Name"], "Services");
    assert_eq!(answer.json["QueryResponse"]["maxResults"], 1);
}

#[tokio::test]
async fn missing_line_detail_type_answers_the_2020_fixture() {
    let qbo = Qbo::start().await;
    let body = json!({ "CustomerRef": { "value": "1" }, "Line": [{ "Amount": 10 }] });
    let answer = qbo.post("invoice", &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_same_shape(&answer.json, &fixture("fault_2020_line_detailtype_missing.json"), &[]);
    assert_eq!(answer.json["Fault"]["Error"][0]["element"], "Line.DetailType");
    assert_eq!(
        answer.json["Fault"]["Error"][0]["Detail"],
        "Required parameter Line.DetailType is missing in the request"
    );
}

#[tokio::test]
async fn missing_customer_ref_answers_the_2020_fixture() {
    let qbo = Qbo::start().await;
    let mut body = invoice("1", None, json!(10));
    body.as_object_mut().unwrap().remove("CustomerRef");
    let answer = qbo.post("invoice", &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_same_shape(&answer.json, &fixture("fault_2020_required_param_missing.json"), &[]);
    assert_eq!(fault_code(&answer), "2020");
    assert_eq!(answer.json["Fault"]["Error"][0]["element"], "CustomerRef");
    assert_eq!(answer.json["Fault"]["type"], "ValidationFault");
}

#[tokio::test]
async fn an_inactive_customer_answers_the_610_fixture() {
    let qbo = Qbo::start().await;
    qbo.sandbox.qbo.set_active(EntityKind::Customer, "3", false).unwrap();
    let answer = qbo.post("invoice", &invoice("3", Some("INV-610"), json!(10))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let expected = fixture("fault_610_object_not_found.json");
    assert_same_shape(&answer.json, &expected, &[]);
    assert_eq!(answer.json["Fault"]["Error"][0]["Detail"], expected["Fault"]["Error"][0]["Detail"]);
    assert!(qbo.sandbox.qbo.invoices().is_empty());
}

#[tokio::test]
async fn reading_an_id_that_does_not_exist_answers_the_610_fixture() {
    let qbo = Qbo::start().await;
    let answer = qbo.get("item/999").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_same_shape(&answer.json, &fixture("fault_610_object_not_found.json"), &[]);
    assert_eq!(fault_code(&answer), "610");
}

#[tokio::test]
async fn an_unescaped_quote_answers_the_4000_fixture() {
    let qbo = Qbo::start().await;
    let answer = qbo.query("SELECT * FROM Customer WHERE DisplayName = 'O'Brien & Sons'").await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_same_shape(&answer.json, &fixture("fault_4000_query_parse_error.json"), &[]);
    let detail = answer.json["Fault"]["Error"][0]["Detail"].as_str().unwrap();
    assert!(detail.starts_with("QueryParserError: Encountered"), "{detail}");
    assert!(detail.contains("column 47"), "{detail}");
}

#[tokio::test]
async fn a_stale_sync_token_answers_the_5010_fixture() {
    let qbo = Qbo::start().await;
    let update = json!({ "Id": "1", "SyncToken": "7", "sparse": true, "CompanyName": "Acme Training Company" });
    let answer = qbo.post("customer", &update).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_same_shape(&answer.json, &fixture("fault_5010_stale_object.json"), &[]);
    assert_eq!(fault_code(&answer), "5010");
    let current = qbo.get("customer/1").await;
    assert_eq!(current.json["Customer"]["CompanyName"], "Acme Training Co", "nothing changed");
}

#[tokio::test]
async fn a_duplicate_display_name_answers_the_6240_fixture() {
    let qbo = Qbo::start().await;
    // A vendor may not take a customer's name: the namespace is shared.
    let answer = qbo.post("vendor", &json!({ "DisplayName": "acme training co" })).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_same_shape(&answer.json, &fixture("fault_6240_duplicate_name.json"), &[]);
    assert_eq!(
        answer.json["Fault"]["Error"][0]["Detail"],
        "The name supplied already exists. : Another customer, vendor or employee is already using this \nname. Please use a different name."
    );
}

#[tokio::test]
async fn batch_faults_and_query_answer_in_the_shape_of_the_batch_fixture() {
    let qbo = Qbo::start().await;
    let mut design = invoice("1", Some("1003"), json!(337.5));
    design["PrivateNote"] = json!("A private note.");
    design["CustomerMemo"] = json!({ "value": "Thank you for your business and have a great day!" });
    design["BillAddr"] = json!({ "Line1": "Acme Training Co" });
    design["Line"][0]["SalesItemLineDetail"] =
        json!({ "ItemRef": { "value": "1" }, "Qty": 4.5, "UnitPrice": 75, "TaxCodeRef": { "value": "NON" } });
    qbo.create_invoice(&design).await;
    qbo.sandbox.qbo.set_active(EntityKind::Customer, "6", false).unwrap();
    let request = json!({ "BatchItemRequest": [
        { "bId": "bid1", "operation": "create", "Vendor": { "DisplayName": "Globex Corporation" } },
        { "bId": "bid2", "operation": "create", "Invoice": invoice("6", None, json!(5)) },
        { "bId": "bid3", "operation": "update", "Customer": { "Id": "1", "SyncToken": "3", "sparse": true, "Notes": "x" } },
        { "bId": "bid4", "Query": "select * from Invoice where TotalAmt > '300.00'" }
    ]});
    let answer = qbo.post("batch", &request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let expected = fixture("batch_response_faults_and_query.json");
    let items = answer.json["BatchItemResponse"].as_array().unwrap();
    let expected_items = expected["BatchItemResponse"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    for (item, expected_item) in items.iter().zip(expected_items).take(3) {
        assert_eq!(item["bId"], expected_item["bId"]);
        assert_same_shape(item, expected_item, &[]);
        assert_eq!(item["Fault"]["Error"][0]["code"], expected_item["Fault"]["Error"][0]["code"]);
    }
    // The query item: an Invoice list where the fixture has SalesReceipts.
    assert_eq!(items[3]["bId"], "bid4");
    let query = &items[3]["QueryResponse"];
    let expected_query = &expected_items[3]["QueryResponse"];
    assert_same_shape(query, expected_query, &["Invoice", "SalesReceipt"]);
    let mut ignored: Vec<&str> = INVOICE_ONLY.to_vec();
    ignored.extend(["BillEmail", "PaymentRefNum", "DepositToAccountRef", "PaymentMethodRef"]);
    assert_same_shape(&query["Invoice"][0], &expected_query["SalesReceipt"][0], &ignored);
    assert_same_shape(&answer.json, &expected, &["BatchItemResponse"]);
}

#[tokio::test]
async fn the_batch_request_fixture_is_answered_item_by_item() {
    let qbo = Qbo::start().await;
    let answer = qbo.post("batch", &fixture("batch_request_create_delete_update_query.json")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let items = answer.json["BatchItemResponse"].as_array().unwrap();
    let by_id = |b_id: &str| items.iter().find(|item| item["bId"] == b_id).unwrap_or_else(|| panic!("no {b_id}"));
    assert_eq!(by_id("bid1")["Vendor"]["DisplayName"], "Smith Family Store");
    assert_eq!(by_id("bid2")["Fault"]["Error"][0]["code"], "610", "invoice 129 does not exist");
    assert_eq!(by_id("bid3")["Fault"]["Error"][0]["code"], "610", "the sandbox holds no sales receipts");
    assert_eq!(by_id("bid4")["QueryResponse"], json!({}));
}

// ---------------------------------------------------------------------------------------------
// Creates and reads: computed fields

#[tokio::test]
async fn an_invoice_create_computes_what_qbo_computes() {
    let qbo = Qbo::start().await;
    let body = json!({
        "CustomerRef": { "value": "2" },
        "DocNumber": "INV-2024-0042",
        "TxnDate": "2024-05-01",
        "PrivateNote": "qbsync row key 7f3c",
        "Line": [
            { "DetailType": "SalesItemLineDetail", "Amount": 337.50, "Description": "Custom Design",
              "SalesItemLineDetail": { "ItemRef": { "value": "1" }, "Qty": 4.5, "UnitPrice": 75 } },
            { "DetailType": "SalesItemLineDetail", "Amount": 100.00,
              "SalesItemLineDetail": { "ItemRef": { "value": "1" } } }
        ]
    });
    let answer = qbo.post("invoice", &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let invoice = &answer.json["Invoice"];
    assert!(invoice["Id"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(invoice["SyncToken"], "0");
    assert_eq!(invoice["domain"], "QBO");
    assert_eq!(invoice["sparse"], false);
    assert_eq!(invoice["CustomerRef"], json!({ "name": "O'Brien & Sons", "value": "2" }));
    assert_eq!(invoice["DueDate"], "2024-05-31", "company default terms: Net 30");
    assert_eq!(invoice["BillEmail"]["Address"], "accounts@obrien-sons.example", "from the customer");
    let lines = invoice["Line"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert_eq!((lines[0]["Id"].as_str(), lines[0]["LineNum"].as_u64()), (Some("1"), Some(1)));
    assert_eq!((lines[1]["Id"].as_str(), lines[1]["LineNum"].as_u64()), (Some("2"), Some(2)));
    assert_eq!(lines[0]["SalesItemLineDetail"]["ItemRef"], json!({ "name": "Services", "value": "1" }));
    assert_eq!(lines[2], json!({ "Amount": 437.5, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {} }));
    // Numbers as QBO writes them.
    for written in [
        "\"TotalAmt\":437.5",
        "\"Balance\":437.5",
        "\"Amount\":337.5",
        "\"Amount\":100.0",
        "\"Qty\":4.5",
        "\"UnitPrice\":75}",
        "\"Deposit\":0",
    ] {
        assert!(answer.text.contains(written), "{written} in {}", answer.text);
    }
    let meta = &invoice["MetaData"];
    assert_eq!(meta["CreateTime"], meta["LastUpdatedTime"]);
    let created = meta["CreateTime"].as_str().unwrap();
    assert!(created.ends_with("-08:00") || created.ends_with("-07:00"), "{created}");
    assert!(chrono::DateTime::parse_from_rfc3339(created).is_ok());
    let time = answer.json["time"].as_str().unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.contains('.'), "{time}");

    let stored = qbo.sandbox.qbo.invoices();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].total, decimal("437.5"));
    assert_eq!(stored[0].doc_number.as_deref(), Some("INV-2024-0042"));
    assert_eq!(stored[0].party_name, "O'Brien & Sons");
    assert_eq!(stored[0].private_note.as_deref(), Some("qbsync row key 7f3c"));
    assert_eq!(stored[0].lines[0].qty, Some(decimal("4.5")));

    let read = qbo.get(&format!("invoice/{}", invoice["Id"].as_str().unwrap())).await;
    assert_eq!(read.json["Invoice"], *invoice);
}

#[tokio::test]
async fn amounts_are_added_exactly() {
    let qbo = Qbo::start().await;
    let mut body = invoice("1", Some("EXACT-1"), json!(0.1));
    let second = body["Line"][0].clone();
    body["Line"].as_array_mut().unwrap().push(second);
    body["Line"][1]["Amount"] = json!(0.2);
    let created = qbo.post("invoice", &body).await;
    assert!(created.text.contains("\"TotalAmt\":0.3,"), "{}", created.text);
    assert_eq!(qbo.sandbox.qbo.invoices()[0].total, decimal("0.3"));
}

#[tokio::test]
async fn a_bill_create_computes_totals_and_fills_references() {
    let qbo = Qbo::start().await;
    let mut body = bill("8", Some("56789"), json!(420.00));
    body["PrivateNote"] = json!("qbsync row key 9a1d");
    let answer = qbo.post("bill", &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let created = &answer.json["Bill"];
    assert_eq!(created["VendorRef"], json!({ "name": "Bob's Burger Joint", "value": "8" }));
    assert_eq!(created["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"]["name"], "Contract Labor");
    assert_eq!(created["Line"][0]["AccountBasedExpenseLineDetail"]["BillableStatus"], "NotBillable");
    assert_eq!(created["Line"][0]["Id"], "1");
    assert!(created["Line"][0].get("LineNum").is_none());
    assert_eq!(created["DueDate"], "2024-05-02");
    assert!(answer.text.contains("\"TotalAmt\":420.0"), "{}", answer.text);
    let bills = qbo.sandbox.qbo.bills();
    assert_eq!(bills.len(), 1);
    assert_eq!((bills[0].party_id.as_str(), bills[0].total), ("8", decimal("420")));
    assert_eq!(bills[0].lines[0].ref_id.as_deref(), Some("7"));
}

#[tokio::test]
async fn company_info_and_preferences_are_readable() {
    let qbo = Qbo::start().await;
    let info = qbo.get(&format!("companyinfo/{}", qbo.realm())).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text);
    assert_eq!(info.json["CompanyInfo"]["CompanyName"], "Sandbox Company_US_1");
    let preferences = qbo.get("preferences").await;
    assert_eq!(preferences.json["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"], true);
    qbo.sandbox.qbo.set_custom_txn_numbers(false);
    let preferences = qbo.get("preferences").await;
    assert_eq!(preferences.json["Preferences"]["SalesFormsPrefs"]["CustomTxnNumbers"], false);
}

#[tokio::test]
async fn a_sparse_update_bumps_the_sync_token_and_recomputes() {
    let qbo = Qbo::start().await;
    let created = qbo.create_invoice(&invoice("1", Some("UPD-1"), json!(50))).await;
    let id = created["Id"].as_str().unwrap();
    let mut lines = created["Line"].clone();
    lines[0]["Amount"] = json!(75.25);
    let update = json!({ "Id": id, "SyncToken": "0", "sparse": true, "Line": lines });
    let answer = qbo.post("invoice", &update).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    assert_eq!(answer.json["Invoice"]["SyncToken"], "1");
    assert_eq!(answer.json["Invoice"]["TotalAmt"], json!(75.25));
    assert_eq!(answer.json["Invoice"]["DocNumber"], "UPD-1");
    assert_eq!(answer.json["Invoice"]["MetaData"]["CreateTime"], created["MetaData"]["CreateTime"]);
    let stale = qbo.post("invoice", &update).await;
    assert_eq!(fault_code(&stale), "5010");
}

#[tokio::test]
async fn making_a_customer_inactive_renames_it_like_qbo() {
    let qbo = Qbo::start().await;
    qbo.sandbox.qbo.set_active(EntityKind::Customer, "5", false).unwrap();
    let read = qbo.get("customer/5").await;
    assert_eq!(read.json["Customer"]["DisplayName"], "Umbrella Academy (deleted)");
    assert_eq!(read.json["Customer"]["Active"], false);
    assert_eq!(read.json["Customer"]["SyncToken"], "1");
    qbo.sandbox.qbo.set_active(EntityKind::Customer, "5", true).unwrap();
    let read = qbo.get("customer/5").await;
    assert_eq!(read.json["Customer"]["DisplayName"], "Umbrella Academy");
}

// ---------------------------------------------------------------------------------------------
// Validation faults

#[tokio::test]
async fn an_unknown_reference_is_2500_with_its_element() {
    let qbo = Qbo::start().await;
    let mut body = invoice("1", Some("REF-1"), json!(10));
    body["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"] = json!("999");
    let answer = qbo.post("invoice", &body).await;
    assert_eq!(fault_code(&answer), "2500");
    assert_eq!(answer.json["Fault"]["Error"][0]["element"], "Line.SalesItemLineDetail.ItemRef");
    let answer = qbo.post("bill", &bill("999", None, json!(10))).await;
    assert_eq!(fault_code(&answer), "2500");
    assert_eq!(answer.json["Fault"]["Error"][0]["element"], "VendorRef");
}

#[tokio::test]
async fn an_inactive_vendor_account_or_item_is_610() {
    let qbo = Qbo::start().await;
    qbo.sandbox.qbo.set_active(EntityKind::Vendor, "10", false).unwrap();
    assert_eq!(fault_code(&qbo.post("bill", &bill("10", None, json!(10))).await), "610");
    qbo.sandbox.qbo.set_active(EntityKind::Account, "7", false).unwrap();
    assert_eq!(fault_code(&qbo.post("bill", &bill("9", None, json!(10))).await), "610");
    qbo.sandbox.qbo.set_active(EntityKind::Item, "1", false).unwrap();
    assert_eq!(fault_code(&qbo.post("invoice", &invoice("1", Some("I-1"), json!(10))).await), "610");
    assert!(qbo.sandbox.qbo.bills().is_empty());
}

#[tokio::test]
async fn a_duplicate_invoice_number_is_6140_naming_the_existing_invoice() {
    let qbo = Qbo::start().await;
    let first = qbo.create_invoice(&invoice("1", Some("O0010714"), json!(10))).await;
    let answer = qbo.post("invoice", &invoice("2", Some("O0010714"), json!(20))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(fault_code(&answer), "6140");
    let expected = format!(
        "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=O0010714 is assigned to TxnType=Invoice with TxnId={}",
        first["Id"].as_str().unwrap()
    );
    assert_eq!(answer.json["Fault"]["Error"][0]["Detail"], expected.as_str());
    assert_eq!(answer.json["Fault"]["Error"][0]["Message"], "Duplicate Document Number Error");
    let forced = qbo
        .post_with("invoice", &[("include", "allowduplicatedocnum")], &invoice("2", Some("O0010714"), json!(20)))
        .await;
    assert_eq!(forced.status, StatusCode::OK, "{}", forced.text);
    assert_eq!(qbo.sandbox.qbo.invoices().len(), 2);
}

#[tokio::test]
async fn without_custom_numbers_qbo_numbers_invoices_and_accepts_repeats() {
    let qbo = Qbo::start().await;
    qbo.sandbox.qbo.set_custom_txn_numbers(false);
    let first = qbo.create_invoice(&invoice("1", None, json!(10))).await;
    let second = qbo.create_invoice(&invoice("1", None, json!(10))).await;
    let first_number: u64 = first["DocNumber"].as_str().unwrap().parse().unwrap();
    assert_eq!(second["DocNumber"].as_str().unwrap(), (first_number + 1).to_string());
    qbo.create_invoice(&invoice("1", Some("SAME"), json!(10))).await;
    qbo.create_invoice(&invoice("1", Some("SAME"), json!(10))).await;
    qbo.sandbox.qbo.set_custom_txn_numbers(true);
    let none = qbo.create_invoice(&invoice("1", None, json!(10))).await;
    assert!(none.get("DocNumber").is_none(), "custom numbers on and none sent: no number");
}

#[tokio::test]
async fn a_duplicate_bill_number_is_6140_only_for_the_same_vendor() {
    let qbo = Qbo::start().await;
    let first = qbo.post("bill", &bill("7", Some("56789"), json!(10))).await;
    assert_eq!(first.status, StatusCode::OK);
    let other_vendor = qbo.post("bill", &bill("8", Some("56789"), json!(10))).await;
    assert_eq!(other_vendor.status, StatusCode::OK, "{}", other_vendor.text);
    let same_vendor = qbo.post("bill", &bill("7", Some("56789"), json!(10))).await;
    assert_eq!(fault_code(&same_vendor), "6140");
    let detail = same_vendor.json["Fault"]["Error"][0]["Detail"].as_str().unwrap();
    assert!(
        detail.ends_with(&format!(
            "DocNumber=56789 is assigned to TxnType=Bill with TxnId={}",
            first.json["Bill"]["Id"].as_str().unwrap()
        )),
        "{detail}"
    );
}

#[tokio::test]
async fn a_doc_number_over_21_characters_is_2050() {
    let qbo = Qbo::start().await;
    let answer = qbo.post("invoice", &invoice("1", Some("INV-2024-000000000042"), json!(10))).await;
    assert_eq!(answer.status, StatusCode::OK, "21 characters are fine: {}", answer.text);
    let answer = qbo.post("invoice", &invoice("1", Some("INV-2024-0000000000042"), json!(10))).await;
    assert_eq!(fault_code(&answer), "2050");
    let error = &answer.json["Fault"]["Error"][0];
    assert_eq!(error["Message"], "String length is either shorter or longer than supported by specification");
    assert_eq!(
        error["Detail"],
        "String length specified does not match the supported length. Min:0 Max:21 supported. Supplied length:22"
    );
    assert_eq!(error["element"], "DocNumber");
    let answer = qbo.post("bill", &bill("7", Some(&"9".repeat(22)), json!(10))).await;
    assert_eq!(fault_code(&answer), "2050");
}

#[tokio::test]
async fn an_amount_that_is_not_qty_times_unit_price_is_refused() {
    let qbo = Qbo::start().await;
    let mut body = invoice("1", Some("QTY-1"), json!(337.51));
    body["Line"][0]["SalesItemLineDetail"]["Qty"] = json!(4.5);
    body["Line"][0]["SalesItemLineDetail"]["UnitPrice"] = json!(75);
    let answer = qbo.post("invoice", &body).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(fault_code(&answer), "6070");
    assert_eq!(
        answer.json["Fault"]["Error"][0]["Detail"],
        "Amount is not equal to Qty * UnitPrice. Supplied value:337.51"
    );
    body["Line"][0]["Amount"] = json!(337.5);
    assert_eq!(qbo.post("invoice", &body).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_bill_on_a_plan_without_bills_is_5020() {
    let qbo = Qbo::start().await;
    qbo.sandbox.qbo.set_plan_has_bills(false);
    let answer = qbo.post("bill", &bill("7", None, json!(10))).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(fault_code(&answer), "5020");
    let info = qbo.get(&format!("companyinfo/{}", qbo.realm())).await;
    assert!(info.text.contains("QuickBooks Online Simple Start"), "{}", info.text);
    qbo.sandbox.qbo.set_plan_has_bills(true);
    assert_eq!(qbo.post("bill", &bill("7", None, json!(10))).await.status, StatusCode::OK);
}

#[tokio::test]
async fn other_validation_faults() {
    let qbo = Qbo::start().await;
    let mut body = invoice("1", Some("V-1"), json!(10));
    body["Lines"] = body["Line"].clone();
    assert_eq!(fault_code(&qbo.post("invoice", &body).await), "2010", "unknown property");
    let mut body = invoice("1", Some("V-2"), json!("ten"));
    assert_eq!(fault_code(&qbo.post("invoice", &body).await), "2080", "not a number");
    body["Line"][0]["Amount"] = json!(-5);
    assert_eq!(fault_code(&qbo.post("invoice", &body).await), "6000", "negative total");
    body["Line"][0]["Amount"] = json!(5);
    body["Line"][0]["DetailType"] = json!("GroupLineDetail");
    assert_eq!(fault_code(&qbo.post("invoice", &body).await), "6000", "unmodelled line type");
    let nameless = qbo.post("customer", &json!({ "CompanyName": "Only a company" })).await;
    assert_eq!(fault_code(&nameless), "6080");
    let no_lines = qbo.post("bill", &json!({ "VendorRef": { "value": "7" } })).await;
    assert_eq!(no_lines.json["Fault"]["Error"][0]["element"], "Line");
    let not_json = send(qbo.request(Method::POST, "invoice").header(CONTENT_TYPE, "application/json").body("{")).await;
    assert_eq!(fault_code(&not_json), "2010");
}

// ---------------------------------------------------------------------------------------------
// Queries

#[tokio::test]
async fn queries_find_names_with_escaped_quotes_by_get_and_post() {
    let qbo = Qbo::start().await;
    let statement = "SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien & Sons'";
    let posted = qbo.query(statement).await;
    assert_eq!(posted.status, StatusCode::OK, "{}", posted.text);
    assert_eq!(posted.json["QueryResponse"]["Customer"][0]["Id"], "2");
    assert_eq!(posted.json["QueryResponse"]["startPosition"], 1);
    assert_eq!(posted.json["QueryResponse"]["maxResults"], 1);
    let got = qbo.get_with("query", &[("query", statement)]).await;
    assert_eq!(got.json["QueryResponse"], posted.json["QueryResponse"]);
    let vendor = qbo.query("SELECT * FROM Vendor WHERE DisplayName = 'Bob\\'s Burger Joint'").await;
    assert_eq!(vendor.json["QueryResponse"]["Vendor"][0]["Id"], "8");
    let wrong_type =
        send(qbo.request(Method::POST, "query").header(CONTENT_TYPE, "application/json").body(statement)).await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn query_result_shapes_empty_and_count() {
    let qbo = Qbo::start().await;
    let empty = qbo.query("SELECT * FROM Invoice WHERE DocNumber = 'nope'").await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.json["QueryResponse"], json!({}));
    assert!(empty.json["time"].is_string());
    let count = qbo.query("SELECT count(*) FROM Customer").await;
    assert_eq!(count.json["QueryResponse"], json!({ "totalCount": 6 }));
}

#[tokio::test]
async fn queries_filter_by_the_fields_qbsync_uses() {
    let qbo = Qbo::start().await;
    let a = qbo.create_invoice(&invoice("1", Some("INV-A"), json!(100))).await;
    let b = qbo.create_invoice(&invoice("2", Some("INV-B"), json!(400))).await;
    qbo.post("bill", &bill("9", Some("56789"), json!(10))).await;
    qbo.post("bill", &bill("10", Some("56789"), json!(10))).await;
    let ids = |answer: &Answer, entity: &str| -> Vec<String> {
        answer.json["QueryResponse"][entity]
            .as_array()
            .map(|list| list.iter().map(|e| e["Id"].as_str().unwrap().to_owned()).collect())
            .unwrap_or_default()
    };
    let (a_id, b_id) = (a["Id"].as_str().unwrap(), b["Id"].as_str().unwrap());
    let by_number = qbo.query("SELECT * FROM Invoice WHERE DocNumber = 'INV-B'").await;
    assert_eq!(ids(&by_number, "Invoice"), [b_id]);
    let by_ids = qbo.query(&format!("SELECT * FROM Invoice WHERE Id IN ('{a_id}','{b_id}')")).await;
    assert_eq!(ids(&by_ids, "Invoice"), [a_id, b_id]);
    let bill = qbo.query("SELECT * FROM Bill WHERE DocNumber = '56789' AND VendorRef = '10'").await;
    assert_eq!(bill.json["QueryResponse"]["Bill"].as_array().unwrap().len(), 1);
    assert_eq!(bill.json["QueryResponse"]["Bill"][0]["VendorRef"]["value"], "10");
    let by_customer = qbo.query("SELECT * FROM Invoice WHERE CustomerRef = '1'").await;
    assert_eq!(ids(&by_customer, "Invoice"), [a_id]);
    let by_date = qbo.query("SELECT * FROM Invoice WHERE TxnDate >= '2024-05-01' AND TxnDate < '2024-05-02'").await;
    assert_eq!(ids(&by_date, "Invoice").len(), 2);
    let recent = qbo.query("SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '2024-01-01T00:00:00-08:00'").await;
    assert_eq!(ids(&recent, "Invoice").len(), 2);
    let big = qbo.query("SELECT * FROM Invoice WHERE TotalAmt > '300.00'").await;
    assert_eq!(ids(&big, "Invoice"), [b_id]);
    let item = qbo.query("SELECT * FROM Item WHERE Name = 'Services'").await;
    assert_eq!(ids(&item, "Item"), ["1"]);
    let payable = qbo.query("SELECT * FROM Account WHERE AccountType = 'Accounts Payable'").await;
    assert_eq!(ids(&payable, "Account"), ["33"]);
    let like = qbo.query("SELECT * FROM Customer WHERE DisplayName LIKE '%Corp%'").await;
    assert_eq!(ids(&like, "Customer"), ["3"]);
}

#[tokio::test]
async fn inactive_records_only_when_asked_for() {
    let qbo = Qbo::start().await;
    qbo.sandbox.qbo.set_active(EntityKind::Customer, "4", false).unwrap();
    let count = |answer: &Answer| answer.json["QueryResponse"]["Customer"].as_array().map_or(0, Vec::len);
    assert_eq!(count(&qbo.query("SELECT * FROM Customer").await), 5);
    assert_eq!(count(&qbo.query("SELECT * FROM Customer WHERE Active IN (true,false)").await), 6);
    let inactive = qbo.query("SELECT * FROM Customer WHERE Active = false").await;
    assert_eq!(count(&inactive), 1);
    assert_eq!(inactive.json["QueryResponse"]["Customer"][0]["DisplayName"], "Initech LLC (deleted)");
}

#[tokio::test]
async fn paging_with_startposition_and_maxresults() {
    let qbo = Qbo::start().await;
    let page = |start: u32| format!("SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION {start} MAXRESULTS 4");
    let first = qbo.query(&page(1)).await;
    assert_eq!(first.json["QueryResponse"]["maxResults"], 4);
    assert_eq!(first.json["QueryResponse"]["Customer"][0]["DisplayName"], "Acme Training Co");
    let second = qbo.query(&page(5)).await;
    assert_eq!(second.json["QueryResponse"]["startPosition"], 5);
    assert_eq!(second.json["QueryResponse"]["maxResults"], 2, "the last page is short");
    let beyond = qbo.query(&page(7)).await;
    assert_eq!(beyond.json["QueryResponse"], json!({}));
    let zero = qbo.query("SELECT * FROM Customer STARTPOSITION 0").await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST);
    assert_eq!(fault_code(&zero), "4001");
    assert_eq!(
        zero.json["Fault"]["Error"][0]["Detail"],
        "QueryValidationError: value 0 is too small. Min allowed value is 1"
    );
    let capped = qbo.query("SELECT * FROM Customer MAXRESULTS 5000").await;
    assert_eq!(capped.status, StatusCode::OK, "MAXRESULTS over 1000 is capped, not refused");
}

#[tokio::test]
async fn query_validation_faults() {
    let qbo = Qbo::start().await;
    let lower = qbo.query("SELECT * FROM customer").await;
    assert_eq!(fault_code(&lower), "4001", "entity names are case-sensitive");
    let not_filterable = qbo.query("SELECT * FROM Vendor WHERE PrimaryEmailAddr = 'a@b.example'").await;
    assert_eq!(
        not_filterable.json["Fault"]["Error"][0]["Detail"],
        "QueryValidationError: property 'PrimaryEmailAddr' is not queryable"
    );
    let curly = qbo.query("SELECT * FROM Customer WHERE DisplayName = 'O\u{2019}Brien & Sons'").await;
    assert_eq!(fault_code(&curly), "4000");
    let or = qbo.query("SELECT * FROM Customer WHERE Id = '1' OR Id = '2'").await;
    assert_eq!(fault_code(&or), "4000");
}

// ---------------------------------------------------------------------------------------------
// Batch

#[tokio::test]
async fn a_batch_creates_and_queries_matched_by_bid() {
    let qbo = Qbo::start().await;
    let items: Vec<Value> = (1..=3)
        .map(|n| json!({ "bId": format!("b{n}"), "operation": "create", "Invoice": invoice("1", Some(&format!("B-{n}")), json!(n * 10)) }))
        .chain([json!({ "bId": "q", "Query": "SELECT count(*) FROM Invoice" })])
        .collect();
    let answer = qbo.post("batch", &json!({ "BatchItemRequest": items })).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let items = answer.json["BatchItemResponse"].as_array().unwrap();
    let by_id = |b_id: &str| items.iter().find(|item| item["bId"] == b_id).unwrap();
    assert_eq!(by_id("b2")["Invoice"]["DocNumber"], "B-2");
    assert_eq!(by_id("b3")["Invoice"]["TotalAmt"], json!(30.0));
    assert_eq!(qbo.sandbox.qbo.invoices().len(), 3);
    assert!(by_id("q")["QueryResponse"]["totalCount"].is_number());
}

#[tokio::test]
async fn a_batch_of_more_than_30_items_is_refused() {
    let qbo = Qbo::start().await;
    let items: Vec<Value> = (0..31).map(|n| json!({ "bId": format!("q{n}"), "Query": "SELECT * FROM Item" })).collect();
    let answer = qbo.post("batch", &json!({ "BatchItemRequest": items })).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.json["Fault"]["Error"][0]["Detail"].as_str().unwrap().contains("at most 30"));
    let thirty: Vec<Value> =
        (0..30).map(|n| json!({ "bId": format!("q{n}"), "Query": "SELECT * FROM Item" })).collect();
    assert_eq!(qbo.post("batch", &json!({ "BatchItemRequest": thirty })).await.status, StatusCode::OK);
}

// ---------------------------------------------------------------------------------------------
// requestid

#[tokio::test]
async fn a_repeated_requestid_replays_the_original_answer_and_creates_nothing() {
    let qbo = Qbo::start().await;
    let body = invoice("1", Some("RID-1"), json!(100));
    let first = qbo.post_with("invoice", &[("requestid", "row-7f3c")], &body).await;
    let again = qbo.post_with("invoice", &[("requestid", "row-7f3c")], &body).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!((again.status, &again.text), (first.status, &first.text), "same status and body");
    let invoices = qbo.sandbox.qbo.invoices();
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].request_ids, ["row-7f3c"]);
    assert_eq!(qbo.sandbox.qbo.request_counts().replayed, 1);
    // A fault is remembered too.
    let bad = qbo.post_with("invoice", &[("requestid", "row-bad")], &invoice("999", None, json!(1))).await;
    let bad_again = qbo.post_with("invoice", &[("requestid", "row-bad")], &invoice("1", None, json!(1))).await;
    assert_eq!((bad_again.status, bad_again.text), (bad.status, bad.text));
}

#[tokio::test]
async fn a_repeated_batch_requestid_replays_the_batch() {
    let qbo = Qbo::start().await;
    let body =
        json!({ "BatchItemRequest": [{ "bId": "1", "operation": "create", "Bill": bill("7", Some("B1"), json!(5)) }] });
    let first = qbo.post_with("batch", &[("requestid", "batch-1")], &body).await;
    let again = qbo.post_with("batch", &[("requestid", "batch-1")], &body).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(again.text, first.text);
    assert_eq!(qbo.sandbox.qbo.bills().len(), 1);
}

#[tokio::test]
async fn requestid_replay_can_be_switched_off() {
    let options = SandboxOptions { honour_request_id: false, ..SandboxOptions::default() };
    let qbo = Qbo::start_with(options).await;
    let body = invoice("1", None, json!(100));
    qbo.post_with("invoice", &[("requestid", "row-1")], &body).await;
    qbo.post_with("invoice", &[("requestid", "row-1")], &body).await;
    assert_eq!(qbo.sandbox.qbo.invoices().len(), 2, "QBO did not honour the requestid");
    qbo.sandbox.qbo.set_honour_request_id(true);
    qbo.post_with("invoice", &[("requestid", "row-1")], &body).await;
    assert_eq!(qbo.sandbox.qbo.invoices().len(), 2, "switched back on at run time");
}

// ---------------------------------------------------------------------------------------------
// Auth

#[tokio::test]
async fn a_missing_unknown_or_expired_token_gets_the_gateway_401() {
    let qbo = Qbo::start().await;
    let missing = send(qbo.http.get(qbo.url("item/1"))).await;
    assert_eq!(missing.status, StatusCode::UNAUTHORIZED);
    let error = &missing.json["fault"]["error"][0];
    assert_eq!(error["message"], "message=AuthenticationFailed; errorCode=003200; statusCode=401");
    assert_eq!(error["code"], "3200");
    assert_eq!(error["element"], Value::Null);
    assert_eq!(missing.json["fault"]["type"], "AUTHENTICATION");
    assert!(missing.json["time"].is_i64(), "epoch milliseconds");
    assert_eq!(missing.json["batchItemResponse"], json!([]));
    let unknown = send(qbo.http.get(qbo.url("item/1")).bearer_auth("nope")).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    qbo.sandbox.shared.access_tokens.insert("short-lived", qbo.realm(), Duration::ZERO);
    let expired = send(qbo.http.get(qbo.url("item/1")).bearer_auth("short-lived")).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    let detail = expired.json["fault"]["error"][0]["detail"].as_str().unwrap();
    assert!(detail.starts_with("Token expired: "), "{detail}");
    assert_eq!(qbo.sandbox.qbo.request_counts().unauthorized, 3);
}

#[tokio::test]
async fn a_token_for_another_company_or_an_unknown_company_gets_403() {
    let qbo = Qbo::start().await;
    qbo.sandbox.shared.access_tokens.insert("other-realm", "1234", Duration::from_secs(60));
    let other = send(qbo.http.get(qbo.url("item/1")).bearer_auth("other-realm")).await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    assert_eq!(other.json["fault"]["error"][0]["code"], "3100");
    assert_eq!(
        other.json["fault"]["error"][0]["message"],
        "message=AuthorizationFailed; errorCode=003100; statusCode=403"
    );
    let unknown_company = format!("{}v3/company/1234/item/1", qbo.sandbox.base_url());
    let unknown = send(qbo.http.get(unknown_company).bearer_auth("other-realm")).await;
    assert_eq!(unknown.status, StatusCode::FORBIDDEN);
    let wrong_path = format!("{}v3/company/1234/item/1", qbo.sandbox.base_url());
    let mine_elsewhere = send(qbo.http.get(wrong_path).bearer_auth(TOKEN)).await;
    assert_eq!(mine_elsewhere.status, StatusCode::FORBIDDEN);
}

// ---------------------------------------------------------------------------------------------
// Quotas

#[tokio::test]
async fn the_request_quota_refuses_with_the_throttle_fault_until_the_window_passes() {
    let qbo = Qbo::start_with(SandboxOptions { enforce_limits: true, ..SandboxOptions::default() }).await;
    assert_eq!(qbo.sandbox.qbo.settings().limits, QboLimits::default());
    let window = Duration::from_millis(400);
    qbo.sandbox.qbo.set_limits(QboLimits { requests_per_window: 3, window, ..QboLimits::default() });
    for _ in 0..3 {
        assert_eq!(qbo.get("item/1").await.status, StatusCode::OK);
    }
    let throttled = qbo.get("item/1").await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        throttled.json,
        json!({ "Fault": { "Error": [{ "Message": "message=ThrottleExceeded; errorCode=003001; statusCode=429",
                "Detail": "The request limit was reached.  Try again later", "code": "3001" }], "type": "SERVICE" },
                "time": throttled.json["time"] })
    );
    tokio::time::sleep(window + Duration::from_millis(100)).await;
    assert_eq!(qbo.get("item/1").await.status, StatusCode::OK);
    assert_eq!(qbo.sandbox.qbo.request_counts().throttled, 1);
}

#[tokio::test]
async fn forty_batches_a_minute_then_429() {
    let qbo = Qbo::start_with(SandboxOptions { enforce_limits: true, ..SandboxOptions::default() }).await;
    let empty = json!({ "BatchItemRequest": [] });
    for n in 0..40 {
        assert_eq!(qbo.post("batch", &empty).await.status, StatusCode::OK, "batch {n}");
    }
    assert_eq!(qbo.post("batch", &empty).await.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(qbo.get("item/1").await.status, StatusCode::OK, "other requests still pass");
}

#[tokio::test]
async fn more_than_ten_concurrent_requests_are_throttled() {
    let qbo = Qbo::start_with(SandboxOptions { enforce_limits: true, ..SandboxOptions::default() }).await;
    // Each read holds its place for 1.5 s, so all eleven are in flight together.
    qbo.sandbox.faults().set("qbo.read", FaultRule { latency_ms: 1500, ..FaultRule::default() });
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..11 {
        let request = qbo.request(Method::GET, "item/1");
        requests.spawn(async move { request.send().await.map(|response| response.status()) });
    }
    let statuses: Vec<StatusCode> = requests.join_all().await.into_iter().map(|s| s.expect("an answer")).collect();
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let throttled = statuses.iter().filter(|s| **s == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((ok, throttled), (10, 1));
}

#[tokio::test]
async fn the_throttle_can_be_answered_as_xml() {
    let qbo = Qbo::start().await;
    qbo.sandbox.qbo.set_throttle_format(ThrottleFormat::Xml);
    qbo.sandbox.faults().set("qbo.query", FaultRule { throttle_burst: 1, ..FaultRule::default() });
    let answer = qbo.query("SELECT * FROM Item").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(answer.headers[CONTENT_TYPE].to_str().unwrap().starts_with("application/xml"));
    assert!(
        answer.text.contains(
            "<Error code=\"3001\"><Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message>"
        ),
        "{}",
        answer.text
    );
    assert_eq!(qbo.query("SELECT * FROM Item").await.status, StatusCode::OK, "the burst is over");
}

// ---------------------------------------------------------------------------------------------
// Fault injection

#[tokio::test]
async fn injected_server_errors_answer_like_qbo_and_its_gateway() {
    let qbo = Qbo::start().await;
    let faults = qbo.sandbox.faults();
    // The seeded fault source picks 500, 502 or 503; collect until each was seen.
    faults.set("qbo.read", FaultRule { error_rate: 1.0, ..FaultRule::default() });
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..60 {
        let answer = qbo.get("item/1").await;
        seen.entry(answer.status.as_u16()).or_insert(answer);
        if seen.len() == 3 {
            break;
        }
    }
    let system = &seen[&500];
    assert_eq!(system.json["Fault"]["type"], "SystemFault");
    assert_eq!(system.json["Fault"]["Error"][0]["code"], "10000");
    for status in [502, 503] {
        let gateway = &seen[&status];
        assert!(gateway.text.contains(&format!("<title>{status}")), "{}", gateway.text);
        assert!(gateway.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    }
    faults.clear();
    assert_eq!(qbo.get("item/1").await.status, StatusCode::OK);
    assert!(qbo.sandbox.qbo.request_counts().injected_faults >= 3);
}

#[tokio::test]
async fn an_injected_hang_never_answers() {
    let qbo = Qbo::start().await;
    qbo.sandbox.faults().set("qbo.cdc", FaultRule { timeout_rate: 1.0, ..FaultRule::default() });
    let request = qbo.request(Method::GET, "cdc").query(&[("entities", "Invoice"), ("changedSince", "2024-01-01")]);
    let result = request.timeout(Duration::from_millis(300)).send().await;
    assert!(result.is_err_and(|error| error.is_timeout()));
}

#[tokio::test]
async fn commit_then_drop_applies_the_write_and_a_retry_with_the_requestid_gets_it() {
    let qbo = Qbo::start().await;
    qbo.sandbox.faults().set("qbo.create", FaultRule { commit_then_drop_rate: 1.0, ..FaultRule::default() });
    let body = invoice("1", Some("DROP-1"), json!(100));
    let request = qbo.request(Method::POST, "invoice").query(&[("requestid", "row-drop")]).json(&body);
    assert!(request.send().await.is_err(), "the connection closes without an answer");
    let stored = qbo.sandbox.qbo.invoices();
    assert_eq!(stored.len(), 1, "but the invoice exists");
    qbo.sandbox.faults().clear();
    let retry = qbo.post_with("invoice", &[("requestid", "row-drop")], &body).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json["Invoice"]["Id"].as_str(), Some(stored[0].id.as_str()));
    assert_eq!(qbo.sandbox.qbo.invoices().len(), 1);
}

#[tokio::test]
async fn commit_then_drop_in_a_batch_applies_the_batch() {
    let qbo = Qbo::start().await;
    qbo.sandbox.faults().set("qbo.batch", FaultRule { commit_then_drop_rate: 1.0, ..FaultRule::default() });
    let body = json!({ "BatchItemRequest": [{ "bId": "1", "operation": "create", "Invoice": invoice("1", Some("DB-1"), json!(1)) }] });
    assert!(qbo.request(Method::POST, "batch").json(&body).send().await.is_err());
    assert_eq!(qbo.sandbox.qbo.invoices().len(), 1);
}

#[tokio::test]
async fn every_answer_carries_an_intuit_tid() {
    let qbo = Qbo::start().await;
    let ok = qbo.get("item/1").await;
    let fault = qbo.get("item/999").await;
    let unauthorized = send(qbo.http.get(qbo.url("item/1"))).await;
    let query = qbo.query("SELECT * FROM Item").await;
    let tids: Vec<String> = [&ok, &fault, &unauthorized, &query]
        .iter()
        .map(|answer| answer.headers.get("intuit_tid").expect("intuit_tid").to_str().unwrap().to_owned())
        .collect();
    let mut unique = tids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "a fresh id each time: {tids:?}");
}

// ---------------------------------------------------------------------------------------------
// minorversion, invoiceLink, CDC

#[tokio::test]
async fn minorversion_is_accepted_and_recorded() {
    let qbo = Qbo::start().await;
    let old = send(qbo.http.get(qbo.url("item/1")).bearer_auth(TOKEN).query(&[("minorversion", "40")])).await;
    assert_eq!(old.status, StatusCode::OK, "below 75 is served as 75");
    send(qbo.http.get(qbo.url("item/1")).bearer_auth(TOKEN)).await;
    qbo.get("item/1").await;
    assert_eq!(qbo.sandbox.qbo.minor_versions(), [Some("40".to_owned()), None, Some("75".to_owned())]);
}

#[tokio::test]
async fn invoice_link_only_when_asked_for_and_payable_online() {
    let qbo = Qbo::start().await;
    let mut payable = invoice("1", Some("LINK-1"), json!(100));
    payable["AllowOnlineCreditCardPayment"] = json!(true);
    payable["BillEmail"] = json!({ "Address": "ap@acme-training.example" });
    let with_link = qbo.post_with("invoice", &[("include", "invoiceLink")], &payable).await;
    let link = with_link.json["Invoice"]["InvoiceLink"].as_str().expect("a link").to_owned();
    assert!(link.starts_with(qbo.sandbox.base_url()), "{link}");
    let id = with_link.json["Invoice"]["Id"].as_str().unwrap().to_owned();
    let plain_read = qbo.get(&format!("invoice/{id}")).await;
    assert!(plain_read.json["Invoice"].get("InvoiceLink").is_none(), "not without include");
    let read = qbo.get_with(&format!("invoice/{id}"), &[("include", "invoiceLink")]).await;
    assert_eq!(read.json["Invoice"]["InvoiceLink"], link.as_str());
    let page = qbo.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("LINK-1"));

    let not_payable =
        qbo.post_with("invoice", &[("include", "invoiceLink")], &invoice("1", Some("LINK-2"), json!(100))).await;
    assert!(not_payable.json["Invoice"].get("InvoiceLink").is_none(), "no online payment allowed");
    let mut no_email = payable.clone();
    no_email["DocNumber"] = json!("LINK-3");
    no_email["CustomerRef"] = json!({ "value": "4" });
    no_email.as_object_mut().unwrap().remove("BillEmail");
    let answer = qbo.post_with("invoice", &[("include", "invoiceLink")], &no_email).await;
    assert!(answer.json["Invoice"].get("InvoiceLink").is_none(), "Initech has no e-mail: {}", answer.text);
}

#[tokio::test]
async fn cdc_lists_changes_deletions_and_empty_entities() {
    let qbo = Qbo::start().await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let kept = qbo.create_invoice(&invoice("1", Some("CDC-1"), json!(10))).await;
    let gone = qbo.create_invoice(&invoice("1", Some("CDC-2"), json!(20))).await;
    let delete = json!({ "Id": gone["Id"], "SyncToken": "0" });
    let deleted = qbo.post_with("invoice", &[("operation", "delete")], &delete).await;
    assert_eq!(deleted.json["Invoice"]["status"], "Deleted", "{}", deleted.text);
    qbo.sandbox.qbo.set_active(EntityKind::Customer, "6", false).unwrap();
    let answer = qbo.get_with("cdc", &[("entities", "Invoice,Bill,Customer"), ("changedSince", &since)]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let responses = answer.json["CDCResponse"][0]["QueryResponse"].as_array().unwrap();
    assert_eq!(responses.len(), 3);
    let invoices = responses[0]["Invoice"].as_array().unwrap();
    assert_eq!(invoices.len(), 2);
    assert_eq!(invoices[0]["Id"], kept["Id"]);
    assert_eq!(invoices[1]["status"], "Deleted");
    assert_eq!(invoices[1]["Id"], gone["Id"]);
    assert!(invoices[1].get("TotalAmt").is_none());
    assert_eq!(responses[1], json!({}), "no bill changed");
    assert_eq!(responses[2]["Customer"][0]["DisplayName"], "Stark Industries (deleted)");
    assert_eq!(
        qbo.get(&format!("invoice/{}", gone["Id"].as_str().unwrap())).await.json["Fault"]["Error"][0]["code"],
        "610"
    );
    let too_old = qbo.get_with("cdc", &[("entities", "Invoice"), ("changedSince", "2020-01-01T00:00:00-08:00")]).await;
    assert_eq!(too_old.status, StatusCode::BAD_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// Control

#[tokio::test]
async fn control_routes_load_dump_and_inspect_the_company() {
    let qbo = Qbo::start().await;
    let http = &qbo.http;
    let seed = json!({
        "accounts": [{ "Id": "7", "Name": "Contract Labor", "AccountType": "Expense" }],
        "customers": [{ "Id": "41", "DisplayName": "Solo Customer" }],
        "vendors": [{ "DisplayName": "Solo Vendor" }]
    });
    let loaded = http.put(qbo.control_url("company")).json(&seed).send().await.unwrap();
    assert_eq!(loaded.status(), StatusCode::NO_CONTENT);
    let customers = qbo.query("SELECT * FROM Customer").await;
    assert_eq!(customers.json["QueryResponse"]["Customer"].as_array().unwrap().len(), 1);
    let added =
        http.post(qbo.control_url("customers")).json(&json!({ "DisplayName": "Added Co" })).send().await.unwrap();
    assert_eq!(added.status(), StatusCode::CREATED);
    let added: Value = added.json().await.unwrap();
    let id = added["Id"].as_str().unwrap();
    assert_eq!(id, "43", "after customer 41 and the vendor (42)");
    let inactive = http
        .put(qbo.control_url(&format!("customer/{id}/active")))
        .json(&json!({ "active": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(inactive.status(), StatusCode::NO_CONTENT);
    let dump: Value = http.get(qbo.control_url("company")).send().await.unwrap().json().await.unwrap();
    assert_eq!(dump["customers"][1]["DisplayName"], "Added Co (deleted)");
    assert_eq!(dump["vendors"][0]["DisplayName"], "Solo Vendor");
    let bad = http.put(qbo.control_url("company")).body("{\"customers\": [{}]}").send().await.unwrap();
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let reset = http.delete(qbo.control_url("company")).send().await.unwrap();
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_eq!(qbo.query("SELECT count(*) FROM Customer").await.json["QueryResponse"]["totalCount"], 6);
}

#[tokio::test]
async fn control_routes_for_settings_stats_summaries_and_payments() {
    let qbo = Qbo::start().await;
    let http = &qbo.http;
    qbo.post_with("invoice", &[("requestid", "r-1")], &invoice("1", Some("CTL-1"), json!(100))).await;
    qbo.query("SELECT * FROM Item").await;
    let invoices: Value = http.get(qbo.control_url("invoices")).send().await.unwrap().json().await.unwrap();
    assert_eq!(invoices[0]["doc_number"], "CTL-1");
    assert_eq!(invoices[0]["total"], "100", "decimals as text");
    assert_eq!(invoices[0]["request_ids"], json!(["r-1"]));
    let id = invoices[0]["id"].as_str().unwrap();
    let paid = http
        .post(qbo.control_url(&format!("invoice/{id}/payments")))
        .json(&json!({ "amount": "40.00" }))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::CREATED);
    assert_eq!(qbo.sandbox.qbo.invoices()[0].balance, decimal("60"));
    let read = qbo.get(&format!("invoice/{id}")).await;
    assert_eq!(read.json["Invoice"]["LinkedTxn"][0]["TxnType"], "Payment");
    let over = http
        .post(qbo.control_url(&format!("invoice/{id}/payments")))
        .json(&json!({ "amount": "61" }))
        .send()
        .await
        .unwrap();
    assert_eq!(over.status(), StatusCode::BAD_REQUEST);

    let settings: Value = http
        .patch(qbo.control_url("settings"))
        .json(&json!({ "honour_request_id": false, "plan_has_bills": false, "throttle_format": "xml" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(settings["honour_request_id"], false);
    assert_eq!(settings["plan_has_bills"], false);
    assert_eq!(settings["throttle_format"], "xml");
    assert_eq!(settings["limits"]["requests_per_window"], 500);
    assert_eq!(fault_code(&qbo.post("bill", &bill("7", None, json!(1))).await), "5020");

    let stats: Value = http.get(qbo.control_url("stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(stats["counts"]["create"], 2);
    assert_eq!(stats["counts"]["query"], 1);
    assert_eq!(stats["counts"]["read"], 1);
    let counts = qbo.sandbox.qbo.request_counts();
    assert_eq!((counts.create, counts.query, counts.read), (2, 1, 1));
}

// ---------------------------------------------------------------------------------------------
// Sales tax by country, credit memos and vendor credits

async fn in_country(code: &str) -> Qbo {
    let qbo = Qbo::start().await;
    let answer = qbo.http.put(qbo.control_url(&format!("country/{code}"))).send().await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT, "{code}");
    qbo
}

/// A sales line of `amount` with `code` as its tax code (none when `None`).
fn sales_line(amount: &str, code: Option<&str>) -> Value {
    let mut detail = json!({ "ItemRef": { "value": "1" } });
    if let Some(code) = code {
        detail["TaxCodeRef"] = json!({ "value": code });
    }
    json!({ "DetailType": "SalesItemLineDetail", "Amount": decimal(amount), "SalesItemLineDetail": detail })
}

fn amount_of(value: &Value) -> Decimal {
    decimal(&value.to_string())
}

#[tokio::test]
async fn a_company_outside_the_us_refuses_a_line_without_a_tax_code_in_its_own_words() {
    for (country, tax) in [("GB", "VAT"), ("CA", "GST/HST"), ("AU", "GST")] {
        let qbo = in_country(country).await;
        let body = json!({ "CustomerRef": { "value": "1" }, "Line": [sales_line("100.00", None)] });
        let answer = qbo.post("invoice", &body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{country}: {}", answer.text);
        let error = &answer.json["Fault"]["Error"][0];
        assert_eq!(answer.json["Fault"]["type"], "ValidationFault");
        assert_eq!(error["code"], "6000");
        assert_eq!(
            error["Detail"],
            format!("Business Validation Error: Make sure all your transactions have a {tax} rate before you save.")
        );
        // Bills and credits follow the same rule; nothing was stored.
        let bill_body = json!({ "VendorRef": { "value": "7" }, "Line": [{ "DetailType": "AccountBasedExpenseLineDetail", "Amount": 10, "AccountBasedExpenseLineDetail": { "AccountRef": { "value": "7" } } }] });
        assert_eq!(fault_code(&qbo.post("bill", &bill_body).await), "6000");
        assert_eq!(fault_code(&qbo.post("creditmemo", &body).await), "6000");
        assert!(qbo.sandbox.qbo.invoices().is_empty() && qbo.sandbox.qbo.credit_memos().is_empty());
        // A code the company does not have is an invalid reference.
        let unknown = json!({ "CustomerRef": { "value": "1" }, "Line": [sales_line("1", Some("99"))] });
        assert_eq!(fault_code(&qbo.post("invoice", &unknown).await), "2500");
    }
}

#[tokio::test]
async fn a_us_company_takes_only_tax_or_non_as_a_line_tax_code() {
    let qbo = in_country("US").await;
    let body = json!({ "CustomerRef": { "value": "1" }, "Line": [sales_line("100", Some("2"))] });
    let answer = qbo.post("invoice", &body).await;
    let error = &answer.json["Fault"]["Error"][0];
    assert_eq!((answer.status, error["code"].as_str()), (StatusCode::BAD_REQUEST, Some("6100")));
    assert_eq!(error["Detail"], "Valid line TaxCodes for US should be TAX or NON. Supplied value: 2");
    assert_eq!(error["element"], "Line.SalesItemLineDetail.TaxCodeRef");
    // TAX and NON are accepted, and a line without a code is NON, as before.
    for code in [Some("TAX"), Some("NON"), None] {
        let body = json!({ "CustomerRef": { "value": "1" }, "Line": [sales_line("100", code)] });
        let invoice = qbo.create_invoice(&body).await;
        assert_eq!(invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"], code.unwrap_or("NON"));
        assert!(invoice.get("GlobalTaxCalculation").is_none(), "not applicable to US companies");
        assert_eq!(amount_of(&invoice["TotalAmt"]), decimal("100"));
    }
    // What a US company does with GlobalTaxCalculation is undocumented: refused by default,
    // ignored when switched.
    let calculated = json!({ "CustomerRef": { "value": "1" }, "GlobalTaxCalculation": "TaxExcluded", "Line": [sales_line("1", None)] });
    assert_eq!(fault_code(&qbo.post("invoice", &calculated).await), "6000");
    let switched = qbo
        .http
        .patch(qbo.control_url("settings"))
        .json(&json!({ "refuse_us_tax_calculation": false }))
        .send()
        .await
        .unwrap();
    assert_eq!(switched.status(), StatusCode::OK);
    let invoice = qbo.create_invoice(&calculated).await;
    assert_eq!(amount_of(&invoice["TxnTaxDetail"]["TotalTax"]), decimal("0"));
    // Tax codes are not in CDC.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let cdc = qbo.get_with("cdc", &[("entities", "TaxCode"), ("changedSince", &today)]).await;
    assert_eq!(cdc.status, StatusCode::BAD_REQUEST, "{}", cdc.text);
    assert!(cdc.text.contains("Unsupported entity name for CDC: TaxCode"), "{}", cdc.text);
    let invoices = qbo.get_with("cdc", &[("entities", "Invoice,CreditMemo"), ("changedSince", &today)]).await;
    assert_eq!(invoices.status, StatusCode::OK, "{}", invoices.text);
}

#[tokio::test]
async fn tax_exclusive_documents_add_the_tax_to_the_penny() {
    let qbo = in_country("GB").await;
    let body = json!({
        "CustomerRef": { "value": "1" },
        "GlobalTaxCalculation": "TaxExcluded",
        "Line": [sales_line("100.00", Some("2")), sales_line("33.33", Some("2")), sales_line("19.99", Some("4"))]
    });
    let invoice = qbo.create_invoice(&body).await;
    // 20 % of 133.33 is 26.666: 26.67. The zero-rated line adds nothing.
    assert_eq!(amount_of(&invoice["TxnTaxDetail"]["TotalTax"]), decimal("26.67"));
    assert_eq!(amount_of(&invoice["TotalAmt"]), decimal("179.99"));
    assert_eq!(amount_of(&invoice["Balance"]), decimal("179.99"));
    assert_eq!(invoice["GlobalTaxCalculation"], "TaxExcluded");
    let standard = &invoice["TxnTaxDetail"]["TaxLine"][0];
    assert_eq!(standard["DetailType"], "TaxLineDetail");
    assert_eq!(standard["TaxLineDetail"]["TaxRateRef"]["value"], "1");
    assert_eq!(amount_of(&standard["TaxLineDetail"]["NetAmountTaxable"]), decimal("133.33"));
    assert_eq!(invoice["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"], json!({ "value": "2", "name": "20.0% S" }));
    assert_eq!(invoice["CurrencyRef"]["value"], "GBP");
    // A document that names no calculation is TaxExcluded, as QuickBooks defaults it.
    let plain = json!({ "CustomerRef": { "value": "1" }, "Line": [sales_line("10.00", Some("2"))] });
    let invoice = qbo.create_invoice(&plain).await;
    assert_eq!(
        (invoice["GlobalTaxCalculation"].as_str(), amount_of(&invoice["TotalAmt"])),
        (Some("TaxExcluded"), decimal("12.00"))
    );
}

#[tokio::test]
async fn tax_inclusive_documents_keep_the_amount_sent_as_their_total() {
    let qbo = in_country("CA").await;
    for (sent, tax) in [("113.00", "13.00"), ("10.00", "1.15"), ("2999.99", "345.13")] {
        let body = json!({
            "CustomerRef": { "value": "1" },
            "GlobalTaxCalculation": "TaxInclusive",
            "Line": [sales_line(sent, Some("6"))]
        });
        let invoice = qbo.create_invoice(&body).await;
        assert_eq!(amount_of(&invoice["TotalAmt"]), decimal(sent), "{sent}");
        assert_eq!(amount_of(&invoice["TxnTaxDetail"]["TotalTax"]), decimal(tax), "{sent}");
        let net = amount_of(&invoice["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"]);
        assert_eq!(net + decimal(tax), decimal(sent), "net and tax add up to the amount sent");
    }
    let bad = json!({ "CustomerRef": { "value": "1" }, "GlobalTaxCalculation": "Sometimes", "Line": [sales_line("1", Some("6"))] });
    assert_eq!(fault_code(&qbo.post("invoice", &bad).await), "2170");
}

#[tokio::test]
async fn credit_memos_are_created_read_and_found_by_number() {
    let qbo = Qbo::start().await;
    let body = json!({
        "DocNumber": "CM-1001",
        "TxnDate": "2025-11-05",
        "CustomerRef": { "value": "1" },
        "PrivateNote": "refund [qbsync k1]",
        "Line": [sales_line("50.00", None)]
    });
    let answer = qbo.post_with("creditmemo", &[("requestid", "cm-1")], &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let memo = &answer.json["CreditMemo"];
    assert_eq!((memo["DocNumber"].as_str(), memo["SyncToken"].as_str()), (Some("CM-1001"), Some("0")));
    for field in ["TotalAmt", "Balance", "RemainingCredit"] {
        assert_eq!(amount_of(&memo[field]), decimal("50"), "{field}");
    }
    assert!(memo.get("DueDate").is_none(), "a credit memo has no due date");
    assert_eq!(memo["CustomerRef"], json!({ "value": "1", "name": "Acme Training Co" }));
    let id = memo["Id"].as_str().unwrap();

    let read = qbo.get(&format!("creditmemo/{id}")).await;
    assert_eq!(read.json["CreditMemo"]["PrivateNote"], "refund [qbsync k1]");
    let found = qbo.query("SELECT * FROM CreditMemo WHERE DocNumber = 'CM-1001'").await;
    assert_eq!(found.json["QueryResponse"]["CreditMemo"][0]["Id"], id);
    // A repeated requestid is answered, not applied again.
    qbo.post_with("creditmemo", &[("requestid", "cm-1")], &body).await;
    assert_eq!(qbo.sandbox.qbo.credit_memos().len(), 1);
    // With custom numbers, a second credit memo with the number is a duplicate (6140).
    let again = qbo.post("creditmemo", &body).await;
    assert_eq!(fault_code(&again), "6140");
    assert!(
        again.json["Fault"]["Error"][0]["Detail"]
            .as_str()
            .unwrap()
            .contains(&format!("TxnType=CreditMemo with TxnId={id}"))
    );
    // An invoice may still carry the number: the kinds are checked apart.
    let invoice =
        json!({ "DocNumber": "CM-1001", "CustomerRef": { "value": "1" }, "Line": [sales_line("50.00", None)] });
    qbo.create_invoice(&invoice).await;
}

#[tokio::test]
async fn vendor_credits_are_created_read_and_found_by_number_with_purchase_tax() {
    let qbo = in_country("AU").await;
    let body = json!({
        "DocNumber": "VC-77",
        "TxnDate": "2025-11-06",
        "VendorRef": { "value": "8" },
        "GlobalTaxCalculation": "TaxExcluded",
        "Line": [{
            "DetailType": "AccountBasedExpenseLineDetail",
            "Amount": decimal("90.00"),
            "AccountBasedExpenseLineDetail": { "AccountRef": { "value": "7" }, "TaxCodeRef": { "value": "4" } }
        }]
    });
    let answer = qbo.post("vendorcredit", &body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    let credit = &answer.json["VendorCredit"];
    assert_eq!(amount_of(&credit["TotalAmt"]), decimal("99.00"));
    assert_eq!(credit["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["TaxRateRef"]["value"], "2", "the purchase rate");
    assert_eq!(credit["APAccountRef"]["value"], "33");
    assert!(credit.get("DueDate").is_none());
    let id = credit["Id"].as_str().unwrap();
    let read = qbo.get(&format!("vendorcredit/{id}")).await;
    assert_eq!(read.json["VendorCredit"]["DocNumber"], "VC-77");
    let found = qbo.query("SELECT * FROM VendorCredit WHERE DocNumber = 'VC-77' AND VendorRef = '8'").await;
    assert_eq!(found.json["QueryResponse"]["VendorCredit"][0]["Id"], id);
    let summaries = qbo.sandbox.qbo.vendor_credits();
    assert_eq!((summaries.len(), summaries[0].party_id.as_str(), summaries[0].total), (1, "8", decimal("99")));

    // Like bills, vendor credits need a plan with bills.
    qbo.sandbox.qbo.set_plan_has_bills(false);
    assert_eq!(fault_code(&qbo.post("vendorcredit", &body).await), "5020");
}

#[tokio::test]
async fn tax_codes_and_rates_are_read_and_queried_like_quickbooks_but_not_written() {
    let qbo = in_country("CA").await;
    let codes = qbo.query("SELECT * FROM TaxCode").await;
    let names: Vec<&str> = codes.json["QueryResponse"]["TaxCode"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Exempt", "GST", "HST ON", "Out of Scope", "Zero-rated"]);
    let hst = qbo.query("SELECT * FROM TaxCode WHERE Name = 'HST ON'").await;
    assert_eq!(hst.json["QueryResponse"]["TaxCode"][0]["Id"], "6");
    let rate = qbo.get("taxrate/1").await;
    assert_eq!(
        (rate.json["TaxRate"]["Name"].as_str(), amount_of(&rate.json["TaxRate"]["RateValue"])),
        (Some("HST ON"), decimal("13"))
    );
    let info = qbo.get(&format!("companyinfo/{}", qbo.realm())).await;
    assert_eq!(info.json["CompanyInfo"]["Country"], "CA");
    let prefs = qbo.get("preferences").await;
    assert_eq!(prefs.json["Preferences"]["TaxPrefs"], json!({ "UsingSalesTax": true }));
    let write = qbo.post("taxcode", &json!({ "Name": "Mine" })).await;
    assert_eq!(fault_code(&write), "500");
    // An unknown country is refused by the control route.
    let refused = qbo.http.put(qbo.control_url("country/FR")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Money back: payments, voids, deletes, CDC limits, the clock

/// A payment of `amount` from customer `customer` applied to invoice `invoice_id`.
fn payment(customer: &str, invoice_id: &str, amount: Value) -> Value {
    json!({
        "CustomerRef": { "value": customer },
        "TotalAmt": amount,
        "TxnDate": "2024-05-20",
        "Line": [{ "Amount": amount, "LinkedTxn": [{ "TxnId": invoice_id, "TxnType": "Invoice" }] }]
    })
}

fn id_of(entity: &Value) -> String {
    entity["Id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn payments_lower_the_invoice_balance_link_the_invoice_and_move_its_sync_token() {
    let qbo = Qbo::start().await;
    let created = qbo.create_invoice(&invoice("1", Some("PAY-1"), json!(100))).await;
    let invoice_id = id_of(&created);
    let first = qbo.post_with("payment", &[("requestid", "pay-1")], &payment("1", &invoice_id, json!(30))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let first = &first.json["Payment"];
    assert_eq!(first["TotalAmt"], json!(30.0));
    assert_eq!(first["UnappliedAmt"], json!(0));
    assert_eq!(first["CustomerRef"]["name"], "Acme Training Co");
    assert_eq!(first["DepositToAccountRef"]["value"], "35", "the company's bank account when none is named");
    assert_eq!(first["Line"][0]["LinkedTxn"][0], json!({ "TxnId": invoice_id, "TxnType": "Invoice" }));
    let read = qbo.get(&format!("invoice/{invoice_id}")).await.json["Invoice"].clone();
    assert_eq!(read["Balance"], json!(70.0));
    assert_eq!(read["TotalAmt"], json!(100.0));
    assert_eq!(read["SyncToken"], "1");
    assert_eq!(read["LinkedTxn"], json!([{ "TxnId": first["Id"], "TxnType": "Payment" }]));
    assert_eq!(read["MetaData"]["LastUpdatedTime"], first["MetaData"]["CreateTime"]);

    let again = qbo.post_with("payment", &[("requestid", "pay-1")], &payment("1", &invoice_id, json!(30))).await;
    assert_eq!(again.json["Payment"]["Id"], first["Id"], "a repeated requestid pays once");
    let over = qbo.post("payment", &payment("1", &invoice_id, json!(70.01))).await;
    assert_eq!(fault_code(&over), "6000", "{}", over.text);
    let stranger = qbo.post("payment", &payment("2", &invoice_id, json!(10))).await;
    assert_eq!(fault_code(&stranger), "6000", "another customer's invoice");
    let rest = qbo.post("payment", &payment("1", &invoice_id, json!(70))).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.text);
    let read = qbo.get(&format!("invoice/{invoice_id}")).await.json["Invoice"].clone();
    assert_eq!((read["Balance"].clone(), read["SyncToken"].clone()), (json!(0), json!("2")));
    assert_eq!(read["LinkedTxn"].as_array().unwrap().len(), 2);
    let listed = qbo.query("SELECT * FROM Payment WHERE CustomerRef = '1'").await;
    assert_eq!(listed.json["QueryResponse"]["Payment"].as_array().unwrap().len(), 2, "{}", listed.text);
}

#[tokio::test]
async fn a_bill_payment_by_check_pays_the_bill_from_its_bank_account() {
    let qbo = Qbo::start().await;
    let created = qbo.post("bill", &bill("7", Some("B-1"), json!(250))).await;
    let bill_id = id_of(&created.json["Bill"]);
    let mut body = json!({
        "VendorRef": { "value": "7" },
        "TotalAmt": 250,
        "PayType": "Check",
        "Line": [{ "Amount": 250, "LinkedTxn": [{ "TxnId": bill_id, "TxnType": "Bill" }] }]
    });
    assert_eq!(fault_code(&qbo.post("billpayment", &body).await), "2020", "a check needs its bank account");
    body["CheckPayment"] = json!({ "BankAccountRef": { "value": "35" } });
    let paid = qbo.post_with("billpayment", &[("requestid", "bp-1")], &body).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.text);
    let paid = &paid.json["BillPayment"];
    assert_eq!(paid["PayType"], "Check");
    assert_eq!(
        paid["CheckPayment"],
        json!({ "BankAccountRef": { "name": "Checking", "value": "35" }, "PrintStatus": "NeedToPrint" })
    );
    assert_eq!(paid["TotalAmt"], json!(250.0));
    let read = qbo.get(&format!("bill/{bill_id}")).await.json["Bill"].clone();
    assert_eq!(read["Balance"], json!(0));
    assert_eq!(read["LinkedTxn"], json!([{ "TxnId": paid["Id"], "TxnType": "BillPaymentCheck" }]));
    let by_card = json!({
        "VendorRef": { "value": "7" }, "TotalAmt": 1, "PayType": "Cash",
        "Line": [{ "Amount": 1, "LinkedTxn": [{ "TxnId": bill_id, "TxnType": "Bill" }] }]
    });
    assert_eq!(fault_code(&qbo.post("billpayment", &by_card).await), "2170");
}

#[tokio::test]
async fn a_payment_goes_only_through_an_account_of_a_type_that_takes_it() {
    let qbo = Qbo::start().await;
    let created = qbo.post("bill", &bill("7", Some("B-1"), json!(250))).await;
    let bill_id = id_of(&created.json["Bill"]);
    let line = json!([{ "Amount": 250, "LinkedTxn": [{ "TxnId": bill_id, "TxnType": "Bill" }] }]);
    // Account 35 is a bank account: a check, not a credit-card payment; 7 is an expense account.
    let by_card = json!({
        "VendorRef": { "value": "7" }, "TotalAmt": 250, "PayType": "CreditCard", "Line": line,
        "CreditCardPayment": { "CCAccountRef": { "value": "35" } }
    });
    let refused = qbo.post("billpayment", &by_card).await;
    assert_eq!(fault_code(&refused), "6000", "{}", refused.text);
    assert!(refused.text.contains("CreditCardPayment.CCAccountRef"), "{}", refused.text);
    let from_expenses = json!({
        "VendorRef": { "value": "7" }, "TotalAmt": 250, "PayType": "Check", "Line": line,
        "CheckPayment": { "BankAccountRef": { "value": "7" } }
    });
    assert_eq!(fault_code(&qbo.post("billpayment", &from_expenses).await), "6000");
    let invoice = qbo.post("invoice", &invoice("1", Some("I-1"), json!(100))).await;
    let mut deposit = payment("1", &id_of(&invoice.json["Invoice"]), json!(100));
    deposit["DepositToAccountRef"] = json!({ "value": "7" });
    assert_eq!(fault_code(&qbo.post("payment", &deposit).await), "6000", "a deposit needs a bank or asset account");
    let read = qbo.get(&format!("bill/{bill_id}")).await.json["Bill"].clone();
    assert_eq!(read["Balance"], json!(250.0), "nothing was paid");
}

#[tokio::test]
async fn voiding_an_invoice_zeroes_it_and_prepends_voided_to_its_note() {
    let qbo = Qbo::start().await;
    let mut body = invoice("1", Some("VOID-1"), json!(120));
    body["PrivateNote"] = json!("From: ACD");
    let created = qbo.create_invoice(&body).await;
    let id = id_of(&created);
    let stale = qbo.post_with("invoice", &[("operation", "void")], &json!({ "Id": id, "SyncToken": "7" })).await;
    assert_eq!(fault_code(&stale), "5010");
    let voided = qbo.post_with("invoice", &[("operation", "void")], &json!({ "Id": id, "SyncToken": "0" })).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.text);
    let voided = &voided.json["Invoice"];
    assert_eq!((voided["TotalAmt"].clone(), voided["Balance"].clone()), (json!(0), json!(0)));
    assert_eq!(voided["PrivateNote"], "Voided - From: ACD");
    assert_eq!(voided["SyncToken"], "1");
    assert_eq!(voided["DocNumber"], "VOID-1", "the invoice stays");
    assert_eq!(voided["Line"][0]["Amount"], json!(0));
    assert_eq!(voided["Line"][0]["SalesItemLineDetail"]["Qty"], json!(0));
    assert_eq!(qbo.get(&format!("invoice/{id}")).await.json["Invoice"]["PrivateNote"], "Voided - From: ACD");

    let bill_id = id_of(&qbo.post("bill", &bill("7", Some("B-V"), json!(5))).await.json["Bill"]);
    let bill_void = qbo.post_with("bill", &[("operation", "void")], &json!({ "Id": bill_id, "SyncToken": "0" })).await;
    assert_eq!(bill_void.status, StatusCode::BAD_REQUEST, "bills have no void: {}", bill_void.text);
    let deleted = qbo.post_with("bill", &[("operation", "delete")], &json!({ "Id": bill_id, "SyncToken": "0" })).await;
    assert_eq!(deleted.json["Bill"], json!({ "domain": "QBO", "status": "Deleted", "Id": bill_id }));
}

#[tokio::test]
async fn a_document_with_a_payment_is_neither_voided_nor_deleted_unless_switched() {
    let qbo = Qbo::start().await;
    let id = id_of(&qbo.create_invoice(&invoice("1", Some("LINKED-1"), json!(50))).await);
    let payment_id = qbo.sandbox.qbo.record_payment(EntityKind::Invoice, &id, decimal("10")).unwrap();
    let token = json!({ "Id": id, "SyncToken": "1" });
    assert_eq!(fault_code(&qbo.post_with("invoice", &[("operation", "void")], &token).await), "6000");
    assert_eq!(fault_code(&qbo.post_with("invoice", &[("operation", "delete")], &token).await), "6000");
    assert!(qbo.sandbox.qbo.void_document(EntityKind::Invoice, &id).is_err());

    qbo.sandbox.qbo.set_refuse_changes_with_payments(false);
    let deleted = qbo.post_with("invoice", &[("operation", "delete")], &token).await;
    assert_eq!(deleted.json["Invoice"]["status"], "Deleted", "{}", deleted.text);
    let orphan = qbo.get(&format!("payment/{payment_id}")).await.json["Payment"].clone();
    assert_eq!(orphan["UnappliedAmt"], json!(10.0), "the money is left applied to nothing");
    assert_eq!(orphan["Line"], json!([]));
}

#[tokio::test]
async fn deleting_or_voiding_a_payment_gives_the_balance_back() {
    let qbo = Qbo::start().await;
    let id = id_of(&qbo.create_invoice(&invoice("1", Some("UNPAY-1"), json!(80))).await);
    let first = qbo.sandbox.qbo.record_payment(EntityKind::Invoice, &id, decimal("30")).unwrap();
    let second = qbo.sandbox.qbo.record_payment(EntityKind::Invoice, &id, decimal("50")).unwrap();
    assert_eq!(qbo.sandbox.qbo.invoices()[0].balance, decimal("0"));
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let deleted = qbo.post_with("payment", &[("operation", "delete")], &json!({ "Id": first, "SyncToken": "0" })).await;
    assert_eq!(deleted.json["Payment"]["status"], "Deleted", "{}", deleted.text);
    let voided = qbo
        .post_with(
            "payment",
            &[("operation", "update"), ("include", "void")],
            &json!({ "Id": second, "SyncToken": "0", "sparse": true }),
        )
        .await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.text);
    assert_eq!(voided.json["Payment"]["TotalAmt"], json!(0));
    assert_eq!(voided.json["Payment"]["PrivateNote"], "Voided");
    let read = qbo.get(&format!("invoice/{id}")).await.json["Invoice"].clone();
    assert_eq!(read["Balance"], json!(80.0));
    assert_eq!(read["LinkedTxn"], json!([]));
    assert_eq!(read["SyncToken"], "4", "two payments applied, two taken back");

    let cdc = qbo.get_with("cdc", &[("entities", "Invoice,Payment"), ("changedSince", &since)]).await;
    let responses = cdc.json["CDCResponse"][0]["QueryResponse"].as_array().unwrap().clone();
    assert_eq!(responses[0]["Invoice"][0]["Balance"], json!(80.0));
    let payments = responses[1]["Payment"].as_array().unwrap();
    assert_eq!(payments.len(), 2);
    assert_eq!(payments[0]["Id"], json!(second), "active objects first");
    assert_eq!(
        payments[1],
        json!({ "domain": "QBO", "status": "Deleted", "Id": first, "MetaData": payments[1]["MetaData"] })
    );
}

#[tokio::test]
async fn cdc_answers_at_most_a_thousand_objects_across_entities() {
    let qbo = Qbo::start().await;
    let mut seed = qbo.sandbox.qbo.dump_company();
    let line = json!([{ "DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {} }]);
    for n in 0..1001 {
        let invoice = json!({ "CustomerRef": { "value": "1" }, "DocNumber": format!("CAP-{n}"), "Line": line });
        seed.invoices.push(invoice.as_object().cloned().unwrap());
    }
    qbo.sandbox.qbo.load_company(&seed).unwrap();
    let bill_id = id_of(&qbo.post("bill", &bill("7", Some("AFTER"), json!(5))).await.json["Bill"]);
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let answer = qbo.get_with("cdc", &[("entities", "Invoice,Bill"), ("changedSince", &since)]).await;
    let responses = answer.json["CDCResponse"][0]["QueryResponse"].as_array().unwrap();
    assert_eq!(responses[0]["Invoice"].as_array().unwrap().len(), 1000);
    assert_eq!(responses[1], json!({}), "the cap leaves bill {bill_id} out, and nothing says so");
    let paged =
        qbo.get_with("cdc", &[("entities", "Invoice"), ("changedSince", &since), ("startPosition", "1001")]).await;
    assert_eq!(
        paged.json["CDCResponse"][0]["QueryResponse"][0]["Invoice"].as_array().unwrap().len(),
        1000,
        "no paging"
    );
}

#[tokio::test]
async fn the_clock_moves_on_and_cdc_refuses_windows_older_than_thirty_days() {
    let qbo = Qbo::start().await;
    let http = &qbo.http;
    let since = (chrono::Utc::now() - chrono::Duration::days(29)).to_rfc3339();
    let within = qbo.get_with("cdc", &[("entities", "Invoice"), ("changedSince", &since)]).await;
    assert_eq!(within.status, StatusCode::OK, "{}", within.text);
    let moved: Value = http
        .post(qbo.control_url("clock"))
        .json(&json!({ "advance_seconds": 2 * 86_400 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(moved["offset_seconds"], 2 * 86_400);
    let refused = qbo.get_with("cdc", &[("entities", "Invoice"), ("changedSince", &since)]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text.contains("older than fixed days"), "{}", refused.text);
    let created = qbo.post("invoice", &invoice("1", Some("LATER"), json!(1))).await;
    let stamped = chrono::DateTime::parse_from_rfc3339(created.json["time"].as_str().unwrap()).unwrap();
    assert!(stamped > chrono::Utc::now() + chrono::Duration::days(1), "answers carry the moved time");
    let reset: Value = http.delete(qbo.control_url("clock")).send().await.unwrap().json().await.unwrap();
    assert_eq!(reset["offset_seconds"], 0);
}

#[tokio::test]
async fn control_routes_record_dated_payments_void_and_delete_like_a_bookkeeper() {
    let qbo = Qbo::start().await;
    let http = &qbo.http;
    let invoice_id = id_of(&qbo.create_invoice(&invoice("1", Some("BK-1"), json!(90))).await);
    let bill_id = id_of(&qbo.post("bill", &bill("7", Some("BK-B"), json!(40))).await.json["Bill"]);
    let paid = http
        .post(qbo.control_url(&format!("bill/{bill_id}/payments")))
        .json(&json!({ "amount": "40.00", "date": "2024-06-03" }))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::CREATED);
    let paid: Value = paid.json().await.unwrap();
    let bill_payment = qbo.get(&format!("billpayment/{}", paid["payment_id"].as_str().unwrap())).await;
    assert_eq!(bill_payment.json["BillPayment"]["TxnDate"], "2024-06-03", "{}", bill_payment.text);
    assert_eq!(bill_payment.json["BillPayment"]["CheckPayment"]["BankAccountRef"]["value"], "35");
    assert_eq!(qbo.sandbox.qbo.bills()[0].balance, decimal("0"));

    let void = http.post(qbo.control_url(&format!("invoice/{invoice_id}/void"))).send().await.unwrap();
    assert_eq!(void.status(), StatusCode::NO_CONTENT);
    assert_eq!(qbo.sandbox.qbo.invoices()[0].private_note.as_deref(), Some("Voided"));
    let bill_void = http.post(qbo.control_url(&format!("bill/{bill_id}/void"))).send().await.unwrap();
    assert_eq!(bill_void.status(), StatusCode::BAD_REQUEST);
    let delete = http.delete(qbo.control_url(&format!("invoice/{invoice_id}"))).send().await.unwrap();
    assert_eq!(delete.status(), StatusCode::NO_CONTENT);
    assert!(qbo.sandbox.qbo.invoices().is_empty());
    let missing = http.delete(qbo.control_url(&format!("invoice/{invoice_id}"))).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn payment_and_bill_payment_answers_have_the_shapes_of_intuits_samples() {
    // Intuit's own samples (reference §1.2: the Payment read gist and the BillPayment doc example).
    let payment_sample = json!({"Payment":{"Id":"163","SyncToken":"0","domain":"QBO","sparse":false,"TxnDate":"2015-01-16",
        "CustomerRef":{"value":"20","name":"Red Rock Diner"},"DepositToAccountRef":{"value":"4"},
        "TotalAmt":65.0,"UnappliedAmt":10.0,"ProcessPayment":false,
        "Line":[{"Amount":55.0,"LinkedTxn":[{"TxnId":"70","TxnType":"Invoice"}],"LineEx":{"any":[]}}]},
        "time":"2015-01-16T09:00:00.000-08:00"});
    let bill_payment_sample = json!({"BillPayment":{"Id":"236","SyncToken":"0","VendorRef":{"value":"56"},
        "TotalAmt":200.0,"PayType":"Check",
        "Line":[{"Amount":200.0,"LinkedTxn":[{"TxnId":"234","TxnType":"Bill"}]}],
        "CheckPayment":{"PrintStatus":"NeedToPrint","BankAccountRef":{"name":"Checking","value":"35"}}},
        "time":"2015-01-16T09:00:00.000-08:00"});
    let qbo = Qbo::start().await;
    let invoice_id = id_of(&qbo.create_invoice(&invoice("1", Some("SHAPE-1"), json!(65))).await);
    let mut body = payment("1", &invoice_id, json!(55));
    body["TotalAmt"] = json!(65);
    let paid = qbo.post("payment", &body).await;
    assert_eq!(paid.json["Payment"]["UnappliedAmt"], json!(10.0), "{}", paid.text);
    let read = qbo.get(&format!("payment/{}", id_of(&paid.json["Payment"]))).await;
    assert_same_shape(
        &read.json,
        &payment_sample,
        &["Payment.MetaData", "Payment.CurrencyRef", "Payment.Line[].LineEx"],
    );

    let bill_id = id_of(&qbo.post("bill", &bill("7", Some("SHAPE-B"), json!(200))).await.json["Bill"]);
    let bill_payment = json!({
        "VendorRef": { "value": "7" }, "TotalAmt": 200, "PayType": "Check",
        "CheckPayment": { "BankAccountRef": { "value": "35" } },
        "Line": [{ "Amount": 200, "LinkedTxn": [{ "TxnId": bill_id, "TxnType": "Bill" }] }]
    });
    let paid = qbo.post("billpayment", &bill_payment).await;
    let read = qbo.get(&format!("billpayment/{}", id_of(&paid.json["BillPayment"]))).await;
    // The doc example is abridged: the fields every entity carries are left out of it.
    let abridged = [
        "BillPayment.domain",
        "BillPayment.sparse",
        "BillPayment.MetaData",
        "BillPayment.CurrencyRef",
        "BillPayment.TxnDate",
        "BillPayment.VendorRef.name",
    ];
    assert_same_shape(&read.json, &bill_payment_sample, &abridged);
}

#[tokio::test]
async fn whether_a_payment_moves_the_sync_token_is_a_switch_on_by_default() {
    let qbo = Qbo::start().await;
    assert!(qbo.sandbox.qbo.settings().payments_move_sync_token);
    let id = id_of(&qbo.create_invoice(&invoice("1", Some("TOKEN-1"), json!(30))).await);
    qbo.sandbox.qbo.record_payment(EntityKind::Invoice, &id, decimal("10")).unwrap();
    assert_eq!(qbo.sandbox.qbo.invoices()[0].sync_token, "1");
    let patched =
        qbo.http.patch(qbo.control_url("settings")).json(&json!({ "payments_move_sync_token": false })).send();
    assert_eq!(patched.await.unwrap().status(), StatusCode::OK);
    qbo.sandbox.qbo.record_payment(EntityKind::Invoice, &id, decimal("10")).unwrap();
    let read = qbo.get(&format!("invoice/{id}")).await.json["Invoice"].clone();
    assert_eq!((read["SyncToken"].clone(), read["Balance"].clone()), (json!("1"), json!(10.0)));
    assert_eq!(read["LinkedTxn"].as_array().unwrap().len(), 2);
}
