//! The QuickBooks query language, as far as qbsync needs it: literals, statements, chunking.
//!
//! Names come from a spreadsheet, so they hold apostrophes (`O'Brien & Sons`), typographic quotes
//! pasted from e-mail (`O’Brien`), dashes and accents. QuickBooks' query reader accepts a string
//! literal in single quotes with `\'` for an apostrophe; it rejects `’`, `“`, en dashes and other
//! characters outside its alphabet with a lexical error (ruckus/quickbooks-ruby #54, #309;
//! intuit/QuickBooks-V3-PHP-SDK #395, #397), and how it treats a backslash is undocumented.
//!
//! The choice made here:
//! - A [`Literal`] holds only printable ASCII other than `\`; `'` is escaped as `\'`. Anything
//!   else is refused with a typed [`QueryError`] — never silently rewritten, because QuickBooks
//!   compares text exactly and a name rewritten from `O’Brien` to `O'Brien` would miss a record
//!   stored with the typographic quote.
//! - To still *find* such a value, [`search_for`] falls back to `LIKE '%fragment%'` on the
//!   longest run of characters a literal can carry; the caller then keeps only the records whose
//!   text really matches. For display names, [`same_name`] treats `’ ‘` as `'`, `“ ”` as `"`,
//!   dashes as `-` and ignores case and repeated spaces, which is the normalisation that is safe
//!   for *comparing* (it never goes on the wire).
//! - Statements go out as the body of `POST /query` (`Content-Type: application/text`), so no
//!   URL encoding can interfere with the escaping.

use std::fmt::Write as _;

/// The largest page QuickBooks serves.
pub const MAX_RESULTS: u32 = 1000;
/// At most this many values in one `IN (…)` list. QuickBooks documents no limit; peers use tens.
const CHUNK_ITEMS: usize = 50;
/// And at most this many characters of values, to keep statements short (no documented limit).
const CHUNK_CHARS: usize = 2000;
/// A `LIKE` fragment needs this many non-space characters to be worth sending.
const MIN_FRAGMENT: usize = 2;

/// Why a text cannot be a query literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{value:?} contains a backslash, which QuickBooks queries cannot carry reliably")]
    Backslash { value: String },
    #[error("{value:?} contains the control character {ch:?}")]
    Control { value: String, ch: char },
    #[error("{value:?} contains {ch:?}, which QuickBooks' query reader rejects")]
    Unsupported { value: String, ch: char },
}

/// A quoted, escaped string literal: `'O\'Brien & Sons'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Literal(String);

impl Literal {
    /// Quotes `value`, refusing characters the query reader cannot take.
    pub fn new(value: &str) -> Result<Literal, QueryError> {
        Ok(Literal(format!("'{}'", escape(value)?)))
    }

    /// `'%fragment%'` for `LIKE`.
    fn containing(fragment: &str) -> Result<Literal, QueryError> {
        Ok(Literal(format!("'%{}%'", escape(fragment)?)))
    }

    /// The literal as it appears in a statement, quotes included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn escape(value: &str) -> Result<String, QueryError> {
    let mut out = String::with_capacity(value.len() + 2);
    for ch in value.chars() {
        match ch {
            '\\' => return Err(QueryError::Backslash { value: value.to_owned() }),
            '\'' => out.push_str("\\'"),
            c if c.is_control() => return Err(QueryError::Control { value: value.to_owned(), ch: c }),
            ' '..='~' => out.push(ch),
            c => return Err(QueryError::Unsupported { value: value.to_owned(), ch: c }),
        }
    }
    Ok(out)
}

fn literal_safe(ch: char) -> bool {
    matches!(ch, ' '..='~') && ch != '\\'
}

/// How to look a value up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// `= 'value'` or a member of `IN (…)`.
    Exact(Literal),
    /// `LIKE '%fragment%'`: the answer is a superset; the caller must keep only real matches.
    Contains(Literal),
}

/// The way to find `value`; `None` when it has no usable fragment at all (e.g. only non-Latin
/// letters), in which case only a full listing can find it.
pub fn search_for(value: &str) -> Option<Search> {
    if let Ok(literal) = Literal::new(value) {
        return Some(Search::Exact(literal));
    }
    let fragment = value
        .split(|c: char| !literal_safe(c))
        .max_by_key(|piece| piece.chars().filter(|c| !c.is_whitespace()).count())?;
    if fragment.chars().filter(|c| !c.is_whitespace()).count() < MIN_FRAGMENT {
        return None;
    }
    Literal::containing(fragment).ok().map(Search::Contains)
}

/// Whether two display names are the same for a person: typographic quotes and dashes, case and
/// repeated or surrounding spaces are ignored.
pub fn same_name(a: &str, b: &str) -> bool {
    name_key(a) == name_key(b)
}

/// The comparison key behind [`same_name`], for callers that index names. Names are first
/// cleaned as [`crate::domain::name::clean`] does (NFC, invisible characters removed), so a
/// pasted zero-width space or a decomposed accent never makes a second name.
pub fn name_key(name: &str) -> String {
    let mapped: String = crate::domain::name::clean(name)
        .chars()
        .map(|c| match c {
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' | '\u{2032}' | '\u{02BC}' | '`' | '\u{00B4}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' | '\u{2033}' => '"',
            '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
            c if c.is_whitespace() => ' ',
            c => c,
        })
        .collect();
    mapped.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// A `SELECT * FROM <Entity> [WHERE …]` statement under construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Select {
    entity: &'static str,
    filters: Vec<String>,
}

impl Select {
    pub fn from(entity: &'static str) -> Select {
        Select { entity, filters: Vec::new() }
    }

    /// `Active IN (true,false)`: plain queries on names return only active records.
    pub fn any_active(mut self) -> Select {
        self.filters.push("Active IN (true,false)".into());
        self
    }

    /// `field = 'value'`.
    pub fn eq(mut self, field: &'static str, value: &Literal) -> Select {
        self.filters.push(format!("{field} = {}", value.as_str()));
        self
    }

    /// `field IN ('a','b')`, or `field = 'a'` for one value.
    pub fn is_in(self, field: &'static str, values: &[Literal]) -> Select {
        if let [one] = values {
            return self.eq(field, one);
        }
        let mut list = String::new();
        for (i, v) in values.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push_str(v.as_str());
        }
        let mut select = self;
        select.filters.push(format!("{field} IN ({list})"));
        select
    }

    /// `field LIKE '%fragment%'`.
    pub fn like(mut self, field: &'static str, pattern: &Literal) -> Select {
        self.filters.push(format!("{field} LIKE {}", pattern.as_str()));
        self
    }

    /// The statement without paging.
    pub fn statement(&self) -> String {
        let mut s = format!("SELECT * FROM {}", self.entity);
        for (i, f) in self.filters.iter().enumerate() {
            let _ = write!(s, " {} {f}", if i == 0 { "WHERE" } else { "AND" });
        }
        s
    }

    /// The statement for one page; `start` is 1-based.
    pub fn page(&self, start: u32, max: u32) -> String {
        format!("{} STARTPOSITION {} MAXRESULTS {}", self.statement(), start.max(1), max.clamp(1, MAX_RESULTS))
    }
}

/// Splits literals into `IN (…)` lists of bounded size.
pub fn chunk(literals: Vec<Literal>) -> Vec<Vec<Literal>> {
    let mut chunks: Vec<Vec<Literal>> = Vec::new();
    let mut current: Vec<Literal> = Vec::new();
    let mut chars = 0;
    for literal in literals {
        let len = literal.as_str().len() + 1;
        if !current.is_empty() && (current.len() == CHUNK_ITEMS || chars + len > CHUNK_CHARS) {
            chunks.push(std::mem::take(&mut current));
            chars = 0;
        }
        chars += len;
        current.push(literal);
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Literal {
        Literal::new(s).unwrap()
    }

    #[test]
    fn apostrophes_are_backslash_escaped() {
        assert_eq!(lit("O'Brien & Sons").as_str(), r"'O\'Brien & Sons'");
        assert_eq!(lit("Bob's Burger Joint").as_str(), r"'Bob\'s Burger Joint'");
        assert_eq!(lit("''").as_str(), r"'\'\''");
        assert_eq!(lit("50% off; DROP -- \"x\"").as_str(), r#"'50% off; DROP -- "x"'"#);
        assert_eq!(lit("").as_str(), "''");
    }

    #[test]
    fn characters_the_reader_cannot_take_are_refused() {
        assert_eq!(Literal::new(r"A\B"), Err(QueryError::Backslash { value: r"A\B".into() }));
        assert_eq!(Literal::new(r"O\'Brien"), Err(QueryError::Backslash { value: r"O\'Brien".into() }));
        assert_eq!(Literal::new("A\nB"), Err(QueryError::Control { value: "A\nB".into(), ch: '\n' }));
        assert_eq!(Literal::new("O’Brien"), Err(QueryError::Unsupported { value: "O’Brien".into(), ch: '’' }));
        assert_eq!(Literal::new("A – B"), Err(QueryError::Unsupported { value: "A – B".into(), ch: '–' }));
        assert_eq!(Literal::new("Café"), Err(QueryError::Unsupported { value: "Café".into(), ch: 'é' }));
    }

    #[test]
    fn unsupported_values_are_searched_by_their_longest_fragment() {
        assert_eq!(search_for("O'Brien & Sons"), Some(Search::Exact(lit("O'Brien & Sons"))));
        assert_eq!(search_for("O’Brien & Sons"), Some(Search::Contains(Literal(r"'%Brien & Sons%'".into()))));
        assert_eq!(search_for("Café Rouge"), Some(Search::Contains(Literal(r"'% Rouge%'".into()))));
        assert_eq!(search_for(r"Smith\Jones"), Some(Search::Contains(Literal(r"'%Jones%'".into()))));
        assert_eq!(search_for("“Joe’s” Diner"), Some(Search::Contains(Literal(r"'% Diner%'".into()))));
        assert_eq!(search_for("株式会社"), None);
        assert_eq!(search_for("é x"), None);
    }

    #[test]
    fn names_compare_like_a_person_reads_them() {
        assert!(same_name("O’Brien & Sons", "O'Brien & Sons"));
        assert!(same_name("  o'brien  &   SONS ", "O'Brien & Sons"));
        assert!(same_name("“Joe’s” Diner", "\"Joe's\" Diner"));
        assert!(same_name("A – B", "A - B"));
        assert!(!same_name("O'Brien & Son", "O'Brien & Sons"));
        assert_eq!(name_key("Café\u{00A0}Rouge"), "café rouge");
        assert!(same_name("Acme Corp\u{200B}", "Acme Corp"));
        assert!(same_name("U\u{308}ni\u{308}code GmbH", "Ünïcode GmbH"));
    }

    #[test]
    fn statements() {
        let names =
            Select::from("Customer").any_active().is_in("DisplayName", &[lit("O'Brien & Sons"), lit("Initech LLC")]);
        assert_eq!(
            names.page(1, 1000),
            r"SELECT * FROM Customer WHERE Active IN (true,false) AND DisplayName IN ('O\'Brien & Sons','Initech LLC') STARTPOSITION 1 MAXRESULTS 1000"
        );
        assert_eq!(
            Select::from("Invoice").is_in("DocNumber", &[lit("INV-2024-0042")]).statement(),
            "SELECT * FROM Invoice WHERE DocNumber = 'INV-2024-0042'"
        );
        assert_eq!(
            Select::from("Bill").eq("DocNumber", &lit("56789")).eq("VendorRef", &lit("81")).statement(),
            "SELECT * FROM Bill WHERE DocNumber = '56789' AND VendorRef = '81'"
        );
        assert_eq!(Select::from("Vendor").page(0, 5000), "SELECT * FROM Vendor STARTPOSITION 1 MAXRESULTS 1000");
        let Some(Search::Contains(pattern)) = search_for("O’Brien") else { panic!() };
        assert_eq!(
            Select::from("Vendor").any_active().like("DisplayName", &pattern).statement(),
            "SELECT * FROM Vendor WHERE Active IN (true,false) AND DisplayName LIKE '%Brien%'"
        );
    }

    #[test]
    fn chunks_are_bounded_by_count_and_length() {
        let many: Vec<Literal> = (0..120).map(|i| lit(&format!("INV-{i}"))).collect();
        let sizes: Vec<usize> = chunk(many).iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![50, 50, 20]);

        let long: Vec<Literal> = (0..10).map(|i| lit(&format!("{i}{}", "x".repeat(499)))).collect();
        let chunks = chunk(long);
        assert_eq!(chunks.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 3, 3, 1]);
        assert!(chunks.iter().all(|c| c.iter().map(|l| l.as_str().len() + 1).sum::<usize>() <= 2000));

        // One value longer than the budget still gets its own chunk.
        let huge = vec![lit(&"y".repeat(3000)), lit("a")];
        assert_eq!(chunk(huge).iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1]);
        assert!(chunk(Vec::new()).is_empty());
    }
}
