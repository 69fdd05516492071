//! Built-in table functions.

use super::FunctionRegistry;

/// Registers the built-in table functions.
pub fn register(r: &mut FunctionRegistry) {
    let _ = r;
}
