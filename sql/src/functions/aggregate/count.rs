//! COUNT and COUNT_DISTINCT.
//!
//! Accumulators:
//! - COUNT: `BIGINT`, the count so far.
//! - COUNT_DISTINCT: a [`Sketch`](super::hll::Sketch): `ARRAY<BIGINT>` of sorted value
//!   hashes while small, `BYTES` HyperLogLog registers once large.

use std::sync::Arc;

use super::common::{arg, bad_acc, no_match, Udaf};
use super::hll::{hash_value, Sketch};
use crate::functions::{AggregateUdf, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

const COUNT_SIGS: &[&str] = &["COUNT() => BIGINT", "COUNT(col1 ANY) => BIGINT"];
const COUNT_DISTINCT_SIGS: &[&str] = &["COUNT_DISTINCT(col1 ANY) => BIGINT"];

/// COUNT(*) / COUNT() count rows; COUNT(col) counts rows where `col` is not NULL.
pub(crate) fn count() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "COUNT",
        "Counts records. COUNT(*) and COUNT() count every record; COUNT(col1) counts the \
         records where col1 is not NULL. Applies to streams and tables.",
        COUNT_SIGS,
        Arc::new(|args| match args.len() {
            0 => Ok(Arc::new(Count { rows: true }) as Arc<dyn BoundAggregate>),
            1 => Ok(Arc::new(Count { rows: false }) as Arc<dyn BoundAggregate>),
            _ => Err(no_match("COUNT", args, COUNT_SIGS)),
        }),
    )
}

/// COUNT_DISTINCT(col): the number of distinct non-NULL values, exact up to
/// [`SPARSE_LIMIT`](super::hll::SPARSE_LIMIT) values and approximate (HyperLogLog) beyond.
pub(crate) fn count_distinct() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "COUNT_DISTINCT",
        "Returns the number of distinct non-NULL values of col1: exact for up to 1024 \
         distinct values, then approximated with HyperLogLog (typical error below 2%). \
         Applies to streams only.",
        COUNT_DISTINCT_SIGS,
        Arc::new(|args| match args {
            [_] => Ok(Arc::new(CountDistinct) as Arc<dyn BoundAggregate>),
            _ => Err(no_match("COUNT_DISTINCT", args, COUNT_DISTINCT_SIGS)),
        }),
    )
}

struct Count {
    /// Count rows (COUNT(*)) rather than non-NULL values.
    rows: bool,
}

impl Count {
    fn counts(&self, args: &[Value]) -> bool {
        self.rows || !arg(args, 0).is_null()
    }
}

fn count_of(acc: &Value) -> Result<i64, String> {
    match acc {
        Value::Bigint(n) => Ok(*n),
        Value::Null => Ok(0),
        other => Err(bad_acc("COUNT", other)),
    }
}

impl BoundAggregate for Count {
    fn return_type(&self) -> SqlType {
        SqlType::Bigint
    }

    fn initial(&self) -> Value {
        Value::Bigint(0)
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let n = count_of(&acc)?;
        Ok(Value::Bigint(if self.counts(args) {
            n.saturating_add(1)
        } else {
            n
        }))
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(count_of(&acc).map(|n| {
            Value::Bigint(if self.counts(args) {
                n.saturating_sub(1)
            } else {
                n
            })
        }))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        Ok(Value::Bigint(count_of(&a)?.saturating_add(count_of(&b)?)))
    }

    fn result(&self, acc: &Value) -> Value {
        count_of(acc).map(Value::Bigint).unwrap_or(Value::Null)
    }
}

struct CountDistinct;

fn sketch(acc: &Value) -> Result<Sketch, String> {
    Sketch::from_value(acc).ok_or_else(|| bad_acc("COUNT_DISTINCT", acc))
}

impl BoundAggregate for CountDistinct {
    fn return_type(&self) -> SqlType {
        SqlType::Bigint
    }

    fn initial(&self) -> Value {
        Sketch::empty().into_value()
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let v = arg(args, 0);
        if v.is_null() {
            return Ok(acc);
        }
        let mut s = sketch(&acc)?;
        s.insert(hash_value(v));
        Ok(s.into_value())
    }

    fn undo(&self, _acc: Value, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        Ok(sketch(&a)?.merge(sketch(&b)?).into_value())
    }

    fn result(&self, acc: &Value) -> Value {
        sketch(acc)
            .map(|s| Value::Bigint(s.estimate()))
            .unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::types::SqlType;
    use crate::value::Value;
    use proptest::prelude::*;

    #[test]
    fn count_star_counts_rows_and_count_col_counts_non_nulls() {
        let star = bind("COUNT", &[]);
        assert_eq!(star.return_type(), SqlType::Bigint);
        let rows: Vec<Vec<Value>> = vec![vec![], vec![], vec![]];
        assert_eq!(
            results(star.as_ref(), &rows),
            vec![Value::Bigint(1), Value::Bigint(2), Value::Bigint(3)]
        );
        let c = bind("COUNT", &[col(SqlType::String)]);
        let rows = rows1(&[
            Value::String("a".into()),
            Value::Null,
            Value::String("b".into()),
        ]);
        assert_eq!(
            results(c.as_ref(), &rows),
            vec![Value::Bigint(1), Value::Bigint(1), Value::Bigint(2)]
        );
        // COUNT(1): a literal is never NULL.
        let one = bind("COUNT", &[lit(SqlType::Int, Value::Int(1))]);
        assert_eq!(
            fold(one.as_ref(), &rows1(&[Value::Int(1), Value::Int(1)])),
            Value::Bigint(2)
        );
    }

    #[test]
    fn count_counts_back_to_zero_on_a_table() {
        // QTT "should count back to zero": two rows then both retracted.
        let c = bind("COUNT", &[]);
        let acc = fold(c.as_ref(), &[vec![], vec![]]);
        let acc = unfold(c.as_ref(), acc, &[vec![], vec![]]);
        assert_eq!(c.result(&acc), Value::Bigint(0));
    }

    #[test]
    fn count_rejects_two_arguments() {
        let err = try_bind("COUNT", &[col(SqlType::Int), col(SqlType::Int)]).err();
        assert!(err.is_some_and(|e| e.contains("does not accept parameters")));
    }

    #[test]
    fn count_distinct_ignores_nulls_and_is_stream_only() {
        // QTT "count distinct".
        let c = bind("COUNT_DISTINCT", &[col(SqlType::String)]);
        let s = |x: &str| Value::String(x.into());
        let rows = rows1(&[s("one"), s("two"), s("one"), s("two"), Value::Null]);
        assert_eq!(
            results(c.as_ref(), &rows),
            vec![
                Value::Bigint(1),
                Value::Bigint(2),
                Value::Bigint(2),
                Value::Bigint(2),
                Value::Bigint(2)
            ]
        );
        assert!(c.undo(c.initial(), &[s("x")]).is_none());
    }

    proptest! {
        #[test]
        fn count_add_then_undo_restores(
            base in prop::collection::vec(prop::option::of(any::<i32>()), 0..20),
            extra in prop::collection::vec(prop::option::of(any::<i32>()), 0..20),
        ) {
            let c = bind("COUNT", &[col(SqlType::Int)]);
            let to_rows = |xs: &[Option<i32>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Int)).collect::<Vec<_>>());
            let base_rows = to_rows(&base);
            let extra_rows = to_rows(&extra);
            let acc = fold(c.as_ref(), &base_rows);
            let mut all = base_rows.clone();
            all.extend(extra_rows.iter().cloned());
            let grown = fold(c.as_ref(), &all);
            let model = all.iter().filter(|r| !r[0].is_null()).count() as i64;
            prop_assert_eq!(c.result(&grown), Value::Bigint(model));
            let back = unfold(c.as_ref(), grown, &extra_rows);
            prop_assert_eq!(back, acc);
        }

        #[test]
        fn count_distinct_matches_a_set_and_merges(
            a in prop::collection::vec(prop::option::of(0i64..50), 0..40),
            b in prop::collection::vec(prop::option::of(0i64..50), 0..40),
        ) {
            let c = bind("COUNT_DISTINCT", &[col(SqlType::Bigint)]);
            let to_rows = |xs: &[Option<i64>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Bigint)).collect::<Vec<_>>());
            let model: std::collections::BTreeSet<i64> = a.iter().chain(&b).flatten().copied().collect();
            let merged = c.merge(fold(c.as_ref(), &to_rows(&a)), fold(c.as_ref(), &to_rows(&b))).unwrap();
            prop_assert_eq!(c.result(&merged), Value::Bigint(model.len() as i64));
        }
    }
}
