//! Long answers read as they arrive: the elements of one array of a JSON object, one at a time.
//!
//! A read of a long tab answers with tens of megabytes, nearly all of them one array: the rows
//! of a `values.get`, the entries of a `developerMetadata:search`. Gathering such an answer
//! before reading it would make every pass hold the whole history, however little is ready.
//! Instead the bytes are cut into the array's elements as they come off the connection, and
//! each element is handed over whole and let go; only an element that straddles two chunks is
//! copied, and only until it is complete.
//!
//! The cutter follows just enough of JSON to find where elements begin and end: nesting,
//! strings and their escapes. It does not validate an element (whoever takes it parses it), but
//! it does check what lies around the array: an answer that is not one object, whose brackets
//! do not balance, that ends early or goes on after its end, is refused.

use memchr::memchr2;

use super::SheetsError;

/// Cuts the array under one key of a JSON object into its elements (see the module doc).
#[derive(Debug)]
pub(crate) struct ArrayCutter {
    /// The key of the array to cut, as it is spelled in the answer.
    key: &'static [u8],
    /// Containers open: 1 inside the object, 2 inside one of its values, 3 inside an element.
    depth: u32,
    in_string: bool,
    /// The last byte was a backslash inside a string.
    escaped: bool,
    /// Inside the object, the next string is a key.
    expect_key: bool,
    /// The key being read (only while it could still be `key`).
    key_read: Vec<u8>,
    /// The last key read was `key`: its value, if an array, is the one to cut.
    at_key: bool,
    /// Inside the array being cut.
    in_array: bool,
    /// An element is being read; `Some(true)` when it is an array or object.
    element: Option<bool>,
    /// The part of the element in progress that came in earlier chunks.
    partial: Vec<u8>,
    /// The object's closing brace has been read.
    closed: bool,
}

impl ArrayCutter {
    pub(crate) fn new(key: &'static str) -> ArrayCutter {
        ArrayCutter {
            key: key.as_bytes(),
            depth: 0,
            in_string: false,
            escaped: false,
            expect_key: false,
            key_read: Vec::new(),
            at_key: false,
            in_array: false,
            element: None,
            partial: Vec::new(),
            closed: false,
        }
    }

    /// Reads the next piece of the answer, calling `each` with every element it completes.
    pub(crate) fn push(
        &mut self,
        chunk: &[u8],
        mut each: impl FnMut(&[u8]) -> Result<(), SheetsError>,
    ) -> Result<(), SheetsError> {
        // Where the element in progress starts in this chunk (0 when it began in an earlier one).
        let mut start = 0;
        let mut i = 0;
        while i < chunk.len() {
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
                            if self.element == Some(false) && self.depth == 2 {
                                // A string element ends with its closing quote.
                                self.emit(chunk, start, i + 1, &mut each)?;
                            }
                        }
                        i += 1;
                    }
                }
                continue;
            }
            if self.depth >= 3 {
                // Inside an element only strings and brackets matter: step over the rest.
                match chunk[i..].iter().position(|&b| INSIDE_ELEMENT[usize::from(b)]) {
                    Some(at) => i += at,
                    None => break,
                }
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
                    if self.depth == 0 {
                        return Err(malformed("it is not an object"));
                    }
                    self.in_string = true;
                    if self.depth == 1 && self.expect_key {
                        self.key_read.clear();
                    }
                    if self.starts_element() {
                        self.element = Some(false);
                        start = i;
                    }
                }
                b'{' | b'[' => {
                    if self.depth == 0 {
                        if byte != b'{' {
                            return Err(malformed("it is not an object"));
                        }
                        self.expect_key = true;
                    } else if self.depth == 1 && byte == b'[' && self.at_key && !self.expect_key {
                        self.in_array = true;
                    } else if self.starts_element() {
                        self.element = Some(true);
                        start = i;
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err(malformed("its brackets do not balance"));
                    }
                    if self.in_array && self.depth == 2 {
                        // The array itself closes; a number or literal ends with it.
                        if self.element == Some(false) {
                            self.emit(chunk, start, i, &mut each)?;
                        }
                        self.in_array = false;
                    }
                    self.depth -= 1;
                    if self.in_array && self.depth == 2 && self.element == Some(true) {
                        self.emit(chunk, start, i + 1, &mut each)?;
                    }
                    if self.depth == 0 {
                        self.closed = true;
                    }
                }
                b':' if self.depth == 1 => self.expect_key = false,
                b',' if self.depth == 1 => {
                    self.expect_key = true;
                    self.at_key = false;
                }
                b',' if self.in_array && self.depth == 2 && self.element == Some(false) => {
                    self.emit(chunk, start, i, &mut each)?;
                }
                // Separators anywhere else.
                b',' | b':' => {}
                _ => {
                    if self.depth == 0 {
                        return Err(malformed("it is not an object"));
                    }
                    if self.starts_element() {
                        self.element = Some(false);
                        start = i;
                    }
                }
            }
            i += 1;
        }
        if self.element.is_some() {
            self.partial.extend_from_slice(&chunk[start..]);
        }
        Ok(())
    }

    /// The answer is complete: refuses one that ended early.
    pub(crate) fn finish(self) -> Result<(), SheetsError> {
        if self.closed { Ok(()) } else { Err(malformed("it ends early")) }
    }

    /// A value starting here is an element of the array being cut.
    fn starts_element(&self) -> bool {
        self.in_array && self.depth == 2 && self.element.is_none()
    }

    fn take_key_bytes(&mut self, bytes: &[u8]) {
        // Only a key that can still turn out to be `key` is kept: values may be megabytes long.
        if self.depth == 1 && self.expect_key && self.key_read.len() + bytes.len() <= self.key.len() + 1 {
            self.key_read.extend_from_slice(bytes);
        }
    }

    fn string_closed(&mut self) {
        if self.depth == 1 && self.expect_key {
            self.at_key = self.key_read == self.key;
        }
    }

    /// Hands over the element in progress, which ends before `end` in `chunk`.
    fn emit(
        &mut self,
        chunk: &[u8],
        start: usize,
        end: usize,
        each: &mut impl FnMut(&[u8]) -> Result<(), SheetsError>,
    ) -> Result<(), SheetsError> {
        self.element = None;
        let outcome = if self.partial.is_empty() {
            each(chunk[start..end].trim_ascii_end())
        } else {
            self.partial.extend_from_slice(&chunk[start..end]);
            each(self.partial.trim_ascii_end())
        };
        self.partial.clear();
        outcome
    }
}

/// The bytes that matter inside an element: where strings and containers begin and end.
pub(super) const INSIDE_ELEMENT: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table[b'[' as usize] = true;
    table[b']' as usize] = true;
    table[b'{' as usize] = true;
    table[b'}' as usize] = true;
    table
};

/// Where the first `"` or `\` is. Most cells are a few characters long: those are looked at
/// byte by byte, which costs less than setting up a vectorised search for each of them.
pub(super) fn quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    const SHORT: usize = 16;
    let head = &bytes[..bytes.len().min(SHORT)];
    match head.iter().position(|&b| b == b'"' || b == b'\\') {
        Some(at) => Some(at),
        None if bytes.len() > SHORT => memchr2(b'"', b'\\', &bytes[SHORT..]).map(|at| at + SHORT),
        None => None,
    }
}

pub(super) fn malformed(why: &str) -> SheetsError {
    SheetsError::Rejected { message: format!("Google's answer could not be decoded: {why}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    /// The elements serde finds under `key`, as text.
    fn by_serde(text: &str, key: &str) -> Vec<String> {
        let object: std::collections::HashMap<String, &RawValue> = serde_json::from_str(text).unwrap();
        match object.get(key).map(|raw| serde_json::from_str::<Vec<&RawValue>>(raw.get())) {
            Some(Ok(elements)) => elements.into_iter().map(|e| e.get().to_owned()).collect(),
            _ => Vec::new(),
        }
    }

    fn cut(pieces: &[&[u8]], key: &'static str) -> Result<Vec<String>, SheetsError> {
        let mut cutter = ArrayCutter::new(key);
        let mut found = Vec::new();
        for piece in pieces {
            cutter.push(piece, |element| {
                found.push(String::from_utf8(element.to_vec()).unwrap());
                Ok(())
            })?;
        }
        cutter.finish()?;
        Ok(found)
    }

    const ANSWER: &str = r#" {"range":"'inv_tbl'!A1:Z9","values" : [ ["a","b"] , [], ["x\"]y", null, -3.5e2, [1,"]"], {"k":"}"}], "s\\", 12 , true ],"majorDimension":"ROWS", "other":[["no"]]} "#;

    #[test]
    fn elements_are_cut_as_serde_reads_them() {
        let expected = by_serde(ANSWER, "values");
        assert_eq!(expected.len(), 6);
        assert_eq!(cut(&[ANSWER.as_bytes()], "values").unwrap(), expected);
        // Any other array of the object is left alone, however it nests.
        assert_eq!(cut(&[ANSWER.as_bytes()], "other").unwrap(), vec![r#"["no"]"#]);
        assert!(cut(&[ANSWER.as_bytes()], "range").unwrap().is_empty(), "not an array");
        assert!(cut(&[br#"{"range":"x"}"#], "values").unwrap().is_empty(), "no values at all");
        assert!(cut(&[br#"{"values":[]}"#], "values").unwrap().is_empty());
        // Elements that are objects, as a search's are.
        let search = r#"{"matchedDeveloperMetadata":[{"developerMetadata":{"a":"}"}},{"b":[2]} ,{}]}"#;
        assert_eq!(
            cut(&[search.as_bytes()], "matchedDeveloperMetadata").unwrap(),
            by_serde(search, "matchedDeveloperMetadata")
        );
        // A key that is only the start of another key, or a string value spelled like the key.
        assert!(cut(&[br#"{"valuesX":[[1]],"a":"values","b":[[2]]}"#], "values").unwrap().is_empty());
    }

    #[test]
    fn answers_that_are_not_one_whole_object_are_refused() {
        for bad in
            [&b"<html>"[..], b"[[1]]", b"{\"values\":[[1]]", b"{\"values\":[[1]]}}", b"{\"values\":[[1]]} x", b""]
        {
            assert!(
                matches!(cut(&[bad], "values"), Err(SheetsError::Rejected { .. })),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn an_element_that_fails_its_reader_stops_the_read() {
        let mut cutter = ArrayCutter::new("values");
        let mut seen = 0;
        let outcome = cutter.push(br#"{"values":[[1],[2],[3]]}"#, |_| {
            seen += 1;
            if seen == 2 { Err(malformed("no")) } else { Ok(()) }
        });
        assert!(outcome.is_err());
        assert_eq!(seen, 2);
    }

    fn answer() -> impl Strategy<Value = String> {
        let cell = prop_oneof![
            "[a-z\"\\\\\\]\\[{},: ]{0,6}".prop_map(|s| serde_json::to_string(&s).unwrap()),
            any::<i32>().prop_map(|n| n.to_string()),
            Just("null".to_owned()),
            Just("1.5e3".to_owned()),
            Just("[1,[\"]\"]]".to_owned()),
            Just("{\"k\":[1,{}],\"}\":\"{\"}".to_owned()),
        ];
        let row = prop::collection::vec(cell, 0..5).prop_map(|cells| format!("[{}]", cells.join(",")));
        prop::collection::vec(row, 0..8).prop_map(|rows| {
            format!(r#"{{"range":"A1:Z9", "values":[ {} ] ,"x":{{"values":[[9]]}}}}"#, rows.join(" , "))
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
            prop_assert_eq!(cut(&pieces, "values").unwrap(), by_serde(&text, "values"));
        }
    }
}
