//! `/inserts-stream`: rows as JSON objects, each written to the target stream as
//! `INSERT INTO ... VALUES` would write it (the stream's formats, its topic).

use serde_json::{json, Value as Json};

use super::SqlService;
use crate::error::SqlError;
use crate::types::SqlType;

/// A JSON value as a SQL literal of type `ty`.
fn literal(v: &Json, ty: &SqlType) -> Result<String, String> {
    Ok(match (v, ty) {
        (Json::Null, _) => "NULL".into(),
        (Json::Bool(b), _) => b.to_string().to_uppercase(),
        (Json::Number(n), _) => n.to_string(),
        (Json::String(s), _) => format!("'{}'", s.replace('\'', "''")),
        (Json::Array(items), SqlType::Array(item)) => {
            let parts: Result<Vec<String>, String> =
                items.iter().map(|i| literal(i, item)).collect();
            format!("ARRAY[{}]", parts?.join(", "))
        }
        (Json::Object(m), SqlType::Map(k, v)) => {
            let parts: Result<Vec<String>, String> = m
                .iter()
                .map(|(key, val)| {
                    Ok(format!(
                        "{} := {}",
                        literal(&Json::String(key.clone()), k)?,
                        literal(val, v)?
                    ))
                })
                .collect();
            format!("MAP({})", parts?.join(", "))
        }
        (Json::Object(m), SqlType::Struct(fields)) => {
            let mut parts = Vec::new();
            for (name, fty) in fields {
                let val = m
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v)
                    .unwrap_or(&Json::Null);
                parts.push(format!("`{name}` := {}", literal(val, fty)?));
            }
            format!("STRUCT({})", parts.join(", "))
        }
        (v, ty) => return Err(format!("{v} is not a value of type {ty}")),
    })
}

/// Inserts each row; returns one ack line per row.
pub fn insert_rows(service: &SqlService, target: &str, rows: &[String]) -> String {
    let mut out = String::new();
    for (seq, line) in rows.iter().enumerate() {
        let ack = match insert_one(service, target, line) {
            Ok(()) => json!({"status": "ok", "seq": seq}),
            Err(m) => json!({
                "status": "error", "seq": seq,
                "error_code": super::entity::ERROR_BAD_REQUEST, "message": m,
            }),
        };
        out.push_str(&ack.to_string());
        out.push('\n');
    }
    out
}

fn insert_one(service: &SqlService, target: &str, line: &str) -> Result<(), String> {
    let row: Json = serde_json::from_str(line).map_err(|e| format!("Invalid JSON row: {e}"))?;
    let Json::Object(fields) = row else {
        return Err("A row is a JSON object of column names and values".into());
    };
    let target = target.to_uppercase();
    // One turn on the engine: the target's columns, the statement, its run.
    service
        .with_runtime(|rt| {
            let sql = {
                let source = rt.engine().catalog.source(&target).ok_or_else(|| {
                    SqlError::analysis(
                        None,
                        format!("Cannot insert values into an unknown stream/table: {target}"),
                    )
                })?;
                let mut names = Vec::new();
                let mut values = Vec::new();
                for (k, v) in &fields {
                    let ty = if k.eq_ignore_ascii_case("ROWTIME") {
                        SqlType::Bigint
                    } else {
                        source
                            .columns
                            .iter()
                            .find(|c| c.name.eq_ignore_ascii_case(k))
                            .map(|c| c.ty.clone())
                            .ok_or_else(|| {
                                SqlError::analysis(
                                    None,
                                    format!("Column name {} does not exist.", k.to_uppercase()),
                                )
                            })?
                    };
                    names.push(format!("`{}`", k.to_uppercase()));
                    values.push(literal(v, &ty).map_err(|m| SqlError::analysis(None, m))?);
                }
                format!(
                    "INSERT INTO `{target}` ({}) VALUES ({});",
                    names.join(", "),
                    values.join(", ")
                )
            };
            rt.execute(&sql)
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_values_become_literals_of_the_column_type() {
        assert_eq!(
            literal(&json!("it's"), &SqlType::String).unwrap(),
            "'it''s'"
        );
        assert_eq!(literal(&json!(3), &SqlType::Int).unwrap(), "3");
        assert_eq!(
            literal(&json!([1, 2]), &SqlType::Array(Box::new(SqlType::Int))).unwrap(),
            "ARRAY[1, 2]"
        );
        assert_eq!(
            literal(
                &json!({"a": 1}),
                &SqlType::Map(Box::new(SqlType::String), Box::new(SqlType::Int))
            )
            .unwrap(),
            "MAP('a' := 1)"
        );
        assert_eq!(
            literal(
                &json!({"x": true}),
                &SqlType::Struct(vec![("X".into(), SqlType::Boolean)])
            )
            .unwrap(),
            "STRUCT(`X` := TRUE)"
        );
        assert!(literal(&json!([1]), &SqlType::Int).is_err());
    }
}
