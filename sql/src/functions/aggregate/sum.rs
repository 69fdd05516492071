//! SUM and SUM_LIST.
//!
//! Accumulators: the running sum itself, of the result type (`INT`, `BIGINT`, `DOUBLE`, or
//! `DECIMAL` at the argument's scale). Both start at zero, so a group whose values are all
//! NULL sums to 0, as in ksqlDB. Integer sums wrap on overflow as ksqlDB's (Java) do; a
//! DECIMAL(p, s) sum is an error once it reaches 10^(p - s) ("Numeric field overflow").

use std::sync::Arc;

use bigdecimal::{BigDecimal, RoundingMode, Zero};

use super::common::{arg, bad_acc, no_match, to_decimal, to_f64, to_i64, Numeric, Udaf};
use crate::functions::{AggregateUdf, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

const SUM_SIGS: &[&str] = &[
    "SUM(col1 INTEGER) => INTEGER",
    "SUM(col1 BIGINT) => BIGINT",
    "SUM(col1 DOUBLE) => DOUBLE",
    "SUM(col1 DECIMAL(p, s)) => DECIMAL(p, s)",
];

const SUM_LIST_SIGS: &[&str] = &[
    "SUM_LIST(list ARRAY<INTEGER>) => INTEGER",
    "SUM_LIST(list ARRAY<BIGINT>) => BIGINT",
    "SUM_LIST(list ARRAY<DOUBLE>) => DOUBLE",
];

/// SUM(col): the sum of the non-NULL values.
pub(crate) fn sum() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "SUM",
        "Sums the values of col1, ignoring NULLs. The result has the type of col1; a \
         DECIMAL sum that no longer fits the column's precision is an error. Applies to \
         streams and tables.",
        SUM_SIGS,
        Arc::new(|args| match args {
            [a] => match a.ty.as_ref().and_then(Numeric::of) {
                Some(kind) => Ok(Arc::new(Sum::new(kind)) as Arc<dyn BoundAggregate>),
                None => Err(no_match("SUM", args, SUM_SIGS)),
            },
            _ => Err(no_match("SUM", args, SUM_SIGS)),
        }),
    )
}

/// SUM_LIST(list): the sum of the non-NULL elements of every list.
pub(crate) fn sum_list() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "SUM_LIST",
        "Returns the sum of the non-NULL elements of the lists of every record; a NULL \
         list is ignored. Applies to streams and tables.",
        SUM_LIST_SIGS,
        Arc::new(|args| {
            let kind = match args {
                [a] => match &a.ty {
                    Some(SqlType::Array(inner)) => match inner.as_ref() {
                        SqlType::Int => Some(Numeric::Int),
                        SqlType::Bigint => Some(Numeric::Bigint),
                        SqlType::Double => Some(Numeric::Double),
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            };
            match kind {
                Some(kind) => Ok(Arc::new(SumList(Sum::new(kind))) as Arc<dyn BoundAggregate>),
                None => Err(no_match("sum_list", args, SUM_LIST_SIGS)),
            }
        }),
    )
}

/// A sum of one numeric type; shared by SUM and SUM_LIST.
struct Sum {
    kind: Numeric,
    /// For DECIMAL(p, s): 10^(p - s), the smallest magnitude that overflows.
    limit: Option<BigDecimal>,
}

impl Sum {
    fn new(kind: Numeric) -> Sum {
        let limit = match kind {
            Numeric::Decimal(p, s) => {
                let digits = i64::from(p) - i64::from(s);
                format!("1e{digits}").parse().ok()
            }
            _ => None,
        };
        Sum { kind, limit }
    }

    fn zero(&self) -> Value {
        match self.kind {
            Numeric::Int => Value::Int(0),
            Numeric::Bigint => Value::Bigint(0),
            Numeric::Double => Value::Double(0.0),
            Numeric::Decimal(_, s) => Value::Decimal(BigDecimal::zero().with_scale(i64::from(s))),
        }
    }

    /// `acc + sign * v` for one non-NULL-checked value; NULL leaves `acc` unchanged.
    fn step(&self, acc: Value, v: &Value, negate: bool) -> Result<Value, String> {
        if v.is_null() {
            return Ok(acc);
        }
        match (self.kind, acc) {
            (Numeric::Int, Value::Int(a)) => {
                let x = to_i32(v)?;
                Ok(Value::Int(if negate {
                    a.wrapping_sub(x)
                } else {
                    a.wrapping_add(x)
                }))
            }
            (Numeric::Bigint, Value::Bigint(a)) => {
                let x = to_i64("SUM", v)?.unwrap_or(0);
                Ok(Value::Bigint(if negate {
                    a.wrapping_sub(x)
                } else {
                    a.wrapping_add(x)
                }))
            }
            (Numeric::Double, Value::Double(a)) => {
                let x = to_f64("SUM", v)?.unwrap_or(0.0);
                Ok(Value::Double(if negate { a - x } else { a + x }))
            }
            (Numeric::Decimal(..), Value::Decimal(a)) => {
                let x = to_decimal("SUM", v)?.unwrap_or_default();
                let r = if negate { a - x } else { a + x };
                self.checked(r)
            }
            (_, other) => Err(bad_acc("SUM", &other)),
        }
    }

    /// A decimal sum at the column's scale, or the overflow error.
    fn checked(&self, d: BigDecimal) -> Result<Value, String> {
        let Numeric::Decimal(p, s) = self.kind else {
            return Ok(Value::Decimal(d));
        };
        let d = d.with_scale_round(i64::from(s), RoundingMode::HalfUp);
        if let Some(limit) = &self.limit {
            if d.abs() >= *limit {
                return Err(format!(
                    "Numeric field overflow: A field with precision {p} and scale {s} must \
                     round to an absolute value less than 10^{}. Got {d}",
                    i64::from(p) - i64::from(s)
                ));
            }
        }
        Ok(Value::Decimal(d))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        if b.is_null() {
            return Ok(a);
        }
        if a.is_null() {
            return Ok(b);
        }
        self.step(a, &b, false)
    }

    fn result(&self, acc: &Value) -> Value {
        match (self.kind, acc) {
            (Numeric::Int, Value::Int(_))
            | (Numeric::Bigint, Value::Bigint(_))
            | (Numeric::Double, Value::Double(_)) => acc.clone(),
            (Numeric::Decimal(_, s), Value::Decimal(d)) => {
                Value::Decimal(d.with_scale(i64::from(s)))
            }
            _ => Value::Null,
        }
    }

    fn return_type(&self) -> SqlType {
        match self.kind {
            Numeric::Int => SqlType::Int,
            Numeric::Bigint => SqlType::Bigint,
            Numeric::Double => SqlType::Double,
            Numeric::Decimal(p, s) => SqlType::Decimal(p, s),
        }
    }
}

fn to_i32(v: &Value) -> Result<i32, String> {
    let x = to_i64("SUM", v)?.unwrap_or(0);
    i32::try_from(x).map_err(|_| format!("SUM: {x} does not fit an INTEGER"))
}

impl BoundAggregate for Sum {
    fn return_type(&self) -> SqlType {
        Sum::return_type(self)
    }

    fn initial(&self) -> Value {
        self.zero()
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        self.step(acc, arg(args, 0), false)
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(self.step(acc, arg(args, 0), true))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        Sum::merge(self, a, b)
    }

    fn result(&self, acc: &Value) -> Value {
        Sum::result(self, acc)
    }
}

/// SUM_LIST: a [`Sum`] fed with every element of each list.
struct SumList(Sum);

impl SumList {
    fn fold(&self, acc: Value, list: &Value, negate: bool) -> Result<Value, String> {
        match list {
            Value::Null => Ok(acc),
            Value::Array(items) => items
                .iter()
                .try_fold(acc, |acc, x| self.0.step(acc, x, negate)),
            other => Err(format!("sum_list: expected an ARRAY, got {other:?}")),
        }
    }
}

impl BoundAggregate for SumList {
    fn return_type(&self) -> SqlType {
        self.0.return_type()
    }

    fn initial(&self) -> Value {
        self.0.zero()
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        self.fold(acc, arg(args, 0), false)
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(self.fold(acc, arg(args, 0), true))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        self.0.merge(a, b)
    }

    fn result(&self, acc: &Value) -> Value {
        self.0.result(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::types::SqlType;
    use crate::value::Value;
    use bigdecimal::BigDecimal;
    use proptest::prelude::*;

    fn dec(s: &str) -> Value {
        Value::Decimal(s.parse().unwrap())
    }

    #[test]
    fn sums_keep_the_argument_type() {
        // QTT "sum int", "sum long", "sum double".
        let s = bind("SUM", &[col(SqlType::Int)]);
        assert_eq!(s.return_type(), SqlType::Int);
        assert_eq!(
            results(s.as_ref(), &rows1(&[Value::Int(0), Value::Int(100)])),
            vec![Value::Int(0), Value::Int(100)]
        );
        let s = bind("SUM", &[col(SqlType::Bigint)]);
        assert_eq!(
            fold(
                s.as_ref(),
                &rows1(&[Value::Bigint(2147483648), Value::Bigint(100)])
            ),
            Value::Bigint(2147483748)
        );
        let s = bind("SUM", &[col(SqlType::Double)]);
        let r = fold(
            s.as_ref(),
            &rows1(&[Value::Double(500.9), Value::Double(300.8)]),
        );
        assert!(approx_eq(&r, &Value::Double(801.7)));
    }

    #[test]
    fn null_values_sum_to_zero() {
        // QTT "sum int left join of table": the right side is NULL until it joins.
        let s = bind("SUM", &[col(SqlType::Int)]);
        assert_eq!(fold(s.as_ref(), &rows1(&[Value::Null])), Value::Int(0));
    }

    #[test]
    fn decimal_sum_keeps_scale_and_detects_overflow() {
        // QTT "sum decimal" and "sum decimal with overflow".
        let s = bind("SUM", &[col(SqlType::Decimal(4, 1))]);
        assert_eq!(s.return_type(), SqlType::Decimal(4, 1));
        assert_eq!(s.result(&s.initial()), dec("0.0"));
        let acc = fold(s.as_ref(), &rows1(&[dec("500.9"), dec("300.8")]));
        let Value::Decimal(d) = s.result(&acc) else {
            panic!("not a decimal")
        };
        assert_eq!(d.to_string(), "801.7");
        let err = s.add(acc, &[dec("400.8")]).unwrap_err();
        assert!(err.starts_with("Numeric field overflow"), "{err}");
        // With a wider cast the same values fit.
        let s = bind("SUM", &[col(SqlType::Decimal(6, 2))]);
        let acc = fold(
            s.as_ref(),
            &rows1(&[dec("500.90"), dec("300.80"), dec("400.80")]),
        );
        let Value::Decimal(d) = s.result(&acc) else {
            panic!("not a decimal")
        };
        assert_eq!(d.to_string(), "1202.50");
    }

    #[test]
    fn sum_rejects_non_numbers() {
        assert!(try_bind("SUM", &[col(SqlType::String)]).is_err());
        assert!(try_bind("SUM", &[]).is_err());
        assert!(try_bind("SUM_LIST", &[col(SqlType::Int)]).is_err());
    }

    #[test]
    fn sum_list_skips_null_elements() {
        // QTT "sum list of ints into a single int".
        let s = bind("SUM_LIST", &[col(SqlType::array(SqlType::Int))]);
        assert_eq!(s.return_type(), SqlType::Int);
        let list = |xs: &[Option<i32>]| {
            Value::Array(
                xs.iter()
                    .map(|x| x.map_or(Value::Null, Value::Int))
                    .collect(),
            )
        };
        let rows = rows1(&[
            list(&[Some(1), Some(1)]),
            list(&[Some(2), Some(2)]),
            Value::Null,
            list(&[Some(100), Some(100), None]),
        ]);
        assert_eq!(
            results(s.as_ref(), &rows),
            vec![Value::Int(2), Value::Int(6), Value::Int(6), Value::Int(206)]
        );
    }

    proptest! {
        #[test]
        fn bigint_sum_matches_model_and_undoes(
            base in prop::collection::vec(prop::option::of(-1_000_000i64..1_000_000), 0..20),
            extra in prop::collection::vec(prop::option::of(-1_000_000i64..1_000_000), 0..20),
        ) {
            let s = bind("SUM", &[col(SqlType::Bigint)]);
            let to_rows = |xs: &[Option<i64>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Bigint)).collect::<Vec<_>>());
            let acc = fold(s.as_ref(), &to_rows(&base));
            let mut all = base.clone();
            all.extend(extra.iter().copied());
            let grown = fold(s.as_ref(), &to_rows(&all));
            prop_assert_eq!(s.result(&grown), Value::Bigint(all.iter().flatten().sum()));
            prop_assert_eq!(unfold(s.as_ref(), grown.clone(), &to_rows(&extra)), acc.clone());
            // Merge (session windows) agrees with adding everything.
            let merged = s.merge(acc, fold(s.as_ref(), &to_rows(&extra))).unwrap();
            prop_assert_eq!(merged, grown);
        }

        #[test]
        fn int_sum_wraps_like_java(xs in prop::collection::vec(any::<i32>(), 0..10)) {
            let s = bind("SUM", &[col(SqlType::Int)]);
            let model = xs.iter().fold(0i32, |a, x| a.wrapping_add(*x));
            let rows = rows1(&xs.iter().map(|x| Value::Int(*x)).collect::<Vec<_>>());
            let acc = fold(s.as_ref(), &rows);
            prop_assert_eq!(s.result(&acc), Value::Int(model));
            prop_assert_eq!(unfold(s.as_ref(), acc, &rows), Value::Int(0));
        }

        #[test]
        fn decimal_sum_undoes_exactly(
            base in prop::collection::vec(-99_999i64..99_999, 0..10),
            extra in prop::collection::vec(-99_999i64..99_999, 0..10),
        ) {
            let s = bind("SUM", &[col(SqlType::Decimal(12, 2))]);
            let d = |x: &i64| Value::Decimal(BigDecimal::new((*x).into(), 2));
            let base_rows = rows1(&base.iter().map(d).collect::<Vec<_>>());
            let extra_rows = rows1(&extra.iter().map(d).collect::<Vec<_>>());
            let acc = fold(s.as_ref(), &base_rows);
            let mut all = base_rows.clone();
            all.extend(extra_rows.iter().cloned());
            let grown = fold(s.as_ref(), &all);
            let model: i64 = base.iter().chain(&extra).sum();
            let Value::Decimal(total) = s.result(&grown) else { panic!("not a decimal") };
            prop_assert_eq!(total, BigDecimal::new(model.into(), 2));
            prop_assert_eq!(unfold(s.as_ref(), grown, &extra_rows), acc);
        }

        #[test]
        fn double_sum_list_undoes_approximately(
            base in prop::collection::vec(prop::collection::vec(-1e6f64..1e6, 0..4), 0..8),
            extra in prop::collection::vec(prop::collection::vec(-1e6f64..1e6, 0..4), 0..8),
        ) {
            let s = bind("SUM_LIST", &[col(SqlType::array(SqlType::Double))]);
            let to_rows = |ls: &[Vec<f64>]| rows1(&ls.iter().map(|l| Value::Array(l.iter().map(|x| Value::Double(*x)).collect())).collect::<Vec<_>>());
            let acc = fold(s.as_ref(), &to_rows(&base));
            let mut all = base.clone();
            all.extend(extra.iter().cloned());
            let grown = fold(s.as_ref(), &to_rows(&all));
            let model: f64 = all.iter().flatten().sum();
            prop_assert!((s.result(&grown).as_f64().unwrap() - model).abs() < 1e-3);
            let back = unfold(s.as_ref(), grown, &to_rows(&extra));
            prop_assert!((back.as_f64().unwrap() - acc.as_f64().unwrap()).abs() < 1e-3);
        }
    }
}
