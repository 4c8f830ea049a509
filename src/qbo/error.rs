//! [`QboError`]: what went wrong with a QuickBooks call, as the decision the caller makes.
//!
//! The variants are not "what HTTP said" but "what to do now": retry later ([`Transient`]),
//! look the document up before sending it again ([`Uncertain`]), wait for a person to reconnect
//! ([`NeedsReconnect`]), alert about the company ([`CompanyUnavailable`]), adopt or refuse an
//! existing document ([`DuplicateDocNumber`]), or fail the row ([`Rejected`], …). Classification
//! looks at the HTTP status first and the fault code second (reference §8), because the same code
//! means different things under different statuses (3100 is a revoked grant under 403 but was
//! seen as an internal error under 500).
//!
//! [`QboError::for_bookkeeper`] turns each error into one sentence a bookkeeper can act on; it
//! never quotes raw JSON.
//!
//! [`Transient`]: QboError::Transient
//! [`Uncertain`]: QboError::Uncertain
//! [`NeedsReconnect`]: QboError::NeedsReconnect
//! [`CompanyUnavailable`]: QboError::CompanyUnavailable
//! [`DuplicateDocNumber`]: QboError::DuplicateDocNumber
//! [`Rejected`]: QboError::Rejected

use std::time::Duration;

use super::fault::{Fault, FaultDetail};
use super::model::PartyKind;
use super::tax_fault::TaxFault;

/// Why a QuickBooks call did not give the answer asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QboError {
    /// Nothing was applied (or it was a read): try again later. Never the row's fault.
    #[error("QuickBooks is temporarily unavailable: {reason}")]
    Transient { reason: String, retry_after: Option<Duration> },
    /// A write may have been applied (its answer was lost, or QuickBooks failed after receiving
    /// it). Look the document up before sending it again.
    #[error("QuickBooks may have applied the request without confirming it: {reason}")]
    Uncertain { reason: String },
    /// The grant is revoked, expired beyond refresh, or points at the wrong company or host:
    /// a person must reconnect. No row is failed for it.
    #[error("QuickBooks needs to be re-connected: {reason}")]
    NeedsReconnect { reason: String },
    /// The company cannot take documents (subscription lapsed, feature not on the plan, no
    /// permission): alert; don't blame one row.
    #[error("the QuickBooks company cannot accept this request ({code} {message})")]
    CompanyUnavailable { code: String, message: String },
    /// Fault 6140: the number is already used by the document named here.
    #[error(
        "document number {} is already used by {txn_type} {txn_id} in QuickBooks",
        doc_number.as_deref().unwrap_or("(unknown)")
    )]
    DuplicateDocNumber { doc_number: Option<String>, txn_type: String, txn_id: String },
    /// Fault 6240 on creating a customer or vendor: the name is taken (display names are unique
    /// across customers, vendors and employees). `held_by` says by whom, when qbsync could find out.
    #[error("the name {name:?} is already used in QuickBooks{}", held_by.as_ref().map(|h| format!(" by {} {}", h.entity, h.id)).unwrap_or_default())]
    DuplicateName { name: String, wanted: PartyKind, held_by: Option<NameHolder> },
    /// The document's data is wrong (2020, 2050, 2500, 610, 6000, …): the row's problem.
    #[error("QuickBooks rejected the request: {}", summary(faults))]
    Rejected { faults: Vec<FaultDetail> },
    /// qbsync was asked to send something QuickBooks cannot be asked (a malformed batch, a value
    /// no query can carry, an unusable setting). Nothing was sent.
    #[error("qbsync cannot send this request to QuickBooks: {reason}")]
    InvalidRequest { reason: String },
    /// An answer we could not understand (no write was pending, or it would be `Uncertain`).
    #[error("QuickBooks sent an answer qbsync does not understand: {reason}")]
    Protocol { reason: String },
}

/// The record that already holds a display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameHolder {
    /// `Customer`, `Vendor` or `Employee`.
    pub entity: String,
    pub id: String,
    pub display_name: String,
    pub active: bool,
}

impl QboError {
    /// Whether trying the same call again later may succeed with nothing else done.
    pub fn is_transient(&self) -> bool {
        matches!(self, QboError::Transient { .. })
    }

    /// One sentence a bookkeeper can act on, naming the field when QuickBooks names one.
    pub fn for_bookkeeper(&self) -> String {
        match self {
            QboError::Transient { .. } => {
                "QuickBooks is busy or unreachable right now; qbsync will try again automatically.".into()
            }
            QboError::Uncertain { .. } => "QuickBooks did not confirm whether this document was created; qbsync will \
                 check QuickBooks before sending it again."
                .into(),
            QboError::NeedsReconnect { .. } => "QuickBooks needs to be re-connected: run `qbsync auth` (nothing is \
                 lost; waiting rows are synced once it is connected again)."
                .into(),
            QboError::CompanyUnavailable { code, message } => match code.as_str() {
                "6190" => "The QuickBooks company's subscription has ended or has a billing problem: fix the \
                     subscription in QuickBooks, and qbsync will carry on."
                    .into(),
                "5020" => "QuickBooks says the connected user or the company's plan does not allow this (bills need \
                     QuickBooks Online Essentials or higher): upgrade the plan or reconnect as an admin, or set \
                     QB_SYNC_MODE=invoice_only."
                    .into(),
                _ => format!(
                    "QuickBooks cannot accept documents for this company right now ({}): check the company's \
                     subscription and settings in QuickBooks.",
                    clean(message)
                ),
            },
            QboError::DuplicateDocNumber { doc_number, txn_type, txn_id } => format!(
                "QuickBooks already has {} numbered {} (QuickBooks id {txn_id}): give this row a different number, or \
                 remove the existing one in QuickBooks.",
                with_article(&txn_type_words(txn_type)),
                doc_number.as_deref().map(|d| format!("\"{d}\"")).unwrap_or_else(|| "the same".into()),
            ),
            QboError::DuplicateName { name, wanted, held_by } => match held_by {
                Some(h) if h.entity.eq_ignore_ascii_case(wanted.entity()) && !h.active => format!(
                    "\"{name}\" exists in QuickBooks as an inactive {wanted}: make it active again in QuickBooks."
                ),
                Some(h) => format!(
                    "\"{name}\" already exists in QuickBooks as {} (names are shared by customers, vendors and \
                     employees): rename one of them in QuickBooks, or use a different {wanted} name in the row.",
                    with_article(&format!(
                        "{}{}",
                        if h.active { "" } else { "inactive " },
                        h.entity.to_ascii_lowercase()
                    )),
                ),
                None => format!(
                    "\"{name}\" is already used in QuickBooks by another customer, vendor or employee (names are \
                     shared by customers, vendors and employees): rename one of them in QuickBooks, or use a \
                     different {wanted} name in the row."
                ),
            },
            QboError::Rejected { faults } => {
                let mut sentences: Vec<String> = Vec::new();
                for f in faults {
                    let s = explain(f);
                    if !sentences.contains(&s) {
                        sentences.push(s);
                    }
                }
                if sentences.is_empty() {
                    return "QuickBooks rejected the document without saying why: check the row's values.".into();
                }
                sentences.truncate(3);
                sentences.join(" ")
            }
            QboError::InvalidRequest { reason } => {
                format!("qbsync could not send this to QuickBooks: {}.", clean(reason))
            }
            QboError::Protocol { .. } => {
                "QuickBooks sent an answer qbsync could not understand; qbsync will try again \
                 on a later pass (if this repeats, check QBSYNC_QBO_API_URL)."
                    .into()
            }
        }
    }
}

/// The sentence for one fault of a rejected document.
fn explain(f: &FaultDetail) -> String {
    if let Some(tax) = TaxFault::of(f) {
        return tax.for_bookkeeper().to_owned();
    }
    let field = f.element.as_deref().map(|e| format!(" (field {e})")).unwrap_or_default();
    let detail = f.detail.as_deref().map(clean).filter(|d| !d.is_empty());
    match f.code.as_str() {
        "610" => {
            "QuickBooks says something this document refers to (customer, item, account or tax code) has been made \
             inactive: re-activate it in QuickBooks or change the row."
                .into()
        }
        "2500" => format!(
            "QuickBooks does not know something this document refers to{field}: the customer, vendor, item or account \
             it points to does not exist; check the row and the settings QB_DEFAULT_ITEM_ID and \
             QB_DEFAULT_EXPENSE_ACCOUNT."
        ),
        "2020" => format!("QuickBooks says a required value is missing{field}: fill it in in the row."),
        "2050" => format!(
            "A value is too long for QuickBooks{field}{}: shorten it in the row.",
            detail.as_deref().and_then(max_length).map(|m| format!(", at most {m} characters")).unwrap_or_default()
        ),
        "2080" => format!("QuickBooks could not read a number{field}: check the amount in the row."),
        "6240" => "The name is already used in QuickBooks by a customer, vendor or employee (names are shared by \
             customers, vendors and employees): use the existing record or a different name."
            .into(),
        "4000" | "4001" => "QuickBooks could not run qbsync's search for this row (a name or number with unusual \
             characters?): simplify that name or number in the row."
            .into(),
        "5010" => "Someone changed this document in QuickBooks at the same moment: qbsync will read it again.".into(),
        "6210" => "QuickBooks refused the document's date or number (the accounting period may be closed): change the \
             date in the row, or ask the accountant to reopen the period."
            .into(),
        "500" => "QuickBooks does not support this request: check QBSYNC_QBO_API_URL and the realm id.".into(),
        _ => {
            let what = match (&detail, f.message.trim()) {
                (Some(d), _) => d.clone(),
                (None, "") => format!("error {}", f.code),
                (None, m) => clean(m),
            };
            format!("QuickBooks rejected the document{field}: {}", end_sentence(&what))
        }
    }
}

/// Makes QuickBooks' text fit in a sentence: one line, no stray markup, bounded length.
fn clean(text: &str) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.starts_with('{') || one_line.starts_with('<') {
        return String::new();
    }
    // "Business Validation Error: …" and "Object Not Found : …" carry the message twice.
    let useful = one_line.rsplit_once(" : ").map_or(one_line.as_str(), |(_, tail)| tail);
    let mut out: String = useful.chars().take(300).collect();
    if useful.chars().count() > 300 {
        out.push('…');
    }
    out
}

fn end_sentence(text: &str) -> String {
    let t = text.trim_end();
    if t.ends_with(['.', '!', '?', '…']) { t.to_owned() } else { format!("{t}.") }
}

/// "Max:21" in a 2050 detail.
fn max_length(detail: &str) -> Option<u32> {
    let rest = &detail[detail.find("Max:")? + 4..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `CreditMemo` → "credit memo".
fn txn_type_words(txn_type: &str) -> String {
    if txn_type.is_empty() {
        return "a document".into();
    }
    let mut out = String::new();
    for (i, c) in txn_type.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn with_article(noun: &str) -> String {
    if noun.starts_with("a ") || noun.starts_with("an ") {
        return noun.to_owned();
    }
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {noun}")
}

fn summary(faults: &[FaultDetail]) -> String {
    Fault { fault_type: None, errors: faults.to_vec() }.summary()
}

/// Whether a call could have changed anything in QuickBooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Read,
    Write,
}

/// A classified failure, and whether QuickBooks was throttling us (counted, and waited out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Classified {
    pub error: QboError,
    pub throttled: bool,
}

impl From<QboError> for Classified {
    fn from(error: QboError) -> Classified {
        Classified { error, throttled: false }
    }
}

/// Classifies an HTTP answer that is not a success (or a success carrying a fault).
/// A 401 reaching here means the token was already refreshed once.
pub(crate) fn classify_status(status: u16, fault: Option<Fault>, op: Op) -> Classified {
    let said = fault.as_ref().map(|f| format!(": {}", f.summary())).unwrap_or_default();
    match status {
        401 => {
            QboError::NeedsReconnect { reason: format!("QuickBooks refused the access token (HTTP 401{said})") }.into()
        }
        403 if fault.as_ref().is_some_and(is_throttle) => throttled(format!("HTTP 403{said}")),
        403 => QboError::NeedsReconnect { reason: format!("QuickBooks refused access (HTTP 403{said})") }.into(),
        429 => throttled(format!("HTTP 429{said}")),
        408 | 500..=599 => server_side(op, format!("HTTP {status}{said}")),
        _ => match fault {
            Some(f) => classify_fault(f, op),
            None => QboError::Protocol { reason: format!("HTTP {status} without a QuickBooks fault") }.into(),
        },
    }
}

/// Classifies a fault by its codes: one in a 400 (or other client-error) answer, inside a 200,
/// or on a batch item.
pub(crate) fn classify_fault(fault: Fault, op: Op) -> Classified {
    let summary = fault.summary();
    if is_throttle(&fault) {
        return throttled(summary);
    }
    const RECONNECT: [&str; 9] =
        ["3200", "3202", "3100", "100", "120", "130", "invalid_grant", "invalid_client", "unauthorized_client"];
    if fault.codes().any(|c| RECONNECT.contains(&c)) {
        return QboError::NeedsReconnect { reason: format!("QuickBooks refused the credentials: {summary}") }.into();
    }
    if let Some(e) = fault.errors.iter().find(|e| e.code == "6190" || e.code == "5020") {
        return QboError::CompanyUnavailable {
            code: e.code.clone(),
            message: e.detail.clone().unwrap_or_else(|| e.message.clone()),
        }
        .into();
    }
    // 6210 is the code Intuit's 2017 list gives the same message; key on the parsed TxnId.
    if let Some(dup) = fault.duplicate_of() {
        return QboError::DuplicateDocNumber { doc_number: dup.doc_number, txn_type: dup.txn_type, txn_id: dup.txn_id }
            .into();
    }
    // 10000 "An application error has occurred" and 6000's "Unexpected Internal Error (-30000)"
    // are QuickBooks failing, not the data: a read is retried, a write may have happened.
    let internal = fault.has_code("10000")
        || fault.errors.iter().any(|e| e.code == "6000" && e.detail.as_deref().is_some_and(|d| d.contains("-30000")));
    if internal {
        return server_side(op, summary);
    }
    QboError::Rejected { faults: fault.errors }.into()
}

fn is_throttle(fault: &Fault) -> bool {
    fault.errors.iter().any(|e| e.code == "3001" || e.message.contains("ThrottleExceeded"))
}

fn throttled(reason: String) -> Classified {
    Classified {
        error: QboError::Transient { reason: format!("throttled by QuickBooks ({reason})"), retry_after: None },
        throttled: true,
    }
}

fn server_side(op: Op, reason: String) -> Classified {
    match op {
        Op::Read => QboError::Transient { reason, retry_after: None },
        Op::Write => QboError::Uncertain { reason: format!("QuickBooks failed while handling the write ({reason})") },
    }
    .into()
}

impl QboError {
    /// The tax fault this error is, if QuickBooks refused the document for its tax. Such an
    /// error is a [`QboError::Rejected`], so it is never transient.
    pub fn tax_fault(&self) -> Option<TaxFault> {
        match self {
            QboError::Rejected { faults } => faults.iter().find_map(TaxFault::of),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(codes: &[(&str, &str, Option<&str>, Option<&str>)]) -> Fault {
        Fault {
            fault_type: Some("ValidationFault".into()),
            errors: codes
                .iter()
                .map(|(c, m, d, e)| FaultDetail {
                    code: (*c).into(),
                    message: (*m).into(),
                    detail: d.map(Into::into),
                    element: e.map(Into::into),
                })
                .collect(),
        }
    }

    fn fixture_fault(name: &str) -> Fault {
        Fault::parse(
            &std::fs::read_to_string(format!("{}/tests/fixtures/qbo/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap(),
        )
        .unwrap()
    }

    fn kind(c: &Classified) -> &'static str {
        match c.error {
            QboError::Transient { .. } => "transient",
            QboError::Uncertain { .. } => "uncertain",
            QboError::NeedsReconnect { .. } => "reconnect",
            QboError::CompanyUnavailable { .. } => "company",
            QboError::DuplicateDocNumber { .. } => "duplicate",
            QboError::DuplicateName { .. } => "name",
            QboError::Rejected { .. } => "rejected",
            QboError::InvalidRequest { .. } => "invalid",
            QboError::Protocol { .. } => "protocol",
        }
    }

    #[test]
    fn status_comes_before_code() {
        let auth = fault(&[("3100", "message=InternalServerError; errorCode=003100; statusCode=500", None, None)]);
        // 3100 under 500 is QuickBooks failing, under 403 a revoked grant.
        assert_eq!(kind(&classify_status(500, Some(auth.clone()), Op::Read)), "transient");
        assert_eq!(kind(&classify_status(500, Some(auth.clone()), Op::Write)), "uncertain");
        assert_eq!(kind(&classify_status(403, Some(auth), Op::Read)), "reconnect");
        assert_eq!(kind(&classify_status(401, None, Op::Write)), "reconnect");
        for status in [502, 503, 504, 408] {
            assert_eq!(kind(&classify_status(status, None, Op::Read)), "transient", "{status}");
            assert_eq!(kind(&classify_status(status, None, Op::Write)), "uncertain", "{status}");
        }
        assert_eq!(kind(&classify_status(404, None, Op::Read)), "protocol");
        assert_eq!(kind(&classify_status(400, None, Op::Write)), "protocol");
    }

    #[test]
    fn throttles_are_transient_under_every_status() {
        let xml_throttle = fault(&[("3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429", None, None)]);
        for status in [429, 403, 400, 200] {
            let c = classify_status(status, Some(xml_throttle.clone()), Op::Write);
            assert_eq!((kind(&c), c.throttled), ("transient", true), "{status}");
        }
        let c = classify_status(429, None, Op::Write);
        assert_eq!((kind(&c), c.throttled), ("transient", true));
    }

    #[test]
    fn recorded_faults_are_the_rows_problem() {
        for name in [
            "fault_2020_line_detailtype_missing.json",
            "fault_2020_required_param_missing.json",
            "fault_4000_query_parse_error.json",
            "fault_5010_stale_object.json",
            "fault_610_object_not_found.json",
            "fault_6240_duplicate_name.json",
        ] {
            let c = classify_status(400, Some(fixture_fault(name)), Op::Write);
            assert_eq!((kind(&c), c.throttled), ("rejected", false), "{name}");
        }
    }

    #[test]
    fn codes_map_to_decisions() {
        let cases: &[(&str, Option<&str>, &str)] = &[
            ("3200", None, "reconnect"),
            ("100", None, "reconnect"),
            ("120", None, "reconnect"),
            ("130", None, "reconnect"),
            ("invalid_grant", None, "reconnect"),
            ("6190", None, "company"),
            ("5020", None, "company"),
            ("10000", None, "uncertain"),
            ("6000", Some("Unexpected Internal Error. (-30000)"), "uncertain"),
            (
                "6000",
                Some("Business Validation Error: Make sure all your transactions have a GST/HST rate"),
                "rejected",
            ),
            ("2500", None, "rejected"),
            ("2050", None, "rejected"),
            ("6140", None, "rejected"), // without a TxnId there is nothing to adopt
            ("6210", Some("The account period has closed"), "rejected"),
        ];
        for (code, detail, want) in cases {
            let c = classify_fault(fault(&[(code, "m", *detail, None)]), Op::Write);
            assert_eq!(kind(&c), *want, "{code} {detail:?}");
        }
        let read = classify_fault(fault(&[("10000", "An application error has occurred", None, None)]), Op::Read);
        assert_eq!(kind(&read), "transient");
    }

    #[test]
    fn duplicate_document_number_names_the_holder() {
        let f = fault(&[(
            "6140",
            "Duplicate Document Number Error",
            Some(
                "Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=O0010714 is assigned to TxnType=Invoice with TxnId=45823",
            ),
            Some(""),
        )]);
        let c = classify_status(400, Some(f), Op::Write);
        assert_eq!(
            c.error,
            QboError::DuplicateDocNumber {
                doc_number: Some("O0010714".into()),
                txn_type: "Invoice".into(),
                txn_id: "45823".into()
            }
        );
        assert_eq!(
            c.error.for_bookkeeper(),
            "QuickBooks already has an invoice numbered \"O0010714\" (QuickBooks id 45823): give this row a different \
             number, or remove the existing one in QuickBooks."
        );
        let memo = QboError::DuplicateDocNumber { doc_number: None, txn_type: "CreditMemo".into(), txn_id: "9".into() };
        assert!(
            memo.for_bookkeeper()
                .starts_with("QuickBooks already has a credit memo numbered the same (QuickBooks id 9)")
        );
    }

    #[test]
    fn bookkeeper_sentences() {
        let rejected = |f: Fault| classify_fault(f, Op::Write).error.for_bookkeeper();
        assert_eq!(
            rejected(fixture_fault("fault_610_object_not_found.json")),
            "QuickBooks says something this document refers to (customer, item, account or tax code) has been made inactive: \
             re-activate it in QuickBooks or change the row."
        );
        assert_eq!(
            rejected(fixture_fault("fault_2020_line_detailtype_missing.json")),
            "QuickBooks says a required value is missing (field Line.DetailType): fill it in in the row."
        );
        let too_long = fault(&[(
            "2050",
            "Length exceeds limit",
            Some("String length is either shorter or longer than supported by specification. Min:0 Max:21 supplied:30"),
            Some("DocNumber"),
        )]);
        assert_eq!(
            rejected(too_long),
            "A value is too long for QuickBooks (field DocNumber), at most 21 characters: shorten it in the row."
        );
        let gst = fault(&[(
            "6000",
            "A business validation error has occurred while processing your request",
            Some("Business Validation Error: Make sure all your transactions have a GST/HST rate before you save."),
            None,
        )]);
        // A tax fault says which setting fixes it, not QuickBooks' words.
        assert_eq!(
            rejected(gst),
            "QuickBooks needs a tax code on every line of this document: set QB_DEFAULT_TAX_CODE (invoices) or \
             QB_DEFAULT_PURCHASE_TAX_CODE (bills) to one of the company's tax codes (`qbsync doctor` lists them), or \
             put one in the row's tax_code cell."
        );
        let two = fault(&[
            ("2500", "Invalid Reference Id", None, Some("Line.SalesItemLineDetail.ItemRef")),
            ("2500", "Invalid Reference Id", None, Some("Line.SalesItemLineDetail.ItemRef")),
            ("9999", "Something new", Some("{\"raw\": true}"), None),
        ]);
        let text = rejected(two);
        assert!(
            text.starts_with(
                "QuickBooks does not know something this document refers to (field Line.SalesItemLineDetail.ItemRef)"
            ),
            "{text}"
        );
        assert!(text.ends_with("QuickBooks rejected the document: Something new."), "{text}");
        assert_eq!(text.matches("does not know").count(), 1, "{text}");

        for e in [
            QboError::Transient { reason: "HTTP 503".into(), retry_after: None },
            QboError::Uncertain { reason: "timeout".into() },
            QboError::NeedsReconnect { reason: "3100".into() },
            QboError::CompanyUnavailable { code: "6190".into(), message: "Invalid Company Status".into() },
            QboError::Rejected { faults: vec![] },
            QboError::Protocol { reason: "{\"x\":1}".into() },
            QboError::InvalidRequest { reason: "a batch holds at most 30 documents".into() },
        ] {
            let s = e.for_bookkeeper();
            assert!(!s.contains('{') && !s.contains('}') && s.ends_with('.'), "{s}");
        }
    }

    #[test]
    fn duplicate_name_says_who_holds_it() {
        let customer =
            NameHolder { entity: "Customer".into(), id: "5".into(), display_name: "Acme".into(), active: true };
        let e = QboError::DuplicateName { name: "Acme".into(), wanted: PartyKind::Vendor, held_by: Some(customer) };
        assert_eq!(
            e.for_bookkeeper(),
            "\"Acme\" already exists in QuickBooks as a customer (names are shared by customers, vendors and \
             employees): rename one of them in QuickBooks, or use a different vendor name in the row."
        );
        let inactive =
            NameHolder { entity: "Vendor".into(), id: "6".into(), display_name: "Acme".into(), active: false };
        let e = QboError::DuplicateName { name: "Acme".into(), wanted: PartyKind::Vendor, held_by: Some(inactive) };
        assert_eq!(
            e.for_bookkeeper(),
            "\"Acme\" exists in QuickBooks as an inactive vendor: make it active again in QuickBooks."
        );
        let employee =
            NameHolder { entity: "Employee".into(), id: "7".into(), display_name: "Acme".into(), active: false };
        let e = QboError::DuplicateName { name: "Acme".into(), wanted: PartyKind::Customer, held_by: Some(employee) };
        assert!(e.for_bookkeeper().starts_with("\"Acme\" already exists in QuickBooks as an inactive employee"));
        let e = QboError::DuplicateName { name: "Acme".into(), wanted: PartyKind::Customer, held_by: None };
        assert!(e.for_bookkeeper().contains("names are shared by customers, vendors and employees"));
    }

    #[test]
    fn display_never_carries_fault_details() {
        // The gateway's 401 detail quotes the start of the token.
        let f = fault(&[("3200", "message=AuthenticationFailed", Some("Token expired: AB0173xyz"), None)]);
        let c = classify_status(401, Some(f), Op::Read);
        assert!(!c.error.to_string().contains("AB0173"), "{}", c.error);
    }
}

/// QuickBooks' tax refusals as errors: never transient, and said as the setting to change.
#[cfg(test)]
mod tax_fault_tests {
    use super::*;
    use crate::qbo::fault::FaultDetail;

    fn rejected(code: &str, message: &str, detail: &str) -> QboError {
        QboError::Rejected {
            faults: vec![FaultDetail {
                code: code.into(),
                message: message.into(),
                detail: Some(detail.into()),
                element: Some(String::new()),
            }],
        }
    }

    #[test]
    fn every_locales_missing_rate_is_a_missing_code() {
        for tax in ["GST/HST", "VAT", "GST"] {
            let error = rejected(
                "6000",
                "A business validation error has occurred while processing your request",
                &format!(
                    "Business Validation Error: Make sure all your transactions have a {tax} rate before you save."
                ),
            );
            assert_eq!(error.tax_fault(), Some(TaxFault::MissingCode), "{tax}");
            assert!(!error.is_transient());
            assert!(error.for_bookkeeper().starts_with("QuickBooks needs a tax code on every line"), "{tax}");
        }
    }

    #[test]
    fn a_us_code_other_than_tax_or_non_is_its_own_fault() {
        let error = rejected(
            "6100",
            "Invalid Line TaxCode in the request",
            "Valid line TaxCodes for US should be TAX or NON. Supplied value: 8",
        );
        assert_eq!(error.tax_fault(), Some(TaxFault::InvalidUsCode));
        assert!(error.for_bookkeeper().contains("only TAX or NON"), "{}", error.for_bookkeeper());
    }

    #[test]
    fn other_business_rules_are_not_tax_faults() {
        let error = rejected("6000", "Business Validation Error", "Transaction total cannot be negative.");
        assert_eq!(error.tax_fault(), None);
        assert_eq!(QboError::Transient { reason: "x".into(), retry_after: None }.tax_fault(), None);
    }
}
