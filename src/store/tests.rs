use super::*;

fn intent<'a>(doc_key: &'a str, request_id: &'a str, rows: &'a [String]) -> NewIntent<'a> {
    NewIntent {
        doc_key,
        kind: Kind::Invoice,
        doc_number: Some("ACD-1"),
        request_id,
        payload_hash: "h",
        payload: "{}",
        party_id: "58",
        total: "10.00",
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
    store.mark_created("k1", "130", "https://x/app/invoice?txnId=130").unwrap();
    assert!(store.pending_documents().unwrap().is_empty());
    let by_id = store.document_by_qbo_id(Kind::Invoice, "130").unwrap().unwrap();
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
            .audit_append(Kind::Invoice, &NewAudit { event: "intent", status: "pending", ..Default::default() })
            .unwrap();
        drop(tx);
    }
    let store = Store::open(&path).unwrap();
    assert!(store.document("a").unwrap().is_none());
    assert!(store.audit(&AuditQuery::default()).unwrap().is_empty());
    // Committed, it lands whole.
    let tx = store.begin().unwrap();
    store.record_intent(&intent("a", "a-0", &rows)).unwrap();
    store.audit_append(Kind::Invoice, &NewAudit { event: "intent", status: "pending", ..Default::default() }).unwrap();
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
    store.mark_created("b", "1", "u").unwrap();
    store.retire_failed("b").unwrap();
    assert!(store.document("b").unwrap().is_some());
}

#[test]
fn audit_filters_by_row_doc_id_and_failure() {
    let store = Store::in_memory().unwrap();
    let ok = NewAudit {
        event: "created",
        row_key: Some("r1"),
        sheet_row: Some(2),
        doc_number: Some("ACD-1"),
        qbo_id: Some("130"),
        status: "synced",
        ..Default::default()
    };
    store.audit_append(Kind::Invoice, &ok).unwrap();
    let bad = NewAudit {
        event: "rejected",
        row_key: Some("r2"),
        sheet_row: Some(3),
        doc_number: Some("ACD-2"),
        status: "failed",
        error: Some("no such customer"),
        ..Default::default()
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
    for (key, status) in [("a", "synced"), ("b", "synced"), ("c", "failed"), ("d", "pending")] {
        store.put_row(&RowRecord::sample(key, status)).unwrap();
    }
    assert_eq!(store.counts(Kind::Invoice).unwrap(), StatusCounts { synced: 2, failed: 1, skipped: 0, pending: 1 });
    assert_eq!(store.counts(Kind::Bill).unwrap(), StatusCounts::default());
}

#[test]
fn planning_reads_documents_without_their_payload_and_failed_rows_by_status() {
    let store = Store::in_memory().unwrap();
    let rows = vec!["k1".to_string()];
    store.record_intent(&intent("k1", "k1-0", &rows)).unwrap();
    store.count_attempt("k1").unwrap();
    store.mark_created("k1", "130", "https://x/app/invoice?txnId=130").unwrap();
    let full = store.all_documents().unwrap();
    let mut lean = Vec::new();
    store.for_each_document_for_planning(|doc| lean.push(doc)).unwrap();
    assert_eq!(lean.len(), 1);
    assert_eq!(
        lean[0],
        DocRecord { payload: String::new(), payload_hash: String::new(), request_id: String::new(), ..full[0].clone() }
    );

    let row = |key: &str, status: &str| RowRecord { sheet_row: Some(2), ..RowRecord::sample(key, status) };
    store.put_row(&row("a", "failed")).unwrap();
    store.put_row(&row("b", "synced")).unwrap();
    let failed = store.rows_with_status("failed").unwrap();
    assert_eq!(failed, vec![row("a", "failed")]);
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
