//! The conformance runner for ksqlDB's query-validation-test (QTT) files.

pub mod exec;
