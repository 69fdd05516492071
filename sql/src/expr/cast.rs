//! `CAST` with ksqlDB's rules (its `CastEvaluator`): which casts exist, and what each does
//! to a value. NULL casts to NULL of any type.

use base64::Engine;
use bigdecimal::BigDecimal;
use bytes::Bytes;

use super::{decimal, javafmt, temporal};
use crate::types::SqlType;
use crate::value::Value;

/// Whether ksqlDB supports `CAST(<from> AS <to>)`.
pub(crate) fn is_supported(from: &SqlType, to: &SqlType) -> bool {
    use SqlType::*;
    if from == to {
        return true;
    }
    match (from, to) {
        (Boolean, String) => true,
        (Int | Bigint | Decimal(..) | Double, Int | Bigint | Decimal(..) | Double | String) => true,
        (
            String,
            Boolean | Int | Bigint | Decimal(..) | Double | Timestamp | Time | Date | Bytes,
        ) => true,
        (Array(a), Array(b)) => is_supported(a, b),
        (Map(k1, v1), Map(k2, v2)) => is_supported(k1, k2) && is_supported(v1, v2),
        (Struct(f1), Struct(f2)) => f1.iter().all(|(name, t1)| {
            f2.iter()
                .find(|(n, _)| n == name)
                .is_none_or(|(_, t2)| is_supported(t1, t2))
        }),
        (Array(_) | Map(..) | Struct(_), String) => true,
        (Timestamp, String | Time | Date) => true,
        (Date, Timestamp | String) => true,
        (Time, String) => true,
        _ => false,
    }
}

/// The error for an unsupported cast.
pub(crate) fn unsupported(from: &SqlType, to: &SqlType) -> String {
    format!("Cast of {from} to {to} is not supported")
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Boolean(_) => "BOOLEAN",
        Value::Int(_) => "INTEGER",
        Value::Bigint(_) => "BIGINT",
        Value::Double(_) => "DOUBLE",
        Value::Decimal(_) => "DECIMAL",
        Value::String(_) => "STRING",
        Value::Bytes(_) => "BYTES",
        Value::Timestamp(_) => "TIMESTAMP",
        Value::Date(_) => "DATE",
        Value::Time(_) => "TIME",
        Value::Array(_) => "ARRAY",
        Value::Map(_) => "MAP",
        Value::Struct(_) => "STRUCT",
    }
}

fn bad(v: &Value, to: &SqlType) -> String {
    format!("Cast of {} to {to} is not supported", kind_name(v))
}

/// Java's `Integer.parseInt` (ASCII digits, optional sign, no overflow).
pub(crate) fn parse_int(s: &str) -> Result<i32, String> {
    parse_long_str(s)
        .and_then(|v| i32::try_from(v).ok())
        .ok_or_else(|| format!("For input string: \"{s}\""))
}

/// Java's `Long.parseLong`.
pub(crate) fn parse_long(s: &str) -> Result<i64, String> {
    parse_long_str(s).ok_or_else(|| format!("For input string: \"{s}\""))
}

fn parse_long_str(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let (neg, digits) = match b.first()? {
        b'-' => (true, &b[1..]),
        b'+' => (false, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: i64 = 0;
    for d in digits {
        let d = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// Java's `Double.parseDouble` (decimal forms, `NaN`, `Infinity`, a trailing `d`/`f`).
pub(crate) fn parse_double(s: &str) -> Result<f64, String> {
    let err = || format!("For input string: \"{s}\"");
    let t = decimal::java_trim(s);
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    if body == "NaN" {
        return Ok(f64::NAN);
    }
    if body == "Infinity" {
        return Ok(sign * f64::INFINITY);
    }
    let body = body.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(body);
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.bytes().any(|c| c.is_ascii_digit());
    if !ok {
        return Err(err());
    }
    body.parse::<f64>().map(|v| sign * v).map_err(|_| err())
}

/// ksqlDB's `SqlBooleans.parseBoolean`: true for a prefix of `true` or `yes`
/// (case-insensitive), false otherwise.
pub(crate) fn parse_boolean_lenient(s: &str) -> bool {
    boolean_matches(s, true)
}

/// ksqlDB's `SqlBooleans.parseBooleanExact`: prefixes of `true`/`yes` or `false`/`no`.
pub(crate) fn parse_boolean_exact(s: &str) -> Option<bool> {
    if boolean_matches(s, true) {
        Some(true)
    } else if boolean_matches(s, false) {
        Some(false)
    } else {
        None
    }
}

fn boolean_matches(s: &str, want: bool) -> bool {
    if s.is_empty() {
        return false;
    }
    let (tf, yn) = if want {
        ("true", "yes")
    } else {
        ("false", "no")
    };
    let prefix_of = |word: &str| {
        let n = s.chars().count();
        n <= word.len() && word[..n].eq_ignore_ascii_case(s)
    };
    prefix_of(tf) || prefix_of(yn)
}

/// Decodes standard base64 (padding optional), as Java's basic decoder.
pub(crate) fn decode_base64(s: &str) -> Result<Bytes, String> {
    base64::engine::general_purpose::STANDARD_PAD_INDIFFERENT
        .decode(s)
        .map(Bytes::from)
        .map_err(|e| format!("Illegal base64 character: {e}"))
}

/// ksqlDB's cast to STRING of one value.
pub(crate) fn to_string(v: &Value) -> Result<Option<String>, String> {
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Boolean(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Bigint(i) => i.to_string(),
        Value::Double(d) => javafmt::double_to_string(*d),
        Value::Decimal(d) => decimal::to_plain_string(d),
        Value::String(s) => s.clone(),
        Value::Timestamp(ms) => temporal::format_timestamp(*ms),
        Value::Date(d) => temporal::format_date(*d),
        Value::Time(ms) => temporal::format_time(*ms)?,
        Value::Array(_) | Value::Map(_) | Value::Struct(_) => {
            let mut s = String::new();
            javafmt::java_string(v, &mut s);
            s
        }
        Value::Bytes(_) => return Err(bad(v, &SqlType::String)),
    }))
}

fn to_decimal(v: &Value, p: u8, s: u8) -> Result<BigDecimal, String> {
    match v {
        Value::Int(i) => decimal::cast_long(i64::from(*i), p, s),
        Value::Bigint(i) => decimal::cast_long(*i, p, s),
        Value::Double(d) => decimal::cast_double(*d, p, s),
        Value::Decimal(d) => decimal::cast_decimal(d, p, s),
        Value::String(t) => decimal::cast_string(t, p, s),
        _ => Err(bad(v, &SqlType::Decimal(p, s))),
    }
}

/// `CAST(v AS to)`, driven by the value's own kind (for collections, each element's).
pub(crate) fn cast_value(v: &Value, to: &SqlType) -> Result<Value, String> {
    use SqlType as T;
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match to {
        T::Boolean => match v {
            Value::Boolean(b) => Value::Boolean(*b),
            Value::String(s) => Value::Boolean(parse_boolean_lenient(decimal::java_trim(s))),
            _ => return Err(bad(v, to)),
        },
        T::Int => match v {
            Value::Int(i) => Value::Int(*i),
            Value::Bigint(i) => Value::Int(*i as i32),
            Value::Double(d) => Value::Int(*d as i32),
            Value::Decimal(d) => Value::Int(decimal::to_long_wrapping(d) as i32),
            Value::String(s) => Value::Int(parse_int(decimal::java_trim(s))?),
            _ => return Err(bad(v, to)),
        },
        T::Bigint => match v {
            Value::Int(i) => Value::Bigint(i64::from(*i)),
            Value::Bigint(i) => Value::Bigint(*i),
            Value::Double(d) => Value::Bigint(*d as i64),
            Value::Decimal(d) => Value::Bigint(decimal::to_long_wrapping(d)),
            Value::String(s) => Value::Bigint(parse_long(decimal::java_trim(s))?),
            _ => return Err(bad(v, to)),
        },
        T::Double => match v {
            Value::Int(i) => Value::Double(f64::from(*i)),
            Value::Bigint(i) => Value::Double(*i as f64),
            Value::Double(d) => Value::Double(*d),
            Value::Decimal(d) => Value::Double(decimal::to_f64(d)),
            Value::String(s) => Value::Double(parse_double(s)?),
            _ => return Err(bad(v, to)),
        },
        T::Decimal(p, s) => Value::Decimal(to_decimal(v, *p, *s)?),
        T::String => match to_string(v)? {
            Some(s) => Value::String(s),
            None => Value::Null,
        },
        T::Bytes => match v {
            Value::Bytes(b) => Value::Bytes(b.clone()),
            Value::String(s) => Value::Bytes(decode_base64(decimal::java_trim(s))?),
            _ => return Err(bad(v, to)),
        },
        T::Timestamp => match v {
            Value::Timestamp(ms) => Value::Timestamp(*ms),
            Value::Date(d) => Value::Timestamp(temporal::date_to_timestamp(*d)),
            Value::String(s) => Value::Timestamp(temporal::parse_timestamp(decimal::java_trim(s))?),
            _ => return Err(bad(v, to)),
        },
        T::Date => match v {
            Value::Date(d) => Value::Date(*d),
            Value::Timestamp(ms) => Value::Date(temporal::timestamp_to_date(*ms)?),
            Value::String(s) => Value::Date(temporal::parse_date(decimal::java_trim(s))?),
            _ => return Err(bad(v, to)),
        },
        T::Time => match v {
            Value::Time(ms) => Value::Time(*ms),
            Value::Timestamp(ms) => Value::Time(temporal::timestamp_to_time(*ms)),
            Value::String(s) => Value::Time(temporal::parse_time(decimal::java_trim(s))?),
            _ => return Err(bad(v, to)),
        },
        T::Array(elem) => match v {
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| cast_value(i, elem))
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(bad(v, to)),
        },
        T::Map(kt, vt) => match v {
            Value::Map(entries) => {
                let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
                for (k, val) in entries {
                    let k = cast_value(k, kt)?;
                    let val = cast_value(val, vt)?;
                    match out.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(e) => e.1 = val,
                        None => out.push((k, val)),
                    }
                }
                Value::Map(out)
            }
            _ => return Err(bad(v, to)),
        },
        T::Struct(fields) => match v {
            Value::Struct(src) => Value::Struct(
                fields
                    .iter()
                    .map(|(name, t)| {
                        let value = match src.iter().find(|(n, _)| n == name) {
                            Some((_, fv)) => cast_value(fv, t)?,
                            None => Value::Null,
                        };
                        Ok((name.clone(), value))
                    })
                    .collect::<Result<_, String>>()?,
            ),
            _ => return Err(bad(v, to)),
        },
    })
}
