//! The QBO query language: parser, validator and evaluator.
//!
//! `SELECT * | count(*) FROM <Entity> [WHERE <prop> <op> <value> [AND …]] [ORDERBY <prop> [ASC|DESC], …]
//! [STARTPOSITION n] [MAXRESULTS n]`, with operators `=`, `<`, `>`, `<=`, `>=`, `IN (…)` and
//! `LIKE` (`%` wildcard), string literals in single quotes with `\'` for a quote. No `OR`, no
//! joins. Keywords and property names are case-insensitive; entity names are not.
//!
//! Clients get this wrong in characteristic ways (an unescaped apostrophe in `O'Brien`, a curly
//! quote pasted from a sheet, `STARTPOSITION 0`), so the errors imitate QBO's: 4000 with a
//! JavaCC-style "Encountered … Was expecting" detail for what does not parse, 4001 for what
//! parses but is not allowed.

use std::cmp::Ordering;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::amount;
use super::clock;
use super::company::Object;
use super::entities::{EntityKind, UNMODELLED};

/// What QBO returns when `MAXRESULTS` is omitted (reported as 100; unverified).
pub const DEFAULT_MAX_RESULTS: u64 = 100;
/// The largest page QBO returns.
pub const MAX_RESULTS_LIMIT: u64 = 1000;

/// Punctuation that QBO's lexer rejects anywhere, even inside string literals (reference §5).
const FORBIDDEN: &[char] = &['\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2013}', '\u{2014}'];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    All,
    Count,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Text(String),
    Number(Decimal),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
    In,
    Like,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    pub field: String,
    pub operator: Operator,
    /// One value, or several for `IN`.
    pub values: Vec<Literal>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// A parsed statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub selection: Selection,
    pub entity: String,
    pub conditions: Vec<Condition>,
    pub order_by: Vec<(String, Direction)>,
    pub start_position: Option<u64>,
    pub max_results: Option<u64>,
}

/// Why a statement was refused; the text is the Detail after QBO's prefix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Fault 4000, `QueryParserError: …`.
    #[error("{0}")]
    Parse(String),
    /// Fault 4001, `QueryValidationError: …`.
    #[error("{0}")]
    Invalid(String),
}

// ---------------------------------------------------------------------------------------------
// Lexer

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Text(String),
    Number(String),
    Punct(&'static str),
    Eof,
    /// A character the lexer cannot accept; carries the whole Detail.
    Lexical(String),
}

#[derive(Clone, Debug)]
struct Spanned {
    token: Token,
    image: String,
    column: usize,
}

fn lexical_error(column: usize, found: char, after: &str) -> String {
    let shown = if found.is_ascii_graphic() { found.to_string() } else { format!("\\u{:04x}", u32::from(found)) };
    format!(
        "Lexical error at line 1, column {column}.  Encountered: \"{shown}\" ({}), after : \"{after}\"",
        u32::from(found)
    )
}

fn lex(text: &str) -> Vec<Spanned> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    let push = |tokens: &mut Vec<Spanned>, token: Token, image: String, column: usize| {
        tokens.push(Spanned { token, image, column });
    };
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if FORBIDDEN.contains(&c) {
            push(&mut tokens, Token::Lexical(lexical_error(column, c, "")), c.to_string(), column);
            return tokens;
        }
        if c == '\'' {
            let mut value = String::new();
            let mut j = i + 1;
            let mut closed = false;
            while j < chars.len() {
                match chars[j] {
                    '\\' if j + 1 < chars.len() => {
                        value.push(chars[j + 1]);
                        j += 2;
                    }
                    '\'' => {
                        closed = true;
                        j += 1;
                        break;
                    }
                    forbidden if FORBIDDEN.contains(&forbidden) => {
                        let after: String = chars[i..j].iter().collect();
                        let detail = lexical_error(j + 1, forbidden, &after);
                        push(&mut tokens, Token::Lexical(detail), forbidden.to_string(), j + 1);
                        return tokens;
                    }
                    other => {
                        value.push(other);
                        j += 1;
                    }
                }
            }
            let image: String = chars[i..j].iter().collect();
            if !closed {
                let detail = format!(
                    "Lexical error at line 1, column {}.  Encountered: <EOF> after : \"{image}\"",
                    chars.len() + 1
                );
                push(&mut tokens, Token::Lexical(detail), image, column);
                return tokens;
            }
            push(&mut tokens, Token::Text(value), image, column);
            i = j;
            continue;
        }
        let starts_number = c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if starts_number {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let image: String = chars[i..j].iter().collect();
            push(&mut tokens, Token::Number(image.clone()), image, column);
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            let mut j = i + 1;
            while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_' || chars[j] == '.') {
                j += 1;
            }
            let image: String = chars[i..j].iter().collect();
            push(&mut tokens, Token::Ident(image.clone()), image, column);
            i = j;
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let punct = match two.as_str() {
            "<=" => Some("<="),
            ">=" => Some(">="),
            "!=" => Some("!="),
            "<>" => Some("<>"),
            _ => None,
        };
        if let Some(op) = punct {
            push(&mut tokens, Token::Punct(op), op.to_owned(), column);
            i += 2;
            continue;
        }
        let single = match c {
            '*' => Some("*"),
            '(' => Some("("),
            ')' => Some(")"),
            ',' => Some(","),
            '=' => Some("="),
            '<' => Some("<"),
            '>' => Some(">"),
            _ => None,
        };
        match single {
            Some(p) => push(&mut tokens, Token::Punct(p), p.to_owned(), column),
            None => {
                push(&mut tokens, Token::Lexical(lexical_error(column, c, "")), c.to_string(), column);
                return tokens;
            }
        }
        i += 1;
    }
    tokens.push(Spanned { token: Token::Eof, image: String::new(), column: chars.len() + 1 });
    tokens
}

// ---------------------------------------------------------------------------------------------
// Parser

const KEYWORDS: &[&str] = &[
    "select",
    "from",
    "where",
    "and",
    "or",
    "in",
    "like",
    "orderby",
    "order",
    "by",
    "asc",
    "desc",
    "startposition",
    "maxresults",
    "count",
];

struct Parser {
    tokens: Vec<Spanned>,
    position: usize,
}

impl Parser {
    fn peek(&self) -> &Spanned {
        // The lexer always ends the list with Eof or Lexical, and the parser never moves past it.
        &self.tokens[self.position.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> Spanned {
        let token = self.peek().clone();
        if self.position < self.tokens.len() - 1 {
            self.position += 1;
        }
        token
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(&self.peek().token, Token::Ident(word) if word.eq_ignore_ascii_case(keyword))
    }

    fn at_punct(&self, punct: &str) -> bool {
        matches!(&self.peek().token, Token::Punct(p) if *p == punct)
    }

    /// QBO's "Encountered … Was expecting …" detail for the token under the cursor.
    fn error(&self, expected: &[&str]) -> QueryError {
        let found = self.peek();
        let encountered = match &found.token {
            Token::Lexical(detail) => return QueryError::Parse(detail.clone()),
            Token::Eof => format!("Encountered \"<EOF>\" at line 1, column {}.", found.column),
            token => {
                let kind = match token {
                    Token::Ident(word) if KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) => {
                        format!("\"{}\"", word.to_ascii_lowercase())
                    }
                    Token::Ident(_) => "<IDENTIFIER>".to_owned(),
                    Token::Text(_) => "<STRING_LITERAL>".to_owned(),
                    Token::Number(_) => "<NUMBER_LITERAL>".to_owned(),
                    Token::Punct(p) => format!("\"{p}\""),
                    Token::Eof | Token::Lexical(_) => String::new(),
                };
                format!("Encountered \" {kind} \"{} \"\" at line 1, column {}.", found.image, found.column)
            }
        };
        let heading = if expected.len() == 1 { "Was expecting:" } else { "Was expecting one of:" };
        let list: String = expected.iter().map(|e| format!("    {e} ...\n")).collect();
        QueryError::Parse(format!("{encountered}\n{heading}\n{list}    "))
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), QueryError> {
        if self.at_keyword(keyword) {
            self.advance();
            Ok(())
        } else {
            Err(self.error(&[&format!("\"{keyword}\"")]))
        }
    }

    fn expect_punct(&mut self, punct: &str) -> Result<(), QueryError> {
        if self.at_punct(punct) {
            self.advance();
            Ok(())
        } else {
            Err(self.error(&[&format!("\"{punct}\"")]))
        }
    }

    /// A property or entity name (not a keyword).
    fn identifier(&mut self) -> Result<String, QueryError> {
        match &self.peek().token {
            Token::Ident(word) if !KEYWORDS.contains(&word.to_ascii_lowercase().as_str()) => {
                let word = word.clone();
                self.advance();
                Ok(word)
            }
            _ => Err(self.error(&["<IDENTIFIER>"])),
        }
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        let literal = match &self.peek().token {
            Token::Text(text) => Literal::Text(text.clone()),
            Token::Number(text) => match Decimal::from_str(text) {
                Ok(number) => Literal::Number(number),
                Err(_) => return Err(self.error(&["<STRING_LITERAL>"])),
            },
            Token::Ident(word) if word.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Token::Ident(word) if word.eq_ignore_ascii_case("false") => Literal::Bool(false),
            _ => return Err(self.error(&["<STRING_LITERAL>", "<NUMBER_LITERAL>", "\"true\"", "\"false\""])),
        };
        self.advance();
        Ok(literal)
    }

    fn count(&mut self) -> Result<u64, QueryError> {
        match &self.peek().token {
            Token::Number(text) if text.chars().all(|c| c.is_ascii_digit()) => {
                let value = text.parse::<u64>().map_err(|_| self.error(&["<INTEGER>"]))?;
                self.advance();
                Ok(value)
            }
            _ => Err(self.error(&["<INTEGER>"])),
        }
    }

    fn condition(&mut self) -> Result<Condition, QueryError> {
        let field = self.identifier()?;
        let operator = match &self.peek().token {
            Token::Punct("=") => Operator::Eq,
            Token::Punct("<") => Operator::Lt,
            Token::Punct(">") => Operator::Gt,
            Token::Punct("<=") => Operator::Le,
            Token::Punct(">=") => Operator::Ge,
            Token::Ident(word) if word.eq_ignore_ascii_case("in") => Operator::In,
            Token::Ident(word) if word.eq_ignore_ascii_case("like") => Operator::Like,
            _ => return Err(self.error(&["\"=\"", "\"<\"", "\">\"", "\"<=\"", "\">=\"", "\"in\"", "\"like\""])),
        };
        self.advance();
        let values = match operator {
            Operator::In => {
                self.expect_punct("(")?;
                let mut values = vec![self.literal()?];
                while self.at_punct(",") {
                    self.advance();
                    values.push(self.literal()?);
                }
                self.expect_punct(")")?;
                values
            }
            Operator::Like => match &self.peek().token {
                Token::Text(_) => vec![self.literal()?],
                _ => return Err(self.error(&["<STRING_LITERAL>"])),
            },
            _ => vec![self.literal()?],
        };
        Ok(Condition { field, operator, values })
    }

    fn statement(&mut self) -> Result<Statement, QueryError> {
        self.expect_keyword("select")?;
        let selection = if self.at_punct("*") {
            self.advance();
            // `SELECT *, Sku FROM Item` asks for extra fields; everything is returned anyway.
            while self.at_punct(",") {
                self.advance();
                self.identifier()?;
            }
            Selection::All
        } else if self.at_keyword("count") {
            self.advance();
            self.expect_punct("(")?;
            self.expect_punct("*")?;
            self.expect_punct(")")?;
            Selection::Count
        } else {
            return Err(self.error(&["\"*\"", "\"count\""]));
        };
        self.expect_keyword("from")?;
        let entity = self.identifier()?;
        let mut conditions = Vec::new();
        if self.at_keyword("where") {
            self.advance();
            conditions.push(self.condition()?);
            while self.at_keyword("and") {
                self.advance();
                conditions.push(self.condition()?);
            }
        }
        let mut order_by = Vec::new();
        let mut start_position = None;
        let mut max_results = None;
        loop {
            if self.at_keyword("orderby") || self.at_keyword("order") {
                if self.at_keyword("order") {
                    self.advance();
                    self.expect_keyword("by")?;
                } else {
                    self.advance();
                }
                loop {
                    let field = self.identifier()?;
                    let direction = if self.at_keyword("desc") {
                        self.advance();
                        Direction::Desc
                    } else {
                        if self.at_keyword("asc") {
                            self.advance();
                        }
                        Direction::Asc
                    };
                    order_by.push((field, direction));
                    if !self.at_punct(",") {
                        break;
                    }
                    self.advance();
                }
            } else if self.at_keyword("startposition") {
                self.advance();
                start_position = Some(self.count()?);
            } else if self.at_keyword("maxresults") {
                self.advance();
                max_results = Some(self.count()?);
            } else {
                break;
            }
        }
        if self.peek().token != Token::Eof {
            let mut expected = Vec::new();
            if !conditions.is_empty() && order_by.is_empty() {
                expected.push("\"and\"");
            }
            expected.extend(["\"orderby\"", "\"startposition\"", "\"maxresults\"", "<EOF>"]);
            return Err(self.error(&expected));
        }
        Ok(Statement { selection, entity, conditions, order_by, start_position, max_results })
    }
}

/// Parses a statement.
pub fn parse(text: &str) -> Result<Statement, QueryError> {
    Parser { tokens: lex(text), position: 0 }.statement()
}

// ---------------------------------------------------------------------------------------------
// Validation

/// What a statement is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// An entity the emulator stores.
    Modelled(EntityKind),
    /// A real QBO entity the emulator does not model: always an empty result.
    Unmodelled,
}

/// Checks the entity, the properties and the paging values, as QBO does after parsing.
pub fn validate(statement: &Statement) -> Result<Target, QueryError> {
    let target = match EntityKind::from_wire_name(&statement.entity) {
        Some(kind) => Target::Modelled(kind),
        None if UNMODELLED.contains(&statement.entity.as_str()) => Target::Unmodelled,
        None => return Err(QueryError::Invalid(format!("Unsupported entity name: {}", statement.entity))),
    };
    if let Target::Modelled(kind) = target {
        let filterable = kind.filterable();
        let fields = statement.conditions.iter().map(|c| &c.field).chain(statement.order_by.iter().map(|(f, _)| f));
        for field in fields {
            if !filterable.iter().any(|known| known.eq_ignore_ascii_case(field)) {
                return Err(QueryError::Invalid(format!("property '{field}' is not queryable")));
            }
        }
    }
    for value in [statement.start_position, statement.max_results].into_iter().flatten() {
        if value == 0 {
            return Err(QueryError::Invalid("value 0 is too small. Min allowed value is 1".to_owned()));
        }
    }
    Ok(target)
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// A property of a record, looked up case-insensitively along a dotted path; a reference
/// (`CustomerRef`) stands for its `value`.
fn resolve<'a>(record: &'a Object, path: &str) -> Option<&'a Value> {
    let mut current: Option<&Value> = None;
    let mut object = record;
    for segment in path.split('.') {
        let value = object.iter().find(|(key, _)| key.eq_ignore_ascii_case(segment)).map(|(_, v)| v)?;
        current = Some(value);
        if let Value::Object(inner) = value {
            object = inner;
        }
    }
    match current {
        Some(Value::Object(reference)) => reference.get("value"),
        other => other,
    }
}

fn is_id_like(field: &str) -> bool {
    field.eq_ignore_ascii_case("Id") || field.to_ascii_lowercase().ends_with("ref")
}

fn is_time(field: &str) -> bool {
    field.to_ascii_lowercase().ends_with("time")
}

fn literal_text(literal: &Literal) -> String {
    match literal {
        Literal::Text(text) => text.clone(),
        Literal::Number(number) => number.to_string(),
        Literal::Bool(on) => on.to_string(),
    }
}

/// How a stored value compares with a literal, or `None` when they cannot be compared.
fn compare(stored: &Value, literal: &Literal, field: &str) -> Option<Ordering> {
    match stored {
        Value::Bool(on) => match literal {
            Literal::Bool(wanted) => Some(on.cmp(wanted)),
            Literal::Text(text) => text.parse::<bool>().ok().map(|wanted| on.cmp(&wanted)),
            Literal::Number(_) => None,
        },
        Value::Number(_) => {
            let stored = amount::parse(stored)?;
            let wanted = match literal {
                Literal::Number(number) => *number,
                Literal::Text(text) => Decimal::from_str(text.trim()).ok()?,
                Literal::Bool(_) => return None,
            };
            Some(stored.cmp(&wanted))
        }
        Value::String(text) => {
            let wanted = literal_text(literal);
            if is_id_like(field)
                && let (Ok(a), Ok(b)) = (text.parse::<u64>(), wanted.parse::<u64>())
            {
                return Some(a.cmp(&b));
            }
            if is_time(field)
                && let (Some(a), Some(b)) = (clock::parse_instant(text), clock::parse_instant(&wanted))
            {
                return Some(a.cmp(&b));
            }
            Some(text.to_lowercase().cmp(&wanted.to_lowercase()))
        }
        _ => None,
    }
}

/// `%` matches any run of characters; everything else matches itself, ignoring case.
fn like(text: &str, pattern: &str) -> bool {
    let text = text.to_lowercase();
    let pattern = pattern.to_lowercase();
    let parts: Vec<&str> = pattern.split('%').collect();
    if parts.len() == 1 {
        return text == pattern;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn matches(record: &Object, condition: &Condition) -> bool {
    let Some(stored) = resolve(record, &condition.field) else { return false };
    let field = condition.field.as_str();
    let first = &condition.values[0];
    match condition.operator {
        Operator::Eq => compare(stored, first, field) == Some(Ordering::Equal),
        Operator::Lt => compare(stored, first, field) == Some(Ordering::Less),
        Operator::Gt => compare(stored, first, field) == Some(Ordering::Greater),
        Operator::Le => matches!(compare(stored, first, field), Some(Ordering::Less | Ordering::Equal)),
        Operator::Ge => matches!(compare(stored, first, field), Some(Ordering::Greater | Ordering::Equal)),
        Operator::In => condition.values.iter().any(|v| compare(stored, v, field) == Some(Ordering::Equal)),
        Operator::Like => {
            let text = match stored {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            like(&text, &literal_text(first))
        }
    }
}

/// Orders two stored values of the same property.
fn order(a: Option<&Value>, b: Option<&Value>, field: &str) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(a), Some(b)) => {
            let literal = match b {
                Value::String(text) => Literal::Text(text.clone()),
                Value::Bool(on) => Literal::Bool(*on),
                Value::Number(_) => match amount::parse(b) {
                    Some(number) => Literal::Number(number),
                    None => return Ordering::Equal,
                },
                _ => return Ordering::Equal,
            };
            compare(a, &literal, field).unwrap_or(Ordering::Equal)
        }
    }
}

/// Runs a validated statement over the records of its entity and answers the body of
/// `QueryResponse`: the page under the entity's name (absent when empty), or `totalCount`.
pub fn evaluate(statement: &Statement, target: Target, records: &[&Object]) -> Value {
    let Target::Modelled(kind) = target else {
        return match statement.selection {
            Selection::Count => json!({ "totalCount": 0 }),
            Selection::All => json!({}),
        };
    };
    // Plain queries see active records only; naming `Active` in the WHERE decides instead.
    let mentions_active = statement.conditions.iter().any(|c| c.field.eq_ignore_ascii_case("Active"));
    let mut selected: Vec<&Object> = records
        .iter()
        .copied()
        .filter(|record| {
            mentions_active || !kind.is_name_list() || record.get("Active").and_then(Value::as_bool).unwrap_or(true)
        })
        .filter(|record| statement.conditions.iter().all(|condition| matches(record, condition)))
        .collect();
    if statement.selection == Selection::Count {
        return json!({ "totalCount": selected.len() });
    }
    let default_key = kind.name_field().unwrap_or("Id");
    selected.sort_by(|a, b| order(resolve(a, default_key), resolve(b, default_key), default_key));
    for (field, direction) in statement.order_by.iter().rev() {
        selected.sort_by(|a, b| {
            let ordering = order(resolve(a, field), resolve(b, field), field);
            if *direction == Direction::Desc { ordering.reverse() } else { ordering }
        });
    }
    let start = statement.start_position.unwrap_or(1);
    let max = statement.max_results.unwrap_or(DEFAULT_MAX_RESULTS).min(MAX_RESULTS_LIMIT);
    let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
    let take = usize::try_from(max).unwrap_or(usize::MAX);
    let page: Vec<Value> = selected.into_iter().skip(skip).take(take).map(|r| Value::Object(r.clone())).collect();
    if page.is_empty() {
        return json!({});
    }
    let count = page.len();
    json!({ kind.wire_name(): page, "startPosition": start, "maxResults": count })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Statement {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn parse_detail(text: &str) -> String {
        match parse(text) {
            Err(QueryError::Parse(detail)) => detail,
            other => panic!("{text}: expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn parses_the_queries_qbsync_needs() {
        let s = parse_ok("SELECT * FROM Customer WHERE DisplayName = 'Acme\\'s Ltd'");
        assert_eq!(s.entity, "Customer");
        assert_eq!(s.conditions[0].values, vec![Literal::Text("Acme's Ltd".into())]);

        let s = parse_ok("SELECT * FROM Bill WHERE DocNumber = '56789' AND VendorRef = '81'");
        assert_eq!(s.conditions.len(), 2);
        assert_eq!(s.conditions[1].field, "VendorRef");

        let s = parse_ok("SELECT * FROM Invoice WHERE Id IN ('238','239')");
        assert_eq!(s.conditions[0].operator, Operator::In);
        assert_eq!(s.conditions[0].values.len(), 2);

        let s = parse_ok("select count(*) from Item where Name like '%Serv%'");
        assert_eq!(s.selection, Selection::Count);
        assert_eq!(s.conditions[0].operator, Operator::Like);

        let s = parse_ok(
            "SELECT * FROM Customer WHERE Active IN (true,false) ORDERBY DisplayName DESC STARTPOSITION 11 MAXRESULTS 10",
        );
        assert_eq!(s.conditions[0].values, vec![Literal::Bool(true), Literal::Bool(false)]);
        assert_eq!(s.order_by, vec![("DisplayName".to_owned(), Direction::Desc)]);
        assert_eq!((s.start_position, s.max_results), (Some(11), Some(10)));

        let s = parse_ok("select * from SalesReceipt where TotalAmt > '300.00'");
        assert_eq!(s.conditions[0].operator, Operator::Gt);

        let s = parse_ok("SELECT *, Sku FROM Item ORDER BY Name MAXRESULTS 5 STARTPOSITION 2");
        assert_eq!(s.order_by[0].0, "Name");
        assert_eq!((s.start_position, s.max_results), (Some(2), Some(5)));
    }

    #[test]
    fn an_unescaped_quote_is_a_parse_error_at_its_column() {
        let detail = parse_detail("SELECT * FROM Customer WHERE DisplayName = 'O'Brien & Sons'");
        assert!(detail.starts_with("Encountered \" <IDENTIFIER> \"Brien \"\" at line 1, column 47."), "{detail}");
        assert!(detail.contains("Was expecting one of:"), "{detail}");
    }

    #[test]
    fn curly_quotes_and_dashes_are_lexical_errors() {
        let detail = parse_detail("SELECT * FROM Customer WHERE DisplayName = 'O\u{2019}Brien'");
        assert!(detail.starts_with("Lexical error at line 1, column 46."), "{detail}");
        assert!(detail.contains("\\u2019"), "{detail}");
        let detail = parse_detail("SELECT * FROM Item WHERE Name = 'A \u{2013} B'");
        assert!(detail.starts_with("Lexical error"), "{detail}");
    }

    #[test]
    fn other_parse_errors() {
        assert!(parse_detail("SELECT * FROM").contains("<EOF>"));
        assert!(parse_detail("SELECT * FROM Customer WHERE DisplayName = 'x' OR Id = '1'").contains("\"or\""));
        assert!(parse_detail("SELECT * FROM Customer WHERE DisplayName = 'unterminated").starts_with("Lexical error"));
        assert!(parse_detail("SELECT Name FROM Item").contains("<IDENTIFIER>"));
        assert!(parse_detail("SELECT * FROM Item MAXRESULTS -1").contains("<INTEGER>"));
        assert!(parse_detail("SELECT * FROM Item WHERE Name != 'x'").contains("\"!=\""));
        assert!(parse_detail("SELECT * FROM Item; DROP TABLE Item").starts_with("Lexical error"));
    }

    #[test]
    fn validation_errors() {
        let invalid = |text: &str| match validate(&parse_ok(text)) {
            Err(QueryError::Invalid(detail)) => detail,
            other => panic!("{text}: expected invalid, got {other:?}"),
        };
        assert_eq!(invalid("SELECT * FROM Item STARTPOSITION 0"), "value 0 is too small. Min allowed value is 1");
        assert_eq!(
            invalid("SELECT * FROM Vendor WHERE PrimaryEmailAddr = 'a@b.c'"),
            "property 'PrimaryEmailAddr' is not queryable"
        );
        assert!(invalid("SELECT * FROM invoice").contains("invoice"));
        assert_eq!(validate(&parse_ok("SELECT * FROM SalesReceipt")), Ok(Target::Unmodelled));
        assert_eq!(
            validate(&parse_ok("SELECT * FROM Invoice WHERE metadata.lastupdatedtime > '2024-01-01'")),
            Ok(Target::Modelled(EntityKind::Invoice))
        );
    }

    fn records() -> Vec<Object> {
        let rows = [
            json!({"Id": "1", "DisplayName": "O'Brien & Sons", "Active": true, "Balance": 10.5,
                   "MetaData": {"LastUpdatedTime": "2024-06-01T10:00:00-07:00"}}),
            json!({"Id": "2", "DisplayName": "Acme Training Co", "Active": true, "Balance": 0,
                   "MetaData": {"LastUpdatedTime": "2024-06-03T10:00:00-07:00"}}),
            json!({"Id": "10", "DisplayName": "Old Co (deleted)", "Active": false, "Balance": 0,
                   "MetaData": {"LastUpdatedTime": "2024-06-02T10:00:00-07:00"}}),
        ];
        rows.iter().map(|r| r.as_object().cloned().unwrap()).collect()
    }

    fn run(text: &str) -> Value {
        let statement = parse_ok(text);
        let target = validate(&statement).unwrap();
        let records = records();
        let refs: Vec<&Object> = records.iter().collect();
        evaluate(&statement, target, &refs)
    }

    fn ids(response: &Value) -> Vec<String> {
        response["Customer"]
            .as_array()
            .map_or_else(Vec::new, |list| list.iter().map(|c| c["Id"].as_str().unwrap().to_owned()).collect())
    }

    #[test]
    fn evaluates_filters_paging_and_inactive_records() {
        assert_eq!(ids(&run("SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien & Sons'")), ["1"]);
        assert_eq!(ids(&run("SELECT * FROM Customer WHERE DisplayName = 'acme training co'")), ["2"]);
        assert_eq!(ids(&run("SELECT * FROM Customer")), ["2", "1"]);
        assert_eq!(ids(&run("SELECT * FROM Customer WHERE Active IN (true, false)")), ["2", "1", "10"]);
        assert_eq!(ids(&run("SELECT * FROM Customer WHERE Active = false")), ["10"]);
        assert_eq!(ids(&run("SELECT * FROM Customer WHERE Id IN ('1', '10')")), ["1"]);
        assert_eq!(
            ids(&run("SELECT * FROM Customer WHERE Id > '1' AND Active IN (true,false) ORDERBY Id")),
            ["2", "10"]
        );
        assert_eq!(ids(&run("SELECT * FROM Customer WHERE Balance > '1.00'")), ["1"]);
        assert_eq!(ids(&run("SELECT * FROM Customer WHERE DisplayName LIKE '%bRIEN%'")), ["1"]);
        assert_eq!(
            ids(&run("SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '2024-06-02T00:00:00-07:00'")),
            ["2"]
        );
        assert_eq!(ids(&run("SELECT * FROM Customer ORDERBY DisplayName DESC STARTPOSITION 2 MAXRESULTS 1")), ["2"]);
    }

    #[test]
    fn result_shapes() {
        let page = run("SELECT * FROM Customer MAXRESULTS 1");
        assert_eq!(page["startPosition"], 1);
        assert_eq!(page["maxResults"], 1);
        assert_eq!(run("SELECT * FROM Customer WHERE DisplayName = 'nobody'"), json!({}));
        assert_eq!(run("SELECT count(*) FROM Customer"), json!({"totalCount": 2}));
        assert_eq!(run("SELECT * FROM SalesReceipt"), json!({}));
    }

    #[test]
    fn like_wildcards() {
        assert!(like("Services", "serv%"));
        assert!(like("Services", "%ICES"));
        assert!(like("Services", "%rvi%"));
        assert!(like("Services", "S%v%s"));
        assert!(!like("Services", "%xyz%"));
        assert!(like("Services", "services"));
        assert!(!like("Services", "service"));
    }
}
