//! When the payment poller runs, kept by the engine from pass to pass: the schedule alone, so
//! that the pass's state can hold it without reaching up to the stage that runs the rounds
//! ([`super::money`]).

use std::time::Duration;

use chrono::FixedOffset;
use tokio::time::Instant;

/// When the payment poller runs, and what it remembers between rounds.
#[derive(Clone, Debug)]
pub struct Following {
    interval: Duration,
    next: Option<Instant>,
    /// Whether the header had a money column when a pass last read it.
    money_columns: bool,
    /// The company's UTC offset as QuickBooks last showed it.
    company_offset: FixedOffset,
}

impl Following {
    /// A round every `interval`; the first at the first pass that finds a money column.
    pub fn every(interval: Duration) -> Following {
        Following { interval, next: None, money_columns: false, company_offset: FixedOffset::east_opt(0).expect("UTC") }
    }

    /// The next pass runs a round (tests, and `qbsync bench`, use it instead of waiting).
    pub fn due_now(&mut self) {
        self.next = None;
    }

    /// Whether a round is due at `now`: only on a sheet with a money column.
    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.money_columns && self.next.is_none_or(|next| now >= next)
    }

    /// A round started at `started` ended; an unfinished one (a window still narrowing) goes on
    /// at the next pass.
    pub(super) fn ran(&mut self, started: Instant, unfinished: bool, company_offset: FixedOffset) {
        self.next = Some(if unfinished { started } else { started + self.interval });
        self.company_offset = company_offset;
    }

    /// A round started at `started` failed: tried again after the interval.
    pub(super) fn failed(&mut self, started: Instant) {
        self.next = Some(started + self.interval);
    }

    /// What a pass (or `run-once`, before its pass) found in the header.
    pub fn saw_money_columns(&mut self, present: bool) {
        self.money_columns = present;
    }

    /// The company's UTC offset as QuickBooks last showed it.
    pub(super) fn company_offset(&self) -> FixedOffset {
        self.company_offset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_waits_for_a_money_column_then_for_its_interval() {
        let mut following = Following::every(Duration::from_secs(300));
        let now = Instant::now();
        assert!(!following.is_due(now), "no money column seen yet");
        following.saw_money_columns(true);
        assert!(following.is_due(now));
        following.ran(now, false, FixedOffset::east_opt(3600).unwrap());
        assert!(!following.is_due(now + Duration::from_secs(299)));
        assert!(following.is_due(now + Duration::from_secs(300)));
        assert_eq!(following.company_offset(), FixedOffset::east_opt(3600).unwrap());
        following.ran(now, true, FixedOffset::east_opt(0).unwrap());
        assert!(following.is_due(now), "an unfinished round goes on at once");
    }
}
