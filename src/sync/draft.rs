//! From sheet rows to draft documents: every check that needs no network.
//!
//! A draft names its customer or vendor by display name; turning names into QuickBooks ids
//! needs a lookup and happens in [`super::engine`]. Everything else — amount, dates, document
//! number, routing, mode, grouping — is decided here, and every refusal is a sentence a
//! bookkeeper can act on: what is wrong, in which cell, how to fix it.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::directions::Direction;
use crate::domain::Cell;
use crate::domain::date::parse_date;
use crate::domain::doc_number::{DocNumber, DocNumberError};
use crate::domain::invisible::escape_invisible;
use crate::domain::layout::{Field, Layout, column_letter};
use crate::domain::money::{AmountError, SignedAmount, parse_signed_amount};
use crate::domain::name::PartyName;
use crate::qbo::DocKind;
use crate::settings::NegativeAmounts;
use crate::store::Kind;

use super::policy::{Mode, Policy};

/// QuickBooks limits `PrivateNote` and `Line.Description` to 4000 characters.
const QBO_TEXT_LIMIT: usize = 4000;
/// The longest sentence a row fails or is skipped with (quoted cell text included).
const MESSAGE_LIMIT: usize = 2000;

/// One document line, before ids are known.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftLine {
    /// The size of the row's amount: a credit's lines are positive too (its kind is the sign).
    pub amount: Decimal,
    pub description: Option<String>,
    /// The row's `tax_code` cell as written (an id or a name), when it holds one: resolved
    /// against the company's codes when the document is built, like a customer's name.
    pub tax_code: Option<String>,
}

/// A row of the sheet taking part in a draft.
#[derive(Clone, Debug, PartialEq)]
pub struct DraftRow {
    pub key: String,
    /// 0-based grid row at read time (for messages and the audit, never to address a write).
    pub index: u32,
    pub content_fp: String,
}

/// A document qbsync means to create, named but not yet resolved to QuickBooks ids.
#[derive(Clone, Debug, PartialEq)]
pub struct DocDraft {
    pub doc_key: String,
    /// The side of the sheet the document is shown on (money in or money out).
    pub kind: Kind,
    /// What QuickBooks is asked to create: an invoice or bill, or for a negative amount a
    /// credit memo or vendor credit.
    pub doc_kind: DocKind,
    pub doc_number: String,
    /// The QuickBooks DisplayName of the customer (invoices) or vendor (bills), after aliases.
    pub party: String,
    pub txn_date: NaiveDate,
    pub due_date: Option<NaiveDate>,
    pub private_note: Option<String>,
    pub lines: Vec<DraftLine>,
    pub rows: Vec<DraftRow>,
}

impl DocDraft {
    pub fn total(&self) -> Decimal {
        self.lines.iter().map(|l| l.amount).sum()
    }
}

/// What one ready row becomes before any lookup.
#[derive(Clone, Debug, PartialEq)]
pub enum RowVerdict {
    /// Part of a document to create.
    Document {
        kind: Kind,
        /// The row's amount was negative (allowed by `QBSYNC_NEGATIVE_AMOUNTS=credit`): its
        /// document is a credit.
        credit: bool,
        doc_number: String,
        party: String,
        line: DraftLine,
        txn_date: NaiveDate,
        due_date: Option<NaiveDate>,
        note: Option<String>,
    },
    /// Not for QuickBooks under the current configuration (the reason is written to the row).
    Skip { kind: Kind, reason: String },
    /// The row's data is wrong; nothing is sent.
    Fail { kind: Kind, reason: String },
}

/// What QuickBooks creates for a document shown on `kind`'s side: a credit when its amount is
/// negative.
pub fn doc_kind(kind: Kind, credit: bool) -> DocKind {
    let document = match kind {
        Kind::Invoice => DocKind::Invoice,
        Kind::Bill => DocKind::Bill,
    };
    if credit { document.credit() } else { document }
}

/// The direction a row routes to, if `inv_from` is in the map.
pub fn route(row: &[Cell], layout: &Layout, policy: &Policy) -> Option<(Direction, String)> {
    let inv_from = layout.cell(row, Field::InvFrom).trimmed().into_owned();
    policy.directions.route(&inv_from).map(|r| (r.direction, r.canonical))
}

/// The document kind a row would become (money out is a bill even in invoice-only mode, where
/// it is skipped).
pub fn kind_of(row: &[Cell], layout: &Layout, policy: &Policy) -> Kind {
    match route(row, layout, policy) {
        Some((Direction::MoneyOut, _)) => Kind::Bill,
        _ => Kind::Invoice,
    }
}

/// Judges one ready row. Every sentence it fails a row with names the cell and shows any
/// invisible character of the row's text escaped (`<U+200B>`), so nothing invisible reaches
/// the sheet.
pub fn judge(row: &[Cell], index: u32, layout: &Layout, policy: &Policy) -> RowVerdict {
    match judge_raw(row, index, layout, policy) {
        RowVerdict::Fail { kind, reason } => RowVerdict::Fail { kind, reason: for_the_sheet(&reason) },
        RowVerdict::Skip { kind, reason } => RowVerdict::Skip { kind, reason: for_the_sheet(&reason) },
        document => document,
    }
}

/// A sentence fit for the error cell: invisible characters escaped, and short enough that a
/// huge pasted cell quoted in it cannot make it long. Clipped here, where it is stored, so the
/// cell always shows exactly what the store says.
fn for_the_sheet(reason: &str) -> String {
    clip_to(&escape_invisible(reason), MESSAGE_LIMIT)
}

/// The first input cell of `row` that shows a spreadsheet error (`#REF!`, `#N/A`, …), as the
/// sentence its row fails with. Such a cell never becomes a document number, a name or an
/// amount: the formula behind it has to be fixed first.
pub fn error_value_in(row: &[Cell], index: u32, layout: &Layout) -> Option<String> {
    Field::INPUTS.into_iter().find_map(|field| {
        let error = layout.cell(row, field).error_value()?;
        Some(format!(
            "{} shows the spreadsheet error {error}: fix the formula (or the cell it refers to) so that it shows a value; nothing is sent to QuickBooks until then",
            CellRef::new(layout, field, index)
        ))
    })
}

/// The cell a row's customer or vendor name was read from, for prefixing a name look-up's
/// sentence (`to_client (cell E12): customer "…" is not in QuickBooks…`): `to_client`, or
/// `end_client` when `to_client` is blank, for an invoice; `inv_from` for a bill.
pub fn party_cell(row: &[Cell], index: u32, layout: &Layout, kind: Kind) -> CellRef {
    let field = match kind {
        Kind::Bill => Field::InvFrom,
        Kind::Invoice if layout.cell(row, Field::ToClient).is_blank() => Field::EndClient,
        Kind::Invoice => Field::ToClient,
    };
    CellRef::new(layout, field, index)
}

fn judge_raw(row: &[Cell], index: u32, layout: &Layout, policy: &Policy) -> RowVerdict {
    let at = |field: Field| CellRef::new(layout, field, index);
    if let Some(reason) = error_value_in(row, index, layout) {
        return RowVerdict::Fail { kind: kind_of(row, layout, policy), reason };
    }
    let inv_from = layout.cell(row, Field::InvFrom).trimmed().into_owned();
    let Some((direction, canonical)) = route(row, layout, policy) else {
        let reason = if inv_from.is_empty() {
            format!(
                "{} is blank: enter who the invoice is from (a name listed in qb_directions.json)",
                at(Field::InvFrom)
            )
        } else {
            format!(
                "{}: \"{inv_from}\" is in neither money_in nor money_out of qb_directions.json: add it to one of them (or to \"aliases\") in the config directory",
                at(Field::InvFrom)
            )
        };
        return RowVerdict::Fail { kind: Kind::Invoice, reason };
    };
    let kind = match direction {
        Direction::MoneyIn => Kind::Invoice,
        Direction::MoneyOut => Kind::Bill,
    };
    if kind == Kind::Bill && policy.mode == Mode::InvoiceOnly {
        return RowVerdict::Skip {
            kind,
            reason: "money-out row: bills are off (QB_SYNC_MODE=invoice_only; QuickBooks Simple Start has no Bills). On QuickBooks Essentials or higher, set QB_SYNC_MODE=dual and QB_ENABLE_BILLS=true to create it as a Bill".into(),
        };
    }
    let fail = |reason: String| RowVerdict::Fail { kind, reason };

    let doc_number = match DocNumber::parse(&layout.cell(row, Field::Invoice).trimmed(), &policy.doc_number_prefix) {
        Ok(number) => number.as_str().to_owned(),
        Err(DocNumberError::Blank) => {
            return fail(format!(
                "{} is blank: every row needs an invoice number (it becomes the QuickBooks document number and keeps qbsync from creating it twice)",
                at(Field::Invoice)
            ));
        }
        Err(error) => return fail(format!("{}: {error}", at(Field::Invoice))),
    };

    let party = match kind {
        Kind::Invoice => {
            let field = if layout.cell(row, Field::ToClient).is_blank() { Field::EndClient } else { Field::ToClient };
            let written = layout.cell(row, field).trimmed().into_owned();
            if written.is_empty() {
                return fail(format!(
                    "{} and {} are both blank: enter the customer to invoice",
                    at(Field::ToClient),
                    at(Field::EndClient)
                ));
            }
            let name = match PartyName::parse(&written) {
                Ok(name) => name,
                Err(error) => return fail(format!("{}: the customer name {error}", at(field))),
            };
            match PartyName::parse(&policy.customer_aliases.resolve(name.as_str())) {
                Ok(name) => name,
                Err(error) => {
                    return fail(format!(
                        "{}: the customer name \"{name}\" maps, in qb_customers.json, to a name that cannot be a QuickBooks customer: {error}",
                        at(field)
                    ));
                }
            }
        }
        Kind::Bill => match PartyName::parse(&policy.vendor_aliases.resolve(&canonical)) {
            Ok(name) => name,
            Err(error) => {
                return fail(format!(
                    "{}: the vendor \"{canonical}\" (from qb_directions.json and qb_vendors.json) cannot be a QuickBooks vendor name: {error}",
                    at(Field::InvFrom)
                ));
            }
        },
    }
    .into_string();

    let (amount, credit) = match parse_signed_amount(layout.cell(row, Field::InvDollars), &policy.amount_format) {
        Ok(SignedAmount::Positive(money)) if money.is_zero() => {
            return fail(format!(
                "{} is zero: QuickBooks documents need an amount; enter it or change the status",
                at(Field::InvDollars)
            ));
        }
        Ok(SignedAmount::Positive(money)) => (money.amount(), false),
        Ok(SignedAmount::Negative { size, .. }) if policy.negative_amounts == NegativeAmounts::Credit => {
            (size.amount(), true)
        }
        Ok(SignedAmount::Negative { text, .. }) => {
            return fail(format!("{}: {}", at(Field::InvDollars), AmountError::Negative { text }));
        }
        Err(error) => return fail(format!("{}: {error}", at(Field::InvDollars))),
    };

    let txn_date = match parse_date(layout.cell(row, Field::SubmittedDate), policy.date_order) {
        Ok(Some(date)) => date,
        Ok(None) => policy.today,
        Err(error) => return fail(format!("{}: {error}", at(Field::SubmittedDate))),
    };
    let due_date = match parse_date(layout.cell(row, Field::InvPaidDate), policy.date_order) {
        Ok(Some(date)) if date >= txn_date => Some(date),
        // A due date before the transaction date is not a due date (often a payment date
        // typed early); QuickBooks would refuse it, so it is left to QuickBooks' terms.
        Ok(_) => None,
        Err(error) => return fail(format!("{}: {error}", at(Field::InvPaidDate))),
    };

    let tax_code = Some(layout.cell(row, Field::TaxCode).trimmed().into_owned()).filter(|code| !code.is_empty());
    RowVerdict::Document {
        kind,
        credit,
        doc_number,
        party,
        line: DraftLine { amount, description: description(row, layout), tax_code },
        txn_date,
        due_date,
        note: private_note(row, layout),
    }
}

fn description(row: &[Cell], layout: &Layout) -> Option<String> {
    let parts: Vec<String> = [Field::JobName, Field::TaskDescr]
        .into_iter()
        .map(|f| layout.cell(row, f).trimmed().into_owned())
        .filter(|s| !s.is_empty())
        .collect();
    (!parts.is_empty()).then(|| clip(&parts.join(" — ")))
}

fn private_note(row: &[Cell], layout: &Layout) -> Option<String> {
    let labelled = [
        (Field::Notes, ""),
        (Field::Thread, "thread: "),
        (Field::InvFrom, "from: "),
        (Field::Owed2Acd, "owed2ACD: "),
        (Field::Owed2Workers, "owed2workers: "),
    ];
    let parts: Vec<String> = labelled
        .into_iter()
        .filter_map(|(field, label)| {
            let text = layout.cell(row, field).trimmed().into_owned();
            (!text.is_empty()).then(|| format!("{label}{text}"))
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Appends qbsync's marker to a note, keeping within QuickBooks' limit. The marker lets an
/// uncertain create be recognised as ours when it is found by document number later.
pub fn note_with_marker(note: Option<&str>, doc_key: &str) -> String {
    let marker = format!("[qbsync {doc_key}]");
    match note {
        Some(note) if !note.is_empty() => {
            let room = QBO_TEXT_LIMIT.saturating_sub(marker.chars().count() + 1);
            format!("{} {marker}", clip_to(note, room))
        }
        _ => marker,
    }
}

/// Whether a QuickBooks note carries the marker of `doc_key`.
pub fn note_has_marker(note: &str, doc_key: &str) -> bool {
    note.contains(&format!("[qbsync {doc_key}]"))
}

fn clip(text: &str) -> String {
    clip_to(text, QBO_TEXT_LIMIT)
}

fn clip_to(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_owned();
    }
    let mut clipped: String = text.chars().take(limit.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// "inv_dollars (cell H12)": how messages point at a cell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellRef {
    header: String,
    a1: Option<String>,
}

impl CellRef {
    pub fn new(layout: &Layout, field: Field, index: u32) -> CellRef {
        CellRef {
            header: layout.names().name(field).to_owned(),
            a1: layout.column(field).map(|col| format!("{}{}", column_letter(col), index + 1)),
        }
    }
}

impl std::fmt::Display for CellRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.a1 {
            Some(a1) => write!(f, "{} (cell {a1})", self.header),
            None => write!(f, "{} (no such column)", self.header),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_letters_follow_sheets() {
        assert_eq!(column_letter(0), "A");
        assert_eq!(column_letter(25), "Z");
        assert_eq!(column_letter(26), "AA");
        assert_eq!(column_letter(701), "ZZ");
        assert_eq!(column_letter(702), "AAA");
    }

    #[test]
    fn marker_survives_a_long_note_and_is_found() {
        let long = "x".repeat(5000);
        let note = note_with_marker(Some(&long), "k123");
        assert!(note.chars().count() <= QBO_TEXT_LIMIT);
        assert!(note_has_marker(&note, "k123"));
        assert!(!note_has_marker(&note, "k12"));
        assert_eq!(note_with_marker(None, "k1"), "[qbsync k1]");
    }
}
