//! Running one case: its statements on a fresh engine, each persistent query on its own
//! test driver, and what they wrote.

use std::collections::BTreeMap;

use crate::error::SqlError;

/// A record of a test file (input or expected output), fields as the file gives them.
#[derive(Debug, Clone, PartialEq)]
pub struct TestRecord {
    pub topic: String,
    pub key: serde_json::Value,
    /// `Null` is a tombstone.
    pub value: serde_json::Value,
    pub timestamp: Option<i64>,
    pub window: Option<TestWindow>,
    /// Header key and value bytes (`None` for a null header value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// A windowed key's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestWindow {
    pub start: i64,
    pub end: i64,
    pub session: bool,
}

/// A pre-declared topic of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct TestTopic {
    pub name: String,
    pub partitions: Option<i32>,
}

/// One run of a case, with `{FORMAT}` and `{CONFIG}` already replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecCase {
    pub statements: Vec<String>,
    pub inputs: Vec<TestRecord>,
    /// Engine properties (ksqlDB names), values as strings.
    pub properties: BTreeMap<String, String>,
    pub topics: Vec<TestTopic>,
}

/// A source in the catalog after the run, for a case's `post` checks.
#[derive(Debug, Clone, PartialEq)]
pub struct PostSource {
    pub name: String,
    /// `STREAM` or `TABLE`.
    pub kind: String,
    /// As ksqlDB prints it: `ID BIGINT KEY, NAME STRING`.
    pub schema: String,
    pub key_format: String,
    pub value_format: String,
    pub windowed: bool,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecOutput {
    /// Records written per topic, in order; each field decoded into the JSON a test file
    /// uses for it, by the format of the source over that topic.
    pub records: BTreeMap<String, Vec<TestRecord>>,
    pub sources: Vec<PostSource>,
    /// Topics that exist after the run.
    pub topics: Vec<String>,
}

/// Runs one case. `Err` is the first statement that failed (with its error).
pub fn execute(case: &ExecCase) -> Result<ExecOutput, SqlError> {
    let _ = case;
    Err(SqlError::unsupported(None, "the engine"))
}
