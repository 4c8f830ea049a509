//! The planner's decisions, one scenario at a time. Pure: no sandbox, no store file.

use super::*;
use crate::directions::{Directions, NameAliases};
use crate::domain::date::DateOrder;
use crate::domain::layout::ColumnNames;
use crate::domain::money::AmountFormat;
use crate::domain::status::EligibleStatuses;
use crate::store::{DocRecord, DocState};
use crate::sync::policy::{Mode, Policy};
use crate::sync::project::project;

const HEADER: [&str; 19] = [
    "invoice",
    "status",
    "inv_from",
    "to_client",
    "end_client",
    "task_descr",
    "job_name",
    "inv_dollars",
    "submitted_date",
    "Inv_paid_date",
    "owed2ACD",
    "owed2workers",
    "notes",
    "thread",
    "qb_invoice_id",
    "qb_invoice_url",
    "qb_sync_status",
    "qb_synced_at",
    "qb_error",
];

fn policy() -> Policy {
    let directions = Directions::from_json(
        r#"{"money_in": ["ACD"], "money_out": ["Jane Smith Consulting"], "aliases": {"acd llc": "ACD"}}"#,
        "test",
    )
    .unwrap();
    Policy {
        mode: Mode::InvoiceOnly,
        eligible: EligibleStatuses::default(),
        group_by_invoice: false,
        doc_number_prefix: String::new(),
        amount_format: AmountFormat::default(),
        date_order: DateOrder::MonthFirst,
        columns: ColumnNames::default(),
        default_item_id: "1".into(),
        expense_account_id: "7".into(),
        ap_account_id: Some("33".into()),
        create_missing_names: false,
        directions,
        customer_aliases: NameAliases::default(),
        vendor_aliases: NameAliases::default(),
        config_fp: "cfg".into(),
        today: chrono::NaiveDate::from_ymd_opt(2025, 11, 21).unwrap(),
        include_failed: false,
        backfill: false,
        limit: None,
    }
}

fn header() -> Vec<Cell> {
    HEADER.iter().map(|h| Cell::text(*h)).collect()
}

/// A data row: invoice, status, inv_from, to_client, amount.
fn row(invoice: &str, status: &str, from: &str, client: &str, amount: &str) -> Vec<Cell> {
    let mut cells = vec![Cell::Empty; HEADER.len()];
    cells[0] = Cell::text(invoice);
    cells[1] = Cell::text(status);
    cells[2] = Cell::text(from);
    cells[3] = Cell::text(client);
    cells[7] = Cell::Number(amount.into());
    cells[8] = Cell::Number("45966".into());
    cells
}

fn layout(rows: &[Vec<Cell>]) -> Layout {
    Layout::from_header(&rows[0], &ColumnNames::default()).unwrap()
}

fn keys() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("k{n}")
    }
}

fn anchor(id: i32, key: &str, row: u32) -> Anchor {
    Anchor { metadata_id: id, key: key.into(), row }
}

fn record(key: &str, status: &str, fp: &str) -> RowRecord {
    RowRecord {
        row_key: key.into(),
        kind: Kind::Invoice,
        doc_key: None,
        doc_number: None,
        status: status.into(),
        error: None,
        content_fp: fp.into(),
        config_fp: "cfg".into(),
        sheet_row: None,
        synced_at: None,
    }
}

fn doc(key: &str, number: &str, state: DocState, qbo_id: Option<&str>) -> DocRecord {
    DocRecord {
        doc_key: key.into(),
        kind: Kind::Invoice,
        doc_number: Some(number.into()),
        request_id: format!("{key}-x"),
        payload_hash: "h".into(),
        payload: "{}".into(),
        party_id: "58".into(),
        total: "100.00".into(),
        state,
        qbo_id: qbo_id.map(str::to_owned),
        qbo_url: qbo_id.map(|id| format!("https://app.sandbox.qbo.intuit.com/app/invoice?txnId={id}")),
        error: None,
        attempts: 1,
        row_keys: vec![key.into()],
    }
}

/// The store view after the claims of `plan` were made, with anchors where they were claimed.
fn claimed(plan: &Plan) -> (StoreView, Vec<Anchor>) {
    let view = StoreView::new(plan.claims.iter().map(|c| c.record.clone()).collect(), Vec::new());
    let anchors = plan.claims.iter().enumerate().map(|(i, c)| anchor(i as i32 + 1, &c.key, c.row)).collect();
    (view, anchors)
}

#[test]
fn a_ready_row_is_anchored_before_anything_else() {
    let rows = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let plan = plan(&rows, &layout(&rows), &[], &StoreView::default(), &policy(), &mut keys());
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.claims[0].row, 1);
    assert_eq!(plan.claims[0].record.status, CLAIMED);
    assert!(plan.creates.is_empty(), "nothing is created before the anchor is verified");
}

#[test]
fn a_verified_claim_becomes_a_draft_with_the_rows_values() {
    let rows = vec![header(), row("ACD-1", "Submitted", "acd llc", "Globex Corporation", "1234.5")];
    let first = plan(&rows, &layout(&rows), &[], &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &view, &policy(), &mut keys());
    assert!(second.claims.is_empty());
    assert_eq!(second.creates.len(), 1);
    let draft = &second.creates[0];
    assert_eq!(draft.doc_number, "ACD-1");
    assert_eq!(draft.party, "Globex Corporation");
    assert_eq!(draft.total().to_string(), "1234.50");
    assert_eq!(draft.txn_date, chrono::NaiveDate::from_ymd_opt(2025, 11, 5).unwrap());
    assert_eq!(draft.rows[0].key, first.claims[0].key);
}

#[test]
fn a_claim_that_landed_on_another_row_is_dropped_and_forgotten() {
    let rows = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let first = plan(&rows, &layout(&rows), &[], &StoreView::default(), &policy(), &mut keys());
    let (view, _) = claimed(&first);
    // Someone inserted a row above between the read and the claim: the anchor sits on row 2,
    // which holds different content.
    let moved = vec![
        header(),
        row("ACD-1", "submitted", "ACD", "Globex Corporation", "100"),
        row("X-9", "draft", "ACD", "Initech LLC", "5"),
    ];
    let anchors = vec![anchor(7, &first.claims[0].key, 2)];
    let second = plan(&moved, &layout(&moved), &anchors, &view, &policy(), &mut keys());
    assert_eq!(second.drop_anchors, vec![7]);
    assert_eq!(second.forget_rows, vec![first.claims[0].key.clone()]);
    assert!(second.creates.is_empty());
}

#[test]
fn rows_sharing_a_number_fail_naming_each_other_unless_grouped() {
    let rows = vec![
        header(),
        row("ACD-7", "submitted", "ACD", "Globex Corporation", "100"),
        row("ACD-8", "submitted", "ACD", "Globex Corporation", "5"),
        row("ACD-7", "pending", "ACD", "Globex Corporation", "50"),
    ];
    let first = plan(&rows, &layout(&rows), &[], &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &view, &policy(), &mut keys());
    assert_eq!(second.creates.len(), 1, "only ACD-8 goes ahead");
    let failed: Vec<&RowRecord> = second.decisions.iter().filter(|d| d.status == "failed").collect();
    assert_eq!(failed.len(), 2);
    for decision in failed {
        let error = decision.error.as_deref().unwrap();
        assert!(error.contains("rows 2, 4 share invoice number ACD-7"), "{error}");
        assert!(error.contains("QBSYNC_GROUP_BY_INVOICE"), "{error}");
    }

    let grouped = Policy { group_by_invoice: true, ..policy() };
    let third = plan(&rows, &layout(&rows), &anchors, &view, &grouped, &mut keys());
    let acd7 = third.creates.iter().find(|d| d.doc_number == "ACD-7").unwrap();
    assert_eq!(acd7.lines.len(), 2);
    assert_eq!(acd7.lines[0].amount.to_string(), "100.00", "lines keep sheet order");
    assert_eq!(acd7.total().to_string(), "150.00");
    assert_eq!(acd7.rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 3]);
}

#[test]
fn money_out_is_skipped_in_invoice_only_mode_and_saying_how_to_switch() {
    let rows = vec![header(), row("B-1", "submitted", "Jane Smith Consulting", "", "420")];
    let first = plan(&rows, &layout(&rows), &[], &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &view, &policy(), &mut keys());
    assert!(second.creates.is_empty());
    let decision = &second.decisions[0];
    assert_eq!(decision.status, "skipped");
    assert_eq!(decision.kind, Kind::Bill);
    assert!(decision.error.as_deref().unwrap().contains("QB_SYNC_MODE=dual"));

    let dual = Policy { mode: Mode::Dual, ..policy() };
    let third = plan(&rows, &layout(&rows), &anchors, &view, &dual, &mut keys());
    assert_eq!(third.creates.len(), 1);
    assert_eq!(third.creates[0].kind, Kind::Bill);
    assert_eq!(third.creates[0].party, "Jane Smith Consulting");
}

#[test]
fn data_problems_fail_the_row_naming_the_cell_and_the_fix() {
    let cases = [
        (row("ACD-1", "submitted", "Nobody Ltd", "Globex Corporation", "100"), "qb_directions.json"),
        (row("", "submitted", "ACD", "Globex Corporation", "100"), "invoice (cell A2) is blank"),
        (row("ACD-1", "submitted", "ACD", "Globex Corporation", "-50"), "credit memo"),
        (row("ACD-1", "submitted", "ACD", "Globex Corporation", "0"), "is zero"),
        (row("ACD-1", "submitted", "ACD", "", "100"), "enter the customer"),
        (row("ACD-0123456789-0123456789", "submitted", "ACD", "Globex Corporation", "100"), "invoice (cell A2)"),
    ];
    for (data, expected) in cases {
        let rows = vec![header(), data];
        let first = plan(&rows, &layout(&rows), &[], &StoreView::default(), &policy(), &mut keys());
        let (view, anchors) = claimed(&first);
        let second = plan(&rows, &layout(&rows), &anchors, &view, &policy(), &mut keys());
        assert!(second.creates.is_empty(), "{expected}");
        let error = second.decisions[0].error.clone().unwrap();
        assert_eq!(second.decisions[0].status, "failed");
        assert!(error.contains(expected), "expected {expected:?} in {error:?}");
    }
}

#[test]
fn a_failed_row_is_retried_only_when_it_or_the_configuration_changed() {
    let rows = vec![header(), row("ACD-1", "submitted", "Nobody Ltd", "Globex Corporation", "100")];
    let layout = layout(&rows);
    let fp = crate::domain::fingerprint::content_fingerprint(&rows[1], &layout);
    let view = StoreView::new(vec![RowRecord { error: Some("x".into()), ..record("k1", "failed", &fp) }], Vec::new());
    let anchors = vec![anchor(1, "k1", 1)];
    let quiet = plan(&rows, &layout, &anchors, &view, &policy(), &mut keys());
    assert!(quiet.decisions.is_empty() && quiet.creates.is_empty());
    assert_eq!(quiet.stats.ready, 0);

    let forced = plan(&rows, &layout, &anchors, &view, &Policy { include_failed: true, ..policy() }, &mut keys());
    assert_eq!(forced.stats.ready, 1);

    let reconfigured =
        plan(&rows, &layout, &anchors, &view, &Policy { config_fp: "other".into(), ..policy() }, &mut keys());
    assert_eq!(reconfigured.stats.ready, 1);

    let edited = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let after_edit = plan(&edited, &layout, &anchors, &view, &policy(), &mut keys());
    assert_eq!(after_edit.creates.len(), 1, "the corrected row goes ahead");
}

#[test]
fn a_pending_intent_is_reconciled_not_recreated() {
    let rows = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let view = StoreView::new(
        vec![RowRecord {
            doc_key: Some("k1".into()),
            doc_number: Some("ACD-1".into()),
            ..record("k1", "pending", "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Pending, None)],
    );
    let plan = plan(&rows, &layout(&rows), &[anchor(1, "k1", 1)], &view, &policy(), &mut keys());
    assert_eq!(plan.reconcile, vec!["k1".to_string()]);
    assert!(plan.creates.is_empty() && plan.claims.is_empty());
}

#[test]
fn a_pending_intent_whose_row_was_deleted_is_still_reconciled() {
    let rows = vec![header()];
    let view = StoreView::new(Vec::new(), vec![doc("gone", "ACD-3", DocState::Pending, None)]);
    let plan = plan(&rows, &layout(&rows), &[], &view, &policy(), &mut keys());
    assert_eq!(plan.reconcile, vec!["gone".to_string()]);
}

#[test]
fn a_pasted_copy_of_a_synced_row_is_flagged_not_synced_and_not_recreated() {
    let mut original = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    original[14] = Cell::text("130");
    let copy = original.clone();
    let rows = vec![header(), original, copy];
    let view = StoreView::new(
        vec![RowRecord {
            doc_key: Some("k1".into()),
            doc_number: Some("ACD-1".into()),
            ..record("k1", "synced", "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let layout = layout(&rows);
    assert!(needs_attention(&rows, &layout, &view, &policy()), "an id on two rows needs attention");
    let plan = plan(&rows, &layout, &[anchor(1, "k1", 1)], &view, &policy(), &mut keys());
    assert!(plan.creates.is_empty());
    assert_eq!(plan.claims.len(), 1, "the copy is anchored so it can be flagged");
    assert_eq!(plan.claims[0].row, 2);
    assert_eq!(plan.claims[0].record.status, COPY);
    let reason = plan.claims[0].record.error.clone().unwrap();
    assert!(reason.contains("copy of sheet row 2"), "{reason}");
}

#[test]
fn a_reused_number_of_an_existing_document_fails_instead_of_adopting_it() {
    // The id cells were cleared on a copy: it looks ready, but its number belongs to k1's invoice.
    let mut original = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    original[14] = Cell::text("130");
    let copy = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    let rows = vec![header(), original, copy];
    let layout = layout(&rows);
    let fp = crate::domain::fingerprint::content_fingerprint(&rows[2], &layout);
    let view = StoreView::new(
        vec![
            RowRecord { doc_key: Some("k1".into()), doc_number: Some("ACD-1".into()), ..record("k1", "synced", "fp") },
            record("k2", CLAIMED, &fp),
        ],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let plan = plan(&rows, &layout, &[anchor(1, "k1", 1), anchor(2, "k2", 2)], &view, &policy(), &mut keys());
    assert!(plan.creates.is_empty());
    let error = plan.decisions[0].error.clone().unwrap();
    assert!(error.contains("already used by QuickBooks invoice 130"), "{error}");
}

#[test]
fn idle_sheets_need_no_second_read() {
    let mut synced = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    synced[14] = Cell::text("130");
    let rows = vec![header(), synced, row("ACD-2", "draft", "ACD", "Globex Corporation", "5"), vec![]];
    assert!(!needs_attention(&rows, &layout(&rows), &StoreView::default(), &policy()));
    let ready = vec![header(), row("ACD-2", "pending", "ACD", "Globex Corporation", "5")];
    assert!(needs_attention(&ready, &layout(&ready), &StoreView::default(), &policy()));
}

#[test]
fn duplicate_anchors_are_reduced_to_one_per_key_and_one_per_row() {
    let rows = vec![
        header(),
        row("ACD-1", "submitted", "ACD", "Globex Corporation", "100"),
        row("ACD-2", "submitted", "ACD", "Globex Corporation", "5"),
    ];
    let view = StoreView::new(
        vec![
            RowRecord { doc_number: Some("ACD-1".into()), ..record("k1", "failed", "fp") },
            RowRecord { doc_number: Some("ACD-2".into()), ..record("k2", "failed", "fp") },
        ],
        Vec::new(),
    );
    // k1 twice (a retried create), and a header anchor.
    let anchors = vec![anchor(1, "k1", 1), anchor(2, "k1", 1), anchor(3, "k2", 2), anchor(4, "k9", 0)];
    let plan = plan(&rows, &layout(&rows), &anchors, &view, &policy(), &mut keys());
    assert_eq!(plan.drop_anchors, vec![2, 4]);
    assert_eq!(plan.located.get("k1"), Some(&1));
    assert_eq!(plan.located.get("k2"), Some(&2));
}

#[test]
fn limit_defers_the_rest() {
    let rows = vec![
        header(),
        row("ACD-1", "submitted", "ACD", "Globex Corporation", "1"),
        row("ACD-2", "submitted", "ACD", "Globex Corporation", "2"),
        row("ACD-3", "submitted", "ACD", "Globex Corporation", "3"),
    ];
    let first = plan(&rows, &layout(&rows), &[], &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let limited = plan(&rows, &layout(&rows), &anchors, &view, &Policy { limit: Some(2), ..policy() }, &mut keys());
    assert_eq!(limited.creates.iter().map(|d| d.doc_number.as_str()).collect::<Vec<_>>(), vec!["ACD-1", "ACD-2"]);
    assert_eq!(limited.stats.deferred_by_limit, 1);
}

#[test]
fn projection_writes_only_owned_cells_that_differ_in_contiguous_runs() {
    let mut synced = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    synced[16] = Cell::text("synced"); // already right; must not be rewritten
    let rows = vec![header(), synced];
    let view = StoreView::new(
        vec![RowRecord {
            doc_key: Some("k1".into()),
            doc_number: Some("ACD-1".into()),
            synced_at: Some("2025-11-21T10:00:00Z".into()),
            ..record("k1", "synced", "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let located = HashMap::from([("k1".to_string(), 1u32)]);
    let (writes, mismatches) = project(&rows, &layout(&rows), &located, &view, &policy());
    assert!(mismatches.is_empty());
    assert_eq!(writes.len(), 2, "{writes:?}");
    assert_eq!((writes[0].row, writes[0].col), (1, 14));
    assert_eq!(
        writes[0].values,
        vec![Cell::text("130"), Cell::text("https://app.sandbox.qbo.intuit.com/app/invoice?txnId=130")]
    );
    assert_eq!((writes[1].col, writes[1].values.clone()), (17, vec![Cell::text("2025-11-21T10:00:00Z")]));
    assert!(writes.iter().all(|w| w.col >= 14), "input columns are never written");
}

#[test]
fn projection_refuses_a_row_whose_invoice_number_changed() {
    let rows = vec![header(), row("ACD-99", "submitted", "ACD", "Globex Corporation", "100")];
    let view = StoreView::new(
        vec![RowRecord {
            doc_key: Some("k1".into()),
            doc_number: Some("ACD-1".into()),
            ..record("k1", "synced", "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let located = HashMap::from([("k1".to_string(), 1u32)]);
    let (writes, mismatches) = project(&rows, &layout(&rows), &located, &view, &policy());
    assert!(writes.is_empty());
    assert_eq!(mismatches.len(), 1);
}

#[test]
fn an_unchanged_failed_row_leaves_the_sheet_idle_and_an_edited_one_does_not() {
    let mut failed = row("ACD-1", "submitted", "Nobody Ltd", "Globex Corporation", "100");
    failed[16] = Cell::text("failed");
    let rows = vec![header(), failed];
    let layout = layout(&rows);
    let fp = crate::domain::fingerprint::content_fingerprint(&rows[1], &layout);
    let view = StoreView::new(vec![record("k1", "failed", &fp)], Vec::new());
    assert!(!needs_attention(&rows, &layout, &view, &policy()), "nothing changed since it failed");
    assert!(needs_attention(&rows, &layout, &StoreView::default(), &policy()), "a failure the store does not know");
    assert!(needs_attention(&rows, &layout, &view, &Policy { include_failed: true, ..policy() }));
    assert!(needs_attention(&rows, &layout, &view, &Policy { config_fp: "other".into(), ..policy() }));
    let mut edited = rows.clone();
    edited[1][2] = Cell::text("ACD");
    assert!(needs_attention(&edited, &layout, &view, &policy()), "the bookkeeper fixed it");
}

#[test]
fn planning_a_long_settled_history_indexes_documents_instead_of_searching_them() {
    // 3,000 synced rows, each with its document: a search per row would be 9 million
    // comparisons; the index makes it 3,000 look-ups. The outcome is what matters here.
    let mut rows = vec![header()];
    let mut records = Vec::new();
    let mut docs = Vec::new();
    let mut anchors = Vec::new();
    for i in 0..3_000u32 {
        let number = format!("ACD-{i}");
        let mut synced = row(&number, "submitted", "ACD", "Globex Corporation", "100");
        synced[14] = Cell::text((1000 + i).to_string());
        rows.push(synced);
        let key = format!("k{i}");
        records.push(RowRecord {
            doc_key: Some(key.clone()),
            doc_number: Some(number.clone()),
            ..record(&key, "synced", "fp")
        });
        docs.push(doc(&key, &number, DocState::Created, Some(&(1000 + i).to_string())));
        anchors.push(anchor(i as i32 + 1, &key, i + 1));
    }
    let mut copy = rows[10].clone();
    copy[16] = Cell::text("synced");
    rows.push(copy);
    let view = StoreView::new(records, docs);
    let plan = plan(&rows, &layout(&rows), &anchors, &view, &policy(), &mut keys());
    assert!(plan.creates.is_empty());
    assert_eq!(plan.stats.copies, 1, "the pasted copy of row 11 is found among 3,000");
    assert_eq!(plan.claims.len(), 1);
    assert!(plan.claims[0].record.error.as_deref().unwrap().contains("copy of sheet row 11"));
    assert_eq!(plan.located.len(), 3_000);
    assert_eq!(locate(&rows, &layout(&rows), &anchors, &view), plan.located, "the write-back locates rows alike");
}
