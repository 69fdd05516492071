//! Unit tests of the expression compiler and evaluator. ASTs are built by hand; the
//! expected values come from ksqlDB's behaviour (its QTT cases and generated code).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bigdecimal::BigDecimal;

use super::*;
use crate::ast::{BinaryOp, Expr, ExprKind, Ident, Literal, Pos, TypeExpr, UnaryOp};
use crate::functions::{Arg, BoundScalar, ScalarUdf};

// ---------------------------------------------------------------------------------------
// AST builders

fn p(col: u32) -> Pos {
    Pos { line: 1, col }
}

fn ex(kind: ExprKind) -> Expr {
    Expr::new(kind, p(1))
}

fn col(n: &str) -> Expr {
    ex(ExprKind::Column {
        qualifier: None,
        name: Ident::new(n),
    })
}

fn qcol(q: &str, n: &str) -> Expr {
    ex(ExprKind::Column {
        qualifier: Some(Ident::new(q)),
        name: Ident::new(n),
    })
}

fn int(i: i64) -> Expr {
    ex(ExprKind::Literal(Literal::Integer(i)))
}

fn dec(s: &str) -> Expr {
    ex(ExprKind::Literal(Literal::Decimal(s.into())))
}

fn dbl(d: f64) -> Expr {
    ex(ExprKind::Literal(Literal::Double(d)))
}

fn s(v: &str) -> Expr {
    ex(ExprKind::Literal(Literal::String(v.into())))
}

fn b(v: bool) -> Expr {
    ex(ExprKind::Literal(Literal::Boolean(v)))
}

fn null() -> Expr {
    ex(ExprKind::Literal(Literal::Null))
}

fn bin(op: BinaryOp, l: Expr, r: Expr) -> Expr {
    ex(ExprKind::Binary {
        op,
        left: Box::new(l),
        right: Box::new(r),
    })
}

fn add(l: Expr, r: Expr) -> Expr {
    bin(BinaryOp::Plus, l, r)
}

fn eq(l: Expr, r: Expr) -> Expr {
    bin(BinaryOp::Eq, l, r)
}

fn not(e: Expr) -> Expr {
    ex(ExprKind::Unary {
        op: UnaryOp::Not,
        expr: Box::new(e),
    })
}

fn neg(e: Expr) -> Expr {
    ex(ExprKind::Unary {
        op: UnaryOp::Minus,
        expr: Box::new(e),
    })
}

fn is_null(e: Expr, negated: bool) -> Expr {
    ex(ExprKind::IsNull {
        expr: Box::new(e),
        negated,
    })
}

fn distinct(l: Expr, r: Expr, negated: bool) -> Expr {
    ex(ExprKind::IsDistinctFrom {
        left: Box::new(l),
        right: Box::new(r),
        negated,
    })
}

fn between(e: Expr, lo: Expr, hi: Expr, negated: bool) -> Expr {
    ex(ExprKind::Between {
        expr: Box::new(e),
        low: Box::new(lo),
        high: Box::new(hi),
        negated,
    })
}

fn in_list(e: Expr, list: Vec<Expr>, negated: bool) -> Expr {
    ex(ExprKind::InList {
        expr: Box::new(e),
        list,
        negated,
    })
}

fn like(e: Expr, pat: Expr, escape: Option<char>) -> Expr {
    ex(ExprKind::Like {
        expr: Box::new(e),
        pattern: Box::new(pat),
        escape,
        negated: false,
    })
}

fn case(operand: Option<Expr>, whens: Vec<(Expr, Expr)>, else_: Option<Expr>) -> Expr {
    ex(ExprKind::Case {
        operand: operand.map(Box::new),
        whens,
        else_: else_.map(Box::new),
    })
}

fn cast_to(e: Expr, ty: TypeExpr) -> Expr {
    ex(ExprKind::Cast {
        expr: Box::new(e),
        ty,
    })
}

fn call(name: &str, args: Vec<Expr>) -> Expr {
    ex(ExprKind::Function {
        name: Ident::new(name),
        args,
        star: false,
    })
}

fn deref(e: Expr, f: &str) -> Expr {
    ex(ExprKind::Dereference {
        expr: Box::new(e),
        field: Ident::new(f),
    })
}

fn sub(e: Expr, i: Expr) -> Expr {
    ex(ExprKind::Subscript {
        expr: Box::new(e),
        index: Box::new(i),
    })
}

fn arr(items: Vec<Expr>) -> Expr {
    ex(ExprKind::Array(items))
}

fn map(entries: Vec<(Expr, Expr)>) -> Expr {
    ex(ExprKind::Map(entries))
}

fn st(fields: Vec<(&str, Expr)>) -> Expr {
    ex(ExprKind::Struct(
        fields
            .into_iter()
            .map(|(n, e)| (Ident::new(n), e))
            .collect(),
    ))
}

fn lambda(params: &[&str], body: Expr) -> Expr {
    ex(ExprKind::Lambda {
        params: params.iter().map(|n| Ident::new(*n)).collect(),
        body: Box::new(body),
    })
}

fn at(mut e: Expr, col: u32) -> Expr {
    e.pos = p(col);
    e
}

fn d(v: &str) -> Value {
    Value::Decimal(v.parse::<BigDecimal>().expect("test decimal"))
}

fn vs(v: &str) -> Value {
    Value::String(v.into())
}

// ---------------------------------------------------------------------------------------
// Scope, functions, helpers

fn scope() -> Scope {
    let c = |n: &str, ty: SqlType| ScopeColumn {
        qualifier: Some("T".into()),
        name: n.into(),
        ty,
    };
    Scope {
        columns: vec![
            c("A", SqlType::Int),
            c("B", SqlType::Bigint),
            c("D", SqlType::Double),
            c("E", SqlType::Decimal(4, 3)),
            c("S", SqlType::String),
            c("F", SqlType::Boolean),
            c("TS", SqlType::Timestamp),
            c("DT", SqlType::Date),
            c("TM", SqlType::Time),
            c("ARR", SqlType::array(SqlType::Int)),
            c("M", SqlType::map(SqlType::String, SqlType::Int)),
            c(
                "ST",
                SqlType::Struct(vec![
                    ("ID".into(), SqlType::Int),
                    ("NAME".into(), SqlType::String),
                ]),
            ),
            c("N", SqlType::Int),
            c("NS", SqlType::String),
            c("NST", SqlType::Struct(vec![("ID".into(), SqlType::Int)])),
            c("BARR", SqlType::array(SqlType::Bigint)),
        ],
    }
}

fn row() -> Vec<Value> {
    vec![
        Value::Int(10),
        Value::Bigint(20),
        Value::Double(1.5),
        d("1.200"),
        vs("foo"),
        Value::Boolean(true),
        Value::Timestamp(10),
        Value::Date(10),
        Value::Time(5000),
        Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
        Value::Map(vec![(vs("a"), Value::Int(1)), (vs("b"), Value::Int(2))]),
        Value::Struct(vec![("ID".into(), Value::Int(7)), ("NAME".into(), vs("x"))]),
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Array(vec![Value::Bigint(1), Value::Bigint(2)]),
    ]
}

type Body = dyn Fn(&[Value]) -> Result<Value, String> + Send + Sync;

/// A test function with a fixed return type.
struct TestFn {
    name: &'static str,
    ret: SqlType,
    null_on_null: bool,
    body: Arc<Body>,
    /// The args seen by the last bind.
    seen: Arc<std::sync::Mutex<Vec<Arg>>>,
}

impl ScalarUdf for TestFn {
    fn name(&self) -> &str {
        self.name
    }
    fn description(&self) -> &str {
        "test"
    }
    fn signatures(&self) -> Vec<String> {
        Vec::new()
    }
    fn bind(&self, args: &[Arg]) -> Result<BoundScalar, String> {
        if let Ok(mut s) = self.seen.lock() {
            *s = args.to_vec();
        }
        if self.name == "NEEDS_ONE" && args.len() != 1 {
            return Err(format!(
                "Function 'NEEDS_ONE' does not accept parameters ({} args).",
                args.len()
            ));
        }
        let body = self.body.clone();
        Ok(BoundScalar {
            return_type: self.ret.clone(),
            null_on_null: self.null_on_null,
            eval: Arc::new(move |a: &[Value]| body(a)),
        })
    }
}

struct Env {
    registry: FunctionRegistry,
    types: BTreeMap<String, SqlType>,
    counter: Arc<AtomicUsize>,
    seen: Arc<std::sync::Mutex<Vec<Arg>>>,
}

fn env() -> Env {
    let mut registry = FunctionRegistry::new();
    let counter = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reg = |name: &'static str, ret: SqlType, null_on_null: bool, body: Arc<Body>| {
        registry.register_scalar(Arc::new(TestFn {
            name,
            ret,
            null_on_null,
            body,
            seen: seen.clone(),
        }));
    };
    reg(
        "UPPER1",
        SqlType::String,
        true,
        Arc::new(|a| match a.first() {
            Some(Value::String(s)) => Ok(Value::String(s.to_uppercase())),
            _ => Err("bad".into()),
        }),
    );
    reg(
        "FAIL",
        SqlType::Int,
        false,
        Arc::new(|_| Err("boom".into())),
    );
    reg(
        "IFNULL1",
        SqlType::Int,
        false,
        Arc::new(|a| {
            Ok(match a {
                [Value::Null, x] => x.clone(),
                [x, _] => x.clone(),
                _ => Value::Null,
            })
        }),
    );
    let c = counter.clone();
    reg(
        "COUNTED",
        SqlType::Int,
        false,
        Arc::new(move |a| {
            c.fetch_add(1, Ordering::SeqCst);
            Ok(a.first().cloned().unwrap_or(Value::Null))
        }),
    );
    reg(
        "ECHO",
        SqlType::String,
        false,
        Arc::new(|a| Ok(a.first().cloned().unwrap_or(Value::Null))),
    );
    reg(
        "NEEDS_ONE",
        SqlType::Int,
        false,
        Arc::new(|_| Ok(Value::Int(1))),
    );
    reg(
        "ARRAY_MIN1",
        SqlType::Int,
        true,
        Arc::new(|a| match a.first() {
            Some(Value::Array(items)) => Ok(items
                .iter()
                .filter_map(|v| match v {
                    Value::Int(i) => Some(*i),
                    _ => None,
                })
                .min()
                .map(Value::Int)
                .unwrap_or(Value::Null)),
            _ => Ok(Value::Null),
        }),
    );
    let mut types = BTreeMap::new();
    types.insert(
        "ADDRESS".to_string(),
        SqlType::Struct(vec![("CITY".into(), SqlType::String)]),
    );
    Env {
        registry,
        types,
        counter,
        seen,
    }
}

fn compile_in(e: &Expr, env: &Env) -> Result<CompiledExpr> {
    let ctx = Context {
        functions: &env.registry,
        types: &env.types,
    };
    compile(e, &scope(), &ctx)
}

fn try_eval(e: &Expr) -> Result<Value, String> {
    let env = env();
    let c = compile_in(e, &env).map_err(|e| format!("compile: {e}"))?;
    c.eval(&row())
}

#[track_caller]
fn eval(e: &Expr) -> Value {
    match try_eval(e) {
        Ok(v) => v,
        Err(m) => panic!("evaluation failed: {m}"),
    }
}

#[track_caller]
fn ty(e: &Expr) -> Option<SqlType> {
    let env = env();
    match compile_in(e, &env) {
        Ok(c) => c.ty,
        Err(err) => panic!("compile failed: {err}"),
    }
}

#[track_caller]
fn compile_error(e: &Expr) -> (Option<Pos>, String) {
    let env = env();
    match compile_in(e, &env) {
        Ok(_) => panic!("expected a compile error"),
        Err(SqlError::Analysis { pos, message }) => (pos, message),
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}

#[track_caller]
fn assert_error_contains(e: &Expr, needle: &str) {
    let (_, m) = compile_error(e);
    assert!(
        m.contains(needle),
        "message {m:?} does not contain {needle:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Literals and columns

#[test]
fn literal_types() {
    assert_eq!(ty(&int(1)), Some(SqlType::Int));
    assert_eq!(ty(&int(2_147_483_647)), Some(SqlType::Int));
    assert_eq!(ty(&int(2_147_483_648)), Some(SqlType::Bigint));
    assert_eq!(ty(&int(-2_147_483_648)), Some(SqlType::Int));
    assert_eq!(ty(&dec("1.20")), Some(SqlType::Decimal(3, 2)));
    assert_eq!(ty(&dec("2.345")), Some(SqlType::Decimal(4, 3)));
    assert_eq!(ty(&dec("0.01")), Some(SqlType::Decimal(3, 2)));
    assert_eq!(ty(&dec("0.0")), Some(SqlType::Decimal(2, 1)));
    assert_eq!(ty(&dec("10.0")), Some(SqlType::Decimal(3, 1)));
    assert_eq!(ty(&dbl(1.5)), Some(SqlType::Double));
    assert_eq!(ty(&s("x")), Some(SqlType::String));
    assert_eq!(ty(&b(true)), Some(SqlType::Boolean));
    assert_eq!(ty(&null()), None);
    assert_eq!(eval(&dec("1.20")), d("1.20"));
    assert_eq!(eval(&null()), Value::Null);
}

#[test]
fn columns_resolve_qualified_and_not() {
    assert_eq!(eval(&col("A")), Value::Int(10));
    assert_eq!(eval(&qcol("T", "S")), vs("foo"));
    let (pos, m) = compile_error(&at(col("NOPE"), 7));
    assert_eq!(m, "Column 'NOPE' cannot be resolved.");
    assert_eq!(pos, Some(p(7)));
    let (_, m) = compile_error(&qcol("X", "A"));
    assert_eq!(m, "Column 'X.A' cannot be resolved.");
}

#[test]
fn ambiguous_columns_are_errors() {
    let env = env();
    let ctx = Context {
        functions: &env.registry,
        types: &env.types,
    };
    let sc = Scope {
        columns: vec![
            ScopeColumn {
                qualifier: Some("I1".into()),
                name: "F0".into(),
                ty: SqlType::Int,
            },
            ScopeColumn {
                qualifier: Some("I2".into()),
                name: "F0".into(),
                ty: SqlType::Int,
            },
        ],
    };
    match compile(&col("F0"), &sc, &ctx) {
        Err(SqlError::Analysis { message, .. }) => {
            assert_eq!(
                message,
                "Column 'F0' is ambiguous. Could be I1.F0 or I2.F0."
            )
        }
        _ => panic!("expected ambiguity"),
    }
    let c = compile(&qcol("I2", "F0"), &sc, &ctx).expect("qualified resolves");
    assert_eq!(c.eval(&[Value::Int(1), Value::Int(2)]), Ok(Value::Int(2)));
}

// ---------------------------------------------------------------------------------------
// Arithmetic

#[test]
fn arithmetic_result_types() {
    use BinaryOp::*;
    let cases: Vec<(Expr, SqlType)> = vec![
        (add(col("A"), int(1)), SqlType::Int),
        (add(col("A"), col("B")), SqlType::Bigint),
        (add(col("D"), int(10)), SqlType::Double),
        (add(col("E"), col("D")), SqlType::Double),
        (add(col("E"), col("A")), SqlType::Decimal(14, 3)),
        (add(col("E"), dec("1.20")), SqlType::Decimal(5, 3)),
        (bin(Minus, col("E"), dec("1.20")), SqlType::Decimal(5, 3)),
        (bin(Multiply, col("E"), dec("1.20")), SqlType::Decimal(8, 5)),
        (bin(Divide, col("E"), dec("1.20")), SqlType::Decimal(10, 7)),
        (bin(Modulo, col("E"), dec("1.20")), SqlType::Decimal(4, 3)),
        (bin(Divide, col("B"), col("E")), SqlType::Decimal(28, 6)),
        (add(col("S"), s("x")), SqlType::String),
    ];
    for (e, t) in cases {
        assert_eq!(ty(&e), Some(t), "{}", format_expr(&e));
    }
}

#[test]
fn integer_arithmetic_is_java_arithmetic() {
    use BinaryOp::*;
    let cases: Vec<(Expr, Value)> = vec![
        (add(int(2_147_483_647), int(1)), Value::Int(-2_147_483_648)),
        (bin(Multiply, int(12), int(4)), Value::Int(48)),
        (add(bin(Multiply, int(12), int(4)), int(2)), Value::Int(50)),
        (bin(Divide, int(7), int(2)), Value::Int(3)),
        (bin(Divide, int(-7), int(2)), Value::Int(-3)),
        (bin(Modulo, int(-7), int(2)), Value::Int(-1)),
        (bin(Modulo, int(6), int(4)), Value::Int(2)),
        (add(col("A"), col("B")), Value::Bigint(30)),
        (
            bin(Multiply, int(9_223_372_036_854_775_807), int(2)),
            Value::Bigint(-2),
        ),
        (neg(col("A")), Value::Int(-10)),
        (neg(int(-2_147_483_648)), Value::Int(-2_147_483_648)),
        (add(col("D"), int(10)), Value::Double(11.5)),
        (bin(Divide, col("D"), int(0)), Value::Double(f64::INFINITY)),
        (add(col("S"), s("bar")), vs("foobar")),
    ];
    for (e, v) in cases {
        assert_eq!(eval(&e), v, "{}", format_expr(&e));
    }
    assert_eq!(
        try_eval(&bin(Divide, col("A"), int(0))),
        Err("/ by zero".into())
    );
    assert_eq!(
        try_eval(&bin(Modulo, col("B"), int(0))),
        Err("/ by zero".into())
    );
    match eval(&bin(Divide, int(0), dbl(0.0))) {
        Value::Double(x) => assert!(x.is_nan()),
        v => panic!("{v:?}"),
    }
}

#[test]
fn decimal_arithmetic_is_exact_or_fails() {
    use BinaryOp::*;
    // 1.200 + 10 = 11.200 as DECIMAL(14, 3)
    assert_eq!(eval(&add(col("E"), col("A"))), d("11.200"));
    assert_eq!(eval(&bin(Multiply, col("E"), dec("1.20"))), d("1.44000"));
    assert_eq!(eval(&bin(Divide, dec("10.0"), int(4))), d("2.500000"));
    assert_eq!(eval(&bin(Modulo, dec("10.5"), int(4))), d("2.5"));
    assert_eq!(eval(&neg(dec("1.50"))), d("-1.50"));
    // 1.0 / 3 does not terminate: ksqlDB's UNNECESSARY rounding fails.
    assert!(try_eval(&bin(Divide, dec("1.0"), int(3))).is_err());
    assert!(try_eval(&bin(Divide, dec("1.0"), int(0))).is_err());
    let (_, m) = compile_error(&add(b(true), dec("1.5")));
    assert_eq!(
        m,
        "Error processing expression: (true + 1.5). Unsupported arithmetic types. BOOLEAN DECIMAL"
    );
}

#[test]
fn arithmetic_errors() {
    assert_error_contains(&add(null(), int(1)), "Arithmetic on types null and INTEGER");
    assert_error_contains(
        &add(col("S"), int(1)),
        "Unsupported arithmetic types. STRING INTEGER",
    );
    assert_error_contains(&neg(s("x")), "Unsupported arithmetic type");
    // A NULL operand at run time fails the expression (Java's NullPointerException).
    assert!(try_eval(&add(col("N"), int(1))).is_err());
    assert!(try_eval(&neg(col("N"))).is_err());
}

// ---------------------------------------------------------------------------------------
// Comparisons and logic

#[test]
fn comparisons_across_types() {
    use BinaryOp::*;
    let t = Value::Boolean(true);
    let f = Value::Boolean(false);
    let cases: Vec<(Expr, Value)> = vec![
        (eq(col("A"), int(10)), t.clone()),
        (bin(NotEq, col("A"), int(10)), f.clone()),
        (bin(Lt, col("A"), col("B")), t.clone()),
        (bin(LtEq, col("B"), int(20)), t.clone()),
        (bin(Gt, col("D"), int(1)), t.clone()),
        (bin(GtEq, col("D"), dbl(1.5)), t.clone()),
        (eq(col("E"), dec("1.20")), t.clone()),
        (bin(Lt, col("E"), dec("1.21")), t.clone()),
        (eq(col("E"), col("D")), f.clone()),
        (bin(Lt, col("E"), col("D")), t.clone()),
        (eq(col("A"), dbl(10.0)), t.clone()),
        (eq(col("S"), s("foo")), t.clone()),
        (bin(Lt, s("Foo"), s("foo")), t.clone()),
        (bin(Gt, s("goo"), s("foo")), t.clone()),
        (eq(col("F"), b(true)), t.clone()),
        (eq(col("ARR"), arr(vec![int(1), int(2), int(3)])), t.clone()),
        (bin(NotEq, col("ARR"), arr(vec![int(1)])), t.clone()),
        (
            eq(col("M"), map(vec![(s("a"), int(1)), (s("b"), int(2))])),
            t.clone(),
        ),
        (
            eq(col("ST"), st(vec![("ID", int(7)), ("NAME", s("x"))])),
            t.clone(),
        ),
        (
            eq(col("ST"), st(vec![("ID", int(7)), ("NAME", s("y"))])),
            f.clone(),
        ),
        (bin(Gt, col("TS"), s("1970-01-01T00:00:00.005")), t.clone()),
        (eq(col("TS"), s("1970-01-01T00:00:00.010")), t.clone()),
        (eq(col("DT"), s("1970-01-11")), t.clone()),
        (bin(Gt, col("DT"), col("TS")), t.clone()),
        (eq(col("TM"), s("00:00:05")), t.clone()),
        (bin(Lt, s("00:00:04"), col("TM")), t.clone()),
        // Any NULL operand: FALSE, not NULL.
        (eq(col("N"), int(1)), f.clone()),
        (bin(NotEq, col("N"), int(1)), f.clone()),
        (bin(Lt, col("NS"), s("x")), f.clone()),
        (not(eq(col("N"), int(1))), t.clone()),
    ];
    for (e, v) in cases {
        assert_eq!(eval(&e), v, "{}", format_expr(&e));
    }
    // Java orders strings by UTF-16 code units: U+FFFF sorts after U+10000.
    assert_eq!(eval(&bin(Gt, s("\u{FFFF}"), s("\u{10000}"))), t);
    assert_eq!(eval(&bin(Lt, s("a\u{10000}"), s("a\u{10001}"))), t);
    // Java's double comparisons: NaN equals nothing, and is not different either.
    let nan = bin(BinaryOp::Divide, dbl(0.0), dbl(0.0));
    assert_eq!(eval(&eq(nan.clone(), nan.clone())), f);
    assert_eq!(eval(&bin(NotEq, nan.clone(), nan)), f);
}

#[test]
fn comparison_type_errors() {
    let (pos, m) = compile_error(&at(bin(BinaryOp::GtEq, col("A"), s("not an int")), 30));
    assert_eq!(
        m,
        "Cannot compare A (INTEGER) to 'not an int' (STRING) with GREATER_THAN_OR_EQUAL."
    );
    assert_eq!(pos, Some(p(30)));
    let (_, m) = compile_error(&bin(BinaryOp::Lt, col("ARR"), col("ARR")));
    assert_eq!(
        m,
        "Cannot compare ARR (ARRAY<INTEGER>) to ARR (ARRAY<INTEGER>) with LESS_THAN."
    );
    assert_error_contains(
        &bin(BinaryOp::Lt, col("ST"), col("ST")),
        "(STRUCT<`ID` INTEGER, `NAME` STRING>) with LESS_THAN",
    );
    assert_error_contains(&bin(BinaryOp::Lt, col("F"), b(true)), "with LESS_THAN");
    let (_, m) = compile_error(&bin(BinaryOp::NotEq, null(), null()));
    assert!(
        m.starts_with("Comparison with NULL not supported: NULL <> NULL"),
        "{m}"
    );
    assert_error_contains(&eq(col("A"), null()), "NULL not supported: INTEGER = NULL");
    assert_error_contains(&eq(col("TM"), col("TS")), "with EQUAL");
    assert_error_contains(&eq(col("A"), col("TS")), "with EQUAL");
}

#[test]
fn logic_follows_java_evaluation() {
    use BinaryOp::*;
    let t = Value::Boolean(true);
    let f = Value::Boolean(false);
    assert_eq!(eval(&bin(And, b(true), b(false))), f);
    assert_eq!(eval(&bin(Or, b(false), b(true))), t);
    assert_eq!(eval(&bin(Or, b(true), bin(And, b(false), b(true)))), t);
    assert_eq!(eval(&not(b(false))), t);
    assert_eq!(eval(&bin(And, not(b(false)), not(b(false)))), t);
    // The left side decides without looking at a NULL on the right.
    let null_bool = cast_to(null(), TypeExpr::Boolean);
    assert_eq!(eval(&bin(And, b(false), null_bool.clone())), f);
    assert_eq!(eval(&bin(Or, b(true), null_bool.clone())), t);
    // Otherwise a NULL boolean fails, as Java's unboxing does.
    assert!(try_eval(&bin(And, b(true), null_bool.clone())).is_err());
    assert!(try_eval(&bin(Or, null_bool.clone(), b(true))).is_err());
    assert!(try_eval(&not(null_bool)).is_err());
    assert_error_contains(
        &bin(And, int(1), b(true)),
        "Logical binary expects two boolean values.  Actual INTEGER and BOOLEAN",
    );
    assert_error_contains(&not(int(1)), "Not expression expects a boolean value");
}

#[test]
fn null_predicates() {
    let t = Value::Boolean(true);
    let f = Value::Boolean(false);
    let cases: Vec<(Expr, Value)> = vec![
        (is_null(col("N"), false), t.clone()),
        (is_null(col("A"), false), f.clone()),
        (is_null(col("A"), true), t.clone()),
        (is_null(null(), false), t.clone()),
        (distinct(col("A"), int(10), false), f.clone()),
        (distinct(col("A"), int(11), false), t.clone()),
        (distinct(col("N"), int(1), false), t.clone()),
        (distinct(col("N"), col("N"), false), f.clone()),
        (distinct(col("N"), col("N"), true), t.clone()),
        (distinct(col("A"), int(10), true), t.clone()),
        (
            distinct(col("ARR"), arr(vec![int(1), int(2), int(3)]), false),
            f.clone(),
        ),
        (distinct(col("E"), dec("1.20"), false), f.clone()),
        (distinct(col("NS"), s("x"), true), f.clone()),
    ];
    for (e, v) in cases {
        assert_eq!(eval(&e), v, "{}", format_expr(&e));
    }
}

#[test]
fn between_predicates() {
    let t = Value::Boolean(true);
    let f = Value::Boolean(false);
    let cases: Vec<(Expr, Value)> = vec![
        (between(col("A"), int(2), int(10), false), t.clone()),
        (between(col("A"), int(11), int(12), false), f.clone()),
        (between(col("A"), int(11), int(12), true), t.clone()),
        (between(col("D"), int(1), dec("1.5"), false), t.clone()),
        (between(col("S"), s("b"), s("g"), false), t.clone()),
        (between(col("N"), int(1), int(2), false), f.clone()),
        (between(col("N"), int(1), int(2), true), t.clone()),
        (between(col("A"), col("N"), int(20), false), f.clone()),
        (
            between(
                col("TS"),
                s("1970-01-01T00:00:00.005"),
                s("1970-01-01T00:00:00.010"),
                false,
            ),
            t.clone(),
        ),
    ];
    for (e, v) in cases {
        assert_eq!(eval(&e), v, "{}", format_expr(&e));
    }
    assert_error_contains(&between(col("A"), s("a"), int(1), false), "Cannot compare");
}

// ---------------------------------------------------------------------------------------
// IN

#[test]
fn in_lists_coerce_to_a_common_type() {
    let t = Value::Boolean(true);
    let f = Value::Boolean(false);
    // in.json "int - valid": VAL0 IN (1, 2.0, 3.00, '4.000', 5.10, ...)
    let list = || {
        vec![
            int(1),
            dec("2.0"),
            dec("3.00"),
            s("4.000"),
            dec("5.10"),
            col("B"),
            col("D"),
        ]
    };
    let env = env();
    let c = compile_in(&in_list(col("A"), list(), false), &env).expect("compiles");
    let mut r = row();
    for (a, expected) in [
        (1, true),
        (2, true),
        (3, true),
        (4, true),
        (5, false),
        (20, true),
        (7, false),
    ] {
        r[0] = Value::Int(a);
        assert_eq!(c.eval(&r), Ok(Value::Boolean(expected)), "A = {a}");
    }
    let cases: Vec<(Expr, Value)> = vec![
        (
            in_list(col("A"), vec![int(11), null(), col("N")], false),
            f.clone(),
        ),
        (
            in_list(col("A"), vec![int(11), null(), int(10)], false),
            t.clone(),
        ),
        (in_list(col("N"), vec![int(11), null()], false), f.clone()),
        // ksqlDB's NOT IN is NOT(IN), and IN of NULL is FALSE.
        (in_list(col("N"), vec![int(11)], true), t.clone()),
        (in_list(col("A"), vec![int(11), int(20)], true), t.clone()),
        (in_list(col("F"), vec![s("TrUe")], false), t.clone()),
        (in_list(col("F"), vec![s("Y")], false), t.clone()),
        (in_list(col("F"), vec![s("no")], false), f.clone()),
        (
            in_list(col("S"), vec![b(true), int(10), s("foo")], false),
            t.clone(),
        ),
        (in_list(s("10.30"), vec![dec("10.30")], false), t.clone()),
        (in_list(s("10.3"), vec![dec("10.30")], false), f.clone()),
        (in_list(s("true"), vec![b(true)], false), t.clone()),
        (in_list(col("A"), vec![s("2147483648")], false), f.clone()),
        (
            in_list(col("BARR"), vec![arr(vec![int(1), int(2)])], false),
            t.clone(),
        ),
        (
            in_list(col("BARR"), vec![arr(vec![s("1"), int(2)])], false),
            t.clone(),
        ),
        (in_list(col("ARR"), vec![col("BARR")], false), f.clone()),
        (
            in_list(
                col("M"),
                vec![map(vec![(s("b"), int(2)), (s("a"), int(1))])],
                false,
            ),
            t.clone(),
        ),
        (
            in_list(
                col("ST"),
                vec![st(vec![("NAME", s("x")), ("ID", s("7"))])],
                false,
            ),
            t.clone(),
        ),
        (
            in_list(col("ST"), vec![st(vec![("ID", int(7))])], false),
            f.clone(),
        ),
        (
            in_list(
                col("ST"),
                vec![st(vec![("ID", int(7)), ("NAME", s("x")), ("X", int(1))])],
                false,
            ),
            f.clone(),
        ),
    ];
    for (e, v) in cases {
        assert_eq!(eval(&e), v, "{}", format_expr(&e));
    }
}

#[test]
fn in_list_errors() {
    let (_, m) = compile_error(&in_list(col("F"), vec![b(true), s("Not a boolean")], false));
    assert_eq!(
        m,
        "invalid input syntax for type BOOLEAN: \"Not a boolean\"."
    );
    let (_, m) = compile_error(&in_list(col("F"), vec![b(true), int(10)], false));
    assert_eq!(
        m,
        "operator does not exist: BOOLEAN = INTEGER (10)\nHint: You might need to add explicit type casts."
    );
    assert_error_contains(
        &in_list(col("A"), vec![int(10), s("10 - not a number")], false),
        "invalid input syntax for type INTEGER: \"10 - not a number\".",
    );
    assert_error_contains(
        &in_list(col("A"), vec![int(10), col("S")], false),
        "operator does not exist: INTEGER = STRING (S)",
    );
    assert_error_contains(
        &in_list(col("E"), vec![int(10), b(true)], false),
        "operator does not exist: DECIMAL(13, 3) = BOOLEAN (true)",
    );
    assert_error_contains(
        &in_list(col("S"), vec![int(10), col("D")], false),
        "operator does not exist: STRING = DOUBLE (D)",
    );
    assert_error_contains(
        &in_list(col("BARR"), vec![col("BARR"), arr(vec![col("F")])], false),
        "operator does not exist: ARRAY<BIGINT> = ARRAY<BOOLEAN> (ARRAY[F])",
    );
    assert_error_contains(
        &in_list(col("BARR"), vec![arr(vec![s("10"), s("not 10")])], false),
        "invalid input syntax for type BIGINT: \"not 10\"",
    );
    assert_error_contains(
        &in_list(col("M"), vec![map(vec![(s("a"), col("F"))])], false),
        "operator does not exist: MAP<STRING, INTEGER> = MAP<STRING, BOOLEAN> (MAP('a':=F))",
    );
    assert_error_contains(
        &in_list(col("NST"), vec![st(vec![("ID", col("F"))])], false),
        "(STRUCT(ID:=F))",
    );
}

// ---------------------------------------------------------------------------------------
// LIKE and CASE

#[test]
fn like_patterns() {
    let t = Value::Boolean(true);
    let f = Value::Boolean(false);
    assert_eq!(eval(&like(col("S"), s("%o%"), None)), t);
    assert_eq!(eval(&like(col("S"), s("f_o"), None)), t);
    assert_eq!(eval(&like(col("S"), s("f_"), None)), f);
    assert_eq!(eval(&like(s("%"), s("!%"), Some('!'))), t);
    assert_eq!(eval(&like(s("x"), s("!%"), Some('!'))), f);
    assert_eq!(
        eval(&ex(ExprKind::Like {
            expr: Box::new(col("S")),
            pattern: Box::new(s("b%")),
            escape: None,
            negated: true,
        })),
        t
    );
    assert!(try_eval(&like(col("NS"), s("%"), None)).is_err());
    assert!(try_eval(&like(col("S"), s("ab!"), Some('!'))).is_err());
    assert_error_contains(&like(col("A"), s("%"), None), "LIKE");
}

#[test]
fn case_expressions() {
    use BinaryOp::*;
    let searched = case(
        None,
        vec![
            (bin(Lt, col("D"), dec("1.0")), s("small")),
            (bin(Lt, col("D"), dec("4.0")), s("medium")),
        ],
        Some(s("large")),
    );
    assert_eq!(eval(&searched), vs("medium"));
    assert_eq!(ty(&searched), Some(SqlType::String));
    // No ELSE: NULL; a NULL THEN takes its type from the others.
    let no_else = case(None, vec![(bin(Gt, col("D"), int(4)), s("x"))], None);
    assert_eq!(eval(&no_else), Value::Null);
    let null_then = case(
        None,
        vec![(b(true), null()), (b(false), s("m"))],
        Some(s("l")),
    );
    assert_eq!(ty(&null_then), Some(SqlType::String));
    assert_eq!(eval(&null_then), Value::Null);
    // A NULL column compared in WHEN is FALSE, so ELSE.
    let nullish = case(
        None,
        vec![(bin(Gt, col("N"), int(2)), s("foo"))],
        Some(s("default")),
    );
    assert_eq!(eval(&nullish), vs("default"));
    // Simple CASE.
    let simple = case(
        Some(col("A")),
        vec![(int(1), s("one")), (int(10), s("ten"))],
        Some(s("other")),
    );
    assert_eq!(eval(&simple), vs("ten"));
    // A NULL boolean WHEN fails (ksqlDB unboxes it).
    let bad = case(
        None,
        vec![(cast_to(null(), TypeExpr::Boolean), int(1))],
        None,
    );
    assert!(try_eval(&bad).is_err());
}

#[test]
fn case_is_lazy() {
    let env = env();
    let e = case(
        None,
        vec![
            (b(true), call("COUNTED", vec![int(100)])),
            (b(true), call("COUNTED", vec![int(200)])),
        ],
        Some(call("COUNTED", vec![int(300)])),
    );
    let c = compile_in(&e, &env).expect("compiles");
    assert_eq!(c.eval(&row()), Ok(Value::Int(100)));
    assert_eq!(env.counter.load(Ordering::SeqCst), 1);
}

#[test]
fn case_errors() {
    let (_, m) = compile_error(&case(None, vec![(b(true), null())], Some(null())));
    assert_eq!(
        m,
        "Invalid Case expression. All case branches have NULL type"
    );
    assert_error_contains(
        &case(None, vec![(b(true), int(1)), (b(false), s("x"))], None),
        "Type for all 'THEN' clauses should be the same.",
    );
    assert_error_contains(
        &case(None, vec![(b(true), int(1))], Some(dec("2.5"))),
        "Type for the default clause should be the same as for 'THEN' clauses.",
    );
    assert_error_contains(
        &case(None, vec![(int(1), int(1))], None),
        "WHEN operand type should be boolean.",
    );
}

// ---------------------------------------------------------------------------------------
// CAST

#[test]
fn casts_of_values() {
    use SqlType as T;
    let cases: Vec<(Value, SqlType, Result<Value, ()>)> = vec![
        (Value::Null, T::Int, Ok(Value::Null)),
        (
            Value::Bigint(2_147_483_648),
            T::Int,
            Ok(Value::Int(-2_147_483_648)),
        ),
        (Value::Double(1.2), T::Int, Ok(Value::Int(1))),
        (Value::Double(-1.9), T::Bigint, Ok(Value::Bigint(-1))),
        (d("10.01"), T::Int, Ok(Value::Int(10))),
        (d("10.01"), T::Double, Ok(Value::Double(10.01))),
        (d("0.00"), T::String, Ok(vs("0.00"))),
        (Value::Double(10.3), T::String, Ok(vs("10.3"))),
        (Value::Double(1e21), T::String, Ok(vs("1.0E21"))),
        (Value::Int(-1), T::String, Ok(vs("-1"))),
        (Value::Boolean(true), T::String, Ok(vs("true"))),
        (vs(" 42 "), T::Int, Ok(Value::Int(42))),
        (vs("2147483648"), T::Int, Err(())),
        (vs("x"), T::Int, Err(())),
        (vs("10.5"), T::Double, Ok(Value::Double(10.5))),
        (vs("tr"), T::Boolean, Ok(Value::Boolean(true))),
        (vs("YES"), T::Boolean, Ok(Value::Boolean(true))),
        (vs("abc"), T::Boolean, Ok(Value::Boolean(false))),
        (Value::Int(1), T::Decimal(2, 1), Ok(d("1.0"))),
        (Value::Int(-1), T::Decimal(2, 1), Ok(d("-1.0"))),
        (Value::Int(10), T::Decimal(2, 1), Err(())),
        (Value::Double(0.99), T::Decimal(2, 1), Ok(d("1.0"))),
        (Value::Double(0.01), T::Decimal(2, 1), Ok(d("0.0"))),
        (Value::Double(0.1), T::Decimal(2, 1), Ok(d("0.1"))),
        (vs("0.99"), T::Decimal(2, 1), Ok(d("1.0"))),
        (vs("0.01"), T::Decimal(2, 1), Ok(d("0.0"))),
        (d("10.12"), T::Decimal(5, 3), Ok(d("10.120"))),
        (d("1.00"), T::Decimal(5, 3), Ok(d("1.000"))),
        (d("1.25"), T::Decimal(2, 1), Ok(d("1.3"))),
        (d("-1.25"), T::Decimal(2, 1), Ok(d("-1.3"))),
        (
            vs("2022-04-28T21:44:47.943"),
            T::Timestamp,
            Ok(Value::Timestamp(1_651_182_287_943)),
        ),
        (
            vs("2022-04-28T21:44:47.943Z"),
            T::Timestamp,
            Ok(Value::Timestamp(1_651_182_287_943)),
        ),
        (vs("foo"), T::Timestamp, Err(())),
        (
            Value::Timestamp(10),
            T::String,
            Ok(vs("1970-01-01T00:00:00.010")),
        ),
        (Value::Date(10), T::String, Ok(vs("1970-01-11"))),
        (Value::Date(-1), T::String, Ok(vs("1969-12-31"))),
        (vs("1970-01"), T::Date, Ok(Value::Date(0))),
        (Value::Timestamp(-1), T::Date, Ok(Value::Date(-1))),
        (Value::Timestamp(86_400_001), T::Date, Ok(Value::Date(1))),
        (
            Value::Date(1),
            T::Timestamp,
            Ok(Value::Timestamp(86_400_000)),
        ),
        (Value::Time(5000), T::String, Ok(vs("00:00:05"))),
        (vs("00:01"), T::Time, Ok(Value::Time(60_000))),
        (
            Value::Timestamp(86_398_000 + 86_400_000),
            T::Time,
            Ok(Value::Time(86_398_000)),
        ),
        (
            vs("AQID"),
            T::Bytes,
            Ok(Value::Bytes(bytes::Bytes::from_static(&[1, 2, 3]))),
        ),
        (
            Value::Array(vec![Value::Int(1), Value::Int(3)]),
            T::String,
            Ok(vs("[1, 3]")),
        ),
        (
            Value::Map(vec![(vs("this"), Value::Int(1))]),
            T::String,
            Ok(vs("{this=1}")),
        ),
        (
            Value::Struct(vec![
                ("F0".into(), Value::Int(1)),
                ("f1".into(), Value::Int(3)),
            ]),
            T::String,
            Ok(vs("Struct{F0=1,f1=3}")),
        ),
        (
            Value::Array(vec![
                Value::Bigint(1),
                Value::Bigint(3),
                Value::Bigint(2_147_483_648),
            ]),
            T::array(T::Int),
            Ok(Value::Array(vec![
                Value::Int(1),
                Value::Int(3),
                Value::Int(-2_147_483_648),
            ])),
        ),
        (
            Value::Array(vec![Value::Bigint(1), Value::Null]),
            T::array(T::String),
            Ok(Value::Array(vec![vs("1"), Value::Null])),
        ),
        (
            Value::Map(vec![(vs("k1"), Value::Map(vec![(vs("k2"), vs("10"))]))]),
            T::map(T::String, T::map(T::String, T::Int)),
            Ok(Value::Map(vec![(
                vs("k1"),
                Value::Map(vec![(vs("k2"), Value::Int(10))]),
            )])),
        ),
        (
            Value::Struct(vec![
                ("F0".into(), Value::Bigint(1)),
                ("F1".into(), vs("3")),
            ]),
            T::Struct(vec![("F0".into(), T::String), ("F3".into(), T::String)]),
            Ok(Value::Struct(vec![
                ("F0".into(), vs("1")),
                ("F3".into(), Value::Null),
            ])),
        ),
    ];
    for (v, t, expected) in cases {
        let got = cast(&v, &t);
        match expected {
            Ok(e) => assert_eq!(got, Ok(e), "CAST({v:?} AS {t})"),
            Err(()) => assert!(got.is_err(), "CAST({v:?} AS {t}) = {got:?}"),
        }
    }
}

#[test]
fn cast_expressions() {
    assert_eq!(ty(&cast_to(null(), TypeExpr::Int)), Some(SqlType::Int));
    assert_eq!(eval(&cast_to(null(), TypeExpr::Int)), Value::Null);
    assert_eq!(eval(&cast_to(col("N"), TypeExpr::String)), Value::Null);
    assert_eq!(
        eval(&cast_to(
            bin(BinaryOp::Minus, col("A"), int(11)),
            TypeExpr::Bigint
        )),
        Value::Bigint(-1)
    );
    assert_eq!(
        eval(&cast_to(
            col("ARR"),
            TypeExpr::Array(Box::new(TypeExpr::String))
        )),
        Value::Array(vec![vs("1"), vs("2"), vs("3")])
    );
    // A failed cast is NULL, not a failure of the whole expression.
    assert_eq!(eval(&cast_to(s("x"), TypeExpr::Int)), Value::Null);
    assert_eq!(
        eval(&call(
            "IFNULL1",
            vec![cast_to(s("x"), TypeExpr::Int), int(5)]
        )),
        Value::Int(5)
    );
    let (_, m) = compile_error(&cast_to(col("S"), TypeExpr::Array(Box::new(TypeExpr::Int))));
    assert_eq!(m, "Cast of STRING to ARRAY<INTEGER> is not supported");
    assert_error_contains(
        &cast_to(
            col("S"),
            TypeExpr::Struct(vec![
                (Ident::new("F0"), TypeExpr::String),
                (Ident::new("F1"), TypeExpr::Int),
            ]),
        ),
        "Cast of STRING to STRUCT<`F0` STRING, `F1` INTEGER> is not supported",
    );
    assert_error_contains(
        &cast_to(col("F"), TypeExpr::Int),
        "Cast of BOOLEAN to INTEGER",
    );
    assert!(cast_supported(&SqlType::Date, &SqlType::Timestamp));
    assert!(!cast_supported(&SqlType::Bytes, &SqlType::String));
    assert!(!cast_supported(&SqlType::Time, &SqlType::Timestamp));
}

#[test]
fn failed_casts_are_logged() {
    let env = env();
    let c = compile_in(&cast_to(col("S"), TypeExpr::Int), &env).expect("compiles");
    let mut log = Vec::new();
    assert_eq!(c.eval_logged(&row(), &mut log), Ok(Value::Null));
    assert_eq!(log.len(), 1, "{log:?}");
}

// ---------------------------------------------------------------------------------------
// Structured data

#[test]
fn dereference_and_subscript() {
    let cases: Vec<(Expr, Value)> = vec![
        (deref(col("ST"), "ID"), Value::Int(7)),
        (deref(col("NST"), "ID"), Value::Null),
        (sub(col("ARR"), int(1)), Value::Int(1)),
        (sub(col("ARR"), int(3)), Value::Int(3)),
        (sub(col("ARR"), int(-1)), Value::Int(3)),
        (sub(col("ARR"), int(-3)), Value::Int(1)),
        (sub(col("ARR"), int(4)), Value::Null),
        (sub(col("ARR"), int(-4)), Value::Null),
        (sub(col("ARR"), int(0)), Value::Null),
        (sub(col("M"), s("b")), Value::Int(2)),
        (sub(col("M"), s("missing")), Value::Null),
        (
            sub(
                sub(
                    arr(vec![arr(vec![int(0), int(1)]), arr(vec![int(2)])]),
                    int(1),
                ),
                int(2),
            ),
            Value::Int(1),
        ),
        (
            deref(st(vec![("A", st(vec![("B", int(5))]))]), "A"),
            Value::Struct(vec![("B".into(), Value::Int(5))]),
        ),
        (
            deref(deref(st(vec![("A", st(vec![("B", int(5))]))]), "A"), "B"),
            Value::Int(5),
        ),
    ];
    for (e, v) in cases {
        assert_eq!(eval(&e), v, "{}", format_expr(&e));
    }
    assert!(try_eval(&sub(col("ARR"), col("N"))).is_err());
    assert_eq!(ty(&sub(col("M"), s("a"))), Some(SqlType::Int));
    assert_error_contains(
        &deref(col("ST"), "NOPE"),
        "Could not find field 'NOPE' in 'ST'.",
    );
    assert_error_contains(&deref(col("A"), "X"), "Expected STRUCT type, got: INTEGER");
    assert_error_contains(
        &sub(col("ST"), s("ID")),
        "Subscript expression (ST['ID']) do not apply to STRUCT<`ID` INTEGER, `NAME` STRING>. Use the dereference operator for STRUCTS: ST->ID",
    );
    assert_error_contains(&sub(col("ARR"), s("x")), "Array index must be an INTEGER");
}

#[test]
fn constructors() {
    assert_eq!(
        eval(&arr(vec![col("A"), col("N"), int(3)])),
        Value::Array(vec![Value::Int(10), Value::Null, Value::Int(3)])
    );
    // create_array.json: ARRAY[null, 10, '2e1', a, b]
    let mixed = arr(vec![null(), int(10), s("2e1"), col("A"), col("B")]);
    assert_eq!(ty(&mixed), Some(SqlType::array(SqlType::Decimal(19, 0))));
    assert_eq!(
        eval(&mixed),
        Value::Array(vec![Value::Null, d("10"), d("20"), d("10"), d("20")])
    );
    let structs = arr(vec![
        null(),
        st(vec![("X", col("A")), ("Y", col("B"))]),
        st(vec![("Y", col("A")), ("Z", col("B"))]),
    ]);
    match ty(&structs) {
        Some(SqlType::Array(inner)) => match *inner {
            SqlType::Struct(fields) => {
                let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, ["Y", "Z", "X"]);
                assert_eq!(fields[0].1, SqlType::Bigint);
            }
            t => panic!("{t}"),
        },
        t => panic!("{t:?}"),
    }
    match eval(&structs) {
        Value::Array(items) => {
            assert_eq!(items[0], Value::Null);
            assert_eq!(
                items[2],
                Value::Struct(vec![
                    ("Y".into(), Value::Bigint(10)),
                    ("Z".into(), Value::Bigint(20)),
                    ("X".into(), Value::Null),
                ])
            );
        }
        v => panic!("{v:?}"),
    }
    // create_map.json: MAP(k1:=v1, k2:='true', 10:='no')
    let m = map(vec![
        (col("S"), col("F")),
        (s("k2"), s("true")),
        (int(10), s("no")),
    ]);
    assert_eq!(
        ty(&m),
        Some(SqlType::map(SqlType::String, SqlType::Boolean))
    );
    assert_eq!(
        eval(&m),
        Value::Map(vec![
            (vs("foo"), Value::Boolean(true)),
            (vs("k2"), Value::Boolean(true)),
            (vs("10"), Value::Boolean(false)),
        ])
    );
    assert_eq!(
        eval(&map(vec![(col("S"), col("A")), (null(), col("A"))])),
        Value::Map(vec![
            (vs("foo"), Value::Int(10)),
            (Value::Null, Value::Int(10))
        ])
    );
    assert_eq!(
        eval(&st(vec![
            ("F1", col("S")),
            ("f2", call("UPPER1", vec![col("S")]))
        ])),
        Value::Struct(vec![("F1".into(), vs("foo")), ("f2".into(), vs("FOO"))])
    );
    assert_eq!(eval(&st(vec![])), Value::Struct(vec![]));
    // A failing element is NULL, the rest survives.
    assert_eq!(
        eval(&arr(vec![int(44), call("FAIL", vec![])])),
        Value::Array(vec![Value::Int(44), Value::Null])
    );
}

#[test]
fn constructor_errors() {
    assert_error_contains(&arr(vec![]), "Array constructor cannot be empty.");
    assert_error_contains(
        &arr(vec![null()]),
        "Cannot construct an array with all NULL elements",
    );
    assert_error_contains(
        &arr(vec![int(1), s("not a number")]),
        "invalid input syntax for type INTEGER: \"not a number\"",
    );
    assert_error_contains(&map(vec![]), "Map constructor cannot be empty.");
    assert_error_contains(
        &map(vec![(null(), int(1))]),
        "Cannot construct a map with all NULL keys",
    );
    assert_error_contains(
        &map(vec![(s("a"), null()), (s("b"), null())]),
        "Cannot construct a map with all NULL values",
    );
    assert_error_contains(
        &map(vec![(col("S"), col("A")), (s("x"), s("hello"))]),
        "invalid input syntax for type INTEGER: \"hello\".",
    );
    assert_error_contains(
        &st(vec![("FOO", col("S")), ("FOO", col("S"))]),
        "Duplicate field names found in STRUCT",
    );
}

// ---------------------------------------------------------------------------------------
// Functions

#[test]
fn function_calls() {
    assert_eq!(eval(&call("UPPER1", vec![col("S")])), vs("FOO"));
    assert_eq!(eval(&call("upper1", vec![col("S")])), vs("FOO"));
    // null_on_null: not even called.
    assert_eq!(eval(&call("UPPER1", vec![col("NS")])), Value::Null);
    // A failing function fails the expression...
    assert_eq!(try_eval(&call("FAIL", vec![])), Err("boom".into()));
    // ...except as the argument of another function, where it is NULL.
    assert_eq!(
        eval(&call("IFNULL1", vec![call("FAIL", vec![]), int(3)])),
        Value::Int(3)
    );
    let (pos, m) = compile_error(&call("WONT_FIND_ME", vec![]));
    assert_eq!(m, "Can't find any functions with the name 'WONT_FIND_ME'");
    assert_eq!(pos, Some(p(1)));
    let (pos, m) = compile_error(&at(call("NEEDS_ONE", vec![int(1), int(2)]), 9));
    assert_eq!(
        m,
        "Function 'NEEDS_ONE' does not accept parameters (2 args)."
    );
    assert_eq!(pos, Some(p(9)));
}

#[test]
fn arguments_are_bound_with_types_and_literals() {
    let env = env();
    let e = call(
        "ECHO",
        vec![
            col("A"),
            s("yyyy"),
            null(),
            add(int(1), int(2)),
            call("ECHO", vec![s("x")]),
        ],
    );
    compile_in(&e, &env).expect("compiles");
    let seen = env.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen,
        vec![
            Arg::typed(SqlType::Int),
            Arg {
                ty: Some(SqlType::String),
                literal: Some(vs("yyyy")),
            },
            Arg {
                ty: None,
                literal: Some(Value::Null),
            },
            Arg {
                ty: Some(SqlType::Int),
                literal: Some(Value::Int(3)),
            },
            Arg::typed(SqlType::String),
        ]
    );
}

#[test]
fn time_units_are_string_arguments() {
    let mut env = env();
    let seen = env.seen.clone();
    env.registry.register_scalar(Arc::new(TestFn {
        name: "DATEADD",
        ret: SqlType::Date,
        null_on_null: true,
        body: Arc::new(|a| Ok(a.first().cloned().unwrap_or(Value::Null))),
        seen,
    }));
    let e = call("DATEADD", vec![col("days"), int(1), col("DT")]);
    let c = compile_in(&e, &env).expect("compiles");
    let seen = env.seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        seen[0],
        Arg {
            ty: Some(SqlType::String),
            literal: Some(vs("DAYS")),
        }
    );
    assert_eq!(c.eval(&row()), Ok(vs("DAYS")));
    assert_eq!(referenced_columns(&e), vec![(None, "DT".to_string())]);
}

#[test]
fn aggregates_are_rejected_here() {
    use crate::functions::{AggregateUdf, BoundAggregate};
    struct Sum;
    impl AggregateUdf for Sum {
        fn name(&self) -> &str {
            "SUM"
        }
        fn description(&self) -> &str {
            ""
        }
        fn signatures(&self) -> Vec<String> {
            Vec::new()
        }
        fn bind(&self, _: &[Arg]) -> Result<Arc<dyn BoundAggregate>, String> {
            Err("unused".into())
        }
    }
    let mut env = env();
    env.registry.register_aggregate(Arc::new(Sum));
    match compile_in(&call("SUM", vec![col("A")]), &env) {
        Err(SqlError::Analysis { message, .. }) => {
            assert!(
                message.starts_with("Aggregate function 'SUM' cannot be used here"),
                "{message}"
            )
        }
        _ => panic!("expected an error"),
    }
}

#[test]
fn concat_operator() {
    let e = bin(BinaryOp::Concat, col("S"), s("bar"));
    assert_eq!(eval(&e), vs("foobar"));
    assert_eq!(eval(&bin(BinaryOp::Concat, col("NS"), s("bar"))), vs("bar"));
}

// ---------------------------------------------------------------------------------------
// Lambdas

#[test]
fn lambda_functions() {
    use BinaryOp::*;
    let cases: Vec<(Expr, Value)> = vec![
        (
            call(
                "TRANSFORM",
                vec![col("ARR"), lambda(&["X"], add(col("X"), int(1)))],
            ),
            Value::Array(vec![Value::Int(2), Value::Int(3), Value::Int(4)]),
        ),
        (
            call(
                "TRANSFORM",
                vec![
                    col("M"),
                    lambda(&["K", "V"], add(col("K"), s("_test"))),
                    lambda(&["K", "V"], bin(Multiply, col("V"), int(10))),
                ],
            ),
            Value::Map(vec![
                (vs("a_test"), Value::Int(10)),
                (vs("b_test"), Value::Int(20)),
            ]),
        ),
        (
            call(
                "FILTER",
                vec![col("ARR"), lambda(&["X"], bin(Gt, col("X"), int(1)))],
            ),
            Value::Array(vec![Value::Int(2), Value::Int(3)]),
        ),
        (
            call(
                "FILTER",
                vec![col("M"), lambda(&["K", "V"], eq(col("K"), s("b")))],
            ),
            Value::Map(vec![(vs("b"), Value::Int(2))]),
        ),
        (
            call(
                "REDUCE",
                vec![
                    col("ARR"),
                    int(0),
                    lambda(&["S", "X"], add(col("S"), col("X"))),
                ],
            ),
            Value::Int(6),
        ),
        (
            call(
                "REDUCE",
                vec![
                    col("M"),
                    int(100),
                    lambda(&["S", "K", "V"], add(col("S"), col("V"))),
                ],
            ),
            Value::Int(103),
        ),
        // The column A is shadowed by nothing; X shadows nothing either; a lambda
        // parameter named like a column wins.
        (
            call(
                "TRANSFORM",
                vec![col("ARR"), lambda(&["A"], add(col("A"), col("B")))],
            ),
            Value::Array(vec![
                Value::Bigint(21),
                Value::Bigint(22),
                Value::Bigint(23),
            ]),
        ),
        // Nested lambdas see the outer parameter.
        (
            call(
                "TRANSFORM",
                vec![
                    arr(vec![col("ARR"), arr(vec![int(5)])]),
                    lambda(
                        &["XS"],
                        call(
                            "TRANSFORM",
                            vec![
                                col("XS"),
                                lambda(&["Y"], add(col("Y"), call("ARRAY_MIN1", vec![col("XS")]))),
                            ],
                        ),
                    ),
                ],
            ),
            Value::Array(vec![
                Value::Array(vec![Value::Int(2), Value::Int(3), Value::Int(4)]),
                Value::Array(vec![Value::Int(10)]),
            ]),
        ),
    ];
    for (e, v) in cases {
        assert_eq!(eval(&e), v, "{}", format_expr(&e));
    }
    // NULL collections and states.
    let null_arr = cast_to(null(), TypeExpr::Array(Box::new(TypeExpr::Int)));
    assert_eq!(
        eval(&call(
            "TRANSFORM",
            vec![null_arr.clone(), lambda(&["X"], col("X"))]
        )),
        Value::Null
    );
    assert_eq!(
        eval(&call(
            "REDUCE",
            vec![
                null_arr,
                int(5),
                lambda(&["S", "X"], add(col("S"), col("X")))
            ]
        )),
        Value::Int(5)
    );
    assert_eq!(
        eval(&call(
            "REDUCE",
            vec![
                col("ARR"),
                cast_to(null(), TypeExpr::Int),
                lambda(&["S", "X"], add(col("S"), col("X")))
            ]
        )),
        Value::Null
    );
    // A constant collection folds.
    let env = env();
    let c = compile_in(
        &call(
            "TRANSFORM",
            vec![arr(vec![int(1)]), lambda(&["X"], add(col("X"), int(1)))],
        ),
        &env,
    )
    .expect("compiles");
    assert_eq!(c.constant(), Some(Value::Array(vec![Value::Int(2)])));
}

#[test]
fn lambda_failures() {
    use BinaryOp::*;
    // transform-map.json: ARRAY_MIN of [] is NULL, NULL + 1 fails the whole TRANSFORM.
    let empty_min = call(
        "TRANSFORM",
        vec![
            map(vec![(
                s("q"),
                cast_to(null(), TypeExpr::Array(Box::new(TypeExpr::Int))),
            )]),
            lambda(&["K", "V"], add(col("K"), s("_test"))),
            lambda(&["K", "V"], add(call("ARRAY_MIN1", vec![col("V")]), int(1))),
        ],
    );
    assert!(try_eval(&empty_min).is_err());
    // Duplicate keys in the result.
    let dup = call(
        "TRANSFORM",
        vec![
            col("M"),
            lambda(&["K", "V"], s("same")),
            lambda(&["K", "V"], col("V")),
        ],
    );
    assert!(try_eval(&dup).is_err());
    // FILTER with a NULL verdict.
    let null_filter = call(
        "FILTER",
        vec![
            col("ARR"),
            lambda(&["X"], cast_to(null(), TypeExpr::Boolean)),
        ],
    );
    assert!(try_eval(&null_filter).is_err());
    assert_error_contains(
        &call(
            "FILTER",
            vec![col("ARR"), lambda(&["X"], add(col("X"), int(1)))],
        ),
        "must return BOOLEAN",
    );
    assert_error_contains(
        &call("TRANSFORM", vec![col("ARR"), lambda(&["X", "Y"], col("X"))]),
        "expects a lambda with 1 argument",
    );
    assert_error_contains(
        &call("TRANSFORM", vec![col("A"), lambda(&["X"], col("X"))]),
        "Function 'TRANSFORM' does not accept parameters (INTEGER, LAMBDA).",
    );
    assert_error_contains(
        &call(
            "REDUCE",
            vec![
                col("BARR"),
                int(0),
                lambda(&["S", "X"], add(col("S"), col("X"))),
            ],
        ),
        "must return the type of the initial state",
    );
    assert_error_contains(&lambda(&["X"], col("X")), "only allowed as an argument");
    assert_error_contains(
        &call("UPPER1", vec![lambda(&["X"], col("X"))]),
        "does not accept a lambda expression",
    );
    let _ = Gt;
}

// ---------------------------------------------------------------------------------------
// Types, constants, helpers

#[test]
fn resolve_types() {
    let env = env();
    assert_eq!(
        resolve_type(&TypeExpr::Custom("ADDRESS".into(), p(4)), &env.types),
        Ok(SqlType::Struct(vec![("CITY".into(), SqlType::String)]))
    );
    match resolve_type(&TypeExpr::Custom("NOPE".into(), p(4)), &env.types) {
        Err(SqlError::Analysis { pos, message }) => {
            assert_eq!(pos, Some(p(4)));
            assert_eq!(message, "Unknown type: NOPE");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        resolve_type(&TypeExpr::Decimal(38, 38), &env.types),
        Ok(SqlType::Decimal(38, 38))
    );
    assert!(resolve_type(&TypeExpr::Decimal(0, 0), &env.types).is_err());
    assert!(resolve_type(&TypeExpr::Decimal(39, 0), &env.types).is_err());
    assert!(resolve_type(&TypeExpr::Decimal(4, 5), &env.types).is_err());
    assert_eq!(
        resolve_type(
            &TypeExpr::Map(
                Box::new(TypeExpr::String),
                Box::new(TypeExpr::Array(Box::new(TypeExpr::Custom(
                    "ADDRESS".into(),
                    p(1)
                ))))
            ),
            &env.types
        ),
        Ok(SqlType::map(
            SqlType::String,
            SqlType::array(SqlType::Struct(vec![("CITY".into(), SqlType::String)]))
        ))
    );
}

#[test]
fn constants_fold() {
    let env = env();
    let c = compile_in(&add(int(12), int(4)), &env).expect("compiles");
    assert_eq!(c.constant(), Some(Value::Int(16)));
    assert!(!c.uses_columns());
    let c = compile_in(&add(col("A"), int(4)), &env).expect("compiles");
    assert_eq!(c.constant(), None);
    assert!(c.uses_columns());
    // Functions are evaluated by constant() but never folded at compile time.
    let c = compile_in(&call("COUNTED", vec![int(1)]), &env).expect("compiles");
    assert_eq!(env.counter.load(Ordering::SeqCst), 0);
    assert_eq!(c.constant(), Some(Value::Int(1)));
    assert_eq!(c.eval(&[]), Ok(Value::Int(1)));
    assert_eq!(env.counter.load(Ordering::SeqCst), 2);
    let c = compile_in(&call("FAIL", vec![]), &env).expect("compiles");
    assert_eq!(c.constant(), None);
    assert_eq!(c.try_constant(), Some(Err("boom".into())));
}

#[test]
fn predicates_match_only_true() {
    let env = env();
    let c = compile_in(&eq(col("A"), int(10)), &env).expect("compiles");
    assert_eq!(c.matches(&row()), Ok(true));
    let c = compile_in(&eq(col("N"), int(10)), &env).expect("compiles");
    assert_eq!(c.matches(&row()), Ok(false));
    let c = compile_in(&cast_to(null(), TypeExpr::Boolean), &env).expect("compiles");
    assert_eq!(c.matches(&row()), Ok(false));
}

#[test]
fn referenced_columns_and_names() {
    let e = add(
        qcol("L", "A"),
        call(
            "TRANSFORM",
            vec![col("ARR"), lambda(&["X"], add(col("X"), col("B")))],
        ),
    );
    assert_eq!(
        referenced_columns(&e),
        vec![
            (Some("L".to_string()), "A".to_string()),
            (None, "ARR".to_string()),
            (None, "B".to_string()),
        ]
    );
    assert_eq!(default_name(&col("A")), Some("A".into()));
    assert_eq!(default_name(&qcol("I", "FOO")), Some("FOO".into()));
    assert_eq!(
        default_name(&deref(sub(deref(col("A"), "B"), s("k")), "D")),
        Some("D".into())
    );
    assert_eq!(default_name(&sub(col("ARR"), int(1))), None);
    assert_eq!(default_name(&add(col("A"), int(1))), None);
}

#[test]
fn expressions_format_as_ksqldb_does() {
    assert_eq!(
        format_expr(&add(call("RANDOM", vec![]), dec("1.5"))),
        "(RANDOM() + 1.5)"
    );
    assert_eq!(format_expr(&eq(qcol("L", "A"), null())), "(L.A = null)");
    assert_eq!(
        format_expr(&map(vec![(s("a"), col("VAL1"))])),
        "MAP('a':=VAL1)"
    );
    assert_eq!(
        format_expr(&st(vec![("F0", col("VAL1"))])),
        "STRUCT(F0:=VAL1)"
    );
    assert_eq!(format_expr(&st(vec![("f0", int(1))])), "STRUCT(`f0`:=1)");
    assert_eq!(format_expr(&arr(vec![int(1), int(2)])), "ARRAY[1, 2]");
    assert_eq!(
        format_expr(&cast_to(qcol("T", "K"), TypeExpr::String)),
        "CAST(T.K AS STRING)"
    );
    assert_eq!(format_expr(&neg(neg(int(1)))), "- -1");
    assert_eq!(format_expr(&is_null(col("A"), true)), "(A IS NOT NULL)");
    assert_eq!(format_expr(&deref(col("A"), "b")), "A->`b`");
    assert_eq!(format_expr(&s("it's")), "'it''s'");
    assert_eq!(format_expr(&dbl(1500.0)), "1.5E3");
    assert_eq!(
        format_expr(&in_list(col("A"), vec![int(1), int(2)], true)),
        "(NOT (A IN (1, 2)))"
    );
}

#[test]
fn errors_point_at_the_failing_sub_expression() {
    let inner = at(bin(BinaryOp::Lt, col("F"), b(true)), 14);
    let (pos, m) = compile_error(&bin(BinaryOp::And, b(true), inner));
    assert_eq!(pos, Some(p(14)));
    assert!(m.ends_with("with LESS_THAN."), "{m}");
    let (pos, _) = compile_error(&add(int(1), at(col("NOPE"), 22)));
    assert_eq!(pos, Some(p(22)));
    let (pos, _) = compile_error(&call(
        "TRANSFORM",
        vec![col("ARR"), lambda(&["X"], at(col("Y"), 5))],
    ));
    assert_eq!(pos, Some(p(5)));
}

#[test]
fn evaluation_never_panics_on_short_rows() {
    let env = env();
    let c = compile_in(&add(col("B"), int(1)), &env).expect("compiles");
    assert!(c.eval(&[]).is_err());
    assert!(c.eval(&[Value::Int(1), vs("not a bigint")]).is_err());
}

/// A rough throughput check of a typical filter and projection (run with `--ignored`).
#[test]
#[ignore]
fn throughput() {
    use BinaryOp::*;
    let env = env();
    let filter = compile_in(
        &bin(
            And,
            bin(Gt, col("A"), int(5)),
            like(col("S"), s("f%"), None),
        ),
        &env,
    )
    .expect("compiles");
    let projection = [
        compile_in(&add(col("A"), col("B")), &env).expect("compiles"),
        compile_in(&call("UPPER1", vec![col("S")]), &env).expect("compiles"),
        compile_in(&deref(col("ST"), "NAME"), &env).expect("compiles"),
    ];
    let r = row();
    let n = 1_000_000;
    let start = std::time::Instant::now();
    let mut kept = 0usize;
    for _ in 0..n {
        if filter.matches(&r) == Ok(true) {
            kept += 1;
            for p in &projection {
                let _ = p.eval(&r);
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!("{kept} rows, {:.0} rows/s", n as f64 / secs);
}
