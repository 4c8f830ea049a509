//! The planner: what to do with every row, decided without I/O.
//!
//! Input: the rows as read, the row anchors as read, what the store remembers, the policy.
//! Output: a [`Plan`] — anchors to claim or drop, documents to create, uncertain documents to
//! reconcile, and decisions to remember for rows that go no further (failed, skipped, copies).
//!
//! The planner never addresses a row by a remembered number: a row is known by its anchor key,
//! and a row without one gets one claimed first (the engine plans again once it is verified).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::hash::BuildHasher;

use compact_str::CompactString;

use rustc_hash::FxBuildHasher;

use crate::domain::Cell;
use crate::domain::date::parse_date;
use crate::domain::doc_number::DocNumber;
use crate::domain::fingerprint::content_fingerprint;
use crate::domain::layout::{Field, Layout};
use crate::domain::money::parse_amount;
use crate::store::{DocRecord, DocState, Kind, RowRecord, RowStatus};

use super::approval::{self, STALE};
use super::columns::Tracking;
use super::draft::{DocDraft, DraftRow, RowVerdict, judge, kind_of, note_with_marker};
use super::fast::{FastMap, FastSet};
use super::policy::Policy;
use super::seal::Sealing;
pub use super::view::StoreView;
use super::view::Wanted;

/// Where each anchored row is now: row key → 0-based grid row.
pub type Located = FastMap<CompactString, u32>;

use crate::sheets::NewAnchor;
/// A row anchor as read from the sheet.
pub use crate::sheets::RowAnchor as Anchor;

/// The store's documents indexed for the two questions the planner asks of every row. Built
/// once per plan: a search through every document for every row would make planning a sheet
/// with years of history quadratic.
struct DocIndex<'a> {
    by_qbo_id: FastMap<(Kind, &'a str), &'a DocRecord>,
    by_number: FastMap<(Kind, &'a str), &'a DocRecord>,
}

impl<'a> DocIndex<'a> {
    fn new(store: &'a StoreView) -> DocIndex<'a> {
        let mut index = DocIndex { by_qbo_id: FastMap::default(), by_number: FastMap::default() };
        // The lowest doc key wins a tie, whatever order the store handed the documents in.
        let keep_first = |slot: &mut &'a DocRecord, doc: &'a DocRecord| {
            if doc.doc_key < slot.doc_key {
                *slot = doc;
            }
        };
        for doc in store.docs.values() {
            if let Some(id) = doc.qbo_id.as_deref() {
                index.by_qbo_id.entry((doc.kind, id)).and_modify(|slot| keep_first(slot, doc)).or_insert(doc);
            }
            if let Some(number) = doc.doc_number.as_deref().filter(|_| doc.state != DocState::Failed) {
                index.by_number.entry((doc.kind, number)).and_modify(|slot| keep_first(slot, doc)).or_insert(doc);
            }
        }
        index
    }

    fn by_qbo_id(&self, kind: Kind, id: &str) -> Option<&'a DocRecord> {
        self.by_qbo_id.get(&(kind, id)).copied()
    }

    /// A document (created or still pending) already using this number.
    fn by_number(&self, kind: Kind, number: &str) -> Option<&'a DocRecord> {
        self.by_number.get(&(kind, number)).copied()
    }
}

/// An anchor to create on a row.
#[derive(Clone, Debug, PartialEq)]
pub struct Claim {
    pub row: u32,
    pub key: String,
    /// The record saved before the anchor is written; its fingerprint verifies where it landed.
    pub record: RowRecord,
}

/// Counts for the pass report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PlanStats {
    pub ready: usize,
    pub to_create: usize,
    pub failed: usize,
    pub skipped: usize,
    pub copies: usize,
    pub deferred_by_limit: usize,
    /// Rows waiting for a person's approval (`QBSYNC_REQUIRE_APPROVAL`).
    pub in_review: usize,
}

/// Everything one pass should do.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    pub claims: Vec<Claim>,
    pub drop_anchors: Vec<i32>,
    /// Anchors to write where a key's row is now, found by its values after its anchor was
    /// left behind (a sort or a cut and paste that moved values but not row metadata).
    pub moves: Vec<NewAnchor>,
    /// Row records to forget (anchors that landed on the wrong row).
    pub forget_rows: Vec<String>,
    /// Pending documents whose outcome must be settled before anything else is sent for them.
    pub reconcile: Vec<String>,
    pub creates: Vec<DocDraft>,
    /// Decisions to remember for rows that go no further this pass (failed, skipped, copies,
    /// in review).
    pub decisions: Vec<RowRecord>,
    /// Where each anchored row is now (key → 0-based grid row).
    pub located: Located,
    pub stats: PlanStats,
}

impl Plan {
    /// The anchors the plan makes: one for each claim, and each moved one again where its row
    /// is now.
    pub fn anchors_to_make(&self) -> Vec<NewAnchor> {
        self.claims
            .iter()
            .map(|c| NewAnchor { row: c.row, key: c.key.clone() })
            .chain(self.moves.iter().cloned())
            .collect()
    }
}

/// The kind of document each row would become, routed once per distinct `inv_from` text:
/// routing normalises the name (allocating), and a sheet has a handful of distinct values over
/// tens of thousands of rows.
struct Kinds<'p> {
    policy: &'p Policy,
    known: FastMap<String, Kind>,
}

impl<'p> Kinds<'p> {
    fn new(policy: &'p Policy) -> Kinds<'p> {
        Kinds { policy, known: FastMap::default() }
    }

    fn of(&mut self, layout: &Layout, row: &[Cell]) -> Kind {
        let inv_from = layout.cell(row, Field::InvFrom).as_text();
        if let Some(kind) = self.known.get(inv_from.as_ref()) {
            return *kind;
        }
        let kind = kind_of(row, layout, self.policy);
        self.known.insert(inv_from.into_owned(), kind);
        kind
    }
}

/// True when no input cell of the row holds anything but a person's approval (an approval of
/// nothing is not a row).
fn is_blank_row(row: &[Cell], layout: &Layout) -> bool {
    Field::INPUTS.iter().filter(|f| f.is_content()).all(|f| layout.cell(row, *f).is_blank())
}

/// A cheap test, before anchors are read, of whether a pass could have anything to do: a
/// row that looks ready, a QuickBooks id that appears on two rows (a copy), an intent whose
/// outcome is unknown, a claim left over by an interrupted pass, or a synced row that no longer
/// shows its id where qbsync last saw it (rows were inserted, deleted or sorted — the anchors
/// tell where it went, or that it is gone, for the audit — or its id cell was changed, which
/// the projection repairs). When it says no, the pass ends after one read.
pub fn needs_attention(rows: &[Vec<Cell>], layout: &Layout, store: &StoreView, policy: &Policy) -> bool {
    let synced = store
        .rows
        .values()
        .filter(|r| matches!(r.status, RowStatus::Synced | RowStatus::Voided))
        .filter_map(|r| {
            let id = r.doc_key.as_ref().and_then(|d| store.docs.get(d.as_str())).and_then(|d| d.qbo_id.clone())?;
            Some((r.sheet_row?, r.kind, id, r.status))
        })
        .collect();
    let claims_left = store.rows.values().any(|r| r.status == RowStatus::Claimed);
    let mut check = AttentionCheck::new(store, policy).expecting(synced, claims_left);
    if check.needed() || rows.iter().enumerate().skip(1).any(|(index, row)| check.row(layout, index, row)) {
        return true;
    }
    check.finish(rows.len())
}

/// [`needs_attention`] one row at a time, for rows looked at as they are read and then let
/// go: all it keeps is the ids seen so far. The layout comes with each row: a read finds it in
/// the header, the first row it takes.
pub struct AttentionCheck<'a> {
    policy: &'a Policy,
    /// Fingerprints of the failed rows the store remembers under the current configuration.
    failures: FastSet<&'a str>,
    /// Fingerprints (stale ones marked, see [`approval::STALE`]) of the rows in review the
    /// store remembers under the current configuration.
    reviews: FastSet<&'a str>,
    kinds: Kinds<'a>,
    /// The ids seen so far, hashed: the rows they came from are let go. Two ids sharing a
    /// hash would only cost a full pass that finds nothing to do.
    seen_ids: FastSet<(Kind, u64)>,
    /// Where synced and voided rows were last seen (0-based row → the id and status they
    /// show), see [`Self::expecting`].
    expected: FastMap<usize, (Kind, String, RowStatus)>,
    /// Documents a paid date on their row would have qbsync pay (see [`Self::paying`]).
    payable: FastSet<(Kind, CompactString)>,
    needed: bool,
}

impl<'a> AttentionCheck<'a> {
    pub fn new(store: &'a StoreView, policy: &'a Policy) -> AttentionCheck<'a> {
        // A row that failed is judged again only when its content or the configuration
        // changed, which is the planner's own rule: the fingerprints of the failures the store
        // remembers tell a row nobody touched from one somebody fixed.
        let failures = store
            .rows
            .values()
            .filter(|r| r.status == RowStatus::Failed && r.config_fp == policy.config_fp)
            .map(|r| r.content_fp.as_str())
            .collect();
        let reviews = store
            .rows
            .values()
            .filter(|r| r.status == RowStatus::Review && r.config_fp == policy.config_fp)
            .map(|r| r.content_fp.as_str())
            .collect();
        let needed = store.docs.values().any(|d| d.state == DocState::Pending);
        AttentionCheck {
            policy,
            failures,
            reviews,
            kinds: Kinds::new(policy),
            seen_ids: FastSet::default(),
            expected: FastMap::default(),
            payable: FastSet::default(),
            needed,
        }
    }

    /// Also needs a pass when a row showing the id of a document qbsync may still pay
    /// (`payable`: side of the sheet and QuickBooks id, see `Store::payable_documents`) shows a
    /// paid date, or when a payment's outcome is unknown (`pending`): typing a date on a synced
    /// row changes no cell the check looks at otherwise.
    pub fn paying(mut self, payable: Vec<(Kind, String)>, pending: bool) -> AttentionCheck<'a> {
        self.payable = payable.into_iter().map(|(kind, id)| (kind, id.into())).collect();
        self.needed |= pending;
        self
    }

    /// Also needs a pass when a synced row does not show its id where it was last seen
    /// (`(1-based sheet row, kind, QuickBooks id, status)`), or a voided row does not say
    /// `voided` yet (`qbsync void` changes the store, not the sheet), or when `claims_left` says
    /// an interrupted pass left claims behind.
    pub fn expecting(mut self, synced: Vec<(i64, Kind, String, RowStatus)>, claims_left: bool) -> AttentionCheck<'a> {
        self.expected = synced
            .into_iter()
            .filter_map(|(sheet_row, kind, id, status)| {
                Some((usize::try_from(sheet_row - 1).ok()?, (kind, id, status)))
            })
            .collect();
        self.needed |= claims_left;
        self
    }

    /// After the last row: true when a synced row was expected beyond the rows there are now.
    pub fn finish(&mut self, rows: usize) -> bool {
        self.needed |= self.expected.keys().any(|index| *index >= rows);
        self.needed
    }

    /// Looks at data row `index` (the header is row 0 and is not passed); true once the pass
    /// has something to do.
    pub fn row(&mut self, layout: &Layout, index: usize, row: &[Cell]) -> bool {
        if self.needed || is_blank_row(row, layout) {
            return self.needed;
        }
        if let Some((kind, id, status)) = self.expected.get(&index)
            && (layout.cell(row, Tracking::id_of(*kind)).trimmed() != id.as_str()
                || (*status == RowStatus::Voided
                    && RowStatus::shown(
                        &layout.cell(row, Tracking::of(*kind, self.policy.mode, true).status).as_text(),
                    ) != Some(RowStatus::Voided)))
        {
            self.needed = true;
            return true;
        }
        let (kind, id) = self.kind_and_id(layout, row);
        self.needed = if id.is_empty() {
            looks_ready(row, index as u32, kind, layout, self.policy, &self.failures, &self.reviews)
        } else {
            !self.seen_ids.insert((kind, FxBuildHasher.hash_one(id.as_ref())))
                || (self.payable.contains(&(kind, id.as_ref().into()))
                    && matches!(parse_date(layout.cell(row, Field::InvPaidDate), self.policy.date_order), Ok(Some(_))))
        };
        self.needed
    }

    /// Whether anything seen so far needs a full pass.
    pub fn needed(&self) -> bool {
        self.needed
    }

    /// The QuickBooks id `row` shows, as [`Self::row`] counts it among the ids seen: none for a
    /// blank row or a row without an id.
    pub fn id_of(&mut self, layout: &Layout, row: &[Cell]) -> Option<(Kind, u64)> {
        if is_blank_row(row, layout) {
            return None;
        }
        let (kind, id) = self.kind_and_id(layout, row);
        (!id.is_empty()).then(|| (kind, FxBuildHasher.hash_one(id.as_ref())))
    }

    /// Which kind of document a row makes, and the id it shows in that kind's column (empty
    /// for none).
    fn kind_and_id<'r>(&mut self, layout: &Layout, row: &'r [Cell]) -> (Kind, Cow<'r, str>) {
        let kind = self.kinds.of(layout, row);
        (kind, layout.cell(row, Tracking::id_of(kind)).trimmed())
    }

    /// Counts an id a row showed when it was last looked at, for a row that is not looked at
    /// again because it has not changed: an id seen twice still needs a pass.
    pub fn seen_again(&mut self, id: (Kind, u64)) {
        self.needed |= !self.seen_ids.insert(id);
    }

    /// A digest of everything the check holds from the store and the configuration: two checks
    /// with the same one judge the same row alike, so a row unchanged since a check that found
    /// nothing to do needs no looking at by the next.
    pub fn inputs(&self) -> u64 {
        // One hash per entry, sorted: the sets' iteration order says nothing, and an idle poll of
        // a long history hashes one entry per synced row without building a string for it.
        let hashing = xxhash_rust::xxh3::Xxh3Builder::new();
        let mut entries: Vec<u64> =
            Vec::with_capacity(self.failures.len() + self.reviews.len() + self.expected.len() + self.payable.len());
        entries.extend(self.failures.iter().map(|fp| hashing.hash_one(("failed", fp))));
        entries.extend(self.reviews.iter().map(|fp| hashing.hash_one(("review", fp))));
        entries.extend(self.expected.iter().map(|(index, expected)| hashing.hash_one(("expected", index, expected))));
        entries.extend(self.payable.iter().map(|payable| hashing.hash_one(("payable", payable))));
        entries.sort_unstable();
        hashing.hash_one((&self.policy.config_fp, self.needed, entries))
    }
}

/// Ready by the sheet alone: eligible status, and not visibly settled in a way that still holds.
fn looks_ready(
    row: &[Cell],
    index: u32,
    kind: Kind,
    layout: &Layout,
    policy: &Policy,
    failures: &FastSet<&str>,
    reviews: &FastSet<&str>,
) -> bool {
    let status = layout.cell(row, Field::Status).trimmed().into_owned();
    if !policy.backfill && !policy.eligible.contains(&status) {
        return false;
    }
    // A row without an id has no document yet: its outcome shows where such a row's does.
    let shown = RowStatus::shown(&layout.cell(row, Tracking::of(kind, policy.mode, false).status).as_text());
    match shown {
        // Settled rows are re-judged only when the judgement could change: a failed row when
        // its content or the configuration changed (the store knows), a skipped row when the
        // mode no longer skips it.
        Some(RowStatus::Failed) => {
            policy.include_failed || !failures.contains(content_fingerprint(row, layout).as_str())
        }
        Some(RowStatus::Skipped) => !matches!(judge(row, index, layout, policy), RowVerdict::Skip { .. }),
        // A row in review waits for a person: it is judged again when its content changed,
        // when a yes appeared (the planner decides whether it counts), or when a stale yes
        // was cleared (a yes that follows will count). A row that still shows a stale yes, or
        // no yes, and is unchanged, waits on.
        Some(RowStatus::Review) if policy.require_approval => {
            let fp = content_fingerprint(row, layout);
            let waiting = match approval::approves(layout.cell(row, Field::Approved)) {
                true => format!("{fp}{STALE}"),
                false => fp,
            };
            !reviews.contains(waiting.as_str())
        }
        _ => true,
    }
}

/// Where each anchored row is now (key → 0-based grid row), exactly as [`plan`] finds it,
/// without judging a single row: all the write-back needs, at a fraction of the cost on a
/// long sheet.
pub fn locate(
    rows: &[Vec<Cell>],
    layout: &Layout,
    anchors: &[Anchor],
    quiet: Quiet<'_>,
    store: &StoreView,
    policy: &Policy,
) -> Located {
    let mut scratch = Plan::default();
    settle_anchors(rows, layout, anchors, quiet, store, policy, &mut scratch);
    scratch.located
}

/// What [`plan`] and [`super::project::project`] will look up in the store for the rows of a
/// picture that are not quiet (see [`super::seal`]): the keys of their anchors, the QuickBooks
/// ids they show and the numbers they would be created under. Quiet rows ask for nothing:
/// planning them would only confirm their seal.
pub fn wanted(rows: &[Vec<Cell>], layout: &Layout, anchors: &[Anchor], sealing: &Sealing, policy: &Policy) -> Wanted {
    let mut wanted = Wanted::default();
    for anchor in anchors.iter().filter(|a| !sealing.is_quiet(a.row as usize)) {
        wanted.rows.push(anchor.key.as_str().into());
    }
    for (index, row) in rows.iter().enumerate().skip(1) {
        if sealing.is_quiet(index) || is_blank_row(row, layout) {
            continue;
        }
        for field in [Field::QbInvoiceId, Field::QbBillId] {
            let id = layout.cell(row, field).trimmed();
            if !id.is_empty() {
                wanted.ids.push(id.as_ref().into());
            }
        }
        let number = layout.cell(row, Field::Invoice).trimmed();
        if let Ok(number) = DocNumber::parse(&number, &policy.doc_number_prefix) {
            wanted.numbers.push(number.as_str().into());
        }
    }
    for list in [&mut wanted.rows, &mut wanted.ids, &mut wanted.numbers] {
        list.sort_unstable();
        list.dedup();
    }
    wanted
}

/// Plans one pass. `new_key` mints row keys (random in production, sequential in tests).
pub fn plan(
    rows: &[Vec<Cell>],
    layout: &Layout,
    anchors: &[Anchor],
    quiet: Quiet<'_>,
    store: &StoreView,
    policy: &Policy,
    new_key: &mut dyn FnMut() -> String,
) -> Plan {
    let mut plan = Plan::default();
    let docs = DocIndex::new(store);
    let key_of_row = settle_anchors(rows, layout, anchors, quiet, store, policy, &mut plan);
    let mut kinds = Kinds::new(policy);

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut pending_docs: Vec<String> = Vec::new();

    for (index, row) in rows.iter().enumerate().skip(1) {
        let index = index as u32;
        if is_blank_row(row, layout) {
            continue;
        }
        let kind = kinds.of(layout, row);
        let key = key_of_row.get(index as usize).copied().flatten();
        let record = key.and_then(|k| store.rows.get(k));
        let id = layout.cell(row, Tracking::id_of(kind)).trimmed();

        if !id.is_empty() {
            // Most rows of a long sheet are settled history showing their own document's id:
            // that is decided by two look-ups, before anything else is computed.
            let Some(doc) = docs.by_qbo_id(kind, &id) else { continue };
            if key.is_some_and(|k| doc.row_keys.iter().any(|r| r == k)) {
                continue;
            }
            let has_own_document = record
                .and_then(|r| r.doc_key.as_ref())
                .and_then(|d| store.docs.get(d.as_str()))
                .is_some_and(|d| d.state != DocState::Failed);
            let Some(original) = original_row(doc, index, &plan.located, rows, layout, quiet) else {
                // The document's own row is not found this pass, and this row may be it, its
                // key lost for now (an anchor a sort left behind and a delete took, a row that
                // says `copy` because rows moved under a write meant for its copy). A copy's
                // claim would hold the row from then on, against its own key: nothing is
                // decided for it until the document's row is found, or it is that row.
                continue;
            };
            if let Some(copy) =
                detect_copy(kind, &id, doc, index, key, record, has_own_document, original, row, layout, policy)
            {
                plan.stats.copies += 1;
                match key {
                    Some(_) => push_decision(&mut plan, record, copy),
                    None => {
                        // Anchored first and verified like any claim; flagged once it holds.
                        let key = new_key();
                        let record =
                            RowRecord { row_key: key.clone(), status: RowStatus::Claimed, error: None, ..copy };
                        plan.claims.push(Claim { row: index, key, record });
                    }
                }
            }
            continue;
        }

        let status = layout.cell(row, Field::Status).trimmed().into_owned();
        if !policy.backfill && !policy.eligible.contains(&status) {
            continue;
        }

        // Fingerprints are computed only for rows that got this far: on a sheet of settled
        // history that is a handful, not every row.
        let fp = &content_fingerprint(row, layout);
        if let Some(record) = record {
            if record.status == RowStatus::Voided {
                // Finished, unless a person cleared its tracking cells and gave it a new number
                // to post it again: then it is a new row, under a new key (its old key stays
                // with the voided document, whose number it must never take back).
                let number = layout.cell(row, Field::Invoice).trimmed();
                let renumbered =
                    !number.is_empty() && !record.doc_number.as_deref().is_some_and(|n| n.ends_with(number.as_ref()));
                if let Some(old) = key.filter(|_| renumbered) {
                    plan.stats.ready += 1;
                    plan.located.remove(old);
                    plan.drop_anchors
                        .extend(anchors.iter().filter(|a| a.key == old && a.row == index).map(|a| a.metadata_id));
                    let key = new_key();
                    let record = row_record(key.clone(), kind, None, RowStatus::Claimed, None, fp, policy, index);
                    plan.claims.push(Claim { row: index, key, record });
                }
                continue;
            }
            if let Some(doc) = record.doc_key.as_ref().and_then(|d| store.docs.get(d.as_str())) {
                match doc.state {
                    DocState::Created => continue, // projection writes it back
                    DocState::Pending => {
                        if !pending_docs.contains(&doc.doc_key) {
                            pending_docs.push(doc.doc_key.clone());
                        }
                        continue;
                    }
                    DocState::Failed => {}
                }
            }
            let unchanged = record.content_fp == *fp && record.config_fp == policy.config_fp;
            if unchanged && matches!(record.status, RowStatus::Failed | RowStatus::Skipped) && !policy.include_failed {
                continue;
            }
        }

        plan.stats.ready += 1;
        let Some(key) = key else {
            let key = new_key();
            let record = row_record(key.clone(), kind, None, RowStatus::Claimed, None, fp, policy, index);
            plan.claims.push(Claim { row: index, key, record });
            continue;
        };
        match judge(row, index, layout, policy) {
            RowVerdict::Skip { kind, reason } => {
                plan.stats.skipped += 1;
                let decision =
                    row_record(key.to_owned(), kind, None, RowStatus::Skipped, Some(reason), fp, policy, index);
                push_decision(&mut plan, record, decision);
            }
            RowVerdict::Fail { kind, reason } => {
                plan.stats.failed += 1;
                let decision =
                    row_record(key.to_owned(), kind, None, RowStatus::Failed, Some(reason), fp, policy, index);
                push_decision(&mut plan, record, decision);
            }
            RowVerdict::Document { kind, credit, doc_number, party, line, txn_date, due_date, note } => {
                candidates.push(Candidate {
                    approved: approval::approves(layout.cell(row, Field::Approved)),
                    key: key.to_owned(),
                    index,
                    fp: fp.clone(),
                    kind,
                    credit,
                    doc_number,
                    party,
                    line,
                    txn_date,
                    due_date,
                    note,
                });
            }
        }
    }

    // Every pending intent is settled, whether or not its row is still on the sheet: a
    // document created for a row that has since been deleted must still reach the audit.
    for doc in store.docs.values().filter(|d| d.state == DocState::Pending) {
        if !pending_docs.contains(&doc.doc_key) {
            pending_docs.push(doc.doc_key.clone());
        }
    }
    pending_docs.sort();
    plan.reconcile = pending_docs;

    group_candidates(candidates, store, &docs, policy, &mut plan);
    plan
}

struct Candidate {
    key: String,
    index: u32,
    fp: String,
    kind: Kind,
    credit: bool,
    doc_number: String,
    party: String,
    line: super::draft::DraftLine,
    txn_date: chrono::NaiveDate,
    due_date: Option<chrono::NaiveDate>,
    note: Option<String>,
    /// The row's `approved` cell says yes (whether that yes counts is for [`approval::holds`]).
    approved: bool,
}

/// Turns ready rows into drafts: one per row, or one per document number when grouping; rows
/// that clash (two rows, one number) fail naming each other.
fn group_candidates(
    candidates: Vec<Candidate>,
    store: &StoreView,
    docs: &DocIndex<'_>,
    policy: &Policy,
    plan: &mut Plan,
) {
    let mut groups: BTreeMap<(Kind, String), Vec<Candidate>> = BTreeMap::new();
    for c in candidates {
        groups.entry((c.kind, c.doc_number.clone())).or_default().push(c);
    }
    let mut drafts: Vec<DocDraft> = Vec::new();
    for ((kind, number), mut members) in groups {
        members.sort_by_key(|m| m.index);

        if let Some(reason) = group_refusal(kind, &number, &members, docs, policy) {
            for m in &members {
                fail_candidate(plan, store, policy, m, reason.clone());
            }
            continue;
        }

        let first = &members[0];
        let notes: Vec<String> = members.iter().filter_map(|m| m.note.clone()).collect();
        let draft = DocDraft {
            doc_key: first.key.clone(),
            kind,
            doc_kind: super::draft::doc_kind(kind, first.credit),
            doc_number: number.clone(),
            party: first.party.clone(),
            txn_date: first.txn_date,
            due_date: first.due_date,
            private_note: (!notes.is_empty()).then(|| notes.join(" | ")),
            lines: members.iter().map(|m| m.line.clone()).collect(),
            rows: members
                .iter()
                .map(|m| DraftRow { key: m.key.clone(), index: m.index, content_fp: m.fp.clone() })
                .collect(),
        };
        if policy.require_approval {
            // A document goes ahead only when every row of it was approved for exactly what it
            // would send now; otherwise each row shows the preview and waits.
            let preview = approval::preview(&draft, policy);
            let record = |m: &Candidate| store.rows.get(m.key.as_str());
            let holds = |m: &Candidate| approval::holds(record(m), m.approved, &m.fp, &preview, policy);
            if !members.iter().all(holds) {
                for m in &members {
                    plan.stats.in_review += 1;
                    let base = row_record(m.key.clone(), kind, None, RowStatus::Review, None, &m.fp, policy, m.index);
                    // A yes that holds for this preview stays good while other rows wait.
                    let stale = m.approved && !holds(m);
                    let decision = approval::review(base, stale, preview.clone(), &policy.columns);
                    push_decision(plan, record(m), decision);
                }
                continue;
            }
        }
        drafts.push(draft);
    }
    drafts.sort_by_key(|d| d.rows[0].index);
    if let Some(limit) = policy.limit {
        plan.stats.deferred_by_limit = drafts.len().saturating_sub(limit);
        drafts.truncate(limit);
    }
    plan.stats.to_create = drafts.len();
    plan.creates = drafts;
}

/// Why the rows sharing one number cannot become one document, if they cannot: the number is
/// another document's, grouping is off, or they disagree on the party or on being a credit.
/// Every member fails with the same sentence, which names them all.
fn group_refusal(
    kind: Kind,
    number: &str,
    members: &[Candidate],
    docs: &DocIndex<'_>,
    policy: &Policy,
) -> Option<String> {
    let taken = docs.by_number(kind, number).filter(|d| !members.iter().any(|m| d.row_keys.contains(&m.key)));
    if let Some(existing) = taken {
        let what = match &existing.qbo_id {
            Some(id) => format!("QuickBooks {} {id}", kind.as_str()),
            None => format!("a {} qbsync is creating", kind.as_str()),
        };
        return Some(format!(
            "invoice number {number} is already used by {what} (from another row): give this row its own number if it is a different document, or delete it if it is a copy"
        ));
    }
    let all = || members.iter().map(|m| (m.index + 1).to_string()).collect::<Vec<_>>().join(", ");
    if members.len() > 1 && !policy.group_by_invoice {
        return Some(format!(
            "rows {} share invoice number {number}: give each its own number, or set QBSYNC_GROUP_BY_INVOICE=true to make them one document with one line per row",
            all()
        ));
    }
    if members.iter().any(|m| m.party != members[0].party) {
        return Some(format!(
            "rows {} share invoice number {number} but name different {}s: make them agree, or give them different numbers",
            all(),
            if kind == Kind::Invoice { "customer" } else { "vendor" }
        ));
    }
    // One document is either a sale or a credit: QuickBooks has no document whose lines go
    // both ways, and netting them would hide a refund inside an invoice.
    if members.iter().any(|m| m.credit != members[0].credit) {
        return Some(format!(
            "rows {} share invoice number {number} but some amounts are negative and some positive: a credit needs its own number (one document is either a sale or a credit)",
            all()
        ));
    }
    None
}

/// Fails a row because of *other* rows (a shared or taken number). Such a failure is not the
/// row's alone to fix: deleting the other row fixes it too. So the remembered fingerprint is
/// marked, never equal to the row's own, and the row is judged again every pass — it goes ahead
/// as soon as the clash is gone, and says the same thing (writing nothing new) while it lasts.
fn fail_candidate(plan: &mut Plan, store: &StoreView, policy: &Policy, m: &Candidate, reason: String) {
    plan.stats.failed += 1;
    let fp = format!("{}{CLASH}", m.fp);
    let decision = row_record(m.key.clone(), m.kind, None, RowStatus::Failed, Some(reason), &fp, policy, m.index);
    push_decision(plan, store.rows.get(m.key.as_str()), decision);
}

/// Appended to the fingerprint remembered for a row that failed because of other rows.
const CLASH: &str = "+clash";

/// Records a decision unless the store already says exactly that.
fn push_decision(plan: &mut Plan, previous: Option<&RowRecord>, decision: RowRecord) {
    let same = previous.is_some_and(|p| {
        p.status == decision.status
            && p.error == decision.error
            && p.content_fp == decision.content_fp
            && p.config_fp == decision.config_fp
            && p.preview == decision.preview
    });
    if !same {
        plan.decisions.push(decision);
    }
}

#[allow(clippy::too_many_arguments)]
fn row_record(
    key: String,
    kind: Kind,
    doc_key: Option<String>,
    status: RowStatus,
    error: Option<String>,
    fp: &str,
    policy: &Policy,
    index: u32,
) -> RowRecord {
    RowRecord {
        row_key: key,
        kind,
        doc_key,
        doc_number: None,
        status,
        error,
        content_fp: fp.to_owned(),
        config_fp: policy.config_fp.clone(),
        sheet_row: Some(index as i64 + 1),
        synced_at: None,
        preview: None,
    }
}

/// Where the row of `doc` is this pass, if one of its keys sits on a row other than `index`
/// that shows the document's number or id (or on a quiet row, which its seal proves its own).
/// A key left on a row it does not fit (see [`relocate`]) says nothing of where its row is.
fn original_row(
    doc: &DocRecord,
    index: u32,
    located: &Located,
    rows: &[Vec<Cell>],
    layout: &Layout,
    quiet: Quiet<'_>,
) -> Option<u32> {
    let shows_document = |row: u32| {
        let Some(cells) = rows.get(row as usize) else { return false };
        let number = layout.cell(cells, Field::Invoice).trimmed();
        let id = layout.cell(cells, Tracking::id_of(doc.kind)).trimmed();
        (!number.is_empty() && doc.doc_number.as_deref().is_some_and(|n| n.ends_with(number.as_ref())))
            || (!id.is_empty() && doc.qbo_id.as_deref() == Some(id.as_ref()))
    };
    doc.row_keys
        .iter()
        .filter_map(|key| located.get(key.as_str()).copied())
        .find(|&row| row != index && (quiet(row as usize) || shows_document(row)))
}

/// A row carrying the QuickBooks id of another row's document (`doc`, found by that id on row
/// `original`; the caller has ruled out the row's own) is a pasted copy.
#[allow(clippy::too_many_arguments)]
fn detect_copy(
    kind: Kind,
    id: &str,
    doc: &DocRecord,
    index: u32,
    key: Option<&str>,
    record: Option<&RowRecord>,
    has_own_document: bool,
    original: u32,
    row: &[Cell],
    layout: &Layout,
    policy: &Policy,
) -> Option<RowRecord> {
    if has_own_document {
        // A row with a document of its own is not a copy, whatever its id cell says: the cell
        // is qbsync's, and the projection writes the row's own id back into it.
        return None;
    }
    let fp = &content_fingerprint(row, layout);
    if record.is_some_and(|r| r.status == RowStatus::Copy && r.content_fp == *fp) {
        return None; // already flagged, unchanged
    }
    let number = doc.doc_number.clone().unwrap_or_default();
    let reason = format!(
        "this row looks like a copy of sheet row {} (invoice {number}, QuickBooks {} {id}); qbsync did not create anything for it. To make it a new document, clear its QuickBooks id and status cells and give it its own invoice number; otherwise delete it",
        original + 1,
        kind.as_str()
    );
    Some(row_record(key.unwrap_or_default().to_owned(), kind, None, RowStatus::Copy, Some(reason), fp, policy, index))
}

/// Which rows of a picture are quiet (see [`super::seal`]): they read as blank, and the key of
/// their sole anchor is known to be theirs.
pub type Quiet<'q> = &'q dyn Fn(usize) -> bool;

/// Whether row `cells` is the row `record` was decided for, by what moves with a row's values:
/// a row with a document number by that number (an id alone proves nothing: a write that
/// landed on a row that moved put it there; a row whose number a person changed after its
/// document was created is found by its anchor, and told apart by the projection); a claim,
/// and any other decision, by the row's whole content.
fn fits(record: &RowRecord, cells: &[Cell], layout: &Layout) -> bool {
    match &record.doc_number {
        Some(number) if record.status != RowStatus::Claimed => {
            let cell = layout.cell(cells, Field::Invoice).trimmed();
            !cell.is_empty() && number.ends_with(cell.as_ref())
        }
        _ => {
            // A row failed because of other rows, or in review with a stale approval,
            // remembers a marked fingerprint (see `fail_candidate`, `approval::STALE`); it is
            // still the row's own content.
            let remembered = approval::unmarked(&record.content_fp);
            let remembered = remembered.strip_suffix(CLASH).unwrap_or(remembered);
            content_fingerprint(cells, layout) == remembered
        }
    }
}

/// Whether `cells` are the row `record` was decided for but for its invoice number: with the
/// document's number put back, its content is what was remembered.
fn renumbered(record: &RowRecord, cells: &[Cell], layout: &Layout, prefix: &str) -> bool {
    let (Some(number), Some(col)) = (&record.doc_number, layout.column(Field::Invoice)) else { return false };
    let typed = number.strip_prefix(prefix).unwrap_or(number);
    [Cell::text(typed), Cell::Number(typed.into())].into_iter().any(|cell| {
        let mut original = cells.to_vec();
        original.resize(original.len().max(col + 1), Cell::Empty);
        original[col] = cell;
        content_fingerprint(&original, layout) == record.content_fp
    })
}

/// Whether a row shows the QuickBooks id of a document other than `doc`: it is some other
/// row's.
fn shows_other_id(doc: Option<&DocRecord>, cells: &[Cell], layout: &Layout) -> bool {
    let own = doc.and_then(|d| d.qbo_id.as_deref());
    [Field::QbInvoiceId, Field::QbBillId].into_iter().any(|field| {
        let id = layout.cell(cells, field).trimmed();
        !id.is_empty() && Some(id.as_ref()) != own
    })
}

/// Whether a row shows a QuickBooks id in either id column.
fn shows_any_id(cells: &[Cell], layout: &Layout) -> bool {
    [Field::QbInvoiceId, Field::QbBillId].into_iter().any(|field| !layout.cell(cells, field).is_blank())
}

/// Whether `cells` show what `doc` was made from, apart from what a person corrects on a row
/// (its number, its amount, its party): the line's description and the note (job, task, notes,
/// thread, from, owed…) as the request body recorded with the intent has them. A body that
/// cannot be read this way says nothing against the row.
fn shows_source(doc: &DocRecord, cells: &[Cell], index: u32, layout: &Layout, policy: &Policy) -> bool {
    let RowVerdict::Document { line, note, .. } = judge(cells, index, layout, policy) else { return false };
    let Ok(body) = serde_json::from_str::<serde_json::Value>(&doc.payload) else { return true };
    let (Some(sent_note), Some(lines)) =
        (body.get("PrivateNote").and_then(|n| n.as_str()), body.get("Line").and_then(|l| l.as_array()))
    else {
        return true;
    };
    let described = lines.iter().any(|l| l.get("Description").and_then(|d| d.as_str()) == line.description.as_deref());
    // A grouped document's note joins its rows' notes: each row's is within it.
    let noted = match (doc.row_keys.len(), note.as_deref()) {
        (1, note) => sent_note == note_with_marker(note, &doc.doc_key),
        (_, Some(note)) => sent_note.contains(note),
        (_, None) => true,
    };
    described && noted
}

/// Whether a row shows `copy` in a status cell: it was flagged a copy, and is never the
/// original of the document whose id it shows.
fn flagged_copy(cells: &[Cell], layout: &Layout) -> bool {
    [Field::QbSyncStatus, Field::QbBillStatus]
        .into_iter()
        .any(|field| RowStatus::shown(&layout.cell(cells, field).as_text()) == Some(RowStatus::Copy))
}

/// Reconciles the anchors as read with the store and with the rows' own cells: one anchor per
/// row and one row per key. Returns the key of each row (indexed by 0-based grid row); records
/// drops, moves and forgotten claims in `plan`.
///
/// Google documents that row metadata follows inserts and deletes, and nothing for sorts or cut
/// and paste, which may move a row's values and leave its anchor behind. So an anchor is a
/// hint, never proof: a key is where an anchor carrying it sits on a row that [`fits`] it (or
/// on a quiet row, whose seal proves it); otherwise where its row's values went — the one row,
/// among rows no other key holds, that fits it — and its anchor is moved there; otherwise,
/// unless the anchor's row belongs to another key, where its anchor is (the projection then
/// refuses to write to a row that shows another number). A claim found nowhere is forgotten.
fn settle_anchors<'a>(
    rows: &[Vec<Cell>],
    layout: &Layout,
    anchors: &'a [Anchor],
    quiet: Quiet<'_>,
    store: &'a StoreView,
    policy: &Policy,
    plan: &mut Plan,
) -> Vec<Option<&'a str>> {
    // Grouped by key by sorting, in key order: one allocation, not one per key.
    let mut by_key: Vec<&Anchor> = Vec::with_capacity(anchors.len());
    for anchor in anchors {
        if anchor.row == 0 {
            // The header row is never a data row: an anchor there was misplaced.
            plan.drop_anchors.push(anchor.metadata_id);
            continue;
        }
        by_key.push(anchor);
    }
    by_key.sort_unstable_by(|a, b| a.key.cmp(&b.key).then(a.metadata_id.cmp(&b.metadata_id)));

    let last_row = anchors.iter().map(|a| a.row as usize + 1).max().unwrap_or(0);
    let mut key_of_row: Vec<Option<&'a str>> = vec![None; rows.len().max(last_row)];
    let record_of = |key: &str| store.rows.get(key);
    // A copy is its original's twin in everything qbsync reads: its anchor holds its row only
    // once the row says `copy`; until then, the original's key takes its row first (below).
    let fits_at = |record: &RowRecord, row: u32| {
        quiet(row as usize)
            || rows.get(row as usize).is_some_and(|cells| {
                fits(record, cells, layout) && (record.status != RowStatus::Copy || flagged_copy(cells, layout))
            })
    };

    // Keys whose anchor sits on a row that fits them; the others wait for the rows left over.
    let mut displaced: Vec<&[&'a Anchor]> = Vec::new();
    for group in by_key.chunk_by(|a, b| a.key == b.key) {
        let key = group[0].key.as_str();
        let Some(record) = record_of(key) else {
            // No record: an anchor of another store or a lost claim; it holds its row weakly.
            place(&mut key_of_row, plan, store, anchors, key, group[0]);
            drop_others(plan, group, group[0]);
            continue;
        };
        match group.iter().copied().find(|a| fits_at(record, a.row)) {
            Some(keep) => {
                drop_others(plan, group, keep);
                place(&mut key_of_row, plan, store, anchors, key, keep);
            }
            None => displaced.push(group),
        }
    }
    // Rows no key holds: where displaced keys went, or new rows, or copies.
    let free = |key_of_row: &[Option<&str>]| -> Vec<u32> {
        (1..rows.len() as u32)
            .filter(|&row| key_of_row[row as usize].is_none() && !quiet(row as usize))
            .filter(|&row| !is_blank_row(&rows[row as usize], layout))
            .collect()
    };
    if !displaced.is_empty() {
        let free = free(&key_of_row);
        relocate(rows, layout, anchors, store, policy, displaced, &free, &mut key_of_row, plan);
    }
    let anchored: FastSet<&str> = anchors.iter().map(|a| a.key.as_str()).collect();
    adopt_orphans(rows, layout, anchors, store, policy, &anchored, &free(&key_of_row), &mut key_of_row, plan);
    forget_lost_claims(anchors, store, plan);
    key_of_row
}

/// Finds where displaced keys went among the `free` rows: the one row that fits each (a copy's
/// key only on a row flagged as one, and another key on such a row only when no other row fits
/// it), or, for a key whose number was changed since, the one row that shows everything else
/// as it was. A key found nowhere keeps its anchor where it is, unless that row is another
/// key's.
#[allow(clippy::too_many_arguments)]
fn relocate<'a>(
    rows: &[Vec<Cell>],
    layout: &Layout,
    anchors: &'a [Anchor],
    store: &StoreView,
    policy: &Policy,
    mut displaced: Vec<&[&'a Anchor]>,
    free: &[u32],
    key_of_row: &mut [Option<&'a str>],
    plan: &mut Plan,
) {
    let record_of = |key: &str| store.rows.get(key);
    let doc_of = |record: &RowRecord| record.doc_key.as_ref().and_then(|d| store.docs.get(d.as_str()));
    // A row and its pasted copies can fit several keys; the key with a document takes its row
    // first, and a copy's key goes to a row already flagged as a copy.
    let rank = |group: &&[&Anchor]| match record_of(group[0].key.as_str()).map(|r| r.status) {
        Some(RowStatus::Synced | RowStatus::Pending | RowStatus::Voided) => 0,
        Some(RowStatus::Failed | RowStatus::Skipped | RowStatus::Review) => 1,
        Some(RowStatus::Copy) => 2,
        Some(RowStatus::Claimed) | None => 3,
    };
    displaced.sort_by_key(rank);
    let mut taken: FastSet<u32> = FastSet::default();
    let mut unplaced: Vec<&[&'a Anchor]> = displaced;
    // First every key among the rows that do not say `copy` (a copy's key among those that do).
    // Then a key with a document whose every fitting row says `copy`, among the rows no copy's
    // key took: a flag that landed on a document's own row (rows moved under the write meant for
    // its copy) does not make it a copy, and leaving the key out would leave the row and its
    // copies all flagged, the document shown on none.
    for flagged_too in [false, true] {
        for group in std::mem::take(&mut unplaced) {
            let key = group[0].key.as_str();
            let Some(record) = record_of(key) else { continue };
            let doc = doc_of(record);
            let may_take = |cells: &[Cell]| {
                record.status == RowStatus::Copy || (flagged_too && doc.is_some()) || !flagged_copy(cells, layout)
            };
            let candidates = |evidence: &dyn Fn(&[Cell]) -> bool| -> Vec<u32> {
                free.iter()
                    .copied()
                    .filter(|row| !taken.contains(row))
                    .filter(|&row| {
                        let cells = &rows[row as usize];
                        evidence(cells) && may_take(cells)
                    })
                    .collect()
            };
            let mut found = candidates(&|cells| fits(record, cells, layout));
            if record.status == RowStatus::Copy && found.iter().any(|&row| flagged_copy(&rows[row as usize], layout)) {
                found.retain(|&row| flagged_copy(&rows[row as usize], layout));
            }
            if found.is_empty() {
                // Its number was changed since (a person correcting it): the row that shows
                // everything else as it was, and no other document's id.
                found = candidates(&|cells| {
                    renumbered(record, cells, layout, &policy.doc_number_prefix) && !shows_other_id(doc, cells, layout)
                });
            }
            match one_of(&found, rows, layout) {
                Some(row) => {
                    taken.insert(row);
                    key_of_row[row as usize] = Some(key);
                    plan.located.insert(key.into(), row);
                    match group.iter().copied().find(|a| a.row == row) {
                        // Its anchor was right; the row changed (a renumbered row).
                        Some(keep) => drop_others(plan, group, keep),
                        None => {
                            for anchor in group.iter() {
                                plan.drop_anchors.push(anchor.metadata_id);
                            }
                            plan.moves.push(NewAnchor { row, key: key.to_owned() });
                        }
                    }
                }
                _ => unplaced.push(group),
            }
        }
    }
    for group in unplaced {
        let key = group[0].key.as_str();
        let Some(record) = record_of(key) else { continue };
        let claimed = record.status == RowStatus::Claimed;
        let first = group[0];
        let elsewhere = rows.get(first.row as usize).is_some_and(|cells| shows_other_id(doc_of(record), cells, layout));
        let held = key_of_row.get(first.row as usize).is_some_and(Option::is_some);
        if elsewhere && !claimed && !held {
            // The row shows another document's id, and no key's row is there: nothing proves
            // whose the key is, so the anchor stays as a hint, and nothing of this key is
            // written anywhere.
            continue;
        }
        // An anchor whose row shows no id, and neither the key's number nor, for a key with a
        // document, what that document was made from (its line and note: the cells nobody
        // corrects), sits under another row's values: a sort left it there and its own row went
        // since. Kept, it would hide the row's deletion from the audit and hold the other row
        // back, unplanned, for good. A row that was merely edited (its number, its amount, or
        // both) still shows its document's line and note, and keeps its key.
        // Only once the document exists: while its create is under way, the row is held a pass
        // longer rather than risk taking it for a new one.
        let another_row = !claimed
            && doc_of(record).is_some_and(|doc| doc.state == DocState::Created)
            && rows.get(first.row as usize).is_none_or(|cells| {
                !shows_any_id(cells, layout)
                    && !doc_of(record).is_some_and(|doc| shows_source(doc, cells, first.row, layout, policy))
            });
        if claimed || elsewhere || another_row || taken.contains(&first.row) {
            // A claim that landed on a row it does not fit, or an anchor left on another key's
            // row (where that key was found, or one showing another document's id): it says
            // nothing true about that row. Kept, it would hide forever that the key's own row
            // was deleted (a sort left the anchor behind first); dropped, the key is noted gone,
            // or found again by its values if its row is still there (see `adopt_orphans`).
            for anchor in group.iter() {
                plan.drop_anchors.push(anchor.metadata_id);
            }
            if claimed {
                plan.forget_rows.push(key.to_owned());
            }
            continue;
        }
        drop_others(plan, group, first);
        place(key_of_row, plan, store, anchors, key, first);
    }
}

/// A row whose anchor was lost — deleted with a row that a sort or a paste had left it on —
/// is still its document's row: a row that shows such a document (one of whose rows carries no
/// anchor and was found nowhere, see [`shows_orphan`]) gets that row's key back (its anchor is
/// written anew), rather than being taken for a copy of itself, for a new row reusing the
/// number, or for a new row that would get a second document. Rows showing the document's id
/// are looked at first, so that a row and its renumbered twin cannot take each other's place;
/// then rows showing no id, among them rows held only by a claim: a claim has no document yet,
/// and the row of a document that exists is never sent again under another key. The first such
/// row in sheet order takes a key; later ones are copies as usual.
#[allow(clippy::too_many_arguments)]
fn adopt_orphans<'a>(
    rows: &[Vec<Cell>],
    layout: &Layout,
    anchors: &[Anchor],
    store: &'a StoreView,
    policy: &Policy,
    anchored: &FastSet<&str>,
    free: &[u32],
    key_of_row: &mut [Option<&'a str>],
    plan: &mut Plan,
) {
    // A voided document is never another row's: its row was taken back, not lost.
    let voided = |d: &DocRecord| store.rows.get(d.row_keys[0].as_str()).is_some_and(|r| r.status == RowStatus::Voided);
    let lost = |key: &str| !anchored.contains(key) && !plan.located.contains_key(key);
    let orphans: Vec<(&'a DocRecord, &'a str)> = store
        .docs
        .values()
        .filter(|d| d.state != DocState::Failed && !d.row_keys.is_empty() && !voided(d))
        .flat_map(|d| d.row_keys.iter().filter(|key| lost(key.as_str())).map(move |key| (d, key.as_str())))
        .collect();
    if orphans.is_empty() {
        return;
    }
    let claim_at = |key_of_row: &[Option<&'a str>], row: u32| {
        key_of_row[row as usize].filter(|key| store.rows.get(*key).is_some_and(|r| r.status == RowStatus::Claimed))
    };
    let mut open: Vec<u32> = free.to_vec();
    open.extend((1..rows.len() as u32).filter(|&row| claim_at(key_of_row, row).is_some()));
    open.sort_unstable();
    let mut adopted: FastSet<&str> = FastSet::default();
    for with_id in [true, false] {
        for &row in &open {
            let cells = &rows[row as usize];
            let claim = claim_at(key_of_row, row);
            if shows_any_id(cells, layout) != with_id || (key_of_row[row as usize].is_some() && claim.is_none()) {
                continue;
            }
            let found = orphans.iter().find(|(doc, key)| {
                !adopted.contains(key) && shows_orphan(doc, store.rows.get(*key), cells, layout, policy)
            });
            let Some(&(_, key)) = found else { continue };
            if let Some(claim) = claim {
                // The row was claimed as new while its document's key was lost: the claim gives
                // way, and nothing is created for it.
                plan.drop_anchors.extend(anchors.iter().filter(|a| a.key == claim).map(|a| a.metadata_id));
                plan.forget_rows.push(claim.to_owned());
                plan.located.remove(claim);
            }
            adopted.insert(key);
            key_of_row[row as usize] = Some(key);
            plan.located.insert(key.into(), row);
            plan.moves.push(NewAnchor { row, key: key.to_owned() });
        }
    }
}

/// Whether `cells` are the row `record` (of `doc`) was decided for, whose anchor was lost. A
/// row showing the document's own id is its row when it shows the document's number too — its
/// amount may have been changed since, which the projection reports — or everything else as
/// `record` remembers it (renumbered since). A row showing no id (its id never reached the
/// sheet, or was given back) is its row when it shows the number and the total, or everything
/// else as `record` remembers it: a row typed anew under a deleted row's number, for another
/// amount, is not its row, but a renumbered row whose id was blanked is, and must never become
/// a new document. A row of a grouped document shares its number, total and id with the
/// group's other rows: only its own content (all of it, or all but the number) tells it.
fn shows_orphan(doc: &DocRecord, record: Option<&RowRecord>, cells: &[Cell], layout: &Layout, policy: &Policy) -> bool {
    let prefix = &policy.doc_number_prefix;
    let renumbered = || record.is_some_and(|r| renumbered(r, cells, layout, prefix));
    let id = layout.cell(cells, Tracking::id_of(doc.kind)).trimmed();
    let own_id = id.is_empty() || doc.qbo_id.as_deref() == Some(id.as_ref());
    if doc.row_keys.len() > 1 {
        let same_content = || record.is_some_and(|r| content_fingerprint(cells, layout) == r.content_fp);
        return own_id && (same_content() || renumbered());
    }
    let number = layout.cell(cells, Field::Invoice).trimmed();
    let same_number = !number.is_empty() && doc.doc_number.as_deref().is_some_and(|n| n.ends_with(number.as_ref()));
    if id.is_empty() {
        let same_total = || {
            parse_amount(layout.cell(cells, Field::InvDollars), &policy.amount_format)
                .is_ok_and(|amount| amount.amount() == doc.total)
        };
        return (same_number && same_total()) || renumbered();
    }
    own_id && (same_number || renumbered())
}

/// The row a displaced key went to, among the rows that fit it: the only one, or the first of
/// rows identical in everything qbsync reads (a row and its pasted copies, one of which is as
/// good as another; the others are flagged as copies once this one is settled). Rows that
/// differ leave it undecided: nothing is written for the key until a person's edits settle.
fn one_of(candidates: &[u32], rows: &[Vec<Cell>], layout: &Layout) -> Option<u32> {
    let (&first, rest) = candidates.split_first()?;
    let content = |row: u32| content_fingerprint(&rows[row as usize], layout);
    let same = rest.is_empty() || rest.iter().all(|&row| content(row) == content(first));
    same.then_some(first)
}

/// Drops every anchor of `group` but `keep`.
fn drop_others(plan: &mut Plan, group: &[&Anchor], keep: &Anchor) {
    for extra in group.iter().filter(|a| a.metadata_id != keep.metadata_id) {
        plan.drop_anchors.push(extra.metadata_id);
    }
}

/// Puts `key` on the row of its anchor `keep`. Two keys on one row: the one the store knows
/// better stays (a settled record beats a fresh claim; otherwise the one placed first).
fn place<'a>(
    key_of_row: &mut [Option<&'a str>],
    plan: &mut Plan,
    store: &StoreView,
    anchors: &'a [Anchor],
    key: &'a str,
    keep: &'a Anchor,
) {
    let settled = |key: &str| store.rows.get(key).is_some_and(|r| r.status != RowStatus::Claimed);
    let slot = &mut key_of_row[keep.row as usize];
    match *slot {
        Some(other) => {
            if settled(key) && !settled(other) {
                if let Some(old) = anchors.iter().find(|a| a.key == other && a.row == keep.row) {
                    plan.drop_anchors.push(old.metadata_id);
                }
                plan.located.remove(other);
                *slot = Some(key);
                plan.located.insert(key.into(), keep.row);
            } else {
                plan.drop_anchors.push(keep.metadata_id);
            }
        }
        None => {
            *slot = Some(key);
            plan.located.insert(key.into(), keep.row);
        }
    }
}

/// A claim whose anchor never reached the sheet (the pass was interrupted, or the anchor write
/// failed, between recording the claim and writing the anchor) is forgotten: its row, if it is
/// still there, is claimed afresh.
fn forget_lost_claims(anchors: &[Anchor], store: &StoreView, plan: &mut Plan) {
    let anchored: FastSet<&str> = anchors.iter().map(|a| a.key.as_str()).collect();
    for record in store.rows.values() {
        if record.status == RowStatus::Claimed && !anchored.contains(record.row_key.as_str()) {
            plan.forget_rows.push(record.row_key.clone());
        }
    }
    plan.forget_rows.sort();
    plan.forget_rows.dedup();
    plan.drop_anchors.sort_unstable();
    plan.drop_anchors.dedup();
}

#[cfg(test)]
pub(crate) mod tests;
