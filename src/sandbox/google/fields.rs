//! Partial responses: the `fields` system parameter every Google API accepts; and, in the same
//! syntax, the field masks of updates (which fields an update request may change).
//!
//! `fields=properties(title),sheets/properties/sheetId` asks for those parts of the answer and
//! nothing else. qbsync sends it where an answer is large and it needs little of it (the anchor
//! search repeats each entry's filter, tens of megabytes on a long sheet), so the emulator must
//! honour it as Google does: objects keep only the selected members, arrays apply the
//! selection to each element, and a malformed selection is a 400 naming it.

use std::collections::BTreeMap;

use serde_json::Value;

/// A parsed selection: member name (or `*`) → what to keep of it (`None`: all of it).
#[derive(Debug, Default, PartialEq)]
pub struct Selection(BTreeMap<String, Option<Selection>>);

impl Selection {
    /// Parses a `fields` value: `a,b/c,d(e,f/g)`.
    pub fn parse(fields: &str) -> Result<Selection, String> {
        let invalid = || format!("Invalid field selection {fields}");
        let mut parser = Parser { text: fields.as_bytes(), at: 0 };
        let selection = parser.list().ok_or_else(invalid)?;
        if parser.at != parser.text.len() { Err(invalid()) } else { Ok(selection) }
    }

    /// True when the selection takes all of `path` (`a/b` or `a.b`): it names `path`, or an
    /// ancestor of it, whole. An update's field mask is this question asked of each field the
    /// update could change.
    pub fn covers(&self, path: &str) -> bool {
        let mut level = self;
        for name in path.split(['/', '.']) {
            match level.0.get(name).or_else(|| level.0.get("*")) {
                Some(None) => return true,
                Some(Some(inner)) => level = inner,
                None => return false,
            }
        }
        false
    }

    /// What to keep of member `name`: `None` when it is not selected, `Some(None)` when it is
    /// selected whole. For answers written piece by piece rather than built and then cut.
    pub fn member(&self, name: &str) -> Option<Option<&Selection>> {
        self.0.get(name).or_else(|| self.0.get("*")).map(Option::as_ref)
    }

    /// Keeps the selected parts of `value`.
    pub fn apply(&self, value: Value) -> Value {
        match value {
            Value::Object(members) => Value::Object(
                members
                    .into_iter()
                    .filter_map(|(name, member)| {
                        let wanted = self.0.get(&name).or_else(|| self.0.get("*"))?;
                        Some(match wanted {
                            Some(inner) => (name, inner.apply(member)),
                            None => (name, member),
                        })
                    })
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.into_iter().map(|item| self.apply(item)).collect()),
            scalar => scalar,
        }
    }

    /// Adds `path` (with what to keep at its end) to the selection, merging with what is there.
    fn add(&mut self, path: &[&str], leaf: Option<Selection>) {
        let Some((first, rest)) = path.split_first() else { return };
        let slot = self.0.entry((*first).to_owned());
        if rest.is_empty() {
            match (slot, leaf) {
                (std::collections::btree_map::Entry::Vacant(v), leaf) => {
                    v.insert(leaf);
                }
                // Asked for whole somewhere: whole it is.
                (std::collections::btree_map::Entry::Occupied(mut o), None) => {
                    o.insert(None);
                }
                (std::collections::btree_map::Entry::Occupied(mut o), Some(more)) => {
                    if let Some(existing) = o.get_mut() {
                        for (name, inner) in more.0 {
                            existing.add(&[&name], inner);
                        }
                    }
                }
            }
            return;
        }
        let inner = slot.or_insert_with(|| Some(Selection::default()));
        if let Some(inner) = inner {
            inner.add(rest, leaf);
        }
    }
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    /// `item (',' item)*`
    fn list(&mut self) -> Option<Selection> {
        let mut selection = Selection::default();
        loop {
            let path = self.path()?;
            let leaf = if self.eat(b'(') {
                let inner = self.list()?;
                self.eat(b')').then_some(Some(inner))?
            } else {
                None
            };
            let path: Vec<&str> = path.split('/').collect();
            selection.add(&path, leaf);
            if !self.eat(b',') {
                return Some(selection);
            }
        }
    }

    /// `name ('/' name)*`, names being identifiers or `*`.
    fn path(&mut self) -> Option<String> {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        let start = self.at;
        while self.at < self.text.len()
            && matches!(self.text[self.at], b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'*' | b'/' | b'.')
        {
            self.at += 1;
        }
        let path = std::str::from_utf8(&self.text[start..self.at]).ok()?.trim().replace('.', "/");
        let well_formed = !path.is_empty() && path.split('/').all(|name| !name.is_empty());
        well_formed.then_some(path)
    }

    fn eat(&mut self, byte: u8) -> bool {
        while self.text.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
        let found = self.text.get(self.at) == Some(&byte);
        if found {
            self.at += 1;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn keep(fields: &str, value: Value) -> Value {
        Selection::parse(fields).unwrap().apply(value)
    }

    #[test]
    fn members_nested_selections_and_arrays() {
        let answer = json!({
            "spreadsheetId": "s",
            "properties": {"title": "Books", "locale": "en_US", "timeZone": "Europe/Berlin"},
            "sheets": [
                {"properties": {"sheetId": 0, "title": "inv_tbl", "gridProperties": {"rowCount": 9, "columnCount": 3}}, "data": []},
                {"properties": {"sheetId": 7, "title": "notes"}}
            ]
        });
        assert_eq!(
            keep("properties(title,timeZone),sheets(properties(sheetId,gridProperties/rowCount))", answer.clone()),
            json!({
                "properties": {"title": "Books", "timeZone": "Europe/Berlin"},
                "sheets": [
                    {"properties": {"sheetId": 0, "gridProperties": {"rowCount": 9}}},
                    {"properties": {"sheetId": 7}}
                ]
            })
        );
        // Paths and parentheses mean the same; a member asked for whole stays whole.
        assert_eq!(
            keep("sheets/properties/sheetId,sheets/properties", answer.clone()),
            json!({"sheets": [{"properties": answer["sheets"][0]["properties"]}, {"properties": {"sheetId": 7, "title": "notes"}}]})
        );
        assert_eq!(keep("*", answer.clone()), answer);
        assert_eq!(keep("sheets(*)", answer.clone())["sheets"], answer["sheets"]);
        // Nothing selected that the answer has: an empty object, as Google answers.
        assert_eq!(keep("nextPageToken", answer), json!({}));
    }

    #[test]
    fn a_mask_covers_what_it_names_whole_and_everything_under_it() {
        let mask = Selection::parse("title,gridProperties.rowCount").unwrap();
        assert!(mask.covers("title"));
        assert!(mask.covers("gridProperties/rowCount"));
        assert!(!mask.covers("gridProperties/columnCount"));
        assert!(!mask.covers("gridProperties"), "only part of it");
        let whole = Selection::parse("gridProperties").unwrap();
        assert!(whole.covers("gridProperties.frozenRowCount"));
        assert!(!whole.covers("title"));
        assert!(Selection::parse("*").unwrap().covers("anything/at/all"));
    }

    #[test]
    fn malformed_selections_are_refused() {
        for bad in ["", "a(", "a(b", "a)", "a,,b", "a//b", "a(b)c", "/a"] {
            assert!(Selection::parse(bad).is_err(), "{bad:?}");
        }
        assert!(Selection::parse("a( b , c/d )").is_ok());
    }
}
