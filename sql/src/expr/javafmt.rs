//! Java's renderings of values, which ksqlDB's `CAST(x AS STRING)` exposes: `Double.toString`,
//! `List.toString` (`[1, 2]`), `Map.toString` (`{k=v}`) and Kafka Connect's
//! `Struct.toString` (`Struct{A=1,B=x}`, NULL fields left out).

use std::fmt::Write;

use super::{decimal, temporal};
use crate::value::Value;

/// Java's `Double.toString(d)`: the shortest digits that round-trip, in plain notation for
/// `1e-3 <= |d| < 1e7` (always with a fraction digit) and `d.dddE±n` otherwise.
pub(crate) fn double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let (negative, mut digits, mut exp) = shortest_digits(d);
    if digits.len() == 1 {
        // Java prints at least two significant digits, the two closest to the exact
        // value (4.9E-324, not 5.0E-324).
        let (_, two, e2) = rounded_digits(d, 1);
        digits = two;
        exp = e2;
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    let abs = d.abs();
    if (1e-3..1e7).contains(&abs) {
        // value = 0.d1d2d3... * 10^(exp + 1)
        let point = exp + 1; // digits before the decimal point
        if point <= 0 {
            out.push_str("0.");
            for _ in 0..point.unsigned_abs() {
                out.push('0');
            }
            out.push_str(&digits);
        } else {
            let point = point as usize;
            if digits.len() > point {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            } else {
                out.push_str(&digits);
                for _ in digits.len()..point {
                    out.push('0');
                }
                out.push_str(".0");
            }
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            out.push_str(&digits[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        let _ = write!(out, "{exp}");
    }
    out
}

/// The digits of `d` correctly rounded to `1 + frac` significant digits, trailing zeros
/// removed (at least one digit kept), and the exponent of the first digit.
fn rounded_digits(d: f64, frac: usize) -> (bool, String, i64) {
    let s = format!("{:.*e}", frac, d.abs());
    split_exp(&s, d)
}

/// The shortest round-trip digits of `d` (no leading or trailing zeros) and the decimal
/// exponent of the first digit: `d = d1.d2d3... * 10^exp`.
pub(crate) fn shortest_digits(d: f64) -> (bool, String, i64) {
    let s = format!("{:e}", d.abs());
    split_exp(&s, d)
}

fn split_exp(s: &str, d: f64) -> (bool, String, i64) {
    let (mantissa, exp) = match s.split_once('e') {
        Some((m, e)) => (m, e.parse::<i64>().unwrap_or(0)),
        None => (s, 0),
    };
    let digits: String = mantissa.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    (d.is_sign_negative(), digits.to_string(), exp)
}

/// Java's `toString()` of a value as it sits inside a collection (ksqlDB casts a
/// collection to STRING with `String.valueOf(list)`).
pub(crate) fn java_string(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Bigint(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Double(d) => out.push_str(&double_to_string(*d)),
        Value::Decimal(d) => out.push_str(&decimal::to_java_string(d)),
        Value::String(s) => out.push_str(s),
        Value::Bytes(b) => {
            let _ = write!(
                out,
                "java.nio.HeapByteBuffer[pos=0 lim={} cap={}]",
                b.len(),
                b.len()
            );
        }
        Value::Timestamp(ms) => out.push_str(&temporal::sql_timestamp_to_string(*ms)),
        Value::Date(d) => out.push_str(&temporal::format_date(*d)),
        Value::Time(ms) => out.push_str(&temporal::sql_time_to_string(*ms)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_string(item, out);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            out.push('{');
            for (i, (k, val)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                java_string(k, out);
                out.push('=');
                java_string(val, out);
            }
            out.push('}');
        }
        Value::Struct(fields) => {
            out.push_str("Struct{");
            let mut first = true;
            for (name, val) in fields {
                if val.is_null() {
                    continue;
                }
                if !first {
                    out.push(',');
                }
                first = false;
                out.push_str(name);
                out.push('=');
                java_string(val, out);
            }
            out.push('}');
        }
    }
}

/// ICU's scientific rendering of a double literal that ksqlDB's expression formatter uses
/// (`1.5E3`, `1E0`).
pub(crate) fn double_literal_to_string(d: f64) -> String {
    if !d.is_finite() {
        return double_to_string(d);
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0E0".into()
        } else {
            "0E0".into()
        };
    }
    let (negative, digits, exp) = shortest_digits(d);
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    let _ = write!(out, "E{exp}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        let cases = [
            (10.3, "10.3"),
            (1.0, "1.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (123456.789, "123456.789"),
            (-2.5, "-2.5"),
            (4.9e-324, "4.9E-324"),
            (1.7976931348623157e308, "1.7976931348623157E308"),
            (100.0, "100.0"),
            (0.1 + 0.2, "0.30000000000000004"),
        ];
        for (d, s) in cases {
            assert_eq!(double_to_string(d), s, "{d}");
        }
        assert_eq!(double_to_string(f64::NAN), "NaN");
        assert_eq!(double_to_string(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(double_to_string(-0.0), "-0.0");
    }

    #[test]
    fn collections_print_as_java_does() {
        let v = Value::Array(vec![Value::Int(1), Value::Null, Value::String("a".into())]);
        let mut s = String::new();
        java_string(&v, &mut s);
        assert_eq!(s, "[1, null, a]");
        let v = Value::Struct(vec![
            ("F0".into(), Value::Int(1)),
            ("X".into(), Value::Null),
            ("f1".into(), Value::Int(3)),
        ]);
        let mut s = String::new();
        java_string(&v, &mut s);
        assert_eq!(s, "Struct{F0=1,f1=3}");
        let v = Value::Map(vec![(Value::String("this".into()), Value::Int(1))]);
        let mut s = String::new();
        java_string(&v, &mut s);
        assert_eq!(s, "{this=1}");
    }

    #[test]
    fn double_literals_format_in_scientific_notation() {
        assert_eq!(double_literal_to_string(1500.0), "1.5E3");
        assert_eq!(double_literal_to_string(1.0), "1E0");
        assert_eq!(double_literal_to_string(0.1), "1E-1");
    }
}
