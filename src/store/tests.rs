use super::*;

fn intent<'a>(doc_key: &'a str, request_id: &'a str, rows: &'a [String]) -> NewIntent<'a> {
    NewIntent {
        doc_key,
        kind: Kind::Invoice,
        doc_kind: crate::qbo::DocKind::Invoice,
        doc_number: Some("ACD-1"),
        request_id,
        payload_hash: "h",
        payload: "{}",
        party_id: "58",
        total: rust_decimal::Decimal::new(1000, 2),
        row_keys: rows,
    }
}

#[test]
fn migrate_twice_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    store.migrate().unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    drop(Store::open(&path).unwrap());
    let conn = Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    assert!(matches!(Store::open(&path), Err(StoreError::TooNew { .. })));
}

#[test]
fn intent_is_recorded_once_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let rows = vec!["k1".to_string()];
    {
        let store = Store::open(&path).unwrap();
        let first = store.record_intent(&intent("k1", "k1-0", &rows)).unwrap();
        assert_eq!(first.state, DocState::Pending);
        let again = store.record_intent(&intent("k1", "other", &rows)).unwrap();
        assert_eq!(again.request_id, "k1-0", "a second intent must not replace the first");
        store.count_attempt("k1").unwrap();
    }
    let store = Store::open(&path).unwrap();
    let pending = store.pending_documents().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(pending[0].row_keys, rows);
    store.mark_created("k1", "130", "https://x/app/invoice?txnId=130", rust_decimal::Decimal::ONE_HUNDRED).unwrap();
    assert!(store.pending_documents().unwrap().is_empty());
    let by_id = store.document_by_qbo_id(crate::qbo::DocKind::Invoice, "130").unwrap().unwrap();
    assert_eq!(by_id.doc_key, "k1");
    // Created is final: a late failure report does not undo it.
    store.mark_failed("k1", "late").unwrap();
    assert_eq!(store.document("k1").unwrap().unwrap().state, DocState::Created);
}

#[test]
fn a_transaction_keeps_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let rows = vec!["a".to_string()];
    {
        // Interrupted before the commit (as by a crash): nothing of it is there on reopening.
        let store = Store::open(&path).unwrap();
        let tx = store.begin().unwrap();
        store.record_intent(&intent("a", "a-0", &rows)).unwrap();
        store
            .audit_append(
                Kind::Invoice,
                &NewAudit {
                    event: AuditEvent::Intent,
                    status: RowStatus::Pending,
                    ..NewAudit::new(AuditEvent::Intent, RowStatus::Pending)
                },
            )
            .unwrap();
        drop(tx);
    }
    let store = Store::open(&path).unwrap();
    assert!(store.document("a").unwrap().is_none());
    assert!(store.audit(&AuditQuery::default()).unwrap().is_empty());
    // Committed, it lands whole.
    let tx = store.begin().unwrap();
    store.record_intent(&intent("a", "a-0", &rows)).unwrap();
    store
        .audit_append(
            Kind::Invoice,
            &NewAudit {
                event: AuditEvent::Intent,
                status: RowStatus::Pending,
                ..NewAudit::new(AuditEvent::Intent, RowStatus::Pending)
            },
        )
        .unwrap();
    tx.commit().unwrap();
    drop(store);
    let store = Store::open(&path).unwrap();
    assert!(store.document("a").unwrap().is_some());
    assert_eq!(store.audit(&AuditQuery::default()).unwrap().len(), 1);
}

#[test]
fn failed_documents_can_be_retired_but_created_ones_cannot() {
    let store = Store::in_memory().unwrap();
    let rows = vec!["a".to_string()];
    store.record_intent(&intent("a", "a-0", &rows)).unwrap();
    store.mark_failed("a", "bad customer").unwrap();
    store.retire_failed("a").unwrap();
    assert!(store.document("a").unwrap().is_none());
    store.record_intent(&intent("b", "b-0", &rows)).unwrap();
    store.mark_created("b", "1", "u", rust_decimal::Decimal::ONE_HUNDRED).unwrap();
    store.retire_failed("b").unwrap();
    assert!(store.document("b").unwrap().is_some());
}

#[test]
fn audit_filters_by_row_doc_id_and_failure() {
    let store = Store::in_memory().unwrap();
    let ok = NewAudit {
        event: AuditEvent::Created,
        row_key: Some("r1"),
        sheet_row: Some(2),
        doc_number: Some("ACD-1"),
        qbo_id: Some("130"),
        status: RowStatus::Synced,
        ..NewAudit::new(AuditEvent::Intent, RowStatus::Pending)
    };
    store.audit_append(Kind::Invoice, &ok).unwrap();
    let bad = NewAudit {
        event: AuditEvent::Rejected,
        row_key: Some("r2"),
        sheet_row: Some(3),
        doc_number: Some("ACD-2"),
        status: RowStatus::Failed,
        error: Some("no such customer"),
        ..NewAudit::new(AuditEvent::Intent, RowStatus::Pending)
    };
    store.audit_append(Kind::Bill, &bad).unwrap();
    assert_eq!(store.audit(&AuditQuery::default()).unwrap().len(), 2);
    let failed = store.audit(&AuditQuery { failed_only: true, ..Default::default() }).unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, Kind::Bill);
    assert_eq!(
        store.audit(&AuditQuery { sheet_row: Some(2), ..Default::default() }).unwrap()[0].qbo_id.as_deref(),
        Some("130")
    );
    assert_eq!(store.audit(&AuditQuery { doc_number: Some("ACD-2".into()), ..Default::default() }).unwrap().len(), 1);
    assert_eq!(store.audit(&AuditQuery { qbo_id: Some("130".into()), ..Default::default() }).unwrap().len(), 1);
}

#[test]
fn counts_follow_row_status() {
    let store = Store::in_memory().unwrap();
    for (key, status) in
        [("a", RowStatus::Synced), ("b", RowStatus::Synced), ("c", RowStatus::Failed), ("d", RowStatus::Pending)]
    {
        store.put_row(&RowRecord::sample(key, status)).unwrap();
    }
    assert_eq!(
        store.counts(Kind::Invoice).unwrap(),
        StatusCounts { synced: 2, failed: 1, skipped: 0, pending: 1, voided: 0, review: 0 }
    );
    assert_eq!(store.counts(Kind::Bill).unwrap(), StatusCounts::default());
}

#[test]
fn planning_reads_documents_without_their_payload_and_failed_rows_by_status() {
    let store = Store::in_memory().unwrap();
    let rows = vec!["k1".to_string()];
    store.record_intent(&intent("k1", "k1-0", &rows)).unwrap();
    store.count_attempt("k1").unwrap();
    store.mark_created("k1", "130", "https://x/app/invoice?txnId=130", rust_decimal::Decimal::ONE_HUNDRED).unwrap();
    let full = store.all_documents().unwrap();
    let mut lean = Vec::new();
    store.for_each_document_for_planning(|doc| lean.push(doc)).unwrap();
    assert_eq!(lean.len(), 1);
    assert_eq!(
        lean[0],
        DocRecord { payload: String::new(), payload_hash: String::new(), request_id: String::new(), ..full[0].clone() }
    );

    let row = |key: &str, status: RowStatus| RowRecord { sheet_row: Some(2), ..RowRecord::sample(key, status) };
    store.put_row(&row("a", RowStatus::Failed)).unwrap();
    store.put_row(&row("b", RowStatus::Synced)).unwrap();
    let failed = store.rows_with_status(RowStatus::Failed).unwrap();
    assert_eq!(failed, vec![row("a", RowStatus::Failed)]);
}

#[test]
fn a_document_whose_row_keys_cannot_be_read_is_an_error_not_a_document_without_rows() {
    let store = Store::in_memory().unwrap();
    let rows = vec!["k1".to_string()];
    store.record_intent(&intent("k1", "k1-0", &rows)).unwrap();
    store.conn.execute("UPDATE documents SET row_keys = '[\"k1\"' WHERE doc_key = 'k1'", []).unwrap();
    assert!(matches!(store.for_each_document_for_planning(drop), Err(StoreError::Sql(_))));
    assert!(matches!(store.document("k1"), Err(StoreError::Sql(_))));
}

fn seals(store: &Store) -> Vec<(String, i64)> {
    let mut found = Vec::new();
    store.for_each_seal(|key, seal| found.push((key.to_owned(), seal))).unwrap();
    found.sort();
    found
}

#[test]
fn a_seal_holds_only_for_a_synced_record_nobody_wrote_since() {
    let store = Store::in_memory().unwrap();
    let row = |key: &str, status: RowStatus| RowRecord { sheet_row: Some(2), ..RowRecord::sample(key, status) };
    for key in ["put", "moved", "gone", "forgotten", "kept"] {
        store.put_row(&row(key, RowStatus::Synced)).unwrap();
    }
    store.put_row(&row("failed", RowStatus::Failed)).unwrap();
    store.take_changes();
    let all: Vec<(&str, i64)> =
        ["put", "moved", "gone", "forgotten", "kept", "failed"].iter().map(|k| (*k, 7)).collect();
    store.seal_rows(&all).unwrap();
    // A seal is not a change to the record: a caught-up picture has nothing to read again.
    assert_eq!(store.take_changes(), Changes::default());
    // Only synced rows take one.
    assert_eq!(seals(&store).len(), 5);

    // Every way a record is written breaks its seal.
    store.put_row(&row("put", RowStatus::Synced)).unwrap();
    store.set_sheet_row("moved", 9).unwrap();
    store.clear_sheet_row("gone").unwrap();
    store.forget_row("forgotten").unwrap();
    assert_eq!(seals(&store), vec![("kept".to_owned(), 7)]);
}

#[test]
fn the_planner_finds_documents_by_id_and_number_and_placed_rows_by_key() {
    let store = Store::in_memory().unwrap();
    let rows = vec!["k1".to_string()];
    store.record_intent(&intent("k1", "k1-0", &rows)).unwrap();
    store.mark_created("k1", "130", "https://x/app/invoice?txnId=130", rust_decimal::Decimal::ONE_HUNDRED).unwrap();
    store.record_intent(&NewIntent { doc_number: Some("ACD-2"), ..intent("k2", "k2-0", &rows) }).unwrap();
    let by_id = store.documents_for_planning_by_qbo_id("130").unwrap();
    assert_eq!(by_id.iter().map(|d| d.doc_key.as_str()).collect::<Vec<_>>(), ["k1"]);
    assert!(by_id[0].payload.is_empty(), "planning records leave the payload out");
    assert!(store.documents_for_planning_by_qbo_id("131").unwrap().is_empty());
    let by_number = store.documents_for_planning_by_number("ACD-2").unwrap();
    assert_eq!(by_number.iter().map(|d| d.doc_key.as_str()).collect::<Vec<_>>(), ["k2"]);

    let row =
        |key: &str, status: RowStatus, at: Option<i64>| RowRecord { sheet_row: at, ..RowRecord::sample(key, status) };
    store.put_row(&row("placed", RowStatus::Synced, Some(2))).unwrap();
    store.put_row(&row("claim", RowStatus::Claimed, Some(3))).unwrap();
    store.put_row(&row("nowhere", RowStatus::Synced, None)).unwrap();
    let mut placed = Vec::new();
    store.for_each_placed_row_key(|key| placed.push(key.to_owned())).unwrap();
    assert_eq!(placed, ["placed"]);
}

#[test]
fn a_version_1_file_is_upgraded_with_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(&schema::v1()).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO rows (row_key, kind, status, content_fp, config_fp, sheet_row, updated_at)
             VALUES ('old', 'invoice', 'synced', 'fp', 'cfg', 2, 'then')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.row("old").unwrap().unwrap().sheet_row, Some(2));
    assert!(seals(&store).is_empty(), "rows from before seals existed are planned in full until sealed");
    store.seal_rows(&[("old", 3)]).unwrap();
    assert_eq!(seals(&store), vec![("old".to_owned(), 3)]);
}

#[test]
fn what_every_pass_asks_is_answered_from_indexes_not_by_reading_every_record() {
    let store = Store::in_memory().unwrap();
    for sql in hot_queries() {
        let mut stmt = store.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        for at in 1..=stmt.parameter_count() {
            stmt.raw_bind_parameter(at, RowStatus::Failed).unwrap();
        }
        let mut plan: Vec<String> = Vec::new();
        let mut rows = stmt.raw_query();
        while let Some(row) = rows.next().unwrap() {
            plan.push(row.get(3).unwrap());
        }
        assert!(!plan.is_empty(), "{sql}");
        for (at, step) in plan.iter().enumerate() {
            // A step that reads a table itself, rather than a narrow index of it, reads every
            // record of a long history; and a join's inner step runs once per record of the
            // outer one, so it must not read the (wide) records either.
            let narrow = step.contains("USING COVERING INDEX");
            let found = step.starts_with("SEARCH") && step.contains("INDEX");
            let partial = step.contains("USING INDEX documents_pending");
            let ok = if at == 0 { narrow || found || partial } else { narrow };
            assert!(ok, "{sql}\n  is planned as {plan:?}");
        }
    }
}

#[test]
fn a_documents_money_is_remembered_unseals_its_rows_and_is_unshown_until_the_write_back() {
    use crate::payments::{DocFacts, Lifecycle, Money, PaidStatus, PaidView};
    let store = Store::in_memory().unwrap();
    let keys = ["r1".to_owned()];
    store
        .record_intent(&NewIntent {
            doc_key: "d1",
            kind: Kind::Invoice,
            doc_kind: crate::qbo::DocKind::Invoice,
            doc_number: Some("A-1"),
            request_id: "d1-00000000",
            payload_hash: "h",
            payload: "{}",
            party_id: "1",
            total: Decimal::new(10_000, 2),
            row_keys: &keys,
        })
        .unwrap();
    store.mark_created("d1", "130", "https://q/130", Decimal::new(10_000, 2)).unwrap();
    store.put_row(&RowRecord { doc_key: Some("d1".into()), ..RowRecord::sample("r1", RowStatus::Synced) }).unwrap();
    store.seal_rows(&[("r1", 42)]).unwrap();
    let followed = store.followed_documents().unwrap();
    assert_eq!((followed.len(), followed[0].qbo_id.as_str(), followed[0].known.is_none()), (1, "130", true));

    let money = Money {
        facts: DocFacts {
            total: Decimal::new(10_000, 2),
            balance: Decimal::new(4_050, 2),
            due_date: chrono::NaiveDate::from_ymd_opt(2026, 3, 10),
            lifecycle: Lifecycle::Live,
            last_payment_date: None,
        },
        view: PaidView { status: PaidStatus::Partial, balance: Some(Decimal::new(4_050, 2)), paid_at: None },
    };
    store.take_changes();
    store.put_money("d1", &money).unwrap();
    assert_eq!(store.money("d1").unwrap(), Some(money.clone()), "exact decimals and dates come back");
    let mut seals = Vec::new();
    store.for_each_seal(|key, _| seals.push(key.to_owned())).unwrap();
    assert!(seals.is_empty(), "the row's seal is gone");
    let changes = store.take_changes();
    assert!(changes.rows.contains("r1") && changes.docs.contains("d1"));
    assert_eq!(store.unshown_money().unwrap(), ["d1"]);
    store.money_shown(&["d1".to_owned()]).unwrap();
    assert!(!store.has_unshown_money().unwrap());

    let gone = Money {
        facts: DocFacts { lifecycle: Lifecycle::Deleted, ..money.facts },
        view: PaidView { status: PaidStatus::Deleted, balance: None, paid_at: None },
    };
    store.put_money("d1", &gone).unwrap();
    assert!(store.followed_documents().unwrap().is_empty(), "a deleted document is not followed any more");
}

#[test]
fn metered_calls_add_up_per_day_and_over_thirty_days() {
    let store = Store::in_memory().unwrap();
    let day = |d| chrono::NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
    store.add_metered_calls(day(1), 5).unwrap();
    store.add_metered_calls(day(31), 3).unwrap();
    store.add_metered_calls(day(31), 4).unwrap();
    assert_eq!(store.metered_calls(day(31)).unwrap(), (7, 7), "the 1st is 31 days before the 31st");
    assert_eq!(store.metered_calls(day(30)).unwrap(), (0, 5));
}
