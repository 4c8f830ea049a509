//! What a sort or a cut and paste does to row developer metadata: a switch, because Google does
//! not say.
//!
//! Google documents that row metadata stays with its row when rows are inserted or deleted
//! around it, and is deleted with the row. It documents nothing for `sortRange` ("sorts data in
//! rows") or `cutPaste` ("cuts data from a source and pastes it to a destination"): both act on
//! cell values, not on rows. The reading the documentation supports best is that the values move
//! and the metadata **stays** on its physical row, beside another record. That is the worst case
//! for a client that finds rows by their metadata, so it is the default; `follow` (the metadata
//! goes where the row's values went) and `mixed` (each operation decides, seeded) let tests show
//! that qbsync is right whichever the real service does. `moveDimension`, which moves rows
//! themselves, always carries their metadata and is not switched.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// What every sort (or every cut and paste) does to the metadata of the rows whose values it moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataOnMove {
    /// The metadata goes where the row's values went.
    Follow,
    /// The values move; the metadata stays on its physical row (what the documentation supports).
    #[default]
    Stay,
    /// Each operation independently follows or stays, drawn from the sandbox's seed.
    Mixed,
}

/// The two switches: one for sorts (`sortRange` and the control API's sort), one for cut and
/// paste (`cutPaste` and the control API's cut and paste). Both `stay` by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataMoves {
    #[serde(default)]
    pub sort: MetadataOnMove,
    #[serde(default)]
    pub cut_paste: MetadataOnMove,
}

impl MetadataMoves {
    /// The same behaviour for sorts and for cut and paste.
    pub fn both(behaviour: MetadataOnMove) -> MetadataMoves {
        MetadataMoves { sort: behaviour, cut_paste: behaviour }
    }
}

/// What one sort or cut and paste does with the metadata of the rows whose values it moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Follows,
    Stays,
}

/// The switches and the random source `mixed` draws from, kept apart from the emulator's other
/// random choices so that switching to `mixed` does not change generated ids or tokens.
#[derive(Debug)]
pub struct Mover {
    switches: MetadataMoves,
    rng: StdRng,
}

impl Mover {
    pub(super) fn new(switches: MetadataMoves, seed: u64) -> Mover {
        Mover { switches, rng: StdRng::seed_from_u64(seed ^ 0x50_47_ed) }
    }

    pub(super) fn switches(&self) -> MetadataMoves {
        self.switches
    }

    pub(super) fn set(&mut self, switches: MetadataMoves) {
        self.switches = switches;
    }

    /// What the sort being made now does to row metadata.
    pub(super) fn sort(&mut self) -> Fate {
        let behaviour = self.switches.sort;
        self.decide(behaviour)
    }

    /// What the cut and paste being made now does to row metadata.
    pub(super) fn cut_paste(&mut self) -> Fate {
        let behaviour = self.switches.cut_paste;
        self.decide(behaviour)
    }

    fn decide(&mut self, behaviour: MetadataOnMove) -> Fate {
        match behaviour {
            MetadataOnMove::Follow => Fate::Follows,
            MetadataOnMove::Stay => Fate::Stays,
            MetadataOnMove::Mixed if self.rng.gen_bool(0.5) => Fate::Follows,
            MetadataOnMove::Mixed => Fate::Stays,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_switches_stay_unless_told_otherwise() {
        assert_eq!(MetadataMoves::default(), MetadataMoves::both(MetadataOnMove::Stay));
        let mut mover = Mover::new(MetadataMoves::default(), 1);
        assert_eq!((mover.sort(), mover.cut_paste()), (Fate::Stays, Fate::Stays));
    }

    #[test]
    fn each_switch_governs_only_its_own_operation() {
        let switches = MetadataMoves { sort: MetadataOnMove::Follow, cut_paste: MetadataOnMove::Stay };
        let mut mover = Mover::new(switches, 1);
        assert_eq!((mover.sort(), mover.cut_paste()), (Fate::Follows, Fate::Stays));
        mover.set(MetadataMoves { sort: MetadataOnMove::Stay, cut_paste: MetadataOnMove::Follow });
        assert_eq!((mover.sort(), mover.cut_paste()), (Fate::Stays, Fate::Follows));
    }

    #[test]
    fn mixed_does_both_and_replays_from_the_same_seed() {
        let draws = |seed| {
            let mut mover = Mover::new(MetadataMoves::both(MetadataOnMove::Mixed), seed);
            (0..40).map(|_| mover.sort()).collect::<Vec<Fate>>()
        };
        let first = draws(7);
        assert!(first.contains(&Fate::Follows) && first.contains(&Fate::Stays), "{first:?}");
        assert_eq!(first, draws(7));
    }

    #[test]
    fn the_switches_have_a_json_form_with_every_field_optional() {
        let parsed: MetadataMoves = serde_json::from_str(r#"{"sort": "follow"}"#).unwrap();
        assert_eq!(parsed, MetadataMoves { sort: MetadataOnMove::Follow, cut_paste: MetadataOnMove::Stay });
        let json = serde_json::to_value(MetadataMoves::both(MetadataOnMove::Mixed)).unwrap();
        assert_eq!(json, serde_json::json!({"sort": "mixed", "cut_paste": "mixed"}));
        assert!(serde_json::from_str::<MetadataMoves>(r#"{"sort": "sometimes"}"#).is_err());
    }
}
