//! Sending payments: a Payment applied to one invoice, a BillPayment against one bill.
//!
//! These are the opt-in direction (`QB_AUTO_MARK_INVOICE_PAID`, `QB_AUTO_MARK_BILL_PAID`): a
//! date in `Inv_paid_date` becomes a payment for the document's open balance. They are writes
//! with the same guarantees as creates: the exact body is built once ([`NewPayment::to_body`]),
//! recorded with its intent, and sent with the same `requestid` every time; a lost answer is
//! [`QboError::Uncertain`] and the caller looks for the payment (the document's `LinkedTxn`)
//! before sending again. Creates are not metered.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use super::client::QboClient;
use super::error::QboError;
use super::ledger::{PaymentKind, PaymentState};
use super::money::Number;
use super::request_id::RequestId;

/// Where a bill is paid from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayFrom {
    /// A check from this bank account (`PayType: Check`, `CheckPayment.BankAccountRef`).
    Bank { account_id: String },
    /// A credit card (`PayType: CreditCard`, `CreditCardPayment.CCAccountRef`).
    CreditCard { account_id: String },
}

/// A payment of one document's open balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewPayment {
    /// A customer's payment applied to one invoice.
    Invoice {
        customer_id: String,
        invoice_id: String,
        amount: Decimal,
        txn_date: NaiveDate,
        /// `DepositToAccountRef`; QuickBooks picks Undeposited Funds when `None`.
        deposit_account_id: Option<String>,
        /// `PrivateNote`: the marker a lost answer's payment is found by.
        private_note: Option<String>,
    },
    /// A payment to a vendor against one bill.
    Bill {
        vendor_id: String,
        bill_id: String,
        amount: Decimal,
        txn_date: NaiveDate,
        pay_from: PayFrom,
        /// `PrivateNote`: the marker a lost answer's payment is found by.
        private_note: Option<String>,
    },
}

#[derive(Serialize)]
struct Ref<'a> {
    value: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Link<'a> {
    txn_id: &'a str,
    txn_type: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Line<'a> {
    amount: Number,
    linked_txn: [Link<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WirePayment<'a> {
    customer_ref: Ref<'a>,
    total_amt: Number,
    txn_date: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    deposit_to_account_ref: Option<Ref<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_note: Option<&'a str>,
    line: [Line<'a>; 1],
}

#[derive(Serialize)]
struct BankRef<'a> {
    #[serde(rename = "BankAccountRef")]
    bank_account_ref: Ref<'a>,
}

#[derive(Serialize)]
struct CardRef<'a> {
    #[serde(rename = "CCAccountRef")]
    cc_account_ref: Ref<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct WireBillPayment<'a> {
    vendor_ref: Ref<'a>,
    total_amt: Number,
    txn_date: NaiveDate,
    pay_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    check_payment: Option<BankRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credit_card_payment: Option<CardRef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    private_note: Option<&'a str>,
    line: [Line<'a>; 1],
}

impl NewPayment {
    pub fn kind(&self) -> PaymentKind {
        match self {
            NewPayment::Invoice { .. } => PaymentKind::Payment,
            NewPayment::Bill { .. } => PaymentKind::BillPayment,
        }
    }

    /// The account the payment goes through: the deposit account, or the bank or card a bill
    /// is paid from (`None`: QuickBooks picks Undeposited Funds).
    pub fn account_id(&self) -> Option<&str> {
        match self {
            NewPayment::Invoice { deposit_account_id, .. } => deposit_account_id.as_deref(),
            NewPayment::Bill {
                pay_from: PayFrom::Bank { account_id } | PayFrom::CreditCard { account_id }, ..
            } => Some(account_id),
        }
    }

    /// The exact request body, money as exact number text; record it with the intent.
    pub fn to_body(&self) -> Result<String, serde_json::Error> {
        match self {
            NewPayment::Invoice { customer_id, invoice_id, amount, txn_date, deposit_account_id, private_note } => {
                serde_json::to_string(&WirePayment {
                    customer_ref: Ref { value: customer_id },
                    total_amt: Number(*amount),
                    txn_date: *txn_date,
                    deposit_to_account_ref: deposit_account_id.as_deref().map(|value| Ref { value }),
                    private_note: private_note.as_deref(),
                    line: [Line {
                        amount: Number(*amount),
                        linked_txn: [Link { txn_id: invoice_id, txn_type: "Invoice" }],
                    }],
                })
            }
            NewPayment::Bill { vendor_id, bill_id, amount, txn_date, pay_from, private_note } => {
                let (pay_type, check_payment, credit_card_payment) = match pay_from {
                    PayFrom::Bank { account_id } => {
                        ("Check", Some(BankRef { bank_account_ref: Ref { value: account_id } }), None)
                    }
                    PayFrom::CreditCard { account_id } => {
                        ("CreditCard", None, Some(CardRef { cc_account_ref: Ref { value: account_id } }))
                    }
                };
                serde_json::to_string(&WireBillPayment {
                    vendor_ref: Ref { value: vendor_id },
                    total_amt: Number(*amount),
                    txn_date: *txn_date,
                    pay_type,
                    check_payment,
                    credit_card_payment,
                    private_note: private_note.as_deref(),
                    line: [Line { amount: Number(*amount), linked_txn: [Link { txn_id: bill_id, txn_type: "Bill" }] }],
                })
            }
        }
    }
}

impl QboClient {
    /// Sends a Payment applied to one invoice. `request_id` must be the same on every call for it.
    pub async fn create_payment(&self, payment: &NewPayment, request_id: &RequestId) -> Result<PaymentState, QboError> {
        if payment.kind() != PaymentKind::Payment {
            return Err(QboError::InvalidRequest { reason: "create_payment sends invoice payments only".into() });
        }
        self.send_payment(payment, request_id).await
    }

    /// Sends a BillPayment against one bill. `request_id` must be the same on every call for it.
    pub async fn create_bill_payment(
        &self,
        payment: &NewPayment,
        request_id: &RequestId,
    ) -> Result<PaymentState, QboError> {
        if payment.kind() != PaymentKind::BillPayment {
            return Err(QboError::InvalidRequest { reason: "create_bill_payment sends bill payments only".into() });
        }
        self.send_payment(payment, request_id).await
    }

    /// Sends a payment from the exact body recorded with its intent (what [`NewPayment::to_body`]
    /// produced), so a resend is byte for byte the first send.
    pub async fn create_payment_body(
        &self,
        kind: PaymentKind,
        body: &str,
        request_id: &RequestId,
    ) -> Result<PaymentState, QboError> {
        let answer = self.execute(&self.create_call(kind.resource(), body, request_id)).await?;
        self.created(answer.get(kind.entity()).and_then(|e| PaymentState::from_entity(kind, e).ok()), || {
            format!("QuickBooks answered the {} create without a readable {}", kind.entity(), kind.entity())
        })
    }

    async fn send_payment(&self, payment: &NewPayment, request_id: &RequestId) -> Result<PaymentState, QboError> {
        let body = payment.to_body().map_err(|e| QboError::InvalidRequest { reason: e.to_string() })?;
        self.create_payment_body(payment.kind(), &body, request_id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_payment_body_carries_the_exact_amount_and_links_its_invoice() {
        let payment = NewPayment::Invoice {
            customer_id: "20".into(),
            invoice_id: "70".into(),
            amount: "1234.50".parse().unwrap(),
            txn_date: day("2026-03-04"),
            deposit_account_id: None,
            private_note: None,
        };
        assert_eq!(
            payment.to_body().unwrap(),
            r#"{"CustomerRef":{"value":"20"},"TotalAmt":1234.50,"TxnDate":"2026-03-04","Line":[{"Amount":1234.50,"LinkedTxn":[{"TxnId":"70","TxnType":"Invoice"}]}]}"#
        );
    }

    #[test]
    fn a_bill_payment_body_names_its_pay_type_and_account() {
        let check = NewPayment::Bill {
            vendor_id: "56".into(),
            bill_id: "234".into(),
            amount: "200.00".parse().unwrap(),
            txn_date: day("2026-03-04"),
            pay_from: PayFrom::Bank { account_id: "35".into() },
            private_note: Some("[qbsync k1]".into()),
        };
        assert_eq!(
            check.to_body().unwrap(),
            r#"{"VendorRef":{"value":"56"},"TotalAmt":200.00,"TxnDate":"2026-03-04","PayType":"Check","CheckPayment":{"BankAccountRef":{"value":"35"}},"PrivateNote":"[qbsync k1]","Line":[{"Amount":200.00,"LinkedTxn":[{"TxnId":"234","TxnType":"Bill"}]}]}"#
        );
        let NewPayment::Bill { vendor_id, bill_id, amount, txn_date, .. } = check else { unreachable!() };
        let card = NewPayment::Bill {
            vendor_id,
            bill_id,
            amount,
            txn_date,
            pay_from: PayFrom::CreditCard { account_id: "41".into() },
            private_note: None,
        };
        assert!(
            card.to_body()
                .unwrap()
                .contains(r#""PayType":"CreditCard","CreditCardPayment":{"CCAccountRef":{"value":"41"}}"#)
        );
    }
}
