//! Date and time functions: DATEADD and friends, parsing and formatting with Java
//! patterns, time zones, epoch conversions.
//!
//! TIMESTAMP values are epoch millis (UTC), DATE values epoch days, TIME values millis of
//! the day. Without a time-zone argument, the parse/format functions use UTC (ksqlDB uses
//! the server's default zone, which its tests run as UTC).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::functions::{FunctionRegistry, ScalarFn};
use crate::types::SqlType;
use crate::value::Value;

use super::conv::{int, long, text};
use super::javatime::{parse_zone, JavaPattern, Temporal, Zone};
use super::memo::Memo;
use super::sig::{p, ret, Call, ParamType as P, Udf, Variant};

const MILLIS_PER_DAY: i64 = 86_400_000;
const NANOS_PER_DAY: i64 = 86_400_000_000_000;

/// Java's `TimeUnit`, as DATEADD and friends take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeUnit {
    Nanoseconds,
    Microseconds,
    Milliseconds,
    Seconds,
    Minutes,
    Hours,
    Days,
}

impl TimeUnit {
    /// A unit name, singular or plural, any case (`DAYS`, `day`, `MILLISECONDS`).
    pub fn parse(s: &str) -> Option<TimeUnit> {
        let u = s.trim().to_ascii_uppercase();
        let u = u.strip_suffix('S').unwrap_or(&u);
        Some(match u {
            "NANOSECOND" => TimeUnit::Nanoseconds,
            "MICROSECOND" => TimeUnit::Microseconds,
            "MILLISECOND" => TimeUnit::Milliseconds,
            "SECOND" => TimeUnit::Seconds,
            "MINUTE" => TimeUnit::Minutes,
            "HOUR" => TimeUnit::Hours,
            "DAY" => TimeUnit::Days,
            _ => return None,
        })
    }

    fn nanos(self) -> i64 {
        match self {
            TimeUnit::Nanoseconds => 1,
            TimeUnit::Microseconds => 1_000,
            TimeUnit::Milliseconds => 1_000_000,
            TimeUnit::Seconds => 1_000_000_000,
            TimeUnit::Minutes => 60_000_000_000,
            TimeUnit::Hours => 3_600_000_000_000,
            TimeUnit::Days => NANOS_PER_DAY,
        }
    }

    /// `TimeUnit.toMillis`: truncating below a milli, saturating on overflow.
    pub fn to_millis(self, n: i64) -> i64 {
        let per = self.nanos();
        if per < 1_000_000 {
            n / (1_000_000 / per)
        } else {
            n.saturating_mul(per / 1_000_000)
        }
    }

    /// `TimeUnit.toNanos`, saturating on overflow.
    pub fn to_nanos(self, n: i64) -> i64 {
        n.saturating_mul(self.nanos())
    }
}

fn unit_of(v: &Value) -> Result<TimeUnit, String> {
    let s = text(v)?;
    TimeUnit::parse(s).ok_or_else(|| format!("Unknown time unit: {s}"))
}

/// The unit of a DATEADD-style call: the literal seen at bind time, else the value.
fn unit_arg(fixed: Option<TimeUnit>, v: &Value) -> Result<TimeUnit, String> {
    match fixed {
        Some(u) => Ok(u),
        None => unit_of(v),
    }
}

/// Per-record code for a DATEADD-style function, given the unit found at bind time.
/// The per-record code of DATEADD and friends, given the unit fixed at bind time (if any).
type UnitFn = fn(Option<TimeUnit>, i64, &[Value]) -> Result<Value, String>;

fn with_unit(
    f: UnitFn,
    sign: i64,
) -> impl Fn(&Call<'_>, &SqlType) -> Result<ScalarFn, String> + Send + Sync {
    move |call: &Call<'_>, _: &SqlType| {
        let fixed = call.literal_str(0).and_then(TimeUnit::parse);
        Ok(Arc::new(move |args: &[Value]| f(fixed, sign, args)) as ScalarFn)
    }
}

fn now_millis() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default()
}

/// Epoch days of a date.
pub fn days_of(d: NaiveDate) -> Result<i32, String> {
    i32::try_from(d.signed_duration_since(epoch()).num_days())
        .map_err(|_| format!("date {d} is out of range"))
}

/// The date of epoch days.
pub fn date_of(days: i32) -> Result<NaiveDate, String> {
    epoch()
        .checked_add_signed(chrono::Duration::days(i64::from(days)))
        .ok_or_else(|| format!("date {days} is out of range"))
}

/// The time of day of millis since midnight.
pub fn time_of(millis: i64) -> Result<NaiveTime, String> {
    if !(0..MILLIS_PER_DAY).contains(&millis) {
        return Err(format!("time {millis} is out of range"));
    }
    NaiveTime::from_num_seconds_from_midnight_opt(
        (millis / 1000) as u32,
        (millis % 1000) as u32 * 1_000_000,
    )
    .ok_or_else(|| format!("time {millis} is out of range"))
}

fn millis_of_time(t: &NaiveTime) -> i64 {
    i64::from(t.num_seconds_from_midnight()) * 1000 + i64::from(t.nanosecond() / 1_000_000)
}

/// `yyyy-MM-dd`, as ksqlDB prints a DATE.
pub fn format_iso_date(days: i32) -> Result<String, String> {
    Ok(date_of(days)?.format("%Y-%m-%d").to_string())
}

/// ksqlDB's text for a TIME: `HH:mm` or `HH:mm:ss` (Java's `LocalTime.toString` of the
/// whole seconds).
pub fn format_iso_time(millis: i64) -> Result<String, String> {
    let t = time_of(millis)?;
    Ok(if t.second() == 0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    })
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS` in UTC, as ksqlDB prints a TIMESTAMP.
pub fn format_iso_timestamp(millis: i64) -> Result<String, String> {
    let dt = chrono::DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| format!("timestamp {millis} is out of range"))?;
    Ok(dt.naive_utc().format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
}

fn digits(s: &str, n: usize) -> Option<u32> {
    if s.len() == n && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

fn iso_date(s: &str) -> Option<NaiveDate> {
    let parts: Vec<&str> = s.split('-').collect();
    let (y, m, d) = match parts.as_slice() {
        [y] => (*y, "01", "01"),
        [y, m] => (*y, *m, "01"),
        [y, m, d] => (*y, *m, *d),
        _ => return None,
    };
    if y.len() < 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, digits(m, 2)?, digits(d, 2)?)
}

fn iso_time(s: &str) -> Option<NaiveTime> {
    let (hms, frac) = match s.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let (h, m, sec) = match parts.as_slice() {
        [h] => (digits(h, 2)?, 0, 0),
        [h, m] => (digits(h, 2)?, digits(m, 2)?, 0),
        [h, m, s] => (digits(h, 2)?, digits(m, 2)?, digits(s, 2)?),
        _ => return None,
    };
    let nanos = match frac {
        None => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{f:0<9}").parse().ok()?
        }
        Some(_) => return None,
    };
    NaiveTime::from_hms_nano_opt(h, m, sec, nanos)
}

/// A DATE from text as ksqlDB casts it: `yyyy-MM-dd`, or a prefix (`yyyy`, `yyyy-MM`).
pub fn parse_iso_date(s: &str) -> Result<i32, String> {
    let d = iso_date(s.trim())
        .ok_or_else(|| format!("Failed to parse date '{s}': required format is \"yyyy-MM-dd\""))?;
    days_of(d)
}

/// A TIME from text as ksqlDB casts it: `HH:mm[:ss[.fraction]]`.
pub fn parse_iso_time(s: &str) -> Result<i64, String> {
    let t = iso_time(s.trim()).ok_or_else(|| {
        format!("Failed to parse time '{s}': required format is \"HH:mm:ss.SSS\"")
    })?;
    Ok(millis_of_time(&t))
}

/// A TIMESTAMP from text as ksqlDB casts it: `yyyy[-MM[-dd]][THH[:mm[:ss[.fff]]]]` with an
/// optional zone (`Z`, `+hh:mm`, `+hhmm`); UTC without one.
pub fn parse_iso_timestamp(s: &str) -> Result<i64, String> {
    let err = || {
        format!("Failed to parse timestamp '{s}': required format is \"yyyy-MM-dd'T'HH:mm:ss.SSS\"")
    };
    let t = s.trim();
    let (date_part, time_part) = match t.split_once('T') {
        Some((d, tm)) => (d, Some(tm)),
        None => (t, None),
    };
    let date = iso_date(date_part).ok_or_else(err)?;
    let (time, zone) = match time_part {
        None => (NaiveTime::MIN, None),
        Some(tm) => {
            let idx = tm.find(['Z', 'z', '+', '-']).unwrap_or(tm.len());
            let (clock, zone) = tm.split_at(idx);
            let zone = if zone.is_empty() { None } else { Some(zone) };
            (iso_time(clock).ok_or_else(err)?, zone)
        }
    };
    let zone = match zone {
        None => Zone::utc(),
        Some(z) => parse_zone(z).map_err(|_| err())?,
    };
    zone.local_to_millis(&NaiveDateTime::new(date, time))
}

/// Patterns by text: the literal one compiled at bind, others remembered.
struct Patterns {
    fixed: Option<Result<Arc<JavaPattern>, String>>,
    memo: Memo<JavaPattern>,
}

impl Patterns {
    fn new(call: &Call<'_>, index: usize) -> Patterns {
        Patterns {
            fixed: call
                .literal_str(index)
                .map(|s| JavaPattern::compile(s).map(Arc::new)),
            memo: Memo::new(),
        }
    }

    fn get(&self, pattern: &str) -> Result<Arc<JavaPattern>, String> {
        match &self.fixed {
            Some(r) => r.clone(),
            None => self.memo.get(pattern, JavaPattern::compile),
        }
    }
}

/// Zones by id, remembered.
struct Zones {
    memo: Memo<Zone>,
}

impl Zones {
    fn new() -> Zones {
        Zones { memo: Memo::new() }
    }

    fn get(&self, id: &str) -> Result<Arc<Zone>, String> {
        self.memo.get(id, parse_zone)
    }
}

/// Parses `text` with `pattern` into epoch millis (ksqlDB's `StringToTimestampParser`).
fn parse_timestamp_text(pattern: &JavaPattern, text: &str, zone: &Zone) -> Result<i64, String> {
    let parsed = pattern.parse(text)?;
    let zone = parsed.zone().unwrap_or_else(|| zone.clone());
    zone.local_to_millis(&parsed.local_datetime()?)
}

fn format_timestamp_text(
    pattern: &JavaPattern,
    millis: i64,
    zone: &Zone,
) -> Result<String, String> {
    pattern.format(&Temporal::at_zone(millis, zone)?)
}

fn string_to_timestamp(call: &Call<'_>, zoned: bool) -> ScalarFn {
    let patterns = Patterns::new(call, 1);
    let zones = Zones::new();
    Arc::new(move |args: &[Value]| {
        let input = text(&args[0])?;
        let pattern_text = text(&args[1])?;
        let zone = if zoned {
            (*zones.get(text(&args[2])?)?).clone()
        } else {
            Zone::utc()
        };
        let pattern = patterns.get(pattern_text).map_err(|e| {
            format!("Failed to parse timestamp '{input}' with formatter '{pattern_text}': {e}")
        })?;
        parse_timestamp_text(&pattern, input, &zone)
            .map_err(|e| {
                format!("Failed to parse timestamp '{input}' with formatter '{pattern_text}': {e}")
            })
            .map(Value::Bigint)
    })
}

fn timestamp_to_string(call: &Call<'_>, zoned: bool) -> ScalarFn {
    let patterns = Patterns::new(call, 1);
    let zones = Zones::new();
    Arc::new(move |args: &[Value]| {
        let millis = args[0].as_i64().ok_or("expected a timestamp")?;
        let pattern_text = text(&args[1])?;
        let zone = if zoned {
            (*zones.get(text(&args[2])?)?).clone()
        } else {
            Zone::utc()
        };
        let pattern = patterns.get(pattern_text)?;
        format_timestamp_text(&pattern, millis, &zone)
            .map(Value::String)
            .map_err(|e| {
                format!("Failed to format timestamp {millis} with formatter '{pattern_text}': {e}")
            })
    })
}

fn parse_date_fn(call: &Call<'_>, reject_time: bool, as_days_int: bool) -> ScalarFn {
    let patterns = Patterns::new(call, 1);
    Arc::new(move |args: &[Value]| {
        let input = text(&args[0])?;
        let pattern_text = text(&args[1])?;
        let fail = |e: String| {
            format!("Failed to parse date '{input}' with formatter '{pattern_text}': {e}")
        };
        let pattern = patterns.get(pattern_text).map_err(fail)?;
        // PARSE_DATE ignores text after the pattern ('2003-12-24-01-01' as 'yyyy-MM-dd');
        // STRINGTODATE (Java's LocalDate.parse) does not.
        let parsed = if reject_time {
            pattern.parse_prefix(input)
        } else {
            pattern.parse(input)
        }
        .map_err(fail)?;
        if reject_time && parsed.has_time_fields() {
            return Err(fail("Date format contains time field.".to_string()));
        }
        let date = parsed
            .date()
            .map_err(fail)?
            .ok_or_else(|| fail("Unable to obtain LocalDate from the parsed fields".to_string()))?;
        let days = days_of(date)?;
        Ok(if as_days_int {
            Value::Int(days)
        } else {
            Value::Date(days)
        })
    })
}

fn format_date_fn(call: &Call<'_>) -> ScalarFn {
    let patterns = Patterns::new(call, 1);
    Arc::new(move |args: &[Value]| {
        let days = match &args[0] {
            Value::Date(d) | Value::Int(d) => *d,
            other => return Err(super::conv::wrong("DATE", other)),
        };
        let pattern_text = text(&args[1])?;
        let pattern = patterns.get(pattern_text)?;
        let t = Temporal {
            date: Some(date_of(days)?),
            ..Temporal::default()
        };
        pattern.format(&t).map(Value::String).map_err(|e| {
            format!("Failed to format date {days} with formatter '{pattern_text}': {e}")
        })
    })
}

fn parse_time_fn(call: &Call<'_>) -> ScalarFn {
    let patterns = Patterns::new(call, 1);
    Arc::new(move |args: &[Value]| {
        let input = text(&args[0])?;
        let pattern_text = text(&args[1])?;
        let fail = |e: String| {
            format!("Failed to parse time '{input}' with formatter '{pattern_text}': {e}")
        };
        let pattern = patterns.get(pattern_text).map_err(fail)?;
        let parsed = pattern.parse(input).map_err(fail)?;
        if parsed.has_date_fields() {
            return Err(fail("Unsupported field: date".to_string()));
        }
        let t = parsed
            .time()
            .map_err(fail)?
            .ok_or_else(|| fail("Unable to obtain LocalTime from the parsed fields".to_string()))?;
        Ok(Value::Time(millis_of_time(&t)))
    })
}

fn format_time_fn(call: &Call<'_>) -> ScalarFn {
    let patterns = Patterns::new(call, 1);
    Arc::new(move |args: &[Value]| {
        let millis = args[0].as_i64().ok_or("expected a time")?;
        let pattern_text = text(&args[1])?;
        let pattern = patterns.get(pattern_text)?;
        let t = Temporal {
            time: Some(time_of(millis)?),
            ..Temporal::default()
        };
        pattern.format(&t).map(Value::String).map_err(|e| {
            format!("Failed to format time {millis} with formatter '{pattern_text}': {e}")
        })
    })
}

/// DATEADD/DATESUB: `sign` is 1 or -1.
fn date_add(fixed: Option<TimeUnit>, sign: i64, args: &[Value]) -> Result<Value, String> {
    {
        let unit = unit_arg(fixed, &args[0])?;
        let n = long(&args[1])?.saturating_mul(sign);
        let days = match &args[2] {
            Value::Date(d) => i64::from(*d),
            other => return Err(super::conv::wrong("DATE", other)),
        };
        let ms = days
            .wrapping_mul(MILLIS_PER_DAY)
            .wrapping_add(unit.to_millis(n));
        i32::try_from(ms / MILLIS_PER_DAY)
            .map(Value::Date)
            .map_err(|_| "date out of range".to_string())
    }
}

/// TIMEADD/TIMESUB, wrapping around midnight.
fn time_add(fixed: Option<TimeUnit>, sign: i64, args: &[Value]) -> Result<Value, String> {
    {
        let unit = unit_arg(fixed, &args[0])?;
        let n = long(&args[1])?.saturating_mul(sign);
        let ms = args[2].as_i64().ok_or("expected a time")?;
        let nanos = ms.rem_euclid(MILLIS_PER_DAY) * 1_000_000;
        let add = unit.to_nanos(n) % NANOS_PER_DAY;
        let result = (add + nanos + NANOS_PER_DAY).rem_euclid(NANOS_PER_DAY);
        Ok(Value::Time(result / 1_000_000))
    }
}

/// TIMESTAMPADD/TIMESTAMPSUB.
fn timestamp_add(fixed: Option<TimeUnit>, sign: i64, args: &[Value]) -> Result<Value, String> {
    {
        let unit = unit_arg(fixed, &args[0])?;
        let n = long(&args[1])?.saturating_mul(sign);
        let ts = args[2].as_i64().ok_or("expected a timestamp")?;
        Ok(Value::Timestamp(ts.wrapping_add(unit.to_millis(n))))
    }
}

fn unit_params(what: &'static str, ty: P) -> Vec<super::sig::Param> {
    vec![
        p("unit", P::IntervalUnit),
        p("interval", P::Int),
        p(what, ty),
    ]
}

/// Registers the date and time functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_scalar(
        Udf::new("DATEADD", "Adds a duration to a DATE value.")
            .error_name("dateadd")
            .variant(
                Variant::new(unit_params("date", P::Date), ret(SqlType::Date))
                    .describe("Adds a duration to a date")
                    .build(with_unit(date_add, 1)),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new("DATESUB", "Subtracts a duration from a DATE value.")
            .error_name("datesub")
            .variant(
                Variant::new(unit_params("date", P::Date), ret(SqlType::Date))
                    .build(with_unit(date_add, -1)),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new("TIMEADD", "Adds a duration to a TIME value.")
            .error_name("timeadd")
            .variant(
                Variant::new(unit_params("time", P::Time), ret(SqlType::Time))
                    .build(with_unit(time_add, 1)),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new("TIMESUB", "Subtracts a duration from a TIME value.")
            .error_name("timesub")
            .variant(
                Variant::new(unit_params("time", P::Time), ret(SqlType::Time))
                    .build(with_unit(time_add, -1)),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new("TIMESTAMPADD", "Adds a duration to a TIMESTAMP value.")
            .error_name("timestampadd")
            .variant(
                Variant::new(
                    unit_params("timestamp", P::Timestamp),
                    ret(SqlType::Timestamp),
                )
                .build(with_unit(timestamp_add, 1)),
            )
            .shared(),
    );
    r.register_scalar(
        Udf::new(
            "TIMESTAMPSUB",
            "Subtracts a duration from a TIMESTAMP value.",
        )
        .error_name("timestampsub")
        .variant(
            Variant::new(
                unit_params("timestamp", P::Timestamp),
                ret(SqlType::Timestamp),
            )
            .build(with_unit(timestamp_add, -1)),
        )
        .shared(),
    );

    let parse_params = || {
        vec![
            p("formattedTimestamp", P::String),
            p("formatPattern", P::String),
        ]
    };
    let parse_params_tz = || {
        vec![
            p("formattedTimestamp", P::String),
            p("formatPattern", P::String),
            p("timeZone", P::String),
        ]
    };
    r.register_scalar(
        Udf::new(
            "STRINGTOTIMESTAMP",
            "Converts a string representation of a date in the given format into the BIGINT \
             value that represents the millisecond timestamp. Single quotes in the timestamp \
             format can be escaped with '', for example: 'yyyy-MM-dd''T''HH:mm:ssX'.",
        )
        .error_name("stringtotimestamp")
        .variant(
            Variant::new(parse_params(), ret(SqlType::Bigint))
                .build(|c, _| Ok(string_to_timestamp(c, false))),
        )
        .variant(
            Variant::new(parse_params_tz(), ret(SqlType::Bigint))
                .build(|c, _| Ok(string_to_timestamp(c, true))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "PARSE_TIMESTAMP",
            "Converts a string representation of a date in the given format into a TIMESTAMP \
             value.",
        )
        .error_name("parse_timestamp")
        .variant(
            Variant::new(parse_params(), ret(SqlType::Timestamp)).build(|c, _| {
                let f = string_to_timestamp(c, false);
                Ok(Arc::new(move |a: &[Value]| {
                    f(a).map(|v| Value::Timestamp(v.as_i64().unwrap_or_default()))
                }))
            }),
        )
        .variant(
            Variant::new(parse_params_tz(), ret(SqlType::Timestamp)).build(|c, _| {
                let f = string_to_timestamp(c, true);
                Ok(Arc::new(move |a: &[Value]| {
                    f(a).map(|v| Value::Timestamp(v.as_i64().unwrap_or_default()))
                }))
            }),
        )
        .shared(),
    );

    let fmt_params = |ty: P| vec![p("epochMilli", ty), p("formatPattern", P::String)];
    let fmt_params_tz = |ty: P| {
        vec![
            p("epochMilli", ty),
            p("formatPattern", P::String),
            p("timeZone", P::String),
        ]
    };
    r.register_scalar(
        Udf::new(
            "TIMESTAMPTOSTRING",
            "Converts a number of milliseconds since 1970-01-01 00:00:00 UTC/GMT into the \
             string representation of the timestamp in the given format. UTC is used when no \
             time zone is provided.",
        )
        .error_name("timestamptostring")
        .variant(
            Variant::new(fmt_params(P::Bigint), ret(SqlType::String))
                .build(|c, _| Ok(timestamp_to_string(c, false))),
        )
        .variant(
            Variant::new(fmt_params_tz(P::Bigint), ret(SqlType::String))
                .build(|c, _| Ok(timestamp_to_string(c, true))),
        )
        .variant(
            Variant::new(fmt_params(P::Timestamp), ret(SqlType::String))
                .build(|c, _| Ok(timestamp_to_string(c, false))),
        )
        .variant(
            Variant::new(fmt_params_tz(P::Timestamp), ret(SqlType::String))
                .build(|c, _| Ok(timestamp_to_string(c, true))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "FORMAT_TIMESTAMP",
            "Converts a TIMESTAMP value into the string representation of the timestamp in \
             the given format. UTC is used when no time zone is provided.",
        )
        .error_name("formattimestamp")
        .variant(
            Variant::new(
                vec![p("timestamp", P::Timestamp), p("formatPattern", P::String)],
                ret(SqlType::String),
            )
            .build(|c, _| Ok(timestamp_to_string(c, false))),
        )
        .variant(
            Variant::new(
                vec![
                    p("timestamp", P::Timestamp),
                    p("formatPattern", P::String),
                    p("timeZone", P::String),
                ],
                ret(SqlType::String),
            )
            .build(|c, _| Ok(timestamp_to_string(c, true))),
        )
        .shared(),
    );

    let date_parse_params = || vec![p("formattedDate", P::String), p("formatPattern", P::String)];
    r.register_scalar(
        Udf::new(
            "STRINGTODATE",
            "Converts a string representation of a date in the given format into the number \
             of days since 1970-01-01.",
        )
        .error_name("stringtodate")
        .variant(
            Variant::new(date_parse_params(), ret(SqlType::Int))
                .build(|c, _| Ok(parse_date_fn(c, false, true))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "PARSE_DATE",
            "Converts a string representation of a date in the given format into a DATE value.",
        )
        .error_name("parse_date")
        .variant(
            Variant::new(date_parse_params(), ret(SqlType::Date))
                .build(|c, _| Ok(parse_date_fn(c, true, false))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "DATETOSTRING",
            "Converts an INT number of days since 1970-01-01 into a string in the given format.",
        )
        .error_name("datetostring")
        .variant(
            Variant::new(
                vec![p("epochDays", P::Int), p("formatPattern", P::String)],
                ret(SqlType::String),
            )
            .build(|c, _| Ok(format_date_fn(c))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "FORMAT_DATE",
            "Converts a DATE value into a string in the given format.",
        )
        .error_name("format_date")
        .variant(
            Variant::new(
                vec![p("date", P::Date), p("formatPattern", P::String)],
                ret(SqlType::String),
            )
            .build(|c, _| Ok(format_date_fn(c))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "PARSE_TIME",
            "Converts a string representation of a time in the given format into a TIME value.",
        )
        .error_name("parse_time")
        .variant(
            Variant::new(
                vec![p("formattedTime", P::String), p("formatPattern", P::String)],
                ret(SqlType::Time),
            )
            .build(|c, _| Ok(parse_time_fn(c))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "FORMAT_TIME",
            "Converts a TIME value into the string representation of the time in the given \
             format.",
        )
        .error_name("format_time")
        .variant(
            Variant::new(
                vec![p("time", P::Time), p("formatPattern", P::String)],
                ret(SqlType::String),
            )
            .build(|c, _| Ok(format_time_fn(c))),
        )
        .shared(),
    );

    r.register_scalar(
        Udf::new(
            "CONVERT_TZ",
            "Converts a TIMESTAMP value from one time zone to another.",
        )
        .error_name("convert_tz")
        .variant(
            Variant::new(
                vec![
                    p("timestamp", P::Timestamp),
                    p("fromTimeZone", P::String),
                    p("toTimeZone", P::String),
                ],
                ret(SqlType::Timestamp),
            )
            .build(|_, _| {
                let zones = Zones::new();
                Ok(Arc::new(move |args: &[Value]| {
                    let ts = args[0].as_i64().ok_or("expected a timestamp")?;
                    let from = zones.get(text(&args[1])?)?;
                    let to = zones.get(text(&args[2])?)?;
                    let utc = chrono::DateTime::from_timestamp_millis(ts)
                        .ok_or("timestamp out of range")?
                        .naive_utc();
                    let shift = i64::from(to.offset_at(&utc)) - i64::from(from.offset_at(&utc));
                    Ok(Value::Timestamp(ts.wrapping_add(shift * 1000)))
                }))
            }),
        )
        .shared(),
    );

    r.register_scalar(
        Udf::new(
            "FROM_UNIXTIME",
            "Converts a BIGINT number of milliseconds since the epoch into a TIMESTAMP.",
        )
        .error_name("from_unixtime")
        .variant(
            Variant::new(vec![p("epochMilli", P::Bigint)], ret(SqlType::Timestamp))
                .eval(|a| Ok(Value::Timestamp(long(&a[0])?))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "FROM_DAYS",
            "Converts an INT number of days since the epoch into a DATE.",
        )
        .error_name("from_days")
        .variant(
            Variant::new(vec![p("days", P::Int)], ret(SqlType::Date))
                .eval(|a| Ok(Value::Date(int(&a[0])?))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "UNIX_DATE",
            "Returns the number of days since 1970-01-01 of the given DATE, or of today (UTC) \
             without an argument.",
        )
        .error_name("unix_date")
        .variant(
            Variant::new(vec![], ret(SqlType::Int))
                .eval(|_| Ok(Value::Int((now_millis().div_euclid(MILLIS_PER_DAY)) as i32))),
        )
        .variant(
            Variant::new(vec![p("date", P::Date)], ret(SqlType::Int)).eval(|a| match &a[0] {
                Value::Date(d) => Ok(Value::Int(*d)),
                other => Err(super::conv::wrong("DATE", other)),
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "UNIX_TIMESTAMP",
            "Returns the milliseconds since the epoch of the given TIMESTAMP, or of now \
             without an argument.",
        )
        .error_name("unix_timestamp")
        .variant(
            Variant::new(vec![], ret(SqlType::Bigint)).eval(|_| Ok(Value::Bigint(now_millis()))),
        )
        .variant(
            Variant::new(vec![p("timestamp", P::Timestamp)], ret(SqlType::Bigint))
                .eval(|a| Ok(Value::Bigint(a[0].as_i64().ok_or("expected a timestamp")?))),
        )
        .shared(),
    );
}

/// Today's epoch day (UTC); for tests.
pub fn today() -> i32 {
    (now_millis().div_euclid(MILLIS_PER_DAY)) as i32
}

/// The day of the week of an epoch day, Monday = 1.
pub fn weekday(days: i32) -> Result<u32, String> {
    Ok(date_of(days)?.weekday().number_from_monday())
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{call, lit, null, reg, typed};
    use super::*;

    #[test]
    fn dateadd_and_datesub_follow_java_time_units() {
        let r = reg();
        let days = lit(Value::String("DAYS".into()));
        let ms = lit(Value::String("MILLISECONDS".into()));
        let add = |u: &crate::functions::Arg, n: i32, d: i32| {
            call(
                &r,
                "DATEADD",
                &[u.clone(), typed(SqlType::Int), typed(SqlType::Date)],
                &[Value::String("x".into()), Value::Int(n), Value::Date(d)],
            )
        };
        assert_eq!(add(&days, 10, 10), Ok(Value::Date(20)));
        assert_eq!(add(&days, -5, 2), Ok(Value::Date(-3)));
        assert_eq!(add(&ms, 5, 5), Ok(Value::Date(5)));
        let sub = call(
            &r,
            "DATESUB",
            &[days.clone(), typed(SqlType::Int), typed(SqlType::Date)],
            &[Value::String("DAYS".into()), Value::Int(10), Value::Date(5)],
        );
        assert_eq!(sub, Ok(Value::Date(-5)));
        let err = r
            .scalar("DATEADD")
            .unwrap()
            .bind(&[
                typed(SqlType::Date),
                typed(SqlType::Int),
                typed(SqlType::Date),
            ])
            .err()
            .unwrap();
        assert!(
            err.starts_with("Function 'dateadd' does not accept parameters (DATE, INTEGER, DATE).")
        );
    }

    #[test]
    fn timeadd_wraps_around_midnight() {
        let r = reg();
        let ms = lit(Value::String("MILLISECONDS".into()));
        let f = |name: &str, n: i32, t: i64| {
            call(
                &r,
                name,
                &[ms.clone(), typed(SqlType::Int), typed(SqlType::Time)],
                &[
                    Value::String("MILLISECONDS".into()),
                    Value::Int(n),
                    Value::Time(t),
                ],
            )
        };
        assert_eq!(f("TIMEADD", 10, 86_399_995), Ok(Value::Time(5)));
        assert_eq!(f("TIMEADD", -5, 2), Ok(Value::Time(86_399_997)));
        assert_eq!(f("TIMESUB", 10, 5), Ok(Value::Time(86_399_995)));
        assert_eq!(f("TIMESUB", -5, 86_399_997), Ok(Value::Time(2)));
        assert_eq!(
            call(
                &r,
                "TIMESTAMPSUB",
                &[ms.clone(), typed(SqlType::Int), typed(SqlType::Timestamp)],
                &[
                    Value::String("MILLISECONDS".into()),
                    Value::Int(-5),
                    Value::Timestamp(-100)
                ],
            ),
            Ok(Value::Timestamp(-95))
        );
        assert_eq!(
            call(
                &r,
                "TIMESTAMPADD",
                &[ms, typed(SqlType::Int), typed(SqlType::Timestamp)],
                &[
                    Value::String("MILLISECONDS".into()),
                    Value::Null,
                    Value::Timestamp(5)
                ],
            ),
            Ok(Value::Null)
        );
    }

    #[test]
    fn string_to_timestamp_and_back() {
        let r = reg();
        let s = |v: &str| Value::String(v.into());
        let args = [typed(SqlType::String), lit(s("yyyy-MM-dd'T'HH:mm:ssX"))];
        assert_eq!(
            call(
                &r,
                "STRINGTOTIMESTAMP",
                &args,
                &[s("2018-05-11T21:58:33Z"), s("yyyy-MM-dd'T'HH:mm:ssX")]
            ),
            Ok(Value::Bigint(1526075913000))
        );
        assert_eq!(
            call(
                &r,
                "PARSE_TIMESTAMP",
                &[typed(SqlType::String), typed(SqlType::String)],
                &[s("2020-05-11T21:58:33 PST"), s("yyyy-MM-dd'T'HH:mm:ss zzz")]
            ),
            Ok(Value::Timestamp(1589259513000))
        );
        assert!(call(
            &r,
            "STRINGTOTIMESTAMP",
            &args,
            &[s("garbage"), s("yyyy-MM-dd'T'HH:mm:ssX")]
        )
        .is_err());
        assert_eq!(
            call(
                &r,
                "TIMESTAMPTOSTRING",
                &[
                    typed(SqlType::Bigint),
                    typed(SqlType::String),
                    typed(SqlType::String)
                ],
                &[
                    Value::Bigint(1526075913000),
                    s("yyyy-MM-dd HH:mm:ss zzz"),
                    s("America/Los_Angeles")
                ]
            ),
            Ok(s("2018-05-11 14:58:33 PDT"))
        );
        assert_eq!(
            call(
                &r,
                "FORMAT_TIMESTAMP",
                &[typed(SqlType::Timestamp), typed(SqlType::String)],
                &[Value::Timestamp(1526075913000), s("yyyy-MM-dd HH:mm:ss")]
            ),
            Ok(s("2018-05-11 21:58:33"))
        );
    }

    #[test]
    fn dates_and_times_parse_and_format() {
        let r = reg();
        let s = |v: &str| Value::String(v.into());
        let two = [typed(SqlType::String), typed(SqlType::String)];
        assert_eq!(
            call(&r, "PARSE_DATE", &two, &[s("2003-12-24"), s("yyyy-MM-dd")]),
            Ok(Value::Date(12410))
        );
        assert!(call(&r, "PARSE_DATE", &two, &[s("2004"), s("yyyy-MM-dd")]).is_err());
        assert_eq!(
            call(
                &r,
                "PARSE_DATE",
                &two,
                &[s("2003-12-24-01-01"), s("yyyy-MM-dd")]
            ),
            Ok(Value::Date(12410))
        );
        assert!(call(
            &r,
            "STRINGTODATE",
            &two,
            &[s("2003-12-24x"), s("yyyy-MM-dd")]
        )
        .is_err());
        assert!(call(&r, "STRINGTODATE", &two, &[s("foo"), s("yyyyMMdd")]).is_err());
        assert_eq!(
            call(&r, "STRINGTODATE", &two, &[s("19700111"), s("yyyyMMdd")]),
            Ok(Value::Int(10))
        );
        let t = |text: &str, f: &str| call(&r, "PARSE_TIME", &two, &[s(text), s(f)]);
        assert_eq!(t("00:01:05Lit", "HH:mm:ss'Lit'"), Ok(Value::Time(65000)));
        assert_eq!(t("11/05/19", "HH/mm/ss"), Ok(Value::Time(39_919_000)));
        assert_eq!(t("01:00:00 PM", "hh:mm:ss a"), Ok(Value::Time(46_800_000)));
        assert_eq!(t("01:00:00 Pm", "hh:mm:ss a"), Ok(Value::Time(46_800_000)));
        let ft = |ms: i64, f: &str| {
            call(
                &r,
                "FORMAT_TIME",
                &[typed(SqlType::Time), typed(SqlType::String)],
                &[Value::Time(ms), s(f)],
            )
        };
        assert_eq!(ft(65000, "HH_mm_ss_SSS"), Ok(s("00_01_05_000")));
        assert_eq!(ft(1_234_567, "HHmmss'AAAAA'"), Ok(s("002034AAAAA")));
        assert_eq!(ft(0, "HH:mm:ss"), Ok(s("00:00:00")));
        assert!(ft(0, "yyyy").is_err());
        assert_eq!(
            call(
                &r,
                "FORMAT_DATE",
                &[typed(SqlType::Date), typed(SqlType::String)],
                &[Value::Date(10), s("yyyy-MM-dd")]
            ),
            Ok(s("1970-01-11"))
        );
    }

    #[test]
    fn convert_tz_and_epoch_functions() {
        let r = reg();
        let s = |v: &str| Value::String(v.into());
        let args = [
            typed(SqlType::Timestamp),
            typed(SqlType::String),
            typed(SqlType::String),
        ];
        assert_eq!(
            call(
                &r,
                "CONVERT_TZ",
                &args,
                &[Value::Timestamp(100), s("+0200"), s("+0500")]
            ),
            Ok(Value::Timestamp(10_800_100))
        );
        assert_eq!(
            call(
                &r,
                "CONVERT_TZ",
                &args,
                &[
                    Value::Timestamp(1_589_234_313_000),
                    s("America/Los_Angeles"),
                    s("America/New_York")
                ]
            ),
            Ok(Value::Timestamp(1_589_245_113_000))
        );
        assert_eq!(
            call(&r, "FROM_DAYS", &[typed(SqlType::Int)], &[Value::Int(-10)]),
            Ok(Value::Date(-10))
        );
        assert_eq!(
            call(
                &r,
                "FROM_UNIXTIME",
                &[typed(SqlType::Bigint)],
                &[Value::Bigint(100)]
            ),
            Ok(Value::Timestamp(100))
        );
        assert_eq!(
            call(
                &r,
                "UNIX_DATE",
                &[typed(SqlType::Date)],
                &[Value::Date(100)]
            ),
            Ok(Value::Int(100))
        );
        match call(&r, "UNIX_TIMESTAMP", &[], &[]) {
            Ok(Value::Bigint(ms)) => assert!(ms > 100),
            other => panic!("{other:?}"),
        }
        assert!(today() > 100);
        assert_eq!(
            call(&r, "UNIX_TIMESTAMP", &[null()], &[Value::Null]),
            Ok(Value::Null)
        );
    }

    #[test]
    fn iso_casts() {
        assert_eq!(parse_iso_date("1970-01-10"), Ok(9));
        assert_eq!(parse_iso_date("1970-01"), Ok(0));
        assert!(parse_iso_date("foo").is_err());
        assert_eq!(parse_iso_time("09:16:00"), Ok(33_360_000));
        assert_eq!(parse_iso_timestamp("2022-06-14"), Ok(1_655_164_800_000));
        assert_eq!(
            parse_iso_timestamp("2022-06-14T01:00:00.5+01:00"),
            Ok(1_655_164_800_500)
        );
        assert_eq!(format_iso_time(60_220_000), Ok("16:43:40".to_string()));
        assert_eq!(format_iso_date(1000), Ok("1972-09-27".to_string()));
        assert_eq!(
            format_iso_timestamp(60_220_000_000),
            Ok("1971-11-28T23:46:40.000".to_string())
        );
        assert_eq!(weekday(0), Ok(4));
    }
}
