//! Following the documents qbsync created: one round of the poller, turned into the changes
//! the rows must show.
//!
//! [`follow`] takes the documents qbsync follows (created, not yet voided or deleted) with
//! what the store last knew of their money, runs one [`Poller`] round, and gives back a
//! [`MoneyChange`] for each document whose facts or shown cells differ from what was known.
//! Time alone changes what a row shows (an invoice falls overdue at the company's midnight
//! without anything happening in QuickBooks), so every document known is judged again by the
//! company's calendar, not only those QuickBooks reported. Nothing is written here: the caller
//! records the round through the ledger, in one transaction, and only then stores the window.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use super::poller::Poller;
use super::status::{DocFacts, PaidView, paid_view_on};
use crate::qbo::{DocKind, QboClient, QboError};

/// What the store remembers of one document's money: QuickBooks' facts and the cells shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Money {
    pub facts: DocFacts,
    pub view: PaidView,
}

/// A document qbsync created and still follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Followed {
    pub doc_key: String,
    pub kind: DocKind,
    pub qbo_id: String,
    /// `None` until the first round that saw it.
    pub known: Option<Money>,
}

/// What a document's row must show from now on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoneyChange {
    pub doc_key: String,
    pub kind: DocKind,
    pub qbo_id: String,
    pub money: Money,
}

/// What one round learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowRound {
    /// One per document whose money or shown cells changed.
    pub changes: Vec<MoneyChange>,
    /// Where the change history is covered to: store it with the changes.
    pub covered_until: Option<DateTime<Utc>>,
    /// The round stopped before its window was covered: follow again soon.
    pub unfinished: bool,
    /// The company's UTC offset as QuickBooks last showed it (for the next rounds that read by id).
    pub company_offset: FixedOffset,
}

/// One round for `followed`, resuming from `covered_until`. `now` is this machine's clock;
/// `company_offset` the company's offset as last seen (UTC before any).
pub async fn follow(
    client: &QboClient,
    followed: &[Followed],
    covered_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    company_offset: FixedOffset,
) -> Result<FollowRound, QboError> {
    if followed.is_empty() {
        // Nothing to follow costs nothing: not even one metered call.
        return Ok(FollowRound { changes: Vec::new(), covered_until, unfinished: false, company_offset });
    }
    let keys: Vec<(DocKind, String)> = followed.iter().map(|f| (f.kind, f.qbo_id.clone())).collect();
    let round = Poller::new(covered_until).poll(client, &keys, now).await?;
    // QuickBooks' own clock when it answered; else this machine's, in the company's offset.
    let company_now = round.company_now.unwrap_or_else(|| now.with_timezone(&company_offset));
    let today = company_now.date_naive();
    let changes = followed.iter().filter_map(|doc| judge(doc, &round.updates, today)).collect();
    Ok(FollowRound {
        changes,
        covered_until: round.covered_until,
        unfinished: round.unfinished,
        company_offset: *company_now.offset(),
    })
}

/// What `doc` must show after a round that brought `updates`, on the company's date `today`;
/// `None` when that is what is known already.
fn judge(doc: &Followed, updates: &[super::DocUpdate], today: NaiveDate) -> Option<MoneyChange> {
    let update = updates.iter().find(|u| u.kind == doc.kind && u.id == doc.qbo_id);
    let facts = match (update, &doc.known) {
        (Some(update), _) => update.facts.clone(),
        (None, Some(known)) => known.facts.clone(),
        (None, None) => return None,
    };
    let view = paid_view_on(&facts, today);
    let money = Money { facts, view };
    (doc.known.as_ref() != Some(&money)).then(|| MoneyChange {
        doc_key: doc.doc_key.clone(),
        kind: doc.kind,
        qbo_id: doc.qbo_id.clone(),
        money,
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::payments::{DocUpdate, Lifecycle, PaidStatus};

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn facts(balance: i64, due: &str) -> DocFacts {
        DocFacts {
            total: Decimal::new(100, 0),
            balance: Decimal::new(balance, 0),
            due_date: Some(day(due)),
            lifecycle: Lifecycle::Live,
            last_payment_date: None,
        }
    }

    fn followed(known: Option<DocFacts>, today: &str) -> Followed {
        Followed {
            doc_key: "d1".into(),
            kind: DocKind::Invoice,
            qbo_id: "130".into(),
            known: known.map(|facts| Money { view: paid_view_on(&facts, day(today)), facts }),
        }
    }

    fn update(facts: DocFacts) -> DocUpdate {
        DocUpdate { kind: DocKind::Invoice, id: "130".into(), sync_token: Some("1".into()), facts }
    }

    #[test]
    fn a_document_first_seen_is_a_change_and_one_seen_unchanged_is_not() {
        let fresh = followed(None, "2026-03-01");
        let change = judge(&fresh, &[update(facts(100, "2026-03-10"))], day("2026-03-01")).unwrap();
        assert_eq!(change.money.view.status, PaidStatus::Open);
        let known = followed(Some(facts(100, "2026-03-10")), "2026-03-01");
        assert_eq!(judge(&known, &[update(facts(100, "2026-03-10"))], day("2026-03-01")), None);
        assert_eq!(judge(&known, &[], day("2026-03-01")), None, "nothing reported, nothing changed");
        assert_eq!(judge(&fresh, &[], day("2026-03-01")), None, "not seen yet: nothing to show");
    }

    #[test]
    fn a_known_document_falls_overdue_by_the_calendar_alone() {
        let known = followed(Some(facts(40, "2026-03-10")), "2026-03-10");
        assert_eq!(known.known.as_ref().unwrap().view.status, PaidStatus::Partial);
        assert_eq!(judge(&known, &[], day("2026-03-10")), None, "not overdue on its due date");
        let change = judge(&known, &[], day("2026-03-11")).unwrap();
        assert_eq!(change.money.view.status, PaidStatus::Overdue);
        assert_eq!(change.money.facts, known.known.unwrap().facts, "the facts are QuickBooks' as they were");
    }

    #[test]
    fn a_payment_reported_changes_what_the_row_shows() {
        let known = followed(Some(facts(100, "2026-03-10")), "2026-03-01");
        let paid = DocFacts { last_payment_date: Some(day("2026-03-02")), ..facts(0, "2026-03-10") };
        let change = judge(&known, &[update(paid)], day("2026-03-02")).unwrap();
        assert_eq!(change.money.view.status, PaidStatus::Paid);
        assert_eq!(change.money.view.paid_at_cell(), "2026-03-02");
    }
}
