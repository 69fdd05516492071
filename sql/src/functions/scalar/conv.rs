//! Value helpers shared by the scalar functions: argument extraction, implicit
//! conversions, decimal scaling and Java-compatible number printing.

use bigdecimal::{BigDecimal, RoundingMode, ToPrimitive};

use crate::types::SqlType;
use crate::value::Value;

/// The longest string, byte array or collection a function builds (in characters, bytes or
/// elements); beyond it the function fails instead of exhausting memory.
pub const MAX_RESULT_LEN: usize = 16 * 1024 * 1024;

/// An error for a result over [`MAX_RESULT_LEN`].
pub fn too_long(what: &str) -> String {
    format!("{what} would exceed {MAX_RESULT_LEN} elements")
}

/// Whether a value of `from` must be converted to be seen as `to`.
pub fn needs_coercion(from: &SqlType, to: &SqlType) -> bool {
    match (from, to) {
        (SqlType::Decimal(_, s1), SqlType::Decimal(_, s2)) => s1 != s2,
        (SqlType::Array(a), SqlType::Array(b)) => needs_coercion(a, b),
        (SqlType::Map(k1, v1), SqlType::Map(k2, v2)) => {
            needs_coercion(k1, k2) || needs_coercion(v1, v2)
        }
        (SqlType::Struct(_), SqlType::Struct(_)) => false,
        _ => from != to,
    }
}

/// Converts `v` to type `to` along ksqlDB's implicit casts (numeric widening, STRING
/// literal to TIMESTAMP/DATE/TIME), element-wise inside arrays and maps.
pub fn coerce(v: &Value, to: &SqlType) -> Result<Value, String> {
    Ok(match (v, to) {
        (Value::Null, _) => Value::Null,
        (Value::Int(i), SqlType::Bigint) => Value::Bigint(i64::from(*i)),
        (Value::Int(_) | Value::Bigint(_) | Value::Decimal(_), SqlType::Double) => {
            Value::Double(v.as_f64().ok_or("cannot convert to DOUBLE")?)
        }
        (Value::Int(_) | Value::Bigint(_), SqlType::Decimal(_, scale)) => Value::Decimal(
            fit_scale(&v.as_decimal().ok_or("cannot convert to DECIMAL")?, *scale),
        ),
        (Value::Decimal(d), SqlType::Decimal(_, scale)) => Value::Decimal(fit_scale(d, *scale)),
        (Value::String(s), SqlType::Timestamp) => {
            Value::Timestamp(super::datetime::parse_iso_timestamp(s)?)
        }
        (Value::String(s), SqlType::Date) => Value::Date(super::datetime::parse_iso_date(s)?),
        (Value::String(s), SqlType::Time) => Value::Time(super::datetime::parse_iso_time(s)?),
        (Value::Array(items), SqlType::Array(t)) => Value::Array(
            items
                .iter()
                .map(|x| coerce(x, t))
                .collect::<Result<Vec<_>, _>>()?,
        ),
        (Value::Map(entries), SqlType::Map(kt, vt)) => Value::Map(
            entries
                .iter()
                .map(|(k, x)| Ok((coerce(k, kt)?, coerce(x, vt)?)))
                .collect::<Result<Vec<_>, String>>()?,
        ),
        _ => v.clone(),
    })
}

/// The DECIMAL that holds every value of two numeric types (ksqlDB's `DecimalUtil.widen`):
/// the larger integer part plus the larger scale.
pub fn widen_decimal(a: &SqlType, b: &SqlType) -> Option<SqlType> {
    let (p1, s1) = a.as_decimal()?;
    let (p2, s2) = b.as_decimal()?;
    let scale = s1.max(s2);
    let int_digits = (p1 - s1).max(p2 - s2);
    let precision = (u16::from(int_digits) + u16::from(scale)).min(u16::from(u8::MAX));
    Some(SqlType::Decimal(u8::try_from(precision).ok()?, scale))
}

/// `d` with exactly `scale` fractional digits, rounding half up (how ksqlDB fits a decimal
/// into its declared type).
pub fn fit_scale(d: &BigDecimal, scale: u8) -> BigDecimal {
    d.with_scale_round(i64::from(scale), RoundingMode::HalfUp)
}

/// A type error for an argument that did not have the expected kind (binding guarantees
/// the kinds, so this means a caller broke the contract).
pub fn wrong(what: &str, v: &Value) -> String {
    format!("expected {what}, got {v:?}")
}

pub fn int(v: &Value) -> Result<i32, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(wrong("INT", other)),
    }
}

pub fn long(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(i64::from(*i)),
        Value::Bigint(i) => Ok(*i),
        other => Err(wrong("BIGINT", other)),
    }
}

pub fn double(v: &Value) -> Result<f64, String> {
    match v {
        Value::Double(d) => Ok(*d),
        Value::Int(_) | Value::Bigint(_) | Value::Decimal(_) => {
            v.as_f64().ok_or_else(|| wrong("DOUBLE", v))
        }
        other => Err(wrong("DOUBLE", other)),
    }
}

pub fn decimal(v: &Value) -> Result<BigDecimal, String> {
    match v {
        Value::Decimal(d) => Ok(d.clone()),
        Value::Int(_) | Value::Bigint(_) => v.as_decimal().ok_or_else(|| wrong("DECIMAL", v)),
        other => Err(wrong("DECIMAL", other)),
    }
}

pub fn text(v: &Value) -> Result<&str, String> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(wrong("STRING", other)),
    }
}

pub fn bytes(v: &Value) -> Result<&[u8], String> {
    match v {
        Value::Bytes(b) => Ok(b),
        other => Err(wrong("BYTES", other)),
    }
}

pub fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Boolean(b) => Ok(*b),
        other => Err(wrong("BOOLEAN", other)),
    }
}

pub fn list(v: &Value) -> Result<&[Value], String> {
    match v {
        Value::Array(a) => Ok(a),
        other => Err(wrong("ARRAY", other)),
    }
}

pub fn entries(v: &Value) -> Result<&[(Value, Value)], String> {
    match v {
        Value::Map(m) => Ok(m),
        other => Err(wrong("MAP", other)),
    }
}

/// An optional STRING argument: NULL gives `None`.
pub fn opt_text(v: &Value) -> Result<Option<&str>, String> {
    match v {
        Value::Null => Ok(None),
        other => text(other).map(Some),
    }
}

/// An optional INT argument: NULL gives `None`.
pub fn opt_int(v: &Value) -> Result<Option<i32>, String> {
    match v {
        Value::Null => Ok(None),
        other => int(other).map(Some),
    }
}

/// Java's `Double.toString`: `1.0`, `0.001`, `1.0E7`, `1.234E-5`, `NaN`, `Infinity`.
pub fn java_double(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        let s = format!("{d}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        // Shortest round-trip digits, in Java's computerized scientific notation.
        let e = format!("{d:e}");
        let (mantissa, exp) = e.split_once('e').unwrap_or((e.as_str(), "0"));
        let mantissa = if mantissa.contains('.') {
            mantissa.to_string()
        } else {
            format!("{mantissa}.0")
        };
        format!("{mantissa}E{exp}")
    }
}

/// A decimal as Java's `BigDecimal.toString` prints it for the scales ksqlDB uses
/// (plain notation).
pub fn decimal_text(d: &BigDecimal) -> String {
    let (_, scale) = d.as_bigint_and_exponent();
    if scale < 0 {
        d.with_scale(0).to_string()
    } else {
        d.to_plain_string()
    }
}

/// How Java's `String.valueOf` prints a primitive value (for ARRAY_JOIN and friends).
pub fn java_text(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bigint(i) => i.to_string(),
        Value::Double(d) => java_double(*d),
        Value::Decimal(d) => decimal_text(d),
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// `d` as an i64 if it fits.
pub fn decimal_to_i64(d: &BigDecimal) -> Option<i64> {
    d.to_i64()
}

/// Java's `(long) d` conversion: truncation, NaN to 0, saturation at the bounds.
pub fn java_long(d: f64) -> i64 {
    // `as` saturates and maps NaN to 0, exactly as Java's narrowing conversion.
    d as i64
}

/// Java's `Math.round(double)`: floor(d + 0.5), saturating.
pub fn java_round(d: f64) -> i64 {
    if d.is_nan() {
        return 0;
    }
    let r = d.round();
    // f64::round rounds half away from zero; Java rounds half up (towards +inf).
    let r = if (d - d.trunc()).abs() == 0.5 && d < 0.0 {
        d.trunc()
    } else {
        r
    };
    r as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_double_matches_double_to_string() {
        assert_eq!(java_double(1.23), "1.23");
        assert_eq!(java_double(-23.42), "-23.42");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(3.0), "3.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(1.234e-5), "1.234E-5");
        assert_eq!(java_double(123.456), "123.456");
        assert_eq!(java_double(f64::NAN), "NaN");
        assert_eq!(java_double(f64::NEG_INFINITY), "-Infinity");
    }

    #[test]
    fn java_round_rounds_half_up() {
        assert_eq!(java_round(1.5), 2);
        assert_eq!(java_round(-1.5), -1);
        assert_eq!(java_round(-1.7), -2);
        assert_eq!(java_round(12345.678), 12346);
        assert_eq!(java_round(f64::NAN), 0);
        assert_eq!(java_round(1e300), i64::MAX);
    }

    #[test]
    fn coercion_widens_inside_collections() {
        let v = Value::Array(vec![Value::Int(1), Value::Null]);
        assert_eq!(
            coerce(&v, &SqlType::array(SqlType::Bigint)).unwrap(),
            Value::Array(vec![Value::Bigint(1), Value::Null])
        );
        assert_eq!(
            coerce(&Value::Int(2), &SqlType::Double).unwrap(),
            Value::Double(2.0)
        );
    }

    #[test]
    fn coercion_rescales_decimals_to_the_target_type() {
        let d = |s: &str| Value::Decimal(s.parse().unwrap_or_default());
        assert!(needs_coercion(
            &SqlType::Decimal(5, 1),
            &SqlType::Decimal(6, 2)
        ));
        assert!(!needs_coercion(
            &SqlType::Decimal(5, 2),
            &SqlType::Decimal(6, 2)
        ));
        match coerce(&d("1.5"), &SqlType::Decimal(6, 2)) {
            Ok(Value::Decimal(x)) => assert_eq!(x.to_string(), "1.50"),
            other => panic!("{other:?}"),
        }
        match coerce(&Value::Int(3), &SqlType::Decimal(12, 2)) {
            Ok(Value::Decimal(x)) => assert_eq!(x.to_string(), "3.00"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decimal_widening_keeps_integer_digits_and_scale() {
        assert_eq!(
            widen_decimal(&SqlType::Decimal(9, 2), &SqlType::Decimal(7, 6)),
            Some(SqlType::Decimal(13, 6))
        );
        assert_eq!(
            widen_decimal(&SqlType::Int, &SqlType::Decimal(4, 2)),
            Some(SqlType::Decimal(12, 2))
        );
    }
}
