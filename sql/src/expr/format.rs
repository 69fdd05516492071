//! Expressions as text, the way ksqlDB's `ExpressionFormatter` prints them in messages and
//! plans: `(A + 1)`, `(X IS NULL)`, `MAP('a':=1)`, `STRUCT(F:=X)`, `CAST(X AS STRING)`.

use std::fmt::Write;

use super::{decimal, javafmt};
use crate::ast::{BinaryOp, Expr, ExprKind, Literal, TypeExpr, UnaryOp};

/// `name` as ksqlDB prints an identifier: back-quoted unless it is a plain upper-case one.
pub(crate) fn ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase() || c == b'_')
        && name
            .bytes()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_');
    if plain {
        name.to_owned()
    } else {
        format!("`{}`", name.replace('`', "``"))
    }
}

/// A literal as ksqlDB prints it.
pub(crate) fn literal(l: &Literal) -> String {
    match l {
        Literal::Null => "null".into(),
        Literal::Boolean(b) => b.to_string(),
        Literal::Integer(i) => i.to_string(),
        Literal::Decimal(text) => match decimal::parse_java_decimal(text) {
            Some(d) => decimal::to_java_string(&d),
            None => text.clone(),
        },
        Literal::Double(d) => javafmt::double_literal_to_string(*d),
        Literal::String(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// A written type as ksqlDB prints it.
pub(crate) fn type_expr(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Boolean => "BOOLEAN".into(),
        TypeExpr::Int => "INTEGER".into(),
        TypeExpr::Bigint => "BIGINT".into(),
        TypeExpr::Double => "DOUBLE".into(),
        TypeExpr::Decimal(p, s) => format!("DECIMAL({p}, {s})"),
        TypeExpr::String => "STRING".into(),
        TypeExpr::Bytes => "BYTES".into(),
        TypeExpr::Timestamp => "TIMESTAMP".into(),
        TypeExpr::Date => "DATE".into(),
        TypeExpr::Time => "TIME".into(),
        TypeExpr::Array(e) => format!("ARRAY<{}>", type_expr(e)),
        TypeExpr::Map(k, v) => format!("MAP<{}, {}>", type_expr(k), type_expr(v)),
        TypeExpr::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(n, t)| format!("`{}` {}", n.name, type_expr(t)))
                .collect();
            format!("STRUCT<{}>", inner.join(", "))
        }
        TypeExpr::Custom(n, _) => n.clone(),
    }
}

fn join(out: &mut String, items: &[Expr]) {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_expr(out, e);
    }
}

fn binary_op(op: BinaryOp) -> &'static str {
    match op {
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
    }
}

/// Appends the text of `e`.
pub(crate) fn write_expr(out: &mut String, e: &Expr) {
    match &e.kind {
        ExprKind::Literal(l) => out.push_str(&literal(l)),
        ExprKind::Column { qualifier, name } => {
            if let Some(q) = qualifier {
                out.push_str(&ident(&q.name));
                out.push('.');
            }
            out.push_str(&ident(&name.name));
        }
        ExprKind::Unary { op, expr } => {
            let mut inner = String::new();
            write_expr(&mut inner, expr);
            match op {
                UnaryOp::Not => {
                    let _ = write!(out, "(NOT {inner})");
                }
                UnaryOp::Minus => {
                    out.push('-');
                    if inner.starts_with('-') {
                        out.push(' ');
                    }
                    out.push_str(&inner);
                }
                UnaryOp::Plus => {
                    out.push('+');
                    out.push_str(&inner);
                }
            }
        }
        ExprKind::Binary { op, left, right } => {
            out.push('(');
            write_expr(out, left);
            out.push(' ');
            out.push_str(binary_op(*op));
            out.push(' ');
            write_expr(out, right);
            out.push(')');
        }
        ExprKind::IsNull { expr, negated } => {
            out.push('(');
            write_expr(out, expr);
            out.push_str(if *negated {
                " IS NOT NULL)"
            } else {
                " IS NULL)"
            });
        }
        ExprKind::IsDistinctFrom {
            left,
            right,
            negated,
        } => {
            out.push('(');
            write_expr(out, left);
            out.push_str(if *negated {
                " IS NOT DISTINCT FROM "
            } else {
                " IS DISTINCT FROM "
            });
            write_expr(out, right);
            out.push(')');
        }
        ExprKind::Between {
            expr,
            low,
            high,
            negated,
        } => {
            if *negated {
                out.push_str("(NOT ");
            }
            out.push('(');
            write_expr(out, expr);
            out.push_str(" BETWEEN ");
            write_expr(out, low);
            out.push_str(" AND ");
            write_expr(out, high);
            out.push(')');
            if *negated {
                out.push(')');
            }
        }
        ExprKind::InList {
            expr,
            list,
            negated,
        } => {
            if *negated {
                out.push_str("(NOT ");
            }
            out.push('(');
            write_expr(out, expr);
            out.push_str(" IN (");
            join(out, list);
            out.push_str("))");
            if *negated {
                out.push(')');
            }
        }
        ExprKind::Like {
            expr,
            pattern,
            escape,
            negated,
        } => {
            if *negated {
                out.push_str("(NOT ");
            }
            out.push('(');
            write_expr(out, expr);
            out.push_str(" LIKE ");
            write_expr(out, pattern);
            if let Some(c) = escape {
                let _ = write!(out, " ESCAPE '{c}'");
            }
            out.push(')');
            if *negated {
                out.push(')');
            }
        }
        ExprKind::Case {
            operand,
            whens,
            else_,
        } => {
            out.push_str("(CASE");
            if let Some(o) = operand {
                out.push(' ');
                write_expr(out, o);
            }
            for (w, t) in whens {
                out.push_str(" WHEN ");
                write_expr(out, w);
                out.push_str(" THEN ");
                write_expr(out, t);
            }
            if let Some(e) = else_ {
                out.push_str(" ELSE ");
                write_expr(out, e);
            }
            out.push_str(" END)");
        }
        ExprKind::Cast { expr, ty } => {
            out.push_str("CAST(");
            write_expr(out, expr);
            out.push_str(" AS ");
            out.push_str(&type_expr(ty));
            out.push(')');
        }
        ExprKind::Function { name, args, star } => {
            out.push_str(&ident(&name.name));
            out.push('(');
            if *star || (args.is_empty() && name.name.eq_ignore_ascii_case("COUNT")) {
                out.push('*');
            } else {
                join(out, args);
            }
            out.push(')');
        }
        ExprKind::Dereference { expr, field } => {
            write_expr(out, expr);
            out.push_str("->");
            out.push_str(&ident(&field.name));
        }
        ExprKind::Subscript { expr, index } => {
            write_expr(out, expr);
            out.push('[');
            write_expr(out, index);
            out.push(']');
        }
        ExprKind::Array(items) => {
            out.push_str("ARRAY[");
            join(out, items);
            out.push(']');
        }
        ExprKind::Map(entries) => {
            out.push_str("MAP(");
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_expr(out, k);
                out.push_str(":=");
                write_expr(out, v);
            }
            out.push(')');
        }
        ExprKind::Struct(fields) => {
            out.push_str("STRUCT(");
            for (i, (n, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&ident(&n.name));
                out.push_str(":=");
                write_expr(out, v);
            }
            out.push(')');
        }
        ExprKind::Lambda { params, body } => {
            out.push('(');
            for (i, p) in params.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&p.name);
            }
            out.push_str(") => ");
            write_expr(out, body);
        }
    }
}

/// The text of `e`.
pub(crate) fn expr(e: &Expr) -> String {
    let mut s = String::new();
    write_expr(&mut s, e);
    s
}
