//! ATTR: the single value a group is expected to have.
//!
//! Accumulator: `ARRAY<STRUCT<VALUE T, COUNT BIGINT>>`, one entry per distinct value
//! (NULL included) with how many live rows carry it; entries whose count drops to 0 are
//! removed. The result is the value when exactly one distinct value is live, else NULL.
//! Undoable (ksqlDB applies it to streams and tables).

use std::sync::Arc;

use super::common::{arg, bad_acc, field, items, no_match, Udaf};
use crate::functions::{AggregateUdf, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

const ATTR_SIGS: &[&str] = &["ATTR(col1 T) => T"];

/// ATTR(col).
pub(crate) fn attr() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "ATTR",
        "Returns the value of col1 when every record of the group has the same value \
         (NULL counts as a value), and NULL when there are several distinct values. For \
         columns expected to be unique per group. Applies to streams and tables.",
        ATTR_SIGS,
        Arc::new(|args| match args {
            [a] => match &a.ty {
                Some(ty) => Ok(Arc::new(Attr { ty: ty.clone() }) as Arc<dyn BoundAggregate>),
                None => Err(no_match("ATTR", args, ATTR_SIGS)),
            },
            _ => Err(no_match("ATTR", args, ATTR_SIGS)),
        }),
    )
}

struct Attr {
    ty: SqlType,
}

fn entry(v: Value, count: i64) -> Value {
    Value::Struct(vec![
        ("VALUE".to_owned(), v),
        ("COUNT".to_owned(), Value::Bigint(count)),
    ])
}

fn count_of(e: &Value) -> Result<i64, String> {
    match field(e, "COUNT") {
        Some(Value::Bigint(c)) => Ok(*c),
        _ => Err(bad_acc("ATTR", e)),
    }
}

/// Adds `n` (possibly negative) to the count of `v`.
fn bump(list: &mut Vec<Value>, v: &Value, n: i64) -> Result<(), String> {
    let mut found = None;
    for (i, e) in list.iter().enumerate() {
        if field(e, "VALUE") == Some(v) {
            found = Some((i, count_of(e)?));
            break;
        }
    }
    match found {
        Some((i, c)) => {
            let c = c.saturating_add(n);
            if c > 0 {
                if let Some(slot) = list.get_mut(i) {
                    *slot = entry(v.clone(), c);
                }
            } else {
                list.remove(i);
            }
        }
        None if n > 0 => list.push(entry(v.clone(), n)),
        None => {}
    }
    Ok(())
}

impl BoundAggregate for Attr {
    fn return_type(&self) -> SqlType {
        self.ty.clone()
    }

    fn initial(&self) -> Value {
        Value::Array(Vec::new())
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let mut list = items("ATTR", acc)?;
        bump(&mut list, arg(args, 0), 1)?;
        Ok(Value::Array(list))
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(items("ATTR", acc).and_then(|mut list| {
            bump(&mut list, arg(args, 0), -1)?;
            Ok(Value::Array(list))
        }))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let mut list = items("ATTR", a)?;
        for e in items("ATTR", b)? {
            let v = field(&e, "VALUE").cloned().unwrap_or(Value::Null);
            bump(&mut list, &v, count_of(&e)?)?;
        }
        Ok(Value::Array(list))
    }

    fn result(&self, acc: &Value) -> Value {
        match acc {
            Value::Array(list) if list.len() == 1 => list
                .first()
                .and_then(|e| field(e, "VALUE"))
                .cloned()
                .unwrap_or(Value::Null),
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

    #[test]
    fn attr_is_null_when_values_differ() {
        let a = bind("ATTR", &[col(SqlType::Int)]);
        assert_eq!(a.return_type(), SqlType::Int);
        assert_eq!(
            results(
                a.as_ref(),
                &rows1(&[Value::Int(1), Value::Int(1), Value::Int(2)])
            ),
            vec![Value::Int(1), Value::Int(1), Value::Null]
        );
        // Retracting the odd one out brings the value back.
        let acc = fold(a.as_ref(), &rows1(&[Value::Int(1), Value::Int(2)]));
        let acc = unfold(a.as_ref(), acc, &rows1(&[Value::Int(2)]));
        assert_eq!(a.result(&acc), Value::Int(1));
    }

    proptest! {
        #[test]
        fn attr_add_then_undo_restores(
            base in prop::collection::vec(prop::option::of(0i32..3), 0..10),
            extra in prop::collection::vec(prop::option::of(0i32..3), 0..10),
        ) {
            let a = bind("ATTR", &[col(SqlType::Int)]);
            let to_rows = |xs: &[Option<i32>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Int)).collect::<Vec<_>>());
            let acc = fold(a.as_ref(), &to_rows(&base));
            let mut all = base.clone();
            all.extend(extra.iter().copied());
            let grown = fold(a.as_ref(), &to_rows(&all));
            let distinct: std::collections::BTreeSet<Option<i32>> = all.iter().copied().collect();
            let model = if distinct.len() == 1 {
                distinct.into_iter().next().flatten().map_or(Value::Null, Value::Int)
            } else {
                Value::Null
            };
            prop_assert_eq!(a.result(&grown), model);
            let back = unfold(a.as_ref(), grown.clone(), &to_rows(&extra));
            let sorted = |v: &Value| {
                let Value::Array(mut xs) = v.clone() else { return Vec::new() };
                xs.sort_by(|p, q| p.total_cmp(q));
                xs
            };
            prop_assert_eq!(sorted(&back), sorted(&acc));
            let merged = a.merge(acc, fold(a.as_ref(), &to_rows(&extra))).unwrap();
            prop_assert_eq!(a.result(&merged), a.result(&grown));
        }
    }
}
