//! Values that parse on construction.
//!
//! Everything a sheet cell can hold is text until proven otherwise; the types here are the
//! proofs. A [`Money`] is a non-negative amount with at most two decimals, a [`DocNumber`] is
//! at most 21 characters, a [`Layout`] knows where every column is, and so on. Nothing in this
//! module does I/O, so every rule is unit tested without a network.

pub mod cell;
pub mod date;
pub mod doc_number;
pub mod fingerprint;
pub mod invisible;
pub mod layout;
pub mod money;
pub mod name;
pub mod status;

pub use cell::Cell;
pub use date::{DateError, DateOrder, parse_date};
pub use doc_number::{DocNumber, DocNumberError};
pub use fingerprint::{Fingerprinter, content_fingerprint};
pub use layout::{ColumnNames, Field, Layout, LayoutError, column_letter};
pub use money::{AmountError, AmountFormat, Money, parse_amount};
pub use name::{PartyName, PartyNameError};
pub use status::{EligibleStatuses, RowStatus, UnknownRowStatus};
