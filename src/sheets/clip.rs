//! Google's limit on one cell: 50,000 characters. A write carrying a longer cell is refused
//! whole (400 INVALID_ARGUMENT, reference §8), so one long error message would hold back every
//! id, link and status of the same write. Every cell qbsync writes is clipped here first.
//!
//! Google does not say how it counts characters. The pessimistic reading is UTF-16 code units
//! (what JavaScript's `length` counts, where an emoji is two), so that is what is counted.

use std::borrow::Cow;

use crate::domain::Cell;

/// The most characters Google accepts in one cell.
pub const MAX_CELL_CHARS: usize = 50_000;

/// What a clipped cell ends with, so the reader sees there was more.
pub const CLIP_MARKER: char = '…';

/// `cell`, clipped at a character boundary to at most [`MAX_CELL_CHARS`] UTF-16 units, marker
/// included. Borrowed when it already fits (nearly always).
pub fn clip_cell(cell: &Cell) -> Cow<'_, Cell> {
    let Cell::Text(text) = cell else { return Cow::Borrowed(cell) };
    if text.len() <= MAX_CELL_CHARS || utf16_len(text) <= MAX_CELL_CHARS {
        return Cow::Borrowed(cell);
    }
    let room = MAX_CELL_CHARS - CLIP_MARKER.len_utf16();
    let mut used = 0;
    let mut end = 0;
    for (at, ch) in text.char_indices() {
        if used + ch.len_utf16() > room {
            break;
        }
        used += ch.len_utf16();
        end = at + ch.len_utf8();
    }
    let mut clipped = text[..end].to_owned();
    clipped.push(CLIP_MARKER);
    Cow::Owned(Cell::text(clipped))
}

/// The length Google is assumed to count.
pub fn utf16_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_that_fits_is_sent_as_it_is() {
        let cell = Cell::text("x".repeat(MAX_CELL_CHARS));
        assert!(matches!(clip_cell(&cell), Cow::Borrowed(_)));
        assert!(matches!(clip_cell(&Cell::Number("1".into())), Cow::Borrowed(_)));
    }

    #[test]
    fn a_long_cell_is_clipped_to_the_limit_with_a_visible_marker() {
        let clipped = clip_cell(&Cell::text("x".repeat(MAX_CELL_CHARS + 37))).into_owned();
        let text = clipped.as_text();
        assert_eq!(utf16_len(&text), MAX_CELL_CHARS);
        assert!(text.ends_with("x…"));
    }

    #[test]
    fn clipping_never_splits_a_character() {
        // Emoji are two UTF-16 units and four bytes: the cut falls between two of them.
        let clipped = clip_cell(&Cell::text("🙂".repeat(30_000))).into_owned();
        let text = clipped.as_text();
        assert!(utf16_len(&text) <= MAX_CELL_CHARS);
        assert_eq!(text.chars().filter(|c| *c == '🙂').count(), (MAX_CELL_CHARS - 1) / 2);
        assert!(text.ends_with('…'));
    }
}
