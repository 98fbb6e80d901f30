//! Target checks, pure evaluation: targets x measurements -> named pass/fail results, and the
//! verdict.
//!
//! `eval` holds the rules (unit-tested on synthetic values), `pruning` reads chunk scans out
//! of EXPLAIN plans, `verdict` the run's verdict. The measurements are plain data in
//! `model::facts`, read by `db::measure`; the checks phase that measures, changes the data
//! (compression, retention) and judges in order is part of the run pipeline (`run::checks`).

pub mod eval;
pub mod explain;
pub mod pruning;
pub mod verdict;

pub use crate::model::facts;
pub use eval::latency_checks;
pub use verdict::{counts_as_failure, verdict};
