//! Short, stable fingerprints: "has this changed since it failed?"
//!
//! A `failed` row is tried again only when the bookkeeper edited it or the configuration it
//! depends on changed. Storing whole rows to compare would copy customer data into more places
//! than needed; a SHA-256 prefix of exactly the inputs is enough to notice a change. The
//! encoding is length-prefixed and labelled, so no two different inputs hash the same text
//! (`"ab","c"` ≠ `"a","bc"`), and the order of columns on the sheet does not matter.

use sha2::{Digest, Sha256};

use super::Cell;
use super::layout::{Field, Layout};

/// Input columns that appeared after the v1 fingerprint.
const ADDED_AFTER_V1: [Field; 1] = [Field::TaxCode];

/// Hex characters kept (64 bits: collisions are irrelevant for change detection).
const LEN: usize = 16;

/// Hashes labelled values into a short hex fingerprint.
#[derive(Clone, Debug)]
pub struct Fingerprinter(Sha256);

impl Fingerprinter {
    /// Starts a fingerprint; `purpose` separates fingerprints of different things.
    pub fn new(purpose: &str) -> Fingerprinter {
        let mut fingerprinter = Fingerprinter(Sha256::new());
        fingerprinter.add("purpose", purpose);
        fingerprinter
    }

    /// Adds one labelled value.
    pub fn add(&mut self, label: &str, value: &str) -> &mut Fingerprinter {
        for part in [label, value] {
            self.0.update((part.len() as u64).to_be_bytes());
            self.0.update(part.as_bytes());
        }
        self
    }

    /// The fingerprint: the first 16 hex characters of the SHA-256.
    pub fn finish(&self) -> String {
        let mut text = hex::encode(self.0.clone().finalize());
        text.truncate(LEN);
        text
    }
}

/// The fingerprint of a row's content: its input cells, but never the `qb_*` columns qbsync
/// writes itself, nor a person's approval (approving a row is not editing it; see
/// [`Field::DECISIONS`]).
/// Cells are compared trimmed and by kind, so a number `1234.5` and the text `1234.5` differ
/// (they may parse differently) but a trailing space does not count as an edit.
pub fn content_fingerprint(row: &[Cell], layout: &Layout) -> String {
    let mut fingerprinter = Fingerprinter::new("row content v1");
    for field in Field::INPUTS.into_iter().filter(|f| f.is_content()) {
        let cell = layout.cell(row, field);
        // Columns added after v1 count only when they hold something, so that every
        // fingerprint remembered before they existed still matches its unchanged row.
        if ADDED_AFTER_V1.contains(&field) && cell.is_blank() {
            continue;
        }
        let kind = match cell {
            _ if cell.is_blank() => "empty",
            Cell::Number(_) => "number",
            Cell::Bool(_) => "bool",
            Cell::Empty | Cell::Text(_) => "text",
        };
        fingerprinter.add(field.key(), &format!("{kind}:{}", cell.trimmed()));
    }
    fingerprinter.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::layout::ColumnNames;

    fn layout(header: &[&str]) -> Layout {
        let cells: Vec<Cell> = header.iter().map(|h| Cell::text(*h)).collect();
        Layout::read_header(&cells, &ColumnNames::default()).unwrap()
    }

    const HEADER: [&str; 8] =
        ["invoice", "status", "inv_from", "to_client", "inv_dollars", "submitted_date", "qb_sync_status", "qb_error"];

    fn row(values: &[&str]) -> Vec<Cell> {
        values.iter().map(|v| Cell::text(*v)).collect()
    }

    #[test]
    fn only_inputs_count() {
        let layout = layout(&HEADER);
        let a = row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05", "failed", "bad amount"]);
        let b = row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05", "", ""]);
        let c = row(&["1042", "submitted", "ACD", "Acme", "100.5", "2025-11-05", "failed", "bad amount"]);
        assert_eq!(content_fingerprint(&a, &layout), content_fingerprint(&b, &layout));
        assert_ne!(content_fingerprint(&a, &layout), content_fingerprint(&c, &layout));
        assert_eq!(content_fingerprint(&a, &layout).len(), 16);
    }

    #[test]
    fn a_blank_tax_code_leaves_the_fingerprint_of_before_the_column_existed() {
        let without = layout(&HEADER[..6]);
        let with = layout(&["invoice", "status", "inv_from", "to_client", "inv_dollars", "submitted_date", "tax_code"]);
        let old = content_fingerprint(&row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05"]), &without);
        let blank = row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05", " "]);
        let coded = row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05", "20.0% S"]);
        assert_eq!(content_fingerprint(&blank, &with), old);
        assert_ne!(content_fingerprint(&coded, &with), old);
    }

    #[test]
    fn approving_a_row_leaves_its_fingerprint_as_it_was() {
        let without = layout(&HEADER[..6]);
        let with = layout(&["invoice", "status", "inv_from", "to_client", "inv_dollars", "submitted_date", "approved"]);
        let old = content_fingerprint(&row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05"]), &without);
        let mut approved = row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05", "yes"]);
        assert_eq!(content_fingerprint(&approved, &with), old);
        approved[6] = Cell::Bool(true);
        assert_eq!(content_fingerprint(&approved, &with), old);
    }

    #[test]
    fn column_order_trailing_blanks_and_spaces_do_not_count() {
        let first = layout(&HEADER);
        let reordered = layout(&["inv_dollars", "invoice", "status", "inv_from", "to_client", "submitted_date"]);
        let a = row(&["1042", "submitted", "ACD", "Acme", "100", "2025-11-05"]);
        let b = row(&["100 ", "1042", "submitted", "ACD", "Acme", "2025-11-05", "", ""]);
        assert_eq!(content_fingerprint(&a, &first), content_fingerprint(&b, &reordered));
    }

    #[test]
    fn kind_and_boundaries_count() {
        let layout = layout(&HEADER);
        let text = row(&["1042", "submitted", "ACD", "Acme", "100"]);
        let mut number = text.clone();
        number[4] = Cell::Number("100".into());
        assert_ne!(content_fingerprint(&text, &layout), content_fingerprint(&number, &layout));
        let shifted = row(&["1042s", "ubmitted", "ACD", "Acme", "100"]);
        assert_ne!(content_fingerprint(&text, &layout), content_fingerprint(&shifted, &layout));
    }

    #[test]
    fn fingerprinter_is_stable() {
        // Pinned: a change of encoding would make every failed row look edited.
        assert_eq!(Fingerprinter::new("x").add("a", "b").finish(), "a39ef0e8bbf02aa1");
        assert_ne!(Fingerprinter::new("x").add("a", "bc").finish(), Fingerprinter::new("x").add("ab", "c").finish());
        assert_ne!(Fingerprinter::new("x").finish(), Fingerprinter::new("y").finish());
    }
}
