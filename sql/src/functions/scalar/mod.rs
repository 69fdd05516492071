//! Built-in functions of this family.

use super::FunctionRegistry;

/// Registers this family's built-ins.
pub fn register(r: &mut FunctionRegistry) {
    let _ = r;
}
