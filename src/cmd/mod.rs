//! The command layer: the clap definitions (`cli`) and one file per subcommand. Each file
//! turns its flags into plain values (e.g. [`cli::ServerArgs::spec`] -> `db::TargetSpec`)
//! and wires library modules together; logic lives elsewhere.
pub mod baseline;
pub mod cli;
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
