//! The syntax tree of the ksqlDB dialect, as the parser produces it. Identifiers are
//! already normalized: unquoted ones upper-cased, quoted ones (`` `x` `` or `"x"`) kept.

use std::collections::BTreeMap;
use std::fmt;

/// A 1-based line and column in the statement text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}:{}", self.line, self.col)
    }
}

/// A parsed statement, with its position and its text (as written, for the command topic
/// and `SHOW QUERIES`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedStatement {
    pub statement: Statement,
    pub pos: Pos,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `CREATE [OR REPLACE] [SOURCE] STREAM|TABLE [IF NOT EXISTS] name (elements) WITH (...)`
    CreateSource(CreateSource),
    /// `CREATE [OR REPLACE] STREAM|TABLE [IF NOT EXISTS] name [WITH (...)] AS SELECT ...`
    CreateAsSelect(CreateAsSelect),
    /// `INSERT INTO name [WITH (...)] SELECT ...`
    InsertInto {
        target: Ident,
        properties: Properties,
        query: Box<Query>,
    },
    /// `INSERT INTO name [(col, ...)] VALUES (expr, ...)`
    InsertValues {
        target: Ident,
        columns: Option<Vec<Ident>>,
        values: Vec<Expr>,
    },
    /// A bare `SELECT`: a push query with `EMIT CHANGES`/`EMIT FINAL`, else a pull query.
    Query(Box<Query>),
    /// `DROP STREAM|TABLE [IF EXISTS] name [DELETE TOPIC]`
    Drop {
        kind: SourceKind,
        if_exists: bool,
        name: Ident,
        delete_topic: bool,
    },
    /// `TERMINATE query_id` or `TERMINATE ALL` (`None`).
    Terminate { query_id: Option<String> },
    /// `SHOW|LIST ...`
    Show(ShowWhat),
    /// `DESCRIBE [EXTENDED] name`, `DESCRIBE STREAMS|TABLES [EXTENDED]`
    Describe {
        target: DescribeTarget,
        extended: bool,
    },
    /// `DESCRIBE FUNCTION name`
    DescribeFunction { name: String },
    /// `EXPLAIN statement` or `EXPLAIN query_id`
    Explain(ExplainTarget),
    /// `PRINT topic [FROM BEGINNING] [INTERVAL n] [LIMIT n]`
    Print {
        topic: String,
        from_beginning: bool,
        interval: Option<u64>,
        limit: Option<u64>,
    },
    /// `SET 'name' = 'value'`
    Set { name: String, value: String },
    /// `UNSET 'name'`
    Unset { name: String },
    /// `DEFINE name = 'value'`
    Define { name: String, value: String },
    /// `UNDEFINE name`
    Undefine { name: String },
    /// `CREATE TYPE [IF NOT EXISTS] name AS type`
    CreateType {
        name: String,
        ty: TypeExpr,
        if_not_exists: bool,
    },
    /// `DROP TYPE [IF EXISTS] name`
    DropType { name: String, if_exists: bool },
    /// `RUN SCRIPT 'path'`
    RunScript { path: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    Stream,
    Table,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Stream => "STREAM",
            SourceKind::Table => "TABLE",
        })
    }
}

/// `WITH (...)` properties: upper-cased names to literal values, in order, with the
/// position of each name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Properties(pub BTreeMap<String, (Literal, Pos)>);

impl Properties {
    pub fn get(&self, name: &str) -> Option<&Literal> {
        self.0.get(name).map(|(l, _)| l)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateSource {
    pub kind: SourceKind,
    pub or_replace: bool,
    pub if_not_exists: bool,
    /// `CREATE SOURCE ...`: read-only, materialized for pull queries.
    pub is_source: bool,
    pub name: Ident,
    pub elements: Vec<TableElement>,
    pub properties: Properties,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TableElement {
    pub name: Ident,
    pub ty: TypeExpr,
    pub constraint: ColumnConstraint,
    pub pos: Pos,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ColumnConstraint {
    None,
    /// `KEY` (streams)
    Key,
    /// `PRIMARY KEY` (tables)
    PrimaryKey,
    /// `HEADERS` (all headers, `ARRAY<STRUCT<KEY STRING, VALUE BYTES>>`)
    Headers,
    /// `HEADER('key')` (one header's last value, `BYTES`)
    Header(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CreateAsSelect {
    pub kind: SourceKind,
    pub or_replace: bool,
    pub if_not_exists: bool,
    pub name: Ident,
    pub properties: Properties,
    pub query: Box<Query>,
}

/// A type as written; `Custom` names a type from `CREATE TYPE`.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeExpr {
    Boolean,
    Int,
    Bigint,
    Double,
    /// DECIMAL(precision, scale)
    Decimal(u32, u32),
    String,
    Bytes,
    Timestamp,
    Date,
    Time,
    Array(Box<TypeExpr>),
    Map(Box<TypeExpr>, Box<TypeExpr>),
    Struct(Vec<(Ident, TypeExpr)>),
    Custom(String, Pos),
}

/// An identifier, normalized (see the module docs), with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ident {
    pub name: String,
    pub pos: Pos,
}

impl Ident {
    pub fn new(name: impl Into<String>) -> Ident {
        Ident {
            name: name.into(),
            pos: Pos::default(),
        }
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub select: Vec<SelectItem>,
    pub from: Relation,
    pub window: Option<WindowExpr>,
    pub where_: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub partition_by: Vec<Expr>,
    pub having: Option<Expr>,
    pub emit: Option<Emit>,
    /// `ORDER BY ...` (a Brook extension, for pull queries only; the planner refuses it
    /// in push and persistent queries). Empty when absent.
    pub order_by: Vec<OrderBy>,
    pub limit: Option<u64>,
    pub pos: Pos,
}

/// One `ORDER BY` item: `expr [ASC|DESC] [NULLS FIRST|LAST]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub expr: Expr,
    pub descending: bool,
    /// `NULLS FIRST` (`Some(true)`) or `NULLS LAST` (`Some(false)`); when absent, NULLs
    /// sort as the smallest values (first ascending, last descending).
    pub nulls_first: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SelectItem {
    /// `*` or `alias.*`
    Star {
        qualifier: Option<Ident>,
        pos: Pos,
    },
    Expr {
        expr: Expr,
        alias: Option<Ident>,
    },
}

/// `FROM a [alias] [JOIN b [alias] [WITHIN ...] ON ...]...`
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub source: AliasedSource,
    pub joins: Vec<Join>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AliasedSource {
    pub name: Ident,
    pub alias: Option<Ident>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    pub kind: JoinKind,
    pub right: AliasedSource,
    pub within: Option<WithinExpr>,
    pub on: Expr,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinKind {
    Inner,
    Left,
    Right,
    /// `FULL [OUTER] JOIN` (and `OUTER JOIN`)
    Full,
}

/// `WITHIN 1 HOUR`, `WITHIN (1 HOUR, 2 HOURS)` (before, after), with an optional
/// `GRACE PERIOD`.
#[derive(Debug, Clone, PartialEq)]
pub struct WithinExpr {
    pub before_ms: i64,
    pub after_ms: i64,
    pub grace_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WindowExpr {
    Tumbling {
        size_ms: i64,
        retention_ms: Option<i64>,
        grace_ms: Option<i64>,
    },
    Hopping {
        size_ms: i64,
        advance_ms: i64,
        retention_ms: Option<i64>,
        grace_ms: Option<i64>,
    },
    Session {
        gap_ms: i64,
        retention_ms: Option<i64>,
        grace_ms: Option<i64>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emit {
    Changes,
    Final,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ShowWhat {
    Streams { extended: bool },
    Tables { extended: bool },
    Topics { all: bool, extended: bool },
    Queries { extended: bool },
    Properties,
    Functions,
    Types,
    Variables,
}

#[derive(Debug, Clone, PartialEq)]
pub enum DescribeTarget {
    Source(Ident),
    Streams,
    Tables,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExplainTarget {
    Statement(Box<Statement>),
    QueryId(String),
}

/// An expression with where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
}

impl Expr {
    pub fn new(kind: ExprKind, pos: Pos) -> Expr {
        Expr { kind, pos }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// `name` or `qualifier.name`. A bare identifier that names no column may be a time
    /// unit or a lambda parameter; the expression compiler decides.
    Column {
        qualifier: Option<Ident>,
        name: Ident,
    },
    Unary {
        op: UnaryOp,
        expr: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `e IS [NOT] NULL`
    IsNull {
        expr: Box<Expr>,
        negated: bool,
    },
    /// `a IS [NOT] DISTINCT FROM b`
    IsDistinctFrom {
        left: Box<Expr>,
        right: Box<Expr>,
        negated: bool,
    },
    /// `e [NOT] BETWEEN low AND high`
    Between {
        expr: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `e [NOT] IN (a, b, ...)`
    InList {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `e [NOT] LIKE pattern [ESCAPE 'c']`
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        escape: Option<char>,
        negated: bool,
    },
    /// `CASE [operand] WHEN .. THEN .. [ELSE ..] END`
    Case {
        operand: Option<Box<Expr>>,
        whens: Vec<(Expr, Expr)>,
        else_: Option<Box<Expr>>,
    },
    /// `CAST(e AS type)`
    Cast {
        expr: Box<Expr>,
        ty: TypeExpr,
    },
    /// `name(args)`, `COUNT(*)` (args empty, `star`), `COUNT(DISTINCT x)` is not ksql.
    Function {
        name: Ident,
        args: Vec<Expr>,
        star: bool,
    },
    /// `e->field`
    Dereference {
        expr: Box<Expr>,
        field: Ident,
    },
    /// `e[index]`
    Subscript {
        expr: Box<Expr>,
        index: Box<Expr>,
    },
    /// `ARRAY[a, b]`
    Array(Vec<Expr>),
    /// `MAP(k := v, ...)`
    Map(Vec<(Expr, Expr)>),
    /// `STRUCT(name := v, ...)`
    Struct(Vec<(Ident, Expr)>),
    /// `x => body` or `(x, y) => body`
    Lambda {
        params: Vec<Ident>,
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Minus,
    Plus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    Plus,
    Minus,
    Multiply,
    Divide,
    Modulo,
    /// `||`
    Concat,
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BinaryOp::Or => "OR",
            BinaryOp::And => "AND",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::Plus => "+",
            BinaryOp::Minus => "-",
            BinaryOp::Multiply => "*",
            BinaryOp::Divide => "/",
            BinaryOp::Modulo => "%",
            BinaryOp::Concat => "||",
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Null,
    Boolean(bool),
    /// An integer literal: INT when it fits, else BIGINT.
    Integer(i64),
    /// `1.5`: ksqlDB types a literal with a point as DECIMAL; the text keeps its scale.
    Decimal(String),
    /// `1.5E3`: DOUBLE.
    Double(f64),
    String(String),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Boolean(b) => f.write_str(if *b { "true" } else { "false" }),
            Literal::Integer(i) => write!(f, "{i}"),
            Literal::Decimal(d) => f.write_str(d),
            Literal::Double(d) => write!(f, "{d:?}"),
            Literal::String(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}
