//! The runner for ksqlDB's REST conformance cases (`rest-qtt/`).
//!
//! A REST case has the shape of a QTT case ([`super::load`]) plus `responses` (one entry
//! per `/ksql` entity or `/query` answer), `expectedError` (`{status, message}`),
//! `inputConditions.waitForActivePushQuery` and `outputConditions.verifyOrder`. The runner:
//!
//! - parses a file into [`RestCase`]s ([`parse_file`]) and expands each into [`RestRun`]s
//!   with the QTT runner's expansion and skip rules ([`super::expand`]);
//! - runs each run with an executor (`&dyn Fn(&RestRun) -> Result<ActualRun, ExecError>`):
//!   [`http::execute`] sends the statements to a running node over HTTP (the root crate's
//!   `brook::rest_qtt` starts a fresh node per run); tests use fakes;
//! - [`judge`]s what came back: admin entities by the fields the expected entity gives
//!   (`@type`, ...), query answers by header schema, rows (a multiset unless `verifyOrder`)
//!   and the final message when one is expected, values by the QTT comparison rules
//!   ([`super::compare::json_difference`]); an `expectedError` by the HTTP status of the
//!   failing statement (the message is a hint, as the QTT runner treats `expectedException`;
//!   with `--verbose` a differing message gets a `NOTE` line); `outputs` as in QTT;
//! - reports as the QTT runner does: `FAIL <file> :: <run> :: <first difference>`, then
//!   `N passed, N failed, N skipped`. Runs may execute on several threads
//!   ([`RestOptions::threads`]); the report keeps file order.

pub mod http;

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::compare::{json_difference, outputs_difference};
use super::exec::{TestRecord, TestTopic};
use super::expand::{expand, Skip};
use super::load::{parse_case, strip_comments, MalformedCase, QttCase, QttRecord};
use super::runner::{json_files, panic_message, Outcome, Reporter, Summary};

/// A case's `expectedError`: the run passes when a statement fails with this HTTP status
/// (when given). `message` (a substring of ksqlDB's text) and `type_name` are hints.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExpectedError {
    pub status: Option<u16>,
    pub message: Option<String>,
    /// A Java class name, e.g. `io.confluent.ksql.rest.entity.KsqlStatementErrorMessage`.
    pub type_name: Option<String>,
}

impl std::fmt::Display for ExpectedError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.status, &self.message) {
            (Some(s), Some(m)) => write!(f, "status {s}: {m}"),
            (Some(s), None) => write!(f, "status {s}"),
            (None, Some(m)) => write!(f, "{m}"),
            (None, None) => write!(f, "any error"),
        }
    }
}

/// One row of a query answer.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRow {
    pub columns: Vec<Value>,
    /// A table push query's deletion (`"tombstone": true`).
    pub tombstone: bool,
}

/// A `/query` answer, expected or actual, by its parts.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryResponse {
    /// Whether a `header` item came.
    pub header: bool,
    /// `header.schema`, e.g. ``"`ID` STRING KEY, `COUNT` BIGINT"``.
    pub schema: Option<String>,
    pub rows: Vec<QueryRow>,
    /// `finalMessage`, e.g. `Limit Reached`.
    pub final_message: Option<String>,
    /// Items that are none of the above (an `errorMessage`, a line of text), as they came.
    pub others: Vec<Value>,
}

impl QueryResponse {
    /// The parts of a list of items (`{"header": ..}`, `{"row": ..}`, `{"finalMessage": ..}`);
    /// an item of another shape goes to `others`.
    pub fn from_items(items: &[Value]) -> QueryResponse {
        let mut r = QueryResponse::default();
        for item in items {
            if let Some(h) = item.get("header") {
                r.header = true;
                r.schema = h.get("schema").and_then(Value::as_str).map(str::to_string);
            } else if let Some(row) = item.get("row") {
                match row.get("columns") {
                    Some(Value::Array(columns)) => r.rows.push(QueryRow {
                        columns: columns.clone(),
                        tombstone: row
                            .get("tombstone")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    }),
                    _ => r.others.push(item.clone()),
                }
            } else if let Some(m) = item.get("finalMessage") {
                r.final_message = Some(m.as_str().map(str::to_string).unwrap_or(m.to_string()));
            } else {
                r.others.push(item.clone());
            }
        }
        r
    }
}

/// One entry of a case's `responses`.
#[derive(Debug, Clone, PartialEq)]
pub enum ExpectedResponse {
    /// `{"admin": {"@type": "currentStatus", ...}}`: the fields to check of one entity.
    Admin(Map<String, Value>),
    /// `{"query": [items]}`.
    Query(QueryResponse),
}

/// One case of a REST file, before expansion into runs.
#[derive(Debug, Clone, PartialEq)]
pub struct RestCase {
    /// The parts a QTT case has (statements, inputs, outputs, properties, topics, ...);
    /// its `rest` flag is cleared, so that the QTT expansion does not skip it.
    pub base: QttCase,
    pub responses: Vec<ExpectedResponse>,
    pub expected_error: Option<ExpectedError>,
    /// `inputConditions.waitForActivePushQuery`: produce the inputs once the push query
    /// runs (its header arrived).
    pub wait_for_active_push_query: bool,
    /// `outputConditions.verifyOrder`: query rows in order, not as a multiset.
    pub verify_order: bool,
}

/// One run of a case: what an executor gets, `{FORMAT}` and `{CONFIG}` replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct RestRun {
    pub name: String,
    pub statements: Vec<String>,
    /// Sent as `streamsProperties` with every statement.
    pub properties: BTreeMap<String, String>,
    pub topics: Vec<TestTopic>,
    pub inputs: Vec<TestRecord>,
    pub outputs: Vec<QttRecord>,
    pub responses: Vec<ExpectedResponse>,
    pub expected_error: Option<ExpectedError>,
    pub wait_for_active_push_query: bool,
    pub verify_order: bool,
}

impl RestRun {
    /// The expected query answer at `index` of the responses, if that entry is one.
    pub fn expected_query(&self, index: usize) -> Option<&QueryResponse> {
        match self.responses.get(index) {
            Some(ExpectedResponse::Query(q)) => Some(q),
            _ => None,
        }
    }
}

/// What an executor got back for one answer: an entity of a `/ksql` answer or a whole
/// `/query` answer, with the index of the statement that produced it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActualResponse {
    pub statement: usize,
    pub body: ActualBody,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActualBody {
    /// One entity of a `/ksql` answer (`INSERT ... VALUES` answers with none).
    Admin(Value),
    /// The items of a `/query` answer, in order.
    Query(Vec<Value>),
}

/// A statement the server refused (a non-2xx answer); the run stops there.
#[derive(Debug, Clone, PartialEq)]
pub struct ActualError {
    pub statement: usize,
    pub status: u16,
    /// The body's `message`, or the body's text.
    pub message: String,
}

/// What an executor got back for a run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActualRun {
    /// Every `/ksql` entity and `/query` answer, in order (as ksqlDB's runner flattens them).
    pub responses: Vec<ActualResponse>,
    /// The statement that failed, if one did (no statement after it was sent).
    pub error: Option<ActualError>,
    /// Records read back from the topics of the case's `outputs`, decoded, in order.
    pub records: BTreeMap<String, Vec<TestRecord>>,
}

/// A run the executor could not carry out (no node, a broker error, an input that cannot be
/// encoded): the run fails with this.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecError {
    pub message: String,
    /// The failure comes from a feature Brook does not support yet.
    pub unsupported: bool,
}

impl ExecError {
    pub fn new(message: impl Into<String>) -> ExecError {
        ExecError {
            message: message.into(),
            unsupported: false,
        }
    }
}

impl std::fmt::Display for ExecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// An executor: runs one run and says what came back. `Sync`, since runs may execute on
/// several threads.
pub type Executor<'a> = dyn Fn(&RestRun) -> Result<ActualRun, ExecError> + Sync + 'a;

/// Whether a file's text holds REST cases (a case with `responses` or `expectedError`).
/// `false` for text that is not a test file.
pub fn is_rest_file(text: &str) -> bool {
    matches!(super::load::parse_file(text), Ok(cases) if cases.iter().any(|c| matches!(c, Ok(c) if c.rest)))
}

/// Parses a whole file's text (comments allowed). `Err` when the file as a whole is not a
/// test file; otherwise one entry per element of `tests`.
pub fn parse_file(text: &str) -> Result<Vec<Result<RestCase, MalformedCase>>, String> {
    let json: Value =
        serde_json::from_str(&strip_comments(text)).map_err(|e| format!("not JSON: {e}"))?;
    let Some(tests) = json.get("tests") else {
        return Err("no `tests` array at the top level".into());
    };
    let Value::Array(tests) = tests else {
        return Err("`tests` is not an array".into());
    };
    Ok(tests
        .iter()
        .enumerate()
        .map(|(i, case)| {
            parse_rest_case(case).map_err(|reason| MalformedCase {
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
pub fn parse_rest_case(json: &Value) -> Result<RestCase, String> {
    let mut base = parse_case(json)?;
    base.rest = false;
    let obj = json.as_object().ok_or("a case is not a JSON object")?;
    let responses = match obj.get("responses") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, r)| expected_response(r).map_err(|e| format!("responses[{i}]: {e}")))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err("`responses` is not an array".into()),
    };
    let expected_error = match obj.get("expectedError") {
        None | Some(Value::Null) => None,
        Some(Value::Object(e)) => Some(ExpectedError {
            status: match e.get("status") {
                None | Some(Value::Null) => None,
                Some(v) => Some(
                    v.as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or("`expectedError.status` is not an HTTP status")?,
                ),
            },
            message: text_field(e, "message", "expectedError.message")?,
            type_name: text_field(e, "type", "expectedError.type")?,
        }),
        Some(_) => return Err("`expectedError` is not an object".into()),
    };
    let flag = |section: &str, name: &str| -> Result<bool, String> {
        match obj.get(section) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Object(s)) => match s.get(name) {
                None | Some(Value::Null) => Ok(false),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(format!("`{section}.{name}` is not a boolean")),
            },
            Some(_) => Err(format!("`{section}` is not an object")),
        }
    };
    Ok(RestCase {
        base,
        responses,
        expected_error,
        wait_for_active_push_query: flag("inputConditions", "waitForActivePushQuery")?,
        verify_order: flag("outputConditions", "verifyOrder")?,
    })
}

fn text_field(obj: &Map<String, Value>, key: &str, what: &str) -> Result<Option<String>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(format!("`{what}` is not a string")),
    }
}

fn expected_response(json: &Value) -> Result<ExpectedResponse, String> {
    let obj = json.as_object().ok_or("not a JSON object")?;
    if obj.len() != 1 {
        return Err("not one of `admin` or `query`".into());
    }
    if let Some(admin) = obj.get("admin") {
        return match admin {
            Value::Object(fields) => Ok(ExpectedResponse::Admin(fields.clone())),
            _ => Err("`admin` is not an object".into()),
        };
    }
    if let Some(query) = obj.get("query") {
        let Value::Array(items) = query else {
            return Err("`query` is not an array".into());
        };
        let parsed = QueryResponse::from_items(items);
        if let Some(other) = parsed.others.first() {
            return Err(format!(
                "query: an item that is no header, row or finalMessage: {other}"
            ));
        }
        return Ok(ExpectedResponse::Query(parsed));
    }
    Err("not one of `admin` or `query`".into())
}

/// The runs of a case with their skips (the QTT rules: disabled, schema-registry formats,
/// test-only functions).
pub fn expand_case(case: &RestCase) -> Vec<(RestRun, Option<Skip>)> {
    expand(&case.base)
        .into_iter()
        .map(|run| {
            let skip = run.skip.clone();
            let exec = run.exec_case();
            let rest = RestRun {
                name: run.name,
                statements: exec.statements,
                properties: exec.properties,
                topics: exec.topics,
                inputs: exec.inputs,
                outputs: case.base.outputs.clone(),
                responses: case.responses.clone(),
                expected_error: case.expected_error.clone(),
                wait_for_active_push_query: case.wait_for_active_push_query,
                verify_order: case.verify_order,
            };
            (rest, skip)
        })
        .collect()
}

/// Whether a statement goes to `/query`: it starts with `SELECT` or `PRINT`.
pub fn is_query(statement: &str) -> bool {
    let upper = statement.trim_start().to_ascii_uppercase();
    ["SELECT", "PRINT"].iter().any(|w| {
        upper
            .strip_prefix(w)
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_whitespace() || c == '*'))
    })
}

/// Whether a query streams until its `LIMIT` or until the client leaves: `EMIT CHANGES`
/// (or `EMIT FINAL`), and `PRINT`.
pub fn is_push_query(statement: &str) -> bool {
    let words: Vec<String> = statement
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(|w| w.to_ascii_uppercase())
        .collect();
    words.first().is_some_and(|w| w == "PRINT")
        || words
            .windows(2)
            .any(|p| p[0] == "EMIT" && (p[1] == "CHANGES" || p[1] == "FINAL"))
}

/// How many characters of a value a difference message shows.
const SHOWN_CHARS: usize = 200;

fn show(v: &Value) -> String {
    cut(&v.to_string())
}

fn cut(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

fn show_row(row: &QueryRow) -> String {
    let columns = show(&Value::Array(row.columns.clone()));
    if row.tombstone {
        format!("{columns} (tombstone)")
    } else {
        columns
    }
}

fn row_difference(expected: &QueryRow, actual: &QueryRow, path: &str) -> Option<String> {
    if let Some(d) = json_difference(
        &Value::Array(expected.columns.clone()),
        &Value::Array(actual.columns.clone()),
        path,
    ) {
        return Some(d);
    }
    if expected.tombstone != actual.tombstone {
        return Some(format!(
            "{path}: expected {}a tombstone, got {}",
            if expected.tombstone { "" } else { "not " },
            if actual.tombstone { "one" } else { "a row" }
        ));
    }
    None
}

/// The first difference between an expected admin entity (the fields it gives) and an
/// actual one.
pub fn admin_difference(expected: &Map<String, Value>, actual: &Value) -> Option<String> {
    let Some(fields) = actual.as_object() else {
        return Some(format!("expected an entity, got {}", show(actual)));
    };
    expected
        .iter()
        .find_map(|(name, e)| match fields.get(name) {
            Some(a) => json_difference(e, a, name),
            None => Some(format!("no field {name} in {}", show(actual))),
        })
}

/// The first difference between an expected and an actual query answer: the header
/// schema (exactly), unexpected items, the rows (in order when `verify_order`, else as a
/// multiset), then the final message (when one is expected).
pub fn query_difference(
    expected: &QueryResponse,
    actual: &QueryResponse,
    verify_order: bool,
) -> Option<String> {
    if expected.header && !actual.header {
        return Some("no header".into());
    }
    if expected.schema.is_some() && expected.schema != actual.schema {
        return Some(format!(
            "header schema: expected `{}`, got `{}`",
            expected.schema.as_deref().unwrap_or_default(),
            actual.schema.as_deref().unwrap_or("(none)")
        ));
    }
    if let Some(other) = actual.others.first() {
        return Some(format!("unexpected item {}", show(other)));
    }
    if let Some(d) = rows_difference(&expected.rows, &actual.rows, verify_order) {
        return Some(d);
    }
    if let Some(m) = &expected.final_message {
        if actual.final_message.as_ref() != Some(m) {
            return Some(format!(
                "finalMessage: expected {m:?}, got {}",
                actual
                    .final_message
                    .as_ref()
                    .map(|a| format!("{a:?}"))
                    .unwrap_or_else(|| "none".into())
            ));
        }
    }
    None
}

fn rows_difference(expected: &[QueryRow], actual: &[QueryRow], ordered: bool) -> Option<String> {
    if ordered {
        let first = expected
            .iter()
            .zip(actual)
            .enumerate()
            .find_map(|(i, (e, a))| row_difference(e, a, &format!("row {i}")));
        if expected.len() != actual.len() {
            let detail = match first {
                Some(d) => format!("first difference: {d}"),
                None if expected.len() > actual.len() => {
                    format!("first missing: {}", show_row(&expected[actual.len()]))
                }
                None => format!("first extra: {}", show_row(&actual[expected.len()])),
            };
            return Some(format!(
                "expected {} rows, got {}; {detail}",
                expected.len(),
                actual.len()
            ));
        }
        return first;
    }
    // A multiset: each expected row takes the first unused actual row it matches.
    let mut used = vec![false; actual.len()];
    let mut missing = Vec::new();
    for e in expected {
        let found = actual
            .iter()
            .enumerate()
            .find(|(i, a)| !used[*i] && row_difference(e, a, "row").is_none());
        match found {
            Some((i, _)) => used[i] = true,
            None => missing.push(e),
        }
    }
    let extra: Vec<&QueryRow> = actual
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(a, _)| a)
        .collect();
    if missing.is_empty() && extra.is_empty() {
        return None;
    }
    let mut parts = Vec::new();
    if expected.len() != actual.len() {
        parts.push(format!(
            "expected {} rows, got {}",
            expected.len(),
            actual.len()
        ));
    }
    if let Some(m) = missing.first() {
        let more = if missing.len() > 1 {
            format!(" (and {} more)", missing.len() - 1)
        } else {
            String::new()
        };
        parts.push(format!("missing row {}{more}", show_row(m)));
    }
    if let Some(x) = extra.first() {
        let more = if extra.len() > 1 {
            format!(" (and {} more)", extra.len() - 1)
        } else {
            String::new()
        };
        parts.push(format!("unexpected row {}{more}", show_row(x)));
    }
    Some(parts.join("; "))
}

/// The first difference between an expected response and an actual one.
pub fn response_difference(
    expected: &ExpectedResponse,
    actual: &ActualBody,
    verify_order: bool,
) -> Option<String> {
    match (expected, actual) {
        (ExpectedResponse::Admin(e), ActualBody::Admin(a)) => admin_difference(e, a),
        (ExpectedResponse::Query(e), ActualBody::Query(items)) => {
            query_difference(e, &QueryResponse::from_items(items), verify_order)
        }
        (ExpectedResponse::Admin(_), ActualBody::Query(_)) => {
            Some("expected an admin entity, got a query answer".into())
        }
        (ExpectedResponse::Query(_), ActualBody::Admin(a)) => Some(format!(
            "expected a query answer, got the entity {}",
            show(a)
        )),
    }
}

/// A statement for a message: its text on one line, cut.
fn show_statement(run: &RestRun, index: usize) -> String {
    let text = run.statements.get(index).map(String::as_str).unwrap_or("?");
    let line: Vec<&str> = text.split_whitespace().collect();
    let line = line.join(" ");
    match line.char_indices().nth(80) {
        Some((at, _)) => format!("`{}...`", &line[..at]),
        None => format!("`{line}`"),
    }
}

/// The first difference between the case's expected responses and the actual ones (the
/// actual ones may be more: ksqlDB's runner checks as many as the case gives).
pub fn responses_difference(run: &RestRun, actual: &[ActualResponse]) -> Option<String> {
    for (i, expected) in run.responses.iter().enumerate() {
        let Some(a) = actual.get(i) else {
            return Some(format!(
                "expected {} responses, got {}",
                run.responses.len(),
                actual.len()
            ));
        };
        if let Some(d) = response_difference(expected, &a.body, run.verify_order) {
            return Some(format!(
                "response {i} ({}): {d}",
                show_statement(run, a.statement)
            ));
        }
    }
    None
}

/// An error message from a feature Brook does not support yet (the engine's
/// `SqlError::Unsupported` reads `not supported yet: ...`).
pub fn is_unsupported_message(message: &str) -> bool {
    message.contains("not supported yet")
}

/// What came of a run, and an optional note (a differing error message) for the verbose
/// report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub note: Option<String>,
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Verdict {
        Verdict {
            outcome,
            note: None,
        }
    }
}

fn failed(reason: impl Into<String>) -> Verdict {
    Outcome::Failed {
        reason: reason.into(),
        unsupported: false,
    }
    .into()
}

/// Judges what the executor returned for a run against its case.
pub fn judge(run: &RestRun, result: Result<ActualRun, ExecError>) -> Verdict {
    let actual = match result {
        Ok(a) => a,
        Err(e) => {
            return Outcome::Failed {
                reason: format!("error: {}", e.message),
                unsupported: e.unsupported,
            }
            .into()
        }
    };
    if let Some(expected) = &run.expected_error {
        let Some(error) = &actual.error else {
            return failed(format!("expected an error ({expected}), got success"));
        };
        if is_unsupported_message(&error.message) {
            return Outcome::Failed {
                reason: format!(
                    "failed only because a feature is unsupported: {}",
                    error.message
                ),
                unsupported: true,
            }
            .into();
        }
        if let Some(status) = expected.status {
            if status != error.status {
                return failed(format!(
                    "statement {} {}: expected an error with status {status}, got status {}: {}",
                    error.statement,
                    show_statement(run, error.statement),
                    error.status,
                    error.message
                ));
            }
        }
        if let Some(d) = responses_difference(run, &actual.responses) {
            return failed(d);
        }
        let note = expected
            .message
            .as_ref()
            .filter(|m| !error.message.contains(m.as_str()))
            .map(|m| {
                format!(
                    "the error message differs: expected {:?} in {:?}",
                    cut(m),
                    cut(&error.message)
                )
            });
        return Verdict {
            outcome: Outcome::Passed,
            note,
        };
    }
    if let Some(error) = &actual.error {
        return Outcome::Failed {
            reason: format!(
                "statement {} {} failed with status {}: {}",
                error.statement,
                show_statement(run, error.statement),
                error.status,
                error.message
            ),
            unsupported: is_unsupported_message(&error.message),
        }
        .into();
    }
    if let Some(d) = responses_difference(run, &actual.responses) {
        return failed(d);
    }
    if let Some(d) = outputs_difference(&run.outputs, &actual.records, !run.inputs.is_empty()) {
        return failed(format!("outputs: {d}"));
    }
    Outcome::Passed.into()
}

/// Runs one run with `execute` and judges it; a panic in `execute` fails the run.
pub fn run_one(run: &RestRun, execute: &Executor<'_>) -> Verdict {
    match catch_unwind(AssertUnwindSafe(|| execute(run))) {
        Ok(result) => judge(run, result),
        Err(payload) => failed(format!(
            "the executor panicked: {}",
            panic_message(&*payload)
        )),
    }
}

/// How a run of REST files goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestOptions {
    /// Also print one `SKIP` line per skipped run and a `NOTE` line per differing error
    /// message.
    pub verbose: bool,
    /// How many runs execute at once (at least 1).
    pub threads: usize,
}

impl Default for RestOptions {
    fn default() -> RestOptions {
        RestOptions {
            verbose: false,
            threads: 1,
        }
    }
}

/// A file to run, or a path that cannot be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// A file and its name in the report (`rest-qtt/push-queries.json` for a file found in
    /// folder `rest-qtt`; the path as given for a file given).
    File { path: PathBuf, name: String },
    /// A path that cannot be run: its name and why.
    Bad { name: String, reason: String },
}

/// The files of the given paths, named as the QTT runner names them: folders are searched
/// recursively for `*.json`, in sorted order.
pub fn list_files(paths: &[PathBuf]) -> Vec<Listed> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut files = Vec::new();
            if let Err(e) = json_files(path, &mut files) {
                out.push(Listed::Bad {
                    name: path.display().to_string(),
                    reason: format!("cannot list the folder: {e}"),
                });
            }
            files.sort();
            let base = path.file_name().map(PathBuf::from).unwrap_or_default();
            for file in files {
                let relative = file.strip_prefix(path).unwrap_or(&file);
                let name = base.join(relative).display().to_string();
                out.push(Listed::File { path: file, name });
            }
        } else if path.is_file() {
            out.push(Listed::File {
                path: path.clone(),
                name: path.display().to_string(),
            });
        } else {
            out.push(Listed::Bad {
                name: path.display().to_string(),
                reason: "no such file or folder".into(),
            });
        }
    }
    out
}

/// One line of the report to come, in order.
enum Item {
    Fail {
        file: String,
        run: String,
        reason: String,
    },
    Skip {
        file: String,
        run: String,
        skip: Skip,
    },
    /// A run to execute: its index among the jobs.
    Job { file: String, job: usize },
}

fn items_of_file(path: &Path, name: &str, items: &mut Vec<Item>, jobs: &mut Vec<RestRun>) {
    let fail = |run: &str, reason: String| Item::Fail {
        file: name.to_string(),
        run: run.to_string(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return items.push(fail("-", format!("cannot read the file: {e}"))),
    };
    let cases = match parse_file(&text) {
        Ok(c) => c,
        Err(e) => return items.push(fail("-", format!("malformed test file: {e}"))),
    };
    for case in cases {
        let case = match case {
            Ok(c) => c,
            Err(m) => {
                items.push(fail(&m.name, format!("malformed test case: {}", m.reason)));
                continue;
            }
        };
        for (run, skip) in expand_case(&case) {
            match skip {
                Some(skip) => items.push(Item::Skip {
                    file: name.to_string(),
                    run: run.name,
                    skip,
                }),
                None => {
                    items.push(Item::Job {
                        file: name.to_string(),
                        job: jobs.len(),
                    });
                    jobs.push(run);
                }
            }
        }
    }
}

/// Runs every case of the given files and folders with `execute`, prints the report on
/// `out` (as it goes, in file order) and returns the counts. A path that does not exist
/// counts as one failure.
pub fn run_paths_with(
    paths: &[PathBuf],
    options: &RestOptions,
    execute: &Executor<'_>,
    out: &mut dyn Write,
) -> Summary {
    let mut items = Vec::new();
    let mut jobs = Vec::new();
    for listed in list_files(paths) {
        match listed {
            Listed::File { path, name } => items_of_file(&path, &name, &mut items, &mut jobs),
            Listed::Bad { name, reason } => items.push(Item::Fail {
                file: name,
                run: "-".into(),
                reason,
            }),
        }
    }
    let common = super::runner::Options {
        verbose: options.verbose,
    };
    let mut reporter = Reporter::new(&common, out);
    let next = AtomicUsize::new(0);
    let threads = options.threads.clamp(1, jobs.len().max(1));
    let (tx, rx) = mpsc::channel::<(usize, Verdict, Duration)>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let tx = tx.clone();
            let (next, jobs) = (&next, &jobs);
            scope.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(run) = jobs.get(i) else { break };
                let started = Instant::now();
                let verdict = run_one(run, execute);
                if tx.send((i, verdict, started.elapsed())).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        let mut done: BTreeMap<usize, (Verdict, Duration)> = BTreeMap::new();
        for item in &items {
            match item {
                Item::Fail { file, run, reason } => reporter.fail(file, run, reason, false),
                Item::Skip { file, run, skip } => reporter.skip(file, run, skip),
                Item::Job { file, job } => {
                    let (verdict, took) = loop {
                        if let Some(v) = done.remove(job) {
                            break v;
                        }
                        match rx.recv() {
                            Ok((i, v, t)) => {
                                done.insert(i, (v, t));
                            }
                            // Every worker ended without this job: cannot happen, as
                            // workers take jobs in order and a panic is caught.
                            Err(_) => {
                                break (
                                    failed("the run was lost (a runner thread ended)"),
                                    Duration::ZERO,
                                )
                            }
                        }
                    };
                    let name = &jobs[*job].name;
                    reporter.slow(file, name, took);
                    if let Some(note) = &verdict.note {
                        if reporter.verbose() {
                            reporter.line(&format!("NOTE {file} :: {name} :: {note}"));
                        }
                    }
                    match verdict.outcome {
                        Outcome::Passed => {
                            reporter.pass(jobs[*job].expected_error.is_some());
                        }
                        Outcome::Failed {
                            reason,
                            unsupported,
                        } => reporter.fail(file, name, &reason, unsupported),
                        Outcome::Skipped(skip) => reporter.skip(file, name, &skip),
                    }
                }
            }
        }
    });
    reporter.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn case(v: Value) -> RestCase {
        parse_rest_case(&v).expect("a valid case")
    }

    fn run(v: Value) -> RestRun {
        expand_case(&case(v)).remove(0).0
    }

    fn admin(statement: usize) -> ActualResponse {
        ActualResponse {
            statement,
            body: ActualBody::Admin(json!({"@type": "currentStatus", "statementText": "x"})),
        }
    }

    fn query(statement: usize, items: Value) -> ActualResponse {
        let Value::Array(items) = items else {
            panic!("items")
        };
        ActualResponse {
            statement,
            body: ActualBody::Query(items),
        }
    }

    const PULL: &str = r#"{
      "name": "pull",
      "statements": [
        "CREATE STREAM INPUT (ID STRING KEY, V INT) WITH (kafka_topic='t', value_format='JSON');",
        "CREATE TABLE AGG AS SELECT ID, COUNT(1) AS C FROM INPUT GROUP BY ID;",
        "SELECT * FROM AGG WHERE ID='10';"
      ],
      "inputs": [{"topic": "t", "timestamp": 1, "key": "10", "value": {"V": 1}}],
      "properties": {"ksql.query.pull.table.scan.enabled": true},
      "responses": [
        {"admin": {"@type": "currentStatus"}},
        {"admin": {"@type": "currentStatus"}},
        {"query": [
          {"header": {"schema": "`ID` STRING KEY, `C` BIGINT"}},
          {"row": {"columns": ["10", 1]}},
          {"row": {"columns": ["11", 2.5]}}
        ]}
      ]
    }"#;

    fn pull_run() -> RestRun {
        run(serde_json::from_str(PULL).expect("json"))
    }

    fn pull_actual(rows: Value) -> ActualRun {
        let mut items =
            vec![json!({"header": {"queryId": "q", "schema": "`ID` STRING KEY, `C` BIGINT"}})];
        if let Value::Array(rows) = rows {
            items.extend(rows.into_iter().map(|c| json!({"row": {"columns": c}})));
        }
        ActualRun {
            responses: vec![admin(0), admin(1), query(2, Value::Array(items))],
            ..ActualRun::default()
        }
    }

    #[test]
    fn parses_the_rest_parts() {
        let c = case(json!({
            "name": "c",
            "statements": ["SELECT * FROM S EMIT CHANGES LIMIT 1;"],
            "inputConditions": {"waitForActivePushQuery": true},
            "outputConditions": {"verifyOrder": true},
            "responses": [
                {"query": [{"header": {"schema": "`A` INT"}}, {"row": {"columns": [1], "tombstone": true}},
                           {"finalMessage": "Limit Reached"}]}
            ],
            "expectedError": {"type": "T", "message": "m", "status": 400}
        }));
        assert!(!c.base.rest, "the base must not be skipped as a REST case");
        assert!(c.wait_for_active_push_query && c.verify_order);
        assert_eq!(
            c.expected_error,
            Some(ExpectedError {
                status: Some(400),
                message: Some("m".into()),
                type_name: Some("T".into())
            })
        );
        let ExpectedResponse::Query(q) = &c.responses[0] else {
            panic!("a query")
        };
        assert_eq!(q.schema.as_deref(), Some("`A` INT"));
        assert_eq!(
            q.rows,
            [QueryRow {
                columns: vec![json!(1)],
                tombstone: true
            }]
        );
        assert_eq!(q.final_message.as_deref(), Some("Limit Reached"));
        for bad in [
            json!({"name": "b", "statements": [], "responses": [{"other": 1}]}),
            json!({"name": "b", "statements": [], "responses": [{"query": [{"oops": 1}]}]}),
            json!({"name": "b", "statements": [], "responses": {}}),
            json!({"name": "b", "statements": [], "expectedError": {"status": "x"}}),
            json!({"name": "b", "statements": [], "outputConditions": {"verifyOrder": 1}}),
        ] {
            assert!(parse_rest_case(&bad).is_err(), "{bad}");
        }
        let r = pull_run();
        assert_eq!(r.properties["ksql.query.pull.table.scan.enabled"], "true");
        assert_eq!(r.inputs.len(), 1);
    }

    #[test]
    fn statement_kinds() {
        assert!(is_query("SELECT * FROM S;"));
        assert!(is_query("  select *FROM S;"));
        assert!(is_query("SELECT* FROM S;"));
        assert!(is_query("PRINT 't' FROM BEGINNING;"));
        assert!(!is_query("CREATE TABLE T AS SELECT * FROM S;"));
        assert!(!is_query("SELECTED"));
        assert!(is_push_query("SELECT * FROM S EMIT  CHANGES LIMIT 2;"));
        assert!(is_push_query("select * from s emit\nchanges;"));
        assert!(is_push_query("PRINT 't';"));
        assert!(!is_push_query("SELECT * FROM S WHERE ID='EMIT';"));
    }

    #[test]
    fn a_matching_pull_answer_passes_in_any_row_order() {
        let r = pull_run();
        let v = judge(
            &r,
            Ok(pull_actual(json!([["11", 2.5000000001], ["10", 1]]))),
        );
        assert_eq!(v.outcome, Outcome::Passed);
    }

    #[test]
    fn pull_differences() {
        let r = pull_run();
        let reason = |a: ActualRun| match judge(&r, Ok(a)).outcome {
            Outcome::Failed { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(pull_actual(json!([["10", 1]]))),
            "response 2 (`SELECT * FROM AGG WHERE ID='10';`): expected 2 rows, got 1; missing row [\"11\",2.5]"
        );
        assert_eq!(
            reason(pull_actual(json!([["10", 1], ["11", 3]]))),
            "response 2 (`SELECT * FROM AGG WHERE ID='10';`): missing row [\"11\",2.5]; unexpected row [\"11\",3]"
        );
        let mut a = pull_actual(json!([]));
        a.responses[2] = query(
            2,
            json!([{"header": {"schema": "`ID` STRING, `C` BIGINT"}}]),
        );
        assert_eq!(
            reason(a),
            "response 2 (`SELECT * FROM AGG WHERE ID='10';`): header schema: expected \
             ``ID` STRING KEY, `C` BIGINT`, got ``ID` STRING, `C` BIGINT`"
        );
        let mut a = pull_actual(json!([]));
        a.responses.truncate(2);
        assert_eq!(reason(a), "expected 3 responses, got 2");
        let mut a = pull_actual(json!([]));
        a.responses[0].body = ActualBody::Admin(json!({"@type": "streams"}));
        assert_eq!(
            reason(a),
            "response 0 (`CREATE STREAM INPUT (ID STRING KEY, V INT) WITH (kafka_topic='t', \
             value_format='...`): @type: expected \"currentStatus\", got \"streams\""
        );
        let mut a = pull_actual(json!([]));
        a.responses.truncate(1);
        a.error = Some(ActualError {
            statement: 1,
            status: 400,
            message: "no\nsuch source".into(),
        });
        assert_eq!(
            reason(a),
            "statement 1 `CREATE TABLE AGG AS SELECT ID, COUNT(1) AS C FROM INPUT GROUP BY ID;` failed with status 400: no\nsuch source"
        );
        match judge(&r, Err(ExecError::new("no broker"))).outcome {
            Outcome::Failed {
                reason,
                unsupported,
            } => assert_eq!((reason.as_str(), unsupported), ("error: no broker", false)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ordered_rows_final_message_and_tombstones() {
        let expected = QueryResponse::from_items(&[
            json!({"header": {"schema": "`K` INT"}}),
            json!({"row": {"columns": [1]}}),
            json!({"row": {"columns": [2], "tombstone": true}}),
            json!({"finalMessage": "Limit Reached"}),
        ]);
        let actual = |items: Value| QueryResponse::from_items(items.as_array().expect("array"));
        let good = actual(json!([
            {"header": {"queryId": "x", "schema": "`K` INT"}},
            {"row": {"columns": [1]}}, {"row": {"columns": [2], "tombstone": true}},
            {"finalMessage": "Limit Reached"}
        ]));
        assert_eq!(query_difference(&expected, &good, true), None);
        let swapped = actual(json!([
            {"header": {"schema": "`K` INT"}},
            {"row": {"columns": [2], "tombstone": true}}, {"row": {"columns": [1]}},
            {"finalMessage": "Limit Reached"}
        ]));
        assert_eq!(query_difference(&expected, &swapped, false), None);
        assert_eq!(
            query_difference(&expected, &swapped, true).as_deref(),
            Some("row 0[0]: expected 1, got 2")
        );
        let no_tombstone = actual(json!([
            {"header": {"schema": "`K` INT"}},
            {"row": {"columns": [1]}}, {"row": {"columns": [2]}},
            {"finalMessage": "Limit Reached"}
        ]));
        assert_eq!(
            query_difference(&expected, &no_tombstone, true).as_deref(),
            Some("row 1: expected a tombstone, got a row")
        );
        let unfinished = actual(json!([
            {"header": {"schema": "`K` INT"}},
            {"row": {"columns": [1]}}, {"row": {"columns": [2], "tombstone": true}}
        ]));
        assert_eq!(
            query_difference(&expected, &unfinished, true).as_deref(),
            Some("finalMessage: expected \"Limit Reached\", got none")
        );
        let short = actual(json!([{"header": {"schema": "`K` INT"}}, {"row": {"columns": [1]}}]));
        assert_eq!(
            query_difference(&expected, &short, true).as_deref(),
            Some("expected 2 rows, got 1; first missing: [2] (tombstone)")
        );
        let failing = actual(json!([{"header": {"schema": "`K` INT"}}, {"errorMessage": "boom"}]));
        assert_eq!(
            query_difference(&expected, &failing, true).as_deref(),
            Some("unexpected item {\"errorMessage\":\"boom\"}")
        );
        // A final message that is not expected is not checked.
        let pull = QueryResponse::from_items(&[json!({"header": {"schema": "`K` INT"}})]);
        let completed =
            actual(json!([{"header": {"schema": "`K` INT"}}, {"finalMessage": "Query Completed"}]));
        assert_eq!(query_difference(&pull, &completed, false), None);
        // Struct columns match by upper-cased names.
        let e = QueryResponse::from_items(&[json!({"row": {"columns": [{"a": 1}]}})]);
        let a = actual(json!([{"header": {"schema": "x"}}, {"row": {"columns": [{"A": 1}]}}]));
        assert_eq!(query_difference(&e, &a, false), None);
    }

    #[test]
    fn expected_errors() {
        let r = run(json!({
            "name": "e",
            "statements": ["CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format='JSON');", "SELECT * FROM S GROUP BY A;"],
            "responses": [{"admin": {"@type": "currentStatus"}}],
            "expectedError": {"type": "T", "message": "GROUP BY", "status": 400}
        }));
        let error = |status: u16, message: &str| ActualRun {
            responses: vec![admin(0)],
            error: Some(ActualError {
                statement: 1,
                status,
                message: message.into(),
            }),
            ..ActualRun::default()
        };
        assert_eq!(
            judge(
                &r,
                Ok(error(400, "Pull queries don't support GROUP BY clauses"))
            ),
            Verdict {
                outcome: Outcome::Passed,
                note: None
            }
        );
        let v = judge(&r, Ok(error(400, "other text")));
        assert_eq!(v.outcome, Outcome::Passed);
        assert_eq!(
            v.note.as_deref(),
            Some("the error message differs: expected \"GROUP BY\" in \"other text\"")
        );
        assert_eq!(
            judge(&r, Ok(error(500, "internal"))).outcome,
            Outcome::Failed {
                reason: "statement 1 `SELECT * FROM S GROUP BY A;`: expected an error with status 400, got status 500: internal".into(),
                unsupported: false
            }
        );
        assert_eq!(
            judge(&r, Ok(error(400, "not supported yet: GROUP BY in pull queries"))).outcome,
            Outcome::Failed {
                reason: "failed only because a feature is unsupported: not supported yet: GROUP BY in pull queries".into(),
                unsupported: true
            }
        );
        let mut no_admin = error(400, "GROUP BY");
        no_admin.responses.clear();
        assert_eq!(
            judge(&r, Ok(no_admin)).outcome,
            Outcome::Failed {
                reason: "expected 1 responses, got 0".into(),
                unsupported: false
            }
        );
        assert_eq!(
            judge(
                &r,
                Ok(ActualRun {
                    responses: vec![admin(0)],
                    ..ActualRun::default()
                })
            )
            .outcome,
            Outcome::Failed {
                reason: "expected an error (status 400: GROUP BY), got success".into(),
                unsupported: false
            }
        );
    }

    #[test]
    fn outputs_are_compared_as_in_qtt() {
        let r = run(json!({
            "name": "o",
            "statements": ["CREATE STREAM S (K STRING KEY, ID INT) WITH (kafka_topic='t', value_format='JSON');",
                           "INSERT INTO S (K, ID) VALUES ('k', 10);"],
            "outputs": [{"topic": "t", "key": "k", "value": {"ID": 10}, "timestamp": 0}]
        }));
        let record = |id: i64| TestRecord {
            topic: "t".into(),
            key: json!("k"),
            value: json!({"ID": id}),
            timestamp: Some(1_700_000_000_000),
            window: None,
            headers: Vec::new(),
        };
        let actual = |id: i64| ActualRun {
            responses: vec![admin(0)],
            error: None,
            records: BTreeMap::from([("t".to_string(), vec![record(id)])]),
        };
        assert_eq!(judge(&r, Ok(actual(10))).outcome, Outcome::Passed);
        assert_eq!(
            judge(&r, Ok(actual(11))).outcome,
            Outcome::Failed {
                reason: "outputs: topic t, record 0: value.ID: expected 10, got 11".into(),
                unsupported: false
            }
        );
    }

    const FILE: &str = r#"{
      "comments": ["a // comment inside a string"],
      "tests": [
        // the pull case
        PULL,
        {"name": "push", "statements": ["CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format='JSON');",
                                        "SELECT * FROM S EMIT CHANGES LIMIT 1;"],
         "responses": [{"admin": {"@type": "currentStatus"}},
                       {"query": [{"header": {"schema": "`A` INTEGER"}}, {"row": {"columns": [1]}}, {"finalMessage": "Limit Reached"}]}]},
        {"name": "avro", "statements": ["CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format='AVRO');"],
         "responses": [{"admin": {"@type": "currentStatus"}}]},
        {"name": "error", "statements": ["SELECT * FROM NOWHERE;"],
         "expectedError": {"message": "NOWHERE", "status": 400}},
        {"name": "panics", "statements": ["PANIC"], "responses": []},
        {"name": "malformed", "responses": []}
      ]
    }"#;

    /// A fake server: answers admin statements with `currentStatus`, the pull query with
    /// its expected rows, the push query with a row that differs, a statement on
    /// `NOWHERE` with a 400 error; panics on `PANIC`.
    fn fake(run: &RestRun) -> Result<ActualRun, ExecError> {
        let mut actual = ActualRun::default();
        for (i, s) in run.statements.iter().enumerate() {
            if s.contains("PANIC") {
                panic!("boom");
            }
            if s.contains("NOWHERE") {
                actual.error = Some(ActualError {
                    statement: i,
                    status: 400,
                    message: "NOWHERE does not exist".into(),
                });
                return Ok(actual);
            }
            if !is_query(s) {
                actual.responses.push(admin(i));
            } else if is_push_query(s) {
                actual.responses.push(query(
                    i,
                    json!([{"header": {"schema": "`A` INTEGER"}}, {"row": {"columns": [2]}}, {"finalMessage": "Limit Reached"}]),
                ));
            } else {
                actual.responses.push(query(
                    i,
                    json!([{"header": {"schema": "`ID` STRING KEY, `C` BIGINT"}},
                           {"row": {"columns": ["10", 1]}}, {"row": {"columns": ["11", 2.5]}}]),
                ));
            }
        }
        Ok(actual)
    }

    fn run_file(threads: usize, verbose: bool) -> (Summary, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("rest-qtt");
        std::fs::create_dir_all(&root).expect("mkdir");
        std::fs::write(root.join("cases.json"), FILE.replace("PULL", PULL)).expect("write");
        std::fs::write(root.join("broken.json"), "{").expect("write");
        let mut out = Vec::new();
        let summary = run_paths_with(
            &[root, dir.path().join("missing.json")],
            &RestOptions { verbose, threads },
            &fake,
            &mut out,
        );
        (summary, String::from_utf8(out).expect("utf-8"))
    }

    #[test]
    fn end_to_end_with_a_fake_server() {
        let (summary, text) = run_file(1, true);
        // pull and error pass; push, panics, the malformed case, the broken file and the
        // missing path fail; avro is skipped.
        assert_eq!(
            (summary.passed, summary.failed, summary.skipped),
            (2, 5, 1),
            "{text}"
        );
        assert_eq!(summary.passed_on_error, 1);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[..5],
            [
                "FAIL rest-qtt/broken.json :: - :: malformed test file: not JSON: EOF while parsing an object at line 1 column 1",
                "FAIL rest-qtt/cases.json :: push :: response 1 (`SELECT * FROM S EMIT CHANGES LIMIT 1;`): missing row [1]; unexpected row [2]",
                "SKIP rest-qtt/cases.json :: avro :: needs a schema registry (uses format AVRO)",
                "FAIL rest-qtt/cases.json :: panics :: the executor panicked: boom",
                "FAIL rest-qtt/cases.json :: malformed :: malformed test case: no `statements`",
            ]
        );
        assert!(lines[5].starts_with("FAIL /"), "{}", lines[5]);
        assert!(lines[5].ends_with("missing.json :: - :: no such file or folder"));
        assert!(text.ends_with("2 passed, 5 failed, 1 skipped\n"), "{text}");
    }

    #[test]
    fn threads_keep_the_report_in_order() {
        let (one, text_one) = run_file(1, false);
        let (three, text_three) = run_file(3, false);
        // The missing path differs: each run has its own temporary folder.
        let without_paths = |text: &str| {
            text.lines()
                .filter(|l| !l.contains("missing.json"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(without_paths(&text_one), without_paths(&text_three));
        assert_eq!(
            (one.passed, one.failed, one.skipped),
            (three.passed, three.failed, three.skipped)
        );
    }

    #[test]
    fn rest_files_are_recognised() {
        assert!(is_rest_file(&FILE.replace("PULL", PULL)));
        assert!(!is_rest_file(
            r#"{"tests": [{"name": "q", "statements": []}]}"#
        ));
        assert!(!is_rest_file("{"));
    }
}
