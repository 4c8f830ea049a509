//! One polling round: what happened in QuickBooks to the documents qbsync follows.
//!
//! [`Poller::poll`] asks QuickBooks through the window policy of [`super::window`] (CDC, narrowed
//! when full, documents read by id after an outage), then turns what came back into
//! [`DocFacts`] for the documents the caller follows:
//!
//! - a changed invoice or bill gives its balance, total, due date and whether it was voided;
//! - a payment (in the same answer, or read once when a fully paid document names a payment
//!   not seen) gives the date `qb_paid_at` shows;
//! - a deletion, reported by CDC or noticed as a document missing from a read by id, is
//!   confirmed by a read failing with 610 before it is believed (CDC has been seen reporting
//!   deletions right after plain updates, reference §1.3).
//!
//! The poller holds no store: the caller passes the documents it follows and the stored
//! `covered_until`, and persists what [`PollRound`] gives back. Documents not followed are
//! ignored; nothing is read back after a create.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};

use super::status::{DocFacts, Lifecycle};
use super::window::{CdcWindow, NextRead, WindowOutcome};
use crate::qbo::{CdcEntity, CdcOutcome, Change, DocKind, DocState, PaymentKind, QboClient, QboError};

/// The most reads one round makes before it stops and leaves the rest to the next round
/// (a window that keeps narrowing must not spin).
const MAX_STEPS: usize = 24;

/// A document qbsync follows, by kind and QuickBooks id.
pub type DocKey = (DocKind, String);

/// What one round learned about one followed document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocUpdate {
    pub kind: DocKind,
    pub id: String,
    /// `None` once deleted.
    pub sync_token: Option<String>,
    pub facts: DocFacts,
}

/// What a round gives back to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollRound {
    /// One per followed document that changed, in key order.
    pub updates: Vec<DocUpdate>,
    /// Store this; pass it to [`Poller::new`] after a restart.
    pub covered_until: Option<DateTime<Utc>>,
    /// The round stopped before its window was covered; poll again soon.
    pub unfinished: bool,
    /// QuickBooks' clock in the company's time zone at its last CDC answer of the round (the
    /// envelope's `time`): what "after the due date" is judged by. `None` after a round that
    /// read by id only.
    pub company_now: Option<DateTime<FixedOffset>>,
}

/// Follows QuickBooks' changes across rounds.
#[derive(Clone, Debug)]
pub struct Poller {
    window: CdcWindow,
}

impl Poller {
    /// Resumes from the stored `covered_until` (`None` on the first run: the first round reads
    /// the followed documents by id).
    pub fn new(covered_until: Option<DateTime<Utc>>) -> Poller {
        Poller { window: CdcWindow::new(covered_until) }
    }

    /// One round. `followed` are the documents qbsync created whose status is not final
    /// (voided and deleted ones need no more polling); `now` is this machine's clock.
    pub async fn poll(
        &mut self,
        client: &QboClient,
        followed: &[DocKey],
        now: DateTime<Utc>,
    ) -> Result<PollRound, QboError> {
        let followed: HashSet<&DocKey> = followed.iter().collect();
        let mut docs: BTreeMap<DocKey, DocState> = BTreeMap::new();
        let mut payment_dates: HashMap<(PaymentKind, String), Option<NaiveDate>> = HashMap::new();
        let mut maybe_deleted: HashSet<DocKey> = HashSet::new();
        let mut unfinished = true;
        let mut company_now = None;
        for _ in 0..MAX_STEPS {
            match self.window.next(now) {
                NextRead::Cdc { changed_since } => {
                    let answer = match client.cdc(&CdcEntity::ALL, changed_since).await? {
                        CdcOutcome::TooOld => {
                            self.window.after_too_old();
                            continue;
                        }
                        CdcOutcome::Answer(answer) => answer,
                    };
                    for change in answer.changes {
                        match change {
                            Change::Doc(doc) => {
                                let key = (doc.kind, doc.id.clone());
                                if followed.contains(&key) {
                                    maybe_deleted.remove(&key);
                                    docs.insert(key, doc);
                                }
                            }
                            Change::Payment(payment) => {
                                payment_dates.insert((payment.kind, payment.id), payment.txn_date);
                            }
                            Change::Deleted { entity, id, .. } => {
                                let kind = match entity {
                                    CdcEntity::Invoice => DocKind::Invoice,
                                    CdcEntity::Bill => DocKind::Bill,
                                    CdcEntity::Payment | CdcEntity::BillPayment => continue,
                                };
                                let key = (kind, id);
                                if followed.contains(&key) {
                                    docs.remove(&key);
                                    maybe_deleted.insert(key);
                                }
                            }
                        }
                    }
                    company_now = answer.answered_at.or(company_now);
                    let answered_at = answer.answered_at.map_or(now, |at| at.with_timezone(&Utc));
                    if self.window.after_cdc(changed_since, answer.objects, answered_at) == WindowOutcome::Covered {
                        unfinished = false;
                        break;
                    }
                }
                NextRead::OpenDocsById => {
                    for kind in [DocKind::Invoice, DocKind::Bill] {
                        let ids: Vec<String> =
                            followed.iter().filter(|(k, _)| *k == kind).map(|(_, id)| id.clone()).collect();
                        if ids.is_empty() {
                            continue;
                        }
                        let found = client.docs_by_ids(kind, &ids).await?;
                        let seen: HashSet<&str> = found.iter().map(|d| d.id.as_str()).collect();
                        for id in ids.iter().filter(|id| !seen.contains(id.as_str())) {
                            maybe_deleted.insert((kind, id.clone()));
                        }
                        for doc in found {
                            docs.insert((kind, doc.id.clone()), doc);
                        }
                    }
                    // Reads by id start no later than `now` on QuickBooks' clock give or take the
                    // clocks' difference, which the next window's overlap absorbs.
                    self.window.after_full_read(now);
                    unfinished = false;
                    break;
                }
            }
        }

        let mut updates = Vec::new();
        for key in maybe_deleted {
            match client.read(key.0, &key.1, false).await {
                Err(QboError::Rejected { faults }) if faults.iter().any(|f| f.code == "610") => {
                    updates.push(DocUpdate {
                        kind: key.0,
                        id: key.1.clone(),
                        sync_token: None,
                        facts: DocFacts {
                            total: Default::default(),
                            balance: Default::default(),
                            due_date: None,
                            lifecycle: Lifecycle::Deleted,
                            last_payment_date: None,
                        },
                    });
                }
                Ok(_) => {
                    // Still there: the CDC report was wrong or it changed since; read its state.
                    if let Some(doc) = client.docs_by_ids(key.0, std::slice::from_ref(&key.1)).await?.pop() {
                        docs.insert(key, doc);
                    }
                }
                Err(error) => return Err(error),
            }
        }
        for (key, doc) in docs {
            let last_payment_date = if doc.balance.is_zero() && !doc.voided {
                self.last_payment_date(client, &doc, &mut payment_dates).await?
            } else {
                None
            };
            let facts = DocFacts {
                total: doc.total,
                balance: doc.balance,
                due_date: doc.due_date,
                lifecycle: if doc.voided { Lifecycle::Voided } else { Lifecycle::Live },
                last_payment_date,
            };
            updates.push(DocUpdate { kind: key.0, id: key.1, sync_token: Some(doc.sync_token), facts });
        }
        updates.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        Ok(PollRound { updates, covered_until: self.window.covered_until(), unfinished, company_now })
    }

    /// The latest date among the payments a paid document names, reading (once per round) the
    /// payments this round did not bring.
    async fn last_payment_date(
        &self,
        client: &QboClient,
        doc: &DocState,
        known: &mut HashMap<(PaymentKind, String), Option<NaiveDate>>,
    ) -> Result<Option<NaiveDate>, QboError> {
        let mut latest = None;
        for link in &doc.payments {
            let key = (link.kind, link.id.clone());
            let date = match known.get(&key) {
                Some(date) => *date,
                None => {
                    let date = match client.read_payment(link.kind, &link.id).await {
                        Ok(payment) => payment.txn_date,
                        // A payment deleted since: it no longer counts.
                        Err(QboError::Rejected { faults }) if faults.iter().any(|f| f.code == "610") => None,
                        Err(error) => return Err(error),
                    };
                    known.insert(key, date);
                    date
                }
            };
            latest = latest.max(date);
        }
        Ok(latest)
    }
}
