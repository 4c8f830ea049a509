//! # qbsync
//!
//! qbsync turns the ready rows of a Google Sheet tab (`inv_tbl`) into QuickBooks Online
//! documents — an **Invoice** for money coming in, a **Bill** for money going out — and
//! writes the QuickBooks id, link, status, time and error back onto the same row.
//!
//! The architecture is described in `README.md` (section *Architecture*); this page mirrors
//! it so that `cargo doc` readers see the same map.
//!
//! ## Bird's-eye view
//!
//! ```text
//!            ┌──────────── sheets ────────────┐          ┌──────────── qbo ─────────────┐
//!  Google ◄──┤ SheetsClient (google-sheets4)  │          │ QboClient (reqwest)          ├──► Intuit
//!            └──────────────┬─────────────────┘          └──────────────┬───────────────┘
//!                           │ values / anchors                          │ CreatedDoc / QboError
//!                      ┌────▼───────────────────────────────────────────▼────┐
//!                      │ sync: snapshot → plan (pure) → send → write-back     │
//!                      └────┬──────────────────────────────────────────┬─────┘
//!                           │ sync::ledger: intents, outcomes, audit   │
//!                      ┌────▼─────┐                              ┌─────▼──────┐
//!                      │ store    │ SQLite (WAL)                 │ auth       │ encrypted tokens
//!                      └──────────┘                              └────────────┘
//! ```
//!
//! ## Code map
//!
//! - [`domain`]: values that parse on construction — money, dates, `DocNumber`, sheet cells,
//!   parsed rows. No I/O.
//! - [`settings`], [`directions`]: layered configuration and the `qb_directions.json` routing map.
//! - [`sheets`]: the only module that knows the Sheets wire format. Long answers are cut into
//!   rows as they arrive and never held whole.
//! - [`qbo`]: the only module that knows the QuickBooks wire format (entities, faults, queries).
//! - [`auth`]: Intuit OAuth 2.0, the encrypted token store, Google credentials.
//! - [`store`]: the only module that knows SQL. Intents, outcomes, audit tables, caches.
//! - [`sync`]: one pass as a one-way pipeline of stages, a file each. `money` runs a round of
//!   the payment poller when due (`following` is its schedule); `snapshot` reads the sheet into
//!   one consistent picture (`picture`, `seal`: quiet rows are not decoded) and the store into a
//!   view (`view`); `plan` is pure (rows + view → actions; `draft` judges a row, `columns` says
//!   which tracking columns show it, `approval` when a person's yes counts); `ledger` is the
//!   only writer of row records, documents, payments, undos and audit lines; `send` talks to
//!   QuickBooks (`payload`, `names`, `company` for the company's tax rules) and `autopay` pays
//!   what the sheet says was paid; `write_back` projects the store onto the owned cells
//!   (`project`) and checks where writes landed (`landing`, from the rows Google answers a
//!   write with); `engine` orchestrates, and `pass` holds one
//!   pass's state. `undo` (`qbsync void`) takes documents back through the same ledger.
//! - [`payments`]: what QuickBooks says about money (change data capture, paid statuses) and
//!   whether the sheet asks for a payment.
//! - [`ops`]: logging, systemd notify, status page, metrics, alerts.
//! - [`sandbox`]: emulators of the four remote services, for tests, the demo and the benchmark.
//! - [`bench`]: `qbsync bench`, throughput and cost figures measured against the sandbox with
//!   the published limits on.
//! - [`daemon`]: the long-running loop; takes its shutdown signal as an argument.
//! - [`pickup`]: when the loop passes: at the poll interval, or when Drive says the sheet changed.
//! - [`commands`]: one file per CLI subcommand; `main.rs` is a thin shell over them.
//! - [`doctor`]: the checks of `qbsync doctor`, as data (one [`doctor::Check`] per question).
//!
//! ## Invariants
//!
//! 1. At most one QuickBooks document per ready row (or group): an intent with a deterministic
//!    `requestid` is committed to SQLite before any create is sent, and an uncertain outcome is
//!    resolved by looking the document up before anything is sent again.
//! 2. qbsync writes only the cells of the columns it owns, and only on the row that carries the
//!    row's anchor (developer metadata), after checking the row's own cells.
//! 3. The store is the source of truth for what qbsync-owned cells should say; the sheet is a
//!    projection of it, repaired whenever it drifts.
//! 4. Money is `rust_decimal::Decimal` end to end; no value passes through `f64` arithmetic.
//! 5. Secrets live in `secrecy` types and never reach logs, the sheet or the audit tables.
//! 6. The planner does no I/O. Row records, documents and audit lines are written only by
//!    `sync::ledger`, one typed method and one transaction per change of state; statuses,
//!    kinds and events are enums from the sheet to the store and back.
//! 7. A seal only ever skips work that would find nothing to do: it covers everything the
//!    planner and the projection read about a row (its sole anchor, its position, its cells as
//!    Google sent them, the header, the configuration), and every write to the row's record
//!    clears it. A row without a valid seal is planned in full. A row is sealed only when the
//!    cells qbsync may write show exactly what the store says, so it can be restored unread.
//! 8. A write is checked where it landed before the pass moves on: from Google's answer to the
//!    write when every written row shows what the picture showed there plus the write (nothing
//!    else can have moved under it), otherwise by reading the sheet and giving back what landed
//!    on another row. A landing shortcut may only skip a read that would find nothing to do.
//! 9. A document's id has one home: an invoice's in `qb_invoice_id`, a bill's in `qb_bill_id`,
//!    whatever the mode (`sync::columns`).

pub mod auth;
pub mod bench;
pub mod commands;
pub mod daemon;
pub mod directions;
pub mod doctor;
pub mod domain;
pub mod ops;
pub mod payments;
pub mod pickup;
pub mod qbo;
pub mod sandbox;
pub mod settings;
pub mod sheets;
pub mod store;
pub mod sync;
