//! Target checks: targets x measurements -> named pass/fail results, and the verdict.
//!
//! `eval` holds the pure rules (unit-tested on synthetic values), `pruning` reads chunk scans
//! out of EXPLAIN plans, `facts` the plain measurement types. The database work lives in
//! `db::measure`; `phase` runs it in order after the query phase.

pub mod eval;
pub mod explain;
pub mod facts;
pub mod phase;
pub mod pruning;

pub use eval::{counts_as_failure, latency_checks, verdict};
pub use phase::{run_checks_phase, run_checks_phase_until, ChecksOutcome};
