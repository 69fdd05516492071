//! Expressions: type checking of an `ast::Expr` against the columns in scope, and
//! evaluation on rows.

use std::collections::BTreeMap;

use crate::ast;
use crate::error::{Result, SqlError};
use crate::functions::FunctionRegistry;
use crate::types::SqlType;
use crate::value::Value;

/// A column an expression can name: `qualifier.name` or, when unambiguous, `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScopeColumn {
    /// The source alias (`A` in `A.ID`), if columns of this scope are qualified.
    pub qualifier: Option<String>,
    pub name: String,
    pub ty: SqlType,
}

/// The input row layout an expression is compiled against: column `i` of the scope is
/// value `i` of the row passed to [`CompiledExpr::eval`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub columns: Vec<ScopeColumn>,
}

/// What an expression may refer to besides columns.
pub struct Context<'a> {
    pub functions: &'a FunctionRegistry,
    /// Types from `CREATE TYPE`, by upper-case name.
    pub types: &'a BTreeMap<String, SqlType>,
}

/// A type-checked expression, ready to evaluate.
#[derive(Clone)]
pub struct CompiledExpr {
    /// The result type; `None` for an untyped NULL literal.
    pub ty: Option<SqlType>,
}

impl CompiledExpr {
    /// The value for one row. An error (a function that failed, a bad cast) is for the
    /// processing log; ksqlDB then uses NULL.
    pub fn eval(&self, row: &[Value]) -> Result<Value, String> {
        let _ = row;
        Err("expressions are not implemented yet".into())
    }

    /// The value if the expression uses no column (literals and functions of them).
    pub fn constant(&self) -> Option<Value> {
        None
    }
}

/// Type-checks `expr` against `scope`. Errors name the position.
pub fn compile(expr: &ast::Expr, scope: &Scope, ctx: &Context<'_>) -> Result<CompiledExpr> {
    let _ = (expr, scope, ctx);
    Err(SqlError::unsupported(Some(expr.pos), "expressions"))
}

/// A written type as a SQL type, resolving custom types.
pub fn resolve_type(ty: &ast::TypeExpr, types: &BTreeMap<String, SqlType>) -> Result<SqlType> {
    let _ = (ty, types);
    Err(SqlError::unsupported(None, "types"))
}

/// `CAST(value AS to)` with ksqlDB's rules.
pub fn cast(value: &Value, to: &SqlType) -> Result<Value, String> {
    let _ = (value, to);
    Err("casts are not implemented yet".into())
}
