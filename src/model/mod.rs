//! The shared vocabulary every stage speaks, below all of them: the report model (what
//! summary.json holds, `report`), the measurement facts read from the server and judged by
//! the checks (`facts`), and the metric names targets and gates use (`metric`).
//!
//! Nothing here does I/O; the number, duration, size and escaping formatters are in
//! [`crate::format`].

pub mod facts;
pub mod metric;
pub mod report;

pub use metric::Metric;
