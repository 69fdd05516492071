//! The JSON format, with the rules of ksqlDB's `KsqlJsonDeserializer` (Jackson with exact
//! big decimals, then coercion to the column types) and of its serializer (Kafka Connect's
//! `JsonConverter` without schemas, decimals as numbers).
//!
//! Reading: a wrapped row is a JSON object whose fields match the columns by exact name,
//! else by the upper-cased field name; missing fields are NULL and extra fields ignored; a
//! JSON `null` is a null record. An unwrapped single column is the JSON value itself.
//! Values are coerced as ksqlDB does: numbers (and numeric strings) to INT/BIGINT (truncated,
//! wrapping like Java's `intValue()`/`longValue()`), DOUBLE and DECIMAL (exact fit), anything
//! to STRING (objects as compact JSON, arrays as `[a, b]`), base64 strings to BYTES, numbers
//! to TIMESTAMP/DATE/TIME. A record that does not fit is an error naming the path.
//!
//! The parser is Jackson's default dialect: strict JSON, a UTF-8 BOM skipped, nesting at most
//! 1000 deep, numbers at most 1000 characters, content after the first value ignored.

use std::collections::HashMap;

use bytes::Bytes;

use super::text::{
    base64_decode, base64_encode, decimal_to_plain, java_double_to_string, parse_java_double,
    parse_java_int, parse_java_long, DecimalText, MAX_TIME_MILLIS, TIME_RANGE_ERROR,
};
use super::RowSerde;
use crate::types::SqlType;
use crate::value::{Row, Value};

/// Jackson's default maximum nesting depth.
const MAX_DEPTH: usize = 1000;
/// Jackson's default maximum length of a number.
const MAX_NUMBER_LEN: usize = 1000;

/// A parsed JSON value. Numbers keep their text, so decimals keep every digit and scale.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Json {
    Null,
    Bool(bool),
    /// The number exactly as written (valid JSON number syntax).
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Fields in order; a repeated name keeps its first position and its last value.
    Object(Vec<(String, Json)>),
}

/// Parses the first JSON value of `bytes`. `Ok(None)` when there is no content at all
/// (Jackson's `MissingNode`).
pub(crate) fn parse(bytes: &[u8]) -> Result<Option<Json>, String> {
    let mut p = Parser { b: bytes, i: 0 };
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        p.i = 3;
    }
    p.skip_ws();
    if p.i >= p.b.len() {
        return Ok(None);
    }
    let root_is_number = matches!(p.b[p.i], b'-' | b'0'..=b'9');
    let value = p.value(0)?;
    if root_is_number {
        if let Some(&c) = p.b.get(p.i) {
            if !is_ws(c) {
                return Err(p.error("expected space separating root-level values"));
            }
        }
    }
    Ok(Some(value))
}

fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        match self.b.get(self.i) {
            Some(&c) if c.is_ascii_graphic() => {
                format!(
                    "invalid JSON at byte {}: {what} (found '{}')",
                    self.i, c as char
                )
            }
            Some(&c) => format!(
                "invalid JSON at byte {}: {what} (found byte {c:#04x})",
                self.i
            ),
            None => format!("invalid JSON: {what} (found end of input)"),
        }
    }

    fn skip_ws(&mut self) {
        while self.i < self.b.len() && is_ws(self.b[self.i]) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        match self.peek() {
            Some(b'{') => self.object(depth + 1),
            Some(b'[') => self.array(depth + 1),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.error("expected a value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        let end = self.i + word.len();
        if self.b.get(self.i..end) != Some(word.as_bytes()) {
            return Err(self.error("unrecognized token"));
        }
        self.i = end;
        // Jackson rejects `truex`: the token may not run on into identifier characters.
        if let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80 {
                return Err(self.error("unrecognized token"));
            }
        }
        Ok(value)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.i += 1;
                if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    return Err(self.error("leading zeroes not allowed"));
                }
            }
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.error("expected a digit")),
        }
        let mut integral = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            integral = false;
            if self.digits() == 0 {
                return Err(self.error("expected a digit after the decimal point"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            integral = false;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.error("expected a digit in the exponent"));
            }
        }
        if self.i - start > MAX_NUMBER_LEN {
            return Err(format!(
                "invalid JSON: number value length ({}) exceeds the maximum allowed ({MAX_NUMBER_LEN})",
                self.i - start
            ));
        }
        // Only ASCII was consumed, so this is valid UTF-8.
        let text = String::from_utf8_lossy(&self.b[start..self.i]).into_owned();
        if !integral && DecimalText::parse(&text).is_none() {
            return Err(format!("invalid JSON: number out of range: {text}"));
        }
        Ok(Json::Number(text))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = self
                .peek()
                .and_then(|c| (c as char).to_digit(16))
                .ok_or_else(|| self.error("expected a hex digit in a \\u escape"))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, String> {
        // At the opening quote.
        self.i += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            match c {
                b'"' => {
                    self.i += 1;
                    break;
                }
                b'\\' => {
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push(b'"'),
                        b'\\' => out.push(b'\\'),
                        b'/' => out.push(b'/'),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let ch = if (0xD800..0xDC00).contains(&hi)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                                } else {
                                    // A lone high surrogate; the next escape stands alone.
                                    self.i = save;
                                    None
                                }
                            } else {
                                char::from_u32(hi)
                            };
                            let ch = ch.unwrap_or(char::REPLACEMENT_CHARACTER);
                            let mut buf = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                        }
                        _ => {
                            self.i -= 1;
                            return Err(self.error("unrecognized character escape"));
                        }
                    }
                }
                0x00..=0x1f => {
                    return Err(self.error("illegal unquoted control character in a string"))
                }
                _ => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| "invalid JSON: invalid UTF-8 in a string".to_owned())
    }

    fn check_depth(&self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!(
                "invalid JSON: document nesting depth ({depth}) exceeds the maximum allowed ({MAX_DEPTH})"
            ));
        }
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.check_depth(depth)?;
        self.i += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.check_depth(depth)?;
        self.i += 1;
        let mut fields: Vec<(String, Json)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error("expected a field name"));
            }
            let name = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':'"));
            }
            self.i += 1;
            self.skip_ws();
            let value = self.value(depth)?;
            match index.get(&name) {
                Some(&at) => {
                    if let Some(slot) = fields.get_mut(at) {
                        slot.1 = value;
                    }
                }
                None => {
                    index.insert(name.clone(), fields.len());
                    fields.push((name, value));
                }
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(Json::Object(fields));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }
}

/// Appends `s` as a JSON string, escaped as Jackson does (`\"`, `\\`, the short escapes for
/// `\b \t \n \f \r`, `\u00XX` for other control characters; everything else as is).
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON number as Jackson prints the node it read: integers as written (`-0` as `0`),
/// other numbers as `BigDecimal.toString()` (`42.000`, `1E+1`).
fn java_number_text(lexeme: &str) -> String {
    if lexeme.bytes().all(|b| b == b'-' || b.is_ascii_digit()) {
        if lexeme.bytes().all(|b| b == b'-' || b == b'0') {
            return "0".into();
        }
        return lexeme.to_owned();
    }
    DecimalText::parse(lexeme)
        .map(|d| d.to_java_string())
        .unwrap_or_else(|| lexeme.to_owned())
}

/// Appends a parsed JSON value compactly, numbers as Jackson re-prints them.
fn write_json(out: &mut String, json: &Json) {
    match json {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&java_number_text(n)),
        Json::String(s) => write_string(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Object(fields) => {
            out.push('{');
            for (i, (name, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                write_json(out, value);
            }
            out.push('}');
        }
    }
}

/// A JSON node where ksqlDB's coercion sees one: a value, or the root of an empty record.
#[derive(Clone, Copy)]
enum Node<'a> {
    Missing,
    Json(&'a Json),
}

/// Jackson's class name for a node, as ksqlDB's messages give it.
fn node_name(node: Node<'_>) -> &'static str {
    match node {
        Node::Missing => "MissingNode",
        Node::Json(Json::Null) => "NullNode",
        Node::Json(Json::Bool(_)) => "BooleanNode",
        Node::Json(Json::Number(n)) => {
            if n.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) {
                "DecimalNode"
            } else if n.parse::<i32>().is_ok() {
                "IntNode"
            } else if n.parse::<i64>().is_ok() {
                "LongNode"
            } else {
                "BigIntegerNode"
            }
        }
        Node::Json(Json::String(_)) => "TextNode",
        Node::Json(Json::Array(_)) => "ArrayNode",
        Node::Json(Json::Object(_)) => "ObjectNode",
    }
}

/// A coercion failure: ksqlDB's message and the JSON path it happened at (`$.A[1]`).
struct CoerceError {
    message: String,
    path: String,
}

impl CoerceError {
    fn new(message: String) -> CoerceError {
        CoerceError {
            message,
            path: String::new(),
        }
    }

    fn at(mut self, part: &str) -> CoerceError {
        self.path.insert_str(0, part);
        self
    }
}

fn invalid(node: Node<'_>, required: &str) -> CoerceError {
    CoerceError::new(format!(
        "Can't convert type. sourceType: {}, requiredType: {required}",
        node_name(node)
    ))
}

fn bad_string(target: &str) -> CoerceError {
    CoerceError::new(format!("Can't coerce string to type. targetType: {target}"))
}

/// Coerces one node to `ty`, as `KsqlJsonDeserializer.enforceFieldType`; an error's path
/// gets `part` in front.
fn coerce(node: Node<'_>, ty: &SqlType, part: &str) -> Result<Value, CoerceError> {
    if let Node::Json(Json::Null) = node {
        return Ok(Value::Null);
    }
    coerce_non_null(node, ty).map_err(|e| e.at(part))
}

/// [`coerce`] with the path made by `part` only if it fails (the hot path of reading a
/// record allocates nothing for it).
fn coerce_at(
    node: Node<'_>,
    ty: &SqlType,
    part: impl FnOnce() -> String,
) -> Result<Value, CoerceError> {
    if let Node::Json(Json::Null) = node {
        return Ok(Value::Null);
    }
    coerce_non_null(node, ty).map_err(|e| e.at(&part()))
}

fn coerce_non_null(node: Node<'_>, ty: &SqlType) -> Result<Value, CoerceError> {
    let json = match node {
        Node::Json(j) => Some(j),
        Node::Missing => None,
    };
    match ty {
        SqlType::Boolean => match json {
            Some(Json::Bool(b)) => Ok(Value::Boolean(*b)),
            _ => Err(invalid(node, "BOOLEAN")),
        },
        SqlType::Int => int32(node, "INTEGER").map(Value::Int),
        SqlType::Bigint => int64(node, "BIGINT").map(Value::Bigint),
        SqlType::Timestamp => int64(node, "TIMESTAMP").map(Value::Timestamp),
        SqlType::Date => int32(node, "DATE").map(Value::Date),
        SqlType::Time => {
            let millis = int64(node, "TIME")?;
            if !(0..=MAX_TIME_MILLIS).contains(&millis) {
                return Err(CoerceError::new(TIME_RANGE_ERROR.to_owned()));
            }
            Ok(Value::Time(millis))
        }
        SqlType::Double => match json {
            Some(Json::Number(n)) => Ok(Value::Double(
                DecimalText::parse(n)
                    .map(|d| d.to_f64())
                    .unwrap_or(f64::NAN),
            )),
            Some(Json::String(s)) => parse_java_double(s)
                .map(Value::Double)
                .ok_or_else(|| bad_string("DOUBLE")),
            _ => Err(invalid(node, "DOUBLE")),
        },
        SqlType::Decimal(p, s) => {
            let text = match json {
                Some(Json::Number(n)) => n.as_str(),
                Some(Json::String(t)) => t.as_str(),
                _ => return Err(invalid(node, &ty.to_string())),
            };
            let decimal = DecimalText::parse(text).ok_or_else(|| bad_string("DECIMAL"))?;
            decimal
                .fit(*p, *s)
                .map(Value::Decimal)
                .map_err(CoerceError::new)
        }
        SqlType::String => Ok(Value::String(as_string(node)?)),
        SqlType::Bytes => match json {
            Some(Json::String(s)) => {
                let compact: String = s.chars().filter(|c| *c > ' ').collect();
                base64_decode(&compact)
                    .map(|b| Value::Bytes(Bytes::from(b)))
                    .map_err(|_| {
                        CoerceError::new("Value is not a valid Base64 encoded string".to_owned())
                    })
            }
            _ => Err(invalid(node, "BYTES")),
        },
        SqlType::Array(item) => match json {
            Some(Json::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, j)| coerce_at(Node::Json(j), item, || format!("[{i}]")))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            _ => Err(invalid(node, &ty.to_string())),
        },
        SqlType::Map(_, value_ty) => match json {
            Some(Json::Object(fields)) => fields
                .iter()
                .map(|(k, j)| {
                    let v = coerce(Node::Json(j), value_ty, &format!(".{k}.value"))?;
                    Ok((Value::String(k.clone()), v))
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Map),
            _ => Err(invalid(node, &ty.to_string())),
        },
        SqlType::Struct(field_types) => match json {
            Some(Json::Object(fields)) => {
                let lookup = FieldLookup::new(fields);
                field_types
                    .iter()
                    .map(|(name, fty)| {
                        let v = match lookup.get(name) {
                            Some(j) => coerce_at(Node::Json(j), fty, || format!(".{name}"))?,
                            None => Value::Null,
                        };
                        Ok((name.clone(), v))
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Value::Struct)
            }
            _ => Err(invalid(node, &ty.to_string())),
        },
    }
}

/// BIGINT, TIMESTAMP, TIME: a number truncated and wrapped to 64 bits as Java's `asLong()`
/// does, or a string parsed strictly (`Long.parseLong`).
fn int64(node: Node<'_>, target: &str) -> Result<i64, CoerceError> {
    match node {
        Node::Json(Json::Number(n)) => Ok(DecimalText::parse(n)
            .map(|d| d.to_wrapped_i64())
            .unwrap_or(0)),
        Node::Json(Json::String(s)) => parse_java_long(s).ok_or_else(|| bad_string(target)),
        _ => Err(invalid(node, target)),
    }
}

/// INT, DATE: a number truncated and wrapped to 32 bits as Java's `intValue()` does, or a
/// string parsed strictly (`Integer.parseInt`).
fn int32(node: Node<'_>, target: &str) -> Result<i32, CoerceError> {
    match node {
        Node::Json(Json::Number(n)) => Ok(DecimalText::parse(n)
            .map(|d| d.to_wrapped_i64())
            .unwrap_or(0) as i32),
        Node::Json(Json::String(s)) => parse_java_int(s).ok_or_else(|| bad_string(target)),
        _ => Err(invalid(node, target)),
    }
}

/// A STRING column's value from any node, as ksqlDB's `processString`.
fn as_string(node: Node<'_>) -> Result<String, CoerceError> {
    Ok(match node {
        Node::Missing => String::new(),
        Node::Json(Json::Null) => "null".into(),
        Node::Json(Json::Bool(b)) => b.to_string(),
        Node::Json(Json::Number(n)) => java_number_text(n),
        Node::Json(Json::String(s)) => s.clone(),
        Node::Json(j @ Json::Object(_)) => {
            let mut out = String::new();
            write_json(&mut out, j);
            out
        }
        Node::Json(Json::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let part = match item {
                    Json::Null => "null".to_owned(),
                    other => as_string(Node::Json(other)).map_err(|e| e.at(&format!("[{i}]")))?,
                };
                parts.push(part);
            }
            format!("[{}]", parts.join(", "))
        }
    })
}

/// Struct field lookup: the exact name first, then the upper-cased JSON name (the last such
/// field wins), as ksqlDB matches unquoted (upper-case) column names case-insensitively.
struct FieldLookup<'a> {
    fields: &'a [(String, Json)],
    /// For large objects: exact and upper-cased names to values.
    index: Option<FieldIndex<'a>>,
}

/// Exact and upper-cased field names to values.
type FieldIndex<'a> = (HashMap<&'a str, &'a Json>, HashMap<String, &'a Json>);

impl<'a> FieldLookup<'a> {
    /// Builds the indexes up front when the object is large.
    fn new(fields: &'a [(String, Json)]) -> FieldLookup<'a> {
        let index = (fields.len() > 16).then(|| {
            let mut exact = HashMap::with_capacity(fields.len());
            let mut upper = HashMap::with_capacity(fields.len());
            for (n, j) in fields {
                exact.insert(n.as_str(), j);
                upper.insert(n.to_uppercase(), j);
            }
            (exact, upper)
        });
        FieldLookup { fields, index }
    }

    fn get(&self, name: &str) -> Option<&'a Json> {
        match &self.index {
            Some((exact, upper)) => exact.get(name).or_else(|| upper.get(name)).copied(),
            None => self
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .or_else(|| {
                    self.fields
                        .iter()
                        .rev()
                        .find(|(n, _)| upper_equals(n, name))
                })
                .map(|(_, j)| j),
        }
    }
}

fn push_int(out: &mut String, i: i64) {
    use std::fmt::Write as _;
    let _ = write!(out, "{i}");
}

/// Whether `name` upper-cased is `upper` (without allocating for ASCII names).
fn upper_equals(name: &str, upper: &str) -> bool {
    if name.is_ascii() {
        name.len() == upper.len()
            && name
                .bytes()
                .zip(upper.bytes())
                .all(|(a, b)| a.to_ascii_uppercase() == b)
    } else {
        name.to_uppercase() == upper
    }
}

/// Appends `value` of a column of type `ty` as ksqlDB writes it.
pub(crate) fn write_value(out: &mut String, ty: &SqlType, value: &Value) -> Result<(), String> {
    match (ty, value) {
        (_, Value::Null) => out.push_str("null"),
        (SqlType::Boolean, Value::Boolean(b)) => out.push_str(if *b { "true" } else { "false" }),
        (SqlType::Int, Value::Int(i)) => push_int(out, i64::from(*i)),
        (SqlType::Bigint, Value::Int(_) | Value::Bigint(_)) => {
            push_int(out, value.as_i64().unwrap_or(0))
        }
        (
            SqlType::Double,
            Value::Int(_) | Value::Bigint(_) | Value::Double(_) | Value::Decimal(_),
        ) => {
            let d = value.as_f64().unwrap_or(f64::NAN);
            if d.is_finite() {
                out.push_str(&java_double_to_string(d));
            } else {
                // Jackson quotes the non-numeric doubles.
                write_string(out, &java_double_to_string(d));
            }
        }
        (SqlType::Decimal(_, s), Value::Int(_) | Value::Bigint(_) | Value::Decimal(_)) => {
            let d = value.as_decimal().unwrap_or_default();
            out.push_str(&decimal_to_plain(&d, *s)?);
        }
        (SqlType::String, Value::String(s)) => write_string(out, s),
        (SqlType::Bytes, Value::Bytes(b)) => write_string(out, &base64_encode(b)),
        (SqlType::Timestamp, Value::Timestamp(i) | Value::Bigint(i)) => {
            out.push_str(&i.to_string())
        }
        (SqlType::Date, Value::Date(d) | Value::Int(d)) => push_int(out, i64::from(*d)),
        (SqlType::Time, Value::Time(t) | Value::Bigint(t)) => push_int(out, *t),
        (SqlType::Time | SqlType::Timestamp, Value::Int(t)) => push_int(out, i64::from(*t)),
        (SqlType::Array(item), Value::Array(items)) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, v)?;
            }
            out.push(']');
        }
        (SqlType::Map(_, value_ty), Value::Map(entries)) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                match k {
                    Value::String(k) => write_string(out, k),
                    _ => return Err("JSON only supports MAP types with STRING keys".into()),
                }
                out.push(':');
                write_value(out, value_ty, v)?;
            }
            out.push('}');
        }
        (SqlType::Struct(fields), Value::Struct(values)) => {
            out.push('{');
            for (i, (name, fty)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, name);
                out.push(':');
                let v = values
                    .iter()
                    .find(|(n, _)| n == name)
                    .or_else(|| values.get(i))
                    .map(|(_, v)| v)
                    .unwrap_or(&Value::Null);
                write_value(out, fty, v)?;
            }
            out.push('}');
        }
        (ty, v) => return Err(format!("cannot write {v:?} as a {ty} value")),
    }
    Ok(())
}

/// The JSON serde for a list of columns.
pub(crate) struct JsonSerde {
    columns: Vec<(String, SqlType)>,
    /// One column, written and read as the bare JSON value.
    unwrapped: bool,
    /// `key` or `value`, for messages.
    target: &'static str,
    /// The columns a reader uses (all when empty): the fast path builds only these.
    used: Vec<bool>,
}

impl JsonSerde {
    pub(crate) fn new(columns: &[(String, SqlType)], unwrapped: bool, is_key: bool) -> JsonSerde {
        JsonSerde {
            columns: columns.to_vec(),
            unwrapped: unwrapped && columns.len() == 1,
            target: if is_key { "key" } else { "value" },
            used: Vec::new(),
        }
    }

    /// This serde, building on reads only the values of the columns `used` marks.
    pub(crate) fn reading_only(mut self, used: &[bool]) -> JsonSerde {
        self.used = used.to_vec();
        self
    }

    fn fail(&self, e: CoerceError) -> String {
        format!(
            "Failed to deserialize {}. {}, path: {}",
            self.target, e.message, e.path
        )
    }
}

impl RowSerde for JsonSerde {
    fn serialize(&self, row: Option<&[Value]>) -> Result<Option<Bytes>, String> {
        let Some(row) = row else {
            return Ok(None);
        };
        super::check_width(row, self.columns.len())?;
        let mut out = String::new();
        if self.unwrapped {
            let (Some((_, ty)), Some(v)) = (self.columns.first(), row.first()) else {
                return Ok(None);
            };
            if v.is_null() {
                return Ok(None);
            }
            write_value(&mut out, ty, v)?;
        } else {
            out.push('{');
            for (i, ((name, ty), v)) in self.columns.iter().zip(row).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(&mut out, name);
                out.push(':');
                write_value(&mut out, ty, v)?;
            }
            out.push('}');
        }
        Ok(Some(Bytes::from(out)))
    }

    fn deserialize(&self, bytes: Option<&[u8]>) -> Result<Option<Row>, String> {
        let Some(bytes) = bytes else {
            return Ok(None);
        };
        if !self.unwrapped {
            if let Some(row) = self.fast_object(bytes) {
                return Ok(Some(row));
            }
        }
        self.deserialize_general(bytes)
    }
}

impl JsonSerde {
    /// Any record, through the document tree.
    fn deserialize_general(&self, bytes: &[u8]) -> Result<Option<Row>, String> {
        let doc =
            parse(bytes).map_err(|e| format!("Failed to deserialize {}. {e}", self.target))?;
        let root = match &doc {
            Some(j) => Node::Json(j),
            None => Node::Missing,
        };
        if self.unwrapped {
            let Some((_, ty)) = self.columns.first() else {
                return Ok(Some(Vec::new()));
            };
            let v = coerce(root, ty, "$").map_err(|e| self.fail(e))?;
            return Ok(Some(vec![v]));
        }
        match root {
            Node::Json(Json::Null) => Ok(None),
            Node::Json(Json::Object(fields)) => {
                let lookup = FieldLookup::new(fields);
                let mut row = Vec::with_capacity(self.columns.len());
                for (name, ty) in &self.columns {
                    let v = match lookup.get(name) {
                        // The error's path is made only on failure.
                        Some(j) => coerce_at(Node::Json(j), ty, || format!(".{name}"))
                            .map_err(|e| self.fail(e.at("$")))?,
                        None => Value::Null,
                    };
                    row.push(v);
                }
                Ok(Some(row))
            }
            other => {
                let schema = SqlType::Struct(self.columns.clone());
                Err(self.fail(invalid(other, &schema.to_string()).at("$")))
            }
        }
    }
}

/// A primitive JSON token, as the fast path reads it.
enum Token<'a> {
    Str(&'a str),
    Num(&'a str),
    Bool(bool),
    Null,
}

fn skip_ws_at(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// A string without escapes or control characters starting at the quote at `i`, and the
/// index after it; `None` for anything else.
fn simple_string(b: &[u8], i: usize) -> Option<(&str, usize)> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    let start = i + 1;
    let mut j = start;
    while j < b.len() {
        match b[j] {
            b'"' => return Some((std::str::from_utf8(&b[start..j]).ok()?, j + 1)),
            b'\\' => return None,
            c if c < 0x20 => return None,
            _ => j += 1,
        }
    }
    None
}

/// A JSON number by the strict grammar starting at `i`, and the index after it.
fn number(b: &[u8], i: usize) -> Option<(&str, usize)> {
    let mut j = i;
    if b.get(j) == Some(&b'-') {
        j += 1;
    }
    match b.get(j) {
        Some(b'0') => j += 1,
        Some(b'1'..=b'9') => {
            while matches!(b.get(j), Some(b'0'..=b'9')) {
                j += 1;
            }
        }
        _ => return None,
    }
    if b.get(j) == Some(&b'.') {
        j += 1;
        if !matches!(b.get(j), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(b.get(j), Some(b'0'..=b'9')) {
            j += 1;
        }
    }
    if matches!(b.get(j), Some(b'e' | b'E')) {
        j += 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if !matches!(b.get(j), Some(b'0'..=b'9')) {
            return None;
        }
        while matches!(b.get(j), Some(b'0'..=b'9')) {
            j += 1;
        }
    }
    Some((std::str::from_utf8(&b[i..j]).ok()?, j))
}

fn token(b: &[u8], i: usize) -> Option<(Token<'_>, usize)> {
    match b.get(i)? {
        b'"' => simple_string(b, i).map(|(s, j)| (Token::Str(s), j)),
        b't' if b[i..].starts_with(b"true") => Some((Token::Bool(true), i + 4)),
        b'f' if b[i..].starts_with(b"false") => Some((Token::Bool(false), i + 5)),
        b'n' if b[i..].starts_with(b"null") => Some((Token::Null, i + 4)),
        b'-' | b'0'..=b'9' => number(b, i).map(|(n, j)| (Token::Num(n), j)),
        _ => None,
    }
}

/// A primitive token as a column's value, with the same rules as `coerce`; `None` when
/// the general path must decide (other types, strings read as numbers, ...).
fn fast_value(t: &Token<'_>, ty: &SqlType) -> Option<Value> {
    Some(match (t, ty) {
        (Token::Null, _) => Value::Null,
        (Token::Str(s), SqlType::String) => Value::String((*s).to_owned()),
        (Token::Bool(b), SqlType::Boolean) => Value::Boolean(*b),
        (Token::Num(n), SqlType::Bigint) => Value::Bigint(
            DecimalText::parse(n)
                .map(|d| d.to_wrapped_i64())
                .unwrap_or(0),
        ),
        (Token::Num(n), SqlType::Int) => Value::Int(
            DecimalText::parse(n)
                .map(|d| d.to_wrapped_i64())
                .unwrap_or(0) as i32,
        ),
        (Token::Num(n), SqlType::Double) => Value::Double(
            DecimalText::parse(n)
                .map(|d| d.to_f64())
                .unwrap_or(f64::NAN),
        ),
        _ => return None,
    })
}

/// Whether [`fast_value`] takes `t` for `ty`, without building the value.
fn fast_accepts(t: &Token<'_>, ty: &SqlType) -> bool {
    matches!(
        (t, ty),
        (Token::Null, _)
            | (Token::Str(_), SqlType::String)
            | (Token::Bool(_), SqlType::Boolean)
            | (
                Token::Num(_),
                SqlType::Bigint | SqlType::Int | SqlType::Double
            )
    )
}

impl JsonSerde {
    /// Reads a flat JSON object of primitive fields straight into a row, without a
    /// document tree (most records look like this). `None` sends the record down the
    /// general path, which gives the same row or the error: a key or string with escapes,
    /// a nested or unknown value, a coercion other than the plain ones, trailing text.
    /// Field matching is the general path's: an exact name, else the upper-cased name;
    /// the last of repeated names wins.
    fn fast_object(&self, b: &[u8]) -> Option<Row> {
        let mut i = skip_ws_at(b, 0);
        if b.get(i) != Some(&b'{') {
            return None;
        }
        i = skip_ws_at(b, i + 1);
        let mut row = vec![Value::Null; self.columns.len()];
        let mut exact = vec![false; self.columns.len()];
        if b.get(i) == Some(&b'}') {
            i += 1;
        } else {
            loop {
                let (key, next) = simple_string(b, i)?;
                i = skip_ws_at(b, next);
                if b.get(i) != Some(&b':') {
                    return None;
                }
                i = skip_ws_at(b, i + 1);
                let (tok, next) = token(b, i)?;
                i = skip_ws_at(b, next);
                for (c, (name, ty)) in self.columns.iter().enumerate() {
                    let is_exact = key == name;
                    if is_exact || (!exact[c] && upper_equals(key, name)) {
                        if self.used.get(c) == Some(&false) {
                            // Not read: checked (the general path would take it), not built.
                            if !fast_accepts(&tok, ty) {
                                return None;
                            }
                            row[c] = Value::Null;
                        } else {
                            row[c] = fast_value(&tok, ty)?;
                        }
                        exact[c] |= is_exact;
                    }
                }
                match b.get(i) {
                    Some(b',') => i = skip_ws_at(b, i + 1),
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        (skip_ws_at(b, i) == b.len()).then_some(row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_reads_what_the_general_path_reads() {
        let serde = JsonSerde::new(
            &[
                ("ID".into(), SqlType::Bigint),
                ("NAME".into(), SqlType::String),
                ("N".into(), SqlType::Int),
                ("X".into(), SqlType::Double),
                ("OK".into(), SqlType::Boolean),
            ],
            false,
            false,
        );
        for input in [
            r#"{"id": 1, "name": "a", "n": 2, "x": 1.5, "ok": true}"#,
            r#"{"ID":-9223372036854775808,"NAME":"","N":2147483648,"X":-0.5e3,"OK":false}"#,
            r#"{"id": 1, "ID": 2, "id": 3}"#,
            r#"{"Name": "first", "nAme": "second"}"#,
            r#"{"NAME": "exact", "name": "upper"}"#,
            r#"{"n": 41.456, "x": 10, "other": "ignored", "more": null}"#,
            r#"  { }  "#,
            r#"{"id": null, "name": null}"#,
        ] {
            let fast = serde.fast_object(input.as_bytes());
            assert!(fast.is_some(), "the fast path should take {input}");
            assert_eq!(
                fast,
                serde.deserialize_general(input.as_bytes()).unwrap(),
                "{input}"
            );
        }
        // Escapes, nesting, strings read as numbers and bad JSON go the general way.
        for input in [
            r#"{"name": "a\nb"}"#,
            r#"{"na\u006de": "x"}"#,
            r#"{"other": {"a": 1}}"#,
            r#"{"id": "12"}"#,
            r#"{"id": 01}"#,
            r#"{"id": 1,}"#,
            r#"{"id": 1} x"#,
            "\u{feff}{}",
        ] {
            assert!(serde.fast_object(input.as_bytes()).is_none(), "{input}");
            assert_eq!(
                serde.deserialize(Some(input.as_bytes())),
                serde.deserialize_general(input.as_bytes()),
                "{input}"
            );
        }
    }

    fn parse_ok(s: &str) -> Json {
        parse(s.as_bytes()).unwrap().unwrap()
    }

    fn num(s: &str) -> Json {
        Json::Number(s.into())
    }

    #[test]
    fn parses_strict_json_keeping_number_text() {
        assert_eq!(
            parse_ok(r#" {"a": [1, 10.10, -0.5e3, true, null], "b": "x\u0041\n"} "#),
            Json::Object(vec![
                (
                    "a".into(),
                    Json::Array(vec![
                        num("1"),
                        num("10.10"),
                        num("-0.5e3"),
                        Json::Bool(true),
                        Json::Null
                    ])
                ),
                ("b".into(), Json::String("xA\n".into())),
            ])
        );
        assert_eq!(parse_ok("\u{feff}1"), num("1"));
        assert_eq!(parse(b"").unwrap(), None);
        assert_eq!(parse(b"  \n").unwrap(), None);
        assert_eq!(parse_ok(r#""\ud83d\ude00""#), Json::String("😀".into()));
        assert_eq!(parse_ok(r#""\ud83d""#), Json::String("\u{fffd}".into()));
    }

    #[test]
    fn rejects_what_jackson_rejects() {
        for bad in [
            "01",
            "1.",
            ".5",
            "+1",
            "-",
            "1e",
            "NaN",
            "[1,]",
            "{\"a\":1,}",
            "{a:1}",
            "'a'",
            "\"a\nb\"",
            "\"\\x\"",
            "[1 2]",
            "truex",
            "1x",
            "\"abc",
            "[",
            "{\"a\"",
            "nul",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(parse(&[b'"', 0xff, b'"']).is_err());
    }

    #[test]
    fn ignores_content_after_the_root_value() {
        assert_eq!(
            parse_ok("{\"a\":1}}garbage"),
            Json::Object(vec![("a".into(), num("1"))])
        );
        assert_eq!(parse_ok("1 x"), num("1"));
        assert_eq!(parse_ok("true,"), Json::Bool(true));
    }

    #[test]
    fn repeated_fields_keep_the_last_value() {
        assert_eq!(
            parse_ok(r#"{"a":1,"b":2,"a":3}"#),
            Json::Object(vec![("a".into(), num("3")), ("b".into(), num("2"))])
        );
    }

    #[test]
    fn nesting_is_limited() {
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(deep.as_bytes()).is_ok());
        let deeper = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(parse(deeper.as_bytes())
            .unwrap_err()
            .contains("nesting depth"));
        let long = "1".repeat(MAX_NUMBER_LEN + 1);
        assert!(parse(long.as_bytes()).is_err());
    }

    fn read(ty: SqlType, json: &str) -> Result<Value, String> {
        let serde = JsonSerde::new(&[("V".into(), ty)], true, false);
        serde
            .deserialize(Some(json.as_bytes()))
            .map(|r| r.unwrap().remove(0))
    }

    #[test]
    fn coerces_numbers_like_ksqldb() {
        assert_eq!(read(SqlType::Int, "41"), Ok(Value::Int(41)));
        assert_eq!(read(SqlType::Int, "41.456"), Ok(Value::Int(41)));
        assert_eq!(read(SqlType::Int, "\"41\""), Ok(Value::Int(41)));
        assert_eq!(read(SqlType::Int, "2147483648"), Ok(Value::Int(i32::MIN)));
        assert_eq!(read(SqlType::Bigint, "42.9"), Ok(Value::Bigint(42)));
        assert_eq!(read(SqlType::Double, "42"), Ok(Value::Double(42.0)));
        assert_eq!(read(SqlType::Double, "\"42.000\""), Ok(Value::Double(42.0)));
        assert_eq!(
            read(SqlType::Double, "\"NaN\""),
            Ok(Value::Double(f64::NAN))
        );
        assert_eq!(
            read(SqlType::Int, "true").unwrap_err(),
            "Failed to deserialize value. Can't convert type. sourceType: BooleanNode, \
             requiredType: INTEGER, path: $"
        );
        assert_eq!(
            read(SqlType::Int, "\"x\"").unwrap_err(),
            "Failed to deserialize value. Can't coerce string to type. targetType: INTEGER, path: $"
        );
        assert!(read(SqlType::Boolean, "\"true\"").is_err());
        assert_eq!(read(SqlType::Boolean, "false"), Ok(Value::Boolean(false)));
    }

    #[test]
    fn coerces_decimals_keeping_the_column_scale() {
        let dec = |s: &str| Value::Decimal(s.parse().unwrap());
        assert_eq!(read(SqlType::Decimal(4, 2), "10.1"), Ok(dec("10.10")));
        assert_eq!(read(SqlType::Decimal(3, 2), "\"3.4\""), Ok(dec("3.40")));
        assert_eq!(read(SqlType::Decimal(3, 1), "1E+1"), Ok(dec("10.0")));
        assert!(read(SqlType::Decimal(4, 2), "100").is_err());
        assert!(read(SqlType::Decimal(4, 2), "1.234").is_err());
        assert!(read(SqlType::Decimal(4, 2), "true").is_err());
    }

    #[test]
    fn coerces_anything_to_string() {
        let s = |v: &str| Ok(Value::String(v.into()));
        assert_eq!(read(SqlType::String, "true"), s("true"));
        assert_eq!(read(SqlType::String, "42.000"), s("42.000"));
        assert_eq!(read(SqlType::String, "1e1"), s("1E+1"));
        assert_eq!(read(SqlType::String, "\"just\""), s("just"));
        assert_eq!(
            read(SqlType::String, r#"{"json": "object", "n": [1, 2.50]}"#),
            s(r#"{"json":"object","n":[1,2.50]}"#)
        );
        assert_eq!(
            read(SqlType::String, r#"["json", "array", null, [1]]"#),
            s("[json, array, null, [1]]")
        );
        assert_eq!(read(SqlType::String, ""), s(""));
        assert_eq!(read(SqlType::Int, "null"), Ok(Value::Null));
    }

    #[test]
    fn reads_times_and_bytes() {
        assert_eq!(read(SqlType::Timestamp, "10"), Ok(Value::Timestamp(10)));
        assert_eq!(read(SqlType::Date, "-10"), Ok(Value::Date(-10)));
        assert_eq!(read(SqlType::Time, "10"), Ok(Value::Time(10)));
        assert!(read(SqlType::Time, "-5")
            .unwrap_err()
            .contains(TIME_RANGE_ERROR));
        assert_eq!(
            read(SqlType::Bytes, "\"dmFyaWF0aW9ucw==\""),
            Ok(Value::Bytes(Bytes::from_static(b"variations")))
        );
        assert!(read(SqlType::Bytes, "\"a\"").is_err());
        assert!(read(SqlType::Bytes, "1").is_err());
    }

    #[test]
    fn reads_nested_types_with_paths() {
        let ty = SqlType::Struct(vec![
            ("A".into(), SqlType::array(SqlType::Int)),
            ("M".into(), SqlType::map(SqlType::String, SqlType::Int)),
        ]);
        assert_eq!(
            read(ty.clone(), r#"{"a": [1, null], "m": {"k": 2}, "x": 0}"#),
            Ok(Value::Struct(vec![
                ("A".into(), Value::Array(vec![Value::Int(1), Value::Null])),
                (
                    "M".into(),
                    Value::Map(vec![(Value::String("k".into()), Value::Int(2))])
                ),
            ]))
        );
        assert!(read(ty.clone(), r#"{"a": [1, "x"]}"#)
            .unwrap_err()
            .ends_with("path: $.A[1]"));
        assert!(read(ty, r#"{"M": {"b": true}}"#)
            .unwrap_err()
            .ends_with("path: $.M.b.value"));
    }

    #[test]
    fn wrapped_rows_match_fields_by_exact_then_upper_case_name() {
        let cols = vec![
            ("FOO".into(), SqlType::Int),
            ("caseField".into(), SqlType::Int),
            ("BAR".into(), SqlType::String),
        ];
        let serde = JsonSerde::new(&cols, false, false);
        let row = serde
            .deserialize(Some(br#"{"foo": 1, "CASEFIELD": 2, "extra": 3}"#))
            .unwrap();
        assert_eq!(row, Some(vec![Value::Int(1), Value::Null, Value::Null]));
        let row = serde.deserialize(Some(br#"{"caseField": 2}"#)).unwrap();
        assert_eq!(row, Some(vec![Value::Null, Value::Int(2), Value::Null]));
        assert_eq!(serde.deserialize(Some(b"null")).unwrap(), None);
        assert_eq!(serde.deserialize(None).unwrap(), None);
        assert!(serde
            .deserialize(Some(b"true"))
            .unwrap_err()
            .contains("sourceType: BooleanNode, requiredType: STRUCT<`FOO` INTEGER"));
        assert!(serde
            .deserialize(Some(b""))
            .unwrap_err()
            .contains("MissingNode"));
    }

    #[test]
    fn writes_like_ksqldb() {
        let cols = vec![
            ("I".into(), SqlType::Int),
            ("D".into(), SqlType::Double),
            ("N".into(), SqlType::Double),
            ("C".into(), SqlType::Decimal(4, 2)),
            ("S".into(), SqlType::String),
            ("B".into(), SqlType::Bytes),
            ("T".into(), SqlType::Timestamp),
            ("M".into(), SqlType::map(SqlType::String, SqlType::Bigint)),
            (
                "X".into(),
                SqlType::Struct(vec![("F0".into(), SqlType::Int)]),
            ),
        ];
        let serde = JsonSerde::new(&cols, false, false);
        let row = vec![
            Value::Int(1),
            Value::Double(1e7),
            Value::Double(f64::NAN),
            Value::Decimal("1.5".parse().unwrap()),
            Value::String("a\"\u{1}é".into()),
            Value::Bytes(Bytes::from_static(&[123])),
            Value::Timestamp(10),
            Value::Map(vec![(Value::String("k".into()), Value::Bigint(2))]),
            Value::Struct(vec![("F0".into(), Value::Null)]),
        ];
        let bytes = serde.serialize(Some(&row)).unwrap().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"I":1,"D":1.0E7,"N":"NaN","C":1.50,"S":"a\"\u0001é","B":"ew==","T":10,"M":{"k":2},"X":{"F0":null}}"#
        );
        assert_eq!(serde.deserialize(Some(&bytes)).unwrap(), Some(row));
        assert_eq!(serde.serialize(None).unwrap(), None);
        assert!(serde.serialize(Some(&[Value::Int(1)])).is_err());
    }

    #[test]
    fn unwrapped_nulls_are_null_records() {
        let serde = JsonSerde::new(&[("V".into(), SqlType::Boolean)], true, false);
        assert_eq!(serde.serialize(Some(&[Value::Null])).unwrap(), None);
        assert_eq!(
            serde.serialize(Some(&[Value::Boolean(true)])).unwrap(),
            Some(Bytes::from_static(b"true"))
        );
        assert_eq!(
            serde.deserialize(Some(b"null")).unwrap(),
            Some(vec![Value::Null])
        );
    }
}
