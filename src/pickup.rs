//! When the daemon runs its next pass: at the full poll interval, or as soon as Drive says the
//! spreadsheet changed.
//!
//! A full pass costs a Sheets read, and a service account has only 60 of those a minute, so the
//! daemon cannot read the tab every few seconds. Drive's `files.get?fields=version` is one call
//! on Drive's far larger quota and tells whether anything at all changed, so between full polls
//! the daemon asks it every few seconds and passes only when the version moved.
//!
//! qbsync's own write-backs move the version too. The rule that keeps every person's edit and
//! stops qbsync from chasing its own writes:
//!
//! - the **baseline** is the version read just before the last pass that wrote nothing: that
//!   pass saw every change up to that version, so any other version means someone changed
//!   something since (an edit between the version read and the pass's own read only costs one
//!   extra pass);
//! - a pass that wrote leaves no baseline; the next check runs one **confirming pass**, whose
//!   version read (taken after the writes) becomes the baseline if it writes nothing;
//! - a pass that created documents is new work (someone typed rows), however many came before
//!   it: one confirming pass follows each;
//! - two passes in a row that wrote without creating anything (a formula that keeps changing, a
//!   row that drifts back) do not start a chain: the version seen at the next check is adopted
//!   as the baseline without a pass. An edit made during the second is then picked up by the
//!   full poll, still within the poll interval, never lost.
//!
//! Drive is the pessimistic case by default: when it is not enabled for the credentials (a 403,
//! a 404, a scope not granted), the daemon says so once and polls as it always did, asking Drive
//! again only before each full pass so that enabling the API later needs no restart. Transient
//! trouble (429, 5xx, timeouts) skips one check, never the row: the full poll still comes.
//!
//! [`Pickup`] holds no clock and does no I/O: the daemon loop passes in the time and Drive's
//! answers, so every decision is tested without waiting.

use std::time::Duration;

use tokio::time::Instant;

use crate::sheets::{DriveVersion, SheetsError};

/// The daemon's timing: the full poll and the optional change check between polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// A pass at least this often, whatever Drive says (`--interval`, `QBSYNC_POLL_INTERVAL`).
    pub full_interval: Duration,
    /// How often Drive is asked between full polls; `None` polls only (`QBSYNC_CHANGE_CHECK_INTERVAL=off`).
    pub change_check: Option<Duration>,
}

impl Schedule {
    /// Today's behaviour: a pass every `full_interval`, nothing in between.
    pub fn polling(full_interval: Duration) -> Schedule {
        Schedule { full_interval, change_check: None }
    }
}

/// Whether the change check can be used, as the status line and the logs say it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriveAccess {
    /// Not asked yet, or switched off.
    Unknown,
    /// Drive answers: rows are picked up within a check interval.
    Working,
    /// Drive refused the credentials (API not enabled, no access, scope not granted): full polls
    /// only. `reason` is Google's, for the log and `doctor`.
    Unusable { reason: String },
}

/// How the last pass ended, as far as picking up changes is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassEnd {
    /// It wrote nothing to the spreadsheet.
    Clean,
    /// It created documents and wrote them back: work someone asked for, the version moved.
    Created,
    /// It wrote to the spreadsheet (cells or metadata) without creating anything: a repair, a
    /// row's error. The version moved under it.
    Wrote,
    /// It stopped with an error: the retry back-off decides when the next one runs.
    Failed,
}

/// What the loop does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Sleep until then and pass.
    PassAt(Instant),
    /// Sleep until then, ask Drive and hand the answer to [`Pickup::checked`].
    CheckAt(Instant),
}

/// The answer to a change check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Pass,
    Wait,
}

/// What the change check compares against.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Baseline {
    /// No version stands for what the last pass saw (before the first pass, after Drive
    /// trouble): the next version seen starts a pass.
    Unknown,
    /// The version read before the last pass that wrote nothing.
    Seen(DriveVersion),
    /// The last pass wrote: the next check starts a confirming pass.
    Confirm,
    /// Two passes in a row wrote without creating anything: the next version seen is adopted
    /// without a pass.
    Adopt,
}

/// The change-check state machine (see the module doc).
#[derive(Debug)]
pub struct Pickup {
    schedule: Schedule,
    access: DriveAccess,
    baseline: Baseline,
    /// The version read before the pass about to run.
    pending: Option<DriveVersion>,
    /// Passes in a row that wrote, counted from the last one that created documents.
    writing_streak: u32,
    /// When a pass runs whatever Drive says.
    full_due: Instant,
    /// When Drive was last asked (or the last pass ended).
    last_look: Instant,
    /// No checks until the next pass (it failed: the retry back-off rules).
    paused: bool,
    /// The last transient Drive problem, said once.
    last_trouble: Option<String>,
}

impl Pickup {
    pub fn new(schedule: Schedule, now: Instant) -> Pickup {
        Pickup {
            schedule,
            access: DriveAccess::Unknown,
            baseline: Baseline::Unknown,
            pending: None,
            writing_streak: 0,
            full_due: now,
            last_look: now,
            paused: false,
            last_trouble: None,
        }
    }

    /// Whether the change check is on at all.
    pub fn enabled(&self) -> bool {
        self.schedule.change_check.is_some()
    }

    pub fn access(&self) -> &DriveAccess {
        &self.access
    }

    /// Whether Drive should be asked before the pass about to run: yes when the check is on and
    /// no version was read for this pass yet (a full poll, a retry). Drive is asked again even
    /// when it refused before, so that enabling the API needs no restart.
    pub fn wants_version_before_pass(&self) -> bool {
        self.enabled() && self.pending.is_none()
    }

    /// Drive's answer just before a pass.
    pub fn version_before_pass(&mut self, answer: Result<DriveVersion, SheetsError>) {
        self.pending = self.observe(answer);
    }

    /// Records how a pass ended. `next_full` is when the loop passes anyway (the poll interval,
    /// a retry, or at once when a pass left work behind).
    pub fn pass_finished(&mut self, now: Instant, next_full: Instant, end: PassEnd) {
        let seen = self.pending.take();
        self.full_due = next_full;
        self.last_look = now;
        self.paused = end == PassEnd::Failed;
        match end {
            PassEnd::Clean => {
                self.writing_streak = 0;
                self.baseline = seen.map_or(Baseline::Unknown, Baseline::Seen);
            }
            PassEnd::Created => {
                self.writing_streak = 1;
                self.baseline = Baseline::Confirm;
            }
            PassEnd::Wrote => {
                self.writing_streak += 1;
                self.baseline = if self.writing_streak >= 2 { Baseline::Adopt } else { Baseline::Confirm };
            }
            // Unknown what the pass saw or wrote: the pass after the retry sets a baseline.
            PassEnd::Failed => self.baseline = Baseline::Unknown,
        }
    }

    /// What to do next.
    pub fn next(&self) -> Next {
        let check = match self.schedule.change_check {
            Some(every) if !self.paused && !matches!(self.access, DriveAccess::Unusable { .. }) => every,
            _ => return Next::PassAt(self.full_due),
        };
        let at = self.last_look + check;
        if at >= self.full_due { Next::PassAt(self.full_due) } else { Next::CheckAt(at) }
    }

    /// Drive's answer to a change check made at `now`: pass now, or wait for the next step.
    pub fn checked(&mut self, now: Instant, answer: Result<DriveVersion, SheetsError>) -> Decision {
        self.last_look = now;
        let Some(version) = self.observe(answer) else {
            return Decision::Wait;
        };
        match &self.baseline {
            Baseline::Seen(baseline) if *baseline == version => Decision::Wait,
            Baseline::Adopt => {
                self.baseline = Baseline::Seen(version);
                Decision::Wait
            }
            Baseline::Seen(_) | Baseline::Unknown | Baseline::Confirm => {
                self.pending = Some(version);
                Decision::Pass
            }
        }
    }

    /// Keeps a version, or sorts a failure into "try again later" and "Drive cannot be used",
    /// logging each state once.
    fn observe(&mut self, answer: Result<DriveVersion, SheetsError>) -> Option<DriveVersion> {
        match answer {
            Ok(version) => {
                if let DriveAccess::Unusable { .. } = self.access {
                    tracing::info!("Drive answers again: rows are picked up between polls");
                }
                self.access = DriveAccess::Working;
                self.last_trouble = None;
                Some(version)
            }
            Err(SheetsError::Unavailable { reason }) => {
                if self.last_trouble.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(
                        "Drive did not answer the change check ({reason}); the next poll reads the sheet anyway"
                    );
                    self.last_trouble = Some(reason);
                }
                None
            }
            Err(refused) => {
                let reason = refused.to_string();
                if !matches!(&self.access, DriveAccess::Unusable { reason: said } if *said == reason) {
                    tracing::warn!(
                        "Drive refused the change check ({reason}): rows are picked up at each full poll only; enable the Google Drive API for these credentials (`qbsync doctor` says how)"
                    );
                }
                self.access = DriveAccess::Unusable { reason };
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: Duration = Duration::from_secs(60);
    const CHECK: Duration = Duration::from_secs(5);

    fn v(n: u32) -> Result<DriveVersion, SheetsError> {
        Ok(DriveVersion::new(n.to_string()))
    }

    fn unavailable() -> Result<DriveVersion, SheetsError> {
        Err(SheetsError::Unavailable { reason: "HTTP 503".into() })
    }

    fn not_enabled() -> Result<DriveVersion, SheetsError> {
        Err(SheetsError::Rejected { message: "Google Drive API has not been used in project 1 before".into() })
    }

    /// A fake clock and the loop's bookkeeping around a [`Pickup`].
    struct Loop {
        pickup: Pickup,
        now: Instant,
    }

    impl Loop {
        fn new(change_check: Option<Duration>) -> Loop {
            let now = Instant::now();
            Loop { pickup: Pickup::new(Schedule { full_interval: FULL, change_check }, now), now }
        }

        /// A pass that reads `before` from Drive first (when asked) and ends `end`.
        fn pass(&mut self, before: Result<DriveVersion, SheetsError>, end: PassEnd) {
            if self.pickup.wants_version_before_pass() {
                self.pickup.version_before_pass(before);
            }
            self.pickup.pass_finished(self.now, self.now + FULL, end);
        }

        /// Follows `next` once: returns the decision of a check (`None` when a pass is due).
        fn step(&mut self, drive: Result<DriveVersion, SheetsError>) -> (Duration, Option<Decision>) {
            let start = self.now;
            match self.pickup.next() {
                Next::PassAt(at) => {
                    self.now = at;
                    (at - start, None)
                }
                Next::CheckAt(at) => {
                    self.now = at;
                    (at - start, Some(self.pickup.checked(at, drive)))
                }
            }
        }
    }

    #[test]
    fn an_unchanged_version_waits_for_the_full_poll_with_a_check_every_few_seconds() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(7), PassEnd::Clean);
        let mut checks = 0;
        loop {
            match l.step(v(7)) {
                (waited, Some(Decision::Wait)) => {
                    assert_eq!(waited, CHECK);
                    checks += 1;
                }
                (_, None) => break,
                (_, Some(Decision::Pass)) => panic!("nothing changed"),
            }
        }
        assert_eq!(checks, 11, "checks at 5, 10, …, 55 s; the pass at 60 s");
    }

    #[test]
    fn a_person_s_edit_is_picked_up_at_the_next_check() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(7), PassEnd::Clean);
        assert_eq!(l.step(v(7)), (CHECK, Some(Decision::Wait)));
        assert_eq!(l.step(v(8)), (CHECK, Some(Decision::Pass)));
        assert!(!l.pickup.wants_version_before_pass(), "the version of the check stands for the pass");
    }

    #[test]
    fn qbsync_s_own_writes_cost_one_confirming_pass_and_no_more() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(7), PassEnd::Clean);
        assert_eq!(l.step(v(8)).1, Some(Decision::Pass), "a person appended a row");
        l.pass(v(99), PassEnd::Created); // v8 was read at the check; its write-back made it v9
        assert_eq!(l.step(v(9)).1, Some(Decision::Pass), "one confirming pass");
        l.pass(v(99), PassEnd::Clean);
        for _ in 0..5 {
            assert_eq!(l.step(v(9)).1, Some(Decision::Wait), "v9 is what the confirming pass saw");
        }
    }

    #[test]
    fn an_edit_made_while_qbsync_wrote_is_seen_by_the_confirming_pass() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(7), PassEnd::Clean);
        assert_eq!(l.step(v(8)).1, Some(Decision::Pass));
        l.pass(v(99), PassEnd::Wrote);
        // The write-back made v9 and a person's edit v10: the confirming pass reads both.
        assert_eq!(l.step(v(10)).1, Some(Decision::Pass));
        l.pass(v(99), PassEnd::Clean);
        assert_eq!(l.step(v(11)).1, Some(Decision::Pass), "and any later edit starts a pass");
    }

    #[test]
    fn a_confirming_pass_that_writes_again_does_not_start_a_chain() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(1), PassEnd::Wrote);
        assert_eq!(l.step(v(2)).1, Some(Decision::Pass));
        l.pass(v(99), PassEnd::Wrote);
        assert_eq!(l.step(v(3)).1, Some(Decision::Wait), "v3 is adopted without a pass");
        assert_eq!(l.step(v(3)).1, Some(Decision::Wait));
        assert_eq!(l.step(v(4)).1, Some(Decision::Pass), "a later change is picked up again");
    }

    #[test]
    fn rows_typed_one_after_another_are_each_picked_up_at_the_next_check() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(1), PassEnd::Clean);
        assert_eq!(l.step(v(2)).1, Some(Decision::Pass), "row A typed");
        l.pass(v(99), PassEnd::Created);
        // Row B was typed before the confirming pass, which creates it in turn.
        assert_eq!(l.step(v(4)).1, Some(Decision::Pass));
        l.pass(v(99), PassEnd::Created);
        assert_eq!(l.step(v(6)).1, Some(Decision::Pass), "row C: still a confirming pass, nothing adopted");
        l.pass(v(99), PassEnd::Clean);
        assert_eq!(l.step(v(6)).1, Some(Decision::Wait));
    }

    #[test]
    fn without_a_version_before_the_pass_the_next_check_passes_once() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(unavailable(), PassEnd::Clean);
        assert_eq!(l.step(v(5)).1, Some(Decision::Pass), "never assume nothing changed");
        l.pass(v(99), PassEnd::Clean);
        assert_eq!(l.step(v(5)).1, Some(Decision::Wait));
    }

    #[test]
    fn drive_trouble_skips_a_check_and_never_starts_a_pass() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(7), PassEnd::Clean);
        assert_eq!(l.step(unavailable()), (CHECK, Some(Decision::Wait)));
        assert_eq!(l.pickup.access(), &DriveAccess::Working, "trouble is not a refusal");
        assert_eq!(l.step(v(8)), (CHECK, Some(Decision::Pass)));
    }

    #[test]
    fn drive_refused_falls_back_to_full_polls_and_recovers_when_enabled() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(not_enabled(), PassEnd::Clean);
        assert!(matches!(l.pickup.access(), DriveAccess::Unusable { reason } if reason.contains("Drive API")));
        assert_eq!(l.step(v(1)), (FULL, None), "full polls only, as before fast pick-up");
        assert!(l.pickup.wants_version_before_pass(), "Drive is asked again before each poll");
        l.pass(v(3), PassEnd::Clean);
        assert_eq!(l.pickup.access(), &DriveAccess::Working);
        assert_eq!(l.step(v(4)), (CHECK, Some(Decision::Pass)));
    }

    #[test]
    fn a_refusal_at_a_check_stops_the_checks_until_the_poll() {
        let mut l = Loop::new(Some(CHECK));
        l.pass(v(7), PassEnd::Clean);
        assert_eq!(l.step(not_enabled()), (CHECK, Some(Decision::Wait)));
        assert_eq!(l.step(v(8)), (FULL - CHECK, None));
    }

    #[test]
    fn a_failed_pass_is_retried_by_its_back_off_not_by_the_checks() {
        let mut l = Loop::new(Some(CHECK));
        l.pickup.version_before_pass(v(7));
        l.pickup.pass_finished(l.now, l.now + Duration::from_secs(10), PassEnd::Failed);
        assert_eq!(l.step(v(8)), (Duration::from_secs(10), None));
        assert!(l.pickup.wants_version_before_pass());
    }

    #[test]
    fn a_pass_due_before_the_next_check_is_not_delayed() {
        let mut l = Loop::new(Some(CHECK));
        l.pickup.version_before_pass(v(7));
        l.pickup.pass_finished(l.now, l.now + Duration::from_millis(200), PassEnd::Clean);
        assert_eq!(l.step(v(7)), (Duration::from_millis(200), None));
    }

    #[test]
    fn switched_off_it_polls_and_never_asks_drive() {
        let mut l = Loop::new(None);
        assert!(!l.pickup.wants_version_before_pass());
        l.pass(v(1), PassEnd::Clean);
        assert_eq!(l.step(v(2)), (FULL, None));
        assert_eq!(l.pickup.access(), &DriveAccess::Unknown);
    }
}
