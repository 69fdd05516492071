//! String and BYTES functions: SUBSTRING, LEN, CONCAT, CONCAT_WS, case and trimming,
//! INITCAP, INSTR, SPLIT, SPLIT_TO_MAP, REPLACE, the REGEXP family, LPAD/RPAD, ELT,
//! FIELD, CHR, ENCODE, TO_BYTES/FROM_BYTES, MD5 and the MASK family.
//!
//! Positions and lengths count characters (Unicode scalar values); ksqlDB counts UTF-16
//! code units, which only differs for characters outside the Basic Multilingual Plane.

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use regex::{Captures, Regex, RegexBuilder};

use crate::functions::{FunctionRegistry, ScalarFn};
use crate::types::SqlType;
use crate::value::Value;

use super::conv::{self, bytes, int, opt_text, text, too_long, MAX_RESULT_LEN};
use super::memo::Memo;
use super::sig::{p, ret, Call, ParamType as P, Udf, Variant};

fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

fn byte_value(b: Vec<u8>) -> Value {
    Value::Bytes(Bytes::from(b))
}

/// ksqlDB's SUBSTRING start: 1-based, negative from the end, clamped into the value.
fn start_index(len: usize, pos: i32) -> usize {
    let len = len as i64;
    let pos = i64::from(pos);
    let start = if pos < 0 {
        (len + pos).max(0)
    } else {
        (pos - 1).min(len).max(0)
    };
    start as usize
}

fn end_index(len: usize, start: usize, length: i32) -> usize {
    let end = (start as i64 + i64::from(length)).min(len as i64);
    end.max(start as i64) as usize
}

fn substring(args: &[Value]) -> Result<Value, String> {
    let pos = int(&args[1])?;
    let length = match args.get(2) {
        Some(v) => Some(int(v)?),
        None => None,
    };
    match &args[0] {
        Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            let start = start_index(chars.len(), pos);
            let end = match length {
                Some(l) => end_index(chars.len(), start, l),
                None => chars.len(),
            };
            Ok(string(chars[start..end].iter().collect::<String>()))
        }
        Value::Bytes(b) => {
            let start = start_index(b.len(), pos);
            let end = match length {
                Some(l) => end_index(b.len(), start, l),
                None => b.len(),
            };
            Ok(Value::Bytes(b.slice(start..end)))
        }
        other => Err(conv::wrong("STRING or BYTES", other)),
    }
}

/// Java's `String.trim`: strips every character up to U+0020 from both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// Java's `\s`: space, tab, newline, vertical tab, form feed, carriage return.
fn java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{0B}' | '\u{0C}' | '\r')
}

fn initcap(s: &str) -> String {
    let lower = s.to_lowercase();
    let mut out = String::with_capacity(lower.len());
    let mut at_word_start = true;
    let mut seen_word = false;
    for c in lower.chars() {
        if java_space(c) {
            if seen_word {
                out.push(c);
            }
            at_word_start = true;
        } else {
            if at_word_start {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            at_word_start = false;
            seen_word = true;
        }
    }
    out
}

/// The index of the `occurrence`-th (overlapping) match of `needle` in `hay`, in chars.
fn ordinal_index_of(hay: &[char], needle: &[char], occurrence: i32) -> Option<usize> {
    if occurrence <= 0 {
        return None;
    }
    if needle.is_empty() {
        return Some(0);
    }
    let mut found = 0;
    let mut from = 0;
    while from + needle.len() <= hay.len() {
        if hay[from..from + needle.len()] == *needle {
            found += 1;
            if found == occurrence {
                return Some(from);
            }
        }
        from += 1;
    }
    None
}

fn instr(args: &[Value]) -> Result<Value, String> {
    let (Some(s), Some(sub)) = (opt_text(&args[0])?, opt_text(&args[1])?) else {
        return Ok(Value::Int(0));
    };
    let position = match args.get(2) {
        None => 1,
        Some(Value::Null) => return Ok(Value::Null),
        Some(v) => int(v)?,
    };
    let occurrence = match args.get(3) {
        None => 1,
        Some(Value::Null) => return Ok(Value::Null),
        Some(v) => int(v)?,
    };
    let hay: Vec<char> = s.chars().collect();
    let needle: Vec<char> = sub.chars().collect();
    let len = hay.len() as i64;
    if i64::from(position).abs() > len {
        return Ok(Value::Int(0));
    }
    // StringUtils.substring(str, position - 1): a negative start counts from the end.
    let tail = |h: &[char], start: i64| -> Vec<char> {
        let n = h.len() as i64;
        let mut st = if start < 0 { n + start } else { start };
        st = st.clamp(0, n);
        h[st as usize..].to_vec()
    };
    let result = if position < 0 {
        let rev_hay: Vec<char> = hay.iter().rev().copied().collect();
        let rev_needle: Vec<char> = needle.iter().rev().copied().collect();
        let pos = -i64::from(position);
        match ordinal_index_of(&tail(&rev_hay, pos - 1), &rev_needle, occurrence) {
            Some(i) => len - pos - i as i64,
            None => 0,
        }
    } else {
        let pos = i64::from(position);
        match ordinal_index_of(&tail(&hay, pos - 1), &needle, occurrence) {
            Some(i) => i as i64 + pos,
            None => 0,
        }
    };
    Ok(Value::Int(i32::try_from(result).unwrap_or(0)))
}

/// Java's `Pattern.split(input)` (limit 0): no leading empty string for a zero-width
/// match at the start, trailing empty strings removed.
fn java_split(re: &Regex, s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut index = 0;
    let mut matched = false;
    for m in re.find_iter(s) {
        if index == 0 && m.start() == 0 && m.end() == 0 {
            continue;
        }
        matched = true;
        out.push(s[index..m.start()].to_string());
        index = m.end();
    }
    if !matched {
        return vec![s.to_string()];
    }
    out.push(s[index..].to_string());
    while out.len() > 1 && out.last().is_some_and(String::is_empty) {
        out.pop();
    }
    if out.len() == 1 && out[0].is_empty() && !s.is_empty() {
        out.clear();
    }
    out
}

fn split_chars(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![String::new()];
    }
    s.chars().map(|c| c.to_string()).collect()
}

fn split_bytes(b: &[u8], delim: &[u8]) -> Vec<Vec<u8>> {
    if delim.is_empty() {
        if b.is_empty() {
            return vec![Vec::new()];
        }
        return b.iter().map(|x| vec![*x]).collect();
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + delim.len() <= b.len() {
        if &b[i..i + delim.len()] == delim {
            out.push(b[start..i].to_vec());
            i += delim.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(b[start..].to_vec());
    out
}

fn split(args: &[Value]) -> Result<Value, String> {
    match (&args[0], &args[1]) {
        (Value::String(s), Value::String(d)) => {
            let parts: Vec<String> = if d.is_empty() {
                split_chars(s)
            } else {
                s.split(d.as_str()).map(str::to_string).collect()
            };
            Ok(Value::Array(parts.into_iter().map(Value::String).collect()))
        }
        (Value::Bytes(b), Value::Bytes(d)) => Ok(Value::Array(
            split_bytes(b, d).into_iter().map(byte_value).collect(),
        )),
        (a, _) => Err(conv::wrong("STRING or BYTES", a)),
    }
}

fn split_to_map(args: &[Value]) -> Result<Value, String> {
    let input = text(&args[0])?;
    let entry_delim = text(&args[1])?;
    let kv_delim = text(&args[2])?;
    if entry_delim.is_empty() || kv_delim.is_empty() || entry_delim == kv_delim {
        return Ok(Value::Null);
    }
    let mut out: Vec<(Value, Value)> = Vec::new();
    for entry in input.split(entry_delim).filter(|e| !e.is_empty()) {
        if !entry.contains(kv_delim) {
            continue;
        }
        let mut kv = entry.split(kv_delim);
        let key = string(kv.next().unwrap_or_default());
        let value = string(kv.next().unwrap_or_default());
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => out.push((key, value)),
        }
    }
    Ok(Value::Map(out))
}

fn replace(args: &[Value]) -> Result<Value, String> {
    let s = text(&args[0])?;
    let old = text(&args[1])?;
    let new = text(&args[2])?;
    let count = if old.is_empty() {
        s.chars().count() + 1
    } else {
        s.matches(old).count()
    };
    if s.len() + count.saturating_mul(new.len()) > MAX_RESULT_LEN {
        return Err(too_long("REPLACE result"));
    }
    Ok(string(s.replace(old, new)))
}

/// Compiles a Java regular expression (the common syntax is shared with the `regex`
/// crate; backreferences and look-around are not supported and fail here).
pub fn compile_regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(8 * 1024 * 1024)
        .build()
        .map_err(|e| format!("Invalid regular expression pattern: {pattern}: {e}"))
}

/// Regexes by text: a literal one compiled at bind, others remembered.
struct Regexes {
    fixed: Option<Result<Arc<Regex>, String>>,
    memo: Memo<Regex>,
}

impl Regexes {
    fn new(call: &Call<'_>, index: usize) -> Regexes {
        Regexes {
            fixed: call
                .literal_str(index)
                .map(|s| compile_regex(s).map(Arc::new)),
            memo: Memo::new(),
        }
    }

    fn get(&self, pattern: &str) -> Result<Arc<Regex>, String> {
        match &self.fixed {
            Some(r) => r.clone(),
            None => self.memo.get(pattern, compile_regex),
        }
    }
}

fn group_arg(args: &[Value], i: usize) -> Result<i64, String> {
    match args.get(i) {
        None => Ok(0),
        Some(v) => Ok(i64::from(int(v)?)),
    }
}

fn regexp_extract(call: &Call<'_>, all: bool) -> ScalarFn {
    let regexes = Regexes::new(call, 0);
    Arc::new(move |args: &[Value]| {
        let re = regexes.get(text(&args[0])?)?;
        let input = text(&args[1])?;
        let group = group_arg(args, 2)?;
        // A negative group fails like Matcher.group does.
        let Ok(g) = usize::try_from(group) else {
            return Err(format!("No group {group}"));
        };
        if g >= re.captures_len() {
            return Ok(Value::Null);
        }
        let text_of = |c: &Captures<'_>| match c.get(g) {
            Some(m) => string(m.as_str()),
            None => Value::Null,
        };
        if all {
            let items: Vec<Value> = re.captures_iter(input).map(|c| text_of(&c)).collect();
            Ok(Value::Array(items))
        } else {
            Ok(re
                .captures(input)
                .map(|c| text_of(&c))
                .unwrap_or(Value::Null))
        }
    })
}

/// Appends Java's `Matcher.appendReplacement` expansion of `repl` for one match: `$n`
/// and `${name}` insert groups, `\x` is a literal `x`.
fn java_expand(
    caps: &Captures<'_>,
    re: &Regex,
    repl: &[char],
    out: &mut String,
) -> Result<(), String> {
    let mut i = 0;
    while i < repl.len() {
        let c = repl[i];
        if c == '\\' {
            i += 1;
            match repl.get(i) {
                Some(x) => out.push(*x),
                None => return Err("character to be escaped is missing".to_string()),
            }
            i += 1;
        } else if c == '$' {
            i += 1;
            match repl.get(i) {
                Some('{') => {
                    let close = repl[i..]
                        .iter()
                        .position(|ch| *ch == '}')
                        .ok_or("named capturing group is missing trailing '}'")?;
                    let name: String = repl[i + 1..i + close].iter().collect();
                    if re.capture_names().flatten().all(|n| n != name) {
                        return Err(format!("No group with name {{{name}}}"));
                    }
                    if let Some(m) = caps.name(&name) {
                        out.push_str(m.as_str());
                    }
                    i += close + 1;
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut group = d.to_digit(10).unwrap_or(0) as usize;
                    if group >= re.captures_len() {
                        return Err(format!("No group {group}"));
                    }
                    i += 1;
                    while let Some(next) = repl.get(i).and_then(|ch| ch.to_digit(10)) {
                        let candidate = group * 10 + next as usize;
                        if candidate >= re.captures_len() {
                            break;
                        }
                        group = candidate;
                        i += 1;
                    }
                    if let Some(m) = caps.get(group) {
                        out.push_str(m.as_str());
                    }
                }
                _ => return Err("Illegal group reference".to_string()),
            }
        } else {
            out.push(c);
            i += 1;
        }
        if out.len() > MAX_RESULT_LEN {
            return Err(too_long("REGEXP_REPLACE result"));
        }
    }
    Ok(())
}

fn regexp_replace(call: &Call<'_>) -> ScalarFn {
    let regexes = Regexes::new(call, 1);
    Arc::new(move |args: &[Value]| {
        let input = text(&args[0])?;
        let re = regexes.get(text(&args[1])?)?;
        let repl: Vec<char> = text(&args[2])?.chars().collect();
        let mut out = String::with_capacity(input.len());
        let mut last = 0;
        for caps in re.captures_iter(input) {
            let Some(m) = caps.get(0) else { continue };
            out.push_str(&input[last..m.start()]);
            java_expand(&caps, &re, &repl, &mut out)?;
            last = m.end();
        }
        out.push_str(&input[last..]);
        Ok(string(out))
    })
}

fn regexp_split(call: &Call<'_>) -> ScalarFn {
    let regexes = Regexes::new(call, 1);
    Arc::new(move |args: &[Value]| {
        let input = text(&args[0])?;
        let pattern = text(&args[1])?;
        let re = regexes.get(pattern)?;
        let parts: Vec<String> = if pattern.is_empty() || re.is_match("") {
            java_split(&re, input)
        } else {
            re.split(input).map(str::to_string).collect()
        };
        Ok(Value::Array(parts.into_iter().map(Value::String).collect()))
    })
}

/// LPAD/RPAD over strings; `left` pads at the start.
fn pad_string(input: &str, target: i32, padding: &str, left: bool) -> Result<Value, String> {
    if padding.is_empty() || target < 0 {
        return Ok(Value::Null);
    }
    let target = target as usize;
    if target > MAX_RESULT_LEN {
        return Err(too_long("padded string"));
    }
    let chars: Vec<char> = input.chars().collect();
    if chars.len() >= target {
        return Ok(string(chars[..target].iter().collect::<String>()));
    }
    let fill: String = padding.chars().cycle().take(target - chars.len()).collect();
    Ok(string(if left {
        fill + input
    } else {
        input.to_string() + &fill
    }))
}

fn pad_bytes(input: &[u8], target: i32, padding: &[u8], left: bool) -> Result<Value, String> {
    if padding.is_empty() || target < 0 {
        return Ok(Value::Null);
    }
    let target = target as usize;
    if target > MAX_RESULT_LEN {
        return Err(too_long("padded bytes"));
    }
    if input.len() >= target {
        return Ok(byte_value(input[..target].to_vec()));
    }
    let fill: Vec<u8> = padding
        .iter()
        .copied()
        .cycle()
        .take(target - input.len())
        .collect();
    let mut out = Vec::with_capacity(target);
    if left {
        out.extend_from_slice(&fill);
        out.extend_from_slice(input);
    } else {
        out.extend_from_slice(input);
        out.extend_from_slice(&fill);
    }
    Ok(byte_value(out))
}

fn pad(left: bool) -> impl Fn(&[Value]) -> Result<Value, String> + Send + Sync {
    move |args: &[Value]| {
        let target = int(&args[1])?;
        match (&args[0], &args[2]) {
            (Value::String(s), Value::String(p)) => pad_string(s, target, p, left),
            (Value::Bytes(s), Value::Bytes(p)) => pad_bytes(s, target, p, left),
            (a, _) => Err(conv::wrong("STRING or BYTES", a)),
        }
    }
}

/// Apache commons' `StringEscapeUtils.unescapeJava`, as CHR(STRING) uses it: `\uXXXX`
/// (surrogate pairs combined) and the usual backslash escapes; a lone surrogate becomes
/// U+FFFD.
fn unescape_java(s: &str) -> Result<String, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut units: Vec<u16> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
            i += 1;
            continue;
        }
        let Some(&next) = chars.get(i + 1) else {
            units.push(u16::from(b'\\'));
            break;
        };
        match next {
            'u' => {
                let mut j = i + 1;
                while chars.get(j) == Some(&'u') {
                    j += 1;
                }
                let hex: String = chars
                    .get(j..j + 4)
                    .ok_or("Less than 4 hex digits in unicode value")?
                    .iter()
                    .collect();
                let v = u16::from_str_radix(&hex, 16)
                    .map_err(|_| format!("Unable to parse unicode value: {hex}"))?;
                units.push(v);
                i = j + 4;
            }
            'n' => {
                units.push(u16::from(b'\n'));
                i += 2;
            }
            't' => {
                units.push(u16::from(b'\t'));
                i += 2;
            }
            'r' => {
                units.push(u16::from(b'\r'));
                i += 2;
            }
            'b' => {
                units.push(8);
                i += 2;
            }
            'f' => {
                units.push(12);
                i += 2;
            }
            '\\' | '\'' | '"' => {
                units.push(next as u16);
                i += 2;
            }
            other => {
                let mut buf = [0u16; 2];
                units.push(u16::from(b'\\'));
                units.extend_from_slice(other.encode_utf16(&mut buf));
                i += 2;
            }
        }
    }
    Ok(String::from_utf16_lossy(&units))
}

fn chr(args: &[Value]) -> Result<Value, String> {
    match &args[0] {
        Value::Int(code) => Ok(u32::try_from(*code)
            .ok()
            .and_then(char::from_u32)
            .map(|c| string(c.to_string()))
            .unwrap_or(Value::Null)),
        Value::String(s) => {
            if s.chars().count() < 6 || !s.starts_with("\\u") {
                return Ok(Value::Null);
            }
            unescape_java(s).map(string)
        }
        other => Err(conv::wrong("INT or STRING", other)),
    }
}

/// The encodings TO_BYTES, FROM_BYTES and ENCODE know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Hex,
    Utf8,
    Ascii,
    Base64,
}

impl Encoding {
    fn parse(s: &str) -> Result<Encoding, String> {
        match s.to_ascii_lowercase().as_str() {
            "hex" => Ok(Encoding::Hex),
            "utf8" => Ok(Encoding::Utf8),
            "ascii" => Ok(Encoding::Ascii),
            "base64" => Ok(Encoding::Base64),
            _ => Err(format!(
                "Unsupported encoding '{s}'; the accepted encodings are hex, utf8, ascii and base64"
            )),
        }
    }
}

fn hex_decode(s: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<u32> = s
        .chars()
        .map(|c| {
            c.to_digit(16)
                .ok_or_else(|| format!("Illegal hexadecimal character {c}"))
        })
        .collect::<Result<_, _>>()?;
    if !digits.len().is_multiple_of(2) {
        return Err("Odd number of characters.".to_string());
    }
    Ok(digits
        .chunks(2)
        .map(|pair| (pair[0] * 16 + pair[1]) as u8)
        .collect())
}

fn hex_encode(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Commons-codec's lenient base64 decoding: characters outside the alphabets are skipped,
/// padding is optional, a dangling sextet is dropped.
fn base64_decode_lenient(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut n = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            acc = 0;
            n = 0;
        }
    }
    match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    }
    out
}

/// Java's `new String(bytes, US_ASCII)`: bytes above 0x7F become U+FFFD.
fn ascii_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| {
            if x.is_ascii() {
                char::from(*x)
            } else {
                '\u{FFFD}'
            }
        })
        .collect()
}

/// Java's `s.getBytes(US_ASCII)`: characters outside ASCII become `?`.
fn ascii_bytes(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| if c.is_ascii() { c as u8 } else { b'?' })
        .collect()
}

fn to_bytes(s: &str, enc: Encoding) -> Result<Vec<u8>, String> {
    Ok(match enc {
        Encoding::Hex => hex_decode(s)?,
        Encoding::Utf8 => s.as_bytes().to_vec(),
        Encoding::Ascii => ascii_bytes(s),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD
            .decode(s)
            .map_err(|e| format!("Illegal base64 value: {e}"))?,
    })
}

fn from_bytes(b: &[u8], enc: Encoding) -> String {
    match enc {
        Encoding::Hex => hex_encode(b),
        Encoding::Utf8 => String::from_utf8_lossy(b).into_owned(),
        Encoding::Ascii => ascii_text(b),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(b),
    }
}

/// ENCODE's hex clean-up: `0x` prefix (an odd digit count gets a leading zero) or
/// `X'...'` quoting.
fn hex_strip(s: &str) -> String {
    if let Some(rest) = s.strip_prefix("0x") {
        if !s.chars().count().is_multiple_of(2) {
            return format!("0{rest}");
        }
        return rest.to_string();
    }
    let chars: Vec<char> = s.chars().collect();
    if chars.len() >= 3
        && (chars[0] == 'x' || chars[0] == 'X')
        && chars[1] == '\''
        && chars[chars.len() - 1] == '\''
    {
        return chars[2..chars.len() - 1].iter().collect();
    }
    s.to_string()
}

fn encode(args: &[Value]) -> Result<Value, String> {
    let input = text(&args[0])?;
    let from = text(&args[1])?.to_lowercase();
    let to = text(&args[2])?.to_lowercase();
    let unsupported =
        || "Supported input and output encodings are: hex, utf8, ascii and base64".to_string();
    let parse = |e: &str| Encoding::parse(e).map_err(|_| unsupported());
    let (from, to) = (parse(&from)?, parse(&to)?);
    if from == to {
        return Err(unsupported());
    }
    let decoded = match from {
        Encoding::Hex => hex_decode(&hex_strip(input))?,
        Encoding::Utf8 => input.as_bytes().to_vec(),
        Encoding::Ascii => ascii_bytes(input),
        Encoding::Base64 => base64_decode_lenient(input),
    };
    Ok(string(from_bytes(&decoded, to)))
}

fn mask_char(v: Option<&Value>) -> Result<Option<char>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            let s = text(v)?;
            let mut it = s.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => Ok(Some(c)),
                _ => Err(format!(
                    "Invalid mask character. Must be only single character, but was '{s}'"
                )),
            }
        }
    }
}

/// The masking rules: upper-case letters, lower-case letters, digits, other characters.
struct Masker {
    upper: Option<char>,
    lower: Option<char>,
    digit: Option<char>,
    other: Option<char>,
}

impl Masker {
    /// From the four optional mask arguments starting at `from`; all defaults without them.
    fn from_args(args: &[Value], from: usize) -> Result<Masker, String> {
        if args.len() <= from {
            return Ok(Masker {
                upper: Some('X'),
                lower: Some('x'),
                digit: Some('n'),
                other: Some('-'),
            });
        }
        Ok(Masker {
            upper: mask_char(args.get(from))?,
            lower: mask_char(args.get(from + 1))?,
            digit: mask_char(args.get(from + 2))?,
            other: mask_char(args.get(from + 3))?,
        })
    }

    fn mask(&self, c: char) -> char {
        let m = if c.is_uppercase() {
            self.upper
        } else if c.is_lowercase() {
            self.lower
        } else if c.is_numeric() {
            self.digit
        } else {
            self.other
        };
        m.unwrap_or(c)
    }
}

/// MASK_LEFT and friends: `which(len, n)` gives the masked char range.
fn masked(
    name: &'static str,
    which: fn(usize, usize) -> (usize, usize),
) -> impl Fn(&[Value]) -> Result<Value, String> + Send + Sync {
    move |args: &[Value]| {
        let n = match &args[1] {
            Value::Null => return Ok(Value::Null),
            v => int(v)?,
        };
        if n < 0 {
            return Err(format!(
                "function {name} requires a non-negative number of characters to mask or skip"
            ));
        }
        let masker = Masker::from_args(args, 2)?;
        let Some(input) = opt_text(&args[0])? else {
            return Ok(Value::Null);
        };
        let chars: Vec<char> = input.chars().collect();
        let (from, to) = which(chars.len(), n as usize);
        let out: String = chars
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i >= from && i < to {
                    masker.mask(*c)
                } else {
                    *c
                }
            })
            .collect();
        Ok(string(out))
    }
}

fn mask_params(with_count: bool, with_masks: bool) -> Vec<super::sig::Param> {
    let mut v = vec![p("input", P::String)];
    if with_count {
        v.push(p("numChars", P::Int));
    }
    if with_masks {
        v.push(p("upper", P::String));
        v.push(p("lower", P::String));
        v.push(p("digit", P::String));
        v.push(p("other", P::String));
    }
    v
}

fn mask_udf(
    name: &'static str,
    description: &str,
    which: fn(usize, usize) -> (usize, usize),
) -> Udf {
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(mask_params(true, false), ret(SqlType::String))
                .handles_nulls()
                .eval(masked(name, which)),
        )
        .variant(
            Variant::new(mask_params(true, true), ret(SqlType::String))
                .handles_nulls()
                .eval(masked(name, which)),
        )
}

fn concat(args: &[Value]) -> Result<Value, String> {
    if args.len() < 2 {
        return Err("Concat should have at least two input arguments.".to_string());
    }
    let total: usize = args
        .iter()
        .map(|v| match v {
            Value::String(s) => s.len(),
            Value::Bytes(b) => b.len(),
            _ => 0,
        })
        .sum();
    if total > MAX_RESULT_LEN {
        return Err(too_long("CONCAT result"));
    }
    if args.iter().any(|v| matches!(v, Value::Bytes(_))) {
        let mut out = Vec::with_capacity(total);
        for v in args.iter().filter(|v| !v.is_null()) {
            out.extend_from_slice(bytes(v)?);
        }
        return Ok(byte_value(out));
    }
    let mut out = String::with_capacity(total);
    for v in args.iter().filter(|v| !v.is_null()) {
        out.push_str(text(v)?);
    }
    Ok(string(out))
}

fn concat_bytes(args: &[Value]) -> Result<Value, String> {
    match concat(args)? {
        Value::String(s) if s.is_empty() => Ok(byte_value(Vec::new())),
        other => Ok(other),
    }
}

fn concat_ws(args: &[Value]) -> Result<Value, String> {
    if args.len() < 2 {
        return Err("Function Concat_WS expects at least two input arguments.".to_string());
    }
    match &args[0] {
        Value::Null => Ok(Value::Null),
        Value::String(sep) => {
            let parts: Vec<&str> = args[1..]
                .iter()
                .filter(|v| !v.is_null())
                .map(text)
                .collect::<Result<_, _>>()?;
            let total = parts.iter().map(|s| s.len() + sep.len()).sum::<usize>();
            if total > MAX_RESULT_LEN {
                return Err(too_long("CONCAT_WS result"));
            }
            Ok(string(parts.join(sep)))
        }
        Value::Bytes(sep) => {
            let parts: Vec<&[u8]> = args[1..]
                .iter()
                .filter(|v| !v.is_null())
                .map(bytes)
                .collect::<Result<_, _>>()?;
            let total = parts.iter().map(|b| b.len() + sep.len()).sum::<usize>();
            if total > MAX_RESULT_LEN {
                return Err(too_long("CONCAT_WS result"));
            }
            Ok(byte_value(parts.join(&sep[..])))
        }
        other => Err(conv::wrong("STRING or BYTES", other)),
    }
}

fn len(args: &[Value]) -> Result<Value, String> {
    let n = match &args[0] {
        Value::String(s) => s.chars().count(),
        Value::Bytes(b) => b.len(),
        other => return Err(conv::wrong("STRING or BYTES", other)),
    };
    Ok(Value::Int(i32::try_from(n).unwrap_or(i32::MAX)))
}

fn len_udf(name: &str) -> Udf {
    Udf::new(name, "Returns the length of the input string or bytes.")
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(vec![p("input", P::String)], ret(SqlType::Int))
                .describe("The number of characters in a string.")
                .eval(len),
        )
        .variant(
            Variant::new(vec![p("input", P::Bytes)], ret(SqlType::Int))
                .describe("The number of bytes in a BYTES value.")
                .eval(len),
        )
}

fn string_fn(
    name: &str,
    description: &str,
    f: fn(&str) -> String,
) -> Arc<dyn crate::functions::ScalarUdf> {
    Udf::new(name, description)
        .error_name(&name.to_ascii_lowercase())
        .variant(
            Variant::new(vec![p("input", P::String)], ret(SqlType::String))
                .eval(move |a| Ok(string(f(text(&a[0])?)))),
        )
        .shared()
}

/// Registers the string and BYTES functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_scalar(
        Udf::new(
            "SUBSTRING",
            "Returns the portion of the string or bytes passed in value.",
        )
        .error_name("substring")
        .variant(
            Variant::new(
                vec![p("str", P::String), p("pos", P::Int)],
                ret(SqlType::String),
            )
            .describe("Returns the portion of str from pos to the end of str")
            .eval(substring),
        )
        .variant(
            Variant::new(
                vec![p("str", P::String), p("pos", P::Int), p("len", P::Int)],
                ret(SqlType::String),
            )
            .describe("Returns the portion of str that starts at pos and is of length len")
            .eval(substring),
        )
        .variant(
            Variant::new(
                vec![p("bytes", P::Bytes), p("pos", P::Int)],
                ret(SqlType::Bytes),
            )
            .eval(substring),
        )
        .variant(
            Variant::new(
                vec![p("bytes", P::Bytes), p("pos", P::Int), p("len", P::Int)],
                ret(SqlType::Bytes),
            )
            .eval(substring),
        )
        .shared(),
    );
    r.register_scalar(len_udf("LEN").shared());
    r.register_scalar(len_udf("LENGTH").shared());
    r.register_scalar(
        Udf::new(
            "CONCAT",
            "Concatenate an arbitrary number of string or bytes fields together; NULLs are \
             skipped.",
        )
        .error_name("concat")
        .variant(
            Variant::new(vec![p("inputs", P::String)], ret(SqlType::String))
                .variadic()
                .handles_nulls()
                .eval(concat),
        )
        .variant(
            Variant::new(vec![p("inputs", P::Bytes)], ret(SqlType::Bytes))
                .variadic()
                .handles_nulls()
                .eval(concat_bytes),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "CONCAT_WS",
            "Concatenate several strings or bytes, inserting a separator passed as the first \
             argument between each one; NULL values are skipped, a NULL separator gives NULL.",
        )
        .error_name("concat_ws")
        .variant(
            Variant::new(vec![p("inputs", P::String)], ret(SqlType::String))
                .variadic()
                .handles_nulls()
                .eval(concat_ws),
        )
        .variant(
            Variant::new(vec![p("inputs", P::Bytes)], ret(SqlType::Bytes))
                .variadic()
                .handles_nulls()
                .eval(concat_ws),
        )
        .shared(),
    );
    r.register_scalar(string_fn(
        "UCASE",
        "Returns the input string in upper case.",
        str::to_uppercase,
    ));
    r.register_scalar(string_fn(
        "LCASE",
        "Returns the input string in lower case.",
        str::to_lowercase,
    ));
    r.register_scalar(string_fn(
        "TRIM",
        "Remove whitespace from the beginning and end of a string.",
        |s| java_trim(s).to_string(),
    ));
    r.register_scalar(string_fn(
        "LTRIM",
        "Remove whitespace from the beginning of a string.",
        |s| s.trim_start_matches(|c: char| c <= ' ').to_string(),
    ));
    r.register_scalar(string_fn(
        "RTRIM",
        "Remove whitespace from the end of a string.",
        |s| s.trim_end_matches(|c: char| c <= ' ').to_string(),
    ));
    r.register_scalar(string_fn(
        "INITCAP",
        "Capitalizes the first letter of each word in a string and the rest lowercased. \
         Words are delimited by whitespace.",
        initcap,
    ));
    let instr_params = |n: usize| {
        let mut v = vec![p("str", P::String), p("substring", P::String)];
        if n > 2 {
            v.push(p("position", P::Int));
        }
        if n > 3 {
            v.push(p("occurrence", P::Int));
        }
        v
    };
    let mut instr_udf = Udf::new(
        "INSTR",
        "Returns the 1-based position of the occurrence-th match of substring in str, \
         searching from position (from the end when negative); 0 when not found.",
    )
    .error_name("instr");
    for n in 2..=4 {
        instr_udf = instr_udf.variant(
            Variant::new(instr_params(n), ret(SqlType::Int))
                .handles_nulls()
                .eval(instr),
        );
    }
    r.register_scalar(instr_udf.shared());
    r.register_scalar(
        Udf::new(
            "SPLIT",
            "Splits a string or bytes into an array of substrings or bytes based on a \
             delimiter. If the delimiter is not found, the original value is the only \
             element. An empty delimiter splits every character or byte.",
        )
        .error_name("split")
        .variant(
            Variant::new(
                vec![p("string", P::String), p("delimiter", P::String)],
                ret(SqlType::array(SqlType::String)),
            )
            .eval(split),
        )
        .variant(
            Variant::new(
                vec![p("bytes", P::Bytes), p("delimiter", P::Bytes)],
                ret(SqlType::array(SqlType::Bytes)),
            )
            .eval(split),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "SPLIT_TO_MAP",
            "Splits a string into key-value pairs and creates a map from them. The \
             'entryDelimiter' splits the string into key-value pairs which are then split by \
             'kvDelimiter'. If the same key is present multiple times in the input, the latest \
             value for that key is returned. Returns NULL if the input text or either of the \
             delimiters is NULL.",
        )
        .error_name("split_to_map")
        .variant(
            Variant::new(
                vec![
                    p("input", P::String),
                    p("entryDelimiter", P::String),
                    p("kvDelimiter", P::String),
                ],
                ret(SqlType::map(SqlType::String, SqlType::String)),
            )
            .eval(split_to_map),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "REPLACE",
            "Replaces all occurrences of a substring in a string with a new substring.",
        )
        .error_name("replace")
        .variant(
            Variant::new(
                vec![
                    p("str", P::String),
                    p("oldStr", P::String),
                    p("newStr", P::String),
                ],
                ret(SqlType::String),
            )
            .eval(replace),
        )
        .shared(),
    );
    let extract_params = |group: bool| {
        let mut v = vec![p("pattern", P::String), p("input", P::String)];
        if group {
            v.push(p("group", P::Int));
        }
        v
    };
    r.register_scalar(
        Udf::new(
            "REGEXP_EXTRACT",
            "Extracts the first substring matched by a regular expression, or one of its \
             capturing groups.",
        )
        .error_name("regexp_extract")
        .variant(
            Variant::new(extract_params(false), ret(SqlType::String))
                .build(|c, _| Ok(regexp_extract(c, false))),
        )
        .variant(
            Variant::new(extract_params(true), ret(SqlType::String))
                .build(|c, _| Ok(regexp_extract(c, false))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "REGEXP_EXTRACT_ALL",
            "Extracts every substring matched by a regular expression, or one of its \
             capturing groups.",
        )
        .error_name("regexp_extract_all")
        .variant(
            Variant::new(extract_params(false), ret(SqlType::array(SqlType::String)))
                .build(|c, _| Ok(regexp_extract(c, true))),
        )
        .variant(
            Variant::new(extract_params(true), ret(SqlType::array(SqlType::String)))
                .build(|c, _| Ok(regexp_extract(c, true))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "REGEXP_REPLACE",
            "Replaces every match of a regular expression with a replacement, in which $n \
             refers to a capturing group.",
        )
        .error_name("regexp_replace")
        .variant(
            Variant::new(
                vec![
                    p("input", P::String),
                    p("regex", P::String),
                    p("replacement", P::String),
                ],
                ret(SqlType::String),
            )
            .build(|c, _| Ok(regexp_replace(c))),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "REGEXP_SPLIT_TO_ARRAY",
            "Splits a string into an array of substrings based on a regular expression. If \
             the regexp is not found, the original string is the only element. An empty \
             regexp splits every character.",
        )
        .error_name("regexp_split_to_array")
        .variant(
            Variant::new(
                vec![p("string", P::String), p("regexp", P::String)],
                ret(SqlType::array(SqlType::String)),
            )
            .build(|c, _| Ok(regexp_split(c))),
        )
        .shared(),
    );
    for (name, left) in [("LPAD", true), ("RPAD", false)] {
        let side = if left { "beginning" } else { "end" };
        let description = format!(
            "Pads the input string or bytes, starting from the {side}, with the specified \
             padding until the target length is reached. Longer input is truncated. Empty or \
             NULL padding, or a negative length, gives NULL."
        );
        r.register_scalar(
            Udf::new(name, &description)
                .error_name(if left { "LPad" } else { "RPad" })
                .variant(
                    Variant::new(
                        vec![
                            p("input", P::String),
                            p("targetLen", P::Int),
                            p("padding", P::String),
                        ],
                        ret(SqlType::String),
                    )
                    .eval(pad(left)),
                )
                .variant(
                    Variant::new(
                        vec![
                            p("input", P::Bytes),
                            p("targetLen", P::Int),
                            p("padding", P::Bytes),
                        ],
                        ret(SqlType::Bytes),
                    )
                    .eval(pad(left)),
                )
                .shared(),
        );
    }
    r.register_scalar(
        Udf::new(
            "ELT",
            "ELT() returns the Nth element of the list of strings. Returns NULL if N is less \
             than 1 or greater than the number of arguments. Note that this method is \
             1-indexed. This is the complement to FIELD.",
        )
        .error_name("elt")
        .variant(
            Variant::new(
                vec![p("n", P::Int), p("args", P::String)],
                ret(SqlType::String),
            )
            .variadic()
            .handles_nulls()
            .eval(|a| {
                let n = match &a[0] {
                    Value::Null => return Ok(Value::Null),
                    v => int(v)?,
                };
                if n < 1 || n as usize >= a.len() {
                    return Ok(Value::Null);
                }
                Ok(a[n as usize].clone())
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "FIELD",
            "Returns the position (1-indexed) of str in args, or 0 if not found. If str is \
             NULL, the return value is 0 because NULL is not considered equal to any value. \
             This is the complement to ELT.",
        )
        .error_name("field")
        .variant(
            Variant::new(
                vec![p("str", P::String), p("args", P::String)],
                ret(SqlType::Int),
            )
            .variadic()
            .handles_nulls()
            .eval(|a| {
                if a[0].is_null() {
                    return Ok(Value::Int(0));
                }
                let pos = a[1..].iter().position(|v| *v == a[0]);
                Ok(Value::Int(pos.map(|i| i as i32 + 1).unwrap_or(0)))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "CHR",
            "Returns a single-character string corresponding to the input character code.",
        )
        .error_name("Chr")
        .variant(
            Variant::new(vec![p("decimalCode", P::Int)], ret(SqlType::String))
                .describe("The character of a decimal code point.")
                .eval(chr),
        )
        .variant(
            Variant::new(vec![p("utf16Code", P::String)], ret(SqlType::String))
                .describe("The character of a UTF-16 escape such as '\\u004b'.")
                .eval(chr),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "ENCODE",
            "Takes an input string s, which is encoded as input_encoding, and encodes it as \
             output_encoding. The accepted input and output encodings are: hex, utf8, ascii \
             and base64. Throws exception if provided encodings are not supported.",
        )
        .error_name("encode")
        .variant(
            Variant::new(
                vec![
                    p("str", P::String),
                    p("inputEncoding", P::String),
                    p("outputEncoding", P::String),
                ],
                ret(SqlType::String),
            )
            .eval(encode),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "TO_BYTES",
            "Converts a STRING value in the specified encoding to BYTES. The accepted \
             encoders are 'hex', 'utf8', 'ascii', and 'base64'.",
        )
        .error_name("to_bytes")
        .variant(
            Variant::new(
                vec![p("value", P::String), p("encoding", P::String)],
                ret(SqlType::Bytes),
            )
            .eval(|a| {
                let enc = Encoding::parse(text(&a[1])?)?;
                Ok(byte_value(to_bytes(text(&a[0])?, enc)?))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "FROM_BYTES",
            "Converts a BYTES value to STRING in the specified encoding. The accepted \
             encoders are 'hex', 'utf8', 'ascii', and 'base64'.",
        )
        .error_name("from_bytes")
        .variant(
            Variant::new(
                vec![p("value", P::Bytes), p("encoding", P::String)],
                ret(SqlType::String),
            )
            .eval(|a| {
                let enc = Encoding::parse(text(&a[1])?)?;
                Ok(string(from_bytes(bytes(&a[0])?, enc)))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "MD5",
            "Returns the hex-encoded MD5 hash of the input string.",
        )
        .error_name("md5")
        .variant(
            Variant::new(vec![p("input", P::String)], ret(SqlType::String)).eval(|a| {
                Ok(string(format!(
                    "{:x}",
                    md5::compute(text(&a[0])?.as_bytes())
                )))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "MASK",
            "Returns a version of the input string with every character replaced by a mask. \
             Default masking rules will replace all upper-case characters with 'X', all \
             lower-case characters with 'x', all digits with 'n', and any other character \
             with '-'.",
        )
        .error_name("mask")
        .variant(
            Variant::new(mask_params(false, false), ret(SqlType::String)).eval(|a| {
                let m = Masker::from_args(a, 1)?;
                Ok(string(
                    text(&a[0])?.chars().map(|c| m.mask(c)).collect::<String>(),
                ))
            }),
        )
        .variant(
            Variant::new(mask_params(false, true), ret(SqlType::String))
                .handles_nulls()
                .eval(|a| {
                    let m = Masker::from_args(a, 1)?;
                    let Some(s) = opt_text(&a[0])? else {
                        return Ok(Value::Null);
                    };
                    Ok(string(s.chars().map(|c| m.mask(c)).collect::<String>()))
                }),
        )
        .shared(),
    );
    r.register_scalar(
        mask_udf(
            "MASK_LEFT",
            "Returns a version of the input string with the specified number of characters, \
             starting from the beginning of the string, masked out.",
            |len, n| (0, n.min(len)),
        )
        .shared(),
    );
    r.register_scalar(
        mask_udf(
            "MASK_RIGHT",
            "Returns a version of the input string with the specified number of characters, \
             counting back from the end of the string, masked out.",
            |len, n| (len.saturating_sub(n), len),
        )
        .shared(),
    );
    r.register_scalar(
        mask_udf(
            "MASK_KEEP_LEFT",
            "Returns a version of the input string with all but the specified number of \
             characters, starting from the beginning of the string, masked out.",
            |len, n| (n.min(len), len),
        )
        .shared(),
    );
    r.register_scalar(
        mask_udf(
            "MASK_KEEP_RIGHT",
            "Returns a version of the input string with all but the specified number of \
             characters, counting back from the end of the string, masked out.",
            |len, n| (0, len.saturating_sub(n)),
        )
        .shared(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{call, lit, null, reg, run, s, typed};
    use super::*;

    fn b(v: &[u8]) -> Value {
        Value::Bytes(Bytes::copy_from_slice(v))
    }

    fn strs(v: &[&str]) -> Value {
        Value::Array(v.iter().map(|x| s(x)).collect())
    }

    #[test]
    fn substring_is_one_based_with_negative_positions() {
        let r = reg();
        let sub = |v: &str, pos: i32| {
            run(
                &r,
                "SUBSTRING",
                &[SqlType::String, SqlType::Int],
                &[s(v), Value::Int(pos)],
            )
        };
        let sub3 = |v: &str, pos: i32, len: i32| {
            run(
                &r,
                "SUBSTRING",
                &[SqlType::String, SqlType::Int, SqlType::Int],
                &[s(v), Value::Int(pos), Value::Int(len)],
            )
        };
        assert_eq!(sub("some_string", 6), Ok(s("string")));
        assert_eq!(sub("short", 6), Ok(s("")));
        assert_eq!(sub3("some_string", 6, 3), Ok(s("str")));
        assert_eq!(sub3("another", 6, 3), Ok(s("er")));
        assert_eq!(sub3("some string", 0, 2), Ok(s("so")));
        assert_eq!(sub("zb", 2), Ok(s("b")));
        assert_eq!(sub("hello", -3), Ok(s("llo")));
        assert_eq!(sub("hello", -30), Ok(s("hello")));
        assert_eq!(sub3("hello", 2, -1), Ok(s("")));
        assert_eq!(sub3("hello", i32::MAX, i32::MAX), Ok(s("")));
        assert_eq!(
            run(
                &r,
                "SUBSTRING",
                &[SqlType::Bytes, SqlType::Int],
                &[b(b"some_string"), Value::Int(6)]
            ),
            Ok(b(b"string"))
        );
        assert_eq!(
            call(
                &r,
                "SUBSTRING",
                &[typed(SqlType::String), null()],
                &[s("x"), Value::Null]
            ),
            Ok(Value::Null)
        );
        let err = r
            .scalar("SUBSTRING")
            .unwrap()
            .bind(&[typed(SqlType::Int)])
            .err()
            .unwrap();
        assert!(err.starts_with("Function 'substring' does not accept parameters (INTEGER)."));
        assert!(
            err.contains("SUBSTRING(str VARCHAR, pos INT) => VARCHAR"),
            "{err}"
        );
    }

    #[test]
    fn concat_skips_nulls() {
        let r = reg();
        let args = [
            lit(s("prefix-")),
            typed(SqlType::String),
            lit(s("-postfix")),
        ];
        assert_eq!(
            call(&r, "CONCAT", &args, &[s("prefix-"), s("s1"), s("-postfix")]),
            Ok(s("prefix-s1-postfix"))
        );
        let bargs = [typed(SqlType::Bytes), null(), typed(SqlType::Bytes)];
        assert_eq!(
            call(&r, "CONCAT", &bargs, &[b(b""), Value::Null, b(b"no")]),
            Ok(b(b"no"))
        );
        let ws = [
            typed(SqlType::String),
            typed(SqlType::String),
            typed(SqlType::String),
            null(),
            lit(s("literal")),
        ];
        assert_eq!(
            call(
                &r,
                "CONCAT_WS",
                &ws,
                &[s("SEP"), s("foo"), Value::Null, Value::Null, s("literal")]
            ),
            Ok(s("fooSEPliteral"))
        );
        assert_eq!(
            call(
                &r,
                "CONCAT_WS",
                &ws,
                &[Value::Null, s("foo"), s("x"), Value::Null, s("literal")]
            ),
            Ok(Value::Null)
        );
        let bws = [
            typed(SqlType::Bytes),
            typed(SqlType::Bytes),
            typed(SqlType::Bytes),
            null(),
            typed(SqlType::Bytes),
        ];
        assert_eq!(
            call(
                &r,
                "CONCAT_WS",
                &bws,
                &[b(b"a"), b(b"b"), b(b""), Value::Null, b(b"no")]
            ),
            Ok(b(b"baano"))
        );
        assert!(call(&r, "CONCAT", &[typed(SqlType::String)], &[s("a")]).is_err());
    }

    #[test]
    fn case_trim_initcap_and_len() {
        let r = reg();
        let one = |name: &str, v: &str| run(&r, name, &[SqlType::String], &[s(v)]);
        assert_eq!(one("UCASE", "MiXeD"), Ok(s("MIXED")));
        assert_eq!(one("LCASE", "MiXeD"), Ok(s("mixed")));
        assert_eq!(
            one("TRIM", " \t with white space \t"),
            Ok(s("with white space"))
        );
        assert_eq!(one("LTRIM", "  a "), Ok(s("a ")));
        assert_eq!(one("RTRIM", "  a "), Ok(s("  a")));
        assert_eq!(
            one("INITCAP", "the   Quick br0wn fOx"),
            Ok(s("The   Quick Br0wn Fox"))
        );
        assert_eq!(one("INITCAP", "some_string"), Ok(s("Some_string")));
        assert_eq!(one("LEN", "ABC"), Ok(Value::Int(3)));
        assert_eq!(
            run(&r, "LENGTH", &[SqlType::Bytes], &[b(b"abc")]),
            Ok(Value::Int(3))
        );
        assert_eq!(one("MD5", "r1"), Ok(s("7c92cf1eee8d99cc85f8355a3d6e4b86")));
        assert_eq!(one("MD5", ""), Ok(s("d41d8cd98f00b204e9800998ecf8427e")));
    }

    #[test]
    fn instr_matches_the_qtt_cases() {
        let r = reg();
        let i = |v: &str, extra: &[i32]| {
            let mut types = vec![SqlType::String, SqlType::String];
            let mut vals = vec![s(v), s("or")];
            for e in extra {
                types.push(SqlType::Int);
                vals.push(Value::Int(*e));
            }
            run(&r, "INSTR", &types, &vals)
        };
        assert_eq!(i("corporate floor", &[]), Ok(Value::Int(2)));
        assert_eq!(i("should I stay or should I go", &[]), Ok(Value::Int(15)));
        assert_eq!(i("no substring", &[]), Ok(Value::Int(0)));
        assert_eq!(i("corporate floor", &[4]), Ok(Value::Int(5)));
        assert_eq!(i("short", &[4]), Ok(Value::Int(0)));
        assert_eq!(i("corporate floor", &[4, 2]), Ok(Value::Int(14)));
        assert_eq!(i("corporate floor", &[-4]), Ok(Value::Int(5)));
        assert_eq!(i("corporate floor", &[-4, 2]), Ok(Value::Int(2)));
        assert_eq!(i("short", &[-4, 2]), Ok(Value::Int(0)));
        assert_eq!(
            run(
                &r,
                "INSTR",
                &[SqlType::String, SqlType::String],
                &[Value::Null, s("a")]
            ),
            Ok(Value::Int(0))
        );
    }

    #[test]
    fn split_and_split_to_map() {
        let r = reg();
        let sp = |v: &str, d: &str| {
            run(
                &r,
                "SPLIT",
                &[SqlType::String, SqlType::String],
                &[s(v), s(d)],
            )
        };
        assert_eq!(sp("a.b.c", "."), Ok(strs(&["a", "b", "c"])));
        assert_eq!(sp("..a..", "."), Ok(strs(&["", "", "a", "", ""])));
        assert_eq!(sp(".abc$$", "$$"), Ok(strs(&[".abc", ""])));
        assert_eq!(sp("a.b", ""), Ok(strs(&["a", ".", "b"])));
        assert_eq!(sp("", ""), Ok(strs(&[""])));
        assert_eq!(sp("", "."), Ok(strs(&[""])));
        assert_eq!(
            run(
                &r,
                "SPLIT",
                &[SqlType::Bytes, SqlType::Bytes],
                &[b(b".abc."), b(b".")]
            ),
            Ok(Value::Array(vec![b(b""), b(b"abc"), b(b"")]))
        );
        assert_eq!(
            run(
                &r,
                "SPLIT",
                &[SqlType::Bytes, SqlType::Bytes],
                &[b(b"abc"), b(b"")]
            ),
            Ok(Value::Array(vec![b(b"a"), b(b"b"), b(b"c")]))
        );
        let stm = |v: &str, e: &str, k: &str| {
            run(
                &r,
                "SPLIT_TO_MAP",
                &[SqlType::String, SqlType::String, SqlType::String],
                &[s(v), s(e), s(k)],
            )
        };
        let m = |kv: &[(&str, &str)]| Value::Map(kv.iter().map(|(k, v)| (s(k), s(v))).collect());
        assert_eq!(
            stm("apple:green//banana:yellow//cherry:red/", "/", ":"),
            Ok(m(&[
                ("apple", "green"),
                ("banana", "yellow"),
                ("cherry", "red")
            ]))
        );
        assert_eq!(
            stm("apple:green/banana:yellow/cherry:red", "&&", ":"),
            Ok(m(&[("apple", "green/banana")]))
        );
        assert_eq!(stm("apple:green", "/", "="), Ok(m(&[])));
        assert_eq!(stm("apple:green", "", ":"), Ok(Value::Null));
        assert_eq!(stm("", "/", ":"), Ok(m(&[])));
    }

    #[test]
    fn replace_and_regexes() {
        let r = reg();
        let three = [SqlType::String, SqlType::String, SqlType::String];
        assert_eq!(
            run(&r, "REPLACE", &three, &[s("anaconda"), s("a"), s("o")]),
            Ok(s("onocondo"))
        );
        assert_eq!(
            run(
                &r,
                "REGEXP_REPLACE",
                &three,
                &[s("baabbabaa"), s("(ab)+"), s("cat")]
            ),
            Ok(s("bacatbcataa"))
        );
        assert_eq!(
            run(
                &r,
                "REGEXP_REPLACE",
                &three,
                &[s("john smith"), s("(\\w+) (\\w+)"), s("$2, $1")]
            ),
            Ok(s("smith, john"))
        );
        assert!(run(&r, "REGEXP_REPLACE", &three, &[s("a"), s("("), s("x")]).is_err());
        assert!(run(&r, "REGEXP_REPLACE", &three, &[s("a"), s("a"), s("$9")]).is_err());
        let ex = |pat: &str, v: &str, g: Option<i32>| {
            let mut types = vec![SqlType::String, SqlType::String];
            let mut vals = vec![s(pat), s(v)];
            if let Some(g) = g {
                types.push(SqlType::Int);
                vals.push(Value::Int(g));
            }
            run(&r, "REGEXP_EXTRACT", &types, &vals)
        };
        assert_eq!(ex("test.", "some_test_string", None), Ok(s("test_")));
        assert_eq!(ex("test.", "anothertest", None), Ok(Value::Null));
        assert_eq!(ex("(.*) (.*)", "steven zhang", Some(2)), Ok(s("zhang")));
        assert_eq!(ex("(.*) (.*)", "steven zhang", Some(3)), Ok(Value::Null));
        assert_eq!(ex("(.*) (.*)", "agavra", Some(2)), Ok(Value::Null));
        let all = |pat: &str, v: &str, g: i32| {
            run(
                &r,
                "REGEXP_EXTRACT_ALL",
                &[SqlType::String, SqlType::String, SqlType::Int],
                &[s(pat), s(v), Value::Int(g)],
            )
        };
        assert_eq!(
            all("(\\w+) (\\w*)", "apurva mehta agavra ", 2),
            Ok(strs(&["mehta", ""]))
        );
        assert_eq!(all("(\\w+) (\\w*)", "agavra", 2), Ok(strs(&[])));
        let rs = |v: &str, pat: &str| {
            run(
                &r,
                "REGEXP_SPLIT_TO_ARRAY",
                &[SqlType::String, SqlType::String],
                &[s(v), s(pat)],
            )
        };
        assert_eq!(rs("aabcda", "(ab|cd)"), Ok(strs(&["a", "", "a"])));
        assert_eq!(rs("zxy", "(ab|cd)"), Ok(strs(&["zxy"])));
        assert_eq!(rs("abc", ""), Ok(strs(&["a", "b", "c"])));
    }

    #[test]
    fn padding() {
        let r = reg();
        let pad = |name: &str, v: Value, n: Value, padding: Value| {
            run(
                &r,
                name,
                &[SqlType::String, SqlType::Int, SqlType::String],
                &[v, n, padding],
            )
        };
        assert_eq!(
            pad("LPAD", s("foo"), Value::Int(7), s("Bar")),
            Ok(s("BarBfoo"))
        );
        assert_eq!(pad("LPAD", s("foo"), Value::Int(2), s("Bar")), Ok(s("fo")));
        assert_eq!(
            pad("RPAD", s("foo"), Value::Int(5), s("Bar")),
            Ok(s("fooBa"))
        );
        assert_eq!(
            pad("RPAD", s(""), Value::Int(7), s("Bar")),
            Ok(s("BarBarB"))
        );
        assert_eq!(
            pad("LPAD", s("foo"), Value::Int(-1), s("Bar")),
            Ok(Value::Null)
        );
        assert_eq!(pad("LPAD", s("foo"), Value::Int(7), s("")), Ok(Value::Null));
        assert!(pad("LPAD", s("foo"), Value::Int(i32::MAX), s("x")).is_err());
        assert_eq!(
            run(
                &r,
                "LPAD",
                &[SqlType::Bytes, SqlType::Int, SqlType::Bytes],
                &[b(b"foo"), Value::Int(5), b(b"ab")]
            ),
            Ok(b(b"abfoo"))
        );
    }

    #[test]
    fn elt_field_and_chr() {
        let r = reg();
        let elt = [
            lit(Value::Int(2)),
            lit(s("ignored")),
            typed(SqlType::String),
        ];
        assert_eq!(
            call(&r, "ELT", &elt, &[Value::Int(2), s("ignored"), s("x")]),
            Ok(s("x"))
        );
        assert_eq!(
            call(&r, "ELT", &elt, &[Value::Int(2), s("ignored"), Value::Null]),
            Ok(Value::Null)
        );
        assert_eq!(
            call(&r, "ELT", &elt, &[Value::Int(0), s("ignored"), s("x")]),
            Ok(Value::Null)
        );
        let field = [
            lit(s("hello")),
            typed(SqlType::String),
            typed(SqlType::String),
        ];
        assert_eq!(
            call(&r, "FIELD", &field, &[s("hello"), s("world"), s("hello")]),
            Ok(Value::Int(2))
        );
        assert_eq!(
            call(&r, "FIELD", &field, &[s("hello"), Value::Null, Value::Null]),
            Ok(Value::Int(0))
        );
        let chr_i = |c: i32| run(&r, "CHR", &[SqlType::Int], &[Value::Int(c)]);
        assert_eq!(chr_i(75), Ok(s("K")));
        assert_eq!(chr_i(99000), Ok(s("\u{182B8}")));
        assert_eq!(chr_i(-1), Ok(Value::Null));
        let chr_s = |c: &str| run(&r, "CHR", &[SqlType::String], &[s(c)]);
        assert_eq!(chr_s("\\u004b"), Ok(s("K")));
        assert_eq!(chr_s("\\ud820\\udeb8"), Ok(s("\u{182B8}")));
        assert_eq!(chr_s("75"), Ok(Value::Null));
        assert_eq!(chr_s("bogus"), Ok(Value::Null));
        assert!(chr_s("\\uzzzz").is_err());
    }

    #[test]
    fn encode_and_bytes_conversions() {
        let r = reg();
        let enc = |v: &str, from: &str, to: &str| {
            run(
                &r,
                "ENCODE",
                &[SqlType::String, SqlType::String, SqlType::String],
                &[s(v), s(from), s(to)],
            )
        };
        assert_eq!(enc("4578616d706C6521", "hex", "ascii"), Ok(s("Example!")));
        assert_eq!(
            enc("X'4578616d706C6521'", "hex", "base64"),
            Ok(s("RXhhbXBsZSE="))
        );
        assert_eq!(enc("0x", "hex", "utf8"), Ok(s("")));
        assert!(enc("0x0x", "hex", "utf8").is_err());
        assert!(enc("X'", "hex", "utf8").is_err());
        assert_eq!(
            enc("c39c6265726d656e736368", "hex", "ascii"),
            Ok(s("\u{FFFD}\u{FFFD}bermensch"))
        );
        assert_eq!(enc("\u{395}\u{3bb}", "ascii", "hex"), Ok(s("3f3f")));
        assert_eq!(
            enc("zpXOu867zqzOtM6x", "base64", "utf8"),
            Ok(s("\u{395}\u{3bb}\u{3bb}\u{3ac}\u{3b4}\u{3b1}"))
        );
        assert!(enc("x", "base64", "null").is_err());
        let tb = |v: &str, e: &str| {
            run(
                &r,
                "TO_BYTES",
                &[SqlType::String, SqlType::String],
                &[s(v), s(e)],
            )
        };
        assert_eq!(tb("hello", "ascii"), Ok(b(b"hello")));
        assert_eq!(tb("IQ==", "base64"), Ok(b(b"!")));
        assert_eq!(tb("4a", "hex"), Ok(b(b"J")));
        assert!(tb("4", "hex").is_err());
        assert!(tb("x", "ebcdic").is_err());
        let fb = |v: &[u8], e: &str| {
            run(
                &r,
                "FROM_BYTES",
                &[SqlType::Bytes, SqlType::String],
                &[b(v), s(e)],
            )
        };
        assert_eq!(fb(b"J!", "hex"), Ok(s("4a21")));
        assert_eq!(fb(b"hello", "base64"), Ok(s("aGVsbG8=")));
        assert_eq!(fb(&[0xff], "utf8"), Ok(s("\u{FFFD}")));
    }

    #[test]
    fn masks() {
        let r = reg();
        assert_eq!(
            run(&r, "MASK", &[SqlType::String], &[s("AbC-12 x")]),
            Ok(s("XxX-nn-x"))
        );
        let with = [
            SqlType::String,
            SqlType::String,
            SqlType::String,
            SqlType::String,
            SqlType::String,
        ];
        assert_eq!(
            run(
                &r,
                "MASK",
                &with,
                &[s("Ab1-"), s("U"), Value::Null, s("#"), Value::Null]
            ),
            Ok(s("Ub#-"))
        );
        assert!(run(
            &r,
            "MASK",
            &with,
            &[s("Ab1-"), s("UU"), Value::Null, s("#"), Value::Null]
        )
        .is_err());
        let two = [SqlType::String, SqlType::Int];
        assert_eq!(
            run(&r, "MASK_LEFT", &two, &[s("AbCdE"), Value::Int(2)]),
            Ok(s("XxCdE"))
        );
        assert_eq!(
            run(&r, "MASK_RIGHT", &two, &[s("AbCdE"), Value::Int(2)]),
            Ok(s("AbCxX"))
        );
        assert_eq!(
            run(&r, "MASK_KEEP_LEFT", &two, &[s("AbCdE"), Value::Int(2)]),
            Ok(s("AbXxX"))
        );
        assert_eq!(
            run(&r, "MASK_KEEP_RIGHT", &two, &[s("AbCdE"), Value::Int(9)]),
            Ok(s("AbCdE"))
        );
        assert!(run(&r, "MASK_LEFT", &two, &[s("AbCdE"), Value::Int(-1)]).is_err());
    }
}
