//! The built-in scalar functions (ksqlDB's UDFs), with ksqlDB's semantics as pinned down by
//! its query-validation tests.
//!
//! Each family lives in its own module and registers itself; [`sig`] holds the signature
//! matcher and the [`sig::Udf`] builder every family uses (and other function kinds may
//! reuse), [`conv`] the value helpers, [`javatime`] the Java date-time pattern engine.

pub mod collections;
pub mod conv;
pub mod datetime;
pub mod javatime;
pub mod json;
pub mod math;
pub mod memo;
pub mod misc;
#[cfg(test)]
mod robustness;
pub mod sig;
pub mod string;
#[cfg(test)]
mod testkit;
pub mod url;

use super::FunctionRegistry;

/// Registers the built-in scalar functions.
pub fn register(r: &mut FunctionRegistry) {
    collections::register(r);
    datetime::register(r);
    json::register(r);
    math::register(r);
    misc::register(r);
    string::register(r);
    url::register(r);
}
