//! The maps and sets of a pass.
//!
//! Keyed by qbsync's own strings (row keys, doc keys, ids) and hashed with FxHash rather than
//! the standard SipHash: planning a long sheet hashes keys hundreds of thousands of times, the
//! keys are not chosen by an attacker who could profit from collisions, and SipHash was the
//! largest single cost of a busy pass.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;

use rustc_hash::FxHasher;

pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
pub type FastSet<T> = HashSet<T, BuildHasherDefault<FxHasher>>;
