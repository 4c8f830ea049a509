//! The entities the emulator models, and what QBO allows on each.
//!
//! QBO is strict about names: entity names in queries are case-sensitive, only properties the
//! reference marks *filterable* may appear in a `WHERE`, and a property it does not know fails
//! the request with 2010. Those lists live here, one place per entity, so the validator, the
//! query evaluator and the seed loader agree on them.

use serde::{Deserialize, Serialize};

/// An entity type the emulator stores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EntityKind {
    Customer,
    Vendor,
    Employee,
    Item,
    Account,
    Invoice,
    Bill,
    /// Money back to a customer (a negative sale).
    CreditMemo,
    /// Money back from a vendor (a negative bill).
    VendorCredit,
    /// Read-only: the company's sales-tax codes (per country).
    TaxCode,
    /// Read-only: the rates the tax codes are made of.
    TaxRate,
    /// A customer's money applied to invoices.
    Payment,
    /// Money paid to a vendor against bills.
    BillPayment,
}

/// QBO entities the emulator does not model. A query on one of them answers an empty result
/// (the company simply has none); writes to them are refused as unsupported.
pub const UNMODELLED: &[&str] = &[
    "Attachable",
    "Budget",
    "Class",
    "CompanyCurrency",
    "Department",
    "Deposit",
    "Estimate",
    "JournalEntry",
    "PaymentMethod",
    "Purchase",
    "PurchaseOrder",
    "RefundReceipt",
    "SalesReceipt",
    "TaxAgency",
    "Term",
    "TimeActivity",
    "Transfer",
];

const META: [&str; 2] = ["MetaData.CreateTime", "MetaData.LastUpdatedTime"];

/// Fields every entity carries and QBO maintains.
const COMMON: &[&str] = &["Id", "SyncToken", "sparse", "domain", "MetaData"];

impl EntityKind {
    pub const ALL: [EntityKind; 13] = [
        EntityKind::Customer,
        EntityKind::Vendor,
        EntityKind::Employee,
        EntityKind::Item,
        EntityKind::Account,
        EntityKind::Invoice,
        EntityKind::Bill,
        EntityKind::CreditMemo,
        EntityKind::VendorCredit,
        EntityKind::TaxCode,
        EntityKind::TaxRate,
        EntityKind::Payment,
        EntityKind::BillPayment,
    ];

    /// The name used in JSON keys and queries: `Invoice`.
    pub fn wire_name(self) -> &'static str {
        match self {
            EntityKind::Customer => "Customer",
            EntityKind::Vendor => "Vendor",
            EntityKind::Employee => "Employee",
            EntityKind::Item => "Item",
            EntityKind::Account => "Account",
            EntityKind::Invoice => "Invoice",
            EntityKind::Bill => "Bill",
            EntityKind::CreditMemo => "CreditMemo",
            EntityKind::VendorCredit => "VendorCredit",
            EntityKind::TaxCode => "TaxCode",
            EntityKind::TaxRate => "TaxRate",
            EntityKind::Payment => "Payment",
            EntityKind::BillPayment => "BillPayment",
        }
    }

    /// The entity a query or a JSON key names; case-sensitive, like QBO.
    pub fn from_wire_name(name: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|kind| kind.wire_name() == name)
    }

    /// The entity a URL segment names: `invoice`.
    pub fn from_path(segment: &str) -> Option<EntityKind> {
        EntityKind::ALL.into_iter().find(|kind| kind.wire_name().eq_ignore_ascii_case(segment))
    }

    pub fn is_transaction(self) -> bool {
        matches!(
            self,
            EntityKind::Invoice
                | EntityKind::Bill
                | EntityKind::CreditMemo
                | EntityKind::VendorCredit
                | EntityKind::Payment
                | EntityKind::BillPayment
        )
    }

    /// Payments apply money to documents: their writes change the documents they link.
    pub fn is_payment(self) -> bool {
        matches!(self, EntityKind::Payment | EntityKind::BillPayment)
    }

    /// Name-list entities have `Active` and are never deleted, only made inactive.
    pub fn is_name_list(self) -> bool {
        matches!(
            self,
            EntityKind::Customer | EntityKind::Vendor | EntityKind::Employee | EntityKind::Item | EntityKind::Account
        )
    }

    /// Tax codes and rates: the company's tax setup, read and queried but not written through
    /// the API (QBO creates them through its separate tax service).
    pub fn is_tax_list(self) -> bool {
        matches!(self, EntityKind::TaxCode | EntityKind::TaxRate)
    }

    /// Documents addressed to a customer (`CustomerRef`) rather than a vendor (`VendorRef`).
    pub fn is_sale(self) -> bool {
        matches!(self, EntityKind::Invoice | EntityKind::CreditMemo)
    }

    /// Customers, vendors and employees share one DisplayName namespace (6240).
    pub fn is_person(self) -> bool {
        matches!(self, EntityKind::Customer | EntityKind::Vendor | EntityKind::Employee)
    }

    /// Entities a client may create or update through the API here.
    pub fn writable(self) -> bool {
        matches!(
            self,
            EntityKind::Customer
                | EntityKind::Vendor
                | EntityKind::Invoice
                | EntityKind::Bill
                | EntityKind::CreditMemo
                | EntityKind::VendorCredit
                | EntityKind::Payment
                | EntityKind::BillPayment
        )
    }

    /// The field that names a record (and gets the ` (deleted)` suffix when inactive).
    pub fn name_field(self) -> Option<&'static str> {
        match self {
            EntityKind::Customer | EntityKind::Vendor | EntityKind::Employee => Some("DisplayName"),
            EntityKind::Item | EntityKind::Account | EntityKind::TaxCode | EntityKind::TaxRate => Some("Name"),
            EntityKind::Invoice
            | EntityKind::Bill
            | EntityKind::CreditMemo
            | EntityKind::VendorCredit
            | EntityKind::Payment
            | EntityKind::BillPayment => None,
        }
    }

    /// Properties that may appear in `WHERE` and `ORDERBY`.
    pub fn filterable(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            EntityKind::Customer => &[
                "Id",
                "DisplayName",
                "GivenName",
                "MiddleName",
                "FamilyName",
                "CompanyName",
                "FullyQualifiedName",
                "PrintOnCheckName",
                "Active",
                "PrimaryEmailAddr",
                "PrimaryPhone",
                "Balance",
                "Job",
                "ParentRef",
            ],
            EntityKind::Vendor | EntityKind::Employee => &[
                "Id",
                "DisplayName",
                "GivenName",
                "MiddleName",
                "FamilyName",
                "CompanyName",
                "PrintOnCheckName",
                "Active",
            ],
            EntityKind::Item => &["Id", "Name", "Sku", "Active", "Type", "FullyQualifiedName", "ParentRef"],
            EntityKind::Account => &[
                "Id",
                "Name",
                "AccountType",
                "AccountSubType",
                "Classification",
                "FullyQualifiedName",
                "Active",
                "CurrentBalance",
                "CurrentBalanceWithSubAccounts",
                "SubAccount",
            ],
            EntityKind::Invoice => &["Id", "DocNumber", "TxnDate", "DueDate", "CustomerRef", "Balance", "TotalAmt"],
            EntityKind::Bill => {
                &["Id", "DocNumber", "TxnDate", "DueDate", "VendorRef", "APAccountRef", "Balance", "TotalAmt"]
            }
            EntityKind::CreditMemo => &["Id", "DocNumber", "TxnDate", "CustomerRef", "Balance", "TotalAmt"],
            EntityKind::VendorCredit => &["Id", "DocNumber", "TxnDate", "VendorRef", "TotalAmt"],
            EntityKind::TaxCode | EntityKind::TaxRate => &["Id", "Name", "Active"],
            EntityKind::Payment => &["Id", "TxnDate", "CustomerRef", "TotalAmt", "PaymentRefNum"],
            EntityKind::BillPayment => &["Id", "DocNumber", "TxnDate", "VendorRef", "TotalAmt", "PayType"],
        };
        own.iter().copied().chain(META).collect()
    }

    /// Top-level properties QBO accepts in a request body for this entity; anything else is
    /// answered with 2010.
    pub fn accepted_fields(self) -> Vec<&'static str> {
        let own: &[&str] = match self {
            EntityKind::Customer => &[
                "DisplayName",
                "Title",
                "GivenName",
                "MiddleName",
                "FamilyName",
                "Suffix",
                "CompanyName",
                "FullyQualifiedName",
                "PrintOnCheckName",
                "Active",
                "PrimaryEmailAddr",
                "PrimaryPhone",
                "AlternatePhone",
                "Mobile",
                "Fax",
                "WebAddr",
                "BillAddr",
                "ShipAddr",
                "OtherAddr",
                "Notes",
                "Taxable",
                "Job",
                "BillWithParent",
                "ParentRef",
                "Level",
                "SalesTermRef",
                "PaymentMethodRef",
                "PreferredDeliveryMethod",
                "ResaleNum",
                "CurrencyRef",
                "Balance",
                "BalanceWithJobs",
                "OpenBalanceDate",
                "DefaultTaxCodeRef",
                "TaxExemptionReasonId",
                "CustomerTypeRef",
                "PrimaryTaxIdentifier",
                "SecondaryTaxIdentifier",
                "BusinessNumber",
                "GSTIN",
                "GSTRegistrationType",
                "ARAccountRef",
                "IsProject",
                "Source",
                "V4IDPseudonym",
            ],
            EntityKind::Vendor => &[
                "DisplayName",
                "Title",
                "GivenName",
                "MiddleName",
                "FamilyName",
                "Suffix",
                "CompanyName",
                "PrintOnCheckName",
                "Active",
                "PrimaryEmailAddr",
                "PrimaryPhone",
                "AlternatePhone",
                "Mobile",
                "Fax",
                "WebAddr",
                "BillAddr",
                "OtherContactInfo",
                "TaxIdentifier",
                "TermRef",
                "AcctNum",
                "Vendor1099",
                "CurrencyRef",
                "Balance",
                "APAccountRef",
                "CostRate",
                "BillRate",
                "TaxReportingBasis",
                "BusinessNumber",
                "GSTIN",
                "GSTRegistrationType",
                "T4AEligible",
                "T5018Eligible",
                "HasTPAR",
                "VendorPaymentBankDetail",
                "Source",
                "V4IDPseudonym",
            ],
            EntityKind::Employee => &[
                "DisplayName",
                "Title",
                "GivenName",
                "MiddleName",
                "FamilyName",
                "Suffix",
                "PrintOnCheckName",
                "Active",
                "PrimaryEmailAddr",
                "PrimaryPhone",
                "Mobile",
                "PrimaryAddr",
                "EmployeeNumber",
                "SSN",
                "BillableTime",
                "BillRate",
                "CostRate",
                "BirthDate",
                "Gender",
                "HiredDate",
                "ReleasedDate",
                "Organization",
                "V4IDPseudonym",
            ],
            EntityKind::Item => &[
                "Name",
                "Sku",
                "Description",
                "Active",
                "SubItem",
                "ParentRef",
                "Level",
                "FullyQualifiedName",
                "Taxable",
                "SalesTaxIncluded",
                "UnitPrice",
                "RatePercent",
                "Type",
                "IncomeAccountRef",
                "PurchaseDesc",
                "PurchaseTaxIncluded",
                "PurchaseCost",
                "ExpenseAccountRef",
                "AssetAccountRef",
                "PrefVendorRef",
                "TrackQtyOnHand",
                "QtyOnHand",
                "InvStartDate",
                "ReorderPoint",
                "SalesTaxCodeRef",
                "PurchaseTaxCodeRef",
                "ClassRef",
                "Source",
                "ItemCategoryType",
            ],
            EntityKind::Account => &[
                "Name",
                "AcctNum",
                "Description",
                "Active",
                "SubAccount",
                "ParentRef",
                "FullyQualifiedName",
                "Classification",
                "AccountType",
                "AccountSubType",
                "CurrentBalance",
                "CurrentBalanceWithSubAccounts",
                "CurrencyRef",
                "TaxCodeRef",
                "OpeningBalance",
                "OpeningBalanceDate",
                "TxnLocationType",
                "AccountAlias",
            ],
            EntityKind::Invoice => &[
                "DocNumber",
                "TxnDate",
                "DueDate",
                "ShipDate",
                "TrackingNum",
                "PrivateNote",
                "CustomerMemo",
                "CustomerRef",
                "Line",
                "TxnTaxDetail",
                "BillAddr",
                "ShipAddr",
                "ShipFromAddr",
                "FreeFormAddress",
                "BillEmail",
                "BillEmailCc",
                "BillEmailBcc",
                "SalesTermRef",
                "ClassRef",
                "DepartmentRef",
                "ShipMethodRef",
                "CurrencyRef",
                "ExchangeRate",
                "GlobalTaxCalculation",
                "ApplyTaxAfterDiscount",
                "PrintStatus",
                "EmailStatus",
                "DeliveryInfo",
                "AllowIPNPayment",
                "AllowOnlinePayment",
                "AllowOnlineCreditCardPayment",
                "AllowOnlineACHPayment",
                "Deposit",
                "DepositToAccountRef",
                "TotalAmt",
                "Balance",
                "HomeTotalAmt",
                "HomeBalance",
                "LinkedTxn",
                "CustomField",
                "TxnSource",
                "TransactionLocationType",
                "ProjectRef",
                "RecurDataRef",
                "TaxExemptionRef",
                "InvoiceLink",
            ],
            EntityKind::Bill => &[
                "DocNumber",
                "TxnDate",
                "DueDate",
                "PrivateNote",
                "VendorRef",
                "APAccountRef",
                "SalesTermRef",
                "Line",
                "TxnTaxDetail",
                "CurrencyRef",
                "ExchangeRate",
                "GlobalTaxCalculation",
                "DepartmentRef",
                "VendorAddr",
                "RemitToAddr",
                "TotalAmt",
                "Balance",
                "HomeBalance",
                "LinkedTxn",
                "TransactionLocationType",
                "IncludeInAnnualTPAR",
                "RecurDataRef",
            ],
            EntityKind::CreditMemo => &[
                "DocNumber",
                "TxnDate",
                "PrivateNote",
                "CustomerMemo",
                "CustomerRef",
                "Line",
                "TxnTaxDetail",
                "BillAddr",
                "ShipAddr",
                "BillEmail",
                "SalesTermRef",
                "ClassRef",
                "DepartmentRef",
                "CurrencyRef",
                "ExchangeRate",
                "GlobalTaxCalculation",
                "ApplyTaxAfterDiscount",
                "PrintStatus",
                "EmailStatus",
                "TotalAmt",
                "Balance",
                "RemainingCredit",
                "CustomField",
                "TxnSource",
                "TransactionLocationType",
                "ProjectRef",
            ],
            EntityKind::VendorCredit => &[
                "DocNumber",
                "TxnDate",
                "PrivateNote",
                "VendorRef",
                "APAccountRef",
                "Line",
                "TxnTaxDetail",
                "CurrencyRef",
                "ExchangeRate",
                "GlobalTaxCalculation",
                "DepartmentRef",
                "TotalAmt",
                "Balance",
                "LinkedTxn",
                "TransactionLocationType",
                "IncludeInAnnualTPAR",
            ],
            EntityKind::TaxCode => &[
                "Name",
                "Description",
                "Active",
                "Hidden",
                "Taxable",
                "TaxGroup",
                "SalesTaxRateList",
                "PurchaseTaxRateList",
                "TaxCodeConfigType",
            ],
            EntityKind::TaxRate => &[
                "Name",
                "Description",
                "Active",
                "RateValue",
                "AgencyRef",
                "SpecialTaxType",
                "DisplayType",
                "EffectiveTaxRate",
                "TaxReturnLineRef",
                "OriginalTaxRate",
            ],
            EntityKind::Payment => &[
                "TxnDate",
                "CustomerRef",
                "TotalAmt",
                "UnappliedAmt",
                "Line",
                "DepositToAccountRef",
                "ARAccountRef",
                "PaymentMethodRef",
                "PaymentRefNum",
                "PrivateNote",
                "ProcessPayment",
                "CurrencyRef",
                "ExchangeRate",
                "TxnSource",
                "TransactionLocationType",
                "CreditCardPayment",
                "ProjectRef",
            ],
            EntityKind::BillPayment => &[
                "DocNumber",
                "TxnDate",
                "VendorRef",
                "TotalAmt",
                "Line",
                "PayType",
                "CheckPayment",
                "CreditCardPayment",
                "APAccountRef",
                "PrivateNote",
                "CurrencyRef",
                "ExchangeRate",
                "DepartmentRef",
                "ProcessBillPayment",
                "TransactionLocationType",
            ],
        };
        COMMON.iter().chain(own).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_are_case_sensitive_paths_are_not() {
        assert_eq!(EntityKind::from_wire_name("Invoice"), Some(EntityKind::Invoice));
        assert_eq!(EntityKind::from_wire_name("invoice"), None);
        assert_eq!(EntityKind::from_path("invoice"), Some(EntityKind::Invoice));
        assert_eq!(EntityKind::from_path("companyinfo"), None);
    }

    #[test]
    fn filterable_fields_cover_what_qbsync_queries() {
        assert!(EntityKind::Customer.filterable().contains(&"DisplayName"));
        assert!(EntityKind::Bill.filterable().contains(&"VendorRef"));
        assert!(EntityKind::Account.filterable().contains(&"AccountType"));
        assert!(EntityKind::Invoice.filterable().contains(&"MetaData.LastUpdatedTime"));
        assert!(!EntityKind::Vendor.filterable().contains(&"PrimaryEmailAddr"));
    }
}
