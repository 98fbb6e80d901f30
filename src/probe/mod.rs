//! Evidence capture for `bench run` (issue 13): what the server and the machine did while
//! the queries were measured, and alternatives measured on request.
//!
//! - `capture`: per phase, pg_stat_statements deltas and a resource sampler (the pipeline's
//!   call sites: `Capture::begin` / `Capture::end` around each phase).
//! - `sampler`, `procfs`: the samples per stats interval (`summary.resources`).
//! - `evidence`: the plans of the checks phase as `queries[].evidence.plan` and `plans/` files.
//! - `cache`: cold phases (`[run] cache`): restart the embedded server, drop the OS page cache.
//! - `whatif`: `[run] what_if = ["cagg"]`.
//!
//! The database queries live in `db::stat_statements` and `db::plans`; the explanations of
//! failed checks (pure) in `checks::explain`.

pub mod cache;
pub mod capture;
pub mod evidence;
pub mod procfs;
pub mod sampler;
pub mod whatif;
