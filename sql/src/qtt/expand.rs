//! Expanding a case into runs (one per `format` entry times one per `config` entry) and
//! deciding which runs are skipped, and why.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;

use super::exec::ExecCase;
use super::load::QttCase;

/// Formats that need a schema registry, which Brook's runner does not have yet.
pub const SCHEMA_REGISTRY_FORMATS: [&str; 4] = ["AVRO", "PROTOBUF", "PROTOBUF_NOSR", "JSON_SR"];

/// Functions that exist only in ksqlDB's own test build.
pub const TEST_ONLY_FUNCTIONS: [&str; 10] = [
    "TEST_UDF",
    "TEST_UDTF",
    "TEST_UDAF",
    "VAR_ARG",
    "GENERIC_VAR_ARG",
    "MID_VAR_ARG",
    "OBJ_COL_ARG",
    "MULTI_ARG",
    "FOUR_ARG",
    "FIVE_ARG",
];

/// Skip reason: `enabled: false`.
pub const SKIP_DISABLED: &str = "disabled (enabled: false)";
/// Skip reason: a schema-registry format or a topic declaring a schema.
pub const SKIP_SCHEMA_REGISTRY: &str = "needs a schema registry";
/// Skip reason: a function of ksqlDB's test build.
pub const SKIP_TEST_ONLY_FUNCTION: &str = "calls a function of ksqlDB's test build";
/// Skip reason: a case of `rest-qtt/` (with `responses`), which this runner does not run.
pub const SKIP_REST: &str = "REST case (responses / expectedError)";

/// Why a run is skipped: `reason` is one of the `SKIP_*` constants (reports group by it),
/// `detail` says what in the run triggered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub reason: &'static str,
    pub detail: String,
}

/// One run of a case: what the engine gets, plus the name and whether it is skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Run<'a> {
    /// `<case name>`, `<case name> - <format>`, `<case name> - <config>` or
    /// `<case name> - <format> - <config>`.
    pub name: String,
    pub case: &'a QttCase,
    /// With `{FORMAT}` replaced.
    pub statements: Vec<String>,
    /// With the `{CONFIG}` property replaced.
    pub properties: BTreeMap<String, String>,
    pub skip: Option<Skip>,
}

impl Run<'_> {
    /// What the engine gets for this run.
    pub fn exec_case(&self) -> ExecCase {
        ExecCase {
            statements: self.statements.clone(),
            inputs: self
                .case
                .inputs
                .iter()
                .map(|r| r.to_test_record())
                .collect(),
            properties: self.properties.clone(),
            topics: self.case.topics.iter().map(|t| t.to_test_topic()).collect(),
        }
    }
}

/// The runs of a case, in file order: formats outer, configs inner.
pub fn expand(case: &QttCase) -> Vec<Run<'_>> {
    let formats: Vec<Option<&str>> = if case.formats.is_empty() {
        vec![None]
    } else {
        case.formats.iter().map(|f| Some(f.as_str())).collect()
    };
    let configs: Vec<Option<&str>> = if case.configs.is_empty() {
        vec![None]
    } else {
        case.configs.iter().map(|c| Some(c.as_str())).collect()
    };
    let mut runs = Vec::with_capacity(formats.len() * configs.len());
    for format in &formats {
        let statements: Vec<String> = match format {
            Some(f) => case
                .statements
                .iter()
                .map(|s| s.replace("{FORMAT}", f))
                .collect(),
            None => case.statements.clone(),
        };
        for config in &configs {
            let properties = match config {
                Some(c) => case
                    .properties
                    .iter()
                    .map(|(k, v)| {
                        let v = if v == "{CONFIG}" { c } else { v.as_str() };
                        (k.clone(), v.to_string())
                    })
                    .collect(),
                None => case.properties.clone(),
            };
            let mut name = case.name.clone();
            for part in [format, config].into_iter().flatten() {
                name.push_str(" - ");
                name.push_str(part);
            }
            let skip = skip_reason(case, &statements);
            runs.push(Run {
                name,
                case,
                statements: statements.clone(),
                properties,
                skip,
            });
        }
    }
    runs
}

/// `FORMAT=`, `KEY_FORMAT=` or `VALUE_FORMAT=` followed by a (quoted) format name.
static FORMAT_PROPERTY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b(?:KEY_|VALUE_)?FORMAT\s*=\s*['"]?\s*([A-Za-z_]+)"#)
        .expect("a constant, valid regex")
});

/// The schema-registry format the statements use (`FORMAT`, `KEY_FORMAT` or
/// `VALUE_FORMAT` in a `WITH` clause), if any.
pub fn schema_registry_format(statements: &[String]) -> Option<String> {
    statements.iter().find_map(|s| {
        FORMAT_PROPERTY.captures_iter(s).find_map(|c| {
            let format = c.get(1)?.as_str().to_ascii_uppercase();
            SCHEMA_REGISTRY_FORMATS
                .contains(&format.as_str())
                .then_some(format)
        })
    })
}

/// The first test-only function the statements name (whole words, any case).
pub fn test_only_function(statements: &[String]) -> Option<&'static str> {
    statements.iter().find_map(|s| {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find_map(|word| {
                TEST_ONLY_FUNCTIONS
                    .iter()
                    .find(|f| f.eq_ignore_ascii_case(word))
                    .copied()
            })
    })
}

/// Why a run with these (substituted) statements is skipped, if it is.
pub fn skip_reason(case: &QttCase, statements: &[String]) -> Option<Skip> {
    if case.rest {
        return Some(Skip {
            reason: SKIP_REST,
            detail: "run by a REST runner".into(),
        });
    }
    if !case.enabled {
        return Some(Skip {
            reason: SKIP_DISABLED,
            detail: String::new(),
        });
    }
    if let Some(format) = schema_registry_format(statements) {
        return Some(Skip {
            reason: SKIP_SCHEMA_REGISTRY,
            detail: format!("uses format {format}"),
        });
    }
    if let Some(topic) = case.topics.iter().find(|t| t.has_schema) {
        return Some(Skip {
            reason: SKIP_SCHEMA_REGISTRY,
            detail: format!("topic `{}` declares a schema", topic.name),
        });
    }
    if let Some(function) = test_only_function(statements) {
        return Some(Skip {
            reason: SKIP_TEST_ONLY_FUNCTION,
            detail: function.to_string(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qtt::load::{parse_case, QttTopic};
    use serde_json::json;

    fn case(v: serde_json::Value) -> QttCase {
        parse_case(&v).expect("a valid case")
    }

    #[test]
    fn format_times_config() {
        let c = case(json!({
            "name": "c",
            "statements": ["CREATE STREAM S WITH (value_format='{FORMAT}');", "SELECT 1;"],
            "format": ["JSON", "DELIMITED"],
            "config": ["true", "false"],
            "properties": {"ksql.new.query.planner.enabled": "{CONFIG}", "other": "x"}
        }));
        let runs = expand(&c);
        let names: Vec<_> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "c - JSON - true",
                "c - JSON - false",
                "c - DELIMITED - true",
                "c - DELIMITED - false"
            ]
        );
        assert_eq!(
            runs[2].statements[0],
            "CREATE STREAM S WITH (value_format='DELIMITED');"
        );
        assert_eq!(runs[2].statements[1], "SELECT 1;");
        assert_eq!(
            runs[1].properties["ksql.new.query.planner.enabled"],
            "false"
        );
        assert_eq!(runs[1].properties["other"], "x");
        assert!(runs.iter().all(|r| r.skip.is_none()));
        let exec = runs[0].exec_case();
        assert_eq!(exec.statements, runs[0].statements);
        assert_eq!(exec.properties["ksql.new.query.planner.enabled"], "true");
    }

    #[test]
    fn a_plain_case_is_one_run_named_as_the_case() {
        let c = case(json!({"name": "plain", "statements": ["A {FORMAT}"], "config": []}));
        let runs = expand(&c);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].name, "plain");
        assert_eq!(runs[0].statements, ["A {FORMAT}"]);
    }

    #[test]
    fn registry_formats_skip_only_their_runs() {
        let c = case(json!({
            "name": "c",
            "statements": ["CREATE STREAM S (A INT) WITH (kafka_topic='t', value_format='{FORMAT}');"],
            "format": ["AVRO", "JSON", "PROTOBUF_NOSR", "JSON_SR", "PROTOBUF", "DELIMITED"]
        }));
        let skipped: Vec<_> = expand(&c)
            .into_iter()
            .map(|r| r.skip.map(|s| (s.reason, s.detail)))
            .collect();
        assert_eq!(
            skipped,
            [
                Some((SKIP_SCHEMA_REGISTRY, "uses format AVRO".to_string())),
                None,
                Some((
                    SKIP_SCHEMA_REGISTRY,
                    "uses format PROTOBUF_NOSR".to_string()
                )),
                Some((SKIP_SCHEMA_REGISTRY, "uses format JSON_SR".to_string())),
                Some((SKIP_SCHEMA_REGISTRY, "uses format PROTOBUF".to_string())),
                None,
            ]
        );
    }

    #[test]
    fn format_detection_spellings() {
        let uses = |s: &str| schema_registry_format(&[s.to_string()]);
        assert_eq!(
            uses("WITH (VALUE_FORMAT = \"avro\")").as_deref(),
            Some("AVRO")
        );
        assert_eq!(
            uses("with (format='Protobuf')").as_deref(),
            Some("PROTOBUF")
        );
        assert_eq!(
            uses("WITH (key_format='JSON_SR', value_format='JSON')").as_deref(),
            Some("JSON_SR")
        );
        assert_eq!(uses("WITH (value_format='JSON')"), None);
        assert_eq!(uses("WITH (value_format='{FORMAT}')"), None);
        // Not a format property: a timestamp format, a string literal, a column name.
        assert_eq!(uses("WITH (timestamp_format='AVRO')"), None);
        assert_eq!(uses("SELECT 'AVRO' AS FORMAT_NAME FROM S;"), None);
        assert_eq!(uses("WITH (value_format='AVROX')"), None);
    }

    #[test]
    fn topics_with_schemas_are_skipped() {
        let mut c = case(
            json!({"name": "c", "statements": ["CREATE STREAM S WITH (value_format='JSON');"]}),
        );
        assert_eq!(skip_reason(&c, &c.statements), None);
        c.topics.push(QttTopic {
            name: "t".into(),
            partitions: None,
            has_schema: true,
        });
        let skip = skip_reason(&c, &c.statements).expect("skipped");
        assert_eq!(skip.reason, SKIP_SCHEMA_REGISTRY);
        assert_eq!(skip.detail, "topic `t` declares a schema");
    }

    #[test]
    fn test_only_functions_are_words_in_any_case() {
        let f = |s: &str| test_only_function(&[s.to_string()]);
        assert_eq!(f("SELECT test_udf(a) FROM s;"), Some("TEST_UDF"));
        assert_eq!(
            f("SELECT Mid_Var_Arg(1, 2, 3) FROM s;"),
            Some("MID_VAR_ARG")
        );
        assert_eq!(f("SELECT var_arg(1) FROM s;"), Some("VAR_ARG"));
        assert_eq!(f("SELECT FIVE_ARG(1,2,3,4,5) FROM s;"), Some("FIVE_ARG"));
        assert_eq!(f("SELECT my_test_udf(a), VAR_ARGS FROM s;"), None);
        assert_eq!(f("SELECT abs(a) FROM s;"), None);
        let c = case(json!({"name": "c", "statements": ["SELECT TEST_UDTF(a) FROM s;"]}));
        let skip = skip_reason(&c, &c.statements).expect("skipped");
        assert_eq!(
            (skip.reason, skip.detail.as_str()),
            (SKIP_TEST_ONLY_FUNCTION, "TEST_UDTF")
        );
    }

    #[test]
    fn disabled_and_rest_cases_are_skipped_per_run() {
        let c = case(
            json!({"name": "c", "statements": [], "enabled": false, "format": ["JSON", "KAFKA"]}),
        );
        let runs = expand(&c);
        assert_eq!(runs.len(), 2);
        assert!(runs
            .iter()
            .all(|r| r.skip.as_ref().map(|s| s.reason) == Some(SKIP_DISABLED)));
        let r = case(json!({"name": "r", "statements": [], "expectedError": {}}));
        assert_eq!(
            expand(&r)[0].skip.as_ref().map(|s| s.reason),
            Some(SKIP_REST)
        );
    }
}
