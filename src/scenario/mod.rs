//! Scenario files: TOML -> raw serde types (unknown keys rejected) -> validated `Plan`.
//! Errors name the file, line, column and field.
pub mod plan;

pub use plan::*;
