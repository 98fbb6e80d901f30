//! The query phase, query running only: SQL and parameters of every query (`queries`) and
//! the workers that drive them in closed loop or at a fixed rate (`runner`). The `bench run`
//! pipeline that uses them is `run`.
pub mod drive;
pub mod pacing;

/// `application_name` of the query connections; fault tests terminate backends by it.
pub const QUERY_APPLICATION_NAME: &str = "esp-bench-query";
pub mod queries;
pub mod runner;
mod session;

pub use runner::{run_phase, run_phase_dedicated, Connect, ExecSettings, Phase, PhaseOutcome};
