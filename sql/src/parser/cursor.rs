//! The parser's state: a cursor over the tokens, with the helpers every grammar rule uses
//! (keywords, identifiers, numbers, error messages, a nesting limit).

use crate::ast::{Ident, Literal, Pos};
use crate::error::{Result, SqlError};

use super::lexer::{Tok, Token};

/// How deeply expressions (parentheses, calls, constructors, subscripts, `CASE`, ...), `NOT`
/// and sign chains, types and `EXPLAIN`s may nest before the parser gives up, so that no
/// input can exhaust the stack (ksqlDB fails such statements as "too large to parse"). At
/// this depth a debug build needs about 1 MiB of stack on the costliest path, well within
/// the 2 MiB of a default thread; a release build far less.
pub(crate) const MAX_DEPTH: usize = 64;

/// The words of ksqlDB's lexer that are not in its `nonReserved` rule: they cannot be used as
/// identifiers unless quoted.
const RESERVED: &[&str] = &[
    "ADVANCE",
    "ALL",
    "AND",
    "AS",
    "AT",
    "BEGINNING",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CATALOG",
    "CONNECTOR",
    "CONNECTORS",
    "CREATE",
    "DAYS",
    "DECIMAL",
    "DELETE",
    "DESCRIBE",
    "DISTINCT",
    "DROP",
    "ELSE",
    "END",
    "EXISTS",
    "EXPORT",
    "EXTENDED",
    "FALSE",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "HOPPING",
    "HOURS",
    "IN",
    "INNER",
    "INSERT",
    "INTO",
    "IS",
    "JOIN",
    "LEFT",
    "LIKE",
    "LIMIT",
    "LIST",
    "LOAD",
    "MATERIALIZED",
    "MILLISECOND",
    "MILLISECONDS",
    "MINUTES",
    "MONTHS",
    "NAMESPACE",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "OUTER",
    "PRINT",
    "PROPERTIES",
    "QUERIES",
    "QUERY",
    "RENAME",
    "RETENTION",
    "RIGHT",
    "RUN",
    "SAMPLE",
    "SCRIPT",
    "SECONDS",
    "SELECT",
    "SIZE",
    "STREAM",
    "STREAMS",
    "TABLE",
    "TERMINATE",
    "THEN",
    "TO",
    "TOPIC",
    "TOPICS",
    "TRUE",
    "TUMBLING",
    "UNSET",
    "VALUES",
    "VIEW",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
    "WITHIN",
    "YEARS",
];

/// Whether `word` (any case) is reserved.
pub(crate) fn is_reserved(word: &str) -> bool {
    let upper = word.to_ascii_uppercase();
    RESERVED.binary_search(&upper.as_str()).is_ok()
}

/// The number of milliseconds in one of ksqlDB's window units (singular or plural), if
/// `word` (any case) is one.
pub(crate) fn unit_millis(word: &str) -> Option<i64> {
    Some(match word.to_ascii_uppercase().as_str() {
        "MILLISECOND" | "MILLISECONDS" => 1,
        "SECOND" | "SECONDS" => 1_000,
        "MINUTE" | "MINUTES" => 60_000,
        "HOUR" | "HOURS" => 3_600_000,
        "DAY" | "DAYS" => 86_400_000,
        _ => return None,
    })
}

/// A cursor over the tokens of one text.
pub(crate) struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// A parser over `toks`, which must end with a [`Tok::Eof`] token.
    pub fn new(src: &'a str, mut toks: Vec<Token>) -> Self {
        if !matches!(toks.last().map(|t| &t.tok), Some(Tok::Eof)) {
            toks.push(Token {
                tok: Tok::Eof,
                pos: Pos { line: 1, col: 1 },
                start: src.len(),
                end: src.len(),
            });
        }
        Parser {
            src,
            toks,
            i: 0,
            depth: 0,
        }
    }

    /// The source text.
    pub fn src(&self) -> &'a str {
        self.src
    }

    /// The current token (the `Eof` token once everything is consumed).
    pub fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    /// The token `n` places after the current one (saturating at `Eof`).
    pub fn peek_at(&self, n: usize) -> &Token {
        let last = self.toks.len() - 1;
        &self.toks[(self.i + n).min(last)]
    }

    /// The current token's kind.
    pub fn tok(&self) -> &Tok {
        &self.peek().tok
    }

    /// The current token's position.
    pub fn pos(&self) -> Pos {
        self.peek().pos
    }

    /// Where the cursor is, to come back to with [`Parser::reset`].
    pub fn mark(&self) -> usize {
        self.i
    }

    /// Moves the cursor back to a [`Parser::mark`].
    pub fn reset(&mut self, mark: usize) {
        self.i = mark.min(self.toks.len() - 1);
    }

    /// The byte offset just after the last consumed token.
    pub fn prev_end(&self) -> usize {
        if self.i == 0 {
            self.toks[0].start
        } else {
            self.toks[self.i - 1].end
        }
    }

    /// Consumes and returns the current token (`Eof` stays put).
    pub fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.i += 1;
        }
        t
    }

    /// Whether the input is exhausted.
    pub fn at_eof(&self) -> bool {
        self.tok() == &Tok::Eof
    }

    /// Whether the current token is `tok` (compared by kind, for punctuation).
    pub fn at(&self, tok: &Tok) -> bool {
        self.tok() == tok
    }

    /// Consumes the current token if it is `tok`.
    pub fn eat(&mut self, tok: &Tok) -> bool {
        if self.at(tok) {
            self.advance();
            true
        } else {
            false
        }
    }

    /// Consumes `tok` or fails, describing it as `what` (e.g. `"')'"`).
    pub fn expect(&mut self, tok: &Tok, what: &str) -> Result<Token> {
        if self.at(tok) {
            Ok(self.advance())
        } else {
            Err(self.expected(what))
        }
    }

    /// Whether the current token is the unquoted keyword `kw`.
    pub fn at_kw(&self, kw: &str) -> bool {
        self.peek().is_kw(kw)
    }

    /// Whether the token `n` places ahead is the unquoted keyword `kw`.
    pub fn at_kw_n(&self, n: usize, kw: &str) -> bool {
        self.peek_at(n).is_kw(kw)
    }

    /// Consumes the keyword `kw` if it is next.
    pub fn eat_kw(&mut self, kw: &str) -> bool {
        if self.at_kw(kw) {
            self.advance();
            true
        } else {
            false
        }
    }

    /// Consumes the keyword `kw` or fails.
    pub fn expect_kw(&mut self, kw: &str) -> Result<Token> {
        if self.at_kw(kw) {
            Ok(self.advance())
        } else {
            Err(self.expected(kw))
        }
    }

    /// Consumes the keywords `kws` in order if they are all next; otherwise consumes nothing.
    pub fn eat_kws(&mut self, kws: &[&str]) -> bool {
        if kws.iter().enumerate().all(|(n, kw)| self.at_kw_n(n, kw)) {
            for _ in kws {
                self.advance();
            }
            true
        } else {
            false
        }
    }

    /// Whether the token `n` ahead can be an identifier: quoted, or a word that is not
    /// reserved.
    pub fn is_ident_at(&self, n: usize) -> bool {
        match &self.peek_at(n).tok {
            Tok::Word { quote: Some(_), .. } => true,
            Tok::Word { value, quote: None } => !is_reserved(value),
            _ => false,
        }
    }

    /// Consumes an identifier, normalized: unquoted upper-cased, quoted kept as written.
    pub fn ident(&mut self) -> Result<Ident> {
        self.ident_as("an identifier")
    }

    /// Like [`Parser::ident`], naming what was expected as `what` in the error.
    pub fn ident_as(&mut self, what: &str) -> Result<Ident> {
        if !self.is_ident_at(0) {
            return Err(self.expected(what));
        }
        let t = self.advance();
        match t.tok {
            Tok::Word { value, quote } => Ok(Ident {
                name: if quote.is_some() {
                    value
                } else {
                    value.to_ascii_uppercase()
                },
                pos: t.pos,
            }),
            _ => Err(self.expected(what)),
        }
    }

    /// Consumes an identifier and returns it as written (quoted ones unquoted, unquoted ones
    /// in their original case), for names ksqlDB keeps case-sensitive.
    pub fn raw_ident(&mut self, what: &str) -> Result<(String, Pos)> {
        if !self.is_ident_at(0) {
            return Err(self.expected(what));
        }
        let t = self.advance();
        match t.tok {
            Tok::Word { value, .. } => Ok((value, t.pos)),
            _ => Err(self.expected(what)),
        }
    }

    /// Consumes a single-quoted string.
    pub fn string(&mut self, what: &str) -> Result<(String, Pos)> {
        match self.tok() {
            Tok::Str(_) => {
                let t = self.advance();
                match t.tok {
                    Tok::Str(s) => Ok((s, t.pos)),
                    _ => Err(self.expected(what)),
                }
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Consumes an integer, optionally negative.
    pub fn integer(&mut self, what: &str) -> Result<(i64, Pos)> {
        let pos = self.pos();
        let negative =
            matches!(self.tok(), Tok::Minus) && matches!(self.peek_at(1).tok, Tok::Number(_));
        let n = usize::from(negative);
        let Tok::Number(text) = &self.peek_at(n).tok else {
            return Err(self.expected(what));
        };
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(self.expected(what));
        }
        let text = if negative {
            format!("-{text}")
        } else {
            text.clone()
        };
        let value = text.parse::<i64>().map_err(|_| {
            parse_error(
                pos,
                format!("invalid numeric literal: {text} (out of range)"),
            )
        })?;
        for _ in 0..=n {
            self.advance();
        }
        Ok((value, pos))
    }

    /// Consumes a non-negative integer (`LIMIT`, `INTERVAL`, `DECIMAL(p, s)`).
    pub fn unsigned(&mut self, what: &str) -> Result<(u64, Pos)> {
        let pos = self.pos();
        let (value, _) = self.integer(what)?;
        let value = u64::try_from(value)
            .map_err(|_| parse_error(pos, format!("expected {what}, found a negative number")))?;
        Ok((value, pos))
    }

    /// Consumes a numeric literal, optionally preceded by `-`, and types it the way ksqlDB
    /// does: digits only is an integer (BIGINT at most), with an exponent a DOUBLE, with a
    /// point a DECIMAL keeping its text.
    pub fn number_literal(&mut self) -> Result<(Literal, Pos)> {
        let pos = self.pos();
        let negative = matches!(self.tok(), Tok::Minus);
        let n = usize::from(negative);
        let Tok::Number(text) = &self.peek_at(n).tok else {
            return Err(self.expected("a number"));
        };
        let sign = if negative { "-" } else { "" };
        let lit = number_to_literal(sign, text, pos)?;
        for _ in 0..=n {
            self.advance();
        }
        Ok((lit, pos))
    }

    /// Runs `f` one nesting level deeper, failing once [`MAX_DEPTH`] is reached.
    pub fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_DEPTH {
            return Err(parse_error(
                self.pos(),
                format!("the statement nests more than {MAX_DEPTH} levels deep"),
            ));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    /// A syntax error at the current token: "expected `what`, found `token`".
    pub fn expected(&self, what: &str) -> SqlError {
        let t = self.peek();
        parse_error(
            t.pos,
            format!("expected {what}, found {}", self.describe(t)),
        )
    }

    /// How a token reads in an error message: its text in quotes, or "end of input".
    pub fn describe(&self, t: &Token) -> String {
        if t.tok == Tok::Eof {
            return "end of input".to_owned();
        }
        let text = self.src.get(t.start..t.end).unwrap_or("");
        let mut shown: String = text.chars().take(40).collect();
        if shown.len() < text.len() {
            shown.push_str("...");
        }
        if matches!(t.tok, Tok::Str(_)) {
            shown
        } else {
            format!("'{shown}'")
        }
    }
}

/// A [`SqlError::Parse`].
pub(crate) fn parse_error(pos: Pos, message: impl Into<String>) -> SqlError {
    SqlError::Parse {
        pos,
        message: message.into(),
    }
}

/// Types the numeric literal `sign` + `text` (see [`Parser::number_literal`]).
fn number_to_literal(sign: &str, text: &str, pos: Pos) -> Result<Literal> {
    if text.contains(['e', 'E']) {
        let full = format!("{sign}{text}");
        let value: f64 = full
            .parse()
            .map_err(|_| parse_error(pos, format!("invalid numeric literal: {full}")))?;
        if !value.is_finite() {
            return Err(parse_error(pos, format!("number overflows DOUBLE: {full}")));
        }
        Ok(Literal::Double(value))
    } else if text.contains('.') {
        // ksqlDB reads `.5` as 0.5 and `1.` as 1 (scale 0), as Java's BigDecimal does.
        let mut digits = text.to_owned();
        if digits.starts_with('.') {
            digits.insert(0, '0');
        }
        if digits.ends_with('.') {
            digits.pop();
        }
        Ok(Literal::Decimal(format!("{sign}{digits}")))
    } else {
        let full = format!("{sign}{text}");
        full.parse::<i64>().map(Literal::Integer).map_err(|_| {
            parse_error(
                pos,
                format!("invalid numeric literal: {full} (out of range for BIGINT)"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted_for_binary_search() {
        let mut sorted = RESERVED.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, RESERVED);
        assert!(is_reserved("select"));
        assert!(!is_reserved("value"));
        assert!(!is_reserved("KEY"));
    }

    #[test]
    fn units() {
        assert_eq!(unit_millis("seconds"), Some(1_000));
        assert_eq!(unit_millis("DAY"), Some(86_400_000));
        assert_eq!(unit_millis("WEEK"), None);
    }

    #[test]
    fn numbers() {
        let p = Pos::default();
        assert_eq!(number_to_literal("", "12", p), Ok(Literal::Integer(12)));
        assert_eq!(
            number_to_literal("-", "9223372036854775808", p),
            Ok(Literal::Integer(i64::MIN))
        );
        assert!(number_to_literal("", "9223372036854775808", p).is_err());
        assert_eq!(
            number_to_literal("", "1.50", p),
            Ok(Literal::Decimal("1.50".into()))
        );
        assert_eq!(
            number_to_literal("-", ".5", p),
            Ok(Literal::Decimal("-0.5".into()))
        );
        assert_eq!(
            number_to_literal("", "1.", p),
            Ok(Literal::Decimal("1".into()))
        );
        assert_eq!(number_to_literal("", "1e3", p), Ok(Literal::Double(1000.0)));
        assert_eq!(
            number_to_literal("-", "1.5E-1", p),
            Ok(Literal::Double(-0.15))
        );
        assert!(number_to_literal("", "1.7976931348623159E308", p).is_err());
    }
}
