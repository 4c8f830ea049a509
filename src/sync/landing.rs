//! Whether a write-back's cells landed on the rows they were aimed at, judged from the rows
//! the write answered with (see [`crate::sheets::landed`]).
//!
//! The write-back aims each write at a row located in a picture of the sheet. Google's answer
//! to the write shows every written row as the write left it, at that instant. A written row
//! that shows exactly what the picture showed there, with the write's cells on it, and the same
//! anchors, is the row the picture located: the write landed as aimed. Anything else — a row
//! moved in between, an edit of any cell of it, an anchor made or dropped, a row missing from
//! the answer — is not judged here: the write-back then reads the whole sheet, finds where
//! everything went and gives back what landed astray, as it would without this shortcut. So
//! the shortcut can only ever skip a read that would have found nothing to do.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use crate::domain::Cell;
use crate::sheets::LandedRow;
use crate::sheets::clip::clip_cell;

use super::picture::Picture;
use super::project::CellWrite;

/// True when every row `writes` wrote shows, in `landed`, what the picture showed there with
/// the writes on it, and the picture's anchors.
pub fn as_aimed(picture: &Picture, writes: &[CellWrite], landed: &[LandedRow]) -> bool {
    let mut expected: BTreeMap<u32, Vec<Cell>> = BTreeMap::new();
    for write in writes {
        let row = write.row as usize;
        if !picture.holds(row) {
            return false;
        }
        let cells = expected.entry(write.row).or_insert_with(|| picture.rows[row].clone());
        let end = write.col as usize + write.values.len();
        if cells.len() < end {
            cells.resize(end, Cell::Empty);
        }
        for (slot, value) in cells[write.col as usize..end].iter_mut().zip(&write.values) {
            *slot = clip_cell(value).into_owned();
        }
    }
    expected.iter().all(|(&row, cells)| {
        let Some(seen) = landed.iter().find(|landed| landed.row == row) else { return false };
        let anchored: Vec<(i32, &str)> =
            picture.anchors.iter().filter(|a| a.row == row).map(|a| (a.metadata_id, a.key.as_str())).collect();
        let seen_anchors: Vec<(i32, &str)> = seen.anchors.iter().map(|a| (a.metadata_id, a.key.as_str())).collect();
        anchored == seen_anchors && same_cells(cells, &seen.cells)
    })
}

/// The same cells, trailing empty cells aside; numbers by value (a written `12.50` is
/// answered as `12.5`).
fn same_cells(a: &[Cell], b: &[Cell]) -> bool {
    let trim = |cells: &[Cell]| cells.len() - cells.iter().rev().take_while(|c| matches!(c, Cell::Empty)).count();
    let (a, b) = (&a[..trim(a)], &b[..trim(b)]);
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_cell(a, b))
}

fn same_cell(a: &Cell, b: &Cell) -> bool {
    match (a, b) {
        (Cell::Number(a), Cell::Number(b)) => a == b || number(a).is_some_and(|a| number(b) == Some(a)),
        _ => a == b,
    }
}

fn number(text: &str) -> Option<Decimal> {
    Decimal::from_str(text).or_else(|_| Decimal::from_scientific(text)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::sheet;
    use crate::sheets::RowAnchor;
    use crate::sync::picture::Developing;
    use crate::sync::plan::tests::policy;

    /// A picture of the header and two ready rows, row 1 anchored as `k1`.
    fn picture() -> Picture {
        let policy = policy();
        let stored = Default::default();
        let mut developing = Developing::new(&policy, Default::default(), &stored, None);
        let rows: Vec<Vec<String>> = std::iter::once(sheet::header()).chain((1..=2).map(sheet::ready_row)).collect();
        let answer = serde_json::to_vec(&serde_json::json!({ "values": rows })).unwrap();
        let index = crate::sheets::values::read_answer(&answer, &mut developing).unwrap();
        let mut picture = developing.finish(index).unwrap();
        picture.anchors = vec![RowAnchor { metadata_id: 7, key: "k1".into(), row: 1 }].into();
        picture
    }

    /// Row 1's cells after two owned cells past its last one were written.
    const FAR: u32 = 40;

    fn writes() -> [CellWrite; 1] {
        [CellWrite { row: 1, col: FAR, values: vec![Cell::text("42"), Cell::text("synced")], key: "k1".into() }]
    }

    /// What `row` of the picture shows with the writes on it, changed by `edit`.
    fn seen(picture: &Picture, row: u32, anchors: &[(i32, &str)], edit: impl FnOnce(&mut Vec<Cell>)) -> LandedRow {
        let mut cells = picture.rows[row as usize].clone();
        cells.resize(FAR as usize, Cell::Empty);
        cells.extend([Cell::text("42"), Cell::text("synced")]);
        edit(&mut cells);
        LandedRow {
            row,
            cells,
            anchors: anchors.iter().map(|(id, key)| RowAnchor { metadata_id: *id, key: (*key).into(), row }).collect(),
        }
    }

    #[test]
    fn a_row_showing_what_the_picture_showed_with_the_write_on_it_is_where_the_write_was_aimed() {
        let picture = picture();
        assert!(as_aimed(&picture, &writes(), &[seen(&picture, 1, &[(7, "k1")], |_| {})]));
    }

    #[test]
    fn a_row_that_moved_under_the_write_or_was_edited_is_not() {
        let picture = picture();
        let mut other = seen(&picture, 2, &[(7, "k1")], |_| {});
        other.row = 1;
        assert!(!as_aimed(&picture, &writes(), &[other]), "another row's values sorted onto the anchored row");
        assert!(!as_aimed(&picture, &writes(), &[seen(&picture, 1, &[], |_| {})]), "the anchor went with a sort");
        let edited = seen(&picture, 1, &[(7, "k1")], |cells| cells[3] = Cell::text("typed meanwhile"));
        assert!(!as_aimed(&picture, &writes(), &[edited]), "another cell of the row was edited");
        assert!(!as_aimed(&picture, &writes(), &[]), "the answer does not show the row");
    }

    #[test]
    fn numbers_compare_by_value_and_trailing_empty_cells_do_not_count() {
        let picture = picture();
        let writes = [CellWrite {
            row: 1,
            col: FAR,
            values: vec![Cell::Number("12.50".into()), Cell::Empty, Cell::Empty],
            key: "k1".into(),
        }];
        let landed = seen(&picture, 1, &[(7, "k1")], |cells| {
            cells.truncate(FAR as usize);
            cells.push(Cell::Number("12.5".into()));
        });
        assert!(as_aimed(&picture, &writes, &[landed]));
    }
}
