//! Built-in aggregate functions (ksqlDB's UDAFs), with ksqlDB's semantics as pinned down by
//! its query-validation tests.
//!
//! Every accumulator is a [`Value`](crate::value::Value) (the engine stores it with
//! `Value::encode`); each module documents its encoding. Functions ksqlDB allows on tables
//! (a GROUP BY over a TABLE, which retracts rows) implement `undo`; the others return
//! `None` from it, whatever the arguments, so the engine can reject them on tables as
//! ksqlDB does ("The aggregation functions ... cannot be applied to a table source").
//!
//! | function | undo (tables) |
//! |---|---|
//! | COUNT, SUM, SUM_LIST, AVG, COLLECT_LIST, HISTOGRAM, ATTR | yes |
//! | STDDEV_SAMP, STDDEV_SAMPLE, STDDEV_POP, VARIANCE, CORRELATION | yes |
//! | COUNT_DISTINCT, MIN, MAX, TOPK, TOPKDISTINCT, COLLECT_SET | no |
//! | EARLIEST_BY_OFFSET, LATEST_BY_OFFSET | no |

mod attr;
mod avg;
mod collect;
pub(crate) mod common;
mod count;
mod hll;
mod minmax;
mod offset;
mod stats;
mod sum;
#[cfg(test)]
mod testkit;
mod topk;

use std::sync::Arc;

pub use collect::DEFAULT_COLLECT_LIMIT;

use super::{AggregateUdf, FunctionRegistry};

/// Registers the built-in aggregate functions, with ksqlDB's default limits.
pub fn register(r: &mut FunctionRegistry) {
    for f in [
        count::count(),
        count::count_distinct(),
        sum::sum(),
        sum::sum_list(),
        avg::avg(),
        minmax::min(),
        minmax::max(),
        topk::topk(),
        topk::topk_distinct(),
        collect::collect_list(DEFAULT_COLLECT_LIMIT),
        collect::collect_set(DEFAULT_COLLECT_LIMIT),
        collect::histogram(),
        offset::earliest_by_offset(),
        offset::latest_by_offset(),
        stats::stddev_samp(),
        stats::stddev_sample(),
        stats::stddev_pop(),
        stats::variance(),
        stats::correlation(),
        attr::attr(),
    ] {
        r.register_aggregate(f);
    }
}

/// COLLECT_LIST keeping at most `limit` values, for an engine configured with
/// `ksql.functions.collect_list.limit` (a negative setting means no limit: pass
/// `usize::MAX`). Register it over the built-in one.
pub fn collect_list_with_limit(limit: usize) -> Arc<dyn AggregateUdf> {
    collect::collect_list(limit)
}

/// COLLECT_SET keeping at most `limit` values, for `ksql.functions.collect_set.limit`.
pub fn collect_set_with_limit(limit: usize) -> Arc<dyn AggregateUdf> {
    collect::collect_set(limit)
}

/// Whether ksqlDB's intermediate (accumulator) type for the aggregate `name` is a STRUCT,
/// ARRAY or MAP. ksqlDB rejects such functions when the value format cannot hold those
/// types ("One of the functions used in the statement has an intermediate type that the
/// value format can not handle", e.g. AVG, STDDEV_SAMPLE or TOPK with DELIMITED); Brook
/// stores accumulators in its own encoding, so an engine that wants ksqlDB's behaviour
/// asks here.
pub fn has_structured_intermediate(name: &str) -> bool {
    matches!(
        name.to_ascii_uppercase().as_str(),
        "AVG"
            | "STDDEV_SAMP"
            | "STDDEV_SAMPLE"
            | "STDDEV_POP"
            | "VARIANCE"
            | "CORRELATION"
            | "TOPK"
            | "TOPKDISTINCT"
            | "COLLECT_LIST"
            | "COLLECT_SET"
            | "HISTOGRAM"
            | "EARLIEST_BY_OFFSET"
            | "LATEST_BY_OFFSET"
            | "ATTR"
            | "COUNT_DISTINCT"
    )
}

#[cfg(test)]
mod tests {
    use super::testkit::*;
    use super::*;
    use crate::functions::{Arg, FunctionKind};
    use crate::types::SqlType;
    use crate::value::Value;

    #[test]
    fn every_function_is_described() {
        let mut r = FunctionRegistry::new();
        register(&mut r);
        let names: Vec<String> = r.list().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 20);
        for (name, kind) in r.list() {
            assert_eq!(kind, FunctionKind::Aggregate);
            let f = r.aggregate(&name).unwrap();
            assert_eq!(f.name(), name);
            assert!(!f.description().is_empty());
            assert!(!f.signatures().is_empty());
            let scalar_state = ["COUNT", "SUM", "SUM_LIST", "MIN", "MAX"].contains(&name.as_str());
            assert_eq!(has_structured_intermediate(&name), !scalar_state, "{name}");
            for s in f.signatures() {
                assert!(s.starts_with(&format!("{name}(")), "{s}");
                assert!(s.contains(" => "), "{s}");
            }
        }
    }

    #[test]
    fn undo_support_follows_ksql() {
        let int = || col(SqlType::Int);
        let k = || lit(SqlType::Int, Value::Int(2));
        let cases: Vec<(&str, Vec<Arg>, bool)> = vec![
            ("COUNT", vec![], true),
            ("COUNT", vec![int()], true),
            ("SUM", vec![int()], true),
            ("SUM_LIST", vec![col(SqlType::array(SqlType::Int))], true),
            ("AVG", vec![int()], true),
            ("COLLECT_LIST", vec![int()], true),
            ("HISTOGRAM", vec![col(SqlType::String)], true),
            ("ATTR", vec![int()], true),
            ("STDDEV_SAMP", vec![int()], true),
            ("STDDEV_SAMPLE", vec![int()], true),
            ("STDDEV_POP", vec![int()], true),
            ("VARIANCE", vec![int()], true),
            ("CORRELATION", vec![int(), int()], true),
            ("COUNT_DISTINCT", vec![int()], false),
            ("MIN", vec![int()], false),
            ("MAX", vec![int()], false),
            ("TOPK", vec![int(), k()], false),
            ("TOPKDISTINCT", vec![int(), k()], false),
            ("COLLECT_SET", vec![int()], false),
            ("EARLIEST_BY_OFFSET", vec![int()], false),
            ("LATEST_BY_OFFSET", vec![int()], false),
        ];
        for (name, args, undoable) in cases {
            let b = bind(name, &args);
            // The engine may probe with the initial accumulator and no row.
            assert_eq!(
                b.undo(b.initial(), &[]).is_some(),
                undoable,
                "{name} undo support"
            );
        }
    }

    #[test]
    fn structured_intermediates_follow_ksql() {
        for name in [
            "avg",
            "STDDEV_SAMPLE",
            "STDDEV_SAMP",
            "TOPK",
            "COLLECT_LIST",
            "HISTOGRAM",
        ] {
            assert!(has_structured_intermediate(name), "{name}");
        }
        for name in ["count", "SUM", "MIN", "MAX", "SUM_LIST", "MY_UDAF"] {
            assert!(!has_structured_intermediate(name), "{name}");
        }
    }

    #[test]
    fn configured_limits_replace_the_default() {
        let mut r = FunctionRegistry::with_builtins();
        r.register_aggregate(collect_list_with_limit(2));
        let b = r
            .aggregate("collect_list")
            .unwrap()
            .bind(&[col(SqlType::Int)])
            .unwrap();
        let acc = fold(
            b.as_ref(),
            &rows1(&[Value::Int(1), Value::Int(2), Value::Int(3)]),
        );
        assert_eq!(acc, Value::Array(vec![Value::Int(1), Value::Int(2)]));
        let set = collect_set_with_limit(1)
            .bind(&[col(SqlType::Int)])
            .unwrap();
        let acc = fold(set.as_ref(), &rows1(&[Value::Int(1), Value::Int(2)]));
        assert_eq!(acc, Value::Array(vec![Value::Int(1)]));
    }

    #[test]
    fn bad_accumulators_are_errors_not_panics() {
        let junk = Value::String("junk".into());
        for (name, args) in [
            ("COUNT", vec![]),
            ("COUNT_DISTINCT", vec![col(SqlType::Int)]),
            ("SUM", vec![col(SqlType::Decimal(4, 1))]),
            ("AVG", vec![col(SqlType::Int)]),
            (
                "TOPK",
                vec![col(SqlType::Int), lit(SqlType::Int, Value::Int(2))],
            ),
            ("COLLECT_LIST", vec![col(SqlType::Int)]),
            ("HISTOGRAM", vec![col(SqlType::String)]),
            (
                "EARLIEST_BY_OFFSET",
                vec![col(SqlType::Int), lit(SqlType::Int, Value::Int(2))],
            ),
            ("STDDEV_SAMPLE", vec![col(SqlType::Int)]),
            ("CORRELATION", vec![col(SqlType::Int), col(SqlType::Int)]),
            ("ATTR", vec![col(SqlType::Int)]),
        ] {
            let b = bind(name, &args);
            let row = vec![Value::Int(1), Value::Int(2)];
            assert!(b.add(junk.clone(), &row).is_err(), "{name} add");
            assert!(b.merge(junk.clone(), b.initial()).is_err(), "{name} merge");
            assert_eq!(b.result(&junk), Value::Null, "{name} result");
        }
    }
}
