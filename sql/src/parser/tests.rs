//! Tests of the parser: every statement kind, expression precedence, identifiers, literals,
//! error positions, the QTT corpus, and random inputs.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use proptest::prelude::*;

use super::cursor::MAX_DEPTH;
use super::*;
use crate::ast::*;
use crate::error::SqlError;

// ---------------------------------------------------------------------------------------
// Helpers

/// Parses a script that must hold exactly one statement.
fn one(sql: &str) -> Statement {
    let mut v = parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(v.len(), 1, "{sql}");
    v.remove(0).statement
}

fn query(sql: &str) -> Query {
    match one(sql) {
        Statement::Query(q) => *q,
        other => panic!("not a query: {other:?}"),
    }
}

/// The error of a text that must not parse: position and message.
fn err(sql: &str) -> (Pos, String) {
    match parse(sql) {
        Ok(v) => panic!("{sql} parsed: {v:?}"),
        Err(SqlError::Parse { pos, message }) => (pos, message),
        Err(other) => panic!("{sql}: not a syntax error: {other:?}"),
    }
}

/// An expression as an S-expression, without positions, for compact assertions.
fn sx(e: &Expr) -> String {
    let mut s = String::new();
    write_sx(&mut s, e);
    s
}

fn write_list(out: &mut String, items: &[Expr]) {
    for (n, i) in items.iter().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        write_sx(out, i);
    }
}

fn write_sx(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Literal(l) => {
            let _ = match l {
                Literal::Decimal(d) => write!(out, "{d}dec"),
                Literal::Double(d) => write!(out, "{d:?}f"),
                other => write!(out, "{other}"),
            };
        }
        ExprKind::Column { qualifier, name } => {
            if let Some(q) = qualifier {
                let _ = write!(out, "{q}.");
            }
            let _ = write!(out, "{name}");
        }
        ExprKind::Unary { op, expr } => {
            let _ = write!(out, "({op:?} ");
            write_sx(out, expr);
            out.push(')');
        }
        ExprKind::Binary { op, left, right } => {
            let _ = write!(out, "({op} ");
            write_sx(out, left);
            out.push(' ');
            write_sx(out, right);
            out.push(')');
        }
        ExprKind::IsNull { expr, negated } => {
            out.push_str(if *negated { "(notnull " } else { "(isnull " });
            write_sx(out, expr);
            out.push(')');
        }
        ExprKind::IsDistinctFrom {
            left,
            right,
            negated,
        } => {
            out.push_str(if *negated {
                "(notdistinct "
            } else {
                "(distinct "
            });
            write_sx(out, left);
            out.push(' ');
            write_sx(out, right);
            out.push(')');
        }
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => {
            out.push_str(if *negated {
                "(notbetween "
            } else {
                "(between "
            });
            write_list(out, &[(**expr).clone(), (**low).clone(), (**high).clone()]);
            out.push(')');
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => {
            out.push_str(if *negated { "(notin " } else { "(in " });
            write_sx(out, expr);
            out.push_str(" [");
            write_list(out, list);
            out.push_str("])");
        }
        ExprKind::Like {
            expr,
            pattern,
            escape,
            negated,
        } => {
            out.push_str(if *negated { "(notlike " } else { "(like " });
            write_sx(out, expr);
            out.push(' ');
            write_sx(out, pattern);
            if let Some(c) = escape {
                let _ = write!(out, " esc{c}");
            }
            out.push(')');
        }
        ExprKind::Case {
            operand,
            whens,
            else_,
        } => {
            out.push_str("(case");
            if let Some(o) = operand {
                out.push(' ');
                write_sx(out, o);
            }
            for (w, t) in whens {
                out.push_str(" (when ");
                write_sx(out, w);
                out.push(' ');
                write_sx(out, t);
                out.push(')');
            }
            if let Some(e) = else_ {
                out.push_str(" (else ");
                write_sx(out, e);
                out.push(')');
            }
            out.push(')');
        }
        ExprKind::Cast { expr, ty } => {
            out.push_str("(cast ");
            write_sx(out, expr);
            let _ = write!(out, " {ty:?})");
        }
        ExprKind::Function { name, args, star } => {
            let _ = write!(out, "{name}(");
            if *star {
                out.push('*');
            }
            write_list(out, args);
            out.push(')');
        }
        ExprKind::Dereference { expr, field } => {
            out.push_str("(-> ");
            write_sx(out, expr);
            let _ = write!(out, " {field})");
        }
        ExprKind::Subscript { expr, index } => {
            out.push_str("([] ");
            write_sx(out, expr);
            out.push(' ');
            write_sx(out, index);
            out.push(')');
        }
        ExprKind::Array(items) => {
            out.push('[');
            write_list(out, items);
            out.push(']');
        }
        ExprKind::Map(entries) => {
            out.push('{');
            for (n, (k, v)) in entries.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                write_sx(out, k);
                out.push_str(":=");
                write_sx(out, v);
            }
            out.push('}');
        }
        ExprKind::Struct(fields) => {
            out.push_str("struct{");
            for (n, (k, v)) in fields.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{k}:=");
                write_sx(out, v);
            }
            out.push('}');
        }
        ExprKind::Lambda { params, body } => {
            out.push_str("(lambda (");
            for (n, p) in params.iter().enumerate() {
                if n > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{p}");
            }
            out.push_str(") ");
            write_sx(out, body);
            out.push(')');
        }
    }
}

fn ex(sql: &str) -> String {
    sx(&parse_expr(sql).unwrap_or_else(|e| panic!("{sql}: {e}")))
}

fn ex_err(sql: &str) -> String {
    match parse_expr(sql) {
        Ok(e) => panic!("{sql} parsed: {}", sx(&e)),
        Err(e) => e.to_string(),
    }
}

fn at(line: u32, col: u32) -> Pos {
    Pos { line, col }
}

fn id(name: &str) -> String {
    name.to_owned()
}

// ---------------------------------------------------------------------------------------
// Scripts

#[test]
fn scripts_split_into_statements_with_text_and_position() {
    let sql = "  SET 'a' = 'b';\n-- comment\nSHOW STREAMS ;;\n  DROP STREAM x  ";
    let v = parse(sql).expect("parses");
    assert_eq!(v.len(), 3);
    assert_eq!(v[0].text, "SET 'a' = 'b'");
    assert_eq!(v[0].pos, at(1, 3));
    assert_eq!(v[1].text, "SHOW STREAMS");
    assert_eq!(v[1].pos, at(3, 1));
    assert_eq!(v[2].text, "DROP STREAM x");
    assert_eq!(v[2].pos, at(4, 3));
    assert!(parse("").expect("empty").is_empty());
    assert!(parse("  ;  -- nothing\n").expect("empty").is_empty());
}

#[test]
fn statement_text_keeps_inner_comments_and_multibyte_text() {
    let v = parse("SELECT 'é' /* c */ AS x FROM t;SELECT 1 FROM u").expect("parses");
    assert_eq!(v[0].text, "SELECT 'é' /* c */ AS x FROM t");
    assert_eq!(v[1].text, "SELECT 1 FROM u");
    assert_eq!(v[1].pos, at(1, 32));
}

#[test]
fn statements_must_be_separated() {
    let (pos, msg) = err("SHOW STREAMS SHOW TABLES");
    assert_eq!(pos, at(1, 14));
    assert_eq!(msg, "expected ';', found 'SHOW'");
}

// ---------------------------------------------------------------------------------------
// CREATE

#[test]
fn create_stream_with_elements_and_properties() {
    let s = one(
        "CREATE STREAM IF NOT EXISTS s (id INT KEY, `name` STRING, h BYTES HEADER('k'), \
         hs ARRAY<STRUCT<KEY STRING, VALUE BYTES>> HEADERS) \
         WITH (kafka_topic='t', 'value_format'='JSON', PARTITIONS=2, WRAP_SINGLE_VALUE=false, \
         x=-1.5, y=NULL);",
    );
    let Statement::CreateSource(c) = s else {
        panic!("{s:?}")
    };
    assert_eq!(c.kind, SourceKind::Stream);
    assert!(c.if_not_exists && !c.or_replace && !c.is_source);
    assert_eq!(c.name.name, "S");
    assert_eq!(c.name.pos, at(1, 29));
    let names: Vec<_> = c.elements.iter().map(|e| e.name.name.clone()).collect();
    assert_eq!(names, vec![id("ID"), id("name"), id("H"), id("HS")]);
    assert_eq!(c.elements[0].ty, TypeExpr::Int);
    assert_eq!(c.elements[0].constraint, ColumnConstraint::Key);
    assert_eq!(c.elements[0].pos, at(1, 32));
    assert_eq!(c.elements[1].constraint, ColumnConstraint::None);
    assert_eq!(
        c.elements[2].constraint,
        ColumnConstraint::Header("k".into())
    );
    assert_eq!(c.elements[3].constraint, ColumnConstraint::Headers);
    assert_eq!(
        c.elements[3].ty.clone().normalized(),
        TypeExpr::Array(Box::new(TypeExpr::Struct(vec![
            (Ident::new("KEY"), TypeExpr::String),
            (Ident::new("VALUE"), TypeExpr::Bytes)
        ])))
    );
    let p = &c.properties;
    assert_eq!(p.get("KAFKA_TOPIC"), Some(&Literal::String("t".into())));
    assert_eq!(p.get("VALUE_FORMAT"), Some(&Literal::String("JSON".into())));
    assert_eq!(p.get("PARTITIONS"), Some(&Literal::Integer(2)));
    assert_eq!(p.get("WRAP_SINGLE_VALUE"), Some(&Literal::Boolean(false)));
    assert_eq!(p.get("X"), Some(&Literal::Decimal("-1.5".into())));
    assert_eq!(p.get("Y"), Some(&Literal::Null));
    assert_eq!(
        p.0.get("KAFKA_TOPIC").map(|(_, pos)| *pos),
        Some(at(1, 137))
    );
}

/// Struct field positions differ; compare types without them.
trait Normalized {
    fn normalized(self) -> Self;
}

impl Normalized for TypeExpr {
    fn normalized(self) -> Self {
        match self {
            TypeExpr::Array(t) => TypeExpr::Array(Box::new(t.normalized())),
            TypeExpr::Map(k, v) => {
                TypeExpr::Map(Box::new(k.normalized()), Box::new(v.normalized()))
            }
            TypeExpr::Struct(fields) => TypeExpr::Struct(
                fields
                    .into_iter()
                    .map(|(n, t)| (Ident::new(n.name), t.normalized()))
                    .collect(),
            ),
            TypeExpr::Custom(n, _) => TypeExpr::Custom(n, Pos::default()),
            other => other,
        }
    }
}

#[test]
fn create_table_source_and_or_replace() {
    let Statement::CreateSource(c) = one(
        "create or replace source table t (k int primary key, v decimal(4, 2)) with (kafka_topic='t')",
    ) else {
        panic!()
    };
    assert_eq!(c.kind, SourceKind::Table);
    assert!(c.or_replace && c.is_source && !c.if_not_exists);
    assert_eq!(c.elements[0].constraint, ColumnConstraint::PrimaryKey);
    assert_eq!(c.elements[1].ty, TypeExpr::Decimal(4, 2));

    let Statement::CreateSource(c) = one("CREATE STREAM s WITH (kafka_topic='t', format='AVRO')")
    else {
        panic!()
    };
    assert!(c.elements.is_empty());
    assert_eq!(c.properties.0.len(), 2);
}

#[test]
fn create_as_select() {
    let Statement::CreateAsSelect(c) = one(
        "CREATE OR REPLACE TABLE IF NOT EXISTS agg WITH (KAFKA_TOPIC='out') AS \
         SELECT id, COUNT(*) AS n FROM s GROUP BY id EMIT CHANGES;",
    ) else {
        panic!()
    };
    assert_eq!(c.kind, SourceKind::Table);
    assert!(c.or_replace && c.if_not_exists);
    assert_eq!(c.name.name, "AGG");
    assert_eq!(
        c.properties.get("KAFKA_TOPIC"),
        Some(&Literal::String("out".into()))
    );
    assert_eq!(c.query.select.len(), 2);
    assert_eq!(c.query.emit, Some(Emit::Changes));
    assert_eq!(c.query.pos, at(1, 71));

    let Statement::CreateAsSelect(c) = one("CREATE STREAM o AS SELECT * FROM i") else {
        panic!()
    };
    assert_eq!(c.kind, SourceKind::Stream);
    assert!(c.properties.0.is_empty());
}

#[test]
fn key_constraints_must_match_the_source_kind() {
    let (pos, msg) =
        err("CREATE TABLE INPUT (ID INT KEY, NAME STRING) WITH (kafka_topic='input');");
    assert_eq!(pos, at(1, 21));
    assert_eq!(
        msg,
        "Column `ID` is a 'KEY' column: please use 'PRIMARY KEY' for tables."
    );
    let (pos, msg) = err("CREATE STREAM INPUT (ID INT PRIMARY KEY) WITH (kafka_topic='input');");
    assert_eq!(pos, at(1, 22));
    assert!(msg.contains("please use 'KEY' for streams"), "{msg}");
}

#[test]
fn create_errors() {
    assert_eq!(
        err("CREATE STREAM INPUT (K STRING (KEY)) WITH (kafka_topic='input');"),
        (
            at(1, 32),
            "expected a type parameter (an integer or STRING), found 'KEY'".into()
        )
    );
    assert_eq!(
        err("CREATE STREAM INPUT (K VARCHAR(STRING) (KEY)) WITH (kafka_topic='input');"),
        (
            at(1, 40),
            "expected KEY, PRIMARY KEY, HEADERS, HEADER, ',' or ')', found '('".into()
        )
    );
    assert_eq!(
        err("CREATE STREAM s (a INT b)").1,
        "expected KEY, PRIMARY KEY, HEADERS, HEADER, ',' or ')', found 'b'"
    );
    assert_eq!(
        err("CREATE STREAM s (a INT) WITH (x='1', X=2)").1,
        "duplicate property X"
    );
    assert_eq!(
        err("CREATE STREAM s WITH (x=y)").1,
        "expected a literal (string, number or boolean), found 'y'"
    );
    assert_eq!(
        err("CREATE VIEW v").1,
        "expected STREAM, TABLE or TYPE, found 'VIEW'"
    );
    assert_eq!(
        err("CREATE STREAM INPUT (ROWKEY INT KEY, COL0 NULL)").1,
        "expected a type, found 'NULL'"
    );
    assert_eq!(
        err("CREATE STREAM s (a INT) AS SELECT * FROM t").1,
        "expected ';', found 'AS'"
    );
}

#[test]
fn create_and_drop_type() {
    assert_eq!(
        one("CREATE TYPE IF NOT EXISTS address AS STRUCT<street STRING, zip INT>"),
        Statement::CreateType {
            name: "ADDRESS".into(),
            ty: TypeExpr::Struct(vec![
                (
                    Ident {
                        name: "STREET".into(),
                        pos: at(1, 45)
                    },
                    TypeExpr::String
                ),
                (
                    Ident {
                        name: "ZIP".into(),
                        pos: at(1, 60)
                    },
                    TypeExpr::Int
                ),
            ]),
            if_not_exists: true,
        }
    );
    assert_eq!(
        one("DROP TYPE IF EXISTS address"),
        Statement::DropType {
            name: "ADDRESS".into(),
            if_exists: true
        }
    );
    assert_eq!(
        one("DROP TYPE `Address`"),
        Statement::DropType {
            name: "Address".into(),
            if_exists: false
        }
    );
}

// ---------------------------------------------------------------------------------------
// INSERT, DROP, TERMINATE and the other commands

#[test]
fn insert_into_select_and_values() {
    let Statement::InsertInto {
        target,
        properties,
        query,
    } = one("INSERT INTO out WITH (QUERY_ID='q') SELECT * FROM s")
    else {
        panic!()
    };
    assert_eq!(target.name, "OUT");
    assert_eq!(
        properties.get("QUERY_ID"),
        Some(&Literal::String("q".into()))
    );
    assert_eq!(query.from.source.name.name, "S");

    let Statement::InsertValues {
        target,
        columns,
        values,
    } = one("INSERT INTO t (ROWTIME, id, `v`) VALUES (1, -2, ARRAY[1, 1 + 1]);")
    else {
        panic!()
    };
    assert_eq!(target.name, "T");
    let cols: Vec<_> = columns
        .expect("columns")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(cols, vec![id("ROWTIME"), id("ID"), id("v")]);
    let vals: Vec<_> = values.iter().map(sx).collect();
    assert_eq!(vals, vec!["1", "-2", "[1 (+ 1 1)]"]);

    let Statement::InsertValues {
        columns, values, ..
    } = one("INSERT INTO t VALUES ()")
    else {
        panic!()
    };
    assert!(columns.is_none() && values.is_empty());
    assert_eq!(
        err("INSERT INTO t VALUES (a = 1)").1,
        "expected ',' or ')', found '='"
    );
}

#[test]
fn drop_statements() {
    assert_eq!(
        one("DROP STREAM IF EXISTS s DELETE TOPIC"),
        Statement::Drop {
            kind: SourceKind::Stream,
            if_exists: true,
            name: Ident {
                name: "S".into(),
                pos: at(1, 23)
            },
            delete_topic: true,
        }
    );
    let Statement::Drop {
        kind,
        if_exists,
        delete_topic,
        ..
    } = one("drop table t")
    else {
        panic!()
    };
    assert_eq!(kind, SourceKind::Table);
    assert!(!if_exists && !delete_topic);
    assert_eq!(
        err("DROP STREAM s DELETE").1,
        "expected TOPIC, found end of input"
    );
}

#[test]
fn terminate_show_describe() {
    assert_eq!(
        one("TERMINATE csas_out_0"),
        Statement::Terminate {
            query_id: Some("CSAS_OUT_0".into())
        }
    );
    assert_eq!(
        one("TERMINATE ALL"),
        Statement::Terminate { query_id: None }
    );
    let cases = [
        ("SHOW STREAMS", ShowWhat::Streams { extended: false }),
        (
            "LIST STREAMS EXTENDED",
            ShowWhat::Streams { extended: true },
        ),
        ("SHOW TABLES", ShowWhat::Tables { extended: false }),
        (
            "SHOW TOPICS",
            ShowWhat::Topics {
                all: false,
                extended: false,
            },
        ),
        (
            "LIST ALL TOPICS EXTENDED",
            ShowWhat::Topics {
                all: true,
                extended: true,
            },
        ),
        (
            "SHOW QUERIES EXTENDED",
            ShowWhat::Queries { extended: true },
        ),
        ("SHOW PROPERTIES", ShowWhat::Properties),
        ("SHOW FUNCTIONS", ShowWhat::Functions),
        ("SHOW TYPES", ShowWhat::Types),
        ("show variables", ShowWhat::Variables),
    ];
    for (sql, what) in cases {
        assert_eq!(one(sql), Statement::Show(what), "{sql}");
    }
    assert!(matches!(
        parse("SHOW CONNECTORS"),
        Err(SqlError::Unsupported { .. })
    ));

    let describe = |sql: &str| match one(sql) {
        Statement::Describe { target, extended } => (target, extended),
        other => panic!("{other:?}"),
    };
    let (t, x) = describe("DESCRIBE s");
    assert!(matches!(t, DescribeTarget::Source(ref i) if i.name == "S") && !x);
    let (t, x) = describe("DESCRIBE s EXTENDED");
    assert!(matches!(t, DescribeTarget::Source(ref i) if i.name == "S") && x);
    let (t, x) = describe("DESCRIBE EXTENDED `s`");
    assert!(matches!(t, DescribeTarget::Source(ref i) if i.name == "s") && x);
    assert_eq!(
        describe("DESCRIBE STREAMS"),
        (DescribeTarget::Streams, false)
    );
    assert_eq!(
        describe("DESCRIBE TABLES EXTENDED"),
        (DescribeTarget::Tables, true)
    );
    assert_eq!(
        one("DESCRIBE FUNCTION substring"),
        Statement::DescribeFunction {
            name: "SUBSTRING".into()
        }
    );
    // `FUNCTION` is not reserved: alone, it names a source.
    let (t, _) = describe("DESCRIBE function");
    assert!(matches!(t, DescribeTarget::Source(ref i) if i.name == "FUNCTION"));
}

#[test]
fn explain_print_and_session_commands() {
    assert_eq!(
        one("EXPLAIN csas_out_0;"),
        Statement::Explain(ExplainTarget::QueryId("CSAS_OUT_0".into()))
    );
    let Statement::Explain(ExplainTarget::Statement(inner)) = one("EXPLAIN SELECT * FROM s;")
    else {
        panic!()
    };
    assert!(matches!(*inner, Statement::Query(_)));

    assert_eq!(
        one("PRINT 'my-topic' FROM BEGINNING INTERVAL 2 LIMIT 10"),
        Statement::Print {
            topic: "my-topic".into(),
            from_beginning: true,
            interval: Some(2),
            limit: Some(10),
        }
    );
    assert_eq!(
        one("PRINT myTopic"),
        Statement::Print {
            topic: "myTopic".into(),
            from_beginning: false,
            interval: None,
            limit: None,
        }
    );
    assert_eq!(
        err("PRINT t LIMIT -1").1,
        "expected a limit (a non-negative integer), found a negative number"
    );
    assert_eq!(
        one("SET 'auto.offset.reset' = 'earliest'"),
        Statement::Set {
            name: "auto.offset.reset".into(),
            value: "earliest".into()
        }
    );
    assert_eq!(
        one("UNSET 'auto.offset.reset'"),
        Statement::Unset {
            name: "auto.offset.reset".into()
        }
    );
    assert_eq!(
        one("DEFINE myVar = 'it''s'"),
        Statement::Define {
            name: "myVar".into(),
            value: "it's".into()
        }
    );
    assert_eq!(
        one("UNDEFINE myVar"),
        Statement::Undefine {
            name: "myVar".into()
        }
    );
    assert_eq!(
        one("RUN SCRIPT '/tmp/x.sql'"),
        Statement::RunScript {
            path: "/tmp/x.sql".into()
        }
    );
    assert!(matches!(
        parse("ASSERT VALUES foo (id INT) VALUES (123);"),
        Err(SqlError::Unsupported { pos: Some(p), .. }) if p == at(1, 1)
    ));
    assert_eq!(err("FOO BAR").1, "expected a statement, found 'FOO'");
    assert_eq!(err("SET 'a' 'b'").1, "expected '=', found 'b'");
}

// ---------------------------------------------------------------------------------------
// Queries

#[test]
fn query_clauses_in_order() {
    let q = query(
        "SELECT *, s.*, a AS x, b y, `c` FROM s \
         WINDOW TUMBLING (SIZE 1 MINUTE, RETENTION 2 DAYS, GRACE PERIOD 10 SECONDS) \
         WHERE a > 1 GROUP BY a, b HAVING COUNT(*) > 2 EMIT FINAL LIMIT 5",
    );
    assert_eq!(q.select.len(), 5);
    assert!(matches!(
        &q.select[0],
        SelectItem::Star { qualifier: None, pos } if *pos == at(1, 8)
    ));
    assert!(matches!(
        &q.select[1],
        SelectItem::Star { qualifier: Some(i), .. } if i.name == "S"
    ));
    let aliases: Vec<_> = q
        .select
        .iter()
        .filter_map(|i| match i {
            SelectItem::Expr { alias, .. } => Some(alias.as_ref().map(|a| a.name.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(aliases, vec![Some(id("X")), Some(id("Y")), None]);
    assert_eq!(
        q.window,
        Some(WindowExpr::Tumbling {
            size_ms: 60_000,
            retention_ms: Some(2 * 86_400_000),
            grace_ms: Some(10_000),
        })
    );
    assert_eq!(q.where_.as_ref().map(sx), Some("(> A 1)".into()));
    assert_eq!(
        q.group_by.iter().map(sx).collect::<Vec<_>>(),
        vec!["A", "B"]
    );
    assert_eq!(q.having.as_ref().map(sx), Some("(> COUNT(*) 2)".into()));
    assert_eq!(q.emit, Some(Emit::Final));
    assert_eq!(q.limit, Some(5));
    assert!(q.partition_by.is_empty());
}

#[test]
fn windows() {
    let w = |sql: &str| query(sql).window.expect("window");
    assert_eq!(
        w("SELECT a FROM s WINDOW HOPPING (SIZE 5 MILLISECONDS,ADVANCE BY 2 MILLISECOND) GROUP BY a"),
        WindowExpr::Hopping {
            size_ms: 5,
            advance_ms: 2,
            retention_ms: None,
            grace_ms: None,
        }
    );
    assert_eq!(
        w("SELECT a FROM s WINDOW SESSION (30 SECONDS, GRACE PERIOD 1 MINUTE) GROUP BY a"),
        WindowExpr::Session {
            gap_ms: 30_000,
            retention_ms: None,
            grace_ms: Some(60_000),
        }
    );
    assert_eq!(
        w("SELECT a FROM s WINDOW w TUMBLING (SIZE 1 HOUR) GROUP BY a"),
        WindowExpr::Tumbling {
            size_ms: 3_600_000,
            retention_ms: None,
            grace_ms: None,
        }
    );
    assert_eq!(
        err("SELECT a FROM s WINDOW TUMBLING (SIZE 1 WEEK) GROUP BY a"),
        (
            at(1, 41),
            "expected a time unit (MILLISECOND, SECOND, MINUTE, HOUR, DAY or their plurals), \
             found 'WEEK'"
                .into()
        )
    );
    assert_eq!(
        err("SELECT a FROM s WINDOW TUMBLING (SIZE 1 SECOND, GRACE PERIOD 1 SECOND, RETENTION 1 DAY)")
            .1,
        "expected ')', found 'RETENTION'"
    );
    assert_eq!(
        err("SELECT a FROM s WINDOW TUMBLING (SIZE 1.5 SECONDS)").1,
        "expected a duration (an integer and a time unit), found '1.5'"
    );
}

#[test]
fn joins() {
    let q = query(
        "SELECT * FROM a AS l \
         JOIN b ON l.id = b.id \
         INNER JOIN c cc WITHIN 10 SECONDS ON l.id = cc.id \
         LEFT JOIN d WITHIN (1 HOUR, 2 HOURS) GRACE PERIOD 5 MINUTES ON l.id = d.id \
         LEFT OUTER JOIN e ON l.id = e.id \
         RIGHT JOIN f ON l.id = f.id \
         FULL OUTER JOIN g ON l.id = g.id \
         OUTER JOIN h ON l.id = h.id",
    );
    assert_eq!(q.from.source.name.name, "A");
    assert_eq!(
        q.from.source.alias.as_ref().map(|a| a.name.as_str()),
        Some("L")
    );
    let kinds: Vec<_> = q.from.joins.iter().map(|j| j.kind).collect();
    use JoinKind::*;
    assert_eq!(kinds, vec![Inner, Inner, Left, Left, Right, Full, Full]);
    let j = &q.from.joins;
    assert_eq!(
        j[1].right.alias.as_ref().map(|a| a.name.as_str()),
        Some("CC")
    );
    assert_eq!(
        j[1].within,
        Some(WithinExpr {
            before_ms: 10_000,
            after_ms: 10_000,
            grace_ms: None
        })
    );
    assert_eq!(
        j[2].within,
        Some(WithinExpr {
            before_ms: 3_600_000,
            after_ms: 7_200_000,
            grace_ms: Some(300_000)
        })
    );
    assert_eq!(sx(&j[0].on), "(= L.ID B.ID)");
    assert_eq!(j[0].pos, at(1, 22));
    assert_eq!(
        err("SELECT * FROM a JOIN b WHERE x").1,
        "expected WITHIN or ON, found 'WHERE'"
    );
    assert_eq!(
        err("SELECT * FROM a LEFT b ON x").1,
        "expected JOIN, found 'b'"
    );
}

#[test]
fn non_reserved_clause_words_are_not_aliases() {
    let q = query("SELECT * FROM t EMIT CHANGES");
    assert!(q.from.source.alias.is_none());
    assert_eq!(q.emit, Some(Emit::Changes));
    let q = query("SELECT * FROM t PARTITION BY a->b, c");
    assert!(q.from.source.alias.is_none());
    assert_eq!(
        q.partition_by.iter().map(sx).collect::<Vec<_>>(),
        vec!["(-> A B)", "C"]
    );
    // ...but they are aliases elsewhere.
    let q = query("SELECT * FROM t emit");
    assert_eq!(q.from.source.alias.map(|a| a.name), Some(id("EMIT")));
}

#[test]
fn group_by_forms() {
    let g = |sql: &str| {
        query(sql)
            .group_by
            .iter()
            .map(sx)
            .collect::<Vec<_>>()
            .join(", ")
    };
    assert_eq!(g("SELECT 1 FROM t GROUP BY (a, b)"), "A, B");
    assert_eq!(g("SELECT 1 FROM t GROUP BY (a), b"), "A, B");
    assert_eq!(g("SELECT 1 FROM t GROUP BY (a + 1) * 2"), "(* (+ A 1) 2)");
    assert_eq!(
        g("SELECT 1 FROM t GROUP BY a->b, c[1]"),
        "(-> A B), ([] C 1)"
    );
    assert_eq!(
        err("CREATE TABLE O AS SELECT f1, COUNT(*) FROM TEST GROUP BY f3, (f2, f1);"),
        (at(1, 65), "expected ')', found ','".into())
    );
    assert_eq!(
        err("SELECT COUNT(*) FROM TEST GROUP BY DATA AND ID").1,
        "expected ';', found 'AND'"
    );
    assert_eq!(
        err("SELECT * FROM INPUT PARTITION BY NAME AND AGE").1,
        "expected ';', found 'AND'"
    );
}

#[test]
fn pull_and_push_queries() {
    let q = query("SELECT * FROM t WHERE id = 10 AND windowstart >= 100");
    assert_eq!(q.emit, None);
    assert_eq!(
        q.where_.as_ref().map(sx),
        Some("(AND (= ID 10) (>= WINDOWSTART 100))".into())
    );
    let q = query("SELECT rowtime, k FROM test EMIT CHANGES LIMIT 2;");
    assert_eq!((q.emit, q.limit), (Some(Emit::Changes), Some(2)));
    assert_eq!(
        err("SELECT * FROM EXPLODE(MY_ARR)"),
        (at(1, 22), "expected ';', found '('".into())
    );
    assert_eq!(
        err("SELECT a, FROM t"),
        (at(1, 11), "expected an expression, found 'FROM'".into())
    );
    assert_eq!(
        err("SELECT a b c FROM t").1,
        "expected ',' or FROM, found 'c'"
    );
    assert_eq!(
        err("SELECT * FROM t e EMIT").1,
        "expected CHANGES or FINAL, found end of input"
    );
}

// ---------------------------------------------------------------------------------------
// Expressions

#[test]
fn precedence() {
    assert_eq!(ex("a OR b AND c"), "(OR A (AND B C))");
    assert_eq!(ex("NOT a AND b"), "(AND (Not A) B)");
    assert_eq!(ex("NOT a = b"), "(Not (= A B))");
    assert_eq!(ex("a = 1 OR NOT NOT b"), "(OR (= A 1) (Not (Not B)))");
    assert_eq!(ex("a + b * c - d"), "(- (+ A (* B C)) D)");
    assert_eq!(ex("a - b - c"), "(- (- A B) C)");
    assert_eq!(ex("a / b % c"), "(% (/ A B) C)");
    assert_eq!(ex("a || b + c"), "(|| A (+ B C))");
    assert_eq!(ex("a + b || c"), "(|| (+ A B) C)");
    assert_eq!(ex("-a * b"), "(* (Minus A) B)");
    assert_eq!(ex("- -a"), "(Minus (Minus A))");
    assert_eq!(ex("+a"), "(Plus A)");
    assert_eq!(ex("-a->b[1]"), "(Minus ([] (-> A B) 1))");
    assert_eq!(ex("(a + b) * c"), "(* (+ A B) C)");
    assert_eq!(ex("a + 1 > b * 2 AND c"), "(AND (> (+ A 1) (* B 2)) C)");
    assert_eq!(ex("a <> b"), "(<> A B)");
    assert_eq!(ex("a != b"), "(<> A B)");
    assert_eq!(ex("a <= b"), "(<= A B)");
    assert_eq!(ex("a - 5"), "(- A 5)");
    assert_eq!(ex("a -5"), "(- A 5)");
    assert_eq!(ex("a - -5"), "(- A -5)");
}

#[test]
fn predicates() {
    assert_eq!(ex("a IS NULL"), "(isnull A)");
    assert_eq!(ex("a + 1 IS NOT NULL"), "(notnull (+ A 1))");
    assert_eq!(ex("a IS DISTINCT FROM b"), "(distinct A B)");
    assert_eq!(
        ex("a IS NOT DISTINCT FROM b + 1"),
        "(notdistinct A (+ B 1))"
    );
    assert_eq!(ex("a BETWEEN 1 AND 2 AND b"), "(AND (between A 1 2) B)");
    assert_eq!(
        ex("a + 2 NOT BETWEEN b / 2 AND b * 2"),
        "(notbetween (+ A 2) (/ B 2) (* B 2))"
    );
    assert_eq!(ex("a IN (1, 'x', b = c)"), "(in A [1 'x' (= B C)])");
    assert_eq!(ex("a NOT IN (1)"), "(notin A [1])");
    assert_eq!(ex("a LIKE '%x'"), "(like A '%x')");
    assert_eq!(ex("a NOT LIKE 'x!%' ESCAPE '!'"), "(notlike A 'x!%' esc!)");
    assert_eq!(ex("(a IS DISTINCT FROM b)"), "(distinct A B)");
    assert!(ex_err("a IN ()").ends_with("expected an expression, found ')'"));
    assert!(ex_err("a = b = c").ends_with("expected the end of the expression, found '='"));
    assert!(ex_err("a LIKE 'x' ESCAPE 'ab'").contains("single character escape"));
    assert!(ex_err("a IS 1").contains("expected NOT, NULL or DISTINCT FROM, found '1'"));
    assert!(ex_err("a NOT b").contains("found 'NOT'"));
}

#[test]
fn literals() {
    assert_eq!(ex("NULL"), "NULL");
    assert_eq!(ex("true"), "true");
    assert_eq!(ex("FALSE"), "false");
    assert_eq!(ex("'it''s'"), "'it''s'");
    assert_eq!(ex("12"), "12");
    assert_eq!(ex("-9223372036854775808"), "-9223372036854775808");
    assert_eq!(ex("9223372036854775807"), "9223372036854775807");
    assert_eq!(ex("1.50"), "1.50dec");
    assert_eq!(ex("-1.5"), "-1.5dec");
    assert_eq!(ex(".5"), "0.5dec");
    assert_eq!(ex("1e3"), "1000.0f");
    assert_eq!(ex("1.5E-3"), "0.0015f");
    assert_eq!(ex("-2e1"), "-20.0f");
    let e = parse_expr("  -5").expect("parses");
    assert_eq!(e.pos, at(1, 3));
    assert_eq!(
        ex_err(" 9223372036854775808"),
        "line 1:2: syntax error: invalid numeric literal: 9223372036854775808 (out of range for BIGINT)"
    );
    let (pos, msg) = err("CREATE STREAM O AS select K, id, 9223372036854775808 FROM INPUT;");
    assert_eq!(pos, at(1, 34));
    assert!(
        msg.contains("invalid numeric literal: 9223372036854775808"),
        "{msg}"
    );
    assert!(err("SELECT -9223372036854775809 FROM t")
        .1
        .contains("-9223372036854775809"));
    assert!(err("SELECT 1.7976931348623159E308 FROM t")
        .1
        .contains("overflows DOUBLE"));
    // Digits and letters make an identifier, as in ksqlDB.
    assert_eq!(ex("1L"), "1L");
}

#[test]
fn columns_functions_and_postfix() {
    assert_eq!(ex("value"), "VALUE");
    assert_eq!(ex("`value`"), "value");
    assert_eq!(ex("\"Mixed Case\""), "Mixed Case");
    assert_eq!(ex("s.col"), "S.COL");
    assert_eq!(ex("s.s->s"), "(-> S.S S)");
    assert_eq!(ex("S -> DATE"), "(-> S DATE)");
    assert_eq!(ex("s->`END`"), "(-> S END)");
    assert_eq!(
        ex("a->b['key$Name[]']->c[1]->d"),
        "(-> ([] (-> ([] (-> A B) 'key$Name[]') C) 1) D)"
    );
    assert_eq!(ex("col0[1][2]"), "([] ([] COL0 1) 2)");
    assert_eq!(ex("colors[-1]"), "([] COLORS -1)");
    assert_eq!(ex("SPLIT(m, ',')[1]"), "([] SPLIT(M ',') 1)");
    assert_eq!(ex("EXPLODE(arr)->f1"), "(-> EXPLODE(ARR) F1)");
    assert_eq!(ex("count(*)"), "COUNT(*)");
    assert_eq!(ex("now()"), "NOW()");
    assert_eq!(ex("replace(a, 'x', null)"), "REPLACE(A 'x' NULL)");
    assert_eq!(ex("`myUdf`(1)"), "myUdf(1)");
    assert_eq!(
        ex("TIMESTAMPADD(SECONDS, 5, ts)"),
        "TIMESTAMPADD(SECONDS 5 TS)"
    );
    assert_eq!(ex("f(day, hours)"), "F(DAY HOURS)");
    assert_eq!(
        ex("key + id + date + time + source"),
        "(+ (+ (+ (+ KEY ID) DATE) TIME) SOURCE)"
    );
    assert!(ex_err("a.b.c").contains("expected the end of the expression, found '.'"));
    assert!(ex_err("a.").contains("expected a column name, found end of input"));
    assert!(ex_err("seconds").contains("expected an expression, found 'seconds'"));
    assert!(ex_err("size + 1").contains("expected an expression, found 'size'"));
    assert!(ex_err("f(a,)").contains("expected an expression, found ')'"));
    assert!(matches!(
        parse_expr("s->*"),
        Err(SqlError::Unsupported { .. })
    ));
}

#[test]
fn constructors_case_and_cast() {
    assert_eq!(ex("ARRAY[1, a, 'x']"), "[1 A 'x']");
    assert_eq!(ex("array[]"), "[]");
    assert_eq!(ex("MAP('a' := 1, k := v * 2)"), "{'a':=1 K:=(* V 2)}");
    assert_eq!(ex("MAP()"), "{}");
    assert_eq!(
        ex("STRUCT(a := 1, `b` := STRUCT(c := x))"),
        "struct{A:=1 b:=struct{C:=X}}"
    );
    assert_eq!(ex("STRUCT()"), "struct{}");
    assert_eq!(ex("array"), "ARRAY");
    assert_eq!(ex("map + struct"), "(+ MAP STRUCT)");
    assert_eq!(
        ex("CASE WHEN a > 1 THEN 'x' WHEN b THEN 'y' ELSE 'z' END"),
        "(case (when (> A 1) 'x') (when B 'y') (else 'z'))"
    );
    assert_eq!(ex("CASE a WHEN 1 THEN 2 END"), "(case A (when 1 2))");
    assert_eq!(ex("CAST(a AS INT)"), "(cast A Int)");
    assert_eq!(ex("cast(null as string)"), "(cast NULL String)");
    assert_eq!(ex("CAST(a AS DECIMAL(10, 2))"), "(cast A Decimal(10, 2))");
    assert!(ex_err("CASE END").contains("expected an expression, found 'END'"));
    assert!(ex_err("CASE a END").contains("expected WHEN, found 'END'"));
    assert!(ex_err("CASE WHEN a THEN b").contains("expected WHEN, ELSE or END, found end of input"));
    assert!(ex_err("CAST(a AS NULL)").contains("expected a type, found 'NULL'"));
    assert!(ex_err("MAP(1, 2)").contains("expected ':=', found ','"));
}

#[test]
fn lambdas() {
    assert_eq!(
        ex("TRANSFORM(arr, x => x + 1)"),
        "TRANSFORM(ARR (lambda (X) (+ X 1)))"
    );
    assert_eq!(
        ex("TRANSFORM(m, (k, v) => k + '_', (k,v) => ARRAY_MIN(v) + 1)"),
        "TRANSFORM(M (lambda (K V) (+ K '_')) (lambda (K V) (+ ARRAY_MIN(V) 1)))"
    );
    assert_eq!(
        ex("TRANSFORM(j, (obj) => EXTRACTJSONFIELD(obj, '$.t'))"),
        "TRANSFORM(J (lambda (OBJ) EXTRACTJSONFIELD(OBJ '$.t')))"
    );
    assert_eq!(
        ex("REDUCE(a, 0, (s, x) => s + x)"),
        "REDUCE(A 0 (lambda (S X) (+ S X)))"
    );
    // A parenthesized expression is not a lambda.
    assert_eq!(ex("f((a), (b))"), "F(A B)");
    assert_eq!(ex("f((a) + 1)"), "F((+ A 1))");
    assert!(ex_err("x => x").contains("found '=>'"));
}

#[test]
fn identifiers_are_normalized() {
    let q = query("select `Col`, \"Other\", plain, MiXeD from `Src` \"A\"");
    let names: Vec<_> = q
        .select
        .iter()
        .map(|i| match i {
            SelectItem::Expr { expr, .. } => sx(expr),
            SelectItem::Star { .. } => "*".into(),
        })
        .collect();
    assert_eq!(names, vec!["Col", "Other", "PLAIN", "MIXED"]);
    assert_eq!(q.from.source.name.name, "Src");
    assert_eq!(q.from.source.alias.map(|a| a.name), Some(id("A")));
    // Reserved words need quotes.
    let Statement::CreateSource(c) =
        one("CREATE STREAM INPUT (`@TIMESTAMP` BIGINT, `FROM` BIGINT)")
    else {
        panic!()
    };
    assert_eq!(c.elements[0].name.name, "@TIMESTAMP");
    assert_eq!(c.elements[1].name.name, "FROM");
    assert_eq!(
        err("CREATE STREAM INPUT (FROM BIGINT)"),
        (at(1, 22), "expected a column name, found 'FROM'".into())
    );
    assert_eq!(ex("`a``b`"), "a`b");
    // ksqlDB's DIGIT_IDENTIFIER.
    let q = query("SELECT ROUND(v, -1) AS 1r, 2R FROM t");
    let aliases: Vec<_> = q
        .select
        .iter()
        .map(|i| match i {
            SelectItem::Expr { expr, alias } => format!(
                "{} {}",
                sx(expr),
                alias.as_ref().map(|a| a.name.as_str()).unwrap_or("-")
            ),
            SelectItem::Star { .. } => "*".into(),
        })
        .collect();
    assert_eq!(aliases, vec!["ROUND(V -1) 1R", "2R -"]);
}

// ---------------------------------------------------------------------------------------
// Types

#[test]
fn types() {
    let t = |s: &str| {
        parse_type(s)
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .normalized()
    };
    use TypeExpr::*;
    assert_eq!(t("BOOLEAN"), Boolean);
    assert_eq!(t("int"), Int);
    assert_eq!(t("INTEGER"), Int);
    assert_eq!(t("BigInt"), Bigint);
    assert_eq!(t("DOUBLE"), Double);
    assert_eq!(t("DECIMAL(4,2)"), Decimal(4, 2));
    assert_eq!(t("STRING"), String);
    assert_eq!(t("VARCHAR"), String);
    assert_eq!(t("BYTES"), Bytes);
    assert_eq!(t("TIMESTAMP"), Timestamp);
    assert_eq!(t("DATE"), Date);
    assert_eq!(t("TIME"), Time);
    assert_eq!(
        t("ARRAY<ARRAY<INT>>"),
        Array(Box::new(Array(Box::new(Int))))
    );
    assert_eq!(
        t("MAP<STRING, ARRAY<BIGINT>>"),
        Map(Box::new(String), Box::new(Array(Box::new(Bigint))))
    );
    assert_eq!(
        t("STRUCT<A INT, `b` ARRAY<STRING>, c STRUCT<d MAP<STRING,INT>>>"),
        Struct(vec![
            (Ident::new("A"), Int),
            (Ident::new("b"), Array(Box::new(String))),
            (
                Ident::new("C"),
                Struct(vec![(
                    Ident::new("D"),
                    Map(Box::new(String), Box::new(Int))
                )])
            ),
        ])
    );
    assert_eq!(t("STRUCT<>"), Struct(vec![]));
    assert_eq!(t("VARCHAR(STRING)"), String);
    assert_eq!(t("INT(10, 2)"), Int);
    assert_eq!(t("address"), Custom("ADDRESS".into(), Pos::default()));
    assert_eq!(
        parse_type("  `myType`").expect("parses"),
        Custom("myType".into(), at(1, 3))
    );
    let e = |s: &str| parse_type(s).expect_err(s).to_string();
    assert_eq!(
        e("ARRAY<NULL>"),
        "line 1:7: syntax error: expected a type, found 'NULL'"
    );
    assert_eq!(
        e("MAP<STRING, NULL>"),
        "line 1:13: syntax error: expected a type, found 'NULL'"
    );
    assert_eq!(
        e("STRUCT<fo NULL>"),
        "line 1:11: syntax error: expected a type, found 'NULL'"
    );
    assert_eq!(
        e("ARRAY"),
        "line 1:6: syntax error: expected '<', found end of input"
    );
    assert_eq!(
        e("DECIMAL(4)"),
        "line 1:10: syntax error: expected ',', found ')'"
    );
    assert_eq!(
        e("INT INT"),
        "line 1:5: syntax error: expected the end of the type, found 'INT'"
    );
    assert_eq!(
        e("STRUCT<a INT"),
        "line 1:13: syntax error: expected ',' or '>', found end of input"
    );
}

// ---------------------------------------------------------------------------------------
// Error positions

#[test]
fn error_positions_are_line_and_column_of_the_offending_token() {
    let e = parse("CREATE STREAM s AS SELECT f(a, ) FROM t").expect_err("fails");
    assert_eq!(
        e.to_string(),
        "line 1:32: syntax error: expected an expression, found ')'"
    );
    let e = parse("SHOW STREAMS;\nSELECT *\n  FROM t\n  WHERE").expect_err("fails");
    assert_eq!(
        e.to_string(),
        "line 4:8: syntax error: expected an expression, found end of input"
    );
    let e = parse("SELECT\t'abc FROM t").expect_err("fails");
    assert!(
        e.to_string()
            .starts_with("line 1:8: syntax error: unterminated string"),
        "{e}"
    );
    let e = parse("SELECT a FROM t WHERE a = 'long string literal that goes on and on and on'x")
        .expect_err("fails");
    assert_eq!(
        e.to_string(),
        "line 1:75: syntax error: expected ';', found 'x'"
    );
    let e = parse("SELECT a FROM t WHERE a = b 'long string literal that goes on and on and on'")
        .expect_err("fails");
    assert!(
        e.to_string()
            .ends_with("found 'long string literal that goes on and on..."),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Variables

#[test]
fn variable_substitution() {
    let vars: BTreeMap<String, String> = [
        ("topic".to_owned(), "orders".to_owned()),
        ("n".to_owned(), "10".to_owned()),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        substitute_variables("PRINT '${topic}' LIMIT ${n};", &vars).expect("ok"),
        "PRINT 'orders' LIMIT 10;"
    );
    assert_eq!(
        substitute_variables("x $${topic} ${unclosed", &vars).expect("ok"),
        "x ${topic} ${unclosed"
    );
    assert_eq!(
        substitute_variables("no vars", &vars).expect("ok"),
        "no vars"
    );
    match substitute_variables("SELECT 1\n  FROM ${Topic}", &vars) {
        Err(SqlError::Parse { pos, message }) => {
            assert_eq!(pos, at(2, 8));
            assert!(message.contains("'Topic' is not defined"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Limits and robustness

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(parse_expr(&deep)
        .expect_err("too deep")
        .to_string()
        .contains("nests more than"));
    let nots = format!("{}a", "NOT ".repeat(10_000));
    assert!(parse_expr(&nots).is_err());
    let minus = format!("{}a", "- ".repeat(10_000));
    assert!(parse_expr(&minus).is_err());
    let types = format!("{}INT{}", "ARRAY<".repeat(10_000), ">".repeat(10_000));
    assert!(parse_type(&types).is_err());
    // Nesting within the limit works.
    let ok = format!(
        "{}1{}",
        "(".repeat(MAX_DEPTH - 1),
        ")".repeat(MAX_DEPTH - 1)
    );
    assert_eq!(ex(&ok), "1");
    let ok = format!(
        "{}INT{}",
        "ARRAY<".repeat(MAX_DEPTH - 1),
        ">".repeat(MAX_DEPTH - 1)
    );
    assert!(parse_type(&ok).is_ok());
    // Long flat lists and chains are not nesting.
    let chain = vec!["a"; 5_000].join(" + ");
    assert!(parse_expr(&chain).is_ok());
    let ands = vec!["a = 1"; 5_000].join(" AND ");
    assert!(parse_expr(&ands).is_ok());
}

#[test]
fn nesting_at_the_limit_fits_in_a_default_thread_stack() {
    // For each way of nesting, the deepest text the parser accepts, parsed on a thread with
    // Rust's default 2 MiB stack (debug builds use far more stack per level than release).
    let kinds: &[(&str, &str)] = &[
        ("(", ")"),
        ("f(CASE WHEN ", " THEN 1 END)"),
        ("f(", ")"),
        ("f(x => ", ")"),
        ("ARRAY[", "]"),
        ("CAST(", " AS INT)"),
        ("a IN (", ")"),
        ("a[", "]"),
        ("STRUCT(a := ", ")"),
        ("- ", ""),
        ("NOT ", ""),
    ];
    for &(open, close) in kinds {
        let handle = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || {
                let mut accepted = 0;
                for depth in 1..=MAX_DEPTH {
                    let s = format!(
                        "SELECT {}1{} FROM t",
                        open.repeat(depth),
                        close.repeat(depth)
                    );
                    if parse(&s).is_ok() {
                        accepted = depth;
                    }
                }
                accepted
            })
            .expect("spawns");
        let accepted = handle.join().expect("no stack overflow");
        assert!(accepted >= MAX_DEPTH / 2 - 1, "{open}: {accepted}");
    }
    let explain = format!("{}SHOW STREAMS", "EXPLAIN ".repeat(MAX_DEPTH));
    let types = format!(
        "CREATE STREAM s (a {}INT{})",
        "STRUCT<a ".repeat(MAX_DEPTH),
        ">".repeat(MAX_DEPTH)
    );
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let _ = parse(&explain);
            let _ = parse(&types);
        })
        .expect("spawns")
        .join()
        .expect("no stack overflow");
}

/// Fragments random statements are made of.
const FRAGMENTS: &[&str] = &[
    "SELECT", "FROM", "WHERE", "CREATE", "STREAM", "TABLE", "AS", "WITH", "(", ")", "[", "]", ",",
    ";", "*", "+", "-", "->", "=>", ":=", "=", "<", ">", ">>", "'s'", "'", "`q`", "`", "\"", "1",
    "1.5", "1e3", "-", "a", "b.c", "KEY", "PRIMARY", "ARRAY", "MAP", "STRUCT", "CASE", "WHEN",
    "THEN", "END", "CAST", "INT", "NOT", "IS", "NULL", "IN", "BETWEEN", "AND", "OR", "LIKE",
    "JOIN", "WITHIN", "SECONDS", "WINDOW", "TUMBLING", "SIZE", "GROUP", "BY", "EMIT", "CHANGES",
    "LIMIT", "/*", "*/", "--", "\n", "é", "${x}", "INSERT", "VALUES", "DESCRIBE", "EXPLAIN",
    "PRINT", "SET", "DEFINE", "DECIMAL", "<>", "||", "%", ".",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_fragments_never_panic(picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..40)) {
        let sql: Vec<&str> = picks.iter().map(|&i| FRAGMENTS[i]).collect();
        let sql = sql.join(" ");
        let _ = parse(&sql);
        let _ = parse_expr(&sql);
        let _ = parse_type(&sql);
    }

    #[test]
    fn random_text_never_panics(sql in "\\PC{0,80}") {
        let _ = parse(&sql);
        let _ = parse_expr(&sql);
        let _ = parse_type(&sql);
        let _ = substitute_variables(&sql, &BTreeMap::new());
    }

    #[test]
    fn truncated_statements_never_panic(cut in 0usize..400) {
        let sql = "CREATE STREAM MODEL WITH (KAFKA_TOPIC='m', VALUE_SCHEMA_ID=102) AS SELECT \
                   `id`, STRUCT(`n` := CAST(EXTRACTJSONFIELD(t.`x`, '$.n') AS INT)) AS `s`, \
                   TRANSFORM(m, (k, v) => k || '_', x => x[1]->f) FROM a t LEFT JOIN b \
                   WITHIN (1 HOUR, 2 HOURS) GRACE PERIOD 1 SECOND ON t.id = b.id \
                   WINDOW HOPPING (SIZE 5 SECONDS, ADVANCE BY 1 SECOND) WHERE a NOT BETWEEN 1 AND 2 \
                   GROUP BY (a, b) HAVING COUNT(*) > 1 EMIT CHANGES LIMIT 3;";
        let end = sql.char_indices().map(|(i, _)| i).nth(cut).unwrap_or(sql.len());
        let _ = parse(&sql[..end]);
        let _ = parse(&sql[end..]);
    }
}

// ---------------------------------------------------------------------------------------
// The QTT corpus

/// Removes `//` line comments outside JSON strings.
fn strip_json_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if c == '/' && chars.peek() == Some(&'/') {
            for c in chars.by_ref() {
                if c == '\n' {
                    out.push('\n');
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `(file, case, statement, expects an exception)` for every statement of every case in the
/// QTT files of `dir`, or `None` when the folder is absent.
fn corpus(dir: &str) -> Option<Vec<(String, String, String, bool)>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable");
        let json: serde_json::Value =
            serde_json::from_str(&strip_json_comments(&text)).expect("valid json");
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for case in json["tests"].as_array().into_iter().flatten() {
            let expects_error =
                case.get("expectedException").is_some() || case.get("expectedError").is_some();
            for s in case["statements"].as_array().into_iter().flatten() {
                if let Some(s) = s.as_str() {
                    out.push((
                        name.clone(),
                        case["name"].as_str().unwrap_or("").to_owned(),
                        s.to_owned(),
                        expects_error,
                    ));
                }
            }
        }
    }
    Some(out)
}

fn check_corpus(dir: &str, min_rate: f64) {
    let Some(all) = corpus(dir) else {
        eprintln!("{dir} not found: skipped");
        return;
    };
    let valid: Vec<_> = all.iter().filter(|c| !c.3).collect();
    let failures: Vec<_> = valid
        .iter()
        .filter_map(|(f, n, s, _)| {
            parse(s)
                .err()
                .map(|e| format!("{f} :: {n} :: {s}\n    {e}"))
        })
        .collect();
    for f in &failures {
        eprintln!("FAIL {f}");
    }
    let rate = 1.0 - failures.len() as f64 / valid.len().max(1) as f64;
    eprintln!(
        "{dir}: {} of {} statements parse ({:.2}%)",
        valid.len() - failures.len(),
        valid.len(),
        rate * 100.0
    );
    assert!(rate >= min_rate, "parse rate {rate}");
}

#[test]
fn qtt_statements_parse() {
    check_corpus("../../shared/conformance/qtt", 0.98);
}

#[test]
fn rest_qtt_statements_parse() {
    check_corpus("../../shared/conformance/rest-qtt", 0.98);
}

#[test]
fn qtt_expected_syntax_errors_fail_to_parse() {
    // Cases ksqlDB fails in its parser for the statement's syntax alone.
    let Some(all) = corpus("../../shared/conformance/qtt") else {
        return;
    };
    let must_fail = [
        "cast(f0 as NULL)",
        "GROUP BY DATA AND ID",
        "GROUP BY f3, (f2, f1)",
        "IN ( )",
        "(K STRING (KEY))",
        "(K INT (KEY))",
        "COL0 NULL)",
        "ARRAY<NULL>",
        "MAP<STRING, NULL>",
        "STRUCT<fo NULL>",
        "partition by NAME AND AGE",
        "FROM EXPLODE(MY_ARR)",
        "9223372036854775808 FROM",
        "-9223372036854775809 FROM",
        "1.7976931348623159E308 FROM",
        "TABLE INPUT (ID INT KEY, NAME STRING)",
        "STREAM INPUT (ID INT PRIMARY KEY, NAME STRING)",
        "ASSERT VALUES",
    ];
    let mut seen = 0;
    for (f, n, s, expects_error) in &all {
        if *expects_error && must_fail.iter().any(|m| s.contains(m)) {
            seen += 1;
            assert!(parse(s).is_err(), "{f} :: {n} :: {s} parsed");
        }
    }
    assert!(seen >= must_fail.len(), "{seen}");
}
