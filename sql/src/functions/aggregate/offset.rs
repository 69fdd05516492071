//! EARLIEST_BY_OFFSET and LATEST_BY_OFFSET.
//!
//! "By offset" means in arrival order. Each value the aggregate keeps is tagged with a
//! sequence number from a process-wide counter, so that merging two session windows can
//! tell which value came first. The counter starts at the wall clock in nanoseconds since
//! the epoch, so numbers keep growing across restarts (as long as fewer than one record per
//! nanosecond was processed and the clock does not step back further than that).
//!
//! Accumulators:
//! - single-value forms: NULL before any kept value, then `STRUCT<SEQ BIGINT, VAL T>`;
//! - N-value forms: `ARRAY<STRUCT<SEQ BIGINT, VAL T>>` in sequence order.
//!
//! `ignoreNulls` (default true) skips NULL values entirely. Not undoable: ksqlDB applies
//! both to streams only.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use super::common::{arg, bad_acc, field, items, literal_bool, literal_int, no_match, Udaf};
use crate::functions::{AggregateUdf, Arg, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

const SEQ: &str = "SEQ";
const VAL: &str = "VAL";

/// The next arrival sequence number.
fn next_seq() -> i64 {
    static BASE: OnceLock<i64> = OnceLock::new();
    static NEXT: AtomicI64 = AtomicI64::new(0);
    let base = *BASE.get_or_init(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_nanos()).ok())
            .unwrap_or(0)
    });
    base.saturating_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

fn tagged(v: Value) -> Value {
    Value::Struct(vec![
        (SEQ.to_owned(), Value::Bigint(next_seq())),
        (VAL.to_owned(), v),
    ])
}

fn seq_of(function: &str, entry: &Value) -> Result<i64, String> {
    match field(entry, SEQ) {
        Some(Value::Bigint(s)) => Ok(*s),
        _ => Err(bad_acc(function, entry)),
    }
}

fn val_of(entry: &Value) -> Value {
    field(entry, VAL).cloned().unwrap_or(Value::Null)
}

/// Which end of the arrival order a function keeps.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    Earliest,
    Latest,
}

impl End {
    fn display(self) -> &'static str {
        match self {
            End::Earliest => "EARLIEST_BY_OFFSET",
            End::Latest => "LATEST_BY_OFFSET",
        }
    }
}

fn signatures(end: End) -> [&'static str; 4] {
    match end {
        End::Earliest => [
            "EARLIEST_BY_OFFSET(col1 T) => T",
            "EARLIEST_BY_OFFSET(col1 T, ignoreNulls BOOLEAN) => T",
            "EARLIEST_BY_OFFSET(col1 T, earliestN INTEGER) => ARRAY<T>",
            "EARLIEST_BY_OFFSET(col1 T, earliestN INTEGER, ignoreNulls BOOLEAN) => ARRAY<T>",
        ],
        End::Latest => [
            "LATEST_BY_OFFSET(col1 T) => T",
            "LATEST_BY_OFFSET(col1 T, ignoreNulls BOOLEAN) => T",
            "LATEST_BY_OFFSET(col1 T, latestN INTEGER) => ARRAY<T>",
            "LATEST_BY_OFFSET(col1 T, latestN INTEGER, ignoreNulls BOOLEAN) => ARRAY<T>",
        ],
    }
}

fn is_integer(a: &Arg) -> bool {
    matches!(a.ty, Some(SqlType::Int | SqlType::Bigint))
}

fn is_boolean(a: &Arg) -> bool {
    a.ty == Some(SqlType::Boolean)
}

fn bind(end: End, args: &[Arg]) -> Result<Arc<dyn BoundAggregate>, String> {
    let display = end.display();
    let sigs = signatures(end);
    let mismatch = || no_match(display, args, &sigs);
    let n_name = match end {
        End::Earliest => "earliestN",
        End::Latest => "latestN",
    };
    let (col, n, ignore_nulls) = match args {
        [col] => (col, None, true),
        [col, b] if is_boolean(b) => (col, None, literal_bool(display, b, "ignoreNulls")?),
        [col, n] if is_integer(n) => (col, Some(literal_int(display, n, n_name)?), true),
        [col, n, b] if is_integer(n) && is_boolean(b) => (
            col,
            Some(literal_int(display, n, n_name)?),
            literal_bool(display, b, "ignoreNulls")?,
        ),
        _ => return Err(mismatch()),
    };
    let Some(ty) = col.ty.clone() else {
        return Err(mismatch());
    };
    let n = match n {
        None => None,
        Some(n) if n >= 1 => {
            Some(usize::try_from(n).map_err(|_| format!("{n_name} is too large: {n}"))?)
        }
        Some(_) => return Err(format!("{n_name} must be 1 or greater")),
    };
    Ok(Arc::new(ByOffset {
        end,
        ty,
        n,
        ignore_nulls,
    }))
}

/// EARLIEST_BY_OFFSET(col [, n] [, ignoreNulls]).
pub(crate) fn earliest_by_offset() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "EARLIEST_BY_OFFSET",
        "Returns the earliest value of col1 in arrival (offset) order, or with earliestN an \
         array of the earliest N values. NULL values are skipped unless ignoreNulls is \
         false. Applies to streams only.",
        &signatures(End::Earliest),
        Arc::new(|args| bind(End::Earliest, args)),
    )
}

/// LATEST_BY_OFFSET(col [, n] [, ignoreNulls]).
pub(crate) fn latest_by_offset() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "LATEST_BY_OFFSET",
        "Returns the latest value of col1 in arrival (offset) order, or with latestN an \
         array of the latest N values, oldest first. NULL values are skipped unless \
         ignoreNulls is false. Applies to streams only.",
        &signatures(End::Latest),
        Arc::new(|args| bind(End::Latest, args)),
    )
}

struct ByOffset {
    end: End,
    ty: SqlType,
    /// `Some(n)` for the N-value forms.
    n: Option<usize>,
    ignore_nulls: bool,
}

impl ByOffset {
    fn name(&self) -> &'static str {
        self.end.display()
    }

    /// Orders entries by arrival sequence.
    fn sorted(&self, list: Vec<Value>) -> Result<Vec<Value>, String> {
        let mut keyed = list
            .into_iter()
            .map(|e| Ok((seq_of(self.name(), &e)?, e)))
            .collect::<Result<Vec<_>, String>>()?;
        keyed.sort_by_key(|(seq, _)| *seq);
        Ok(keyed.into_iter().map(|(_, e)| e).collect())
    }

    /// Keeps `n` entries of a sequence-ordered list: the first ones or the last ones.
    fn keep(&self, mut list: Vec<Value>, n: usize) -> Vec<Value> {
        match self.end {
            End::Earliest => {
                list.truncate(n);
                list
            }
            End::Latest => {
                let extra = list.len().saturating_sub(n);
                list.split_off(extra)
            }
        }
    }
}

impl BoundAggregate for ByOffset {
    fn return_type(&self) -> SqlType {
        match self.n {
            Some(_) => SqlType::array(self.ty.clone()),
            None => self.ty.clone(),
        }
    }

    fn initial(&self) -> Value {
        match self.n {
            Some(_) => Value::Array(Vec::new()),
            None => Value::Null,
        }
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let v = arg(args, 0);
        if v.is_null() && self.ignore_nulls {
            return Ok(acc);
        }
        match self.n {
            None => match (self.end, &acc) {
                (End::Earliest, Value::Struct(_)) => Ok(acc),
                (_, Value::Null | Value::Struct(_)) => Ok(tagged(v.clone())),
                _ => Err(bad_acc(self.name(), &acc)),
            },
            Some(n) => {
                let mut list = items(self.name(), acc)?;
                if self.end == End::Earliest && list.len() >= n {
                    return Ok(Value::Array(list));
                }
                list.push(tagged(v.clone()));
                Ok(Value::Array(self.keep(list, n)))
            }
        }
    }

    fn undo(&self, _acc: Value, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        match self.n {
            None => {
                if a.is_null() {
                    return Ok(b);
                }
                if b.is_null() {
                    return Ok(a);
                }
                let (sa, sb) = (seq_of(self.name(), &a)?, seq_of(self.name(), &b)?);
                let a_wins = match self.end {
                    End::Earliest => sa <= sb,
                    End::Latest => sa >= sb,
                };
                Ok(if a_wins { a } else { b })
            }
            Some(n) => {
                let mut list = items(self.name(), a)?;
                list.extend(items(self.name(), b)?);
                Ok(Value::Array(self.keep(self.sorted(list)?, n)))
            }
        }
    }

    fn result(&self, acc: &Value) -> Value {
        match (self.n, acc) {
            (None, Value::Struct(_)) => val_of(acc),
            (None, _) => Value::Null,
            (Some(_), Value::Array(list)) => Value::Array(list.iter().map(val_of).collect()),
            (Some(_), _) => Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::*;
    use crate::types::SqlType;
    use crate::value::Value;
    use proptest::prelude::*;

    fn b(v: bool) -> crate::functions::Arg {
        lit(SqlType::Boolean, Value::Boolean(v))
    }

    fn n(v: i32) -> crate::functions::Arg {
        lit(SqlType::Int, Value::Int(v))
    }

    fn ints(xs: &[Option<i32>]) -> Value {
        Value::Array(
            xs.iter()
                .map(|x| x.map_or(Value::Null, Value::Int))
                .collect(),
        )
    }

    fn opt(x: Option<i32>) -> Value {
        x.map_or(Value::Null, Value::Int)
    }

    fn run(name: &str, args: &[crate::functions::Arg], input: &[Option<i32>]) -> Vec<Value> {
        let f = bind(name, args);
        let rows: Vec<Vec<Value>> = input
            .iter()
            .map(|x| {
                let mut row = vec![opt(*x)];
                row.extend(args.iter().skip(1).filter_map(|a| a.literal.clone()));
                row
            })
            .collect();
        results(f.as_ref(), &rows)
    }

    #[test]
    fn earliest_null_handling_matches_ksql() {
        let int = || col(SqlType::Int);
        // "null first - single - ignoring nulls"
        assert_eq!(
            run("EARLIEST_BY_OFFSET", &[int(), b(true)], &[None, Some(13)]),
            vec![Value::Null, Value::Int(13)]
        );
        // "null first - single - not ignoring nulls"
        assert_eq!(
            run("EARLIEST_BY_OFFSET", &[int(), b(false)], &[None, Some(13)]),
            vec![Value::Null, Value::Null]
        );
        // "null first - multiple - ignoring nulls"
        assert_eq!(
            run("EARLIEST_BY_OFFSET", &[int(), n(2)], &[None, Some(13)]),
            vec![ints(&[]), ints(&[Some(13)])]
        );
        // "null first - multiple - not ignoring nulls"
        assert_eq!(
            run(
                "EARLIEST_BY_OFFSET",
                &[int(), n(2), b(false)],
                &[None, Some(13)]
            ),
            vec![ints(&[None]), ints(&[None, Some(13)])]
        );
        // "null later - multiple - nulls not ignored"
        assert_eq!(
            run(
                "EARLIEST_BY_OFFSET",
                &[int(), n(2), b(false)],
                &[Some(12), None, Some(13)]
            ),
            vec![
                ints(&[Some(12)]),
                ints(&[Some(12), None]),
                ints(&[Some(12), None])
            ]
        );
        // "nulls later - single - nulls ignored"
        assert_eq!(
            run("EARLIEST_BY_OFFSET", &[int()], &[Some(12), None, Some(13)]),
            vec![Value::Int(12), Value::Int(12), Value::Int(12)]
        );
    }

    #[test]
    fn latest_keeps_the_newest() {
        let int = || col(SqlType::Int);
        assert_eq!(
            run("LATEST_BY_OFFSET", &[int()], &[Some(12), None, Some(13)]),
            vec![Value::Int(12), Value::Int(12), Value::Int(13)]
        );
        assert_eq!(
            run("LATEST_BY_OFFSET", &[int(), b(false)], &[Some(12), None]),
            vec![Value::Int(12), Value::Null]
        );
        assert_eq!(
            run(
                "LATEST_BY_OFFSET",
                &[int(), n(2)],
                &[Some(1), None, Some(2), Some(3)]
            ),
            vec![
                ints(&[Some(1)]),
                ints(&[Some(1)]),
                ints(&[Some(1), Some(2)]),
                ints(&[Some(2), Some(3)])
            ]
        );
    }

    #[test]
    fn binding_checks_the_literals() {
        let f = bind("EARLIEST_BY_OFFSET", &[col(SqlType::Int), n(2)]);
        assert_eq!(f.return_type(), SqlType::array(SqlType::Int));
        let f = bind("LATEST_BY_OFFSET", &[col(SqlType::Decimal(3, 2)), b(true)]);
        assert_eq!(f.return_type(), SqlType::Decimal(3, 2));
        assert!(try_bind("EARLIEST_BY_OFFSET", &[col(SqlType::Int), n(0)]).is_err());
        assert!(try_bind("LATEST_BY_OFFSET", &[col(SqlType::Int), col(SqlType::Int)]).is_err());
        assert!(try_bind("LATEST_BY_OFFSET", &[col(SqlType::Int), b(true), n(2)]).is_err());
        assert!(f.undo(f.initial(), &[Value::Int(1)]).is_none());
    }

    #[test]
    fn merging_session_windows_respects_arrival_order() {
        // QTT "merging session windows - with nulls not ignored - N": sessions [null] and
        // [1] merge, then the out-of-order null arrives.
        let f = bind("EARLIEST_BY_OFFSET", &[col(SqlType::Int), n(2), b(false)]);
        let s1 = fold(f.as_ref(), &rows1(&[Value::Null]));
        let s2 = fold(f.as_ref(), &rows1(&[Value::Int(1)]));
        let merged = f.merge(f.merge(f.initial(), s1).unwrap(), s2).unwrap();
        let merged = f.add(merged, &[Value::Null]).unwrap();
        assert_eq!(f.result(&merged), ints(&[None, Some(1)]));
        // "merging session windows": 1 (t=0), 3 (t=1500), then 2 (t=700) joins them.
        let f = bind("EARLIEST_BY_OFFSET", &[col(SqlType::Int)]);
        let s1 = fold(f.as_ref(), &rows1(&[Value::Int(1)]));
        let s2 = fold(f.as_ref(), &rows1(&[Value::Int(3)]));
        // Either merge order gives the value that arrived first.
        let m = f.merge(s2.clone(), s1.clone()).unwrap();
        assert_eq!(
            f.result(&f.add(m, &[Value::Int(2)]).unwrap()),
            Value::Int(1)
        );
        let f = bind("LATEST_BY_OFFSET", &[col(SqlType::Int)]);
        let m = f.merge(s2, s1).unwrap();
        assert_eq!(f.result(&m), Value::Int(3));
    }

    proptest! {
        #[test]
        fn merge_equals_sequential_adds(
            a in prop::collection::vec(prop::option::of(0i32..10), 0..8),
            c in prop::collection::vec(prop::option::of(0i32..10), 0..8),
            size in 1i32..4,
            ignore in any::<bool>(),
        ) {
            for name in ["EARLIEST_BY_OFFSET", "LATEST_BY_OFFSET"] {
                for args in [
                    vec![col(SqlType::Int), b(ignore)],
                    vec![col(SqlType::Int), n(size), b(ignore)],
                ] {
                    let f = bind(name, &args);
                    let ra = rows1(&a.iter().map(|x| opt(*x)).collect::<Vec<_>>());
                    let rc = rows1(&c.iter().map(|x| opt(*x)).collect::<Vec<_>>());
                    let acc_a = fold(f.as_ref(), &ra);
                    let acc_c = fold(f.as_ref(), &rc);
                    // Model: the kept values of the concatenated input.
                    let kept: Vec<Value> = a.iter().chain(&c).map(|x| opt(*x)).filter(|v| !(ignore && v.is_null())).collect();
                    let want = if args.len() == 2 {
                        let pick = if name == "EARLIEST_BY_OFFSET" { kept.first() } else { kept.last() };
                        pick.cloned().unwrap_or(Value::Null)
                    } else {
                        let size = size as usize;
                        if name == "EARLIEST_BY_OFFSET" {
                            Value::Array(kept.iter().take(size).cloned().collect())
                        } else {
                            Value::Array(kept[kept.len().saturating_sub(size)..].to_vec())
                        }
                    };
                    let merged = f.merge(acc_a.clone(), acc_c.clone()).unwrap();
                    prop_assert_eq!(f.result(&merged), want.clone());
                    // Merge order does not matter: sequence numbers decide.
                    let merged = f.merge(acc_c, acc_a).unwrap();
                    prop_assert_eq!(f.result(&merged), want);
                }
            }
        }
    }
}
