//! Tax faults: QuickBooks refusing a document because of its tax, told apart from other refusals.
//!
//! A tax fault is the company's tax rules, not the network: it is never retried as if it were
//! transient, and it fails only its own row. But unlike most refusals the fix is usually in the
//! settings (the tax code), not in the row, so the sentence says which setting, and a caller may
//! want to read the company's tax codes again (they are not in CDC, reference §3.1).
//!
//! Fault 6000 carries many business rules; its tax form is recognised by the text every locale
//! shares ("…have a GST/HST rate before you save", "…VAT rate…", "…GST rate…"), and by
//! Australia's "…while calculating tax" (reference §3.3). Fault 6100 is the US "TAX or NON" rule.
//! An error tells its tax fault with [`QboError::tax_fault`](super::QboError::tax_fault).

use super::fault::FaultDetail;

/// What about a document's tax QuickBooks refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxFault {
    /// 6000: a line has no tax code, or QuickBooks could not compute the tax (outside the US).
    MissingCode,
    /// 6100: a US line's tax code is not `TAX` or `NON`.
    InvalidUsCode,
}

impl TaxFault {
    /// The tax fault one error of a refusal stands for, if it is one.
    pub fn of(detail: &FaultDetail) -> Option<TaxFault> {
        let text = format!("{} {}", detail.message, detail.detail.as_deref().unwrap_or_default()).to_lowercase();
        match detail.code.as_str() {
            "6100" => Some(TaxFault::InvalidUsCode),
            "6000" if text.contains("rate before you save") || text.contains("calculating tax") => {
                Some(TaxFault::MissingCode)
            }
            _ => None,
        }
    }

    /// One sentence a bookkeeper can act on.
    pub fn for_bookkeeper(self) -> &'static str {
        match self {
            TaxFault::MissingCode => {
                "QuickBooks needs a tax code on every line of this document: set QB_DEFAULT_TAX_CODE (invoices) or \
                 QB_DEFAULT_PURCHASE_TAX_CODE (bills) to one of the company's tax codes (`qbsync doctor` lists them), \
                 or put one in the row's tax_code cell."
            }
            TaxFault::InvalidUsCode => {
                "QuickBooks accepts only TAX or NON as a tax code on a US company's lines: set QB_DEFAULT_TAX_CODE to \
                 TAX or NON (or leave it unset), and use TAX or NON in the row's tax_code cell."
            }
        }
    }
}
