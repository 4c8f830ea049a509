//! The dry run: what a pass would send and write, with nothing changed anywhere — not the
//! sheet, not QuickBooks, not the store. Rows without anchors are judged as if their claims
//! had been verified.

use crate::store::{Kind, RowStatus};

use super::error::PassError;
use super::pass::Pass;
use super::payload::{self, party_kind};
use super::picture::Picture;
use super::plan::{self, Anchor, Plan};
use super::report::{DryRunDoc, PassReport};

impl Pass<'_> {
    pub(super) async fn dry_run(
        &self,
        plan: Plan,
        picture: &Picture,
        mut report: PassReport,
    ) -> Result<PassReport, PassError> {
        let (view, policy) = (&self.view, self.policy);
        report.failed = plan.decisions.iter().filter(|d| d.status == RowStatus::Failed).count();
        report.skipped = plan.stats.skipped;
        report.copies = plan.stats.copies;
        report.in_review = plan.stats.in_review;
        // Rows without anchors would be claimed first; judge them as if they had been.
        let mut drafts = plan.creates.clone();
        let mut decisions = plan.decisions.clone();
        if !plan.claims.is_empty() {
            let mut virtual_view = view.clone();
            let mut anchors: Vec<Anchor> = Vec::new();
            for (i, claim) in plan.claims.iter().enumerate() {
                virtual_view.rows.insert(claim.key.as_str().into(), claim.record.clone());
                anchors.push(Anchor { metadata_id: -(i as i32) - 1, key: claim.key.clone(), row: claim.row });
            }
            let mut counter = 0;
            let mut next = || {
                counter += 1;
                format!("dry{counter}")
            };
            let quiet = |row| picture.is_quiet(row);
            let replanned =
                plan::plan(&picture.rows, &picture.layout, &anchors, &quiet, &virtual_view, policy, &mut next);
            report.in_review += replanned.stats.in_review;
            drafts.extend(replanned.creates);
            decisions.extend(replanned.decisions);
        }
        for decision in &decisions {
            let mut line = format!("{}: {}", decision.status, decision.error.clone().unwrap_or_default());
            if let Some(preview) = &decision.preview {
                line += &format!(" (preview: {preview})");
            }
            report.dry_run_writes.push((decision.sheet_row.unwrap_or_default() as u32, line));
        }
        let tax = match drafts.is_empty() {
            true => None,
            false => Some(self.company.tax_plan(self.qbo, policy).await?),
        };
        for draft in drafts {
            let kind = party_kind(draft.kind);
            let found = self.qbo.find_parties(kind, std::slice::from_ref(&draft.party)).await?;
            let sheet_rows = draft.rows.iter().map(|r| r.index + 1).collect();
            let built = tax.as_ref().map(|tax| (found.iter().find(|p| p.active), tax));
            match built {
                Some((Some(party), tax)) => {
                    let (payload, problem) = match payload::build(&draft, &party.id, policy, tax) {
                        Ok(doc) => (Some(doc.to_json()), None),
                        Err(unbuildable) => (None, Some(unbuildable.to_string())),
                    };
                    report.dry_run.push(DryRunDoc {
                        kind: draft.kind,
                        doc_number: draft.doc_number.clone(),
                        sheet_rows,
                        payload,
                        problem,
                    })
                }
                _ => report.dry_run.push(DryRunDoc {
                    kind: draft.kind,
                    doc_number: draft.doc_number.clone(),
                    sheet_rows,
                    payload: None,
                    problem: Some(format!(
                        "\"{}\" is not an active {} in QuickBooks",
                        draft.party,
                        if draft.kind == Kind::Invoice { "customer" } else { "vendor" }
                    )),
                }),
            }
        }
        Ok(report)
    }
}
