//! The sync: one pass reads the sheet, decides what every row becomes, creates documents in
//! QuickBooks, and writes the outcome back onto the rows.
//!
//! A pass is a one-way pipeline of stages, each in its own file (see [`engine`] for the
//! picture):
//!
//! 1. [`snapshot`] — the sheet as one consistent picture of values and row anchors, and a view
//!    of what the store remembers. Everything that makes reading cheap (the idle check, seals,
//!    reuse of the previous read) lives here.
//! 2. [`plan`] — pure: rows, anchors and the store's view in, actions out. [`draft`] judges one
//!    row; [`columns`] says which tracking columns show it; [`approval`] holds back rows a
//!    person has not approved yet (review before posting).
//! 3. [`ledger`] — the only writer of row records, documents and audit lines; each change of
//!    state is one typed method in its own transaction.
//! 4. [`send`] — names, intents, batches and reconciliation with QuickBooks ([`payload`] builds
//!    what is sent, [`names`] finds customers and vendors, [`company`] knows how the company
//!    taxes). After it, [`autopay`] pays in QuickBooks the documents whose rows show a paid
//!    date (opt-in). Before the snapshot, when it is due, [`money`] runs a round of the payment
//!    poller and records what QuickBooks says about the money of the documents qbsync created.
//! 5. [`write_back`] — the store projected onto the cells qbsync owns ([`project`]), written
//!    where the rows are now, with a check of where the writes landed ([`landing`], from the
//!    rows the write answers with).
//!
//! On a long history nearly every row is settled. The write-back [`seal`]s the synced rows it
//! finds in agreement with the store, and later passes neither decode nor plan nor project a
//! row that still carries its seal; the [`view`] of the store holds only the records of the
//! rows that are planned.

pub mod approval;
mod autopay;
pub mod columns;
pub mod company;
pub mod draft;
mod dry_run;
pub mod engine;
pub mod error;
mod fast;
pub mod following;
mod landing;
pub mod ledger;
pub mod money;
pub mod names;
mod pass;
pub mod payload;
pub mod picture;
pub mod plan;
pub mod policy;
pub mod project;
pub mod report;
pub mod seal;
mod send;
mod snapshot;
pub mod stop;
pub mod undo;
pub mod view;
mod write_back;

pub use company::Company;
pub use engine::{Engine, WRITE_BACK_EVERY};
pub use error::PassError;
pub use picture::DriveVersions;
pub use policy::{Autopay, Mode, Policy};
pub use report::{CreatedDoc, DryRunDoc, MoneyCounts, PassOptions, PassReport, Progress, ProgressObserver};
pub use stop::Stop;
