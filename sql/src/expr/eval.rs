//! The evaluator: a tree of typed nodes, walked over a row. Column references and
//! constants are borrowed, not cloned, so a filter such as `COL > 10` allocates nothing.
//!
//! NULL and errors follow ksqlDB's generated Java code: comparisons with a NULL operand are
//! FALSE; arithmetic, `NOT`, `AND`/`OR` and `CASE WHEN` on a NULL boolean fail (Java's
//! unboxing NullPointerException), which makes the whole expression NULL; casts, function
//! arguments that are calls or dereferences, and the elements of constructors are
//! *guarded*: their failure is logged and they become NULL locally.

use std::borrow::Cow;
use std::cmp::Ordering;

use bigdecimal::BigDecimal;

use super::decimal::{self, DecOp};
use super::like::LikePattern;
use super::{cast, temporal};
use crate::functions::ScalarFn;
use crate::types::SqlType;
use crate::value::Value;

static NULL: Value = Value::Null;

/// Where guarded failures go.
pub(crate) struct Log<'l> {
    sink: Option<&'l mut Vec<String>>,
    /// Whether any failure was logged (used to refuse constant folding).
    pub(crate) failed: bool,
}

impl<'l> Log<'l> {
    pub(crate) fn none() -> Log<'static> {
        Log {
            sink: None,
            failed: false,
        }
    }

    pub(crate) fn to(sink: &'l mut Vec<String>) -> Log<'l> {
        Log {
            sink: Some(sink),
            failed: false,
        }
    }

    fn push(&mut self, msg: String) {
        self.failed = true;
        if let Some(s) = self.sink.as_deref_mut() {
            s.push(msg);
        }
    }
}

/// The values of the lambda parameters in scope: one frame per enclosing lambda.
pub(crate) struct Frame<'a> {
    vals: [Option<&'a Value>; 3],
    parent: Option<&'a Frame<'a>>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl CmpOp {
    fn test(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// How the two sides of a comparison are compared (fixed at compile time from the types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpKind {
    /// INT and BIGINT.
    Long,
    /// Java `double` comparison (NaN compares false).
    Double,
    /// Either side DECIMAL: `BigDecimal.compareTo`.
    Decimal,
    /// Java `String.compareTo` (UTF-16 order).
    Str,
    Bool,
    /// `ByteBuffer.compareTo` (signed bytes).
    Bytes,
    /// TIMESTAMP (a DATE side is its midnight).
    Timestamp,
    Date,
    Time,
    /// ARRAY, MAP, STRUCT: `equals`.
    Structural,
}

/// The arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl ArithOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Rem => "%",
        }
    }

    pub(crate) fn dec(self) -> DecOp {
        match self {
            ArithOp::Add => DecOp::Add,
            ArithOp::Sub => DecOp::Sub,
            ArithOp::Mul => DecOp::Mul,
            ArithOp::Div => DecOp::Div,
            ArithOp::Rem => DecOp::Rem,
        }
    }
}

/// The arithmetic of an operation, fixed at compile time from the result type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ArithKind {
    /// Java `int` (wrapping).
    Int,
    /// Java `long` (wrapping).
    Long,
    Double,
    Decimal(u8, u8),
    /// STRING + STRING.
    Concat,
}

/// Which temporal type a string is parsed to for a comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporal {
    Timestamp,
    Date,
    Time,
}

/// The lambda invocation functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LambdaFn {
    TransformArray,
    TransformMap,
    FilterArray,
    FilterMap,
    ReduceArray,
    ReduceMap,
}

/// A LIKE pattern, compiled once when it is constant.
#[derive(Clone)]
pub(crate) enum LikePat {
    Fixed(LikePattern),
    Dynamic(Box<Node>),
}

/// A compiled expression node.
#[derive(Clone)]
pub(crate) enum Node {
    Const(Value),
    Column(usize),
    /// A lambda parameter: `depth` frames up, parameter `index`.
    LambdaVar {
        depth: usize,
        index: usize,
    },
    /// Failures inside become NULL (and are logged).
    Guard(Box<Node>),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    IsNull(Box<Node>, bool),
    Compare {
        op: CmpOp,
        kind: CmpKind,
        left: Box<Node>,
        right: Box<Node>,
    },
    /// `IS [NOT] DISTINCT FROM`.
    Distinct {
        negated: bool,
        kind: CmpKind,
        left: Box<Node>,
        right: Box<Node>,
    },
    Arith {
        op: ArithOp,
        kind: ArithKind,
        left: Box<Node>,
        right: Box<Node>,
    },
    Neg(ArithKind, Box<Node>),
    Cast(SqlType, Box<Node>),
    /// A string parsed to a temporal type for a comparison.
    ToTemporal(Temporal, Box<Node>),
    Case {
        whens: Vec<(Node, Node)>,
        else_: Option<Box<Node>>,
    },
    In {
        value: Box<Node>,
        list: Vec<Node>,
    },
    Like {
        value: Box<Node>,
        pattern: LikePat,
        escape: Option<char>,
    },
    Field {
        base: Box<Node>,
        name: String,
        index: usize,
    },
    ArrayIndex {
        base: Box<Node>,
        index: Box<Node>,
    },
    MapGet {
        base: Box<Node>,
        key: Box<Node>,
    },
    MakeArray(Vec<Node>),
    MakeMap(Vec<(Node, Node)>),
    MakeStruct(Vec<(String, Node)>),
    Call {
        f: ScalarFn,
        null_on_null: bool,
        args: Vec<Node>,
    },
    Lambda {
        func: LambdaFn,
        collection: Box<Node>,
        /// REDUCE's initial state.
        init: Option<Box<Node>>,
        bodies: Vec<Node>,
    },
}

type R<'a> = Result<Cow<'a, Value>, String>;

fn owned<'a>(v: Value) -> R<'a> {
    Ok(Cow::Owned(v))
}

fn boolean<'a>(b: bool) -> R<'a> {
    Ok(Cow::Owned(Value::Boolean(b)))
}

/// Java's `String.compareTo`: UTF-16 code unit order.
pub(crate) fn java_str_cmp(a: &str, b: &str) -> Ordering {
    let ab = a.as_bytes();
    let bb = b.as_bytes();
    let common = ab.iter().zip(bb).take_while(|(x, y)| x == y).count();
    if common == ab.len() || common == bb.len() {
        return ab.len().cmp(&bb.len());
    }
    // Back up to the start of the differing characters.
    let mut start = common;
    while start > 0 && !a.is_char_boundary(start) {
        start -= 1;
    }
    let ca = a.get(start..).and_then(|x| x.chars().next());
    let cb = b.get(start..).and_then(|x| x.chars().next());
    match (ca, cb) {
        (Some(x), Some(y)) => {
            let key = |c: char| -> u32 {
                let u = c as u32;
                if u >= 0x10000 {
                    // The high surrogate sorts a supplementary character.
                    0xD800 + ((u - 0x10000) >> 10)
                } else {
                    u
                }
            };
            match key(x).cmp(&key(y)) {
                Ordering::Equal => (x as u32).cmp(&(y as u32)),
                o => o,
            }
        }
        _ => ab.len().cmp(&bb.len()),
    }
}

fn signed_bytes_cmp(a: &[u8], b: &[u8]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match (*x as i8).cmp(&(*y as i8)) {
            Ordering::Equal => continue,
            o => return o,
        }
    }
    a.len().cmp(&b.len())
}

fn as_long(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(i64::from(*i)),
        Value::Bigint(i) => Ok(*i),
        _ => Err(format!("expected an integer, got {v:?}")),
    }
}

fn as_double(v: &Value) -> Result<f64, String> {
    match v {
        Value::Int(i) => Ok(f64::from(*i)),
        Value::Bigint(i) => Ok(*i as f64),
        Value::Double(d) => Ok(*d),
        Value::Decimal(d) => Ok(decimal::to_f64(d)),
        _ => Err(format!("expected a number, got {v:?}")),
    }
}

fn as_decimal(v: &Value) -> Result<Cow<'_, BigDecimal>, String> {
    match v {
        Value::Decimal(d) => Ok(Cow::Borrowed(d)),
        Value::Int(i) => Ok(Cow::Owned(BigDecimal::from(*i))),
        Value::Bigint(i) => Ok(Cow::Owned(BigDecimal::from(*i))),
        Value::Double(d) => decimal::value_of_f64(*d)
            .map(Cow::Owned)
            .ok_or_else(|| format!("Character {d} is neither a decimal digit number, decimal point, nor \"e\" notation exponential mark.")),
        _ => Err(format!("expected a number, got {v:?}")),
    }
}

fn as_timestamp(v: &Value) -> Result<i64, String> {
    match v {
        Value::Timestamp(ms) => Ok(*ms),
        Value::Date(d) => Ok(temporal::date_to_timestamp(*d)),
        _ => Err(format!("expected a TIMESTAMP, got {v:?}")),
    }
}

/// Compares two non-NULL values of the given kind.
fn compare(kind: CmpKind, op: CmpOp, l: &Value, r: &Value) -> Result<bool, String> {
    Ok(match kind {
        CmpKind::Long => {
            if let (Value::Int(a), Value::Int(b)) = (l, r) {
                op.test(a.cmp(b))
            } else {
                op.test(as_long(l)?.cmp(&as_long(r)?))
            }
        }
        CmpKind::Double => {
            let (a, b) = (as_double(l)?, as_double(r)?);
            match op {
                CmpOp::Eq => a == b,
                // Java's `(a < b) || (a > b)`: FALSE for NaN.
                CmpOp::Ne => a.partial_cmp(&b).is_some_and(|o| o != Ordering::Equal),
                CmpOp::Lt => a < b,
                CmpOp::Le => a <= b,
                CmpOp::Gt => a > b,
                CmpOp::Ge => a >= b,
            }
        }
        CmpKind::Decimal => op.test(as_decimal(l)?.as_ref().cmp(as_decimal(r)?.as_ref())),
        CmpKind::Str => match (l, r) {
            (Value::String(a), Value::String(b)) => match op {
                CmpOp::Eq => a == b,
                CmpOp::Ne => a != b,
                _ => op.test(java_str_cmp(a, b)),
            },
            _ => return Err(format!("expected strings, got {l:?} and {r:?}")),
        },
        CmpKind::Bool => match (l, r) {
            (Value::Boolean(a), Value::Boolean(b)) => op.test(a.cmp(b)),
            _ => return Err(format!("expected booleans, got {l:?} and {r:?}")),
        },
        CmpKind::Bytes => match (l, r) {
            (Value::Bytes(a), Value::Bytes(b)) => op.test(signed_bytes_cmp(a, b)),
            _ => return Err(format!("expected bytes, got {l:?} and {r:?}")),
        },
        CmpKind::Timestamp => op.test(as_timestamp(l)?.cmp(&as_timestamp(r)?)),
        CmpKind::Date => match (l, r) {
            (Value::Date(a), Value::Date(b)) => op.test(a.cmp(b)),
            _ => return Err(format!("expected dates, got {l:?} and {r:?}")),
        },
        CmpKind::Time => match (l, r) {
            (Value::Time(a), Value::Time(b)) => op.test(a.cmp(b)),
            _ => return Err(format!("expected times, got {l:?} and {r:?}")),
        },
        CmpKind::Structural => match op {
            CmpOp::Eq => l == r,
            CmpOp::Ne => l != r,
            _ => return Err("collections only compare for equality".into()),
        },
    })
}

fn arith(op: ArithOp, kind: ArithKind, l: &Value, r: &Value) -> Result<Value, String> {
    Ok(match kind {
        ArithKind::Int => {
            let (a, b) = match (l, r) {
                (Value::Int(a), Value::Int(b)) => (*a, *b),
                _ => return Err(format!("expected integers, got {l:?} and {r:?}")),
            };
            Value::Int(match op {
                ArithOp::Add => a.wrapping_add(b),
                ArithOp::Sub => a.wrapping_sub(b),
                ArithOp::Mul => a.wrapping_mul(b),
                ArithOp::Div => {
                    if b == 0 {
                        return Err("/ by zero".into());
                    }
                    a.wrapping_div(b)
                }
                ArithOp::Rem => {
                    if b == 0 {
                        return Err("/ by zero".into());
                    }
                    a.wrapping_rem(b)
                }
            })
        }
        ArithKind::Long => {
            let (a, b) = (as_long(l)?, as_long(r)?);
            Value::Bigint(match op {
                ArithOp::Add => a.wrapping_add(b),
                ArithOp::Sub => a.wrapping_sub(b),
                ArithOp::Mul => a.wrapping_mul(b),
                ArithOp::Div => {
                    if b == 0 {
                        return Err("/ by zero".into());
                    }
                    a.wrapping_div(b)
                }
                ArithOp::Rem => {
                    if b == 0 {
                        return Err("/ by zero".into());
                    }
                    a.wrapping_rem(b)
                }
            })
        }
        ArithKind::Double => {
            let (a, b) = (as_double(l)?, as_double(r)?);
            Value::Double(match op {
                ArithOp::Add => a + b,
                ArithOp::Sub => a - b,
                ArithOp::Mul => a * b,
                ArithOp::Div => a / b,
                ArithOp::Rem => a % b,
            })
        }
        ArithKind::Decimal(p, s) => {
            let a = as_decimal(l)?;
            let b = as_decimal(r)?;
            Value::Decimal(decimal::arith(op.dec(), &a, &b, p, s)?)
        }
        ArithKind::Concat => match (l, r) {
            (Value::String(a), Value::String(b)) => {
                let mut s = String::with_capacity(a.len() + b.len());
                s.push_str(a);
                s.push_str(b);
                Value::String(s)
            }
            _ => return Err(format!("expected strings, got {l:?} and {r:?}")),
        },
    })
}

fn null_operand(what: &str) -> String {
    format!("Cannot evaluate {what} with a NULL operand")
}

impl Node {
    /// Evaluates the node on `row` (lambda parameters from `frame`).
    pub(crate) fn eval<'a>(
        &'a self,
        row: &'a [Value],
        frame: Option<&'a Frame<'a>>,
        log: &mut Log<'_>,
    ) -> R<'a> {
        match self {
            Node::Const(v) => Ok(Cow::Borrowed(v)),
            Node::Column(i) => row
                .get(*i)
                .map(Cow::Borrowed)
                .ok_or_else(|| format!("column {i} is missing from the row")),
            Node::LambdaVar { depth, index } => {
                let mut f = frame;
                for _ in 0..*depth {
                    f = f.and_then(|x| x.parent);
                }
                f.and_then(|x| x.vals.get(*index).copied().flatten())
                    .map(Cow::Borrowed)
                    .ok_or_else(|| "lambda variable out of scope".to_string())
            }
            Node::Guard(inner) => match inner.eval(row, frame, log) {
                Ok(v) => Ok(v),
                Err(e) => {
                    log.push(e);
                    Ok(Cow::Borrowed(&NULL))
                }
            },
            Node::Not(inner) => match inner.eval(row, frame, log)?.as_ref() {
                Value::Boolean(b) => boolean(!b),
                Value::Null => Err(null_operand("NOT")),
                v => Err(format!("NOT expects a BOOLEAN, got {v:?}")),
            },
            Node::And(l, r) => match l.eval(row, frame, log)?.as_ref() {
                Value::Boolean(false) => boolean(false),
                Value::Boolean(true) => match r.eval(row, frame, log)?.as_ref() {
                    Value::Boolean(b) => boolean(*b),
                    Value::Null => Err(null_operand("AND")),
                    v => Err(format!("AND expects a BOOLEAN, got {v:?}")),
                },
                Value::Null => Err(null_operand("AND")),
                v => Err(format!("AND expects a BOOLEAN, got {v:?}")),
            },
            Node::Or(l, r) => match l.eval(row, frame, log)?.as_ref() {
                Value::Boolean(true) => boolean(true),
                Value::Boolean(false) => match r.eval(row, frame, log)?.as_ref() {
                    Value::Boolean(b) => boolean(*b),
                    Value::Null => Err(null_operand("OR")),
                    v => Err(format!("OR expects a BOOLEAN, got {v:?}")),
                },
                Value::Null => Err(null_operand("OR")),
                v => Err(format!("OR expects a BOOLEAN, got {v:?}")),
            },
            Node::IsNull(inner, negated) => {
                let v = inner.eval(row, frame, log)?;
                boolean(v.is_null() != *negated)
            }
            Node::Compare {
                op,
                kind,
                left,
                right,
            } => {
                let l = left.eval(row, frame, log)?;
                if l.is_null() {
                    return boolean(false);
                }
                let r = right.eval(row, frame, log)?;
                if r.is_null() {
                    return boolean(false);
                }
                boolean(compare(*kind, *op, &l, &r)?)
            }
            Node::Distinct {
                negated,
                kind,
                left,
                right,
            } => {
                let l = left.eval(row, frame, log)?;
                let r = right.eval(row, frame, log)?;
                let distinct = match (l.is_null(), r.is_null()) {
                    (true, true) => false,
                    (true, false) | (false, true) => true,
                    (false, false) => compare(*kind, CmpOp::Ne, &l, &r)?,
                };
                boolean(distinct != *negated)
            }
            Node::Arith {
                op,
                kind,
                left,
                right,
            } => {
                let l = left.eval(row, frame, log)?;
                if l.is_null() {
                    return Err(null_operand(op.symbol()));
                }
                let r = right.eval(row, frame, log)?;
                if r.is_null() {
                    return Err(null_operand(op.symbol()));
                }
                owned(arith(*op, *kind, &l, &r)?)
            }
            Node::Neg(kind, inner) => {
                let v = inner.eval(row, frame, log)?;
                owned(match (kind, v.as_ref()) {
                    (_, Value::Null) => return Err(null_operand("-")),
                    (_, Value::Int(i)) => Value::Int(i.wrapping_neg()),
                    (_, Value::Bigint(i)) => Value::Bigint(i.wrapping_neg()),
                    (_, Value::Double(d)) => Value::Double(-d),
                    (ArithKind::Decimal(p, _), Value::Decimal(d)) => {
                        Value::Decimal(decimal::negate(d, *p)?)
                    }
                    (_, Value::Decimal(d)) => Value::Decimal(-d.clone()),
                    (_, v) => return Err(format!("cannot negate {v:?}")),
                })
            }
            Node::Cast(to, inner) => {
                let v = inner.eval(row, frame, log)?;
                if v.is_null() {
                    return Ok(Cow::Borrowed(&NULL));
                }
                owned(cast::cast_value(&v, to)?)
            }
            Node::ToTemporal(kind, inner) => {
                let v = inner.eval(row, frame, log)?;
                owned(match v.as_ref() {
                    Value::Null => Value::Null,
                    Value::String(s) => match kind {
                        Temporal::Timestamp => Value::Timestamp(temporal::parse_timestamp(s)?),
                        Temporal::Date => Value::Date(temporal::parse_date(s)?),
                        Temporal::Time => Value::Time(temporal::parse_time(s)?),
                    },
                    _ => return Ok(v),
                })
            }
            Node::Case { whens, else_ } => {
                for (cond, result) in whens {
                    match cond.eval(row, frame, log)?.as_ref() {
                        Value::Boolean(true) => return result.eval(row, frame, log),
                        Value::Boolean(false) => {}
                        Value::Null => return Err(null_operand("CASE WHEN")),
                        v => return Err(format!("WHEN expects a BOOLEAN, got {v:?}")),
                    }
                }
                match else_ {
                    Some(e) => e.eval(row, frame, log),
                    None => Ok(Cow::Borrowed(&NULL)),
                }
            }
            Node::In { value, list } => {
                let v = value.eval(row, frame, log)?;
                if v.is_null() {
                    return boolean(false);
                }
                for item in list {
                    let c = item.eval(row, frame, log)?;
                    if !c.is_null() && *c == *v {
                        return boolean(true);
                    }
                }
                boolean(false)
            }
            Node::Like {
                value,
                pattern,
                escape,
            } => {
                let v = value.eval(row, frame, log)?;
                let s = match v.as_ref() {
                    Value::String(s) => s,
                    Value::Null => return Err(null_operand("LIKE")),
                    v => return Err(format!("LIKE expects a STRING, got {v:?}")),
                };
                match pattern {
                    LikePat::Fixed(p) => boolean(p.matches(s)),
                    LikePat::Dynamic(p) => {
                        let pv = p.eval(row, frame, log)?;
                        match pv.as_ref() {
                            Value::String(ps) => boolean(LikePattern::new(ps, *escape)?.matches(s)),
                            Value::Null => Err(null_operand("LIKE")),
                            v => Err(format!("LIKE expects a STRING pattern, got {v:?}")),
                        }
                    }
                }
            }
            Node::Field { base, name, index } => {
                let b = base.eval(row, frame, log)?;
                match b {
                    Cow::Borrowed(Value::Struct(fields)) => {
                        Ok(Cow::Borrowed(find_field(fields, name, *index)))
                    }
                    Cow::Owned(Value::Struct(mut fields)) => {
                        let i = match fields.get(*index) {
                            Some((n, _)) if n == name => Some(*index),
                            _ => fields.iter().position(|(n, _)| n == name),
                        };
                        match i {
                            Some(i) => owned(fields.swap_remove(i).1),
                            None => Ok(Cow::Borrowed(&NULL)),
                        }
                    }
                    b if b.is_null() => Ok(Cow::Borrowed(&NULL)),
                    b => Err(format!("cannot dereference {:?}", b.as_ref())),
                }
            }
            Node::ArrayIndex { base, index } => {
                let b = base.eval(row, frame, log)?;
                if b.is_null() {
                    return Ok(Cow::Borrowed(&NULL));
                }
                let i = match index.eval(row, frame, log)?.as_ref() {
                    Value::Int(i) => *i,
                    Value::Bigint(i) => *i as i32,
                    Value::Null => return Err(null_operand("array index")),
                    v => return Err(format!("array index must be an integer, got {v:?}")),
                };
                let pick = |len: usize| -> Option<usize> {
                    let len = i64::try_from(len).ok()?;
                    let i = i64::from(i);
                    let at = if i >= 0 { i - 1 } else { len + i };
                    if at < 0 || at >= len {
                        None
                    } else {
                        usize::try_from(at).ok()
                    }
                };
                match b {
                    Cow::Borrowed(Value::Array(items)) => Ok(Cow::Borrowed(
                        pick(items.len())
                            .and_then(|j| items.get(j))
                            .unwrap_or(&NULL),
                    )),
                    Cow::Owned(Value::Array(mut items)) => match pick(items.len()) {
                        Some(j) if j < items.len() => owned(items.swap_remove(j)),
                        _ => Ok(Cow::Borrowed(&NULL)),
                    },
                    b => Err(format!("cannot index {:?}", b.as_ref())),
                }
            }
            Node::MapGet { base, key } => {
                let b = base.eval(row, frame, log)?;
                if b.is_null() {
                    return Ok(Cow::Borrowed(&NULL));
                }
                let k = key.eval(row, frame, log)?;
                match b {
                    Cow::Borrowed(Value::Map(entries)) => Ok(Cow::Borrowed(
                        entries
                            .iter()
                            .find(|(ek, _)| *ek == *k)
                            .map(|(_, v)| v)
                            .unwrap_or(&NULL),
                    )),
                    Cow::Owned(Value::Map(entries)) => {
                        match entries.into_iter().find(|(ek, _)| *ek == *k) {
                            Some((_, v)) => owned(v),
                            None => Ok(Cow::Borrowed(&NULL)),
                        }
                    }
                    b => Err(format!("cannot look up a key in {:?}", b.as_ref())),
                }
            }
            Node::MakeArray(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(item.eval(row, frame, log)?.into_owned());
                }
                owned(Value::Array(out))
            }
            Node::MakeMap(entries) => {
                let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let k = k.eval(row, frame, log)?.into_owned();
                    let v = v.eval(row, frame, log)?.into_owned();
                    match out.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(e) => e.1 = v,
                        None => out.push((k, v)),
                    }
                }
                owned(Value::Map(out))
            }
            Node::MakeStruct(fields) => {
                let mut out = Vec::with_capacity(fields.len());
                for (n, v) in fields {
                    out.push((n.clone(), v.eval(row, frame, log)?.into_owned()));
                }
                owned(Value::Struct(out))
            }
            Node::Call {
                f,
                null_on_null,
                args,
            } => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    let v = a.eval(row, frame, log)?.into_owned();
                    if *null_on_null && v.is_null() {
                        return Ok(Cow::Borrowed(&NULL));
                    }
                    vals.push(v);
                }
                owned(f(&vals)?)
            }
            Node::Lambda {
                func,
                collection,
                init,
                bodies,
            } => eval_lambda(*func, collection, init.as_deref(), bodies, row, frame, log),
        }
    }
}

fn find_field<'a>(fields: &'a [(String, Value)], name: &str, index: usize) -> &'a Value {
    match fields.get(index) {
        Some((n, v)) if n == name => v,
        _ => fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .unwrap_or(&NULL),
    }
}

fn body(bodies: &[Node], i: usize) -> Result<&Node, String> {
    bodies
        .get(i)
        .ok_or_else(|| "missing lambda body".to_string())
}

fn eval_lambda<'a>(
    func: LambdaFn,
    collection: &'a Node,
    init: Option<&'a Node>,
    bodies: &'a [Node],
    row: &'a [Value],
    frame: Option<&'a Frame<'a>>,
    log: &mut Log<'_>,
) -> R<'a> {
    let coll = collection.eval(row, frame, log)?;
    let state = match init {
        Some(i) => {
            let s = i.eval(row, frame, log)?.into_owned();
            if s.is_null() {
                // REDUCE of a NULL initial state is NULL.
                return Ok(Cow::Borrowed(&NULL));
            }
            Some(s)
        }
        None => None,
    };
    if coll.is_null() {
        return match state {
            Some(s) => owned(s),
            None => Ok(Cow::Borrowed(&NULL)),
        };
    }
    match (func, coll.as_ref()) {
        (LambdaFn::TransformArray, Value::Array(items)) => {
            let b = body(bodies, 0)?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                let f = Frame {
                    vals: [Some(item), None, None],
                    parent: frame,
                };
                out.push(b.eval(row, Some(&f), log)?.into_owned());
            }
            owned(Value::Array(out))
        }
        (LambdaFn::FilterArray, Value::Array(items)) => {
            let b = body(bodies, 0)?;
            let mut out = Vec::new();
            for item in items {
                let f = Frame {
                    vals: [Some(item), None, None],
                    parent: frame,
                };
                match b.eval(row, Some(&f), log)?.as_ref() {
                    Value::Boolean(true) => out.push(item.clone()),
                    Value::Boolean(false) => {}
                    Value::Null => return Err(null_operand("FILTER")),
                    v => return Err(format!("FILTER expects a BOOLEAN, got {v:?}")),
                }
            }
            owned(Value::Array(out))
        }
        (LambdaFn::TransformMap, Value::Map(entries)) => {
            let kb = body(bodies, 0)?;
            let vb = body(bodies, 1)?;
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let f = Frame {
                    vals: [Some(k), Some(v), None],
                    parent: frame,
                };
                let nk = kb.eval(row, Some(&f), log)?.into_owned();
                let nv = vb.eval(row, Some(&f), log)?.into_owned();
                if out.iter().any(|(ek, _)| *ek == nk) {
                    return Err(format!("Duplicate key {nk:?} in TRANSFORM's result"));
                }
                if nv.is_null() {
                    // Java's Collectors.toMap rejects NULL values.
                    return Err("NULL value in TRANSFORM's map result".into());
                }
                out.push((nk, nv));
            }
            owned(Value::Map(out))
        }
        (LambdaFn::FilterMap, Value::Map(entries)) => {
            let b = body(bodies, 0)?;
            let mut out = Vec::new();
            for (k, v) in entries {
                let f = Frame {
                    vals: [Some(k), Some(v), None],
                    parent: frame,
                };
                match b.eval(row, Some(&f), log)?.as_ref() {
                    Value::Boolean(true) => {
                        if v.is_null() {
                            return Err("NULL value in FILTER's map result".into());
                        }
                        out.push((k.clone(), v.clone()));
                    }
                    Value::Boolean(false) => {}
                    Value::Null => return Err(null_operand("FILTER")),
                    v => return Err(format!("FILTER expects a BOOLEAN, got {v:?}")),
                }
            }
            owned(Value::Map(out))
        }
        (LambdaFn::ReduceArray, Value::Array(items)) => {
            let b = body(bodies, 0)?;
            let mut acc = state.unwrap_or(Value::Null);
            for item in items {
                let next = {
                    let f = Frame {
                        vals: [Some(&acc), Some(item), None],
                        parent: frame,
                    };
                    b.eval(row, Some(&f), log)?.into_owned()
                };
                acc = next;
            }
            owned(acc)
        }
        (LambdaFn::ReduceMap, Value::Map(entries)) => {
            let b = body(bodies, 0)?;
            let mut acc = state.unwrap_or(Value::Null);
            for (k, v) in entries {
                let next = {
                    let f = Frame {
                        vals: [Some(&acc), Some(k), Some(v)],
                        parent: frame,
                    };
                    b.eval(row, Some(&f), log)?.into_owned()
                };
                acc = next;
            }
            owned(acc)
        }
        (_, v) => Err(format!("{func:?} cannot apply to {v:?}")),
    }
}
