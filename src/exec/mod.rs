//! The query phase: SQL and parameters of every query (`queries`), the workers that drive them
//! in closed loop or at a fixed rate (`runner`), and the `bench run` pipeline that strings
//! detect -> schema -> load -> queries -> checks -> summary together (`pipeline`).
pub mod pacing;
pub mod pipeline;
pub mod queries;
pub mod runner;
pub mod sharded;

pub use pipeline::{run_scenario, RunOptions};
pub use runner::{run_phase, run_phase_dedicated, Connect, ExecSettings, Phase, PhaseOutcome};
