//! The parser of the ksqlDB dialect (see `ast`).
//!
//! ksqlDB's ANTLR grammar (`SqlBase.g4`) is the reference. The text is split into tokens by
//! `sqlparser`'s tokenizer with a ksqlDB dialect (`lexer`); a hand-written recursive
//! descent parser (`statement`, `expr`) builds the `ast`. Like ksqlDB:
//! - unquoted identifiers are upper-cased, `` `quoted` `` and `"quoted"` ones kept as written;
//!   ksqlDB's reserved words (`SELECT`, `FROM`, `SIZE`, `SECONDS`, ...) are identifiers only
//!   when quoted, its non-reserved keywords (`KEY`, `DATE`, `SOURCE`, `EMIT`, ...) and other
//!   words (`VALUE`, `ID`, `TS`) always; digits followed by letters (`1R`) are identifiers;
//! - `GROUP BY`, `PARTITION BY`, `VALUES` and the operands of predicates are value
//!   expressions: `GROUP BY a AND b` is a syntax error;
//! - a `-` right before a number belongs to the literal; integer literals must fit BIGINT,
//!   exponent literals a finite DOUBLE;
//! - `CREATE TABLE` columns take `PRIMARY KEY`, `CREATE STREAM` columns `KEY`, else it is a
//!   syntax error;
//! - `ASSERT`, `ALTER`, connector statements, `AT TIME ZONE` and `->*` are rejected as not
//!   supported (`SqlError::Unsupported`).
//!
//! Errors are [`SqlError::Parse`](crate::error::SqlError::Parse) with the 1-based line and
//! column of the offending token and a message such as `expected an expression, found ')'`.

use std::collections::BTreeMap;

use crate::ast::{Expr, ParsedStatement, Pos, TypeExpr};
use crate::error::Result;

mod cursor;
mod expr;
mod lexer;
mod statement;
#[cfg(test)]
mod tests;

use cursor::{parse_error, Parser};
use lexer::Tok;

/// Parses a script: zero or more statements, each ending in `;` (the last may omit it).
/// Each [`ParsedStatement`] carries its own text (from its first token to its last, without
/// the `;`) and the position of its first token. Empty statements (`;;`) are skipped.
pub fn parse(sql: &str) -> Result<Vec<ParsedStatement>> {
    let mut p = Parser::new(sql, lexer::tokenize(sql)?);
    let mut out = Vec::new();
    loop {
        while p.eat(&Tok::SemiColon) {}
        if p.at_eof() {
            return Ok(out);
        }
        let first = p.peek().clone();
        let statement = p.parse_statement()?;
        let end = p.prev_end();
        if !p.eat(&Tok::SemiColon) && !p.at_eof() {
            return Err(p.expected("';'"));
        }
        let text = p
            .src()
            .get(first.start..end)
            .unwrap_or_default()
            .trim()
            .to_owned();
        out.push(ParsedStatement {
            statement,
            pos: first.pos,
            text,
        });
    }
}

/// Parses one expression (no trailing `;`).
pub fn parse_expr(sql: &str) -> Result<Expr> {
    let mut p = Parser::new(sql, lexer::tokenize(sql)?);
    let expr = p.parse_expr()?;
    if !p.at_eof() {
        return Err(p.expected("the end of the expression"));
    }
    Ok(expr)
}

/// Parses one type, such as `STRUCT<A INT, B ARRAY<STRING>>`.
pub fn parse_type(sql: &str) -> Result<TypeExpr> {
    let mut p = Parser::new(sql, lexer::tokenize(sql)?);
    let ty = p.parse_type()?;
    if !p.at_eof() {
        return Err(p.expected("the end of the type"));
    }
    Ok(ty)
}

/// Replaces `${name}` with the variable's value (ksqlDB's DEFINE substitution), everywhere
/// in the text, quoted strings included, as ksqlDB does. Names are case-sensitive; a name
/// that is not defined is an error at the position of its `${`. `$${` stands for a literal
/// `${`, and a `${` without a closing `}` is left as it is.
pub fn substitute_variables(sql: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    let mut pos = Pos { line: 1, col: 1 };
    while let Some(at) = rest.find("${") {
        let (before, from) = rest.split_at(at);
        if let Some(kept) = before.strip_suffix('$') {
            // `$${`: an escaped `${`.
            out.push_str(kept);
            out.push_str("${");
            advance_pos(&mut pos, before);
            advance_pos(&mut pos, "${");
            rest = &from[2..];
            continue;
        }
        out.push_str(before);
        advance_pos(&mut pos, before);
        let Some(close) = from.find('}') else {
            out.push_str(from);
            return Ok(out);
        };
        let name = &from[2..close];
        match vars.get(name) {
            Some(value) => out.push_str(value),
            None => {
                return Err(parse_error(
                    pos,
                    format!("variable '{name}' is not defined (use DEFINE {name} = '...';)"),
                ))
            }
        }
        advance_pos(&mut pos, &from[..=close]);
        rest = &from[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Moves `pos` past `text`.
fn advance_pos(pos: &mut Pos, text: &str) {
    for ch in text.chars() {
        if ch == '\n' {
            pos.line = pos.line.saturating_add(1);
            pos.col = 1;
        } else {
            pos.col = pos.col.saturating_add(1);
        }
    }
}
