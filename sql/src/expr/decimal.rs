//! DECIMAL values with the rules of Java's `BigDecimal` as ksqlDB uses it: precision and
//! scale of literals, casts (`DecimalUtil.cast`, rounding HALF_UP after an overflow check),
//! exact arithmetic (`MathContext(precision, UNNECESSARY)`, then `setScale(scale)`), and the
//! Java renderings `toString` / `toPlainString`.

use std::cmp::Ordering;

use bigdecimal::num_bigint::{BigInt, Sign};
use bigdecimal::num_traits::{ToPrimitive, Zero};
use bigdecimal::BigDecimal;

use crate::types::SqlType;

/// `10^n` as a big integer.
pub(crate) fn pow10(n: u64) -> BigInt {
    let exp = u32::try_from(n).unwrap_or(u32::MAX);
    BigInt::from(10u32).pow(exp)
}

/// The number of decimal digits of `|i|` (1 for zero), as Java's `BigDecimal.precision()`.
pub(crate) fn digit_count(i: &BigInt) -> u64 {
    if i.is_zero() {
        return 1;
    }
    i.magnitude().to_string().len() as u64
}

/// Java's `precision()` of a decimal.
pub(crate) fn precision(d: &BigDecimal) -> u64 {
    let (i, _) = d.as_bigint_and_exponent();
    digit_count(&i)
}

/// Java's `scale()` of a decimal.
pub(crate) fn scale(d: &BigDecimal) -> i64 {
    d.as_bigint_and_exponent().1
}

/// Divides with truncation toward zero, returning quotient and remainder.
fn div_rem(a: &BigInt, b: &BigInt) -> (BigInt, BigInt) {
    (a / b, a % b)
}

/// `setScale(new_scale, HALF_UP)`.
pub(crate) fn set_scale_half_up(d: &BigDecimal, new_scale: i64) -> BigDecimal {
    let (int, sc) = d.as_bigint_and_exponent();
    match new_scale.cmp(&sc) {
        Ordering::Equal => d.clone(),
        Ordering::Greater => BigDecimal::new(int * pow10(new_scale.abs_diff(sc)), new_scale),
        Ordering::Less => {
            let div = pow10(sc.abs_diff(new_scale));
            let (q, r) = div_rem(&int, &div);
            let twice: BigInt = r.magnitude().clone().into();
            let twice = twice * 2u32;
            let divisor: BigInt = div;
            let q = if twice >= divisor {
                match int.sign() {
                    Sign::Minus => q - 1,
                    _ => q + 1,
                }
            } else {
                q
            };
            BigDecimal::new(q, new_scale)
        }
    }
}

/// `setScale(new_scale, UNNECESSARY)`: `None` when digits would be lost.
pub(crate) fn set_scale_exact(d: &BigDecimal, new_scale: i64) -> Option<BigDecimal> {
    let (int, sc) = d.as_bigint_and_exponent();
    match new_scale.cmp(&sc) {
        Ordering::Equal => Some(d.clone()),
        Ordering::Greater => Some(BigDecimal::new(
            int * pow10(new_scale.abs_diff(sc)),
            new_scale,
        )),
        Ordering::Less => {
            let div = pow10(sc.abs_diff(new_scale));
            let (q, r) = div_rem(&int, &div);
            if r.is_zero() {
                Some(BigDecimal::new(q, new_scale))
            } else {
                None
            }
        }
    }
}

/// Rounds to `prec` significant digits, HALF_UP (Java's `new MathContext(prec)`).
pub(crate) fn round_to_precision(d: &BigDecimal, prec: u64) -> BigDecimal {
    let digits = precision(d);
    if digits <= prec {
        return d.clone();
    }
    let sc = scale(d);
    let drop = i64::try_from(digits - prec).unwrap_or(i64::MAX);
    let r = set_scale_half_up(d, sc.saturating_sub(drop));
    // Rounding up may add a digit (999 -> 1000): round once more.
    if precision(&r) > prec {
        let sc2 = scale(&r);
        return set_scale_half_up(&r, sc2 - 1);
    }
    r
}

/// The number of significant digits once trailing zeros are removed.
fn stripped_precision(d: &BigDecimal) -> u64 {
    let (mut int, _) = d.as_bigint_and_exponent();
    if int.is_zero() {
        return 1;
    }
    let ten = BigInt::from(10u32);
    loop {
        let (q, r) = div_rem(&int, &ten);
        if !r.is_zero() {
            break;
        }
        int = q;
    }
    digit_count(&int)
}

/// The smallest scale at which `d` is exact (may be negative).
fn stripped_scale(d: &BigDecimal) -> i64 {
    let (mut int, mut sc) = d.as_bigint_and_exponent();
    if int.is_zero() {
        return 0;
    }
    let ten = BigInt::from(10u32);
    loop {
        let (q, r) = div_rem(&int, &ten);
        if !r.is_zero() {
            break;
        }
        int = q;
        sc -= 1;
    }
    sc
}

/// ksqlDB's `DecimalUtil.ensureMax`: the value must be below `10^(precision - scale)`.
pub(crate) fn ensure_max(d: &BigDecimal, p: u8, s: u8) -> Result<(), String> {
    let digits = i64::from(p) - i64::from(s);
    let max = if digits >= 0 {
        BigDecimal::new(pow10(digits.unsigned_abs()), 0)
    } else {
        BigDecimal::new(BigInt::from(1), digits.abs())
    };
    if d.abs() >= max {
        return Err(format!(
            "Numeric field overflow: A field with precision {p} and scale {s} must round to \
             an absolute value less than 10^{digits}. Got {}",
            to_plain_string(d)
        ));
    }
    Ok(())
}

/// `DecimalUtil.cast(BigDecimal, p, s)`.
pub(crate) fn cast_decimal(d: &BigDecimal, p: u8, s: u8) -> Result<BigDecimal, String> {
    if precision(d) == u64::from(p) && scale(d) == i64::from(s) {
        return Ok(d.clone());
    }
    ensure_max(d, p, s)?;
    Ok(set_scale_half_up(d, i64::from(s)))
}

/// `DecimalUtil.cast(long, p, s)`.
pub(crate) fn cast_long(v: i64, p: u8, s: u8) -> Result<BigDecimal, String> {
    let d = BigDecimal::from(v);
    ensure_max(&d, p, s)?;
    Ok(set_scale_half_up(&d, i64::from(s)))
}

/// `DecimalUtil.cast(double, p, s)`: the exact binary value rounded to `p` digits, checked,
/// then rounded HALF_UP to the scale.
pub(crate) fn cast_double(v: f64, p: u8, s: u8) -> Result<BigDecimal, String> {
    let exact = exact_from_f64(v).ok_or_else(|| format!("Cannot convert {v} to DECIMAL"))?;
    let rounded = round_to_precision(&exact, u64::from(p));
    ensure_max(&rounded, p, s)?;
    Ok(set_scale_half_up(&rounded, i64::from(s)))
}

/// `DecimalUtil.cast(String, p, s)`.
pub(crate) fn cast_string(v: &str, p: u8, s: u8) -> Result<BigDecimal, String> {
    let d = parse_java_decimal(java_trim(v)).ok_or_else(|| format!("Invalid decimal: '{v}'"))?;
    ensure_max(&d, p, s)?;
    Ok(set_scale_half_up(&d, i64::from(s)))
}

/// `DecimalUtil.ensureFit`: fits exactly (no rounding) or fails.
pub(crate) fn ensure_fit(d: &BigDecimal, p: u8, s: u8) -> Option<BigDecimal> {
    ensure_max(d, p, s).ok()?;
    set_scale_exact(d, i64::from(s))
}

/// The exact value of a finite double (Java's `new BigDecimal(double)`).
pub(crate) fn exact_from_f64(v: f64) -> Option<BigDecimal> {
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        return Some(BigDecimal::new(BigInt::zero(), 0));
    }
    let bits = v.to_bits();
    let negative = bits >> 63 == 1;
    let exp_bits = ((bits >> 52) & 0x7ff) as i64;
    let frac = bits & ((1u64 << 52) - 1);
    let (mut mantissa, mut exp) = if exp_bits == 0 {
        (frac, -1074i64)
    } else {
        (frac | (1u64 << 52), exp_bits - 1075)
    };
    while mantissa & 1 == 0 && exp < 0 {
        mantissa >>= 1;
        exp += 1;
    }
    let m = BigInt::from(mantissa);
    let (int, sc) = if exp >= 0 {
        (m << exp as usize, 0)
    } else {
        let k = exp.unsigned_abs();
        let five = BigInt::from(5u32).pow(u32::try_from(k).unwrap_or(u32::MAX));
        (m * five, exp.abs())
    };
    let int = if negative { -int } else { int };
    Some(BigDecimal::new(int, sc))
}

/// Java's `BigDecimal.valueOf(double)`: the decimal of `Double.toString`.
pub(crate) fn value_of_f64(v: f64) -> Option<BigDecimal> {
    if !v.is_finite() {
        return None;
    }
    parse_java_decimal(&super::javafmt::double_to_string(v))
}

/// Java's `BigDecimal.doubleValue()` (correctly rounded).
pub(crate) fn to_f64(d: &BigDecimal) -> f64 {
    to_plain_string(d).parse::<f64>().unwrap_or(f64::NAN)
}

/// The low 64 bits of the integer part (Java's `longValue()`: truncation, then wrapping).
pub(crate) fn to_long_wrapping(d: &BigDecimal) -> i64 {
    let (int, sc) = d.as_bigint_and_exponent();
    let truncated = if sc > 0 {
        int / pow10(sc.unsigned_abs())
    } else if sc < 0 {
        int * pow10(sc.unsigned_abs())
    } else {
        int
    };
    if let Some(v) = truncated.to_i64() {
        return v;
    }
    let low = truncated.magnitude().iter_u64_digits().next().unwrap_or(0);
    match truncated.sign() {
        Sign::Minus => (low as i64).wrapping_neg(),
        _ => low as i64,
    }
}

/// Java's `String.trim()`: strips characters up to U+0020 at both ends.
pub(crate) fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Parses Java's `new BigDecimal(String)` syntax: `[+-]digits[.digits][(e|E)[+-]digits]`,
/// with at least one digit in the mantissa.
pub(crate) fn parse_java_decimal(s: &str) -> Option<BigDecimal> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut negative = false;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        negative = b[i] == b'-';
        i += 1;
    }
    let mut digits = String::new();
    let mut frac_len: i64 = 0;
    let mut seen_point = false;
    while i < b.len() {
        match b[i] {
            c @ b'0'..=b'9' => {
                digits.push(c as char);
                if seen_point {
                    frac_len += 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            _ => break,
        }
        i += 1;
    }
    if digits.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if i < b.len() {
        if b[i] != b'e' && b[i] != b'E' {
            return None;
        }
        i += 1;
        let mut exp_neg = false;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            exp_neg = b[i] == b'-';
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i || i != b.len() {
            return None;
        }
        let e: i64 = s.get(start..i)?.parse().ok()?;
        if e > 1_000_000_000 {
            return None;
        }
        exp = if exp_neg { -e } else { e };
    }
    let int: BigInt = digits.parse().ok()?;
    let int = if negative { -int } else { int };
    Some(BigDecimal::new(int, frac_len - exp))
}

/// ksqlDB's `DecimalUtil.fromValue`: the DECIMAL type of a literal value.
pub(crate) fn type_of_value(d: &BigDecimal) -> (u64, u64) {
    let d = if scale(d) < 0 {
        set_scale_half_up(d, 0)
    } else {
        d.clone()
    };
    let one = BigDecimal::from(1);
    let s = scale(&d).max(0) as u64;
    if d < one && d > -one {
        return (s + 1, s);
    }
    (precision(&d), s)
}

/// Java's `toPlainString()`.
pub(crate) fn to_plain_string(d: &BigDecimal) -> String {
    let (int, sc) = d.as_bigint_and_exponent();
    let negative = int.sign() == Sign::Minus;
    let digits = int.magnitude().to_string();
    let mut out = String::with_capacity(digits.len() + 4);
    if negative {
        out.push('-');
    }
    if sc <= 0 {
        out.push_str(&digits);
        if !int.is_zero() || sc < 0 {
            for _ in 0..sc.unsigned_abs() {
                out.push('0');
            }
        }
        return out;
    }
    let sc = sc as usize;
    if digits.len() > sc {
        let (a, b) = digits.split_at(digits.len() - sc);
        out.push_str(a);
        out.push('.');
        out.push_str(b);
    } else {
        out.push_str("0.");
        for _ in 0..(sc - digits.len()) {
            out.push('0');
        }
        out.push_str(&digits);
    }
    out
}

/// Java's `BigDecimal.toString()` (scientific notation for small or negative-scale values).
pub(crate) fn to_java_string(d: &BigDecimal) -> String {
    let (int, sc) = d.as_bigint_and_exponent();
    let digits = int.magnitude().to_string();
    let adjusted = -sc + (digits.len() as i64 - 1);
    if sc >= 0 && adjusted >= -6 {
        return to_plain_string(d);
    }
    let mut out = String::new();
    if int.sign() == Sign::Minus {
        out.push('-');
    }
    let (first, rest) = digits.split_at(1);
    out.push_str(first);
    if !rest.is_empty() {
        out.push('.');
        out.push_str(rest);
    }
    out.push('E');
    if adjusted >= 0 {
        out.push('+');
    }
    out.push_str(&adjusted.to_string());
    out
}

/// The arithmetic operators on decimals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

/// `a op b` computed exactly, then fitted to `DECIMAL(p, s)` without rounding, as ksqlDB's
/// generated code does (`op(b, new MathContext(p, UNNECESSARY)).setScale(s)`): a result
/// that needs rounding is an error (and so NULL), as in ksqlDB.
pub(crate) fn arith(
    op: DecOp,
    a: &BigDecimal,
    b: &BigDecimal,
    p: u8,
    s: u8,
) -> Result<BigDecimal, String> {
    let exact = match op {
        DecOp::Add => a + b,
        DecOp::Sub => a - b,
        DecOp::Mul => a * b,
        DecOp::Div => return divide(a, b, p, s),
        DecOp::Rem => remainder(a, b, p)?,
    };
    fit_exact(&exact, p, s)
}

fn fit_exact(exact: &BigDecimal, p: u8, s: u8) -> Result<BigDecimal, String> {
    if stripped_precision(exact) > u64::from(p) {
        return Err("Rounding necessary".into());
    }
    if stripped_scale(exact) > i64::from(s) {
        return Err("Rounding necessary".into());
    }
    set_scale_exact(exact, i64::from(s)).ok_or_else(|| "Rounding necessary".to_string())
}

fn divide(a: &BigDecimal, b: &BigDecimal, p: u8, s: u8) -> Result<BigDecimal, String> {
    let (ia, sa) = a.as_bigint_and_exponent();
    let (ib, sb) = b.as_bigint_and_exponent();
    if ib.is_zero() {
        return Err(if ia.is_zero() {
            "Division undefined".into()
        } else {
            "Division by zero".into()
        });
    }
    // q * 10^s = ia * 10^(sb + s - sa) / ib
    let e = sb + i64::from(s) - sa;
    let (num, den) = if e >= 0 {
        (ia * pow10(e.unsigned_abs()), ib)
    } else {
        (ia, ib * pow10(e.unsigned_abs()))
    };
    let (q, r) = div_rem(&num, &den);
    if !r.is_zero() {
        return Err(
            "Non-terminating decimal expansion; no exact representable decimal result.".into(),
        );
    }
    let result = BigDecimal::new(q, i64::from(s));
    if stripped_precision(&result) > u64::from(p) {
        return Err("Rounding necessary".into());
    }
    Ok(result)
}

fn remainder(a: &BigDecimal, b: &BigDecimal, p: u8) -> Result<BigDecimal, String> {
    let (ib, _) = b.as_bigint_and_exponent();
    if ib.is_zero() {
        return Err("Division by zero".into());
    }
    // Integral quotient, truncated.
    let sc = scale(a).max(scale(b));
    let ia = set_scale_exact(a, sc).ok_or("Rounding necessary")?;
    let ib = set_scale_exact(b, sc).ok_or("Rounding necessary")?;
    let (na, _) = ia.as_bigint_and_exponent();
    let (nb, _) = ib.as_bigint_and_exponent();
    let (q, r) = div_rem(&na, &nb);
    if !q.is_zero() && digit_count(&q) > u64::from(p) {
        return Err("Division impossible".into());
    }
    Ok(BigDecimal::new(r, sc))
}

/// Negation checked against the type's precision (`negate(new MathContext(p, UNNECESSARY))`).
pub(crate) fn negate(d: &BigDecimal, p: u8) -> Result<BigDecimal, String> {
    if stripped_precision(d) > u64::from(p) {
        return Err("Rounding necessary".into());
    }
    Ok(-d)
}

/// ksqlDB's `DecimalUtil.toSqlDecimal`: INT is DECIMAL(10, 0), BIGINT DECIMAL(19, 0).
pub(crate) fn as_decimal_type(t: &SqlType) -> Option<(u64, u64)> {
    t.as_decimal().map(|(p, s)| (u64::from(p), u64::from(s)))
}

/// `DecimalUtil.widen`: a decimal type holding both.
pub(crate) fn widen(a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
    let whole = (a.0.saturating_sub(a.1)).max(b.0.saturating_sub(b.1));
    let scale = a.1.max(b.1);
    (whole + scale, scale)
}

/// The result type of a decimal operation (ksqlDB's `SqlDecimal` rules).
pub(crate) fn result_type(op: DecOp, l: (u64, u64), r: (u64, u64)) -> (u64, u64) {
    let (lp, ls) = l;
    let (rp, rs) = r;
    match op {
        DecOp::Add | DecOp::Sub => {
            let scale = ls.max(rs);
            let precision = scale + (lp.saturating_sub(ls)).max(rp.saturating_sub(rs)) + 1;
            (precision, scale)
        }
        DecOp::Mul => (lp + rp + 1, ls + rs),
        DecOp::Div => {
            let scale = 6u64.max(ls + rp + 1);
            let precision = lp.saturating_sub(ls) + rs + scale;
            (precision, scale)
        }
        DecOp::Rem => {
            let scale = ls.max(rs);
            let precision = (lp.saturating_sub(ls)).min(rp.saturating_sub(rs)) + scale;
            (precision, scale)
        }
    }
}

/// A decimal type as `SqlType`, or `None` when precision/scale do not fit the type's bytes.
pub(crate) fn sql_decimal(t: (u64, u64)) -> Option<SqlType> {
    let p = u8::try_from(t.0).ok()?;
    let s = u8::try_from(t.1).ok()?;
    if p == 0 || s > p {
        return None;
    }
    Some(SqlType::Decimal(p, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(s: &str) -> BigDecimal {
        parse_java_decimal(s).unwrap_or_default()
    }

    #[test]
    fn parses_java_decimal_syntax() {
        assert_eq!(parse_java_decimal("1.20").map(|d| scale(&d)), Some(2));
        assert_eq!(parse_java_decimal("-.5"), Some(dec("-0.5")));
        assert_eq!(parse_java_decimal("5."), Some(dec("5")));
        assert_eq!(parse_java_decimal("+2e1").map(|d| scale(&d)), Some(-1));
        assert_eq!(parse_java_decimal("1E-3"), Some(dec("0.001")));
        for bad in ["", ".", "abc", "1.2.3", "1e", "1 2", "--1", "1e+"] {
            assert_eq!(parse_java_decimal(bad), None, "{bad}");
        }
    }

    #[test]
    fn renders_as_java() {
        assert_eq!(to_plain_string(&dec("0.00")), "0.00");
        assert_eq!(to_plain_string(&dec("-0.001")), "-0.001");
        assert_eq!(to_plain_string(&dec("2e2")), "200");
        assert_eq!(to_java_string(&dec("1.20")), "1.20");
        assert_eq!(to_java_string(&dec("0.0000001")), "1E-7");
        assert_eq!(to_java_string(&dec("2e2")), "2E+2");
        assert_eq!(to_java_string(&dec("-123e-10")), "-1.23E-8");
    }

    #[test]
    fn literal_types_follow_ksqldb() {
        assert_eq!(type_of_value(&dec("1.20")), (3, 2));
        assert_eq!(type_of_value(&dec("0.005")), (4, 3));
        assert_eq!(type_of_value(&dec("0.8")), (2, 1));
        assert_eq!(type_of_value(&dec("00.00")), (3, 2));
        assert_eq!(type_of_value(&dec("123")), (3, 0));
        assert_eq!(type_of_value(&dec("2e1")), (2, 0));
    }

    #[test]
    fn exact_doubles_and_rounding() {
        assert_eq!(exact_from_f64(0.5), Some(dec("0.5")));
        assert_eq!(exact_from_f64(2.0), Some(dec("2")));
        assert_eq!(
            exact_from_f64(0.1).map(|d| to_plain_string(&d)),
            Some("0.1000000000000000055511151231257827021181583404541015625".into())
        );
        assert_eq!(exact_from_f64(f64::NAN), None);
        assert_eq!(round_to_precision(&dec("999.5"), 3), dec("1.00E+3"));
        assert_eq!(set_scale_half_up(&dec("-2.5"), 0), dec("-3"));
        assert_eq!(set_scale_half_up(&dec("2.449"), 1), dec("2.4"));
        assert_eq!(set_scale_exact(&dec("2.50"), 1), Some(dec("2.5")));
        assert_eq!(set_scale_exact(&dec("2.55"), 1), None);
        assert_eq!(to_long_wrapping(&dec("-10.9")), -10);
        assert_eq!(to_long_wrapping(&dec("18446744073709551617")), 1);
        assert_eq!(value_of_f64(0.1), Some(dec("0.1")));
    }

    #[test]
    fn arithmetic_is_exact() {
        assert_eq!(
            arith(DecOp::Add, &dec("1.5"), &dec("2.25"), 4, 2),
            Ok(dec("3.75"))
        );
        assert_eq!(
            arith(DecOp::Div, &dec("1"), &dec("8"), 10, 6),
            Ok(dec("0.125000"))
        );
        assert!(arith(DecOp::Div, &dec("1"), &dec("3"), 10, 6).is_err());
        assert!(arith(DecOp::Div, &dec("1"), &dec("0"), 10, 6).is_err());
        assert!(arith(DecOp::Mul, &dec("99"), &dec("99"), 3, 0).is_err());
        assert_eq!(
            arith(DecOp::Rem, &dec("-7.5"), &dec("2"), 3, 1),
            Ok(dec("-1.5"))
        );
        assert_eq!(
            result_type(DecOp::Add, (4, 2), (10, 0)),
            (13, 2),
            "scale 2 + 10 integer digits + 1"
        );
        assert_eq!(widen((10, 0), (4, 2)), (12, 2));
    }
}
