//! A small formula evaluator, so `USER_ENTERED` formulas read back like the real service.
//!
//! qbsync must cope with amounts such as `=0.1+0.2` (`0.30000000000000004` under
//! `UNFORMATTED_VALUE`, `0.3` formatted) and with a QBO error text written without RAW turning
//! into `#NAME?`. Supported: numbers, `"strings"`, `TRUE`/`FALSE`, cell references on the same
//! sheet (`A2`, `$B$3`, ranges `A1:A9` inside functions), `+ - * / ^ & %`, comparisons, and
//! `SUM MIN MAX AVERAGE ROUND ABS IF CONCATENATE`. Anything else is `#NAME?`; a syntax error is
//! `#ERROR!`, as in Sheets. References do not shift when rows move (Sheets rewrites them).

use super::a1;
use super::entry::{Computed, NumberFormat, general, parse_number};

/// Read access to the sheet a formula lives on.
pub trait Grid {
    /// The computed value at a cell; `depth` guards against reference cycles.
    fn value_at(&self, row: usize, col: usize, depth: u32) -> Computed;
}

/// Beyond this many nested references the formula is taken to be circular.
const MAX_DEPTH: u32 = 64;

/// Computes a formula (text including the leading `=`).
pub fn evaluate(formula: &str, grid: &dyn Grid, depth: u32) -> Computed {
    if depth > MAX_DEPTH {
        return Computed::Error("#REF!");
    }
    let Some(tokens) = tokenize(formula.strip_prefix('=').unwrap_or(formula)) else {
        return Computed::Error("#ERROR!");
    };
    let mut parser = Parser { tokens, pos: 0, grid, depth };
    let value = match parser.comparison() {
        Ok(value) if parser.pos == parser.tokens.len() => value,
        _ => return Computed::Error("#ERROR!"),
    };
    match value {
        Val::Num(v, format) if v.is_finite() => Computed::Number(v, format),
        Val::Num(..) => Computed::Error("#NUM!"),
        Val::Text(s) => Computed::Text(s),
        Val::Bool(b) => Computed::Bool(b),
        Val::Empty => Computed::Empty,
        Val::Err(code) => Computed::Error(code),
        Val::Range(_) => Computed::Error("#VALUE!"),
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Num(f64),
    Str(String),
    Ident(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
    Colon,
}

fn tokenize(text: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' => i += 1,
            '0'..='9' | '.' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                    let mut j = i + 1;
                    if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                        j += 1;
                    }
                    if j < chars.len() && chars[j].is_ascii_digit() {
                        i = j;
                        while i < chars.len() && chars[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                let literal: String = chars[start..i].iter().collect();
                tokens.push(Token::Num(literal.parse().ok()?));
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return None,
                        Some('"') if chars.get(i + 1) == Some(&'"') => {
                            s.push('"');
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            s.push(other);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c.is_alphabetic() || c == '$' || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_alphanumeric() || matches!(chars[i], '$' | '_' | '.')) {
                    i += 1;
                }
                tokens.push(Token::Ident(chars[start..i].iter().collect()));
            }
            '(' | ')' | ',' | ':' => {
                tokens.push(match c {
                    '(' => Token::LParen,
                    ')' => Token::RParen,
                    ',' => Token::Comma,
                    _ => Token::Colon,
                });
                i += 1;
            }
            _ => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = match two.as_str() {
                    "<>" => Some("<>"),
                    "<=" => Some("<="),
                    ">=" => Some(">="),
                    _ => None,
                };
                if let Some(op) = op {
                    tokens.push(Token::Op(op));
                    i += 2;
                    continue;
                }
                let op = match c {
                    '+' => "+",
                    '-' => "-",
                    '*' => "*",
                    '/' => "/",
                    '^' => "^",
                    '&' => "&",
                    '%' => "%",
                    '=' => "=",
                    '<' => "<",
                    '>' => ">",
                    _ => return None,
                };
                tokens.push(Token::Op(op));
                i += 1;
            }
        }
    }
    Some(tokens)
}

/// A value while evaluating.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Num(f64, NumberFormat),
    Text(String),
    Bool(bool),
    Empty,
    Err(&'static str),
    Range(Vec<Computed>),
}

impl Val {
    fn from_computed(c: Computed) -> Val {
        match c {
            Computed::Empty => Val::Empty,
            Computed::Text(s) => Val::Text(s),
            Computed::Number(v, f) => Val::Num(v, f),
            Computed::Bool(b) => Val::Bool(b),
            Computed::Error(e) => Val::Err(e),
        }
    }

    fn number(&self) -> Result<f64, &'static str> {
        match self {
            Val::Num(v, _) => Ok(*v),
            Val::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
            Val::Empty => Ok(0.0),
            Val::Text(s) => parse_number(s.trim()).map(|(v, _)| v).ok_or("#VALUE!"),
            Val::Err(e) => Err(e),
            Val::Range(_) => Err("#VALUE!"),
        }
    }

    fn text(&self) -> Result<String, &'static str> {
        match self {
            Val::Num(v, _) => Ok(general(*v)),
            Val::Bool(b) => Ok(if *b { "TRUE".into() } else { "FALSE".into() }),
            Val::Empty => Ok(String::new()),
            Val::Text(s) => Ok(s.clone()),
            Val::Err(e) => Err(e),
            Val::Range(_) => Err("#VALUE!"),
        }
    }
}

/// Parse failure: the formula is malformed (`#ERROR!`).
struct Malformed;

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    grid: &'a dyn Grid,
    depth: u32,
}

type Parsed = Result<Val, Malformed>;

fn num(v: f64) -> Val {
    Val::Num(v, NumberFormat::Automatic)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn eat_op(&mut self, ops: &[&'static str]) -> Option<&'static str> {
        match self.peek() {
            Some(Token::Op(op)) if ops.contains(op) => {
                let op = *op;
                self.pos += 1;
                Some(op)
            }
            _ => None,
        }
    }

    fn comparison(&mut self) -> Parsed {
        let mut left = self.concat()?;
        while let Some(op) = self.eat_op(&["=", "<>", "<", ">", "<=", ">="]) {
            let right = self.concat()?;
            left = compare(op, &left, &right);
        }
        Ok(left)
    }

    fn concat(&mut self) -> Parsed {
        let mut left = self.additive()?;
        while self.eat_op(&["&"]).is_some() {
            let right = self.additive()?;
            left = match (left.text(), right.text()) {
                (Ok(a), Ok(b)) => Val::Text(a + &b),
                (Err(e), _) | (_, Err(e)) => Val::Err(e),
            };
        }
        Ok(left)
    }

    fn additive(&mut self) -> Parsed {
        let mut left = self.multiplicative()?;
        while let Some(op) = self.eat_op(&["+", "-"]) {
            let right = self.multiplicative()?;
            left = arithmetic(&left, &right, |a, b| Ok(if op == "+" { a + b } else { a - b }));
        }
        Ok(left)
    }

    fn multiplicative(&mut self) -> Parsed {
        let mut left = self.power()?;
        while let Some(op) = self.eat_op(&["*", "/"]) {
            let right = self.power()?;
            left = arithmetic(&left, &right, |a, b| match op {
                "*" => Ok(a * b),
                _ if b == 0.0 => Err("#DIV/0!"),
                _ => Ok(a / b),
            });
        }
        Ok(left)
    }

    fn power(&mut self) -> Parsed {
        let mut left = self.unary()?;
        while self.eat_op(&["^"]).is_some() {
            let right = self.unary()?;
            left = arithmetic(&left, &right, |a, b| Ok(a.powf(b)));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Parsed {
        if let Some(op) = self.eat_op(&["-", "+"]) {
            let operand = self.unary()?;
            return Ok(match operand.number() {
                Ok(v) => num(if op == "-" { -v } else { v }),
                Err(e) => Val::Err(e),
            });
        }
        let value = self.primary()?;
        if self.eat_op(&["%"]).is_some() {
            return Ok(match value.number() {
                Ok(v) => num(v / 100.0),
                Err(e) => Val::Err(e),
            });
        }
        Ok(value)
    }

    fn primary(&mut self) -> Parsed {
        let token = self.tokens.get(self.pos).cloned().ok_or(Malformed)?;
        self.pos += 1;
        match token {
            Token::Num(v) => Ok(num(v)),
            Token::Str(s) => Ok(Val::Text(s)),
            Token::LParen => {
                let value = self.comparison()?;
                match self.peek() {
                    Some(Token::RParen) => {
                        self.pos += 1;
                        Ok(value)
                    }
                    _ => Err(Malformed),
                }
            }
            Token::Ident(name) => self.identifier(&name),
            _ => Err(Malformed),
        }
    }

    fn identifier(&mut self, name: &str) -> Parsed {
        if self.peek() == Some(&Token::LParen) {
            self.pos += 1;
            let args = self.arguments()?;
            return Ok(call(&name.to_ascii_uppercase(), args));
        }
        if let Some((row, col)) = cell_ref(name) {
            if self.peek() == Some(&Token::Colon) {
                self.pos += 1;
                let Some(Token::Ident(end)) = self.tokens.get(self.pos).cloned() else { return Err(Malformed) };
                self.pos += 1;
                let (end_row, end_col) = cell_ref(&end).ok_or(Malformed)?;
                let mut cells = Vec::new();
                for r in row.min(end_row)..=row.max(end_row) {
                    for c in col.min(end_col)..=col.max(end_col) {
                        cells.push(self.grid.value_at(r, c, self.depth + 1));
                    }
                }
                return Ok(Val::Range(cells));
            }
            return Ok(Val::from_computed(self.grid.value_at(row, col, self.depth + 1)));
        }
        match name.to_ascii_uppercase().as_str() {
            "TRUE" => Ok(Val::Bool(true)),
            "FALSE" => Ok(Val::Bool(false)),
            _ => Ok(Val::Err("#NAME?")),
        }
    }

    fn arguments(&mut self) -> Result<Vec<Val>, Malformed> {
        let mut args = Vec::new();
        if self.peek() == Some(&Token::RParen) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.comparison()?);
            match self.tokens.get(self.pos) {
                Some(Token::Comma) => self.pos += 1,
                Some(Token::RParen) => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return Err(Malformed),
            }
        }
    }
}

/// `A1`, `$B$3` → (row, col).
fn cell_ref(name: &str) -> Option<(usize, usize)> {
    let plain = name.replace('$', "");
    let split = plain.find(|c: char| c.is_ascii_digit())?;
    let (letters, digits) = plain.split_at(split);
    if letters.is_empty() || letters.len() > 3 || !letters.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let row: usize = digits.parse().ok()?;
    Some((row.checked_sub(1)?, a1::column_index(letters)?))
}

fn arithmetic(a: &Val, b: &Val, f: impl Fn(f64, f64) -> Result<f64, &'static str>) -> Val {
    match (a.number(), b.number()) {
        (Ok(x), Ok(y)) => f(x, y).map_or_else(Val::Err, num),
        (Err(e), _) | (_, Err(e)) => Val::Err(e),
    }
}

fn compare(op: &str, a: &Val, b: &Val) -> Val {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (Val::Err(e), _) | (_, Val::Err(e)) => return Val::Err(e),
        (Val::Text(x), Val::Text(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Val::Text(_), _) => Ordering::Greater,
        (_, Val::Text(_)) => Ordering::Less,
        _ => match (a.number(), b.number()) {
            (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
            (Err(e), _) | (_, Err(e)) => return Val::Err(e),
        },
    };
    Val::Bool(match op {
        "=" => ordering == Ordering::Equal,
        "<>" => ordering != Ordering::Equal,
        "<" => ordering == Ordering::Less,
        ">" => ordering == Ordering::Greater,
        "<=" => ordering != Ordering::Greater,
        _ => ordering != Ordering::Less,
    })
}

/// Numbers among the arguments, ranges flattened (text and blanks inside ranges are skipped,
/// as Sheets does).
fn numbers(args: &[Val]) -> Result<Vec<f64>, &'static str> {
    let mut out = Vec::new();
    for arg in args {
        match arg {
            Val::Range(cells) => {
                for cell in cells {
                    match cell {
                        Computed::Number(v, _) => out.push(*v),
                        Computed::Error(e) => return Err(e),
                        _ => {}
                    }
                }
            }
            other => out.push(other.number()?),
        }
    }
    Ok(out)
}

fn call(name: &str, args: Vec<Val>) -> Val {
    let result = match name {
        "SUM" => numbers(&args).map(|n| num(n.iter().sum())),
        "MIN" => numbers(&args).map(|n| num(n.iter().copied().reduce(f64::min).unwrap_or(0.0))),
        "MAX" => numbers(&args).map(|n| num(n.iter().copied().reduce(f64::max).unwrap_or(0.0))),
        "AVERAGE" => numbers(&args)
            .and_then(|n| if n.is_empty() { Err("#DIV/0!") } else { Ok(num(n.iter().sum::<f64>() / n.len() as f64)) }),
        "ABS" if args.len() == 1 => args[0].number().map(|v| num(v.abs())),
        "ROUND" if (1..=2).contains(&args.len()) => (|| {
            let value = args[0].number()?;
            let places = args.get(1).map_or(Ok(0.0), Val::number)?.trunc();
            let scale = 10f64.powf(places);
            Ok(num((value * scale).round() / scale))
        })(),
        "IF" if (2..=3).contains(&args.len()) => args[0]
            .number()
            .map(|c| if c != 0.0 { args[1].clone() } else { args.get(2).cloned().unwrap_or(Val::Bool(false)) }),
        "CONCATENATE" => args.iter().map(Val::text).collect::<Result<String, _>>().map(Val::Text),
        "ABS" | "ROUND" | "IF" => Err("#N/A"),
        _ => Err("#NAME?"),
    };
    result.unwrap_or_else(Val::Err)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Cells(Vec<((usize, usize), Computed)>);

    impl Grid for Cells {
        fn value_at(&self, row: usize, col: usize, _depth: u32) -> Computed {
            self.0.iter().find(|(at, _)| *at == (row, col)).map_or(Computed::Empty, |(_, v)| v.clone())
        }
    }

    fn eval(f: &str) -> Computed {
        let grid = Cells(vec![
            ((1, 0), Computed::Number(21.0, NumberFormat::Automatic)),
            ((2, 0), Computed::Number(4.0, NumberFormat::Automatic)),
            ((3, 0), Computed::Text("x".into())),
        ]);
        evaluate(f, &grid, 0)
    }

    fn n(v: f64) -> Computed {
        Computed::Number(v, NumberFormat::Automatic)
    }

    #[test]
    fn arithmetic_follows_precedence_and_doubles() {
        assert_eq!(eval("=4/2"), n(2.0));
        assert_eq!(eval("=3/2"), n(1.5));
        assert_eq!(eval("=0.1+0.2"), n(0.1 + 0.2));
        assert_eq!(eval("=1+2*3^2"), n(19.0));
        assert_eq!(eval("=-(1+1)*2"), n(-4.0));
        assert_eq!(eval("=50%"), n(0.5));
        assert_eq!(eval("=A2*2"), n(42.0));
        assert_eq!(eval("=SUM(A2:A4)"), n(25.0));
        assert_eq!(eval("=ROUND(2.345, 2)"), n(2.35));
        assert_eq!(eval("=IF(A2>10, \"big\", \"small\")"), Computed::Text("big".into()));
        assert_eq!(eval("=\"a\"&\"b\""), Computed::Text("ab".into()));
    }

    #[test]
    fn errors_are_sheet_error_values() {
        assert_eq!(eval("=IMPORTXML(\"http://x\", \"//a\")"), Computed::Error("#NAME?"));
        assert_eq!(eval("=HYPERLINK(\"x\")"), Computed::Error("#NAME?"));
        assert_eq!(eval("=Error: customer not found"), Computed::Error("#ERROR!"));
        assert_eq!(eval("=1/0"), Computed::Error("#DIV/0!"));
        assert_eq!(eval("=A4+1"), Computed::Error("#VALUE!"));
        assert_eq!(eval("=1+"), Computed::Error("#ERROR!"));
        assert_eq!(eval("=foo"), Computed::Error("#NAME?"));
    }
}
