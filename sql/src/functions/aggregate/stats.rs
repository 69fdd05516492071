//! Dispersion and correlation: STDDEV_SAMPLE, STDDEV_SAMP, STDDEV_POP, VARIANCE and
//! CORRELATION.
//!
//! The deviation functions share one accumulator, `STRUCT<SUM, COUNT BIGINT, M2 DOUBLE>`
//! (SUM a `BIGINT` for INT/BIGINT arguments, a `DOUBLE` for DOUBLE/DECIMAL ones; M2 the sum
//! of squared deviations from the mean), updated with the Youngs-Cramer recurrence as
//! ksqlDB does, so results agree with ksqlDB's to the last bit on the same inputs. Undo
//! applies the recurrence backwards; merge uses the pairwise (Chan et al.) formula.
//!
//! - STDDEV_SAMPLE: `sqrt(M2 / (n - 1))`, the sample standard deviation.
//! - STDDEV_SAMP: `M2 / (n - 1)`. ksqlDB's STDDEV_SAMP returns the sample *variance*
//!   (documented as a known bug); kept for compatibility.
//! - VARIANCE (a Brook extension): the sample variance, the same number under an honest name.
//! - STDDEV_POP (a Brook extension): `sqrt(M2 / n)`.
//!
//! All return 0.0 when there are too few values (n < 2; n < 1 for STDDEV_POP), as ksqlDB's do.
//!
//! CORRELATION(x, y): `STRUCT<X_SUM, Y_SUM, X_SQUARED_SUM, Y_SQUARED_SUM, XY_SUM DOUBLE,
//! COUNT BIGINT>`; the Pearson coefficient from the single-pass formula (NaN when it is
//! undefined, as in ksqlDB). Rows where either value is NULL are ignored.

use std::sync::Arc;

use super::common::{arg, bad_acc, field, no_match, to_f64, to_i64, Numeric, Udaf};
use crate::functions::{AggregateUdf, BoundAggregate};
use crate::types::SqlType;
use crate::value::Value;

/// What a deviation function returns from the shared accumulator.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Output {
    /// sqrt(M2 / (n - 1)).
    SampleStddev,
    /// M2 / (n - 1).
    SampleVariance,
    /// sqrt(M2 / n).
    PopulationStddev,
}

fn deviation(
    name: &'static str,
    display: &'static str,
    description: &'static str,
    signatures: &'static [&'static str],
    output: Output,
) -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        name,
        description,
        signatures,
        Arc::new(move |args| match args {
            [a] => match a.ty.as_ref().and_then(Numeric::of) {
                Some(kind) => Ok(Arc::new(Deviation {
                    integral: matches!(kind, Numeric::Int | Numeric::Bigint),
                    output,
                    name,
                }) as Arc<dyn BoundAggregate>),
                None => Err(no_match(display, args, signatures)),
            },
            _ => Err(no_match(display, args, signatures)),
        }),
    )
}

/// STDDEV_SAMPLE(col): the sample standard deviation.
pub(crate) fn stddev_sample() -> Arc<dyn AggregateUdf> {
    deviation(
        "STDDEV_SAMPLE",
        "STDDEV_SAMPLE",
        "Returns the sample standard deviation of the non-NULL values of col1; 0.0 for \
         fewer than two values. Applies to streams and tables.",
        &[
            "STDDEV_SAMPLE(col1 INTEGER) => DOUBLE",
            "STDDEV_SAMPLE(col1 BIGINT) => DOUBLE",
            "STDDEV_SAMPLE(col1 DOUBLE) => DOUBLE",
        ],
        Output::SampleStddev,
    )
}

/// STDDEV_SAMP(col): ksqlDB's function of that name, which returns the sample variance.
pub(crate) fn stddev_samp() -> Arc<dyn AggregateUdf> {
    deviation(
        "STDDEV_SAMP",
        "STDDEV_SAMP",
        "Returns the sample variance (the square of the sample standard deviation) of the \
         non-NULL values of col1, as ksqlDB's STDDEV_SAMP does; use STDDEV_SAMPLE for the \
         standard deviation. 0.0 for fewer than two values. Applies to streams and tables.",
        &[
            "STDDEV_SAMP(col1 INTEGER) => DOUBLE",
            "STDDEV_SAMP(col1 BIGINT) => DOUBLE",
            "STDDEV_SAMP(col1 DOUBLE) => DOUBLE",
        ],
        Output::SampleVariance,
    )
}

/// VARIANCE(col): the sample variance (Brook extension).
pub(crate) fn variance() -> Arc<dyn AggregateUdf> {
    deviation(
        "VARIANCE",
        "VARIANCE",
        "Returns the sample variance of the non-NULL values of col1; 0.0 for fewer than \
         two values. A Brook extension (not in ksqlDB). Applies to streams and tables.",
        &[
            "VARIANCE(col1 INTEGER) => DOUBLE",
            "VARIANCE(col1 BIGINT) => DOUBLE",
            "VARIANCE(col1 DOUBLE) => DOUBLE",
        ],
        Output::SampleVariance,
    )
}

/// STDDEV_POP(col): the population standard deviation (Brook extension).
pub(crate) fn stddev_pop() -> Arc<dyn AggregateUdf> {
    deviation(
        "STDDEV_POP",
        "STDDEV_POP",
        "Returns the population standard deviation of the non-NULL values of col1; 0.0 \
         without values. A Brook extension (not in ksqlDB). Applies to streams and tables.",
        &[
            "STDDEV_POP(col1 INTEGER) => DOUBLE",
            "STDDEV_POP(col1 BIGINT) => DOUBLE",
            "STDDEV_POP(col1 DOUBLE) => DOUBLE",
        ],
        Output::PopulationStddev,
    )
}

struct Deviation {
    /// Sums as BIGINT (INT and BIGINT arguments) rather than DOUBLE.
    integral: bool,
    output: Output,
    name: &'static str,
}

/// A decoded deviation accumulator.
#[derive(Clone, Copy, Debug)]
struct Moments {
    sum: Sum,
    count: i64,
    m2: f64,
}

#[derive(Clone, Copy, Debug)]
enum Sum {
    Int(i64),
    Double(f64),
}

impl Sum {
    fn as_f64(self) -> f64 {
        match self {
            Sum::Int(s) => s as f64,
            Sum::Double(s) => s,
        }
    }
}

/// One value being added or removed.
#[derive(Clone, Copy)]
enum Num {
    Int(i64),
    Double(f64),
}

impl Deviation {
    fn decode(&self, acc: &Value) -> Result<Moments, String> {
        let sum = match field(acc, "SUM") {
            Some(Value::Bigint(s)) if self.integral => Sum::Int(*s),
            Some(Value::Double(s)) if !self.integral => Sum::Double(*s),
            _ => return Err(bad_acc(self.name, acc)),
        };
        match (field(acc, "COUNT"), field(acc, "M2")) {
            (Some(Value::Bigint(count)), Some(Value::Double(m2))) => Ok(Moments {
                sum,
                count: *count,
                m2: *m2,
            }),
            _ => Err(bad_acc(self.name, acc)),
        }
    }

    fn encode(m: Moments) -> Value {
        let sum = match m.sum {
            Sum::Int(s) => Value::Bigint(s),
            Sum::Double(s) => Value::Double(s),
        };
        Value::Struct(vec![
            ("SUM".to_owned(), sum),
            ("COUNT".to_owned(), Value::Bigint(m.count)),
            ("M2".to_owned(), Value::Double(m.m2)),
        ])
    }

    fn num(&self, v: &Value) -> Result<Option<Num>, String> {
        if self.integral {
            Ok(to_i64(self.name, v)?.map(Num::Int))
        } else {
            Ok(to_f64(self.name, v)?.map(Num::Double))
        }
    }

    fn empty(&self) -> Moments {
        Moments {
            sum: if self.integral {
                Sum::Int(0)
            } else {
                Sum::Double(0.0)
            },
            count: 0,
            m2: 0.0,
        }
    }
}

/// `x * k - s`, exactly for integers (then rounded once to a double, as Java's long
/// arithmetic followed by a conversion is) and in doubles otherwise.
fn delta(x: Num, k: i64, sum: Sum) -> f64 {
    match (x, sum) {
        (Num::Int(x), Sum::Int(s)) => (i128::from(x) * i128::from(k) - i128::from(s)) as f64,
        (Num::Int(x), Sum::Double(s)) => x as f64 * k as f64 - s,
        (Num::Double(x), s) => x * k as f64 - s.as_f64(),
    }
}

fn plus(sum: Sum, x: Num, negate: bool) -> Sum {
    match (sum, x) {
        (Sum::Int(s), Num::Int(x)) => Sum::Int(if negate {
            s.wrapping_sub(x)
        } else {
            s.wrapping_add(x)
        }),
        (Sum::Double(s), Num::Double(x)) => Sum::Double(if negate { s - x } else { s + x }),
        (Sum::Int(s), Num::Double(x)) => {
            Sum::Double(if negate { s as f64 - x } else { s as f64 + x })
        }
        (Sum::Double(s), Num::Int(x)) => {
            Sum::Double(if negate { s - x as f64 } else { s + x as f64 })
        }
    }
}

/// `n * (n - 1)` as a double, computed exactly first.
fn pairs(n: i64) -> f64 {
    (i128::from(n) * (i128::from(n) - 1)) as f64
}

impl BoundAggregate for Deviation {
    fn return_type(&self) -> SqlType {
        SqlType::Double
    }

    fn initial(&self) -> Value {
        Deviation::encode(self.empty())
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        let Some(x) = self.num(arg(args, 0))? else {
            return Ok(acc);
        };
        let m = self.decode(&acc)?;
        let count = m.count.saturating_add(1);
        let extra = if m.count > 0 {
            // delta = x * n - (sum + x), with n the new count.
            let d = delta(x, count, plus(m.sum, x, false));
            d * d / pairs(count)
        } else {
            0.0
        };
        Ok(Deviation::encode(Moments {
            sum: plus(m.sum, x, false),
            count,
            m2: extra + m.m2,
        }))
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        let x = match self.num(arg(args, 0)) {
            Ok(Some(x)) => x,
            Ok(None) => return Some(Ok(acc)),
            Err(e) => return Some(Err(e)),
        };
        let m = match self.decode(&acc) {
            Ok(m) => m,
            Err(e) => return Some(Err(e)),
        };
        if m.count <= 1 {
            // Removing the last value (or one never added): back to empty.
            return Some(Ok(Deviation::encode(self.empty())));
        }
        // The inverse of `add`: with n the current count and S the current sum,
        // delta = x * n - S and M2 shrinks by delta^2 / (n * (n - 1)).
        let d = delta(x, m.count, m.sum);
        let m2 = if m.count == 2 {
            // One value left: no deviation (and no rounding residue).
            0.0
        } else {
            (m.m2 - d * d / pairs(m.count)).max(0.0)
        };
        Some(Ok(Deviation::encode(Moments {
            sum: plus(m.sum, x, true),
            count: m.count - 1,
            m2,
        })))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let ma = self.decode(&a)?;
        let mb = self.decode(&b)?;
        if ma.count == 0 {
            return Ok(b);
        }
        if mb.count == 0 {
            return Ok(a);
        }
        let count = ma.count.saturating_add(mb.count);
        let mean_diff = ma.sum.as_f64() / ma.count as f64 - mb.sum.as_f64() / mb.count as f64;
        let m2 = ma.m2
            + mb.m2
            + (ma.count as f64) * (mb.count as f64) * mean_diff * mean_diff / count as f64;
        let sum = match (ma.sum, mb.sum) {
            (Sum::Int(x), Sum::Int(y)) => Sum::Int(x.wrapping_add(y)),
            (x, y) => Sum::Double(x.as_f64() + y.as_f64()),
        };
        Ok(Deviation::encode(Moments { sum, count, m2 }))
    }

    fn result(&self, acc: &Value) -> Value {
        let Ok(m) = self.decode(acc) else {
            return Value::Null;
        };
        let n = m.count as f64;
        Value::Double(match self.output {
            Output::SampleStddev if m.count >= 2 => (m.m2 / (n - 1.0)).sqrt(),
            Output::SampleVariance if m.count >= 2 => m.m2 / (n - 1.0),
            Output::PopulationStddev if m.count >= 1 => (m.m2 / n).sqrt(),
            _ => 0.0,
        })
    }
}

const CORRELATION_SIGS: &[&str] = &["CORRELATION(x DOUBLE, y DOUBLE) => DOUBLE"];

/// CORRELATION(x, y): the Pearson correlation coefficient.
pub(crate) fn correlation() -> Arc<dyn AggregateUdf> {
    Udaf::shared(
        "CORRELATION",
        "Computes the Pearson correlation coefficient between two numeric columns, \
         ignoring records where either is NULL; NaN while it is undefined. Applies to \
         streams and tables.",
        CORRELATION_SIGS,
        Arc::new(|args| match args {
            [x, y]
                if x.ty.as_ref().is_some_and(SqlType::is_numeric)
                    && y.ty.as_ref().is_some_and(SqlType::is_numeric) =>
            {
                Ok(Arc::new(Correlation) as Arc<dyn BoundAggregate>)
            }
            _ => Err(no_match("correlation", args, CORRELATION_SIGS)),
        }),
    )
}

struct Correlation;

const CORR_FIELDS: [&str; 5] = ["X_SUM", "Y_SUM", "X_SQUARED_SUM", "Y_SQUARED_SUM", "XY_SUM"];

impl Correlation {
    fn decode(acc: &Value) -> Result<([f64; 5], i64), String> {
        let mut sums = [0.0; 5];
        for (slot, name) in sums.iter_mut().zip(CORR_FIELDS) {
            match field(acc, name) {
                Some(Value::Double(v)) => *slot = *v,
                _ => return Err(bad_acc("CORRELATION", acc)),
            }
        }
        match field(acc, "COUNT") {
            Some(Value::Bigint(c)) => Ok((sums, *c)),
            _ => Err(bad_acc("CORRELATION", acc)),
        }
    }

    fn encode(sums: [f64; 5], count: i64) -> Value {
        let mut fields: Vec<(String, Value)> = CORR_FIELDS
            .iter()
            .zip(sums)
            .map(|(n, v)| ((*n).to_owned(), Value::Double(v)))
            .collect();
        fields.push(("COUNT".to_owned(), Value::Bigint(count)));
        Value::Struct(fields)
    }

    fn step(acc: Value, args: &[Value], sign: f64) -> Result<Value, String> {
        let (Some(x), Some(y)) = (
            to_f64("CORRELATION", arg(args, 0))?,
            to_f64("CORRELATION", arg(args, 1))?,
        ) else {
            return Ok(acc);
        };
        let (mut s, count) = Correlation::decode(&acc)?;
        for (slot, term) in s.iter_mut().zip([x, y, x * x, y * y, x * y]) {
            *slot += sign * term;
        }
        let count = if sign < 0.0 {
            count.saturating_sub(1)
        } else {
            count.saturating_add(1)
        };
        if count == 0 {
            s = [0.0; 5];
        }
        Ok(Correlation::encode(s, count))
    }
}

impl BoundAggregate for Correlation {
    fn return_type(&self) -> SqlType {
        SqlType::Double
    }

    fn initial(&self) -> Value {
        Correlation::encode([0.0; 5], 0)
    }

    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String> {
        Correlation::step(acc, args, 1.0)
    }

    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>> {
        Some(Correlation::step(acc, args, -1.0))
    }

    fn merge(&self, a: Value, b: Value) -> Result<Value, String> {
        let (mut sa, ca) = Correlation::decode(&a)?;
        let (sb, cb) = Correlation::decode(&b)?;
        for (x, y) in sa.iter_mut().zip(sb) {
            *x += y;
        }
        Ok(Correlation::encode(sa, ca.saturating_add(cb)))
    }

    fn result(&self, acc: &Value) -> Value {
        let Ok(([sx, sy, sxx, syy, sxy], count)) = Correlation::decode(acc) else {
            return Value::Null;
        };
        let n = count as f64;
        let numerator = n * sxy - sx * sy;
        let dx = n * sxx - sx * sx;
        let dy = n * syy - sy * sy;
        Value::Double(numerator / (dx * dy).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::super::common::field;
    use super::super::testkit::*;
    use crate::types::SqlType;
    use crate::value::Value;
    use proptest::prelude::*;

    fn doubles(xs: &[f64]) -> Vec<Value> {
        xs.iter().map(|x| Value::Double(*x)).collect()
    }

    fn check(name: &str, ty: SqlType, input: &[Value], want: &[f64]) {
        let b = bind(name, &[col(ty)]);
        let got = results(b.as_ref(), &rows1(input));
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            // The same operations in the same order as ksqlDB: the same doubles.
            assert_eq!(g, &Value::Double(*w), "{name}");
        }
    }

    #[test]
    fn stddev_sample_matches_ksql() {
        // QTT "stddev_sample int" key 0: 0, 10, 7, 6.
        let ints: Vec<Value> = [0, 10, 7, 6].iter().map(|x| Value::Int(*x)).collect();
        check(
            "STDDEV_SAMPLE",
            SqlType::Int,
            &ints,
            &[
                0.0,
                7.0710678118654755,
                5.131601439446884,
                4.193248541803041,
            ],
        );
        // QTT "stddev_sample long" key 0: 2147483648, 100, -2, null.
        let longs = vec![
            Value::Bigint(2147483648),
            Value::Bigint(100),
            Value::Bigint(-2),
            Value::Null,
        ];
        check(
            "STDDEV_SAMPLE",
            SqlType::Bigint,
            &longs,
            &[
                0.0,
                1.5185001792773468E9,
                1.2398502339629574E9,
                1.2398502339629574E9,
            ],
        );
        // QTT "stddev_sample double" key 100.
        check(
            "STDDEV_SAMPLE",
            SqlType::Double,
            &doubles(&[9223372036854.775, 300.8, -200000.6, 0.0]),
            &[
                0.0,
                6.521908912453693E12,
                5.32511638596254E12,
                4.611686051710689E12,
            ],
        );
    }

    #[test]
    fn stddev_samp_is_the_variance_as_in_ksql() {
        // QTT "stddev_samp int" key 100: 50, 10, 3, null.
        let ints = vec![Value::Int(50), Value::Int(10), Value::Int(3), Value::Null];
        check(
            "STDDEV_SAMP",
            SqlType::Int,
            &ints,
            &[0.0, 800.0, 643.0, 643.0],
        );
        // QTT "stddev_samp double" key 0 and key 100.
        check(
            "STDDEV_SAMP",
            SqlType::Double,
            &doubles(&[-1.8, 2.3, 100.2]),
            &[0.0, 8.405, 3334.2033333333347],
        );
        check(
            "STDDEV_SAMP",
            SqlType::Double,
            &doubles(&[9223372036854.775, 300.8, -200000.6, 0.0]),
            &[
                0.0,
                4.253529586234292e+25,
                2.835686452404674e+25,
                2.1267648239542927e+25,
            ],
        );
        check(
            "VARIANCE",
            SqlType::Double,
            &doubles(&[10.0, 12.0, 13.0, 14.0, 16.0]),
            &[0.0, 2.0, 2.333333333333333, 2.9166666666666665, 5.0],
        );
    }

    #[test]
    fn stddev_pop_matches_the_population_formula() {
        check(
            "STDDEV_POP",
            SqlType::Double,
            &doubles(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]),
            &[
                0.0,
                1.0,
                0.9428090415820634,
                0.8660254037844386,
                0.9797958971132712,
                1.0,
                1.3997084244475304,
                2.0,
            ],
        );
    }

    #[test]
    fn deviation_rejects_strings() {
        assert!(try_bind("STDDEV_SAMPLE", &[col(SqlType::String)]).is_err());
    }

    #[test]
    fn correlation_of_a_line_is_one() {
        let c = bind("CORRELATION", &[col(SqlType::Double), col(SqlType::Int)]);
        let rows: Vec<Vec<Value>> = (0..5)
            .map(|i| vec![Value::Double(f64::from(i)), Value::Int(2 * i + 1)])
            .chain(std::iter::once(vec![Value::Null, Value::Int(7)]))
            .collect();
        let acc = fold(c.as_ref(), &rows);
        assert!(approx_eq(&c.result(&acc), &Value::Double(1.0)));
        let Value::Double(undefined) = c.result(&c.initial()) else {
            panic!("not a double")
        };
        assert!(undefined.is_nan());
        assert!(try_bind("CORRELATION", &[col(SqlType::Double)]).is_err());
    }

    fn model_m2(xs: &[f64]) -> f64 {
        if xs.is_empty() {
            return 0.0;
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        xs.iter().map(|x| (x - mean) * (x - mean)).sum()
    }

    proptest! {
        #[test]
        fn deviation_matches_model_undoes_and_merges(
            base in prop::collection::vec(prop::option::of(-1000i64..1000), 0..15),
            extra in prop::collection::vec(prop::option::of(-1000i64..1000), 0..15),
        ) {
            let to_rows = |xs: &[Option<i64>]| rows1(&xs.iter().map(|x| x.map_or(Value::Null, Value::Bigint)).collect::<Vec<_>>());
            for name in ["STDDEV_SAMPLE", "STDDEV_SAMP", "STDDEV_POP", "VARIANCE"] {
                let b = bind(name, &[col(SqlType::Bigint)]);
                let acc = fold(b.as_ref(), &to_rows(&base));
                let mut all = base.clone();
                all.extend(extra.iter().copied());
                let grown = fold(b.as_ref(), &to_rows(&all));
                let vals: Vec<f64> = all.iter().flatten().map(|x| *x as f64).collect();
                let n = vals.len() as f64;
                let m2 = model_m2(&vals);
                let model = match name {
                    "STDDEV_SAMPLE" if vals.len() >= 2 => (m2 / (n - 1.0)).sqrt(),
                    "STDDEV_SAMP" | "VARIANCE" if vals.len() >= 2 => m2 / (n - 1.0),
                    "STDDEV_POP" if !vals.is_empty() => (m2 / n).sqrt(),
                    _ => 0.0,
                };
                let got = b.result(&grown).as_f64().unwrap();
                prop_assert!((got - model).abs() <= 1e-6 * model.abs().max(1.0), "{} {} {}", name, got, model);
                let merged = b.merge(acc.clone(), fold(b.as_ref(), &to_rows(&extra))).unwrap();
                let got = b.result(&merged).as_f64().unwrap();
                prop_assert!((got - model).abs() <= 1e-6 * model.abs().max(1.0), "merge {} {} {}", name, got, model);
                // Undo restores SUM and COUNT exactly and M2 up to rounding relative to the
                // largest M2 the state held.
                let back = unfold(b.as_ref(), grown.clone(), &to_rows(&extra));
                let m2 = |v: &Value| field(v, "M2").and_then(Value::as_f64).unwrap();
                prop_assert_eq!(field(&back, "SUM"), field(&acc, "SUM"));
                prop_assert_eq!(field(&back, "COUNT"), field(&acc, "COUNT"));
                prop_assert!((m2(&back) - m2(&acc)).abs() <= 1e-9 * m2(&grown).max(1.0), "undo {} {:?} {:?}", name, back, acc);
            }
        }

        #[test]
        fn correlation_undoes(
            base in prop::collection::vec((-100i32..100, -100i32..100), 0..10),
            extra in prop::collection::vec((-100i32..100, -100i32..100), 0..10),
        ) {
            let c = bind("CORRELATION", &[col(SqlType::Int), col(SqlType::Int)]);
            let to_rows = |xs: &[(i32, i32)]| xs.iter().map(|(x, y)| vec![Value::Int(*x), Value::Int(*y)]).collect::<Vec<_>>();
            let acc = fold(c.as_ref(), &to_rows(&base));
            let mut all = base.clone();
            all.extend(extra.iter().copied());
            let grown = fold(c.as_ref(), &to_rows(&all));
            // Integers: every partial sum is exact, so undo restores the state exactly.
            prop_assert_eq!(unfold(c.as_ref(), grown.clone(), &to_rows(&extra)), acc.clone());
            let merged = c.merge(acc, fold(c.as_ref(), &to_rows(&extra))).unwrap();
            prop_assert_eq!(merged, grown);
        }
    }
}
