//! MIN and MAX.
//!
//! Accumulator: the extreme value so far, of the argument's type, or NULL before any
//! non-NULL value (so a group of NULLs yields NULL). Not undoable: ksqlDB applies them to
//! streams only.

use std::cmp::Ordering;
use std::sync::Arc;

use super::common::{arg, is_orderable, no_match, order, Udaf};
use crate::functions::{AggregateUdf, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

const TYPES: &[&str] = &[
    "INTEGER",
    "BIGINT",
    "DOUBLE",
    "DECIMAL(p, s)",
    "STRING",
    "BYTES",
    "TIMESTAMP",
    "DATE",
    "TIME",
];

fn signatures(name: &str) -> Vec<String> {
    TYPES
        .iter()
        .map(|t| format!("{name}(col1 {t}) => {t}"))
        .collect()
}

fn extreme(name: &'static str, keep: Ordering, description: &'static str) -> Arc<dyn AggregateUdf> {
    let sigs = signatures(name);
    let sig_refs: Vec<&str> = sigs.iter().map(String::as_str).collect();
    let for_errors = sigs.clone();
    Udaf::shared(
        name,
        description,
        &sig_refs,
        Arc::new(move |args| match args {
            [a] => match &a.ty {
                Some(ty) if is_orderable(ty) => Ok(Arc::new(Extreme {
                    ty: ty.clone(),
                    keep,
                }) as Arc<dyn BoundAggregate>),
                _ => Err(no_match(
                    name,
                    args,
                    &for_errors.iter().map(String::as_str).collect::<Vec<_>>(),
                )),
            },
            _ => Err(no_match(
                name,
                args,
                &for_errors.iter().map(String::as_str).collect::<Vec<_>>(),
            )),
        }),
    )
}

/// MAX(col): the largest non-NULL value.
pub(crate) fn max() -> Arc<dyn AggregateUdf> {
    extreme(
        "MAX",
        Ordering::Greater,
        "Returns the largest non-NULL value of col1 (numbers, strings, bytes, dates, times \
         and timestamps); NULL when there is none. Applies to streams only.",
    )
}

/// MIN(col): the smallest non-NULL value.
pub(crate) fn min() -> Arc<dyn AggregateUdf> {
    extreme(
        "MIN",
        Ordering::Less,
        "Returns the smallest non-NULL value of col1 (numbers, strings, bytes, dates, times \
         and timestamps); NULL when there is none. Applies to streams only.",
    )
}

struct Extreme {
    ty: SqlType,
    /// `Greater` for MAX, `Less` for MIN: which side of a comparison wins.
    keep: Ordering,
}

impl Extreme {
    fn pick(&self, acc: Value, v: Value) -> Value {
        if v.is_null() {
            return acc;
        }
        if acc.is_null() || order(&v, &acc) == self.keep {
            v
        } else {
            acc
        }
    }
}

impl BoundAggregate for Extreme {
    fn return_type(&self) -> SqlType {
        self.ty.clone()
    }

    fn initial(&self) -> Value {
        Value::Null
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        Ok(self.pick(acc, arg(args, 0).clone()))
    }

    fn undo(&self, _acc: Value, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        Ok(self.pick(a, b))
    }

    fn result(&self, acc: &Value) -> Value {
        acc.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::types::SqlType;
    use crate::value::Value;
    use proptest::prelude::*;

    #[test]
    fn max_ignores_nulls() {
        // QTT "max integer group by", key 0: null, -2147483647, 5, null, 2000, 100.
        let m = bind("MAX", &[col(SqlType::Int)]);
        assert_eq!(m.return_type(), SqlType::Int);
        let rows = rows1(&[
            Value::Null,
            Value::Int(-2147483647),
            Value::Int(5),
            Value::Null,
            Value::Int(2000),
            Value::Int(100),
        ]);
        assert_eq!(
            results(m.as_ref(), &rows),
            vec![
                Value::Null,
                Value::Int(-2147483647),
                Value::Int(5),
                Value::Int(5),
                Value::Int(2000),
                Value::Int(2000)
            ]
        );
        assert!(m.undo(m.initial(), &[Value::Int(1)]).is_none());
    }

    #[test]
    fn min_and_max_over_other_types() {
        let s = |x: &str| Value::String(x.into());
        let m = bind("MIN", &[col(SqlType::String)]);
        assert_eq!(
            fold(m.as_ref(), &rows1(&[s("B"), s("A"), Value::Null, s("C")])),
            s("A")
        );
        let m = bind("MAX", &[col(SqlType::Timestamp)]);
        assert_eq!(
            fold(
                m.as_ref(),
                &rows1(&[
                    Value::Timestamp(-1),
                    Value::Timestamp(1010),
                    Value::Timestamp(50)
                ])
            ),
            Value::Timestamp(1010)
        );
        let d = |x: &str| Value::Decimal(x.parse().unwrap());
        let m = bind("MAX", &[col(SqlType::Decimal(4, 2))]);
        assert_eq!(
            fold(m.as_ref(), &rows1(&[d("-10.12"), d("05.10"), d("00.00")])),
            d("5.10")
        );
        let b = |x: &'static [u8]| Value::Bytes(bytes::Bytes::from_static(x));
        let m = bind("MAX", &[col(SqlType::Bytes)]);
        assert_eq!(
            fold(m.as_ref(), &rows1(&[b(b"B"), b(b"E"), b(b"A")])),
            b(b"E")
        );
        assert!(try_bind("MAX", &[col(SqlType::Boolean)]).is_err());
        assert!(try_bind("MIN", &[col(SqlType::array(SqlType::Int))]).is_err());
    }

    proptest! {
        #[test]
        fn matches_model_and_merges(
            a in prop::collection::vec(prop::option::of(any::<i64>()), 0..20),
            b in prop::collection::vec(prop::option::of(any::<i64>()), 0..20),
        ) {
            let to_rows = |xs: &[Option<i64>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Bigint)).collect::<Vec<_>>());
            for (name, model) in [
                ("MAX", a.iter().chain(&b).flatten().max().copied()),
                ("MIN", a.iter().chain(&b).flatten().min().copied()),
            ] {
                let f = bind(name, &[col(SqlType::Bigint)]);
                let model = model.map_or(Value::Null, Value::Bigint);
                let mut all = a.clone();
                all.extend(b.iter().copied());
                prop_assert_eq!(f.result(&fold(f.as_ref(), &to_rows(&all))), model.clone());
                let merged = f.merge(fold(f.as_ref(), &to_rows(&a)), fold(f.as_ref(), &to_rows(&b))).unwrap();
                prop_assert_eq!(f.result(&merged), model);
            }
        }
    }
}
