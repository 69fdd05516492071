//! COLLECT_LIST, COLLECT_SET and HISTOGRAM.
//!
//! Accumulators are the results themselves:
//! - COLLECT_LIST: `ARRAY<T>` in arrival order, NULLs included, at most `limit` entries
//!   (ksqlDB's `ksql.functions.collect_list.limit`, default [`DEFAULT_COLLECT_LIMIT`]);
//!   values past the limit are silently dropped. Undo removes the last equal entry, as
//!   ksqlDB does (entries of a table group are unordered anyway).
//! - COLLECT_SET: `ARRAY<T>` of distinct values in first-arrival order, NULL included once,
//!   at most `limit` entries (`ksql.functions.collect_set.limit`). Streams only.
//! - HISTOGRAM: `MAP<STRING, BIGINT>` from each distinct string to its count, in
//!   first-arrival order, at most 1000 distinct strings (later new strings are ignored).
//!   NULL strings are not counted (ksqlDB would count them under a NULL key, which no
//!   output format can write). Undo decrements, removing a string whose count reaches 0.

use std::sync::Arc;

use super::common::{arg, bad_acc, items, no_match, Udaf};
use crate::functions::{AggregateUdf, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

/// ksqlDB's default for `ksql.functions.collect_list.limit` and
/// `ksql.functions.collect_set.limit`.
pub const DEFAULT_COLLECT_LIMIT: usize = 1000;

/// HISTOGRAM's fixed limit on distinct strings.
const HISTOGRAM_LIMIT: usize = 1000;

const COLLECT_LIST_SIGS: &[&str] = &["COLLECT_LIST(col1 T) => ARRAY<T>"];
const COLLECT_SET_SIGS: &[&str] = &["COLLECT_SET(col1 T) => ARRAY<T>"];
const HISTOGRAM_SIGS: &[&str] = &["HISTOGRAM(col1 STRING) => MAP<STRING, BIGINT>"];

/// COLLECT_LIST(col) keeping at most `limit` values.
pub(crate) fn collect_list(limit: usize) -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "COLLECT_LIST",
        "Returns an array of every value of col1 (NULLs included) in arrival order. At \
         most ksql.functions.collect_list.limit values (1000 by default) are kept; later \
         ones are ignored. On a table the order of the entries is not defined. Applies to \
         streams and tables.",
        COLLECT_LIST_SIGS,
        Arc::new(move |args| match args {
            [a] => match &a.ty {
                Some(ty) => Ok(Arc::new(CollectList {
                    element: ty.clone(),
                    limit,
                }) as Arc<dyn BoundAggregate>),
                None => Err(no_match("collect_list", args, COLLECT_LIST_SIGS)),
            },
            _ => Err(no_match("collect_list", args, COLLECT_LIST_SIGS)),
        }),
    )
}

/// COLLECT_SET(col) keeping at most `limit` distinct values.
pub(crate) fn collect_set(limit: usize) -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "COLLECT_SET",
        "Returns an array of the distinct values of col1 (NULL included once) in order of \
         first arrival. At most ksql.functions.collect_set.limit values (1000 by default) \
         are kept; later ones are ignored. Applies to streams only.",
        COLLECT_SET_SIGS,
        Arc::new(move |args| match args {
            [a] => match &a.ty {
                Some(ty) => Ok(Arc::new(CollectSet {
                    element: ty.clone(),
                    limit,
                }) as Arc<dyn BoundAggregate>),
                None => Err(no_match("collect_set", args, COLLECT_SET_SIGS)),
            },
            _ => Err(no_match("collect_set", args, COLLECT_SET_SIGS)),
        }),
    )
}

/// HISTOGRAM(col): counts per distinct string.
pub(crate) fn histogram() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "HISTOGRAM",
        "Returns a map from each distinct non-NULL string of col1 to the number of times \
         it occurs. At most 1000 distinct strings are counted; later new ones are ignored. \
         Applies to streams and tables.",
        HISTOGRAM_SIGS,
        Arc::new(|args| match args {
            [a] if a.ty == Some(SqlType::String) => {
                Ok(Arc::new(Histogram) as Arc<dyn BoundAggregate>)
            }
            _ => Err(no_match("histogram", args, HISTOGRAM_SIGS)),
        }),
    )
}

struct CollectList {
    element: SqlType,
    limit: usize,
}

impl BoundAggregate for CollectList {
    fn return_type(&self) -> SqlType {
        SqlType::array(self.element.clone())
    }

    fn initial(&self) -> Value {
        Value::Array(Vec::new())
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let mut list = items("COLLECT_LIST", acc)?;
        if list.len() < self.limit {
            list.push(arg(args, 0).clone());
        }
        Ok(Value::Array(list))
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(items("COLLECT_LIST", acc).map(|mut list| {
            let v = arg(args, 0);
            // Not found: it was dropped at the limit, so there is nothing to remove.
            if let Some(at) = list.iter().rposition(|x| x == v) {
                list.remove(at);
            }
            Value::Array(list)
        }))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let mut list = items("COLLECT_LIST", a)?;
        let room = self.limit.saturating_sub(list.len());
        list.extend(items("COLLECT_LIST", b)?.into_iter().take(room));
        Ok(Value::Array(list))
    }

    fn result(&self, acc: &Value) -> Value {
        match acc {
            Value::Array(_) => acc.clone(),
            _ => Value::Null,
        }
    }
}

struct CollectSet {
    element: SqlType,
    limit: usize,
}

impl CollectSet {
    fn insert(&self, set: &mut Vec<Value>, v: Value) {
        if set.len() < self.limit && !set.contains(&v) {
            set.push(v);
        }
    }
}

impl BoundAggregate for CollectSet {
    fn return_type(&self) -> SqlType {
        SqlType::array(self.element.clone())
    }

    fn initial(&self) -> Value {
        Value::Array(Vec::new())
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let mut set = items("COLLECT_SET", acc)?;
        self.insert(&mut set, arg(args, 0).clone());
        Ok(Value::Array(set))
    }

    fn undo(&self, _acc: Value, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let mut set = items("COLLECT_SET", a)?;
        for v in items("COLLECT_SET", b)? {
            self.insert(&mut set, v);
        }
        Ok(Value::Array(set))
    }

    fn result(&self, acc: &Value) -> Value {
        match acc {
            Value::Array(_) => acc.clone(),
            _ => Value::Null,
        }
    }
}

struct Histogram;

fn entries(acc: Value) -> Result<Vec<(Value, Value)>, String> {
    match acc {
        Value::Map(entries) => Ok(entries),
        Value::Null => Ok(Vec::new()),
        other => Err(bad_acc("HISTOGRAM", &other)),
    }
}

/// Adds `n` (possibly negative) to the count of `key`, dropping it at zero and ignoring
/// new keys past the limit.
fn bump(map: &mut Vec<(Value, Value)>, key: &Value, n: i64) -> Result<(), String> {
    match map.iter().position(|(k, _)| k == key) {
        Some(at) => {
            let count = match map.get(at) {
                Some((_, Value::Bigint(c))) => c.saturating_add(n),
                Some((_, other)) => return Err(bad_acc("HISTOGRAM", other)),
                None => return Ok(()),
            };
            if count < 1 {
                map.remove(at);
            } else if let Some(entry) = map.get_mut(at) {
                entry.1 = Value::Bigint(count);
            }
        }
        None => {
            if n > 0 && map.len() < HISTOGRAM_LIMIT {
                map.push((key.clone(), Value::Bigint(n)));
            }
        }
    }
    Ok(())
}

impl Histogram {
    fn step(acc: Value, v: &Value, n: i64) -> Result<Value, String> {
        match v {
            Value::Null => Ok(acc),
            Value::String(_) => {
                let mut map = entries(acc)?;
                bump(&mut map, v, n)?;
                Ok(Value::Map(map))
            }
            other => Err(format!("histogram: expected a STRING, got {other:?}")),
        }
    }
}

impl BoundAggregate for Histogram {
    fn return_type(&self) -> SqlType {
        SqlType::map(SqlType::String, SqlType::Bigint)
    }

    fn initial(&self) -> Value {
        Value::Map(Vec::new())
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        Histogram::step(acc, arg(args, 0), 1)
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(Histogram::step(acc, arg(args, 0), -1))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let mut map = entries(a)?;
        for (k, v) in entries(b)? {
            match v {
                Value::Bigint(n) => bump(&mut map, &k, n)?,
                other => return Err(bad_acc("HISTOGRAM", &other)),
            }
        }
        Ok(Value::Map(map))
    }

    fn result(&self, acc: &Value) -> Value {
        match acc {
            Value::Map(_) => acc.clone(),
            _ => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use super::collect_list;
    use crate::types::SqlType;
    use crate::value::Value;
    use proptest::prelude::*;

    fn s(x: &str) -> Value {
        Value::String(x.into())
    }

    #[test]
    fn collect_list_keeps_nulls_and_order() {
        // QTT "collect_list string", key 100: baz, baz, foo, null.
        let c = bind("COLLECT_LIST", &[col(SqlType::String)]);
        assert_eq!(c.return_type(), SqlType::array(SqlType::String));
        let acc = fold(
            c.as_ref(),
            &rows1(&[s("baz"), s("baz"), s("foo"), Value::Null]),
        );
        assert_eq!(
            c.result(&acc),
            Value::Array(vec![s("baz"), s("baz"), s("foo"), Value::Null])
        );
    }

    #[test]
    fn collect_list_on_a_table_replaces_values() {
        // QTT "collect_list int table": key 0 goes 0 -> 100.
        let c = bind("COLLECT_LIST", &[col(SqlType::Int)]);
        let acc = fold(c.as_ref(), &rows1(&[Value::Int(0)]));
        let acc = unfold(c.as_ref(), acc, &rows1(&[Value::Int(0)]));
        let acc = c.add(acc, &[Value::Int(100)]).unwrap();
        assert_eq!(c.result(&acc), Value::Array(vec![Value::Int(100)]));
    }

    #[test]
    fn collect_list_limit_drops_later_values_and_bounds_merges() {
        // QTT "collect_list with limit of 1".
        let f = collect_list(1);
        let c = f.bind(&[col(SqlType::Int)]).unwrap();
        let acc = fold(c.as_ref(), &rows1(&[Value::Int(0), Value::Int(100)]));
        assert_eq!(acc, Value::Array(vec![Value::Int(0)]));
        // Undo of a value dropped at the limit changes nothing.
        let acc = unfold(c.as_ref(), acc, &rows1(&[Value::Int(100)]));
        assert_eq!(acc, Value::Array(vec![Value::Int(0)]));
        let merged = c.merge(acc, Value::Array(vec![Value::Int(5)])).unwrap();
        assert_eq!(merged, Value::Array(vec![Value::Int(0)]));
    }

    #[test]
    fn collect_set_is_distinct_and_stream_only() {
        let c = bind("COLLECT_SET", &[col(SqlType::String)]);
        let acc = fold(
            c.as_ref(),
            &rows1(&[s("a"), s("b"), s("a"), Value::Null, Value::Null]),
        );
        assert_eq!(acc, Value::Array(vec![s("a"), s("b"), Value::Null]));
        let merged = c.merge(acc, Value::Array(vec![s("c"), s("a")])).unwrap();
        assert_eq!(
            merged,
            Value::Array(vec![s("a"), s("b"), Value::Null, s("c")])
        );
        assert!(c.undo(c.initial(), &[s("a")]).is_none());
    }

    #[test]
    fn histogram_counts_strings() {
        let h = bind("HISTOGRAM", &[col(SqlType::String)]);
        assert_eq!(
            h.return_type(),
            SqlType::map(SqlType::String, SqlType::Bigint)
        );
        let acc = fold(h.as_ref(), &rows1(&[s("a"), s("b"), s("a"), Value::Null]));
        assert_eq!(
            acc,
            Value::Map(vec![(s("a"), Value::Bigint(2)), (s("b"), Value::Bigint(1))])
        );
        let acc = unfold(h.as_ref(), acc, &rows1(&[s("b")]));
        assert_eq!(acc, Value::Map(vec![(s("a"), Value::Bigint(2))]));
        assert!(try_bind("HISTOGRAM", &[col(SqlType::Int)]).is_err());
    }

    #[test]
    fn histogram_stops_at_the_limit() {
        let h = bind("HISTOGRAM", &[col(SqlType::String)]);
        let rows: Vec<Vec<Value>> = (0..1005).map(|i| vec![s(&i.to_string())]).collect();
        let acc = fold(h.as_ref(), &rows);
        let Value::Map(m) = &acc else {
            panic!("not a map")
        };
        assert_eq!(m.len(), 1000);
        // Existing strings still count.
        let acc = h.add(acc, &[s("0")]).unwrap();
        let Value::Map(m) = &acc else {
            panic!("not a map")
        };
        assert_eq!(m.first(), Some(&(s("0"), Value::Bigint(2))));
    }

    fn strings(xs: &[Option<u8>]) -> Vec<Vec<Value>> {
        rows1(
            &xs.iter()
                .map(|x| x.map_or(Value::Null, |c| s(&c.to_string())))
                .collect::<Vec<_>>(),
        )
    }

    proptest! {
        #[test]
        fn collect_list_add_then_undo_restores(
            base in prop::collection::vec(prop::option::of(0u8..5), 0..15),
            extra in prop::collection::vec(prop::option::of(0u8..5), 0..15),
        ) {
            let c = bind("COLLECT_LIST", &[col(SqlType::String)]);
            let acc = fold(c.as_ref(), &strings(&base));
            let mut all = base.clone();
            all.extend(extra.iter().copied());
            let grown = fold(c.as_ref(), &strings(&all));
            let model: Vec<Value> = strings(&all).into_iter().flatten().collect();
            prop_assert_eq!(c.result(&grown), Value::Array(model));
            // Retractions in reverse restore the exact list.
            let mut rev = strings(&extra);
            rev.reverse();
            prop_assert_eq!(unfold(c.as_ref(), grown.clone(), &rev), acc.clone());
            // In arrival order they restore the same multiset.
            let back = unfold(c.as_ref(), grown, &strings(&extra));
            let sorted = |v: Value| {
                let Value::Array(mut xs) = v else { return Vec::new() };
                xs.sort_by(|a, b| a.total_cmp(b));
                xs
            };
            prop_assert_eq!(sorted(back), sorted(acc.clone()));
            let merged = c.merge(acc, fold(c.as_ref(), &strings(&extra))).unwrap();
            prop_assert_eq!(merged, fold(c.as_ref(), &strings(&all)));
        }

        #[test]
        fn histogram_add_then_undo_restores(
            base in prop::collection::vec(prop::option::of(0u8..5), 0..15),
            extra in prop::collection::vec(prop::option::of(0u8..5), 0..15),
        ) {
            let h = bind("HISTOGRAM", &[col(SqlType::String)]);
            let acc = fold(h.as_ref(), &strings(&base));
            let mut all = base.clone();
            all.extend(extra.iter().copied());
            let grown = fold(h.as_ref(), &strings(&all));
            let mut model = std::collections::BTreeMap::new();
            for x in all.iter().flatten() {
                *model.entry(x.to_string()).or_insert(0i64) += 1;
            }
            let Value::Map(got) = h.result(&grown) else { panic!("not a map") };
            let got: std::collections::BTreeMap<String, i64> = got.into_iter().map(|(k, v)| (k.as_str().unwrap().to_owned(), v.as_i64().unwrap())).collect();
            prop_assert_eq!(got, model);
            prop_assert_eq!(unfold(h.as_ref(), grown.clone(), &strings(&extra)), acc.clone());
            let merged = h.merge(acc, fold(h.as_ref(), &strings(&extra))).unwrap();
            prop_assert_eq!(merged, grown);
        }
    }
}
