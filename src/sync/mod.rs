//! The sync engine: read, plan, apply.
//!
//! A pass reads the sheet ([`crate::sheets`]), asks the [`plan`] module what to do — a pure
//! function of the rows, their anchors, what the [`crate::store`] remembers and the
//! [`Policy`] — and hands the plan to [`apply`], the one place that performs side effects, in
//! the order the exactly-once guarantee needs:
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

pub mod draft;
pub mod engine;
pub mod names;
pub mod plan;
pub mod policy;
pub mod project;
pub mod seal;
pub mod view;

pub use engine::{Engine, PassOptions, PassReport};
pub use policy::{Mode, Policy};
