//! The shared vocabulary every stage speaks, below all of them: the report model (what
//! summary.json holds, `report`), the measurement facts read from the server and judged by
//! the checks (`facts`), the metric names targets and gates use (`metric`), the production
//! schema's tables, channels and windows (`tables`), and the server-setting rules shared by
//! the scenario and `--pg-setting` (`settings`).
//!
//! Nothing here does I/O; the number, duration, size and escaping formatters are in
//! [`crate::format`].

pub mod facts;
pub mod metric;
pub mod report;
pub mod settings;
pub mod tables;

pub use metric::Metric;
