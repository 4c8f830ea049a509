//! What QuickBooks says about money after a document exists: balances, links to payments,
//! voids, and the payments themselves, read from the entities of reads, queries and CDC.
//!
//! Like the other readers in [`super::model`], these are lenient: they take only what the
//! payment status needs and fail only without an `Id`. A void is recognised as QuickBooks marks
//! it (reference §2.1): every amount zeroed and `Voided` at the start of `PrivateNote`. A
//! document's `LinkedTxn` names payments as `Payment`, `BillPaymentCheck` or
//! `BillPaymentCreditCard` (captured data links even credit-card bill payments as
//! `BillPaymentCheck`), so bill payments are recognised by the `BillPayment` prefix.

use chrono::{DateTime, FixedOffset, NaiveDate};
use rust_decimal::Decimal;
use serde_json::Value;

use super::model::{Account, DEPOSIT_TYPES, DocKind, PAY_FROM_TYPES};
use super::money::decimal_from_json;

/// The two kinds of payment qbsync reads and sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PaymentKind {
    /// A customer's money applied to invoices.
    Payment,
    /// Money paid to a vendor against bills.
    BillPayment,
}

impl PaymentKind {
    /// The entity name in bodies, queries and CDC.
    pub fn entity(self) -> &'static str {
        match self {
            PaymentKind::Payment => "Payment",
            PaymentKind::BillPayment => "BillPayment",
        }
    }

    pub(crate) fn resource(self) -> &'static str {
        match self {
            PaymentKind::Payment => "payment",
            PaymentKind::BillPayment => "billpayment",
        }
    }

    /// Whether a payment of this kind can go through `account`: active, and of a type that
    /// takes it.
    pub fn goes_through(self, account: &Account) -> bool {
        let types = match self {
            PaymentKind::Payment => DEPOSIT_TYPES,
            PaymentKind::BillPayment => PAY_FROM_TYPES,
        };
        account.active && types.contains(&account.account_type.as_str())
    }

    /// The document kind it pays.
    pub fn pays(self) -> DocKind {
        match self {
            PaymentKind::Payment => DocKind::Invoice,
            PaymentKind::BillPayment => DocKind::Bill,
        }
    }

    /// The payment kind a document's `LinkedTxn.TxnType` names, if it names one.
    pub fn from_link_type(txn_type: &str) -> Option<PaymentKind> {
        if txn_type == "Payment" {
            Some(PaymentKind::Payment)
        } else if txn_type.starts_with("BillPayment") {
            Some(PaymentKind::BillPayment)
        } else {
            None
        }
    }
}

/// A payment a document's `LinkedTxn` names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentLink {
    pub kind: PaymentKind,
    pub id: String,
}

/// An invoice or bill as far as its money goes.
#[derive(Debug, Clone, PartialEq)]
pub struct DocState {
    pub kind: DocKind,
    pub id: String,
    pub sync_token: String,
    pub doc_number: Option<String>,
    /// The customer (invoice) or vendor (bill) id; empty if QuickBooks sent none.
    pub party_id: String,
    /// `TotalAmt` (0 once voided).
    pub total: Decimal,
    /// `Balance`: what is still owed.
    pub balance: Decimal,
    pub due_date: Option<NaiveDate>,
    /// Zeroed and marked `Voided` in QuickBooks.
    pub voided: bool,
    /// The payments applied to it.
    pub payments: Vec<PaymentLink>,
    pub last_updated: Option<DateTime<FixedOffset>>,
}

impl DocState {
    /// Reads an `Invoice` or `Bill` entity. Fails only without an `Id`.
    pub fn from_entity(kind: DocKind, entity: &Value) -> Result<DocState, String> {
        let id = text(entity, "Id").ok_or_else(|| format!("the {} has no Id", kind.entity()))?;
        let total = amount(entity, "TotalAmt");
        let voided = total.is_zero()
            && entity.get("PrivateNote").and_then(Value::as_str).is_some_and(|note| note.starts_with("Voided"));
        let payments = entity
            .get("LinkedTxn")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|link| {
                let kind = PaymentKind::from_link_type(link.get("TxnType").and_then(Value::as_str)?)?;
                Some(PaymentLink { kind, id: text(link, "TxnId")? })
            })
            .collect();
        Ok(DocState {
            kind,
            id,
            sync_token: text(entity, "SyncToken").unwrap_or_default(),
            doc_number: text(entity, "DocNumber").filter(|n| !n.is_empty()),
            party_id: entity.get(kind.party_kind().ref_key()).and_then(|p| text(p, "value")).unwrap_or_default(),
            total,
            balance: amount(entity, "Balance"),
            due_date: entity.get("DueDate").and_then(Value::as_str).and_then(date),
            voided,
            payments,
            last_updated: last_updated(entity),
        })
    }

    /// Whether a payment is applied: QuickBooks (and qbsync) will not void or delete it then.
    pub fn has_payments(&self) -> bool {
        !self.payments.is_empty()
    }
}

/// One line of a payment: `amount` applied to document `doc_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub doc_id: String,
    pub amount: Decimal,
}

/// A Payment or BillPayment.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentState {
    pub kind: PaymentKind,
    pub id: String,
    pub sync_token: String,
    pub txn_date: Option<NaiveDate>,
    pub total: Decimal,
    /// The lines that name a document of the kind it pays.
    pub applied: Vec<Applied>,
    pub voided: bool,
    /// `PrivateNote`: where qbsync puts the marker a payment whose answer was lost is found by.
    pub private_note: Option<String>,
    pub last_updated: Option<DateTime<FixedOffset>>,
}

impl PaymentState {
    /// Reads a `Payment` or `BillPayment` entity. Fails only without an `Id`.
    pub fn from_entity(kind: PaymentKind, entity: &Value) -> Result<PaymentState, String> {
        let id = text(entity, "Id").ok_or_else(|| format!("the {} has no Id", kind.entity()))?;
        let wanted = kind.pays().entity();
        let applied = entity
            .get("Line")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .flat_map(|line| {
                let amount = line.get("Amount").and_then(decimal_from_json).unwrap_or_default();
                line.get("LinkedTxn")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .filter(move |link| link.get("TxnType").and_then(Value::as_str) == Some(wanted))
                    .filter_map(move |link| Some(Applied { doc_id: text(link, "TxnId")?, amount }))
            })
            .collect();
        let total = amount(entity, "TotalAmt");
        Ok(PaymentState {
            kind,
            id,
            sync_token: text(entity, "SyncToken").unwrap_or_default(),
            txn_date: entity.get("TxnDate").and_then(Value::as_str).and_then(date),
            total,
            applied,
            voided: total.is_zero()
                && entity.get("PrivateNote").and_then(Value::as_str).is_some_and(|n| n.starts_with("Voided")),
            private_note: text(entity, "PrivateNote"),
            last_updated: last_updated(entity),
        })
    }
}

fn amount(entity: &Value, key: &str) -> Decimal {
    entity.get(key).and_then(decimal_from_json).unwrap_or_default()
}

pub(crate) fn last_updated(entity: &Value) -> Option<DateTime<FixedOffset>> {
    let text = entity.get("MetaData")?.get("LastUpdatedTime")?.as_str()?;
    DateTime::parse_from_rfc3339(text).ok()
}

pub(crate) fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/qbo/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    #[test]
    fn a_paid_bill_from_the_fixture_reads_as_paid_by_its_bill_payment() {
        let answer = fixture("read_response_bill.json");
        let state = DocState::from_entity(DocKind::Bill, &answer["Bill"]).unwrap();
        assert!(state.balance.is_zero());
        assert!(!state.voided);
        assert_eq!(state.payments, [PaymentLink { kind: PaymentKind::BillPayment, id: "118".into() }]);
        assert!(state.has_payments());
    }

    #[test]
    fn the_documented_void_answer_reads_as_voided() {
        let invoice = json!({"Id":"129","SyncToken":"1","DocNumber":"1036","PrivateNote":"Voided",
            "TotalAmt":0,"Balance":0,"Deposit":0,"LinkedTxn":[],
            "MetaData":{"CreateTime":"2014-11-09T13:15:36-08:00","LastUpdatedTime":"2016-03-16T12:27:10-07:00"}});
        let state = DocState::from_entity(DocKind::Invoice, &invoice).unwrap();
        assert!(state.voided);
        assert_eq!(state.sync_token, "1");
        assert_eq!(state.last_updated, DateTime::parse_from_rfc3339("2016-03-16T12:27:10-07:00").ok());
        let zero_but_not_void = json!({"Id":"1","TotalAmt":0,"Balance":0,"PrivateNote":"free sample"});
        assert!(!DocState::from_entity(DocKind::Invoice, &zero_but_not_void).unwrap().voided);
    }

    #[test]
    fn the_documented_payment_reads_its_applied_lines_exactly() {
        let payment = json!({"Id":"163","SyncToken":"0","TxnDate":"2015-01-16",
            "CustomerRef":{"value":"20"},"TotalAmt":65.0,"UnappliedAmt":10.0,
            "Line":[{"Amount":55.0,"LinkedTxn":[{"TxnId":"70","TxnType":"Invoice"}],"LineEx":{"any":[]}},
                    {"Amount":0.1,"LinkedTxn":[{"TxnId":"9","TxnType":"CreditMemo"}]}]});
        let state = PaymentState::from_entity(PaymentKind::Payment, &payment).unwrap();
        assert_eq!(state.applied, [Applied { doc_id: "70".into(), amount: "55".parse().unwrap() }]);
        assert_eq!(state.total, "65".parse::<Decimal>().unwrap());
        assert_eq!(state.txn_date, NaiveDate::from_ymd_opt(2015, 1, 16));
        assert!(PaymentState::from_entity(PaymentKind::Payment, &json!({})).is_err());
    }

    #[test]
    fn link_types_name_payment_kinds_by_prefix() {
        assert_eq!(PaymentKind::from_link_type("Payment"), Some(PaymentKind::Payment));
        assert_eq!(PaymentKind::from_link_type("BillPaymentCheck"), Some(PaymentKind::BillPayment));
        assert_eq!(PaymentKind::from_link_type("BillPaymentCreditCard"), Some(PaymentKind::BillPayment));
        assert_eq!(PaymentKind::from_link_type("CreditMemo"), None);
    }
}
