//! Loading a tab from CSV, every field typed as if a user had typed it into the cell.
//!
//! The demo sheet and test fixtures are written as CSV because that is how a bookkeeper would
//! export one. Typing rules are `entry::typed`'s: numbers become numbers, `=…` a formula,
//! `2025-11-05` / `11/5/2025` / `Nov 5, 2025` a date; a leading `'` keeps the rest as text.

use super::entry::{Entry, typed};

/// Why a CSV cannot be loaded.
#[derive(Debug, thiserror::Error)]
#[error("invalid CSV: {0}")]
pub struct CsvError(#[from] csv::Error);

/// The typed cells of every record (rows may differ in length).
pub fn parse(text: &str) -> Result<Vec<Vec<Entry>>, CsvError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    reader.records().map(|record| Ok(record?.iter().map(typed).collect())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::google::entry::NumberFormat;

    #[test]
    fn fields_are_typed_like_user_input() {
        let rows = parse("a,b\n1234.5,\"$1,234.50\"\n'007,=1+1\n").unwrap();
        assert_eq!(rows[0], vec![Entry::text("a"), Entry::text("b")]);
        assert_eq!(rows[1][0], Entry::number(1234.5));
        assert_eq!(rows[1][1], Entry::Number { value: 1234.5, format: NumberFormat::Currency { decimals: 2 } });
        assert_eq!(rows[2], vec![Entry::text("007"), Entry::Formula { formula: "=1+1".into() }]);
    }

    #[test]
    fn the_bundled_demo_sheet_parses() {
        let rows = parse(include_str!("../data/inv_tbl.csv")).unwrap();
        assert!(rows.len() > 30);
        assert!(rows.iter().all(|r| r.len() == 14));
    }
}
