//! The pass's picture of the store: every row record and document, as the planner and the
//! projection read them.
//!
//! On a sheet with years of history that picture is tens of thousands of records, and a pass
//! looks at it up to three times (to plan, to plan again after claiming rows, to write back).
//! Reading it whole each time was most of a busy pass's cost, so a pass reads it once and then
//! *catches up*: the store remembers which keys were written since (see
//! [`crate::store::Changes`]), and only those records are read again. Catching up re-reads
//! rather than applying the engine's own edits, so the picture is always exactly what the store
//! holds — including after a transaction that rolled back.

use compact_str::CompactString;

use crate::payments::PaidView;
use crate::store::{DocRecord, RowRecord, RowStatus, Store, StoreError};

use super::fast::{FastMap, FastSet};
use super::seal::Seal;

/// What the planner needs from the store. Keyed by [`CompactString`]: row and document keys
/// are 20 characters, short enough to live in the map itself, so loading a long history does
/// not allocate once per key.
///
/// A picture is either *whole* ([`StoreView::load`]: every record) or *as needed*
/// ([`StoreView::unsettled`] and then [`StoreView::include`]): the records of the rows a pass
/// actually plans, found by key, QuickBooks id and document number, plus every claim and
/// pending document. The planner and the projection read the same picture either way; a pass
/// over a long, sealed history uses the second (see [`super::seal`]).
#[derive(Clone, Debug, Default)]
pub struct StoreView {
    pub rows: FastMap<CompactString, RowRecord>,
    pub docs: FastMap<CompactString, DocRecord>,
    /// What the rows of the documents held show of their money, by document key (see
    /// [`crate::payments`]); a document the payment poller has not seen yet has none.
    pub money: FastMap<CompactString, PaidView>,
    /// Every seal the store holds, by row key.
    pub seals: FastMap<CompactString, Seal>,
    /// Loaded whole: [`StoreView::include`] has nothing to add.
    whole: bool,
    /// What [`StoreView::include`] already asked the store about (found or not).
    asked: Asked,
}

#[derive(Clone, Debug, Default)]
struct Asked {
    rows: FastSet<CompactString>,
    ids: FastSet<CompactString>,
    numbers: FastSet<CompactString>,
}

/// What a plan will look up in the store for the rows it plans: see [`super::plan::wanted`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Wanted {
    /// Row keys of anchors on the rows planned.
    pub rows: Vec<CompactString>,
    /// QuickBooks ids those rows show (of either kind).
    pub ids: Vec<CompactString>,
    /// Document numbers those rows would create.
    pub numbers: Vec<CompactString>,
}

impl StoreView {
    pub fn new(rows: Vec<RowRecord>, docs: Vec<DocRecord>) -> StoreView {
        StoreView {
            rows: rows.into_iter().map(|r| (r.row_key.as_str().into(), r)).collect(),
            docs: docs.into_iter().map(|d| (d.doc_key.as_str().into(), d)).collect(),
            whole: true,
            ..StoreView::default()
        }
    }

    /// Everything the store holds now; from here on [`StoreView::catch_up`] keeps it current.
    /// Documents come without their payloads (see [`Store::for_each_document_for_planning`]).
    pub fn load(store: &Store) -> Result<StoreView, StoreError> {
        // Changes made before this picture are in it.
        store.take_changes();
        let mut view = StoreView { whole: true, ..StoreView::default() };
        store.for_each_row(|record| {
            view.rows.insert(record.row_key.as_str().into(), record);
        })?;
        store.for_each_document_for_planning(|doc| {
            view.docs.insert(doc.doc_key.as_str().into(), doc);
        })?;
        store.for_each_money(|doc_key, money| {
            view.money.insert(doc_key.as_str().into(), money.view);
        })?;
        view.load_seals(store)?;
        Ok(view)
    }

    /// The seals, every claim and every pending document: what any plan needs whichever rows
    /// it plans. The records of the rows it plans are added with [`StoreView::include`].
    pub fn unsettled(store: &Store) -> Result<StoreView, StoreError> {
        store.take_changes();
        let mut view = StoreView::default();
        for record in store.rows_with_status(RowStatus::Claimed)? {
            view.asked.rows.insert(record.row_key.as_str().into());
            view.rows.insert(record.row_key.as_str().into(), record);
        }
        for doc in store.pending_documents_for_planning()? {
            view.docs.insert(doc.doc_key.as_str().into(), doc);
        }
        view.load_seals(store)?;
        Ok(view)
    }

    fn load_seals(&mut self, store: &Store) -> Result<(), StoreError> {
        store.for_each_seal(|key, seal| {
            self.seals.insert(key.into(), seal);
        })
    }

    /// True when the picture holds every record.
    pub fn is_whole(&self) -> bool {
        self.whole
    }

    /// Adds what `wanted` names and the picture does not hold yet: row records by key (with
    /// their documents), documents by QuickBooks id and by number.
    pub fn include(&mut self, store: &Store, wanted: &Wanted) -> Result<(), StoreError> {
        if self.whole {
            return Ok(());
        }
        let mut docs: Vec<DocRecord> = Vec::new();
        for key in &wanted.rows {
            if !self.asked.rows.insert(key.clone()) {
                continue;
            }
            if let Some(record) = store.row(key)? {
                if let Some(doc_key) = record.doc_key.as_deref()
                    && !self.docs.contains_key(doc_key)
                    && let Some(doc) = store.document_for_planning(doc_key)?
                {
                    docs.push(doc);
                }
                self.rows.insert(key.clone(), record);
            }
        }
        for id in &wanted.ids {
            if self.asked.ids.insert(id.clone()) {
                for doc in store.documents_for_planning_by_qbo_id(id)? {
                    self.include_rows_of(store, &doc)?;
                    docs.push(doc);
                }
            }
        }
        for number in &wanted.numbers {
            if self.asked.numbers.insert(number.clone()) {
                for doc in store.documents_for_planning_by_number(number)? {
                    self.include_rows_of(store, &doc)?;
                    docs.push(doc);
                }
            }
        }
        for doc in docs {
            // A record already held may be newer than one just read only if it was caught
            // up, which reads the store too: either is what the store holds.
            if !self.docs.contains_key(doc.doc_key.as_str()) {
                self.read_money(store, &doc.doc_key)?;
            }
            self.docs.entry(doc.doc_key.as_str().into()).or_insert(doc);
        }
        Ok(())
    }

    /// The row records of a document found by the id or the number a row shows: the row may be
    /// the document's own row whose anchor was lost (see `plan::adopt_orphans`), recognised by
    /// what its record remembers (a row renumbered since), unless that record says it was voided.
    fn include_rows_of(&mut self, store: &Store, doc: &DocRecord) -> Result<(), StoreError> {
        for key in &doc.row_keys {
            if !self.rows.contains_key(key.as_str())
                && let Some(record) = store.row(key)?
            {
                self.rows.insert(key.as_str().into(), record);
            }
        }
        Ok(())
    }

    /// Brings the picture up to date with what was written to the store since it was loaded
    /// (or last caught up), and says which row records were written. A record written is read
    /// again; its seal is gone (every write to a row record breaks it).
    pub fn catch_up(&mut self, store: &Store) -> Result<Vec<String>, StoreError> {
        let changes = store.take_changes();
        let written: Vec<String> = changes.rows.iter().map(|key| key.to_string()).collect();
        for key in changes.rows {
            self.seals.remove(key.as_str());
            match store.row(&key)? {
                Some(record) => self.rows.insert(key.into(), record),
                None => self.rows.remove(key.as_str()),
            };
        }
        for key in changes.docs {
            self.read_money(store, &key)?;
            match store.document_for_planning(&key)? {
                Some(doc) => self.docs.insert(key.into(), doc),
                None => self.docs.remove(key.as_str()),
            };
        }
        Ok(written)
    }

    fn read_money(&mut self, store: &Store, doc_key: &str) -> Result<(), StoreError> {
        match store.money(doc_key)? {
            Some(money) => self.money.insert(doc_key.into(), money.view),
            None => self.money.remove(doc_key),
        };
        Ok(())
    }

    /// Remembers seals just stored (see [`Store::seal_rows`]).
    pub fn sealed(&mut self, seals: &[(&str, Seal)]) {
        for (key, seal) in seals {
            self.seals.insert((*key).into(), *seal);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Kind, NewIntent};

    fn row(key: &str, status: RowStatus, sheet_row: i64) -> RowRecord {
        RowRecord { sheet_row: Some(sheet_row), ..RowRecord::sample(key, status) }
    }

    fn intent(store: &Store, key: &str) {
        let keys = [key.to_owned()];
        store
            .record_intent(&NewIntent {
                doc_key: key,
                kind: Kind::Invoice,
                doc_kind: crate::qbo::DocKind::Invoice,
                doc_number: Some("A-1"),
                request_id: &format!("{key}-00000000"),
                payload_hash: "h",
                payload: "{}",
                party_id: "1",
                total: rust_decimal::Decimal::new(1000, 2),
                row_keys: &keys,
            })
            .unwrap();
    }

    /// What a fresh full read says, to compare a caught-up picture with.
    fn reloaded(store: &Store) -> (Vec<RowRecord>, Vec<DocRecord>) {
        let fresh = StoreView::load(store).unwrap();
        sorted(&fresh)
    }

    fn sorted(view: &StoreView) -> (Vec<RowRecord>, Vec<DocRecord>) {
        let mut rows: Vec<RowRecord> = view.rows.values().cloned().collect();
        rows.sort_by(|a, b| a.row_key.cmp(&b.row_key));
        let mut docs: Vec<DocRecord> = view.docs.values().cloned().collect();
        docs.sort_by(|a, b| a.doc_key.cmp(&b.doc_key));
        (rows, docs)
    }

    #[test]
    fn a_caught_up_picture_is_what_a_fresh_read_would_be() {
        let store = Store::in_memory().unwrap();
        store.put_row(&row("kept", RowStatus::Synced, 2)).unwrap();
        store.put_row(&row("gone", RowStatus::Claimed, 3)).unwrap();
        intent(&store, "retired");
        store.mark_failed("retired", "no").unwrap();
        let mut view = StoreView::load(&store).unwrap();

        // Every kind of write the engine makes: new, changed and deleted rows and documents.
        store.put_row(&row("new", RowStatus::Pending, 4)).unwrap();
        store.set_sheet_row("kept", 9).unwrap();
        store.forget_row("gone").unwrap();
        intent(&store, "sent");
        store.count_attempt("sent").unwrap();
        store.mark_created("sent", "77", "https://q/77", rust_decimal::Decimal::ONE_HUNDRED).unwrap();
        store.retire_failed("retired").unwrap();
        view.catch_up(&store).unwrap();

        assert_eq!(sorted(&view), reloaded(&store));
        assert_eq!(view.rows["kept"].sheet_row, Some(9));
        assert!(!view.rows.contains_key("gone"));
        assert_eq!(view.docs["sent"].qbo_id.as_deref(), Some("77"));
        assert!(!view.docs.contains_key("retired"));
        // Planning records never carry the payload, caught up or not.
        assert!(view.docs.values().all(|d| d.payload.is_empty()));
    }

    #[test]
    fn a_picture_as_needed_holds_what_is_asked_for_and_every_claim_and_pending_document() {
        let store = Store::in_memory().unwrap();
        intent(&store, "done");
        store.mark_created("done", "130", "https://q/130", rust_decimal::Decimal::ONE_HUNDRED).unwrap();
        store.put_row(&RowRecord { doc_key: Some("done".into()), ..row("done", RowStatus::Synced, 2) }).unwrap();
        store.seal_rows(&[("done", 42)]).unwrap();
        store.put_row(&row("claim", RowStatus::Claimed, 3)).unwrap();
        intent(&store, "open");
        store.put_row(&row("other", RowStatus::Failed, 4)).unwrap();

        let mut view = StoreView::unsettled(&store).unwrap();
        assert!(!view.is_whole());
        assert_eq!(view.rows.keys().collect::<Vec<_>>(), ["claim"]);
        assert_eq!(view.docs.keys().collect::<Vec<_>>(), ["open"]);
        assert!(view.docs["open"].payload.is_empty(), "pending documents are read without their payloads");
        assert_eq!(view.seals.get("done"), Some(&42));

        // By key (with the row's document), by id and by number (with the documents' rows: a
        // row showing either may be its document's own row, its anchor lost); a key the store
        // does not know is simply absent.
        let wanted = Wanted { rows: vec!["done".into(), "nobody".into()], ..Wanted::default() };
        view.include(&store, &wanted).unwrap();
        assert!(view.rows.contains_key("done") && !view.rows.contains_key("nobody"));
        assert_eq!(view.docs["done"].qbo_id.as_deref(), Some("130"));
        let mut by_id = StoreView::unsettled(&store).unwrap();
        by_id.include(&store, &Wanted { ids: vec!["130".into()], ..Wanted::default() }).unwrap();
        assert!(by_id.docs.contains_key("done") && by_id.rows.contains_key("done"));
        let mut by_number = StoreView::unsettled(&store).unwrap();
        by_number.include(&store, &Wanted { numbers: vec!["A-1".into()], ..Wanted::default() }).unwrap();
        let mut found: Vec<_> = by_number.docs.keys().cloned().collect();
        found.sort();
        assert_eq!(found, ["done", "open"]);
        assert!(by_number.docs.values().all(|d| d.payload.is_empty()));

        // A record written since is read again, and its seal no longer counts.
        store.set_sheet_row("done", 7).unwrap();
        view.catch_up(&store).unwrap();
        assert_eq!(view.rows["done"].sheet_row, Some(7));
        assert!(!view.seals.contains_key("done"));
        // Seals just stored are remembered without a read.
        view.sealed(&[("done", 43)]);
        assert_eq!(view.seals.get("done"), Some(&43));

        // A whole picture has everything already.
        let mut whole = StoreView::load(&store).unwrap();
        assert!(whole.is_whole() && whole.rows.contains_key("other"));
        let before = sorted(&whole);
        whole.include(&store, &wanted).unwrap();
        assert_eq!(sorted(&whole), before);
    }

    #[test]
    fn a_rolled_back_write_is_not_in_the_picture() {
        let store = Store::in_memory().unwrap();
        let mut view = StoreView::load(&store).unwrap();
        {
            let _tx = store.begin().unwrap();
            store.put_row(&row("ghost", RowStatus::Pending, 2)).unwrap();
            // dropped without commit: rolled back
        }
        view.catch_up(&store).unwrap();
        assert!(view.rows.is_empty());
    }
}
