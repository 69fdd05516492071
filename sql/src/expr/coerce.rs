//! The common type of a user-written list (`x IN (...)`, `ARRAY[...]`, the keys or values of
//! `MAP(...)`), as ksqlDB's `CoercionUtil.coerceUserList` finds it: numbers widen, string
//! literals may stand for numbers or booleans, other literals may become strings, structs
//! take the union of their fields, and anything else must match.

use bigdecimal::num_traits::ToPrimitive;

use super::compile::{base_name, is_literal, Compiler};
use super::{cast, decimal, format, javafmt, temporal};
use crate::ast::{Expr, ExprKind, Literal, Pos};
use crate::error::SqlError;
use crate::types::SqlType;
use crate::value::Value;

/// An item of the list: its expression (`None` for the target type seeded in nested
/// lists) and its type (`None` for a NULL literal).
pub(crate) struct Item<'e> {
    pub(crate) expr: Option<&'e Expr>,
    pub(crate) ty: Option<SqlType>,
}

/// Why no common type exists.
pub(crate) enum CoerceError {
    /// Two types that do not coerce: the message names the outermost expression.
    Mismatch(String),
    /// A literal that cannot be read as the type, or another compile error.
    Other(SqlError),
}

impl CoerceError {
    pub(crate) fn into_error(self, pos: Pos) -> SqlError {
        match self {
            CoerceError::Mismatch(m) => SqlError::at(pos, m),
            CoerceError::Other(e) => e,
        }
    }
}

type CResult<T> = Result<T, CoerceError>;

fn mismatch(expr: Option<&Expr>, source: &SqlType, target: &SqlType) -> CoerceError {
    let text = expr.map(format::expr).unwrap_or_else(|| "null".into());
    CoerceError::Mismatch(format!(
        "operator does not exist: {target} = {source} ({text})\nHint: You might need to add explicit type casts."
    ))
}

fn invalid_syntax(pos: Pos, value: &str, target: &SqlType) -> CoerceError {
    CoerceError::Other(SqlError::at(
        pos,
        format!(
            "invalid input syntax for type {}: \"{value}\".",
            base_name(target)
        ),
    ))
}

/// `DefaultSqlValueCoercer.canCoerce`: the type both coerce to, STRICT or LAX (literals).
pub(crate) fn can_coerce(lax: bool, from: &SqlType, to: &SqlType) -> Option<SqlType> {
    use SqlType::*;
    let decimal_of = |t: &SqlType| decimal::as_decimal_type(t);
    match (from, to) {
        (Boolean, Boolean)
        | (Int, Int)
        | (Bigint, Bigint)
        | (Double, Double)
        | (String, String)
        | (Timestamp, Timestamp)
        | (Time, Time)
        | (Date, Date)
        | (Bytes, Bytes) => Some(to.clone()),
        (Int, Bigint) | (Int, Double) | (Bigint, Double) | (Decimal(..), Double) => {
            Some(to.clone())
        }
        (Int | Bigint | Decimal(..), Decimal(..)) => {
            decimal::sql_decimal(decimal::widen(decimal_of(from)?, decimal_of(to)?))
        }
        (String, Timestamp | Time | Date | Bytes) => Some(to.clone()),
        (Array(a), Array(b)) => can_coerce(lax, a, b).map(SqlType::array),
        (Map(k1, v1), Map(k2, v2)) => Some(SqlType::map(
            can_coerce(lax, k1, k2)?,
            can_coerce(lax, v1, v2)?,
        )),
        (Struct(f), Struct(g)) => {
            let mut names: Vec<&str> = f.iter().map(|(n, _)| n.as_str()).collect();
            for (n, _) in g {
                if !names.contains(&n.as_str()) {
                    names.push(n);
                }
            }
            let mut out = Vec::with_capacity(names.len());
            for n in names {
                let from_t = f.iter().find(|(x, _)| x == n).map(|(_, t)| t);
                let to_t = g.iter().find(|(x, _)| x == n).map(|(_, t)| t);
                let t = match (from_t, to_t) {
                    (None, Some(t)) | (Some(t), None) => t.clone(),
                    (Some(a), Some(b)) => can_coerce(lax, a, b)?,
                    (None, None) => return None,
                };
                out.push((n.to_owned(), t));
            }
            Some(Struct(out))
        }
        _ if lax => match (from, to) {
            (Boolean | Int | Bigint | Decimal(..) | Double | Timestamp | Time | Date, String) => {
                Some(String)
            }
            (String, Boolean | Int | Bigint | Decimal(..) | Double) => Some(to.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The numeric type a string literal stands for (ksqlDB's `getStringNumericType`).
fn string_numeric_type(pos: Pos, value: &str, target: &SqlType) -> CResult<SqlType> {
    let d = decimal::parse_java_decimal(decimal::java_trim(value))
        .ok_or_else(|| invalid_syntax(pos, value, target))?;
    let dp_or_scientific = value.contains(['.', 'e', 'E']);
    if !dp_or_scientific && decimal::scale(&d) == 0 {
        let (int, _) = d.as_bigint_and_exponent();
        if let Some(i) = int.to_i64() {
            if i > i64::from(i32::MIN) && i < i64::from(i32::MAX) {
                return Ok(SqlType::Int);
            }
            if i > i64::MIN && i < i64::MAX {
                return Ok(SqlType::Bigint);
            }
        }
    }
    let d = if decimal::scale(&d) < 0 {
        decimal::set_scale_half_up(&d, 0)
    } else {
        d
    };
    decimal::sql_decimal(decimal::type_of_value(&d))
        .ok_or_else(|| invalid_syntax(pos, value, target))
}

/// ksqlDB's `resolveCommonNumericTypeFromStringLiteral`.
fn numeric_from_string_literal(pos: Pos, value: &str, target: &SqlType) -> CResult<SqlType> {
    let source = string_numeric_type(pos, value, target)?;
    if source == SqlType::Double || *target == SqlType::Double {
        return Ok(SqlType::Double);
    }
    if matches!(source, SqlType::Decimal(..)) || matches!(target, SqlType::Decimal(..)) {
        let a = decimal::as_decimal_type(&source);
        let b = decimal::as_decimal_type(target);
        return match (a, b) {
            (Some(a), Some(b)) => decimal::sql_decimal(decimal::widen(a, b))
                .ok_or_else(|| invalid_syntax(pos, value, target)),
            _ => Err(invalid_syntax(pos, value, target)),
        };
    }
    let widens = matches!(
        (&source, target),
        (SqlType::Int, SqlType::Int | SqlType::Bigint) | (SqlType::Bigint, SqlType::Bigint)
    );
    Ok(if widens { target.clone() } else { source })
}

impl<'c> Compiler<'c> {
    fn type_of(&mut self, e: &Expr) -> CResult<Option<SqlType>> {
        self.expr(e).map(|t| t.ty).map_err(CoerceError::Other)
    }

    /// The common type of all items, or `None` when all are NULL literals.
    pub(crate) fn resolve_common(&mut self, items: &[Item<'_>]) -> CResult<Option<SqlType>> {
        let mut common: Option<SqlType> = None;
        for it in items {
            common = self.resolve_one(it, common)?;
        }
        Ok(common)
    }

    fn resolve_one(&mut self, it: &Item<'_>, common: Option<SqlType>) -> CResult<Option<SqlType>> {
        let Some(target) = common else {
            return Ok(it.ty.clone());
        };
        let Some(source) = it.ty.clone() else {
            return Ok(Some(target));
        };
        if let Some(e) = it.expr {
            match &e.kind {
                ExprKind::Array(elems) => {
                    let SqlType::Array(elem) = &target else {
                        return Err(mismatch(Some(e), &source, &target));
                    };
                    return match self.resolve_structured(elem, elems) {
                        Ok(t) => Ok(t.map(SqlType::array)),
                        Err(CoerceError::Mismatch(_)) => Err(mismatch(Some(e), &source, &target)),
                        Err(other) => Err(other),
                    };
                }
                ExprKind::Map(entries) => {
                    let SqlType::Map(kt, vt) = &target else {
                        return Err(mismatch(Some(e), &source, &target));
                    };
                    let keys: Vec<Expr> = entries.iter().map(|(k, _)| k.clone()).collect();
                    let values: Vec<Expr> = entries.iter().map(|(_, v)| v.clone()).collect();
                    let resolved = self
                        .resolve_structured(kt, &keys)
                        .and_then(|k| Ok((k, self.resolve_structured(vt, &values)?)));
                    return match resolved {
                        Ok((Some(k), Some(v))) => Ok(Some(SqlType::map(k, v))),
                        Ok(_) => Ok(None),
                        Err(CoerceError::Mismatch(_)) => Err(mismatch(Some(e), &source, &target)),
                        Err(other) => Err(other),
                    };
                }
                ExprKind::Struct(fields) => {
                    let SqlType::Struct(target_fields) = &target else {
                        return Err(mismatch(Some(e), &source, &target));
                    };
                    return match self.resolve_struct(fields, target_fields) {
                        Ok(t) => Ok(Some(t)),
                        Err(CoerceError::Mismatch(_)) => Err(mismatch(Some(e), &source, &target)),
                        Err(other) => Err(other),
                    };
                }
                ExprKind::Literal(Literal::String(s)) => {
                    if target.is_numeric() {
                        return numeric_from_string_literal(e.pos, s, &target).map(Some);
                    }
                    if target == SqlType::Boolean {
                        if cast::parse_boolean_exact(decimal::java_trim(s)).is_none() {
                            return Err(invalid_syntax(e.pos, s, &target));
                        }
                        return Ok(Some(target));
                    }
                }
                _ => {}
            }
        }
        let lax = it.expr.is_some_and(is_literal);
        can_coerce(lax, &source, &target)
            .or_else(|| can_coerce(lax, &target, &source))
            .map(Some)
            .ok_or_else(|| mismatch(it.expr, &source, &target))
    }

    /// The common type of a nested list whose type must fit `target`.
    fn resolve_structured(&mut self, target: &SqlType, elems: &[Expr]) -> CResult<Option<SqlType>> {
        if elems.is_empty() {
            return Ok(Some(target.clone()));
        }
        let mut items = vec![Item {
            expr: None,
            ty: Some(target.clone()),
        }];
        for e in elems {
            let ty = self.type_of(e)?;
            items.push(Item { expr: Some(e), ty });
        }
        self.resolve_common(&items)
    }

    /// A struct constructor against a struct type: the union of the fields.
    fn resolve_struct(
        &mut self,
        fields: &[(crate::ast::Ident, Expr)],
        target: &[(String, SqlType)],
    ) -> CResult<SqlType> {
        let mut names: Vec<&str> = Vec::new();
        for (n, _) in fields {
            if !names.contains(&n.name.as_str()) {
                names.push(&n.name);
            }
        }
        for (n, _) in target {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let source = fields.iter().find(|(n, _)| n.name == name).map(|(_, e)| e);
            let target_t = target.iter().find(|(n, _)| n == name).map(|(_, t)| t);
            let source_t = match source {
                Some(e) => self.type_of(e)?,
                None => None,
            };
            let t = match (target_t, source_t) {
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(CoerceError::Mismatch(format!(
                        "Can't infer a type of null for STRUCT field '{name}'"
                    )))
                }
                (Some(t), None) => t.clone(),
                (Some(t), Some(s)) => self
                    .resolve_one(
                        &Item {
                            expr: source,
                            ty: Some(s),
                        },
                        Some(t.clone()),
                    )?
                    .unwrap_or_else(|| t.clone()),
            };
            out.push((name.to_owned(), t));
        }
        Ok(SqlType::Struct(out))
    }
}

/// `DefaultSqlValueCoercer.LAX.coerce` of a literal value.
pub(crate) fn coerce_literal(v: &Value, to: &SqlType) -> Option<Value> {
    use SqlType as T;
    let trimmed = |s: &str| decimal::java_trim(s).to_owned();
    Some(match (v, to) {
        (Value::Null, _) => Value::Null,
        (Value::Boolean(b), T::Boolean) => Value::Boolean(*b),
        (Value::Boolean(b), T::String) => Value::String(b.to_string()),
        (Value::Int(i), T::Int) => Value::Int(*i),
        (Value::Int(i), T::Bigint) => Value::Bigint(i64::from(*i)),
        (Value::Int(i), T::Double) => Value::Double(f64::from(*i)),
        (Value::Int(i), T::String) => Value::String(i.to_string()),
        (Value::Bigint(i), T::Bigint) => Value::Bigint(*i),
        (Value::Bigint(i), T::Double) => Value::Double(*i as f64),
        (Value::Bigint(i), T::String) => Value::String(i.to_string()),
        (Value::Int(_) | Value::Bigint(_) | Value::Decimal(_), T::Decimal(p, s)) => {
            let d = match v {
                Value::Int(i) => bigdecimal::BigDecimal::from(*i),
                Value::Bigint(i) => bigdecimal::BigDecimal::from(*i),
                Value::Decimal(d) => d.clone(),
                _ => return None,
            };
            Value::Decimal(decimal::ensure_fit(&d, *p, *s)?)
        }
        (Value::Decimal(d), T::Double) => Value::Double(decimal::to_f64(d)),
        (Value::Decimal(d), T::String) => Value::String(decimal::to_plain_string(d)),
        (Value::Double(d), T::Double) => Value::Double(*d),
        (Value::Double(d), T::String) => Value::String(javafmt::double_to_string(*d)),
        (Value::String(s), T::String) => Value::String(s.clone()),
        (Value::String(s), T::Boolean) => Value::Boolean(cast::parse_boolean_exact(&trimmed(s))?),
        (Value::String(s), T::Int) => Value::Int(cast::parse_int(&trimmed(s)).ok()?),
        (Value::String(s), T::Bigint) => Value::Bigint(cast::parse_long(&trimmed(s)).ok()?),
        (Value::String(s), T::Double) => Value::Double(cast::parse_double(s).ok()?),
        (Value::String(s), T::Decimal(p, sc)) => {
            let d = decimal::parse_java_decimal(&trimmed(s))?;
            Value::Decimal(decimal::ensure_fit(&d, *p, *sc)?)
        }
        (Value::String(s), T::Timestamp) => {
            Value::Timestamp(temporal::parse_timestamp(&trimmed(s)).ok()?)
        }
        (Value::String(s), T::Date) => Value::Date(temporal::parse_date(&trimmed(s)).ok()?),
        (Value::String(s), T::Time) => Value::Time(temporal::parse_time(&trimmed(s)).ok()?),
        (Value::String(s), T::Bytes) => Value::Bytes(cast::decode_base64(&trimmed(s)).ok()?),
        (Value::Timestamp(ms), T::Timestamp) => Value::Timestamp(*ms),
        (Value::Timestamp(ms), T::String) => Value::String(temporal::format_timestamp(*ms)),
        (Value::Date(d), T::Date) => Value::Date(*d),
        (Value::Date(d), T::String) => Value::String(temporal::format_date(*d)),
        (Value::Time(ms), T::Time) => Value::Time(*ms),
        (Value::Time(ms), T::String) => Value::String(temporal::format_time(*ms).ok()?),
        (Value::Bytes(b), T::Bytes) => Value::Bytes(b.clone()),
        _ => return None,
    })
}
