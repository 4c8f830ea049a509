//! Where each column is: the header row read once per pass, turned into column indexes.
//!
//! Bookkeepers reorder, insert and rename columns, so qbsync never assumes positions. Row 1 is
//! matched against the header names of [`ColumnNames`] (case-insensitive, surrounding white
//! space ignored); every other column is left alone.
//!
//! **Required** input columns are those whose absence would silently produce wrong documents:
//! `invoice` (DocNumber), `status` (readiness), `inv_from` (routing and vendor), `to_client`
//! (customer), `inv_dollars` (amount) and `submitted_date` (TxnDate; a missing column would date
//! everything today). The others are **optional** and read as blank when absent: `end_client`
//! (customer fallback), `task_descr`, `job_name` (description), `Inv_paid_date` (DueDate),
//! `owed2ACD`, `owed2workers`, `notes`, `thread` (private note), `tax_code` (a line's tax code),
//! `approved` (a person's yes to a row's preview, when `QBSYNC_REQUIRE_APPROVAL` is on).
//! The tracking columns `qb_*` are added by `qbsync migrate`; [`Layout::missing_tracking_columns`]
//! says which. The money columns (`qb_balance`, `qb_paid_status`, `qb_paid_at` and their
//! `qb_bill_*` twins) are tracking columns too, but optional: a sheet without them is left alone.
//! With approval on, `qb_preview` (what would be sent) and `approved` are required too, and
//! `migrate` adds them.

use std::fmt;

use super::Cell;

/// Every column qbsync knows, input and tracking.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Invoice,
    Status,
    InvFrom,
    ToClient,
    EndClient,
    TaskDescr,
    JobName,
    InvDollars,
    SubmittedDate,
    InvPaidDate,
    Owed2Acd,
    Owed2Workers,
    Notes,
    Thread,
    /// A line's tax code (id or name), overriding `QB_DEFAULT_TAX_CODE` for its row.
    TaxCode,
    /// A person's approval of the row's preview (`yes`, or a ticked checkbox): read, never
    /// written, and not part of the row's content.
    Approved,
    QbInvoiceId,
    QbInvoiceUrl,
    QbSyncStatus,
    QbSyncedAt,
    QbError,
    QbBillId,
    QbBillUrl,
    QbBillStatus,
    QbBillError,
    QbBalance,
    QbPaidStatus,
    QbPaidAt,
    QbBillBalance,
    QbBillPaidStatus,
    QbBillPaidAt,
    QbTotal,
    QbBillTotal,
    /// What a row in review would become, in one line (`QBSYNC_REQUIRE_APPROVAL`).
    QbPreview,
}

impl Field {
    /// Every field, inputs first, then tracking columns in the order `migrate` adds them; built
    /// from the lists below so it cannot drift from them.
    pub const ALL: [Field; 34] = {
        let mut all = [Field::Invoice; 34];
        let mut i = 0;
        while i < Field::INPUTS.len() {
            all[i] = Field::INPUTS[i];
            i += 1;
        }
        let mut j = 0;
        while j < Field::TRACKING_INVOICE.len() {
            all[i + j] = Field::TRACKING_INVOICE[j];
            j += 1;
        }
        let mut k = 0;
        while k < Field::TRACKING_BILL.len() {
            all[i + j + k] = Field::TRACKING_BILL[k];
            k += 1;
        }
        let mut m = 0;
        while m < Field::MONEY.len() {
            all[i + j + k + m] = Field::MONEY[m];
            m += 1;
        }
        let mut t = 0;
        while t < Field::TOTALS.len() {
            all[i + j + k + m + t] = Field::TOTALS[t];
            t += 1;
        }
        all[i + j + k + m + t] = Field::QbPreview;
        all
    };

    /// The columns qbsync reads and never writes.
    pub const INPUTS: [Field; 16] = [
        Field::Invoice,
        Field::Status,
        Field::InvFrom,
        Field::ToClient,
        Field::EndClient,
        Field::TaskDescr,
        Field::JobName,
        Field::InvDollars,
        Field::SubmittedDate,
        Field::InvPaidDate,
        Field::Owed2Acd,
        Field::Owed2Workers,
        Field::Notes,
        Field::Thread,
        Field::TaxCode,
        Field::Approved,
    ];

    /// Inputs a sheet has only when its owner wants what they do (a row's own tax code, the
    /// approval of previews): never reported missing, and not part of the demo sheet.
    pub const OPT_IN: [Field; 2] = [Field::TaxCode, Field::Approved];

    /// Inputs that record what a person decided about a row rather than what the row says:
    /// they are not its content, so approving a row never looks like an edit of it.
    pub const DECISIONS: [Field; 1] = [Field::Approved];

    /// The columns of review before posting, in the order `migrate` adds them (when
    /// `QBSYNC_REQUIRE_APPROVAL` is on): qbsync's preview, then the person's approval.
    pub const APPROVAL: [Field; 2] = [Field::QbPreview, Field::Approved];

    /// Inputs without which the sheet cannot be read correctly (see the module docs).
    pub const REQUIRED: [Field; 6] =
        [Field::Invoice, Field::Status, Field::InvFrom, Field::ToClient, Field::InvDollars, Field::SubmittedDate];

    /// qbsync's columns in every mode, in the order `migrate` adds them.
    pub const TRACKING_INVOICE: [Field; 5] =
        [Field::QbInvoiceId, Field::QbInvoiceUrl, Field::QbSyncStatus, Field::QbSyncedAt, Field::QbError];

    /// qbsync's extra columns in dual mode, in the order `migrate` adds them.
    pub const TRACKING_BILL: [Field; 4] = [Field::QbBillId, Field::QbBillUrl, Field::QbBillStatus, Field::QbBillError];

    /// What QuickBooks says about an invoice's money (balance, paid status, paid date).
    /// Optional: a sheet without them is left alone, and nothing waits for them.
    pub const MONEY_INVOICE: [Field; 3] = [Field::QbBalance, Field::QbPaidStatus, Field::QbPaidAt];

    /// The same for a bill, in dual mode.
    pub const MONEY_BILL: [Field; 3] = [Field::QbBillBalance, Field::QbBillPaidStatus, Field::QbBillPaidAt];

    /// Every money column, invoice ones first.
    pub const MONEY: [Field; 6] = [
        Field::QbBalance,
        Field::QbPaidStatus,
        Field::QbPaidAt,
        Field::QbBillBalance,
        Field::QbBillPaidStatus,
        Field::QbBillPaidAt,
    ];

    /// QuickBooks' total of the document a row created, tax included (the sheet's amount is
    /// without it where tax is added on top): invoice side, then bill side. Optional like the
    /// money columns, and known from the create itself, so no poll is needed to show it.
    pub const TOTALS: [Field; 2] = [Field::QbTotal, Field::QbBillTotal];

    /// The settings key (`[columns] inv_dollars`, `QBSYNC_COLUMN_INV_DOLLARS`).
    pub const fn key(self) -> &'static str {
        match self {
            Field::Invoice => "invoice",
            Field::Status => "status",
            Field::InvFrom => "inv_from",
            Field::ToClient => "to_client",
            Field::EndClient => "end_client",
            Field::TaskDescr => "task_descr",
            Field::JobName => "job_name",
            Field::InvDollars => "inv_dollars",
            Field::SubmittedDate => "submitted_date",
            Field::InvPaidDate => "inv_paid_date",
            Field::Owed2Acd => "owed2acd",
            Field::Owed2Workers => "owed2workers",
            Field::Notes => "notes",
            Field::Thread => "thread",
            Field::TaxCode => "tax_code",
            Field::Approved => "approved",
            Field::QbInvoiceId => "qb_invoice_id",
            Field::QbInvoiceUrl => "qb_invoice_url",
            Field::QbSyncStatus => "qb_sync_status",
            Field::QbSyncedAt => "qb_synced_at",
            Field::QbError => "qb_error",
            Field::QbBillId => "qb_bill_id",
            Field::QbBillUrl => "qb_bill_url",
            Field::QbBillStatus => "qb_bill_status",
            Field::QbBillError => "qb_bill_error",
            Field::QbTotal => "qb_total",
            Field::QbBillTotal => "qb_bill_total",
            Field::QbPreview => "qb_preview",
            Field::QbBalance => "qb_balance",
            Field::QbPaidStatus => "qb_paid_status",
            Field::QbPaidAt => "qb_paid_at",
            Field::QbBillBalance => "qb_bill_balance",
            Field::QbBillPaidStatus => "qb_bill_paid_status",
            Field::QbBillPaidAt => "qb_bill_paid_at",
        }
    }

    /// The header text of the shipped sheet.
    pub const fn default_header(self) -> &'static str {
        match self {
            Field::InvPaidDate => "Inv_paid_date",
            Field::Owed2Acd => "owed2ACD",
            other => other.key(),
        }
    }

    /// The field whose settings key is `key` (case-insensitive).
    pub fn from_key(key: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.key().eq_ignore_ascii_case(key.trim()))
    }

    /// True for the columns qbsync writes.
    pub fn is_tracking(self) -> bool {
        !Field::INPUTS.contains(&self)
    }

    /// True for the inputs that are the row's content (every input but a person's decisions
    /// about the row, see [`Field::DECISIONS`]).
    pub fn is_content(self) -> bool {
        !self.is_tracking() && !Field::DECISIONS.contains(&self)
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The header text of each field on this sheet: the shipped names unless configured otherwise.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnNames {
    names: [String; Field::ALL.len()],
    /// Whether the bill tracking columns are required too (dual mode): a pass that may create
    /// bills must have somewhere to record them.
    bills: bool,
    /// Whether the approval columns are required too (`QBSYNC_REQUIRE_APPROVAL`): a row waiting
    /// for approval must be able to show its preview and be approved.
    approval: bool,
}

/// A column-name configuration that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ColumnNameError {
    #[error("the header name for {field} is blank")]
    Blank { field: Field },
    #[error("{first} and {second} are both configured as the header \"{name}\": give each its own column")]
    SameName { first: Field, second: Field, name: String },
}

impl Default for ColumnNames {
    fn default() -> Self {
        ColumnNames { names: Field::ALL.map(|f| f.default_header().to_owned()), bills: false, approval: false }
    }
}

impl ColumnNames {
    /// The header text of `field`.
    pub fn name(&self, field: Field) -> &str {
        &self.names[field.index()]
    }

    /// Renames one field's column (surrounding white space is dropped).
    pub fn set(&mut self, field: Field, name: &str) -> Result<(), ColumnNameError> {
        let name = name.trim();
        if name.is_empty() {
            return Err(ColumnNameError::Blank { field });
        }
        self.names[field.index()] = name.to_owned();
        Ok(())
    }

    /// These names, with the bill tracking columns required (`true`, dual mode) or not.
    pub fn with_bill_columns(mut self, required: bool) -> ColumnNames {
        self.bills = required;
        self
    }

    /// Whether a pass needs the bill tracking columns.
    pub fn bill_columns(&self) -> bool {
        self.bills
    }

    /// These names, with the approval columns required (`true`) or not.
    pub fn with_approval_columns(mut self, required: bool) -> ColumnNames {
        self.approval = required;
        self
    }

    /// Whether a pass needs the approval columns.
    pub fn approval_columns(&self) -> bool {
        self.approval
    }

    /// Checks that no two fields share a header name.
    pub fn validate(&self) -> Result<(), ColumnNameError> {
        for (i, first) in Field::ALL.into_iter().enumerate() {
            for second in Field::ALL.into_iter().skip(i + 1) {
                if header_key(self.name(first)) == header_key(self.name(second)) {
                    let name = self.name(second).to_owned();
                    return Err(ColumnNameError::SameName { first, second, name });
                }
            }
        }
        Ok(())
    }

    /// `(field, header)` pairs in [`Field::ALL`] order.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ALL.into_iter().map(|f| (f, self.name(f)))
    }
}

/// Why the header row cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    /// Header names (as configured) of required input columns not found in row 1.
    #[error("the header row (row 1) has no column named {}: add the column, or if it has another name, set it under [columns] in the configuration (e.g. QBSYNC_COLUMN_INV_DOLLARS=Amount)", quoted(.0))]
    MissingInputColumns(Vec<String>),
    /// Two columns of row 1 carry the header of the same field, so it is unclear which to read or write.
    #[error("the header row (row 1) has two columns named \"{name}\" (columns {} and {}): rename or remove one, so that qbsync knows which to use", column_letter(*.first), column_letter(*.second))]
    DuplicateColumn { name: String, first: usize, second: usize },
    /// Tracking columns the mode needs are not in row 1 (renamed or deleted, or never added):
    /// nothing may be created, because there would be nowhere to record it.
    #[error("{}", describe_missing_tracking(.0))]
    MissingTrackingColumns(Vec<MissingColumn>),
}

/// A tracking column row 1 lacks, and the header that looks like it was meant to be it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingColumn {
    pub field: Field,
    /// The header name qbsync looks for.
    pub name: String,
    /// A header of row 1 that differs from `name` only in case, spaces, underscores or a
    /// typo or two, with its column letter.
    pub near_miss: Option<(String, String)>,
}

fn describe_missing_tracking(missing: &[MissingColumn]) -> String {
    let names = quoted(&missing.iter().map(|m| m.name.clone()).collect::<Vec<_>>());
    let mut message = format!(
        "the header row (row 1) has no column named {names}, which qbsync needs to record what it creates, so nothing is created until it is back."
    );
    for m in missing {
        if let Some((header, letter)) = &m.near_miss {
            message += &format!(
                " Column {letter} is headed \"{header}\": if that is the {} column, rename its header back to \"{}\" or set QBSYNC_COLUMN_{}=\"{header}\" (in a config file: {} under [columns]).",
                m.name,
                m.name,
                m.field.key().to_uppercase(),
                m.field.key()
            );
        }
    }
    message += " If the column was deleted, run `qbsync migrate` to add it again (it adds missing columns and never renames one).";
    message
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// Column indexes (0-based) of the fields found in the header row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    columns: [Option<usize>; Field::ALL.len()],
    names: ColumnNames,
    width: usize,
    /// Row 1 as read, for naming near misses when a column is missing.
    headers: Vec<String>,
}

static EMPTY: Cell = Cell::Empty;

impl Layout {
    /// Finds every known column in row 1, for a pass. Unknown headers are ignored; a known
    /// header appearing twice, a missing required input or a missing tracking column (the
    /// invoice ones always, the bill ones when `names` says bills are on) is an error: nothing
    /// may be created that could not be recorded.
    pub fn from_header(header: &[Cell], names: &ColumnNames) -> Result<Layout, LayoutError> {
        let layout = Layout::read_header(header, names)?;
        layout.check_tracking(names.bill_columns())?;
        Ok(layout)
    }

    /// Like [`Layout::from_header`] but content with missing tracking columns: for `migrate`,
    /// which adds them, and `doctor`, which reports them.
    pub fn read_header(header: &[Cell], names: &ColumnNames) -> Result<Layout, LayoutError> {
        let mut columns = [None; Field::ALL.len()];
        for (index, cell) in header.iter().enumerate() {
            let key = header_key(&cell.as_text());
            if key.is_empty() {
                continue;
            }
            let Some(field) = Field::ALL.into_iter().find(|f| header_key(names.name(*f)) == key) else {
                continue;
            };
            if let Some(first) = columns[field.index()] {
                let name = cell.trimmed().into_owned();
                return Err(LayoutError::DuplicateColumn { name, first, second: index });
            }
            columns[field.index()] = Some(index);
        }
        let missing: Vec<String> = Field::REQUIRED
            .into_iter()
            .filter(|f| columns[f.index()].is_none())
            .map(|f| names.name(f).to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(LayoutError::MissingInputColumns(missing));
        }
        let headers = header.iter().map(|c| c.trimmed().into_owned()).collect();
        Ok(Layout { columns, names: names.clone(), width: header.len(), headers })
    }

    /// Refuses a layout without every tracking column the mode writes (the bill columns only
    /// when `dual`, the approval columns only when the names say approval is on), naming for
    /// each the header that looks like it (renamed) if there is one.
    pub fn check_tracking(&self, dual: bool) -> Result<(), LayoutError> {
        let bill: &[Field] = if dual { &Field::TRACKING_BILL } else { &[] };
        let approval: &[Field] = if self.names.approval_columns() { &Field::APPROVAL } else { &[] };
        let missing: Vec<MissingColumn> = Field::TRACKING_INVOICE
            .iter()
            .chain(bill)
            .chain(approval)
            .filter(|f| self.column(**f).is_none())
            .map(|&field| {
                let name = self.names.name(field).to_owned();
                let near_miss = self.near_miss(&name).map(|(i, h)| (h.to_owned(), column_letter(i)));
                MissingColumn { field, name, near_miss }
            })
            .collect();
        if missing.is_empty() { Ok(()) } else { Err(LayoutError::MissingTrackingColumns(missing)) }
    }

    /// The unclaimed header of row 1 closest to `name`: the same once case, spaces, underscores
    /// and hyphens are ignored, or within two edits of it.
    fn near_miss(&self, name: &str) -> Option<(usize, &str)> {
        let wanted = squash(name);
        let claimed: Vec<usize> = self.columns.iter().flatten().copied().collect();
        self.headers
            .iter()
            .enumerate()
            .filter(|(i, h)| !h.is_empty() && !claimed.contains(i))
            .map(|(i, h)| (strsim::levenshtein(&wanted, &squash(h)), i, h.as_str()))
            .filter(|(distance, _, _)| *distance <= 2)
            .min_by_key(|(distance, i, _)| (*distance, *i))
            .map(|(_, i, h)| (i, h))
    }

    /// The 0-based column of `field`, if row 1 has it.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.columns[field.index()]
    }

    /// Which columns hold a field qbsync knows (`true`), up to the last of them: the rest of a
    /// row is never looked at.
    pub fn known_columns(&self) -> Vec<bool> {
        let mut known = vec![false; self.columns.iter().flatten().max().map_or(0, |last| last + 1)];
        for column in self.columns.iter().flatten() {
            known[*column] = true;
        }
        known
    }

    /// The header names of the tracking columns row 1 lacks, in the order `migrate` appends
    /// them (the bill columns only when `dual`), the optional money columns included.
    pub fn missing_tracking_columns(&self, dual: bool) -> Vec<&str> {
        let bill: &[Field] = if dual { &Field::TRACKING_BILL } else { &[] };
        let bill_money: &[Field] = if dual { &Field::MONEY_BILL } else { &[] };
        let totals: &[Field] = if dual { &Field::TOTALS } else { &Field::TOTALS[..1] };
        Field::TRACKING_INVOICE
            .iter()
            .chain(bill)
            .chain(&Field::MONEY_INVOICE)
            .chain(bill_money)
            .chain(totals)
            .filter(|f| self.column(**f).is_none())
            .map(|f| self.names.name(*f))
            .collect()
    }

    /// The header names of the approval columns row 1 lacks, in the order `migrate` appends
    /// them (after the tracking columns).
    pub fn missing_approval_columns(&self) -> Vec<&str> {
        Field::APPROVAL.iter().filter(|f| self.column(**f).is_none()).map(|f| self.names.name(*f)).collect()
    }

    /// The header names of optional input columns row 1 lacks (read as blank; `doctor` lists them).
    pub fn missing_optional_columns(&self) -> Vec<&str> {
        Field::INPUTS
            .into_iter()
            .filter(|f| !Field::REQUIRED.contains(f) && !Field::OPT_IN.contains(f) && self.column(*f).is_none())
            .map(|f| self.names.name(f))
            .collect()
    }

    /// The number of cells in row 1 as read (the API leaves out trailing empty cells): the
    /// first free column for `migrate`.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The cell of `field` in `row`, or an empty cell when the column is absent or the row is
    /// shorter (the API leaves out a row's trailing empty cells).
    pub fn cell<'a>(&self, row: &'a [Cell], field: Field) -> &'a Cell {
        self.column(field).and_then(|i| row.get(i)).unwrap_or(&EMPTY)
    }

    /// Whether row 1 has any money column: without one, nothing would show what QuickBooks
    /// says about payments, so nothing is asked.
    pub fn shows_money(&self) -> bool {
        Field::MONEY.iter().any(|f| self.column(*f).is_some())
    }

    /// The header names this layout was built with.
    pub fn names(&self) -> &ColumnNames {
        &self.names
    }
}

/// How headers are compared for near misses: lowercase letters and digits only.
fn squash(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// How headers are compared: trimmed, lowercase.
fn header_key(text: &str) -> String {
    text.trim().to_lowercase()
}

/// The A1 letter of a 0-based column: 0 → `A`, 25 → `Z`, 26 → `AA`.
pub fn column_letter(index: usize) -> String {
    let mut n = index + 1;
    let mut letters = Vec::new();
    while n > 0 {
        let rem = (n - 1) % 26;
        letters.push(char::from(b'A' + rem as u8));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(names: &[&str]) -> Vec<Cell> {
        names.iter().map(|n| Cell::text(*n)).collect()
    }

    const DEMO: &str = "invoice,status,inv_from,to_client,end_client,task_descr,job_name,inv_dollars,submitted_date,Inv_paid_date,owed2ACD,owed2workers,notes,thread";

    #[test]
    fn with_approval_on_the_preview_and_approval_columns_are_required_and_added_last() {
        let tracked = format!("{DEMO},qb_invoice_id,qb_invoice_url,qb_sync_status,qb_synced_at,qb_error");
        let names: Vec<&str> = tracked.split(',').collect();
        let approving = ColumnNames::default().with_approval_columns(true);
        let layout = Layout::read_header(&header(&names), &approving).unwrap();
        assert_eq!(layout.missing_approval_columns(), ["qb_preview", "approved"]);
        let Err(LayoutError::MissingTrackingColumns(missing)) = layout.check_tracking(false) else {
            panic!("the approval columns are required")
        };
        assert_eq!(missing.iter().map(|m| m.field).collect::<Vec<_>>(), [Field::QbPreview, Field::Approved]);
        assert!(Layout::from_header(&header(&names), &ColumnNames::default()).is_ok(), "not without approval");

        let with = Layout::from_header(&header(&[&names[..], &["approved", "qb_preview"]].concat()), &approving);
        let with = with.expect("both columns there, in any order");
        assert!(with.missing_approval_columns().is_empty());
        assert!(!Field::Approved.is_tracking() && !Field::Approved.is_content(), "read, never written, not content");
        assert!(Field::QbPreview.is_tracking());
    }

    #[test]
    fn the_demo_header_is_read_in_order() {
        let names: Vec<&str> = DEMO.split(',').collect();
        let layout = Layout::read_header(&header(&names), &ColumnNames::default()).unwrap();
        for (i, field) in Field::INPUTS.into_iter().filter(|f| !Field::OPT_IN.contains(f)).enumerate() {
            assert_eq!(layout.column(field), Some(i), "{field}");
        }
        assert_eq!(layout.column(Field::TaxCode), None);
        assert_eq!(layout.width(), 14);
        assert_eq!(
            layout.missing_tracking_columns(false),
            [
                "qb_invoice_id",
                "qb_invoice_url",
                "qb_sync_status",
                "qb_synced_at",
                "qb_error",
                "qb_balance",
                "qb_paid_status",
                "qb_paid_at",
                "qb_total"
            ]
        );
        assert_eq!(layout.missing_tracking_columns(true).len(), 17);
        assert_eq!(
            layout.missing_tracking_columns(true)[5..],
            [
                "qb_bill_id",
                "qb_bill_url",
                "qb_bill_status",
                "qb_bill_error",
                "qb_balance",
                "qb_paid_status",
                "qb_paid_at",
                "qb_bill_balance",
                "qb_bill_paid_status",
                "qb_bill_paid_at",
                "qb_total",
                "qb_bill_total"
            ]
        );
        assert!(!layout.shows_money());
        assert!(layout.missing_optional_columns().is_empty());
    }

    #[test]
    fn any_order_any_case_surrounding_spaces_and_foreign_columns() {
        let cells = header(&[
            " INV_DOLLARS ",
            "My own column",
            "",
            "Status",
            "qb_error",
            "inv_paid_date",
            "Invoice",
            "INV_FROM",
            "to_client",
            "Submitted_Date",
        ]);
        let layout = Layout::read_header(&cells, &ColumnNames::default()).unwrap();
        assert_eq!(layout.column(Field::InvDollars), Some(0));
        assert_eq!(layout.column(Field::Status), Some(3));
        assert_eq!(layout.column(Field::QbError), Some(4));
        assert_eq!(layout.column(Field::InvPaidDate), Some(5));
        assert_eq!(layout.column(Field::Invoice), Some(6));
        assert_eq!(layout.column(Field::EndClient), None);
        assert_eq!(layout.width(), 10);
        assert_eq!(
            layout.missing_tracking_columns(false),
            [
                "qb_invoice_id",
                "qb_invoice_url",
                "qb_sync_status",
                "qb_synced_at",
                "qb_balance",
                "qb_paid_status",
                "qb_paid_at",
                "qb_total"
            ]
        );
        assert_eq!(
            layout.missing_optional_columns(),
            ["end_client", "task_descr", "job_name", "owed2ACD", "owed2workers", "notes", "thread"]
        );
    }

    #[test]
    fn configured_names_replace_the_defaults() {
        let mut names = ColumnNames::default();
        names.set(Field::InvDollars, " Amount ").unwrap();
        let cells = header(&["invoice", "status", "inv_from", "to_client", "amount", "submitted_date", "inv_dollars"]);
        let layout = Layout::read_header(&cells, &names).unwrap();
        assert_eq!(layout.column(Field::InvDollars), Some(4));
        assert_eq!(layout.names().name(Field::InvDollars), "Amount");
    }

    #[test]
    fn missing_required_columns_are_all_named() {
        let cells = header(&["status", "to_client", "submitted_date", "notes"]);
        let err = Layout::read_header(&cells, &ColumnNames::default()).unwrap_err();
        assert_eq!(
            err,
            LayoutError::MissingInputColumns(vec!["invoice".into(), "inv_from".into(), "inv_dollars".into()])
        );
        let message = err.to_string();
        assert!(
            message.contains("\"invoice\", \"inv_from\", \"inv_dollars\"") && message.contains("[columns]"),
            "{message}"
        );
    }

    #[test]
    fn a_known_header_twice_is_an_error_naming_both_columns() {
        let mut names: Vec<&str> = DEMO.split(',').collect();
        names.push(" Status");
        let err = Layout::read_header(&header(&names), &ColumnNames::default()).unwrap_err();
        assert_eq!(err, LayoutError::DuplicateColumn { name: "Status".into(), first: 1, second: 14 });
        assert!(err.to_string().contains("columns B and O"), "{err}");
        // An unknown header twice is none of qbsync's business.
        names.pop();
        names.extend(["extra", "extra"]);
        assert!(Layout::read_header(&header(&names), &ColumnNames::default()).is_ok());
    }

    #[test]
    fn ragged_rows_read_as_empty() {
        let names: Vec<&str> = DEMO.split(',').collect();
        let layout = Layout::read_header(&header(&names), &ColumnNames::default()).unwrap();
        let row = vec![Cell::text("1042"), Cell::text("submitted")];
        assert_eq!(layout.cell(&row, Field::Invoice), &Cell::text("1042"));
        assert_eq!(layout.cell(&row, Field::InvDollars), &Cell::Empty);
        assert_eq!(layout.cell(&row, Field::QbInvoiceId), &Cell::Empty);
        assert_eq!(layout.cell(&[], Field::Invoice), &Cell::Empty);
    }

    #[test]
    fn column_names_refuse_blank_and_shared_headers() {
        let mut names = ColumnNames::default();
        assert_eq!(names.set(Field::Notes, "  "), Err(ColumnNameError::Blank { field: Field::Notes }));
        names.set(Field::Notes, "THREAD").unwrap();
        assert_eq!(
            names.validate(),
            Err(ColumnNameError::SameName { first: Field::Notes, second: Field::Thread, name: "thread".into() })
        );
        assert_eq!(ColumnNames::default().validate(), Ok(()));
    }

    #[test]
    fn field_keys_round_trip() {
        for field in Field::ALL {
            assert_eq!(Field::from_key(field.key()), Some(field));
            assert_eq!(Field::from_key(&field.key().to_uppercase()), Some(field));
        }
        assert_eq!(Field::from_key("nope"), None);
        assert!(Field::QbBillError.is_tracking() && !Field::Thread.is_tracking());
    }

    #[test]
    fn column_letters() {
        for (i, want) in
            [(0, "A"), (1, "B"), (25, "Z"), (26, "AA"), (27, "AB"), (51, "AZ"), (52, "BA"), (701, "ZZ"), (702, "AAA")]
        {
            assert_eq!(column_letter(i), want);
        }
    }

    #[test]
    fn a_pass_layout_refuses_a_renamed_tracking_header_naming_the_near_miss() {
        let mut names: Vec<&str> = DEMO.split(',').collect();
        names.extend(["QB INVOICE ID", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"]);
        let err = Layout::from_header(&header(&names), &ColumnNames::default()).unwrap_err();
        let LayoutError::MissingTrackingColumns(missing) = &err else { panic!("{err:?}") };
        assert_eq!(missing.len(), 1);
        assert_eq!(missing[0].near_miss, Some(("QB INVOICE ID".into(), "O".into())));
        let message = err.to_string();
        for part in [
            "\"qb_invoice_id\"",
            "Column O is headed \"QB INVOICE ID\"",
            "QBSYNC_COLUMN_QB_INVOICE_ID",
            "qbsync migrate",
        ] {
            assert!(message.contains(part), "{part}: {message}");
        }
        assert_eq!(message.matches("qbsync migrate").count(), 1, "{message}");
    }

    #[test]
    fn a_deleted_tracking_column_has_no_near_miss_and_migrate_is_the_fix() {
        let mut names: Vec<&str> = DEMO.split(',').collect();
        names.extend(["qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"]);
        let err = Layout::from_header(&header(&names), &ColumnNames::default()).unwrap_err();
        assert_eq!(
            err,
            LayoutError::MissingTrackingColumns(vec![MissingColumn {
                field: Field::QbInvoiceId,
                name: "qb_invoice_id".into(),
                near_miss: None
            }])
        );
        assert!(err.to_string().contains("run `qbsync migrate`"));
        // `migrate` and `doctor` read the same header without refusing it.
        let layout = Layout::read_header(&header(&names), &ColumnNames::default()).unwrap();
        assert_eq!(
            layout.missing_tracking_columns(false),
            ["qb_invoice_id", "qb_balance", "qb_paid_status", "qb_paid_at", "qb_total"]
        );
    }

    #[test]
    fn the_money_columns_are_optional_and_any_one_of_them_turns_following_on() {
        let mut names: Vec<&str> = DEMO.split(',').collect();
        names.extend(["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error"]);
        let layout = Layout::from_header(&header(&names), &ColumnNames::default()).expect("no money column needed");
        assert!(!layout.shows_money());
        names.push("qb_paid_status");
        let layout = Layout::from_header(&header(&names), &ColumnNames::default()).unwrap();
        assert!(layout.shows_money());
        assert_eq!(layout.column(Field::QbPaidStatus), Some(names.len() - 1));
    }

    #[test]
    fn bill_columns_are_required_only_in_dual_mode() {
        let mut names: Vec<&str> = DEMO.split(',').collect();
        names.extend(["qb_invoice_id", "qb_invoice_url", "qb_sync_status", "qb_synced_at", "qb_error", "qb_bill_url"]);
        let layout = Layout::from_header(&header(&names), &ColumnNames::default()).unwrap();
        assert_eq!(layout.check_tracking(false), Ok(()));
        let dual = ColumnNames::default().with_bill_columns(true);
        assert!(matches!(Layout::from_header(&header(&names), &dual), Err(LayoutError::MissingTrackingColumns(_))));
        let Err(LayoutError::MissingTrackingColumns(missing)) = layout.check_tracking(true) else { panic!() };
        let fields: Vec<Field> = missing.iter().map(|m| m.field).collect();
        assert_eq!(fields, [Field::QbBillId, Field::QbBillStatus, Field::QbBillError]);
        // qb_bill_url is claimed, so it is never offered as the near miss of qb_bill_id.
        assert!(missing.iter().all(|m| m.near_miss.is_none()), "{missing:?}");
    }
}
