//! Reports: the serde model of summary.json (`model`) and its writers: `files` (summary.json,
//! results.csv, checks.csv, one .hgrm per query, and reading summary.json back), `console`
//! (the summary table) and `plot` (SVG plots).
pub mod console;
pub mod evidence;
pub mod files;
pub mod model;
pub mod plot;

pub use files::{read_summary, write_reports, CheckRow, QueryRow, ReportFiles};
