//! Projection: what the qbsync-owned cells of each anchored row should say, given the store.
//!
//! The store is the source of truth for those cells. After every pass the engine compares the
//! projection with the cells as read and writes only the difference, so an interrupted
//! write-back, a cell a person cleared by mistake, or a crash between "created" and "written"
//! all heal the same way. Cells of columns qbsync does not own are never part of a projection.

use compact_str::CompactString;

use super::fast::FastMap;

use crate::domain::Cell;
use crate::domain::doc_number::DocNumber;
use crate::domain::fingerprint::content_fingerprint;
use crate::domain::layout::{Field, Layout};
use crate::domain::money::parse_amount;
use crate::payments::PaidView;
use crate::sheets::clip::clip_cell;
use crate::store::{DocRecord, DocState, RowRecord, RowStatus};

use super::columns::{MoneyColumns, Tracking, writable};
use super::plan::{Located, StoreView};
use super::policy::Policy;

/// Contiguous cells to write on one row (0-based grid row and column).
#[derive(Clone, Debug, PartialEq)]
pub struct CellWrite {
    pub row: u32,
    pub col: u32,
    pub values: Vec<Cell>,
    /// The row key the write belongs to (for verification and the audit).
    pub key: String,
}

/// A row whose anchor no longer sits on a row that looks like its document.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    pub key: String,
    pub row: u32,
    pub expected_doc_number: String,
}

/// The owned cells each anchored row should show, as (field, value) pairs; `money` is what
/// QuickBooks last said about the money of the row's document, once the poller has seen it.
pub fn desired_cells(
    record: &RowRecord,
    doc: Option<&DocRecord>,
    money: Option<&PaidView>,
    policy: &Policy,
) -> Vec<(Field, Cell)> {
    let Tracking { id, url, status, error } = tracking(record, policy);
    // As Google will keep it: a longer cell would never compare equal to what the sheet shows.
    let text = |s: Option<&str>| clip_cell(&Cell::text(s.unwrap_or_default())).into_owned();
    let at = text(record.synced_at.as_deref());
    let mut cells = match record.status {
        RowStatus::Synced => {
            let doc = doc.filter(|d| d.state == DocState::Created);
            let mut synced = vec![
                (id, text(doc.and_then(|d| d.qbo_id.as_deref()))),
                (url, text(doc.and_then(|d| d.qbo_url.as_deref()))),
                (status, Cell::text(RowStatus::Synced.as_str())),
                (Field::QbSyncedAt, at),
                (error, text(record.error.as_deref())),
            ];
            // Blank until the poller has seen the document: cells pasted from another row
            // must not pass for this document's money.
            let money = money.filter(|_| doc.is_some());
            let columns = MoneyColumns::of(record.kind);
            synced.extend([
                (columns.total, text(doc.and_then(|d| d.qbo_total).map(|t| t.to_string()).as_deref())),
                (columns.balance, Cell::text(money.map(PaidView::balance_cell).unwrap_or_default())),
                (columns.status, Cell::text(money.map(|m| m.status.as_str()).unwrap_or_default())),
                (columns.paid_at, Cell::text(money.map(PaidView::paid_at_cell).unwrap_or_default())),
            ]);
            synced
        }
        RowStatus::Failed => vec![
            (id, Cell::Empty),
            (url, Cell::Empty),
            (status, Cell::text(RowStatus::Failed.as_str())),
            (Field::QbSyncedAt, at),
            (error, text(record.error.as_deref())),
        ],
        // A copy keeps the id it was pasted with: clearing it would make the row ready.
        RowStatus::Copy => {
            vec![(status, Cell::text(RowStatus::Copy.as_str())), (error, text(record.error.as_deref()))]
        }
        RowStatus::Skipped => vec![
            (status, Cell::text(RowStatus::Skipped.as_str())),
            (Field::QbSyncedAt, at),
            (error, text(record.error.as_deref())),
        ],
        // A voided row keeps its id and link: the document is still in QuickBooks (voided) or
        // was (a deleted bill), and a row without them would look ready to be sent again.
        RowStatus::Voided => {
            let doc = doc.filter(|d| d.state == DocState::Created);
            vec![
                (id, text(doc.and_then(|d| d.qbo_id.as_deref()))),
                (url, text(doc.and_then(|d| d.qbo_url.as_deref()))),
                (status, Cell::text(RowStatus::Voided.as_str())),
                (Field::QbSyncedAt, at),
                (error, text(record.error.as_deref())),
            ]
        }
        // Nothing is created yet: the row shows what would be, and what to do about it.
        RowStatus::Review => vec![
            (id, Cell::Empty),
            (url, Cell::Empty),
            (status, Cell::text(RowStatus::Review.as_str())),
            (Field::QbSyncedAt, at),
            (error, text(record.error.as_deref())),
            (Field::QbPreview, text(record.preview.as_deref())),
        ],
        // Claimed and pending rows show nothing yet: the outcome is not known.
        RowStatus::Claimed | RowStatus::Pending => return Vec::new(),
    };
    if record.status != RowStatus::Review {
        // A preview is only for a row waiting for approval: once decided, it would show what
        // was, or what will never be, sent.
        cells.push((Field::QbPreview, Cell::Empty));
    }
    cells
}

/// The columns that show `record`'s outcome (see [`Tracking::of`]).
fn tracking(record: &RowRecord, policy: &Policy) -> Tracking {
    Tracking::of(record.kind, policy.mode, record.doc_key.is_some())
}

/// A row showing, in every column qbsync may write, what the store says of `record` — its own
/// kind's cells as [`desired_cells`] has them, blank in the others — and nothing elsewhere.
/// What a sealed row showed there, since it is sealed only then (see [`shows_only_owned`]).
pub fn owned_row(
    record: &RowRecord,
    doc: Option<&DocRecord>,
    money: Option<&PaidView>,
    layout: &Layout,
    policy: &Policy,
) -> Vec<Cell> {
    let desired = desired_cells(record, doc, money, policy);
    let mut row = Vec::new();
    for (field, col) in writable(layout) {
        if row.len() <= col {
            row.resize(col + 1, Cell::Empty);
        }
        row[col] = desired.iter().find(|(f, _)| *f == field).map(|(_, cell)| cell.clone()).unwrap_or_default();
    }
    row
}

/// Whether `row` shows exactly what [`owned_row`] says in every column qbsync may write (cells
/// compare by their text, as the projection compares them).
pub fn shows_only_owned(
    row: &[Cell],
    record: &RowRecord,
    doc: Option<&DocRecord>,
    money: Option<&PaidView>,
    layout: &Layout,
    policy: &Policy,
) -> bool {
    let owned = owned_row(record, doc, money, layout, policy);
    writable(layout).all(|(_, col)| {
        fn text(cells: &[Cell], col: usize) -> std::borrow::Cow<'_, str> {
            cells.get(col).map(Cell::trimmed).unwrap_or_default()
        }
        text(row, col) == text(&owned, col)
    })
}

/// Whether an anchored row whose invoice number no longer matches its document is nevertheless
/// provably the row the document was made from: it still shows the document's id (the id moves
/// with the row's cells), or everything qbsync read from it is unchanged but the number.
fn is_documents_row(
    row: &[Cell],
    layout: &Layout,
    record: &RowRecord,
    doc: Option<&DocRecord>,
    policy: &Policy,
) -> bool {
    let Some(doc) = doc.filter(|d| d.state == DocState::Created) else { return false };
    let shown_id = layout.cell(row, tracking(record, policy).id).trimmed().into_owned();
    if !shown_id.is_empty() && doc.qbo_id.as_deref() == Some(shown_id.as_str()) {
        return true;
    }
    let (Some(number), Some(col)) = (&doc.doc_number, layout.column(Field::Invoice)) else { return false };
    let typed = number.strip_prefix(policy.doc_number_prefix.as_str()).unwrap_or(number);
    [Cell::text(typed), Cell::Number(typed.into())].into_iter().any(|cell| {
        let mut original = row.to_vec();
        original.resize(original.len().max(col + 1), Cell::Empty);
        original[col] = cell;
        content_fingerprint(&original, layout) == record.content_fp
    })
}

/// What a synced row should say when it was edited after its document was created: qbsync
/// creates documents and never changes them, so a new invoice number or amount on the row is
/// not in QuickBooks — the bookkeeper must know.
fn drift(
    row: &[Cell],
    layout: &Layout,
    record: &RowRecord,
    doc: Option<&DocRecord>,
    policy: &Policy,
) -> Option<String> {
    if record.status != RowStatus::Synced {
        return None;
    }
    let doc = doc.filter(|d| d.state == DocState::Created)?;
    let (id, number) = (doc.qbo_id.as_deref()?, doc.doc_number.as_deref()?);
    let kind = record.kind.as_str();
    let cell = layout.cell(row, Field::Invoice).trimmed().into_owned();
    let shown = DocNumber::parse(&cell, &policy.doc_number_prefix).map_or(cell.clone(), |n| n.as_str().to_owned());
    if shown != number {
        return Some(format!(
            "the invoice number was changed to {cell} after QuickBooks {kind} {id} was created with number {number}; qbsync does not change documents in QuickBooks: change the number back, or change it in QuickBooks too"
        ));
    }
    if doc.row_keys.len() == 1 {
        let amount = parse_amount(layout.cell(row, Field::InvDollars), &policy.amount_format).ok()?;
        let total = doc.total;
        if amount.amount() != total {
            return Some(format!(
                "the amount was changed to {amount} after QuickBooks {kind} {id} was created for {total}; qbsync does not change documents in QuickBooks: correct the {kind} there, or change the amount back"
            ));
        }
    }
    None
}

/// The writes that bring every anchored row's owned cells in line with the store, plus the
/// anchored rows that no longer look like their document (not written; reported).
pub fn project(
    rows: &[Vec<Cell>],
    layout: &Layout,
    located: &Located,
    store: &StoreView,
    policy: &Policy,
) -> (Vec<CellWrite>, Vec<Mismatch>) {
    let mut writes = Vec::new();
    let mut mismatches = Vec::new();
    let mut keys: Vec<(&CompactString, &u32)> = located.iter().collect();
    keys.sort_by_key(|(_, row)| **row);
    for (key, &row_index) in keys {
        let Some(record) = store.rows.get(key.as_str()) else { continue };
        let Some(row) = rows.get(row_index as usize) else { continue };
        let doc = record.doc_key.as_ref().and_then(|d| store.docs.get(d.as_str()));
        if let Some(expected) = &record.doc_number {
            let cell = layout.cell(row, Field::Invoice).trimmed();
            if (cell.is_empty() || !expected.ends_with(cell.as_ref()))
                && !is_documents_row(row, layout, record, doc, policy)
            {
                // The row's own invoice number no longer matches, and nothing proves it is the
                // row the document was made from (the anchor may not have followed its row):
                // writing could put an id on the wrong invoice, so qbsync reports instead.
                mismatches.push(Mismatch {
                    key: key.to_string(),
                    row: row_index,
                    expected_doc_number: expected.clone(),
                });
                continue;
            }
        }
        let money = record.doc_key.as_ref().and_then(|d| store.money.get(d.as_str()));
        let mut desired = desired_cells(record, doc, money, policy);
        if let Some(note) = drift(row, layout, record, doc, policy) {
            // The row changed after its document was created: it stays synced, and says so.
            let error = tracking(record, policy).error;
            desired.retain(|(field, _)| *field != error);
            desired.push((error, Cell::text(note)));
        }
        // Cells compare by their text: the sheet may hand back `130` as a number for an id
        // written as text.
        let mut changed: Vec<(usize, Cell)> = desired
            .into_iter()
            .filter_map(|(field, want)| {
                let col = layout.column(field)?;
                let have = row.get(col).map(Cell::trimmed).unwrap_or_default();
                (have != want.trimmed()).then_some((col, want))
            })
            .collect();
        changed.sort_by_key(|(col, _)| *col);
        // Merge adjacent columns into runs: fewer ranges in the one batch write.
        let mut run: Option<CellWrite> = None;
        for (col, value) in changed {
            match &mut run {
                Some(current) if current.col as usize + current.values.len() == col => current.values.push(value),
                _ => {
                    if let Some(done) = run.take() {
                        writes.push(done);
                    }
                    run =
                        Some(CellWrite { row: row_index, col: col as u32, values: vec![value], key: key.to_string() });
                }
            }
        }
        writes.extend(run);
    }
    (writes, mismatches)
}

/// Cells compare by their text: the sheet may hand back `130` as a number for an id written as text.
fn normalise(cell: &Cell) -> String {
    cell.trimmed().into_owned()
}

/// The writes that undo cells which landed on the wrong row.
///
/// Sheets has no conditional write: cells are addressed by row number, and between locating a
/// row (by its anchor) and writing to it a person may insert, delete or sort rows. When the
/// anchors read after a write show that a written row moved, the cells went to whichever row
/// sat at that number when the write arrived — the victim. This finds every row that now shows
/// such a write without being the row it was meant for, and gives back what those cells held
/// before: taken from the sheet as read before the write, for the same row (by its anchor, or
/// else by the rest of its cells being unchanged), or blank for a row that was not there yet.
///
/// `before`/`located_before`: the sheet and the anchors the writes were planned from;
/// `landed`: where the rows were at the first look after the writes (whether each went astray
/// is decided there, once: a row that moves back to the number its write was addressed to
/// afterwards never got the cells, and whichever row did is still a victim);
/// `after`/`located_after`: the sheet and the anchors read now. The rows the writes were meant
/// for are not written here: the next projection writes them where they are now.
pub fn undo_misplaced(
    writes: &[CellWrite],
    layout: &Layout,
    before: &[Vec<Cell>],
    located_before: &Located,
    landed: &Located,
    after: &[Vec<Cell>],
    located_after: &Located,
) -> Vec<CellWrite> {
    let key_at: FastMap<u32, &str> = located_after.iter().map(|(key, row)| (*row, key.as_str())).collect();
    let width = before.iter().chain(after).map(Vec::len).max().unwrap_or(0);
    let owned: Vec<usize> = writable(layout).map(|(_, col)| col).collect();
    // A row's own cells: all but those qbsync writes.
    let own_cells = |r: &[Cell]| -> Vec<String> {
        (0..width).filter(|c| !owned.contains(c)).map(|c| normalise(&r.get(c).cloned().unwrap_or_default())).collect()
    };
    // Once per row, not once per row and write: a write-back after an insert near the top
    // checks every write against every row.
    let after_own: Vec<Vec<String>> = after.iter().map(|r| own_cells(r)).collect();
    let mut undo: Vec<CellWrite> = Vec::new();
    for write in writes {
        let span = write.col as usize..write.col as usize + write.values.len();
        if landed.get(write.key.as_str()) == Some(&write.row) {
            continue; // landed where it was meant to
        }
        // The row it was meant for (by its anchor), as it was.
        let meant = located_before.get(write.key.as_str()).and_then(|r| before.get(*r as usize)).map(|r| own_cells(r));
        for (index, row) in after.iter().enumerate().skip(1) {
            let index = index as u32;
            // That row, and its twins (a pasted copy of it, identical but in qbsync's cells),
            // show these cells rightly: a write that landed on a twin only swaps which of the
            // two says `copy`, which the next projection settles. Given back, it would move
            // the flag that tells the twins apart, so the next look would find the other twin
            // wronged, and so on, round after round.
            if key_at.get(&index) == Some(&write.key.as_str()) || meant.as_ref() == Some(&after_own[index as usize]) {
                continue;
            }
            if !shows(row, write.col as usize, &write.values) {
                continue;
            }
            let owner = key_at.get(&index).copied();
            // A row whose own writes (landed where they were meant to) gave it these very cells —
            // rows synced in the same second share a time, for one — is not a victim.
            let own = |col: usize, value: &Cell| {
                writes.iter().any(|w| {
                    owner == Some(w.key.as_str())
                        && located_after.get(w.key.as_str()) == Some(&index)
                        && (w.col as usize..w.col as usize + w.values.len()).contains(&col)
                        && normalise(&w.values[col - w.col as usize]) == normalise(value)
                })
            };
            let legitimate = span.clone().zip(&write.values).all(|(col, value)| own(col, value));
            if legitimate || undo.iter().any(|u| u.row == index && u.col == write.col) {
                continue;
            }
            let previous = owner
                .and_then(|key| located_before.get(key))
                .and_then(|r| before.get(*r as usize))
                .map(|r| cells(r, span.clone()))
                .or_else(|| unchanged_elsewhere(before, row, span.clone()))
                .unwrap_or_else(|| vec![Cell::Empty; write.values.len()]);
            if !same(&previous, &write.values) {
                undo.push(CellWrite {
                    row: index,
                    col: write.col,
                    values: previous,
                    key: owner.map(str::to_owned).unwrap_or_default(),
                });
            }
        }
    }
    undo
}

/// Whether `row` shows `values` from column `col` on.
pub fn shows(row: &[Cell], col: usize, values: &[Cell]) -> bool {
    same(&cells(row, col..col + values.len()), values)
}

fn cells(row: &[Cell], span: std::ops::Range<usize>) -> Vec<Cell> {
    span.map(|c| row.get(c).cloned().unwrap_or_default()).collect()
}

fn same(a: &[Cell], b: &[Cell]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| normalise(x) == normalise(y))
}

/// The cells in `span` of the row of `before` that equals `row` everywhere outside `span` — if
/// every such row agrees on them (pasted copies may be identical).
fn unchanged_elsewhere(before: &[Vec<Cell>], row: &[Cell], span: std::ops::Range<usize>) -> Option<Vec<Cell>> {
    let width = before.iter().chain(std::iter::once(&row.to_vec())).map(Vec::len).max().unwrap_or(0);
    let outside = |r: &[Cell]| -> Vec<String> {
        (0..width).filter(|c| !span.contains(c)).map(|c| normalise(&r.get(c).cloned().unwrap_or_default())).collect()
    };
    let target = outside(row);
    let mut found: Option<Vec<Cell>> = None;
    for candidate in before.iter().skip(1).filter(|r| outside(r) == target) {
        let cells = cells(candidate, span.clone());
        match &found {
            Some(other) if !same(other, &cells) => return None,
            _ => found = Some(cells),
        }
    }
    found
}

/// Cells given back too late: a row that shows `wrong` from column `col` on, cells a write meant
/// for another row put there, and should show `previous` again. The row is known by its own cells
/// (all but qbsync's, as a fingerprint: `own`), which move with it wherever it goes meanwhile.
/// Kept in the store from the moment the landing check finds such a row until it is given back,
/// so that a stop (or a crash) in between never leaves another row's cells there unknown.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
pub struct OwedRestore {
    pub own: String,
    pub col: u32,
    pub wrong: Vec<String>,
    pub previous: Vec<String>,
}

/// `owed` as the store keeps it (what [`OwedRestore`] deserializes from).
pub fn owed_json(owed: &[OwedRestore]) -> String {
    let entries =
        owed.iter().map(|o| serde_json::json!({"own": o.own, "col": o.col, "wrong": o.wrong, "previous": o.previous}));
    serde_json::Value::Array(entries.collect()).to_string()
}

/// The fingerprint of a row's own cells: every column but those qbsync may write, blank ones
/// at the end not counting (a wider read of the same row is the same row).
pub fn own_fingerprint(row: &[Cell], layout: &Layout) -> String {
    let owned: Vec<usize> = writable(layout).map(|(_, col)| col).collect();
    let mut cells: Vec<String> =
        row.iter().enumerate().filter(|(col, _)| !owned.contains(col)).map(|(_, cell)| normalise(cell)).collect();
    while cells.last().is_some_and(String::is_empty) {
        cells.pop();
    }
    let mut fingerprinter = crate::domain::fingerprint::Fingerprinter::new("own cells v1");
    for cell in &cells {
        fingerprinter.add("cell", cell);
    }
    fingerprinter.finish()
}

/// What restores `undo` (computed on the rows `after`) owe until they are seen to have landed.
pub fn owed(undo: &[CellWrite], after: &[Vec<Cell>], layout: &Layout) -> Vec<OwedRestore> {
    undo.iter()
        .filter_map(|write| {
            let row = after.get(write.row as usize)?;
            Some(OwedRestore {
                own: own_fingerprint(row, layout),
                col: write.col,
                wrong: cells(row, write.col as usize..write.col as usize + write.values.len())
                    .iter()
                    .map(normalise)
                    .collect(),
                previous: write.values.iter().map(normalise).collect(),
            })
        })
        .collect()
}

/// The writes that settle restores still owed, on the rows as they are now: each row that is
/// the victim (its own cells) and still shows what was wrongly put there gets its previous cells
/// back. A victim that shows anything else was set right since, or is gone: nothing is owed.
pub fn give_back(owed: &[OwedRestore], rows: &[Vec<Cell>], layout: &Layout) -> Vec<CellWrite> {
    let mut writes: Vec<CellWrite> = Vec::new();
    for restore in owed {
        let wrong: Vec<Cell> = restore.wrong.iter().map(|c| Cell::text(c.as_str())).collect();
        for (index, row) in rows.iter().enumerate().skip(1) {
            if shows(row, restore.col as usize, &wrong) && own_fingerprint(row, layout) == restore.own {
                writes.push(CellWrite {
                    row: index as u32,
                    col: restore.col,
                    values: restore.previous.iter().map(|c| Cell::text(c.as_str())).collect(),
                    key: String::new(),
                });
            }
        }
    }
    writes
}
