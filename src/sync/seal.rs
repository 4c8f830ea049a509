//! Seals: why a busy pass over years of history costs about what the new rows cost.
//!
//! Planning and projecting a row needs its cells decoded, its row record and its document read
//! from the store, and a dozen comparisons. For a synced row that nobody touched, all of that
//! concludes "nothing to do" — and on a long sheet nearly every row is such a row. So when the
//! write-back finds a synced row in agreement with the store (it needs no write and shows its
//! own document), it *seals* it: it stores, with the row's record, a digest of everything the
//! planner and the projection read about that row:
//!
//! - the row's anchor key (the only anchor on the row, and the only one with that key),
//! - its position,
//! - its cells, exactly as Google sent them ([`RowDigest`]),
//! - the header row and the configuration fingerprint (which columns mean what, and every
//!   setting a row's outcome depends on).
//!
//! A later pass that finds the same seal on a row knows that none of those inputs changed; and
//! the store clears a seal on every write to the row's record, while a synced row's document
//! never changes once created. So the row is *quiet*: it is not decoded, not planned, not
//! projected, and its records are not read. Everything else about the pass is as before: every
//! anchor is still read and settled (quiet rows are located like any other, so a pasted copy
//! elsewhere still names its original's row), and a row that is not quiet for any reason —
//! edited, moved, re-anchored, never sealed — is planned in full.
//!
//! A seal is 64 bits of SHA-256 over those inputs, the cells entering as their 128-bit XXH3
//! digest. A row that changed is taken for quiet only if its new seal equals the one stored for
//! its own key: a chance of one in 2⁶⁴ per row and pass.
//!
//! Rows are sealed as a read arrives ([`Sealer`]), so a quiet row is let go undecoded. It is
//! sealed only when every cell qbsync may write shows what the store says (see
//! `project::shows_only_owned`): should a write meant for a row that moved land on it, what it
//! showed can be rebuilt from the store without ever having been read.

use compact_str::CompactString;
use sha2::{Digest, Sha256};

use crate::sheets::{RowDigest, RowIndex};

use crate::sheets::RowAnchor as Anchor;

use super::fast::FastMap;

/// A sealed row's digest, as the store keeps it.
pub type Seal = i64;

/// What every seal of one picture shares: the configuration and the header row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealContext([u8; 32]);

impl SealContext {
    pub fn new(config_fp: &str, header: Option<RowDigest>) -> SealContext {
        let mut hash = Sha256::new();
        // v3: rows are digested as the grid read sends them (v2 seals were of values reads, v1
        // of SHA-256 digests: neither ever matches, so the first pass after an upgrade seals anew).
        hash.update(b"qbsync seal v3\0");
        hash.update(config_fp.as_bytes());
        hash.update(b"\0");
        hash.update(header.map_or([0; 16], |h| h.0));
        SealContext(hash.finalize().into())
    }

    /// The seal of data row `row` (0-based grid row) carrying anchor `key`, with cells `digest`.
    pub fn seal(&self, row: u32, key: &str, digest: RowDigest) -> Seal {
        let mut hash = Sha256::new();
        hash.update(self.0);
        hash.update(row.to_le_bytes());
        hash.update(digest.0);
        hash.update(key.as_bytes());
        let out = hash.finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&out[..8]);
        i64::from_le_bytes(first)
    }
}

/// The seals of one picture: for each row, the seal it carries (rows without a sole anchor
/// carry none) and whether the store holds that very seal for its key.
#[derive(Clone, Debug)]
pub struct Sealing {
    context: SealContext,
    /// For each row with a sole anchor: what its seal was made of, and the seal.
    seals: Vec<Option<Sealed>>,
    quiet: Vec<bool>,
}

#[derive(Clone, Copy, Debug)]
struct Sealed {
    /// The anchor's index in the anchors sealed.
    anchor: u32,
    digest: RowDigest,
    seal: Seal,
}

/// Seals the rows of a picture one by one as they are read, so a read can tell a quiet row
/// the moment it arrives and let it go undecoded (see `crate::sync::engine`).
#[derive(Debug)]
pub struct Sealer<'s> {
    config_fp: CompactString,
    /// Made from the header row, the first row read (unless given).
    context: Option<SealContext>,
    /// The sole anchor of each row (see [`sole_anchors`]).
    sole: Vec<Option<u32>>,
    stored: &'s FastMap<CompactString, Seal>,
    seals: Vec<Option<Sealed>>,
    quiet: Vec<bool>,
}

impl<'s> Sealer<'s> {
    /// For a picture whose anchors are `anchors`, under configuration `config_fp`, compared with
    /// `stored` (row key → seal, as the store holds them).
    pub fn new(config_fp: &str, anchors: &[Anchor], stored: &'s FastMap<CompactString, Seal>) -> Sealer<'s> {
        Sealer {
            config_fp: config_fp.into(),
            context: None,
            sole: sole_anchors(anchors, 0),
            stored,
            seals: Vec::new(),
            quiet: Vec::new(),
        }
    }

    /// Takes the digest of the next row, `row` (rows come in order, the header first), with the
    /// anchors the sealer was made for; true when the row is quiet. A row with the same key and
    /// cells at the same place in `previous` (an earlier picture of the pass, and its anchors)
    /// takes its seal from there instead of hashing again: after rows are claimed, or a few cells
    /// edited, that is nearly every row.
    pub fn row(
        &mut self,
        row: usize,
        digest: RowDigest,
        anchors: &[Anchor],
        previous: Option<(&Sealing, &[Anchor])>,
    ) -> bool {
        debug_assert_eq!(row, self.seals.len(), "rows are sealed in order");
        let context = *self.context.get_or_insert_with(|| SealContext::new(&self.config_fp, Some(digest)));
        let sole = if row == 0 { None } else { self.sole.get(row).copied().flatten() };
        let Some(anchor) = sole else {
            self.seals.push(None);
            self.quiet.push(false);
            return false;
        };
        let key = anchors[anchor as usize].key.as_str();
        let earlier = previous.filter(|(sealing, _)| sealing.context == context).and_then(|(sealing, anchors)| {
            let sealed = sealing.seals.get(row).copied().flatten()?;
            let same = sealed.digest == digest && anchors.get(sealed.anchor as usize)?.key == key;
            same.then_some(sealed.seal)
        });
        let seal = earlier.unwrap_or_else(|| context.seal(row as u32, key, digest));
        let quiet = self.stored.get(key) == Some(&seal);
        self.seals.push(Some(Sealed { anchor, digest, seal }));
        self.quiet.push(quiet);
        quiet
    }

    pub fn finish(self) -> Sealing {
        let context = self.context.unwrap_or_else(|| SealContext::new(&self.config_fp, None));
        Sealing { context, seals: self.seals, quiet: self.quiet }
    }
}

impl Sealing {
    /// Seals every data row of a picture held whole (`index`: its rows' digests; `anchors`: as
    /// read with it), as a [`Sealer`] does row by row.
    pub fn of(
        index: &RowIndex,
        anchors: &[Anchor],
        config_fp: &str,
        stored: &FastMap<CompactString, Seal>,
        previous: Option<(&Sealing, &[Anchor])>,
    ) -> Sealing {
        let mut sealer = Sealer::new(config_fp, anchors, stored);
        for row in 0..index.len() {
            if let Some(digest) = index.digest(row) {
                sealer.row(row, digest, anchors, previous);
            }
        }
        sealer.finish()
    }

    /// True when row `row` (0-based) is quiet: nothing about it changed since it was sealed.
    pub fn is_quiet(&self, row: usize) -> bool {
        self.quiet.get(row).copied().unwrap_or(false)
    }

    /// The seal row `row` carries in this picture, if it has a sole anchor.
    pub fn seal(&self, row: usize) -> Option<Seal> {
        self.seals.get(row).copied().flatten().map(|sealed| sealed.seal)
    }

    /// How many rows are quiet.
    pub fn quiet_rows(&self) -> usize {
        self.quiet.iter().filter(|q| **q).count()
    }
}

/// The anchor on each row (its index in `anchors`; the result is indexed by 0-based grid row
/// and `rows` long at least; a row beyond the anchors has none), for rows with exactly one anchor whose key sits on no other row.
/// Rows with two anchors, and keys on two rows, are what the planner's anchor settling is for:
/// such rows are never quiet.
fn sole_anchors(anchors: &[Anchor], rows: usize) -> Vec<Option<u32>> {
    let last = anchors.iter().map(|a| a.row as usize + 1).max().unwrap_or(0);
    let mut per_row: Vec<u8> = vec![0; rows.max(last)];
    let mut per_key: FastMap<&str, u32> = FastMap::default();
    per_key.reserve(anchors.len());
    for anchor in anchors {
        let count = &mut per_row[anchor.row as usize];
        *count = count.saturating_add(1);
        *per_key.entry(anchor.key.as_str()).or_default() += 1;
    }
    let mut sole = vec![None; per_row.len()];
    for (i, anchor) in anchors.iter().enumerate() {
        if per_row[anchor.row as usize] == 1 && per_key.get(anchor.key.as_str()) == Some(&1) {
            sole[anchor.row as usize] = u32::try_from(i).ok();
        }
    }
    sole
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sheets::values::{DigestsOnly, read_answer};

    fn anchor(id: i32, key: &str, row: u32) -> Anchor {
        Anchor { metadata_id: id, key: key.into(), row }
    }

    const SHEET: &str = r#"{"values":[["invoice","qb_invoice_id"],["A-1","130"],["A-2","131"],["A-3","132"],["A-4",""],["A-5","133"]]}"#;

    fn index(text: &str) -> RowIndex {
        read_answer(text.as_bytes(), &mut DigestsOnly).unwrap()
    }

    #[test]
    fn a_row_is_quiet_only_with_its_own_sole_anchor_its_cells_and_its_place() {
        let context = "cfg";
        let anchors = vec![anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3), anchor(4, "k5", 5)];
        let first = Sealing::of(&index(SHEET), &anchors, context, &FastMap::default(), None);
        assert_eq!(first.quiet_rows(), 0, "nothing is sealed yet");
        assert!(first.seal(0).is_none() && first.seal(4).is_none(), "the header and unanchored rows carry no seal");
        let stored: FastMap<CompactString, Seal> = [("k1", 1), ("k2", 2), ("k3", 3), ("k5", 5)]
            .into_iter()
            .map(|(key, row)| (key.into(), first.seal(row).unwrap()))
            .collect();
        let sealed = Sealing::of(&index(SHEET), &anchors, context, &stored, None);
        assert_eq!(sealed.quiet_rows(), 4);
        // A seal the store let go of (the record was written) no longer counts.
        let mut fewer = stored.clone();
        fewer.remove("k2");
        let sealed = Sealing::of(&index(SHEET), &anchors, context, &fewer, None);
        assert_eq!((1..6).filter(|&r| sealed.is_quiet(r)).collect::<Vec<_>>(), [1, 3, 5]);

        // A cell edited: that row only.
        let edited = Sealing::of(&index(&SHEET.replace("131", "139")), &anchors, context, &stored, None);
        assert_eq!((1..6).filter(|&r| edited.is_quiet(r)).collect::<Vec<_>>(), [1, 3, 5]);
        // Two rows swapped with their anchors: both moved.
        let swapped_text = SHEET.replace(r#"["A-1","130"],["A-2","131"]"#, r#"["A-2","131"],["A-1","130"]"#);
        let swapped = vec![anchor(1, "k1", 2), anchor(2, "k2", 1), anchor(3, "k3", 3), anchor(4, "k5", 5)];
        let moved = Sealing::of(&index(&swapped_text), &swapped, context, &stored, None);
        assert_eq!((1..6).filter(|&r| moved.is_quiet(r)).collect::<Vec<_>>(), [3, 5]);
        // A second anchor with the same key elsewhere, or a second key on the row.
        let doubled = [anchors.clone(), vec![anchor(9, "k1", 4)]].concat();
        assert!(!Sealing::of(&index(SHEET), &doubled, context, &stored, None).is_quiet(1));
        let crowded = [anchors.clone(), vec![anchor(9, "new", 2)]].concat();
        assert!(!Sealing::of(&index(SHEET), &crowded, context, &stored, None).is_quiet(2));
        // Another configuration, or another header: nothing is quiet.
        let other = "cfg2";
        assert_eq!(Sealing::of(&index(SHEET), &anchors, other, &stored, None).quiet_rows(), 0);
        let renamed = SHEET.replace("qb_invoice_id", "qb_id");
        let header = "cfg";
        assert_eq!(Sealing::of(&index(&renamed), &anchors, header, &stored, None).quiet_rows(), 0);
        // Sealing again from an earlier picture reuses what it can and comes out the same as
        // sealing afresh: after an edit, after claims, after a swap, and across configurations.
        let pictures = [
            (index(SHEET), anchors.clone(), context),
            (index(&SHEET.replace("131", "139")), anchors.clone(), context),
            (index(SHEET), [anchors.clone(), vec![anchor(7, "k4", 4)]].concat(), context),
            (index(&swapped_text), swapped.clone(), context),
            (index(SHEET), anchors.clone(), other),
        ];
        for (before_index, before_anchors, before_context) in &pictures {
            let before = Sealing::of(before_index, before_anchors, before_context, &stored, None);
            for (now_index, now_anchors, now_context) in &pictures {
                let fresh = Sealing::of(now_index, now_anchors, now_context, &stored, None);
                let reused =
                    Sealing::of(now_index, now_anchors, now_context, &stored, Some((&before, &before_anchors[..])));
                for row in 0..6 {
                    assert_eq!(reused.seal(row), fresh.seal(row), "row {row}");
                    assert_eq!(reused.is_quiet(row), fresh.is_quiet(row), "row {row}");
                }
            }
        }
        // An anchor beyond the last row read is harmless.
        let beyond = [anchors, vec![anchor(10, "far", 40)]].concat();
        assert_eq!(Sealing::of(&index(SHEET), &beyond, context, &stored, None).quiet_rows(), 4);
    }
}
