//! Expressions: type checking of an `ast::Expr` against the columns in scope, and
//! evaluation on rows, with ksqlDB's semantics.
//!
//! [`compile`] resolves columns (qualified or not; a bare name may also be a lambda
//! parameter, or a time unit as the first argument of `DATEADD` and friends), types every
//! operator as ksqlDB does and binds functions once. The result, a [`CompiledExpr`], is a
//! tree of nodes evaluated per row without re-binding; constant sub-expressions are folded.
//!
//! NULLs and failures are ksqlDB's, which come from its generated Java code:
//! - `=`, `<>`, `<`, ... with a NULL operand are FALSE (not NULL); `IS [NOT] DISTINCT FROM`
//!   treats NULLs as values; `x IN (...)` is FALSE for a NULL `x` and skips NULL items.
//! - Arithmetic, `NOT`, `AND`/`OR` (when the left side does not decide), `LIKE` and a
//!   `CASE WHEN` condition on NULL fail, and a failure makes the whole expression NULL
//!   (the engine logs it), as Java's NullPointerException does in ksqlDB.
//! - A `CAST`, a function argument that is a function call or a dereference, and each
//!   element of `ARRAY[...]`, `MAP(...)`, `STRUCT(...)` are guarded: a failure there is
//!   logged and that part alone becomes NULL (ksqlDB's nested error handling).
//! - Integer arithmetic wraps like Java's; integer division by zero fails; DOUBLE division
//!   by zero is Infinity/NaN; DECIMAL arithmetic is exact and fails (NULL) when the result
//!   does not fit its type without rounding.

mod cast;
mod coerce;
mod compile;
mod decimal;
mod eval;
mod format;
mod javafmt;
mod like;
mod temporal;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::ast::{self, Expr, ExprKind};
use crate::error::{Result, SqlError};
use crate::functions::FunctionRegistry;
use crate::types::SqlType;
use crate::value::Value;

use eval::{Log, Node};

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

/// A type-checked expression, ready to evaluate. Cloning is cheap (the tree is shared).
#[derive(Clone)]
pub struct CompiledExpr {
    /// The result type; `None` for an untyped NULL literal.
    pub ty: Option<SqlType>,
    root: Arc<Node>,
    /// Reads the row (columns); without, the value is a constant.
    uses_row: bool,
}

impl CompiledExpr {
    /// The value for one row. An error (a function that failed, a bad cast) is for the
    /// processing log; ksqlDB then uses NULL.
    pub fn eval(&self, row: &[Value]) -> Result<Value, String> {
        let mut log = Log::none();
        self.root
            .eval(row, None, &mut log)
            .map(std::borrow::Cow::into_owned)
    }

    /// Like [`eval`](Self::eval), and appends to `log` the failures that were turned into
    /// NULL inside the expression (guarded casts, function arguments, constructor
    /// elements), which ksqlDB writes to its processing log.
    pub fn eval_logged(&self, row: &[Value], log: &mut Vec<String>) -> Result<Value, String> {
        let mut l = Log::to(log);
        self.root
            .eval(row, None, &mut l)
            .map(std::borrow::Cow::into_owned)
    }

    /// A predicate's verdict for one row (WHERE, HAVING, join conditions): `Ok(true)` only
    /// for TRUE; NULL and FALSE are `Ok(false)`. Nothing is cloned.
    pub fn matches(&self, row: &[Value]) -> Result<bool, String> {
        let mut log = Log::none();
        let v = self.root.eval(row, None, &mut log)?;
        Ok(matches!(v.as_ref(), Value::Boolean(true)))
    }

    /// The value if the expression uses no column (literals and functions of them).
    /// `None` also when evaluating it fails: see [`try_constant`](Self::try_constant).
    pub fn constant(&self) -> Option<Value> {
        self.try_constant().and_then(|r| r.ok())
    }

    /// The value, or the failure, of an expression that uses no column; `None` if it does.
    pub fn try_constant(&self) -> Option<Result<Value, String>> {
        if self.uses_row {
            return None;
        }
        Some(self.eval(&[]))
    }

    /// Whether the expression reads any column of the row.
    pub fn uses_columns(&self) -> bool {
        self.uses_row
    }
}

/// Type-checks `expr` against `scope`. Errors name the position.
pub fn compile(expr: &ast::Expr, scope: &Scope, ctx: &Context<'_>) -> Result<CompiledExpr> {
    let mut c = compile::Compiler::new(scope, ctx);
    let t = c.expr(expr)?;
    Ok(CompiledExpr {
        ty: t.ty,
        uses_row: t.columns || t.needs > 0,
        root: Arc::new(t.node),
    })
}

/// A written type as a SQL type, resolving custom types.
pub fn resolve_type(ty: &ast::TypeExpr, types: &BTreeMap<String, SqlType>) -> Result<SqlType> {
    use ast::TypeExpr as T;
    Ok(match ty {
        T::Boolean => SqlType::Boolean,
        T::Int => SqlType::Int,
        T::Bigint => SqlType::Bigint,
        T::Double => SqlType::Double,
        T::Decimal(p, s) => {
            let text = format!("DECIMAL({p}, {s})");
            if *p < 1 {
                return Err(SqlError::analysis(
                    None,
                    format!("DECIMAL precision must be >= 1: {text}"),
                ));
            }
            if *p > 38 {
                return Err(SqlError::analysis(
                    None,
                    format!("DECIMAL precision must be <= 38: {text}"),
                ));
            }
            if s > p {
                return Err(SqlError::analysis(
                    None,
                    format!("DECIMAL precision must be >= scale: {text}"),
                ));
            }
            // Both fit a u8: p <= 38 and s <= p.
            SqlType::Decimal(*p as u8, *s as u8)
        }
        T::String => SqlType::String,
        T::Bytes => SqlType::Bytes,
        T::Timestamp => SqlType::Timestamp,
        T::Date => SqlType::Date,
        T::Time => SqlType::Time,
        T::Array(e) => SqlType::array(resolve_type(e, types)?),
        T::Map(k, v) => SqlType::map(resolve_type(k, types)?, resolve_type(v, types)?),
        T::Struct(fields) => {
            let mut out: Vec<(String, SqlType)> = Vec::with_capacity(fields.len());
            for (name, t) in fields {
                if out.iter().any(|(n, _)| *n == name.name) {
                    return Err(SqlError::at(
                        name.pos,
                        format!("Duplicate field names found in STRUCT: {}", name.name),
                    ));
                }
                out.push((name.name.clone(), resolve_type(t, types)?));
            }
            SqlType::Struct(out)
        }
        T::Custom(name, pos) => types
            .get(name)
            .or_else(|| types.get(&name.to_ascii_uppercase()))
            .cloned()
            .ok_or_else(|| SqlError::at(*pos, format!("Unknown type: {name}")))?,
    })
}

/// `CAST(value AS to)` with ksqlDB's rules.
pub fn cast(value: &Value, to: &SqlType) -> Result<Value, String> {
    cast::cast_value(value, to)
}

/// Whether ksqlDB allows `CAST(<from> AS <to>)`.
pub fn cast_supported(from: &SqlType, to: &SqlType) -> bool {
    cast::is_supported(from, to)
}

/// The columns `expr` reads, as `(qualifier, name)`, in order of first appearance, without
/// duplicates. Lambda parameters and time units (`DATEADD(DAYS, ...)`) are not columns.
pub fn referenced_columns(expr: &Expr) -> Vec<(Option<String>, String)> {
    fn walk(e: &Expr, lambdas: &mut Vec<Vec<String>>, out: &mut Vec<(Option<String>, String)>) {
        let mut go = |x: &Expr, lambdas: &mut Vec<Vec<String>>| walk(x, lambdas, out);
        match &e.kind {
            ExprKind::Literal(_) => {}
            ExprKind::Column { qualifier, name } => {
                if qualifier.is_none() && lambdas.iter().any(|f| f.contains(&name.name)) {
                    return;
                }
                let c = (
                    qualifier.as_ref().map(|q| q.name.clone()),
                    name.name.clone(),
                );
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            ExprKind::Unary { expr, .. }
            | ExprKind::IsNull { expr, .. }
            | ExprKind::Cast { expr, .. }
            | ExprKind::Dereference { expr, .. } => go(expr, lambdas),
            ExprKind::Binary { left, right, .. } | ExprKind::IsDistinctFrom { left, right, .. } => {
                go(left, lambdas);
                go(right, lambdas);
            }
            ExprKind::Between {
                expr, low, high, ..
            } => {
                go(expr, lambdas);
                go(low, lambdas);
                go(high, lambdas);
            }
            ExprKind::InList { expr, list, .. } => {
                go(expr, lambdas);
                for x in list {
                    go(x, lambdas);
                }
            }
            ExprKind::Like { expr, pattern, .. } => {
                go(expr, lambdas);
                go(pattern, lambdas);
            }
            ExprKind::Case {
                operand,
                whens,
                else_,
            } => {
                if let Some(o) = operand {
                    go(o, lambdas);
                }
                for (w, t) in whens {
                    go(w, lambdas);
                    go(t, lambdas);
                }
                if let Some(x) = else_ {
                    go(x, lambdas);
                }
            }
            ExprKind::Function { name, args, .. } => {
                for (i, a) in args.iter().enumerate() {
                    if compile::time_unit_arg(&name.name, i, a).is_none() {
                        go(a, lambdas);
                    }
                }
            }
            ExprKind::Subscript { expr, index } => {
                go(expr, lambdas);
                go(index, lambdas);
            }
            ExprKind::Array(items) => {
                for x in items {
                    go(x, lambdas);
                }
            }
            ExprKind::Map(entries) => {
                for (k, v) in entries {
                    go(k, lambdas);
                    go(v, lambdas);
                }
            }
            ExprKind::Struct(fields) => {
                for (_, v) in fields {
                    go(v, lambdas);
                }
            }
            ExprKind::Lambda { params, body } => {
                lambdas.push(params.iter().map(|p| p.name.clone()).collect());
                go(body, lambdas);
                lambdas.pop();
            }
        }
    }
    let mut out = Vec::new();
    walk(expr, &mut Vec::new(), &mut out);
    out
}

/// The name ksqlDB gives a projected expression without an alias: the column's name, or
/// the last field of `a->b->c`. Other expressions get `KSQL_COL_n` from the planner
/// (`None` here).
pub fn default_name(expr: &Expr) -> Option<String> {
    match &expr.kind {
        ExprKind::Column { name, .. } => Some(name.name.clone()),
        ExprKind::Dereference { field, .. } => Some(field.name.clone()),
        _ => None,
    }
}

/// The text of an expression as ksqlDB prints it in messages and plans, such as
/// `(A.X + 1)`, `CAST(X AS STRING)`, `MAP('a':=1)`.
pub fn format_expr(expr: &Expr) -> String {
    format::expr(expr)
}
