//! The tax a document carries, as its body spells it: `GlobalTaxCalculation` and each line's
//! `TaxCodeRef`. The leaf of sales tax: the document model lays it over a body
//! ([`NewDoc::with_tax`](super::NewDoc::with_tax)), and the company's rules
//! ([`super::tax`]) decide it; neither needs the other to say what it is.

use std::fmt;

/// The id of one of the company's tax codes (`TAX`/`NON` in the US, a number elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaxCodeId(String);

impl TaxCodeId {
    /// A code's id as the company holds it (checked against its codes by the caller).
    pub(super) fn new(id: impl Into<String>) -> TaxCodeId {
        TaxCodeId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaxCodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `GlobalTaxCalculation`: whether line amounts include their tax. Required outside the US,
/// never sent in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalTaxCalculation {
    /// Tax is added to the amounts (QuickBooks' default).
    TaxExcluded,
    /// The amounts are what the client pays; the tax is inside them.
    TaxInclusive,
    /// No tax at all.
    NotApplicable,
}

impl GlobalTaxCalculation {
    pub fn as_str(self) -> &'static str {
        match self {
            GlobalTaxCalculation::TaxExcluded => "TaxExcluded",
            GlobalTaxCalculation::TaxInclusive => "TaxInclusive",
            GlobalTaxCalculation::NotApplicable => "NotApplicable",
        }
    }
}

/// The tax of one document: its `GlobalTaxCalculation` and each line's `TaxCodeRef`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocTax {
    /// `None` leaves it out (US companies).
    pub calculation: Option<GlobalTaxCalculation>,
    /// One per line, in line order, or empty when no line carries a code.
    pub line_codes: Vec<Option<TaxCodeId>>,
}

impl DocTax {
    /// Nothing to send: QuickBooks decides.
    pub fn is_empty(&self) -> bool {
        self.calculation.is_none() && self.line_codes.iter().all(Option::is_none)
    }
}

/// A [`DocTax`] whose codes do not fit the document's lines.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{codes} line tax codes were given for a document of {lines} lines")]
pub struct TaxShapeError {
    pub codes: usize,
    pub lines: usize,
}
