//! Money coming back, as a step of the pass: when it is due, one round of the payment poller
//! ([`crate::payments::follow()`]) before the pass looks at the sheet, recorded through the
//! ledger, so that the pass's write-back shows it in the same single batch write as
//! everything else.
//!
//! The poller costs metered QuickBooks calls, so a round runs only every
//! `QBSYNC_PAYMENTS_INTERVAL`, only while there are documents to follow, and only on a sheet
//! that has a money column (as the pass before last found the header: a sheet without them
//! is left alone). A round that fails is logged and tried again at the next interval; the
//! pass goes on, since creating documents does not depend on it.

use chrono::Utc;
use tokio::time::Instant;

use super::error::PassError;
use super::ledger::Ledger;
use super::pass::Pass;

impl Pass<'_> {
    /// A round of the payment poller, when one is due.
    pub(super) async fn follow_money(&mut self) -> Result<(), PassError> {
        let store = self.store;
        let Some(following) = self.following.as_deref_mut() else { return Ok(()) };
        let started = Instant::now();
        if !following.is_due(started) {
            return Ok(());
        }
        let followed = store.followed_documents()?;
        let covered_until = store.payments_covered_until()?;
        let round =
            crate::payments::follow(self.qbo, &followed, covered_until, Utc::now(), following.company_offset()).await;
        let round = match round {
            Ok(round) => round,
            Err(error) => {
                tracing::warn!(%error, "could not learn what changed in QuickBooks; trying again next interval");
                following.failed(started);
                return Ok(());
            }
        };
        following.ran(started, round.unfinished, round.company_offset);
        tracing::debug!(followed = followed.len(), changed = round.changes.len(), "payments followed");
        Ledger::new(store).money(&round)?;
        Ok(())
    }

    /// Remembers whether the header has a money column (see [`super::following::Following`]).
    pub(super) fn note_money_columns(&mut self, present: bool) {
        if let Some(following) = self.following.as_deref_mut() {
            following.saw_money_columns(present);
        }
    }

    /// The documents whose money the write-back is about to show: marked shown after it.
    pub(super) fn money_to_show(&self) -> Result<Vec<String>, PassError> {
        Ok(self.store.unshown_money()?)
    }
}
