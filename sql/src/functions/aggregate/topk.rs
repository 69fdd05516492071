//! TOPK and TOPKDISTINCT.
//!
//! Accumulators are the result itself, kept sorted in descending order:
//! - TOPK(col, k): `ARRAY<T>`, the k largest non-NULL values (duplicates kept).
//! - TOPK(col, other1, ..., otherN, k): `ARRAY<STRUCT<sort_col T, col0 U0, ...>>`, the rows
//!   with the k largest non-NULL `col`, carrying the other columns (which may be NULL);
//!   among equal `col` values the earlier row comes first, as in ksqlDB.
//! - TOPKDISTINCT(col, k): `ARRAY<T>`, the k largest distinct non-NULL values.
//!
//! Not undoable: ksqlDB applies them to streams only.

use std::cmp::Ordering;
use std::sync::Arc;

use super::common::{arg, field, is_orderable, items, literal_int, no_match, order, Udaf};
use crate::functions::{AggregateUdf, Arg, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

const TOPK_SIGS: &[&str] = &[
    "TOPK(col1 T, k INTEGER) => ARRAY<T>",
    "TOPK(col1 T, other1 ANY, ..., otherN ANY, k INTEGER) => \
     ARRAY<STRUCT<sort_col T, col0 ANY, ..., colN ANY>>",
];

const TOPKDISTINCT_SIGS: &[&str] = &["TOPKDISTINCT(col1 T, k INTEGER) => ARRAY<T>"];

/// The struct field holding the sorted value in TOPK's multi-column form.
const SORT_COL: &str = "sort_col";

/// The literal `k`, which must be at least 1.
fn top_k(display: &str, a: &Arg) -> Result<usize, String> {
    let k = literal_int(display, a, "k")?;
    if k < 1 {
        return Err(format!("{display}: k must be 1 or greater, got {k}"));
    }
    usize::try_from(k).map_err(|_| format!("{display}: k is too large: {k}"))
}

/// TOPK(col, k) and TOPK(col, others..., k).
pub(crate) fn topk() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "TOPK",
        "Returns the k largest non-NULL values of col1, largest first. With more columns \
         between col1 and k, returns for each of those rows a struct of col1 (sort_col) \
         and the other columns (col0, col1, ...). T is a number, string, bytes, date, time \
         or timestamp. Applies to streams only.",
        TOPK_SIGS,
        Arc::new(|args| {
            let (Some((k_arg, rest)), Some(Some(sort_ty))) =
                (args.split_last(), args.first().map(|a| a.ty.as_ref()))
            else {
                return Err(no_match("TOPK", args, TOPK_SIGS));
            };
            if rest.is_empty() || !is_orderable(sort_ty) {
                return Err(no_match("TOPK", args, TOPK_SIGS));
            }
            let k = top_k("TOPK", k_arg)?;
            let others = &rest[1..];
            if others.is_empty() {
                return Ok(Arc::new(TopK {
                    k,
                    element: sort_ty.clone(),
                    columns: None,
                }) as Arc<dyn BoundAggregate>);
            }
            let mut fields = vec![(SORT_COL.to_owned(), sort_ty.clone())];
            for (i, a) in others.iter().enumerate() {
                let Some(ty) = &a.ty else {
                    return Err(no_match("TOPK", args, TOPK_SIGS));
                };
                fields.push((format!("col{i}"), ty.clone()));
            }
            Ok(Arc::new(TopK {
                k,
                element: SqlType::Struct(fields),
                columns: Some(others.len()),
            }) as Arc<dyn BoundAggregate>)
        }),
    )
}

/// TOPKDISTINCT(col, k).
pub(crate) fn topk_distinct() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "TOPKDISTINCT",
        "Returns the k largest distinct non-NULL values of col1, largest first. Applies to \
         streams only.",
        TOPKDISTINCT_SIGS,
        Arc::new(|args| match args {
            [col, k_arg] => match &col.ty {
                Some(ty) if is_orderable(ty) => Ok(Arc::new(TopKDistinct {
                    k: top_k("TOPKDISTINCT", k_arg)?,
                    element: ty.clone(),
                }) as Arc<dyn BoundAggregate>),
                _ => Err(no_match("TOPKDISTINCT", args, TOPKDISTINCT_SIGS)),
            },
            _ => Err(no_match("TOPKDISTINCT", args, TOPKDISTINCT_SIGS)),
        }),
    )
}

struct TopK {
    k: usize,
    /// The element type of the result array.
    element: SqlType,
    /// For the multi-column form, how many columns follow the sorted one.
    columns: Option<usize>,
}

impl TopK {
    /// The value an element is ordered by.
    fn key<'a>(&self, element: &'a Value) -> &'a Value {
        match self.columns {
            Some(_) => field(element, SORT_COL).unwrap_or(&Value::Null),
            None => element,
        }
    }

    /// `a` before `b` in the result order (descending)?
    fn cmp(&self, a: &Value, b: &Value) -> Ordering {
        order(self.key(b), self.key(a))
    }
}

impl BoundAggregate for TopK {
    fn return_type(&self) -> SqlType {
        SqlType::array(self.element.clone())
    }

    fn initial(&self) -> Value {
        Value::Array(Vec::new())
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let v = arg(args, 0);
        if v.is_null() {
            return Ok(acc);
        }
        let element = match self.columns {
            None => v.clone(),
            Some(n) => {
                let mut fields = Vec::with_capacity(n + 1);
                fields.push((SORT_COL.to_owned(), v.clone()));
                for i in 0..n {
                    fields.push((format!("col{i}"), arg(args, i + 1).clone()));
                }
                Value::Struct(fields)
            }
        };
        let mut top = items("TOPK", acc)?;
        // After every element that sorts before it or ties with it: ties keep arrival order.
        let at = top.partition_point(|x| self.cmp(x, &element) != Ordering::Greater);
        if at < self.k {
            top.insert(at, element);
            top.truncate(self.k);
        }
        Ok(Value::Array(top))
    }

    fn undo(&self, _acc: Value, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let a = items("TOPK", a)?;
        let b = items("TOPK", b)?;
        let mut out = Vec::with_capacity(self.k.min(a.len() + b.len()));
        let mut a = a.into_iter().peekable();
        let mut b = b.into_iter().peekable();
        while out.len() < self.k {
            let take_a = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => self.cmp(x, y) != Ordering::Greater,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_a { a.next() } else { b.next() };
            match next {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(Value::Array(out))
    }

    fn result(&self, acc: &Value) -> Value {
        match acc {
            Value::Array(_) => acc.clone(),
            _ => Value::Null,
        }
    }
}

struct TopKDistinct {
    k: usize,
    element: SqlType,
}

impl TopKDistinct {
    fn insert(&self, top: &mut Vec<Value>, v: Value) {
        // Descending: the prefix of elements larger than v.
        let at = top.partition_point(|x| order(x, &v) == Ordering::Greater);
        let duplicate = top.get(at).is_some_and(|x| order(x, &v) == Ordering::Equal);
        if !duplicate && at < self.k {
            top.insert(at, v);
            top.truncate(self.k);
        }
    }
}

impl BoundAggregate for TopKDistinct {
    fn return_type(&self) -> SqlType {
        SqlType::array(self.element.clone())
    }

    fn initial(&self) -> Value {
        Value::Array(Vec::new())
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let v = arg(args, 0);
        if v.is_null() {
            return Ok(acc);
        }
        let mut top = items("TOPKDISTINCT", acc)?;
        self.insert(&mut top, v.clone());
        Ok(Value::Array(top))
    }

    fn undo(&self, _acc: Value, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let mut top = items("TOPKDISTINCT", a)?;
        for v in items("TOPKDISTINCT", b)? {
            self.insert(&mut top, v);
        }
        Ok(Value::Array(top))
    }

    fn result(&self, acc: &Value) -> Value {
        match acc {
            Value::Array(_) => acc.clone(),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::types::SqlType;
    use crate::value::Value;
    use proptest::prelude::*;

    fn ints(xs: &[i32]) -> Value {
        Value::Array(xs.iter().map(|x| Value::Int(*x)).collect())
    }

    fn k(n: i32) -> crate::functions::Arg {
        lit(SqlType::Int, Value::Int(n))
    }

    #[test]
    fn topk_keeps_duplicates() {
        // QTT "topk integer": 0, 100, 99, 7, 100 with k = 3.
        let t = bind("TOPK", &[col(SqlType::Int), k(3)]);
        assert_eq!(t.return_type(), SqlType::array(SqlType::Int));
        let rows: Vec<Vec<Value>> = [0, 100, 99, 7, 100]
            .iter()
            .map(|x| vec![Value::Int(*x), Value::Int(3)])
            .collect();
        assert_eq!(
            results(t.as_ref(), &rows),
            vec![
                ints(&[0]),
                ints(&[100, 0]),
                ints(&[100, 99, 0]),
                ints(&[100, 99, 7]),
                ints(&[100, 100, 99])
            ]
        );
    }

    #[test]
    fn topk_with_columns_builds_structs_and_keeps_ties_in_arrival_order() {
        // QTT "topk integer struct".
        let t = bind("TOPK", &[col(SqlType::Int), col(SqlType::String), k(3)]);
        assert_eq!(
            t.return_type(),
            SqlType::array(SqlType::Struct(vec![
                ("sort_col".into(), SqlType::Int),
                ("col0".into(), SqlType::String)
            ]))
        );
        let s = |x: &str| Value::String(x.into());
        let rows = vec![
            vec![Value::Int(0), s("zero"), Value::Int(3)],
            vec![Value::Int(100), s("one"), Value::Int(3)],
            vec![Value::Int(99), s("two"), Value::Int(3)],
            vec![Value::Null, s("three"), Value::Int(3)],
            vec![Value::Int(100), Value::Null, Value::Int(3)],
        ];
        let e = |v: i32, n: Value| {
            Value::Struct(vec![("sort_col".into(), Value::Int(v)), ("col0".into(), n)])
        };
        let got = results(t.as_ref(), &rows);
        assert_eq!(got[3], got[2]);
        assert_eq!(
            got[4],
            Value::Array(vec![e(100, s("one")), e(100, Value::Null), e(99, s("two"))])
        );
    }

    #[test]
    fn topk_checks_k() {
        assert!(try_bind("TOPK", &[col(SqlType::Int), k(0)]).is_err());
        assert!(try_bind("TOPK", &[col(SqlType::Int), col(SqlType::Int)]).is_err());
        assert!(try_bind("TOPK", &[col(SqlType::Int)]).is_err());
        assert!(try_bind("TOPK", &[col(SqlType::Boolean), k(2)]).is_err());
        assert!(try_bind("TOPKDISTINCT", &[col(SqlType::Double)]).is_err());
    }

    #[test]
    fn topkdistinct_drops_duplicates() {
        // QTT "topkdistinct tumbling": 0, 100, 10, 100 with k = 2.
        let t = bind("TOPKDISTINCT", &[col(SqlType::Double), k(2)]);
        let d = |xs: &[f64]| Value::Array(xs.iter().map(|x| Value::Double(*x)).collect());
        let rows = rows1(&[
            Value::Double(0.0),
            Value::Double(100.0),
            Value::Double(10.0),
            Value::Double(100.0),
        ]);
        assert_eq!(
            results(t.as_ref(), &rows),
            vec![
                d(&[0.0]),
                d(&[100.0, 0.0]),
                d(&[100.0, 10.0]),
                d(&[100.0, 10.0])
            ]
        );
    }

    proptest! {
        #[test]
        fn topk_matches_sorting_and_merges(
            a in prop::collection::vec(prop::option::of(-50i32..50), 0..20),
            b in prop::collection::vec(prop::option::of(-50i32..50), 0..20),
            n in 1i32..6,
        ) {
            let to_rows = |xs: &[Option<i32>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Int)).collect::<Vec<_>>());
            let t = bind("TOPK", &[col(SqlType::Int), k(n)]);
            let td = bind("TOPKDISTINCT", &[col(SqlType::Int), k(n)]);
            let mut all: Vec<i32> = a.iter().chain(&b).flatten().copied().collect();
            all.sort_unstable_by(|x, y| y.cmp(x));
            let mut distinct = all.clone();
            distinct.dedup();
            all.truncate(n as usize);
            distinct.truncate(n as usize);
            let mut rows = to_rows(&a);
            rows.extend(to_rows(&b));
            prop_assert_eq!(t.result(&fold(t.as_ref(), &rows)), ints(&all));
            prop_assert_eq!(td.result(&fold(td.as_ref(), &rows)), ints(&distinct));
            let merged = t.merge(fold(t.as_ref(), &to_rows(&a)), fold(t.as_ref(), &to_rows(&b))).unwrap();
            prop_assert_eq!(merged, ints(&all));
            let merged = td.merge(fold(td.as_ref(), &to_rows(&a)), fold(td.as_ref(), &to_rows(&b))).unwrap();
            prop_assert_eq!(merged, ints(&distinct));
        }
    }
}
