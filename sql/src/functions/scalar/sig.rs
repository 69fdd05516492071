//! Signatures and ksqlDB's rules for picking one at a call site.
//!
//! A function has one or more [`Signature`]s. Binding a call tries them in two passes, as
//! ksqlDB's `UdfIndex` does:
//!
//! 1. without implicit casts: argument types must match the parameter's base type (any
//!    DECIMAL matches a DECIMAL parameter), an untyped `NULL` matches anything, and
//!    generic parameters (`T`, `ARRAY<T>`, `MAP<K, V>`) unify;
//! 2. only if nothing matched: with implicit casts (INT -> BIGINT -> DECIMAL -> DOUBLE, also
//!    inside ARRAY and MAP elements, and a STRING literal to TIMESTAMP, DATE or TIME); in
//!    this pass a generic also widens numerically (`COALESCE(int_col, bigint_col)`).
//!
//! Among the matches of a pass the best is a non-variadic signature over a variadic one,
//! then the one with more parameters, then the one with fewer generic parameters; a tie is
//! ambiguous (`Function 'greatest' cannot be resolved due to ambiguous method parameters
//! (INTEGER, BIGINT)`), as in ksqlDB.
//!
//! [`select_signature`] is the reusable core; [`Udf`] builds a complete
//! [`ScalarUdf`] out of [`Variant`]s (signature + return type + per-record code), converting
//! each argument value to the type of the parameter it was matched to before the code runs.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::functions::{Arg, BoundScalar, EvalResult, ScalarFn, ScalarUdf};
use crate::types::SqlType;
use crate::value::Value;

use super::conv;

/// A declared parameter type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamType {
    Boolean,
    Int,
    Bigint,
    Double,
    /// Any DECIMAL(p, s).
    Decimal,
    String,
    Bytes,
    Timestamp,
    Date,
    Time,
    Array(Box<ParamType>),
    Map(Box<ParamType>, Box<ParamType>),
    /// Any STRUCT.
    AnyStruct,
    /// A type variable such as `T`; every occurrence in one signature is the same type.
    Generic(&'static str),
    /// A time unit written as a bare identifier (`DAYS`, `SECONDS`): the expression compiler
    /// passes it as an upper-cased STRING literal.
    IntervalUnit,
}

/// `ARRAY<inner>`.
pub fn array(inner: ParamType) -> ParamType {
    ParamType::Array(Box::new(inner))
}

/// `MAP<key, value>`.
pub fn map(key: ParamType, value: ParamType) -> ParamType {
    ParamType::Map(Box::new(key), Box::new(value))
}

/// The type variable `name`.
pub fn generic(name: &'static str) -> ParamType {
    ParamType::Generic(name)
}

impl ParamType {
    /// Whether a type variable occurs in this type.
    pub fn has_generics(&self) -> bool {
        match self {
            ParamType::Generic(_) => true,
            ParamType::Array(t) => t.has_generics(),
            ParamType::Map(k, v) => k.has_generics() || v.has_generics(),
            _ => false,
        }
    }

    /// The parameter type for a concrete SQL type (DECIMAL loses its precision, STRUCT its
    /// fields).
    pub fn of(ty: &SqlType) -> ParamType {
        match ty {
            SqlType::Boolean => ParamType::Boolean,
            SqlType::Int => ParamType::Int,
            SqlType::Bigint => ParamType::Bigint,
            SqlType::Double => ParamType::Double,
            SqlType::Decimal(..) => ParamType::Decimal,
            SqlType::String => ParamType::String,
            SqlType::Bytes => ParamType::Bytes,
            SqlType::Timestamp => ParamType::Timestamp,
            SqlType::Date => ParamType::Date,
            SqlType::Time => ParamType::Time,
            SqlType::Array(t) => array(ParamType::of(t)),
            SqlType::Map(k, v) => map(ParamType::of(k), ParamType::of(v)),
            SqlType::Struct(_) => ParamType::AnyStruct,
        }
    }
}

impl fmt::Display for ParamType {
    /// The spelling used by `DESCRIBE FUNCTION`: `VARCHAR`, `INT`, `ARRAY<T>`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamType::Boolean => f.write_str("BOOLEAN"),
            ParamType::Int => f.write_str("INT"),
            ParamType::Bigint => f.write_str("BIGINT"),
            ParamType::Double => f.write_str("DOUBLE"),
            ParamType::Decimal => f.write_str("DECIMAL"),
            ParamType::String => f.write_str("VARCHAR"),
            ParamType::Bytes => f.write_str("BYTES"),
            ParamType::Timestamp => f.write_str("TIMESTAMP"),
            ParamType::Date => f.write_str("DATE"),
            ParamType::Time => f.write_str("TIME"),
            ParamType::Array(t) => write!(f, "ARRAY<{t}>"),
            ParamType::Map(k, v) => write!(f, "MAP<{k}, {v}>"),
            ParamType::AnyStruct => f.write_str("STRUCT"),
            ParamType::Generic(n) => f.write_str(n),
            ParamType::IntervalUnit => f.write_str("INTERVALUNIT"),
        }
    }
}

/// A concrete type in the `DESCRIBE FUNCTION` spelling (`VARCHAR`, `INT`, ...).
pub fn type_name(ty: &SqlType) -> String {
    match ty {
        SqlType::Int => "INT".to_string(),
        SqlType::String => "VARCHAR".to_string(),
        SqlType::Decimal(p, s) => format!("DECIMAL({p}, {s})"),
        SqlType::Array(t) => format!("ARRAY<{}>", type_name(t)),
        SqlType::Map(k, v) => format!("MAP<{}, {}>", type_name(k), type_name(v)),
        SqlType::Struct(fields) => {
            let inner: Vec<String> = fields
                .iter()
                .map(|(n, t)| format!("{n} {}", type_name(t)))
                .collect();
            format!("STRUCT<{}>", inner.join(", "))
        }
        other => other.to_string(),
    }
}

/// A named parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub ty: ParamType,
}

/// Shorthand for a [`Param`].
pub fn p(name: &'static str, ty: ParamType) -> Param {
    Param { name, ty }
}

/// The parameter list of one variant of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub params: Vec<Param>,
    /// The last parameter repeats zero or more times (`CONCAT(VARCHAR...)`).
    pub variadic: bool,
}

impl Signature {
    pub fn new(params: Vec<Param>) -> Signature {
        Signature {
            params,
            variadic: false,
        }
    }

    pub fn variadic(params: Vec<Param>) -> Signature {
        Signature {
            params,
            variadic: true,
        }
    }

    fn generic_count(&self) -> usize {
        self.params.iter().filter(|p| p.ty.has_generics()).count()
    }

    /// The declared parameter an argument at `index` is matched against.
    fn param_for(&self, index: usize) -> Option<&Param> {
        if index < self.params.len() {
            if self.variadic && index + 1 == self.params.len() {
                return self.params.last();
            }
            return self.params.get(index);
        }
        if self.variadic {
            self.params.last()
        } else {
            None
        }
    }

    /// `(str VARCHAR, pos INT)` / `(inputs VARCHAR...)`.
    pub fn params_text(&self) -> String {
        let parts: Vec<String> = self
            .params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let dots = if self.variadic && i + 1 == self.params.len() {
                    "..."
                } else {
                    ""
                };
                format!("{} {}{dots}", p.name, p.ty)
            })
            .collect();
        format!("({})", parts.join(", "))
    }
}

/// Type-variable bindings made while matching.
pub type Bindings = HashMap<&'static str, SqlType>;

/// The outcome of [`select_signature`].
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Index of the chosen signature.
    pub index: usize,
    /// Per argument, the concrete type its value is converted to before the function runs
    /// (`None` for an untyped NULL whose type cannot be inferred).
    pub param_types: Vec<Option<SqlType>>,
    pub bindings: Bindings,
}

/// Picks the signature for `args` with ksqlDB's rules (see the module documentation).
/// `name` and `lines` (one per signature, for the error text) only shape the error message.
pub fn select_signature(
    name: &str,
    sigs: &[Signature],
    lines: &[String],
    args: &[Arg],
) -> Result<Selection, String> {
    for allow_cast in [false, true] {
        let mut found: Vec<(usize, Bindings)> = Vec::new();
        for (i, sig) in sigs.iter().enumerate() {
            if let Some(b) = match_signature(sig, args, allow_cast) {
                found.push((i, b));
            }
        }
        if found.is_empty() {
            continue;
        }
        let rank = |i: usize| {
            let s = &sigs[i];
            (
                usize::from(!s.variadic),
                s.params.len(),
                usize::MAX - s.generic_count(),
            )
        };
        found.sort_by_key(|(i, _)| std::cmp::Reverse(rank(*i)));
        if found.len() > 1 && rank(found[0].0) == rank(found[1].0) {
            return Err(format!(
                "Function '{name}' cannot be resolved due to ambiguous method parameters {}.\n\
                 Use CAST() to explicitly cast your parameters to one of the supported function calls.\n\
                 Valid function calls are:\n{}\n\
                 For detailed information on a function run: DESCRIBE FUNCTION <Function-Name>;",
                args_text(args),
                lines.join("\n")
            ));
        }
        let (index, bindings) = found.swap_remove(0);
        let sig = &sigs[index];
        let param_types = args
            .iter()
            .enumerate()
            .map(|(i, a)| {
                sig.param_for(i)
                    .and_then(|p| resolve(&p.ty, a.ty.as_ref(), &bindings))
            })
            .collect();
        return Ok(Selection {
            index,
            param_types,
            bindings,
        });
    }
    Err(format!(
        "Function '{name}' does not accept parameters {}.\nValid alternatives are:\n{}\n\
         For detailed information on a function run: DESCRIBE FUNCTION <Function-Name>;",
        args_text(args),
        lines.join("\n")
    ))
}

/// `(STRING, INTEGER, null)`, as ksqlDB prints the argument types of a call.
pub fn args_text(args: &[Arg]) -> String {
    let parts: Vec<String> = args
        .iter()
        .map(|a| match &a.ty {
            Some(t) => t.to_string(),
            None => "null".to_string(),
        })
        .collect();
    format!("({})", parts.join(", "))
}

fn match_signature(sig: &Signature, args: &[Arg], allow_cast: bool) -> Option<Bindings> {
    let n = sig.params.len();
    if sig.variadic {
        if args.len() + 1 < n {
            return None;
        }
    } else if args.len() != n {
        return None;
    }
    let mut b = Bindings::new();
    for (i, arg) in args.iter().enumerate() {
        let param = sig.param_for(i)?;
        if !accepts(&param.ty, arg, allow_cast, &mut b) {
            return None;
        }
    }
    Some(b)
}

fn accepts(p: &ParamType, arg: &Arg, allow_cast: bool, b: &mut Bindings) -> bool {
    let Some(ty) = &arg.ty else {
        return true;
    };
    if *p == ParamType::IntervalUnit {
        return *ty == SqlType::String
            && matches!(&arg.literal, Some(Value::String(s)) if super::datetime::TimeUnit::parse(s).is_some());
    }
    if p.has_generics() {
        return unify(p, ty, allow_cast, b);
    }
    let string_literal = matches!(arg.literal, Some(Value::String(_)));
    compatible(ty, p, allow_cast, string_literal)
}

/// Whether a value of `ty` may be passed for the non-generic parameter `p`.
fn compatible(ty: &SqlType, p: &ParamType, allow_cast: bool, string_literal: bool) -> bool {
    match (ty, p) {
        (SqlType::Array(t), ParamType::Array(q)) => compatible(t, q, allow_cast, false),
        (SqlType::Map(k, v), ParamType::Map(pk, pv)) => {
            compatible(k, pk, allow_cast, false) && compatible(v, pv, allow_cast, false)
        }
        (SqlType::Struct(_), ParamType::AnyStruct) => true,
        _ => {
            ParamType::of(ty) == *p
                && !matches!(
                    ty,
                    SqlType::Array(_) | SqlType::Map(..) | SqlType::Struct(_)
                )
                || allow_cast && implicit_cast(ty, p, string_literal)
        }
    }
}

fn implicit_cast(ty: &SqlType, p: &ParamType, string_literal: bool) -> bool {
    use ParamType as P;
    match ty {
        SqlType::Int => matches!(p, P::Bigint | P::Decimal | P::Double),
        SqlType::Bigint => matches!(p, P::Decimal | P::Double),
        SqlType::Decimal(..) => matches!(p, P::Double),
        SqlType::String => string_literal && matches!(p, P::Timestamp | P::Date | P::Time),
        _ => false,
    }
}

fn unify(p: &ParamType, ty: &SqlType, allow_cast: bool, b: &mut Bindings) -> bool {
    match (p, ty) {
        (ParamType::Generic(g), _) => match b.get(g) {
            None => {
                b.insert(g, ty.clone());
                true
            }
            Some(bound) if bound == ty => true,
            Some(bound) if allow_cast => match widest(bound, ty) {
                Some(w) => {
                    b.insert(g, w);
                    true
                }
                None => false,
            },
            Some(_) => false,
        },
        (ParamType::Array(q), SqlType::Array(t)) => unify(q, t, allow_cast, b),
        (ParamType::Map(pk, pv), SqlType::Map(k, v)) => {
            unify(pk, k, allow_cast, b) && unify(pv, v, allow_cast, b)
        }
        (q, t) if !q.has_generics() => compatible(t, q, allow_cast, false),
        _ => false,
    }
}

/// The common type two types widen to, for generic unification with casts.
fn widest(a: &SqlType, b: &SqlType) -> Option<SqlType> {
    if let (SqlType::Decimal(..), SqlType::Decimal(..)) = (a, b) {
        return conv::widen_decimal(a, b);
    }
    if a.widens_to(b) {
        return match (a, b) {
            (SqlType::Decimal(..) | SqlType::Int | SqlType::Bigint, SqlType::Decimal(..)) => {
                conv::widen_decimal(a, b)
            }
            _ => Some(b.clone()),
        };
    }
    if b.widens_to(a) {
        return match (b, a) {
            (SqlType::Int | SqlType::Bigint, SqlType::Decimal(..)) => conv::widen_decimal(a, b),
            _ => Some(a.clone()),
        };
    }
    match (a, b) {
        (SqlType::Array(x), SqlType::Array(y)) => widest(x, y).map(SqlType::array),
        (SqlType::Map(k1, v1), SqlType::Map(k2, v2)) if k1 == k2 => {
            widest(v1, v2).map(|v| SqlType::map((**k1).clone(), v))
        }
        _ => None,
    }
}

/// The concrete type of parameter `p` for an argument of type `arg`.
fn resolve(p: &ParamType, arg: Option<&SqlType>, b: &Bindings) -> Option<SqlType> {
    use ParamType as P;
    Some(match p {
        P::Boolean => SqlType::Boolean,
        P::Int => SqlType::Int,
        P::Bigint => SqlType::Bigint,
        P::Double => SqlType::Double,
        P::String | P::IntervalUnit => SqlType::String,
        P::Bytes => SqlType::Bytes,
        P::Timestamp => SqlType::Timestamp,
        P::Date => SqlType::Date,
        P::Time => SqlType::Time,
        P::Decimal => {
            let (pr, sc) = arg?.as_decimal()?;
            SqlType::Decimal(pr, sc)
        }
        P::AnyStruct => arg?.clone(),
        P::Generic(g) => match b.get(g) {
            Some(t) => t.clone(),
            None => arg?.clone(),
        },
        P::Array(q) => {
            let inner = match arg {
                Some(SqlType::Array(t)) => resolve(q, Some(t), b),
                _ => resolve(q, None, b),
            };
            SqlType::array(inner?)
        }
        P::Map(pk, pv) => {
            let (k, v) = match arg {
                Some(SqlType::Map(k, v)) => (resolve(pk, Some(k), b), resolve(pv, Some(v), b)),
                _ => (resolve(pk, None, b), resolve(pv, None, b)),
            };
            SqlType::map(k?, v?)
        }
    })
}

/// What binding knows about a call once a signature is chosen.
pub struct Call<'a> {
    pub args: &'a [Arg],
    /// Per argument, the type its value has when the function code sees it.
    pub param_types: Vec<Option<SqlType>>,
    pub bindings: Bindings,
}

impl Call<'_> {
    /// The literal value of argument `i`, if it is a literal.
    pub fn literal(&self, i: usize) -> Option<&Value> {
        self.args.get(i).and_then(|a| a.literal.as_ref())
    }

    /// The literal STRING value of argument `i`.
    pub fn literal_str(&self, i: usize) -> Option<&str> {
        match self.literal(i) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// The type of argument `i` after conversion (`None` for an untyped NULL).
    pub fn ty(&self, i: usize) -> Option<&SqlType> {
        self.param_types.get(i).and_then(|t| t.as_ref())
    }

    /// The bound type variable `name`.
    pub fn generic(&self, name: &str) -> Option<&SqlType> {
        self.bindings.get(name)
    }
}

/// Computes a return type from the call.
pub type ReturnFn = Arc<dyn Fn(&Call<'_>) -> Result<SqlType, String> + Send + Sync>;

/// Builds the per-record code for a call (may precompile literal arguments).
pub type BuildFn = Arc<dyn Fn(&Call<'_>, &SqlType) -> Result<ScalarFn, String> + Send + Sync>;

/// How a variant's return type is found.
#[derive(Clone)]
pub enum Ret {
    /// Always this type.
    Fixed(SqlType),
    /// A parameter-style type over the signature's type variables (`T`, `ARRAY<T>`).
    Generic(ParamType),
    /// Computed from the argument types (ksqlDB's schema providers); the text is what
    /// `DESCRIBE FUNCTION` shows.
    Custom(&'static str, ReturnFn),
}

/// A fixed return type.
pub fn ret(ty: SqlType) -> Ret {
    Ret::Fixed(ty)
}

/// A return type over the type variables.
pub fn ret_generic(ty: ParamType) -> Ret {
    Ret::Generic(ty)
}

/// A computed return type.
pub fn ret_fn(
    text: &'static str,
    f: impl Fn(&Call<'_>) -> Result<SqlType, String> + Send + Sync + 'static,
) -> Ret {
    Ret::Custom(text, Arc::new(f))
}

impl Ret {
    fn text(&self) -> String {
        match self {
            Ret::Fixed(t) => type_name(t),
            Ret::Generic(p) => p.to_string(),
            Ret::Custom(text, _) => (*text).to_string(),
        }
    }

    fn resolve(&self, call: &Call<'_>) -> Result<SqlType, String> {
        match self {
            Ret::Fixed(t) => Ok(t.clone()),
            Ret::Generic(p) => resolve_generic_return(p, &call.bindings),
            Ret::Custom(_, f) => f(call),
        }
    }
}

fn resolve_generic_return(p: &ParamType, b: &Bindings) -> Result<SqlType, String> {
    match p {
        ParamType::Generic(g) => b.get(g).cloned().ok_or_else(|| {
            format!("Could not infer the type of {g}: every argument of that type is NULL")
        }),
        ParamType::Array(q) => Ok(SqlType::array(resolve_generic_return(q, b)?)),
        ParamType::Map(k, v) => Ok(SqlType::map(
            resolve_generic_return(k, b)?,
            resolve_generic_return(v, b)?,
        )),
        other => resolve(other, None, b)
            .ok_or_else(|| format!("a return type of {other} needs a schema provider")),
    }
}

/// One signature of a function with its return type and code.
#[derive(Clone)]
pub struct Variant {
    pub sig: Signature,
    pub ret: Ret,
    /// Whether NULL in any argument makes the result NULL without running the code.
    pub null_on_null: bool,
    pub description: &'static str,
    build: BuildFn,
}

impl Variant {
    /// A variant with fixed parameters; its code is set with [`Variant::eval`] or
    /// [`Variant::build`]. NULL in, NULL out unless [`Variant::handles_nulls`].
    pub fn new(params: Vec<Param>, ret: Ret) -> Variant {
        Variant {
            sig: Signature::new(params),
            ret,
            null_on_null: true,
            description: "",
            build: Arc::new(|_, _| Err("function has no implementation".to_string())),
        }
    }

    /// The last parameter repeats zero or more times.
    pub fn variadic(mut self) -> Variant {
        self.sig.variadic = true;
        self
    }

    /// The code receives NULL arguments itself.
    pub fn handles_nulls(mut self) -> Variant {
        self.null_on_null = false;
        self
    }

    /// A description of this variant.
    pub fn describe(mut self, d: &'static str) -> Variant {
        self.description = d;
        self
    }

    /// Per-record code that needs nothing from binding.
    pub fn eval(mut self, f: impl Fn(&[Value]) -> EvalResult + Send + Sync + 'static) -> Variant {
        let f: ScalarFn = Arc::new(f);
        self.build = Arc::new(move |_, _| Ok(f.clone()));
        self
    }

    /// Per-record code made at bind time from the call and the return type.
    pub fn build(
        mut self,
        f: impl Fn(&Call<'_>, &SqlType) -> Result<ScalarFn, String> + Send + Sync + 'static,
    ) -> Variant {
        self.build = Arc::new(f);
        self
    }

    fn line(&self, name: &str) -> String {
        format!("{name}{} => {}", self.sig.params_text(), self.ret.text())
    }
}

/// A scalar function made of variants.
pub struct Udf {
    name: String,
    error_name: String,
    description: String,
    variants: Vec<Variant>,
}

impl Udf {
    /// A function called `name` (stored upper-case).
    pub fn new(name: &str, description: &str) -> Udf {
        Udf {
            name: name.to_ascii_uppercase(),
            error_name: name.to_ascii_uppercase(),
            description: description.to_string(),
            variants: Vec::new(),
        }
    }

    /// The name used in binding errors (ksqlDB prints the name as its class declares it,
    /// e.g. `greatest`).
    pub fn error_name(mut self, n: &str) -> Udf {
        self.error_name = n.to_string();
        self
    }

    /// Adds a variant.
    pub fn variant(mut self, v: Variant) -> Udf {
        self.variants.push(v);
        self
    }

    /// The variants, for tests and documentation.
    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// Shares it as a registry entry.
    pub fn shared(self) -> Arc<dyn ScalarUdf> {
        Arc::new(self)
    }
}

impl ScalarUdf for Udf {
    fn name(&self) -> &str {
        &self.name
    }

    fn description(&self) -> &str {
        &self.description
    }

    fn signatures(&self) -> Vec<String> {
        self.variants.iter().map(|v| v.line(&self.name)).collect()
    }

    fn bind(&self, args: &[Arg]) -> Result<BoundScalar, String> {
        let sigs: Vec<Signature> = self.variants.iter().map(|v| v.sig.clone()).collect();
        let sel = select_signature(&self.error_name, &sigs, &self.signatures(), args)?;
        let variant = &self.variants[sel.index];
        let call = Call {
            args,
            param_types: sel.param_types,
            bindings: sel.bindings,
        };
        let return_type = variant.ret.resolve(&call)?;
        let inner = (variant.build)(&call, &return_type)?;
        let conversions: Vec<Option<SqlType>> = args
            .iter()
            .zip(&call.param_types)
            .map(|(a, target)| match (&a.ty, target) {
                (Some(from), Some(to)) if conv::needs_coercion(from, to) => Some(to.clone()),
                _ => None,
            })
            .collect();
        let null_on_null = variant.null_on_null;
        let arity = args.len();
        let name = self.name.clone();
        let check = move |vals: &[Value]| -> Result<(), String> {
            if vals.len() == arity {
                Ok(())
            } else {
                Err(format!(
                    "{name} was bound for {arity} arguments but called with {}",
                    vals.len()
                ))
            }
        };
        let eval: ScalarFn = if conversions.iter().all(Option::is_none) {
            Arc::new(move |vals: &[Value]| {
                check(vals)?;
                if null_on_null && vals.iter().any(Value::is_null) {
                    return Ok(Value::Null);
                }
                inner(vals)
            })
        } else {
            Arc::new(move |vals: &[Value]| {
                check(vals)?;
                if null_on_null && vals.iter().any(Value::is_null) {
                    return Ok(Value::Null);
                }
                let mut converted = Vec::with_capacity(vals.len());
                for (i, v) in vals.iter().enumerate() {
                    match conversions.get(i) {
                        Some(Some(to)) => converted.push(conv::coerce(v, to)?),
                        _ => converted.push(v.clone()),
                    }
                }
                inner(&converted)
            })
        };
        Ok(BoundScalar {
            return_type,
            null_on_null,
            eval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ty: SqlType) -> Arg {
        Arg::typed(ty)
    }

    fn null() -> Arg {
        Arg {
            ty: None,
            literal: Some(Value::Null),
        }
    }

    fn numeric_variadic() -> Vec<Signature> {
        [
            ParamType::Int,
            ParamType::Bigint,
            ParamType::Double,
            ParamType::String,
            ParamType::Decimal,
        ]
        .into_iter()
        .map(|ty| Signature::variadic(vec![p("val", ty.clone()), p("vals", ty)]))
        .collect()
    }

    #[test]
    fn exact_match_wins_without_casts() {
        let sigs = numeric_variadic();
        let s = select_signature("greatest", &sigs, &[], &[t(SqlType::Int), null()]).unwrap();
        assert_eq!(s.index, 0);
    }

    #[test]
    fn casts_to_several_signatures_are_ambiguous() {
        let sigs = numeric_variadic();
        let err = select_signature(
            "greatest",
            &sigs,
            &[],
            &[t(SqlType::Int), t(SqlType::Bigint)],
        )
        .unwrap_err();
        assert!(
            err.starts_with("Function 'greatest' cannot be resolved due to ambiguous method parameters (INTEGER, BIGINT)."),
            "{err}"
        );
        let ok = select_signature(
            "greatest",
            &sigs,
            &[],
            &[
                t(SqlType::Int),
                t(SqlType::Bigint),
                t(SqlType::Decimal(30, 18)),
                t(SqlType::Double),
            ],
        )
        .unwrap();
        assert_eq!(ok.index, 2);
        assert_eq!(ok.param_types[0], Some(SqlType::Double));
    }

    #[test]
    fn all_nulls_are_ambiguous_and_no_args_do_not_match() {
        let sigs = numeric_variadic();
        let err = select_signature("greatest", &sigs, &[], &[null(), null()]).unwrap_err();
        assert!(
            err.contains("ambiguous method parameters (null, null)"),
            "{err}"
        );
        let err = select_signature("greatest", &sigs, &[], &[]).unwrap_err();
        assert!(err.starts_with("Function 'greatest' does not accept parameters ()."));
    }

    #[test]
    fn non_variadic_beats_variadic_and_more_params_win() {
        let sigs = vec![
            Signature::variadic(vec![p("a", ParamType::String), p("b", ParamType::Int)]),
            Signature::new(vec![p("a", ParamType::String)]),
        ];
        let s = select_signature("f", &sigs, &[], &[t(SqlType::String)]).unwrap();
        assert_eq!(s.index, 1);
    }

    #[test]
    fn generics_unify_and_widen_only_with_casts() {
        let sigs = vec![Signature::variadic(vec![
            p("first", generic("T")),
            p("others", generic("T")),
        ])];
        let s = select_signature("coalesce", &sigs, &[], &[t(SqlType::Int), null()]).unwrap();
        assert_eq!(s.bindings["T"], SqlType::Int);
        let s = select_signature(
            "coalesce",
            &sigs,
            &[],
            &[t(SqlType::Int), t(SqlType::Bigint)],
        )
        .unwrap();
        assert_eq!(s.bindings["T"], SqlType::Bigint);
        assert_eq!(s.param_types[0], Some(SqlType::Bigint));
        assert!(select_signature(
            "coalesce",
            &sigs,
            &[],
            &[t(SqlType::Int), t(SqlType::String)]
        )
        .is_err());
    }

    #[test]
    fn arrays_of_generics_bind_their_element() {
        let sigs = vec![Signature::new(vec![
            p("array", array(generic("T"))),
            p("val", generic("T")),
        ])];
        let s = select_signature(
            "array_contains",
            &sigs,
            &[],
            &[t(SqlType::array(SqlType::String)), t(SqlType::String)],
        )
        .unwrap();
        assert_eq!(s.bindings["T"], SqlType::String);
    }

    #[test]
    fn interval_units_must_be_literals() {
        let sigs = vec![Signature::new(vec![
            p("unit", ParamType::IntervalUnit),
            p("interval", ParamType::Int),
            p("date", ParamType::Date),
        ])];
        let unit = Arg {
            ty: Some(SqlType::String),
            literal: Some(Value::String("DAYS".into())),
        };
        assert!(select_signature(
            "dateadd",
            &sigs,
            &[],
            &[unit, t(SqlType::Int), t(SqlType::Date)]
        )
        .is_ok());
        let err = select_signature(
            "dateadd",
            &sigs,
            &[],
            &[t(SqlType::Date), t(SqlType::Int), t(SqlType::Date)],
        )
        .unwrap_err();
        assert!(
            err.starts_with("Function 'dateadd' does not accept parameters (DATE, INTEGER, DATE).")
        );
    }

    #[test]
    fn bound_code_checks_its_arity() {
        let udf = Udf::new("ONE", "").variant(
            Variant::new(vec![p("x", ParamType::Int)], ret(SqlType::Int))
                .eval(|a| Ok(a[0].clone())),
        );
        let b = udf.bind(&[t(SqlType::Int)]).unwrap();
        assert_eq!((b.eval)(&[Value::Int(1)]), Ok(Value::Int(1)));
        assert!((b.eval)(&[]).is_err());
        assert_eq!(udf.signatures(), vec!["ONE(x INT) => INT".to_string()]);
    }

    #[test]
    fn string_literals_cast_to_temporal_types() {
        let sigs = vec![Signature::variadic(vec![
            p("val", ParamType::Date),
            p("vals", ParamType::Date),
        ])];
        let lit = Arg {
            ty: Some(SqlType::String),
            literal: Some(Value::String("2022-06-14".into())),
        };
        let s = select_signature("greatest", &sigs, &[], &[t(SqlType::Date), lit]).unwrap();
        assert_eq!(s.param_types[1], Some(SqlType::Date));
        assert!(select_signature(
            "greatest",
            &sigs,
            &[],
            &[t(SqlType::Date), t(SqlType::String)]
        )
        .is_err());
    }
}
