//! The routing map `qb_directions.json`: which `inv_from` values are money in, which money out.
//!
//! A row's `inv_from` says who issued the invoice. When it is our firm (`ACD`), money comes in
//! and the row becomes a QuickBooks **Invoice**; when it is someone we pay, money goes out and
//! it becomes a **Bill**. The map is the bookkeeper's, edited by hand, so it is matched
//! forgivingly (case, surrounding and repeated spaces ignored) but validated strictly: a name in
//! both lists, an alias pointing nowhere or an unknown key stops qbsync at start-up with the
//! file, line and fix, instead of routing money the wrong way.
//!
//! ```json
//! {"money_in": ["ACD", "ACD Training"],
//!  "money_out": ["Jane Smith Consulting", "Accelebrate"],
//!  "aliases": {"accelebrate inc": "Accelebrate", "acd llc": "ACD"}}
//! ```
//!
//! The same file also defines [`NameAliases`], the optional `qb_customers.json` and
//! `qb_vendors.json` maps from a name as written on the sheet to the QuickBooks `DisplayName`.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::domain::Fingerprinter;

/// Which way the money goes, hence which document a row becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    /// We are paid: an Invoice to the customer.
    MoneyIn,
    /// We pay: a Bill from the vendor.
    MoneyOut,
}

impl Direction {
    /// The list name in the map file.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::MoneyIn => "money_in",
            Direction::MoneyOut => "money_out",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a row goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub direction: Direction,
    /// The name as written in the list (after following an alias).
    pub canonical: String,
}

/// A map file that cannot be used. Each message names the file and says how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum DirectionsError {
    // The I/O error is told in words, not chained as a source: a chain would print it twice.
    #[error("cannot read {}: {}. {}", .path.display(), io_reason(.cause), missing_hint(.cause, .kind))]
    Unreadable { path: PathBuf, kind: MapKind, cause: io::Error },
    #[error("{origin} is not valid JSON: {message} at line {line}, column {column}. Fix the JSON (a trailing comma or a missing quote is the usual cause); the file must look like {}", .kind.example())]
    Syntax { origin: String, kind: MapKind, line: usize, column: usize, message: String },
    #[error("{origin}, line {line}, column {column}: {message}. The file must look like {}", .kind.example())]
    Shape { origin: String, kind: MapKind, line: usize, column: usize, message: String },
    #[error(
        "{origin}: \"{value}\" is listed in both money_in and money_out: remove it from the list where it does not belong"
    )]
    InBothLists { origin: String, value: String },
    #[error(
        "{origin}: the alias \"{alias}\" points to \"{target}\", which is in neither money_in nor money_out: point it at a listed name, or add \"{target}\" to a list"
    )]
    AliasTargetUnknown { origin: String, alias: String, target: String },
    #[error(
        "{origin}: the alias \"{alias}\" is itself the listed name \"{listed}\" but points to \"{target}\": remove the alias or the listed name"
    )]
    AliasShadowsName { origin: String, alias: String, listed: String, target: String },
    #[error(
        "{origin}: \"{alias}\" is given twice, pointing to \"{first}\" and to \"{second}\" (names are compared ignoring case and spaces): keep one"
    )]
    ConflictingAliases { origin: String, alias: String, first: String, second: String },
    #[error("{origin}: {place} contains a blank name: remove it")]
    BlankName { origin: String, place: &'static str },
    #[error(
        "{origin}: money_in and money_out are both empty, so no row can be routed: list your firm's names under money_in and those you pay under money_out"
    )]
    NoNames { origin: String },
    #[error("{origin}: {problem}. The file must look like {}", MapKind::NameAliases.example())]
    NotAnAliasMap { origin: String, problem: String },
}

/// Which kind of map a file is, for examples in error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapKind {
    Directions,
    NameAliases,
}

impl MapKind {
    fn example(self) -> &'static str {
        match self {
            MapKind::Directions => {
                r#"{"money_in": ["Our Firm"], "money_out": ["A Vendor"], "aliases": {"our firm llc": "Our Firm"}}"#
            }
            MapKind::NameAliases => {
                r#"{"name on the sheet": "QuickBooks DisplayName"} or {"aliases": {"name on the sheet": "QuickBooks DisplayName"}}"#
            }
        }
    }
}

fn io_reason(source: &io::Error) -> String {
    match source.kind() {
        io::ErrorKind::NotFound => "the file does not exist".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => source.to_string(),
    }
}

fn missing_hint(source: &io::Error, kind: &MapKind) -> &'static str {
    match (source.kind(), kind) {
        (io::ErrorKind::NotFound, MapKind::Directions) => {
            "Create it with your firm's names under money_in and those you pay under money_out (config/qb_directions.json in the qbsync sources is an example), or set QBSYNC_CONFIG_DIR to the directory that holds it"
        }
        (io::ErrorKind::PermissionDenied, _) => "Make the file readable by the user qbsync runs as",
        _ => "Check that the path is a readable file",
    }
}

/// The contents of `qb_directions.json`, as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectionsFile {
    money_in: Vec<String>,
    money_out: Vec<String>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    /// JSON has no comments; a `_comment` key may carry one.
    #[serde(default, rename = "_comment")]
    _comment: Option<serde_json::Value>,
}

/// The routing map, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directions {
    origin: String,
    /// normalized name → (direction, name as written)
    names: BTreeMap<String, (Direction, String)>,
    /// normalized alias → normalized listed name
    aliases: BTreeMap<String, String>,
}

impl Directions {
    /// Reads and validates the map file.
    pub fn load(path: &Path) -> Result<Directions, DirectionsError> {
        let text = std::fs::read_to_string(path).map_err(|cause| DirectionsError::Unreadable {
            path: path.to_owned(),
            kind: MapKind::Directions,
            cause,
        })?;
        Directions::from_json(&text, &path.display().to_string())
    }

    /// Validates map text; `origin` names it in errors (usually the file path).
    pub fn from_json(text: &str, origin: &str) -> Result<Directions, DirectionsError> {
        let file: DirectionsFile = parse_json(text, origin, MapKind::Directions)?;
        let mut names: BTreeMap<String, (Direction, String)> = BTreeMap::new();
        for (direction, list) in [(Direction::MoneyIn, &file.money_in), (Direction::MoneyOut, &file.money_out)] {
            for written in list {
                let key = normalize(written);
                if key.is_empty() {
                    return Err(DirectionsError::BlankName { origin: origin.to_owned(), place: direction.as_str() });
                }
                match names.get(&key) {
                    Some((other, _)) if *other != direction => {
                        return Err(DirectionsError::InBothLists {
                            origin: origin.to_owned(),
                            value: written.trim().to_owned(),
                        });
                    }
                    Some(_) => {}
                    None => {
                        names.insert(key, (direction, written.trim().to_owned()));
                    }
                }
            }
        }
        if names.is_empty() {
            return Err(DirectionsError::NoNames { origin: origin.to_owned() });
        }

        let mut aliases = BTreeMap::new();
        for (alias, target) in &file.aliases {
            let (alias_key, target_key) = (normalize(alias), normalize(target));
            if alias_key.is_empty() || target_key.is_empty() {
                return Err(DirectionsError::BlankName { origin: origin.to_owned(), place: "aliases" });
            }
            if !names.contains_key(&target_key) {
                return Err(DirectionsError::AliasTargetUnknown {
                    origin: origin.to_owned(),
                    alias: alias.clone(),
                    target: target.clone(),
                });
            }
            if let Some((_, listed)) = names.get(&alias_key)
                && alias_key != target_key
            {
                return Err(DirectionsError::AliasShadowsName {
                    origin: origin.to_owned(),
                    alias: alias.clone(),
                    listed: listed.clone(),
                    target: target.clone(),
                });
            }
            let describe = |key: &String| names.get(key).map_or_else(|| key.clone(), |(_, written)| written.clone());
            insert_alias(&mut aliases, origin, alias, alias_key, target_key, describe)?;
        }
        Ok(Directions { origin: origin.to_owned(), names, aliases })
    }

    /// Where `inv_from` goes, or `None` when the map does not name it (the row fails, naming
    /// [`Directions::origin`] as the file to edit).
    pub fn route(&self, inv_from: &str) -> Option<Route> {
        let key = normalize(inv_from);
        let key = self.aliases.get(&key).unwrap_or(&key);
        self.names.get(key).map(|(direction, canonical)| Route { direction: *direction, canonical: canonical.clone() })
    }

    /// The file the map came from, for "add it to …" messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Listed names closest to an unknown `inv_from` (at most three, best first), to suggest a
    /// likely typo fix.
    pub fn closest(&self, inv_from: &str) -> Vec<&str> {
        let key = normalize(inv_from);
        let mut scored: Vec<(f64, &str)> = self
            .names
            .iter()
            .map(|(k, (_, written))| (k, written))
            .chain(self.aliases.iter().filter_map(|(alias, target)| self.names.get(target).map(|(_, w)| (alias, w))))
            .map(|(k, written)| (strsim::jaro_winkler(&key, k), written.as_str()))
            .filter(|(score, _)| *score >= 0.85)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut out: Vec<&str> = Vec::new();
        for (_, name) in scored {
            if !out.contains(&name) && out.len() < 3 {
                out.push(name);
            }
        }
        out
    }

    /// Every listed name (as written) with its direction, for `doctor`.
    pub fn names(&self) -> impl Iterator<Item = (&str, Direction)> {
        self.names.values().map(|(direction, written)| (written.as_str(), *direction))
    }

    /// Changes whenever routing could change: a name, its spelling, its list, or an alias.
    pub fn fingerprint(&self) -> String {
        let mut fingerprinter = Fingerprinter::new("directions v1");
        for (direction, written) in self.names.values() {
            fingerprinter.add(direction.as_str(), written);
        }
        for (alias, target) in &self.aliases {
            fingerprinter.add(alias, target);
        }
        fingerprinter.finish()
    }
}

/// The key of the wrapped form of `qb_customers.json` / `qb_vendors.json`, and of a comment.
const ALIASES_KEY: &str = "aliases";
const COMMENT_KEY: &str = "_comment";

/// Reads either form of an alias file into its pairs as written: the flat map a person writes
/// first, `{"name on the sheet": "QuickBooks name"}`, or `{"aliases": {…}}`, each with an
/// optional `_comment`. A top-level `aliases` that holds an object is the wrapped form; then
/// nothing else may sit beside it, so a file half in each form is refused rather than half read.
fn alias_pairs(text: &str, origin: &str) -> Result<Vec<(String, String)>, DirectionsError> {
    let mut top: serde_json::Map<String, serde_json::Value> = parse_json(text, origin, MapKind::NameAliases)?;
    let refuse = |problem: String| DirectionsError::NotAnAliasMap { origin: origin.to_owned(), problem };
    top.remove(COMMENT_KEY);
    let entries = match top.remove(ALIASES_KEY) {
        Some(serde_json::Value::Object(wrapped)) => {
            if let Some(stray) = top.keys().next() {
                return Err(refuse(format!(
                    "\"{stray}\" sits beside \"{ALIASES_KEY}\": move it inside \"{ALIASES_KEY}\", or drop \"{ALIASES_KEY}\" and list every alias at the top level"
                )));
            }
            wrapped
        }
        // A name on the sheet that happens to be "aliases".
        Some(other) => {
            top.insert(ALIASES_KEY.to_owned(), other);
            top
        }
        None => top,
    };
    entries
        .into_iter()
        .map(|(name, target)| match target {
            serde_json::Value::String(target) => Ok((name, target)),
            other => {
                Err(refuse(format!("\"{name}\" maps to {}, not to a QuickBooks name in quotes", json_kind(&other))))
            }
        })
        .collect()
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "true or false",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a name",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Sheet name → QuickBooks `DisplayName`, from an optional file holding either
/// `{"name on the sheet": "QuickBooks DisplayName"}` or the same map under `"aliases"` (a
/// `_comment` key is allowed in both).
/// Names without an alias are used as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameAliases {
    /// normalized sheet name → DisplayName as written
    aliases: BTreeMap<String, String>,
}

impl NameAliases {
    /// Reads the file if it exists; a missing file means no aliases.
    pub fn load_optional(path: &Path) -> Result<NameAliases, DirectionsError> {
        match std::fs::read_to_string(path) {
            Ok(text) => NameAliases::from_json(&text, &path.display().to_string()),
            Err(cause) if cause.kind() == io::ErrorKind::NotFound => Ok(NameAliases::default()),
            Err(cause) => Err(DirectionsError::Unreadable { path: path.to_owned(), kind: MapKind::NameAliases, cause }),
        }
    }

    /// Validates alias-file text; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<NameAliases, DirectionsError> {
        let mut aliases = BTreeMap::new();
        for (sheet_name, display_name) in &alias_pairs(text, origin)? {
            let key = normalize(sheet_name);
            if key.is_empty() || display_name.trim().is_empty() {
                return Err(DirectionsError::BlankName { origin: origin.to_owned(), place: "aliases" });
            }
            let display = display_name.trim().to_owned();
            insert_alias(&mut aliases, origin, sheet_name, key, display, Clone::clone)?;
        }
        Ok(NameAliases { aliases })
    }

    /// The QuickBooks `DisplayName` for a name as written on the sheet (trimmed).
    pub fn resolve(&self, sheet_name: &str) -> String {
        self.aliases.get(&normalize(sheet_name)).cloned().unwrap_or_else(|| sheet_name.trim().to_owned())
    }

    /// True when the file had no aliases (or did not exist).
    pub fn is_empty(&self) -> bool {
        self.aliases.is_empty()
    }

    /// Changes whenever an alias changes.
    pub fn fingerprint(&self) -> String {
        let mut fingerprinter = Fingerprinter::new("name aliases v1");
        for (alias, target) in &self.aliases {
            fingerprinter.add(alias, target);
        }
        fingerprinter.finish()
    }
}

/// Inserts `key → value`, refusing two spellings of one alias that point to different places.
fn insert_alias(
    aliases: &mut BTreeMap<String, String>,
    origin: &str,
    written: &str,
    key: String,
    value: String,
    describe: impl Fn(&String) -> String,
) -> Result<(), DirectionsError> {
    if let Some(existing) = aliases.get(&key)
        && *existing != value
    {
        return Err(DirectionsError::ConflictingAliases {
            origin: origin.to_owned(),
            alias: written.to_owned(),
            first: describe(existing),
            second: describe(&value),
        });
    }
    aliases.insert(key, value);
    Ok(())
}

fn parse_json<T: DeserializeOwned>(text: &str, origin: &str, kind: MapKind) -> Result<T, DirectionsError> {
    // Notepad and some other editors start a UTF-8 file with a byte-order mark, which JSON
    // does not allow; it carries nothing, so it is dropped rather than refused.
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    serde_json::from_str(text).map_err(|error| {
        let (line, column) = (error.line(), error.column());
        // serde_json appends " at line L column C"; the message says it once, in words.
        let full = error.to_string();
        let message = full.strip_suffix(&format!(" at line {line} column {column}")).unwrap_or(&full).to_owned();
        let origin = origin.to_owned();
        match error.classify() {
            serde_json::error::Category::Data => DirectionsError::Shape { origin, kind, line, column, message },
            _ => DirectionsError::Syntax { origin, kind, line, column, message },
        }
    })
}

/// How names are compared: trimmed, inner white space collapsed to one space, lowercase.
pub fn normalize(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEMO: &str = r#"{"money_in": ["ACD", "ACD Training"], "money_out": ["Jane Smith Consulting", "Bob's Burger Joint", "Northwind Traders", "Accelebrate"], "aliases": {"accelebrate inc": "Accelebrate", "acd llc": "ACD"}}"#;

    fn demo() -> Directions {
        Directions::from_json(DEMO, "config/qb_directions.json").unwrap()
    }

    fn route(d: &Directions, name: &str) -> Option<(Direction, String)> {
        d.route(name).map(|r| (r.direction, r.canonical))
    }

    #[test]
    fn routes_case_and_space_insensitively_through_aliases() {
        let d = demo();
        let table = [
            ("ACD", Some((Direction::MoneyIn, "ACD"))),
            ("  acd ", Some((Direction::MoneyIn, "ACD"))),
            ("acd   training", Some((Direction::MoneyIn, "ACD Training"))),
            ("ACD LLC", Some((Direction::MoneyIn, "ACD"))),
            ("Accelebrate  Inc", Some((Direction::MoneyOut, "Accelebrate"))),
            ("bob's burger joint", Some((Direction::MoneyOut, "Bob's Burger Joint"))),
            ("Jane\u{a0}Smith Consulting", Some((Direction::MoneyOut, "Jane Smith Consulting"))),
            ("Initech", None),
            ("", None),
        ];
        for (name, want) in table {
            assert_eq!(route(&d, name), want.map(|(dir, c)| (dir, c.to_owned())), "{name:?}");
        }
    }

    #[test]
    fn a_name_in_both_lists_is_refused() {
        let err = Directions::from_json(r#"{"money_in": ["ACD"], "money_out": [" acd "]}"#, "map.json").unwrap_err();
        assert!(matches!(&err, DirectionsError::InBothLists { value, .. } if value == "acd"));
        assert!(err.to_string().starts_with("map.json: \"acd\" is listed in both money_in and money_out"), "{err}");
    }

    #[test]
    fn bad_json_names_file_line_and_column() {
        let text = "{\n  \"money_in\": [\"ACD\",],\n  \"money_out\": []\n}";
        let err = Directions::from_json(text, "/etc/qbsync/qb_directions.json").unwrap_err();
        let DirectionsError::Syntax { line, .. } = &err else { panic!("{err:?}") };
        assert_eq!(*line, 2);
        let message = err.to_string();
        assert!(message.starts_with("/etc/qbsync/qb_directions.json is not valid JSON: "), "{message}");
        assert!(message.contains("at line 2, column") && message.contains("trailing comma"), "{message}");
    }

    #[test]
    fn unknown_keys_and_wrong_shapes_are_refused() {
        let err =
            Directions::from_json(r#"{"money_in": [], "money_out": [], "moneyIn": ["ACD"]}"#, "m.json").unwrap_err();
        assert!(matches!(&err, DirectionsError::Shape { line: 1, .. }), "{err:?}");
        assert!(err.to_string().contains("unknown field `moneyIn`"), "{err}");

        let err = Directions::from_json(r#"{"money_in": "ACD", "money_out": []}"#, "m.json").unwrap_err();
        assert!(matches!(err, DirectionsError::Shape { .. }), "{err:?}");

        let err = Directions::from_json(r#"{"money_in": ["ACD"]}"#, "m.json").unwrap_err();
        assert!(err.to_string().contains("missing field `money_out`"), "{err}");
    }

    #[test]
    fn a_comment_key_is_allowed() {
        let d = Directions::from_json(r#"{"_comment": "ours", "money_in": ["ACD"], "money_out": []}"#, "m").unwrap();
        assert_eq!(route(&d, "acd"), Some((Direction::MoneyIn, "ACD".into())));
    }

    #[test]
    fn aliases_must_point_at_listed_names_and_not_shadow_them() {
        let err =
            Directions::from_json(r#"{"money_in": ["ACD"], "money_out": [], "aliases": {"x": "Y"}}"#, "m").unwrap_err();
        assert!(matches!(err, DirectionsError::AliasTargetUnknown { .. }), "{err:?}");

        let text = r#"{"money_in": ["ACD"], "money_out": ["Bob"], "aliases": {"acd": "Bob"}}"#;
        let err = Directions::from_json(text, "m").unwrap_err();
        assert!(matches!(err, DirectionsError::AliasShadowsName { .. }), "{err:?}");

        let text = r#"{"money_in": ["ACD"], "money_out": ["Bob"], "aliases": {"b": "Bob", " B": "ACD"}}"#;
        let err = Directions::from_json(text, "m").unwrap_err();
        assert!(matches!(err, DirectionsError::ConflictingAliases { .. }), "{err:?}");

        // A redundant alias of a name to itself is harmless.
        let text = r#"{"money_in": ["ACD"], "money_out": [], "aliases": {"ACD": "acd"}}"#;
        assert!(Directions::from_json(text, "m").is_ok());
    }

    #[test]
    fn blank_and_empty_maps_are_refused() {
        let err = Directions::from_json(r#"{"money_in": [" "], "money_out": []}"#, "m").unwrap_err();
        assert!(matches!(err, DirectionsError::BlankName { place: "money_in", .. }), "{err:?}");
        let err = Directions::from_json(r#"{"money_in": [], "money_out": []}"#, "m").unwrap_err();
        assert!(matches!(err, DirectionsError::NoNames { .. }), "{err:?}");
    }

    #[test]
    fn fingerprint_follows_routing_not_formatting() {
        let same = r#"{
            "money_out": ["Accelebrate", "Northwind Traders", "Bob's Burger Joint", "Jane Smith Consulting"],
            "money_in": ["ACD Training", "ACD", "ACD"],
            "aliases": {"ACD  LLC": "acd", "accelebrate inc": "Accelebrate"}
        }"#;
        assert_eq!(demo().fingerprint(), Directions::from_json(same, "other").unwrap().fingerprint());
        let moved =
            DEMO.replace(r#""ACD Training"], "money_out": ["#, r#""ACD Training"], "money_out": ["ACD Consulting", "#);
        assert_ne!(demo().fingerprint(), Directions::from_json(&moved, "m").unwrap().fingerprint());
        let respelled = DEMO.replace(r#"["Jane Smith Consulting""#, r#"["Jane Smith consulting""#);
        assert_ne!(demo().fingerprint(), Directions::from_json(&respelled, "m").unwrap().fingerprint());
    }

    #[test]
    fn closest_names_suggest_typo_fixes() {
        let d = demo();
        assert_eq!(d.closest("Northwind Trader"), ["Northwind Traders"]);
        assert_eq!(d.closest("acelebrate inc"), ["Accelebrate"]);
        assert!(d.closest("Globex Corporation").is_empty());
    }

    #[test]
    fn load_names_the_missing_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qb_directions.json");
        let err = Directions::load(&path).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains("QBSYNC_CONFIG_DIR"), "{err}");
        std::fs::write(&path, DEMO).unwrap();
        let loaded = Directions::load(&path).unwrap();
        assert_eq!(loaded.origin(), path.display().to_string());
        assert_eq!(loaded.fingerprint(), demo().fingerprint());
    }

    #[test]
    fn name_aliases_resolve_and_are_optional() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qb_customers.json");
        let none = NameAliases::load_optional(&path).unwrap();
        assert!(none.is_empty());
        assert_eq!(none.resolve(" O'Brien & Sons "), "O'Brien & Sons");

        std::fs::write(&path, r#"{"_comment": "sheet name → QBO", "aliases": {"obrien  and sons": "O'Brien & Sons"}}"#)
            .unwrap();
        let aliases = NameAliases::load_optional(&path).unwrap();
        assert_eq!(aliases.resolve("OBrien and Sons"), "O'Brien & Sons");
        assert_eq!(aliases.resolve("Acme Training Co"), "Acme Training Co");
        assert_ne!(aliases.fingerprint(), none.fingerprint());

        std::fs::write(&path, r#"{"alias": {}}"#).unwrap();
        let err = NameAliases::load_optional(&path).unwrap_err().to_string();
        assert!(err.contains("\"alias\" maps to an object") && err.contains(r#"{"aliases": {"#), "{err}");
    }

    #[test]
    fn alias_files_may_be_a_flat_map_or_wrapped_in_aliases_and_mean_the_same() {
        let flat = NameAliases::from_json(
            r#"{"_comment": "x", "obrien and sons": "O'Brien & Sons", "aliases": "Aliases Inc"}"#,
            "f",
        )
        .unwrap();
        assert_eq!(flat.resolve("OBrien  and Sons"), "O'Brien & Sons");
        assert_eq!(flat.resolve("ALIASES"), "Aliases Inc", "a sheet name may be \"aliases\" in the flat form");
        let wrapped = NameAliases::from_json(
            r#"{"aliases": {"obrien and sons": "O'Brien & Sons", "aliases": "Aliases Inc"}, "_comment": "x"}"#,
            "f",
        )
        .unwrap();
        assert_eq!(flat, wrapped);
        assert_eq!(flat.fingerprint(), wrapped.fingerprint(), "rewriting the file in the other form changes nothing");
        assert!(NameAliases::from_json("{}", "f").unwrap().is_empty());
    }

    #[test]
    fn anything_else_in_an_alias_file_is_refused_with_both_forms_shown() {
        let refused = |text: &str| NameAliases::from_json(text, "qb_vendors.json").unwrap_err();
        let both = r#"{"name on the sheet": "QuickBooks DisplayName"} or {"aliases": {"#;

        let err = refused(r#"{"aliases": {"a": "A"}, "b": "B"}"#);
        assert!(matches!(&err, DirectionsError::NotAnAliasMap { .. }), "{err:?}");
        assert!(err.to_string().contains(r#""b" sits beside "aliases""#) && err.to_string().contains(both), "{err}");

        let err = refused(r#"{"northwind": 7}"#).to_string();
        assert!(err.starts_with(r#"qb_vendors.json: "northwind" maps to a number"#) && err.contains(both), "{err}");
        let err = refused(r#"{"aliases": {"northwind": ["Northwind Traders"]}}"#).to_string();
        assert!(err.contains(r#""northwind" maps to a list"#), "{err}");

        let err = refused(r#"[{"northwind": "Northwind Traders"}]"#);
        assert!(matches!(&err, DirectionsError::Shape { line: 1, .. }), "{err:?}");
        assert!(err.to_string().contains(both), "{err}");
        assert!(matches!(refused(r#"{"northwind": " "}"#), DirectionsError::BlankName { .. }));
        assert!(matches!(refused(r#"{"northwind": "#), DirectionsError::Syntax { .. }));
    }
}
