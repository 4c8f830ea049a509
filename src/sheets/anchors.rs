//! Row anchors: developer metadata that gives a sheet row an identity which moves with it.
//!
//! A row number read a minute ago is not where that row is now: editors insert, delete and
//! sort. Developer metadata on a ROWS dimension range follows the row when rows are inserted
//! above it and disappears when the row is deleted (reference §5), so qbsync tags each row it
//! handles with `qbsync.row = <key>` and finds it again by searching for the key.
//! (Behaviour under sort is undocumented: the caller re-checks the row's own cells.)
//!
//! This file only builds the request bodies and reads the answers; the client sends them.

use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use rustc_hash::FxHasher;
use xxhash_rust::xxh3::{Xxh3Default, xxh3_128};

use google_sheets4::api::{
    BatchUpdateSpreadsheetRequest, CreateDeveloperMetadataRequest, DataFilter, DeleteDeveloperMetadataRequest,
    DeveloperMetadata, DeveloperMetadataLocation, DeveloperMetadataLookup, DimensionRange, Request,
    SearchDeveloperMetadataRequest,
};

use super::error::SheetsError;
use super::stream::ArrayCutter;

/// The developer-metadata key of row anchors.
pub const ANCHOR_KEY: &str = "qbsync.row";

/// An anchor found on the sheet.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RowAnchor {
    /// Google's id of the metadata entry (what [`update_anchors`](super::SheetsClient::update_anchors) deletes by).
    pub metadata_id: i32,
    /// The metadata value: the row's stable key.
    pub key: String,
    /// The row the anchor is on now, 0-based (0 is the header row).
    pub row: u32,
}

/// The anchors of the tab, with what is needed to read a later answer quickly (see
/// [`SheetsClient::anchors_like`](super::SheetsClient::anchors_like)): a digest of the answer,
/// so that one with the same entries gives back the same list, and a digest of each entry, so
/// that the entries that did not change are not parsed again. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Anchors {
    /// None for a list made by hand, which is never "the same answer" as another.
    answer: Option<[u8; 16]>,
    list: Arc<[RowAnchor]>,
    /// The tab they were read for, and the answer's entries in the order Google sent them
    /// (none for a list made by hand).
    sheet_id: Option<i32>,
    entries: Arc<[Entry]>,
}

/// One entry of a search answer, as read.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// XXH3-128 of the entry's bytes.
    digest: u128,
    read: EntryRead,
}

/// What an entry was found to be.
#[derive(Clone, Copy, Debug)]
enum EntryRead {
    /// Not an anchor of this tab.
    Other,
    /// The anchor at this index of the list (sorted, once the answer is complete).
    Anchor(u32),
    /// An anchor listed earlier in the same answer. In another answer it may be the first.
    Repeated,
}

impl Anchors {
    /// True when both were read for the same tab from answers with the same entries (so they
    /// list the same anchors).
    pub fn is_same_answer(&self, other: &Anchors) -> bool {
        Arc::ptr_eq(&self.list, &other.list)
            || (self.answer.is_some() && self.answer == other.answer && self.sheet_id == other.sheet_id)
    }

    /// What entry `at` of the answer was found to be, if its bytes had digest `digest`: an
    /// anchor, or none (`Some(None)`). None when it must be parsed.
    fn known_entry(&self, at: usize, digest: u128) -> Option<Option<&RowAnchor>> {
        let entry = self.entries.get(at).filter(|entry| entry.digest == digest)?;
        match entry.read {
            EntryRead::Other => Some(None),
            EntryRead::Anchor(index) => Some(Some(self.list.get(index as usize)?)),
            EntryRead::Repeated => None,
        }
    }
}

impl Anchors {
    /// The anchors of tab `sheet_id` read with its rows by a grid read (see `super::grid`),
    /// already sorted by row and id; `answer` digests the rows' metadata as sent. Such a list
    /// is "the same answer" only as another grid read's with the same metadata.
    pub(crate) fn from_grid(list: Vec<RowAnchor>, sheet_id: i32, answer: [u8; 16]) -> Anchors {
        debug_assert!(list.is_sorted_by_key(|anchor| (anchor.row, anchor.metadata_id)));
        Anchors { answer: Some(answer), list: list.into(), sheet_id: Some(sheet_id), entries: Arc::new([]) }
    }
}

impl From<Vec<RowAnchor>> for Anchors {
    fn from(list: Vec<RowAnchor>) -> Anchors {
        Anchors { answer: None, list: list.into(), sheet_id: None, entries: Arc::new([]) }
    }
}

impl std::ops::Deref for Anchors {
    type Target = [RowAnchor];

    fn deref(&self) -> &[RowAnchor] {
        &self.list
    }
}

/// An anchor to create.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewAnchor {
    /// The 0-based row to tag.
    pub row: u32,
    /// The row's stable key, stored as the metadata value.
    pub key: String,
}

/// The parts of a search answer [`parse_search`] reads (the `fields` parameter). Google would
/// otherwise repeat each entry's data filter and its location's type: on a sheet of 50,000
/// anchored rows, about half of an answer of 16 MB read on every busy pass.
pub(crate) const SEARCH_FIELDS: &str = "matchedDeveloperMetadata/developerMetadata(metadataId,metadataKey,metadataValue,location/dimensionRange(sheetId,dimension,startIndex))";

/// `developerMetadata:search` for every anchor in the spreadsheet. Narrowing to this tab and to
/// rows happens on the answer, so the search depends only on the key lookup.
pub(crate) fn search_request() -> SearchDeveloperMetadataRequest {
    SearchDeveloperMetadataRequest {
        data_filters: Some(vec![DataFilter {
            developer_metadata_lookup: Some(DeveloperMetadataLookup {
                metadata_key: Some(ANCHOR_KEY.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }]),
    }
}

/// [`search_request`] as the JSON body Google expects (absent fields left out, as the hub
/// sends them, not written as `null`).
pub(crate) fn search_body() -> Result<Vec<u8>, serde_json::Error> {
    let mut value = serde_json::to_value(search_request())?;
    google_sheets4::common::remove_json_null_values(&mut value);
    serde_json::to_vec(&value)
}

/// Reads a search answer as it arrives into the anchors of tab `sheet_id`, sorted by row.
/// Entries of other tabs, on columns, with another key, or missing an id, value or row are not
/// anchors of this tab.
///
/// Each entry is read into lean types of our own as it is cut from the answer (see
/// [`super::stream`]), never the whole answer at once: on a sheet of 50,000 anchored rows the
/// answer is about 10 MB, and google-sheets4's full types, built after copying it, cost hundreds
/// of megabytes and most of a second on every pass. An entry whose bytes are those of the same
/// entry in an earlier answer (`known`) is not parsed at all: a busy pass reads the anchors up
/// to four times, and between two reads usually only a few entries change.
pub(crate) struct SearchReader {
    sheet_id: i32,
    known: Option<Anchors>,
    cutter: ArrayCutter,
    seen: HashSet<i32, BuildHasherDefault<FxHasher>>,
    /// The anchors read so far, in the answer's order.
    anchors: Vec<RowAnchor>,
    /// For each entry: its digest and the index of its anchor in `anchors`.
    entries: Vec<Entry>,
    /// A digest of the entries' digests, to tell a later answer with the same entries.
    answer: Xxh3Default,
}

impl SearchReader {
    pub(crate) fn new(sheet_id: i32, known: Option<Anchors>) -> SearchReader {
        SearchReader {
            sheet_id,
            // Which entries are anchors depends on the tab.
            known: known.filter(|known| known.sheet_id == Some(sheet_id)),
            cutter: ArrayCutter::new("matchedDeveloperMetadata"),
            seen: HashSet::default(),
            anchors: Vec::new(),
            entries: Vec::new(),
            answer: Xxh3Default::new(),
        }
    }

    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<(), SheetsError> {
        let SearchReader { sheet_id, known, seen, anchors, entries, answer, .. } = self;
        self.cutter.push(chunk, |entry| {
            let digest = xxh3_128(entry);
            answer.update(&digest.to_le_bytes());
            let anchor = match known.as_ref().and_then(|known| known.known_entry(entries.len(), digest)) {
                Some(anchor) => anchor.cloned(),
                None => {
                    let matched: wire::Matched<'_> = serde_json::from_slice(entry).map_err(|e| {
                        SheetsError::Rejected { message: format!("Google's answer could not be decoded: {e}") }
                    })?;
                    anchor_of(matched, *sheet_id)
                }
            };
            let read = match anchor {
                None => EntryRead::Other,
                // An id listed twice is one anchor.
                Some(anchor) if !seen.insert(anchor.metadata_id) => EntryRead::Repeated,
                Some(anchor) => {
                    anchors.push(anchor);
                    u32::try_from(anchors.len() - 1).map_or(EntryRead::Repeated, EntryRead::Anchor)
                }
            };
            entries.push(Entry { digest, read });
            Ok(())
        })
    }

    pub(crate) fn finish(self) -> Result<Anchors, SheetsError> {
        self.cutter.finish()?;
        let answer = Some(self.answer.digest128().to_le_bytes());
        if let Some(known) = self.known.filter(|known| known.answer.is_some() && known.answer == answer) {
            // Read for the same tab (see `new`), from the same entries.
            return Ok(known);
        }
        // Sorted by row; the entries then point into the sorted list.
        let mut read: Vec<(usize, RowAnchor)> = self.anchors.into_iter().enumerate().collect();
        read.sort_unstable_by_key(|(_, anchor)| (anchor.row, anchor.metadata_id));
        let mut sorted_at = vec![0; read.len()];
        for (at, (i, _)) in read.iter().enumerate() {
            sorted_at[*i] = at as u32;
        }
        let list: Arc<[RowAnchor]> = read.into_iter().map(|(_, anchor)| anchor).collect();
        let entries = self
            .entries
            .into_iter()
            .map(|entry| match entry.read {
                EntryRead::Anchor(i) => Entry { read: EntryRead::Anchor(sorted_at[i as usize]), ..entry },
                _ => entry,
            })
            .collect();
        Ok(Anchors { answer, list, sheet_id: Some(self.sheet_id), entries })
    }
}

fn anchor_of(matched: wire::Matched<'_>, sheet_id: i32) -> Option<RowAnchor> {
    let metadata = matched.developer_metadata?;
    if metadata.metadata_key.as_deref() != Some(ANCHOR_KEY) {
        return None;
    }
    let range = metadata.location?.dimension_range?;
    // Protobuf JSON omits zero values: an absent sheetId is sheet 0, an absent startIndex row 0.
    if range.sheet_id.unwrap_or(0) != sheet_id || range.dimension.as_deref() != Some("ROWS") {
        return None;
    }
    let row = u32::try_from(range.start_index.unwrap_or(0)).ok()?;
    Some(RowAnchor { metadata_id: metadata.metadata_id?, key: metadata.metadata_value?, row })
}

/// A whole search answer read at once, as [`SearchReader`] reads one arriving.
#[cfg(test)]
pub(crate) fn parse_search(body: &[u8], sheet_id: i32) -> Result<Anchors, SheetsError> {
    let mut reader = SearchReader::new(sheet_id, None);
    reader.push(body)?;
    reader.finish()
}

/// The few fields of a `developerMetadata:search` answer an anchor needs; the rest is skipped
/// unread. Names and types are the API's (`SearchDeveloperMetadataResponse`).
mod wire {
    use std::borrow::Cow;

    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Matched<'a> {
        #[serde(borrow)]
        pub developer_metadata: Option<Metadata<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Metadata<'a> {
        pub metadata_id: Option<i32>,
        #[serde(borrow)]
        pub metadata_key: Option<Cow<'a, str>>,
        pub metadata_value: Option<String>,
        #[serde(borrow)]
        pub location: Option<Location<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Location<'a> {
        #[serde(borrow)]
        pub dimension_range: Option<Range<'a>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Range<'a> {
        pub sheet_id: Option<i32>,
        #[serde(borrow)]
        pub dimension: Option<Cow<'a, str>>,
        pub start_index: Option<i32>,
    }
}

/// One `spreadsheets:batchUpdate` body: deletes by id, then one-row DOCUMENT anchors on `sheet_id`.
pub(crate) fn update_request(
    sheet_id: i32,
    create: &[NewAnchor],
    delete: &[i32],
) -> Result<BatchUpdateSpreadsheetRequest, SheetsError> {
    let deletes = delete.iter().map(|&id| Request {
        delete_developer_metadata: Some(DeleteDeveloperMetadataRequest {
            data_filter: Some(DataFilter {
                developer_metadata_lookup: Some(DeveloperMetadataLookup {
                    metadata_id: Some(id),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }),
        ..Default::default()
    });
    let creates = create.iter().map(|anchor| {
        let start = i32::try_from(anchor.row)
            .ok()
            .filter(|row| *row < i32::MAX)
            .ok_or_else(|| SheetsError::Rejected { message: format!("row {} is beyond any sheet", anchor.row) })?;
        Ok(Request {
            create_developer_metadata: Some(CreateDeveloperMetadataRequest {
                developer_metadata: Some(DeveloperMetadata {
                    metadata_key: Some(ANCHOR_KEY.to_owned()),
                    metadata_value: Some(anchor.key.clone()),
                    // DOCUMENT, not PROJECT: a key rotated to another Cloud project still sees them.
                    visibility: Some("DOCUMENT".to_owned()),
                    location: Some(DeveloperMetadataLocation {
                        dimension_range: Some(DimensionRange {
                            sheet_id: Some(sheet_id),
                            dimension: Some("ROWS".to_owned()),
                            start_index: Some(start),
                            end_index: Some(start + 1),
                        }),
                        ..Default::default()
                    }),
                    metadata_id: None,
                }),
            }),
            ..Default::default()
        })
    });
    let requests = deletes.map(Ok).chain(creates).collect::<Result<Vec<_>, SheetsError>>()?;
    Ok(BatchUpdateSpreadsheetRequest { requests: Some(requests), ..Default::default() })
}

/// What is still to do after an attempt whose outcome is unknown (a timeout, a lost answer, a
/// 5xx), given the anchors on the sheet now. Deletes whose anchor is gone are done. A create is
/// done when its key is anchored by something this update does not delete: if the lost attempt
/// did apply, sending the create again would anchor the key twice.
pub(crate) fn still_to_do(create: &[NewAnchor], delete: &[i32], current: &[RowAnchor]) -> (Vec<NewAnchor>, Vec<i32>) {
    let deleting: HashSet<i32> = delete.iter().copied().collect();
    let present: HashSet<i32> = current.iter().map(|a| a.metadata_id).collect();
    let anchored: HashSet<&str> =
        current.iter().filter(|a| !deleting.contains(&a.metadata_id)).map(|a| a.key.as_str()).collect();
    let create = create.iter().filter(|a| !anchored.contains(a.key.as_str())).cloned().collect();
    let delete = delete.iter().copied().filter(|id| present.contains(id)).collect();
    (create, delete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The JSON google-sheets4 sends for `body`: it serializes `None` as `null`, then strips nulls.
    fn wire(body: impl serde::Serialize) -> serde_json::Value {
        let mut value = serde_json::to_value(body).expect("serializes");
        google_sheets4::common::remove_json_null_values(&mut value);
        value
    }

    fn body(answer: serde_json::Value) -> Vec<u8> {
        answer.to_string().into_bytes()
    }

    fn anchor(metadata_id: i32, key: &str, row: u32) -> RowAnchor {
        RowAnchor { metadata_id, key: key.into(), row }
    }

    #[test]
    fn search_asks_for_the_anchor_key_only() {
        let expected = json!({"dataFilters": [{"developerMetadataLookup": {"metadataKey": "qbsync.row"}}]});
        assert_eq!(wire(search_request()), expected);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&search_body().unwrap()).unwrap(), expected);
    }

    #[test]
    fn parsing_keeps_row_anchors_of_this_tab_only() {
        let response = body(json!({"matchedDeveloperMetadata": [
            {"developerMetadata": {"metadataId": 7, "metadataKey": "qbsync.row", "metadataValue": "k-7", "visibility": "DOCUMENT",
                "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 5, "dimension": "ROWS", "startIndex": 16, "endIndex": 17}}},
             "dataFilters": [{"developerMetadataLookup": {"metadataKey": "qbsync.row"}}]},
            {"developerMetadata": {"metadataId": 3, "metadataKey": "qbsync.row", "metadataValue": "k-3", "visibility": "DOCUMENT",
                "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 5, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}}}},
            // another tab
            {"developerMetadata": {"metadataId": 4, "metadataKey": "qbsync.row", "metadataValue": "k-4",
                "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 6, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}}}},
            // a column
            {"developerMetadata": {"metadataId": 5, "metadataKey": "qbsync.row", "metadataValue": "k-5",
                "location": {"locationType": "COLUMN", "dimensionRange": {"sheetId": 5, "dimension": "COLUMNS", "startIndex": 2, "endIndex": 3}}}},
            // a whole-sheet entry
            {"developerMetadata": {"metadataId": 6, "metadataKey": "qbsync.row", "metadataValue": "k-6",
                "location": {"locationType": "SHEET", "sheetId": 5}}},
            // another key
            {"developerMetadata": {"metadataId": 8, "metadataKey": "other", "metadataValue": "x",
                "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 5, "dimension": "ROWS", "startIndex": 9, "endIndex": 10}}}},
            // the same entry matched twice
            {"developerMetadata": {"metadataId": 3, "metadataKey": "qbsync.row", "metadataValue": "k-3", "visibility": "DOCUMENT",
                "location": {"locationType": "ROW", "dimensionRange": {"sheetId": 5, "dimension": "ROWS", "startIndex": 2, "endIndex": 3}}}}
        ]}));
        assert_eq!(parse_search(&response, 5).unwrap().to_vec(), vec![anchor(3, "k-3", 2), anchor(7, "k-7", 16)]);
    }

    fn read(answer: &[u8], sheet_id: i32, known: Option<&Anchors>) -> Anchors {
        let mut reader = SearchReader::new(sheet_id, known.cloned());
        // In pieces, as a connection delivers it.
        for piece in answer.chunks(37) {
            reader.push(piece).unwrap();
        }
        reader.finish().unwrap()
    }

    #[test]
    fn an_answer_read_after_another_comes_out_as_if_read_afresh() {
        let entry = |id: i32, key: &str, sheet: i32, row: i32| {
            json!({"developerMetadata": {"metadataId": id, "metadataKey": "qbsync.row", "metadataValue": key,
                "location": {"dimensionRange": {"sheetId": sheet, "dimension": "ROWS", "startIndex": row}}}})
        };
        let answer = |entries: Vec<serde_json::Value>| body(json!({ "matchedDeveloperMetadata": entries }));
        let base = vec![entry(1, "a", 5, 1), entry(2, "b", 5, 2), entry(9, "x", 6, 3), entry(3, "c", 5, 3)];
        let answers = [
            answer(base.clone()),
            // a claim: one entry more at the end
            answer([base.clone(), vec![entry(4, "d", 5, 4)]].concat()),
            // a row inserted above: every row moves down
            answer(vec![entry(1, "a", 5, 2), entry(2, "b", 5, 3), entry(9, "x", 6, 3), entry(3, "c", 5, 4)]),
            // a row deleted: its entry is gone and the ones after it move up in the answer
            answer(vec![entry(1, "a", 5, 1), entry(9, "x", 6, 3), entry(3, "c", 5, 2)]),
            // the same entry twice, and entries in another order
            answer(vec![entry(3, "c", 5, 3), entry(3, "c", 5, 3), entry(1, "a", 5, 1), entry(2, "b", 5, 2)]),
            // an entry that was listed twice above, now listed once after another
            answer(vec![entry(2, "b", 5, 2), entry(3, "c", 5, 3)]),
            // another key on a row
            answer(vec![entry(1, "a", 5, 1), entry(2, "z", 5, 2), entry(9, "x", 6, 3), entry(3, "c", 5, 3)]),
            answer(Vec::new()),
        ];
        for before in &answers {
            for sheet in [5, 6] {
                let known = read(before, sheet, None);
                for now in &answers {
                    let fresh = read(now, 5, None);
                    let after = read(now, 5, Some(&known));
                    assert_eq!(after.to_vec(), fresh.to_vec());
                    assert_eq!(
                        after.is_same_answer(&known),
                        now == before && sheet == 5,
                        "the list read before is handed back only for the same answer on the same tab"
                    );
                    // What was read with help helps the next read as much as a fresh one.
                    assert_eq!(read(before, 5, Some(&after)).to_vec(), read(before, 5, None).to_vec());
                }
            }
        }
        assert_eq!(
            read(&answers[1], 5, None).to_vec(),
            vec![anchor(1, "a", 1), anchor(2, "b", 2), anchor(3, "c", 3), anchor(4, "d", 4)]
        );
    }

    /// Two search answers made of the same few entries: each leaves some out, so entries repeat,
    /// move to other places in the answer, or stay where they were.
    fn two_answers() -> impl proptest::strategy::Strategy<Value = (Vec<u8>, Vec<u8>)> {
        use proptest::prelude::*;
        let entry = (1..4i32, prop::sample::select(vec!["a", "b"]), 5..7i32, 0..3i32, any::<bool>()).prop_map(
            |(id, key, sheet, row, anchor)| {
                let metadata_key = if anchor { ANCHOR_KEY } else { "other" };
                json!({"developerMetadata": {"metadataId": id, "metadataKey": metadata_key, "metadataValue": key,
                    "location": {"dimensionRange": {"sheetId": sheet, "dimension": "ROWS", "startIndex": row}}}})
            },
        );
        let pool = prop::collection::vec(entry, 0..8);
        (pool, prop::collection::vec(any::<(bool, bool)>(), 8)).prop_map(|(pool, keep)| {
            let pick = |first: bool| {
                let kept =
                    pool.iter().zip(&keep).filter(|(_, k)| if first { k.0 } else { k.1 }).map(|(e, _)| e.clone());
                body(json!({ "matchedDeveloperMetadata": kept.collect::<Vec<_>>() }))
            };
            (pick(true), pick(false))
        })
    }

    proptest::proptest! {
        /// Whatever two answers share, the second read with the first's help is the second read afresh.
        #[test]
        fn reading_with_an_earlier_answer_at_hand_changes_nothing((before, now) in two_answers()) {
            let known = read(&before, 5, None);
            proptest::prop_assert_eq!(read(&now, 5, Some(&known)).to_vec(), read(&now, 5, None).to_vec());
        }
    }

    #[test]
    fn omitted_zero_values_mean_sheet_zero_and_row_zero() {
        let response = body(json!({"matchedDeveloperMetadata": [
            {"developerMetadata": {"metadataId": 1, "metadataKey": "qbsync.row", "metadataValue": "k",
                "location": {"locationType": "ROW", "dimensionRange": {"dimension": "ROWS", "endIndex": 1}}}}
        ]}));
        assert_eq!(parse_search(&response, 0).unwrap().to_vec(), vec![anchor(1, "k", 0)]);
    }

    #[test]
    fn an_empty_answer_has_no_anchors() {
        assert!(parse_search(&body(json!({})), 0).unwrap().is_empty());
        assert!(parse_search(b"<html>", 0).is_err());
    }

    #[test]
    fn the_update_body_deletes_by_id_and_creates_one_row_document_anchors() {
        let body = update_request(5, &[NewAnchor { row: 16, key: "k-new".into() }], &[3, 4]).expect("body");
        assert_eq!(
            wire(body),
            json!({"requests": [
                {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": 3}}}},
                {"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": 4}}}},
                {"createDeveloperMetadata": {"developerMetadata": {"metadataKey": "qbsync.row", "metadataValue": "k-new",
                    "visibility": "DOCUMENT", "location": {"dimensionRange":
                        {"sheetId": 5, "dimension": "ROWS", "startIndex": 16, "endIndex": 17}}}}}
            ]})
        );
    }

    #[test]
    fn rows_beyond_any_sheet_are_refused() {
        let result = update_request(0, &[NewAnchor { row: u32::MAX, key: "k".into() }], &[]);
        assert!(matches!(result, Err(SheetsError::Rejected { .. })));
    }

    #[test]
    fn after_a_lost_answer_only_the_unapplied_part_is_sent_again() {
        let create = vec![NewAnchor { row: 4, key: "a".into() }, NewAnchor { row: 9, key: "b".into() }];
        // The lost attempt applied: both keys anchored, the deleted anchor gone.
        let applied = [anchor(20, "a", 4), anchor(21, "b", 9)];
        assert_eq!(still_to_do(&create, &[11], &applied), (vec![], vec![]));
        // It did not apply: everything is still to do, including re-anchoring a key whose old
        // anchor is being deleted in the same update (a move).
        let untouched = [anchor(11, "b", 7)];
        assert_eq!(still_to_do(&create, &[11], &untouched), (create.clone(), vec![11]));
    }
}
