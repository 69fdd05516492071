//! Tests of the parser.

use super::*;
