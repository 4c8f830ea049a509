//! Values that parse on construction.
//!
//! Everything a sheet cell can hold is text until proven otherwise; the types here are the
//! proofs. A [`Money`] is a non-negative amount with at most two decimals, a [`DocNumber`] is
//! at most 21 characters, and so on. Nothing in this module does I/O, so every rule is unit
//! tested without a network.

pub mod cell;

pub use cell::Cell;
