//! ARRAY and MAP functions: ARRAY_LENGTH, ARRAY_CONTAINS, the set functions
//! (ARRAY_DISTINCT, ARRAY_EXCEPT, ARRAY_INTERSECT, ARRAY_UNION), ARRAY_CONCAT, ARRAY_JOIN,
//! ARRAY_SORT, ARRAY_MAX, ARRAY_MIN, ARRAY_REMOVE, SLICE, GENERATE_SERIES, MAP_KEYS,
//! MAP_VALUES, MAP_UNION, ENTRIES and AS_MAP.
//!
//! Element equality is `Value`'s structural equality (as Java's `equals` on ksqlDB's
//! collections); ordering is the natural order of primitive values.

use std::cmp::Ordering;

use crate::functions::FunctionRegistry;
use crate::types::SqlType;
use crate::value::Value;

use super::conv::{
    self, boolean, entries, int, list, long, opt_int, opt_text, too_long, MAX_RESULT_LEN,
};
use super::math::java_cmp;
use super::sig::{array, generic, map, p, ret, ret_fn, ret_generic, ParamType as P, Udf, Variant};

fn arr_t() -> P {
    array(generic("T"))
}

fn map_kv() -> P {
    map(generic("K"), generic("V"))
}

/// The values in order of first appearance, without repeats.
fn distinct(items: impl IntoIterator<Item = Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for v in items {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Whether values of this kind have a natural order (ARRAY_SORT, ARRAY_MAX, ...).
fn comparable(v: &Value) -> bool {
    !matches!(v, Value::Array(_) | Value::Map(_) | Value::Struct(_))
}

fn natural_order(items: &[Value]) -> Result<(), String> {
    match items.iter().find(|v| !v.is_null() && !comparable(v)) {
        Some(v) => Err(format!("cannot order values such as {v:?}")),
        None => Ok(()),
    }
}

fn extreme(want: Ordering) -> impl Fn(&[Value]) -> Result<Value, String> + Send + Sync {
    move |a: &[Value]| {
        let items = list(&a[0])?;
        natural_order(items)?;
        let mut best: Option<&Value> = None;
        for v in items.iter().filter(|v| !v.is_null()) {
            best = match best {
                Some(b) if java_cmp(v, b) != want => Some(b),
                _ => Some(v),
            };
        }
        Ok(best.cloned().unwrap_or(Value::Null))
    }
}

fn array_sort(a: &[Value]) -> Result<Value, String> {
    let mut items = list(&a[0])?.to_vec();
    let descending = match a.get(1) {
        None => false,
        Some(v) => match conv::text(v)?.to_ascii_uppercase().as_str() {
            "ASC" | "ASCENDING" => false,
            "DESC" | "DESCENDING" => true,
            _ => return Ok(Value::Null),
        },
    };
    natural_order(&items)?;
    items.sort_by(|x, y| match (x.is_null(), y.is_null()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let o = java_cmp(x, y);
            if descending {
                o.reverse()
            } else {
                o
            }
        }
    });
    Ok(Value::Array(items))
}

fn array_join(a: &[Value]) -> Result<Value, String> {
    let items = match &a[0] {
        Value::Null => return Ok(Value::Null),
        v => list(v)?,
    };
    let delimiter = match a.get(1) {
        None => ",",
        Some(v) => opt_text(v)?.unwrap_or(""),
    };
    let mut parts = Vec::with_capacity(items.len());
    let mut total = 0;
    for v in items {
        match v {
            Value::Null
            | Value::Boolean(_)
            | Value::Int(_)
            | Value::Bigint(_)
            | Value::Double(_)
            | Value::Decimal(_)
            | Value::String(_) => {
                let t = conv::java_text(v);
                total += t.len() + delimiter.len();
                if total > MAX_RESULT_LEN {
                    return Err(too_long("ARRAY_JOIN result"));
                }
                parts.push(t);
            }
            other => {
                return Err(format!(
                    "error: hit element of type {other:?} which is currently not supported"
                ))
            }
        }
    }
    Ok(Value::String(parts.join(delimiter)))
}

fn slice(a: &[Value]) -> Result<Value, String> {
    let items = match &a[0] {
        Value::Null => return Ok(Value::Null),
        v => list(v)?,
    };
    let start = match opt_int(&a[1])? {
        None => 0,
        Some(f) => i64::from(f) - 1,
    };
    let end = match opt_int(&a[2])? {
        None => items.len() as i64,
        Some(t) => i64::from(t),
    };
    if start < 0 || end > items.len() as i64 || start > end {
        return Ok(Value::Null);
    }
    Ok(Value::Array(items[start as usize..end as usize].to_vec()))
}

/// GENERATE_SERIES over i64s; `wrap` builds INT or BIGINT values.
fn series(start: i64, end: i64, step: i64, wrap: fn(i64) -> Value) -> Result<Value, String> {
    if step == 0 {
        return Err("GENERATE_SERIES step cannot be zero".to_string());
    }
    let diff = i128::from(end) - i128::from(start);
    if diff > 0 && step < 0 || diff < 0 && step > 0 {
        return Err("GENERATE_SERIES step has wrong sign".to_string());
    }
    let size = 1 + diff / i128::from(step);
    if size > MAX_RESULT_LEN as i128 {
        return Err(too_long("GENERATE_SERIES result"));
    }
    let mut out = Vec::with_capacity(size as usize);
    let mut v = i128::from(start);
    for _ in 0..size {
        out.push(wrap(
            i64::try_from(v).map_err(|_| "GENERATE_SERIES overflow".to_string())?,
        ));
        v += i128::from(step);
    }
    Ok(Value::Array(out))
}

fn default_step(start: i64, end: i64) -> i64 {
    if end > start {
        1
    } else {
        -1
    }
}

fn entries_fn(a: &[Value]) -> Result<Value, String> {
    let mut items: Vec<(Value, Value)> = entries(&a[0])?.to_vec();
    if boolean(&a[1])? {
        items.sort_by(|x, y| match (&x.0, &y.0) {
            (Value::String(p), Value::String(q)) => p.cmp(q),
            (p, q) => p.total_cmp(q),
        });
    }
    Ok(Value::Array(
        items
            .into_iter()
            .map(|(k, v)| Value::Struct(vec![("K".to_string(), k), ("V".to_string(), v)]))
            .collect(),
    ))
}

fn as_map(a: &[Value]) -> Result<Value, String> {
    let keys = list(&a[0])?;
    let values = list(&a[1])?;
    let mut out: Vec<(Value, Value)> = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        let v = values.get(i).cloned().unwrap_or(Value::Null);
        match out.iter_mut().find(|(ek, _)| ek == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k.clone(), v)),
        }
    }
    Ok(Value::Map(out))
}

fn map_union(a: &[Value]) -> Result<Value, String> {
    if a.iter().all(Value::is_null) {
        return Ok(Value::Null);
    }
    let mut out: Vec<(Value, Value)> = Vec::new();
    for m in a.iter().filter(|v| !v.is_null()) {
        for (k, v) in entries(m)? {
            match out.iter_mut().find(|(ek, _)| ek == k) {
                Some(slot) => slot.1 = v.clone(),
                None => out.push((k.clone(), v.clone())),
            }
        }
    }
    Ok(Value::Map(out))
}

/// Registers the ARRAY and MAP functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_scalar(
        Udf::new("ARRAY_LENGTH", "Returns the length of an array.")
            .variant(
                Variant::new(vec![p("array", arr_t())], ret(SqlType::Int)).eval(|a| {
                    Ok(Value::Int(
                        i32::try_from(list(&a[0])?.len()).unwrap_or(i32::MAX),
                    ))
                }),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_CONTAINS",
            "Returns true if the array is non-null and contains the supplied value.",
        )
        .variant(
            Variant::new(
                vec![p("array", arr_t()), p("val", generic("T"))],
                ret(SqlType::Boolean),
            )
            .handles_nulls()
            .eval(|a| {
                Ok(Value::Boolean(match &a[0] {
                    Value::Array(items) => items.contains(&a[1]),
                    _ => false,
                }))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_DISTINCT",
            "Returns an array of all the distinct values, including NULL if present, from the \
             input array. The output array elements will be in order of their first occurrence \
             in the input. Returns NULL if the input array is NULL.",
        )
        .error_name("array_distinct")
        .variant(
            Variant::new(vec![p("input", arr_t())], ret_generic(arr_t()))
                .eval(|a| Ok(Value::Array(distinct(list(&a[0])?.iter().cloned())))),
        )
        .shared(),
    );
    let two = || vec![p("left", arr_t()), p("right", arr_t())];
    r.register_scalar(
        Udf::new(
            "ARRAY_EXCEPT",
            "Returns an array of all the elements in an array except for those also present in \
             a second array. The order of entries in the first array is preserved although any \
             duplicates are removed. Returns NULL if either input is NULL.",
        )
        .error_name("array_except")
        .variant(Variant::new(two(), ret_generic(arr_t())).eval(|a| {
            let right = list(&a[1])?;
            Ok(Value::Array(
                distinct(list(&a[0])?.iter().cloned())
                    .into_iter()
                    .filter(|v| !right.contains(v))
                    .collect(),
            ))
        }))
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_INTERSECT",
            "Returns an array of all the distinct elements from the intersection of both input \
             arrays, in the order of the first array. Returns NULL if either input is NULL.",
        )
        .error_name("array_intersect")
        .variant(Variant::new(two(), ret_generic(arr_t())).eval(|a| {
            let right = list(&a[1])?;
            Ok(Value::Array(
                distinct(list(&a[0])?.iter().cloned())
                    .into_iter()
                    .filter(|v| right.contains(v))
                    .collect(),
            ))
        }))
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_UNION",
            "Returns an array of all the distinct elements from both input arrays, in the order \
             they're encountered. Returns NULL if either input is NULL.",
        )
        .error_name("array_union")
        .variant(Variant::new(two(), ret_generic(arr_t())).eval(|a| {
            let left = list(&a[0])?;
            let right = list(&a[1])?;
            Ok(Value::Array(distinct(left.iter().chain(right).cloned())))
        }))
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_CONCAT",
            "Returns an array representing the concatenation of both input arrays. Returns \
             NULL if both input arrays are NULL. If only one argument is NULL, the result is \
             the other argument.",
        )
        .error_name("array_concat")
        .variant(
            Variant::new(two(), ret_generic(arr_t()))
                .handles_nulls()
                .eval(|a| match (&a[0], &a[1]) {
                    (Value::Null, Value::Null) => Ok(Value::Null),
                    (Value::Null, other) | (other, Value::Null) => Ok(other.clone()),
                    (l, r) => {
                        let (l, r) = (list(l)?, list(r)?);
                        if l.len() + r.len() > MAX_RESULT_LEN {
                            return Err(too_long("ARRAY_CONCAT result"));
                        }
                        Ok(Value::Array(l.iter().chain(r).cloned().collect()))
                    }
                }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_JOIN",
            "Joins the array elements into a flat string representation, with the given \
             delimiter or a comma.",
        )
        .variant(
            Variant::new(vec![p("array", arr_t())], ret(SqlType::String))
                .handles_nulls()
                .eval(array_join),
        )
        .variant(
            Variant::new(
                vec![p("array", arr_t()), p("delimiter", P::String)],
                ret(SqlType::String),
            )
            .handles_nulls()
            .eval(array_join),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_SORT",
            "Sort an array of primitive values, according to their natural sort order, \
             ascending or (with 'DESC') descending. Any NULLs in the array will be placed at \
             the end.",
        )
        .error_name("array_sort")
        .variant(Variant::new(vec![p("input", arr_t())], ret_generic(arr_t())).eval(array_sort))
        .variant(
            Variant::new(
                vec![p("input", arr_t()), p("direction", P::String)],
                ret_generic(arr_t()),
            )
            .eval(array_sort),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_MAX",
            "Return the maximum value from within an array of primitive values, according to \
             their natural sort order. If the array is NULL, or contains only NULLs, return \
             NULL.",
        )
        .error_name("array_max")
        .variant(
            Variant::new(vec![p("input", arr_t())], ret_generic(generic("T")))
                .eval(extreme(Ordering::Greater)),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_MIN",
            "Return the minimum value from within an array of primitive values, according to \
             their natural sort order. If the array is NULL, or contains only NULLs, return \
             NULL.",
        )
        .error_name("array_min")
        .variant(
            Variant::new(vec![p("input", arr_t())], ret_generic(generic("T")))
                .eval(extreme(Ordering::Less)),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ARRAY_REMOVE",
            "Removes all the elements equal to a specific value from an array. Returns NULL \
             if the input array is NULL.",
        )
        .error_name("array_remove")
        .variant(
            Variant::new(
                vec![p("array", arr_t()), p("victim", generic("T"))],
                ret_generic(arr_t()),
            )
            .handles_nulls()
            .eval(|a| match &a[0] {
                Value::Null => Ok(Value::Null),
                v => Ok(Value::Array(
                    list(v)?.iter().filter(|x| **x != a[1]).cloned().collect(),
                )),
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "SLICE",
            "Returns the slice of an array from the 1-based start index to the end index \
             (inclusive); a NULL bound means the array's start or end. NULL for bounds outside \
             the array.",
        )
        .error_name("slice")
        .variant(
            Variant::new(
                vec![p("in", arr_t()), p("from", P::Int), p("to", P::Int)],
                ret_generic(arr_t()),
            )
            .handles_nulls()
            .eval(slice),
        )
        .shared(),
    );
    let int_array = || SqlType::array(SqlType::Int);
    let long_array = || SqlType::array(SqlType::Bigint);
    r.register_scalar(
        Udf::new(
            "GENERATE_SERIES",
            "Construct an array of a range of values, from start to end inclusive, with an \
             optional step.",
        )
        .variant(
            Variant::new(vec![p("start", P::Int), p("end", P::Int)], ret(int_array())).eval(|a| {
                let (s, e) = (long(&a[0])?, long(&a[1])?);
                series(s, e, default_step(s, e), |v| Value::Int(v as i32))
            }),
        )
        .variant(
            Variant::new(
                vec![p("start", P::Int), p("end", P::Int), p("step", P::Int)],
                ret(int_array()),
            )
            .eval(|a| {
                series(long(&a[0])?, long(&a[1])?, i64::from(int(&a[2])?), |v| {
                    Value::Int(v as i32)
                })
            }),
        )
        .variant(
            Variant::new(
                vec![p("start", P::Bigint), p("end", P::Bigint)],
                ret(long_array()),
            )
            .eval(|a| {
                let (s, e) = (long(&a[0])?, long(&a[1])?);
                series(s, e, default_step(s, e), Value::Bigint)
            }),
        )
        .variant(
            Variant::new(
                vec![
                    p("start", P::Bigint),
                    p("end", P::Bigint),
                    p("step", P::Int),
                ],
                ret(long_array()),
            )
            .eval(|a| {
                series(
                    long(&a[0])?,
                    long(&a[1])?,
                    i64::from(int(&a[2])?),
                    Value::Bigint,
                )
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "MAP_KEYS",
            "Returns an array of all the keys in a map, or NULL if the map is NULL.",
        )
        .error_name("map_keys")
        .variant(
            Variant::new(vec![p("input", map_kv())], ret_generic(array(generic("K")))).eval(|a| {
                Ok(Value::Array(
                    entries(&a[0])?.iter().map(|(k, _)| k.clone()).collect(),
                ))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "MAP_VALUES",
            "Returns an array of all the values in a map, or NULL if the map is NULL.",
        )
        .error_name("map_values")
        .variant(
            Variant::new(vec![p("input", map_kv())], ret_generic(array(generic("V")))).eval(|a| {
                Ok(Value::Array(
                    entries(&a[0])?.iter().map(|(_, v)| v.clone()).collect(),
                ))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "MAP_UNION",
            "Returns a new map containing the union of all entries from both input maps. If a \
             key is present in both input maps then the value from map2 is the one which \
             appears in the result. Returns NULL if all of the input maps are NULL.",
        )
        .error_name("map_union")
        .variant(
            Variant::new(
                vec![p("map1", map_kv()), p("map2", map_kv())],
                ret_generic(map_kv()),
            )
            .handles_nulls()
            .eval(map_union),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ENTRIES",
            "Construct an array of STRUCT<K, V> from the entries in a map. The array can be \
             optionally sorted on the keys.",
        )
        .variant(
            Variant::new(
                vec![
                    p("map", map(P::String, generic("V"))),
                    p("sorted", P::Boolean),
                ],
                ret_fn("ARRAY<STRUCT<K VARCHAR, V V>>", |call| {
                    let v = call
                        .generic("V")
                        .cloned()
                        .ok_or_else(|| "cannot infer the value type of a NULL map".to_string())?;
                    Ok(SqlType::array(SqlType::Struct(vec![
                        ("K".to_string(), SqlType::String),
                        ("V".to_string(), v),
                    ])))
                }),
            )
            .eval(entries_fn),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "AS_MAP",
            "Construct a map from a list of keys and a list of values.",
        )
        .variant(
            Variant::new(
                vec![p("keys", array(P::String)), p("values", arr_t())],
                ret_fn("MAP<VARCHAR, T>", |call| {
                    let v = call
                        .generic("T")
                        .cloned()
                        .ok_or_else(|| "cannot infer the value type of NULL values".to_string())?;
                    Ok(SqlType::map(SqlType::String, v))
                }),
            )
            .eval(as_map),
        )
        .shared(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{call, dec, lit, null, reg, ret_type, run, s, typed};
    use super::*;

    fn ints(v: &[Option<i32>]) -> Value {
        Value::Array(
            v.iter()
                .map(|x| x.map(Value::Int).unwrap_or(Value::Null))
                .collect(),
        )
    }

    fn ia() -> SqlType {
        SqlType::array(SqlType::Int)
    }

    #[test]
    fn length_contains_and_set_functions() {
        let r = reg();
        assert_eq!(
            run(&r, "ARRAY_LENGTH", &[ia()], &[ints(&[Some(1), None])]),
            Ok(Value::Int(2))
        );
        assert_eq!(
            run(&r, "ARRAY_LENGTH", &[ia()], &[Value::Null]),
            Ok(Value::Null)
        );
        let sa = SqlType::array(SqlType::String);
        let colors = Value::Array(vec![s("Pink"), Value::Null]);
        assert_eq!(
            call(
                &r,
                "ARRAY_CONTAINS",
                &[typed(sa.clone()), lit(s("Pink"))],
                &[colors, s("Pink")]
            ),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            call(
                &r,
                "ARRAY_CONTAINS",
                &[typed(sa.clone()), lit(s("Pink"))],
                &[Value::Null, s("Pink")]
            ),
            Ok(Value::Boolean(false))
        );
        let a = ints(&[Some(0), Some(0), Some(1), Some(0), Some(-1)]);
        assert_eq!(
            run(&r, "ARRAY_DISTINCT", &[ia()], std::slice::from_ref(&a)),
            Ok(ints(&[Some(0), Some(1), Some(-1)]))
        );
        let b = ints(&[Some(1), Some(-2), Some(0)]);
        assert_eq!(
            run(&r, "ARRAY_EXCEPT", &[ia(), ia()], &[a.clone(), b.clone()]),
            Ok(ints(&[Some(-1)]))
        );
        assert_eq!(
            run(
                &r,
                "ARRAY_INTERSECT",
                &[ia(), ia()],
                &[a.clone(), b.clone()]
            ),
            Ok(ints(&[Some(0), Some(1)]))
        );
        assert_eq!(
            run(&r, "ARRAY_UNION", &[ia(), ia()], &[a.clone(), b.clone()]),
            Ok(ints(&[Some(0), Some(1), Some(-1), Some(-2)]))
        );
        assert_eq!(
            run(&r, "ARRAY_UNION", &[ia(), ia()], &[Value::Null, b.clone()]),
            Ok(Value::Null)
        );
        assert_eq!(
            run(&r, "ARRAY_CONCAT", &[ia(), ia()], &[Value::Null, b.clone()]),
            Ok(b.clone())
        );
        assert_eq!(
            run(
                &r,
                "ARRAY_CONCAT",
                &[ia(), ia()],
                &[Value::Null, Value::Null]
            ),
            Ok(Value::Null)
        );
        let maps = Value::Array(vec![
            Value::Map(vec![
                (s("apple"), Value::Int(1)),
                (s("banana"), Value::Int(2)),
            ]),
            Value::Map(vec![
                (s("banana"), Value::Int(2)),
                (s("apple"), Value::Int(1)),
            ]),
        ]);
        let mt = SqlType::array(SqlType::map(SqlType::String, SqlType::Int));
        match run(&r, "ARRAY_DISTINCT", &[mt], &[maps]) {
            Ok(Value::Array(v)) => assert_eq!(v.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            ret_type(&r, "ARRAY_UNION", &[typed(ia()), typed(ia())]),
            Ok(ia())
        );
        assert!(r
            .scalar("ARRAY_UNION")
            .unwrap()
            .bind(&[typed(ia()), typed(SqlType::Int)])
            .is_err());
    }

    #[test]
    fn join_sort_min_max() {
        let r = reg();
        let bools = Value::Array(vec![
            Value::Boolean(true),
            Value::Null,
            Value::Boolean(false),
        ]);
        let ba = SqlType::array(SqlType::Boolean);
        assert_eq!(
            run(
                &r,
                "ARRAY_JOIN",
                std::slice::from_ref(&ba),
                std::slice::from_ref(&bools)
            ),
            Ok(s("true,null,false"))
        );
        assert_eq!(
            call(
                &r,
                "ARRAY_JOIN",
                &[typed(ba.clone()), null()],
                &[bools, Value::Null]
            ),
            Ok(s("truenullfalse"))
        );
        let doubles = Value::Array(vec![
            Value::Double(1.23),
            Value::Double(-23.42),
            Value::Double(0.0),
        ]);
        assert_eq!(
            run(
                &r,
                "ARRAY_JOIN",
                &[SqlType::array(SqlType::Double), SqlType::String],
                &[doubles, s(" ")]
            ),
            Ok(s("1.23 -23.42 0.0"))
        );
        let decs = Value::Array(vec![dec("123.45"), dec("987.65")]);
        assert_eq!(
            run(
                &r,
                "ARRAY_JOIN",
                &[SqlType::array(SqlType::Decimal(5, 2))],
                &[decs]
            ),
            Ok(s("123.45,987.65"))
        );
        let strs = Value::Array(vec![
            s("foo"),
            s("fo"),
            s("Food"),
            Value::Null,
            s("F"),
            s("food"),
        ]);
        let sa = SqlType::array(SqlType::String);
        assert_eq!(
            run(
                &r,
                "ARRAY_SORT",
                std::slice::from_ref(&sa),
                std::slice::from_ref(&strs)
            ),
            Ok(Value::Array(vec![
                s("F"),
                s("Food"),
                s("fo"),
                s("foo"),
                s("food"),
                Value::Null
            ]))
        );
        assert_eq!(
            run(
                &r,
                "ARRAY_SORT",
                &[sa.clone(), SqlType::String],
                &[strs.clone(), s("desc")]
            ),
            Ok(Value::Array(vec![
                s("food"),
                s("foo"),
                s("fo"),
                s("Food"),
                s("F"),
                Value::Null
            ]))
        );
        assert_eq!(
            run(
                &r,
                "ARRAY_SORT",
                &[sa.clone(), SqlType::String],
                &[strs.clone(), s("up")]
            ),
            Ok(Value::Null)
        );
        assert_eq!(
            run(
                &r,
                "ARRAY_MAX",
                std::slice::from_ref(&sa),
                std::slice::from_ref(&strs)
            ),
            Ok(s("food"))
        );
        assert_eq!(
            run(&r, "ARRAY_MIN", std::slice::from_ref(&sa), &[strs]),
            Ok(s("F"))
        );
        assert_eq!(
            run(
                &r,
                "ARRAY_MIN",
                std::slice::from_ref(&sa),
                &[Value::Array(vec![])]
            ),
            Ok(Value::Null)
        );
        assert_eq!(
            ret_type(
                &r,
                "ARRAY_MAX",
                &[typed(SqlType::array(SqlType::Decimal(2, 1)))]
            ),
            Ok(SqlType::Decimal(2, 1))
        );
        let nested = Value::Array(vec![Value::Array(vec![])]);
        assert!(run(&r, "ARRAY_SORT", &[SqlType::array(sa)], &[nested]).is_err());
    }

    #[test]
    fn remove_slice_and_series() {
        let r = reg();
        let a = ints(&[Some(1), None, Some(2), Some(1)]);
        assert_eq!(
            call(
                &r,
                "ARRAY_REMOVE",
                &[typed(ia()), lit(Value::Int(1))],
                &[a.clone(), Value::Int(1)]
            ),
            Ok(ints(&[None, Some(2)]))
        );
        assert_eq!(
            call(
                &r,
                "ARRAY_REMOVE",
                &[typed(ia()), null()],
                &[a.clone(), Value::Null]
            ),
            Ok(ints(&[Some(1), Some(2), Some(1)]))
        );
        let sl = |from: Value, to: Value| {
            run(
                &r,
                "SLICE",
                &[ia(), SqlType::Int, SqlType::Int],
                &[a.clone(), from, to],
            )
        };
        assert_eq!(sl(Value::Int(2), Value::Int(3)), Ok(ints(&[None, Some(2)])));
        assert_eq!(sl(Value::Null, Value::Int(1)), Ok(ints(&[Some(1)])));
        assert_eq!(sl(Value::Int(0), Value::Int(1)), Ok(Value::Null));
        assert_eq!(sl(Value::Int(1), Value::Int(9)), Ok(Value::Null));
        let gs = |v: &[i32]| {
            let types = vec![SqlType::Int; v.len()];
            let vals: Vec<Value> = v.iter().map(|x| Value::Int(*x)).collect();
            run(&r, "GENERATE_SERIES", &types, &vals)
        };
        assert_eq!(
            gs(&[4, 0]),
            Ok(ints(&[Some(4), Some(3), Some(2), Some(1), Some(0)]))
        );
        assert_eq!(gs(&[-2, 1, 2]), Ok(ints(&[Some(-2), Some(0)])));
        assert_eq!(
            gs(&[9, 0, -3]),
            Ok(ints(&[Some(9), Some(6), Some(3), Some(0)]))
        );
        assert!(gs(&[0, 3, 0]).is_err());
        assert!(gs(&[0, 3, -1]).is_err());
        assert!(gs(&[i32::MIN, i32::MAX]).is_err());
        assert_eq!(
            run(
                &r,
                "GENERATE_SERIES",
                &[SqlType::Bigint, SqlType::Bigint],
                &[Value::Bigint(1), Value::Bigint(2)]
            ),
            Ok(Value::Array(vec![Value::Bigint(1), Value::Bigint(2)]))
        );
    }

    #[test]
    fn map_functions() {
        let r = reg();
        let mt = SqlType::map(SqlType::String, SqlType::Int);
        let m1 = Value::Map(vec![(s("foo"), Value::Int(10)), (s("bar"), Value::Int(20))]);
        let m2 = Value::Map(vec![(s("foo"), Value::Null)]);
        assert_eq!(
            run(
                &r,
                "MAP_KEYS",
                std::slice::from_ref(&mt),
                std::slice::from_ref(&m1)
            ),
            Ok(Value::Array(vec![s("foo"), s("bar")]))
        );
        assert_eq!(
            ret_type(&r, "MAP_VALUES", &[typed(mt.clone())]),
            Ok(SqlType::array(SqlType::Int))
        );
        assert_eq!(
            run(
                &r,
                "MAP_UNION",
                &[mt.clone(), mt.clone()],
                &[m1.clone(), m2.clone()]
            ),
            Ok(Value::Map(vec![
                (s("foo"), Value::Null),
                (s("bar"), Value::Int(20))
            ]))
        );
        assert_eq!(
            run(
                &r,
                "MAP_UNION",
                &[mt.clone(), mt.clone()],
                &[Value::Null, m2.clone()]
            ),
            Ok(m2)
        );
        let e = run(
            &r,
            "ENTRIES",
            &[mt.clone(), SqlType::Boolean],
            &[m1.clone(), Value::Boolean(true)],
        );
        assert_eq!(
            e,
            Ok(Value::Array(vec![
                Value::Struct(vec![("K".into(), s("bar")), ("V".into(), Value::Int(20))]),
                Value::Struct(vec![("K".into(), s("foo")), ("V".into(), Value::Int(10))]),
            ]))
        );
        let keys = Value::Array(vec![s("a"), s("b"), s("c")]);
        let vals = ints(&[Some(1), Some(2)]);
        assert_eq!(
            run(
                &r,
                "AS_MAP",
                &[SqlType::array(SqlType::String), ia()],
                &[keys, vals]
            ),
            Ok(Value::Map(vec![
                (s("a"), Value::Int(1)),
                (s("b"), Value::Int(2)),
                (s("c"), Value::Null)
            ]))
        );
        assert_eq!(
            ret_type(
                &r,
                "AS_MAP",
                &[typed(SqlType::array(SqlType::String)), typed(ia())]
            ),
            Ok(mt)
        );
    }
}
