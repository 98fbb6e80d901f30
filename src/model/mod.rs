//! The shared vocabulary every stage speaks, below all of them: the report model (what
//! summary.json holds, `report`), the measurement facts read from the server and judged by
//! the checks (`facts`), the metric names targets and gates use (`metric`), the production
//! schema's tables, channels and windows (`tables`), the server-setting rules shared by
//! the scenario and `--pg-setting` (`settings`), and the human units every figure is shown in
//! (`units`).
//!
//! Nothing here does I/O; the number, duration, size and escaping formatters are in
//! [`crate::format`].

pub mod facts;
pub mod metric;
pub mod report;
pub mod settings;
pub mod tables;
pub mod units;

pub use metric::Metric;
