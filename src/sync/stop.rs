//! A request to stop, heard by the daemon and seen by the pass in flight.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// A request to stop, shared between whoever hears the signal and the pass in flight. A pass is
/// never cut short (every intent it recorded is settled or left pending on purpose); only the
/// landing check's rounds, which rows moving without end could make last for minutes, are bounded
/// by it.
#[derive(Clone, Debug, Default)]
pub struct Stop(Arc<OnceLock<Instant>>);

impl Stop {
    /// Asks for a stop (the first request counts).
    pub fn request(&self) {
        let _ = self.0.set(Instant::now());
    }

    /// When a stop was asked for, if it was.
    pub fn requested_at(&self) -> Option<Instant> {
        self.0.get().copied()
    }
}
