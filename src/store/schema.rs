//! The schema and its upgrades. Each version is one transaction; `PRAGMA user_version` says
//! which have run, so `qbsync migrate` can run any number of times.

use rusqlite::Connection;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = 10;

/// Version 1. The two audit tables share one definition (`audit_table`).
pub(super) fn v1() -> String {
    let core = "
CREATE TABLE documents (
    doc_key      TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('invoice', 'bill')),
    doc_number   TEXT,
    request_id   TEXT NOT NULL UNIQUE,
    payload_hash TEXT NOT NULL,
    payload      TEXT NOT NULL,
    party_id     TEXT NOT NULL,
    total        TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'created', 'failed')),
    qbo_id       TEXT,
    qbo_url      TEXT,
    error        TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    row_keys     TEXT NOT NULL DEFAULT '[]',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE UNIQUE INDEX documents_by_qbo_id ON documents (kind, qbo_id) WHERE qbo_id IS NOT NULL;

CREATE TABLE rows (
    row_key    TEXT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('invoice', 'bill')),
    doc_key    TEXT,
    doc_number TEXT,
    status     TEXT NOT NULL,
    error      TEXT,
    content_fp TEXT NOT NULL,
    config_fp  TEXT NOT NULL,
    sheet_row  INTEGER,
    synced_at  TEXT,
    updated_at TEXT NOT NULL
);

";
    let tail = "
CREATE TABLE name_cache (
    kind         TEXT NOT NULL,
    name_norm    TEXT NOT NULL,
    qbo_id       TEXT NOT NULL,
    display_name TEXT NOT NULL,
    active       INTEGER NOT NULL,
    fetched_at   TEXT NOT NULL,
    PRIMARY KEY (kind, name_norm)
);

CREATE TABLE passes (
    id          INTEGER PRIMARY KEY,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    ok          INTEGER NOT NULL,
    created     INTEGER NOT NULL,
    failed      INTEGER NOT NULL,
    skipped     INTEGER NOT NULL,
    error       TEXT
);
";
    format!("{core}{}{}{tail}", audit_table("qb_invoice_audit"), audit_table("qb_bill_audit"))
}

/// One audit table: one record per attempt and outcome (README, "The audit").
fn audit_table(name: &str) -> String {
    format!(
        "
CREATE TABLE {name} (
    id            INTEGER PRIMARY KEY,
    at            TEXT NOT NULL,
    event         TEXT NOT NULL,
    row_key       TEXT,
    sheet_row     INTEGER,
    doc_number    TEXT,
    qbo_id        TEXT,
    qbo_url       TEXT,
    status        TEXT NOT NULL,
    request_id    TEXT,
    request_json  TEXT,
    response_json TEXT,
    error         TEXT
);
CREATE INDEX {name}_by_row ON {name} (row_key);
CREATE INDEX {name}_by_doc ON {name} (doc_number);
CREATE INDEX {name}_by_at ON {name} (at);
"
    )
}

/// Version 2: row seals (see `Store::seal_rows`), and documents found by number without
/// reading them all.
fn v2() -> String {
    "
ALTER TABLE rows ADD COLUMN seal INTEGER;
CREATE INDEX documents_by_number ON documents (kind, doc_number);
"
    .to_owned()
}

/// Version 3: what every pass asks of the store whatever the length of the history — the rows
/// and documents in a given state, where each synced row is and the id it shows, every seal —
/// is answered from narrow indexes instead of reading every record (see `HOT_QUERIES` in the
/// store). On 50,000 documents that is a few milliseconds per pass instead of about a hundred.
fn v3() -> String {
    "
CREATE INDEX rows_by_status ON rows (status, sheet_row, kind, doc_key, seal, row_key);
CREATE INDEX documents_ids ON documents (doc_key, qbo_id);
CREATE INDEX documents_pending ON documents (created_at) WHERE state = 'pending';
"
    .to_owned()
}

/// Version 4: what the state belongs to (the spreadsheet and tab, see `store::home`).
fn v4() -> String {
    "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"
    .to_owned()
}

/// The audit tables, one per side of the sheet (see `Kind::audit_table`).
const AUDIT_TABLES: [&str; 2] = ["qb_invoice_audit", "qb_bill_audit"];

/// The same change to every audit table: `sql` of one table's name.
fn on_audit_tables(sql: impl Fn(&str) -> String) -> String {
    AUDIT_TABLES.iter().map(|table| sql(table)).collect()
}

/// Version 5: credit memos and vendor credits, and sales tax. A document's QuickBooks type is
/// no longer its side of the sheet (a money-in row may be a credit memo), and QuickBooks' total
/// may exceed what was sent (tax added on top). Ids are unique per QuickBooks type: nothing
/// documented says an invoice and a credit memo cannot share one. Audit lines written before
/// keep no type: their table says it (every one was an invoice or a bill).
fn v5() -> String {
    let audit = on_audit_tables(|table| {
        format!(
            "
ALTER TABLE {table} ADD COLUMN doc_kind TEXT;
ALTER TABLE {table} ADD COLUMN total TEXT;
"
        )
    });
    format!(
        "
ALTER TABLE documents ADD COLUMN doc_kind TEXT NOT NULL DEFAULT '';
UPDATE documents SET doc_kind = CASE kind WHEN 'bill' THEN 'Bill' ELSE 'Invoice' END;
ALTER TABLE documents ADD COLUMN qbo_total TEXT;
DROP INDEX documents_by_qbo_id;
CREATE INDEX documents_by_kind_qbo_id ON documents (kind, qbo_id) WHERE qbo_id IS NOT NULL;
CREATE UNIQUE INDEX documents_by_qbo_id ON documents (doc_kind, qbo_id) WHERE qbo_id IS NOT NULL;
{audit}"
    )
}

/// Version 6: what QuickBooks says about the money of each document qbsync created (see
/// `store::money`), and the metered QuickBooks calls made each day.
fn v6() -> String {
    "
CREATE TABLE doc_money (
    doc_key       TEXT PRIMARY KEY REFERENCES documents (doc_key),
    total         TEXT NOT NULL,
    balance       TEXT NOT NULL,
    due_date      TEXT,
    lifecycle     TEXT NOT NULL CHECK (lifecycle IN ('live', 'voided', 'deleted')),
    last_paid_on  TEXT,
    paid_status   TEXT NOT NULL CHECK (paid_status IN ('open', 'partial', 'paid', 'overdue', 'voided', 'deleted')),
    shown_balance TEXT,
    paid_at       TEXT,
    unshown       INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL
);
CREATE INDEX doc_money_unshown ON doc_money (doc_key) WHERE unshown = 1;

CREATE TABLE metered_calls (
    day   TEXT PRIMARY KEY,
    calls INTEGER NOT NULL
);
"
    .to_owned()
}

/// Version 7: taking documents back (`qbsync void`). An undo is an intent like a create —
/// recorded before its request leaves, with its own `requestid` — so it has its own table; the
/// audit says which pass created a document (`pass_id`, what `qbsync void --pass` takes) and
/// who undid it and why.
fn v7() -> String {
    let audit = on_audit_tables(|name| {
        format!(
            "
ALTER TABLE {name} ADD COLUMN pass_id TEXT;
ALTER TABLE {name} ADD COLUMN actor TEXT;
ALTER TABLE {name} ADD COLUMN reason TEXT;
CREATE INDEX {name}_by_pass ON {name} (pass_id) WHERE pass_id IS NOT NULL;
"
        )
    });
    format!(
        "{audit}
CREATE TABLE undos (
    doc_key      TEXT PRIMARY KEY REFERENCES documents (doc_key),
    operation    TEXT NOT NULL CHECK (operation IN ('void', 'delete')),
    request_id   TEXT NOT NULL UNIQUE,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'done', 'refused')),
    reason       TEXT NOT NULL,
    actor        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    requested_at TEXT NOT NULL,
    settled_at   TEXT
);
"
    )
}

/// Version 8: review before posting (`QBSYNC_REQUIRE_APPROVAL`). A row in review remembers the
/// preview it was shown with, so that the projection can write it from the store alone and an
/// approval counts only for what the person saw.
fn v8() -> String {
    "
ALTER TABLE rows ADD COLUMN preview TEXT;
"
    .to_owned()
}

/// Version 9: payments qbsync sends (`QB_AUTO_MARK_INVOICE_PAID`, `QB_AUTO_MARK_BILL_PAID`,
/// see `store::payouts`). A payment is a write like a create — recorded with its exact body and
/// `requestid` before it leaves — and a document is paid by qbsync at most once, so the
/// document's key is the table's key.
fn v9() -> String {
    "
CREATE TABLE payouts (
    doc_key      TEXT PRIMARY KEY REFERENCES documents (doc_key),
    kind         TEXT NOT NULL CHECK (kind IN ('Payment', 'BillPayment')),
    request_id   TEXT NOT NULL UNIQUE,
    payload      TEXT NOT NULL,
    amount       TEXT NOT NULL,
    paid_on      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'refused', 'unneeded')),
    qbo_id       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    requested_at TEXT NOT NULL,
    settled_at   TEXT
);
CREATE INDEX payouts_pending ON payouts (requested_at) WHERE state = 'pending';
"
    .to_owned()
}

/// Version 10: a payment QuickBooks refused because of the payment account setting is `held`,
/// not refused for good: it is sent again once qbsync restarts (with the setting corrected).
/// The account a payout pays through is kept beside its body, to say which setting was at
/// fault. SQLite cannot change a CHECK constraint in place, so the table is rebuilt.
fn v10() -> String {
    "
CREATE TABLE payouts_v10 (
    doc_key      TEXT PRIMARY KEY REFERENCES documents (doc_key),
    kind         TEXT NOT NULL CHECK (kind IN ('Payment', 'BillPayment')),
    request_id   TEXT NOT NULL UNIQUE,
    payload      TEXT NOT NULL,
    amount       TEXT NOT NULL,
    paid_on      TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'refused', 'held', 'unneeded')),
    qbo_id       TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    error        TEXT,
    requested_at TEXT NOT NULL,
    settled_at   TEXT,
    account_id   TEXT
);
INSERT INTO payouts_v10 (doc_key, kind, request_id, payload, amount, paid_on, state, qbo_id, attempts, error,
                         requested_at, settled_at)
    SELECT doc_key, kind, request_id, payload, amount, paid_on, state, qbo_id, attempts, error, requested_at, settled_at
    FROM payouts;
DROP TABLE payouts;
ALTER TABLE payouts_v10 RENAME TO payouts;
CREATE INDEX payouts_pending ON payouts (requested_at) WHERE state = 'pending';
"
    .to_owned()
}

/// Every upgrade in order; index + 1 is the version it brings the file to.
fn upgrades() -> Vec<String> {
    vec![v1(), v2(), v3(), v4(), v5(), v6(), v7(), v8(), v9(), v10()]
}

/// The version recorded in the file (0 for a new file).
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Runs every upgrade after `from`, each in its own transaction.
pub fn upgrade(conn: &mut Connection, from: i64) -> rusqlite::Result<()> {
    for (index, sql) in upgrades().iter().enumerate() {
        let target = index as i64 + 1;
        if target <= from {
            continue;
        }
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(())
}
