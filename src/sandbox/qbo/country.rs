//! Sandbox companies of several countries, for testing what sales tax does to documents.
//!
//! Most QuickBooks companies outside the US refuse a line without a tax code, and a US company
//! accepts only `TAX` or `NON` (reference §3). A client tested only against a US company without
//! tax would fail every row elsewhere, so the sandbox can become a company of each kind: the demo
//! company's customers, vendors, items and accounts, with the country, tax preferences and tax
//! codes of `data/countries.json` laid over it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::company::Object;
use super::seed::{CompanySeed, DEMO_COMPANY, SeedError};

const COUNTRIES: &str = include_str!("../data/countries.json");

/// The kinds of company the sandbox can be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SandboxCountry {
    /// A US company using sales tax, without automated sales tax (`PartnerTaxEnabled` absent).
    #[serde(rename = "US")]
    Us,
    /// A US company with automated sales tax (`PartnerTaxEnabled` true).
    #[serde(rename = "US-AST")]
    UsAutomatedTax,
    /// Canada (Ontario, HST 13 %).
    #[serde(rename = "CA")]
    Canada,
    /// The United Kingdom (VAT).
    #[serde(rename = "GB")]
    UnitedKingdom,
    /// Australia (GST 10 %).
    #[serde(rename = "AU")]
    Australia,
}

impl SandboxCountry {
    pub const ALL: [SandboxCountry; 5] = [
        SandboxCountry::Us,
        SandboxCountry::UsAutomatedTax,
        SandboxCountry::Canada,
        SandboxCountry::UnitedKingdom,
        SandboxCountry::Australia,
    ];

    /// The key in `countries.json`, and what `--country` accepts.
    pub fn code(self) -> &'static str {
        match self {
            SandboxCountry::Us => "US",
            SandboxCountry::UsAutomatedTax => "US-AST",
            SandboxCountry::Canada => "CA",
            SandboxCountry::UnitedKingdom => "GB",
            SandboxCountry::Australia => "AU",
        }
    }

    /// The demo company as a company of this country.
    pub fn seed(self) -> Result<CompanySeed, SeedError> {
        let mut seed = CompanySeed::parse(DEMO_COMPANY)?;
        let countries: serde_json::Map<String, Value> = serde_json::from_str(COUNTRIES)?;
        let overlay = countries.get(self.code()).cloned().unwrap_or(Value::Null);
        let section = |name: &str| overlay.get(name).and_then(Value::as_object).cloned().unwrap_or_default();
        merge(&mut seed.company_info, section("company_info"));
        merge(&mut seed.preferences, section("preferences"));
        let list = |name: &str| -> Vec<Object> {
            overlay
                .get(name)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(|item| item.as_object().cloned()).collect())
                .unwrap_or_default()
        };
        seed.tax_rates = list("tax_rates");
        seed.tax_codes = list("tax_codes");
        Ok(seed)
    }
}

/// Top-level keys of `overlay` replace those of `base`.
fn merge(base: &mut Object, overlay: Object) {
    base.extend(overlay);
}

impl fmt::Display for SandboxCountry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A `--country` value that names no sandbox company.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a sandbox country: use US, US-AST, CA, GB or AU")]
pub struct UnknownCountry(pub String);

impl FromStr for SandboxCountry {
    type Err = UnknownCountry;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_uppercase().replace('_', "-").as_str() {
            "US" | "USA" => Ok(SandboxCountry::Us),
            "US-AST" | "USA-AST" => Ok(SandboxCountry::UsAutomatedTax),
            "CA" | "CAN" => Ok(SandboxCountry::Canada),
            "GB" | "GBR" | "UK" => Ok(SandboxCountry::UnitedKingdom),
            "AU" | "AUS" => Ok(SandboxCountry::Australia),
            _ => Err(UnknownCountry(value.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::qbo::{clock, entities::EntityKind, seed};

    #[test]
    fn every_country_loads_with_its_tax_codes() {
        for country in SandboxCountry::ALL {
            let company = seed::load(&country.seed().unwrap(), "http://sandbox/", &clock::now()).unwrap();
            assert!(company.live(EntityKind::TaxCode).count() >= 2, "{country}");
            let stated = company.company_info.get("Country").and_then(Value::as_str).unwrap();
            assert_eq!(stated, country.code().trim_end_matches("-AST"));
            assert!(company.live(EntityKind::Customer).count() > 0);
        }
    }

    #[test]
    fn automated_sales_tax_is_only_in_its_own_company() {
        let prefs = |country: SandboxCountry| country.seed().unwrap().preferences["TaxPrefs"].clone();
        assert_eq!(prefs(SandboxCountry::UsAutomatedTax)["PartnerTaxEnabled"], true);
        assert!(prefs(SandboxCountry::Us).get("PartnerTaxEnabled").is_none());
        assert!(prefs(SandboxCountry::Canada).get("PartnerTaxEnabled").is_none());
    }

    #[test]
    fn countries_parse_in_their_usual_spellings() {
        assert_eq!("gb".parse(), Ok(SandboxCountry::UnitedKingdom));
        assert_eq!("UK".parse(), Ok(SandboxCountry::UnitedKingdom));
        assert_eq!("us_ast".parse(), Ok(SandboxCountry::UsAutomatedTax));
        assert_eq!("CAN".parse(), Ok(SandboxCountry::Canada));
        assert!("FR".parse::<SandboxCountry>().is_err());
    }
}
