//! JSON functions: EXTRACTJSONFIELD, TO_JSON_STRING, IS_JSON_STRING, JSON_ARRAY_CONTAINS,
//! JSON_ARRAY_LENGTH, JSON_CONCAT, JSON_ITEMS, JSON_KEYS and JSON_RECORDS.
//!
//! They parse with a small JSON reader of our own that keeps numbers as written (ksqlDB's
//! Jackson mapper reads floats as exact decimals, so `1.23450` stays `1.23450`) and reads
//! like Jackson's `readTree`: the first value is the document, text after it is ignored,
//! an empty document is "missing".

use std::sync::Arc;

use base64::Engine as _;

use crate::functions::{FunctionRegistry, ScalarFn};
use crate::types::SqlType;
use crate::value::Value;

use super::conv::{self, text};
use super::memo::Memo;
use super::sig::{generic, p, ret, ParamType as P, Udf, Variant};

/// A parsed JSON value. Numbers keep their text; objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number as written, and whether it has a fraction or exponent.
    Num(String, bool),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

const MAX_DEPTH: usize = 512;

struct Reader<'a> {
    s: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("Invalid JSON: {what} at offset {}", self.i))
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return self.err("nesting too deep");
        }
        self.ws();
        match self.s.get(self.i) {
            None => self.err("unexpected end of input"),
            Some(b'{') => {
                self.i += 1;
                let mut fields: Vec<(String, Json)> = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                    return Ok(Json::Obj(fields));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return self.err("expected a field name");
                    }
                    let key = self.string()?;
                    self.ws();
                    if self.s.get(self.i) != Some(&b':') {
                        return self.err("expected ':'");
                    }
                    self.i += 1;
                    let v = self.value(depth + 1)?;
                    match fields.iter_mut().find(|(k, _)| *k == key) {
                        Some(slot) => slot.1 = v,
                        None => fields.push((key, v)),
                    }
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Obj(fields));
                        }
                        _ => return self.err("expected ',' or '}'"),
                    }
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Arr(items));
                        }
                        _ => return self.err("expected ',' or ']'"),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("unrecognized token"),
        }
    }

    fn literal(&mut self, word: &str, v: Json) -> Result<Json, String> {
        let end = self.i + word.len();
        if self.s.get(self.i..end) != Some(word.as_bytes())
            || self
                .s
                .get(end)
                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
        {
            return self.err("unrecognized token");
        }
        self.i = end;
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        if self.digits() == 0 {
            return self.err("expected digits");
        }
        if self.s[int_start] == b'0' && self.i - int_start > 1 {
            return self.err("leading zeroes are not allowed");
        }
        let mut float = false;
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            float = true;
            if self.digits() == 0 {
                return self.err("expected fraction digits");
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            float = true;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("expected exponent digits");
            }
        }
        let text = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        Ok(Json::Num(text, float))
    }

    fn hex4(&mut self) -> Result<u16, String> {
        let Some(h) = self.s.get(self.i..self.i + 4) else {
            return self.err("truncated unicode escape");
        };
        let h = std::str::from_utf8(h).map_err(|_| "Invalid JSON: bad unicode escape")?;
        let v = u16::from_str_radix(h, 16).map_err(|_| "Invalid JSON: bad unicode escape")?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi)
                                && self.s.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                match char::decode_utf16([hi, lo]).next() {
                                    Some(Ok(c)) => c,
                                    _ => {
                                        self.i = save;
                                        '\u{FFFD}'
                                    }
                                }
                            } else {
                                char::from_u32(u32::from(hi)).unwrap_or('\u{FFFD}')
                            }
                        }
                        _ => return self.err("bad escape"),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                c if c < 0x20 => return self.err("unescaped control character"),
                c => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| "Invalid JSON: bad UTF-8".to_string())
    }
}

/// Parses a document as Jackson's `readTree` does: `Ok(None)` for an empty document, the
/// first value otherwise (a root-level number must be followed by whitespace or the end).
pub fn parse(s: &str) -> Result<Option<Json>, String> {
    let mut r = Reader {
        s: s.as_bytes(),
        i: 0,
    };
    r.ws();
    if r.i >= r.s.len() {
        return Ok(None);
    }
    let v = r.value(0)?;
    if matches!(v, Json::Num(..)) {
        if let Some(c) = r.s.get(r.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return r.err("expected space separating root-level values");
            }
        }
    }
    Ok(Some(v))
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl Json {
    /// Compact JSON text, as Jackson writes a tree.
    pub fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Num(n, _) => out.push_str(n),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    /// Compact JSON text.
    pub fn text(&self) -> String {
        let mut s = String::new();
        self.write(&mut s);
        s
    }
}

/// The steps of a JSONPath such as `$.a.b[0]['c']`.
pub fn path_tokens(path: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = path.trim().chars().collect();
    if chars.first() != Some(&'$') {
        return Err(format!("Invalid JsonPath: '{path}' must start with '$'"));
    }
    let mut tokens = Vec::new();
    let mut i = 1;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                let start = i + 1;
                let mut j = start;
                while j < chars.len() && chars[j] != '.' && chars[j] != '[' {
                    j += 1;
                }
                if j == start {
                    return Err(format!("Invalid JsonPath: empty field name in '{path}'"));
                }
                tokens.push(chars[start..j].iter().collect());
                i = j;
            }
            '[' => {
                let close = chars[i..]
                    .iter()
                    .position(|c| *c == ']')
                    .ok_or_else(|| format!("Invalid JsonPath: unclosed '[' in '{path}'"))?;
                let inner: String = chars[i + 1..i + close].iter().collect();
                let inner = inner.trim();
                let unquoted = inner
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
                    .unwrap_or(inner);
                tokens.push(unquoted.to_string());
                i += close + 1;
            }
            _ => {
                return Err(format!(
                    "Invalid JsonPath: unexpected character in '{path}'"
                ))
            }
        }
    }
    Ok(tokens)
}

fn extract(doc: &Json, tokens: &[String]) -> Option<String> {
    let mut node = doc;
    for t in tokens {
        node = match node {
            Json::Arr(items) => {
                let idx: i64 = t.parse().ok()?;
                items.get(usize::try_from(idx).ok()?)?
            }
            Json::Obj(fields) => &fields.iter().find(|(k, _)| k == t)?.1,
            _ => return None,
        };
    }
    Some(match node {
        Json::Str(s) => s.clone(),
        other => other.text(),
    })
}

fn parse_required(s: &str) -> Result<Option<Json>, String> {
    parse(s).map_err(|e| format!("Invalid JSON format:{s}: {e}"))
}

fn extractjsonfield() -> Variant {
    Variant::new(
        vec![p("input", P::String), p("path", P::String)],
        ret(SqlType::String),
    )
    .build(|call, _| {
        let fixed = call.literal_str(1).map(path_tokens);
        let memo: Memo<Vec<String>> = Memo::new();
        Ok(Arc::new(move |args: &[Value]| {
            let input = text(&args[0])?;
            let path = text(&args[1])?;
            let tokens = match &fixed {
                Some(r) => r.clone()?,
                None => (*memo.get(path, path_tokens)?).clone(),
            };
            let Some(doc) = parse_required(input)? else {
                return Ok(Value::Null);
            };
            Ok(extract(&doc, &tokens)
                .map(Value::String)
                .unwrap_or(Value::Null))
        }) as ScalarFn)
    })
}

/// A SQL value as ksqlDB's TO_JSON_STRING writes it: temporal values as ISO text, BYTES
/// as base64, struct fields and map keys sorted.
pub fn to_json(v: &Value, out: &mut String) -> Result<(), String> {
    match v {
        Value::Null => out.push_str("null"),
        Value::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Bigint(i) => out.push_str(&i.to_string()),
        Value::Double(d) => out.push_str(&conv::java_double(*d)),
        Value::Decimal(d) => out.push_str(&conv::decimal_text(d)),
        Value::String(s) => write_str(out, s),
        Value::Bytes(b) => write_str(out, &base64::engine::general_purpose::STANDARD.encode(b)),
        Value::Timestamp(ms) => write_str(out, &super::datetime::format_iso_timestamp(*ms)?),
        Value::Date(d) => write_str(out, &super::datetime::format_iso_date(*d)?),
        Value::Time(ms) => write_str(out, &super::datetime::format_iso_time(*ms)?),
        Value::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                to_json(x, out)?;
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let mut sorted: Vec<(String, &Value)> = entries
                .iter()
                .map(|(k, x)| (conv::java_text(k), x))
                .collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            write_fields(out, sorted.into_iter())?;
        }
        Value::Struct(fields) => {
            let mut sorted: Vec<(String, &Value)> =
                fields.iter().map(|(k, x)| (k.clone(), x)).collect();
            sorted.sort_by(|a, b| a.0.cmp(&b.0));
            write_fields(out, sorted.into_iter())?;
        }
    }
    if out.len() > conv::MAX_RESULT_LEN {
        return Err(conv::too_long("TO_JSON_STRING result"));
    }
    Ok(())
}

fn write_fields<'a>(
    out: &mut String,
    fields: impl Iterator<Item = (String, &'a Value)>,
) -> Result<(), String> {
    out.push('{');
    for (i, (k, v)) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, &k);
        out.push(':');
        to_json(v, out)?;
    }
    out.push('}');
    Ok(())
}

/// JSON_ARRAY_CONTAINS's element test: a top-level scalar of the value's kind and value.
fn json_matches(item: &Json, v: &Value) -> bool {
    match (item, v) {
        (Json::Null, Value::Null) => true,
        (Json::Bool(a), Value::Boolean(b)) => a == b,
        (Json::Str(a), Value::String(b)) => a == b,
        (Json::Num(n, false), Value::Int(i)) => n.parse::<i32>().is_ok_and(|x| x == *i),
        (Json::Num(n, false), Value::Bigint(i)) => n.parse::<i64>().is_ok_and(|x| x == *i),
        (Json::Num(n, true), Value::Double(d)) => n.parse::<f64>().is_ok_and(|x| x == *d),
        _ => false,
    }
}

/// Registers the JSON functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_scalar(
        Udf::new(
            "EXTRACTJSONFIELD",
            "Given a STRING that contains JSON data, extract the value at the specified \
             JSONPath or NULL if the specified path does not exist.",
        )
        .error_name("extractjsonfield")
        .variant(extractjsonfield())
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "TO_JSON_STRING",
            "Given any ksqlDB type returns the equivalent JSON string.",
        )
        .variant(
            Variant::new(vec![p("input", generic("T"))], ret(SqlType::String))
                .handles_nulls()
                .eval(|a| {
                    let mut out = String::new();
                    to_json(&a[0], &mut out)?;
                    Ok(Value::String(out))
                }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "IS_JSON_STRING",
            "Given a string, returns true if it can be parsed as a valid JSON value, false \
             otherwise.",
        )
        .variant(
            Variant::new(vec![p("input", P::String)], ret(SqlType::Boolean))
                .handles_nulls()
                .eval(|a| {
                    Ok(Value::Boolean(match &a[0] {
                        Value::String(s) => matches!(parse(s), Ok(Some(_))),
                        _ => false,
                    }))
                }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "JSON_ARRAY_CONTAINS",
            "Parses a JSON array and determines whether or not the supplied value is \
             contained within the array.",
        )
        .variant(
            Variant::new(
                vec![p("jsonArray", P::String), p("val", generic("T"))],
                ret(SqlType::Boolean),
            )
            .handles_nulls()
            .eval(|a| {
                let Value::String(s) = &a[0] else {
                    return Ok(Value::Null);
                };
                let found = match parse(s) {
                    Ok(Some(Json::Arr(items))) => items.iter().any(|i| json_matches(i, &a[1])),
                    _ => false,
                };
                Ok(Value::Boolean(found))
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "JSON_ARRAY_LENGTH",
            "Given a string, parses it as a JSON value and returns the length of the \
             top-level array. Returns NULL if the string can't be interpreted as a JSON array.",
        )
        .variant(
            Variant::new(vec![p("jsonArray", P::String)], ret(SqlType::Int)).eval(|a| {
                Ok(match parse_required(text(&a[0])?)? {
                    Some(Json::Arr(items)) => {
                        Value::Int(i32::try_from(items.len()).unwrap_or(i32::MAX))
                    }
                    _ => Value::Null,
                })
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "JSON_CONCAT",
            "Given N strings, parse them as JSON values and return a string representing \
             their concatenation: a union of the keys if all are objects (later values win), \
             otherwise an array concatenation where non-arrays count as one-element arrays. \
             NULL if any input is NULL or not JSON.",
        )
        .variant(
            Variant::new(vec![p("jsonStrings", P::String)], ret(SqlType::String))
                .variadic()
                .handles_nulls()
                .eval(|a| {
                    let mut nodes = Vec::with_capacity(a.len());
                    for v in a {
                        let Value::String(s) = v else {
                            return Ok(Value::Null);
                        };
                        match parse_required(s)? {
                            Some(n) => nodes.push(n),
                            None => return Ok(Value::Null),
                        }
                    }
                    if nodes.is_empty() {
                        return Err("JSON_CONCAT needs at least one argument".to_string());
                    }
                    let all_objects = nodes.iter().all(|n| matches!(n, Json::Obj(_)));
                    let result = if all_objects {
                        let mut merged: Vec<(String, Json)> = Vec::new();
                        for n in nodes {
                            if let Json::Obj(fields) = n {
                                for (k, v) in fields {
                                    match merged.iter_mut().find(|(mk, _)| *mk == k) {
                                        Some(slot) => slot.1 = v,
                                        None => merged.push((k, v)),
                                    }
                                }
                            }
                        }
                        Json::Obj(merged)
                    } else {
                        let mut items = Vec::new();
                        for n in nodes {
                            match n {
                                Json::Arr(xs) => items.extend(xs),
                                other => items.push(other),
                            }
                        }
                        Json::Arr(items)
                    };
                    Ok(Value::String(result.text()))
                }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "JSON_ITEMS",
            "Given a string with a JSON array of objects, returns an array of the objects' \
             JSON strings; NULL if an item is not an object.",
        )
        .variant(
            Variant::new(
                vec![p("jsonItems", P::String)],
                ret(SqlType::array(SqlType::String)),
            )
            .eval(|a| {
                let s = text(&a[0])?;
                match parse_required(s)? {
                    Some(Json::Arr(items)) => {
                        let mut out = Vec::with_capacity(items.len());
                        for i in items {
                            if !matches!(i, Json::Obj(_)) {
                                return Ok(Value::Null);
                            }
                            out.push(Value::String(i.text()));
                        }
                        Ok(Value::Array(out))
                    }
                    _ => Err(format!("Invalid JSON array: {s}")),
                }
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "JSON_KEYS",
            "Given a string, parses it as a JSON object and returns an array of its top-level \
             keys; NULL if it is not a JSON object.",
        )
        .variant(
            Variant::new(
                vec![p("jsonObj", P::String)],
                ret(SqlType::array(SqlType::String)),
            )
            .eval(|a| {
                Ok(match parse_required(text(&a[0])?)? {
                    Some(Json::Obj(fields)) => {
                        Value::Array(fields.into_iter().map(|(k, _)| Value::String(k)).collect())
                    }
                    _ => Value::Null,
                })
            }),
        )
        .shared(),
    );
    r.register_scalar(
        Udf::new(
            "JSON_RECORDS",
            "Given a string, parses it as a JSON object and returns a map of its top-level \
             keys to their values as JSON text; NULL if it is not a JSON object.",
        )
        .variant(
            Variant::new(
                vec![p("jsonObj", P::String)],
                ret(SqlType::map(SqlType::String, SqlType::String)),
            )
            .eval(|a| {
                Ok(match parse_required(text(&a[0])?)? {
                    Some(Json::Obj(fields)) => Value::Map(
                        fields
                            .into_iter()
                            .map(|(k, v)| (Value::String(k), Value::String(v.text())))
                            .collect(),
                    ),
                    _ => Value::Null,
                })
            }),
        )
        .shared(),
    );
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{call, lit, reg, run, s, typed};
    use super::*;

    #[test]
    fn reader_keeps_number_text_and_ignores_trailing_text() {
        assert_eq!(
            parse("[1.23450, -0, 1e5]").unwrap().unwrap().text(),
            "[1.23450,-0,1e5]"
        );
        assert_eq!(
            parse("{\"name\": \"cdd\"}}").unwrap().unwrap().text(),
            "{\"name\":\"cdd\"}"
        );
        assert_eq!(parse("  ").unwrap(), None);
        assert!(parse("abc").is_err());
        assert!(parse("1abc").is_err());
        assert!(parse("[1,").is_err());
        assert!(parse("\"\\ud83d\\ude00\"").is_ok());
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn extractjsonfield_follows_json_paths() {
        let r = reg();
        let ex = |doc: &str, path: &str| {
            call(
                &r,
                "EXTRACTJSONFIELD",
                &[typed(SqlType::String), lit(s(path))],
                &[s(doc), s(path)],
            )
        };
        let doc = "{\"name\": \"cdc\", \"version\": \"1\", \"@type\": \"UDF\"}";
        assert_eq!(ex(doc, "$.name"), Ok(s("cdc")));
        assert_eq!(ex(doc, "$.@type"), Ok(s("UDF")));
        assert_eq!(ex(doc, "$.missing"), Ok(Value::Null));
        assert_eq!(ex("{\"array\": [1, 2, 3]}", "$.array[-1]"), Ok(Value::Null));
        assert_eq!(ex("{\"array\": [1, 2, 3]}", "$.array[0]"), Ok(s("1")));
        assert_eq!(ex("{\"array\": [1.23450]}", "$.array[0]"), Ok(s("1.23450")));
        assert_eq!(
            ex("{\"a\": {\"b\": [1, {\"c\": true}]}}", "$['a'].b[1]"),
            Ok(s("{\"c\":true}"))
        );
        assert!(ex("not json", "$.a").is_err());
        assert!(ex(doc, "name").is_err());
    }

    #[test]
    fn to_json_string_writes_ksql_text() {
        let r = reg();
        let tj = |ty: SqlType, v: Value| run(&r, "TO_JSON_STRING", &[ty], &[v]);
        assert_eq!(tj(SqlType::Int, Value::Null), Ok(s("null")));
        assert_eq!(tj(SqlType::String, s("abc")), Ok(s("\"abc\"")));
        assert_eq!(
            tj(SqlType::Double, Value::Double(123.456)),
            Ok(s("123.456"))
        );
        assert_eq!(
            tj(SqlType::Time, Value::Time(60_220_000)),
            Ok(s("\"16:43:40\""))
        );
        assert_eq!(
            tj(SqlType::Date, Value::Date(1000)),
            Ok(s("\"1972-09-27\""))
        );
        assert_eq!(
            tj(SqlType::Timestamp, Value::Timestamp(60_220_000_000)),
            Ok(s("\"1971-11-28T23:46:40.000\""))
        );
        assert_eq!(
            tj(
                SqlType::Bytes,
                Value::Bytes(bytes::Bytes::from_static(b"!"))
            ),
            Ok(s("\"IQ==\""))
        );
        let st = Value::Struct(vec![
            ("NAME".into(), s("Alice")),
            ("ID".into(), Value::Int(1)),
        ]);
        assert_eq!(
            tj(
                SqlType::Struct(vec![
                    ("NAME".into(), SqlType::String),
                    ("ID".into(), SqlType::Int)
                ]),
                st
            ),
            Ok(s("{\"ID\":1,\"NAME\":\"Alice\"}"))
        );
        let m = Value::Map(vec![(
            s("id"),
            Value::Array(vec![Value::Int(1), Value::Int(2)]),
        )]);
        assert_eq!(
            tj(
                SqlType::map(SqlType::String, SqlType::array(SqlType::Int)),
                m
            ),
            Ok(s("{\"id\":[1,2]}"))
        );
    }

    #[test]
    fn json_predicates_and_lengths() {
        let r = reg();
        let is = |v: Value| run(&r, "IS_JSON_STRING", &[SqlType::String], &[v]);
        assert_eq!(is(s("1")), Ok(Value::Boolean(true)));
        assert_eq!(is(s("abc")), Ok(Value::Boolean(false)));
        assert_eq!(is(s("")), Ok(Value::Boolean(false)));
        assert_eq!(is(Value::Null), Ok(Value::Boolean(false)));
        let contains = |doc: &str, v: Value, ty: SqlType| {
            run(
                &r,
                "JSON_ARRAY_CONTAINS",
                &[SqlType::String, ty],
                &[s(doc), v],
            )
        };
        assert_eq!(
            contains("[\"Pink\", null]", s("Pink"), SqlType::String),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            contains("[\"Red\"]", s("Pink"), SqlType::String),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            contains("[1, [2]]", Value::Int(2), SqlType::Int),
            Ok(Value::Boolean(false))
        );
        assert_eq!(
            contains("[1.5]", Value::Double(1.5), SqlType::Double),
            Ok(Value::Boolean(true))
        );
        assert_eq!(
            contains("{}", Value::Int(1), SqlType::Int),
            Ok(Value::Boolean(false))
        );
        let len = |doc: &str| run(&r, "JSON_ARRAY_LENGTH", &[SqlType::String], &[s(doc)]);
        assert_eq!(len("[\"a\", \"b\"]"), Ok(Value::Int(2)));
        assert_eq!(len(""), Ok(Value::Null));
        assert_eq!(len("{}"), Ok(Value::Null));
    }

    #[test]
    fn json_concat_items_keys_records() {
        let r = reg();
        let cat = |a: &str, b: &str| {
            run(
                &r,
                "JSON_CONCAT",
                &[SqlType::String, SqlType::String],
                &[s(a), s(b)],
            )
        };
        assert_eq!(cat("{\"a\": 1}", "{\"b\": 2}"), Ok(s("{\"a\":1,\"b\":2}")));
        assert_eq!(
            cat("{\"a\": {\"5\": 6}}", "{\"a\": {\"3\": 4}}"),
            Ok(s("{\"a\":{\"3\":4}}"))
        );
        assert_eq!(cat("null", "null"), Ok(s("[null,null]")));
        assert_eq!(cat("[1, 2]", "{\"a\": 1}"), Ok(s("[1,2,{\"a\":1}]")));
        assert_eq!(
            cat("[1, [2]]", "[[[3]], [[[4]]]]"),
            Ok(s("[1,[2],[[3]],[[[4]]]]"))
        );
        assert_eq!(cat("1", ""), Ok(Value::Null));
        assert_eq!(
            run(
                &r,
                "JSON_CONCAT",
                &[SqlType::String, SqlType::String],
                &[Value::Null, s("1")]
            ),
            Ok(Value::Null)
        );
        let items = run(
            &r,
            "JSON_ITEMS",
            &[SqlType::String],
            &[s("[{\"type\": \"A\", \"timestamp\": \"2022-01-27\"}]")],
        );
        assert_eq!(
            items,
            Ok(Value::Array(vec![s(
                "{\"type\":\"A\",\"timestamp\":\"2022-01-27\"}"
            )]))
        );
        assert_eq!(
            run(&r, "JSON_ITEMS", &[SqlType::String], &[s("[]")]),
            Ok(Value::Array(vec![]))
        );
        assert_eq!(
            run(&r, "JSON_ITEMS", &[SqlType::String], &[s("[1]")]),
            Ok(Value::Null)
        );
        assert_eq!(
            run(
                &r,
                "JSON_KEYS",
                &[SqlType::String],
                &[s("{\"a\": 1, \"b\": [2]}")]
            ),
            Ok(Value::Array(vec![s("a"), s("b")]))
        );
        assert_eq!(
            run(
                &r,
                "JSON_RECORDS",
                &[SqlType::String],
                &[s("{\"a\": \"x\", \"b\": [2]}")]
            ),
            Ok(Value::Map(vec![(s("a"), s("\"x\"")), (s("b"), s("[2]"))]))
        );
        assert_eq!(
            run(&r, "JSON_RECORDS", &[SqlType::String], &[s("[1]")]),
            Ok(Value::Null)
        );
    }
}
