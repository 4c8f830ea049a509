//! Customer and vendor names → QuickBooks ids.
//!
//! Names are matched by `DisplayName` after the alias files, cached in the store, and looked
//! up in one `IN (…)` query per pass for the rest (plus, for names QuickBooks does not know in
//! the role wanted, one more for the other role and one listing for suggestions — however many
//! names are missing). A name QuickBooks does not know fails its
//! rows with the closest existing names as suggestions — unless creating missing names is on.
//! QuickBooks shares one namespace across customers, vendors and employees (fault 6240), so a
//! vendor name that exists as a customer gets a message that says exactly that.

use sha2::{Digest, Sha256};

use crate::domain::invisible::escape_invisible;
use crate::qbo::query::{name_key, same_name};
use crate::qbo::{Party, PartyKind, QboClient, QboError, RequestId};
use crate::store::Store;

/// How many "did you mean" names a message offers.
const SUGGESTIONS: usize = 3;

/// Resolves `names` of one kind. Each name maps to its id, or to the sentence its rows fail with.
pub async fn resolve(
    qbo: &QboClient,
    store: &Store,
    kind: PartyKind,
    names: &[String],
    create_missing: bool,
) -> Result<Vec<(String, Result<String, String>)>, QboError> {
    let kind_key = kind_label(kind);
    let mut outcomes = Vec::new();
    let mut unknown = Vec::new();
    for name in names {
        match store.cached_name(kind_key, &normalise(name)) {
            Ok(Some((id, _))) => outcomes.push((name.clone(), Ok(id))),
            _ => unknown.push(name.clone()),
        }
    }
    if unknown.is_empty() {
        return Ok(outcomes);
    }
    let found = qbo.find_parties(kind, &unknown).await?;
    // Names QuickBooks does not know in this role may be held in the other one (the namespace
    // is shared): one query asks about all of them.
    let missing: Vec<String> =
        unknown.iter().filter(|name| !found.iter().any(|p| same_name(&p.display_name, name))).cloned().collect();
    let other_role = if missing.is_empty() { Vec::new() } else { qbo.find_parties(other(kind), &missing).await? };
    let mut everyone: Option<Vec<Party>> = None;
    for name in unknown {
        let matched = found.iter().find(|p| same_name(&p.display_name, &name));
        let outcome = match matched {
            Some(party) => adopt(store, kind, &name, party),
            None => match other_role.iter().find(|p| same_name(&p.display_name, &name)) {
                Some(holder) => Err(clash_message(kind, &holder.display_name)),
                None => {
                    // QuickBooks compares names exactly, so a name it holds with an invisible
                    // character or in another Unicode form is only found in the full listing;
                    // it is matched there before anything is created beside it.
                    let all = match &everyone {
                        Some(all) => all,
                        None => everyone.insert(qbo.all_parties(kind).await?),
                    };
                    match all.iter().find(|p| same_name(&p.display_name, &name)) {
                        Some(party) => adopt(store, kind, &name, party),
                        None if create_missing => create(qbo, store, kind, &name).await?,
                        None => Err(not_found(kind, &name, all)),
                    }
                }
            },
        };
        outcomes.push((name, outcome.map_err(|reason| escape_invisible(&reason).into_owned())));
    }
    Ok(outcomes)
}

/// The outcome of finding `party` for `name`: its id when active (and cached), else why not.
fn adopt(store: &Store, kind: PartyKind, name: &str, party: &Party) -> Result<String, String> {
    if !party.active {
        return Err(format!(
            "{} \"{}\" is inactive in QuickBooks: make it active again in QuickBooks, or change the row",
            kind_label(kind),
            party.display_name
        ));
    }
    // A failed cache write only costs a lookup next pass.
    let _ = store.cache_name(kind_label(kind), &normalise(name), &party.id, &party.display_name, true);
    Ok(party.id.clone())
}

/// The role a name holds when it is not the one wanted.
fn other(kind: PartyKind) -> PartyKind {
    match kind {
        PartyKind::Customer => PartyKind::Vendor,
        PartyKind::Vendor => PartyKind::Customer,
    }
}

fn clash_message(wanted: PartyKind, name: &str) -> String {
    let (wanted, has) = match wanted {
        PartyKind::Customer => ("customer", "vendor"),
        PartyKind::Vendor => ("vendor", "customer"),
    };
    format!(
        "\"{name}\" exists in QuickBooks as a {has}, and this row needs it as a {wanted}. QuickBooks shares names between customers, vendors and employees, so create the {wanted} under a slightly different name (e.g. \"{name} (V)\") and map the sheet name to it in config/qb_{wanted}s.json"
    )
}

async fn create(
    qbo: &QboClient,
    store: &Store,
    kind: PartyKind,
    name: &str,
) -> Result<Result<String, String>, QboError> {
    let digest = hex::encode(Sha256::digest(format!("{}:{}", kind_label(kind), normalise(name)).as_bytes()));
    let request_id = RequestId::parse(&format!("name-{}", &digest[..24]))
        .map_err(|e| QboError::Protocol { reason: e.to_string() })?;
    match qbo.create_party(kind, name, &request_id).await {
        Ok(party) => {
            let _ = store.cache_name(kind_label(kind), &normalise(name), &party.id, &party.display_name, true);
            tracing::info!(kind = kind_label(kind), name, qbo_id = %party.id, "created missing name in QuickBooks");
            Ok(Ok(party.id))
        }
        Err(QboError::Rejected { faults }) if faults.iter().any(|f| f.code == "6240") => {
            Ok(Err(clash_message(kind, name)))
        }
        // The name is held by someone QuickBooks would not list as this kind (an employee, an
        // inactive record): the rows' problem, never the pass's.
        Err(duplicate @ QboError::DuplicateName { .. }) => Ok(Err(duplicate.for_bookkeeper())),
        Err(QboError::Rejected { faults }) => {
            // QuickBooks' sentence speaks of "the document"; it was the name that was refused.
            let details: Vec<String> = faults
                .iter()
                .map(|f| {
                    let field = f.element.as_deref().map(|e| format!(" (field {e})")).unwrap_or_default();
                    let why = f.detail.as_deref().filter(|d| !d.trim().is_empty()).unwrap_or(&f.message);
                    format!("{}{field}", why.split_whitespace().collect::<Vec<_>>().join(" "))
                })
                .collect();
            Ok(Err(format!(
                "QuickBooks refused to create the {} \"{name}\": {}. Correct the name in the row, or map it to an existing QuickBooks name in config/qb_{}s.json",
                kind_label(kind),
                details.join("; ").trim_end_matches('.'),
                kind_label(kind)
            )))
        }
        Err(other) => Err(other),
    }
}

fn not_found(kind: PartyKind, name: &str, all: &[Party]) -> String {
    let wanted = normalise(name);
    let mut scored: Vec<(f64, &str)> = all
        .iter()
        // A name that looks the same as the one wanted is no suggestion: it would read as
        // "X is not in QuickBooks. Closest: X".
        .filter(|p| p.active && normalise(&p.display_name) != wanted)
        .map(|p| (strsim::jaro_winkler(&wanted, &normalise(&p.display_name)), p.display_name.as_str()))
        .filter(|(score, _)| *score >= 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let label = kind_label(kind);
    let mut message = format!("{label} \"{name}\" is not in QuickBooks.");
    if !scored.is_empty() {
        let names: Vec<String> = scored.iter().take(SUGGESTIONS).map(|(_, n)| format!("\"{n}\"")).collect();
        message += &format!(" Closest: {}.", names.join(", "));
    }
    message += &format!(
        " Fix the name in the sheet, map it to the QuickBooks name in config/qb_{label}s.json, or set QBSYNC_CREATE_MISSING_NAMES=true to have qbsync create it"
    );
    message
}

fn kind_label(kind: PartyKind) -> &'static str {
    match kind {
        PartyKind::Customer => "customer",
        PartyKind::Vendor => "vendor",
    }
}

/// The form names are cached and compared by: Unicode NFC, invisible characters removed,
/// typographic quotes and dashes, case and spacing ignored (see [`crate::domain::name`]).
pub fn normalise(name: &str) -> String {
    name_key(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn party(name: &str) -> Party {
        Party { id: "1".into(), display_name: name.into(), active: true }
    }

    #[test]
    fn suggestions_name_the_closest_customers() {
        let all = [party("Globex Corporation"), party("Initech LLC"), party("Acme Training Co")];
        let message = not_found(PartyKind::Customer, "Globex Corp", &all);
        assert!(message.contains("\"Globex Corporation\""), "{message}");
        assert!(!message.contains("Initech"), "{message}");
        assert!(message.contains("qb_customers.json"));
    }

    #[test]
    fn normalise_ignores_case_and_spacing() {
        assert_eq!(normalise("  O'Brien   &  Sons "), "o'brien & sons");
    }

    #[test]
    fn clash_explains_the_shared_namespace() {
        let message = clash_message(PartyKind::Vendor, "Acme Training Co");
        assert!(message.contains("as a customer"));
        assert!(message.contains("qb_vendors.json"));
    }

    #[test]
    fn a_look_alike_is_never_offered_as_the_closest_name() {
        let all = [party("Ünïcode GmbH"), party("Unicode AG")];
        let message = not_found(PartyKind::Customer, "U\u{308}ni\u{308}code GmbH", &all);
        assert!(!message.contains("\"Ünïcode GmbH\""), "{message}");
        assert!(message.contains("\"Unicode AG\""), "{message}");
    }

    #[test]
    fn normalise_removes_invisible_characters_and_composes_accents() {
        assert_eq!(normalise("Acme Corp\u{200B}"), normalise("Acme Corp"));
        assert_eq!(normalise("\u{FEFF}U\u{308}ni\u{308}code GmbH"), normalise("Ünïcode GmbH"));
    }
}
