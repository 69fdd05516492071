//! Built-in table functions (ksqlDB's UDTFs): EXPLODE and CUBE_EXPLODE.
//!
//! A table function turns one input row into zero or more output values; the engine emits
//! one row per value (zipping several table functions of one SELECT, padding with NULLs).

use std::sync::Arc;

use super::aggregate::common::no_match;
use super::{Arg, BoundTable, FunctionRegistry, TableUdf};
use crate::types::SqlType;
use crate::value::Value;

/// Registers the built-in table functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_table(Arc::new(Explode));
    r.register_table(Arc::new(CubeExplode));
}

/// The element type of a single ARRAY argument.
fn array_element(args: &[Arg]) -> Option<SqlType> {
    match args {
        [Arg {
            ty: Some(SqlType::Array(inner)),
            ..
        }] => Some(inner.as_ref().clone()),
        _ => None,
    }
}

/// EXPLODE(array): one value per element; a NULL array gives none.
struct Explode;

/// The alternatives ksqlDB lists when EXPLODE is called with something else.
const EXPLODE_ALTERNATIVES: &[&str] = &["explode(ARRAY<DECIMAL> input)", "explode(ARRAY<T> list)"];

impl TableUdf for Explode {
    fn name(&self) -> &str {
        "EXPLODE"
    }

    fn description(&self) -> &str {
        "Explodes an array: outputs one row for each element of the array (none for an \
         empty or NULL array)."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["EXPLODE(list ARRAY<T>) => T".to_owned()]
    }

    fn bind(&self, args: &[Arg]) -> Result<BoundTable, String> {
        let element =
            array_element(args).ok_or_else(|| no_match("explode", args, EXPLODE_ALTERNATIVES))?;
        Ok(BoundTable {
            return_type: element,
            eval: Arc::new(|args: &[Value]| match args.first() {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => Ok(items.clone()),
                Some(other) => Err(format!("explode: expected an ARRAY, got {other:?}")),
            }),
        })
    }
}

/// CUBE_EXPLODE(array): every combination of the elements and NULLs.
struct CubeExplode;

/// ksqlDB's cap on CUBE_EXPLODE's input: 2^N output rows.
const CUBE_MAX_COLUMNS: usize = 20;

const CUBE_SIGS: &[&str] = &["CUBE_EXPLODE(list ARRAY<T>) => ARRAY<T>"];

/// The combinations of `columns` in ksqlDB's order: bit `n - 1 - i` of a counter running
/// from 0 to 2^n - 1 keeps column `i`, and a combination that would keep a NULL column is
/// skipped (it equals the one with that column nulled out).
fn cube(columns: &[Value]) -> Result<Vec<Value>, String> {
    let n = columns.len();
    if n > CUBE_MAX_COLUMNS {
        return Err(format!(
            "CUBE_EXPLODE input size ({n}) exceeds the maximum of {CUBE_MAX_COLUMNS} \
             columns. The output cardinality is 2^N rows and would exhaust server memory."
        ));
    }
    let bit = |i: usize| 1u32 << (n - 1 - i);
    let non_null: u32 = columns
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_null())
        .fold(0, |m, (i, _)| m | bit(i));
    let mut out = Vec::new();
    for mask in 0u32..(1u32 << n) {
        if mask & non_null != mask {
            continue;
        }
        let row = columns
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if mask & bit(i) == 0 {
                    Value::Null
                } else {
                    v.clone()
                }
            })
            .collect();
        out.push(Value::Array(row));
    }
    Ok(out)
}

impl TableUdf for CubeExplode {
    fn name(&self) -> &str {
        "CUBE_EXPLODE"
    }

    fn description(&self) -> &str {
        "Takes an array of columns and outputs all possible combinations of them, each \
         column either kept or NULL: 2^N rows for N columns, at most 20 columns. \
         Combinations that would repeat because a column is already NULL are skipped."
    }

    fn signatures(&self) -> Vec<String> {
        CUBE_SIGS.iter().map(|s| (*s).to_owned()).collect()
    }

    fn bind(&self, args: &[Arg]) -> Result<BoundTable, String> {
        let element =
            array_element(args).ok_or_else(|| no_match("cube_explode", args, CUBE_SIGS))?;
        Ok(BoundTable {
            return_type: SqlType::array(element),
            eval: Arc::new(|args: &[Value]| match args.first() {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(items)) => cube(items),
                Some(other) => Err(format!("cube_explode: expected an ARRAY, got {other:?}")),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bind(name: &str, ty: SqlType) -> Result<BoundTable, String> {
        let r = FunctionRegistry::with_builtins();
        r.table(name)
            .ok_or_else(|| format!("no table function {name}"))?
            .bind(&[Arg::typed(ty)])
    }

    fn ints(xs: &[Option<i64>]) -> Value {
        Value::Array(
            xs.iter()
                .map(|x| x.map_or(Value::Null, Value::Bigint))
                .collect(),
        )
    }

    #[test]
    fn explode_outputs_each_element() {
        // QTT "explode array with values".
        let t = bind("explode", SqlType::array(SqlType::Bigint)).unwrap();
        assert_eq!(t.return_type, SqlType::Bigint);
        assert_eq!(
            (t.eval)(&[ints(&[Some(1), Some(2)])]).unwrap(),
            vec![Value::Bigint(1), Value::Bigint(2)]
        );
        assert_eq!((t.eval)(&[ints(&[])]).unwrap(), Vec::<Value>::new());
        assert_eq!((t.eval)(&[Value::Null]).unwrap(), Vec::<Value>::new());
        assert!((t.eval)(&[Value::Int(1)]).is_err());
        let t = bind(
            "EXPLODE",
            SqlType::array(SqlType::Struct(vec![("F1".into(), SqlType::Bigint)])),
        )
        .unwrap();
        assert_eq!(
            t.return_type,
            SqlType::Struct(vec![("F1".into(), SqlType::Bigint)])
        );
    }

    #[test]
    fn explode_rejects_maps_as_ksql_does() {
        // QTT "explode shouldn't accept map".
        let err = bind("EXPLODE", SqlType::map(SqlType::String, SqlType::Int))
            .err()
            .unwrap();
        assert_eq!(
            err,
            "Function 'explode' does not accept parameters (MAP<STRING, INTEGER>).\n\
             Valid alternatives are:\nexplode(ARRAY<DECIMAL> input)\nexplode(ARRAY<T> list)"
        );
    }

    #[test]
    fn cube_explode_follows_ksql_order() {
        let t = bind("CUBE_EXPLODE", SqlType::array(SqlType::Bigint)).unwrap();
        assert_eq!(t.return_type, SqlType::array(SqlType::Bigint));
        assert_eq!(
            (t.eval)(&[ints(&[Some(1), Some(2)])]).unwrap(),
            vec![
                ints(&[None, None]),
                ints(&[None, Some(2)]),
                ints(&[Some(1), None]),
                ints(&[Some(1), Some(2)]),
            ]
        );
        // A NULL column has one possibility, not two.
        assert_eq!(
            (t.eval)(&[ints(&[Some(1), None])]).unwrap(),
            vec![ints(&[None, None]), ints(&[Some(1), None])]
        );
        assert_eq!((t.eval)(&[Value::Null]).unwrap(), Vec::<Value>::new());
        assert_eq!((t.eval)(&[ints(&[])]).unwrap(), vec![ints(&[])]);
        let too_many = ints(&[Some(1); 21]);
        assert!((t.eval)(&[too_many]).is_err());
        assert!(bind("CUBE_EXPLODE", SqlType::Int).is_err());
    }

    proptest! {
        #[test]
        fn cube_has_one_row_per_distinct_combination(
            xs in prop::collection::vec(prop::option::of(0i64..5), 0..8),
        ) {
            let rows = cube(match &ints(&xs) { Value::Array(v) => v, _ => unreachable!() }).unwrap();
            let non_null = xs.iter().filter(|x| x.is_some()).count();
            prop_assert_eq!(rows.len(), 1usize << non_null);
            let mut seen = std::collections::HashSet::new();
            for r in &rows {
                let Value::Array(items) = r else { panic!("not an array") };
                prop_assert_eq!(items.len(), xs.len());
                for (v, x) in items.iter().zip(&xs) {
                    prop_assert!(v.is_null() || *v == x.map_or(Value::Null, Value::Bigint));
                }
                prop_assert!(seen.insert(r.clone()));
            }
        }
    }
}
