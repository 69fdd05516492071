//! Loading QTT files: `//` comments out, JSON in, every case parsed into [`QttCase`].
//!
//! Nothing here panics on file data: a file that is not JSON (or has no `tests` array) is an
//! `Err` of [`parse_file`], a case that is malformed is an `Err` entry of the returned list,
//! so that the other cases of the file still run.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::exec::{TestRecord, TestTopic, TestWindow};

/// Removes `//` line comments that are outside JSON strings. Line breaks are kept, so the
/// line numbers of JSON errors still point into the original file; a `//` inside a string
/// (a URL, a regex) is left alone, and so is an escaped quote inside a string.
pub fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(escaped) = chars.next() {
                        out.push(escaped);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                // Drop everything up to (not including) the end of the line.
                while let Some(&next) = chars.peek() {
                    if next == '\n' || next == '\r' {
                        break;
                    }
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// An expected or input record as a test file gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct QttRecord {
    pub topic: String,
    /// `Null` when the file gives no key (as ksqlDB reads it).
    pub key: Value,
    /// `Null` is a tombstone.
    pub value: Value,
    pub timestamp: Option<i64>,
    pub window: Option<TestWindow>,
    /// `None` when the file gives no `headers` (then they are not compared).
    pub headers: Option<Vec<(String, Option<Vec<u8>>)>>,
}

impl QttRecord {
    /// The record for the engine (an input record): missing headers are no headers.
    pub fn to_test_record(&self) -> TestRecord {
        TestRecord {
            topic: self.topic.clone(),
            key: self.key.clone(),
            value: self.value.clone(),
            timestamp: self.timestamp,
            window: self.window,
            headers: self.headers.clone().unwrap_or_default(),
        }
    }
}

/// A case's `expectedException`; both parts are hints (see the README).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpectedException {
    /// A Java class name, e.g. `io.confluent.ksql.util.KsqlStatementException`.
    pub type_name: Option<String>,
    /// A substring of ksqlDB's message.
    pub message: Option<String>,
}

impl std::fmt::Display for ExpectedException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.type_name, &self.message) {
            (Some(t), Some(m)) => write!(f, "{t}: {m}"),
            (Some(t), None) => write!(f, "{t}"),
            (None, Some(m)) => write!(f, "{m}"),
            (None, None) => write!(f, "any error"),
        }
    }
}

/// A pre-declared topic of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct QttTopic {
    pub name: String,
    pub partitions: Option<i32>,
    /// Whether the declaration carries a schema (`valueSchema`, `keySchema`, a schema id or
    /// references): such a topic needs a schema registry.
    pub has_schema: bool,
}

impl QttTopic {
    /// The topic for the engine.
    pub fn to_test_topic(&self) -> TestTopic {
        TestTopic {
            name: self.name.clone(),
            partitions: self.partitions,
        }
    }
}

/// The key format a `post` source expects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeyFormatCheck {
    /// `KAFKA`, `JSON`, ...
    pub format: Option<String>,
    /// `Some(true)` when the entry names a `windowType`, `Some(false)` when it gives
    /// `windowType: null`, `None` when it does not say.
    pub windowed: Option<bool>,
}

/// One expected source of a case's `post`. Parts the file does not give are not checked.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PostSourceCheck {
    pub name: String,
    /// `stream` or `table` (any case).
    pub kind: Option<String>,
    /// As ksqlDB prints it: `ID BIGINT KEY, NAME STRING`.
    pub schema: Option<String>,
    pub key_format: Option<KeyFormatCheck>,
    pub value_format: Option<String>,
}

/// A case's `post` checks, those the runner knows (others are ignored).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Post {
    pub sources: Vec<PostSourceCheck>,
    /// Topics that must exist after the run.
    pub topics: Vec<String>,
    /// A (Java) regex no topic that exists after the run may contain a match of.
    pub blacklist: Option<String>,
}

/// One case of a QTT file, before expansion into runs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QttCase {
    pub name: String,
    /// May contain `{FORMAT}`.
    pub statements: Vec<String>,
    pub inputs: Vec<QttRecord>,
    pub outputs: Vec<QttRecord>,
    pub expected_exception: Option<ExpectedException>,
    /// `format`: one run per entry (empty: one run).
    pub formats: Vec<String>,
    /// `config`: one run per entry (empty: one run).
    pub configs: Vec<String>,
    /// Engine properties, values as strings; one of them may be `{CONFIG}`.
    pub properties: BTreeMap<String, String>,
    pub topics: Vec<QttTopic>,
    pub post: Option<Post>,
    /// `false` for `enabled: false`.
    pub enabled: bool,
    /// The case is a REST case (it has `responses` or `expectedError`).
    pub rest: bool,
}

/// A case that could not be read: its name (or `case #<n>`) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedCase {
    pub name: String,
    pub reason: String,
}

/// Parses a whole file's text (comments allowed). `Err` when the file as a whole is not a
/// QTT file; otherwise one entry per element of `tests`.
pub fn parse_file(text: &str) -> Result<Vec<Result<QttCase, MalformedCase>>, String> {
    let json: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(top) = json else {
        return Err("the top level is not a JSON object".into());
    };
    let Some(tests) = top.get("tests") else {
        return Err("no `tests` array at the top level".into());
    };
    let Value::Array(tests) = tests else {
        return Err("`tests` is not an array".into());
    };
    Ok(tests
        .iter()
        .enumerate()
        .map(|(i, case)| {
            parse_case(case).map_err(|reason| MalformedCase {
                name: case
                    .get("name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("case #{}", i + 1)),
                reason,
            })
        })
        .collect())
}

/// Parses one element of `tests`.
pub fn parse_case(json: &Value) -> Result<QttCase, String> {
    let obj = json.as_object().ok_or("a case is not a JSON object")?;
    let name = match obj.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("`name` is not a string".into()),
        None => return Err("no `name`".into()),
    };
    let statements = match obj.get("statements") {
        Some(v) => string_list(v, "statements")?,
        None => return Err("no `statements`".into()),
    };
    let inputs = records(obj, "inputs")?;
    let outputs = records(obj, "outputs")?;
    let expected_exception = match obj.get("expectedException") {
        None | Some(Value::Null) => None,
        Some(Value::Object(e)) => Some(ExpectedException {
            type_name: opt_string(e, "type", "expectedException.type")?,
            message: opt_string(e, "message", "expectedException.message")?,
        }),
        Some(_) => return Err("`expectedException` is not an object".into()),
    };
    let formats = match obj.get("format") {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => string_list(v, "format")?,
    };
    let configs = match obj.get("config") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items.iter().map(property_text).collect(),
        Some(_) => return Err("`config` is not an array".into()),
    };
    let properties = match obj.get("properties") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(props)) => props
            .iter()
            .map(|(k, v)| (k.clone(), property_text(v)))
            .collect(),
        Some(_) => return Err("`properties` is not an object".into()),
    };
    let topics = match obj.get("topics") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, t)| topic(t).map_err(|e| format!("topics[{i}]: {e}")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`topics` is not an array".into()),
    };
    let post = match obj.get("post") {
        None | Some(Value::Null) => None,
        Some(p) => Some(post(p).map_err(|e| format!("post: {e}"))?),
    };
    let enabled = match obj.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("`enabled` is not a boolean".into()),
    };
    let rest = obj.contains_key("responses") || obj.contains_key("expectedError");
    Ok(QttCase {
        name,
        statements,
        inputs,
        outputs,
        expected_exception,
        formats,
        configs,
        properties,
        topics,
        post,
        enabled,
        rest,
    })
}

/// A property or config value as the engine gets it: strings as they are, other JSON as
/// its text (`true`, `15`).
fn property_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, String> {
    let Value::Array(items) = v else {
        return Err(format!("`{what}` is not an array"));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{what}[{i}] is not a string"))
        })
        .collect()
}

fn opt_string(obj: &Map<String, Value>, key: &str, what: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{what}` is not a string")),
    }
}

fn records(obj: &Map<String, Value>, key: &str) -> Result<Vec<QttRecord>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, r)| record(r).map_err(|e| format!("{key}[{i}]: {e}")))
            .collect(),
        Some(_) => Err(format!("`{key}` is not an array")),
    }
}

/// Parses one record. Unknown fields (comments, typos in ksqlDB's own files) are ignored.
pub fn record(json: &Value) -> Result<QttRecord, String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    let topic = match obj.get("topic") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err("`topic` is not a non-empty string".into()),
        None => return Err("no `topic`".into()),
    };
    let key = obj.get("key").cloned().unwrap_or(Value::Null);
    let value = obj.get("value").cloned().ok_or("no `value`")?;
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_i64().ok_or("`timestamp` is not an integer")?),
    };
    let window = match obj.get("window") {
        None | Some(Value::Null) => None,
        Some(w) => Some(window(w).map_err(|e| format!("window: {e}"))?),
    };
    let headers = match obj.get("headers") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, h)| header(h).map_err(|e| format!("headers[{i}]: {e}")))
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err("`headers` is not an array".into()),
    };
    Ok(QttRecord {
        topic,
        key,
        value,
        timestamp,
        window,
        headers,
    })
}

fn window(json: &Value) -> Result<TestWindow, String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    let bound = |name: &str| {
        obj.get(name)
            .and_then(Value::as_i64)
            .ok_or_else(|| format!("`{name}` is not an integer"))
    };
    let start = bound("start")?;
    let end = bound("end")?;
    let session = match obj.get("type").and_then(Value::as_str) {
        Some(t) if t.eq_ignore_ascii_case("session") => true,
        Some(t) if t.eq_ignore_ascii_case("time") => false,
        Some(t) => return Err(format!("unknown window type `{t}`")),
        None => return Err("no `type` (`time` or `session`)".into()),
    };
    Ok(TestWindow {
        start,
        end,
        session,
    })
}

/// `{"KEY": "k", "VALUE": base64 or null}` (the field names in any case).
fn header(json: &Value) -> Result<(String, Option<Vec<u8>>), String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    let field = |name: &str| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    let key = field("KEY")
        .and_then(Value::as_str)
        .ok_or("`KEY` is not a string")?
        .to_string();
    let value = match field("VALUE") {
        None | Some(Value::Null) => None,
        Some(Value::String(b64)) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("`VALUE` is not base64: {e}"))?,
        ),
        Some(_) => return Err("`VALUE` is not a base64 string".into()),
    };
    Ok((key, value))
}

fn topic(json: &Value) -> Result<QttTopic, String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("`name` is not a string")?
        .to_string();
    let partitions = match obj.get("partitions") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .ok_or("`partitions` is not an integer")?,
        ),
    };
    let has_schema = obj
        .iter()
        .any(|(k, v)| k.to_ascii_lowercase().contains("schema") && !v.is_null());
    Ok(QttTopic {
        name,
        partitions,
        has_schema,
    })
}

/// The format name of a `post` format entry: `"JSON"` or `{"format": "JSON", ...}`.
fn format_name(v: &Value, what: &str) -> Result<Option<String>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Object(o) => opt_string(o, "format", &format!("{what}.format")),
        _ => Err(format!("`{what}` is neither a string nor an object")),
    }
}

fn post(json: &Value) -> Result<Post, String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    let mut post = Post::default();
    match obj.get("sources") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, s) in items.iter().enumerate() {
                post.sources
                    .push(post_source(s).map_err(|e| format!("sources[{i}]: {e}"))?);
            }
        }
        Some(_) => return Err("`sources` is not an array".into()),
    }
    match obj.get("topics") {
        None | Some(Value::Null) => {}
        Some(Value::Object(t)) => {
            post.blacklist = opt_string(t, "blacklist", "topics.blacklist")?;
            match t.get("topics") {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) => {
                    for (i, topic) in items.iter().enumerate() {
                        let name = topic
                            .get("name")
                            .and_then(Value::as_str)
                            .ok_or_else(|| format!("topics.topics[{i}]: `name` is not a string"))?;
                        post.topics.push(name.to_string());
                    }
                }
                Some(_) => return Err("`topics.topics` is not an array".into()),
            }
        }
        Some(_) => return Err("`topics` is not an object".into()),
    }
    Ok(post)
}

fn post_source(json: &Value) -> Result<PostSourceCheck, String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    let name = obj
        .get("name")
        .and_then(Value::as_str)
        .ok_or("`name` is not a string")?
        .to_string();
    let key_format = match obj.get("keyFormat") {
        None | Some(Value::Null) => None,
        Some(v) => Some(KeyFormatCheck {
            format: format_name(v, "keyFormat")?,
            windowed: v
                .as_object()
                .and_then(|o| o.get("windowType"))
                .map(|w| !w.is_null()),
        }),
    };
    let value_format = match obj.get("valueFormat") {
        None => None,
        Some(v) => format_name(v, "valueFormat")?,
    };
    Ok(PostSourceCheck {
        name,
        kind: opt_string(obj, "type", "type")?,
        schema: opt_string(obj, "schema", "schema")?,
        key_format,
        value_format,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comments_are_stripped_outside_strings_only() {
        let text = "{\n  // a comment\n  \"url\": \"http://x//y\", // trailing\n  \"q\": \"a \\\" // b\"\n}";
        let stripped = strip_comments(text);
        let v: Value = serde_json::from_str(&stripped).expect("valid JSON after stripping");
        assert_eq!(v["url"], "http://x//y");
        assert_eq!(v["q"], "a \" // b");
        assert!(!stripped.contains("a comment"));
        assert!(!stripped.contains("trailing"));
        // Line numbers survive.
        assert_eq!(stripped.lines().count(), text.lines().count());
    }

    #[test]
    fn a_comment_at_the_end_without_newline_and_a_single_slash() {
        assert_eq!(strip_comments("{\"a\": 1/2} // end"), "{\"a\": 1/2} ");
        assert_eq!(strip_comments("\"\\\\\" // x"), "\"\\\\\" ");
    }

    #[test]
    fn a_full_case_parses() {
        let case = parse_case(&json!({
            "name": "n",
            "statements": ["CREATE STREAM X WITH (value_format='{FORMAT}');"],
            "format": ["JSON", "AVRO"],
            "config": ["true", false],
            "properties": {"a": "{CONFIG}", "b": 15, "c": true},
            "inputs": [{"topic": "t", "value": {"A": 1}, "timestamp": 5}],
            "outputs": [
                {"topic": "o", "key": 1, "value": null,
                 "window": {"start": 0, "end": 10, "type": "session"},
                 "headers": [{"KEY": "h", "VALUE": "AQI="}, {"KEY": "n", "VALUE": null}]}
            ],
            "topics": [{"name": "t", "partitions": 4, "valueSchema": {"type": "int"}}],
            "expectedException": {"type": "T", "message": "M"},
            "post": {
                "sources": [{"name": "X", "type": "stream", "schema": "A INT",
                             "keyFormat": {"format": "KAFKA", "windowType": "SESSION"},
                             "valueFormat": "JSON", "keyFeatures": []}],
                "topics": {"blacklist": ".*-repartition", "topics": [{"name": "o"}]}
            },
            "enabled": false,
            "comment": "ignored"
        }))
        .expect("parses");
        assert_eq!(case.formats, ["JSON", "AVRO"]);
        assert_eq!(case.configs, ["true", "false"]);
        assert_eq!(case.properties["b"], "15");
        assert_eq!(case.properties["c"], "true");
        assert_eq!(case.inputs[0].key, Value::Null);
        assert_eq!(case.inputs[0].timestamp, Some(5));
        assert_eq!(case.inputs[0].headers, None);
        let out = &case.outputs[0];
        assert_eq!(out.value, Value::Null);
        assert_eq!(
            out.window,
            Some(TestWindow {
                start: 0,
                end: 10,
                session: true
            })
        );
        assert_eq!(
            out.headers,
            Some(vec![("h".into(), Some(vec![1, 2])), ("n".into(), None)])
        );
        assert!(case.topics[0].has_schema);
        assert_eq!(case.topics[0].partitions, Some(4));
        assert_eq!(
            case.expected_exception.as_ref().map(|e| e.to_string()),
            Some("T: M".into())
        );
        let post = case.post.expect("post");
        assert_eq!(post.topics, ["o"]);
        assert_eq!(post.blacklist.as_deref(), Some(".*-repartition"));
        let src = &post.sources[0];
        assert_eq!(src.kind.as_deref(), Some("stream"));
        assert_eq!(
            src.key_format,
            Some(KeyFormatCheck {
                format: Some("KAFKA".into()),
                windowed: Some(true)
            })
        );
        assert_eq!(src.value_format.as_deref(), Some("JSON"));
        assert!(!case.enabled);
        assert!(!case.rest);
    }

    #[test]
    fn malformed_cases_are_reported_not_fatal() {
        let cases = parse_file(
            r#"{"tests": [
                {"name": "ok", "statements": []},
                {"name": "no value", "statements": [], "inputs": [{"topic": "t"}]},
                {"statements": []},
                {"name": "bad ts", "statements": [], "outputs": [{"topic": "t", "value": 1, "timestamp": "x"}]},
                {"name": "bad header", "statements": [], "outputs": [{"topic": "t", "value": 1, "headers": [{"KEY": "k", "VALUE": "!!"}]}]},
                {"name": "bad window", "statements": [], "outputs": [{"topic": "t", "value": 1, "window": {"start": 0, "end": 1, "type": "hop"}}]},
                3
            ]}"#,
        )
        .expect("a QTT file");
        assert_eq!(cases.len(), 7);
        assert!(cases[0].is_ok());
        let errs: Vec<_> = cases[1..]
            .iter()
            .map(|c| c.as_ref().expect_err("malformed"))
            .collect();
        assert_eq!(errs[0].name, "no value");
        assert!(
            errs[0].reason.contains("inputs[0]: no `value`"),
            "{}",
            errs[0].reason
        );
        assert_eq!(errs[1].name, "case #3");
        assert!(errs[2].reason.contains("timestamp"));
        assert!(errs[3].reason.contains("base64"));
        assert!(errs[4].reason.contains("unknown window type"));
        assert_eq!(errs[5].name, "case #7");
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(parse_file("{").unwrap_err().starts_with("not JSON"));
        assert!(parse_file("[]").is_err());
        assert!(parse_file("{\"comments\": []}").is_err());
        assert!(parse_file("{\"tests\": 1}").is_err());
        assert_eq!(parse_file("// c\n{\"tests\": []}").map(|c| c.len()), Ok(0));
    }

    #[test]
    fn rest_cases_are_recognised() {
        let case =
            parse_case(&json!({"name": "r", "statements": [], "responses": []})).expect("parses");
        assert!(case.rest);
    }
}
