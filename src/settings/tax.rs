//! Sales-tax and negative-amount settings: which tax code lines carry, whether the sheet's
//! amounts include tax, and what a negative amount becomes.
//!
//! The codes are kept as written (an id or a name): only the company knows whether they exist,
//! so they are resolved against its tax codes at start ([`crate::qbo::TaxSetup::plan`]), which
//! also says when a company needs a code that is not set.

use std::fmt;
use std::str::FromStr;

use crate::qbo::{TaxCodeSpec, TaxConfig};

use super::SettingsError;
use super::layers::Layers;
use super::values::{self, Problem, optional, or_default, problem};

/// `QB_DEFAULT_TAX_CODE`, `QB_DEFAULT_PURCHASE_TAX_CODE`, `QBSYNC_AMOUNTS_INCLUDE_TAX` and
/// `QBSYNC_NEGATIVE_AMOUNTS`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaxSettings {
    /// The tax codes and whether amounts include tax, for [`crate::qbo::TaxSetup::plan`].
    pub config: TaxConfig,
    /// What a row with a negative amount becomes.
    pub negative_amounts: NegativeAmounts,
}

/// `QBSYNC_NEGATIVE_AMOUNTS`: what a negative amount becomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NegativeAmounts {
    /// The row fails, asking for the credit to be entered by hand.
    #[default]
    Fail,
    /// A money-in row becomes a CreditMemo and a money-out row a VendorCredit, for the
    /// absolute amount.
    Credit,
}

impl NegativeAmounts {
    pub fn as_str(self) -> &'static str {
        match self {
            NegativeAmounts::Fail => "fail",
            NegativeAmounts::Credit => "credit",
        }
    }
}

impl fmt::Display for NegativeAmounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `QBSYNC_NEGATIVE_AMOUNTS` value that is neither.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a way to handle negative amounts: use fail or credit")]
pub struct NegativeAmountsError(pub String);

impl FromStr for NegativeAmounts {
    type Err = NegativeAmountsError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "fail" => Ok(NegativeAmounts::Fail),
            "credit" | "credits" => Ok(NegativeAmounts::Credit),
            _ => Err(NegativeAmountsError(value.to_owned())),
        }
    }
}

fn tax_code(value: &str) -> Result<TaxCodeSpec, Problem> {
    if value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err(problem(
            "is not a tax code",
            "use the id or name of one of the company's tax codes (`qbsync doctor` lists them)",
        ));
    }
    value.parse().map_err(|_| problem("is empty", "use the id or name of a tax code, or leave it unset"))
}

pub(super) fn read_tax(layers: &Layers) -> Result<TaxSettings, SettingsError> {
    Ok(TaxSettings {
        config: TaxConfig {
            sales_code: optional(layers.get("quickbooks.default_tax_code")?, tax_code)?,
            purchase_code: optional(layers.get("quickbooks.default_purchase_tax_code")?, tax_code)?,
            amounts_include_tax: or_default(layers.get("sync.amounts_include_tax")?, false, values::boolean)?,
        },
        negative_amounts: or_default(layers.get("sync.negative_amounts")?, NegativeAmounts::default(), |v| {
            NegativeAmounts::from_str(v).map_err(|_| {
                problem(
                    "is not a way to handle negative amounts",
                    "use fail (the row fails) or credit (a credit memo or vendor credit is created)",
                )
            })
        })?,
    })
}
