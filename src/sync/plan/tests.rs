//! The planner's decisions, one scenario at a time. Pure: no sandbox, no store file.

use super::*;
use crate::directions::{Directions, NameAliases};
use crate::domain::date::DateOrder;
use crate::domain::layout::ColumnNames;
use crate::domain::money::AmountFormat;
use crate::domain::status::EligibleStatuses;
use crate::qbo::DocKind;
use crate::settings::NegativeAmounts;
use crate::store::{DocRecord, DocState};
use crate::sync::draft::{RowVerdict, judge};
use crate::sync::policy::{Mode, Policy};
use crate::sync::project::{CellWrite, project, undo_misplaced};

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

pub(crate) fn policy() -> Policy {
    let directions = Directions::from_json(
        r#"{"money_in": ["ACD"], "money_out": ["Jane Smith Consulting"], "aliases": {"acd llc": "ACD"}}"#,
        "test",
    )
    .unwrap();
    Policy {
        mode: Mode::InvoiceOnly,
        eligible: EligibleStatuses::default(),
        group_by_invoice: false,
        require_approval: false,
        doc_number_prefix: String::new(),
        amount_format: AmountFormat::default(),
        date_order: DateOrder::MonthFirst,
        columns: ColumnNames::default(),
        default_item_id: "1".into(),
        expense_account_id: "7".into(),
        ap_account_id: Some("33".into()),
        negative_amounts: Default::default(),
        tax: Default::default(),
        create_missing_names: false,
        directions,
        customer_aliases: NameAliases::default(),
        vendor_aliases: NameAliases::default(),
        config_fp: "cfg".into(),
        today: chrono::NaiveDate::from_ymd_opt(2025, 11, 21).unwrap(),
        include_failed: false,
        backfill: false,
        limit: None,
        autopay: Default::default(),
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

fn record(key: &str, status: RowStatus, fp: &str) -> RowRecord {
    RowRecord { content_fp: fp.into(), ..RowRecord::sample(key, status) }
}

fn doc(key: &str, number: &str, state: DocState, qbo_id: Option<&str>) -> DocRecord {
    DocRecord {
        doc_key: key.into(),
        kind: Kind::Invoice,
        doc_kind: crate::qbo::DocKind::Invoice,
        doc_number: Some(number.into()),
        request_id: format!("{key}-x"),
        payload_hash: "h".into(),
        payload: "{}".into(),
        party_id: "58".into(),
        total: rust_decimal::Decimal::new(10000, 2),
        qbo_total: None,
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
    let plan = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.claims[0].row, 1);
    assert_eq!(plan.claims[0].record.status, RowStatus::Claimed);
    assert!(plan.creates.is_empty(), "nothing is created before the anchor is verified");
}

#[test]
fn a_verified_claim_becomes_a_draft_with_the_rows_values() {
    let rows = vec![header(), row("ACD-1", "Submitted", "acd llc", "Globex Corporation", "1234.5")];
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
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
fn a_claim_that_landed_on_another_row_follows_its_row_or_is_forgotten() {
    let rows = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    let (view, _) = claimed(&first);
    let key = first.claims[0].key.clone();
    // Someone inserted a row above between the read and the claim: the anchor sits on row 2,
    // which holds different content, and the row it was claimed for is row 1.
    let moved = vec![
        header(),
        row("ACD-1", "submitted", "ACD", "Globex Corporation", "100"),
        row("X-9", "draft", "ACD", "Initech LLC", "5"),
    ];
    let anchors = vec![anchor(7, &key, 2)];
    let second = plan(&moved, &layout(&moved), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(second.drop_anchors, vec![7]);
    assert_eq!(second.moves, vec![NewAnchor { row: 1, key: key.clone() }], "the anchor follows the row's values");
    assert_eq!(second.located.get(key.as_str()), Some(&1));
    assert!(second.forget_rows.is_empty());

    // The row it was claimed for is gone (edited since): the claim says nothing true.
    let edited = vec![header(), row("X-9", "draft", "ACD", "Initech LLC", "5")];
    let anchors = vec![anchor(7, &key, 1)];
    let third = plan(&edited, &layout(&edited), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(third.drop_anchors, vec![7]);
    assert_eq!(third.forget_rows, vec![key]);
    assert!(third.creates.is_empty() && third.moves.is_empty());
}

#[test]
fn a_claim_whose_anchor_never_landed_is_forgotten_and_the_row_claimed_again() {
    let rows = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    // The claim was recorded, then qbsync was killed before the anchor was written.
    let (view, _) = claimed(&first);
    assert!(needs_attention(&rows, &layout(&rows), &view, &policy()), "a leftover claim is work");
    let second = plan(&rows, &layout(&rows), &[], &|_| false, &view, &policy(), &mut || "fresh".to_owned());
    assert_eq!(second.forget_rows, vec![first.claims[0].key.clone()]);
    assert_eq!(second.claims.len(), 1);
    assert_eq!(second.claims[0].key, "fresh");
}

#[test]
fn rows_sharing_a_number_fail_naming_each_other_unless_grouped() {
    let rows = vec![
        header(),
        row("ACD-7", "submitted", "ACD", "Globex Corporation", "100"),
        row("ACD-8", "submitted", "ACD", "Globex Corporation", "5"),
        row("ACD-7", "pending", "ACD", "Globex Corporation", "50"),
    ];
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(second.creates.len(), 1, "only ACD-8 goes ahead");
    let failed: Vec<&RowRecord> = second.decisions.iter().filter(|d| d.status == RowStatus::Failed).collect();
    assert_eq!(failed.len(), 2);
    for decision in failed {
        let error = decision.error.as_deref().unwrap();
        assert!(error.contains("rows 2, 4 share invoice number ACD-7"), "{error}");
        assert!(error.contains("QBSYNC_GROUP_BY_INVOICE"), "{error}");
    }

    let grouped = Policy { group_by_invoice: true, ..policy() };
    let third = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &grouped, &mut keys());
    let acd7 = third.creates.iter().find(|d| d.doc_number == "ACD-7").unwrap();
    assert_eq!(acd7.lines.len(), 2);
    assert_eq!(acd7.lines[0].amount.to_string(), "100.00", "lines keep sheet order");
    assert_eq!(acd7.total().to_string(), "150.00");
    assert_eq!(acd7.rows.iter().map(|r| r.index).collect::<Vec<_>>(), vec![1, 3]);
}

#[test]
fn a_row_that_failed_for_sharing_its_number_goes_ahead_once_the_other_row_is_gone() {
    // An unsynced row was pasted as a template: both copies share ACD-7 and both fail.
    let original = row("ACD-7", "submitted", "ACD", "Globex Corporation", "100");
    let rows = vec![header(), original.clone(), original.clone()];
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    let (mut view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(second.decisions.iter().filter(|d| d.status == RowStatus::Failed).count(), 2);
    for decision in &second.decisions {
        view.rows.insert(decision.row_key.as_str().into(), decision.clone());
    }
    // While both are there, the failure is said once, not again every pass.
    let again = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert!(again.decisions.is_empty() && again.creates.is_empty(), "{:?}", again.decisions);
    // The person deletes the pasted one: the remaining row goes ahead without being edited.
    let rows = vec![header(), original];
    let after = plan(&rows, &layout(&rows), &anchors[..1], &|_| false, &view, &policy(), &mut keys());
    assert_eq!(after.creates.len(), 1, "{:?}", after.decisions);
}

#[test]
fn money_out_is_skipped_in_invoice_only_mode_and_saying_how_to_switch() {
    let rows = vec![header(), row("B-1", "submitted", "Jane Smith Consulting", "", "420")];
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert!(second.creates.is_empty());
    let decision = &second.decisions[0];
    assert_eq!(decision.status, RowStatus::Skipped);
    assert_eq!(decision.kind, Kind::Bill);
    assert!(decision.error.as_deref().unwrap().contains("QB_SYNC_MODE=dual"));

    let dual = Policy { mode: Mode::Dual, ..policy() };
    let third = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &dual, &mut keys());
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
        let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
        let (view, anchors) = claimed(&first);
        let second = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
        assert!(second.creates.is_empty(), "{expected}");
        let error = second.decisions[0].error.clone().unwrap();
        assert_eq!(second.decisions[0].status, RowStatus::Failed);
        assert!(error.contains(expected), "expected {expected:?} in {error:?}");
    }
}

#[test]
fn a_failed_row_is_retried_only_when_it_or_the_configuration_changed() {
    let rows = vec![header(), row("ACD-1", "submitted", "Nobody Ltd", "Globex Corporation", "100")];
    let layout = layout(&rows);
    let fp = crate::domain::fingerprint::content_fingerprint(&rows[1], &layout);
    let view =
        StoreView::new(vec![RowRecord { error: Some("x".into()), ..record("k1", RowStatus::Failed, &fp) }], Vec::new());
    let anchors = vec![anchor(1, "k1", 1)];
    let quiet = plan(&rows, &layout, &anchors, &|_| false, &view, &policy(), &mut keys());
    assert!(quiet.decisions.is_empty() && quiet.creates.is_empty());
    assert_eq!(quiet.stats.ready, 0);

    let forced =
        plan(&rows, &layout, &anchors, &|_| false, &view, &Policy { include_failed: true, ..policy() }, &mut keys());
    assert_eq!(forced.stats.ready, 1);

    let reconfigured = plan(
        &rows,
        &layout,
        &anchors,
        &|_| false,
        &view,
        &Policy { config_fp: "other".into(), ..policy() },
        &mut keys(),
    );
    assert_eq!(reconfigured.stats.ready, 1);

    let edited = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let after_edit = plan(&edited, &layout, &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(after_edit.creates.len(), 1, "the corrected row goes ahead");
}

#[test]
fn a_pending_intent_is_reconciled_not_recreated() {
    let rows = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let view = StoreView::new(
        vec![RowRecord {
            doc_key: Some("k1".into()),
            doc_number: Some("ACD-1".into()),
            ..record("k1", RowStatus::Pending, "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Pending, None)],
    );
    let plan = plan(&rows, &layout(&rows), &[anchor(1, "k1", 1)], &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.reconcile, vec!["k1".to_string()]);
    assert!(plan.creates.is_empty() && plan.claims.is_empty());
}

#[test]
fn a_pending_intent_whose_row_was_deleted_is_still_reconciled() {
    let rows = vec![header()];
    let view = StoreView::new(Vec::new(), vec![doc("gone", "ACD-3", DocState::Pending, None)]);
    let plan = plan(&rows, &layout(&rows), &[], &|_| false, &view, &policy(), &mut keys());
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
            ..record("k1", RowStatus::Synced, "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let layout = layout(&rows);
    assert!(needs_attention(&rows, &layout, &view, &policy()), "an id on two rows needs attention");
    let plan = plan(&rows, &layout, &[anchor(1, "k1", 1)], &|_| false, &view, &policy(), &mut || "c1".to_owned());
    assert!(plan.creates.is_empty());
    assert_eq!(plan.claims.len(), 1, "the copy is anchored so it can be flagged");
    assert_eq!(plan.claims[0].row, 2);
    assert_eq!(plan.claims[0].record.status, RowStatus::Claimed, "verified like any claim before anything is written");
    // Once the anchor holds, the copy is flagged.
    let mut view = view;
    view.rows.insert(plan.claims[0].key.as_str().into(), plan.claims[0].record.clone());
    let anchors = [anchor(1, "k1", 1), anchor(2, &plan.claims[0].key, 2)];
    let second = super::plan(&rows, &layout, &anchors, &|_| false, &view, &policy(), &mut keys());
    assert!(second.claims.is_empty() && second.creates.is_empty(), "{:?} {:?}", second.claims, second.forget_rows);
    assert_eq!(second.decisions.len(), 1);
    assert_eq!(second.decisions[0].status, RowStatus::Copy);
    let reason = second.decisions[0].error.clone().unwrap();
    assert!(reason.contains("copy of sheet row 2"), "{reason}");
}

#[test]
fn a_row_with_its_own_document_is_never_taken_for_a_copy() {
    // Row 1 is k1's (invoice 130) but shows 131, k2's id (a write that went astray, or a person
    // typing): it is not a copy of k2's row — the projection writes 130 back.
    let mut own = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    own[14] = Cell::text("131");
    let mut other = row("ACD-2", "submitted", "ACD", "Initech LLC", "5");
    other[14] = Cell::text("131");
    let rows = vec![header(), own, other];
    let synced = |key: &str, number: &str| RowRecord {
        doc_key: Some(key.into()),
        doc_number: Some(number.into()),
        ..record(key, RowStatus::Synced, "fp")
    };
    let view = StoreView::new(
        vec![synced("k1", "ACD-1"), synced("k2", "ACD-2")],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130")), doc("k2", "ACD-2", DocState::Created, Some("131"))],
    );
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2)];
    let plan = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert!(plan.decisions.is_empty(), "{:?}", plan.decisions);
    let (writes, _) = project(&rows, &layout(&rows), &plan.located, &view, &policy());
    let fix = writes.iter().find(|w| w.row == 1).expect("row 1 is repaired");
    assert_eq!(fix.values[0], Cell::text("130"));
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
            RowRecord {
                doc_key: Some("k1".into()),
                doc_number: Some("ACD-1".into()),
                ..record("k1", RowStatus::Synced, "fp")
            },
            record("k2", RowStatus::Claimed, &fp),
        ],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let plan =
        plan(&rows, &layout, &[anchor(1, "k1", 1), anchor(2, "k2", 2)], &|_| false, &view, &policy(), &mut keys());
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
            RowRecord { doc_number: Some("ACD-1".into()), ..record("k1", RowStatus::Failed, "fp") },
            RowRecord { doc_number: Some("ACD-2".into()), ..record("k2", RowStatus::Failed, "fp") },
        ],
        Vec::new(),
    );
    // k1 twice (a retried create), and a header anchor.
    let anchors = vec![anchor(1, "k1", 1), anchor(2, "k1", 1), anchor(3, "k2", 2), anchor(4, "k9", 0)];
    let plan = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
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
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &policy(), &mut keys());
    let (view, anchors) = claimed(&first);
    let limited =
        plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &Policy { limit: Some(2), ..policy() }, &mut keys());
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
            ..record("k1", RowStatus::Synced, "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let located = Located::from_iter([("k1".into(), 1u32)]);
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
            ..record("k1", RowStatus::Synced, "fp")
        }],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130"))],
    );
    let located = Located::from_iter([("k1".into(), 1u32)]);
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
    let view = StoreView::new(vec![record("k1", RowStatus::Failed, &fp)], Vec::new());
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
            ..record(&key, RowStatus::Synced, "fp")
        });
        docs.push(doc(&key, &number, DocState::Created, Some(&(1000 + i).to_string())));
        anchors.push(anchor(i as i32 + 1, &key, i + 1));
    }
    let mut copy = rows[10].clone();
    copy[16] = Cell::text("synced");
    rows.push(copy);
    let view = StoreView::new(records, docs);
    let plan = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert!(plan.creates.is_empty());
    assert_eq!(plan.stats.copies, 1, "the pasted copy of row 11 is found among 3,000");
    assert_eq!(plan.claims.len(), 1, "the copy is anchored first, then flagged");
    assert_eq!(plan.claims[0].row, 3_001);
    assert_eq!(plan.claims[0].record.status, RowStatus::Claimed);
    assert_eq!(plan.located.len(), 3_000);
    assert_eq!(
        locate(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy()),
        plan.located,
        "the write-back locates rows alike"
    );
}

/// The owned cells of a synced row (id, url, status, time, error), for the undo tests.
fn with_cells(mut row: Vec<Cell>, cells: &[&str]) -> Vec<Cell> {
    for (i, value) in cells.iter().enumerate() {
        row[14 + i] = Cell::text(*value);
    }
    row
}

/// The cells of `writes` to give back, judged at the first look after them: `after`, where the
/// rows are at `located_after` (`before`, `located_before`: the sheet they were planned from).
fn undo_seen_once(
    writes: &[CellWrite],
    before: &[Vec<Cell>],
    located_before: &Located,
    after: &[Vec<Cell>],
    located_after: &Located,
) -> Vec<CellWrite> {
    undo_misplaced(writes, &layout(before), before, located_before, located_after, after, located_after)
}

fn id_write(row: u32, key: &str, id: &str) -> CellWrite {
    CellWrite {
        row,
        col: 14,
        values: vec![Cell::text(id), Cell::text(format!("u{id}")), Cell::text("synced")],
        key: key.into(),
    }
}

#[test]
fn cells_that_landed_where_they_were_meant_to_need_no_undo() {
    let before = vec![header(), row("ACD-1", "submitted", "ACD", "Globex Corporation", "100")];
    let after = vec![header(), with_cells(before[1].clone(), &["130", "u130", "synced"])];
    let located = Located::from_iter([("a".into(), 1u32)]);
    assert!(undo_seen_once(&[id_write(1, "a", "130")], &before, &located, &after, &located).is_empty());
}

#[test]
fn cells_written_onto_a_row_sorted_into_their_place_are_given_back() {
    // qbsync located A on row 1 and B on row 2; a sort swapped them before the write arrived.
    let a = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    let b = with_cells(row("ACD-2", "submitted", "ACD", "Initech LLC", "5"), &["77", "u77", "copy"]);
    let before = vec![header(), a.clone(), b.clone()];
    let located_before = Located::from_iter([("a".into(), 1u32), ("b".into(), 2u32)]);
    let after = vec![header(), with_cells(b.clone(), &["130", "u130", "synced"]), a];
    let located_after = Located::from_iter([("a".into(), 2u32), ("b".into(), 1u32)]);
    let undo = undo_seen_once(&[id_write(1, "a", "130")], &before, &located_before, &after, &located_after);
    assert_eq!(undo.len(), 1, "{undo:?}");
    assert_eq!((undo[0].row, undo[0].col, undo[0].key.as_str()), (1, 14, "b"));
    assert_eq!(undo[0].values, vec![Cell::text("77"), Cell::text("u77"), Cell::text("copy")], "B's own cells back");
}

#[test]
fn cells_written_onto_a_row_inserted_meanwhile_are_cleared() {
    // A new row was typed in above A between the read and the write: it got A's id.
    let a = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    let new = row("ACD-9", "submitted", "ACD", "Initech LLC", "5");
    let before = vec![header(), a.clone()];
    let located_before = Located::from_iter([("a".into(), 1u32)]);
    let after = vec![header(), with_cells(new, &["130", "u130", "synced"]), a];
    let located_after = Located::from_iter([("a".into(), 2u32)]);
    let undo = undo_seen_once(&[id_write(1, "a", "130")], &before, &located_before, &after, &located_after);
    assert_eq!(undo.len(), 1, "{undo:?}");
    assert_eq!(undo[0].row, 1);
    assert_eq!(undo[0].values, vec![Cell::Empty; 3], "the new row had nothing in qbsync's columns");
    assert_eq!(undo[0].key, "", "the new row has no anchor yet");
}

#[test]
fn an_unanchored_row_that_moved_gets_its_own_cells_back() {
    // A pasted copy (no anchor of its own) moved onto the written row number.
    let a = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    let copy = with_cells(row("ACD-5", "submitted", "ACD", "Initech LLC", "5"), &["55", "u55", "synced"]);
    let before = vec![header(), a.clone(), copy.clone()];
    let located_before = Located::from_iter([("a".into(), 1u32)]);
    let after = vec![header(), with_cells(copy, &["130", "u130", "synced"]), a];
    let located_after = Located::from_iter([("a".into(), 2u32)]);
    let undo = undo_seen_once(&[id_write(1, "a", "130")], &before, &located_before, &after, &located_after);
    assert_eq!(undo.len(), 1, "{undo:?}");
    assert_eq!(undo[0].values, vec![Cell::text("55"), Cell::text("u55"), Cell::text("synced")]);
}

#[test]
fn a_row_that_moved_back_to_where_its_write_went_leaves_the_row_that_took_the_cells_a_victim() {
    // A new row was typed where A was when the write arrived (it took A's id); by the next look
    // it had been dragged below A, which is back on the row the write was addressed to.
    let a = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    let new = row("ACD-9", "submitted", "ACD", "Initech LLC", "5");
    let before = vec![header(), a.clone()];
    let located_before = Located::from_iter([("a".into(), 1u32)]);
    let landed = Located::from_iter([("a".into(), 2u32)]);
    let after = vec![header(), a, with_cells(new, &["130", "u130", "synced"])];
    let located_after = Located::from_iter([("a".into(), 1u32)]);
    let writes = [id_write(1, "a", "130")];
    let undo = undo_misplaced(&writes, &layout(&before), &before, &located_before, &landed, &after, &located_after);
    assert_eq!(undo.len(), 1, "{undo:?}");
    assert_eq!((undo[0].row, undo[0].values.clone()), (2, vec![Cell::Empty; 3]), "the new row gets its blanks back");
    let judged_now = undo_seen_once(&writes, &before, &located_before, &after, &located_after);
    assert!(judged_now.is_empty(), "judged by where A is now, the write would pass for landed");
}

#[test]
fn rows_that_got_the_same_cells_from_their_own_writes_are_not_victims() {
    // A and B were synced in the same second: B's write of the time alone went astray (a row
    // was inserted above B); A shows the same time because of its own write, and keeps it.
    let a = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    let b = row("ACD-2", "submitted", "ACD", "Initech LLC", "5");
    let new = row("ACD-9", "submitted", "ACD", "Initech LLC", "7");
    let before = vec![header(), a.clone(), b.clone()];
    let located_before = Located::from_iter([("a".into(), 1u32), ("b".into(), 2u32)]);
    let at = Cell::text("2025-11-21T10:00:00Z");
    let mut a_after = with_cells(a, &["130", "u130", "synced"]);
    a_after[17] = at.clone();
    let mut new_after = new;
    new_after[17] = at.clone();
    let after = vec![header(), a_after, new_after, b];
    let located_after = Located::from_iter([("a".into(), 1u32), ("b".into(), 3u32)]);
    let writes = vec![
        CellWrite {
            row: 1,
            col: 14,
            values: vec![Cell::text("130"), Cell::text("u130"), Cell::text("synced"), at.clone()],
            key: "a".into(),
        },
        CellWrite { row: 2, col: 17, values: vec![at], key: "b".into() },
    ];
    let undo = undo_seen_once(&writes, &before, &located_before, &after, &located_after);
    assert_eq!(undo.len(), 1, "{undo:?}");
    assert_eq!((undo[0].row, undo[0].col), (2, 17), "only the inserted row is given back its blank cell");
}

#[test]
fn a_copy_pasted_after_the_write_is_not_a_victim() {
    // A got its id where it was meant to; then a person pasted a copy of A above it (so A
    // moved): the copy shows A's new cells rightly.
    let a = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    let before = vec![header(), a.clone()];
    let located_before = Located::from_iter([("a".into(), 1u32)]);
    let a_after = with_cells(a, &["130", "u130", "synced"]);
    let after = vec![header(), a_after.clone(), a_after];
    let located_after = Located::from_iter([("a".into(), 2u32)]);
    let undo = undo_seen_once(&[id_write(1, "a", "130")], &before, &located_before, &after, &located_after);
    assert!(undo.is_empty(), "{undo:?}");
}

#[test]
fn a_flag_that_landed_on_the_twin_of_the_row_it_was_meant_for_is_not_given_back() {
    // A (k) and its pasted copy (c, flagged) are identical but in qbsync's cells; qbsync wrote
    // `copy` to c's row again while a sort swapped the two, so it landed on A.
    let a = with_cells(row("ACD-1", "submitted", "ACD", "Globex Corporation", "100"), &["130", "u130", "synced"]);
    let mut copy = with_cells(a.clone(), &["130", "u130", "copy"]);
    copy[18] = Cell::text("this row looks like a copy of sheet row 2");
    let before = vec![header(), a.clone(), copy.clone()];
    let located_before = Located::from_iter([("k".into(), 1u32), ("c".into(), 2u32)]);
    let flag = CellWrite { row: 2, col: 16, values: vec![Cell::text("copy")], key: "c".into() };
    let after = vec![header(), copy, with_cells(a, &["130", "u130", "copy"])];
    let located_after = Located::from_iter([("c".into(), 1u32), ("k".into(), 2u32)]);
    let undo = undo_seen_once(&[flag], &before, &located_before, &after, &located_after);
    assert!(undo.is_empty(), "giving it back would only swap the flag back and forth: {undo:?}");
}

#[test]
fn cells_a_stopped_landing_check_owed_are_given_back_to_their_row_wherever_it_went() {
    use crate::sync::project::{OwedRestore, give_back, owed, owed_json};
    // A (k) got B's id by mistake, and the landing check was stopped before giving it back.
    let a = with_cells(row("ACD-1", "submitted", "ACD", "Globex Corporation", "100"), &["", "", "failed"]);
    let b = row("ACD-2", "submitted", "ACD", "Initech LLC", "5");
    let hit = with_cells(a.clone(), &["130", "u130", "synced"]);
    let sheet = vec![header(), b.clone(), hit.clone()];
    let undo = vec![CellWrite { row: 2, col: 14, values: a[14..17].to_vec(), key: String::new() }];
    let owed = owed(&undo, &sheet, &layout(&sheet));
    let kept: Vec<OwedRestore> = serde_json::from_str(&owed_json(&owed)).unwrap();
    assert_eq!(kept, owed, "as the store keeps them");
    // By the next pass, rows moved again: A is on row 1 now, still showing B's cells.
    let moved = vec![header(), hit, b.clone(), with_cells(b, &["130", "u130", "synced"])];
    let writes = give_back(&kept, &moved, &layout(&moved));
    assert_eq!(writes.len(), 1, "only A, not B's own row: {writes:?}");
    assert_eq!((writes[0].row, writes[0].col), (1, 14));
    assert_eq!(writes[0].values, vec![Cell::text(""), Cell::text(""), Cell::text("failed")]);
    // Set right meanwhile: nothing is owed any more.
    let right = vec![header(), a];
    assert!(give_back(&kept, &right, &layout(&right)).is_empty());
}

/// Three rows with three kinds of record: k1 synced (invoice 130), k2 with its create under
/// way, k3 failed; the store as it remembers them, and each row's cells as it shows them.
fn three_rows() -> (Vec<Vec<Cell>>, StoreView) {
    let mut synced = row("ACD-1", "submitted", "ACD", "Globex Corporation", "100");
    synced[14] = Cell::text("130");
    synced[16] = Cell::text("synced");
    let in_flight = row("ACD-2", "submitted", "ACD", "Initech LLC", "5");
    let mut failed = row("ACD-3", "submitted", "ACD", "Nobody Ltd", "7");
    failed[16] = Cell::text("failed");
    let layout = layout(&[header()]);
    let with_doc = |key: &str, number: &str, status, cells: &[Cell]| RowRecord {
        doc_key: Some(key.into()),
        doc_number: Some(number.into()),
        ..record(key, status, &content_fingerprint(cells, &layout))
    };
    let view = StoreView::new(
        vec![
            with_doc("k1", "ACD-1", RowStatus::Synced, &synced),
            with_doc("k2", "ACD-2", RowStatus::Pending, &in_flight),
            record("k3", RowStatus::Failed, &content_fingerprint(&failed, &layout)),
        ],
        vec![doc("k1", "ACD-1", DocState::Created, Some("130")), doc("k2", "ACD-2", DocState::Pending, None)],
    );
    (vec![header(), synced, in_flight, failed], view)
}

#[test]
fn a_sort_that_leaves_the_anchors_behind_finds_every_row_by_its_values_and_moves_the_anchors() {
    let (rows, view) = three_rows();
    // Sorted by client, descending: the values moved, the anchors stayed on their rows.
    let sorted = vec![header(), rows[3].clone(), rows[2].clone(), rows[1].clone()];
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&sorted, &layout(&sorted), &anchors, &|_| false, &view, &policy(), &mut keys());
    let at = |key: &str| plan.located.get(key).copied();
    assert_eq!((at("k1"), at("k2"), at("k3")), (Some(3), Some(2), Some(1)));
    assert_eq!(plan.drop_anchors, vec![1, 3], "k2's anchor was on its row already");
    let mut moves = plan.moves.clone();
    moves.sort_by_key(|m| m.row);
    assert_eq!(moves, vec![NewAnchor { row: 1, key: "k3".into() }, NewAnchor { row: 3, key: "k1".into() }]);
    assert!(plan.claims.is_empty() && plan.creates.is_empty(), "nothing is new");
    assert!(plan.decisions.is_empty(), "no row is failed or taken for a copy: {:?}", plan.decisions);
    assert_eq!(plan.reconcile, vec!["k2".to_owned()], "the create under way is settled as before");
    assert_eq!(
        locate(&sorted, &layout(&sorted), &anchors, &|_| false, &view, &policy()),
        plan.located,
        "the write-back finds them alike"
    );
}

#[test]
fn a_row_cut_and_pasted_onto_a_blank_row_is_the_same_row_and_a_row_typed_where_it_was_is_new() {
    let (rows, view) = three_rows();
    // Row 1 (k1) cut and pasted onto a blank row 4; its anchor stays on row 1, now blank.
    let cut = vec![header(), vec![Cell::Empty; HEADER.len()], rows[2].clone(), rows[3].clone(), rows[1].clone()];
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&cut, &layout(&cut), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), Some(&4));
    assert_eq!(plan.moves, vec![NewAnchor { row: 4, key: "k1".into() }]);
    assert!(plan.decisions.is_empty(), "not a copy: {:?}", plan.decisions);

    // A new row typed onto the blank row before qbsync saw the cut: it is a new row, claimed.
    let mut typed = cut.clone();
    typed[1] = row("ACD-9", "submitted", "ACD", "Globex Corporation", "40");
    let plan = super::plan(&typed, &layout(&typed), &anchors, &|_| false, &view, &policy(), &mut || "new".into());
    assert_eq!(plan.located.get("k1"), Some(&4));
    assert!(plan.drop_anchors.contains(&1), "k1's anchor left on row 1 is dropped");
    assert_eq!(plan.claims.iter().map(|c| (c.row, c.key.as_str())).collect::<Vec<_>>(), [(1, "new")]);
}

#[test]
fn a_copy_pasted_and_then_sorted_is_still_a_copy_and_the_original_keeps_its_document() {
    let (rows, view) = three_rows();
    // Row 1 (k1, invoice 130) copied onto a new row, then sorted so that no anchor of k1 sits on
    // either: k1 goes to one of the two identical rows, and the other is claimed as a copy.
    let sorted = vec![header(), rows[2].clone(), rows[1].clone(), rows[3].clone(), rows[1].clone()];
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 3), anchor(3, "k3", 4)];
    let plan = plan(&sorted, &layout(&sorted), &anchors, &|_| false, &view, &policy(), &mut || "c".into());
    let k1 = plan.located.get("k1").copied().expect("k1 is found");
    assert!([2, 4].contains(&k1), "{k1}");
    let other = if k1 == 2 { 4 } else { 2 };
    assert_eq!(plan.claims.iter().map(|c| (c.row, c.record.status)).collect::<Vec<_>>(), [(other, RowStatus::Claimed)]);
    assert_eq!(plan.stats.copies, 1, "anchored first, then flagged like any pasted copy");
    assert!(plan.creates.is_empty(), "nothing is created for a copy");
}

#[test]
fn a_row_whose_number_was_changed_after_its_document_was_created_stays_where_its_anchor_is() {
    let (mut rows, view) = three_rows();
    rows[1][0] = Cell::text("ACD-1-R");
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), Some(&1));
    assert!(plan.moves.is_empty() && plan.drop_anchors.is_empty());
    let (writes, mismatches) = project(&rows, &layout(&rows), &plan.located, &view, &policy());
    assert!(mismatches.is_empty(), "its own id proves it is the document's row");
    let reported =
        writes.iter().filter(|w| w.row == 1).flat_map(|w| &w.values).any(|c| c.as_text().contains("ACD-1-R"));
    assert!(reported, "the change is reported: {writes:?}");
}

#[test]
fn a_row_renumbered_and_then_sorted_away_from_its_anchor_is_found_by_everything_else_it_shows() {
    let (rows, view) = three_rows();
    let mut renumbered = rows[1].clone();
    renumbered[0] = Cell::text("ACD-1-R");
    // k1's row, renumbered by a person, sorted to the bottom; its anchor stayed on row 1.
    let sorted = vec![header(), rows[2].clone(), rows[3].clone(), renumbered];
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&sorted, &layout(&sorted), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), Some(&3), "not taken for a copy of its own document");
    assert_eq!(plan.located.get("k2"), Some(&1));
    assert!(plan.claims.is_empty() && plan.stats.copies == 0, "{:?}", plan.claims);
}

#[test]
fn after_a_sort_a_flagged_copy_keeps_its_flag_and_the_original_keeps_its_document() {
    let (rows, view) = three_rows();
    let mut copy = rows[1].clone();
    copy[16] = Cell::text("copy");
    let mut records: Vec<RowRecord> = view.rows.values().cloned().collect();
    records.push(record("k0", RowStatus::Copy, &content_fingerprint(&rows[1], &layout(&rows))));
    let docs: Vec<DocRecord> = view.docs.values().cloned().collect();
    let view = StoreView::new(records, docs);
    // The original (k1), its flagged copy (k0, whose key sorts first) and k2's row; the sort
    // left every anchor on a row that is not its own.
    let sorted = vec![header(), rows[1].clone(), copy, rows[2].clone()];
    let anchors = [anchor(1, "k0", 1), anchor(2, "k2", 2), anchor(3, "k1", 3)];
    let plan = plan(&sorted, &layout(&sorted), &anchors, &|_| false, &view, &policy(), &mut keys());
    let at = |key: &str| plan.located.get(key).copied();
    assert_eq!((at("k1"), at("k0"), at("k2")), (Some(1), Some(2), Some(3)));
    assert!(plan.claims.is_empty() && plan.decisions.is_empty(), "{:?} {:?}", plan.claims, plan.decisions);
}

#[test]
fn a_row_whose_anchor_was_deleted_with_another_row_gets_its_own_key_back_not_a_copy_flag() {
    let (rows, view) = three_rows();
    // A sort left k1's anchor on a row that a person then deleted: k1's row has no anchor.
    let anchors = [anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), Some(&1));
    assert_eq!(plan.moves, vec![NewAnchor { row: 1, key: "k1".into() }]);
    assert!(plan.claims.is_empty() && plan.stats.copies == 0, "{:?}", plan.claims);

    // A row typed anew under that number, for another amount (and no id), is not its row.
    let mut other = rows.clone();
    other[1][7] = Cell::Number("999".into());
    other[1][14] = Cell::Empty;
    other[1][16] = Cell::Empty;
    let plan = super::plan(&other, &layout(&other), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), None);
}

#[test]
fn a_synced_row_edited_and_then_left_without_its_anchor_is_still_its_documents_row_not_a_copy() {
    let (rows, view) = three_rows();
    // A sort left k1's anchor on another row's values, which a person then deleted; k1's own
    // row had been edited after its document was created: its number, or its amount.
    let anchors = [anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let mut renumbered = rows.clone();
    renumbered[1][0] = Cell::text("ACD-1-R");
    let mut new_amount = rows.clone();
    new_amount[1][7] = Cell::Number("999".into());
    for edited in [renumbered, new_amount] {
        let layout = layout(&edited);
        let plan = plan(&edited, &layout, &anchors, &|_| false, &view, &policy(), &mut keys());
        assert_eq!(plan.located.get("k1"), Some(&1), "{:?}", edited[1]);
        assert_eq!(plan.moves, vec![NewAnchor { row: 1, key: "k1".into() }], "its anchor is written anew");
        assert!(plan.claims.is_empty() && plan.stats.copies == 0, "not taken for a copy: {:?}", plan.claims);
        let (writes, mismatches) = project(&edited, &layout, &plan.located, &view, &policy());
        assert!(mismatches.is_empty(), "{mismatches:?}");
        let note = writes.iter().filter(|w| w.row == 1).flat_map(|w| &w.values).map(|c| c.as_text().into_owned());
        assert!(note.collect::<String>().contains("after QuickBooks invoice 130 was created"), "{writes:?}");
    }
}

#[test]
fn an_anchor_left_on_another_synced_row_is_dropped_once_its_own_row_is_gone() {
    let (rows, view) = three_rows();
    let mut other = row("ACD-4", "submitted", "ACD", "Initech LLC", "40");
    other[14] = Cell::text("131");
    other[16] = Cell::text("synced");
    let mut records: Vec<RowRecord> = view.rows.values().cloned().collect();
    records.push(RowRecord {
        doc_key: Some("k4".into()),
        doc_number: Some("ACD-4".into()),
        ..record("k4", RowStatus::Synced, &content_fingerprint(&other, &layout(&rows)))
    });
    let mut docs: Vec<DocRecord> = view.docs.values().cloned().collect();
    docs.push(doc("k4", "ACD-4", DocState::Created, Some("131")));
    let view = StoreView::new(records, docs);
    // A sort left k1's anchor on the row now showing k4's values (k4's anchor was moved there
    // too), then a person deleted k1's row: nothing on the sheet is k1's any more.
    let sheet = vec![header(), other, rows[2].clone(), rows[3].clone()];
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3), anchor(4, "k4", 1)];
    let plan = plan(&sheet, &layout(&sheet), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k4"), Some(&1));
    assert_eq!(plan.located.get("k1"), None, "nothing is written for k1");
    assert_eq!(plan.drop_anchors, vec![1], "so that the write-back notes k1's row gone, for the audit");
    assert!(plan.claims.is_empty() && plan.decisions.is_empty(), "{:?} {:?}", plan.claims, plan.decisions);
}

#[test]
fn a_synced_row_flagged_copy_by_a_write_meant_for_its_copy_is_still_its_documents_row_after_a_sort() {
    let (rows, view) = three_rows();
    let layout = layout(&rows);
    // k1's row was copied and the copy (k0) flagged; rows moved under the write that flagged it,
    // so k1's own row says `copy` too. Then a sort left k1's anchor (and k2's) on other rows.
    let mut flagged = rows[1].clone();
    flagged[16] = Cell::text("copy");
    flagged[18] = Cell::text("this row looks like a copy of sheet row 2");
    let mut records: Vec<RowRecord> = view.rows.values().cloned().collect();
    records.push(record("k0", RowStatus::Copy, &content_fingerprint(&rows[1], &layout)));
    let view = StoreView::new(records, view.docs.values().cloned().collect());
    let sheet = vec![header(), rows[3].clone(), flagged.clone(), flagged, rows[2].clone()];
    let anchors = [anchor(1, "k3", 1), anchor(2, "k2", 2), anchor(3, "k0", 3), anchor(4, "k1", 4)];
    let plan = plan(&sheet, &layout, &anchors, &|_| false, &view, &policy(), &mut keys());
    let at = |key: &str| plan.located.get(key).copied();
    assert_eq!((at("k1"), at("k0"), at("k2"), at("k3")), (Some(2), Some(3), Some(4), Some(1)));
    assert!(plan.claims.is_empty() && plan.stats.copies == 0, "not a second copy: {:?}", plan.claims);
    let (writes, _) = project(&sheet, &layout, &plan.located, &view, &policy());
    let shown: Vec<&Cell> = writes.iter().filter(|w| w.row == 2).flat_map(|w| &w.values).collect();
    assert!(shown.contains(&&Cell::text("synced")), "its flag is replaced: {writes:?}");
}

#[test]
fn a_row_showing_its_documents_id_is_not_taken_for_a_copy_while_the_documents_row_is_not_found() {
    let (rows, view) = three_rows();
    // A sort left k1's anchor on k3's row (and k3's on k1's), and a person typed a new row
    // under k1's number: two rows show ACD-1, and which is k1's cannot be told this pass.
    let typed = row("ACD-1", "submitted", "ACD", "Initech LLC", "55");
    let sheet = vec![header(), rows[3].clone(), rows[2].clone(), rows[1].clone(), typed];
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&sheet, &layout(&sheet), &anchors, &|_| false, &view, &policy(), &mut || "new".into());
    assert_eq!(plan.located.get("k1"), None);
    assert_eq!(plan.stats.copies, 0, "k1's own row is not flagged a copy of a row not found");
    assert_eq!(plan.claims.iter().map(|c| c.row).collect::<Vec<_>>(), [4], "only the typed row is claimed");
    assert_eq!(plan.drop_anchors, vec![1, 3], "k1's anchor on k3's row says nothing; k3's is moved");

    // Next pass, k1 has no anchor: the row showing its id and number is its row.
    let anchors = [anchor(2, "k2", 2), anchor(4, "k3", 1)];
    let plan = super::plan(&sheet, &layout(&sheet), &anchors, &|_| false, &view, &policy(), &mut || "new".into());
    assert_eq!(plan.located.get("k1"), Some(&3));
    assert_eq!(plan.stats.copies, 0);
}

/// k1's row (invoice 130) after a person renumbered it and a landing check gave back blank
/// cells over its id and status (it took the row for another's); a sort then left its anchor on
/// a row a person deleted (the callers pass no anchor for it).
fn renumbered_and_blanked(mut sheet: Vec<Vec<Cell>>) -> Vec<Vec<Cell>> {
    sheet[1][0] = Cell::text("ACD-1-R");
    sheet[1][14] = Cell::Empty;
    sheet[1][16] = Cell::Empty;
    sheet
}

#[test]
fn a_renumbered_row_whose_id_was_blanked_and_whose_anchor_was_lost_is_its_documents_row_not_a_new_one() {
    let (rows, view) = three_rows();
    // It shows no id and no number qbsync knows, and has no anchor: by everything else it
    // shows, it is still the row of invoice 130.
    let sheet = renumbered_and_blanked(rows);
    let layout = layout(&sheet);
    let anchors = [anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&sheet, &layout, &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), Some(&1));
    assert_eq!(plan.moves, vec![NewAnchor { row: 1, key: "k1".into() }], "its anchor is written anew");
    assert!(plan.claims.is_empty() && plan.creates.is_empty(), "never a second document: {:?}", plan.claims);
    let (writes, mismatches) = project(&sheet, &layout, &plan.located, &view, &policy());
    assert!(mismatches.is_empty(), "{mismatches:?}");
    let shown: Vec<String> =
        writes.iter().filter(|w| w.row == 1).flat_map(|w| &w.values).map(|c| c.as_text().into_owned()).collect();
    assert!(shown.contains(&"130".to_owned()), "its id is written back: {writes:?}");
    assert!(shown.iter().any(|c| c.contains("invoice number was changed to ACD-1-R")), "{writes:?}");
}

#[test]
fn a_claim_made_for_a_lost_documents_renumbered_row_gives_way_to_the_document_before_anything_is_created() {
    let (rows, view) = three_rows();
    // As above, but a pass claimed the row as new before the rule that re-adopts it could: the
    // claim holds its row by its whole content, and would be created next.
    let sheet = renumbered_and_blanked(rows);
    let layout = layout(&sheet);
    let mut records: Vec<RowRecord> = view.rows.values().cloned().collect();
    records.push(record("c1", RowStatus::Claimed, &content_fingerprint(&sheet[1], &layout)));
    let view = StoreView::new(records, view.docs.values().cloned().collect());
    let anchors = [anchor(2, "k2", 2), anchor(3, "k3", 3), anchor(9, "c1", 1)];
    let plan = plan(&sheet, &layout, &anchors, &|_| false, &view, &policy(), &mut keys());
    assert!(plan.creates.is_empty(), "nothing is created for it: {:?}", plan.creates);
    assert_eq!(plan.located.get("k1"), Some(&1));
    assert_eq!(plan.located.get("c1"), None);
    assert_eq!(plan.forget_rows, vec!["c1".to_owned()], "the claim is forgotten");
    assert_eq!(plan.drop_anchors, vec![9], "and its anchor dropped");
    assert_eq!(plan.moves, vec![NewAnchor { row: 1, key: "k1".into() }]);
}

/// `three_rows`, with k1's document holding the request body it was created from (its line and
/// note, as sent), so that its row can be told from another by what nobody corrects on a row.
fn three_rows_as_sent() -> (Vec<Vec<Cell>>, StoreView) {
    let (rows, view) = three_rows();
    let RowVerdict::Document { line, note, .. } = judge(&rows[1], 1, &layout(&rows), &policy()) else {
        panic!("k1's row is a document")
    };
    let body = serde_json::json!({
        "DocNumber": "ACD-1",
        "PrivateNote": crate::sync::draft::note_with_marker(note.as_deref(), "k1"),
        "Line": [{"Amount": 100, "Description": line.description}],
    });
    let docs = view
        .docs
        .values()
        .cloned()
        .map(|d| if d.doc_key == "k1" { DocRecord { payload: body.to_string(), ..d } } else { d })
        .collect();
    (rows, StoreView::new(view.rows.values().cloned().collect(), docs))
}

#[test]
fn an_anchor_a_sort_left_on_a_new_row_does_not_keep_a_deleted_row_placed_nor_the_new_row_from_being_sent() {
    let (rows, view) = three_rows_as_sent();
    // A sort left k1's anchor on the row now showing a new ready row (another number, client,
    // amount and thread, no id), then a person deleted k1's row.
    let mut typed = row("ACD-9", "submitted", "ACD", "Initech LLC", "55");
    typed[13] = Cell::text("t-9");
    let sheet = vec![header(), typed, rows[2].clone(), rows[3].clone()];
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&sheet, &layout(&sheet), &anchors, &|_| false, &view, &policy(), &mut || "new".into());
    assert_eq!(plan.located.get("k1"), None, "k1 is gone, for the audit");
    assert_eq!(plan.drop_anchors, vec![1]);
    assert_eq!(
        plan.claims.iter().map(|c| (c.row, c.key.as_str())).collect::<Vec<_>>(),
        [(1, "new")],
        "the row is what it shows"
    );
    assert_eq!(
        locate(&sheet, &layout(&sheet), &anchors, &|_| false, &view, &policy()).get("k1"),
        None,
        "the write-back finds k1 nowhere, and notes it gone"
    );
}

#[test]
fn a_synced_row_whose_number_and_amount_were_both_changed_keeps_its_anchor_and_gets_no_second_document() {
    let (rows, view) = three_rows_as_sent();
    // k1's row, its number and its amount changed by a person; its id never reached the sheet
    // (or was given back): nothing but what nobody corrects tells it is invoice 130's row.
    let mut sheet = rows.clone();
    sheet[1][0] = Cell::text("ACD-1-R");
    sheet[1][7] = Cell::Number("999".into());
    sheet[1][14] = Cell::Empty;
    sheet[1][16] = Cell::Empty;
    let anchors = [anchor(1, "k1", 1), anchor(2, "k2", 2), anchor(3, "k3", 3)];
    let plan = plan(&sheet, &layout(&sheet), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), Some(&1), "the same row, edited");
    assert!(plan.drop_anchors.is_empty() && plan.claims.is_empty() && plan.creates.is_empty(), "{plan:?}");
    // Its amount alone changed: found by its number, as ever.
    let mut amount = rows.clone();
    amount[1][7] = Cell::Number("999".into());
    let plan = super::plan(&amount, &layout(&amount), &anchors, &|_| false, &view, &policy(), &mut keys());
    assert_eq!(plan.located.get("k1"), Some(&1));
    assert!(plan.claims.is_empty() && plan.creates.is_empty());
}

#[test]
fn a_negative_amount_becomes_a_credit_of_its_size_only_when_credits_are_on() {
    let rows = vec![
        header(),
        row("CN-1", "submitted", "ACD", "Globex Corporation", "-40.50"),
        row("B-1", "submitted", "Jane Smith Consulting", "", "-12"),
    ];
    let credits = Policy { mode: Mode::Dual, negative_amounts: NegativeAmounts::Credit, ..policy() };
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &credits, &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &credits, &mut keys());
    let kinds: Vec<(DocKind, Kind, String)> =
        second.creates.iter().map(|d| (d.doc_kind, d.kind, d.total().to_string())).collect();
    assert_eq!(
        kinds,
        [(DocKind::CreditMemo, Kind::Invoice, "40.50".into()), (DocKind::VendorCredit, Kind::Bill, "12.00".into())]
    );

    let refused =
        plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &Policy { mode: Mode::Dual, ..policy() }, &mut keys());
    assert!(refused.creates.is_empty());
    for decision in &refused.decisions {
        assert_eq!(decision.status, RowStatus::Failed);
        assert!(decision.error.as_deref().unwrap().contains("QBSYNC_NEGATIVE_AMOUNTS=credit"), "{decision:?}");
    }
}

#[test]
fn rows_sharing_a_number_fail_when_some_are_credits_and_some_are_not() {
    let rows = vec![
        header(),
        row("ACD-9", "submitted", "ACD", "Globex Corporation", "100"),
        row("ACD-9", "submitted", "ACD", "Globex Corporation", "-20"),
    ];
    let grouped = Policy { group_by_invoice: true, negative_amounts: NegativeAmounts::Credit, ..policy() };
    let first = plan(&rows, &layout(&rows), &[], &|_| false, &StoreView::default(), &grouped, &mut keys());
    let (view, anchors) = claimed(&first);
    let second = plan(&rows, &layout(&rows), &anchors, &|_| false, &view, &grouped, &mut keys());
    assert!(second.creates.is_empty());
    assert_eq!(second.decisions.len(), 2);
    for decision in &second.decisions {
        let error = decision.error.as_deref().unwrap();
        assert!(error.contains("rows 2, 3 share invoice number ACD-9 but some amounts are negative"), "{error}");
    }
}

/// The demo header with the approval columns (`qb_preview` at 19, `approved` at 20), and one
/// ready row showing `review`.
fn in_review() -> Vec<Vec<Cell>> {
    let mut head = header();
    head.extend([Cell::text("qb_preview"), Cell::text("approved")]);
    let mut ready = row("ACD-1", "submitted", "ACD", "Globex Corporation", "1234.5");
    ready.resize(21, Cell::Empty);
    ready[16] = Cell::text("review");
    vec![head, ready]
}

#[test]
fn with_approval_on_a_row_waits_in_review_until_a_yes_given_for_its_preview() {
    let approving = Policy { require_approval: true, ..policy() };
    let rows = in_review();
    let layout = layout(&rows);
    let first = plan(&rows, &layout, &[], &|_| false, &StoreView::default(), &approving, &mut keys());
    let (view, anchors) = claimed(&first);
    let shown = plan(&rows, &layout, &anchors, &|_| false, &view, &approving, &mut keys());
    assert!(shown.creates.is_empty(), "nothing is created before approval");
    assert_eq!(shown.stats.in_review, 1);
    let review = shown.decisions[0].clone();
    assert_eq!(review.status, RowStatus::Review);
    assert_eq!(review.preview.as_deref(), Some("invoice ACD-1 to Globex Corporation, 1,234.50, dated 2025-11-05"));
    assert_eq!(review.content_fp, content_fingerprint(&rows[1], &layout));

    // Remembered and unchanged: nothing to decide again, and the idle check lets it wait.
    let view = StoreView::new(vec![review.clone()], Vec::new());
    let again = plan(&rows, &layout, &anchors, &|_| false, &view, &approving, &mut keys());
    assert!(again.creates.is_empty() && again.decisions.is_empty());
    assert!(!needs_attention(&rows, &layout, &view, &approving));
    assert!(needs_attention(&rows, &layout, &view, &policy()), "with approval off it goes ahead");
    assert_eq!(plan(&rows, &layout, &anchors, &|_| false, &view, &policy(), &mut keys()).creates.len(), 1);

    // A yes (or a ticked box) for this preview: the idle check notices, and the row is drafted.
    let mut approved = rows.clone();
    approved[1][20] = Cell::Bool(true);
    assert!(needs_attention(&approved, &layout, &view, &approving));
    assert_eq!(plan(&approved, &layout, &anchors, &|_| false, &view, &approving, &mut keys()).creates.len(), 1);
    let other_config = Policy { config_fp: "other".into(), ..approving.clone() };
    assert!(plan(&approved, &layout, &anchors, &|_| false, &view, &other_config, &mut keys()).creates.is_empty());

    // Changed with its yes on: shown again, and the yes is stale.
    let mut changed = approved.clone();
    changed[1][7] = Cell::Number("1500".into());
    let reshown = plan(&changed, &layout, &anchors, &|_| false, &view, &approving, &mut keys());
    assert!(reshown.creates.is_empty(), "nothing from content nobody approved");
    let stale = reshown.decisions[0].clone();
    assert_eq!(stale.content_fp, format!("{}{STALE}", content_fingerprint(&changed[1], &layout)));
    assert!(stale.error.as_deref().is_some_and(|e| e.starts_with("the row changed since it was approved")));
    assert!(stale.preview.as_deref().is_some_and(|p| p.contains(", 1,500.00,")));

    // The stale yes never counts, and the idle check lets it wait for the person...
    let view = StoreView::new(vec![stale], Vec::new());
    let waiting = plan(&changed, &layout, &anchors, &|_| false, &view, &approving, &mut keys());
    assert!(waiting.creates.is_empty() && waiting.decisions.is_empty());
    assert!(!needs_attention(&changed, &layout, &view, &approving));
    // ...who clears it: the row asks again, and a yes after that counts.
    let mut cleared = changed.clone();
    cleared[1][20] = Cell::Empty;
    assert!(needs_attention(&cleared, &layout, &view, &approving));
    let asked = plan(&cleared, &layout, &anchors, &|_| false, &view, &approving, &mut keys());
    assert_eq!(asked.decisions[0].content_fp, content_fingerprint(&changed[1], &layout));
    let view = StoreView::new(vec![asked.decisions[0].clone()], Vec::new());
    assert_eq!(plan(&changed, &layout, &anchors, &|_| false, &view, &approving, &mut keys()).creates.len(), 1);
}
