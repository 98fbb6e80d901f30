//! The `bench run` orchestrator: the pipeline that strings detect -> schema -> load -> query
//! phases (optionally under live ingest) -> checks -> the `Summary` together (`pipeline`), a
//! follower shard's part of a sharded run (`follower`), the checks phase that measures on the
//! server, changes the data (compression, retention) and judges through `checks`
//! (`checks`), and the host facts a summary records (`host`).
//!
//! It sits above every stage it drives (db, load, exec, checks, shard) and below `sweep` and
//! `cmd`, which call [`run_scenario`].

pub mod checks;
pub mod follower;
pub mod host;
pub mod pipeline;

pub use pipeline::{run_scenario, RunOptions};
