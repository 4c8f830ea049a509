//! The back-office address of a document, written to the sheet next to its id.
//!
//! Intuit documents no URL for this; `{app}/app/invoice?txnId={Id}` and `/app/bill?txnId=` are
//! what peers and Intuit's support pages use (reference §4), and Intuit's own MCP server links
//! `/app/creditmemo?txnId=`; `/app/vendorcredit?txnId=` follows the same pattern (unverified). The host differs for sandbox
//! companies (`app.sandbox.qbo.intuit.com`), so it is a setting. The link opens the document in
//! whichever company the user has open in the browser.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::model::DocKind;

/// `{app_url}/app/{invoice,bill,creditmemo,vendorcredit}?txnId=ID`.
pub fn doc_url(app_url: &str, kind: DocKind, id: &str) -> String {
    format!(
        "{}/app/{}?txnId={}",
        app_url.trim_end_matches('/'),
        kind.resource(),
        utf8_percent_encode(id, NON_ALPHANUMERIC)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links() {
        assert_eq!(
            doc_url("https://app.qbo.intuit.com", DocKind::Invoice, "238"),
            "https://app.qbo.intuit.com/app/invoice?txnId=238"
        );
        assert_eq!(
            doc_url("https://app.sandbox.qbo.intuit.com/", DocKind::Bill, "151"),
            "https://app.sandbox.qbo.intuit.com/app/bill?txnId=151"
        );
        assert_eq!(doc_url("http://127.0.0.1:9/", DocKind::Bill, "a&b"), "http://127.0.0.1:9/app/bill?txnId=a%26b");
        assert_eq!(
            doc_url("https://app.qbo.intuit.com", DocKind::CreditMemo, "150"),
            "https://app.qbo.intuit.com/app/creditmemo?txnId=150"
        );
        assert_eq!(
            doc_url("https://app.qbo.intuit.com", DocKind::VendorCredit, "157"),
            "https://app.qbo.intuit.com/app/vendorcredit?txnId=157"
        );
    }
}
