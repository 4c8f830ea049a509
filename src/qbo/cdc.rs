//! Learning what changed in QuickBooks: change data capture, and reading documents by id.
//!
//! `GET …/cdc?entities=Invoice,Bill,Payment,BillPayment&changedSince=…` answers one
//! `QueryResponse` per entity (`{}` when nothing changed), full objects for live records and
//! `{"status":"Deleted","Id":…}` for deleted ones, at most 1,000 objects in all, with no paging
//! (reference §1.3). [`QboClient::cdc`] reads that into typed [`Change`]s and says how many
//! objects came back, so the window policy (`crate::payments::window`) can tell a full answer.
//! A `changedSince` older than QuickBooks allows comes back as [`CdcOutcome::TooOld`], a
//! decision of its own, not an error.
//!
//! After an outage longer than CDC's look-back, [`QboClient::docs_by_ids`] reads documents by
//! id (`Id IN (…)` in chunks, every page). Each CDC poll and each page is one metered call.

use std::collections::HashSet;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use reqwest::Method;
use serde_json::Value;

use super::client::{Call, QboClient};
use super::error::{Op, QboError};
use super::ledger::{DocState, PaymentKind, PaymentState, last_updated, text};
use super::model::DocKind;
use super::pacing::Lane;
use super::query::{self, Literal, Select};

/// The entities qbsync asks CDC about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CdcEntity {
    Invoice,
    Bill,
    Payment,
    BillPayment,
}

impl CdcEntity {
    pub const ALL: [CdcEntity; 4] = [CdcEntity::Invoice, CdcEntity::Bill, CdcEntity::Payment, CdcEntity::BillPayment];

    pub fn name(self) -> &'static str {
        match self {
            CdcEntity::Invoice => "Invoice",
            CdcEntity::Bill => "Bill",
            CdcEntity::Payment => "Payment",
            CdcEntity::BillPayment => "BillPayment",
        }
    }
}

/// One changed object.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Doc(DocState),
    Payment(PaymentState),
    /// Reported deleted. CDC has been seen reporting deletions right after plain updates
    /// (reference §1.3): confirm with a read failing 610 before telling the row.
    Deleted {
        entity: CdcEntity,
        id: String,
        last_updated: Option<DateTime<FixedOffset>>,
    },
}

/// A CDC answer.
#[derive(Debug, Clone, PartialEq)]
pub struct CdcAnswer {
    pub changes: Vec<Change>,
    /// Objects in the answer, all entities together; 1,000 means it was probably cut short.
    pub objects: usize,
    /// QuickBooks' clock when it answered (the envelope's `time`), for the next window.
    pub answered_at: Option<DateTime<FixedOffset>>,
}

/// What a CDC poll came to.
#[derive(Debug, Clone, PartialEq)]
pub enum CdcOutcome {
    Answer(CdcAnswer),
    /// `changedSince` is older than QuickBooks' look-back: read the documents by id instead.
    TooOld,
}

impl QboClient {
    /// Asks what changed in `entities` since `changed_since`.
    pub async fn cdc(&self, entities: &[CdcEntity], changed_since: DateTime<Utc>) -> Result<CdcOutcome, QboError> {
        let names: Vec<&str> = entities.iter().map(|e| e.name()).collect();
        let since = changed_since.to_rfc3339_opts(SecondsFormat::Secs, true);
        let call = Call {
            label: "cdc",
            method: Method::GET,
            url: self.url(&["cdc"], &[("entities", &names.join(",")), ("changedSince", &since)]),
            body: None,
            op: Op::Read,
            lane: Lane::Single,
        };
        match self.execute(&call).await {
            Ok(answer) => {
                read_cdc(&answer, entities).map(CdcOutcome::Answer).map_err(|reason| QboError::Protocol { reason })
            }
            Err(QboError::Rejected { faults })
                if faults.iter().any(|f| f.detail.as_deref().is_some_and(|d| d.contains("older than"))) =>
            {
                Ok(CdcOutcome::TooOld)
            }
            Err(error) => Err(error),
        }
    }

    /// The documents of `kind` with these ids, as QuickBooks holds them now (`Id IN (…)` in
    /// chunks, every page). An id missing from the answer was deleted (or never existed).
    pub async fn docs_by_ids(&self, kind: DocKind, ids: &[String]) -> Result<Vec<DocState>, QboError> {
        let mut seen = HashSet::new();
        let mut literals = Vec::new();
        for id in ids.iter().filter(|id| seen.insert(id.as_str())) {
            literals
                .push(Literal::new(id).map_err(|e| QboError::InvalidRequest { reason: format!("id {id:?}: {e}") })?);
        }
        let mut docs = Vec::new();
        for chunk in query::chunk(literals) {
            let select = Select::from(kind.entity()).is_in("Id", &chunk);
            for entity in self.query_all(&select, kind.entity()).await? {
                docs.push(DocState::from_entity(kind, &entity).map_err(|reason| QboError::Protocol { reason })?);
            }
        }
        Ok(docs)
    }

    /// Reads one payment (to learn its date when a document's `LinkedTxn` names it).
    pub async fn read_payment(&self, kind: PaymentKind, id: &str) -> Result<PaymentState, QboError> {
        let call = Call {
            label: "read",
            method: Method::GET,
            url: self.url(&[kind.resource(), id], &[]),
            body: None,
            op: Op::Read,
            lane: Lane::Single,
        };
        let answer = self.execute(&call).await?;
        answer
            .get(kind.entity())
            .ok_or_else(|| format!("the answer has no {}", kind.entity()))
            .and_then(|e| PaymentState::from_entity(kind, e))
            .map_err(|reason| QboError::Protocol { reason })
    }
}

/// Reads a `CDCResponse` envelope.
fn read_cdc(answer: &Value, asked: &[CdcEntity]) -> Result<CdcAnswer, String> {
    let responses = answer
        .pointer("/CDCResponse/0/QueryResponse")
        .and_then(Value::as_array)
        .ok_or("the CDC answer has no CDCResponse[0].QueryResponse list")?;
    let mut changes = Vec::new();
    let mut objects = 0;
    for response in responses {
        for entity in asked {
            let Some(items) = response.get(entity.name()).and_then(Value::as_array) else { continue };
            objects += items.len();
            for item in items {
                changes.push(read_change(*entity, item)?);
            }
        }
    }
    let answered_at = answer.get("time").and_then(Value::as_str).and_then(|t| DateTime::parse_from_rfc3339(t).ok());
    Ok(CdcAnswer { changes, objects, answered_at })
}

fn read_change(entity: CdcEntity, item: &Value) -> Result<Change, String> {
    if item.get("status").and_then(Value::as_str) == Some("Deleted") {
        let id = text(item, "Id").ok_or_else(|| format!("a deleted {} without Id", entity.name()))?;
        return Ok(Change::Deleted { entity, id, last_updated: last_updated(item) });
    }
    Ok(match entity {
        CdcEntity::Invoice => Change::Doc(DocState::from_entity(DocKind::Invoice, item)?),
        CdcEntity::Bill => Change::Doc(DocState::from_entity(DocKind::Bill, item)?),
        CdcEntity::Payment => Change::Payment(PaymentState::from_entity(PaymentKind::Payment, item)?),
        CdcEntity::BillPayment => Change::Payment(PaymentState::from_entity(PaymentKind::BillPayment, item)?),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_documented_cdc_answer_reads_changes_deletions_and_empty_entities() {
        let answer = json!({"CDCResponse":[{"QueryResponse":[
            {"Invoice":[{"Id":"64","SyncToken":"2","TotalAmt":10,"Balance":4},
                        {"domain":"QBO","status":"Deleted","Id":"65","MetaData":{"LastUpdatedTime":"2016-04-13T07:34:31-07:00"}}],
             "startPosition":1,"maxResults":2,"totalCount":2},
            {},
            {"Payment":[{"Id":"70","TotalAmt":6,"Line":[{"Amount":6,"LinkedTxn":[{"TxnId":"64","TxnType":"Invoice"}]}]}],
             "startPosition":1,"maxResults":1}]}],
            "time":"2016-04-13T07:52:34.949-07:00"});
        let read = read_cdc(&answer, &[CdcEntity::Invoice, CdcEntity::Bill, CdcEntity::Payment]).unwrap();
        assert_eq!(read.objects, 3);
        assert_eq!(read.answered_at, DateTime::parse_from_rfc3339("2016-04-13T07:52:34.949-07:00").ok());
        assert!(matches!(&read.changes[0], Change::Doc(doc) if doc.id == "64" && doc.balance == 4.into()));
        assert!(
            matches!(&read.changes[1], Change::Deleted { entity: CdcEntity::Invoice, id, last_updated: Some(_) } if id == "65")
        );
        assert!(matches!(&read.changes[2], Change::Payment(p) if p.applied[0].doc_id == "64"));
        assert!(read_cdc(&json!({"CDCResponse": []}), &CdcEntity::ALL).is_err());
    }
}
