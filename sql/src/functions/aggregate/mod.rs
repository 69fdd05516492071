//! Built-in aggregate functions (ksqlDB's UDAFs), with ksqlDB's semantics as pinned down by
//! its query-validation tests.
//!
//! Every accumulator is a [`Value`](crate::value::Value) (the engine stores it with
//! `Value::encode`); each module documents its encoding. Functions ksqlDB allows on tables
//! (a GROUP BY over a TABLE, which retracts rows) implement `undo`; the others return
//! `None` from it, so the engine rejects them on tables, as ksqlDB does.

mod common;
mod count;
mod hll;
#[cfg(test)]
mod testkit;

use super::FunctionRegistry;

/// Registers the built-in aggregate functions.
pub fn register(r: &mut FunctionRegistry) {
    r.register_aggregate(count::count());
    r.register_aggregate(count::count_distinct());
}
