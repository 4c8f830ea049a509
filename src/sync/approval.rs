//! Review before posting (`QBSYNC_REQUIRE_APPROVAL`): what a row in review shows, and when a
//! person's yes lets it be created.
//!
//! A ready row is first shown, not sent: the planner records it as [`RowStatus::Review`] with a
//! one-line [`preview`] of the document it would become, and the projection writes that line
//! into `qb_preview`. A person approves by putting yes in `approved` (a column qbsync reads and
//! never writes). An approval counts only for the content it was given for: it [`holds`] when
//! the row's review record was made from the very content, configuration and preview the row
//! has now. So a row changed after its approval is shown again, and nothing unapproved is ever
//! drafted — the intent a crash could leave behind is recorded only for a draft, and a draft
//! is made only from approved content.
//!
//! A yes already there when a preview is shown was given for something else (the row as it
//! was, or nothing at all): the review record remembers it as stale ([`STALE`] marks its
//! fingerprint), and it never counts. The person clears it and says yes again; qbsync sees the
//! clearing, and only a yes that follows counts.

use rust_decimal::Decimal;

use crate::domain::Cell;
use crate::domain::layout::{ColumnNames, Field};
use crate::qbo::DocKind;
use crate::store::{RowRecord, RowStatus};

use super::draft::DocDraft;
use super::policy::Policy;

/// Appended to the fingerprint remembered for a row in review whose `approved` cell already
/// said yes when its preview was shown: that yes was not given for this preview.
pub const STALE: &str = "+stale-approval";

/// Whether an `approved` cell says yes: the word (any case), or a ticked checkbox.
pub fn approves(cell: &Cell) -> bool {
    match cell {
        Cell::Bool(ticked) => *ticked,
        other => {
            let text = other.trimmed();
            text.eq_ignore_ascii_case("yes") || text.eq_ignore_ascii_case("true")
        }
    }
}

/// The fingerprint a row's content is remembered by, without the marks the planner adds to it.
pub fn unmarked(content_fp: &str) -> &str {
    content_fp.strip_suffix(STALE).unwrap_or(content_fp)
}

/// What `draft` will send, in one line: kind, number, party, amount, dates and tax code, e.g.
/// `invoice ACD-7 to Acme Training Co, 1,234.50, dated 2025-11-05, due 2025-12-05`.
pub fn preview(draft: &DocDraft, policy: &Policy) -> String {
    let (what, to) = match draft.doc_kind {
        DocKind::Invoice => ("invoice", "to"),
        DocKind::CreditMemo => ("credit memo", "to"),
        DocKind::Bill => ("bill", "from"),
        DocKind::VendorCredit => ("vendor credit", "from"),
    };
    let mut line = format!("{what} {} {to} {}, {}", draft.doc_number, draft.party, grouped(draft.total()));
    if draft.lines.len() > 1 {
        line += &format!(" in {} lines", draft.lines.len());
    }
    line += &format!(", dated {}", draft.txn_date);
    if let Some(due) = draft.due_date {
        line += &format!(", due {due}");
    }
    let default = if draft.doc_kind.is_sale() { &policy.tax.sales_code } else { &policy.tax.purchase_code };
    let mut codes: Vec<&str> =
        draft.lines.iter().filter_map(|l| l.tax_code.as_deref().or(default.as_ref().map(|c| c.as_str()))).collect();
    codes.dedup();
    if !codes.is_empty() {
        line += &format!(", tax code {}", codes.join(", "));
    }
    line
}

/// An amount with two decimals and thousands grouped by commas (`1,234.50`), as a person
/// reads it.
fn grouped(amount: Decimal) -> String {
    let text = format!("{:.2}", amount.abs());
    let (whole, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let mut out = String::new();
    for (i, digit) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    format!("{out}.{cents}")
}

/// Whether the row whose remembered record is `record` is approved for exactly what it would
/// send now: its `approved` cell says yes (`approved`), and its record is a review made from
/// the same content (`content_fp`, not marked stale), the same configuration and the same
/// preview.
pub fn holds(record: Option<&RowRecord>, approved: bool, content_fp: &str, preview: &str, policy: &Policy) -> bool {
    approved
        && record.is_some_and(|r| {
            r.status == RowStatus::Review
                && r.content_fp == content_fp
                && r.config_fp == policy.config_fp
                && r.preview.as_deref() == Some(preview)
        })
}

/// The review record of a row that waits for approval of `preview`. `stale_yes`: the row
/// shows a yes that was not given for this preview; it is remembered as stale, and the row
/// says it must be given again.
pub fn review(base: RowRecord, stale_yes: bool, preview: String, names: &ColumnNames) -> RowRecord {
    let (shown, approval) = (names.name(Field::QbPreview), names.name(Field::Approved));
    let (content_fp, error) = if stale_yes {
        (
            format!("{}{STALE}", base.content_fp),
            format!(
                "the row changed since it was approved (or {approval} said yes before this preview was shown): check the new preview in {shown}, then clear {approval} and put yes in it again"
            ),
        )
    } else {
        (
            base.content_fp.clone(),
            format!("check what will be sent in {shown}, then put yes in {approval} to create it"),
        )
    };
    RowRecord { status: RowStatus::Review, error: Some(error), content_fp, preview: Some(preview), ..base }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yes_or_a_ticked_checkbox_approves_and_nothing_else_does() {
        for yes in [Cell::text("yes"), Cell::text(" YES "), Cell::text("TRUE"), Cell::Bool(true)] {
            assert!(approves(&yes), "{yes:?}");
        }
        for no in [Cell::Empty, Cell::text("no"), Cell::text("y"), Cell::text("ok"), Cell::Bool(false)] {
            assert!(!approves(&no), "{no:?}");
        }
    }

    #[test]
    fn amounts_are_grouped_by_thousands_with_two_decimals() {
        assert_eq!(grouped(Decimal::new(123450, 2)), "1,234.50");
        assert_eq!(grouped(Decimal::new(5, 0)), "5.00");
        assert_eq!(grouped(Decimal::new(-123456789, 2)), "1,234,567.89");
        assert_eq!(grouped(Decimal::new(100000, 0)), "100,000.00");
    }
}
