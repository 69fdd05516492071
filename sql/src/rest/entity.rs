//! The JSON bodies of ksqlDB's REST API: statement results (`KsqlEntity` in ksqlDB:
//! `currentStatus`, `streams`, `tables`, `queries`, `properties`, `kafka_topics`,
//! `sourceDescription`), query rows, and error bodies.

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};

use crate::ast::SourceKind;
use crate::catalog::{Catalog, Source, WindowKind};
use crate::engine::PersistentQuery;
use crate::result::ResultColumn;
use crate::types::{Namespace, SqlType};
use crate::value::{Row, Value};

/// ksqlDB's error codes (`Errors.java`).
pub const ERROR_BAD_STATEMENT: u32 = 40001;
pub const ERROR_BAD_REQUEST: u32 = 40000;
pub const ERROR_FORBIDDEN: u32 = 40301;
pub const ERROR_NOT_FOUND: u32 = 40401;
pub const ERROR_SERVER: u32 = 50000;

/// `{"@type":"statement_error", ...}`: a statement that failed, with the entities the
/// statements before it produced.
pub fn statement_error(message: &str, statement: &str, entities: &[Json]) -> Json {
    json!({
        "@type": "statement_error",
        "error_code": ERROR_BAD_STATEMENT,
        "message": message,
        "statementText": statement,
        "entities": entities,
    })
}

/// `{"@type":"generic_error", ...}`.
pub fn generic_error(code: u32, message: &str) -> Json {
    json!({"@type": "generic_error", "error_code": code, "message": message})
}

/// The command id ksqlDB gives a statement: `stream/`S`/create`, `table/`T`/drop`,
/// `terminate/CSAS_S_0/execute`.
pub fn command_id(kind: &str, entity: &str, action: &str) -> String {
    format!("{kind}/`{entity}`/{action}")
}

pub fn current_status(
    statement: &str,
    command_id: &str,
    message: &str,
    query_id: Option<&str>,
    sequence: i64,
) -> Json {
    json!({
        "@type": "currentStatus",
        "statementText": statement,
        "commandId": command_id,
        "commandStatus": {"status": "SUCCESS", "message": message, "queryId": query_id},
        "commandSequenceNumber": sequence,
        "warnings": [],
    })
}

fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Stream => "STREAM",
        SourceKind::Table => "TABLE",
    }
}

fn source_summary(s: &Source) -> Json {
    json!({
        "type": kind_name(s.kind),
        "name": s.name,
        "topic": s.topic,
        "keyFormat": s.key_format.kind.name(),
        "valueFormat": s.value_format.kind.name(),
        "isWindowed": s.window.is_some(),
    })
}

/// `SHOW STREAMS` / `SHOW TABLES`.
pub fn sources(statement: &str, catalog: &Catalog, kind: SourceKind) -> Json {
    let list: Vec<Json> = catalog
        .sources
        .values()
        .filter(|s| s.kind == kind && !s.name.ends_with("KSQL_PROCESSING_LOG"))
        .map(source_summary)
        .collect();
    let field = match kind {
        SourceKind::Stream => "streams",
        SourceKind::Table => "tables",
    };
    json!({"@type": field, "statementText": statement, field: list, "warnings": []})
}

fn query_summary(q: &PersistentQuery, catalog: &Catalog) -> Json {
    let topic = catalog.source(&q.sink).map(|s| s.topic.clone());
    json!({
        "queryString": q.sql,
        "sinks": [q.sink],
        "sinkKafkaTopics": topic.into_iter().collect::<Vec<_>>(),
        "id": q.id,
        "statusCount": {"RUNNING": 1},
        "queryType": "PERSISTENT",
        "state": "RUNNING",
    })
}

/// `SHOW QUERIES`.
pub fn queries(statement: &str, queries: &[PersistentQuery], catalog: &Catalog) -> Json {
    let list: Vec<Json> = queries.iter().map(|q| query_summary(q, catalog)).collect();
    json!({"@type": "queries", "statementText": statement, "queries": list, "warnings": []})
}

/// `SHOW PROPERTIES`: the engine's properties (the server's config and `SET`s).
pub fn properties(statement: &str, properties: &BTreeMap<String, String>) -> Json {
    let list: Vec<Json> = properties
        .iter()
        .map(|(k, v)| json!({"name": k, "scope": "KSQL", "value": v}))
        .collect();
    json!({
        "@type": "properties",
        "statementText": statement,
        "properties": list,
        "overwrittenProperties": [],
        "defaultProperties": [],
        "warnings": [],
    })
}

/// `SHOW TOPICS`: `replicaInfo` has one entry per partition (its replica count).
pub fn topics(statement: &str, topics: &BTreeMap<String, i32>, all: bool) -> Json {
    let list: Vec<Json> = topics
        .iter()
        .filter(|(t, _)| all || !(t.starts_with('_') || t.starts_with("__")))
        .map(|(t, p)| json!({"name": t, "replicaInfo": vec![1; (*p).max(0) as usize]}))
        .collect();
    json!({"@type": "kafka_topics", "statementText": statement, "topics": list, "warnings": []})
}

/// ksqlDB's schema of a field in a source description.
pub fn field_schema(ty: &SqlType) -> Json {
    match ty {
        SqlType::Array(item) => {
            json!({"type": "ARRAY", "fields": null, "memberSchema": field_schema(item)})
        }
        SqlType::Map(_, v) => {
            json!({"type": "MAP", "fields": null, "memberSchema": field_schema(v)})
        }
        SqlType::Struct(fields) => json!({
            "type": "STRUCT",
            "fields": fields
                .iter()
                .map(|(n, t)| json!({"name": n, "schema": field_schema(t)}))
                .collect::<Vec<_>>(),
            "memberSchema": null,
        }),
        SqlType::Decimal(p, s) => json!({
            "type": "DECIMAL", "fields": null, "memberSchema": null,
            "parameters": {"precision": p, "scale": s},
        }),
        other => {
            let name = match other {
                SqlType::Int => "INTEGER".to_string(),
                t => t.to_string(),
            };
            json!({"type": name, "fields": null, "memberSchema": null})
        }
    }
}

/// `DESCRIBE [EXTENDED] source`.
pub fn source_description(
    statement: &str,
    s: &Source,
    catalog: &Catalog,
    partitions: Option<i32>,
    extended: bool,
) -> Json {
    let fields: Vec<Json> = s
        .columns
        .iter()
        .map(|c| {
            let mut f = json!({"name": c.name, "schema": field_schema(&c.ty)});
            match c.namespace {
                Namespace::Key => f["type"] = json!("KEY"),
                Namespace::Headers => f["type"] = json!("HEADER"),
                Namespace::Value => {}
            }
            f
        })
        .collect();
    let query_ref = |q: &crate::catalog::QueryInfo| {
        json!({
            "queryString": q.sql,
            "sinks": q.sink.iter().collect::<Vec<_>>(),
            "sinkKafkaTopics": q.sink.iter().filter_map(|n| catalog.source(n)).map(|s| s.topic.clone()).collect::<Vec<_>>(),
            "id": q.id,
            "statusCount": {"RUNNING": 1},
            "queryType": "PERSISTENT",
            "state": "RUNNING",
        })
    };
    let read: Vec<Json> = catalog
        .queries
        .values()
        .filter(|q| q.sources.contains(&s.name))
        .map(query_ref)
        .collect();
    let write: Vec<Json> = catalog
        .queries
        .values()
        .filter(|q| q.sink.as_deref() == Some(s.name.as_str()))
        .map(query_ref)
        .collect();
    let window_type = s.window.as_ref().map(|w| match w.kind {
        WindowKind::Tumbling => "TUMBLING",
        WindowKind::Hopping => "HOPPING",
        WindowKind::Session => "SESSION",
    });
    json!({
        "@type": "sourceDescription",
        "statementText": statement,
        "sourceDescription": {
            "name": s.name,
            "windowType": window_type,
            "readQueries": read,
            "writeQueries": write,
            "fields": fields,
            "type": kind_name(s.kind),
            "timestamp": s.timestamp.as_ref().map(|(c, _)| c.clone()).unwrap_or_default(),
            "statistics": "",
            "errorStats": "",
            "extended": extended,
            "keyFormat": s.key_format.kind.name(),
            "valueFormat": s.value_format.kind.name(),
            "topic": s.topic,
            "partitions": partitions.unwrap_or(0),
            "replication": 1,
            "statement": s.sql,
            "sourceConstraints": [],
        },
        "warnings": [],
    })
}

/// A listing the engine renders as text (DESCRIBE FUNCTION, EXPLAIN, SHOW FUNCTIONS, ...):
/// a Brook entity, `{"@type":"text","text":...}`.
pub fn text(statement: &str, text: &str) -> Json {
    json!({"@type": "text", "statementText": statement, "text": text, "warnings": []})
}

/// A value as ksqlDB's REST API writes it: numbers as numbers, DECIMAL as a number,
/// TIMESTAMP/DATE/TIME as ISO-8601 text, BYTES as base64, MAP as an object (keys as
/// text), STRUCT as an object in field order.
pub fn value_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Boolean(b) => json!(b),
        Value::Int(i) => json!(i),
        Value::Bigint(i) => json!(i),
        Value::Double(d) => serde_json::Number::from_f64(*d)
            .map(Json::Number)
            .unwrap_or_else(|| json!(d.to_string())),
        Value::Decimal(d) => {
            let text = d.to_string();
            serde_json::from_str::<serde_json::Number>(&text)
                .map(Json::Number)
                .unwrap_or(Json::String(text))
        }
        Value::String(s) => json!(s),
        Value::Bytes(b) => {
            use base64::Engine as _;
            json!(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::Timestamp(ms) => json!(chrono::DateTime::from_timestamp_millis(*ms)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
            .unwrap_or_else(|| ms.to_string())),
        Value::Date(days) => json!(
            chrono::NaiveDate::from_num_days_from_ce_opt(719_163 + *days)
                .map(|d| d.format("%Y-%m-%d").to_string())
                .unwrap_or_else(|| days.to_string())
        ),
        Value::Time(ms) => json!(chrono::NaiveTime::from_num_seconds_from_midnight_opt(
            (*ms / 1000) as u32,
            ((*ms % 1000) * 1_000_000) as u32
        )
        .map(|t| t.format("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| ms.to_string())),
        Value::Array(items) => Json::Array(items.iter().map(value_json).collect()),
        Value::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => match value_json(other) {
                        Json::String(s) => s,
                        j => j.to_string(),
                    },
                };
                m.insert(key, value_json(v));
            }
            Json::Object(m)
        }
        Value::Struct(fields) => {
            let mut m = serde_json::Map::new();
            for (k, v) in fields {
                m.insert(k.clone(), value_json(v));
            }
            Json::Object(m)
        }
    }
}

pub fn row_json(row: &Row) -> Json {
    Json::Array(row.iter().map(value_json).collect())
}

/// ksqlDB's type names for `/query-stream`'s `columnTypes`.
pub fn column_types(columns: &[ResultColumn]) -> Vec<String> {
    columns.iter().map(|c| c.ty.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_written_as_ksqldb_rest_does() {
        assert_eq!(value_json(&Value::Int(3)), json!(3));
        assert_eq!(
            value_json(&Value::Decimal("12.50".parse().unwrap())),
            json!(12.50)
        );
        assert_eq!(
            value_json(&Value::Timestamp(1_000)),
            json!("1970-01-01T00:00:01.000")
        );
        assert_eq!(value_json(&Value::Date(1)), json!("1970-01-02"));
        assert_eq!(value_json(&Value::Time(61_005)), json!("00:01:01.005"));
        assert_eq!(
            value_json(&Value::Map(vec![(
                Value::Int(1),
                Value::String("a".into())
            )])),
            json!({"1": "a"})
        );
        assert_eq!(
            value_json(&Value::Struct(vec![("A".into(), Value::Null)])),
            json!({"A": null})
        );
        assert_eq!(value_json(&Value::Double(f64::NAN)), json!("NaN"));
    }

    #[test]
    fn errors_carry_ksqldb_codes() {
        let e = statement_error("boom", "SELECT 1;", &[]);
        assert_eq!(e["error_code"], json!(40001));
        assert_eq!(e["@type"], json!("statement_error"));
        assert_eq!(
            generic_error(ERROR_FORBIDDEN, "no")["error_code"],
            json!(40301)
        );
    }
}
