//! Running QTT files and reporting: one `FAIL` line per failing run, then the counts.
//!
//! Runs are sequential, in sorted file order and file order within a file, each on a fresh
//! engine (`exec::execute`). A panic inside the engine is caught and fails that run only.
//! There is no per-run timeout yet: a run that takes longer than [`SLOW_RUN`] is reported
//! with a `SLOW` line, but a run that never ends blocks the runner.

use std::collections::BTreeMap;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::compare::{outputs_difference, post_difference};
use super::exec::{self, ExecCase, ExecOutput};
use super::expand::{expand, Run, Skip};
use super::load::parse_file;
use crate::error::SqlError;

/// A run that takes at least this long gets a `SLOW` line.
pub const SLOW_RUN: Duration = Duration::from_secs(5);

/// How a run of the files goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// Also print one `SKIP` line per skipped run, with its reason.
    pub verbose: bool,
}

/// A failed run (or a file or case that could not be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The file as the report names it.
    pub file: String,
    /// The run's name; the case's name for a malformed case; `-` for a whole file.
    pub run: String,
    /// The first difference, or the error.
    pub reason: String,
    /// The run failed because the engine does not support something yet.
    pub unsupported: bool,
}

/// The counts of a run of the files, over all runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    /// Of `passed`, the runs of cases with an `expectedException` (they pass on any error
    /// but an unsupported feature, so they say less about the engine than the others).
    pub passed_on_error: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Every failure, in the order met; `failed == failures.len()`.
    pub failures: Vec<Failure>,
    /// Skipped runs per reason (one of the `expand::SKIP_*` constants).
    pub skips_by_reason: BTreeMap<String, usize>,
}

impl Summary {
    /// How many failures come from an unsupported feature.
    pub fn unsupported(&self) -> usize {
        self.failures.iter().filter(|f| f.unsupported).count()
    }
}

impl std::fmt::Display for Summary {
    /// The closing line: `N passed, N failed, N skipped`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// What came of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed {
        reason: String,
        /// Caused by an unsupported feature.
        unsupported: bool,
    },
    Skipped(Skip),
}

fn failed(reason: impl Into<String>) -> Outcome {
    Outcome::Failed {
        reason: reason.into(),
        unsupported: false,
    }
}

/// Judges what the engine returned for a run against its case.
pub fn judge(run: &Run<'_>, result: Result<ExecOutput, SqlError>) -> Outcome {
    let case = run.case;
    if let Some(expected) = &case.expected_exception {
        return match result {
            Err(e) if e.is_unsupported() => Outcome::Failed {
                reason: format!("failed only because a feature is unsupported: {e}"),
                unsupported: true,
            },
            Err(_) => Outcome::Passed,
            Ok(_) => failed(format!("expected an error ({expected}), got success")),
        };
    }
    let output = match result {
        Ok(output) => output,
        Err(e) => {
            return Outcome::Failed {
                reason: format!("error: {e}"),
                unsupported: e.is_unsupported(),
            }
        }
    };
    if let Some(d) = outputs_difference(&case.outputs, &output.records, !case.inputs.is_empty()) {
        return failed(d);
    }
    if let Some(d) = case.post.as_ref().and_then(|p| post_difference(p, &output)) {
        return failed(d);
    }
    Outcome::Passed
}

/// The text of a panic's payload.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a non-text panic payload)".into()
    }
}

/// Runs one run with `execute` (unless it is skipped) and judges it. A panic in
/// `execute` fails the run.
pub fn run_one(
    run: &Run<'_>,
    execute: &dyn Fn(&ExecCase) -> Result<ExecOutput, SqlError>,
) -> Outcome {
    if let Some(skip) = &run.skip {
        return Outcome::Skipped(skip.clone());
    }
    let case = run.exec_case();
    match catch_unwind(AssertUnwindSafe(|| execute(&case))) {
        Ok(result) => judge(run, result),
        Err(payload) => failed(format!("the engine panicked: {}", panic_message(&*payload))),
    }
}

/// The `*.json` files under `dir`, recursively (symbolic links to folders are not
/// followed), each with its name relative to `dir`.
pub(crate) fn json_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") && path.is_file() {
            out.push(path);
        }
    }
    Ok(())
}

/// One line of the report: no line breaks inside.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\r', '\n'])
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Collects a run of the files into a [`Summary`] and prints as it goes (the REST runner,
/// `rest.rs`, reports through it too).
pub(crate) struct Reporter<'o> {
    options: Options,
    out: &'o mut dyn Write,
    summary: Summary,
}

impl<'o> Reporter<'o> {
    pub(crate) fn new(options: &Options, out: &'o mut dyn Write) -> Reporter<'o> {
        Reporter {
            options: options.clone(),
            out,
            summary: Summary::default(),
        }
    }

    /// A passed run; `on_error`: it passed by failing as expected.
    pub(crate) fn pass(&mut self, on_error: bool) {
        self.summary.passed += 1;
        if on_error {
            self.summary.passed_on_error += 1;
        }
    }

    /// The `SLOW` line of a run that took `took`, if it took at least [`SLOW_RUN`].
    pub(crate) fn slow(&mut self, file: &str, run: &str, took: Duration) {
        if took >= SLOW_RUN {
            let _ = writeln!(self.out, "SLOW {file} :: {run} :: {} ms", took.as_millis());
        }
    }

    /// A line of the report as it is (no counting).
    pub(crate) fn line(&mut self, text: &str) {
        let _ = writeln!(self.out, "{}", one_line(text));
    }

    /// Whether `SKIP` lines are printed.
    pub(crate) fn verbose(&self) -> bool {
        self.options.verbose
    }

    pub(crate) fn fail(&mut self, file: &str, run: &str, reason: &str, unsupported: bool) {
        let reason = one_line(reason);
        // The report is best effort: a closed stdout does not stop the run.
        let _ = writeln!(self.out, "FAIL {file} :: {run} :: {reason}");
        self.summary.failed += 1;
        self.summary.failures.push(Failure {
            file: file.to_string(),
            run: run.to_string(),
            reason,
            unsupported,
        });
    }

    pub(crate) fn skip(&mut self, file: &str, run: &str, skip: &Skip) {
        if self.options.verbose {
            let detail = if skip.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", skip.detail)
            };
            let _ = writeln!(self.out, "SKIP {file} :: {run} :: {}{detail}", skip.reason);
        }
        self.summary.skipped += 1;
        *self
            .summary
            .skips_by_reason
            .entry(skip.reason.to_string())
            .or_default() += 1;
    }

    fn file(
        &mut self,
        path: &Path,
        name: &str,
        execute: &dyn Fn(&ExecCase) -> Result<ExecOutput, SqlError>,
    ) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => return self.fail(name, "-", &format!("cannot read the file: {e}"), false),
        };
        let cases = match parse_file(&text) {
            Ok(c) => c,
            Err(e) => return self.fail(name, "-", &format!("malformed test file: {e}"), false),
        };
        for case in cases {
            let case = match case {
                Ok(c) => c,
                Err(m) => {
                    self.fail(
                        name,
                        &m.name,
                        &format!("malformed test case: {}", m.reason),
                        false,
                    );
                    continue;
                }
            };
            for run in expand(&case) {
                let started = Instant::now();
                let outcome = run_one(&run, execute);
                let took = started.elapsed();
                if took >= SLOW_RUN {
                    let _ = writeln!(
                        self.out,
                        "SLOW {name} :: {} :: {} ms",
                        run.name,
                        took.as_millis()
                    );
                }
                match outcome {
                    Outcome::Passed => {
                        self.summary.passed += 1;
                        if case.expected_exception.is_some() {
                            self.summary.passed_on_error += 1;
                        }
                    }
                    Outcome::Failed {
                        reason,
                        unsupported,
                    } => self.fail(name, &run.name, &reason, unsupported),
                    Outcome::Skipped(skip) => self.skip(name, &run.name, &skip),
                }
            }
        }
    }

    /// The closing lines: skips by reason, failures from unsupported features, counts.
    pub(crate) fn finish(self) -> Summary {
        let s = &self.summary;
        if !s.skips_by_reason.is_empty() {
            let mut reasons: Vec<(&String, &usize)> = s.skips_by_reason.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let parts: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
            let _ = writeln!(self.out, "skipped: {}", parts.join(", "));
        }
        if s.passed > 0 {
            let _ = writeln!(
                self.out,
                "passed: {} with their outputs compared, {} by failing as expected",
                s.passed - s.passed_on_error,
                s.passed_on_error
            );
        }
        if s.failed > 0 {
            let _ = writeln!(
                self.out,
                "failed: {} only because a feature is not supported yet, {} otherwise",
                s.unsupported(),
                s.failed - s.unsupported()
            );
        }
        let _ = writeln!(self.out, "{s}");
        let _ = self.out.flush();
        self.summary
    }
}

/// Runs every case of the given files and folders (folders: their `*.json` files,
/// recursively, in sorted order) on the engine, prints the report on stdout and returns
/// the counts. A path that does not exist counts as one failure.
pub fn run_paths(paths: &[PathBuf]) -> Summary {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    run_paths_with(paths, &Options::default(), &exec::execute, &mut out)
}

/// [`run_paths`] with options, another engine (tests use a fake one) and another output.
pub fn run_paths_with(
    paths: &[PathBuf],
    options: &Options,
    execute: &dyn Fn(&ExecCase) -> Result<ExecOutput, SqlError>,
    out: &mut dyn Write,
) -> Summary {
    let mut reporter = Reporter {
        options: options.clone(),
        out,
        summary: Summary::default(),
    };
    for path in paths {
        if path.is_dir() {
            let mut files = Vec::new();
            if let Err(e) = json_files(path, &mut files) {
                reporter.fail(
                    &path.display().to_string(),
                    "-",
                    &format!("cannot list the folder: {e}"),
                    false,
                );
            }
            files.sort();
            // Files are named from the folder's own name down: `qtt/joins.json`.
            let base = path.file_name().map(PathBuf::from).unwrap_or_default();
            for file in files {
                let relative = file.strip_prefix(path).unwrap_or(&file);
                let name = base.join(relative).display().to_string();
                reporter.file(&file, &name, execute);
            }
        } else if path.is_file() {
            reporter.file(path, &path.display().to_string(), execute);
        } else {
            reporter.fail(
                &path.display().to_string(),
                "-",
                "no such file or folder",
                false,
            );
        }
    }
    reporter.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qtt::exec::{PostSource, TestRecord};
    use crate::qtt::expand::{SKIP_DISABLED, SKIP_SCHEMA_REGISTRY, SKIP_TEST_ONLY_FUNCTION};
    use crate::qtt::load::parse_case;
    use serde_json::json;

    /// The engine as it started: every case is unsupported. (The real `exec::execute`
    /// grows, so the report counts are pinned against this one.)
    fn stub(_: &ExecCase) -> Result<ExecOutput, SqlError> {
        Err(SqlError::unsupported(None, "the engine"))
    }

    /// A fake engine: copies every input to topic `OUT` (timestamp defaulting to 0), fails
    /// on a statement containing `BAD`, panics on one containing `PANIC`, reports sources
    /// `OUT` and topics `OUT` plus the input topics.
    fn echo(case: &ExecCase) -> Result<ExecOutput, SqlError> {
        if case.statements.iter().any(|s| s.contains("PANIC")) {
            panic!("boom");
        }
        if case.statements.iter().any(|s| s.contains("BAD")) {
            return Err(SqlError::analysis(None, "bad statement"));
        }
        let out: Vec<TestRecord> = case
            .inputs
            .iter()
            .map(|r| TestRecord {
                topic: "OUT".into(),
                timestamp: Some(r.timestamp.unwrap_or(0)),
                ..r.clone()
            })
            .collect();
        let mut topics: Vec<String> = case.inputs.iter().map(|r| r.topic.clone()).collect();
        topics.push("OUT".into());
        Ok(ExecOutput {
            records: BTreeMap::from([("OUT".to_string(), out)]),
            sources: vec![PostSource {
                name: "OUT".into(),
                kind: "STREAM".into(),
                schema: "K STRING KEY, A INT".into(),
                key_format: "KAFKA".into(),
                value_format: "JSON".into(),
                windowed: false,
            }],
            topics,
        })
    }

    fn run_of(case: &crate::qtt::load::QttCase) -> Run<'_> {
        expand(case).remove(0)
    }

    #[test]
    fn expected_exception_rules() {
        let c = parse_case(&json!({
            "name": "e", "statements": ["BAD"],
            "expectedException": {"type": "T", "message": "M"}
        }))
        .expect("case");
        let run = run_of(&c);
        assert_eq!(
            judge(&run, Err(SqlError::analysis(None, "x"))),
            Outcome::Passed
        );
        assert_eq!(
            judge(&run, Err(SqlError::Record("x".into()))),
            Outcome::Passed
        );
        assert_eq!(
            judge(&run, Err(SqlError::unsupported(None, "windows"))),
            Outcome::Failed {
                reason: "failed only because a feature is unsupported: not supported yet: windows"
                    .into(),
                unsupported: true
            }
        );
        assert_eq!(
            judge(&run, Ok(ExecOutput::default())),
            failed("expected an error (T: M), got success")
        );
    }

    #[test]
    fn errors_and_panics_fail_the_run() {
        let c = parse_case(&json!({"name": "p", "statements": ["PANIC"]})).expect("case");
        assert_eq!(
            run_one(&run_of(&c), &echo),
            failed("the engine panicked: boom")
        );
        let c = parse_case(&json!({"name": "b", "statements": ["BAD"]})).expect("case");
        assert_eq!(run_one(&run_of(&c), &echo), failed("error: bad statement"));
        let c = parse_case(&json!({"name": "u", "statements": []})).expect("case");
        assert_eq!(
            run_one(&run_of(&c), &stub),
            Outcome::Failed {
                reason: "error: not supported yet: the engine".into(),
                unsupported: true
            }
        );
    }

    #[test]
    fn post_is_checked_after_outputs() {
        let c = parse_case(&json!({
            "name": "p", "statements": [],
            "inputs": [{"topic": "in", "value": 1}],
            "outputs": [{"topic": "OUT", "value": 1}],
            "post": {"sources": [{"name": "OUT", "type": "table"}]}
        }))
        .expect("case");
        assert_eq!(
            run_one(&run_of(&c), &echo),
            failed("post: source OUT is a STREAM, expected a TABLE")
        );
    }

    const GOOD_FILE: &str = r#"{
      "comments": ["see http://example.com//path"], // a comment
      "tests": [
        {
          "name": "copy",
          // the input goes through
          "statements": ["CREATE STREAM S (K STRING KEY, A INT) WITH (kafka_topic='in', value_format='JSON');"],
          "inputs": [{"topic": "in", "key": "k//1", "value": {"A": 1}, "timestamp": 5}],
          "outputs": [{"topic": "OUT", "key": "k//1", "value": {"a": 1}, "timestamp": 5}],
          "post": {"sources": [{"name": "OUT", "type": "stream", "schema": "`K` STRING KEY, A INTEGER"}],
                   "topics": {"topics": [{"name": "OUT"}], "blacklist": ".*-repartition"}}
        },
        {
          "name": "formats",
          "format": ["JSON", "AVRO", "DELIMITED"],
          "statements": ["CREATE STREAM S (A INT) WITH (kafka_topic='in', value_format='{FORMAT}');"],
          "inputs": [{"topic": "in", "value": {"A": 2}}],
          "outputs": [{"topic": "OUT", "value": {"A": 2}}]
        },
        {
          "name": "error expected",
          "statements": ["BAD"],
          "expectedException": {"type": "io.confluent.ksql.util.KsqlStatementException", "message": "bad"}
        },
        {"name": "disabled", "enabled": false, "statements": ["x"]},
        {"name": "udf", "statements": ["SELECT test_udf(A) FROM S;"]},
        {"name": "wrong", "statements": [],
         "inputs": [{"topic": "in", "value": {"A": 1}}],
         "outputs": [{"topic": "OUT", "value": {"A": 2}}]},
        {"name": "malformed", "inputs": []}
      ]
    }"#;

    fn write_files(dir: &Path) {
        std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
        std::fs::write(dir.join("sub/good.json"), GOOD_FILE).expect("write");
        std::fs::write(dir.join("bad.json"), "{ \"tests\": [ ").expect("write");
        std::fs::write(dir.join("notes.txt"), "not a test file").expect("write");
    }

    #[test]
    fn end_to_end_with_the_stub_engine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("qtt");
        write_files(&root);
        let mut out = Vec::new();
        let summary = run_paths_with(
            std::slice::from_ref(&root),
            &Options { verbose: true },
            &stub,
            &mut out,
        );
        let text = String::from_utf8(out).expect("utf-8");
        // copy, formats - JSON, formats - DELIMITED, error expected, wrong: the stub
        // supports nothing; plus the malformed case and the malformed file.
        assert_eq!(
            (summary.passed, summary.failed, summary.skipped),
            (0, 7, 3),
            "{text}"
        );
        assert_eq!(summary.failures.len(), 7);
        assert_eq!(summary.unsupported(), 5);
        assert_eq!(summary.passed_on_error, 0);
        assert!(!text.contains("passed: "));
        assert_eq!(
            summary.skips_by_reason,
            BTreeMap::from([
                (SKIP_DISABLED.to_string(), 1),
                (SKIP_SCHEMA_REGISTRY.to_string(), 1),
                (SKIP_TEST_ONLY_FUNCTION.to_string(), 1),
            ])
        );
        let first = &summary.failures[0];
        assert_eq!(
            (first.file.as_str(), first.run.as_str()),
            ("qtt/bad.json", "-")
        );
        assert!(first.reason.starts_with("malformed test file: not JSON"));
        assert!(text.contains(
            "FAIL qtt/sub/good.json :: error expected :: failed only because a feature is unsupported: not supported yet: the engine\n"
        ));
        assert!(text.contains("FAIL qtt/sub/good.json :: formats - DELIMITED :: error: not supported yet: the engine\n"));
        assert!(text.contains(
            "FAIL qtt/sub/good.json :: malformed :: malformed test case: no `statements`\n"
        ));
        assert!(text.contains(
            "SKIP qtt/sub/good.json :: formats - AVRO :: needs a schema registry (uses format AVRO)\n"
        ));
        assert!(text.contains(
            "SKIP qtt/sub/good.json :: udf :: calls a function of ksqlDB's test build (TEST_UDF)\n"
        ));
        assert!(text.ends_with("0 passed, 7 failed, 3 skipped\n"), "{text}");
        assert!(
            text.contains("failed: 5 only because a feature is not supported yet, 2 otherwise\n")
        );
    }

    #[test]
    fn end_to_end_with_a_fake_engine() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("qtt");
        write_files(&root);
        let mut out = Vec::new();
        let summary = run_paths_with(
            &[root.join("sub/good.json"), root.join("missing.json")],
            &Options::default(),
            &echo,
            &mut out,
        );
        let text = String::from_utf8(out).expect("utf-8");
        // copy, formats - JSON, formats - DELIMITED, error expected pass; wrong, the
        // malformed case and the missing path fail.
        assert_eq!(
            (summary.passed, summary.failed, summary.skipped),
            (4, 3, 3),
            "{text}"
        );
        assert_eq!(summary.unsupported(), 0);
        assert_eq!(summary.passed_on_error, 1);
        assert!(text.contains("passed: 3 with their outputs compared, 1 by failing as expected\n"));
        let wrong = &summary.failures[0];
        assert_eq!(wrong.run, "wrong");
        assert_eq!(
            wrong.reason,
            "topic OUT, record 0: value.A: expected 2, got 1"
        );
        assert!(summary.failures[2].reason.contains("no such file"));
        // Not verbose: no SKIP lines, but the skip summary.
        assert!(!text.contains("SKIP "));
        assert!(text.contains("skipped: 1 calls a function of ksqlDB's test build, 1 disabled (enabled: false), 1 needs a schema registry\n"), "{text}");
        assert!(text.ends_with("4 passed, 3 failed, 3 skipped\n"));
    }
}
