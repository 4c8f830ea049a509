//! Running it for real: what an operator of an unattended daemon needs besides the sync itself.
//!
//! qbsync runs for months on a small VM and is looked at rarely — when a bookkeeper asks "did my
//! invoice go through?", when something is wrong, and in the first days after install. Each file
//! here answers one of those moments and none of them knows how a pass works: the daemon and the
//! CLI (`crate::commands`) call in with plain values.
//!
//! - [`logging`]: the tracing subscriber — stdout for the journal, a daily-rotating file.
//! - [`notify`]: the systemd notify protocol (READY, STOPPING, STATUS) and a watchdog that only
//!   pings while passes make progress.
//! - [`status`]: the status report (`qbsync status`, `/status.json`) built from the store.
//! - [`web`]: the local status server — an HTML card, `/status.json`, `/healthz`, `/metrics`;
//!   [`card`] renders the card.
//! - [`metrics`]: the Prometheus registry the daemon feeds after each pass.
//! - [`alerts`]: webhook and e-mail notifications, once per problem until it is resolved.
//! - [`audit_format`]: table, JSON and CSV output of `qbsync audit`.
//! - [`progress`]: a progress bar on a terminal, plain log lines elsewhere.

pub mod alerts;
pub mod audit_format;
pub mod card;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod progress;
pub mod status;
pub mod web;
