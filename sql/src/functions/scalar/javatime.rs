//! Java `DateTimeFormatter` patterns (`yyyy-MM-dd'T'HH:mm:ss.SSSX`, `hh:mm a`, `zzz`, ...)
//! compiled into a small formatter/parser of our own, because ksqlDB's date-time
//! functions take Java patterns and chrono's `strftime` cannot express them (fixed-width
//! fractions, adjacent numeric fields such as `yyyyMMdd`, optional sections, zone names).
//!
//! Parsing is case-insensitive (ksqlDB builds its parsers with `parseCaseInsensitive`) and
//! resolves fields like Java's SMART resolver: out-of-range fields fail, a day-of-month past
//! the end of its month is clamped to the last day, `h` without `a` is AM.

use std::str::FromStr;

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetName, Tz};

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct JavaPattern {
    items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Lit(String),
    Field(char, usize),
    Opt(Vec<Item>),
}

/// A time zone as Java's `ZoneId`: a region with rules, or a fixed offset.
#[derive(Debug, Clone, PartialEq)]
pub enum Zone {
    /// A region (`America/Los_Angeles`, `UTC`), with the id as Java prints it.
    Region(Tz, String),
    /// A fixed offset in seconds east of UTC, with its id (`Z`, `+02:00`).
    Offset(i32, String),
}

impl Zone {
    /// UTC as `ZoneId.of("UTC")`.
    pub fn utc() -> Zone {
        Zone::Region(Tz::UTC, "UTC".to_string())
    }

    /// The zone's id (`America/Los_Angeles`, `+02:00`, `Z`).
    pub fn id(&self) -> &str {
        match self {
            Zone::Region(_, id) | Zone::Offset(_, id) => id,
        }
    }

    /// The offset from UTC, in seconds, at the instant `utc`.
    pub fn offset_at(&self, utc: &NaiveDateTime) -> i32 {
        match self {
            Zone::Region(tz, _) => tz.offset_from_utc_datetime(utc).fix().local_minus_utc(),
            Zone::Offset(s, _) => *s,
        }
    }

    /// The short name at the instant `utc` (`PDT`, `BST`, `UTC`; the id for offsets).
    pub fn short_name(&self, utc: &NaiveDateTime) -> String {
        match self {
            Zone::Region(tz, id) => {
                let off = tz.offset_from_utc_datetime(utc);
                match off.abbreviation() {
                    Some(a) if !a.starts_with('+') && !a.starts_with('-') => a.to_string(),
                    _ => id.clone(),
                }
            }
            Zone::Offset(_, id) => id.clone(),
        }
    }

    /// The instant (millis since the epoch) of a local date-time in this zone. A time in a
    /// daylight-saving gap moves forward by the gap, an overlap takes the earlier offset,
    /// as Java's `ZonedDateTime.ofLocal` does.
    pub fn local_to_millis(&self, local: &NaiveDateTime) -> Result<i64, String> {
        let utc_millis = local.and_utc().timestamp_millis();
        match self {
            Zone::Offset(s, _) => Ok(utc_millis - i64::from(*s) * 1000),
            Zone::Region(tz, _) => {
                use chrono::LocalResult;
                match tz.from_local_datetime(local) {
                    LocalResult::Single(dt) | LocalResult::Ambiguous(dt, _) => {
                        Ok(dt.timestamp_millis())
                    }
                    LocalResult::None => {
                        let before = local
                            .checked_sub_signed(chrono::Duration::days(1))
                            .ok_or("local time out of range")?;
                        let off = tz.offset_from_utc_datetime(&before).fix().local_minus_utc();
                        Ok(utc_millis - i64::from(off) * 1000)
                    }
                }
            }
        }
    }
}

/// Java's `ZoneId.SHORT_IDS`, which ksqlDB's documentation promises (`PST`).
const SHORT_IDS: &[(&str, &str)] = &[
    ("ACT", "Australia/Darwin"),
    ("AET", "Australia/Sydney"),
    ("AGT", "America/Argentina/Buenos_Aires"),
    ("ART", "Africa/Cairo"),
    ("AST", "America/Anchorage"),
    ("BET", "America/Sao_Paulo"),
    ("BST", "Asia/Dhaka"),
    ("CAT", "Africa/Harare"),
    ("CNT", "America/St_Johns"),
    ("CST", "America/Chicago"),
    ("CTT", "Asia/Shanghai"),
    ("EAT", "Africa/Addis_Ababa"),
    ("ECT", "Europe/Paris"),
    ("IET", "America/Indiana/Indianapolis"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("MIT", "Pacific/Apia"),
    ("NET", "Asia/Yerevan"),
    ("NST", "Pacific/Auckland"),
    ("PLT", "Asia/Karachi"),
    ("PNT", "America/Phoenix"),
    ("PRT", "America/Puerto_Rico"),
    ("PST", "America/Los_Angeles"),
    ("SST", "Pacific/Guadalcanal"),
    ("VST", "Asia/Ho_Chi_Minh"),
];

/// Zone names as text (`z`) parses them, to the zone Java picks for them.
const ZONE_NAMES: &[(&str, &str)] = &[
    ("PST", "America/Los_Angeles"),
    ("PDT", "America/Los_Angeles"),
    ("PT", "America/Los_Angeles"),
    ("MST", "America/Denver"),
    ("MDT", "America/Denver"),
    ("CST", "America/Chicago"),
    ("CDT", "America/Chicago"),
    ("EST", "America/New_York"),
    ("EDT", "America/New_York"),
    ("AKST", "America/Anchorage"),
    ("AKDT", "America/Anchorage"),
    ("HST", "Pacific/Honolulu"),
    ("BST", "Europe/London"),
    ("WET", "Europe/Lisbon"),
    ("WEST", "Europe/Lisbon"),
    ("CET", "Europe/Paris"),
    ("CEST", "Europe/Paris"),
    ("EET", "Europe/Bucharest"),
    ("EEST", "Europe/Bucharest"),
    ("MSK", "Europe/Moscow"),
    ("IST", "Asia/Kolkata"),
    ("SGT", "Asia/Singapore"),
    ("HKT", "Asia/Hong_Kong"),
    ("JST", "Asia/Tokyo"),
    ("KST", "Asia/Seoul"),
    ("AWST", "Australia/Perth"),
    ("ACST", "Australia/Adelaide"),
    ("ACDT", "Australia/Adelaide"),
    ("AEST", "Australia/Sydney"),
    ("AEDT", "Australia/Sydney"),
    ("NZST", "Pacific/Auckland"),
    ("NZDT", "Pacific/Auckland"),
];

fn region(name: &str) -> Option<Tz> {
    if let Ok(tz) = Tz::from_str(name) {
        return Some(tz);
    }
    chrono_tz::TZ_VARIANTS
        .iter()
        .find(|t| t.name().eq_ignore_ascii_case(name))
        .copied()
}

/// `+h`, `+hh`, `+hhmm`, `+hh:mm`, `+hhmmss`, `+hh:mm:ss` (and `-`), in seconds.
fn parse_offset_id(s: &str) -> Option<i32> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !rest.chars().all(|c| c.is_ascii_digit() || c == ':') {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let colons = rest.matches(':').count();
    let (h, m, sec) = match (digits.len(), colons) {
        (1, 0) | (2, 0) => (digits.parse::<i32>().ok()?, 0, 0),
        (4, 0) | (4, 1) => (digits[..2].parse().ok()?, digits[2..].parse().ok()?, 0),
        (6, 0) | (6, 2) => (
            digits[..2].parse().ok()?,
            digits[2..4].parse().ok()?,
            digits[4..].parse().ok()?,
        ),
        _ => return None,
    };
    if colons == 1 && rest.find(':') != Some(2) {
        return None;
    }
    if h > 18 || m > 59 || sec > 59 {
        return None;
    }
    let total = sign * (h * 3600 + m * 60 + sec);
    if total.abs() > 18 * 3600 {
        return None;
    }
    Some(total)
}

/// The id Java gives a fixed offset (`Z`, `+02:00`, `-05:30:15`).
pub fn offset_id(secs: i32) -> String {
    if secs == 0 {
        return "Z".to_string();
    }
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    if s == 0 {
        format!("{sign}{h:02}:{m:02}")
    } else {
        format!("{sign}{h:02}:{m:02}:{s:02}")
    }
}

/// A zone id as `ZoneId.of` reads it (`UTC`, `America/New_York`, `+0200`, `UTC+2`), plus
/// the legacy short ids (`PST`). Region names also match case-insensitively.
pub fn parse_zone(id: &str) -> Result<Zone, String> {
    let id = id.trim();
    if id == "Z" || id == "z" {
        return Ok(Zone::Offset(0, "Z".to_string()));
    }
    if let Some(secs) = parse_offset_id(id) {
        return Ok(Zone::Offset(secs, offset_id(secs)));
    }
    for prefix in ["UTC", "GMT", "UT"] {
        if let Some(rest) = id.strip_prefix(prefix) {
            if rest.is_empty() {
                break;
            }
            if let Some(secs) = parse_offset_id(rest) {
                let tz_id = format!(
                    "{prefix}{}",
                    if secs == 0 {
                        String::new()
                    } else {
                        offset_id(secs)
                    }
                );
                return Ok(Zone::Offset(secs, tz_id));
            }
        }
    }
    if let Some(tz) = region(id) {
        return Ok(Zone::Region(tz, tz.name().to_string()));
    }
    if let Some((_, full)) = SHORT_IDS.iter().find(|(s, _)| s.eq_ignore_ascii_case(id)) {
        if let Some(tz) = region(full) {
            return Ok(Zone::Region(tz, tz.name().to_string()));
        }
    }
    Err(format!("Unknown time-zone ID: {id}"))
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl JavaPattern {
    /// Compiles a pattern; errors read like Java's (`Unknown pattern letter: t`).
    pub fn compile(pattern: &str) -> Result<JavaPattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            let top = stack.len() - 1;
            if c.is_ascii_alphabetic() {
                let mut n = 1;
                while i + n < chars.len() && chars[i + n] == c {
                    n += 1;
                }
                validate_letter(c, n)?;
                stack[top].push(Item::Field(c, n));
                i += n;
            } else if c == '\'' {
                let mut j = i + 1;
                let mut lit = String::new();
                if j < chars.len() && chars[j] == '\'' {
                    stack[top].push(Item::Lit("'".to_string()));
                    i = j + 1;
                    continue;
                }
                loop {
                    if j >= chars.len() {
                        return Err(format!(
                            "Pattern ends with an incomplete string literal: {pattern}"
                        ));
                    }
                    if chars[j] == '\'' {
                        if j + 1 < chars.len() && chars[j + 1] == '\'' {
                            lit.push('\'');
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    lit.push(chars[j]);
                    j += 1;
                }
                stack[top].push(Item::Lit(lit));
                i = j + 1;
            } else if c == '[' {
                stack.push(Vec::new());
                i += 1;
            } else if c == ']' {
                if stack.len() == 1 {
                    return Err("Pattern invalid as it contains ] without previous [".to_string());
                }
                let inner = stack.pop().unwrap_or_default();
                let top = stack.len() - 1;
                stack[top].push(Item::Opt(inner));
                i += 1;
            } else if c == '{' || c == '}' || c == '#' {
                return Err(format!("Pattern includes reserved character: '{c}'"));
            } else {
                stack[top].push(Item::Lit(c.to_string()));
                i += 1;
            }
        }
        while stack.len() > 1 {
            let inner = stack.pop().unwrap_or_default();
            let top = stack.len() - 1;
            stack[top].push(Item::Opt(inner));
        }
        Ok(JavaPattern {
            items: stack.pop().unwrap_or_default(),
        })
    }

    /// Formats the fields that are available; a field that is not (a date field for a
    /// TIME) fails like Java's `UnsupportedTemporalTypeException`.
    pub fn format(&self, t: &Temporal) -> Result<String, String> {
        let mut out = String::new();
        format_items(&self.items, t, &mut out)?;
        Ok(out)
    }

    /// Parses the start of `text` into fields, ignoring any text after the pattern (as
    /// Java's `DateTimeFormatter.parse(text, new ParsePosition(0))`).
    pub fn parse_prefix(&self, text: &str) -> Result<Parsed, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut parsed = Parsed::default();
        parse_items(&self.items, &chars, 0, &mut parsed)
            .map_err(|e| format!("Text '{text}' could not be parsed: {e}"))?;
        Ok(parsed)
    }

    /// Parses `text` completely into fields.
    pub fn parse(&self, text: &str) -> Result<Parsed, String> {
        let chars: Vec<char> = text.chars().collect();
        let mut parsed = Parsed::default();
        let end = parse_items(&self.items, &chars, 0, &mut parsed)
            .map_err(|e| format!("Text '{text}' could not be parsed: {e}"))?;
        if end != chars.len() {
            return Err(format!(
                "Text '{text}' could not be parsed, unparsed text found at index {end}"
            ));
        }
        Ok(parsed)
    }
}

fn validate_letter(c: char, n: usize) -> Result<(), String> {
    let max = match c {
        'G' | 'M' | 'L' | 'Q' | 'q' | 'E' | 'e' | 'c' | 'X' | 'x' | 'Z' => 5,
        'y' | 'u' | 'Y' | 'A' | 'n' | 'N' => 19,
        'D' => 3,
        'd' | 'h' | 'K' | 'k' | 'H' | 'm' | 's' | 'w' => 2,
        'S' => 9,
        'F' | 'W' | 'a' => 1,
        'V' => 2,
        'z' | 'O' | 'v' => 4,
        _ => return Err(format!("Unknown pattern letter: {c}")),
    };
    if n > max || (c == 'V' && n != 2) || (c == 'O' && n != 1 && n != 4) || (c == 'c' && n == 2) {
        return Err(format!("Too many pattern letters: {c}"));
    }
    Ok(())
}

/// What a pattern formats: a date, a time of day, and a zone with its offset at that
/// instant, each optional.
#[derive(Debug, Clone, Default)]
pub struct Temporal {
    pub date: Option<NaiveDate>,
    pub time: Option<NaiveTime>,
    /// The offset in seconds, with the zone it comes from.
    pub offset: Option<i32>,
    pub zone_id: Option<String>,
    pub zone_short: Option<String>,
}

impl Temporal {
    /// An instant shown in `zone`.
    pub fn at_zone(millis: i64, zone: &Zone) -> Result<Temporal, String> {
        let utc = chrono::DateTime::from_timestamp_millis(millis)
            .ok_or_else(|| format!("timestamp {millis} is out of range"))?
            .naive_utc();
        let off = zone.offset_at(&utc);
        let local = utc
            .checked_add_signed(chrono::Duration::seconds(i64::from(off)))
            .ok_or_else(|| format!("timestamp {millis} is out of range"))?;
        Ok(Temporal {
            date: Some(local.date()),
            time: Some(local.time()),
            offset: Some(off),
            zone_id: Some(zone.id().to_string()),
            zone_short: Some(zone.short_name(&utc)),
        })
    }
}

fn unsupported(c: char) -> String {
    let field = match c {
        'G' => "Era",
        'u' | 'y' | 'Y' => "YearOfEra",
        'D' => "DayOfYear",
        'M' | 'L' => "MonthOfYear",
        'd' => "DayOfMonth",
        'Q' | 'q' => "QuarterOfYear",
        'E' | 'e' | 'c' => "DayOfWeek",
        'w' | 'W' | 'F' => "WeekOfYear",
        'a' => "AmPmOfDay",
        'h' => "ClockHourOfAmPm",
        'K' => "HourOfAmPm",
        'k' => "ClockHourOfDay",
        'H' => "HourOfDay",
        'm' => "MinuteOfHour",
        's' => "SecondOfMinute",
        'S' | 'n' => "NanoOfSecond",
        'A' => "MilliOfDay",
        'N' => "NanoOfDay",
        _ => "OffsetSeconds",
    };
    format!("Unsupported field: {field}")
}

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let s = v.unsigned_abs().to_string();
    for _ in s.len()..width {
        out.push('0');
    }
    out.push_str(&s);
}

fn format_offset(out: &mut String, secs: i32, colon: bool, with_secs: bool, hour_only_ok: bool) {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    let (h, m, s) = (a / 3600, a / 60 % 60, a % 60);
    out.push(sign);
    out.push_str(&format!("{h:02}"));
    if hour_only_ok && m == 0 && s == 0 {
        return;
    }
    if colon {
        out.push(':');
    }
    out.push_str(&format!("{m:02}"));
    if with_secs && s != 0 {
        if colon {
            out.push(':');
        }
        out.push_str(&format!("{s:02}"));
    }
}

fn format_items(items: &[Item], t: &Temporal, out: &mut String) -> Result<(), String> {
    for item in items {
        match item {
            Item::Lit(s) => out.push_str(s),
            Item::Opt(inner) => {
                let mut buf = String::new();
                if format_items(inner, t, &mut buf).is_ok() {
                    out.push_str(&buf);
                }
            }
            Item::Field(c, n) => format_field(*c, *n, t, out)?,
        }
    }
    Ok(())
}

fn format_field(c: char, n: usize, t: &Temporal, out: &mut String) -> Result<(), String> {
    let date = || t.date.ok_or_else(|| unsupported(c));
    let time = || t.time.ok_or_else(|| unsupported(c));
    let offset = || t.offset.ok_or_else(|| unsupported(c));
    match c {
        'G' => {
            let ce = date()?.year() > 0;
            out.push_str(match (n, ce) {
                (4, true) => "Anno Domini",
                (4, false) => "Before Christ",
                (5, true) => "A",
                (5, false) => "B",
                (_, true) => "AD",
                (_, false) => "BC",
            });
        }
        'y' | 'u' | 'Y' => {
            let d = date()?;
            let year = match c {
                'Y' => i64::from(d.iso_week().year()),
                _ => i64::from(d.year()),
            };
            let v = if c == 'u' || year > 0 { year } else { 1 - year };
            if n == 2 {
                pad(out, v.rem_euclid(100), 2);
            } else {
                if n >= 4 && v > 9999 {
                    out.push('+');
                }
                pad(out, v, n);
            }
        }
        'D' => pad(out, i64::from(date()?.ordinal()), n),
        'M' | 'L' => {
            let m = date()?.month();
            let name = MONTHS[(m as usize).saturating_sub(1) % 12];
            match n {
                1 | 2 => pad(out, i64::from(m), n),
                3 => out.push_str(&name[..3]),
                4 => out.push_str(name),
                _ => out.push_str(&name[..1]),
            }
        }
        'd' => pad(out, i64::from(date()?.day()), n),
        'Q' | 'q' => {
            let q = (date()?.month() - 1) / 3 + 1;
            match n {
                1 | 2 => pad(out, i64::from(q), n),
                3 => out.push_str(&format!("Q{q}")),
                4 => out.push_str(
                    ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"]
                        [(q as usize - 1) % 4],
                ),
                _ => pad(out, i64::from(q), 1),
            }
        }
        'E' | 'e' | 'c' => {
            let wd = date()?.weekday().num_days_from_monday() as usize;
            let name = DAYS[wd % 7];
            match (c, n) {
                ('e' | 'c', 1 | 2) => pad(out, wd as i64 + 1, n),
                (_, 4) => out.push_str(name),
                (_, 5) => out.push_str(&name[..1]),
                _ => out.push_str(&name[..3]),
            }
        }
        'w' => pad(out, i64::from(date()?.iso_week().week()), n),
        'W' => pad(out, i64::from((date()?.day() - 1) / 7 + 1), n),
        'F' => pad(out, i64::from((date()?.day() - 1) / 7 + 1), n),
        'a' => out.push_str(if time()?.hour() < 12 { "AM" } else { "PM" }),
        'h' => {
            let h = time()?.hour() % 12;
            pad(out, i64::from(if h == 0 { 12 } else { h }), n)
        }
        'K' => pad(out, i64::from(time()?.hour() % 12), n),
        'k' => {
            let h = time()?.hour();
            pad(out, i64::from(if h == 0 { 24 } else { h }), n)
        }
        'H' => pad(out, i64::from(time()?.hour()), n),
        'm' => pad(out, i64::from(time()?.minute()), n),
        's' => pad(out, i64::from(time()?.second()), n),
        'S' => {
            let nanos = format!("{:09}", time()?.nanosecond().min(999_999_999));
            out.push_str(&nanos[..n.min(9)]);
        }
        'A' => {
            let tm = time()?;
            let ms = i64::from(tm.num_seconds_from_midnight()) * 1000
                + i64::from(tm.nanosecond() / 1_000_000);
            pad(out, ms, n)
        }
        'n' => pad(out, i64::from(time()?.nanosecond()), n),
        'N' => {
            let tm = time()?;
            let ns = i64::from(tm.num_seconds_from_midnight()) * 1_000_000_000
                + i64::from(tm.nanosecond());
            pad(out, ns, n)
        }
        'V' => out.push_str(t.zone_id.as_deref().ok_or_else(|| unsupported(c))?),
        'v' | 'z' => {
            let name = if n == 4 {
                t.zone_id.as_deref()
            } else {
                t.zone_short.as_deref()
            };
            out.push_str(name.ok_or_else(|| unsupported(c))?)
        }
        'O' => {
            let off = offset()?;
            out.push_str("GMT");
            if off != 0 {
                if n == 4 {
                    format_offset(out, off, true, true, false);
                } else {
                    let sign = if off < 0 { '-' } else { '+' };
                    let a = off.unsigned_abs();
                    out.push(sign);
                    out.push_str(&(a / 3600).to_string());
                    if a % 3600 != 0 {
                        out.push_str(&format!(":{:02}", a / 60 % 60));
                    }
                }
            }
        }
        'X' | 'x' => {
            let off = offset()?;
            if off == 0 && c == 'X' {
                out.push('Z');
            } else {
                match n {
                    1 => format_offset(out, off, false, false, true),
                    2 => format_offset(out, off, false, false, false),
                    3 => format_offset(out, off, true, false, false),
                    4 => format_offset(out, off, false, true, false),
                    _ => format_offset(out, off, true, true, false),
                }
            }
        }
        'Z' => {
            let off = offset()?;
            match n {
                4 => {
                    out.push_str("GMT");
                    if off != 0 {
                        format_offset(out, off, true, true, false);
                    }
                }
                5 if off == 0 => out.push('Z'),
                5 => format_offset(out, off, true, true, false),
                _ => format_offset(out, off, false, false, false),
            }
        }
        other => return Err(format!("Unknown pattern letter: {other}")),
    }
    Ok(())
}

/// The fields a parse found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    era: Option<i64>,
    year_of_era: Option<i64>,
    year: Option<i64>,
    week_year: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    day_of_week: Option<i64>,
    quarter: Option<i64>,
    week: Option<i64>,
    ampm: Option<i64>,
    hour_of_day: Option<i64>,
    clock_hour_of_day: Option<i64>,
    hour_of_ampm: Option<i64>,
    clock_hour_of_ampm: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    nano: Option<i64>,
    milli_of_day: Option<i64>,
    nano_of_day: Option<i64>,
    offset: Option<i32>,
    zone: Option<Zone>,
}

fn set(slot: &mut Option<i64>, v: i64, name: &str) -> Result<(), String> {
    match slot {
        Some(old) if *old != v => Err(format!("Conflict found: {name} {old} differs from {v}")),
        _ => {
            *slot = Some(v);
            Ok(())
        }
    }
}

fn check(v: i64, lo: i64, hi: i64, name: &str) -> Result<i64, String> {
    if v < lo || v > hi {
        Err(format!(
            "Invalid value for {name} (valid values {lo} - {hi}): {v}"
        ))
    } else {
        Ok(v)
    }
}

impl Parsed {
    /// Whether a date-based field was parsed (PARSE_TIME rejects those).
    pub fn has_date_fields(&self) -> bool {
        self.era.is_some()
            || self.year_of_era.is_some()
            || self.year.is_some()
            || self.week_year.is_some()
            || self.month.is_some()
            || self.day.is_some()
            || self.day_of_year.is_some()
            || self.day_of_week.is_some()
            || self.quarter.is_some()
            || self.week.is_some()
    }

    /// Whether a time-based field was parsed (PARSE_DATE rejects those).
    pub fn has_time_fields(&self) -> bool {
        self.ampm.is_some()
            || self.hour_of_day.is_some()
            || self.clock_hour_of_day.is_some()
            || self.hour_of_ampm.is_some()
            || self.clock_hour_of_ampm.is_some()
            || self.minute.is_some()
            || self.second.is_some()
            || self.nano.is_some()
            || self.milli_of_day.is_some()
            || self.nano_of_day.is_some()
    }

    /// The zone or offset found in the text.
    pub fn zone(&self) -> Option<Zone> {
        if let Some(z) = &self.zone {
            return Some(z.clone());
        }
        self.offset.map(|s| Zone::Offset(s, offset_id(s)))
    }

    fn resolved_year(&self) -> Result<Option<i64>, String> {
        if let Some(y) = self.year {
            return Ok(Some(y));
        }
        match self.year_of_era {
            Some(yoe) => {
                let yoe = check(yoe, 1, 999_999_999, "YearOfEra")?;
                Ok(Some(if self.era == Some(0) { 1 - yoe } else { yoe }))
            }
            None => Ok(None),
        }
    }

    fn hour(&self) -> Result<Option<i64>, String> {
        if let Some(h) = self.hour_of_day {
            return Ok(Some(check(h, 0, 23, "HourOfDay")?));
        }
        if let Some(k) = self.clock_hour_of_day {
            let k = check(k, 1, 24, "ClockHourOfDay")?;
            return Ok(Some(if k == 24 { 0 } else { k }));
        }
        let ampm = self.ampm.unwrap_or(0);
        if let Some(h) = self.clock_hour_of_ampm {
            let h = check(h, 1, 12, "ClockHourOfAmPm")?;
            return Ok(Some(h % 12 + 12 * ampm));
        }
        if let Some(h) = self.hour_of_ampm {
            let h = check(h, 0, 11, "HourOfAmPm")?;
            return Ok(Some(h + 12 * ampm));
        }
        Ok(None)
    }

    fn validated_month_day(&self, year: i64) -> Result<(u32, u32), String> {
        let month = check(self.month.unwrap_or(1), 1, 12, "MonthOfYear")? as u32;
        let day = check(self.day.unwrap_or(1), 1, 31, "DayOfMonth")? as u32;
        let len = month_length(year, month);
        Ok((month, day.min(len)))
    }

    fn date_from(&self, year: i64) -> Result<NaiveDate, String> {
        let y = i32::try_from(year).map_err(|_| format!("Invalid value for Year: {year}"))?;
        let date = if let Some(doy) = self.day_of_year {
            let doy = check(doy, 1, 366, "DayOfYear")? as u32;
            NaiveDate::from_yo_opt(y, doy).ok_or_else(|| {
                format!("Invalid date 'DayOfYear 366' as '{y}' is not a leap year")
            })?
        } else {
            let (m, d) = self.validated_month_day(year)?;
            NaiveDate::from_ymd_opt(y, m, d).ok_or_else(|| format!("Invalid date {y}-{m}-{d}"))?
        };
        if let Some(dow) = self.day_of_week {
            let dow = check(dow, 1, 7, "DayOfWeek")?;
            if i64::from(date.weekday().number_from_monday()) != dow {
                return Err(format!(
                    "Conflict found: DayOfWeek {dow} differs from {date}"
                ));
            }
        }
        Ok(date)
    }

    /// The date, when the fields determine one (year with month and day, or with day of
    /// year); `Ok(None)` when they do not.
    pub fn date(&self) -> Result<Option<NaiveDate>, String> {
        let Some(year) = self.resolved_year()? else {
            return Ok(None);
        };
        if self.day_of_year.is_none() && (self.month.is_none() || self.day.is_none()) {
            return Ok(None);
        }
        self.date_from(year).map(Some)
    }

    /// The time of day, when an hour (or milli/nano of day) was parsed; minutes, seconds
    /// and fractions default to zero.
    pub fn time(&self) -> Result<Option<NaiveTime>, String> {
        if let Some(nod) = self.nano_of_day {
            let nod = check(nod, 0, 86_399_999_999_999, "NanoOfDay")?;
            return Ok(NaiveTime::from_num_seconds_from_midnight_opt(
                (nod / 1_000_000_000) as u32,
                (nod % 1_000_000_000) as u32,
            ));
        }
        if let Some(mod_) = self.milli_of_day {
            let mod_ = check(mod_, 0, 86_399_999, "MilliOfDay")?;
            return Ok(NaiveTime::from_num_seconds_from_midnight_opt(
                (mod_ / 1000) as u32,
                (mod_ % 1000) as u32 * 1_000_000,
            ));
        }
        let Some(h) = self.hour()? else {
            return Ok(None);
        };
        self.time_with_hour(h).map(Some)
    }

    fn time_with_hour(&self, h: i64) -> Result<NaiveTime, String> {
        let m = check(self.minute.unwrap_or(0), 0, 59, "MinuteOfHour")?;
        let s = check(self.second.unwrap_or(0), 0, 59, "SecondOfMinute")?;
        let n = check(self.nano.unwrap_or(0), 0, 999_999_999, "NanoOfSecond")?;
        NaiveTime::from_hms_nano_opt(h as u32, m as u32, s as u32, n as u32)
            .ok_or_else(|| "Invalid time".to_string())
    }

    /// The local date-time ksqlDB's timestamp parser builds: 1970-01-01T00:00 with every
    /// parsed field overriding its part.
    pub fn local_datetime(&self) -> Result<NaiveDateTime, String> {
        let year = match self.resolved_year()? {
            Some(y) => y,
            None => {
                if self.day_of_year == Some(366) {
                    return Err(
                        "Leap day cannot be parsed without supplying the year field".to_string()
                    );
                }
                1970
            }
        };
        let date = self.date_from(year)?;
        let time = match self.time()? {
            Some(t) => t,
            None => self.time_with_hour(self.ampm.map(|a| a * 12).unwrap_or(0))?,
        };
        Ok(NaiveDateTime::new(date, time))
    }
}

fn month_length(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
        _ => 31,
    }
}

/// Width rules of a numeric field while parsing: (min, max) digits.
fn numeric_width(c: char, n: usize) -> Option<(usize, usize)> {
    match c {
        'y' | 'u' | 'Y' => Some(match n {
            1 => (1, 18),
            2 => (2, 2),
            _ => (n, 18.max(n)),
        }),
        'M' | 'L' | 'Q' | 'q' if n <= 2 => Some(if n == 1 { (1, 18) } else { (2, 2) }),
        'd' | 'h' | 'K' | 'k' | 'H' | 'm' | 's' | 'w' => {
            Some(if n == 1 { (1, 18) } else { (2, 2) })
        }
        'D' => Some(match n {
            1 => (1, 18),
            2 => (2, 3),
            _ => (3, 3),
        }),
        'e' | 'c' if n <= 2 => Some((n, n)),
        'W' | 'F' => Some((1, 1)),
        'S' => Some((n, n)),
        'A' | 'n' | 'N' => Some(if n == 1 { (1, 18) } else { (n, 18.max(n)) }),
        _ => None,
    }
}

fn parse_items(
    items: &[Item],
    text: &[char],
    mut pos: usize,
    parsed: &mut Parsed,
) -> Result<usize, String> {
    for (idx, item) in items.iter().enumerate() {
        match item {
            Item::Lit(s) => {
                for lc in s.chars() {
                    match text.get(pos) {
                        Some(tc) if eq_ci(*tc, lc) => pos += 1,
                        _ => return Err(format!("expected '{s}' at index {pos}")),
                    }
                }
            }
            Item::Opt(inner) => {
                let mut attempt = parsed.clone();
                if let Ok(p) = parse_items(inner, text, pos, &mut attempt) {
                    *parsed = attempt;
                    pos = p;
                }
            }
            Item::Field(c, n) => {
                pos = parse_field(*c, *n, text, pos, &items[idx + 1..], parsed)?;
            }
        }
    }
    Ok(pos)
}

fn eq_ci(a: char, b: char) -> bool {
    a == b || a.to_lowercase().eq(b.to_lowercase())
}

/// Digits the fixed-width numeric fields right after a variable-width one need
/// (Java's adjacent value parsing, so `yyyyMMdd` reads `20220614`).
fn reserved_width(rest: &[Item]) -> usize {
    let mut total = 0;
    for item in rest {
        match item {
            Item::Field(c, n) => match numeric_width(*c, *n) {
                Some((min, max)) if min == max => total += min,
                _ => break,
            },
            _ => break,
        }
    }
    total
}

fn parse_field(
    c: char,
    n: usize,
    text: &[char],
    pos: usize,
    rest: &[Item],
    p: &mut Parsed,
) -> Result<usize, String> {
    if let Some((min, max)) = numeric_width(c, n) {
        if !((c == 'M' || c == 'L' || c == 'Q' || c == 'q') && n >= 3) {
            return parse_number(c, n, min, max, text, pos, rest, p);
        }
    }
    match c {
        'G' => {
            let options: &[(&str, i64)] = match n {
                4 => &[("Anno Domini", 1), ("Before Christ", 0)],
                5 => &[("A", 1), ("B", 0)],
                _ => &[("AD", 1), ("BC", 0)],
            };
            let (v, end) = match_text(text, pos, options)?;
            set(&mut p.era, v, "Era")?;
            Ok(end)
        }
        'M' | 'L' => {
            let names: Vec<(String, i64)> = MONTHS
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    let s = match n {
                        3 => m[..3].to_string(),
                        4 => (*m).to_string(),
                        _ => m[..1].to_string(),
                    };
                    (s, i as i64 + 1)
                })
                .collect();
            let refs: Vec<(&str, i64)> = names.iter().map(|(s, v)| (s.as_str(), *v)).collect();
            let (v, end) = match_text(text, pos, &refs)?;
            set(&mut p.month, v, "MonthOfYear")?;
            Ok(end)
        }
        'Q' | 'q' => {
            let options: Vec<(String, i64)> = (1..=4)
                .map(|q| {
                    let s = if n == 3 {
                        format!("Q{q}")
                    } else {
                        ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"]
                            [(q - 1) as usize]
                            .to_string()
                    };
                    (s, q)
                })
                .collect();
            let refs: Vec<(&str, i64)> = options.iter().map(|(s, v)| (s.as_str(), *v)).collect();
            let (v, end) = match_text(text, pos, &refs)?;
            set(&mut p.quarter, v, "QuarterOfYear")?;
            Ok(end)
        }
        'E' | 'e' | 'c' => {
            let names: Vec<(String, i64)> = DAYS
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    let s = match n {
                        4 => (*d).to_string(),
                        5 => d[..1].to_string(),
                        _ => d[..3].to_string(),
                    };
                    (s, i as i64 + 1)
                })
                .collect();
            let refs: Vec<(&str, i64)> = names.iter().map(|(s, v)| (s.as_str(), *v)).collect();
            let (v, end) = match_text(text, pos, &refs)?;
            set(&mut p.day_of_week, v, "DayOfWeek")?;
            Ok(end)
        }
        'a' => {
            let (v, end) = match_text(text, pos, &[("AM", 0), ("PM", 1)])?;
            set(&mut p.ampm, v, "AmPmOfDay")?;
            Ok(end)
        }
        'X' | 'x' | 'Z' | 'O' => {
            let (secs, end) = parse_offset_text(c, n, text, pos)?;
            if let Some(old) = p.offset {
                if old != secs {
                    return Err("Conflict found: offsets differ".to_string());
                }
            }
            p.offset = Some(secs);
            Ok(end)
        }
        'V' | 'z' | 'v' => {
            let (zone, end) = parse_zone_text(c, text, pos)?;
            p.zone = Some(zone);
            Ok(end)
        }
        other => Err(format!("Unknown pattern letter: {other}")),
    }
}

#[allow(clippy::too_many_arguments)]
fn parse_number(
    c: char,
    n: usize,
    min: usize,
    max: usize,
    text: &[char],
    pos: usize,
    rest: &[Item],
    p: &mut Parsed,
) -> Result<usize, String> {
    let mut start = pos;
    let mut negative = false;
    if matches!(c, 'y' | 'u' | 'Y') && n != 2 {
        match text.get(pos) {
            Some('-') if c == 'u' => {
                negative = true;
                start += 1;
            }
            Some('+') => start += 1,
            _ => {}
        }
    }
    let available = text[start.min(text.len())..]
        .iter()
        .take_while(|ch| ch.is_ascii_digit())
        .count();
    let take = if min == max {
        min
    } else {
        let reserved = reserved_width(rest);
        available.saturating_sub(reserved).min(max)
    };
    if take < min || take > available || take == 0 {
        return Err(format!("expected a number at index {pos}"));
    }
    let digits: String = text[start..start + take].iter().collect();
    let end = start + take;
    if c == 'S' {
        let mut nanos = digits.clone();
        while nanos.len() < 9 {
            nanos.push('0');
        }
        let v: i64 = nanos[..9].parse().map_err(|_| "bad fraction".to_string())?;
        set(&mut p.nano, v, "NanoOfSecond")?;
        return Ok(end);
    }
    let mut v: i64 = digits
        .parse()
        .map_err(|_| format!("number out of range at index {pos}"))?;
    if negative {
        v = -v;
    }
    match c {
        'y' if n == 2 => set(&mut p.year, 2000 + v, "Year")?,
        'u' if n == 2 => set(&mut p.year, 2000 + v, "Year")?,
        'y' => set(&mut p.year_of_era, v, "YearOfEra")?,
        'u' => set(&mut p.year, v, "Year")?,
        'Y' => set(
            &mut p.week_year,
            if n == 2 { 2000 + v } else { v },
            "WeekBasedYear",
        )?,
        'M' | 'L' => set(&mut p.month, v, "MonthOfYear")?,
        'Q' | 'q' => set(&mut p.quarter, v, "QuarterOfYear")?,
        'd' => set(&mut p.day, v, "DayOfMonth")?,
        'D' => set(&mut p.day_of_year, v, "DayOfYear")?,
        'e' | 'c' => set(&mut p.day_of_week, v, "DayOfWeek")?,
        'w' | 'W' | 'F' => set(&mut p.week, v, "WeekOfYear")?,
        'h' => set(&mut p.clock_hour_of_ampm, v, "ClockHourOfAmPm")?,
        'K' => set(&mut p.hour_of_ampm, v, "HourOfAmPm")?,
        'k' => set(&mut p.clock_hour_of_day, v, "ClockHourOfDay")?,
        'H' => set(&mut p.hour_of_day, v, "HourOfDay")?,
        'm' => set(&mut p.minute, v, "MinuteOfHour")?,
        's' => set(&mut p.second, v, "SecondOfMinute")?,
        'A' => set(&mut p.milli_of_day, v, "MilliOfDay")?,
        'n' => set(&mut p.nano, v, "NanoOfSecond")?,
        'N' => set(&mut p.nano_of_day, v, "NanoOfDay")?,
        other => return Err(format!("Unknown pattern letter: {other}")),
    }
    Ok(end)
}

/// The longest option matching at `pos`, case-insensitively.
fn match_text(text: &[char], pos: usize, options: &[(&str, i64)]) -> Result<(i64, usize), String> {
    let mut best: Option<(i64, usize)> = None;
    for (name, v) in options {
        let len = name.chars().count();
        if pos + len > text.len() {
            continue;
        }
        if text[pos..pos + len]
            .iter()
            .zip(name.chars())
            .all(|(a, b)| eq_ci(*a, b))
            && best.is_none_or(|(_, l)| len > l)
        {
            best = Some((*v, len));
        }
    }
    best.map(|(v, len)| (v, pos + len))
        .ok_or_else(|| format!("unrecognised text at index {pos}"))
}

fn two_digits(text: &[char], pos: usize) -> Option<i32> {
    let a = text.get(pos)?.to_digit(10)?;
    let b = text.get(pos + 1)?.to_digit(10)?;
    Some((a * 10 + b) as i32)
}

/// An offset as pattern letter `c` repeated `n` times reads it.
fn parse_offset_text(c: char, n: usize, text: &[char], pos: usize) -> Result<(i32, usize), String> {
    let err = || format!("expected an offset at index {pos}");
    let mut i = pos;
    if c == 'O' || (c == 'Z' && n == 4) {
        for lc in "GMT".chars() {
            match text.get(i) {
                Some(tc) if eq_ci(*tc, lc) => i += 1,
                _ => return Err(err()),
            }
        }
        if !matches!(text.get(i), Some('+') | Some('-')) {
            return Ok((0, i));
        }
    }
    if matches!(text.get(i), Some('Z') | Some('z')) && c != 'O' {
        return Ok((0, i + 1));
    }
    let sign = match text.get(i) {
        Some('+') => 1,
        Some('-') => -1,
        _ => return Err(err()),
    };
    i += 1;
    let colon = match c {
        'X' | 'x' => n == 3 || n == 5,
        'Z' => n >= 4,
        _ => true,
    };
    // Hours: two digits (one is accepted for the localized GMT forms).
    let h = match two_digits(text, i) {
        Some(h) => {
            i += 2;
            h
        }
        None if c == 'O' || (c == 'Z' && n == 4) => {
            let d = text.get(i).and_then(|ch| ch.to_digit(10)).ok_or_else(err)? as i32;
            i += 1;
            d
        }
        None => return Err(err()),
    };
    let mut m = 0;
    let mut s = 0;
    let minutes_optional = (c == 'X' || c == 'x') && n == 1 || c == 'O' || (c == 'Z' && n == 4);
    let mut j = i;
    if colon && text.get(j) == Some(&':') {
        j += 1;
    }
    if let Some(mm) = two_digits(text, j).filter(|_| !colon || j > i) {
        m = mm;
        i = j + 2;
        let mut k = i;
        if colon && text.get(k) == Some(&':') {
            k += 1;
        }
        if (n == 4 || n == 5 || c == 'O') && (!colon || k > i) {
            if let Some(ss) = two_digits(text, k) {
                s = ss;
                i = k + 2;
            }
        }
    } else if !minutes_optional {
        return Err(err());
    }
    if h > 18 || m > 59 || s > 59 {
        return Err(err());
    }
    Ok((sign * (h * 3600 + m * 60 + s), i))
}

fn parse_zone_text(c: char, text: &[char], pos: usize) -> Result<(Zone, usize), String> {
    let err = || format!("expected a time-zone at index {pos}");
    if c == 'z' || c == 'v' {
        // Zone names first, the longest that matches.
        let mut best: Option<(&str, usize)> = None;
        for (name, id) in ZONE_NAMES {
            let len = name.len();
            if pos + len <= text.len()
                && text[pos..pos + len]
                    .iter()
                    .zip(name.chars())
                    .all(|(a, b)| eq_ci(*a, b))
                && !text
                    .get(pos + len)
                    .is_some_and(|ch| ch.is_ascii_alphabetic())
                && best.is_none_or(|(_, l)| len > l)
            {
                best = Some((id, len));
            }
        }
        if let Some((id, len)) = best {
            let zone = parse_zone(id)?;
            return Ok((zone, pos + len));
        }
    }
    let run = text[pos.min(text.len())..]
        .iter()
        .take_while(|ch| {
            ch.is_ascii_alphanumeric() || matches!(ch, '/' | '_' | '+' | '-' | ':' | '.' | '~')
        })
        .count();
    for len in (1..=run).rev() {
        let candidate: String = text[pos..pos + len].iter().collect();
        if let Ok(zone) = parse_zone(&candidate) {
            return Ok((zone, pos + len));
        }
    }
    Err(err())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(pattern: &str, text: &str) -> Result<i64, String> {
        let p = JavaPattern::compile(pattern)?.parse(text)?;
        let zone = p.zone().unwrap_or_else(Zone::utc);
        zone.local_to_millis(&p.local_datetime()?)
    }

    fn fmt(pattern: &str, millis: i64, zone: &str) -> String {
        let z = parse_zone(zone).unwrap();
        JavaPattern::compile(pattern)
            .unwrap()
            .format(&Temporal::at_zone(millis, &z).unwrap())
            .unwrap()
    }

    #[test]
    fn parses_iso_like_patterns_with_offsets() {
        assert_eq!(
            ts("yyyy-MM-dd'T'HH:mm:ssX", "2018-05-11T21:58:33Z"),
            Ok(1526075913000)
        );
        assert_eq!(
            ts("yyyy-MM-dd'T'HH:mm:ssX", "2020-05-11T21:58:33z"),
            Ok(1589234313000)
        );
        assert_eq!(
            ts("yyyy-MM-dd'T'HH:mm:ss.SX", "2019-08-27T13:31:09.2+0000"),
            Ok(1566912669200)
        );
        assert_eq!(
            ts("yyyy-MM-dd'T'HH:mm:ss", "2020-05-11T21:58:33"),
            Ok(1589234313000)
        );
    }

    #[test]
    fn parses_zone_names_with_daylight_saving() {
        assert_eq!(
            ts("yyyy-MM-dd'T'HH:mm:ss zzz", "2018-05-11T21:58:33 PST"),
            Ok(1526101113000)
        );
    }

    #[test]
    fn adjacent_numeric_fields_share_digits() {
        let p = JavaPattern::compile("yyyyMMdd")
            .unwrap()
            .parse("20220614")
            .unwrap();
        assert_eq!(p.date().unwrap(), NaiveDate::from_ymd_opt(2022, 6, 14));
    }

    #[test]
    fn twelve_hour_clock_is_case_insensitive() {
        let p = JavaPattern::compile("hh:mm:ss a").unwrap();
        let t = p.parse("01:00:00 Pm").unwrap().time().unwrap().unwrap();
        assert_eq!(t, NaiveTime::from_hms_opt(13, 0, 0).unwrap());
        let lit = JavaPattern::compile("HH:mm:ss'Lit'").unwrap();
        let t = lit.parse("00:01:05Lit").unwrap().time().unwrap().unwrap();
        assert_eq!(t, NaiveTime::from_hms_opt(0, 1, 5).unwrap());
    }

    #[test]
    fn formats_zone_names_and_offsets() {
        assert_eq!(
            fmt(
                "yyyy-MM-dd HH:mm:ss zzz",
                1526075913000,
                "America/Los_Angeles"
            ),
            "2018-05-11 14:58:33 PDT"
        );
        assert_eq!(
            fmt("yyyy-MM-dd HH:mm:ss zzz", 1526075913000, "Europe/London"),
            "2018-05-11 22:58:33 BST"
        );
        assert_eq!(
            fmt("yyyy-MM-dd HH:mm:ss Z", 1580223282000, "UTC"),
            "2020-01-28 14:54:42 +0000"
        );
        assert_eq!(fmt("XXX", 0, "+05:30"), "+05:30");
        assert_eq!(fmt("X", 0, "UTC"), "Z");
        assert_eq!(fmt("EEE, MMM d yyyy", 0, "UTC"), "Thu, Jan 1 1970");
    }

    #[test]
    fn bad_patterns_and_texts_are_errors() {
        assert!(JavaPattern::compile("yyyy-MM-dd't").is_err());
        assert!(JavaPattern::compile("bb").is_err());
        assert!(JavaPattern::compile("HHH").is_err());
        assert!(ts("yyyy-MM-dd", "2020-13-01").is_err());
        assert!(ts("yyyy-MM-dd", "2020-01-01x").is_err());
        assert!(ts("HH:mm", "25:00").is_err());
    }

    #[test]
    fn optional_sections_and_clamping() {
        let p = JavaPattern::compile("yyyy-MM-dd[ HH:mm]").unwrap();
        assert!(p.parse("2020-02-03").is_ok());
        assert!(p.parse("2020-02-03 10:11").is_ok());
        let d = JavaPattern::compile("yyyy-MM-dd")
            .unwrap()
            .parse("2021-02-30")
            .unwrap()
            .date()
            .unwrap();
        assert_eq!(d, NaiveDate::from_ymd_opt(2021, 2, 28));
    }

    #[test]
    fn zone_ids() {
        assert_eq!(
            parse_zone("+0200").unwrap(),
            Zone::Offset(7200, "+02:00".into())
        );
        assert_eq!(parse_zone("UTC").unwrap().id(), "UTC");
        assert_eq!(parse_zone("PST").unwrap().id(), "America/Los_Angeles");
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}
