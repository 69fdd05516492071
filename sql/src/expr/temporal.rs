//! TIMESTAMP, DATE and TIME from and to strings, as ksqlDB's `SqlTimeTypes` does:
//! timestamps as `yyyy-MM-dd'T'HH:mm:ss.SSS` (UTC) with partial forms (`2020-05`,
//! `2020-05-26T10`) and an optional `+hhmm`/`-hhmm` offset or trailing `Z`; dates as
//! `yyyy-MM-dd` (or `yyyy`, `yyyy-MM`); times as ISO `HH:mm[:ss[.fff]]`.

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let d = i64::from(d);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn month_len(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if is_leap(y) {
                29
            } else {
                28
            }
        }
    }
}

/// A fixed number of ASCII digits starting at `*i`.
fn digits(b: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let s = b.get(*i..*i + n)?;
    let mut v: u32 = 0;
    for c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    *i += n;
    Some(v)
}

fn expect(b: &[u8], i: &mut usize, c: u8) -> Option<()> {
    if b.get(*i) == Some(&c) {
        *i += 1;
        Some(())
    } else {
        None
    }
}

/// `yyyy-MM-dd` at the front of `b` (4 or more year digits). With `strict`, an invalid day
/// of the month is an error; otherwise it is clamped to the month's length, as Java's
/// SMART resolver does for days 29-31.
fn parse_ymd(b: &[u8], i: &mut usize, strict: bool) -> Option<i64> {
    let mut sign = 0i64;
    if let Some(&c) = b.get(*i) {
        if c == b'+' || c == b'-' {
            sign = if c == b'-' { -1 } else { 1 };
            *i += 1;
        }
    }
    let start = *i;
    let mut year: i64 = 0;
    while *i < b.len() && b[*i].is_ascii_digit() {
        year = year.checked_mul(10)?.checked_add(i64::from(b[*i] - b'0'))?;
        *i += 1;
    }
    let n = *i - start;
    // Four digits, or a sign and more (ISO); the sign of a year of era is never negative.
    let ok = if sign == 0 {
        n == 4
    } else {
        (5..=9).contains(&n) && (strict || sign > 0)
    };
    if !ok {
        return None;
    }
    if sign < 0 {
        year = -year;
    }
    expect(b, i, b'-')?;
    let m = digits(b, i, 2)?;
    expect(b, i, b'-')?;
    let mut d = digits(b, i, 2)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let len = month_len(year, m);
    if d > len {
        if strict {
            return None;
        }
        d = len;
    }
    Some(days_from_civil(year, m, d))
}

/// `HH:mm:ss.SSS`, exactly.
fn parse_hms_millis(b: &[u8], i: &mut usize) -> Option<i64> {
    let h = digits(b, i, 2)?;
    expect(b, i, b':')?;
    let m = digits(b, i, 2)?;
    expect(b, i, b':')?;
    let s = digits(b, i, 2)?;
    expect(b, i, b'.')?;
    let ms = digits(b, i, 3)?;
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1000 + i64::from(ms))
}

/// ksqlDB's `completeDate`: `yyyy` and `yyyy-MM` get the missing parts as `-01`.
pub(crate) fn complete_date(date: &str) -> String {
    // Java's split drops trailing empty strings.
    let parts: Vec<&str> = date.split('-').collect();
    let mut n = parts.len();
    while n > 0 && parts[n - 1].is_empty() {
        n -= 1;
    }
    match n {
        0 | 1 => format!("{date}-01-01"),
        2 => format!("{date}-01"),
        _ => date.to_owned(),
    }
}

const TIME_PATTERN: &str = "HH:mm:ss.SSS";

/// ksqlDB's `completeTime`: pads a partial time with the pattern's zeros.
fn complete_time(time: &str) -> String {
    if time.len() >= TIME_PATTERN.len() {
        return time.to_owned();
    }
    let mut out = time.to_owned();
    // The pattern is ASCII, so byte offsets are char offsets; a non-ASCII time is invalid
    // anyway and fails parsing.
    let rest = TIME_PATTERN.get(time.len()..).unwrap_or("");
    for c in rest.chars() {
        out.push(if c.is_ascii_alphabetic() { '0' } else { c });
    }
    out
}

/// A zone offset as Java's `ZoneId.of` accepts it for `+h`, `+hh`, `+hh:mm`, `+hhmm`,
/// `+hh:mm:ss`, `+hhmmss`: seconds east of UTC.
fn parse_offset(tz: &str) -> Option<i64> {
    let b = tz.as_bytes();
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let rest = &b[1..];
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let (h, m, s) = match rest.len() {
        1 | 2 => (num(rest)?, 0, 0),
        4 => (num(&rest[..2])?, num(&rest[2..])?, 0),
        5 if rest[2] == b':' => (num(&rest[..2])?, num(&rest[3..])?, 0),
        6 => (num(&rest[..2])?, num(&rest[2..4])?, num(&rest[4..])?),
        8 if rest[2] == b':' && rest[5] == b':' => {
            (num(&rest[..2])?, num(&rest[3..5])?, num(&rest[6..])?)
        }
        _ => return None,
    };
    if h > 18 || m > 59 || s > 59 {
        return None;
    }
    let total = h * 3600 + m * 60 + s;
    if total > 18 * 3600 {
        return None;
    }
    Some(sign * total)
}

const TIMESTAMP_HELP: &str =
    "\nRequired format is: \"yyyy-MM-dd'T'HH:mm:ss.SSS\", with an optional \
numeric 4-digit timezone, for example: '2020-05-26T23:59:58.000' or with tz: \
'2020-05-26T23:59:58.000+0200'. A trailing 'Z' instead of tz indicates the zero UTC offset. \
Partials are also supported, for example \"2020-05-26\"";

/// Parses a timestamp string to milliseconds since the epoch (ksqlDB's
/// `PartialStringToTimestampParser`).
pub(crate) fn parse_timestamp(text: &str) -> Result<i64, String> {
    let fail = || {
        format!(
            "Failed to parse timestamp '{text}': Text '{text}' could not be parsed{TIMESTAMP_HELP}"
        )
    };
    let (date, time, tz) = match text.find('T') {
        Some(t) => {
            let date = &text[..t];
            let with_tz = &text[t + 1..];
            let tz = if let Some(p) = with_tz.find('+') {
                &with_tz[p..]
            } else if let Some(p) = with_tz.find('-') {
                &with_tz[p..]
            } else {
                ""
            };
            let time = &with_tz[..with_tz.len() - tz.len()];
            let time = time.strip_suffix('Z').unwrap_or(time);
            (date.to_owned(), complete_time(time), tz)
        }
        None => (complete_date(text), complete_time(""), ""),
    };
    let offset = if tz.trim().is_empty() {
        0
    } else {
        parse_offset(tz).ok_or_else(|| {
            format!("Failed to parse timestamp '{text}': Failed to parse timezone '{tz}'{TIMESTAMP_HELP}")
        })?
    };
    let full = format!("{date}T{time}");
    let b = full.as_bytes();
    let mut i = 0;
    let days = parse_ymd(b, &mut i, false).ok_or_else(fail)?;
    expect(b, &mut i, b'T').ok_or_else(fail)?;
    let ms = parse_hms_millis(b, &mut i).ok_or_else(fail)?;
    if i != b.len() {
        return Err(fail());
    }
    days.checked_mul(MS_PER_DAY)
        .and_then(|d| d.checked_add(ms))
        .and_then(|v| v.checked_sub(offset * 1000))
        .ok_or_else(fail)
}

/// Parses a date string to days since the epoch (ksqlDB's `SqlTimeTypes.parseDate`).
pub(crate) fn parse_date(text: &str) -> Result<i32, String> {
    let fail = || {
        format!(
            "Failed to parse date '{text}': Text '{text}' could not be parsed\nRequired format is: \
             \"yyyy-MM-dd\", for example '2020-05-26'. Partials are also supported, for example '2020-05'"
        )
    };
    let full = complete_date(text);
    let b = full.as_bytes();
    let mut i = 0;
    let days = parse_ymd(b, &mut i, true).ok_or_else(fail)?;
    if i != b.len() {
        return Err(fail());
    }
    i32::try_from(days).map_err(|_| fail())
}

/// Parses a time string to milliseconds since midnight (Java's `LocalTime.parse`:
/// `HH:mm`, `HH:mm:ss`, `HH:mm:ss.f` with 1 to 9 fraction digits).
pub(crate) fn parse_time(text: &str) -> Result<i64, String> {
    let fail = || {
        format!(
            "Failed to parse time '{text}': Text '{text}' could not be parsed\nRequired format is: \
             \"HH:mm:ss.SSS\", for example: '01:34:20.123' or '01:34:20'. Partials are also \
             supported, for example '01:34'"
        )
    };
    let b = text.as_bytes();
    let mut i = 0;
    let h = digits(b, &mut i, 2).ok_or_else(fail)?;
    expect(b, &mut i, b':').ok_or_else(fail)?;
    let m = digits(b, &mut i, 2).ok_or_else(fail)?;
    let mut s = 0;
    let mut nanos: i64 = 0;
    if i < b.len() {
        expect(b, &mut i, b':').ok_or_else(fail)?;
        s = digits(b, &mut i, 2).ok_or_else(fail)?;
        if i < b.len() {
            expect(b, &mut i, b'.').ok_or_else(fail)?;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let n = i - start;
            if n == 0 || n > 9 || i != b.len() {
                return Err(fail());
            }
            let mut v: i64 = 0;
            for c in &b[start..i] {
                v = v * 10 + i64::from(c - b'0');
            }
            for _ in n..9 {
                v *= 10;
            }
            nanos = v;
        }
    }
    if h > 23 || m > 59 || s > 59 {
        return Err(fail());
    }
    Ok(((i64::from(h) * 60 + i64::from(m)) * 60 + i64::from(s)) * 1000 + nanos / 1_000_000)
}

fn push_year(out: &mut String, y: i64, year_of_era: bool) {
    use std::fmt::Write;
    if year_of_era {
        // `yyyy` prints the year of era, with a '+' when it exceeds four digits.
        let yoe = if y > 0 { y } else { 1 - y };
        if yoe > 9999 {
            let _ = write!(out, "+{yoe}");
        } else {
            let _ = write!(out, "{yoe:04}");
        }
    } else if y > 9999 {
        let _ = write!(out, "+{y}");
    } else if y < 0 {
        let _ = write!(out, "-{:04}", y.unsigned_abs());
    } else {
        let _ = write!(out, "{y:04}");
    }
}

/// `yyyy-MM-dd'T'HH:mm:ss.SSS` in UTC (ksqlDB's `formatTimestamp`).
pub(crate) fn format_timestamp(ms: i64) -> String {
    use std::fmt::Write;
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::with_capacity(23);
    push_year(&mut out, y, true);
    let _ = write!(
        out,
        "-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    );
    out
}

/// `LocalDate.toString()` of a day number.
pub(crate) fn format_date(days: i32) -> String {
    use std::fmt::Write;
    let (y, m, d) = civil_from_days(i64::from(days));
    let mut out = String::with_capacity(10);
    push_year(&mut out, y, false);
    let _ = write!(out, "-{m:02}-{d:02}");
    out
}

/// ksqlDB's `formatTime`: `LocalTime.ofSecondOfDay(ms / 1000).toString()`, which leaves
/// out zero seconds (`10:00`). Errors outside a day.
pub(crate) fn format_time(ms: i64) -> Result<String, String> {
    let secs = ms / 1000;
    if !(0..86_400).contains(&secs) {
        return Err(format!("Invalid value for SecondOfDay: {secs}"));
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    Ok(if s == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    })
}

/// `java.sql.Timestamp.toString()` in UTC: `yyyy-mm-dd hh:mm:ss.f` (fraction without
/// trailing zeros, at least one digit).
pub(crate) fn sql_timestamp_to_string(ms: i64) -> String {
    use std::fmt::Write;
    let days = ms.div_euclid(MS_PER_DAY);
    let rem = ms.rem_euclid(MS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    let mut out = String::new();
    push_year(&mut out, y, true);
    let _ = write!(
        out,
        "-{m:02}-{d:02} {:02}:{:02}:{:02}.",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60
    );
    let frac = format!("{:03}", rem % 1000);
    let frac = frac.trim_end_matches('0');
    out.push_str(if frac.is_empty() { "0" } else { frac });
    out
}

/// `java.sql.Time.toString()` in UTC: `hh:mm:ss`.
pub(crate) fn sql_time_to_string(ms: i64) -> String {
    let rem = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!("{:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

/// The time of day of a timestamp (UTC), in milliseconds.
pub(crate) fn timestamp_to_time(ms: i64) -> i64 {
    ms.rem_euclid(MS_PER_DAY)
}

/// The day of a timestamp (UTC).
pub(crate) fn timestamp_to_date(ms: i64) -> Result<i32, String> {
    i32::try_from(ms.div_euclid(MS_PER_DAY)).map_err(|_| format!("Date out of range: {ms}"))
}

/// A date's midnight as a timestamp.
pub(crate) fn date_to_timestamp(days: i32) -> i64 {
    i64::from(days) * MS_PER_DAY
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        for d in [-800_000i64, -1, 0, 1, 59, 365, 10_957, 2_932_896] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn timestamps_parse_as_ksqldb_does() {
        assert_eq!(
            parse_timestamp("2022-04-28T21:44:47.943"),
            Ok(1_651_182_287_943)
        );
        assert_eq!(
            parse_timestamp("2022-04-28T21:44:47.943Z"),
            Ok(1_651_182_287_943)
        );
        assert_eq!(
            parse_timestamp("2019-03-17T10:00:00"),
            Ok(1_552_816_800_000)
        );
        assert_eq!(
            parse_timestamp("2019-03-17T03:00-0700"),
            Ok(1_552_816_800_000)
        );
        assert_eq!(
            parse_timestamp("2017-11-13T23:59:58.999+0100"),
            Ok(1_510_613_998_999)
        );
        assert_eq!(
            parse_timestamp("2017"),
            parse_timestamp("2017-01-01T00:00:00.000")
        );
        assert_eq!(
            parse_timestamp("2020-02"),
            parse_timestamp("2020-02-01T00:00:00.000")
        );
        assert_eq!(
            parse_timestamp("2020-12-02T13Z"),
            parse_timestamp("2020-12-02T13:00:00.000")
        );
        assert_eq!(parse_timestamp("1970-01-01T00:00:00.010"), Ok(10));
        assert!(parse_timestamp("abc").is_err());
        assert!(parse_timestamp("2019-03-17 03:00").is_err());
        assert!(parse_timestamp("2017-1-1").is_err());
        assert!(parse_timestamp("2017-01-01T00:00:00.000+foo").is_err());
        assert!(parse_timestamp("").is_err());
    }

    #[test]
    fn dates_and_times_parse_and_format() {
        assert_eq!(parse_date("1970-01-10"), Ok(9));
        assert_eq!(parse_date("1970-01"), Ok(0));
        assert_eq!(parse_date("1990"), Ok(7305));
        assert_eq!(parse_date("1969-12-31"), Ok(-1));
        assert!(parse_date("foo").is_err());
        assert!(parse_date("2021-02-30").is_err());
        assert_eq!(parse_time("00:00:00.010"), Ok(10));
        assert_eq!(parse_time("00:00:01"), Ok(1000));
        assert_eq!(parse_time("00:01"), Ok(60_000));
        assert_eq!(parse_time("10:00:00.001"), Ok(36_000_001));
        assert!(parse_time("foo").is_err());
        assert!(parse_time("25:00").is_err());
        assert_eq!(format_timestamp(10), "1970-01-01T00:00:00.010");
        assert_eq!(
            format_timestamp(1_552_816_800_000),
            "2019-03-17T10:00:00.000"
        );
        assert_eq!(format_date(10), "1970-01-11");
        assert_eq!(format_date(-1), "1969-12-31");
        assert_eq!(format_time(5000), Ok("00:00:05".into()));
        assert_eq!(format_time(36_000_000), Ok("10:00".into()));
        assert_eq!(format_time(1005), Ok("00:00:01".into()));
        assert_eq!(sql_timestamp_to_string(10), "1970-01-01 00:00:00.01");
        assert_eq!(sql_timestamp_to_string(0), "1970-01-01 00:00:00.0");
    }
}
