//! AVG.
//!
//! Accumulator: `STRUCT<SUM, COUNT BIGINT>` where SUM is a `BIGINT` for INT and BIGINT
//! arguments (wrapping on overflow, as ksqlDB's does) and a `DOUBLE` for DOUBLE and DECIMAL
//! ones (ksqlDB has no DECIMAL average: DECIMAL widens to DOUBLE). The result is a DOUBLE,
//! `SUM / COUNT`, and 0.0 while nothing was counted, as in ksqlDB.

use std::sync::Arc;

use super::common::{arg, bad_acc, field, no_match, to_f64, to_i64, Numeric, Udaf};
use crate::functions::{AggregateUdf, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

const AVG_SIGS: &[&str] = &[
    "AVG(col1 INTEGER) => DOUBLE",
    "AVG(col1 BIGINT) => DOUBLE",
    "AVG(col1 DOUBLE) => DOUBLE",
];

/// AVG(col): the average of the non-NULL values.
pub(crate) fn avg() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "AVG",
        "Returns the average of the non-NULL values of col1 (the sum divided by the count) \
         as a DOUBLE; 0.0 for a group without values. Applies to streams and tables.",
        AVG_SIGS,
        Arc::new(|args| match args {
            [a] => match a.ty.as_ref().and_then(Numeric::of) {
                Some(kind) => Ok(Arc::new(Avg {
                    integral: matches!(kind, Numeric::Int | Numeric::Bigint),
                }) as Arc<dyn BoundAggregate>),
                None => Err(no_match("avg", args, AVG_SIGS)),
            },
            _ => Err(no_match("avg", args, AVG_SIGS)),
        }),
    )
}

struct Avg {
    /// Sums as BIGINT (INT and BIGINT arguments) rather than DOUBLE.
    integral: bool,
}

/// A decoded accumulator.
#[derive(Clone, Copy)]
enum Sum {
    Int(i64),
    Double(f64),
}

impl Avg {
    fn decode(&self, acc: &Value) -> Result<(Sum, i64), String> {
        let sum = match field(acc, "SUM") {
            Some(Value::Bigint(s)) if self.integral => Sum::Int(*s),
            Some(Value::Double(s)) if !self.integral => Sum::Double(*s),
            _ => return Err(bad_acc("AVG", acc)),
        };
        match field(acc, "COUNT") {
            Some(Value::Bigint(c)) => Ok((sum, *c)),
            _ => Err(bad_acc("AVG", acc)),
        }
    }

    fn encode(sum: Sum, count: i64) -> Value {
        let sum = match sum {
            Sum::Int(s) => Value::Bigint(s),
            Sum::Double(s) => Value::Double(s),
        };
        Value::Struct(vec![
            ("SUM".to_owned(), sum),
            ("COUNT".to_owned(), Value::Bigint(count)),
        ])
    }

    fn step(&self, acc: Value, v: &Value, negate: bool) -> Result<Value, String> {
        if v.is_null() {
            return Ok(acc);
        }
        let (sum, count) = self.decode(&acc)?;
        let sum = match sum {
            Sum::Int(s) => {
                let x = to_i64("AVG", v)?.unwrap_or(0);
                Sum::Int(if negate {
                    s.wrapping_sub(x)
                } else {
                    s.wrapping_add(x)
                })
            }
            Sum::Double(s) => {
                let x = to_f64("AVG", v)?.unwrap_or(0.0);
                Sum::Double(if negate { s - x } else { s + x })
            }
        };
        let count = if negate {
            count.saturating_sub(1)
        } else {
            count.saturating_add(1)
        };
        Ok(Avg::encode(sum, count))
    }
}

impl BoundAggregate for Avg {
    fn return_type(&self) -> SqlType {
        SqlType::Double
    }

    fn initial(&self) -> Value {
        Avg::encode(
            if self.integral {
                Sum::Int(0)
            } else {
                Sum::Double(0.0)
            },
            0,
        )
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        self.step(acc, arg(args, 0), false)
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(self.step(acc, arg(args, 0), true))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let (sa, ca) = self.decode(&a)?;
        let (sb, cb) = self.decode(&b)?;
        let sum = match (sa, sb) {
            (Sum::Int(x), Sum::Int(y)) => Sum::Int(x.wrapping_add(y)),
            (Sum::Double(x), Sum::Double(y)) => Sum::Double(x + y),
            _ => return Err(bad_acc("AVG", &b)),
        };
        Ok(Avg::encode(sum, ca.saturating_add(cb)))
    }

    fn result(&self, acc: &Value) -> Value {
        match self.decode(acc) {
            Ok((_, 0)) => Value::Double(0.0),
            Ok((Sum::Int(s), c)) => Value::Double(s as f64 / c as f64),
            Ok((Sum::Double(s), c)) => Value::Double(s / c as f64),
            Err(_) => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::types::SqlType;
    use crate::value::Value;
    use proptest::prelude::*;

    #[test]
    fn average_int_ignores_nulls() {
        // QTT "average int", key alice: 1, 2, 2, null.
        let a = bind("AVG", &[col(SqlType::Int)]);
        assert_eq!(a.return_type(), SqlType::Double);
        let rows = rows1(&[Value::Int(1), Value::Int(2), Value::Int(2), Value::Null]);
        let got = results(a.as_ref(), &rows);
        let want = [1.0, 1.5, 1.6666666666666667, 1.6666666666666667];
        for (g, w) in got.iter().zip(want) {
            assert!(approx_eq(g, &Value::Double(w)), "{g:?} != {w}");
        }
        assert_eq!(a.result(&a.initial()), Value::Double(0.0));
    }

    #[test]
    fn average_long_near_the_limit() {
        // QTT "average long": -1, i64::MAX, 1.
        let a = bind("AVG", &[col(SqlType::Bigint)]);
        let rows = rows1(&[Value::Bigint(-1), Value::Bigint(i64::MAX), Value::Bigint(1)]);
        let got = results(a.as_ref(), &rows);
        assert_eq!(got[1], Value::Double(4.611_686_018_427_388E18));
        assert_eq!(got[2], Value::Double(3.074_457_345_618_258_4E18));
    }

    #[test]
    fn average_double_matches_ksql_exactly() {
        // QTT "average double", keys alice and bob.
        let a = bind("AVG", &[col(SqlType::Double)]);
        let d = |xs: &[Option<f64>]| {
            rows1(
                &xs.iter()
                    .map(|x| x.map_or(Value::Null, Value::Double))
                    .collect::<Vec<_>>(),
            )
        };
        let alice = d(&[Some(-1.8), Some(9223372036854.775), Some(100.2), None]);
        let want = [
            -1.8,
            4.611686018426487E12,
            3.074457345651058E12,
            3.074457345651058E12,
        ];
        let got = results(a.as_ref(), &alice);
        assert_eq!(
            got,
            want.iter().map(|w| Value::Double(*w)).collect::<Vec<_>>()
        );
        let bob = d(&[Some(2.3), Some(-200000.6), Some(0.0)]);
        let want = [2.3, -99999.15000000001, -66666.1];
        let got = results(a.as_ref(), &bob);
        assert_eq!(
            got,
            want.iter().map(|w| Value::Double(*w)).collect::<Vec<_>>()
        );
    }

    #[test]
    fn average_on_a_table_undoes() {
        // QTT "average udaf with table": alice 1, bob 2, alice -> null, alice -> 4.
        let a = bind("AVG", &[col(SqlType::Int)]);
        let acc = fold(a.as_ref(), &rows1(&[Value::Int(1), Value::Int(2)]));
        assert_eq!(a.result(&acc), Value::Double(1.5));
        let acc = unfold(a.as_ref(), acc, &rows1(&[Value::Int(1)]));
        let acc = a.add(acc, &[Value::Null]).unwrap();
        assert_eq!(a.result(&acc), Value::Double(2.0));
        let acc = unfold(a.as_ref(), acc, &rows1(&[Value::Null]));
        let acc = a.add(acc, &[Value::Int(4)]).unwrap();
        assert_eq!(a.result(&acc), Value::Double(3.0));
    }

    #[test]
    fn average_of_decimals_is_a_double_average() {
        let a = bind("AVG", &[col(SqlType::Decimal(4, 2))]);
        let d = |s: &str| Value::Decimal(s.parse().unwrap());
        let acc = fold(a.as_ref(), &rows1(&[d("1.50"), d("2.50")]));
        assert_eq!(a.result(&acc), Value::Double(2.0));
        assert!(try_bind("AVG", &[col(SqlType::String)]).is_err());
    }

    proptest! {
        #[test]
        fn double_average_matches_model_undoes_and_merges(
            base in prop::collection::vec(prop::option::of(-1e6f64..1e6), 0..20),
            extra in prop::collection::vec(prop::option::of(-1e6f64..1e6), 0..20),
        ) {
            let a = bind("AVG", &[col(SqlType::Double)]);
            let to_rows = |xs: &[Option<f64>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Double)).collect::<Vec<_>>());
            let acc = fold(a.as_ref(), &to_rows(&base));
            let mut all = base.clone();
            all.extend(extra.iter().copied());
            let grown = fold(a.as_ref(), &to_rows(&all));
            let vals: Vec<f64> = all.iter().flatten().copied().collect();
            let model = if vals.is_empty() { 0.0 } else { vals.iter().sum::<f64>() / vals.len() as f64 };
            prop_assert!((a.result(&grown).as_f64().unwrap() - model).abs() < 1e-6);
            let merged = a.merge(acc.clone(), fold(a.as_ref(), &to_rows(&extra))).unwrap();
            prop_assert!((a.result(&merged).as_f64().unwrap() - model).abs() < 1e-6);
            let back = unfold(a.as_ref(), grown, &to_rows(&extra));
            prop_assert!((a.result(&back).as_f64().unwrap() - a.result(&acc).as_f64().unwrap()).abs() < 1e-6);
        }

        #[test]
        fn int_average_undoes_exactly(
            base in prop::collection::vec(prop::option::of(any::<i32>()), 0..20),
            extra in prop::collection::vec(prop::option::of(any::<i32>()), 0..20),
        ) {
            let a = bind("AVG", &[col(SqlType::Int)]);
            let to_rows = |xs: &[Option<i32>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Int)).collect::<Vec<_>>());
            let acc = fold(a.as_ref(), &to_rows(&base));
            let mut all = base.clone();
            all.extend(extra.iter().copied());
            let grown = fold(a.as_ref(), &to_rows(&all));
            prop_assert_eq!(unfold(a.as_ref(), grown, &to_rows(&extra)), acc);
        }
    }
}
