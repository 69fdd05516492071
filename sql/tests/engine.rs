//! The engine from the outside: statements, a user function written in Rust, errors with
//! positions, and a compiled query run on the test driver.

use std::collections::BTreeMap;
use std::sync::Arc;

use brook_sql::compile;
use brook_sql::engine::{Engine, StatementResult};
use brook_sql::functions::{Arg, BoundScalar, ScalarUdf};
use brook_sql::{SqlError, SqlType, Value};
use brook_streams::{Headers, Serdes, TopologyTestDriver};
use bytes::Bytes;

/// `DOUBLE_IT(x INT) => INT`, a user function.
struct DoubleIt;

impl ScalarUdf for DoubleIt {
    fn name(&self) -> &str {
        "DOUBLE_IT"
    }

    fn description(&self) -> &str {
        "Twice its argument."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["DOUBLE_IT(x INT) => INT".into()]
    }

    fn bind(&self, args: &[Arg]) -> Result<BoundScalar, String> {
        match args {
            [a] if a.ty == Some(SqlType::Int) => Ok(BoundScalar {
                return_type: SqlType::Int,
                null_on_null: true,
                eval: Arc::new(|v: &[Value]| match v {
                    [Value::Int(i)] => Ok(Value::Int(i.wrapping_mul(2))),
                    other => Err(format!("DOUBLE_IT got {other:?}")),
                }),
            }),
            _ => Err("Function 'DOUBLE_IT' does not accept these parameters".into()),
        }
    }
}

fn engine() -> Engine {
    let mut e = Engine::new(BTreeMap::new());
    e.add_topic("input", 1);
    e
}

/// Runs the engine's only persistent query over `inputs` (JSON values, keyed by string)
/// and returns what it wrote, as (key, value) text.
fn run(engine: &Engine, inputs: &[(&str, &str)]) -> Vec<(Option<String>, Option<String>)> {
    let q = engine.queries.last().expect("a query");
    let topology =
        compile::build_topology(&q.plan, &q.id, engine.processing_log()).expect("a topology");
    let sink = q.plan.sink.as_ref().expect("a sink").topic.clone();
    let driver = TopologyTestDriver::new(topology).expect("a driver");
    let out = driver.create_output_topic(
        &sink,
        Serdes::optional(Serdes::bytes()),
        Serdes::optional(Serdes::bytes()),
    );
    for (k, v) in inputs {
        driver
            .pipe_raw(
                "input",
                Some(Bytes::from(k.to_string())),
                Some(Bytes::from(v.to_string())),
                0,
                Headers::default(),
            )
            .expect("piped");
    }
    out.read_key_values_to_list()
        .expect("read")
        .into_iter()
        .map(|(k, v)| {
            let text = |b: Option<Bytes>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
            (text(k), text(v))
        })
        .collect()
}

#[test]
fn a_user_function_runs_in_a_query() {
    let mut e = engine();
    e.functions.register_scalar(Arc::new(DoubleIt));
    e.execute_sql(
        "CREATE STREAM INPUT (K STRING KEY, X INT) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON');
         CREATE STREAM OUTPUT AS SELECT K, DOUBLE_IT(X) AS Y FROM INPUT WHERE X > 1;",
    )
    .expect("statements run");
    assert_eq!(e.queries[0].id, "CSAS_OUTPUT_0");
    let out = run(
        &e,
        &[
            ("a", r#"{"X": 1}"#),
            ("b", r#"{"X": 21}"#),
            ("c", r#"{"x": 3}"#),
            ("d", "not json"),
        ],
    );
    assert_eq!(
        out,
        vec![
            (Some("b".into()), Some(r#"{"Y":42}"#.into())),
            (Some("c".into()), Some(r#"{"Y":6}"#.into())),
        ]
    );
    // DESCRIBE FUNCTION knows it.
    match e
        .execute_sql("DESCRIBE FUNCTION DOUBLE_IT;")
        .expect("describes")
        .pop()
    {
        Some(StatementResult::Text(t)) => assert!(t.contains("DOUBLE_IT(x INT) => INT"), "{t}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_aggregation_counts_per_key() {
    let mut e = engine();
    e.execute_sql(
        "CREATE STREAM INPUT (K STRING KEY, PAGE STRING) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON');
         CREATE TABLE COUNTS AS SELECT PAGE, COUNT(*) AS N FROM INPUT GROUP BY PAGE HAVING COUNT(*) > 1;",
    )
    .expect("statements run");
    assert_eq!(e.queries[0].id, "CTAS_COUNTS_0");
    let out = run(
        &e,
        &[
            ("u1", r#"{"PAGE":"a"}"#),
            ("u2", r#"{"PAGE":"b"}"#),
            ("u3", r#"{"PAGE":"a"}"#),
            ("u4", r#"{"PAGE":"a"}"#),
        ],
    );
    assert_eq!(
        out,
        vec![
            (Some("a".into()), Some(r#"{"N":2}"#.into())),
            (Some("a".into()), Some(r#"{"N":3}"#.into())),
        ]
    );
}

#[test]
fn errors_say_what_and_where_and_create_nothing() {
    let mut e = engine();
    let err = e.execute_sql("CREATE STREAM S (A INT) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON');\nSELECT * FROM S WHERE A > ;")
        .expect_err("a syntax error");
    match &err {
        SqlError::Parse { pos, message } => {
            assert_eq!((pos.line, pos.col), (2, 27), "{err}");
            assert!(message.contains("expected"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The script is parsed before it runs: nothing was created.
    assert!(e.catalog.sources.is_empty());

    let err = e
        .execute_sql("CREATE STREAM OUT AS SELECT * FROM MISSING;")
        .expect_err("no such source");
    assert!(err.to_string().contains("line 1:36"), "{err}");
    assert!(err.to_string().contains("MISSING does not exist"), "{err}");

    e.execute_sql("CREATE STREAM S (A INT) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON');")
        .expect("created");
    let err = e
        .execute_sql("CREATE STREAM OUT AS SELECT A FROM S WHERE A = 'x';")
        .expect_err("a type error");
    assert!(err.to_string().contains("Cannot compare"), "{err}");
    assert!(
        !e.catalog.sources.contains_key("OUT"),
        "a failed statement created its sink"
    );
    assert!(e.queries.is_empty());
}

#[test]
fn insert_values_writes_records_in_the_sources_formats() {
    let mut e = engine();
    e.execute_sql(
        "CREATE STREAM S (ID INT KEY, NAME STRING) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='DELIMITED');
         INSERT INTO S (ROWTIME, ID, NAME) VALUES (5, 7, 'seven');",
    )
    .expect("statements run");
    let r = &e.produced[0];
    assert_eq!(r.topic, "input");
    assert_eq!(r.timestamp, 5);
    assert_eq!(r.key.as_deref(), Some(&7i32.to_be_bytes()[..]));
    assert_eq!(r.value.as_deref(), Some(&b"seven"[..]));
    let err = e
        .execute_sql("INSERT INTO S (ID, NAME) VALUES ('x', 'y');")
        .expect_err("a bad value");
    assert!(err.to_string().contains("Failed to insert values"), "{err}");
}

#[test]
fn explain_prints_the_plan_and_the_topology() {
    let mut e = engine();
    e.execute_sql(
        "CREATE STREAM INPUT (K STRING KEY, X INT) WITH (KAFKA_TOPIC='input', VALUE_FORMAT='JSON');
         CREATE STREAM OUTPUT AS SELECT K, X FROM INPUT WHERE X > 1 PARTITION BY X;",
    )
    .expect("statements run");
    match e
        .execute_sql("EXPLAIN CSAS_OUTPUT_0;")
        .expect("explained")
        .pop()
    {
        Some(StatementResult::Text(t)) => {
            assert!(t.contains("Filter (X > 1)"), "{t}");
            assert!(t.contains("PartitionBy X"), "{t}");
            assert!(t.contains("Sub-topology: 0"), "{t}");
        }
        other => panic!("{other:?}"),
    }
}
