//! Pieces shared by the built-in aggregate functions: a generic [`AggregateUdf`] that
//! carries its binder as a closure, signature-mismatch messages in ksqlDB's wording, and
//! small helpers to read arguments, literals and accumulator fields without panicking.

use std::cmp::Ordering;
use std::sync::Arc;

use bigdecimal::BigDecimal;

use crate::functions::{AggregateUdf, Arg, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

/// Binds an aggregate at one call site.
pub(crate) type Binder =
    Arc<dyn Fn(&[Arg]) -> Result<Arc<dyn BoundAggregate>, String> + Send + Sync>;

/// A built-in aggregate function: its names, description, signatures and binder.
pub(crate) struct Udaf {
    /// Upper-case name, as registered.
    pub name: &'static str,
    pub description: &'static str,
    pub signatures: Vec<String>,
    pub bind: Binder,
}

impl Udaf {
    /// A function from its parts; `signatures` are written as `NAME(arg TYPE) => TYPE`.
    /// Binders report mismatches with [`no_match`] under the name as ksqlDB spells it in
    /// its messages (`avg`, `TOPK`, ...).
    pub(crate) fn shared(
        name: &'static str,
        description: &'static str,
        signatures: &[&str],
        bind: Binder,
    ) -> Arc<dyn AggregateUdf> {
        Arc::new(Udaf {
            name,
            description,
            signatures: signatures.iter().map(|s| (*s).to_owned()).collect(),
            bind,
        })
    }
}

impl AggregateUdf for Udaf {
    fn name(&self) -> &str {
        self.name
    }

    fn description(&self) -> &str {
        self.description
    }

    fn signatures(&self) -> Vec<String> {
        self.signatures.clone()
    }

    fn bind(&self, args: &[Arg]) -> Result<Arc<dyn BoundAggregate>, String> {
        (self.bind)(args)
    }
}

/// The argument types of a call site as ksqlDB prints them: `(INTEGER, STRING)`; an
/// untyped `NULL` prints as `NULL`.
pub(crate) fn arg_types(args: &[Arg]) -> String {
    let types: Vec<String> = args
        .iter()
        .map(|a| match &a.ty {
            Some(t) => t.to_string(),
            None => "NULL".to_owned(),
        })
        .collect();
    format!("({})", types.join(", "))
}

/// ksqlDB's message for a call no signature accepts, listing the valid alternatives.
pub(crate) fn no_match(display: &str, args: &[Arg], signatures: &[&str]) -> String {
    let mut msg = format!(
        "Function '{display}' does not accept parameters {}.",
        arg_types(args)
    );
    if !signatures.is_empty() {
        msg.push_str("\nValid alternatives are:");
        for s in signatures {
            msg.push('\n');
            msg.push_str(s);
        }
    }
    msg
}

/// The `i`-th argument value of a row, or NULL when the engine passed fewer.
pub(crate) fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Null)
}

/// The field `name` of a struct accumulator.
pub(crate) fn field<'a>(acc: &'a Value, name: &str) -> Option<&'a Value> {
    match acc {
        Value::Struct(fields) => fields.iter().find(|(n, _)| n == name).map(|(_, v)| v),
        _ => None,
    }
}

/// The error for an accumulator whose shape this function does not know (a damaged store
/// or state written by a different version).
pub(crate) fn bad_acc(function: &str, acc: &Value) -> String {
    format!("{function}: unexpected accumulator {acc:?}")
}

/// The items of an array accumulator.
pub(crate) fn items(function: &str, acc: Value) -> Result<Vec<Value>, String> {
    match acc {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(bad_acc(function, &other)),
    }
}

/// The value of a literal argument that must be an integer (`TOPK(col, 3)`).
pub(crate) fn literal_int(display: &str, arg: &Arg, what: &str) -> Result<i64, String> {
    match &arg.literal {
        Some(Value::Int(i)) => Ok(i64::from(*i)),
        Some(Value::Bigint(i)) => Ok(*i),
        Some(other) => Err(format!(
            "{display}: {what} must be an INTEGER literal, got {other:?}"
        )),
        None => Err(format!("{display}: {what} must be a literal")),
    }
}

/// The value of a literal argument that must be a boolean (`ignoreNulls`).
pub(crate) fn literal_bool(display: &str, arg: &Arg, what: &str) -> Result<bool, String> {
    match &arg.literal {
        Some(Value::Boolean(b)) => Ok(*b),
        Some(other) => Err(format!(
            "{display}: {what} must be a BOOLEAN literal, got {other:?}"
        )),
        None => Err(format!("{display}: {what} must be a literal")),
    }
}

/// Types with a natural order that MIN, MAX and TOPK accept.
pub(crate) fn is_orderable(ty: &SqlType) -> bool {
    matches!(
        ty,
        SqlType::Int
            | SqlType::Bigint
            | SqlType::Double
            | SqlType::Decimal(..)
            | SqlType::String
            | SqlType::Bytes
            | SqlType::Timestamp
            | SqlType::Date
            | SqlType::Time
    )
}

/// Orders two values of one column: SQL order, with a total order (as Java's `compareTo`
/// has: NaN above every number) where SQL has none.
pub(crate) fn order(a: &Value, b: &Value) -> Ordering {
    a.total_cmp(b)
}

/// The numeric families the arithmetic aggregates have signatures for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Numeric {
    Int,
    Bigint,
    Double,
    /// DECIMAL(precision, scale).
    Decimal(u8, u8),
}

impl Numeric {
    /// The family of a numeric SQL type.
    pub(crate) fn of(ty: &SqlType) -> Option<Numeric> {
        match ty {
            SqlType::Int => Some(Numeric::Int),
            SqlType::Bigint => Some(Numeric::Bigint),
            SqlType::Double => Some(Numeric::Double),
            SqlType::Decimal(p, s) => Some(Numeric::Decimal(*p, *s)),
            _ => None,
        }
    }
}

/// A row value as an i64 (INT or BIGINT); `None` for NULL.
pub(crate) fn to_i64(function: &str, v: &Value) -> Result<Option<i64>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Int(i) => Ok(Some(i64::from(*i))),
        Value::Bigint(i) => Ok(Some(*i)),
        other => Err(format!("{function}: expected an integer, got {other:?}")),
    }
}

/// A row value as an f64 (any number); `None` for NULL.
pub(crate) fn to_f64(function: &str, v: &Value) -> Result<Option<f64>, String> {
    match v {
        Value::Null => Ok(None),
        other => other
            .as_f64()
            .map(Some)
            .ok_or_else(|| format!("{function}: expected a number, got {other:?}")),
    }
}

/// A row value as a decimal (any number); `None` for NULL.
pub(crate) fn to_decimal(function: &str, v: &Value) -> Result<Option<BigDecimal>, String> {
    match v {
        Value::Null => Ok(None),
        other => other
            .as_decimal()
            .map(Some)
            .ok_or_else(|| format!("{function}: expected a number, got {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_message_uses_ksql_wording() {
        let args = [Arg::typed(SqlType::map(SqlType::String, SqlType::Int))];
        let msg = no_match("explode", &args, &["explode(ARRAY<T> list)"]);
        assert_eq!(
            msg,
            "Function 'explode' does not accept parameters (MAP<STRING, INTEGER>).\n\
             Valid alternatives are:\nexplode(ARRAY<T> list)"
        );
        let untyped = [Arg {
            ty: None,
            literal: Some(Value::Null),
        }];
        assert_eq!(arg_types(&untyped), "(NULL)");
    }

    #[test]
    fn literals_are_checked() {
        let three = Arg {
            ty: Some(SqlType::Int),
            literal: Some(Value::Int(3)),
        };
        assert_eq!(literal_int("TOPK", &three, "k"), Ok(3));
        assert!(literal_int("TOPK", &Arg::typed(SqlType::Int), "k").is_err());
        assert!(literal_bool("X", &three, "ignoreNulls").is_err());
    }

    #[test]
    fn helpers_never_panic_on_short_rows() {
        assert_eq!(arg(&[], 3), &Value::Null);
        assert_eq!(field(&Value::Int(1), "SUM"), None);
        assert!(items("F", Value::Int(1)).is_err());
        assert_eq!(items("F", Value::Null), Ok(Vec::new()));
    }
}
