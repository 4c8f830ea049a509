//! Projection: what the qbsync-owned cells of each anchored row should say, given the store.
//!
//! The store is the source of truth for those cells. After every pass the engine compares the
//! projection with the cells as read and writes only the difference, so an interrupted
//! write-back, a cell a person cleared by mistake, or a crash between "created" and "written"
//! all heal the same way. Cells of columns qbsync does not own are never part of a projection.

use std::collections::HashMap;

use crate::domain::Cell;
use crate::domain::layout::{Field, Layout};
use crate::store::{DocRecord, DocState, Kind, RowRecord};

use super::plan::{COPY, StoreView};
use super::policy::{Mode, Policy};

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

/// The owned cells each anchored row should show, as (field, value) pairs.
pub fn desired_cells(record: &RowRecord, doc: Option<&DocRecord>, policy: &Policy) -> Vec<(Field, Cell)> {
    let bill_columns = record.kind == Kind::Bill && policy.mode == Mode::Dual;
    let (id, url, status, error) = if bill_columns {
        (Field::QbBillId, Field::QbBillUrl, Field::QbBillStatus, Field::QbBillError)
    } else {
        (Field::QbInvoiceId, Field::QbInvoiceUrl, Field::QbSyncStatus, Field::QbError)
    };
    let text = |s: Option<&str>| Cell::text(s.unwrap_or_default());
    let at = text(record.synced_at.as_deref());
    match record.status.as_str() {
        "synced" => {
            let doc = doc.filter(|d| d.state == DocState::Created);
            vec![
                (id, text(doc.and_then(|d| d.qbo_id.as_deref()))),
                (url, text(doc.and_then(|d| d.qbo_url.as_deref()))),
                (status, Cell::text("synced")),
                (Field::QbSyncedAt, at),
                (error, text(record.error.as_deref())),
            ]
        }
        "failed" => vec![
            (id, Cell::Empty),
            (url, Cell::Empty),
            (status, Cell::text("failed")),
            (Field::QbSyncedAt, at),
            (error, text(record.error.as_deref())),
        ],
        // A copy keeps the id it was pasted with: clearing it would make the row ready.
        COPY => vec![(status, Cell::text(COPY)), (error, text(record.error.as_deref()))],
        "skipped" => {
            vec![(status, Cell::text("skipped")), (Field::QbSyncedAt, at), (error, text(record.error.as_deref()))]
        }
        // Claimed and pending rows show nothing yet: the outcome is not known.
        _ => Vec::new(),
    }
}

/// The writes that bring every anchored row's owned cells in line with the store, plus the
/// anchored rows that no longer look like their document (not written; reported).
pub fn project(
    rows: &[Vec<Cell>],
    layout: &Layout,
    located: &HashMap<String, u32>,
    store: &StoreView,
    policy: &Policy,
) -> (Vec<CellWrite>, Vec<Mismatch>) {
    let mut writes = Vec::new();
    let mut mismatches = Vec::new();
    let mut keys: Vec<(&String, &u32)> = located.iter().collect();
    keys.sort_by_key(|(_, row)| **row);
    for (key, &row_index) in keys {
        let Some(record) = store.rows.get(key) else { continue };
        let Some(row) = rows.get(row_index as usize) else { continue };
        let doc = record.doc_key.as_ref().and_then(|d| store.docs.get(d));
        if let Some(expected) = &record.doc_number {
            let cell = layout.cell(row, Field::Invoice).trimmed().into_owned();
            if cell.is_empty() || !expected.ends_with(&cell) {
                // The row's own invoice number no longer matches: either a person edited it after
                // the document was created, or the anchor did not follow its row. Writing could
                // put an id on the wrong invoice, so qbsync reports instead.
                mismatches.push(Mismatch { key: key.clone(), row: row_index, expected_doc_number: expected.clone() });
                continue;
            }
        }
        let mut changed: Vec<(usize, Cell)> = desired_cells(record, doc, policy)
            .into_iter()
            .filter_map(|(field, want)| {
                let col = layout.column(field)?;
                let have = row.get(col).cloned().unwrap_or_default();
                (normalise(&have) != normalise(&want)).then_some((col, want))
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
                    run = Some(CellWrite { row: row_index, col: col as u32, values: vec![value], key: key.clone() });
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
