//! Developer metadata as the spreadsheet stores it: an entry, its visibility, what it is
//! anchored to, and where an anchor can be.
//!
//! A [`Spreadsheet`](super::spreadsheet::Spreadsheet) holds these and moves their anchors with
//! its rows, and `metadata.rs` resolves them against a spreadsheet (where an anchor is now, how
//! an entry renders, which entries a `DataFilter` selects). Being plain data that needs nothing
//! from either, they live here, below both, so neither file has to import the other.

/// One developer metadata entry.
#[derive(Clone, Debug, PartialEq)]
pub struct DeveloperMetadata {
    pub id: i32,
    pub key: String,
    pub value: Option<String>,
    pub visibility: Visibility,
    pub anchor: Anchor,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    Document,
    Project,
}

/// What the metadata is attached to. Rows and columns by identity, not by index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Spreadsheet,
    Sheet { sheet_id: i32 },
    Row { sheet_id: i32, uid: u64 },
    Column { sheet_id: i32, uid: u64 },
}

/// Where an anchor currently is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Spreadsheet,
    Sheet { sheet: usize },
    Row { sheet: usize, index: usize },
    Column { sheet: usize, index: usize },
}

impl Visibility {
    pub fn parse(text: &str) -> Option<Visibility> {
        match text {
            "DOCUMENT" => Some(Visibility::Document),
            "PROJECT" => Some(Visibility::Project),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Document => "DOCUMENT",
            Visibility::Project => "PROJECT",
        }
    }
}

impl Anchor {
    pub fn sheet_id(&self) -> Option<i32> {
        match *self {
            Anchor::Spreadsheet => None,
            Anchor::Sheet { sheet_id } | Anchor::Row { sheet_id, .. } | Anchor::Column { sheet_id, .. } => {
                Some(sheet_id)
            }
        }
    }
}
