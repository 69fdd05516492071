//! Numeric functions: ABS, ROUND, TRUNC, FLOOR, CEIL, SIGN, GREATEST, LEAST, the
//! exponential, logarithmic and trigonometric functions, RANDOM and GEO_DISTANCE.

use std::cmp::Ordering;
use std::sync::Arc;

use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive, Zero};

use crate::functions::{FunctionRegistry, ScalarFn};
use crate::types::SqlType;
use crate::value::Value;

use super::conv::{self, decimal, double, int, long};
use super::sig::{p, ret, ret_fn, Call, ParamType as P, Udf, Variant};

/// `d` rounded to `places` fractional digits with `mode` (Java's `setScale`). Rounding
/// away more digits than the number has gives zero without building huge powers of ten.
pub fn set_scale(d: &BigDecimal, places: i64, mode: RoundingMode) -> BigDecimal {
    let (_, scale) = d.as_bigint_and_exponent();
    if places >= scale {
        return d.clone();
    }
    let dropped = scale.saturating_sub(places);
    if dropped > d.digits() as i64 + 1 {
        return BigDecimal::zero();
    }
    d.with_scale_round(places, mode)
}

/// ksqlDB's ROUND rounding: half up for positive values, half down for the others (so
/// halves always go towards positive infinity, like `Math.round`).
fn round_mode(d: &BigDecimal) -> RoundingMode {
    if d > &BigDecimal::zero() {
        RoundingMode::HalfUp
    } else {
        RoundingMode::HalfDown
    }
}

/// `BigDecimal.valueOf(double)`: the decimal of the double's shortest text.
fn decimal_of_double(d: f64) -> Result<BigDecimal, String> {
    if !d.is_finite() {
        return Err(format!(
            "Character array is missing \"exponent\" mark 'e' or 'E': {d}"
        ));
    }
    conv::java_double(d)
        .parse::<BigDecimal>()
        .map_err(|e| format!("cannot convert {d} to a decimal: {e}"))
}

fn decimal_scale(call: &Call<'_>) -> Result<(u8, u8), String> {
    match call.ty(0) {
        Some(SqlType::Decimal(p, s)) => Ok((*p, *s)),
        _ => Err("expected a DECIMAL argument".to_string()),
    }
}

/// The DECIMAL(p - s, 0) of ROUND/TRUNC without places (at least one digit).
fn integral_decimal(call: &Call<'_>) -> Result<SqlType, String> {
    let (p, s) = decimal_scale(call)?;
    Ok(SqlType::Decimal(p.saturating_sub(s).max(1), 0))
}

fn same_as_first(call: &Call<'_>) -> Result<SqlType, String> {
    call.ty(0)
        .cloned()
        .ok_or_else(|| "cannot infer the type of a NULL argument".to_string())
}

fn out_scale(ty: &SqlType) -> u8 {
    match ty {
        SqlType::Decimal(_, s) => *s,
        _ => 0,
    }
}

/// ROUND or TRUNC: `mode_of` picks the rounding for a value, `to_long` handles a DOUBLE
/// without places.
fn round_udf(
    name: &str,
    description: &str,
    mode_of: fn(&BigDecimal) -> RoundingMode,
    to_long: fn(f64) -> i64,
) -> Udf {
    let places = |v: &Value| -> Result<i64, String> { Ok(i64::from(int(v)?)) };
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(vec![p("val", P::Bigint)], ret(SqlType::Bigint))
                .eval(|a| Ok(Value::Bigint(long(&a[0])?))),
        )
        .variant(
            Variant::new(vec![p("val", P::Int)], ret(SqlType::Bigint))
                .eval(|a| Ok(Value::Bigint(long(&a[0])?))),
        )
        .variant(
            Variant::new(vec![p("val", P::Double)], ret(SqlType::Bigint))
                .eval(move |a| Ok(Value::Bigint(to_long(double(&a[0])?)))),
        )
        .variant(
            Variant::new(
                vec![p("val", P::Double), p("decimalPlaces", P::Int)],
                ret(SqlType::Double),
            )
            .eval(move |a| {
                let v = double(&a[0])?;
                let d = decimal_of_double(v)?;
                let r = set_scale(&d, places(&a[1])?, mode_of(&d));
                Ok(Value::Double(r.to_f64().unwrap_or(f64::NAN)))
            }),
        )
        .variant(
            Variant::new(
                vec![p("val", P::Decimal)],
                ret_fn("DECIMAL", integral_decimal),
            )
            .build(move |_, rt| {
                let scale = out_scale(rt);
                Ok(Arc::new(move |a: &[Value]| {
                    let d = decimal(&a[0])?;
                    let r = set_scale(&d, 0, mode_of(&d));
                    Ok(Value::Decimal(conv::fit_scale(&r, scale)))
                }) as ScalarFn)
            }),
        )
        .variant(
            Variant::new(
                vec![p("val", P::Decimal), p("decimalPlaces", P::Int)],
                ret_fn("DECIMAL", same_as_first),
            )
            .build(move |_, rt| {
                let scale = out_scale(rt);
                Ok(Arc::new(move |a: &[Value]| {
                    let d = decimal(&a[0])?;
                    let r = set_scale(&d, places(&a[1])?, mode_of(&d));
                    Ok(Value::Decimal(conv::fit_scale(&r, scale)))
                }) as ScalarFn)
            }),
        )
}

/// FLOOR or CEIL.
fn floor_ceil(name: &str, description: &str, up: bool) -> Udf {
    let mode = if up {
        RoundingMode::Ceiling
    } else {
        RoundingMode::Floor
    };
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(vec![p("val", P::Int)], ret(SqlType::Int))
                .eval(|a| Ok(Value::Int(int(&a[0])?))),
        )
        .variant(
            Variant::new(vec![p("val", P::Bigint)], ret(SqlType::Bigint))
                .eval(|a| Ok(Value::Bigint(long(&a[0])?))),
        )
        .variant(
            Variant::new(vec![p("val", P::Double)], ret(SqlType::Double)).eval(move |a| {
                let d = double(&a[0])?;
                Ok(Value::Double(if up { d.ceil() } else { d.floor() }))
            }),
        )
        .variant(
            Variant::new(vec![p("val", P::Decimal)], ret_fn("DECIMAL", same_as_first)).build(
                move |_, rt| {
                    let scale = out_scale(rt);
                    Ok(Arc::new(move |a: &[Value]| {
                        let d = decimal(&a[0])?;
                        let r = set_scale(&d, 0, mode);
                        Ok(Value::Decimal(conv::fit_scale(&r, scale)))
                    }) as ScalarFn)
                },
            ),
        )
}

/// A DOUBLE -> DOUBLE function.
fn unary(name: &str, description: &str, f: fn(f64) -> f64) -> Udf {
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(vec![p("value", P::Double)], ret(SqlType::Double))
                .eval(move |a| Ok(Value::Double(f(double(&a[0])?)))),
        )
}

/// A (DOUBLE, DOUBLE) -> DOUBLE function.
fn binary(name: &str, description: &str, names: [&'static str; 2], f: fn(f64, f64) -> f64) -> Udf {
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(
                vec![p(names[0], P::Double), p(names[1], P::Double)],
                ret(SqlType::Double),
            )
            .eval(move |a| Ok(Value::Double(f(double(&a[0])?, double(&a[1])?)))),
        )
}

/// ksqlDB's LOG(base, value).
fn log_base(base: f64, value: f64) -> f64 {
    if base <= 0.0 || base == 1.0 || value < 0.0 {
        return f64::NAN;
    }
    value.ln() / base.ln()
}

/// Orders two non-null values of one type the way Java's `compareTo` does.
pub fn java_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => x.total_cmp(y),
        (Value::Bytes(x), Value::Bytes(y)) => {
            // ByteBuffer.compareTo compares signed bytes.
            let xs = x.iter().map(|b| *b as i8);
            let ys = y.iter().map(|b| *b as i8);
            xs.cmp(ys)
        }
        _ => a.sql_cmp(b).unwrap_or(Ordering::Equal),
    }
}

/// GREATEST or LEAST.
fn extreme(name: &str, description: &str, want: Ordering) -> Udf {
    let pick = move |args: &[Value]| -> Option<Value> {
        let mut best: Option<&Value> = None;
        for v in args.iter().filter(|v| !v.is_null()) {
            best = match best {
                Some(b) if java_cmp(v, b) != want => Some(b),
                _ => Some(v),
            };
        }
        best.cloned()
    };
    let mut udf = Udf::new(name, description).error_name(&name.to_ascii_lowercase());
    for (ty, sql) in [
        (P::Int, SqlType::Int),
        (P::Bigint, SqlType::Bigint),
        (P::Double, SqlType::Double),
        (P::String, SqlType::String),
        (P::Bytes, SqlType::Bytes),
        (P::Date, SqlType::Date),
        (P::Time, SqlType::Time),
        (P::Timestamp, SqlType::Timestamp),
    ] {
        udf = udf.variant(
            Variant::new(vec![p("val", ty.clone()), p("vals", ty)], ret(sql))
                .variadic()
                .handles_nulls()
                .eval(move |a| Ok(pick(a).unwrap_or(Value::Null))),
        );
    }
    udf.variant(
        Variant::new(
            vec![p("val", P::Decimal), p("vals", P::Decimal)],
            ret_fn("DECIMAL", |call| {
                call.param_types
                    .iter()
                    .flatten()
                    .cloned()
                    .reduce(|a, b| conv::widen_decimal(&a, &b).unwrap_or(a))
                    .ok_or_else(|| "cannot infer the type of NULL arguments".to_string())
            }),
        )
        .variadic()
        .handles_nulls()
        .build(move |_, rt| {
            let scale = out_scale(rt);
            Ok(Arc::new(move |a: &[Value]| {
                Ok(match pick(a) {
                    Some(Value::Decimal(d)) => Value::Decimal(conv::fit_scale(&d, scale)),
                    Some(other) => other,
                    None => Value::Null,
                })
            }) as ScalarFn)
        }),
    )
}

const EARTH_RADIUS_KM: f64 = 6371.0;
const EARTH_RADIUS_MILES: f64 = 3959.0;

fn geo_distance(args: &[Value]) -> Result<Value, String> {
    if args[..4].iter().any(Value::is_null) {
        return Ok(Value::Null);
    }
    let (lat1, lon1, lat2, lon2) = (
        double(&args[0])?,
        double(&args[1])?,
        double(&args[2])?,
        double(&args[3])?,
    );
    if !(-90.0..=90.0).contains(&lat1) || !(-90.0..=90.0).contains(&lat2) {
        return Err(
            "valid latitude values for GeoDistance function are in the range of -90 to 90 \
             decimal degrees"
                .to_string(),
        );
    }
    if !(-180.0..=180.0).contains(&lon1) || !(-180.0..=180.0).contains(&lon2) {
        return Err(
            "valid longitude values for GeoDistance function are in the range of -180 to +180 \
             decimal degrees"
                .to_string(),
        );
    }
    let radius = match args.get(4) {
        None | Some(Value::Null) => EARTH_RADIUS_KM,
        Some(v) => {
            let unit = conv::text(v)?.trim().to_lowercase();
            match unit.as_str() {
                "" | "km" | "kilometer" | "kilometers" | "kilometre" | "kilometres" => {
                    EARTH_RADIUS_KM
                }
                "mi" | "mile" | "miles" => EARTH_RADIUS_MILES,
                _ => {
                    return Err(
                        "GeoDistance function units parameter must be one of mi, mile, miles, \
                         km, kilometer, kilometers, kilometre or kilometres. Values are \
                         case-insensitive."
                            .to_string(),
                    )
                }
            }
        }
    };
    let haversin = |v: f64| (v / 2.0).sin().powi(2);
    let d_lat = (lat2 - lat1).to_radians();
    let d_lon = (lon2 - lon1).to_radians();
    let a = haversin(d_lat) + haversin(d_lon) * lat1.to_radians().cos() * lat2.to_radians().cos();
    Ok(Value::Double(2.0 * a.sqrt().asin() * radius))
}

/// Registers the numeric functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_scalar(
        Udf::new(
            "ABS",
            "Returns the absolute value of its argument. If the argument is not negative, the \
             argument is returned. If the argument is negative, the negation of the argument \
             is returned.",
        )
        .error_name("Abs")
        .variant(
            Variant::new(vec![p("val", P::Int)], ret(SqlType::Int))
                .eval(|a| Ok(Value::Int(int(&a[0])?.wrapping_abs()))),
        )
        .variant(
            Variant::new(vec![p("val", P::Bigint)], ret(SqlType::Bigint))
                .eval(|a| Ok(Value::Bigint(long(&a[0])?.wrapping_abs()))),
        )
        .variant(
            Variant::new(vec![p("val", P::Double)], ret(SqlType::Double))
                .eval(|a| Ok(Value::Double(double(&a[0])?.abs()))),
        )
        .variant(
            Variant::new(vec![p("val", P::Decimal)], ret_fn("DECIMAL", same_as_first))
                .eval(|a| Ok(Value::Decimal(decimal(&a[0])?.abs()))),
        )
        .shared(),
    );
    r.register_scalar(
        round_udf(
            "ROUND",
            "Round a value to the number of decimal places as specified by scale to the right \
             of the decimal point. If scale is negative then value is rounded to the right of \
             the decimal point. Numbers equidistant to the nearest value are rounded up (in \
             the positive direction). If the number of decimal places is not provided it \
             defaults to zero.",
            round_mode,
            conv::java_round,
        )
        .error_name("Round")
        .shared(),
    );
    r.register_scalar(
        round_udf(
            "TRUNC",
            "Truncates a value to the number of decimal places as specified by scale to the \
             right of the decimal point. If scale is negative then value is truncated to the \
             right of the decimal point.",
            |_| RoundingMode::Down,
            conv::java_long,
        )
        .shared(),
    );
    r.register_scalar(
        floor_ceil(
            "FLOOR",
            "Returns the largest integer less than or equal to the specified numeric \
             expression.",
            false,
        )
        .error_name("Floor")
        .shared(),
    );
    r.register_scalar(
        floor_ceil(
            "CEIL",
            "Returns the smallest integer greater than or equal to the specified numeric \
             expression.",
            true,
        )
        .error_name("Ceil")
        .shared(),
    );
    r.register_scalar(
        Udf::new("SIGN", "The sign of a value.")
            .error_name("sign")
            .variant(
                Variant::new(vec![p("value", P::Int)], ret(SqlType::Int))
                    .describe("Returns the sign of an INT value, denoted by 1, 0 or -1.")
                    .eval(|a| Ok(Value::Int(int(&a[0])?.signum()))),
            )
            .variant(
                Variant::new(vec![p("value", P::Bigint)], ret(SqlType::Int))
                    .describe("Returns the sign of a BIGINT value, denoted by 1, 0 or -1.")
                    .eval(|a| Ok(Value::Int(long(&a[0])?.signum() as i32))),
            )
            .variant(
                Variant::new(vec![p("value", P::Double)], ret(SqlType::Int))
                    .describe("Returns the sign of a DOUBLE value, denoted by 1, 0 or -1.")
                    .eval(|a| {
                        let d = double(&a[0])?;
                        Ok(Value::Int(if d > 0.0 {
                            1
                        } else if d < 0.0 {
                            -1
                        } else {
                            0
                        }))
                    }),
            )
            .shared(),
    );
    r.register_scalar(
        extreme(
            "GREATEST",
            "Returns the highest non-null value among a variable number of comparable columns.",
            Ordering::Greater,
        )
        .shared(),
    );
    r.register_scalar(
        extreme(
            "LEAST",
            "Returns the lowest non-null value among a variable number of comparable columns.",
            Ordering::Less,
        )
        .shared(),
    );

    r.register_scalar(unary("EXP", "The exponential of a value.", f64::exp).shared());
    r.register_scalar(unary("LN", "The natural logarithm of a value.", f64::ln).shared());
    r.register_scalar(
        unary(
            "LOG",
            "The logarithm of a value, natural or in the given base.",
            f64::ln,
        )
        .variant(
            Variant::new(
                vec![p("base", P::Double), p("value", P::Double)],
                ret(SqlType::Double),
            )
            .describe("Returns the logarithm of value in the given base.")
            .eval(|a| Ok(Value::Double(log_base(double(&a[0])?, double(&a[1])?)))),
        )
        .shared(),
    );
    r.register_scalar(unary("SQRT", "The square root of a value.", f64::sqrt).shared());
    r.register_scalar(unary("CBRT", "The cube root of a value.", f64::cbrt).shared());
    r.register_scalar(
        binary(
            "POWER",
            "Returns the value of the first argument raised to the power of the second.",
            ["base", "exponent"],
            f64::powf,
        )
        .shared(),
    );
    r.register_scalar(unary("ACOS", "The inverse (arc) cosine of a value.", f64::acos).shared());
    r.register_scalar(unary("ASIN", "The inverse (arc) sine of a value.", f64::asin).shared());
    r.register_scalar(unary("ATAN", "The inverse (arc) tangent of a value.", f64::atan).shared());
    r.register_scalar(
        binary(
            "ATAN2",
            "The inverse (arc) tangent of y / x, in the quadrant of the point (x, y).",
            ["y", "x"],
            f64::atan2,
        )
        .shared(),
    );
    r.register_scalar(unary("COS", "The cosine of a value in radians.", f64::cos).shared());
    r.register_scalar(
        unary("COT", "The cotangent of a value in radians.", |x| {
            1.0 / x.tan()
        })
        .shared(),
    );
    r.register_scalar(unary("SIN", "The sine of a value in radians.", f64::sin).shared());
    r.register_scalar(unary("TAN", "The tangent of a value in radians.", f64::tan).shared());
    r.register_scalar(unary("COSH", "The hyperbolic cosine of a value.", f64::cosh).shared());
    r.register_scalar(unary("SINH", "The hyperbolic sine of a value.", f64::sinh).shared());
    r.register_scalar(unary("TANH", "The hyperbolic tangent of a value.", f64::tanh).shared());
    r.register_scalar(
        unary(
            "DEGREES",
            "Converts an angle in radians to degrees.",
            f64::to_degrees,
        )
        .shared(),
    );
    r.register_scalar(
        unary(
            "RADIANS",
            "Converts an angle in degrees to radians.",
            f64::to_radians,
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new("PI", "Returns an approximate value of pi.")
            .error_name("pi")
            .variant(
                Variant::new(vec![], ret(SqlType::Double))
                    .eval(|_| Ok(Value::Double(std::f64::consts::PI))),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new(
            "RANDOM",
            "Returns a random DOUBLE value between 0.0 and 1.0.",
        )
        .error_name("random")
        .variant(
            Variant::new(vec![], ret(SqlType::Double))
                .eval(|_| Ok(Value::Double(super::misc::random_f64()))),
        )
        .shared(),
    );
    let coords = || {
        vec![
            p("lat1", P::Double),
            p("lon1", P::Double),
            p("lat2", P::Double),
            p("lon2", P::Double),
        ]
    };
    r.register_scalar(
        Udf::new(
            "GEO_DISTANCE",
            "Compute the distance between two points on the surface of the earth, according \
             to the Haversine formula for \"great circle distance\".",
        )
        .error_name("geo_distance")
        .variant(
            Variant::new(coords(), ret(SqlType::Double))
                .describe("The distance between two (lat, lon) points, in kilometers.")
                .eval(geo_distance),
        )
        .variant(
            Variant::new(
                {
                    let mut c = coords();
                    c.push(p("units", P::String));
                    c
                },
                ret(SqlType::Double),
            )
            .describe("The distance in the given units: MI (miles) or KM (kilometers).")
            .handles_nulls()
            .eval(geo_distance),
        )
        .shared(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{call, dec, lit, null, reg, ret_type, run, typed};
    use super::*;

    fn d(v: f64) -> Value {
        Value::Double(v)
    }

    fn round13(v: Value) -> f64 {
        match v {
            Value::Double(x) => (x * 1e13).round() / 1e13,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn abs_keeps_the_argument_type() {
        let r = reg();
        assert_eq!(
            run(&r, "ABS", &[SqlType::Int], &[Value::Int(-1)]),
            Ok(Value::Int(1))
        );
        assert_eq!(
            run(&r, "ABS", &[SqlType::Bigint], &[Value::Bigint(-2)]),
            Ok(Value::Bigint(2))
        );
        assert_eq!(run(&r, "ABS", &[SqlType::Double], &[d(-3.1)]), Ok(d(3.1)));
        assert_eq!(
            run(&r, "ABS", &[SqlType::Decimal(2, 1)], &[dec("-3.2")]),
            Ok(dec("3.2"))
        );
        assert_eq!(
            ret_type(&r, "ABS", &[typed(SqlType::Decimal(2, 1))]),
            Ok(SqlType::Decimal(2, 1))
        );
        assert_eq!(
            run(&r, "ABS", &[SqlType::Int], &[Value::Int(i32::MIN)]),
            Ok(Value::Int(i32::MIN))
        );
        assert_eq!(
            run(&r, "ABS", &[SqlType::Int], &[Value::Null]),
            Ok(Value::Null)
        );
    }

    #[test]
    fn round_matches_the_qtt_table() {
        let r = reg();
        let round = |v: f64| run(&r, "ROUND", &[SqlType::Double], &[d(v)]);
        let round_n = |v: f64, n: i32| {
            run(
                &r,
                "ROUND",
                &[SqlType::Double, SqlType::Int],
                &[d(v), Value::Int(n)],
            )
        };
        assert_eq!(round(1.5), Ok(Value::Bigint(2)));
        assert_eq!(round(-1.5), Ok(Value::Bigint(-1)));
        assert_eq!(round(-12345.678), Ok(Value::Bigint(-12346)));
        assert_eq!(round_n(-1.5, 0), Ok(d(-1.0)));
        assert_eq!(round_n(1.234567, 2), Ok(d(1.23)));
        assert_eq!(round_n(12345.678, 1), Ok(d(12345.7)));
        assert_eq!(round_n(12345.678, -1), Ok(d(12350.0)));
        assert_eq!(round_n(-12345.678, -2), Ok(d(-12300.0)));
        assert_eq!(round_n(1.7, -1), Ok(d(0.0)));
        assert_eq!(round_n(1.2, 10), Ok(d(1.2)));
        assert_eq!(round_n(1.2, i32::MAX), Ok(d(1.2)));
        assert_eq!(round_n(1.2, i32::MIN), Ok(d(0.0)));
        assert_eq!(
            ret_type(&r, "ROUND", &[typed(SqlType::Decimal(33, 16))]),
            Ok(SqlType::Decimal(17, 0))
        );
        let big = dec("12345678987654321.2345678987654321");
        assert_eq!(
            run(
                &r,
                "ROUND",
                &[SqlType::Decimal(33, 16)],
                std::slice::from_ref(&big)
            ),
            Ok(dec("12345678987654321"))
        );
        let with = |n: i32| {
            run(
                &r,
                "ROUND",
                &[SqlType::Decimal(33, 16), SqlType::Int],
                &[big.clone(), Value::Int(n)],
            )
        };
        assert_eq!(with(10), Ok(dec("12345678987654321.2345678988000000")));
        assert_eq!(with(-2), Ok(dec("12345678987654300.0000000000000000")));
        assert_eq!(
            run(&r, "ROUND", &[SqlType::Decimal(4, 2)], &[dec("10.5")]),
            Ok(dec("11"))
        );
        assert_eq!(
            run(&r, "ROUND", &[SqlType::Int], &[Value::Int(3)]),
            Ok(Value::Bigint(3))
        );
    }

    #[test]
    fn trunc_truncates_towards_zero() {
        let r = reg();
        let t = |v: f64, n: i32| {
            run(
                &r,
                "TRUNC",
                &[SqlType::Double, SqlType::Int],
                &[d(v), Value::Int(n)],
            )
        };
        assert_eq!(
            run(&r, "TRUNC", &[SqlType::Double], &[d(-1.7)]),
            Ok(Value::Bigint(-1))
        );
        assert_eq!(t(12345.678, 2), Ok(d(12345.67)));
        assert_eq!(t(-12345.678, -1), Ok(d(-12340.0)));
        assert_eq!(
            run(
                &r,
                "TRUNC",
                &[SqlType::Decimal(12, 7), SqlType::Int],
                &[dec("1.7000000"), Value::Int(0)]
            ),
            Ok(dec("1.0000000"))
        );
        assert_eq!(
            run(
                &r,
                "TRUNC",
                &[SqlType::Decimal(12, 7)],
                &[dec("-1.7000000")]
            ),
            Ok(dec("-1"))
        );
    }

    #[test]
    fn floor_and_ceil() {
        let r = reg();
        let f = |name: &str, v: &str| run(&r, name, &[SqlType::Decimal(2, 1)], &[dec(v)]);
        assert_eq!(f("FLOOR", "-1.1"), Ok(dec("-2.0")));
        assert_eq!(f("CEIL", "1.1"), Ok(dec("2.0")));
        assert_eq!(f("CEIL", "-1.7"), Ok(dec("-1.0")));
        assert_eq!(
            run(&r, "FLOOR", &[SqlType::Double], &[d(-1.5)]),
            Ok(d(-2.0))
        );
        assert_eq!(
            run(&r, "CEIL", &[SqlType::Int], &[Value::Int(1)]),
            Ok(Value::Int(1))
        );
    }

    #[test]
    fn greatest_and_least_follow_ksql_resolution() {
        let r = reg();
        let ints = [
            typed(SqlType::Int),
            typed(SqlType::Int),
            typed(SqlType::Int),
            null(),
            lit(Value::Int(5)),
        ];
        assert_eq!(
            call(
                &r,
                "GREATEST",
                &ints,
                &[
                    Value::Int(i32::MAX),
                    Value::Int(i32::MIN),
                    Value::Null,
                    Value::Null,
                    Value::Int(5)
                ]
            ),
            Ok(Value::Int(i32::MAX))
        );
        assert!(r
            .scalar("LEAST")
            .unwrap()
            .bind(&[typed(SqlType::Int), typed(SqlType::Bigint)])
            .err()
            .unwrap()
            .contains("ambiguous method parameters (INTEGER, BIGINT)"));
        let mixed = [
            typed(SqlType::Int),
            typed(SqlType::Bigint),
            typed(SqlType::Decimal(30, 18)),
            typed(SqlType::Double),
            null(),
        ];
        assert_eq!(ret_type(&r, "LEAST", &mixed), Ok(SqlType::Double));
        assert_eq!(
            call(
                &r,
                "LEAST",
                &mixed,
                &[
                    Value::Int(-500000),
                    Value::Bigint(-1),
                    dec("-99999.99999"),
                    Value::Null,
                    Value::Null
                ]
            ),
            Ok(d(-500000.0))
        );
        let decs = [typed(SqlType::Decimal(9, 2)), typed(SqlType::Decimal(7, 6))];
        assert_eq!(ret_type(&r, "GREATEST", &decs), Ok(SqlType::Decimal(13, 6)));
        assert_eq!(
            call(&r, "LEAST", &decs, &[dec("1234567.89"), dec("0.123456")]),
            Ok(dec("0.123456"))
        );
        let dates = [
            typed(SqlType::Date),
            null(),
            lit(Value::String("2022-06-14".into())),
        ];
        assert_eq!(
            call(
                &r,
                "GREATEST",
                &dates,
                &[
                    Value::Date(19071),
                    Value::Null,
                    Value::String("2022-06-14".into())
                ]
            ),
            Ok(Value::Date(19157))
        );
        assert!(r.scalar("GREATEST").unwrap().bind(&[]).is_err());
        assert!(r
            .scalar("GREATEST")
            .unwrap()
            .bind(&[typed(SqlType::String), typed(SqlType::Int)])
            .err()
            .unwrap()
            .contains("does not accept parameters (STRING, INTEGER)"));
        assert_eq!(
            run(
                &r,
                "LEAST",
                &[SqlType::String, SqlType::String, SqlType::String],
                &[
                    Value::String("!".into()),
                    Value::String("Zebra".into()),
                    Value::Null
                ]
            ),
            Ok(Value::String("!".into()))
        );
    }

    #[test]
    fn exponentials_and_logs() {
        let r = reg();
        let one = |name: &str, v: Value, ty: SqlType| run(&r, name, &[ty], &[v]);
        assert_eq!(
            one("EXP", Value::Int(1), SqlType::Int),
            Ok(d(std::f64::consts::E))
        );
        assert_eq!(
            one("LN", Value::Int(0), SqlType::Int),
            Ok(d(f64::NEG_INFINITY))
        );
        assert!(
            matches!(one("SQRT", Value::Int(-1), SqlType::Int), Ok(Value::Double(x)) if x.is_nan())
        );
        assert_eq!(one("CBRT", Value::Int(-8), SqlType::Int), Ok(d(-2.0)));
        assert_eq!(
            one("LOG", Value::Int(13), SqlType::Int),
            Ok(d(2.5649493574615367))
        );
        let log2 = |b: i32, v: i32| {
            run(
                &r,
                "LOG",
                &[SqlType::Int, SqlType::Int],
                &[Value::Int(b), Value::Int(v)],
            )
        };
        assert_eq!(log2(15, 13), Ok(d(0.9471572411831843)));
        assert_eq!(log2(15, 0), Ok(d(f64::NEG_INFINITY)));
        assert!(matches!(log2(1, 13), Ok(Value::Double(x)) if x.is_nan()));
        assert!(matches!(log2(0, 13), Ok(Value::Double(x)) if x.is_nan()));
        assert_eq!(
            run(
                &r,
                "POWER",
                &[SqlType::Int, SqlType::Int],
                &[Value::Int(15), Value::Int(13)]
            ),
            Ok(d(1946195068359375.0))
        );
        assert_eq!(one("SIGN", d(-3.0), SqlType::Double), Ok(Value::Int(-1)));
        assert_eq!(
            one("SIGN", Value::Bigint(0), SqlType::Bigint),
            Ok(Value::Int(0))
        );
    }

    #[test]
    fn trigonometry_matches_java() {
        let r = reg();
        let one = |name: &str, v: f64| run(&r, name, &[SqlType::Double], &[d(v)]).unwrap();
        assert_eq!(round13(one("ACOS", -0.43)), 2.0152891037307);
        assert_eq!(round13(one("ATAN", 1.1)), 0.8329812666744);
        assert_eq!(round13(one("COT", 0.43)), 2.1804495406685);
        assert_eq!(one("COT", 0.0), d(f64::INFINITY));
        assert_eq!(round13(one("COSH", 0.43)), 1.0938833091358);
        assert_eq!(round13(one("RADIANS", 70.73163980890013)), 1.2345);
        assert_eq!((one("DEGREES", 1.2345)), d(70.73163980890013));
        let atan2 = run(
            &r,
            "ATAN2",
            &[SqlType::Int, SqlType::Int],
            &[Value::Int(-2), Value::Int(-3)],
        );
        assert_eq!(round13(atan2.unwrap()), -2.5535900500422);
        assert_eq!(run(&r, "PI", &[], &[]), Ok(d(std::f64::consts::PI)));
        match run(&r, "RANDOM", &[], &[]) {
            Ok(Value::Double(x)) => assert!((0.0..1.0).contains(&x)),
            other => panic!("{other:?}"),
        }
    }

    fn approx(v: Result<Value, String>, want: f64) {
        match v {
            Ok(Value::Double(x)) => assert!((x - want).abs() < 1e-9, "{x} != {want}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn geo_distance_uses_haversine() {
        let r = reg();
        let four = [
            SqlType::Double,
            SqlType::Double,
            SqlType::Double,
            SqlType::Double,
        ];
        let pts = [d(37.4439), d(-122.1663), d(51.5257), d(-0.1122)];
        approx(run(&r, "GEO_DISTANCE", &four, &pts), 8634.659796579544);
        let mut five = four.to_vec();
        five.push(SqlType::String);
        let mut with_unit = pts.to_vec();
        with_unit.push(Value::String("MI".into()));
        approx(
            run(&r, "GEO_DISTANCE", &five, &with_unit),
            5365.659729188262,
        );
        with_unit[4] = Value::Null;
        approx(
            run(&r, "GEO_DISTANCE", &five, &with_unit),
            8634.659796579544,
        );
        with_unit[4] = Value::String("parsecs".into());
        assert!(run(&r, "GEO_DISTANCE", &five, &with_unit).is_err());
        assert!(run(
            &r,
            "GEO_DISTANCE",
            &four,
            &[d(91.0), d(0.0), d(0.0), d(0.0)]
        )
        .is_err());
        let near = [
            d(39.18660374),
            d(-76.73262144),
            d(39.18660374),
            d(-76.73222145),
        ];
        approx(run(&r, "GEO_DISTANCE", &four, &near), 0.03447366811448324);
    }
}
