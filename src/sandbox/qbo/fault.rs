//! QBO's error envelopes, exactly as the recorded fixtures show them.
//!
//! QBO answers errors in several shapes (reference §8), and clients must survive all of them:
//! - the standard `{"Fault":{"Error":[…],"type":"ValidationFault"},"time":"…"}` ([`Fault`]);
//! - per-item faults inside a batch answer (the same object without `time`);
//! - the gateway's lower-case JSON on 401 and 403, with `time` in epoch milliseconds;
//! - the throttle fault, as JSON or as the XML some clients receive even when asking for JSON;
//! - bare HTML from the load balancer on 502 and 503.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::reply::Reply;
use crate::sandbox::tokens::TokenProblem;

/// The Detail QBO gives when a referenced record is inactive or a read finds nothing
/// (`fault_610_object_not_found.json`).
pub const OBJECT_NOT_FOUND_DETAIL: &str = "Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees.";

/// The Detail of a duplicate-name fault (`batch_response_faults_and_query.json`), line break included.
pub const DUPLICATE_NAME_DETAIL: &str = "The name supplied already exists. : Another customer, vendor or employee is already using this \nname. Please use a different name.";

/// Who the stale-object fault says won the race.
const OTHER_USER: &str = "Sandbox Admin";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultType {
    Validation,
    System,
    Service,
}

impl FaultType {
    fn wire(self) -> &'static str {
        match self {
            FaultType::Validation => "ValidationFault",
            FaultType::System => "SystemFault",
            FaultType::Service => "SERVICE",
        }
    }
}

/// One QBO fault. QBO can list several errors but reports the first it finds; so does the
/// emulator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub status: StatusCode,
    pub kind: FaultType,
    pub code: &'static str,
    pub message: String,
    pub detail: String,
    /// `None` leaves the key out (as in the 4000 fixture); `Some("")` is the common empty element.
    pub element: Option<String>,
}

impl Fault {
    pub fn validation(code: &'static str, message: &str, detail: String, element: Option<&str>) -> Fault {
        Fault {
            status: StatusCode::BAD_REQUEST,
            kind: FaultType::Validation,
            code,
            message: message.to_owned(),
            detail,
            element: element.map(str::to_owned),
        }
    }

    /// 2020: a required field is missing (`fault_2020_*.json`).
    pub fn required(element: &str) -> Fault {
        Fault::validation(
            "2020",
            "Required param missing, need to supply the required value for the API",
            format!("Required parameter {element} is missing in the request"),
            Some(element),
        )
    }

    /// 2010: a property QBO does not know, or a body it cannot read.
    pub fn unsupported_property(what: &str) -> Fault {
        Fault::validation(
            "2010",
            "Request has invalid or unsupported property",
            format!("Property Name:{what} specified is unsupported or invalid"),
            Some(""),
        )
    }

    /// 2040: a character QuickBooks does not allow in the field (a colon in a customer or vendor
    /// DisplayName, which QuickBooks reserves for "Parent:Child"). The real shape is not
    /// recorded; this is a plausible ValidationFault (README, known differences).
    pub fn invalid_character(element: &str, character: &str) -> Fault {
        Fault::validation(
            "2040",
            "Invalid character",
            format!("{element} contains a character that is not allowed: \"{character}\""),
            Some(element),
        )
    }

    /// 2050: a string longer than the field allows.
    pub fn string_length(element: &str, max: usize, supplied: usize) -> Fault {
        Fault::validation(
            "2050",
            "String length is either shorter or longer than supported by specification",
            format!(
                "String length specified does not match the supported length. Min:0 Max:{max} supported. Supplied length:{supplied}"
            ),
            Some(element),
        )
    }

    /// 2080: not a number, or more digits than QBO keeps.
    pub fn illegal_number(element: &str, supplied: &str) -> Fault {
        Fault::validation(
            "2080",
            "Illegal number format",
            format!(
                "Illegal number format : {element} must be a decimal with at most 10 digits before and 5 after the point. Supplied value:{supplied}"
            ),
            Some(element),
        )
    }

    /// 2500: a reference to something that does not exist.
    pub fn invalid_reference(element: &str) -> Fault {
        Fault::validation("2500", "Invalid Reference Id", format!("Invalid Reference Id : {element}"), Some(element))
    }

    /// 2500 for a category item on a line (consolibyte/quickbooks-php #178).
    pub fn category_on_line(element: &str) -> Fault {
        Fault::validation(
            "2500",
            "Invalid Reference Id",
            "Invalid Reference Id : Categories cannot be used in transactions.".to_owned(),
            Some(element),
        )
    }

    /// 610: a reference to an inactive record, or a read of an id that does not exist.
    pub fn object_not_found() -> Fault {
        Fault::validation("610", "Object Not Found", OBJECT_NOT_FOUND_DETAIL.to_owned(), Some(""))
    }

    /// 610 for a transaction that was deleted.
    pub fn deleted_transaction() -> Fault {
        Fault::validation(
            "610",
            "Object Not Found",
            "Object Not Found : Another user has deleted this transaction.".to_owned(),
            Some(""),
        )
    }

    /// 4000: the statement does not parse (`fault_4000_query_parse_error.json`: no `element`).
    pub fn query_parse(detail: String) -> Fault {
        Fault::validation("4000", "Error parsing query", format!("QueryParserError: {detail}"), None)
    }

    /// 4001: the statement parses but is not valid (unknown property, `STARTPOSITION 0`, …).
    pub fn query_invalid(detail: String) -> Fault {
        Fault::validation("4001", "Invalid query", format!("QueryValidationError: {detail}"), None)
    }

    /// 5010: the SyncToken sent is not the current one (`fault_5010_stale_object.json`).
    pub fn stale_object() -> Fault {
        Fault::validation(
            "5010",
            "Stale Object Error",
            format!(
                "Stale Object Error : You and {OTHER_USER} were working on this at the same time. {OTHER_USER} finished before you did, so your work was not saved."
            ),
            Some(""),
        )
    }

    /// 5020: the company's subscription does not include the feature (e.g. Bills on Simple Start).
    pub fn not_entitled(feature: &str) -> Fault {
        Fault::validation(
            "5020",
            "You do not have permission to access this feature.",
            format!(
                "You have issued a request against a feature for which your product is not entitled: {feature} is not available in QuickBooks Online Simple Start."
            ),
            Some(""),
        )
    }

    /// 6000: a business rule, with QBO's Detail prefix.
    pub fn business(detail: &str) -> Fault {
        Fault::validation(
            "6000",
            "A business validation error has occurred while processing your request",
            format!("Business Validation Error: {detail}"),
            Some(""),
        )
    }

    /// 6070: a sales line whose Amount is not Qty × UnitPrice (Intuit's IPP error-code list).
    pub fn amount_calculation(supplied: &str) -> Fault {
        Fault::validation(
            "6070",
            "Amount calculation incorrect in the request",
            format!("Amount is not equal to Qty * UnitPrice. Supplied value:{supplied}"),
            Some("Line.Amount"),
        )
    }

    /// 6080: a name-list record with none of the name fields.
    pub fn no_name() -> Fault {
        Fault::validation(
            "6080",
            "No Name Provided",
            "Title, GivenName, MiddleName, FamilyName, DisplayName, Suffix - one of these must be non-empty".to_owned(),
            Some(""),
        )
    }

    /// 6140: the DocNumber is already used (Stack Overflow / Clio, reference §7).
    pub fn duplicate_doc_number(doc_number: &str, txn_type: &str, txn_id: &str) -> Fault {
        Fault::validation(
            "6140",
            "Duplicate Document Number Error",
            format!(
                "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber={doc_number} is assigned to TxnType={txn_type} with TxnId={txn_id}"
            ),
            Some(""),
        )
    }

    /// 6240: the DisplayName is used by another customer, vendor or employee.
    pub fn duplicate_name() -> Fault {
        Fault::validation("6240", "Duplicate Name Exists Error", DUPLICATE_NAME_DETAIL.to_owned(), Some(""))
    }

    /// 500: an operation or resource QBO (or the emulator) does not offer.
    pub fn unsupported_operation(detail: String) -> Fault {
        Fault::validation("500", "Unsupported Operation", detail, Some(""))
    }

    /// 10000 with HTTP 500: the service failed (`generic_error.xml` in quickbooks-ruby).
    pub fn system_failure() -> Fault {
        Fault {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: FaultType::System,
            code: "10000",
            message: "An application error has occurred while processing your request".to_owned(),
            detail: "System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a few minutes and try again. If the problem persists, contact customer support.".to_owned(),
            element: None,
        }
    }

    fn error_object(&self) -> Value {
        let mut error = json!({ "Message": self.message, "Detail": self.detail, "code": self.code });
        if let (Some(element), Some(map)) = (&self.element, error.as_object_mut()) {
            map.insert("element".to_owned(), Value::String(element.clone()));
        }
        error
    }

    /// The object under `Fault`, which is also what a batch item carries.
    pub fn body(&self) -> Value {
        json!({ "Error": [self.error_object()], "type": self.kind.wire() })
    }

    /// The whole answer: `{"Fault":{…},"time":"…"}`.
    pub fn envelope(&self, time: &str) -> Value {
        json!({ "Fault": self.body(), "time": time })
    }

    pub fn reply(&self, time: &str) -> Reply {
        Reply::json(self.status, &self.envelope(time))
    }
}

/// How throttling is answered: QBO's JSON fault, or the XML some clients get regardless.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThrottleFormat {
    #[default]
    Json,
    Xml,
}

const THROTTLE_MESSAGE: &str = "message=ThrottleExceeded; errorCode=003001; statusCode=429";
const THROTTLE_DETAIL: &str = "The request limit was reached.  Try again later";

/// HTTP 429 with the throttle fault (reference §8, variants A and C).
pub fn throttled(format: ThrottleFormat, time: &str) -> Reply {
    match format {
        ThrottleFormat::Json => {
            let body = json!({
                "Fault": {
                    "Error": [{ "Message": THROTTLE_MESSAGE, "Detail": THROTTLE_DETAIL, "code": "3001" }],
                    "type": "SERVICE"
                },
                "time": time
            });
            Reply::json(StatusCode::TOO_MANY_REQUESTS, &body)
        }
        ThrottleFormat::Xml => Reply::text(
            StatusCode::TOO_MANY_REQUESTS,
            "application/xml;charset=UTF-8",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><IntuitResponse xmlns="http://schema.intuit.com/finance/v3" time="{time}"><Fault type="SERVICE"><Error code="3001"><Message>{THROTTLE_MESSAGE}</Message><Detail>{THROTTLE_DETAIL}</Detail></Error></Fault></IntuitResponse>"#
            ),
        ),
    }
}

/// The gateway's lower-case envelope (reference §8, variant B).
fn gateway_fault(status: StatusCode, message: &str, detail: &str, code: &str, kind: &str, epoch_ms: i64) -> Reply {
    let body = json!({
        "warnings": null,
        "intuitObject": null,
        "fault": {
            "error": [{ "message": message, "detail": detail, "code": code, "element": null }],
            "type": kind
        },
        "report": null,
        "queryResponse": null,
        "batchItemResponse": [],
        "attachableResponse": [],
        "syncErrorResponse": null,
        "requestId": null,
        "time": epoch_ms,
        "status": null,
        "cdcresponse": []
    });
    Reply::json(status, &body)
}

/// 401 for a missing, unknown or expired bearer token.
pub fn authentication_failed(problem: TokenProblem, bearer: Option<&str>, epoch_ms: i64) -> Reply {
    // Intuit echoes the start of the token; a few characters are enough to recognise it.
    let prefix: String = bearer.unwrap_or_default().chars().take(6).collect();
    let detail = match problem {
        TokenProblem::Missing => "Malformed bearer token: too short or too long".to_owned(),
        TokenProblem::Unknown => format!("Token invalid: {prefix}…"),
        TokenProblem::Expired => format!("Token expired: {prefix}…"),
    };
    gateway_fault(
        StatusCode::UNAUTHORIZED,
        "message=AuthenticationFailed; errorCode=003200; statusCode=401",
        &detail,
        "3200",
        "AUTHENTICATION",
        epoch_ms,
    )
}

/// 403 for a token that does not grant the company in the path.
pub fn authorization_failed(realm_id: &str, epoch_ms: i64) -> Reply {
    gateway_fault(
        StatusCode::FORBIDDEN,
        "message=AuthorizationFailed; errorCode=003100; statusCode=403",
        &format!("Authorization Failure: the access token does not grant access to company {realm_id}"),
        "3100",
        "SERVICE",
        epoch_ms,
    )
}

/// 502 or 503 from the load balancer: HTML, not a Fault.
pub fn gateway_error(status: StatusCode) -> Reply {
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("Error"));
    Reply::text(
        status,
        "text/html",
        format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_is_left_out_when_none() {
        let parse = Fault::query_parse("x".into()).body();
        assert!(parse["Error"][0].get("element").is_none());
        let required = Fault::required("CustomerRef").body();
        assert_eq!(required["Error"][0]["element"], "CustomerRef");
        assert_eq!(required["Error"][0]["code"], "2020");
        assert_eq!(required["type"], "ValidationFault");
    }

    #[test]
    fn duplicate_doc_number_names_the_existing_transaction() {
        let fault = Fault::duplicate_doc_number("O0010714", "Invoice", "45823");
        assert_eq!(
            fault.detail,
            "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=O0010714 is assigned to TxnType=Invoice with TxnId=45823"
        );
    }
}
