//! Autopay: a date in `Inv_paid_date` becomes a payment in QuickBooks (opt-in,
//! `QB_AUTO_MARK_INVOICE_PAID` and, in dual mode, `QB_AUTO_MARK_BILL_PAID`), as a stage of the
//! pass right after [`super::send`] and before the write-back.
//!
//! **Where.** The stage reads the paid dates from the pass's own picture of the sheet (the one
//! [`super::send`] worked from, `Pass::kept`), locating rows by their anchors exactly as the
//! write-back does ([`plan::locate`]); so a row created this pass with its date already typed
//! is paid in the same pass, and its money columns show `paid` in the same write-back. The idle
//! check asks for a pass when a synced row of a payable document shows a date (see
//! [`plan::AttentionCheck::paying`]), and turning autopay on changes the configuration
//! fingerprint, so no row carrying a date stays sealed out of sight.
//!
//! **What.** A document is paid once any of its rows shows a date (the latest date shown is the
//! payment's date) for its **open balance**, never more; a balance of 0, a voided or deleted
//! document means nothing to send ([`crate::payments::decide_payment`]). When what QuickBooks
//! last showed (`doc_money`, from the poller) already says so, no call is made; otherwise the
//! document is read first, since the poller's picture may be an interval old and a payment
//! decided on a balance paid down meanwhile would pay more than is owed. That is one metered
//! read per document paid, once; what it shows is kept as the poller's rounds are.
//!
//! **Exactly once, as creates.** The payout (exact body, a `requestid` derived from it, and a
//! `[qbsync <doc key>]` marker in the payment's `PrivateNote`) is recorded through the
//! [`super::ledger`] before the first send, and every resend is that body with that
//! `requestid`. A send whose outcome is unknown leaves it pending; before anything is sent for
//! it again the document is read and the payments its `LinkedTxn` names are looked at: one
//! carrying the marker is adopted; a balance already 0 means it was paid otherwise and nothing
//! is sent. A payout never sent (a crash between the intent and the send) is sent as recorded.
//! Whatever the outcome, a document qbsync decided to pay is never paid by qbsync again.
//!
//! **A refusal is the row's or the setting's.** When QuickBooks refuses a payment, the account
//! it was to go through is read: if QuickBooks has no such account, or it is inactive, or of a
//! type that cannot take the payment, the setting naming it (`QB_PAYMENT_DEPOSIT_ACCOUNT`,
//! `QB_BILL_PAYMENT_ACCOUNT`) is at fault, not the row. The payout is then `held`, not refused:
//! nothing was paid, and the first pass of the next process (a restart is what puts a corrected
//! setting in force) decides it again from scratch — a fresh read of the document, the open
//! balance, a new body and a new `requestid` — so it is still paid once at most. Otherwise the
//! refusal is the document's, and a person records the payment by hand.
//!
//! **Showing it.** The payment's answer says what it applied; the document's money in the store
//! is updated from it in the same transaction that records the payment, so the write-back of
//! the same pass shows `paid` (the poller's next round confirms it from QuickBooks).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::date::parse_date;
use crate::domain::layout::Field;
use crate::payments::{
    DocFacts, Lifecycle, Money, MoneyChange, PayDecision, PayRequest, Unpaid, decide_payment, paid_view_on,
};
use crate::qbo::{DocKind, DocState as QboDoc, NewPayment, PayFrom, PaymentState, QboError, RequestId};
use crate::store::{AuditEvent, DocRecord, DocState, PayoutRecord, PayoutState, RowStatus};

use super::draft::{note_has_marker, note_with_marker};
use super::error::PassError;
use super::pass::Pass;
use super::plan;
use super::report::PassReport;

impl Pass<'_> {
    /// Settles the payouts earlier passes left pending, then pays the documents whose rows in
    /// the pass's picture show a paid date.
    pub(super) async fn autopay(&mut self, report: &mut PassReport) -> Result<(), PassError> {
        // Recorded intents are settled whatever the settings say now: one may already be paid.
        for payout in self.store.pending_payouts()? {
            self.settle_pending(&payout, report).await?;
        }
        if !self.policy.autopay.is_on() {
            return Ok(());
        }
        let retry_held = std::mem::replace(self.retry_held_payouts, false);
        let mut bill_pay_from: Option<PayFrom> = None;
        for (doc_key, on) in self.paid_dates()? {
            self.pay(&doc_key, on, retry_held, &mut bill_pay_from, report).await?;
        }
        Ok(())
    }

    /// Until a pass of this process has paid: the rows of payments held for the account setting
    /// lose their seals before the sheet is read, so that the pass deciding those payments again
    /// sees their paid dates (a sealed row is not decoded).
    pub(super) fn reopen_held_payouts(&self) -> Result<(), PassError> {
        if *self.retry_held_payouts && self.policy.autopay.is_on() {
            self.ledger().unseal_held_payouts()?;
        }
        Ok(())
    }

    /// The paid date of each created document whose rows the picture holds with a date: the
    /// latest date its rows show.
    fn paid_dates(&self) -> Result<BTreeMap<String, NaiveDate>, PassError> {
        let mut dates = BTreeMap::new();
        let Some(picture) = self.kept.as_ref() else { return Ok(dates) };
        let located = plan::locate(
            &picture.rows,
            &picture.layout,
            &picture.anchors,
            &|row| picture.is_quiet(row),
            &self.view,
            self.policy,
        );
        for (key, row) in &located {
            let row = *row as usize;
            if !picture.holds(row) {
                continue;
            }
            let cell = picture.layout.cell(&picture.rows[row], Field::InvPaidDate);
            // A date that does not parse pays nothing; the row's other outcomes are unchanged.
            let Ok(Some(date)) = parse_date(cell, self.policy.date_order) else { continue };
            let Some(record) = self.store.row(key)? else { continue };
            let (RowStatus::Synced, Some(doc_key)) = (record.status, record.doc_key) else { continue };
            dates.entry(doc_key).and_modify(|d: &mut NaiveDate| *d = (*d).max(date)).or_insert(date);
        }
        Ok(dates)
    }

    /// Pays `doc_key`'s open balance on `on`, when the rules say so; a payout held for the
    /// account setting is decided again when `retry_held`.
    async fn pay(
        &mut self,
        doc_key: &str,
        on: NaiveDate,
        retry_held: bool,
        bill_pay_from: &mut Option<PayFrom>,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let Some(doc) = self.store.document(doc_key)?.filter(|d| d.state == DocState::Created) else { return Ok(()) };
        let (Some(qbo_id), Some(account)) = (doc.qbo_id.clone(), self.policy.autopay.account(doc.doc_kind)) else {
            return Ok(());
        };
        // Decided before, whatever came of it: a document is never paid by qbsync twice (checked
        // here, before any call, rather than by the decision after a read). A held payout paid
        // nothing, and is decided again, once a process.
        let held = match self.store.payout(doc_key)? {
            None => None,
            Some(payout) if payout.state == PayoutState::Held && retry_held => Some(payout),
            Some(_) => return Ok(()),
        };
        let request = PayRequest { synced: true, paid_date: Some(on), already_recorded: false };
        // What the poller last saw settles it without a call when nothing is owed or the
        // document is gone. Otherwise the document is read now: the poller's picture may be an
        // interval old, and a payment decided on a balance paid down meanwhile would pay more
        // than is owed. One metered read per document paid, once.
        let known = self.store.money(doc_key)?;
        if let Some(money) = &known {
            let unpaid = Unpaid { balance: money.facts.balance, lifecycle: money.facts.lifecycle };
            if let PayDecision::Nothing(reason) = decide_payment(&request, &unpaid) {
                tracing::debug!(doc_key, ?reason, "no payment");
                return Ok(());
            }
        }
        let Some(state) = self.read_doc(&doc, &qbo_id).await? else { return Ok(()) };
        let read = money_of(&state, None, self.policy.today);
        if known.as_ref().is_none_or(|k| k.facts != read.facts) {
            // QuickBooks' word, like a poll's: kept, and shown on the row.
            self.record_money(&doc, &qbo_id, &read)?;
        }
        let unpaid = Unpaid { balance: read.facts.balance, lifecycle: read.facts.lifecycle };
        let (mut amount, on) = match decide_payment(&request, &unpaid) {
            PayDecision::Pay { amount, on } => (amount, on),
            PayDecision::Nothing(reason) => {
                tracing::info!(doc_key, ?reason, "no payment: QuickBooks shows nothing to pay");
                return Ok(());
            }
        };
        // QuickBooks answers amounts as JSON numbers (`250.0`); money is sent with its cents.
        if amount.scale() < 2 {
            amount.rescale(2);
        }
        let marker = Some(note_with_marker(None, doc_key));
        let payment = match doc.doc_kind {
            DocKind::Invoice => NewPayment::Invoice {
                customer_id: doc.party_id.clone(),
                invoice_id: qbo_id,
                amount,
                txn_date: on,
                deposit_account_id: Some(account.to_owned()),
                private_note: marker,
            },
            DocKind::Bill => {
                let pay_from = match bill_pay_from {
                    Some(pay_from) => pay_from.clone(),
                    None => {
                        let credit_card = match self.qbo.read_account(account).await {
                            Ok(found) => found.is_credit_card(),
                            // No such account: QuickBooks refuses the payment, and the refusal
                            // is put down to the setting (see `Pass::refused`).
                            Err(QboError::Rejected { .. }) => false,
                            Err(error) => return Err(error.into()),
                        };
                        let account_id = account.to_owned();
                        let pay_from =
                            if credit_card { PayFrom::CreditCard { account_id } } else { PayFrom::Bank { account_id } };
                        bill_pay_from.insert(pay_from).clone()
                    }
                };
                NewPayment::Bill {
                    vendor_id: doc.party_id.clone(),
                    bill_id: qbo_id,
                    amount,
                    txn_date: on,
                    pay_from,
                    private_note: marker,
                }
            }
            // Credits are never paid (see `Autopay::account`).
            _ => return Ok(()),
        };
        let payout = match &held {
            Some(held) => self.ledger().renew_payment(&doc, held, &payment, amount, on)?,
            None => self.ledger().intend_payment(&doc, &payment, amount, on)?,
        };
        if payout.state == PayoutState::Pending && payout.attempts == 0 {
            self.send_payout(&doc, &payout, report).await?;
        }
        Ok(())
    }

    /// Settles a payout an earlier pass left pending: one never sent is sent as recorded; one
    /// sent without an answer is looked for in QuickBooks before anything is sent again.
    async fn settle_pending(&mut self, payout: &PayoutRecord, report: &mut PassReport) -> Result<(), PassError> {
        let Some(doc) = self.store.document(&payout.doc_key)? else { return Ok(()) };
        let Some(qbo_id) = doc.qbo_id.clone() else { return Ok(()) };
        if payout.attempts == 0 {
            return self.send_payout(&doc, payout, report).await;
        }
        let state = match self.qbo.docs_by_ids(doc.doc_kind, std::slice::from_ref(&qbo_id)).await {
            Ok(mut found) => found.pop(),
            Err(error @ (QboError::Uncertain { .. } | QboError::Transient { .. } | QboError::Protocol { .. })) => {
                report.uncertain += 1;
                self.ledger().payment_unsettled(&doc, payout, AuditEvent::Uncertain, &error.to_string())?;
                return Ok(());
            }
            Err(other) => return Err(other.into()),
        };
        let Some(state) = state else {
            let reason = format!("{} {qbo_id} is no longer in QuickBooks; nothing was paid", doc.doc_kind);
            return Ok(self.ledger().payment_unneeded(&doc, payout, &reason, None)?);
        };
        for link in state.payments.iter().filter(|link| link.kind == payout.kind) {
            let payment = self.qbo.read_payment(link.kind, &link.id).await?;
            if payment.private_note.as_deref().is_some_and(|note| note_has_marker(note, &payout.doc_key)) {
                let money = money_of(&state, Some(payout.paid_on), self.policy.today);
                self.ledger().paid(&doc, payout, &payment, Some(&money), true)?;
                report.money.payments_recorded += 1;
                return Ok(());
            }
        }
        let money = money_of(&state, None, self.policy.today);
        if state.voided || state.balance <= Decimal::ZERO {
            let reason = format!(
                "QuickBooks shows {} {qbo_id} {} without qbsync's payment; nothing was sent",
                doc.doc_kind,
                if state.voided { "voided" } else { "paid" }
            );
            return Ok(self.ledger().payment_unneeded(&doc, payout, &reason, Some(&money))?);
        }
        if state.balance < payout.amount {
            // Paid in part meanwhile: the recorded payment would now pay more than is owed.
            let message = format!(
                "the balance of {} {qbo_id} fell to {} after qbsync decided to pay {}: record the rest by hand in QuickBooks",
                doc.doc_kind, state.balance, payout.amount
            );
            self.ledger().payment_refused(&doc, payout, &message, None)?;
            report.money.payments_refused += 1;
            return Ok(());
        }
        self.send_payout(&doc, payout, report).await
    }

    /// Sends a payout: always the exact body recorded with the intent, always its `requestid`.
    async fn send_payout(
        &mut self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let request_id =
            RequestId::parse(&payout.request_id).map_err(|e| QboError::Protocol { reason: e.to_string() })?;
        self.ledger().paying(payout)?;
        let outcome = self.qbo.create_payment_body(payout.kind, &payout.payload, &request_id).await;
        match outcome {
            Ok(payment) => {
                let money = self.store.money(&doc.doc_key)?.map(|m| after(m, &payment, doc, payout, self.policy.today));
                self.ledger().paid(doc, payout, &payment, money.as_ref(), false)?;
                report.money.payments_recorded += 1;
                Ok(())
            }
            Err(error @ QboError::Rejected { .. }) => self.refused(doc, payout, &error, report).await,
            Err(error @ (QboError::Uncertain { .. } | QboError::Protocol { .. })) => {
                report.uncertain += 1;
                tracing::warn!(doc_key = %doc.doc_key, request_id = %payout.request_id, %error, "payment outcome unknown; will look it up before sending again");
                Ok(self.ledger().payment_unsettled(doc, payout, AuditEvent::Uncertain, &error.to_string())?)
            }
            Err(error @ QboError::Transient { .. }) => {
                report.uncertain += 1;
                self.ledger().payment_unsettled(doc, payout, AuditEvent::RetryLater, &error.to_string())?;
                Err(PassError::Qbo(error))
            }
            Err(other) => Err(other.into()),
        }
    }

    /// QuickBooks refused `payout` with `error`: held when the account it was to go through is
    /// at fault (the setting's problem, decided again after a restart), else refused for good.
    async fn refused(
        &mut self,
        doc: &DocRecord,
        payout: &PayoutRecord,
        error: &QboError,
        report: &mut PassReport,
    ) -> Result<(), PassError> {
        let response = format!("{error:?}");
        match self.account_problem(doc.doc_kind, payout).await? {
            Some(problem) => {
                let setting = account_setting(doc.doc_kind);
                let message = format!(
                    "QuickBooks refused the payment: {problem}. Set {setting} to the Id of an account that can take it \
                     (`qbsync doctor` lists them) and restart qbsync: the payment is decided again then, and sent once"
                );
                self.ledger().payment_held(doc, payout, &message, Some(&response))?;
                report.money.payments_held += 1;
            }
            None => {
                self.ledger().payment_refused(doc, payout, &error.for_bookkeeper(), Some(&response))?;
                report.money.payments_refused += 1;
            }
        }
        Ok(())
    }

    /// What is wrong with the account `payout` goes through, from a fresh read (one metered
    /// call, after a refusal only); `None` when it can take the payment.
    async fn account_problem(&self, doc_kind: DocKind, payout: &PayoutRecord) -> Result<Option<String>, PassError> {
        let Some(account) = payout.account_id.as_deref().or_else(|| self.policy.autopay.account(doc_kind)) else {
            return Ok(None);
        };
        let found = match self.qbo.read_account(account).await {
            Ok(found) => found,
            Err(QboError::Rejected { .. }) => return Ok(Some(format!("QuickBooks has no account with Id {account}"))),
            Err(error) => return Err(error.into()),
        };
        let named = format!("account {} \"{}\" ({})", found.id, found.name, found.account_type);
        Ok(if !found.active {
            Some(format!("{named} is inactive"))
        } else if !payout.kind.goes_through(&found) {
            Some(format!("{named} cannot take a {}", payout.kind.entity()))
        } else {
            None
        })
    }

    /// The document as QuickBooks holds it now, or `None` when it is not there (the poller
    /// confirms a deletion; nothing is paid meanwhile).
    async fn read_doc(&self, doc: &DocRecord, qbo_id: &str) -> Result<Option<QboDoc>, PassError> {
        let found = self.qbo.docs_by_ids(doc.doc_kind, &[qbo_id.to_owned()]).await?;
        if found.is_empty() {
            tracing::warn!(doc_key = %doc.doc_key, qbo_id, "the document to pay is not in QuickBooks; nothing paid");
        }
        Ok(found.into_iter().next())
    }

    fn record_money(&self, doc: &DocRecord, qbo_id: &str, money: &Money) -> Result<(), PassError> {
        let change = MoneyChange {
            doc_key: doc.doc_key.clone(),
            kind: doc.doc_kind,
            qbo_id: qbo_id.to_owned(),
            money: money.clone(),
        };
        Ok(self.ledger().money_read(&change)?)
    }
}

/// The setting that names the account payments of `doc_kind` go through.
fn account_setting(doc_kind: DocKind) -> &'static str {
    match doc_kind {
        DocKind::Bill => "QB_BILL_PAYMENT_ACCOUNT",
        _ => "QB_PAYMENT_DEPOSIT_ACCOUNT",
    }
}

/// A document's money as QuickBooks showed it in `state`; `paid_on` is the date of the payment
/// that settled it, when known. Judged by `today` (the poller's next round judges it again by
/// the company's calendar).
fn money_of(state: &QboDoc, paid_on: Option<NaiveDate>, today: NaiveDate) -> Money {
    let facts = DocFacts {
        total: state.total,
        balance: state.balance,
        due_date: state.due_date,
        lifecycle: if state.voided { Lifecycle::Voided } else { Lifecycle::Live },
        last_payment_date: paid_on.filter(|_| state.balance.is_zero()),
    };
    Money { view: paid_view_on(&facts, today), facts }
}

/// The document's money after `payment`: its balance less what the payment applied to it.
fn after(known: Money, payment: &PaymentState, doc: &DocRecord, payout: &PayoutRecord, today: NaiveDate) -> Money {
    let applied: Decimal =
        payment.applied.iter().filter(|a| Some(a.doc_id.as_str()) == doc.qbo_id.as_deref()).map(|a| a.amount).sum();
    let balance = (known.facts.balance - applied).max(Decimal::ZERO);
    let facts = DocFacts {
        balance,
        last_payment_date: if balance.is_zero() { Some(payout.paid_on) } else { known.facts.last_payment_date },
        ..known.facts
    };
    Money { view: paid_view_on(&facts, today), facts }
}
