//! Tokens of the ksqlDB dialect, produced by `sqlparser`'s tokenizer with a ksqlDB
//! [`Dialect`](sqlparser::dialect::Dialect) and then reduced to the few token kinds the
//! grammar needs ([`Tok`]), each with its 1-based position and its byte range in the text.
//!
//! ksqlDB's lexer (`SqlBase.g4`) is mostly the ANSI one: `'...'` strings with `''` escaping
//! and no backslash escapes, `` `...` `` and `"..."` delimited identifiers, `--` and
//! `/* */` comments (not nested), and identifiers made of ASCII letters, digits, `_` and `@`
//! that do not start with a digit or `@`.

use sqlparser::dialect::Dialect;
use sqlparser::tokenizer::{Token as SqlToken, TokenWithSpan, Tokenizer};

use crate::ast::Pos;
use crate::error::{Result, SqlError};

/// The `sqlparser` dialect that tokenizes like ksqlDB's lexer.
#[derive(Debug, Default)]
pub(crate) struct KsqlDialect;

impl Dialect for KsqlDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        ch.is_ascii_alphabetic() || ch == '_'
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        ch.is_ascii_alphanumeric() || ch == '_' || ch == '@'
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '`' || ch == '"'
    }

    /// ksqlDB's `DIGIT_IDENTIFIER`: `1R` is an identifier (`1e3`, with an exponent, a
    /// number).
    fn supports_numeric_prefix(&self) -> bool {
        true
    }

    /// `N'...'` is an identifier `N` followed by a string in ksqlDB, not a national string.
    fn supports_national_string_literal(&self) -> bool {
        false
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        false
    }

    fn supports_nested_comments(&self) -> bool {
        false
    }
}

/// The kinds of token the grammar distinguishes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// A word: a keyword or an identifier. `quote` is the opening delimiter of a quoted
    /// identifier (`` ` `` or `"`), whose `value` is then kept exactly as written.
    Word {
        value: String,
        quote: Option<char>,
    },
    /// An unsigned numeric literal as written: `12`, `1.5`, `.5`, `1e3`.
    Number(String),
    /// A single-quoted string, unescaped.
    Str(String),
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Period,
    SemiColon,
    Eq,
    /// `<>` or `!=`
    Neq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    /// `||`
    Concat,
    /// `->`
    Arrow,
    /// `:=`
    Assign,
    /// `=>`
    FatArrow,
    /// Anything the dialect has no use for (`::`, `{`, `?`, `X'00'`, ...); the parser
    /// reports it as unexpected, quoting the text.
    Other,
    /// The end of the input.
    Eof,
}

/// A token with where it is: its position and its byte range in the source text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: Pos,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// Whether this is the unquoted keyword `kw` (given in upper case).
    pub fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word { value, quote: None } if value.eq_ignore_ascii_case(kw))
    }
}

/// Converts `sqlparser` locations (1-based line and column, counted in chars, a new line
/// after each `\n`) into byte offsets. Locations must be asked for in non-decreasing order,
/// which keeps the whole conversion linear in the length of the text.
struct OffsetWalker<'a> {
    src: &'a str,
    line: u64,
    col: u64,
    byte: usize,
}

impl<'a> OffsetWalker<'a> {
    fn new(src: &'a str) -> Self {
        OffsetWalker {
            src,
            line: 1,
            col: 1,
            byte: 0,
        }
    }

    /// The byte offset of `(line, col)`, or the end of the text if it lies beyond it.
    fn offset(&mut self, line: u64, col: u64) -> usize {
        while (self.line, self.col) < (line, col) {
            let Some(ch) = self.src[self.byte..].chars().next() else {
                break;
            };
            self.byte += ch.len_utf8();
            if ch == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
        }
        self.byte
    }
}

/// A position from a `sqlparser` location, saturating at `u32::MAX`.
fn pos_of(line: u64, column: u64) -> Pos {
    Pos {
        line: u32::try_from(line).unwrap_or(u32::MAX),
        col: u32::try_from(column).unwrap_or(u32::MAX),
    }
}

/// Splits the text into tokens, dropping whitespace and comments, and appends an
/// [`Tok::Eof`] token positioned just after the last character.
pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>> {
    let dialect = KsqlDialect;
    let raw: Vec<TokenWithSpan> = Tokenizer::new(&dialect, src)
        .tokenize_with_location()
        .map_err(|e| SqlError::Parse {
            pos: pos_of(e.location.line, e.location.column),
            message: lexer_message(&e.message),
        })?;

    let mut walker = OffsetWalker::new(src);
    let mut out = Vec::with_capacity(raw.len() + 1);
    for t in raw {
        if matches!(t.token, SqlToken::Whitespace(_)) {
            continue;
        }
        let (sl, sc) = (t.span.start.line, t.span.start.column);
        let start = walker.offset(sl, sc);
        let end = walker.offset(t.span.end.line, t.span.end.column);
        let pos = pos_of(sl, sc);
        let tok = match t.token {
            // With a numeric prefix the tokenizer reads `1.5abc` as one word, which in
            // ksqlDB is a number followed by an identifier: refuse it rather than misread it.
            SqlToken::Word(w)
                if w.quote_style.is_none()
                    && w.value.starts_with(|c: char| c.is_ascii_digit())
                    && w.value.contains('.') =>
            {
                Tok::Other
            }
            SqlToken::Word(w) => Tok::Word {
                value: w.value,
                quote: w.quote_style,
            },
            SqlToken::Number(n, false) => Tok::Number(n),
            SqlToken::SingleQuotedString(s) => Tok::Str(s),
            SqlToken::Comma => Tok::Comma,
            SqlToken::LParen => Tok::LParen,
            SqlToken::RParen => Tok::RParen,
            SqlToken::LBracket => Tok::LBracket,
            SqlToken::RBracket => Tok::RBracket,
            SqlToken::Period => Tok::Period,
            SqlToken::SemiColon => Tok::SemiColon,
            SqlToken::Eq => Tok::Eq,
            SqlToken::Neq => Tok::Neq,
            SqlToken::Lt => Tok::Lt,
            SqlToken::LtEq => Tok::LtEq,
            SqlToken::Gt => Tok::Gt,
            SqlToken::GtEq => Tok::GtEq,
            SqlToken::Plus => Tok::Plus,
            SqlToken::Minus => Tok::Minus,
            SqlToken::Mul => Tok::Star,
            SqlToken::Div => Tok::Slash,
            SqlToken::Mod => Tok::Percent,
            SqlToken::StringConcat => Tok::Concat,
            SqlToken::Arrow => Tok::Arrow,
            SqlToken::Assignment => Tok::Assign,
            SqlToken::RArrow => Tok::FatArrow,
            // `>>` only ever closes two nested type parameter lists (`ARRAY<ARRAY<INT>>`):
            // the dialect has no shift operator.
            SqlToken::ShiftRight => {
                let second = Pos {
                    line: pos.line,
                    col: pos.col.saturating_add(1),
                };
                out.push(Token {
                    tok: Tok::Gt,
                    pos,
                    start,
                    end: start + 1,
                });
                out.push(Token {
                    tok: Tok::Gt,
                    pos: second,
                    start: start + 1,
                    end,
                });
                continue;
            }
            _ => Tok::Other,
        };
        // Digits run into a word (`1E`, which the tokenizer splits after trying an exponent)
        // are one DIGIT_IDENTIFIER, as ksqlDB's longest-match lexer reads them.
        if let (Tok::Word { value, quote: None }, Some(prev)) = (&tok, out.last_mut()) {
            if let Tok::Number(digits) = &prev.tok {
                if prev.end == start && digits.bytes().all(|b| b.is_ascii_digit()) {
                    prev.tok = Tok::Word {
                        value: format!("{digits}{value}"),
                        quote: None,
                    };
                    prev.end = end;
                    continue;
                }
            }
        }
        out.push(Token {
            tok,
            pos,
            start,
            end,
        });
    }

    let end = src.len();
    let (line, col) = end_location(src);
    out.push(Token {
        tok: Tok::Eof,
        pos: pos_of(line, col),
        start: end,
        end,
    });
    Ok(out)
}

/// The location just after the last character of `src`.
fn end_location(src: &str) -> (u64, u64) {
    let mut line = 1u64;
    let mut col = 1u64;
    for ch in src.chars() {
        if ch == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// Rewords `sqlparser`'s tokenizer errors in the dialect's terms (its messages end with
/// " at Line: .., Column: .." only in `Display`; `message` is the bare text).
fn lexer_message(message: &str) -> String {
    if message.starts_with("Unterminated string literal") {
        "unterminated string literal: expected a closing '".to_owned()
    } else if let Some(rest) = message.strip_prefix("Expected close delimiter '") {
        let quote = rest.chars().next().unwrap_or('"');
        format!("unterminated quoted identifier: expected a closing {quote}")
    } else if message.starts_with("Unexpected EOF while in a multi-line comment") {
        "unterminated comment: expected */".to_owned()
    } else {
        let mut m = message.to_owned();
        if let Some(first) = m.get(0..1) {
            let lower = first.to_ascii_lowercase();
            m.replace_range(0..1, &lower);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        tokenize(src)
            .expect("tokenizes")
            .into_iter()
            .map(|t| t.tok)
            .collect()
    }

    fn word(v: &str, quote: Option<char>) -> Tok {
        Tok::Word {
            value: v.to_owned(),
            quote,
        }
    }

    #[test]
    fn words_numbers_strings_and_operators() {
        assert_eq!(
            kinds("a_1@x `q``b` \"d\"\"e\" 12 1.5 .5 1e3 'it''s' '\\' -> := => || <> != >= <="),
            vec![
                word("a_1@x", None),
                word("q`b", Some('`')),
                word("d\"e", Some('"')),
                Tok::Number("12".into()),
                Tok::Number("1.5".into()),
                Tok::Number(".5".into()),
                Tok::Number("1e3".into()),
                Tok::Str("it's".into()),
                Tok::Str("\\".into()),
                Tok::Arrow,
                Tok::Assign,
                Tok::FatArrow,
                Tok::Concat,
                Tok::Neq,
                Tok::Neq,
                Tok::GtEq,
                Tok::LtEq,
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn digit_identifiers() {
        assert_eq!(
            kinds("1R 1L 1e3 1E 12 1. a.b"),
            vec![
                word("1R", None),
                word("1L", None),
                Tok::Number("1e3".into()),
                word("1E", None),
                Tok::Number("12".into()),
                Tok::Number("1.".into()),
                word("a", None),
                Tok::Period,
                word("b", None),
                Tok::Eof,
            ]
        );
    }

    #[test]
    fn comments_are_dropped() {
        assert_eq!(
            kinds("a -- one\n/* two\n */ b"),
            vec![word("a", None), word("b", None), Tok::Eof]
        );
    }

    #[test]
    fn shift_right_is_split_into_two_closing_brackets() {
        let toks = tokenize("ARRAY<ARRAY<INT>>").expect("tokenizes");
        let gts: Vec<_> = toks.iter().filter(|t| t.tok == Tok::Gt).collect();
        assert_eq!(gts.len(), 2);
        assert_eq!(gts[0].pos, Pos { line: 1, col: 16 });
        assert_eq!(gts[1].pos, Pos { line: 1, col: 17 });
        assert_eq!((gts[1].start, gts[1].end), (16, 17));
    }

    #[test]
    fn positions_and_byte_ranges() {
        let src = "SELECT 'é'\n  , x;";
        let toks = tokenize(src).expect("tokenizes");
        let x = &toks[3];
        assert_eq!(x.tok, word("x", None));
        assert_eq!(x.pos, Pos { line: 2, col: 5 });
        assert_eq!(&src[x.start..x.end], "x");
        let s = &toks[1];
        assert_eq!(&src[s.start..s.end], "'é'");
        let eof = toks.last().expect("eof");
        assert_eq!(eof.tok, Tok::Eof);
        assert_eq!(eof.pos, Pos { line: 2, col: 7 });
    }

    #[test]
    fn lexical_errors_have_positions() {
        let err = tokenize("SELECT\n 'abc").expect_err("unterminated");
        match err {
            SqlError::Parse { pos, message } => {
                assert_eq!(pos.line, 2);
                assert!(message.contains("unterminated string"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(tokenize("`abc").is_err());
        assert!(tokenize("/* abc").is_err());
    }

    #[test]
    fn other_tokens_are_kept_as_other() {
        assert_eq!(
            kinds("a :: b"),
            vec![word("a", None), Tok::Other, word("b", None), Tok::Eof]
        );
        assert_eq!(kinds("1.5abc")[0], Tok::Other);
    }
}
