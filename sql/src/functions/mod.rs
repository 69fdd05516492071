//! The function registry: scalar functions, aggregate functions and table functions, each
//! with its signatures and description (what `DESCRIBE FUNCTION` prints). Built-ins are
//! registered by [`FunctionRegistry::with_builtins`]; an application registers its own
//! functions, written in Rust, with [`FunctionRegistry::register_scalar`] and friends.
//!
//! A function is *bound* once per call site, against the types of its arguments (and the
//! values of literal arguments): binding picks the signature (with ksqlDB's implicit
//! numeric widening INT -> BIGINT -> DECIMAL -> DOUBLE), fixes the return type, and returns
//! the code that runs per record. An argument that is a literal `NULL` has no type
//! (`Arg::ty == None`) and matches any parameter.

pub mod aggregate;
pub mod scalar;
pub mod table;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::types::SqlType;
use crate::value::Value;

/// An argument at a call site, as binding sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// `None` for an untyped literal `NULL`.
    pub ty: Option<SqlType>,
    /// The value when the argument is a literal (or folds to a constant).
    pub literal: Option<Value>,
}

impl Arg {
    pub fn typed(ty: SqlType) -> Arg {
        Arg {
            ty: Some(ty),
            literal: None,
        }
    }
}

/// Why evaluating a function on one record failed. The engine logs it to the processing
/// log; the expression's result is then NULL, as in ksqlDB.
pub type EvalResult = Result<Value, String>;

/// The per-record code of a bound scalar function.
pub type ScalarFn = Arc<dyn Fn(&[Value]) -> EvalResult + Send + Sync>;

/// A scalar function bound at one call site.
#[derive(Clone)]
pub struct BoundScalar {
    pub return_type: SqlType,
    /// Whether a NULL in any argument makes the result NULL without calling `eval`.
    pub null_on_null: bool,
    pub eval: ScalarFn,
}

/// A scalar function (ksqlDB's UDF).
pub trait ScalarUdf: Send + Sync {
    /// Upper-case name, as it is called.
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    /// One line per signature, e.g. `SUBSTRING(str VARCHAR, pos INT, len INT) => VARCHAR`.
    fn signatures(&self) -> Vec<String>;
    /// Picks the signature for these arguments; the error says why none fits.
    fn bind(&self, args: &[Arg]) -> Result<BoundScalar, String>;
}

/// An aggregate function bound at one call site. The accumulator is a [`Value`] so the
/// engine can store it (its encoding is `Value::encode`).
pub trait BoundAggregate: Send + Sync {
    fn return_type(&self) -> SqlType;
    /// The accumulator before any row.
    fn initial(&self) -> Value;
    /// Folds one row's arguments in.
    fn add(&self, acc: Value, args: &[Value]) -> Result<Value, String>;
    /// Takes one row's arguments out (tables send a retraction when a row changes).
    /// `None` when the function cannot undo (the engine then rejects it on tables).
    fn undo(&self, acc: Value, args: &[Value]) -> Option<Result<Value, String>>;
    /// Merges two accumulators (session windows that meet).
    fn merge(&self, a: Value, b: Value) -> Result<Value, String>;
    /// The result for an accumulator.
    fn result(&self, acc: &Value) -> Value;
}

/// An aggregate function (ksqlDB's UDAF). Arguments after the first may be required to be
/// literals (`TOPK(col, 3)`): they arrive in `Arg::literal` at bind time.
pub trait AggregateUdf: Send + Sync {
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    fn signatures(&self) -> Vec<String>;
    fn bind(&self, args: &[Arg]) -> Result<Arc<dyn BoundAggregate>, String>;
}

/// The per-record code of a bound table function: one input row gives zero or more values.
pub type TableFn = Arc<dyn Fn(&[Value]) -> Result<Vec<Value>, String> + Send + Sync>;

#[derive(Clone)]
pub struct BoundTable {
    /// The type of each produced value.
    pub return_type: SqlType,
    pub eval: TableFn,
}

/// A table function (ksqlDB's UDTF), such as EXPLODE.
pub trait TableUdf: Send + Sync {
    fn name(&self) -> &str;
    fn description(&self) -> &str;
    fn signatures(&self) -> Vec<String>;
    fn bind(&self, args: &[Arg]) -> Result<BoundTable, String>;
}

/// Which kind a registered function is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FunctionKind {
    Scalar,
    Aggregate,
    Table,
}

/// Every function the engine can call, by upper-case name.
#[derive(Clone, Default)]
pub struct FunctionRegistry {
    scalars: BTreeMap<String, Arc<dyn ScalarUdf>>,
    aggregates: BTreeMap<String, Arc<dyn AggregateUdf>>,
    tables: BTreeMap<String, Arc<dyn TableUdf>>,
}

impl FunctionRegistry {
    /// An empty registry.
    pub fn new() -> FunctionRegistry {
        FunctionRegistry::default()
    }

    /// A registry with every built-in function.
    pub fn with_builtins() -> FunctionRegistry {
        let mut r = FunctionRegistry::new();
        register_builtins(&mut r);
        r
    }

    pub fn register_scalar(&mut self, f: Arc<dyn ScalarUdf>) {
        self.scalars.insert(f.name().to_ascii_uppercase(), f);
    }

    pub fn register_aggregate(&mut self, f: Arc<dyn AggregateUdf>) {
        self.aggregates.insert(f.name().to_ascii_uppercase(), f);
    }

    pub fn register_table(&mut self, f: Arc<dyn TableUdf>) {
        self.tables.insert(f.name().to_ascii_uppercase(), f);
    }

    pub fn scalar(&self, name: &str) -> Option<&Arc<dyn ScalarUdf>> {
        self.scalars.get(&name.to_ascii_uppercase())
    }

    pub fn aggregate(&self, name: &str) -> Option<&Arc<dyn AggregateUdf>> {
        self.aggregates.get(&name.to_ascii_uppercase())
    }

    pub fn table(&self, name: &str) -> Option<&Arc<dyn TableUdf>> {
        self.tables.get(&name.to_ascii_uppercase())
    }

    /// Every function name with its kind, sorted by name (for `SHOW FUNCTIONS`).
    pub fn list(&self) -> Vec<(String, FunctionKind)> {
        let mut v: Vec<(String, FunctionKind)> = self
            .scalars
            .keys()
            .map(|n| (n.clone(), FunctionKind::Scalar))
            .chain(
                self.aggregates
                    .keys()
                    .map(|n| (n.clone(), FunctionKind::Aggregate)),
            )
            .chain(self.tables.keys().map(|n| (n.clone(), FunctionKind::Table)))
            .collect();
        v.sort();
        v
    }
}

/// Registers the built-ins. Each family lives in its own module.
fn register_builtins(r: &mut FunctionRegistry) {
    r.register_scalar(Arc::new(AsValue));
    scalar::register(r);
    aggregate::register(r);
    table::register(r);
}

/// `AS_VALUE(col)`: the column's value, as a value column (ksqlDB uses it to copy a key
/// column into the value; the planner does the rest, since the result is not a bare
/// column reference).
struct AsValue;

impl ScalarUdf for AsValue {
    fn name(&self) -> &str {
        "AS_VALUE"
    }

    fn description(&self) -> &str {
        "Used exclusively in the projection of a query to allow a key column to be copied into the value schema. Has no effect if used anywhere else."
    }

    fn signatures(&self) -> Vec<String> {
        vec!["AS_VALUE(val T) => T".into()]
    }

    fn bind(&self, args: &[Arg]) -> Result<BoundScalar, String> {
        match args {
            [a] => Ok(BoundScalar {
                return_type: a.ty.clone().unwrap_or(SqlType::String),
                null_on_null: false,
                eval: Arc::new(|v: &[Value]| Ok(v.first().cloned().unwrap_or(Value::Null))),
            }),
            _ => Err(format!(
                "Function 'AS_VALUE' does not accept parameters of {} arguments",
                args.len()
            )),
        }
    }
}
