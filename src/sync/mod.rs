//! The sync engine: read, plan, apply.
//!
//! A pass reads the sheet ([`crate::sheets`]), asks the [`plan`] module what to do — a pure
//! function of the rows, their anchors, what the [`crate::store`] remembers and the
//! [`Policy`] — and hands the plan to the [`engine`], the one place that performs side
//! effects, in the order the exactly-once guarantee needs:
//!
//! 1. **anchor** every row qbsync will write to (developer metadata that moves with the row),
//!    and verify each new anchor landed on the row it was meant for;
//! 2. **record the intent** (deterministic `requestid`, payload hash) in SQLite;
//! 3. **create** in QuickBooks, or **reconcile** an earlier uncertain attempt by looking the
//!    document up before anything is sent again;
//! 4. **project** the store onto the qbsync-owned cells of anchored rows and write the
//!    difference in one batch.
//!
//! A crash between any two steps leaves the store saying what to do next.
//!
//! On a long history nearly every row is settled. The write-back [`seal`]s the synced rows it
//! finds in agreement with the store, and later passes neither decode nor plan nor project a
//! row that still carries its seal; the [`view`] of the store holds only the records of the
//! rows that are planned.

pub mod draft;
pub mod engine;
pub mod names;
pub mod picture;
pub mod plan;
pub mod policy;
pub mod project;
pub mod seal;
pub mod view;

pub use engine::{Engine, PassOptions, PassReport};
pub use policy::{Mode, Policy};
