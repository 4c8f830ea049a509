//! What one pass keeps while it runs, shared by its stages.
//!
//! Each stage ([`super::snapshot`], [`super::send`], [`super::write_back`], the dry run and the
//! orchestration in [`super::engine`]) adds its own methods to [`Pass`] in its own file; this
//! file holds only the state they share. It lives for one pass and is dropped with it.

use std::time::Duration;

use crate::qbo::QboClient;
use crate::sheets::SheetsClient;
use crate::store::Store;

use super::company::Company;
use super::following::Following;
use super::ledger::Ledger;
use super::picture::{DriveVersions, IdleMemory, Picture};
use super::policy::Policy;
use super::report::{Progress, ProgressObserver};
use super::stop::Stop;

use super::view::StoreView;

/// What one pass keeps while it runs.
pub(super) struct Pass<'e> {
    /// Names the pass in the audit (see [`Ledger::in_pass`]).
    pub(super) id: String,
    pub(super) sheets: &'e SheetsClient,
    pub(super) qbo: &'e QboClient,
    /// Read here; written only through [`Pass::ledger`].
    pub(super) store: &'e Store,
    pub(super) batching: bool,
    pub(super) write_back_every: Duration,
    pub(super) observer: Option<&'e ProgressObserver>,
    pub(super) policy: &'e Policy,
    /// The company's rules, learnt when a document is first built (see [`Company`]).
    pub(super) company: &'e Company,
    /// The store as the pass sees it: loaded when a pass finds work (as far as the rows it
    /// plans need, see [`StoreView`]), caught up before each new picture of the sheet.
    pub(super) view: StoreView,
    /// The sheet as the pass last saw it: a later read that comes back byte for byte the same
    /// (nobody edited meanwhile) is not indexed or decoded again, and the write-back does not
    /// read at all while Drive says the file has not changed.
    pub(super) kept: Option<Picture>,
    /// Whether Drive lately refused to give a version (see [`DriveVersions`]).
    pub(super) drive_versions: &'e DriveVersions,
    /// What the last idle poll saw of each row (see [`IdleMemory`]).
    pub(super) idle_memory: &'e IdleMemory,
    /// The payment poller's schedule, when payments are followed (see [`super::money`]).
    pub(super) following: Option<&'e mut Following>,
    /// Whether payments held for the account setting are still to be decided again in this
    /// process (see [`super::autopay`]); cleared once a pass has.
    pub(super) retry_held_payouts: &'e mut bool,
    /// Whether a stop was asked for while the pass runs (see [`Stop`]).
    pub(super) stop: &'e Stop,
    /// How long the landing check goes on once a stop was asked for.
    pub(super) restore_grace: Duration,
}

impl Pass<'_> {
    pub(super) fn ledger(&self) -> Ledger<'_> {
        Ledger::in_pass(self.store, &self.id)
    }

    pub(super) fn progress(&self, event: Progress) {
        if let Some(observer) = self.observer {
            observer(event);
        }
    }
}
