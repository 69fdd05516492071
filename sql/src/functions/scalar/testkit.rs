//! Helpers for the unit tests: bind a function as the engine would and run it.

use crate::functions::{Arg, FunctionRegistry};
use crate::types::SqlType;
use crate::value::Value;

/// A registry with this module's functions.
pub fn reg() -> FunctionRegistry {
    let mut r = FunctionRegistry::new();
    super::register(&mut r);
    r
}

/// A column argument of type `ty`.
pub fn typed(ty: SqlType) -> Arg {
    Arg::typed(ty)
}

/// A literal argument (its type follows the value; a NULL is untyped).
pub fn lit(v: Value) -> Arg {
    let ty = match &v {
        Value::Null => None,
        Value::Boolean(_) => Some(SqlType::Boolean),
        Value::Int(_) => Some(SqlType::Int),
        Value::Bigint(_) => Some(SqlType::Bigint),
        Value::Double(_) => Some(SqlType::Double),
        Value::Decimal(d) => {
            let (digits, scale) = d.as_bigint_and_exponent();
            let precision = digits.to_string().trim_start_matches('-').len() as i64;
            Some(SqlType::Decimal(
                precision.max(scale).max(1) as u8,
                scale.max(0) as u8,
            ))
        }
        Value::String(_) => Some(SqlType::String),
        Value::Bytes(_) => Some(SqlType::Bytes),
        Value::Timestamp(_) => Some(SqlType::Timestamp),
        Value::Date(_) => Some(SqlType::Date),
        Value::Time(_) => Some(SqlType::Time),
        _ => None,
    };
    Arg {
        ty,
        literal: Some(v),
    }
}

/// An untyped NULL literal.
pub fn null() -> Arg {
    Arg {
        ty: None,
        literal: Some(Value::Null),
    }
}

/// A string value.
pub fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// A decimal value.
pub fn dec(v: &str) -> Value {
    Value::Decimal(v.parse().unwrap_or_default())
}

/// Binds `name` for `args` and evaluates it on `values`, honouring `null_on_null` as the
/// engine does. A binding error is returned as `Err` too.
pub fn call(
    r: &FunctionRegistry,
    name: &str,
    args: &[Arg],
    values: &[Value],
) -> Result<Value, String> {
    let f = r
        .scalar(name)
        .ok_or_else(|| format!("no function {name}"))?;
    let b = f.bind(args)?;
    if b.null_on_null && values.iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    (b.eval)(values)
}

/// The return type of `name` bound for `args`.
pub fn ret_type(r: &FunctionRegistry, name: &str, args: &[Arg]) -> Result<SqlType, String> {
    let f = r
        .scalar(name)
        .ok_or_else(|| format!("no function {name}"))?;
    Ok(f.bind(args)?.return_type)
}

/// Calls `name` with arguments that are columns of the values' own types (`types` gives
/// them, one per value).
pub fn run(
    r: &FunctionRegistry,
    name: &str,
    types: &[SqlType],
    values: &[Value],
) -> Result<Value, String> {
    let args: Vec<Arg> = types.iter().cloned().map(Arg::typed).collect();
    call(r, name, &args, values)
}
