//! Sales tax as QBO applies it to a document's lines, per company country.
//!
//! Tax is where QBO differs most between countries (reference §3), and where a client tested
//! only against a US company breaks: outside the US every line must carry a tax code (6000,
//! "…rate before you save"), a US line accepts only `TAX` or `NON` (6100), and
//! `GlobalTaxCalculation` decides whether a line's amount includes its tax. The emulator
//! computes `TxnTaxDetail` and the tax part of `TotalAmt` penny-exact from the company's
//! `TaxCode` and `TaxRate` records.
//!
//! What Intuit does not document is read pessimistically: every non-US line needs a code even
//! with `NotApplicable`; tax is rounded per code (half away from zero) and summed per rate; an
//! inclusive line keeps the amount sent (`TotalAmt` is the sum of what was sent) and its net is
//! what remains after the tax is taken out. A US company never computes tax here: sandbox
//! companies have no automated-sales-tax engine (reference §3.2), so `TotalTax` stays 0.

use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};

use super::amount;
use super::build::Mode;
use super::company::{Company, Object};
use super::entities::EntityKind;
use super::fault::Fault;

/// The tax rules a company's country brings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Locale {
    Us,
    Canada,
    UnitedKingdom,
    Australia,
    /// Any other country: per-line codes like Canada, with the GST wording.
    Other,
}

impl Locale {
    /// From `CompanyInfo.Country`, in its 2- or 3-letter form (Intuit moved to 3 letters in 2025).
    pub fn of(company: &Company) -> Locale {
        let country = company.company_info.get("Country").and_then(Value::as_str).unwrap_or("US");
        match country.trim().to_ascii_uppercase().as_str() {
            "" | "US" | "USA" => Locale::Us,
            "CA" | "CAN" => Locale::Canada,
            "GB" | "GBR" | "UK" => Locale::UnitedKingdom,
            "AU" | "AUS" => Locale::Australia,
            _ => Locale::Other,
        }
    }

    /// The 6000 text for a line without a tax code (reference §3.3; the AU text is the
    /// Singapore one, which peers expect for Australia too).
    fn missing_code_text(self) -> &'static str {
        match self {
            Locale::Canada => "Make sure all your transactions have a GST/HST rate before you save.",
            Locale::UnitedKingdom => "Make sure all your transactions have a VAT rate before you save.",
            Locale::Us | Locale::Australia | Locale::Other => {
                "Make sure all your transactions have a GST rate before you save."
            }
        }
    }
}

/// Which rate list of a tax code applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Sales,
    Purchase,
}

impl Side {
    fn rate_list(self) -> &'static str {
        match self {
            Side::Sales => "SalesTaxRateList",
            Side::Purchase => "PurchaseTaxRateList",
        }
    }
}

/// `GlobalTaxCalculation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Calculation {
    TaxExcluded,
    TaxInclusive,
    NotApplicable,
}

impl Calculation {
    fn wire(self) -> &'static str {
        match self {
            Calculation::TaxExcluded => "TaxExcluded",
            Calculation::TaxInclusive => "TaxInclusive",
            Calculation::NotApplicable => "NotApplicable",
        }
    }
}

/// The document's `GlobalTaxCalculation`: `None` for a US company (it does not apply there);
/// `TaxExcluded` when a non-US document names none, as QBO defaults it. Intuit says only that it
/// is "not applicable" to US companies, not what happens when one is sent: with `refuse_us`
/// (the default, the pessimistic reading) the document is refused, otherwise it is ignored.
pub fn calculation(locale: Locale, input: &Object, refuse_us: bool) -> Result<Option<Calculation>, Fault> {
    if locale == Locale::Us {
        let sent = input.get("GlobalTaxCalculation").is_some_and(|v| !v.is_null());
        if sent && refuse_us {
            return Err(Fault::business("GlobalTaxCalculation is not applicable to US companies."));
        }
        return Ok(None);
    }
    match input.get("GlobalTaxCalculation") {
        None | Some(Value::Null) => Ok(Some(Calculation::TaxExcluded)),
        Some(Value::String(text)) => match text.as_str() {
            "TaxExcluded" => Ok(Some(Calculation::TaxExcluded)),
            "TaxInclusive" => Ok(Some(Calculation::TaxInclusive)),
            "NotApplicable" => Ok(Some(Calculation::NotApplicable)),
            other => Err(invalid_enumeration(other)),
        },
        Some(other) => Err(invalid_enumeration(&other.to_string())),
    }
}

fn invalid_enumeration(value: &str) -> Fault {
    Fault::validation(
        "2170",
        "Invalid Enumeration",
        format!("Invalid Enumeration : {value}"),
        Some("GlobalTaxCalculation"),
    )
}

/// 6100: a US line naming a code other than `TAX` or `NON` (Intuit's IPP error list).
fn invalid_us_code(supplied: &str, element: &str) -> Fault {
    Fault::validation(
        "6100",
        "Invalid Line TaxCode in the request",
        format!("Valid line TaxCodes for US should be TAX or NON. Supplied value: {supplied}"),
        Some(element),
    )
}

fn code_value(detail: &Object) -> Option<String> {
    match detail.get("TaxCodeRef")?.get("value")? {
        Value::String(id) => Some(id.clone()),
        Value::Number(id) => Some(id.to_string()),
        _ => None,
    }
}

/// The tax code a line carries, checked against the company's rules: the `TaxCodeRef` to
/// store and the code id to tax the line with (`None`: untaxed).
pub fn line_code(
    company: &Company,
    locale: Locale,
    detail: &Object,
    element: &str,
    mode: &Mode<'_>,
) -> Result<(Value, Option<String>), Fault> {
    let given = code_value(detail);
    if locale == Locale::Us {
        return match given.as_deref() {
            None => Ok((json!({ "value": "NON" }), None)),
            Some(code @ ("TAX" | "NON")) => Ok((json!({ "value": code }), None)),
            Some(other) => Err(invalid_us_code(other, element)),
        };
    }
    let Some(id) = given else {
        // A seed may hold documents from before the company used tax; QBO keeps those as they are.
        if matches!(mode, Mode::Seed) {
            return Ok((Value::Null, None));
        }
        return Err(Fault::business(locale.missing_code_text()));
    };
    let code = company.find(EntityKind::TaxCode, &id).ok_or_else(|| Fault::invalid_reference(element))?;
    if !code.active() && !matches!(mode, Mode::Seed) {
        return Err(Fault::object_not_found());
    }
    let name = code.text("Name").unwrap_or_default();
    Ok((json!({ "value": id, "name": name }), Some(id)))
}

/// One line's share of the tax computation.
#[derive(Clone, Debug)]
pub struct TaxedLine {
    pub code: Option<String>,
    pub amount: Decimal,
}

/// The document's `TotalAmt` and `TxnTaxDetail`.
pub fn totals(
    company: &Company,
    calculation: Option<Calculation>,
    side: Side,
    lines: &[TaxedLine],
) -> (Decimal, Value) {
    let gross: Decimal = lines.iter().map(|l| l.amount).sum();
    let Some(calculation) = calculation.filter(|c| *c != Calculation::NotApplicable) else {
        return (gross, json!({ "TotalTax": 0 }));
    };
    // Per code, in the order codes first appear; then per rate, in the same order.
    let mut by_code: Vec<(String, Decimal)> = Vec::new();
    for line in lines {
        let Some(code) = &line.code else { continue };
        match by_code.iter_mut().find(|(c, _)| c == code) {
            Some((_, sum)) => *sum += line.amount,
            None => by_code.push((code.clone(), line.amount)),
        }
    }
    let mut by_rate: Vec<(String, Decimal, Decimal, Decimal)> = Vec::new(); // rate id, percent, net, tax
    for (code, amount) in by_code {
        let rates = rates_of(company, &code, side);
        let percent: Decimal = rates.iter().map(|(_, p)| *p).sum();
        let net = match calculation {
            Calculation::TaxInclusive => cents(amount * Decimal::ONE_HUNDRED / (Decimal::ONE_HUNDRED + percent)),
            _ => amount,
        };
        let mut taxed_so_far = Decimal::ZERO;
        for (index, (rate_id, rate)) in rates.iter().enumerate() {
            let last = index + 1 == rates.len();
            let tax = if last && calculation == Calculation::TaxInclusive {
                amount - net - taxed_so_far
            } else {
                cents(net * rate / Decimal::ONE_HUNDRED)
            };
            taxed_so_far += tax;
            match by_rate.iter_mut().find(|(id, ..)| id == rate_id) {
                Some((_, _, n, t)) => {
                    *n += net;
                    *t += tax;
                }
                None => by_rate.push((rate_id.clone(), *rate, net, tax)),
            }
        }
    }
    let total_tax: Decimal = by_rate.iter().map(|(.., tax)| *tax).sum();
    let tax_lines: Vec<Value> = by_rate
        .iter()
        .map(|(id, percent, net, tax)| {
            json!({
                "Amount": amount::money(*tax),
                "DetailType": "TaxLineDetail",
                "TaxLineDetail": {
                    "TaxRateRef": { "value": id },
                    "PercentBased": true,
                    "TaxPercent": amount::plain(*percent),
                    "NetAmountTaxable": amount::money(*net),
                }
            })
        })
        .collect();
    let total = match calculation {
        Calculation::TaxInclusive => gross,
        _ => gross + total_tax,
    };
    (total, json!({ "TotalTax": amount::money(total_tax), "TaxLine": tax_lines }))
}

/// Stores `GlobalTaxCalculation` on a non-US document as QBO answers it.
pub fn stamp_calculation(out: &mut Object, calculation: Option<Calculation>) {
    if let Some(calculation) = calculation {
        out.insert("GlobalTaxCalculation".into(), Value::String(calculation.wire().into()));
    }
}

/// The rates (id, percent) a code applies on this side.
fn rates_of(company: &Company, code: &str, side: Side) -> Vec<(String, Decimal)> {
    let Some(code) = company.find(EntityKind::TaxCode, code) else { return Vec::new() };
    let details = code
        .body
        .get(side.rate_list())
        .and_then(|list| list.get("TaxRateDetail"))
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    details
        .iter()
        .filter_map(|detail| {
            let id = detail.get("TaxRateRef")?.get("value")?.as_str()?.to_owned();
            let rate = company.find(EntityKind::TaxRate, &id)?;
            let percent = rate.body.get("RateValue").and_then(amount::parse)?;
            Some((id, percent))
        })
        .collect()
}

fn cents(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Builds a stored `TaxCode` or `TaxRate` from a seed: kept as given, with the usual entity
/// fields. The API offers no writes for them (QBO creates them through its tax service).
pub fn build_seed(kind: EntityKind, input: &Object) -> Object {
    let mut out = input.clone();
    out.entry("Active").or_insert(Value::Bool(true));
    if kind == EntityKind::TaxCode {
        out.entry("Taxable").or_insert(Value::Bool(true));
        out.entry("TaxGroup").or_insert(Value::Bool(false));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::qbo::company::Record;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn company(country: &str) -> Company {
        let mut company = Company::empty();
        company.company_info.insert("Country".into(), json!(country));
        let rate = |id: &str, value: &str| {
            Record::new(
                json!({"Id": id, "Name": format!("R{id}"), "RateValue": dec(value)}).as_object().cloned().unwrap(),
            )
        };
        company.insert(EntityKind::TaxRate, rate("1", "13"));
        company.insert(EntityKind::TaxRate, rate("2", "5"));
        company.insert(EntityKind::TaxRate, rate("3", "7"));
        let list = |ids: &[&str]| json!({"TaxRateDetail": ids.iter().map(|id| json!({"TaxRateRef": {"value": id}})).collect::<Vec<_>>()});
        let code = |id: &str, ids: &[&str]| {
            Record::new(
                json!({"Id": id, "Name": format!("C{id}"), "Active": true, "SalesTaxRateList": list(ids), "PurchaseTaxRateList": list(ids)})
                    .as_object()
                    .cloned()
                    .unwrap(),
            )
        };
        company.insert(EntityKind::TaxCode, code("5", &["1"]));
        company.insert(EntityKind::TaxCode, code("6", &["2", "3"]));
        company
    }

    fn line(code: &str, amount: &str) -> TaxedLine {
        TaxedLine { code: Some(code.into()), amount: dec(amount) }
    }

    #[test]
    fn exclusive_tax_is_added_to_the_lines() {
        let c = company("CA");
        let (total, detail) = totals(&c, Some(Calculation::TaxExcluded), Side::Sales, &[line("5", "100.00")]);
        assert_eq!(total, dec("113.00"));
        assert_eq!(amount::parse(&detail["TotalTax"]), Some(dec("13")));
        assert_eq!(amount::parse(&detail["TaxLine"][0]["TaxLineDetail"]["NetAmountTaxable"]), Some(dec("100")));
    }

    #[test]
    fn inclusive_tax_is_taken_out_of_the_lines_to_the_penny() {
        let c = company("CA");
        let (total, detail) = totals(&c, Some(Calculation::TaxInclusive), Side::Sales, &[line("6", "10.00")]);
        // 10.00 / 1.12 = 8.93 net; 5 % of it 0.45; the last rate takes the rest, 0.62.
        assert_eq!(total, dec("10.00"));
        assert_eq!(amount::parse(&detail["TotalTax"]), Some(dec("1.07")));
        assert_eq!(amount::parse(&detail["TaxLine"][0]["Amount"]), Some(dec("0.45")));
        assert_eq!(amount::parse(&detail["TaxLine"][1]["Amount"]), Some(dec("0.62")));
    }

    #[test]
    fn not_applicable_and_us_companies_compute_no_tax() {
        let c = company("CA");
        let (total, detail) = totals(&c, Some(Calculation::NotApplicable), Side::Sales, &[line("5", "100")]);
        assert_eq!((total, detail), (dec("100"), json!({"TotalTax": 0})));
        let (total, _) = totals(&company("US"), None, Side::Sales, &[line("TAX", "100")]);
        assert_eq!(total, dec("100"));
    }

    #[test]
    fn line_codes_follow_the_country() {
        let detail = |code: Option<&str>| {
            code.map_or_else(Object::new, |c| json!({"TaxCodeRef": {"value": c}}).as_object().cloned().unwrap())
        };
        let us = company("USA");
        assert_eq!(Locale::of(&us), Locale::Us);
        assert!(line_code(&us, Locale::Us, &detail(Some("TAX")), "e", &Mode::Create).is_ok());
        assert_eq!(line_code(&us, Locale::Us, &detail(Some("8")), "e", &Mode::Create).unwrap_err().code, "6100");
        let gb = company("GB");
        let missing = line_code(&gb, Locale::UnitedKingdom, &detail(None), "e", &Mode::Create).unwrap_err();
        assert_eq!(missing.code, "6000");
        assert!(missing.detail.ends_with("have a VAT rate before you save."), "{}", missing.detail);
        assert_eq!(
            line_code(&gb, Locale::UnitedKingdom, &detail(Some("99")), "e", &Mode::Create).unwrap_err().code,
            "2500"
        );
        let (reference, code) = line_code(&gb, Locale::UnitedKingdom, &detail(Some("5")), "e", &Mode::Create).unwrap();
        assert_eq!((reference, code.as_deref()), (json!({"value": "5", "name": "C5"}), Some("5")));
    }
}
