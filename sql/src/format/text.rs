//! Text conversions shared by the formats, with the rules of the Java library calls ksqlDB
//! makes (`Integer.parseInt`, `Double.parseDouble`, `new BigDecimal(String)`,
//! `Double.toString`, `BigDecimal.toString`, `java.util.Base64`), so that Brook reads and
//! writes the same text ksqlDB does. Nothing here panics on any input.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine};
use bigdecimal::num_bigint::BigInt;
use bigdecimal::BigDecimal;

use crate::types::SqlType;

/// The most milliseconds a TIME may hold (Kafka Connect's `Time` accepts `0..=86400000`).
pub(crate) const MAX_TIME_MILLIS: i64 = 86_400_000;

/// The message ksqlDB gives for a TIME outside a day.
pub(crate) const TIME_RANGE_ERROR: &str =
    "Time values must use number of milliseconds greater than 0 and less than 86400000.";

/// Standard base64 with padding written, and read with or without padding (as
/// `java.util.Base64`'s basic decoder does).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Bytes as standard base64 text, padded.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Standard base64 text as bytes; padding is optional. The error is ksqlDB's message.
pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    BASE64
        .decode(text)
        .map_err(|_| format!("Value is not a valid Base64 encoded string: {text}"))
}

/// ksqlDB's base type name of a type (`INTEGER`, `ARRAY`, `STRUCT`, ...), as its messages
/// spell it.
pub(crate) fn base_type_name(ty: &SqlType) -> &'static str {
    match ty {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Int => "INTEGER",
        SqlType::Bigint => "BIGINT",
        SqlType::Double => "DOUBLE",
        SqlType::Decimal(..) => "DECIMAL",
        SqlType::String => "STRING",
        SqlType::Bytes => "BYTES",
        SqlType::Timestamp => "TIMESTAMP",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME",
        SqlType::Array(_) => "ARRAY",
        SqlType::Map(..) => "MAP",
        SqlType::Struct(_) => "STRUCT",
    }
}

/// `Integer.parseInt`: an optional sign and ASCII digits, in range.
pub(crate) fn parse_java_int(text: &str) -> Option<i32> {
    parse_java_long(text).and_then(|v| i32::try_from(v).ok())
}

/// `Long.parseLong`: an optional sign and ASCII digits, in range.
pub(crate) fn parse_java_long(text: &str) -> Option<i64> {
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: i64 = 0;
    for b in digits.bytes() {
        let d = i64::from(b - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(d)?
        } else {
            value.checked_add(d)?
        };
    }
    Some(value)
}

/// `Boolean.parseBoolean`: `true` in any case is true, anything else false.
pub(crate) fn parse_java_boolean(text: &str) -> bool {
    text.eq_ignore_ascii_case("true")
}

/// `Double.parseDouble`: surrounding ASCII whitespace and control characters are ignored,
/// `NaN` and `[+-]Infinity` are accepted, as is a trailing `f`/`F`/`d`/`D`. Hexadecimal
/// floating-point literals are not supported.
pub(crate) fn parse_java_double(text: &str) -> Option<f64> {
    let t = text.trim_matches(|c: char| c <= ' ');
    let (sign, body) = match t.as_bytes().first() {
        Some(b'-') => (-1.0, &t[1..]),
        Some(b'+') => (1.0, &t[1..]),
        _ => (1.0, t),
    };
    match body {
        "NaN" => return Some(f64::NAN),
        "Infinity" => return Some(sign * f64::INFINITY),
        _ => {}
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    if DecimalText::parse(body).is_none() || body.starts_with(['+', '-']) {
        return None;
    }
    body.parse::<f64>().ok().map(|v| sign * v)
}

/// `Double.toString`: the shortest digits that read back as the same double, in plain
/// notation for magnitudes in `[1e-3, 1e7)` and as `d.dddE±n` otherwise (`1.0`, `0.001`,
/// `1.0E7`, `-4.9E-324`, `NaN`, `Infinity`).
pub(crate) fn java_double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if d.is_sign_negative() { "-" } else { "" };
    if d == 0.0 {
        return format!("{sign}0.0");
    }
    let abs = d.abs();
    let (digits, exp) = sci_digits(&format!("{abs:e}"));
    if (1e-3..1e7).contains(&abs) {
        let point = exp + 1;
        if point <= 0 {
            let zeros = "0".repeat(usize::try_from(-point).unwrap_or(0));
            format!("{sign}0.{zeros}{digits}")
        } else {
            let point = usize::try_from(point).unwrap_or(0);
            if point >= digits.len() {
                let zeros = "0".repeat(point - digits.len());
                format!("{sign}{digits}{zeros}.0")
            } else {
                format!("{sign}{}.{}", &digits[..point], &digits[point..])
            }
        }
    } else {
        // Java prints at least two significant digits here (`d.d`), choosing the two-digit
        // decimal nearest the value when one digit would do (4.9E-324, not 5.0E-324).
        let (digits, exp) = if digits.len() == 1 {
            sci_digits(&format!("{abs:.1e}"))
        } else {
            (digits, exp)
        };
        let (first, rest) = digits.split_at(1.min(digits.len()));
        let rest = if rest.is_empty() { "0" } else { rest };
        format!("{sign}{first}.{rest}E{exp}")
    }
}

/// The significant digits and the decimal exponent of Rust's `{:e}` text (`1.25e-7`).
fn sci_digits(sci: &str) -> (String, i64) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exp.parse().unwrap_or(0))
}

/// A decimal number as Java's `BigDecimal` holds one: `±unscaled × 10^-scale`, read from
/// text with `new BigDecimal(String)`'s syntax (which JSON's number syntax is a subset of).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecimalText {
    pub negative: bool,
    /// ASCII digits without leading zeros; empty for zero.
    pub unscaled: String,
    pub scale: i64,
}

impl DecimalText {
    /// Parses `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`, the exponent
    /// within a Java `int`. `None` for anything else.
    pub(crate) fn parse(text: &str) -> Option<DecimalText> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if let Some(&c) = bytes.first() {
            if c == b'-' || c == b'+' {
                negative = c == b'-';
                i = 1;
            }
        }
        let int_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let int_digits = &text[int_start..i];
        let mut frac_digits = "";
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            frac_digits = &text[frac_start..i];
        }
        if int_digits.is_empty() && frac_digits.is_empty() {
            return None;
        }
        let mut exponent: i64 = 0;
        if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
            i += 1;
            let exp_start = i;
            if i < bytes.len() && (bytes[i] == b'-' || bytes[i] == b'+') {
                i += 1;
            }
            let digits_start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == digits_start {
                return None;
            }
            exponent = i64::from(text[exp_start..i].parse::<i32>().ok()?);
        }
        if i != bytes.len() {
            return None;
        }
        let all = format!("{int_digits}{frac_digits}");
        let unscaled = all.trim_start_matches('0').to_owned();
        let scale = i64::try_from(frac_digits.len()).ok()? - exponent;
        Some(DecimalText {
            negative: negative && !unscaled.is_empty(),
            unscaled,
            scale,
        })
    }

    fn is_zero(&self) -> bool {
        self.unscaled.is_empty()
    }

    fn coefficient(&self) -> &str {
        if self.unscaled.is_empty() {
            "0"
        } else {
            &self.unscaled
        }
    }

    /// `BigDecimal.toString()`: plain when the scale is not negative and the adjusted
    /// exponent is at least -6, scientific (`1E+1`, `1.5E-7`) otherwise.
    pub(crate) fn to_java_string(&self) -> String {
        let coef = self.coefficient();
        let len = i64::try_from(coef.len()).unwrap_or(i64::MAX);
        let adjusted = (len - 1).saturating_sub(self.scale);
        let sign = if self.negative { "-" } else { "" };
        if self.scale >= 0 && adjusted >= -6 {
            format!("{sign}{}", plain_digits(coef, self.scale))
        } else {
            let (first, rest) = coef.split_at(1);
            let point = if rest.is_empty() { "" } else { "." };
            let exp_sign = if adjusted >= 0 { "+" } else { "" };
            format!("{sign}{first}{point}{rest}E{exp_sign}{adjusted}")
        }
    }

    /// `BigDecimal.toPlainString()`, or the scientific form when that would be absurdly
    /// long (only used in messages).
    pub(crate) fn to_plain_string(&self) -> String {
        if self.scale.unsigned_abs() > 1000 {
            return self.to_java_string();
        }
        let sign = if self.negative { "-" } else { "" };
        if self.scale < 0 {
            let zeros = "0".repeat(usize::try_from(-self.scale).unwrap_or(0));
            if self.is_zero() {
                return "0".into();
            }
            return format!("{sign}{}{zeros}", self.coefficient());
        }
        format!("{sign}{}", plain_digits(self.coefficient(), self.scale))
    }

    /// As a double, correctly rounded (`BigDecimal.doubleValue()`).
    pub(crate) fn to_f64(&self) -> f64 {
        let sign = if self.negative { "-" } else { "" };
        let exp = self.scale.saturating_neg();
        format!("{sign}{}e{exp}", self.coefficient())
            .parse::<f64>()
            .unwrap_or(0.0)
    }

    /// Truncated toward zero and reduced to its low 64 bits, as Java's
    /// `BigDecimal.longValue()` / `BigInteger.longValue()` do (`intValue()` is the low 32 bits
    /// of this).
    pub(crate) fn to_wrapped_i64(&self) -> i64 {
        if self.is_zero() {
            return 0;
        }
        let len = i64::try_from(self.unscaled.len()).unwrap_or(i64::MAX);
        // Digits of the integer part, and how many zeros follow them.
        let (int_digits, zeros): (&str, i64) = if self.scale <= 0 {
            (&self.unscaled, -self.scale)
        } else if self.scale >= len {
            return 0;
        } else {
            let keep = usize::try_from(len - self.scale).unwrap_or(0);
            (&self.unscaled[..keep], 0)
        };
        // 10^64 is a multiple of 2^64: so many trailing zeros leave no low bits.
        if zeros >= 64 {
            return 0;
        }
        let mut acc: u64 = 0;
        for b in int_digits.bytes() {
            acc = acc.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        }
        for _ in 0..zeros {
            acc = acc.wrapping_mul(10);
        }
        let acc = acc as i64;
        if self.negative {
            acc.wrapping_neg()
        } else {
            acc
        }
    }

    /// ksqlDB's `DecimalUtil.ensureFit`: the value must be below `10^(precision - scale)`
    /// in magnitude and need no rounding at `scale`; the result has exactly that scale.
    pub(crate) fn fit(&self, precision: u8, scale: u8) -> Result<BigDecimal, String> {
        let target_scale = i64::from(scale);
        if self.is_zero() {
            return Ok(BigDecimal::new(BigInt::from(0), target_scale));
        }
        let trimmed = self.unscaled.trim_end_matches('0');
        let stripped = i64::try_from(self.unscaled.len() - trimmed.len()).unwrap_or(0);
        let value_scale = self.scale - stripped;
        let digits = i64::try_from(trimmed.len()).unwrap_or(i64::MAX);
        let integer_digits = digits - value_scale;
        let max_integer_digits = i64::from(precision) - target_scale;
        if integer_digits > max_integer_digits {
            return Err(format!(
                "Numeric field overflow: A field with precision {precision} and scale {scale} \
                 must round to an absolute value less than 10^{max_integer_digits}. Got {}",
                self.to_plain_string()
            ));
        }
        if value_scale > target_scale {
            return Err(format!(
                "Cannot fit decimal '{}' into DECIMAL({precision}, {scale}) without rounding.",
                self.to_plain_string()
            ));
        }
        // Bounded: integer_digits <= precision - scale, so this is at most `precision` zeros.
        let pad = usize::try_from(target_scale - value_scale).unwrap_or(0);
        let text = format!(
            "{}{trimmed}{}",
            if self.negative { "-" } else { "" },
            "0".repeat(pad)
        );
        let unscaled: BigInt = text
            .parse()
            .map_err(|_| format!("Invalid decimal: {}", self.to_plain_string()))?;
        Ok(BigDecimal::new(unscaled, target_scale))
    }
}

/// `coef` with a decimal point `scale` digits from the right (`scale >= 0`).
fn plain_digits(coef: &str, scale: i64) -> String {
    let scale = usize::try_from(scale).unwrap_or(0);
    if scale == 0 {
        coef.to_owned()
    } else if coef.len() > scale {
        let (i, f) = coef.split_at(coef.len() - scale);
        format!("{i}.{f}")
    } else {
        format!("0.{}{coef}", "0".repeat(scale - coef.len()))
    }
}

/// A decimal value in plain notation with at least `scale` fractional digits (zeros are
/// appended when it has fewer), as ksqlDB writes a `DECIMAL(p, scale)` column.
pub(crate) fn decimal_to_plain(value: &BigDecimal, scale: u8) -> Result<String, String> {
    let (unscaled, value_scale) = value.as_bigint_and_exponent();
    let target = i64::from(scale);
    let mut digits = unscaled.magnitude().to_string();
    let mut final_scale = value_scale;
    if value_scale < target {
        let pad = target - value_scale;
        if pad > 4096 {
            return Err(format!("decimal {value} is out of range"));
        }
        if digits != "0" {
            digits.push_str(&"0".repeat(usize::try_from(pad).unwrap_or(0)));
        }
        final_scale = target;
    }
    let sign = if unscaled.sign() == bigdecimal::num_bigint::Sign::Minus {
        "-"
    } else {
        ""
    };
    Ok(format!("{sign}{}", plain_digits(&digits, final_scale)))
}

/// Java's `Character.isWhitespace` (no non-breaking spaces).
pub(crate) fn java_is_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | '\u{1c}'..='\u{1f}'
    ) || (c.is_whitespace() && !matches!(c, '\u{85}' | '\u{a0}' | '\u{2007}' | '\u{202f}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_ints_are_strict() {
        assert_eq!(parse_java_int("42"), Some(42));
        assert_eq!(parse_java_int("+42"), Some(42));
        assert_eq!(parse_java_int("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_java_int("2147483648"), None);
        assert_eq!(parse_java_int(" 1"), None);
        assert_eq!(parse_java_int("1.0"), None);
        assert_eq!(parse_java_int("-"), None);
        assert_eq!(parse_java_int(""), None);
        assert_eq!(parse_java_long("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_java_long("9223372036854775808"), None);
    }

    #[test]
    fn java_doubles_parse_like_parse_double() {
        assert_eq!(parse_java_double(" 1.5 "), Some(1.5));
        assert_eq!(parse_java_double("1e3"), Some(1000.0));
        assert_eq!(parse_java_double("-.5"), Some(-0.5));
        assert_eq!(parse_java_double("5."), Some(5.0));
        assert_eq!(parse_java_double("2d"), Some(2.0));
        assert_eq!(parse_java_double("-Infinity"), Some(f64::NEG_INFINITY));
        assert!(parse_java_double("NaN").is_some_and(f64::is_nan));
        assert_eq!(parse_java_double("inf"), None);
        assert_eq!(parse_java_double("nan"), None);
        assert_eq!(parse_java_double("1,5"), None);
        assert_eq!(parse_java_double("--1"), None);
        assert_eq!(parse_java_double(""), None);
    }

    #[test]
    fn doubles_print_like_java() {
        assert_eq!(java_double_to_string(1.0), "1.0");
        assert_eq!(java_double_to_string(10.1), "10.1");
        assert_eq!(java_double_to_string(-654.321), "-654.321");
        assert_eq!(java_double_to_string(0.001), "0.001");
        assert_eq!(java_double_to_string(0.0001), "1.0E-4");
        assert_eq!(java_double_to_string(1e7), "1.0E7");
        assert_eq!(java_double_to_string(9999999.0), "9999999.0");
        assert_eq!(java_double_to_string(1.2345e10), "1.2345E10");
        assert_eq!(java_double_to_string(-0.0), "-0.0");
        assert_eq!(java_double_to_string(f64::NAN), "NaN");
        assert_eq!(java_double_to_string(f64::NEG_INFINITY), "-Infinity");
        assert_eq!(java_double_to_string(5e-324), "4.9E-324");
        for d in [
            0.1,
            123.456,
            1e-300,
            1.7976931348623157e308,
            22026.465794806718,
        ] {
            assert_eq!(parse_java_double(&java_double_to_string(d)), Some(d));
        }
    }

    #[test]
    fn decimal_text_follows_big_decimal() {
        let d = DecimalText::parse("42.000").unwrap();
        assert_eq!((d.unscaled.as_str(), d.scale), ("42000", 3));
        assert_eq!(d.to_java_string(), "42.000");
        assert_eq!(DecimalText::parse("1e1").unwrap().to_java_string(), "1E+1");
        assert_eq!(
            DecimalText::parse("1.5e-3").unwrap().to_java_string(),
            "0.0015"
        );
        assert_eq!(
            DecimalText::parse("1.5e-9").unwrap().to_java_string(),
            "1.5E-9"
        );
        assert_eq!(DecimalText::parse("-0").unwrap().to_java_string(), "0");
        assert_eq!(DecimalText::parse("-0.0").unwrap().to_java_string(), "0.0");
        assert_eq!(DecimalText::parse(".12").unwrap().to_plain_string(), "0.12");
        assert_eq!(DecimalText::parse("1e3").unwrap().to_plain_string(), "1000");
        assert!(DecimalText::parse("1e99999999999").is_none());
        assert!(DecimalText::parse(".").is_none());
        assert!(DecimalText::parse("1e").is_none());
        assert!(DecimalText::parse("1 ").is_none());
        assert!(DecimalText::parse("").is_none());
    }

    #[test]
    fn integral_conversion_truncates_and_wraps_like_java() {
        let v = |s: &str| DecimalText::parse(s).unwrap().to_wrapped_i64();
        assert_eq!(v("41.456"), 41);
        assert_eq!(v("-41.9"), -41);
        assert_eq!(v("0.5"), 0);
        assert_eq!(v("1e2"), 100);
        assert_eq!(v("9223372036854775808"), i64::MIN);
        assert_eq!(v("18446744073709551617"), 1);
        assert_eq!(v("1e64"), 0);
        assert_eq!(v("1e999999999"), 0);
        assert_eq!(v("1e-999999999"), 0);
        assert_eq!(v("2147483648") as i32, i32::MIN);
    }

    #[test]
    fn decimals_fit_or_fail_like_ensure_fit() {
        let fit = |s: &str, p, sc| {
            DecimalText::parse(s)
                .unwrap()
                .fit(p, sc)
                .map(|d| decimal_to_plain(&d, 0).unwrap())
        };
        assert_eq!(fit("12.0", 6, 4).unwrap(), "12.0000");
        assert_eq!(fit(".12", 33, 16).unwrap(), "0.1200000000000000");
        assert_eq!(fit("1E+1", 3, 1).unwrap(), "10.0");
        assert_eq!(fit("0e999999999", 3, 1).unwrap(), "0.0");
        assert_eq!(fit("1.50", 3, 1).unwrap(), "1.5");
        assert!(fit("1.55", 3, 1)
            .unwrap_err()
            .contains("Cannot fit decimal '1.55' into DECIMAL(3, 1) without rounding."));
        assert!(fit("100", 3, 1)
            .unwrap_err()
            .starts_with("Numeric field overflow"));
        assert!(fit("99.9", 3, 1).is_ok());
        assert!(fit("1e999999999", 3, 1).is_err());
        assert!(fit("1e-999999999", 3, 1).is_err());
    }

    #[test]
    fn decimals_print_plain_at_the_column_scale() {
        let d: BigDecimal = "1.5".parse().unwrap();
        assert_eq!(decimal_to_plain(&d, 2).unwrap(), "1.50");
        let d: BigDecimal = "-0.05".parse().unwrap();
        assert_eq!(decimal_to_plain(&d, 2).unwrap(), "-0.05");
        let d = BigDecimal::new(BigInt::from(12), -2);
        assert_eq!(decimal_to_plain(&d, 1).unwrap(), "1200.0");
        let d = BigDecimal::new(BigInt::from(0), 0);
        assert_eq!(decimal_to_plain(&d, 3).unwrap(), "0.000");
    }

    #[test]
    fn base64_matches_java() {
        assert_eq!(base64_encode(&[123]), "ew==");
        assert_eq!(base64_decode("ew==").unwrap(), vec![123]);
        assert_eq!(base64_decode("ew").unwrap(), vec![123]);
        assert_eq!(
            base64_decode("a").unwrap_err(),
            "Value is not a valid Base64 encoded string: a"
        );
    }
}
