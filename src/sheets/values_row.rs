//! A row of a `values.get` answer (a JSON array of values) decoded into cells.
//!
//! Apart from the `values.get` read (`super::values`) so that [`RawRow`](super::row::RawRow)
//! can decode a row without importing the reader that hands the row over (the reader imports
//! the row). The cell writers here ([`set_text`], [`set_number`]) are the one spelling of a
//! value as a [`Cell`]: a grid row's decoder (`super::grid_row`) writes its cells with them
//! too, so the two reads of the same row come out cell for cell the same.

use std::fmt::{self, Write as _};

use compact_str::ToCompactString;
use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::SheetsError;
use crate::domain::Cell;

/// Decodes a `values.get` row into `buffer` as
/// [`RawRow::cells_into`](super::row::RawRow::cells_into) describes; answers how many cells the
/// row has.
pub(super) fn cells_into(bytes: &[u8], columns: Option<&[bool]>, buffer: &mut Vec<Cell>) -> Result<usize, SheetsError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    RowSeed(buffer, columns)
        .deserialize(&mut deserializer)
        .and_then(|len| deserializer.end().map(|()| len))
        .map_err(|e| unreadable(&e))
}

pub(super) fn unreadable(error: &serde_json::Error) -> SheetsError {
    SheetsError::Rejected { message: format!("Google's answer could not be decoded: {error}") }
}

/// One row, read into a buffer (only the columns wanted, if it says which); answers how many
/// cells it had.
struct RowSeed<'b, 'c>(&'b mut Vec<Cell>, Option<&'c [bool]>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row of cells")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut cells: A) -> Result<usize, A::Error> {
        let mut len = 0;
        loop {
            if len == self.0.len() {
                self.0.push(Cell::Empty);
            }
            let wanted = self.1.is_none_or(|columns| columns.get(len).copied().unwrap_or(false));
            let present = if wanted {
                cells.next_element_seed(CellSeed(&mut self.0[len]))?.is_some()
            } else {
                self.0[len] = Cell::Empty;
                cells.next_element::<IgnoredAny>()?.is_some()
            };
            if !present {
                return Ok(len);
            }
            len += 1;
        }
    }
}

/// One cell, written over `slot` as [`Cell::from_json`] would make it; a slot that already
/// holds text or a number keeps its string's memory.
struct CellSeed<'c>(&'c mut Cell);

impl<'de> DeserializeSeed<'de> for CellSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl CellSeed<'_> {
    fn text(self, text: &str) {
        set_text(self.0, text);
    }

    fn number(self, number: serde_json::Number) {
        set_number(self.0, number);
    }
}

/// Writes text over `slot` as [`Cell::from_json`] would make it, keeping the slot's string.
pub(super) fn set_text(slot: &mut Cell, text: &str) {
    match slot {
        _ if text.is_empty() => *slot = Cell::Empty,
        Cell::Text(kept) => {
            kept.clear();
            kept.push_str(text);
        }
        slot => *slot = Cell::Text(text.into()),
    }
}

/// Writes a number over `slot` as [`Cell::from_json`] would make it, keeping the slot's string.
pub(super) fn set_number(slot: &mut Cell, number: serde_json::Number) {
    match slot {
        Cell::Number(kept) => {
            kept.clear();
            // Writing to a string cannot fail.
            let _ = write!(kept, "{number}");
        }
        slot => *slot = Cell::Number(number.to_compact_string()),
    }
}

impl<'de> Visitor<'de> for CellSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a cell value")
    }

    fn visit_str<E>(self, text: &str) -> Result<(), E> {
        self.text(text);
        Ok(())
    }

    fn visit_bool<E>(self, value: bool) -> Result<(), E> {
        *self.0 = Cell::Bool(value);
        Ok(())
    }

    fn visit_u64<E>(self, value: u64) -> Result<(), E> {
        self.number(value.into());
        Ok(())
    }

    fn visit_i64<E>(self, value: i64) -> Result<(), E> {
        self.number(value.into());
        Ok(())
    }

    fn visit_f64<E>(self, value: f64) -> Result<(), E> {
        // As in a `Value`: a number that is not finite is null.
        match serde_json::Number::from_f64(value) {
            Some(number) => self.number(number),
            None => *self.0 = Cell::Empty,
        }
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        *self.0 = Cell::Empty;
        Ok(())
    }

    // Nested values are never sent by the API; like `Cell::from_json`, keep them as JSON text.
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let nested = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
        *self.0 = Cell::from_json(&nested);
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let nested = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        *self.0 = Cell::from_json(&nested);
        Ok(())
    }
}
