//! The benchmark's sheets: a backlog of ready rows, rows to append one by one, and a long
//! settled history. Every row routes to the bundled demo company, so nothing fails for want of
//! a customer and every figure measures the sync, not its error paths.

/// The demo sheet's input columns, then the invoice tracking columns `qbsync migrate` adds,
/// under their default header names.
pub fn header() -> Vec<String> {
    use crate::domain::layout::Field;
    let names = crate::domain::layout::ColumnNames::default();
    let inputs = Field::INPUTS.into_iter().filter(|field| !Field::OPT_IN.contains(field));
    inputs.chain(Field::TRACKING_INVOICE).map(|field| names.name(field).to_owned()).collect()
}

/// [`header`], then the invoice money columns `qbsync migrate` adds (`qb_balance`,
/// `qb_paid_status`, `qb_paid_at`): a sheet on which the payment poller shows what it learns.
pub fn money_header() -> Vec<String> {
    let names = crate::domain::layout::ColumnNames::default();
    let money = crate::domain::layout::Field::MONEY_INVOICE.into_iter().map(|field| names.name(field).to_owned());
    header().into_iter().chain(money).collect()
}

/// Ready row `i` on a [`money_header`] sheet: the money columns blank.
pub fn ready_money_row(i: usize) -> Vec<String> {
    let mut row = ready_row(i);
    row.resize(money_header().len(), String::new());
    row
}

/// A [`money_header`] sheet of `rows` ready rows.
pub fn money_backlog(rows: usize) -> String {
    to_csv(money_header(), (0..rows).map(ready_money_row))
}

/// The demo company's customers (they all exist, so names resolve in one query per pass).
const CUSTOMERS: [&str; 6] =
    ["Acme Training Co", "O'Brien & Sons", "Globex Corporation", "Initech LLC", "Umbrella Academy", "Stark Industries"];

/// The invoice number of ready row `i`; unique across everything one benchmark run creates.
pub fn invoice_number(i: usize) -> String {
    format!("BENCH-{i:06}")
}

/// Ready row `i`: money in from ACD, status `submitted`, a distinct number and amount.
pub fn ready_row(i: usize) -> Vec<String> {
    let mut row = vec![
        invoice_number(i),
        "submitted".to_owned(),
        "ACD".to_owned(),
        CUSTOMERS[i % CUSTOMERS.len()].to_owned(),
        String::new(),
        format!("Workshop day {}", i % 250 + 1),
        format!("JOB-{:04}", i % 997),
        format!("{}.{:02}", 100 + i % 4900, i % 100),
        format!("2025-11-{:02}", i % 28 + 1),
    ];
    row.extend([""; 4].map(str::to_owned));
    row.push(format!("T-{i:06}"));
    row.extend([""; 5].map(str::to_owned));
    row
}

/// A sheet of `rows` ready rows (none synced yet).
pub fn backlog(rows: usize) -> String {
    to_csv(header(), (0..rows).map(ready_row))
}

/// The time qbsync wrote onto settled row `i` of [`history`].
pub fn synced_at(i: usize) -> String {
    format!("2025-11-{:02}T09:{:02}:00Z", i % 28 + 1, i % 60)
}

/// A sheet of `rows` settled rows — every one synced, with its id, link, status and time — and
/// `extra_columns` more columns of notes qbsync does not own, as a real sheet grows them; then
/// `blank_rows` blank rows to type new rows into.
pub fn history(rows: usize, extra_columns: usize, blank_rows: usize) -> String {
    let mut header: Vec<String> = header();
    header.extend((1..=extra_columns).map(|c| format!("memo_{c}")));
    let body = (0..rows).map(move |i| {
        let mut row = ready_row(1_000_000 + i);
        let id = (10_000 + i).to_string();
        row[14] = id.clone();
        row[15] = format!("https://app.sandbox.qbo.intuit.com/app/invoice?txnId={id}");
        row[16] = "synced".to_owned();
        row[17] = synced_at(i);
        row.extend((1..=extra_columns).map(|c| format!("note {c} on row {i}")));
        row
    });
    let blank = vec![String::new(); header.len()];
    to_csv(header, body.chain(std::iter::repeat_n(blank, blank_rows)))
}

fn to_csv(header: Vec<String>, rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail, and every record has the header's width.
    for record in std::iter::once(header).chain(rows) {
        let _ = writer.write_record(&record);
    }
    writer.into_inner().map(|bytes| String::from_utf8_lossy(&bytes).into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_have_the_header_width_and_distinct_numbers() {
        let row = ready_row(7);
        assert_eq!(row.len(), header().len());
        assert_eq!(row[0], "BENCH-000007");
        assert_ne!(ready_row(8)[0], row[0]);
        let text = backlog(3);
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("\"O'Brien & Sons\"") || text.contains("O'Brien & Sons"));
    }

    #[test]
    fn money_rows_carry_the_money_columns_blank() {
        let header = money_header();
        assert_eq!(&header[header.len() - 3..], ["qb_balance", "qb_paid_status", "qb_paid_at"]);
        let row = ready_money_row(3);
        assert_eq!(row.len(), header.len());
        assert_eq!(row[..ready_row(3).len()], ready_row(3)[..]);
        assert!(row[row.len() - 3..].iter().all(String::is_empty));
        assert_eq!(money_backlog(2).lines().count(), 3);
    }

    #[test]
    fn history_rows_are_synced_and_wide() {
        let text = history(2, 11, 1);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().len(), 30);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 3, "two settled rows and a blank one");
        assert!(rows[2].iter().all(str::is_empty));
        assert_eq!(&rows[1][14], "10001");
        assert_eq!(&rows[1][16], "synced");
    }
}
