//! Comparing what a run produced with what its case expects: records (key, value, window,
//! headers, timestamp), per-topic order and count, and the `post` checks.
//!
//! Every function returns the first difference as text (`None`: no difference), ready for
//! the runner's `FAIL` line.

use std::collections::BTreeMap;

use serde_json::{Number, Value};

use super::exec::{ExecOutput, TestRecord, TestWindow};
use super::load::{Post, QttRecord};

/// Two doubles are equal when they differ by at most this much (relative to the larger
/// magnitude once that is above 1).
pub const DOUBLE_TOLERANCE: f64 = 1e-6;

/// How many characters of a JSON value a difference message shows.
const SHOWN_CHARS: usize = 200;

/// A value for a message, cut at [`SHOWN_CHARS`].
fn show(v: &Value) -> String {
    let text = v.to_string();
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text,
    }
}

/// Whether two JSON numbers are equal by the README's rules: integers exactly; when
/// either side is not an integer, by value within [`DOUBLE_TOLERANCE`]. A decimal's
/// scale is not visible in a parsed JSON number (`1.10` reads as `1.1`), so decimals
/// compare by value.
pub fn numbers_match(expected: &Number, actual: &Number) -> bool {
    if expected.is_f64() || actual.is_f64() {
        let (Some(e), Some(a)) = (expected.as_f64(), actual.as_f64()) else {
            return false;
        };
        if e == a {
            return true;
        }
        let scale = e.abs().max(a.abs()).max(1.0);
        return (e - a).abs() <= DOUBLE_TOLERANCE * scale;
    }
    match (expected.as_i64(), actual.as_i64()) {
        (Some(e), Some(a)) => e == a,
        _ => expected.as_u64().is_some() && expected.as_u64() == actual.as_u64(),
    }
}

/// The first difference between an expected and a produced JSON value, `path` naming
/// where (`value`, `value.NAME`, `key[2]`). An expected object matches a produced object
/// with the same number of fields whose every expected field is found under its name or
/// its upper-cased name (an expected null also matches a field that is not there, as in
/// ksqlDB); arrays match element-wise; strings, booleans and null exactly.
pub fn json_difference(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    let differ = || {
        Some(format!(
            "{path}: expected {}, got {}",
            show(expected),
            show(actual)
        ))
    };
    match (expected, actual) {
        (Value::Null, Value::Null) => None,
        (Value::Bool(e), Value::Bool(a)) if e == a => None,
        (Value::String(e), Value::String(a)) if e == a => None,
        (Value::Number(e), Value::Number(a)) if numbers_match(e, a) => None,
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Some(format!(
                    "{path}: expected {} elements {}, got {} {}",
                    e.len(),
                    show(expected),
                    a.len(),
                    show(actual)
                ));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .find_map(|(i, (e, a))| json_difference(e, a, &format!("{path}[{i}]")))
        }
        (Value::Object(e), Value::Object(a)) => {
            let names = |m: &serde_json::Map<String, Value>| {
                m.keys().cloned().collect::<Vec<_>>().join(", ")
            };
            if e.len() != a.len() {
                return Some(format!(
                    "{path}: expected fields [{}], got [{}]",
                    names(e),
                    names(a)
                ));
            }
            e.iter().find_map(|(name, ev)| {
                let field = a.get(name).or_else(|| a.get(&name.to_uppercase()));
                match field {
                    Some(av) => json_difference(ev, av, &format!("{path}.{name}")),
                    // As in ksqlDB, a missing field reads as null (cast.json `of nulls`
                    // relies on it); the field counts are equal already.
                    None if ev.is_null() => None,
                    None => Some(format!(
                        "{path}: no field {name} (got fields [{}])",
                        names(a)
                    )),
                }
            })
        }
        _ => differ(),
    }
}

fn show_window(w: &TestWindow) -> String {
    let kind = if w.session { "session" } else { "time" };
    format!("{kind} [{}, {}]", w.start, w.end)
}

fn show_headers(headers: &[(String, Option<Vec<u8>>)]) -> String {
    use base64::Engine as _;
    let items: Vec<String> = headers
        .iter()
        .map(|(k, v)| match v {
            Some(bytes) => format!(
                "{k}={}",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ),
            None => format!("{k}=null"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// The first difference between one expected and one produced record: the window (when
/// expected), the key, the value, the headers (when expected) and the timestamp (when
/// expected). `zero_timestamp_counts` is false for cases without inputs (their records
/// come from `INSERT VALUES`), where ksqlDB does not compare an expected timestamp of 0.
pub fn record_difference(
    expected: &QttRecord,
    actual: &TestRecord,
    zero_timestamp_counts: bool,
) -> Option<String> {
    if let Some(w) = &expected.window {
        if actual.window.as_ref() != Some(w) {
            return Some(format!(
                "window: expected {}, got {}",
                show_window(w),
                actual
                    .window
                    .as_ref()
                    .map(show_window)
                    .unwrap_or_else(|| "none (an unwindowed key)".into())
            ));
        }
    }
    if let Some(d) = json_difference(&expected.key, &actual.key, "key") {
        return Some(d);
    }
    if let Some(d) = json_difference(&expected.value, &actual.value, "value") {
        return Some(d);
    }
    if let Some(h) = &expected.headers {
        if *h != actual.headers {
            return Some(format!(
                "headers: expected {}, got {}",
                show_headers(h),
                show_headers(&actual.headers)
            ));
        }
    }
    if let Some(ts) = expected.timestamp {
        if (ts != 0 || zero_timestamp_counts) && actual.timestamp != Some(ts) {
            return Some(format!(
                "timestamp: expected {ts}, got {}",
                actual
                    .timestamp
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "none".into())
            ));
        }
    }
    None
}

/// A record for a message: `key => value`.
fn show_record(key: &Value, value: &Value) -> String {
    format!("{} => {}", show(key), show(value))
}

/// The first difference between the expected outputs and what the run produced. Only the
/// topics the case lists are checked (as ksqlDB's QTT does); on each, count and order must
/// match; order across topics is not checked. `has_inputs`: whether the case has inputs
/// (see [`record_difference`]).
pub fn outputs_difference(
    expected: &[QttRecord],
    produced: &BTreeMap<String, Vec<TestRecord>>,
    has_inputs: bool,
) -> Option<String> {
    // Topics in the order they first appear among the expected records.
    let mut by_topic: Vec<(&str, Vec<&QttRecord>)> = Vec::new();
    for r in expected {
        match by_topic.iter_mut().find(|(t, _)| *t == r.topic) {
            Some((_, records)) => records.push(r),
            None => by_topic.push((&r.topic, vec![r])),
        }
    }
    let none = Vec::new();
    for (topic, wanted) in by_topic {
        let got = produced.get(topic).unwrap_or(&none);
        let mismatch = wanted
            .iter()
            .zip(got)
            .enumerate()
            .find_map(|(i, (e, a))| record_difference(e, a, has_inputs).map(|d| (i, d)));
        if wanted.len() != got.len() {
            let detail = match mismatch {
                Some((i, d)) => format!("first difference at record {i}: {d}"),
                None if wanted.len() > got.len() => {
                    let first = wanted[got.len()];
                    format!("first missing: {}", show_record(&first.key, &first.value))
                }
                None => {
                    let first = &got[wanted.len()];
                    format!("first extra: {}", show_record(&first.key, &first.value))
                }
            };
            return Some(format!(
                "topic {topic}: expected {} records, got {}; {detail}",
                wanted.len(),
                got.len()
            ));
        }
        if let Some((i, d)) = mismatch {
            return Some(format!("topic {topic}, record {i}: {d}"));
        }
    }
    None
}

/// A token of a schema text: a word (`quoted` when it was in backticks) or one other
/// character.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SchemaToken {
    text: String,
    quoted: bool,
}

impl SchemaToken {
    /// The word as ksqlDB reads it: unquoted words upper-cased, with `INTEGER` read as
    /// `INT` and `VARCHAR` as `STRING`; quoted identifiers exactly.
    fn canonical(&self) -> String {
        if self.quoted {
            return self.text.clone();
        }
        let upper = self.text.to_uppercase();
        match upper.as_str() {
            "INTEGER" => "INT".into(),
            "VARCHAR" => "STRING".into(),
            _ => upper,
        }
    }

    fn is_word(&self, word: &str) -> bool {
        !self.quoted && self.text.eq_ignore_ascii_case(word)
    }
}

/// The tokens of a schema text: whitespace dropped, `PRIMARY KEY` read as `KEY` (a
/// table's key column is printed either way).
fn schema_tokens(schema: &str) -> Vec<SchemaToken> {
    let mut tokens: Vec<SchemaToken> = Vec::new();
    let mut chars = schema.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        let token = if c == '`' {
            let mut ident = String::new();
            while let Some(n) = chars.next() {
                if n == '`' {
                    if chars.peek() == Some(&'`') {
                        chars.next();
                        ident.push('`');
                    } else {
                        break;
                    }
                } else {
                    ident.push(n);
                }
            }
            SchemaToken {
                text: ident,
                quoted: true,
            }
        } else if c.is_alphanumeric() || c == '_' {
            let mut word = String::from(c);
            while let Some(&n) = chars.peek() {
                if !(n.is_alphanumeric() || n == '_') {
                    break;
                }
                word.push(n);
                chars.next();
            }
            SchemaToken {
                text: word,
                quoted: false,
            }
        } else {
            SchemaToken {
                text: c.to_string(),
                quoted: false,
            }
        };
        if token.is_word("KEY") && tokens.last().is_some_and(|t| t.is_word("PRIMARY")) {
            tokens.pop();
        }
        tokens.push(token);
    }
    tokens
}

/// Whether a produced schema text says what the expected one (ksqlDB's text, e.g.
/// `ID BIGINT KEY, NAME STRING`) says: whitespace does not matter, nor `PRIMARY KEY` versus
/// `KEY`, nor `INTEGER`/`INT` and `VARCHAR`/`STRING`; an expected unquoted word matches
/// in any case; an expected backtick-quoted identifier must come with its exact case,
/// quoted or not (`` `c1` `` matches `c1` and `` `c1` ``, not `C1`).
pub fn schemas_equal(expected: &str, actual: &str) -> bool {
    let expected = schema_tokens(expected);
    let actual = schema_tokens(actual);
    expected.len() == actual.len()
        && expected.iter().zip(&actual).all(|(e, a)| {
            let want = e.canonical();
            a.text == want || (!a.quoted && a.canonical() == want)
        })
}

/// The first difference between a case's `post` checks and the catalog and topics after
/// the run. Checks the file does not give (and ones this runner does not know) pass.
pub fn post_difference(post: &Post, output: &ExecOutput) -> Option<String> {
    for check in &post.sources {
        let Some(source) = output.sources.iter().find(|s| s.name == check.name) else {
            let names: Vec<&str> = output.sources.iter().map(|s| s.name.as_str()).collect();
            return Some(format!(
                "post: no source {} (sources: {})",
                check.name,
                names.join(", ")
            ));
        };
        let name = &check.name;
        if let Some(kind) = &check.kind {
            if !kind.eq_ignore_ascii_case(&source.kind) {
                return Some(format!(
                    "post: source {name} is a {}, expected a {}",
                    source.kind,
                    kind.to_uppercase()
                ));
            }
        }
        if let Some(schema) = &check.schema {
            if !schemas_equal(schema, &source.schema) {
                return Some(format!(
                    "post: source {name} schema: expected `{schema}`, got `{}`",
                    source.schema
                ));
            }
        }
        if let Some(key_format) = &check.key_format {
            if let Some(format) = &key_format.format {
                if !format.eq_ignore_ascii_case(&source.key_format) {
                    return Some(format!(
                        "post: source {name} key format: expected {format}, got {}",
                        source.key_format
                    ));
                }
            }
            if let Some(windowed) = key_format.windowed {
                if windowed != source.windowed {
                    let say = |w: bool| if w { "windowed" } else { "not windowed" };
                    return Some(format!(
                        "post: source {name} key: expected {}, got {}",
                        say(windowed),
                        say(source.windowed)
                    ));
                }
            }
        }
        if let Some(format) = &check.value_format {
            if !format.eq_ignore_ascii_case(&source.value_format) {
                return Some(format!(
                    "post: source {name} value format: expected {format}, got {}",
                    source.value_format
                ));
            }
        }
    }
    for topic in &post.topics {
        if !output.topics.contains(topic) {
            return Some(format!(
                "post: no topic {topic} (topics: {})",
                output.topics.join(", ")
            ));
        }
    }
    if let Some(blacklist) = &post.blacklist {
        // A Java regex; one the `regex` crate cannot read is not checked. Like Java's
        // `Pattern.asPredicate`, a match anywhere in the name counts.
        if let Ok(re) = regex::Regex::new(blacklist) {
            if let Some(t) = output.topics.iter().find(|t| re.is_match(t)) {
                return Some(format!(
                    "post: topic {t} exists but matches the blacklist `{blacklist}`"
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qtt::exec::PostSource;
    use crate::qtt::load::{KeyFormatCheck, PostSourceCheck};
    use serde_json::json;

    fn diff(e: Value, a: Value) -> Option<String> {
        json_difference(&e, &a, "value")
    }

    #[test]
    fn integers_compare_exactly() {
        assert_eq!(diff(json!(1), json!(1)), None);
        assert_eq!(
            diff(json!(1), json!(2)),
            Some("value: expected 1, got 2".into())
        );
        assert_eq!(diff(json!(u64::MAX), json!(u64::MAX)), None);
        assert!(diff(json!(u64::MAX), json!(-1)).is_some());
        assert!(diff(json!(i64::MAX), json!(i64::MAX - 1)).is_some());
        assert!(diff(json!(1), json!("1")).is_some());
    }

    #[test]
    fn doubles_compare_within_tolerance() {
        assert_eq!(diff(json!(0.1), json!(0.1000000001)), None);
        assert_eq!(diff(json!(1.0), json!(1)), None);
        assert_eq!(diff(json!(3), json!(3.0)), None);
        assert!(diff(json!(0.1), json!(0.1001)).is_some());
        // Relative beyond 1: a double of 1e20 is not expected to the last unit.
        assert_eq!(diff(json!(1.0e20), json!(1.0000000000001e20)), None);
        assert!(diff(json!(1.0e20), json!(1.1e20)).is_some());
        assert_eq!(diff(json!(-0.0), json!(0.0)), None);
    }

    #[test]
    fn decimals_compare_by_value() {
        // Parsed JSON numbers do not keep a scale: 1.10 is 1.1.
        let e: Value = serde_json::from_str("1.10").expect("json");
        let a: Value = serde_json::from_str("1.1").expect("json");
        assert_eq!(diff(e, a), None);
        let e: Value = serde_json::from_str("12.3650").expect("json");
        let a: Value = serde_json::from_str("12.365").expect("json");
        assert_eq!(diff(e, a), None);
        assert!(diff(json!(12.365), json!(12.366)).is_some());
    }

    #[test]
    fn strings_booleans_null_compare_exactly() {
        assert_eq!(diff(json!("a"), json!("a")), None);
        assert!(diff(json!("a"), json!("A")).is_some());
        // A decimal given as a string is a string: "5.40" is not "5.4" nor 5.4.
        assert!(diff(json!("5.40"), json!("5.4")).is_some());
        assert!(diff(json!("5.40"), json!(5.4)).is_some());
        assert_eq!(diff(json!(true), json!(true)), None);
        assert!(diff(json!(true), json!(false)).is_some());
        assert!(diff(json!(false), json!(null)).is_some());
        assert_eq!(diff(json!(null), json!(null)), None);
        assert_eq!(
            diff(json!(null), json!({"A": 1})),
            Some("value: expected null, got {\"A\":1}".into())
        );
        assert!(diff(json!({"A": 1}), json!(null)).is_some());
    }

    #[test]
    fn objects_match_field_names_or_their_upper_case() {
        assert_eq!(
            diff(json!({"A": 1, "b": "x"}), json!({"A": 1, "B": "x"})),
            None
        );
        assert_eq!(diff(json!({"b": 1}), json!({"b": 1})), None);
        assert_eq!(
            diff(json!({"A": 1}), json!({"A": 1, "B": 2})),
            Some("value: expected fields [A], got [A, B]".into())
        );
        assert_eq!(
            diff(json!({"A": 1}), json!({"Z": 1})),
            Some("value: no field A (got fields [Z])".into())
        );
        // ksqlDB's reading: a missing field is null (with equal field counts).
        assert_eq!(
            diff(json!({"A": null, "B": 1}), json!({"Z": null, "B": 1})),
            None
        );
        assert!(diff(json!({"A": null}), json!({})).is_some());
        // The other way round is not allowed: produced lower case, expected upper.
        assert!(diff(json!({"B": 1}), json!({"b": 1})).is_some());
        assert_eq!(
            diff(json!({"S": {"F": [1, 2]}}), json!({"S": {"F": [1, 3]}})),
            Some("value.S.F[1]: expected 2, got 3".into())
        );
        assert!(diff(json!({}), json!([])).is_some());
    }

    #[test]
    fn arrays_match_element_wise() {
        assert_eq!(diff(json!([1, "a", null]), json!([1, "a", null])), None);
        assert_eq!(
            diff(json!([1, 2]), json!([1])),
            Some("value: expected 2 elements [1,2], got 1 [1]".into())
        );
        assert!(diff(json!([1, 2]), json!([2, 1])).is_some());
        assert_eq!(
            diff(json!([{"a": 1}]), json!([{"A": 1}])),
            None,
            "nested objects follow the object rule"
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let long = "x".repeat(1000);
        let d = diff(json!(long), json!("y")).expect("differs");
        assert!(d.len() < 300, "{d}");
        assert!(d.contains("..."));
    }

    fn expected(key: Value, value: Value) -> QttRecord {
        QttRecord {
            topic: "OUT".into(),
            key,
            value,
            timestamp: None,
            window: None,
            headers: None,
        }
    }

    fn produced(key: Value, value: Value, ts: i64) -> TestRecord {
        TestRecord {
            topic: "OUT".into(),
            key,
            value,
            timestamp: Some(ts),
            window: None,
            headers: vec![("h".into(), Some(vec![1]))],
        }
    }

    #[test]
    fn timestamp_only_when_expected() {
        let mut e = expected(json!(1), json!({"A": 1}));
        let a = produced(json!(1), json!({"A": 1}), 42);
        assert_eq!(record_difference(&e, &a, true), None);
        e.timestamp = Some(42);
        assert_eq!(record_difference(&e, &a, true), None);
        e.timestamp = Some(41);
        assert_eq!(
            record_difference(&e, &a, true),
            Some("timestamp: expected 41, got 42".into())
        );
        // An expected 0 is not compared in a case without inputs (INSERT VALUES).
        e.timestamp = Some(0);
        assert!(record_difference(&e, &a, true).is_some());
        assert_eq!(record_difference(&e, &a, false), None);
    }

    #[test]
    fn window_only_when_expected() {
        let w = TestWindow {
            start: 0,
            end: 30000,
            session: false,
        };
        let mut e = expected(json!("k"), json!(1));
        let mut a = produced(json!("k"), json!(1), 0);
        a.window = Some(w);
        assert_eq!(record_difference(&e, &a, true), None);
        e.window = Some(w);
        assert_eq!(record_difference(&e, &a, true), None);
        e.window = Some(TestWindow { session: true, ..w });
        assert_eq!(
            record_difference(&e, &a, true),
            Some("window: expected session [0, 30000], got time [0, 30000]".into())
        );
        a.window = None;
        assert_eq!(
            record_difference(&e, &a, true),
            Some("window: expected session [0, 30000], got none (an unwindowed key)".into())
        );
    }

    #[test]
    fn headers_only_when_expected() {
        let mut e = expected(json!(null), json!(null));
        let a = produced(json!(null), json!(null), 0);
        assert_eq!(record_difference(&e, &a, true), None);
        e.headers = Some(vec![("h".into(), Some(vec![1]))]);
        assert_eq!(record_difference(&e, &a, true), None);
        e.headers = Some(vec![]);
        assert_eq!(
            record_difference(&e, &a, true),
            Some("headers: expected [], got [h=AQ==]".into())
        );
    }

    #[test]
    fn key_then_value_differences_and_tombstones() {
        let e = expected(json!(1), json!(null));
        assert_eq!(
            record_difference(&e, &produced(json!(2), json!(null), 0), true),
            Some("key: expected 1, got 2".into())
        );
        assert_eq!(
            record_difference(&e, &produced(json!(1), json!({"A": 1}), 0), true),
            Some("value: expected null, got {\"A\":1}".into())
        );
        assert_eq!(
            record_difference(&e, &produced(json!(1), json!(null), 0), true),
            None
        );
    }

    #[test]
    fn outputs_per_topic_count_and_order() {
        let on = |topic: &str, v: i64| QttRecord {
            topic: topic.into(),
            ..expected(json!(null), json!(v))
        };
        let made = |topic: &str, v: i64| TestRecord {
            topic: topic.into(),
            ..produced(json!(null), json!(v), 0)
        };
        let expected = vec![on("A", 1), on("B", 10), on("A", 2)];
        let mut produced = BTreeMap::new();
        produced.insert("B".to_string(), vec![made("B", 10)]);
        produced.insert("A".to_string(), vec![made("A", 1), made("A", 2)]);
        // A topic the case does not list is not checked.
        produced.insert("C".to_string(), vec![made("C", 5)]);
        assert_eq!(outputs_difference(&expected, &produced, true), None);

        produced.insert("A".to_string(), vec![made("A", 2), made("A", 1)]);
        assert_eq!(
            outputs_difference(&expected, &produced, true),
            Some("topic A, record 0: value: expected 1, got 2".into())
        );
        produced.insert("A".to_string(), vec![made("A", 1)]);
        assert_eq!(
            outputs_difference(&expected, &produced, true),
            Some("topic A: expected 2 records, got 1; first missing: null => 2".into())
        );
        produced.insert(
            "A".to_string(),
            vec![made("A", 1), made("A", 2), made("A", 3)],
        );
        assert_eq!(
            outputs_difference(&expected, &produced, true),
            Some("topic A: expected 2 records, got 3; first extra: null => 3".into())
        );
        produced.insert("A".to_string(), vec![made("A", 9)]);
        assert_eq!(
            outputs_difference(&expected, &produced, true),
            Some(
                "topic A: expected 2 records, got 1; first difference at record 0: value: expected 1, got 9"
                    .into()
            )
        );
        produced.remove("B");
        produced.insert("A".to_string(), vec![made("A", 1), made("A", 2)]);
        assert_eq!(
            outputs_difference(&expected, &produced, true),
            Some("topic B: expected 1 records, got 0; first missing: null => 10".into())
        );
        assert_eq!(outputs_difference(&[], &produced, true), None);
    }

    #[test]
    fn schema_text_comparison() {
        assert!(schemas_equal(
            "ID BIGINT KEY, NAME STRING",
            "id  bigint key,name string"
        ));
        assert!(schemas_equal(
            "`T_ID` BIGINT KEY, `NAME` STRING",
            "T_ID BIGINT KEY, NAME STRING"
        ));
        assert!(schemas_equal(
            "F1 INTEGER KEY, S STRUCT<FOO VARCHAR, `foo` VARCHAR>",
            "F1 INT KEY, S STRUCT<FOO STRING, `foo` STRING>"
        ));
        assert!(schemas_equal("D DECIMAL(4, 1)", "D DECIMAL(4,1)"));
        assert!(schemas_equal(
            "K INTEGER KEY, COUNT BIGINT",
            "K INT PRIMARY KEY, COUNT BIGINT"
        ));
        // A quoted identifier keeps its case; the engine may print it without backticks.
        assert!(schemas_equal(
            "`Key` STRING KEY, `Name` STRING",
            "Key STRING KEY, `Name` STRING"
        ));
        assert!(schemas_equal(
            "ROWKEY STRING KEY, `moreMixedCase` INT",
            "ROWKEY STRING KEY, moreMixedCase INTEGER"
        ));
        assert!(!schemas_equal("`Key` STRING KEY", "KEY STRING KEY"));
        assert!(!schemas_equal("`c1` INT", "C1 INT"));
        assert!(!schemas_equal("`c1` INT", "`C1` INT"));
        assert!(schemas_equal("`c1` INT", "c1 INT"));
        assert!(!schemas_equal("A INT", "`a` INT"));
        assert!(!schemas_equal("A INT, B INT", "A INT"));
        assert!(!schemas_equal("A INT", "A BIGINT"));
        assert!(!schemas_equal("A INT KEY, B INT", "B INT, A INT KEY"));
        assert!(!schemas_equal("`A B` INT", "A B INT"));
    }

    fn source(name: &str) -> PostSource {
        PostSource {
            name: name.into(),
            kind: "TABLE".into(),
            schema: "ID BIGINT KEY, V BIGINT".into(),
            key_format: "KAFKA".into(),
            value_format: "JSON".into(),
            windowed: true,
        }
    }

    #[test]
    fn post_sources() {
        let output = ExecOutput {
            sources: vec![source("S2")],
            ..ExecOutput::default()
        };
        let check = |c: PostSourceCheck| {
            post_difference(
                &Post {
                    sources: vec![c],
                    ..Post::default()
                },
                &output,
            )
        };
        let full = PostSourceCheck {
            name: "S2".into(),
            kind: Some("table".into()),
            schema: Some("`ID` BIGINT KEY, `V` BIGINT".into()),
            key_format: Some(KeyFormatCheck {
                format: Some("kafka".into()),
                windowed: Some(true),
            }),
            value_format: Some("JSON".into()),
        };
        assert_eq!(check(full.clone()), None);
        assert_eq!(
            check(PostSourceCheck {
                name: "S2".into(),
                ..PostSourceCheck::default()
            }),
            None
        );
        assert_eq!(
            check(PostSourceCheck {
                name: "S3".into(),
                ..full.clone()
            }),
            Some("post: no source S3 (sources: S2)".into())
        );
        assert_eq!(
            check(PostSourceCheck {
                kind: Some("stream".into()),
                ..full.clone()
            }),
            Some("post: source S2 is a TABLE, expected a STREAM".into())
        );
        assert!(check(PostSourceCheck {
            schema: Some("ID BIGINT KEY, V INT".into()),
            ..full.clone()
        })
        .is_some_and(|d| d.contains("schema")));
        assert!(check(PostSourceCheck {
            key_format: Some(KeyFormatCheck {
                format: Some("JSON".into()),
                windowed: None
            }),
            ..full.clone()
        })
        .is_some_and(|d| d.contains("key format")));
        assert_eq!(
            check(PostSourceCheck {
                key_format: Some(KeyFormatCheck {
                    format: None,
                    windowed: Some(false)
                }),
                ..full.clone()
            }),
            Some("post: source S2 key: expected not windowed, got windowed".into())
        );
        assert!(check(PostSourceCheck {
            value_format: Some("DELIMITED".into()),
            ..full
        })
        .is_some_and(|d| d.contains("value format")));
    }

    #[test]
    fn post_topics_and_blacklist() {
        let output = ExecOutput {
            topics: vec!["input".into(), "OUT".into(), "app-Agg-repartition".into()],
            ..ExecOutput::default()
        };
        let post = |topics: &[&str], blacklist: Option<&str>| Post {
            sources: vec![],
            topics: topics.iter().map(|t| t.to_string()).collect(),
            blacklist: blacklist.map(str::to_string),
        };
        assert_eq!(
            post_difference(&post(&["OUT", "input"], None), &output),
            None
        );
        assert_eq!(
            post_difference(&post(&["out"], None), &output),
            Some("post: no topic out (topics: input, OUT, app-Agg-repartition)".into())
        );
        assert_eq!(
            post_difference(&post(&[], Some(".*-repartition")), &output),
            Some(
                "post: topic app-Agg-repartition exists but matches the blacklist `.*-repartition`"
                    .into()
            )
        );
        assert_eq!(
            post_difference(&post(&[], Some(".*-changelog")), &output),
            None
        );
        // A regex the runner cannot read is not checked.
        assert_eq!(post_difference(&post(&[], Some("(?<!x)y")), &output), None);
    }
}
