//! The parser of the ksqlDB dialect (see `ast`).

use std::collections::BTreeMap;

use crate::ast::{Expr, ParsedStatement, TypeExpr};
use crate::error::{Result, SqlError};

/// Parses a script: zero or more statements, each ending in `;` (the last may omit it).
pub fn parse(sql: &str) -> Result<Vec<ParsedStatement>> {
    let _ = sql;
    Err(SqlError::unsupported(None, "parser"))
}

/// Parses one expression (no trailing `;`).
pub fn parse_expr(sql: &str) -> Result<Expr> {
    let _ = sql;
    Err(SqlError::unsupported(None, "parser"))
}

/// Parses one type, such as `STRUCT<A INT, B ARRAY<STRING>>`.
pub fn parse_type(sql: &str) -> Result<TypeExpr> {
    let _ = sql;
    Err(SqlError::unsupported(None, "parser"))
}

/// Replaces `${name}` with the variable's value (ksqlDB's DEFINE substitution).
pub fn substitute_variables(sql: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let _ = vars;
    Ok(sql.to_owned())
}
