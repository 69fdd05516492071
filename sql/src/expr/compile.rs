//! Type checking: `ast::Expr` to a typed [`Node`] tree, with ksqlDB's typing rules and
//! messages (its `ExpressionTypeManager`, `ComparisonUtil`, `Operator` and code generator).

use std::sync::Arc;

use super::cast;
use super::decimal;
use super::eval::{ArithKind, ArithOp, CmpKind, CmpOp, LambdaFn, LikePat, Log, Node, Temporal};
use super::format;
use super::like::LikePattern;
use super::{resolve_type, Context, Scope};
use crate::ast::{self, BinaryOp, Expr, ExprKind, Ident, Literal, Pos, UnaryOp};
use crate::error::{Result, SqlError};
use crate::functions::Arg;
use crate::types::SqlType;
use crate::value::Value;

/// A compiled sub-expression with its type and what it depends on.
pub(crate) struct Typed {
    pub(crate) node: Node,
    /// `None` for an untyped NULL.
    pub(crate) ty: Option<SqlType>,
    /// Reads a column of the row.
    pub(crate) columns: bool,
    /// Calls a function (which may not be deterministic, so it is never folded).
    pub(crate) calls: bool,
    /// How many enclosing lambda frames it reads.
    pub(crate) needs: usize,
}

impl Typed {
    fn leaf(node: Node, ty: Option<SqlType>) -> Typed {
        Typed {
            node,
            ty,
            columns: false,
            calls: false,
            needs: 0,
        }
    }

    fn foldable(&self) -> bool {
        !self.columns && !self.calls && self.needs == 0
    }

    fn is_const(&self) -> bool {
        matches!(self.node, Node::Const(_))
    }
}

/// The dependencies of a node built from `parts`.
struct Deps {
    columns: bool,
    calls: bool,
    needs: usize,
}

impl Deps {
    fn of<'t>(parts: impl IntoIterator<Item = &'t Typed>) -> Deps {
        let mut d = Deps {
            columns: false,
            calls: false,
            needs: 0,
        };
        for p in parts {
            d.columns |= p.columns;
            d.calls |= p.calls;
            d.needs = d.needs.max(p.needs);
        }
        d
    }
}

/// Functions whose first argument is a time unit (`DATEADD(DAYS, 1, d)`).
const TIME_UNIT_FUNCTIONS: [&str; 6] = [
    "DATEADD",
    "DATESUB",
    "TIMEADD",
    "TIMESUB",
    "TIMESTAMPADD",
    "TIMESTAMPSUB",
];

const TIME_UNITS: [&str; 14] = [
    "DAY",
    "DAYS",
    "HOUR",
    "HOURS",
    "MINUTE",
    "MINUTES",
    "SECOND",
    "SECONDS",
    "MILLISECOND",
    "MILLISECONDS",
    "MICROSECOND",
    "MICROSECONDS",
    "NANOSECOND",
    "NANOSECONDS",
];

/// The upper-cased time unit when argument `index` of function `function` is one.
pub(crate) fn time_unit_arg(function: &str, index: usize, arg: &Expr) -> Option<String> {
    if index != 0
        || !TIME_UNIT_FUNCTIONS
            .iter()
            .any(|f| f.eq_ignore_ascii_case(function))
    {
        return None;
    }
    match &arg.kind {
        ExprKind::Column {
            qualifier: None,
            name,
        } => {
            let upper = name.name.to_ascii_uppercase();
            TIME_UNITS.contains(&upper.as_str()).then_some(upper)
        }
        _ => None,
    }
}

/// ksqlDB's name of a type's base type (`SqlBaseType`).
pub(crate) fn base_name(t: &SqlType) -> &'static str {
    match t {
        SqlType::Boolean => "BOOLEAN",
        SqlType::Int => "INTEGER",
        SqlType::Bigint => "BIGINT",
        SqlType::Double => "DOUBLE",
        SqlType::Decimal(..) => "DECIMAL",
        SqlType::String => "STRING",
        SqlType::Bytes => "BYTES",
        SqlType::Timestamp => "TIMESTAMP",
        SqlType::Date => "DATE",
        SqlType::Time => "TIME",
        SqlType::Array(_) => "ARRAY",
        SqlType::Map(..) => "MAP",
        SqlType::Struct(_) => "STRUCT",
    }
}

fn is_time_type(t: &SqlType) -> bool {
    matches!(t, SqlType::Timestamp | SqlType::Date | SqlType::Time)
}

fn type_text(t: &Option<SqlType>) -> String {
    match t {
        Some(t) => t.to_string(),
        None => "null".into(),
    }
}

/// `SqlBaseType.canImplicitlyCast`: INT -> BIGINT -> DECIMAL -> DOUBLE.
fn can_implicitly_cast(from: &SqlType, to: &SqlType) -> bool {
    use SqlType::*;
    matches!(
        (from, to),
        (Int, Int | Bigint | Decimal(..) | Double)
            | (Bigint, Bigint | Decimal(..) | Double)
            | (Decimal(..), Decimal(..) | Double)
            | (Double, Double)
    )
}

/// The comparison operators as ksqlDB names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comparison {
    Op(CmpOp),
    Distinct,
    NotDistinct,
}

impl Comparison {
    fn name(self) -> &'static str {
        match self {
            Comparison::Op(CmpOp::Eq) => "EQUAL",
            Comparison::Op(CmpOp::Ne) => "NOT_EQUAL",
            Comparison::Op(CmpOp::Lt) => "LESS_THAN",
            Comparison::Op(CmpOp::Le) => "LESS_THAN_OR_EQUAL",
            Comparison::Op(CmpOp::Gt) => "GREATER_THAN",
            Comparison::Op(CmpOp::Ge) => "GREATER_THAN_OR_EQUAL",
            Comparison::Distinct => "IS_DISTINCT_FROM",
            Comparison::NotDistinct => "IS_NOT_DISTINCT_FROM",
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Comparison::Op(CmpOp::Eq) => "=",
            Comparison::Op(CmpOp::Ne) => "<>",
            Comparison::Op(CmpOp::Lt) => "<",
            Comparison::Op(CmpOp::Le) => "<=",
            Comparison::Op(CmpOp::Gt) => ">",
            Comparison::Op(CmpOp::Ge) => ">=",
            Comparison::Distinct => "IS DISTINCT FROM",
            Comparison::NotDistinct => "IS NOT DISTINCT FROM",
        }
    }

    fn is_equality(self) -> bool {
        matches!(
            self,
            Comparison::Op(CmpOp::Eq | CmpOp::Ne) | Comparison::Distinct | Comparison::NotDistinct
        )
    }
}

/// ksqlDB's `ComparisonUtil.isValidComparison`.
fn valid_comparison(l: &SqlType, op: Comparison, r: &SqlType) -> bool {
    use SqlType::*;
    if l.is_numeric() {
        return r.is_numeric();
    }
    match l {
        String => matches!(r, String) || is_time_type(r),
        Boolean => matches!(r, Boolean) && op.is_equality(),
        Array(_) => matches!(r, Array(_)) && op.is_equality(),
        Map(..) => matches!(r, Map(..)) && op.is_equality(),
        Struct(_) => matches!(r, Struct(_)) && op.is_equality(),
        Time => matches!(r, Time | String),
        Date | Timestamp => matches!(r, Date | Timestamp | String),
        Bytes => matches!(r, Bytes),
        _ => false,
    }
}

/// The compiler for one expression.
pub(crate) struct Compiler<'c> {
    pub(crate) scope: &'c Scope,
    pub(crate) ctx: &'c Context<'c>,
    /// Lambda parameters in scope, innermost last.
    pub(crate) lambdas: Vec<Vec<(String, SqlType)>>,
}

fn err(pos: Pos, msg: impl Into<String>) -> SqlError {
    SqlError::at(pos, msg)
}

/// Evaluates a foldable node once; `None` if it fails (it then fails per record, as in
/// ksqlDB, rather than at compile time).
fn try_fold(node: &Node) -> Option<Value> {
    let mut sink = Vec::new();
    let mut log = Log::to(&mut sink);
    let v = node.eval(&[], None, &mut log).ok()?.into_owned();
    if log.failed {
        return None;
    }
    Some(v)
}

/// Builds a typed result, folding it to a constant when it depends on nothing.
fn finish(node: Node, ty: Option<SqlType>, deps: Deps) -> Typed {
    let mut t = Typed {
        node,
        ty,
        columns: deps.columns,
        calls: deps.calls,
        needs: deps.needs,
    };
    if t.foldable() && !t.is_const() {
        if let Some(v) = try_fold(&t.node) {
            t.node = Node::Const(v);
        }
    }
    t
}

fn guard(node: Node) -> Node {
    match node {
        Node::Const(_) | Node::Guard(_) => node,
        n => Node::Guard(Box::new(n)),
    }
}

/// Whether `e` is a literal (a negated number counts), as ksqlDB's coercion treats it.
pub(crate) fn is_literal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Literal(_) => true,
        ExprKind::Unary {
            op: UnaryOp::Minus | UnaryOp::Plus,
            expr,
        } => matches!(
            expr.kind,
            ExprKind::Literal(Literal::Integer(_) | Literal::Decimal(_) | Literal::Double(_))
        ),
        _ => false,
    }
}

fn is_null_literal(e: &Expr) -> bool {
    matches!(e.kind, ExprKind::Literal(Literal::Null))
}

impl<'c> Compiler<'c> {
    pub(crate) fn new(scope: &'c Scope, ctx: &'c Context<'c>) -> Compiler<'c> {
        Compiler {
            scope,
            ctx,
            lambdas: Vec::new(),
        }
    }

    /// Compiles `e`.
    pub(crate) fn expr(&mut self, e: &Expr) -> Result<Typed> {
        match &e.kind {
            ExprKind::Literal(l) => self.literal(e, l),
            ExprKind::Column { qualifier, name } => self.column(e, qualifier.as_ref(), name),
            ExprKind::Unary { op, expr } => self.unary(e, *op, expr),
            ExprKind::Binary { op, left, right } => self.binary(e, *op, left, right),
            ExprKind::IsNull { expr, negated } => {
                let inner = self.expr(expr)?;
                let deps = Deps::of([&inner]);
                Ok(finish(
                    Node::IsNull(Box::new(inner.node), *negated),
                    Some(SqlType::Boolean),
                    deps,
                ))
            }
            ExprKind::IsDistinctFrom {
                left,
                right,
                negated,
            } => {
                let op = if *negated {
                    Comparison::NotDistinct
                } else {
                    Comparison::Distinct
                };
                self.comparison(e.pos, op, left, right)
            }
            ExprKind::Between {
                expr,
                low,
                high,
                negated,
            } => {
                let ge = self.comparison(e.pos, Comparison::Op(CmpOp::Ge), expr, low)?;
                let le = self.comparison(e.pos, Comparison::Op(CmpOp::Le), expr, high)?;
                let deps = Deps::of([&ge, &le]);
                let mut node = Node::And(Box::new(ge.node), Box::new(le.node));
                if *negated {
                    node = Node::Not(Box::new(node));
                }
                Ok(finish(node, Some(SqlType::Boolean), deps))
            }
            ExprKind::InList {
                expr,
                list,
                negated,
            } => self.in_list(e, expr, list, *negated),
            ExprKind::Like {
                expr,
                pattern,
                escape,
                negated,
            } => self.like(e, expr, pattern, *escape, *negated),
            ExprKind::Case {
                operand,
                whens,
                else_,
            } => self.case(e, operand.as_deref(), whens, else_.as_deref()),
            ExprKind::Cast { expr, ty } => self.cast(e, expr, ty),
            ExprKind::Function { name, args, .. } => self.call(e, name, args),
            ExprKind::Dereference { expr, field } => self.dereference(e, expr, field),
            ExprKind::Subscript { expr, index } => self.subscript(e, expr, index),
            ExprKind::Array(items) => self.array(e, items),
            ExprKind::Map(entries) => self.map(e, entries),
            ExprKind::Struct(fields) => self.structure(e, fields),
            ExprKind::Lambda { .. } => Err(err(
                e.pos,
                format!(
                    "Lambda expression {} is only allowed as an argument of TRANSFORM, FILTER or REDUCE",
                    format::expr(e)
                ),
            )),
        }
    }

    fn literal(&mut self, e: &Expr, l: &Literal) -> Result<Typed> {
        Ok(match l {
            Literal::Null => Typed::leaf(Node::Const(Value::Null), None),
            Literal::Boolean(b) => {
                Typed::leaf(Node::Const(Value::Boolean(*b)), Some(SqlType::Boolean))
            }
            Literal::Integer(i) => match i32::try_from(*i) {
                Ok(v) => Typed::leaf(Node::Const(Value::Int(v)), Some(SqlType::Int)),
                Err(_) => Typed::leaf(Node::Const(Value::Bigint(*i)), Some(SqlType::Bigint)),
            },
            Literal::Decimal(text) => {
                let d = decimal::parse_java_decimal(text)
                    .ok_or_else(|| err(e.pos, format!("Invalid decimal literal: {text}")))?;
                let d = if decimal::scale(&d) < 0 {
                    decimal::set_scale_half_up(&d, 0)
                } else {
                    d
                };
                let ty = decimal::sql_decimal(decimal::type_of_value(&d))
                    .ok_or_else(|| err(e.pos, format!("Invalid decimal literal: {text}")))?;
                Typed::leaf(Node::Const(Value::Decimal(d)), Some(ty))
            }
            Literal::Double(d) => {
                Typed::leaf(Node::Const(Value::Double(*d)), Some(SqlType::Double))
            }
            Literal::String(s) => {
                Typed::leaf(Node::Const(Value::String(s.clone())), Some(SqlType::String))
            }
        })
    }

    fn column(&mut self, e: &Expr, qualifier: Option<&Ident>, name: &Ident) -> Result<Typed> {
        if qualifier.is_none() {
            for (depth, frame) in self.lambdas.iter().rev().enumerate() {
                if let Some(index) = frame.iter().position(|(n, _)| *n == name.name) {
                    return Ok(Typed {
                        node: Node::LambdaVar { depth, index },
                        ty: Some(frame[index].1.clone()),
                        columns: false,
                        calls: false,
                        needs: depth + 1,
                    });
                }
            }
        }
        let matching: Vec<usize> = self
            .scope
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.name == name.name
                    && match qualifier {
                        Some(q) => c.qualifier.as_deref() == Some(q.name.as_str()),
                        None => true,
                    }
            })
            .map(|(i, _)| i)
            .collect();
        let Some(&first) = matching.first() else {
            let text = match qualifier {
                Some(q) => format!("{}.{}", q.name, name.name),
                None => name.name.clone(),
            };
            return Err(err(e.pos, format!("Column '{text}' cannot be resolved.")));
        };
        if qualifier.is_none() {
            let mut sources: Vec<String> = Vec::new();
            for &i in &matching {
                let c = &self.scope.columns[i];
                let q = c.qualifier.clone().unwrap_or_default();
                let full = if q.is_empty() {
                    c.name.clone()
                } else {
                    format!("{q}.{}", c.name)
                };
                if !sources.contains(&full) {
                    sources.push(full);
                }
            }
            if sources.len() > 1 {
                return Err(err(
                    e.pos,
                    format!(
                        "Column '{}' is ambiguous. Could be {}.",
                        name.name,
                        sources.join(" or ")
                    ),
                ));
            }
        }
        Ok(Typed {
            node: Node::Column(first),
            ty: Some(self.scope.columns[first].ty.clone()),
            columns: true,
            calls: false,
            needs: 0,
        })
    }

    fn unary(&mut self, e: &Expr, op: UnaryOp, inner: &Expr) -> Result<Typed> {
        let t = self.expr(inner)?;
        let deps = Deps::of([&t]);
        match op {
            UnaryOp::Not => {
                if !matches!(t.ty, None | Some(SqlType::Boolean)) {
                    return Err(err(
                        e.pos,
                        format!(
                            "Not expression expects a boolean value.  Actual {}",
                            type_text(&t.ty)
                        ),
                    ));
                }
                Ok(finish(
                    Node::Not(Box::new(t.node)),
                    Some(SqlType::Boolean),
                    deps,
                ))
            }
            UnaryOp::Minus | UnaryOp::Plus => {
                let ty = match &t.ty {
                    Some(ty) if ty.is_numeric() => ty.clone(),
                    other => {
                        return Err(err(
                            e.pos,
                            format!(
                                "Error processing expression: {}. Unsupported arithmetic type: {}",
                                format::expr(e),
                                type_text(other)
                            ),
                        ))
                    }
                };
                if op == UnaryOp::Plus {
                    return Ok(finish(t.node, Some(ty), deps));
                }
                let kind = match ty {
                    SqlType::Int => ArithKind::Int,
                    SqlType::Bigint => ArithKind::Long,
                    SqlType::Decimal(p, s) => ArithKind::Decimal(p, s),
                    _ => ArithKind::Double,
                };
                Ok(finish(Node::Neg(kind, Box::new(t.node)), Some(ty), deps))
            }
        }
    }

    fn binary(&mut self, e: &Expr, op: BinaryOp, left: &Expr, right: &Expr) -> Result<Typed> {
        let cmp = |o| Comparison::Op(o);
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let l = self.expr(left)?;
                let r = self.expr(right)?;
                let ok = |t: &Option<SqlType>| matches!(t, None | Some(SqlType::Boolean));
                if !ok(&l.ty) || !ok(&r.ty) {
                    return Err(err(
                        e.pos,
                        format!(
                            "Logical binary expects two boolean values.  Actual {} and {}",
                            type_text(&l.ty),
                            type_text(&r.ty)
                        ),
                    ));
                }
                let deps = Deps::of([&l, &r]);
                let (ln, rn) = (Box::new(l.node), Box::new(r.node));
                let node = if op == BinaryOp::And {
                    Node::And(ln, rn)
                } else {
                    Node::Or(ln, rn)
                };
                Ok(finish(node, Some(SqlType::Boolean), deps))
            }
            BinaryOp::Eq => self.comparison(e.pos, cmp(CmpOp::Eq), left, right),
            BinaryOp::NotEq => self.comparison(e.pos, cmp(CmpOp::Ne), left, right),
            BinaryOp::Lt => self.comparison(e.pos, cmp(CmpOp::Lt), left, right),
            BinaryOp::LtEq => self.comparison(e.pos, cmp(CmpOp::Le), left, right),
            BinaryOp::Gt => self.comparison(e.pos, cmp(CmpOp::Gt), left, right),
            BinaryOp::GtEq => self.comparison(e.pos, cmp(CmpOp::Ge), left, right),
            BinaryOp::Plus => self.arithmetic(e, ArithOp::Add, left, right),
            BinaryOp::Minus => self.arithmetic(e, ArithOp::Sub, left, right),
            BinaryOp::Multiply => self.arithmetic(e, ArithOp::Mul, left, right),
            BinaryOp::Divide => self.arithmetic(e, ArithOp::Div, left, right),
            BinaryOp::Modulo => self.arithmetic(e, ArithOp::Rem, left, right),
            BinaryOp::Concat => self.concat(e, left, right),
        }
    }

    /// A comparison `left op right`.
    pub(crate) fn comparison(
        &mut self,
        pos: Pos,
        op: Comparison,
        left: &Expr,
        right: &Expr,
    ) -> Result<Typed> {
        let l = self.expr(left)?;
        let r = self.expr(right)?;
        let (lt, rt) = match (&l.ty, &r.ty) {
            (Some(a), Some(b)) => (a.clone(), b.clone()),
            (a, b) => {
                let name = |t: &Option<SqlType>| t.as_ref().map_or("NULL", base_name);
                return Err(err(
                    pos,
                    format!(
                        "Comparison with NULL not supported: {} {} {}\nUse 'IS NULL' or 'IS NOT NULL' instead.",
                        name(a),
                        op.symbol(),
                        name(b)
                    ),
                ));
            }
        };
        if !valid_comparison(&lt, op, &rt) {
            return Err(err(
                pos,
                format!(
                    "Cannot compare {} ({lt}) to {} ({rt}) with {}.",
                    format::expr(left),
                    format::expr(right),
                    op.name()
                ),
            ));
        }
        let deps = Deps::of([&l, &r]);
        let mut ln = l.node;
        let mut rn = r.node;
        let to_temporal = |n: Node, t: &SqlType, kind: Temporal| -> Node {
            if *t == SqlType::String {
                let node = Node::ToTemporal(kind, Box::new(n));
                match try_fold_if_const(&node) {
                    Some(v) => Node::Const(v),
                    None => node,
                }
            } else {
                n
            }
        };
        let kind = if matches!(lt, SqlType::Decimal(..)) || matches!(rt, SqlType::Decimal(..)) {
            CmpKind::Decimal
        } else if is_time_type(&lt) || is_time_type(&rt) {
            let (kind, temporal) = if lt == SqlType::Time || rt == SqlType::Time {
                (CmpKind::Time, Temporal::Time)
            } else if lt == SqlType::Timestamp || rt == SqlType::Timestamp {
                (CmpKind::Timestamp, Temporal::Timestamp)
            } else {
                (CmpKind::Date, Temporal::Date)
            };
            ln = to_temporal(ln, &lt, temporal);
            rn = to_temporal(rn, &rt, temporal);
            kind
        } else {
            match lt {
                SqlType::String => CmpKind::Str,
                SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_) => CmpKind::Structural,
                SqlType::Boolean => CmpKind::Bool,
                SqlType::Bytes => CmpKind::Bytes,
                _ => {
                    if lt == SqlType::Double || rt == SqlType::Double {
                        CmpKind::Double
                    } else {
                        CmpKind::Long
                    }
                }
            }
        };
        let node = match op {
            Comparison::Op(op) => Node::Compare {
                op,
                kind,
                left: Box::new(ln),
                right: Box::new(rn),
            },
            Comparison::Distinct | Comparison::NotDistinct => Node::Distinct {
                negated: op == Comparison::NotDistinct,
                kind,
                left: Box::new(ln),
                right: Box::new(rn),
            },
        };
        Ok(finish(node, Some(SqlType::Boolean), deps))
    }

    fn arithmetic(&mut self, e: &Expr, op: ArithOp, left: &Expr, right: &Expr) -> Result<Typed> {
        let l = self.expr(left)?;
        let r = self.expr(right)?;
        let (lt, rt) = match (&l.ty, &r.ty) {
            (Some(a), Some(b)) => (a.clone(), b.clone()),
            (a, b) => {
                return Err(err(
                    e.pos,
                    format!(
                        "Error processing expression: {}. Arithmetic on types {} and {} are not supported.",
                        format::expr(e),
                        type_text(a),
                        type_text(b)
                    ),
                ))
            }
        };
        let unsupported = || {
            err(
                e.pos,
                format!(
                    "Error processing expression: {}. Unsupported arithmetic types. {} {}",
                    format::expr(e),
                    base_name(&lt),
                    base_name(&rt)
                ),
            )
        };
        let deps = Deps::of([&l, &r]);
        if op == ArithOp::Add && lt == SqlType::String && rt == SqlType::String {
            let node = Node::Arith {
                op,
                kind: ArithKind::Concat,
                left: Box::new(l.node),
                right: Box::new(r.node),
            };
            return Ok(finish(node, Some(SqlType::String), deps));
        }
        if !lt.is_numeric() || !rt.is_numeric() {
            return Err(unsupported());
        }
        let to_dec = |t: &SqlType| decimal::as_decimal_type(t);
        let dec_result = |a: Option<(u64, u64)>, b: Option<(u64, u64)>| -> Result<SqlType> {
            match (a, b) {
                (Some(a), Some(b)) => {
                    let (p, s) = decimal::result_type(op.dec(), a, b);
                    decimal::sql_decimal((p, s)).ok_or_else(|| {
                        err(
                            e.pos,
                            format!(
                                "Error processing expression: {}. DECIMAL({p}, {s}) is out of range.",
                                format::expr(e)
                            ),
                        )
                    })
                }
                _ => Err(unsupported()),
            }
        };
        let result = if can_implicitly_cast(&lt, &rt) {
            if matches!(rt, SqlType::Decimal(..)) {
                dec_result(to_dec(&lt), to_dec(&rt))?
            } else {
                rt.clone()
            }
        } else if can_implicitly_cast(&rt, &lt) {
            if matches!(lt, SqlType::Decimal(..)) {
                dec_result(to_dec(&lt), to_dec(&rt))?
            } else {
                lt.clone()
            }
        } else {
            return Err(unsupported());
        };
        let kind = match result {
            SqlType::Int => ArithKind::Int,
            SqlType::Bigint => ArithKind::Long,
            SqlType::Decimal(p, s) => ArithKind::Decimal(p, s),
            _ => ArithKind::Double,
        };
        let node = Node::Arith {
            op,
            kind,
            left: Box::new(l.node),
            right: Box::new(r.node),
        };
        Ok(finish(node, Some(result), deps))
    }

    /// `a || b`: the CONCAT function when registered, else string concatenation that skips
    /// NULLs (as ksqlDB's CONCAT does).
    fn concat(&mut self, e: &Expr, left: &Expr, right: &Expr) -> Result<Typed> {
        if self.ctx.functions.scalar("CONCAT").is_some() {
            let name = Ident {
                name: "CONCAT".into(),
                pos: e.pos,
            };
            return self.call(e, &name, &[left.clone(), right.clone()]);
        }
        let l = self.expr(left)?;
        let r = self.expr(right)?;
        let ok = |t: &Option<SqlType>| matches!(t, None | Some(SqlType::String));
        if !ok(&l.ty) || !ok(&r.ty) {
            return Err(err(
                e.pos,
                format!(
                    "Function 'CONCAT' does not accept parameters ({}, {}).",
                    type_text(&l.ty),
                    type_text(&r.ty)
                ),
            ));
        }
        let f: crate::functions::ScalarFn = Arc::new(|args: &[Value]| {
            let mut s = String::new();
            for a in args {
                if let Value::String(x) = a {
                    s.push_str(x);
                }
            }
            Ok(Value::String(s))
        });
        let mut deps = Deps::of([&l, &r]);
        deps.calls = l.calls || r.calls;
        let node = Node::Call {
            f,
            null_on_null: false,
            args: vec![l.node, r.node],
        };
        Ok(finish(node, Some(SqlType::String), deps))
    }

    fn in_list(&mut self, e: &Expr, value: &Expr, list: &[Expr], negated: bool) -> Result<Typed> {
        let mut exprs: Vec<&Expr> = vec![value];
        exprs.extend(list.iter().filter(|x| !is_null_literal(x)));
        let mut typed = Vec::with_capacity(exprs.len());
        for x in &exprs {
            typed.push(self.expr(x)?);
        }
        let items: Vec<super::coerce::Item<'_>> = exprs
            .iter()
            .zip(&typed)
            .map(|(x, t)| super::coerce::Item {
                expr: Some(x),
                ty: t.ty.clone(),
            })
            .collect();
        let common = self
            .resolve_common(&items)
            .map_err(|c| c.into_error(e.pos))?;
        let deps = Deps::of(typed.iter());
        let Some(common) = common else {
            return Ok(finish(
                Node::Const(Value::Boolean(negated)),
                Some(SqlType::Boolean),
                deps,
            ));
        };
        let mut nodes = Vec::with_capacity(typed.len());
        for (x, t) in exprs.iter().zip(typed) {
            nodes.push(self.convert(x, t, &common)?);
        }
        let value = nodes.remove(0);
        let mut node = Node::In {
            value: Box::new(value),
            list: nodes,
        };
        if negated {
            node = Node::Not(Box::new(node));
        }
        Ok(finish(node, Some(SqlType::Boolean), deps))
    }

    fn like(
        &mut self,
        e: &Expr,
        value: &Expr,
        pattern: &Expr,
        escape: Option<char>,
        negated: bool,
    ) -> Result<Typed> {
        let v = self.expr(value)?;
        let p = self.expr(pattern)?;
        let ok = |t: &Option<SqlType>| matches!(t, None | Some(SqlType::String));
        if !ok(&v.ty) || !ok(&p.ty) {
            return Err(err(
                e.pos,
                format!(
                    "Error processing expression: {}. LIKE applies to STRING values, not {} and {}.",
                    format::expr(e),
                    type_text(&v.ty),
                    type_text(&p.ty)
                ),
            ));
        }
        let deps = Deps::of([&v, &p]);
        let pat = match &p.node {
            Node::Const(Value::String(s)) => match LikePattern::new(s, escape) {
                Ok(compiled) => LikePat::Fixed(compiled),
                Err(_) => LikePat::Dynamic(Box::new(p.node)),
            },
            _ => LikePat::Dynamic(Box::new(p.node)),
        };
        let mut node = Node::Like {
            value: Box::new(v.node),
            pattern: pat,
            escape,
        };
        if negated {
            node = Node::Not(Box::new(node));
        }
        Ok(finish(node, Some(SqlType::Boolean), deps))
    }

    fn case(
        &mut self,
        e: &Expr,
        operand: Option<&Expr>,
        whens: &[(Expr, Expr)],
        else_: Option<&Expr>,
    ) -> Result<Typed> {
        let mut parts = Vec::with_capacity(whens.len());
        let mut result_ty: Option<SqlType> = None;
        let mut all = Vec::new();
        for (w, t) in whens {
            let cond = match operand {
                Some(op) => self.comparison(w.pos, Comparison::Op(CmpOp::Eq), op, w)?,
                None => {
                    let c = self.expr(w)?;
                    if c.ty != Some(SqlType::Boolean) {
                        return Err(err(
                            w.pos,
                            format!(
                                "WHEN operand type should be boolean.\nType for '{}' is {}",
                                format::expr(w),
                                type_text(&c.ty)
                            ),
                        ));
                    }
                    c
                }
            };
            let res = self.expr(t)?;
            if let Some(rt) = &res.ty {
                match &result_ty {
                    None => result_ty = Some(rt.clone()),
                    Some(prev) if prev != rt => {
                        return Err(err(
                            t.pos,
                            format!(
                                "Invalid Case expression. Type for all 'THEN' clauses should be the same.\n\
                                 THEN expression 'WHEN {} THEN {}' has type: {rt}.\n\
                                 Previous THEN expression(s) type: {prev}.",
                                format::expr(w),
                                format::expr(t)
                            ),
                        ))
                    }
                    _ => {}
                }
            }
            parts.push((cond, res));
        }
        let default = match else_ {
            Some(x) => Some(self.expr(x)?),
            None => None,
        };
        let ty = match (&result_ty, default.as_ref().and_then(|d| d.ty.clone())) {
            (Some(w), Some(d)) => {
                if *w != d {
                    return Err(err(
                        e.pos,
                        format!(
                            "Invalid Case expression. Type for the default clause should be the same as for 'THEN' clauses.\n\
                             THEN type: {w}.\nDEFAULT type: {d}."
                        ),
                    ));
                }
                w.clone()
            }
            (Some(w), None) => w.clone(),
            (None, Some(d)) => d,
            (None, None) => {
                return Err(err(
                    e.pos,
                    "Invalid Case expression. All case branches have NULL type",
                ))
            }
        };
        for (c, r) in &parts {
            all.push(c);
            all.push(r);
        }
        if let Some(d) = &default {
            all.push(d);
        }
        let deps = Deps::of(all);
        let whens = parts.into_iter().map(|(c, r)| (c.node, r.node)).collect();
        let node = Node::Case {
            whens,
            else_: default.map(|d| Box::new(d.node)),
        };
        Ok(finish(node, Some(ty), deps))
    }

    fn cast(&mut self, e: &Expr, inner: &Expr, ty: &ast::TypeExpr) -> Result<Typed> {
        let t = self.expr(inner)?;
        let to = resolve_type(ty, self.ctx.types)?;
        let deps = Deps::of([&t]);
        let node = match &t.ty {
            None => Node::Const(Value::Null),
            Some(from) => {
                if !cast::is_supported(from, &to) {
                    return Err(err(e.pos, cast::unsupported(from, &to)));
                }
                if *from == to {
                    guard(t.node)
                } else {
                    guard(Node::Cast(to.clone(), Box::new(t.node)))
                }
            }
        };
        Ok(finish(node, Some(to), deps))
    }

    fn dereference(&mut self, e: &Expr, base: &Expr, field: &Ident) -> Result<Typed> {
        let b = self.expr(base)?;
        let fields = match &b.ty {
            Some(SqlType::Struct(fields)) => fields,
            other => {
                return Err(err(
                    e.pos,
                    format!("Expected STRUCT type, got: {}", type_text(other)),
                ))
            }
        };
        let Some(index) = fields.iter().position(|(n, _)| *n == field.name) else {
            return Err(err(
                field.pos,
                format!(
                    "Could not find field '{}' in '{}'.",
                    field.name,
                    format::expr(base)
                ),
            ));
        };
        let ty = fields[index].1.clone();
        let deps = Deps::of([&b]);
        let node = Node::Field {
            base: Box::new(b.node),
            name: field.name.clone(),
            index,
        };
        Ok(finish(node, Some(ty), deps))
    }

    fn subscript(&mut self, e: &Expr, base: &Expr, index: &Expr) -> Result<Typed> {
        let b = self.expr(base)?;
        let i = self.expr(index)?;
        let deps = Deps::of([&b, &i]);
        match b.ty.clone() {
            Some(SqlType::Array(elem)) => {
                if !matches!(i.ty, None | Some(SqlType::Int | SqlType::Bigint)) {
                    return Err(err(
                        index.pos,
                        format!(
                            "Array index must be an INTEGER, got {} ({}).",
                            format::expr(index),
                            type_text(&i.ty)
                        ),
                    ));
                }
                let node = Node::ArrayIndex {
                    base: Box::new(b.node),
                    index: Box::new(i.node),
                };
                Ok(finish(node, Some(*elem), deps))
            }
            Some(SqlType::Map(_, value)) => {
                let node = Node::MapGet {
                    base: Box::new(b.node),
                    key: Box::new(i.node),
                };
                Ok(finish(node, Some(*value), deps))
            }
            other => {
                let hint = if matches!(other, Some(SqlType::Struct(_))) {
                    format!(
                        " Use the dereference operator for STRUCTS: {}->{}",
                        format::expr(base),
                        match &index.kind {
                            ExprKind::Literal(Literal::String(s)) => s.clone(),
                            _ => format::expr(index),
                        }
                    )
                } else {
                    String::new()
                };
                Err(err(
                    e.pos,
                    format!(
                        "Subscript expression ({}) do not apply to {}.{hint}",
                        format::expr(e),
                        type_text(&other)
                    ),
                ))
            }
        }
    }

    fn array(&mut self, e: &Expr, items: &[Expr]) -> Result<Typed> {
        if items.is_empty() {
            return Err(err(
                e.pos,
                "Array constructor cannot be empty. Please supply at least one element \
                 (see https://github.com/confluentinc/ksql/issues/4239).",
            ));
        }
        let (common, nodes, deps) = self.coerce_list(e.pos, items)?;
        let Some(common) = common else {
            return Err(err(
                e.pos,
                "Cannot construct an array with all NULL elements \
                 (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you \
                 may cast a NULL value to the desired type.",
            ));
        };
        let nodes = nodes.into_iter().map(guard).collect();
        Ok(finish(
            Node::MakeArray(nodes),
            Some(SqlType::array(common)),
            deps,
        ))
    }

    fn map(&mut self, e: &Expr, entries: &[(Expr, Expr)]) -> Result<Typed> {
        if entries.is_empty() {
            return Err(err(
                e.pos,
                "Map constructor cannot be empty. Please supply at least one key value pair \
                 (see https://github.com/confluentinc/ksql/issues/4239).",
            ));
        }
        let keys: Vec<Expr> = entries.iter().map(|(k, _)| k.clone()).collect();
        let values: Vec<Expr> = entries.iter().map(|(_, v)| v.clone()).collect();
        let (kt, knodes, kdeps) = self.coerce_list(e.pos, &keys)?;
        let Some(kt) = kt else {
            return Err(err(
                e.pos,
                "Cannot construct a map with all NULL keys \
                 (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you \
                 may cast a NULL key to the desired type.",
            ));
        };
        let (vt, vnodes, vdeps) = self.coerce_list(e.pos, &values)?;
        let Some(vt) = vt else {
            return Err(err(
                e.pos,
                "Cannot construct a map with all NULL values \
                 (see https://github.com/confluentinc/ksql/issues/4239). As a workaround, you \
                 may cast a NULL value to the desired type.",
            ));
        };
        let nodes = knodes
            .into_iter()
            .map(guard)
            .zip(vnodes.into_iter().map(guard))
            .collect();
        let deps = Deps {
            columns: kdeps.columns || vdeps.columns,
            calls: kdeps.calls || vdeps.calls,
            needs: kdeps.needs.max(vdeps.needs),
        };
        Ok(finish(
            Node::MakeMap(nodes),
            Some(SqlType::map(kt, vt)),
            deps,
        ))
    }

    fn structure(&mut self, e: &Expr, fields: &[(Ident, Expr)]) -> Result<Typed> {
        let mut typed = Vec::with_capacity(fields.len());
        let mut types = Vec::with_capacity(fields.len());
        for (i, (name, value)) in fields.iter().enumerate() {
            if fields[..i].iter().any(|(n, _)| n.name == name.name) {
                return Err(err(e.pos, "Duplicate field names found in STRUCT"));
            }
            let t = self.expr(value)?;
            let Some(ty) = t.ty.clone() else {
                return Err(err(
                    value.pos,
                    format!(
                        "Can't infer a type of null for STRUCT field '{}'. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).",
                        name.name
                    ),
                ));
            };
            types.push((name.name.clone(), ty));
            typed.push(t);
        }
        let deps = Deps::of(typed.iter());
        let nodes = fields
            .iter()
            .zip(typed)
            .map(|((n, _), t)| (n.name.clone(), guard(t.node)))
            .collect();
        Ok(finish(
            Node::MakeStruct(nodes),
            Some(SqlType::Struct(types)),
            deps,
        ))
    }

    /// Coerces the items of a constructor to their common type (ksqlDB's
    /// `CoercionUtil.coerceUserList`).
    fn coerce_list(
        &mut self,
        pos: Pos,
        items: &[Expr],
    ) -> Result<(Option<SqlType>, Vec<Node>, Deps)> {
        let mut typed = Vec::with_capacity(items.len());
        for x in items {
            typed.push(self.expr(x)?);
        }
        let list: Vec<super::coerce::Item<'_>> = items
            .iter()
            .zip(&typed)
            .map(|(x, t)| super::coerce::Item {
                expr: Some(x),
                ty: t.ty.clone(),
            })
            .collect();
        let common = self.resolve_common(&list).map_err(|c| c.into_error(pos))?;
        let deps = Deps::of(typed.iter());
        let Some(common) = common else {
            return Ok((None, Vec::new(), deps));
        };
        let mut nodes = Vec::with_capacity(typed.len());
        for (x, t) in items.iter().zip(typed) {
            nodes.push(self.convert(x, t, &common)?);
        }
        Ok((Some(common), nodes, deps))
    }

    /// Converts a coerced item to the common type: literals at compile time, other
    /// expressions with a CAST.
    fn convert(&mut self, x: &Expr, t: Typed, common: &SqlType) -> Result<Node> {
        let ty = match &t.ty {
            None => return Ok(t.node),
            Some(ty) if ty == common => return Ok(t.node),
            Some(ty) => ty.clone(),
        };
        if is_literal(x) {
            if let Node::Const(v) = &t.node {
                return super::coerce::coerce_literal(v, common)
                    .map(Node::Const)
                    .ok_or_else(|| {
                        err(
                            x.pos,
                            format!(
                                "invalid input syntax for type {}: \"{}\".",
                                base_name(common),
                                match v {
                                    Value::String(s) => s.clone(),
                                    _ => format::expr(x),
                                }
                            ),
                        )
                    });
            }
        }
        if !cast::is_supported(&ty, common) {
            return Err(err(x.pos, cast::unsupported(&ty, common)));
        }
        Ok(guard(Node::Cast(common.clone(), Box::new(t.node))))
    }

    fn call(&mut self, e: &Expr, name: &Ident, args: &[Expr]) -> Result<Typed> {
        let upper = name.name.to_ascii_uppercase();
        if matches!(upper.as_str(), "TRANSFORM" | "FILTER" | "REDUCE")
            && args
                .iter()
                .any(|a| matches!(a.kind, ExprKind::Lambda { .. }))
        {
            return self.lambda_call(e, &upper, args);
        }
        let functions = self.ctx.functions;
        let Some(udf) = functions.scalar(&name.name) else {
            if functions.aggregate(&name.name).is_some() {
                return Err(err(
                    e.pos,
                    format!(
                        "Aggregate function '{}' cannot be used here: aggregate functions are only \
                         allowed in the SELECT and HAVING clauses of an aggregate query.",
                        name.name
                    ),
                ));
            }
            if functions.table(&name.name).is_some() {
                return Err(err(
                    e.pos,
                    format!(
                        "Table function '{}' cannot be used here: table functions are only allowed \
                         in the SELECT clause.",
                        name.name
                    ),
                ));
            }
            return Err(err(
                e.pos,
                format!("Can't find any functions with the name '{}'", name.name),
            ));
        };
        let mut typed = Vec::with_capacity(args.len());
        for (i, a) in args.iter().enumerate() {
            if let Some(unit) = time_unit_arg(&upper, i, a) {
                typed.push(Typed::leaf(
                    Node::Const(Value::String(unit)),
                    Some(SqlType::String),
                ));
                continue;
            }
            if matches!(a.kind, ExprKind::Lambda { .. }) {
                return Err(err(
                    a.pos,
                    format!(
                        "Function '{}' does not accept a lambda expression: lambdas are only \
                         allowed as arguments of TRANSFORM, FILTER or REDUCE",
                        name.name
                    ),
                ));
            }
            typed.push(self.expr(a)?);
        }
        let bind_args: Vec<Arg> = typed
            .iter()
            .map(|t| Arg {
                ty: t.ty.clone(),
                literal: match &t.node {
                    Node::Const(v) if t.foldable() => Some(v.clone()),
                    _ => None,
                },
            })
            .collect();
        let bound = udf.bind(&bind_args).map_err(|m| err(e.pos, m))?;
        let mut deps = Deps::of(typed.iter());
        deps.calls = true;
        let nodes = args
            .iter()
            .zip(typed)
            .map(|(a, t)| match a.kind {
                ExprKind::Function { .. } | ExprKind::Dereference { .. } => guard(t.node),
                _ => t.node,
            })
            .collect();
        let node = Node::Call {
            f: bound.eval,
            null_on_null: bound.null_on_null,
            args: nodes,
        };
        Ok(finish(node, Some(bound.return_type), deps))
    }

    /// Compiles a lambda's body with its parameters typed.
    fn lambda_body(&mut self, lambda: &Expr, types: &[SqlType], what: &str) -> Result<Typed> {
        let ExprKind::Lambda { params, body } = &lambda.kind else {
            return Err(err(
                lambda.pos,
                format!(
                    "{what} expects a lambda expression here, got {}",
                    format::expr(lambda)
                ),
            ));
        };
        if params.len() != types.len() {
            return Err(err(
                lambda.pos,
                format!(
                    "{what} expects a lambda with {} argument{}, got {}",
                    types.len(),
                    if types.len() == 1 { "" } else { "s" },
                    format::expr(lambda)
                ),
            ));
        }
        for (i, p) in params.iter().enumerate() {
            if params[..i].iter().any(|q| q.name == p.name) {
                return Err(err(
                    p.pos,
                    format!("Duplicate lambda argument name: {}", p.name),
                ));
            }
        }
        self.lambdas.push(
            params
                .iter()
                .zip(types)
                .map(|(p, t)| (p.name.clone(), t.clone()))
                .collect(),
        );
        let result = self.expr(body);
        self.lambdas.pop();
        let t = result?;
        if t.ty.is_none() {
            return Err(err(
                body.pos,
                "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).",
            ));
        }
        Ok(t)
    }

    fn lambda_call(&mut self, e: &Expr, upper: &str, args: &[Expr]) -> Result<Typed> {
        let no_sig = |types: &str| {
            err(
                e.pos,
                format!("Function '{upper}' does not accept parameters ({types})."),
            )
        };
        let coll = match args.first() {
            Some(a) if !matches!(a.kind, ExprKind::Lambda { .. }) => self.expr(a)?,
            _ => return Err(no_sig("LAMBDA")),
        };
        let sig_text = |c: &Typed, rest: &[Expr]| {
            let mut parts = vec![type_text(&c.ty)];
            for r in rest {
                parts.push(match r.kind {
                    ExprKind::Lambda { .. } => "LAMBDA".to_string(),
                    _ => format::expr(r),
                });
            }
            parts.join(", ")
        };
        let (func, init, bodies, ty) = match (upper, coll.ty.clone(), args.len()) {
            ("TRANSFORM", Some(SqlType::Array(elem)), 2) => {
                let b = self.lambda_body(&args[1], &[(*elem).clone()], "TRANSFORM")?;
                let ty = SqlType::array(b.ty.clone().unwrap_or(SqlType::String));
                (LambdaFn::TransformArray, None, vec![b], ty)
            }
            ("TRANSFORM", Some(SqlType::Map(k, v)), 3) => {
                let kv = [(*k).clone(), (*v).clone()];
                let kb = self.lambda_body(&args[1], &kv, "TRANSFORM")?;
                let vb = self.lambda_body(&args[2], &kv, "TRANSFORM")?;
                let ty = SqlType::map(
                    kb.ty.clone().unwrap_or(SqlType::String),
                    vb.ty.clone().unwrap_or(SqlType::String),
                );
                (LambdaFn::TransformMap, None, vec![kb, vb], ty)
            }
            ("FILTER", Some(SqlType::Array(elem)), 2) => {
                let b = self.lambda_body(&args[1], &[(*elem).clone()], "FILTER")?;
                if b.ty != Some(SqlType::Boolean) {
                    return Err(err(
                        args[1].pos,
                        format!(
                            "FILTER's lambda must return BOOLEAN, not {}",
                            type_text(&b.ty)
                        ),
                    ));
                }
                (LambdaFn::FilterArray, None, vec![b], SqlType::Array(elem))
            }
            ("FILTER", Some(SqlType::Map(k, v)), 2) => {
                let b = self.lambda_body(&args[1], &[(*k).clone(), (*v).clone()], "FILTER")?;
                if b.ty != Some(SqlType::Boolean) {
                    return Err(err(
                        args[1].pos,
                        format!(
                            "FILTER's lambda must return BOOLEAN, not {}",
                            type_text(&b.ty)
                        ),
                    ));
                }
                (LambdaFn::FilterMap, None, vec![b], SqlType::Map(k, v))
            }
            ("REDUCE", Some(coll_ty @ (SqlType::Array(_) | SqlType::Map(..))), 3) => {
                if matches!(args[1].kind, ExprKind::Lambda { .. }) {
                    return Err(no_sig(&sig_text(&coll, &args[1..])));
                }
                let init = self.expr(&args[1])?;
                let Some(state) = init.ty.clone() else {
                    return Err(err(
                        args[1].pos,
                        "Can't infer a type of null. Please explicitly cast it to a required type, e.g. CAST(null AS VARCHAR).",
                    ));
                };
                let (func, params) = match coll_ty {
                    SqlType::Array(elem) => (LambdaFn::ReduceArray, vec![state.clone(), *elem]),
                    SqlType::Map(k, v) => (LambdaFn::ReduceMap, vec![state.clone(), *k, *v]),
                    _ => return Err(no_sig(&sig_text(&coll, &args[1..]))),
                };
                let b = self.lambda_body(&args[2], &params, "REDUCE")?;
                if b.ty.as_ref() != Some(&state) {
                    return Err(err(
                        args[2].pos,
                        format!(
                            "REDUCE's lambda must return the type of the initial state, {state}, not {}",
                            type_text(&b.ty)
                        ),
                    ));
                }
                (func, Some(init), vec![b], state)
            }
            _ => return Err(no_sig(&sig_text(&coll, &args[1..]))),
        };
        let mut deps = Deps::of(std::iter::once(&coll).chain(init.iter()));
        for b in &bodies {
            deps.columns |= b.columns;
            deps.calls |= b.calls;
            deps.needs = deps.needs.max(b.needs.saturating_sub(1));
        }
        let node = Node::Lambda {
            func,
            collection: Box::new(coll.node),
            init: init.map(|i| Box::new(i.node)),
            bodies: bodies.into_iter().map(|b| b.node).collect(),
        };
        Ok(finish(node, Some(ty), deps))
    }
}

/// Folds a node whose operands are already constants.
fn try_fold_if_const(node: &Node) -> Option<Value> {
    match node {
        Node::ToTemporal(_, inner) if matches!(**inner, Node::Const(_)) => try_fold(node),
        _ => None,
    }
}
