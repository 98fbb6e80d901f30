//! One file per subcommand. Each file wires library modules together; logic lives elsewhere.
pub mod baseline;
pub mod compare;
pub mod generate;
pub mod info;
pub mod load;
pub mod merge;
pub mod plan;
pub mod realism;
pub mod run;
pub mod schema;
pub mod sweep;
