//! Money coming back: what QuickBooks says happened to a document after qbsync created it.
//!
//! A bookkeeper's first question every morning is "who has paid?". QuickBooks answers it with a
//! balance and a list of linked payments, never with a status, and it tells a poller about
//! changes only through change data capture (CDC), which looks back at most 30 days and returns
//! at most 1,000 objects with no paging. This module holds the decisions that follow, as pure
//! functions and small state machines with no I/O, so each rule is tested on its own:
//!
//! - [`status`]: the [`PaidStatus`] a row shows (open, partial, paid, overdue, voided, deleted),
//!   judged by the company's calendar.
//! - [`window`]: [`CdcWindow`], which CDC window to ask for next, when to narrow it and when to
//!   fall back to reading the open documents by id.
//! - [`poller`]: [`Poller`], one polling round against QuickBooks through that policy,
//!   giving [`DocFacts`] for the documents the caller follows (deletions confirmed by a read).
//! - [`follow`]: one round for the documents qbsync created, as the [`MoneyChange`]s their
//!   rows must show (judged again by the company's calendar, so an invoice falls overdue by
//!   itself).
//! - [`autopay`]: the opt-in direction, a date in `Inv_paid_date` becoming a payment for the
//!   open balance, never more.

pub mod autopay;
pub mod follow;
pub mod poller;
pub mod status;
pub mod window;

pub use autopay::{NoPayment, PayDecision, PayRequest, Unpaid, decide_payment};
pub use follow::{FollowRound, Followed, Money, MoneyChange, follow};
pub use poller::{DocKey, DocUpdate, PollRound, Poller};
pub use status::{
    DocFacts, Lifecycle, PaidStatus, PaidView, UnknownPaidStatus, company_today, paid_view, paid_view_on,
};
pub use window::{CdcWindow, NextRead, WindowOutcome};
