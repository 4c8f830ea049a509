//! Which change window to ask QuickBooks for next.
//!
//! CDC (`GET …/cdc?changedSince=…`) has three limits that decide the poller's shape
//! (reference §1.3): it looks back at most 30 days, answers at most 1,000 objects, and has no
//! paging and no upper bound, so a full answer cannot be continued. The poller therefore keeps
//! one fact, the instant up to which every change has been seen (`covered_until`, on QuickBooks'
//! clock), and [`CdcWindow`] decides from it:
//!
//! - First run, or an outage longer than the look-back: CDC cannot cover the gap, so read the
//!   documents qbsync created that are still open, by id in batches ([`NextRead::OpenDocsById`]).
//!   That read sees every balance as it is now; a document missing from its answer is a
//!   deletion to confirm.
//! - An answer holding 1,000 objects is taken as cut short (Intuit gives no signal, §1.3). Its
//!   objects are still true and are applied, and the window's start moves halfway to the answer's
//!   time, so the newest changes (deletions and payment details, which only CDC reports) keep
//!   arriving whole. The part before the narrowed start is then covered by the by-id read.
//! - Otherwise the next window starts a few minutes before the last answer's time
//!   (transactions committing while the answer was built), and the caller drops repeats by
//!   `(entity, Id, SyncToken)`.
//!
//! Only `covered_until` needs to be stored: after a restart mid-narrowing the poller asks the
//! same wide window again and narrows again, which is correct, only slower.

use chrono::{DateTime, Duration, Utc};

/// How far back CDC looks.
pub const MAX_LOOK_BACK: Duration = Duration::days(30);
/// The most objects one CDC answer holds; an answer this full is taken as cut short.
pub const MAX_OBJECTS: usize = 1000;
/// How far before the last answer's time the next window starts.
pub const OVERLAP: Duration = Duration::minutes(5);
/// Kept from the 30-day edge, for the two clocks' difference and the request's travel.
const EDGE_MARGIN: Duration = Duration::hours(1);
/// A window narrower than this that still holds 1,000 changes is read by id instead.
const MIN_SPAN: Duration = Duration::minutes(1);

/// The read the poller makes next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NextRead {
    /// `GET …/cdc?entities=Invoice,Bill,Payment,BillPayment&changedSince=…`.
    Cdc { changed_since: DateTime<Utc> },
    /// Read every open document qbsync created, by id in batches (`Id IN (…)`, paged).
    OpenDocsById,
}

/// What an answer did to the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowOutcome {
    /// Everything up to the answer's time is seen; nothing more to read this round.
    Covered,
    /// The answer was full; ask again from the narrowed start ([`CdcWindow::next`]).
    Narrowed,
    /// CDC cannot close the gap; read the open documents by id ([`CdcWindow::next`]).
    NeedsFullRead,
}

/// The poller's position in QuickBooks' change history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CdcWindow {
    covered_until: Option<DateTime<Utc>>,
    /// The start a full answer moved the window to; the time before it is not yet covered.
    narrowed_since: Option<DateTime<Utc>>,
    full_read_due: bool,
}

impl CdcWindow {
    /// Resumes from the stored `covered_until` (`None` on the first run).
    pub fn new(covered_until: Option<DateTime<Utc>>) -> CdcWindow {
        CdcWindow { covered_until, narrowed_since: None, full_read_due: false }
    }

    /// What to store after each answer.
    pub fn covered_until(&self) -> Option<DateTime<Utc>> {
        self.covered_until
    }

    /// The read to make now (`now` on this machine's clock).
    pub fn next(&self, now: DateTime<Utc>) -> NextRead {
        if self.full_read_due {
            return NextRead::OpenDocsById;
        }
        let start = match (self.narrowed_since, self.covered_until) {
            (Some(narrowed), _) => narrowed,
            (None, Some(covered)) => covered - OVERLAP,
            (None, None) => return NextRead::OpenDocsById,
        };
        if now - start > MAX_LOOK_BACK - EDGE_MARGIN {
            NextRead::OpenDocsById
        } else {
            NextRead::Cdc { changed_since: start }
        }
    }

    /// After a CDC answer to `changed_since` holding `objects` objects (all entities together),
    /// stamped `answered_at` by QuickBooks (the envelope's `time`).
    pub fn after_cdc(
        &mut self,
        changed_since: DateTime<Utc>,
        objects: usize,
        answered_at: DateTime<Utc>,
    ) -> WindowOutcome {
        if objects >= MAX_OBJECTS {
            let half = (answered_at - changed_since) / 2;
            if half < MIN_SPAN {
                return self.full_read();
            }
            self.narrowed_since = Some(changed_since + half);
            return WindowOutcome::Narrowed;
        }
        if self.narrowed_since.take().is_some() {
            // The newest part is seen; the part before the narrowed start is not.
            return self.full_read();
        }
        self.covered_until = Some(self.covered_until.map_or(answered_at, |c| c.max(answered_at)));
        WindowOutcome::Covered
    }

    /// After QuickBooks refused `changedSince` as older than it allows (the clocks disagreed).
    pub fn after_too_old(&mut self) -> WindowOutcome {
        self.full_read()
    }

    /// After the open documents were read by id, the read having started at `started_at`
    /// (QuickBooks' clock when known, else this machine's): everything before it is seen.
    pub fn after_full_read(&mut self, started_at: DateTime<Utc>) {
        self.covered_until = Some(started_at);
        self.narrowed_since = None;
        self.full_read_due = false;
    }

    fn full_read(&mut self) -> WindowOutcome {
        self.narrowed_since = None;
        self.full_read_due = true;
        WindowOutcome::NeedsFullRead
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_first_run_reads_the_open_documents_by_id_then_polls_cdc() {
        let mut window = CdcWindow::new(None);
        let now = at("2026-03-01T12:00:00Z");
        assert_eq!(window.next(now), NextRead::OpenDocsById);
        window.after_full_read(now);
        assert_eq!(window.covered_until(), Some(now));
        assert_eq!(window.next(now + Duration::minutes(5)), NextRead::Cdc { changed_since: now - OVERLAP });
    }

    #[test]
    fn each_answer_moves_the_window_to_its_own_time_less_the_overlap() {
        let start = at("2026-03-01T12:00:00Z");
        let mut window = CdcWindow::new(Some(start));
        let NextRead::Cdc { changed_since } = window.next(start + Duration::minutes(5)) else { panic!() };
        let answered = at("2026-03-01T12:05:02Z");
        assert_eq!(window.after_cdc(changed_since, 3, answered), WindowOutcome::Covered);
        assert_eq!(window.covered_until(), Some(answered));
        assert_eq!(window.next(answered + Duration::minutes(5)), NextRead::Cdc { changed_since: answered - OVERLAP });
    }

    #[test]
    fn an_outage_longer_than_thirty_days_falls_back_to_reading_by_id() {
        let covered = at("2026-01-01T00:00:00Z");
        let window = CdcWindow::new(Some(covered));
        assert!(matches!(window.next(covered + Duration::days(29)), NextRead::Cdc { .. }));
        assert_eq!(window.next(covered + Duration::days(30)), NextRead::OpenDocsById);
        assert_eq!(window.next(covered + Duration::days(45)), NextRead::OpenDocsById);
    }

    #[test]
    fn a_full_answer_halves_the_window_until_one_is_not_full_then_reads_the_rest_by_id() {
        let covered = at("2026-03-01T00:00:00Z");
        let mut window = CdcWindow::new(Some(covered));
        let now = at("2026-03-01T08:00:00Z");
        let since = covered - OVERLAP;
        assert_eq!(window.next(now), NextRead::Cdc { changed_since: since });
        assert_eq!(window.after_cdc(since, 1000, now), WindowOutcome::Narrowed);
        let NextRead::Cdc { changed_since: narrowed } = window.next(now) else { panic!() };
        assert_eq!(narrowed, since + (now - since) / 2);
        assert_eq!(window.after_cdc(narrowed, 1000, now), WindowOutcome::Narrowed);
        let NextRead::Cdc { changed_since: narrower } = window.next(now) else { panic!() };
        assert!(narrower > narrowed);
        // Not full: the newest changes are in, but what came before the narrowed start is not.
        assert_eq!(window.after_cdc(narrower, 400, now), WindowOutcome::NeedsFullRead);
        assert_eq!(window.covered_until(), Some(covered), "nothing is taken as covered before the read");
        assert_eq!(window.next(now), NextRead::OpenDocsById);
        window.after_full_read(now);
        assert_eq!(window.covered_until(), Some(now));
        assert_eq!(window.next(now), NextRead::Cdc { changed_since: now - OVERLAP });
    }

    #[test]
    fn a_window_too_narrow_to_halve_is_read_by_id() {
        let now = at("2026-03-01T08:00:00Z");
        let mut window = CdcWindow::new(Some(now - Duration::seconds(30)));
        let NextRead::Cdc { changed_since } = window.next(now) else { panic!() };
        let mut outcome = window.after_cdc(changed_since, 1000, now);
        let mut rounds = 0;
        while outcome == WindowOutcome::Narrowed {
            let NextRead::Cdc { changed_since } = window.next(now) else { panic!() };
            outcome = window.after_cdc(changed_since, 1000, now);
            rounds += 1;
            assert!(rounds < 20, "narrowing must end");
        }
        assert_eq!(outcome, WindowOutcome::NeedsFullRead);
        assert_eq!(window.next(now), NextRead::OpenDocsById);
    }

    #[test]
    fn a_refused_window_is_read_by_id() {
        let now = at("2026-03-01T08:00:00Z");
        let mut window = CdcWindow::new(Some(now - Duration::days(29)));
        assert_eq!(window.after_too_old(), WindowOutcome::NeedsFullRead);
        assert_eq!(window.next(now), NextRead::OpenDocsById);
    }

    #[test]
    fn an_older_answer_never_moves_the_window_back() {
        let covered = at("2026-03-01T08:00:00Z");
        let mut window = CdcWindow::new(Some(covered));
        window.after_cdc(covered - OVERLAP, 0, covered - Duration::minutes(1));
        assert_eq!(window.covered_until(), Some(covered));
    }
}
