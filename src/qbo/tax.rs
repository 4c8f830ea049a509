//! Sales tax: what the connected company requires, and how each document is taxed.
//!
//! QuickBooks taxes differently by country (reference §3). A US company takes only `TAX` or
//! `NON` as a line's tax code (anything else is fault 6100) and, with automated sales tax
//! (`Preferences.TaxPrefs.PartnerTaxEnabled` present), computes the tax itself; qbsync sends a
//! code only when `QB_DEFAULT_TAX_CODE` asks for one. Every other company refuses a line without
//! a tax code (fault 6000, "…rate before you save") and needs `GlobalTaxCalculation` to know
//! whether the amounts include the tax.
//!
//! So qbsync learns the company's [`TaxSetup`] at start (country, tax preferences, tax codes)
//! and turns it and the settings into a [`TaxPlan`] with [`TaxSetup::plan`]: a company that needs
//! a code and has none configured is one configuration error listing the company's codes, never
//! a hundred failed rows. The plan then gives each document its [`DocTax`], which
//! [`NewDoc::with_tax`](super::NewDoc::with_tax) lays over the payload. Everything here is pure.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use super::doc_tax::{DocTax, GlobalTaxCalculation, TaxCodeId};
use super::model::{CompanyInfo, DocKind, Preferences};

/// The company's country, from `CompanyInfo.Country` (2- or 3-letter; Intuit moved to 3 letters
/// in late 2025, reference §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Country {
    UnitedStates,
    Canada,
    UnitedKingdom,
    Australia,
    /// Any other country, as QuickBooks spelt it.
    Other(String),
}

impl Country {
    pub fn parse(text: &str) -> Country {
        match text.trim().to_ascii_uppercase().as_str() {
            // A company that does not say is treated as QuickBooks' default market.
            "" | "US" | "USA" => Country::UnitedStates,
            "CA" | "CAN" => Country::Canada,
            "GB" | "GBR" | "UK" => Country::UnitedKingdom,
            "AU" | "AUS" => Country::Australia,
            other => Country::Other(other.to_owned()),
        }
    }

    pub fn is_us(&self) -> bool {
        *self == Country::UnitedStates
    }

    /// What the country calls its sales tax, for messages.
    pub fn tax_word(&self) -> &'static str {
        match self {
            Country::UnitedStates => "sales tax",
            Country::Canada => "GST/HST",
            Country::UnitedKingdom => "VAT",
            Country::Australia | Country::Other(_) => "GST",
        }
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Country::UnitedStates => "US",
            Country::Canada => "CA",
            Country::UnitedKingdom => "GB",
            Country::Australia => "AU",
            Country::Other(code) => code,
        })
    }
}

/// One of the company's tax codes, as `SELECT * FROM TaxCode` answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxCode {
    pub id: TaxCodeId,
    pub name: String,
    pub active: bool,
    /// `TaxGroup`: a combination of rates (US custom groups, Canadian GST+PST).
    pub group: bool,
    /// The names of the rates applied on sales and on purchases (empty: none on that side).
    pub sales_rates: Vec<String>,
    pub purchase_rates: Vec<String>,
}

impl TaxCode {
    /// Reads a `TaxCode` entity. Fails only without an `Id`.
    pub(crate) fn from_entity(entity: &Value) -> Result<TaxCode, String> {
        let text = |key: &str| match entity.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let id = text("Id").ok_or("the TaxCode has no Id")?;
        let rates = |list: &str| -> Vec<String> {
            entity
                .get(list)
                .and_then(|l| l.get("TaxRateDetail"))
                .and_then(Value::as_array)
                .map(|details| {
                    details
                        .iter()
                        .filter_map(|d| d.get("TaxRateRef"))
                        .filter_map(|r| r.get("name").or_else(|| r.get("value")))
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(TaxCode {
            name: text("Name").unwrap_or_else(|| id.clone()),
            id: TaxCodeId::new(id),
            active: entity.get("Active").and_then(Value::as_bool).unwrap_or(true),
            group: entity.get("TaxGroup").and_then(Value::as_bool).unwrap_or(false),
            sales_rates: rates("SalesTaxRateList"),
            purchase_rates: rates("PurchaseTaxRateList"),
        })
    }
}

/// A tax code as a person wrote it in a setting or a cell: the code's id or its name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaxCodeSpec(String);

impl TaxCodeSpec {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An empty tax code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tax code needs its id or name")]
pub struct EmptyTaxCode;

impl FromStr for TaxCodeSpec {
    type Err = EmptyTaxCode;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        if value.is_empty() { Err(EmptyTaxCode) } else { Ok(TaxCodeSpec(value.to_owned())) }
    }
}

impl fmt::Display for TaxCodeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the settings say about tax (`QB_DEFAULT_TAX_CODE`, `QB_DEFAULT_PURCHASE_TAX_CODE`,
/// `QBSYNC_AMOUNTS_INCLUDE_TAX`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaxConfig {
    /// The code of invoice and credit-memo lines.
    pub sales_code: Option<TaxCodeSpec>,
    /// The code of bill and vendor-credit lines.
    pub purchase_code: Option<TaxCodeSpec>,
    /// The sheet's amounts are what the client pays, tax included.
    pub amounts_include_tax: bool,
}

/// The setting a tax code came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxSetting {
    /// `QB_DEFAULT_TAX_CODE`
    Sales,
    /// `QB_DEFAULT_PURCHASE_TAX_CODE`
    Purchase,
}

impl TaxSetting {
    pub fn env_name(self) -> &'static str {
        match self {
            TaxSetting::Sales => "QB_DEFAULT_TAX_CODE",
            TaxSetting::Purchase => "QB_DEFAULT_PURCHASE_TAX_CODE",
        }
    }

    fn documents(self) -> &'static str {
        match self {
            TaxSetting::Sales => "invoice and credit memo",
            TaxSetting::Purchase => "bill and vendor credit",
        }
    }
}

impl fmt::Display for TaxSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.env_name())
    }
}

/// Why the tax settings do not fit the company: stops start-up with one message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaxConfigError {
    #[error(
        "this QuickBooks company ({country}) needs a {tax} code on every {} line, and {setting} is not set: set it to the id or name of one of the company's tax codes: {codes}",
        setting.documents(),
        tax = country.tax_word()
    )]
    Missing { setting: TaxSetting, country: Country, codes: String },
    #[error(
        "{setting}={given} is not a tax code of this QuickBooks company ({country}): use the id or name of one of: {codes}"
    )]
    Unknown { setting: TaxSetting, given: String, country: Country, codes: String },
    #[error(
        "{setting}={given}: a US company's lines take only TAX (taxable) or NON (not taxable); set {setting} to TAX or NON, or leave it unset to let QuickBooks decide"
    )]
    NotUsCode { setting: TaxSetting, given: String },
}

/// Why one document's tax cannot be decided: fails that document's rows only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocTaxError {
    /// A row's `tax_code` cell names no code of the company.
    #[error(
        "the tax code \"{given}\" is not one of this QuickBooks company's tax codes: use the id or name of one of: {codes}"
    )]
    Unknown { given: String, codes: String },
    /// A US row's `tax_code` cell says something other than TAX or NON.
    #[error("the tax code \"{given}\" does not exist for a US company: use TAX (taxable) or NON (not taxable)")]
    NotUsCode { given: String },
    /// A document kind whose default code was never configured (bills with only invoices set up).
    #[error("this {kind} needs a tax code on every line: set {setting}, or fill the row's tax_code cell")]
    NotConfigured { kind: DocKind, setting: TaxSetting },
}

/// The company's tax setup, learnt at start and in `qbsync doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxSetup {
    pub country: Country,
    /// `TaxPrefs.UsingSalesTax`.
    pub using_sales_tax: Option<bool>,
    /// `TaxPrefs.PartnerTaxEnabled`: present means automated sales tax (true: set up).
    pub partner_tax_enabled: Option<bool>,
    /// Every tax code, inactive ones included.
    pub codes: Vec<TaxCode>,
}

impl TaxSetup {
    pub fn new(info: &CompanyInfo, preferences: &Preferences, codes: Vec<TaxCode>) -> TaxSetup {
        TaxSetup {
            country: Country::parse(info.country.as_deref().unwrap_or_default()),
            using_sales_tax: preferences.using_sales_tax,
            partner_tax_enabled: preferences.partner_tax_enabled,
            codes,
        }
    }

    /// US automated sales tax: QuickBooks picks rates and computes the tax itself.
    pub fn automated_sales_tax(&self) -> bool {
        self.country.is_us() && self.partner_tax_enabled.is_some()
    }

    /// Every line of every document must name a tax code (every country but the US).
    pub fn needs_line_codes(&self) -> bool {
        !self.country.is_us()
    }

    /// The active code with this id, else the one with this name (any case).
    pub fn find(&self, spec: &str) -> Option<&TaxCode> {
        let spec = spec.trim();
        let active = || self.codes.iter().filter(|c| c.active);
        active().find(|c| c.id.as_str() == spec).or_else(|| active().find(|c| c.name.eq_ignore_ascii_case(spec)))
    }

    /// The active codes, `id "name"`, for messages.
    pub fn code_list(&self) -> String {
        let listed: Vec<String> = self
            .codes
            .iter()
            .filter(|c| c.active)
            .map(|c| if c.name == c.id.as_str() { c.id.to_string() } else { format!("{} \"{}\"", c.id, c.name) })
            .collect();
        if listed.is_empty() { "(the company has no tax codes)".into() } else { listed.join(", ") }
    }

    /// How documents are taxed under `config`, or why the settings do not fit the company.
    /// `creates_bills`: whether purchase documents are made (then outside the US the purchase
    /// code is required too).
    pub fn plan(&self, config: &TaxConfig, creates_bills: bool) -> Result<TaxPlan, TaxConfigError> {
        if self.country.is_us() {
            let us = |spec: &Option<TaxCodeSpec>, setting| -> Result<Option<TaxCodeId>, TaxConfigError> {
                spec.as_ref()
                    .map(|s| {
                        us_code(s.as_str())
                            .ok_or_else(|| TaxConfigError::NotUsCode { setting, given: s.as_str().to_owned() })
                    })
                    .transpose()
            };
            return Ok(TaxPlan {
                rule: Rule::Us {
                    sales: us(&config.sales_code, TaxSetting::Sales)?,
                    purchase: us(&config.purchase_code, TaxSetting::Purchase)?,
                },
                setup: self.clone(),
            });
        }
        let resolve = |spec: &Option<TaxCodeSpec>, setting, required| -> Result<Option<TaxCodeId>, TaxConfigError> {
            match spec {
                Some(spec) => {
                    self.find(spec.as_str()).map(|c| Some(c.id.clone())).ok_or_else(|| TaxConfigError::Unknown {
                        setting,
                        given: spec.as_str().to_owned(),
                        country: self.country.clone(),
                        codes: self.code_list(),
                    })
                }
                None if required => {
                    Err(TaxConfigError::Missing { setting, country: self.country.clone(), codes: self.code_list() })
                }
                None => Ok(None),
            }
        };
        let sales = resolve(&config.sales_code, TaxSetting::Sales, true)?;
        let purchase = resolve(&config.purchase_code, TaxSetting::Purchase, creates_bills)?;
        let calculation = if config.amounts_include_tax {
            GlobalTaxCalculation::TaxInclusive
        } else {
            GlobalTaxCalculation::TaxExcluded
        };
        Ok(TaxPlan { rule: Rule::PerLine { sales, purchase, calculation }, setup: self.clone() })
    }
}

/// `TAX` or `NON`, any case.
fn us_code(spec: &str) -> Option<TaxCodeId> {
    match spec.trim().to_ascii_uppercase().as_str() {
        code @ ("TAX" | "NON") => Some(TaxCodeId::new(code)),
        _ => None,
    }
}

/// How this company's documents are taxed; built by [`TaxSetup::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaxPlan {
    rule: Rule,
    setup: TaxSetup,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// US: `TAX`/`NON` on lines where configured; otherwise nothing, and QuickBooks decides.
    Us { sales: Option<TaxCodeId>, purchase: Option<TaxCodeId> },
    /// Everywhere else: a code on every line and `GlobalTaxCalculation` on every document.
    PerLine { sales: Option<TaxCodeId>, purchase: Option<TaxCodeId>, calculation: GlobalTaxCalculation },
}

impl TaxPlan {
    /// The setup the plan was made for.
    pub fn setup(&self) -> &TaxSetup {
        &self.setup
    }

    /// The tax of a document of `kind` whose lines carry these `tax_code` cells (one per line,
    /// `None` where the row leaves it to the default). Lay it over the payload with
    /// [`NewDoc::with_tax`](super::NewDoc::with_tax).
    pub fn doc_tax(&self, kind: DocKind, line_overrides: &[Option<&str>]) -> Result<DocTax, DocTaxError> {
        let setting = if kind.is_sale() { TaxSetting::Sales } else { TaxSetting::Purchase };
        match &self.rule {
            Rule::Us { sales, purchase } => {
                let default = if kind.is_sale() { sales } else { purchase };
                let mut codes = Vec::with_capacity(line_overrides.len());
                for cell in line_overrides {
                    codes.push(match cell {
                        Some(given) => {
                            Some(us_code(given).ok_or_else(|| DocTaxError::NotUsCode { given: (*given).to_owned() })?)
                        }
                        None => default.clone(),
                    });
                }
                if codes.iter().all(Option::is_none) {
                    codes.clear();
                }
                Ok(DocTax { calculation: None, line_codes: codes })
            }
            Rule::PerLine { sales, purchase, calculation } => {
                let default = if kind.is_sale() { sales } else { purchase };
                let mut codes = Vec::with_capacity(line_overrides.len());
                for cell in line_overrides {
                    let code = match cell {
                        Some(given) => self.setup.find(given).map(|c| c.id.clone()).ok_or_else(|| {
                            DocTaxError::Unknown { given: (*given).to_owned(), codes: self.setup.code_list() }
                        })?,
                        None => default.clone().ok_or(DocTaxError::NotConfigured { kind, setting })?,
                    };
                    codes.push(Some(code));
                }
                Ok(DocTax { calculation: Some(*calculation), line_codes: codes })
            }
        }
    }

    /// One line for `qbsync doctor` and the start-up log: what qbsync will send.
    pub fn describe(&self) -> String {
        let name = |id: &Option<TaxCodeId>| match id {
            Some(id) => match self.setup.codes.iter().find(|c| &c.id == id) {
                Some(code) if code.name != id.as_str() => format!("{id} \"{}\"", code.name),
                _ => id.to_string(),
            },
            None => "none".into(),
        };
        match &self.rule {
            Rule::Us { sales: None, purchase: None } if self.setup.automated_sales_tax() => {
                "no tax code is sent; QuickBooks' automated sales tax decides".into()
            }
            Rule::Us { sales: None, purchase: None } => {
                "no tax code is sent; QuickBooks applies each item's and customer's taxable setting".into()
            }
            Rule::Us { sales, purchase } => {
                format!("sales lines carry {}, purchase lines {}", name(sales), name(purchase))
            }
            Rule::PerLine { sales, purchase, calculation } => format!(
                "sales lines carry {}, purchase lines {}; amounts are sent as {}",
                name(sales),
                name(purchase),
                calculation.as_str()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn code(id: &str, name: &str) -> TaxCode {
        TaxCode::from_entity(&json!({"Id": id, "Name": name, "Active": true})).unwrap()
    }

    fn setup(country: &str, codes: Vec<TaxCode>, partner: Option<bool>) -> TaxSetup {
        TaxSetup { country: Country::parse(country), using_sales_tax: Some(true), partner_tax_enabled: partner, codes }
    }

    fn uk() -> TaxSetup {
        setup("GB", vec![code("2", "20.0% S"), code("4", "0.0% Z"), code("6", "No VAT")], None)
    }

    fn config(sales: Option<&str>, purchase: Option<&str>, inclusive: bool) -> TaxConfig {
        TaxConfig {
            sales_code: sales.map(|s| s.parse().unwrap()),
            purchase_code: purchase.map(|s| s.parse().unwrap()),
            amounts_include_tax: inclusive,
        }
    }

    fn id(s: &str) -> Option<TaxCodeId> {
        Some(TaxCodeId::new(s))
    }

    #[test]
    fn a_us_company_without_a_setting_leaves_tax_to_quickbooks() {
        let plan = setup("US", vec![code("TAX", "TAX"), code("NON", "NON")], Some(true))
            .plan(&config(None, None, false), true)
            .unwrap();
        let tax = plan.doc_tax(DocKind::Invoice, &[None, None]).unwrap();
        assert!(tax.is_empty());
        assert!(plan.describe().contains("automated sales tax"), "{}", plan.describe());
    }

    #[test]
    fn a_us_company_sends_tax_or_non_and_never_a_calculation() {
        let us = setup("USA", vec![], None);
        let plan = us.plan(&config(Some("tax"), None, true), true).unwrap();
        let tax = plan.doc_tax(DocKind::Invoice, &[None, Some("non")]).unwrap();
        assert_eq!(tax, DocTax { calculation: None, line_codes: vec![id("TAX"), id("NON")] });
        assert!(plan.doc_tax(DocKind::Bill, &[None]).unwrap().is_empty());
        assert_eq!(plan.doc_tax(DocKind::Invoice, &[Some("8")]), Err(DocTaxError::NotUsCode { given: "8".into() }));
        let error = us.plan(&config(Some("8"), None, false), false).unwrap_err();
        assert!(error.to_string().starts_with("QB_DEFAULT_TAX_CODE=8: a US company's lines take only TAX"), "{error}");
    }

    #[test]
    fn a_uk_company_without_a_code_is_a_configuration_error_listing_its_codes() {
        let error = uk().plan(&config(None, None, false), false).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("(GB) needs a VAT code on every invoice and credit memo line"), "{message}");
        assert!(message.contains("QB_DEFAULT_TAX_CODE is not set"), "{message}");
        assert!(message.ends_with(r#"2 "20.0% S", 4 "0.0% Z", 6 "No VAT""#), "{message}");
    }

    #[test]
    fn a_uk_company_resolves_names_and_ids_and_taxes_every_line() {
        let plan = uk().plan(&config(Some("20.0% s"), Some("4"), false), true).unwrap();
        let tax = plan.doc_tax(DocKind::Invoice, &[None, Some("No VAT"), Some("4")]).unwrap();
        assert_eq!(
            tax,
            DocTax {
                calculation: Some(GlobalTaxCalculation::TaxExcluded),
                line_codes: vec![id("2"), id("6"), id("4")]
            }
        );
        let bill = plan.doc_tax(DocKind::VendorCredit, &[None]).unwrap();
        assert_eq!(bill.line_codes, vec![id("4")]);
        let unknown = plan.doc_tax(DocKind::Invoice, &[Some("17.5%")]).unwrap_err();
        assert!(unknown.to_string().contains(r#"the tax code "17.5%" is not one"#), "{unknown}");
    }

    #[test]
    fn inclusive_amounts_become_tax_inclusive_documents() {
        let canada = setup("CA", vec![code("6", "HST ON")], None);
        let plan = canada.plan(&config(Some("HST ON"), None, true), false).unwrap();
        let tax = plan.doc_tax(DocKind::CreditMemo, &[None]).unwrap();
        assert_eq!(tax.calculation, Some(GlobalTaxCalculation::TaxInclusive));
        assert!(plan.describe().ends_with("TaxInclusive"), "{}", plan.describe());
    }

    #[test]
    fn bills_need_the_purchase_code_only_when_bills_are_made() {
        let australia = setup("AUS", vec![code("4", "GST"), code("5", "FRE")], None);
        let error = australia.plan(&config(Some("GST"), None, false), true).unwrap_err();
        assert!(matches!(error, TaxConfigError::Missing { setting: TaxSetting::Purchase, .. }), "{error}");
        assert!(error.to_string().contains("needs a GST code on every bill and vendor credit line"), "{error}");
        let plan = australia.plan(&config(Some("GST"), None, false), false).unwrap();
        assert_eq!(
            plan.doc_tax(DocKind::Bill, &[None]),
            Err(DocTaxError::NotConfigured { kind: DocKind::Bill, setting: TaxSetting::Purchase })
        );
        let unknown = australia.plan(&config(Some("GST"), Some("INP"), false), true).unwrap_err();
        assert!(unknown.to_string().starts_with("QB_DEFAULT_PURCHASE_TAX_CODE=INP is not a tax code"), "{unknown}");
    }

    #[test]
    fn inactive_codes_are_neither_found_nor_listed() {
        let mut codes = vec![code("2", "20.0% S")];
        codes.push(TaxCode { active: false, ..code("9", "Old") });
        let gb = setup("GB", codes, None);
        assert!(gb.find("9").is_none() && gb.find("old").is_none());
        assert_eq!(gb.code_list(), r#"2 "20.0% S""#);
    }

    #[test]
    fn tax_codes_read_their_rate_names() {
        let code = TaxCode::from_entity(&json!({
            "Id": "6", "Name": "HST ON", "Active": true, "TaxGroup": false,
            "SalesTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "1", "name": "HST ON"}}]},
            "PurchaseTaxRateList": {"TaxRateDetail": []}
        }))
        .unwrap();
        assert_eq!(
            (code.id.as_str(), code.sales_rates.as_slice(), code.purchase_rates.len()),
            ("6", &["HST ON".to_owned()][..], 0)
        );
        assert!(TaxCode::from_entity(&json!({"Name": "x"})).is_err());
        assert_eq!("  ".parse::<TaxCodeSpec>(), Err(EmptyTaxCode));
    }
}
