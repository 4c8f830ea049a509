//! A `spreadsheets.get` answer with grid data, cut as it arrives into its rows and their
//! metadata.
//!
//! Where a `values.get` answer is one long array under one key (see `super::stream`), a grid
//! answer nests its long arrays three levels down:
//! `{"sheets":[{"data":[{"rowData":[…],"rowMetadata":[…]}, …]}]}`, one `data` element (a
//! `GridData`) per range asked for. This cutter follows the same few rules of JSON as
//! `ArrayCutter` (nesting, strings, escapes), keeps a stack of the containers it is in and the
//! key each object is at, and hands over every element of a `rowData` or `rowMetadata` array,
//! whole, with which `GridData` (counted across the answer) and which array it belongs to. An
//! element is copied only when it straddles two chunks, and only if the reader wants it: the
//! parts of the answer a read does not use are stepped over without being gathered.

use super::SheetsError;
use super::stream::{malformed, quote_or_backslash};

/// Which array of a `GridData` an element belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// `rowData[i]`: row `i` of the range, its cells.
    RowData,
    /// `rowMetadata[i]`: row `i` of the range, its `DimensionProperties`.
    RowMetadata,
}

/// What the cutter finds, in the order the answer holds it.
pub(crate) trait GridEvents {
    /// `GridData` number `data` (0 for the first range asked for) begins.
    fn grid_data(&mut self, data: usize) -> Result<(), SheetsError>;

    /// Whether elements of `part` of `GridData` `data` are wanted (the others are stepped over).
    fn wants(&self, data: usize, part: Part) -> bool;

    /// Element `index` of `part` of `GridData` `data`, exactly as sent.
    fn element(&mut self, data: usize, part: Part, index: usize, bytes: &[u8]) -> Result<(), SheetsError>;
}

/// The keys the cutter steers by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Sheets,
    Data,
    RowData,
    RowMetadata,
    Other,
}

impl Key {
    fn of(bytes: &[u8]) -> Key {
        match bytes {
            b"sheets" => Key::Sheets,
            b"data" => Key::Data,
            b"rowData" => Key::RowData,
            b"rowMetadata" => Key::RowMetadata,
            _ => Key::Other,
        }
    }
}

/// The longest key the cutter steers by; longer keys are not kept while read.
const LONGEST_KEY: usize = "rowMetadata".len();

/// One container open outside the elements.
#[derive(Clone, Copy, Debug)]
struct Frame {
    object: bool,
    /// In an object: the key of the member being read (or about to be).
    key: Key,
    /// In an array: elements begun so far.
    count: usize,
}

/// Where an element being read belongs, and whether its bytes are kept.
#[derive(Clone, Copy, Debug)]
struct Element {
    data: usize,
    part: Part,
    index: usize,
    keep: bool,
}

/// Where stepping through an element stopped.
enum Inside {
    /// The element ends just before this index of the chunk.
    EndsAt(usize),
    /// The chunk ended inside it.
    GoesOn,
}

/// Cuts a grid answer into the elements of its `rowData` and `rowMetadata` arrays (see the
/// module doc).
#[derive(Debug, Default)]
pub(crate) struct GridCutter {
    stack: Vec<Frame>,
    /// Inside the innermost object, the next string is a key.
    expect_key: bool,
    in_string: bool,
    escaped: bool,
    /// The string being read is a key, kept in `key_read` while it can still be one we steer by.
    reading_key: bool,
    key_read: Vec<u8>,
    /// `GridData` objects begun so far, and the one being read.
    grids: usize,
    /// The element being read, and how deep inside it the cutter is (0: not in one).
    element: Option<Element>,
    depth_in_element: u32,
    /// The part of a kept element that came in earlier chunks.
    partial: Vec<u8>,
    /// The top-level object has been closed.
    closed: bool,
}

impl GridCutter {
    pub(crate) fn new() -> GridCutter {
        GridCutter::default()
    }

    /// Reads the next piece of the answer, telling `events` what it completes.
    pub(crate) fn push(&mut self, chunk: &[u8], events: &mut impl GridEvents) -> Result<(), SheetsError> {
        // Where the element in progress starts in this chunk (0 when it began in an earlier one).
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
            if self.depth_in_element > 0 {
                // Nearly every byte of an answer is inside a row: stepped over in one tight loop.
                match self.step_inside_element(chunk, i) {
                    Inside::EndsAt(end) => {
                        self.emit(chunk, start, end, events)?;
                        i = end;
                    }
                    Inside::GoesOn => i = chunk.len(),
                }
                continue;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    self.take_key_bytes(&chunk[i..=i]);
                    i += 1;
                    continue;
                }
                match quote_or_backslash(&chunk[i..]) {
                    None => {
                        self.take_key_bytes(&chunk[i..]);
                        i = chunk.len();
                    }
                    Some(at) => {
                        self.take_key_bytes(&chunk[i..i + at]);
                        i += at;
                        if chunk[i] == b'\\' {
                            self.escaped = true;
                            self.take_key_bytes(&chunk[i..=i]);
                        } else {
                            self.in_string = false;
                            self.string_closed();
                        }
                        i += 1;
                    }
                }
                continue;
            }
            let byte = chunk[i];
            if self.closed {
                if !byte.is_ascii_whitespace() {
                    return Err(malformed("it goes on after its end"));
                }
                i += 1;
                continue;
            }
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    if self.stack.is_empty() {
                        return Err(malformed("it is not an object"));
                    }
                    if self.in_element_array() {
                        return Err(malformed("a row is not an object"));
                    }
                    self.in_string = true;
                    self.reading_key = self.expect_key && self.top_is_object();
                    self.key_read.clear();
                }
                b'{' | b'[' => {
                    if self.stack.is_empty() && byte != b'{' {
                        return Err(malformed("it is not an object"));
                    }
                    if let Some((part, index)) = self.element_at() {
                        let data = self.grids.saturating_sub(1);
                        let keep = events.wants(data, part);
                        self.element = Some(Element { data, part, index, keep });
                        self.depth_in_element = 1;
                        start = i;
                    } else {
                        if byte == b'{' && self.at_grid_data() {
                            events.grid_data(self.grids)?;
                            self.grids += 1;
                        }
                        self.count_element();
                        self.stack.push(Frame { object: byte == b'{', key: Key::Other, count: 0 });
                        self.expect_key = byte == b'{';
                    }
                }
                b'}' | b']' => {
                    let Some(frame) = self.stack.pop() else {
                        return Err(malformed("its brackets do not balance"));
                    };
                    if frame.object != (byte == b'}') {
                        return Err(malformed("its brackets do not balance"));
                    }
                    self.expect_key = false;
                    if self.stack.is_empty() {
                        self.closed = true;
                    }
                }
                b':' => self.expect_key = false,
                b',' => self.expect_key = self.top_is_object(),
                _ => {
                    if self.stack.is_empty() {
                        return Err(malformed("it is not an object"));
                    }
                    if self.in_element_array() {
                        return Err(malformed("a row is not an object"));
                    }
                    // A number or literal outside the rows: nothing to steer by.
                    self.count_element();
                }
            }
            i += 1;
        }
        if let Some(element) = self.element
            && element.keep
        {
            self.partial.extend_from_slice(&chunk[start..]);
        }
        Ok(())
    }

    /// Steps through the element being read from `chunk[i]`: only strings (whose brackets do
    /// not count) and brackets matter. The state lives in locals for the loop, so the compiler
    /// keeps it in registers; it is written back where the loop stops.
    fn step_inside_element(&mut self, chunk: &[u8], mut i: usize) -> Inside {
        let mut depth = self.depth_in_element;
        let mut in_string = self.in_string;
        let mut escaped = self.escaped;
        let mut outcome = Inside::GoesOn;
        while i < chunk.len() {
            if in_string && !escaped {
                // Keys and cell texts are most of the bytes: their ends are searched for, not
                // stepped to.
                match quote_or_backslash(&chunk[i..]) {
                    Some(at) => i += at,
                    None => break,
                }
            }
            let byte = chunk[i];
            i += 1;
            if in_string {
                if escaped {
                    escaped = false;
                } else if byte == b'\\' {
                    escaped = true;
                } else if byte == b'"' {
                    in_string = false;
                }
                continue;
            }
            match byte {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        outcome = Inside::EndsAt(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        self.depth_in_element = depth;
        self.in_string = in_string;
        self.escaped = escaped;
        outcome
    }

    /// The answer is complete: refuses one that ended early.
    pub(crate) fn finish(self) -> Result<(), SheetsError> {
        if self.closed { Ok(()) } else { Err(malformed("it ends early")) }
    }

    fn top_is_object(&self) -> bool {
        self.stack.last().is_some_and(|frame| frame.object)
    }

    /// A value starting now is an element of an array: count it (numbers and literals too,
    /// though they are never cut out).
    fn count_element(&mut self) {
        if let Some(frame) = self.stack.last_mut()
            && !frame.object
        {
            frame.count += 1;
        }
    }

    /// The stack is `{"sheets":[{"data":[{` and the innermost key is one of ours: the arrays
    /// under it are cut. Answers which, if the cutter is just inside one.
    fn element_array(&self) -> Option<Part> {
        let [sheets, sheet_list, data, data_list, grid, array] = self.stack.as_slice() else { return None };
        let path = sheets.object
            && sheets.key == Key::Sheets
            && !sheet_list.object
            && data.object
            && data.key == Key::Data
            && !data_list.object
            && grid.object
            && !array.object;
        match grid.key {
            Key::RowData if path => Some(Part::RowData),
            Key::RowMetadata if path => Some(Part::RowMetadata),
            _ => None,
        }
    }

    fn in_element_array(&self) -> bool {
        self.element_array().is_some()
    }

    /// If a container opening now is an element to cut: its part and index.
    fn element_at(&mut self) -> Option<(Part, usize)> {
        let part = self.element_array()?;
        let frame = self.stack.last_mut()?;
        frame.count += 1;
        Some((part, frame.count - 1))
    }

    /// An object opening now is a `GridData`: the stack is `{"sheets":[{"data":[`.
    fn at_grid_data(&self) -> bool {
        matches!(self.stack.as_slice(), [sheets, sheet_list, data, data_list]
            if sheets.key == Key::Sheets && !sheet_list.object && data.object && data.key == Key::Data && !data_list.object)
    }

    fn take_key_bytes(&mut self, bytes: &[u8]) {
        if self.reading_key && self.key_read.len() + bytes.len() <= LONGEST_KEY + 1 {
            self.key_read.extend_from_slice(bytes);
        }
    }

    fn string_closed(&mut self) {
        if self.depth_in_element > 0 {
            return;
        }
        if std::mem::take(&mut self.reading_key) {
            let key = Key::of(&self.key_read);
            if let Some(frame) = self.stack.last_mut() {
                frame.key = key;
            }
        } else {
            self.count_element();
        }
    }

    /// Hands over the element in progress, which ends before `end` in `chunk`.
    fn emit(
        &mut self,
        chunk: &[u8],
        start: usize,
        end: usize,
        events: &mut impl GridEvents,
    ) -> Result<(), SheetsError> {
        let Some(element) = self.element.take() else { return Ok(()) };
        if !element.keep {
            return Ok(());
        }
        let outcome = if self.partial.is_empty() {
            events.element(element.data, element.part, element.index, &chunk[start..end])
        } else {
            self.partial.extend_from_slice(&chunk[start..end]);
            events.element(element.data, element.part, element.index, &self.partial)
        };
        self.partial.clear();
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Records everything the cutter reports.
    #[derive(Default)]
    struct Seen {
        grids: Vec<usize>,
        elements: Vec<(usize, Part, usize, String)>,
        skip_metadata_of: Option<usize>,
    }

    impl GridEvents for Seen {
        fn grid_data(&mut self, data: usize) -> Result<(), SheetsError> {
            self.grids.push(data);
            Ok(())
        }

        fn wants(&self, data: usize, part: Part) -> bool {
            !(part == Part::RowMetadata && self.skip_metadata_of == Some(data))
        }

        fn element(&mut self, data: usize, part: Part, index: usize, bytes: &[u8]) -> Result<(), SheetsError> {
            self.elements.push((data, part, index, String::from_utf8(bytes.to_vec()).unwrap()));
            Ok(())
        }
    }

    fn cut(pieces: &[&[u8]], seen: &mut Seen) -> Result<(), SheetsError> {
        let mut cutter = GridCutter::new();
        for piece in pieces {
            cutter.push(piece, seen)?;
        }
        cutter.finish()
    }

    /// What serde finds at the same places.
    fn by_serde(text: &str) -> Vec<(usize, Part, usize, String)> {
        let answer: serde_json::Value = serde_json::from_str(text).unwrap();
        let mut found = Vec::new();
        let grids = answer["sheets"].as_array().into_iter().flatten().flat_map(|s| s["data"].as_array()).flatten();
        for (data, grid) in grids.enumerate() {
            for (key, part) in [("rowData", Part::RowData), ("rowMetadata", Part::RowMetadata)] {
                for (index, element) in grid[key].as_array().into_iter().flatten().enumerate() {
                    found.push((data, part, index, element.to_string()));
                }
            }
        }
        found
    }

    /// Elements compared as JSON, whatever their spacing.
    fn normalised(elements: Vec<(usize, Part, usize, String)>) -> Vec<(usize, Part, usize, String)> {
        let mut out: Vec<_> = elements
            .into_iter()
            .map(|(d, p, i, text)| (d, p, i, serde_json::from_str::<serde_json::Value>(&text).unwrap().to_string()))
            .collect();
        out.sort_by_key(|(d, p, i, _)| (*d, *p == Part::RowMetadata, *i));
        out
    }

    const ANSWER: &str = r#" {"sheets" : [ {"properties":{"title":"inv_tbl","data":[[1]]},
        "data":[{"rowData":[{"values":[{"effectiveValue":{"stringValue":"a\"]}"}}]},{}],
                 "rowMetadata":[{},{"developerMetadata":[{"metadataId":7,"metadataKey":"qbsync.row","metadataValue":"k"}]}]},
                {"startColumn":2,"rowMetadata":[ {} ],"rowData":[{"values":[{},{"effectiveValue":{"numberValue":1.5}}]}],
                 "columnMetadata":[{"developerMetadata":[]}]}]}],
        "rowData":[{"not":"this"}], "spreadsheetId":"x"} "#;

    #[test]
    fn rows_and_their_metadata_are_cut_as_serde_reads_them() {
        let mut seen = Seen::default();
        cut(&[ANSWER.as_bytes()], &mut seen).unwrap();
        assert_eq!(seen.grids, vec![0, 1]);
        assert_eq!(seen.elements.len(), 6);
        assert_eq!(normalised(seen.elements), normalised(by_serde(ANSWER)));
    }

    #[test]
    fn unwanted_elements_are_stepped_over() {
        let mut seen = Seen { skip_metadata_of: Some(0), ..Seen::default() };
        cut(&[ANSWER.as_bytes()], &mut seen).unwrap();
        assert!(!seen.elements.iter().any(|(d, p, _, _)| *d == 0 && *p == Part::RowMetadata));
        assert_eq!(seen.elements.len(), 4);
    }

    #[test]
    fn answers_that_are_not_one_whole_object_are_refused() {
        for bad in [
            &b"<html>"[..],
            b"[1]",
            b"{\"sheets\":[{\"data\":[{\"rowData\":[{}]}]}]",
            b"{\"sheets\":[]}}",
            b"{\"sheets\":[]} x",
            b"{\"sheets\":[{\"data\":[{\"rowData\":[1]}]}]}",
            b"{\"sheets\":[{\"data\":[{\"rowData\":[\"a\"]}]}]}",
            b"{\"sheets\":[}",
            b"",
        ] {
            let outcome = cut(&[bad], &mut Seen::default());
            assert!(matches!(outcome, Err(SheetsError::Rejected { .. })), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    fn answer() -> impl Strategy<Value = String> {
        let text = "[a-z\"\\\\\\]\\[{},: ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap());
        let cell = prop_oneof![
            Just("{}".to_owned()),
            text.clone().prop_map(|t| format!(r#"{{"effectiveValue":{{"stringValue":{t}}}}}"#)),
            any::<i32>().prop_map(|n| format!(r#"{{"effectiveValue":{{"numberValue":{n}}}}}"#)),
        ];
        let row = prop::collection::vec(cell, 0..4).prop_map(|cells| format!(r#"{{"values":[{}]}}"#, cells.join(",")));
        let meta = prop_oneof![
            Just("{}".to_owned()),
            text.prop_map(|t| format!(r#"{{"developerMetadata":[{{"metadataId":1,"metadataValue":{t}}}]}}"#)),
        ];
        let grid = (prop::collection::vec(row, 0..5), prop::collection::vec(meta, 0..5)).prop_map(|(rows, metas)| {
            format!(r#"{{"rowData":[{}], "rowMetadata" : [{}]}}"#, rows.join(","), metas.join(" , "))
        });
        prop::collection::vec(grid, 0..3).prop_map(|grids| {
            format!(r#"{{"sheets":[{{"properties":{{"title":"t"}},"data":[{}]}}]}}"#, grids.join(","))
        })
    }

    proptest! {
        /// However the connection splits the answer, the elements are the ones serde reads.
        #[test]
        fn chunk_boundaries_do_not_matter(text in answer(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6)) {
            let bytes = text.as_bytes();
            let mut at: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
            at.sort_unstable();
            let mut pieces = Vec::new();
            let mut from = 0;
            for to in at.into_iter().chain([bytes.len()]) {
                pieces.push(&bytes[from..to]);
                from = to;
            }
            let mut seen = Seen::default();
            cut(&pieces, &mut seen).unwrap();
            prop_assert_eq!(normalised(seen.elements), normalised(by_serde(&text)));
        }
    }
}
