//! Test helpers for the aggregate functions: binding through the registry, folding rows,
//! and checking that accumulators survive the engine's encoding.

use std::sync::Arc;

use crate::functions::{Arg, BoundAggregate, FunctionRegistry};
use crate::types::SqlType;
use crate::value::Value;

/// Binds the built-in aggregate `name` against `args`, panicking (in tests) on failure.
pub(crate) fn bind(name: &str, args: &[Arg]) -> Arc<dyn BoundAggregate> {
    try_bind(name, args).unwrap_or_else(|e| panic!("bind {name}: {e}"))
}

/// Binds the built-in aggregate `name` against `args`.
pub(crate) fn try_bind(name: &str, args: &[Arg]) -> Result<Arc<dyn BoundAggregate>, String> {
    let mut r = FunctionRegistry::new();
    super::register(&mut r);
    let f = r
        .aggregate(name)
        .ok_or_else(|| format!("no aggregate {name}"))?;
    f.bind(args)
}

/// A column argument of type `ty`.
pub(crate) fn col(ty: SqlType) -> Arg {
    Arg::typed(ty)
}

/// A literal argument.
pub(crate) fn lit(ty: SqlType, v: Value) -> Arg {
    Arg {
        ty: Some(ty),
        literal: Some(v),
    }
}

/// Encodes and decodes an accumulator as the engine's store does.
pub(crate) fn roundtrip(acc: &Value) -> Value {
    let mut bytes = Vec::new();
    acc.encode(&mut bytes);
    let mut input = bytes.as_slice();
    let v = Value::decode(&mut input).expect("accumulator decodes");
    assert!(input.is_empty(), "trailing bytes after accumulator");
    v
}

/// Adds each row (its argument values) in order, storing the accumulator in between, and
/// returns the accumulator.
pub(crate) fn fold(b: &dyn BoundAggregate, rows: &[Vec<Value>]) -> Value {
    rows.iter().fold(b.initial(), |acc, row| {
        roundtrip(&b.add(acc, row).expect("add succeeds"))
    })
}

/// The result after each row, as the engine emits them.
pub(crate) fn results(b: &dyn BoundAggregate, rows: &[Vec<Value>]) -> Vec<Value> {
    let mut acc = b.initial();
    let mut out = Vec::new();
    for row in rows {
        acc = roundtrip(&b.add(acc, row).expect("add succeeds"));
        out.push(b.result(&acc));
    }
    out
}

/// Undoes each row in order.
pub(crate) fn unfold(b: &dyn BoundAggregate, acc: Value, rows: &[Vec<Value>]) -> Value {
    rows.iter().fold(acc, |acc, row| {
        let undone = b
            .undo(acc, row)
            .expect("function is undoable")
            .expect("undo succeeds");
        roundtrip(&undone)
    })
}

/// One-argument rows.
pub(crate) fn rows1(values: &[Value]) -> Vec<Vec<Value>> {
    values.iter().map(|v| vec![v.clone()]).collect()
}

/// Whether two values are equal, doubles within a relative 1e-9 (absolute 1e-9 near 0).
pub(crate) fn approx_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => {
            (x.is_nan() && y.is_nan()) || (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| approx_eq(p, q))
        }
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y)
                    .all(|((n, p), (m, q))| n == m && approx_eq(p, q))
        }
        _ => a == b,
    }
}
