//! A no-panic sweep: every signature of every function, bound with columns of its
//! parameter types (and with the untyped NULL), evaluated on edge values. Failures must be
//! `Err`s or NULLs, never panics, and non-NULL results must have the bound return type.

use std::panic::{catch_unwind, AssertUnwindSafe};

use bytes::Bytes;

use crate::functions::Arg;
use crate::types::SqlType;
use crate::value::Value;

use super::testkit::reg;

/// The column type used for a parameter type written as `DESCRIBE FUNCTION` prints it.
fn type_for(param: &str) -> Option<(SqlType, Option<Value>)> {
    let t = match param {
        "INT" => SqlType::Int,
        "BIGINT" => SqlType::Bigint,
        "DOUBLE" => SqlType::Double,
        "DECIMAL" => SqlType::Decimal(4, 2),
        "VARCHAR" => SqlType::String,
        "BYTES" => SqlType::Bytes,
        "BOOLEAN" => SqlType::Boolean,
        "TIMESTAMP" => SqlType::Timestamp,
        "DATE" => SqlType::Date,
        "TIME" => SqlType::Time,
        "T" | "V" => SqlType::Int,
        "K" => SqlType::String,
        "ARRAY<T>" | "ARRAY<INT>" => SqlType::array(SqlType::Int),
        "ARRAY<VARCHAR>" => SqlType::array(SqlType::String),
        "MAP<K, V>" | "MAP<VARCHAR, V>" => SqlType::map(SqlType::String, SqlType::Int),
        "STRUCT" => SqlType::Struct(vec![("A".into(), SqlType::Int)]),
        "INTERVALUNIT" => {
            return Some((SqlType::String, Some(Value::String("DAYS".into()))));
        }
        _ => return None,
    };
    Some((t, None))
}

fn pool(ty: &SqlType) -> Vec<Value> {
    let s = |v: &str| Value::String(v.to_string());
    match ty {
        SqlType::Int => vec![
            Value::Int(0),
            Value::Int(1),
            Value::Int(-1),
            Value::Int(7),
            Value::Int(i32::MIN),
            Value::Int(i32::MAX),
        ],
        SqlType::Bigint => vec![
            Value::Bigint(0),
            Value::Bigint(-1),
            Value::Bigint(i64::MIN),
            Value::Bigint(i64::MAX),
        ],
        SqlType::Double => vec![
            Value::Double(0.0),
            Value::Double(-0.0),
            Value::Double(1.5),
            Value::Double(1e308),
            Value::Double(-1e308),
            Value::Double(f64::NAN),
            Value::Double(f64::INFINITY),
        ],
        SqlType::Decimal(..) => ["0.00", "-99.99", "99.99", "0.05"]
            .iter()
            .map(|d| Value::Decimal(d.parse().unwrap_or_default()))
            .collect(),
        SqlType::String => vec![
            s(""),
            s("a"),
            s("ß💥\u{0}x"),
            s("%zz%"),
            s("yyyy-MM-dd'T'HH:mm:ss.SSSX"),
            s("2020-02-30T25:61:61Z"),
            s("[1, {\"a\": [null]}, \"x\"]"),
            s("{\"a\":1"),
            s("\\u"),
            s("(("),
            s("$9\\"),
            s("http://u@[::1]:99999/p?q=%ZZ#f"),
            s("DESC"),
            s("KM"),
            s("America/Los_Angeles"),
            s(&"x".repeat(5000)),
        ],
        SqlType::Bytes => vec![
            Value::Bytes(Bytes::new()),
            Value::Bytes(Bytes::from_static(&[0xff])),
            Value::Bytes(Bytes::from_static(&[1, 2, 3, 4])),
            Value::Bytes(Bytes::from_static(&[1, 2, 3, 4, 5, 6, 7, 8])),
        ],
        SqlType::Boolean => vec![Value::Boolean(true), Value::Boolean(false)],
        SqlType::Timestamp => vec![
            Value::Timestamp(0),
            Value::Timestamp(i64::MIN),
            Value::Timestamp(i64::MAX),
            Value::Timestamp(-1),
        ],
        SqlType::Date => vec![Value::Date(0), Value::Date(i32::MIN), Value::Date(i32::MAX)],
        SqlType::Time => vec![
            Value::Time(0),
            Value::Time(-1),
            Value::Time(86_399_999),
            Value::Time(i64::MAX),
        ],
        SqlType::Array(inner) => {
            let items = pool(inner);
            vec![
                Value::Array(vec![]),
                Value::Array(vec![Value::Null, items[0].clone()]),
                Value::Array(items),
            ]
        }
        SqlType::Map(..) => vec![
            Value::Map(vec![]),
            Value::Map(vec![(s("b"), Value::Int(1)), (s("a"), Value::Null)]),
        ],
        SqlType::Struct(_) => vec![Value::Struct(vec![("A".into(), Value::Int(1))])],
    }
}

/// The parameter types of a signature line `NAME(a T, b U...) => R`, and whether the last
/// one repeats.
fn params(line: &str) -> Option<(Vec<String>, bool)> {
    let open = line.find('(')?;
    let close = line.rfind(") =>")?;
    let inner = &line[open + 1..close];
    if inner.trim().is_empty() {
        return Some((vec![], false));
    }
    let mut out = Vec::new();
    let mut variadic = false;
    let mut depth = 0;
    let mut current = String::new();
    for c in inner.chars().chain(std::iter::once(',')) {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            let part = current.trim();
            let ty = part.split_once(' ').map(|(_, t)| t.trim())?;
            let ty = match ty.strip_suffix("...") {
                Some(t) => {
                    variadic = true;
                    t
                }
                None => ty,
            };
            out.push(ty.to_string());
            current.clear();
        } else {
            current.push(c);
        }
    }
    Some((out, variadic))
}

fn has_type(v: &Value, ty: &SqlType) -> bool {
    matches!(
        (v, ty),
        (Value::Null, _)
            | (Value::Boolean(_), SqlType::Boolean)
            | (Value::Int(_), SqlType::Int)
            | (Value::Bigint(_), SqlType::Bigint)
            | (Value::Double(_), SqlType::Double)
            | (Value::Decimal(_), SqlType::Decimal(..))
            | (Value::String(_), SqlType::String)
            | (Value::Bytes(_), SqlType::Bytes)
            | (Value::Timestamp(_), SqlType::Timestamp)
            | (Value::Date(_), SqlType::Date)
            | (Value::Time(_), SqlType::Time)
            | (Value::Array(_), SqlType::Array(_))
            | (Value::Map(_), SqlType::Map(..))
            | (Value::Struct(_), SqlType::Struct(_))
    )
}

#[test]
fn no_function_panics_on_edge_values() {
    let r = reg();
    let mut calls = 0;
    for (name, _) in r.list() {
        let Some(f) = r.scalar(&name) else { continue };
        for line in f.signatures() {
            let Some((types, variadic)) = params(&line) else {
                panic!("unparsable signature {line}");
            };
            let mut arities = vec![types.len()];
            if variadic {
                arities.push(types.len() + 2);
                if !types.is_empty() {
                    arities.push(types.len() - 1);
                }
            }
            for arity in arities {
                let cols: Vec<(SqlType, Option<Value>)> = (0..arity)
                    .map(|i| {
                        let t = types
                            .get(i)
                            .or(types.last())
                            .map(String::as_str)
                            .unwrap_or("");
                        type_for(t).unwrap_or_else(|| panic!("no test type for {t} in {line}"))
                    })
                    .collect();
                let args: Vec<Arg> = cols
                    .iter()
                    .map(|(t, lit)| Arg {
                        ty: Some(t.clone()),
                        literal: lit.clone(),
                    })
                    .collect();
                // String parameters as literals too (bind-time compilation of patterns).
                let strings = pool(&SqlType::String);
                for lit in strings
                    .iter()
                    .filter(|v| v.as_str().is_some_and(|s| s.len() < 100))
                {
                    let lit_args: Vec<Arg> = cols
                        .iter()
                        .map(|(t, l)| Arg {
                            ty: Some(t.clone()),
                            literal: match (t, l) {
                                (_, Some(v)) => Some(v.clone()),
                                (SqlType::String, None) => Some(lit.clone()),
                                _ => None,
                            },
                        })
                        .collect();
                    let Ok(b) = f.bind(&lit_args) else { continue };
                    let vals: Vec<Value> = lit_args
                        .iter()
                        .zip(&cols)
                        .map(|(a, (t, _))| a.literal.clone().unwrap_or_else(|| pool(t)[0].clone()))
                        .collect();
                    calls += 1;
                    let out = catch_unwind(AssertUnwindSafe(|| (b.eval)(&vals)));
                    assert!(out.is_ok(), "{line} panicked on literal {vals:?}");
                }
                let Ok(bound) = f.bind(&args) else { continue };
                let pools: Vec<Vec<Value>> = cols
                    .iter()
                    .map(|(t, lit)| match lit {
                        Some(v) => vec![v.clone()],
                        None => pool(t),
                    })
                    .collect();
                for k in 0..48usize {
                    let vals: Vec<Value> = pools
                        .iter()
                        .enumerate()
                        .map(|(j, p)| {
                            if k == 47 {
                                Value::Null
                            } else {
                                p[(k * (j + 3) + j * 5 + k / 7) % p.len()].clone()
                            }
                        })
                        .collect();
                    if bound.null_on_null && vals.iter().any(Value::is_null) {
                        continue;
                    }
                    calls += 1;
                    let out = catch_unwind(AssertUnwindSafe(|| (bound.eval)(&vals)));
                    match out {
                        Err(_) => panic!("{line} panicked on {vals:?}"),
                        Ok(Ok(v)) => assert!(
                            has_type(&v, &bound.return_type),
                            "{line} returned {v:?} for {vals:?}, not a {}",
                            bound.return_type
                        ),
                        Ok(Err(_)) => {}
                    }
                }
            }
        }
        // The untyped NULL in every position must bind or fail cleanly.
        for n in 0..4 {
            let nulls = vec![
                Arg {
                    ty: None,
                    literal: Some(Value::Null)
                };
                n
            ];
            if let Ok(b) = f.bind(&nulls) {
                let vals = vec![Value::Null; n];
                let out = catch_unwind(AssertUnwindSafe(|| (b.eval)(&vals)));
                assert!(out.is_ok(), "{name} panicked on {n} NULLs");
            }
        }
    }
    assert!(calls > 1000, "only {calls} calls were made");
}
