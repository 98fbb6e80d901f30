//! The `bench run` orchestrator: the pipeline that strings detect -> schema -> load -> query
//! phases (optionally under live ingest) -> checks -> the `Summary` together (`pipeline`), a
//! follower shard's part of a sharded run (`follower`), the checks phase that measures on the
//! server, changes the data (compression, retention) and judges through `checks`
//! (`checks`), and the host facts a summary records (`host`). Their parts: the query phases
//! under live ingest (`phases`), split into interleaved rounds and put back together
//! (`rounds`), the read-only rules of the query phase (`read_only`),
//! retention windows and warnings (`retention`), the leader's gathering of a sharded run's
//! statistics (`fleet`), and the summary both build (`summary`).
//!
//! It sits above every stage it drives (db, load, exec, checks, shard) and below `sweep` and
//! `cmd`, which call [`run_scenario`].

pub mod checks;
mod fleet;
pub mod follower;
pub mod host;
mod phases;
pub mod pipeline;
pub mod read_only;
pub mod retention;
pub mod rounds;
mod summary;

pub use pipeline::{run_scenario, RunOptions};
