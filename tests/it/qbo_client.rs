//! The QuickBooks client over real HTTP against wiremock serving the recorded fixtures.
//!
//! Each test asserts on what QuickBooks would have received (path, `minorversion`, `requestid`,
//! headers, exact bodies) as well as on what the client returns, because the guarantees live in
//! the requests: the same `requestid` on every retry and replay, and no resend of a write whose
//! answer was lost.

use std::collections::HashMap;
use std::net::TcpListener;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::NaiveDate;
use qbsync::auth::{AuthError, StaticToken, TokenSource};
use qbsync::qbo::{
    CallStats, DocKind, ExpenseLine, NewBill, NewDoc, NewInvoice, PartyKind, QboClient, QboError, QboSettings,
    RequestId, SANDBOX_APP_URL, SalesLine,
};
use rust_decimal::Decimal;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use wiremock::matchers::{bearer_token, body_string_contains, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const REALM: &str = "9130357766900456";

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/qbo/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn company_path(rest: &str) -> String {
    format!("/v3/company/{REALM}/{rest}")
}

/// A token source that hands out `token-1`, then `token-2` after a refresh, and counts refreshes.
struct CountingTokens {
    current: Mutex<u32>,
    refreshes: AtomicUsize,
}

impl CountingTokens {
    fn new() -> Arc<CountingTokens> {
        Arc::new(CountingTokens { current: Mutex::new(1), refreshes: AtomicUsize::new(0) })
    }

    fn refreshes(&self) -> usize {
        self.refreshes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl TokenSource for CountingTokens {
    async fn access_token(&self) -> Result<SecretString, AuthError> {
        Ok(SecretString::from(format!("token-{}", self.current.lock().unwrap())))
    }

    async fn refresh_after_rejection(&self, rejected: &SecretString) -> Result<SecretString, AuthError> {
        self.refreshes.fetch_add(1, Ordering::SeqCst);
        let mut current = self.current.lock().unwrap();
        if rejected.expose_secret() == format!("token-{current}") {
            *current += 1;
        }
        Ok(SecretString::from(format!("token-{current}")))
    }
}

fn settings(server: &MockServer) -> QboSettings {
    let mut s = QboSettings::new(format!("{}/", server.uri()), REALM, SANDBOX_APP_URL);
    s.timeout = Duration::from_secs(5);
    s.max_attempts = 4;
    s.retry_base_delay = Duration::from_millis(5);
    s.throttle_delay = Duration::from_millis(20);
    s
}

fn client_with(server: &MockServer, tokens: Arc<dyn TokenSource>) -> QboClient {
    QboClient::new(settings(server), tokens).unwrap()
}

fn client(server: &MockServer) -> (QboClient, Arc<CountingTokens>) {
    let tokens = CountingTokens::new();
    (client_with(server, tokens.clone()), tokens)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

fn rid(s: &str) -> RequestId {
    RequestId::parse(s).unwrap()
}

fn invoice(number: &str) -> NewDoc {
    NewDoc::Invoice(NewInvoice {
        doc_number: Some(number.into()),
        txn_date: day("2025-11-05"),
        due_date: Some(day("2025-12-05")),
        customer_id: "58".into(),
        private_note: Some("thread t-9".into()),
        lines: vec![SalesLine {
            amount: dec("1234.50"),
            description: Some("Rust training".into()),
            item_id: "1".into(),
            qty: dec("1"),
            unit_price: dec("1234.50"),
        }],
    })
}

fn bill(number: &str) -> NewDoc {
    NewDoc::Bill(NewBill {
        doc_number: Some(number.into()),
        txn_date: day("2025-11-06"),
        due_date: None,
        vendor_id: "46".into(),
        ap_account_id: Some("33".into()),
        private_note: None,
        lines: vec![ExpenseLine { amount: dec("103.55"), description: Some("Lumber".into()), account_id: "7".into() }],
    })
}

/// The recorded sales-transaction create answer, as an Invoice with this id and customer 58.
fn invoice_entity(id: &str) -> Value {
    let recorded: Value = serde_json::from_str(&fixture("create_response_sales_receipt.json")).unwrap();
    let mut entity = recorded["SalesReceipt"].clone();
    entity["Id"] = json!(id);
    entity["CustomerRef"] = json!({"value": "58", "name": "Acme Training Co"});
    entity
}

fn invoice_answer(id: &str) -> Value {
    json!({"Invoice": invoice_entity(id), "time": "2017-09-20T18:32:11.363-07:00"})
}

fn ok_json(body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.into(), "application/json").insert_header("intuit_tid", "tid-ok")
}

fn status_json(status: u16, body: impl Into<String>) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.into(), "application/json").insert_header("intuit_tid", "tid-err")
}

fn params(r: &Request) -> HashMap<String, String> {
    r.url.query_pairs().into_owned().collect()
}

fn header(r: &Request, name: &str) -> String {
    r.headers.get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap()
}

const LOWER_CASE_401: &str = r#"{"warnings":null,"intuitObject":null,"fault":{"error":[{"message":"message=AuthenticationFailed; errorCode=003200; statusCode=401","detail":"Token expired: AB0173…","code":"3200","element":null}],"type":"AUTHENTICATION"},"report":null,"queryResponse":null,"batchItemResponse":[],"attachableResponse":[],"syncErrorResponse":null,"requestId":null,"time":1730024394085,"status":null,"cdcresponse":[]}"#;

const XML_THROTTLE: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="2016-04-15T09:01:18.141-07:00"><Fault type="SERVICE"><Error code="3001"><Message>message=ThrottleExceeded; errorCode=003001; statusCode=429</Message><Detail>The request limit was reached.  Try again later</Detail></Error></Fault></IntuitResponse>"#;

const FAULT_6140: &str = r#"{"Fault":{"Error":[{"Message":"Duplicate Document Number Error","Detail":"Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=INV-1042 is assigned to TxnType=Invoice with TxnId=45823","code":"6140","element":""}],"type":"ValidationFault"},"time":"2020-12-15T04:54:25.476-08:00"}"#;

#[tokio::test]
async fn create_invoice_sends_the_exact_body_minorversion_and_requestid() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .respond_with(ok_json(invoice_answer("238").to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let (client, _) = client(&server);
    let doc = invoice("INV-1042");

    let created = client.create(&doc, &rid("row-7f3c")).await.unwrap();

    assert_eq!((created.kind, created.id.as_str(), created.sync_token.as_str()), (DocKind::Invoice, "238", "0"));
    assert_eq!(created.party_id, "58");
    assert_eq!(created.raw, invoice_entity("238"));
    let requests = received(&server).await;
    let r = &requests[0];
    assert_eq!(
        params(r),
        HashMap::from([("minorversion".into(), "75".into()), ("requestid".into(), "row-7f3c".into())])
    );
    assert_eq!(header(r, "accept"), "application/json");
    assert_eq!(header(r, "content-type"), "application/json");
    assert_eq!(header(r, "authorization"), "Bearer token-1");
    assert_eq!(String::from_utf8(r.body.clone()).unwrap(), doc.to_body().unwrap());
    assert!(String::from_utf8(r.body.clone()).unwrap().contains(r#""Amount":1234.50,"#));
    assert_eq!(
        client.doc_url(DocKind::Invoice, &created.id),
        "https://app.sandbox.qbo.intuit.com/app/invoice?txnId=238"
    );
    assert_eq!(client.stats(), CallStats { calls: 1, ..CallStats::default() });
}

#[tokio::test]
async fn create_bill_reads_the_recorded_bill_exactly() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("bill")))
        .and(query_param("requestid", "bill-1"))
        .respond_with(ok_json(fixture("read_response_bill.json")))
        .expect(1)
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let created = client.create(&bill("56789"), &rid("bill-1")).await.unwrap();

    assert_eq!((created.kind, created.id.as_str(), created.party_id.as_str()), (DocKind::Bill, "25", "46"));
    assert_eq!(created.total, dec("103.55"));
    let sent: Value = received(&server).await[0].body_json().unwrap();
    assert_eq!(sent["APAccountRef"], json!({"value": "33"}));
    assert_eq!(sent["Line"][0]["AccountBasedExpenseLineDetail"]["AccountRef"], json!({"value": "7"}));
}

#[tokio::test]
async fn read_asks_for_the_invoice_link_only_when_wanted() {
    let server = MockServer::start().await;
    let mut linked = invoice_entity("238");
    linked["InvoiceLink"] = json!("https://connect.intuit.com/t/scs-v1-abc");
    Mock::given(method("GET"))
        .and(path(company_path("invoice/238")))
        .and(query_param("include", "invoiceLink"))
        .respond_with(ok_json(json!({"Invoice": linked, "time": "2015-07-24T10:33:39.11-07:00"}).to_string()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(company_path("bill/25")))
        .respond_with(ok_json(fixture("read_response_bill.json")))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let invoice = client.read(DocKind::Invoice, "238", true).await.unwrap();
    let bill = client.read(DocKind::Bill, "25", true).await.unwrap();

    assert_eq!(invoice.invoice_link.as_deref(), Some("https://connect.intuit.com/t/scs-v1-abc"));
    assert_eq!((bill.id.as_str(), bill.invoice_link.as_deref()), ("25", None));
    let requests = received(&server).await;
    assert_eq!(params(&requests[1]), HashMap::from([("minorversion".into(), "75".into())]));
    assert!(requests.iter().all(|r| r.method.as_str() == "GET" && header(r, "accept") == "application/json"));
}

#[tokio::test]
async fn queries_are_posted_as_application_text_with_escaped_names() {
    let server = MockServer::start().await;
    let answer = json!({"QueryResponse": {"Customer": [
        {"Id": "3", "DisplayName": "O'Brien & Sons", "Active": true, "SyncToken": "0"},
        {"Id": "5", "DisplayName": "Initech LLC", "Active": false, "SyncToken": "1"}
    ], "startPosition": 1, "maxResults": 2}, "time": "2015-07-24T10:38:50.01-07:00"});
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .respond_with(ok_json(answer.to_string()))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let names = ["O'Brien & Sons", "Initech LLC", "O'Brien & Sons"].map(String::from);
    let parties = client.find_parties(PartyKind::Customer, &names).await.unwrap();

    assert_eq!(parties.iter().map(|p| (p.id.as_str(), p.active)).collect::<Vec<_>>(), vec![("3", true), ("5", false)]);
    let requests = received(&server).await;
    assert_eq!(requests.len(), 1);
    assert_eq!(header(&requests[0], "content-type"), "application/text");
    assert_eq!(params(&requests[0]), HashMap::from([("minorversion".into(), "75".into())]));
    assert_eq!(
        String::from_utf8(requests[0].body.clone()).unwrap(),
        r"SELECT * FROM Customer WHERE Active IN (true,false) AND DisplayName IN ('O\'Brien & Sons','Initech LLC') STARTPOSITION 1 MAXRESULTS 1000"
    );
}

#[tokio::test]
async fn names_with_typographic_quotes_are_found_by_fragment_and_matched() {
    let server = MockServer::start().await;
    let answer = json!({"QueryResponse": {"Vendor": [
        {"Id": "56", "DisplayName": "Bob's Burger Joint", "Active": true},
        {"Id": "57", "DisplayName": "Rob's Burger Joints", "Active": true}
    ]}});
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .respond_with(ok_json(answer.to_string()))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let parties = client.find_parties(PartyKind::Vendor, &["Bob’s Burger Joint".to_owned()]).await.unwrap();

    assert_eq!(parties.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(), vec!["56"]);
    assert_eq!(
        String::from_utf8(received(&server).await[0].body.clone()).unwrap(),
        "SELECT * FROM Vendor WHERE Active IN (true,false) AND DisplayName LIKE '%s Burger Joint%' STARTPOSITION 1 MAXRESULTS 1000"
    );
}

#[tokio::test]
async fn an_empty_answer_has_no_entity_key() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .respond_with(ok_json(r#"{"QueryResponse":{},"time":"2015-07-24T10:38:50.01-07:00"}"#))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    assert_eq!(client.find_by_doc_number(DocKind::Invoice, "INV-404").await.unwrap(), vec![]);
    assert_eq!(
        String::from_utf8(received(&server).await[0].body.clone()).unwrap(),
        "SELECT * FROM Invoice WHERE DocNumber = 'INV-404' STARTPOSITION 1 MAXRESULTS 1000"
    );
}

#[tokio::test]
async fn paging_continues_until_a_short_page() {
    let server = MockServer::start().await;
    let vendors = |from: usize, n: usize| {
        let list: Vec<Value> = (from..from + n)
            .map(|i| json!({"Id": i.to_string(), "DisplayName": format!("Vendor {i}"), "Active": i % 7 != 0}))
            .collect();
        json!({"QueryResponse": {"Vendor": list, "startPosition": from, "maxResults": n}}).to_string()
    };
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .and(body_string_contains("STARTPOSITION 1 MAXRESULTS 1000"))
        .respond_with(ok_json(vendors(1, 1000)))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .and(body_string_contains("STARTPOSITION 1001 MAXRESULTS 1000"))
        .respond_with(ok_json(vendors(1001, 3)))
        .expect(1)
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let all = client.all_parties(PartyKind::Vendor).await.unwrap();

    assert_eq!(all.len(), 1003);
    assert_eq!((all[0].display_name.as_str(), all[1002].id.as_str()), ("Vendor 1", "1003"));
    assert!(all.iter().any(|p| !p.active));
    assert!(
        String::from_utf8(received(&server).await[0].body.clone())
            .unwrap()
            .starts_with("SELECT * FROM Vendor WHERE Active IN (true,false) ")
    );
}

#[tokio::test]
async fn many_doc_numbers_are_looked_up_in_chunks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .and(body_string_contains("'INV-7'"))
        .respond_with(ok_json(json!({"QueryResponse": {"Invoice": [invoice_entity("7")]}}).to_string()))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .respond_with(ok_json(r#"{"QueryResponse":{}}"#))
        .mount(&server)
        .await;
    let (client, _) = client(&server);
    let numbers: Vec<String> = (0..120).map(|i| format!("INV-{i}")).collect();

    let found = client.find_by_doc_numbers(DocKind::Invoice, &numbers).await.unwrap();

    assert_eq!(found.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), vec!["7"]);
    let bodies: Vec<String> =
        received(&server).await.iter().map(|r| String::from_utf8(r.body.clone()).unwrap()).collect();
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|b| b.starts_with("SELECT * FROM Invoice WHERE DocNumber IN ('INV-")));
    let asked: usize = bodies.iter().map(|b| b.matches("'INV-").count()).sum();
    assert_eq!(asked, 120);
}

#[tokio::test]
async fn a_throttled_write_is_retried_with_the_same_requestid() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .respond_with(ResponseTemplate::new(429).set_body_raw(XML_THROTTLE, "application/xml"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .respond_with(ok_json(invoice_answer("239").to_string()))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let created = client.create(&invoice("INV-1043"), &rid("row-b")).await.unwrap();

    assert_eq!(created.id, "239");
    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| params(r)["requestid"] == "row-b" && params(r)["minorversion"] == "75"));
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(client.stats(), CallStats { calls: 2, throttled: 1, retries: 1, ..CallStats::default() });
}

#[tokio::test]
async fn a_retry_after_too_long_to_wait_is_handed_back() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(company_path("preferences")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "3600"))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let error = client.preferences().await.unwrap_err();

    assert!(
        matches!(&error, QboError::Transient { retry_after: Some(wait), .. } if *wait == Duration::from_secs(3600)),
        "{error:?}"
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_401_refreshes_once_and_replays_the_same_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .and(bearer_token("token-1"))
        .respond_with(status_json(401, LOWER_CASE_401))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .and(bearer_token("token-2"))
        .respond_with(ok_json(invoice_answer("240").to_string()))
        .mount(&server)
        .await;
    let (client, tokens) = client(&server);

    let created = client.create(&invoice("INV-1044"), &rid("row-c")).await.unwrap();

    assert_eq!(created.id, "240");
    assert_eq!(tokens.refreshes(), 1);
    let requests = received(&server).await;
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].url, requests[1].url, "same requestid and minorversion on the replay");
    assert_eq!(params(&requests[1])["requestid"], "row-c");
    assert_eq!(requests[0].body, requests[1].body);
    assert_eq!(header(&requests[1], "authorization"), "Bearer token-2");
    assert_eq!(client.stats(), CallStats { calls: 2, token_refreshes: 1, ..CallStats::default() });
}

#[tokio::test]
async fn a_second_401_needs_a_person_to_reconnect() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .respond_with(status_json(401, LOWER_CASE_401))
        .mount(&server)
        .await;
    let (client, tokens) = client(&server);

    let error = client.find_by_doc_number(DocKind::Bill, "1").await.unwrap_err();

    assert!(matches!(error, QboError::NeedsReconnect { .. }), "{error:?}");
    assert!(!error.to_string().contains("AB0173"), "no token fragment in {error}");
    assert_eq!(tokens.refreshes(), 1);
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_token_that_cannot_be_refreshed_needs_a_reconnect() {
    let server = MockServer::start().await;
    Mock::given(method("GET")).respond_with(status_json(401, LOWER_CASE_401)).mount(&server).await;
    let client = client_with(&server, Arc::new(StaticToken(SecretString::from("fixed"))));

    let error = client.company_info().await.unwrap_err();

    assert!(matches!(error, QboError::NeedsReconnect { .. }), "{error:?}");
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_revoked_grant_is_not_retried() {
    let server = MockServer::start().await;
    let forbidden = r#"{"fault":{"error":[{"message":"message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403","detail":null,"code":"3100","element":null}],"type":"SERVICE"},"time":1730024394085}"#;
    Mock::given(method("POST")).respond_with(status_json(403, forbidden)).mount(&server).await;
    let (client, tokens) = client(&server);

    let error = client.create(&invoice("INV-1"), &rid("row-d")).await.unwrap_err();

    assert!(matches!(error, QboError::NeedsReconnect { .. }), "{error:?}");
    assert_eq!((tokens.refreshes(), received(&server).await.len()), (0, 1));
}

#[tokio::test]
async fn a_write_whose_answer_never_comes_is_uncertain_and_not_resent() {
    let server = MockServer::start().await;
    // QuickBooks commits the invoice, then the answer is too late: the client gives up waiting.
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .respond_with(ok_json(invoice_answer("241").to_string()).set_delay(Duration::from_secs(10)))
        .mount(&server)
        .await;
    let mut s = settings(&server);
    s.timeout = Duration::from_millis(300);
    let client = QboClient::new(s, CountingTokens::new()).unwrap();

    let error = client.create(&invoice("INV-1045"), &rid("row-e")).await.unwrap_err();

    assert!(matches!(error, QboError::Uncertain { .. }), "{error:?}");
    assert_eq!(received(&server).await.len(), 1, "a write with an unknown outcome is never resent");
    assert_eq!(client.stats().uncertain, 1);
}

#[tokio::test]
async fn a_read_that_times_out_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(company_path("bill/25")))
        .respond_with(ok_json(fixture("read_response_bill.json")).set_delay(Duration::from_secs(10)))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(company_path("bill/25")))
        .respond_with(ok_json(fixture("read_response_bill.json")))
        .mount(&server)
        .await;
    let mut s = settings(&server);
    s.timeout = Duration::from_millis(300);
    let client = QboClient::new(s, CountingTokens::new()).unwrap();

    assert_eq!(client.read(DocKind::Bill, "25", false).await.unwrap().total, dec("103.55"));
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_server_error_on_a_read_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(company_path("account/94")))
        .respond_with(
            ResponseTemplate::new(503).set_body_raw("<html>503 Service Temporarily Unavailable</html>", "text/html"),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(company_path("account/94")))
        .respond_with(ok_json(fixture("read_response_account_ar.json")))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let account = client.read_account("94").await.unwrap();

    assert_eq!((account.name.as_str(), account.account_type.as_str()), ("MyJobs", "Accounts Receivable"));
    assert_eq!(received(&server).await.len(), 2);
    assert_eq!(client.stats().retries, 1);
}

#[tokio::test]
async fn a_server_error_on_a_write_is_uncertain() {
    let server = MockServer::start().await;
    let system_fault = r#"{"Fault":{"Error":[{"Message":"An application error has occurred while processing your request","Detail":"System Failure Error: null","code":"10000"}],"type":"SystemFault"},"time":"2024-05-01T10:00:00.449-07:00"}"#;
    Mock::given(method("POST"))
        .and(path(company_path("bill")))
        .respond_with(status_json(500, system_fault))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let error = client.create(&bill("B-1"), &rid("row-f")).await.unwrap_err();

    assert!(matches!(error, QboError::Uncertain { .. }), "{error:?}");
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_refused_connection_is_transient_even_for_a_write() {
    // A port nobody listens on: the request was never sent, so retrying is safe.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut s = QboSettings::new(format!("http://127.0.0.1:{port}/"), REALM, SANDBOX_APP_URL);
    s.max_attempts = 3;
    s.retry_base_delay = Duration::from_millis(1);
    let client = QboClient::new(s, CountingTokens::new()).unwrap();

    let error = client.create(&invoice("INV-1"), &rid("row-g")).await.unwrap_err();

    assert!(matches!(error, QboError::Transient { .. }), "{error:?}");
    assert_eq!(client.stats(), CallStats { calls: 3, retries: 2, ..CallStats::default() });
}

#[tokio::test]
async fn batch_results_are_matched_by_bid_not_position() {
    let server = MockServer::start().await;
    let bill_entity: Value =
        serde_json::from_str::<Value>(&fixture("read_response_bill.json")).unwrap()["Bill"].clone();
    let duplicate: Value = serde_json::from_str(FAULT_6140).unwrap();
    let answer = json!({"BatchItemResponse": [
        {"bId": "b3", "Fault": duplicate["Fault"]},
        {"bId": "b9", "Invoice": invoice_entity("999")},
        {"Invoice": invoice_entity("101"), "bId": "b1"},
        {"bId": "b2", "Bill": bill_entity}
    ], "time": "2016-04-15T09:01:18.141-07:00"});
    Mock::given(method("POST"))
        .and(path(company_path("batch")))
        .respond_with(ok_json(answer.to_string()))
        .expect(1)
        .mount(&server)
        .await;
    let (client, _) = client(&server);
    let items = vec![
        ("b1".to_owned(), invoice("INV-1")),
        ("b2".to_owned(), bill("B-2")),
        ("b3".to_owned(), invoice("INV-1042")),
        ("b4".to_owned(), invoice("INV-4")),
    ];

    let results = client.create_batch(&items, &rid("batch-0001")).await.unwrap();

    let ids: Vec<&str> = results.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(ids, vec!["b1", "b2", "b3", "b4"]);
    assert_eq!(results[0].1.as_ref().unwrap().id, "101");
    assert_eq!(results[1].1.as_ref().unwrap().kind, DocKind::Bill);
    assert_eq!(results[1].1.as_ref().unwrap().id, "25");
    assert_eq!(
        results[2].1,
        Err(QboError::DuplicateDocNumber {
            doc_number: Some("INV-1042".into()),
            txn_type: "Invoice".into(),
            txn_id: "45823".into()
        })
    );
    assert!(matches!(results[3].1, Err(QboError::Uncertain { .. })), "{:?}", results[3].1);

    let request = &received(&server).await[0];
    assert_eq!(
        params(request),
        HashMap::from([("minorversion".into(), "75".into()), ("requestid".into(), "batch-0001".into())])
    );
    let sent: Value = request.body_json().unwrap();
    let sent_items = sent["BatchItemRequest"].as_array().unwrap();
    assert_eq!(sent_items.len(), 4);
    assert_eq!(sent_items[0]["bId"], "b1");
    assert_eq!(sent_items[0]["operation"], "create");
    assert_eq!(sent_items[0]["Invoice"], items[0].1.to_json());
    assert_eq!(sent_items[1]["Bill"], items[1].1.to_json());
    assert!(String::from_utf8(request.body.clone()).unwrap().contains(r#""Amount":1234.50,"#));
    assert_eq!(client.stats(), CallStats { calls: 1, batch_calls: 1, uncertain: 1, ..CallStats::default() });
}

#[tokio::test]
async fn recorded_batch_item_faults_fail_only_their_own_items() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("batch")))
        .respond_with(ok_json(fixture("batch_response_faults_and_query.json")))
        .mount(&server)
        .await;
    let (client, _) = client(&server);
    let items: Vec<(String, NewDoc)> = (1..=4).map(|i| (format!("bid{i}"), invoice(&format!("INV-{i}")))).collect();

    let results = client.create_batch(&items, &rid("batch-0002")).await.unwrap();

    let codes: Vec<String> = results
        .iter()
        .map(|(_, r)| match r {
            Err(QboError::Rejected { faults }) => faults[0].code.clone(),
            Err(QboError::Uncertain { .. }) => "uncertain".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(codes, vec!["6240", "610", "5010", "uncertain"]);
    let Err(e) = &results[1].1 else { unreachable!() };
    assert!(e.for_bookkeeper().contains("has been made inactive"));
}

#[tokio::test]
async fn batch_input_is_checked_before_anything_is_sent() {
    let server = MockServer::start().await;
    let (client, _) = client(&server);
    let too_many: Vec<(String, NewDoc)> = (0..31).map(|i| (format!("b{i}"), invoice("INV-1"))).collect();
    let twice = vec![("b1".to_owned(), invoice("INV-1")), ("b1".to_owned(), invoice("INV-2"))];
    let long_id = vec![("b0123456789".to_owned(), invoice("INV-1"))];

    for items in [too_many, twice, long_id] {
        let error = client.create_batch(&items, &rid("batch-x")).await.unwrap_err();
        assert!(matches!(error, QboError::InvalidRequest { .. }), "{error:?}");
    }
    assert_eq!(client.create_batch(&[], &rid("batch-x")).await.unwrap(), vec![]);
    assert_eq!(received(&server).await.len(), 0);
}

#[tokio::test]
async fn a_fault_inside_a_200_is_a_rejection() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .respond_with(ok_json(fixture("fault_610_object_not_found.json")))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let error = client.create(&invoice("INV-1"), &rid("row-h")).await.unwrap_err();

    let QboError::Rejected { faults } = &error else { panic!("{error:?}") };
    assert_eq!(faults[0].code, "610");
    assert_eq!(
        error.for_bookkeeper(),
        "QuickBooks says something this document refers to (customer, item, account or tax code) has been made inactive: \
         re-activate it in QuickBooks or change the row."
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_duplicate_document_number_names_the_existing_document() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("invoice")))
        .respond_with(status_json(400, FAULT_6140))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let error = client.create(&invoice("INV-1042"), &rid("row-i")).await.unwrap_err();

    assert_eq!(
        error,
        QboError::DuplicateDocNumber {
            doc_number: Some("INV-1042".into()),
            txn_type: "Invoice".into(),
            txn_id: "45823".into()
        }
    );
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn a_query_parse_error_is_the_rows_problem() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .respond_with(status_json(400, fixture("fault_4000_query_parse_error.json")))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let error = client.find_parties(PartyKind::Customer, &["Acme".to_owned()]).await.unwrap_err();

    assert!(matches!(&error, QboError::Rejected { faults } if faults[0].code == "4000"), "{error:?}");
    assert_eq!(received(&server).await.len(), 1);
}

#[tokio::test]
async fn creating_a_name_held_by_another_kind_says_who_holds_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("vendor")))
        .respond_with(status_json(400, fixture("fault_6240_duplicate_name.json")))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .and(body_string_contains("FROM Customer"))
        .respond_with(ok_json(
            json!({"QueryResponse": {"Customer": [{"Id": "1", "DisplayName": "Acme Training Co", "Active": true}]}})
                .to_string(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(company_path("query")))
        .respond_with(ok_json(r#"{"QueryResponse":{}}"#))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let error = client.create_party(PartyKind::Vendor, "Acme Training Co", &rid("party-1")).await.unwrap_err();

    let QboError::DuplicateName { name, wanted, held_by: Some(holder) } = &error else { panic!("{error:?}") };
    assert_eq!(
        (name.as_str(), *wanted, holder.entity.as_str(), holder.id.as_str()),
        ("Acme Training Co", PartyKind::Vendor, "Customer", "1")
    );
    assert!(
        error.for_bookkeeper().contains(
            "already exists in QuickBooks as a customer (names are shared by customers, vendors and employees)"
        )
    );
    let requests = received(&server).await;
    assert_eq!(params(&requests[0])["requestid"], "party-1");
    assert_eq!(requests[0].body_json::<Value>().unwrap(), json!({"DisplayName": "Acme Training Co"}));
}

#[tokio::test]
async fn creating_a_party_returns_it() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(company_path("customer")))
        .and(query_param("requestid", "party-2"))
        .respond_with(ok_json(
            json!({"Customer": {"Id": "70", "SyncToken": "0", "DisplayName": "Stark Industries", "Active": true, "domain": "QBO"},
                   "time": "2015-07-28T13:33:09.453-07:00"})
            .to_string(),
        ))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let party = client.create_party(PartyKind::Customer, "Stark Industries", &rid("party-2")).await.unwrap();

    assert_eq!((party.id.as_str(), party.display_name.as_str(), party.active), ("70", "Stark Industries", true));
}

#[tokio::test]
async fn company_info_preferences_and_items_are_read() {
    let server = MockServer::start().await;
    let items: Value = serde_json::from_str(&fixture("query_response_item_list.json")).unwrap();
    let services = items["QueryResponse"]["Item"].as_array().unwrap().iter().find(|i| i["Id"] == "1").unwrap().clone();
    Mock::given(method("GET"))
        .and(path(company_path("item/1")))
        .respond_with(ok_json(json!({"Item": services, "time": "2017-03-22T09:02:25.404-07:00"}).to_string()))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(company_path(&format!("companyinfo/{REALM}"))))
        .respond_with(ok_json(
            json!({"CompanyInfo": {"CompanyName": "Sandbox Company_US_1", "Country": "US", "Id": "1",
                   "NameValue": [{"Name": "OfferingSku", "Value": "QuickBooks Online Plus"}]}, "time": "2015-07-28T13:33:09.453-07:00"})
            .to_string(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(company_path("preferences")))
        .respond_with(ok_json(json!({"Preferences": {"SalesFormsPrefs": {"CustomTxnNumbers": true}}}).to_string()))
        .mount(&server)
        .await;
    let (client, _) = client(&server);

    let item = client.read_item("1").await.unwrap();
    let info = client.company_info().await.unwrap();
    let prefs = client.preferences().await.unwrap();

    assert_eq!((item.name.as_str(), item.item_type.as_str(), item.active), ("Services", "Service", true));
    assert_eq!(
        (info.name.as_str(), info.country.as_deref(), info.bills_available()),
        ("Sandbox Company_US_1", Some("US"), Some(true))
    );
    assert!(prefs.custom_txn_numbers);
    assert!(received(&server).await.iter().all(|r| params(r)["minorversion"] == "75"));
}

// ---------------------------------------------------------------------------------------------
// Sales tax and credits, against the sandbox's companies of several countries

mod tax_and_credits {
    use super::*;
    use qbsync::auth::StaticToken;
    use qbsync::qbo::{Country, GlobalTaxCalculation, TaxConfig, TaxFault, TaxSetup};
    use qbsync::sandbox::qbo::SandboxCountry;
    use qbsync::sandbox::{Sandbox, SandboxOptions};

    const TOKEN: &str = "tax-test-token";

    async fn company(country: SandboxCountry) -> (Sandbox, QboClient) {
        let sandbox = Sandbox::start(SandboxOptions::default()).await.unwrap();
        sandbox.qbo.load_country(country).unwrap();
        let realm = sandbox.options.realm_id.clone();
        sandbox.shared.access_tokens.insert(TOKEN, &realm, Duration::from_secs(3600));
        let mut settings = QboSettings::new(sandbox.base_url().to_string(), realm, SANDBOX_APP_URL);
        settings.timeout = Duration::from_secs(5);
        let client = QboClient::new(settings, Arc::new(StaticToken(SecretString::from(TOKEN)))).unwrap();
        (sandbox, client)
    }

    fn config(sales: Option<&str>, purchase: Option<&str>, inclusive: bool) -> TaxConfig {
        TaxConfig {
            sales_code: sales.map(|s| s.parse().unwrap()),
            purchase_code: purchase.map(|s| s.parse().unwrap()),
            amounts_include_tax: inclusive,
        }
    }

    fn credit_memo(number: &str, amount: &str) -> NewDoc {
        let NewDoc::Invoice(mut memo) = invoice(number) else { unreachable!() };
        memo.customer_id = "1".into();
        memo.lines[0].amount = dec(amount);
        memo.lines[0].unit_price = dec(amount);
        NewDoc::CreditMemo(memo)
    }

    fn vendor_credit(number: &str, amount: &str) -> NewDoc {
        let NewDoc::Bill(mut credit) = bill(number) else { unreachable!() };
        credit.vendor_id = "8".into();
        credit.ap_account_id = None;
        credit.lines[0].amount = dec(amount);
        NewDoc::VendorCredit(credit)
    }

    #[tokio::test]
    async fn tax_setup_reads_the_country_the_tax_preferences_and_the_codes() {
        let (_sandbox, qbo) = company(SandboxCountry::UnitedKingdom).await;
        let setup: TaxSetup = qbo.tax_setup().await.unwrap();
        assert_eq!(setup.country, Country::UnitedKingdom);
        assert!(setup.needs_line_codes() && !setup.automated_sales_tax());
        assert_eq!(setup.using_sales_tax, Some(true));
        let standard = setup.find("20.0% s").unwrap();
        assert_eq!((standard.id.as_str(), standard.sales_rates.as_slice()), ("2", &["20.0% S".to_owned()][..]));
        assert!(setup.code_list().contains(r#"6 "No VAT""#), "{}", setup.code_list());

        let (_sandbox, qbo) = company(SandboxCountry::UsAutomatedTax).await;
        let setup = qbo.tax_setup().await.unwrap();
        assert_eq!((setup.country.clone(), setup.automated_sales_tax()), (Country::UnitedStates, true));
        assert!(setup.find("TAX").is_some() && setup.find("NON").is_some());
    }

    #[tokio::test]
    async fn a_taxed_invoice_reaches_quickbooks_with_its_codes_and_comes_back_with_the_tax() {
        let (sandbox, qbo) = company(SandboxCountry::Canada).await;
        let plan = qbo.tax_setup().await.unwrap().plan(&config(Some("HST ON"), None, false), false).unwrap();
        let NewDoc::Invoice(mut inv) = invoice("CA-1") else { unreachable!() };
        inv.customer_id = "1".into();
        inv.lines[0].amount = dec("100.00");
        inv.lines[0].unit_price = dec("100.00");
        let doc = NewDoc::Invoice(inv).with_tax(plan.doc_tax(DocKind::Invoice, &[None]).unwrap()).unwrap();
        let body = doc.to_body().unwrap();
        assert!(body.contains(r#""GlobalTaxCalculation":"TaxExcluded""#), "{body}");
        assert!(body.contains(r#""TaxCodeRef":{"value":"6"}"#), "{body}");
        let created = qbo.create(&doc, &rid("ca-1")).await.unwrap();
        // The sheet's 100.00 went out exactly; QuickBooks' total carries the 13 % HST.
        assert_eq!(created.total, dec("113.00"));
        assert_eq!(sandbox.qbo.invoices()[0].lines[0].amount, dec("100"));

        // Inclusive: the total is the sheet's amount.
        let inclusive = qbo.tax_setup().await.unwrap().plan(&config(Some("6"), None, true), false).unwrap();
        let tax = inclusive.doc_tax(DocKind::CreditMemo, &[None]).unwrap();
        assert_eq!(tax.calculation, Some(GlobalTaxCalculation::TaxInclusive));
        let memo = credit_memo("CA-CM-1", "113.00").with_tax(tax).unwrap();
        let created = qbo.create(&memo, &rid("ca-cm-1")).await.unwrap();
        assert_eq!((created.kind, created.total), (DocKind::CreditMemo, dec("113.00")));
    }

    #[tokio::test]
    async fn an_untaxed_document_outside_the_us_fails_with_a_tax_fault_that_is_never_transient() {
        let (_sandbox, qbo) = company(SandboxCountry::Australia).await;
        let NewDoc::Invoice(mut inv) = invoice("AU-1") else { unreachable!() };
        inv.customer_id = "1".into();
        let error = qbo.create(&NewDoc::Invoice(inv), &rid("au-1")).await.unwrap_err();
        assert_eq!(error.tax_fault(), Some(TaxFault::MissingCode), "{error:?}");
        assert!(!error.is_transient());
        assert!(error.for_bookkeeper().contains("QB_DEFAULT_TAX_CODE"), "{}", error.for_bookkeeper());

        let (_sandbox, qbo) = company(SandboxCountry::Us).await;
        let NewDoc::Invoice(inv) = invoice("US-1") else { unreachable!() };
        let wrong = TaxSetup { country: Country::UnitedKingdom, ..qbo.tax_setup().await.unwrap() };
        // A plan made for the wrong country sends a numeric code; the US company refuses it (the
        // calculation, which it would refuse too, is left out to see the code's own fault).
        let plan = wrong.plan(&config(Some("2"), None, false), false).unwrap();
        let tax = qbsync::qbo::DocTax { calculation: None, ..plan.doc_tax(DocKind::Invoice, &[None]).unwrap() };
        let doc = NewDoc::Invoice(NewInvoice { customer_id: "1".into(), ..inv }).with_tax(tax).unwrap();
        let error = qbo.create(&doc, &rid("us-1")).await.unwrap_err();
        assert_eq!(error.tax_fault(), Some(TaxFault::InvalidUsCode), "{error:?}");
    }

    #[tokio::test]
    async fn credit_memos_and_vendor_credits_are_created_alone_and_in_batches_and_found_by_number() {
        let (sandbox, qbo) = company(SandboxCountry::Us).await;
        let memo = qbo.create(&credit_memo("CM-1", "50.00"), &rid("cm-1")).await.unwrap();
        assert_eq!(
            (memo.kind, memo.doc_number.as_deref(), memo.party_id.as_str()),
            (DocKind::CreditMemo, Some("CM-1"), "1")
        );
        assert_eq!(memo.total, dec("50.00"));
        let credit = qbo.create(&vendor_credit("VC-1", "90.00"), &rid("vc-1")).await.unwrap();
        assert_eq!((credit.kind, credit.party_id.as_str(), credit.total), (DocKind::VendorCredit, "8", dec("90.00")));

        let items = vec![
            ("b1".to_owned(), credit_memo("CM-2", "10.00")),
            ("b2".to_owned(), vendor_credit("VC-2", "20.00")),
            ("b3".to_owned(), {
                let NewDoc::Invoice(inv) = invoice("INV-9") else { unreachable!() };
                NewDoc::Invoice(NewInvoice { customer_id: "1".into(), ..inv })
            }),
        ];
        let results = qbo.create_batch(&items, &rid("batch-credits")).await.unwrap();
        let kinds: Vec<DocKind> = results.iter().map(|(_, r)| r.as_ref().unwrap().kind).collect();
        assert_eq!(kinds, [DocKind::CreditMemo, DocKind::VendorCredit, DocKind::Invoice]);
        assert_eq!((sandbox.qbo.credit_memos().len(), sandbox.qbo.vendor_credits().len()), (2, 2));

        let found = qbo.find_by_doc_number(DocKind::CreditMemo, "CM-2").await.unwrap();
        assert_eq!(found.len(), 1);
        let found = qbo.find_by_doc_numbers(DocKind::VendorCredit, &["VC-1".into(), "VC-2".into()]).await.unwrap();
        assert_eq!(found.len(), 2);
        let read = qbo.read(DocKind::CreditMemo, &memo.id, false).await.unwrap();
        assert_eq!(read.doc_number.as_deref(), Some("CM-1"));
        assert_eq!(
            qbo.doc_url(DocKind::CreditMemo, &memo.id),
            format!("{SANDBOX_APP_URL}/app/creditmemo?txnId={}", memo.id)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Money back, against the sandbox: CDC, reads by id, payments, void and delete, metered calls

mod money_back {
    use std::sync::Arc;
    use std::time::Duration;

    use chrono::Utc;
    use qbsync::qbo::{
        CallStats, CdcEntity, CdcOutcome, Change, DocKind, NewPayment, PayFrom, PaymentKind, QboClient, QboError,
        QboSettings, SANDBOX_APP_URL,
    };
    use qbsync::sandbox::qbo::EntityKind;
    use qbsync::sandbox::{Sandbox, SandboxOptions};
    use secrecy::SecretString;

    use super::{day, dec, invoice, rid};

    const TOKEN: &str = "money-back-token";

    async fn start() -> (Sandbox, QboClient) {
        let sandbox = Sandbox::start(SandboxOptions::default()).await.expect("sandbox starts");
        let realm = sandbox.options.realm_id.clone();
        sandbox.shared.access_tokens.insert(TOKEN, &realm, Duration::from_secs(3600));
        let mut settings = QboSettings::new(sandbox.base_url(), realm, SANDBOX_APP_URL);
        settings.retry_base_delay = Duration::from_millis(5);
        let tokens = Arc::new(qbsync::auth::StaticToken(SecretString::from(TOKEN)));
        (sandbox, QboClient::new(settings, tokens).unwrap())
    }

    /// An invoice for demo customer 1 (the shared test invoice names customer 58).
    async fn create_invoice(client: &QboClient, number: &str) -> qbsync::qbo::Doc {
        let mut doc = invoice(number);
        if let qbsync::qbo::NewDoc::Invoice(i) = &mut doc {
            i.customer_id = "1".into();
        }
        client.create(&doc, &rid(&format!("create-{number}"))).await.unwrap()
    }

    /// A bill for demo vendor 7 (the shared test bill names vendor 46).
    async fn create_bill(client: &QboClient, number: &str) -> qbsync::qbo::Doc {
        let mut doc = super::bill(number);
        if let qbsync::qbo::NewDoc::Bill(b) = &mut doc {
            b.vendor_id = "7".into();
        }
        client.create(&doc, &rid(&format!("create-{number}"))).await.unwrap()
    }

    #[tokio::test]
    async fn cdc_reports_a_payment_recorded_in_quickbooks_and_counts_one_metered_call() {
        let (sandbox, client) = start().await;
        let since = Utc::now() - chrono::Duration::minutes(5);
        let created = create_invoice(&client, "MB-1").await;
        sandbox.qbo.record_payment(EntityKind::Invoice, &created.id, dec("234.50")).unwrap();
        assert_eq!(client.stats().metered, 0, "creates are not metered");

        let CdcOutcome::Answer(answer) = client.cdc(&CdcEntity::ALL, since).await.unwrap() else { panic!("too old") };
        assert_eq!(client.stats().metered, 1);
        assert_eq!(answer.objects, 2, "the invoice and the payment");
        assert!(answer.answered_at.is_some());
        let doc = answer
            .changes
            .iter()
            .find_map(|c| if let Change::Doc(d) = c { Some(d.clone()) } else { None })
            .expect("the invoice changed");
        assert_eq!((doc.total, doc.balance), (dec("1234.50"), dec("1000")));
        assert_eq!(doc.payments.len(), 1);
        assert_eq!(doc.payments[0].kind, PaymentKind::Payment);
        let payment = answer
            .changes
            .iter()
            .find_map(|c| if let Change::Payment(p) = c { Some(p.clone()) } else { None })
            .expect("the payment is reported");
        assert_eq!(payment.id, doc.payments[0].id);
        assert_eq!(payment.applied[0].doc_id, created.id);
        assert_eq!(payment.applied[0].amount, dec("234.50"));
        let read = client.read_payment(PaymentKind::Payment, &payment.id).await.unwrap();
        assert_eq!(read.txn_date, payment.txn_date);
        assert_eq!(client.stats().metered, 2);
    }

    #[tokio::test]
    async fn a_window_older_than_thirty_days_comes_back_as_too_old() {
        let (sandbox, client) = start().await;
        let since = Utc::now() - chrono::Duration::days(10);
        assert!(matches!(client.cdc(&[CdcEntity::Invoice], since).await.unwrap(), CdcOutcome::Answer(_)));
        sandbox.qbo.advance_clock(chrono::Duration::days(25));
        assert_eq!(client.cdc(&[CdcEntity::Invoice], since).await.unwrap(), CdcOutcome::TooOld);
        assert_eq!(client.stats().metered, 2);
    }

    #[tokio::test]
    async fn deletions_arrive_as_tombstones_and_reads_by_id_leave_them_out() {
        let (sandbox, client) = start().await;
        let since = Utc::now() - chrono::Duration::minutes(5);
        let kept = create_invoice(&client, "MB-K").await;
        let gone = create_invoice(&client, "MB-G").await;
        sandbox.qbo.delete_document(EntityKind::Invoice, &gone.id).unwrap();
        let CdcOutcome::Answer(answer) = client.cdc(&[CdcEntity::Invoice], since).await.unwrap() else { panic!() };
        assert!(
            answer
                .changes
                .iter()
                .any(|c| matches!(c, Change::Deleted { entity: CdcEntity::Invoice, id, .. } if *id == gone.id))
        );
        let ids = vec![kept.id.clone(), gone.id.clone(), kept.id.clone()];
        let read = client.docs_by_ids(DocKind::Invoice, &ids).await.unwrap();
        assert_eq!(read.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), [kept.id.as_str()]);
        assert_eq!(client.stats().metered, 2, "one CDC poll, one query page");
    }

    #[tokio::test]
    async fn a_payment_and_a_bill_payment_pay_the_open_balance_exactly_once() {
        let (sandbox, client) = start().await;
        let created = create_invoice(&client, "MB-P").await;
        let payment = NewPayment::Invoice {
            customer_id: "1".into(),
            invoice_id: created.id.clone(),
            amount: dec("1234.50"),
            txn_date: day("2026-03-04"),
            deposit_account_id: Some("35".into()),
            private_note: None,
        };
        let first = client.create_payment(&payment, &rid("pay-row-7")).await.unwrap();
        let again = client.create_payment(&payment, &rid("pay-row-7")).await.unwrap();
        assert_eq!(first.id, again.id, "the same requestid pays once");
        assert_eq!(first.txn_date, Some(day("2026-03-04")));
        assert_eq!(sandbox.qbo.invoices()[0].balance, dec("0"));
        assert!(matches!(
            client.create_bill_payment(&payment, &rid("wrong-kind")).await,
            Err(QboError::InvalidRequest { .. })
        ));
        let over = client.create_payment(&payment, &rid("pay-row-7-again")).await.unwrap_err();
        assert!(matches!(over, QboError::Rejected { .. }), "{over:?}");

        let bill = create_bill(&client, "B-77").await;
        let bill_payment = NewPayment::Bill {
            vendor_id: bill.party_id.clone(),
            bill_id: bill.id.clone(),
            amount: bill.total,
            txn_date: day("2026-03-05"),
            pay_from: PayFrom::Bank { account_id: "35".into() },
            private_note: None,
        };
        let paid = client.create_bill_payment(&bill_payment, &rid("billpay-row-8")).await.unwrap();
        assert_eq!(paid.kind, PaymentKind::BillPayment);
        assert_eq!(paid.applied[0].doc_id, bill.id);
        let read = client.docs_by_ids(DocKind::Bill, std::slice::from_ref(&bill.id)).await.unwrap();
        assert!(read[0].balance.is_zero());
        assert_eq!(read[0].payments[0].kind, PaymentKind::BillPayment);
        assert_eq!(client.stats().metered, 1, "only the read by id is metered");
    }

    #[tokio::test]
    async fn an_invoice_is_voided_and_a_bill_deleted_with_their_sync_tokens() {
        let (sandbox, client) = start().await;
        let created = create_invoice(&client, "MB-V").await;
        let stale = client.void_invoice(&created.id, "9", &rid("void-stale")).await.unwrap_err();
        assert!(matches!(&stale, QboError::Rejected { faults } if faults[0].code == "5010"), "{stale:?}");
        let voided = client.void_invoice(&created.id, &created.sync_token, &rid("void-1")).await.unwrap();
        assert!(voided.voided);
        assert_eq!((voided.total, voided.balance, voided.sync_token.as_str()), (dec("0"), dec("0"), "1"));

        let bill = create_bill(&client, "B-D").await;
        client.delete(DocKind::Bill, &bill.id, &bill.sync_token, &rid("delete-1")).await.unwrap();
        assert!(sandbox.qbo.bills().is_empty());

        let paid = create_invoice(&client, "MB-PAID").await;
        sandbox.qbo.record_payment(EntityKind::Invoice, &paid.id, dec("1")).unwrap();
        let refused = client.delete(DocKind::Invoice, &paid.id, "1", &rid("delete-paid")).await.unwrap_err();
        assert!(matches!(&refused, QboError::Rejected { faults } if faults[0].code == "6000"), "{refused:?}");
        assert_eq!(client.stats(), CallStats { calls: 7, ..CallStats::default() }, "no write is metered");
    }
}
