//! A `RowData` of a grid read decoded into cells: the same cells a `values.get` with
//! `UNFORMATTED_VALUE` and `SERIAL_NUMBER` gives for the row (see [`super::grid`] for why).
//!
//! Apart from the grid read itself so that [`RawRow`](super::row::RawRow) can decode a grid row
//! without importing the reader that hands the row over (the reader imports the row). It writes
//! its cells with the `values.get` decoder's writers (`super::values_row`), so that both reads of
//! a row spell its cells alike.

use std::borrow::Cow;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::SheetsError;
use super::values_row::{set_number, set_text, unreadable};
use crate::domain::Cell;

/// Decodes a `RowData` into `buffer` as [`RawRow::cells_into`](super::row::RawRow::cells_into)
/// does a `values.get` row (see there); answers how many cells the row has: up to its last cell
/// with a value.
pub(super) fn cells_into(bytes: &[u8], columns: Option<&[bool]>, buffer: &mut Vec<Cell>) -> Result<usize, SheetsError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    RowSeed { buffer, columns }
        .deserialize(&mut deserializer)
        .and_then(|len| deserializer.end().map(|()| len))
        .map_err(|e| unreadable(&e))
}

/// A `RowData`: `{"values": [CellData, …]}`, or `{}` for a row without cells.
struct RowSeed<'b, 'c> {
    buffer: &'b mut Vec<Cell>,
    columns: Option<&'c [bool]>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a RowData object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
        let RowSeed { buffer, columns } = self;
        let mut len = 0;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "values" {
                len = map.next_value_seed(CellsSeed { buffer: &mut *buffer, columns })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(len)
    }
}

/// `RowData.values`: the cells, written over the buffer's slots.
struct CellsSeed<'b, 'c> {
    buffer: &'b mut Vec<Cell>,
    columns: Option<&'c [bool]>,
}

impl<'de> DeserializeSeed<'de> for CellsSeed<'_, '_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for CellsSeed<'_, '_> {
    type Value = usize;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of CellData")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut cells: A) -> Result<usize, A::Error> {
        // The row ends after its last cell with a value, as a `values.get` row does.
        let mut len = 0;
        let mut at = 0;
        loop {
            if at == self.buffer.len() {
                self.buffer.push(Cell::Empty);
            }
            let wanted = self.columns.is_none_or(|columns| columns.get(at).copied().unwrap_or(false));
            let slot = &mut self.buffer[at];
            let valued = if wanted {
                match cells.next_element::<wire::CellData<'de>>()? {
                    None => return Ok(len),
                    Some(cell) => cell.write(slot),
                }
            } else {
                match cells.next_element::<wire::Valued>()? {
                    None => return Ok(len),
                    Some(wire::Valued(valued)) => {
                        *slot = Cell::Empty;
                        valued
                    }
                }
            };
            at += 1;
            if valued {
                len = at;
            }
        }
    }
}

/// Error types as the sheet shows them, which is how `values.get` sends an error cell.
fn error_text(kind: &str) -> &'static str {
    match kind {
        "NULL_VALUE" => "#NULL!",
        "DIVIDE_BY_ZERO" => "#DIV/0!",
        "VALUE" => "#VALUE!",
        "REF" => "#REF!",
        "NAME" => "#NAME?",
        "NUM" => "#NUM!",
        "N_A" => "#N/A",
        "LOADING" => "Loading...",
        _ => "#ERROR!",
    }
}

/// The parts of a `RowData` read here, named and typed as in Google's reference (`CellData`,
/// `ExtendedValue`, `ErrorValue`).
mod wire {
    use std::borrow::Cow;

    use serde::Deserialize;
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    use super::{error_text, set_number, set_text};
    use crate::domain::Cell;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct CellData<'a> {
        #[serde(borrow)]
        effective_value: Option<ExtendedValue<'a>>,
        #[serde(borrow)]
        formatted_value: Option<Cow<'a, str>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ExtendedValue<'a> {
        number_value: Option<serde_json::Number>,
        #[serde(borrow)]
        string_value: Option<Cow<'a, str>>,
        bool_value: Option<bool>,
        #[serde(borrow)]
        error_value: Option<ErrorValue<'a>>,
    }

    #[derive(Deserialize)]
    struct ErrorValue<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<Cow<'a, str>>,
    }

    impl CellData<'_> {
        /// Writes the cell's value over `slot`; answers whether it had one.
        pub fn write(self, slot: &mut Cell) -> bool {
            let Some(value) = self.effective_value else {
                *slot = Cell::Empty;
                return false;
            };
            if let Some(number) = value.number_value {
                set_number(slot, number);
            } else if let Some(text) = value.string_value {
                set_text(slot, &text);
            } else if let Some(value) = value.bool_value {
                *slot = Cell::Bool(value);
            } else if let Some(error) = value.error_value {
                let shown = self.formatted_value.filter(|shown| !shown.is_empty());
                let text = shown.unwrap_or_else(|| Cow::Borrowed(error_text(error.kind.as_deref().unwrap_or(""))));
                set_text(slot, &text);
            } else {
                *slot = Cell::Empty;
            }
            true
        }
    }

    /// A cell stepped over: only whether it has a value.
    pub struct Valued(pub bool);

    impl<'de> Deserialize<'de> for Valued {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Valued, D::Error> {
            struct Keys;
            impl<'de> Visitor<'de> for Keys {
                type Value = Valued;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a CellData object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Valued, A::Error> {
                    let mut valued = false;
                    while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                        valued |= key == "effectiveValue";
                        map.next_value::<IgnoredAny>()?;
                    }
                    Ok(Valued(valued))
                }
            }
            deserializer.deserialize_map(Keys)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Cell {
        Cell::Text(s.into())
    }

    #[test]
    fn a_sink_can_skip_columns_nobody_looks_at() {
        let raw = br#"{"values":[{"effectiveValue":{"stringValue":"a"}},{"effectiveValue":{"numberValue":2}},{},{"effectiveValue":{"boolValue":false}},{}]}"#;
        let mut buffer = vec![text("old"); 7];
        let len = cells_into(raw, Some(&[true, false, true]), &mut buffer).unwrap();
        assert_eq!(&buffer[..len], &[text("a"), Cell::Empty, Cell::Empty, Cell::Empty]);
        let len = cells_into(raw, None, &mut buffer).unwrap();
        assert_eq!(&buffer[..len], &[text("a"), Cell::Number("2".into()), Cell::Empty, Cell::Bool(false)]);
        assert_eq!(cells_into(b"{}", None, &mut buffer).unwrap(), 0);
        assert!(cells_into(b"[1]", None, &mut buffer).is_err());
    }
}
