//! Printing the entities `/ksql` answers with, the way the ksqlDB CLI prints them.
//!
//! Each entity kind (its `@type`) has a tabular form: listings become tables (tabled, in the
//! ksql CLI's style: ` a | b ` rows under a dashed header rule, a dashed bottom rule), a
//! description becomes `Name : value` lines and a field table. A kind the shell does not
//! know is printed as pretty JSON, so nothing the server says is lost.

use serde_json::Value;
use tabled::builder::Builder;
use tabled::settings::style::HorizontalLine;
use tabled::settings::Style;

use super::OutputFormat;

/// Renders one entity of a `/ksql` response (with its warnings) for printing.
pub(crate) fn render_entity(entity: &Value, format: OutputFormat) -> String {
    if format == OutputFormat::Json {
        return format!("{}\n", pretty_json(entity));
    }
    let mut out = match entity_type(entity) {
        "currentStatus" => render_status(entity),
        "streams" => render_sources(entity, "streams", "Stream Name"),
        "tables" => render_sources(entity, "tables", "Table Name"),
        "queries" => render_queries(entity),
        "properties" => render_properties(entity),
        "kafka_topics" => render_topics(entity),
        "sourceDescription" => render_description(&entity["sourceDescription"]),
        "source_descriptions" => render_descriptions(entity),
        "queryDescription" => render_query_description(&entity["queryDescription"]),
        "function_names" => render_function_names(entity),
        "describe_function" => render_describe_function(entity),
        "type_list" => render_type_list(entity),
        "variables" => render_variables(entity),
        "text" => {
            let mut text = str_of(&entity["text"]).to_string();
            if !text.ends_with('\n') {
                text.push('\n');
            }
            text
        }
        _ => {
            let mut text = pretty_json(entity);
            text.push('\n');
            text
        }
    };
    for warning in entity["warnings"].as_array().into_iter().flatten() {
        let message = warning
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| display(warning));
        out.push_str(&format!("WARNING: {message}\n"));
    }
    out
}

pub(crate) fn pretty_json(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

fn entity_type(entity: &Value) -> &str {
    entity.get("@type").and_then(Value::as_str).unwrap_or("")
}

/// A string field, or "" when absent.
fn str_of(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

/// A value as a cell: strings bare, null as "null", everything else as JSON.
pub(crate) fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

fn items<'a>(entity: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    entity[key].as_array().into_iter().flatten()
}

/// A table in the ksql CLI's style, with a newline after it.
pub(crate) fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut builder = Builder::default();
    builder.push_record(header.iter().map(|h| h.to_string()));
    for row in rows {
        builder.push_record(row);
    }
    let mut table = builder.build();
    table.with(
        Style::empty()
            .vertical('|')
            .horizontals([(1, HorizontalLine::new('-').intersection('-'))])
            .bottom('-')
            .intersection_bottom('-'),
    );
    format!("{table}\n")
}

fn render_status(entity: &Value) -> String {
    let status = &entity["commandStatus"];
    let message = status
        .get("message")
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .or_else(|| status.get("status").and_then(Value::as_str))
        .unwrap_or("");
    table(&["Message"], vec![vec![message.to_string()]])
}

fn render_sources(entity: &Value, key: &str, name_header: &str) -> String {
    let rows = items(entity, key)
        .map(|s| {
            vec![
                display(&s["name"]),
                display(&s["topic"]),
                display(&s["keyFormat"]),
                display(&s["valueFormat"]),
                s["isWindowed"].as_bool().unwrap_or(false).to_string(),
            ]
        })
        .collect();
    table(
        &[
            name_header,
            "Kafka Topic",
            "Key Format",
            "Value Format",
            "Windowed",
        ],
        rows,
    )
}

/// `["A", "B"]` -> `A, B`.
fn joined(value: &Value) -> String {
    match value {
        Value::Array(values) => values.iter().map(display).collect::<Vec<_>>().join(", "),
        Value::Null => String::new(),
        other => display(other),
    }
}

/// `{"RUNNING": 1}` -> `RUNNING:1`, as the ksql CLI shows a query's status.
fn status_count(query: &Value) -> String {
    match query.get("statusCount").and_then(Value::as_object) {
        Some(counts) if !counts.is_empty() => counts
            .iter()
            .map(|(state, n)| format!("{state}:{}", display(n)))
            .collect::<Vec<_>>()
            .join(","),
        _ => display(query.get("state").unwrap_or(&Value::Null)),
    }
}

fn render_queries(entity: &Value) -> String {
    let rows = items(entity, "queries")
        .map(|q| {
            vec![
                display(&q["id"]),
                display(&q["queryType"]),
                status_count(q),
                joined(&q["sinks"]),
                joined(&q["sinkKafkaTopics"]),
                display(&q["queryString"]),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "Query ID",
            "Query Type",
            "Status",
            "Sink Name",
            "Sink Kafka Topic",
            "Query String",
        ],
        rows,
    );
    out.push_str("For detailed information on a Query run: EXPLAIN <Query ID>;\n");
    out
}

fn render_properties(entity: &Value) -> String {
    let overwritten: Vec<&str> = items(entity, "overwrittenProperties")
        .filter_map(Value::as_str)
        .collect();
    let rows = items(entity, "properties")
        .map(|p| {
            let name = display(&p["name"]);
            let scope = if overwritten.contains(&name.as_str()) {
                "SESSION".to_string()
            } else {
                display(&p["scope"])
            };
            vec![name, scope, display(&p["value"])]
        })
        .collect();
    table(&["Property", "Scope", "Effective Value"], rows)
}

fn render_topics(entity: &Value) -> String {
    let rows = items(entity, "topics")
        .map(|t| {
            let replicas = t["replicaInfo"].as_array();
            vec![
                display(&t["name"]),
                replicas.map_or(0, Vec::len).to_string(),
                replicas
                    .and_then(|r| r.first())
                    .map(display)
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(&["Kafka Topic", "Partitions", "Partition Replicas"], rows)
}

/// A column type as the ksql CLI prints it (`VARCHAR(STRING)`, `ARRAY<INTEGER>`, ...).
pub(crate) fn schema_type(schema: &Value) -> String {
    let kind = str_of(&schema["type"]);
    match kind {
        "STRING" => "VARCHAR(STRING)".to_string(),
        "ARRAY" => format!("ARRAY<{}>", member_type(schema)),
        "MAP" => format!("MAP<STRING, {}>", member_type(schema)),
        "STRUCT" => {
            let fields = schema["fields"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| format!("{} {}", str_of(&f["name"]), schema_type(&f["schema"])))
                .collect::<Vec<_>>();
            format!("STRUCT<{}>", fields.join(", "))
        }
        "DECIMAL" => {
            let p = &schema["parameters"];
            match (p.get("precision"), p.get("scale")) {
                (Some(precision), Some(scale)) => {
                    format!("DECIMAL({}, {})", display(precision), display(scale))
                }
                _ => "DECIMAL".to_string(),
            }
        }
        other => other.to_string(),
    }
}

fn member_type(schema: &Value) -> String {
    match schema.get("memberSchema") {
        Some(member) if member.is_object() => schema_type(member),
        _ => "?".to_string(),
    }
}

/// `Name                 : value` lines, as in the ksql CLI's descriptions.
fn label(out: &mut String, name: &str, value: &str) {
    out.push_str(&format!("{name:<21}: {value}\n"));
}

fn field_table(fields: &Value) -> String {
    let rows = fields
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let mut ty = schema_type(&f["schema"]);
            match f.get("type").and_then(Value::as_str) {
                Some("KEY") => ty.push_str("  (key)"),
                Some("HEADERS") => ty.push_str("  (headers)"),
                _ => {}
            }
            vec![display(&f["name"]), ty]
        })
        .collect();
    table(&["Field", "Type"], rows)
}

fn query_lines(out: &mut String, title: &str, queries: &Value) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    out.push_str(&"-".repeat(title.len()));
    out.push('\n');
    for q in queries.as_array().into_iter().flatten() {
        let state = q
            .get("state")
            .and_then(Value::as_str)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default();
        out.push_str(&format!(
            "{}{state} : {}\n",
            display(&q["id"]),
            str_of(&q["queryString"])
        ));
    }
    out.push_str("\nFor query topology and execution plan please run: EXPLAIN <QueryId>\n");
}

fn render_description(d: &Value) -> String {
    let mut out = String::from("\n");
    let extended = d["extended"].as_bool().unwrap_or(false);
    label(&mut out, "Name", str_of(&d["name"]));
    if extended {
        label(&mut out, "Type", str_of(&d["type"]));
        let timestamp = match d.get("timestamp").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_string(),
            _ => "Not set - using <ROWTIME>".to_string(),
        };
        label(&mut out, "Timestamp field", &timestamp);
        label(&mut out, "Key format", str_of(&d["keyFormat"]));
        label(&mut out, "Value format", str_of(&d["valueFormat"]));
        label(
            &mut out,
            "Kafka topic",
            &format!(
                "{} (partitions: {}, replication: {})",
                str_of(&d["topic"]),
                display(&d["partitions"]),
                display(&d["replication"])
            ),
        );
        if let Some(window) = d.get("windowType").and_then(Value::as_str) {
            label(&mut out, "Window type", window);
        }
        label(&mut out, "Statement", str_of(&d["statement"]));
        out.push('\n');
    }
    out.push_str(&field_table(&d["fields"]));
    if extended {
        let kind = str_of(&d["type"]);
        query_lines(
            &mut out,
            &format!("Queries that read from this {kind}"),
            &d["readQueries"],
        );
        query_lines(
            &mut out,
            &format!("Queries that write from this {kind}"),
            &d["writeQueries"],
        );
    } else {
        out.push_str(
            "For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;\n",
        );
    }
    out
}

fn render_descriptions(entity: &Value) -> String {
    items(entity, "sourceDescriptions")
        .map(render_description)
        .collect()
}

fn render_query_description(q: &Value) -> String {
    let mut out = String::from("\n");
    label(&mut out, "ID", str_of(&q["id"]));
    if let Some(kind) = q.get("queryType").and_then(Value::as_str) {
        label(&mut out, "Query Type", kind);
    }
    label(&mut out, "SQL", str_of(&q["statementText"]));
    if let Some(states) = q.get("ksqlHostQueryStatus").and_then(Value::as_object) {
        let states = states
            .iter()
            .map(|(host, s)| format!("{host}: {}", display(s)))
            .collect::<Vec<_>>()
            .join(", ");
        label(&mut out, "Host Query Status", &states);
    } else if let Some(state) = q.get("state").and_then(Value::as_str) {
        label(&mut out, "Status", state);
    }
    out.push('\n');
    out.push_str(&field_table(&q["fields"]));
    for (title, key) in [
        ("Sources that this query reads from: ", "sources"),
        ("Sinks that this query writes to: ", "sinks"),
    ] {
        out.push('\n');
        out.push_str(title);
        out.push('\n');
        out.push_str(&"-".repeat(title.len()));
        out.push('\n');
        for name in items(q, key) {
            out.push_str(&display(name));
            out.push('\n');
        }
    }
    for (title, key) in [
        ("Execution plan", "executionPlan"),
        ("Processing topology", "topology"),
    ] {
        if let Some(text) = q.get(key).and_then(Value::as_str) {
            out.push('\n');
            out.push_str(title);
            out.push('\n');
            out.push_str(&"-".repeat(title.len()));
            out.push('\n');
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

fn render_function_names(entity: &Value) -> String {
    let mut rows: Vec<Vec<String>> = items(entity, "functions")
        .map(|f| vec![display(&f["name"]), display(&f["category"])])
        .collect();
    rows.sort();
    let mut out = table(&["Function Name", "Category"], rows);
    out.push_str(
        "For detailed information about a function, run: DESCRIBE FUNCTION <Function Name>;\n",
    );
    out
}

fn render_describe_function(f: &Value) -> String {
    let mut out = String::from("\n");
    label(&mut out, "Name", str_of(&f["name"]));
    for (name, key) in [
        ("Author", "author"),
        ("Version", "version"),
        ("Overview", "description"),
        ("Type", "type"),
        ("Jar", "path"),
    ] {
        if let Some(value) = f.get(key).and_then(Value::as_str).filter(|v| !v.is_empty()) {
            label(&mut out, name, value);
        }
    }
    out.push_str("Variations  : \n");
    let name = str_of(&f["name"]);
    for variation in items(f, "functions") {
        let arguments = variation["arguments"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| format!("{} {}", str_of(&a["name"]), str_of(&a["type"])))
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!("\n\tVariation   : {name}({arguments})\n"));
        out.push_str(&format!(
            "\tReturns     : {}\n",
            str_of(&variation["returnType"])
        ));
        if let Some(description) = variation
            .get("description")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty())
        {
            out.push_str(&format!("\tDescription : {description}\n"));
        }
    }
    out
}

fn render_type_list(entity: &Value) -> String {
    let rows = entity["types"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| vec![name.clone(), schema_type(schema)])
        .collect();
    table(&["Type Name", "Schema"], rows)
}

fn render_variables(entity: &Value) -> String {
    let rows = items(entity, "variables")
        .map(|v| vec![display(&v["name"]), display(&v["value"])])
        .collect();
    table(&["Variable Name", "Value"], rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tabular(entity: Value) -> String {
        render_entity(&entity, OutputFormat::Tabular)
    }

    #[test]
    fn current_status() {
        let out = tabular(json!({
            "@type": "currentStatus", "statementText": "CREATE STREAM S ...;",
            "commandId": "stream/`S`/create",
            "commandStatus": {"status": "SUCCESS", "message": "Stream created", "queryId": null},
            "commandSequenceNumber": 2, "warnings": []
        }));
        assert_eq!(
            out,
            " Message        \n\
             ----------------\n \
             Stream created \n\
             ----------------\n"
        );
    }

    #[test]
    fn streams_and_tables() {
        let out = tabular(json!({
            "@type": "streams", "statementText": "SHOW STREAMS;", "warnings": [],
            "streams": [
                {"type": "STREAM", "name": "PAGEVIEWS", "topic": "pageviews",
                 "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": false},
                {"type": "STREAM", "name": "S", "topic": "s",
                 "keyFormat": "KAFKA", "valueFormat": "JSON", "isWindowed": true}
            ]
        }));
        assert_eq!(
            out,
            concat!(
                " Stream Name | Kafka Topic | Key Format | Value Format | Windowed \n",
                "------------------------------------------------------------------\n",
                " PAGEVIEWS   | pageviews   | KAFKA      | JSON         | false    \n",
                " S           | s           | KAFKA      | JSON         | true     \n",
                "------------------------------------------------------------------\n",
            )
        );
        let out = tabular(json!({"@type": "tables", "tables": [
            {"type": "TABLE", "name": "VIEWS", "topic": "VIEWS", "keyFormat": "KAFKA",
             "valueFormat": "JSON", "isWindowed": false}]}));
        assert!(out.starts_with(" Table Name | Kafka Topic |"), "{out}");
        assert!(out.contains(" VIEWS      | VIEWS       |"), "{out}");
        // An empty listing is still a header.
        let out = tabular(json!({"@type": "streams", "streams": []}));
        assert!(out.starts_with(" Stream Name | Kafka Topic"), "{out}");
    }

    #[test]
    fn queries() {
        let out = tabular(json!({"@type": "queries", "queries": [{
            "queryString": "CREATE STREAM X AS SELECT * FROM S EMIT CHANGES;",
            "sinks": ["X"], "sinkKafkaTopics": ["X"], "id": "CSAS_X_0",
            "statusCount": {"RUNNING": 1}, "queryType": "PERSISTENT", "state": "RUNNING"}]}));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0].split('|').map(str::trim).collect::<Vec<_>>(),
            [
                "Query ID",
                "Query Type",
                "Status",
                "Sink Name",
                "Sink Kafka Topic",
                "Query String"
            ]
        );
        assert_eq!(
            lines[2].split('|').map(str::trim).collect::<Vec<_>>(),
            [
                "CSAS_X_0",
                "PERSISTENT",
                "RUNNING:1",
                "X",
                "X",
                "CREATE STREAM X AS SELECT * FROM S EMIT CHANGES;"
            ]
        );
        assert_eq!(
            lines.last(),
            Some(&"For detailed information on a Query run: EXPLAIN <Query ID>;")
        );
    }

    #[test]
    fn properties_and_topics() {
        let out = tabular(json!({"@type": "properties",
            "properties": [
                {"name": "ksql.streams.auto.offset.reset", "scope": "KSQL", "value": "latest"},
                {"name": "ksql.service.id", "scope": "KSQL", "value": "default_"}],
            "overwrittenProperties": ["ksql.streams.auto.offset.reset"], "defaultProperties": []}));
        let rows: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split('|').map(str::trim).collect())
            .collect();
        assert_eq!(rows[0], ["Property", "Scope", "Effective Value"]);
        assert_eq!(
            rows[2],
            ["ksql.streams.auto.offset.reset", "SESSION", "latest"]
        );
        assert_eq!(rows[3], ["ksql.service.id", "KSQL", "default_"]);

        let out = tabular(json!({"@type": "kafka_topics", "topics": [
            {"name": "pageviews", "replicaInfo": [1, 1, 1]}]}));
        let rows: Vec<Vec<&str>> = out
            .lines()
            .map(|l| l.split('|').map(str::trim).collect())
            .collect();
        assert_eq!(rows[0], ["Kafka Topic", "Partitions", "Partition Replicas"]);
        assert_eq!(rows[2], ["pageviews", "3", "1"]);
    }

    fn description(extended: bool) -> Value {
        json!({"@type": "sourceDescription", "statementText": "DESCRIBE S;", "warnings": [],
            "sourceDescription": {
                "name": "S", "type": "STREAM", "topic": "s", "keyFormat": "KAFKA",
                "valueFormat": "JSON", "windowType": null, "partitions": 1, "replication": 1,
                "statement": "CREATE STREAM S (K STRING KEY, ID INTEGER) WITH (...);",
                "readQueries": [{"id": "CSAS_X_0", "queryString": "CREATE STREAM X AS SELECT * FROM S;", "state": "RUNNING"}],
                "writeQueries": [],
                "fields": [
                    {"name": "K", "schema": {"type": "STRING", "fields": null, "memberSchema": null}, "type": "KEY"},
                    {"name": "ID", "schema": {"type": "INTEGER", "fields": null, "memberSchema": null}},
                    {"name": "TAGS", "schema": {"type": "ARRAY", "fields": null, "memberSchema": {"type": "STRING"}}},
                    {"name": "P", "schema": {"type": "STRUCT", "memberSchema": null, "fields": [
                        {"name": "X", "schema": {"type": "DOUBLE"}},
                        {"name": "M", "schema": {"type": "MAP", "memberSchema": {"type": "BIGINT"}}}]}}
                ],
                "extended": extended}})
    }

    #[test]
    fn describe() {
        let out = tabular(description(false));
        assert_eq!(
            out,
            concat!(
                "\n",
                "Name                 : S\n",
                " Field | Type                                    \n",
                "-------------------------------------------------\n",
                " K     | VARCHAR(STRING)  (key)                  \n",
                " ID    | INTEGER                                 \n",
                " TAGS  | ARRAY<VARCHAR(STRING)>                  \n",
                " P     | STRUCT<X DOUBLE, M MAP<STRING, BIGINT>> \n",
                "-------------------------------------------------\n",
                "For runtime statistics and query details run: DESCRIBE <Stream,Table> EXTENDED;\n",
            )
        );
    }

    #[test]
    fn describe_extended() {
        let out = tabular(description(true));
        assert!(out.contains("Type                 : STREAM\n"), "{out}");
        assert!(
            out.contains("Kafka topic          : s (partitions: 1, replication: 1)\n"),
            "{out}"
        );
        assert!(
            out.contains("Queries that read from this STREAM\n"),
            "{out}"
        );
        assert!(
            out.contains("CSAS_X_0 (RUNNING) : CREATE STREAM X AS SELECT * FROM S;\n"),
            "{out}"
        );
        assert!(!out.contains("DESCRIBE <Stream,Table> EXTENDED"), "{out}");
    }

    #[test]
    fn text_and_unknown_entities() {
        assert_eq!(
            tabular(json!({"@type": "text", "text": "Terminated 2 queries."})),
            "Terminated 2 queries.\n"
        );
        let unknown = json!({"@type": "something_new", "x": [1, 2]});
        assert_eq!(
            tabular(unknown.clone()),
            format!("{}\n", pretty_json(&unknown))
        );
    }

    #[test]
    fn json_output_is_the_raw_entity() {
        let entity = json!({"@type": "streams", "streams": [], "warnings": []});
        let out = render_entity(&entity, OutputFormat::Json);
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), entity);
        assert!(out.contains("\n  \"@type\": \"streams\""), "{out}");
    }

    #[test]
    fn warnings_follow_the_entity() {
        let out = tabular(json!({"@type": "text", "text": "ok",
            "warnings": [{"message": "Topic s has 2 partitions"}]}));
        assert_eq!(out, "ok\nWARNING: Topic s has 2 partitions\n");
    }

    #[test]
    fn functions_types_and_variables() {
        let out = tabular(json!({"@type": "function_names", "functions": [
            {"name": "UCASE", "category": "STRING", "type": "SCALAR"},
            {"name": "ABS", "category": "MATHEMATICAL", "type": "SCALAR"}]}));
        let rows: Vec<&str> = out.lines().collect();
        assert!(rows[2].starts_with(" ABS "), "{out}");
        let out = tabular(json!({"@type": "type_list", "types": {
            "ADDRESS": {"type": "STRUCT", "fields": [{"name": "CITY", "schema": {"type": "STRING"}}]}}}));
        assert!(
            out.contains(" ADDRESS   | STRUCT<CITY VARCHAR(STRING)> "),
            "{out}"
        );
        let out =
            tabular(json!({"@type": "variables", "variables": [{"name": "a", "value": "1"}]}));
        assert!(out.contains(" a             | 1     "), "{out}");
        let out = tabular(json!({"@type": "describe_function", "name": "ABS",
            "description": "Absolute value", "type": "SCALAR", "functions": [
                {"arguments": [{"name": "x", "type": "INT", "description": ""}],
                 "returnType": "INT", "description": "abs of an int"}]}));
        assert!(
            out.contains("Overview             : Absolute value\n"),
            "{out}"
        );
        assert!(out.contains("\tVariation   : ABS(x INT)\n"), "{out}");
        assert!(out.contains("\tReturns     : INT\n"), "{out}");
    }

    #[test]
    fn explain() {
        let out = tabular(json!({"@type": "queryDescription", "queryDescription": {
            "id": "CSAS_X_0", "queryType": "PERSISTENT",
            "statementText": "CREATE STREAM X AS SELECT * FROM S;",
            "fields": [{"name": "ID", "schema": {"type": "INTEGER"}}],
            "sources": ["S"], "sinks": ["X"], "executionPlan": " > [ SINK ] X",
            "topology": "Topologies:\n  Sub-topology: 0\n", "state": "RUNNING"}}));
        assert!(out.contains("ID                   : CSAS_X_0\n"), "{out}");
        assert!(
            out.contains("Sources that this query reads from: \n"),
            "{out}"
        );
        assert!(out.contains("\nS\n"), "{out}");
        assert!(
            out.contains("Execution plan\n--------------\n > [ SINK ] X\n"),
            "{out}"
        );
    }
}
